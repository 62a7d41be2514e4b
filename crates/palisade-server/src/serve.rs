//! `palisade serve`: everything wired together. [`Server::bind`] loads the policy, the
//! certificate and the caches and binds the listeners (so a caller knows the ports, and a bad
//! certificate or a taken port fails before anything is served); [`Server::run`] serves until
//! the shutdown future completes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use palisade_scan::SourceOptions;
use tokio::net::TcpListener;

use crate::admission::Admission;
use crate::config::ServeConfig;
use crate::engine::Engine;
use crate::gate::GateDecider;
use crate::http::{ErrorSink, Limits, ops_router, serve_plain, serve_tls};
use crate::log::{DecisionLog, LogTarget};
use crate::metrics::Metrics;
use crate::record::{Record, Sink};
use crate::reload::{ReloadEvent, Reloader};
use crate::state::State;
use crate::tls::ReloadingTls;

/// Lines the decision log queues before it drops.
const LOG_QUEUE: usize = 10_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate or key.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A listener could not be bound, or the log opened.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] palisade_store::Error),
}

/// The decision log and the metrics, as the handlers' [`Sink`].
pub struct Recorder {
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The JSON-lines log, when configured.
    pub log: Option<DecisionLog>,
}

impl Sink for Recorder {
    fn record(&self, r: &Record) {
        self.metrics
            .decision(r.source, r.verdict, r.mode, r.ms / 1000.0, r.cache);
        for reason in &r.reasons {
            self.metrics.reason(&reason.code);
        }
        if r.cache == "timeout" {
            self.metrics.budget_exceeded();
        }
        if r.image.is_some() {
            let result = match r.cache {
                "hit" => "hit",
                "inflight" => "joined",
                _ => "miss",
            };
            self.metrics.cache_request("decision", result);
        }
        // An image that could not be decided: count it against its registry.
        if let Some(image) = &r.image
            && let Some(reason) = r
                .reasons
                .iter()
                .find(|x| x.section == "server" && x.code.starts_with("decision-"))
        {
            let registry = image
                .parse::<palisade_image::Reference>()
                .map_or_else(|_| "unknown".to_owned(), |x| x.registry().to_owned());
            let kind = reason.code.trim_start_matches("decision-");
            self.metrics.registry_error(&registry, kind);
        }
        if let Some(log) = &self.log {
            log.write(r);
        }
    }
}

impl Recorder {
    /// Metrics, and the decision log of `settings` when it names one.
    ///
    /// # Errors
    /// The log cannot be opened.
    pub fn open(settings: &crate::config::LogSettings) -> Result<Recorder, ServeError> {
        let metrics = Arc::new(Metrics::new());
        let log = match &settings.decisions {
            None => None,
            Some(p) => Some(
                DecisionLog::open(
                    LogTarget::from_config(p),
                    LOG_QUEUE,
                    Some(Arc::clone(&metrics)),
                )
                .map_err(|source| ServeError::Io {
                    what: format!("decision log {}", p.display()),
                    source,
                })?,
            ),
        };
        Ok(Recorder { metrics, log })
    }

    /// What a reload does to the metrics and the event lines (server and agent alike).
    #[must_use]
    pub fn reload_events(&self, events: &ErrorSink) -> Arc<dyn Fn(ReloadEvent) + Send + Sync> {
        let metrics = Arc::clone(&self.metrics);
        let events = Arc::clone(events);
        Arc::new(move |e| match e {
            ReloadEvent::Loaded(id) => {
                metrics.reload("policy", "ok");
                metrics.policy(&id);
                events(&format!("policy loaded ({})", id.get(..12).unwrap_or(&id)));
            }
            ReloadEvent::Invalid(why) => {
                metrics.reload("policy", "invalid");
                events(&format!("policy not loaded: {why}"));
            }
        })
    }
}

/// The decision engine over `palisade gate`'s pipeline, with the registry settings, deadline
/// and cache directory of a server or agent configuration.
#[must_use]
pub fn gate_engine(
    registries: &crate::config::Registries,
    cache_dir: Option<&std::path::Path>,
    decision: &crate::config::DecisionSettings,
    cache: &crate::config::CacheSettings,
) -> Arc<Engine> {
    let options = engine_options(registries, cache_dir, decision);
    Arc::new(Engine::new(
        Arc::new(GateDecider { options }),
        decision.clone(),
        cache,
    ))
}

/// How the server's pipeline reads images: the registry settings, deadline and cache.
#[must_use]
pub fn engine_options(
    registries: &crate::config::Registries,
    cache_dir: Option<&std::path::Path>,
    decision: &crate::config::DecisionSettings,
) -> SourceOptions {
    SourceOptions {
        insecure_registries: registries.insecure.clone(),
        ca_file: registries.ca_file.clone(),
        http_timeout: Some(decision.registry_timeout),
        cache_dir: cache_dir.map(std::path::Path::to_path_buf),
        scan_cache_max_mib: palisade_scan::DEFAULT_SCAN_CACHE_MAX_MIB,
        ..SourceOptions::default()
    }
}

/// A bound, loaded server.
pub struct Server {
    config: ServeConfig,
    listener: TcpListener,
    ops: Option<TcpListener>,
    tls: Arc<ReloadingTls>,
    state: Arc<State>,
    engine: Arc<Engine>,
    recorder: Arc<Recorder>,
    events: ErrorSink,
    agent_api: Option<Arc<crate::routes::AgentApi>>,
    fleet: Option<Arc<crate::fleet::Fleet>>,
    registry_auth: Option<crate::api::RegistryAuth>,
}

impl Server {
    /// Loads the certificate and the policy (a policy that does not load leaves the server
    /// running but not ready, and says why), opens the log and binds the listeners.
    ///
    /// # Errors
    /// The certificate or key cannot be used, a port cannot be bound, the log cannot be opened.
    pub async fn bind(config: ServeConfig, events: ErrorSink) -> Result<Server, ServeError> {
        let tls = Arc::new(ReloadingTls::new(config.tls.clone())?);
        let recorder = Arc::new(Recorder::open(&config.log)?);
        let engine = gate_engine(
            &config.registries,
            config.cache_dir.as_deref(),
            &config.decision,
            &config.cache,
        );
        let state = Arc::new(State::default());
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Io {
                    what: format!("listening on {addr}"),
                    source,
                })
        };
        let listener = bind(config.listen).await?;
        let ops = match config.ops_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let fleet = match &config.store {
            None => None,
            Some(settings) => {
                let location = settings.location_or_default().map_err(|e| ServeError::Io {
                    what: "store".into(),
                    source: std::io::Error::other(e),
                })?;
                let options = palisade_store::OpenOptions {
                    migrate: settings.migrate,
                    max_open: settings.max_connections,
                    ..palisade_store::OpenOptions::default()
                };
                let store = tokio::task::spawn_blocking(move || {
                    palisade_store::Store::open(&location, &options)
                })
                .await
                .map_err(|e| ServeError::Io {
                    what: "opening the store".into(),
                    source: std::io::Error::other(e.to_string()),
                })??;
                Some(Arc::new(crate::fleet::Fleet {
                    store: Arc::new(store),
                    state: Arc::clone(&state),
                    options: engine_options(
                        &config.registries,
                        config.cache_dir.as_deref(),
                        &config.decision,
                    ),
                    notifiers: config.notify.clone(),
                    max_attempts: settings.max_attempts,
                    events: Arc::clone(&events),
                }))
            }
        };
        let agent_api = match &config.agents {
            None => None,
            Some(a) => Some(Arc::new(crate::routes::AgentApi {
                state: Arc::clone(&state),
                hosts: Arc::new(crate::hosts::Hosts::new(a.stale_after)),
                tokens: crate::config::read_tokens(&a.tokens_file).map_err(|e| ServeError::Io {
                    what: "agents.tokens_file".into(),
                    source: std::io::Error::other(e),
                })?,
                fleet: fleet.clone(),
            })),
        };
        let registry_auth = match &config.registry_events {
            None => None,
            Some(r) => Some(crate::api::RegistryAuth {
                header: r.header.clone(),
                tokens: crate::config::read_tokens(&r.tokens_file).map_err(|e| ServeError::Io {
                    what: "registry_events.tokens_file".into(),
                    source: std::io::Error::other(e),
                })?,
                registry: r.registry.clone(),
            }),
        };
        let server = Server {
            registry_auth,
            fleet,
            agent_api,
            listener,
            ops,
            tls,
            state,
            engine,
            recorder,
            events,
            config,
        };
        let _ = server.reloader().initial();
        Ok(server)
    }

    /// The HTTPS address (with the port the system chose for port 0).
    ///
    /// # Errors
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The plain-HTTP ops address, when configured.
    #[must_use]
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().and_then(|l| l.local_addr().ok())
    }

    fn reloader(&self) -> Reloader {
        Reloader {
            policy: self.config.policy.clone(),
            db: self.config.db.clone(),
            state: Arc::clone(&self.state),
            engine: Arc::clone(&self.engine),
            on_event: self.recorder.reload_events(&self.events),
        }
    }

    /// Serves until `shutdown` completes, then lets open requests finish (bounded).
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send + 'static) {
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
        let handler = Arc::new(Admission {
            engine: Arc::clone(&self.engine),
            state: Arc::clone(&self.state),
            excluded: self.config.excluded_namespaces(),
            settings: self.config.kubernetes.clone(),
            budget: self.config.decision.budget,
            sink: match &self.fleet {
                None => Arc::clone(&self.recorder) as Arc<dyn Sink>,
                Some(fleet) => Arc::new(crate::fleet::FleetSink::new(
                    Arc::clone(&self.recorder) as Arc<dyn Sink>,
                    Arc::clone(fleet),
                    tokio::runtime::Handle::current(),
                )),
            },
        });
        let state = Arc::clone(&self.state);
        let distributes = self.agent_api.is_some();
        let ready: Arc<dyn Fn() -> Vec<String> + Send + Sync> = Arc::new(move || {
            let mut problems = state.problems();
            if distributes && let Some(Err(why)) = state.current().map(|l| l.bundle.clone()) {
                problems.push(format!("agents: the policy cannot be distributed: {why}"));
            }
            problems
        });
        let ops = ops_router(Arc::clone(&self.recorder.metrics), ready);
        let mut app: Router = crate::routes::admission(handler).merge(ops.clone());
        if let Some(api) = self.agent_api.take() {
            app = app.merge(crate::routes::agents(api));
        }
        let mut workers = Vec::new();
        if let (Some(u), Some(db)) = (&self.config.db_update, &self.config.db) {
            workers.push(tokio::spawn(crate::dbupdate::run(
                db.clone(),
                u.clone(),
                self.config.registries.clone(),
                self.fleet.clone(),
                Arc::clone(&self.events),
            )));
        }
        if let Some(fleet) = &self.fleet {
            let registry_events = self.registry_auth.take();
            app = app
                .merge(crate::api::routes(Arc::new(crate::api::Api {
                    fleet: Arc::clone(fleet),
                    registry_events,
                })))
                .merge(crate::harbor_api::routes(Arc::clone(fleet)))
                .merge(crate::console::routes(crate::console::Console::new(
                    Arc::clone(fleet),
                )));
            if let Some(s) = &self.config.store {
                workers = crate::jobs::spawn(
                    Arc::clone(fleet),
                    crate::jobs::WorkerSettings {
                        workers: s.workers,
                        lease: s.lease,
                        poll: s.poll,
                        keep_jobs: s.keep_jobs,
                    },
                );
            }
        }
        // Certificate checks ride on the policy poll. SIGHUP reloads the certificate
        // unconditionally, as it does the policy: a file rewritten in place at the same size
        // within one modification-time tick is invisible to the poll.
        let on_tls: Arc<dyn Fn(Result<bool, crate::tls::TlsError>) + Send + Sync> = {
            let metrics = Arc::clone(&self.recorder.metrics);
            let state = Arc::clone(&self.state);
            let events = Arc::clone(&self.events);
            Arc::new(move |result| match result {
                Ok(true) => {
                    metrics.reload("tls", "ok");
                    state.set_problem("certificate", None);
                    events("certificate reloaded");
                }
                Ok(false) => {}
                Err(e) => {
                    metrics.reload("tls", "invalid");
                    state.set_problem(
                        "certificate",
                        Some(format!("{e} (the previous certificate is still served)")),
                    );
                    events(&format!("certificate not reloaded: {e}"));
                }
            })
        };
        let reload = {
            let tls = Arc::clone(&self.tls);
            let on_tls = Arc::clone(&on_tls);
            let reloader = self.reloader();
            let interval = self.config.reload.poll_interval;
            tokio::spawn(reloader.run(interval, move || on_tls(tls.reload_if_changed())))
        };
        let hangup = {
            let tls = Arc::clone(&self.tls);
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hup.recv().await.is_some() {
                    on_tls(tls.reload().map(|()| true));
                }
            })
        };
        let main = tokio::spawn(serve_tls(
            self.listener,
            Arc::clone(&self.tls),
            app,
            limits.clone(),
            stopped(),
        ));
        let ops_task = self
            .ops
            .map(|l| tokio::spawn(serve_plain(l, ops, limits, stopped())));
        let started = Instant::now();
        shutdown.await;
        let _ = stop_tx.send(true);
        reload.abort();
        hangup.abort();
        for w in workers {
            w.abort();
        }
        let _ = main.await;
        if let Some(t) = ops_task {
            let _ = t.await;
        }
        let recorder = Arc::clone(&self.recorder);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(log) = &recorder.log {
                let _ = log.close();
            }
        })
        .await;
        (self.events)(&format!("stopped after {}s", started.elapsed().as_secs()));
    }
}
