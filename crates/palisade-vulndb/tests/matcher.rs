//! The matcher on the real OSV snapshots (against an independent oracle), on distro tracker
//! facts written by hand, and its deduplication by alias.
#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use palisade_catalog::{Distro, Ecosystem, LayerRef, Package, SourcePackage};
use palisade_version::osv::AffectedVersions;
use palisade_vulndb::{
    Advisory, Affected, Database, DatabaseBuilder, DistroFacts, DistroStatus, FindingStatus,
    Limits, MatchReport, Matcher, Timestamp, import_osv, parse_osv_record,
};
use serde_json::{Value, json};

// ---- helpers ---------------------------------------------------------------------------------

fn feeds() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feeds");
    if dir.join("osv").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: OSV feed snapshots not found at {}",
            dir.join("osv").display()
        );
        None
    }
}

const ECOSYSTEMS: [&str; 3] = ["PyPI", "Go", "crates.io"];

/// The OSV snapshots imported into one database file, once per test binary.
fn osv_db() -> Option<&'static Path> {
    static DB: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = feeds()?;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("vuln.db");
        let mut builder = DatabaseBuilder::new(&path);
        for eco in ECOSYSTEMS {
            let import = import_osv(
                &dir.join("osv").join(eco).join("all.zip"),
                &Limits::default(),
            )
            .unwrap();
            builder.add(import, Timestamp::parse("2026-08-21T00:00:00Z").unwrap());
        }
        builder.finish().unwrap();
        Some((tmp, path))
    })
    .as_ref()
    .map(|(_, p)| p.as_path())
}

fn package(ecosystem: Ecosystem, name: &str, version: &str) -> Package {
    let purl_type = match ecosystem {
        Ecosystem::Python => "pypi",
        Ecosystem::GoModule => "golang",
        Ecosystem::Deb => "deb",
        Ecosystem::Apk => "apk",
        _ => "generic",
    };
    Package {
        ecosystem,
        name: name.into(),
        version: version.into(),
        purl: format!("pkg:{purl_type}/{name}@{version}"),
        arch: None,
        source: None,
        licenses: Vec::new(),
        locations: Vec::new(),
        layer: Some(LayerRef {
            index: 2,
            diff_id: None,
        }),
    }
}

fn os_package(ecosystem: Ecosystem, name: &str, version: &str, source: &str) -> Package {
    let mut p = package(ecosystem, name, version);
    p.source = Some(SourcePackage {
        name: source.into(),
        version: None,
    });
    p
}

/// The testbed "app" image's language packages.
fn app_packages() -> Vec<Package> {
    let py = |n, v| package(Ecosystem::Python, n, v);
    let go = |n, v| package(Ecosystem::GoModule, n, v);
    vec![
        py("requests", "2.19.1"),
        py("urllib3", "1.23"),
        py("Jinja2", "2.10"),
        py("PyYAML", "5.3"),
        py("chardet", "3.0.4"),
        py("certifi", "2018.4.16"),
        py("idna", "2.7"),
        go("golang.org/x/net", "v0.7.0"),
        go("golang.org/x/text", "v0.7.0"),
        go("stdlib", "go1.19.8"),
    ]
}

// ---- (a) real data against an independent oracle --------------------------------------------

/// PEP 503, written here again rather than taken from the crate.
fn pep503(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower
        .split(['-', '_', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    parts.join("-")
}

/// A naive numeric version: digits of each dot-separated part, plus whether it is a
/// pre-release (anything after `-`, or letters in the last part). Enough for the Go records,
/// whose events are plain `X.Y.Z[-pre]`.
fn naive(v: &str) -> (Vec<u64>, bool, String) {
    let v = v.trim_start_matches("go").trim_start_matches('v');
    let (core, pre) = v.split_once('-').unwrap_or((v, ""));
    let mut nums = Vec::new();
    let mut extra = String::new();
    for part in core.split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        nums.push(digits.parse().unwrap_or(0));
        extra.push_str(&part[digits.len()..]);
    }
    while nums.len() < 3 {
        nums.push(0);
    }
    let pre = format!("{pre}{extra}");
    (nums, !pre.is_empty(), pre)
}

fn naive_lt(a: &str, b: &str) -> bool {
    let (an, ap, aps) = naive(a);
    let (bn, bp, bps) = naive(b);
    if an != bn {
        return an < bn;
    }
    match (ap, bp) {
        (true, false) => true,
        (false, true) => false,
        _ => aps < bps,
    }
}

/// Whether `version` falls in one OSV range, walking its events naively.
fn naive_in_range(range: &Value, version: &str) -> bool {
    let mut affected = false;
    let mut events: Vec<(&str, &str)> = range["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let (k, v) = e.as_object()?.iter().next()?;
            Some((k.as_str(), v.as_str()?))
        })
        .collect();
    // Sort by version; `introduced: 0` first.
    events.sort_by(|a, b| {
        let key = |v: &str| v == "0";
        key(b.1).cmp(&key(a.1)).then_with(|| {
            if naive_lt(a.1, b.1) {
                std::cmp::Ordering::Less
            } else if naive_lt(b.1, a.1) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
    for (kind, v) in events {
        let at_or_below = v == "0" || !naive_lt(version, v);
        match kind {
            "introduced" if at_or_below => affected = true,
            "fixed" if at_or_below => affected = false,
            "last_affected" if naive_lt(v, version) => affected = false,
            _ => {}
        }
    }
    affected
}

/// The oracle: for each installed package, the ids of the (not withdrawn) records in the zip
/// that affect it, read straight from the JSON. Records with a `versions` enumeration are
/// decided by it alone (every PyPI record for these packages has one); records without one
/// (all the Go records) fall back to the naive range walk above, ignoring GIT ranges.
/// Also returns each id's aliases.
fn oracle(
    dir: &Path,
    packages: &[Package],
) -> (
    BTreeMap<String, BTreeSet<String>>,
    BTreeMap<String, Vec<String>>,
) {
    let mut hits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for eco in ECOSYSTEMS {
        let file = std::fs::File::open(dir.join("osv").join(eco).join("all.zip")).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            if !entry.name().unwrap_or_default().ends_with(".json") {
                continue;
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let record: Value = serde_json::from_str(&text).unwrap();
            if record.get("withdrawn").is_some_and(|w| !w.is_null()) {
                continue;
            }
            let id = record["id"].as_str().unwrap().to_owned();
            for affected in record["affected"].as_array().into_iter().flatten() {
                let Some(name) = affected["package"]["name"].as_str() else {
                    continue;
                };
                if affected["package"]["ecosystem"].as_str() != Some(eco) {
                    continue;
                }
                for p in packages {
                    let same = match (eco, p.ecosystem) {
                        ("PyPI", Ecosystem::Python) => pep503(name) == pep503(&p.name),
                        ("Go", Ecosystem::GoModule) | ("crates.io", Ecosystem::RustCrate) => {
                            name == p.name
                        }
                        _ => false,
                    };
                    if !same {
                        continue;
                    }
                    let listed = affected["versions"].as_array();
                    let is_hit = match listed {
                        Some(list) if !list.is_empty() => {
                            list.iter().any(|v| v.as_str() == Some(p.version.as_str()))
                        }
                        _ => affected["ranges"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|r| r["type"] != "GIT")
                            .any(|r| naive_in_range(r, &p.version)),
                    };
                    if is_hit {
                        hits.entry(p.name.clone()).or_default().insert(id.clone());
                        aliases.insert(
                            id.clone(),
                            record["aliases"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|a| a.as_str().map(str::to_owned))
                                .collect(),
                        );
                    }
                }
            }
        }
    }
    (hits, aliases)
}

/// Groups ids that share an id or alias (transitively): the number of findings expected.
fn groups(ids: &BTreeSet<String>, aliases: &BTreeMap<String, Vec<String>>) -> usize {
    let mut sets: Vec<BTreeSet<String>> = ids
        .iter()
        .map(|id| {
            std::iter::once(id.clone())
                .chain(aliases[id].iter().cloned())
                .collect()
        })
        .collect();
    loop {
        let mut merged = false;
        'outer: for i in 0..sets.len() {
            for j in i + 1..sets.len() {
                if !sets[i].is_disjoint(&sets[j]) {
                    let s = sets.remove(j);
                    sets[i].extend(s);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            return sets.len();
        }
    }
}

#[test]
fn app_image_findings_equal_the_oracle() {
    let (Some(dir), Some(db_path)) = (feeds(), osv_db()) else {
        return;
    };
    let db = Database::open_read_only(db_path).unwrap();
    let packages = app_packages();
    let report = Matcher::new(&db).match_packages(&packages, None).unwrap();
    let (expected, aliases) = oracle(&dir, &packages);

    let mut total = 0;
    for p in &packages {
        let want = expected.get(&p.name).cloned().unwrap_or_default();
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.package.name == p.name)
            .collect();
        // No false positives: every kept advisory, and every record folded into it, affects
        // the package according to the oracle.
        for f in &found {
            assert!(
                want.contains(&f.advisory_id),
                "false positive: {} {} {} ({})",
                p.name,
                p.version,
                f.advisory_id,
                f.why
            );
        }
        // No misses: every oracle id is a finding or folded into one.
        let covered: BTreeSet<&String> = found
            .iter()
            .flat_map(|f| std::iter::once(&f.advisory_id).chain(&f.aliases))
            .collect();
        for id in &want {
            assert!(
                covered.contains(id),
                "missed: {} {} {id}",
                p.name,
                p.version
            );
        }
        // One finding per vulnerability.
        assert_eq!(
            found.len(),
            groups(&want, &aliases),
            "{}: findings {:?}",
            p.name,
            found.iter().map(|f| &f.advisory_id).collect::<Vec<_>>()
        );
        for f in &found {
            assert!(!f.why.is_empty() && !f.why.contains('\n'));
            assert_eq!(f.package.layer.as_ref().map(|l| l.index), Some(2));
        }
        eprintln!("{} {}: {} findings", p.name, p.version, found.len());
        total += found.len();
    }
    eprintln!(
        "app image: {total} findings, {} entries skipped",
        report.skipped.len()
    );
    for s in &report.skipped {
        eprintln!(
            "  skipped: {} {:?}: {}",
            s.package.name, s.advisory_id, s.reason
        );
    }
    assert!(total > 0);
    // The deterministic order: by package, then advisory id.
    let mut sorted = report.findings.clone();
    sorted.sort_by(|a, b| (&a.package, &a.advisory_id).cmp(&(&b.package, &b.advisory_id)));
    assert_eq!(sorted, report.findings);
}

#[test]
fn requests_cve_2018_18074_is_one_finding_with_a_fix() {
    let Some(db_path) = osv_db() else {
        return;
    };
    let db = Database::open_read_only(db_path).unwrap();
    let pkgs = [package(Ecosystem::Python, "Requests", "2.19.1")];
    let report = Matcher::new(&db).match_packages(&pkgs, None).unwrap();
    let hits: Vec<_> = report
        .findings
        .iter()
        .filter(|f| {
            f.advisory_id == "CVE-2018-18074" || f.aliases.iter().any(|a| a == "CVE-2018-18074")
        })
        .collect();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let f = hits[0];
    assert_eq!(f.status, FindingStatus::Fixed);
    assert_eq!(f.fixed_versions, ["2.20.0"]);
    assert!(
        f.why.starts_with("PyPI Requests 2.19.1: range "),
        "{}",
        f.why
    );
    let mut all = f.aliases.clone();
    all.push(f.advisory_id.clone());
    for id in ["PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"] {
        assert!(all.iter().any(|a| a == id), "{id} not in {all:?}");
    }
}

#[test]
fn go_stdlib_uses_the_go_release_tag() {
    let Some(db_path) = osv_db() else {
        return;
    };
    let db = Database::open_read_only(db_path).unwrap();
    let old = [package(Ecosystem::GoModule, "stdlib", "go1.19.8")];
    let report = Matcher::new(&db).match_packages(&old, None).unwrap();
    assert!(!report.findings.is_empty());
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.why.starts_with("Go stdlib go1.19.8: "))
    );
    let newer = [package(Ecosystem::GoModule, "stdlib", "go1.19.9")];
    let fewer = Matcher::new(&db).match_packages(&newer, None).unwrap();
    assert!(fewer.findings.len() < report.findings.len());
}

// ---- (b) distro rules on hand-written tracker facts -----------------------------------------

fn advisory(id: &str, aliases: &[&str], affected: Vec<Affected>) -> Advisory {
    let mut a: Advisory = serde_json::from_value(json!({ "id": id, "provenance": [] })).unwrap();
    a.aliases = aliases.iter().map(|s| (*s).to_owned()).collect();
    a.affected = affected;
    a
}

fn fixed_in(v: &str) -> AffectedVersions {
    serde_json::from_value(json!({"ranges": [{"type": "ECOSYSTEM",
        "events": [{"introduced": "0"}, {"fixed": v}]}]}))
    .unwrap()
}

fn every_version() -> AffectedVersions {
    serde_json::from_value(json!({"ranges": [{"type": "ECOSYSTEM",
        "events": [{"introduced": "0"}]}]}))
    .unwrap()
}

fn tracker(
    ecosystem: &str,
    source: &str,
    status: DistroStatus,
    versions: AffectedVersions,
) -> Affected {
    let release = ecosystem.split_once(':').map(|(_, r)| r.to_owned());
    Affected::new(
        ecosystem.into(),
        source.into(),
        versions,
        Some(DistroFacts {
            release,
            repository: None,
            source_package: true,
            status,
            urgency: None,
            nodsa: None,
            note: None,
        }),
    )
    .unwrap()
}

fn bookworm() -> Distro {
    Distro {
        id: "debian".into(),
        version_id: Some("12".into()),
        codename: Some("bookworm".into()),
        ..Distro::default()
    }
}

fn match_debian(advisories: &[Advisory], pkgs: &[Package]) -> MatchReport {
    Matcher::from_advisories(advisories)
        .match_packages(pkgs, Some(&bookworm()))
        .unwrap()
}

#[test]
fn debian_fixed_later_is_flagged_with_the_fix_by_source_name() {
    let advs = [advisory(
        "CVE-2024-2961",
        &[],
        vec![tracker(
            "Debian:bookworm",
            "glibc",
            DistroStatus::Fixed,
            fixed_in("2.36-9+deb12u7"),
        )],
    )];
    // libc6 is built from glibc: matched through its source name.
    let pkgs = [os_package(
        Ecosystem::Deb,
        "libc6",
        "2.36-9+deb12u4",
        "glibc",
    )];
    let r = match_debian(&advs, &pkgs);
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.status, FindingStatus::Fixed);
    assert_eq!(f.fixed_versions, ["2.36-9+deb12u7"]);
    assert_eq!(f.package.source.as_deref(), Some("glibc"));
    assert_eq!(
        f.why,
        "Debian bookworm tracker: source glibc (binary libc6) 2.36-9+deb12u4 \
         < fixed 2.36-9+deb12u7 (CVE-2024-2961)"
    );
    // The binary name alone does not match.
    let wrong = [package(Ecosystem::Deb, "libc6", "2.36-9+deb12u4")];
    assert!(match_debian(&advs, &wrong).findings.is_empty());
}

#[test]
fn debian_backported_fix_is_not_flagged() {
    let advs = [advisory(
        "CVE-2023-4911",
        &[],
        vec![tracker(
            "Debian:bookworm",
            "glibc",
            DistroStatus::Fixed,
            fixed_in("2.36-9+deb12u3"),
        )],
    )];
    for installed in ["2.36-9+deb12u3", "2.36-9+deb12u4", "2.36-9+deb12u3+b1"] {
        let pkgs = [os_package(Ecosystem::Deb, "libc6", installed, "glibc")];
        let r = match_debian(&advs, &pkgs);
        assert!(r.findings.is_empty(), "{installed}: {r:#?}");
        assert!(r.skipped.is_empty());
    }
}

#[test]
fn debian_unfixed_is_flagged_without_a_fix() {
    let advs = [
        advisory(
            "CVE-2023-1",
            &[],
            vec![tracker(
                "Debian:bookworm",
                "openssl",
                DistroStatus::Unfixed,
                every_version(),
            )],
        ),
        // A tracker entry with no version facts at all still means "affected".
        advisory(
            "CVE-2023-2",
            &[],
            vec![tracker(
                "Debian:bookworm",
                "openssl",
                DistroStatus::Unfixed,
                AffectedVersions::default(),
            )],
        ),
    ];
    let pkgs = [os_package(
        Ecosystem::Deb,
        "libssl3",
        "3.0.11-1~deb12u2",
        "openssl",
    )];
    let r = match_debian(&advs, &pkgs);
    assert_eq!(r.findings.len(), 2, "{r:#?}");
    for f in &r.findings {
        assert_eq!(f.status, FindingStatus::Unfixed);
        assert!(f.fixed_versions.is_empty());
        assert!(f.why.contains("unfixed"), "{}", f.why);
    }
}

#[test]
fn debian_not_affected_zero_is_not_flagged() {
    let advs = [advisory(
        "CVE-2022-9",
        &[],
        vec![tracker(
            "Debian:bookworm",
            "openssl",
            DistroStatus::NotAffected,
            AffectedVersions::default(),
        )],
    )];
    let pkgs = [os_package(
        Ecosystem::Deb,
        "libssl3",
        "3.0.11-1~deb12u2",
        "openssl",
    )];
    let r = match_debian(&advs, &pkgs);
    assert!(r.findings.is_empty() && r.skipped.is_empty(), "{r:#?}");
}

#[test]
fn debian_ignored_postponed_wontfix_keep_their_status() {
    let mk = |id: &str, status| {
        let mut e = tracker("Debian:bookworm", "tiff", status, every_version());
        if let Some(d) = e.distro.as_mut() {
            d.nodsa = Some("Minor issue".into());
        }
        advisory(id, &[], vec![e])
    };
    let advs = [
        mk("CVE-2023-10", DistroStatus::Ignored),
        mk("CVE-2023-11", DistroStatus::Postponed),
        mk("CVE-2023-12", DistroStatus::WontFix),
    ];
    let pkgs = [os_package(
        Ecosystem::Deb,
        "libtiff6",
        "4.5.0-6+deb12u1",
        "tiff",
    )];
    let r = match_debian(&advs, &pkgs);
    let got: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.advisory_id.as_str(), f.status))
        .collect();
    assert_eq!(
        got,
        [
            ("CVE-2023-10", FindingStatus::Ignored),
            ("CVE-2023-11", FindingStatus::Postponed),
            ("CVE-2023-12", FindingStatus::WontFix),
        ]
    );
    assert!(
        r.findings[0].why.contains("ignored (Minor issue)"),
        "{}",
        r.findings[0].why
    );
}

#[test]
fn debian_epochs_and_tildes_order_as_dpkg_does() {
    let cases = [
        // (installed, fixed, flagged)
        ("1:2.0-1", "2.5-1", false), // any epoch beats no epoch
        ("2.5-1", "1:2.0-1", true),
        ("1.0~rc1-1", "1.0-1", true), // ~ sorts before the release
        ("1.0-1", "1.0~rc1-1", false),
        ("3.0.11-1~deb12u2", "3.0.11-1~deb12u3", true),
        ("3.0.11-1~deb12u2", "3.0.11-1~deb12u2", false),
    ];
    for (installed, fixed, flagged) in cases {
        let advs = [advisory(
            "CVE-2020-1",
            &[],
            vec![tracker(
                "Debian:bookworm",
                "src",
                DistroStatus::Fixed,
                fixed_in(fixed),
            )],
        )];
        let pkgs = [os_package(Ecosystem::Deb, "bin", installed, "src")];
        let r = match_debian(&advs, &pkgs);
        assert_eq!(
            r.findings.len(),
            usize::from(flagged),
            "{installed} vs {fixed}"
        );
    }
}

#[test]
fn debian_osv_style_release_number_and_other_releases() {
    let advs = [
        advisory(
            "DSA-5000-1",
            &["CVE-2021-5"],
            vec![tracker(
                "Debian:12",
                "curl",
                DistroStatus::Fixed,
                fixed_in("7.88.1-10+deb12u5"),
            )],
        ),
        // Another release's facts never apply.
        advisory(
            "CVE-2021-6",
            &[],
            vec![tracker(
                "Debian:bullseye",
                "curl",
                DistroStatus::Unfixed,
                every_version(),
            )],
        ),
    ];
    let pkgs = [os_package(
        Ecosystem::Deb,
        "libcurl4",
        "7.88.1-10+deb12u4",
        "curl",
    )];
    let r = match_debian(&advs, &pkgs);
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    assert_eq!(r.findings[0].advisory_id, "DSA-5000-1");
}

#[test]
fn alpine_by_origin_and_branch() {
    let advs = [advisory(
        "ALPINE-CVE-2023-5678",
        &["CVE-2023-5678"],
        vec![tracker(
            "Alpine:v3.19",
            "openssl",
            DistroStatus::Fixed,
            fixed_in("3.1.4-r1"),
        )],
    )];
    let alpine = Distro {
        id: "alpine".into(),
        version_id: Some("3.19.1".into()),
        ..Distro::default()
    };
    let m = Matcher::from_advisories(&advs);
    let old = [os_package(
        Ecosystem::Apk,
        "libcrypto3",
        "3.1.4-r0",
        "openssl",
    )];
    let r = m.match_packages(&old, Some(&alpine)).unwrap();
    assert_eq!(r.findings.len(), 1);
    assert_eq!(
        r.findings[0].why,
        "Alpine v3.19 secdb: source openssl (binary libcrypto3) 3.1.4-r0 < fixed 3.1.4-r1 \
         (ALPINE-CVE-2023-5678)"
    );
    let new = [os_package(
        Ecosystem::Apk,
        "libcrypto3",
        "3.1.4-r5",
        "openssl",
    )];
    assert!(
        m.match_packages(&new, Some(&alpine))
            .unwrap()
            .findings
            .is_empty()
    );
}

#[test]
fn unevaluable_packages_and_entries_are_skipped_with_a_reason() {
    let mut withdrawn = advisory(
        "GHSA-gone",
        &[],
        vec![Affected::new("PyPI".into(), "foo".into(), every_version(), None).unwrap()],
    );
    withdrawn.withdrawn = Some(Timestamp::parse("2024-01-01T00:00:00Z").unwrap());
    let advs = [
        withdrawn,
        advisory(
            "PYSEC-1",
            &[],
            vec![Affected::new("PyPI".into(), "Foo".into(), fixed_in("2.0"), None).unwrap()],
        ),
    ];
    let pkgs = [
        package(Ecosystem::Python, "foo", "not a version"),
        package(Ecosystem::Rpm, "bash", "5.1-1.el9"),
        os_package(Ecosystem::Deb, "libc6", "2.36-9", "glibc"),
    ];
    let r = Matcher::from_advisories(&advs)
        .match_packages(&pkgs, None)
        .unwrap();
    assert!(r.findings.is_empty(), "{r:#?}");
    let reasons: Vec<_> = r
        .skipped
        .iter()
        .map(|s| {
            (
                s.package.name.as_str(),
                s.advisory_id.as_deref(),
                s.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    assert!(
        reasons.iter().any(|(n, id, why)| *n == "foo"
            && id.is_none()
            && why.contains("not a PEP 440 version"))
    );
    assert!(
        reasons
            .iter()
            .any(|(n, _, why)| *n == "bash" && why.contains("RPM package not matched"))
    );
    assert!(
        reasons
            .iter()
            .any(|(n, _, why)| *n == "libc6" && why.contains("release is unknown"))
    );
}

/// Issue 13.3: a version the scheme cannot read is one skip for the package (without an
/// advisory id), not one per advisory, and the reason quotes the version cut short.
#[test]
fn issue_13_3_an_unparsable_version_is_skipped_once_per_package() {
    let advs: Vec<Advisory> = (0..50)
        .map(|i| {
            advisory(
                &format!("GO-2024-{i:04}"),
                &[],
                vec![
                    Affected::new("Go".into(), "stdlib".into(), fixed_in("1.22.3"), None).unwrap(),
                ],
            )
        })
        .collect();
    let long = format!("go1.{}", "x".repeat(100_000));
    let pkgs = [
        package(Ecosystem::GoModule, "stdlib", &long),
        package(Ecosystem::GoModule, "stdlib", "not-a-version"),
    ];
    let r = Matcher::from_advisories(&advs)
        .match_packages(&pkgs, None)
        .unwrap();
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(
        r.skipped.len(),
        2,
        "{:#?}",
        r.skipped.iter().map(|s| &s.reason).collect::<Vec<_>>()
    );
    for s in &r.skipped {
        assert_eq!(s.advisory_id, None);
        assert!(s.reason.contains("not a Go version"), "{}", s.reason);
        assert!(s.reason.len() < 1000, "{} bytes", s.reason.len());
    }
    // A version that parses is still evaluated against every advisory.
    let ok = [package(Ecosystem::GoModule, "stdlib", "go1.22.1")];
    let r = Matcher::from_advisories(&advs)
        .match_packages(&ok, None)
        .unwrap();
    assert_eq!(r.findings.len(), 50);
    assert!(r.skipped.is_empty());
}

// ---- (c) one finding per vulnerability ------------------------------------------------------

#[test]
fn dedup_by_alias_keeps_the_record_with_a_fix() {
    let py = |v| Affected::new("PyPI".into(), "requests".into(), v, None).unwrap();
    let advs = [
        // No fix known in this feed's record.
        advisory(
            "GHSA-x84v-xcm2-53pg",
            &["CVE-2018-18074"],
            vec![py(every_version())],
        ),
        advisory(
            "PYSEC-2018-28",
            &["CVE-2018-18074"],
            vec![py(fixed_in("2.20.0"))],
        ),
        // Linked only through the first one's alias chain.
        advisory(
            "OSV-X-1",
            &["GHSA-x84v-xcm2-53pg"],
            vec![py(every_version())],
        ),
        // A different vulnerability.
        advisory(
            "PYSEC-2023-74",
            &["CVE-2023-32681"],
            vec![py(fixed_in("2.31.0"))],
        ),
    ];
    let pkgs = [package(Ecosystem::Python, "requests", "2.19.1")];
    let r = Matcher::from_advisories(&advs)
        .match_packages(&pkgs, None)
        .unwrap();
    assert_eq!(r.findings.len(), 2, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.advisory_id, "PYSEC-2018-28");
    assert_eq!(f.status, FindingStatus::Fixed);
    assert_eq!(f.fixed_versions, ["2.20.0"]);
    assert_eq!(
        f.aliases,
        ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg", "OSV-X-1"]
    );
    assert_eq!(
        f.why,
        "PyPI requests 2.19.1: range 0: introduced at the first version, fixed 2.20.0 \
         (PYSEC-2018-28)"
    );
    assert_eq!(r.findings[1].advisory_id, "PYSEC-2023-74");
}

#[test]
fn debian_undetermined_is_skipped_with_the_tracker_word() {
    let advs = [advisory(
        "DEBIAN-CVE-2024-7",
        &["CVE-2024-7"],
        vec![tracker(
            "Debian:bookworm",
            "zlib",
            DistroStatus::Other("undetermined".into()),
            every_version(),
        )],
    )];
    let pkgs = [os_package(
        Ecosystem::Deb,
        "zlib1g",
        "1:1.2.13.dfsg-1",
        "zlib",
    )];
    let r = match_debian(&advs, &pkgs);
    assert!(r.findings.is_empty());
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(
        r.skipped[0].advisory_id.as_deref(),
        Some("DEBIAN-CVE-2024-7")
    );
    assert!(
        r.skipped[0].reason.contains("\"undetermined\""),
        "{}",
        r.skipped[0].reason
    );
}

/// Ubuntu through OSV's Ubuntu records (written here in the OSV schema as Ubuntu publishes it:
/// ecosystem `Ubuntu:22.04:LTS`, source package names, a `Ubuntu` severity word): matched by
/// source package and release, the priority kept as the vendor's severity.
#[test]
fn ubuntu_by_source_package_and_release_with_its_priority() {
    let record = |id: &str, ecosystem: &str, fixed: &str| {
        palisade_vulndb::parse_osv_record(
            json!({
                "schema_version": "1.6.0",
                "id": id,
                "modified": "2026-01-01T00:00:00Z",
                "upstream": ["CVE-2099-3000"],
                "severity": [{"type": "Ubuntu", "score": "medium"}],
                "affected": [{
                    "package": {"ecosystem": ecosystem, "name": "openssl"},
                    "ranges": [{"type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": fixed}]}]
                }]
            })
            .to_string()
            .as_bytes(),
            "osv/Ubuntu",
            id,
        )
        .unwrap()
    };
    let advs = [
        record(
            "UBUNTU-CVE-2099-3000",
            "Ubuntu:22.04:LTS",
            "3.0.2-0ubuntu1.12",
        ),
        // Another release's record never applies.
        record(
            "UBUNTU-CVE-2099-3001",
            "Ubuntu:24.04:LTS",
            "3.0.13-0ubuntu3.9",
        ),
    ];
    let jammy = Distro {
        id: "ubuntu".into(),
        version_id: Some("22.04".into()),
        codename: Some("jammy".into()),
        ..Distro::default()
    };
    let m = Matcher::from_advisories(&advs);
    let old = [os_package(
        Ecosystem::Deb,
        "libssl3",
        "3.0.2-0ubuntu1.10",
        "openssl",
    )];
    let r = m.match_packages(&old, Some(&jammy)).unwrap();
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.advisory_id, "UBUNTU-CVE-2099-3000");
    assert_eq!(f.fixed_versions, ["3.0.2-0ubuntu1.12"]);
    let vendor = f.vendor_severity.as_ref().expect("Ubuntu priority");
    assert_eq!(
        (vendor.vendor.as_str(), vendor.rating.as_str()),
        ("Ubuntu", "medium")
    );
    let fixed = [os_package(
        Ecosystem::Deb,
        "libssl3",
        "3.0.2-0ubuntu1.12",
        "openssl",
    )];
    assert!(
        m.match_packages(&fixed, Some(&jammy))
            .unwrap()
            .findings
            .is_empty()
    );
    // The same package on Debian is not matched by Ubuntu's records.
    assert!(
        m.match_packages(&old, Some(&bookworm()))
            .unwrap()
            .findings
            .is_empty()
    );
}

// ---- coverage --------------------------------------------------------------------------------

/// Packages of an ecosystem the database has no advisories for are reported as not covered,
/// whether they matched nothing or cannot be matched at all; covered ecosystems carry the
/// advisory count and the newest `modified` date. Against the real OSV snapshots.
#[test]
fn coverage_names_what_the_database_cannot_speak_about() {
    let Some(path) = osv_db() else { return };
    let db = Database::open_read_only(path).unwrap();
    let packages = vec![
        package(Ecosystem::Python, "requests", "2.19.1"),
        package(Ecosystem::Python, "no-such-package-anywhere", "1.0"),
        package(Ecosystem::Npm, "lodash", "4.17.15"),
        package(Ecosystem::Rpm, "bash", "5.1.8-6.el9"),
    ];
    let report = Matcher::new(&db).match_packages(&packages, None).unwrap();
    let by: BTreeMap<&str, &palisade_vulndb::Coverage> = report
        .coverage
        .iter()
        .map(|c| (c.ecosystem.as_str(), c))
        .collect();
    assert_eq!(
        by.keys().copied().collect::<Vec<_>>(),
        ["PyPI", "npm", "rpm"]
    );
    let pypi = by["PyPI"];
    assert!(pypi.covered() && pypi.advisories > 1000, "{pypi:?}");
    assert_eq!(pypi.packages, 2);
    assert!(pypi.newest.is_some() && pypi.reason.is_none());
    assert!(!by["npm"].covered());
    assert!(
        by["npm"]
            .reason
            .as_deref()
            .unwrap()
            .contains("no advisories for npm")
    );
    assert!(!by["rpm"].covered());
    assert!(by["rpm"].reason.as_deref().unwrap().contains("RPM"));
    let names: Vec<(&str, &str)> = report
        .not_covered
        .iter()
        .map(|n| (n.package.name.as_str(), n.ecosystem.as_str()))
        .collect();
    assert_eq!(names, [("bash", "rpm"), ("lodash", "npm")]);
    // The same from advisories held in memory.
    let advisories: Vec<Advisory> = Vec::new();
    let report = Matcher::from_advisories(&advisories)
        .match_packages(&packages[..1], None)
        .unwrap();
    assert!(!report.coverage[0].covered());
    assert_eq!(report.not_covered.len(), 1);
}

// ---- RPM distros (issue 17) ------------------------------------------------------------------

fn almalinux_8() -> Distro {
    Distro {
        id: "almalinux".into(),
        version_id: Some("8.9".into()),
        id_like: vec!["rhel".into(), "centos".into(), "fedora".into()],
        ..Distro::default()
    }
}

/// A modular advisory lists one build of the fix per module stream: a modular package is
/// fixed by any of them and affected only below all; a non-modular package of the same name
/// is never compared with modular fixes. Non-modular: plain rpmvercmp, epoch first.
#[test]
fn almalinux_modular_builds_are_compared_only_with_modular_fixes() {
    let record = json!({
        "id": "ALSA-2021:0001",
        "modified": "2021-01-01T00:00:00Z",
        "affected": [
            {"package": {"ecosystem": "AlmaLinux:8", "name": "oci-umount"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2:2.3.4-2.git87f9237.module_el8.5.0+119+9a9ec082"}]}]},
            {"package": {"ecosystem": "AlmaLinux:8", "name": "oci-umount"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2:2.3.4-2.git87f9237.module_el8.4.0+2496+12421f43"}]}]},
            {"package": {"ecosystem": "AlmaLinux:8", "name": "bash"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:4.4.20-5.el8"}]}]}
        ]
    });
    let a = parse_osv_record(record.to_string().as_bytes(), "test", "ALSA-2021:0001.json").unwrap();
    let pkgs = [
        // The 8.4.0 stream's fixed build: fixed, though below the 8.5.0 build.
        package(
            Ecosystem::Rpm,
            "oci-umount",
            "2:2.3.4-2.git87f9237.module_el8.4.0+2496+12421f43",
        ),
        // An older build of the stream: affected.
        package(
            Ecosystem::Rpm,
            "oci-umount",
            "2:2.3.4-1.git87f9237.module_el8.4.0+2000+12421f43",
        ),
        // Not a modular build: the modular fixes do not apply.
        package(Ecosystem::Rpm, "oci-umount", "2.3.4-1.el8"),
        // Epoch first: 4.4.20-9 without epoch is below 1:4.4.20-5.
        package(Ecosystem::Rpm, "bash", "4.4.20-9.el8"),
    ];
    let r = Matcher::from_advisories(&[a])
        .match_packages(&pkgs, Some(&almalinux_8()))
        .unwrap();
    let hits: Vec<(&str, &str)> = r
        .findings
        .iter()
        .map(|f| (f.package.name.as_str(), f.package.version.as_str()))
        .collect();
    assert_eq!(
        hits,
        [
            ("bash", "4.4.20-9.el8"),
            (
                "oci-umount",
                "2:2.3.4-1.git87f9237.module_el8.4.0+2000+12421f43"
            ),
        ],
        "{r:#?}"
    );
    assert!(r.skipped.is_empty(), "{r:#?}");
    assert_eq!(r.coverage[0].ecosystem, "AlmaLinux:8");
}
