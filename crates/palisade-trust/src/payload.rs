//! The cosign "simple signing" payload: the JSON document a keyed or keyless cosign signature
//! covers.
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"reg.example/ns/app"},
//!              "image":{"docker-manifest-digest":"sha256:…"},
//!              "type":"cosign container image signature"},
//!  "optional":null}
//! ```
//!
//! The signature covers the payload bytes *as stored*; they are never re-serialized before a
//! check. [`Payload::parse`] bounds the size, requires the `critical` fields, and
//! [`Payload::check`] compares them with the digest and reference being verified:
//!
//! - the manifest digest must equal the digest that was resolved (and is never re-read);
//! - the identity must name the same repository (registry + path, Docker Hub normalized). cosign
//!   writes the repository only; containers/image (skopeo) writes the full reference with its
//!   tag: a tag in the identity must then equal the tag being verified, unless the image is
//!   verified by digest ([`IdentityMatch::RepoDigestOrExact`], containers/image's default),
//!   or the check is relaxed to the repository or switched off.

use std::collections::BTreeMap;

use palisade_image::{Digest, Reference};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `critical.type` of a cosign signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";
/// `critical.type` of a containers/image GPG "atomic" signature (same shape).
pub const ATOMIC_TYPE: &str = "atomic container signature";
/// Largest payload accepted (real ones are a few hundred bytes).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// A parsed simple-signing payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The signed claims.
    pub critical: Critical,
    /// Unsigned-by-policy extra claims (cosign's `-a key=value` annotations, or containers/image's
    /// `creator` and `timestamp`); `null` when absent.
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The `critical` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Critical {
    /// What image name the signer meant.
    pub identity: Identity,
    /// Which manifest was signed.
    pub image: ImageClaim,
    /// The signature type, [`COSIGN_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The image reference the signer signed for.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageClaim {
    /// The signed manifest digest, `sha256:<hex>`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// How strictly the payload's identity must match the reference being verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMatch {
    /// Same repository; a tag in the identity must equal the reference's tag when the reference
    /// has one and no digest. Accepts cosign's repository-only identities.
    #[default]
    RepoDigestOrExact,
    /// Same repository, tags ignored (for images verified by digest or retagged).
    Repository,
    /// The identity is not checked (e.g. an image copied to a mirror under another name).
    Ignore,
}

impl Payload {
    /// A cosign payload for `repository` (`registry/path`, as cosign writes it) and `digest`,
    /// with optional annotations.
    #[must_use]
    pub fn new(
        docker_reference: &str,
        digest: &Digest,
        annotations: &BTreeMap<String, String>,
    ) -> Self {
        Self {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_owned(),
                },
                image: ImageClaim {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: COSIGN_TYPE.to_owned(),
            },
            optional: if annotations.is_empty() {
                None
            } else {
                Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect(),
                )
            },
        }
    }

    /// The exact bytes to sign: compact JSON in cosign's field order.
    ///
    /// # Errors
    /// Never in practice (serializing plain strings).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Payload(format!("serializing: {e}")))
    }

    /// Parses payload bytes (untrusted: bounded, strict about the `critical` section).
    ///
    /// # Errors
    /// [`Error::Payload`] if the bytes are too large, not JSON, lack a `critical` field, or
    /// carry a `type` other than a container image signature.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::Payload(format!(
                "{} bytes, more than the {MAX_PAYLOAD_BYTES} accepted",
                bytes.len()
            )));
        }
        let payload: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::Payload(format!("not a simple-signing payload: {e}")))?;
        let kind = payload.critical.kind.as_str();
        if kind != COSIGN_TYPE && kind != ATOMIC_TYPE {
            return Err(Error::Payload(format!(
                "type {kind:?} is not {COSIGN_TYPE:?}"
            )));
        }
        Ok(payload)
    }

    /// The signed manifest digest.
    ///
    /// # Errors
    /// [`Error::Payload`] if it is not a valid digest.
    pub fn digest(&self) -> Result<Digest> {
        self.critical
            .image
            .docker_manifest_digest
            .parse()
            .map_err(|e| {
                Error::Payload(format!(
                    "docker-manifest-digest {:?}: {e}",
                    self.critical.image.docker_manifest_digest
                ))
            })
    }

    /// Checks the claims against what is being verified: the digest that `reference` was
    /// resolved to, and the reference as the user wrote it.
    ///
    /// # Errors
    /// [`Error::Payload`] naming both sides when the digest or the identity differs.
    pub fn check(&self, reference: &Reference, digest: &Digest, mode: IdentityMatch) -> Result<()> {
        let signed = self.digest()?;
        if &signed != digest {
            return Err(Error::Payload(format!(
                "signs manifest {signed}, not {digest} (the digest being verified)"
            )));
        }
        check_identity(
            &self.critical.identity.docker_reference,
            reference,
            digest,
            mode,
        )
    }

    /// The `optional` values as strings (non-string values rendered as JSON).
    #[must_use]
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.optional
            .iter()
            .flatten()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()
    }
}

/// Splits `[registry/]path[:tag][@digest]` into its normalized `registry/path`, its explicit tag
/// (no implicit `latest`) and digest.
pub(crate) fn split_identity(text: &str) -> Result<(String, Option<String>, Option<Digest>)> {
    let (rest, digest) =
        match text.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| {
                    Error::Payload(format!("identity {text:?}: invalid digest: {e}"))
                })?),
            ),
            None => (text, None),
        };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(rest[last_slash + i + 1..].to_owned()),
        ),
        None => (rest, None),
    };
    let parsed: Reference = name
        .parse()
        .map_err(|e| Error::Payload(format!("identity {text:?}: {e}")))?;
    Ok((parsed.name(), tag, digest))
}

fn check_identity(
    identity: &str,
    reference: &Reference,
    digest: &Digest,
    mode: IdentityMatch,
) -> Result<()> {
    if mode == IdentityMatch::Ignore {
        return Ok(());
    }
    let (signed_name, signed_tag, signed_digest) = split_identity(identity)?;
    let name = reference.name();
    if signed_name != name {
        return Err(Error::Payload(format!(
            "identity {identity:?} names repository {signed_name}, not {name}"
        )));
    }
    if mode == IdentityMatch::Repository || reference.digest().is_some() {
        return Ok(());
    }
    if let (Some(signed), Some(tag)) = (&signed_tag, reference.tag())
        && signed != tag
    {
        return Err(Error::Payload(format!(
            "identity {identity:?} is for tag {signed:?}, not {tag:?}"
        )));
    }
    if let Some(d) = signed_digest
        && &d != digest
    {
        return Err(Error::Payload(format!(
            "identity {identity:?} is pinned to {d}, not {digest}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"manifest")
    }

    #[test]
    fn created_payload_has_cosigns_shape_and_order() {
        let p = Payload::new("127.0.0.1:5000/app", &digest(), &BTreeMap::new());
        let text = String::from_utf8(p.to_bytes().unwrap()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/app"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
                digest()
            )
        );
        let mut a = BTreeMap::new();
        a.insert("env".to_owned(), "prod".to_owned());
        let p = Payload::new("127.0.0.1:5000/app", &digest(), &a);
        let back = Payload::parse(&p.to_bytes().unwrap()).unwrap();
        assert_eq!(back.annotations(), a);
    }

    #[test]
    fn identity_rules() {
        let d = digest();
        let p = |id: &str| Payload::new(id, &d, &BTreeMap::new());
        let r = |s: &str| s.parse::<Reference>().unwrap();
        let m = IdentityMatch::RepoDigestOrExact;
        assert!(
            p("reg:5000/app")
                .check(&r("reg:5000/app:v1"), &d, m)
                .is_ok()
        );
        assert!(
            p("reg:5000/app:v1")
                .check(&r("reg:5000/app:v1"), &d, m)
                .is_ok()
        );
        assert!(
            p("reg:5000/app:v1")
                .check(&r("reg:5000/app:v2"), &d, m)
                .is_err()
        );
        assert!(
            p("reg:5000/app:v1")
                .check(&r("reg:5000/app:v2"), &d, IdentityMatch::Repository)
                .is_ok()
        );
        let pinned = r(&format!("reg:5000/app@{d}"));
        assert!(p("reg:5000/app:v1").check(&pinned, &d, m).is_ok());
        assert!(
            p("reg:5000/other")
                .check(&r("reg:5000/app:v1"), &d, m)
                .is_err()
        );
        assert!(
            p("reg:5000/other")
                .check(&r("reg:5000/app:v1"), &d, IdentityMatch::Ignore)
                .is_ok()
        );
        assert!(
            p("debian")
                .check(&r("docker.io/library/debian:12"), &d, m)
                .is_ok()
        );
        let other = Digest::sha256_of(b"other");
        let err = p("reg:5000/app")
            .check(&r("reg:5000/app:v1"), &other, m)
            .unwrap_err();
        assert!(err.to_string().contains("not sha256:"), "{err}");
    }

    #[test]
    fn hostile_payloads_are_refused() {
        assert!(Payload::parse(b"{}").is_err());
        assert!(Payload::parse(b"not json").is_err());
        assert!(Payload::parse(&vec![b' '; MAX_PAYLOAD_BYTES + 1]).is_err());
        let wrong_type = br#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"sha256:00"},"type":"something else"},"optional":null}"#;
        assert!(
            Payload::parse(wrong_type)
                .unwrap_err()
                .to_string()
                .contains("something else")
        );
    }
}
