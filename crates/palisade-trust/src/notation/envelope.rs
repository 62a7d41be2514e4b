//! Notation signature envelopes: JWS (flattened JSON serialization, `application/jose+json`)
//! and COSE (`COSE_Sign1_Tagged`, `application/cose`), parsed into one [`Envelope`] and checked
//! for integrity: the signed attributes the Notary Project signature specification requires,
//! the algorithm the signing certificate's key dictates, and the signature itself.
//!
//! Not for: trust (the certificate chain against a trust store, identities, timestamps, expiry
//! and revocation are [`super::verify`]'s job, after integrity holds).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coset::cbor::value::Value;
use coset::{Label, RegisteredLabel, RegisteredLabelWithPrivate, iana};
use serde::Deserialize;

use crate::sigalg::VerifyingKey;
use crate::x509::Cert;

/// Media type of a JWS envelope layer.
pub const JWS_MEDIA_TYPE: &str = "application/jose+json";
/// Media type of a COSE envelope layer.
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// The only payload content type the specification defines.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Largest envelope accepted (certificate chain and timestamp token included).
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Most certificates accepted in `x5c` / `x5chain`.
pub const MAX_CHAIN_CERTS: usize = 10;

pub(crate) const HDR_SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(crate) const HDR_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(crate) const HDR_AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(crate) const HDR_EXPIRY: &str = "io.cncf.notary.expiry";
pub(crate) const HDR_SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";
pub(crate) const HDR_TIMESTAMP: &str = "io.cncf.notary.timestampSignature";
const HDR_VERIFICATION_PLUGIN: &str = "io.cncf.notary.verificationPlugin";
const HDR_VERIFICATION_PLUGIN_MIN: &str = "io.cncf.notary.verificationPluginMinVersion";
const COSE_X5CHAIN: i64 = 33;

/// The envelope format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JWS JSON flattened serialization.
    Jws,
    /// COSE_Sign1.
    Cose,
}

impl Format {
    /// The layer media type of this format.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jws => JWS_MEDIA_TYPE,
            Self::Cose => COSE_MEDIA_TYPE,
        }
    }

    /// The format a layer media type names.
    #[must_use]
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            JWS_MEDIA_TYPE => Some(Self::Jws),
            COSE_MEDIA_TYPE => Some(Self::Cose),
            _ => None,
        }
    }
}

/// The signature algorithms of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Alg {
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// ECDSA P-521 with SHA-512.
    ES512,
}

impl Alg {
    fn from_jws(s: &str) -> Result<Self, String> {
        Ok(match s {
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "ES512" => Self::ES512,
            other => {
                return Err(format!(
                    "alg {other:?} is not one of the Notary Project algorithms \
                     (PS256/384/512, ES256/384/512)"
                ));
            }
        })
    }

    fn from_cose(a: iana::Algorithm) -> Result<Self, String> {
        Ok(match a {
            iana::Algorithm::PS256 => Self::PS256,
            iana::Algorithm::PS384 => Self::PS384,
            iana::Algorithm::PS512 => Self::PS512,
            iana::Algorithm::ES256 => Self::ES256,
            iana::Algorithm::ES384 => Self::ES384,
            iana::Algorithm::ES512 => Self::ES512,
            other => {
                return Err(format!(
                    "COSE alg {} is not one of the Notary Project algorithms",
                    other as i64
                ));
            }
        })
    }

    pub(crate) fn cose(self) -> iana::Algorithm {
        match self {
            Self::PS256 => iana::Algorithm::PS256,
            Self::PS384 => iana::Algorithm::PS384,
            Self::PS512 => iana::Algorithm::PS512,
            Self::ES256 => iana::Algorithm::ES256,
            Self::ES384 => iana::Algorithm::ES384,
            Self::ES512 => iana::Algorithm::ES512,
        }
    }

    /// The JWS `alg` name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }
}

/// The algorithm the specification's "Algorithm Selection" table assigns to a certificate's
/// public key (RSA 2048/3072/4096, EC P-256/P-384/P-521).
///
/// # Errors
/// Any other key type or size.
pub fn alg_for_cert(cert: &Cert) -> Result<Alg, String> {
    if p521_key(cert)?.is_some() {
        return Ok(Alg::ES512);
    }
    let key = cert
        .verifying_key()
        .map_err(|e| format!("signing certificate key: {e}"))?;
    match key {
        VerifyingKey::Rsa(k) => {
            use rsa::traits::PublicKeyParts as _;
            match k.size() * 8 {
                2048 => Ok(Alg::PS256),
                3072 => Ok(Alg::PS384),
                4096 => Ok(Alg::PS512),
                bits => Err(format!(
                    "RSA key of {bits} bits: the specification allows 2048, 3072 or 4096"
                )),
            }
        }
        VerifyingKey::P256(_) => Ok(Alg::ES256),
        VerifyingKey::P384(_) => Ok(Alg::ES384),
        VerifyingKey::Ed25519(_) => Err("Ed25519 keys are not allowed by the specification".into()),
    }
}

/// The certificate's key when it is ECDSA P-521 (which the shared key type does not cover),
/// `None` for any other key.
///
/// # Errors
/// A malformed key.
pub(crate) fn p521_key(cert: &Cert) -> Result<Option<p521::ecdsa::VerifyingKey>, String> {
    use der::Decode as _;
    const OID_EC: der::oid::ObjectIdentifier =
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const OID_P521: der::oid::ObjectIdentifier =
        der::oid::ObjectIdentifier::new_unwrap("1.3.132.0.35");
    let spki_der = cert
        .public_key_der()
        .map_err(|e| format!("certificate key: {e}"))?;
    let info = spki::SubjectPublicKeyInfoRef::from_der(&spki_der)
        .map_err(|e| format!("certificate key: {e}"))?;
    if info.algorithm.oid != OID_EC || info.algorithm.parameters_oid().ok() != Some(OID_P521) {
        return Ok(None);
    }
    let point = info
        .subject_public_key
        .as_bytes()
        .ok_or("P-521 public key has unused bits")?;
    p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map(Some)
        .map_err(|e| format!("P-521 public key: {e}"))
}

/// The signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SigningScheme {
    /// `notary.x509`: CA-issued certificate, unauthenticated signing time.
    #[serde(rename = "notary.x509")]
    X509,
    /// `notary.x509.signingAuthority`: authentic signing time from a signing authority.
    #[serde(rename = "notary.x509.signingAuthority")]
    SigningAuthority,
}

impl SigningScheme {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "notary.x509" => Ok(Self::X509),
            "notary.x509.signingAuthority" => Ok(Self::SigningAuthority),
            other => Err(format!(
                "signing scheme {other:?} is neither notary.x509 nor notary.x509.signingAuthority"
            )),
        }
    }

    /// Its name in the envelope.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::X509 => "notary.x509",
            Self::SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// A parsed envelope. Nothing in it is trusted until [`Envelope::verify_integrity`] passed.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// JWS or COSE.
    pub format: Format,
    /// The protected `alg`.
    pub alg: Alg,
    /// The signing scheme.
    pub signing_scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` (seconds since the epoch), required under `notary.x509`.
    pub signing_time: Option<i64>,
    /// `io.cncf.notary.authenticSigningTime`, required under `notary.x509.signingAuthority`.
    pub authentic_signing_time: Option<i64>,
    /// `io.cncf.notary.expiry`.
    pub expiry: Option<i64>,
    /// The certificate chain, leaf first.
    pub certs: Vec<Cert>,
    /// `io.cncf.notary.signingAgent` (unsigned, informational).
    pub signing_agent: Option<String>,
    /// `io.cncf.notary.timestampSignature`: an RFC 3161 token over [`Envelope::signature`].
    pub timestamp_token: Option<Vec<u8>>,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The signature value.
    pub signature: Vec<u8>,
    /// The exact bytes that were signed (JWS signing input, or COSE `Sig_structure`).
    signed_bytes: Vec<u8>,
}

/// The payload: `{"targetArtifact": <descriptor>}`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The signed artifact.
    pub target_artifact: TargetArtifact,
}

/// The descriptor of the signed artifact.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TargetArtifact {
    /// Media type of the signed manifest.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Optional artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Optional user annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJws {
    payload: String,
    protected: String,
    #[serde(default)]
    header: serde_json::Map<String, serde_json::Value>,
    signature: String,
}

/// Which critical headers a verifier understands (the plugin headers are known but refused:
/// Palisade runs no verification plugins).
const KNOWN_CRITICAL: &[&str] = &[HDR_SIGNING_SCHEME, HDR_AUTHENTIC_SIGNING_TIME, HDR_EXPIRY];

fn b64url(what: &str, s: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| format!("{what}: not base64url: {e}"))
}

fn rfc3339(what: &str, v: &serde_json::Value) -> Result<i64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what} is not an RFC 3339 string"))?;
    crate::trust_root::parse_rfc3339(s).map_err(|_| format!("{what} {s:?} is not RFC 3339"))
}

/// Checks `crit` (names of critical headers) and the presence rules shared by both formats.
fn check_critical(
    crit: &[String],
    present: &dyn Fn(&str) -> bool,
    scheme: SigningScheme,
    has_signing_time: bool,
    has_authentic_time: bool,
    has_expiry: bool,
) -> Result<(), String> {
    if !crit.iter().any(|c| c == HDR_SIGNING_SCHEME) {
        return Err(format!("crit does not list {HDR_SIGNING_SCHEME}"));
    }
    for c in crit {
        if c == HDR_VERIFICATION_PLUGIN || c == HDR_VERIFICATION_PLUGIN_MIN {
            return Err(format!(
                "the signature requires a verification plugin ({c} is critical); Palisade \
                 runs no Notation plugins"
            ));
        }
        if !KNOWN_CRITICAL.contains(&c.as_str()) {
            return Err(format!(
                "unknown critical header {c:?}: the specification requires refusing it"
            ));
        }
        if !present(c) {
            return Err(format!(
                "critical header {c:?} is listed in crit but absent"
            ));
        }
    }
    if has_expiry && !crit.iter().any(|c| c == HDR_EXPIRY) {
        return Err(format!("{HDR_EXPIRY} is present but not marked critical"));
    }
    if has_authentic_time && !crit.iter().any(|c| c == HDR_AUTHENTIC_SIGNING_TIME) {
        return Err(format!(
            "{HDR_AUTHENTIC_SIGNING_TIME} is present but not marked critical"
        ));
    }
    match scheme {
        SigningScheme::X509 => {
            if !has_signing_time {
                return Err(format!("notary.x509 requires {HDR_SIGNING_TIME}"));
            }
            if has_authentic_time {
                return Err(format!(
                    "{HDR_AUTHENTIC_SIGNING_TIME} is only valid under notary.x509.signingAuthority"
                ));
            }
        }
        SigningScheme::SigningAuthority => {
            if !has_authentic_time {
                return Err(format!(
                    "notary.x509.signingAuthority requires {HDR_AUTHENTIC_SIGNING_TIME}"
                ));
            }
            if has_signing_time {
                return Err(format!(
                    "{HDR_SIGNING_TIME} is only valid under notary.x509"
                ));
            }
        }
    }
    Ok(())
}

fn parse_chain(ders: Vec<Vec<u8>>) -> Result<Vec<Cert>, String> {
    if ders.is_empty() {
        return Err("the certificate chain (x5c) is empty".into());
    }
    if ders.len() > MAX_CHAIN_CERTS {
        return Err(format!(
            "the certificate chain has {} certificates, more than the {MAX_CHAIN_CERTS} accepted",
            ders.len()
        ));
    }
    ders.iter()
        .enumerate()
        .map(|(i, d)| Cert::from_der(d).map_err(|e| format!("x5c[{i}]: {e}")))
        .collect()
}

impl Envelope {
    /// Parses an envelope of `format`.
    ///
    /// # Errors
    /// A reason: too large, malformed, a required header missing or wrong, an unknown critical
    /// header (all integrity failures).
    pub fn parse(format: Format, bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(format!(
                "envelope is {} bytes, more than the {MAX_ENVELOPE_BYTES} accepted",
                bytes.len()
            ));
        }
        match format {
            Format::Jws => Self::parse_jws(bytes),
            Format::Cose => Self::parse_cose(bytes),
        }
    }

    fn parse_jws(bytes: &[u8]) -> Result<Self, String> {
        let raw: RawJws = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a flattened JWS JSON envelope: {e}"))?;
        let protected_bytes = b64url("protected header", &raw.protected)?;
        let protected: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&protected_bytes)
                .map_err(|e| format!("protected header is not a JSON object: {e}"))?;
        let get = |k: &str| protected.get(k);
        let alg = Alg::from_jws(
            get("alg")
                .and_then(|v| v.as_str())
                .ok_or("protected header has no alg")?,
        )?;
        let cty = get("cty").and_then(|v| v.as_str());
        if cty != Some(PAYLOAD_CONTENT_TYPE) {
            return Err(format!(
                "content type (cty) is {cty:?}, expected {PAYLOAD_CONTENT_TYPE}"
            ));
        }
        let crit: Vec<String> = match get("crit") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| "crit holds a non-string".to_owned())
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("protected header has no crit array".into()),
        };
        let scheme = SigningScheme::parse(
            get(HDR_SIGNING_SCHEME)
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("protected header has no {HDR_SIGNING_SCHEME}"))?,
        )?;
        let signing_time = get(HDR_SIGNING_TIME)
            .map(|v| rfc3339(HDR_SIGNING_TIME, v))
            .transpose()?;
        let authentic_signing_time = get(HDR_AUTHENTIC_SIGNING_TIME)
            .map(|v| rfc3339(HDR_AUTHENTIC_SIGNING_TIME, v))
            .transpose()?;
        let expiry = get(HDR_EXPIRY)
            .map(|v| rfc3339(HDR_EXPIRY, v))
            .transpose()?;
        check_critical(
            &crit,
            &|k| protected.contains_key(k),
            scheme,
            signing_time.is_some(),
            authentic_signing_time.is_some(),
            expiry.is_some(),
        )?;
        let x5c = match raw.header.get("x5c") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .take(MAX_CHAIN_CERTS + 1)
                .map(|v| {
                    let s = v.as_str().ok_or("x5c holds a non-string")?;
                    STANDARD
                        .decode(s)
                        .map_err(|e| format!("x5c entry is not base64: {e}"))
                })
                .collect::<Result<Vec<_>, String>>()?,
            _ => return Err("unprotected header has no x5c certificate chain".into()),
        };
        let certs = parse_chain(x5c)?;
        let signing_agent = raw
            .header
            .get(HDR_SIGNING_AGENT)
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let timestamp_token = match raw.header.get(HDR_TIMESTAMP) {
            None => None,
            Some(v) => Some(
                STANDARD
                    .decode(v.as_str().ok_or("timestampSignature is not a string")?)
                    .map_err(|e| format!("timestampSignature is not base64: {e}"))?,
            ),
        };
        let payload = b64url("payload", &raw.payload)?;
        let signature = b64url("signature", &raw.signature)?;
        let signed_bytes = format!("{}.{}", raw.protected, raw.payload).into_bytes();
        Ok(Self {
            format: Format::Jws,
            alg,
            signing_scheme: scheme,
            signing_time,
            authentic_signing_time,
            expiry,
            certs,
            signing_agent,
            timestamp_token,
            payload,
            signature,
            signed_bytes,
        })
    }

    fn parse_cose(bytes: &[u8]) -> Result<Self, String> {
        use coset::TaggedCborSerializable as _;
        let sign1 = coset::CoseSign1::from_tagged_slice(bytes)
            .map_err(|e| format!("not a tagged COSE_Sign1: {e}"))?;
        let ph = &sign1.protected.header;
        let alg = match &ph.alg {
            Some(RegisteredLabelWithPrivate::Assigned(a)) => Alg::from_cose(*a)?,
            Some(other) => return Err(format!("COSE alg {other:?} is not supported")),
            None => return Err("protected header has no alg".into()),
        };
        match &ph.content_type {
            Some(RegisteredLabel::Text(t)) if t == PAYLOAD_CONTENT_TYPE => {}
            other => {
                return Err(format!(
                    "content type is {other:?}, expected {PAYLOAD_CONTENT_TYPE}"
                ));
            }
        }
        let mut crit = Vec::new();
        for c in &ph.crit {
            match c {
                RegisteredLabelWithPrivate::Text(t) => crit.push(t.clone()),
                other => {
                    return Err(format!(
                        "crit lists {other:?}; only the Notary Project's text labels are allowed"
                    ));
                }
            }
        }
        let text = |h: &coset::Header, k: &str| -> Option<Value> {
            h.rest.iter().find_map(|(l, v)| match l {
                Label::Text(t) if t == k => Some(v.clone()),
                _ => None,
            })
        };
        let scheme = match text(ph, HDR_SIGNING_SCHEME) {
            Some(Value::Text(s)) => SigningScheme::parse(&s)?,
            _ => return Err(format!("protected header has no {HDR_SIGNING_SCHEME} text")),
        };
        let time = |k: &str| -> Result<Option<i64>, String> {
            match text(ph, k) {
                None => Ok(None),
                Some(Value::Tag(1, inner)) => match *inner {
                    Value::Integer(i) => i64::try_from(i128::from(i))
                        .map(Some)
                        .map_err(|_| format!("{k} is out of range")),
                    _ => Err(format!("{k} is not an integer epoch time")),
                },
                Some(_) => Err(format!("{k} is not a CBOR date/time (tag 1)")),
            }
        };
        let signing_time = time(HDR_SIGNING_TIME)?;
        let authentic_signing_time = time(HDR_AUTHENTIC_SIGNING_TIME)?;
        let expiry = time(HDR_EXPIRY)?;
        check_critical(
            &crit,
            &|k| text(ph, k).is_some(),
            scheme,
            signing_time.is_some(),
            authentic_signing_time.is_some(),
            expiry.is_some(),
        )?;
        let uh = &sign1.unprotected;
        let x5 = uh
            .rest
            .iter()
            .chain(ph.rest.iter())
            .find_map(|(l, v)| (*l == Label::Int(COSE_X5CHAIN)).then_some(v));
        let ders = match x5 {
            Some(Value::Bytes(b)) => vec![b.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .take(MAX_CHAIN_CERTS + 1)
                .map(|v| match v {
                    Value::Bytes(b) => Ok(b.clone()),
                    _ => Err("x5chain holds a non-bstr".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("no x5chain (label 33) certificate chain".into()),
        };
        let certs = parse_chain(ders)?;
        let signing_agent = match text(uh, HDR_SIGNING_AGENT) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        };
        let timestamp_token = match text(uh, HDR_TIMESTAMP) {
            None => None,
            Some(Value::Bytes(b)) => Some(b),
            Some(_) => return Err("timestampSignature is not a bstr".into()),
        };
        let payload = sign1
            .payload
            .clone()
            .ok_or("detached COSE payload: the payload must be embedded")?;
        let signed_bytes = sign1.tbs_data(b"");
        Ok(Self {
            format: Format::Cose,
            alg,
            signing_scheme: scheme,
            signing_time,
            authentic_signing_time,
            expiry,
            certs,
            signing_agent,
            timestamp_token,
            payload,
            signature: sign1.signature,
            signed_bytes,
        })
    }

    /// The signing certificate.
    ///
    /// # Errors
    /// Never for a parsed envelope (the chain is not empty); kept fallible for safety.
    pub fn leaf(&self) -> Result<&Cert, String> {
        self.certs
            .first()
            .ok_or_else(|| "the certificate chain is empty".to_owned())
    }

    /// Integrity: `alg` is the one the signing certificate's key dictates, and the signature
    /// verifies under that key over the exact signed bytes. Returns the parsed payload.
    ///
    /// # Errors
    /// A reason naming the mismatch.
    pub fn verify_integrity(&self) -> Result<Payload, String> {
        let leaf = self.leaf()?;
        let expected = alg_for_cert(leaf)?;
        if expected != self.alg {
            return Err(format!(
                "alg {} does not match the signing certificate's key, which requires {}",
                self.alg.name(),
                expected.name()
            ));
        }
        if let Some(key) = p521_key(leaf)? {
            use p521::ecdsa::signature::Verifier as _;
            let sig = p521::ecdsa::Signature::from_slice(&self.signature)
                .map_err(|_| "ES512 signature is not 132 bytes r||s".to_owned())?;
            key.verify(&self.signed_bytes, &sig)
                .map_err(|_| "ES512 signature does not verify".to_owned())?;
        } else {
            let key = leaf
                .verifying_key()
                .map_err(|e| format!("signing certificate key: {e}"))?;
            verify_raw(&key, self.alg, &self.signed_bytes, &self.signature)?;
        }
        let payload: Payload = serde_json::from_slice(&self.payload)
            .map_err(|e| format!("payload is not a Notary Project payload: {e}"))?;
        Ok(payload)
    }
}

/// Verifies a JWS/COSE signature value (RSASSA-PSS with salt = hash length, or ECDSA `r||s`).
pub(crate) fn verify_raw(
    key: &VerifyingKey,
    alg: Alg,
    message: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    use signature::Verifier as _;
    let bad = || format!("{} signature does not verify", alg.name());
    match (key, alg) {
        (VerifyingKey::Rsa(k), Alg::PS256 | Alg::PS384 | Alg::PS512) => {
            let s = rsa::pss::Signature::try_from(sig).map_err(|_| bad())?;
            let k = k.clone();
            match alg {
                Alg::PS256 => {
                    rsa::pss::VerifyingKey::<sha2_next::Sha256>::new(k).verify(message, &s)
                }
                Alg::PS384 => {
                    rsa::pss::VerifyingKey::<sha2_next::Sha384>::new(k).verify(message, &s)
                }
                _ => rsa::pss::VerifyingKey::<sha2_next::Sha512>::new(k).verify(message, &s),
            }
            .map_err(|_| bad())
        }
        (VerifyingKey::P256(k), Alg::ES256) => {
            let s = p256::ecdsa::Signature::from_slice(sig)
                .map_err(|_| "ES256 signature is not 64 bytes r||s".to_owned())?;
            k.verify(message, &s).map_err(|_| bad())
        }
        (VerifyingKey::P384(k), Alg::ES384) => {
            let s = p384::ecdsa::Signature::from_slice(sig)
                .map_err(|_| "ES384 signature is not 96 bytes r||s".to_owned())?;
            k.verify(message, &s).map_err(|_| bad())
        }
        (k, a) => Err(format!("alg {} does not fit a {} key", a.name(), k.kind())),
    }
}

/// Builds the `Value` of a CBOR epoch date/time (tag 1).
pub(crate) fn cbor_time(secs: i64) -> Value {
    Value::Tag(1, Box::new(Value::Integer(secs.into())))
}
