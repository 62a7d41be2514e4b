//! The Debian security tracker importer on excerpts written here from the tracker's documented
//! JSON format (`{ SOURCE: { CVE: { releases: { CODENAME: { status, repositories,
//! fixed_version, urgency, nodsa, nodsa_reason } } } } }`). Not real tracker data: package
//! names are real, CVE numbers and versions are made up for each rule.

use palisade_version::Scheme;
use palisade_vulndb::{
    Advisory, Affected, Database, DatabaseBuilder, DistroStatus, Import, Limits, Timestamp,
    debian_release_number, import_debian_tracker, import_osv,
};

const TRACKER: &str = r#"{
  "glibc": {
    "CVE-2099-0001": {
      "description": "fixed in a later version than bookworm ships",
      "scope": "local",
      "debianbug": 1000001,
      "releases": {
        "bookworm": {
          "status": "resolved",
          "repositories": {"bookworm": "2.36-9+deb12u7"},
          "fixed_version": "2.36-9+deb12u8",
          "urgency": "medium"
        },
        "trixie": {
          "status": "resolved",
          "repositories": {"trixie": "2.41-12"},
          "fixed_version": "2.41-1",
          "urgency": "medium"
        }
      }
    },
    "CVE-2099-0002": {
      "description": "backport: fixed in an earlier bookworm update",
      "releases": {
        "bookworm": {
          "status": "resolved",
          "repositories": {"bookworm": "2.36-9+deb12u7", "bookworm-security": "2.36-9+deb12u7"},
          "fixed_version": "2.36-9+deb12u4",
          "urgency": "high"
        }
      }
    },
    "CVE-2099-0003": {
      "description": "open, no fix yet",
      "releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "2.36-9+deb12u7"}, "urgency": "low"},
        "bullseye": {"status": "open", "repositories": {"bullseye": "2.31-13+deb11u11"}, "urgency": "unimportant"},
        "buster": {"status": "open", "repositories": {"buster": "2.28-10+deb10u1"}, "urgency": "end-of-life"}
      }
    }
  },
  "openssl": {
    "CVE-2099-0004": {
      "description": "the vulnerable code was never in bookworm",
      "releases": {
        "bookworm": {"status": "resolved", "repositories": {"bookworm": "3.0.15-1~deb12u1"}, "fixed_version": "0", "urgency": "unimportant"}
      }
    },
    "CVE-2099-0005": {
      "description": "no-dsa: minor issue, ignored and postponed",
      "releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "3.0.15-1~deb12u1"}, "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "ignored"},
        "bullseye": {"status": "open", "repositories": {"bullseye": "1.1.1w-0+deb11u1"}, "urgency": "low", "nodsa": "Minor issue, revisit when fixed upstream", "nodsa_reason": "postponed"},
        "trixie": {"status": "open", "repositories": {"trixie": "3.5.1-1"}, "urgency": "low", "nodsa": "Minor issue"}
      }
    },
    "CVE-2099-0006": {
      "description": "tilde: fixed in a backport built with ~deb12u1",
      "releases": {
        "bookworm": {"status": "resolved", "repositories": {"bookworm": "3.0.15-1~deb12u1"}, "fixed_version": "3.0.14-1~deb12u2", "urgency": "medium"},
        "trixie": {"status": "undetermined", "repositories": {"trixie": "3.5.1-1"}, "urgency": "not yet assigned"}
      }
    }
  },
  "python-urllib3": {
    "CVE-2099-0007": {
      "description": "epoch: the fix carries epoch 1",
      "releases": {
        "bookworm": {"status": "resolved", "repositories": {"bookworm": "1.26.12-1"}, "fixed_version": "1:1.26.12-1+deb12u1", "urgency": "medium"}
      }
    }
  }
}"#;

fn import() -> (tempfile::TempDir, Import) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("json");
    std::fs::write(&path, TRACKER).unwrap();
    let i = import_debian_tracker(&path, &Limits::default()).unwrap();
    (tmp, i)
}

fn entry<'a>(i: &'a Import, cve: &str, release: &str) -> &'a Affected {
    let a = i
        .advisories
        .iter()
        .find(|a| a.id == format!("DEBIAN-{cve}"))
        .unwrap_or_else(|| panic!("no advisory for {cve}"));
    a.affected
        .iter()
        .find(|f| f.ecosystem == format!("Debian:{release}"))
        .unwrap_or_else(|| panic!("{cve}: no entry for {release}"))
}

fn affected(f: &Affected, version: &str) -> bool {
    f.versions
        .evaluate(Scheme::Dpkg, version)
        .unwrap()
        .is_affected()
}

fn status(f: &Affected) -> &DistroStatus {
    &f.distro.as_ref().unwrap().status
}

#[test]
fn one_advisory_per_cve_keyed_by_source_package_and_release() {
    let (_t, i) = import();
    assert_eq!(i.feed.name, "debian-tracker");
    assert_eq!(i.feed.records, 7, "(package, CVE) records");
    assert_eq!(i.advisories.len(), 7);
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
    let a = &i.advisories[0];
    assert_eq!(a.id, "DEBIAN-CVE-2099-0001");
    assert_eq!(a.aliases, ["CVE-2099-0001"]);
    assert_eq!(a.affected.len(), 2);
    assert!(
        a.references
            .iter()
            .any(|r| r.url == "https://bugs.debian.org/1000001")
    );
    let f = entry(&i, "CVE-2099-0001", "bookworm");
    assert_eq!(f.name, "glibc");
    assert_eq!(f.scheme, Some(Scheme::Dpkg));
    let facts = f.distro.as_ref().unwrap();
    assert!(facts.source_package);
    assert_eq!(facts.release.as_deref(), Some("bookworm"));
    assert_eq!(debian_release_number("bookworm"), Some("12"));
    assert_eq!(a.provenance[0].record, "glibc/CVE-2099-0001");
}

#[test]
fn fixed_in_a_later_version() {
    let (_t, i) = import();
    let f = entry(&i, "CVE-2099-0001", "bookworm");
    assert_eq!(status(f), &DistroStatus::Fixed);
    assert!(
        affected(f, "2.36-9+deb12u7"),
        "installed is older than the fix"
    );
    assert!(!affected(f, "2.36-9+deb12u8"));
    let t = entry(&i, "CVE-2099-0001", "trixie");
    assert!(!affected(t, "2.41-12"));
}

#[test]
fn fixed_in_an_earlier_version_backport_is_not_flagged() {
    let (_t, i) = import();
    let f = entry(&i, "CVE-2099-0002", "bookworm");
    assert_eq!(status(f), &DistroStatus::Fixed);
    assert!(!affected(f, "2.36-9+deb12u7"));
    assert!(!affected(f, "2.36-9+deb12u4"));
    assert!(affected(f, "2.36-9+deb12u3"));
    assert_eq!(f.distro.as_ref().unwrap().urgency.as_deref(), Some("high"));
}

#[test]
fn open_is_unfixed_and_end_of_life_wont_be_fixed() {
    let (_t, i) = import();
    let f = entry(&i, "CVE-2099-0003", "bookworm");
    assert_eq!(status(f), &DistroStatus::Unfixed);
    assert!(affected(f, "2.36-9+deb12u7"));
    assert!(affected(f, "99:9.9-9"), "no fix: every version");
    let f = entry(&i, "CVE-2099-0003", "bullseye");
    assert_eq!(
        status(f),
        &DistroStatus::Unfixed,
        "unimportant keeps the status"
    );
    assert_eq!(
        f.distro.as_ref().unwrap().urgency.as_deref(),
        Some("unimportant")
    );
    let f = entry(&i, "CVE-2099-0003", "buster");
    assert_eq!(status(f), &DistroStatus::WontFix);
    assert!(affected(f, "2.28-10+deb10u1"));
}

#[test]
fn fixed_version_zero_is_not_affected() {
    let (_t, i) = import();
    let f = entry(&i, "CVE-2099-0004", "bookworm");
    assert_eq!(status(f), &DistroStatus::NotAffected);
    assert!(f.versions.ranges.is_empty());
    assert!(!affected(f, "3.0.15-1~deb12u1"));
}

#[test]
fn nodsa_ignored_and_postponed() {
    let (_t, i) = import();
    let f = entry(&i, "CVE-2099-0005", "bookworm");
    assert_eq!(status(f), &DistroStatus::Ignored);
    assert_eq!(
        f.distro.as_ref().unwrap().nodsa.as_deref(),
        Some("Minor issue")
    );
    assert!(affected(f, "3.0.15-1~deb12u1"));
    let f = entry(&i, "CVE-2099-0005", "bullseye");
    assert_eq!(status(f), &DistroStatus::Postponed);
    let f = entry(&i, "CVE-2099-0005", "trixie");
    assert_eq!(status(f), &DistroStatus::Unfixed, "nodsa without a reason");
    assert_eq!(
        f.distro.as_ref().unwrap().nodsa.as_deref(),
        Some("Minor issue")
    );
}

#[test]
fn tildes_and_epochs() {
    let (_t, i) = import();
    let f = entry(&i, "CVE-2099-0006", "bookworm");
    assert!(!affected(f, "3.0.15-1~deb12u1"));
    assert!(affected(f, "3.0.14-1~deb12u1"), "~deb12u1 < ~deb12u2");
    assert!(affected(f, "3.0.14-1~"), "~ sorts before everything");
    assert!(!affected(f, "3.0.14-1"), "3.0.14-1 > 3.0.14-1~deb12u2");
    let u = entry(&i, "CVE-2099-0006", "trixie");
    assert_eq!(status(u), &DistroStatus::Other("undetermined".into()));
    let f = entry(&i, "CVE-2099-0007", "bookworm");
    assert!(affected(f, "1.26.12-1"), "epoch 0 < epoch 1");
    assert!(affected(f, "1.26.99-1"));
    assert!(!affected(f, "1:1.26.12-1+deb12u1"));
    assert!(!affected(f, "2:0.1-1"));
}

fn db_with(imports: Vec<Import>) -> (tempfile::TempDir, Database) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vuln.db");
    let mut b = DatabaseBuilder::new(&path);
    for i in imports {
        b.add(i, Timestamp::parse("2026-09-01T00:00:00Z").unwrap());
    }
    b.finish().unwrap();
    let db = Database::open_read_only(&path).unwrap();
    (tmp, db)
}

#[test]
fn binary_package_is_looked_up_by_its_source_name() {
    let (_t, i) = import();
    let (_d, db) = db_with(vec![i]);
    // libc6 is built from glibc: the tracker, and the index, know only the source.
    assert!(
        db.advisories_for("Debian:bookworm", "libc6")
            .unwrap()
            .is_empty()
    );
    let ids: Vec<String> = db
        .advisories_for("Debian:bookworm", "glibc")
        .unwrap()
        .into_iter()
        .map(|a: Advisory| a.id)
        .collect();
    assert_eq!(
        ids,
        [
            "DEBIAN-CVE-2099-0001",
            "DEBIAN-CVE-2099-0002",
            "DEBIAN-CVE-2099-0003"
        ]
    );
    assert_eq!(
        db.advisories_for("Debian:trixie", "glibc").unwrap().len(),
        1
    );
    let status = db.status().unwrap();
    assert_eq!(status.feeds[0].name, "debian-tracker");
}

#[test]
fn a_distro_record_does_not_overwrite_a_language_record_for_the_same_cve() {
    let (t, i) = import();
    let osv = t.path().join("CVE-2099-0007.json");
    std::fs::write(
        &osv,
        r#"{"id":"CVE-2099-0007","modified":"2026-01-01T00:00:00Z","summary":"urllib3 issue",
            "affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.26.13"}]}]}]}"#,
    )
    .unwrap();
    let o = import_osv(&osv, &Limits::default()).unwrap();
    let (_d, db) = db_with(vec![o, i]);
    let py = db.advisory("CVE-2099-0007").unwrap().unwrap();
    assert_eq!(py.summary, "urllib3 issue");
    assert_eq!(py.affected.len(), 1);
    let deb = db.advisory("DEBIAN-CVE-2099-0007").unwrap().unwrap();
    assert_eq!(deb.aliases, ["CVE-2099-0007"]);
    assert_eq!(deb.affected[0].ecosystem, "Debian:bookworm");
    assert_eq!(db.advisories_for("PyPI", "urllib3").unwrap().len(), 1);
}

#[test]
fn malformed_tracker_files_name_the_file_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("json");
    std::fs::write(&path, "[1, 2]").unwrap();
    let e = import_debian_tracker(&path, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("importing Debian security tracker json: not the tracker's JSON"),
        "{e}"
    );
    std::fs::write(
        &path,
        r#"{"zlib":{"CVE-2099-9":{"releases":{"bookworm":{"status":""}}}}}"#,
    )
    .unwrap();
    let e = import_debian_tracker(&path, &Limits::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "importing Debian security tracker json: zlib/CVE-2099-9: releases.bookworm: status is empty"
    );
    let small = Limits {
        max_total_bytes: 10,
        ..Limits::default()
    };
    std::fs::write(&path, TRACKER).unwrap();
    assert!(import_debian_tracker(&path, &small).is_err());
}
