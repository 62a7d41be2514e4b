//! Deciding images fast, within a budget, and never allowing because something went wrong.
//!
//! A reference is answered from the caches when it can be: tag → digest (short lifetime), then
//! (digest, environment, policy, database) → outcome. Otherwise one *cold job* per reference
//! resolves and decides it on a blocking thread (at most `max_cold` at once); every request
//! that needs the same answer waits on the same job. A request waits until its deadline only:
//! on a timeout it gets a `decision-timeout` outcome, and the job runs on (up to
//! `background_deadline`) and fills the cache, so the retry is fast. Errors are outcomes too:
//! they deny, and are cached briefly so a broken registry is not hit by every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use palisade_policy::{Effect, Evaluation, Verdict};
use tokio::sync::{Semaphore, watch};

use crate::config::{CacheSettings, DecisionSettings};
use crate::state::Loaded;

/// The most decision jobs queued or running at once. Every distinct reference a request names
/// can start one, and each may wait up to `background_deadline`: past this, a new reference is
/// answered `decision-busy` (a deny in `enforce`) instead of queueing without bound.
pub const MAX_JOBS: usize = 1024;

/// The longest reason message kept in a cached outcome.
pub const MAX_CACHED_MESSAGE: usize = 200;

/// Resolves and decides images: the real one is [`crate::gate::GateDecider`]; tests use fakes.
/// Both methods block (registry requests, layer reads, scans) and run on blocking threads.
pub trait ImageDecider: Send + Sync + 'static {
    /// The manifest digest (`sha256:…`) a tag reference points to now.
    ///
    /// # Errors
    /// Why it could not be resolved (registry unreachable, unknown tag, not authorised).
    fn resolve(&self, reference: &str) -> Result<String, String>;

    /// The policy's decision on `reference` pinned to `digest`, in `env`.
    ///
    /// # Errors
    /// Why it could not be decided (image unreadable, database missing…).
    fn decide(
        &self,
        loaded: &Loaded,
        env: &str,
        reference: &str,
        digest: &str,
    ) -> Result<Evaluation, String>;
}

/// One reason, as much of it as a cache keeps and a response shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReasonLite {
    /// `deny`, `warn` or `excepted`.
    pub effect: Effect,
    /// `sources`, `vulnerabilities`, `hardening`, `rules`, or `server` for the server's own
    /// reasons (`decision-timeout`, `decision-error`).
    pub section: String,
    /// The policy's stable code (`signature-missing`).
    pub code: String,
    /// The rule or setting that produced it.
    pub rule: String,
    /// What it is about, for people (at most [`MAX_CACHED_MESSAGE`] bytes).
    pub message: String,
}

impl ReasonLite {
    /// A deny reason of the server's own.
    #[must_use]
    pub fn server(code: &str, message: String) -> ReasonLite {
        ReasonLite {
            effect: Effect::Deny,
            section: "server".to_owned(),
            code: code.to_owned(),
            rule: code.to_owned(),
            message: cut(&message, MAX_CACHED_MESSAGE),
        }
    }
}

impl ReasonLite {
    /// The reason in a refusal message: `CODE (RULE)`, with `: MESSAGE` when `detail` is set;
    /// the server's own reasons always say what happened (`decision-timeout: could not …`).
    #[must_use]
    pub fn short(&self, detail: bool) -> String {
        let head = if self.rule.is_empty() || self.rule == self.code {
            self.code.clone()
        } else {
            format!("{} ({})", self.code, self.rule)
        };
        if self.section == "server" {
            format!("{}: {}", self.code, self.message)
        } else if detail {
            format!("{head}: {}", self.message)
        } else {
            head
        }
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
#[must_use]
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The answer for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The digest decided (none when it could not be resolved).
    pub digest: Option<String>,
    /// Allow, warn or deny (deny for errors and timeouts).
    pub verdict: Verdict,
    /// The reasons, deny first.
    pub reasons: Arc<[ReasonLite]>,
    /// Whether this is an error or a timeout rather than a decision of the policy.
    pub failed: bool,
}

impl Outcome {
    fn from_evaluation(digest: String, evaluation: &Evaluation) -> Outcome {
        let reasons: Vec<ReasonLite> = evaluation
            .decision
            .reasons
            .iter()
            .map(|r| ReasonLite {
                effect: r.effect,
                section: serde_json::to_value(r.section)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                code: r.code.clone(),
                rule: r.rule.clone(),
                message: cut(&r.message, MAX_CACHED_MESSAGE),
            })
            .collect();
        Outcome {
            digest: Some(digest),
            verdict: evaluation.decision.decision,
            reasons: reasons.into(),
            failed: false,
        }
    }

    /// A deny of the server's own.
    #[must_use]
    pub fn failure(digest: Option<String>, code: &str, message: String) -> Outcome {
        Outcome {
            digest,
            verdict: Verdict::Deny,
            reasons: vec![ReasonLite::server(code, message)].into(),
            failed: true,
        }
    }

    fn weight(&self) -> u32 {
        let reasons: usize = self
            .reasons
            .iter()
            .map(|r| 64 + r.section.len() + r.code.len() + r.rule.len() + r.message.len())
            .sum();
        u32::try_from(160 + reasons).unwrap_or(u32::MAX)
    }
}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// From the decision or error cache.
    Hit,
    /// Decided now by a job this request started.
    Miss,
    /// Decided now by a job another request had started.
    Inflight,
    /// Not decided within the deadline (the job goes on).
    Timeout,
}

impl CacheUse {
    /// The word used in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Inflight => "inflight",
            CacheUse::Timeout => "timeout",
        }
    }
}

/// The decision depends on where the image comes from (source rules match the repository,
/// signatures are looked up there), so the key holds the repository, not only the digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DecisionKey {
    repository: String,
    digest: String,
    env: String,
    policy_id: String,
    db_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct JobKey {
    reference: String,
    env: String,
    policy_id: String,
    db_id: String,
}

struct Ttls(CacheSettings);

impl Expiry<DecisionKey, Arc<Outcome>> for Ttls {
    fn expire_after_create(
        &self,
        _key: &DecisionKey,
        value: &Arc<Outcome>,
        _now: Instant,
    ) -> Option<Duration> {
        Some(match (value.failed, value.verdict) {
            (true, _) => self.0.error_ttl,
            (false, Verdict::Deny) => self.0.deny_ttl,
            (false, _) => self.0.allow_ttl,
        })
    }
}

type Waiter = watch::Receiver<Option<Arc<Outcome>>>;

/// The caches, the in-flight jobs and the worker limit.
pub struct Engine {
    decider: Arc<dyn ImageDecider>,
    settings: DecisionSettings,
    tags: Cache<String, String>,
    decisions: Cache<DecisionKey, Arc<Outcome>>,
    errors: Cache<JobKey, Arc<Outcome>>,
    inflight: Mutex<HashMap<JobKey, Waiter>>,
    cold: Arc<Semaphore>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("decisions", &self.decisions.entry_count())
            .finish_non_exhaustive()
    }
}

/// Whether a reference names its digest (`…@sha256:…`); then it is decided as it is.
#[must_use]
pub fn pinned_digest(reference: &str) -> Option<&str> {
    let (_, digest) = reference.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
}

impl Engine {
    /// An engine with empty caches.
    #[must_use]
    pub fn new(
        decider: Arc<dyn ImageDecider>,
        settings: DecisionSettings,
        cache: &CacheSettings,
    ) -> Engine {
        let tag_ttl = cache.tag_ttl;
        Engine {
            decider,
            cold: Arc::new(Semaphore::new(settings.max_cold)),
            settings,
            tags: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(tag_ttl)
                .build(),
            decisions: Cache::builder()
                .max_capacity(cache.max_bytes)
                .weigher(|_k: &DecisionKey, v: &Arc<Outcome>| v.weight())
                .expire_after(Ttls(cache.clone()))
                .build(),
            errors: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(cache.error_ttl)
                .build(),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// Drops every cached decision and digest (after a reload that changed what they depend
    /// on: keys already differ, this frees the memory).
    pub fn clear(&self) {
        self.decisions.invalidate_all();
        self.errors.invalidate_all();
        self.tags.invalidate_all();
    }

    /// Decides `reference` in `env` with `loaded`, answering by `deadline`.
    pub async fn decide(
        self: &Arc<Self>,
        loaded: &Arc<Loaded>,
        env: &str,
        reference: &str,
        deadline: Instant,
    ) -> (Arc<Outcome>, CacheUse) {
        let job = JobKey {
            reference: reference.to_owned(),
            env: env.to_owned(),
            policy_id: loaded.policy_id.clone(),
            db_id: loaded.db_id.clone(),
        };
        if let Some(hit) = self.cached(&job) {
            return (hit, CacheUse::Hit);
        }
        let Some((mut rx, started)) = self.join_or_start(job, loaded) else {
            return (
                Arc::new(Outcome::failure(
                    None,
                    "decision-busy",
                    format!("{MAX_JOBS} decisions are already in progress; retry shortly"),
                )),
                CacheUse::Timeout,
            );
        };
        let how = if started {
            CacheUse::Miss
        } else {
            CacheUse::Inflight
        };
        let wait = async {
            loop {
                if let Some(outcome) = rx.borrow_and_update().clone() {
                    return Some(outcome);
                }
                if rx.changed().await.is_err() {
                    // The job ended without an answer: its task panicked or was dropped.
                    return rx.borrow().clone();
                }
            }
        };
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(Some(outcome)) => (outcome, how),
            Ok(None) => (
                Arc::new(Outcome::failure(
                    None,
                    "decision-error",
                    "the decision job ended without an answer (internal error)".into(),
                )),
                how,
            ),
            Err(_) => (
                Arc::new(Outcome::failure(
                    None,
                    "decision-timeout",
                    format!(
                        "could not decide within the budget ({}); the decision goes on in the background, retry shortly",
                        human(self.settings.budget)
                    ),
                )),
                CacheUse::Timeout,
            ),
        }
    }

    fn cached(&self, job: &JobKey) -> Option<Arc<Outcome>> {
        let digest = match pinned_digest(&job.reference) {
            Some(d) => Some(d.to_owned()),
            None => self.tags.get(&job.reference),
        };
        if let Some(digest) = digest
            && let Some(hit) = self.decisions.get(&DecisionKey {
                repository: repository(&job.reference),
                digest,
                env: job.env.clone(),
                policy_id: job.policy_id.clone(),
                db_id: job.db_id.clone(),
            })
        {
            return Some(hit);
        }
        self.errors.get(job)
    }

    /// The job's waiter and whether this call started it; `None` when [`MAX_JOBS`] are already
    /// in flight.
    fn join_or_start(
        self: &Arc<Self>,
        job: JobKey,
        loaded: &Arc<Loaded>,
    ) -> Option<(Waiter, bool)> {
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(rx) = inflight.get(&job) {
            return Some((rx.clone(), false));
        }
        if inflight.len() >= MAX_JOBS {
            return None;
        }
        let (tx, rx) = watch::channel(None);
        inflight.insert(job.clone(), rx.clone());
        drop(inflight);
        let engine = Arc::clone(self);
        let loaded = Arc::clone(loaded);
        tokio::spawn(async move {
            let deadline = engine.settings.background_deadline;
            let outcome = match tokio::time::timeout(deadline, engine.run(&job, loaded)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::failure(
                    None,
                    "decision-error",
                    format!(
                        "the decision took longer than decision.background_deadline ({})",
                        human(deadline)
                    ),
                ),
            };
            let outcome = Arc::new(outcome);
            if outcome.failed {
                engine.errors.insert(job.clone(), Arc::clone(&outcome));
            }
            let _ = tx.send(Some(outcome));
            engine
                .inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&job);
        });
        Some((rx, true))
    }

    async fn run(self: &Arc<Self>, job: &JobKey, loaded: Arc<Loaded>) -> Outcome {
        let Ok(_permit) = Arc::clone(&self.cold).acquire_owned().await else {
            return Outcome::failure(None, "decision-error", "the server is shutting down".into());
        };
        let digest = match pinned_digest(&job.reference) {
            Some(d) => d.to_owned(),
            None => match self.tags.get(&job.reference) {
                Some(d) => d,
                None => {
                    let decider = Arc::clone(&self.decider);
                    let reference = job.reference.clone();
                    match tokio::task::spawn_blocking(move || decider.resolve(&reference)).await {
                        Ok(Ok(d)) => {
                            self.tags.insert(job.reference.clone(), d.clone());
                            d
                        }
                        Ok(Err(e)) => {
                            return Outcome::failure(
                                None,
                                "decision-error",
                                format!("cannot resolve {}: {e}", job.reference),
                            );
                        }
                        Err(e) => return panicked(None, &e),
                    }
                }
            },
        };
        let key = DecisionKey {
            repository: repository(&job.reference),
            digest: digest.clone(),
            env: job.env.clone(),
            policy_id: job.policy_id.clone(),
            db_id: job.db_id.clone(),
        };
        if let Some(hit) = self.decisions.get(&key) {
            return (*hit).clone();
        }
        let decider = Arc::clone(&self.decider);
        let (env, reference, d) = (job.env.clone(), job.reference.clone(), digest.clone());
        let result =
            tokio::task::spawn_blocking(move || decider.decide(&loaded, &env, &reference, &d))
                .await;
        match result {
            Ok(Ok(evaluation)) => {
                let outcome = Outcome::from_evaluation(digest, &evaluation);
                self.decisions.insert(key, Arc::new(outcome.clone()));
                outcome
            }
            Ok(Err(e)) => Outcome::failure(Some(digest), "decision-error", e),
            Err(e) => panicked(Some(digest), &e),
        }
    }
}

/// `registry/repository` of a reference (Docker Hub names expanded), or the name as written
/// when it does not parse (it is then refused by the decider anyway).
fn repository(reference: &str) -> String {
    reference.parse::<palisade_image::Reference>().map_or_else(
        |_| reference.split('@').next().unwrap_or(reference).to_owned(),
        |r| format!("{}/{}", r.registry(), r.repository()),
    )
}

fn panicked(digest: Option<String>, e: &tokio::task::JoinError) -> Outcome {
    Outcome::failure(
        digest,
        "decision-error",
        format!("internal error while deciding: {e}"),
    )
}

/// `8s`, `250ms`.
#[must_use]
pub fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
