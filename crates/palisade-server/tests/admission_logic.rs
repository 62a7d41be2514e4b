//! The admission handler with a fake image decider: modes, exclusions, operations, the UPDATE
//! fast path, workload checks, messages, warnings, the digest-pinning patch and the budget.
//! The end-to-end test over HTTPS with a real registry is `admission.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use palisade_policy::{Effect, Evaluation, Reason, Section, Verdict};
use palisade_server::admission::Admission;
use palisade_server::config::{
    CacheSettings, DecisionSettings, KubernetesSettings, Mode, NamespaceRule,
};
use palisade_server::engine::{Engine, ImageDecider};
use palisade_server::record::{Record, Sink};
use palisade_server::state::{Loaded, State};
use palisade_server::wire::admission::{AdmissionRequest, decode_review};
use serde_json::{Value, json};

const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

const POLICY: &str = r#"version: 1
environments: [prod, dev]
default_environment: prod
hardening:
  level: 2
  include: ["PSS-BASELINE-*"]
  deny_on: fail
"#;

struct Fake {
    base: Evaluation,
    slow: Duration,
}

impl ImageDecider for Fake {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        if reference.contains("slow") {
            std::thread::sleep(self.slow);
        }
        Ok(DIGEST.to_owned())
    }

    fn decide(
        &self,
        _l: &Loaded,
        _env: &str,
        reference: &str,
        _d: &str,
    ) -> Result<Evaluation, String> {
        let mut e = self.base.clone();
        let reason = |effect, code: &str| Reason {
            effect,
            section: Section::Sources,
            code: code.to_owned(),
            rule: "internal".to_owned(),
            subject: json!({}),
            message: format!("{code} on {reference}"),
            fix: None,
            exception: None,
        };
        if reference.contains("unsigned") {
            e.decision
                .reasons
                .push(reason(Effect::Deny, "signature-missing"));
            e.decision.decision = Verdict::Deny;
        } else if reference.contains("warny") {
            e.decision.reasons.push(reason(Effect::Warn, "epss-high"));
            e.decision.decision = Verdict::Warn;
        }
        Ok(e)
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
    admission: Admission,
    sink: Arc<Collect>,
    _dir: tempfile::TempDir,
}

fn fixture(budget: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, POLICY).unwrap();
    let loaded = Loaded::load(&path, None).unwrap();
    let input: palisade_policy::Input = serde_json::from_value(json!({
        "now": "2026-12-06T00:00:00Z", "environment": "prod",
        "image": {"reference": "x", "digest": DIGEST}
    }))
    .unwrap();
    let mut base = loaded.policy.evaluate(&input).unwrap();
    base.decision.reasons.clear();
    base.decision.decision = Verdict::Allow;
    let state = Arc::new(State::default());
    state.install(loaded);
    let decider = Arc::new(Fake {
        base,
        slow: Duration::from_millis(800),
    });
    let engine = Arc::new(Engine::new(
        decider,
        DecisionSettings {
            budget,
            ..DecisionSettings::default()
        },
        &CacheSettings::default(),
    ));
    let sink = Arc::new(Collect::default());
    let settings = KubernetesSettings {
        namespaces: vec![
            NamespaceRule {
                patterns: vec!["dev-*".into()],
                mode: Some(Mode::Warn),
                environment: Some("dev".into()),
            },
            NamespaceRule {
                patterns: vec!["legacy-*".into()],
                mode: Some(Mode::Audit),
                environment: None,
            },
        ],
        ..KubernetesSettings::default()
    };
    Fixture {
        admission: Admission {
            engine,
            state,
            excluded: settings.exclude.clone(),
            settings,
            budget,
            sink: Arc::clone(&sink) as Arc<dyn Sink>,
        },
        sink,
        _dir: dir,
    }
}

fn pod(images: &[&str], privileged: bool) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            json!({"name": format!("c{i}"), "image": image,
                   "securityContext": {"privileged": privileged && i == 0}})
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "prod-a"},
           "spec": {"containers": containers}})
}

fn deployment(image: &str, replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "d", "namespace": "prod-a"},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}},
                    "template": {"metadata": {"labels": {"app": "d"}},
                                 "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

fn request(
    op: &str,
    namespace: &str,
    object: Option<Value>,
    old: Option<Value>,
) -> AdmissionRequest {
    let kind = object
        .as_ref()
        .and_then(|o| o["kind"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Pod".into());
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace, "operation": op,
            "userInfo": {"username": "admin", "groups": ["system:authenticated"]},
            "object": object, "oldObject": old, "dryRun": false
        }
    });
    decode_review(&serde_json::to_vec(&review).unwrap())
        .unwrap()
        .request
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_denies_with_image_and_reason_and_echoes_uid() {
    let f = fixture(Duration::from_secs(5));
    let r = request(
        "CREATE",
        "prod-a",
        Some(pod(
            &["reg.example/ok/app:v1", "reg.example/unsigned/app:v1"],
            false,
        )),
        None,
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert_eq!(resp.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert!(!resp.allowed);
    let status = resp.status.unwrap();
    assert_eq!(status.code, Some(403));
    assert!(
        status
            .message
            .contains("reg.example/unsigned/app:v1@sha256:222222"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("signature-missing (internal)"),
        "{}",
        status.message
    );
    assert!(!status.message.contains("ok/app"), "{}", status.message);
    let records = f.sink.0.lock().unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.digest.as_deref() == Some(DIGEST)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_checks_deny_privileged_and_warnings_are_short() {
    let f = fixture(Duration::from_secs(5));
    let r = request(
        "CREATE",
        "prod-a",
        Some(pod(&["reg.example/warny/app:v1"], true)),
        None,
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(!resp.allowed);
    let message = resp.status.unwrap().message;
    assert!(message.contains("container c0"), "{message}");
    assert!(message.contains("PSS-BASELINE-PRIVILEGED"), "{message}");
    let warnings = resp.warnings.unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("epss-high")),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|w| w.chars().count() <= 120));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_and_audit_namespaces_allow_with_warnings() {
    let f = fixture(Duration::from_secs(5));
    let r = request(
        "CREATE",
        "dev-x",
        Some(pod(&["reg.example/unsigned/app:v1"], false)),
        None,
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(resp.allowed);
    let w = resp.warnings.unwrap();
    assert!(
        w[0].starts_with("palisade: would deny reg.example/unsigned/app:v1"),
        "{w:?}"
    );

    let r = request(
        "CREATE",
        "legacy-x",
        Some(pod(&["reg.example/unsigned/app:v1"], false)),
        None,
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(resp.allowed);
    assert!(resp.warnings.unwrap()[0].starts_with("palisade audit: would deny"));
    assert_eq!(
        resp.audit_annotations.unwrap()["palisade.dev/decision"],
        "deny"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_delete_and_non_workloads_are_allowed_without_work() {
    let f = fixture(Duration::from_secs(5));
    let bad = pod(&["reg.example/unsigned/app:v1"], true);
    for r in [
        request("CREATE", "kube-system", Some(bad.clone()), None),
        request("DELETE", "prod-a", None, Some(bad.clone())),
        request(
            "CREATE",
            "prod-a",
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
            None,
        ),
    ] {
        let resp = f.admission.review(&r, false, Instant::now()).await;
        assert!(resp.allowed, "{r:?}");
    }
    assert!(f.sink.0.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_without_a_pod_change_takes_the_fast_path() {
    let f = fixture(Duration::from_secs(5));
    let r = request(
        "UPDATE",
        "prod-a",
        Some(deployment("reg.example/unsigned/app:v1", 5)),
        Some(deployment("reg.example/unsigned/app:v1", 3)),
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(resp.allowed);
    assert_eq!(f.sink.0.lock().unwrap()[0].cache, "fast-path");
    let r = request(
        "UPDATE",
        "prod-a",
        Some(deployment("reg.example/unsigned/app:v2", 3)),
        Some(deployment("reg.example/unsigned/app:v1", 3)),
    );
    assert!(!f.admission.review(&r, false, Instant::now()).await.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_pins_every_image_to_its_digest() {
    let f = fixture(Duration::from_secs(5));
    let mut object = deployment("reg.example/ok/app:v1", 1);
    object["spec"]["template"]["spec"]["initContainers"] =
        json!([{"name": "init", "image": "reg.example/ok/init:v1"}]);
    let r = request("CREATE", "prod-a", Some(object.clone()), None);
    let resp = f.admission.review(&r, true, Instant::now()).await;
    assert!(resp.allowed);
    assert_eq!(resp.patch_type.as_deref(), Some("JSONPatch"));
    let patch: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(resp.patch.unwrap())
            .unwrap(),
    )
    .unwrap();
    json_patch::patch(&mut object, &patch).unwrap();
    let spec = &object["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["image"],
        format!("reg.example/ok/app:v1@{DIGEST}")
    );
    assert_eq!(
        spec["initContainers"][0]["image"],
        format!("reg.example/ok/init:v1@{DIGEST}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_decision_denies_within_the_budget_then_the_retry_is_fast() {
    let f = fixture(Duration::from_millis(300));
    let r = request(
        "CREATE",
        "prod-a",
        Some(pod(&["reg.example/slow/app:v1"], false)),
        None,
    );
    let start = Instant::now();
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(start.elapsed() < Duration::from_millis(700));
    assert!(!resp.allowed);
    assert!(
        resp.status
            .unwrap()
            .message
            .contains("could not decide within the budget")
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(resp.allowed, "{resp:?}");
    // In a warn namespace a timeout is allowed with a warning.
    let f = fixture(Duration::from_millis(300));
    let r = request(
        "CREATE",
        "dev-x",
        Some(pod(&["reg.example/slow/app:v1"], false)),
        None,
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(resp.allowed);
    assert!(resp.warnings.unwrap()[0].contains("decision-timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_without_readable_containers_is_denied() {
    let f = fixture(Duration::from_secs(5));
    let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"containers": {"not": "a list"}}});
    let r = request("CREATE", "dev-x", Some(object), None);
    let resp = f.admission.review(&r, false, Instant::now()).await;
    // dev-x is a warn namespace: allowed, but the problem is said.
    assert!(
        resp.warnings
            .unwrap()
            .iter()
            .any(|w| w.contains("object-invalid"))
    );
    let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"containers": []}});
    let r = request("CREATE", "prod-a", Some(object), None);
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(!resp.allowed);
    assert!(resp.status.unwrap().message.contains("object-invalid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_policy_loaded_denies() {
    let mut f = fixture(Duration::from_secs(5));
    f.admission.state = Arc::new(State::default());
    let r = request(
        "CREATE",
        "prod-a",
        Some(pod(&["reg.example/ok/app:v1"], false)),
        None,
    );
    let resp = f.admission.review(&r, false, Instant::now()).await;
    assert!(!resp.allowed);
    assert!(resp.status.unwrap().message.contains("no policy is loaded"));
}
