//! `palisade agent`: the Docker authorization plugin of one host, wired together. It listens
//! on the plugin socket (`/Plugin.Activate`, `/AuthZPlugin.AuthZReq`, `/AuthZPlugin.AuthZRes`),
//! checks the host and the daemon configuration at start, every `host.interval` and on
//! `POST /recheck` (ops port), reloads the policy like `palisade serve`, and logs and counts
//! every decision.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use palisade_harden::hostfs::HostRoot;
use palisade_harden::profile::Profile;
use palisade_harden::target::Target as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authz::{Authz, DockerApi, HostState, HostStatus};
use crate::config::{
    CacheSettings, ConfigError, DecisionSettings, LogSettings, Registries, ReloadSettings,
};
use crate::engine::Engine;
use crate::http::{ErrorSink, Limits, bind_unix, ops_router, serve_plain, serve_unix};
use crate::record::Sink;
use crate::reload::Reloader;
use crate::serve::{Recorder, ServeError, gate_engine};
use crate::state::State;
use crate::wire::authz::{Activate, AuthzResponse, decode_authz};

/// The `palisade agent` configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The plugin socket the engine connects to (`/run/docker/plugins/NAME.sock`).
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// The engine the agent asks about images and containers.
    #[serde(default = "default_engine")]
    pub engine: String,
    /// The policy environment of this host (default: the policy's).
    #[serde(default)]
    pub environment: Option<String>,
    /// The policy file (or take it from a server: `server`; exactly one of the two).
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// Take the policy from `palisade serve` (and report to it).
    #[serde(default)]
    pub server: Option<crate::agent_sync::ServerSettings>,
    /// Where the last good policy bundle from the server is kept.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// The vulnerability database (required when the policy has `vulnerabilities`).
    #[serde(default)]
    pub db: Option<PathBuf>,
    /// Where image layers and results are cached.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How registries are reached.
    #[serde(default)]
    pub registries: Registries,
    /// The host checks.
    #[serde(default)]
    pub host: HostSettings,
    /// Plain-HTTP listener for `/healthz`, `/readyz`, `/metrics` and `POST /recheck`.
    #[serde(default)]
    pub ops_listen: Option<SocketAddr>,
    /// Engine paths always refused (globs over the path without the API version).
    #[serde(default = "default_deny_endpoints")]
    pub deny_endpoints: Vec<String>,
    /// The decision budget.
    #[serde(default)]
    pub decision: DecisionSettings,
    /// Cache lifetimes.
    #[serde(default)]
    pub cache: CacheSettings,
    /// File watching.
    #[serde(default)]
    pub reload: ReloadSettings,
    /// The decision log.
    #[serde(default)]
    pub log: LogSettings,
}

/// The host checks.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostSettings {
    /// The host's root directory (the files `palisade bench host` and `bench daemon` read).
    pub root: PathBuf,
    /// How often the checks run again.
    #[serde(deserialize_with = "crate::config::duration_de")]
    pub interval: Duration,
    /// The name reported to the server (default: the kernel's host name).
    pub name: Option<String>,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            root: PathBuf::from("/"),
            interval: Duration::from_secs(600),
            name: None,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/palisade/agent")
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/docker/plugins/palisade.sock")
}

fn default_engine() -> String {
    "unix:///var/run/docker.sock".to_owned()
}

/// Swarm services and managed plugins run with settings the container checks never see (a
/// plugin's `config.json` asks for capabilities, devices, host mounts and namespaces, and
/// installing one from a local tar, `/plugins/create`, needs no consent, as `/plugins/pull`).
fn default_deny_endpoints() -> Vec<String> {
    [
        "/services/create",
        "/services/*/update",
        "/plugins/pull",
        "/plugins/create",
        "/plugins/*/upgrade",
        "/plugins/*/set",
    ]
    .map(str::to_owned)
    .to_vec()
}

impl AgentConfig {
    /// Reads and checks `path`; relative paths are taken from the file's directory.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = crate::config::read_capped(path).map_err(err)?;
        let mut c: AgentConfig = serde_saphyr::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            Some(&mut c.socket),
            Some(&mut c.state_dir),
            Some(&mut c.host.root),
            c.policy.as_mut(),
            c.db.as_mut(),
            c.cache_dir.as_mut(),
            c.registries.ca_file.as_mut(),
            c.log.decisions.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = base.join(&*p);
            }
        }
        if c.decision.budget.is_zero() || c.decision.budget > Duration::from_secs(25) {
            return Err(err(
                "decision.budget must be more than 0 and at most 25s (the engine gives up on a plugin after 30s)".into(),
            ));
        }
        if let Some(server) = c.server.as_mut() {
            for p in std::iter::once(&mut server.token_file).chain(server.ca_file.as_mut()) {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        if c.policy.is_some() == c.server.is_some() {
            return Err(err(
                "give exactly one of `policy` (a file) and `server` (take it from palisade serve)"
                    .into(),
            ));
        }
        if c.host.interval < Duration::from_secs(1) {
            return Err(err("host.interval must be at least 1s".into()));
        }
        Ok(c)
    }
}

fn unreachable_config() -> (PathBuf, Option<Arc<crate::agent_sync::Sync>>) {
    // `AgentConfig::load` refuses a config with neither `policy` nor `server`; a config built
    // in code without either has no policy: nothing loads and every decided request is refused.
    (
        PathBuf::from("/nonexistent/palisade-agent-has-no-policy"),
        None,
    )
}

/// The engine, through `palisade_harden::engine::Engine` (its own GETs, which the plugin
/// allows at once, so asking never waits on itself).
pub struct EngineApi {
    engine: palisade_harden::engine::Engine,
    /// The daemon's `no-new-privileges`, with when it was read: asking costs an `/info`
    /// round trip and a scan of the process table, and it changes only with a daemon restart.
    no_new_privileges: std::sync::Mutex<Option<(Instant, bool)>>,
}

/// How long the daemon's `no-new-privileges` setting is reused.
const DAEMON_SETTING_TTL: Duration = Duration::from_secs(60);

impl EngineApi {
    /// An engine client for `endpoint` (`unix:///var/run/docker.sock`).
    ///
    /// # Errors
    /// When the endpoint is not a unix socket URL.
    pub fn new(endpoint: &str) -> Result<EngineApi, String> {
        palisade_harden::engine::Engine::new(endpoint)
            .map(|engine| EngineApi {
                engine,
                no_new_privileges: std::sync::Mutex::new(None),
            })
            .map_err(|e| e.to_string())
    }

    fn get(&self, path: &str) -> Result<Option<Value>, String> {
        match self.engine.get_json(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.to_string().contains("HTTP 404") => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' | b':' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl DockerApi for EngineApi {
    fn image(&self, name: &str) -> Result<Option<Value>, String> {
        self.get(&format!("/images/{}/json", path_segment(name)))
    }

    fn container(&self, id: &str) -> Result<Option<Value>, String> {
        self.get(&format!("/containers/{}/json", path_segment(id)))
    }

    fn daemon_no_new_privileges(&self) -> bool {
        let mut cached = self
            .no_new_privileges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, value)) = *cached
            && at.elapsed() < DAEMON_SETTING_TTL
        {
            return value;
        }
        // Unknown counts as off: CIS 5.26 is then judged on the container alone (stricter).
        let value = self
            .engine
            .daemon_config()
            .ok()
            .and_then(|c| c.bool("no-new-privileges"))
            .unwrap_or(false);
        *cached = Some((Instant::now(), value));
        value
    }
}

/// Runs the host and daemon checks of `palisade bench host` and `bench daemon --root` on
/// `root`, with every check selected (the policy picks which count).
///
/// # Errors
/// When the host files cannot be read.
pub fn check_host(root: &Path) -> Result<Vec<palisade_harden::check::CheckResult>, String> {
    let profile = Profile::default();
    let host = palisade_harden::host::Host::load(HostRoot::new(root)).map_err(|e| e.to_string())?;
    let mut results = host.check(&profile).map_err(|e| e.to_string())?;
    let daemon = palisade_harden::daemon::Daemon::offline(&HostRoot::new(root))
        .map_err(|e| e.to_string())?;
    results.extend(daemon.check(&profile).map_err(|e| e.to_string())?);
    Ok(results)
}

/// A bound agent.
pub struct Agent {
    config: AgentConfig,
    socket: tokio::net::UnixListener,
    ops: Option<tokio::net::TcpListener>,
    authz: Arc<Authz>,
    recorder: Arc<Recorder>,
    engine: Arc<Engine>,
    events: ErrorSink,
    policy: PathBuf,
    sync: Option<Arc<crate::agent_sync::Sync>>,
    tally: Arc<crate::agent_sync::Tally>,
}

/// The recorder, plus the counts an agent reports.
struct AgentSink {
    recorder: Arc<Recorder>,
    tally: Arc<crate::agent_sync::Tally>,
}

impl Sink for AgentSink {
    fn record(&self, r: &crate::record::Record) {
        self.tally.add(r.verdict);
        self.recorder.record(r);
    }
}

impl Agent {
    /// Loads the policy, binds the plugin socket (mode 0600) and the ops port, and runs the
    /// first host check.
    ///
    /// # Errors
    /// The socket or port cannot be bound, the engine URL is not usable, the log cannot be
    /// opened.
    pub async fn bind(config: AgentConfig, events: ErrorSink) -> Result<Agent, ServeError> {
        let io = |what: String| move |source| ServeError::Io { what, source };
        let recorder = Arc::new(Recorder::open(&config.log)?);
        let docker: Arc<dyn DockerApi> =
            Arc::new(EngineApi::new(&config.engine).map_err(|e| ServeError::Io {
                what: format!("engine {}", config.engine),
                source: std::io::Error::other(e),
            })?);
        let engine = gate_engine(
            &config.registries,
            config.cache_dir.as_deref(),
            &config.decision,
            &config.cache,
        );
        let state = Arc::new(State::default());
        let host = Arc::new(HostStatus::default());
        let tally = Arc::new(crate::agent_sync::Tally::default());
        let (policy, sync) =
            match (&config.policy, &config.server) {
                (Some(p), _) => (p.clone(), None),
                (None, Some(server)) => {
                    let name = config
                        .host
                        .name
                        .clone()
                        .unwrap_or_else(crate::agent_sync::host_name);
                    let sync = crate::agent_sync::Sync::new(server, &config.state_dir, name)
                        .map_err(|e| ServeError::Io {
                            what: "server".into(),
                            source: std::io::Error::other(e),
                        })?;
                    let sync = Arc::new(sync);
                    let first = Arc::clone(&sync);
                    match tokio::task::spawn_blocking(move || first.fetch()).await {
                        Ok(Ok(Some(d))) => events(&format!("policy bundle {d} installed")),
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => events(&format!(
                            "policy server: {e}; starting from the last good policy ({})",
                            crate::bundle::Bundle::installed(&config.state_dir)
                                .unwrap_or_else(|| "none: every decided request is refused".into())
                        )),
                        Err(e) => events(&format!("policy sync: internal error: {e}")),
                    }
                    (
                        crate::agent_sync::Sync::policy_path(&config.state_dir),
                        Some(sync),
                    )
                }
                (None, None) => unreachable_config(),
            };
        let authz = Arc::new(Authz {
            engine: Arc::clone(&engine),
            state,
            environment: config.environment.clone(),
            budget: config.decision.budget,
            docker,
            host,
            deny_endpoints: config.deny_endpoints.clone(),
            sink: Arc::new(AgentSink {
                recorder: Arc::clone(&recorder),
                tally: Arc::clone(&tally),
            }),
        });
        let socket = bind_unix(&config.socket, 0o600)
            .map_err(io(format!("socket {}", config.socket.display())))?;
        let ops = match config.ops_listen {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .map_err(io(format!("listening on {a}")))?,
            ),
            None => None,
        };
        let agent = Agent {
            policy,
            sync,
            tally,
            config,
            socket,
            ops,
            authz,
            recorder,
            engine,
            events,
        };
        let _ = agent.reloader().initial();
        agent.recheck().await;
        Ok(agent)
    }

    /// The ops address, when configured.
    #[must_use]
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().and_then(|l| l.local_addr().ok())
    }

    fn reloader(&self) -> Reloader {
        Reloader {
            policy: self.policy.clone(),
            db: self.config.db.clone(),
            state: Arc::clone(&self.authz.state),
            engine: Arc::clone(&self.engine),
            on_event: self.recorder.reload_events(&self.events),
        }
    }

    async fn recheck(&self) -> HostState {
        recheck(&self.authz.host, &self.config.host.root, &self.events).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let limits = {
            let events = Arc::clone(&self.events);
            Limits::default().with_error_sink(move |e| events(e))
        };
        let plugin = Router::new()
            .route("/Plugin.Activate", post(activate))
            .route("/AuthZPlugin.AuthZReq", post(authz_req))
            .route("/AuthZPlugin.AuthZRes", post(authz_res))
            .with_state(Arc::clone(&self.authz));
        let state = Arc::clone(&self.authz.state);
        let ready: Arc<dyn Fn() -> Vec<String> + Send + Sync> = Arc::new(move || state.problems());
        let recheck_state = Rechecker {
            host: Arc::clone(&self.authz.host),
            root: self.config.host.root.clone(),
            events: Arc::clone(&self.events),
        };
        let ops = ops_router(Arc::clone(&self.recorder.metrics), ready).merge(
            Router::new()
                .route("/recheck", post(recheck_route))
                .with_state(Arc::new(recheck_state.clone())),
        );
        let reload = tokio::spawn(self.reloader().run(self.config.reload.poll_interval, || {}));
        let interval = self.config.host.interval;
        let periodic = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                recheck(
                    &recheck_state.host,
                    &recheck_state.root,
                    &recheck_state.events,
                )
                .await;
            }
        });
        let syncing = self
            .sync
            .as_ref()
            .zip(self.config.server.as_ref())
            .map(|(sync, server)| {
                tokio::spawn(crate::agent_sync::run(
                    Arc::clone(sync),
                    server.poll,
                    Arc::clone(&self.authz.host),
                    Arc::clone(&self.tally),
                    Arc::clone(&self.events),
                ))
            });
        let main = tokio::spawn(serve_unix(self.socket, plugin, limits.clone(), stopped()));
        let ops_task = self
            .ops
            .map(|l| tokio::spawn(serve_plain(l, ops, limits, stopped())));
        shutdown.await;
        let _ = stop_tx.send(true);
        reload.abort();
        periodic.abort();
        if let Some(s) = syncing {
            s.abort();
        }
        let _ = main.await;
        if let Some(t) = ops_task {
            let _ = t.await;
        }
        let _ = std::fs::remove_file(&self.config.socket);
        let recorder = Arc::clone(&self.recorder);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(log) = &recorder.log {
                let _ = log.close();
            }
        })
        .await;
    }
}

#[derive(Clone)]
struct Rechecker {
    host: Arc<HostStatus>,
    root: PathBuf,
    events: ErrorSink,
}

async fn recheck(host: &HostStatus, root: &Path, events: &ErrorSink) -> HostState {
    let r = root.to_path_buf();
    let state = match tokio::task::spawn_blocking(move || check_host(&r)).await {
        Ok(Ok(results)) => HostState::Checked(Arc::new(results)),
        Ok(Err(e)) => HostState::Failed(e),
        Err(e) => HostState::Failed(format!("internal error: {e}")),
    };
    match &state {
        HostState::Checked(results) => {
            let failing: Vec<&str> = results
                .iter()
                .filter(|r| r.status == palisade_harden::check::Status::Fail)
                .map(|r| r.id)
                .collect();
            events(&format!(
                "host checked: {} result(s), failing: {}",
                results.len(),
                if failing.is_empty() {
                    "none".to_owned()
                } else {
                    failing.join(", ")
                }
            ));
        }
        HostState::Failed(e) => events(&format!("host checks could not run: {e}")),
        HostState::Unchecked => {}
    }
    host.set(state.clone());
    state
}

async fn recheck_route(Extract(r): Extract<Arc<Rechecker>>) -> Response {
    match recheck(&r.host, &r.root, &r.events).await {
        HostState::Checked(results) => {
            let failing: Vec<&str> = results
                .iter()
                .filter(|r| r.status == palisade_harden::check::Status::Fail)
                .map(|r| r.id)
                .collect();
            axum::Json(json!({"checked": results.len(), "failing": failing})).into_response()
        }
        HostState::Failed(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
        HostState::Unchecked => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn activate() -> axum::Json<Activate> {
    axum::Json(Activate {
        implements: vec!["authz"],
    })
}

async fn authz_req(Extract(a): Extract<Arc<Authz>>, body: Body) -> axum::Json<AuthzResponse> {
    let arrived = Instant::now();
    let answer = match axum::body::to_bytes(body, crate::wire::authz::MAX_AUTHZ_BYTES).await {
        Err(_) => AuthzResponse {
            allow: false,
            msg: String::new(),
            err: "palisade: the plugin request could not be read or is too large".into(),
        },
        Ok(bytes) => match decode_authz(&bytes) {
            Err(e) => AuthzResponse {
                allow: false,
                msg: String::new(),
                err: format!("palisade: {}", e.0),
            },
            Ok(req) => a.request(&req, arrived).await,
        },
    };
    axum::Json(answer)
}

/// Responses are never judged: what could be refused was refused before the engine acted.
/// The request is read to its end all the same (and dropped as it comes): it repeats the
/// request body and adds the response body, often far larger than a socket buffer, and a
/// connection answered before the engine finished writing stalls its writer until the server
/// gives up on the connection; the engine then retries the call after a second, and the
/// client waits.
async fn authz_res(body: Body) -> axum::Json<AuthzResponse> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut read = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, |d| d.len());
        if read > MAX_RESPONSE_CALL_BYTES {
            break;
        }
    }
    axum::Json(AuthzResponse::allow())
}

/// The most of one `AuthZRes` call read (and dropped); the engine buffers a whole JSON
/// response to forward it, so real ones stay far below.
const MAX_RESPONSE_CALL_BYTES: usize = 256 << 20;
