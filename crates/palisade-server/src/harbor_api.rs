//! The Harbor pluggable scanner adapter, served under `/harbor`: Harbor registers the
//! scanner with the endpoint `https://palisade.example/harbor` and calls
//! `/harbor/api/v1/metadata`, `/harbor/api/v1/scan` and `/harbor/api/v1/scan/{id}/report`.
//! The wire format is [`crate::harbor`]; this module queues each scan request as a `harbor`
//! job (any replica runs it; the registry credential Harbor sends is kept only until the job
//! ends) and answers the report from the job's result.
//!
//! Harbor authenticates with a bearer token of the store with the `admin` role (the scanner
//! registration's "Bearer" authorization).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use palisade_store::Role;
use serde::Deserialize;

use crate::fleet::Fleet;
use crate::harbor::{self, HarborError, ReportKind, SbomMediaType, ScanRequest};

/// The job kind of a Harbor scan.
pub const KIND: &str = "harbor";

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, harbor::ERROR)],
        harbor::error_body(message).to_string(),
    )
        .into_response()
}

fn harbor_error(e: &HarborError) -> Response {
    (
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, harbor::ERROR)],
        e.body().to_string(),
    )
        .into_response()
}

#[allow(clippy::result_large_err)] // an axum response, answered at once
async fn authorised(fleet: &Arc<Fleet>, headers: &HeaderMap) -> Result<(), Response> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned());
    let Some(secret) = secret else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "a bearer token with the admin role is required (palisade store token create --role admin)",
        ));
    };
    let store = Arc::clone(&fleet.store);
    match tokio::task::spawn_blocking(move || store.token(&secret)).await {
        Ok(Ok(Some(t))) if t.role >= Role::Admin => Ok(()),
        Ok(Ok(Some(_))) => Err(error(
            StatusCode::FORBIDDEN,
            "the token's role is read; Harbor's scans need admin",
        )),
        Ok(Ok(None)) => Err(error(StatusCode::UNAUTHORIZED, "unknown or revoked token")),
        _ => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store could not be read",
        )),
    }
}

/// The routes under `/harbor/api/v1`.
pub fn routes(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/harbor/api/v1/metadata", get(metadata))
        .route("/harbor/api/v1/scan", post(scan))
        .route("/harbor/api/v1/scan/{id}/report", get(report))
        .with_state(fleet)
}

async fn metadata(Extract(fleet): Extract<Arc<Fleet>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&fleet, &headers).await {
        return r;
    }
    let db_updated = fleet.state.current().and_then(|l| {
        let path = l.db_path.clone()?;
        let db = palisade_vulndb::Database::open_read_only(&path).ok()?;
        db.status().ok()?.built.map(|t| t.to_string())
    });
    // Harbor asks for version=1.0 and reads the capabilities either way: the SBOM
    // capability is offered in both (as harbor-scanner-trivy does), so Harbor 2.11+ can
    // generate SBOMs with Palisade.
    let _ = harbor::metadata_version_1_2(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let (content_type, body) =
        harbor::metadata(true, harbor::SCANNER_VERSION, db_updated.as_deref());
    let content_type = if headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("version=1.0") && !a.contains("version=1.1"))
    {
        harbor::METADATA_V1_0
    } else {
        content_type
    };
    ([(header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
}

async fn scan(Extract(fleet): Extract<Arc<Fleet>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = authorised(&fleet, &headers).await {
        return r;
    }
    if let Some(t) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !harbor::is_scan_request_type(t))
    {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Content-Type {t:?}: expected {} or {}",
                harbor::SCAN_REQUEST_V1_1,
                harbor::SCAN_REQUEST_V1_0
            ),
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, harbor::MAX_BODY_BYTES + 1).await else {
        return error(
            StatusCode::BAD_REQUEST,
            "the scan request is larger than 64 KiB",
        );
    };
    let request = match harbor::parse_scan_request(&bytes) {
        Ok(r) => r,
        Err(e) => return harbor_error(&e),
    };
    let id = match random_id() {
        Ok(id) => id,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let payload = serde_json::json!({
        "id": id,
        "request": serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
    })
    .to_string();
    let store = Arc::clone(&fleet.store);
    let key = id.clone();
    let _ = request;
    match tokio::task::spawn_blocking(move || store.enqueue(KIND, &key, &payload)).await {
        Ok(Ok(_)) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, harbor::SCAN_RESPONSE)],
            harbor::scan_response(&id).to_string(),
        )
            .into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the scan could not be queued (the store is unavailable)",
        ),
    }
}

fn random_id() -> Result<String, String> {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    // A UUID v4 layout, as Harbor's own adapters hand out.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    sbom_media_type: Option<String>,
}

async fn report(
    Extract(fleet): Extract<Arc<Fleet>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<ReportQuery>,
) -> Response {
    if let Err(r) = authorised(&fleet, &headers).await {
        return r;
    }
    let kind = match harbor::negotiate_report(
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
        q.sbom_media_type.as_deref(),
    ) {
        Ok(k) => k,
        Err(e) => return harbor_error(&e),
    };
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return StatusCode::NOT_FOUND.into_response();
    }
    let store = Arc::clone(&fleet.store);
    let job = match tokio::task::spawn_blocking(move || store.job_by_key(KIND, &id)).await {
        Ok(Ok(j)) => j,
        _ => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store could not be read",
            );
        }
    };
    let Some(job) = job else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match job.state {
        palisade_store::JobState::Queued | palisade_store::JobState::Running => (
            StatusCode::FOUND,
            [(
                harbor::REFRESH_AFTER_HEADER,
                harbor::DEFAULT_REFRESH_AFTER_SECS.to_string(),
            )],
        )
            .into_response(),
        palisade_store::JobState::Failed => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the scan failed: {}", job.error.unwrap_or_default()),
        ),
        palisade_store::JobState::Done => {
            let result: serde_json::Value = job
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            if let Some(e) = result.get("error").and_then(serde_json::Value::as_str) {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("the scan failed: {e}"),
                );
            }
            let body = match kind {
                ReportKind::Vulnerability(_) => result.get("vulnerability").cloned(),
                ReportKind::Sbom(SbomMediaType::Spdx) => result.get("spdx").cloned(),
                ReportKind::Sbom(SbomMediaType::CycloneDx) => result.get("cyclonedx").cloned(),
            };
            match body {
                Some(b) if !b.is_null() => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, kind.content_type())],
                    b.to_string(),
                )
                    .into_response(),
                _ => error(
                    StatusCode::NOT_IMPLEMENTED,
                    "this scan did not produce that report (ask for it in enabled_capabilities)",
                ),
            }
        }
    }
}

/// Runs one Harbor scan job: reads the artifact from Harbor's registry with the credential
/// Harbor sent, scans it with the server's database, and keeps the vulnerability report and
/// the SBOM reports it asked for as the job's result.
///
/// # Errors
/// The request is damaged, the registry refused, or the scan failed.
pub fn run(fleet: &Fleet, job: &palisade_store::Job) -> Result<serde_json::Value, String> {
    match run_scan(fleet, job) {
        Ok(v) => Ok(v),
        // What retrying cannot fix ends the job now, and the report says why.
        Err(Failure::Final(message)) => Ok(serde_json::json!({ "error": message })),
        Err(Failure::Retry(message)) => Err(message),
    }
}

enum Failure {
    /// Worth another try (the registry or the store was unavailable).
    Retry(String),
    /// The request itself is wrong.
    Final(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Retry(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::Retry(s.to_owned())
    }
}

fn run_scan(fleet: &Fleet, job: &palisade_store::Job) -> Result<serde_json::Value, Failure> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| format!("job payload: {e}"))?;
    let request: ScanRequest =
        harbor::parse_scan_request(payload["request"].to_string().as_bytes())
            .map_err(|e| e.to_string())?;
    let loaded = fleet
        .state
        .current()
        .ok_or("no policy is loaded: the server cannot scan yet")?;
    let db_path = loaded
        .db_path
        .clone()
        .ok_or("the server has no vulnerability database (set `db:`)")?;
    let host = request
        .registry
        .url
        .split_once("://")
        .map_or(request.registry.url.as_str(), |(_, h)| h)
        .trim_end_matches('/')
        .to_owned();
    let mut options = fleet.options.clone();
    if let Some(auth) = request.registry.authorization.as_deref() {
        match auth.split_once(' ') {
            Some((scheme, value)) if scheme.eq_ignore_ascii_case("basic") => {
                use base64::Engine as _;
                let fail = |m: &str| Failure::Final(format!("registry.authorization: {m}"));
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|_| fail("Basic credentials that are not base64"))?;
                let text = String::from_utf8(decoded)
                    .map_err(|_| fail("Basic credentials that are not UTF-8"))?;
                let (user, password) = text
                    .split_once(':')
                    .ok_or_else(|| fail("Basic credentials without a colon"))?;
                options.credentials = Some((user.to_owned(), password.to_owned()));
            }
            _ => {
                return Err(Failure::Final(
                    "registry.authorization: only Basic credentials are supported (Harbor's robot accounts send them)"
                        .to_owned(),
                ));
            }
        }
    }
    if request.registry.url.starts_with("http://") && !options.insecure_registries.contains(&host) {
        options.insecure_registries.push(host.clone());
    }
    options.no_cache = false;
    let source = format!(
        "registry:{host}/{}@{}",
        request.artifact.repository, request.artifact.digest
    );
    let image = palisade_scan::open_image(&source, &options).map_err(|e| e.to_string())?;
    let vulndb = palisade_scan::VulnDb::new(db_path);
    let scanner = palisade_scan::Scanner::new(&vulndb, &options, &palisade_scan::Silent);
    let (catalog, evaluated) = scanner.scan_image(&image).map_err(|e| e.to_string())?;
    let report = palisade_scan::Report::new(
        &catalog,
        evaluated,
        &palisade_scan::Filters::default(),
        palisade_scan::IgnoreList::default(),
        &palisade_scan::VexSet::default(),
    );
    let texts = palisade_scan::advisory_texts(
        vulndb.database().map_err(|e| e.to_string())?,
        &report.findings,
    )
    .map_err(|e| e.to_string())?;
    let generated_at = palisade_gate::now_utc();
    let mut result = serde_json::Map::new();
    if request.wants(harbor::CapabilityType::Vulnerability) {
        result.insert(
            "vulnerability".into(),
            harbor::vulnerability_report(&report, &request.artifact, &generated_at, &texts),
        );
    }
    if request.wants(harbor::CapabilityType::Sbom) {
        for t in request.sbom_media_types() {
            let key = match t {
                SbomMediaType::Spdx => "spdx",
                SbomMediaType::CycloneDx => "cyclonedx",
            };
            result.insert(
                key.into(),
                harbor::sbom_report(&catalog, t, &request.artifact, &generated_at),
            );
        }
    }
    result.insert("findings".into(), report.findings.len().into());
    Ok(serde_json::Value::Object(result))
}
