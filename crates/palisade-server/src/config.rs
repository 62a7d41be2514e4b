//! `palisade serve --config FILE`: the server's settings, read from YAML with the same parser
//! as the policy, checked before anything listens.
//!
//! Durations are written `250ms`, `8s`, `10m` or `1h` (`palisade_image::http::parse_duration`,
//! as `--http-timeout` takes them); sizes `512KiB`, `64MiB` or a number of
//! bytes. Every field has a default, so `policy:` and `tls:` are the only required settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use palisade_image::http::parse_duration;
use serde::{Deserialize, Deserializer};

/// The largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 256 << 10;

/// A configuration that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file (or `<flags>`).
    pub path: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

/// How a namespace's decisions are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A deny refuses the request.
    Enforce,
    /// Allowed; what would have denied comes back as warnings (`would deny: …`).
    Warn,
    /// Allowed with one warning and an audit annotation.
    Audit,
}

impl Mode {
    /// The word used in the config, logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// The whole `palisade serve` configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// HTTPS listener for `/k8s/*` and `/v1/*`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Plain-HTTP listener for `/healthz`, `/readyz` and `/metrics`; none when absent.
    #[serde(default)]
    pub ops_listen: Option<SocketAddr>,
    /// The serving certificate and key, and the client-certificate check.
    pub tls: crate::tls::TlsFiles,
    /// The policy file.
    pub policy: PathBuf,
    /// The vulnerability database (required when the policy has a `vulnerabilities` section).
    #[serde(default)]
    pub db: Option<PathBuf>,
    /// Where image layers, scan results and hardening results are cached.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How registries are reached.
    #[serde(default)]
    pub registries: Registries,
    /// The decision budget and the cold-decision workers.
    #[serde(default)]
    pub decision: DecisionSettings,
    /// Lifetimes and size of the caches.
    #[serde(default)]
    pub cache: CacheSettings,
    /// How often files are checked for changes.
    #[serde(default)]
    pub reload: ReloadSettings,
    /// Admission settings.
    #[serde(default)]
    pub kubernetes: KubernetesSettings,
    /// The decision log.
    #[serde(default)]
    pub log: LogSettings,
    /// The API for `palisade agent` (policy bundles, host reports); none when absent.
    #[serde(default)]
    pub agents: Option<AgentsSettings>,
    /// The store (images, findings, decisions, events) behind scan on push, re-evaluation
    /// and `/api/v1`; none when absent (admission and agents work without one).
    #[serde(default)]
    pub store: Option<StoreSettings>,
    /// Distribution registry notifications (`POST /registry/events`); off when absent.
    #[serde(default)]
    pub registry_events: Option<RegistryEventsSettings>,
    /// Where events are delivered (a generic JSON webhook or a Slack-compatible one).
    #[serde(default)]
    pub notify: Vec<NotifierSettings>,
    /// Update the vulnerability database on a schedule, as `palisade db update` does; the new
    /// file is picked up like any other and the stored images are matched again.
    #[serde(default)]
    pub db_update: Option<DbUpdateSettings>,
}

/// The scheduled database update.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbUpdateSettings {
    /// How often (the first run is one interval after start).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Feeds, as `palisade db update --feed` names them (default: its defaults).
    #[serde(default)]
    pub feeds: Vec<String>,
    /// Fetch every feed from this mirror instead of upstream.
    #[serde(default)]
    pub mirror: Option<String>,
    /// The deadline of each download.
    #[serde(default = "default_download_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_download_timeout() -> Duration {
    Duration::from_secs(300)
}

/// The store.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite:PATH` (a path alone also works) or `postgres://…` / `host=… dbname=…`.
    /// Default: `$XDG_DATA_HOME/palisade/store.db`.
    #[serde(default)]
    pub location: Option<String>,
    /// Apply missing migrations at start (otherwise `palisade store migrate` must run first).
    #[serde(default = "yes")]
    pub migrate: bool,
    /// Jobs (scans, re-evaluations, notifications) run at once by this replica.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// How long a claimed job is this replica's without renewal; a replica that dies loses
    /// its jobs to the others after this long.
    #[serde(default = "default_lease", deserialize_with = "duration")]
    pub lease: Duration,
    /// How often idle workers look for jobs.
    #[serde(default = "default_job_poll", deserialize_with = "duration")]
    pub poll: Duration,
    /// Tries before a job is given up.
    #[serde(default = "default_attempts")]
    pub max_attempts: i64,
    /// The most connections to the store this replica opens (requests and workers beyond
    /// them wait, up to the statement timeout).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Finished jobs (and the Harbor reports they hold) are deleted after this long. Events
    /// are never deleted.
    #[serde(default = "default_keep_jobs", deserialize_with = "duration")]
    pub keep_jobs: Duration,
}

fn default_max_connections() -> usize {
    32
}

fn default_keep_jobs() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

impl StoreSettings {
    /// `location`, else the default SQLite file (`palisade_store::default_location`).
    ///
    /// # Errors
    /// No location and neither `XDG_DATA_HOME` nor `HOME` is set.
    pub fn location_or_default(&self) -> Result<String, String> {
        match &self.location {
            Some(l) => Ok(l.clone()),
            None => palisade_store::default_location()
                .map(|p| p.display().to_string())
                .ok_or_else(|| {
                    "no store.location and neither XDG_DATA_HOME nor HOME is set".to_owned()
                }),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_workers() -> usize {
    2
}
fn default_lease() -> Duration {
    Duration::from_secs(30)
}
fn default_job_poll() -> Duration {
    Duration::from_millis(250)
}
fn default_attempts() -> i64 {
    5
}

/// Registry notifications.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEventsSettings {
    /// A file holding the accepted token(s), one per line; the registry sends one in `header`.
    pub tokens_file: PathBuf,
    /// The header carrying the token: `Authorization` (as `Bearer TOKEN`) or any other name
    /// (the token alone).
    #[serde(default = "default_events_header")]
    pub header: String,
    /// The registry host (`host:port`) as the server reaches it, when it differs from the
    /// host in the events' URLs (a registry behind a proxy).
    #[serde(default)]
    pub registry: Option<String>,
}

fn default_events_header() -> String {
    "Authorization".to_owned()
}

/// An event receiver.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierSettings {
    /// Where events are POSTed.
    pub url: String,
    /// `json` (the event as the API shows it) or `slack` (`{"text": …}`).
    #[serde(default = "default_notify_format")]
    pub format: String,
    /// Event kinds sent (all when empty): `image.analyzed`, `findings.changed`,
    /// `decision.changed`, `scan.failed`, `signature.verified`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Extra headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Deadline of one delivery.
    #[serde(default = "default_notify_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_notify_format() -> String {
    "json".to_owned()
}
fn default_notify_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The API for agents.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSettings {
    /// A file of bearer tokens, one per line (`#` starts a comment).
    pub tokens_file: PathBuf,
    /// A host that has not reported for this long is listed as stale.
    #[serde(default = "default_stale_after", deserialize_with = "duration")]
    pub stale_after: Duration,
}

fn default_stale_after() -> Duration {
    Duration::from_secs(300)
}

/// Reads a token file: one token per line, blank lines and `#` comments skipped.
///
/// # Errors
/// When the file cannot be read, holds no token, or a token is shorter than 16 characters.
pub fn read_tokens(path: &Path) -> Result<Vec<String>, String> {
    let text = read_capped(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(format!("{}: no token", path.display()));
    }
    if tokens.iter().any(|t| t.len() < 16) {
        return Err(format!(
            "{}: a token is shorter than 16 characters",
            path.display()
        ));
    }
    Ok(tokens)
}

/// Registry access.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registries {
    /// Hosts (`host:port`) that may be reached over plain HTTP (loopback always may).
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Extra CA certificates (PEM) for registries.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// The decision budget and the cold-decision workers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionSettings {
    /// The most time one admission review may take; then it is answered "could not decide
    /// within the budget" (deny in `enforce`). Keep it under the webhook's `timeoutSeconds`.
    #[serde(deserialize_with = "duration")]
    pub budget: Duration,
    /// The total time of one registry request.
    #[serde(deserialize_with = "duration")]
    pub registry_timeout: Duration,
    /// How long a cold decision may go on after its request was answered (it fills the cache).
    #[serde(deserialize_with = "duration")]
    pub background_deadline: Duration,
    /// Cold decisions (image reads, scans) run at once; more wait.
    pub max_cold: usize,
}

impl Default for DecisionSettings {
    fn default() -> Self {
        DecisionSettings {
            budget: Duration::from_secs(8),
            registry_timeout: Duration::from_secs(5),
            background_deadline: Duration::from_secs(120),
            max_cold: 2,
        }
    }
}

/// Cache lifetimes and size.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// How long a tag's digest is reused.
    #[serde(deserialize_with = "duration")]
    pub tag_ttl: Duration,
    /// How long an allow (or warn) decision is reused.
    #[serde(deserialize_with = "duration")]
    pub allow_ttl: Duration,
    /// How long a deny decision is reused.
    #[serde(deserialize_with = "duration")]
    pub deny_ttl: Duration,
    /// How long an error (registry down, unreadable image) is reused before trying again.
    #[serde(deserialize_with = "duration")]
    pub error_ttl: Duration,
    /// The most memory the decision cache holds.
    #[serde(deserialize_with = "size")]
    pub max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            tag_ttl: Duration::from_secs(30),
            allow_ttl: Duration::from_secs(600),
            deny_ttl: Duration::from_secs(120),
            error_ttl: Duration::from_secs(10),
            max_bytes: 64 << 20,
        }
    }
}

/// File watching.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadSettings {
    /// How often the policy, its files, the database and the certificate are checked.
    #[serde(deserialize_with = "duration")]
    pub poll_interval: Duration,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        ReloadSettings {
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// One namespace rule: the first whose `match` has a glob matching the namespace applies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceRule {
    /// Namespace globs (`prod-*`).
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    /// The mode there (default: `kubernetes.default_mode`).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The policy environment there (default: `kubernetes.default_environment`).
    #[serde(default)]
    pub environment: Option<String>,
}

/// Admission settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSettings {
    /// The mode of namespaces no rule matches.
    pub default_mode: Mode,
    /// The environment of namespaces no rule names (default: the policy's default).
    pub default_environment: Option<String>,
    /// Per-namespace rules, first match wins.
    pub namespaces: Vec<NamespaceRule>,
    /// Namespaces never decided (allowed without work). The server's own namespace
    /// (`$POD_NAMESPACE`) is always added.
    pub exclude: Vec<String>,
    /// `/k8s/mutate` settings.
    pub mutate: MutateSettings,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            default_mode: Mode::Enforce,
            default_environment: None,
            namespaces: Vec::new(),
            exclude: vec!["kube-system".to_owned()],
            mutate: MutateSettings::default(),
        }
    }
}

/// `/k8s/mutate` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutateSettings {
    /// Rewrite each allowed image reference to the digest that was decided.
    pub pin_digests: bool,
}

impl Default for MutateSettings {
    fn default() -> Self {
        MutateSettings { pin_digests: true }
    }
}

/// The decision log.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// JSON lines, one per decided image; `-` is standard output; none when absent.
    #[serde(default)]
    pub decisions: Option<PathBuf>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8443))
}

impl ServeConfig {
    /// Reads and checks `path`. Relative paths in the file are taken from the file's directory.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and, for YAML errors, the line and column.
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = read_capped(path).map_err(err)?;
        let mut config: ServeConfig =
            serde_saphyr::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate().map_err(err)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = base.join(&*p);
            }
        };
        // A SQLite store given as a relative path is the config's neighbour too.
        if let Some(l) = self.store.as_mut().and_then(|s| s.location.as_mut()) {
            let is_pg = l.starts_with("postgres://")
                || l.starts_with("postgresql://")
                || l.starts_with("host=");
            let path = l.strip_prefix("sqlite:").unwrap_or(l);
            if !is_pg && Path::new(path).is_relative() {
                *l = format!("sqlite:{}", base.join(path).display());
            }
        }
        fix(&mut self.policy);
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        for p in [
            self.db.as_mut(),
            self.cache_dir.as_mut(),
            self.registries.ca_file.as_mut(),
            self.tls.client_ca.as_mut(),
            self.log.decisions.as_mut(),
            self.agents.as_mut().map(|a| &mut a.tokens_file),
            self.registry_events.as_mut().map(|a| &mut a.tokens_file),
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
    }

    /// Checks relations between settings that serde cannot.
    ///
    /// # Errors
    /// A message saying which setting is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.registry_events.is_some() && self.store.is_none() {
            return Err(
                "registry_events needs a `store:` (scan results and jobs are kept there)".into(),
            );
        }
        if !self.notify.is_empty() && self.store.is_none() {
            return Err("notify needs a `store:` (events are delivered from there)".into());
        }
        for n in &self.notify {
            if !(n.url.starts_with("http://") || n.url.starts_with("https://")) {
                return Err(format!(
                    "notify.url {:?}: expected http:// or https://",
                    n.url
                ));
            }
            if !matches!(n.format.as_str(), "json" | "slack") {
                return Err(format!(
                    "notify.format {:?}: expected `json` or `slack`",
                    n.format
                ));
            }
        }
        if let Some(u) = &self.db_update {
            if self.db.is_none() {
                return Err("db_update needs `db:` (the file it updates)".into());
            }
            if u.interval < Duration::from_secs(60) {
                return Err("db_update.interval: at least 1m".into());
            }
        }
        if let Some(s) = &self.store {
            if s.workers == 0 || s.workers > 64 {
                return Err("store.workers: 1 to 64".into());
            }
            if s.lease < Duration::from_secs(2) || s.lease > Duration::from_secs(3600) {
                return Err("store.lease: 2s to 1h".into());
            }
            if s.max_connections < s.workers + 2 || s.max_connections > 1000 {
                return Err(
                    "store.max_connections: at least store.workers + 2, at most 1000".into(),
                );
            }
            if s.max_attempts < 1 || s.max_attempts > 100 {
                return Err("store.max_attempts: 1 to 100".into());
            }
        }
        let d = &self.decision;
        if d.budget.is_zero() || d.budget > Duration::from_secs(30) {
            return Err(
                "decision.budget must be more than 0 and at most 30s (the API server's webhook timeout is at most 30s)"
                    .into(),
            );
        }
        if d.max_cold == 0 || d.max_cold > 64 {
            return Err("decision.max_cold must be between 1 and 64".into());
        }
        if d.registry_timeout.is_zero() {
            return Err("decision.registry_timeout must be more than 0".into());
        }
        if d.background_deadline < d.budget {
            return Err("decision.background_deadline must be at least decision.budget".into());
        }
        if self.reload.poll_interval < Duration::from_millis(100) {
            return Err("reload.poll_interval must be at least 100ms".into());
        }
        if self.cache.max_bytes < 1 << 20 {
            return Err("cache.max_bytes must be at least 1MiB".into());
        }
        if self.tls.client_ca.is_none() && self.tls.client_auth != crate::tls::ClientAuth::None {
            return Err("tls.client_auth needs tls.client_ca (the CA that signs the API server's client certificate)".into());
        }
        for (i, rule) in self.kubernetes.namespaces.iter().enumerate() {
            if rule.patterns.is_empty() {
                return Err(format!("kubernetes.namespaces[{i}].match is empty"));
            }
        }
        Ok(())
    }

    /// The namespaces never decided: the configured ones and `$POD_NAMESPACE`.
    #[must_use]
    pub fn excluded_namespaces(&self) -> Vec<String> {
        let mut out = self.kubernetes.exclude.clone();
        if let Ok(own) = std::env::var("POD_NAMESPACE")
            && !own.is_empty()
            && !out.contains(&own)
        {
            out.push(own);
        }
        out
    }
}

/// Reads a UTF-8 file of at most [`MAX_CONFIG_BYTES`].
pub(crate) fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("larger than {} KiB", MAX_CONFIG_BYTES >> 10));
    }
    Ok(text)
}

/// Parses `512KiB`, `64MiB`, `1GiB` or a number of bytes.
///
/// # Errors
/// A message naming the value.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write 512KiB, 64MiB or 1GiB)"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size (write 512KiB, 64MiB or 1GiB)"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .filter(|b| *b <= 64 << 30)
        .ok_or_else(|| format!("`{text}` is larger than 64GiB"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Text(String),
}

/// Deserializes a duration written as [`parse_duration`] reads it (or a number of seconds).
///
/// # Errors
/// The deserializer's error for a value that is not a duration.
pub fn duration_de<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration(d)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match NumOrText::deserialize(d)? {
        NumOrText::Num(n) => parse_duration(&n.to_string()),
        NumOrText::Text(t) => parse_duration(&t),
    }
    .map_err(serde::de::Error::custom)
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumOrText::deserialize(d)? {
        NumOrText::Num(n) => Ok(n),
        NumOrText::Text(t) => parse_size(&t).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("8s").unwrap(), Duration::from_secs(8));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("8 days").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("1PB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}
