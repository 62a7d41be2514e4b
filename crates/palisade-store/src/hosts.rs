//! Hosts and their latest hardening results, as their agents report them.

use serde::Serialize;

use crate::sql::params;
use crate::{Result, Store};

/// A report to record.
#[derive(Clone, Debug)]
pub struct HostReport {
    /// The host's name.
    pub name: String,
    /// Checks passed and failed.
    pub passed: i64,
    /// Checks failed.
    pub failed: i64,
    /// Whether the host meets the policy.
    pub compliant: bool,
    /// The whole report, JSON.
    pub report: serde_json::Value,
}

/// A host as stored.
#[derive(Clone, Debug, Serialize)]
pub struct HostRow {
    /// Its name.
    pub name: String,
    /// Checks passed.
    pub passed: i64,
    /// Checks failed.
    pub failed: i64,
    /// Whether it meets the policy.
    pub compliant: bool,
    /// When it last reported (seconds since the epoch).
    pub reported_at: i64,
    /// The last report.
    pub report: serde_json::Value,
}

impl Store {
    /// Records a host's report (and one point of its history).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_host(&self, host: &HostReport) -> Result<()> {
        let now = crate::now();
        let report = host.report.to_string();
        self.pool.tx(|conn| {
            conn.execute(
                "INSERT INTO hosts (name, report, passed, failed, compliant, reported_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
                 report = excluded.report, passed = excluded.passed, failed = excluded.failed, \
                 compliant = excluded.compliant, reported_at = excluded.reported_at",
                params![
                    host.name.as_str(),
                    report.as_str(),
                    host.passed,
                    host.failed,
                    host.compliant,
                    now
                ],
            )?;
            conn.execute(
                "INSERT INTO host_history (name, reported_at, passed, failed) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                params![host.name.as_str(), now, host.passed, host.failed],
            )?;
            Ok(())
        })
    }

    /// Every host, by name.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn hosts(&self) -> Result<Vec<HostRow>> {
        let rows = self.pool.with(|conn| {
            conn.query(
                "SELECT name, passed, failed, compliant, reported_at, report FROM hosts \
                 ORDER BY name",
                params![],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| HostRow {
                name: r.text(0),
                passed: r.int(1),
                failed: r.int(2),
                compliant: r.int(3) != 0,
                reported_at: r.int(4),
                report: serde_json::from_str(&r.text(5)).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }
}
