//! What users see from `palisade scan` on the real testbed "app" image, pinned as `insta`
//! snapshots in every report format (table, JSON, SARIF, CycloneDX, JUnit), so that a change
//! to the scan pipeline or a renderer shows its effect on the reports in review.
//!
//! The database is built from the real feed snapshots in `../shared/feeds` with the binary's
//! own `db import` (`common::env`); the scan reads its cache from that environment's cache
//! directory. Only the testbed's path is masked. `cargo insta review` (or
//! `INSTA_UPDATE=always`) updates them.

use std::process::Output;

mod common;
use common::{image, scan, testbed};

/// Runs `palisade scan` on the app image with `args`; returns the exit code, stdout and
/// stderr with the machine-dependent parts masked.
fn scan_app(args: &[&str]) -> (i32, String, String) {
    // No staleness warning: the snapshots must not change as the feed snapshots age. Quiet:
    // standard error keeps its warnings but not the progress lines (which give timings).
    let mut all = vec!["--max-age", "36500", "--quiet"];
    all.extend_from_slice(args);
    let out = scan(&image("app"), &all);
    let code = out.status.code().expect("exit code");
    assert_ne!(code, 2, "scan failed: {}", text(&out));
    (code, mask(&out.stdout), mask(&out.stderr))
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The testbed directory (it depends on the checkout) becomes `[TESTBED]`; nothing else is
/// masked but CycloneDX's serial number (a hash that covers that path), the tool version in
/// SARIF and CycloneDX included.
fn mask(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .expect("UTF-8 report")
        .replace(&testbed().display().to_string(), "[TESTBED]")
}

#[test]
fn table() {
    let (code, stdout, _) = scan_app(&["--exit-code", "3"]);
    assert_eq!(code, 3, "the app image has findings");
    insta::assert_snapshot!("app_table", stdout);
}

#[test]
fn json() {
    let (code, stdout, _) = scan_app(&["--format", "json"]);
    assert_eq!(code, 0);
    // The same bytes without the caches: the snapshot is of the scan, not of a cache entry.
    let (_, uncached, _) = scan_app(&["--format", "json", "--no-cache"]);
    assert_eq!(stdout, uncached, "cached and uncached reports differ");
    insta::assert_snapshot!("app_json", stdout);
}

#[test]
fn sarif() {
    let (code, stdout, _) = scan_app(&["--format", "sarif"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("app_sarif", stdout);
}

#[test]
fn cyclonedx() {
    let (code, stdout, _) = scan_app(&["--format", "cyclonedx"]);
    assert_eq!(code, 0);
    // The serial number is a hash of the document, the source's path included: masked,
    // after checking that it is one.
    let serial = "\"serialNumber\": \"urn:uuid:";
    let at = stdout.find(serial).expect("a serialNumber") + serial.len();
    let uuid = &stdout[at..at + 36];
    assert!(
        uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
        "{uuid}"
    );
    let stdout = stdout.replace(uuid, "[SERIAL]");
    insta::assert_snapshot!("app_cyclonedx", stdout);
}

#[test]
fn junit() {
    let (code, stdout, _) = scan_app(&["--format", "junit"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("app_junit", stdout);
}

/// The filters change what is reported, and the snapshot shows how: critical findings only,
/// the unscored ones dropped with a count on standard error.
#[test]
fn table_with_filters() {
    let (code, stdout, stderr) = scan_app(&[
        "--min-cvss",
        "9",
        "--unknown-severity",
        "warn",
        "--coverage",
        "warn",
        "--exit-code",
        "3",
    ]);
    assert_eq!(code, 3);
    insta::assert_snapshot!(
        "app_table_min_cvss_9",
        format!("{stdout}\n--- stderr ---\n{stderr}")
    );
}
