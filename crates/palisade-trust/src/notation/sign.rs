//! Signing an image the Notation way: a JWS or COSE envelope over
//! `{"targetArtifact": <descriptor of the manifest>}`, signed with the key of the first
//! certificate of a chain (leaf first, ending in its root), pushed as a signature manifest
//! whose `subject` is the image, with the required `io.cncf.notary.x509chain.thumbprint#S256`
//! annotation.
//!
//! On a registry with the OCI referrers API the manifest uses `artifactType` (the
//! specification's default); on one without it (Distribution 2.8, Debian's
//! `docker-registry`) it uses the legacy `config.mediaType` form the specification prescribes
//! for OCI 1.0 registries, and is added to the `sha256-<hex>` referrers fallback index.
//!
//! The chain is checked before signing with the same certificate requirements verification
//! applies, and the key must be the leaf's; the algorithm follows from the leaf's key
//! (RSA 2048/3072/4096: PS256/384/512; EC P-256/P-384: ES256/ES384).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coset::TaggedCborSerializable as _;
use coset::cbor::value::Value;
use palisade_image::{Digest, Reference, RegistryClient, media_type};
use serde_json::json;
use sha2::Digest as _;

use super::envelope::{
    Alg, Format, HDR_EXPIRY, HDR_SIGNING_AGENT, HDR_SIGNING_SCHEME, HDR_SIGNING_TIME,
    PAYLOAD_CONTENT_TYPE, Payload, TargetArtifact, alg_for_cert, cbor_time,
};
use super::{EMPTY_CONFIG_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE, THUMBPRINT_ANNOTATION};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::x509::Cert;

/// The signing agent Palisade records (unsigned, informational).
pub const SIGNING_AGENT: &str = concat!("palisade/", env!("CARGO_PKG_VERSION"));

/// What [`sign_image`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    /// `registry/repository@digest` that was signed.
    pub image: String,
    /// The digest signed.
    pub digest: String,
    /// The signature manifest's digest.
    pub signature_manifest: String,
    /// `jws` or `cose`.
    pub envelope: Format,
    /// True when the registry has no referrers API and the fallback index was updated.
    pub fallback_tag: Option<String>,
}

fn sign_err(reason: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("Notation signing: {reason}"))
}

fn rfc3339(secs: i64) -> String {
    palisade_image::Timestamp::from_unix_seconds(secs)
        .map_or_else(|| "1970-01-01T00:00:00Z".to_owned(), |t| t.to_string())
}

/// Signs raw bytes as JWS/COSE expect (ECDSA `r||s`; RSASSA-PSS with salt = hash length).
pub(crate) fn sign_raw(key: &PrivateKey, alg: Alg, message: &[u8]) -> Result<Vec<u8>> {
    use signature::{SignatureEncoding as _, Signer as _};
    match (key, alg) {
        (PrivateKey::EcdsaP256(k), Alg::ES256) => {
            let s: p256::ecdsa::Signature = k.sign(message);
            Ok(s.to_bytes().to_vec())
        }
        (PrivateKey::EcdsaP384(k), Alg::ES384) => {
            let s: p384::ecdsa::Signature = k.sign(message);
            Ok(s.to_bytes().to_vec())
        }
        (PrivateKey::Rsa(k), Alg::PS256) => {
            rsa::pss::SigningKey::<sha2_next::Sha256>::new((**k).clone())
                .try_sign(message)
                .map(|s| s.to_vec())
                .map_err(sign_err)
        }
        (PrivateKey::Rsa(k), Alg::PS384) => {
            rsa::pss::SigningKey::<sha2_next::Sha384>::new((**k).clone())
                .try_sign(message)
                .map(|s| s.to_vec())
                .map_err(sign_err)
        }
        (PrivateKey::Rsa(k), Alg::PS512) => {
            rsa::pss::SigningKey::<sha2_next::Sha512>::new((**k).clone())
                .try_sign(message)
                .map(|s| s.to_vec())
                .map_err(sign_err)
        }
        (_, alg) => Err(sign_err(format!(
            "the key cannot make {} signatures",
            alg.name()
        ))),
    }
}

/// Builds a signed envelope for `target`. `chain` is leaf first; `key` must be the leaf's.
///
/// # Errors
/// The key is not the leaf's, the chain fails the certificate requirements (at
/// `signing_time`), the key type is not allowed, or signing fails.
pub fn sign_envelope(
    key: &PrivateKey,
    chain: &[Cert],
    target: &TargetArtifact,
    format: Format,
    signing_time: i64,
    expiry: Option<i64>,
) -> Result<Vec<u8>> {
    let leaf = chain
        .first()
        .ok_or_else(|| sign_err("the certificate chain is empty"))?;
    if key.public_key().spki_der() != leaf.public_key_der()? {
        return Err(sign_err(format!(
            "the private key does not belong to the first certificate of the chain ({})",
            leaf.subject()
        )));
    }
    super::verify::check_chain(chain, Some(signing_time)).map_err(sign_err)?;
    let alg = alg_for_cert(leaf).map_err(sign_err)?;
    let payload = serde_json::to_vec(&Payload {
        target_artifact: target.clone(),
    })
    .map_err(sign_err)?;
    match format {
        Format::Jws => {
            let mut crit = vec![HDR_SIGNING_SCHEME];
            if expiry.is_some() {
                crit.push(HDR_EXPIRY);
            }
            let mut protected = json!({
                "alg": alg.name(),
                "crit": crit,
                "cty": PAYLOAD_CONTENT_TYPE,
                HDR_SIGNING_SCHEME: "notary.x509",
                HDR_SIGNING_TIME: rfc3339(signing_time),
            });
            if let (Some(exp), Some(map)) = (expiry, protected.as_object_mut()) {
                map.insert(HDR_EXPIRY.into(), json!(rfc3339(exp)));
            }
            let protected_b64 =
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&protected).map_err(sign_err)?);
            let payload_b64 = URL_SAFE_NO_PAD.encode(&payload);
            let signing_input = format!("{protected_b64}.{payload_b64}");
            let sig = sign_raw(key, alg, signing_input.as_bytes())?;
            let x5c: Vec<String> = chain.iter().map(|c| STANDARD.encode(c.der())).collect();
            let env = json!({
                "payload": payload_b64,
                "protected": protected_b64,
                "header": {"x5c": x5c, HDR_SIGNING_AGENT: SIGNING_AGENT},
                "signature": URL_SAFE_NO_PAD.encode(sig),
            });
            serde_json::to_vec(&env).map_err(sign_err)
        }
        Format::Cose => {
            let mut protected = coset::HeaderBuilder::new()
                .algorithm(alg.cose())
                .add_critical_label(coset::RegisteredLabelWithPrivate::Text(
                    HDR_SIGNING_SCHEME.into(),
                ))
                .content_type(PAYLOAD_CONTENT_TYPE.into())
                .text_value(HDR_SIGNING_SCHEME.into(), Value::Text("notary.x509".into()))
                .text_value(HDR_SIGNING_TIME.into(), cbor_time(signing_time));
            if let Some(exp) = expiry {
                protected = protected
                    .add_critical_label(coset::RegisteredLabelWithPrivate::Text(HDR_EXPIRY.into()))
                    .text_value(HDR_EXPIRY.into(), cbor_time(exp));
            }
            let x5chain = Value::Array(
                chain
                    .iter()
                    .map(|c| Value::Bytes(c.der().to_vec()))
                    .collect(),
            );
            let unprotected = coset::HeaderBuilder::new()
                .value(33, x5chain)
                .text_value(HDR_SIGNING_AGENT.into(), Value::Text(SIGNING_AGENT.into()))
                .build();
            let sign1 = coset::CoseSign1Builder::new()
                .protected(protected.build())
                .unprotected(unprotected)
                .payload(payload)
                .try_create_signature(b"", |tbs| sign_raw(key, alg, tbs))?
                .build();
            sign1.to_tagged_vec().map_err(sign_err)
        }
    }
}

/// The thumbprint annotation value for `chain`: a JSON array of lowercase hex SHA-256.
#[must_use]
pub fn thumbprints(chain: &[Cert]) -> String {
    let list: Vec<String> = chain
        .iter()
        .map(|c| hex::encode(sha2::Sha256::digest(c.der())))
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// Signs `reference` (resolved once) and pushes the signature as a referrer.
///
/// # Errors
/// The image cannot be resolved or read, signing fails, a push fails.
pub fn sign_image(
    client: &RegistryClient,
    reference: &Reference,
    key: &PrivateKey,
    chain: &[Cert],
    format: Format,
    expiry: Option<i64>,
) -> Result<Signed> {
    let digest = crate::sign::resolve(client, reference)?;
    let repository = reference.repository();
    let (bytes, content_type, _) = client.get_manifest(
        repository,
        &digest.to_string(),
        media_type::ACCEPT_MANIFESTS,
    )?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Mt {
        media_type: Option<String>,
    }
    let media = serde_json::from_slice::<Mt>(&bytes)
        .ok()
        .and_then(|m| m.media_type)
        .or(content_type)
        .ok_or_else(|| sign_err(format!("{reference}: the manifest names no media type")))?;
    let target = TargetArtifact {
        media_type: media.clone(),
        digest: digest.to_string(),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
    };
    let envelope = sign_envelope(key, chain, &target, format, super::now(), expiry)?;
    let has_referrers_api = client.get_referrers(repository, &digest)?.is_some();

    let config = b"{}".to_vec();
    let config_digest = client.push_blob(repository, &config)?;
    let envelope_digest = client.push_blob(repository, &envelope)?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": if has_referrers_api { EMPTY_CONFIG_MEDIA_TYPE } else { SIGNATURE_ARTIFACT_TYPE },
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": format.media_type(),
            "digest": envelope_digest.to_string(),
            "size": envelope.len(),
        }],
        "subject": {"mediaType": media, "digest": digest.to_string(), "size": bytes.len()},
        "annotations": {
            THUMBPRINT_ANNOTATION: thumbprints(chain),
            "org.opencontainers.image.created": rfc3339(super::now()),
        },
    });
    if has_referrers_api && let Some(m) = manifest.as_object_mut() {
        m.insert("artifactType".into(), json!(SIGNATURE_ARTIFACT_TYPE));
    }
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(sign_err)?;
    let manifest_digest = Digest::sha256_of(&manifest_bytes);
    client.put_manifest(
        repository,
        &manifest_digest.to_string(),
        &manifest_bytes,
        media_type::OCI_MANIFEST,
    )?;
    let fallback_tag = if has_referrers_api {
        None
    } else {
        let tag = crate::cosign::referrers_tag(&digest);
        add_to_fallback_index(
            client,
            repository,
            &tag,
            json!({
                "mediaType": media_type::OCI_MANIFEST,
                "artifactType": SIGNATURE_ARTIFACT_TYPE,
                "digest": manifest_digest.to_string(),
                "size": manifest_bytes.len(),
                "annotations": {THUMBPRINT_ANNOTATION: thumbprints(chain)},
            }),
        )?;
        Some(tag)
    };
    Ok(Signed {
        image: format!("{}@{digest}", reference.name()),
        digest: digest.to_string(),
        signature_manifest: manifest_digest.to_string(),
        envelope: format,
        fallback_tag,
    })
}

/// Adds a descriptor to the referrers fallback index under `tag` (created if absent).
fn add_to_fallback_index(
    client: &RegistryClient,
    repository: &str,
    tag: &str,
    descriptor: serde_json::Value,
) -> Result<()> {
    let accept = &[media_type::OCI_INDEX];
    let mut manifests: Vec<serde_json::Value> =
        match client.head_manifest(repository, tag, accept)? {
            Some(desc) => {
                let (bytes, _, _) =
                    client.get_manifest(repository, &desc.digest.to_string(), accept)?;
                let index: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::registry(
                        format!("{repository}:{tag}"),
                        format!("not an OCI index: {e}"),
                    )
                })?;
                index
                    .get("manifests")
                    .and_then(|m| m.as_array())
                    .cloned()
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
    if manifests.len() >= crate::discover::MAX_REFERRERS {
        return Err(Error::registry(
            format!("{repository}:{tag}"),
            format!(
                "already lists {} referrers; refusing to add more",
                manifests.len()
            ),
        ));
    }
    manifests.push(descriptor);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).map_err(sign_err)?;
    client.put_manifest(repository, tag, &bytes, media_type::OCI_INDEX)?;
    Ok(())
}
