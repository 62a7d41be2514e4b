//! One decision as the log and the metrics see it: what was decided, for whom, how fast and
//! from which cache, and why.

use serde::Serialize;

use crate::engine::ReasonLite;

/// One decided image (or workload) of one request.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    /// When (RFC 3339 UTC).
    pub ts: String,
    /// The request (`request.uid` for admission).
    pub request_id: String,
    /// `admission` or `authz`.
    pub source: &'static str,
    /// The namespace (admission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `Kind/namespace/name` (admission) or the engine path (authz).
    pub object: String,
    /// `enforce`, `warn` or `audit`.
    pub mode: &'static str,
    /// A dry run (no side effects followed).
    pub dry_run: bool,
    /// The image as written (none for workload-only records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The digest decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `allow`, `warn` or `deny`.
    pub verdict: &'static str,
    /// What the request was answered.
    pub allowed: bool,
    /// `hit`, `miss`, `inflight`, `timeout`, or `none` (nothing looked up).
    pub cache: &'static str,
    /// Milliseconds from the request's arrival.
    pub ms: f64,
    /// The reasons.
    pub reasons: Vec<ReasonLite>,
}

/// Where records go: the decision log and the metrics (tests collect them).
pub trait Sink: Send + Sync {
    /// Takes one record; must not block.
    fn record(&self, record: &Record);
}

/// Drops every record.
#[derive(Debug, Default)]
pub struct Discard;

impl Sink for Discard {
    fn record(&self, _record: &Record) {}
}
