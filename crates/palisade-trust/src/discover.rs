//! Finding an image's signatures in a registry.
//!
//! Two places are searched, both keyed by the digest being verified (never by a tag):
//!
//! 1. cosign's tag scheme: `sha256-<hex>.sig` in the image's repository;
//! 2. OCI 1.1 referrers: `GET /v2/<repo>/referrers/<digest>`, or, when the registry has no
//!    referrers API (Distribution 2.8, Debian's `docker-registry`), the fallback index under the
//!    tag `sha256-<hex>`.
//!
//! Everything read is bounded: manifests by the registry client (4 MiB), the number of
//! signature layers and referrers, and every payload blob (declared size checked before the
//! download, bytes counted while reading, digest verified after).
//!
//! One bad signature does not hide the others: a layer whose blob is too large, missing or
//! does not match its digest, and a referrer whose manifest cannot be read, is kept in
//! [`Discovered::refused`] with the reason, and the search goes on (as cosign marks such a
//! signature failed and checks the next). Anyone who can append to the `.sig` tag or push a
//! referrer can add a bad one; only a verified signature ever counts, so this fails closed.

use std::io::Read as _;

use palisade_image::{Digest, RegistryClient, media_type};

use crate::cosign::{
    MAX_SIGNATURE_LAYERS, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer, SignatureManifest,
    referrers_tag, signature_tag,
};
use crate::error::{Error, Result};
use crate::payload::MAX_PAYLOAD_BYTES;

/// Most referrers examined for one digest.
pub const MAX_REFERRERS: usize = 256;
/// Largest non-signature artifact layer read (e.g. a Sigstore bundle).
pub const MAX_ARTIFACT_LAYER_BYTES: u64 = 1 << 20;
/// Most bytes of referrer manifests kept in memory for one digest.
pub const MAX_REFERRER_BYTES: usize = 16 << 20;

const ACCEPT_MANIFEST: &[&str] = &[media_type::OCI_MANIFEST, media_type::DOCKER_MANIFEST];
const ACCEPT_INDEX: &[&str] = &[media_type::OCI_INDEX];

/// A referrer artifact (not a simple-signing signature), e.g. a Sigstore bundle, with its
/// manifest and first layer's bytes, for the bundle verifier.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// `registry/repo@digest` of the referrer manifest.
    pub source: String,
    /// Its digest.
    pub digest: Digest,
    /// The parsed manifest.
    pub manifest: SignatureManifest,
    /// The exact manifest bytes.
    pub manifest_bytes: Vec<u8>,
}

/// What was found for one digest.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Simple-signing signature layers, from the `.sig` tag and from referrers.
    pub signatures: Vec<SignatureLayer>,
    /// Other referrer artifacts (Sigstore bundles and the like).
    pub artifacts: Vec<Referrer>,
    /// Signatures found but refused before verification (blob too large, missing, or not
    /// matching its digest; a referrer manifest that cannot be read), in discovery order.
    pub refused: Vec<RefusedSignature>,
    /// Notes about the search (e.g. "registry has no referrers API, used the fallback tag").
    pub notes: Vec<String>,
}

/// A signature that was found but could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedSignature {
    /// Where it was found, e.g. `reg/app:sha256-….sig layer 2`.
    pub source: String,
    /// Why it was refused.
    pub reason: String,
}

/// Finds the signatures of `digest` in `repository`.
///
/// # Errors
/// When the registry fails (other than "not found") on the `.sig` tag or the referrers list,
/// or the `.sig` manifest itself is refused (not a manifest, too many layers). A single layer
/// or referrer that cannot be read is not an error: it is listed in [`Discovered::refused`].
pub fn discover(client: &RegistryClient, repository: &str, digest: &Digest) -> Result<Discovered> {
    let mut found = Discovered::default();
    let registry = client.registry();

    // 1. cosign's tag.
    let tag = signature_tag(digest);
    if let Some(desc) = client.head_manifest(repository, &tag, ACCEPT_MANIFEST)? {
        let what = format!("{registry}/{repository}:{tag}");
        let (bytes, _, _) =
            client.get_manifest(repository, &desc.digest.to_string(), ACCEPT_MANIFEST)?;
        let manifest = SignatureManifest::parse(&bytes, &what)?;
        read_signature_layers(client, repository, &manifest, &what, &mut found)?;
    }

    // 2. OCI 1.1 referrers, or the fallback tag.
    let index = match client.get_referrers(repository, digest)? {
        Some(index) => Some(index),
        None => {
            let fallback = referrers_tag(digest);
            found.notes.push(format!(
                "{registry} has no referrers API; looked for the {fallback} tag"
            ));
            match client.head_manifest(repository, &fallback, ACCEPT_INDEX)? {
                Some(desc) => {
                    let (bytes, _, _) =
                        client.get_manifest(repository, &desc.digest.to_string(), ACCEPT_INDEX)?;
                    let index: palisade_image::Index =
                        serde_json::from_slice(&bytes).map_err(|e| {
                            Error::registry(
                                format!("{registry}/{repository}:{fallback}"),
                                format!("not an OCI index: {e}"),
                            )
                        })?;
                    Some(index)
                }
                None => None,
            }
        }
    };
    if let Some(index) = index {
        if index.manifests.len() > MAX_REFERRERS {
            return Err(Error::registry(
                format!("referrers of {registry}/{repository}@{digest}"),
                format!(
                    "{} referrers, more than the {MAX_REFERRERS} examined",
                    index.manifests.len()
                ),
            ));
        }
        let mut kept = 0usize;
        for desc in &index.manifests {
            let what = format!("{registry}/{repository}@{}", desc.digest);
            let read = client
                .get_manifest(repository, &desc.digest.to_string(), ACCEPT_MANIFEST)
                .map_err(Error::from)
                .and_then(|(bytes, _, _)| {
                    SignatureManifest::parse(&bytes, &what).map(|m| (bytes, m))
                });
            let (bytes, manifest) = match read {
                Ok(read) => read,
                Err(e) => {
                    found.refused.push(RefusedSignature {
                        source: what,
                        reason: format!("referrer not read: {e}"),
                    });
                    continue;
                }
            };
            if let Some(subject) = &manifest.subject
                && &subject.digest != digest
            {
                found.notes.push(format!(
                    "{what}: ignored, its subject is {} not {digest}",
                    subject.digest
                ));
                continue;
            }
            let is_signature = manifest
                .layers
                .iter()
                .any(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE);
            if is_signature {
                read_signature_layers(client, repository, &manifest, &what, &mut found)?;
            } else {
                kept += bytes.len();
                if kept > MAX_REFERRER_BYTES {
                    return Err(Error::registry(
                        what,
                        format!("referrer manifests exceed {MAX_REFERRER_BYTES} bytes in all"),
                    ));
                }
                found.artifacts.push(Referrer {
                    source: what,
                    digest: desc.digest.clone(),
                    manifest,
                    manifest_bytes: bytes,
                });
            }
        }
    }
    Ok(found)
}

fn read_signature_layers(
    client: &RegistryClient,
    repository: &str,
    manifest: &SignatureManifest,
    what: &str,
    found: &mut Discovered,
) -> Result<()> {
    if found.signatures.len() + manifest.layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(Error::registry(
            what,
            format!("more than {MAX_SIGNATURE_LAYERS} signatures in all"),
        ));
    }
    for (i, layer) in manifest.layers.iter().enumerate() {
        let source = format!("{what} layer {}", i + 1);
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            // Keep it so the report can say why it was not accepted, but do not download it.
            found.signatures.push(SignatureLayer {
                source,
                media_type: layer.media_type.clone(),
                payload: Vec::new(),
                annotations: layer.annotations.clone(),
            });
            continue;
        }
        let payload = match read_blob(
            client,
            repository,
            &layer.digest,
            layer.size,
            MAX_PAYLOAD_BYTES as u64,
            &source,
        ) {
            Ok(payload) => payload,
            Err(e) => {
                found.refused.push(RefusedSignature {
                    source,
                    reason: format!("signature layer not read ({}): {e}", layer.digest),
                });
                continue;
            }
        };
        found.signatures.push(SignatureLayer {
            source,
            media_type: layer.media_type.clone(),
            payload,
            annotations: layer.annotations.clone(),
        });
    }
    Ok(())
}

/// Downloads a small blob: refuses a declared size over `limit`, reads at most `limit` bytes
/// and checks the digest.
///
/// # Errors
/// When the blob is too large, shorter or longer than declared, or does not match its digest.
pub fn read_blob(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    declared: u64,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if declared > limit {
        return Err(Error::registry(
            what,
            format!(
                "layer declares {declared} bytes, more than the {limit} accepted for a signature"
            ),
        ));
    }
    let reader = client.get_blob(repository, digest)?;
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::registry(what, format!("reading blob {digest}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::registry(
            what,
            format!("blob {digest} is larger than the {limit} bytes accepted"),
        ));
    }
    if !digest.matches(&bytes) {
        return Err(Error::registry(
            what,
            format!("blob does not match its digest {digest}"),
        ));
    }
    if bytes.len() as u64 != declared {
        return Err(Error::registry(
            what,
            format!(
                "blob is {} bytes, the manifest says {declared}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}
