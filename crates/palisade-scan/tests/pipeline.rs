//! The scan pipeline end to end without the CLI: the real testbed `app` image, a database
//! built with `palisade-vulndb` from the real feed snapshots in `../shared/feeds`, scanned,
//! cached, filtered and suppressed through this crate's API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use palisade_scan::{
    Action, Evaluated, Filters, IgnoreList, Observer, Report, Scanner, Severity, SeveritySource,
    SourceOptions, VexSet, VulnDb,
};
use palisade_vulndb::{DatabaseBuilder, Limits, Timestamp, import_kev, import_nvd, import_osv};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The testbed images (built once; the script caches them on disk).
fn testbed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let out = root.join("target/testbed");
        let status = Command::new("bash")
            .arg(root.join("testbed/build-images.sh"))
            .arg(&out)
            .status()
            .expect("running testbed/build-images.sh");
        assert!(status.success(), "testbed/build-images.sh failed");
        out
    })
}

struct Env {
    _dir: tempfile::TempDir,
    db: PathBuf,
}

/// OSV PyPI and Go, the NVD excerpt and KEV, imported through the library.
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let feeds = repo_root().join("../shared/feeds");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vuln.db");
        let limits = Limits::default();
        let at = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let mut b = DatabaseBuilder::new(&db);
        b.add(
            import_osv(&feeds.join("osv/PyPI/all.zip"), &limits).unwrap(),
            at.clone(),
        );
        b.add(
            import_osv(&feeds.join("osv/Go/all.zip"), &limits).unwrap(),
            at.clone(),
        );
        b.add_enrichment(
            import_nvd(&feeds.join("nvd/nvdcve-2.0-excerpt.json"), &limits).unwrap(),
            at.clone(),
        );
        b.add_kev(
            import_kev(
                &feeds.join("kev/known_exploited_vulnerabilities.json"),
                &limits,
            )
            .unwrap(),
            at,
        );
        b.finish().unwrap();
        Env { _dir: dir, db }
    })
}

/// Collects warnings.
#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl Observer for Collect {
    fn warning(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }
}

fn scan(cache: Option<&Path>) -> (palisade_catalog::Catalog, Evaluated) {
    let db = VulnDb::new(env().db.clone());
    let options = SourceOptions {
        no_cache: cache.is_none(),
        cache_dir: cache.map(Path::to_owned),
        scan_cache_max_mib: palisade_scan::DEFAULT_SCAN_CACHE_MAX_MIB,
        ..SourceOptions::default()
    };
    let observer = Collect::default();
    let image = palisade_scan::open_image(
        &format!("oci-archive:{}", testbed().join("app.oci.tar").display()),
        &options,
    )
    .unwrap();
    let out = Scanner::new(&db, &options, &observer)
        .scan_image(&image)
        .unwrap();
    assert!(observer.0.lock().unwrap().is_empty());
    out
}

#[test]
fn the_app_image_has_scored_findings_and_reports_debian_as_not_covered() {
    let (catalog, evaluated) = scan(None);
    assert!(!evaluated.findings.is_empty());
    // Every finding is scored from a typed source; none is parsed back from a string.
    for f in &evaluated.findings {
        match (&f.severity_source, &f.cvss) {
            (SeveritySource::AdvisoryCvss | SeveritySource::NvdCvss, Some(c)) => {
                assert_eq!(f.severity, Severity::from_score(Some(c.score)), "{f:?}");
            }
            (SeveritySource::None, None) => assert_eq!(f.severity, Severity::Unknown),
            (SeveritySource::Vendor { .. }, _) => {}
            other => panic!("severity source and CVSS disagree: {other:?}"),
        }
    }
    assert!(
        evaluated
            .findings
            .iter()
            .any(|f| f.package.kind == "python")
    );
    // No Debian feed was imported: the deb packages are listed, never silently clean.
    assert!(
        evaluated
            .coverage
            .iter()
            .any(|c| c.ecosystem.starts_with("Debian") && !c.covered),
        "{:?}",
        evaluated.coverage
    );
    let report = Report::new(
        &catalog,
        evaluated,
        &Filters::default(),
        IgnoreList::default(),
        &VexSet::default(),
    );
    assert!(report.fails(Action::Ignore));
    assert!(report.fails(Action::Deny));
    assert!(!report.not_checked_lines().is_empty());
}

#[test]
fn a_warm_scan_from_the_cache_equals_the_cold_one() {
    let cache = tempfile::tempdir().unwrap();
    let cold = scan(Some(cache.path()));
    let warm = scan(Some(cache.path()));
    let json = |e: &Evaluated| {
        serde_json::to_string(&(&e.findings, &e.skipped, &e.coverage, &e.not_covered, &e.db))
            .unwrap()
    };
    assert_eq!(json(&warm.1), json(&cold.1));
    assert!(
        std::fs::read_dir(cache.path().join("scans"))
            .unwrap()
            .next()
            .is_some()
    );
}

#[test]
fn filters_keep_unknown_severity_and_drop_only_findings_without_a_fix() {
    let (catalog, evaluated) = scan(None);
    let report = |filters: Filters| {
        Report::new(
            &catalog,
            evaluated.clone(),
            &filters,
            IgnoreList::default(),
            &VexSet::default(),
        )
    };
    let all = report(Filters::default());
    let critical = report(Filters {
        severities: vec![Severity::Critical],
        ..Filters::default()
    });
    for f in &critical.findings {
        assert!(matches!(f.severity, Severity::Critical | Severity::Unknown));
    }
    let unfixed = report(Filters {
        ignore_unfixed: true,
        ..Filters::default()
    });
    // "Unfixed" is exactly "no fixed version", whatever the status says.
    let expected = all.findings.iter().filter(|f| !f.is_unfixed()).count();
    assert_eq!(unfixed.findings.len(), expected);
    assert!(
        unfixed
            .findings
            .iter()
            .all(|f| !f.fixed_versions.is_empty())
    );
}

#[test]
fn an_ignore_entry_suppresses_with_its_reason_and_an_expired_one_does_not() {
    let (catalog, evaluated) = scan(None);
    let target = evaluated.findings[0].clone();
    let text = format!(
        "- id: {}\n  package: {}\n  reason: not reachable\n- id: {}\n  reason: old\n  expires: 2020-01-01\n",
        target.id, target.package.name, target.id
    );
    let ignores = IgnoreList::parse(&text, "2026-12-06").unwrap();
    let report = Report::new(
        &catalog,
        evaluated,
        &Filters::default(),
        ignores,
        &VexSet::default(),
    );
    assert!(
        report
            .ignored
            .iter()
            .any(|s| s.finding.id == target.id && s.reason == "not reachable")
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.id == target.id && f.package.purl == target.package.purl)
    );
    assert_eq!(report.ignore_expired.len(), 1);
}
