//! Several replicas on one store (issue 16, acceptance 4): a real PostgreSQL (Debian's
//! `postgresql`, initdb into a temporary directory, a private socket) and two `palisade serve`
//! processes. A real `docker-registry` notifies replica A of 50 pushes (50 distinct images:
//! the testbed base image with 50 different configuration labels); the scan jobs are shared
//! between the replicas' workers, and `kill -9` of replica A while it holds a job loses no
//! job: its lease expires and replica B finishes it. Every image is analysed exactly once
//! (one `image.analyzed` event each). The same suite runs against SQLite with one process.
//!
//! Slow: about 40 s on 2 cores. Skips, saying why, only when skopeo or docker-registry is not
//! installed; PostgreSQL is required (testbed/install-deps.sh installs it).

#![allow(clippy::print_stderr)]

mod ca;
mod common;
#[path = "../../palisade-store/tests/pg/mod.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use ca::Ca;
use common::serve::Serve;
use common::{Registry, wait_for};
use palisade_image::{RegistryClient, RegistryOptions, media_type};
use serde_json::Value;

const IMAGES: usize = 50;
const PATIENCE: Duration = Duration::from_secs(180);

fn curl(serve: &Serve, ca: &Path, token: &str, path: &str) -> Value {
    common::http::curl(serve, ca, token, path, None)
}

/// Pushes `n` images to `testbed/many:img-<i>`: the base image with a label `variant=<i>`
/// in its configuration, so each has its own digest (the layers are shared).
fn push_variants(addr: &str, n: usize) -> Vec<String> {
    common::push("base", addr, "testbed/many:seed");
    let client = RegistryClient::new(addr, &RegistryOptions::default()).unwrap();
    let (manifest, content_type, _) = client
        .get_manifest("testbed/many", "seed", media_type::ACCEPT_MANIFESTS)
        .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut config = Vec::new();
    client
        .get_blob("testbed/many", &config_digest)
        .unwrap()
        .read_to_end(&mut config)
        .unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    let content_type = content_type.unwrap_or_else(|| media_type::OCI_MANIFEST.to_owned());
    (0..n)
        .map(|i| {
            let mut c = config.clone();
            c["config"]["Labels"]["variant"] = Value::from(i.to_string());
            let bytes = serde_json::to_vec(&c).unwrap();
            let digest = client.push_blob("testbed/many", &bytes).unwrap();
            let mut m = manifest.clone();
            m["config"]["digest"] = Value::from(digest.to_string());
            m["config"]["size"] = Value::from(bytes.len());
            client
                .put_manifest(
                    "testbed/many",
                    &format!("img-{i}"),
                    &serde_json::to_vec(&m).unwrap(),
                    &content_type,
                )
                .unwrap()
                .to_string()
        })
        .collect()
}

struct World {
    dir: tempfile::TempDir,
    token: String,
}

fn world(store: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::import_db(&d.join("vuln.db"));
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nname: replicas\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n",
    )
    .unwrap();
    let ca = Ca::new("palisade replicas test CA");
    ca.write(&d.join("ca.crt"));
    ca.server(1).write(d, "tls");
    std::fs::write(
        d.join("registry.tokens"),
        "registry-token-0123456789abcdef\n",
    )
    .unwrap();
    std::fs::write(
        d.join("serve.yaml"),
        format!(
            "listen: 127.0.0.1:0\ntls: {{cert: tls.crt, key: tls.key}}\npolicy: policy.yaml\n\
             db: vuln.db\ncache_dir: cache\n\
             store: {{location: {store:?}, workers: 2, lease: 3s, poll: 100ms}}\n\
             registry_events: {{tokens_file: registry.tokens}}\n"
        ),
    )
    .unwrap();
    let out = common::palisade(
        &[
            "store",
            "migrate",
            "--config",
            d.join("serve.yaml").to_str().unwrap(),
        ],
        &d.join("cache"),
    );
    assert!(out.status.success(), "{}", common::text(&out));
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
        &d.join("cache"),
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    World { dir, token }
}

fn scan_jobs(serve: &Serve, w: &World) -> Vec<Value> {
    curl(
        serve,
        &w.dir.path().join("ca.crt"),
        &w.token,
        "/api/v1/jobs?kind=scan&limit=500",
    )["jobs"]
        .as_array()
        .cloned()
        .unwrap()
}

/// Runs the suite: `replicas` servers on `store`; with `kill`, replica A is killed with -9
/// while it holds a job.
fn suite(store: &str, replicas: usize, kill: bool) {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let w = world(store);
    let d = w.dir.path();
    let cache = d.join("cache");
    let ca_file = d.join("ca.crt");
    let mut servers: Vec<Serve> = (0..replicas)
        .map(|_| Serve::start(&d.join("serve.yaml"), &cache))
        .collect();
    let url = format!("https://{}/registry/events", servers[0].https);
    let registry = Registry::start_with(&[
        ("REGISTRY_NOTIFY_URL", url.as_str()),
        ("REGISTRY_NOTIFY_TOKEN", "registry-token-0123456789abcdef"),
        ("SSL_CERT_FILE", ca_file.to_str().unwrap()),
    ]);
    let digests = push_variants(&registry.addr, IMAGES);
    let distinct: BTreeSet<&String> = digests.iter().collect();
    assert_eq!(distinct.len(), IMAGES);
    eprintln!(
        "[{:>5.1}s] {replicas} replica(s) on {}; {IMAGES} images pushed",
        started.elapsed().as_secs_f64(),
        if store.starts_with("host=") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let last = servers.len() - 1;
    // Every push notified (the seed image's too): 51 scan jobs.
    wait_for(PATIENCE, || {
        (scan_jobs(&servers[last], &w).len() > IMAGES).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the notifications did not all arrive:\n{}",
            servers[0].stderr()
        )
    });

    let mut held: Vec<i64> = Vec::new();
    if kill {
        let a = format!(":{}:", servers[0].child.id());
        // Once A has finished a job and holds another: kill -9.
        held = wait_for(PATIENCE, || {
            let jobs = scan_jobs(&servers[last], &w);
            let mine = |j: &&Value| j["owner"].as_str().is_some_and(|o| o.contains(&a));
            let done = jobs.iter().filter(mine).any(|j| j["state"] == "done");
            let running: Vec<i64> = jobs
                .iter()
                .filter(mine)
                .filter(|j| j["state"] == "running")
                .filter_map(|j| j["id"].as_i64())
                .collect();
            (done && !running.is_empty()).then_some(running)
        })
        .expect("replica A never held a job");
        servers[0].child.kill().unwrap();
        let _ = servers[0].child.wait();
        eprintln!(
            "[{:>5.1}s] replica A killed with -9 holding jobs {held:?}",
            started.elapsed().as_secs_f64()
        );
    }
    let jobs = wait_for(PATIENCE, || {
        let jobs = scan_jobs(&servers[last], &w);
        jobs.iter().all(|j| j["state"] == "done").then_some(jobs)
    })
    .unwrap_or_else(|| panic!("jobs not all done:\n{}", servers[last].stderr()));
    eprintln!(
        "[{:>5.1}s] all scan jobs done",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(jobs.len(), IMAGES + 1);
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for j in &jobs {
        let owner = j["owner"].as_str().unwrap();
        let pid = owner.split(':').nth(1).unwrap().to_owned();
        *owners.entry(pid).or_default() += 1;
    }
    eprintln!("jobs finished per process: {owners:?}");
    if replicas > 1 {
        assert_eq!(owners.len(), replicas, "both replicas worked: {owners:?}");
    }
    for id in &held {
        let j = jobs.iter().find(|j| j["id"] == *id).unwrap();
        assert!(j["attempts"].as_i64().unwrap() >= 2, "taken over: {j}");
        assert!(
            !j["owner"]
                .as_str()
                .unwrap()
                .contains(&format!(":{}:", servers[0].child.id())),
            "finished by the survivor: {j}"
        );
    }
    // Exactly once: one analysis event per image, and every image decided.
    let events = curl(
        &servers[last],
        &ca_file,
        &w.token,
        "/api/v1/events?kind=image.analyzed&limit=1000",
    );
    let mut per_image: BTreeMap<String, usize> = BTreeMap::new();
    for e in events["events"].as_array().unwrap() {
        *per_image
            .entry(e["digest"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for d in &digests {
        assert_eq!(per_image.get(d), Some(&1), "{d}: {per_image:?}");
    }
    let listed = curl(
        &servers[last],
        &ca_file,
        &w.token,
        "/api/v1/images?repository=testbed/many&limit=500",
    );
    assert_eq!(listed["total"], IMAGES + 1, "{listed}");
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["verdicts"].as_object().unwrap().is_empty()),
        "every image decided: {listed}"
    );
    for s in &mut servers[if kill { 1 } else { 0 }..] {
        s.signal("TERM");
        assert!(s.wait(Duration::from_secs(20)).is_some());
    }
    eprintln!("[{:>5.1}s] done", started.elapsed().as_secs_f64());
}

#[test]
fn two_replicas_on_postgresql_share_the_jobs_and_survive_a_kill() {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    suite(&pg::database(), 2, true);
}

#[test]
fn one_process_on_sqlite_does_the_same_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    suite(&store, 1, false);
}
