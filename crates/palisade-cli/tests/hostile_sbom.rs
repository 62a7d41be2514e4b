//! Hostile and inconsistent SBOM inputs through the real `palisade scan sbom:FILE`, each named
//! after its issue: strings far over their caps (13.3) with the child's peak memory read from
//! its own `getrusage` (through `wait4`), the report and the scan cache bounded; components
//! matched by purl, and unmatchable ones listed under `skipped` (13.8). Every input is
//! generated here; nothing large is committed.
#![allow(unsafe_code)] // one `wait4` call, to read the child's own resource usage

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use common::{env, findings};

/// A generous ceiling for the peak memory of one scan (the issue saw 5.5 GB).
const MAX_RSS_KB: u64 = 512 * 1024;

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    /// The child's peak resident set, from its `rusage` (kilobytes on Linux).
    max_rss_kb: u64,
}

/// Runs the binary with `args`, the cache under `cache`, and reads its peak memory.
fn run_measured(args: &[&str], cache: &Path) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("PALISADE_NO_CACHE")
        .env_remove("PALISADE_DB")
        .env_remove("PALISADE_CACHE_DIR")
        .env_remove("PALISADE_SCAN_CACHE_MAX_MIB")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running palisade");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).unwrap();
        v
    });
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data that `wait4` fills in; `pid` is our own child,
    // which is reaped here (the `Child` is not waited on again).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    drop(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Run {
        code,
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        max_rss_kb: u64::try_from(usage.ru_maxrss).unwrap(),
    }
}

fn scan_args<'a>(sbom: &'a str, db: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["scan", sbom, "--db", db, "--format", "json"];
    args.extend_from_slice(extra);
    args
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn cyclonedx(components: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": components,
    }))
    .unwrap()
}

fn skipped(v: &Value) -> &Vec<Value> {
    v["skipped"].as_array().unwrap()
}

/// Issue 13.3: four `stdlib` components with 1 MB versions (in the component and its purl:
/// an 8 MB file) beside good ones. Each is skipped once with a cut copy of its version, the
/// good ones still match, and memory, report and cache stay small, run after run.
#[test]
fn issue_13_3_megabyte_versions_are_skipped_once_and_stay_bounded() {
    let e = env();
    let db = e.db.display().to_string();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let mut components: Vec<Value> = (0..4)
        .map(|i| {
            let version = format!("1.{i}.{}", "9".repeat(1 << 20));
            json!({"type": "library", "name": "stdlib", "version": format!("go{version}"),
                   "purl": format!("pkg:golang/stdlib@{version}")})
        })
        .collect();
    components.push(
        json!({"type": "library", "name": "stdlib", "version": "go1.19.8",
                           "purl": "pkg:golang/stdlib@1.19.8"}),
    );
    // Short but not a Go version: one skip for the package, not one per advisory.
    components.push(
        json!({"type": "library", "name": "stdlib", "version": "go1.19.x-bad",
                           "purl": "pkg:golang/stdlib@1.19.x-bad"}),
    );
    let bytes = cyclonedx(&components);
    assert!(bytes.len() > 8 << 20, "{} bytes", bytes.len());
    let file = work.path().join("bad.cdx.json");
    std::fs::write(&file, &bytes).unwrap();
    let source = format!("sbom:{}", file.display());

    for round in 0..2 {
        let run = run_measured(&scan_args(&source, &db, &[]), &cache);
        assert_eq!(run.code, Some(0), "round {round}: {}", run.stderr);
        assert!(
            run.max_rss_kb < MAX_RSS_KB,
            "round {round}: peak memory {} KiB",
            run.max_rss_kb
        );
        assert!(
            run.stdout.len() < 2 << 20,
            "round {round}: a {} byte report",
            run.stdout.len()
        );
        let v: Value = serde_json::from_slice(&run.stdout).unwrap();
        // The good stdlib matched.
        assert!(
            findings(&v)
                .iter()
                .any(|f| f["package"]["version"] == "go1.19.8"),
            "{v:#}"
        );
        assert!(
            findings(&v)
                .iter()
                .all(|f| f["package"]["version"] == "go1.19.8")
        );
        // One skipped entry per bad package, none per advisory.
        let stdlib: Vec<&Value> = skipped(&v)
            .iter()
            .filter(|s| s["package"] == "stdlib")
            .collect();
        assert_eq!(stdlib.len(), 5, "{:#}", v["skipped"]);
        for s in &stdlib {
            assert!(s.get("advisory_id").is_none(), "{s:#}");
            assert!(s.to_string().len() < 2048, "{} bytes", s.to_string().len());
        }
        let long: Vec<&&Value> = stdlib
            .iter()
            .filter(|s| {
                s["reason"]
                    .as_str()
                    .unwrap()
                    // The purl (which holds the version) is refused first, at its own cap.
                    .contains("bytes, more than the")
            })
            .collect();
        assert_eq!(long.len(), 4, "{:#}", v["skipped"]);
        assert!(long[0]["version"].as_str().unwrap().contains("…[cut: "));
        assert!(stdlib.iter().any(|s| s["version"] == "go1.19.x-bad"
            && s["reason"].as_str().unwrap().contains("not a Go version")));
        assert!(run.stderr.contains("not matched"), "{}", run.stderr);
        let scans = cache.join("palisade/scans");
        assert!(dir_size(&scans) < 1 << 20, "{} bytes", dir_size(&scans));
    }
}

/// Issue 13.3: the scan cache keeps to `--scan-cache-max-mib` however many SBOMs are scanned.
#[test]
fn issue_13_3_the_scan_cache_keeps_to_its_cap() {
    let e = env();
    let db = e.db.display().to_string();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let scans = cache.join("palisade/scans");
    for i in 0..12 {
        // Each SBOM gives another key and an entry of over 100 KiB: 300 versions the Go
        // scheme cannot read, one skipped entry each.
        let components: Vec<Value> = (0..300)
            .map(|j| {
                json!({"name": "stdlib", "version": format!("go1.{i}.{j}!{}", "z".repeat(200)),
                       "purl": "pkg:golang/stdlib"})
            })
            .collect();
        let file = work.path().join(format!("{i}.cdx.json"));
        std::fs::write(&file, cyclonedx(&components)).unwrap();
        let source = format!("sbom:{}", file.display());
        let run = run_measured(
            &scan_args(&source, &db, &["--scan-cache-max-mib", "1"]),
            &cache,
        );
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(
            !run.stderr.contains("scan cache not written"),
            "{}",
            run.stderr
        );
        assert!(dir_size(&scans) <= 1 << 20, "{} bytes", dir_size(&scans));
    }
    let entries = std::fs::read_dir(&scans).unwrap().count();
    assert!((1..12).contains(&entries), "{entries} entries");
}

/// Issue 13.8: matching goes by purl. A Go module whose CycloneDX `group` holds the path,
/// and a component whose name hides what its purl says, are both matched by the purl; a
/// component without a purl is listed under `skipped` with a warning. SPDX and Palisade JSON
/// inputs behave the same.
#[test]
fn issue_13_8_sbom_components_are_matched_by_purl() {
    let e = env();
    let db = e.db.display().to_string();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let file = work.path().join("app.cdx.json");
    std::fs::write(
        &file,
        cyclonedx(&[
            json!({"type": "library", "group": "golang.org/x", "name": "net",
                   "version": "v0.7.0", "purl": "pkg:golang/golang.org/x/net@v0.7.0"}),
            json!({"type": "library", "name": "safe-package", "version": "5.3",
                   "purl": "pkg:pypi/pyyaml@5.3"}),
            json!({"type": "library", "name": "no-purl-here", "version": "1.0"}),
        ]),
    )
    .unwrap();
    let source = format!("sbom:{}", file.display());
    let run = run_measured(&scan_args(&source, &db, &[]), &cache);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
    let count = |name: &str| {
        findings(&v)
            .iter()
            .filter(|f| f["package"]["name"] == name)
            .count()
    };
    assert!(count("golang.org/x/net") > 0, "{v:#}");
    assert!(count("pyyaml") > 0, "{v:#}");
    assert_eq!(count("safe-package"), 0);
    let skip: Vec<&Value> = skipped(&v)
        .iter()
        .filter(|s| s["package"] == "no-purl-here")
        .collect();
    assert_eq!(skip.len(), 1, "{:#}", v["skipped"]);
    assert!(skip[0]["reason"].as_str().unwrap().contains("no purl"));
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("no-purl-here"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\"safe-package\""), "{}", run.stderr);

    // The same two packages in SPDX and in Palisade JSON.
    let spdx = work.path().join("app.spdx.json");
    let purl_ref = |p: &str| {
        json!([{"referenceCategory": "PACKAGE-MANAGER",
                                     "referenceType": "purl", "referenceLocator": p}])
    };
    std::fs::write(
        &spdx,
        serde_json::to_vec(&json!({
            "spdxVersion": "SPDX-2.3",
            "packages": [
                {"name": "net", "versionInfo": "v0.7.0",
                 "externalRefs": purl_ref("pkg:golang/golang.org/x/net@v0.7.0")},
                {"name": "safe-package", "versionInfo": "5.3",
                 "externalRefs": purl_ref("pkg:pypi/pyyaml@5.3")},
                {"name": "no-purl-here", "versionInfo": "1.0"},
            ],
        }))
        .unwrap(),
    )
    .unwrap();
    let native = work.path().join("app.palisade.json");
    std::fs::write(
        &native,
        serde_json::to_vec(&json!({
            "source": {"name": "x"},
            "packages": [
                {"ecosystem": "go-module", "name": "net", "version": "v0.7.0",
                 "purl": "pkg:golang/golang.org/x/net@v0.7.0", "locations": []},
                {"ecosystem": "python", "name": "safe-package", "version": "5.3",
                 "purl": "pkg:pypi/pyyaml@5.3", "locations": []},
                {"ecosystem": "python", "name": "no-purl-here", "version": "1.0",
                 "purl": "", "locations": []},
            ],
        }))
        .unwrap(),
    )
    .unwrap();
    let first = count("golang.org/x/net") + count("pyyaml");
    for file in [&spdx, &native] {
        let source = format!("sbom:{}", file.display());
        let run = run_measured(&scan_args(&source, &db, &[]), &cache);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let v: Value = serde_json::from_slice(&run.stdout).unwrap();
        let matched = findings(&v)
            .iter()
            .filter(|f| {
                ["golang.org/x/net", "pyyaml"].contains(&f["package"]["name"].as_str().unwrap())
            })
            .count();
        assert_eq!(matched, first, "{}: {v:#}", file.display());
        assert!(
            skipped(&v).iter().any(|s| s["package"] == "no-purl-here"),
            "{}: {:#}",
            file.display(),
            v["skipped"]
        );
    }
}
