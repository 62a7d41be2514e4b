//! The authorization plugin's decisions with a fake engine API and a fake image decider: both
//! spellings of the URI field, requests whose body did not come along (CVE-2024-41110), keys
//! given twice, start with a body (and any start of API < 1.24), reads, pulls (source rules,
//! form bodies), exec, the host state, the registry digest chosen from `RepoDigests`, version
//! prefixes and absolute-form targets the engine accepts, the default `deny_endpoints`, and a
//! large `AuthZRes` call on the agent's real socket. The end-to-end test with a real dockerd
//! is `agent_dockerd.rs`.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use palisade_policy::{Effect, Evaluation, Reason, Section, Verdict};
use palisade_server::agent::AgentConfig;
use palisade_server::authz::{Authz, DockerApi, HostState, HostStatus};
use palisade_server::config::{CacheSettings, DecisionSettings};
use palisade_server::engine::{Engine, ImageDecider};
use palisade_server::record::{Record, Sink};
use palisade_server::state::{Loaded, State};
use palisade_server::wire::authz::{AuthzRequest, AuthzResponse, decode_authz};
use serde_json::{Value, json};

const SIGNED: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const UNSIGNED: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const OTHER: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

const POLICY: &str = r#"version: 1
sources:
  default: deny
  rules:
    - name: trusted
      images: ["registry.example/**"]
hardening:
  level: 2
  deny_on: fail
  include: [CIS-DOCKER-5.4, CIS-DOCKER-5.5, CIS-DOCKER-5.10, CIS-DOCKER-5.23, CIS-DOCKER-5.24, CIS-DOCKER-5.32, CIS-DOCKER-3.18]
"#;

/// Decides by digest: [`UNSIGNED`] is denied `signature-missing`, the rest allowed; remembers
/// what it was asked.
struct FakeDecider {
    base: Evaluation,
    asked: Mutex<Vec<String>>,
}

impl ImageDecider for FakeDecider {
    fn resolve(&self, _reference: &str) -> Result<String, String> {
        Err("the agent decides by the engine's digest; it never resolves tags".into())
    }

    fn decide(
        &self,
        _l: &Loaded,
        _env: &str,
        reference: &str,
        digest: &str,
    ) -> Result<Evaluation, String> {
        self.asked.lock().unwrap().push(reference.to_owned());
        let mut e = self.base.clone();
        if digest == UNSIGNED {
            e.decision.reasons.push(Reason {
                effect: Effect::Deny,
                section: Section::Sources,
                code: "signature-missing".to_owned(),
                rule: "trusted".to_owned(),
                subject: json!({}),
                message: format!("no signature on {reference}"),
                fix: None,
                exception: None,
            });
            e.decision.decision = Verdict::Deny;
        }
        Ok(e)
    }
}

/// An engine with three images and one container.
struct FakeDocker;

impl DockerApi for FakeDocker {
    fn image(&self, name: &str) -> Result<Option<Value>, String> {
        let doc = |digests: Vec<String>| {
            Some(json!({"Id": "sha256:cfg", "RepoDigests": digests,
                        "Config": {"User": "1000", "Healthcheck": {"Test": ["CMD", "true"]}}}))
        };
        Ok(match name {
            "registry.example/app:v1" | "app-id" => doc(vec![
                format!("registry.example/mirror@{OTHER}"),
                format!("registry.example/app@{SIGNED}"),
            ]),
            "registry.example/unsigned:v1" => {
                doc(vec![format!("registry.example/unsigned@{UNSIGNED}")])
            }
            // Re-tagged locally: the engine only knows where it came from.
            "retagged:v1" => doc(vec![format!("registry.example/app@{SIGNED}")]),
            "local:v1" => doc(vec![]),
            _ => None,
        })
    }

    fn container(&self, _id: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }

    fn daemon_no_new_privileges(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<Record>>);

impl Sink for Collect {
    fn record(&self, record: &Record) {
        self.0.lock().unwrap().push(record.clone());
    }
}

struct Fixture {
    authz: Authz,
    decider: Arc<FakeDecider>,
    sink: Arc<Collect>,
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, POLICY).unwrap();
    let loaded = Loaded::load(&path, None).unwrap();
    let input: palisade_policy::Input = serde_json::from_value(json!({
        "now": "2026-12-06T00:00:00Z",
        "image": {"reference": "x", "digest": SIGNED}
    }))
    .unwrap();
    let mut base = loaded.policy.evaluate(&input).unwrap();
    base.decision.reasons.clear();
    base.decision.decision = Verdict::Allow;
    let state = Arc::new(State::default());
    state.install(loaded);
    let decider = Arc::new(FakeDecider {
        base,
        asked: Mutex::new(Vec::new()),
    });
    let engine = Arc::new(Engine::new(
        Arc::clone(&decider) as Arc<dyn ImageDecider>,
        DecisionSettings::default(),
        &CacheSettings::default(),
    ));
    let host = Arc::new(HostStatus::default());
    host.set(HostState::Checked(Arc::new(Vec::new())));
    let sink = Arc::new(Collect::default());
    // The agent's default `deny_endpoints`.
    let config = dir.path().join("agent.yaml");
    std::fs::write(&config, "policy: policy.yaml\n").unwrap();
    let deny_endpoints = AgentConfig::load(&config).unwrap().deny_endpoints;
    Fixture {
        authz: Authz {
            engine,
            state,
            environment: None,
            budget: Duration::from_secs(5),
            docker: Arc::new(FakeDocker),
            host,
            deny_endpoints,
            sink: Arc::clone(&sink) as Arc<dyn Sink>,
        },
        decider,
        sink,
        dir,
    }
}

fn b64(body: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(body).unwrap())
}

fn req(method: &str, uri: &str, body: Option<&Value>) -> AuthzRequest {
    let mut r = json!({"RequestMethod": method, "RequestUri": uri,
                       "RequestHeaders": {"Content-Type": "application/json"}});
    if let Some(b) = body {
        r["RequestBody"] = Value::String(b64(b));
    }
    decode_authz(&serde_json::to_vec(&r).unwrap()).unwrap()
}

fn raw(text: &str) -> AuthzRequest {
    decode_authz(text.as_bytes()).unwrap()
}

fn create(image: &str, host_config: Value) -> Value {
    json!({"Image": image, "User": "1000", "HostConfig": host_config})
}

impl Fixture {
    async fn ask(&self, r: &AuthzRequest) -> AuthzResponse {
        self.authz.request(r, Instant::now()).await
    }
}

#[track_caller]
fn denied(a: &AuthzResponse, needles: &[&str]) {
    assert!(!a.allow, "allowed: {a:?}");
    assert!(a.err.is_empty(), "{a:?}");
    for n in needles {
        assert!(a.msg.contains(n), "{n:?} not in {:?}", a.msg);
    }
}

#[track_caller]
fn allowed(a: &AuthzResponse) {
    assert!(a.allow, "denied: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_spellings_of_the_uri_decide_alike() {
    let f = fixture();
    let body = b64(&create(
        "registry.example/app:v1",
        json!({"Privileged": true}),
    ));
    for field in ["RequestUri", "RequestURI"] {
        let a = f
            .ask(&raw(&format!(
                r#"{{"RequestMethod":"POST","{field}":"/v1.41/containers/create","RequestBody":"{body}","RequestHeader":{{"Content-Type":"application/json"}}}}"#
            )))
            .await;
        denied(&a, &["CIS-DOCKER-5.5"]);
        let a = f
            .ask(&raw(&format!(
                r#"{{"RequestMethod":"POST","{field}":"/v1.41/containers/create"}}"#
            )))
            .await;
        denied(&a, &["CVE-2024-41110"]);
    }
    // Both at once is not a request the engine sends: refused as undecodable.
    assert!(
        decode_authz(br#"{"RequestMethod":"POST","RequestUri":"/containers/json","RequestURI":"/containers/create"}"#)
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_or_exec_without_its_body_is_refused() {
    let f = fixture();
    for uri in [
        "/v1.41/containers/create",
        "/containers/create?name=x",
        "/v1.41/containers/abc/exec",
    ] {
        for r in [
            req("POST", uri, None),
            raw(&format!(
                r#"{{"RequestMethod":"POST","RequestUri":"{uri}","RequestBody":null}}"#
            )),
            raw(&format!(
                r#"{{"RequestMethod":"POST","RequestUri":"{uri}","RequestBody":""}}"#
            )),
        ] {
            denied(&f.ask(&r).await, &["CVE-2024-41110"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_given_twice_is_refused() {
    let f = fixture();
    // Go merges both HostConfig objects (privileged); serde_json would keep the last.
    let body =
        br#"{"Image":"registry.example/app:v1","HostConfig":{"Privileged":true},"HostConfig":{}}"#;
    let b = base64::engine::general_purpose::STANDARD.encode(body);
    let a = f
        .ask(&raw(&format!(
            r#"{{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestBody":"{b}"}}"#
        )))
        .await;
    denied(&a, &["request-invalid", "twice"]);
    let exec = br#"{"Cmd":["sh"],"Privileged":true,"Privileged":false}"#;
    let b = base64::engine::general_purpose::STANDARD.encode(exec);
    let a = f
        .ask(&raw(&format!(
            r#"{{"RequestMethod":"POST","RequestUri":"/v1.41/containers/abc/exec","RequestBody":"{b}"}}"#
        )))
        .await;
    denied(&a, &["twice"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_a_body_is_refused_and_without_allowed() {
    let f = fixture();
    denied(
        &f.ask(&req(
            "POST",
            "/v1.41/containers/abc/start",
            Some(&json!({"Privileged": true})),
        ))
        .await,
        &["start-with-config"],
    );
    allowed(
        &f.ask(&req("POST", "/v1.41/containers/abc/start", None))
            .await,
    );
    allowed(&f.ask(&req("POST", "/containers/abc/start", None)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_api_start_is_refused_even_without_a_body() {
    // Below API 1.24 the engine applies a HostConfig given at start, and a chunked body never
    // reaches the plugin (the engine forwards bodies with a Content-Length only).
    let f = fixture();
    for uri in [
        "/v1.23/containers/abc/start",
        "/v1.12/containers/abc/start",
        "/v1.23./containers/abc/start",
    ] {
        denied(
            &f.ask(&req("POST", uri, None)).await,
            &["start-with-config"],
        );
    }
    allowed(
        &f.ask(&req("POST", "/v1.24/containers/abc/start", None))
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_allowed_at_once() {
    let f = fixture();
    for (method, uri) in [
        ("GET", "/v1.41/containers/json"),
        ("GET", "/v1.41/containers/create"),
        ("HEAD", "/_ping"),
        ("get", "/v1.41/images/json"),
    ] {
        allowed(&f.ask(&req(method, uri, None)).await);
    }
    assert!(f.sink.0.lock().unwrap().is_empty(), "reads are not logged");
    assert!(f.decider.asked.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_follow_the_source_rules() {
    let f = fixture();
    denied(
        &f.ask(&req(
            "POST",
            "/v1.41/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=3.19",
            None,
        ))
        .await,
        &["untrusted-source", "docker.io/library/alpine"],
    );
    allowed(
        &f.ask(&req(
            "POST",
            "/v1.41/images/create?fromImage=registry.example%2Fapp&tag=v1",
            None,
        ))
        .await,
    );
    // An import names no image; what it makes is judged at create.
    allowed(
        &f.ask(&req("POST", "/v1.41/images/create?fromSrc=-", None))
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_with_a_form_body_is_refused() {
    // The engine reads `fromImage` from a form body first; the plugin sees only the query.
    let f = fixture();
    let a = f
        .ask(&raw(
            r#"{"RequestMethod":"POST","RequestUri":"/v1.41/images/create?fromImage=registry.example%2Fapp&tag=v1","RequestHeaders":{"Content-Type":"application/x-www-form-urlencoded; charset=utf-8"}}"#,
        ))
        .await;
    denied(&a, &["form body"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_privileged_or_as_root_is_refused() {
    let f = fixture();
    let exec = |body: Value| req("POST", "/v1.41/containers/abc/exec", Some(&body));
    denied(
        &f.ask(&exec(json!({"Cmd": ["sh"], "Privileged": true})))
            .await,
        &["CIS-DOCKER-5.23"],
    );
    denied(
        &f.ask(&exec(json!({"Cmd": ["sh"], "User": "root"}))).await,
        &["CIS-DOCKER-5.24"],
    );
    allowed(&f.ask(&exec(json!({"Cmd": ["sh"], "User": "1000"}))).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_decides_image_container_and_host() {
    let f = fixture();
    let post = |body: Value| req("POST", "/v1.41/containers/create?name=web", Some(&body));
    allowed(
        &f.ask(&post(create("registry.example/app:v1", json!({}))))
            .await,
    );
    // The digest of the requested repository, not the first one the engine lists.
    assert_eq!(
        f.decider.asked.lock().unwrap().as_slice(),
        [format!("registry.example/app:v1@{SIGNED}")]
    );
    denied(
        &f.ask(&post(create("registry.example/unsigned:v1", json!({}))))
            .await,
        &["signature-missing", "registry.example/unsigned:v1"],
    );
    for (hc, id) in [
        (json!({"Privileged": true}), "CIS-DOCKER-5.5"),
        (json!({"CapAdd": ["SYS_ADMIN"]}), "CIS-DOCKER-5.4"),
        (json!({"NetworkMode": "host"}), "CIS-DOCKER-5.10"),
        (
            json!({"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}),
            "CIS-DOCKER-5.32",
        ),
    ] {
        denied(
            &f.ask(&post(create("registry.example/app:v1", hc))).await,
            &[id],
        );
    }
    // Built or loaded here: no registry digest to decide.
    denied(
        &f.ask(&post(create("local:v1", json!({})))).await,
        &["no-registry-digest"],
    );
    // Absent: the engine answers 404 and the client pulls (a checked pull).
    allowed(&f.ask(&post(create("absent:v1", json!({})))).await);
    let records = f.sink.0.lock().unwrap();
    let unsigned = records
        .iter()
        .find(|r| r.image.as_deref() == Some("registry.example/unsigned:v1"))
        .unwrap();
    assert_eq!(unsigned.digest.as_deref(), Some(UNSIGNED));
    assert!(!unsigned.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_asked_for_by_id_or_another_name_is_decided_where_it_came_from() {
    let f = fixture();
    let post = |image: &str| {
        req(
            "POST",
            "/v1.41/containers/create",
            Some(&create(image, json!({}))),
        )
    };
    allowed(&f.ask(&post("retagged:v1")).await);
    allowed(&f.ask(&post("app-id")).await);
    let asked = f.decider.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            format!("registry.example/app@{SIGNED}"),
            format!("registry.example/mirror@{OTHER}")
        ],
        "decided under the repository the engine pulled it from"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_prefixes_the_engine_accepts_do_not_hide_an_endpoint() {
    // The engine routes `/v{version:[0-9.]+}/…` and accepts `1.41.` as 1.41.
    let f = fixture();
    let body = create("registry.example/app:v1", json!({"Privileged": true}));
    for uri in [
        "/v1.41./containers/create",
        "/v1.41.0/containers/create",
        "/v1..41/containers/create",
        "//v1.41//containers//create",
    ] {
        denied(
            &f.ask(&req("POST", uri, Some(&body))).await,
            &["CIS-DOCKER-5.5"],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_request_target_is_judged_by_its_path() {
    // Go's server accepts `POST http://host/v1.41/containers/create` and routes by the path;
    // the plugin receives the request target as sent.
    let f = fixture();
    let body = create("registry.example/app:v1", json!({"Privileged": true}));
    for uri in [
        "http://docker/v1.41/containers/create",
        "HTTP://docker:2375/containers/create?name=x",
    ] {
        denied(
            &f.ask(&req("POST", uri, Some(&body))).await,
            &["CIS-DOCKER-5.5"],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchecked_host_refuses_creation() {
    let f = fixture();
    let post = || {
        req(
            "POST",
            "/v1.41/containers/create",
            Some(&create("registry.example/app:v1", json!({}))),
        )
    };
    f.authz.host.set(HostState::Unchecked);
    denied(&f.ask(&post()).await, &["host-unchecked"]);
    f.authz
        .host
        .set(HostState::Failed("cannot read /etc".into()));
    denied(
        &f.ask(&post()).await,
        &["host-unchecked", "cannot read /etc"],
    );
    // A real host tree whose daemon.json anyone may write.
    let root = f.dir.path().join("host");
    std::fs::create_dir_all(root.join("etc/docker")).unwrap();
    let json = root.join("etc/docker/daemon.json");
    std::fs::write(&json, "{}").unwrap();
    std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o666)).unwrap();
    let results = palisade_server::agent::check_host(&root).unwrap();
    f.authz.host.set(HostState::Checked(Arc::new(results)));
    denied(&f.ask(&post()).await, &["CIS-DOCKER-3.18", "host"]);
    std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o644)).unwrap();
    let results = palisade_server::agent::check_host(&root).unwrap();
    f.authz.host.set(HostState::Checked(Arc::new(results)));
    allowed(&f.ask(&post()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_endpoints_are_refused() {
    let f = fixture();
    for uri in [
        "/v1.41/services/create",
        "/v1.41/services/abc/update?version=3",
        "/v1.41/plugins/pull?remote=x",
        "/v1.41/plugins/create?name=evil",
        "/v1.41/plugins/evil:latest/upgrade?remote=x",
        "/v1.41/plugins/evil/set",
    ] {
        denied(
            &f.ask(&req("POST", uri, Some(&json!({})))).await,
            &["endpoint-denied"],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_authzres_call_is_read_to_its_end() {
    // The engine sends AuthZRes with the request and response bodies; answered before it is
    // read, the engine's write stalls until the server drops the connection, and the engine
    // retries the call a second later while its client waits.
    use std::io::{Read as _, Write as _};
    let f = fixture();
    let dir = f.dir.path();
    std::fs::create_dir_all(dir.join("host")).unwrap();
    let socket = dir.join("agent.sock");
    std::fs::write(
        dir.join("agent.yaml"),
        "socket: agent.sock\nengine: unix:///nonexistent/docker.sock\npolicy: policy.yaml\nhost: {root: host}\n",
    )
    .unwrap();
    let config = AgentConfig::load(&dir.join("agent.yaml")).unwrap();
    let agent = palisade_server::agent::Agent::bind(config, Arc::new(|_: &str| {}))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    let answer = tokio::task::spawn_blocking(move || {
        let payload = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 3 << 20]);
        let body = format!(
            r#"{{"RequestMethod":"GET","RequestUri":"/v1.41/containers/json","ResponseStatusCode":200,"ResponseBody":"{payload}"}}"#
        );
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /AuthZPlugin.AuthZRes HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body.as_bytes())
            .expect("the whole AuthZRes body is read by the plugin");
        let mut answer = vec![0u8; 4096];
        let n = s.read(&mut answer).unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"Allow":true}"#), "{answer}");
    let _ = stop.send(());
    running.await.unwrap();
}
