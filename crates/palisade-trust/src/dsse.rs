//! DSSE (Dead Simple Signing Envelope) and the in-toto statements it usually carries.
//!
//! A DSSE signature covers `PAE(payloadType, payload)` =
//! `"DSSEv1" SP len(type) SP type SP len(payload) SP payload` (lengths in ASCII decimal).
//! For images, the statement's `subject[].digest.sha256` must name the image digest; the
//! envelope's signature alone says nothing about which image it is about.

use serde::Deserialize;

use crate::sigalg::b64;
use crate::sigstore_error::SigstoreError;

/// Largest DSSE payload accepted (decoded).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Most signatures accepted in one envelope.
pub const MAX_SIGNATURES: usize = 16;
/// Most subjects accepted in one in-toto statement.
const MAX_SUBJECTS: usize = 1024;

/// The in-toto payload type.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A decoded DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `payloadType`.
    pub payload_type: String,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    /// The decoded signatures (`sig`), with their optional `keyid`.
    pub signatures: Vec<(Vec<u8>, Option<String>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEnvelope {
    pub(crate) payload: String,
    pub(crate) payload_type: String,
    #[serde(default)]
    pub(crate) signatures: Vec<RawSig>,
}

#[derive(Deserialize)]
pub(crate) struct RawSig {
    pub(crate) sig: String,
    #[serde(default)]
    pub(crate) keyid: Option<String>,
}

impl Envelope {
    /// Parses a DSSE envelope JSON (`{payload, payloadType, signatures:[{sig, keyid}]}`).
    ///
    /// # Errors
    /// Malformed JSON or base64, oversized payload, too many or no signatures.
    pub fn from_json(json: &[u8]) -> Result<Self, SigstoreError> {
        if json.len() > 2 * MAX_PAYLOAD_BYTES {
            return Err(SigstoreError::TooLarge {
                what: "DSSE envelope",
                limit: 2 * MAX_PAYLOAD_BYTES,
            });
        }
        let raw: RawEnvelope = serde_json::from_slice(json)
            .map_err(|e| SigstoreError::malformed("DSSE envelope JSON", e))?;
        Self::from_raw(raw)
    }

    pub(crate) fn from_raw(raw: RawEnvelope) -> Result<Self, SigstoreError> {
        if raw.signatures.is_empty() {
            return Err(SigstoreError::malformed("DSSE envelope", "no signatures"));
        }
        if raw.signatures.len() > MAX_SIGNATURES {
            return Err(SigstoreError::TooLarge {
                what: "DSSE signatures",
                limit: MAX_SIGNATURES,
            });
        }
        let payload = b64("DSSE payload", &raw.payload)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SigstoreError::TooLarge {
                what: "DSSE payload",
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| Ok((b64("DSSE signature", &s.sig)?, s.keyid)))
            .collect::<Result<_, SigstoreError>>()?;
        Ok(Self {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes the signatures cover.
    #[must_use]
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// DSSE pre-authentication encoding.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The parts of an in-toto statement (v0.1 or v1) that verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `_type`.
    pub statement_type: String,
    /// `predicateType`.
    pub predicate_type: String,
    /// Subject SHA-256 digests (lower-case hex), in order.
    pub subject_sha256: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(default)]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<RawSubject>,
}

#[derive(Deserialize)]
struct RawSubject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

impl Statement {
    /// Parses an in-toto statement. A subject without `name` is accepted (cosign omits it).
    ///
    /// # Errors
    /// Malformed JSON, not an in-toto statement, too many subjects.
    pub fn from_json(json: &[u8]) -> Result<Self, SigstoreError> {
        let raw: RawStatement = serde_json::from_slice(json)
            .map_err(|e| SigstoreError::malformed("in-toto statement JSON", e))?;
        if !raw
            .statement_type
            .starts_with("https://in-toto.io/Statement/")
        {
            return Err(SigstoreError::malformed(
                "in-toto statement",
                format!("unknown _type {}", raw.statement_type),
            ));
        }
        if raw.subject.len() > MAX_SUBJECTS {
            return Err(SigstoreError::TooLarge {
                what: "in-toto subjects",
                limit: MAX_SUBJECTS,
            });
        }
        Ok(Self {
            statement_type: raw.statement_type,
            predicate_type: raw.predicate_type,
            subject_sha256: raw
                .subject
                .into_iter()
                .filter_map(|s| s.digest.get("sha256").map(|d| d.to_ascii_lowercase()))
                .collect(),
        })
    }

    /// Whether a subject names this SHA-256 digest (raw bytes).
    #[must_use]
    pub fn names_sha256(&self, digest: &[u8]) -> bool {
        let want = hex::encode(digest);
        self.subject_sha256.contains(&want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE protocol description: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
