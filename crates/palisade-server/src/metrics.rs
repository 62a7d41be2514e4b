//! The server's Prometheus metrics (plan section 4) over one explicit prometheus-client
//! `Registry`, rendered in the OpenMetrics text format for `GET /metrics`.
//!
//! Label values that come from requests or from the policy (reason codes, registry hosts)
//! are capped: each label keeps at most a fixed number of distinct values, and later ones
//! are counted under `other`, so a stream of made-up image names cannot grow the registry
//! without bound. Values are also cut to [`MAX_LABEL_BYTES`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{MethodRouter, get};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Distinct values kept per label whose values come from input (reason codes, registries).
pub const MAX_INPUT_LABEL_VALUES: usize = 200;
/// Distinct values kept, over all labels whose values the server chooses (verdicts, modes,
/// cache names, …), as a guard against a caller passing input where a fixed word was expected.
pub const MAX_FIXED_LABEL_VALUES: usize = 64;
/// The longest label value kept, in bytes; longer ones are cut at a character boundary.
pub const MAX_LABEL_BYTES: usize = 128;
/// The value that stands for every label value past the cap.
pub const OTHER: &str = "other";

/// Upper bounds of `palisade_decision_seconds`, 0.5 ms to 10 s.
pub const DECISION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    source: String,
    verdict: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimingLabels {
    source: String,
    cache: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    what: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    sha256: String,
}

fn decision_histogram() -> Histogram {
    Histogram::new(DECISION_BUCKETS)
}

/// A set of label values that admits up to `max` distinct values and answers [`OTHER`]
/// after that.
#[derive(Debug)]
struct Capped {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl Capped {
    fn new(max: usize) -> Self {
        Self {
            max,
            seen: Mutex::new(HashSet::new()),
        }
    }

    fn admit(&self, value: &str) -> String {
        let value = truncate(value, MAX_LABEL_BYTES);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        OTHER.to_owned()
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The server's metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    decision_seconds: Family<TimingLabels, Histogram, fn() -> Histogram>,
    cache_requests: Family<CacheLabels, Counter>,
    registry_errors: Family<RegistryLabels, Counter>,
    budget_exceeded: Counter,
    inflight: Gauge,
    reloads: Family<ReloadLabels, Counter>,
    policy_info: Family<PolicyLabels, Gauge>,
    policy_current: Mutex<Option<PolicyLabels>>,
    log_dropped: Counter,
    // One cap per label dimension.
    fixed: Capped,
    codes: Capped,
    registries: Capped,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (and none observed yet).
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("palisade");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions answered, by source (admission|authz), verdict and mode",
            decisions.clone(),
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reasons",
            "Reasons given in decisions, by code",
            reasons.clone(),
        );
        let decision_seconds =
            Family::<TimingLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                decision_histogram,
            );
        registry.register(
            "decision_seconds",
            "Time from a request's arrival to its answer, by source and cache outcome",
            decision_seconds.clone(),
        );
        let cache_requests = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_requests",
            "Cache look-ups, by cache (tag|decision|error) and result",
            cache_requests.clone(),
        );
        let registry_errors = Family::<RegistryLabels, Counter>::default();
        registry.register(
            "registry_errors",
            "Errors talking to image registries, by registry host and kind",
            registry_errors.clone(),
        );
        let budget_exceeded = Counter::default();
        registry.register(
            "budget_exceeded",
            "Decisions that could not be made within the budget",
            budget_exceeded.clone(),
        );
        let inflight = Gauge::default();
        registry.register("inflight", "Requests being decided now", inflight.clone());
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of the policy, database or certificates, by what and result",
            reloads.clone(),
        );
        let policy_info = Family::<PolicyLabels, Gauge>::default();
        registry.register(
            "policy_info",
            "The policy in use: 1 for its sha256 digest",
            policy_info.clone(),
        );
        let log_dropped = Counter::default();
        registry.register(
            "log_dropped",
            "Decision log lines dropped because the writer fell behind or failed",
            log_dropped.clone(),
        );
        Self {
            registry,
            decisions,
            reasons,
            decision_seconds,
            cache_requests,
            registry_errors,
            budget_exceeded,
            inflight,
            reloads,
            policy_info,
            policy_current: Mutex::new(None),
            log_dropped,
            fixed: Capped::new(MAX_FIXED_LABEL_VALUES),
            codes: Capped::new(MAX_INPUT_LABEL_VALUES),
            registries: Capped::new(MAX_INPUT_LABEL_VALUES),
        }
    }

    /// Counts one answered decision and its latency: `palisade_decisions_total{source,
    /// verdict,mode}` and `palisade_decision_seconds{source,cache}`. `cache` is
    /// `hit|miss|inflight|error`, as in the decision log.
    pub fn decision(&self, source: &str, verdict: &str, mode: &str, seconds: f64, cache: &str) {
        let source = self.fixed.admit(source);
        self.decisions
            .get_or_create(&DecisionLabels {
                source: source.clone(),
                verdict: self.fixed.admit(verdict),
                mode: self.fixed.admit(mode),
            })
            .inc();
        self.decision_seconds
            .get_or_create(&TimingLabels {
                source,
                cache: self.fixed.admit(cache),
            })
            .observe(seconds);
    }

    /// Counts one reason given in a decision: `palisade_reasons_total{code}` (capped).
    pub fn reason(&self, code: &str) {
        self.reasons
            .get_or_create(&ReasonLabels {
                code: self.codes.admit(code),
            })
            .inc();
    }

    /// Counts one cache look-up: `palisade_cache_requests_total{cache,result}`.
    pub fn cache_request(&self, cache: &str, result: &str) {
        self.cache_requests
            .get_or_create(&CacheLabels {
                cache: self.fixed.admit(cache),
                result: self.fixed.admit(result),
            })
            .inc();
    }

    /// Counts one registry error: `palisade_registry_errors_total{registry,kind}` (registry
    /// capped).
    pub fn registry_error(&self, registry: &str, kind: &str) {
        self.registry_errors
            .get_or_create(&RegistryLabels {
                registry: self.registries.admit(registry),
                kind: self.fixed.admit(kind),
            })
            .inc();
    }

    /// Counts one decision that ran out of budget: `palisade_budget_exceeded_total`.
    pub fn budget_exceeded(&self) {
        self.budget_exceeded.inc();
    }

    /// Raises `palisade_inflight` until the returned guard is dropped.
    #[must_use = "the gauge goes down again when the guard is dropped"]
    pub fn inflight(&self) -> InflightGuard {
        self.inflight.inc();
        InflightGuard(self.inflight.clone())
    }

    /// Counts one reload: `palisade_reloads_total{what,result}` (`what`: policy, db, tls;
    /// `result`: ok, error).
    pub fn reload(&self, what: &str, result: &str) {
        self.reloads
            .get_or_create(&ReloadLabels {
                what: self.fixed.admit(what),
                result: self.fixed.admit(result),
            })
            .inc();
    }

    /// Sets `palisade_policy_info{sha256}` to 1 for this digest and removes the previous one.
    pub fn policy(&self, sha256: &str) {
        let labels = PolicyLabels {
            sha256: truncate(sha256, MAX_LABEL_BYTES).to_owned(),
        };
        let mut current = self
            .policy_current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = current.take()
            && old != labels
        {
            self.policy_info.remove(&old);
        }
        self.policy_info.get_or_create(&labels).set(1);
        *current = Some(labels);
    }

    /// Counts decision log lines dropped: `palisade_log_dropped_total`.
    pub fn log_dropped(&self, lines: u64) {
        self.log_dropped.inc_by(lines);
    }

    /// The metrics in the OpenMetrics text format (ends with `# EOF`).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the encoder only fails on a failing writer.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The `GET /metrics` response: 200, [`CONTENT_TYPE`], [`render`](Self::render).
    #[must_use]
    pub fn response(&self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            self.render(),
        )
            .into_response()
    }
}

/// A route answering `GET` with [`Metrics::response`]; mount it at `/metrics` on any router:
/// `Router::new().route("/metrics", metrics_route(metrics))`.
pub fn metrics_route<S>(metrics: Arc<Metrics>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(move || {
        let metrics = Arc::clone(&metrics);
        async move { metrics.response() }
    })
}

/// Holds `palisade_inflight` one higher while it lives; from [`Metrics::inflight`].
#[derive(Debug)]
pub struct InflightGuard(Gauge);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(rendered: &str, prefix: &str) -> Option<String> {
        rendered
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
    }

    #[test]
    fn renders_every_metric_in_openmetrics() {
        let m = Metrics::new();
        m.decision("admission", "deny", "enforce", 0.003, "miss");
        m.decision("admission", "deny", "enforce", 0.2, "hit");
        m.reason("signature-missing");
        m.cache_request("decision", "hit");
        m.registry_error("127.0.0.1:5000", "timeout");
        m.budget_exceeded();
        let guard = m.inflight();
        m.reload("policy", "ok");
        m.policy("abc");
        m.log_dropped(3);
        let out = m.render();

        assert!(out.ends_with("# EOF\n"), "{out}");
        assert_eq!(
            line_value(
                &out,
                r#"palisade_decisions_total{source="admission",verdict="deny",mode="enforce"}"#
            )
            .as_deref(),
            Some("2")
        );
        assert!(
            out.contains("# TYPE palisade_decision_seconds histogram"),
            "{out}"
        );
        assert!(
            out.contains(
                r#"palisade_decision_seconds_bucket{le="0.005",source="admission",cache="miss"} 1"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"palisade_decision_seconds_bucket{le="10.0",source="admission",cache="hit"} 1"#
            ),
            "{out}"
        );
        for needle in [
            r#"palisade_reasons_total{code="signature-missing"} 1"#,
            r#"palisade_cache_requests_total{cache="decision",result="hit"} 1"#,
            r#"palisade_registry_errors_total{registry="127.0.0.1:5000",kind="timeout"} 1"#,
            "palisade_budget_exceeded_total 1",
            "palisade_inflight 1",
            r#"palisade_reloads_total{what="policy",result="ok"} 1"#,
            r#"palisade_policy_info{sha256="abc"} 1"#,
            "palisade_log_dropped_total 3",
        ] {
            assert!(out.contains(needle), "missing {needle} in\n{out}");
        }
        drop(guard);
        assert!(m.render().contains("palisade_inflight 0"));
    }

    #[test]
    fn policy_info_keeps_only_the_current_digest() {
        let m = Metrics::new();
        m.policy("old");
        m.policy("new");
        m.policy("new");
        let out = m.render();
        assert!(!out.contains(r#"sha256="old""#), "{out}");
        assert!(
            out.contains(r#"palisade_policy_info{sha256="new"} 1"#),
            "{out}"
        );
    }

    #[test]
    fn input_labels_are_capped_and_folded_into_other() {
        let m = Metrics::new();
        for i in 0..MAX_INPUT_LABEL_VALUES + 50 {
            m.reason(&format!("CVE-2026-{i:05}"));
            m.registry_error(&format!("reg{i}.example:5000"), "http");
        }
        // A value seen before the cap keeps its own series.
        m.reason("CVE-2026-00000");
        let out = m.render();
        let codes = out
            .lines()
            .filter(|l| l.starts_with("palisade_reasons_total{"))
            .count();
        assert_eq!(codes, MAX_INPUT_LABEL_VALUES + 1, "{out}");
        assert!(
            out.contains(r#"palisade_reasons_total{code="other"} 50"#),
            "{out}"
        );
        assert!(
            out.contains(r#"palisade_reasons_total{code="CVE-2026-00000"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"palisade_registry_errors_total{registry="other",kind="http"} 50"#),
            "{out}"
        );
    }

    #[test]
    fn label_values_are_cut_and_escaped() {
        let m = Metrics::new();
        m.reason(&"é".repeat(100));
        m.reason("quote\"back\\slash\nnewline");
        let out = m.render();
        let expected = format!(r#"palisade_reasons_total{{code="{}"}} 1"#, "é".repeat(64));
        assert!(out.contains(&expected), "{out}");
        assert!(
            out.contains(r#"code="quote\"back\\slash\nnewline""#),
            "{out}"
        );
    }

    #[tokio::test]
    async fn the_route_answers_with_the_openmetrics_content_type() {
        use tower::ServiceExt as _;
        let m = Arc::new(Metrics::new());
        m.budget_exceeded();
        let app: axum::Router = axum::Router::new().route("/metrics", metrics_route(m));
        let response = app
            .oneshot(
                axum::http::Request::get("/metrics")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .contains("palisade_budget_exceeded_total 1")
        );
    }
}
