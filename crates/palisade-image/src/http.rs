//! The one HTTP transport policy of Palisade, shared by every client (the registry client here,
//! the feed downloader of `palisade db update`):
//!
//! - TLS with the system's roots (the platform verifier), or, with a CA file, that file's PEM
//!   certificates plus the system's native roots;
//! - HTTPS everywhere, plain HTTP only to loopback hosts and to hosts listed as insecure;
//! - redirects followed by hand: each target must pass the rules of a URL given directly, and
//!   no redirect leads from HTTPS to plain HTTP;
//! - a total deadline for each request ([`DEFAULT_DEADLINE`], `PALISADE_HTTP_TIMEOUT`): name
//!   lookup, connecting, redirects, retries and reading the whole body, so a server that
//!   trickles one byte a second cannot keep a download alive for days; a per-read timeout
//!   ([`READ_TIMEOUT`]) still gives up early on a connection that sends nothing.
//!
//! Not for: what is requested (the registry API, the feed layout); the callers know that.

use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ureq::Body;
use ureq::http::Response;

use crate::error::Error;

/// The total time one request may take, body included, unless configured otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// The environment variable that sets the deadline when the caller gives none
/// (`90`, `90s`, `30m`, `2h`).
pub const DEADLINE_ENV: &str = "PALISADE_HTTP_TIMEOUT";
/// Name lookup and connection setup (TLS included), each.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection that delivers nothing for this long is given up, whatever the deadline.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection that accepts nothing for this long is given up.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// The largest CA file read.
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// How to reach HTTP servers.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Hosts (`host` or `host:port`) that may be reached over plain HTTP. Loopback hosts
    /// (`127.0.0.1`, `localhost`, `[::1]`) always may.
    pub insecure: Vec<String>,
    /// Extra PEM CA certificates to trust, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// The total deadline of each request; `None`: `$PALISADE_HTTP_TIMEOUT`, else
    /// [`DEFAULT_DEADLINE`].
    pub deadline: Option<Duration>,
}

/// Parses a duration: whole seconds (`90`), or a number with `ms`, `s`, `m` or `h`. Zero is
/// refused: a deadline that has always passed is a mistake, not a setting.
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("{text:?} is not a duration (expected e.g. 90, 90s, 30m, 2h or 500ms)");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(format!("{text:?}: the duration must be more than zero"));
    }
    Ok(d)
}

/// A duration as people write it: `2h`, `30m`, `90s`, `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let s = d.as_secs();
        if s != 0 && s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// The deadline: `explicit`, else `$PALISADE_HTTP_TIMEOUT`, else [`DEFAULT_DEADLINE`].
///
/// # Errors
/// When the environment variable is set but is not a duration.
pub fn resolve_deadline(explicit: Option<Duration>) -> Result<Duration, Error> {
    if let Some(d) = explicit {
        return Ok(d);
    }
    match std::env::var(DEADLINE_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            parse_duration(&v).map_err(|reason| Error::InvalidSource {
                input: format!("{DEADLINE_ENV}={v}"),
                reason,
            })
        }
        _ => Ok(DEFAULT_DEADLINE),
    }
}

/// The deadline of one request, started when the request is.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    /// A deadline `total` from now.
    #[must_use]
    pub fn start(total: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }

    /// Time left, `None` once it has passed.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// The message for a request that did not finish in time.
    #[must_use]
    pub fn exceeded(&self) -> String {
        format!(
            "no complete response within the {} deadline (set it with --http-timeout or {DEADLINE_ENV})",
            HumanDuration(self.total)
        )
    }
}

/// An HTTP client that keeps the policy of this module.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    insecure: Vec<String>,
    deadline: Duration,
}

impl HttpClient {
    /// A client. `loopback_only` says every URL it will be given is on a loopback host: the
    /// environment's proxy (which cannot reach our loopback) is then not used.
    ///
    /// # Errors
    /// When the CA file cannot be read or holds no certificate, or `$PALISADE_HTTP_TIMEOUT`
    /// is not a duration.
    pub fn new(options: &HttpOptions, loopback_only: bool) -> Result<HttpClient, Error> {
        use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
        let deadline = resolve_deadline(options.deadline)?;
        let roots = match &options.ca_file {
            None => RootCerts::PlatformVerifier,
            Some(path) => {
                let mut pem = Vec::new();
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_CA_FILE_BYTES).read_to_end(&mut pem))
                    .map_err(|e| Error::io(path, e))?;
                let mut certs: Vec<Certificate<'static>> = Vec::new();
                for item in ureq::tls::parse_pem(&pem) {
                    match item {
                        Ok(PemItem::Certificate(c)) => certs.push(c),
                        Ok(_) => {}
                        Err(e) => {
                            return Err(Error::malformed(
                                format!("CA file {}", path.display()),
                                format!("bad PEM: {e}"),
                            ));
                        }
                    }
                }
                if certs.is_empty() {
                    return Err(Error::malformed(
                        format!("CA file {}", path.display()),
                        "no PEM certificates found",
                    ));
                }
                let system = rustls_native_certs::load_native_certs();
                certs.extend(
                    system
                        .certs
                        .iter()
                        .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
                );
                RootCerts::new_with_certs(&certs)
            }
        };
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed by hand, each checked (see `check_redirect`).
            .max_redirects(0)
            .timeout_global(Some(deadline))
            .timeout_resolve(Some(CONNECT_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .timeout_per_write(Some(WRITE_TIMEOUT))
            .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build());
        if loopback_only {
            config = config.proxy(None);
        }
        Ok(HttpClient {
            agent: ureq::Agent::new_with_config(config.build()),
            insecure: options.insecure.clone(),
            deadline,
        })
    }

    /// The total deadline of each request.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Starts the deadline of one request.
    #[must_use]
    pub fn start(&self) -> Deadline {
        Deadline::start(self.deadline)
    }

    /// Whether `url` may be requested: HTTPS, or plain HTTP to loopback and insecure hosts.
    ///
    /// # Errors
    /// Why not.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        check_url(url, &self.insecure)
    }

    /// Whether a redirect from `from` to `to` may be followed: `to` must pass
    /// [`HttpClient::check_url`], and HTTPS never leads to plain HTTP.
    ///
    /// # Errors
    /// Why not, naming both URLs.
    pub fn check_redirect(&self, from: &str, to: &str) -> Result<(), String> {
        let lower = |u: &str| u.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
        if lower(from) == "https://" && lower(to) != "https://" {
            return Err(format!(
                "refusing a redirect from {} to {}: HTTPS must not lead to plain HTTP",
                display_url(from),
                display_url(to)
            ));
        }
        self.check_url(to).map_err(|r| {
            format!(
                "refusing a redirect from {} to {}: {r}",
                display_url(from),
                display_url(to)
            )
        })
    }

    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// GETs `url` with `headers`, following up to [`MAX_REDIRECTS`] redirects, each checked
    /// by [`HttpClient::check_redirect`] before anything is sent to its target. One deadline
    /// covers the redirects and the body read from [`HttpResponse::into_reader`].
    ///
    /// Any status is returned as a response; only transport failures are errors.
    ///
    /// # Errors
    /// [`Error::Http`] naming the URL: refused URL or redirect, transport failure, deadline.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, Error> {
        let http_err = |u: &str, reason: String| Error::Http {
            url: display_url(u),
            reason,
        };
        self.check_url(url).map_err(|r| http_err(url, r))?;
        let deadline = self.start();
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let Some(left) = deadline.remaining() else {
                return Err(http_err(url, deadline.exceeded()));
            };
            let mut rb = self
                .agent
                .get(&current)
                .config()
                .timeout_global(Some(left))
                .build();
            for (name, value) in headers {
                rb = rb.header(*name, *value);
            }
            let resp = rb.call().map_err(|e| {
                let hop = if current == url {
                    String::new()
                } else {
                    format!(" (after a redirect to {})", display_url(&current))
                };
                http_err(
                    url,
                    format!("{}{hop}", describe_transport_error(&e, &deadline)),
                )
            })?;
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(HttpResponse {
                    url: current,
                    response: resp,
                    deadline,
                });
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| http_err(url, format!("{status} redirect without a Location")))?;
            let next = resolve_url(&current, location).ok_or_else(|| {
                http_err(url, format!("{status} redirect to an unusable Location"))
            })?;
            self.check_redirect(&current, &next)
                .map_err(|r| http_err(url, r))?;
            current = next;
        }
        Err(http_err(
            url,
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }
}

impl HttpClient {
    /// POSTs `body` to `url` with `headers`, under the client's deadline. Redirects are not
    /// followed (a redirected POST is answered as it is).
    ///
    /// # Errors
    /// [`Error::Http`] naming the URL: refused URL, transport failure, deadline.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse, Error> {
        let http_err = |reason: String| Error::Http {
            url: display_url(url),
            reason,
        };
        self.check_url(url).map_err(http_err)?;
        let deadline = self.start();
        let mut rb = self.agent.post(url);
        for (name, value) in headers {
            rb = rb.header(*name, *value);
        }
        let resp = rb
            .send(body)
            .map_err(|e| http_err(describe_transport_error(&e, &deadline)))?;
        Ok(HttpResponse {
            url: url.to_owned(),
            response: resp,
            deadline,
        })
    }
}

/// A response from [`HttpClient::get`]; its body is read under the request's deadline.
#[derive(Debug)]
pub struct HttpResponse {
    url: String,
    response: Response<Body>,
    deadline: Deadline,
}

impl HttpResponse {
    /// The URL that answered (after redirects).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// The status's reason phrase, when it has a standard one.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.response.status().canonical_reason().unwrap_or("")
    }

    /// A header's value, when it is text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    /// The body, as a reader whose errors name the URL and, when it passed, the deadline.
    #[must_use]
    pub fn into_reader(self) -> BodyReader {
        BodyReader::new(self.response, self.url, self.deadline)
    }
}

/// A response body whose read errors name the URL, and the deadline when it passed.
pub struct BodyReader {
    inner: Box<dyn Read + Send>,
    url: String,
    deadline: Deadline,
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("url", &display_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl BodyReader {
    pub(crate) fn new(response: Response<Body>, url: String, deadline: Deadline) -> BodyReader {
        BodyReader {
            inner: Box::new(response.into_body().into_reader()),
            url,
            deadline,
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let ureq_error = e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>());
            match ureq_error {
                Some(ureq::Error::Timeout(t)) => io::Error::new(
                    io::ErrorKind::TimedOut,
                    if matches!(t, ureq::Timeout::Global | ureq::Timeout::PerCall)
                        || self.deadline.remaining().is_none()
                    {
                        format!("{}: {}", display_url(&self.url), self.deadline.exceeded())
                    } else {
                        format!(
                            "{}: timed out reading the response ({t}; nothing received for {})",
                            display_url(&self.url),
                            HumanDuration(READ_TIMEOUT)
                        )
                    },
                ),
                _ => io::Error::new(
                    e.kind(),
                    format!("{}: reading the response: {e}", display_url(&self.url)),
                ),
            }
        })
    }
}

/// A transport error in words; a passed deadline says which, and how to change it.
pub(crate) fn describe_transport_error(e: &ureq::Error, deadline: &Deadline) -> String {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Global | ureq::Timeout::PerCall) => deadline.exceeded(),
        _ if deadline.remaining().is_none() => deadline.exceeded(),
        ureq::Error::HostNotFound => "host not found (DNS lookup failed)".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

/// Whether `url` may be requested directly: HTTPS, or plain HTTP to loopback and `insecure`
/// hosts.
pub(crate) fn check_url(url: &str, insecure: &[String]) -> Result<(), String> {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if lower == "https://" {
        return if origin_of(url).is_some() {
            Ok(())
        } else {
            Err("not a usable https:// URL".into())
        };
    }
    if !lower.starts_with("http://") {
        return Err("only https:// URLs are supported (http:// for loopback hosts)".into());
    }
    let rest = &url["http://".len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if plain_http_allowed(authority, insecure) {
        Ok(())
    } else {
        Err(format!(
            "plain HTTP to {authority} is not allowed (only loopback and insecure hosts); use https://"
        ))
    }
}

/// `scheme://authority` of an http(s) URL, lowercased.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// A URL for messages: no user information, no query (upload and object-storage URLs carry
/// signatures there).
#[must_use]
pub fn display_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}{path}")
        }
        None => without_query.to_owned(),
    }
}

/// Resolves a `Location` or `Link` target against the URL it came from.
pub(crate) fn resolve_url(base: &str, target: &str) -> Option<String> {
    if target.is_empty() || target.chars().any(char::is_control) {
        return None;
    }
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return origin_of(target).map(|_| target.to_owned());
    }
    let first_segment = target.split(['/', '?', '#']).next().unwrap_or_default();
    if first_segment.contains(':') {
        // Another scheme (`ftp:`, `javascript:`…).
        return None;
    }
    let origin = origin_of(base)?;
    if let Some(rest) = target.strip_prefix("//") {
        let scheme = origin.split("://").next()?;
        let url = format!("{scheme}://{rest}");
        return origin_of(&url).map(|_| url);
    }
    if target.starts_with('/') {
        return Some(format!("{origin}{target}"));
    }
    let path = base.split(['?', '#']).next()?;
    let dir = &path[..path.rfind('/').map_or(path.len(), |i| i + 1)];
    if dir.len() <= origin.len() {
        return Some(format!("{origin}/{target}"));
    }
    Some(format!("{dir}{target}"))
}

/// `(host, port)` of `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(crate) fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// Whether `host` (no port, no brackets) is a loopback host.
#[must_use]
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

/// Whether every URL of `urls` is on a loopback host.
#[must_use]
pub fn all_loopback<'u>(urls: impl IntoIterator<Item = &'u str>) -> bool {
    urls.into_iter().all(|u| {
        origin_of(u).is_some_and(|o| {
            let authority = o.split("://").nth(1).unwrap_or_default();
            let authority = authority.rsplit('@').next().unwrap_or_default();
            is_loopback(split_host_port(authority).0)
        })
    })
}

/// Whether plain HTTP may be used for `authority` (`host[:port]`).
pub(crate) fn plain_http_allowed(authority: &str, insecure: &[String]) -> bool {
    let (host, _) = split_host_port(authority);
    if is_loopback(host) {
        return true;
    }
    insecure.iter().any(|entry| {
        let entry = entry
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        entry.eq_ignore_ascii_case(authority)
            || (split_host_port(entry).1.is_none()
                && split_host_port(entry).0.eq_ignore_ascii_case(host))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in [
            "",
            "0",
            "0s",
            "-1",
            "1d",
            "s",
            "1.5h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(HumanDuration(DEFAULT_DEADLINE).to_string(), "30m");
        assert_eq!(HumanDuration(Duration::from_secs(7200)).to_string(), "2h");
        assert_eq!(HumanDuration(Duration::from_secs(90)).to_string(), "90s");
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1500ms"
        );
    }

    #[test]
    fn urls_and_redirects_follow_one_policy() {
        let c = HttpClient::new(
            &HttpOptions {
                insecure: vec!["reg.lan:5000".into()],
                deadline: Some(Duration::from_secs(5)),
                ..HttpOptions::default()
            },
            false,
        )
        .unwrap();
        assert_eq!(c.deadline(), Duration::from_secs(5));
        assert!(c.check_url("https://example.com/x").is_ok());
        assert!(c.check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(c.check_url("http://[::1]:8080/x").is_ok());
        assert!(c.check_url("http://reg.lan:5000/x").is_ok());
        assert!(c.check_url("http://example.com/x").is_err());
        assert!(c.check_url("http://user@192.0.2.1/x").is_err());
        assert!(c.check_url("ftp://127.0.0.1/x").is_err());
        // A redirect is judged like the URL it leads to...
        let err = c
            .check_redirect("http://127.0.0.1:1/a", "http://192.0.2.1/b")
            .unwrap_err();
        assert!(err.contains("http://192.0.2.1/b"), "{err}");
        assert!(
            c.check_redirect("http://127.0.0.1:1/a", "https://cdn.example/b")
                .is_ok()
        );
        // ...and never downgrades, not even to a host plain HTTP may reach directly.
        assert!(
            c.check_redirect("https://example.com/a", "http://127.0.0.1:1/b")
                .is_err()
        );
        assert!(
            c.check_redirect("https://example.com/a", "http://reg.lan:5000/b")
                .is_err()
        );
        assert!(all_loopback([
            "http://127.0.0.1:1/a",
            "http://[::1]:2/b",
            "http://localhost/"
        ]));
        assert!(!all_loopback([
            "http://127.0.0.1:1/a",
            "https://example.com/"
        ]));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = HttpClient::new(
            &HttpOptions {
                ca_file: Some(path.clone()),
                ..HttpOptions::default()
            },
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("no PEM certificates"), "{err}");
    }
}
