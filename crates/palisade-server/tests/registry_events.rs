//! Scan on push, end to end (issue 16, acceptance 1): Debian's `docker-registry` with a
//! notifications endpoint pointing at `palisade serve` (HTTPS, the registry trusting the
//! test's CA through `SSL_CERT_FILE`), the real testbed app image copied in with skopeo.
//!
//! - The push makes the image's report appear in `/api/v1` (its findings equal
//!   `palisade scan`'s on the same image and database) and the notifier (a receiver in this
//!   test) gets the decision.
//! - A pull queues nothing.
//! - `palisade sign` pushes a `sha256-….sig` tag: the subject is verified again (a `verify`
//!   job), its decision in `dev` changes from deny to allow, and no scan job is made for the
//!   signature.
//!
//! Slow: about 30 s on 2 cores (the database import, the registry, cold image reads). Skips,
//! saying why, only when skopeo or docker-registry is not installed.

#![allow(clippy::print_stderr)]

mod ca;
mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ca::Ca;
use common::serve::Serve;
use common::{Registry, wait_for};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(90);

/// A webhook receiver: every POST body, in arrival order.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_ok()
                    && let Ok(v) = serde_json::from_slice(&body)
                {
                    sink.lock().unwrap().push(v);
                }
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        Receiver { port, bodies }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// `curl` against the server's API with the CA and a token; the JSON answer.
fn api(serve: &Serve, ca: &Path, token: &str, path: &str) -> Value {
    common::http::curl(serve, ca, token, path, None)
}

fn jobs_of(serve: &Serve, ca: &Path, token: &str, kind: &str) -> Vec<Value> {
    api(
        serve,
        ca,
        token,
        &format!("/api/v1/jobs?kind={kind}&limit=100"),
    )["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn push_scans_signature_reverifies_pull_does_nothing() {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    common::import_db(&d.join("vuln.db"));
    let key = common::generate_key(d, "release");
    assert!(d.join("release.pub").is_file());
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nname: registry-e2e\ndefault_environment: prod\nenvironments: [prod, dev]\n\
         sources:\n  keys:\n    release: release.pub\n  default: deny\n  rules:\n    - name: demo\n      images: [\"127.0.0.1:*/demo/**\"]\n      signers: { any_of: [release] }\n\
         vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev: { max_cvss: null }\n",
    )
    .unwrap();
    let ca = Ca::new("palisade registry test CA");
    ca.write(&d.join("ca.crt"));
    ca.server(1).write(d, "tls");
    let registry_token = "registry-notification-token-0123456789";
    std::fs::write(d.join("registry.tokens"), format!("{registry_token}\n")).unwrap();
    let receiver = Receiver::start();
    std::fs::write(
        d.join("serve.yaml"),
        format!(
            "listen: 127.0.0.1:0\ntls: {{cert: tls.crt, key: tls.key}}\npolicy: policy.yaml\n\
             db: vuln.db\ncache_dir: cache\nstore: {{location: store.db, workers: 2}}\n\
             registry_events: {{tokens_file: registry.tokens}}\n\
             notify:\n  - url: http://127.0.0.1:{}/hook\n    events: [image.analyzed, decision.changed]\n",
            receiver.port
        ),
    )
    .unwrap();
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
            "admin",
        ],
        &cache,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let ca_file = d.join("ca.crt");
    // A wrong token is refused.
    let refused = api(&serve, &ca_file, "pal_wrong", "/api/v1/images");
    assert!(refused["error"]["message"].as_str().is_some(), "{refused}");

    let url = format!("https://{}/registry/events", serve.https);
    let registry = Registry::start_with(&[
        ("REGISTRY_NOTIFY_URL", url.as_str()),
        ("REGISTRY_NOTIFY_TOKEN", registry_token),
        ("SSL_CERT_FILE", ca_file.to_str().unwrap()),
    ]);
    eprintln!(
        "[{:>5.1}s] database, server and registry ready",
        started.elapsed().as_secs_f64()
    );

    // Push → report.
    let pushed = Instant::now();
    common::push("app", &registry.addr, "demo/app:v1");
    let reference = format!("{}/demo/app:v1", registry.addr);
    let digest = common::registry_digest(&reference);
    let image = wait_for(PATIENCE, || {
        let v = api(
            &serve,
            &ca_file,
            &token,
            &format!("/api/v1/images/{digest}"),
        );
        (v["verdicts"].as_object().is_some_and(|m| m.len() == 2)).then_some(v)
    })
    .unwrap_or_else(|| panic!("no report for {digest}; server said:\n{}", serve.stderr()));
    eprintln!(
        "[{:>5.1}s] pushed; report in the API {:.2}s after the push",
        started.elapsed().as_secs_f64(),
        pushed.elapsed().as_secs_f64()
    );
    assert_eq!(image["verdicts"]["prod"], "deny", "{image}");
    assert_eq!(image["verdicts"]["dev"], "deny", "unsigned: {image}");
    assert!(image["packages"].as_i64().unwrap() > 10, "{image}");
    let names: Vec<&str> = image["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(names, vec![reference.as_str()]);

    // The same findings as `palisade scan` on the same image and database.
    let out = common::palisade(
        &[
            "scan",
            &format!("registry:{reference}"),
            "--db",
            d.join("vuln.db").to_str().unwrap(),
            "--format",
            "json",
        ],
        &cache,
    );
    let scan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("palisade scan: {e}: {}", common::text(&out)));
    let mut expected: Vec<(String, String, String)> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["package"]["name"].as_str().unwrap().to_owned(),
                f["package"]["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut stored: Vec<(String, String, String)> = image["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["advisory"].as_str().unwrap().to_owned(),
                f["package"].as_str().unwrap().to_owned(),
                f["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    stored.sort();
    assert!(!expected.is_empty());
    assert_eq!(stored, expected);

    // The SBOM comes back in both formats.
    let sbom = api(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{digest}/sbom?format=spdx"),
    );
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let sbom = api(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{digest}/sbom"),
    );
    assert_eq!(sbom["bomFormat"], "CycloneDX");

    // The notifier got the decision.
    let delivered = wait_for(Duration::from_secs(30), || {
        receiver.bodies().into_iter().find(|b| {
            b["event"]["kind"] == "image.analyzed" && b["event"]["digest"] == digest.as_str()
        })
    })
    .unwrap_or_else(|| panic!("no notification; server said:\n{}", serve.stderr()));
    assert_eq!(delivered["event"]["detail"]["verdicts"]["prod"], "deny");

    // A pull queues nothing.
    let scans_before = jobs_of(&serve, &ca_file, &token, "scan").len();
    assert_eq!(
        scans_before,
        1,
        "{:?}",
        jobs_of(&serve, &ca_file, &token, "scan")
    );
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());

    // A signature: the subject is verified again, and no scan job is made for the `.sig`.
    common::sign(&reference, &key);
    let verify = wait_for(PATIENCE, || {
        jobs_of(&serve, &ca_file, &token, "verify")
            .into_iter()
            .find(|j| j["state"] == "done")
    })
    .unwrap_or_else(|| panic!("no verify job; server said:\n{}", serve.stderr()));
    assert!(
        verify["key"].as_str().unwrap().ends_with(&digest),
        "{verify}"
    );
    let image = api(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{digest}"),
    );
    assert_eq!(image["verdicts"]["dev"], "allow", "signed now: {image}");
    assert_eq!(
        image["verdicts"]["prod"], "deny",
        "CVSS 9.8 findings: {image}"
    );
    let changed = api(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/events?kind=decision.changed&digest={digest}"),
    );
    let changed = changed["events"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["detail"]["environment"], "dev");
    assert_eq!(changed[0]["detail"]["before"], "deny");
    assert_eq!(changed[0]["detail"]["after"], "allow");
    assert_eq!(
        jobs_of(&serve, &ca_file, &token, "scan").len(),
        scans_before,
        "the pull and the signature push made no scan job"
    );
    // The notifier heard about the change too.
    wait_for(Duration::from_secs(30), || {
        receiver
            .bodies()
            .into_iter()
            .find(|b| b["event"]["kind"] == "decision.changed")
    })
    .expect("decision.changed delivered");

    // An OCI 1.1 referrer pushed by digest (an attestation naming the app image as its
    // subject) verifies the subject again; it is not analysed as an image.
    let referrer = push_referrer(&registry.addr, "demo/app", &digest);
    wait_for(PATIENCE, || {
        jobs_of(&serve, &ca_file, &token, "verify")
            .into_iter()
            .find(|j| {
                j["state"] == "done"
                    && j["payload"]
                        .as_str()
                        .is_some_and(|p| p.contains("referrer"))
            })
    })
    .unwrap_or_else(|| {
        panic!(
            "no verify job for the referrer's subject:\n{}",
            serve.stderr()
        )
    });
    let missing = api(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{referrer}"),
    );
    assert!(
        missing["error"]["message"].is_string(),
        "the referrer is no image: {missing}"
    );

    // The event stream replays from an id and keeps the connection open.
    let out = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "3", "--cacert"])
        .arg(&ca_file)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!(
            "https://{}/api/v1/events/stream?after=0&kind=image.analyzed",
            serve.https
        ))
        .output()
        .unwrap();
    let stream = String::from_utf8_lossy(&out.stdout);
    assert!(stream.contains("event: image.analyzed"), "{stream}");
    assert!(
        stream.contains("id: 1") && stream.contains(&digest),
        "{stream}"
    );

    // CI records a scan of a local archive of the same image under the name it will run as.
    let out = common::palisade(
        &[
            "scan",
            &format!(
                "oci-archive:{}",
                common::testbed().join("app.oci.tar").display()
            ),
            "--db",
            d.join("vuln.db").to_str().unwrap(),
            "--format",
            "json",
            "--server",
            &format!("https://{}", serve.https),
            "--server-token",
            &token,
            "--server-name",
            "registry.example/ci/app:1.0",
            "--ca-file",
            ca_file.to_str().unwrap(),
        ],
        &cache,
    );
    let said = common::text(&out);
    assert!(
        said.contains("palisade: recorded registry.example/ci/app:1.0@sha256:"),
        "{said}"
    );
    let image = api(
        &serve,
        &ca_file,
        &token,
        &format!("/api/v1/images/{digest}"),
    );
    assert!(
        image["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "registry.example/ci/app:1.0"),
        "{image}"
    );
    assert!(
        image["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["repository"] == "ci/app" && d["reasons"].is_array()),
        "{image}"
    );
    // The token must be an admin's.
    let out = common::palisade(
        &[
            "scan",
            &format!(
                "oci-archive:{}",
                common::testbed().join("app.oci.tar").display()
            ),
            "--db",
            d.join("vuln.db").to_str().unwrap(),
            "--server",
            &format!("https://{}", serve.https),
            "--server-token",
            "pal_not_a_token",
            "--server-name",
            "registry.example/ci/app:1.0",
            "--ca-file",
            ca_file.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(common::text(&out).contains("401"), "{}", common::text(&out));

    // Every answer above follows the OpenAPI document the server serves.
    check_openapi(&serve, &ca_file, &token, &digest, d);

    serve.signal("TERM");
    assert!(serve.wait(Duration::from_secs(20)).is_some());
    eprintln!("[{:>5.1}s] done", started.elapsed().as_secs_f64());
}

/// `curl -i` a path: (status, content type, body).
fn raw(serve: &Serve, ca: &Path, token: &str, path: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("https://{}{path}", serve.https))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {path}: {}", common::text(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Validates the answers of every read route against `/api/v1/openapi.json` with
/// openapi-core (PyPI), and a wrong answer too, so the check can fail.
fn check_openapi(serve: &Serve, ca: &Path, token: &str, digest: &str, dir: &Path) {
    let (status, _, spec) = raw(serve, ca, token, "/api/v1/openapi.json");
    assert_eq!(status, 200);
    std::fs::write(dir.join("openapi.json"), &spec).unwrap();
    let routes = [
        ("status", "/api/v1/status".to_owned(), vec![]),
        (
            "images",
            "/api/v1/images".to_owned(),
            vec![("repository", "demo/*"), ("sort", "severity")],
        ),
        ("image", format!("/api/v1/images/{digest}"), vec![]),
        (
            "unknown image",
            format!("/api/v1/images/sha256:{}", "0".repeat(64)),
            vec![],
        ),
        (
            "vulnerability",
            "/api/v1/vulnerabilities/PYSEC-2021-142".to_owned(),
            vec![],
        ),
        (
            "events",
            "/api/v1/events".to_owned(),
            vec![("limit", "1000")],
        ),
        ("hosts", "/api/v1/hosts".to_owned(), vec![]),
        ("jobs", "/api/v1/jobs".to_owned(), vec![]),
        ("job", "/api/v1/jobs/1".to_owned(), vec![]),
        (
            "bad query",
            "/api/v1/images".to_owned(),
            vec![("sort", "sideways")],
        ),
    ];
    let mut cases = Vec::new();
    for (label, path, args) in routes {
        let query: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let url = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let (status, content_type, body) = raw(serve, ca, token, &url);
        let args: serde_json::Map<String, Value> = args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        cases.push(
            serde_json::json!({"label": label, "method": "get", "path": path,
            "args": args, "status": status, "content_type": content_type, "body": body}),
        );
    }
    // Not every answer may pass: a summary without its required counts must fail.
    cases.push(serde_json::json!({"label": "a wrong answer [must fail]", "method": "get",
        "path": "/api/v1/images", "args": {}, "status": 200,
        "content_type": "application/json", "body": "{\"total\": 1, \"items\": [{\"digest\": \"x\"}]}"}));
    std::fs::write(dir.join("cases.json"), serde_json::to_vec(&cases).unwrap()).unwrap();
    let python = std::env::var_os("PALISADE_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target/pyvenv/bin/python"));
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/validate.py"))
        .arg(dir.join("openapi.json"))
        .arg(dir.join("cases.json"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (tools/test-all.sh installs openapi-core)",
                python.display()
            )
        });
    let text = common::text(&out);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL"))
        .collect();
    assert_eq!(lines.len(), cases.len(), "{text}");
    for l in &lines[..lines.len() - 1] {
        assert!(l.starts_with("ok "), "{text}");
    }
    assert!(
        lines[lines.len() - 1].starts_with("FAIL"),
        "the wrong answer passed: {text}"
    );
}

/// Pushes an OCI 1.1 artifact manifest by digest whose `subject` is `subject`: what a
/// referrers-aware signer or attester pushes. Returns its digest.
fn push_referrer(addr: &str, repository: &str, subject: &str) -> String {
    use palisade_image::{RegistryClient, RegistryOptions};
    let client = RegistryClient::new(addr, &RegistryOptions::default()).unwrap();
    let (_, _, subject_digest) = client
        .get_manifest(
            repository,
            subject,
            palisade_image::media_type::ACCEPT_MANIFESTS,
        )
        .unwrap();
    let (bytes, _, _) = client
        .get_manifest(
            repository,
            subject,
            palisade_image::media_type::ACCEPT_MANIFESTS,
        )
        .unwrap();
    let empty = client.push_blob(repository, b"{}").unwrap();
    let layer = client
        .push_blob(
            repository,
            br#"{"predicateType":"https://slsa.dev/provenance/v1"}"#,
        )
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.in-toto+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": layer.to_string(), "size": 51}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": subject_digest.to_string(), "size": bytes.len()},
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let digest = palisade_image::Digest::sha256_of(&body).to_string();
    client
        .put_manifest(
            repository,
            &digest,
            &body,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap()
        .to_string()
}
