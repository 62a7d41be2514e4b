//! Issue 17, acceptance 1 (AlmaLinux): the real AlmaLinux 8.9 root filesystem (BDB rpmdb),
//! made into an OCI image by `testbed/extra-images.sh` (and read as a directory too),
//! scanned against the real AlmaLinux 8 OSV records gives exactly the findings an independent
//! evaluation gives: Debian's `python3-rpm` (`rpm.labelCompare`) over the package list
//! `rpm -qa` printed (`.rpm-qa.tsv`) and the records read straight from the zip. Also: the
//! bug-fix and enhancement records are kept out with a stated reason, and without the feed
//! the packages are not covered rather than clean.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn testdata() -> PathBuf {
    common::repo_root().join("../shared/testdata")
}

fn zip() -> PathBuf {
    testdata().join("feeds/osv-almalinux8/all.zip")
}

/// The rootfs extracted with the system's tar (members have no leading `./`).
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let tarball = testdata().join("rpm/almalinux-8.9-docker-s390x-micro.tar.xz");
    let out = Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&root)
        .output()
        .expect("running tar");
    assert!(
        out.status.success(),
        "tar -xJf {}: {}",
        tarball.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

fn import(db: &Path, feeds: &[&Path], cache: &Path) -> String {
    let mut args = vec!["db", "import", "--verbose", "--db", db.to_str().unwrap()];
    args.extend(feeds.iter().map(|p| p.to_str().unwrap()));
    let out = common::run(&args, cache);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "db import: {stderr}");
    stderr
}

fn scan(db: &Path, source: &str, cache: &Path) -> Value {
    let out = common::run(
        &[
            "scan",
            source,
            "--db",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
        cache,
    );
    assert_ne!(
        out.status.code(),
        Some(2),
        "scan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The independent evaluation: for each installed package (the `rpm -qa` list), each
/// `ALSA-*` record with `AlmaLinux:8` entries naming it; modular fixes apply only to modular
/// builds and the other way round; affected when below every applicable fix
/// (`rpm.labelCompare`), and `introduced` at or below the installed version. Advisories of
/// one package that share a CVE (OSV `related`: AlmaLinux re-issues a fix for a later minor
/// release under a new id) are one vulnerability, reported once, as the matcher's folding of
/// aliases documents.
const EVALUATE: &str = r##"
import json, sys, zipfile, rpm

def evr(text):
    epoch, _, vr = text.rpartition(":") if ":" in text else ("0", "", text)
    version, _, release = vr.rpartition("-")
    return (epoch or "0", version, release)

def modular(text):
    return ".module+" in text or ".module_" in text

tsv, zip_path = sys.argv[1], sys.argv[2]
installed = []
for line in open(tsv):
    if line.startswith("#"):
        continue
    name, epoch, version, release, arch, srpm = line.rstrip("\n").split("\t")
    if name == "gpg-pubkey":
        continue
    e = "0" if epoch == "(none)" else epoch
    installed.append((name, (e, version, release), f"{version}-{release}"))

with zipfile.ZipFile(zip_path) as z:
    records = [json.loads(z.read(n)) for n in z.namelist() if n.endswith(".json")]

out = set()
for r in records:
    if not r["id"].startswith("ALSA-") or r.get("withdrawn"):
        continue
    for name, have, shown in installed:
        fixes = []
        affected = None
        for a in r.get("affected", []):
            p = a["package"]
            if p["ecosystem"] != "AlmaLinux:8" or p["name"] != name:
                continue
            for rg in a.get("ranges", []):
                intro = [e["introduced"] for e in rg["events"] if "introduced" in e]
                fixed = [e["fixed"] for e in rg["events"] if "fixed" in e]
                versions = intro + fixed
                if any(modular(v) for v in versions) != modular(shown):
                    continue
                below = all(rpm.labelCompare(have, evr(f)) < 0 for f in fixed)
                above = all(i == "0" or rpm.labelCompare(have, evr(i)) >= 0 for i in intro)
                hit = below and above
                affected = hit if affected is None else (affected and hit)
                fixes += fixed
        if affected:
            cves = {c for c in r.get("related", []) if c.startswith("CVE-")}
            out.add((name, shown, r["id"], ",".join(sorted(set(fixes))), frozenset(cves)))

# One finding per vulnerability: advisories of one package that share a CVE are folded
# (transitively), keeping the one with a fix, then the smallest id.
rows = set()
by_package = {}
for name, shown, id_, fixes, cves in out:
    by_package.setdefault((name, shown), []).append((id_, fixes, cves))
for (name, shown), hits in by_package.items():
    groups = []
    for hit in hits:
        keys = {hit[0]} | hit[2]
        joined = [g for g in groups if g[0] & keys]
        for g in joined:
            groups.remove(g)
        merged = (keys.union(*(g[0] for g in joined)), [hit] + [h for g in joined for h in g[1]])
        groups.append(merged)
    for _, members in groups:
        id_, fixes, _ = min(members, key=lambda h: (h[1] == "", h[0]))
        rows.add((name, shown, id_, fixes))
for row in sorted(rows):
    print("\t".join(row))
"##;

fn python_rpm() -> Option<&'static str> {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import rpm"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some("/usr/bin/python3")
}

/// (package, version, advisory id, fixed versions joined) for every finding of a JSON report.
fn findings_of(report: &Value) -> BTreeSet<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut fixed: Vec<&str> = f["fixed_versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            fixed.sort_unstable();
            (
                f["package"]["name"].as_str().unwrap().to_owned(),
                f["package"]["version"].as_str().unwrap().to_owned(),
                f["id"].as_str().unwrap().to_owned(),
                fixed.join(","),
            )
        })
        .collect()
}

#[test]
fn almalinux_8_findings_equal_python3_rpm_over_the_osv_records() {
    let python = python_rpm().expect(
        "Debian's python3-rpm (`apt-get install python3-rpm`, testbed/install-deps.sh) is needed",
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let db = dir.path().join("vuln.db");
    import(&db, &[&zip()], &cache);
    // The rootfs as an OCI image (one layer, testbed/extra-images.sh), and as a directory.
    let image = common::extra_image("almalinux");
    let report = scan(&db, &image, &cache);
    let root = rootfs(dir.path());
    let from_dir = scan(&db, &format!("dir:{}", root.display()), &cache);
    assert_eq!(
        findings_of(&report),
        findings_of(&from_dir),
        "the image and its unpacked rootfs disagree"
    );
    let ours = findings_of(&report);

    let tsv = testdata().join("rpm/almalinux-8.9-docker-s390x-micro.rpm-qa.tsv");
    let out = Command::new(python)
        .arg("-c")
        .arg(EVALUATE)
        .arg(&tsv)
        .arg(zip())
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "python3-rpm evaluation: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: BTreeSet<(String, String, String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut p = l.split('\t').map(str::to_owned);
            let mut next = || p.next().unwrap_or_default();
            (next(), next(), next(), next())
        })
        .collect();

    // The evaluation found something to agree on: glibc 2.28-236.el8.7 predates fixes.
    assert!(theirs.len() >= 20, "{theirs:#?}");
    assert!(
        theirs
            .iter()
            .any(|(n, _, id, _)| n == "glibc" && id == "ALSA-2024:2722")
    );
    assert_eq!(
        ours.difference(&theirs).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new(),
        "reported by palisade, not by python3-rpm"
    );
    assert_eq!(
        theirs.difference(&ours).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new(),
        "found by python3-rpm, missed by palisade"
    );
    assert!(ours.iter().all(|(_, _, id, _)| id.starts_with("ALSA-")));
    // The advisory's CVEs (OSV `related`) are its aliases, and its rating is the vendor's
    // word from the summary ("Important: glibc security update").
    let glibc = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["package"]["name"] == "glibc" && f["id"] == "ALSA-2024:2722")
        .expect("glibc ALSA-2024:2722");
    // ALSA-2024:3269 re-issued the fix for 8.10: the same vulnerability, folded in.
    assert_eq!(
        glibc["aliases"],
        serde_json::json!(["ALSA-2024:3269", "CVE-2024-2961"]),
        "{glibc:#}"
    );
    assert_eq!(glibc["severity"], "HIGH", "{glibc:#}");
    assert_eq!(
        glibc["severity_source"], "AlmaLinux (Important)",
        "{glibc:#}"
    );
    let unrated = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "UNKNOWN")
        .count();
    assert_eq!(
        unrated, 0,
        "every ALSA summary starts with a rating: {report:#}"
    );
    // Every package was evaluated against the AlmaLinux 8 records: none skipped or uncovered.
    let coverage = report["coverage"].as_array().unwrap();
    assert_eq!(coverage.len(), 1, "{coverage:#?}");
    assert_eq!(coverage[0]["ecosystem"], "AlmaLinux:8");
    assert_eq!(coverage[0]["packages"], 19);
    assert_eq!(report["not_covered"].as_array().unwrap().len(), 0);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 0, "{report:#}");
}

/// `ALBA-*` (bug fix) and `ALEA-*` (enhancement) records never reach matching, and the import
/// says so with their counts.
#[test]
fn almalinux_bug_fix_and_enhancement_records_are_kept_out_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let db = dir.path().join("vuln.db");
    let stderr = import(&db, &[&zip()], &cache);
    assert!(
        stderr.contains(
            "975 AlmaLinux ALBA-* (bug fix) records are not security advisories: kept out of matching"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("222 AlmaLinux ALEA-* (enhancement) records are not security advisories"),
        "{stderr}"
    );
    let out = common::run(
        &[
            "db",
            "status",
            "--db",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
        &cache,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2040"), "2,040 ALSA records expected: {text}");
}

/// Without an AlmaLinux feed the RPM packages are not covered, never clean.
#[test]
fn almalinux_packages_without_their_feed_are_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let db = dir.path().join("vuln.db");
    let record = dir.path().join("PYSEC-1.json");
    std::fs::write(
        &record,
        br#"{"id":"PYSEC-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":["1.0"]}]}"#,
    )
    .unwrap();
    import(&db, &[&record], &cache);
    let report = scan(&db, &common::extra_image("almalinux"), &cache);
    assert!(report["findings"].as_array().unwrap().is_empty());
    let coverage = report["coverage"].as_array().unwrap();
    assert_eq!(coverage[0]["ecosystem"], "AlmaLinux:8");
    assert_eq!(coverage[0]["covered"], false);
    let not_covered = report["not_covered"].as_array().unwrap();
    assert_eq!(not_covered.len(), 19, "{report:#}");
}
