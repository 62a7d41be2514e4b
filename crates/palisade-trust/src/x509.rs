//! X.509 for keyless signing: parsing Fulcio (or BYO PKI) certificates, validating a chain
//! to a trusted CA **at a given time** (the Rekor integrated time, never "now"), and reading
//! the signer's identity (SAN) and OIDC issuer (Fulcio OIDs `1.3.6.1.4.1.57264.1.8`, DER
//! UTF8String, and the legacy `1.3.6.1.4.1.57264.1.1`, raw string).
//!
//! Chain rules: every link's signature verifies under its issuer's key with the algorithm the
//! certificate names; every certificate is inside its validity window at the given time;
//! every issuer is a CA (basicConstraints cA, keyCertSign if keyUsage is present, path length
//! respected); the leaf allows digitalSignature and, when it has an EKU, codeSigning; chains
//! are at most [`MAX_CHAIN_LEN`] long and a certificate never appears twice in one path.
//!
//! Not for: CRL/OCSP (Fulcio leaves live ten minutes), name constraints, policy mapping.

use der::{Decode as _, Encode as _};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use crate::sigalg::{HashAlg, Scheme, VerifyingKey, pem_blocks};
use crate::sigstore_error::SigstoreError;
use crate::trust_root::CertificateAuthority;

/// Longest accepted chain, leaf and root included.
pub const MAX_CHAIN_LEN: usize = 6;
/// Most signature checks spent on building one chain (bounds path search on hostile pools).
const MAX_SIGNATURE_CHECKS: usize = 64;
/// Largest accepted DER certificate.
pub const MAX_CERT_BYTES: usize = 64 * 1024;

type Oid = der::oid::ObjectIdentifier;
const OID_ISSUER_V2: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_ISSUER_V1: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
const OID_ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
const OID_RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const OID_RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const OID_RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const OID_ED25519: Oid = Oid::new_unwrap("1.3.101.112");

/// A parsed certificate together with its original DER.
#[derive(Debug, Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: Box<Certificate>,
}

impl PartialEq for Cert {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Cert {
    /// Parses one DER certificate.
    ///
    /// # Errors
    /// Oversized or malformed DER.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, SigstoreError> {
        if der_bytes.len() > MAX_CERT_BYTES {
            return Err(SigstoreError::TooLarge {
                what: "certificate",
                limit: MAX_CERT_BYTES,
            });
        }
        let cert = Certificate::from_der(der_bytes)
            .map_err(|e| SigstoreError::malformed("certificate (ASN.1 DER)", e))?;
        Ok(Self {
            der: der_bytes.to_vec(),
            cert: Box::new(cert),
        })
    }

    /// Parses every `CERTIFICATE` block of a PEM text, in order.
    ///
    /// # Errors
    /// No block, another PEM label, malformed base64 or DER, too many blocks.
    pub fn from_pem_chain(pem: &[u8]) -> Result<Vec<Self>, SigstoreError> {
        pem_blocks(pem, "CERTIFICATE")?
            .iter()
            .map(|d| Self::from_der(d))
            .collect()
    }

    /// The original DER bytes.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject distinguished name in RFC 4514 form (empty for Fulcio leaves).
    #[must_use]
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    fn issuer_name_der(&self) -> Option<Vec<u8>> {
        self.cert.tbs_certificate().issuer().to_der().ok()
    }

    fn subject_name_der(&self) -> Option<Vec<u8>> {
        self.cert.tbs_certificate().subject().to_der().ok()
    }

    /// notBefore, seconds since the epoch.
    #[must_use]
    pub fn not_before(&self) -> i64 {
        unix(self.cert.tbs_certificate().validity().not_before)
    }

    /// notAfter, seconds since the epoch.
    #[must_use]
    pub fn not_after(&self) -> i64 {
        unix(self.cert.tbs_certificate().validity().not_after)
    }

    /// DER `SubjectPublicKeyInfo` of the certified key.
    ///
    /// # Errors
    /// Re-encoding failed (should not happen for a parsed certificate).
    pub fn public_key_der(&self) -> Result<Vec<u8>, SigstoreError> {
        self.cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| SigstoreError::malformed("certificate public key", e))
    }

    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, SigstoreError> {
        VerifyingKey::from_spki_der(&self.public_key_der()?)
    }

    fn is_self_issued(&self) -> bool {
        self.issuer_name_der() == self.subject_name_der()
    }

    /// Whether the certificate is self-signed (self-issued and its signature verifies under
    /// its own key): a root.
    #[must_use]
    pub fn is_self_signed(&self) -> bool {
        self.is_self_issued() && self.verify_issued_by(self).is_ok()
    }

    /// Checks this certificate's signature under `issuer`'s public key.
    ///
    /// # Errors
    /// Unsupported algorithm, malformed signature, or the signature does not verify.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), SigstoreError> {
        let scheme = scheme_for(self.cert.signature_algorithm().oid)?;
        let sig = self.cert.signature().as_bytes().ok_or_else(|| {
            SigstoreError::malformed("certificate signature", "BIT STRING has unused bits")
        })?;
        let tbs = tbs_bytes(&self.der)?;
        issuer
            .verifying_key()?
            .verify(scheme, tbs, sig)
            .map_err(|e| {
                SigstoreError::Chain(format!(
                    "signature of {} by {} does not verify: {e}",
                    self.display_name(),
                    issuer.display_name()
                ))
            })
    }
}

/// The signature scheme named by an X.509 / CMS signature algorithm OID.
pub(crate) fn scheme_for(oid: Oid) -> Result<Scheme, SigstoreError> {
    let scheme = match oid {
        o if o == OID_ECDSA_SHA256 => Scheme::Ecdsa(HashAlg::Sha256),
        o if o == OID_ECDSA_SHA384 => Scheme::Ecdsa(HashAlg::Sha384),
        o if o == OID_ECDSA_SHA512 => Scheme::Ecdsa(HashAlg::Sha512),
        o if o == OID_RSA_SHA256 => Scheme::RsaPkcs1(HashAlg::Sha256),
        o if o == OID_RSA_SHA384 => Scheme::RsaPkcs1(HashAlg::Sha384),
        o if o == OID_RSA_SHA512 => Scheme::RsaPkcs1(HashAlg::Sha512),
        o if o == OID_ED25519 => Scheme::Ed25519,
        o => {
            return Err(SigstoreError::unsupported(
                "certificate signature algorithm",
                o,
            ));
        }
    };
    Ok(scheme)
}

impl Cert {
    fn display_name(&self) -> String {
        let s = self.subject();
        if !s.is_empty() {
            return s;
        }
        match self.identities().ok().and_then(|v| v.into_iter().next()) {
            Some(id) => format!("leaf <{id}>"),
            None => "leaf (no subject)".to_owned(),
        }
    }

    fn basic_constraints(&self) -> Result<Option<BasicConstraints>, SigstoreError> {
        self.cert
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .map(|o| o.map(|(_, bc)| bc))
            .map_err(|e| SigstoreError::malformed("basicConstraints extension", e))
    }

    fn key_usage(&self) -> Result<Option<KeyUsage>, SigstoreError> {
        self.cert
            .tbs_certificate()
            .get_extension::<KeyUsage>()
            .map(|o| o.map(|(_, ku)| ku))
            .map_err(|e| SigstoreError::malformed("keyUsage extension", e))
    }

    fn extended_key_usage(&self) -> Result<Option<ExtendedKeyUsage>, SigstoreError> {
        self.cert
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .map(|o| o.map(|(_, e)| e))
            .map_err(|e| SigstoreError::malformed("extendedKeyUsage extension", e))
    }

    /// The identities in the SubjectAltName: e-mail addresses, URIs, DNS names and
    /// `otherName` UTF8 values (Fulcio's username identities), in certificate order.
    ///
    /// # Errors
    /// A malformed SAN extension.
    pub fn identities(&self) -> Result<Vec<String>, SigstoreError> {
        let Some((_, san)) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .map_err(|e| SigstoreError::malformed("subjectAltName extension", e))?
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in &san.0 {
            match name {
                GeneralName::Rfc822Name(s)
                | GeneralName::DnsName(s)
                | GeneralName::UniformResourceIdentifier(s) => out.push(s.to_string()),
                GeneralName::OtherName(other) => {
                    if let Ok(s) = other.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                        out.push(s.as_str().to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The OIDC issuer Fulcio recorded: OID `1.3.6.1.4.1.57264.1.8` (DER UTF8String) if
    /// present, else the legacy `1.3.6.1.4.1.57264.1.1` (raw bytes).
    ///
    /// # Errors
    /// A malformed issuer extension.
    pub fn oidc_issuer(&self) -> Result<Option<String>, SigstoreError> {
        let Some(exts) = self.cert.tbs_certificate().extensions() else {
            return Ok(None);
        };
        if let Some(ext) = exts.iter().find(|e| e.extn_id == OID_ISSUER_V2) {
            let s = der::asn1::Utf8StringRef::from_der(ext.extn_value.as_bytes())
                .map_err(|e| SigstoreError::malformed("OIDC issuer extension (1.8)", e))?;
            return Ok(Some(s.as_str().to_owned()));
        }
        if let Some(ext) = exts.iter().find(|e| e.extn_id == OID_ISSUER_V1) {
            let s = std::str::from_utf8(ext.extn_value.as_bytes()).map_err(|_| {
                SigstoreError::malformed("OIDC issuer extension (1.1)", "not UTF-8")
            })?;
            return Ok(Some(s.to_owned()));
        }
        Ok(None)
    }

    fn check_time(&self, at: i64) -> Result<(), SigstoreError> {
        let (nb, na) = (self.not_before(), self.not_after());
        if at < nb || at > na {
            return Err(SigstoreError::CertificateNotValidAt {
                subject: self.display_name(),
                at,
                not_before: nb,
                not_after: na,
            });
        }
        Ok(())
    }
}

fn unix(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The exact bytes of the `tbsCertificate` TLV inside a certificate's DER.
fn tbs_bytes(cert_der: &[u8]) -> Result<&[u8], SigstoreError> {
    let bad =
        || SigstoreError::malformed("certificate (ASN.1 DER)", "cannot locate tbsCertificate");
    let (_, outer_len_len) = tlv_header(cert_der).ok_or_else(bad)?;
    let inner = cert_der.get(outer_len_len..).ok_or_else(bad)?;
    let (len, hdr) = tlv_header(inner).ok_or_else(bad)?;
    inner
        .get(..hdr.checked_add(len).ok_or_else(bad)?)
        .ok_or_else(bad)
}

/// Returns (content length, header length) of a DER TLV with a one-byte tag.
fn tlv_header(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((usize::from(first), 2));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*b.get(2 + i)?);
    }
    Some((len, 2 + n))
}

/// A validated chain: the leaf first, the trust anchor last.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    /// Certificates from leaf to anchor.
    pub certs: Vec<Cert>,
}

/// Validates `leaf` at time `at` (seconds since the epoch) against the certificate
/// authorities of a trust root, with `extra` as untrusted intermediates that may be used as
/// links (cosign's `dev.sigstore.cosign/chain`). A path must end in the last certificate of a
/// CA's chain (its root), and the time must lie in that CA's `validFor` window.
///
/// # Errors
/// The first reason found why no path validates (time, signature, CA rules, length, loop).
pub fn verify_chain(
    leaf: &Cert,
    extra: &[Cert],
    authorities: &[CertificateAuthority],
    at: i64,
) -> Result<ValidatedChain, SigstoreError> {
    verify_chain_for(leaf, extra, authorities, at, OID_CODE_SIGNING)
}

/// [`verify_chain`] for a leaf whose extendedKeyUsage, if present, must include `eku`
/// (codeSigning for signers, timeStamping for timestamp authorities).
pub(crate) fn verify_chain_for(
    leaf: &Cert,
    extra: &[Cert],
    authorities: &[CertificateAuthority],
    at: i64,
    eku: Oid,
) -> Result<ValidatedChain, SigstoreError> {
    if authorities.is_empty() {
        return Err(SigstoreError::Chain(
            "the trust root has no certificate authority".into(),
        ));
    }
    check_leaf(leaf, eku)?;
    leaf.check_time(at)?;
    let mut last_err = None;
    for ca in authorities {
        if !ca.valid_for.contains(at) {
            last_err = Some(SigstoreError::Chain(format!(
                "CA {} is not valid at {at}",
                ca.subject
            )));
            continue;
        }
        let ca_certs = ca
            .chain
            .iter()
            .map(|d| Cert::from_der(d))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(anchor) = ca_certs.last() else {
            continue;
        };
        let mut pool: Vec<&Cert> = ca_certs.iter().collect();
        pool.extend(extra.iter());
        let mut path = vec![leaf.clone()];
        let mut budget = MAX_SIGNATURE_CHECKS;
        match extend_path(&mut path, &pool, anchor, at, &mut budget) {
            Ok(()) => return Ok(ValidatedChain { certs: path }),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| SigstoreError::Chain("no certificate authority matched".into())))
}

fn check_leaf(leaf: &Cert, eku_oid: Oid) -> Result<(), SigstoreError> {
    if let Some(ku) = leaf.key_usage()?
        && !ku.digital_signature()
    {
        return Err(SigstoreError::Chain(format!(
            "{}: keyUsage lacks digitalSignature",
            leaf.display_name()
        )));
    }
    if let Some(eku) = leaf.extended_key_usage()?
        && !eku.0.contains(&eku_oid)
    {
        return Err(SigstoreError::Chain(format!(
            "{}: extendedKeyUsage lacks {eku_oid}",
            leaf.display_name()
        )));
    }
    if leaf.basic_constraints()?.is_some_and(|bc| bc.ca) {
        return Err(SigstoreError::Chain(format!(
            "{}: a CA certificate cannot sign artifacts",
            leaf.display_name()
        )));
    }
    Ok(())
}

fn check_ca(cert: &Cert, below: usize) -> Result<(), SigstoreError> {
    let Some(bc) = cert.basic_constraints()? else {
        return Err(SigstoreError::Chain(format!(
            "{} has no basicConstraints: not a CA",
            cert.display_name()
        )));
    };
    if !bc.ca {
        return Err(SigstoreError::Chain(format!(
            "{} is not a CA (basicConstraints cA=false)",
            cert.display_name()
        )));
    }
    if let Some(max) = bc.path_len_constraint
        && below > usize::from(max)
    {
        return Err(SigstoreError::Chain(format!(
            "{}: pathLenConstraint {max} exceeded ({below} intermediates below)",
            cert.display_name()
        )));
    }
    if let Some(ku) = cert.key_usage()?
        && !ku.key_cert_sign()
    {
        return Err(SigstoreError::Chain(format!(
            "{}: keyUsage lacks keyCertSign",
            cert.display_name()
        )));
    }
    Ok(())
}

/// Depth-first path building from `path`'s last certificate to `anchor`.
fn extend_path(
    path: &mut Vec<Cert>,
    pool: &[&Cert],
    anchor: &Cert,
    at: i64,
    budget: &mut usize,
) -> Result<(), SigstoreError> {
    let Some(current) = path.last().cloned() else {
        return Err(SigstoreError::Chain("empty path".into()));
    };
    // `path.len() - 1` intermediates (non-leaf, non-anchor) sit below the next issuer.
    let below = path.len().saturating_sub(1);
    let mut last_err = None;
    let issuer_name = current.issuer_name_der();
    // The anchor is tried first so that the shortest path wins.
    let candidates = std::iter::once(anchor).chain(pool.iter().copied().filter(|c| *c != anchor));
    for cand in candidates {
        if cand.subject_name_der() != issuer_name {
            continue;
        }
        if path.iter().any(|p| p == cand) {
            last_err = Some(SigstoreError::Chain(format!(
                "certificate loop: {} appears twice in the path",
                cand.display_name()
            )));
            continue;
        }
        if path.len() + 1 > MAX_CHAIN_LEN {
            return Err(SigstoreError::Chain(format!(
                "chain longer than {MAX_CHAIN_LEN} certificates"
            )));
        }
        if *budget == 0 {
            return Err(SigstoreError::Chain(format!(
                "gave up after {MAX_SIGNATURE_CHECKS} signature checks while building the chain"
            )));
        }
        *budget -= 1;
        if let Err(e) = current.verify_issued_by(cand) {
            last_err = Some(e);
            continue;
        }
        if let Err(e) = check_ca(cand, below).and_then(|()| cand.check_time(at)) {
            last_err = Some(e);
            continue;
        }
        if cand == anchor {
            path.push(cand.clone());
            return Ok(());
        }
        path.push(cand.clone());
        match extend_path(path, pool, anchor, at, budget) {
            Ok(()) => return Ok(()),
            Err(e) => {
                path.pop();
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| {
        SigstoreError::Chain(format!(
            "no trusted issuer found for {}",
            current.display_name()
        ))
    }))
}
