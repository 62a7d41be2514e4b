//! The one feed-kind detection and import dispatch ([`add_feed`]) on every feed kind, and a
//! whole local import ([`import_feeds`]) without the CLI: real snapshots from
//! `../shared/feeds` where there are some, small generated files for Debian and EPSS.

use std::io::Write;
use std::path::{Path, PathBuf};

use palisade_vulndb::{
    Database, DatabaseBuilder, Error, FeedKind, ImportError, ImportEvent, ImportOptions, Limits,
    Timestamp, add_feed, detect_feed_kind, import_feeds,
};

fn feeds() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feeds");
    assert!(
        dir.is_dir(),
        "the feed snapshots are missing: {}",
        dir.display()
    );
    dir
}

const OSV_RECORD: &str = r#"{"id":"PYSEC-0000-1","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"PyPI","name":"demo"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2"}]}]}]}"#;
const DEBIAN: &str = r#"{"openssl":{"CVE-2024-1":{"description":"d","releases":{"bookworm":{"status":"open","repositories":{"bookworm":"3.0.11-1"}}}}},"zlib":{"CVE-2024-2":{"releases":{}}}}"#;
const EPSS: &str = "#model_version:v2025.03.14,score_date:2025-08-21T12:55:00Z\n\
cve,epss,percentile\nCVE-2025-48384,0.84,0.99\nCVE-1999-0001,0.0123,0.45\n";

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn now() -> Timestamp {
    Timestamp::parse("2026-10-21T07:28:00Z").unwrap()
}

/// Every kind is told from its input and lands in its own table: the feed is recorded under
/// its name with its records, and its data reads back.
#[test]
fn every_feed_kind_is_detected_and_imported_into_its_table() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let shared = feeds();
    let cases: Vec<(PathBuf, FeedKind, &str)> = vec![
        (shared.join("osv/PyPI/all.zip"), FeedKind::Osv, "osv/PyPI"),
        (
            shared.join("osv/crates.io/all.zip"),
            FeedKind::Osv,
            "osv/crates.io",
        ),
        (
            write(&t.join("osv-dir/PYSEC-0000-1.json"), OSV_RECORD.as_bytes())
                .parent()
                .unwrap()
                .to_path_buf(),
            FeedKind::Osv,
            "osv",
        ),
        (
            write(&t.join("one/PYSEC-0000-1.json"), OSV_RECORD.as_bytes()),
            FeedKind::Osv,
            "osv",
        ),
        (shared.join("alpine-secdb"), FeedKind::Alpine, "alpine"),
        (
            shared.join("alpine-secdb/v3.10/main.yaml"),
            FeedKind::Alpine,
            "alpine",
        ),
        (
            write(&t.join("debian/data.json"), DEBIAN.as_bytes()),
            FeedKind::Debian,
            "debian-tracker",
        ),
        (
            shared.join("nvd/nvdcve-2.0-excerpt.json"),
            FeedKind::Nvd,
            "nvd",
        ),
        (
            shared.join("kev/known_exploited_vulnerabilities.json"),
            FeedKind::Kev,
            "cisa-kev",
        ),
        (
            write(&t.join("epss/epss.csv"), EPSS.as_bytes()),
            FeedKind::Epss,
            "epss",
        ),
        (
            write(&t.join("epss/epss.csv.gz"), &gzip(EPSS.as_bytes())),
            FeedKind::Epss,
            "epss",
        ),
    ];
    let limits = Limits::default();
    for (i, (path, kind, name)) in cases.iter().enumerate() {
        assert_eq!(
            detect_feed_kind(path, &limits).unwrap(),
            *kind,
            "{}",
            path.display()
        );
        let db = t.join(format!("db-{i}.db"));
        let mut builder = DatabaseBuilder::new(&db);
        let source = format!("cache/{i}");
        let added = add_feed(&mut builder, path, Some(&source), &limits, &now()).unwrap();
        assert_eq!(added.kind, *kind, "{}", path.display());
        assert!(
            added.feed.name.starts_with(name),
            "{}: {}",
            path.display(),
            added.feed.name
        );
        assert!(added.feed.records > 0, "{}", path.display());
        assert_eq!(added.feed.source, source);
        let status = builder.finish().unwrap();
        let recorded = status
            .feeds
            .iter()
            .find(|f| f.name == added.feed.name)
            .unwrap_or_else(|| panic!("{}: {:?}", path.display(), status.feeds));
        assert_eq!(recorded.records, added.feed.records);
        assert_eq!(recorded.source, source);
        assert_eq!(recorded.imported_at, now());

        // The data went where its kind belongs.
        let db = Database::open_read_only(&db).unwrap();
        match kind {
            FeedKind::Osv | FeedKind::Alpine | FeedKind::Debian => {
                assert!(status.advisories > 0, "{}", path.display());
            }
            FeedKind::Kev => {
                assert_eq!(status.advisories, 0);
                let e = db.enrichment("CVE-2025-48384").unwrap().unwrap();
                assert!(e.kev.is_some(), "{e:?}");
            }
            FeedKind::Epss => {
                assert_eq!(status.advisories, 0);
                let e = db.enrichment("CVE-2025-48384").unwrap().unwrap();
                assert_eq!(e.epss.unwrap().score, 0.84);
            }
            FeedKind::Nvd => {
                assert_eq!(status.advisories, 0);
                let e = db.enrichment("CVE-2019-19844").unwrap().unwrap();
                assert!(!e.cvss.is_empty(), "{e:?}");
            }
            _ => unreachable!("a kind this test does not know"),
        }
    }
}

/// A file of no known kind, a FIFO, and a feed its importer refuses: each names the input, and
/// tells detection apart from import.
#[test]
fn unknown_and_broken_inputs_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let mut builder = DatabaseBuilder::new(&tmp.path().join("vuln.db"));

    let txt = write(&tmp.path().join("notes.txt"), b"hello");
    let e = add_feed(&mut builder, &txt, None, &limits, &now()).unwrap_err();
    assert!(
        matches!(&e, ImportError::Db(Error::UnknownKind { path, .. }) if path == &txt),
        "{e:?}"
    );
    assert!(e.to_string().contains("notes.txt"), "{e}");

    let fifo = tmp.path().join("feed.json");
    nix_mkfifo(&fifo);
    let e = add_feed(&mut builder, &fifo, None, &limits, &now()).unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");

    // A `.zip` that is not one: detected as OSV, refused by the importer, naming the file.
    let zip = write(
        &tmp.path().join("osv/PyPI/all.zip"),
        b"PK\x03\x04 truncated",
    );
    let e = add_feed(&mut builder, &zip, None, &limits, &now()).unwrap_err();
    let ImportError::Feed { path, source } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(path, &zip);
    assert_eq!(e.to_string(), format!("importing {}", zip.display()));
    assert!(
        std::error::Error::source(&e).is_some(),
        "the importer's reason is the source: {source}"
    );
}

fn nix_mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `import_feeds`: writes the inputs, reports a stale temporary file it removed, refuses to
/// drop a feed unless allowed, keeps the other feeds with `add`, and says when the previous
/// database cannot be read.
#[test]
fn a_local_import_replaces_adds_and_refuses_to_shrink() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("data/vuln.db");
    let shared = feeds();
    let pypi = shared.join("osv/PyPI/all.zip");
    let kev = shared.join("kev/known_exploited_vulnerabilities.json");
    let mut events = Vec::new();

    // First import into a directory that does not exist yet.
    let report = import_feeds(
        &db,
        &[pypi.clone(), kev.clone()],
        &ImportOptions::default(),
        &mut |e| {
            if !matches!(e, ImportEvent::Importing { .. }) {
                events.push(format!("{e:?}"));
            }
        },
    )
    .unwrap();
    assert!(events.is_empty(), "{events:?}");
    let names: Vec<&str> = report
        .feeds
        .iter()
        .map(|(_, a)| a.feed.name.as_str())
        .collect();
    assert_eq!(names, ["osv/PyPI", "cisa-kev"]);
    assert_eq!(report.feeds[0].0, pypi);
    assert_eq!(report.kept, None);
    assert_eq!(report.status.feeds.len(), 2);
    assert!(report.status.advisories > 2000);
    let full = std::fs::read(&db).unwrap();

    // A stale temporary file of this database is removed and reported.
    let stale = tmp.path().join("data/.palisade-db-vuln.db.Ab12Cd.tmp");
    std::fs::write(&stale, b"partial").unwrap();
    // Only KEV, without `add`: PyPI would be dropped, so it is refused and nothing changes.
    let e = import_feeds(
        &db,
        std::slice::from_ref(&kev),
        &ImportOptions::default(),
        &mut |e| {
            let ImportEvent::RemovedTempFile(p) = e else {
                assert!(matches!(e, ImportEvent::Importing { .. }), "{e:?}");
                return;
            };
            events.push(p.display().to_string());
        },
    )
    .unwrap_err();
    assert_eq!(events, [stale.display().to_string()]);
    assert!(!stale.exists());
    assert!(
        matches!(&e, ImportError::Db(Error::Shrink { losses, .. })
            if losses.iter().any(|l| l.contains("osv/PyPI"))),
        "{e:?}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), full);

    // With `add`, PyPI is kept and KEV replaced.
    let options = ImportOptions {
        add: true,
        ..ImportOptions::default()
    };
    let report = import_feeds(&db, std::slice::from_ref(&kev), &options, &mut |_| {}).unwrap();
    assert_eq!(report.kept, Some(vec!["osv/PyPI".to_owned()]));
    assert_eq!(report.status.feeds.len(), 2);

    // With `allow_shrink`, PyPI is dropped on purpose.
    let options = ImportOptions {
        allow_shrink: true,
        ..ImportOptions::default()
    };
    let report = import_feeds(&db, std::slice::from_ref(&kev), &options, &mut |_| {}).unwrap();
    assert_eq!(report.status.feeds.len(), 1);

    // An unreadable previous database with `add`: refused, naming it.
    std::fs::write(&db, b"not a database").unwrap();
    let options = ImportOptions {
        add: true,
        ..ImportOptions::default()
    };
    let e = import_feeds(&db, std::slice::from_ref(&kev), &options, &mut |_| {}).unwrap_err();
    assert!(
        matches!(&e, ImportError::Previous { path, .. } if path == &db),
        "{e:?}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), b"not a database");

    // A bad input fails the whole import and names it.
    let bad = write(&tmp.path().join("bad.txt"), b"x");
    let e = import_feeds(
        &db,
        &[kev, bad.clone()],
        &ImportOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("bad.txt"), "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), b"not a database");
}
