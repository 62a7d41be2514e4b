//! Notation (Notary Project v2) signatures: verification under a trust policy and trust store,
//! and signing (JWS or COSE envelopes pushed as OCI referrers).
//!
//! A Notation signature is an OCI manifest whose `artifactType` (or, for OCI 1.0 registries,
//! `config.mediaType`) is [`SIGNATURE_ARTIFACT_TYPE`], with one layer holding the envelope
//! ([`envelope::JWS_MEDIA_TYPE`] or [`envelope::COSE_MEDIA_TYPE`]) and a `subject` naming the
//! signed manifest. They are found the way [`crate::discover`] finds every referrer: the OCI
//! referrers API, or the `sha256-<hex>` fallback index on registries without it (Debian's
//! `docker-registry` 2.8), or an OCI image layout's referrers index.
//!
//! Which statement of the trust policy applies is chosen from the artifact's repository
//! (`registry/namespace/repository`; exact scope first, then `*`); for an OCI layout, from the
//! scope the caller gives (Notation's `--scope`), else only the global statement applies.
//! Each signature found is then checked by [`verify::verify_envelope`]; the artifact is
//! verified when one signature passes every enforced validation and its authenticity was
//! checked (an `audit` signature whose authenticity failure was only logged is listed, never
//! counted). A `skip` statement verifies nothing, and Palisade reports the artifact as not
//! verified (the specification accepts it; in Palisade that is a source rule without signers).
//!
//! Not for: plugins (a signature that requires a verification plugin is refused), blob
//! signatures, online revocation checks (see [`verify`]).

pub mod envelope;
pub mod policy;
pub mod sign;
pub mod verify;

#[cfg(test)]
mod tests;

use std::path::Path;

use palisade_image::{Digest, Reference, RegistryClient, media_type};

use crate::cosign::{SignatureManifest, VerifiedSignature};
use crate::discover::{Referrer, discover};
use crate::error::{Error, Result};
use crate::verify::{SignatureReport, Verification};
use envelope::Format;
use policy::{Level, TrustPolicy, TrustStore};
use verify::{Outcome, Target, verify_envelope};

/// `artifactType` (or legacy `config.mediaType`) of a Notation signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The OCI empty config media type (config of a manifest with an `artifactType`).
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The annotation listing the SHA-256 thumbprints of the envelope's certificate chain.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";
/// Suffix of [`VerifiedSignature::kind`] for a signature the trust policy accepted although
/// its authenticity failed (logged at `audit`, or overridden to `log`): the spec's verdict is
/// kept, but its signer is not authenticated, so the gate never counts it as a signer.
pub const UNAUTHENTICATED: &str = "+unauthenticated";
/// Most Notation signatures checked for one artifact.
pub const MAX_SIGNATURES: usize = 32;

/// A trust policy and the trust store its statements name.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// A label for reports (the policy file's source name).
    pub name: String,
    /// The validated policy.
    pub policy: TrustPolicy,
    /// The trust store directory.
    pub store: TrustStore,
}

impl Verifier {
    /// Reads `trustpolicy.json` and points at the trust store directory (which must exist).
    ///
    /// # Errors
    /// An unreadable or invalid policy, or a missing store directory.
    pub fn from_files(name: &str, policy: &Path, store: &Path) -> Result<Self> {
        let policy = TrustPolicy::from_file(policy)?;
        if !store.is_dir() {
            return Err(Error::Invalid(format!(
                "Notation trust store {} is not a directory (it holds x509/ca/<name>/…)",
                store.display()
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            policy,
            store: TrustStore::new(store),
        })
    }
}

/// Whether a referrer manifest is a Notation signature.
#[must_use]
pub fn is_notation_signature(m: &SignatureManifest) -> bool {
    m.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE)
        || m.config.media_type == SIGNATURE_ARTIFACT_TYPE
}

/// Current time, seconds since the epoch.
#[must_use]
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Verifies the Notation signatures of `digest` (already resolved from `reference`) in a
/// registry.
///
/// # Errors
/// Registry failures that prevent a verdict (the manifest cannot be read, the referrers list
/// fails). Signatures that do not verify are reported in the result.
pub fn verify_registry(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    verifier: &Verifier,
    now: i64,
) -> Result<Verification> {
    let repository = reference.repository();
    let (bytes, content_type, _) = client.get_manifest(
        repository,
        &digest.to_string(),
        media_type::ACCEPT_MANIFESTS,
    )?;
    let target = target_of(&bytes, content_type.as_deref(), digest);
    let scope = format!("{}/{repository}", client.registry());
    let found = discover(client, repository, digest)?;
    let read = |d: &palisade_image::Descriptor, what: &str| {
        crate::discover::read_blob(
            client,
            repository,
            &d.digest,
            d.size,
            envelope::MAX_ENVELOPE_BYTES as u64,
            what,
        )
    };
    Ok(verify_artifacts(
        &found.artifacts,
        found.notes,
        &read,
        &target,
        Some(&scope),
        verifier,
        now,
        format!("{}/{repository}@{digest}", client.registry()),
    ))
}

/// Verifies the Notation signatures of the image tagged `tag` (or the only image) in the OCI
/// image layout at `root`, under the statement for `scope` (or the global one).
///
/// # Errors
/// The layout or the image's manifest cannot be read, or the image cannot be chosen.
pub fn verify_layout(
    root: &Path,
    tag: Option<&str>,
    scope: Option<&str>,
    verifier: &Verifier,
    now: i64,
) -> Result<Verification> {
    let layout = crate::discover::Layout::open(root)?;
    let image = layout.image(tag)?;
    let path = root
        .join("blobs")
        .join(image.digest.algorithm().name())
        .join(image.digest.hex());
    let bytes = crate::read_trust_file(&path, palisade_image::MAX_DOCUMENT_BYTES)?;
    if !image.digest.matches(&bytes) {
        return Err(Error::Invalid(format!(
            "{}: manifest blob does not match its digest {}",
            layout.name(),
            image.digest
        )));
    }
    let target = Target {
        digest: image.digest.to_string(),
        media_type: image.media_type.clone(),
        size: bytes.len() as u64,
    };
    let mut found = layout.discover(&image.digest)?;
    // Referrers stored in the layout without a fallback index (oras-go's OCI store, which
    // Notation uses, keeps the graph in index.json itself).
    let extra = layout_subject_referrers(root, &layout, &image.digest, &found.artifacts)?;
    found.artifacts.extend(extra);
    let read = |d: &palisade_image::Descriptor, what: &str| {
        layout.read_blob(&d.digest, d.size, envelope::MAX_ENVELOPE_BYTES as u64, what)
    };
    let mut name = layout.name().to_owned();
    if let Some(tag) = tag {
        name.push(':');
        name.push_str(tag);
    }
    let mut result = verify_artifacts(
        &found.artifacts,
        found.notes,
        &read,
        &target,
        scope,
        verifier,
        now,
        name,
    );
    if scope.is_none() {
        result.notes.push(
            "notation: an OCI layout has no repository; only the global (\"*\") statement \
             applies unless a scope is given"
                .into(),
        );
    }
    Ok(result)
}

/// Manifests listed in the layout's `index.json` whose `subject` is `digest`, other than
/// those already found. Each is read bounded and digest-checked; at most
/// [`crate::discover::MAX_REFERRERS`] are read.
fn layout_subject_referrers(
    root: &Path,
    layout: &crate::discover::Layout,
    digest: &Digest,
    known: &[Referrer],
) -> Result<Vec<Referrer>> {
    let bytes =
        crate::read_trust_file(&root.join("index.json"), palisade_image::MAX_DOCUMENT_BYTES)?;
    let index: palisade_image::Index = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("{}: index.json: {e}", layout.name())))?;
    let mut out = Vec::new();
    for d in index
        .manifests
        .iter()
        .filter(|d| d.media_type == media_type::OCI_MANIFEST && &d.digest != digest)
        .filter(|d| !known.iter().any(|k| k.digest == d.digest))
        .take(crate::discover::MAX_REFERRERS)
    {
        let source = format!("{}@{}", layout.name(), d.digest);
        let Ok(bytes) = layout.read_blob(
            &d.digest,
            d.size,
            palisade_image::MAX_DOCUMENT_BYTES,
            &source,
        ) else {
            continue;
        };
        let Ok(manifest) = SignatureManifest::parse(&bytes, &source) else {
            continue;
        };
        if manifest
            .subject
            .as_ref()
            .is_some_and(|s| &s.digest == digest)
            && is_notation_signature(&manifest)
        {
            out.push(Referrer {
                source,
                digest: d.digest.clone(),
                manifest,
                manifest_bytes: bytes,
            });
        }
    }
    Ok(out)
}

fn target_of(bytes: &[u8], content_type: Option<&str>, digest: &Digest) -> Target {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Mt {
        media_type: Option<String>,
    }
    let declared = serde_json::from_slice::<Mt>(bytes)
        .ok()
        .and_then(|m| m.media_type);
    Target {
        digest: digest.to_string(),
        media_type: declared
            .or_else(|| content_type.map(str::to_owned))
            .unwrap_or_default(),
        size: bytes.len() as u64,
    }
}

type ReadBlob<'a> = dyn Fn(&palisade_image::Descriptor, &str) -> Result<Vec<u8>> + 'a;

/// A [`Verification`] with these fields and the defaults for any other (fields other formats
/// add to it stay empty for Notation).
#[allow(clippy::field_reassign_with_default)]
fn verification(
    name: String,
    digest: &str,
    verified: bool,
    signatures: Vec<SignatureReport>,
    notes: Vec<String>,
) -> Verification {
    let mut v = Verification::default();
    v.reference = name;
    v.digest = digest.to_owned();
    v.verified = verified;
    v.signatures = signatures;
    v.notes = notes;
    v
}

/// Checks every Notation signature among `artifacts` (other referrers are ignored).
#[allow(clippy::too_many_arguments)]
fn verify_artifacts(
    artifacts: &[Referrer],
    discovery_notes: Vec<String>,
    read: &ReadBlob<'_>,
    target: &Target,
    scope: Option<&str>,
    verifier: &Verifier,
    now: i64,
    name: String,
) -> Verification {
    let mut notes: Vec<String> = discovery_notes;
    let mut signatures = Vec::new();
    let Some(statement) = verifier.policy.statement_for(scope) else {
        notes.push(format!(
            "notation: no statement of trust policy {} applies to {} (no matching registry \
             scope and no \"*\" statement): the artifact is untrusted",
            verifier.name,
            scope.unwrap_or("an OCI layout without a scope")
        ));
        return verification(name, &target.digest, false, signatures, notes);
    };
    if statement.level == Level::Skip {
        // The specification's `skip` accepts the artifact unverified; Palisade never calls an
        // unverified artifact verified (a `palisade verify` exit code, merged with other
        // formats, would otherwise pass an unsigned image). Accepting unsigned images is a
        // policy decision: a source rule without `signers`.
        notes.push(format!(
            "notation: trust policy statement {:?} has level skip: no signature is verified, \
             so Notation verifies nothing here (to accept these images unsigned, give their \
             source rule no signers)",
            statement.name
        ));
        return verification(name, &target.digest, false, signatures, notes);
    }
    let mut count = 0usize;
    for artifact in artifacts
        .iter()
        .filter(|a| is_notation_signature(&a.manifest))
    {
        count += 1;
        if count > MAX_SIGNATURES {
            notes.push(format!(
                "notation: {}: not checked, more than {MAX_SIGNATURES} signatures",
                artifact.source
            ));
            continue;
        }
        let outcome = check_artifact(artifact, read, target, statement, verifier, now, &mut notes);
        signatures.push(report(
            artifact,
            &outcome,
            statement,
            &target.digest,
            &mut notes,
        ));
    }
    if count == 0 {
        notes.push(format!(
            "notation: no Notation signature found for {}",
            target.digest
        ));
    }
    // A signature accepted only because its authenticity failure was logged (`audit`) is
    // listed, but verifies nothing: anyone can make one.
    let verified = signatures.iter().any(|s| {
        s.verified
            .as_ref()
            .is_some_and(|v| !v.kind.ends_with(UNAUTHENTICATED))
    });
    verification(name, &target.digest, verified, signatures, notes)
}

fn check_artifact(
    artifact: &Referrer,
    read: &ReadBlob<'_>,
    target: &Target,
    statement: &policy::Statement,
    verifier: &Verifier,
    now: i64,
    notes: &mut Vec<String>,
) -> std::result::Result<Outcome, String> {
    let m = &artifact.manifest;
    if m.artifact_type.is_some() && m.config.media_type != EMPTY_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "signature manifest has artifactType but config media type {} (the specification \
             requires {EMPTY_CONFIG_MEDIA_TYPE})",
            m.config.media_type
        ));
    }
    let [layer] = m.layers.as_slice() else {
        return Err(format!(
            "signature manifest has {} layers; the specification requires exactly one envelope",
            m.layers.len()
        ));
    };
    let format = Format::from_media_type(&layer.media_type).ok_or_else(|| {
        format!(
            "envelope media type {} is neither {} nor {}",
            layer.media_type,
            envelope::JWS_MEDIA_TYPE,
            envelope::COSE_MEDIA_TYPE
        )
    })?;
    let bytes = read(layer, &format!("{} envelope", artifact.source))
        .map_err(|e| format!("envelope not read: {e}"))?;
    let thumbprints = m.annotations.get(THUMBPRINT_ANNOTATION);
    let mut out = verify_envelope(
        format,
        &bytes,
        target,
        statement,
        &verifier.store,
        now,
        notes,
    );
    // The manifest's required thumbprint annotation must describe the envelope's chain.
    if out.verified
        && let Err(e) = check_thumbprints(format, &bytes, thumbprints.map(String::as_str))
    {
        out.verified = false;
        out.failure = Some(format!("integrity: {e}"));
    }
    Ok(out)
}

/// Compares the manifest's `io.cncf.notary.x509chain.thumbprint#S256` with the envelope's
/// chain (same certificates, same order; hex compared case-insensitively).
fn check_thumbprints(
    format: Format,
    envelope_bytes: &[u8],
    annotation: Option<&str>,
) -> std::result::Result<(), String> {
    use sha2::Digest as _;
    let annotation = annotation.ok_or_else(|| {
        format!("the signature manifest lacks the required {THUMBPRINT_ANNOTATION} annotation")
    })?;
    let listed: Vec<String> = serde_json::from_str(annotation)
        .map_err(|e| format!("{THUMBPRINT_ANNOTATION} is not a JSON string array: {e}"))?;
    let env = envelope::Envelope::parse(format, envelope_bytes)?;
    let actual: Vec<String> = env
        .certs
        .iter()
        .map(|c| hex::encode(sha2::Sha256::digest(c.der())))
        .collect();
    let same = listed.len() == actual.len()
        && listed
            .iter()
            .zip(&actual)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if same {
        Ok(())
    } else {
        Err(format!(
            "{THUMBPRINT_ANNOTATION} lists {listed:?} but the envelope's chain is {actual:?}"
        ))
    }
}

fn report(
    artifact: &Referrer,
    outcome: &std::result::Result<Outcome, String>,
    statement: &policy::Statement,
    digest: &str,
    notes: &mut Vec<String>,
) -> SignatureReport {
    let source = artifact.source.clone();
    let o = match outcome {
        Err(reason) => {
            return SignatureReport {
                source,
                verified: None,
                reason: Some(format!("notation: {reason}")),
            };
        }
        Ok(o) => o,
    };
    for s in o.logged() {
        notes.push(format!(
            "notation: {source}: {} failed, logged not enforced (level {}, statement {:?}): {}",
            s.name,
            statement.level.name(),
            statement.name,
            s.detail
        ));
    }
    if !o.verified {
        return SignatureReport {
            source,
            verified: None,
            reason: Some(format!(
                "notation (statement {:?}, level {}): {}",
                statement.name,
                statement.level.name(),
                o.failure.as_deref().unwrap_or("not verified")
            )),
        };
    }
    let leaf = o.signer.clone().unwrap_or_default();
    let unauthenticated = o
        .steps
        .iter()
        .any(|s| s.name == "authenticity" && s.result != "passed");
    let mut annotations = o.annotations.clone();
    if let Some(agent) = &o.signing_agent {
        annotations.insert("io.cncf.notary.signingAgent".into(), agent.clone());
    }
    SignatureReport {
        source,
        verified: Some(VerifiedSignature {
            kind: format!(
                "{}{}",
                match o.format {
                    Some(Format::Cose) => "notation-cose",
                    _ => "notation-jws",
                },
                if unauthenticated { UNAUTHENTICATED } else { "" }
            ),
            signer: format!("{} ({leaf})", statement.name),
            key_fingerprint: o
                .leaf_thumbprint
                .as_ref()
                .map(|t| format!("sha256:{t}"))
                .unwrap_or_default(),
            identity: String::new(),
            digest: digest.to_owned(),
            annotations,
            issuer: None,
            issued_by: o.trusted_by.clone(),
            signed_at: o.authentic_time,
            rekor_log_index: None,
        }),
        reason: None,
    }
}

/// Appends `other`'s signatures and notes (each note once) to `into`; `into` is verified when
/// either is.
pub fn merge(into: &mut Verification, other: Verification) {
    into.verified |= other.verified;
    into.signatures.extend(other.signatures);
    for note in other.notes {
        if !into.notes.contains(&note) {
            into.notes.push(note);
        }
    }
}
