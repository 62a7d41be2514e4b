//! TUF public keys as Notary writes them, their key IDs, and signature checks.
//!
//! | `keytype` | `keyval.public` (base64 of) | signature `method` |
//! |---|---|---|
//! | `ecdsa` | DER SubjectPublicKeyInfo (P-256, P-384) | `ecdsa`: raw `r‖s` over SHA-256 |
//! | `ecdsa-x509` | a PEM certificate whose key signs | `ecdsa` |
//! | `ed25519` | the 32-byte key | `eddsa` |
//! | `rsa` | DER SubjectPublicKeyInfo | `rsapss` (PSS, SHA-256, salt = 32) or `rsapkcs1v15` |
//! | `rsa-x509` | a PEM certificate | `rsapss` or `rsapkcs1v15` |
//!
//! A key ID is the SHA-256 of the key's canonical JSON (`{"keytype":…,"keyval":{"private":
//! null,"public":…}}`); every key used is checked against the ID it is listed under. A
//! certificate's validity period must contain the time of verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::Digest as _;

use crate::sigalg::VerifyingKey;
use crate::x509::Cert;

/// Largest encoded public key or certificate accepted.
const MAX_PUBLIC_BYTES: usize = 16 << 10;

/// A key as listed in root.json or a delegation.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TufKey {
    pub(crate) keytype: String,
    pub(crate) keyval: KeyVal,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KeyVal {
    #[serde(default)]
    pub(crate) private: Option<serde_json::Value>,
    pub(crate) public: String,
}

/// A checked key, ready to verify signatures.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) keytype: String,
    verifying: VerifyingKey,
}

impl TufKey {
    /// The key ID Notary gives this key.
    pub(crate) fn key_id(&self) -> Result<String, String> {
        let value = serde_json::json!({
            "keytype": self.keytype,
            "keyval": {"private": null, "public": self.keyval.public},
        });
        let bytes = super::cjson::to_vec(&value)?;
        Ok(hex::encode(sha2::Sha256::digest(&bytes)))
    }

    /// Checks the listed `id` and decodes the key; `now` (seconds since the epoch) must be in
    /// an x509 key's validity period.
    pub(crate) fn load(&self, id: &str, now: i64) -> Result<Key, String> {
        if self.keyval.private.as_ref().is_some_and(|p| !p.is_null()) {
            return Err(format!(
                "key {id} carries private key material; refusing it"
            ));
        }
        if self.keyval.public.len() > MAX_PUBLIC_BYTES {
            return Err(format!("key {id} is larger than {MAX_PUBLIC_BYTES} bytes"));
        }
        let computed = self.key_id()?;
        if computed != id {
            return Err(format!(
                "key listed as {id} has the key ID {computed}: the metadata is malformed or \
                 tampered with"
            ));
        }
        let public = B64
            .decode(self.keyval.public.as_bytes())
            .map_err(|e| format!("key {id}: public key is not base64: {e}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("key {id} ({}): {e}", self.keytype);
        let verifying = match self.keytype.as_str() {
            "ecdsa" | "rsa" => VerifyingKey::from_spki_der(&public).map_err(|e| bad(&e))?,
            "ed25519" => {
                let bytes: [u8; 32] = public
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad(&"not a 32-byte Ed25519 key"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| bad(&e))?;
                VerifyingKey::Ed25519(key)
            }
            "ecdsa-x509" | "rsa-x509" => {
                let certs = Cert::from_pem_chain(&public).map_err(|e| bad(&e))?;
                let [cert] = certs.as_slice() else {
                    return Err(bad(&"expected exactly one certificate"));
                };
                if now < cert.not_before() || now > cert.not_after() {
                    return Err(bad(&format!(
                        "certificate {} is not valid now (valid from {} to {})",
                        cert.subject(),
                        utc(cert.not_before()),
                        utc(cert.not_after())
                    )));
                }
                cert.verifying_key().map_err(|e| bad(&e))?
            }
            other => return Err(format!("key {id}: unsupported key type {other:?}")),
        };
        let fits = matches!(
            (self.keytype.as_str(), &verifying),
            (
                "ecdsa" | "ecdsa-x509",
                VerifyingKey::P256(_) | VerifyingKey::P384(_)
            ) | ("rsa" | "rsa-x509", VerifyingKey::Rsa(_))
                | ("ed25519", VerifyingKey::Ed25519(_))
        );
        if !fits {
            return Err(bad(&format!("holds an {} key", verifying.kind())));
        }
        Ok(Key {
            id: id.to_owned(),
            keytype: self.keytype.clone(),
            verifying,
        })
    }
}

impl Key {
    /// The public key itself (its re-encoded SPKI DER), not its ID: a threshold counts keys,
    /// and one key may be listed under several IDs (bare and as a certificate).
    pub(crate) fn identity(&self) -> Vec<u8> {
        self.verifying.spki_der()
    }

    /// Verifies `sig` (decoded) made with `method` over `message`.
    pub(crate) fn verify(&self, method: &str, message: &[u8], sig: &[u8]) -> Result<(), String> {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        let digest = sha2::Sha256::digest(message);
        let fail = |what: &str| format!("{what} signature by key {} does not verify", self.id);
        match (method, &self.verifying) {
            ("ecdsa", VerifyingKey::P256(k)) => {
                let s = p256::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| fail("malformed ECDSA P-256"))?;
                k.verify_prehash(&digest, &s).map_err(|_| fail("ECDSA"))
            }
            ("ecdsa", VerifyingKey::P384(k)) => {
                let s = p384::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| fail("malformed ECDSA P-384"))?;
                k.verify_prehash(&digest, &s).map_err(|_| fail("ECDSA"))
            }
            ("eddsa", VerifyingKey::Ed25519(k)) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| fail("malformed Ed25519"))?;
                k.verify_strict(message, &s).map_err(|_| fail("Ed25519"))
            }
            ("rsapss", VerifyingKey::Rsa(k)) => k
                .verify(rsa::Pss::<sha2_next::Sha256>::new(), &digest, sig)
                .map_err(|_| fail("RSA-PSS")),
            ("rsapkcs1v15", VerifyingKey::Rsa(k)) => k
                .verify(rsa::Pkcs1v15Sign::new::<sha2_next::Sha256>(), &digest, sig)
                .map_err(|_| fail("RSA PKCS#1 v1.5")),
            (method, _) => Err(format!(
                "signature method {method:?} does not fit key {} ({})",
                self.id, self.keytype
            )),
        }
    }
}

fn utc(secs: i64) -> String {
    palisade_image::Timestamp::from_unix_seconds(secs)
        .map_or_else(|| secs.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecdsa_key(public: &str) -> TufKey {
        TufKey {
            keytype: "ecdsa".to_owned(),
            keyval: KeyVal {
                private: None,
                public: public.to_owned(),
            },
        }
    }

    #[test]
    fn key_id_is_sha256_of_canonical_key() {
        // The targets key of a collection made by notary 0.7.0, with the ID notary listed.
        let k = ecdsa_key(
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE+MK7pMNHnUZ5tm6f9LDMlgOfUUpYAB27OczW9+qdlmCC8wTc2jNXRg7nRnlarkDBk0wdWgBGhBkEaahn/mlCA==",
        );
        let id = "080187c959078a66a3d4173f22402060b2e9822a00e27b40155636b79e783ec5";
        assert_eq!(k.key_id().unwrap(), id);
        assert!(k.load(id, 0).is_ok());
        let wrong = k.load(&"0".repeat(64), 0).unwrap_err();
        assert!(wrong.contains("has the key ID 080187"), "{wrong}");
    }

    #[test]
    fn refuses_private_material_and_unknown_types() {
        let mut k = ecdsa_key("AAAA");
        k.keyval.private = Some(serde_json::json!("secret"));
        assert!(k.load("x", 0).unwrap_err().contains("private"));
        let mut k = ecdsa_key("AAAA");
        k.keytype = "dsa".to_owned();
        let id = k.key_id().unwrap();
        assert!(k.load(&id, 0).unwrap_err().contains("unsupported key type"));
    }
}
