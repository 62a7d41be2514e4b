//! An agent that takes its policy from `palisade serve`: every `poll`, it asks for the bundle
//! (`GET /v1/policy` with `If-None-Match`), checks its digest, writes it under
//! `state_dir/bundles/<digest>/` and points `state_dir/current` at it; the policy reload then
//! picks it up like any changed file. Then it reports (`POST /v1/hosts/{host}/report`).
//!
//! When the server cannot be reached, or sends something that does not check out, the agent
//! keeps enforcing the bundle it has, and says so; after a restart it starts from that bundle.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade_image::{HttpClient, HttpOptions};
use serde::Deserialize;

use crate::authz::{HostState, HostStatus};
use crate::bundle::Bundle;
use crate::hosts::{Counts, Report};

/// Where the policy comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The server's base URL (`https://palisade.example:8443`).
    pub url: String,
    /// A file holding the bearer token (one of the server's `agents.tokens_file`).
    pub token_file: PathBuf,
    /// The CA that signed the server's certificate (PEM), on top of the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How often the bundle is asked for and the host reported.
    #[serde(
        default = "default_poll",
        deserialize_with = "crate::config::duration_de"
    )]
    pub poll: Duration,
}

fn default_poll() -> Duration {
    Duration::from_secs(30)
}

/// Decisions by verdict since the agent started, for the reports.
#[derive(Debug, Default)]
pub struct Tally {
    allow: AtomicU64,
    warn: AtomicU64,
    deny: AtomicU64,
}

impl Tally {
    /// Counts one decision.
    pub fn add(&self, verdict: &str) {
        let c = match verdict {
            "allow" => &self.allow,
            "warn" => &self.warn,
            _ => &self.deny,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn counts(&self) -> Counts {
        Counts {
            allow: self.allow.load(Ordering::Relaxed),
            warn: self.warn.load(Ordering::Relaxed),
            deny: self.deny.load(Ordering::Relaxed),
        }
    }
}

/// One agent's link to the server.
pub struct Sync {
    client: HttpClient,
    base: String,
    token: String,
    state_dir: PathBuf,
    host_name: String,
}

impl Sync {
    /// A link to `settings.url`.
    ///
    /// # Errors
    /// The token file or the CA file cannot be read.
    pub fn new(
        settings: &ServerSettings,
        state_dir: &Path,
        host_name: String,
    ) -> Result<Sync, String> {
        let token = crate::config::read_capped(&settings.token_file)
            .map_err(|e| format!("{}: {e}", settings.token_file.display()))?
            .trim()
            .to_owned();
        if token.is_empty() {
            return Err(format!("{}: empty token", settings.token_file.display()));
        }
        let loopback = settings.url.contains("://127.")
            || settings.url.contains("://[::1]")
            || settings.url.contains("://localhost");
        let client = HttpClient::new(
            &HttpOptions {
                insecure: Vec::new(),
                ca_file: settings.ca_file.clone(),
                deadline: Some(Duration::from_secs(10)),
            },
            loopback,
        )
        .map_err(|e| e.to_string())?;
        std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
        Ok(Sync {
            client,
            base: settings.url.trim_end_matches('/').to_owned(),
            token,
            state_dir: state_dir.to_path_buf(),
            host_name,
        })
    }

    /// The policy path the agent loads: through `state_dir/current`.
    #[must_use]
    pub fn policy_path(state_dir: &Path) -> PathBuf {
        state_dir.join("current").join(".policy")
    }

    /// Asks for the bundle once. `Ok(Some(digest))` when a new one was installed, `Ok(None)`
    /// when the installed one is current.
    ///
    /// # Errors
    /// The server cannot be reached, refuses, or sends a bundle that does not check out.
    pub fn fetch(&self) -> Result<Option<String>, String> {
        let auth = format!("Bearer {}", self.token);
        let installed = Bundle::installed(&self.state_dir).map(|d| format!("\"{d}\""));
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(etag) = &installed {
            headers.push(("if-none-match", etag.as_str()));
        }
        let url = format!("{}/v1/policy", self.base);
        let resp = self.client.get(&url, &headers).map_err(|e| e.to_string())?;
        match resp.status() {
            304 => Ok(None),
            200 => {
                let mut body = Vec::new();
                resp.into_reader()
                    .take((crate::bundle::MAX_BUNDLE_BYTES * 2) as u64)
                    .read_to_end(&mut body)
                    .map_err(|e| e.to_string())?;
                let bundle = Bundle::from_json(&body)?;
                if installed.as_deref() == Some(&format!("\"{}\"", bundle.digest)) {
                    return Ok(None);
                }
                bundle.install(&self.state_dir)?;
                Ok(Some(bundle.digest))
            }
            code => {
                let mut text = String::new();
                let _ = resp.into_reader().take(512).read_to_string(&mut text);
                Err(format!("{url}: HTTP {code}: {}", text.trim()))
            }
        }
    }

    /// Reports the host once.
    ///
    /// # Errors
    /// The server cannot be reached or refuses.
    pub fn report(&self, host: &HostStatus, tally: &Tally) -> Result<(), String> {
        let (host_failing, host_passed) = match host.get() {
            HostState::Checked(results) => (
                results
                    .iter()
                    .filter(|r| r.status == palisade_harden::check::Status::Fail)
                    .map(|r| r.id.to_owned())
                    .collect(),
                Some(
                    results
                        .iter()
                        .filter(|r| r.status == palisade_harden::check::Status::Pass)
                        .count() as u64,
                ),
            ),
            _ => (Vec::new(), None),
        };
        let report = Report {
            policy_digest: Bundle::installed(&self.state_dir),
            host_failing,
            host_passed,
            decisions: tally.counts(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let body = serde_json::to_vec(&report).map_err(|e| e.to_string())?;
        let auth = format!("Bearer {}", self.token);
        let url = format!("{}/v1/hosts/{}/report", self.base, self.host_name);
        let resp = self
            .client
            .post(
                &url,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                &body,
            )
            .map_err(|e| e.to_string())?;
        match resp.status() {
            200..=299 => Ok(()),
            code => Err(format!("{url}: HTTP {code}")),
        }
    }
}

/// Polls the server until the task is dropped.
pub async fn run(
    sync: Arc<Sync>,
    poll: Duration,
    host: Arc<HostStatus>,
    tally: Arc<Tally>,
    events: crate::http::ErrorSink,
) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let (s, h, t) = (Arc::clone(&sync), Arc::clone(&host), Arc::clone(&tally));
        let result = tokio::task::spawn_blocking(move || {
            let fetched = s.fetch();
            let reported = s.report(&h, &t);
            (fetched, reported)
        })
        .await;
        match result {
            Ok((Ok(Some(digest)), _)) => {
                failing = false;
                events(&format!("policy bundle {digest} installed"));
            }
            Ok((Ok(None), _)) => {
                if failing {
                    events("policy server reachable again");
                }
                failing = false;
            }
            Ok((Err(e), _)) => {
                if !failing {
                    let kept = Bundle::installed(&sync.state_dir)
                        .unwrap_or_else(|| "none: every decided request is refused".into());
                    events(&format!(
                        "policy server: {e}; enforcing the last good policy ({kept})"
                    ));
                }
                failing = true;
            }
            Err(e) => events(&format!("policy sync: internal error: {e}")),
        }
    }
}

/// The host's name for reports: `/proc/sys/kernel/hostname`, else `localhost`.
#[must_use]
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
