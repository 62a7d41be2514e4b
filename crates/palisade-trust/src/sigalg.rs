//! Signature checks with an explicit hash algorithm, for the places where the algorithm is
//! named by the data rather than implied by the key: X.509 `signatureAlgorithm`, Rekor SETs
//! and checkpoints, and Sigstore message signatures over a precomputed artifact digest.
//! Also the small decoding helpers (base64, PEM) shared by the keyless modules.
//!
//! Not for: key files, key generation or cosign's keyed signatures (see `keys`).

use base64::Engine as _;
use der::Decode as _;
use sha2::Digest as _;

use crate::sigstore_error::SigstoreError;

/// Largest PEM or base64 input accepted by the keyless decoders.
pub(crate) const MAX_ENCODED: usize = 1 << 20;
/// Most PEM blocks taken from one input.
pub(crate) const MAX_PEM_BLOCKS: usize = 32;

/// A hash algorithm named by a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// How a signature value is laid out and padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// ECDSA, ASN.1 DER `Ecdsa-Sig-Value`.
    Ecdsa(HashAlg),
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(HashAlg),
    /// Pure Ed25519 (message, not a digest).
    Ed25519,
}

/// A public key usable for any of the schemes above.
#[derive(Clone, Debug)]
pub(crate) enum VerifyingKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::PublicKey),
}

const OID_EC_PUBLIC_KEY: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

impl VerifyingKey {
    /// The key's DER `SubjectPublicKeyInfo`, re-encoded from the parsed key (points
    /// uncompressed): one key has one encoding whatever form it was listed in (a bare key, a
    /// certificate, a compressed point). Empty if encoding fails, which cannot happen for a
    /// key that parsed.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        use spki::EncodePublicKey as _;
        let der = match self {
            Self::P256(k) => k.to_public_key_der(),
            Self::P384(k) => k.to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
            Self::Rsa(k) => k.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// Parses a DER `SubjectPublicKeyInfo`.
    pub(crate) fn from_spki_der(der_bytes: &[u8]) -> Result<Self, SigstoreError> {
        use spki::DecodePublicKey as _;
        let info = spki::SubjectPublicKeyInfoRef::from_der(der_bytes)
            .map_err(|e| SigstoreError::malformed("public key (SPKI DER)", e))?;
        let oid = info.algorithm.oid;
        if oid == OID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| SigstoreError::malformed("EC public key parameters", e))?;
            if curve == OID_P256 {
                return p256::ecdsa::VerifyingKey::from_public_key_der(der_bytes)
                    .map(Self::P256)
                    .map_err(|e| SigstoreError::malformed("P-256 public key", e));
            }
            if curve == OID_P384 {
                return p384::ecdsa::VerifyingKey::from_public_key_der(der_bytes)
                    .map(Self::P384)
                    .map_err(|e| SigstoreError::malformed("P-384 public key", e));
            }
            return Err(SigstoreError::unsupported("EC curve", curve));
        }
        if oid == OID_ED25519 {
            return ed25519_dalek::VerifyingKey::from_public_key_der(der_bytes)
                .map(Self::Ed25519)
                .map_err(|e| SigstoreError::malformed("Ed25519 public key", e));
        }
        if oid == OID_RSA {
            let key = rsa::PublicKey::from_public_key_der(der_bytes)
                .map_err(|e| SigstoreError::malformed("RSA public key", e))?;
            return Ok(Self::Rsa(key));
        }
        Err(SigstoreError::unsupported("public key algorithm", oid))
    }

    /// The scheme cosign and Sigstore use with this key when none is named elsewhere:
    /// ECDSA P-256/SHA-256, P-384/SHA-384, RSA PKCS#1 v1.5/SHA-256, pure Ed25519.
    pub(crate) fn default_scheme(&self) -> Scheme {
        match self {
            Self::P256(_) => Scheme::Ecdsa(HashAlg::Sha256),
            Self::P384(_) => Scheme::Ecdsa(HashAlg::Sha384),
            Self::Ed25519(_) => Scheme::Ed25519,
            Self::Rsa(_) => Scheme::RsaPkcs1(HashAlg::Sha256),
        }
    }

    /// Verifies `sig` over `message` under `scheme`.
    pub(crate) fn verify(
        &self,
        scheme: Scheme,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), SigstoreError> {
        match (self, scheme) {
            (Self::Ed25519(key), Scheme::Ed25519) => {
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| SigstoreError::malformed("Ed25519 signature", "not 64 bytes"))?;
                key.verify_strict(message, &sig).map_err(|_| {
                    SigstoreError::Signature("Ed25519 signature does not verify".into())
                })
            }
            (_, Scheme::Ed25519) => Err(SigstoreError::Signature(
                "Ed25519 signature with a non-Ed25519 key".into(),
            )),
            (_, Scheme::Ecdsa(h) | Scheme::RsaPkcs1(h)) => {
                self.verify_prehashed(scheme, &h.digest(message), sig)
            }
        }
    }

    /// Verifies `sig` over a digest that was computed by the caller with the scheme's hash.
    pub(crate) fn verify_prehashed(
        &self,
        scheme: Scheme,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), SigstoreError> {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        let bad =
            |what: &str| SigstoreError::Signature(format!("{what} signature does not verify"));
        match (self, scheme) {
            (Self::P256(key), Scheme::Ecdsa(h)) => {
                check_len(h, digest)?;
                let sig = p256::ecdsa::DerSignature::from_bytes(sig)
                    .map_err(|e| SigstoreError::malformed("ECDSA signature (ASN.1 DER)", e))?;
                key.verify_prehash(digest, &sig)
                    .map_err(|_| bad("ECDSA P-256"))
            }
            (Self::P384(key), Scheme::Ecdsa(h)) => {
                check_len(h, digest)?;
                let sig = p384::ecdsa::DerSignature::from_bytes(sig)
                    .map_err(|e| SigstoreError::malformed("ECDSA signature (ASN.1 DER)", e))?;
                key.verify_prehash(digest, &sig)
                    .map_err(|_| bad("ECDSA P-384"))
            }
            (Self::Rsa(key), Scheme::RsaPkcs1(h)) => {
                check_len(h, digest)?;
                let padding = match h {
                    HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2_next::Sha256>(),
                    HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2_next::Sha384>(),
                    HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2_next::Sha512>(),
                };
                key.verify(padding, digest, sig)
                    .map_err(|_| bad("RSA PKCS#1 v1.5"))
            }
            (Self::Ed25519(_), _) => Err(SigstoreError::unsupported(
                "signature scheme",
                "Ed25519 cannot verify a precomputed digest; the artifact bytes are needed",
            )),
            (_, scheme) => Err(SigstoreError::Signature(format!(
                "signature scheme {scheme:?} does not fit the {} key",
                self.kind()
            ))),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::P256(_) => "ECDSA P-256",
            Self::P384(_) => "ECDSA P-384",
            Self::Ed25519(_) => "Ed25519",
            Self::Rsa(_) => "RSA",
        }
    }
}

fn check_len(h: HashAlg, digest: &[u8]) -> Result<(), SigstoreError> {
    if digest.len() == h.len() {
        Ok(())
    } else {
        Err(SigstoreError::malformed(
            "digest",
            format!(
                "{h:?} digest must be {} bytes, got {}",
                h.len(),
                digest.len()
            ),
        ))
    }
}

/// Decodes standard base64, tolerating embedded line breaks and surrounding whitespace.
pub(crate) fn b64(what: &'static str, s: &str) -> Result<Vec<u8>, SigstoreError> {
    if s.len() > MAX_ENCODED {
        return Err(SigstoreError::TooLarge {
            what,
            limit: MAX_ENCODED,
        });
    }
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .map_err(|e| SigstoreError::malformed(what, format!("base64: {e}")))
}

/// Returns the DER bodies of all PEM blocks with `label`, in order. Other labels are an error
/// so that a private key or garbage never passes for a certificate silently.
pub(crate) fn pem_blocks(input: &[u8], label: &str) -> Result<Vec<Vec<u8>>, SigstoreError> {
    if input.len() > MAX_ENCODED {
        return Err(SigstoreError::TooLarge {
            what: "PEM input",
            limit: MAX_ENCODED,
        });
    }
    let text = std::str::from_utf8(input)
        .map_err(|_| SigstoreError::malformed("PEM", "input is not UTF-8"))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(end_label) = after.find("-----") else {
            return Err(SigstoreError::malformed("PEM", "unterminated BEGIN line"));
        };
        let found = &after[..end_label];
        if found != label {
            return Err(SigstoreError::malformed(
                "PEM",
                format!("expected a {label} block, found {found}"),
            ));
        }
        let body_start = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            return Err(SigstoreError::malformed(
                "PEM",
                format!("missing {end_marker}"),
            ));
        };
        if out.len() >= MAX_PEM_BLOCKS {
            return Err(SigstoreError::TooLarge {
                what: "number of PEM blocks",
                limit: MAX_PEM_BLOCKS,
            });
        }
        out.push(b64("PEM body", &body_start[..body_end])?);
        rest = &body_start[body_end + end_marker.len()..];
    }
    if out.is_empty() {
        return Err(SigstoreError::malformed(
            "PEM",
            format!("no {label} block found"),
        ));
    }
    Ok(out)
}
