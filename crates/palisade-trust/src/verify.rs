//! Verifying an image's cosign signatures in a registry or in a local OCI image layout: keyed,
//! keyless and Sigstore bundles.
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
//!
//! A local image ([`verify_local_image`], cosign's `--local-image`) goes through the same
//! checks, with the signatures read from the layout ([`crate::discover::Layout`]) instead of a
//! registry. One difference, the same as cosign's: there is no registry name, so the signed
//! identity (`docker-reference`) cannot be matched against one; it is read, reported with each
//! accepted signature and noted, never checked. The digest, the signature, the certificate
//! identity and the required annotations are checked exactly as for a registry image.

use std::collections::BTreeMap;

use palisade_image::{Digest, Reference, RegistryClient};
use serde::Serialize;

use crate::bundle::{Artifact, Bundle, SignerPolicy, verify_bundle};
use crate::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer, VerifiedSignature, check_payload, verify_keyed,
};
use crate::discover::{
    Discovered, Layout, MAX_ARTIFACT_LAYER_BYTES, Referrer, discover, read_blob,
};
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
#[derive(Debug, Clone, Default, Serialize)]
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
    let blobs = Blobs::Registry {
        client,
        repository: reference.repository(),
    };
    let claimed = Claimed {
        reference,
        identity: options.identity,
    };
    Ok(verify_found(
        found,
        &blobs,
        claimed,
        digest,
        options,
        reference.to_string(),
    ))
}

/// Verifies the image stored in the OCI image layout at `root` (cosign's `--local-image`):
/// the image is chosen by `tag` or, without one, as [`Layout::image`] explains; its signatures
/// are read from the layout ([`Layout::discover`]) and checked as [`verify_digest`] checks
/// them, against the digest `index.json` names for the image.
///
/// The signed identity (`docker-reference`) is not matched against a name, since a layout has
/// none to match (cosign does the same): [`VerifyOptions::identity`] does not apply, each
/// accepted signature reports the identity it was signed for, and a note says it was not
/// checked. Nothing is fetched over the network.
///
/// # Errors
/// When the layout, its `index.json` or the image's manifest cannot be read, the image cannot
/// be chosen, or a signature manifest is refused as a whole. Signatures that do not verify are
/// reported in the result.
pub fn verify_local_image(
    root: &std::path::Path,
    tag: Option<&str>,
    options: &VerifyOptions,
) -> Result<Verification> {
    let layout = Layout::open(root)?;
    let image = layout.image(tag)?;
    let found = layout.discover(&image.digest)?;
    // Never read: with `IdentityMatch::Ignore` the payload check compares only the digest and
    // the annotations. It exists because the shared checks take a reference.
    let unnamed: Reference = format!("localhost/oci-layout@{}", image.digest)
        .parse()
        .map_err(|e| Error::Invalid(format!("{}: {e}", layout.name())))?;
    let claimed = Claimed {
        reference: &unnamed,
        identity: IdentityMatch::Ignore,
    };
    let mut name = layout.name().to_owned();
    if let Some(tag) = tag {
        name.push(':');
        name.push_str(tag);
    }
    let mut result = verify_found(
        found,
        &Blobs::Layout(&layout),
        claimed,
        &image.digest,
        options,
        name,
    );
    result.notes.push(
        "local image: the signed identity (docker-reference) is reported, not checked; a \
         layout has no registry name to match it against (as cosign's --local-image)"
            .to_owned(),
    );
    Ok(result)
}

/// Where blobs of signature artifacts (Sigstore bundles) are read from.
enum Blobs<'a> {
    Registry {
        client: &'a RegistryClient,
        repository: &'a str,
    },
    Layout(&'a Layout),
}

impl Blobs<'_> {
    fn read(&self, digest: &Digest, declared: u64, limit: u64, what: &str) -> Result<Vec<u8>> {
        match self {
            Self::Registry { client, repository } => {
                read_blob(client, repository, digest, declared, limit, what)
            }
            Self::Layout(layout) => layout.read_blob(digest, declared, limit, what),
        }
    }
}

/// What the signed identity is checked against, and how.
#[derive(Clone, Copy)]
struct Claimed<'a> {
    reference: &'a Reference,
    identity: IdentityMatch,
}

/// Checks everything `discover` (or a layout) found for `digest`.
fn verify_found(
    found: Discovered,
    blobs: &Blobs<'_>,
    claimed: Claimed<'_>,
    digest: &Digest,
    options: &VerifyOptions,
    name: String,
) -> Verification {
    let mut signatures = Vec::new();
    for layer in &found.signatures {
        signatures.push(report(
            layer.source.clone(),
            verify_layer(layer, claimed, digest, options),
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
        if let Some(predicate_type) = crate::attest::attestation_type(&artifact.manifest) {
            // An attestation (cosign attest), not a signature: checked by `crate::attest`.
            notes.push(format!(
                "{}: attestation ({predicate_type}), checked with the attestations",
                artifact.source
            ));
            continue;
        }
        bundles += 1;
        if bundles > MAX_BUNDLE_REFERRERS {
            notes.push(format!(
                "{}: not checked, more than {MAX_BUNDLE_REFERRERS} Sigstore bundles",
                artifact.source
            ));
            continue;
        }
        let outcome = verify_bundle_referrer(blobs, digest, artifact, layer, options);
        signatures.push(report(artifact.source.clone(), outcome));
    }
    if signatures.is_empty() {
        notes.push(format!("no signatures found for {digest}"));
    }
    Verification {
        reference: name,
        digest: digest.to_string(),
        verified: signatures.iter().any(|s| s.verified.is_some()),
        signatures,
        notes,
    }
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
    claimed: Claimed<'_>,
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
        return verify_keyless_layer(layer, claimed, digest, options, root);
    }
    if options.keys.is_empty() {
        return Err(Error::Invalid(
            "signed with a key, but no trusted key was given (--key or --keys)".into(),
        ));
    }
    let mut verified = verify_keyed(
        layer,
        &options.keys,
        claimed.reference,
        digest,
        claimed.identity,
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
    claimed: Claimed<'_>,
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
        claimed.reference,
        digest,
        claimed.identity,
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

/// The Sigstore bundle layer of a referrer, if it is one (shared with `crate::attest`).
pub(crate) fn bundle_layer(artifact: &Referrer) -> Option<&palisade_image::Descriptor> {
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

/// A DSSE bundle signs an image only when its in-toto statement is cosign's signature
/// predicate: any other statement (SLSA provenance, an SBOM, a scan) about the digest is an
/// attestation, whatever the referrer's unsigned annotations say, and never counts as a
/// signature. Read before verification, so it can only refuse.
fn refuse_attestation_as_signature(bundle: &Bundle) -> Result<()> {
    let crate::bundle::Content::Dsse(env) = &bundle.content else {
        return Ok(());
    };
    if env.payload_type != crate::dsse::IN_TOTO_PAYLOAD_TYPE {
        return Ok(());
    }
    let statement = crate::dsse::Statement::from_json(&env.payload)?;
    if statement.predicate_type == crate::attest::COSIGN_SIGN_PREDICATE_TYPE {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "Sigstore bundle: an in-toto statement of type {:?} is an attestation, not a \
         signature (cosign signs images with {}); it is checked with the attestations",
        statement.predicate_type,
        crate::attest::COSIGN_SIGN_PREDICATE_TYPE
    )))
}

fn verify_bundle_referrer(
    blobs: &Blobs<'_>,
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
    let bytes = blobs.read(
        &layer.digest,
        layer.size,
        MAX_ARTIFACT_LAYER_BYTES,
        &format!("{} layer {}", artifact.source, layer.digest),
    )?;
    let bundle = Bundle::from_json(&bytes)?;
    refuse_attestation_as_signature(&bundle)?;
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

#[cfg(test)]
mod tests {
    //! `verify_local_image` on small hand-made layouts: the two ways signatures are stored
    //! (`cosign save`'s `kind` annotations, skopeo's `sha256-<hex>.sig` tag) and the ways a
    //! layout must fail.

    use std::collections::BTreeMap;
    use std::path::Path;

    use palisade_image::{Descriptor, Digest, media_type};
    use serde_json::json;

    use super::{VerifyOptions, verify_local_image};
    use crate::cosign::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, signature_tag};
    use crate::discover::{KIND_ANNOTATION, KIND_IMAGE, KIND_SIGNATURES, REF_NAME_ANNOTATION};
    use crate::keys::{NamedKey, PrivateKey};
    use crate::payload::Payload;

    fn blob(root: &Path, bytes: &[u8], media: &str) -> Descriptor {
        let digest = Digest::sha256_of(bytes);
        let dir = root.join("blobs/sha256");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(digest.hex()), bytes).unwrap();
        Descriptor {
            media_type: media.into(),
            digest,
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }

    /// An image manifest (its content does not matter to verification, only its digest).
    fn image(root: &Path) -> Descriptor {
        let config = blob(root, b"{}", media_type::OCI_CONFIG);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": []
        });
        blob(
            root,
            manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        )
    }

    /// A `.sig` manifest with one layer: `key`'s signature over a payload for `signed`.
    fn signature(root: &Path, key: &PrivateKey, signed: &Digest) -> Descriptor {
        let payload = Payload::new("reg.example/app", signed, &BTreeMap::new())
            .to_bytes()
            .unwrap();
        let sig = key.sign(&payload).unwrap();
        let mut layer = blob(root, &payload, SIMPLE_SIGNING_MEDIA_TYPE);
        layer.annotations.insert(
            SIGNATURE_ANNOTATION.into(),
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sig),
        );
        let config = blob(root, b"{}", media_type::OCI_CONFIG);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": [layer]
        });
        blob(
            root,
            manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        )
    }

    fn with(mut d: Descriptor, k: &str, v: &str) -> Descriptor {
        d.annotations.insert(k.into(), v.into());
        d
    }

    fn write_index(root: &Path, entries: &[Descriptor]) {
        std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index =
            json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": entries});
        std::fs::write(root.join("index.json"), index.to_string()).unwrap();
    }

    fn options(key: &PrivateKey) -> VerifyOptions {
        VerifyOptions {
            keys: vec![NamedKey {
                name: "test.pub".into(),
                key: key.public_key(),
            }],
            ..VerifyOptions::default()
        }
    }

    #[test]
    fn a_cosign_save_layout_verifies_and_reports_the_unchecked_identity() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = PrivateKey::generate_p256().unwrap();
        let img = image(root);
        let sig = signature(root, &key, &img.digest);
        write_index(
            root,
            &[
                with(img.clone(), KIND_ANNOTATION, KIND_IMAGE),
                with(sig, KIND_ANNOTATION, KIND_SIGNATURES),
            ],
        );
        let v = verify_local_image(root, None, &options(&key)).unwrap();
        assert!(v.verified, "{v:#?}");
        assert_eq!(v.digest, img.digest.to_string());
        let accepted: Vec<_> = v.accepted().collect();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].identity, "reg.example/app");
        assert!(
            v.notes.iter().any(|n| n.contains("not checked")),
            "{:?}",
            v.notes
        );

        // Another key: found, refused, not verified.
        let other = PrivateKey::generate_p256().unwrap();
        let v = verify_local_image(root, None, &options(&other)).unwrap();
        assert!(!v.verified);
        assert!(
            v.signatures[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("not signed by a trusted key"),
            "{v:#?}"
        );
    }

    #[test]
    fn a_signature_for_another_digest_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = PrivateKey::generate_p256().unwrap();
        let img = image(root);
        let elsewhere = Digest::sha256_of(b"another image");
        let sig = signature(root, &key, &elsewhere);
        write_index(
            root,
            &[
                with(img.clone(), KIND_ANNOTATION, KIND_IMAGE),
                with(sig, KIND_ANNOTATION, KIND_SIGNATURES),
            ],
        );
        let v = verify_local_image(root, None, &options(&key)).unwrap();
        assert!(!v.verified, "{v:#?}");
        let reason = v.signatures[0].reason.as_deref().unwrap();
        assert!(
            reason.contains(&format!("signs manifest {elsewhere}, not {}", img.digest)),
            "{reason}"
        );
    }

    #[test]
    fn skopeo_tags_pick_the_image_and_its_sig_object() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = PrivateKey::generate_p256().unwrap();
        let img = image(root);
        let sig = signature(root, &key, &img.digest);
        // A second image with a signature of its own, under its own `.sig` tag.
        let config = blob(root, b"{\"os\":\"linux\"}", media_type::OCI_CONFIG);
        let second = blob(
            root,
            json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": config, "layers": []})
                .to_string()
                .as_bytes(),
            media_type::OCI_MANIFEST,
        );
        let second_sig = signature(root, &key, &second.digest);
        write_index(
            root,
            &[
                with(img.clone(), REF_NAME_ANNOTATION, "1.0"),
                with(sig, REF_NAME_ANNOTATION, &signature_tag(&img.digest)),
                with(second.clone(), REF_NAME_ANNOTATION, "2.0"),
                with(
                    second_sig,
                    REF_NAME_ANNOTATION,
                    &signature_tag(&second.digest),
                ),
            ],
        );
        // Two images: a tag is needed, and the error lists them.
        let err = verify_local_image(root, None, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("several images") && err.contains("1.0, 2.0"),
            "{err}"
        );
        for (tag, digest) in [("1.0", &img.digest), ("2.0", &second.digest)] {
            let v = verify_local_image(root, Some(tag), &options(&key)).unwrap();
            assert!(v.verified, "{v:#?}");
            assert_eq!(&v.digest, &digest.to_string());
            // Only its own `.sig` object was read; the other one is noted.
            assert_eq!(v.signatures.len(), 1, "{v:#?}");
            assert!(
                v.signatures[0].source.contains(&signature_tag(digest)),
                "{v:#?}"
            );
            assert!(v.notes.iter().any(|n| n.contains("another digest")));
        }
        let err = verify_local_image(root, Some("3.0"), &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no image tagged \"3.0\""), "{err}");
        let err = verify_local_image(root, Some(&signature_tag(&img.digest)), &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an image"), "{err}");
    }

    #[test]
    fn damaged_layouts_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = PrivateKey::generate_p256().unwrap();

        // Not a layout at all.
        let err = verify_local_image(root, None, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an OCI image layout"), "{err}");

        let img = image(root);
        let sig = signature(root, &key, &img.digest);
        write_index(
            root,
            &[
                with(img.clone(), REF_NAME_ANNOTATION, "1.0"),
                with(
                    sig.clone(),
                    REF_NAME_ANNOTATION,
                    &signature_tag(&img.digest),
                ),
            ],
        );
        assert!(
            verify_local_image(root, None, &options(&key))
                .unwrap()
                .verified
        );

        // The signature payload altered on disk: refused (digest), not verified.
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("blobs/sha256").join(sig.digest.hex())).unwrap(),
        )
        .unwrap();
        let payload_hex = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned();
        let path = root.join("blobs/sha256").join(&payload_hex);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] = b' ';
        std::fs::write(&path, &bytes).unwrap();
        let v = verify_local_image(root, None, &options(&key)).unwrap();
        assert!(!v.verified);
        assert!(
            v.signatures[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("does not match its digest"),
            "{v:#?}"
        );

        // The image manifest missing: an error, not a verdict.
        std::fs::remove_file(root.join("blobs/sha256").join(img.digest.hex())).unwrap();
        let err = verify_local_image(root, None, &options(&key))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&img.digest.to_string()), "{err}");
    }

    /// A DSSE bundle is an image signature only with cosign's signature predicate: the real
    /// SLSA provenance bundle (a conformance fixture) is refused as a signature, the real
    /// cosign v3 image bundle is not.
    #[test]
    fn attestations_never_count_as_signatures() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/trust-fixtures");
        let read = |rel: &str| {
            crate::bundle::Bundle::from_json(&std::fs::read(fixtures.join(rel)).unwrap()).unwrap()
        };
        let provenance =
            read("sigstore-bundles/conformance/happy-path-intoto-in-dsse-v3/bundle.sigstore.json");
        let err = super::refuse_attestation_as_signature(&provenance)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"https://slsa.dev/provenance/v1\" is an attestation, not a signature"),
            "{err}"
        );
        let signature = read("sigstore-bundles/sigstore-rs/bundle_v03.json");
        super::refuse_attestation_as_signature(&signature).unwrap();
        let cosign_v3 = read("cosign-v3-bundle-referrer/bundle-sigstore.json");
        super::refuse_attestation_as_signature(&cosign_v3).unwrap();
    }
}
