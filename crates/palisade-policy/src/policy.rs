//! Loading and validating the policy file into an immutable [`Policy`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use palisade_harden::check::Level;
use palisade_harden::profile::Profile;
use palisade_image::{Timestamp, check_glob};
use palisade_trust::rules::{Action, Signers, SourceRule, TagRules, TrustedSources};
use serde_saphyr::Location;
use sha2::{Digest as _, Sha256};

use crate::error::{Diagnostic, ErrorKind, PolicyError};
use crate::model::{
    RawDenyOn, RawEffect, RawHardening, RawHardeningSettings, RawPolicy, RawSources,
    RawVulnSettings, RawVulns, S,
};
use crate::rego::{RegoRule, parse_regorus_error};

/// The largest policy file (and Rego file) read, in bytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// The most exceptions, and the most Rego rules, a policy may have.
pub const MAX_ITEMS: usize = 1000;

const SEVERITIES: &[&str] = &["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"];

/// A compiled, validated policy. Cheap to share; evaluation never mutates it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) path: String,
    pub(crate) name: String,
    pub(crate) declared_name: Option<String>,
    pub(crate) version: u64,
    pub(crate) sha256: String,
    pub(crate) default_environment: Option<String>,
    /// Every environment name the policy mentions (`default_environment`, `environments`,
    /// the overrides of each section, exceptions), plus the default one.
    pub(crate) environments: std::collections::BTreeSet<String>,
    pub(crate) keys: BTreeMap<String, PathBuf>,
    pub(crate) keyless: BTreeMap<String, Keyless>,
    pub(crate) gpg: BTreeMap<String, GpgSource>,
    pub(crate) notary: BTreeMap<String, NotarySource>,
    pub(crate) notation: BTreeMap<String, NotationSource>,
    pub(crate) sources: Option<TrustedSources>,
    pub(crate) vulnerabilities: Option<Scoped<VulnSettings>>,
    pub(crate) hardening: Option<Scoped<HardeningSettings>>,
    pub(crate) exceptions: Vec<Exception>,
    pub(crate) rules: Vec<RegoRule>,
    /// The key and trust-root files the policy names, with where it names them.
    pub(crate) files: Vec<FileRef>,
    /// The Rego modules read for `rules[].file`, in rule order.
    pub(crate) rego_files: Vec<PathBuf>,
}

/// A file the policy refers to (besides Rego modules, which are read while loading).
#[derive(Debug, Clone)]
pub(crate) struct FileRef {
    /// `sources.keys.NAME` or `sources.keyless.NAME.trusted_root`.
    key: String,
    trust_root: bool,
    path: PathBuf,
    line: u64,
    column: u64,
}

/// A named keyless (Fulcio certificate) identity from `sources.keyless`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyless {
    /// The certificate's subject (SAN): an exact value, or a regular expression when
    /// `identity_regexp` is true.
    pub identity: String,
    /// Whether `identity` is a regular expression.
    pub identity_regexp: bool,
    /// The OIDC issuer.
    pub issuer: String,
    /// The offline trust root (`trusted_root.json`), resolved against the policy's directory.
    pub trusted_root: Option<PathBuf>,
}

/// A named Docker Content Trust (Notary v1) source from `sources.notary`: a tag is signed by
/// it when the collection `registry/repository` on `server` verifies from the pinned `root`
/// and its target for the tag is the digest the registry serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotarySource {
    /// The Notary server URL (`https://…`).
    pub server: String,
    /// The pinned root: `sha256:<hex of root.json>` or `key:<root key ID>`.
    pub root: String,
}

/// A named Notation (Notary Project v2) source from `sources.notation`: a digest is signed by
/// it when a Notation signature verifies under `trust_policy` (`trustpolicy.json` 1.0) with
/// the certificates of `trust_store` (`x509/ca/<name>/…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotationSource {
    /// The trust policy file, resolved against the policy's directory.
    pub trust_policy: PathBuf,
    /// The trust store directory, resolved likewise.
    pub trust_store: PathBuf,
    /// Where the policy file names the trust policy.
    line: u64,
    column: u64,
}

/// A named GPG simple-signing keyring from `sources.gpg`, with where its signatures are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpgSource {
    /// The keyring file (`gpg --export`, binary or armoured), resolved against the policy's
    /// directory.
    pub keyring: PathBuf,
    /// A containers `registries.d` directory giving the lookaside storage, resolved likewise.
    pub registries_d: Option<PathBuf>,
    /// A lookaside base URL (`file://` or `http(s)://`), used before `registries_d`.
    pub lookaside: Option<String>,
    /// Where the policy file names the keyring.
    line: u64,
    column: u64,
}

/// What the caller must gather before calling [`Policy::evaluate`] for an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// Signature verification (the policy has a `sources` section).
    pub trust: bool,
    /// A vulnerability scan (the policy has a `vulnerabilities` section, or Rego rules).
    pub vulnerabilities: bool,
    /// Hardening checks of the image (the policy has a `hardening` section, or Rego rules).
    pub hardening: bool,
    /// An SBOM summary (the policy has Rego rules, which may read `input.sbom`).
    pub sbom: bool,
}

/// A setting with per-environment overrides already merged.
#[derive(Debug, Clone)]
pub(crate) struct Scoped<T> {
    pub(crate) base: T,
    pub(crate) environments: BTreeMap<String, T>,
}

impl<T> Scoped<T> {
    pub(crate) fn get(&self, env: &str) -> &T {
        self.environments.get(env).unwrap_or(&self.base)
    }
}

/// `deny`, `warn` or `ignore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMatch {
    Deny,
    Warn,
    Ignore,
}

impl From<RawEffect> for OnMatch {
    fn from(e: RawEffect) -> OnMatch {
        match e {
            RawEffect::Deny => OnMatch::Deny,
            RawEffect::Warn => OnMatch::Warn,
            RawEffect::Ignore => OnMatch::Ignore,
        }
    }
}

impl OnMatch {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OnMatch::Deny => "deny",
            OnMatch::Warn => "warn",
            OnMatch::Ignore => "ignore",
        }
    }
}

/// Effective vulnerability thresholds for one environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VulnSettings {
    pub(crate) max_cvss: Option<f64>,
    /// Upper-case.
    pub(crate) severities: Vec<String>,
    pub(crate) ignore_unfixed: bool,
    pub(crate) kev: OnMatch,
    pub(crate) epss: Option<(f64, OnMatch)>,
    pub(crate) max_db_age_days: Option<u64>,
    /// Packages the database has no advisories for.
    pub(crate) coverage: OnMatch,
    /// Findings of unknown severity where a severity or CVSS threshold applies.
    pub(crate) unknown_severity: OnMatch,
}

/// Effective hardening settings for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HardeningSettings {
    pub(crate) level: u8,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) deny_on: DenyOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DenyOn {
    Fail,
    Warn,
    None,
}

impl DenyOn {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DenyOn::Fail => "fail",
            DenyOn::Warn => "warn",
            DenyOn::None => "none",
        }
    }
}

/// One exception as [`Policy::exceptions`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExceptionInfo {
    /// Its name.
    pub name: String,
    /// The advisories it waives (ids or aliases).
    pub advisories: Vec<String>,
    /// The packages it waives.
    pub packages: Vec<String>,
    /// The images it is limited to (globs; empty: every image).
    pub images: Vec<String>,
    /// The hardening checks it waives.
    pub checks: Vec<String>,
    /// The environments it applies in (`None`: every one).
    pub environments: Option<Vec<String>>,
    /// Its justification.
    pub reason: String,
    /// Who approved it.
    pub approved_by: String,
    /// Its last valid day, `YYYY-MM-DD`.
    pub expires: String,
    /// The end of that day, as seconds since the epoch of midnight UTC starting it (`None`:
    /// unreadable, which counts as expired).
    pub expires_at: Option<i64>,
}

/// One exception, validated.
#[derive(Debug, Clone)]
pub(crate) struct Exception {
    pub(crate) name: String,
    pub(crate) advisories: Vec<String>,
    pub(crate) packages: Vec<String>,
    pub(crate) images: Vec<String>,
    pub(crate) checks: Vec<String>,
    pub(crate) environments: Option<Vec<String>>,
    pub(crate) reason: String,
    pub(crate) approved_by: String,
    pub(crate) expires: String,
    /// Midnight UTC starting `expires` (the exception applies through that day); `None` only
    /// in a policy that failed validation, where it counts as expired.
    pub(crate) expires_at: Option<Timestamp>,
}

/// Collects located problems while validating.
struct Ctx<'a> {
    path: &'a str,
    errors: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn at(&mut self, loc: Location, key: &str, msg: impl Display) {
        self.errors.push(Diagnostic {
            path: self.path.to_owned(),
            line: loc.line(),
            column: loc.column(),
            message: format!("{key}: {msg}"),
        });
    }

    fn glob(&mut self, g: &S<String>, key: &str) {
        if let Err(e) = check_glob(&g.value) {
            self.at(
                g.referenced,
                key,
                format_args!("invalid glob {}: {}", quote(&g.value), e.kind()),
            );
        }
    }

    fn globs(&mut self, gs: &[S<String>], key: &str) -> Vec<String> {
        for (i, g) in gs.iter().enumerate() {
            self.glob(g, &format!("{key}[{i}]"));
        }
        gs.iter().map(|g| g.value.clone()).collect()
    }

    fn env_name(&mut self, name: &str, loc: Location, key: &str) {
        if !valid_name(name) {
            self.at(
                loc,
                key,
                format_args!(
                    "invalid environment name {}: use 1 to 64 letters, digits, `.`, `_` or `-`",
                    quote(name)
                ),
            );
        }
    }
}

/// Names (environments, keys, signers): 1..=64 of `[A-Za-z0-9._-]`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A value quoted for a message, cut to 80 characters.
pub(crate) fn quote(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{:?}…", cut)
    } else {
        format!("{cut:?}")
    }
}

impl Policy {
    /// Reads and compiles a policy file (at most 1 MiB). Relative paths in it (keys, trust
    /// roots, Rego files) are resolved against its directory.
    ///
    /// # Errors
    /// [`PolicyError`] naming the file, line and column of every problem found.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let name = path.display().to_string();
        let text = read_limited(path, &name)?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let policy = Policy::parse(&text, &name, base)?;
        policy.check_files()?;
        Ok(policy)
    }

    /// Checks every key and trust-root file the policy names: that it exists, is a regular file
    /// of at most [`MAX_POLICY_BYTES`], and parses as a PEM public key or a `trusted_root.json`.
    /// [`Policy::load`] does this; [`Policy::parse`] does not (its paths may be hypothetical).
    ///
    /// # Errors
    /// [`PolicyError`] located at the line of the policy file that names each bad file.
    pub fn check_files(&self) -> Result<(), PolicyError> {
        let mut errors = Vec::new();
        for f in &self.files {
            let shown = f.path.display().to_string();
            let problem = match read_file_limited(&f.path, &shown) {
                Err(e) => Some(e.to_string()),
                Ok(bytes) if f.trust_root => {
                    palisade_trust::trust_root::TrustRoot::from_json(&bytes)
                        .err()
                        .map(|e| format!("{shown}: not a usable trusted_root.json: {e}"))
                }
                Ok(bytes) => match std::str::from_utf8(&bytes) {
                    Err(_) => Some(format!("{shown}: not a PEM public key (not UTF-8)")),
                    Ok(text) => palisade_trust::keys::PublicKey::from_pem(text)
                        .err()
                        .map(|e| format!("{shown}: not a usable public key: {e}")),
                },
            };
            if let Some(problem) = problem {
                errors.push(Diagnostic {
                    path: self.path.clone(),
                    line: f.line,
                    column: f.column,
                    message: format!("{}: {problem}", f.key),
                });
            }
        }
        for (name, g) in &self.gpg {
            if let Err(e) = palisade_trust::gpg::Keyring::from_file(&g.keyring) {
                errors.push(Diagnostic {
                    path: self.path.clone(),
                    line: g.line,
                    column: g.column,
                    message: format!("sources.gpg.{name}.keyring: not a usable GPG keyring: {e}"),
                });
            }
        }
        for (name, n) in &self.notation {
            if let Err(e) = palisade_trust::notation::Verifier::from_files(
                name,
                &n.trust_policy,
                &n.trust_store,
            ) {
                errors.push(Diagnostic {
                    path: self.path.clone(),
                    line: n.line,
                    column: n.column,
                    message: format!(
                        "sources.notation.{name}: not a usable Notation trust policy and store: {e}"
                    ),
                });
            }
        }
        PolicyError::from_diagnostics(ErrorKind::Io, errors).map_or(Ok(()), Err)
    }

    /// Compiles a policy from text; `name` names it in errors, `base_dir` anchors its relative
    /// paths.
    ///
    /// # Errors
    /// [`PolicyError`] naming `name`, line and column of every problem found.
    pub fn parse(text: &str, name: &str, base_dir: &Path) -> Result<Policy, PolicyError> {
        Policy::parse_with(text, name, base_dir, true)
    }

    /// [`Policy::parse`], with or without the trial run of the Rego rules (the fuzz target
    /// checks the front end only).
    pub(crate) fn parse_with(
        text: &str,
        name: &str,
        base_dir: &Path,
        trial: bool,
    ) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::new(
                ErrorKind::Invalid,
                name,
                0,
                0,
                format!("larger than {MAX_POLICY_BYTES} bytes"),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        let raw: RawPolicy = parse_yaml(text, name)?;
        let mut ctx = Ctx {
            path: name,
            errors: Vec::new(),
        };
        let base_dir = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());

        if raw.version.value != 1 {
            ctx.at(
                raw.version.referenced,
                "version",
                format_args!(
                    "unsupported version {} (only 1 is supported)",
                    raw.version.value
                ),
            );
        }
        if let Some(env) = &raw.default_environment {
            ctx.env_name(&env.value, env.referenced, "default_environment");
        }
        for (i, env) in raw.environments.iter().enumerate() {
            ctx.env_name(&env.value, env.referenced, &format!("environments[{i}]"));
        }
        let mut keys = BTreeMap::new();
        let mut keyless = BTreeMap::new();
        let sources = raw
            .sources
            .as_ref()
            .map(|s| sources(&mut ctx, s, &base_dir, &mut keys, &mut keyless));
        let files = raw
            .sources
            .as_ref()
            .map_or_else(Vec::new, |s| file_refs(s, &base_dir));
        let vulnerabilities = raw.vulnerabilities.as_ref().map(|v| vulns(&mut ctx, v));
        let hardening = raw.hardening.as_ref().map(|h| hardening(&mut ctx, h));
        let exceptions = exceptions(&mut ctx, &raw);
        let mut rego_files = Vec::new();
        let rules = rules(&mut ctx, &raw, text, &base_dir, &mut rego_files);
        let rules = if trial {
            trial_run(&mut ctx, rules, text)
        } else {
            rules.into_iter().map(|(r, _)| r).collect()
        };

        if let Some(err) = PolicyError::from_diagnostics(ErrorKind::Invalid, ctx.errors) {
            let kind = if err.path == name {
                ErrorKind::Invalid
            } else {
                ErrorKind::Rego
            };
            return Err(PolicyError { kind, ..err });
        }
        let policy_name = raw.name.clone().unwrap_or_else(|| {
            Path::new(name)
                .file_stem()
                .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned())
        });
        let mut environments: std::collections::BTreeSet<String> =
            raw.environments.iter().map(|e| e.value.clone()).collect();
        environments.insert(
            raw.default_environment
                .as_ref()
                .map_or_else(|| "default".to_owned(), |e| e.value.clone()),
        );
        if let Some(v) = &vulnerabilities {
            environments.extend(v.environments.keys().cloned());
        }
        if let Some(h) = &hardening {
            environments.extend(h.environments.keys().cloned());
        }
        for e in &exceptions {
            environments.extend(e.environments.iter().flatten().cloned());
        }
        Ok(Policy {
            path: name.to_owned(),
            name: policy_name,
            declared_name: raw.name.clone(),
            version: raw.version.value,
            sha256,
            default_environment: raw.default_environment.map(|e| e.value),
            environments,
            keys,
            keyless,
            gpg: raw
                .sources
                .as_ref()
                .map_or_else(BTreeMap::new, |s| crate::policy::gpg_sources(s, &base_dir)),
            notary: raw
                .sources
                .as_ref()
                .map_or_else(BTreeMap::new, notary_sources),
            notation: raw
                .sources
                .as_ref()
                .map_or_else(BTreeMap::new, |s| notation_sources(s, &base_dir)),
            sources,
            vulnerabilities,
            hardening,
            exceptions,
            rules,
            files,
            rego_files,
        })
    }

    /// The policy's `name:`, when it has one (decisions fall back to the file stem).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.declared_name.as_deref()
    }

    /// Hex SHA-256 of the policy file's bytes.
    #[must_use]
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The environment to decide for: `requested`, else `default_environment`, else `default`.
    ///
    /// # Errors
    /// A name the policy never mentions: a typo (`prdo`) must not quietly drop the
    /// environment's overrides. Names without overrides of their own are declared under
    /// `environments:`.
    pub fn environment<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, PolicyError> {
        let env = requested
            .filter(|r| !r.is_empty())
            .or(self.default_environment.as_deref())
            .unwrap_or("default");
        if self.environments.contains(env) {
            return Ok(env);
        }
        Err(PolicyError::new(
            ErrorKind::Invalid,
            self.path.clone(),
            0,
            0,
            format!(
                "unknown environment {}: {} knows {} (declare other names under `environments:`)",
                quote(&env.chars().take(64).collect::<String>()),
                self.path,
                self.environments
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }

    /// The environment names the policy knows, sorted.
    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.environments.iter().map(String::as_str)
    }

    /// What the caller must gather for `env`: the sections present, plus the SBOM summary and
    /// the image hardening results when there are Rego rules (both come from the image alone).
    /// Findings need a vulnerability database and signatures need keys, so a rule sees
    /// `input.vulnerabilities` only when the policy has a `vulnerabilities` section (an empty
    /// `vulnerabilities: {}` is enough) and `input.trust` only with `sources`: a decision never
    /// depends on what happens to be installed on the machine. Environments change thresholds,
    /// never whether a section runs.
    #[must_use]
    pub fn needs(&self, _env: &str) -> Needs {
        let rego = !self.rules.is_empty();
        Needs {
            trust: self.sources.is_some(),
            vulnerabilities: self.vulnerabilities.is_some(),
            hardening: self.hardening.is_some() || rego,
            sbom: rego,
        }
    }

    /// The exceptions, in file order, as a reader sees them (the console's policy page).
    #[must_use]
    pub fn exceptions(&self) -> Vec<ExceptionInfo> {
        self.exceptions
            .iter()
            .map(|e| ExceptionInfo {
                name: e.name.clone(),
                advisories: e.advisories.clone(),
                packages: e.packages.clone(),
                images: e.images.clone(),
                checks: e.checks.clone(),
                environments: e.environments.clone(),
                reason: e.reason.clone(),
                approved_by: e.approved_by.clone(),
                expires: e.expires.clone(),
                expires_at: e.expires_at.as_ref().map(Timestamp::unix_seconds),
            })
            .collect()
    }

    /// The policy file's path as loaded.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Named public keys (`sources.keys`), resolved to absolute paths. The caller verifies
    /// signatures with them and reports the names that verified in [`crate::TrustInput`].
    #[must_use]
    pub fn keys(&self) -> &BTreeMap<String, PathBuf> {
        &self.keys
    }

    /// Named keyless identities (`sources.keyless`).
    #[must_use]
    pub fn keyless(&self) -> &BTreeMap<String, Keyless> {
        &self.keyless
    }

    /// Named GPG keyrings (`sources.gpg`).
    #[must_use]
    pub fn gpg(&self) -> &BTreeMap<String, GpgSource> {
        &self.gpg
    }

    /// Named Notation trust policies and stores (`sources.notation`).
    #[must_use]
    pub fn notation(&self) -> &BTreeMap<String, NotationSource> {
        &self.notation
    }

    /// Named Docker Content Trust (Notary v1) sources (`sources.notary`).
    #[must_use]
    pub fn notary(&self) -> &BTreeMap<String, NotarySource> {
        &self.notary
    }

    /// Every file the policy depends on besides the policy file itself, as absolute paths
    /// (resolved against the policy's directory, not canonicalised: a symlink stays the
    /// path the policy names): the public keys of `sources.keys`, the trust roots of
    /// `sources.keyless.*.trusted_root`, in the order the policy file names them, then the
    /// Rego modules of `rules[].file`, in rule order; each once. Inline Rego is part of the
    /// policy file. [`Policy::load`] has read every one of them; after [`Policy::parse`], the
    /// keys and trust roots are named but not yet read ([`Policy::check_files`] reads them).
    ///
    /// What a file watcher stats besides the policy file to reload on change, and what a
    /// policy bundle carries along with it.
    #[must_use]
    pub fn dependencies(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for path in self
            .files
            .iter()
            .map(|f| &f.path)
            .chain(self.gpg.values().map(|g| &g.keyring))
            .chain(&self.rego_files)
        {
            if !out.contains(path) {
                out.push(path.clone());
            }
        }
        out
    }

    /// The hardening check selection for `env`, or `None` when the policy has no `hardening`
    /// section.
    #[must_use]
    pub fn hardening_profile(&self, env: &str) -> Option<Profile> {
        let h = self.hardening.as_ref()?.get(env);
        Some(Profile {
            level: if h.level >= 2 { Level::Two } else { Level::One },
            include: h.include.clone(),
            exclude: h.exclude.clone(),
            ..Profile::default()
        })
    }
}

/// Reads a policy-side file (policy, Rego module, key, trust root, test) of at most
/// [`MAX_POLICY_BYTES`]. Only regular files are read: a FIFO, a device (`/dev/zero`), a socket or
/// a directory, also behind a symlink, is refused by its type, before and after opening (the
/// open does not block on a FIFO).
pub(crate) fn read_limited(path: &Path, name: &str) -> Result<String, PolicyError> {
    let bytes = read_file_limited(path, name)?;
    String::from_utf8(bytes)
        .map_err(|_| PolicyError::new(ErrorKind::Invalid, name, 0, 0, "not valid UTF-8"))
}

/// [`read_limited`] without the UTF-8 check.
pub(crate) fn read_file_limited(path: &Path, name: &str) -> Result<Vec<u8>, PolicyError> {
    use std::io::Read;
    let not_regular = |meta: &std::fs::Metadata| -> Option<PolicyError> {
        let ft = meta.file_type();
        if ft.is_file() {
            return None;
        }
        Some(PolicyError::new(
            ErrorKind::Io,
            name,
            0,
            0,
            format!(
                "not a regular file ({}); refusing to read it",
                file_kind(&ft)
            ),
        ))
    };
    let meta = std::fs::metadata(path).map_err(|e| PolicyError::io(name, &e))?;
    if let Some(e) = not_regular(&meta) {
        return Err(e);
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Swapped for a FIFO after the check: open returns at once instead of waiting.
        options.custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
    }
    let f = options.open(path).map_err(|e| PolicyError::io(name, &e))?;
    let meta = f.metadata().map_err(|e| PolicyError::io(name, &e))?;
    if let Some(e) = not_regular(&meta) {
        return Err(e);
    }
    let mut bytes = Vec::new();
    f.take(MAX_POLICY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PolicyError::io(name, &e))?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::new(
            ErrorKind::Invalid,
            name,
            0,
            0,
            format!("larger than {MAX_POLICY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Parses YAML with serde-saphyr's default budgets, mapping its error to a located one in our
/// own words.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
) -> Result<T, PolicyError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let message = yaml_message(e.without_snippet()).unwrap_or_else(|| {
            let mut message = e.without_snippet().to_string();
            let suffix = format!(" at line {line}, column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
            message
        });
        PolicyError::new(ErrorKind::Syntax, name, line, column, message)
    })
}

/// The messages of serde-saphyr that speak of its own API, in ours.
fn yaml_message(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::Error as E;
    match e {
        E::DuplicateMappingKey { key: Some(k), .. } => Some(format!(
            "duplicate key {}: each key may appear once",
            quote(k)
        )),
        E::DuplicateMappingKey { key: None, .. } => {
            Some("duplicate key: each key may appear once".to_owned())
        }
        E::MultipleDocuments { .. } => Some(
            "more than one YAML document (a `---` separator): a policy file holds exactly one"
                .to_owned(),
        ),
        E::Budget { breach, .. } => Some(match breach {
            serde_saphyr::budget::BudgetBreach::Depth { .. } => {
                "nesting too deep: the YAML is nested deeper than the parser accepts".to_owned()
            }
            _ => "too large or too complex (too many nodes, aliases or events)".to_owned(),
        }),
        _ => None,
    }
}

/// The key and trust-root files `sources` names, in file order.
fn file_refs(raw: &RawSources, base: &Path) -> Vec<FileRef> {
    let mut out = Vec::new();
    for (name, path) in &raw.keys {
        if !path.value.is_empty() {
            out.push(FileRef {
                key: format!("sources.keys.{name}"),
                trust_root: false,
                path: resolve(base, &path.value),
                line: path.referenced.line(),
                column: path.referenced.column(),
            });
        }
    }
    for (name, k) in &raw.keyless {
        if let Some(t) = k.trusted_root.as_ref().filter(|t| !t.value.is_empty()) {
            out.push(FileRef {
                key: format!("sources.keyless.{name}.trusted_root"),
                trust_root: true,
                path: resolve(base, &t.value),
                line: t.referenced.line(),
                column: t.referenced.column(),
            });
        }
    }
    out.sort_by_key(|f| (f.line, f.column));
    out
}

/// `sources.gpg`, paths resolved against the policy's directory.
pub(crate) fn gpg_sources(raw: &RawSources, base: &Path) -> BTreeMap<String, GpgSource> {
    raw.gpg
        .iter()
        .map(|(name, g)| {
            (
                name.clone(),
                GpgSource {
                    keyring: resolve(base, &g.keyring.value),
                    registries_d: g.registries_d.as_ref().map(|d| resolve(base, &d.value)),
                    lookaside: g.lookaside.as_ref().map(|l| l.value.clone()),
                    line: g.keyring.referenced.line(),
                    column: g.keyring.referenced.column(),
                },
            )
        })
        .collect()
}

/// `sources.notation`, paths resolved against the policy's directory.
fn notation_sources(raw: &RawSources, base: &Path) -> BTreeMap<String, NotationSource> {
    raw.notation
        .iter()
        .map(|(name, n)| {
            (
                name.clone(),
                NotationSource {
                    trust_policy: resolve(base, &n.trust_policy.value),
                    trust_store: resolve(base, &n.trust_store.value),
                    line: n.trust_policy.referenced.line(),
                    column: n.trust_policy.referenced.column(),
                },
            )
        })
        .collect()
}

/// `sources.notary`, as written.
fn notary_sources(raw: &RawSources) -> BTreeMap<String, NotarySource> {
    raw.notary
        .iter()
        .map(|(name, n)| {
            (
                name.clone(),
                NotarySource {
                    server: n.server.value.clone(),
                    root: n.root.value.clone(),
                },
            )
        })
        .collect()
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    base.join(p)
}

fn sources(
    ctx: &mut Ctx<'_>,
    raw: &RawSources,
    base: &Path,
    keys: &mut BTreeMap<String, PathBuf>,
    keyless: &mut BTreeMap<String, Keyless>,
) -> TrustedSources {
    for (name, path) in &raw.keys {
        let key = format!("sources.keys.{name}");
        if !valid_name(name) {
            ctx.at(
                path.referenced,
                &key,
                "key names use 1 to 64 letters, digits, `.`, `_` or `-`",
            );
        }
        if path.value.is_empty() {
            ctx.at(path.referenced, &key, "empty path");
        }
        keys.insert(name.clone(), resolve(base, &path.value));
    }
    for (name, g) in &raw.gpg {
        let key = format!("sources.gpg.{name}");
        if !valid_name(name) {
            ctx.at(
                g.keyring.referenced,
                &key,
                "keyring names use 1 to 64 letters, digits, `.`, `_` or `-`",
            );
        }
        if keys.contains_key(name) || raw.keyless.contains_key(name) {
            ctx.at(
                g.keyring.referenced,
                &key,
                "the name is also used in sources.keys or sources.keyless",
            );
        }
        if g.keyring.value.is_empty() {
            ctx.at(
                g.keyring.referenced,
                &format!("{key}.keyring"),
                "empty path",
            );
        }
        if let Some(l) = &g.lookaside
            && !["file://", "http://", "https://"]
                .iter()
                .any(|p| l.value.starts_with(p))
        {
            ctx.at(
                l.referenced,
                &format!("{key}.lookaside"),
                "a lookaside URL starts with file://, http:// or https://",
            );
        }
    }
    for (name, k) in &raw.keyless {
        let key = format!("sources.keyless.{name}");
        if !valid_name(name) {
            ctx.at(
                k.identity.referenced,
                &key,
                "identity names use 1 to 64 letters, digits, `.`, `_` or `-`",
            );
        }
        if keys.contains_key(name) {
            ctx.at(
                k.identity.referenced,
                &key,
                "the name is also used in sources.keys",
            );
        }
        if k.identity.value.is_empty() {
            ctx.at(
                k.identity.referenced,
                &format!("{key}.identity"),
                "empty identity",
            );
        }
        if k.issuer.value.is_empty() {
            ctx.at(
                k.issuer.referenced,
                &format!("{key}.issuer"),
                "empty issuer",
            );
        }
        keyless.insert(
            name.clone(),
            Keyless {
                identity: k.identity.value.clone(),
                identity_regexp: k.identity_regexp,
                issuer: k.issuer.value.clone(),
                trusted_root: k.trusted_root.as_ref().map(|t| resolve(base, &t.value)),
            },
        );
    }
    for (name, n) in &raw.notary {
        let key = format!("sources.notary.{name}");
        if !valid_name(name) {
            ctx.at(
                n.server.referenced,
                &key,
                "Notary source names use 1 to 64 letters, digits, `.`, `_` or `-`",
            );
        }
        if !(n.server.value.starts_with("https://") || n.server.value.starts_with("http://")) {
            ctx.at(
                n.server.referenced,
                &format!("{key}.server"),
                "the Notary server is an https:// URL (http:// only on loopback)",
            );
        }
        let pin = n
            .root
            .value
            .strip_prefix("sha256:")
            .or_else(|| n.root.value.strip_prefix("key:"));
        if !pin.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
            ctx.at(
                n.root.referenced,
                &format!("{key}.root"),
                "the pinned root is sha256:<64 hex> (of an exported root.json) or key:<64 hex> \
                 (a root key ID); trust on first use is not accepted",
            );
        }
    }
    let known: Vec<&str> = keys
        .keys()
        .chain(keyless.keys())
        .chain(raw.gpg.keys())
        .chain(raw.notary.keys())
        .chain(raw.notation.keys())
        .map(String::as_str)
        .collect();
    let mut seen = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let key = format!("sources.rules[{i}]");
        if r.name.value.is_empty() {
            ctx.at(r.name.referenced, &format!("{key}.name"), "empty name");
        } else if !seen.insert(r.name.value.clone()) {
            ctx.at(
                r.name.referenced,
                &format!("{key}.name"),
                format_args!("duplicate rule name {}", quote(&r.name.value)),
            );
        }
        if r.images.value.is_empty() {
            ctx.at(
                r.images.referenced,
                &format!("{key}.images"),
                "at least one image glob is required",
            );
        }
        let images = ctx.globs(&r.images.value, &format!("{key}.images"));
        let mut signer_names = |list: &[S<String>], field: &str| -> Vec<String> {
            for (j, s) in list.iter().enumerate() {
                if !known.contains(&s.value.as_str()) {
                    let hint = if known.is_empty() {
                        "no keys or keyless identities are defined in sources".to_owned()
                    } else {
                        format!("known: {}", known.join(", "))
                    };
                    ctx.at(
                        s.referenced,
                        &format!("{key}.signers.{field}[{j}]"),
                        format_args!("unknown signer {} ({hint})", quote(&s.value)),
                    );
                }
            }
            list.iter().map(|s| s.value.clone()).collect()
        };
        let any_of = signer_names(&r.signers.any_of, "any_of");
        let all_of = signer_names(&r.signers.all_of, "all_of");
        let deny = ctx.globs(&r.tags.deny, &format!("{key}.tags.deny"));
        rules.push(SourceRule {
            name: r.name.value.clone(),
            images,
            action: match r.action {
                Some(crate::model::RawAction::Deny) => Action::Deny,
                _ => Action::Allow,
            },
            signers: Signers { any_of, all_of },
            tags: TagRules {
                deny,
                require_digest: r.tags.require_digest,
            },
        });
    }
    TrustedSources {
        default: match raw.default {
            Some(crate::model::RawAction::Allow) => Action::Allow,
            _ => Action::Deny,
        },
        rules,
    }
}

fn vuln_settings(
    ctx: &mut Ctx<'_>,
    over: &RawVulnSettings,
    base: &VulnSettings,
    key: &str,
) -> VulnSettings {
    let mut out = base.clone();
    if let Some(v) = &over.max_cvss {
        out.max_cvss = v.as_ref().map(|s| {
            if !(0.0..=10.0).contains(&s.value) {
                ctx.at(
                    s.referenced,
                    &format!("{key}max_cvss"),
                    format_args!("{} is not a CVSS score (0 to 10)", s.value),
                );
            }
            s.value
        });
    }
    if let Some(v) = &over.severities {
        out.severities = Vec::new();
        for (i, s) in v.iter().flatten().enumerate() {
            let up = s.value.to_ascii_uppercase();
            if SEVERITIES.contains(&up.as_str()) {
                out.severities.push(up);
            } else {
                ctx.at(
                    s.referenced,
                    &format!("{key}severities[{i}]"),
                    format_args!(
                        "unknown severity {} (expected critical, high, medium, low, negligible or unknown)",
                        quote(&s.value)
                    ),
                );
            }
        }
        out.severities.sort();
        out.severities.dedup();
    }
    if let Some(v) = over.ignore_unfixed {
        out.ignore_unfixed = v.unwrap_or(false);
    }
    if let Some(v) = over.kev {
        out.kev = v.map_or(OnMatch::Ignore, OnMatch::from);
    }
    if let Some(v) = &over.epss {
        out.epss = v.as_ref().map(|e| {
            if !(0.0..=1.0).contains(&e.above.value) {
                ctx.at(
                    e.above.referenced,
                    &format!("{key}epss.above"),
                    format_args!("{} is not a probability (0 to 1)", e.above.value),
                );
            }
            (e.above.value, OnMatch::from(e.action))
        });
    }
    if let Some(v) = &over.max_db_age_days {
        out.max_db_age_days = v.as_ref().map(|d| d.value);
    }
    if let Some(v) = over.coverage {
        out.coverage = v.map_or(OnMatch::Ignore, OnMatch::from);
    }
    if let Some(v) = over.unknown_severity {
        out.unknown_severity = v.map_or(OnMatch::Ignore, OnMatch::from);
    }
    out
}

fn vulns(ctx: &mut Ctx<'_>, raw: &RawVulns) -> Scoped<VulnSettings> {
    let defaults = VulnSettings {
        max_cvss: None,
        severities: Vec::new(),
        ignore_unfixed: false,
        kev: OnMatch::Ignore,
        epss: None,
        max_db_age_days: None,
        // Fail closed: a package nobody checked, or a finding whose severity nobody knows,
        // denies unless the policy says otherwise.
        coverage: OnMatch::Deny,
        unknown_severity: OnMatch::Deny,
    };
    let base = vuln_settings(ctx, &raw.base(), &defaults, "vulnerabilities.");
    let mut environments = BTreeMap::new();
    for (env, over) in &raw.environments {
        let key = format!("vulnerabilities.environments.{env}.");
        let settings = vuln_settings(ctx, &over.value, &base, &key);
        ctx.env_name(
            env,
            over.referenced,
            &format!("vulnerabilities.environments.{env}"),
        );
        environments.insert(env.clone(), settings);
    }
    Scoped { base, environments }
}

fn hardening_settings(
    ctx: &mut Ctx<'_>,
    over: &RawHardeningSettings,
    base: &HardeningSettings,
    key: &str,
) -> HardeningSettings {
    let mut out = base.clone();
    if let Some(l) = &over.level {
        if l.value == 1 || l.value == 2 {
            out.level = if l.value == 1 { 1 } else { 2 };
        } else {
            ctx.at(
                l.referenced,
                &format!("{key}level"),
                format_args!("{} is not a CIS level (1 or 2)", l.value),
            );
        }
    }
    if let Some(i) = &over.include {
        out.include = ctx.globs(i, &format!("{key}include"));
    }
    if let Some(e) = &over.exclude {
        out.exclude = ctx.globs(e, &format!("{key}exclude"));
    }
    if let Some(d) = over.deny_on {
        out.deny_on = match d {
            RawDenyOn::Fail => DenyOn::Fail,
            RawDenyOn::Warn => DenyOn::Warn,
            RawDenyOn::None => DenyOn::None,
        };
    }
    out
}

fn hardening(ctx: &mut Ctx<'_>, raw: &RawHardening) -> Scoped<HardeningSettings> {
    let defaults = HardeningSettings {
        level: 1,
        include: Vec::new(),
        exclude: Vec::new(),
        deny_on: DenyOn::Fail,
    };
    let top = RawHardeningSettings {
        level: raw.level.clone(),
        include: raw.include.clone(),
        exclude: raw.exclude.clone(),
        deny_on: raw.deny_on,
    };
    let base = hardening_settings(ctx, &top, &defaults, "hardening.");
    let mut environments = BTreeMap::new();
    for (env, over) in &raw.environments {
        let key = format!("hardening.environments.{env}.");
        let settings = hardening_settings(ctx, &over.value, &base, &key);
        ctx.env_name(
            env,
            over.referenced,
            &format!("hardening.environments.{env}"),
        );
        environments.insert(env.clone(), settings);
    }
    Scoped { base, environments }
}

fn exceptions(ctx: &mut Ctx<'_>, raw: &RawPolicy) -> Vec<Exception> {
    if let Some(e) = raw.exceptions.get(MAX_ITEMS) {
        ctx.at(
            e.name.referenced,
            "exceptions",
            format_args!("more than {MAX_ITEMS} exceptions"),
        );
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, e) in raw.exceptions.iter().enumerate() {
        let key = format!("exceptions[{i}]");
        if e.name.value.is_empty() {
            ctx.at(e.name.referenced, &format!("{key}.name"), "empty name");
        } else if !seen.insert(e.name.value.clone()) {
            ctx.at(
                e.name.referenced,
                &format!("{key}.name"),
                format_args!("duplicate exception name {}", quote(&e.name.value)),
            );
        }
        let advisories = ctx.globs(&e.advisories, &format!("{key}.advisories"));
        let packages = ctx.globs(&e.packages, &format!("{key}.packages"));
        let images = ctx.globs(&e.images, &format!("{key}.images"));
        let checks = ctx.globs(&e.checks, &format!("{key}.checks"));
        let findings = !advisories.is_empty() || !packages.is_empty();
        if !findings && checks.is_empty() {
            ctx.at(e.name.referenced, &key, "set `advisories` or `packages` (vulnerability findings) or `checks` (hardening checks); an exception must say what it waives");
        } else if findings && !checks.is_empty() {
            ctx.at(e.name.referenced, &key, "`checks` cannot be combined with `advisories`/`packages`: a reason is either a finding or a check; write two exceptions");
        }
        if let Some(envs) = &e.environments {
            for (j, env) in envs.iter().enumerate() {
                ctx.env_name(
                    &env.value,
                    env.referenced,
                    &format!("{key}.environments[{j}]"),
                );
            }
        }
        if e.reason.value.trim().is_empty() {
            ctx.at(
                e.reason.referenced,
                &format!("{key}.reason"),
                "a justification is required",
            );
        }
        if e.approved_by.value.trim().is_empty() {
            ctx.at(
                e.approved_by.referenced,
                &format!("{key}.approved_by"),
                "an approver is required",
            );
        }
        // A date before 1970 is refused as a typo, as it always was.
        let expires_at = Timestamp::parse_date(&e.expires.value)
            .ok()
            .filter(|t| t.unix_seconds() >= 0);
        if expires_at.is_none() {
            ctx.at(
                e.expires.referenced,
                &format!("{key}.expires"),
                format_args!(
                    "invalid date {} (expected YYYY-MM-DD)",
                    quote(&e.expires.value)
                ),
            );
        }
        out.push(Exception {
            name: e.name.value.clone(),
            advisories,
            packages,
            images,
            checks,
            environments: e
                .environments
                .as_ref()
                .map(|v| v.iter().map(|s| s.value.clone()).collect()),
            reason: e.reason.value.clone(),
            approved_by: e.approved_by.value.clone(),
            expires: e.expires.value.clone(),
            expires_at,
        });
    }
    out
}

/// Where a rule came from, to locate its errors: a `.rego` file, or inline (key and location of
/// its `rego:` value).
type Located = (RegoRule, Option<(String, Location)>);

/// Evaluates each rule once without input, under the rule budget: reports unknown functions
/// and other problems regorus finds only when it evaluates, and rules that exceed the budget
/// even before any input exists.
fn trial_run(ctx: &mut Ctx<'_>, rules: Vec<Located>, text: &str) -> Vec<RegoRule> {
    if rules.is_empty() || !ctx.errors.is_empty() {
        return rules.into_iter().map(|(r, _)| r).collect();
    }
    let compiled: Vec<RegoRule> = rules.iter().map(|(r, _)| r.clone()).collect();
    let runs = crate::sandbox::run_rules(&compiled, None);
    for ((rule, inline), run) in rules.iter().zip(runs) {
        let (line, column, message) = match run {
            crate::sandbox::RuleRun::Done(_) => continue,
            crate::sandbox::RuleRun::Failed(text) => {
                let e = parse_regorus_error(&text);
                (e.line, e.column, e.message)
            }
            crate::sandbox::RuleRun::Budget(why) => (0, 0, why),
        };
        match inline {
            Some((key, at)) => {
                let (line, column) = map_inline(text, *at, line, column);
                ctx.errors.push(Diagnostic {
                    path: ctx.path.to_owned(),
                    line,
                    column,
                    message: format!("{key}.rego: rule {}: {message}", quote(&rule.name)),
                });
            }
            None => ctx.errors.push(Diagnostic {
                path: rule.origin.clone(),
                line,
                column,
                message: format!("rule {}: {message}", quote(&rule.name)),
            }),
        }
    }
    compiled
}

/// Compiles the rules; the `.rego` files read go to `files`.
fn rules(
    ctx: &mut Ctx<'_>,
    raw: &RawPolicy,
    text: &str,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Vec<Located> {
    if let Some(r) = raw.rules.get(MAX_ITEMS) {
        ctx.at(
            r.name.referenced,
            "rules",
            format_args!("more than {MAX_ITEMS} rules"),
        );
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let key = format!("rules[{i}]");
        if !valid_name(&r.name.value) {
            ctx.at(
                r.name.referenced,
                &format!("{key}.name"),
                "rule names use 1 to 64 letters, digits, `.`, `_` or `-`",
            );
        } else if !seen.insert(r.name.value.clone()) {
            ctx.at(
                r.name.referenced,
                &format!("{key}.name"),
                format_args!("duplicate rule name {}", quote(&r.name.value)),
            );
        }
        match (&r.file, &r.rego) {
            (Some(_), Some(_)) | (None, None) => {
                ctx.at(
                    r.name.referenced,
                    &key,
                    "set exactly one of `file` and `rego`",
                );
            }
            (Some(file), None) => {
                let path = resolve(base, &file.value);
                let shown = path.display().to_string();
                let source = match read_limited(&path, &shown) {
                    Ok(s) => {
                        files.push(path.clone());
                        s
                    }
                    Err(e) => {
                        ctx.at(file.referenced, &format!("{key}.file"), e.message);
                        continue;
                    }
                };
                match RegoRule::compile(&r.name.value, &shown, &source, &shown) {
                    Ok(rule) => out.push((rule, None)),
                    Err(e) => ctx.errors.push(Diagnostic {
                        path: shown,
                        line: e.line,
                        column: e.column,
                        message: format!("rule {}: {}", quote(&r.name.value), e.message),
                    }),
                }
            }
            (None, Some(rego)) => {
                let label = format!("{}#{key}", ctx.path);
                match RegoRule::compile(&r.name.value, &label, &rego.value, ctx.path) {
                    Ok(rule) => out.push((rule, Some((key.clone(), rego.referenced)))),
                    Err(e) => {
                        let (line, column) = map_inline(text, rego.referenced, e.line, e.column);
                        ctx.errors.push(Diagnostic {
                            path: ctx.path.to_owned(),
                            line,
                            column,
                            message: format!(
                                "{key}.rego: rule {}: {}",
                                quote(&r.name.value),
                                e.message
                            ),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Maps a line/column inside an inline Rego scalar to the policy file. serde-saphyr locates a
/// block scalar (`rego: |`) at its first content line, whose indentation is stripped from every
/// line; a flow scalar at its first character (quoted: the quote).
fn map_inline(text: &str, at: Location, line: u64, column: u64) -> (u64, u64) {
    if line == 0 {
        return (at.line(), at.column());
    }
    let lines: Vec<&str> = text.lines().collect();
    let idx = usize::try_from(at.line())
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    let col0 = usize::try_from(at.column()).unwrap_or(1).saturating_sub(1);
    let start = lines.get(idx).and_then(|l| l.get(col0..)).unwrap_or("");
    let is_indicator = |s: &str| {
        let t = s.trim_end();
        let t = t.split(" #").next().unwrap_or(t).trim_end();
        let tail = t.rsplit(|c: char| c.is_whitespace()).next().unwrap_or("");
        (tail.starts_with('|') || tail.starts_with('>'))
            && tail[1..]
                .chars()
                .all(|c| matches!(c, '-' | '+' | '1'..='9'))
    };
    if start.starts_with('|') || start.starts_with('>') {
        // Located at the indicator: content starts on the next line.
        let indent = lines
            .iter()
            .skip(idx + 1)
            .find(|l| !l.trim().is_empty())
            .map_or(0, |l| l.len() - l.trim_start().len());
        (at.line() + line, indent as u64 + column)
    } else if idx > 0 && lines.get(idx - 1).is_some_and(|l| is_indicator(l)) {
        // Located at the first content line of a block scalar.
        (at.line() + line - 1, at.column().saturating_sub(1) + column)
    } else if line == 1 {
        let quoted = u64::from(start.starts_with('"') || start.starts_with('\''));
        (at.line(), at.column() + quoted + column - 1)
    } else {
        (at.line() + line - 1, column)
    }
}
