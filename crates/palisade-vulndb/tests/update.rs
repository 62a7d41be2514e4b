//! `palisade_vulndb::update` without the CLI, against a small HTTP/1.1 server on 127.0.0.1
//! that this test starts and stops, serving `../shared/feeds` files in the upstream layout:
//! downloads, conditional requests, staging, the rebuild and the monotonic check, and the
//! writers' lock. (Deadlines and redirects are the HTTP client's; the CLI tests cover them.)

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use palisade_vulndb::update::{
    Download, FetchError, UpdateError, UpdateEvent, UpdateOptions, UpdateReport, update,
};
use palisade_vulndb::{Database, Error, ImportError, WriteLock};

const LAST_MODIFIED: &str = "Wed, 21 Oct 2026 07:28:00 GMT";
const ZIP: &str = "osv/crates.io/all.zip";
const KEV: &str = "kev/known_exploited_vulnerabilities.json";
/// A zip with no entries: a valid, empty OSV export.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn feeds() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feeds");
    assert!(
        dir.is_dir(),
        "the feed snapshots are missing: {}",
        dir.display()
    );
    dir
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    status: u16,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Paths answered with a 200 declaring this length, and no body.
    declared: HashMap<String, u64>,
    seen: Vec<Seen>,
}

struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn etag(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("\"{:016x}-{}\"", h.finish(), bytes.len())
}

impl Server {
    fn start(files: &[&str]) -> Self {
        let mut state = State::default();
        for rel in files {
            state
                .files
                .insert((*rel).to_owned(), std::fs::read(feeds().join(rel)).unwrap());
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = state.clone();
                            std::thread::spawn(move || {
                                let _ = handle(stream, &state);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }

    fn set(&self, rel: &str, bytes: Option<Vec<u8>>) {
        let mut s = self.state.lock().unwrap();
        match bytes {
            Some(b) => s.files.insert(rel.to_owned(), b),
            None => s.files.remove(rel),
        };
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let (body, declared) = {
        let s = state.lock().unwrap();
        (s.files.get(&path).cloned(), s.declared.get(&path).copied())
    };
    let (status, head, body) = match (body, declared) {
        (_, Some(len)) => (200, format!("Content-Length: {len}\r\n"), Vec::new()),
        (None, None) => (404, "Content-Length: 0\r\n".to_owned(), Vec::new()),
        (Some(b), None) => {
            let tag = etag(&b);
            if headers.get("if-none-match") == Some(&tag) {
                (
                    304,
                    format!("ETag: {tag}\r\nContent-Length: 0\r\n"),
                    Vec::new(),
                )
            } else {
                (
                    200,
                    format!(
                        "ETag: {tag}\r\nLast-Modified: {LAST_MODIFIED}\r\nContent-Length: {}\r\n",
                        b.len()
                    ),
                    b,
                )
            }
        }
    };
    state.lock().unwrap().seen.push(Seen {
        path,
        headers,
        status,
    });
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\n{head}Connection: close\r\n\r\n"
    )?;
    out.write_all(&body)?;
    out.flush()
}

fn options(server: &Server, feeds: &[&str]) -> UpdateOptions {
    UpdateOptions {
        feeds: feeds.iter().map(|f| (*f).to_owned()).collect(),
        mirror: Some(server.url()),
        ..UpdateOptions::default()
    }
}

/// Runs an update, collecting its events as text.
fn run(db: &Path, options: &UpdateOptions) -> (Result<UpdateReport, UpdateError>, Vec<String>) {
    let mut events = Vec::new();
    let result = update(db, options, &mut |e| {
        if matches!(
            e,
            UpdateEvent::Downloading { .. } | UpdateEvent::Importing { .. }
        ) {
            return;
        }
        events.push(match e {
            UpdateEvent::RemovedTempFile(p) => format!("removed temp {}", p.display()),
            UpdateEvent::RemovedStaging(p) => format!("removed staging {}", p.display()),
            UpdateEvent::Downloaded { file, bytes } => format!("downloaded {} {bytes}", file.rel),
            UpdateEvent::NotModified { file } => format!("not modified {}", file.rel),
            UpdateEvent::Failed { file, error } => format!("failed {}: {error}", file.rel),
            _ => format!("{e:?}"),
        });
    });
    (result, events)
}

fn feed_names(db: &Path) -> Vec<String> {
    let status = Database::open_read_only(db).unwrap().status().unwrap();
    status.feeds.into_iter().map(|f| f.name).collect()
}

/// Hidden entries (staging directories) left in the cache.
fn hidden(cache: &Path) -> Vec<String> {
    std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn an_update_downloads_then_revalidates_then_refreshes_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vuln.db");
    let cache = dir.path().join("vuln.db.feeds");
    let server = Server::start(&[ZIP, KEV]);
    let opts = options(&server, &["osv/crates.io", "kev"]);
    let sizes: Vec<u64> = [ZIP, KEV]
        .iter()
        .map(|r| std::fs::metadata(feeds().join(r)).unwrap().len())
        .collect();

    // (1) Plain GETs, both downloaded, the database built, the cache holds them with
    // their validators, and no staging directory is left.
    let (report, events) = run(&db, &opts);
    let report = report.unwrap();
    assert_eq!(
        events,
        [
            format!("downloaded {ZIP} {}", sizes[0]),
            format!("downloaded {KEV} {}", sizes[1]),
        ]
    );
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.status == 200 && !s.headers.contains_key("if-none-match")),
        "{seen:?}"
    );
    for ((file, download), rel) in report.downloads.iter().zip([ZIP, KEV]) {
        assert_eq!(file.rel, rel);
        assert_eq!(file.url, format!("{}/{rel}", server.url()));
        let bytes = std::fs::read(feeds().join(rel)).unwrap();
        assert_eq!(
            download,
            &Download::Downloaded {
                bytes: bytes.len() as u64,
                etag: Some(etag(&bytes)),
                last_modified: Some(LAST_MODIFIED.to_owned()),
            }
        );
        assert_eq!(std::fs::read(cache.join(rel)).unwrap(), bytes);
        let tag = std::fs::read_to_string(cache.join(format!("{rel}.etag"))).unwrap();
        assert_eq!(tag.trim(), etag(&bytes));
    }
    let rebuilt = report.rebuilt.unwrap();
    assert_eq!(rebuilt.refreshed(), ["cisa-kev", "osv/crates.io"]);
    assert!(rebuilt.from_cache().is_empty());
    assert!(rebuilt.kept.is_empty());
    assert!(rebuilt.previous_unreadable.is_none());
    assert_eq!(rebuilt.feeds[0].rel, KEV);
    assert_eq!(
        rebuilt.feeds[0].added.feed.source,
        cache.join(KEV).display().to_string()
    );
    assert!(rebuilt.status.advisories > 1000);
    assert_eq!(feed_names(&db), ["cisa-kev", "osv/crates.io"]);
    assert!(hidden(&cache).is_empty(), "{:?}", hidden(&cache));
    let first = std::fs::read(&db).unwrap();

    // (2) Only conditional requests, nothing rebuilt, the database untouched.
    let (report, events) = run(&db, &opts);
    let report = report.unwrap();
    assert_eq!(
        events,
        [format!("not modified {ZIP}"), format!("not modified {KEV}")]
    );
    assert!(report.rebuilt.is_none());
    for s in server.take_seen() {
        assert_eq!(s.status, 304, "{s:?}");
        let cached = std::fs::read(cache.join(&s.path)).unwrap();
        assert_eq!(s.headers.get("if-none-match"), Some(&etag(&cached)));
        assert_eq!(
            s.headers.get("if-modified-since").map(String::as_str),
            Some(LAST_MODIFIED)
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), first);

    // (3) KEV changes upstream: only it is downloaded; the zip comes from the cache.
    let mut kev = std::fs::read(feeds().join(KEV)).unwrap();
    kev.extend_from_slice(b"\n");
    server.set(KEV, Some(kev.clone()));
    let (report, events) = run(&db, &opts);
    let rebuilt = report.unwrap().rebuilt.unwrap();
    assert_eq!(
        events,
        [
            format!("not modified {ZIP}"),
            format!("downloaded {KEV} {}", kev.len())
        ]
    );
    assert_eq!(rebuilt.refreshed(), ["cisa-kev"]);
    assert_eq!(rebuilt.from_cache(), ["osv/crates.io"]);
    assert_eq!(std::fs::read(cache.join(KEV)).unwrap(), kev);
}

#[test]
fn failures_leave_the_database_and_the_cache_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vuln.db");
    let cache = dir.path().join("vuln.db.feeds");
    let server = Server::start(&[ZIP, KEV]);
    let opts = options(&server, &["osv/crates.io", "kev"]);
    run(&db, &opts).0.unwrap();
    let db_before = std::fs::read(&db).unwrap();
    let zip_before = std::fs::read(cache.join(ZIP)).unwrap();
    let unchanged = |what: &str| {
        assert_eq!(std::fs::read(&db).unwrap(), db_before, "{what}: database");
        assert_eq!(
            std::fs::read(cache.join(ZIP)).unwrap(),
            zip_before,
            "{what}: cache"
        );
        assert!(hidden(&cache).is_empty(), "{what}: {:?}", hidden(&cache));
    };

    // A truncated zip: downloaded, refused on import naming the feed file.
    let mut truncated = zip_before.clone();
    truncated.truncate(truncated.len() / 2);
    server.set(ZIP, Some(truncated));
    let e = run(&db, &opts).0.unwrap_err();
    let UpdateError::Import {
        rel, source, db: d, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((rel.as_str(), d), (ZIP, &db));
    assert!(
        matches!(source.as_ref(), ImportError::Feed { .. }),
        "{source:?}"
    );
    assert!(e.to_string().contains("was not changed"), "{e}");
    unchanged("truncated zip");

    // A 404: reported as it happens, then the whole update fails.
    server.set(ZIP, None);
    let (result, events) = run(&db, &opts);
    let e = result.unwrap_err();
    let UpdateError::Downloads {
        failures, total, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*total, 2);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0.rel, ZIP);
    assert!(
        matches!(&failures[0].1, FetchError::Status { status: 404, url, .. } if url.ends_with(ZIP)),
        "{failures:?}"
    );
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].starts_with(&format!("failed {ZIP}: GET ")),
        "{events:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "1 of 2 feed downloads failed; the database {} was not changed",
            db.display()
        )
    );
    unchanged("404");

    // A declared length over the cap: refused before the body is read.
    server
        .state
        .lock()
        .unwrap()
        .declared
        .insert(ZIP.to_owned(), 3 << 30);
    let e = run(&db, &opts).0.unwrap_err();
    let UpdateError::Downloads { failures, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(
        matches!(
            &failures[0].1,
            FetchError::DeclaredTooLarge { declared, .. } if *declared == 3 << 30
        ),
        "{failures:?}"
    );
    unchanged("too large");
    server.state.lock().unwrap().declared.clear();

    // An empty but valid export would shrink the feed to nothing: refused unless allowed.
    server.set(ZIP, Some(EMPTY_ZIP.to_vec()));
    let e = run(&db, &opts).0.unwrap_err();
    assert!(
        matches!(&e, UpdateError::Db(Error::Shrink { losses, .. })
            if losses.iter().any(|l| l.contains("osv/crates.io"))),
        "{e:?}"
    );
    unchanged("shrink");
    let allow = UpdateOptions {
        allow_shrink: true,
        ..opts.clone()
    };
    let rebuilt = run(&db, &allow).0.unwrap().rebuilt.unwrap();
    let zip = rebuilt
        .feeds
        .iter()
        .find(|f| f.rel == ZIP)
        .expect("the zip was imported");
    assert_eq!(zip.added.feed.records, 0);
    assert_eq!(std::fs::read(cache.join(ZIP)).unwrap(), EMPTY_ZIP);
}

#[test]
fn the_writers_lock_keeps_a_second_writer_out_and_the_next_run_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vuln.db");
    let cache = dir.path().join("vuln.db.feeds");
    let server = Server::start(&[KEV]);
    let opts = options(&server, &["kev"]);
    run(&db, &opts).0.unwrap();
    server.take_seen();
    let staging = cache.join(".staging-4194304");
    std::fs::create_dir_all(staging.join("kev")).unwrap();
    std::fs::write(staging.join(KEV), b"partial").unwrap();

    let lock = WriteLock::acquire(&db).unwrap();
    let (result, events) = run(&db, &opts);
    let e = result.unwrap_err();
    assert!(matches!(e, UpdateError::Db(Error::Locked { .. })), "{e:?}");
    assert!(events.is_empty(), "{events:?}");
    assert!(staging.exists(), "the holder's files are untouched");
    assert!(
        server.take_seen().is_empty(),
        "nothing fetched while locked"
    );

    drop(lock);
    let (result, events) = run(&db, &opts);
    assert!(result.unwrap().rebuilt.is_none());
    assert_eq!(
        events,
        [
            format!("removed staging {}", staging.display()),
            format!("not modified {KEV}")
        ]
    );
    assert!(!staging.exists());
}

#[test]
fn bad_names_and_urls_are_refused_before_anything_is_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vuln.db");
    let server = Server::start(&[KEV]);
    for (feeds, want) in [
        (vec!["nope"], "unknown feed \"nope\""),
        (vec!["osv/.."], "bad feed name \"osv/..\""),
        (vec![" "], "no feeds given"),
    ] {
        let e = run(&db, &options(&server, &feeds)).0.unwrap_err();
        assert!(e.to_string().starts_with(want), "{e}");
    }
    // Plain HTTP to a host that is not loopback (TEST-NET-1, never connected to).
    let opts = UpdateOptions {
        feeds: vec!["kev".into()],
        mirror: Some("http://192.0.2.1".into()),
        ..UpdateOptions::default()
    };
    let e = run(&db, &opts).0.unwrap_err();
    let UpdateError::RefusedUrl { url, reason } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(url, &format!("http://192.0.2.1/{KEV}"));
    assert!(reason.contains("plain HTTP"), "{reason}");
    assert!(server.take_seen().is_empty());
    assert!(!db.exists());
    assert!(!dir.path().join("vuln.db.feeds").exists());
}
