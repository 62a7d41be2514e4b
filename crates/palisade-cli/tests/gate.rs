//! Issue 6, end to end: `palisade gate` on the real testbed images in a real local
//! `docker-registry`, with a real cosign-format signature made by `palisade sign`, the
//! vulnerability database imported from the real feed snapshots, and the image hardening
//! checks; plus `palisade policy validate|test|init`.
//!
//! Needs the testbed (`testbed/install-deps.sh`). The registry is started by the test on its
//! own port and stopped when the test ends.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{Registry, env, run};

/// The clock every decision here is made at (exception expiry, DB age, Rego rules).
const NOW: &str = "2026-11-28T12:00:00Z";

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn palisade(args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .env("XDG_CACHE_HOME", &env().cache)
        .env_remove("PALISADE_NO_CACHE")
        .env_remove("PALISADE_DB")
        .env_remove("PALISADE_ENV")
        .env_remove("PALISADE_NOW")
        .env_remove("PALISADE_POLICY")
        .env_remove("PALISADE_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Runs the gate with `--format json`; returns the exit code and the decision.
fn gate(source: &str, policy: &Path, extra: &[&str]) -> (i32, Value) {
    let db = env().db.display().to_string();
    let mut args = vec![
        "gate",
        source,
        "--policy",
        policy.to_str().unwrap(),
        "--db",
        &db,
        "--format",
        "json",
    ];
    if !extra.contains(&"--now") {
        args.extend_from_slice(&["--now", NOW]);
    }
    args.extend_from_slice(extra);
    let out = palisade(&args, &[]);
    let code = out.status.code().unwrap();
    assert_ne!(code, 2, "gate failed: {}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("decision JSON: {e}\n{}", text(&out)));
    (code, v)
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn reasons<'a>(v: &'a Value, effect: &str) -> Vec<&'a Value> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["effect"] == effect)
        .collect()
}

fn codes(v: &Value, effect: &str) -> BTreeSet<String> {
    reasons(v, effect)
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

/// The advisories `palisade scan --min-cvss 9` reports for an image: an independent path
/// (the scan's own filter) to what a `max_cvss: 8.9` gate must deny.
fn critical_by_scan(source: &str) -> BTreeSet<String> {
    let e = env();
    let db = e.db.display().to_string();
    let out = run(
        &[
            "scan",
            source,
            "--db",
            &db,
            "--min-cvss",
            "9",
            "--unknown-severity",
            "ignore",
            "--format",
            "json",
        ],
        &e.cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["id"].as_str().unwrap(),
                f["package"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

struct Fixture {
    reg: Registry,
    dir: tempfile::TempDir,
    signed_base: String,
    unsigned_app: String,
    app: String,
}

/// A registry with `testbed/base:v1` signed by the `release` key, `testbed/app:v1` signed too,
/// and `testbed/unsigned:v1` (the app, never signed).
fn fixture() -> Fixture {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("release");
    let out = palisade(
        &[
            "key",
            "generate",
            "--output-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", "gate test")],
    );
    assert!(out.status.success(), "{}", text(&out));
    reg.push("base", "testbed/base:v1");
    reg.push("app", "testbed/app:v1");
    reg.push("app", "testbed/unsigned:v1");
    for repo in ["testbed/base:v1", "testbed/app:v1"] {
        let out = palisade(
            &[
                "sign",
                &format!("{}/{repo}", reg.addr),
                "--key",
                prefix.with_extension("key").to_str().unwrap(),
            ],
            &[("PALISADE_PASSWORD", "gate test")],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let signed_base = format!("registry:{}/testbed/base:v1", reg.addr);
    let app = format!("registry:{}/testbed/app:v1", reg.addr);
    let unsigned_app = format!("registry:{}/testbed/unsigned:v1", reg.addr);
    Fixture {
        reg,
        dir,
        signed_base,
        unsigned_app,
        app,
    }
}

/// The trusted-sources section: our registry, signed by `release`.
fn sources(key: &Path, images: &str) -> String {
    format!(
        "sources:\n  keys:\n    release: {}\n  default: deny\n  rules:\n    - name: testbed\n      images: [\"{images}\"]\n      signers: {{ any_of: [release] }}\n",
        key.display()
    )
}

#[test]
fn gate_decisions_on_real_images_in_a_real_registry() {
    let f = fixture();
    let d = f.dir.path();
    let key = d.join("release.pub");

    // 1. Signed by the trusted key and clean (no advisory in the DB for its packages): allow.
    //    (No feed here covers Debian 12; `tests/checked.rs` shows that the default
    //    `coverage: deny` refuses that, so the policies here that are about something else
    //    set `coverage: ignore` and `unknown_severity: ignore`.)
    let policy = write(
        d,
        "trusted.yaml",
        &format!(
            "version: 1\nname: trusted\n{}vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n",
            sources(&key, "127.0.0.1:*/testbed/**")
        ),
    );
    let (code, v) = gate(&f.signed_base, &policy, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["decision"], "allow", "{v:#}");
    assert!(reasons(&v, "deny").is_empty(), "{v:#}");
    assert_eq!(v["evaluated"]["trust"], true, "{v:#}");
    assert_eq!(v["evaluated"]["vulnerabilities"], true, "{v:#}");
    assert_eq!(v["evaluated"]["hardening"], false, "{v:#}");
    let digest = v["image"]["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{v:#}");

    // 2. Unsigned: deny, for the signature.
    let sources_only = write(
        d,
        "sources.yaml",
        &format!("version: 1\n{}", sources(&key, "127.0.0.1:*/testbed/**")),
    );
    let (code, v) = gate(&f.unsigned_app, &sources_only, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["decision"], "deny");
    assert!(codes(&v, "deny").contains("signature-missing"), "{v:#}");
    let r = reasons(&v, "deny")[0];
    assert!(
        r["fix"].as_str().unwrap().contains("palisade sign"),
        "the fix says how to sign: {r:#}"
    );
    // The same policy allows the signed app: the signature is what differs.
    let (code, v) = gate(&f.app, &sources_only, &[]);
    assert_eq!(code, 0, "{v:#}");

    // 3. From an untrusted registry (the policy trusts only registry.acme.com): deny.
    let acme = write(
        d,
        "acme.yaml",
        &format!("version: 1\n{}", sources(&key, "registry.acme.com/**")),
    );
    let (code, v) = gate(&f.signed_base, &acme, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(codes(&v, "deny").contains("untrusted-source"), "{v:#}");

    // 4. Findings at CVSS >= 9 under a `max_cvss: 8.9` prod policy: deny, listing each
    //    advisory with its fixed versions; the `dev` override allows the same image.
    let cvss = write(
        d,
        "cvss.yaml",
        "version: 1\nname: cvss\ndefault_environment: prod\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev:\n      max_cvss: null\n",
    );
    let (code, v) = gate(&f.app, &cvss, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["environment"], "prod");
    let denied: BTreeSet<String> = reasons(&v, "deny")
        .iter()
        .filter(|r| r["code"] == "cvss-above-threshold")
        .map(|r| {
            let s = &r["subject"];
            assert!(
                !s["fixed_versions"].as_array().unwrap().is_empty(),
                "each denied advisory names its fix: {r:#}"
            );
            assert!(r["fix"].as_str().unwrap().starts_with("Upgrade "), "{r:#}");
            format!(
                "{} {}",
                s["advisory"].as_str().unwrap(),
                s["package"].as_str().unwrap()
            )
        })
        .collect();
    let expected = critical_by_scan(&f.app);
    assert!(!expected.is_empty());
    assert_eq!(denied, expected, "{v:#}");
    let (code, v) = gate(&f.app, &cvss, &["--env", "dev"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["decision"], "allow", "{v:#}");
    assert_eq!(v["environment"], "dev");

    // 5. Running as root with a hardening rule requiring a non-root user: deny with the fix;
    //    the app (USER 1000) passes the same rule.
    let nonroot = write(
        d,
        "nonroot.yaml",
        "version: 1\nhardening:\n  level: 1\n  include: [CIS-DOCKER-4.1]\n",
    );
    let (code, v) = gate(&f.signed_base, &nonroot, &[]);
    assert_eq!(code, 1, "{v:#}");
    let r = reasons(&v, "deny");
    assert_eq!(r.len(), 1, "{v:#}");
    assert_eq!(r[0]["code"], "check-failed", "{v:#}");
    assert_eq!(r[0]["subject"]["check"], "CIS-DOCKER-4.1", "{v:#}");
    assert!(r[0]["fix"].as_str().unwrap().contains("USER"), "{v:#}");
    let (code, v) = gate(&f.app, &nonroot, &[]);
    assert_eq!(code, 0, "{v:#}");

    // 6. An exception covering the findings: allow, naming the exception; past its expiry:
    //    deny, saying it expired.
    let ids: Vec<String> = expected
        .iter()
        .map(|e| e.split(' ').next().unwrap().to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let exception = |expires: &str| {
        format!(
            "version: 1\ndefault_environment: prod\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\nexceptions:\n  - name: app-risk-accepted\n    advisories: [{}]\n    images: [\"127.0.0.1:*/testbed/app\"]\n    reason: \"not reachable from the request path\"\n    approved_by: security@example.com\n    expires: {expires}\n",
            ids.join(", ")
        )
    };
    let current = write(d, "exception.yaml", &exception("2027-01-31"));
    let (code, v) = gate(&f.app, &current, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["decision"], "allow", "{v:#}");
    let excepted = reasons(&v, "excepted");
    assert_eq!(excepted.len(), expected.len(), "{v:#}");
    for r in &excepted {
        assert_eq!(r["exception"]["name"], "app-risk-accepted", "{r:#}");
        assert_eq!(r["exception"]["status"], "applied", "{r:#}");
    }
    let expired = write(d, "expired.yaml", &exception("2026-10-31"));
    let (code, v) = gate(&f.app, &expired, &[]);
    assert_eq!(code, 1, "{v:#}");
    let denied = reasons(&v, "deny");
    assert_eq!(denied.len(), expected.len(), "{v:#}");
    for r in &denied {
        assert_eq!(r["exception"]["status"], "expired", "{r:#}");
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .contains("expired on 2026-10-31"),
            "{r:#}"
        );
    }
    // The exception is scoped to the app: the unsigned copy's repository is not covered.
    let (code, v) = gate(&f.unsigned_app, &current, &[]);
    assert_eq!(code, 1, "{v:#}");

    // 7. A Rego rule: deny images older than 90 days. The testbed images are created on
    //    2024-01-01 (SOURCE_DATE_EPOCH): denied in 2026, allowed in January 2024.
    write(
        d,
        "age.rego",
        r#"package palisade.rules.age

import rego.v1

max_days := 90

deny contains msg if {
	created := time.parse_rfc3339_ns(input.image.created)
	now := time.parse_rfc3339_ns(input.now)
	days := floor((now - created) / (((24 * 60) * 60) * 1000000000))
	days > max_days
	msg := sprintf("image is %v days old (created %s); rebuild at least every %v days", [days, input.image.created, max_days])
}
"#,
    );
    let rego = write(
        d,
        "rego.yaml",
        "version: 1\nrules:\n  - name: max-image-age\n    file: age.rego\n",
    );
    let (code, v) = gate(&f.app, &rego, &[]);
    assert_eq!(code, 1, "{v:#}");
    let r = reasons(&v, "deny");
    assert_eq!(r.len(), 1, "{v:#}");
    assert_eq!(r[0]["code"], "rego-deny", "{v:#}");
    assert_eq!(r[0]["rule"], "max-image-age", "{v:#}");
    assert!(
        r[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("image is 1062 days old"),
        "{v:#}"
    );
    let (code, v) = gate(&f.app, &rego, &["--now", "2024-01-31"]);
    assert_eq!(code, 0, "{v:#}");

    // Everything at once, in every output format: the same decision.
    let all = write(
        d,
        "all.yaml",
        &format!(
            "version: 1\nname: everything\ndefault_environment: prod\n{}vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  kev: deny\nhardening:\n  level: 1\n  include: [CIS-DOCKER-4.1]\nrules:\n  - name: max-image-age\n    file: age.rego\n",
            sources(&key, "127.0.0.1:*/testbed/**")
        ),
    );
    let (code, v) = gate(&f.unsigned_app, &all, &[]);
    assert_eq!(code, 1);
    let c = codes(&v, "deny");
    for want in ["signature-missing", "cvss-above-threshold", "rego-deny"] {
        assert!(c.contains(want), "{want} missing: {v:#}");
    }
    let db = env().db.display().to_string();
    for format in ["sarif", "junit", "table"] {
        let out_file = d.join(format!("decision.{format}"));
        let out = palisade(
            &[
                "gate",
                &f.unsigned_app,
                "--policy",
                all.to_str().unwrap(),
                "--db",
                &db,
                "--now",
                NOW,
                "--format",
                format,
                "--output",
                out_file.to_str().unwrap(),
                "--explain",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let body = std::fs::read_to_string(&out_file).unwrap();
        match format {
            "sarif" => {
                common::validate("sarif", &out_file);
                let s: Value = serde_json::from_str(&body).unwrap();
                let results = s["runs"][0]["results"].as_array().unwrap();
                assert_eq!(results.len(), v["reasons"].as_array().unwrap().len());
                // The trace goes to standard error when the output is a document.
                assert!(!out.stderr.is_empty(), "{}", text(&out));
            }
            "junit" => {
                let failures = reasons(&v, "deny").len();
                assert!(body.contains(&format!("failures=\"{failures}\"")), "{body}");
            }
            _ => {
                assert!(body.starts_with("DENY  "), "{body}");
                assert!(body.contains("Evaluation trace:"), "{body}");
                assert!(body.contains("signature-missing"), "{body}");
            }
        }
    }
    drop(f.reg);
}

/// The decision document is byte-identical across runs for the same inputs, and its shape is
/// pinned by a snapshot (registry port and image digest masked: they change with the testbed).
#[test]
fn decision_json_is_stable_and_pinned() {
    let f = fixture();
    let d = f.dir.path();
    let key = d.join("release.pub");
    let policy = write(
        d,
        "policy.yaml",
        &format!(
            "version: 1\nname: snapshot\ndefault_environment: prod\n{}vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  kev: deny\nhardening:\n  level: 1\n  include: [CIS-DOCKER-4.1]\nexceptions:\n  - name: certifi-accepted\n    packages: [certifi]\n    reason: only used against internal endpoints\n    approved_by: security@example.com\n    expires: 2027-06-30\n",
            sources(&key, "127.0.0.1:*/testbed/**")
        ),
    );
    let db = env().db.display().to_string();
    let args = [
        "gate",
        &f.app,
        "--policy",
        policy.to_str().unwrap(),
        "--db",
        &db,
        "--now",
        NOW,
        "--format",
        "json",
    ];
    let first = palisade(&args, &[]);
    let second = palisade(&args, &[("PALISADE_NO_CACHE", "1")]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert_eq!(
        first.stdout,
        second.stdout,
        "warm and cold runs differ:\n{}\n{}",
        text(&first),
        text(&second)
    );
    let v: Value = serde_json::from_slice(&first.stdout).unwrap();
    let digest = v["image"]["digest"].as_str().unwrap().to_owned();
    let policy_sha = v["policy"]["sha256"].as_str().unwrap().to_owned();
    let masked = String::from_utf8(first.stdout)
        .unwrap()
        .replace(&f.reg.addr, "127.0.0.1:PORT")
        .replace(&digest, "sha256:IMAGE")
        .replace(&policy_sha, "POLICY-SHA256");
    insta::assert_snapshot!("gate_app_prod_decision", masked);
}

#[test]
fn policy_validate_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&str, &str, &str); 6] = [
        (
            "unknown-key.yaml",
            "version: 1\nvulnerabilities:\n  max_cvs: 8.9\n",
            ":3:3:",
        ),
        (
            "wrong-type.yaml",
            "version: 1\nvulnerabilities:\n  max_cvss: high\n",
            ":3:13:",
        ),
        (
            "bad-glob.yaml",
            "version: 1\nexceptions:\n  - name: x\n    images: [\"registry/[abc]\"]\n    reason: r\n    approved_by: me\n    expires: 2027-01-01\n",
            ":4:14:",
        ),
        (
            "bad-date.yaml",
            "version: 1\nexceptions:\n  - name: x\n    advisories: [CVE-2024-1]\n    reason: r\n    approved_by: me\n    expires: 2027-02-30\n",
            ":7:14:",
        ),
        (
            "rego-inline.yaml",
            "version: 1\nrules:\n  - name: broken\n    rego: |\n      package palisade.rules.broken\n      import rego.v1\n      deny contains msg if {\n        msg := \n      }\n",
            // regorus reports the incomplete assignment at its `:=`.
            "rego-inline.yaml:8:13:",
        ),
        (
            "rego-file.yaml",
            "version: 1\nrules:\n  - name: broken\n    file: broken.rego\n",
            "broken.rego:3:",
        ),
    ];
    write(
        d,
        "broken.rego",
        "package palisade.rules.broken\nimport rego.v1\ndeny contains msg if { msg := }\n",
    );
    for (name, body, location) in cases {
        let p = write(d, name, body);
        let out = palisade(&["policy", "validate", p.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(location),
            "{name}: expected {location:?} in the error:\n{err}"
        );
    }
    // The starter policy is valid, and `init` never overwrites silently.
    let starter = d.join("starter.yaml");
    let out = palisade(&["policy", "init", starter.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    // Valid once the key it names exists (tests/policy_budget.rs: issue 12.7).
    std::fs::create_dir_all(d.join("keys")).unwrap();
    std::fs::write(
        d.join("keys/release.pub"),
        include_str!("../../palisade-policy/tests/fixtures/keys/release.pub"),
    )
    .unwrap();
    let out = palisade(&["policy", "validate", starter.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = palisade(&["policy", "init", starter.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// `gate --write-input` produces an input document that `policy test` replays: a case that
/// expects the real decision passes, one that expects the opposite fails with exit 1.
#[test]
fn policy_test_replays_a_real_gate_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy = write(
        d,
        "policy.yaml",
        "version: 1\ndefault_environment: prod\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev: { max_cvss: null }\n",
    );
    let input = d.join("app-input.json");
    let db = env().db.display().to_string();
    let out = palisade(
        &[
            "gate",
            &common::image("app"),
            "--policy",
            policy.to_str().unwrap(),
            "--db",
            &db,
            "--now",
            NOW,
            "--write-input",
            input.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let tests = d.join("tests");
    std::fs::create_dir(&tests).unwrap();
    write(
        &tests,
        "app.test.yaml",
        "policy: ../policy.yaml\ncases:\n  - name: prod denies the critical findings\n    input: ../app-input.json\n    expect:\n      decision: deny\n      reasons: [cvss-above-threshold]\n  - name: dev allows them\n    environment: dev\n    input: ../app-input.json\n    expect:\n      decision: allow\n",
    );
    let out = palisade(&["policy", "test", tests.to_str().unwrap(), "-v"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2/2 passed"));
    write(
        &tests,
        "wrong.test.yaml",
        "policy: ../policy.yaml\ncases:\n  - name: a wrong expectation\n    input: ../app-input.json\n    expect:\n      decision: allow\n",
    );
    let out = palisade(&["policy", "test", tests.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL") && stdout.contains("a wrong expectation"),
        "{stdout}"
    );
    assert!(stdout.contains("2/3 passed"), "{stdout}");
    // Files as well as directories, several at once, a file under any name (as conftest).
    std::fs::copy(tests.join("app.test.yaml"), tests.join("app-cases.yaml")).unwrap();
    let out = palisade(
        &[
            "policy",
            "test",
            tests.join("app-cases.yaml").to_str().unwrap(),
            tests.join("app.test.yaml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4/4 passed"));
    let out = palisade(
        &[
            "policy",
            "test",
            tests.join("wrong.test.yaml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0/1 passed"));
}
