//! Re-evaluation, end to end (issue 16, acceptance 3): `palisade serve` with a store holds the
//! testbed's `app` and `base` images, seen running in namespace `shop` through admission. A
//! new database file put in place that adds one advisory for a package of the app image
//! (`chardet`, a Python package the base image does not have) makes exactly the app image get
//! a `findings.changed` event and a changed decision, and nothing else; putting the old file
//! back reverses both.
//!
//! Slow: about 30 s on 2 cores (three database imports, cold image reads). Skips, saying why,
//! only when skopeo or docker-registry is not installed.

#![allow(clippy::print_stderr)]

mod ca;
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ca::Ca;
use common::http::{curl, pod};
use common::serve::Serve;
use common::{Registry, wait_for};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(90);

const ADVISORY: &str = r#"{"schema_version":"1.6.0","id":"PALISADE-TEST-0001","modified":"2026-12-01T00:00:00Z","published":"2026-12-01T00:00:00Z","summary":"a test advisory for chardet","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"PyPI","name":"chardet"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.0.0"}]}]}]}"#;

fn import(db: &Path, extra: Option<&Path>) {
    let f = common::feeds();
    let mut args: Vec<String> = vec!["db".into(), "import".into()];
    for p in [
        f.join("osv/PyPI/all.zip"),
        f.join("nvd/nvdcve-2.0-excerpt.json"),
        f.join("kev/known_exploited_vulnerabilities.json"),
    ] {
        args.push(p.display().to_string());
    }
    if let Some(e) = extra {
        args.push(e.display().to_string());
    }
    args.extend(["--db".into(), db.display().to_string()]);
    let out = common::palisade(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &db.parent().unwrap().join("cache"),
    );
    assert!(out.status.success(), "db import: {}", common::text(&out));
}

/// Puts `from` in place of `to` the way an update does: a copy beside it, renamed over it.
fn put_in_place(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

fn events_after(serve: &Serve, ca: &Path, token: &str, after: i64) -> Vec<Value> {
    curl(
        serve,
        ca,
        token,
        &format!("/api/v1/events?after={after}&kind=findings.changed,decision.changed&limit=1000"),
        None,
    )["events"]
        .as_array()
        .cloned()
        .unwrap()
}

fn last_event(serve: &Serve, ca: &Path, token: &str) -> i64 {
    curl(serve, ca, token, "/api/v1/events?limit=1000", None)["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .max()
        .unwrap_or(0)
}

/// Waits until a re-match for the database now in place has finished; its result.
fn rematched(serve: &Serve, ca: &Path, token: &str, done_before: usize) -> Value {
    wait_for(PATIENCE, || {
        let jobs = curl(
            serve,
            ca,
            token,
            "/api/v1/jobs?kind=rematch&limit=100",
            None,
        );
        let done: Vec<Value> = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "done")
            .cloned()
            .collect();
        (done.len() > done_before)
            .then(|| serde_json::from_str(done[0]["result"].as_str().unwrap()).unwrap())
    })
    .unwrap_or_else(|| panic!("no re-match; server said:\n{}", serve.stderr()))
}

fn done_rematches(serve: &Serve, ca: &Path, token: &str) -> usize {
    curl(
        serve,
        ca,
        token,
        "/api/v1/jobs?kind=rematch&limit=100",
        None,
    )["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["state"] == "done")
        .count()
}

#[test]
fn a_new_advisory_touches_exactly_the_images_that_have_its_package() {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    std::fs::write(d.join("advisory.json"), ADVISORY).unwrap();
    import(&d.join("without.db"), None);
    import(&d.join("with.db"), Some(&d.join("advisory.json")));
    put_in_place(&d.join("without.db"), &d.join("vuln.db"));
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nname: reevaluation-e2e\ndefault_environment: prod\nenvironments: [prod, dev]\n\
         vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev: { max_cvss: null }\n\
         exceptions:\n  - name: known-python-findings\n    packages: [Jinja2, PyYAML, certifi, requests, urllib3, idna]\n    reason: accepted for this test\n    approved_by: security@example.com\n    expires: 2099-12-31\n",
    )
    .unwrap();
    let ca = Ca::new("palisade re-evaluation test CA");
    ca.write(&d.join("ca.crt"));
    ca.server(1).write(d, "tls");
    std::fs::write(
        d.join("serve.yaml"),
        "listen: 127.0.0.1:0\ntls: {cert: tls.crt, key: tls.key}\npolicy: policy.yaml\n\
         db: vuln.db\ncache_dir: cache\nstore: {location: store.db}\nreload: {poll_interval: 500ms}\n",
    )
    .unwrap();
    let registry = Registry::start();
    common::push("app", &registry.addr, "testbed/app:v1");
    common::push("base", &registry.addr, "testbed/base:v1");
    let app = format!("{}/testbed/app:v1", registry.addr);
    let base = format!("{}/testbed/base:v1", registry.addr);
    let app_digest = common::registry_digest(&app);
    let base_digest = common::registry_digest(&base);
    let mut serve = Serve::start(&d.join("serve.yaml"), &cache);
    let out = common::palisade(
        &[
            "store",
            "token",
            "create",
            "--config",
            d.join("serve.yaml").to_str().unwrap(),
            "--name",
            "test",
            "--role",
            "read",
        ],
        &cache,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let ca_file = d.join("ca.crt");
    eprintln!(
        "[{:>5.1}s] databases, registry and server ready",
        started.elapsed().as_secs_f64()
    );

    // Seen running in `shop` through admission: both allowed, both analysed into the store.
    let review = curl(
        &serve,
        &ca_file,
        &token,
        "/k8s/validate",
        Some(&pod("shop", "web", &[&app, &base])),
    );
    assert_eq!(review["response"]["allowed"], true, "{review}");
    for digest in [&app_digest, &base_digest] {
        wait_for(PATIENCE, || {
            let v = curl(
                &serve,
                &ca_file,
                &token,
                &format!("/api/v1/images/{digest}"),
                None,
            );
            (v["verdicts"]["prod"] == "allow"
                && v["sightings"].as_array().is_some_and(|s| !s.is_empty()))
            .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{digest} not stored as running; server said:\n{}",
                serve.stderr()
            )
        });
    }
    // The first re-match (of the database the server started with) has run.
    wait_for(PATIENCE, || {
        (done_rematches(&serve, &ca_file, &token) >= 1).then_some(())
    })
    .expect("the start-up re-match");
    eprintln!(
        "[{:>5.1}s] both images stored, running in shop",
        started.elapsed().as_secs_f64()
    );

    // A database with one more advisory, for chardet (app only).
    let before = last_event(&serve, &ca_file, &token);
    let done = done_rematches(&serve, &ca_file, &token);
    let t = Instant::now();
    put_in_place(&d.join("with.db"), &d.join("vuln.db"));
    let result = rematched(&serve, &ca_file, &token, done);
    eprintln!(
        "[{:>5.1}s] advisory added: re-match done {:.1}s after the file changed: {result}",
        started.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        result["images_matched"], 1,
        "only the app reads chardet: {result}"
    );
    let events = events_after(&serve, &ca_file, &token, before);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        events.iter().all(|e| e["digest"] == app_digest.as_str()),
        "{events:#?}"
    );
    let findings = events
        .iter()
        .find(|e| e["kind"] == "findings.changed")
        .unwrap();
    assert_eq!(findings["detail"]["added"][0]["id"], "PALISADE-TEST-0001");
    assert_eq!(findings["detail"]["added"][0]["package"], "chardet");
    assert!(findings["detail"]["removed"].as_array().unwrap().is_empty());
    assert_eq!(
        findings["detail"]["running"][0]["place"], "Pod/shop/web",
        "{findings:#}"
    );
    let decision = events
        .iter()
        .find(|e| e["kind"] == "decision.changed")
        .unwrap();
    assert_eq!(decision["detail"]["environment"], "prod");
    assert_eq!(decision["detail"]["before"], "allow");
    assert_eq!(decision["detail"]["after"], "deny");
    let app_now = curl(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{app_digest}"),
        None,
    );
    assert_eq!(app_now["verdicts"]["prod"], "deny");
    assert_eq!(app_now["verdicts"]["dev"], "allow");
    let base_now = curl(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{base_digest}"),
        None,
    );
    assert_eq!(base_now["verdicts"]["prod"], "allow");
    // The fleet-wide question.
    let fleet = curl(
        &serve,
        &ca_file,
        &token,
        "/api/v1/vulnerabilities/PALISADE-TEST-0001?running=true",
        None,
    );
    let hits = fleet["images"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["digest"], app_digest.as_str());

    // The old file back: the reverse.
    let before = last_event(&serve, &ca_file, &token);
    let done = done_rematches(&serve, &ca_file, &token);
    put_in_place(&d.join("without.db"), &d.join("vuln.db"));
    let result = rematched(&serve, &ca_file, &token, done);
    assert_eq!(result["images_matched"], 1, "{result}");
    let events = events_after(&serve, &ca_file, &token, before);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e["digest"] == app_digest.as_str()));
    let findings = events
        .iter()
        .find(|e| e["kind"] == "findings.changed")
        .unwrap();
    assert_eq!(findings["detail"]["removed"][0]["id"], "PALISADE-TEST-0001");
    assert!(findings["detail"]["added"].as_array().unwrap().is_empty());
    let decision = events
        .iter()
        .find(|e| e["kind"] == "decision.changed")
        .unwrap();
    assert_eq!(decision["detail"]["before"], "deny");
    assert_eq!(decision["detail"]["after"], "allow");
    assert!(
        curl(
            &serve,
            &ca_file,
            &token,
            "/api/v1/vulnerabilities/PALISADE-TEST-0001",
            None
        )["images"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A policy change decides every stored image again: without the exception, the app's
    // own Python findings (CVSS 9.8) deny it in prod; the base image is not touched.
    let before = last_event(&serve, &ca_file, &token);
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nname: reevaluation-e2e\ndefault_environment: prod\nenvironments: [prod, dev]\n\
         vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev: { max_cvss: null }\n",
    )
    .unwrap();
    let events = wait_for(PATIENCE, || {
        let e = events_after(&serve, &ca_file, &token, before);
        (!e.is_empty()).then_some(e)
    })
    .unwrap_or_else(|| panic!("no re-decision; server said:\n{}", serve.stderr()));
    // Let the job finish, then count again.
    wait_for(PATIENCE, || {
        let jobs = curl(
            &serve,
            &ca_file,
            &token,
            "/api/v1/jobs?kind=redecide&limit=10",
            None,
        );
        (jobs["jobs"][0]["state"] == "done").then_some(())
    })
    .expect("the re-decision job");
    let events = {
        let all = events_after(&serve, &ca_file, &token, before);
        assert!(all.len() >= events.len());
        all
    };
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["kind"], "decision.changed");
    assert_eq!(events[0]["digest"], app_digest.as_str());
    assert_eq!(events[0]["detail"]["environment"], "prod");
    assert_eq!(events[0]["detail"]["after"], "deny");
    let base_now = curl(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{base_digest}"),
        None,
    );
    assert_eq!(base_now["verdicts"]["prod"], "allow");

    serve.signal("TERM");
    assert!(serve.wait(Duration::from_secs(20)).is_some());
    eprintln!("[{:>5.1}s] done", started.elapsed().as_secs_f64());
}

/// A plain HTTP file server on loopback (Python's `http.server`), killed on drop.
struct Mirror(std::process::Child, u16);

impl Mirror {
    fn start(dir: &Path) -> Mirror {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        })
        .expect("the mirror");
        Mirror(child, port)
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The scheduled update inside the server (`db_update:`): a mirror's OSV PyPI export gains an
/// advisory for chardet; the server updates its database from it, and the stored app image
/// (running in `shop`) gets the new finding and a changed decision, with no one touching the
/// database file.
#[test]
fn a_scheduled_update_inside_the_server_rematches_the_fleet() {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    import(&d.join("vuln.db"), None);
    // The mirror: the real PyPI export plus one advisory.
    std::fs::create_dir_all(d.join("mirror/osv/PyPI")).unwrap();
    let zipped = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             src, dst, adv = sys.argv[1:4]\n\
             with zipfile.ZipFile(src) as i, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as o:\n\
             \x20   for n in i.namelist(): o.writestr(n, i.read(n))\n\
             \x20   o.writestr('PALISADE-TEST-0001.json', open(adv).read())\n",
        ])
        .arg(common::feeds().join("osv/PyPI/all.zip"))
        .arg(d.join("mirror/osv/PyPI/all.zip"))
        .arg({
            std::fs::write(d.join("advisory.json"), ADVISORY).unwrap();
            d.join("advisory.json")
        })
        .output()
        .unwrap();
    assert!(zipped.status.success(), "{}", common::text(&zipped));
    let mirror = Mirror::start(&d.join("mirror"));
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nname: scheduled-update\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n\
         exceptions:\n  - name: known-python-findings\n    packages: [Jinja2, PyYAML, certifi, requests, urllib3, idna]\n    reason: accepted for this test\n    approved_by: security@example.com\n    expires: 2099-12-31\n",
    )
    .unwrap();
    let ca = Ca::new("palisade scheduled update test CA");
    ca.write(&d.join("ca.crt"));
    ca.server(1).write(d, "tls");
    std::fs::write(
        d.join("serve.yaml"),
        format!(
            "listen: 127.0.0.1:0\ntls: {{cert: tls.crt, key: tls.key}}\npolicy: policy.yaml\n\
             db: vuln.db\ncache_dir: cache\nstore: {{location: store.db}}\nreload: {{poll_interval: 500ms}}\n\
             db_update: {{interval: 1h, mirror: \"http://127.0.0.1:{}\", feeds: [osv/PyPI]}}\n",
            mirror.1
        ),
    )
    .unwrap();
    let registry = Registry::start();
    common::push("app", &registry.addr, "testbed/app:v1");
    let app = format!("{}/testbed/app:v1", registry.addr);
    let app_digest = common::registry_digest(&app);
    let mut serve = Serve::start(&d.join("serve.yaml"), &cache);
    let out = common::palisade(
        &[
            "store",
            "token",
            "create",
            "--config",
            d.join("serve.yaml").to_str().unwrap(),
            "--name",
            "t",
        ],
        &cache,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let ca_file = d.join("ca.crt");
    let review = curl(
        &serve,
        &ca_file,
        &token,
        "/k8s/validate",
        Some(&pod("shop", "web", &[&app])),
    );
    assert_eq!(review["response"]["allowed"], true, "{review}");

    // The update runs 5 s after the start; the app image gets the new advisory.
    let changed = wait_for(PATIENCE, || {
        let events = curl(
            &serve,
            &ca_file,
            &token,
            "/api/v1/events?kind=findings.changed",
            None,
        );
        events["events"].as_array().and_then(|e| e.first().cloned())
    })
    .unwrap_or_else(|| {
        panic!(
            "no re-match after the update; server said:\n{}",
            serve.stderr()
        )
    });
    eprintln!(
        "[{:>5.1}s] re-matched after the scheduled update",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(changed["digest"], app_digest.as_str());
    assert_eq!(changed["detail"]["added"][0]["id"], "PALISADE-TEST-0001");
    let updated = curl(
        &serve,
        &ca_file,
        &token,
        "/api/v1/events?kind=db.updated",
        None,
    );
    let updated = &updated["events"][0];
    assert_eq!(updated["detail"]["refreshed"][0], "osv/PyPI", "{updated}");
    // NVD and KEV were imported, not fetched: they are kept.
    assert_eq!(
        updated["detail"]["kept"].as_array().unwrap().len(),
        2,
        "{updated}"
    );
    let now = curl(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{app_digest}"),
        None,
    );
    assert_eq!(now["verdicts"]["default"], "deny", "{now}");
    serve.signal("TERM");
    assert!(serve.wait(Duration::from_secs(20)).is_some());
}
