//! A minimal Docker Engine API client over a unix socket: HTTP/1.1 GET with
//! `Connection: close`, bounded responses, `Content-Length` and chunked bodies.
//!
//! Only what the checks read: `/info`, `/containers/json?all=1` and `/containers/{id}/json`.
//! When the daemon runs on this machine its command line is read from `/proc`, so settings
//! that `/info` does not expose (icc, no-new-privileges, userland-proxy, …) are known too.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::containers::Container;
use crate::daemon::{DaemonConfig, apply_info};
use crate::error::Error;

/// The most bytes read from one API response.
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// The most containers read from one engine.
pub const MAX_CONTAINERS: usize = 10_000;
const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest Docker CLI configuration or context metadata file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Where the Docker CLI would connect, as it decides: a `context` named on the command line,
/// else `DOCKER_HOST`, else the context named by `DOCKER_CONTEXT`, else the configuration's
/// `currentContext` (`$DOCKER_CONFIG/config.json`, default `~/.docker`). `Ok(None)`: the
/// default context (the local socket). `env` reads an environment variable.
///
/// # Errors
/// A named context that does not exist or has no Docker endpoint, or a configuration file
/// that cannot be read.
pub fn host_from_environment(
    context: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, Error> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let config_dir = set("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|h| Path::new(&h).join(".docker")));
    let bad = |message: String| Error::Engine {
        endpoint: "docker context".into(),
        message,
    };
    let read = |path: &Path| -> Result<Option<Value>, Error> {
        let Ok(f) = std::fs::File::open(path) else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        f.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(bad(format!("{} is larger than 1 MiB", path.display())));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| bad(format!("{}: {e}", path.display())))
    };
    let name = match context {
        Some(c) => c.to_owned(),
        None => {
            if let Some(h) = set("DOCKER_HOST") {
                return Ok(Some(h));
            }
            match set("DOCKER_CONTEXT") {
                Some(c) => c,
                None => match &config_dir {
                    Some(dir) => match read(&dir.join("config.json"))? {
                        Some(v) => match v.get("currentContext").and_then(Value::as_str) {
                            Some(c) if !c.is_empty() => c.to_owned(),
                            _ => return Ok(None),
                        },
                        None => return Ok(None),
                    },
                    None => return Ok(None),
                },
            }
        }
    };
    if name == "default" {
        return Ok(None);
    }
    let dir = config_dir.ok_or_else(|| {
        bad(format!(
            "context {name:?}: no Docker configuration directory (set DOCKER_CONFIG or HOME)"
        ))
    })?;
    use sha2::Digest as _;
    let meta = dir
        .join("contexts/meta")
        .join(hex::encode(sha2::Sha256::digest(name.as_bytes())))
        .join("meta.json");
    let v = read(&meta)?.ok_or_else(|| {
        bad(format!(
            "context {name:?} does not exist (no {}; see `docker context ls`)",
            meta.display()
        ))
    })?;
    v.pointer("/Endpoints/docker/Host")
        .and_then(Value::as_str)
        .map(|h| Some(h.to_owned()))
        .ok_or_else(|| bad(format!("context {name:?} has no Docker endpoint")))
}

/// A Docker engine reached through a unix socket.
#[derive(Clone, Debug)]
pub struct Engine {
    socket: PathBuf,
    endpoint: String,
}

impl Engine {
    /// Parses `unix:///path/to/docker.sock` (or a bare path).
    ///
    /// # Errors
    /// For other schemes (`tcp://` is not supported: use a local socket).
    pub fn new(host: &str) -> Result<Engine, Error> {
        let path = if let Some(p) = host.strip_prefix("unix://") {
            p
        } else if host.starts_with('/') {
            host
        } else {
            return Err(Error::Engine {
                endpoint: host.to_owned(),
                message: "only unix:///path sockets are supported".into(),
            });
        };
        if path.is_empty() {
            return Err(Error::Engine {
                endpoint: host.to_owned(),
                message: "empty socket path".into(),
            });
        }
        Ok(Engine {
            socket: PathBuf::from(path),
            endpoint: format!("unix://{path}"),
        })
    }

    /// `unix:///path`.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket path.
    #[must_use]
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Engine {
            endpoint: self.endpoint.clone(),
            message: message.into(),
        }
    }

    /// GETs `path` and parses the JSON body.
    ///
    /// # Errors
    /// On connection errors, non-2xx answers, oversized or malformed bodies.
    pub fn get_json(&self, path: &str) -> Result<Value, Error> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|e| self.err(format!("connecting: {e}")))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .map_err(|e| self.err(e.to_string()))?;
        stream
            .set_write_timeout(Some(TIMEOUT))
            .map_err(|e| self.err(e.to_string()))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: palisade\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
            .map_err(|e| self.err(format!("sending GET {path}: {e}")))?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| self.err(format!("reading GET {path}: {e}")))?;
        if raw.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(self.err(format!(
                "GET {path}: response larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        let body = parse_response(&raw).map_err(|m| self.err(format!("GET {path}: {m}")))?;
        serde_json::from_slice(&body)
            .map_err(|e| self.err(format!("GET {path}: invalid JSON: {e}")))
    }

    /// `/info`.
    ///
    /// # Errors
    /// As [`Engine::get_json`].
    pub fn info(&self) -> Result<Value, Error> {
        self.get_json("/info")
    }

    /// Every container, running or not, as inspect documents.
    ///
    /// # Errors
    /// As [`Engine::get_json`].
    pub fn containers(&self) -> Result<Vec<Container>, Error> {
        let list = self.get_json("/containers/json?all=1")?;
        let ids: Vec<String> = list
            .as_array()
            .ok_or_else(|| self.err("/containers/json: not an array"))?
            .iter()
            .filter_map(|c| c.get("Id").and_then(Value::as_str))
            .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric()))
            .take(MAX_CONTAINERS)
            .map(str::to_owned)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let doc = self.get_json(&format!("/containers/{id}/json"))?;
            out.push(Container::from_value(
                doc,
                &format!("{} container {id}", self.endpoint),
            )?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The daemon configuration as far as it can be known live: the command line and
    /// daemon.json of a local dockerd serving this socket (from `/proc`), then `/info`.
    ///
    /// # Errors
    /// As [`Engine::get_json`].
    pub fn daemon_config(&self) -> Result<DaemonConfig, Error> {
        let info = self.info()?;
        let mut cfg = DaemonConfig::default();
        if let Some((pid, args)) = find_local_dockerd(&self.socket) {
            let source = format!("process {pid}");
            cfg.sources.push(source.clone());
            cfg.apply_flags(&args, &source, None);
            let json = cfg
                .string("config-file")
                .map_or_else(|| "/etc/docker/daemon.json".to_owned(), str::to_owned);
            if let Ok(Some(bytes)) =
                crate::error::read_bounded(Path::new(&json), crate::hostfs::MAX_HOST_FILE_BYTES)
            {
                cfg.sources.push(json.clone());
                cfg.apply_daemon_json(&String::from_utf8_lossy(&bytes), &json);
            }
            cfg.daemon_json = Some(json);
        }
        apply_info(&mut cfg, &info, &self.endpoint);
        Ok(cfg)
    }
}

/// Splits an HTTP/1.1 response into its body, checking the status.
fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status:?}"))?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse().ok();
            }
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    if !(200..300).contains(&code) {
        let msg = String::from_utf8_lossy(&body);
        let msg: String = msg.chars().take(300).collect();
        return Err(format!("HTTP {code}: {}", msg.trim()));
    }
    Ok(body)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk header")?;
        let size_text = String::from_utf8_lossy(&body[..nl]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// A `dockerd` process on this machine whose `-H`/`--host` names `socket` (or the only
/// dockerd, when none names a host): its pid and arguments.
#[must_use]
pub fn find_local_dockerd(socket: &Path) -> Option<(u32, Vec<String>)> {
    let want = format!("unix://{}", socket.display());
    let mut candidates = Vec::new();
    let rd = std::fs::read_dir("/proc").ok()?;
    for e in rd.filter_map(Result::ok) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(Some(raw)) = crate::error::read_bounded(&e.path().join("cmdline"), 1 << 20) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(prog) = args.first() else { continue };
        if prog.rsplit('/').next() != Some("dockerd") {
            continue;
        }
        candidates.push((pid, args[1..].to_vec()));
    }
    let names_socket = |args: &[String]| {
        args.iter().enumerate().any(|(i, a)| {
            a.strip_prefix("--host=")
                .or_else(|| a.strip_prefix("-H="))
                .or_else(|| a.strip_prefix("-H").filter(|r| r.starts_with("unix://")))
                .is_some_and(|h| h == want)
                || ((a == "-H" || a == "--host") && args.get(i + 1).is_some_and(|h| *h == want))
        })
    };
    if let Some(c) = candidates.iter().find(|(_, a)| names_socket(a)) {
        return Some(c.clone());
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_comes_from_the_flag_the_environment_or_the_current_context() {
        use sha2::Digest as _;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().to_str().unwrap().to_owned();
        let make = |name: &str, host: &str| {
            let d = dir
                .path()
                .join("contexts/meta")
                .join(hex::encode(sha2::Sha256::digest(name.as_bytes())));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("meta.json"),
                format!(r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
            )
            .unwrap();
        };
        make("remote", "unix:///run/remote.sock");
        make("other", "unix:///run/other.sock");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        let env = |vars: &'static [(&'static str, &'static str)], config: String| {
            move |k: &str| {
                if k == "DOCKER_CONFIG" {
                    return Some(config.clone());
                }
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let none: &[(&str, &str)] = &[];
        let host = |ctx: Option<&str>, vars: &'static [(&'static str, &'static str)]| {
            host_from_environment(ctx, &env(vars, config.clone()))
        };
        assert_eq!(
            host(None, none).unwrap().as_deref(),
            Some("unix:///run/remote.sock")
        );
        assert_eq!(
            host(None, &[("DOCKER_CONTEXT", "other")])
                .unwrap()
                .as_deref(),
            Some("unix:///run/other.sock")
        );
        assert_eq!(
            host(
                None,
                &[
                    ("DOCKER_HOST", "unix:///run/env.sock"),
                    ("DOCKER_CONTEXT", "other")
                ]
            )
            .unwrap()
            .as_deref(),
            Some("unix:///run/env.sock")
        );
        assert_eq!(
            host(Some("other"), &[("DOCKER_HOST", "unix:///run/env.sock")])
                .unwrap()
                .as_deref(),
            Some("unix:///run/other.sock")
        );
        assert_eq!(host(Some("default"), none).unwrap(), None);
        let e = host(Some("missing"), none).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("does not exist"), "{e}");
        // No configuration at all: the default context.
        let empty = tempfile::tempdir().unwrap();
        let e2 = empty.path().to_str().unwrap().to_owned();
        assert_eq!(
            host_from_environment(None, &move |k: &str| (k == "DOCKER_CONFIG")
                .then(|| e2.clone()))
            .unwrap(),
            None
        );
    }

    use super::*;

    #[test]
    fn responses() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).unwrap(), b"{\"a\":1}");
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_response(r).unwrap(), b"{}");
        let r = b"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n{\"message\":\"nope\"}\n";
        assert!(parse_response(r).unwrap_err().contains("404"));
        assert!(parse_response(b"garbage").is_err());
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"ffffffff\r\nab").is_err());
    }

    #[test]
    fn hosts() {
        assert!(Engine::new("tcp://1.2.3.4:2375").is_err());
        assert_eq!(
            Engine::new("unix:///run/x.sock").unwrap().socket(),
            Path::new("/run/x.sock")
        );
    }
}
