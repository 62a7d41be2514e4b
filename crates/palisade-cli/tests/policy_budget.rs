//! `palisade policy validate|test` against hostile policies (issues 13.1, 12.7, 13.2): Rego
//! rules that would take gigabytes or recurse forever end in an error naming the rule, within
//! bounded memory; files the policy names are checked by `validate`.
//!
//! Memory is the peak resident set of the `palisade` children (and their rule workers), read
//! with `getrusage(RUSAGE_CHILDREN)` after each run: the maximum over every child this test
//! process has waited for, so each assertion bounds all of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Peak memory a refused rule may cost: the worker's address space is 384 MiB by default.
const MAX_RSS_KB: i64 = 512 * 1024;

fn palisade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .env_remove("PALISADE_RULE_MEMORY_MIB")
        .env_remove("PALISADE_RULE_TIMEOUT_SECS")
        .env_remove("PALISADE_RULE_CPU_SECS")
        .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running palisade")
}

fn children_peak_rss_kb() -> i64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(&p, body).expect("write");
    p
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A policy with one inline rule.
fn inline_policy(name: &str, rego: &str) -> String {
    let mut s = format!("version: 1\nrules:\n  - name: {name}\n    rego: |\n");
    for line in rego.lines() {
        s.push_str("      ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// Asserts `validate` refused the policy with exit 2, one error naming `rule` and containing
/// `phrase`, within bounded memory.
fn assert_refused(out: &Output, rule: &str, phrase: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("rule \"{rule}\"")),
        "the error names the rule {rule:?}:\n{err}"
    );
    assert!(err.contains(phrase), "expected {phrase:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    let kb = children_peak_rss_kb();
    assert!(
        kb < MAX_RSS_KB,
        "peak memory {kb} KiB, more than {MAX_RSS_KB} KiB:\n{err}"
    );
}

#[test]
fn issue_13_1_numbers_range_of_a_billion_exceeds_the_memory_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "policy.yaml",
        &inline_policy(
            "huge-range",
            "package p\n\nbig := numbers.range(1, 1000000000)\n\ndeny contains \"big\" if count(big) > 0\n",
        ),
    );
    let out = palisade(&["policy", "validate", p.to_str().unwrap()], &[]);
    assert_refused(&out, "huge-range", "exceeded its memory budget of 384 MiB");
    // The budget is the environment's when set.
    let out = palisade(
        &["policy", "validate", p.to_str().unwrap()],
        &[("PALISADE_RULE_MEMORY_MIB", "128")],
    );
    assert_refused(&out, "huge-range", "exceeded its memory budget of 128 MiB");
}

#[test]
fn issue_13_1_chained_concat_exceeds_the_memory_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rego = String::from("package p\n\ns0 := \"0123456789abcdef\"\n");
    for i in 1..=7 {
        let copies = vec![format!("s{}", i - 1); 16].join(", ");
        rego.push_str(&format!("s{i} := concat(\"\", [{copies}])\n"));
    }
    rego.push_str("\ndeny contains \"long\" if count(s7) > 0\n");
    // As a `file:` rule: the error names the rule and its file.
    write(dir.path(), "rules/concat.rego", &rego);
    let p = write(
        dir.path(),
        "policy.yaml",
        "version: 1\nrules:\n  - name: concat-bomb\n    file: rules/concat.rego\n",
    );
    let out = palisade(&["policy", "validate", p.to_str().unwrap()], &[]);
    assert_refused(&out, "concat-bomb", "exceeded its memory budget");
    assert!(stderr(&out).contains("concat.rego"), "{}", stderr(&out));
}

#[test]
fn issue_13_1_recursive_function_is_refused_when_the_policy_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "policy.yaml",
        &inline_policy(
            "endless",
            "package p\n\nf(x) := y if {\n\ty := f(x + 1)\n}\n\ndeny contains \"x\" if f(1)\n",
        ),
    );
    let out = palisade(&["policy", "validate", p.to_str().unwrap()], &[]);
    assert_refused(&out, "endless", "recursion is not allowed: f -> f");
    // Located at the function's head: line 7 of the policy file (3 of the module), column 7.
    assert!(
        stderr(&out).contains("policy.yaml:7:7:"),
        "{}",
        stderr(&out)
    );

    // Mutual recursion through a rule, in a `.rego` file.
    write(
        dir.path(),
        "rules/mutual.rego",
        "package q\n\ng(x) := h(x)\n\nh(x) := y if {\n\ty := g(x)\n}\n\ndeny contains \"x\" if g(1)\n",
    );
    let p = write(
        dir.path(),
        "mutual.yaml",
        "version: 1\nrules:\n  - name: mutual\n    file: rules/mutual.rego\n",
    );
    let out = palisade(&["policy", "validate", p.to_str().unwrap()], &[]);
    assert_refused(&out, "mutual", "recursion is not allowed: g -> h -> g");
    assert!(
        stderr(&out).contains("mutual.rego:3:1:"),
        "{}",
        stderr(&out)
    );
}

/// A rule guarded by the input passes validation (nothing runs without input) and exceeds its
/// budget when `policy test` (the same evaluation as `gate`) hands it a root image: an error
/// naming the rule, exit 2, never a pass.
#[test]
fn issue_13_1_input_guarded_rule_fails_closed_at_evaluation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "policy.yaml",
        &inline_policy(
            "guarded",
            "package p\n\ndeny contains \"root\" if {\n\tinput.image.user == \"root\"\n\tcount(numbers.range(1, 1000000000)) > 0\n}\n",
        ),
    );
    let out = palisade(
        &[
            "policy",
            "validate",
            d.join("policy.yaml").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    write(
        d,
        "tests/input.json",
        r#"{"now": "2026-11-28T22:00:00Z", "image": {"reference": "registry.example.com/app:1", "user": "root"}}"#,
    );
    write(
        d,
        "tests/root.test.yaml",
        "policy: ../policy.yaml\ncases:\n  - name: root image\n    input: input.json\n    expect:\n      decision: allow\n",
    );
    let out = palisade(&["policy", "test", d.join("tests").to_str().unwrap()], &[]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("rule \"guarded\"") && text.contains("exceeded its memory budget"),
        "{text}"
    );
    assert!(!text.contains("1/1 passed"), "{text}");
    let kb = children_peak_rss_kb();
    assert!(kb < MAX_RSS_KB, "peak memory {kb} KiB:\n{text}");
}

const PUBLIC_KEY: &str = include_str!("../../palisade-policy/tests/fixtures/keys/release.pub");

/// Issue 12.7: the starter policy names `keys/release.pub`; `validate` says so until the key
/// exists and is a public key, once per cause.
#[test]
fn issue_12_7_validate_checks_the_files_the_policy_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let policy = d.join("policy.yaml");
    let out = palisade(&["policy", "init", policy.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let validate = || palisade(&["policy", "validate", policy.to_str().unwrap()], &[]);

    let out = validate();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("policy.yaml:14:14: sources.keys.release:")
            && err.contains("release.pub")
            && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(
        err.matches("No such file").count(),
        1,
        "one cause, once:\n{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("valid"));

    // Not a key.
    write(d, "keys/release.pub", "hello\n");
    let out = validate();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a usable public key"),
        "{}",
        stderr(&out)
    );

    // A directory, then a FIFO, in its place: refused by type, not read.
    std::fs::remove_file(d.join("keys/release.pub")).expect("rm");
    std::fs::create_dir(d.join("keys/release.pub")).expect("mkdir");
    let out = validate();
    assert!(
        stderr(&out).contains("not a regular file (a directory)"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir(d.join("keys/release.pub")).expect("rmdir");
    let st = Command::new("mkfifo")
        .arg(d.join("keys/release.pub"))
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let out = validate();
    assert!(
        stderr(&out).contains("not a regular file (a FIFO)"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(d.join("keys/release.pub")).expect("rm fifo");

    write(d, "keys/release.pub", PUBLIC_KEY);
    let out = validate();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid policy"));
}

/// Issue 13.2: a FIFO or a symlink to /dev/zero as the policy file is refused by type.
#[test]
fn issue_13_2_policy_file_that_is_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fifo = d.join("fifo.yaml");
    let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success());
    let out = palisade(&["policy", "validate", fifo.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file (a FIFO)"),
        "{}",
        stderr(&out)
    );

    let zero = d.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let out = palisade(&["policy", "validate", zero.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file (a device)"),
        "{}",
        stderr(&out)
    );
    let kb = children_peak_rss_kb();
    assert!(kb < MAX_RSS_KB, "peak memory {kb} KiB");
}
