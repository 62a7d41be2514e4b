//! Acceptance 1, npm: OSV records written by hand from the published GitHub advisories for the
//! testbed app image's npm packages (lodash 4.17.15, minimist 1.2.0), and the hand-checked list
//! of what the matcher must report for them — nothing more, nothing less.

use std::collections::BTreeMap;

use palisade_catalog::{Ecosystem, Package};
use palisade_vulndb::{
    Advisory, DatabaseBuilder, FindingStatus, Limits, MatchReport, Matcher, Timestamp, import_osv,
    parse_osv_record,
};

/// `(GHSA id, CVE, package, ranges as (introduced, fixed) pairs)`, from each advisory's
/// published "affected versions".
/// `introduced`/`fixed` event pairs of one range.
type Ranges = &'static [(&'static str, &'static str)];

const FACTS: &[(&str, &str, &str, Ranges)] = &[
    // Prototype pollution in zipObjectDeep: >= 3.7.0, < 4.17.19.
    (
        "GHSA-p6mc-m468-83gw",
        "CVE-2020-8203",
        "lodash",
        &[("3.7.0", "4.17.19")],
    ),
    // Command injection in template: < 4.17.21.
    (
        "GHSA-35jh-r3h4-6jhm",
        "CVE-2021-23337",
        "lodash",
        &[("0", "4.17.21")],
    ),
    // ReDoS in toNumber/trim/trimEnd: >= 4.0.0, < 4.17.21.
    (
        "GHSA-29mw-wpgm-hmr9",
        "CVE-2020-28500",
        "lodash",
        &[("4.0.0", "4.17.21")],
    ),
    // Prototype pollution in defaultsDeep: < 4.17.12 (4.17.15 is NOT affected).
    (
        "GHSA-jf85-cpcp-j695",
        "CVE-2019-10744",
        "lodash",
        &[("0", "4.17.12")],
    ),
    // Prototype pollution: < 0.2.1 and >= 1.0.0, < 1.2.3.
    (
        "GHSA-vh95-rmgr-6w4m",
        "CVE-2020-7598",
        "minimist",
        &[("0", "0.2.1"), ("1.0.0", "1.2.3")],
    ),
    // Prototype pollution: < 0.2.4 and >= 1.0.0, < 1.2.6.
    (
        "GHSA-xvch-5gv4-984h",
        "CVE-2021-44906",
        "minimist",
        &[("0", "0.2.4"), ("1.0.0", "1.2.6")],
    ),
];

/// The OSV JSON of one advisory, written out as the record a reader would download.
fn record(ghsa: &str, cve: &str, name: &str, ranges: &[(&str, &str)]) -> String {
    let ranges: Vec<String> = ranges
        .iter()
        .map(|(introduced, fixed)| {
            format!(
                r#"{{"type": "SEMVER", "events": [{{"introduced": "{introduced}"}}, {{"fixed": "{fixed}"}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{
  "schema_version": "1.6.0",
  "id": "{ghsa}",
  "modified": "2024-01-01T00:00:00Z",
  "published": "2020-07-15T00:00:00Z",
  "aliases": ["{cve}"],
  "summary": "{name} advisory {cve}",
  "affected": [{{
    "package": {{"ecosystem": "npm", "name": "{name}", "purl": "pkg:npm/{name}"}},
    "ranges": [{ranges}],
    "database_specific": {{"source": "https://github.com/advisories/{ghsa}"}}
  }}],
  "references": [{{"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/{cve}"}}]
}}"#,
        ranges = ranges.join(", ")
    )
}

fn records() -> Vec<(String, String)> {
    FACTS
        .iter()
        .map(|(ghsa, cve, name, ranges)| (ghsa.to_string(), record(ghsa, cve, name, ranges)))
        .collect()
}

fn advisories() -> Vec<Advisory> {
    records()
        .iter()
        .map(|(id, json)| parse_osv_record(json.as_bytes(), "npm", id).unwrap())
        .collect()
}

fn npm(name: &str, version: &str) -> Package {
    Package {
        ecosystem: Ecosystem::Npm,
        name: name.into(),
        version: version.into(),
        purl: format!("pkg:npm/{name}@{version}"),
        arch: None,
        source: None,
        licenses: Vec::new(),
        locations: Vec::new(),
        layer: None,
    }
}

/// The app image's npm packages.
fn installed() -> Vec<Package> {
    vec![npm("lodash", "4.17.15"), npm("minimist", "1.2.0")]
}

/// The hand-checked oracle: (package, CVE) → (GHSA id, fixed versions).
fn expected() -> BTreeMap<(String, String), (String, Vec<String>)> {
    let rows = [
        ("lodash", "CVE-2020-8203", "GHSA-p6mc-m468-83gw", "4.17.19"),
        ("lodash", "CVE-2021-23337", "GHSA-35jh-r3h4-6jhm", "4.17.21"),
        ("lodash", "CVE-2020-28500", "GHSA-29mw-wpgm-hmr9", "4.17.21"),
        ("minimist", "CVE-2020-7598", "GHSA-vh95-rmgr-6w4m", "1.2.3"),
        ("minimist", "CVE-2021-44906", "GHSA-xvch-5gv4-984h", "1.2.6"),
    ];
    rows.iter()
        .map(|(p, cve, ghsa, fixed)| {
            (
                (p.to_string(), cve.to_string()),
                (ghsa.to_string(), vec![fixed.to_string()]),
            )
        })
        .collect()
}

fn found(report: &MatchReport) -> BTreeMap<(String, String), (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    for f in &report.findings {
        assert_eq!(f.status, FindingStatus::Fixed, "{f:?}");
        assert_eq!(f.package.ecosystem, Ecosystem::Npm);
        assert!(f.why.contains(&f.package.version), "{}", f.why);
        let cves: Vec<&String> = f.aliases.iter().filter(|a| a.starts_with("CVE-")).collect();
        assert_eq!(cves.len(), 1, "{f:?}");
        let prev = out.insert(
            (f.package.name.clone(), cves[0].clone()),
            (f.advisory_id.clone(), f.fixed_versions.clone()),
        );
        assert!(prev.is_none(), "two findings for one vulnerability: {f:?}");
    }
    out
}

#[test]
fn app_npm_packages_in_memory() {
    let advs = advisories();
    let report = Matcher::from_advisories(&advs)
        .match_packages(&installed(), None)
        .unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(found(&report), expected());
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.advisory_id == "GHSA-jf85-cpcp-j695"),
        "CVE-2019-10744 is fixed in 4.17.12, before the installed 4.17.15"
    );
}

#[test]
fn app_npm_packages_through_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("npm");
    std::fs::create_dir(&feed).unwrap();
    for (id, json) in records() {
        std::fs::write(feed.join(format!("{id}.json")), json).unwrap();
    }
    let import = import_osv(&feed, &Limits::default()).unwrap();
    assert_eq!(import.advisories.len(), FACTS.len());
    let path = tmp.path().join("vuln.db");
    let mut builder = DatabaseBuilder::new(&path);
    builder.add(import, Timestamp::parse("2026-09-01T00:00:00Z").unwrap());
    builder.finish().unwrap();
    let db = palisade_vulndb::Database::open_read_only(&path).unwrap();
    let report = Matcher::new(&db)
        .match_packages(&installed(), None)
        .unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(found(&report), expected());
}

#[test]
fn fixed_npm_versions_are_clean() {
    let advs = advisories();
    let m = Matcher::from_advisories(&advs);
    let report = m
        .match_packages(&[npm("lodash", "4.17.21"), npm("minimist", "1.2.6")], None)
        .unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // The 0.x line of minimist: both advisories' first ranges.
    let report = m.match_packages(&[npm("minimist", "0.2.0")], None).unwrap();
    let fixed: Vec<(&str, &[String])> = report
        .findings
        .iter()
        .map(|f| (f.advisory_id.as_str(), f.fixed_versions.as_slice()))
        .collect();
    assert_eq!(
        fixed,
        [
            ("GHSA-vh95-rmgr-6w4m", &["0.2.1".to_string()][..]),
            ("GHSA-xvch-5gv4-984h", &["0.2.4".to_string()][..]),
        ]
    );
}
