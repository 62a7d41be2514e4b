//! Acceptance A2 (admission) and A3 (reload) of the serve plan, end to end: the real testbed
//! images in a real `docker-registry`, signed by `palisade sign`, a vulnerability database from
//! the real feed snapshots, the server over HTTPS with a certificate from a throw-away CA, and
//! `AdmissionReview` v1 documents built from the Kubernetes API reference around object
//! fixtures that `kubernetes-validate --strict` accepts.
//!
//! - `a2_admission_over_https_with_palisade_serve` runs the real binary (`palisade serve`)
//!   and checks every decision against `palisade gate --format json` on the same image with
//!   the same policy and environment: the 8 workload kinds, init and ephemeral containers,
//!   `/k8s/mutate` digest pinning, malformed bodies, a registry that stops answering (the
//!   budget), modes, exclusions, dry runs, the UPDATE fast path, the probes and metrics,
//!   SIGHUP and SIGTERM.
//! - `a3_reloads_policy_and_certificate_in_process` runs `palisade_server::serve::Server` in
//!   this process and changes its files under it: a policy without the signer rule, an invalid
//!   policy, the fix, and a new certificate.
//!
//! Slow: about 20 s and 6 s on 2 cores (registry pushes, cold image reads and scans, the
//! `palisade gate` runs, `kubernetes-validate`); the first run also builds the `palisade`
//! binary. The two take turns, so neither's timing assertions see the other's load. They skip,
//! saying why, only when skopeo or docker-registry is not installed; `kubernetes-validate`
//! (`tools/test-all.sh` installs it) is required.

#![allow(clippy::print_stderr)] // skip reasons and section timings

mod ca;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ca::Ca;
use common::serve::Serve;
use common::{HangProxy, Registry, wait_for};
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The longest a test waits for something that should take a second or two.
const PATIENCE: Duration = Duration::from_secs(60);

/// One test at a time: both start a registry and decide cold images, and A2 times answers.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn skip() -> bool {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipping the admission end-to-end test: {why}");
        return true;
    }
    false
}

// ---------------------------------------------------------------------------------------
// The workload kinds and the review envelope.

/// A workload kind: its fixture, its API group/version and resource, and where its pod spec is.
struct Kind {
    file: &'static str,
    kind: &'static str,
    group: &'static str,
    resource: &'static str,
    pod_spec: &'static [&'static str],
}

/// The eight kinds with a pod template, as the workload-resources API reference gives them.
const KINDS: [Kind; 8] = [
    Kind {
        file: "pod.yaml",
        kind: "Pod",
        group: "",
        resource: "pods",
        pod_spec: &["spec"],
    },
    Kind {
        file: "deployment.yaml",
        kind: "Deployment",
        group: "apps",
        resource: "deployments",
        pod_spec: &["spec", "template", "spec"],
    },
    Kind {
        file: "replicaset.yaml",
        kind: "ReplicaSet",
        group: "apps",
        resource: "replicasets",
        pod_spec: &["spec", "template", "spec"],
    },
    Kind {
        file: "statefulset.yaml",
        kind: "StatefulSet",
        group: "apps",
        resource: "statefulsets",
        pod_spec: &["spec", "template", "spec"],
    },
    Kind {
        file: "daemonset.yaml",
        kind: "DaemonSet",
        group: "apps",
        resource: "daemonsets",
        pod_spec: &["spec", "template", "spec"],
    },
    Kind {
        file: "job.yaml",
        kind: "Job",
        group: "batch",
        resource: "jobs",
        pod_spec: &["spec", "template", "spec"],
    },
    Kind {
        file: "cronjob.yaml",
        kind: "CronJob",
        group: "batch",
        resource: "cronjobs",
        pod_spec: &["spec", "jobTemplate", "spec", "template", "spec"],
    },
    Kind {
        file: "replicationcontroller.yaml",
        kind: "ReplicationController",
        group: "",
        resource: "replicationcontrollers",
        pod_spec: &["spec", "template", "spec"],
    },
];

fn kind(name: &str) -> &'static Kind {
    KINDS.iter().find(|k| k.kind == name).unwrap()
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission/objects")
}

/// The fixture of `kind` with its `IMAGE` (and `INIT_IMAGE`) placeholders filled in, in
/// `namespace`.
fn object(kind: &Kind, image: &str, init_image: &str, namespace: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir().join(kind.file)).unwrap();
    let text = text
        .replace("INIT_IMAGE", init_image)
        .replace("IMAGE", image);
    let mut v: Value = serde_saphyr::from_str(&text).unwrap();
    v["metadata"]["namespace"] = json!(namespace);
    v
}

fn pod_spec_mut<'a>(kind: &Kind, obj: &'a mut Value) -> &'a mut Value {
    kind.pod_spec.iter().fold(obj, |v, k| &mut v[*k])
}

/// Every container image of `obj`, with its list (`containers`, `initContainers`,
/// `ephemeralContainers`), read along the kind's pod-spec path.
fn images_of(kind: &Kind, obj: &Value) -> Vec<(String, String)> {
    let spec = kind.pod_spec.iter().fold(obj, |v, k| &v[*k]);
    let mut out = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            out.push((list.to_owned(), c["image"].as_str().unwrap().to_owned()));
        }
    }
    out
}

fn new_uid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let pid = u64::from(std::process::id());
    format!(
        "705aa1e5-{:04x}-4{:03x}-8000-{n:012x}",
        pid & 0xffff,
        (pid >> 16) & 0xfff
    )
}

/// An `admission.k8s.io/v1` `AdmissionReview` with every `AdmissionRequest` field, as the
/// API server sends it (config-api/apiserver-admission.v1): `options` is the operation's
/// `meta.k8s.io/v1` `CreateOptions`, `UpdateOptions` or `DeleteOptions`.
struct Envelope<'a> {
    kind: &'a Kind,
    operation: &'a str,
    namespace: &'a str,
    object: Option<Value>,
    old_object: Option<Value>,
    sub_resource: Option<&'a str>,
    dry_run: bool,
}

impl Envelope<'_> {
    fn create<'a>(kind: &'a Kind, namespace: &'a str, object: Value) -> Envelope<'a> {
        Envelope {
            kind,
            operation: "CREATE",
            namespace,
            object: Some(object),
            old_object: None,
            sub_resource: None,
            dry_run: false,
        }
    }

    fn review(&self, uid: &str) -> Value {
        let gvk = json!({"group": self.kind.group, "version": "v1", "kind": self.kind.kind});
        let gvr =
            json!({"group": self.kind.group, "version": "v1", "resource": self.kind.resource});
        let name = self
            .object
            .as_ref()
            .or(self.old_object.as_ref())
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or("")
            .to_owned();
        let options = match self.operation {
            "CREATE" => json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions",
                "fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"
            }),
            "UPDATE" => json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions",
                "fieldManager": "kubectl-edit", "fieldValidation": "Strict"
            }),
            _ => json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions",
                "propagationPolicy": "Background"
            }),
        };
        let mut request = json!({
            "uid": uid,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": {
                "username": "kubernetes-admin",
                "uid": "3b1c6f0e-2a55-4d4e-9c1e-8f0b5f1f2a10",
                "groups": ["kubeadm:cluster-admins", "system:authenticated"],
                "extra": {
                    "authentication.kubernetes.io/credential-id": ["X509SHA256=5a1e0c7d"]
                }
            },
            "object": self.object.clone().unwrap_or(Value::Null),
            "oldObject": self.old_object.clone().unwrap_or(Value::Null),
            "dryRun": self.dry_run,
            "options": options,
        });
        if let Some(sub) = self.sub_resource {
            request["subResource"] = json!(sub);
            request["requestSubResource"] = json!(sub);
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    }
}

// ---------------------------------------------------------------------------------------
// The client: tokio-rustls and hyper's HTTP/1.1 client, a new connection per request.

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    elapsed: Duration,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: HTTP {} {}", self.status, self.text()))
    }
}

struct Client {
    rt: tokio::runtime::Runtime,
    https: SocketAddr,
    ops: SocketAddr,
    tls: Arc<ClientConfig>,
}

impl Client {
    fn new(ca: &Ca, https: SocketAddr, ops: SocketAddr) -> Client {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der()).unwrap();
        let mut tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            https,
            ops,
            tls: Arc::new(tls),
        }
    }

    async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.https).await.unwrap();
        TlsConnector::from(Arc::clone(&self.tls))
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap()
    }

    /// POSTs `body` to `path` over HTTPS.
    fn post(&self, path: &str, body: Vec<u8>) -> Reply {
        self.rt.block_on(async {
            let stream = self.connect().await;
            // The server's answer time: from the request, after the TLS handshake.
            let started = Instant::now();
            let req = Request::post(path)
                .header(HOST, format!("127.0.0.1:{}", self.https.port()))
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            exchange(stream, req, started).await
        })
    }

    /// POSTs an admission review; returns the reply and its `response`.
    fn review(&self, path: &str, review: &Value) -> (Reply, Value) {
        let reply = self.post(path, serde_json::to_vec(review).unwrap());
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.content_type, "application/json");
        let v = reply.json();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v:#}");
        assert_eq!(v["kind"], "AdmissionReview", "{v:#}");
        assert_eq!(
            v["response"]["uid"], review["request"]["uid"],
            "the uid is echoed"
        );
        let response = v["response"].clone();
        (reply, response)
    }

    /// GETs `path` from the plain-HTTP ops port.
    fn get_ops(&self, path: &str) -> Reply {
        self.rt.block_on(async {
            let started = Instant::now();
            let stream = TcpStream::connect(self.ops).await.unwrap();
            let req = Request::get(path)
                .header(HOST, format!("127.0.0.1:{}", self.ops.port()))
                .body(Full::new(Bytes::new()))
                .unwrap();
            exchange(stream, req, started).await
        })
    }

    /// The certificate a new TLS connection is shown.
    fn server_certificate(&self) -> CertificateDer<'static> {
        self.rt.block_on(async {
            let stream = self.connect().await;
            stream.get_ref().1.peer_certificates().unwrap()[0].clone()
        })
    }
}

async fn exchange<S>(stream: S, req: Request<Full<Bytes>>, started: Instant) -> Reply
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let work = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let response = sender.send_request(req).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            body: body.to_vec(),
            elapsed: started.elapsed(),
        }
    };
    tokio::time::timeout(PATIENCE, work)
        .await
        .expect("no answer within a minute")
}

/// The serial number of a DER certificate (`tbsCertificate.serialNumber`).
fn serial_number(der: &[u8]) -> u128 {
    fn header(b: &[u8]) -> (u8, usize, usize) {
        if b[1] < 0x80 {
            (b[0], 2, usize::from(b[1]))
        } else {
            let n = usize::from(b[1] & 0x7f);
            let len = b[2..2 + n]
                .iter()
                .fold(0usize, |a, x| (a << 8) | usize::from(*x));
            (b[0], 2 + n, len)
        }
    }
    let (_, h, _) = header(der);
    let tbs = &der[h..];
    let (_, h, _) = header(tbs);
    let mut p = &tbs[h..];
    if p[0] == 0xa0 {
        let (_, h, l) = header(p);
        p = &p[h + l..];
    }
    let (tag, h, l) = header(p);
    assert_eq!(tag, 0x02, "serialNumber is an INTEGER");
    p[h..h + l]
        .iter()
        .fold(0u128, |a, b| (a << 8) | u128::from(*b))
}

// ---------------------------------------------------------------------------------------
// The decision log.

struct DecisionLog(PathBuf);

impl DecisionLog {
    fn all(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.0)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The lines of request `uid`, once there are at least `at_least` (the writer is a task).
    fn records(&self, uid: &str, at_least: usize) -> Vec<Value> {
        wait_for(Duration::from_secs(10), || {
            let lines: Vec<Value> = self
                .all()
                .into_iter()
                .filter(|r| r["request_id"] == uid)
                .collect();
            (lines.len() >= at_least).then_some(lines)
        })
        .unwrap_or_else(|| panic!("fewer than {at_least} decision log lines for {uid}"))
    }

    fn record_for<'a>(records: &'a [Value], image: &str) -> &'a Value {
        records
            .iter()
            .find(|r| r["image"] == image)
            .unwrap_or_else(|| panic!("no log line for {image}: {records:#?}"))
    }
}

type ReasonKey = (String, String, String, String);

fn reason_set(reasons: &Value) -> BTreeSet<ReasonKey> {
    reasons
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("effect"), s("section"), s("code"), s("rule"))
        })
        .collect()
}

fn first_deny_code(reasons: &Value) -> Option<String> {
    reasons
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["effect"] == "deny")
        .map(|r| r["code"].as_str().unwrap().to_owned())
}

/// Whether the answer is "could not decide within the budget" rather than a decision.
fn timed_out(response: &Value) -> bool {
    let in_message = response["status"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("decision-timeout"));
    let in_warnings = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|w| w.as_str().unwrap().contains("decision-timeout"));
    in_message || in_warnings
}

// ---------------------------------------------------------------------------------------
// The world: registry, images, key, policy, database, certificates.

const IMAGE_CHECKS: &str = "hardening:\n  level: 2\n  include: [\"CIS-DOCKER-4.1\", \"CIS-DOCKER-4.8\", \"PSS-BASELINE-*\"]\n  deny_on: fail\n";

/// The policy: sources (the `release` key for everything under `127.0.0.1:*/testbed/`),
/// image and workload hardening checks, and, with `vulnerabilities`, a CVSS limit in `prod`
/// (none in `dev`) with an exception for the Python findings of the signed app.
fn policy_text(signers: bool, vulnerabilities: bool) -> String {
    let mut p = String::from(
        "version: 1\nname: admission-e2e\ndefault_environment: prod\nenvironments: [prod, dev]\n\
         sources:\n  keys:\n    release: release.pub\n  default: deny\n  rules:\n    - name: testbed\n      images: [\"127.0.0.1:*/testbed/**\"]\n",
    );
    if signers {
        p.push_str("      signers: { any_of: [release] }\n");
    }
    if vulnerabilities {
        p.push_str(
            "vulnerabilities:\n  max_cvss: 8.9\n  kev: deny\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev: { max_cvss: null }\n",
        );
    }
    p.push_str(IMAGE_CHECKS);
    if vulnerabilities {
        p.push_str(
            "exceptions:\n  - name: python-findings-accepted\n    packages: [PyYAML, certifi]\n    images: [\"127.0.0.1:*/testbed/signed\", \"127.0.0.1:*/testbed/hang\"]\n    reason: the app never loads untrusted YAML and pins its own CA bundle\n    approved_by: security@example.com\n    expires: 2099-12-31\n",
        );
    }
    p
}

struct World {
    dir: tempfile::TempDir,
    _registry: Registry,
    proxy: Option<HangProxy>,
    /// The testbed `app` image (user 1000), signed.
    signed: String,
    /// The `app` image, never signed.
    unsigned: String,
    /// The testbed `base` image (runs as root), signed.
    base: Option<String>,
    /// The signed `app` image, reached through the [`HangProxy`].
    hang: Option<String>,
    digests: BTreeMap<String, String>,
    policy: PathBuf,
    db: Option<PathBuf>,
    ca: Ca,
}

impl World {
    /// `full`: also the base image, the image behind the proxy and the database.
    fn new(full: bool) -> World {
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let registry = Registry::start();
        let key = common::generate_key(d, "release");
        let host = registry.addr.clone();
        let signed = format!("{host}/testbed/signed:v1");
        let unsigned = format!("{host}/testbed/unsigned:v1");
        common::push("app", &host, "testbed/signed:v1");
        common::push("app", &host, "testbed/unsigned:v1");
        common::sign(&signed, &key);
        let mut refs = vec![signed.clone(), unsigned.clone()];
        let (mut base, mut hang, mut proxy, mut db) = (None, None, None, None);
        if full {
            let b = format!("{host}/testbed/base:v1");
            common::push("base", &host, "testbed/base:v1");
            common::sign(&b, &key);
            let p = HangProxy::start(&host);
            let h = format!("{}/testbed/hang:v1", p.addr);
            common::push("app", &p.addr, "testbed/hang:v1");
            common::sign(&h, &key);
            let path = d.join("vuln.db");
            common::import_db(&path);
            refs.extend([b.clone(), h.clone()]);
            (base, hang, proxy, db) = (Some(b), Some(h), Some(p), Some(path));
        }
        let digests = refs
            .iter()
            .map(|r| (r.clone(), common::registry_digest(r)))
            .collect();
        let policy = d.join("policy.yaml");
        std::fs::write(&policy, policy_text(true, full)).unwrap();
        let ca = Ca::new("palisade admission test CA");
        ca.write(&d.join("ca.crt"));
        ca.server(1).write(d, "tls");
        eprintln!(
            "[{:>5.1}s] registry, images, signatures, database and certificates ready",
            started.elapsed().as_secs_f64()
        );
        World {
            dir,
            _registry: registry,
            proxy,
            signed,
            unsigned,
            base,
            hang,
            digests,
            policy,
            db,
            ca,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn digest(&self, image: &str) -> &str {
        &self.digests[image]
    }
}

/// What `palisade gate registry:IMAGE --format json` decided.
#[derive(Clone, Debug)]
struct GateAnswer {
    decision: String,
    digest: String,
    reasons: BTreeSet<ReasonKey>,
    first_deny: Option<String>,
}

/// Runs the real `palisade gate` with the server's policy, database and environment.
fn gate(w: &World, image: &str, env: &str) -> GateAnswer {
    let policy = w.policy.display().to_string();
    let source = format!("registry:{image}");
    let mut args = vec![
        "gate", &source, "--policy", &policy, "--env", env, "--format", "json",
    ];
    let db = w.db.as_ref().map(|d| d.display().to_string());
    if let Some(db) = &db {
        args.extend(["--db", db]);
    }
    let out = common::palisade_cmd(&w.path("gate-cache"))
        .args(&args)
        .output()
        .unwrap();
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", common::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    GateAnswer {
        decision: v["decision"].as_str().unwrap().to_owned(),
        digest: v["image"]["digest"].as_str().unwrap().to_owned(),
        reasons: reason_set(&v["reasons"]),
        first_deny: first_deny_code(&v["reasons"]),
    }
}

/// Test context: the world, a client and the log, with the gate's answers memoized.
struct Ctx<'a> {
    w: &'a World,
    client: Client,
    log: DecisionLog,
    gates: Mutex<BTreeMap<(String, String), GateAnswer>>,
    /// Objects sent (and patched), checked by `kubernetes-validate` in batches.
    sent: PathBuf,
}

/// One answered review.
struct Answer {
    uid: String,
    reply: Reply,
    response: Value,
}

impl Ctx<'_> {
    fn gate(&self, image: &str, env: &str) -> GateAnswer {
        let key = (image.to_owned(), env.to_owned());
        if let Some(g) = self.gates.lock().unwrap().get(&key) {
            return g.clone();
        }
        let g = gate(self.w, image, env);
        self.gates.lock().unwrap().insert(key, g.clone());
        g
    }

    /// Keeps an object for `kubernetes-validate`.
    fn keep(&self, name: &str, object: &Value) {
        std::fs::write(
            self.sent.join(format!("{name}.json")),
            serde_json::to_vec_pretty(object).unwrap(),
        )
        .unwrap();
    }

    /// Sends the review once.
    fn once(&self, path: &str, envelope: &Envelope) -> Answer {
        let uid = new_uid();
        let (reply, response) = self.client.review(path, &envelope.review(&uid));
        Answer {
            uid,
            reply,
            response,
        }
    }

    /// Sends the review (a new uid each time) until it is decided rather than answered
    /// "could not decide within the budget": a cold image takes longer than the 1 s budget,
    /// and its decision goes on in the background and fills the cache.
    fn decided(&self, path: &str, envelope: &Envelope) -> Answer {
        let started = Instant::now();
        loop {
            let a = self.once(path, envelope);
            if !timed_out(&a.response) {
                return a;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "still not decided after a minute: {:#}",
                a.response
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The log line of `image` in answer `a` has the reasons `palisade gate` gives for it in
    /// `env`, the registry's digest, and the answer's verdict; a deny names the image and the
    /// first code in `status.message`. Returns the log line.
    fn check_image(&self, a: &Answer, images: usize, image: &str, env: &str) -> Value {
        let records = self.log.records(&a.uid, images);
        let record = DecisionLog::record_for(&records, image).clone();
        let gate = self.gate(image, env);
        assert_eq!(
            reason_set(&record["reasons"]),
            gate.reasons,
            "{image} in {env}: the server's reasons are the gate's\nlog: {record:#}"
        );
        assert_eq!(record["verdict"], gate.decision.as_str(), "{record:#}");
        assert_eq!(record["digest"], self.w.digest(image), "{record:#}");
        assert_eq!(gate.digest, self.w.digest(image));
        assert_eq!(record["allowed"], a.response["allowed"], "{record:#}");
        assert_eq!(record["source"], "admission");
        assert_ne!(record["cache"], "timeout", "{record:#}");
        if let Some(warnings) = a.response["warnings"].as_array() {
            assert!(warnings.len() <= 10, "{warnings:?}");
            for w in warnings {
                let w = w.as_str().unwrap();
                assert!(w.chars().count() <= 120, "warning longer than 120: {w}");
            }
        }
        if gate.decision == "deny" && record["mode"] == "enforce" {
            assert_eq!(a.response["allowed"], false, "{:#}", a.response);
        }
        record
    }

    /// An enforce-mode deny: 403 Forbidden, the message names `image` and its first code.
    fn check_denied(&self, a: &Answer, image: &str, env: &str) {
        let r = &a.response;
        assert_eq!(r["allowed"], false, "{r:#}");
        assert_eq!(r["status"]["code"], 403, "{r:#}");
        assert_eq!(r["status"]["reason"], "Forbidden", "{r:#}");
        let message = r["status"]["message"].as_str().unwrap();
        assert!(message.len() <= 512, "{message}");
        let first = self.gate(image, env).first_deny.unwrap();
        assert!(
            message.starts_with(&format!(
                "palisade: {image}@{}",
                &self.w.digest(image)[..19]
            )),
            "{message}"
        );
        assert!(message.contains(&first), "{message} lacks {first}");
    }
}

// ---------------------------------------------------------------------------------------
// `palisade serve`, the real binary.

/// The server's config; `in_process` adds the ops listener (the binary gets `--listen` and
/// `--ops-listen` flags instead, and its config's `listen` differs from the flag's, so the
/// printed addresses show that the flags won).
fn serve_config(w: &World, budget: &str, poll: &str, in_process: bool) -> String {
    let db = w.db.as_ref().map(|_| "db: vuln.db\n").unwrap_or_default();
    let listen = if in_process {
        "listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0"
    } else {
        "listen: 127.0.0.2:0"
    };
    format!(
        "# Written by tests/admission.rs; paths are relative to this file.
{listen}
tls: {{cert: tls.crt, key: tls.key}}
policy: policy.yaml
{db}cache_dir: server-cache
decision: {{budget: {budget}, registry_timeout: 3s, background_deadline: 60s, max_cold: 2}}
cache: {{tag_ttl: 10m, allow_ttl: 10m, deny_ttl: 10m, error_ttl: 1s}}
reload: {{poll_interval: {poll}}}
kubernetes:
  default_mode: enforce
  namespaces:
    - {{match: [\"dev-*\"], mode: warn, environment: dev}}
    - {{match: [\"legacy-*\"], mode: audit}}
  exclude: [kube-system]
  mutate: {{pin_digests: true}}
log: {{decisions: decisions.jsonl}}
"
    )
}

/// Rewrites `path` in place with `bytes` of its own length and puts its modification time
/// back: the same device, inode, size and mtime, so only a forced reload sees the change.
fn rewrite_unnoticeably(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::MetadataExt as _;
    let before = std::fs::metadata(path).unwrap();
    assert_eq!(before.len(), bytes.len() as u64);
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let after = std::fs::metadata(path).unwrap();
    assert_eq!(
        (
            after.dev(),
            after.ino(),
            after.size(),
            after.mtime(),
            after.mtime_nsec()
        ),
        (
            before.dev(),
            before.ino(),
            before.size(),
            before.mtime(),
            before.mtime_nsec()
        )
    );
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

fn section(started: Instant, what: &str) {
    eprintln!("[{:>5.1}s] {what}", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------
// A2.

#[test]
fn the_object_fixtures_pass_kubernetes_validate() {
    let files: Vec<PathBuf> = KINDS.iter().map(|k| fixture_dir().join(k.file)).collect();
    let out = common::kubernetes_validate(&files);
    for k in &KINDS {
        assert!(
            out.contains(&format!(
                "{} passed for resource {}/",
                k.file,
                k.kind.to_lowercase()
            )),
            "{}: {out}",
            k.file
        );
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one server, many acceptance checks, in order
fn a2_admission_over_https_with_palisade_serve() {
    let _turn = serial();
    if skip() {
        return;
    }
    let started = Instant::now();
    let w = World::new(true);
    let (base, hang, proxy) = (
        w.base.clone().unwrap(),
        w.hang.clone().unwrap(),
        w.proxy.as_ref().unwrap(),
    );
    let budget = Duration::from_secs(1);
    let config = w.path("serve.yaml");
    // Reloads only on SIGHUP here (the poll is 10 minutes); A3 tests the poll.
    std::fs::write(&config, serve_config(&w, "1s", "10m", false)).unwrap();
    let mut serve = Serve::start(&config, &w.path("serve-home"));
    // The flags won over the config's `listen: 127.0.0.2:0` (and its absent `ops_listen`).
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!((serve.https.ip(), serve.ops.ip()), (loopback, loopback));
    let sent = w.path("sent");
    std::fs::create_dir(&sent).unwrap();
    let cx = Ctx {
        w: &w,
        client: Client::new(&w.ca, serve.https, serve.ops),
        log: DecisionLog(w.path("decisions.jsonl")),
        gates: Mutex::new(BTreeMap::new()),
        sent,
    };
    let ready = wait_for(Duration::from_secs(10), || {
        (cx.client.get_ops("/readyz").status == 200).then_some(())
    });
    assert!(ready.is_some(), "not ready: {}", serve.stderr());
    assert_eq!(cx.client.get_ops("/readyz").text(), "ready\n");
    assert_eq!(cx.client.get_ops("/healthz").status, 200);
    section(started, "palisade serve is ready");

    // 1. Every kind with each image, in an enforce namespace (env prod): the log line of each
    //    image has exactly the reasons `palisade gate` gives. (The first review of an image
    //    is cold and takes longer than the 1 s budget; `decided` retries until it is not.)
    let images = [w.signed.clone(), w.unsigned.clone(), base.clone()];
    for image in &images {
        let gate = cx.gate(image, "prod");
        assert_eq!(gate.digest, w.digest(image));
    }
    assert_eq!(cx.gate(&w.signed, "prod").decision, "warn");
    assert_eq!(cx.gate(&w.unsigned, "prod").decision, "deny");
    assert_eq!(cx.gate(&base, "prod").decision, "deny");
    assert!(
        cx.gate(&w.unsigned, "prod")
            .reasons
            .iter()
            .any(|r| r.2 == "signature-missing")
    );
    assert!(
        cx.gate(&base, "prod")
            .reasons
            .iter()
            .any(|r| r.3 == "CIS-DOCKER-4.1")
    );
    section(started, "palisade gate answers for the three images");
    for k in &KINDS {
        for image in &images {
            // The Pod's init container runs the signed image: two images, both decided.
            let obj = object(k, image, &w.signed, "apps");
            cx.keep(
                &format!("{}-{}", k.kind, image.rsplit('/').next().unwrap()),
                &obj,
            );
            let a = cx.decided("/k8s/validate", &Envelope::create(k, "apps", obj.clone()));
            let distinct: BTreeSet<String> =
                images_of(k, &obj).into_iter().map(|(_, i)| i).collect();
            for i in &distinct {
                let record = cx.check_image(&a, distinct.len(), i, "prod");
                assert_eq!(record["namespace"], "apps");
                assert_eq!(record["mode"], "enforce");
                assert_eq!(record["dry_run"], false);
                let name = obj["metadata"]["name"].as_str().unwrap();
                assert_eq!(record["object"], format!("{}/apps/{name}", k.kind));
            }
            if image == &w.signed {
                assert_eq!(a.response["allowed"], true, "{}: {:#}", k.kind, a.response);
                assert!(a.response.get("status").is_none(), "{:#}", a.response);
                // The setuid check warns: a warning naming the image and the check.
                let warnings = a.response["warnings"].as_array().unwrap();
                assert!(
                    warnings.iter().any(|w| {
                        let w = w.as_str().unwrap();
                        w.starts_with(&format!("palisade: {}", image))
                            && w.contains("CIS-DOCKER-4.8")
                    }),
                    "{warnings:?}"
                );
            } else {
                cx.check_denied(&a, image, "prod");
            }
        }
    }
    section(
        started,
        "8 kinds x 3 images decided as palisade gate decides",
    );

    // 2. Init containers are decided: an unsigned init container refuses the pod.
    let pod = kind("Pod");
    let obj = object(pod, &w.signed, &w.unsigned, "apps");
    cx.keep("Pod-unsigned-init", &obj);
    let a = cx.decided("/k8s/validate", &Envelope::create(pod, "apps", obj));
    cx.check_image(&a, 2, &w.unsigned, "prod");
    cx.check_image(&a, 2, &w.signed, "prod");
    cx.check_denied(&a, &w.unsigned, "prod");

    // The workload checks (PSS baseline) run too: a privileged container is refused.
    let mut obj = object(pod, &w.signed, &w.signed, "apps");
    pod_spec_mut(pod, &mut obj)["containers"][0]["securityContext"] = json!({"privileged": true});
    cx.keep("Pod-privileged", &obj);
    let a = cx.decided("/k8s/validate", &Envelope::create(pod, "apps", obj));
    assert_eq!(a.response["allowed"], false, "{:#}", a.response);
    let message = a.response["status"]["message"].as_str().unwrap();
    assert!(message.contains("PSS-BASELINE-PRIVILEGED"), "{message}");
    let records = cx.log.records(&a.uid, 2);
    let workload = records.iter().find(|r| r.get("image").is_none()).unwrap();
    assert!(
        reason_set(&workload["reasons"]).contains(&(
            "deny".into(),
            "hardening".into(),
            "check-failed".into(),
            "PSS-BASELINE-PRIVILEGED".into()
        )),
        "{workload:#}"
    );

    // Ephemeral containers: an UPDATE of pods/ephemeralcontainers adding a debug container
    // with the unsigned image is refused; with the signed image it is allowed.
    let old = object(pod, &w.signed, &w.signed, "apps");
    for (image, allowed) in [(&w.unsigned, false), (&w.signed, true)] {
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"] = json!([{
            "name": "debugger", "image": image, "targetContainerName": "web",
            "command": ["/bin/sh"], "stdin": true, "tty": true
        }]);
        cx.keep(&format!("Pod-ephemeral-{allowed}"), &new);
        let envelope = Envelope {
            kind: pod,
            operation: "UPDATE",
            namespace: "apps",
            object: Some(new),
            old_object: Some(old.clone()),
            sub_resource: Some("ephemeralcontainers"),
            dry_run: false,
        };
        let a = cx.decided("/k8s/validate", &envelope);
        assert_eq!(a.response["allowed"], allowed, "{:#}", a.response);
        cx.check_image(&a, 1, image, "prod");
        if !allowed {
            cx.check_denied(&a, image, "prod");
        }
    }
    section(
        started,
        "init containers, workload checks and ephemeral containers decided",
    );

    // 3. /k8s/mutate: every image of an allowed object is pinned to the digest the registry
    //    has; the patched object is still a valid object. A denied one gets no patch.
    let pinned = format!("{}@{}", w.signed, w.digest(&w.signed));
    for k in &KINDS {
        let obj = object(k, &w.signed, &w.signed, "apps");
        let a = cx.decided("/k8s/mutate", &Envelope::create(k, "apps", obj.clone()));
        assert_eq!(a.response["allowed"], true, "{:#}", a.response);
        assert_eq!(a.response["patchType"], "JSONPatch", "{:#}", a.response);
        let patch = base64::engine::general_purpose::STANDARD
            .decode(a.response["patch"].as_str().unwrap())
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
        let mut patched = obj.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        let got = images_of(k, &patched);
        assert_eq!(got.len(), images_of(k, &obj).len());
        for (list, image) in &got {
            assert_eq!(image, &pinned, "{} {list}", k.kind);
        }
        cx.keep(&format!("{}-patched", k.kind), &patched);
        // Pinned already: nothing to patch.
        let a = cx.decided("/k8s/mutate", &Envelope::create(k, "apps", patched));
        assert_eq!(a.response["allowed"], true, "{:#}", a.response);
        assert!(a.response.get("patch").is_none(), "{:#}", a.response);
    }
    let a = cx.decided(
        "/k8s/mutate",
        &Envelope::create(pod, "apps", object(pod, &w.unsigned, &w.signed, "apps")),
    );
    assert_eq!(a.response["allowed"], false);
    assert!(a.response.get("patch").is_none(), "{:#}", a.response);
    let files: Vec<PathBuf> = std::fs::read_dir(&cx.sent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = common::kubernetes_validate(&files);
    assert_eq!(
        out.matches("passed for resource").count(),
        files.len(),
        "{out}"
    );
    section(
        started,
        "mutate patches applied with json-patch; every object sent and patched passes kubernetes-validate",
    );

    // 4. Modes and exclusions. `dev-x` warns (env dev: no CVSS limit), `legacy-x` audits.
    let deploy = kind("Deployment");
    let a = cx.decided(
        "/k8s/validate",
        &Envelope::create(deploy, "dev-x", object(deploy, &w.unsigned, "", "dev-x")),
    );
    assert_eq!(a.response["allowed"], true, "{:#}", a.response);
    assert!(a.response.get("status").is_none());
    let warnings: Vec<&str> = a.response["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("palisade: would deny") && w.contains("signature-missing")),
        "{warnings:?}"
    );
    let record = cx.check_image(&a, 1, &w.unsigned, "dev");
    assert_eq!(record["mode"], "warn");
    assert_eq!(record["allowed"], true);
    assert_ne!(
        cx.gate(&w.unsigned, "dev").reasons,
        cx.gate(&w.unsigned, "prod").reasons
    );

    let a = cx.decided(
        "/k8s/validate",
        &Envelope::create(
            deploy,
            "legacy-x",
            object(deploy, &w.unsigned, "", "legacy-x"),
        ),
    );
    assert_eq!(a.response["allowed"], true, "{:#}", a.response);
    let warnings = a.response["warnings"].as_array().unwrap();
    assert_eq!(
        warnings.len(),
        1 + 1,
        "the audit line and the setuid warning: {warnings:?}"
    );
    let audit = warnings[0].as_str().unwrap();
    assert!(
        audit.starts_with(&format!("palisade audit: would deny {}", w.unsigned)),
        "{audit}"
    );
    assert_eq!(
        a.response["auditAnnotations"]["palisade.dev/decision"], "deny",
        "{:#}",
        a.response
    );
    let record = cx.check_image(&a, 1, &w.unsigned, "prod");
    assert_eq!(record["mode"], "audit");

    // A dry run is decided the same way, and logged as one.
    let mut dry = Envelope::create(deploy, "apps", object(deploy, &w.unsigned, "", "apps"));
    dry.dry_run = true;
    let a = cx.decided("/k8s/validate", &dry);
    cx.check_denied(&a, &w.unsigned, "prod");
    let record = cx.check_image(&a, 1, &w.unsigned, "prod");
    assert_eq!(record["dry_run"], true, "{record:#}");

    // kube-system is excluded and DELETE is never decided: allowed, no work, no log line.
    let quiet = [
        cx.once(
            "/k8s/validate",
            &Envelope::create(
                pod,
                "kube-system",
                object(pod, &w.unsigned, &w.unsigned, "kube-system"),
            ),
        ),
        cx.once(
            "/k8s/validate",
            &Envelope {
                kind: deploy,
                operation: "DELETE",
                namespace: "apps",
                object: None,
                old_object: Some(object(deploy, &w.unsigned, "", "apps")),
                sub_resource: None,
                dry_run: false,
            },
        ),
    ];
    for a in &quiet {
        assert_eq!(a.response["allowed"], true, "{:#}", a.response);
        assert!(a.response.get("warnings").is_none(), "{:#}", a.response);
        assert!(a.response.get("status").is_none(), "{:#}", a.response);
    }
    // The log is written in order: once a later request's line is there, theirs would be.
    let marker = cx.decided(
        "/k8s/validate",
        &Envelope::create(pod, "apps", object(pod, &w.signed, &w.signed, "apps")),
    );
    cx.log.records(&marker.uid, 1);
    for a in &quiet {
        assert!(
            cx.log
                .all()
                .iter()
                .all(|r| r["request_id"] != a.uid.as_str()),
            "no work, no log line for {}",
            a.uid
        );
    }
    section(started, "warn, audit, excluded namespace and DELETE");

    // 5. Bodies that are not an admission review: 400 with a message.
    let review = |api_version: &str, uid: &str, object: Value| {
        let mut r = Envelope::create(pod, "apps", Value::Null).review(uid);
        r["apiVersion"] = json!(api_version);
        r["request"]["object"] = object;
        serde_json::to_vec(&r).unwrap()
    };
    let mut deep = json!("bottom");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let huge = json!({"kind": "Pod", "metadata": {"annotations": {"a": "x".repeat(5 << 20)}}});
    for (body, expected) in [
        (b"this is not JSON".to_vec(), "not an AdmissionReview"),
        (
            review("admission.k8s.io/v1", "deep-1", deep),
            "nests deeper than",
        ),
        (
            review("admission.k8s.io/v1", "huge-1", huge),
            "larger than 4 MiB",
        ),
        (
            review("admission.k8s.io/v1beta1", "old-1", Value::Null),
            "apiVersion `admission.k8s.io/v1beta1` is not supported",
        ),
        (
            review("admission.k8s.io/v1", "", Value::Null),
            "request.uid is empty",
        ),
    ] {
        let size = body.len();
        let reply = cx.client.post("/k8s/validate", body);
        assert_eq!(reply.status, 400, "{size} bytes: {}", reply.text());
        assert!(
            reply.content_type.starts_with("text/plain"),
            "{}",
            reply.content_type
        );
        assert!(
            reply.text().contains(expected),
            "{size} bytes: {}",
            reply.text()
        );
    }
    section(started, "malformed bodies refused with 400");

    // 6. The UPDATE fast path: a Deployment whose pod template did not change (only the
    //    replicas) is allowed without deciding its image; the proxy in front of its registry
    //    hangs, and sees nothing.
    proxy.set_hang(true);
    let before = proxy.activity();
    let old = object(deploy, &hang, "", "apps");
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(5);
    let a = cx.once(
        "/k8s/validate",
        &Envelope {
            kind: deploy,
            operation: "UPDATE",
            namespace: "apps",
            object: Some(new),
            old_object: Some(old),
            sub_resource: None,
            dry_run: false,
        },
    );
    assert_eq!(a.response["allowed"], true, "{:#}", a.response);
    let records = cx.log.records(&a.uid, 1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["cache"], "fast-path", "{records:#?}");
    assert!(a.reply.elapsed < budget, "{:?}", a.reply.elapsed);
    assert_eq!(proxy.activity(), before, "nothing reached the registry");

    // 7. The budget: the registry behind the proxy accepts and never answers. The answer
    //    comes within the budget (+0.5 s) and refuses; once the registry answers again, the
    //    same request is allowed within about ten seconds (errors are kept 1 s).
    let hang_pod = Envelope::create(pod, "apps", object(pod, &hang, &hang, "apps"));
    let a = cx.once("/k8s/validate", &hang_pod);
    eprintln!(
        "         refused after {:?} (budget {budget:?})",
        a.reply.elapsed
    );
    assert!(
        a.reply.elapsed < budget + Duration::from_millis(500),
        "answered after {:?}",
        a.reply.elapsed
    );
    assert_eq!(a.response["allowed"], false, "{:#}", a.response);
    let message = a.response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not decide within the budget"),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("palisade: {hang}")),
        "{message}"
    );
    let records = cx.log.records(&a.uid, 1);
    assert_eq!(records[0]["cache"], "timeout", "{records:#?}");
    assert!(proxy.activity() > before, "the request reached the proxy");
    section(started, "a hanging registry is refused within the budget");
    proxy.set_hang(false);
    let unhung = Instant::now();
    let allowed = wait_for(Duration::from_secs(20), || {
        let a = cx.once("/k8s/validate", &hang_pod);
        (a.response["allowed"] == true).then_some(a)
    })
    .expect("allowed once the registry answers again");
    let recovery = unhung.elapsed();
    eprintln!("         allowed {recovery:?} after the registry answered again");
    assert!(recovery < Duration::from_secs(10), "{recovery:?}");
    cx.check_image(&allowed, 1, &hang, "prod");
    section(
        started,
        "the same request allowed once the registry answers",
    );

    // 8. Probes and metrics.
    assert_eq!(cx.client.get_ops("/readyz").status, 200);
    let metrics = cx.client.get_ops("/metrics");
    assert_eq!(metrics.status, 200);
    let metrics = metrics.text();
    let decisions: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("palisade_decisions_total{"))
        .collect();
    assert!(
        decisions
            .iter()
            .any(|l| l.contains("source=\"admission\"") && l.contains("verdict=\"deny\"")),
        "{metrics}"
    );
    assert!(
        decisions
            .iter()
            .any(|l| l.contains("mode=\"audit\"") || l.contains("mode=\"warn\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_budget_exceeded_total"),
        "{metrics}"
    );

    // 9. SIGHUP reloads at once (the poll is 10 minutes): without the signer rule the unsigned
    //    image is no longer refused for its signature; its reasons are the gate's under the
    //    new policy. And the certificate, rewritten in place so that no poll could notice, is
    //    replaced too.
    let unsigned_pod = Envelope::create(pod, "apps", object(pod, &w.unsigned, &w.unsigned, "apps"));
    std::fs::write(&w.policy, policy_text(false, true)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let a = cx.decided("/k8s/validate", &unsigned_pod);
    let record = &cx.log.records(&a.uid, 1)[0];
    assert!(
        reason_set(&record["reasons"])
            .iter()
            .any(|r| r.2 == "signature-missing"),
        "no reload before the signal: {record:#}"
    );
    cx.gates.lock().unwrap().clear();
    assert_eq!(serial_number(&cx.client.server_certificate()), 1);
    let (cert, key) = (w.path("tls.crt"), w.path("tls.key"));
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as usize;
    let (serial, renewed) = (2..=127)
        .map(|serial| (serial, w.ca.server(serial)))
        .find(|(_, l)| l.cert_pem.len() == size(&cert) && l.key_pem.len() == size(&key))
        .expect("a certificate and key of the same sizes");
    rewrite_unnoticeably(&cert, renewed.cert_pem.as_bytes());
    rewrite_unnoticeably(&key, renewed.key_pem.as_bytes());
    serve.signal("HUP");
    let hup = Instant::now();
    let a = wait_for(PATIENCE, || {
        let a = cx.decided("/k8s/validate", &unsigned_pod);
        let record = &cx.log.records(&a.uid, 1)[0];
        (!reason_set(&record["reasons"])
            .iter()
            .any(|r| r.2 == "signature-missing"))
        .then_some(a)
    })
    .expect("reloaded after SIGHUP");
    eprintln!("         SIGHUP took effect after {:?}", hup.elapsed());
    cx.check_image(&a, 1, &w.unsigned, "prod");
    let served = wait_for(Duration::from_secs(5), || {
        let c = cx.client.server_certificate();
        (serial_number(&c) == u128::from(serial)).then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "SIGHUP did not reload the certificate rewritten in place:\n{}",
            serve.stderr()
        )
    });
    assert_eq!(served, renewed.der);
    section(started, "SIGHUP reload");

    // 10. SIGTERM stops it, exit code 0.
    serve.signal("TERM");
    let status = serve
        .wait(Duration::from_secs(20))
        .expect("stopped within 20 s");
    assert_eq!(status.code(), Some(0), "{}", serve.stderr());
    let stderr = serve.stderr();
    for line in [
        "listening on https://127.0.0.1:",
        "policy loaded",
        "SIGTERM: stopping",
    ] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }
    section(started, "stopped by SIGTERM");
}

// ---------------------------------------------------------------------------------------
// A3.

/// Events the in-process server reports, with when they came.
type Events = Arc<Mutex<Vec<(Instant, String)>>>;

/// When the event number `n` (from 0) starting with `what` came; waits up to 10 s for it.
fn nth_event(events: &Events, what: &str, n: usize) -> Instant {
    wait_for(Duration::from_secs(10), || {
        let e = events.lock().unwrap();
        e.iter()
            .filter(|(_, e)| e.starts_with(what))
            .nth(n)
            .map(|(t, _)| *t)
    })
    .unwrap_or_else(|| panic!("no event `{what}` number {n}: {:?}", events.lock().unwrap()))
}

fn count(events: &Events, what: &str) -> usize {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| e.starts_with(what))
        .count()
}

#[test]
#[allow(clippy::too_many_lines)]
fn a3_reloads_policy_and_certificate_in_process() {
    let _turn = serial();
    if skip() {
        return;
    }
    let started = Instant::now();
    let w = World::new(false);
    let poll = Duration::from_millis(400);
    let config = w.path("serve.yaml");
    std::fs::write(&config, serve_config(&w, "8s", "400ms", true)).unwrap();
    let config = palisade_server::config::ServeConfig::load(&config).unwrap();
    assert_eq!(config.reload.poll_interval, poll);

    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(palisade_server::serve::Server::bind(
            config,
            Arc::new(move |e: &str| sink.lock().unwrap().push((Instant::now(), e.to_owned()))),
        ))
        .unwrap();
    let (https, ops) = (server.local_addr().unwrap(), server.ops_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(server.run(async {
        let _ = stopped.await;
    }));
    let sent = w.path("sent");
    std::fs::create_dir(&sent).unwrap();
    let cx = Ctx {
        w: &w,
        client: Client::new(&w.ca, https, ops),
        log: DecisionLog(w.path("decisions.jsonl")),
        gates: Mutex::new(BTreeMap::new()),
        sent,
    };
    assert_eq!(cx.client.get_ops("/readyz").status, 200);
    assert_eq!(count(&events, "policy loaded"), 1);
    let pod = kind("Pod");
    let unsigned_pod = Envelope::create(pod, "apps", object(pod, &w.unsigned, &w.unsigned, "apps"));

    // The unsigned image is refused for its signature.
    let a = cx.decided("/k8s/validate", &unsigned_pod);
    cx.check_image(&a, 1, &w.unsigned, "prod");
    cx.check_denied(&a, &w.unsigned, "prod");
    assert!(
        a.response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("signature-missing")
    );
    section(started, "in-process server: the unsigned image is refused");

    // 1. The policy without the signer rule is in force within two polls, and the unsigned
    //    image is allowed.
    // Times are the server's own (when it reported the event), so a slow client does not
    // count.
    let loads = count(&events, "policy loaded");
    let written = Instant::now();
    std::fs::write(&w.policy, policy_text(false, false)).unwrap();
    let took = nth_event(&events, "policy loaded", loads) - written;
    eprintln!("         policy reloaded {took:?} after the write (poll {poll:?})");
    assert!(took <= 2 * poll, "{took:?}");
    cx.gates.lock().unwrap().clear();
    let a = cx.decided("/k8s/validate", &unsigned_pod);
    eprintln!(
        "         and the unsigned image allowed {:?} after the write",
        written.elapsed()
    );
    assert_eq!(a.response["allowed"], true, "{:#}", a.response);
    let allowed = cx.check_image(&a, 1, &w.unsigned, "prod");
    section(started, "policy reload: the unsigned image is allowed");

    // 2. An invalid policy: not ready (naming the file), and the last good policy decides.
    let policy_name = w.policy.display().to_string();
    let written = Instant::now();
    std::fs::write(&w.policy, "version: 1\nsources:\n  default: [deny\n").unwrap();
    let took = nth_event(&events, "policy not loaded", 0) - written;
    assert!(took <= 2 * poll, "{took:?}");
    let readyz = cx.client.get_ops("/readyz");
    assert_eq!(readyz.status, 503, "{}", readyz.text());
    let body = readyz.text();
    assert!(body.contains(&policy_name), "{body}");
    assert!(body.contains("previous policy keeps deciding"), "{body}");
    let a = cx.decided("/k8s/validate", &unsigned_pod);
    assert_eq!(a.response["allowed"], true, "{:#}", a.response);
    let record = &cx.log.records(&a.uid, 1)[0];
    assert_eq!(record["reasons"], allowed["reasons"], "decisions unchanged");
    assert_eq!(record["cache"], "hit");
    section(started, "invalid policy: not ready, decisions unchanged");

    // 3. Fixed (the signer rule back): ready again, and the unsigned image refused again.
    let loads = count(&events, "policy loaded");
    let written = Instant::now();
    std::fs::write(&w.policy, policy_text(true, false)).unwrap();
    let took = nth_event(&events, "policy loaded", loads) - written;
    assert!(took <= 2 * poll, "{took:?}");
    let readyz = cx.client.get_ops("/readyz");
    assert_eq!(readyz.status, 200, "{}", readyz.text());
    cx.gates.lock().unwrap().clear();
    let a = cx.decided("/k8s/validate", &unsigned_pod);
    cx.check_denied(&a, &w.unsigned, "prod");
    section(
        started,
        "fixed policy: ready, the unsigned image refused again",
    );

    // 4. A new certificate (serial 2) replaces serial 1 for new connections.
    assert_eq!(serial_number(&cx.client.server_certificate()), 1);
    let renewed = w.ca.server(2);
    let written = Instant::now();
    renewed.write(w.dir.path(), "tls");
    let took = nth_event(&events, "certificate reloaded", 0) - written;
    assert!(took <= 2 * poll, "{took:?}");
    let served = cx.client.server_certificate();
    assert_eq!(serial_number(&served), 2);
    assert_eq!(served, renewed.der);
    // Reviews go on over the new certificate.
    let a = cx.decided("/k8s/validate", &unsigned_pod);
    assert_eq!(a.response["allowed"], false);
    section(started, "certificate reload");

    let _ = stop.send(());
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("stopped within 20 s")
            .unwrap();
    });
    assert!(count(&events, "stopped after") == 1);
}
