//! Notation trust policy (`trustpolicy.json` version 1.0, OCI) and trust store
//! (`x509/{ca|signingAuthority|tsa}/<name>/*.{crt,cer,pem}`), as the Notary Project's
//! trust-store-trust-policy specification defines them.
//!
//! A policy is validated once when it is read ([`TrustPolicy::from_json`]): version `1.0`,
//! unique statement names, `registryScopes` either fully qualified repositories (no `*`) or the
//! single global `*`, a scope in at most one statement, at most one global statement, `skip`
//! never global, `override` only on strict/permissive/audit with the keys and values the
//! specification lists, `trustStores` as `{ca|signingAuthority|tsa}:{name}`, and
//! `trustedIdentities` either `*` alone or `x509.subject:` distinguished names that carry C,
//! ST (or S) and O and do not overlap. Anything else is refused with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::x509::Cert;

/// Largest trust policy file accepted.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;
/// Largest certificate file accepted in a trust store.
pub const MAX_STORE_FILE_BYTES: u64 = 1 << 20;
/// Most certificate files read from one named store.
pub const MAX_STORE_FILES: usize = 256;
/// Most statements in a trust policy.
pub const MAX_STATEMENTS: usize = 256;

/// What a verification level does with a failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A failure fails the signature.
    Enforce,
    /// A failure is logged; verification goes on.
    Log,
    /// The validation is not performed.
    Skip,
}

/// The verification level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Everything enforced.
    Strict,
    /// Integrity and authenticity enforced; the rest logged.
    Permissive,
    /// Integrity enforced; the rest logged.
    Audit,
    /// No verification at all.
    Skip,
}

impl Level {
    fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "strict" => Ok(Self::Strict),
            "permissive" => Ok(Self::Permissive),
            "audit" => Ok(Self::Audit),
            "skip" => Ok(Self::Skip),
            other => Err(format!(
                "level {other:?} is not strict, permissive, audit or skip"
            )),
        }
    }

    /// Its name in the policy file.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Permissive => "permissive",
            Self::Audit => "audit",
            Self::Skip => "skip",
        }
    }

    /// The actions of the specification's table for this level:
    /// (integrity, authenticity, authentic timestamp, expiry, revocation).
    #[must_use]
    pub fn actions(self) -> Actions {
        use Action::{Enforce as E, Log as L, Skip as S};
        let (integrity, authenticity, authentic_timestamp, expiry, revocation) = match self {
            Self::Strict => (E, E, E, E, E),
            Self::Permissive => (E, E, L, L, L),
            Self::Audit => (E, L, L, L, L),
            Self::Skip => (S, S, S, S, S),
        };
        Actions {
            integrity,
            authenticity,
            authentic_timestamp,
            expiry,
            revocation,
        }
    }
}

/// The action taken for each validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Actions {
    /// Integrity (always enforced unless the level is skip).
    pub integrity: Action,
    /// Authenticity (chain to the trust store, trusted identity).
    pub authenticity: Action,
    /// Authentic timestamp (certificate validity at a trusted time).
    pub authentic_timestamp: Action,
    /// Expiry of the signature.
    pub expiry: Action,
    /// Revocation of the signing chain.
    pub revocation: Action,
}

/// When a timestamp countersignature is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum VerifyTimestamp {
    /// Always (the default).
    Always,
    /// Only when a certificate of the signing chain has expired.
    AfterCertExpiry,
}

/// The kind of a named trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum StoreType {
    /// `x509/ca`.
    Ca,
    /// `x509/signingAuthority`.
    SigningAuthority,
    /// `x509/tsa`.
    Tsa,
}

impl StoreType {
    /// The directory under `x509/`.
    #[must_use]
    pub fn dir(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::SigningAuthority => "signingAuthority",
            Self::Tsa => "tsa",
        }
    }
}

/// One trusted identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Identity {
    /// `*`: any certificate that chains to the trust stores.
    Any,
    /// `x509.subject: …`: these attributes must equal the signing certificate's.
    Subject(BTreeMap<String, String>),
}

/// One statement of a trust policy.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// Its name.
    pub name: String,
    /// Fully qualified repositories, or `*`.
    pub registry_scopes: Vec<String>,
    /// The level.
    pub level: Level,
    /// The level's actions after `override`.
    pub actions: Actions,
    /// When timestamps are verified.
    pub verify_timestamp: VerifyTimestamp,
    /// Named stores.
    pub trust_stores: Vec<(StoreType, String)>,
    /// Trusted identities.
    pub trusted_identities: Vec<Identity>,
}

/// A validated trust policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrustPolicy {
    /// Statements in file order.
    pub statements: Vec<Statement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPolicy {
    version: String,
    trust_policies: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStatement {
    name: String,
    registry_scopes: Option<Vec<String>>,
    signature_verification: RawVerification,
    trust_stores: Option<Vec<String>>,
    trusted_identities: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawVerification {
    level: String,
    #[serde(default)]
    r#override: BTreeMap<String, String>,
    verify_timestamp: Option<String>,
}

fn invalid(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("Notation trust policy {what}: {reason}"))
}

/// Parses an `x509.subject:` distinguished name (`C=US, ST=WA, O=…`), honouring the
/// specification's escapes (`\,`, `\;`, `\\`, a leading or trailing `\ `). Attribute names are
/// upper-cased, `S` is `ST`.
///
/// # Errors
/// An empty DN, an RDN without `=`, a repeated attribute.
pub fn parse_dn(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => {
                    cur.push('\u{0}');
                    cur.push(n);
                }
                None => return Err(format!("{text:?} ends with a lone backslash")),
            },
            ',' | ';' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    let mut out = BTreeMap::new();
    for part in parts {
        // Unescaped whitespace around an RDN is not part of it; escaped characters are kept.
        let trimmed = trim_unescaped(&part);
        let Some((k, v)) = trimmed.split_once('=') else {
            return Err(format!(
                "RDN {:?} has no '='",
                trimmed.replace('\u{0}', "\\")
            ));
        };
        let key = k.trim().replace('\u{0}', "").to_ascii_uppercase();
        let key = if key == "S" { "ST".to_owned() } else { key };
        let value = trim_unescaped(v).replace('\u{0}', "");
        if key.is_empty() || value.is_empty() {
            return Err(format!("empty attribute or value in {text:?}"));
        }
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("attribute {key} appears twice in {text:?}"));
        }
    }
    Ok(out)
}

/// `s` without unescaped spaces or tabs at either end (an escaped character is preceded by
/// the NUL marker [`parse_dn`] puts in front of it).
fn trim_unescaped(s: &str) -> &str {
    let s = s.trim_start_matches([' ', '\t']);
    let b = s.as_bytes();
    let mut end = b.len();
    while end > 0
        && matches!(b.get(end - 1), Some(b' ' | b'\t'))
        && !(end >= 2 && b.get(end - 2) == Some(&0))
    {
        end -= 1;
    }
    s.get(..end).unwrap_or(s)
}

/// Whether two DNs overlap: a certificate could satisfy both (every shared attribute agrees).
fn overlap(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.iter().all(|(k, v)| b.get(k).is_none_or(|w| w == v))
}

impl TrustPolicy {
    /// Reads and validates a trust policy file.
    ///
    /// # Errors
    /// Unreadable, too large, or invalid (the reason names the statement and the rule).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = crate::read_trust_file(path, MAX_POLICY_BYTES)?;
        Self::from_json(&bytes).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses and validates a trust policy document.
    ///
    /// # Errors
    /// As [`TrustPolicy::from_file`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawPolicy = serde_json::from_slice(bytes)
            .map_err(|e| invalid("document", format!("not a version 1.0 trust policy: {e}")))?;
        if raw.version != "1.0" {
            return Err(invalid(
                "version",
                format!("{:?} is not supported (only \"1.0\")", raw.version),
            ));
        }
        if raw.trust_policies.is_empty() {
            return Err(invalid("trustPolicies", "no statement"));
        }
        if raw.trust_policies.len() > MAX_STATEMENTS {
            return Err(invalid(
                "trustPolicies",
                format!("more than {MAX_STATEMENTS} statements"),
            ));
        }
        let mut statements: Vec<Statement> = Vec::new();
        let mut scopes_seen: BTreeMap<String, String> = BTreeMap::new();
        for raw in raw.trust_policies {
            let st = Self::statement(raw)?;
            if statements.iter().any(|s| s.name == st.name) {
                return Err(invalid(
                    &format!("statement {:?}", st.name),
                    "the name is used by another statement",
                ));
            }
            for scope in &st.registry_scopes {
                if let Some(other) = scopes_seen.insert(scope.clone(), st.name.clone()) {
                    return Err(invalid(
                        &format!("statement {:?}", st.name),
                        format!(
                            "registry scope {scope:?} is also in statement {other:?}; a scope \
                             may appear in only one statement"
                        ),
                    ));
                }
            }
            statements.push(st);
        }
        Ok(Self { statements })
    }

    fn statement(raw: RawStatement) -> Result<Statement> {
        let what = format!("statement {:?}", raw.name);
        if raw.name.trim().is_empty() {
            return Err(invalid("statement", "a statement has an empty name"));
        }
        let scopes = raw
            .registry_scopes
            .ok_or_else(|| invalid(&what, "registryScopes is required"))?;
        if scopes.is_empty() {
            return Err(invalid(&what, "registryScopes is empty"));
        }
        let global = scopes.iter().any(|s| s == "*");
        if global && scopes.len() > 1 {
            return Err(invalid(
                &what,
                "the global scope \"*\" must be the only scope of its statement",
            ));
        }
        for s in &scopes {
            if s != "*" && (s.contains('*') || !s.contains('/') || s.trim() != s || s.is_empty()) {
                return Err(invalid(
                    &what,
                    format!(
                        "registry scope {s:?} is not a fully qualified repository \
                         (registry/namespace/repository, no '*')"
                    ),
                ));
            }
        }
        let level =
            Level::parse(&raw.signature_verification.level).map_err(|e| invalid(&what, e))?;
        if level == Level::Skip && global {
            return Err(invalid(
                &what,
                "level skip cannot be used with the global scope \"*\" (trust policy \
                 specification); scope it to the repositories that are unsigned",
            ));
        }
        let mut actions = level.actions();
        if !raw.signature_verification.r#override.is_empty() && level == Level::Skip {
            return Err(invalid(
                &what,
                "level skip cannot be customised with override",
            ));
        }
        for (k, v) in &raw.signature_verification.r#override {
            let action = match v.as_str() {
                "enforce" => Action::Enforce,
                "log" => Action::Log,
                "skip" if k == "revocation" => Action::Skip,
                other => {
                    return Err(invalid(
                        &what,
                        format!(
                            "override {k}: {other:?} is not allowed (enforce or log; revocation also skip)"
                        ),
                    ));
                }
            };
            match k.as_str() {
                "authenticity" => actions.authenticity = action,
                "authenticTimestamp" => actions.authentic_timestamp = action,
                "expiry" => actions.expiry = action,
                "revocation" => actions.revocation = action,
                "integrity" => {
                    return Err(invalid(&what, "integrity cannot be overridden"));
                }
                other => {
                    return Err(invalid(
                        &what,
                        format!(
                            "override key {other:?} is unknown (authenticity, authenticTimestamp, expiry, revocation)"
                        ),
                    ));
                }
            }
        }
        let verify_timestamp = match raw.signature_verification.verify_timestamp.as_deref() {
            None | Some("always") => VerifyTimestamp::Always,
            Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
            Some(other) => {
                return Err(invalid(
                    &what,
                    format!("verifyTimestamp {other:?} is not always or afterCertExpiry"),
                ));
            }
        };
        let (trust_stores, trusted_identities) = if level == Level::Skip {
            if raw.trust_stores.as_ref().is_some_and(|v| !v.is_empty())
                || raw
                    .trusted_identities
                    .as_ref()
                    .is_some_and(|v| !v.is_empty())
            {
                return Err(invalid(
                    &what,
                    "a skip statement must not name trustStores or trustedIdentities",
                ));
            }
            (Vec::new(), Vec::new())
        } else {
            let stores = raw
                .trust_stores
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(&what, "trustStores is required and must not be empty"))?;
            let mut parsed = Vec::new();
            for s in stores {
                let (t, name) = s.split_once(':').ok_or_else(|| {
                    invalid(&what, format!("trust store {s:?} is not {{type}}:{{name}}"))
                })?;
                let t = match t {
                    "ca" => StoreType::Ca,
                    "signingAuthority" => StoreType::SigningAuthority,
                    "tsa" => StoreType::Tsa,
                    other => {
                        return Err(invalid(
                            &what,
                            format!(
                                "trust store type {other:?} is not ca, signingAuthority or tsa"
                            ),
                        ));
                    }
                };
                if !valid_store_name(name) {
                    return Err(invalid(
                        &what,
                        format!("trust store name {name:?} is not a plain name ([A-Za-z0-9_.-]+)"),
                    ));
                }
                parsed.push((t, name.to_owned()));
            }
            let ids = raw
                .trusted_identities
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    invalid(&what, "trustedIdentities is required and must not be empty")
                })?;
            let mut identities = Vec::new();
            for id in &ids {
                if id == "*" {
                    if ids.len() > 1 {
                        return Err(invalid(
                            &what,
                            "the wildcard identity \"*\" must be the only trusted identity",
                        ));
                    }
                    identities.push(Identity::Any);
                    continue;
                }
                let Some((prefix, dn)) = id.split_once(':') else {
                    return Err(invalid(
                        &what,
                        format!("trusted identity {id:?} is neither \"*\" nor x509.subject: …"),
                    ));
                };
                if prefix.trim() != "x509.subject" {
                    return Err(invalid(
                        &what,
                        format!("trusted identity type {prefix:?} is not supported (x509.subject)"),
                    ));
                }
                let dn = parse_dn(dn).map_err(|e| invalid(&what, e))?;
                for required in ["C", "ST", "O"] {
                    if !dn.contains_key(required) {
                        return Err(invalid(
                            &what,
                            format!(
                                "trusted identity {id:?} lacks {required} (C, ST or S, and O are required)"
                            ),
                        ));
                    }
                }
                for other in &identities {
                    if let Identity::Subject(o) = other
                        && overlap(o, &dn)
                    {
                        return Err(invalid(
                            &what,
                            format!(
                                "trusted identity {id:?} overlaps another identity of the statement"
                            ),
                        ));
                    }
                }
                identities.push(Identity::Subject(dn));
            }
            (parsed, identities)
        };
        Ok(Statement {
            name: raw.name,
            registry_scopes: scopes,
            level,
            actions,
            verify_timestamp,
            trust_stores,
            trusted_identities,
        })
    }

    /// The statement for a repository URI (`registry/namespace/repository`): the one whose
    /// scopes name it exactly, else the global one. `None` when there is neither (the
    /// artifact is then untrusted).
    #[must_use]
    pub fn statement_for(&self, repository: Option<&str>) -> Option<&Statement> {
        if let Some(repo) = repository
            && let Some(s) = self
                .statements
                .iter()
                .find(|s| s.registry_scopes.iter().any(|x| x == repo))
        {
            return Some(s);
        }
        self.statements
            .iter()
            .find(|s| s.registry_scopes.iter().any(|x| x == "*"))
    }
}

fn valid_store_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A trust store directory (`…/x509/{ca|signingAuthority|tsa}/<name>/`).
#[derive(Debug, Clone)]
pub struct TrustStore {
    root: PathBuf,
}

impl TrustStore {
    /// A trust store rooted at `root` (the directory holding `x509/`). Nothing is read yet.
    #[must_use]
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Its directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The certificates of one named store. Files ending in `.crt`, `.cer` or `.pem`, PEM or
    /// DER, are read; sub-directories are ignored (and reported in `notes`); a symlinked store
    /// or certificate is refused, as the specification requires.
    ///
    /// # Errors
    /// Missing store, symlink, unreadable or malformed file, too many or too large files, or
    /// a store without certificates.
    pub fn certificates(
        &self,
        kind: StoreType,
        name: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Cert>> {
        if !valid_store_name(name) {
            return Err(Error::Invalid(format!(
                "trust store name {name:?} is not valid"
            )));
        }
        let dir = self.root.join("x509").join(kind.dir()).join(name);
        let meta = std::fs::symlink_metadata(&dir).map_err(|e| {
            Error::Invalid(format!(
                "trust store {}:{name} ({}): {e}; create it and put the trusted root \
                 certificates in it",
                kind.dir(),
                dir.display()
            ))
        })?;
        if meta.file_type().is_symlink() {
            return Err(Error::Invalid(format!(
                "trust store {} is a symlink, which the specification forbids",
                dir.display()
            )));
        }
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .take(MAX_STORE_FILES + 1)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io(&dir, e))?;
        if entries.len() > MAX_STORE_FILES {
            return Err(Error::Invalid(format!(
                "trust store {} has more than {MAX_STORE_FILES} entries",
                dir.display()
            )));
        }
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut certs = Vec::new();
        for entry in entries {
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if ft.is_symlink() {
                return Err(Error::Invalid(format!(
                    "trust store file {} is a symlink, which the specification forbids",
                    path.display()
                )));
            }
            if ft.is_dir() {
                notes.push(format!(
                    "trust store {}: sub-directory {} ignored (the specification reads only \
                     the files of a named store)",
                    dir.display(),
                    path.display()
                ));
                continue;
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("crt" | "cer" | "pem")) {
                continue;
            }
            let bytes = crate::read_trust_file(&path, MAX_STORE_FILE_BYTES)?;
            let parsed =
                if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                    Cert::from_pem_chain(&bytes)
                } else {
                    Cert::from_der(&bytes).map(|c| vec![c])
                }
                .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
            certs.extend(parsed);
        }
        if certs.is_empty() {
            return Err(Error::Invalid(format!(
                "trust store {} holds no certificate (.crt, .cer or .pem)",
                dir.display()
            )));
        }
        Ok(certs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_parsing_and_escapes() {
        let dn = parse_dn(" C=US, S=WA , O=wabbit\\, inc., CN=a\\\\b, OU=x\\ ").unwrap();
        assert_eq!(dn["OU"], "x ");
        assert_eq!(dn["C"], "US");
        assert_eq!(dn["ST"], "WA");
        assert_eq!(dn["O"], "wabbit, inc.");
        assert_eq!(dn["CN"], "a\\b");
        assert!(parse_dn("C=US, C=CA").is_err());
        assert!(parse_dn("nonsense").is_err());
    }

    #[test]
    fn overlapping_identities_are_refused() {
        let doc = br#"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],
            "signatureVerification":{"level":"strict"},"trustStores":["ca:x"],
            "trustedIdentities":["x509.subject: C=US, ST=WA, O=w, OU=org1","x509.subject: C=US, ST=WA, O=w"]}]}"#;
        let e = TrustPolicy::from_json(doc).unwrap_err().to_string();
        assert!(e.contains("overlaps"), "{e}");
    }

    #[test]
    fn scope_rules() {
        let two = br#"{"version":"1.0","trustPolicies":[
            {"name":"a","registryScopes":["r.io/x/y"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]},
            {"name":"b","registryScopes":["r.io/x/y"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;
        let e = TrustPolicy::from_json(two).unwrap_err().to_string();
        assert!(e.contains("only one statement"), "{e}");
        let skip_global = br#"{"version":"1.0","trustPolicies":[
            {"name":"a","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"#;
        let e = TrustPolicy::from_json(skip_global).unwrap_err().to_string();
        assert!(
            e.contains("skip cannot be used with the global scope"),
            "{e}"
        );
        let ok = br#"{"version":"1.0","trustPolicies":[
            {"name":"a","registryScopes":["r.io/x/y"],"signatureVerification":{"level":"skip"}},
            {"name":"g","registryScopes":["*"],"signatureVerification":{"level":"audit","override":{"revocation":"skip"}},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;
        let p = TrustPolicy::from_json(ok).unwrap();
        assert_eq!(p.statement_for(Some("r.io/x/y")).unwrap().name, "a");
        assert_eq!(p.statement_for(Some("r.io/x/z")).unwrap().name, "g");
        assert_eq!(p.statement_for(None).unwrap().name, "g");
        assert_eq!(p.statements[1].actions.revocation, Action::Skip);
        let bad_override = br#"{"version":"1.0","trustPolicies":[
            {"name":"g","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"integrity":"log"}},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;
        assert!(TrustPolicy::from_json(bad_override).is_err());
    }
}
