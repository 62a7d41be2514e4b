//! Docker Content Trust: verifying tags signed with Notary v1 (TUF) against a Notary server,
//! so images signed the legacy way can be checked and then migrated to cosign signatures.
//!
//! A collection (GUN, `registry/repository`) is read from
//! `GET <server>/v2/<gun>/_trust/tuf/<role>.json` and checked as a TUF client does:
//!
//! 1. `root.json` must match the root **pinned** by the caller ([`RootPin`]): the SHA-256 of
//!    an exported `root.json`, or a root key ID. Nothing is trusted on first use.
//! 2. Every role (`root`, `timestamp`, `snapshot`, `targets`, `targets/releases`) must carry
//!    valid signatures from at least `threshold` distinct keys that root (or, for a
//!    delegation, its parent) assigns to it, over the canonical JSON of `signed`
//!    ([`cjson`]); key IDs are recomputed from the keys ([`keys`]).
//! 3. The chain: the timestamp names the snapshot's hashes and length, the snapshot names the
//!    targets' and the delegation's (and root's, when it lists root).
//! 4. No role may be expired, and no version may be lower than the highest one seen before
//!    (a small state file in a directory the caller passes, see [`state`]).
//! 5. Every document has a size cap and every request the HTTP client's deadline.
//!
//! A tag maps to a digest as Docker does (`docker pull` with `DOCKER_CONTENT_TRUST=1`): the
//! `targets/releases` delegation first, then `targets`. The target's `hashes.sha256` is the
//! manifest digest and its `length` the manifest's size; both must equal what the registry
//! serves for the tag ([`verify_reference`]). Other delegations are not consulted, as Docker
//! does not consult them.
//!
//! Not for: publishing to Notary (Notary v1 is retired: this is read-only, for verification
//! and migration), Notation (Notary v2).

mod auth;
mod cjson;
mod keys;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_image::{Digest, HttpClient, HttpOptions, Reference, RegistryClient, media_type};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use crate::error::{Error, Result};
use keys::{Key, TufKey};
pub use state::STATE_FILE;

/// Largest `root.json` read.
pub const MAX_ROOT_BYTES: u64 = 1 << 20;
/// Largest `timestamp.json` read.
pub const MAX_TIMESTAMP_BYTES: u64 = 64 << 10;
/// Largest `snapshot.json` read.
pub const MAX_SNAPSHOT_BYTES: u64 = 8 << 20;
/// Largest targets or delegation document read.
pub const MAX_TARGETS_BYTES: u64 = 32 << 20;
/// Most signatures looked at on one document.
pub const MAX_SIGNATURES: usize = 64;
/// Most keys in one root or delegation list.
pub const MAX_KEYS: usize = 256;
/// The delegation Docker signs with and reads first.
pub const RELEASES_ROLE: &str = "targets/releases";

/// How the collection's root of trust is pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootPin {
    /// `sha256:<hex>`: the SHA-256 of the exact `root.json` bytes the user exported (e.g.
    /// `~/.notary/tuf/<gun>/metadata/root.json` or `~/.docker/trust/tuf/<gun>/metadata/root.json`).
    /// Exact: a root rotation needs a new pin.
    RootSha256(String),
    /// `key:<hex>`: a root key ID as listed in `root.json` (`signed.roles.root.keyids`); that key
    /// must sign the root, and the root's own threshold must be met.
    KeyId(String),
}

impl FromStr for RootPin {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let hex64 = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(h) = s.strip_prefix("sha256:")
            && hex64(h)
        {
            return Ok(Self::RootSha256(h.to_ascii_lowercase()));
        }
        if let Some(h) = s.strip_prefix("key:")
            && hex64(h)
        {
            return Ok(Self::KeyId(h.to_ascii_lowercase()));
        }
        Err(Error::Invalid(format!(
            "Notary root pin {s:?}: expected sha256:<64 hex> (the SHA-256 of an exported \
             root.json, e.g. `sha256sum ~/.docker/trust/tuf/<gun>/metadata/root.json`) or \
             key:<64 hex> (a root key ID from root.json's roles.root.keyids)"
        )))
    }
}

impl fmt::Display for RootPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RootSha256(h) => write!(f, "sha256:{h}"),
            Self::KeyId(h) => write!(f, "key:{h}"),
        }
    }
}

/// A Notary server and what to trust from it.
#[derive(Debug, Clone)]
pub struct Notary {
    http: HttpClient,
    server: String,
    pin: RootPin,
    state_dir: PathBuf,
    now: i64,
    /// Anonymous tokens per collection, for servers that ask for one.
    tokens: std::sync::Arc<std::sync::Mutex<BTreeMap<String, String>>>,
}

/// One signed tag of a verified collection.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The tag.
    pub tag: String,
    /// The manifest digest (`hashes.sha256`).
    pub digest: String,
    /// The manifest's size (`length`).
    pub length: u64,
    /// The role whose metadata lists it: `targets/releases` or `targets`.
    pub role: String,
    /// The key IDs whose signatures on that role verified.
    pub key_ids: Vec<String>,
}

/// A verified collection.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// `registry/repository`.
    pub gun: String,
    /// The server it was read from.
    pub server: String,
    /// SHA-256 of the `root.json` that was trusted.
    pub root_sha256: String,
    /// Version of each role that verified.
    pub versions: BTreeMap<String, u64>,
    /// Signed tags, as Docker resolves them (`targets/releases` over `targets`).
    pub targets: BTreeMap<String, Target>,
    /// What was not consulted, and why.
    pub notes: Vec<String>,
}

/// A tag whose Notary target matched the registry.
#[derive(Debug, Clone, Serialize)]
pub struct NotaryVerified {
    /// `notary:<gun>`.
    pub signer: String,
    /// The role that signed, e.g. `targets/releases`.
    pub role: String,
    /// The tag.
    pub tag: String,
    /// The digest both Notary and the registry name.
    pub digest: String,
    /// The manifest size both name.
    pub length: u64,
    /// The key IDs that signed the role.
    pub key_ids: Vec<String>,
    /// Versions of the verified chain.
    pub versions: BTreeMap<String, u64>,
    /// The server.
    pub server: String,
}

#[derive(Deserialize)]
struct Envelope {
    signed: Value,
    signatures: Vec<Sig>,
}

#[derive(Deserialize)]
struct Sig {
    keyid: String,
    method: String,
    sig: String,
}

#[derive(Deserialize)]
struct Common {
    #[serde(rename = "_type")]
    kind: String,
    version: u64,
    expires: String,
}

#[derive(Deserialize)]
struct RoleKeys {
    keyids: Vec<String>,
    threshold: u64,
}

#[derive(Deserialize)]
struct RootSigned {
    keys: BTreeMap<String, TufKey>,
    roles: BTreeMap<String, RoleKeys>,
}

#[derive(Deserialize, Clone)]
struct FileMeta {
    hashes: BTreeMap<String, String>,
    length: u64,
}

#[derive(Deserialize)]
struct MetaSigned {
    meta: BTreeMap<String, FileMeta>,
}

#[derive(Deserialize)]
struct TargetsSigned {
    #[serde(default)]
    targets: BTreeMap<String, FileMeta>,
    #[serde(default)]
    delegations: Option<Delegations>,
}

#[derive(Deserialize)]
struct Delegations {
    #[serde(default)]
    keys: BTreeMap<String, TufKey>,
    #[serde(default)]
    roles: Vec<DelegatedRole>,
}

#[derive(Deserialize)]
struct DelegatedRole {
    name: String,
    keyids: Vec<String>,
    threshold: u64,
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    path_hash_prefixes: Option<Vec<String>>,
}

/// A document whose signatures, type, expiry and version were checked.
struct Checked {
    bytes_len: u64,
    signed: Value,
    version: u64,
    key_ids: Vec<String>,
}

impl Notary {
    /// A client for `server` (`https://…`; plain HTTP only to loopback and `http.insecure`
    /// hosts) trusting `pin`, keeping rollback state in `state_dir`, checking expiry against
    /// the current time.
    ///
    /// # Errors
    /// A server URL that is not HTTP(S), or HTTP options that cannot be used.
    pub fn new(server: &str, pin: RootPin, state_dir: &Path, http: &HttpOptions) -> Result<Self> {
        let server = server.trim_end_matches('/').to_owned();
        let lower = server.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(Error::Invalid(format!(
                "Notary server {server:?}: expected an https:// URL (http:// on loopback)"
            )));
        }
        let host = lower
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or(""))
            .unwrap_or("");
        let loopback = palisade_image::http::is_loopback(host);
        let http = HttpClient::new(http, loopback)?;
        http.check_url(&server)
            .map_err(|r| Error::Invalid(format!("Notary server {server}: {r}")))?;
        Ok(Self {
            http,
            server,
            pin,
            state_dir: state_dir.to_owned(),
            now: palisade_image::Timestamp::now().unix_seconds(),
            tokens: std::sync::Arc::default(),
        })
    }

    /// Checks expiry (and certificate validity) at `unix_seconds` instead of now.
    #[must_use]
    pub fn at(mut self, unix_seconds: i64) -> Self {
        self.now = unix_seconds;
        self
    }

    /// The server URL.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Reads and verifies the collection `gun`, then records its versions.
    ///
    /// # Errors
    /// Any refusal (pin, signature, hash, length, expiry, rollback, size, transport), naming
    /// the document and what to do.
    pub fn collection(&self, gun: &str) -> Result<Collection> {
        check_gun(gun)?;
        let fail =
            |reason: String| Error::registry(format!("Notary {gun} at {}", self.server), reason);
        let fetch = |role: &str, limit: u64| self.fetch(gun, role, limit);
        self.collection_inner(gun, &fetch).map_err(fail)
    }

    fn collection_inner(
        &self,
        gun: &str,
        fetch: Fetch<'_>,
    ) -> std::result::Result<Collection, String> {
        let mut state = state::State::load(&self.state_dir)?;
        let mut versions = BTreeMap::new();
        let mut notes = Vec::new();

        // 1. Root, against the pin.
        let root_bytes = fetch("root", MAX_ROOT_BYTES)?;
        let root_sha256 = hex::encode(sha2::Sha256::digest(&root_bytes));
        if let RootPin::RootSha256(pin) = &self.pin
            && *pin != root_sha256
        {
            return Err(format!(
                "root.json has SHA-256 {root_sha256}, not the pinned {pin}: the collection's \
                 root changed (rotation or a different server) or is forged; if the owner \
                 rotated it, export the new root.json, check it, and pin its SHA-256"
            ));
        }
        let (root_env, root_signed) = parse_envelope("root.json", &root_bytes)?;
        let root: RootSigned =
            serde_json::from_value(root_signed.clone()).map_err(|e| format!("root.json: {e}"))?;
        if root.keys.len() > MAX_KEYS {
            return Err(format!("root.json lists more than {MAX_KEYS} keys"));
        }
        let role_keys = |role: &str| -> std::result::Result<(BTreeMap<String, Key>, u64), String> {
            let r = root
                .roles
                .get(role)
                .ok_or_else(|| format!("root.json assigns no keys to the {role} role"))?;
            let mut keys = BTreeMap::new();
            for id in &r.keyids {
                let k = root
                    .keys
                    .get(id)
                    .ok_or_else(|| format!("root.json: {role} key {id} is not listed in keys"))?;
                keys.insert(id.clone(), k.load(id, self.now)?);
            }
            Ok((keys, r.threshold))
        };
        let (root_keys, root_threshold) = role_keys("root")?;
        if let RootPin::KeyId(pin) = &self.pin {
            let key = root_keys.get(pin).ok_or_else(|| {
                format!(
                    "the pinned root key {pin} is not one of root.json's root keys ({}): the \
                     root was rotated or the server is not the one expected",
                    root_keys.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            let single = BTreeMap::from([(pin.clone(), key.clone())]);
            check_signatures("root.json", &root_env, &root_signed, &single, 1)
                .map_err(|e| format!("{e} (the pinned root key {pin} must sign root.json)"))?;
        }
        let root_checked = self.check_doc(
            gun,
            "root",
            "Root",
            root_bytes.len() as u64,
            &root_env,
            root_signed,
            &root_keys,
            root_threshold,
            &state,
        )?;
        versions.insert("root".to_owned(), root_checked.version);

        // 2. Timestamp.
        let (ts_keys, ts_threshold) = role_keys("timestamp")?;
        let ts_bytes = fetch("timestamp", MAX_TIMESTAMP_BYTES)?;
        let (ts_env, ts_signed) = parse_envelope("timestamp.json", &ts_bytes)?;
        let ts = self.check_doc(
            gun,
            "timestamp",
            "Timestamp",
            ts_bytes.len() as u64,
            &ts_env,
            ts_signed,
            &ts_keys,
            ts_threshold,
            &state,
        )?;
        versions.insert("timestamp".to_owned(), ts.version);
        let ts_meta: MetaSigned =
            serde_json::from_value(ts.signed).map_err(|e| format!("timestamp.json: {e}"))?;
        let snap_meta = ts_meta
            .meta
            .get("snapshot")
            .ok_or("timestamp.json names no snapshot")?;

        // 3. Snapshot, as the timestamp names it.
        let snap_bytes = fetch_meta(
            fetch,
            "snapshot",
            snap_meta,
            MAX_SNAPSHOT_BYTES,
            "timestamp",
        )?;
        let (snap_keys, snap_threshold) = role_keys("snapshot")?;
        let (snap_env, snap_signed) = parse_envelope("snapshot.json", &snap_bytes)?;
        let snap = self.check_doc(
            gun,
            "snapshot",
            "Snapshot",
            snap_bytes.len() as u64,
            &snap_env,
            snap_signed,
            &snap_keys,
            snap_threshold,
            &state,
        )?;
        versions.insert("snapshot".to_owned(), snap.version);
        let snapshot: MetaSigned =
            serde_json::from_value(snap.signed).map_err(|e| format!("snapshot.json: {e}"))?;
        if let Some(root_meta) = snapshot.meta.get("root") {
            check_hashes("root.json", &root_bytes, root_meta, "snapshot")?;
        }

        // 4. Targets, as the snapshot names them.
        let targets_meta = snapshot
            .meta
            .get("targets")
            .ok_or("snapshot.json names no targets")?;
        let targets_bytes = fetch_meta(
            fetch,
            "targets",
            targets_meta,
            MAX_TARGETS_BYTES,
            "snapshot",
        )?;
        let (targets_keys, targets_threshold) = role_keys("targets")?;
        let (t_env, t_signed) = parse_envelope("targets.json", &targets_bytes)?;
        let targets_checked = self.check_doc(
            gun,
            "targets",
            "Targets",
            targets_bytes.len() as u64,
            &t_env,
            t_signed,
            &targets_keys,
            targets_threshold,
            &state,
        )?;
        versions.insert("targets".to_owned(), targets_checked.version);
        let targets: TargetsSigned = serde_json::from_value(targets_checked.signed)
            .map_err(|e| format!("targets.json: {e}"))?;

        // 5. The releases delegation, when targets delegates it.
        let mut effective: BTreeMap<String, Target> = BTreeMap::new();
        if let Some(delegations) = &targets.delegations {
            for role in &delegations.roles {
                if role.name != RELEASES_ROLE {
                    notes.push(format!(
                        "delegation {} not consulted (Docker reads only {RELEASES_ROLE} and \
                         targets)",
                        role.name
                    ));
                    continue;
                }
                if delegations.keys.len() > MAX_KEYS {
                    return Err(format!(
                        "targets.json lists more than {MAX_KEYS} delegation keys"
                    ));
                }
                let Some(meta) = snapshot.meta.get(RELEASES_ROLE) else {
                    notes.push(format!(
                        "{RELEASES_ROLE} is delegated but not published (not in the snapshot)"
                    ));
                    continue;
                };
                if role
                    .path_hash_prefixes
                    .as_ref()
                    .is_some_and(|p| !p.is_empty())
                {
                    return Err(format!(
                        "{RELEASES_ROLE}: path_hash_prefixes are not supported; refusing rather \
                         than guessing which tags it may sign"
                    ));
                }
                let mut keys = BTreeMap::new();
                for id in &role.keyids {
                    let k = delegations.keys.get(id).ok_or_else(|| {
                        format!("targets.json: {RELEASES_ROLE} key {id} is not listed in delegations.keys")
                    })?;
                    keys.insert(id.clone(), k.load(id, self.now)?);
                }
                let bytes = fetch_meta(fetch, RELEASES_ROLE, meta, MAX_TARGETS_BYTES, "snapshot")?;
                let what = format!("{RELEASES_ROLE}.json");
                let (env, signed) = parse_envelope(&what, &bytes)?;
                let checked = self.check_doc(
                    gun,
                    RELEASES_ROLE,
                    "Targets",
                    bytes.len() as u64,
                    &env,
                    signed,
                    &keys,
                    role.threshold,
                    &state,
                )?;
                versions.insert(RELEASES_ROLE.to_owned(), checked.version);
                let releases: TargetsSigned =
                    serde_json::from_value(checked.signed).map_err(|e| format!("{what}: {e}"))?;
                let paths = role.paths.clone().unwrap_or_default();
                for (tag, meta) in releases.targets {
                    if !paths.iter().any(|p| tag.starts_with(p.as_str())) {
                        notes.push(format!(
                            "{RELEASES_ROLE} lists {tag:?} outside its delegated paths; ignored"
                        ));
                        continue;
                    }
                    let t = target(&tag, &meta, RELEASES_ROLE, &checked.key_ids)?;
                    effective.insert(tag, t);
                }
            }
        }
        for (tag, meta) in &targets.targets {
            if !effective.contains_key(tag) {
                let t = target(tag, meta, "targets", &targets_checked.key_ids)?;
                effective.insert(tag.clone(), t);
            }
        }
        let _ = root_checked.bytes_len;
        state.record(gun, &versions)?;
        Ok(Collection {
            gun: gun.to_owned(),
            server: self.server.clone(),
            root_sha256,
            versions,
            targets: effective,
            notes,
        })
    }

    /// Signatures, type, expiry and rollback of one document.
    #[allow(clippy::too_many_arguments)]
    fn check_doc(
        &self,
        gun: &str,
        role: &str,
        kind: &str,
        bytes_len: u64,
        env: &Envelope,
        signed: Value,
        keys: &BTreeMap<String, Key>,
        threshold: u64,
        state: &state::State,
    ) -> std::result::Result<Checked, String> {
        let what = format!("{role}.json");
        let key_ids = check_signatures(&what, env, &signed, keys, threshold)?;
        let common: Common =
            serde_json::from_value(signed.clone()).map_err(|e| format!("{what}: {e}"))?;
        if common.kind != kind {
            return Err(format!(
                "{what} is of type {:?}, not {kind:?}: a document served for the wrong role",
                common.kind
            ));
        }
        let expires = palisade_image::Timestamp::parse(&common.expires)
            .map_err(|e| format!("{what}: expires: {e}"))?;
        if expires.unix_seconds() <= self.now {
            let now = palisade_image::Timestamp::from_unix_seconds(self.now)
                .map_or_else(|| self.now.to_string(), |t| t.to_string());
            return Err(format!(
                "{what} (version {}) expired at {} (checked at {now}): stale or replayed \
                 metadata; the collection's owner (or, for the timestamp, the server) must sign \
                 it again",
                common.version, common.expires
            ));
        }
        state.check(gun, role, common.version)?;
        Ok(Checked {
            bytes_len,
            signed,
            version: common.version,
            key_ids,
        })
    }

    /// One GET under the client's deadline, with `authorization` when given.
    fn get(
        &self,
        url: &str,
        authorization: Option<&str>,
    ) -> std::result::Result<palisade_image::http::HttpResponse, String> {
        let mut headers = vec![("Accept", "application/json")];
        if let Some(a) = authorization {
            headers.push(("Authorization", a));
        }
        self.http.get(url, &headers).map_err(|e| e.to_string())
    }

    /// GETs `<role>.json` of `gun`, at most `limit` bytes.
    fn fetch(&self, gun: &str, role: &str, limit: u64) -> std::result::Result<Vec<u8>, String> {
        let url = format!("{}/v2/{gun}/_trust/tuf/{role}.json", self.server);
        let known = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(gun).map(|t| format!("Bearer {t}")));
        let mut resp = self.get(&url, known.as_deref())?;
        if resp.status() == 401
            && known.is_none()
            && let Some(challenge) = resp.header("www-authenticate").and_then(auth::parse_bearer)
        {
            let token = auth::token(&self.http, &challenge, gun)?;
            if let Ok(mut t) = self.tokens.lock() {
                t.insert(gun.to_owned(), token.clone());
            }
            resp = self.get(&url, Some(&format!("Bearer {token}")))?;
        }
        match resp.status() {
            200 => {}
            404 => {
                return Err(format!(
                    "{role}.json: not found (404): the server has no trust data for {gun}; \
                     was the repository signed with Docker Content Trust on this server?"
                ));
            }
            401 | 403 => {
                return Err(format!(
                    "{role}.json: the server answered {} {} (also to an anonymous token): the \
                     collection needs a login, which Palisade does not do for Notary; serve its \
                     metadata from a server that allows anonymous reads",
                    resp.status(),
                    resp.reason()
                ));
            }
            s => {
                return Err(format!(
                    "{role}.json: the server answered {s} {}",
                    resp.reason()
                ));
            }
        }
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{role}.json: {e}"))?;
        if bytes.len() as u64 > limit {
            return Err(format!("{role}.json is larger than {limit} bytes; refused"));
        }
        Ok(bytes)
    }
}

/// Fetches a document whose length and hashes `parent` names, and checks them.
fn fetch_meta(
    fetch: Fetch<'_>,
    role: &str,
    meta: &FileMeta,
    cap: u64,
    parent: &str,
) -> std::result::Result<Vec<u8>, String> {
    let what = format!("{role}.json");
    if meta.length > cap {
        return Err(format!(
            "{parent}.json gives {what} a length of {} bytes, over the {cap}-byte cap",
            meta.length
        ));
    }
    let bytes = fetch(role, meta.length)?;
    check_hashes(&what, &bytes, meta, parent)?;
    Ok(bytes)
}

/// Reads one role's document (`root`, `targets/releases`, …) of at most the given bytes.
type Fetch<'a> = &'a dyn Fn(&str, u64) -> std::result::Result<Vec<u8>, String>;

fn check_gun(gun: &str) -> Result<()> {
    let ok = !gun.is_empty()
        && gun.len() <= 512
        && gun
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:/".contains(&b))
        && !gun
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{gun:?} is not a Notary collection name (registry/repository)"
        )))
    }
}

fn parse_envelope(what: &str, bytes: &[u8]) -> std::result::Result<(Envelope, Value), String> {
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| format!("{what} is not TUF metadata: {e}"))?;
    if !env.signed.is_object() {
        return Err(format!("{what}: `signed` is not an object"));
    }
    let signed = env.signed.clone();
    Ok((env, signed))
}

/// Verifies that at least `threshold` distinct keys of `keys` signed `signed`; returns them.
fn check_signatures(
    what: &str,
    env: &Envelope,
    signed: &Value,
    keys: &BTreeMap<String, Key>,
    threshold: u64,
) -> std::result::Result<Vec<String>, String> {
    if threshold == 0 {
        return Err(format!(
            "{what}: the role's threshold is 0; refusing unsigned metadata"
        ));
    }
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(format!(
            "{what} carries more than {MAX_SIGNATURES} signatures"
        ));
    }
    let message = cjson::to_vec(signed).map_err(|e| format!("{what}: {e}"))?;
    // Key IDs that signed, and the distinct keys behind them: a threshold counts keys, so
    // one key listed under two IDs (bare and in a certificate) counts once.
    let mut good = BTreeSet::new();
    let mut distinct = BTreeSet::new();
    let mut problems = Vec::new();
    for s in &env.signatures {
        let Some(key) = keys.get(&s.keyid) else {
            problems.push(format!("key {} is not a key of this role", s.keyid));
            continue;
        };
        let sig = match B64.decode(s.sig.as_bytes()) {
            Ok(sig) => sig,
            Err(e) => {
                problems.push(format!("signature by {} is not base64: {e}", s.keyid));
                continue;
            }
        };
        match key.verify(&s.method, &message, &sig) {
            Ok(()) => {
                good.insert(s.keyid.clone());
                distinct.insert(key.identity());
            }
            Err(e) => problems.push(e),
        }
    }
    if (distinct.len() as u64) < threshold {
        let detail = if problems.is_empty() {
            "no signatures".to_owned()
        } else {
            problems.join("; ")
        };
        return Err(format!(
            "{what}: valid signatures from {} distinct key(s) of the role, {threshold} required \
             ({detail}): the metadata was altered or signed by an untrusted key",
            distinct.len()
        ));
    }
    Ok(good.into_iter().collect())
}

/// Checks `bytes` against the length and every known hash `meta` gives (SHA-256 required).
fn check_hashes(
    what: &str,
    bytes: &[u8],
    meta: &FileMeta,
    parent: &str,
) -> std::result::Result<(), String> {
    if bytes.len() as u64 != meta.length {
        return Err(format!(
            "{what} is {} bytes, but {parent}.json says {}: altered in transit or at rest",
            bytes.len(),
            meta.length
        ));
    }
    let Some(expected) = meta.hashes.get("sha256") else {
        return Err(format!("{parent}.json gives {what} no sha256 hash"));
    };
    let actual = B64.encode(sha2::Sha256::digest(bytes));
    if *expected != actual {
        return Err(format!(
            "{what} has sha256 {actual}, but {parent}.json says {expected}: altered in transit or \
             at rest"
        ));
    }
    if let Some(expected) = meta.hashes.get("sha512") {
        let actual = B64.encode(sha2::Sha512::digest(bytes));
        if *expected != actual {
            return Err(format!(
                "{what}: sha512 does not match {parent}.json: altered in transit or at rest"
            ));
        }
    }
    Ok(())
}

fn target(
    tag: &str,
    meta: &FileMeta,
    role: &str,
    key_ids: &[String],
) -> std::result::Result<Target, String> {
    let b64 = meta
        .hashes
        .get("sha256")
        .ok_or_else(|| format!("{role}.json: target {tag:?} has no sha256 hash"))?;
    let raw = B64
        .decode(b64.as_bytes())
        .map_err(|e| format!("{role}.json: target {tag:?}: sha256 is not base64: {e}"))?;
    if raw.len() != 32 {
        return Err(format!(
            "{role}.json: target {tag:?}: sha256 is not 32 bytes"
        ));
    }
    Ok(Target {
        tag: tag.to_owned(),
        digest: format!("sha256:{}", hex::encode(raw)),
        length: meta.length,
        role: role.to_owned(),
        key_ids: key_ids.to_vec(),
    })
}

/// The collection name Docker uses for `reference`: `registry/repository`.
#[must_use]
pub fn gun_of(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// Verifies `reference`'s tag in Notary and that the registry serves the same manifest
/// (digest and size) for it.
///
/// # Errors
/// No tag, the collection refused ([`Notary::collection`]), the tag not signed, the registry
/// without the image, or a registry digest or size other than the signed one.
pub fn verify_reference(
    notary: &Notary,
    client: &RegistryClient,
    reference: &Reference,
) -> Result<NotaryVerified> {
    let collection = notary.collection(&gun_of(reference))?;
    verify_in(&collection, client, reference)
}

/// As [`verify_reference`], with a collection already verified.
///
/// # Errors
/// As [`verify_reference`].
pub fn verify_in(
    collection: &Collection,
    client: &RegistryClient,
    reference: &Reference,
) -> Result<NotaryVerified> {
    let what = format!("Notary {}", collection.gun);
    let Some(tag) = reference.tag() else {
        return Err(Error::Invalid(format!(
            "{reference}: Docker Content Trust signs tags; give the tag (REPO:TAG)"
        )));
    };
    let signed = collection.targets.get(tag).ok_or_else(|| {
        Error::registry(
            &what,
            format!(
                "tag {tag:?} is not signed in the collection (signed tags: {})",
                if collection.targets.is_empty() {
                    "none".to_owned()
                } else {
                    collection
                        .targets
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )
    })?;
    let by_tag = Reference::from_str(&format!("{}:{tag}", reference.name()))
        .map_err(|e| Error::Invalid(format!("{reference}: {e}")))?;
    let desc = client
        .head_manifest(
            by_tag.repository(),
            &by_tag.manifest_reference(),
            media_type::ACCEPT_MANIFESTS,
        )?
        .ok_or_else(|| Error::registry(by_tag.to_string(), "image not found in the registry"))?;
    let signed_digest: Digest = signed
        .digest
        .parse()
        .map_err(|e| Error::registry(&what, format!("target {tag:?}: {e}")))?;
    if desc.digest != signed_digest {
        return Err(Error::registry(
            &what,
            format!(
                "the registry serves {} for tag {tag:?}, but Notary's {} role signed {}: the tag \
                 was moved after signing, or the registry is not serving the signed image",
                desc.digest, signed.role, signed.digest
            ),
        ));
    }
    if let Some(pinned) = reference.digest()
        && *pinned != signed_digest
    {
        return Err(Error::registry(
            &what,
            format!(
                "{reference} pins {pinned}, but Notary signed {} for tag {tag:?}",
                signed.digest
            ),
        ));
    }
    if desc.size != signed.length {
        return Err(Error::registry(
            &what,
            format!(
                "the manifest of tag {tag:?} is {} bytes in the registry, but Notary signed a \
                 length of {}",
                desc.size, signed.length
            ),
        ));
    }
    Ok(NotaryVerified {
        signer: format!("notary:{}", collection.gun),
        role: signed.role.clone(),
        tag: tag.to_owned(),
        digest: signed.digest.clone(),
        length: signed.length,
        key_ids: signed.key_ids.clone(),
        versions: collection.versions.clone(),
        server: collection.server.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_print() {
        let h = "8cb637cd0976eaee20910052356e1e6a5ccddac02339f544bfb8ab49951e5ba9";
        assert_eq!(
            format!("sha256:{h}").parse::<RootPin>().unwrap(),
            RootPin::RootSha256(h.to_owned())
        );
        let k: RootPin = format!("key:{}", h.to_uppercase()).parse().unwrap();
        assert_eq!(k.to_string(), format!("key:{h}"));
        let e = "tofu".parse::<RootPin>().unwrap_err().to_string();
        assert!(e.contains("sha256:<64 hex>"), "{e}");
        assert!(format!("sha256:{}", &h[1..]).parse::<RootPin>().is_err());
    }

    #[test]
    fn gun_names_are_checked() {
        assert!(check_gun("127.0.0.1:5000/app").is_ok());
        assert!(check_gun("docker.io/library/alpine").is_ok());
        for bad in ["", "a/../b", "a//b", "a/b?x", "a/b#", "/a"] {
            assert!(check_gun(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_and_lengths_must_match() {
        let data = b"hello\n";
        let meta = FileMeta {
            hashes: BTreeMap::from([("sha256".to_owned(), B64.encode(sha2::Sha256::digest(data)))]),
            length: 6,
        };
        assert!(check_hashes("x.json", data, &meta, "snapshot").is_ok());
        assert!(
            check_hashes("x.json", b"hellO\n", &meta, "snapshot")
                .unwrap_err()
                .contains("has sha256")
        );
        assert!(
            check_hashes("x.json", b"hello", &meta, "snapshot")
                .unwrap_err()
                .contains("5 bytes")
        );
    }

    /// A collection made here with Ed25519 keys, signed as Notary signs (canonical JSON of
    /// `signed`), to exercise the rules no real server would break.
    mod chain {
        use super::super::*;
        use ed25519_dalek::Signer as _;
        use serde_json::json;

        const FUTURE: &str = "2099-01-01T00:00:00Z";

        struct Ed {
            sk: ed25519_dalek::SigningKey,
            id: String,
            key: Value,
        }

        fn ed(seed: u8) -> Ed {
            let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            let key = json!({"keytype": "ed25519", "keyval": {"private": null,
                "public": B64.encode(sk.verifying_key().to_bytes())}});
            let id = hex::encode(sha2::Sha256::digest(cjson::to_vec(&key).unwrap()));
            Ed { sk, id, key }
        }

        fn sign(signed: &Value, keys: &[&Ed]) -> Vec<u8> {
            let msg = cjson::to_vec(signed).unwrap();
            let sigs: Vec<Value> = keys
                .iter()
                .map(|k| {
                    json!({"keyid": k.id, "method": "eddsa",
                    "sig": B64.encode(k.sk.sign(&msg).to_bytes())})
                })
                .collect();
            serde_json::to_vec(&json!({"signed": signed, "signatures": sigs})).unwrap()
        }

        fn meta(bytes: &[u8]) -> Value {
            json!({"hashes": {"sha256": B64.encode(sha2::Sha256::digest(bytes)),
                "sha512": B64.encode(sha2::Sha512::digest(bytes))}, "length": bytes.len()})
        }

        fn target(hex_digest: &str, len: u64) -> Value {
            json!({"hashes": {"sha256": B64.encode(hex::decode(hex_digest).unwrap())},
                "length": len})
        }

        /// The keys: root, timestamp, snapshot, targets, releases.
        struct Keys([Ed; 5]);

        fn keys() -> Keys {
            Keys([ed(1), ed(2), ed(3), ed(4), ed(5)])
        }

        struct Docs {
            root: Value,
            targets: Value,
            releases: Option<Value>,
            /// Who signs each role, when not its own key.
            timestamp_kind: &'static str,
        }

        fn docs(k: &Keys) -> Docs {
            let [root, ts, snap, tg, rel] = &k.0;
            let mut all = serde_json::Map::new();
            for key in [root, ts, snap, tg] {
                all.insert(key.id.clone(), key.key.clone());
            }
            let role = |key: &Ed| json!({"keyids": [key.id], "threshold": 1});
            Docs {
                root: json!({"_type": "Root", "consistent_snapshot": false, "expires": FUTURE,
                    "version": 1, "keys": all, "roles": {"root": role(root),
                    "timestamp": role(ts), "snapshot": role(snap), "targets": role(tg)}}),
                targets: json!({"_type": "Targets", "expires": FUTURE, "version": 1,
                    "targets": {"v1": target(&"11".repeat(32), 100),
                                "v2": target(&"22".repeat(32), 200)},
                    "delegations": {"keys": {rel.id.clone(): rel.key.clone()},
                        "roles": [{"name": "targets/releases", "keyids": [rel.id],
                                   "threshold": 1, "paths": [""]}]}}),
                releases: Some(json!({"_type": "Targets", "expires": FUTURE, "version": 1,
                    "targets": {"v2": target(&"33".repeat(32), 300)}})),
                timestamp_kind: "Timestamp",
            }
        }

        fn publish(k: &Keys, d: &Docs) -> BTreeMap<String, Vec<u8>> {
            let [root, ts, snap, tg, rel] = &k.0;
            let mut files = BTreeMap::new();
            let root_bytes = sign(&d.root, &[root]);
            let targets_bytes = sign(&d.targets, &[tg]);
            let mut snap_meta = serde_json::Map::new();
            snap_meta.insert("root".into(), meta(&root_bytes));
            snap_meta.insert("targets".into(), meta(&targets_bytes));
            if let Some(r) = &d.releases {
                let b = sign(r, &[rel]);
                snap_meta.insert("targets/releases".into(), meta(&b));
                files.insert("targets/releases".to_owned(), b);
            }
            let snap_bytes = sign(
                &json!({"_type": "Snapshot", "expires": FUTURE, "version": 1,
                    "meta": snap_meta}),
                &[snap],
            );
            let ts_bytes = sign(
                &json!({"_type": d.timestamp_kind, "expires": FUTURE, "version": 1,
                    "meta": {"snapshot": meta(&snap_bytes)}}),
                &[ts],
            );
            files.insert("root".to_owned(), root_bytes);
            files.insert("targets".to_owned(), targets_bytes);
            files.insert("snapshot".to_owned(), snap_bytes);
            files.insert("timestamp".to_owned(), ts_bytes);
            files
        }

        fn check(
            files: &BTreeMap<String, Vec<u8>>,
            pin: RootPin,
        ) -> std::result::Result<Collection, String> {
            let dir = tempfile::tempdir().unwrap();
            let notary = Notary {
                http: HttpClient::new(&HttpOptions::default(), true).unwrap(),
                server: "http://127.0.0.1:1".to_owned(),
                pin,
                state_dir: dir.path().to_owned(),
                now: 1_800_000_000,
                tokens: std::sync::Arc::default(),
            };
            let fetch = |role: &str, limit: u64| {
                let b = files
                    .get(role)
                    .cloned()
                    .ok_or_else(|| format!("{role}.json: not found (404)"))?;
                if b.len() as u64 > limit {
                    return Err(format!("{role}.json is larger than {limit} bytes; refused"));
                }
                Ok(b)
            };
            notary.collection_inner("reg/app", &fetch)
        }

        fn key_pin(k: &Keys) -> RootPin {
            RootPin::KeyId(k.0[0].id.clone())
        }

        #[test]
        fn releases_wins_over_targets_and_both_pins_work() {
            let k = keys();
            let files = publish(&k, &docs(&k));
            let c = check(&files, key_pin(&k)).unwrap();
            assert_eq!(c.targets["v1"].role, "targets");
            assert_eq!(
                c.targets["v1"].digest,
                format!("sha256:{}", "11".repeat(32))
            );
            assert_eq!(c.targets["v2"].role, "targets/releases");
            assert_eq!(c.targets["v2"].length, 300);
            assert_eq!(c.targets["v2"].key_ids, vec![k.0[4].id.clone()]);
            let sha = hex::encode(sha2::Sha256::digest(&files["root"]));
            assert!(check(&files, RootPin::RootSha256(sha)).is_ok());
            let e = check(&files, RootPin::KeyId(k.0[1].id.clone())).unwrap_err();
            assert!(e.contains("is not one of root.json's root keys"), "{e}");
        }

        #[test]
        fn thresholds_count_distinct_keys() {
            let k = keys();
            let mut d = docs(&k);
            d.root["roles"]["targets"]["threshold"] = json!(2);
            let files = publish(&k, &d);
            let e = check(&files, key_pin(&k)).unwrap_err();
            assert!(
                e.contains(
                    "targets.json: valid signatures from 1 distinct key(s) of the role, 2 required"
                ),
                "{e}"
            );
            // The same key twice is still one key.
            let tg = &k.0[3];
            let (env, signed) =
                parse_envelope("targets.json", &sign(&d.targets, &[tg, tg])).unwrap();
            let tuf: TufKey = serde_json::from_value(tg.key.clone()).unwrap();
            let loaded = BTreeMap::from([(tg.id.clone(), tuf.load(&tg.id, 0).unwrap())]);
            let e = check_signatures("targets.json", &env, &signed, &loaded, 2).unwrap_err();
            assert!(e.contains("from 1 distinct key(s)"), "{e}");
            assert!(check_signatures("targets.json", &env, &signed, &loaded, 1).is_ok());
            // One key listed under two IDs (as a bare key and in a certificate, say), signing
            // under both: still one key.
            let mut alias = loaded[&tg.id].clone();
            alias.id = "another-id".into();
            let twice = BTreeMap::from([
                (tg.id.clone(), loaded[&tg.id].clone()),
                ("another-id".to_owned(), alias),
            ]);
            let msg = cjson::to_vec(&d.targets).unwrap();
            let sig = B64.encode(tg.sk.sign(&msg).to_bytes());
            let doubled = serde_json::to_vec(&json!({"signed": d.targets, "signatures": [
                {"keyid": tg.id, "method": "eddsa", "sig": sig},
                {"keyid": "another-id", "method": "eddsa", "sig": sig}]}))
            .unwrap();
            let (env, signed) = parse_envelope("targets.json", &doubled).unwrap();
            let e = check_signatures("targets.json", &env, &signed, &twice, 2).unwrap_err();
            assert!(e.contains("from 1 distinct key(s)"), "{e}");
            let e = check_signatures("targets.json", &env, &signed, &loaded, 0).unwrap_err();
            assert!(e.contains("threshold is 0"), "{e}");
        }

        #[test]
        fn a_document_of_another_type_is_refused() {
            let k = keys();
            let mut d = docs(&k);
            d.timestamp_kind = "Snapshot";
            let e = check(&publish(&k, &d), key_pin(&k)).unwrap_err();
            assert!(e.contains("timestamp.json is of type \"Snapshot\""), "{e}");
        }

        #[test]
        fn delegation_paths_and_hash_prefixes() {
            let k = keys();
            let mut d = docs(&k);
            d.targets["delegations"]["roles"][0]["paths"] = json!(["release-"]);
            let c = check(&publish(&k, &d), key_pin(&k)).unwrap();
            // v2 outside the delegated paths: ignored, targets' own v2 stands.
            assert_eq!(c.targets["v2"].role, "targets");
            assert!(
                c.notes
                    .iter()
                    .any(|n| n.contains("outside its delegated paths"))
            );
            let mut d = docs(&k);
            d.targets["delegations"]["roles"][0]["path_hash_prefixes"] = json!(["ab"]);
            let e = check(&publish(&k, &d), key_pin(&k)).unwrap_err();
            assert!(e.contains("path_hash_prefixes are not supported"), "{e}");
            // Another delegation is not consulted, and says so.
            let mut d = docs(&k);
            d.targets["delegations"]["roles"][0]["name"] = json!("targets/alice");
            let c = check(&publish(&k, &d), key_pin(&k)).unwrap();
            assert_eq!(c.targets["v2"].role, "targets");
            assert!(
                c.notes
                    .iter()
                    .any(|n| n.contains("targets/alice not consulted"))
            );
        }

        #[test]
        fn expired_roles_misfiled_keys_and_oversized_documents() {
            let k = keys();
            let mut d = docs(&k);
            d.releases.as_mut().unwrap()["expires"] = json!("2020-01-01T00:00:00Z");
            let e = check(&publish(&k, &d), key_pin(&k)).unwrap_err();
            assert!(
                e.contains("targets/releases.json (version 1) expired at 2020-01-01"),
                "{e}"
            );
            // A key listed under another key's ID.
            let mut d = docs(&k);
            let real = d.root["keys"][&k.0[3].id].clone();
            d.root["keys"][&k.0[3].id] = d.root["keys"][&k.0[2].id].clone();
            let e = check(&publish(&k, &d), key_pin(&k)).unwrap_err();
            assert!(e.contains("has the key ID"), "{e}");
            d.root["keys"][&k.0[3].id] = real;
            // A targets document larger than its cap is not even fetched.
            let mut d = docs(&k);
            d.targets["targets"]["pad"] = target(&"44".repeat(32), 1);
            d.targets["custom"] = json!("x".repeat((MAX_TARGETS_BYTES + 1) as usize));
            let e = check(&publish(&k, &d), key_pin(&k)).unwrap_err();
            assert!(e.contains("over the 33554432-byte cap"), "{e}");
        }
    }
}
