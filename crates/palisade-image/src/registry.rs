//! Registry client over the OCI distribution API: manifests, blobs, uploads, tags and
//! referrers, with token and basic authentication, retries and bounded reads.
//!
//! [`RegistryClient`] is the whole surface; `RegistryStore` adapts it to the image reader.
//! Not for: parsing images (see `image.rs`) or judging signatures (the trust crate builds on
//! [`RegistryClient`] for that).
//!
//! Traps handled here:
//! - Docker Hub's API host is `registry-1.docker.io`, but Docker stores its credentials under
//!   `https://index.docker.io/v1/`.
//! - Blob GETs redirect to object storage. Redirects are followed by hand, and the
//!   `Authorization` header only goes to the origin it was meant for.
//! - A `Bearer` challenge names a token server; tokens are cached per scope
//!   (`repository:NAME:pull` or `…:pull,push`), and a rejected token is fetched again once.
//! - 429, 502, 503, 504 and dropped connections are retried (4 attempts, doubling backoff from
//!   200 ms with jitter, `Retry-After` honoured up to 30 s); other 4xx never are.
//! - Every body read into memory is bounded: documents by [`MAX_DOCUMENT_BYTES`], token
//!   responses by 1 MiB, error bodies by 64 KiB.
//! - Plain HTTP is used for loopback hosts and for hosts listed in
//!   [`RegistryOptions::insecure`]; everything else is HTTPS with the system roots (plus
//!   [`RegistryOptions::ca_file`]). TLS, redirect rules and deadlines are those of
//!   [`crate::http`], shared with every other HTTP client: one deadline
//!   ([`RegistryOptions::deadline`]) covers a request's retries, redirects and body.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::Deserialize;
use ureq::Body;
use ureq::http::Response;

use crate::digest::Digest;
use crate::error::Error;
use crate::http::{
    BodyReader, Deadline, HttpClient, HttpOptions, MAX_REDIRECTS, describe_transport_error,
    display_url, is_loopback, origin_of, plain_http_allowed, resolve_url, split_host_port,
};
use crate::image::{BlobKey, Store, verify};
use crate::manifest::{Descriptor, Index, MAX_DOCUMENT_BYTES, media_type};
use crate::reference::{DOCKER_HUB, Reference};

/// How to talk to registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Hosts (`host` or `host:port`) that may be reached over plain HTTP. Loopback hosts
    /// (`127.0.0.1`, `localhost`, `[::1]`) always may.
    pub insecure: Vec<String>,
    /// Extra PEM CA certificates to trust, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// The Docker client configuration to read credentials from (default:
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Explicit credentials, used instead of the Docker configuration.
    pub username: Option<String>,
    /// Password or token for [`RegistryOptions::username`].
    pub password: Option<String>,
    /// The total deadline of one request (retries, redirects and the body included); `None`:
    /// `$PALISADE_HTTP_TIMEOUT`, else [`crate::http::DEFAULT_DEADLINE`].
    pub deadline: Option<Duration>,
}

/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The first backoff delay; it doubles with each attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Statuses worth another attempt.
const RETRY_STATUSES: &[u16] = &[429, 502, 503, 504];
const MAX_TOKEN_BYTES: u64 = 1 << 20;
const MAX_ERROR_BYTES: u64 = 64 << 10;
const MAX_DOCKER_CONFIG_BYTES: u64 = 4 << 20;
const MAX_HELPER_OUTPUT_BYTES: u64 = 1 << 20;
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Pages followed when listing tags or referrers.
const MAX_PAGES: usize = 1000;
/// Tags kept from one listing.
const MAX_TAGS: usize = 1_000_000;
/// Where Docker keeps Docker Hub's credentials.
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const DOCKER_HUB_ALIASES: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];
const DIGEST_HEADER: &str = "docker-content-digest";

/// A client for one registry host, speaking the OCI distribution API.
///
/// It authenticates on demand (anonymous first; `Bearer` tokens per scope or `Basic`
/// credentials when the registry asks), retries transient failures and bounds every body it
/// reads into memory. Blobs are streamed, never buffered; their digests are for the caller to
/// verify while reading.
///
/// ```no_run
/// use palisade_image::{RegistryClient, RegistryOptions, media_type};
///
/// let client = RegistryClient::new("127.0.0.1:5000", &RegistryOptions::default())?;
/// let (bytes, content_type, digest) = client.get_manifest("test/app", "v1", media_type::ACCEPT_MANIFESTS)?;
/// println!("{digest} {content_type:?} {} bytes", bytes.len());
/// # Ok::<(), palisade_image::Error>(())
/// ```
pub struct RegistryClient {
    /// The registry as named in references (`docker.io`, `127.0.0.1:5000`).
    registry: String,
    /// `scheme://api-host`, without a trailing slash.
    origin: String,
    http: HttpClient,
    explicit: Option<Credentials>,
    docker_config: Option<PathBuf>,
    /// Credentials from the Docker configuration, looked up on the first challenge.
    loaded: Mutex<Option<Option<Credentials>>>,
    /// How the registry last asked to be authenticated.
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// What a request needs to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

impl Access {
    fn scope(self, repository: &str) -> String {
        match self {
            Access::Pull => format!("repository:{repository}:pull"),
            Access::Push => format!("repository:{repository}:pull,push"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
    Put,
}

/// One request, re-sendable for retries and authentication.
struct Req<'a> {
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<&'a [u8]>,
}

impl<'a> Req<'a> {
    fn new(method: Method, url: String) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Req<'a> {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: &'a [u8]) -> Req<'a> {
        self.body = Some(body);
        self
    }
}

/// Why a single send failed before a response arrived.
enum SendError {
    /// The transport failed, at the URL a redirect led to when there was one.
    Http(ureq::Error, Option<String>),
    Redirect(String),
}

#[derive(Clone)]
struct CachedToken {
    value: String,
    expires: Instant,
}

impl RegistryClient {
    /// A client for `registry` (a host with an optional port, as in image references;
    /// `docker.io` means Docker Hub).
    ///
    /// Nothing is sent yet; credentials are looked up when the registry first asks for them.
    ///
    /// # Errors
    /// When the host is not valid or [`RegistryOptions::ca_file`] cannot be read.
    pub fn new(registry: &str, options: &RegistryOptions) -> Result<RegistryClient, Error> {
        let valid = !registry.is_empty()
            && registry.len() <= 255
            && registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !valid {
            return Err(Error::InvalidSource {
                input: registry.chars().take(256).collect(),
                reason: "invalid registry host (expected HOST or HOST:PORT)".into(),
            });
        }
        let registry = registry.to_ascii_lowercase();
        let api_host = if registry == DOCKER_HUB || registry == "index.docker.io" {
            DOCKER_HUB_API_HOST.to_owned()
        } else {
            registry.clone()
        };
        let plain = plain_http_allowed(&api_host, &options.insecure);
        let origin = format!("{}://{api_host}", if plain { "http" } else { "https" });
        let http = HttpClient::new(
            &HttpOptions {
                insecure: options.insecure.clone(),
                ca_file: options.ca_file.clone(),
                deadline: options.deadline,
            },
            is_loopback(split_host_port(&api_host).0),
        )?;
        let explicit = options.username.as_ref().map(|u| Credentials::Basic {
            username: u.clone(),
            password: options.password.clone().unwrap_or_default(),
        });
        let docker_config = docker_config_path(
            options.docker_config.as_deref(),
            std::env::var_os("DOCKER_CONFIG"),
            std::env::var_os("HOME"),
        );
        Ok(RegistryClient {
            registry,
            origin,
            http,
            explicit,
            docker_config,
            loaded: Mutex::new(None),
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The registry as named in references, e.g. `docker.io` or `127.0.0.1:5000`.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Where API requests go, e.g. `https://registry-1.docker.io` or `http://127.0.0.1:5000`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.origin
    }

    /// Fetches a manifest or index by tag or digest, sending `accept` (empty: every manifest
    /// type this crate reads, [`media_type::ACCEPT_MANIFESTS`]).
    ///
    /// Returns the bytes, the `Content-Type` the registry declared, and the digest of the
    /// bytes. When `reference` is a digest, the bytes are checked against it.
    ///
    /// # Errors
    /// [`Error::Registry`] (with the URL, the status and the registry's message) when the
    /// request fails, [`Error::DigestMismatch`] when the bytes do not match the digest asked
    /// for, [`Error::TooLarge`] past [`MAX_DOCUMENT_BYTES`].
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<(Vec<u8>, Option<String>, Digest), Error> {
        self.fetch_manifest(repository, reference, accept, None)
    }

    fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &[&str],
        what: Option<&str>,
    ) -> Result<(Vec<u8>, Option<String>, Digest), Error> {
        let url = self.manifest_url(repository, reference)?;
        let what = what.map_or_else(|| format!("manifest {}", display_url(&url)), str::to_owned);
        let req = Req::new(Method::Get, url.clone()).header("accept", accept_header(accept));
        let resp = self.send(&req, repository, Access::Pull)?;
        if resp.status().as_u16() != 200 {
            return Err(status_error(&url, resp, None));
        }
        let content_type = content_type(&resp);
        let bytes = read_bounded(resp, MAX_DOCUMENT_BYTES, &what, &url)?;
        let digest = match reference.parse::<Digest>() {
            Ok(expected) => {
                verify(&bytes, &expected, &what)?;
                expected
            }
            Err(_) => Digest::sha256_of(&bytes),
        };
        Ok((bytes, content_type, digest))
    }

    /// Asks for a manifest's descriptor without fetching it (`HEAD`): its media type, digest
    /// and size. `Ok(None)` when the registry does not have it.
    ///
    /// The digest is the registry's word (`Docker-Content-Digest`); when asking by digest, a
    /// different answer is an error. When the registry does not state the digest, size or
    /// media type, the manifest is fetched and hashed instead.
    ///
    /// # Errors
    /// As [`RegistryClient::get_manifest`].
    pub fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<Descriptor>, Error> {
        let url = self.manifest_url(repository, reference)?;
        let req = Req::new(Method::Head, url.clone()).header("accept", accept_header(accept));
        let resp = self.send(&req, repository, Access::Pull)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(status_error(&url, resp, None)),
        }
        let declared =
            header_str(&resp, DIGEST_HEADER).and_then(|d| d.trim().parse::<Digest>().ok());
        let size = header_str(&resp, "content-length").and_then(|s| s.trim().parse::<u64>().ok());
        let media_type = content_type(&resp);
        let asked = reference.parse::<Digest>().ok();
        if let (Some(asked), Some(declared)) = (&asked, &declared)
            && asked != declared
            && asked.algorithm() == declared.algorithm()
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest {} (Docker-Content-Digest)", display_url(&url)),
                expected: asked.clone(),
                actual: declared.clone(),
            });
        }
        match (declared.or(asked), size, media_type) {
            (Some(digest), Some(size), Some(media_type)) => Ok(Some(Descriptor {
                media_type,
                digest,
                size,
                platform: None,
                annotations: std::collections::BTreeMap::new(),
            })),
            _ => {
                let (bytes, media_type, digest) =
                    self.get_manifest(repository, reference, accept)?;
                Ok(Some(Descriptor {
                    media_type: media_type.unwrap_or_default(),
                    digest,
                    size: bytes.len() as u64,
                    platform: None,
                    annotations: std::collections::BTreeMap::new(),
                }))
            }
        }
    }

    /// Opens a blob as a stream. Redirects (to object storage) are followed without the
    /// registry's credentials.
    ///
    /// The stream is not verified here: the caller hashes what it reads and compares with
    /// `digest` (the image reader does so for every layer and config).
    ///
    /// # Errors
    /// [`Error::MissingBlob`] when the registry does not have it, [`Error::Registry`] for
    /// other failures.
    pub fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send>, Error> {
        let url = self.blob_url(repository, digest)?;
        let resp = self.send(
            &Req::new(Method::Get, url.clone()),
            repository,
            Access::Pull,
        )?;
        match resp.status().as_u16() {
            200 => {
                let deadline = resp
                    .extensions()
                    .get::<Deadline>()
                    .copied()
                    .unwrap_or_else(|| self.http.start());
                Ok(Box::new(BodyReader::new(resp, url, deadline)))
            }
            404 => {
                let detail = format!("GET {}: {}", display_url(&url), status_reason(resp));
                Err(Error::MissingBlob {
                    source_name: format!("{}/{repository}", self.registry),
                    digest: digest.clone(),
                    detail,
                })
            }
            _ => Err(status_error(&url, resp, None)),
        }
    }

    /// Whether the repository holds the blob (`HEAD`).
    ///
    /// # Errors
    /// [`Error::Registry`] when the registry answers anything but 200 or 404.
    pub fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, Error> {
        self.blob_exists_as(repository, digest, Access::Pull)
    }

    fn blob_exists_as(
        &self,
        repository: &str,
        digest: &Digest,
        access: Access,
    ) -> Result<bool, Error> {
        let url = self.blob_url(repository, digest)?;
        let resp = self.send(&Req::new(Method::Head, url.clone()), repository, access)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(status_error(&url, resp, None)),
        }
    }

    /// Uploads a blob unless the repository already has it: `POST` to start an upload, then
    /// one monolithic `PUT` with `?digest=`. Returns the blob's sha256 digest.
    ///
    /// Meant for small blobs (configs, signatures, attestations): the whole blob is in memory.
    ///
    /// # Errors
    /// [`Error::Registry`] when a step fails, [`Error::DigestMismatch`] when the registry
    /// reports a different digest for what it stored.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256_of(bytes);
        if self.blob_exists_as(repository, &digest, Access::Push)? {
            return Ok(digest);
        }
        check_repository(repository)?;
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.origin);
        let req = Req::new(Method::Post, start.clone()).body(&[]);
        let resp = self.send(&req, repository, Access::Push)?;
        if resp.status().as_u16() != 202 {
            return Err(status_error(&start, resp, Some("starting the upload")));
        }
        let location = header_str(&resp, "location").ok_or_else(|| Error::Registry {
            url: display_url(&start),
            reason: "202 Accepted without a Location header for the upload".into(),
        })?;
        let upload = resolve_url(&start, location).ok_or_else(|| Error::Registry {
            url: display_url(&start),
            reason: "the upload Location header is not a usable URL".into(),
        })?;
        self.check_scheme(&upload)
            .map_err(|reason| Error::Registry {
                url: display_url(&start),
                reason,
            })?;
        drop(resp);
        let separator = if upload.contains('?') { '&' } else { '?' };
        let put_url = format!(
            "{upload}{separator}digest={}",
            percent_encode(&digest.to_string())
        );
        let req = Req::new(Method::Put, put_url.clone())
            .header("content-type", "application/octet-stream")
            .body(bytes);
        let resp = if same_origin(&put_url, &self.origin) {
            self.send(&req, repository, Access::Push)?
        } else {
            self.execute(&req, None)?
        };
        if resp.status().as_u16() != 201 {
            return Err(status_error(&put_url, resp, Some("uploading the blob")));
        }
        check_declared_digest(&resp, &digest, &put_url, "blob")?;
        Ok(digest)
    }

    /// Stores a manifest (or index) under `reference` (a tag or its digest) with the given
    /// media type. Returns the manifest's sha256 digest.
    ///
    /// # Errors
    /// [`Error::TooLarge`] past [`MAX_DOCUMENT_BYTES`], [`Error::DigestMismatch`] when
    /// `reference` is a digest the bytes do not hash to, or when the registry reports a
    /// different digest, [`Error::Registry`] when the registry refuses it.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, Error> {
        let url = self.manifest_url(repository, reference)?;
        let what = format!("manifest pushed to {}", display_url(&url));
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(Error::TooLarge {
                what,
                size: bytes.len() as u64,
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let digest = match reference.parse::<Digest>() {
            Ok(d) => {
                verify(bytes, &d, &what)?;
                d
            }
            Err(_) => Digest::sha256_of(bytes),
        };
        let req = Req::new(Method::Put, url.clone())
            .header("content-type", media_type)
            .body(bytes);
        let resp = self.send(&req, repository, Access::Push)?;
        if resp.status().as_u16() != 201 {
            return Err(status_error(&url, resp, Some("storing the manifest")));
        }
        check_declared_digest(&resp, &digest, &url, "manifest")?;
        Ok(digest)
    }

    /// Lists a repository's tags, following pagination (`Link: <…>; rel="next"`).
    ///
    /// # Errors
    /// [`Error::Registry`] when the registry refuses (e.g. `NAME_UNKNOWN`), [`Error::Malformed`]
    /// when the answer is not a tag list.
    pub fn list_tags(&self, repository: &str) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        check_repository(repository)?;
        let mut url = format!("{}/v2/{repository}/tags/list", self.origin);
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = Req::new(Method::Get, url.clone()).header("accept", "application/json");
            let resp = self.send(&req, repository, Access::Pull)?;
            if resp.status().as_u16() != 200 {
                return Err(status_error(&url, resp, None));
            }
            let next = next_link(&resp, &url);
            let what = format!("tag list {}", display_url(&url));
            let bytes = read_bounded(resp, MAX_DOCUMENT_BYTES, &what, &url)?;
            let page: TagList =
                serde_json::from_slice(&bytes).map_err(|e| Error::malformed(&what, e))?;
            tags.extend(page.tags.unwrap_or_default());
            if tags.len() > MAX_TAGS {
                return Err(Error::malformed(what, format!("more than {MAX_TAGS} tags")));
            }
            match next {
                Some(n) if same_origin(&n, &self.origin) => url = n,
                _ => return Ok(tags),
            }
        }
        Err(Error::malformed(
            format!("tag list of {}/{repository}", self.registry),
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// Lists the manifests that refer to `digest` through the OCI 1.1 referrers API, as an
    /// index (pages are merged). `Ok(None)` when the registry has no referrers API (404), so
    /// the caller can fall back to the `sha256-<hex>` tag scheme.
    ///
    /// # Errors
    /// [`Error::Registry`] for other failures, [`Error::Malformed`] when the answer is not an
    /// index.
    pub fn get_referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Index>, Error> {
        check_repository(repository)?;
        let mut url = format!("{}/v2/{repository}/referrers/{digest}", self.origin);
        let mut merged: Option<Index> = None;
        for _ in 0..MAX_PAGES {
            let req = Req::new(Method::Get, url.clone()).header("accept", media_type::OCI_INDEX);
            let resp = self.send(&req, repository, Access::Pull)?;
            match resp.status().as_u16() {
                200 => {}
                404 if merged.is_none() => return Ok(None),
                _ => return Err(status_error(&url, resp, None)),
            }
            let next = next_link(&resp, &url);
            let what = format!("referrers {}", display_url(&url));
            let bytes = read_bounded(resp, MAX_DOCUMENT_BYTES, &what, &url)?;
            let page: Index =
                serde_json::from_slice(&bytes).map_err(|e| Error::malformed(&what, e))?;
            match &mut merged {
                None => merged = Some(page),
                Some(m) => {
                    m.manifests.extend(page.manifests);
                    if m.manifests.len() > MAX_TAGS {
                        return Err(Error::malformed(
                            what,
                            format!("more than {MAX_TAGS} referrers"),
                        ));
                    }
                }
            }
            match next {
                Some(n) if same_origin(&n, &self.origin) => url = n,
                _ => return Ok(merged),
            }
        }
        Err(Error::malformed(
            format!("referrers of {digest} in {}/{repository}", self.registry),
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    fn manifest_url(&self, repository: &str, reference: &str) -> Result<String, Error> {
        check_repository(repository)?;
        let valid_tag = !reference.is_empty()
            && reference.len() <= 128
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && !reference.starts_with(['.', '-']);
        if !valid_tag && reference.parse::<Digest>().is_err() {
            return Err(Error::InvalidSource {
                input: reference.chars().take(256).collect(),
                reason: "not a valid tag or digest".into(),
            });
        }
        Ok(format!(
            "{}/v2/{repository}/manifests/{reference}",
            self.origin
        ))
    }

    fn blob_url(&self, repository: &str, digest: &Digest) -> Result<String, Error> {
        check_repository(repository)?;
        Ok(format!("{}/v2/{repository}/blobs/{digest}", self.origin))
    }

    // ----- authentication -----

    /// Sends a request to the registry, authenticating as the registry asks: anonymous first,
    /// then with a token or basic credentials after a 401, once.
    fn send(
        &self,
        req: &Req<'_>,
        repository: &str,
        access: Access,
    ) -> Result<Response<Body>, Error> {
        let scope = access.scope(repository);
        let mut auth = self.known_authorization(&scope)?;
        let mut answered_challenge = false;
        loop {
            let resp = self.execute(req, auth.as_deref())?;
            if resp.status().as_u16() != 401 {
                return Ok(resp);
            }
            let challenge = pick_challenge(
                resp.headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            let Some(challenge) = challenge.filter(|_| !answered_challenge) else {
                let hint = self.unauthorized_hint(&scope)?;
                return Err(status_error(&req.url, resp, Some(&hint)));
            };
            let basic_without_credentials = matches!(challenge, Challenge::Basic { .. })
                && self.credentials()?.and_then(|c| c.basic_header()).is_none();
            if basic_without_credentials {
                let hint = self.unauthorized_hint(&scope)?;
                return Err(status_error(&req.url, resp, Some(&hint)));
            }
            drop(resp);
            answered_challenge = true;
            lock(&self.tokens).remove(&scope);
            *lock(&self.challenge) = Some(challenge.clone());
            auth = Some(self.authorize(&challenge, &scope)?);
        }
    }

    fn unauthorized_hint(&self, scope: &str) -> Result<String, Error> {
        Ok(if self.credentials()?.is_some() {
            format!(
                "the credentials for {} were refused or lack access to {scope}",
                self.registry
            )
        } else {
            format!(
                "no credentials for {} (set a username and password, or log in with `docker login {}`)",
                self.registry, self.registry
            )
        })
    }

    /// The `Authorization` value to start with, from what earlier challenges taught.
    fn known_authorization(&self, scope: &str) -> Result<Option<String>, Error> {
        if let Some(token) = self.cached_token(scope) {
            return Ok(Some(format!("Bearer {token}")));
        }
        let challenge = lock(&self.challenge).clone();
        match challenge {
            None => Ok(None),
            Some(c @ Challenge::Bearer { .. }) => self.authorize(&c, scope).map(Some),
            Some(Challenge::Basic { .. }) => Ok(self.credentials()?.and_then(|c| c.basic_header())),
        }
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = lock(&self.tokens);
        let now = Instant::now();
        let usable = |key: &str| {
            tokens
                .get(key)
                .filter(|t| t.expires > now)
                .map(|t| t.value.clone())
        };
        // A push token also allows pulling.
        usable(scope).or_else(|| {
            scope
                .strip_suffix(":pull")
                .and_then(|base| usable(&format!("{base}:pull,push")))
        })
    }

    /// Answers a challenge: fetches a token for `scope`, or uses basic credentials.
    fn authorize(&self, challenge: &Challenge, scope: &str) -> Result<String, Error> {
        match challenge {
            Challenge::Bearer {
                realm,
                service,
                scope: challenge_scope,
            } => {
                let mut scopes = vec![scope.to_owned()];
                if let Some(s) = challenge_scope
                    && !s.is_empty()
                    && s != scope
                    && !scope.ends_with(":pull,push")
                {
                    scopes.push(s.clone());
                }
                let token = self.fetch_token(realm, service.as_deref(), &scopes)?;
                lock(&self.tokens).insert(scope.to_owned(), token.clone());
                Ok(format!("Bearer {}", token.value))
            }
            Challenge::Basic { .. } => {
                // `send` answers a basic challenge only when there is a username and password.
                self.credentials()?.and_then(|c| c.basic_header()).ok_or_else(|| Error::Registry {
                    url: self.origin.clone(),
                    reason: format!(
                        "the registry asks for a username and password, and there are none for {} (an identity token cannot be used)",
                        self.registry
                    ),
                })
            }
        }
    }

    /// Gets a token from a `Bearer` realm for `scopes`.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<CachedToken, Error> {
        #[derive(Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let realm_err = |reason: String| Error::Registry {
            url: display_url(realm),
            reason,
        };
        if origin_of(realm).is_none() {
            return Err(realm_err("the token realm is not an http(s) URL".into()));
        }
        self.check_scheme(realm)
            .map_err(|r| realm_err(format!("refusing the token realm: {r}")))?;
        let credentials = self.credentials()?;
        let mut params: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            params.push(("service", s));
        }
        let resp = match &credentials {
            Some(Credentials::IdentityToken { token, .. }) => {
                // OAuth2 refresh-token grant, as `docker login` identity tokens require.
                let joined = scopes.join(" ");
                params.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", "palisade"),
                    ("refresh_token", token.as_str()),
                    ("scope", joined.as_str()),
                ]);
                let form = encode_pairs(&params);
                let req = Req::new(Method::Post, realm.to_owned())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.as_bytes());
                self.execute(&req, None)?
            }
            other => {
                for s in scopes {
                    params.push(("scope", s));
                }
                let separator = if realm.contains('?') { '&' } else { '?' };
                let url = format!("{realm}{separator}{}", encode_pairs(&params));
                let auth = other.as_ref().and_then(Credentials::basic_header);
                self.execute(&Req::new(Method::Get, url), auth.as_deref())?
            }
        };
        if resp.status().as_u16() != 200 {
            let hint = if credentials.is_some() {
                format!(
                    "the token server refused the credentials for {}",
                    self.registry
                )
            } else {
                "the token server refused an anonymous token".to_owned()
            };
            return Err(status_error(realm, resp, Some(&hint)));
        }
        let what = format!("token response from {}", display_url(realm));
        let bytes = read_bounded(resp, MAX_TOKEN_BYTES, &what, realm)?;
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| Error::malformed(&what, e))?;
        let value = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| Error::malformed(&what, "neither `token` nor `access_token` is set"))?;
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::malformed(
                &what,
                "the token has characters not allowed in a header",
            ));
        }
        // The distribution spec's default lifetime is 60 s; keep a margin for the clock.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).clamp(60, 24 * 3600));
        Ok(CachedToken {
            value,
            expires: Instant::now() + lifetime - Duration::from_secs(10),
        })
    }

    fn credentials(&self) -> Result<Option<Credentials>, Error> {
        if let Some(c) = &self.explicit {
            return Ok(Some(c.clone()));
        }
        let mut loaded = lock(&self.loaded);
        if let Some(c) = &*loaded {
            return Ok(c.clone());
        }
        let found = match &self.docker_config {
            Some(path) => lookup_credentials(path, &self.registry, None)?,
            None => None,
        };
        *loaded = Some(found.clone());
        Ok(found)
    }

    /// Whether `url` may be requested: HTTPS, or plain HTTP to loopback and insecure hosts.
    fn check_scheme(&self, url: &str) -> Result<(), String> {
        self.http.check_url(url)
    }

    // ----- transport -----

    /// Sends a request with retries on transient failures; follows redirects of GET and HEAD
    /// requests, sending `auth` only to the origin of the request.
    ///
    /// One deadline ([`RegistryOptions::deadline`]) covers every attempt and redirect, and
    /// the reading of the body: it is stored in the response's extensions for
    /// [`BodyReader`].
    fn execute(&self, req: &Req<'_>, auth: Option<&str>) -> Result<Response<Body>, Error> {
        let deadline = self.http.start();
        let mut attempt = 1;
        loop {
            let outcome = self.execute_once(req, auth, &deadline);
            let delay = match &outcome {
                Ok(resp)
                    if RETRY_STATUSES.contains(&resp.status().as_u16())
                        && attempt < MAX_ATTEMPTS =>
                {
                    retry_delay(attempt, header_str(resp, "retry-after"))
                }
                Err(SendError::Http(e, _)) if is_transient(e) && attempt < MAX_ATTEMPTS => {
                    retry_delay(attempt, None)
                }
                _ => {
                    return outcome.map_err(|e| Error::Registry {
                        url: display_url(&req.url),
                        reason: match e {
                            SendError::Http(e, hop) => {
                                let tries = if attempt > 1 {
                                    format!(" (after {attempt} attempts)")
                                } else {
                                    String::new()
                                };
                                let hop = hop.map_or_else(String::new, |h| {
                                    format!(" (after a redirect to {})", display_url(&h))
                                });
                                format!("{}{hop}{tries}", describe_transport_error(&e, &deadline))
                            }
                            SendError::Redirect(reason) => reason,
                        },
                    });
                }
            };
            drop(outcome);
            // No retry that would start after the deadline.
            if deadline.remaining().is_none_or(|left| left <= delay) {
                return Err(Error::Registry {
                    url: display_url(&req.url),
                    reason: format!("{} (after {attempt} attempts)", deadline.exceeded()),
                });
            }
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    fn execute_once(
        &self,
        req: &Req<'_>,
        auth: Option<&str>,
        deadline: &Deadline,
    ) -> Result<Response<Body>, SendError> {
        let first_origin = origin_of(&req.url);
        let mut url = req.url.clone();
        let mut method = req.method;
        for _ in 0..=MAX_REDIRECTS {
            let send_auth = if origin_of(&url) == first_origin {
                auth
            } else {
                None
            };
            let Some(left) = deadline.remaining() else {
                return Err(SendError::Redirect(deadline.exceeded()));
            };
            let mut resp = self
                .send_raw(method, &url, &req.headers, send_auth, req.body, left)
                .map_err(|e| SendError::Http(e, (url != req.url).then(|| url.clone())))?;
            resp.extensions_mut().insert(*deadline);
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308)
                || !matches!(req.method, Method::Get | Method::Head)
            {
                return Ok(resp);
            }
            let Some(location) = header_str(&resp, "location") else {
                return Ok(resp);
            };
            let next = resolve_url(&url, location).ok_or_else(|| {
                SendError::Redirect(format!("{status} redirect to an unusable Location"))
            })?;
            self.http
                .check_redirect(&url, &next)
                .map_err(SendError::Redirect)?;
            if status == 303 && method != Method::Head {
                method = Method::Get;
            }
            url = next;
        }
        Err(SendError::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    fn send_raw(
        &self,
        method: Method,
        url: &str,
        headers: &[(&'static str, String)],
        auth: Option<&str>,
        body: Option<&[u8]>,
        left: Duration,
    ) -> Result<Response<Body>, ureq::Error> {
        fn with_headers<B>(
            rb: ureq::RequestBuilder<B>,
            headers: &[(&'static str, String)],
            auth: Option<&str>,
            left: Duration,
        ) -> ureq::RequestBuilder<B> {
            let mut rb = rb.config().timeout_global(Some(left)).build();
            for (name, value) in headers {
                rb = rb.header(*name, value.as_str());
            }
            if let Some(a) = auth {
                rb = rb.header("authorization", a);
            }
            rb
        }
        let agent = self.http.agent();
        match method {
            Method::Get => with_headers(agent.get(url), headers, auth, left).call(),
            Method::Head => with_headers(agent.head(url), headers, auth, left).call(),
            Method::Post => {
                with_headers(agent.post(url), headers, auth, left).send(body.unwrap_or_default())
            }
            Method::Put => {
                with_headers(agent.put(url), headers, auth, left).send(body.unwrap_or_default())
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_transient(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            K::ConnectionReset
                | K::ConnectionAborted
                | K::ConnectionRefused
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::TimedOut
                | K::Interrupted
                | K::NotConnected
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::BodyStalled => true,
        _ => false,
    }
}

/// How long to wait before attempt `attempt + 1`: `Retry-After` seconds when given (capped
/// at 30 s), else 200 ms doubling per attempt plus up to half as much jitter.
pub(crate) fn retry_delay(attempt: u32, retry_after: Option<&str>) -> Duration {
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs).min(MAX_RETRY_AFTER);
    }
    let base = BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let half_ms = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX);
    let jitter =
        std::collections::hash_map::RandomState::new().hash_one(Instant::now()) % (half_ms + 1);
    base + Duration::from_millis(jitter)
}

// ----- responses -----

fn header_str<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn content_type(resp: &Response<Body>) -> Option<String> {
    header_str(resp, "content-type")
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn accept_header(accept: &[&str]) -> String {
    if accept.is_empty() {
        media_type::ACCEPT_MANIFESTS.join(", ")
    } else {
        accept.join(", ")
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
fn read_bounded(resp: Response<Body>, limit: u64, what: &str, url: &str) -> Result<Vec<u8>, Error> {
    let too_large = |size: u64| Error::TooLarge {
        what: what.to_owned(),
        size,
        limit,
    };
    if let Some(len) =
        header_str(&resp, "content-length").and_then(|v| v.trim().parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large(len));
    }
    let mut buf = Vec::new();
    let deadline = resp.extensions().get::<Deadline>().copied();
    let body: Box<dyn Read> = match deadline {
        Some(d) => Box::new(BodyReader::new(resp, url.to_owned(), d)),
        None => Box::new(resp.into_body().into_reader()),
    };
    body.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Registry {
            url: display_url(url),
            reason: format!("reading the response failed: {e}"),
        })?;
    if buf.len() as u64 > limit {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

/// `404 Not Found: MANIFEST_UNKNOWN: manifest unknown`, from the status and the registry's
/// JSON errors (or the start of a text body).
fn status_reason(resp: Response<Body>) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let status = resp.status();
    let mut line = match status.canonical_reason() {
        Some(r) => format!("{} {r}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    let mut body = Vec::new();
    // Errors while reading an error body only lose detail.
    let _ = resp
        .into_body()
        .into_reader()
        .take(MAX_ERROR_BYTES)
        .read_to_end(&mut body);
    let messages: Vec<String> = serde_json::from_slice::<Errors>(&body)
        .map(|e| {
            e.errors
                .into_iter()
                .map(|x| match (x.code, x.message) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c,
                    (None, Some(m)) => m,
                    (None, None) => String::new(),
                })
                .filter(|s| !s.is_empty())
                .map(|s| sanitize(&s, 300))
                .collect()
        })
        .unwrap_or_default();
    if !messages.is_empty() {
        line.push_str(": ");
        line.push_str(&messages.join("; "));
    } else {
        let text = sanitize(String::from_utf8_lossy(&body).trim(), 200);
        if !text.is_empty() && !text.starts_with('<') {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

fn status_error(url: &str, resp: Response<Body>, hint: Option<&str>) -> Error {
    let status = resp.status().as_u16();
    let mut reason = status_reason(resp);
    if RETRY_STATUSES.contains(&status) {
        reason.push_str(&format!(" (gave up after {MAX_ATTEMPTS} attempts)"));
    }
    if let Some(h) = hint {
        reason.push_str(" (");
        reason.push_str(h);
        reason.push(')');
    }
    Error::Registry {
        url: display_url(url),
        reason,
    }
}

/// Keeps printable characters only, at most `max` of them.
fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

fn check_declared_digest(
    resp: &Response<Body>,
    digest: &Digest,
    url: &str,
    what: &str,
) -> Result<(), Error> {
    if let Some(declared) =
        header_str(resp, DIGEST_HEADER).and_then(|d| d.trim().parse::<Digest>().ok())
        && declared.algorithm() == digest.algorithm()
        && declared != *digest
    {
        return Err(Error::DigestMismatch {
            what: format!(
                "{what} stored at {} (Docker-Content-Digest)",
                display_url(url)
            ),
            expected: digest.clone(),
            actual: declared,
        });
    }
    Ok(())
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
fn next_link(resp: &Response<Body>, base: &str) -> Option<String> {
    resp.headers()
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.trim().strip_prefix('<')?.split_once('>')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next {
                resolve_url(base, target.trim())
            } else {
                None
            }
        })
}

// ----- URLs and hosts -----

fn check_repository(repository: &str) -> Result<(), Error> {
    let valid = !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        });
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidSource {
            input: repository.chars().take(256).collect(),
            reason:
                "repository must be lowercase letters, digits and separators ('.', '_', '-', '/')"
                    .into(),
        })
    }
}

fn same_origin(url: &str, origin: &str) -> bool {
    origin_of(url).is_some_and(|o| o == origin)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

// ----- WWW-Authenticate -----

/// An authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Get a token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    /// Send basic credentials.
    Basic { realm: Option<String> },
}

/// Parses one `WWW-Authenticate` value into its challenges: `(scheme, [(param, value)])`, with
/// schemes and parameter names lowercased and quoted values unescaped.
pub(crate) fn parse_www_authenticate(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let chars: Vec<char> = header.chars().collect();
    let mut i = 0;
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let is_token = |c: char| !c.is_whitespace() && !matches!(c, ',' | '=' | '"');
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        let start = i;
        while i < chars.len() && is_token(chars[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        let scheme: String = chars[start..i]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        let mut params = Vec::new();
        loop {
            let save = i;
            skip_ws(&mut i);
            let key_start = i;
            while i < chars.len() && is_token(chars[i]) {
                i += 1;
            }
            let key_end = i;
            skip_ws(&mut i);
            if key_end == key_start || i >= chars.len() || chars[i] != '=' {
                // Not `name=`: the next challenge's scheme (or a token68, which is ignored).
                i = save;
                break;
            }
            let key: String = chars[key_start..key_end]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase();
            i += 1;
            skip_ws(&mut i);
            let mut value = String::new();
            if i < chars.len() && chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                // The closing quote, when there is one.
                i = (i + 1).min(chars.len());
            } else {
                while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ',' {
                    value.push(chars[i]);
                    i += 1;
                }
            }
            params.push((key, value));
            skip_ws(&mut i);
            if i < chars.len() && chars[i] == ',' {
                i += 1;
                continue;
            }
            break;
        }
        out.push((scheme, params));
    }
    out
}

/// The challenge to answer among all `WWW-Authenticate` values: `Bearer` (with a realm)
/// before `Basic`.
pub(crate) fn pick_challenge<'h>(headers: impl IntoIterator<Item = &'h str>) -> Option<Challenge> {
    let all: Vec<(String, Vec<(String, String)>)> = headers
        .into_iter()
        .flat_map(parse_www_authenticate)
        .collect();
    let param = |params: &[(String, String)], name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let bearer = all.iter().find_map(|(scheme, params)| {
        let realm = param(params, "realm").filter(|r| !r.is_empty())?;
        (scheme == "bearer").then(|| Challenge::Bearer {
            realm,
            service: param(params, "service"),
            scope: param(params, "scope"),
        })
    });
    bearer.or_else(|| {
        all.iter()
            .find(|(scheme, _)| scheme == "basic")
            .map(|(_, params)| Challenge::Basic {
                realm: param(params, "realm"),
            })
    })
}

// ----- credentials -----

/// Credentials for one registry. `Debug` never shows secrets.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token from `docker login` (`identitytoken`, or a helper's
    /// `<token>` user).
    IdentityToken {
        username: Option<String>,
        token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username:?}, <redacted>)"),
            Credentials::IdentityToken { username, .. } => {
                write!(f, "IdentityToken({username:?}, <redacted>)")
            }
        }
    }
}

impl Credentials {
    fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            )),
            Credentials::IdentityToken { .. } => None,
        }
    }
}

/// Where the Docker client configuration is: `explicit`, else `$DOCKER_CONFIG/config.json`,
/// else `$HOME/.docker/config.json`.
pub(crate) fn docker_config_path(
    explicit: Option<&Path>,
    docker_config_env: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    if let Some(dir) = docker_config_env.filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    home.filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The host part of a Docker config key (`https://host/v1/` → `host`), lowercased.
fn config_key_host(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Finds the credentials for `registry` in the Docker configuration at `path`:
/// `credHelpers[host]`, then `credsStore`, then `auths` (keys matched as `host`,
/// `https://host`, `https://host/v1/`; Docker Hub as `https://index.docker.io/v1/`).
///
/// A missing file or helper means no credentials. `helper_path` replaces `PATH` for finding
/// `docker-credential-*` helpers (tests use it).
///
/// # Errors
/// When the file exists but cannot be read or is not JSON.
pub(crate) fn lookup_credentials(
    path: &Path,
    registry: &str,
    helper_path: Option<&OsStr>,
) -> Result<Option<Credentials>, Error> {
    let bytes = match std::fs::File::open(path) {
        Ok(f) => {
            let mut buf = Vec::new();
            f.take(MAX_DOCKER_CONFIG_BYTES + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(path, e))?;
            if buf.len() as u64 > MAX_DOCKER_CONFIG_BYTES {
                return Err(Error::TooLarge {
                    what: path.display().to_string(),
                    size: buf.len() as u64,
                    limit: MAX_DOCKER_CONFIG_BYTES,
                });
            }
            buf
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let config: DockerConfig = serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's message names a line and column, never the content.
        Error::malformed(
            path.display().to_string(),
            format!("not a Docker client configuration: {e}"),
        )
    })?;
    let registry = registry.to_ascii_lowercase();
    let hub = DOCKER_HUB_ALIASES.contains(&registry.as_str());
    let hosts: Vec<&str> = if hub {
        DOCKER_HUB_ALIASES.to_vec()
    } else {
        vec![registry.as_str()]
    };
    let server_url = if hub {
        DOCKER_HUB_AUTH_KEY.to_owned()
    } else {
        registry.clone()
    };
    let matches = |key: &str| hosts.contains(&config_key_host(key).as_str());

    let helper = config
        .cred_helpers
        .iter()
        .find(|(k, _)| matches(k))
        .map(|(_, v)| v.clone())
        .or(config.creds_store.clone())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper
        && let Some(c) = run_credential_helper(&helper, &server_url, helper_path)
    {
        return Ok(Some(c));
    }

    // Exact spellings first, then any key naming the same host.
    let exact = [
        server_url.clone(),
        format!("https://{registry}"),
        format!("https://{registry}/v1/"),
        format!("http://{registry}"),
    ];
    let entry = exact.iter().find_map(|k| config.auths.get(k)).or_else(|| {
        config
            .auths
            .iter()
            .find(|(k, _)| matches(k))
            .map(|(_, v)| v)
    });
    Ok(entry.and_then(entry_credentials))
}

fn entry_credentials(entry: &AuthEntry) -> Option<Credentials> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Some(Credentials::IdentityToken {
            username: entry.username.clone(),
            token: token.clone(),
        });
    }
    if let Some(auth) = entry
        .auth
        .as_ref()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        let decoded = STANDARD
            .decode(auth)
            .or_else(|_| STANDARD_NO_PAD.decode(auth))
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Credentials::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        }),
        _ => None,
    }
}

/// Runs `docker-credential-HELPER get` with `server_url` on stdin. Any failure (no such
/// helper, no credentials stored, a timeout, bad output) means no credentials.
pub(crate) fn run_credential_helper(
    helper: &str,
    server_url: &str,
    path: Option<&OsStr>,
) -> Option<Credentials> {
    #[derive(Deserialize)]
    struct HelperOutput {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return None;
    }
    let mut command = Command::new(format!("docker-credential-{helper}"));
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(p) = path {
        command.env("PATH", p);
    }
    let mut child = command.spawn().ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(server_url.as_bytes());
    }
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let result = stdout
            .take(MAX_HELPER_OUTPUT_BYTES)
            .read_to_end(&mut buf)
            .map(|_| buf);
        let _ = tx.send(result);
    });
    let deadline = Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let output = rx.recv_timeout(Duration::from_secs(5)).ok()?.ok()?;
    if !status.success() {
        return None;
    }
    let parsed: HelperOutput = serde_json::from_slice(&output).ok()?;
    if parsed.secret.is_empty() {
        return None;
    }
    if parsed.username == "<token>" {
        Some(Credentials::IdentityToken {
            username: None,
            token: parsed.secret,
        })
    } else {
        Some(Credentials::Basic {
            username: parsed.username,
            password: parsed.secret,
        })
    }
}

// ----- the image reader's store -----

/// A repository of a registry as a blob store for the image reader.
pub(crate) struct RegistryStore {
    client: RegistryClient,
    repository: String,
}

impl RegistryStore {
    pub(crate) fn connect(reference: &Reference, options: &RegistryOptions) -> Result<Self, Error> {
        Ok(RegistryStore {
            client: RegistryClient::new(reference.registry(), options)?,
            repository: reference.repository().to_owned(),
        })
    }

    pub(crate) fn fetch_manifest(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, Digest), Error> {
        self.client
            .get_manifest(&self.repository, reference, media_type::ACCEPT_MANIFESTS)
    }
}

impl Store for RegistryStore {
    fn open(&self, key: &BlobKey) -> Result<Box<dyn Read + Send + '_>, Error> {
        match key {
            BlobKey::Digest(d) => self.client.get_blob(&self.repository, d),
            BlobKey::Path(p) => Err(Error::malformed(
                format!("{}/{}", self.client.registry(), self.repository),
                format!("registries hold blobs by digest, not by path ({p:?})"),
            )),
        }
    }

    fn manifest(&self, digest: &Digest, what: &str) -> Result<(Vec<u8>, Option<String>), Error> {
        let (bytes, content_type, _) = self.client.fetch_manifest(
            &self.repository,
            &digest.to_string(),
            media_type::ACCEPT_MANIFESTS,
            Some(what),
        )?;
        Ok((bytes, content_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_bearer_challenge_with_quoted_commas() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull,push""#;
        assert_eq!(
            parse_www_authenticate(h),
            vec![(
                "bearer".to_owned(),
                params(&[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:library/debian:pull,push"),
                ])
            )]
        );
        assert_eq!(
            pick_challenge([h]),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/debian:pull,push".into()),
            })
        );
    }

    #[test]
    fn parses_basic_unquoted_escaped_and_several_challenges() {
        assert_eq!(
            parse_www_authenticate("Basic realm=Registry"),
            vec![("basic".to_owned(), params(&[("realm", "Registry")]))]
        );
        assert_eq!(
            parse_www_authenticate(r#"BASIC Realm = "a \"quoted\" realm""#),
            vec![(
                "basic".to_owned(),
                params(&[("realm", "a \"quoted\" realm")])
            )]
        );
        let both = r#"Basic realm="r1", Bearer realm="https://t/token", service=svc"#;
        assert_eq!(
            parse_www_authenticate(both),
            vec![
                ("basic".to_owned(), params(&[("realm", "r1")])),
                (
                    "bearer".to_owned(),
                    params(&[("realm", "https://t/token"), ("service", "svc")])
                ),
            ]
        );
        // Bearer wins over Basic, across headers too.
        assert!(matches!(
            pick_challenge([both]),
            Some(Challenge::Bearer { .. })
        ));
        assert!(matches!(
            pick_challenge(["Basic realm=x", "Bearer realm=\"https://t/\""]),
            Some(Challenge::Bearer { .. })
        ));
        // A token68 after the scheme does not hide the next challenge.
        let parsed = parse_www_authenticate("Negotiate abc==, Basic realm=\"r\"");
        assert_eq!(parsed.len(), 2, "{parsed:?}");
        assert_eq!(parsed[1], ("basic".to_owned(), params(&[("realm", "r")])));
        assert_eq!(
            parse_www_authenticate("Basic"),
            vec![("basic".to_owned(), vec![])]
        );
    }

    #[test]
    fn challenges_without_a_usable_scheme_are_ignored() {
        assert_eq!(pick_challenge(["Bearer service=x"]), None);
        assert_eq!(pick_challenge(["Negotiate"]), None);
        assert_eq!(pick_challenge([""]), None);
        assert_eq!(
            pick_challenge(["Basic"]),
            Some(Challenge::Basic { realm: None })
        );
        // Hostile input never panics.
        for junk in [
            "=",
            "\"",
            "Bearer realm=\"unterminated",
            ",,,",
            "Bearer ,realm=",
            "a=b=c",
            "Basic realm=\\",
        ] {
            let _ = pick_challenge([junk]);
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        assert_eq!(retry_delay(1, Some("3")), Duration::from_secs(3));
        assert_eq!(retry_delay(2, Some(" 0 ")), Duration::ZERO);
        assert_eq!(retry_delay(1, Some("3600")), MAX_RETRY_AFTER);
        // A date (or junk) falls back to the backoff.
        for (attempt, base) in [(1, 200), (2, 400), (3, 800)] {
            let d = retry_delay(attempt, Some("Wed, 21 Oct 2015 07:28:00 GMT"));
            assert!(
                d >= Duration::from_millis(base) && d <= Duration::from_millis(base * 3 / 2),
                "{attempt}: {d:?}"
            );
            let d = retry_delay(attempt, None);
            assert!(d >= Duration::from_millis(base) && d <= Duration::from_millis(base * 3 / 2));
        }
    }

    #[test]
    fn hosts_and_schemes() {
        assert_eq!(
            split_host_port("127.0.0.1:5000"),
            ("127.0.0.1", Some("5000"))
        );
        assert_eq!(split_host_port("[::1]:5000"), ("::1", Some("5000")));
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        for loopback in [
            "127.0.0.1:5000",
            "127.3.4.5",
            "localhost:80",
            "LOCALHOST",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(plain_http_allowed(loopback, &[]), "{loopback}");
        }
        assert!(!plain_http_allowed("example.com:5000", &[]));
        assert!(!plain_http_allowed("128.0.0.1", &[]));
        let insecure = vec!["reg.lan:5000".to_owned(), "other.lan".to_owned()];
        assert!(plain_http_allowed("reg.lan:5000", &insecure));
        assert!(!plain_http_allowed("reg.lan:6000", &insecure));
        assert!(plain_http_allowed("other.lan:6000", &insecure));
        assert!(plain_http_allowed("other.lan", &insecure));

        let c = RegistryClient::new("docker.io", &RegistryOptions::default()).unwrap();
        assert_eq!(c.base_url(), "https://registry-1.docker.io");
        let c = RegistryClient::new("127.0.0.1:5000", &RegistryOptions::default()).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:5000");
        let c = RegistryClient::new("ghcr.io", &RegistryOptions::default()).unwrap();
        assert_eq!(c.base_url(), "https://ghcr.io");
        assert!(RegistryClient::new("bad host/x", &RegistryOptions::default()).is_err());
        assert!(c.check_scheme("http://evil.example/token").is_err());
        assert!(c.check_scheme("https://auth.example/token").is_ok());
        assert!(c.check_scheme("http://127.0.0.1:9/token").is_ok());
    }

    #[test]
    fn urls_resolve_and_display_without_secrets() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        assert_eq!(
            resolve_url(base, "/v2/a/blobs/uploads/u1?_state=x").as_deref(),
            Some("http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=x")
        );
        assert_eq!(
            resolve_url(base, "u2").as_deref(),
            Some("http://127.0.0.1:5000/v2/a/blobs/uploads/u2")
        );
        assert_eq!(
            resolve_url(base, "https://s3.example/b?sig=1").as_deref(),
            Some("https://s3.example/b?sig=1")
        );
        assert_eq!(
            resolve_url("https://r.io/v2/x", "//cdn.example/p").as_deref(),
            Some("https://cdn.example/p")
        );
        assert_eq!(resolve_url(base, "ftp://x/y"), None);
        assert_eq!(resolve_url(base, "a\r\nb"), None);
        assert_eq!(
            display_url("https://user:pw@s3.example/bucket/key?X-Amz-Signature=abc"),
            "https://s3.example/bucket/key"
        );
        assert_eq!(
            origin_of("HTTP://Reg.IO:5000/v2/"),
            Some("http://reg.io:5000".into())
        );
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/x",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:5001/v2/x",
            "http://127.0.0.1:5000"
        ));
        assert_eq!(
            encode_pairs(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
    }

    #[test]
    fn docker_config_location() {
        let explicit = Path::new("/etc/x.json");
        assert_eq!(
            docker_config_path(Some(explicit), Some("/d".into()), Some("/h".into())),
            Some(PathBuf::from("/etc/x.json"))
        );
        assert_eq!(
            docker_config_path(None, Some("/d".into()), Some("/h".into())),
            Some(PathBuf::from("/d/config.json"))
        );
        assert_eq!(
            docker_config_path(None, Some("".into()), Some("/h".into())),
            Some(PathBuf::from("/h/.docker/config.json"))
        );
        assert_eq!(docker_config_path(None, None, None), None);
    }

    fn write_config(dir: &Path, json: &str) -> PathBuf {
        let path = dir.join("config.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn docker_config_auths_by_every_key_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let enc = |s: &str| STANDARD.encode(s);
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{
                    "https://index.docker.io/v1/": {{"auth": "{}"}},
                    "plain.example": {{"auth": "{}"}},
                    "https://scheme.example": {{"username": "u2", "password": "p2"}},
                    "https://v1.example:5000/v1/": {{"auth": "{}"}},
                    "token.example": {{"identitytoken": "refresh-me", "username": "tu"}},
                    "empty.example": {{}}
                }}}}"#,
                enc("hubuser:hub:pass"),
                enc("u1:p1"),
                enc("u3:p3")
            ),
        );
        let get = |r: &str| lookup_credentials(&path, r, Some(OsStr::new(""))).unwrap();
        assert_eq!(get("docker.io"), basic("hubuser", "hub:pass"));
        assert_eq!(get("index.docker.io"), basic("hubuser", "hub:pass"));
        assert_eq!(get("plain.example"), basic("u1", "p1"));
        assert_eq!(get("scheme.example"), basic("u2", "p2"));
        assert_eq!(get("v1.example:5000"), basic("u3", "p3"));
        assert_eq!(get("v1.example"), None);
        assert_eq!(
            get("token.example"),
            Some(Credentials::IdentityToken {
                username: Some("tu".into()),
                token: "refresh-me".into()
            })
        );
        assert_eq!(get("empty.example"), None);
        assert_eq!(get("other.example"), None);
        // Debug output never shows the secret.
        let shown = format!("{:?}", get("plain.example"));
        assert!(!shown.contains("p1"), "{shown}");

        assert_eq!(
            lookup_credentials(&dir.path().join("missing.json"), "x", None).unwrap(),
            None
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{ not json").unwrap();
        let err = lookup_credentials(&bad, "x", None).unwrap_err().to_string();
        assert!(err.contains("bad.json"), "{err}");
    }

    #[test]
    fn credential_helpers_are_run_with_the_server_url() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // The fake helper answers for two servers and records what it was asked.
        let log = dir.path().join("asked.log");
        let script = format!(
            r#"#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
echo "$server" >> '{}'
case "$server" in
  helped.example) printf '{{"ServerURL":"%s","Username":"hu","Secret":"hs"}}' "$server" ;;
  https://index.docker.io/v1/) printf '{{"Username":"<token>","Secret":"idtok"}}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#,
            log.display()
        );
        let helper = bin.join("docker-credential-test");
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"credHelpers": {{"helped.example": "test", "missing.example": "nosuchhelper"}},
                    "auths": {{"missing.example": {{"auth": "{}"}}, "store.example": {{"auth": "{}"}}}}}}"#,
                STANDARD.encode("fallback:pw"),
                STANDARD.encode("s:pw")
            ),
        );
        let helper_path = OsString::from(bin.as_os_str());
        let get =
            |config: &Path, r: &str| lookup_credentials(config, r, Some(&helper_path)).unwrap();
        assert_eq!(get(&path, "helped.example"), basic("hu", "hs"));
        // A missing helper binary is not an error: the auths entry is used.
        assert_eq!(get(&path, "missing.example"), basic("fallback", "pw"));

        let store = write_config(
            &{
                let d = dir.path().join("store");
                std::fs::create_dir(&d).unwrap();
                d
            },
            &format!(
                r#"{{"credsStore": "test", "auths": {{"store.example": {{"auth": "{}"}}}}}}"#,
                STANDARD.encode("s:pw")
            ),
        );
        assert_eq!(
            get(&store, "docker.io"),
            Some(Credentials::IdentityToken {
                username: None,
                token: "idtok".into()
            })
        );
        // The store has nothing for this host: the plain entry is used.
        assert_eq!(get(&store, "store.example"), basic("s", "pw"));
        let asked = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            asked,
            "helped.example\nhttps://index.docker.io/v1/\nstore.example\n"
        );

        // Helper names cannot walk the file system.
        assert_eq!(
            run_credential_helper("../bin/test", "x", Some(&helper_path)),
            None
        );
    }

    #[test]
    fn explicit_credentials_win_and_are_basic() {
        let options = RegistryOptions {
            username: Some("me".into()),
            password: Some("secret".into()),
            docker_config: Some("/nonexistent/config.json".into()),
            ..RegistryOptions::default()
        };
        let c = RegistryClient::new("reg.example", &options).unwrap();
        let creds = c.credentials().unwrap();
        assert_eq!(creds, basic("me", "secret"));
        assert_eq!(
            creds.and_then(|c| c.basic_header()).as_deref(),
            Some("Basic bWU6c2VjcmV0")
        );
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn bad_references_are_refused_before_sending() {
        let c = RegistryClient::new("127.0.0.1:9", &RegistryOptions::default()).unwrap();
        assert!(matches!(
            c.manifest_url("a/../b", "v1"),
            Err(Error::InvalidSource { .. })
        ));
        assert!(matches!(
            c.manifest_url("UP/per", "v1"),
            Err(Error::InvalidSource { .. })
        ));
        assert!(matches!(
            c.manifest_url("a/b", "v1/../x"),
            Err(Error::InvalidSource { .. })
        ));
        assert!(
            c.manifest_url(
                "a/b",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
            .is_ok()
        );
    }
}
