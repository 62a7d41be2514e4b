//! The wire format of Harbor's pluggable scanner adapter API (goharbor/pluggable-scanner-spec,
//! spec v1.1 and v1.2): the scan request Harbor posts, the media types of every body, the
//! choice of report from an `Accept` header, the metadata document, and the vulnerability and
//! SBOM reports built from a Palisade scan.
//!
//! Pure and synchronous: no HTTP framework, no job queue, no I/O. The routes
//! (`GET /api/v1/metadata`, `POST /api/v1/scan`, `GET /api/v1/scan/{id}/report`) call these
//! functions and send what they return with the content type they name.
//!
//! Statuses, as the spec lists them: a scan request that is not JSON, has a value of the wrong
//! JSON type or is larger than [`MAX_BODY_BYTES`] is 400; one with a missing or invalid field
//! is 422; one asking for an artifact or report type this scanner does not handle is 501. A
//! report request for an SBOM without a valid `sbom_media_type` is 400; one for a report type
//! this scanner does not produce is 501 (the spec has no 406). Every error body is
//! [`error_body`] sent as [`ERROR`].

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use palisade_scan::{AdvisoryText, Finding, Report, Severity};
use palisade_version::Scheme;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Scanner metadata, spec v1.1 (the only metadata type it defines) and v1.2's older form.
pub const METADATA_V1_0: &str = "application/vnd.scanner.adapter.metadata+json; version=1.0";
/// Scanner metadata, spec v1.2 (with the `sbom` capability).
pub const METADATA_V1_1: &str = "application/vnd.scanner.adapter.metadata+json; version=1.1";
/// A scan request, spec v1.1 and v1.2.
pub const SCAN_REQUEST_V1_0: &str =
    "application/vnd.scanner.adapter.scan.request+json; version=1.0";
/// A scan request, spec v1.2 (with `enabled_capabilities`).
pub const SCAN_REQUEST_V1_1: &str =
    "application/vnd.scanner.adapter.scan.request+json; version=1.1";
/// The answer to an accepted scan request (`{"id": …}`).
pub const SCAN_RESPONSE: &str = "application/vnd.scanner.adapter.scan.response+json; version=1.0";
/// Every error body ([`error_body`]).
pub const ERROR: &str = "application/vnd.scanner.adapter.error+json; version=1.0";
/// The Harbor vulnerability report, first form.
pub const VULN_REPORT_HARBOR: &str =
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
/// The Harbor vulnerability report, second form (same schema; what Harbor asks for today).
pub const VULN_REPORT_SECURITY: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// A scanner's own raw report: not produced by Palisade (asking for it is 501).
pub const VULN_REPORT_RAW: &str = "application/vnd.scanner.adapter.vuln.report.raw";
/// The Harbor SBOM report, spec v1.2.
pub const SBOM_REPORT: &str = "application/vnd.security.sbom.report+json; version=1.0";
/// SPDX JSON, an `sbom_media_type`.
pub const SPDX_JSON: &str = "application/spdx+json";
/// CycloneDX JSON, an `sbom_media_type`.
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
/// An OCI image manifest: an artifact type this scanner consumes.
pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker schema 2 image manifest: an artifact type this scanner consumes.
pub const DOCKER_IMAGE_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The header of a 302 "report not ready" answer: seconds until Harbor asks again.
pub const REFRESH_AFTER_HEADER: &str = "Refresh-After";
/// A [`REFRESH_AFTER_HEADER`] value. Harbor reads the header as an 8-bit integer (values above
/// 127 are dropped and it waits 5 s), so keep it small.
pub const DEFAULT_REFRESH_AFTER_SECS: u8 = 5;

/// The largest scan request body accepted (larger: 400).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest string (or object key) accepted anywhere in a scan request (longer: 422).
pub const MAX_STRING_BYTES: usize = 4 * 1024;
/// `scanner.name` and `scanner.vendor` in every document.
pub const SCANNER_NAME: &str = "Palisade";
/// The version reports name in `scanner.version`; pass it to [`metadata`] too.
pub const SCANNER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a request cannot be answered, with the status the spec gives it. Send
/// [`HarborError::body`] with [`HarborError::status`] as [`ERROR`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HarborError {
    /// Not JSON, a value of the wrong JSON type, or a body too large: 400.
    #[error("{0}")]
    Malformed(String),
    /// A missing or invalid field: 422.
    #[error("{0}")]
    Invalid(String),
    /// A report request that cannot be read (an SBOM without a valid `sbom_media_type`): 400.
    #[error("{0}")]
    BadReportRequest(String),
    /// An artifact, capability or report type this scanner does not handle: 501.
    #[error("{0}")]
    Unsupported(String),
}

impl HarborError {
    /// The HTTP status: 400, 422 or 501.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            HarborError::Malformed(_) | HarborError::BadReportRequest(_) => 400,
            HarborError::Invalid(_) => 422,
            HarborError::Unsupported(_) => 501,
        }
    }

    /// The error document ([`error_body`] of the message).
    #[must_use]
    pub fn body(&self) -> Value {
        error_body(&self.to_string())
    }
}

/// `{"error": {"message": …}}`, sent as [`ERROR`].
#[must_use]
pub fn error_body(message: &str) -> Value {
    json!({ "error": { "message": message } })
}

/// `{"id": …}`, the 202 answer to a scan request, sent as [`SCAN_RESPONSE`].
#[must_use]
pub fn scan_response(id: &str) -> Value {
    json!({ "id": id })
}

/// A validated scan request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanRequest {
    /// Where to pull the artifact from.
    pub registry: Registry,
    /// What to scan.
    pub artifact: Artifact,
    /// What Harbor wants produced; `None` (absent) means every capability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_capabilities: Option<Vec<Capability>>,
}

impl ScanRequest {
    /// Whether Harbor asked for `kind` (every capability when it named none).
    #[must_use]
    pub fn wants(&self, kind: CapabilityType) -> bool {
        self.enabled_capabilities
            .as_ref()
            .is_none_or(|caps| caps.iter().any(|c| c.kind == kind))
    }

    /// The SBOM formats Harbor asked for: those of the `sbom` capability's parameters, both
    /// when it named none, none when it did not ask for an SBOM.
    #[must_use]
    pub fn sbom_media_types(&self) -> Vec<SbomMediaType> {
        let all = vec![SbomMediaType::Spdx, SbomMediaType::CycloneDx];
        match &self.enabled_capabilities {
            None => all,
            Some(caps) => {
                let Some(sbom) = caps.iter().find(|c| c.kind == CapabilityType::Sbom) else {
                    return Vec::new();
                };
                match &sbom.parameters {
                    Some(p) if !p.sbom_media_types.is_empty() => p.sbom_media_types.clone(),
                    _ => all,
                }
            }
        }
    }
}

/// The registry of a scan request.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// Its base URL (`http` or `https`).
    pub url: String,
    /// The `Authorization` header value to pull with, when given. A secret: never logged
    /// (`Debug` redacts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The artifact of a scan request, echoed in every report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// The repository (`library/mongo`), without the registry host.
    pub repository: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
    /// Its tag, when Harbor names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Its manifest media type, when Harbor names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// A capability type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilityType {
    /// Vulnerability reports.
    Vulnerability,
    /// SBOM reports (spec v1.2).
    Sbom,
}

/// One of a scan request's `enabled_capabilities`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// What it is.
    #[serde(rename = "type")]
    pub kind: CapabilityType,
    /// The report types wanted (`None`: all of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produces_mime_types: Option<Vec<String>>,
    /// Its parameters (`null` or absent: `None`).
    pub parameters: Option<SbomParameters>,
}

/// The parameters of an `sbom` capability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SbomParameters {
    /// The SBOM formats wanted.
    pub sbom_media_types: Vec<SbomMediaType>,
}

/// An SBOM format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SbomMediaType {
    /// SPDX 2.3 JSON ([`SPDX_JSON`]).
    Spdx,
    /// CycloneDX JSON ([`CYCLONEDX_JSON`]).
    CycloneDx,
}

impl SbomMediaType {
    /// Its media type, as the spec spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SbomMediaType::Spdx => SPDX_JSON,
            SbomMediaType::CycloneDx => CYCLONEDX_JSON,
        }
    }

    /// The format named by `text` (case and surrounding spaces ignored).
    #[must_use]
    pub fn parse(text: &str) -> Option<SbomMediaType> {
        let t = text.trim();
        if t.eq_ignore_ascii_case(SPDX_JSON) {
            Some(SbomMediaType::Spdx)
        } else if t.eq_ignore_ascii_case(CYCLONEDX_JSON) {
            Some(SbomMediaType::CycloneDx)
        } else {
            None
        }
    }
}

impl Serialize for SbomMediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// The request as it arrives: every field optional, so a missing one is a 422 naming it (as
// harbor-scanner-trivy answers) while a value of the wrong JSON type fails here (400).
#[derive(Deserialize)]
struct RawRequest {
    #[serde(default)]
    registry: Option<RawRegistry>,
    #[serde(default)]
    artifact: Option<RawArtifact>,
    #[serde(default)]
    enabled_capabilities: Option<Vec<RawCapability>>,
}

#[derive(Deserialize)]
struct RawRegistry {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    authorization: Option<String>,
}

#[derive(Deserialize)]
struct RawArtifact {
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct RawCapability {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    produces_mime_types: Option<Vec<String>>,
    #[serde(default)]
    parameters: Option<RawParameters>,
}

#[derive(Deserialize)]
struct RawParameters {
    #[serde(default)]
    sbom_media_types: Option<Vec<String>>,
}

/// Whether a request's `Content-Type` is a scan request type of spec v1.1 or v1.2 (spaces
/// around `;` and `=`, case and quotes ignored). A missing or `application/json` type is the
/// caller's choice; Harbor always sends one of these.
#[must_use]
pub fn is_scan_request_type(content_type: &str) -> bool {
    let Some(m) = MediaType::parse(content_type) else {
        return false;
    };
    m.is(SCAN_REQUEST_V1_0) || m.is(SCAN_REQUEST_V1_1)
}

/// Reads and checks a scan request body.
///
/// # Errors
/// [`HarborError::Malformed`] (400): larger than [`MAX_BODY_BYTES`], not JSON, not an
/// object, or a value of the wrong JSON type. [`HarborError::Invalid`] (422): a missing
/// `registry.url`, `artifact.repository` or `artifact.digest`; a URL that is not `http(s)`; a
/// digest that is not `sha256:` and 64 lowercase hex digits; a repository that is not a
/// distribution-spec repository name; a tag that is not a tag; a string longer than
/// [`MAX_STRING_BYTES`]; an unknown capability type or SBOM media type.
/// [`HarborError::Unsupported`] (501): an artifact media type other than an OCI or Docker
/// schema 2 image manifest, or a capability whose `produces_mime_types` names none of the
/// report types Palisade produces for it.
pub fn parse_scan_request(body: &[u8]) -> Result<ScanRequest, HarborError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(HarborError::Malformed(format!(
            "the scan request is {} bytes, more than the {MAX_BODY_BYTES} accepted",
            body.len()
        )));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| HarborError::Malformed(format!("the scan request is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(HarborError::Malformed(
            "the scan request is not a JSON object".to_owned(),
        ));
    }
    check_strings(&value, &mut String::new())?;
    let raw = RawRequest::deserialize(&value).map_err(|e| {
        HarborError::Malformed(format!(
            "the scan request has a value of the wrong type: {e}"
        ))
    })?;
    validate(raw)
}

fn invalid(message: impl Into<String>) -> HarborError {
    HarborError::Invalid(message.into())
}

fn check_strings(v: &Value, path: &mut String) -> Result<(), HarborError> {
    let too_long = |what: &str, len: usize| {
        invalid(format!(
            "{what} is {len} bytes long, more than the {MAX_STRING_BYTES} accepted"
        ))
    };
    match v {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            Err(too_long(&display_path(path), s.len()))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_strings(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map {
                if k.len() > MAX_STRING_BYTES {
                    return Err(too_long(
                        &format!("a key in {}", display_path(path)),
                        k.len(),
                    ));
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_strings(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the scan request".to_owned()
    } else {
        path.to_owned()
    }
}

fn required(value: Option<String>, name: &str) -> Result<String, HarborError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(format!("missing {name}"))),
    }
}

fn validate(raw: RawRequest) -> Result<ScanRequest, HarborError> {
    let registry = raw.registry.unwrap_or(RawRegistry {
        url: None,
        authorization: None,
    });
    let url = required(registry.url, "registry.url")?;
    if !valid_registry_url(&url) {
        return Err(invalid(format!(
            "registry.url {url:?} is not an http or https URL with a host"
        )));
    }
    let artifact = raw.artifact.unwrap_or(RawArtifact {
        repository: None,
        digest: None,
        tag: None,
        mime_type: None,
    });
    let repository = required(artifact.repository, "artifact.repository")?;
    if !valid_repository(&repository) {
        return Err(invalid(format!(
            "artifact.repository {repository:?} is not a repository name (lowercase path \
             components of letters and digits separated by '.', '_', '__' or '-', joined by '/')"
        )));
    }
    let digest = required(artifact.digest, "artifact.digest")?;
    if !crate::registry::is_sha256_digest(&digest) {
        return Err(invalid(format!(
            "artifact.digest {digest:?} is not sha256: followed by 64 lowercase hex digits"
        )));
    }
    let tag = artifact.tag.filter(|t| !t.is_empty());
    if let Some(t) = &tag
        && !valid_tag(t)
    {
        return Err(invalid(format!("artifact.tag {t:?} is not a tag")));
    }
    let mime_type = artifact.mime_type.filter(|t| !t.is_empty());
    if let Some(m) = &mime_type {
        let consumed = MediaType::parse(m)
            .is_some_and(|m| m.is(OCI_IMAGE_MANIFEST) || m.is(DOCKER_IMAGE_MANIFEST_V2));
        if !consumed {
            return Err(HarborError::Unsupported(format!(
                "artifact.mime_type {m:?} is not scanned: Palisade scans {OCI_IMAGE_MANIFEST} \
                 and {DOCKER_IMAGE_MANIFEST_V2}"
            )));
        }
    }
    let enabled_capabilities = match raw.enabled_capabilities {
        None => None,
        Some(caps) => Some(
            caps.into_iter()
                .enumerate()
                .map(|(i, c)| capability(i, c))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(ScanRequest {
        registry: Registry {
            url,
            authorization: registry.authorization,
        },
        artifact: Artifact {
            repository,
            digest,
            tag,
            mime_type,
        },
        enabled_capabilities,
    })
}

fn capability(i: usize, c: RawCapability) -> Result<Capability, HarborError> {
    let name = format!("enabled_capabilities[{i}]");
    let kind = match c.kind.as_deref() {
        Some("vulnerability") => CapabilityType::Vulnerability,
        Some("sbom") => CapabilityType::Sbom,
        Some(other) => {
            return Err(invalid(format!(
                "{name}.type {other:?} is not a capability (vulnerability or sbom)"
            )));
        }
        None => return Err(invalid(format!("missing {name}.type"))),
    };
    if let Some(types) = &c.produces_mime_types {
        let ours: &[&str] = match kind {
            CapabilityType::Vulnerability => &[VULN_REPORT_HARBOR, VULN_REPORT_SECURITY],
            CapabilityType::Sbom => &[SBOM_REPORT],
        };
        let any = types
            .iter()
            .any(|t| MediaType::parse(t).is_some_and(|m| ours.iter().any(|o| m.is(o))));
        if !types.is_empty() && !any {
            return Err(HarborError::Unsupported(format!(
                "{name}.produces_mime_types {types:?}: Palisade produces {}",
                ours.join(" and ")
            )));
        }
    }
    let parameters = match c.parameters {
        None => None,
        Some(p) => Some(SbomParameters {
            sbom_media_types: p
                .sbom_media_types
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    SbomMediaType::parse(t).ok_or_else(|| {
                        invalid(format!(
                            "{name}.parameters.sbom_media_types[{j}] {t:?} is not \
                             {SPDX_JSON} or {CYCLONEDX_JSON}"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        }),
    };
    Ok(Capability {
        kind,
        produces_mime_types: c.produces_mime_types,
        parameters,
    })
}

/// `http://` or `https://`, a host (letters, digits, `.`, `-`, `:` and brackets for a port or
/// an IPv6 address; no user info), then anything but spaces and control characters.
fn valid_registry_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty()
        && !host.starts_with(':')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The distribution spec's repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` components
/// joined by `/`, at most 255 bytes.
fn valid_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_path_component)
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() <= 128
        && b.first()
            .is_some_and(|&x| x.is_ascii_alphanumeric() || x == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// A media type read leniently: type and subtype lowercased, parameters' names lowercased,
/// spaces around `;` and `=` and quotes around values dropped.
struct MediaType {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    fn parse(text: &str) -> Option<MediaType> {
        let mut parts = text.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        if !essence.contains('/') {
            return None;
        }
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_owned(),
                ))
            })
            .collect();
        Some(MediaType { essence, params })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The same essence and the same `version` (both absent, or equal).
    fn is(&self, spec: &str) -> bool {
        MediaType::parse(spec).is_some_and(|s| {
            s.essence == self.essence && s.param("version") == self.param("version")
        })
    }

    /// The same essence, and the same `version` when this one names one (an `Accept` value
    /// without a version takes the one we have).
    fn accepts(&self, spec: &str) -> bool {
        MediaType::parse(spec).is_some_and(|s| {
            s.essence == self.essence
                && self
                    .param("version")
                    .is_none_or(|v| s.param("version") == Some(v))
        })
    }

    fn is_wildcard(&self) -> bool {
        self.essence == "*/*" || self.essence == "application/*"
    }

    fn refused(&self) -> bool {
        self.param("q")
            .and_then(|q| q.parse::<f32>().ok())
            .is_some_and(|q| q <= 0.0)
    }
}

/// The media ranges of an `Accept` value, in the order given, without those refused (`q=0`).
fn accept_ranges(accept: &str) -> Vec<MediaType> {
    accept
        .split(',')
        .filter_map(MediaType::parse)
        .filter(|m| !m.refused())
        .collect()
}

/// Which metadata to answer `GET /metadata` with: `true` for spec v1.2's (sent as
/// [`METADATA_V1_1`], with the `sbom` capability) when `accept` names
/// `application/vnd.scanner.adapter.metadata+json; version=1.1` (or the type without a
/// version), is absent, or is a wildcard; `false` for spec v1.1's ([`METADATA_V1_0`], no
/// `sbom` capability) when it names only `version=1.0` or nothing this API knows.
#[must_use]
pub fn metadata_version_1_2(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept_ranges(accept)
        .iter()
        .any(|m| m.is_wildcard() || m.accepts(METADATA_V1_1))
}

/// A vulnerability report's form (both have the same schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VulnReportType {
    /// [`VULN_REPORT_HARBOR`].
    HarborV1_0,
    /// [`VULN_REPORT_SECURITY`].
    SecurityV1_1,
}

/// The report a `GET /scan/{id}/report` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// A vulnerability report ([`vulnerability_report`]).
    Vulnerability(VulnReportType),
    /// An SBOM report in this format ([`sbom_report`]).
    Sbom(SbomMediaType),
}

impl ReportKind {
    /// The `Content-Type` to answer with: the spec's exact string.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            ReportKind::Vulnerability(VulnReportType::HarborV1_0) => VULN_REPORT_HARBOR,
            ReportKind::Vulnerability(VulnReportType::SecurityV1_1) => VULN_REPORT_SECURITY,
            ReportKind::Sbom(_) => SBOM_REPORT,
        }
    }
}

/// Chooses the report from the request's `Accept` header and `sbom_media_type` query value
/// (URL-decoded). The first acceptable range in the header's order wins (`q` weights other
/// than 0 are not ranked). An absent or empty header, or `*/*`, means
/// [`VULN_REPORT_SECURITY`], as harbor-scanner-trivy answers; `sbom_media_type` is read only
/// for an SBOM report. Parameters are compared without regard to spaces, case or quotes, and
/// a range without `version` takes the version we produce.
///
/// # Errors
/// [`HarborError::BadReportRequest`] (400): an SBOM report without `sbom_media_type`, or
/// with one that is not [`SPDX_JSON`] or [`CYCLONEDX_JSON`].
/// [`HarborError::Unsupported`] (501): no range names a report Palisade produces (the raw
/// report, another version, another type).
pub fn negotiate_report(
    accept: Option<&str>,
    sbom_media_type: Option<&str>,
) -> Result<ReportKind, HarborError> {
    let default = ReportKind::Vulnerability(VulnReportType::SecurityV1_1);
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(default);
    };
    for m in accept_ranges(accept) {
        if m.is_wildcard() {
            return Ok(default);
        }
        if m.accepts(VULN_REPORT_SECURITY) {
            return Ok(default);
        }
        if m.accepts(VULN_REPORT_HARBOR) {
            return Ok(ReportKind::Vulnerability(VulnReportType::HarborV1_0));
        }
        if m.accepts(SBOM_REPORT) {
            let Some(t) = sbom_media_type.filter(|t| !t.trim().is_empty()) else {
                return Err(HarborError::BadReportRequest(format!(
                    "an SBOM report needs the query parameter sbom_media_type \
                     ({SPDX_JSON} or {CYCLONEDX_JSON})"
                )));
            };
            return SbomMediaType::parse(t)
                .map(ReportKind::Sbom)
                .ok_or_else(|| {
                    HarborError::BadReportRequest(format!(
                        "sbom_media_type {t:?} is not {SPDX_JSON} or {CYCLONEDX_JSON}"
                    ))
                });
        }
    }
    Err(HarborError::Unsupported(format!(
        "no report of the accepted type {accept:?}: Palisade produces {VULN_REPORT_SECURITY}, \
         {VULN_REPORT_HARBOR} and {SBOM_REPORT}"
    )))
}

fn scanner() -> Value {
    json!({ "name": SCANNER_NAME, "vendor": SCANNER_NAME, "version": SCANNER_VERSION })
}

/// The metadata document and its content type: spec v1.2's ([`METADATA_V1_1`], with the
/// `sbom` capability) when `version_1_2`, else spec v1.1's ([`METADATA_V1_0`]); choose with
/// [`metadata_version_1_2`]. `db_updated` is the vulnerability database's build time
/// (RFC 3339; `DbSummary::built`), left out when unknown.
#[must_use]
pub fn metadata(
    version_1_2: bool,
    scanner_version: &str,
    db_updated: Option<&str>,
) -> (&'static str, Value) {
    let consumes = [OCI_IMAGE_MANIFEST, DOCKER_IMAGE_MANIFEST_V2];
    let mut capabilities = vec![json!({
        "type": "vulnerability",
        "consumes_mime_types": consumes,
        "produces_mime_types": [VULN_REPORT_SECURITY, VULN_REPORT_HARBOR],
    })];
    if version_1_2 {
        capabilities.push(json!({
            "type": "sbom",
            "consumes_mime_types": consumes,
            "produces_mime_types": [SBOM_REPORT],
            "additional_attributes": { "sbom_media_types": [SPDX_JSON, CYCLONEDX_JSON] },
        }));
    }
    let mut properties = Map::new();
    properties.insert(
        "harbor.scanner-adapter/scanner-type".into(),
        json!("os-package-vulnerability"),
    );
    if let Some(t) = db_updated {
        properties.insert(
            "harbor.scanner-adapter/vulnerability-database-updated-at".into(),
            json!(t),
        );
    }
    properties.insert("org.label-schema.version".into(), json!(scanner_version));
    properties.insert(
        "palisade/fix-version".into(),
        json!("the lowest fixed version above the installed one"),
    );
    let content_type = if version_1_2 {
        METADATA_V1_1
    } else {
        METADATA_V1_0
    };
    (
        content_type,
        json!({
            "scanner": { "name": SCANNER_NAME, "vendor": SCANNER_NAME, "version": scanner_version },
            "capabilities": capabilities,
            "properties": properties,
        }),
    )
}

/// Harbor's word for a severity.
#[must_use]
pub fn harbor_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Negligible => "Negligible",
        Severity::Unknown => "Unknown",
    }
}

/// Harbor's order: Unknown < Negligible < Low < Medium < High < Critical.
fn harbor_rank(s: Severity) -> u8 {
    match s {
        Severity::Unknown => 0,
        Severity::Negligible => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// The report's overall severity: the highest of `findings` in Harbor's order, `Unknown` when
/// there are none (as harbor-scanner-trivy reports).
#[must_use]
pub fn overall_severity<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> Severity {
    findings
        .into_iter()
        .map(|f| f.severity)
        .max_by_key(|s| harbor_rank(*s))
        .unwrap_or(Severity::Unknown)
}

/// The version scheme of a package URL's type, when Palisade has one.
fn scheme_of_purl(purl: &str) -> Option<Scheme> {
    let kind = purl.strip_prefix("pkg:")?.split('/').next()?;
    Some(match kind.to_ascii_lowercase().as_str() {
        "deb" => Scheme::Dpkg,
        "rpm" => Scheme::Rpm,
        "apk" => Scheme::Apk,
        "pypi" => Scheme::Pep440,
        "npm" => Scheme::SemverNpm,
        "cargo" => Scheme::SemverCargo,
        "golang" => Scheme::Go,
        "maven" => Scheme::Maven,
        "gem" => Scheme::RubyGems,
        "nuget" => Scheme::NuGet,
        "composer" => Scheme::SemverNpm,
        _ => return None,
    })
}

/// Harbor's one `fix_version` from a finding's fixed versions: the lowest one above the
/// installed version in the package's version scheme (the nearest upgrade that fixes it);
/// when none can be compared (unknown scheme, unreadable versions) or none is above, the first
/// listed; `None` when none is known.
#[must_use]
pub fn fix_version(purl: &str, installed: &str, fixed: &[String]) -> Option<String> {
    let first = fixed.first()?;
    let Some(scheme) = scheme_of_purl(purl) else {
        return Some(first.clone());
    };
    let Ok(current) = scheme.parse(installed) else {
        return Some(first.clone());
    };
    let mut best: Option<(&String, palisade_version::Version)> = None;
    for f in fixed {
        let Ok(v) = scheme.parse(f) else { continue };
        if v.try_cmp(&current) != Ok(Ordering::Greater) {
            continue;
        }
        match &best {
            Some((_, b)) if v.try_cmp(b) != Ok(Ordering::Less) => {}
            _ => best = Some((f, v)),
        }
    }
    Some(best.map_or(first, |(f, _)| f).clone())
}

fn is_cve(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && num.len() >= 4
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// An id as a URL path segment: letters, digits, `.`, `_`, `:` and `-` kept, every other byte
/// percent-encoded.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The advisory pages of a finding: OSV's page of its id, NVD's page of each CVE among its id
/// and aliases, GitHub's page of each GHSA.
#[must_use]
pub fn advisory_links(id: &str, aliases: &[String]) -> Vec<String> {
    let mut links = vec![format!(
        "https://osv.dev/vulnerability/{}",
        path_segment(id)
    )];
    for a in std::iter::once(id).chain(aliases.iter().map(String::as_str)) {
        let link = if is_cve(a) {
            format!("https://nvd.nist.gov/vuln/detail/{a}")
        } else if a.starts_with("GHSA-") {
            format!("https://github.com/advisories/{}", path_segment(a))
        } else {
            continue;
        };
        if !links.contains(&link) {
            links.push(link);
        }
    }
    links
}

/// The CVSS major version of a vector: 3 for `CVSS:3.x/…`, 2 for `CVSS:2.0/…` or a bare
/// version 2 vector (`AV:N/AC:L/Au:N/…`), `None` otherwise (CVSS 4.0 has no place in
/// `preferred_cvss`).
fn cvss_major(vector: &str) -> Option<u8> {
    if vector.starts_with("CVSS:3.") {
        Some(3)
    } else if vector.starts_with("CVSS:2.")
        || (vector.starts_with("AV:") && vector.contains("/Au:"))
    {
        Some(2)
    } else {
        None
    }
}

fn vulnerability_item(f: &Finding, texts: &BTreeMap<String, AdvisoryText>) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(f.id));
    item.insert("package".into(), json!(f.package.name));
    item.insert("version".into(), json!(f.package.version));
    if let Some(v) = fix_version(&f.package.purl, &f.package.version, &f.fixed_versions) {
        item.insert("fix_version".into(), json!(v));
    }
    item.insert("severity".into(), json!(harbor_severity(f.severity)));
    let text = texts.get(&f.id);
    let description = text
        .map(|t| t.summary.trim())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            text.and_then(|t| t.details.as_deref())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or(&f.why);
    item.insert("description".into(), json!(description));
    item.insert("links".into(), json!(advisory_links(&f.id, &f.aliases)));
    if let Some(c) = &f.cvss
        && c.score.is_finite()
    {
        match cvss_major(&c.vector) {
            Some(3) => {
                item.insert(
                    "preferred_cvss".into(),
                    json!({ "score_v3": c.score, "vector_v3": c.vector }),
                );
            }
            Some(2) => {
                item.insert(
                    "preferred_cvss".into(),
                    json!({ "score_v2": c.score, "vector_v2": c.vector }),
                );
            }
            _ => {}
        }
    }
    item.insert("cwe_ids".into(), json!([]));
    let mut vendor = Map::new();
    vendor.insert("kev".into(), json!(f.kev));
    if let Some(e) = &f.epss
        && e.score.is_finite()
        && e.percentile.is_finite()
    {
        vendor.insert(
            "epss".into(),
            json!({ "score": e.score, "percentile": e.percentile }),
        );
    }
    vendor.insert("status".into(), json!(f.status.as_str()));
    vendor.insert("purl".into(), json!(f.package.purl));
    vendor.insert("aliases".into(), json!(f.aliases));
    vendor.insert("type".into(), json!(f.package.kind));
    vendor.insert("fixed_versions".into(), json!(f.fixed_versions));
    vendor.insert(
        "severity_source".into(),
        json!(f.severity_source.to_string()),
    );
    if let Some(c) = &f.cvss
        && c.score.is_finite()
    {
        vendor.insert(
            "cvss".into(),
            json!({ "score": c.score, "vector": c.vector, "source": c.source.to_string() }),
        );
    }
    vendor.insert("why".into(), json!(f.why));
    item.insert("vendor_attributes".into(), Value::Object(vendor));
    Value::Object(item)
}

/// The Harbor vulnerability report (sent as [`ReportKind::content_type`]) of `report`'s
/// findings, in report order. `texts` holds advisory summaries
/// (`palisade_scan::advisory_texts`); a finding without one is described by its `why` line.
/// `generated_at` is RFC 3339.
#[must_use]
pub fn vulnerability_report(
    report: &Report,
    artifact: &Artifact,
    generated_at: &str,
    texts: &BTreeMap<String, AdvisoryText>,
) -> Value {
    let vulnerabilities: Vec<Value> = report
        .findings
        .iter()
        .map(|f| vulnerability_item(f, texts))
        .collect();
    json!({
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": scanner(),
        "severity": harbor_severity(overall_severity(&report.findings)),
        "vulnerabilities": vulnerabilities,
    })
}

/// The Harbor SBOM report (sent as [`SBOM_REPORT`]) of `catalog` in `media_type`: the same
/// documents `palisade sbom` writes, the SPDX one created at `generated_at` (RFC 3339).
#[must_use]
pub fn sbom_report(
    catalog: &palisade_catalog::Catalog,
    media_type: SbomMediaType,
    artifact: &Artifact,
    generated_at: &str,
) -> Value {
    let sbom = match media_type {
        SbomMediaType::Spdx => palisade_catalog::to_spdx(catalog, generated_at),
        SbomMediaType::CycloneDx => palisade_catalog::to_cyclonedx(catalog),
    };
    json!({
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": scanner(),
        "vendor_attributes": { "packages": catalog.packages.len() },
        "media_type": media_type.as_str(),
        "sbom": sbom,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    fn request(edit: impl FnOnce(&mut Value)) -> Value {
        let mut v = json!({
            "registry": { "url": "https://core.harbor.domain", "authorization": "Basic eA==" },
            "artifact": {
                "repository": "library/mongo",
                "digest": DIGEST,
                "tag": "3.14-xenial",
                "mime_type": DOCKER_IMAGE_MANIFEST_V2,
            },
            "enabled_capabilities": [
                { "type": "vulnerability", "produces_mime_types": [VULN_REPORT_SECURITY], "parameters": null },
                { "type": "sbom", "produces_mime_types": [SBOM_REPORT],
                  "parameters": { "sbom_media_types": [SPDX_JSON] } },
            ],
        });
        edit(&mut v);
        v
    }

    fn parse(v: &Value) -> Result<ScanRequest, HarborError> {
        parse_scan_request(&serde_json::to_vec(v).unwrap())
    }

    fn status_of(v: &Value) -> u16 {
        parse(v).unwrap_err().status()
    }

    #[test]
    fn a_good_request_parses_with_null_parameters() {
        let r = parse(&request(|_| {})).unwrap();
        assert_eq!(r.registry.url, "https://core.harbor.domain");
        assert_eq!(r.artifact.digest, DIGEST);
        assert_eq!(r.artifact.tag.as_deref(), Some("3.14-xenial"));
        let caps = r.enabled_capabilities.as_ref().unwrap();
        assert_eq!(caps[0].parameters, None);
        assert!(r.wants(CapabilityType::Sbom));
        assert_eq!(r.sbom_media_types(), vec![SbomMediaType::Spdx]);
        // The secret never reaches a log line.
        assert!(!format!("{r:?}").contains("eA=="));
    }

    #[test]
    fn a_v1_1_request_without_capabilities_wants_everything() {
        let r = parse(&request(|v| {
            v.as_object_mut().unwrap().remove("enabled_capabilities");
            v["artifact"].as_object_mut().unwrap().remove("tag");
            v["artifact"].as_object_mut().unwrap().remove("mime_type");
            v["registry"]
                .as_object_mut()
                .unwrap()
                .remove("authorization");
        }))
        .unwrap();
        assert!(r.wants(CapabilityType::Vulnerability) && r.wants(CapabilityType::Sbom));
        assert_eq!(
            r.sbom_media_types(),
            vec![SbomMediaType::Spdx, SbomMediaType::CycloneDx]
        );
        assert_eq!(r.registry.authorization, None);
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in [&b"{"[..], b"", b"not json", b"[1,2]", b"\"x\""] {
            let e = parse_scan_request(body).unwrap_err();
            assert_eq!(e.status(), 400, "{body:?}: {e}");
        }
        // A value of the wrong JSON type.
        assert_eq!(
            status_of(&request(|v| v["registry"]["url"] = json!(5))),
            400
        );
        assert_eq!(status_of(&request(|v| v["artifact"] = json!("x"))), 400);
        assert_eq!(
            status_of(&request(|v| v["enabled_capabilities"] = json!({}))),
            400
        );
        // Too large a body, even if valid JSON.
        let big = format!("{{\"pad\":\"{}\"}}", " ".repeat(MAX_BODY_BYTES));
        let e = parse_scan_request(big.as_bytes()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("65536"), "{e}");
    }

    #[test]
    fn invalid_fields_are_422_and_named() {
        let cases: Vec<(Value, &str)> = vec![
            (
                request(|v| {
                    v["registry"].as_object_mut().unwrap().remove("url");
                }),
                "missing registry.url",
            ),
            (
                request(|v| {
                    v.as_object_mut().unwrap().remove("registry");
                }),
                "missing registry.url",
            ),
            (
                request(|v| {
                    v["artifact"].as_object_mut().unwrap().remove("repository");
                }),
                "missing artifact.repository",
            ),
            (
                request(|v| v["artifact"]["digest"] = json!("")),
                "missing artifact.digest",
            ),
            (
                request(|v| v["artifact"]["digest"] = json!("sha256:abc")),
                "artifact.digest",
            ),
            (
                request(|v| v["artifact"]["digest"] = json!(DIGEST.to_uppercase())),
                "artifact.digest",
            ),
            (
                request(|v| {
                    v["artifact"]["digest"] = json!(DIGEST.replace("sha256", "sha512"));
                }),
                "artifact.digest",
            ),
            (
                request(|v| v["artifact"]["repository"] = json!("Library/Mongo")),
                "artifact.repository",
            ),
            (
                request(|v| v["artifact"]["repository"] = json!("library//mongo")),
                "artifact.repository",
            ),
            (
                request(|v| v["artifact"]["repository"] = json!("../etc")),
                "artifact.repository",
            ),
            (
                request(|v| v["artifact"]["repository"] = json!("a-")),
                "artifact.repository",
            ),
            (
                request(|v| v["registry"]["url"] = json!("ftp://core.harbor.domain")),
                "registry.url",
            ),
            (
                request(|v| v["registry"]["url"] = json!("core.harbor.domain")),
                "registry.url",
            ),
            (
                request(|v| v["registry"]["url"] = json!("https://")),
                "registry.url",
            ),
            (
                request(|v| v["registry"]["url"] = json!("https://user@host")),
                "registry.url",
            ),
            (
                request(|v| v["artifact"]["tag"] = json!("-bad tag")),
                "artifact.tag",
            ),
            (
                request(|v| v["registry"]["authorization"] = json!("x".repeat(4097))),
                "registry.authorization is 4097 bytes",
            ),
            (
                request(|v| v["extra"] = json!(["y".repeat(5000)])),
                "extra[0] is 5000 bytes",
            ),
            (
                request(|v| v["enabled_capabilities"][0]["type"] = json!("malware")),
                "enabled_capabilities[0].type",
            ),
            (
                request(|v| {
                    v["enabled_capabilities"][1]["parameters"]["sbom_media_types"] =
                        json!(["text/plain"]);
                }),
                "enabled_capabilities[1].parameters.sbom_media_types[0]",
            ),
            (
                request(|v| v["enabled_capabilities"] = json!([{ "parameters": null }])),
                "missing enabled_capabilities[0].type",
            ),
        ];
        for (body, needle) in cases {
            let e = parse(&body).unwrap_err();
            assert_eq!(e.status(), 422, "{body}: {e}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
        }
    }

    #[test]
    fn good_edge_values_are_accepted() {
        for repo in ["a", "a/b/c", "a.b_c__d---e/f0", "x".repeat(255).as_str()] {
            assert!(
                parse(&request(|v| v["artifact"]["repository"] = json!(repo))).is_ok(),
                "{repo}"
            );
        }
        for url in [
            "http://harbor-core:8080",
            "https://[::1]:5000/",
            "HTTPS://Core.Harbor.Domain/v2",
        ] {
            assert!(
                parse(&request(|v| v["registry"]["url"] = json!(url))).is_ok(),
                "{url}"
            );
        }
        // Exactly the bound.
        assert!(
            parse(&request(
                |v| v["registry"]["authorization"] = json!("x".repeat(4096))
            ))
            .is_ok()
        );
        // An empty tag is no tag.
        let r = parse(&request(|v| v["artifact"]["tag"] = json!(""))).unwrap();
        assert_eq!(r.artifact.tag, None);
    }

    #[test]
    fn unsupported_artifacts_and_reports_are_501() {
        assert_eq!(
            status_of(&request(|v| {
                v["artifact"]["mime_type"] = json!("application/vnd.oci.image.index.v1+json");
            })),
            501
        );
        assert_eq!(
            status_of(&request(|v| {
                v["enabled_capabilities"][0]["produces_mime_types"] = json!([VULN_REPORT_RAW]);
            })),
            501
        );
        // Spaces differ: still ours.
        assert!(
            parse(&request(|v| {
                v["enabled_capabilities"][0]["produces_mime_types"] =
                    json!(["application/vnd.security.vulnerability.report;version=1.1"]);
            }))
            .is_ok()
        );
    }

    #[test]
    fn scan_request_content_types() {
        assert!(is_scan_request_type(SCAN_REQUEST_V1_0));
        assert!(is_scan_request_type(
            "application/vnd.scanner.adapter.scan.request+json;version=\"1.1\""
        ));
        assert!(!is_scan_request_type(
            "application/vnd.scanner.adapter.scan.request+json; version=2.0"
        ));
        assert!(!is_scan_request_type("application/json"));
    }

    #[test]
    fn accept_chooses_the_report() {
        use ReportKind::*;
        use VulnReportType::*;
        let ok = |a: Option<&str>, q: Option<&str>| negotiate_report(a, q).unwrap();
        assert_eq!(
            ok(Some(VULN_REPORT_SECURITY), None),
            Vulnerability(SecurityV1_1)
        );
        assert_eq!(
            ok(Some(VULN_REPORT_HARBOR), None),
            Vulnerability(HarborV1_0)
        );
        assert_eq!(
            ok(
                Some("application/vnd.scanner.adapter.vuln.report.harbor+json;version=1.0"),
                None
            ),
            Vulnerability(HarborV1_0)
        );
        assert_eq!(
            ok(
                Some("Application/Vnd.Security.Vulnerability.Report ;  Version = \"1.1\""),
                None
            ),
            Vulnerability(SecurityV1_1)
        );
        assert_eq!(ok(None, None), Vulnerability(SecurityV1_1));
        assert_eq!(ok(Some("*/*"), None), Vulnerability(SecurityV1_1));
        assert_eq!(
            ok(Some(SBOM_REPORT), Some(SPDX_JSON)),
            Sbom(SbomMediaType::Spdx)
        );
        assert_eq!(
            ok(
                Some("application/vnd.security.sbom.report+json;version=1.0"),
                Some(CYCLONEDX_JSON)
            ),
            Sbom(SbomMediaType::CycloneDx)
        );
        // A list: the first one we produce.
        assert_eq!(
            ok(
                Some(&format!("{VULN_REPORT_RAW}, {VULN_REPORT_HARBOR}")),
                None
            ),
            Vulnerability(HarborV1_0)
        );
        // The answer's type is the spec's exact string, whatever the request spelled.
        assert_eq!(
            ok(
                Some("application/vnd.security.vulnerability.report;version=1.1"),
                None
            )
            .content_type(),
            VULN_REPORT_SECURITY
        );
        assert_eq!(Sbom(SbomMediaType::Spdx).content_type(), SBOM_REPORT);

        let status = |a: &str, q: Option<&str>| negotiate_report(Some(a), q).unwrap_err().status();
        assert_eq!(status(SBOM_REPORT, None), 400);
        assert_eq!(status(SBOM_REPORT, Some("text/plain")), 400);
        assert_eq!(status(VULN_REPORT_RAW, None), 501);
        assert_eq!(
            status(
                "application/vnd.security.vulnerability.report; version=2.0",
                None
            ),
            501
        );
        assert_eq!(status("text/html", None), 501);
        assert_eq!(status(&format!("{VULN_REPORT_SECURITY}; q=0"), None), 501);
    }

    #[test]
    fn metadata_versions() {
        assert!(metadata_version_1_2(Some(METADATA_V1_1)));
        assert!(metadata_version_1_2(Some(
            "application/vnd.scanner.adapter.metadata+json;version=1.1"
        )));
        assert!(metadata_version_1_2(None));
        assert!(metadata_version_1_2(Some("*/*")));
        assert!(!metadata_version_1_2(Some(METADATA_V1_0)));
        let (ct, m) = metadata(true, "1.2.3", Some("2026-12-01T00:00:00Z"));
        assert_eq!(ct, METADATA_V1_1);
        assert_eq!(m["capabilities"].as_array().unwrap().len(), 2);
        assert_eq!(
            m["properties"]["harbor.scanner-adapter/vulnerability-database-updated-at"],
            "2026-12-01T00:00:00Z"
        );
        let (ct, m) = metadata(false, "1.2.3", None);
        assert_eq!(ct, METADATA_V1_0);
        assert_eq!(m["capabilities"].as_array().unwrap().len(), 1);
        assert!(
            m["properties"]
                .get("harbor.scanner-adapter/vulnerability-database-updated-at")
                .is_none()
        );
    }

    #[test]
    fn severities_map_to_harbors_words_and_order() {
        assert_eq!(harbor_severity(Severity::Critical), "Critical");
        assert_eq!(harbor_severity(Severity::High), "High");
        assert_eq!(harbor_severity(Severity::Medium), "Medium");
        assert_eq!(harbor_severity(Severity::Low), "Low");
        assert_eq!(harbor_severity(Severity::Negligible), "Negligible");
        assert_eq!(harbor_severity(Severity::Unknown), "Unknown");
        let ranks: Vec<u8> = Severity::ALL.iter().map(|s| harbor_rank(*s)).collect();
        assert_eq!(ranks, vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(overall_severity(std::iter::empty()), Severity::Unknown);
    }

    #[test]
    fn fix_version_is_the_nearest_fix_above_the_installed_version() {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // PEP 440: 2.0 is below 2.3, 2.4 is the nearest above (not 2.10, not the first).
        assert_eq!(
            fix_version("pkg:pypi/x@2.3", "2.3", &v(&["3.0", "2.10", "2.0", "2.4"])),
            Some("2.4".into())
        );
        // dpkg ordering, not string ordering.
        assert_eq!(
            fix_version(
                "pkg:deb/debian/openssl@3.0.11-1~deb12u1",
                "3.0.11-1~deb12u1",
                &v(&["3.0.13-1~deb12u1", "3.0.11-1~deb12u2"])
            ),
            Some("3.0.11-1~deb12u2".into())
        );
        // None above: the first listed.
        assert_eq!(
            fix_version("pkg:npm/x@5.0.0", "5.0.0", &v(&["4.1.0", "1.0.0"])),
            Some("4.1.0".into())
        );
        // No scheme: the first listed.
        assert_eq!(
            fix_version("pkg:generic/x@1", "1", &v(&["3", "2"])),
            Some("3".into())
        );
        // Unreadable versions are skipped.
        assert_eq!(
            fix_version("pkg:pypi/x@1.0", "1.0", &v(&["not a version!", "1.1"])),
            Some("1.1".into())
        );
        assert_eq!(fix_version("pkg:pypi/x@1.0", "1.0", &[]), None);
    }

    #[test]
    fn links_are_uris() {
        let links = advisory_links(
            "GHSA-abcd-efgh-ijkl",
            &[
                "CVE-2024-12345".into(),
                "PYSEC-2024-1".into(),
                "CVE-bad".into(),
            ],
        );
        assert_eq!(
            links,
            vec![
                "https://osv.dev/vulnerability/GHSA-abcd-efgh-ijkl",
                "https://github.com/advisories/GHSA-abcd-efgh-ijkl",
                "https://nvd.nist.gov/vuln/detail/CVE-2024-12345",
            ]
        );
        assert_eq!(
            advisory_links("a b/c", &[]),
            vec!["https://osv.dev/vulnerability/a%20b%2Fc"]
        );
    }

    #[test]
    fn cvss_versions_are_read_from_the_vector() {
        assert_eq!(cvss_major("CVSS:3.1/AV:N/AC:L"), Some(3));
        assert_eq!(cvss_major("CVSS:3.0/AV:N/AC:L"), Some(3));
        assert_eq!(cvss_major("AV:N/AC:L/Au:N/C:N/I:N/A:P"), Some(2));
        assert_eq!(cvss_major("CVSS:4.0/AV:N/AC:L"), None);
    }

    #[test]
    fn error_bodies() {
        assert_eq!(error_body("boom"), json!({"error": {"message": "boom"}}));
        let e = HarborError::Invalid("missing registry.url".into());
        assert_eq!(e.body()["error"]["message"], "missing registry.url");
    }
}
