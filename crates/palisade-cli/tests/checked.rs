//! Issue 12, "never a silent allow": every way `scan` and `gate` could say "clean" or "allow"
//! about something they never checked, on the real testbed images and the real feed
//! snapshots. Each test failed on the main branch before the fix.
//!
//! - packages whose ecosystem the database has no advisories for (`not_covered`);
//! - an environment name the policy does not know;
//! - local images taken for registry images (their own tags as provenance);
//! - findings of unknown severity passing severity thresholds;
//! - a stale database;
//! - SARIF results without a physical location (GitHub code scanning drops them);
//! - and the small ones: warnings on standard output, `./missing` taken for a registry
//!   reference, an SBOM file without `sbom:`, a bad `--now` found only after the scan.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{env, feeds, image, run, testbed};

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
        .env_remove("PALISADE_POLICY");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, body).unwrap();
    p
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON: {e}\n{}", text(out)))
}

fn codes(decision: &Value) -> BTreeSet<String> {
    decision["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

/// A database of the given feeds, imported by the binary.
fn database(dir: &Path, inputs: &[PathBuf]) -> PathBuf {
    let db = dir.join("vuln.db");
    let mut args: Vec<String> = vec!["db".into(), "import".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--db".into(), db.display().to_string()]);
    let out = run(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &env().cache,
    );
    assert!(out.status.success(), "db import: {}", text(&out));
    db
}

fn gate(source: &str, policy: &Path, db: &Path, extra: &[&str]) -> Output {
    let db = db.display().to_string();
    let mut args = vec![
        "gate",
        source,
        "--policy",
        policy.to_str().unwrap(),
        "--db",
        &db,
        "--format",
        "json",
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    palisade(&args, &[])
}

/// Case 1 and acceptance 2: the Debian base image against a database with no Debian data is
/// neither clean nor allowed, and its 88 deb packages are named as not covered; with the
/// real Debian tracker excerpt imported, Debian 12 is covered.
#[test]
fn packages_without_feed_coverage_are_not_clean() {
    let base = image("base");
    let db = env().db.display().to_string();
    let out = palisade(
        &[
            "scan",
            &base,
            "--db",
            &db,
            "--format",
            "json",
            "--exit-code",
            "1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = json(&out);
    let not_covered = v["not_covered"].as_array().unwrap();
    assert_eq!(not_covered.len(), 88, "{:#}", v["coverage"]);
    assert!(
        not_covered
            .iter()
            .all(|p| p["type"] == "deb" && p["ecosystem"] == "Debian:12")
    );
    let debian = v["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ecosystem"] == "Debian:12")
        .expect("a coverage entry for Debian 12");
    assert_eq!(debian["covered"], false);
    assert_eq!(debian["packages"], 88);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("88 package(s) of Debian:12 not checked"),
        "{}",
        text(&out)
    );
    // The table says so too, and `--coverage warn` keeps the report but not the exit code.
    let out = palisade(
        &[
            "scan",
            &base,
            "--db",
            &db,
            "--exit-code",
            "1",
            "--coverage",
            "warn",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("NOT CHECKED: 88 package(s)"), "{table}");

    // The gate under the starter policy's vulnerability section refuses it.
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.yaml",
        "version: 1\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: deny\n",
    );
    let out = gate(&base, &policy, &env().db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let decision = json(&out);
    assert_eq!(decision["decision"], "deny");
    let reason = decision["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "not-covered")
        .expect("a not-covered reason");
    assert_eq!(reason["subject"]["ecosystem"], "Debian:12");
    assert_eq!(reason["subject"]["packages"], 88);
    assert!(
        reason["fix"].as_str().unwrap().contains("Import a feed"),
        "{reason:#}"
    );
    // The policy's default is deny too: leaving `coverage` out does not allow it.
    let silent = write(
        dir.path(),
        "silent.yaml",
        "version: 1\nvulnerabilities: {}\n",
    );
    let out = gate(&base, &silent, &env().db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // With the real Debian tracker excerpt imported, Debian 12 is covered.
    let with_debian = tempfile::tempdir().unwrap();
    let tracker = feeds().join("../testdata/feeds/debian-tracker-excerpt/debian.json");
    let db2 = database(
        with_debian.path(),
        &[feeds().join("osv/PyPI/all.zip"), tracker],
    );
    let out = palisade(
        &[
            "scan",
            &base,
            "--db",
            db2.to_str().unwrap(),
            "--format",
            "json",
            "--exit-code",
            "1",
        ],
        &[],
    );
    let v = json(&out);
    let debian = v["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ecosystem"] == "Debian:12")
        .expect("a coverage entry for Debian 12");
    assert_eq!(debian["covered"], true, "{v:#}");
    assert!(debian["advisories"].as_u64().unwrap() > 0);
    assert_eq!(v["not_covered"].as_array().unwrap().len(), 0);
}

/// Case 2: an environment the policy does not know is an error, from the flag and from
/// `PALISADE_ENV`, and the message lists the ones it knows.
#[test]
fn unknown_environment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.yaml",
        "version: 1\ndefault_environment: prod\nenvironments: [staging]\n\
         vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  environments:\n    dev: { max_cvss: null }\n",
    );
    let base = image("base");
    let out = gate(&base, &policy, &env().db, &["--env", "prdo"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown environment \"prdo\""), "{err}");
    assert!(err.contains("dev, prod, staging"), "{err}");
    // Nothing was read before the refusal: no decision on standard output.
    assert!(out.stdout.is_empty());

    let db = env().db.display().to_string();
    let out = palisade(
        &[
            "gate",
            &base,
            "--policy",
            policy.to_str().unwrap(),
            "--db",
            &db,
            "--now",
            NOW,
        ],
        &[("PALISADE_ENV", "prdo")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Declared names are accepted.
    for env_name in ["staging", "prod", "dev"] {
        let out = gate(&base, &policy, &env().db, &["--env", env_name]);
        assert_ne!(out.status.code(), Some(2), "{env_name}: {}", text(&out));
    }
}

/// Case 3: a layout or archive is named by its path, never by a reference made up from its
/// annotations or `RepoTags`; source rules deny it with a fix that works; `--trust-local-tags`
/// is explicit and recorded.
#[test]
fn local_images_carry_no_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.yaml",
        "version: 1\nsources:\n  default: deny\n  rules:\n    - name: testbed\n      images: [\"docker.io/testbed/*\"]\n      action: allow\n",
    );
    let layout = format!("oci-dir:{}:base", testbed().join("oci").display());
    let out = gate(&layout, &policy, &env().db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let d = json(&out);
    assert_eq!(d["image"]["reference"], layout.as_str());
    assert_eq!(d["image"]["origin"], "local");
    assert!(!d.to_string().contains("docker.io/library"), "{d:#}");
    assert_eq!(codes(&d), BTreeSet::from(["local-source".to_owned()]));
    let fix = d["reasons"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("Push the image") && !fix.contains("dir:"),
        "{fix}"
    );

    // The archive's own tag `testbed/base:latest` matches the rule only when vouched for.
    let archive = format!(
        "docker-archive:{}",
        testbed().join("base.docker.tar").display()
    );
    let out = gate(&archive, &policy, &env().db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        codes(&json(&out)),
        BTreeSet::from(["local-source".to_owned()])
    );
    let out = gate(&archive, &policy, &env().db, &["--trust-local-tags"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let d = json(&out);
    assert_eq!(d["image"]["origin"], "local-tags-trusted");
    assert_eq!(d["image"]["reference"], "docker.io/testbed/base:latest");

    // With signers required, an unsigned local tarball is "missing", not "invalid", and the
    // fix is a command that works (sign in a registry), not `palisade sign dir:…`.
    let keys = tempfile::tempdir().unwrap();
    let out = palisade(
        &[
            "key",
            "generate",
            "--output-prefix",
            keys.path().join("release").to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", "test")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let signed_policy = write(
        dir.path(),
        "signed.yaml",
        &format!(
            "version: 1\nsources:\n  keys:\n    release: {}\n  default: deny\n  rules:\n    - name: testbed\n      images: [\"docker.io/testbed/*\"]\n      action: allow\n      signers: {{ any_of: [release] }}\n",
            keys.path().join("release.pub").display()
        ),
    );
    let out = gate(&archive, &signed_policy, &env().db, &["--trust-local-tags"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let d = json(&out);
    assert_eq!(codes(&d), BTreeSet::from(["signature-missing".to_owned()]));
    let r = &d["reasons"][0];
    assert!(
        r["message"].as_str().unwrap().contains("local image"),
        "{r:#}"
    );
    let fix = r["fix"].as_str().unwrap();
    assert!(!fix.contains("dir:") && fix.contains("registry"), "{fix}");
}

/// Case 4: findings with no CVSS score and no distro rating are UNKNOWN; a severity filter or
/// threshold no longer passes them without a word.
#[test]
fn unknown_severity_does_not_pass_severity_gates() {
    let dir = tempfile::tempdir().unwrap();
    // A real-shaped OSV record with no `severity` and no CVE alias (so no NVD score either),
    // affecting the app image's requests 2.19.1.
    let osv = dir.path().join("PyPI");
    write(
        &osv,
        "PALISADE-TEST-1.json",
        r#"{"schema_version":"1.6.0","id":"PALISADE-TEST-1","modified":"2026-11-01T00:00:00Z",
            "summary":"test advisory without a rating",
            "affected":[{"package":{"ecosystem":"PyPI","name":"requests"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.20.0"}]}]}]}"#,
    );
    let db = database(dir.path(), &[osv]);
    let app = image("app");
    let dbs = db.display().to_string();
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", &app, "--db", &dbs, "--format", "json", "--no-cache"];
        args.extend_from_slice(extra);
        let out = palisade(&args, &[]);
        assert_ne!(out.status.code(), Some(2), "{}", text(&out));
        (json(&out), out)
    };
    let ids = |v: &Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["id"].as_str().unwrap(),
                    f["severity"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (v, _) = scan(&["--severity", "CRITICAL"]);
    assert_eq!(ids(&v), ["PALISADE-TEST-1 UNKNOWN"]);
    let (v, _) = scan(&["--min-cvss", "9"]);
    assert_eq!(ids(&v), ["PALISADE-TEST-1 UNKNOWN"]);
    let (v, out) = scan(&["--severity", "CRITICAL", "--unknown-severity", "warn"]);
    assert!(ids(&v).is_empty());
    assert_eq!(v["unknown_severity_dropped"], 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UNKNOWN severity"),
        "{}",
        text(&out)
    );

    let policy = write(
        dir.path(),
        "policy.yaml",
        "version: 1\nvulnerabilities:\n  severities: [critical]\n  coverage: ignore\n",
    );
    let out = gate(&app, &policy, &db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let d = json(&out);
    assert_eq!(codes(&d), BTreeSet::from(["unknown-severity".to_owned()]));
    let warn = write(
        dir.path(),
        "warn.yaml",
        "version: 1\nvulnerabilities:\n  severities: [critical]\n  coverage: ignore\n  unknown_severity: warn\n",
    );
    let out = gate(&app, &warn, &db, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["decision"], "warn");
}

/// Case 5: a database older than `--max-age` is a warning on standard error, and an error
/// with `--fail-on-stale`.
#[test]
fn stale_database_is_reported() {
    let db = env().db.display().to_string();
    let base = image("base");
    let out = palisade(
        &[
            "scan",
            &base,
            "--db",
            &db,
            "--coverage",
            "ignore",
            "--max-age",
            "0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("days old") && err.contains("palisade db update"),
        "{err}"
    );
    let out = palisade(
        &[
            "scan",
            &base,
            "--db",
            &db,
            "--max-age",
            "0",
            "--fail-on-stale",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // The default (7 days) against data a year old warns too, without failing.
    let out = palisade(&["scan", &base, "--db", &db, "--coverage", "ignore"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Every SARIF result carries a physical location with a relative URI and a start line
/// (what GitHub code scanning requires), for `scan` and for `gate`; packages with no
/// coverage are tool notifications.
#[test]
fn sarif_results_have_physical_locations() {
    fn check(log: &Value) -> usize {
        let results = log["runs"][0]["results"].as_array().unwrap();
        for r in results {
            let loc = &r["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().unwrap_or("");
            assert!(!uri.is_empty(), "no uri: {r:#}");
            assert!(!uri.starts_with('/') && !uri.contains("://"), "{uri}");
            assert!(!uri.split('/').next().unwrap().contains(':'), "{uri}");
            assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1, "{r:#}");
            assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        }
        results.len()
    }
    let db = env().db.display().to_string();
    let app = image("app");
    let out = palisade(&["scan", &app, "--db", &db, "--format", "sarif"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = json(&out);
    assert!(check(&log) > 0);
    let notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .expect("not-covered notifications");
    assert!(
        notes
            .iter()
            .any(|n| n["message"]["text"].as_str().unwrap().contains("Debian:12")),
        "{notes:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.yaml",
        "version: 1\nvulnerabilities:\n  max_cvss: 5\n",
    );
    let out = palisade(
        &[
            "gate",
            &app,
            "--policy",
            policy.to_str().unwrap(),
            "--db",
            &db,
            "--now",
            NOW,
            "--format",
            "sarif",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(check(&json(&out)) > 0);
}

/// The small ones: warnings go to standard error, a missing path is "no such file", an SBOM
/// file is recognised without `sbom:`, and a bad `--now` is refused before any work.
#[test]
fn small_silent_paths() {
    let cache = &env().cache;
    // `./missing` is a path, not a registry reference.
    let out = run(&["sbom", "./no-such-image-here"], cache);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No such file"), "{err}");
    assert!(!err.contains("/v2/"), "{err}");

    // A CycloneDX file without `sbom:` is read as the SBOM it is.
    let dir = tempfile::tempdir().unwrap();
    let bom = dir.path().join("bom.json");
    let out = run(
        &[
            "sbom",
            &image("base"),
            "--format",
            "cyclonedx",
            "--output",
            bom.to_str().unwrap(),
        ],
        cache,
    );
    assert!(out.status.success(), "{}", text(&out));
    let plain = run(&["sbom", bom.to_str().unwrap(), "--format", "json"], cache);
    let prefixed = run(
        &[
            "sbom",
            &format!("sbom:{}", bom.display()),
            "--format",
            "json",
        ],
        cache,
    );
    assert!(plain.status.success(), "{}", text(&plain));
    assert_eq!(plain.stdout, prefixed.stdout);

    // Problems reading files are warnings on standard error, never in the table.
    let root = dir.path().join("root");
    write(
        &root,
        "usr/lib/python3/dist-packages/broken-1.0.dist-info/METADATA",
        "\u{0}\u{0}not metadata",
    );
    write(&root, "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
    let out = run(&["sbom", &format!("dir:{}", root.display())], cache);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("warning:"), "{stdout}");

    // A bad --now is refused before the image is read (the image does not even exist).
    let policy = write(dir.path(), "p.yaml", "version: 1\n");
    let out = run(
        &[
            "gate",
            "./no-such-image-here",
            "--policy",
            policy.to_str().unwrap(),
            "--now",
            "2026-13-45",
        ],
        cache,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--now"), "{err}");
    assert!(!err.contains("no-such-image"), "{err}");
}
