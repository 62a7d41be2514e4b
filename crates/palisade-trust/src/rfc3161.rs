//! RFC 3161 timestamps from a Sigstore bundle's `timestampVerificationData`, verified
//! offline against the trust root's timestamp authorities.
//!
//! A token is accepted when: it is CMS `SignedData` over a `TSTInfo`; the TSTInfo's message
//! imprint is the hash of the signature bytes being timestamped; the single SignerInfo's
//! signed attributes carry the TSTInfo content type and its digest; their signature verifies
//! under a timestamping certificate that chains to a trusted timestamp authority at the
//! token's `genTime`, which must also lie in that authority's `validFor` window.
//!
//! Not for: timestamp requests, nonces, accuracy windows (ignored; Sigstore TSAs are exact to
//! the second for our purpose).

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode as _, Encode as _, Reader as _};

use crate::sigalg::{HashAlg, Scheme, VerifyingKey};
use crate::sigstore_error::SigstoreError;
use crate::trust_root::{CertificateAuthority, TrustRoot};
use crate::x509::{Cert, scheme_for, verify_chain_for};

/// Largest timestamp token accepted.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

type Oid = der::oid::ObjectIdentifier;
const OID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const OID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const OID_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const OID_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");

/// A verified timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// `genTime`, seconds since the epoch.
    pub time: i64,
    /// Subject of the timestamp authority that vouched for it.
    pub authority: String,
}

fn hash_for(oid: Oid) -> Result<HashAlg, SigstoreError> {
    match oid {
        o if o == OID_SHA256 => Ok(HashAlg::Sha256),
        o if o == OID_SHA384 => Ok(HashAlg::Sha384),
        o if o == OID_SHA512 => Ok(HashAlg::Sha512),
        o => Err(SigstoreError::unsupported("timestamp hash algorithm", o)),
    }
}

fn bad(detail: impl std::fmt::Display) -> SigstoreError {
    SigstoreError::malformed("RFC 3161 timestamp", detail)
}

/// Returns the token (ContentInfo) inside a TimeStampResp, or the input if it is a token.
fn token_bytes(input: &[u8]) -> Result<ContentInfo, SigstoreError> {
    if let Ok(ci) = ContentInfo::from_der(input) {
        return Ok(ci);
    }
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
    let mut reader = der::SliceReader::new(input).map_err(bad)?;
    let ci = reader
        .sequence(|r| {
            let _status: der::Any = r.decode()?;
            let ci: ContentInfo = r.decode()?;
            Ok::<_, der::Error>(ci)
        })
        .map_err(bad)?;
    Ok(ci)
}

/// (message imprint algorithm, imprint, genTime) of a DER TSTInfo.
fn parse_tst_info(der_bytes: &[u8]) -> Result<(Oid, Vec<u8>, i64), SigstoreError> {
    let mut reader = der::SliceReader::new(der_bytes).map_err(bad)?;
    reader
        .sequence(|r| {
            let _version: der::asn1::Int = r.decode()?;
            let _policy: Oid = r.decode()?;
            let (alg, imprint) = r.sequence(|m| {
                let alg: spki::AlgorithmIdentifierOwned = m.decode()?;
                let imprint: der::asn1::OctetString = m.decode()?;
                Ok::<_, der::Error>((alg.oid, imprint.as_bytes().to_vec()))
            })?;
            let _serial: der::asn1::Int = r.decode()?;
            let gen_time: der::asn1::GeneralizedTime = r.decode()?;
            // accuracy, ordering, nonce, tsa, extensions: not needed.
            while !r.is_finished() {
                let _: der::Any = r.decode()?;
            }
            let t = i64::try_from(gen_time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
            Ok::<_, der::Error>((alg, imprint, t))
        })
        .map_err(bad)
}

/// Verifies one RFC 3161 token (or TimeStampResp) over `signature` (the bytes whose hash
/// the TSA imprinted: the bundle's message or DSSE signature).
///
/// # Errors
/// Malformed token, imprint mismatch, bad signature, no trusted authority.
pub fn verify_timestamp(
    token: &[u8],
    signature: &[u8],
    root: &TrustRoot,
) -> Result<VerifiedTimestamp, SigstoreError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(SigstoreError::TooLarge {
            what: "RFC 3161 timestamp",
            limit: MAX_TOKEN_BYTES,
        });
    }
    let ci = token_bytes(token)?;
    if ci.content_type != OID_SIGNED_DATA {
        return Err(bad(format!(
            "content type {} is not signedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci.content.decode_as().map_err(bad)?;
    if sd.encap_content_info.econtent_type != OID_TST_INFO {
        return Err(bad("encapsulated content is not a TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("no TSTInfo content"))?;
    let tst_der = der::asn1::OctetString::from_der(&econtent.to_der().map_err(bad)?)
        .map_err(bad)?
        .as_bytes()
        .to_vec();
    let (imprint_alg, imprint, gen_time) = parse_tst_info(&tst_der)?;
    if hash_for(imprint_alg)?.digest(signature) != imprint {
        return Err(SigstoreError::Signature(
            "timestamp message imprint is not the hash of this signature".into(),
        ));
    }
    let signer_infos = sd.signer_infos.0.as_slice();
    let [signer] = signer_infos else {
        return Err(bad(format!(
            "expected one SignerInfo, found {}",
            signer_infos.len()
        )));
    };
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("SignerInfo has no signed attributes"))?;
    let digest_alg = hash_for(signer.digest_alg.oid)?;
    let mut content_type_ok = false;
    let mut digest_ok = false;
    for attr in attrs.iter() {
        let Some(value) = attr.values.iter().next() else {
            continue;
        };
        if attr.oid == OID_CONTENT_TYPE {
            content_type_ok = value.decode_as::<Oid>().map_err(bad)? == OID_TST_INFO;
        } else if attr.oid == OID_MESSAGE_DIGEST {
            let d: der::asn1::OctetString = value.decode_as().map_err(bad)?;
            digest_ok = d.as_bytes() == digest_alg.digest(&tst_der).as_slice();
        }
    }
    if !content_type_ok || !digest_ok {
        return Err(SigstoreError::Signature(
            "timestamp signed attributes do not match the TSTInfo".into(),
        ));
    }
    let signed_attrs_der = attrs.to_der().map_err(bad)?;
    let sig_alg = signer.signature_algorithm.oid;
    let scheme = if sig_alg == OID_EC_PUBLIC_KEY {
        Scheme::Ecdsa(digest_alg)
    } else if sig_alg == OID_RSA {
        Scheme::RsaPkcs1(digest_alg)
    } else {
        scheme_for(sig_alg)?
    };
    let sig = signer.signature.as_bytes();

    let mut embedded = Vec::new();
    if let Some(certs) = &sd.certificates {
        for choice in certs.0.iter().take(8) {
            if let CertificateChoices::Certificate(c) = choice {
                embedded.push(Cert::from_der(&c.to_der().map_err(bad)?)?);
            }
        }
    }
    let mut last = None;
    for ta in root.timestamp_authorities() {
        if !ta.valid_for.contains(gen_time) {
            last = Some(SigstoreError::Chain(format!(
                "timestamp authority {} is not valid at {gen_time}",
                ta.subject
            )));
            continue;
        }
        let ta_certs = ta
            .chain
            .iter()
            .map(|d| Cert::from_der(d))
            .collect::<Result<Vec<_>, _>>()?;
        for candidate in embedded.iter().chain(ta_certs.iter()) {
            let key: VerifyingKey = candidate.verifying_key()?;
            if key.verify(scheme, &signed_attrs_der, sig).is_err() {
                continue;
            }
            let anchor = CertificateAuthority {
                subject: ta.subject.clone(),
                uri: ta.uri.clone(),
                chain: ta.chain.clone(),
                valid_for: ta.valid_for,
            };
            let trusted_leaf = ta_certs.first().is_some_and(|l| l == candidate);
            let result = if trusted_leaf && ta_certs.len() == 1 {
                Ok(())
            } else {
                verify_chain_for(
                    candidate,
                    &embedded,
                    std::slice::from_ref(&anchor),
                    gen_time,
                    OID_TIME_STAMPING,
                )
                .map(|_| ())
            };
            match result {
                Ok(()) => {
                    return Ok(VerifiedTimestamp {
                        time: gen_time,
                        authority: ta.subject.clone(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        SigstoreError::Signature("no trusted timestamp authority signed this timestamp".into())
    }))
}
