//! The job workers: each replica runs `store.workers` of them. A worker claims a job with a
//! lease, renews the lease while it works (a heartbeat at a third of it), and records the
//! result; a job that fails is retried with backoff up to `store.max_attempts` times. A
//! replica killed mid-job stops renewing, and another claims the job when the lease expires.
//!
//! A watcher queues the re-evaluations: a re-match when the database in force is not the
//! one the store last matched with, a re-decision when the policy is not the one it last
//! decided with.

use std::sync::Arc;
use std::time::Duration;

use palisade_store::Claimed;

use crate::fleet::{Fleet, ImageName, kind};

/// A worker's name in the store: host, process and a counter.
#[must_use]
pub fn owner_name(worker: usize) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}:{}:{worker}", std::process::id())
}

/// How the workers run.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Workers.
    pub workers: usize,
    /// The lease.
    pub lease: Duration,
    /// Idle poll interval.
    pub poll: Duration,
    /// Finished jobs are deleted after this long.
    pub keep_jobs: Duration,
}

/// Runs the job workers and the re-evaluation watcher until the returned handles are aborted.
#[must_use]
pub fn spawn(fleet: Arc<Fleet>, settings: WorkerSettings) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    for w in 0..settings.workers {
        let fleet = Arc::clone(&fleet);
        let settings = settings.clone();
        handles.push(tokio::spawn(async move {
            let owner = owner_name(w);
            loop {
                let claimed = {
                    let fleet = Arc::clone(&fleet);
                    let owner = owner.clone();
                    let lease = settings.lease.as_millis() as i64;
                    tokio::task::spawn_blocking(move || fleet.store.claim(&owner, kind::ALL, lease))
                        .await
                };
                match claimed {
                    Ok(Ok(Some(job))) => run_one(&fleet, &owner, job, &settings).await,
                    Ok(Ok(None)) => tokio::time::sleep(settings.poll).await,
                    Ok(Err(e)) => {
                        (fleet.events)(&format!("jobs: claiming: {e}"));
                        tokio::time::sleep(settings.poll.max(Duration::from_secs(1))).await;
                    }
                    Err(_) => tokio::time::sleep(settings.poll).await,
                }
            }
        }));
    }
    handles.push(tokio::spawn(watch(fleet, settings.keep_jobs)));
    handles
}

async fn run_one(fleet: &Arc<Fleet>, owner: &str, claimed: Claimed, settings: &WorkerSettings) {
    let job = claimed.job;
    let lease_ms = settings.lease.as_millis() as i64;
    let (lost_tx, lost_rx) = tokio::sync::watch::channel(false);
    // The heartbeat.
    let heartbeat = {
        let fleet = Arc::clone(fleet);
        let owner = owner.to_owned();
        let id = job.id;
        let every = settings.lease / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let f = Arc::clone(&fleet);
                let o = owner.clone();
                let kept = tokio::task::spawn_blocking(move || f.store.renew(id, &o, lease_ms))
                    .await
                    .ok()
                    .and_then(Result::ok);
                if kept == Some(false) {
                    let _ = lost_tx.send(true);
                    return;
                }
            }
        })
    };
    let work = {
        let fleet = Arc::clone(fleet);
        let job = job.clone();
        let owner = owner.to_owned();
        let lost = lost_rx.clone();
        tokio::task::spawn_blocking(move || {
            let renew = || !*lost.borrow();
            let hold = crate::fleet::Hold {
                job: job.id,
                owner: owner.clone(),
                lease_ms,
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                execute(&fleet, &job, &renew, &hold)
            }))
            .unwrap_or_else(|_| Err("the job panicked (a bug: please report it)".to_owned()))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the job did not finish: {e}")))
    };
    heartbeat.abort();
    let fleet = Arc::clone(fleet);
    let owner = owner.to_owned();
    let _ = tokio::task::spawn_blocking(move || record_outcome(&fleet, &job, &owner, work)).await;
}

/// Records how a job ended: done, queued again with backoff, or given up (a scan given up
/// is a `scan.failed` event); a Harbor request's credential is dropped once it cannot run
/// again.
fn record_outcome(
    fleet: &Fleet,
    job: &palisade_store::Job,
    owner: &str,
    work: Result<serde_json::Value, String>,
) {
    let retry = match work {
        Ok(result) => {
            let _ = fleet.store.finish(job.id, owner, &result.to_string());
            None
        }
        Err(error) => {
            let retry = (job.attempts < fleet.max_attempts).then(|| {
                // 1 s after the first try, then 2 s, 4 s, … capped at 5 minutes.
                let backoff = 1000i64 << (job.attempts - 1).clamp(0, 9);
                palisade_store::now_ms() + backoff.min(300_000)
            });
            if retry.is_none()
                && (job.kind == kind::SCAN || job.kind == kind::VERIFY)
                && let Ok(name) = serde_json::from_str::<ImageName>(&job.payload)
            {
                let _ = fleet.store.put_image_error(&name.digest, &error);
                let _ = fleet.emit(&[palisade_store::NewEvent {
                    kind: "scan.failed".into(),
                    digest: Some(name.digest.clone()),
                    subject: format!("{}: analysis failed: {error}", name.display()),
                    detail: serde_json::json!({"name": name, "error": error, "attempts": job.attempts}),
                }]);
            }
            let _ = fleet.store.fail(job.id, owner, &error, retry);
            retry
        }
    };
    if job.kind == kind::HARBOR
        && retry.is_none()
        && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&job.payload)
    {
        if let Some(o) = v
            .pointer_mut("/request/registry")
            .and_then(serde_json::Value::as_object_mut)
        {
            o.remove("authorization");
        }
        let _ = fleet.store.set_job_payload(job.id, &v.to_string());
    }
}

fn execute(
    fleet: &Fleet,
    job: &palisade_store::Job,
    renew: &(dyn Fn() -> bool + Sync),
    hold: &crate::fleet::Hold,
) -> Result<serde_json::Value, String> {
    match job.kind.as_str() {
        kind::SCAN | kind::VERIFY => {
            let name: ImageName =
                serde_json::from_str(&job.payload).map_err(|e| format!("job payload: {e}"))?;
            let done = fleet.analyse(&name, job.kind == kind::VERIFY, Some(hold))?;
            Ok(serde_json::to_value(done).unwrap_or_default())
        }
        kind::REMATCH => fleet.rematch(renew, Some(hold)),
        kind::REDECIDE => fleet.redecide(renew, Some(hold)),
        kind::HARBOR => crate::harbor_api::run(fleet, job),
        kind::NOTIFY => {
            let v: serde_json::Value =
                serde_json::from_str(&job.payload).map_err(|e| format!("job payload: {e}"))?;
            let event = v["event"].as_i64().ok_or("job payload: no event")?;
            let url = v["url"].as_str().ok_or("job payload: no url")?;
            fleet.notify(event, url)
        }
        other => Err(format!("unknown job kind {other:?}")),
    }
}

/// Queues a re-match when the database in force changes and a re-decision when the policy
/// does (also at start: the jobs themselves skip when the store is current). Once a minute it
/// also queues again what the store is still behind on (a re-match or re-decision that gave
/// up), every half minute it records the fleet's posture when it changed (the console's chart
/// of findings over time), and every ten minutes it deletes finished jobs older than
/// `keep_jobs`.
async fn watch(fleet: Arc<Fleet>, keep_jobs: Duration) {
    let mut last: Option<(String, String)> = None;
    let mut tick: u64 = 0;
    loop {
        if let Some(loaded) = fleet.state.current() {
            let now = (loaded.policy_id.clone(), loaded.db_id.clone());
            let sweep = tick % 60 == 59;
            if last.as_ref() != Some(&now) || sweep {
                let f = Arc::clone(&fleet);
                let (policy_changed, db_changed) = match &last {
                    None => (true, true),
                    Some((p, d)) => (p != &now.0, d != &now.1),
                };
                let queued = tokio::task::spawn_blocking(move || -> Result<(), String> {
                    let meta = |k: &str| f.store.meta(k).map_err(|e| e.to_string());
                    if loaded.db_path.is_some() {
                        let identity = loaded
                            .db_path
                            .as_deref()
                            .map(crate::fleet::db_identity)
                            .transpose()?
                            .unwrap_or_default();
                        if db_changed
                            || meta("vulndb.identity")?.as_deref() != Some(identity.as_str())
                        {
                            f.store
                                .enqueue(kind::REMATCH, &identity, "{}")
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    if policy_changed
                        || meta("policy.id")?.as_deref() != Some(loaded.policy_id.as_str())
                    {
                        f.store
                            .enqueue(kind::REDECIDE, &loaded.policy_id, "{}")
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
                .await;
                match queued {
                    Ok(Ok(())) => last = Some(now),
                    Ok(Err(e)) => (fleet.events)(&format!("re-evaluation not queued: {e}")),
                    Err(_) => {}
                }
            }
        }
        if tick % 30 == 5 {
            let f = Arc::clone(&fleet);
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || f.snapshot_posture()).await {
                (fleet.events)(&format!("posture snapshot: {e}"));
            }
        }
        if tick.is_multiple_of(600) {
            let f = Arc::clone(&fleet);
            let before = palisade_store::now_ms() - keep_jobs.as_millis() as i64;
            let _ = tokio::task::spawn_blocking(move || f.store.prune_jobs(before)).await;
        }
        tick += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
