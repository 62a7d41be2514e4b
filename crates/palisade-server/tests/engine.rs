//! The engine's promises with a fake decider: one job per reference however many wait, a
//! timeout is a deny and the job goes on to fill the cache, errors are denies and are cached
//! briefly, a panic is a deny, a new policy id misses the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use palisade_policy::{Evaluation, Verdict};
use palisade_server::config::{CacheSettings, DecisionSettings};
use palisade_server::engine::{CacheUse, Engine, ImageDecider};
use palisade_server::state::Loaded;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

struct Fake {
    delay: Duration,
    resolves: AtomicUsize,
    decides: AtomicUsize,
    fail: bool,
    panic: bool,
    policy: palisade_policy::Policy,
}

impl ImageDecider for Fake {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        if reference.contains("unknown") {
            return Err("manifest unknown".into());
        }
        Ok(DIGEST.to_owned())
    }

    fn decide(
        &self,
        _loaded: &Loaded,
        _env: &str,
        _reference: &str,
        digest: &str,
    ) -> Result<Evaluation, String> {
        self.decides.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        assert!(!self.panic, "boom");
        if self.fail {
            return Err("registry said no".into());
        }
        let input = palisade_policy::Input {
            now: "2026-12-06T00:00:00Z".into(),
            ..serde_json::from_value(serde_json::json!({
                "now": "2026-12-06T00:00:00Z",
                "image": {"reference": "r", "digest": digest}
            }))
            .map_err(|e| e.to_string())?
        };
        self.policy.evaluate(&input).map_err(|e| e.to_string())
    }
}

fn fake(delay_ms: u64, fail: bool, panic: bool) -> Arc<Fake> {
    let policy =
        palisade_policy::Policy::parse("version: 1\n", "p.yaml", std::path::Path::new("."))
            .unwrap();
    Arc::new(Fake {
        delay: Duration::from_millis(delay_ms),
        resolves: AtomicUsize::new(0),
        decides: AtomicUsize::new(0),
        fail,
        panic,
        policy,
    })
}

fn loaded(id: &str) -> Arc<Loaded> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policy.yaml");
    std::fs::write(&p, format!("version: 1\nname: {id}\n")).unwrap();
    Arc::new(Loaded::load(&p, None).unwrap())
}

fn engine(f: &Arc<Fake>, budget_ms: u64, error_ttl_ms: u64) -> Arc<Engine> {
    let settings = DecisionSettings {
        budget: Duration::from_millis(budget_ms),
        background_deadline: Duration::from_secs(10),
        ..DecisionSettings::default()
    };
    let cache = CacheSettings {
        error_ttl: Duration::from_millis(error_ttl_ms),
        ..CacheSettings::default()
    };
    Arc::new(Engine::new(
        Arc::clone(f) as Arc<dyn ImageDecider>,
        settings,
        &cache,
    ))
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_for_many_waiters_then_hits() {
    let f = fake(200, false, false);
    let e = engine(&f, 5000, 1000);
    let l = loaded("a");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (e, l) = (Arc::clone(&e), Arc::clone(&l));
        set.spawn(async move { e.decide(&l, "default", "reg/app:v1", soon(5000)).await });
    }
    let mut misses = 0;
    while let Some(r) = set.join_next().await {
        let (outcome, how) = r.unwrap();
        assert_eq!(outcome.verdict, Verdict::Allow);
        assert_eq!(outcome.digest.as_deref(), Some(DIGEST));
        misses += usize::from(how == CacheUse::Miss);
    }
    assert_eq!(misses, 1);
    assert_eq!(f.decides.load(Ordering::SeqCst), 1);
    assert_eq!(f.resolves.load(Ordering::SeqCst), 1);
    let (_, how) = e.decide(&l, "default", "reg/app:v1", soon(5000)).await;
    assert_eq!(how, CacheUse::Hit);
    // A new policy (another id) decides again; the tag is still known.
    let (_, how) = e
        .decide(&loaded("b"), "default", "reg/app:v1", soon(5000))
        .await;
    assert_eq!(how, CacheUse::Miss);
    assert_eq!(f.decides.load(Ordering::SeqCst), 2);
    assert_eq!(f.resolves.load(Ordering::SeqCst), 1);
    // A pinned reference is not resolved.
    let (o, _) = e
        .decide(&l, "default", &format!("reg/other@{DIGEST}"), soon(5000))
        .await;
    assert_eq!(o.verdict, Verdict::Allow);
    assert_eq!(f.resolves.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_denies_and_the_job_fills_the_cache() {
    let f = fake(600, false, false);
    let e = engine(&f, 100, 1000);
    let l = loaded("a");
    let start = Instant::now();
    let (outcome, how) = e.decide(&l, "default", "reg/app:v1", soon(100)).await;
    assert!(start.elapsed() < Duration::from_millis(400));
    assert_eq!(how, CacheUse::Timeout);
    assert_eq!(outcome.verdict, Verdict::Deny);
    assert!(outcome.failed);
    assert_eq!(outcome.reasons[0].code, "decision-timeout");
    assert!(outcome.reasons[0].message.contains("within the budget"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (outcome, how) = e.decide(&l, "default", "reg/app:v1", soon(100)).await;
    assert_eq!(how, CacheUse::Hit);
    assert_eq!(outcome.verdict, Verdict::Allow);
    assert_eq!(f.decides.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_panics_deny_and_errors_are_cached_briefly() {
    let f = fake(0, true, false);
    let e = engine(&f, 2000, 300);
    let l = loaded("a");
    let (o, how) = e.decide(&l, "default", "reg/app:v1", soon(2000)).await;
    assert_eq!((o.verdict, how), (Verdict::Deny, CacheUse::Miss));
    assert_eq!(o.reasons[0].code, "decision-error");
    assert!(o.reasons[0].message.contains("registry said no"));
    let (_, how) = e.decide(&l, "default", "reg/app:v1", soon(2000)).await;
    assert_eq!(how, CacheUse::Hit);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, how) = e.decide(&l, "default", "reg/app:v1", soon(2000)).await;
    assert_eq!(how, CacheUse::Miss);
    assert_eq!(f.decides.load(Ordering::SeqCst), 2);

    let (o, _) = e.decide(&l, "default", "reg/unknown:v1", soon(2000)).await;
    assert_eq!(o.verdict, Verdict::Deny);
    assert!(o.reasons[0].message.contains("manifest unknown"), "{o:?}");

    let p = fake(0, false, true);
    let e = engine(&p, 2000, 300);
    let (o, _) = e.decide(&l, "default", "reg/app:v1", soon(2000)).await;
    assert_eq!(o.verdict, Verdict::Deny);
    assert_eq!(o.reasons[0].code, "decision-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_in_flight_are_capped() {
    // Slow jobs, two at a time: a few may end while the others are started.
    let f = fake(2000, false, false);
    let e = engine(&f, 5000, 1000);
    let l = loaded("a");
    let max = palisade_server::engine::MAX_JOBS;
    let mut busy_at = None;
    for i in 0..max + 50 {
        let (o, how) = e
            .decide(&l, "default", &format!("reg/app{i}:v1"), Instant::now())
            .await;
        assert_eq!(how, CacheUse::Timeout);
        assert_eq!(o.verdict, Verdict::Deny);
        if o.reasons[0].code == "decision-busy" {
            busy_at = Some(i);
            break;
        }
        assert_eq!(o.reasons[0].code, "decision-timeout");
    }
    let busy_at = busy_at.expect("new references are refused once the jobs are capped");
    assert!(busy_at >= max, "refused after only {busy_at} jobs");
    // A reference already in flight is still joined, not refused.
    let (o, _) = e
        .decide(&l, "default", "reg/app1000:v1", Instant::now())
        .await;
    assert_eq!(o.reasons[0].code, "decision-timeout");
}
