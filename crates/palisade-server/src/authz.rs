//! The Docker authorization plugin: `/Plugin.Activate`, `/AuthZPlugin.AuthZReq` and
//! `/AuthZPlugin.AuthZRes`, deciding the engine requests that can start something unsafe.
//!
//! - `POST /containers/create`: the image (by the digest the engine has for it, through
//!   [`Engine`] as for admission), the container's settings (`palisade_harden`'s container
//!   checks on the request, CIS Docker section 5) and the host (the host and daemon checks the
//!   agent keeps current); all under the policy's environment.
//! - `POST /containers/{id}/exec`: CIS 5.23 (`--privileged`) and 5.24 (`--user root`).
//! - `POST /containers/{id}/start` with a body (old engines applied `HostConfig` there).
//! - `POST /images/create` (pull): the `sources` rules that need no signature.
//! - the endpoints in `deny_endpoints` (`/services/create`, `/plugins/pull` by default).
//!
//! Everything else, and every `GET`/`HEAD`, is allowed at once: reading never starts anything,
//! and the agent's own calls to the engine are reads. A create, exec or start whose body did not
//! reach the plugin is refused (CVE-2024-41110: the engine once forwarded requests with
//! `Content-Length: 0` without their body).

use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_harden::check::CheckResult;
use palisade_harden::containers::{Container, check_create, check_exec};
use palisade_image::{Case, Reference, glob_match};
use palisade_policy::{Effect, Verdict};
use serde_json::Value;

use crate::engine::{Engine, ReasonLite, cut};
use crate::record::{Record, Sink};
use crate::state::{Loaded, State};
use crate::wire::authz::{
    AuthzRequest, AuthzResponse, api_path, api_version, decode_body, query_param, version_below,
};

/// The longest `Msg` (the client prints it).
pub const MAX_MSG: usize = 1024;

/// What the agent asks the engine (blocking calls, run on blocking threads).
pub trait DockerApi: Send + Sync + 'static {
    /// `GET /images/{name}/json`; `Ok(None)` when the engine has no such image.
    ///
    /// # Errors
    /// When the engine cannot be asked.
    fn image(&self, name: &str) -> Result<Option<Value>, String>;

    /// `GET /containers/{id}/json`; `Ok(None)` when there is no such container.
    ///
    /// # Errors
    /// When the engine cannot be asked.
    fn container(&self, id: &str) -> Result<Option<Value>, String>;

    /// Whether the daemon runs with `no-new-privileges` (CIS 5.26 then passes for every
    /// container).
    fn daemon_no_new_privileges(&self) -> bool;
}

/// The host's current check results (host files and daemon configuration), refreshed by the
/// agent at start, on an interval and on demand. Until the first check, or when the last one
/// could not run, container creation is refused: an unchecked host is not a compliant one.
#[derive(Debug, Default)]
pub struct HostStatus {
    state: std::sync::Mutex<HostState>,
}

/// What is known of the host.
#[derive(Clone, Debug, Default)]
pub enum HostState {
    /// Not checked yet.
    #[default]
    Unchecked,
    /// The checks could not run; why.
    Failed(String),
    /// The latest results.
    Checked(Arc<Vec<CheckResult>>),
}

impl HostStatus {
    /// Replaces what is known.
    pub fn set(&self, state: HostState) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    /// What is known now.
    #[must_use]
    pub fn get(&self) -> HostState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The plugin's shared parts.
pub struct Authz {
    /// Decides images.
    pub engine: Arc<Engine>,
    /// The policy in force.
    pub state: Arc<State>,
    /// The policy environment of this host (default: the policy's).
    pub environment: Option<String>,
    /// How long one request may take.
    pub budget: Duration,
    /// The engine's API.
    pub docker: Arc<dyn DockerApi>,
    /// The host's checks.
    pub host: Arc<HostStatus>,
    /// Engine paths always refused (globs over the path without version).
    pub deny_endpoints: Vec<String>,
    /// The decision log and metrics.
    pub sink: Arc<dyn Sink>,
}

struct Found {
    image: Option<String>,
    digest: Option<String>,
    cache: &'static str,
    reasons: Vec<ReasonLite>,
}

impl Found {
    fn deny(code: &str, message: String) -> Found {
        Found {
            image: None,
            digest: None,
            cache: "none",
            reasons: vec![ReasonLite::server(code, message)],
        }
    }
}

impl Authz {
    /// Answers `/AuthZPlugin.AuthZReq`.
    pub async fn request(&self, req: &AuthzRequest, arrived: Instant) -> AuthzResponse {
        let method = req.method.to_ascii_uppercase();
        if matches!(method.as_str(), "GET" | "HEAD") {
            return AuthzResponse::allow();
        }
        let path = api_path(&req.uri);
        let found = self.judge(&method, &path, req, arrived).await;
        let Some(found) = found else {
            return AuthzResponse::allow();
        };
        let denied: Vec<&ReasonLite> = found
            .reasons
            .iter()
            .filter(|r| r.effect == Effect::Deny)
            .collect();
        let verdict = if !denied.is_empty() {
            Verdict::Deny
        } else if found.reasons.iter().any(|r| r.effect == Effect::Warn) {
            Verdict::Warn
        } else {
            Verdict::Allow
        };
        self.sink.record(&Record {
            ts: palisade_gate::now_utc(),
            request_id: format!("{method} {path}"),
            source: "authz",
            namespace: None,
            object: cut(&req.uri, 200),
            mode: "enforce",
            dry_run: false,
            image: found.image.clone(),
            digest: found.digest.clone(),
            verdict: match verdict {
                Verdict::Allow => "allow",
                Verdict::Warn => "warn",
                Verdict::Deny => "deny",
            },
            allowed: denied.is_empty(),
            cache: found.cache,
            ms: (arrived.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            reasons: found.reasons.clone(),
        });
        if denied.is_empty() {
            return AuthzResponse::allow();
        }
        let what = match (&found.image, &found.digest) {
            (Some(i), Some(d)) => format!("{i} ({}…)", d.get(..19).unwrap_or(d)),
            (Some(i), None) => i.clone(),
            _ => format!("{method} {path}"),
        };
        let shown: Vec<String> = denied.iter().take(6).map(|r| r.short(true)).collect();
        let more = if denied.len() > 6 {
            format!(" (+{} more)", denied.len() - 6)
        } else {
            String::new()
        };
        AuthzResponse::deny(cut(
            &format!("palisade: deny {what}: {}{more}", shown.join("; ")),
            MAX_MSG,
        ))
    }

    /// `None` when the request is not one the plugin judges.
    async fn judge(
        &self,
        method: &str,
        path: &str,
        req: &AuthzRequest,
        arrived: Instant,
    ) -> Option<Found> {
        if self
            .deny_endpoints
            .iter()
            .any(|p| glob_match(p, path, Case::Sensitive))
        {
            return Some(Found::deny(
                "endpoint-denied",
                format!("{method} {path} is refused on this host (agent deny_endpoints)"),
            ));
        }
        if method != "POST" {
            return None;
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let kind = match segments.as_slice() {
            ["containers", "create"] => Kind::Create,
            ["containers", _, "exec"] => Kind::Exec,
            ["containers", _, "start"] => Kind::Start,
            ["images", "create"] => Kind::Pull,
            _ => return None,
        };
        let Some(loaded) = self.state.current() else {
            return Some(Found::deny(
                "decision-error",
                "no policy is loaded on this host (see the agent's /readyz)".into(),
            ));
        };
        let env = match loaded.policy.environment(self.environment.as_deref()) {
            Ok(e) => e.to_owned(),
            Err(e) => return Some(Found::deny("decision-error", e.to_string())),
        };
        let body = req.body.as_deref().filter(|b| !b.is_empty());
        match kind {
            Kind::Start => {
                // Below API 1.24 the engine applies a HostConfig given at start, also from a
                // chunked body, which it never forwards to a plugin: refuse what could carry one.
                let old = api_version(&req.uri).filter(|v| version_below(v, "1.24"));
                let why = match (body, old) {
                    (Some(_), _) => "a start request with a body".to_owned(),
                    (None, Some(v)) => format!(
                        "a start request of API version {v} (below 1.24, where start takes a HostConfig the plugin may not see)"
                    ),
                    (None, None) => return None,
                };
                Some(Found::deny(
                    "start-with-config",
                    format!("{why} is refused; give the settings to create"),
                ))
            }
            Kind::Pull => Some(if form_body(req) {
                // The engine reads `fromImage` and `tag` from a form body before the query,
                // and the plugin sees only the query.
                Found::deny(
                    "request-invalid",
                    "a pull with a form body (Content-Type application/x-www-form-urlencoded) is refused: the engine would read the image name from the body, which the plugin does not see".into(),
                )
            } else {
                self.pull(&loaded, &env, &req.uri)
            }),
            Kind::Exec => Some(match body.map(decode_body) {
                None => empty_body("exec"),
                Some(Err(e)) => Found::deny("request-invalid", e.0),
                Some(Ok(body)) => {
                    let now = palisade_gate::now_utc();
                    let checks: Vec<_> =
                        check_exec(&body).iter().map(crate::checks::input).collect();
                    Found {
                        image: None,
                        digest: None,
                        cache: "none",
                        reasons: crate::checks::reasons(&loaded.policy, &env, &now, "", &checks),
                    }
                }
            }),
            Kind::Create => Some(match body.map(decode_body) {
                None => empty_body("create"),
                Some(Err(e)) => Found::deny("request-invalid", e.0),
                Some(Ok(body)) => {
                    let name = query_param(&req.uri, "name");
                    self.create(&loaded, &env, body, name, arrived).await
                }
            }),
        }
    }

    fn pull(&self, loaded: &Loaded, env: &str, uri: &str) -> Found {
        let Some(from) = query_param(uri, "fromImage").filter(|f| !f.is_empty()) else {
            // An import (`fromSrc`) carries no name to judge; its image is judged at create.
            return Found {
                image: None,
                digest: None,
                cache: "none",
                reasons: Vec::new(),
            };
        };
        let text = match query_param(uri, "tag").filter(|t| !t.is_empty()) {
            Some(tag) if tag.starts_with("sha256:") => format!("{from}@{tag}"),
            Some(tag) => format!("{from}:{tag}"),
            None => from.clone(),
        };
        let reasons = match text.parse::<Reference>() {
            Err(e) => vec![ReasonLite::server(
                "request-invalid",
                format!("not an image reference {text:?}: {e}"),
            )],
            Ok(reference) => match loaded.policy.source_reasons(env, &reference) {
                Ok(rs) => rs
                    .iter()
                    .map(|r| ReasonLite {
                        effect: r.effect,
                        section: "sources".to_owned(),
                        code: r.code.clone(),
                        rule: r.rule.clone(),
                        message: cut(&r.message, crate::engine::MAX_CACHED_MESSAGE),
                    })
                    .collect(),
                Err(e) => vec![ReasonLite::server("decision-error", e.to_string())],
            },
        };
        Found {
            image: Some(text),
            digest: None,
            cache: "none",
            reasons,
        }
    }

    async fn create(
        &self,
        loaded: &Arc<Loaded>,
        env: &str,
        body: Value,
        name: Option<String>,
        arrived: Instant,
    ) -> Found {
        // The engine reads keys case-insensitively and takes host fields from the top level
        // of old bodies: read the request as it will, once for the image name.
        let probe = match Container::from_create(&body, name.as_deref(), None) {
            Ok(c) => c,
            Err(e) => return Found::deny("request-invalid", e.to_string()),
        };
        let image = probe.image().unwrap_or("").to_owned();
        let froms = probe.volumes_from();
        let docker = Arc::clone(&self.docker);
        let lookup = image.clone();
        let asked = tokio::task::spawn_blocking(move || {
            let config = if lookup.is_empty() {
                Ok(None)
            } else {
                docker.image(&lookup)
            };
            let sources: Vec<(String, Result<Option<Value>, String>)> = froms
                .into_iter()
                .take(64)
                .map(|f| {
                    let id = f.split(':').next().unwrap_or("").to_owned();
                    let c = docker.container(&id);
                    (f, c)
                })
                .collect();
            (config, sources, docker.daemon_no_new_privileges())
        });
        let deadline = arrived + self.budget;
        let Ok(Ok((config, sources, nnp))) = tokio::time::timeout_at(deadline.into(), asked).await
        else {
            return Found::deny(
                "decision-timeout",
                "could not ask the engine about the image within the budget".into(),
            );
        };
        let config = match config {
            Ok(c) => c,
            Err(e) => {
                return Found::deny(
                    "decision-error",
                    format!("cannot inspect image {image}: {e}"),
                );
            }
        };
        let now = palisade_gate::now_utc();
        let mut reasons = Vec::new();
        // The container's settings.
        // Read again only when the image's defaults (user, health check) are there to merge.
        let container = match config.as_ref() {
            Some(c) => Container::from_create(&body, name.as_deref(), Some(c)),
            None => Ok(probe),
        };
        match container {
            Err(e) => reasons.push(ReasonLite::server("request-invalid", e.to_string())),
            Ok(mut container) => {
                for (entry, source) in sources {
                    match source {
                        Ok(Some(doc)) => {
                            match Container::from_value(doc, &entry)
                                .and_then(|s| container.add_volumes_from(&entry, &s))
                            {
                                Ok(()) => {}
                                Err(e) => reasons
                                    .push(ReasonLite::server("request-invalid", e.to_string())),
                            }
                        }
                        Ok(None) => {}
                        Err(e) => reasons.push(ReasonLite::server(
                            "decision-error",
                            format!("cannot inspect container {entry}: {e}"),
                        )),
                    }
                }
                let checks: Vec<_> = check_create(&container, nnp)
                    .iter()
                    .map(crate::checks::input)
                    .collect();
                reasons.extend(crate::checks::reasons(
                    &loaded.policy,
                    env,
                    &now,
                    &image,
                    &checks,
                ));
            }
        }
        // The host.
        match self.host.get() {
            HostState::Unchecked => reasons.push(ReasonLite::server(
                "host-unchecked",
                "the host has not been checked yet; retry in a moment".into(),
            )),
            HostState::Failed(why) => reasons.push(ReasonLite::server(
                "host-unchecked",
                format!("the host checks could not run: {why}"),
            )),
            HostState::Checked(results) => {
                let checks: Vec<_> = results.iter().map(crate::checks::input).collect();
                let mut host = crate::checks::reasons(&loaded.policy, env, &now, "", &checks);
                for r in &mut host {
                    r.message = cut(
                        &format!("host: {}", r.message),
                        crate::engine::MAX_CACHED_MESSAGE,
                    );
                }
                reasons.extend(host);
            }
        }
        // The image.
        let mut digest = None;
        let mut cache = "none";
        let needs = loaded.policy.needs(env);
        if let Some(config) = config.as_ref()
            && (needs.trust || needs.vulnerabilities || needs.hardening)
        {
            match registry_reference(&image, config) {
                None => reasons.push(ReasonLite::server(
                    "no-registry-digest",
                    format!(
                        "{image} has no registry digest (built or loaded on this host): the policy needs its signatures, scan or hardening, which are read from a registry; push it and pull it by digest"
                    ),
                )),
                Some(pinned) => {
                    let (outcome, how) = self.engine.decide(loaded, env, &pinned, deadline).await;
                    digest.clone_from(&outcome.digest);
                    cache = how.as_str();
                    reasons.extend(outcome.reasons.iter().cloned());
                }
            }
        }
        reasons.sort_by_key(|r| r.effect);
        Found {
            image: Some(image),
            digest,
            cache,
            reasons,
        }
    }
}

enum Kind {
    Create,
    Exec,
    Start,
    Pull,
}

/// Whether the request carries a form body, whose fields the engine's `r.Form` reads before
/// the query's (Go's `ParseForm` on a POST).
fn form_body(req: &AuthzRequest) -> bool {
    req.header("Content-Type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

fn empty_body(what: &str) -> Found {
    Found::deny(
        "request-invalid",
        format!(
            "a {what} request without a body reached the plugin (CVE-2024-41110, or a Content-Type other than application/json): refused"
        ),
    )
}

/// `REPOSITORY@sha256:…` from the engine's `RepoDigests` for the requested image: the entry of
/// the requested repository (keeping the requested tag, for the record), else the first one,
/// under its own repository: an image asked for by ID or by a local tag is decided where the
/// engine pulled it from. `None` when the engine has none (a local build).
fn registry_reference(requested: &str, config: &Value) -> Option<String> {
    let digests: Vec<(&str, &str)> = config
        .get("RepoDigests")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|d| d.split_once('@'))
        .collect();
    let repository = |name: &str| {
        name.parse::<Reference>()
            .ok()
            .map(|r| format!("{}/{}", r.registry(), r.repository()))
    };
    let asked = requested.parse::<Reference>().ok();
    let wanted = asked
        .as_ref()
        .map(|r| format!("{}/{}", r.registry(), r.repository()));
    let asked_digest = asked
        .as_ref()
        .and_then(|r| r.digest())
        .map(ToString::to_string);
    let same = |name: &str| wanted.is_some() && repository(name) == wanted;
    if let Some((_, digest)) = digests
        .iter()
        .find(|(name, d)| same(name) && asked_digest.as_deref() == Some(*d))
        .or_else(|| digests.iter().find(|(name, _)| same(name)))
    {
        let tagged = match &asked {
            Some(r) if r.digest().is_none() => requested,
            _ => requested.split_once('@').map_or(requested, |(n, _)| n),
        };
        return Some(format!("{tagged}@{digest}"));
    }
    let (name, digest) = digests.first()?;
    Some(format!("{name}@{digest}"))
}
