//! Invalid policies: every class of problem is reported at its file, line and column.

use std::path::Path;

use palisade_policy::{ErrorKind, Policy, PolicyError};

fn parse(text: &str) -> PolicyError {
    Policy::parse(text, "policy.yaml", Path::new("/nonexistent")).expect_err("must be refused")
}

fn at(e: &PolicyError) -> (u64, u64) {
    (e.line, e.column)
}

#[test]
fn yaml_syntax_error() {
    let e = parse("version: 1\nsources:\n  rules: [\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.path, "policy.yaml");
    assert!(e.line >= 3, "{e}");
}

#[test]
fn unknown_key() {
    let e = parse("version: 1\nvulnerabilities:\n  max_cvs: 8.9\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(at(&e), (3, 3), "{e}");
    assert!(e.message.contains("max_cvs"), "{e}");
    assert!(e.to_string().starts_with("policy.yaml:3:3: "), "{e}");
}

#[test]
fn unknown_key_in_environment_override() {
    let e = parse(
        "version: 1\nvulnerabilities:\n  environments:\n    dev: { max_cvss: 1, environments: {} }\n",
    );
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("environments"), "{e}");
}

#[test]
fn wrong_type() {
    let e = parse("version: 1\nvulnerabilities:\n  max_cvss: high\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(at(&e), (3, 13), "{e}");
}

#[test]
fn unsupported_version() {
    let e = parse("version: 2\n");
    assert_eq!(at(&e), (1, 10), "{e}");
    assert_eq!(
        e.to_string(),
        "policy.yaml:1:10: version: unsupported version 2 (only 1 is supported)"
    );
}

#[test]
fn bad_globs() {
    let text = "version: 1
sources:
  rules:
    - name: r
      images: [\"\", \"a/[bc]\", \"a/***\", \"{a,b}\"]
";
    let e = parse(text);
    assert_eq!(e.kind, ErrorKind::Invalid);
    let all = e.diagnostics();
    assert_eq!(all.len(), 4, "{e}");
    assert_eq!((all[0].line, all[0].column), (5, 16), "{e}");
    assert_eq!((all[1].line, all[1].column), (5, 20), "{e}");
    assert_eq!((all[2].line, all[2].column), (5, 30), "{e}");
    assert_eq!((all[3].line, all[3].column), (5, 39), "{e}");
    assert!(
        all[1]
            .message
            .starts_with("sources.rules[0].images[1]: invalid glob \"a/[bc]\""),
        "{e}"
    );
    // One problem per line in Display.
    assert_eq!(e.to_string().lines().count(), 4);

    let long = format!(
        "version: 1\nhardening:\n  include: [\"{}\"]\n",
        "a".repeat(513)
    );
    let e = parse(&long);
    assert_eq!(at(&e), (3, 13), "{e}");
    assert!(e.message.contains("longer than 512"), "{e}");
}

#[test]
fn bad_dates() {
    let text = "version: 1
exceptions:
  - name: a
    advisories: [CVE-1]
    reason: r
    approved_by: me
    expires: 2027-02-30
  - name: b
    advisories: [CVE-2]
    reason: r
    approved_by: me
    expires: tomorrow
";
    let e = parse(text);
    assert_eq!(at(&e), (7, 14), "{e}");
    assert_eq!(
        e.to_string().lines().next(),
        Some(
            "policy.yaml:7:14: exceptions[0].expires: invalid date \"2027-02-30\" (expected YYYY-MM-DD)"
        )
    );
    assert_eq!((e.more[0].line, e.more[0].column), (12, 14), "{e}");
    assert!(e.more[0].message.contains("\"tomorrow\""));
}

#[test]
fn unknown_signer() {
    let text = "version: 1
sources:
  keys:
    release: keys/release.pub
  rules:
    - name: internal
      images: [\"registry.acme.com/**\"]
      signers: { any_of: [relase] }
";
    let e = parse(text);
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(at(&e), (8, 27), "{e}");
    assert_eq!(
        e.message,
        "sources.rules[0].signers.any_of[0]: unknown signer \"relase\" (known: release)"
    );
}

#[test]
fn duplicate_exception_names_and_missing_selectors() {
    let text = "version: 1
exceptions:
  - name: same
    advisories: [CVE-1]
    reason: r
    approved_by: me
    expires: 2027-01-01
  - name: same
    reason: r
    approved_by: me
    expires: 2027-01-01
";
    let e = parse(text);
    let all = e.diagnostics();
    assert_eq!(all.len(), 2, "{e}");
    assert_eq!((all[0].line, all[0].column), (8, 11), "{e}");
    assert!(
        all.iter()
            .any(|d| d.message.contains("duplicate exception name \"same\""))
    );
    assert!(
        all.iter()
            .any(|d| d.message.contains("must say what it waives"))
    );
}

#[test]
fn rule_needs_exactly_one_of_file_and_rego() {
    let e = parse(
        "version: 1\nrules:\n  - name: both\n    file: a.rego\n    rego: \"package a\"\n  - name: neither\n",
    );
    let all = e.diagnostics();
    assert_eq!(all.len(), 2, "{e}");
    assert_eq!((all[0].line, all[0].column), (3, 11));
    assert_eq!((all[1].line, all[1].column), (6, 11));
    assert!(
        all[1]
            .message
            .ends_with("set exactly one of `file` and `rego`")
    );
}

#[test]
fn inline_rego_syntax_error_maps_to_the_policy_file() {
    let text = "version: 1
rules:
  - name: broken
    rego: |
      package broken

      deny contains msg if {
        msg := \"x\" +
      }
";
    let e = parse(text);
    assert_eq!(e.path, "policy.yaml");
    // Rego line 4 (`msg := ...`) is YAML line 8; the block is indented by 6.
    // regorus reports Rego 4:7 (the `:=`); YAML column = block indentation 6 + 7.
    assert_eq!((e.line, e.column), (8, 13), "{e}");
    assert!(e.message.starts_with("rules[0].rego: "), "{e}");
}

#[test]
fn rego_file_syntax_error_names_the_rego_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.rego"),
        "package bad\n\ndeny contains msg if {\n\tmsg := \n}\n",
    )
    .expect("write");
    let e = Policy::parse(
        "version: 1\nrules:\n  - name: bad\n    file: bad.rego\n",
        "policy.yaml",
        dir.path(),
    )
    .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Rego);
    assert!(e.path.ends_with("bad.rego"), "{e}");
    // regorus points at the end of `msg := ` where an expression is missing.
    assert_eq!((e.line, e.column), (4, 9), "{e}");
}

#[test]
fn unknown_rego_function_is_found_at_load_time() {
    let text = "version: 1\nrules:\n  - name: typo\n    rego: |\n      package typo\n      deny contains x if { x := nosuchfn(1) }\n";
    let e = parse(text);
    // regorus points at the call's `(` (Rego column 35); the block is indented by 6.
    assert_eq!((e.line, e.column), (6, 41), "{e}");
    assert!(e.message.contains("nosuchfn"), "{e}");
}

#[test]
fn missing_rego_file() {
    let e = parse("version: 1\nrules:\n  - name: gone\n    file: gone.rego\n");
    assert_eq!(at(&e), (4, 11), "{e}");
}

#[test]
fn bad_thresholds() {
    let e = parse(
        "version: 1\nvulnerabilities:\n  max_cvss: 11\n  severities: [critical, severe]\n  epss: { above: 2 }\nhardening:\n  level: 3\n",
    );
    let all = e.diagnostics();
    assert_eq!(all.len(), 4, "{e}");
    assert_eq!((all[0].line, all[0].column), (3, 13));
    assert_eq!((all[1].line, all[1].column), (4, 26));
    assert_eq!((all[2].line, all[2].column), (5, 18));
    assert_eq!((all[3].line, all[3].column), (7, 10));
}

#[test]
fn hostile_inputs_do_not_panic() {
    let deep = format!(
        "version: 1\nname: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(Policy::parse(&deep, "p.yaml", Path::new(".")).is_err());
    let deep_block: String = (0..2000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    assert!(Policy::parse(&deep_block, "p.yaml", Path::new(".")).is_err());
    let huge = format!("version: 1\nname: \"{}\"\n", "x".repeat(1 << 20));
    let e = Policy::parse(&huge, "p.yaml", Path::new(".")).expect_err("too big");
    assert!(e.message.contains("larger than"));
    let aliases = "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    assert!(Policy::parse(aliases, "p.yaml", Path::new(".")).is_err());
    for text in [
        "",
        "~",
        "[]",
        "version: 1\nexceptions: {}\n",
        "\u{feff}version: 1\n",
        "version: 1\nrules:\n  - name: x\n    rego: \"\"\n",
    ] {
        let _ = Policy::parse(text, "p.yaml", Path::new("."));
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = Policy::parse(&text, "p.yaml", Path::new("."));
    }

    #[test]
    fn arbitrary_yamlish_never_panics(text in "(version: 1\n)?([a-z_]{1,12}: ?(\\[|\\{|[a-z0-9.*\\-]{0,8}|\"[^\"]{0,8}\"|\\|)\n {0,6}){0,12}") {
        let _ = Policy::parse(&text, "p.yaml", Path::new("."));
    }
}

/// Issue 13.12: messages in the project's words, not the YAML library's API names.
#[test]
fn issue_13_12_duplicate_key_and_multiple_documents_in_our_words() {
    let e = parse("version: 1\nversion: 1\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("duplicate key \"version\""), "{e}");
    assert!(!e.message.contains("DuplicateKeyPolicy"), "{e}");

    let e = parse("version: 1\n---\nversion: 1\n");
    assert!(e.line >= 2, "{e}");
    assert!(e.message.contains("more than one YAML document"), "{e}");
    assert!(!e.message.contains("from_str"), "{e}");
}

/// Issue 13.12: deeply nested Rego parentheses are "nesting too deep" at the first one past the
/// limit, not regorus's "expecting `}` while parsing set".
#[test]
fn issue_13_12_deep_rego_parentheses_are_nesting_too_deep() {
    let module = format!(
        "package p\ndeny contains \"x\" if {{ {}1{} > 0 }}\n",
        "(".repeat(40),
        ")".repeat(40)
    );
    let text = format!(
        "version: 1\nrules:\n  - name: deep\n    rego: |\n{}",
        module
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    );
    let e = parse(&text);
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("nesting too deep"), "{e}");
    assert!(e.message.contains("rule \"deep\""), "{e}");
    assert!(!e.message.contains("expecting"), "{e}");
    // Line 6 of the policy (2 of the module); `{` is level 1, the 12th `(` is level 13.
    assert_eq!(e.line, 6, "{e}");
    assert_eq!(e.column, 6 + 35, "{e}");
}

/// A long run of unary minus signs nests as deep as parentheses in regorus's parser (the
/// `policy` fuzz target overflowed its stack with one): refused the same way.
#[test]
fn a_run_of_minus_signs_is_nesting_too_deep() {
    let text = format!(
        "version: 1\nrules:\n  - name: minus\n    rego: |\n      package p\n      deny contains \"x\" if {{ 1 {}1 > 0 }}\n",
        "-".repeat(5000)
    );
    let e = parse(&text);
    assert!(e.message.contains("nesting too deep"), "{e}");
    assert!(e.message.contains("rule \"minus\""), "{e}");
    // A few in a row are ordinary arithmetic.
    let ok = "version: 1\nrules:\n  - name: minus\n    rego: |\n      package p\n      deny contains \"x\" if { 1 - -1 > 5 }\n";
    assert!(Policy::parse(ok, "p.yaml", Path::new(".")).is_ok());
}

/// Recursion between functions and rules is refused when the policy loads, at the first
/// definition on the cycle; rules that merely share a helper are fine.
#[test]
fn recursion_is_refused_at_load() {
    let inline = |module: &str| {
        format!(
            "version: 1\nrules:\n  - name: r\n    rego: |\n{}",
            module
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        )
    };
    let e = parse(&inline(
        "package p\n\nf(x) := y if {\n\ty := f(x + 1)\n}\n\ndeny contains \"x\" if f(1)\n",
    ));
    assert!(
        e.message.contains("recursion is not allowed: f -> f"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (7, 7), "{e}");
    let e = parse(&inline(
        "package p\n\na if b\nb if c\nc if data.p.a\ndeny contains \"x\" if a\n",
    ));
    assert!(
        e.message
            .contains("recursion is not allowed: a -> b -> c -> a"),
        "{e}"
    );
    let ok = inline(
        "package p\n\nhelper(x) := x + 1\n\nroot if not input.image.user\nroot if input.image.user == \"root\"\n\ndeny contains msg if {\n\troot\n\tmsg := sprintf(\"%d\", [helper(1)])\n}\nwarn contains \"w\" if {\n\tsome f in input.vulnerabilities.findings\n\tf.id == \"root\"\n}\n",
    );
    Policy::parse(&ok, "policy.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
}

/// Issue 13.2: a FIFO (or a symlink to /dev/zero) named as the policy or a Rego file is refused
/// by its type without being opened for reading (which would block or never end).
#[test]
fn issue_13_2_fifo_and_device_are_refused_by_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fifo = d.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let e = Policy::load(&fifo).expect_err("fifo");
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(e.message.contains("not a regular file (a FIFO)"), "{e}");
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.rego")).expect("symlink");
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nrules:\n  - name: z\n    file: zero.rego\n  - name: f\n    file: fifo\n",
    )
    .expect("write");
    let e = Policy::load(&d.join("policy.yaml")).expect_err("device");
    let all = e.to_string();
    assert!(
        all.contains("rules[0].file") && all.contains("(a device)"),
        "{all}"
    );
    assert!(
        all.contains("rules[1].file") && all.contains("(a FIFO)"),
        "{all}"
    );
}
