//! The web console at `/`: the fleet's posture, images, advisories, hosts, decisions and the
//! policy, rendered on the server from the store (docs/console.md).
//!
//! - Pages are HTML from [`maud`] templates, which escape every interpolated value: image
//!   names, package names and advisory texts are attacker-controlled. The one script and the
//!   style sheet are compiled into the binary and served from `/assets/`; the
//!   Content-Security-Policy allows nothing else (no inline script or style, no frames).
//! - Sign-in takes an API token (`palisade store token create`); the console then keeps a
//!   session cookie (`__Host-palisade`, HttpOnly, Secure, SameSite=Strict) that names the token
//!   and is signed with a key kept in the store, so every replica accepts it and revoking the
//!   token ends the session. A bearer token in `Authorization` is accepted too (scripts, the
//!   bench).
//! - Every form that changes state carries a CSRF token derived from the session, and a
//!   cross-site `Origin` or `Sec-Fetch-Site` is refused.
//! - Reading needs the `read` role; the one action (queue a rescan) needs `admin`.

mod chart;
mod pages;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac as _};
use palisade_store::Role;
use sha2::Sha256;

use crate::fleet::Fleet;

/// How long a console session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// The session cookie (the `__Host-` prefix: Secure, path `/`, no domain).
pub const SESSION_COOKIE: &str = "__Host-palisade";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "__Host-palisade-login";
/// Where the session key lives in the store's meta table.
const KEY_META: &str = "console.session_key";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's state: the fleet and the session key (read from the store once).
pub struct Console {
    fleet: Arc<Fleet>,
    key: tokio::sync::OnceCell<Vec<u8>>,
}

/// Who is looking.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The CSRF token for forms (empty for bearer requests, which need none).
    pub csrf: String,
}

impl Console {
    /// A console over `fleet`.
    #[must_use]
    pub fn new(fleet: Arc<Fleet>) -> Arc<Console> {
        Arc::new(Console {
            fleet,
            key: tokio::sync::OnceCell::new(),
        })
    }

    async fn key(&self) -> Result<&[u8], String> {
        self.key
            .get_or_try_init(|| async {
                let store = Arc::clone(&self.fleet.store);
                blocking(move || {
                    if let Some(k) = store.meta(KEY_META).map_err(|e| e.to_string())? {
                        return hex::decode(k).map_err(|e| format!("{KEY_META}: {e}"));
                    }
                    let fresh = hex::encode(random_bytes(32)?);
                    // Two replicas racing: one key wins, both read it back.
                    store
                        .swap_meta(KEY_META, None, &fresh)
                        .map_err(|e| e.to_string())?;
                    let k = store
                        .meta(KEY_META)
                        .map_err(|e| e.to_string())?
                        .ok_or("the session key vanished")?;
                    hex::decode(k).map_err(|e| format!("{KEY_META}: {e}"))
                })
                .await
            })
            .await
            .map(Vec::as_slice)
    }

    fn mac(key: &[u8], what: &str) -> String {
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
            return String::new();
        };
        m.update(what.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// The viewer of a request: a valid session cookie or bearer token with at least
    /// `needed`; otherwise the response to send (a redirect to sign-in for pages).
    async fn viewer(
        &self,
        headers: &HeaderMap,
        needed: Role,
        here: &str,
    ) -> Result<Viewer, Response> {
        let store = Arc::clone(&self.fleet.store);
        if let Some(secret) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|s| s.trim().to_owned())
        {
            let token = blocking(move || store.token(&secret).map_err(|e| e.to_string()))
                .await
                .map_err(|e| view::error_page(StatusCode::SERVICE_UNAVAILABLE, &e))?;
            return match token {
                Some(t) if t.role >= needed => Ok(Viewer {
                    name: t.name,
                    role: t.role,
                    csrf: String::new(),
                }),
                Some(_) => Err(forbidden(needed)),
                None => Err(view::error_page(
                    StatusCode::UNAUTHORIZED,
                    "the bearer token is unknown or revoked",
                )),
            };
        }
        let to_login =
            || Redirect::to(&format!("/login?next={}", view::url_encode(here))).into_response();
        let Some(cookie) = cookie(headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let key = self
            .key()
            .await
            .map_err(|e| view::error_page(StatusCode::SERVICE_UNAVAILABLE, &e))?;
        let Some(session) = Session::verify(key, &cookie) else {
            return Err(to_login());
        };
        let id = session.token_id.clone();
        let token = blocking(move || store.token_by_id(&id).map_err(|e| e.to_string()))
            .await
            .map_err(|e| view::error_page(StatusCode::SERVICE_UNAVAILABLE, &e))?;
        match token {
            // The role is the token's now, not the one signed at sign-in.
            Some(t) if t.role >= needed => Ok(Viewer {
                name: t.name,
                role: t.role,
                csrf: Self::mac(key, &format!("csrf:{cookie}"))[..32].to_owned(),
            }),
            Some(_) => Err(forbidden(needed)),
            None => Err(to_login()),
        }
    }

    /// Checks a state-changing request: same origin and the form's CSRF token.
    #[allow(clippy::result_large_err)] // an axum response, answered at once
    fn check_form(
        headers: &HeaderMap,
        uri: &axum::http::Uri,
        viewer: &Viewer,
        given: &str,
    ) -> Result<(), Response> {
        same_origin(headers, uri)?;
        if viewer.csrf.is_empty() {
            // A bearer request: no cookie was involved, so no cross-site forgery is possible.
            return Ok(());
        }
        if !crate::api::token_matches(std::slice::from_ref(&viewer.csrf), given) {
            return Err(view::error_page(
                StatusCode::FORBIDDEN,
                "the form is stale or was not made by this console (CSRF check failed): reload the page and try again",
            ));
        }
        Ok(())
    }
}

fn forbidden(needed: Role) -> Response {
    view::error_page(
        StatusCode::FORBIDDEN,
        &format!(
            "this needs a token with the {} role (palisade store token create --role {})",
            needed.as_str(),
            needed.as_str()
        ),
    )
}

/// A cross-site request carrying our cookie is refused, whatever it holds.
#[allow(clippy::result_large_err)] // an axum response, answered at once
fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> Result<(), Response> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("same-origin");
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the `:authority` the URI carries.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()));
    let origin_ok = match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        host,
    ) {
        (Some(origin), Some(host)) => {
            origin == format!("https://{host}") || origin == format!("http://{host}")
        }
        (Some(_), None) => false,
        (None, _) => true,
    };
    if origin_ok && matches!(fetch_site, "same-origin" | "none") {
        Ok(())
    } else {
        Err(view::error_page(
            StatusCode::FORBIDDEN,
            "a cross-site request cannot change anything here",
        ))
    }
}

/// A signed session: `token-id.expiry.mac`.
struct Session {
    token_id: String,
}

impl Session {
    fn make(key: &[u8], token_id: &str, expires: i64) -> String {
        let body = format!("{token_id}.{expires}");
        format!("{body}.{}", Console::mac(key, &format!("session:{body}")))
    }

    fn verify(key: &[u8], value: &str) -> Option<Session> {
        if value.len() > 256 {
            return None;
        }
        let (body, mac) = value.rsplit_once('.')?;
        let expected = Console::mac(key, &format!("session:{body}"));
        if !crate::api::token_matches(std::slice::from_ref(&expected), mac) {
            return None;
        }
        let (token_id, expires) = body.split_once('.')?;
        let expires: i64 = expires.parse().ok()?;
        (expires > palisade_store::now()).then(|| Session {
            token_id: token_id.to_owned(),
        })
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(buf)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| "the request failed (a bug: please report it)".to_owned())?
}

/// Security headers on every console answer.
async fn headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    set(h, "strict-transport-security", "max-age=31536000");
    set(h, "cache-control", "no-store");
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    HttpResponse::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The console's routes.
pub fn routes(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/images", get(pages::images))
        .route("/images/{digest}", get(pages::image))
        .route("/images/{digest}/sbom/{format}", get(pages::sbom))
        .route("/images/{digest}/rescan", post(pages::rescan))
        .route("/vulnerabilities", get(pages::vulnerability_search))
        .route("/vulnerabilities/{id}", get(pages::vulnerability))
        .route("/hosts", get(pages::hosts))
        .route("/hosts/{name}", get(pages::host))
        .route("/decisions", get(pages::decisions))
        .route("/decisions/{id}", get(pages::decision))
        .route("/policy", get(pages::policy))
        .route(
            "/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("console.css")) }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("console.js")) }),
        )
        .route(
            "/favicon.svg",
            get(|| async { asset("image/svg+xml", include_str!("favicon.svg")) }),
        )
        .with_state(console)
        .layer(axum::middleware::map_response(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_expire() {
        let key = b"0123456789abcdef0123456789abcdef";
        let later = palisade_store::now() + 60;
        let s = Session::make(key, "abc123", later);
        assert_eq!(
            Session::verify(key, &s).map(|s| s.token_id).as_deref(),
            Some("abc123")
        );
        // Another token id, another expiry or another key: refused.
        assert!(Session::verify(key, &s.replace("abc123", "abc124")).is_none());
        assert!(
            Session::verify(
                key,
                &s.replace(&later.to_string(), &(later + 1).to_string())
            )
            .is_none()
        );
        assert!(Session::verify(b"another key", &s).is_none());
        let past = Session::make(key, "abc123", palisade_store::now() - 1);
        assert!(Session::verify(key, &past).is_none());
        assert!(Session::verify(key, "").is_none());
        assert!(Session::verify(key, "a.b.c.d").is_none());
    }

    #[test]
    fn cross_site_forms_are_refused() {
        let uri = axum::http::Uri::from_static("/logout");
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("console.example:8443"),
        );
        assert!(same_origin(&h, &uri).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://console.example:8443"),
        );
        assert!(same_origin(&h, &uri).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&h, &uri).is_err());
        // HTTP/2: no Host header, the authority is in the URI.
        h.remove(header::HOST);
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://console.example:8443"),
        );
        assert!(
            same_origin(
                &h,
                &axum::http::Uri::from_static("https://console.example:8443/logout")
            )
            .is_ok()
        );
        assert!(same_origin(&h, &uri).is_err());
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&h, &uri).is_err());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-palisade=x.y.z; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("x.y.z"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
