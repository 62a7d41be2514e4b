//! `/k8s/validate` and `/k8s/mutate`: one admission request in, one answer out.
//!
//! Every image of every container (`containers`, `initContainers`, `ephemeralContainers`) is
//! decided by the [`Engine`] with the policy's environment for the namespace; the pod's own
//! settings (privileged, host namespaces, hostPath…) by the Kubernetes checks of
//! `palisade-harden` under the policy's hardening section. The namespace's mode says what a
//! deny does: refuse (`enforce`), or allow with warnings (`warn`, `audit`). Nothing that went
//! wrong ever becomes an allow in `enforce`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use palisade_harden::k8s::{ContainerRef, check_object, container_images, pod_spec_path};
use palisade_image::{Case, glob_match};
use palisade_policy::{CheckInput, Effect, Verdict};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::{KubernetesSettings, Mode};
use crate::engine::{CacheUse, Engine, Outcome, ReasonLite, cut};
use crate::record::{Record, Sink};
use crate::state::{Loaded, State};
use crate::wire::admission::{AdmissionRequest, AdmissionResponse, Status};

/// The longest `status.message`.
pub const MAX_MESSAGE: usize = 512;
/// The longest warning (`kubectl` prints each on one line).
pub const MAX_WARNING: usize = 120;
/// The most warnings in one response.
pub const MAX_WARNINGS: usize = 10;
/// The most distinct images decided in one request; more are refused (a pod has a few).
pub const MAX_IMAGES: usize = 64;

/// The admission handler's shared parts.
pub struct Admission {
    /// Decides images.
    pub engine: Arc<Engine>,
    /// The policy in force.
    pub state: Arc<State>,
    /// Modes, environments and exclusions.
    pub settings: KubernetesSettings,
    /// Namespaces never decided.
    pub excluded: Vec<String>,
    /// How long a request may take.
    pub budget: Duration,
    /// The decision log and metrics.
    pub sink: Arc<dyn Sink>,
}

/// One image of the request and what was decided.
struct ImageAnswer {
    image: String,
    refs: Vec<ContainerRef>,
    outcome: Arc<Outcome>,
    cache: CacheUse,
}

/// The workload's own reasons, per container (`None`: the pod).
struct WorkloadAnswer {
    container: Option<String>,
    reasons: Vec<ReasonLite>,
}

impl Admission {
    /// Answers one request. `mutate` adds the digest-pinning patch.
    pub async fn review(
        &self,
        req: &AdmissionRequest,
        mutate: bool,
        arrived: Instant,
    ) -> AdmissionResponse {
        let allow = |warnings: Vec<String>| AdmissionResponse {
            uid: req.uid.clone(),
            allowed: true,
            warnings: (!warnings.is_empty()).then_some(warnings),
            ..AdmissionResponse::default()
        };
        if matches!(req.operation.as_str(), "DELETE" | "CONNECT") {
            return allow(Vec::new());
        }
        if let Some(sub) = req.sub_resource.as_deref()
            && !sub.is_empty()
            && sub != "ephemeralcontainers"
        {
            return allow(Vec::new());
        }
        let namespace = req
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        if self
            .excluded
            .iter()
            .any(|p| glob_match(p, &namespace, Case::Sensitive))
        {
            return allow(Vec::new());
        }
        let (mode, env) = self.mode_for(&namespace);
        let Some(object) = req.object.as_ref() else {
            return self.finish(
                req,
                mode,
                &namespace,
                "",
                vec![],
                vec![WorkloadAnswer {
                    container: None,
                    reasons: vec![ReasonLite::server(
                        "object-invalid",
                        format!("a {} request without an object", req.operation),
                    )],
                }],
                arrived,
                false,
            );
        };
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or(req.kind.kind.as_str());
        if pod_spec_path(kind).is_none() {
            return allow(Vec::new());
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .or(req.name.as_deref())
            .unwrap_or("");
        let subject = format!("{kind}/{namespace}/{name}");
        if req.operation == "UPDATE"
            && let Some(old) = req.old_object.as_ref()
            && fingerprint(object, kind).is_some_and(|f| Some(f) == fingerprint(old, kind))
        {
            let response = allow(Vec::new());
            self.sink.record(&Record {
                ts: palisade_gate::now_utc(),
                request_id: req.uid.clone(),
                source: "admission",
                namespace: Some(namespace.clone()),
                object: subject,
                mode: mode.as_str(),
                dry_run: req.dry_run.unwrap_or(false),
                image: None,
                digest: None,
                verdict: "allow",
                allowed: true,
                cache: "fast-path",
                ms: ms(arrived),
                reasons: vec![],
            });
            return response;
        }
        let Some(loaded) = self.state.current() else {
            return self.finish(
                req,
                mode,
                &namespace,
                &subject,
                vec![],
                vec![server_reason(
                    "decision-error",
                    "no policy is loaded (see /readyz)".into(),
                )],
                arrived,
                false,
            );
        };
        let env = match loaded.policy.environment(env.as_deref()) {
            Ok(e) => e.to_owned(),
            Err(e) => {
                return self.finish(
                    req,
                    mode,
                    &namespace,
                    &subject,
                    vec![],
                    vec![server_reason("decision-error", e.to_string())],
                    arrived,
                    false,
                );
            }
        };
        let now = palisade_gate::now_utc();
        let refs = container_images(object);
        let mut workload = workload_reasons(&loaded, &env, &now, object, &namespace, &refs);
        if refs.is_empty() {
            // Every pod has a container: none found means a pod spec this server cannot read,
            // and what it cannot read it does not allow.
            workload.push(server_reason(
                "object-invalid",
                format!("no containers found in the {kind}'s pod spec"),
            ));
        }
        let mut by_image: BTreeMap<String, Vec<ContainerRef>> = BTreeMap::new();
        for r in refs {
            match r.image.clone().filter(|i| !i.trim().is_empty()) {
                Some(image) => by_image.entry(image).or_default().push(r),
                None => workload.push(WorkloadAnswer {
                    container: r.name.clone(),
                    reasons: vec![ReasonLite::server(
                        "image-missing",
                        format!("{}[{}] has no image", r.field, r.index),
                    )],
                }),
            }
        }
        if by_image.len() > MAX_IMAGES {
            workload.push(server_reason(
                "object-invalid",
                format!("more than {MAX_IMAGES} distinct images in one object"),
            ));
            by_image.clear();
        }
        let deadline = arrived + self.budget;
        let mut set = tokio::task::JoinSet::new();
        for (image, refs) in by_image {
            let engine = Arc::clone(&self.engine);
            let loaded = Arc::clone(&loaded);
            let env = env.clone();
            set.spawn(async move {
                let (outcome, cache) = engine.decide(&loaded, &env, &image, deadline).await;
                ImageAnswer {
                    image,
                    refs,
                    outcome,
                    cache,
                }
            });
        }
        let mut images = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(answer) => images.push(answer),
                Err(e) => workload.push(server_reason(
                    "decision-error",
                    format!("internal error while deciding an image: {e}"),
                )),
            }
        }
        images.sort_by(|a, b| a.refs[0].pointer.cmp(&b.refs[0].pointer));
        self.finish(
            req, mode, &namespace, &subject, images, workload, arrived, mutate,
        )
    }

    /// The namespace's mode and environment: the first rule whose pattern matches.
    fn mode_for(&self, namespace: &str) -> (Mode, Option<String>) {
        let s = &self.settings;
        for rule in &s.namespaces {
            if rule
                .patterns
                .iter()
                .any(|p| glob_match(p, namespace, Case::Sensitive))
            {
                return (
                    rule.mode.unwrap_or(s.default_mode),
                    rule.environment
                        .clone()
                        .or_else(|| s.default_environment.clone()),
                );
            }
        }
        (s.default_mode, s.default_environment.clone())
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        req: &AdmissionRequest,
        mode: Mode,
        namespace: &str,
        subject: &str,
        images: Vec<ImageAnswer>,
        workload: Vec<WorkloadAnswer>,
        arrived: Instant,
        mutate: bool,
    ) -> AdmissionResponse {
        let denies = |r: &&ReasonLite| r.effect == Effect::Deny;
        let warns = |r: &&ReasonLite| r.effect == Effect::Warn;
        let mut deny_lines = Vec::new();
        let mut warn_lines = Vec::new();
        for w in &workload {
            let who = match &w.container {
                Some(c) => format!("container {c}"),
                None => subject.to_owned(),
            };
            if w.reasons.iter().any(|r| denies(&r)) {
                deny_lines.push(line(&who, None, w.reasons.iter().filter(denies)));
            }
            for r in w.reasons.iter().filter(warns) {
                warn_lines.push(format!("palisade: {who}: {} {}", r.code, r.rule));
            }
        }
        for i in &images {
            if i.outcome.reasons.iter().any(|r| denies(&r)) || i.outcome.verdict == Verdict::Deny {
                deny_lines.push(line(
                    &i.image,
                    i.outcome.digest.as_deref(),
                    i.outcome.reasons.iter().filter(denies),
                ));
            }
            for r in i.outcome.reasons.iter().filter(warns) {
                warn_lines.push(format!("palisade: {}: {} {}", i.image, r.code, r.rule));
            }
        }
        let denied = !deny_lines.is_empty();
        let allowed = !denied || mode != Mode::Enforce;
        let mut warnings = Vec::new();
        let mut response = AdmissionResponse {
            uid: req.uid.clone(),
            allowed,
            ..AdmissionResponse::default()
        };
        match (denied, mode) {
            (true, Mode::Enforce) => {
                let mut message = deny_lines.join(" | ");
                message = cut(&format!("palisade: {message}"), MAX_MESSAGE);
                response.status = Some(Status {
                    code: Some(403),
                    message,
                    reason: Some("Forbidden".to_owned()),
                });
            }
            (true, Mode::Warn) => {
                warnings.extend(
                    deny_lines
                        .iter()
                        .map(|l| format!("palisade: would deny {l}")),
                );
            }
            (true, Mode::Audit) => {
                warnings.push(format!("palisade audit: would deny {}", deny_lines[0]));
                response.audit_annotations = Some(BTreeMap::from([(
                    "palisade.dev/decision".to_owned(),
                    "deny".to_owned(),
                )]));
            }
            (false, _) => {}
        }
        warnings.extend(warn_lines);
        warnings.truncate(MAX_WARNINGS);
        let warnings: Vec<String> = warnings.iter().map(|w| cut(w, MAX_WARNING)).collect();
        response.warnings = (!warnings.is_empty()).then_some(warnings);
        if mutate && allowed {
            let ops: Vec<Value> =
                images
                    .iter()
                    .filter_map(|i| {
                        let digest = i.outcome.digest.as_deref()?;
                        if i.outcome.failed || crate::engine::pinned_digest(&i.image).is_some() {
                            return None;
                        }
                        let pinned = format!("{}@{digest}", i.image);
                        Some(i.refs.iter().map(
                            move |r| json!({"op": "replace", "path": r.pointer, "value": pinned}),
                        ))
                    })
                    .flatten()
                    .collect();
            if !ops.is_empty() {
                let patch = serde_json::to_vec(&ops).unwrap_or_default();
                response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
                response.patch_type = Some("JSONPatch".to_owned());
            }
        }
        let dry_run = req.dry_run.unwrap_or(false);
        let ts = palisade_gate::now_utc();
        let elapsed = ms(arrived);
        let base = |image: Option<String>,
                    digest: Option<String>,
                    verdict: Verdict,
                    cache: &'static str,
                    reasons: Vec<ReasonLite>| Record {
            ts: ts.clone(),
            request_id: req.uid.clone(),
            source: "admission",
            namespace: Some(namespace.to_owned()),
            object: subject.to_owned(),
            mode: mode.as_str(),
            dry_run,
            image,
            digest,
            verdict: verdict_word(verdict),
            allowed,
            cache,
            ms: elapsed,
            reasons,
        };
        for i in &images {
            self.sink.record(&base(
                Some(i.image.clone()),
                i.outcome.digest.clone(),
                i.outcome.verdict,
                i.cache.as_str(),
                i.outcome.reasons.to_vec(),
            ));
        }
        let workload_reasons: Vec<ReasonLite> =
            workload.into_iter().flat_map(|w| w.reasons).collect();
        if !workload_reasons.is_empty() || images.is_empty() {
            let verdict = if workload_reasons.iter().any(|r| r.effect == Effect::Deny) {
                Verdict::Deny
            } else if workload_reasons.iter().any(|r| r.effect == Effect::Warn) {
                Verdict::Warn
            } else {
                Verdict::Allow
            };
            self.sink
                .record(&base(None, None, verdict, "none", workload_reasons));
        }
        response
    }
}

fn server_reason(code: &str, message: String) -> WorkloadAnswer {
    WorkloadAnswer {
        container: None,
        reasons: vec![ReasonLite::server(code, message)],
    }
}

/// `IMAGE@sha256:abcdef123456…: CODE RULE; CODE RULE (+N more)` for the first three reasons.
fn line<'a>(
    who: &str,
    digest: Option<&str>,
    reasons: impl Iterator<Item = &'a ReasonLite>,
) -> String {
    let reasons: Vec<&ReasonLite> = reasons.collect();
    let shown: Vec<String> = reasons.iter().take(3).map(|r| r.short(false)).collect();
    let more = if reasons.len() > 3 {
        format!(" (+{} more)", reasons.len() - 3)
    } else {
        String::new()
    };
    let at = digest
        .and_then(|d| d.get(..19))
        .map(|d| format!("@{d}…"))
        .unwrap_or_default();
    format!("{who}{at}: {}{more}", shown.join("; "))
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Warn => "warn",
        Verdict::Deny => "deny",
    }
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// What an UPDATE must change to be decided again: the pod spec and the pod's annotations
/// (AppArmor and seccomp settings live there), as canonical JSON.
fn fingerprint(object: &Value, kind: &str) -> Option<[u8; 32]> {
    let path = pod_spec_path(kind)?;
    let mut spec = object;
    for key in path {
        spec = spec.get(*key)?;
    }
    let meta_path: &[&str] = if kind == "Pod" {
        &["metadata", "annotations"]
    } else {
        // The pod template's metadata sits next to its spec.
        &[]
    };
    let annotations = if meta_path.is_empty() {
        let mut t = object;
        for key in &path[..path.len() - 1] {
            t = t.get(*key)?;
        }
        t.pointer("/metadata/annotations")
    } else {
        object.pointer("/metadata/annotations")
    };
    let canonical = serde_json::to_vec(&json!([spec, annotations])).ok()?;
    Some(Sha256::digest(canonical).into())
}

/// The workload checks under the policy's hardening section, evaluated per container.
fn workload_reasons(
    loaded: &Loaded,
    env: &str,
    now: &str,
    object: &Value,
    namespace: &str,
    refs: &[ContainerRef],
) -> Vec<WorkloadAnswer> {
    let Some(profile) = loaded.policy.hardening_profile(env) else {
        return Vec::new();
    };
    let results = match check_object(object, namespace, &|d| profile.selects(d)) {
        Ok(r) => r,
        Err(e) => {
            return vec![server_reason("object-invalid", e.to_string())];
        }
    };
    let mut groups: BTreeMap<Option<String>, Vec<CheckInput>> = BTreeMap::new();
    for r in results {
        groups
            .entry(r.container)
            .or_default()
            .push(crate::checks::input(&r.result));
    }
    let mut out = Vec::new();
    for (container, checks) in groups {
        let image = container
            .as_deref()
            .and_then(|c| {
                refs.iter()
                    .find(|r| r.name.as_deref() == Some(c))
                    .and_then(|r| r.image.clone())
            })
            .unwrap_or_default();
        let reasons = crate::checks::reasons(&loaded.policy, env, now, &image, &checks);
        if !reasons.is_empty() {
            out.push(WorkloadAnswer { container, reasons });
        }
    }
    out
}
