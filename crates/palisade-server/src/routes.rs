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
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REVIEW_BYTES).await else {
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
