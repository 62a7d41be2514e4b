//! Importers and the database file on the real feed snapshots in `../shared/feeds`.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use palisade_version::Scheme;
use palisade_vulndb::{
    Database, DatabaseBuilder, DistroStatus, Error, Import, Limits, SeverityKind, Timestamp,
    import_alpine_secdb, import_osv,
};

fn feeds() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feeds");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: feed snapshots not found at {}", dir.display());
        None
    }
}

/// Each snapshot imported once per test binary.
fn snapshots() -> Option<&'static Vec<Import>> {
    static ALL: OnceLock<Option<Vec<Import>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let dir = feeds()?;
        let limits = Limits::default();
        let mut out: Vec<Import> = ["PyPI", "crates.io", "Go"]
            .iter()
            .map(|e| import_osv(&dir.join("osv").join(e).join("all.zip"), &limits).unwrap())
            .collect();
        out.push(import_alpine_secdb(&dir.join("alpine-secdb"), &limits).unwrap());
        Some(out)
    })
    .as_ref()
}

fn zip_json_entries(path: &Path) -> u64 {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .filter(|&i| z.by_index(i).unwrap().name().unwrap().ends_with(".json"))
        .count() as u64
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn osv_snapshots_import_every_record() {
    let (Some(dir), Some(all)) = (feeds(), snapshots()) else {
        return;
    };
    for (import, (eco, readme)) in
        all.iter()
            .zip([("PyPI", 2661), ("crates.io", 1206), ("Go", 4291)])
    {
        let zip = dir.join("osv").join(eco).join("all.zip");
        assert_eq!(import.feed.name, format!("osv/{eco}"));
        assert_eq!(import.feed.records, zip_json_entries(&zip), "{eco}");
        assert_eq!(import.feed.records, readme, "{eco}");
        // The Go files all say `"modified": "0001-01-01T00:00:00Z"`: a placeholder, never the
        // snapshot date.
        let snapshot = import.feed.snapshot.as_ref().expect("snapshot date");
        assert!(
            snapshot.as_str() >= "2020",
            "{eco}: snapshot {}",
            snapshot.as_str()
        );
        assert_eq!(
            import.advisories.len() as u64,
            readme,
            "{eco}: ids are unique"
        );
        let invalid: Vec<_> = import
            .advisories
            .iter()
            .flat_map(|a| &a.affected)
            .filter(|f| !f.is_evaluable())
            .collect();
        assert_eq!(
            invalid.len(),
            import.warnings.len(),
            "{eco}: every unevaluable entry is reported"
        );
        eprintln!(
            "{eco}: {} entries kept unevaluable, e.g. {:?}",
            invalid.len(),
            import.warnings.first()
        );
    }
}

#[test]
fn osv_records_spot_checked() {
    let Some(all) = snapshots() else { return };
    let find = |i: usize, id: &str| {
        all[i]
            .advisories
            .iter()
            .find(|a| a.id == id)
            .unwrap()
            .clone()
    };

    let a = find(0, "PYSEC-2020-342");
    assert_eq!(a.aliases, ["CVE-2020-13921"]);
    assert_eq!(a.modified, Some(ts("2023-11-07T20:24:23.946863Z")));
    assert_eq!(
        a.modified.as_ref().unwrap().as_str(),
        "2023-11-07T20:24:23.946863Z"
    );
    assert_eq!(a.published, Some(ts("2020-08-05T14:15:00Z")));
    assert!(
        a.details
            .as_deref()
            .unwrap()
            .starts_with("**Resolved** Only when using H2/MySQL/TiDB")
    );
    assert_eq!(a.severity[0].kind, SeverityKind::CvssV3);
    assert_eq!(
        a.severity[0].score,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    );
    assert_eq!(a.references.len(), 4);
    assert_eq!(a.provenance[0].feed, "osv/PyPI");
    assert_eq!(a.provenance[0].record, "PYSEC-2020-342.json");
    let f = &a.affected[0];
    assert_eq!(
        (
            f.ecosystem.as_str(),
            f.name.as_str(),
            f.normalized_name.as_str()
        ),
        ("PyPI", "apache-skywalking", "apache-skywalking")
    );
    assert_eq!(f.scheme, Some(Scheme::Pep440));
    assert_eq!(f.versions.versions.len(), 10);
    assert!(
        f.versions
            .evaluate(Scheme::Pep440, "1.0.1")
            .unwrap()
            .is_affected()
    );

    let r = find(1, "RUSTSEC-2016-0001");
    assert_eq!(r.aliases, ["CVE-2016-10931", "GHSA-34p9-f4q3-c4r7"]);
    assert!(r.related.is_empty());
    assert_eq!(
        r.summary,
        "SSL/TLS MitM vulnerability due to insecure defaults"
    );
    assert_eq!(r.affected[0].name, "openssl");
    assert_eq!(r.affected[0].scheme, Some(Scheme::SemverCargo));
    assert!(
        r.affected[0]
            .versions
            .evaluate(Scheme::SemverCargo, "0.8.3")
            .unwrap()
            .is_affected()
    );
    assert!(
        !r.affected[0]
            .versions
            .evaluate(Scheme::SemverCargo, "0.9.0")
            .unwrap()
            .is_affected()
    );

    let g = find(2, "GO-2022-0603");
    assert_eq!(g.summary, "Panic in gopkg.in/yaml.v3");
    assert_eq!(g.modified, Some(ts("0001-01-01T00:00:00Z")));
    assert_eq!(g.affected[0].name, "gopkg.in/yaml.v3");
    assert!(
        !g.affected[0]
            .versions
            .evaluate(Scheme::Go, "3.0.0")
            .unwrap()
            .is_affected()
    );
    assert!(
        g.affected[0]
            .versions
            .evaluate(Scheme::Go, "3.0.0-20220128083000-6b9e8d4b9e25")
            .unwrap()
            .is_affected()
    );

    let withdrawn = all[..3]
        .iter()
        .flat_map(|i| &i.advisories)
        .filter(|a| a.withdrawn.is_some())
        .count();
    assert_eq!(withdrawn, 10 + 13 + 17);
}

#[test]
fn alpine_secdb_snapshot() {
    let Some(all) = snapshots() else { return };
    let alpine = &all[3];
    assert_eq!(alpine.feed.name, "alpine-secdb");
    assert_eq!(alpine.feed.records, 1652, "package entries in the 18 files");
    eprintln!(
        "alpine: {} warnings, e.g. {:?}",
        alpine.warnings.len(),
        alpine.warnings.first()
    );
    assert!(alpine.warnings.iter().any(|w| w.starts_with("importing Alpine secdb v3.10/community.yaml: packages[49] (phpmyadmin): secfixes \"4.8.0.-r1\"")));
    let a = alpine
        .advisories
        .iter()
        .find(|a| a.id == "ALPINE-CVE-2019-14904")
        .unwrap();
    assert_eq!(a.aliases, ["CVE-2019-14904"]);
    let v311 = a
        .affected
        .iter()
        .find(|f| f.ecosystem == "Alpine:v3.11")
        .unwrap();
    assert_eq!(v311.name, "ansible");
    let facts = v311.distro.as_ref().unwrap();
    assert_eq!(
        (facts.release.as_deref(), facts.repository.as_deref()),
        (Some("v3.11"), Some("main"))
    );
    assert_eq!(facts.status, DistroStatus::Fixed);
    assert!(facts.source_package);
    assert!(
        v311.versions
            .evaluate(Scheme::Apk, "2.9.2-r0")
            .unwrap()
            .is_affected()
    );
    assert!(
        !v311
            .versions
            .evaluate(Scheme::Apk, "2.9.3-r0")
            .unwrap()
            .is_affected()
    );
    assert!(
        a.provenance
            .iter()
            .any(|p| p.record == "v3.11/main.yaml: packages[0] (ansible)")
    );
    // v3.8/main.yaml has a `"0"` (not affected) key.
    assert!(
        alpine.advisories.iter().flat_map(|a| &a.affected).any(|f| f
            .distro
            .as_ref()
            .unwrap()
            .status
            == DistroStatus::NotAffected)
    );
}

fn build(path: &Path, imports: &[Import]) -> Result<palisade_vulndb::Status, Error> {
    let mut b = DatabaseBuilder::new(path);
    for i in imports {
        b.add(i.clone(), ts("2026-09-01T00:00:00Z"));
    }
    b.finish()
}

#[test]
fn database_from_all_snapshots() {
    let Some(all) = snapshots() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vuln.db");
    let built = build(&path, all).unwrap();
    let db = Database::open_read_only(&path).unwrap();
    let status = db.status().unwrap();
    assert_eq!(status, built);
    assert_eq!(status.schema_version, palisade_vulndb::SCHEMA_VERSION);
    let names: Vec<_> = status.feeds.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["alpine-secdb", "osv/Go", "osv/PyPI", "osv/crates.io"]
    );
    let newest = all
        .iter()
        .flat_map(|i| &i.advisories)
        .filter_map(|a| a.modified.clone())
        .max();
    assert_eq!(
        status.built, newest,
        "built is the data's newest modified, not the clock"
    );
    let ids: std::collections::BTreeSet<_> = all
        .iter()
        .flat_map(|i| &i.advisories)
        .map(|a| &a.id)
        .collect();
    assert_eq!(status.advisories, ids.len() as u64);

    let found = db.advisories_for("PyPI", "Apache_SkyWalking").unwrap();
    assert!(found.iter().any(|a| a.id == "PYSEC-2020-342"));
    let original = all[0]
        .advisories
        .iter()
        .find(|a| a.id == "PYSEC-2020-342")
        .unwrap();
    assert_eq!(
        found.iter().find(|a| a.id == "PYSEC-2020-342").unwrap(),
        original
    );
    let alpine = db.advisories_for("Alpine:v3.11", "ansible").unwrap();
    assert!(alpine.iter().any(|a| a.id == "ALPINE-CVE-2019-14904"));
    assert!(
        db.advisories_for("Alpine:v3.11", "no-such-package")
            .unwrap()
            .is_empty()
    );
    assert!(
        db.advisories_for("npm", "apache-skywalking")
            .unwrap()
            .is_empty()
    );

    // Same inputs, same bytes.
    let again = tmp.path().join("again.db");
    build(&again, all).unwrap();
    assert!(std::fs::read(&path).unwrap() == std::fs::read(&again).unwrap());
}

#[test]
fn same_id_from_two_feeds_keeps_both_provenances_and_the_newer_record() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = |modified: &str, summary: &str| {
        format!(
            r#"{{"id":"DUP-1","modified":"{modified}","summary":"{summary}","affected":[{{"package":{{"ecosystem":"PyPI","name":"x"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}]}}"#
        )
    };
    let (d1, d2) = (tmp.path().join("one"), tmp.path().join("two"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::write(d1.join("DUP-1.json"), rec("2024-05-01T00:00:00Z", "newer")).unwrap();
    std::fs::write(d2.join("DUP-1.json"), rec("2024-01-01T00:00:00Z", "older")).unwrap();
    let imports = [
        import_osv(&d1, &Limits::default()).unwrap(),
        import_osv(&d2, &Limits::default()).unwrap(),
    ];
    let path = tmp.path().join("v.db");
    build(&path, &imports).unwrap();
    let db = Database::open_read_only(&path).unwrap();
    let a = db.advisory("DUP-1").unwrap().unwrap();
    assert_eq!(a.summary, "newer");
    let feeds: Vec<_> = a.provenance.iter().map(|p| p.feed.as_str()).collect();
    assert_eq!(feeds, ["osv/one", "osv/two"]);
    assert_eq!(db.advisories_for("PyPI", "X").unwrap().len(), 1);
}

/// A small valid feed directory for the database tests that need no snapshot.
fn small_feed(dir: &Path) -> Import {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("T-1.json"),
        r#"{"id":"T-1","modified":"2024-03-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"Foo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2"}]}]}]}"#,
    )
    .unwrap();
    import_osv(dir, &Limits::default()).unwrap()
}

fn corrupt_zip(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(b"PK\x03\x04 this is not really a zip archive")
        .unwrap();
}

#[test]
fn failed_or_abandoned_builds_leave_the_old_database_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let good = small_feed(&tmp.path().join("good"));
    let path = tmp.path().join("vuln.db");
    build(&path, std::slice::from_ref(&good)).unwrap();
    let before = std::fs::read(&path).unwrap();

    // An update whose second feed is a corrupt download fails before finish().
    let bad_dir = tmp.path().join("osv/PyPI");
    std::fs::create_dir_all(&bad_dir).unwrap();
    corrupt_zip(&bad_dir.join("all.zip"));
    let mut b = DatabaseBuilder::new(&path);
    b.add(good.clone(), ts("2026-09-02T00:00:00Z"));
    let e = import_osv(&bad_dir.join("all.zip"), &Limits::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("importing OSV PyPI/all.zip: not a readable zip archive"),
        "{e}"
    );
    drop(b); // the caller gives up, or the process dies here
    assert!(std::fs::read(&path).unwrap() == before);
    let db = Database::open_read_only(&path).unwrap();
    assert_eq!(db.advisories_for("PyPI", "foo").unwrap()[0].id, "T-1");

    // A builder dropped without finish() leaves no file behind and the old one untouched.
    let mut b = DatabaseBuilder::new(&path);
    b.add(good, ts("2026-09-03T00:00:00Z"));
    drop(b);
    assert!(std::fs::read(&path).unwrap() == before);
    let leftovers = std::fs::read_dir(tmp.path()).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".palisade-db-")
    });
    assert_eq!(leftovers.count(), 0);

    // finish() failing (the target is a directory) also leaves nothing behind.
    let dir_target = tmp.path().join("good");
    assert!(DatabaseBuilder::new(&dir_target).finish().is_err());
    assert!(dir_target.join("T-1.json").is_file());
}

#[test]
fn read_only_open_never_modifies_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = small_feed(&tmp.path().join("f"));
    let path = tmp.path().join("vuln.db");
    build(&path, &[feed]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    {
        let db = Database::open_read_only(&path).unwrap();
        db.status().unwrap();
        db.advisories_for("PyPI", "foo").unwrap();
    }
    assert!(std::fs::read(&path).unwrap() == bytes);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.to_string_lossy().contains("-wal")
                || n.to_string_lossy().contains("-journal")),
        "{names:?}"
    );
}

#[test]
fn other_schema_versions_and_non_databases_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema_version', '0');").unwrap();
    }
    let e = Database::open_read_only(&path).unwrap_err().to_string();
    assert!(
        e.contains("has schema version 0") && e.contains("palisade db update"),
        "{e}"
    );
    let not_db = tmp.path().join("notes.txt");
    std::fs::write(&not_db, "hello, not sqlite at all, but long enough to look like a header....................................").unwrap();
    assert!(Database::open_read_only(&not_db).is_err());
    let e = Database::open_read_only(&tmp.path().join("missing.db"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.db"), "{e}");
}

#[test]
fn malformed_osv_inputs_name_the_file_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let f = tmp.path().join("X-1.json");
    std::fs::write(&f, "{ not json").unwrap();
    let e = import_osv(&f, &limits).unwrap_err().to_string();
    assert!(
        e.starts_with("importing OSV X-1.json: X-1.json: not an OSV record:"),
        "{e}"
    );

    let dir = tmp.path().join("events");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("E-1.json"),
        r#"{"id":"E-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"patched":"1.0"}]}]}]}"#,
    )
    .unwrap();
    let e = import_osv(&dir, &limits).unwrap_err().to_string();
    assert!(
        e.starts_with("importing OSV events/: E-1.json: not an OSV record:")
            && e.contains("unknown OSV event key \"patched\""),
        "{e}"
    );

    let zip_dir = tmp.path().join("PyPI");
    std::fs::create_dir_all(&zip_dir).unwrap();
    let bad_version = zip_dir.join("all.zip");
    write_zip(&bad_version, &[("PYSEC-2019-1.json", br#"{"id":"PYSEC-2019-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]},{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0 beta!"}]}]}]}"#)]);
    let import = import_osv(&bad_version, &limits).unwrap();
    assert!(!import.advisories[0].affected[0].is_evaluable());
    let e = &import.warnings[0];
    assert!(e.starts_with("importing OSV PyPI/all.zip: PYSEC-2019-1.json: affected[0].ranges[1]: `fixed` event: invalid PEP 440 version \"1.0 beta!\""), "{e}");
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn a_zip_entry_claiming_a_gigabyte_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Go");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("all.zip");
    write_zip(&path, &[("GO-1.json", b"{}")]);
    // Patch the uncompressed size in the local and central headers to 1 GiB.
    let mut bytes = std::fs::read(&path).unwrap();
    let claim = (1u32 << 30).to_le_bytes();
    let find = |sig: &[u8], bytes: &[u8]| bytes.windows(4).position(|w| w == sig).unwrap();
    let local = find(b"PK\x03\x04", &bytes);
    bytes[local + 22..local + 26].copy_from_slice(&claim);
    let central = find(b"PK\x01\x02", &bytes);
    bytes[central + 24..central + 28].copy_from_slice(&claim);
    std::fs::write(&path, &bytes).unwrap();
    let e = import_osv(&path, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("importing OSV Go/all.zip: GO-1.json: entry claims 1073741824 bytes"),
        "{e}"
    );

    // Too many entries.
    write_zip(
        &path,
        &[("a.json", b"{}"), ("b.json", b"{}"), ("c.json", b"{}")],
    );
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let e = import_osv(&path, &limits).unwrap_err().to_string();
    assert!(e.contains("3 entries, more than the limit of 2"), "{e}");
}
