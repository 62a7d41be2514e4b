//! NVD and CISA KEV importers on the real snapshots in `../shared/feeds/{nvd,kev}`, and the
//! database's enrichment lookup.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use palisade_vulndb::{
    Database, DatabaseBuilder, EnrichmentImport, KevImport, Limits, Timestamp, import_kev,
    import_nvd,
};

fn feeds() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feeds");
    if dir.join("nvd").is_dir() && dir.join("kev").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: NVD/KEV snapshots not found under {}",
            dir.display()
        );
        None
    }
}

fn nvd() -> Option<&'static EnrichmentImport> {
    static NVD: OnceLock<Option<EnrichmentImport>> = OnceLock::new();
    NVD.get_or_init(|| {
        let f = feeds()?.join("nvd/nvdcve-2.0-excerpt.json");
        Some(import_nvd(&f, &Limits::default()).unwrap())
    })
    .as_ref()
}

fn kev() -> Option<&'static KevImport> {
    static KEV: OnceLock<Option<KevImport>> = OnceLock::new();
    KEV.get_or_init(|| {
        let f = feeds()?.join("kev/known_exploited_vulnerabilities.json");
        Some(import_kev(&f, &Limits::default()).unwrap())
    })
    .as_ref()
}

#[test]
fn nvd_excerpt_imports_every_record() {
    let Some(i) = nvd() else { return };
    assert_eq!(i.feed.name, "nvd");
    assert_eq!(i.feed.records, 138);
    assert_eq!(i.enrichment.len(), 138);
    assert_eq!(
        i.feed.snapshot.as_ref().map(Timestamp::as_str),
        Some("2026-09-17T17:10:20.047Z")
    );
    for w in &i.warnings {
        eprintln!("{w}");
    }
    // Every vector parses; NVD's given scores agree with the computed ones.
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
    let count = |v: &str| {
        i.enrichment
            .iter()
            .filter(|e| e.cvss.iter().any(|s| s.version == v))
            .count()
    };
    assert_eq!(
        (count("3.1"), count("3.0"), count("2.0"), count("4.0")),
        (112, 9, 38, 0)
    );
    let empty: Vec<&str> = i
        .enrichment
        .iter()
        .filter(|e| e.cvss.is_empty())
        .map(|e| e.cve.as_str())
        .collect();
    assert_eq!(empty.len(), 18, "{empty:?}");
    assert!(empty.contains(&"CVE-2018-25091"));
    let e = i
        .enrichment
        .iter()
        .find(|e| e.cve == "CVE-2018-25091")
        .unwrap();
    assert_eq!(e.nvd_status.as_deref(), Some("Awaiting Analysis"));
    assert!(e.cvss.iter().all(|s| s.computed));
    let analyzed = i
        .enrichment
        .iter()
        .filter(|e| e.nvd_status.as_deref() == Some("Analyzed"))
        .count();
    assert_eq!(analyzed, 31);
}

#[test]
fn nvd_critical_v3_scores_are_the_readmes_list() {
    let Some(i) = nvd() else { return };
    let critical: Vec<&str> = i
        .enrichment
        .iter()
        .filter(|e| e.max_base_score("3").is_some_and(|s| s >= 9.0))
        .map(|e| e.cve.as_str())
        .collect();
    let mut expected = vec![
        "CVE-2019-14234",
        "CVE-2019-19844",
        "CVE-2019-20477",
        "CVE-2020-1747",
        "CVE-2020-7471",
        "CVE-2020-14343",
        "CVE-2022-28346",
        "CVE-2022-28347",
        "CVE-2023-24540",
        "CVE-2023-37920",
        "CVE-2025-22871",
        "CVE-2025-68121",
        "CVE-2026-39821",
    ];
    expected.sort_unstable();
    assert_eq!(critical, expected);
    let get = |c: &str| i.enrichment.iter().find(|e| e.cve == c).unwrap();
    let e = get("CVE-2025-68121");
    let nvd = e
        .cvss
        .iter()
        .find(|s| s.source == "nvd@nist.gov" && s.version.starts_with('3'))
        .unwrap();
    assert!((nvd.base_score - 10.0).abs() < 1e-9 && nvd.computed);
    let e = get("CVE-2025-22871");
    assert!(
        e.cvss
            .iter()
            .all(|s| s.source != "nvd@nist.gov" && !s.primary),
        "CISA-ADP only"
    );
    assert!((e.max_base_score("3").unwrap() - 9.1).abs() < 1e-9);
    let e = get("CVE-2019-19844");
    assert!((e.max_base_score("3").unwrap() - 9.8).abs() < 1e-9);
    assert_eq!(e.preferred().unwrap().version, "3.1");
    assert!(!e.cwes.is_empty(), "{:?}", e.cwes);
    assert!(e.cwes.iter().all(|c| c.contains("CWE-")));
}

#[test]
fn kev_catalog() {
    let Some(k) = kev() else { return };
    assert_eq!(k.feed.name, "cisa-kev");
    assert_eq!(k.feed.records, 1404);
    assert_eq!(k.entries.len(), 1404);
    assert_eq!(k.catalog_version, "2025.08.25");
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    let git = k
        .entries
        .iter()
        .find(|e| e.cve == "CVE-2025-48384")
        .unwrap();
    assert_eq!(
        (git.vendor_project.as_str(), git.product.as_str()),
        ("Git", "Git")
    );
    assert_eq!(
        (git.date_added.as_str(), git.due_date.as_str()),
        ("2025-08-25", "2025-09-15")
    );
    assert!(!git.ransomware);
    assert!(k.entries.iter().any(|e| e.ransomware));
    let nvd_cves: Vec<&str> = nvd()
        .map(|i| i.enrichment.iter().map(|e| e.cve.as_str()).collect())
        .unwrap_or_default();
    assert!(
        k.entries
            .iter()
            .all(|e| !nvd_cves.contains(&e.cve.as_str())),
        "README: none of the NVD excerpt's CVEs is in KEV"
    );
}

#[test]
fn database_returns_enrichment_with_kev_facts() {
    let (Some(n), Some(k)) = (nvd(), kev()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vuln.db");
    let mut b = DatabaseBuilder::new(&path);
    let at = Timestamp::parse("2026-09-20T00:00:00Z").unwrap();
    b.add_enrichment(n.clone(), at.clone());
    b.add_kev(k.clone(), at);
    let built = b.finish().unwrap();
    assert_eq!(built.feeds.len(), 2);
    let db = Database::open_read_only(&path).unwrap();
    let status = db.status().unwrap();
    let names: Vec<(&str, u64)> = status
        .feeds
        .iter()
        .map(|f| (f.name.as_str(), f.records))
        .collect();
    assert_eq!(names, [("cisa-kev", 1404), ("nvd", 138)]);
    let e = db.enrichment("CVE-2019-19844").unwrap().unwrap();
    assert_eq!(&e, n.enrichment.iter().find(|x| x.cve == e.cve).unwrap());
    assert!(e.kev.is_none());
    let g = db.enrichment("CVE-2025-48384").unwrap().unwrap();
    assert!(g.cvss.is_empty());
    assert_eq!(g.kev.as_ref().unwrap().due_date, "2025-09-15");
    assert!(db.enrichment("CVE-1999-0000").unwrap().is_none());
}

#[test]
fn malformed_inputs_name_the_file_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("page.json");
    std::fs::write(
        &f,
        r#"{"vulnerabilities":[{"cve":{"id":"CVE-2099-1"}},{"cve":{"id":"CVE-2099-2","metrics":{"cvssMetricV31":[{"source":"x","type":"Primary"}]}}}]}"#,
    )
    .unwrap();
    let e = import_nvd(&f, &Limits::default()).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "importing NVD page.json: vulnerabilities[1] (CVE-2099-2): missing field `cvssData`"
        ),
        "{e}"
    );
    std::fs::write(
        &f,
        r#"{"count":2,"vulnerabilities":[{"cveID":"CVE-2099-1","dateAdded":"2025-01-01","dueDate":"soon"}]}"#,
    )
    .unwrap();
    let e = import_kev(&f, &Limits::default()).unwrap_err().to_string();
    assert_eq!(
        e,
        "importing CISA KEV page.json: vulnerabilities[0] (CVE-2099-1): dueDate \"soon\" is not a YYYY-MM-DD date"
    );
}
