//! Signing an image in a registry, as `cosign sign --key` does.
//!
//! The reference is resolved to a digest once. The simple-signing payload names the repository
//! (as cosign does, no tag) and that digest; it is signed, pushed as a blob, and appended as a
//! layer to the `sha256-<hex>.sig` manifest (created if absent), whose config lists the layers.
//! An identical signature already present is not added twice.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_image::{Descriptor, Digest, Reference, RegistryClient, media_type};

use crate::cosign::{
    MAX_SIGNATURE_LAYERS, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureManifest,
    signature_config, signature_tag,
};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::payload::Payload;

/// What [`sign_image`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    /// `registry/repository@digest` that was signed.
    pub image: String,
    /// The digest the reference resolved to.
    pub digest: String,
    /// Where the signature manifest is: `registry/repository:sha256-<hex>.sig`.
    pub signature_manifest: String,
    /// How many signatures that manifest now holds.
    pub signatures: usize,
    /// False when an identical signature was already there.
    pub added: bool,
}

/// Resolves `reference` to a digest (once) in `client`'s registry.
///
/// # Errors
/// When the registry does not have the image or fails.
pub fn resolve(client: &RegistryClient, reference: &Reference) -> Result<Digest> {
    let tag_or_digest = reference.manifest_reference();
    let desc = client
        .head_manifest(
            reference.repository(),
            &tag_or_digest,
            media_type::ACCEPT_MANIFESTS,
        )?
        .ok_or_else(|| Error::registry(reference.to_string(), "image not found in the registry"))?;
    if let Some(pinned) = reference.digest()
        && pinned != &desc.digest
    {
        return Err(Error::registry(
            reference.to_string(),
            format!("registry answered {} for a pinned digest", desc.digest),
        ));
    }
    Ok(desc.digest)
}

/// Signs `reference` with `key`, adding `annotations` to the payload's `optional` section.
///
/// # Errors
/// When the image cannot be resolved, the existing signature manifest is refused, or a push
/// fails.
pub fn sign_image(
    client: &RegistryClient,
    reference: &Reference,
    key: &PrivateKey,
    annotations: &BTreeMap<String, String>,
) -> Result<Signed> {
    let digest = resolve(client, reference)?;
    let repository = reference.repository();
    let payload = Payload::new(&reference.name(), &digest, annotations).to_bytes()?;
    let signature = B64.encode(key.sign(&payload)?);
    let tag = signature_tag(&digest);
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
    let payload_digest = Digest::sha256_of(&payload);
    let already = layers.iter().any(|l| {
        l.digest == payload_digest && l.annotations.get(SIGNATURE_ANNOTATION) == Some(&signature)
    });
    if !already {
        if layers.len() >= MAX_SIGNATURE_LAYERS {
            return Err(Error::registry(
                &what,
                format!("already holds {MAX_SIGNATURE_LAYERS} signatures; refusing to add more"),
            ));
        }
        client.push_blob(repository, &payload)?;
        let mut layer_annotations = BTreeMap::new();
        layer_annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature);
        layers.push(Descriptor {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
            digest: payload_digest,
            size: payload.len() as u64,
            platform: None,
            annotations: layer_annotations,
        });
        let config = signature_config(&layers);
        let config_digest = client.push_blob(repository, &config)?;
        let manifest = SignatureManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config: Descriptor {
                media_type: media_type::OCI_CONFIG.to_owned(),
                digest: config_digest,
                size: config.len() as u64,
                platform: None,
                annotations: BTreeMap::new(),
            },
            layers: layers.clone(),
            subject: None,
            annotations: BTreeMap::new(),
        };
        let bytes = serde_json::to_vec(&manifest)
            .map_err(|e| Error::registry(&what, format!("serializing: {e}")))?;
        client.put_manifest(repository, &tag, &bytes, media_type::OCI_MANIFEST)?;
    }
    Ok(Signed {
        image: format!("{}@{digest}", reference.name()),
        digest: digest.to_string(),
        signature_manifest: what,
        signatures: layers.len(),
        added: !already,
    })
}
