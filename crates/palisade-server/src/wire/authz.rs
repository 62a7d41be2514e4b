//! The Docker authorization plugin protocol
//! (<https://docs.docker.com/engine/extend/plugins_authorization/>), with the field names the
//! engine really sends (moby `pkg/authorization/api.go`: `RequestUri`, `RequestHeaders`) and
//! the ones its documentation shows (`RequestURI`, `RequestHeader`).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::{WireError, check_depth};

/// The largest plugin request read. The engine forwards request bodies below 1 MiB (larger
/// ones arrive without their body), base64 makes that 4/3 larger, plus headers.
pub const MAX_AUTHZ_BYTES: usize = 2 << 20;

/// How deep a plugin request may nest (the body is decoded separately).
pub const MAX_AUTHZ_DEPTH: usize = 8;

/// How deep a decoded create or exec body may nest.
pub const MAX_BODY_DEPTH: usize = 32;

/// `/Plugin.Activate`'s answer.
#[derive(Clone, Debug, Serialize)]
pub struct Activate {
    /// `["authz"]`.
    #[serde(rename = "Implements")]
    pub implements: Vec<&'static str>,
}

/// An `AuthZReq` (or `AuthZRes`) request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthzRequest {
    /// The user, when the engine authenticated one (TLS client certificates).
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    /// How the user was authenticated.
    #[serde(rename = "UserAuthNMethod", default)]
    pub user_authn_method: Option<String>,
    /// `GET`, `POST`…
    #[serde(rename = "RequestMethod", default)]
    pub method: String,
    /// `/v1.41/containers/create?name=x`.
    #[serde(rename = "RequestUri", alias = "RequestURI", default)]
    pub uri: String,
    /// The request body (base64 on the wire); absent when the engine did not forward it.
    #[serde(rename = "RequestBody", default, deserialize_with = "b64_opt")]
    pub body: Option<Vec<u8>>,
    /// The request headers (the engine strips credentials).
    #[serde(rename = "RequestHeaders", alias = "RequestHeader", default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// The response status (`AuthZRes` only).
    #[serde(rename = "ResponseStatusCode", default)]
    pub response_status: Option<u16>,
}

impl AuthzRequest {
    /// The request header `name` (any case), as the engine forwarded it.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .as_ref()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The plugin's answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthzResponse {
    /// Whether the engine may go on.
    #[serde(rename = "Allow")]
    pub allow: bool,
    /// Why not (the client sees `authorization denied by plugin NAME: MSG`).
    #[serde(rename = "Msg", default, skip_serializing_if = "String::is_empty")]
    pub msg: String,
    /// An error of the plugin's (the engine answers 500).
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

impl AuthzResponse {
    /// Allow.
    #[must_use]
    pub fn allow() -> AuthzResponse {
        AuthzResponse {
            allow: true,
            ..AuthzResponse::default()
        }
    }

    /// Deny with a message for the client.
    #[must_use]
    pub fn deny(msg: String) -> AuthzResponse {
        AuthzResponse {
            allow: false,
            msg,
            err: String::new(),
        }
    }
}

fn b64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("RequestBody is not base64: {e}")))
}

/// Decodes a plugin request with size and depth limits.
///
/// # Errors
/// A [`WireError`] saying what is wrong.
pub fn decode_authz(bytes: &[u8]) -> Result<AuthzRequest, WireError> {
    if bytes.len() > MAX_AUTHZ_BYTES {
        return Err(WireError(format!(
            "the plugin request is larger than {} MiB",
            MAX_AUTHZ_BYTES >> 20
        )));
    }
    check_depth(bytes, MAX_AUTHZ_DEPTH)?;
    serde_json::from_slice(bytes).map_err(|e| WireError(format!("not an AuthZ request: {e}")))
}

/// The engine API path of a request URI: without the query, without the `/vX.Y` version
/// prefix, percent-decoded, with repeated slashes collapsed and `.`/`..` segments resolved,
/// so `/v1.41//containers/./create` and `/containers/create` are the same endpoint.
///
/// The engine passes the request target on as the client sent it, and Go's server also takes
/// the absolute form (`POST http://docker/v1.41/containers/create`) and routes it by its path:
/// that path is the one returned. A version prefix is what the engine's router takes for one,
/// `v` and one or more digits and dots (`/v{version:[0-9.]+}`): it accepts `/v1.41./` as 1.41.
#[must_use]
pub fn api_path(uri: &str) -> String {
    let path = target_path(uri).split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path);
    let mut out: Vec<&str> = Vec::new();
    let mut first = true;
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s if first && is_version(s) => first = false,
            s => {
                first = false;
                out.push(s);
            }
        }
    }
    format!("/{}", out.join("/"))
}

/// The API version a request URI names (`1.41` of `/v1.41/containers/create`), when it names
/// one; the engine uses its own default version otherwise.
#[must_use]
pub fn api_version(uri: &str) -> Option<String> {
    let path = target_path(uri).split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path);
    let first = decoded.split('/').find(|s| !s.is_empty())?;
    is_version(first).then(|| first[1..].to_owned())
}

/// Whether API version `version` is below `than`, compared as the engine compares them
/// (moby `api/types/versions`: dot-separated numbers, a missing or non-numeric part is 0).
#[must_use]
pub fn version_below(version: &str, than: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(version), parse(than));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

/// The path part of a request target: the target itself in origin form (`/…`); in absolute
/// form (`scheme:…`), what follows the scheme and the `//authority`, as Go's
/// `url.ParseRequestURI` reads it.
fn target_path(uri: &str) -> &str {
    if uri.starts_with('/') {
        return uri;
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return uri;
    };
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return uri;
    }
    match rest.strip_prefix("//") {
        Some(authority) => authority.find(['/', '?']).map_or("", |i| &authority[i..]),
        None => rest,
    }
}

/// The query parameter `key` of a request URI, percent-decoded.
#[must_use]
pub fn query_param(uri: &str, key: &str) -> Option<String> {
    let query = uri.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// The engine's version route: `v` and one or more digits and dots (`/v{version:[0-9.]+}`).
fn is_version(seg: &str) -> bool {
    seg.strip_prefix('v')
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(s) = std::str::from_utf8(h)
            && let Ok(b) = u8::from_str_radix(s, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a create or exec body as the engine reads it (depth-limited; a key given twice is
/// refused, since the engine merges both objects where serde_json would keep the last:
/// `palisade_harden::containers::parse_api_body`).
///
/// # Errors
/// A [`WireError`] saying what is wrong.
pub fn decode_body(body: &[u8]) -> Result<serde_json::Value, WireError> {
    check_depth(body, MAX_BODY_DEPTH)?;
    let v = palisade_harden::containers::parse_api_body(body, "request body")
        .map_err(|e| WireError(e.to_string()))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(WireError("the request body is not a JSON object".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_and_base64() {
        let a = decode_authz(
            br#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestBody":"e30=","RequestHeaders":{"Content-Type":"application/json"}}"#,
        )
        .unwrap();
        let b = decode_authz(
            br#"{"RequestMethod":"POST","RequestURI":"/v1.41/containers/create","RequestBody":"e30=","RequestHeader":{"Content-Type":"application/json"}}"#,
        )
        .unwrap();
        assert_eq!(a.uri, b.uri);
        assert_eq!(a.body.as_deref(), Some(&b"{}"[..]));
        assert_eq!(a.headers, b.headers);
        let none = decode_authz(
            br#"{"RequestMethod":"POST","RequestUri":"/containers/create","RequestBody":null}"#,
        )
        .unwrap();
        assert!(none.body.is_none());
        assert!(decode_authz(br#"{"RequestBody":"!!"}"#).is_err());
        assert!(decode_authz(b"[[[[[[[[[[]]]]]]]]]]").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(
            api_path("/v1.41/containers/create?name=x"),
            "/containers/create"
        );
        assert_eq!(
            api_path("/v1.41//containers/./create"),
            "/containers/create"
        );
        assert_eq!(api_path("/containers/%63reate"), "/containers/create");
        assert_eq!(
            api_path("/v1.41/containers/abc/../create"),
            "/containers/create"
        );
        assert_eq!(api_path("/_ping"), "/_ping");
        assert_eq!(api_path("/v1/containers/json"), "/containers/json");
        assert_eq!(
            query_param(
                "/v1.41/images/create?fromImage=reg%2Fapp&tag=v1",
                "fromImage"
            )
            .as_deref(),
            Some("reg/app")
        );
        assert_eq!(query_param("/x?tag=v1", "fromImage"), None);
        // Version prefixes the engine's router takes (`v[0-9.]+`), 1.41. included.
        assert_eq!(api_path("/v1.41./containers/create"), "/containers/create");
        assert_eq!(api_path("/v1..41/containers/create"), "/containers/create");
        assert_eq!(api_path("/v.x/containers/create"), "/v.x/containers/create");
        // The absolute form Go's server accepts and routes by its path.
        assert_eq!(
            api_path("http://docker/v1.41/containers/create?name=x"),
            "/containers/create"
        );
        assert_eq!(
            api_path("HTTP://docker:2375/containers/create"),
            "/containers/create"
        );
        assert_eq!(api_path("x:/v1.41/containers/create"), "/containers/create");
        assert_eq!(api_path("http://docker?x=/containers/create"), "/");
        assert_eq!(
            api_version("/v1.23/containers/x/start").as_deref(),
            Some("1.23")
        );
        assert_eq!(api_version("http://d/v1.41./x").as_deref(), Some("1.41."));
        assert_eq!(api_version("/containers/x/start"), None);
        assert!(version_below("1.23", "1.24"));
        assert!(version_below("1.4.", "1.24"));
        assert!(!version_below("1.24", "1.24"));
        assert!(!version_below("1.24.", "1.24"));
        assert!(!version_below("1.41", "1.24"));
        assert!(!version_below("2", "1.24"));
    }
}
