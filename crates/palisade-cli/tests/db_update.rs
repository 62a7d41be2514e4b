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

#[path = "common/pty.rs"]
mod pty;

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
    assert_eq!(err.matches(": downloaded ").count(), 3, "{err}");
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

// ----- issue 13 and 12: deadlines, redirects, monotonic updates, the writers' lock -----

/// The smallest valid zip: an end-of-central-directory record and no entries.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// A loopback server that hands every connection, after its request head, to `respond`
/// (with the request path and a stop flag it must honour).
struct Scripted {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(respond: fn(&str, &mut TcpStream, &AtomicBool)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let stop = stop.clone();
                            std::thread::spawn(move || {
                                let _ = stream.set_nonblocking(false);
                                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                                let Ok(clone) = stream.try_clone() else {
                                    return;
                                };
                                let mut reader = BufReader::new(clone);
                                let mut line = String::new();
                                if reader.read_line(&mut line).is_err() {
                                    return;
                                }
                                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                                loop {
                                    let mut h = String::new();
                                    match reader.read_line(&mut h) {
                                        Ok(0) | Err(_) => break,
                                        Ok(_) if h.trim().is_empty() => break,
                                        Ok(_) => {}
                                    }
                                }
                                respond(&path, &mut stream, &stop);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// 13.4: a mirror that sends one byte at a time keeps no download alive past its deadline;
/// the error names the URL and the deadline, and nothing is written.
#[test]
fn issue_13_4_a_trickling_mirror_hits_the_total_deadline() {
    let env = Env::new();
    let server = Scripted::start(|_, stream, stop| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
        );
        // Bounded: the client hangs up at its deadline, or the test stops the server.
        for _ in 0..100_000 {
            if stop.load(Ordering::SeqCst) || stream.write_all(b"{").is_err() {
                return;
            }
            let _ = stream.flush();
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let db = env.db().display().to_string();
    let out = env.run(&[
        "db",
        "update",
        "--db",
        &db,
        "--mirror",
        &server.url(),
        "--feeds",
        "kev",
        "--http-timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let url = format!("{}/kev/known_exploited_vulnerabilities.json", server.url());
    assert!(err.contains(&url), "{err}");
    assert!(
        err.contains("no complete response within the 1s deadline"),
        "{err}"
    );
    assert!(err.contains("--http-timeout"), "{err}");
    assert!(err.contains("not changed"), "{err}");
    assert!(!env.db().exists());

    // The environment variable sets it too, and a bad value is refused naming it.
    let out = env
        .cmd(&[
            "db",
            "update",
            "--db",
            &db,
            "--mirror",
            &server.url(),
            "--feeds",
            "kev",
        ])
        .env("PALISADE_HTTP_TIMEOUT", "1s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("1s deadline"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["db", "update", "--db", &db, "--http-timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a duration"),
        "{}",
        text(&out.stderr)
    );
}

/// 13.10: a loopback mirror redirecting to plain HTTP on another host is refused before
/// anything is sent there (192.0.2.1 is TEST-NET-1: never connected to), as the same URL
/// given directly is; a CA file that is not one is refused naming it.
#[test]
fn issue_13_10_a_redirect_to_plain_http_elsewhere_is_refused() {
    let env = Env::new();
    let server = Scripted::start(|path, stream, _| {
        let _ = write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    });
    let db = env.db().display().to_string();
    let out = env.run(&[
        "db",
        "update",
        "--db",
        &db,
        "--mirror",
        &server.url(),
        "--feeds",
        "kev",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("refusing a redirect"), "{err}");
    assert!(
        err.contains("http://192.0.2.1/kev/known_exploited_vulnerabilities.json"),
        "{err}"
    );
    assert!(
        err.contains("plain HTTP to 192.0.2.1 is not allowed"),
        "{err}"
    );
    assert!(!env.db().exists());

    // The same rule as for the URL given directly.
    let out = env.run(&[
        "db",
        "update",
        "--db",
        &db,
        "--mirror",
        "http://192.0.2.1",
        "--feeds",
        "kev",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("plain HTTP to 192.0.2.1 is not allowed"),
        "{}",
        text(&out.stderr)
    );

    // `--ca-file` as for registries: a file with no certificate is an error naming it.
    let ca = env.dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let ca_arg = ca.display().to_string();
    let out = env.run(&[
        "db",
        "update",
        "--db",
        &db,
        "--mirror",
        &server.url(),
        "--feeds",
        "kev",
        "--ca-file",
        &ca_arg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&ca_arg) && err.contains("no PEM certificates"),
        "{err}"
    );
}

/// Django 1.11 in a CycloneDX SBOM.
fn django_sbom(env: &Env) -> String {
    let sbom = env.dir.path().join("app.cdx.json");
    std::fs::write(
        &sbom,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
            "components":[{"type":"library","name":"Django","version":"1.11",
            "purl":"pkg:pypi/django@1.11","bom-ref":"django"}]}"#,
    )
    .unwrap();
    format!("sbom:{}", sbom.display())
}

fn advisories(status: &Output) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    v["advisories"].as_u64().unwrap()
}

fn feed_records(status: &Output, name: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    v["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .map(|f| f["records"].as_u64().unwrap())
}

/// 13.5: an empty but valid `all.zip` from the mirror, or `db import` of an empty zip or
/// directory, does not replace a full database: refused naming what would be lost, and the
/// CI gate still fails; `--allow-shrink` replaces it on purpose.
#[test]
fn issue_13_5_an_empty_feed_does_not_replace_a_full_database() {
    let env = Env::new();
    let server = Server::start(&feeds());
    assert_ok(&env.update(&server));
    let before = std::fs::read(env.db()).unwrap();
    let status = env.status();
    let pypi = feed_records(&status, "osv/PyPI").unwrap();
    assert!(pypi > 0);
    server.take_seen();

    server
        .state
        .lock()
        .unwrap()
        .files
        .insert("osv/PyPI/all.zip".into(), EMPTY_ZIP.to_vec());
    let out = env.update(&server);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "feed osv/PyPI would shrink from {pypi} to 0 records"
        )),
        "{err}"
    );
    assert!(err.contains("--allow-shrink"), "{err}");
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
    // The empty download was not committed to the cache either.
    let cache = env.dir.path().join("vuln.db.feeds");
    assert_ne!(
        std::fs::read(cache.join("osv/PyPI/all.zip")).unwrap(),
        EMPTY_ZIP
    );
    // The gate still sees the findings.
    let db = env.db().display().to_string();
    let sbom = django_sbom(&env);
    let out = env.run(&["scan", &sbom, "--db", &db, "--exit-code", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // `db import` of an empty zip, or of an empty directory, is refused the same way.
    let empty_zip = env.dir.path().join("mirror/osv/PyPI/all.zip");
    std::fs::create_dir_all(empty_zip.parent().unwrap()).unwrap();
    std::fs::write(&empty_zip, EMPTY_ZIP).unwrap();
    let empty_dir = env.dir.path().join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    for input in [&empty_zip, &empty_dir] {
        let out = env.run(&["db", "import", "--db", &db, &input.display().to_string()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("refusing to replace"), "{err}");
        assert!(
            err.contains("feed cisa-kev") && err.contains("would be dropped"),
            "{err}"
        );
        assert_eq!(std::fs::read(env.db()).unwrap(), before);
    }

    // On purpose: the update goes through and says what it holds.
    let mut args = vec!["db", "update", "--db", &db, "--allow-shrink"];
    let mirror = server.url();
    args.extend(["--mirror", &mirror, "--feeds", "osv/PyPI,osv/crates.io,kev"]);
    assert_ok(&env.run(&args));
    assert_eq!(feed_records(&env.status(), "osv/PyPI"), Some(0));
}

/// 13.6: `db update --feeds kev` on a database built by `db import` (empty feed cache) keeps
/// the imported feeds (OSV PyPI, the NVD excerpt): same advisories, same NVD severities, and
/// says which feeds it refreshed and which it kept.
#[test]
fn issue_13_6_update_keeps_feeds_added_by_import() {
    let env = Env::new();
    let db = env.db().display().to_string();
    let pypi = feeds().join("osv/PyPI/all.zip").display().to_string();
    let nvd = feeds()
        .join("nvd/nvdcve-2.0-excerpt.json")
        .display()
        .to_string();
    assert_ok(&env.run(&["db", "import", "--db", &db, &pypi, &nvd]));
    let before = env.status();
    let sbom = django_sbom(&env);
    let nvd_rated = |out: &Output| -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut rated: Vec<(String, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity_source"] == "NVD CVSS")
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        rated.sort();
        rated
    };
    let scan = || env.run(&["scan", &sbom, "--db", &db, "--format", "json"]);
    let out = scan();
    assert_ok(&out);
    let rated_before = nvd_rated(&out);
    assert!(!rated_before.is_empty(), "{}", text(&out.stdout));

    let server = Server::start(&feeds());
    let mirror = server.url();
    let out = env.run(&[
        "db", "update", "--db", &db, "--mirror", &mirror, "--feeds", "kev",
    ]);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(err.contains("refreshed (downloaded): cisa-kev"), "{err}");
    assert!(
        err.contains("kept from the previous database") && err.contains("nvd, osv/PyPI"),
        "{err}"
    );
    let after = env.status();
    assert_eq!(feed_names(&after), ["cisa-kev", "nvd", "osv/PyPI"]);
    assert_eq!(advisories(&after), advisories(&before));
    assert_eq!(feed_records(&after, "nvd"), feed_records(&before, "nvd"));
    let out = scan();
    assert_ok(&out);
    assert_eq!(nvd_rated(&out), rated_before);

    // A second update refreshes from the cache and still keeps them.
    let out = env.run(&[
        "db",
        "update",
        "--db",
        &db,
        "--mirror",
        &mirror,
        "--feeds",
        "osv/crates.io",
    ]);
    assert_ok(&out);
    assert_eq!(
        feed_names(&env.status()),
        ["cisa-kev", "nvd", "osv/PyPI", "osv/crates.io"]
    );

    // `db import --add` adds a feed to the database instead of replacing it.
    let kev = feeds()
        .join("kev/known_exploited_vulnerabilities.json")
        .display()
        .to_string();
    let out = env.run(&["db", "import", "--add", "--db", &db, &kev]);
    assert_ok(&out);
    assert_eq!(feed_names(&env.status()).len(), 4);
}

/// 13.7: a second writer fails clearly while the first holds the lock, and never touches
/// its files; once the lock is free, the next run removes what dead writers left.
#[test]
fn issue_13_7_a_second_writer_is_refused_and_dead_writers_files_are_cleaned() {
    let env = Env::new();
    let server = Server::start(&feeds());
    assert_ok(&env.update(&server));
    let cache = env.dir.path().join("vuln.db.feeds");
    let staging = cache.join(".staging-4194304");
    std::fs::create_dir_all(staging.join("osv/PyPI")).unwrap();
    std::fs::write(staging.join("osv/PyPI/all.zip"), b"partial").unwrap();
    let temp = env.dir.path().join(".palisade-db-vuln.db.Ab12Cd.tmp");
    std::fs::write(&temp, b"partial").unwrap();
    // Another database's temporary file in the same directory is not ours to remove.
    let other = env.dir.path().join(".palisade-db-other.db.Ab12Cd.tmp");
    std::fs::write(&other, b"partial").unwrap();

    // A live writer holds the lock (as `db update` does while it runs).
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(env.dir.path().join("vuln.db.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    (&lock).write_all(b"pid 4242\n").unwrap();
    let db = env.db().display().to_string();
    for out in [
        env.update(&server),
        env.run(&[
            "db",
            "import",
            "--db",
            &db,
            &feeds().join("osv/PyPI/all.zip").display().to_string(),
        ]),
    ] {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("is being written by another palisade process (pid 4242)"),
            "{err}"
        );
        // The holder's files are untouched.
        assert!(staging.exists() && temp.exists());
    }

    // The holder dies (its lock goes with it): the next run cleans up after it.
    drop(lock);
    let out = env.update(&server);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("removed a temporary file of an interrupted write"),
        "{err}"
    );
    assert!(
        err.contains("removed the staging directory of an interrupted update"),
        "{err}"
    );
    assert!(!staging.exists());
    assert!(!temp.exists());
    assert!(other.exists());
}

/// Issue 12: import warnings are counted and listed with `--verbose`; a missing database
/// says what to run.
/// Issue 19: on a terminal the download under way is shown; without one each download is a
/// line when it starts and one when it ends; `--quiet` says nothing when all goes well.
#[test]
fn update_progress_on_a_terminal_plain_lines_elsewhere_and_quiet() {
    let env = Env::new();
    let server = Server::start(&feeds());
    let db = env.db().display().to_string();
    let url = server.url();
    let args = [
        "db",
        "update",
        "--db",
        &db,
        "--mirror",
        &url,
        "--feeds",
        "osv/PyPI,kev",
    ];
    let run = pty::run_on_pty(env.cmd(&args));
    assert_eq!(run.code, Some(0), "{}", run.terminal);
    assert!(run.stdout.is_empty());
    assert!(
        run.terminal.contains("downloading") && run.terminal.contains(": downloaded "),
        "{:?}",
        run.terminal
    );
    // No terminal: a line per step.
    let out = env.run(&args);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "palisade: osv/PyPI/all.zip: downloading {url}/osv/PyPI/all.zip\npalisade: osv/PyPI/all.zip: not modified\n"
        )),
        "{err}"
    );
    // Quiet: nothing, and the same exit code.
    let out = env.run(&[&args[..], &["--quiet"]].concat());
    assert_ok(&out);
    assert_eq!(text(&out.stderr), "");
    assert!(out.stdout.is_empty());
}

#[test]
fn issue_12_import_warnings_are_listed_and_a_missing_db_says_what_to_run() {
    let env = Env::new();
    let dir = env.dir.path().join("osv-local");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("PYSEC-0000-1.json"),
        r#"{"id":"PYSEC-0000-1","modified":"2024-01-01T00:00:00Z",
            "affected":[{"package":{"ecosystem":"PyPI","name":"demo"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"not a version!"}]}]}]}"#,
    )
    .unwrap();
    let db = env.db().display().to_string();
    let input = dir.display().to_string();
    let out = env.run(&["db", "import", "--db", &db, &input]);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(err.contains("1 warnings (--verbose lists them)"), "{err}");
    assert!(!err.contains("warning: "), "{err}");
    let out = env.run(&["db", "import", "--verbose", "--db", &db, &input]);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("  warning: ")
            && err.contains("PYSEC-0000-1")
            && err.contains("not a version!"),
        "{err}"
    );

    let missing = env.dir.path().join("nowhere/vuln.db").display().to_string();
    let out = env.run(&["scan", &django_sbom(&env), "--db", &missing]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&missing), "{err}");
    assert!(
        err.contains("palisade db update") && err.contains("palisade db import"),
        "{err}"
    );
}
