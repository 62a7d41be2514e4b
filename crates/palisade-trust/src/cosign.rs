//! cosign's signature storage format and the keyed check of one signature.
//!
//! A signed image `repo@sha256:<hex>` has its signatures in the same repository under the tag
//! `sha256-<hex>.sig`: an OCI image manifest with one layer per signature. Each layer's blob is
//! the exact simple-signing payload (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]) and its annotation
//! [`SIGNATURE_ANNOTATION`] holds the base64 signature over those bytes. Keyless signatures add
//! certificate, chain and Rekor bundle annotations (checked by the keyless modules).
//!
//! [`verify_keyed`] checks one [`SignatureLayer`]: the signature against the trusted keys
//! *first* (the payload is untrusted until then), then the payload's claims against the digest
//! being verified and the reference, then required annotations.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_image::{Digest, Reference};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::NamedKey;
use crate::payload::{IdentityMatch, MAX_PAYLOAD_BYTES, Payload};

/// Media type of a signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding a PEM certificate (keyless).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM chain (keyless).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding the Rekor bundle (SET).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Artifact type cosign uses for simple-signing signatures stored as OCI 1.1 referrers.
pub const COSIGN_SIG_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Most signatures (layers) read from one signature manifest; cosign caps appends at 1000.
pub const MAX_SIGNATURE_LAYERS: usize = 1000;
/// Largest base64 signature annotation accepted.
const MAX_SIGNATURE_B64: usize = 4096;

/// The tag cosign stores signatures of `digest` under: `sha256-<hex>.sig`.
#[must_use]
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().name(), digest.hex())
}

/// The OCI referrers fallback tag for `digest`: `sha256-<hex>`.
#[must_use]
pub fn referrers_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().name(), digest.hex())
}

/// One signature as stored: the payload bytes, the layer's media type and annotations, and
/// where it came from (for reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// Where the signature was found, e.g. `reg/app:sha256-….sig layer 1`.
    pub source: String,
    /// The layer's media type.
    pub media_type: String,
    /// The exact payload bytes (the blob).
    pub payload: Vec<u8>,
    /// The layer annotations.
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirSignature {
    mime_type: String,
    payload: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl SignatureLayer {
    /// Reads the containers/image `dir:` form of a sigstore signature (`\0sigstore-json\n` and
    /// JSON `{mimeType, payload, annotations}`), as skopeo stores it and the fixtures carry it.
    ///
    /// # Errors
    /// If the prefix, JSON or base64 is malformed or the payload too large.
    pub fn from_containers_image_dir(bytes: &[u8], source: &str) -> Result<Self> {
        const PREFIX: &[u8] = b"\x00sigstore-json\n";
        let json = bytes.strip_prefix(PREFIX).ok_or_else(|| {
            Error::registry(
                source,
                "not a containers/image sigstore signature (missing prefix)",
            )
        })?;
        if json.len() > 4 * MAX_PAYLOAD_BYTES {
            return Err(Error::registry(source, "signature file is too large"));
        }
        let doc: DirSignature = serde_json::from_slice(json)
            .map_err(|e| Error::registry(source, format!("malformed signature JSON: {e}")))?;
        let payload = B64
            .decode(doc.payload.as_bytes())
            .map_err(|e| Error::registry(source, format!("payload is not base64: {e}")))?;
        Ok(Self {
            source: source.to_owned(),
            media_type: doc.mime_type,
            payload,
            annotations: doc.annotations,
        })
    }

    /// The decoded signature annotation.
    ///
    /// # Errors
    /// If the annotation is missing, too long, or not base64.
    pub fn signature(&self) -> Result<Vec<u8>> {
        let text = self
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .ok_or_else(|| Error::Payload(format!("no {SIGNATURE_ANNOTATION} annotation")))?;
        if text.len() > MAX_SIGNATURE_B64 {
            return Err(Error::Payload(format!(
                "{SIGNATURE_ANNOTATION} is {} characters long",
                text.len()
            )));
        }
        // Some producers wrap the base64 (the ci-pki fixture has line breaks).
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        B64.decode(compact.as_bytes())
            .map_err(|e| Error::Payload(format!("{SIGNATURE_ANNOTATION} is not base64: {e}")))
    }

    /// Whether the layer carries a keyless certificate.
    #[must_use]
    pub fn is_keyless(&self) -> bool {
        self.annotations.contains_key(CERTIFICATE_ANNOTATION)
    }
}

/// A signature that verified: who signed what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedSignature {
    /// How it was checked: `key` (cosign keyed), `keyless` (Fulcio certificate + Rekor),
    /// `bundle-key` or `bundle-keyless` (Sigstore bundle referrer).
    pub kind: String,
    /// The trusted key's name (file or label), or the certificate identities (SANs).
    pub signer: String,
    /// The key's fingerprint, `sha256:<hex>` of its SubjectPublicKeyInfo (empty for
    /// certificates).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_fingerprint: String,
    /// The signed `docker-reference` (empty for Sigstore bundles, which name only a digest).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity: String,
    /// The signed manifest digest.
    pub digest: String,
    /// The payload's `optional` values.
    pub annotations: BTreeMap<String, String>,
    /// The certificate's OIDC issuer (keyless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The CA that issued the certificate (keyless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
    /// When the signature provably existed (Rekor integrated time or RFC 3161 timestamp,
    /// seconds since the epoch), when transparency-log evidence was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<i64>,
    /// The Rekor log index of the checked entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekor_log_index: Option<i64>,
}

/// Checks one signature layer against trusted keys.
///
/// Order matters: the signature is checked first (the payload is attacker-controlled until
/// then), then the payload's digest and identity, then `required` annotations (each must be
/// present in the payload's `optional` section with that value).
///
/// # Errors
/// With a reason naming what failed: not a simple-signing layer, no key verifies it (each key
/// tried is named), a payload for another digest or repository, a missing annotation.
pub fn verify_keyed(
    layer: &SignatureLayer,
    keys: &[NamedKey],
    reference: &Reference,
    digest: &Digest,
    identity: IdentityMatch,
    required: &BTreeMap<String, String>,
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
    if keys.is_empty() {
        return Err(Error::Invalid("no trusted keys given".into()));
    }
    let signature = layer.signature()?;
    let signer = keys
        .iter()
        .find(|k| k.key.verify(&layer.payload, &signature).is_ok())
        .ok_or_else(|| {
            let tried: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            Error::BadSignature {
                key: if tried.len() == 1 {
                    tried.join("")
                } else {
                    format!("any of {}", tried.join(", "))
                },
                reason: "not signed by a trusted key, or the payload was altered".into(),
            }
        })?;
    let (payload, annotations) =
        check_payload(&layer.payload, reference, digest, identity, required)?;
    Ok(VerifiedSignature {
        kind: "key".into(),
        signer: signer.name.clone(),
        key_fingerprint: signer.key.fingerprint(),
        identity: payload.critical.identity.docker_reference.clone(),
        digest: payload.critical.image.docker_manifest_digest.clone(),
        annotations,
        issuer: None,
        issued_by: None,
        signed_at: None,
        rekor_log_index: None,
    })
}

/// Checks a payload whose signature already verified: it names `digest` and, as `identity`
/// asks, `reference`; it carries every `required` annotation. Returns the payload and its
/// annotations.
///
/// # Errors
/// A malformed payload, another digest or repository, a missing or different annotation.
pub fn check_payload(
    bytes: &[u8],
    reference: &Reference,
    digest: &Digest,
    identity: IdentityMatch,
    required: &BTreeMap<String, String>,
) -> Result<(Payload, BTreeMap<String, String>)> {
    let payload = Payload::parse(bytes)?;
    payload.check(reference, digest, identity)?;
    let annotations = payload.annotations();
    for (k, v) in required {
        match annotations.get(k) {
            Some(found) if found == v => {}
            Some(found) => {
                return Err(Error::Payload(format!(
                    "annotation {k}={found}, required {k}={v}"
                )));
            }
            None => {
                return Err(Error::Payload(format!(
                    "annotation {k}={v} required but absent"
                )));
            }
        }
    }
    Ok((payload, annotations))
}

/// A signature manifest as read from the registry (only what is needed; unknown fields kept
/// out). Shared by the `.sig` tag form and OCI 1.1 referrer artifacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureManifest {
    /// Must be 2.
    pub schema_version: u32,
    /// The manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// OCI 1.1 artifact type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config descriptor.
    pub config: palisade_image::Descriptor,
    /// One layer per signature.
    #[serde(default)]
    pub layers: Vec<palisade_image::Descriptor>,
    /// The subject (for referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<palisade_image::Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl SignatureManifest {
    /// Parses and bounds a signature manifest. `what` names it in errors.
    ///
    /// # Errors
    /// If it is not a manifest, has more than [`MAX_SIGNATURE_LAYERS`] layers, or a
    /// simple-signing layer declares more than the largest accepted payload.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self> {
        let manifest: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::registry(what, format!("not an image manifest: {e}")))?;
        if manifest.schema_version != 2 {
            return Err(Error::registry(
                what,
                format!("schemaVersion {} (expected 2)", manifest.schema_version),
            ));
        }
        if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(Error::registry(
                what,
                format!(
                    "{} signature layers, more than the {MAX_SIGNATURE_LAYERS} accepted",
                    manifest.layers.len()
                ),
            ));
        }
        Ok(manifest)
    }
}

/// The config blob cosign writes for a signature manifest: an empty image whose `rootfs`
/// lists the payload layers.
#[must_use]
pub fn signature_config(layers: &[palisade_image::Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {}
    });
    config.to_string().into_bytes()
}
