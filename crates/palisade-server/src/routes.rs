//! The admission routes of `palisade serve` (the probes and metrics are `http::ops_router`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::admission::Admission;
use crate::wire::admission::{MAX_REVIEW_BYTES, decode_review, respond};

/// `/k8s/validate` and `/k8s/mutate`.
pub fn admission(handler: Arc<Admission>) -> Router {
    Router::new()
        .route("/k8s/validate", post(validate))
        .route("/k8s/mutate", post(mutate))
        .with_state(handler)
}

async fn validate(Extract(h): Extract<Arc<Admission>>, body: Body) -> Response {
    review(&h, body, false).await
}

async fn mutate(Extract(h): Extract<Arc<Admission>>, body: Body) -> Response {
    review(&h, body, true).await
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("palisade: {message}\n"),
    )
        .into_response()
}

async fn review(h: &Admission, body: Body, mutate: bool) -> Response {
    let arrived = Instant::now();
    let Some(bytes) = read_capped(body, MAX_REVIEW_BYTES).await else {
        return bad_request(&format!(
            "the body could not be read or is larger than {} MiB",
            MAX_REVIEW_BYTES >> 20
        ));
    };
    let review = match decode_review(&bytes) {
        Ok(r) => r,
        Err(e) => return bad_request(&e.0),
    };
    let Some(request) = review.request.as_ref() else {
        return bad_request("the review has no request");
    };
    let response = h.review(request, mutate, arrived).await;
    axum::Json(respond(response)).into_response()
}

/// Reads a body of at most `max` bytes; `None` when it is larger or cannot be read. A body
/// over the cap is read on (and dropped) up to four times the cap, so that the client, still
/// sending, gets the 400 that follows instead of a connection reset; past that the connection
/// is dropped.
pub(crate) async fn read_capped(body: Body, max: usize) -> Option<axum::body::Bytes> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > max.saturating_mul(4) {
            return None;
        }
        if seen <= max {
            kept.extend_from_slice(&data);
        }
    }
    (seen <= max).then(|| axum::body::Bytes::from(kept))
}

/// Reads and drops a body the server will not use (a request refused before its body was
/// read), up to `max` bytes and for at most five seconds: a client still sending then gets
/// the refusal instead of a broken pipe. Nothing is kept.
pub(crate) async fn drain(body: Body, max: usize) {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len());
                if seen > max {
                    break;
                }
            }
        }
    })
    .await;
}

/// What the agent API needs.
pub struct AgentApi {
    /// The policy in force (its bundle).
    pub state: Arc<crate::state::State>,
    /// The hosts' reports.
    pub hosts: Arc<crate::hosts::Hosts>,
    /// Accepted bearer tokens.
    pub tokens: Vec<String>,
    /// The store, when the server has one: reports are kept there too.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
}

impl AgentApi {
    fn authorised(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        crate::api::token_matches(&self.tokens, given)
    }
}

/// `GET /v1/policy` (the bundle, with `ETag`; `If-None-Match` gives 304), `GET /v1/hosts` and
/// `POST /v1/hosts/{host}/report`, all with a bearer token.
pub fn agents(api: Arc<AgentApi>) -> Router {
    use axum::extract::Path as UrlPath;
    use axum::http::HeaderMap;
    Router::new()
        .route(
            "/v1/policy",
            axum::routing::get(
                |Extract(api): Extract<Arc<AgentApi>>, headers: HeaderMap| async move {
                    if !api.authorised(&headers) {
                        return unauthorised();
                    }
                    let Some(loaded) = api.state.current() else {
                        return (StatusCode::SERVICE_UNAVAILABLE, "no policy is loaded\n")
                            .into_response();
                    };
                    match &loaded.bundle {
                        Err(why) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("the policy cannot be distributed: {why}\n"),
                        )
                            .into_response(),
                        Ok(b) => {
                            let etag = format!("\"{}\"", b.digest);
                            if headers
                                .get(header::IF_NONE_MATCH)
                                .and_then(|v| v.to_str().ok())
                                == Some(etag.as_str())
                            {
                                return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)])
                                    .into_response();
                            }
                            (
                                [
                                    (header::ETAG, etag),
                                    (header::CONTENT_TYPE, "application/json".to_owned()),
                                ],
                                b.to_json(),
                            )
                                .into_response()
                        }
                    }
                },
            ),
        )
        .route(
            "/v1/hosts",
            axum::routing::get(
                |Extract(api): Extract<Arc<AgentApi>>, headers: HeaderMap| async move {
                    if !api.authorised(&headers) {
                        return unauthorised();
                    }
                    let digest = api
                        .state
                        .current()
                        .and_then(|l| l.bundle.as_ref().ok().map(|b| b.digest.clone()));
                    axum::Json(api.hosts.list(digest.as_deref())).into_response()
                },
            ),
        )
        .route(
            "/v1/hosts/{host}/report",
            post(
                |Extract(api): Extract<Arc<AgentApi>>,
                 UrlPath(host): UrlPath<String>,
                 headers: HeaderMap,
                 body: Body| async move {
                    if !api.authorised(&headers) {
                        return unauthorised();
                    }
                    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
                        return bad_request("the report is larger than 64 KiB");
                    };
                    let report: crate::hosts::Report = match serde_json::from_slice(&bytes) {
                        Ok(r) => r,
                        Err(e) => return bad_request(&format!("not a host report: {e}")),
                    };
                    let stored = report.clone();
                    match api.hosts.report(&host, report) {
                        Ok(()) => {
                            if let Some(fleet) = &api.fleet {
                                let fleet = Arc::clone(fleet);
                                let row = palisade_store::HostReport {
                                    name: host.clone(),
                                    passed: stored.host_passed.unwrap_or(0) as i64,
                                    failed: stored.host_failing.len() as i64,
                                    compliant: stored.host_failing.is_empty(),
                                    report: serde_json::to_value(&stored).unwrap_or_default(),
                                };
                                let saved =
                                    tokio::task::spawn_blocking(move || fleet.store.put_host(&row))
                                        .await;
                                if !matches!(saved, Ok(Ok(()))) {
                                    return (
                                        StatusCode::SERVICE_UNAVAILABLE,
                                        "the report could not be stored; send it again\n",
                                    )
                                        .into_response();
                                }
                            }
                            StatusCode::NO_CONTENT.into_response()
                        }
                        Err(e) => bad_request(&e),
                    }
                },
            ),
        )
        .with_state(api)
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "palisade: a valid bearer token is required\n",
    )
        .into_response()
}
