//! Where credentials come from: explicit options, else the Docker client configuration
//! (`config.json`: `credHelpers`, `credsStore`, `auths`) and the `docker-credential-*` helpers
//! it names.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::Deserialize;

use super::{RegistryClient, lock};
use crate::error::Error;

const MAX_DOCKER_CONFIG_BYTES: u64 = 4 << 20;
const MAX_HELPER_OUTPUT_BYTES: u64 = 1 << 20;
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Where Docker keeps Docker Hub's credentials.
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
const DOCKER_HUB_ALIASES: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

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
    pub(super) fn basic_header(&self) -> Option<String> {
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

impl RegistryClient {
    /// The credentials to answer a challenge with: the explicit ones, else those of the Docker
    /// configuration (looked up once).
    pub(super) fn credentials(&self) -> Result<Option<Credentials>, Error> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOptions;

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
}
