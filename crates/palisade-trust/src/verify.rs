//! Verifying an image's keyed cosign signatures in a registry.
//!
//! The reference is resolved to a digest exactly once; discovery and every check use that
//! digest, and the result names it, so a tag moved during or after verification cannot change
//! what was verified. Every signature found is checked and reported (who signed, or why not).

use std::collections::BTreeMap;

use palisade_image::{Digest, Reference, RegistryClient};
use serde::Serialize;

use crate::cosign::{VerifiedSignature, verify_keyed};
use crate::discover::discover;
use crate::error::Result;
use crate::keys::NamedKey;
use crate::payload::IdentityMatch;
use crate::sign::resolve;

/// What to trust and require.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Trusted public keys (any one suffices for a signature).
    pub keys: Vec<NamedKey>,
    /// How the payload's identity must match the reference.
    pub identity: IdentityMatch,
    /// Annotations every accepted signature must carry in its payload.
    pub annotations: BTreeMap<String, String>,
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
    /// Every signature found, in discovery order.
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
        let outcome = verify_keyed(
            layer,
            &options.keys,
            reference,
            digest,
            options.identity,
            &options.annotations,
        );
        signatures.push(match outcome {
            Ok(v) => SignatureReport {
                source: layer.source.clone(),
                verified: Some(v),
                reason: None,
            },
            Err(e) => SignatureReport {
                source: layer.source.clone(),
                verified: None,
                reason: Some(if layer.is_keyless() {
                    format!("keyless signature, not checked against keys: {e}")
                } else {
                    e.to_string()
                }),
            },
        });
    }
    let mut notes = found.notes;
    for artifact in &found.artifacts {
        notes.push(format!(
            "{}: artifact {} not checked by keyed verification",
            artifact.source,
            artifact
                .manifest
                .artifact_type
                .as_deref()
                .unwrap_or(&artifact.manifest.config.media_type)
        ));
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
