//! Reading a containers `policy.json` (containers-policy.json(5): podman, skopeo, CRI-O) and
//! turning it into the `sources` section of a Palisade policy.
//!
//! What maps: `default` and `transports.docker.<scope>` requirement lists; `insecureAcceptAnything`
//! (allow), `reject` (deny), `signedBy` with `keyType: GPGKeys` (`keyPath`, `keyPaths`, `keyData`:
//! `sources.gpg` keyrings), `sigstoreSigned` with `keyPath`/`keyData` (`sources.keys`) or
//! `fulcio` (`sources.keyless`). Scopes become image globs, ordered most specific first as
//! containers/image chooses them (`host/ns/repo`, `host/ns`, `host`, `*.domain`, then the
//! transport's `""` default).
//!
//! What does not map is never dropped silently: each such construct yields a warning naming it
//! and what the imported policy does instead (signed identities other than
//! `matchRepoDigestOrExact`, other transports, `keyPaths` in a list
//! with other requirements, Rekor keys, Fulcio CAs); an unknown requirement type or key type is
//! an error, as it is for containers/image, and so is a scope with a tag or digest (importing
//! it as its repository would accept what it refuses).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Largest policy.json read.
pub const MAX_POLICY_JSON_BYTES: usize = 1 << 20;
/// Most scopes or requirements imported.
pub const MAX_ENTRIES: usize = 1000;

/// The result of an import.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The Palisade policy (YAML text, with the warnings as comments at the top).
    pub yaml: String,
    /// What could not be expressed exactly, one line each.
    pub warnings: Vec<String>,
    /// Key files to write beside the output (`keyData` decoded): `(file name, bytes)`.
    pub files: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Deserialize)]
struct RawPolicy {
    #[serde(default)]
    default: Vec<Value>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
}

/// One source of the imported policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signer {
    Gpg(String),
    Key(String),
    Keyless { identity: String, issuer: String },
}

#[derive(Debug, Default)]
struct Builder {
    signers: Vec<(String, Signer)>,
    warnings: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    base: PathBuf,
}

/// A rule before rendering.
#[derive(Debug)]
struct Rule {
    name: String,
    images: Vec<String>,
    deny: bool,
    all_of: Vec<String>,
    any_of: Vec<String>,
}

impl Builder {
    fn signer(&mut self, prefix: &str, signer: Signer) -> String {
        if let Some((name, _)) = self.signers.iter().find(|(_, s)| *s == signer) {
            return name.clone();
        }
        let name = format!("{prefix}-{}", self.signers.len() + 1);
        self.signers.push((name.clone(), signer));
        name
    }

    fn path(&mut self, what: &str, p: &str) -> String {
        let path = Path::new(p);
        if path.is_absolute() {
            return p.to_owned();
        }
        let resolved = self.base.join(path);
        self.warnings.push(format!(
            "{what}: relative key path {p:?} resolved against the policy.json directory as {}",
            resolved.display()
        ));
        resolved.display().to_string()
    }

    fn key_data(&mut self, what: &str, data: &str, ext: &str) -> Result<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| Error::Invalid(format!("{what}: keyData is not base64: {e}")))?;
        let name = format!("imported-key-{}.{ext}", self.files.len() + 1);
        self.files.push((name.clone(), bytes));
        self.warnings.push(format!(
            "{what}: keyData written to {name} beside the imported policy"
        ));
        Ok(name)
    }

    fn identity(&mut self, what: &str, req: &Value) {
        let Some(id) = req.get("signedIdentity") else {
            return;
        };
        let kind = id.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "matchRepoDigestOrExact" => {}
            "matchRepository" => self.warnings.push(format!(
                "WARNING {what}: signedIdentity matchRepository is checked as \
                 matchRepoDigestOrExact (a signed tag must equal the tag pulled): stricter"
            )),
            other => self.warnings.push(format!(
                "WARNING {what}: signedIdentity {other} ({id}) cannot be expressed; the imported \
                 policy checks matchRepoDigestOrExact instead (same repository; a signed tag \
                 must equal the tag pulled unless pulled by digest): review before use"
            )),
        }
    }

    /// The signer names one requirement accepts (any of them).
    fn requirement(&mut self, what: &str, req: &Value) -> Result<Option<Vec<String>>> {
        let kind = req.get("type").and_then(Value::as_str).unwrap_or("");
        let str_of = |k: &str| req.get(k).and_then(Value::as_str);
        match kind {
            "insecureAcceptAnything" => Ok(None),
            "reject" => Ok(Some(Vec::new())),
            "signedBy" => {
                let key_type = str_of("keyType").unwrap_or("");
                if key_type != "GPGKeys" {
                    return Err(Error::Invalid(format!(
                        "{what}: signedBy keyType {key_type:?} is not supported (GPGKeys is, \
                         as in containers/image)"
                    )));
                }
                one_key_source(what, req, &["keyPath", "keyPaths", "keyData"])?;
                self.identity(what, req);
                let mut names = Vec::new();
                if let Some(p) = str_of("keyPath") {
                    let p = self.path(what, p);
                    names.push(self.signer("gpg", Signer::Gpg(p)));
                }
                if let Some(list) = req.get("keyPaths").and_then(Value::as_array) {
                    for p in string_list(what, list)? {
                        let p = self.path(what, p);
                        names.push(self.signer("gpg", Signer::Gpg(p)));
                    }
                }
                if let Some(d) = str_of("keyData") {
                    let file = self.key_data(what, d, "gpg")?;
                    names.push(self.signer("gpg", Signer::Gpg(file)));
                }
                if names.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{what}: signedBy needs keyPath, keyPaths or keyData"
                    )));
                }
                Ok(Some(names))
            }
            "sigstoreSigned" => {
                one_key_source(
                    what,
                    req,
                    &["keyPath", "keyPaths", "keyData", "fulcio", "pki"],
                )?;
                self.identity(what, req);
                let mut names = Vec::new();
                if let Some(p) = str_of("keyPath") {
                    let p = self.path(what, p);
                    names.push(self.signer("key", Signer::Key(p)));
                }
                if let Some(list) = req.get("keyPaths").and_then(Value::as_array) {
                    for p in string_list(what, list)? {
                        let p = self.path(what, p);
                        names.push(self.signer("key", Signer::Key(p)));
                    }
                }
                if let Some(d) = str_of("keyData") {
                    let file = self.key_data(what, d, "pub")?;
                    names.push(self.signer("key", Signer::Key(file)));
                }
                if let Some(f) = req.get("fulcio") {
                    let email = f.get("subjectEmail").and_then(Value::as_str);
                    let issuer = f.get("oidcIssuer").and_then(Value::as_str);
                    match (email, issuer) {
                        (Some(e), Some(i)) => {
                            names.push(self.signer(
                                "keyless",
                                Signer::Keyless {
                                    identity: e.to_owned(),
                                    issuer: i.to_owned(),
                                },
                            ));
                            self.warnings.push(format!(
                                "WARNING {what}: fulcio CA (caPath/caData) not imported: give \
                                 the keyless identity a trusted_root (Sigstore trusted_root.json) \
                                 or the gate refuses it"
                            ));
                        }
                        _ => {
                            return Err(Error::Invalid(format!(
                                "{what}: fulcio needs subjectEmail and oidcIssuer"
                            )));
                        }
                    }
                }
                if req.get("rekorPublicKeyPath").is_some()
                    || req.get("rekorPublicKeyData").is_some()
                {
                    self.warnings.push(format!(
                        "WARNING {what}: the Rekor public key is not imported; Rekor evidence is \
                         checked only against a keyless identity's trusted_root"
                    ));
                }
                if names.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{what}: sigstoreSigned needs keyPath, keyData or fulcio"
                    )));
                }
                Ok(Some(names))
            }
            other => Err(Error::Invalid(format!(
                "{what}: requirement type {other:?} is unknown (containers/image refuses it too)"
            ))),
        }
    }

    /// A rule for a requirement list: every requirement must hold (containers/image ANDs them).
    fn rule(&mut self, what: &str, images: Vec<String>, reqs: &[Value]) -> Result<Rule> {
        if reqs.is_empty() {
            return Err(Error::Invalid(format!(
                "{what}: an empty requirement list (containers/image refuses it)"
            )));
        }
        if reqs.len() > MAX_ENTRIES {
            return Err(Error::Invalid(format!(
                "{what}: more than {MAX_ENTRIES} requirements"
            )));
        }
        let mut deny = false;
        let mut sets: Vec<Vec<String>> = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            match self.requirement(&format!("{what}[{i}]"), req)? {
                None => {}
                Some(names) if names.is_empty() => deny = true,
                Some(names) => sets.push(names),
            }
        }
        let (any_of, all_of) = match sets.len() {
            0 => (Vec::new(), Vec::new()),
            1 => (sets.remove(0), Vec::new()),
            _ => {
                if sets.iter().any(|s| s.len() > 1) {
                    self.warnings.push(format!(
                        "WARNING {what}: several requirements, one of them with several keys: \
                         every key of every requirement is required (all_of), stricter than \
                         containers/image"
                    ));
                }
                (Vec::new(), sets.concat())
            }
        };
        Ok(Rule {
            name: what.to_owned(),
            images,
            deny,
            all_of,
            any_of,
        })
    }
}

/// containers/image accepts exactly one of a requirement's key sources (`keyPath`,
/// `keyPaths`, `keyData`, and for `sigstoreSigned` `fulcio` or `pki`) and refuses a policy
/// with several or none; so does the import, rather than merge them.
fn one_key_source(what: &str, req: &Value, sources: &[&str]) -> Result<()> {
    let given: Vec<&str> = sources
        .iter()
        .copied()
        .filter(|k| req.get(*k).is_some())
        .collect();
    match given.as_slice() {
        [_] => Ok(()),
        [] => Err(Error::Invalid(format!(
            "{what}: needs one of {} (containers/image refuses it too)",
            sources.join(", ")
        ))),
        many => Err(Error::Invalid(format!(
            "{what}: sets {}; containers/image accepts exactly one of them and refuses this \
             policy",
            many.join(" and ")
        ))),
    }
}

/// The strings of a `keyPaths` list; anything else in it is an error, never skipped.
fn string_list<'v>(what: &str, list: &'v [Value]) -> Result<Vec<&'v str>> {
    list.iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| Error::Invalid(format!("{what}: keyPaths holds {v}, not a path")))
        })
        .collect()
}

/// The image globs of a `docker` scope (a repository scope also covers what is below it, as
/// in containers/image), or `None` when it cannot be expressed.
fn scope_glob(scope: &str) -> Option<Vec<String>> {
    if scope.contains('@') {
        return None;
    }
    let last = scope.rsplit('/').next().unwrap_or(scope);
    if scope.contains('/') && last.contains(':') {
        return None;
    }
    if scope.starts_with("*.") || !scope.contains('/') {
        return Some(vec![format!("{scope}/**")]);
    }
    Some(vec![scope.to_owned(), format!("{scope}/**")])
}

/// How specific a scope is (higher first): repositories by depth, then hosts, then wildcards.
fn specificity(scope: &str) -> (u8, usize) {
    if let Some(rest) = scope.strip_prefix("*.") {
        (0, rest.matches('.').count())
    } else {
        (1, scope.matches('/').count())
    }
}

/// Converts a `policy.json` (its bytes; `base` is its directory, for relative key paths).
///
/// # Errors
/// When the JSON is invalid, too large, or holds a requirement containers/image would refuse.
pub fn import(json: &[u8], base: &Path) -> Result<Imported> {
    if json.len() > MAX_POLICY_JSON_BYTES {
        return Err(Error::Invalid(format!(
            "policy.json: more than {MAX_POLICY_JSON_BYTES} bytes"
        )));
    }
    let raw: RawPolicy = serde_json::from_slice(json)
        .map_err(|e| Error::Invalid(format!("not a containers policy.json: {e}")))?;
    if raw.default.is_empty() {
        return Err(Error::Invalid(
            "policy.json: `default` is required (containers/image refuses a policy without it)"
                .into(),
        ));
    }
    let mut b = Builder {
        base: base.to_path_buf(),
        ..Builder::default()
    };
    for t in raw.transports.keys() {
        if t != "docker" {
            b.warnings.push(format!(
                "WARNING transports.{t}: not imported; Palisade verifies registry (docker) images \
                 only"
            ));
        }
    }
    let docker = raw.transports.get("docker").cloned().unwrap_or_default();
    if docker.len() > MAX_ENTRIES {
        return Err(Error::Invalid(format!(
            "transports.docker: more than {MAX_ENTRIES} scopes"
        )));
    }
    let mut scopes: Vec<(&String, &Vec<Value>)> =
        docker.iter().filter(|(s, _)| !s.is_empty()).collect();
    scopes.sort_by(|a, b| specificity(b.0).cmp(&specificity(a.0)).then(a.0.cmp(b.0)));
    let mut rules = Vec::new();
    for (scope, reqs) in scopes {
        let what = format!("transports.docker.{scope}");
        // containers/image's only wildcard is a leading `*.` on a host; any other `*`, `?`,
        // `[` or `{` would become a Palisade glob and cover more than the scope names.
        if scope
            .strip_prefix("*.")
            .unwrap_or(scope)
            .contains(['*', '?', '[', ']', '{', '}'])
        {
            return Err(Error::Invalid(format!(
                "{what}: only a leading `*.` is a wildcard in containers/image scopes; this \
                 scope's other wildcard characters would match more than it names"
            )));
        }
        let Some(glob) = scope_glob(scope) else {
            return Err(Error::Invalid(format!(
                "{what}: a scope with a tag or digest cannot be expressed (Palisade rules match \
                 repositories; importing it as its repository would accept what it refuses): \
                 remove it from the policy.json, import, then add a rule for the repository \
                 with `tags: {{ deny: [...] }}` by hand"
            )));
        };
        rules.push(b.rule(&what, glob, reqs)?);
    }
    if let Some(reqs) = docker.get("") {
        rules.push(b.rule("transports.docker.\"\"", vec!["**".into()], reqs)?);
    }
    let default = b.rule("default", vec!["**".into()], &raw.default)?;
    let default_action = if default.all_of.is_empty() && default.any_of.is_empty() {
        if default.deny { "deny" } else { "allow" }
    } else {
        rules.push(default);
        "deny"
    };
    Ok(render(b, &rules, default_action))
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn render(b: Builder, rules: &[Rule], default: &str) -> Imported {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Imported from a containers policy.json by `palisade policy import-containers-policy`."
    );
    for w in &b.warnings {
        let _ = writeln!(y, "# {w}");
    }
    let _ = writeln!(y, "version: 1\nsources:");
    let gpg: Vec<_> = b
        .signers
        .iter()
        .filter_map(|(n, s)| match s {
            Signer::Gpg(p) => Some((n, p)),
            _ => None,
        })
        .collect();
    if !gpg.is_empty() {
        let _ = writeln!(y, "  gpg:");
        for (n, p) in gpg {
            let _ = writeln!(y, "    {n}:\n      keyring: {}", quote(p));
        }
    }
    let keys: Vec<_> = b
        .signers
        .iter()
        .filter_map(|(n, s)| match s {
            Signer::Key(p) => Some((n, p)),
            _ => None,
        })
        .collect();
    if !keys.is_empty() {
        let _ = writeln!(y, "  keys:");
        for (n, p) in keys {
            let _ = writeln!(y, "    {n}: {}", quote(p));
        }
    }
    let keyless: Vec<_> = b
        .signers
        .iter()
        .filter_map(|(n, s)| match s {
            Signer::Keyless { identity, issuer } => Some((n, identity, issuer)),
            _ => None,
        })
        .collect();
    if !keyless.is_empty() {
        let _ = writeln!(y, "  keyless:");
        for (n, identity, issuer) in keyless {
            let _ = writeln!(
                y,
                "    {n}:\n      identity: {}\n      issuer: {}",
                quote(identity),
                quote(issuer)
            );
        }
    }
    let _ = writeln!(y, "  default: {default}");
    if !rules.is_empty() {
        let _ = writeln!(y, "  rules:");
    }
    for r in rules {
        let _ = writeln!(
            y,
            "    - name: {}\n      images: [{}]",
            quote(&r.name),
            r.images
                .iter()
                .map(|i| quote(i))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if r.deny {
            let _ = writeln!(y, "      action: deny");
            continue;
        }
        let list = |v: &[String]| v.join(", ");
        if !r.any_of.is_empty() {
            let _ = writeln!(y, "      signers: {{ any_of: [{}] }}", list(&r.any_of));
        } else if !r.all_of.is_empty() {
            let _ = writeln!(y, "      signers: {{ all_of: [{}] }}", list(&r.all_of));
        }
    }
    Imported {
        yaml: y,
        warnings: b.warnings,
        files: b.files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_become_globs_most_specific_first() {
        let json = br#"{
          "default": [{"type": "reject"}],
          "transports": {
            "docker": {
              "registry.example.com": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k/a.gpg"}],
              "registry.example.com/team/app": [{"type": "insecureAcceptAnything"}],
              "*.example.com": [{"type": "reject"}]
            },
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
          }
        }"#;
        let out = import(json, Path::new("/etc/containers")).unwrap();
        let y = &out.yaml;
        let app = y
            .find("[\"registry.example.com/team/app\", \"registry.example.com/team/app/**\"]")
            .unwrap();
        let host = y.find("\"registry.example.com/**\"").unwrap();
        let wild = y.find("\"*.example.com/**\"").unwrap();
        assert!(app < host && host < wild, "{y}");
        assert!(y.contains("default: deny"), "{y}");
        assert!(y.contains("gpg-1:\n      keyring: \"/k/a.gpg\""), "{y}");
        assert!(y.contains("signers: { any_of: [gpg-1] }"), "{y}");
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("transports.docker-daemon")),
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn unknown_constructs_are_refused_or_warned() {
        let bad = br#"{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/x"}]}"#;
        assert!(import(bad, Path::new("/")).is_err());
        let tagged = br#"{"default": [{"type": "insecureAcceptAnything"}],
            "transports": {"docker": {"r.io/a/b:v1": [{"type": "reject"}]}}}"#;
        let e = import(tagged, Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("r.io/a/b:v1: a scope with a tag"), "{e}");
        let bad = br#"{"default": [{"type": "somethingNew"}]}"#;
        assert!(import(bad, Path::new("/")).is_err());
        assert!(import(br#"{"default": []}"#, Path::new("/")).is_err());
        let exact = br#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
            "signedIdentity": {"type": "exactReference", "dockerReference": "r.io/a:b"}}]}"#;
        let out = import(exact, Path::new("/")).unwrap();
        assert!(
            out.warnings
                .iter()
                .any(|w| w.starts_with("WARNING default[0]: signedIdentity exactReference")),
            "{:?}",
            out.warnings
        );
        assert!(out.yaml.contains("# WARNING default[0]"), "{}", out.yaml);
    }

    /// What containers/image refuses is refused, never merged, skipped or widened.
    #[test]
    fn invalid_key_sources_and_scope_wildcards_are_refused() {
        let err = |json: &[u8]| import(json, Path::new("/")).unwrap_err().to_string();
        let both = br#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/a",
            "keyData": "AAAA"}]}"#;
        assert!(
            err(both).contains("sets keyPath and keyData"),
            "{}",
            err(both)
        );
        let none = br#"{"default": [{"type": "sigstoreSigned"}]}"#;
        assert!(err(none).contains("needs one of keyPath"), "{}", err(none));
        let keys_and_fulcio = br#"{"default": [{"type": "sigstoreSigned", "keyPath": "/a",
            "fulcio": {"subjectEmail": "a@b", "oidcIssuer": "https://i"}}]}"#;
        assert!(err(keys_and_fulcio).contains("sets keyPath and fulcio"));
        let not_a_path = br#"{"default": [{"type": "signedBy", "keyType": "GPGKeys",
            "keyPaths": ["/a", 7]}]}"#;
        assert!(
            err(not_a_path).contains("keyPaths holds 7"),
            "{}",
            err(not_a_path)
        );
        let wildcard = br#"{"default": [{"type": "reject"}],
            "transports": {"docker": {"r.io/team/*": [{"type": "insecureAcceptAnything"}]}}}"#;
        assert!(err(wildcard).contains("only a leading `*.` is a wildcard"));
    }
}
