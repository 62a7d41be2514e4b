//! `palisade db import` / `db status` / `scan` end to end on the real testbed images and the
//! real feed snapshots in `../shared/feeds`: the CI gate of the README (Acceptance 4).

use serde_json::Value;

mod common;
use common::*;

#[test]
fn cvss_gate_fails_on_the_app_image() {
    let (code, v) = scan_json(&image("app"), &["--min-cvss", "9", "--exit-code", "1"]);
    assert_eq!(code, 1);
    let f = findings(&v);
    assert!(!f.is_empty());
    for x in f {
        assert!(x["cvss"]["score"].as_f64().unwrap() >= 9.0, "{x}");
        assert_eq!(x["severity"], "CRITICAL");
    }
    assert!(
        f.iter().any(|x| {
            let t = x["package"]["type"].as_str().unwrap();
            (t == "python" || t == "go-module") && x["cvss"]["score"].as_f64().unwrap() >= 9.0
        }),
        "no PyPI or Go advisory with CVSS >= 9: {v}"
    );
    assert_eq!(
        v["counts"]["CRITICAL"].as_u64().unwrap(),
        f.len() as u64,
        "{v}"
    );

    // The table says the same.
    let out = scan(&image("app"), &["--min-cvss", "9", "--exit-code", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CRITICAL ("), "{text}");
    assert!(
        text.contains(&format!("{} vulnerabilities", f.len())),
        "{text}"
    );
}

#[test]
fn cvss_gate_passes_on_the_base_image() {
    let (code, v) = scan_json(&image("base"), &["--min-cvss", "9", "--exit-code", "1"]);
    assert_eq!(code, 0, "{v}");
    assert!(findings(&v).is_empty());
}

#[test]
fn severity_gate() {
    let (code, v) = scan_json(
        &image("app"),
        &["--severity", "CRITICAL", "--exit-code", "1"],
    );
    assert_eq!(code, 1);
    assert!(!findings(&v).is_empty());
    assert!(findings(&v).iter().all(|x| x["severity"] == "CRITICAL"));

    let (code, v) = scan_json(
        &image("base"),
        &["--severity", "CRITICAL", "--exit-code", "1"],
    );
    assert_eq!(code, 0, "{v}");
}

#[test]
fn exit_code_defaults_to_zero_and_unfixed_can_be_dropped() {
    let (code, all) = scan_json(&image("app"), &[]);
    assert_eq!(code, 0);
    let (_, fixed) = scan_json(&image("app"), &["--ignore-unfixed"]);
    assert!(findings(&fixed).iter().all(|x| x["status"] == "fixed"));
    assert!(findings(&fixed).len() <= findings(&all).len());
}

#[test]
fn json_is_byte_identical_across_runs() {
    let a = scan(&image("app"), &["--format", "json"]);
    let b = scan(&image("app"), &["--format", "json"]);
    assert_eq!(a.status.code(), Some(0));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn status_lists_five_feeds() {
    let e = env();
    let db = e.db.display().to_string();
    let out = run(&["db", "status", "--db", &db, "--format", "json"], &e.cache);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["cisa-kev", "nvd", "osv/Go", "osv/PyPI", "osv/crates.io"]
    );
    assert!(v["schema_version"].as_u64().is_some());

    let out = run(&["db", "status", "--db", &db], &e.cache);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("feeds:          5"), "{text}");
    // The snapshot is months older than a week: a warning, still exit 0.
    let out = run(&["db", "status", "--db", &db, "--max-age", "7"], &e.cache);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("warning"), "{err}");
}

#[test]
fn scan_reads_an_sbom_without_the_image() {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let sbom = dir.path().join("app.cdx.json");
    let sbom_s = sbom.display().to_string();
    let out = run(
        &[
            "sbom",
            &image("app"),
            "--format",
            "cyclonedx",
            "--output",
            &sbom_s,
        ],
        &e.cache,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, v) = scan_json(
        &format!("sbom:{sbom_s}"),
        &["--min-cvss", "9", "--exit-code", "3"],
    );
    assert_eq!(code, 3);
    assert!(!findings(&v).is_empty());
}

#[test]
fn corrupt_zip_fails_and_keeps_the_previous_database() {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vuln.db");
    std::fs::copy(&e.db, &db).unwrap();
    let before = std::fs::read(&db).unwrap();
    let corrupt = dir.path().join("corrupt.zip");
    let good = std::fs::read(feeds().join("osv/crates.io/all.zip")).unwrap();
    std::fs::write(&corrupt, &good[..good.len() / 2]).unwrap();
    let db_s = db.display().to_string();
    let out = run(
        &[
            "db",
            "import",
            &feeds().join("osv/crates.io/all.zip").display().to_string(),
            &corrupt.display().to_string(),
            "--db",
            &db_s,
        ],
        &e.cache,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("corrupt.zip"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // No temporary file left behind either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn missing_database_is_an_error() {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db").display().to_string();
    let out = run(&["scan", &image("app"), "--db", &db], &e.cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.db"));
}
