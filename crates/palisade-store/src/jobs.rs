//! The job queue: at most one queued or running job per (kind, key), claimed with a lease.
//! A worker that dies (a replica killed with -9) stops renewing; when its lease expires
//! another claims the job again. On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so two
//! replicas never take the same job; on SQLite the write lock orders claims.

use serde::Serialize;

use crate::sql::{Conn, Dialect, Value, params};
use crate::{Result, Store};

/// A job's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting to be claimed.
    Queued,
    /// Claimed; its lease says until when.
    Running,
    /// Finished.
    Done,
    /// Gave up.
    Failed,
}

impl JobState {
    fn parse(s: &str) -> JobState {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            _ => JobState::Failed,
        }
    }
}

/// One job as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// Its number.
    pub id: i64,
    /// What to do (`scan`, `verify`, `rematch`, `notify`, …).
    pub kind: String,
    /// What to do it to: jobs with the same kind and key are one job while pending.
    pub key: String,
    /// The job's input, JSON.
    pub payload: String,
    /// Where it is.
    pub state: JobState,
    /// Claims so far (this one included, when running).
    pub attempts: i64,
    /// The worker holding it.
    pub owner: Option<String>,
    /// Its result (JSON), when done.
    pub result: Option<String>,
    /// Why it failed last.
    pub error: Option<String>,
    /// When it was queued, claimed and finished (milliseconds since the epoch).
    pub created: i64,
    /// When it was last claimed.
    pub started: Option<i64>,
    /// When it finished.
    pub finished: Option<i64>,
}

/// What [`Store::enqueue`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job.
    New(i64),
    /// The same kind and key were already queued or running: that job.
    Pending(i64),
}

impl Enqueued {
    /// The job's number either way.
    #[must_use]
    pub fn id(self) -> i64 {
        match self {
            Enqueued::New(id) | Enqueued::Pending(id) => id,
        }
    }
}

/// A claimed job: the caller owns it until `lease_until` unless it renews.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The job.
    pub job: Job,
    /// Until when the lease holds (milliseconds since the epoch).
    pub lease_until: i64,
}

/// Jobs by state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobCounts {
    /// Waiting.
    pub queued: i64,
    /// Claimed.
    pub running: i64,
    /// Finished.
    pub done: i64,
    /// Given up.
    pub failed: i64,
}

const JOB_COLUMNS: &str =
    "id, kind, key, payload, state, attempts, owner, result, error, created, started, finished";

fn job(r: &crate::sql::Row) -> Job {
    Job {
        id: r.int(0),
        kind: r.text(1),
        key: r.text(2),
        payload: r.text(3),
        state: JobState::parse(&r.text(4)),
        attempts: r.int(5),
        owner: r.opt_text(6),
        result: r.opt_text(7),
        error: r.opt_text(8),
        created: r.int(9),
        started: r.opt_int(10),
        finished: r.opt_int(11),
    }
}

impl Store {
    /// Queues a job unless one with the same kind and key is queued or running.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn enqueue(&self, kind: &str, key: &str, payload: &str) -> Result<Enqueued> {
        self.enqueue_at(kind, key, payload, 0)
    }

    /// [`Store::enqueue`], not to be claimed before `not_before` (milliseconds since the epoch).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn enqueue_at(
        &self,
        kind: &str,
        key: &str,
        payload: &str,
        not_before: i64,
    ) -> Result<Enqueued> {
        self.pool
            .tx(|conn| crate::Tx { conn }.enqueue_at(kind, key, payload, not_before))
    }

    /// Claims the oldest claimable job of one of `kinds` for `owner`, for `lease_ms`: a
    /// queued job whose time has come, or a running one whose lease expired (its worker died).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn claim(&self, owner: &str, kinds: &[&str], lease_ms: i64) -> Result<Option<Claimed>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = crate::now_ms();
        let until = now + lease_ms;
        let mut values: Vec<Value> = vec![owner.into(), until.into(), now.into()];
        let mut list = String::new();
        for (i, k) in kinds.iter().enumerate() {
            if i > 0 {
                list.push_str(", ");
            }
            list.push_str(&format!("${}", i + 4));
            values.push((*k).into());
        }
        let lock = match self.pool.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        // The outer WHERE repeats the claimable test: on PostgreSQL a row that another
        // transaction claimed between the subquery and the update is skipped, not stolen.
        let sql = format!(
            "UPDATE jobs SET state = 'running', owner = $1, lease_until = $2, started = $3, \
                 attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs WHERE kind IN ({list}) AND \
                     ((state = 'queued' AND not_before <= $3) OR \
                      (state = 'running' AND lease_until < $3)) \
                 ORDER BY id LIMIT 1 {lock}) \
               AND ((state = 'queued' AND not_before <= $3) OR \
                    (state = 'running' AND lease_until < $3)) \
             RETURNING {JOB_COLUMNS}"
        );
        let row = self.pool.tx(|conn| conn.query_one(&sql, &values))?;
        Ok(row.map(|r| Claimed {
            job: job(&r),
            lease_until: until,
        }))
    }

    /// Extends `owner`'s lease on job `id`; false when the job is no longer its own (the
    /// lease expired and another worker claimed it): the caller must stop and not write.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn renew(&self, id: i64, owner: &str, lease_ms: i64) -> Result<bool> {
        let until = crate::now_ms() + lease_ms;
        self.pool.with(|conn| {
            Ok(conn.execute(
                "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND owner = $2 \
                 AND state = 'running'",
                params![id, owner, until],
            )? == 1)
        })
    }

    /// Marks `owner`'s job `id` done with `result`; false when it was not `owner`'s any more.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn finish(&self, id: i64, owner: &str, result: &str) -> Result<bool> {
        let now = crate::now_ms();
        self.pool.with(|conn| {
            Ok(conn.execute(
                "UPDATE jobs SET state = 'done', finished = $3, result = $4, lease_until = NULL \
                 WHERE id = $1 AND owner = $2 AND state = 'running'",
                params![id, owner, now, result],
            )? == 1)
        })
    }

    /// Records that `owner`'s job `id` failed: queued again from `retry_at` (milliseconds
    /// since the epoch) or, without one, failed for good. False when it was not `owner`'s.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn fail(&self, id: i64, owner: &str, error: &str, retry_at: Option<i64>) -> Result<bool> {
        let now = crate::now_ms();
        let error: String = error.chars().take(4096).collect();
        self.pool.with(|conn| {
            let n = match retry_at {
                Some(at) => conn.execute(
                    "UPDATE jobs SET state = 'queued', not_before = $3, error = $4, \
                         owner = NULL, lease_until = NULL \
                     WHERE id = $1 AND owner = $2 AND state = 'running'",
                    params![id, owner, at, error],
                )?,
                None => conn.execute(
                    "UPDATE jobs SET state = 'failed', finished = $3, error = $4, \
                         lease_until = NULL \
                     WHERE id = $1 AND owner = $2 AND state = 'running'",
                    params![id, owner, now, error],
                )?,
            };
            Ok(n == 1)
        })
    }

    /// One job.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn job(&self, id: i64) -> Result<Option<Job>> {
        self.pool.with(|conn| {
            Ok(conn
                .query_one(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
                    params![id],
                )?
                .map(|r| job(&r)))
        })
    }

    /// The newest job of `kind` with `key`.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn job_by_key(&self, kind: &str, key: &str) -> Result<Option<Job>> {
        self.pool.with(|conn| {
            Ok(conn
                .query_one(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND key = $2 \
                         ORDER BY id DESC LIMIT 1"
                    ),
                    params![kind, key],
                )?
                .map(|r| job(&r)))
        })
    }

    /// Replaces a finished job's payload (to drop a credential it carried).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn set_job_payload(&self, id: i64, payload: &str) -> Result<()> {
        self.pool.with(|conn| {
            conn.execute(
                "UPDATE jobs SET payload = $2 WHERE id = $1",
                params![id, payload],
            )?;
            Ok(())
        })
    }

    /// The newest jobs of `kind` (all kinds: `None`), newest first.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn jobs(&self, kind: Option<&str>, limit: i64) -> Result<Vec<Job>> {
        self.pool.with(|conn| {
            let rows = match kind {
                Some(k) => conn.query(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT $2"
                    ),
                    params![k, limit],
                )?,
                None => conn.query(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"),
                    params![limit],
                )?,
            };
            Ok(rows.iter().map(job).collect())
        })
    }

    /// How many jobs are in each state.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn job_counts(&self) -> Result<JobCounts> {
        self.pool.with(|conn| {
            let mut c = JobCounts::default();
            for r in conn.query(
                "SELECT state, CAST(COUNT(*) AS BIGINT) FROM jobs GROUP BY state",
                params![],
            )? {
                let n = r.int(1);
                match JobState::parse(&r.text(0)) {
                    JobState::Queued => c.queued = n,
                    JobState::Running => c.running = n,
                    JobState::Done => c.done = n,
                    JobState::Failed => c.failed = n,
                }
            }
            Ok(c)
        })
    }

    /// Deletes finished jobs older than `before` (milliseconds since the epoch); how many.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn prune_jobs(&self, before: i64) -> Result<u64> {
        self.pool.with(|conn| {
            conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished < $1",
                params![before],
            )
        })
    }
}

impl crate::Tx<'_> {
    /// [`Store::enqueue`], not to be claimed before `not_before` (milliseconds since the epoch).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn enqueue_at(
        &mut self,
        kind: &str,
        key: &str,
        payload: &str,
        not_before: i64,
    ) -> Result<Enqueued> {
        let now = crate::now_ms();
        let conn: &mut dyn Conn = &mut *self.conn;
        let inserted = conn.query_one(
            "INSERT INTO jobs (kind, key, payload, state, created, not_before) \
             VALUES ($1, $2, $3, 'queued', $4, $5) ON CONFLICT DO NOTHING RETURNING id",
            params![kind, key, payload, now, not_before],
        )?;
        if let Some(r) = inserted {
            return Ok(Enqueued::New(r.int(0)));
        }
        let pending = conn.query_one(
            "SELECT id FROM jobs WHERE kind = $1 AND key = $2 \
             AND state IN ('queued', 'running')",
            params![kind, key],
        )?;
        match pending {
            Some(r) => Ok(Enqueued::Pending(r.int(0))),
            // Finished between the two statements: queue it again.
            None => Ok(Enqueued::New(
                conn.query_one(
                    "INSERT INTO jobs (kind, key, payload, state, created, not_before) \
                     VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING id",
                    params![kind, key, payload, now, not_before],
                )?
                .map_or(0, |r| r.int(0)),
            )),
        }
    }

    /// Extends `owner`'s lease on job `id` inside this transaction, or fails with
    /// [`crate::Error::LeaseLost`]: what a worker writes commits only while the job is still its
    /// own, so a worker whose lease expired (and whose job another took over) writes nothing.
    ///
    /// # Errors
    /// The lease was lost, or the store cannot be written.
    pub fn hold(&mut self, id: i64, owner: &str, lease_ms: i64) -> Result<()> {
        let until = crate::now_ms() + lease_ms;
        let n = self.conn.execute(
            "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND owner = $2 AND state = 'running'",
            params![id, owner, until],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(crate::Error::LeaseLost { job: id })
        }
    }
}
