//! The JSON API under `/api/v1` (documented by the OpenAPI document it serves at
//! `/api/v1/openapi.json`), and the registry's `POST /registry/events`.
//!
//! Every `/api/v1` route but the OpenAPI document takes a bearer token from the store
//! (`palisade serve token create`): `read` sees everything but secrets, `admin` may also
//! queue scans. The registry route takes the tokens of `registry_events.tokens_file`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use palisade_store::{EventFilter, ImageFilter, Role, Sort};
use serde::Deserialize;

use crate::fleet::{Fleet, ImageName, kind};

/// The OpenAPI 3.0 document of `/api/v1`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the API routes need.
pub struct Api {
    /// The fleet (store, policy, registries).
    pub fleet: Arc<Fleet>,
    /// Registry notifications: the header and the accepted tokens; `None`: the route is off.
    pub registry_events: Option<RegistryAuth>,
}

/// How the registry authenticates its notifications.
pub struct RegistryAuth {
    /// The header name.
    pub header: String,
    /// Accepted tokens.
    pub tokens: Vec<String>,
    /// The registry host to use instead of the events' own.
    pub registry: Option<String>,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"message": message}})),
    )
        .into_response()
}

/// Compares without an early exit, so the time does not say how much matched.
#[must_use]
pub fn token_matches(tokens: &[String], given: &str) -> bool {
    tokens.iter().fold(false, |found, t| {
        let same = t.len() == given.len()
            && t.bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        found | same
    })
}

#[allow(clippy::result_large_err)] // an axum response, answered at once
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(json_error(StatusCode::SERVICE_UNAVAILABLE, &e)),
        Err(_) => Err(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed (a bug: please report it)",
        )),
    }
}

impl Api {
    #[allow(clippy::result_large_err)] // an axum response, answered at once
    async fn role(&self, headers: &HeaderMap, needed: Role) -> Result<Role, Response> {
        let Some(secret) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_owned)
        else {
            return Err(unauthorised());
        };
        let store = Arc::clone(&self.fleet.store);
        let token = blocking(move || store.token(&secret).map_err(|e| e.to_string())).await?;
        match token {
            None => Err(unauthorised()),
            Some(t) if t.role < needed => Err(json_error(
                StatusCode::FORBIDDEN,
                &format!(
                    "token {:?} has the {} role; this needs {}",
                    t.name,
                    t.role.as_str(),
                    needed.as_str()
                ),
            )),
            Some(t) => Ok(t.role),
        }
    }
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({"error": {"message":
            "a valid bearer token is required (palisade store token create --name NAME)"}})),
    )
        .into_response()
}

/// `GET /api/v1/images` query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesQuery {
    q: Option<String>,
    repository: Option<String>,
    verdict: Option<String>,
    environment: Option<String>,
    severity: Option<String>,
    kev: Option<bool>,
    fixable: Option<bool>,
    running: Option<bool>,
    sort: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<i64>,
    kind: Option<String>,
    digest: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SbomQuery {
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetQuery {
    running: Option<bool>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    reference: String,
}

#[allow(clippy::result_large_err)] // an axum response, answered at once
fn query<T: serde::de::DeserializeOwned + Default>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, Response> {
    q.map(|Query(v)| v)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, &e.body_text()))
}

/// The routes: `/api/v1/*` and, when configured, `/registry/events`.
pub fn routes(api: Arc<Api>) -> Router {
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/api/v1/status", get(status))
        .route("/api/v1/images", get(images))
        .route("/api/v1/images/{digest}", get(image))
        .route("/api/v1/images/{digest}/sbom", get(sbom))
        .route("/api/v1/vulnerabilities/{id}", get(vulnerability))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/stream", get(stream))
        .route("/api/v1/hosts", get(hosts))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/scans", post(scan))
        .route("/api/v1/catalogs", post(catalog))
        .route("/registry/events", post(registry_events))
        .with_state(api)
}

async fn status(Extract(api): Extract<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let fleet = Arc::clone(&api.fleet);
    match blocking(move || {
        let s = fleet.store.status().map_err(|e| e.to_string())?;
        let jobs = fleet.store.job_counts().map_err(|e| e.to_string())?;
        let loaded = fleet.state.current();
        Ok(serde_json::json!({
            "store": s,
            "jobs": jobs,
            "policy": loaded.as_ref().map(|l| l.policy_id.clone()),
            "db": fleet.store.meta("vulndb.identity").map_err(|e| e.to_string())?,
            "decided_with_policy": fleet.store.meta("policy.id").map_err(|e| e.to_string())?,
        }))
    })
    .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

async fn images(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    q: Result<Query<ImagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let sort = match q.sort.as_deref() {
        None | Some("newest") => Sort::Newest,
        Some("severity") => Sort::Severity,
        Some("digest") => Sort::Digest,
        Some(other) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("sort {other:?}: expected newest, severity or digest"),
            );
        }
    };
    if let Some(s) = &q.severity
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "critical" | "high" | "medium" | "low" | "negligible" | "unknown"
        )
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("severity {s:?}: expected critical, high, medium, low, negligible or unknown"),
        );
    }
    if let Some(v) = &q.verdict
        && !matches!(v.as_str(), "allow" | "warn" | "deny")
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("verdict {v:?}: expected allow, warn or deny"),
        );
    }
    let filter = ImageFilter {
        search: q.q,
        repository: q.repository,
        verdict: q.verdict,
        environment: q.environment,
        min_severity: q.severity,
        kev: q.kev.unwrap_or(false),
        fixable: q.fixable.unwrap_or(false),
        running: q.running,
        sort,
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(50),
    };
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || store.list_images(&filter).map_err(|e| e.to_string())).await {
        Ok((items, total)) => {
            axum::Json(serde_json::json!({"total": total, "items": items})).into_response()
        }
        Err(r) => r,
    }
}

async fn image(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    UrlPath(digest): UrlPath<String>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    if !crate::registry::is_sha256_digest(&digest) {
        return json_error(StatusCode::BAD_REQUEST, "expected sha256:<64 hex digits>");
    }
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || store.image(&digest).map_err(|e| e.to_string())).await {
        Ok(Some(d)) => axum::Json(d).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such image in the store"),
        Err(r) => r,
    }
}

async fn sbom(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    UrlPath(digest): UrlPath<String>,
    q: Result<Query<SbomQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let format = q.format.unwrap_or_else(|| "cyclonedx".to_owned());
    if !matches!(format.as_str(), "cyclonedx" | "spdx") {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("format {format:?}: expected cyclonedx or spdx"),
        );
    }
    if !crate::registry::is_sha256_digest(&digest) {
        return json_error(StatusCode::BAD_REQUEST, "expected sha256:<64 hex digits>");
    }
    let store = Arc::clone(&api.fleet.store);
    let spdx = format == "spdx";
    match blocking(move || sbom_document(&store, &digest, spdx)).await {
        Ok(Some(doc)) => (
            [(
                header::CONTENT_TYPE,
                if spdx {
                    "application/spdx+json"
                } else {
                    "application/vnd.cyclonedx+json"
                },
            )],
            doc.to_string(),
        )
            .into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no analysed image with that digest"),
        Err(r) => r,
    }
}

/// An analysed image's SBOM, CycloneDX or SPDX, from its stored catalog; `None`: not analysed.
///
/// # Errors
/// The store cannot be read or holds a damaged catalog.
pub fn sbom_document(
    store: &palisade_store::Store,
    digest: &str,
    spdx: bool,
) -> Result<Option<serde_json::Value>, String> {
    let Some((catalog, facts)) = store.image_data(digest).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let catalog: palisade_catalog::Catalog =
        serde_json::from_slice(&catalog).map_err(|e| format!("stored catalog: {e}"))?;
    let created = serde_json::from_slice::<crate::fleet::Facts>(&facts)
        .ok()
        .and_then(|f| {
            f.inputs
                .values()
                .next()
                .and_then(|i| i.image.created.clone())
        });
    Ok(Some(if spdx {
        palisade_catalog::to_spdx(
            &catalog,
            &palisade_catalog::spdx_created(created.as_deref()),
        )
    } else {
        palisade_catalog::to_cyclonedx(&catalog)
    }))
}

async fn vulnerability(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    q: Result<Query<FleetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if id.is_empty() || id.len() > 128 {
        return json_error(
            StatusCode::BAD_REQUEST,
            "an advisory id is 1 to 128 characters",
        );
    }
    let store = Arc::clone(&api.fleet.store);
    let running = q.running.unwrap_or(false);
    let limit = q.limit.unwrap_or(1000);
    match blocking(move || {
        store
            .fleet(&id, running, limit)
            .map(|hits| serde_json::json!({"id": id, "images": hits}))
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

fn event_filter(q: EventsQuery) -> EventFilter {
    EventFilter {
        after: q.after.unwrap_or(0),
        kinds: q
            .kind
            .map(|k| k.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        digest: q.digest,
        limit: q.limit.unwrap_or(100),
    }
}

async fn events(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let filter = match query(q) {
        Ok(q) => event_filter(q),
        Err(r) => return r,
    };
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || store.events(&filter).map_err(|e| e.to_string())).await {
        Ok(v) => axum::Json(serde_json::json!({"events": v})).into_response(),
        Err(r) => r,
    }
}

/// Server-sent events: every new event as it is stored (polled once a second), resuming
/// after `Last-Event-ID` or `?after=`.
async fn stream(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let (mut filter, from_now) = match query(q) {
        Ok(q) => {
            let from_now = q.after.is_none();
            (event_filter(q), from_now)
        }
        Err(r) => return r,
    };
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        filter.after = last;
    }
    if from_now && !headers.contains_key("last-event-id") {
        // Without a starting point: from now on.
        let store = Arc::clone(&api.fleet.store);
        match blocking(move || store.last_event_id().map_err(|e| e.to_string())).await {
            Ok(id) => filter.after = id,
            Err(r) => return r,
        }
    }
    let store = Arc::clone(&api.fleet.store);
    let events = futures_util::stream::unfold(
        (store, filter, std::collections::VecDeque::new()),
        |(store, mut filter, mut pending)| async move {
            loop {
                if let Some(e) = pending.pop_front() {
                    let e: palisade_store::Event = e;
                    let event = Event::default()
                        .id(e.id.to_string())
                        .event(e.kind.clone())
                        .json_data(&e)
                        .unwrap_or_else(|_| Event::default().comment("unencodable event"));
                    return Some((
                        Ok::<_, std::convert::Infallible>(event),
                        (store, filter, pending),
                    ));
                }
                let s = Arc::clone(&store);
                let f = filter.clone();
                match tokio::task::spawn_blocking(move || s.events(&f)).await {
                    Ok(Ok(found)) if !found.is_empty() => {
                        filter.after = found.last().map_or(filter.after, |e| e.id);
                        pending.extend(found);
                    }
                    _ => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

async fn hosts(Extract(api): Extract<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || store.hosts().map_err(|e| e.to_string())).await {
        Ok(v) => axum::Json(serde_json::json!({"hosts": v})).into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsQuery {
    kind: Option<String>,
    limit: Option<i64>,
}

async fn jobs(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    q: Result<Query<JobsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || {
        let counts = store.job_counts().map_err(|e| e.to_string())?;
        let list = store
            .jobs(q.kind.as_deref(), q.limit.unwrap_or(50).clamp(1, 500))
            .map_err(|e| e.to_string())?;
        Ok(serde_json::json!({"counts": counts, "jobs": list.into_iter().map(redact_job).collect::<Vec<_>>()}))
    })
    .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

/// A job as the API shows it: payloads may hold registry credentials (Harbor's), never shown.
fn redact_job(mut j: palisade_store::Job) -> palisade_store::Job {
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&j.payload) {
        if let Some(o) = v.as_object_mut() {
            o.remove("authorization");
        }
        if let Some(o) = v
            .pointer_mut("/request/registry")
            .and_then(serde_json::Value::as_object_mut)
        {
            o.remove("authorization");
        }
        j.payload = v.to_string();
    }
    j
}

async fn job(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    if let Err(r) = api.role(&headers, Role::Read).await {
        return r;
    }
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || store.job(id).map_err(|e| e.to_string())).await {
        Ok(Some(j)) => axum::Json(redact_job(j)).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such job"),
        Err(r) => r,
    }
}

/// `POST /api/v1/scans {"reference": "registry/repo:tag"}`: resolves the tag and queues the
/// analysis; 202 with the job.
async fn scan(Extract(api): Extract<Arc<Api>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = api.role(&headers, Role::Admin).await {
        crate::routes::drain(body, 16 << 10).await;
        return r;
    }
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 10).await else {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 16 KiB",
        );
    };
    let req: ScanBody = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"reference\": \"registry/repository:tag\"}}: {e}"),
            );
        }
    };
    let reference: palisade_image::Reference = match req.reference.parse() {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("{:?} is not an image reference: {e}", req.reference),
            );
        }
    };
    let fleet = Arc::clone(&api.fleet);
    match blocking(move || {
        let digest = match reference.digest() {
            Some(d) => d.to_string(),
            None => palisade_gate::resolve(&reference, &fleet.options)
                .map_err(|e| e.to_string())?
                .to_string(),
        };
        let name = ImageName {
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
            tag: reference.tag().unwrap_or_default().to_owned(),
            digest,
            reason: "api".to_owned(),
        };
        let job = fleet
            .store
            .enqueue(
                kind::VERIFY,
                &name.key(),
                &serde_json::to_string(&name).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
        Ok(serde_json::json!({"job": job.id(), "image": name}))
    })
    .await
    {
        Ok(v) => (StatusCode::ACCEPTED, axum::Json(v)).into_response(),
        Err(r) => r,
    }
}

async fn registry_events(
    Extract(api): Extract<Arc<Api>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(auth) = &api.registry_events else {
        return json_error(
            StatusCode::NOT_FOUND,
            "registry notifications are not configured (registry_events: in the server's config)",
        );
    };
    let given = headers
        .get(auth.header.as_str())
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            if auth.header.eq_ignore_ascii_case("authorization") {
                v.strip_prefix("Bearer ").unwrap_or("")
            } else {
                v
            }
        })
        .unwrap_or("");
    if !token_matches(&auth.tokens, given.trim()) {
        crate::routes::drain(body, crate::registry::MAX_ENVELOPE_BYTES).await;
        return unauthorised();
    }
    let Ok(bytes) = axum::body::to_bytes(body, crate::registry::MAX_ENVELOPE_BYTES).await else {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the envelope is larger than 1 MiB",
        );
    };
    let (work, queued) = match crate::registry::plan(&bytes, auth.registry.as_deref()) {
        Ok(p) => p,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let store = Arc::clone(&api.fleet.store);
    match blocking(move || {
        for (kind, name) in &work {
            store
                .enqueue(
                    kind,
                    &name.key(),
                    &serde_json::to_string(name).map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await
    {
        Ok(()) => axum::Json(queued).into_response(),
        Err(r) => r,
    }
}

/// The largest catalog accepted from `palisade scan --server`.
pub const MAX_CATALOG_BYTES: usize = 32 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogBody {
    /// `registry/repository[:tag]`.
    name: String,
    /// The manifest digest.
    digest: String,
    /// The catalog (Palisade's own JSON, `palisade sbom --format json`).
    catalog: palisade_catalog::Catalog,
}

/// `POST /api/v1/catalogs`: a catalog made in CI (admin), matched and decided here.
async fn catalog(Extract(api): Extract<Arc<Api>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = api.role(&headers, Role::Admin).await {
        // `palisade scan --server` is still sending the catalog: read it to the end (bounded)
        // so that it gets the 401 rather than a broken pipe.
        crate::routes::drain(body, MAX_CATALOG_BYTES).await;
        return r;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CATALOG_BYTES).await else {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 32 MiB",
        );
    };
    let req: CatalogBody = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"name\", \"digest\", \"catalog\"}}: {e}"),
            );
        }
    };
    if !crate::registry::is_sha256_digest(&req.digest) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "digest: expected sha256:<64 hex digits>",
        );
    }
    if req.catalog.packages.len() > palisade_catalog::MAX_SBOM_COMPONENTS {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "more than {} packages",
                palisade_catalog::MAX_SBOM_COMPONENTS
            ),
        );
    }
    let reference: palisade_image::Reference = match req.name.parse() {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("name {:?} is not an image reference: {e}", req.name),
            );
        }
    };
    let name = ImageName {
        registry: reference.registry().to_owned(),
        repository: reference.repository().to_owned(),
        tag: reference.tag().unwrap_or_default().to_owned(),
        digest: req.digest,
        reason: "ci".to_owned(),
    };
    let fleet = Arc::clone(&api.fleet);
    let catalog = req.catalog;
    match blocking(move || fleet.record_catalog(&name, &catalog)).await {
        Ok(done) => axum::Json(done).into_response(),
        Err(r) => r,
    }
}
