//! Verifying an image's cosign signatures in a registry: keyed, keyless and Sigstore bundles.
//!
//! The reference is resolved to a digest exactly once; discovery and every check use that
//! digest, and the result names it, so a tag moved during or after verification cannot change
//! what was verified. Every signature found is checked and reported (who signed, or why not).
//!
//! What is checked, by what was found and what the caller trusts ([`VerifyOptions`]):
//!
//! - a `.sig` layer with a key signature: against [`VerifyOptions::keys`]; when a trust root
//!   is given and the layer carries a `dev.sigstore.cosign/bundle`, its Rekor evidence too
//!   (SET under a known log key, entry recording this signature, key and payload);
//! - a `.sig` layer with a `dev.sigstore.cosign/certificate` (keyless): against the
//!   [`VerifyOptions::trust_root`] and any of [`VerifyOptions::certificate_identities`]
//!   (chain valid at the Rekor integrated time, SET, identity and issuer);
//! - a Sigstore bundle referrer (OCI 1.1 artifact, cosign v3's default): its bundle layer is
//!   fetched (at most [`MAX_BUNDLE_REFERRERS`], each at most
//!   [`crate::discover::MAX_ARTIFACT_LAYER_BYTES`]) and verified for the image digest with a
//!   key or an identity policy against the trust root.
//!
//! Simple-signing payloads must then name the digest (and, as asked, the reference) and carry
//! the required annotations. Any one accepted signature makes the image verified; each is
//! reported. Nothing here fetches trust material: the trust root is the caller's file.

use std::collections::BTreeMap;

use palisade_image::{Digest, Reference, RegistryClient};
use serde::Serialize;

use crate::bundle::{Artifact, Bundle, SignerPolicy, verify_bundle};
use crate::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer, VerifiedSignature, check_payload, verify_keyed,
};
use crate::discover::{MAX_ARTIFACT_LAYER_BYTES, Referrer, discover, read_blob};
use crate::error::{Error, Result};
use crate::keyless::{CosignKeyless, IdentityPolicy, Signer, verify_cosign_keyless};
use crate::keys::NamedKey;
use crate::payload::{IdentityMatch, MAX_PAYLOAD_BYTES};
use crate::sign::resolve;
use crate::sigstore_error::SigstoreError;
use crate::trust_root::TrustRoot;

/// Most Sigstore bundle referrers fetched and verified for one digest.
pub const MAX_BUNDLE_REFERRERS: usize = 32;

/// What to trust and require.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Trusted public keys (any one suffices for a signature).
    pub keys: Vec<NamedKey>,
    /// How the payload's identity must match the reference.
    pub identity: IdentityMatch,
    /// Annotations every accepted signature must carry in its payload.
    pub annotations: BTreeMap<String, String>,
    /// The offline trust root (Fulcio CAs, Rekor keys, TSAs) for keyless signatures, Rekor
    /// bundles on keyed signatures and Sigstore bundles. Without it, those are reported as
    /// not checked.
    pub trust_root: Option<TrustRoot>,
    /// Accepted certificate identities for keyless signatures (any one suffices).
    pub certificate_identities: Vec<IdentityPolicy>,
}

impl VerifyOptions {
    fn keyless_configured(&self) -> Option<&TrustRoot> {
        self.trust_root
            .as_ref()
            .filter(|_| !self.certificate_identities.is_empty())
    }
}

/// The outcome for one signature found.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// Where it was found.
    pub source: String,
    /// Set when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedSignature>,
    /// Why it was not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of verifying one image.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The reference as given.
    pub reference: String,
    /// The digest it resolved to (the only thing that was verified).
    pub digest: String,
    /// True when at least one signature verified.
    pub verified: bool,
    /// Every signature found: the `.sig` and referrer layers read, in discovery order, then
    /// those refused before verification (unreadable layer or referrer, with the reason), then
    /// bundle referrers.
    pub signatures: Vec<SignatureReport>,
    /// Notes about discovery and artifacts not checked here.
    pub notes: Vec<String>,
}

impl Verification {
    /// The signatures that verified.
    pub fn accepted(&self) -> impl Iterator<Item = &VerifiedSignature> {
        self.signatures.iter().filter_map(|s| s.verified.as_ref())
    }
}

/// Resolves `reference` once and verifies the signatures of that digest.
///
/// # Errors
/// Only for failures that prevent a verdict (registry errors, refused signature manifests);
/// signatures that do not verify are reported in the result.
pub fn verify_image(
    client: &RegistryClient,
    reference: &Reference,
    options: &VerifyOptions,
) -> Result<Verification> {
    let digest = resolve(client, reference)?;
    verify_digest(client, reference, &digest, options)
}

/// Verifies the signatures of `digest` (already resolved from `reference`).
///
/// # Errors
/// As [`verify_image`].
pub fn verify_digest(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<Verification> {
    let found = discover(client, reference.repository(), digest)?;
    let mut signatures = Vec::new();
    for layer in &found.signatures {
        signatures.push(report(
            layer.source.clone(),
            verify_layer(layer, reference, digest, options),
        ));
    }
    // Found but unreadable (too large, missing blob, digest mismatch): refused, reported, and
    // never counted; the other signatures are still checked.
    for refused in &found.refused {
        signatures.push(SignatureReport {
            source: refused.source.clone(),
            verified: None,
            reason: Some(refused.reason.clone()),
        });
    }
    let mut notes = found.notes;
    let mut bundles = 0usize;
    for artifact in &found.artifacts {
        let Some(layer) = bundle_layer(artifact) else {
            notes.push(format!(
                "{}: artifact {} is not a signature, not checked",
                artifact.source,
                artifact
                    .manifest
                    .artifact_type
                    .as_deref()
                    .unwrap_or(&artifact.manifest.config.media_type)
            ));
            continue;
        };
        bundles += 1;
        if bundles > MAX_BUNDLE_REFERRERS {
            notes.push(format!(
                "{}: not checked, more than {MAX_BUNDLE_REFERRERS} Sigstore bundles",
                artifact.source
            ));
            continue;
        }
        let outcome = verify_bundle_referrer(client, reference, digest, artifact, layer, options);
        signatures.push(report(artifact.source.clone(), outcome));
    }
    if signatures.is_empty() {
        notes.push(format!("no signatures found for {digest}"));
    }
    Ok(Verification {
        reference: reference.to_string(),
        digest: digest.to_string(),
        verified: signatures.iter().any(|s| s.verified.is_some()),
        signatures,
        notes,
    })
}

fn report(source: String, outcome: Result<VerifiedSignature>) -> SignatureReport {
    match outcome {
        Ok(v) => SignatureReport {
            source,
            verified: Some(v),
            reason: None,
        },
        Err(e) => SignatureReport {
            source,
            verified: None,
            reason: Some(e.to_string()),
        },
    }
}

/// One `.sig` layer: keyless when it carries a certificate, keyed otherwise.
fn verify_layer(
    layer: &SignatureLayer,
    reference: &Reference,
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<VerifiedSignature> {
    if layer.is_keyless() {
        let Some(root) = options.keyless_configured() else {
            return Err(Error::Invalid(
                "keyless signature (Fulcio certificate), not checked: give a trust root \
                 (--trusted-root or --ca-roots) and --certificate-identity[-regexp] with \
                 --certificate-oidc-issuer[-regexp]"
                    .into(),
            ));
        };
        return verify_keyless_layer(layer, reference, digest, options, root);
    }
    if options.keys.is_empty() {
        return Err(Error::Invalid(
            "signed with a key, but no trusted key was given (--key or --keys)".into(),
        ));
    }
    let mut verified = verify_keyed(
        layer,
        &options.keys,
        reference,
        digest,
        options.identity,
        &options.annotations,
    )?;
    if let (Some(root), Some(bundle)) = (
        &options.trust_root,
        layer.annotations.get(BUNDLE_ANNOTATION),
    ) {
        let key = options
            .keys
            .iter()
            .find(|k| k.name == verified.signer)
            .ok_or_else(|| Error::Invalid("the verifying key vanished".into()))?;
        let entry = crate::rekor::verify_cosign_bundle_for_key(
            bundle.as_bytes(),
            &layer.payload,
            &layer.signature()?,
            &key.key,
            root,
        )
        .map_err(|e| Error::Invalid(format!("Rekor bundle of a keyed signature: {e}")))?;
        verified.signed_at = entry.integrated_time;
        verified.rekor_log_index = Some(entry.log_index);
    }
    Ok(verified)
}

fn verify_keyless_layer(
    layer: &SignatureLayer,
    reference: &Reference,
    digest: &Digest,
    options: &VerifyOptions,
    root: &TrustRoot,
) -> Result<VerifiedSignature> {
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(Error::Payload(format!(
            "layer media type {:?} is not a simple-signing signature",
            layer.media_type
        )));
    }
    if layer.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::Payload(format!(
            "{} bytes, more than the {MAX_PAYLOAD_BYTES} accepted",
            layer.payload.len()
        )));
    }
    let annotation = |name: &str| layer.annotations.get(name).map(String::as_str);
    let input = CosignKeyless {
        payload: &layer.payload,
        signature_b64: annotation(SIGNATURE_ANNOTATION)
            .ok_or_else(|| Error::Payload(format!("no {SIGNATURE_ANNOTATION} annotation")))?,
        certificate_pem: annotation(CERTIFICATE_ANNOTATION).unwrap_or_default(),
        chain_pem: annotation(CHAIN_ANNOTATION),
        rekor_bundle: annotation(BUNDLE_ANNOTATION),
    };
    let verified = first_accepted(&options.certificate_identities, |policy| {
        verify_cosign_keyless(&input, root, policy, &crate::keyless::Options::default())
    })?;
    // The signature, chain, log entry and identity hold: now the payload's claims.
    let (payload, annotations) = check_payload(
        &layer.payload,
        reference,
        digest,
        options.identity,
        &options.annotations,
    )?;
    let mut out = from_keyless(
        verified,
        "keyless",
        &payload.critical.image.docker_manifest_digest,
    );
    out.identity
        .clone_from(&payload.critical.identity.docker_reference);
    out.annotations = annotations;
    Ok(out)
}

/// Tries each candidate in turn; the first success wins, else every failure is named.
fn first_accepted<T, P>(
    candidates: &[P],
    mut check: impl FnMut(&P) -> std::result::Result<T, SigstoreError>,
) -> Result<T> {
    let mut reasons = Vec::new();
    for candidate in candidates {
        match check(candidate) {
            Ok(v) => return Ok(v),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    reasons.dedup();
    Err(Error::Invalid(reasons.join("; ")))
}

fn from_keyless(v: crate::keyless::VerifiedSigner, kind: &str, digest: &str) -> VerifiedSignature {
    let (signer, key_fingerprint, issuer, issued_by) = match v.signer {
        Signer::Certificate {
            identities,
            issuer,
            issued_by,
        } => (
            identities.join(", "),
            String::new(),
            issuer,
            Some(issued_by),
        ),
        Signer::Key { fingerprint } => (String::new(), fingerprint, None, None),
    };
    VerifiedSignature {
        kind: kind.to_owned(),
        signer,
        key_fingerprint,
        identity: String::new(),
        digest: digest.to_owned(),
        annotations: BTreeMap::new(),
        issuer,
        issued_by,
        signed_at: v.signed_at,
        rekor_log_index: v.log_entry.map(|e| e.log_index),
    }
}

/// The Sigstore bundle layer of a referrer, if it is one.
fn bundle_layer(artifact: &Referrer) -> Option<&palisade_image::Descriptor> {
    let is_bundle = |t: &str| t.starts_with("application/vnd.dev.sigstore.bundle");
    let typed = artifact
        .manifest
        .artifact_type
        .as_deref()
        .is_some_and(is_bundle)
        || is_bundle(&artifact.manifest.config.media_type);
    artifact
        .manifest
        .layers
        .iter()
        .find(|l| is_bundle(&l.media_type))
        .filter(|_| typed || artifact.manifest.layers.len() == 1)
}

fn verify_bundle_referrer(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    artifact: &Referrer,
    layer: &palisade_image::Descriptor,
    options: &VerifyOptions,
) -> Result<VerifiedSignature> {
    let Some(root) = &options.trust_root else {
        return Err(Error::Invalid(
            "Sigstore bundle, not checked: give a trust root (--trusted-root, or --ca-roots \
             with --rekor-key)"
                .into(),
        ));
    };
    if !options.annotations.is_empty() {
        return Err(Error::Invalid(
            "Sigstore bundle: required annotations cannot be checked in a bundle".into(),
        ));
    }
    if digest.algorithm().name() != "sha256" {
        return Err(Error::Invalid(format!(
            "Sigstore bundle: only sha256 image digests are supported, not {digest}"
        )));
    }
    let mut sha = [0u8; 32];
    hex::decode_to_slice(digest.hex(), &mut sha)
        .map_err(|e| Error::Invalid(format!("digest {digest}: {e}")))?;
    let bytes = read_blob(
        client,
        reference.repository(),
        &layer.digest,
        layer.size,
        MAX_ARTIFACT_LAYER_BYTES,
        &format!("{} layer {}", artifact.source, layer.digest),
    )?;
    let bundle = Bundle::from_json(&bytes)?;
    let artifact = Artifact::Sha256(&sha);
    let digest_text = digest.to_string();
    match &bundle.material {
        crate::bundle::Material::PublicKey { .. } => {
            if options.keys.is_empty() {
                return Err(Error::Invalid(
                    "Sigstore bundle signed with a key, but no trusted key was given (--key or \
                     --keys)"
                        .into(),
                ));
            }
            let mut reasons = Vec::new();
            for key in &options.keys {
                match verify_bundle(&bundle, artifact, root, SignerPolicy::Key(&key.key)) {
                    Ok(v) => {
                        let mut out = from_keyless(v, "bundle-key", &digest_text);
                        out.signer.clone_from(&key.name);
                        out.key_fingerprint = key.key.fingerprint();
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
        crate::bundle::Material::Certificate { .. } => {
            if options.certificate_identities.is_empty() {
                return Err(Error::Invalid(
                    "Sigstore bundle signed with a certificate, but no identity was given \
                     (--certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp])"
                        .into(),
                ));
            }
            let v = first_accepted(&options.certificate_identities, |policy| {
                verify_bundle(&bundle, artifact, root, SignerPolicy::Identity(policy))
            })?;
            Ok(from_keyless(v, "bundle-keyless", &digest_text))
        }
    }
}
