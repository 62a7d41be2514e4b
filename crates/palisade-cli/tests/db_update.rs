//! `palisade db update` against a local HTTP mirror serving a subset of `../shared/feeds` in the
//! upstream layout (issue 3, acceptance 3): the first update downloads, the second makes only
//! conditional requests, a corrupt zip fails naming the feed and keeps the old database, and a
//! `kill -9` mid-download leaves the old database and feed cache intact.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const LAST_MODIFIED: &str = "Wed, 21 Oct 2026 07:28:00 GMT";
const SUBSET: &[&str] = &[
    "osv/PyPI/all.zip",
    "osv/crates.io/all.zip",
    "kev/known_exploited_vulnerabilities.json",
];

fn feeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feeds")
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
    seen: Vec<Seen>,
    /// Paths whose body is sent half-way, then the connection stalls.
    stall: Vec<String>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 serving `State::files`.
struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

impl Server {
    fn start(root: &Path) -> Self {
        let mut state = State::default();
        for rel in SUBSET {
            state
                .files
                .insert((*rel).to_owned(), std::fs::read(root.join(rel)).unwrap());
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, stalled) = (state.clone(), stop.clone(), stalled.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (state, stop, stalled) =
                                (state.clone(), stop.clone(), stalled.clone());
                            std::thread::spawn(move || {
                                let _ = handle(stream, &state, &stop, &stalled);
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
            stalled,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Takes the requests seen so far.
    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
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

fn handle(
    stream: TcpStream,
    state: &Mutex<State>,
    stop: &AtomicBool,
    stalled: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts
        .next()
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
    let mut out = stream;
    let (body, stall) = {
        let s = state.lock().unwrap();
        (s.files.get(&path).cloned(), s.stall.contains(&path))
    };
    let (status, head, body) = match body {
        _ if method != "GET" => (405, String::new(), Vec::new()),
        None => (404, String::new(), Vec::new()),
        Some(b) => {
            let tag = etag(&b);
            if !stall && headers.get("if-none-match") == Some(&tag) {
                (304, format!("ETag: {tag}\r\n"), Vec::new())
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
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let content_length = if status == 200 {
        String::new()
    } else {
        "Content-Length: 0\r\n".to_owned()
    };
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\n{head}{content_length}Connection: close\r\n\r\n"
    )?;
    if stall {
        out.write_all(&body[..body.len() / 2])?;
        out.flush()?;
        stalled.store(true, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        return Ok(());
    }
    out.write_all(&body)?;
    out.flush()
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("vuln.db")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
        c.args(args)
            .env_remove("PALISADE_MIRROR")
            .env_remove("PALISADE_DB")
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("NO_PROXY", "*")
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn update(&self, server: &Server) -> Output {
        let db = self.db().display().to_string();
        self.run(&[
            "db",
            "update",
            "--db",
            &db,
            "--mirror",
            &server.url(),
            "--feeds",
            "osv/PyPI,osv/crates.io,kev",
        ])
    }
    fn status(&self) -> Output {
        let db = self.db().display().to_string();
        self.run(&["db", "status", "--db", &db, "--format", "json"])
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn statuses(seen: &[Seen]) -> Vec<(String, u16)> {
    let mut v: Vec<_> = seen.iter().map(|s| (s.path.clone(), s.status)).collect();
    v.sort();
    v
}

fn feed_names(status: &Output) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    v["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn update_downloads_then_revalidates_and_keeps_the_db_on_a_corrupt_zip() {
    let env = Env::new();
    let server = Server::start(&feeds());

    // (1) First update: three plain GETs, three 200s.
    let out = env.update(&server);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert_eq!(err.matches("downloaded").count(), 3, "{err}");
    let seen = server.take_seen();
    let mut want: Vec<(String, u16)> = SUBSET.iter().map(|p| ((*p).to_owned(), 200)).collect();
    want.sort();
    assert_eq!(statuses(&seen), want);
    assert!(
        seen.iter().all(|s| !s.headers.contains_key("if-none-match")
            && !s.headers.contains_key("if-modified-since")),
        "{seen:?}"
    );
    let status = env.status();
    assert_ok(&status);
    let names = feed_names(&status);
    assert_eq!(names.len(), 3, "{names:?}");
    let joined = names.join(" ").to_lowercase();
    assert!(joined.contains("pypi"), "{names:?}");
    assert!(joined.contains("crates.io"), "{names:?}");
    assert!(
        joined.contains("kev") || joined.contains("known_exploited"),
        "{names:?}"
    );
    // The cache mirrors the layout, with validators.
    let cache = env.dir.path().join("vuln.db.feeds");
    for rel in SUBSET {
        let cached = std::fs::read(cache.join(rel)).unwrap();
        assert_eq!(cached, std::fs::read(feeds().join(rel)).unwrap(), "{rel}");
        let tag = std::fs::read_to_string(cache.join(format!("{rel}.etag"))).unwrap();
        assert_eq!(tag.trim(), etag(&cached));
        let lm = std::fs::read_to_string(cache.join(format!("{rel}.last-modified"))).unwrap();
        assert_eq!(lm.trim(), LAST_MODIFIED);
    }
    let db_after_first = std::fs::read(env.db()).unwrap();

    // (2) Second update: only conditional requests, three 304s; the DB is still valid.
    let out = env.update(&server);
    assert_ok(&out);
    assert_eq!(text(&out.stderr).matches("not modified").count(), 3);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for s in &seen {
        assert_eq!(s.status, 304, "{s:?}");
        let cached = std::fs::read(cache.join(&s.path)).unwrap();
        assert_eq!(
            s.headers.get("if-none-match"),
            Some(&etag(&cached)),
            "{s:?}"
        );
        assert_eq!(
            s.headers.get("if-modified-since").map(String::as_str),
            Some(LAST_MODIFIED)
        );
    }
    assert_eq!(std::fs::read(env.db()).unwrap(), db_after_first);
    let status = env.status();
    assert_ok(&status);
    assert_eq!(feed_names(&status).len(), 3);

    // (3) A truncated PyPI zip upstream: exit 2 naming the feed; the DB is untouched and usable.
    {
        let mut s = server.state.lock().unwrap();
        let zip = s.files.get_mut("osv/PyPI/all.zip").unwrap();
        zip.truncate(zip.len() / 2);
    }
    let out = env.update(&server);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("osv/PyPI"), "{err}");
    assert!(err.contains("not changed"), "{err}");
    let seen = server.take_seen();
    assert!(
        seen.iter()
            .any(|s| s.path == "osv/PyPI/all.zip" && s.status == 200),
        "{seen:?}"
    );
    assert_eq!(std::fs::read(env.db()).unwrap(), db_after_first);
    // The corrupt download did not replace the cached feed.
    assert_eq!(
        std::fs::read(cache.join("osv/PyPI/all.zip")).unwrap(),
        std::fs::read(feeds().join("osv/PyPI/all.zip")).unwrap()
    );
    let status = env.status();
    assert_ok(&status);
    assert_eq!(feed_names(&status).len(), 3);
    // ...and a scan against it still works and finds an old Django's advisories.
    let sbom = env.dir.path().join("app.cdx.json");
    std::fs::write(
        &sbom,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
            "components":[{"type":"library","name":"Django","version":"1.11",
            "purl":"pkg:pypi/django@1.11","bom-ref":"django"}]}"#,
    )
    .unwrap();
    let db = env.db().display().to_string();
    let out = env.run(&[
        "scan",
        &format!("sbom:{}", sbom.display()),
        "--db",
        &db,
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let report = text(&out.stdout);
    assert!(
        report.contains("PYSEC-") || report.contains("GHSA-"),
        "{report}"
    );
}

#[test]
fn kill_9_during_an_update_keeps_the_previous_db_and_cache() {
    let env = Env::new();
    let server = Server::start(&feeds());
    assert_ok(&env.update(&server));
    server.take_seen();
    let db_before = std::fs::read(env.db()).unwrap();
    let cache = env.dir.path().join("vuln.db.feeds");
    let cached_before = std::fs::read(cache.join("osv/PyPI/all.zip")).unwrap();

    // The PyPI body stalls half-way; kill the updater while it waits for the rest.
    server
        .state
        .lock()
        .unwrap()
        .stall
        .push("osv/PyPI/all.zip".to_owned());
    let db = env.db().display().to_string();
    let mut child = env
        .cmd(&[
            "db",
            "update",
            "--db",
            &db,
            "--mirror",
            &server.url(),
            "--feeds",
            "osv/PyPI,osv/crates.io,kev",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.stalled.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the update never reached the stall"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    assert_eq!(std::fs::read(env.db()).unwrap(), db_before);
    assert_eq!(
        std::fs::read(cache.join("osv/PyPI/all.zip")).unwrap(),
        cached_before
    );
    let out = env.status();
    assert_ok(&out);
    assert_eq!(feed_names(&out).len(), 3);

    // The next run cleans up the killed run's staging directory and revalidates normally.
    server.state.lock().unwrap().stall.clear();
    let out = env.update(&server);
    assert_ok(&out);
    let seen = server.take_seen();
    assert!(
        seen.iter()
            .all(|s| s.status == 304 || s.path == "osv/PyPI/all.zip")
    );
    let left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(std::fs::read(env.db()).unwrap(), db_before);
}
