//! The policy file as written: serde types with spans on every value validation may reject.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub(crate) version: S<u64>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) default_environment: Option<S<String>>,
    /// Environment names that have no overrides of their own but may be asked for.
    #[serde(default)]
    pub(crate) environments: Vec<S<String>>,
    #[serde(default)]
    pub(crate) sources: Option<RawSources>,
    #[serde(default)]
    pub(crate) vulnerabilities: Option<RawVulns>,
    #[serde(default)]
    pub(crate) hardening: Option<RawHardening>,
    #[serde(default)]
    pub(crate) exceptions: Vec<RawException>,
    #[serde(default)]
    pub(crate) rules: Vec<RawRule>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawAction {
    Allow,
    Deny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSources {
    #[serde(default)]
    pub(crate) keys: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub(crate) keyless: BTreeMap<String, RawKeyless>,
    /// GPG simple-signing keyrings (containers/image signatures in lookaside storage).
    #[serde(default)]
    pub(crate) gpg: BTreeMap<String, RawGpg>,
    /// Docker Content Trust (Notary v1) servers with their pinned roots.
    #[serde(default)]
    pub(crate) notary: BTreeMap<String, RawNotary>,
    /// Notation (Notary Project v2) trust policies with their trust stores.
    #[serde(default)]
    pub(crate) notation: BTreeMap<String, RawNotation>,
    #[serde(default)]
    pub(crate) default: Option<RawAction>,
    #[serde(default)]
    pub(crate) rules: Vec<RawSourceRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeyless {
    pub(crate) identity: S<String>,
    #[serde(default)]
    pub(crate) identity_regexp: bool,
    pub(crate) issuer: S<String>,
    #[serde(default)]
    pub(crate) trusted_root: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotary {
    pub(crate) server: S<String>,
    pub(crate) root: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotation {
    pub(crate) trust_policy: S<String>,
    pub(crate) trust_store: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGpg {
    pub(crate) keyring: S<String>,
    #[serde(default)]
    pub(crate) registries_d: Option<S<String>>,
    #[serde(default)]
    pub(crate) lookaside: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSourceRule {
    pub(crate) name: S<String>,
    pub(crate) images: S<Vec<S<String>>>,
    #[serde(default)]
    pub(crate) action: Option<RawAction>,
    #[serde(default)]
    pub(crate) signers: RawSigners,
    #[serde(default)]
    pub(crate) tags: RawTags,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSigners {
    #[serde(default)]
    pub(crate) any_of: Vec<S<String>>,
    #[serde(default)]
    pub(crate) all_of: Vec<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTags {
    #[serde(default)]
    pub(crate) deny: Vec<S<String>>,
    #[serde(default)]
    pub(crate) require_digest: bool,
}

/// `deny`, `warn` or `ignore`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawEffect {
    Deny,
    Warn,
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEpss {
    pub(crate) above: S<f64>,
    #[serde(default = "warn")]
    pub(crate) action: RawEffect,
}

fn warn() -> RawEffect {
    RawEffect::Warn
}

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The vulnerability settings; the same shape serves the section and each environment override
/// (where `environments` is refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVulnSettings {
    #[serde(default, deserialize_with = "present")]
    pub(crate) max_cvss: Option<Option<S<f64>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) severities: Option<Option<Vec<S<String>>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) ignore_unfixed: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) kev: Option<Option<RawEffect>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) epss: Option<Option<RawEpss>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) max_db_age_days: Option<Option<S<u64>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) coverage: Option<Option<RawEffect>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) unknown_severity: Option<Option<RawEffect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVulns {
    #[serde(default, deserialize_with = "present")]
    pub(crate) max_cvss: Option<Option<S<f64>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) severities: Option<Option<Vec<S<String>>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) ignore_unfixed: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) kev: Option<Option<RawEffect>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) epss: Option<Option<RawEpss>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) max_db_age_days: Option<Option<S<u64>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) coverage: Option<Option<RawEffect>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) unknown_severity: Option<Option<RawEffect>>,
    #[serde(default)]
    pub(crate) environments: BTreeMap<String, S<RawVulnSettings>>,
}

impl RawVulns {
    pub(crate) fn base(&self) -> RawVulnSettings {
        RawVulnSettings {
            max_cvss: self.max_cvss.clone(),
            severities: self.severities.clone(),
            ignore_unfixed: self.ignore_unfixed,
            kev: self.kev,
            epss: self.epss.clone(),
            max_db_age_days: self.max_db_age_days.clone(),
            coverage: self.coverage,
            unknown_severity: self.unknown_severity,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawDenyOn {
    Fail,
    Warn,
    None,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHardeningSettings {
    #[serde(default)]
    pub(crate) level: Option<S<u64>>,
    #[serde(default)]
    pub(crate) include: Option<Vec<S<String>>>,
    #[serde(default)]
    pub(crate) exclude: Option<Vec<S<String>>>,
    #[serde(default)]
    pub(crate) deny_on: Option<RawDenyOn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHardening {
    #[serde(default)]
    pub(crate) level: Option<S<u64>>,
    #[serde(default)]
    pub(crate) include: Option<Vec<S<String>>>,
    #[serde(default)]
    pub(crate) exclude: Option<Vec<S<String>>>,
    #[serde(default)]
    pub(crate) deny_on: Option<RawDenyOn>,
    #[serde(default)]
    pub(crate) environments: BTreeMap<String, S<RawHardeningSettings>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawException {
    pub(crate) name: S<String>,
    #[serde(default)]
    pub(crate) advisories: Vec<S<String>>,
    #[serde(default)]
    pub(crate) packages: Vec<S<String>>,
    #[serde(default)]
    pub(crate) images: Vec<S<String>>,
    #[serde(default)]
    pub(crate) checks: Vec<S<String>>,
    #[serde(default)]
    pub(crate) environments: Option<Vec<S<String>>>,
    pub(crate) reason: S<String>,
    pub(crate) approved_by: S<String>,
    pub(crate) expires: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) name: S<String>,
    #[serde(default)]
    pub(crate) file: Option<S<String>>,
    #[serde(default)]
    pub(crate) rego: Option<S<String>>,
}
