//! GPG "simple signing": the signatures that containers/image (podman, skopeo, CRI-O,
//! OpenShift) makes with `--sign-by FINGERPRINT`, stored beside the registry in *lookaside*
//! storage or served by a registry's signature extension API.
//!
//! A signature is an OpenPGP signed message (binary or ASCII-armoured, usually compressed)
//! whose literal data is the simple-signing payload of [`crate::payload`] with
//! `"type": "atomic container signature"`. It is accepted when:
//!
//! - the message is signed by a key (primary or signing subkey, self-signatures valid, not
//!   revoked) of a trusted keyring ([`Keyring`]: binary `gpg --export` or armoured
//!   `gpg --export --armor` files);
//! - the payload's type is [`ATOMIC_TYPE`], its `docker-manifest-digest` is the digest being
//!   verified, and its identity matches the reference as [`IdentityMatch`] asks (the same rules
//!   as cosign payloads, containers/image's `matchRepoDigestOrExact` by default).
//!
//! Discovery ([`discover`]): `registries.d` YAML files ([`RegistriesD`]: `default-docker`,
//! `docker.<scope>`, `lookaside` or its older name `sigstore`, the most specific scope wins)
//! give a `file://` or `http(s)://` base; signatures are read from
//! `<base>/<repository>@sha256=<hex>/signature-<N>` for N = 1, 2, … until the first missing
//! one (at most [`MAX_SIGNATURES`], each at most [`MAX_SIGNATURE_BYTES`]). The registry
//! extension API (`/extensions/v2/<repo>/signatures/<digest>`) is asked too; a 404 means the
//! registry does not offer it.
//!
//! The OpenPGP implementation is rPGP (`pgp` 0.21): pure Rust, MIT/Apache-2.0, maintained,
//! with RustCrypto primitives already in this crate's tree. `sequoia-openpgp` (LGPL-2.0+) was
//! set aside: its default backend is Nettle (C), and its pure-Rust backend is documented as
//! not constant-time and needs an opt-in flag.
//!
//! Not for: signing (Palisade signs with cosign formats), GPG trust-of-web, key servers.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use palisade_image::http::display_url;
use palisade_image::{Digest, HttpClient, HttpOptions, Reference};
use pgp::composed::{Message, PublicOrSecret, SignedPublicKey};
use pgp::types::KeyDetails as _;
use serde::Deserialize;

use crate::cosign::{VerifiedSignature, check_payload};
use crate::error::{Error, Result};
use crate::payload::{ATOMIC_TYPE, IdentityMatch, MAX_PAYLOAD_BYTES};
use crate::verify::{SignatureReport, Verification};

/// Largest keyring file read.
pub const MAX_KEYRING_BYTES: u64 = 4 << 20;
/// Most keys read from one keyring.
pub const MAX_KEYS: usize = 256;
/// Largest signature accepted (real ones are under 1 KiB).
pub const MAX_SIGNATURE_BYTES: u64 = 64 << 10;
/// Most lookaside signatures read for one digest (`signature-1` … `signature-N`).
pub const MAX_SIGNATURES: usize = 16;
/// Largest signature extension API answer read.
pub const MAX_EXTENSION_BYTES: u64 = 4 << 20;
/// Largest `registries.d` file read, and most files read from the directory.
pub const MAX_REGISTRIES_D_BYTES: u64 = 1 << 20;
/// Most `*.yaml` files read from a `registries.d` directory.
pub const MAX_REGISTRIES_D_FILES: usize = 256;

/// What the user reads when no signature is found and no GPG configuration was given.
pub const NO_SIGNATURE_HINT: &str = "GPG \"simple signing\" signatures (podman, skopeo, \
     CRI-O, OpenShift) are not in the registry but in lookaside storage: give \
     --gpg-keyring FILE with --registries-d DIR (containers' registries.d, e.g. \
     /etc/containers/registries.d) or --lookaside URL, or sources.gpg in a policy";

/// The prefix containers/image writes before a simple-signing blob in its newer format.
const FORMAT_PREFIX: &[u8] = b"\x00simple-signing\n";

/// Trusted OpenPGP public keys from one file.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// How the keyring is named in reports: its file name or a policy name.
    pub name: String,
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads a keyring file (`gpg --export`, binary or armoured).
    ///
    /// # Errors
    /// When the file cannot be read, is too large, or holds no usable public key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = crate::read_trust_file(path, MAX_KEYRING_BYTES)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self::from_bytes(&name, &bytes).map_err(|e| match e {
            Error::Key { reason, .. } => Error::key(&path.display().to_string(), reason),
            other => other,
        })
    }

    /// Parses keyring bytes named `name`.
    ///
    /// # Errors
    /// When the bytes are not OpenPGP public keys, a key's self-signatures do not verify, a key
    /// is revoked, or there is no key at all.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self> {
        let what = format!("GPG keyring {name}");
        if bytes.is_empty() {
            return Err(Error::key(&what, "empty file"));
        }
        if bytes.starts_with(b"-----BEGIN PUBLIC KEY-----") {
            return Err(Error::key(
                &what,
                "this is a PEM (cosign) public key, not an OpenPGP keyring; use --key",
            ));
        }
        let (iter, _) = PublicOrSecret::from_reader_many(bytes)
            .map_err(|e| Error::key(&what, format!("not an OpenPGP keyring: {e}")))?;
        let mut keys = Vec::new();
        for item in iter {
            let item = item.map_err(|e| Error::key(&what, format!("not an OpenPGP key: {e}")))?;
            let key = match item {
                PublicOrSecret::Public(k) => k,
                PublicOrSecret::Secret(_) => {
                    return Err(Error::key(
                        &what,
                        "holds a secret key: give the public key (gpg --export FINGERPRINT)",
                    ));
                }
            };
            let fpr = fingerprint(&key);
            let key = self_certified(key).ok_or_else(|| {
                Error::key(
                    &what,
                    format!("key {fpr}: no user ID or direct-key self-signature verifies"),
                )
            })?;
            if !key.details.revocation_signatures.is_empty() {
                return Err(Error::key(&what, format!("key {fpr} is revoked")));
            }
            keys.push(key);
            if keys.len() > MAX_KEYS {
                return Err(Error::key(&what, format!("more than {MAX_KEYS} keys")));
            }
        }
        if keys.is_empty() {
            return Err(Error::key(&what, "no OpenPGP public key found"));
        }
        Ok(Self {
            name: name.to_owned(),
            keys,
        })
    }

    /// The primary key fingerprints, upper-case hex.
    #[must_use]
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(fingerprint).collect()
    }

    /// The fingerprint of the key (primary or signing subkey) that made `message`'s signature:
    /// `Some(Ok)`, or `Some(Err(reason))` when that key has expired (containers/image, through
    /// gpgme, refuses those too); `None` when no key of the keyring made it.
    fn signer(&self, message: &Message<'_>) -> Option<std::result::Result<String, String>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for key in &self.keys {
            let fpr = fingerprint(key);
            let primary_expiry = expires_at(
                key.primary_key.created_at().as_secs(),
                key.details
                    .users
                    .iter()
                    .flat_map(|u| u.signatures.iter())
                    .chain(key.details.direct_signatures.iter()),
            );
            let expired = |expiry: Option<u64>, what: &str| match expiry {
                Some(at) if at <= now => Some(Err(format!(
                    "signed by GPG key {fpr} of {} whose {what} expired at {} (seconds since \
                     the epoch); renew it (gpg --quick-set-expire) and export it again",
                    self.name, at
                ))),
                _ => None,
            };
            if let Ok(sig) = message.verify(&key.primary_key) {
                if let Some(weak) = weak_hash(sig, &fpr) {
                    return Some(Err(weak));
                }
                return Some(expired(primary_expiry, "key").unwrap_or(Ok(fpr.clone())));
            }
            for sub in &key.public_subkeys {
                // A revoked subkey signs nothing, whatever its binding signature says.
                let revoked = sub
                    .signatures
                    .iter()
                    .any(|s| s.typ() == Some(pgp::packet::SignatureType::SubkeyRevocation));
                let signing = !revoked
                    && sub.signatures.iter().any(|s| {
                        s.typ() == Some(pgp::packet::SignatureType::SubkeyBinding)
                            && s.key_flags().sign()
                    });
                if signing && let Ok(sig) = message.verify(&sub.key) {
                    if let Some(weak) = weak_hash(sig, &fpr) {
                        return Some(Err(weak));
                    }
                    if let Some(e) = expired(primary_expiry, "primary key") {
                        return Some(e);
                    }
                    let sub_expiry =
                        expires_at(sub.key.created_at().as_secs(), sub.signatures.iter());
                    return Some(expired(sub_expiry, "signing subkey").unwrap_or(Ok(fpr.clone())));
                }
            }
        }
        None
    }
}

/// Why a signature made with a broken digest (MD5, SHA-1, RIPEMD-160: collisions can be
/// made) is refused, as GnuPG refuses them in data signatures by default; `None` otherwise.
fn weak_hash(sig: &pgp::packet::Signature, fpr: &str) -> Option<String> {
    use pgp::crypto::hash::HashAlgorithm;
    match sig.hash_alg() {
        Some(alg @ (HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160)) => {
            Some(format!(
                "signed by GPG key {fpr} with the {alg:?} digest, which is broken: sign again \
                 with SHA-256 or better (gpg --personal-digest-preferences SHA256)"
            ))
        }
        Some(_) => None,
        None => Some(format!(
            "signed by GPG key {fpr} with an unknown digest algorithm"
        )),
    }
}

/// When a key created at `created` expires (seconds since the epoch), by its newest
/// self-signature among `sigs` that says; `None` when it does not expire.
fn expires_at<'s>(
    created: u32,
    sigs: impl Iterator<Item = &'s pgp::packet::Signature>,
) -> Option<u64> {
    let newest = sigs
        .filter_map(|s| s.created().map(|c| (c.as_secs(), s)))
        .max_by_key(|(c, _)| *c)?;
    newest
        .1
        .key_expiration_time()
        .filter(|d| d.as_secs() > 0)
        .map(|d| u64::from(created) + u64::from(d.as_secs()))
}

/// The key with only what its primary key itself certified: user IDs with their verified
/// self-signatures (third-party certifications, common in distribution keyrings, are dropped,
/// not checked), verified direct-key signatures, and subkeys whose bindings verify. `None` when
/// nothing self-certifies the key.
fn self_certified(mut key: SignedPublicKey) -> Option<SignedPublicKey> {
    let primary = key.primary_key.clone();
    for user in &mut key.details.users {
        let pgp::types::SignedUser { id, signatures } = user;
        signatures.retain(|s| {
            s.verify_certification(&primary, pgp::types::Tag::UserId, &*id)
                .is_ok()
        });
    }
    key.details.users.retain(|u| !u.signatures.is_empty());
    key.details.user_attributes.clear();
    key.details
        .direct_signatures
        .retain(|s| s.verify_key(&primary).is_ok());
    key.public_subkeys
        .retain(|s| s.verify_bindings(&primary).is_ok());
    (!key.details.users.is_empty() || !key.details.direct_signatures.is_empty()).then_some(key)
}

fn fingerprint(key: &SignedPublicKey) -> String {
    format!("{:X}", key.primary_key.fingerprint())
}

/// Whether `bytes` look like an OpenPGP key (armoured block, or a binary public or secret key
/// packet), to tell a user who passed one where a PEM key is expected.
#[must_use]
pub fn looks_like_openpgp_key(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]);
    if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        || text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----")
    {
        return true;
    }
    match bytes.first() {
        // Old-format packet headers of tags 5 (secret key) and 6 (public key), new-format ones.
        Some(b) => matches!(b, 0x94..=0x9b | 0xc5 | 0xc6),
        None => false,
    }
}

/// Refuses an OpenPGP key file where a PEM (cosign) key is expected, with a hint.
///
/// # Errors
/// [`Error::Key`] when the file holds an OpenPGP key; I/O errors are left to the caller's read.
pub fn refuse_openpgp_key(path: &Path) -> Result<()> {
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(512).read_to_end(&mut head);
    }
    if looks_like_openpgp_key(&head) {
        return Err(Error::key(
            &path.display().to_string(),
            "this is an OpenPGP key; use --gpg-keyring (or sources.gpg in a policy) for GPG \
             simple-signing signatures",
        ));
    }
    Ok(())
}

/// Opens an OpenPGP signed message and checks its signature against `keyrings`. Returns the
/// keyring and key fingerprint that verified, and the signed literal data.
///
/// # Errors
/// When the message is malformed, too large, encrypted or unsigned, or no key verifies it.
pub fn open_signature<'k>(
    signature: &[u8],
    keyrings: &'k [Keyring],
) -> Result<(&'k Keyring, String, Vec<u8>)> {
    let bad = |reason: String| Error::Payload(format!("GPG signature: {reason}"));
    if signature.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_SIGNATURE_BYTES} accepted",
            signature.len()
        )));
    }
    let body = match signature.first() {
        Some(0) => signature.strip_prefix(FORMAT_PREFIX).ok_or_else(|| {
            bad(
                "a containers/image signature of another format than simple-signing (e.g. \
                 sigstore-json), not checked here"
                    .into(),
            )
        })?,
        Some(_) => signature,
        None => return Err(bad("empty".into())),
    };
    let mut message = match body.first() {
        Some(b) if b & 0x80 != 0 => Message::from_bytes(body),
        _ => Message::from_armor(body).map(|(m, _)| m),
    }
    .map_err(|e| bad(format!("not an OpenPGP message: {e}")))?;
    let mut depth = 0;
    while message.is_compressed() {
        depth += 1;
        if depth > 2 {
            return Err(bad("nested compression".into()));
        }
        message = message
            .decompress()
            .map_err(|e| bad(format!("cannot decompress: {e}")))?;
    }
    if message.is_encrypted() {
        return Err(bad("encrypted, not a signed message".into()));
    }
    if !message.is_signed() {
        return Err(bad("not signed".into()));
    }
    let mut data = Vec::new();
    (&mut message)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("reading the signed data: {e}")))?;
    if data.len() > MAX_PAYLOAD_BYTES {
        return Err(bad(format!(
            "signed data over {MAX_PAYLOAD_BYTES} bytes, not a simple-signing payload"
        )));
    }
    // Whatever follows the literal data (the signature packet) is read by the reader itself;
    // make sure nothing is left.
    let mut rest = [0u8; 1];
    if message.read(&mut rest).map_err(|e| bad(e.to_string()))? != 0 {
        return Err(bad("trailing data after the payload".into()));
    }
    if keyrings.is_empty() {
        return Err(Error::Invalid("no GPG keyring given".into()));
    }
    for keyring in keyrings {
        match keyring.signer(&message) {
            Some(Ok(fpr)) => return Ok((keyring, fpr, data)),
            Some(Err(reason)) => {
                return Err(Error::BadSignature {
                    key: keyring.name.clone(),
                    reason,
                });
            }
            None => {}
        }
    }
    let names: Vec<String> = keyrings
        .iter()
        .map(|k| format!("{} ({})", k.name, k.fingerprints().join(", ")))
        .collect();
    Err(Error::BadSignature {
        key: names.join(", "),
        reason: "not signed by a key of the GPG keyring, or the payload was altered".into(),
    })
}

/// Verifies one GPG simple-signing signature for `digest`, resolved from `reference`.
///
/// # Errors
/// With the reason: not signed by a trusted key, a payload of another type, digest or identity.
pub fn verify_atomic(
    signature: &[u8],
    keyrings: &[Keyring],
    reference: &Reference,
    digest: &Digest,
    identity: IdentityMatch,
) -> Result<VerifiedSignature> {
    let (keyring, fpr, data) = open_signature(signature, keyrings)?;
    let (payload, annotations) =
        check_payload(&data, reference, digest, identity, &BTreeMap::new())?;
    if payload.critical.kind != ATOMIC_TYPE {
        return Err(Error::Payload(format!(
            "type {:?} is not {ATOMIC_TYPE:?}",
            payload.critical.kind
        )));
    }
    Ok(VerifiedSignature {
        kind: "gpg".into(),
        signer: keyring.name.clone(),
        key_fingerprint: format!("gpg:{fpr}"),
        identity: payload.critical.identity.docker_reference.clone(),
        digest: payload.critical.image.docker_manifest_digest.clone(),
        annotations,
        issuer: None,
        issued_by: None,
        signed_at: None,
        rekor_log_index: None,
    })
}

/// Lookaside bases from a containers `registries.d` directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesD {
    /// `default-docker.lookaside`.
    pub default_docker: Option<String>,
    /// `docker.<scope>.lookaside` by scope (`host`, `host/ns`, `host/ns/repo[:tag]`, `*.domain`).
    pub docker: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRegistriesFile {
    #[serde(default, rename = "default-docker")]
    default_docker: Option<RawNamespace>,
    #[serde(default)]
    docker: BTreeMap<String, RawNamespace>,
}

#[derive(Debug, Default, Deserialize)]
struct RawNamespace {
    #[serde(default)]
    lookaside: Option<String>,
    /// The older name of `lookaside`.
    #[serde(default)]
    sigstore: Option<String>,
}

impl RawNamespace {
    fn base(&self) -> Option<String> {
        self.lookaside.clone().or_else(|| self.sigstore.clone())
    }
}

impl RegistriesD {
    /// Reads every `*.yaml` file of `dir` (sorted). A scope defined twice is an error, as in
    /// containers/image.
    ///
    /// # Errors
    /// When the directory or a file cannot be read or parsed, or a scope is defined twice.
    pub fn load(dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "yaml") && path.is_file() {
                paths.push(path);
            }
            if paths.len() > MAX_REGISTRIES_D_FILES {
                return Err(Error::Invalid(format!(
                    "{}: more than {MAX_REGISTRIES_D_FILES} files",
                    dir.display()
                )));
            }
        }
        paths.sort();
        let mut out = Self::default();
        for path in &paths {
            let bytes = crate::read_trust_file(path, MAX_REGISTRIES_D_BYTES)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Invalid(format!("{}: not UTF-8", path.display())))?;
            out.add(&text, &path.display().to_string())?;
        }
        Ok(out)
    }

    /// Adds one `registries.d` file's text, named `name` in errors.
    ///
    /// # Errors
    /// When the YAML is invalid or defines a scope already defined.
    pub fn add(&mut self, text: &str, name: &str) -> Result<()> {
        let raw: RawRegistriesFile = if text.trim().is_empty() {
            RawRegistriesFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| Error::Invalid(format!("{name}: {e}")))?
        };
        if let Some(ns) = &raw.default_docker {
            if self.default_docker.is_some() {
                return Err(Error::Invalid(format!(
                    "{name}: default-docker is defined in more than one file"
                )));
            }
            self.default_docker = ns.base();
        }
        for (scope, ns) in &raw.docker {
            if self.docker.contains_key(scope) {
                return Err(Error::Invalid(format!(
                    "{name}: docker scope {scope:?} is defined in more than one file"
                )));
            }
            if let Some(base) = ns.base() {
                self.docker.insert(scope.clone(), base);
            }
        }
        Ok(())
    }

    /// The lookaside base for `reference`: the most specific `docker` scope (the reference with
    /// its tag or digest, the repository, each parent namespace, the host, then `*.domain`
    /// wildcards), else `default-docker`.
    #[must_use]
    pub fn lookaside_for(&self, reference: &Reference) -> Option<&str> {
        scopes(reference)
            .iter()
            .find_map(|s| self.docker.get(s))
            .or(self.default_docker.as_ref())
            .map(String::as_str)
    }
}

/// The policy scopes of `reference`, most specific first (containers/image's
/// `PolicyConfigurationIdentity` then `PolicyConfigurationNamespaces`).
#[must_use]
pub fn scopes(reference: &Reference) -> Vec<String> {
    let name = reference.name();
    let mut out = Vec::new();
    if let Some(d) = reference.digest() {
        out.push(format!("{name}@{d}"));
    }
    if let Some(t) = reference.tag() {
        out.push(format!("{name}:{t}"));
    }
    let mut current = name.as_str();
    out.push(current.to_owned());
    while let Some(i) = current.rfind('/') {
        current = &current[..i];
        out.push(current.to_owned());
    }
    let host = reference.registry();
    let host = host.split(':').next().unwrap_or(host);
    let mut rest = host;
    while let Some(i) = rest.find('.') {
        rest = &rest[i + 1..];
        out.push(format!("*.{rest}"));
    }
    out
}

/// Where to look for GPG signatures, and with what to check them.
#[derive(Debug, Clone, Default)]
pub struct GpgOptions {
    /// Trusted keyrings (any one key suffices).
    pub keyrings: Vec<Keyring>,
    /// The `registries.d` configuration, if given.
    pub registries_d: Option<RegistriesD>,
    /// A lookaside base to use instead of (before) the `registries.d` one.
    pub lookaside: Option<String>,
    /// How the signed identity must match the reference.
    pub identity: IdentityMatch,
    /// How to reach lookaside servers and the registry (insecure hosts, CA file, deadline).
    pub http: HttpOptions,
}

/// One signature blob found, with where it came from.
#[derive(Debug, Clone)]
pub struct FoundSignature {
    /// `lookaside <url>` or `extension API <url>`.
    pub source: String,
    /// The raw blob.
    pub bytes: Vec<u8>,
}

/// Signatures found for one digest, with refusals and notes.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Readable signatures.
    pub signatures: Vec<FoundSignature>,
    /// `(source, reason)` of blobs that could not be read.
    pub refused: Vec<(String, String)>,
    /// What was looked at.
    pub notes: Vec<String>,
}

/// Finds the GPG signatures of `digest`: in lookaside storage (`options.lookaside`, else
/// `registries.d`) and through the registry's signature extension API.
#[must_use]
pub fn discover(reference: &Reference, digest: &Digest, options: &GpgOptions) -> Found {
    let mut found = Found::default();
    let base = options.lookaside.clone().or_else(|| {
        options
            .registries_d
            .as_ref()
            .and_then(|r| r.lookaside_for(reference))
            .map(str::to_owned)
    });
    // Loopback-only work (tests, a local mirror) must not go through the environment's proxy.
    let registry_url = format!("http://{}/", reference.api_host());
    let mut urls = vec![registry_url.as_str()];
    if let Some(b) = base.as_deref().filter(|b| !b.starts_with("file://")) {
        urls.push(b);
    }
    let loopback = palisade_image::http::all_loopback(urls);
    let http = match HttpClient::new(&options.http, loopback) {
        Ok(c) => Some(c),
        Err(e) => {
            found.refused.push(("GPG discovery".into(), e.to_string()));
            None
        }
    };
    match &base {
        Some(base) => lookaside(base, reference, digest, http.as_ref(), &mut found),
        None => found.notes.push(format!(
            "no lookaside storage configured for {} (registries.d or --lookaside)",
            reference.name()
        )),
    }
    if let Some(http) = &http {
        extension_api(http, reference, digest, &mut found);
    }
    found
}

fn lookaside(
    base: &str,
    reference: &Reference,
    digest: &Digest,
    http: Option<&HttpClient>,
    found: &mut Found,
) {
    let base = base.trim_end_matches('/');
    let dir = format!(
        "{base}/{}@{}={}",
        reference.repository(),
        digest.algorithm().name(),
        digest.hex()
    );
    for n in 1..=MAX_SIGNATURES + 1 {
        let url = format!("{dir}/signature-{n}");
        let source = format!("lookaside {}", display_url(&url));
        if n > MAX_SIGNATURES {
            if let Ok(Some(_)) = fetch(&url, http, MAX_SIGNATURE_BYTES) {
                found.notes.push(format!(
                    "{dir}: more than {MAX_SIGNATURES} signatures; the others were not read"
                ));
            }
            break;
        }
        match fetch(&url, http, MAX_SIGNATURE_BYTES) {
            Ok(Some(bytes)) => found.signatures.push(FoundSignature { source, bytes }),
            Ok(None) => {
                if n == 1 {
                    found.notes.push(format!(
                        "no GPG signature in lookaside {}",
                        display_url(&dir)
                    ));
                }
                break;
            }
            Err(reason) => {
                found.refused.push((source, reason));
                break;
            }
        }
    }
}

/// Reads `url` (`file://` or `http(s)://`) of at most `limit` bytes; `Ok(None)` when missing.
fn fetch(url: &str, http: Option<&HttpClient>, limit: u64) -> Result<Option<Vec<u8>>, String> {
    if let Some(path) = url.strip_prefix("file://") {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{path}: {e}")),
        };
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{path}: {e}"))?;
        if bytes.len() as u64 > limit {
            return Err(format!("{path}: more than {limit} bytes"));
        }
        return Ok(Some(bytes));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "lookaside {url:?}: only file://, http:// and https:// are supported"
        ));
    }
    let Some(http) = http else {
        return Err("no HTTP client".into());
    };
    let resp = http.get(url, &[]).map_err(|e| e.to_string())?;
    match resp.status() {
        200 => {}
        404 => return Ok(None),
        s => return Err(format!("{}: HTTP {s}", display_url(url))),
    }
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("{}: more than {limit} bytes", display_url(url)));
    }
    Ok(Some(bytes))
}

#[derive(Debug, Deserialize)]
struct ExtensionList {
    #[serde(default)]
    signatures: Vec<ExtensionSignature>,
}

#[derive(Debug, Deserialize)]
struct ExtensionSignature {
    #[serde(default)]
    version: u64,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    content: String,
}

fn extension_api(http: &HttpClient, reference: &Reference, digest: &Digest, found: &mut Found) {
    let host = reference.api_host();
    let plain = http.check_url(&format!("https://{host}/")).is_ok()
        && http.check_url(&format!("http://{host}/")).is_ok();
    let scheme = if plain { "http" } else { "https" };
    let url = format!(
        "{scheme}://{host}/extensions/v2/{}/signatures/{digest}",
        reference.repository()
    );
    let source = format!("extension API {}", display_url(&url));
    let resp = match http.get(&url, &[]) {
        Ok(r) => r,
        Err(e) => {
            found.notes.push(format!("{source}: not asked: {e}"));
            return;
        }
    };
    match resp.status() {
        200 => {}
        404 | 405 => return,
        401 | 403 => {
            found.notes.push(format!(
                "{source}: HTTP {}: the signature extension API needs credentials, not sent",
                resp.status()
            ));
            return;
        }
        s => {
            found.refused.push((source, format!("HTTP {s}")));
            return;
        }
    }
    let mut bytes = Vec::new();
    if let Err(e) = resp
        .into_reader()
        .take(MAX_EXTENSION_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        found.refused.push((source, e.to_string()));
        return;
    }
    if bytes.len() as u64 > MAX_EXTENSION_BYTES {
        found
            .refused
            .push((source, format!("more than {MAX_EXTENSION_BYTES} bytes")));
        return;
    }
    let list: ExtensionList = match serde_json::from_slice(&bytes) {
        Ok(l) => l,
        Err(e) => {
            found
                .refused
                .push((source, format!("not a signature list: {e}")));
            return;
        }
    };
    for (i, s) in list.signatures.iter().enumerate() {
        let what = format!("{source} [{i}] {}", s.name);
        if i >= MAX_SIGNATURES {
            found.notes.push(format!(
                "{source}: more than {MAX_SIGNATURES} signatures; the others were not read"
            ));
            break;
        }
        if s.version != 2 || s.kind != "atomic" {
            found.refused.push((
                what,
                format!(
                    "version {} type {:?}, expected version 2 type \"atomic\"",
                    s.version, s.kind
                ),
            ));
            continue;
        }
        match base64::engine::general_purpose::STANDARD.decode(s.content.as_bytes()) {
            Ok(bytes) => found.signatures.push(FoundSignature {
                source: what,
                bytes,
            }),
            Err(e) => found
                .refused
                .push((what, format!("content is not base64: {e}"))),
        }
    }
}

/// Finds and verifies the GPG signatures of `digest`. Returns a report for each signature
/// found and the discovery notes.
#[must_use]
pub fn verify_gpg(
    reference: &Reference,
    digest: &Digest,
    options: &GpgOptions,
) -> (Vec<SignatureReport>, Vec<String>) {
    let found = discover(reference, digest, options);
    let mut reports = Vec::new();
    for s in &found.signatures {
        let outcome = verify_atomic(
            &s.bytes,
            &options.keyrings,
            reference,
            digest,
            options.identity,
        );
        reports.push(match outcome {
            Ok(v) => SignatureReport {
                source: s.source.clone(),
                verified: Some(v),
                reason: None,
            },
            Err(e) => SignatureReport {
                source: s.source.clone(),
                verified: None,
                reason: Some(e.to_string()),
            },
        });
    }
    for (source, reason) in found.refused {
        reports.push(SignatureReport {
            source,
            verified: None,
            reason: Some(reason),
        });
    }
    (reports, found.notes)
}

/// Verifies the GPG signatures of `digest` with one named keyring file (a policy's
/// `sources.gpg` entry): the keyring is reported under `name`.
///
/// # Errors
/// When the keyring or the `registries.d` directory cannot be read; signatures that do not
/// verify are reported, not errors.
pub fn verify_source(
    name: &str,
    keyring: &Path,
    registries_d: Option<&Path>,
    lookaside: Option<&str>,
    http: HttpOptions,
    reference: &Reference,
    digest: &Digest,
) -> Result<(Vec<SignatureReport>, Vec<String>)> {
    let mut ring = Keyring::from_file(keyring)?;
    name.clone_into(&mut ring.name);
    let options = GpgOptions {
        keyrings: vec![ring],
        registries_d: registries_d.map(RegistriesD::load).transpose()?,
        lookaside: lookaside.map(str::to_owned),
        identity: IdentityMatch::RepoDigestOrExact,
        http,
    };
    Ok(verify_gpg(reference, digest, &options))
}

/// Adds GPG results to a verification (its verdict updated), or, when no GPG configuration
/// was given and nothing was found, the hint saying where GPG signatures live.
pub fn merge(verification: &mut Verification, gpg: Option<(Vec<SignatureReport>, Vec<String>)>) {
    match gpg {
        Some((reports, notes)) => {
            let had_none = verification.signatures.is_empty();
            verification.signatures.extend(reports);
            verification.notes.extend(notes);
            if had_none && !verification.signatures.is_empty() {
                let none = format!("no signatures found for {}", verification.digest);
                verification.notes.retain(|n| n != &none);
            }
        }
        None => {
            if verification.signatures.is_empty() {
                verification.notes.push(NO_SIGNATURE_HINT.to_owned());
            }
        }
    }
    verification.verified = verification.signatures.iter().any(|s| s.verified.is_some());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn registries_d_most_specific_scope_wins() {
        let mut d = RegistriesD::default();
        d.add(
            "default-docker:\n  lookaside: file:///default\ndocker:\n  reg.example:5000:\n    sigstore: https://host/sigs\n  reg.example:5000/team/app:\n    lookaside: file:///app\n",
            "a.yaml",
        )
        .unwrap();
        assert_eq!(
            d.lookaside_for(&r("reg.example:5000/team/app:v1")),
            Some("file:///app")
        );
        assert_eq!(
            d.lookaside_for(&r("reg.example:5000/team/other:v1")),
            Some("https://host/sigs")
        );
        assert_eq!(
            d.lookaside_for(&r("quay.io/x/y:v1")),
            Some("file:///default")
        );
        let err = d
            .add("docker:\n  reg.example:5000:\n    lookaside: x\n", "b.yaml")
            .unwrap_err();
        assert!(err.to_string().contains("more than one file"), "{err}");
    }

    #[test]
    fn wildcard_scopes_follow_the_namespaces() {
        let s = scopes(&r("a.b.example.com/ns/app:v1"));
        assert_eq!(
            s,
            vec![
                "a.b.example.com/ns/app:v1",
                "a.b.example.com/ns/app",
                "a.b.example.com/ns",
                "a.b.example.com",
                "*.b.example.com",
                "*.example.com",
                "*.com",
            ]
        );
    }

    #[test]
    fn openpgp_keys_are_recognised() {
        assert!(looks_like_openpgp_key(
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQGN"
        ));
        assert!(looks_like_openpgp_key(&[0x99, 0x01, 0x8d]));
        assert!(looks_like_openpgp_key(&[0xc6, 0x33]));
        assert!(!looks_like_openpgp_key(b"-----BEGIN PUBLIC KEY-----\n"));
        assert!(!looks_like_openpgp_key(b""));
    }

    #[test]
    fn hostile_signatures_are_refused() {
        let keyring = Vec::new();
        for (input, want) in [
            (&b""[..], "empty"),
            (b"\x00sigstore-json\n{}", "another format"),
            (b"not openpgp at all", "not an OpenPGP message"),
            (&[0xa3, 0x01, 0x00][..], "cannot decompress"),
        ] {
            let err = open_signature(input, &keyring).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let huge = vec![0x80u8; MAX_SIGNATURE_BYTES as usize + 1];
        assert!(
            open_signature(&huge, &keyring)
                .unwrap_err()
                .to_string()
                .contains("more than")
        );
    }

    /// A one-thread HTTP server on 127.0.0.1 answering `routes` (path -> status, body) for
    /// `requests` connections; unknown paths get 404.
    fn serve(routes: Vec<(String, u16, Vec<u8>)>, requests: usize) -> String {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for _ in 0..requests {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                let (status, body) = routes
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map_or((404, b"not found".to_vec()), |(_, s, b)| (*s, b.clone()));
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = out.write_all(&body);
            }
        });
        addr
    }

    #[test]
    fn http_lookaside_and_extension_api_are_read_with_caps() {
        let d = Digest::sha256_of(b"manifest");
        let hex = d.hex().to_owned();
        let ext = serde_json::json!({"signatures": [
            {"version": 2, "type": "atomic", "name": "s1", "content": "c2lnLWV4dA=="},
            {"version": 2, "type": "other", "name": "s2", "content": "AA=="}
        ]});
        let addr = serve(
            vec![
                (
                    format!("/sigs/ns/app@sha256={hex}/signature-1"),
                    200,
                    b"sig-1".to_vec(),
                ),
                (
                    format!("/sigs/ns/app@sha256={hex}/signature-2"),
                    200,
                    vec![0u8; MAX_SIGNATURE_BYTES as usize + 1],
                ),
                (
                    format!("/extensions/v2/ns/app/signatures/{d}"),
                    200,
                    ext.to_string().into_bytes(),
                ),
            ],
            3,
        );
        let reference = r(&format!("{addr}/ns/app:v1"));
        let options = GpgOptions {
            lookaside: Some(format!("http://{addr}/sigs/")),
            ..GpgOptions::default()
        };
        let found = discover(&reference, &d, &options);
        let got: Vec<(&str, &[u8])> = found
            .signatures
            .iter()
            .map(|s| (s.source.as_str(), s.bytes.as_slice()))
            .collect();
        assert_eq!(got.len(), 2, "{found:#?}");
        assert!(
            got[0].0.ends_with("/signature-1") && got[0].1 == b"sig-1",
            "{found:#?}"
        );
        assert!(
            got[1].0.starts_with("extension API") && got[1].1 == b"sig-ext",
            "{found:#?}"
        );
        let refused: Vec<String> = found
            .refused
            .iter()
            .map(|(s, r)| format!("{s}: {r}"))
            .collect();
        assert!(
            refused
                .iter()
                .any(|r| r.contains("signature-2") && r.contains("more than 65536 bytes")),
            "{refused:?}"
        );
        assert!(
            refused.iter().any(|r| r.contains("type \"other\"")),
            "{refused:?}"
        );

        // A registry without the extension API (404) and an empty lookaside: nothing, noted.
        let addr = serve(Vec::new(), 2);
        let reference = r(&format!("{addr}/ns/app:v1"));
        let options = GpgOptions {
            lookaside: Some(format!("http://{addr}/sigs")),
            ..GpgOptions::default()
        };
        let found = discover(&reference, &d, &options);
        assert!(
            found.signatures.is_empty() && found.refused.is_empty(),
            "{found:#?}"
        );
        assert!(
            found.notes[0].starts_with("no GPG signature in lookaside http://"),
            "{found:#?}"
        );
    }

    #[test]
    fn keyring_errors_name_the_problem() {
        let err = Keyring::from_bytes("k", b"-----BEGIN PUBLIC KEY-----\nMAA=\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("use --key"), "{err}");
        assert!(Keyring::from_bytes("k", b"").is_err());
        assert!(Keyring::from_bytes("k", b"garbage").is_err());
    }
}
