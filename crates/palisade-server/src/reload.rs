//! Policy and database reloads: every `poll_interval`, and at once on SIGHUP, the policy file,
//! every file it read, and the database are checked with `stat`; when one changed the policy
//! is loaded again. A policy that does not load keeps the previous one deciding, and the
//! problem is reported (by `/readyz` and the event callback) until a good one is in place.
//!
//! Polling rather than inotify: Kubernetes swaps a `..data` symlink in ConfigMap and Secret
//! volumes, which polling sees the same way as an edit in place.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::state::{Fingerprint, Loaded, State};

/// What happened at a reload, for the log and the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadEvent {
    /// A new policy (or database) is deciding; the policy id.
    Loaded(String),
    /// The files changed but do not load; the previous policy keeps deciding.
    Invalid(String),
}

/// The files to watch and where to put what they load.
pub struct Reloader {
    /// The policy file.
    pub policy: PathBuf,
    /// The database, when configured.
    pub db: Option<PathBuf>,
    /// Where the result goes.
    pub state: Arc<State>,
    /// Whose caches are cleared on a change.
    pub engine: Arc<Engine>,
    /// Told of every reload.
    pub on_event: Arc<dyn Fn(ReloadEvent) + Send + Sync>,
}

impl Reloader {
    /// Loads the policy once, at start: an error leaves the server not ready (it still starts,
    /// so `/readyz` can say why).
    pub fn initial(&self) -> Result<(), String> {
        match Loaded::load(&self.policy, self.db.as_deref()) {
            Ok(l) => {
                (self.on_event)(ReloadEvent::Loaded(l.policy_id.clone()));
                self.state.install(l);
                Ok(())
            }
            Err(e) => {
                self.state.set_problem("policy", Some(e.clone()));
                (self.on_event)(ReloadEvent::Invalid(e.clone()));
                Err(e)
            }
        }
    }

    /// Watches until the task is dropped. `extra` runs on every tick (the certificate check).
    pub async fn run(self, interval: Duration, extra: impl Fn() + Send + 'static) {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = self.watched();
        loop {
            let forced = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
            };
            extra();
            let now = self.watched();
            if !forced && now == seen {
                continue;
            }
            seen = now;
            let policy = self.policy.clone();
            let db = self.db.clone();
            let loaded =
                tokio::task::spawn_blocking(move || Loaded::load(&policy, db.as_deref())).await;
            match loaded {
                Ok(Ok(l)) => {
                    let same = self
                        .state
                        .current()
                        .is_some_and(|c| c.policy_id == l.policy_id && c.db_id == l.db_id);
                    if same {
                        self.state.set_problem("policy", None);
                    } else {
                        (self.on_event)(ReloadEvent::Loaded(l.policy_id.clone()));
                        self.state.install(l);
                        self.engine.clear();
                    }
                    seen = self.watched();
                }
                Ok(Err(e)) => {
                    self.state.set_problem(
                        "policy",
                        Some(format!("{e} (the previous policy keeps deciding)")),
                    );
                    (self.on_event)(ReloadEvent::Invalid(e));
                }
                Err(e) => {
                    let e = format!("internal error while loading the policy: {e}");
                    self.state.set_problem("policy", Some(e.clone()));
                    (self.on_event)(ReloadEvent::Invalid(e));
                }
            }
        }
    }

    /// The fingerprints of the policy, its files (as last loaded) and the database.
    fn watched(&self) -> Vec<(PathBuf, Fingerprint)> {
        let mut paths = vec![self.policy.clone()];
        if let Some(l) = self.state.current() {
            paths.extend(l.fingerprints.iter().map(|(p, _)| p.clone()));
        }
        paths.extend(self.db.clone());
        paths.sort();
        paths.dedup();
        stat_all(paths.into_iter())
    }
}

fn stat_all(paths: impl Iterator<Item = PathBuf>) -> Vec<(PathBuf, Fingerprint)> {
    let mut v: Vec<(PathBuf, Fingerprint)> = paths
        .map(|p| {
            let f = Fingerprint::of(&p);
            (p, f)
        })
        .collect();
    v.sort();
    v.dedup();
    v
}
