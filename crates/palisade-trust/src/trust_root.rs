//! The offline trust root for keyless verification: which Fulcio certificate authorities,
//! Rekor transparency logs, CT logs and timestamp authorities are trusted, and when.
//!
//! Two sources: a Sigstore `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`, protobuf-specs JSON names),
//! or the classic cosign files: PEM root certificates (e.g. `fulcio_v1.crt.pem`), optional PEM
//! intermediates and a Rekor public key (`rekor.pub`). Nothing here touches the network; how
//! the file got onto the machine (TUF, a package, a config map) is the caller's business.
//!
//! ```no_run
//! let json = std::fs::read("trusted_root.json").unwrap();
//! let root = palisade_trust::trust_root::TrustRoot::from_json(&json).unwrap();
//! assert!(!root.tlogs().is_empty());
//! ```

use serde::Deserialize;
use sha2::Digest as _;

use crate::sigalg::{VerifyingKey, b64, pem_blocks};
use crate::sigstore_error::SigstoreError;

/// Largest `trusted_root.json` accepted.
pub const MAX_TRUST_ROOT_BYTES: usize = 4 << 20;
/// Most entries accepted in each list of a trusted root.
const MAX_ENTRIES: usize = 64;
/// Most certificates in one CA chain of a trusted root.
const MAX_CA_CHAIN: usize = 8;

/// A half-open validity window in seconds since the Unix epoch; `None` = unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidFor {
    /// First second of validity.
    pub start: Option<i64>,
    /// Last second of validity (inclusive).
    pub end: Option<i64>,
}

impl ValidFor {
    /// Whether `t` lies in the window.
    #[must_use]
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t <= e)
    }
}

/// A transparency log (Rekor or CT) and the key that signs its promises and checkpoints.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    /// Base URL, informational only (never contacted).
    pub base_url: String,
    /// The log ID (for Rekor v1 and CT: SHA-256 of the DER public key).
    pub log_id: Vec<u8>,
    /// DER `SubjectPublicKeyInfo` of the log key.
    pub public_key_der: Vec<u8>,
    /// When the key may be used.
    pub valid_for: ValidFor,
    pub(crate) key: VerifyingKey,
}

impl TransparencyLog {
    /// Builds a log from its DER public key; the log ID is SHA-256 of that DER.
    ///
    /// # Errors
    /// The key is not a supported SPKI.
    pub fn from_spki_der(base_url: &str, der: &[u8]) -> Result<Self, SigstoreError> {
        let key = VerifyingKey::from_spki_der(der)?;
        Ok(Self {
            base_url: base_url.to_owned(),
            log_id: sha2::Sha256::digest(der).to_vec(),
            public_key_der: der.to_vec(),
            valid_for: ValidFor::default(),
            key,
        })
    }

    /// Builds a log from a PKCS#1 `RSAPublicKey` (trust roots mark these `PKCS1_RSA_*`).
    ///
    /// # Errors
    /// The key is not a valid PKCS#1 RSA public key.
    pub fn from_pkcs1_rsa_der(base_url: &str, der: &[u8]) -> Result<Self, SigstoreError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        let key = rsa::PublicKey::from_pkcs1_der(der)
            .map_err(|e| SigstoreError::malformed("PKCS#1 RSA public key", e))?;
        Ok(Self {
            base_url: base_url.to_owned(),
            log_id: sha2::Sha256::digest(der).to_vec(),
            public_key_der: der.to_vec(),
            valid_for: ValidFor::default(),
            key: VerifyingKey::Rsa(key),
        })
    }

    /// Hex of the log ID, as cosign's Rekor bundles carry it.
    #[must_use]
    pub fn log_id_hex(&self) -> String {
        hex::encode(&self.log_id)
    }
}

/// A certificate authority (Fulcio or a timestamp authority) with its chain.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// Subject as written in the trust root (or the root certificate's subject).
    pub subject: String,
    /// URI, informational only.
    pub uri: String,
    /// DER certificates, leaf-most first, root last (as in `trusted_root.json`).
    pub chain: Vec<Vec<u8>>,
    /// When this CA may have issued certificates.
    pub valid_for: ValidFor,
}

/// An offline Sigstore trust root.
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    tlogs: Vec<TransparencyLog>,
    ctlogs: Vec<TransparencyLog>,
    certificate_authorities: Vec<CertificateAuthority>,
    timestamp_authorities: Vec<CertificateAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: Option<RawLogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: Option<String>,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    subject: RawSubject,
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSubject {
    #[serde(default)]
    organization: String,
    #[serde(default)]
    common_name: String,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

impl TrustRoot {
    /// Reads a Sigstore `trusted_root.json` file (at most [`MAX_TRUST_ROOT_BYTES`]).
    ///
    /// # Errors
    /// The file cannot be read, or [`TrustRoot::from_json`] refuses it; the error names the
    /// file.
    pub fn from_file(path: &std::path::Path) -> crate::Result<Self> {
        let bytes = crate::read_trust_file(path, MAX_TRUST_ROOT_BYTES as u64)?;
        Self::from_json(&bytes).map_err(|e| {
            crate::Error::Invalid(format!("reading the trusted root {}: {e}", path.display()))
        })
    }

    /// Parses a Sigstore `trusted_root.json`.
    ///
    /// # Errors
    /// Oversized input, an unknown media type, bad base64/DER keys or certificates, bad times.
    pub fn from_json(json: &[u8]) -> Result<Self, SigstoreError> {
        if json.len() > MAX_TRUST_ROOT_BYTES {
            return Err(SigstoreError::TooLarge {
                what: "trusted root JSON",
                limit: MAX_TRUST_ROOT_BYTES,
            });
        }
        let raw: RawRoot = serde_json::from_slice(json)
            .map_err(|e| SigstoreError::malformed("trusted root JSON", e))?;
        if let Some(mt) = &raw.media_type
            && !mt.starts_with(MEDIA_TYPE_PREFIX)
        {
            return Err(SigstoreError::unsupported("trusted root media type", mt));
        }
        for (what, n) in [
            ("trusted root tlogs", raw.tlogs.len()),
            ("trusted root ctlogs", raw.ctlogs.len()),
            (
                "trusted root certificate authorities",
                raw.certificate_authorities.len(),
            ),
            (
                "trusted root timestamp authorities",
                raw.timestamp_authorities.len(),
            ),
        ] {
            if n > MAX_ENTRIES {
                return Err(SigstoreError::TooLarge {
                    what,
                    limit: MAX_ENTRIES,
                });
            }
        }
        Ok(Self {
            tlogs: raw
                .tlogs
                .into_iter()
                .filter_map(log_from_raw)
                .collect::<Result<_, _>>()?,
            ctlogs: raw
                .ctlogs
                .into_iter()
                .filter_map(log_from_raw)
                .collect::<Result<_, _>>()?,
            certificate_authorities: raw
                .certificate_authorities
                .into_iter()
                .map(ca_from_raw)
                .collect::<Result<_, _>>()?,
            timestamp_authorities: raw
                .timestamp_authorities
                .into_iter()
                .map(ca_from_raw)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Builds a trust root from cosign-classic files: PEM root certificates (each one a trust
    /// anchor), optional PEM intermediates (trusted only as links under those roots) and an
    /// optional PEM Rekor public key.
    ///
    /// # Errors
    /// Malformed PEM, DER or keys.
    pub fn from_pem(
        roots_pem: &[u8],
        intermediates_pem: Option<&[u8]>,
        rekor_public_key_pem: Option<&[u8]>,
    ) -> Result<Self, SigstoreError> {
        let mut root = Self::default();
        let intermediates = match intermediates_pem {
            Some(p) => pem_blocks(p, "CERTIFICATE")?,
            None => Vec::new(),
        };
        for der in pem_blocks(roots_pem, "CERTIFICATE")? {
            let subject = crate::x509::Cert::from_der(&der)?.subject();
            let mut chain = intermediates.clone();
            chain.push(der);
            root.certificate_authorities.push(CertificateAuthority {
                subject,
                uri: String::new(),
                chain,
                valid_for: ValidFor::default(),
            });
        }
        if let Some(pem) = rekor_public_key_pem {
            root.add_rekor_key_pem(pem)?;
        }
        Ok(root)
    }

    /// Adds a Rekor public key (PEM `PUBLIC KEY`) valid at all times.
    ///
    /// # Errors
    /// Malformed PEM or unsupported key.
    pub fn add_rekor_key_pem(&mut self, pem: &[u8]) -> Result<(), SigstoreError> {
        let blocks = pem_blocks(pem, "PUBLIC KEY")?;
        for der in blocks {
            self.tlogs.push(TransparencyLog::from_spki_der("", &der)?);
        }
        Ok(())
    }

    /// Rekor logs.
    #[must_use]
    pub fn tlogs(&self) -> &[TransparencyLog] {
        &self.tlogs
    }

    /// Certificate transparency logs (parsed; SCTs are not checked yet).
    #[must_use]
    pub fn ctlogs(&self) -> &[TransparencyLog] {
        &self.ctlogs
    }

    /// Fulcio (or BYO PKI) certificate authorities.
    #[must_use]
    pub fn certificate_authorities(&self) -> &[CertificateAuthority] {
        &self.certificate_authorities
    }

    /// RFC 3161 timestamp authorities (parsed; timestamps are not checked yet).
    #[must_use]
    pub fn timestamp_authorities(&self) -> &[CertificateAuthority] {
        &self.timestamp_authorities
    }

    /// The Rekor log with this ID.
    pub(crate) fn tlog_by_id(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }
}

fn log_from_raw(raw: RawLog) -> Option<Result<TransparencyLog, SigstoreError>> {
    // A log whose key is absent (`rawBytes` missing) is a retired placeholder: skip it.
    let raw_bytes = raw.public_key.raw_bytes?;
    Some((|| {
        let der = b64("tlog public key", &raw_bytes)?;
        let mut log = if raw.public_key.key_details.starts_with("PKCS1_RSA") {
            TransparencyLog::from_pkcs1_rsa_der(&raw.base_url, &der)?
        } else {
            TransparencyLog::from_spki_der(&raw.base_url, &der)?
        };
        if let Some(id) = raw.log_id {
            log.log_id = b64("tlog logId.keyId", &id.key_id)?;
        }
        log.valid_for = valid_for(raw.public_key.valid_for.as_ref())?;
        Ok(log)
    })())
}

fn ca_from_raw(raw: RawCa) -> Result<CertificateAuthority, SigstoreError> {
    if raw.cert_chain.certificates.is_empty() {
        return Err(SigstoreError::malformed(
            "trusted root certificate authority",
            "empty certChain",
        ));
    }
    if raw.cert_chain.certificates.len() > MAX_CA_CHAIN {
        return Err(SigstoreError::TooLarge {
            what: "trusted root CA chain",
            limit: MAX_CA_CHAIN,
        });
    }
    let chain = raw
        .cert_chain
        .certificates
        .iter()
        .map(|c| {
            let der = b64("trusted root certificate", &c.raw_bytes)?;
            crate::x509::Cert::from_der(&der)?;
            Ok(der)
        })
        .collect::<Result<Vec<_>, SigstoreError>>()?;
    let subject = match (
        raw.subject.organization.is_empty(),
        raw.subject.common_name.is_empty(),
    ) {
        (true, true) => String::new(),
        (false, true) => format!("O={}", raw.subject.organization),
        (true, false) => format!("CN={}", raw.subject.common_name),
        (false, false) => format!(
            "O={}, CN={}",
            raw.subject.organization, raw.subject.common_name
        ),
    };
    Ok(CertificateAuthority {
        subject,
        uri: raw.uri,
        chain,
        valid_for: valid_for(raw.valid_for.as_ref())?,
    })
}

fn valid_for(raw: Option<&RawValidFor>) -> Result<ValidFor, SigstoreError> {
    let Some(raw) = raw else {
        return Ok(ValidFor::default());
    };
    Ok(ValidFor {
        start: raw.start.as_deref().map(parse_rfc3339).transpose()?,
        end: raw.end.as_deref().map(parse_rfc3339).transpose()?,
    })
}

/// Parses an RFC 3339 timestamp (`2021-01-12T11:53:27Z`, fractions and offsets allowed) into
/// seconds since the Unix epoch (fractions dropped), with [`palisade_image::Timestamp`]'s rules;
/// a trusted root's timestamps are at most 40 bytes.
pub(crate) fn parse_rfc3339(s: &str) -> Result<i64, SigstoreError> {
    if s.len() > 40 {
        return Err(SigstoreError::malformed("RFC 3339 timestamp", s.to_owned()));
    }
    palisade_image::Timestamp::parse(s)
        .map(|t| t.unix_seconds())
        .map_err(|_| SigstoreError::malformed("RFC 3339 timestamp", s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").ok(), Some(0));
        assert_eq!(
            parse_rfc3339("2021-01-12T11:53:27Z").ok(),
            Some(1_610_452_407)
        );
        assert_eq!(
            parse_rfc3339("2022-12-31T23:59:59.999Z").ok(),
            Some(1_672_531_199)
        );
        assert_eq!(
            parse_rfc3339("2021-01-12T12:53:27+01:00").ok(),
            Some(1_610_452_407)
        );
        assert!(parse_rfc3339("2021-01-12 11:53").is_err());
        assert!(parse_rfc3339("2021-13-12T11:53:27Z").is_err());
        assert!(parse_rfc3339("2021-01-12T11:53:27").is_err());
        assert!(parse_rfc3339("2021-01-12T11:53:27+0\u{e9}00").is_err());
        assert!(parse_rfc3339("2021-01-12T11:5\u{e9}27Z").is_err());
        // Refused since the parser is palisade-image's: days that do not exist, offsets
        // beyond 23:59 (the hand-written parser took any day 1-31 and any two-digit offset).
        assert!(parse_rfc3339("2021-02-31T11:53:27Z").is_err());
        assert!(parse_rfc3339("2021-01-12T11:53:27+99:99").is_err());
        // Still refused: longer than 40 bytes, even if palisade-image would take it.
        assert!(parse_rfc3339("2021-01-12T11:53:27.12345678901234567890Z").is_err());
        assert!(parse_rfc3339("2021-01-12T11:53:27.1234567890123456789Z").is_ok());
    }
}
