//! Anonymous token authentication for Notary servers that ask for it (Docker Hub's
//! notary.docker.io, Harbor's Notary): a `401` with `WWW-Authenticate: Bearer realm=…,
//! service=…,scope=…` is answered once with a token fetched from the realm, as the registry
//! token protocol does. No credentials are sent anywhere: collections that need a login are
//! refused with that reason.

use std::collections::BTreeMap;
use std::io::Read as _;

use palisade_image::HttpClient;
use serde::Deserialize;

/// Largest token response read.
const MAX_TOKEN_BYTES: u64 = 1 << 20;

/// The parameters of a `Bearer` challenge, or `None` for another scheme.
pub(crate) fn parse_bearer(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header.trim_start();
    let (scheme, rest) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    params.contains_key("realm").then_some(params)
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Fetches an anonymous pull token for `gun` from the challenge's realm.
pub(crate) fn token(
    http: &HttpClient,
    challenge: &BTreeMap<String, String>,
    gun: &str,
) -> Result<String, String> {
    let realm = challenge.get("realm").map_or("", String::as_str);
    let scope = challenge
        .get("scope")
        .cloned()
        .unwrap_or_else(|| format!("repository:{gun}:pull"));
    let mut url = format!(
        "{realm}{}scope={}",
        if realm.contains('?') { '&' } else { '?' },
        encode(&scope)
    );
    if let Some(service) = challenge.get("service") {
        url.push_str(&format!("&service={}", encode(service)));
    }
    let resp = http
        .get(&url, &[])
        .map_err(|e| format!("token for {gun}: {e}"))?;
    if resp.status() != 200 {
        return Err(format!(
            "the token service {realm} answered {} {} for {scope}: the collection needs a \
             login, which Palisade does not do for Notary; serve its metadata from a server \
             that allows anonymous reads",
            resp.status(),
            resp.reason()
        ));
    }
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_TOKEN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("token for {gun}: {e}"))?;
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(format!(
            "the token from {realm} is larger than {MAX_TOKEN_BYTES} bytes"
        ));
    }
    let parsed: TokenResponse = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the token service {realm} answered no token: {e}"))?;
    parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| format!("the token service {realm} answered no usable token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let p = parse_bearer(
            r#"Bearer realm="https://auth.docker.io/token",service="notary.docker.io",scope="repository:docker.io/library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "notary.docker.io");
        assert_eq!(p["scope"], "repository:docker.io/library/alpine:pull");
        assert!(parse_bearer(r#"Basic realm="x""#).is_none());
        assert!(parse_bearer("Bearer service=x").is_none());
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
