//! Finding an image's signatures in a registry, or in a local OCI image layout ([`Layout`]:
//! `cosign save` output, or skopeo's `oci:DIR:TAG` copies of the image and its `.sig` object).
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

// ---------------------------------------------------------------------------------------------
// Local OCI image layouts (`palisade verify --local-image`).

/// The `index.json` annotation `cosign save` puts on each entry to say what it is.
pub const KIND_ANNOTATION: &str = "kind";
/// `kind` of the saved image (a single-platform manifest).
pub const KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
/// `kind` of the saved image when it is an image index (multi-platform).
pub const KIND_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
/// `kind` of the saved image's signature manifest (the `.sig` object).
pub const KIND_SIGNATURES: &str = "dev.cosignproject.cosign/sigs";
/// `kind` of the saved image's attestation manifest (the `.att` object).
pub const KIND_ATTESTATIONS: &str = "dev.cosignproject.cosign/atts";
/// The OCI annotation that names an `index.json` entry (a tag, as skopeo's `oci:DIR:TAG`
/// writes it).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Most entries accepted in a layout's `index.json`.
pub const MAX_LAYOUT_ENTRIES: usize = 4096;

/// An OCI image layout directory holding an image and its cosign objects, as `cosign save`
/// writes it or as `skopeo copy … oci:DIR:TAG` builds it one tag at a time.
///
/// Two conventions are understood, alone or mixed:
///
/// - `cosign save`: every `index.json` entry carries a [`KIND_ANNOTATION`]: the image
///   ([`KIND_IMAGE`] or [`KIND_IMAGE_INDEX`]), its signatures ([`KIND_SIGNATURES`]) and
///   attestations ([`KIND_ATTESTATIONS`]), with no tags;
/// - tags ([`REF_NAME_ANNOTATION`]): the image under any tag, its signatures under cosign's
///   `sha256-<hex>.sig`, and OCI 1.1 referrers under the `sha256-<hex>` fallback index.
///
/// Every document and blob read is bounded and its digest checked; the layout is untrusted
/// input exactly as a registry is. Nothing outside `index.json` and `blobs/` is read.
#[derive(Debug, Clone)]
pub struct Layout {
    root: std::path::PathBuf,
    name: String,
    index: palisade_image::Index,
}

/// The image chosen in a layout: the digest that is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutImage {
    /// The digest of the manifest or index named by `index.json` (an index is verified as a
    /// whole, as cosign signs it; no platform is picked).
    pub digest: Digest,
    /// Its media type as `index.json` declares it.
    pub media_type: String,
    /// Its tag in the layout, if any.
    pub ref_name: Option<String>,
}

/// What an `index.json` entry is, by cosign's `kind` annotation or its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryRole {
    /// `kind` says it is the saved image.
    CosignImage,
    /// A signature manifest (`kind` sigs, or a `….sig` tag).
    Signatures,
    /// Attestations, SBOMs and other cosign attachments (`kind` atts, `.att`, `.sbom`).
    Attachment,
    /// The `sha256-<hex>` referrers fallback index.
    Referrers,
    /// Anything else: an image, by elimination.
    Other,
}

fn is_digest_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(alg, hex)| {
        matches!(alg, "sha256" | "sha512")
            && !hex.is_empty()
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn entry_role(d: &palisade_image::Descriptor) -> EntryRole {
    match d.annotations.get(KIND_ANNOTATION).map(String::as_str) {
        Some(KIND_IMAGE | KIND_IMAGE_INDEX) => return EntryRole::CosignImage,
        Some(KIND_SIGNATURES) => return EntryRole::Signatures,
        Some(KIND_ATTESTATIONS) => return EntryRole::Attachment,
        _ => {}
    }
    let Some(name) = d.annotations.get(REF_NAME_ANNOTATION) else {
        return EntryRole::Other;
    };
    let tag = tag_part(name);
    if let Some(base) = tag.strip_suffix(".sig")
        && is_digest_tag(base)
    {
        return EntryRole::Signatures;
    }
    if [".att", ".sbom"]
        .iter()
        .any(|s| tag.strip_suffix(s).is_some_and(is_digest_tag))
    {
        return EntryRole::Attachment;
    }
    if is_digest_tag(tag) {
        return EntryRole::Referrers;
    }
    EntryRole::Other
}

/// The tag of a ref name: `repo:tag` or a bare `tag`.
fn tag_part(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, t)| t)
}

fn layout_error(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{what}: {reason}"))
}

impl Layout {
    /// Opens the layout at `root`: checks the `oci-layout` marker and reads `index.json`
    /// (at most [`palisade_image::MAX_DOCUMENT_BYTES`], at most [`MAX_LAYOUT_ENTRIES`]
    /// entries).
    ///
    /// # Errors
    /// When `root` is not an OCI image layout or its `index.json` is unreadable or malformed.
    pub fn open(root: &std::path::Path) -> Result<Self> {
        let name = format!("oci-dir:{}", root.display());
        if !root.join("oci-layout").is_file() {
            return Err(layout_error(
                &name,
                "not an OCI image layout (no oci-layout file); write one with `cosign save` or \
                 `skopeo copy … oci:DIR:TAG`",
            ));
        }
        let path = root.join("index.json");
        let bytes = read_file_bounded(&path, palisade_image::MAX_DOCUMENT_BYTES)?;
        let index: palisade_image::Index = serde_json::from_slice(&bytes)
            .map_err(|e| layout_error(path.display(), format!("not an OCI image index: {e}")))?;
        if index.schema_version != 2 {
            return Err(layout_error(
                path.display(),
                format!("schemaVersion {} (expected 2)", index.schema_version),
            ));
        }
        if index.manifests.len() > MAX_LAYOUT_ENTRIES {
            return Err(layout_error(
                path.display(),
                format!(
                    "{} entries, more than the {MAX_LAYOUT_ENTRIES} accepted",
                    index.manifests.len()
                ),
            ));
        }
        Ok(Self {
            root: root.to_path_buf(),
            name,
            index,
        })
    }

    /// The layout as a source name, `oci-dir:PATH`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Chooses the image to verify. With `tag`, the entry whose ref name is `tag` (or ends in
    /// `:tag`), as `oci-dir:PATH:TAG` picks it elsewhere in Palisade. Without, the entry
    /// `cosign save` marked as the image, else the one entry that is not a signature,
    /// attestation or referrers index. Its manifest is read and its digest checked.
    ///
    /// # Errors
    /// No such tag, a tag naming a signature object, no image or several images (their tags
    /// are listed), or a manifest that is missing or does not match its digest.
    pub fn image(&self, tag: Option<&str>) -> Result<LayoutImage> {
        let entries = &self.index.manifests;
        let names = |pred: &dyn Fn(&palisade_image::Descriptor) -> bool| -> String {
            let mut names: Vec<String> = entries
                .iter()
                .filter(|d| pred(d))
                .map(|d| {
                    d.annotations
                        .get(REF_NAME_ANNOTATION)
                        .cloned()
                        .unwrap_or_else(|| d.digest.to_string())
                })
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        let chosen = if let Some(tag) = tag {
            let found = entries.iter().find(|d| {
                d.annotations
                    .get(REF_NAME_ANNOTATION)
                    .is_some_and(|n| n == tag || tag_part(n) == tag)
            });
            let Some(found) = found else {
                return Err(layout_error(
                    &self.name,
                    format!(
                        "no image tagged {tag:?} (tags: {})",
                        names(&|d| d.annotations.contains_key(REF_NAME_ANNOTATION))
                    ),
                ));
            };
            if matches!(
                entry_role(found),
                EntryRole::Signatures | EntryRole::Attachment | EntryRole::Referrers
            ) {
                return Err(layout_error(
                    &self.name,
                    format!("{tag:?} is a signature or attachment object, not an image"),
                ));
            }
            found
        } else {
            let marked: Vec<_> = entries
                .iter()
                .filter(|d| entry_role(d) == EntryRole::CosignImage)
                .collect();
            let candidates: Vec<_> = if marked.is_empty() {
                entries
                    .iter()
                    .filter(|d| entry_role(d) == EntryRole::Other)
                    .collect()
            } else {
                marked
            };
            match candidates.as_slice() {
                [one] => *one,
                [] => {
                    return Err(layout_error(
                        &self.name,
                        "holds no image (only signatures, attachments or referrers)",
                    ));
                }
                _ => {
                    return Err(layout_error(
                        &self.name,
                        format!(
                            "holds several images; pick one with PATH:TAG (images: {})",
                            names(&|d| matches!(
                                entry_role(d),
                                EntryRole::CosignImage | EntryRole::Other
                            ))
                        ),
                    ));
                }
            }
        };
        let what = format!("{} manifest {}", self.name, chosen.digest);
        // The manifest must be there and be what the index says; nothing else is checked
        // about it (an index is verified as a whole).
        self.read_blob(
            &chosen.digest,
            chosen.size,
            palisade_image::MAX_DOCUMENT_BYTES,
            &what,
        )?;
        Ok(LayoutImage {
            digest: chosen.digest.clone(),
            media_type: chosen.media_type.clone(),
            ref_name: chosen.annotations.get(REF_NAME_ANNOTATION).cloned(),
        })
    }

    /// Finds the signatures of `digest` in the layout: manifests tagged `sha256-<hex>.sig`
    /// or marked [`KIND_SIGNATURES`] by `cosign save` (whose payloads then name the digest
    /// they sign; one for another digest is refused by the payload check, with the reason),
    /// and the referrers listed by a `sha256-<hex>` fallback index whose subject is `digest`.
    ///
    /// # Errors
    /// When a signature manifest or the referrers index is refused as a whole (unreadable,
    /// not a manifest, too many layers or referrers). A single layer or referrer that cannot be
    /// read is listed in [`Discovered::refused`].
    pub fn discover(&self, digest: &Digest) -> Result<Discovered> {
        let mut found = Discovered::default();
        let sig_tag = signature_tag(digest);
        let fallback = referrers_tag(digest);
        let mut seen: Vec<&Digest> = Vec::new();
        for d in &self.index.manifests {
            let tag = d.annotations.get(REF_NAME_ANNOTATION).map(|n| tag_part(n));
            let role = entry_role(d);
            // A `.sig` tag names the digest it belongs to; a `cosign save` entry does not (its
            // payloads do, and are checked).
            let for_another = tag
                .is_some_and(|t| t != sig_tag && t.strip_suffix(".sig").is_some_and(is_digest_tag));
            if role == EntryRole::Signatures && !for_another {
                if seen.contains(&&d.digest) {
                    continue;
                }
                seen.push(&d.digest);
                let what = match tag {
                    Some(t) => format!("{}:{t}", self.name),
                    None => format!("{}@{} ({KIND_SIGNATURES})", self.name, d.digest),
                };
                let bytes =
                    self.read_blob(&d.digest, d.size, palisade_image::MAX_DOCUMENT_BYTES, &what)?;
                let manifest = SignatureManifest::parse(&bytes, &what)?;
                self.read_signature_layers(&manifest, &what, &mut found)?;
            } else if role == EntryRole::Signatures {
                found.notes.push(format!(
                    "{}: {} holds the signatures of another digest, not checked",
                    self.name,
                    tag.unwrap_or_default()
                ));
            } else if role == EntryRole::Referrers && tag == Some(fallback.as_str()) {
                self.read_referrers(d, digest, &mut found)?;
            } else if role == EntryRole::Attachment {
                found.notes.push(format!(
                    "{}: attestation or attachment {} is not a signature (attestations are listed apart)",
                    self.name,
                    tag.map_or_else(|| d.digest.to_string(), str::to_owned)
                ));
            }
        }
        Ok(found)
    }

    fn read_referrers(
        &self,
        entry: &palisade_image::Descriptor,
        digest: &Digest,
        found: &mut Discovered,
    ) -> Result<()> {
        let what = format!("{}:{}", self.name, referrers_tag(digest));
        let bytes = self.read_blob(
            &entry.digest,
            entry.size,
            palisade_image::MAX_DOCUMENT_BYTES,
            &what,
        )?;
        let index: palisade_image::Index = serde_json::from_slice(&bytes)
            .map_err(|e| layout_error(&what, format!("not an OCI index: {e}")))?;
        if index.manifests.len() > MAX_REFERRERS {
            return Err(layout_error(
                &what,
                format!(
                    "{} referrers, more than the {MAX_REFERRERS} examined",
                    index.manifests.len()
                ),
            ));
        }
        let mut kept = 0usize;
        for desc in &index.manifests {
            let source = format!("{}@{}", self.name, desc.digest);
            let read = self
                .read_blob(
                    &desc.digest,
                    desc.size,
                    palisade_image::MAX_DOCUMENT_BYTES,
                    &source,
                )
                .and_then(|bytes| SignatureManifest::parse(&bytes, &source).map(|m| (bytes, m)));
            let (bytes, manifest) = match read {
                Ok(read) => read,
                Err(e) => {
                    found.refused.push(RefusedSignature {
                        source,
                        reason: format!("referrer not read: {e}"),
                    });
                    continue;
                }
            };
            // A referrer must name its subject; one without, or for another digest, says
            // nothing about this image.
            match &manifest.subject {
                Some(subject) if &subject.digest == digest => {}
                Some(subject) => {
                    found.notes.push(format!(
                        "{source}: ignored, its subject is {} not {digest}",
                        subject.digest
                    ));
                    continue;
                }
                None => {
                    found
                        .notes
                        .push(format!("{source}: ignored, it names no subject"));
                    continue;
                }
            }
            if manifest
                .layers
                .iter()
                .any(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
            {
                self.read_signature_layers(&manifest, &source, found)?;
            } else {
                kept += bytes.len();
                if kept > MAX_REFERRER_BYTES {
                    return Err(layout_error(
                        source,
                        format!("referrer manifests exceed {MAX_REFERRER_BYTES} bytes in all"),
                    ));
                }
                found.artifacts.push(Referrer {
                    source,
                    digest: desc.digest.clone(),
                    manifest,
                    manifest_bytes: bytes,
                });
            }
        }
        Ok(())
    }

    fn read_signature_layers(
        &self,
        manifest: &SignatureManifest,
        what: &str,
        found: &mut Discovered,
    ) -> Result<()> {
        if found.signatures.len() + manifest.layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(layout_error(
                what,
                format!("more than {MAX_SIGNATURE_LAYERS} signatures in all"),
            ));
        }
        for (i, layer) in manifest.layers.iter().enumerate() {
            let source = format!("{what} layer {}", i + 1);
            if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
                found.signatures.push(SignatureLayer {
                    source,
                    media_type: layer.media_type.clone(),
                    payload: Vec::new(),
                    annotations: layer.annotations.clone(),
                });
                continue;
            }
            match self.read_blob(&layer.digest, layer.size, MAX_PAYLOAD_BYTES as u64, &source) {
                Ok(payload) => found.signatures.push(SignatureLayer {
                    source,
                    media_type: layer.media_type.clone(),
                    payload,
                    annotations: layer.annotations.clone(),
                }),
                Err(e) => found.refused.push(RefusedSignature {
                    source,
                    reason: format!("signature layer not read ({}): {e}", layer.digest),
                }),
            }
        }
        Ok(())
    }

    /// Reads a small blob of the layout: refuses a declared size over `limit` and anything
    /// but a regular file, reads at most `limit` bytes, checks the size and the digest.
    ///
    /// # Errors
    /// When the blob is missing, too large, not a regular file, of another size than
    /// declared, or does not match its digest.
    pub fn read_blob(
        &self,
        digest: &Digest,
        declared: u64,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>> {
        if declared > limit {
            return Err(layout_error(
                what,
                format!("declares {declared} bytes, more than the {limit} accepted"),
            ));
        }
        // The digest was parsed (known algorithm, hex only): the path stays under blobs/.
        let path = self
            .root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex());
        let bytes = read_file_bounded(&path, limit)
            .map_err(|e| layout_error(what, format!("blob {digest}: {e}")))?;
        if !digest.matches(&bytes) {
            return Err(layout_error(
                what,
                format!("blob does not match its digest {digest}"),
            ));
        }
        if bytes.len() as u64 != declared {
            return Err(layout_error(
                what,
                format!(
                    "blob is {} bytes, the index or manifest says {declared}",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }
}

/// Reads a regular file of at most `limit` bytes (never a FIFO or device, which could block
/// or never end).
fn read_file_bounded(path: &std::path::Path, limit: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(layout_error(
            path.display(),
            "not a regular file (devices, FIFOs and directories are not blobs)",
        ));
    }
    if meta.len() > limit {
        return Err(layout_error(
            path.display(),
            format!("{} bytes, more than the {limit} accepted", meta.len()),
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(layout_error(
            path.display(),
            format!("larger than the {limit} bytes accepted"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{EntryRole, KIND_ANNOTATION, REF_NAME_ANNOTATION, entry_role};

    fn entry(annotations: &[(&str, &str)]) -> palisade_image::Descriptor {
        palisade_image::Descriptor {
            media_type: palisade_image::media_type::OCI_MANIFEST.into(),
            digest: palisade_image::Digest::sha256_of(b"x"),
            size: 1,
            platform: None,
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn layout_entries_are_told_apart_by_kind_then_by_tag() {
        let hex = "ab".repeat(32);
        let cases = [
            (
                vec![(KIND_ANNOTATION, super::KIND_IMAGE)],
                EntryRole::CosignImage,
            ),
            (
                vec![(KIND_ANNOTATION, super::KIND_IMAGE_INDEX)],
                EntryRole::CosignImage,
            ),
            (
                vec![(KIND_ANNOTATION, super::KIND_SIGNATURES)],
                EntryRole::Signatures,
            ),
            (
                vec![(KIND_ANNOTATION, super::KIND_ATTESTATIONS)],
                EntryRole::Attachment,
            ),
            (vec![], EntryRole::Other),
            (vec![(REF_NAME_ANNOTATION, "1.0")], EntryRole::Other),
            (vec![(REF_NAME_ANNOTATION, "latest.sig")], EntryRole::Other),
            (
                vec![(REF_NAME_ANNOTATION, "sha256-zz.sig")],
                EntryRole::Other,
            ),
        ];
        for (annotations, role) in cases {
            assert_eq!(entry_role(&entry(&annotations)), role, "{annotations:?}");
        }
        let tagged = |t: String| entry_role(&entry(&[(REF_NAME_ANNOTATION, &t)]));
        assert_eq!(tagged(format!("sha256-{hex}.sig")), EntryRole::Signatures);
        assert_eq!(
            tagged(format!("reg/app:sha256-{hex}.sig")),
            EntryRole::Signatures
        );
        assert_eq!(tagged(format!("sha256-{hex}.att")), EntryRole::Attachment);
        assert_eq!(tagged(format!("sha256-{hex}.sbom")), EntryRole::Attachment);
        assert_eq!(tagged(format!("sha256-{hex}")), EntryRole::Referrers);
    }
}
