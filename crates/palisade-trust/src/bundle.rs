//! Sigstore bundles v0.1, v0.2 and v0.3 (JSON with protobuf-specs field names), as written
//! by cosign v3 (OCI 1.1 referrer layers), sigstore-python, sigstore-js and sigstore-go,
//! verified offline against a [`TrustRoot`].
//!
//! ```text
//! let bundle = Bundle::from_json(&bytes)?;
//! let verified = verify_bundle(&bundle, Artifact::Sha256(&image_digest), &root,
//!                              SignerPolicy::Identity(&policy))?;
//! ```
//!
//! Checks, in order: the transparency-log entries (known log, SET and/or inclusion proof
//! with a signed checkpoint), the signer (certificate chain valid at the integrated time and
//! the identity policy, or the caller's public key), the signature (message signature over
//! the artifact digest, or DSSE over PAE), the log entry body (records this signature, this
//! certificate or key, and this artifact or payload), and for in-toto DSSE payloads that a
//! statement subject names the artifact digest.
//!
//! Time comes from the SET-signed integrated time and from RFC 3161 timestamps (every one
//! present must verify; the certificate must be valid at each). Rekor v2 entries have no
//! integrated time, so their bundles need a timestamp.
//!
//! Not yet: SCTs in Fulcio certificates (not checked).

use serde::Deserialize;

use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, RawEnvelope, Statement};
use crate::keyless::{IdentityPolicy, Signer, VerifiedSigner};
use crate::rekor::{InclusionProof, LogEntry};
use crate::sigalg::{HashAlg, VerifyingKey, b64};
use crate::sigstore_error::SigstoreError;
use crate::trust_root::TrustRoot;
use crate::x509::{Cert, verify_chain};

/// Largest bundle accepted.
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// Most transparency-log entries accepted in one bundle.
const MAX_TLOG_ENTRIES: usize = 8;
/// Most RFC 3161 timestamps accepted in one bundle.
const MAX_TIMESTAMPS: usize = 4;
/// Most certificates accepted in a bundle's chain.
const MAX_BUNDLE_CHAIN: usize = 8;

/// Bundle media types this verifier accepts.
pub const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

/// How the signer is named in the bundle.
#[derive(Debug, Clone)]
pub enum Material {
    /// A leaf certificate and the untrusted rest of its chain as shipped in the bundle.
    Certificate {
        /// The signing certificate.
        leaf: Cert,
        /// Further certificates of a v0.1/v0.2 `x509CertificateChain` (never trusted).
        chain: Vec<Cert>,
    },
    /// A public key known to the verifier; the bundle carries only a hint.
    PublicKey {
        /// `publicKey.hint`, informational.
        hint: Option<String>,
    },
}

/// What was signed.
#[derive(Debug, Clone)]
pub enum Content {
    /// A signature over the artifact bytes (hashedrekord).
    MessageSignature {
        /// `messageDigest` (algorithm, bytes), if present.
        digest: Option<(String, Vec<u8>)>,
        /// The signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope.
    Dsse(Envelope),
}

/// A parsed Sigstore bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle's media type.
    pub media_type: String,
    /// Signer material.
    pub material: Material,
    /// Transparency-log entries.
    pub tlog_entries: Vec<LogEntry>,
    /// RFC 3161 timestamp tokens (DER), verified against the trust root's TSAs.
    pub rfc3161_timestamps: Vec<Vec<u8>>,
    /// The signed content.
    pub content: Content,
}

/// The artifact the bundle must be about.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact bytes (needed for Ed25519 message signatures).
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 digest (e.g. an image manifest digest).
    Sha256(&'a [u8; 32]),
}

impl Artifact<'_> {
    fn sha256(&self) -> Vec<u8> {
        match self {
            Self::Bytes(b) => HashAlg::Sha256.digest(b),
            Self::Sha256(d) => d.to_vec(),
        }
    }
}

/// Who is allowed to have signed.
#[derive(Debug, Clone, Copy)]
pub enum SignerPolicy<'a> {
    /// A certificate chaining to the trust root, matching this identity policy.
    Identity(&'a IdentityPolicy),
    /// This public key (managed key / `cosign verify --key`).
    Key(&'a crate::keys::PublicKey),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    certificate: Option<RawCert>,
    x509_certificate_chain: Option<RawChain>,
    public_key: Option<RawKeyHint>,
    #[serde(default)]
    tlog_entries: Vec<RawTlogEntry>,
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
struct RawKeyHint {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamps {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTlogEntry {
    log_index: serde_json::Value,
    log_id: RawLogId,
    integrated_time: Option<serde_json::Value>,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: serde_json::Value,
    root_hash: String,
    tree_size: serde_json::Value,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

/// protobuf JSON encodes int64 as a string; accept numbers too.
fn int(v: &serde_json::Value, what: &'static str) -> Result<i64, SigstoreError> {
    match v {
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| SigstoreError::malformed(what, format!("{s:?} is not an integer"))),
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| SigstoreError::malformed(what, "not an int64")),
        _ => Err(SigstoreError::malformed(what, "not an integer")),
    }
}

fn uint(v: &serde_json::Value, what: &'static str) -> Result<u64, SigstoreError> {
    u64::try_from(int(v, what)?).map_err(|_| SigstoreError::malformed(what, "negative"))
}

impl Bundle {
    /// Parses a bundle (size bounded by [`MAX_BUNDLE_BYTES`]).
    ///
    /// # Errors
    /// Oversized, malformed JSON/base64/DER, unknown media type, no or two contents.
    pub fn from_json(json: &[u8]) -> Result<Self, SigstoreError> {
        if json.len() > MAX_BUNDLE_BYTES {
            return Err(SigstoreError::TooLarge {
                what: "Sigstore bundle",
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let raw: RawBundle = serde_json::from_slice(json)
            .map_err(|e| SigstoreError::malformed("Sigstore bundle JSON", e))?;
        if !MEDIA_TYPES.contains(&raw.media_type.as_str()) {
            return Err(SigstoreError::unsupported(
                "bundle media type",
                &raw.media_type,
            ));
        }
        let vm = raw.verification_material;
        let material = match (vm.certificate, vm.x509_certificate_chain, vm.public_key) {
            (Some(c), None, None) => Material::Certificate {
                leaf: Cert::from_der(&b64("bundle certificate", &c.raw_bytes)?)?,
                chain: Vec::new(),
            },
            (None, Some(chain), None) => {
                if chain.certificates.len() > MAX_BUNDLE_CHAIN {
                    return Err(SigstoreError::TooLarge {
                        what: "bundle certificate chain",
                        limit: MAX_BUNDLE_CHAIN,
                    });
                }
                let mut certs = chain
                    .certificates
                    .iter()
                    .map(|c| Cert::from_der(&b64("bundle certificate", &c.raw_bytes)?))
                    .collect::<Result<Vec<_>, _>>()?;
                if certs.is_empty() {
                    return Err(SigstoreError::malformed(
                        "bundle x509CertificateChain",
                        "no certificates",
                    ));
                }
                let leaf = certs.remove(0);
                Material::Certificate { leaf, chain: certs }
            }
            (None, None, Some(k)) => Material::PublicKey { hint: k.hint },
            _ => {
                return Err(SigstoreError::malformed(
                    "bundle verificationMaterial",
                    "exactly one of certificate, x509CertificateChain or publicKey is required",
                ));
            }
        };
        if vm.tlog_entries.len() > MAX_TLOG_ENTRIES {
            return Err(SigstoreError::TooLarge {
                what: "bundle tlogEntries",
                limit: MAX_TLOG_ENTRIES,
            });
        }
        let tlog_entries = vm
            .tlog_entries
            .into_iter()
            .map(entry_from_raw)
            .collect::<Result<Vec<_>, _>>()?;
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(m), None) => Content::MessageSignature {
                digest: m
                    .message_digest
                    .map(|d| {
                        Ok::<_, SigstoreError>((d.algorithm, b64("messageDigest", &d.digest)?))
                    })
                    .transpose()?,
                signature: b64("message signature", &m.signature)?,
            },
            (None, Some(env)) => Content::Dsse(Envelope::from_raw(env)?),
            _ => {
                return Err(SigstoreError::malformed(
                    "Sigstore bundle",
                    "exactly one of messageSignature or dsseEnvelope is required",
                ));
            }
        };
        Ok(Self {
            media_type: raw.media_type,
            material,
            tlog_entries,
            rfc3161_timestamps: {
                let raw = vm
                    .timestamp_verification_data
                    .map(|t| t.rfc3161_timestamps)
                    .unwrap_or_default();
                if raw.len() > MAX_TIMESTAMPS {
                    return Err(SigstoreError::TooLarge {
                        what: "bundle RFC 3161 timestamps",
                        limit: MAX_TIMESTAMPS,
                    });
                }
                raw.iter()
                    .map(|t| b64("RFC 3161 signedTimestamp", &t.signed_timestamp))
                    .collect::<Result<_, _>>()?
            },
            content,
        })
    }
}

fn entry_from_raw(raw: RawTlogEntry) -> Result<LogEntry, SigstoreError> {
    let body = b64("tlog canonicalizedBody", &raw.canonicalized_body)?;
    crate::rekor::check_body_size(&body)?;
    let integrated_time = match &raw.integrated_time {
        None => None,
        Some(v) => Some(int(v, "tlog integratedTime")?).filter(|t| *t != 0),
    };
    let inclusion_proof = raw
        .inclusion_proof
        .map(|p| {
            if p.hashes.len() > 64 {
                return Err(SigstoreError::TooLarge {
                    what: "inclusion proof hashes",
                    limit: 64,
                });
            }
            Ok(InclusionProof {
                log_index: uint(&p.log_index, "inclusionProof logIndex")?,
                root_hash: b64("inclusionProof rootHash", &p.root_hash)?,
                tree_size: uint(&p.tree_size, "inclusionProof treeSize")?,
                hashes: p
                    .hashes
                    .iter()
                    .map(|h| b64("inclusionProof hash", h))
                    .collect::<Result<_, _>>()?,
                checkpoint: p.checkpoint.map(|c| c.envelope),
            })
        })
        .transpose()?;
    Ok(LogEntry {
        body,
        integrated_time,
        log_index: int(&raw.log_index, "tlog logIndex")?,
        log_id: b64("tlog logId", &raw.log_id.key_id)?,
        signed_entry_timestamp: raw
            .inclusion_promise
            .map(|p| b64("signedEntryTimestamp", &p.signed_entry_timestamp))
            .transpose()?,
        inclusion_proof,
    })
}

/// Verifies a bundle for `artifact` under `policy`; see the module docs.
///
/// # Errors
/// The first check that failed.
pub fn verify_bundle(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    root: &TrustRoot,
    policy: SignerPolicy<'_>,
) -> Result<VerifiedSigner, SigstoreError> {
    // 1. Transparency log: every entry must verify; the first gives the time.
    let Some(first) = bundle.tlog_entries.first() else {
        return Err(SigstoreError::Tlog(
            "bundle has no transparency log entry".into(),
        ));
    };
    let verified_entry = crate::rekor::verify_entry(first, root)?;
    for other in bundle.tlog_entries.iter().skip(1) {
        crate::rekor::verify_entry(other, root)?;
    }
    // Times at which the signature provably existed: the SET-signed integrated time and
    // every RFC 3161 timestamp over the signature. At least one is required.
    let timestamped = match &bundle.content {
        Content::MessageSignature { signature, .. } => signature.as_slice(),
        Content::Dsse(env) => env
            .signatures
            .first()
            .map_or(&[][..], |(s, _)| s.as_slice()),
    };
    let mut times: Vec<i64> = verified_entry.integrated_time.into_iter().collect();
    for token in &bundle.rfc3161_timestamps {
        times.push(crate::rfc3161::verify_timestamp(token, timestamped, root)?.time);
    }
    let Some(&at) = times.first() else {
        return Err(SigstoreError::Tlog(
            "no verified time: the log entry has no signed integrated time and the bundle \
             has no RFC 3161 timestamp"
                .into(),
        ));
    };
    if let Some(log) = root.tlog_by_id(&first.log_id)
        && let Some(t) = times.iter().find(|t| !log.valid_for.contains(**t))
    {
        return Err(SigstoreError::Tlog(format!(
            "log key {} is not valid at {t}",
            log.log_id_hex()
        )));
    }

    // 2. Signer.
    let (key, signer, verifier_ders) = match (&bundle.material, policy) {
        (Material::Certificate { leaf, chain }, SignerPolicy::Identity(identity)) => {
            if let Some(root_cert) = chain.iter().find(|c| c.is_self_signed()) {
                return Err(SigstoreError::Chain(format!(
                    "bundle certificate chain contains a root certificate ({}); roots come only \
                     from the trust root",
                    root_cert.subject()
                )));
            }
            let validated = verify_chain(leaf, chain, root.certificate_authorities(), at)?;
            for t in times.iter().skip(1) {
                verify_chain(leaf, chain, root.certificate_authorities(), *t)?;
            }
            let (identities, issuer) = identity.check(leaf)?;
            let spki = leaf.public_key_der()?;
            (
                leaf.verifying_key()?,
                Signer::Certificate {
                    identities,
                    issuer,
                    issued_by: validated
                        .certs
                        .get(1)
                        .map(Cert::subject)
                        .unwrap_or_default(),
                },
                vec![leaf.der().to_vec(), spki],
            )
        }
        (Material::PublicKey { .. }, SignerPolicy::Key(pk)) => {
            let spki = pk.spki_der();
            let key = VerifyingKey::from_spki_der(&spki)?;
            (
                key,
                Signer::Key {
                    fingerprint: format!("sha256:{}", hex::encode(HashAlg::Sha256.digest(&spki))),
                },
                vec![spki],
            )
        }
        (Material::Certificate { .. }, SignerPolicy::Key(_)) => {
            return Err(SigstoreError::Policy(
                "bundle is signed with a certificate, but a public key was required".into(),
            ));
        }
        (Material::PublicKey { .. }, SignerPolicy::Identity(_)) => {
            return Err(SigstoreError::Policy(
                "bundle is signed with a public key, but a certificate identity was required"
                    .into(),
            ));
        }
    };
    let verifier_refs: Vec<&[u8]> = verifier_ders.iter().map(Vec::as_slice).collect();
    let artifact_digest = artifact.sha256();

    // 3. Signature and 4. log entry body.
    let kind = match &bundle.content {
        Content::MessageSignature { digest, signature } => {
            if let Some((alg, d)) = digest {
                if alg != "SHA2_256" {
                    return Err(SigstoreError::unsupported("message digest algorithm", alg));
                }
                if *d != artifact_digest {
                    return Err(SigstoreError::DigestMismatch {
                        signed: format!("sha256:{}", hex::encode(d)),
                        expected: format!("sha256:{}", hex::encode(&artifact_digest)),
                    });
                }
            }
            let scheme = key.default_scheme();
            match (artifact, scheme) {
                (Artifact::Bytes(b), _) => key.verify(scheme, b, signature),
                (Artifact::Sha256(d), _) => key.verify_prehashed(scheme, d, signature),
            }
            .map_err(|e| SigstoreError::Signature(format!("bundle message signature: {e}")))?;
            crate::rekor::check_body(&first.body, signature, &verifier_refs, &artifact_digest)?
        }
        Content::Dsse(env) => {
            let pae = env.pae();
            let scheme = key.default_scheme();
            let Some((sig, _)) = env
                .signatures
                .iter()
                .find(|(s, _)| key.verify(scheme, &pae, s).is_ok())
            else {
                return Err(SigstoreError::Signature(
                    "no DSSE signature verifies under the signer's key".into(),
                ));
            };
            if env.payload_type == IN_TOTO_PAYLOAD_TYPE {
                let statement = Statement::from_json(&env.payload)?;
                if !statement.names_sha256(&artifact_digest) {
                    return Err(SigstoreError::DigestMismatch {
                        signed: statement
                            .subject_sha256
                            .iter()
                            .map(|d| format!("sha256:{d}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        expected: format!("sha256:{}", hex::encode(&artifact_digest)),
                    });
                }
            } else {
                return Err(SigstoreError::unsupported(
                    "DSSE payload type",
                    &env.payload_type,
                ));
            }
            let claims = crate::rekor::body_claims(&first.body)?;
            let recorded = if claims.kind.starts_with("hashedrekord") {
                HashAlg::Sha256.digest(&pae)
            } else {
                HashAlg::Sha256.digest(&env.payload)
            };
            crate::rekor::check_body(&first.body, sig, &verifier_refs, &recorded)?
        }
    };
    Ok(VerifiedSigner {
        signer,
        signed_at: Some(at),
        log_entry: Some(verified_entry),
        entry_kind: Some(kind),
    })
}
