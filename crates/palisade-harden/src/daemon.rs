//! The Docker daemon's effective configuration and its checks (CIS section 2, 5.1).
//!
//! Offline, the configuration is merged the way dockerd and systemd would: the unit
//! `docker.service` from the usual unit directories, its drop-ins (`docker.service.d/*.conf`,
//! an empty `ExecStart=` resets), `Environment=` and `EnvironmentFile=` expanded into
//! `ExecStart`, and `daemon.json` (or the file given by `--config-file`). Without a unit, the
//! SysV files `/etc/default/docker` (`DOCKER_OPTS`) and `/etc/sysconfig/docker` (`OPTIONS`) are
//! read. An option set both in `daemon.json` and as a flag is reported: dockerd refuses to
//! start then.
//!
//! Live, [`crate::engine`] reads `/info` and, when the daemon runs on this machine, its
//! command line from `/proc`.

use serde_json::Value;
use std::collections::BTreeMap;

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};
use crate::error::Error;
use crate::hostfs::{FileKind, HostRoot, join};
use crate::profile::Profile;
use crate::target::Target;

const S2: &str = "2 Docker daemon configuration";
const S5: &str = "5 Container Runtime";
const D: TargetKind = TargetKind::Daemon;

/// The daemon checks.
pub static CHECKS: &[CheckDef] = &[
    CheckDef::new("CIS-DOCKER-2.2", "Ensure network traffic is restricted between containers on the default bridge", Level::One, D, S2,
        "By default all containers on the default bridge can reach each other.",
        "Set `\"icc\": false` in daemon.json or start dockerd with `--icc=false`."),
    CheckDef::new("CIS-DOCKER-2.3", "Ensure the logging level is set to 'info'", Level::One, D, S2,
        "`info` records what auditing needs without debug noise.",
        "Remove `log-level` or set `\"log-level\": \"info\"`."),
    CheckDef::new("CIS-DOCKER-2.4", "Ensure Docker is allowed to make changes to iptables", Level::One, D, S2,
        "With iptables management off, container networking rules are left to hand-made rules.",
        "Remove `--iptables=false` / `\"iptables\": false`."),
    CheckDef::new("CIS-DOCKER-2.5", "Ensure insecure registries are not used", Level::One, D, S2,
        "An insecure registry is reached without TLS verification; images can be swapped in transit.",
        "Remove `insecure-registries` / `--insecure-registry`; give registries trusted certificates."),
    CheckDef::new("CIS-DOCKER-2.6", "Ensure aufs storage driver is not used", Level::One, D, S2,
        "aufs is unmaintained and has known kernel crashes.",
        "Use `overlay2`."),
    CheckDef::new("CIS-DOCKER-2.7", "Ensure TLS authentication for Docker daemon is configured", Level::One, D, S2,
        "A daemon listening on TCP without TLS client verification gives root to anyone who can connect.",
        "With a `tcp://` host, set `tlsverify`, `tlscacert`, `tlscert` and `tlskey`."),
    CheckDef::new("CIS-DOCKER-2.8", "Ensure the default ulimit is configured appropriately", Level::One, D, S2,
        "Default ulimits bound what one container may consume.",
        "Set `default-ulimits` in daemon.json or `--default-ulimit`."),
    CheckDef::new("CIS-DOCKER-2.9", "Enable user namespace support", Level::Two, D, S2,
        "With user-namespace remapping, root in a container is an unprivileged user on the host.",
        "Set `\"userns-remap\": \"default\"` and provide /etc/subuid and /etc/subgid."),
    CheckDef::new("CIS-DOCKER-2.10", "Ensure the default cgroup usage has been confirmed", Level::Two, D, S2,
        "A custom default cgroup parent must be intended.",
        "Remove `cgroup-parent` unless it is required."),
    CheckDef::new("CIS-DOCKER-2.11", "Ensure base device size is not changed until needed", Level::Two, D, S2,
        "A larger base device size can exhaust the host's storage.",
        "Remove `dm.basesize` from the storage options."),
    CheckDef::new("CIS-DOCKER-2.12", "Ensure that authorization for Docker client commands is enabled", Level::Two, D, S2,
        "Without an authorization plugin every client of the socket may do everything.",
        "Configure an authorization plugin: `\"authorization-plugins\": [\"…\"]`."),
    CheckDef::new("CIS-DOCKER-2.13", "Ensure centralized and remote logging is configured", Level::Two, D, S2,
        "Logs kept only on the host are lost with it and can be altered by an intruder.",
        "Set `log-driver` to a remote driver (syslog, journald forwarding, gelf, fluentd, …)."),
    CheckDef::new("CIS-DOCKER-2.14", "Ensure containers are restricted from acquiring new privileges", Level::One, D, S2,
        "Daemon-wide `no-new-privileges` stops setuid escalation in every container.",
        "Set `\"no-new-privileges\": true` in daemon.json."),
    CheckDef::new("CIS-DOCKER-2.15", "Ensure live restore is enabled", Level::One, D, S2,
        "Live restore keeps containers running while the daemon is restarted for updates.",
        "Set `\"live-restore\": true`."),
    CheckDef::new("CIS-DOCKER-2.16", "Ensure Userland Proxy is Disabled", Level::One, D, S2,
        "The userland proxy is extra attack surface; hairpin NAT does the same job.",
        "Set `\"userland-proxy\": false`."),
    CheckDef::new("CIS-DOCKER-2.17", "Ensure that a daemon-wide custom seccomp profile is applied if appropriate", Level::Two, D, S2,
        "A seccomp profile limits system calls for every container; `unconfined` removes it.",
        "Keep Docker's default profile or set `seccomp-profile` to a custom one; never `unconfined`."),
    CheckDef::new("CIS-DOCKER-2.18", "Ensure that experimental features are not implemented in production", Level::One, D, S2,
        "Experimental features are not supported and not hardened.",
        "Remove `experimental` / `--experimental`."),
    CheckDef::new("CIS-DOCKER-5.1", "Ensure swarm mode is not Enabled, if not needed", Level::One, D, S5,
        "Swarm mode opens management ports and keys that a single host does not need.",
        "`docker swarm leave` on hosts that are not part of a swarm."),
    CheckDef::new("PAL-DAEMON-1", "Ensure no daemon option is set both in daemon.json and as a flag", Level::One, D, S2,
        "dockerd refuses to start when an option is given in both places, so the unit's intended configuration never runs.",
        "Keep each option in one place, preferably daemon.json.")
        .refs(&["https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file"]),
];

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file (host path) or `process PID` / `Engine API /info`.
    pub source: String,
    /// 1-based line in the file, when known.
    pub line: Option<u32>,
    /// How it was written, e.g. `--icc=false` or `"icc": false`.
    pub text: String,
    /// `true` for daemon.json, `false` for command-line flags and the live API.
    pub from_file: bool,
}

/// One setting's value and origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The value in daemon.json terms (bool, string, list of strings, object).
    pub value: Value,
    /// Where it came from.
    pub origin: Origin,
}

/// The daemon's effective configuration.
#[derive(Clone, Debug, Default)]
pub struct DaemonConfig {
    settings: BTreeMap<String, Vec<Setting>>,
    /// The files that were read (host paths), in order.
    pub sources: Vec<String>,
    /// The unit `docker.service`, if found.
    pub service_unit: Option<String>,
    /// Its drop-ins, in the order systemd applies them.
    pub service_dropins: Vec<String>,
    /// The unit `docker.socket`, if found.
    pub socket_unit: Option<String>,
    /// `docker.socket`'s drop-ins.
    pub socket_dropins: Vec<String>,
    /// `SocketUser=`, `SocketGroup=`, `SocketMode=` from docker.socket (last one wins).
    pub socket_settings: BTreeMap<String, (String, String, u32)>,
    /// The daemon.json path used.
    pub daemon_json: Option<String>,
    /// The live `/info` document, when read from the Engine API.
    pub info: Option<Value>,
    /// `true` when the configuration was read from a running daemon.
    pub live: bool,
    /// Problems met while reading (unparsable daemon.json, …).
    pub problems: Vec<String>,
    /// Configuration files that exist but are not regular files (a FIFO, a device), with
    /// their kind: never opened, and left out of the configuration. [`load_offline`] refuses
    /// them; [`load_offline_partial`] lists them here.
    pub unreadable: Vec<(String, FileKind)>,
}

/// The usual systemd unit directories, highest precedence first.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Str,
    List,
}

/// dockerd flags we understand: (names, daemon.json key, kind).
const FLAGS: &[(&[&str], &str, Kind)] = &[
    (&["icc"], "icc", Kind::Bool),
    (&["iptables"], "iptables", Kind::Bool),
    (&["live-restore"], "live-restore", Kind::Bool),
    (&["no-new-privileges"], "no-new-privileges", Kind::Bool),
    (&["userland-proxy"], "userland-proxy", Kind::Bool),
    (&["experimental"], "experimental", Kind::Bool),
    (&["tls"], "tls", Kind::Bool),
    (&["tlsverify"], "tlsverify", Kind::Bool),
    (&["selinux-enabled"], "selinux-enabled", Kind::Bool),
    (&["D", "debug"], "debug", Kind::Bool),
    (&["l", "log-level"], "log-level", Kind::Str),
    (&["log-driver"], "log-driver", Kind::Str),
    (&["userns-remap"], "userns-remap", Kind::Str),
    (&["seccomp-profile"], "seccomp-profile", Kind::Str),
    (&["s", "storage-driver"], "storage-driver", Kind::Str),
    (&["cgroup-parent"], "cgroup-parent", Kind::Str),
    (&["data-root", "g", "graph"], "data-root", Kind::Str),
    (&["tlscacert"], "tlscacert", Kind::Str),
    (&["tlscert"], "tlscert", Kind::Str),
    (&["tlskey"], "tlskey", Kind::Str),
    (&["exec-root"], "exec-root", Kind::Str),
    (&["p", "pidfile"], "pidfile", Kind::Str),
    (&["insecure-registry"], "insecure-registries", Kind::List),
    (
        &["authorization-plugin"],
        "authorization-plugins",
        Kind::List,
    ),
    (&["H", "host"], "hosts", Kind::List),
    (&["default-ulimit"], "default-ulimits", Kind::List),
    (&["storage-opt"], "storage-opts", Kind::List),
    (&["registry-mirror"], "registry-mirrors", Kind::List),
    (&["log-opt"], "log-opts", Kind::List),
];

/// Other dockerd flags that take a value (so their value is not read as a flag).
const VALUE_FLAGS: &[&str] = &[
    "config-file",
    "b",
    "bridge",
    "bip",
    "fixed-cidr",
    "fixed-cidr-v6",
    "default-gateway",
    "default-gateway-v6",
    "mtu",
    "dns",
    "dns-opt",
    "dns-search",
    "G",
    "group",
    "label",
    "add-runtime",
    "default-runtime",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "containerd",
    "containerd-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "default-address-pool",
    "exec-opt",
    "metrics-addr",
    "swarm-default-advertise-addr",
    "init-path",
    "ip",
    "oom-score-adjust",
    "default-shm-size",
    "default-ipc-mode",
    "default-cgroupns-mode",
    "network-control-plane-mtu",
    "shutdown-timeout",
    "allow-nondistributable-artifacts",
    "cluster-store",
    "cluster-advertise",
    "cluster-store-opt",
    "node-generic-resource",
    "userland-proxy-path",
    "seccomp-profile",
    "http-proxy",
    "https-proxy",
    "no-proxy",
    "host-gateway-ip",
];

impl DaemonConfig {
    /// Every value of `key`, in the order they were found.
    #[must_use]
    pub fn values(&self, key: &str) -> &[Setting] {
        self.settings.get(key).map_or(&[], Vec::as_slice)
    }

    /// The effective value of `key`: a flag wins over daemon.json (dockerd refuses to start
    /// with both; see [`DaemonConfig::conflicts`]), the last flag wins among flags, except for
    /// lists, which accumulate ([`DaemonConfig::list`]).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Setting> {
        let v = self.values(key);
        v.iter()
            .rev()
            .find(|s| !s.origin.from_file)
            .or_else(|| v.last())
    }

    /// The value of `key` as a bool, when set as one.
    #[must_use]
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|s| match &s.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    }

    /// The value of `key` as a string.
    #[must_use]
    pub fn string(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|s| s.value.as_str())
    }

    /// Every entry of list `key` from all sources, as strings (objects give their keys).
    #[must_use]
    pub fn list(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for s in self.values(key) {
            match &s.value {
                Value::Array(a) => out.extend(a.iter().map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })),
                Value::Object(m) => out.extend(m.keys().cloned()),
                Value::String(s) => out.push(s.clone()),
                _ => {}
            }
        }
        out
    }

    /// Keys set both in daemon.json and as flags: (key, file origin, flag origin).
    #[must_use]
    pub fn conflicts(&self) -> Vec<(&str, &Origin, &Origin)> {
        let mut out = Vec::new();
        for (k, v) in &self.settings {
            let file = v.iter().find(|s| s.origin.from_file);
            let flag = v
                .iter()
                .find(|s| !s.origin.from_file && !s.origin.source.starts_with("Engine API"));
            if let (Some(a), Some(b)) = (file, flag) {
                out.push((k.as_str(), &a.origin, &b.origin));
            }
        }
        out
    }

    /// Whether anything at all was found.
    #[must_use]
    pub fn found(&self) -> bool {
        self.live
            || !self.sources.is_empty()
            || self.service_unit.is_some()
            || self.socket_unit.is_some()
    }

    /// The data root (`/var/lib/docker` unless configured).
    #[must_use]
    pub fn data_root(&self) -> String {
        self.string("data-root")
            .map_or_else(|| "/var/lib/docker".to_owned(), str::to_owned)
    }

    /// Records a setting.
    pub fn set(&mut self, key: &str, value: Value, origin: Origin) {
        self.settings
            .entry(key.to_owned())
            .or_default()
            .push(Setting { value, origin });
    }

    /// Records dockerd command-line arguments (without the program name).
    pub fn apply_flags(&mut self, args: &[String], source: &str, line: Option<u32>) {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                continue; // positional: dockerd takes none
            };
            if flag.is_empty() {
                continue;
            }
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (flag, None),
            };
            let origin = |text: String| Origin {
                source: source.to_owned(),
                line,
                text,
                from_file: false,
            };
            if let Some((_, key, kind)) = FLAGS.iter().find(|(names, _, _)| names.contains(&name)) {
                let value = match (kind, inline) {
                    (Kind::Bool, Some(v)) => Value::Bool(!matches!(
                        v.as_str(),
                        "false" | "0" | "f" | "F" | "FALSE" | "False"
                    )),
                    (Kind::Bool, None) => Value::Bool(true),
                    (_, Some(v)) => Value::String(v),
                    (_, None) => {
                        let Some(v) = args.get(i) else { continue };
                        i += 1;
                        Value::String(v.clone())
                    }
                };
                let shown = match &value {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                let text = if name.len() == 1 {
                    format!("-{name} {shown}")
                } else {
                    format!("--{name}={shown}")
                };
                let value = if *kind == Kind::List {
                    Value::Array(vec![value])
                } else {
                    value
                };
                self.set(key, value, origin(text));
            } else if name == "config-file" {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let Some(v) = args.get(i) else { continue };
                        i += 1;
                        v.clone()
                    }
                };
                self.set(
                    "config-file",
                    Value::String(v.clone()),
                    origin(format!("--config-file={v}")),
                );
            } else if inline.is_none() && VALUE_FLAGS.contains(&name) {
                i += 1;
            }
        }
    }

    /// Records a daemon.json document read from `path` (host path) with its text for lines.
    pub fn apply_daemon_json(&mut self, text: &str, path: &str) {
        let doc: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.problems.push(format!("not valid JSON: {e}"));
                return;
            }
        };
        let Value::Object(map) = doc else {
            self.problems.push("not a JSON object".to_owned());
            return;
        };
        for (k, v) in map {
            let needle = format!("\"{k}\"");
            let line = text
                .lines()
                .position(|l| l.contains(&needle))
                .and_then(|n| u32::try_from(n + 1).ok());
            let shown = v.to_string();
            let shown: String = shown.chars().take(200).collect();
            self.set(
                &k,
                v,
                Origin {
                    source: path.to_owned(),
                    line,
                    text: format!("\"{k}\": {shown}"),
                    from_file: true,
                },
            );
        }
    }
}

/// A parsed unit file's `[Service]`/`[Socket]` assignments: (key, value, line).
fn unit_assignments(text: &str) -> Vec<(String, String, u32)> {
    let mut out = Vec::new();
    let mut pending: Option<(String, u32)> = None;
    for (n, raw) in text.lines().enumerate() {
        let lineno = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        let (buf, start) = match pending.take() {
            Some((mut b, s)) => {
                if line.starts_with('#') || line.starts_with(';') {
                    pending = Some((b, s));
                    continue;
                }
                b.push(' ');
                b.push_str(line);
                (b, s)
            }
            None => {
                if line.is_empty()
                    || line.starts_with('#')
                    || line.starts_with(';')
                    || line.starts_with('[')
                {
                    continue;
                }
                (line.to_owned(), lineno)
            }
        };
        if let Some(stripped) = buf.strip_suffix('\\') {
            pending = Some((stripped.to_owned(), start));
            continue;
        }
        if let Some((k, v)) = buf.split_once('=') {
            out.push((k.trim().to_owned(), v.trim().to_owned(), start));
        }
    }
    if let Some((b, s)) = pending
        && let Some((k, v)) = b.split_once('=')
    {
        out.push((k.trim().to_owned(), v.trim().to_owned(), s));
    }
    out
}

/// Splits a command line the way systemd does: whitespace, single and double quotes,
/// backslash escapes.
#[must_use]
pub fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    cur.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Expands `$VAR` (split into words) and `${VAR}` (one word) in ExecStart words.
fn expand(words: Vec<String>, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for w in words {
        if let Some(name) = w.strip_prefix('$').filter(|n| !n.starts_with('{')) {
            if let Some(v) = env.get(name) {
                out.extend(split_words(v));
            }
            continue;
        }
        let mut s = String::new();
        let mut rest = w.as_str();
        while let Some(pos) = rest.find("${") {
            s.push_str(&rest[..pos]);
            let after = &rest[pos + 2..];
            if let Some(end) = after.find('}') {
                s.push_str(env.get(&after[..end]).map_or("", String::as_str));
                rest = &after[end + 1..];
            } else {
                s.push_str(&rest[pos..]);
                rest = "";
            }
        }
        s.push_str(rest);
        out.push(s);
    }
    out
}

/// Parses an environment file (`KEY=value`, optional quotes, `#` comments, `export`).
#[must_use]
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = split_words(v).join(" ");
            env.insert(k.trim().to_owned(), v);
        }
    }
    env
}

/// The unit file `name` and its drop-ins under `root`: (unit, drop-ins in order).
#[must_use]
pub fn find_unit(root: &HostRoot, name: &str) -> (Option<String>, Vec<String>) {
    let unit = UNIT_DIRS
        .iter()
        .map(|d| join(d, name))
        .find(|p| root.stat(p).ok().flatten().is_some());
    let mut dropins: BTreeMap<String, String> = BTreeMap::new();
    for dir in UNIT_DIRS.iter().rev() {
        let d = join(dir, &format!("{name}.d"));
        for f in root.list(&d) {
            if f.ends_with(".conf") {
                // A drop-in of the same name in a higher-precedence directory replaces it.
                dropins.insert(f.clone(), join(&d, &f));
            }
        }
    }
    (unit, dropins.into_values().collect())
}

/// Reads the daemon configuration of the host tree at `root`.
///
/// # Errors
/// When a file exists but cannot be read, and ([`Error::NotRegular`]) when a configuration
/// file is a FIFO, a device or another special file: the effective configuration is then
/// unknown (dockerd could not read it either).
pub fn load_offline(root: &HostRoot) -> Result<DaemonConfig, Error> {
    let cfg = load_offline_partial(root)?;
    if let Some((path, kind)) = cfg.unreadable.first() {
        return Err(Error::NotRegular {
            path: path.clone(),
            kind: *kind,
        });
    }
    Ok(cfg)
}

/// Reads a configuration file; a special file is recorded in `cfg.unreadable` (never opened)
/// and read as absent.
fn read_config(
    root: &HostRoot,
    cfg: &mut DaemonConfig,
    path: &str,
) -> Result<Option<String>, Error> {
    match root.read_text(path) {
        Err(Error::NotRegular { path, kind }) => {
            if !cfg.unreadable.iter().any(|(p, _)| *p == path) {
                cfg.unreadable.push((path, kind));
            }
            Ok(None)
        }
        other => other,
    }
}

/// As [`load_offline`], but a configuration file that is not a regular file is listed in
/// [`DaemonConfig::unreadable`] instead of failing the load, so `bench host` can report it
/// as a failure of its checks.
///
/// # Errors
/// When a file exists but cannot be read, or daemon.json is not a JSON object.
pub fn load_offline_partial(root: &HostRoot) -> Result<DaemonConfig, Error> {
    let mut cfg = DaemonConfig::default();
    let (unit, dropins) = find_unit(root, "docker.service");
    cfg.service_unit.clone_from(&unit);
    cfg.service_dropins.clone_from(&dropins);
    let mut exec: Option<(Vec<String>, String, u32)> = None;
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut saw_unit = false;
    for file in unit.iter().chain(dropins.iter()) {
        let Some(text) = read_config(root, &mut cfg, file)? else {
            continue;
        };
        saw_unit = true;
        cfg.sources.push(file.clone());
        for (k, v, line) in unit_assignments(&text) {
            match k.as_str() {
                "ExecStart" => {
                    if v.is_empty() {
                        exec = None;
                    } else {
                        let cmd = v.trim_start_matches(['-', '@', ':', '+', '!']);
                        exec = Some((split_words(cmd), file.clone(), line));
                    }
                }
                "Environment" => {
                    for w in split_words(&v) {
                        if let Some((a, b)) = w.split_once('=') {
                            env.insert(a.to_owned(), b.to_owned());
                        }
                    }
                }
                "EnvironmentFile" => {
                    let path = v.trim_start_matches('-').trim();
                    if let Some(t) = read_config(root, &mut cfg, path)? {
                        cfg.sources.push(path.to_owned());
                        env.extend(parse_env_file(&t));
                    }
                }
                _ => {}
            }
        }
    }
    if let Some((words, file, line)) = exec {
        let words = expand(words, &env);
        let args = words.get(1..).unwrap_or(&[]).to_vec();
        cfg.apply_flags(&args, &file, Some(line));
    } else if !saw_unit {
        for (path, var) in [
            ("/etc/default/docker", "DOCKER_OPTS"),
            ("/etc/sysconfig/docker", "OPTIONS"),
        ] {
            if let Some(t) = read_config(root, &mut cfg, path)? {
                cfg.sources.push(path.to_owned());
                if let Some(v) = parse_env_file(&t).get(var) {
                    cfg.apply_flags(&split_words(v), path, None);
                }
            }
        }
    }
    // daemon.json: --config-file, else the default path.
    let json_path = cfg
        .string("config-file")
        .map_or_else(|| "/etc/docker/daemon.json".to_owned(), str::to_owned);
    if let Some(text) = read_config(root, &mut cfg, &json_path)? {
        cfg.sources.push(json_path.clone());
        cfg.apply_daemon_json(&text, &json_path);
        if let Some(p) = cfg.problems.first() {
            // dockerd refuses to start with an unreadable daemon.json; so do we.
            return Err(Error::invalid(json_path.clone(), p.clone()));
        }
    }
    cfg.daemon_json = Some(json_path);
    // docker.socket
    let (sock, sock_dropins) = find_unit(root, "docker.socket");
    cfg.socket_unit.clone_from(&sock);
    cfg.socket_dropins.clone_from(&sock_dropins);
    for file in sock.iter().chain(sock_dropins.iter()) {
        if let Some(text) = read_config(root, &mut cfg, file)? {
            for (k, v, line) in unit_assignments(&text) {
                if matches!(k.as_str(), "SocketUser" | "SocketGroup" | "SocketMode") {
                    cfg.socket_settings.insert(k, (v, file.clone(), line));
                }
            }
        }
    }
    Ok(cfg)
}

/// Applies a live `/info` document: the settings it exposes override the files'.
pub fn apply_info(cfg: &mut DaemonConfig, info: &Value, endpoint: &str) {
    cfg.live = true;
    let origin = |text: String| Origin {
        source: format!("Engine API {endpoint} /info"),
        line: None,
        text,
        from_file: false,
    };
    if let Some(v) = info.get("LoggingDriver").and_then(Value::as_str) {
        cfg.set(
            "log-driver",
            Value::String(v.into()),
            origin(format!("LoggingDriver={v}")),
        );
    }
    if let Some(v) = info.get("LiveRestoreEnabled").and_then(Value::as_bool) {
        cfg.set(
            "live-restore",
            Value::Bool(v),
            origin(format!("LiveRestoreEnabled={v}")),
        );
    }
    if let Some(v) = info.get("Driver").and_then(Value::as_str) {
        cfg.set(
            "storage-driver",
            Value::String(v.into()),
            origin(format!("Driver={v}")),
        );
    }
    if let Some(v) = info.get("ExperimentalBuild").and_then(Value::as_bool) {
        cfg.set(
            "experimental",
            Value::Bool(v),
            origin(format!("ExperimentalBuild={v}")),
        );
    }
    if let Some(v) = info.get("DockerRootDir").and_then(Value::as_str) {
        cfg.set(
            "data-root",
            Value::String(v.into()),
            origin(format!("DockerRootDir={v}")),
        );
    }
    if let Some(opts) = info.get("SecurityOptions").and_then(Value::as_array) {
        let opts: Vec<&str> = opts.iter().filter_map(Value::as_str).collect();
        if opts
            .iter()
            .any(|o| o.split(',').any(|p| p == "name=userns"))
        {
            cfg.set(
                "userns-remap",
                Value::String("(enabled)".into()),
                origin("SecurityOptions has name=userns".into()),
            );
        }
        for o in &opts {
            if o.split(',').any(|p| p == "name=seccomp") {
                let profile = o
                    .split(',')
                    .find_map(|p| p.strip_prefix("profile="))
                    .unwrap_or("default");
                let value = if profile == "default" {
                    "builtin"
                } else {
                    profile
                };
                cfg.set(
                    "seccomp-profile",
                    Value::String(value.into()),
                    origin(format!("SecurityOptions {o}")),
                );
            }
        }
    }
    if let Some(a) = info
        .pointer("/Plugins/Authorization")
        .and_then(Value::as_array)
    {
        cfg.set(
            "authorization-plugins",
            Value::Array(a.clone()),
            origin(format!("Plugins.Authorization={a:?}")),
        );
    }
    // Insecure registries: configured CIDRs and index configs, minus the implicit loopback.
    let mut insecure: Vec<Value> = Vec::new();
    if let Some(c) = info
        .pointer("/RegistryConfig/InsecureRegistryCIDRs")
        .and_then(Value::as_array)
    {
        for v in c.iter().filter_map(Value::as_str) {
            if v != "127.0.0.0/8" && v != "::1/128" {
                insecure.push(Value::String(v.into()));
            }
        }
    }
    if let Some(m) = info
        .pointer("/RegistryConfig/IndexConfigs")
        .and_then(Value::as_object)
    {
        for (name, ic) in m {
            if ic.get("Secure").and_then(Value::as_bool) == Some(false) {
                insecure.push(Value::String(name.clone()));
            }
        }
    }
    cfg.set(
        "insecure-registries",
        Value::Array(insecure.clone()),
        origin(format!("RegistryConfig insecure: {insecure:?}")),
    );
    cfg.info = Some(info.clone());
}

fn ev_for(cfg: &DaemonConfig, key: &str, default: &str) -> Evidence {
    match cfg.get(key) {
        Some(s) => {
            let e = Evidence::new(key, format!("{} ({})", s.origin.text, s.origin.source));
            if s.origin.source.starts_with('/') {
                e.at(s.origin.source.clone(), s.origin.line)
            } else {
                e
            }
        }
        None => Evidence::new(key, format!("not set ({default})")),
    }
}

fn ev_list(cfg: &DaemonConfig, key: &str, default: &str) -> Evidence {
    let vals = cfg.values(key);
    if vals.is_empty() {
        return Evidence::new(key, format!("not set ({default})"));
    }
    let texts: Vec<String> = vals
        .iter()
        .map(|s| format!("{} ({})", s.origin.text, s.origin.source))
        .collect();
    let first = &vals[0].origin;
    let e = Evidence::new(key, texts.join("; "));
    if first.source.starts_with('/') {
        e.at(first.source.clone(), first.line)
    } else {
        e
    }
}

/// The daemon target: its effective configuration, read offline from a host root or live
/// from the Engine API, and the name the report gives it.
#[derive(Debug)]
pub struct Daemon {
    config: DaemonConfig,
    subject: String,
}

impl Daemon {
    /// Reads the configuration offline from the files under `root` ([`load_offline`]); the
    /// report names the root.
    ///
    /// # Errors
    /// As [`load_offline`].
    pub fn offline(root: &HostRoot) -> Result<Daemon, Error> {
        Ok(Daemon {
            config: load_offline(root)?,
            subject: root.root().display().to_string(),
        })
    }

    /// Reads the configuration live ([`Engine::daemon_config`](crate::engine::Engine::daemon_config));
    /// the report names the endpoint.
    ///
    /// # Errors
    /// When the Engine API cannot be reached or answers badly.
    pub fn live(engine: &crate::engine::Engine) -> Result<Daemon, Error> {
        Ok(Daemon {
            config: engine.daemon_config()?,
            subject: engine.endpoint().to_owned(),
        })
    }

    /// A configuration gathered some other way, named `subject` in the report.
    #[must_use]
    pub fn new(config: DaemonConfig, subject: impl Into<String>) -> Daemon {
        Daemon {
            config,
            subject: subject.into(),
        }
    }

    /// The effective configuration.
    #[must_use]
    pub fn config(&self) -> &DaemonConfig {
        &self.config
    }
}

impl Target for Daemon {
    fn kind(&self) -> TargetKind {
        TargetKind::Daemon
    }

    fn subject(&self) -> String {
        self.subject.clone()
    }

    fn check(&self, _profile: &Profile) -> Result<Vec<CheckResult>, Error> {
        Ok(check_daemon(&self.config))
    }
}

/// Runs the daemon checks on `cfg`. With nothing found, every check is not applicable.
#[must_use]
pub fn check_daemon(cfg: &DaemonConfig) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if !cfg.found() {
        for d in CHECKS {
            out.push(CheckResult::one(
                d.id,
                Status::NotApplicable,
                Evidence::new("daemon", "no Docker daemon configuration found (no docker.service, daemon.json or /etc/default/docker)"),
            ));
        }
        return out;
    }
    let live_unknown = |key: &str| -> Option<Evidence> {
        (cfg.live && cfg.values(key).is_empty() && cfg.sources.is_empty()).then(|| {
            Evidence::new(key, "not exposed by the Engine API and no local configuration was found; run `palisade bench daemon --root /` on the host")
        })
    };
    let mut push =
        |id: &'static str, status: Status, ev: Evidence| out.push(CheckResult::one(id, status, ev));
    let pf = |ok: bool| if ok { Status::Pass } else { Status::Fail };

    // Settings that /info does not expose: when live without local files, say so.
    macro_rules! unknown_or {
        ($id:expr, $key:expr, $body:expr) => {
            match live_unknown($key) {
                Some(ev) => push($id, Status::Info, ev),
                None => {
                    let (st, ev) = $body;
                    push($id, st, ev);
                }
            }
        };
    }

    unknown_or!(
        "CIS-DOCKER-2.2",
        "icc",
        (
            pf(cfg.bool("icc") == Some(false)),
            ev_for(cfg, "icc", "default true")
        )
    );
    unknown_or!("CIS-DOCKER-2.3", "log-level", {
        let l = cfg.string("log-level").unwrap_or("info");
        (pf(l == "info"), ev_for(cfg, "log-level", "default info"))
    });
    unknown_or!(
        "CIS-DOCKER-2.4",
        "iptables",
        (
            pf(cfg.bool("iptables") != Some(false)),
            ev_for(cfg, "iptables", "default true")
        )
    );
    let insecure = cfg.list("insecure-registries");
    push(
        "CIS-DOCKER-2.5",
        pf(insecure.is_empty()),
        ev_list(cfg, "insecure-registries", "none"),
    );
    let driver = cfg.string("storage-driver").unwrap_or("");
    push(
        "CIS-DOCKER-2.6",
        pf(driver != "aufs"),
        ev_for(cfg, "storage-driver", "chosen by dockerd at start"),
    );
    unknown_or!("CIS-DOCKER-2.7", "hosts", {
        let hosts = cfg.list("hosts");
        let tcp: Vec<&String> = hosts
            .iter()
            .filter(|h| {
                !h.starts_with("unix://") && !h.starts_with("fd://") && !h.starts_with("npipe://")
            })
            .collect();
        if tcp.is_empty() {
            (
                Status::NotApplicable,
                Evidence::new("hosts", format!("not listening on TCP: {hosts:?}")),
            )
        } else {
            let verify = cfg.bool("tlsverify") == Some(true);
            let mut e = ev_list(cfg, "hosts", "");
            e.detail = format!(
                "{}; tlsverify={verify}, tls={:?}",
                e.detail,
                cfg.bool("tls")
            );
            (pf(verify), e)
        }
    });
    unknown_or!("CIS-DOCKER-2.8", "default-ulimits", {
        let set = !cfg.list("default-ulimits").is_empty();
        (
            if set { Status::Pass } else { Status::Info },
            ev_list(
                cfg,
                "default-ulimits",
                "none: containers inherit the daemon's limits",
            ),
        )
    });
    push(
        "CIS-DOCKER-2.9",
        pf(cfg.string("userns-remap").is_some_and(|s| !s.is_empty())),
        ev_for(cfg, "userns-remap", "off"),
    );
    unknown_or!("CIS-DOCKER-2.10", "cgroup-parent", {
        let set = cfg.string("cgroup-parent").is_some_and(|s| !s.is_empty());
        (
            if set { Status::Warn } else { Status::Pass },
            ev_for(cfg, "cgroup-parent", "default"),
        )
    });
    unknown_or!("CIS-DOCKER-2.11", "storage-opts", {
        let base = cfg
            .list("storage-opts")
            .iter()
            .any(|o| o.contains("dm.basesize"));
        (
            if base { Status::Warn } else { Status::Pass },
            ev_list(cfg, "storage-opts", "none"),
        )
    });
    push(
        "CIS-DOCKER-2.12",
        pf(!cfg.list("authorization-plugins").is_empty()),
        ev_list(cfg, "authorization-plugins", "none"),
    );
    let ld = cfg.string("log-driver").unwrap_or("json-file");
    push(
        "CIS-DOCKER-2.13",
        pf(!matches!(ld, "json-file" | "local" | "none" | "")),
        ev_for(cfg, "log-driver", "default json-file"),
    );
    unknown_or!(
        "CIS-DOCKER-2.14",
        "no-new-privileges",
        (
            pf(cfg.bool("no-new-privileges") == Some(true)),
            ev_for(cfg, "no-new-privileges", "default false")
        )
    );
    push(
        "CIS-DOCKER-2.15",
        pf(cfg.bool("live-restore") == Some(true)),
        ev_for(cfg, "live-restore", "default false"),
    );
    unknown_or!(
        "CIS-DOCKER-2.16",
        "userland-proxy",
        (
            pf(cfg.bool("userland-proxy") == Some(false)),
            ev_for(cfg, "userland-proxy", "default true")
        )
    );
    let sp = cfg.string("seccomp-profile").unwrap_or("builtin");
    push(
        "CIS-DOCKER-2.17",
        pf(sp != "unconfined"),
        ev_for(cfg, "seccomp-profile", "Docker's built-in default profile"),
    );
    push(
        "CIS-DOCKER-2.18",
        pf(cfg.bool("experimental") != Some(true)),
        ev_for(cfg, "experimental", "default false"),
    );
    match cfg
        .info
        .as_ref()
        .and_then(|i| i.pointer("/Swarm/LocalNodeState"))
        .and_then(Value::as_str)
    {
        Some(state) => push(
            "CIS-DOCKER-5.1",
            if matches!(state, "inactive" | "") {
                Status::Pass
            } else {
                Status::Warn
            },
            Evidence::new("swarm", format!("Swarm.LocalNodeState={state:?}")),
        ),
        None => push(
            "CIS-DOCKER-5.1",
            Status::Manual,
            Evidence::new(
                "swarm",
                "swarm state is only known to a running daemon; use --docker-host",
            ),
        ),
    }
    let conflicts = cfg.conflicts();
    if conflicts.is_empty() {
        push(
            "PAL-DAEMON-1",
            Status::Pass,
            Evidence::new(
                "daemon.json",
                "no option is set both in daemon.json and as a flag",
            ),
        );
    } else {
        for (k, file, flag) in conflicts {
            let e = Evidence::new(
                k,
                format!(
                    "{} in {} and {} in {}: dockerd refuses to start",
                    file.text, file.source, flag.text, flag.source
                ),
            )
            .at(file.source.clone(), file.line);
            push("PAL-DAEMON-1", Status::Fail, e);
        }
    }
    out
}
