//! cosign attestations: in-toto statements in DSSE envelopes, verified for one image digest,
//! and made (`palisade attest`).
//!
//! Two storage layouts, both keyed by the image digest:
//!
//! - cosign's `.att` tag, `sha256-<hex>.att`: an OCI manifest with one layer per attestation,
//!   media type [`DSSE_MEDIA_TYPE`], annotation [`PREDICATE_TYPE_ANNOTATION`]; each blob is a
//!   DSSE envelope `{payloadType: application/vnd.in-toto+json, payload, signatures[{keyid,
//!   sig}]}` whose signatures cover `PAE(payloadType, payload)`. Keyed: checked against the
//!   trusted keys. Keyless: the layer carries the same certificate, chain and Rekor bundle
//!   annotations as a `.sig` layer; the certificate must chain to the trust root at the Rekor
//!   integrated time, match an identity policy, and the Rekor entry must record this
//!   signature, certificate and payload.
//! - a Sigstore bundle with DSSE content stored as an OCI 1.1 referrer (cosign v3's default),
//!   found through the referrers API or the `sha256-<hex>` fallback tag: checked by
//!   [`crate::bundle::verify_bundle`] (key or identity, against the trust root). A keyed
//!   bundle without a transparency-log entry (`--tlog-upload=false`, or made by
//!   `palisade attest --bundle-referrer`) is checked against the trusted keys alone, exactly
//!   as a keyed `.sig` signature is.
//!
//! In every case the statement is parsed only after its signature verified, and one of its
//! subjects must name the image digest. Only then is it reported as a
//! [`VerifiedAttestation`] with its predicate type, predicate (capped at
//! [`MAX_PREDICATE_BYTES`] of JSON; larger ones are reported without it) and subjects. An
//! attestation that does not verify is reported with the reason and never its content.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_image::{Descriptor, Digest, Reference, RegistryClient, media_type};
use serde::{Deserialize, Serialize};

use crate::bundle::{Artifact, Bundle, Content, Material, SignerPolicy, verify_bundle};
use crate::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SignatureLayer, SignatureManifest,
    referrers_tag, signature_config,
};
use crate::discover::{MAX_ARTIFACT_LAYER_BYTES, MAX_REFERRERS, Referrer, read_blob};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, Statement};
use crate::error::{Error, Result};
use crate::keyless::{IdentityPolicy, Signer, VerifiedSigner};
use crate::keys::{NamedKey, PrivateKey};
use crate::sigalg::HashAlg;
use crate::sigstore_error::SigstoreError;
use crate::trust_root::TrustRoot;
use crate::verify::{VerifyOptions, bundle_layer};
use crate::x509::{Cert, verify_chain};

/// Media type of a cosign attestation layer.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Layer annotation naming the predicate type (unverified: the statement's is what counts).
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// The Sigstore bundle v0.3 media type (artifact type and layer media type of a referrer).
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Referrer annotation saying what the bundle holds (`dsse-envelope`).
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// Referrer annotation naming the predicate type of a bundle's statement.
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Most attestation layers read from one `.att` manifest.
pub const MAX_ATTESTATION_LAYERS: usize = 128;
/// Largest attestation layer (a DSSE envelope) read.
pub const MAX_ENVELOPE_BYTES: u64 = 2 * crate::dsse::MAX_PAYLOAD_BYTES as u64;
/// Largest predicate (as compact JSON) handed on with a verified attestation.
pub const MAX_PREDICATE_BYTES: usize = 256 << 10;
/// Most Sigstore bundle referrers checked as attestations for one digest.
pub const MAX_BUNDLE_ATTESTATIONS: usize = 32;
/// The OCI empty descriptor's media type and content.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// The tag cosign stores attestations of `digest` under: `sha256-<hex>.att`.
#[must_use]
pub fn attestation_tag(digest: &Digest) -> String {
    format!("{}-{}.att", digest.algorithm().name(), digest.hex())
}

/// The predicate type URI for a cosign `--type` name, or the URI itself.
///
/// # Errors
/// An unknown name that is not a URI.
pub fn predicate_type_uri(name: &str) -> Result<String> {
    let uri = match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        "link" => "https://in-toto.io/Link/v1",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        other if other.contains("://") => other,
        other => {
            return Err(Error::Invalid(format!(
                "attestation type {other:?} is not known: use slsaprovenance, slsaprovenance1, \
                 spdxjson, cyclonedx, vuln, openvex, link, custom, or a predicate type URI"
            )));
        }
    };
    Ok(uri.to_owned())
}

/// A subject of a verified statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// `name` (cosign writes the repository; may be empty).
    #[serde(default)]
    pub name: String,
    /// `digest`: algorithm → lower-case hex.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

/// An attestation whose signature verified and whose statement names the image digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedAttestation {
    /// How it was checked: `key`, `keyless` (`.att` layer), `bundle-key`, `bundle-keyless`.
    pub kind: String,
    /// The trusted key's name, or the certificate identities (SANs).
    pub signer: String,
    /// The key's fingerprint (keyed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_fingerprint: String,
    /// The certificate's OIDC issuer (keyless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The statement's `_type`.
    pub statement_type: String,
    /// The statement's `predicateType`.
    pub predicate_type: String,
    /// The predicate, or `null` when it was larger than [`MAX_PREDICATE_BYTES`].
    pub predicate: serde_json::Value,
    /// Why `predicate` is `null` when the statement had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_omitted: Option<String>,
    /// The statement's subjects.
    pub subjects: Vec<Subject>,
    /// When it provably existed (Rekor integrated time or RFC 3161), when a log was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<i64>,
    /// The Rekor log index of the checked entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekor_log_index: Option<i64>,
}

/// The outcome for one attestation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttestationReport {
    /// Where it was found.
    pub source: String,
    /// The predicate type its storage claims (layer or referrer annotation; unverified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_type: Option<String>,
    /// Set when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedAttestation>,
    /// Why it was not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn report(
    source: String,
    claimed_type: Option<String>,
    outcome: Result<VerifiedAttestation>,
) -> AttestationReport {
    match outcome {
        Ok(v) => AttestationReport {
            source,
            claimed_type,
            verified: Some(v),
            reason: None,
        },
        Err(e) => AttestationReport {
            source,
            claimed_type,
            verified: None,
            reason: Some(e.to_string()),
        },
    }
}

#[derive(Deserialize)]
struct RawStatement {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(default, rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<Subject>,
    #[serde(default)]
    predicate: serde_json::Value,
}

/// Checks a DSSE envelope whose signature already verified: an in-toto statement, one of
/// whose subjects names `digest`. Returns the attestation (signer fields left empty).
fn checked_statement(env: &Envelope, digest: &Digest) -> Result<VerifiedAttestation> {
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::Payload(format!(
            "DSSE payload type {:?} is not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})",
            env.payload_type
        )));
    }
    let statement = Statement::from_json(&env.payload)?;
    let sha = image_sha256(digest)?;
    if !statement.names_sha256(&sha) {
        let named: Vec<String> = statement
            .subject_sha256
            .iter()
            .map(|d| format!("sha256:{d}"))
            .collect();
        return Err(Error::Payload(format!(
            "the statement is about {}, not {digest}",
            if named.is_empty() {
                "no sha256 subject".to_owned()
            } else {
                named.join(", ")
            }
        )));
    }
    let raw: RawStatement = serde_json::from_slice(&env.payload)
        .map_err(|e| Error::Payload(format!("in-toto statement: {e}")))?;
    // Policies select attestations by predicate type: a statement without one says nothing a
    // rule could rely on.
    if raw.predicate_type.trim().is_empty() {
        return Err(Error::Payload(
            "the in-toto statement has no predicateType".into(),
        ));
    }
    let size = serde_json::to_vec(&raw.predicate).map_or(usize::MAX, |b| b.len());
    let (predicate, predicate_omitted) = if size > MAX_PREDICATE_BYTES {
        (
            serde_json::Value::Null,
            Some(format!(
                "the predicate is {size} bytes of JSON, more than the {MAX_PREDICATE_BYTES} \
                 handed to the policy"
            )),
        )
    } else {
        (raw.predicate, None)
    };
    Ok(VerifiedAttestation {
        kind: String::new(),
        signer: String::new(),
        key_fingerprint: String::new(),
        issuer: None,
        statement_type: raw.statement_type,
        predicate_type: raw.predicate_type,
        predicate,
        predicate_omitted,
        subjects: raw.subject,
        signed_at: None,
        rekor_log_index: None,
    })
}

fn image_sha256(digest: &Digest) -> Result<[u8; 32]> {
    if digest.algorithm().name() != "sha256" {
        return Err(Error::Invalid(format!(
            "attestations: only sha256 image digests are supported, not {digest}"
        )));
    }
    let mut sha = [0u8; 32];
    hex::decode_to_slice(digest.hex(), &mut sha)
        .map_err(|e| Error::Invalid(format!("digest {digest}: {e}")))?;
    Ok(sha)
}

/// Which trusted key signed the envelope (any of its signatures over PAE).
fn keyed_signer<'k>(env: &Envelope, keys: &'k [NamedKey]) -> Result<&'k NamedKey> {
    let pae = env.pae();
    keys.iter()
        .find(|k| {
            env.signatures
                .iter()
                .any(|(sig, _)| k.key.verify(&pae, sig).is_ok())
        })
        .ok_or_else(|| {
            let tried: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            Error::BadSignature {
                key: if tried.len() == 1 {
                    tried.join("")
                } else {
                    format!("any of {}", tried.join(", "))
                },
                reason: "the DSSE envelope is not signed by a trusted key, or was altered".into(),
            }
        })
}

/// One `.att` layer (a DSSE envelope): keyless when it carries a certificate, else keyed.
///
/// # Errors
/// Why it was not accepted.
pub fn verify_att_layer(
    layer: &SignatureLayer,
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<VerifiedAttestation> {
    if layer.media_type != DSSE_MEDIA_TYPE {
        return Err(Error::Payload(format!(
            "layer media type {:?} is not a DSSE envelope ({DSSE_MEDIA_TYPE})",
            layer.media_type
        )));
    }
    let env = Envelope::from_json(&layer.payload)?;
    if layer.annotations.contains_key(CERTIFICATE_ANNOTATION) {
        let Some(root) = options
            .trust_root
            .as_ref()
            .filter(|_| !options.certificate_identities.is_empty())
        else {
            return Err(Error::Invalid(
                "keyless attestation (Fulcio certificate), not checked: give a trust root \
                 (--trusted-root or --ca-roots) and --certificate-identity[-regexp] with \
                 --certificate-oidc-issuer[-regexp]"
                    .into(),
            ));
        };
        let mut reasons = Vec::new();
        for policy in &options.certificate_identities {
            match verify_keyless_envelope(&env, layer, root, policy) {
                Ok(signer) => {
                    let mut out = checked_statement(&env, digest)?;
                    fill_signer(&mut out, "keyless", signer);
                    return Ok(out);
                }
                Err(e) => reasons.push(e.to_string()),
            }
        }
        reasons.dedup();
        return Err(Error::Invalid(reasons.join("; ")));
    }
    if options.keys.is_empty() {
        return Err(Error::Invalid(
            "attestation signed with a key, but no trusted key was given (--key or --keys)".into(),
        ));
    }
    let key = keyed_signer(&env, &options.keys)?;
    let mut out = checked_statement(&env, digest)?;
    out.kind = "key".into();
    out.signer.clone_from(&key.name);
    out.key_fingerprint = key.key.fingerprint();
    // With a trust root, a Rekor bundle on the layer must verify too (as for `.sig`).
    if let (Some(root), Some(bundle)) = (
        &options.trust_root,
        layer.annotations.get(BUNDLE_ANNOTATION),
    ) {
        let entry = keyed_log_entry(&env, bundle, &key.key, root)
            .map_err(|e| Error::Invalid(format!("Rekor bundle of a keyed attestation: {e}")))?;
        out.signed_at = entry.integrated_time;
        out.rekor_log_index = Some(entry.log_index);
    }
    Ok(out)
}

/// The Rekor entry of a keyed `.att` layer: SET under a known log key, recording one of the
/// envelope's signatures, this key and this payload (or its PAE, for hashedrekord).
fn keyed_log_entry(
    env: &Envelope,
    bundle: &str,
    key: &crate::keys::PublicKey,
    root: &TrustRoot,
) -> std::result::Result<crate::rekor::VerifiedEntry, SigstoreError> {
    let entry = crate::rekor::LogEntry::from_cosign_bundle(bundle.as_bytes())?;
    let verified = crate::rekor::verify_entry(&entry, root)?;
    let claims = crate::rekor::body_claims(&entry.body)?;
    let pae = env.pae();
    let recorded = if claims.kind.starts_with("hashedrekord") {
        HashAlg::Sha256.digest(&pae)
    } else {
        HashAlg::Sha256.digest(&env.payload)
    };
    let spki = key.spki_der();
    let mut last = None;
    for (sig, _) in &env.signatures {
        match crate::rekor::check_body(&entry.body, sig, &[&spki], &recorded) {
            Ok(_) => return Ok(verified),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| SigstoreError::Tlog("no signature to match".into())))
}

/// A keyless `.att` layer: the DSSE signature by the certificate's key, the Rekor entry
/// (required: the certificate is only valid for minutes), the chain at the integrated time,
/// and the identity policy.
fn verify_keyless_envelope(
    env: &Envelope,
    layer: &SignatureLayer,
    root: &TrustRoot,
    policy: &IdentityPolicy,
) -> std::result::Result<VerifiedSigner, SigstoreError> {
    let annotation = |name: &str| layer.annotations.get(name).map(String::as_str);
    let mut leaf_certs = Cert::from_pem_chain(
        annotation(CERTIFICATE_ANNOTATION)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    if leaf_certs.len() != 1 {
        return Err(SigstoreError::malformed(
            "certificate annotation",
            format!("expected one certificate, found {}", leaf_certs.len()),
        ));
    }
    let leaf = leaf_certs.remove(0);
    let extra = match annotation(CHAIN_ANNOTATION) {
        Some(p) if !p.trim().is_empty() => Cert::from_pem_chain(p.as_bytes())?,
        _ => Vec::new(),
    };
    let key = leaf.verifying_key()?;
    let pae = env.pae();
    let Some((signature, _)) = env
        .signatures
        .iter()
        .find(|(s, _)| key.verify(key.default_scheme(), &pae, s).is_ok())
    else {
        return Err(SigstoreError::Signature(
            "no DSSE signature verifies under the certificate's key".into(),
        ));
    };
    let Some(bundle) = annotation(BUNDLE_ANNOTATION) else {
        return Err(SigstoreError::Tlog(
            "no Rekor bundle: nothing proves when the attestation was signed (the certificate \
             is only valid for minutes)"
                .into(),
        ));
    };
    let entry = crate::rekor::LogEntry::from_cosign_bundle(bundle.as_bytes())?;
    let verified = crate::rekor::verify_entry(&entry, root)?;
    let spki = leaf.public_key_der()?;
    let claims = crate::rekor::body_claims(&entry.body)?;
    let recorded = if claims.kind.starts_with("hashedrekord") {
        HashAlg::Sha256.digest(&pae)
    } else {
        HashAlg::Sha256.digest(&env.payload)
    };
    let kind = crate::rekor::check_body(&entry.body, signature, &[leaf.der(), &spki], &recorded)?;
    let Some(at) = verified.integrated_time else {
        return Err(SigstoreError::Tlog(
            "Rekor bundle has no signed integrated time".into(),
        ));
    };
    let chain = verify_chain(&leaf, &extra, root.certificate_authorities(), at)?;
    let (identities, issuer) = policy.check(&leaf)?;
    Ok(VerifiedSigner {
        signer: Signer::Certificate {
            identities,
            issuer,
            issued_by: chain.certs.get(1).map(Cert::subject).unwrap_or_default(),
        },
        signed_at: Some(at),
        log_entry: Some(verified),
        entry_kind: Some(kind),
    })
}

fn fill_signer(out: &mut VerifiedAttestation, kind: &str, v: VerifiedSigner) {
    out.kind = kind.to_owned();
    match v.signer {
        Signer::Certificate {
            identities, issuer, ..
        } => {
            out.signer = identities.join(", ");
            out.issuer = issuer;
        }
        Signer::Key { fingerprint } => out.key_fingerprint = fingerprint,
    }
    out.signed_at = v.signed_at;
    out.rekor_log_index = v.log_entry.map(|e| e.log_index);
}

/// Verifies a Sigstore bundle with DSSE content as an attestation of `digest`.
///
/// # Errors
/// Not a DSSE bundle, or why it was not accepted.
pub fn verify_bundle_attestation(
    bundle: &Bundle,
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<VerifiedAttestation> {
    let Content::Dsse(env) = &bundle.content else {
        return Err(Error::Payload(
            "the bundle holds a message signature, not a DSSE attestation".into(),
        ));
    };
    let sha = image_sha256(digest)?;
    match &bundle.material {
        Material::PublicKey { .. } => {
            if options.keys.is_empty() {
                return Err(Error::Invalid(
                    "Sigstore bundle signed with a key, but no trusted key was given (--key or \
                     --keys)"
                        .into(),
                ));
            }
            match (&options.trust_root, bundle.tlog_entries.is_empty()) {
                (Some(root), false) => {
                    let mut reasons = Vec::new();
                    for key in &options.keys {
                        match verify_bundle(
                            bundle,
                            Artifact::Sha256(&sha),
                            root,
                            SignerPolicy::Key(&key.key),
                        ) {
                            Ok(v) => {
                                let mut out = checked_statement(env, digest)?;
                                fill_signer(&mut out, "bundle-key", v);
                                out.signer.clone_from(&key.name);
                                return Ok(out);
                            }
                            Err(e) => reasons.push(format!("{}: {e}", key.name)),
                        }
                    }
                    Err(Error::Invalid(format!(
                        "Sigstore bundle: {}",
                        reasons.join("; ")
                    )))
                }
                // No log entry, or no trust root to check one: the key signature alone, as
                // for a keyed `.sig` signature.
                _ => {
                    let key = keyed_signer(env, &options.keys)?;
                    let mut out = checked_statement(env, digest)?;
                    out.kind = "bundle-key".into();
                    out.signer.clone_from(&key.name);
                    out.key_fingerprint = key.key.fingerprint();
                    Ok(out)
                }
            }
        }
        Material::Certificate { .. } => {
            let Some(root) = &options.trust_root else {
                return Err(Error::Invalid(
                    "Sigstore bundle, not checked: give a trust root (--trusted-root, or \
                     --ca-roots with --rekor-key)"
                        .into(),
                ));
            };
            if options.certificate_identities.is_empty() {
                return Err(Error::Invalid(
                    "Sigstore bundle signed with a certificate, but no identity was given \
                     (--certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp])"
                        .into(),
                ));
            }
            let mut reasons = Vec::new();
            for policy in &options.certificate_identities {
                match verify_bundle(
                    bundle,
                    Artifact::Sha256(&sha),
                    root,
                    SignerPolicy::Identity(policy),
                ) {
                    Ok(v) => {
                        let mut out = checked_statement(env, digest)?;
                        fill_signer(&mut out, "bundle-keyless", v);
                        return Ok(out);
                    }
                    Err(e) => reasons.push(e.to_string()),
                }
            }
            reasons.dedup();
            Err(Error::Invalid(format!(
                "Sigstore bundle: {}",
                reasons.join("; ")
            )))
        }
    }
}

/// The predicate type cosign v3 signs an image signature with (a bundle referrer with this
/// type is a signature, not an attestation).
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The predicate type a bundle referrer's manifest announces, when it is an attestation
/// rather than a signature (`cosign attest` writes [`BUNDLE_PREDICATE_TYPE_ANNOTATION`];
/// `cosign sign` writes [`COSIGN_SIGN_PREDICATE_TYPE`] or nothing).
#[must_use]
pub fn attestation_type(manifest: &SignatureManifest) -> Option<&str> {
    manifest
        .annotations
        .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
        .map(String::as_str)
        .filter(|t| *t != COSIGN_SIGN_PREDICATE_TYPE)
}

/// Finds and verifies the attestations of `digest` (already resolved from `reference`, as
/// [`crate::verify::verify_digest`] takes it) in the reference's repository.
///
/// # Errors
/// As [`verify_attestations`], and when the referrers cannot be listed.
pub fn verify_digest_attestations(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<Vec<AttestationReport>> {
    let found = crate::discover::discover(client, reference.repository(), digest)?;
    verify_attestations(
        client,
        reference.repository(),
        digest,
        &found.artifacts,
        options,
    )
}

/// Finds and verifies the attestations of `digest` in `repository`: the `.att` tag, and the
/// Sigstore bundle referrers already found by [`crate::discover::discover`] (`artifacts`).
/// Bundles holding a message signature are not attestations and are skipped.
///
/// # Errors
/// When the registry fails (other than "not found") or the `.att` manifest is refused as a
/// whole (not a manifest, too many layers). A single unreadable attestation is reported.
pub fn verify_attestations(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    artifacts: &[Referrer],
    options: &VerifyOptions,
) -> Result<Vec<AttestationReport>> {
    let mut reports = Vec::new();
    let tag = attestation_tag(digest);
    let what = format!("{}/{repository}:{tag}", client.registry());
    let accept = &[media_type::OCI_MANIFEST, media_type::DOCKER_MANIFEST];
    if let Some(desc) = client.head_manifest(repository, &tag, accept)? {
        let (bytes, _, _) = client.get_manifest(repository, &desc.digest.to_string(), accept)?;
        let manifest = SignatureManifest::parse(&bytes, &what)?;
        if manifest.layers.len() > MAX_ATTESTATION_LAYERS {
            return Err(Error::registry(
                &what,
                format!(
                    "{} attestations, more than the {MAX_ATTESTATION_LAYERS} accepted",
                    manifest.layers.len()
                ),
            ));
        }
        for (i, layer) in manifest.layers.iter().enumerate() {
            let source = format!("{what} layer {}", i + 1);
            let claimed = layer.annotations.get(PREDICATE_TYPE_ANNOTATION).cloned();
            let outcome = if layer.media_type == DSSE_MEDIA_TYPE {
                read_blob(
                    client,
                    repository,
                    &layer.digest,
                    layer.size,
                    MAX_ENVELOPE_BYTES,
                    &source,
                )
                .and_then(|payload| {
                    let read = SignatureLayer {
                        source: source.clone(),
                        media_type: layer.media_type.clone(),
                        payload,
                        annotations: layer.annotations.clone(),
                    };
                    verify_att_layer(&read, digest, options)
                })
            } else {
                Err(Error::Payload(format!(
                    "layer media type {:?} is not a DSSE envelope ({DSSE_MEDIA_TYPE})",
                    layer.media_type
                )))
            };
            reports.push(report(source, claimed, outcome));
        }
    }
    let mut bundles = 0usize;
    for artifact in artifacts {
        let Some(layer) = bundle_layer(artifact) else {
            continue;
        };
        bundles += 1;
        if bundles > MAX_BUNDLE_ATTESTATIONS {
            reports.push(report(
                artifact.source.clone(),
                None,
                Err(Error::Invalid(format!(
                    "not checked, more than {MAX_BUNDLE_ATTESTATIONS} Sigstore bundles"
                ))),
            ));
            continue;
        }
        let claimed = artifact
            .manifest
            .annotations
            .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
            .cloned();
        let bundle = read_blob(
            client,
            repository,
            &layer.digest,
            layer.size,
            MAX_ARTIFACT_LAYER_BYTES,
            &format!("{} layer {}", artifact.source, layer.digest),
        )
        .and_then(|bytes| Ok(Bundle::from_json(&bytes)?));
        let outcome = match bundle {
            Ok(b) if !matches!(b.content, Content::Dsse(_)) => continue,
            Ok(b) => verify_bundle_attestation(&b, digest, options),
            Err(e) => Err(e),
        };
        reports.push(report(artifact.source.clone(), claimed, outcome));
    }
    Ok(reports)
}

/// Finds and verifies the attestations of the image of a local OCI image layout (`cosign
/// save`'s `dev.cosignproject.cosign/atts` entry, a `sha256-<hex>.att` tag, and DSSE bundles
/// among the referrers of the `sha256-<hex>` fallback index), chosen as
/// [`crate::verify::verify_local_image`] chooses it. Every blob read is bounded and its digest
/// checked; nothing is fetched.
///
/// # Errors
/// The layout, its `index.json` or an attestation manifest cannot be read.
pub fn verify_local_attestations(
    root: &std::path::Path,
    tag: Option<&str>,
    options: &VerifyOptions,
) -> Result<Vec<AttestationReport>> {
    use crate::discover::{KIND_ANNOTATION, KIND_ATTESTATIONS, Layout, REF_NAME_ANNOTATION};
    let layout = Layout::open(root)?;
    let image = layout.image(tag)?;
    let digest = &image.digest;
    // `Layout::open` read and bounded it already; read again for the entries.
    let index_bytes =
        crate::read_trust_file(&root.join("index.json"), palisade_image::MAX_DOCUMENT_BYTES)?;
    let index: palisade_image::Index = serde_json::from_slice(&index_bytes)
        .map_err(|e| Error::Invalid(format!("{}: index.json: {e}", layout.name())))?;
    let att_tag = attestation_tag(digest);
    let mut reports = Vec::new();
    let mut seen: Vec<&Digest> = Vec::new();
    for entry in index
        .manifests
        .iter()
        .take(crate::discover::MAX_LAYOUT_ENTRIES)
    {
        let tag = entry
            .annotations
            .get(REF_NAME_ANNOTATION)
            .map(|n| n.rsplit_once(':').map_or(n.as_str(), |(_, t)| t));
        let saved =
            entry.annotations.get(KIND_ANNOTATION).map(String::as_str) == Some(KIND_ATTESTATIONS);
        if !(saved || tag == Some(att_tag.as_str())) || seen.contains(&&entry.digest) {
            continue;
        }
        seen.push(&entry.digest);
        let what = match tag {
            Some(t) => format!("{}:{t}", layout.name()),
            None => format!("{}@{} ({KIND_ATTESTATIONS})", layout.name(), entry.digest),
        };
        let bytes = layout.read_blob(
            &entry.digest,
            entry.size,
            palisade_image::MAX_DOCUMENT_BYTES,
            &what,
        )?;
        let manifest = SignatureManifest::parse(&bytes, &what)?;
        if manifest.layers.len() > MAX_ATTESTATION_LAYERS {
            return Err(Error::Invalid(format!(
                "{what}: {} attestations, more than the {MAX_ATTESTATION_LAYERS} accepted",
                manifest.layers.len()
            )));
        }
        for (i, layer) in manifest.layers.iter().enumerate() {
            let source = format!("{what} layer {}", i + 1);
            let claimed = layer.annotations.get(PREDICATE_TYPE_ANNOTATION).cloned();
            let outcome = layout
                .read_blob(&layer.digest, layer.size, MAX_ENVELOPE_BYTES, &source)
                .and_then(|payload| {
                    let read = SignatureLayer {
                        source: source.clone(),
                        media_type: layer.media_type.clone(),
                        payload,
                        annotations: layer.annotations.clone(),
                    };
                    verify_att_layer(&read, digest, options)
                });
            reports.push(report(source, claimed, outcome));
        }
    }
    let found = layout.discover(digest)?;
    for artifact in found
        .artifacts
        .iter()
        .filter(|a| bundle_layer(a).is_some())
        .take(MAX_BUNDLE_ATTESTATIONS)
    {
        let Some(layer) = bundle_layer(artifact) else {
            continue;
        };
        let claimed = artifact
            .manifest
            .annotations
            .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
            .cloned();
        let bundle = layout
            .read_blob(
                &layer.digest,
                layer.size,
                MAX_ARTIFACT_LAYER_BYTES,
                &format!("{} layer {}", artifact.source, layer.digest),
            )
            .and_then(|bytes| Ok(Bundle::from_json(&bytes)?));
        let outcome = match bundle {
            Ok(b) if !matches!(b.content, Content::Dsse(_)) => continue,
            Ok(b) => verify_bundle_attestation(&b, digest, options),
            Err(e) => Err(e),
        };
        reports.push(report(artifact.source.clone(), claimed, outcome));
    }
    Ok(reports)
}

// ---------------------------------------------------------------------------------------------
// Making attestations.

/// Where [`attest_image`] stores the attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestLayout {
    /// cosign's `sha256-<hex>.att` tag (cosign v2's default).
    AttTag,
    /// A Sigstore bundle v0.3 (DSSE) as an OCI 1.1 referrer (cosign v3's default), listed in
    /// the `sha256-<hex>` fallback index when the registry has no referrers API.
    BundleReferrer,
}

/// What [`attest_image`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Attested {
    /// `registry/repository@digest` that was attested.
    pub image: String,
    /// The digest the reference resolved to.
    pub digest: String,
    /// The predicate type.
    pub predicate_type: String,
    /// Where the attestation is (`…:sha256-<hex>.att`, or `…@<referrer digest>`).
    pub stored_at: String,
    /// A note (e.g. the referrers fallback tag was updated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Signs an in-toto statement about `reference` (resolved once to a digest) with `predicate`
/// (JSON) of `predicate_type` (a URI), and stores it as `layout` says.
///
/// # Errors
/// The predicate is not JSON, the image cannot be resolved, a push fails, or existing
/// attestation manifests or fallback indexes are refused.
pub fn attest_image(
    client: &RegistryClient,
    reference: &Reference,
    key: &PrivateKey,
    predicate: &[u8],
    predicate_type: &str,
    layout: AttestLayout,
) -> Result<Attested> {
    if predicate.len() > crate::dsse::MAX_PAYLOAD_BYTES / 2 {
        return Err(Error::Invalid(format!(
            "the predicate is {} bytes, more than the {} accepted",
            predicate.len(),
            crate::dsse::MAX_PAYLOAD_BYTES / 2
        )));
    }
    let predicate: serde_json::Value = serde_json::from_slice(predicate)
        .map_err(|e| Error::Invalid(format!("the predicate is not JSON: {e}")))?;
    let repository = reference.repository();
    let subject = client
        .head_manifest(
            repository,
            &reference.manifest_reference(),
            media_type::ACCEPT_MANIFESTS,
        )?
        .ok_or_else(|| Error::registry(reference.to_string(), "image not found in the registry"))?;
    if let Some(pinned) = reference.digest()
        && pinned != &subject.digest
    {
        return Err(Error::registry(
            reference.to_string(),
            format!("registry answered {} for a pinned digest", subject.digest),
        ));
    }
    let digest = subject.digest.clone();
    let statement_type = match layout {
        AttestLayout::AttTag => "https://in-toto.io/Statement/v0.1",
        AttestLayout::BundleReferrer => "https://in-toto.io/Statement/v1",
    };
    let statement = serde_json::json!({
        "_type": statement_type,
        "predicateType": predicate_type,
        "subject": [{"name": reference.name(), "digest": {"sha256": digest.hex()}}],
        "predicate": predicate,
    });
    let payload = serde_json::to_vec(&statement)
        .map_err(|e| Error::Invalid(format!("serializing the statement: {e}")))?;
    let signature = B64.encode(key.sign(&crate::dsse::pae(IN_TOTO_PAYLOAD_TYPE, &payload))?);
    let envelope = serde_json::json!({
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": B64.encode(&payload),
        "signatures": [{"keyid": "", "sig": signature}],
    });
    let (stored_at, note) = match layout {
        AttestLayout::AttTag => (
            push_att_layer(client, repository, &digest, &envelope, predicate_type)?,
            None,
        ),
        AttestLayout::BundleReferrer => {
            let spki = key.public_key().spki_der();
            let bundle = serde_json::json!({
                "mediaType": BUNDLE_V03_MEDIA_TYPE,
                "verificationMaterial": {
                    "publicKey": {"hint": B64.encode(HashAlg::Sha256.digest(&spki))},
                    "tlogEntries": [],
                },
                "dsseEnvelope": envelope,
            });
            push_bundle_referrer(client, repository, &subject, &bundle, predicate_type)?
        }
    };
    Ok(Attested {
        image: format!("{}@{digest}", reference.name()),
        digest: digest.to_string(),
        predicate_type: predicate_type.to_owned(),
        stored_at,
        note,
    })
}

fn json_bytes(value: &serde_json::Value, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::registry(what, format!("serializing: {e}")))
}

fn plain(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

/// Appends one DSSE layer to the `.att` manifest (created if absent).
fn push_att_layer(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    envelope: &serde_json::Value,
    predicate_type: &str,
) -> Result<String> {
    let tag = attestation_tag(digest);
    let what = format!("{}/{repository}:{tag}", client.registry());
    let accept = &[media_type::OCI_MANIFEST, media_type::DOCKER_MANIFEST];
    let mut layers = match client.head_manifest(repository, &tag, accept)? {
        Some(desc) => {
            let (bytes, _, _) =
                client.get_manifest(repository, &desc.digest.to_string(), accept)?;
            SignatureManifest::parse(&bytes, &what)?.layers
        }
        None => Vec::new(),
    };
    if layers.len() >= MAX_ATTESTATION_LAYERS {
        return Err(Error::registry(
            &what,
            format!("already holds {MAX_ATTESTATION_LAYERS} attestations; refusing to add more"),
        ));
    }
    let blob = json_bytes(envelope, &what)?;
    let blob_digest = client.push_blob(repository, &blob)?;
    let mut layer = plain(DSSE_MEDIA_TYPE, blob_digest, blob.len() as u64);
    layer.annotations.insert(
        PREDICATE_TYPE_ANNOTATION.to_owned(),
        predicate_type.to_owned(),
    );
    // cosign reads this annotation from every layer; an attestation's signature is inside
    // the envelope, so cosign writes it empty.
    layer.annotations.insert(
        crate::cosign::SIGNATURE_ANNOTATION.to_owned(),
        String::new(),
    );
    layers.push(layer);
    let config = signature_config(&layers);
    let config_digest = client.push_blob(repository, &config)?;
    let manifest = SignatureManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_owned()),
        artifact_type: None,
        config: plain(media_type::OCI_CONFIG, config_digest, config.len() as u64),
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| Error::registry(&what, format!("serializing: {e}")))?;
    client.put_manifest(repository, &tag, &bytes, media_type::OCI_MANIFEST)?;
    Ok(what)
}

/// Pushes the bundle as an OCI 1.1 referrer of `subject`; without a referrers API, adds it to
/// the `sha256-<hex>` fallback index.
fn push_bundle_referrer(
    client: &RegistryClient,
    repository: &str,
    subject: &Descriptor,
    bundle: &serde_json::Value,
    predicate_type: &str,
) -> Result<(String, Option<String>)> {
    let registry = client.registry();
    let what = format!("{registry}/{repository}@{}", subject.digest);
    let blob = json_bytes(bundle, &what)?;
    let blob_digest = client.push_blob(repository, &blob)?;
    let empty = b"{}";
    let empty_digest = client.push_blob(repository, empty)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        BUNDLE_CONTENT_ANNOTATION.to_owned(),
        "dsse-envelope".to_owned(),
    );
    annotations.insert(
        BUNDLE_PREDICATE_TYPE_ANNOTATION.to_owned(),
        predicate_type.to_owned(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "artifactType": BUNDLE_V03_MEDIA_TYPE,
        "config": plain(EMPTY_MEDIA_TYPE, empty_digest, empty.len() as u64),
        "layers": [plain(BUNDLE_V03_MEDIA_TYPE, blob_digest, blob.len() as u64)],
        "subject": plain(&subject.media_type, subject.digest.clone(), subject.size),
        "annotations": annotations,
    });
    let bytes = json_bytes(&manifest, &what)?;
    let manifest_digest = Digest::sha256_of(&bytes);
    client.put_manifest(
        repository,
        &manifest_digest.to_string(),
        &bytes,
        media_type::OCI_MANIFEST,
    )?;
    let stored_at = format!("{registry}/{repository}@{manifest_digest}");
    if client.get_referrers(repository, &subject.digest)?.is_some() {
        return Ok((stored_at, None));
    }
    // No referrers API (Distribution 2.8): maintain the fallback index, as cosign and oras do.
    let fallback = referrers_tag(&subject.digest);
    let index_what = format!("{registry}/{repository}:{fallback}");
    let accept = &[media_type::OCI_INDEX];
    let mut index = match client.head_manifest(repository, &fallback, accept)? {
        Some(desc) => {
            let (bytes, _, _) =
                client.get_manifest(repository, &desc.digest.to_string(), accept)?;
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| Error::registry(&index_what, format!("not an OCI index: {e}")))?
        }
        None => serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": [],
        }),
    };
    let Some(entries) = index
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Err(Error::registry(
            &index_what,
            "not an OCI index: no manifests",
        ));
    };
    if entries.len() >= MAX_REFERRERS {
        return Err(Error::registry(
            &index_what,
            format!("already lists {MAX_REFERRERS} referrers; refusing to add more"),
        ));
    }
    entries.push(serde_json::json!({
        "mediaType": media_type::OCI_MANIFEST,
        "digest": manifest_digest.to_string(),
        "size": bytes.len(),
        "artifactType": BUNDLE_V03_MEDIA_TYPE,
        "annotations": annotations,
    }));
    let index_bytes = json_bytes(&index, &index_what)?;
    client.put_manifest(repository, &fallback, &index_bytes, media_type::OCI_INDEX)?;
    Ok((
        stored_at,
        Some(format!(
            "{registry} has no referrers API: listed in the {fallback} fallback index"
        )),
    ))
}

#[cfg(test)]
mod tests {
    //! `.att` layers checked one at a time: what must hold before a statement is reported.

    use super::*;
    use crate::keys::PrivateKey;

    fn named(key: &PrivateKey, name: &str) -> NamedKey {
        NamedKey {
            name: name.into(),
            key: key.public_key(),
        }
    }

    /// A `.att` layer: `key`'s DSSE envelope over `statement` (as `payload_type`).
    fn layer(
        key: &PrivateKey,
        payload_type: &str,
        statement: &serde_json::Value,
    ) -> SignatureLayer {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig = key.sign(&crate::dsse::pae(payload_type, &payload)).unwrap();
        let envelope = serde_json::json!({
            "payloadType": payload_type,
            "payload": B64.encode(&payload),
            "signatures": [{"keyid": "", "sig": B64.encode(sig)}],
        });
        SignatureLayer {
            source: "test layer".into(),
            media_type: DSSE_MEDIA_TYPE.into(),
            payload: serde_json::to_vec(&envelope).unwrap(),
            annotations: BTreeMap::new(),
        }
    }

    fn statement(digest: &Digest, predicate: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://slsa.dev/provenance/v1",
            "subject": [{"name": "reg/app", "digest": {"sha256": digest.hex()}}],
            "predicate": predicate,
        })
    }

    fn options(key: &PrivateKey) -> VerifyOptions {
        VerifyOptions {
            keys: vec![named(key, "release")],
            ..VerifyOptions::default()
        }
    }

    #[test]
    fn a_keyed_att_layer_verifies_only_for_its_digest_key_and_bytes() {
        let key = PrivateKey::generate_p256().unwrap();
        let digest = Digest::sha256_of(b"image");
        let predicate = serde_json::json!({"runDetails": {"builder": {"id": "b"}}});
        let l = layer(
            &key,
            IN_TOTO_PAYLOAD_TYPE,
            &statement(&digest, predicate.clone()),
        );
        let v = verify_att_layer(&l, &digest, &options(&key)).unwrap();
        assert_eq!(v.kind, "key");
        assert_eq!(v.signer, "release");
        assert_eq!(v.predicate, predicate);
        assert_eq!(v.subjects[0].name, "reg/app");

        // Another digest: the statement is not about it.
        let other = Digest::sha256_of(b"other");
        let err = verify_att_layer(&l, &other, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("not {other}")), "{err}");

        // Another key: refused before the statement is read.
        let stranger = PrivateKey::generate_p256().unwrap();
        let err = verify_att_layer(&l, &digest, &options(&stranger))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not signed by a trusted key"), "{err}");

        // One byte of the envelope's payload changed.
        let mut env: serde_json::Value = serde_json::from_slice(&l.payload).unwrap();
        let mut payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
        let i = payload.len() - 3;
        payload[i] ^= 1;
        env["payload"] = B64.encode(payload).into();
        let mut altered = l.clone();
        altered.payload = serde_json::to_vec(&env).unwrap();
        let err = verify_att_layer(&altered, &digest, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not signed by a trusted key"), "{err}");

        // Not an in-toto payload, though validly signed.
        let l = layer(
            &key,
            "text/plain",
            &statement(&digest, serde_json::json!({})),
        );
        let err = verify_att_layer(&l, &digest, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an in-toto statement"), "{err}");

        // A statement without a predicate type, though validly signed: nothing to select on.
        let mut untyped = statement(&digest, serde_json::json!({}));
        untyped["predicateType"] = "".into();
        let l = layer(&key, IN_TOTO_PAYLOAD_TYPE, &untyped);
        let err = verify_att_layer(&l, &digest, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no predicateType"), "{err}");

        // A keyless layer without a trust root: not checked, says how.
        let mut l = layer(
            &key,
            IN_TOTO_PAYLOAD_TYPE,
            &statement(&digest, serde_json::json!({})),
        );
        l.annotations.insert(
            CERTIFICATE_ANNOTATION.into(),
            "-----BEGIN CERTIFICATE-----".into(),
        );
        let err = verify_att_layer(&l, &digest, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("keyless attestation") && err.contains("--trusted-root"),
            "{err}"
        );
    }

    #[test]
    fn a_large_predicate_is_reported_without_its_content() {
        let key = PrivateKey::generate_p256().unwrap();
        let digest = Digest::sha256_of(b"image");
        let big = "x".repeat(MAX_PREDICATE_BYTES + 1);
        let l = layer(
            &key,
            IN_TOTO_PAYLOAD_TYPE,
            &statement(&digest, serde_json::json!({"blob": big})),
        );
        let v = verify_att_layer(&l, &digest, &options(&key)).unwrap();
        assert!(v.predicate.is_null());
        assert!(v.predicate_omitted.unwrap().contains("more than"));
    }

    fn blob(root: &std::path::Path, bytes: &[u8], media: &str) -> Descriptor {
        let digest = Digest::sha256_of(bytes);
        let dir = root.join("blobs/sha256");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(digest.hex()), bytes).unwrap();
        plain(media, digest, bytes.len() as u64)
    }

    #[test]
    fn a_cosign_save_layout_s_attestations_are_verified_locally() {
        use crate::discover::{KIND_ANNOTATION, KIND_ATTESTATIONS, KIND_IMAGE};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = PrivateKey::generate_p256().unwrap();
        let config = blob(root, b"{}", media_type::OCI_CONFIG);
        let image_manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": config, "layers": []
        });
        let mut image = blob(
            root,
            image_manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        );
        let predicate = serde_json::json!({"builder": {"id": "b"}});
        let good = layer(
            &key,
            IN_TOTO_PAYLOAD_TYPE,
            &statement(&image.digest, predicate),
        );
        let elsewhere = layer(
            &key,
            IN_TOTO_PAYLOAD_TYPE,
            &statement(&Digest::sha256_of(b"other"), serde_json::json!({})),
        );
        let layers: Vec<Descriptor> = [good, elsewhere]
            .iter()
            .map(|l| blob(root, &l.payload, DSSE_MEDIA_TYPE))
            .collect();
        let att_config = blob(root, &signature_config(&layers), media_type::OCI_CONFIG);
        let att_manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": att_config, "layers": layers
        });
        let mut atts = blob(
            root,
            att_manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        );
        image
            .annotations
            .insert(KIND_ANNOTATION.into(), KIND_IMAGE.into());
        atts.annotations
            .insert(KIND_ANNOTATION.into(), KIND_ATTESTATIONS.into());
        std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": [image, atts]
        });
        std::fs::write(root.join("index.json"), index.to_string()).unwrap();

        let reports = verify_local_attestations(root, None, &options(&key)).unwrap();
        assert_eq!(reports.len(), 2, "{reports:#?}");
        let v = reports[0].verified.as_ref().unwrap();
        assert_eq!(v.signer, "release");
        assert_eq!(v.predicate["builder"]["id"], "b");
        let reason = reports[1].reason.as_deref().unwrap();
        assert!(
            reason.contains(&format!("not {}", image.digest)),
            "{reason}"
        );

        // Another key: nothing verifies.
        let stranger = PrivateKey::generate_p256().unwrap();
        let reports = verify_local_attestations(root, None, &options(&stranger)).unwrap();
        assert!(reports.iter().all(|r| r.verified.is_none()), "{reports:#?}");
    }

    #[test]
    fn type_names_are_cosigns() {
        assert_eq!(
            predicate_type_uri("slsaprovenance").unwrap(),
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(
            predicate_type_uri("slsaprovenance1").unwrap(),
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(
            predicate_type_uri("spdxjson").unwrap(),
            "https://spdx.dev/Document"
        );
        assert_eq!(
            predicate_type_uri("https://example.com/p/v1").unwrap(),
            "https://example.com/p/v1"
        );
        assert!(predicate_type_uri("sbom").is_err());
    }

    /// A keyless `.att` layer made here: a generated CA and Fulcio-like leaf (e-mail SAN,
    /// OIDC issuer extension), a generated "Rekor" key signing the SET over a `dsse` 0.0.1
    /// entry that records this signature, certificate and payload.
    mod keyless {
        use std::str::FromStr as _;
        use std::time::Duration;

        use der::Encode as _;
        use p256::ecdsa::{DerSignature, SigningKey};
        use spki::EncodePublicKey as _;
        use x509_cert::builder::{Builder as _, CertificateBuilder, profile::BuilderProfile};
        use x509_cert::certificate::TbsCertificate;
        use x509_cert::ext::pkix::name::GeneralName;
        use x509_cert::ext::pkix::{
            BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
        };
        use x509_cert::ext::{Extension, ToExtension as _};
        use x509_cert::name::Name;
        use x509_cert::serial_number::SerialNumber;
        use x509_cert::time::{Time, Validity};

        use super::super::*;
        use crate::keyless::IdentityPolicy;

        const T0: i64 = 1_700_000_000;
        const EMAIL: &str = "dev@example.com";
        const ISSUER: &str = "https://issuer.example";

        struct Profile {
            subject: Name,
            issuer: Name,
            ca: bool,
        }

        impl BuilderProfile for Profile {
            fn get_issuer(&self, _subject: &Name) -> Name {
                self.issuer.clone()
            }

            fn get_subject(&self) -> Name {
                self.subject.clone()
            }

            fn build_extensions(
                &self,
                _spk: spki::SubjectPublicKeyInfoRef<'_>,
                _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
                tbs: &TbsCertificate,
            ) -> x509_cert::builder::Result<Vec<Extension>> {
                let subject = tbs.subject();
                let mut exts: Vec<Extension> = Vec::new();
                let bc = BasicConstraints {
                    ca: self.ca,
                    path_len_constraint: None,
                };
                exts.push((&bc).to_extension(subject, &exts)?);
                if self.ca {
                    let ku = KeyUsage(KeyUsages::KeyCertSign.into());
                    exts.push((&ku).to_extension(subject, &exts)?);
                } else {
                    let ku = KeyUsage(KeyUsages::DigitalSignature.into());
                    exts.push((&ku).to_extension(subject, &exts)?);
                    let eku = ExtendedKeyUsage(vec![der::oid::ObjectIdentifier::new_unwrap(
                        "1.3.6.1.5.5.7.3.3",
                    )]);
                    exts.push((&eku).to_extension(subject, &exts)?);
                    let email = der::asn1::Ia5String::new(EMAIL)?;
                    let san = SubjectAltName(vec![GeneralName::Rfc822Name(email)]);
                    exts.push((&san).to_extension(subject, &exts)?);
                    let issuer = der::asn1::Utf8StringRef::new(ISSUER)?.to_der()?;
                    exts.push(Extension {
                        extn_id: der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8"),
                        critical: false,
                        extn_value: der::asn1::OctetString::new(issuer)?,
                    });
                }
                Ok(exts)
            }
        }

        fn signing_key(n: u8) -> SigningKey {
            let mut bytes = [0u8; 32];
            bytes[31] = n;
            bytes[0] = 1;
            SigningKey::from_slice(&bytes).unwrap()
        }

        fn time(t: i64) -> Time {
            Time::UtcTime(
                der::asn1::UtcTime::from_unix_duration(Duration::from_secs(t as u64)).unwrap(),
            )
        }

        fn issue(subject: &str, key: &SigningKey, issuer_key: &SigningKey, ca: bool) -> Cert {
            let spki = spki::SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).unwrap();
            let profile = Profile {
                subject: Name::from_str(&format!("CN={subject},O=palisade-test")).unwrap(),
                issuer: Name::from_str("CN=root,O=palisade-test").unwrap(),
                ca,
            };
            // The leaf lives ten minutes around T0, as a Fulcio certificate does.
            let window = if ca {
                (T0 - 86_400, T0 + 86_400)
            } else {
                (T0 - 300, T0 + 300)
            };
            let validity = Validity::new(time(window.0), time(window.1));
            let builder =
                CertificateBuilder::new(profile, SerialNumber::from(7u32), validity, spki).unwrap();
            let cert = builder.build::<_, DerSignature>(issuer_key).unwrap();
            Cert::from_der(&cert.to_der().unwrap()).unwrap()
        }

        fn pem(label: &str, der: &[u8]) -> String {
            crate::keys::encode_pem(label, der)
        }

        struct World {
            root: TrustRoot,
            layer: SignatureLayer,
            digest: Digest,
        }

        /// Everything valid; `integrated_time` is what the SET signs.
        fn world(integrated_time: i64) -> World {
            let ca_key = signing_key(1);
            let leaf_key = signing_key(2);
            let rekor_key = signing_key(3);
            let ca = issue("root", &ca_key, &ca_key, true);
            let leaf = issue("leaf", &leaf_key, &ca_key, false);
            let rekor_spki = rekor_key.verifying_key().to_public_key_der().unwrap();
            let root = TrustRoot::from_pem(
                pem("CERTIFICATE", ca.der()).as_bytes(),
                None,
                Some(pem("PUBLIC KEY", rekor_spki.as_bytes()).as_bytes()),
            )
            .unwrap();

            let digest = Digest::sha256_of(b"image");
            let payload = serde_json::to_vec(&serde_json::json!({
                "_type": "https://in-toto.io/Statement/v0.1",
                "predicateType": "https://slsa.dev/provenance/v0.2",
                "subject": [{"name": "reg/app", "digest": {"sha256": digest.hex()}}],
                "predicate": {"builder": {"id": "https://builder.example"}},
            }))
            .unwrap();
            let pae = crate::dsse::pae(IN_TOTO_PAYLOAD_TYPE, &payload);
            let sig: DerSignature = signature::Signer::sign(&leaf_key, &pae);
            let sig = sig.to_bytes().to_vec();
            let envelope = serde_json::json!({
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "payload": B64.encode(&payload),
                "signatures": [{"keyid": "", "sig": B64.encode(&sig)}],
            });
            let leaf_pem = pem("CERTIFICATE", leaf.der());
            let body = serde_json::json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(HashAlg::Sha256.digest(&payload))},
                    "signatures": [{"signature": B64.encode(&sig), "verifier": B64.encode(leaf_pem.as_bytes())}],
                },
            });
            let body = B64.encode(serde_json::to_vec(&body).unwrap());
            let log_id = hex::encode(HashAlg::Sha256.digest(rekor_spki.as_bytes()));
            let message = format!(
                "{{\"body\":\"{body}\",\"integratedTime\":{integrated_time},\"logID\":\"{log_id}\",\"logIndex\":42}}"
            );
            let set: DerSignature = signature::Signer::sign(&rekor_key, message.as_bytes());
            let rekor_bundle = serde_json::json!({
                "SignedEntryTimestamp": B64.encode(set.to_bytes()),
                "Payload": {"body": body, "integratedTime": integrated_time, "logIndex": 42, "logID": log_id},
            });
            let mut annotations = BTreeMap::new();
            annotations.insert(
                crate::cosign::SIGNATURE_ANNOTATION.to_owned(),
                String::new(),
            );
            annotations.insert(CERTIFICATE_ANNOTATION.to_owned(), leaf_pem);
            annotations.insert(BUNDLE_ANNOTATION.to_owned(), rekor_bundle.to_string());
            World {
                root,
                layer: SignatureLayer {
                    source: "test .att layer".into(),
                    media_type: DSSE_MEDIA_TYPE.into(),
                    payload: serde_json::to_vec(&envelope).unwrap(),
                    annotations,
                },
                digest,
            }
        }

        /// A keyed `.att` layer by `signing_key(2)` with a Rekor bundle (`dsse` entry whose
        /// verifier is the public key).
        fn keyed_world(sign_set_with: u8) -> (World, NamedKey) {
            let ca_key = signing_key(1);
            let key = signing_key(2);
            let rekor_key = signing_key(3);
            let ca = issue("root", &ca_key, &ca_key, true);
            let rekor_spki = rekor_key.verifying_key().to_public_key_der().unwrap();
            let root = TrustRoot::from_pem(
                pem("CERTIFICATE", ca.der()).as_bytes(),
                None,
                Some(pem("PUBLIC KEY", rekor_spki.as_bytes()).as_bytes()),
            )
            .unwrap();
            let digest = Digest::sha256_of(b"image");
            let payload = serde_json::to_vec(&serde_json::json!({
                "_type": "https://in-toto.io/Statement/v0.1",
                "predicateType": "https://slsa.dev/provenance/v0.2",
                "subject": [{"name": "reg/app", "digest": {"sha256": digest.hex()}}],
                "predicate": {},
            }))
            .unwrap();
            let pae = crate::dsse::pae(IN_TOTO_PAYLOAD_TYPE, &payload);
            let sig: DerSignature = signature::Signer::sign(&key, &pae);
            let sig = sig.to_bytes().to_vec();
            let envelope = serde_json::json!({
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "payload": B64.encode(&payload),
                "signatures": [{"keyid": "", "sig": B64.encode(&sig)}],
            });
            let key_spki = key.verifying_key().to_public_key_der().unwrap();
            let key_pem = pem("PUBLIC KEY", key_spki.as_bytes());
            let body = serde_json::json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(HashAlg::Sha256.digest(&payload))},
                    "signatures": [{"signature": B64.encode(&sig), "verifier": B64.encode(key_pem.as_bytes())}],
                },
            });
            let body = B64.encode(serde_json::to_vec(&body).unwrap());
            let log_id = hex::encode(HashAlg::Sha256.digest(rekor_spki.as_bytes()));
            let message = format!(
                "{{\"body\":\"{body}\",\"integratedTime\":{T0},\"logID\":\"{log_id}\",\"logIndex\":7}}"
            );
            let set: DerSignature =
                signature::Signer::sign(&signing_key(sign_set_with), message.as_bytes());
            let rekor_bundle = serde_json::json!({
                "SignedEntryTimestamp": B64.encode(set.to_bytes()),
                "Payload": {"body": body, "integratedTime": T0, "logIndex": 7, "logID": log_id},
            });
            let mut annotations = BTreeMap::new();
            annotations.insert(BUNDLE_ANNOTATION.to_owned(), rekor_bundle.to_string());
            let named = NamedKey {
                name: "release".into(),
                key: crate::keys::PublicKey::from_pem(&key_pem).unwrap(),
            };
            (
                World {
                    root,
                    layer: SignatureLayer {
                        source: "test keyed .att layer".into(),
                        media_type: DSSE_MEDIA_TYPE.into(),
                        payload: serde_json::to_vec(&envelope).unwrap(),
                        annotations,
                    },
                    digest,
                },
                named,
            )
        }

        #[test]
        fn a_keyed_att_layer_s_rekor_bundle_is_checked_with_a_trust_root() {
            let (w, key) = keyed_world(3);
            let with_root = VerifyOptions {
                keys: vec![key.clone()],
                trust_root: Some(w.root.clone()),
                ..VerifyOptions::default()
            };
            let v = verify_att_layer(&w.layer, &w.digest, &with_root).unwrap();
            assert_eq!(v.kind, "key");
            assert_eq!(v.signed_at, Some(T0));
            assert_eq!(v.rekor_log_index, Some(7));
            // Without a trust root the key signature alone decides, as for `.sig`.
            let no_root = VerifyOptions {
                keys: vec![key.clone()],
                ..VerifyOptions::default()
            };
            let v = verify_att_layer(&w.layer, &w.digest, &no_root).unwrap();
            assert_eq!(v.rekor_log_index, None);
            // A SET signed by another key: refused once a trust root is given.
            let (w, key) = keyed_world(4);
            let with_root = VerifyOptions {
                keys: vec![key],
                trust_root: Some(w.root.clone()),
                ..VerifyOptions::default()
            };
            let err = verify_att_layer(&w.layer, &w.digest, &with_root)
                .unwrap_err()
                .to_string();
            assert!(err.contains("Rekor bundle of a keyed attestation"), "{err}");
        }

        fn options(root: TrustRoot, email: &str) -> VerifyOptions {
            VerifyOptions {
                trust_root: Some(root),
                certificate_identities: vec![IdentityPolicy::exact(email, ISSUER)],
                ..VerifyOptions::default()
            }
        }

        #[test]
        fn a_keyless_att_layer_verifies_with_its_identity_and_log_entry() {
            let w = world(T0);
            let v = verify_att_layer(&w.layer, &w.digest, &options(w.root.clone(), EMAIL)).unwrap();
            assert_eq!(v.kind, "keyless");
            assert_eq!(v.signer, EMAIL);
            assert_eq!(v.issuer.as_deref(), Some(ISSUER));
            assert_eq!(v.signed_at, Some(T0));
            assert_eq!(v.rekor_log_index, Some(42));
            assert_eq!(v.predicate_type, "https://slsa.dev/provenance/v0.2");
            assert_eq!(v.predicate["builder"]["id"], "https://builder.example");

            // Another identity: refused.
            let err = verify_att_layer(
                &w.layer,
                &w.digest,
                &options(w.root.clone(), "x@example.com"),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("identity mismatch: expected x@example.com"),
                "{err}"
            );

            // Another digest: the statement is not about it.
            let other = Digest::sha256_of(b"other");
            let err = verify_att_layer(&w.layer, &other, &options(w.root.clone(), EMAIL))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("not {other}")), "{err}");

            // No Rekor bundle: nothing says when it was signed.
            let mut bare = w.layer.clone();
            bare.annotations.remove(BUNDLE_ANNOTATION);
            let err = verify_att_layer(&bare, &w.digest, &options(w.root.clone(), EMAIL))
                .unwrap_err()
                .to_string();
            assert!(err.contains("no Rekor bundle"), "{err}");

            // One byte of the payload changed: the certificate's key did not sign it.
            let mut env: serde_json::Value = serde_json::from_slice(&w.layer.payload).unwrap();
            let mut payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
            let i = payload.len() / 2;
            payload[i] ^= 1;
            env["payload"] = B64.encode(payload).into();
            let mut altered = w.layer.clone();
            altered.payload = serde_json::to_vec(&env).unwrap();
            let err = verify_att_layer(&altered, &w.digest, &options(w.root, EMAIL))
                .unwrap_err()
                .to_string();
            assert!(err.contains("no DSSE signature verifies"), "{err}");
        }

        #[test]
        fn a_keyless_att_layer_outside_the_certificate_window_is_refused() {
            // Logged an hour after the ten-minute certificate expired.
            let w = world(T0 + 3_600);
            let err = verify_att_layer(&w.layer, &w.digest, &options(w.root, EMAIL))
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not valid at 1700003600"), "{err}");
        }
    }
}
