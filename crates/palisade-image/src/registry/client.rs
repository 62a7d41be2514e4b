//! The registry client: one method per OCI distribution API call (manifests, blobs, uploads,
//! tags, referrers), over the transport and authentication of the sibling modules.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use ureq::Body;
use ureq::http::Response;

use super::auth::{Access, CachedToken, Challenge};
use super::credentials::{Credentials, docker_config_path};
use super::transport::{
    Method, Req, accept_header, content_type, header_str, next_link, percent_encode, read_bounded,
    same_origin, status_error, status_reason,
};
use crate::digest::Digest;
use crate::error::Error;
use crate::http::{
    BodyReader, Deadline, HttpClient, HttpOptions, display_url, is_loopback, plain_http_allowed,
    resolve_url, split_host_port,
};
use crate::image::verify;
use crate::manifest::{Descriptor, Index, MAX_DOCUMENT_BYTES, media_type};
use crate::reference::DOCKER_HUB;

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

/// Pages followed when listing tags or referrers.
const MAX_PAGES: usize = 1000;
/// Tags kept from one listing.
const MAX_TAGS: usize = 1_000_000;
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
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
    pub(super) registry: String,
    /// `scheme://api-host`, without a trailing slash.
    pub(super) origin: String,
    pub(super) http: HttpClient,
    pub(super) explicit: Option<Credentials>,
    pub(super) docker_config: Option<PathBuf>,
    /// Credentials from the Docker configuration, looked up on the first challenge.
    pub(super) loaded: Mutex<Option<Option<Credentials>>>,
    /// How the registry last asked to be authenticated.
    pub(super) challenge: Mutex<Option<Challenge>>,
    pub(super) tokens: Mutex<HashMap<String, CachedToken>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
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

    pub(super) fn fetch_manifest(
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

#[cfg(test)]
mod tests {
    use super::*;

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
