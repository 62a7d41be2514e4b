//! What the agents report: which host runs which policy, its failing host checks and its
//! decision counts, kept in memory by `palisade serve` (`POST /v1/hosts/{host}/report`,
//! `GET /v1/hosts`). A host that has not reported within `stale_after` is stale.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The most hosts remembered; reports from further hosts are refused.
pub const MAX_HOSTS: usize = 10_000;
/// The longest host name, policy digest or check ID kept.
pub const MAX_FIELD: usize = 256;
/// The most failing check IDs kept per host.
pub const MAX_FAILING: usize = 200;

/// One agent's report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    /// The bundle digest the agent enforces (`sha256:…`), none before its first bundle.
    #[serde(default)]
    pub policy_digest: Option<String>,
    /// Host and daemon checks failing now.
    #[serde(default)]
    pub host_failing: Vec<String>,
    /// Host and daemon checks passing now (absent from agents before this field).
    #[serde(default)]
    pub host_passed: Option<u64>,
    /// Decisions since the agent started.
    #[serde(default)]
    pub decisions: Counts,
    /// The agent's version.
    #[serde(default)]
    pub agent_version: String,
}

/// Decisions by verdict.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Allowed.
    #[serde(default)]
    pub allow: u64,
    /// Allowed with warnings.
    #[serde(default)]
    pub warn: u64,
    /// Refused.
    #[serde(default)]
    pub deny: u64,
}

/// One host as `GET /v1/hosts` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HostView {
    /// The host name the agent reported under.
    pub host: String,
    /// Its report.
    #[serde(flatten)]
    pub report: Report,
    /// Whether it enforces the server's current policy.
    pub current: bool,
    /// Seconds since its last report.
    pub last_seen_seconds_ago: u64,
    /// No report within `stale_after`.
    pub stale: bool,
}

/// The reports, by host.
#[derive(Debug)]
pub struct Hosts {
    stale_after: Duration,
    map: Mutex<BTreeMap<String, (Report, Instant)>>,
}

fn cut(s: String) -> String {
    crate::engine::cut(&s, MAX_FIELD)
}

impl Hosts {
    /// No reports yet.
    #[must_use]
    pub fn new(stale_after: Duration) -> Hosts {
        Hosts {
            stale_after,
            map: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records `host`'s report.
    ///
    /// # Errors
    /// When the host name is not usable or [`MAX_HOSTS`] other hosts are known.
    pub fn report(&self, host: &str, mut report: Report) -> Result<(), String> {
        if host.is_empty()
            || host.len() > MAX_FIELD
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err("the host name must be 1 to 256 letters, digits, '-', '.' or '_'".into());
        }
        report.policy_digest = report.policy_digest.map(cut);
        report.agent_version = cut(report.agent_version);
        report.host_failing.truncate(MAX_FAILING);
        report.host_failing = report.host_failing.into_iter().map(cut).collect();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(host) && map.len() >= MAX_HOSTS {
            return Err(format!("more than {MAX_HOSTS} hosts report to this server"));
        }
        map.insert(host.to_owned(), (report, Instant::now()));
        Ok(())
    }

    /// Every host, with `current` against the server's bundle digest.
    #[must_use]
    pub fn list(&self, digest: Option<&str>) -> Vec<HostView> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .map(|(host, (report, seen))| {
                let age = seen.elapsed();
                HostView {
                    host: host.clone(),
                    current: digest.is_some() && report.policy_digest.as_deref() == digest,
                    report: report.clone(),
                    last_seen_seconds_ago: age.as_secs(),
                    stale: age > self.stale_after,
                }
            })
            .collect()
    }
}
