//! The fleet at a glance: the aggregates, logs and lookups the console's pages read. Each is
//! one or two indexed queries, so a page stays fast with 10,000 images and a million findings
//! (`perf/console-bench.sh`).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::events::Event;
use crate::sql::{Value, params};
use crate::{HostRow, Role, Store, TokenInfo};

/// An EPSS probability at or above this counts as "high" (a 10% or greater chance of
/// exploitation activity in the next 30 days, FIRST's own example threshold).
pub const HIGH_EPSS: f64 = 0.1;

/// How many images have one verdict in one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerdictCount {
    /// The environment.
    pub environment: String,
    /// `allow`, `warn` or `deny`.
    pub verdict: String,
    /// Distinct images.
    pub images: i64,
}

/// The fleet's posture now: what the overview shows, and what a `fleet.posture` event records
/// (the chart of findings over time reads those).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posture {
    /// Images known (analysed or not).
    pub images: i64,
    /// Images analysed.
    pub analysed: i64,
    /// Images whose last analysis failed.
    pub failed: i64,
    /// Findings by severity, over every image.
    pub critical: i64,
    /// High findings.
    pub high: i64,
    /// Medium findings.
    pub medium: i64,
    /// Low findings.
    pub low: i64,
    /// Images with at least one critical finding.
    pub critical_images: i64,
    /// Images with a finding listed in CISA KEV.
    pub kev_images: i64,
    /// Findings listed in CISA KEV.
    pub kev_findings: i64,
    /// Images with a finding of EPSS ≥ [`HIGH_EPSS`].
    pub high_epss_images: i64,
    /// Findings of EPSS ≥ [`HIGH_EPSS`].
    pub high_epss_findings: i64,
    /// Images seen running or asked to run (by digest).
    pub running: i64,
    /// Of those, with a critical finding.
    pub running_critical: i64,
    /// Of those, with a KEV-listed finding.
    pub running_kev: i64,
}

/// Which events to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// Only these kinds (empty: all).
    pub kinds: Vec<String>,
    /// Only events numbered below this (paging backwards); 0: from the newest.
    pub before: i64,
    /// Only events at or after this time (milliseconds since the epoch); 0: any.
    pub since_ms: i64,
    /// Only events whose subject contains this text (case-insensitive for ASCII).
    pub text: Option<String>,
    /// Only events about this image digest.
    pub digest: Option<String>,
    /// At most this many (clamped to 1..=500).
    pub limit: i64,
}

fn event(r: &crate::sql::Row) -> Event {
    Event {
        id: r.int(0),
        at: r.int(1),
        kind: r.text(2),
        digest: r.opt_text(3),
        subject: r.text(4),
        detail: serde_json::from_str(&r.text(5)).unwrap_or(serde_json::Value::Null),
    }
}

impl Store {
    /// Distinct images per environment and verdict.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn verdict_counts(&self) -> Result<Vec<VerdictCount>> {
        let rows = self.pool.with(|conn| {
            conn.query(
                "SELECT environment, verdict, CAST(COUNT(DISTINCT image_id) AS BIGINT) \
                 FROM decisions GROUP BY environment, verdict ORDER BY environment, verdict",
                params![],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| VerdictCount {
                environment: r.text(0),
                verdict: r.text(1),
                images: r.int(2),
            })
            .collect())
    }

    /// The fleet's posture now.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn posture(&self) -> Result<Posture> {
        self.pool.with(|conn| {
            let sum = |c: &str| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT)");
            let images = conn.query_one(
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT), {}, {}, {}, {}, {}, {}, {}, {}, {} FROM images",
                    sum("CASE WHEN analyzed_at IS NOT NULL THEN 1 ELSE 0 END"),
                    sum("CASE WHEN error IS NOT NULL THEN 1 ELSE 0 END"),
                    sum("critical"),
                    sum("high"),
                    sum("medium"),
                    sum("low"),
                    sum("CASE WHEN critical > 0 THEN 1 ELSE 0 END"),
                    sum("CASE WHEN kev > 0 THEN 1 ELSE 0 END"),
                    sum("kev"),
                ),
                params![],
            )?;
            let epss = conn.query_one(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT image_id) AS BIGINT) \
                 FROM findings WHERE epss >= $1",
                params![HIGH_EPSS],
            )?;
            let running = conn.query_one(
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT), {}, {} FROM \
                     (SELECT DISTINCT digest FROM sightings) s \
                     LEFT JOIN images i ON i.digest = s.digest",
                    sum("CASE WHEN i.critical > 0 THEN 1 ELSE 0 END"),
                    sum("CASE WHEN i.kev > 0 THEN 1 ELSE 0 END"),
                ),
                params![],
            )?;
            let mut p = Posture::default();
            if let Some(r) = images {
                p.images = r.int(0);
                p.analysed = r.int(1);
                p.failed = r.int(2);
                p.critical = r.int(3);
                p.high = r.int(4);
                p.medium = r.int(5);
                p.low = r.int(6);
                p.critical_images = r.int(7);
                p.kev_images = r.int(8);
                p.kev_findings = r.int(9);
            }
            if let Some(r) = epss {
                p.high_epss_findings = r.int(0);
                p.high_epss_images = r.int(1);
            }
            if let Some(r) = running {
                p.running = r.int(0);
                p.running_critical = r.int(1);
                p.running_kev = r.int(2);
            }
            Ok(p)
        })
    }

    /// Events, newest first.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn events_newest(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let mut clauses = vec!["1 = 1".to_owned()];
        let mut values: Vec<Value> = Vec::new();
        let push = |values: &mut Vec<Value>, v: Value| {
            values.push(v);
            format!("${}", values.len())
        };
        if q.before > 0 {
            clauses.push(format!("id < {}", push(&mut values, q.before.into())));
        }
        if q.since_ms > 0 {
            clauses.push(format!("at >= {}", push(&mut values, q.since_ms.into())));
        }
        if let Some(d) = &q.digest {
            clauses.push(format!("digest = {}", push(&mut values, d.into())));
        }
        if !q.kinds.is_empty() {
            let list: Vec<String> = q
                .kinds
                .iter()
                .map(|k| push(&mut values, k.into()))
                .collect();
            clauses.push(format!("kind IN ({})", list.join(", ")));
        }
        if let Some(t) = q.text.as_deref().filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", crate::images::like_escape(&t.to_ascii_lowercase()));
            clauses.push(format!(
                "LOWER(subject) LIKE {} ESCAPE '\\'",
                push(&mut values, pattern.into())
            ));
        }
        let limit = push(&mut values, q.limit.clamp(1, 500).into());
        let sql = format!(
            "SELECT id, at, kind, digest, subject, detail FROM events WHERE {} \
             ORDER BY id DESC LIMIT {limit}",
            clauses.join(" AND ")
        );
        self.pool
            .with(|conn| Ok(conn.query(&sql, &values)?.iter().map(event).collect()))
    }

    /// How many events of these kinds happened at or after `since_ms`.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn count_events(&self, kinds: &[&str], since_ms: i64) -> Result<i64> {
        let mut values: Vec<Value> = vec![since_ms.into()];
        let mut list = Vec::new();
        for k in kinds {
            values.push((*k).into());
            list.push(format!("${}", values.len()));
        }
        if list.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM events WHERE at >= $1 AND kind IN ({})",
            list.join(", ")
        );
        self.pool
            .with(|conn| Ok(conn.query_one(&sql, &values)?.map_or(0, |r| r.int(0))))
    }

    /// The newest event of a kind.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn last_event_of(&self, kind: &str) -> Result<Option<Event>> {
        Ok(self
            .events_newest(&EventQuery {
                kinds: vec![kind.to_owned()],
                limit: 1,
                ..EventQuery::default()
            })?
            .pop())
    }

    /// One host.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn host(&self, name: &str) -> Result<Option<HostRow>> {
        let row = self.pool.with(|conn| {
            conn.query_one(
                "SELECT name, passed, failed, compliant, reported_at, report FROM hosts \
                 WHERE name = $1",
                params![name],
            )
        })?;
        Ok(row.map(|r| HostRow {
            name: r.text(0),
            passed: r.int(1),
            failed: r.int(2),
            compliant: r.int(3) != 0,
            reported_at: r.int(4),
            report: serde_json::from_str(&r.text(5)).unwrap_or(serde_json::Value::Null),
        }))
    }

    /// A host's reports over time (seconds since the epoch, passed, failed), newest first.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn host_history(&self, name: &str, limit: i64) -> Result<Vec<(i64, i64, i64)>> {
        let rows = self.pool.with(|conn| {
            conn.query(
                "SELECT reported_at, passed, failed FROM host_history WHERE name = $1 \
                 ORDER BY reported_at DESC LIMIT $2",
                params![name, limit.clamp(1, 1000)],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| (r.int(0), r.int(1), r.int(2)))
            .collect())
    }

    /// The token with public id `id`, unless unknown or revoked: a console session names its
    /// token, so revoking the token ends the session.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn token_by_id(&self, id: &str) -> Result<Option<TokenInfo>> {
        if id.len() > 64 {
            return Ok(None);
        }
        let row = self.pool.with(|conn| {
            conn.query_one(
                "SELECT id, name, role, created, revoked FROM tokens \
                 WHERE id = $1 AND revoked IS NULL",
                params![id],
            )
        })?;
        Ok(row.map(|r| TokenInfo {
            id: r.text(0),
            name: r.text(1),
            role: Role::parse(&r.text(2)).unwrap_or(Role::Read),
            created: r.int(3),
            revoked: r.opt_int(4),
        }))
    }

    /// How many images have a finding known by `id` (an advisory id or an alias).
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn fleet_count(&self, id: &str) -> Result<i64> {
        self.pool.with(|conn| {
            Ok(conn
                .query_one(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM finding_ids WHERE id = $1",
                    params![id],
                )?
                .map_or(0, |r| r.int(0)))
        })
    }
}
