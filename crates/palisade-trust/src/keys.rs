//! Keys as cosign and containers/image use them.
//!
//! - [`PublicKey`]: PEM `PUBLIC KEY` (SPKI) or SPKI DER for ECDSA P-256 / P-384, Ed25519 and RSA.
//!   [`PublicKey::verify`] checks a signature over a message the way cosign does: ECDSA signatures
//!   are ASN.1 DER, hashed with SHA-256 (P-256) or SHA-384 (P-384); Ed25519 signs the message
//!   itself; RSA is PKCS#1 v1.5 over SHA-256 unless the key was turned into a PSS key with
//!   [`PublicKey::with_rsa_scheme`].
//! - [`PrivateKey`]: generated (ECDSA P-256, cosign's default), read from cosign's encrypted PEM
//!   (`ENCRYPTED COSIGN PRIVATE KEY` before cosign 2.0.1, `ENCRYPTED SIGSTORE PRIVATE KEY` since;
//!   scrypt + NaCl secretbox, plaintext PKCS#8 DER) or from unencrypted PKCS#8 / SEC1 PEM, and
//!   written back encrypted exactly as current cosign writes it (scrypt N=65536, r=8, p=1).
//!
//! Keys and signatures are untrusted input: sizes are bounded before decoding, scrypt parameters
//! are limited to the three values go-securesystemslib accepts (so a key file cannot ask for
//! gigabytes of memory), and nothing panics on malformed bytes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::elliptic_curve::Generate as _;
use pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{Error, Result};

/// PEM label of a public key.
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
/// PEM label cosign (since v2.0.1), sigstore-rs and skopeo write for encrypted private keys.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label cosign used before v2.0.1.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// Largest PEM document accepted (an RSA-8192 key is well under this).
const MAX_PEM_BYTES: usize = 64 * 1024;
/// Largest signature accepted (RSA-8192 is 1024 bytes).
const MAX_SIGNATURE_BYTES: usize = 2048;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
const MAX_RSA_BITS: usize = 8192;
/// scrypt work factors accepted when decrypting (go-securesystemslib's set).
const ALLOWED_SCRYPT_N: [u64; 3] = [32_768, 65_536, 131_072];
/// scrypt work factor used when encrypting (go-securesystemslib "Standard", current cosign).
const SCRYPT_N: u64 = 65_536;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SALT_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// Hash used with an RSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaHash {
    /// SHA-256 (cosign's default).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// RSA signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaScheme {
    /// RSASSA-PKCS1-v1_5 (what cosign uses for RSA keys).
    Pkcs1v15(RsaHash),
    /// RSASSA-PSS; the salt length is taken from the signature (Go's `PSSSaltLengthAuto`).
    Pss(RsaHash),
}

/// A public key that can verify signatures.
#[derive(Clone)]
pub enum PublicKey {
    /// ECDSA over NIST P-256 with SHA-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// ECDSA over NIST P-384 with SHA-384.
    EcdsaP384(p384::ecdsa::VerifyingKey),
    /// Ed25519 (pure, over the message).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA with the scheme used to verify.
    Rsa(Box<rsa::PublicKey>, RsaScheme),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.algorithm(), self.fingerprint())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der() == other.spki_der()
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (the first one in `pem`).
    ///
    /// # Errors
    /// If the text holds no public key block, or the key is malformed or unsupported.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let block = find_pem(pem, &[PUBLIC_KEY_LABEL], "public key")?;
        Self::from_spki_der(&block.der)
    }

    /// Reads a DER `SubjectPublicKeyInfo`.
    ///
    /// # Errors
    /// If the structure is malformed or the algorithm or curve is unsupported.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        const WHAT: &str = "public key";
        if der.len() > MAX_PEM_BYTES {
            return Err(Error::key(WHAT, "SubjectPublicKeyInfo is too large"));
        }
        let info = spki::SubjectPublicKeyInfoRef::try_from(der)
            .map_err(|e| Error::key(WHAT, format!("malformed SubjectPublicKeyInfo: {e}")))?;
        let oid = info.algorithm.oid;
        let ec_public = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
        let ed25519 = spki::ObjectIdentifier::new_unwrap("1.3.101.112");
        let rsa_encryption = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
        let rsa_pss = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
        if oid == ec_public {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| Error::key(WHAT, format!("EC key without a named curve: {e}")))?;
            let p256_oid = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
            let p384_oid = spki::ObjectIdentifier::new_unwrap("1.3.132.0.34");
            if curve == p256_oid {
                p256::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(Self::EcdsaP256)
                    .map_err(|e| Error::key(WHAT, format!("invalid P-256 key: {e}")))
            } else if curve == p384_oid {
                p384::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(Self::EcdsaP384)
                    .map_err(|e| Error::key(WHAT, format!("invalid P-384 key: {e}")))
            } else {
                Err(Error::key(
                    WHAT,
                    format!("unsupported elliptic curve {curve} (expected P-256 or P-384)"),
                ))
            }
        } else if oid == ed25519 {
            ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map(Self::Ed25519)
                .map_err(|e| Error::key(WHAT, format!("invalid Ed25519 key: {e}")))
        } else if oid == rsa_encryption || oid == rsa_pss {
            let key = rsa::PublicKey::from_public_key_der(der)
                .map_err(|e| Error::key(WHAT, format!("invalid RSA key: {e}")))?;
            check_rsa_size(&key, WHAT)?;
            let scheme = if oid == rsa_pss {
                RsaScheme::Pss(RsaHash::Sha256)
            } else {
                RsaScheme::Pkcs1v15(RsaHash::Sha256)
            };
            Ok(Self::Rsa(Box::new(key), scheme))
        } else {
            Err(Error::key(
                WHAT,
                format!(
                    "unsupported key algorithm {oid} (expected ECDSA P-256/P-384, Ed25519 or RSA)"
                ),
            ))
        }
    }

    /// Returns the same key with another RSA scheme; other key kinds are returned unchanged.
    #[must_use]
    pub fn with_rsa_scheme(self, scheme: RsaScheme) -> Self {
        match self {
            Self::Rsa(key, _) => Self::Rsa(key, scheme),
            other => other,
        }
    }

    /// Verifies `signature` over `message`.
    ///
    /// # Errors
    /// [`Error::BadSignature`] if the signature is malformed or does not match.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        use signature::Verifier as _;
        let bad = |reason: String| Error::BadSignature {
            key: self.describe(),
            reason,
        };
        if signature.is_empty() {
            return Err(bad("the signature is empty".into()));
        }
        if signature.len() > MAX_SIGNATURE_BYTES {
            return Err(bad(format!(
                "the signature is {} bytes, more than any supported key produces",
                signature.len()
            )));
        }
        let mismatch = |_| bad("signature does not match the message".into());
        match self {
            Self::EcdsaP256(key) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|e| bad(format!("malformed ECDSA DER signature: {e}")))?;
                key.verify(message, &sig).map_err(mismatch)
            }
            Self::EcdsaP384(key) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|e| bad(format!("malformed ECDSA DER signature: {e}")))?;
                key.verify(message, &sig).map_err(mismatch)
            }
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|e| bad(format!("malformed Ed25519 signature: {e}")))?;
                key.verify(message, &sig).map_err(mismatch)
            }
            Self::Rsa(key, scheme) => verify_rsa(key, *scheme, message, signature, &bad),
        }
    }

    /// The DER `SubjectPublicKeyInfo` of this key.
    #[must_use]
    pub fn spki_der(&self) -> Vec<u8> {
        let der = match self {
            Self::EcdsaP256(k) => k.to_public_key_der(),
            Self::EcdsaP384(k) => k.to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
            Self::Rsa(k, _) => k.to_public_key_der(),
        };
        // Encoding a key we hold in memory cannot fail for these types; an empty vector is a
        // safe fallback that matches no key.
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The key as PEM `PUBLIC KEY`, with 64-character lines and a trailing newline (as cosign).
    #[must_use]
    pub fn to_pem(&self) -> String {
        encode_pem(PUBLIC_KEY_LABEL, &self.spki_der())
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo: a stable name for the key.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(self.spki_der()))
        )
    }

    /// Short algorithm name: `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-pkcs1v15`, `rsa-pss`.
    #[must_use]
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::EcdsaP256(_) => "ecdsa-p256",
            Self::EcdsaP384(_) => "ecdsa-p384",
            Self::Ed25519(_) => "ed25519",
            Self::Rsa(_, RsaScheme::Pkcs1v15(_)) => "rsa-pkcs1v15",
            Self::Rsa(_, RsaScheme::Pss(_)) => "rsa-pss",
        }
    }

    fn describe(&self) -> String {
        format!("{} key {}", self.algorithm(), self.fingerprint())
    }
}

fn check_rsa_size(key: &rsa::PublicKey, what: &str) -> Result<()> {
    use rsa::traits::PublicKeyParts as _;
    let bits = key.size() * 8;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(Error::key(
            what,
            format!("RSA key of {bits} bits (accepted: {MIN_RSA_BITS} to {MAX_RSA_BITS})"),
        ));
    }
    Ok(())
}

fn verify_rsa(
    key: &rsa::PublicKey,
    scheme: RsaScheme,
    message: &[u8],
    signature: &[u8],
    bad: &dyn Fn(String) -> Error,
) -> Result<()> {
    use sha2_next::{Sha256, Sha384, Sha512};
    use signature::Verifier as _;
    let mismatch = |_| bad("signature does not match the message".into());
    match scheme {
        RsaScheme::Pkcs1v15(hash) => {
            let sig = rsa::pkcs1v15::Signature::try_from(signature)
                .map_err(|e| bad(format!("malformed RSA signature: {e}")))?;
            let key = key.clone();
            match hash {
                RsaHash::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
                    .verify(message, &sig)
                    .map_err(mismatch),
                RsaHash::Sha384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key)
                    .verify(message, &sig)
                    .map_err(mismatch),
                RsaHash::Sha512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key)
                    .verify(message, &sig)
                    .map_err(mismatch),
            }
        }
        RsaScheme::Pss(hash) => {
            let sig = rsa::pss::Signature::try_from(signature)
                .map_err(|e| bad(format!("malformed RSA signature: {e}")))?;
            let key = key.clone();
            match hash {
                RsaHash::Sha256 => rsa::pss::VerifyingKey::<Sha256>::new_with_auto_salt_len(key)
                    .verify(message, &sig)
                    .map_err(mismatch),
                RsaHash::Sha384 => rsa::pss::VerifyingKey::<Sha384>::new_with_auto_salt_len(key)
                    .verify(message, &sig)
                    .map_err(mismatch),
                RsaHash::Sha512 => rsa::pss::VerifyingKey::<Sha512>::new_with_auto_salt_len(key)
                    .verify(message, &sig)
                    .map_err(mismatch),
            }
        }
    }
}

/// A private key that can sign.
pub enum PrivateKey {
    /// ECDSA P-256 (SHA-256, DER signatures): cosign's default.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// ECDSA P-384 (SHA-384, DER signatures).
    EcdsaP384(p384::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// RSA, PKCS#1 v1.5 with SHA-256.
    Rsa(Box<rsa::PrivateKey>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secret material.
        write!(f, "PrivateKey({:?})", self.public_key())
    }
}

impl PrivateKey {
    /// Generates a new ECDSA P-256 key from the operating system's random source.
    ///
    /// # Errors
    /// If the system random source fails.
    pub fn generate_p256() -> Result<Self> {
        let key = p256::ecdsa::SigningKey::try_generate()
            .map_err(|e| Error::key("new key", format!("system random source failed: {e}")))?;
        Ok(Self::EcdsaP256(key))
    }

    /// Reads a private key from PEM: cosign's encrypted forms (decrypted with `password`), or an
    /// unencrypted `PRIVATE KEY` (PKCS#8) / `EC PRIVATE KEY` (SEC1), for which `password` is
    /// ignored. `what` names the input in errors (e.g. the file name).
    ///
    /// # Errors
    /// If no private key block is found, the passphrase is wrong, the scrypt parameters are not
    /// ones cosign writes, or the plaintext is not a supported key.
    pub fn from_pem(pem: &str, password: &[u8], what: &str) -> Result<Self> {
        let block = find_pem(
            pem,
            &[
                SIGSTORE_PRIVATE_KEY_LABEL,
                COSIGN_PRIVATE_KEY_LABEL,
                "PRIVATE KEY",
                "EC PRIVATE KEY",
            ],
            what,
        )?;
        match block.label.as_str() {
            SIGSTORE_PRIVATE_KEY_LABEL | COSIGN_PRIVATE_KEY_LABEL => {
                let plaintext = decrypt_envelope(&block.der, password, what)?;
                Self::from_der(&plaintext, what)
            }
            _ => Self::from_der(&block.der, what),
        }
    }

    /// Reads an unencrypted PKCS#8 or SEC1 DER private key.
    ///
    /// # Errors
    /// If the DER is not a supported private key.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self> {
        if let Ok(info) = pkcs8::PrivateKeyInfoRef::try_from(der) {
            let oid = info.algorithm.oid;
            let ec_public = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
            let ed25519 = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
            let rsa_encryption = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
            if oid == ec_public {
                if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
                    return Ok(Self::EcdsaP256(key));
                }
                return p384::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(Self::EcdsaP384)
                    .map_err(|e| {
                        Error::key(what, format!("EC private key is not P-256 or P-384: {e}"))
                    });
            }
            if oid == ed25519 {
                return ed25519_dalek::SigningKey::from_pkcs8_der(der)
                    .map(|k| Self::Ed25519(Box::new(k)))
                    .map_err(|e| Error::key(what, format!("invalid Ed25519 private key: {e}")));
            }
            if oid == rsa_encryption {
                let key = rsa::PrivateKey::from_pkcs8_der(der)
                    .map_err(|e| Error::key(what, format!("invalid RSA private key: {e}")))?;
                check_rsa_size(&key.to_public_key(), what)?;
                return Ok(Self::Rsa(Box::new(key)));
            }
            return Err(Error::key(
                what,
                format!("unsupported private key algorithm {oid}"),
            ));
        }
        // SEC1 `ECPrivateKey` (what `openssl ec` writes); cosign itself refuses it, but it is
        // unambiguous, so accept it.
        if let Ok(key) = p256::SecretKey::from_sec1_der(der) {
            return Ok(Self::EcdsaP256(key.into()));
        }
        if let Ok(key) = p384::SecretKey::from_sec1_der(der) {
            return Ok(Self::EcdsaP384(key.into()));
        }
        Err(Error::key(
            what,
            "not a PKCS#8 or SEC1 private key (malformed DER)",
        ))
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            Self::EcdsaP384(k) => PublicKey::EcdsaP384(*k.verifying_key()),
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            Self::Rsa(k) => PublicKey::Rsa(
                Box::new(k.to_public_key()),
                RsaScheme::Pkcs1v15(RsaHash::Sha256),
            ),
        }
    }

    /// Signs `message` the way cosign does (ECDSA: DER over SHA-256/384; Ed25519: raw; RSA:
    /// PKCS#1 v1.5 over SHA-256). The result verifies with [`PublicKey::verify`].
    ///
    /// # Errors
    /// Only if the RSA signing primitive fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        use signature::{SignatureEncoding as _, Signer as _};
        match self {
            Self::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::EcdsaP384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(message);
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::Ed25519(k) => Ok(k.sign(message).to_bytes().to_vec()),
            Self::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<sha2_next::Sha256>::new((**k).clone());
                let sig = signer
                    .try_sign(message)
                    .map_err(|e| Error::key("RSA key", format!("signing failed: {e}")))?;
                Ok(sig.to_vec())
            }
        }
    }

    /// The key as unencrypted PKCS#8 DER.
    ///
    /// # Errors
    /// If encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            Self::EcdsaP256(k) => k.to_pkcs8_der(),
            Self::EcdsaP384(k) => k.to_pkcs8_der(),
            Self::Ed25519(k) => k.to_pkcs8_der(),
            Self::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| Error::key("private key", format!("PKCS#8 encoding failed: {e}")))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// The key encrypted as current cosign and skopeo write it: PEM `ENCRYPTED SIGSTORE PRIVATE
    /// KEY` around the JSON envelope (scrypt N=65536 r=8 p=1, 32-byte salt; NaCl secretbox with
    /// a 24-byte nonce; plaintext PKCS#8 DER).
    ///
    /// # Errors
    /// If the random source or the key derivation fails.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String> {
        let plaintext = zeroize::Zeroizing::new(self.to_pkcs8_der()?);
        let envelope = encrypt_envelope(&plaintext, password)?;
        Ok(encode_pem(SIGSTORE_PRIVATE_KEY_LABEL, &envelope))
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive_key(password: &[u8], salt: &[u8], n: u64, r: u32, p: u32) -> Result<[u8; 32]> {
    let log_n = u8::try_from(n.trailing_zeros())
        .map_err(|_| Error::key("scrypt", "invalid work factor"))?;
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|e| Error::key("scrypt", format!("invalid parameters: {e}")))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| Error::key("scrypt", format!("key derivation failed: {e}")))?;
    Ok(out)
}

fn decrypt_envelope(json: &[u8], password: &[u8], what: &str) -> Result<Vec<u8>> {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let decrypt_err = |reason: &str| Error::Decrypt {
        what: what.to_owned(),
        reason: reason.to_owned(),
    };
    let env: Envelope = serde_json::from_slice(json).map_err(|e| {
        Error::key(
            what,
            format!("encrypted key is not cosign's JSON envelope: {e}"),
        )
    })?;
    if env.kdf.name != "scrypt" {
        return Err(Error::key(
            what,
            format!(
                "unsupported key derivation {:?} (expected scrypt)",
                env.kdf.name
            ),
        ));
    }
    if env.cipher.name != "nacl/secretbox" {
        return Err(Error::key(
            what,
            format!(
                "unsupported cipher {:?} (expected nacl/secretbox)",
                env.cipher.name
            ),
        ));
    }
    let KdfParams { n, r, p } = env.kdf.params;
    if !ALLOWED_SCRYPT_N.contains(&n) || r != SCRYPT_R || p != SCRYPT_P {
        return Err(Error::key(
            what,
            format!(
                "scrypt parameters N={n} r={r} p={p} refused (accepted: N of 32768, 65536 or 131072 with r=8 p=1)"
            ),
        ));
    }
    let salt = B64
        .decode(&env.kdf.salt)
        .map_err(|e| Error::key(what, format!("salt is not base64: {e}")))?;
    let nonce = B64
        .decode(&env.cipher.nonce)
        .map_err(|e| Error::key(what, format!("nonce is not base64: {e}")))?;
    let ciphertext = B64
        .decode(&env.ciphertext)
        .map_err(|e| Error::key(what, format!("ciphertext is not base64: {e}")))?;
    if nonce.len() != NONCE_BYTES {
        return Err(Error::key(
            what,
            format!("nonce is {} bytes, expected {NONCE_BYTES}", nonce.len()),
        ));
    }
    let key = zeroize::Zeroizing::new(derive_key(password, &salt, n, r, p)?);
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&(*key).into());
    let nonce = crypto_secretbox::Nonce::from_slice(&nonce);
    cipher
        .decrypt(nonce, ciphertext.as_slice())
        .map_err(|_| decrypt_err("wrong passphrase or corrupted key (authentication failed)"))
}

fn encrypt_envelope(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let mut salt = [0u8; SALT_BYTES];
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut salt)
        .and_then(|()| getrandom::fill(&mut nonce))
        .map_err(|e| Error::key("new key", format!("system random source failed: {e}")))?;
    let key = zeroize::Zeroizing::new(derive_key(password, &salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)?);
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&(*key).into());
    let ciphertext = cipher
        .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| Error::key("new key", "encryption failed"))?;
    let env = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params: KdfParams {
                n: SCRYPT_N,
                r: SCRYPT_R,
                p: SCRYPT_P,
            },
            salt: B64.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: B64.encode(nonce),
        },
        ciphertext: B64.encode(ciphertext),
    };
    serde_json::to_vec(&env).map_err(|e| Error::key("new key", format!("envelope: {e}")))
}

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `BEGIN ` and the dashes.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// Reads every PEM block in `text` (headers such as `Proc-Type:` are skipped). `what` names the
/// input in errors. At most `max_blocks` blocks are read; more is an error.
///
/// # Errors
/// On unterminated blocks, bad base64, or too much input.
pub fn parse_pem_blocks(text: &str, what: &str, max_blocks: usize) -> Result<Vec<PemBlock>> {
    if text.len() > MAX_PEM_BYTES * max_blocks.max(1) {
        return Err(Error::pem(what, "document is too large"));
    }
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if blocks.len() >= max_blocks {
            return Err(Error::pem(
                what,
                format!("more than {max_blocks} PEM blocks"),
            ));
        }
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            let inner = inner.trim();
            if inner == end {
                closed = true;
                break;
            }
            if inner.starts_with("-----") {
                return Err(Error::pem(
                    what,
                    format!("block {label:?} is not closed by {end:?}"),
                ));
            }
            if inner.contains(':') {
                continue; // RFC 1421 header
            }
            body.push_str(inner);
        }
        if !closed {
            return Err(Error::pem(what, format!("block {label:?} has no END line")));
        }
        let der = B64
            .decode(body.as_bytes())
            .map_err(|e| Error::pem(what, format!("block {label:?}: bad base64: {e}")))?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            der,
        });
    }
    Ok(blocks)
}

fn find_pem(text: &str, labels: &[&str], what: &str) -> Result<PemBlock> {
    if text.len() > MAX_PEM_BYTES {
        return Err(Error::pem(what, "document is too large"));
    }
    let blocks = parse_pem_blocks(text, what, 16)?;
    if blocks.is_empty() {
        return Err(Error::pem(what, "no PEM block found"));
    }
    let found: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
    blocks
        .iter()
        .find(|b| labels.contains(&b.label.as_str()))
        .cloned()
        .ok_or_else(|| {
            Error::pem(
                what,
                format!("expected a block labelled {labels:?}, found {found:?}"),
            )
        })
}

/// Encodes `der` as PEM with 64-character lines.
#[must_use]
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A public key with a name (its file or a configured label), as used in verification reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedKey {
    /// A human name: the file it came from, or a label.
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

impl NamedKey {
    /// Reads a PEM public key file. A private key file is refused with a hint.
    ///
    /// # Errors
    /// If the file cannot be read or holds no usable public key.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        crate::gpg::refuse_openpgp_key(path)?;
        let name = path.display().to_string();
        let text = read_bounded(path)?;
        let key = PublicKey::from_pem(&text).map_err(|e| match e {
            Error::Pem { reason, .. } => Error::pem(&name, reason),
            Error::Key { reason, .. } => Error::key(&name, reason),
            other => other,
        })?;
        Ok(Self { name, key })
    }

    /// Reads every `*.pub` and `*.pem` file in `dir` (sorted by name, not recursive).
    ///
    /// # Errors
    /// If the directory cannot be read, a key file is invalid, or no key is found.
    pub fn from_dir(dir: &std::path::Path) -> Result<Vec<Self>> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if (ext == "pub" || ext == "pem") && path.is_file() {
                paths.push(path);
            }
            if paths.len() > 1000 {
                return Err(Error::Invalid(format!(
                    "{}: more than 1000 key files",
                    dir.display()
                )));
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: no public key files (*.pub, *.pem)",
                dir.display()
            )));
        }
        paths.iter().map(|p| Self::from_file(p)).collect()
    }
}

/// Reads a small text file (keys, certificates), refusing anything over 1 MiB.
pub(crate) fn read_bounded(path: &std::path::Path) -> Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut text = String::new();
    file.take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    if text.len() >= 1 << 20 {
        return Err(Error::pem(&path.display().to_string(), "file is too large"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_encrypted_pem() {
        let key = PrivateKey::generate_p256().unwrap();
        let pem = key.to_encrypted_pem(b"pw").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let block = find_pem(&pem, &[SIGSTORE_PRIVATE_KEY_LABEL], "t").unwrap();
        let env: serde_json::Value = serde_json::from_slice(&block.der).unwrap();
        assert_eq!(env["kdf"]["params"]["N"], 65536);
        assert_eq!(
            B64.decode(env["kdf"]["salt"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            B64.decode(env["cipher"]["nonce"].as_str().unwrap())
                .unwrap()
                .len(),
            24
        );
        let back = PrivateKey::from_pem(&pem, b"pw", "t").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(matches!(
            PrivateKey::from_pem(&pem, b"wrong", "t"),
            Err(Error::Decrypt { .. })
        ));
        let sig = back.sign(b"hello").unwrap();
        key.public_key().verify(b"hello", &sig).unwrap();
        assert!(key.public_key().verify(b"hellO", &sig).is_err());
    }

    #[test]
    fn p384_keys_verify_with_sha384() {
        let key = PrivateKey::EcdsaP384(p384::ecdsa::SigningKey::try_generate().unwrap());
        let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(public.algorithm(), "ecdsa-p384");
        let sig = key.sign(b"message").unwrap();
        public.verify(b"message", &sig).unwrap();
        assert!(public.verify(b"messagE", &sig).is_err());
        // A P-256 signature is not a P-384 one.
        let other = PrivateKey::generate_p256()
            .unwrap()
            .sign(b"message")
            .unwrap();
        assert!(public.verify(b"message", &other).is_err());
        let der = key.to_pkcs8_der().unwrap();
        assert_eq!(
            PrivateKey::from_der(&der, "t").unwrap().public_key(),
            public
        );
    }

    #[test]
    fn huge_scrypt_n_is_refused_before_deriving() {
        let env = br#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AA=="},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AA=="}"#;
        let pem = encode_pem(SIGSTORE_PRIVATE_KEY_LABEL, env);
        let err = PrivateKey::from_pem(&pem, b"", "huge.key").unwrap_err();
        assert!(err.to_string().contains("N=1073741824"), "{err}");
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(PublicKey::from_pem("nothing").is_err());
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nMAA=\n").is_err());
        assert!(PublicKey::from_spki_der(&[0x30, 0x82, 0xff, 0xff]).is_err());
        let key = PrivateKey::generate_p256().unwrap().public_key();
        assert!(key.verify(b"m", &[]).is_err());
        assert!(key.verify(b"m", &[0x30, 0x02, 0x02, 0x00]).is_err());
        assert!(key.verify(b"m", &vec![0u8; 5000]).is_err());
    }
}
