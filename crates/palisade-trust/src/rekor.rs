//! Rekor transparency-log evidence, checked offline: the Signed Entry Timestamp (SET, the
//! "inclusion promise"), RFC 6962 Merkle inclusion proofs with their signed checkpoint
//! (a signed note), and the entry body (`hashedrekord`, `rekord`, `dsse`, `intoto`), which
//! must describe exactly the signature, key/certificate and artifact being verified.
//!
//! Rekor v2 entries (`hashedrekord` 0.0.2, Ed25519 checkpoints) carry no integrated time:
//! their time comes from RFC 3161 timestamps (see `timestamp`).
//!
//! Not for: talking to a Rekor server.

use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;

use crate::sigalg::{Scheme, b64};
use crate::sigstore_error::SigstoreError;
use crate::trust_root::{TransparencyLog, TrustRoot};

/// Largest entry body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most sibling hashes in an inclusion proof (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;

/// One Rekor log entry as carried by a cosign bundle annotation or a Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The canonicalized entry body (JSON bytes, as the log stored them).
    pub body: Vec<u8>,
    /// When the log integrated the entry (seconds since the epoch); absent in Rekor v2.
    pub integrated_time: Option<i64>,
    /// The entry's index in the log.
    pub log_index: i64,
    /// The log ID (SHA-256 of the log key for Rekor v1).
    pub log_id: Vec<u8>,
    /// The Signed Entry Timestamp, if present.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// The inclusion proof, if present.
    pub inclusion_proof: Option<InclusionProof>,
}

/// An RFC 6962 inclusion proof plus the checkpoint that signs its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Leaf index in the tree the proof is for.
    pub log_index: u64,
    /// Root hash of that tree.
    pub root_hash: Vec<u8>,
    /// Size of that tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf upwards.
    pub hashes: Vec<Vec<u8>>,
    /// The signed note (checkpoint) text, if present.
    pub checkpoint: Option<String>,
}

/// What the log evidence proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// Integrated time, when a verified SET signs it (absent for Rekor v2 entries).
    pub integrated_time: Option<i64>,
    /// Log index.
    pub log_index: i64,
    /// Hex log ID.
    pub log_id: String,
    /// Whether an inclusion proof (with a signed checkpoint) was verified.
    pub inclusion_proven: bool,
    /// Whether a SET was verified.
    pub promise_verified: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CosignBundle {
    signed_entry_timestamp: String,
    payload: CosignPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CosignPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

impl LogEntry {
    /// Parses cosign's `dev.sigstore.cosign/bundle` annotation
    /// (`{"SignedEntryTimestamp": b64, "Payload": {body, integratedTime, logIndex, logID}}`).
    ///
    /// # Errors
    /// Malformed JSON, base64 or hex; oversized body.
    pub fn from_cosign_bundle(json: &[u8]) -> Result<Self, SigstoreError> {
        if json.len() > 2 * MAX_BODY_BYTES {
            return Err(SigstoreError::TooLarge {
                what: "cosign Rekor bundle",
                limit: 2 * MAX_BODY_BYTES,
            });
        }
        let b: CosignBundle = serde_json::from_slice(json)
            .map_err(|e| SigstoreError::malformed("cosign Rekor bundle JSON", e))?;
        let body = b64("Rekor entry body", &b.payload.body)?;
        check_body_size(&body)?;
        Ok(Self {
            body,
            integrated_time: Some(b.payload.integrated_time),
            log_index: b.payload.log_index,
            log_id: hex::decode(&b.payload.log_id)
                .map_err(|e| SigstoreError::malformed("Rekor logID (hex)", e))?,
            signed_entry_timestamp: Some(b64("SignedEntryTimestamp", &b.signed_entry_timestamp)?),
            inclusion_proof: None,
        })
    }
}

pub(crate) fn check_body_size(body: &[u8]) -> Result<(), SigstoreError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(SigstoreError::TooLarge {
            what: "Rekor entry body",
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

/// Verifies the log evidence of `entry` against the trust root: the log is known (by log
/// ID) and valid at the integrated time; the SET verifies under that log's key; an inclusion
/// proof, when present, leads from the body's leaf hash to the root hash, and the checkpoint
/// signs that root and tree size. At least one of SET or inclusion proof must be present.
///
/// # Errors
/// Unknown log, bad SET, bad proof or checkpoint, no integrated time (Rekor v2).
pub fn verify_entry(entry: &LogEntry, root: &TrustRoot) -> Result<VerifiedEntry, SigstoreError> {
    let log = root.tlog_by_id(&entry.log_id).ok_or_else(|| {
        SigstoreError::Tlog(format!(
            "log {} is not in the trust root",
            hex::encode(&entry.log_id)
        ))
    })?;
    if let Some(t) = entry.integrated_time
        && !log.valid_for.contains(t)
    {
        return Err(SigstoreError::Tlog(format!(
            "log key {} is not valid at integrated time {t}",
            log.log_id_hex()
        )));
    }
    let mut promise_verified = false;
    if let Some(set) = &entry.signed_entry_timestamp {
        let Some(t) = entry.integrated_time else {
            return Err(SigstoreError::Tlog(
                "signed entry timestamp without an integrated time".into(),
            ));
        };
        verify_set(entry, t, set, log)?;
        promise_verified = true;
    }
    let mut inclusion_proven = false;
    if let Some(proof) = &entry.inclusion_proof {
        // The Merkle path must hold even when nothing signs its root (bundle v0.1 proofs
        // may lack a checkpoint); only a signed checkpoint makes it count as evidence.
        verify_inclusion(&entry.body, proof)?;
        if let Some(checkpoint) = &proof.checkpoint {
            verify_checkpoint(checkpoint, proof, log)?;
            inclusion_proven = true;
        }
    }
    if !promise_verified && !inclusion_proven {
        return Err(SigstoreError::Tlog(
            "entry has neither a signed entry timestamp nor an inclusion proof with a signed \
             checkpoint"
                .into(),
        ));
    }
    // Without a SET, the integrated time (if any) is not signed by anything: only a
    // promise makes it evidence. Rekor v2 entries have none and need RFC 3161 timestamps.
    Ok(VerifiedEntry {
        integrated_time: entry.integrated_time.filter(|_| promise_verified),
        log_index: entry.log_index,
        log_id: log.log_id_hex(),
        inclusion_proven,
        promise_verified,
    })
}

/// The canonical JSON (RFC 8785; here only sorted keys, no whitespace) that a SET signs.
fn set_message(entry: &LogEntry, integrated_time: i64) -> String {
    format!(
        "{{\"body\":\"{}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
        base64::engine::general_purpose::STANDARD.encode(&entry.body),
        integrated_time,
        hex::encode(&entry.log_id),
        entry.log_index
    )
}

fn verify_set(
    entry: &LogEntry,
    integrated_time: i64,
    set: &[u8],
    log: &TransparencyLog,
) -> Result<(), SigstoreError> {
    let msg = set_message(entry, integrated_time);
    log.key
        .verify(log.key.default_scheme(), msg.as_bytes(), set)
        .map_err(|e| {
            SigstoreError::Tlog(format!(
                "signed entry timestamp does not verify under log key {}: {e}",
                log.log_id_hex()
            ))
        })
}

fn hash_leaf(data: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn hash_children(l: &[u8], r: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2 inclusion proof verification for the leaf `body`.
///
/// # Errors
/// Index out of range, wrong number of hashes, or a root mismatch.
pub fn verify_inclusion(body: &[u8], proof: &InclusionProof) -> Result<(), SigstoreError> {
    let bad = |why: String| SigstoreError::Tlog(format!("inclusion proof invalid: {why}"));
    if proof.log_index >= proof.tree_size {
        return Err(bad(format!(
            "leaf index {} outside tree of size {}",
            proof.log_index, proof.tree_size
        )));
    }
    if proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(SigstoreError::TooLarge {
            what: "inclusion proof hashes",
            limit: MAX_PROOF_HASHES,
        });
    }
    if proof.root_hash.len() != 32 || proof.hashes.iter().any(|h| h.len() != 32) {
        return Err(bad("hashes must be 32 bytes".into()));
    }
    let mut f_n = proof.log_index;
    let mut s_n = proof.tree_size - 1;
    let mut r = hash_leaf(body);
    for p in &proof.hashes {
        if s_n == 0 {
            return Err(bad("too many hashes for the tree size".into()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = hash_children(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = hash_children(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(bad("too few hashes for the tree size".into()));
    }
    if r.as_slice() != proof.root_hash.as_slice() {
        return Err(bad(format!(
            "computed root {} differs from the proof's root {}",
            hex::encode(r),
            hex::encode(&proof.root_hash)
        )));
    }
    Ok(())
}

/// Verifies a checkpoint (signed note): its tree size and root hash equal the proof's, and a
/// signature line by `log` verifies over the note text.
///
/// # Errors
/// Malformed note, mismatching size/root, no valid signature by the log.
pub fn verify_checkpoint(
    note: &str,
    proof: &InclusionProof,
    log: &TransparencyLog,
) -> Result<(), SigstoreError> {
    let bad = |why: &str| SigstoreError::Tlog(format!("checkpoint invalid: {why}"));
    if note.len() > 64 * 1024 {
        return Err(SigstoreError::TooLarge {
            what: "checkpoint",
            limit: 64 * 1024,
        });
    }
    let Some(split) = note.find("\n\n") else {
        return Err(bad("no blank line between body and signatures"));
    };
    let text = &note[..=split];
    let mut lines = text.lines();
    let _origin = lines.next().ok_or_else(|| bad("missing origin line"))?;
    let size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| bad("tree size line is not a number"))?;
    let root = b64(
        "checkpoint root hash",
        lines.next().ok_or_else(|| bad("missing root hash line"))?,
    )?;
    if size != proof.tree_size {
        return Err(bad(&format!(
            "tree size {size} differs from the proof's {}",
            proof.tree_size
        )));
    }
    if root != proof.root_hash {
        return Err(bad("root hash differs from the proof's"));
    }
    let mut last = None;
    for line in note[split + 2..].lines().take(16) {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((name, sig_b64)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(sig) = b64("checkpoint signature", sig_b64) else {
            continue;
        };
        if sig.len() < 5 {
            continue;
        }
        let (hint, sig) = sig.split_at(4);
        if !key_hint_matches(hint, name, log) {
            continue;
        }
        let scheme = log.key.default_scheme();
        match log.key.verify(scheme, text.as_bytes(), sig) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => bad(&format!("signature does not verify: {e}")),
        None => bad(&format!("no signature line by log {}", log.log_id_hex())),
    })
}

fn key_hint_matches(hint: &[u8], name: &str, log: &TransparencyLog) -> bool {
    // Rekor v1 (ECDSA): the first four bytes of the log ID.
    if log.log_id.get(..4) == Some(hint) {
        return true;
    }
    // Ed25519 notes (C2SP signed-note): SHA-256(name || "\n" || 0x01 || key)[..4].
    if matches!(log.key.default_scheme(), Scheme::Ed25519) {
        let raw = log
            .public_key_der
            .get(log.public_key_der.len().saturating_sub(32)..);
        if let Some(raw) = raw {
            let mut h = sha2::Sha256::new();
            h.update(name.as_bytes());
            h.update(b"\n\x01");
            h.update(raw);
            return h.finalize().get(..4) == Some(hint);
        }
    }
    false
}

/// What an entry body says was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyClaims {
    pub(crate) kind: String,
    /// SHA-256 of the signed artifact (hashedrekord/rekord) or of the DSSE payload.
    pub(crate) digest: Option<Vec<u8>>,
    /// Signature values recorded.
    pub(crate) signatures: Vec<Vec<u8>>,
    /// Verifier material recorded: DER of a certificate or of an SPKI public key.
    pub(crate) verifiers: Vec<Vec<u8>>,
}

/// Parses an entry body (hashedrekord 0.0.1, rekord 0.0.1, dsse 0.0.1, intoto 0.0.2,
/// hashedrekord 0.0.2) into what it claims was signed.
pub(crate) fn body_claims(body: &[u8]) -> Result<BodyClaims, SigstoreError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| SigstoreError::malformed("Rekor entry body JSON", e))?;
    let kind = v["kind"].as_str().unwrap_or_default().to_owned();
    let api = v["apiVersion"].as_str().unwrap_or_default();
    let spec = &v["spec"];
    let mut claims = BodyClaims {
        kind: format!("{kind} {api}"),
        digest: None,
        signatures: Vec::new(),
        verifiers: Vec::new(),
    };
    match (kind.as_str(), api) {
        ("hashedrekord" | "rekord", "0.0.1") => {
            claims.digest = Some(hex_sha256(&spec["data"]["hash"])?);
            claims.signatures.push(b64(
                "entry signature",
                str_field(&spec["signature"]["content"], "signature.content")?,
            )?);
            claims.verifiers.push(pem_material(str_field(
                &spec["signature"]["publicKey"]["content"],
                "signature.publicKey.content",
            )?)?);
        }
        ("dsse", "0.0.1") => {
            claims.digest = Some(hex_sha256(&spec["payloadHash"])?);
            for s in array(&spec["signatures"], "signatures")? {
                claims.signatures.push(b64(
                    "entry signature",
                    str_field(&s["signature"], "signature")?,
                )?);
                claims
                    .verifiers
                    .push(pem_material(str_field(&s["verifier"], "verifier")?)?);
            }
        }
        ("intoto", "0.0.2") => {
            claims.digest = Some(hex_sha256(&spec["content"]["payloadHash"])?);
            for s in array(&spec["content"]["envelope"]["signatures"], "signatures")? {
                // intoto 0.0.2 double-encodes: base64 of the base64 signature.
                let once = b64("entry signature", str_field(&s["sig"], "sig")?)?;
                let inner = std::str::from_utf8(&once)
                    .map_err(|_| SigstoreError::malformed("entry signature", "not base64 text"))?;
                claims.signatures.push(b64("entry signature", inner)?);
                claims
                    .verifiers
                    .push(pem_material(str_field(&s["publicKey"], "publicKey")?)?);
            }
        }
        ("hashedrekord", "0.0.2") => {
            let h = &spec["hashedRekordV002"];
            if h["data"]["algorithm"].as_str() != Some("SHA2_256") {
                return Err(SigstoreError::unsupported(
                    "Rekor entry hash algorithm",
                    h["data"]["algorithm"].to_string(),
                ));
            }
            claims.digest = Some(b64(
                "entry digest",
                str_field(&h["data"]["digest"], "digest")?,
            )?);
            claims.signatures.push(b64(
                "entry signature",
                str_field(&h["signature"]["content"], "content")?,
            )?);
            let ver = &h["signature"]["verifier"];
            let raw = ver["x509Certificate"]["rawBytes"]
                .as_str()
                .or_else(|| ver["publicKey"]["rawBytes"].as_str())
                .ok_or_else(|| SigstoreError::malformed("Rekor entry body", "no verifier"))?;
            claims.verifiers.push(b64("entry verifier", raw)?);
        }
        _ => {
            return Err(SigstoreError::unsupported(
                "Rekor entry kind",
                format!("{kind} {api}"),
            ));
        }
    }
    Ok(claims)
}

fn str_field<'a>(v: &'a serde_json::Value, name: &str) -> Result<&'a str, SigstoreError> {
    v.as_str()
        .ok_or_else(|| SigstoreError::malformed("Rekor entry body", format!("missing {name}")))
}

fn array<'a>(
    v: &'a serde_json::Value,
    name: &str,
) -> Result<&'a Vec<serde_json::Value>, SigstoreError> {
    let a = v
        .as_array()
        .ok_or_else(|| SigstoreError::malformed("Rekor entry body", format!("missing {name}")))?;
    if a.len() > 16 {
        return Err(SigstoreError::TooLarge {
            what: "signatures in a Rekor entry",
            limit: 16,
        });
    }
    Ok(a)
}

fn hex_sha256(v: &serde_json::Value) -> Result<Vec<u8>, SigstoreError> {
    if v["algorithm"].as_str() != Some("sha256") {
        return Err(SigstoreError::unsupported(
            "Rekor entry hash algorithm",
            v["algorithm"].to_string(),
        ));
    }
    hex::decode(str_field(&v["value"], "hash value")?)
        .map_err(|e| SigstoreError::malformed("Rekor entry hash (hex)", e))
}

/// base64(PEM) of a certificate or public key → its DER.
fn pem_material(b64_pem: &str) -> Result<Vec<u8>, SigstoreError> {
    let pem = b64("entry verifier", b64_pem)?;
    let text = String::from_utf8_lossy(&pem);
    let label = if text.contains("BEGIN CERTIFICATE") {
        "CERTIFICATE"
    } else {
        "PUBLIC KEY"
    };
    let mut blocks = crate::sigalg::pem_blocks(&pem, label)?;
    Ok(blocks.swap_remove(0))
}

/// Checks that the body records this signature, this verifier (certificate DER or SPKI
/// DER: either may match) and this digest.
pub(crate) fn check_body(
    body: &[u8],
    signature: &[u8],
    verifier_ders: &[&[u8]],
    digest: &[u8],
) -> Result<String, SigstoreError> {
    let claims = body_claims(body)?;
    if claims.digest.as_deref() != Some(digest) {
        return Err(SigstoreError::EntryMismatch(format!(
            "{} entry records digest {}, the artifact's is {}",
            claims.kind,
            claims
                .digest
                .as_deref()
                .map(hex::encode)
                .unwrap_or_default(),
            hex::encode(digest)
        )));
    }
    let pair = claims
        .signatures
        .iter()
        .zip(&claims.verifiers)
        .find(|(s, _)| s.as_slice() == signature);
    let Some((_, verifier)) = pair else {
        return Err(SigstoreError::EntryMismatch(format!(
            "{} entry does not record this signature",
            claims.kind
        )));
    };
    if !verifier_ders.contains(&verifier.as_slice()) {
        return Err(SigstoreError::EntryMismatch(format!(
            "{} entry records another certificate or public key",
            claims.kind
        )));
    }
    Ok(claims.kind)
}

/// Verifies cosign's `dev.sigstore.cosign/bundle` annotation on a **keyed** signature
/// (`cosign sign --key` with a Rekor upload): the SET verifies under the log key named by
/// the logID, and the entry records this signature, this public key and `sha256(payload)`.
/// The signature itself is checked by the caller (`keys::PublicKey::verify`).
///
/// # Errors
/// Malformed bundle, unknown log, bad SET, or an entry about something else.
pub fn verify_cosign_bundle_for_key(
    bundle_json: &[u8],
    payload: &[u8],
    signature: &[u8],
    key: &crate::keys::PublicKey,
    root: &TrustRoot,
) -> Result<VerifiedEntry, SigstoreError> {
    let entry = LogEntry::from_cosign_bundle(bundle_json)?;
    let verified = verify_entry(&entry, root)?;
    let spki = key.spki_der();
    let digest = crate::sigalg::HashAlg::Sha256.digest(payload);
    check_body(&entry.body, signature, &[&spki], &digest)?;
    Ok(verified)
}
