//! Authentication as the registry asks for it: anonymous first, then the challenge of a 401
//! (`WWW-Authenticate`) is answered once, with a `Bearer` token fetched from the realm and
//! cached per scope, or with basic credentials.

use std::time::{Duration, Instant};

use serde::Deserialize;
use ureq::Body;
use ureq::http::Response;

use super::credentials::Credentials;
use super::transport::{Method, Req, encode_pairs, read_bounded, status_error};
use super::{RegistryClient, lock};
use crate::error::Error;
use crate::http::{display_url, origin_of};

const MAX_TOKEN_BYTES: u64 = 1 << 20;

/// What a request needs to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Pull,
    Push,
}

impl Access {
    pub(super) fn scope(self, repository: &str) -> String {
        match self {
            Access::Pull => format!("repository:{repository}:pull"),
            Access::Push => format!("repository:{repository}:pull,push"),
        }
    }
}

#[derive(Clone)]
pub(super) struct CachedToken {
    value: String,
    expires: Instant,
}

impl RegistryClient {
    /// Sends a request to the registry, authenticating as the registry asks: anonymous first,
    /// then with a token or basic credentials after a 401, once.
    pub(super) fn send(
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
}

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
}
