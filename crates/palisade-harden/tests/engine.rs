//! The Engine API client against a fake engine on a unix socket started by the test (the real
//! dockerd runs in `palisade-cli/tests/bench.rs`).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::thread;

use palisade_harden::check::Status;
use palisade_harden::containers::check_containers;
use palisade_harden::daemon::check_daemon;
use palisade_harden::engine::Engine;
use serde_json::json;
use support::{hardened_container, set, statuses};

/// Serves `count` requests; `answer(path)` gives (status line, body, chunked).
fn serve(
    count: usize,
    answer: impl Fn(&str) -> (&'static str, String, bool) + Send + 'static,
) -> (tempfile::TempDir, String, thread::JoinHandle<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("engine.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let handle = thread::spawn(move || {
        let mut paths = Vec::new();
        for _ in 0..count {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            loop {
                let mut l = String::new();
                reader.read_line(&mut l).unwrap();
                if l == "\r\n" || l.is_empty() {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, body, chunked) = answer(&path);
            let mut w = stream;
            if chunked {
                let mut out = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                );
                for piece in body.as_bytes().chunks(7) {
                    out.push_str(&format!(
                        "{:x}\r\n{}\r\n",
                        piece.len(),
                        String::from_utf8_lossy(piece)
                    ));
                }
                out.push_str("0\r\n\r\n");
                w.write_all(out.as_bytes()).unwrap();
            } else {
                write!(w, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
            }
            paths.push(path);
        }
        paths
    });
    let url = format!("unix://{}", sock.display());
    (dir, url, handle)
}

#[test]
fn lists_every_container_and_inspects_each() {
    let mut privileged = hardened_container();
    set(&mut privileged, "/Name", json!("/web"));
    set(&mut privileged, "/Id", json!("aaaa"));
    set(&mut privileged, "/HostConfig/Privileged", json!(true));
    let mut good = hardened_container();
    set(&mut good, "/Id", json!("bbbb"));
    let docs = [privileged, good];
    let (_dir, url, handle) = serve(3, move |path| match path {
        "/containers/json?all=1" => (
            "200 OK",
            json!([{"Id": "aaaa"}, {"Id": "bbbb"}]).to_string(),
            true,
        ),
        "/containers/aaaa/json" => ("200 OK", docs[0].to_string(), true),
        "/containers/bbbb/json" => ("200 OK", docs[1].to_string(), false),
        _ => ("404 Not Found", "{\"message\":\"no\"}".into(), false),
    });
    let engine = Engine::new(&url).unwrap();
    let containers = engine.containers().unwrap();
    assert_eq!(
        handle.join().unwrap(),
        [
            "/containers/json?all=1",
            "/containers/aaaa/json",
            "/containers/bbbb/json"
        ]
    );
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["hardened", "web"]);
    let results = check_containers(&containers, false);
    let privileged: Vec<_> = results
        .iter()
        .filter(|r| r.id == "CIS-DOCKER-5.5")
        .map(|r| (r.subject(), r.status))
        .collect();
    assert_eq!(
        privileged,
        [("hardened", Status::Pass), ("web", Status::Fail)]
    );
}

#[test]
fn daemon_settings_from_info() {
    let info = json!({
        "LoggingDriver": "json-file",
        "LiveRestoreEnabled": false,
        "Driver": "overlay2",
        "ExperimentalBuild": false,
        "DockerRootDir": "/var/lib/docker",
        "SecurityOptions": ["name=seccomp,profile=unconfined", "name=userns"],
        "Plugins": {"Authorization": null},
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "10.1.0.0/16"], "IndexConfigs": {"docker.io": {"Secure": true}}},
        "Swarm": {"LocalNodeState": "active"},
    });
    let (_dir, url, handle) = serve(1, move |_| ("200 OK", info.to_string(), false));
    // The socket is a fake: no dockerd process names it, so only /info is known.
    let cfg = Engine::new(&url).unwrap().daemon_config().unwrap();
    handle.join().unwrap();
    let r = check_daemon(&cfg);
    let st = |id: &str| statuses(&r, id);
    assert_eq!(
        st("CIS-DOCKER-2.5"),
        [Status::Fail],
        "10.1.0.0/16 is insecure; 127.0.0.0/8 is implicit"
    );
    assert_eq!(st("CIS-DOCKER-2.9"), [Status::Pass]);
    assert_eq!(st("CIS-DOCKER-2.12"), [Status::Fail]);
    assert_eq!(st("CIS-DOCKER-2.13"), [Status::Fail]);
    assert_eq!(st("CIS-DOCKER-2.15"), [Status::Fail]);
    assert_eq!(st("CIS-DOCKER-2.17"), [Status::Fail]);
    assert_eq!(st("CIS-DOCKER-5.1"), [Status::Warn]);
    // Not exposed by /info: reported as unknown, never as a pass.
    for id in ["CIS-DOCKER-2.2", "CIS-DOCKER-2.14", "CIS-DOCKER-2.16"] {
        assert_eq!(st(id), [Status::Info], "{id}");
    }
}

#[test]
fn engine_errors_name_the_endpoint() {
    let (_dir, url, handle) = serve(2, |path| match path {
        "/info" => (
            "500 Internal Server Error",
            "{\"message\":\"boom\"}".into(),
            false,
        ),
        _ => ("200 OK", "not json".into(), false),
    });
    let engine = Engine::new(&url).unwrap();
    let e = engine.info().unwrap_err().to_string();
    assert!(
        e.contains(&url) && e.contains("500") && e.contains("boom"),
        "{e}"
    );
    let e = engine.containers().unwrap_err().to_string();
    assert!(e.contains("invalid JSON"), "{e}");
    handle.join().unwrap();
    let e = Engine::new("unix:///nonexistent/palisade.sock")
        .unwrap()
        .info()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/palisade.sock") && e.contains("connecting"),
        "{e}"
    );
}
