//! One request to a registry, without authentication: the HTTP client of [`crate::http`],
//! retries of transient failures with backoff, one deadline over attempts, redirects and body,
//! redirects followed by hand, and the bounded reading of responses.

use std::hash::BuildHasher;
use std::io::Read;
use std::time::{Duration, Instant};

use serde::Deserialize;
use ureq::Body;
use ureq::http::Response;

use super::RegistryClient;
use crate::error::Error;
use crate::http::{
    BodyReader, Deadline, MAX_REDIRECTS, describe_transport_error, display_url, origin_of,
    resolve_url,
};
use crate::manifest::media_type;

/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The first backoff delay; it doubles with each attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Statuses worth another attempt.
const RETRY_STATUSES: &[u16] = &[429, 502, 503, 504];
const MAX_ERROR_BYTES: u64 = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Post,
    Put,
}

/// One request, re-sendable for retries and authentication.
pub(super) struct Req<'a> {
    method: Method,
    pub(super) url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<&'a [u8]>,
}

impl<'a> Req<'a> {
    pub(super) fn new(method: Method, url: String) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Req<'a> {
        self.headers.push((name, value.into()));
        self
    }

    pub(super) fn body(mut self, body: &'a [u8]) -> Req<'a> {
        self.body = Some(body);
        self
    }
}

/// Why a single send failed before a response arrived.
pub(super) enum SendError {
    /// The transport failed, at the URL a redirect led to when there was one.
    Http(ureq::Error, Option<String>),
    Redirect(String),
}

impl RegistryClient {
    /// Whether `url` may be requested: HTTPS, or plain HTTP to loopback and insecure hosts.
    pub(super) fn check_scheme(&self, url: &str) -> Result<(), String> {
        self.http.check_url(url)
    }

    /// Sends a request with retries on transient failures; follows redirects of GET and HEAD
    /// requests, sending `auth` only to the origin of the request.
    ///
    /// One deadline ([`super::RegistryOptions::deadline`]) covers every attempt and redirect, and
    /// the reading of the body: it is stored in the response's extensions for
    /// [`BodyReader`].
    pub(super) fn execute(
        &self,
        req: &Req<'_>,
        auth: Option<&str>,
    ) -> Result<Response<Body>, Error> {
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
pub(super) fn header_str<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn content_type(resp: &Response<Body>) -> Option<String> {
    header_str(resp, "content-type")
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub(super) fn accept_header(accept: &[&str]) -> String {
    if accept.is_empty() {
        media_type::ACCEPT_MANIFESTS.join(", ")
    } else {
        accept.join(", ")
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
pub(super) fn read_bounded(
    resp: Response<Body>,
    limit: u64,
    what: &str,
    url: &str,
) -> Result<Vec<u8>, Error> {
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
pub(super) fn status_reason(resp: Response<Body>) -> String {
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

pub(super) fn status_error(url: &str, resp: Response<Body>, hint: Option<&str>) -> Error {
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

/// The `rel="next"` target of a `Link` header, resolved against `base`.
pub(super) fn next_link(resp: &Response<Body>, base: &str) -> Option<String> {
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

pub(super) fn same_origin(url: &str, origin: &str) -> bool {
    origin_of(url).is_some_and(|o| o == origin)
}

pub(super) fn percent_encode(s: &str) -> String {
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

pub(super) fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{plain_http_allowed, split_host_port};
    use crate::registry::RegistryOptions;

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
}
