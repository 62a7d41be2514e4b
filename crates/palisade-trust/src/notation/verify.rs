//! Verifying Notation signatures of one artifact under a trust policy statement, step by
//! step as the trust-store-trust-policy specification orders them: integrity, authenticity,
//! expiry, authentic timestamp, revocation; each step enforced, logged or skipped as the
//! statement's level (and `override`) says.
//!
//! Revocation is never checked online. A certificate that names no OCSP responder and no CRL
//! distribution point is "not revoked" by the specification's own rule; one that names either
//! (the signing chain, or the timestamp authority's chain) has a status Palisade cannot
//! determine offline, which the specification counts as a revocation failure: the signature
//! fails at levels that enforce revocation (strict), is logged at permissive and audit, and
//! is not looked at with `override: {"revocation": "skip"}`.

use der::{Decode as _, Encode as _};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, ExtendedKeyUsage, KeyUsage,
};

use super::envelope::{Envelope, Format, Payload, SigningScheme};
use super::policy::{Action, Identity, Statement, StoreType, TrustStore, VerifyTimestamp};
use crate::sigalg::VerifyingKey;
use crate::x509::Cert;

type Oid = der::oid::ObjectIdentifier;
const OID_ANY_EKU: Oid = Oid::new_unwrap("2.5.29.37.0");
const OID_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
const OID_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
const OID_EMAIL: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
const OID_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
const OID_CRL_DP: Oid = Oid::new_unwrap("2.5.29.31");
const OID_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");

/// What the signature is checked against: the artifact as the verifier read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `sha256:<hex>` of the manifest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The outcome of one validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// `integrity`, `authenticity`, `expiry`, `authenticTimestamp` or `revocation`.
    pub name: &'static str,
    /// What the level does with a failure.
    pub action: Action,
    /// `passed`, `failed`, `logged` (failed, not enforced) or `skipped`.
    pub result: &'static str,
    /// What was found.
    pub detail: String,
}

/// The outcome for one signature envelope.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// JWS or COSE, once known.
    pub format: Option<Format>,
    /// True when no enforced validation failed.
    pub verified: bool,
    /// The first enforced failure, `step: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Every validation, in order.
    pub steps: Vec<Step>,
    /// Subject of the signing certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Subject of the trusted certificate the chain leads to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_by: Option<String>,
    /// SHA-256 of the signing certificate (hex, as in the thumbprint annotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_thumbprint: Option<String>,
    /// The signed (untrusted) signing time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<i64>,
    /// A verified timestamp (RFC 3161 genTime, or the authentic signing time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentic_time: Option<i64>,
    /// `io.cncf.notary.signingAgent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_agent: Option<String>,
    /// The payload's `targetArtifact` annotations (after integrity held).
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Outcome {
    fn new() -> Self {
        Self {
            format: None,
            verified: false,
            failure: None,
            steps: Vec::new(),
            signer: None,
            trusted_by: None,
            leaf_thumbprint: None,
            signing_time: None,
            authentic_time: None,
            signing_agent: None,
            annotations: std::collections::BTreeMap::new(),
        }
    }

    /// Records one step; false when it was an enforced failure (verification stops).
    fn step(
        &mut self,
        name: &'static str,
        action: Action,
        run: impl FnOnce(&mut Self) -> Result<String, String>,
    ) -> bool {
        if action == Action::Skip {
            self.steps.push(Step {
                name,
                action,
                result: "skipped",
                detail: "not performed at this level".into(),
            });
            return true;
        }
        match run(self) {
            Ok(detail) => {
                self.steps.push(Step {
                    name,
                    action,
                    result: "passed",
                    detail,
                });
                true
            }
            Err(reason) if action == Action::Log => {
                self.steps.push(Step {
                    name,
                    action,
                    result: "logged",
                    detail: reason,
                });
                true
            }
            Err(reason) => {
                self.failure = Some(format!("{name}: {reason}"));
                self.steps.push(Step {
                    name,
                    action,
                    result: "failed",
                    detail: reason,
                });
                false
            }
        }
    }

    /// The failures that were logged, not enforced.
    pub fn logged(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.result == "logged")
    }
}

/// Verifies one envelope against `target` under `statement` (whose level is not `skip`),
/// reading the trust store as needed. `now` is the verification time (seconds since the
/// epoch).
#[must_use]
pub fn verify_envelope(
    format: Format,
    bytes: &[u8],
    target: &Target,
    statement: &Statement,
    store: &TrustStore,
    now: i64,
    notes: &mut Vec<String>,
) -> Outcome {
    let mut out = Outcome::new();
    out.format = Some(format);
    let actions = statement.actions;
    let mut envelope: Option<Envelope> = None;

    // 1. Integrity (never overridable).
    let ok = out.step("integrity", Action::Enforce, |o| {
        let env = Envelope::parse(format, bytes)?;
        let payload: Payload = env.verify_integrity()?;
        let t = &payload.target_artifact;
        if t.digest != target.digest {
            return Err(format!(
                "the signature is for {}, not {}",
                t.digest, target.digest
            ));
        }
        if t.media_type != target.media_type {
            return Err(format!(
                "signed media type {} differs from the artifact's {}",
                t.media_type, target.media_type
            ));
        }
        if t.size != target.size {
            return Err(format!(
                "signed size {} differs from the artifact's {} bytes",
                t.size, target.size
            ));
        }
        o.annotations.clone_from(&t.annotations);
        o.signing_time = env.signing_time.or(env.authentic_signing_time);
        o.signing_agent.clone_from(&env.signing_agent);
        let leaf = env.leaf()?;
        o.signer = Some(leaf.subject());
        o.leaf_thumbprint = Some(hex::encode(sha2::Sha256::digest(leaf.der())));
        let detail = format!(
            "{} {} signature by {} verifies; payload names {} ({}, {} bytes)",
            match format {
                Format::Jws => "JWS",
                Format::Cose => "COSE",
            },
            env.alg.name(),
            leaf.subject(),
            t.digest,
            t.media_type,
            t.size
        );
        envelope = Some(env);
        Ok(detail)
    });
    let Some(env) = envelope.filter(|_| ok) else {
        return out;
    };

    // 2. Authenticity.
    if !out.step("authenticity", actions.authenticity, |o| {
        authenticity(&env, statement, store, notes).map(|(anchor, detail)| {
            o.trusted_by = Some(anchor);
            detail
        })
    }) {
        return out;
    }

    // 3. Expiry.
    if !out.step("expiry", actions.expiry, |_| match env.expiry {
        None => Ok("the signature has no expiry".into()),
        Some(exp) if now >= exp => Err(format!(
            "the signature expired at {} (now {})",
            utc(exp),
            utc(now)
        )),
        Some(exp) => Ok(format!("valid until {}", utc(exp))),
    }) {
        return out;
    }

    // 4. Authentic timestamp.
    if !out.step("authenticTimestamp", actions.authentic_timestamp, |o| {
        authentic_timestamp(&env, statement, store, now, notes).map(|(t, detail)| {
            o.authentic_time = t;
            detail
        })
    }) {
        return out;
    }

    // 5. Revocation (offline: see the module documentation).
    let timestamped = out.authentic_time.is_some() && env.signing_scheme == SigningScheme::X509;
    if !out.step("revocation", actions.revocation, |_| {
        revocation(&env, timestamped)
    }) {
        return out;
    }
    out.verified = true;
    out
}

fn utc(secs: i64) -> String {
    palisade_image::Timestamp::from_unix_seconds(secs)
        .map_or_else(|| secs.to_string(), |t| t.to_string())
}

fn parsed(cert: &Cert) -> Result<Certificate, String> {
    Certificate::from_der(cert.der()).map_err(|e| format!("certificate: {e}"))
}

fn ext<T>(c: &Certificate, what: &str) -> Result<Option<(bool, T)>, String>
where
    T: for<'a> der::Decode<'a> + der::oid::AssociatedOid,
{
    c.tbs_certificate()
        .get_extension::<T>()
        .map_err(|e| format!("{what} extension: {e}"))
}

/// The specification's certificate requirements for a leaf (code signing or timestamping).
fn check_leaf(cert: &Cert, timestamping: bool) -> Result<(), String> {
    let c = parsed(cert)?;
    let name = cert.subject();
    if let Some((_, bc)) = ext::<BasicConstraints>(&c, "basicConstraints")?
        && bc.ca
    {
        return Err(format!(
            "{name}: a signing certificate must not be a CA (cA=true)"
        ));
    }
    let Some((critical, ku)) = ext::<KeyUsage>(&c, "keyUsage")? else {
        return Err(format!("{name}: keyUsage is required"));
    };
    if !critical && !timestamping {
        return Err(format!("{name}: keyUsage must be marked critical"));
    }
    if !ku.digital_signature() {
        return Err(format!("{name}: keyUsage lacks digitalSignature"));
    }
    if ku.key_encipherment()
        || ku.data_encipherment()
        || ku.key_agreement()
        || ku.key_cert_sign()
        || ku.crl_sign()
        || ku.encipher_only()
        || ku.decipher_only()
    {
        return Err(format!(
            "{name}: keyUsage allows more than signing (keyEncipherment, dataEncipherment, \
             keyAgreement, keyCertSign, cRLSign, encipherOnly or decipherOnly is set)"
        ));
    }
    match (
        ext::<ExtendedKeyUsage>(&c, "extendedKeyUsage")?,
        timestamping,
    ) {
        (Some((_, eku)), false) => {
            for bad in [
                OID_ANY_EKU,
                OID_SERVER_AUTH,
                OID_CLIENT_AUTH,
                OID_EMAIL,
                OID_TIME_STAMPING,
            ] {
                if eku.0.contains(&bad) {
                    return Err(format!(
                        "{name}: extendedKeyUsage {bad} is not allowed on a code signing certificate"
                    ));
                }
            }
        }
        (None, false) => {}
        (Some((critical, eku)), true) => {
            if !critical || eku.0 != [OID_TIME_STAMPING] {
                return Err(format!(
                    "{name}: a timestamping certificate needs a critical extendedKeyUsage of \
                     timeStamping only"
                ));
            }
        }
        (None, true) => {
            return Err(format!(
                "{name}: a timestamping certificate needs extendedKeyUsage"
            ));
        }
    }
    if super::envelope::p521_key(cert)?.is_some() {
        return Ok(());
    }
    match cert
        .verifying_key()
        .map_err(|e| format!("{name}: public key: {e}"))?
    {
        VerifyingKey::Rsa(k) => {
            use rsa::traits::PublicKeyParts as _;
            if k.size() * 8 < 2048 {
                return Err(format!("{name}: RSA key shorter than 2048 bits"));
            }
        }
        VerifyingKey::P256(_) | VerifyingKey::P384(_) => {}
        VerifyingKey::Ed25519(_) => {
            return Err(format!("{name}: Ed25519 keys are not allowed"));
        }
    }
    Ok(())
}

/// The requirements for a root or intermediate with `below` intermediates under it.
fn check_ca(cert: &Cert, below: usize) -> Result<(), String> {
    let c = parsed(cert)?;
    let name = cert.subject();
    match ext::<BasicConstraints>(&c, "basicConstraints")? {
        Some((true, bc)) if bc.ca => {
            if let Some(max) = bc.path_len_constraint
                && below > usize::from(max)
            {
                return Err(format!(
                    "{name}: pathLenConstraint {max} exceeded ({below} intermediates below)"
                ));
            }
        }
        _ => {
            return Err(format!(
                "{name}: a CA certificate needs a critical basicConstraints with cA=true"
            ));
        }
    }
    match ext::<KeyUsage>(&c, "keyUsage")? {
        Some((true, ku)) if ku.key_cert_sign() => Ok(()),
        _ => Err(format!(
            "{name}: a CA certificate needs a critical keyUsage with keyCertSign"
        )),
    }
}

/// Critical extensions this verifier acts on, or that restrict nothing it relies on: basic
/// constraints, key usage, extended key usage, subject alternative name, certificate
/// policies. Any other critical extension (name constraints above all, whose directory-name
/// limits would bound the subjects `trustedIdentities` match) must not be ignored (RFC 5280
/// 4.2), so the certificate is refused, as Go's x509 (notation-go's) refuses it.
pub(crate) fn critical_extensions_understood(cert: &Cert) -> Result<(), String> {
    const UNDERSTOOD: [&str; 5] = [
        "2.5.29.19", // basicConstraints
        "2.5.29.15", // keyUsage
        "2.5.29.37", // extKeyUsage
        "2.5.29.17", // subjectAltName
        "2.5.29.32", // certificatePolicies
    ];
    let c = parsed(cert)?;
    for e in c.tbs_certificate().extensions().into_iter().flatten() {
        let oid = e.extn_id.to_string();
        if e.critical && !UNDERSTOOD.contains(&oid.as_str()) {
            return Err(format!(
                "{}: critical extension {oid}{} is not supported; refusing the certificate \
                 rather than ignoring a restriction",
                cert.subject(),
                if oid == "2.5.29.30" {
                    " (name constraints)"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(())
}

/// The chain in the envelope, on its own: ordered leaf to root, each signed by the next,
/// ending in a self-signed root, every certificate meeting its requirements and valid at
/// `at` (when given).
pub(crate) fn check_chain(certs: &[Cert], at: Option<i64>) -> Result<(), String> {
    let Some((leaf, rest)) = certs.split_first() else {
        return Err("the certificate chain is empty".into());
    };
    check_leaf(leaf, false)?;
    for c in certs {
        critical_extensions_understood(c)?;
    }
    for (i, pair) in certs.windows(2).enumerate() {
        let [child, parent] = pair else { continue };
        let (cc, pc) = (parsed(child)?, parsed(parent)?);
        if cc.tbs_certificate().issuer() != pc.tbs_certificate().subject() {
            return Err(format!(
                "x5c is not an ordered chain: {} is not issued by {}",
                child.subject(),
                parent.subject()
            ));
        }
        issued_by(child, parent).map_err(|e| format!("x5c[{i}]: {e}"))?;
        check_ca(parent, i)?;
    }
    let root = rest.last().unwrap_or(leaf);
    let self_issued = {
        let r = parsed(root)?;
        r.tbs_certificate().issuer() == r.tbs_certificate().subject()
    };
    if !self_issued {
        return Err(format!(
            "the chain does not end in a self-signed root ({} is not self-issued)",
            root.subject()
        ));
    }
    issued_by(root, root).map_err(|e| {
        format!(
            "the chain does not end in a self-signed root ({} is not self-signed: {e})",
            root.subject()
        )
    })?;
    if let Some(at) = at {
        for c in certs {
            if at < c.not_before() || at > c.not_after() {
                return Err(format!(
                    "{} is not valid at the signing time {} (valid {} to {})",
                    c.subject(),
                    utc(at),
                    utc(c.not_before()),
                    utc(c.not_after())
                ));
            }
        }
    }
    Ok(())
}

/// `child`'s signature under `parent`'s key; ECDSA P-521 issuers are checked here, every other key by [`Cert::verify_issued_by`].
fn issued_by(child: &Cert, parent: &Cert) -> Result<(), String> {
    let Some(key) = super::envelope::p521_key(parent)? else {
        return child.verify_issued_by(parent).map_err(|e| e.to_string());
    };
    use p521::ecdsa::signature::hazmat::PrehashVerifier as _;
    let c = parsed(child)?;
    let oid = c.signature_algorithm().oid;
    let hash: fn(&[u8]) -> Vec<u8> = match oid.to_string().as_str() {
        "1.2.840.10045.4.3.2" => |b| sha2::Sha256::digest(b).to_vec(),
        "1.2.840.10045.4.3.3" => |b| sha2::Sha384::digest(b).to_vec(),
        "1.2.840.10045.4.3.4" => |b| sha2::Sha512::digest(b).to_vec(),
        _ => {
            return Err(format!(
                "{}: signature algorithm {oid} is not ECDSA with SHA-256/384/512",
                child.subject()
            ));
        }
    };
    let tbs = c
        .tbs_certificate()
        .to_der()
        .map_err(|e| format!("certificate: {e}"))?;
    let sig = c
        .signature()
        .as_bytes()
        .and_then(|b| p521::ecdsa::Signature::from_der(b).ok())
        .ok_or_else(|| format!("{}: malformed ECDSA P-521 signature", child.subject()))?;
    key.verify_prehash(&hash(&tbs), &sig).map_err(|_| {
        format!(
            "signature of {} by {} does not verify",
            child.subject(),
            parent.subject()
        )
    })
}

pub(crate) fn subject_attributes(
    cert: &Cert,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let c = parsed(cert)?;
    let mut out = std::collections::BTreeMap::new();
    for rdn in c.tbs_certificate().subject().iter_rdn() {
        for atv in rdn.iter() {
            let text = atv.to_string();
            if let Some((k, _)) = text.split_once('=') {
                let value = atv
                    .value
                    .decode_as::<der::asn1::Utf8StringRef<'_>>()
                    .map(|s| s.as_str().to_owned())
                    .or_else(|_| {
                        atv.value
                            .decode_as::<der::asn1::PrintableStringRef<'_>>()
                            .map(|s| s.as_str().to_owned())
                    })
                    .or_else(|_| {
                        atv.value
                            .decode_as::<der::asn1::Ia5StringRef<'_>>()
                            .map(|s| s.as_str().to_owned())
                    })
                    .map_err(|_| format!("subject attribute {k} is not a string"))?;
                let key = k.to_ascii_uppercase();
                let key = if key == "S" { "ST".to_owned() } else { key };
                // A repeated attribute (`O=Evil, O=Acme`) could match an identity by one of its
                // values; notation-go refuses such subjects, and so does Palisade.
                if out.insert(key.clone(), value).is_some() {
                    return Err(format!(
                        "the certificate subject repeats the attribute {key}; trusted \
                         identities cannot be matched against it"
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn store_certs(
    statement: &Statement,
    store: &TrustStore,
    kind: StoreType,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, Cert)>, String> {
    let mut out = Vec::new();
    for (t, name) in &statement.trust_stores {
        if *t != kind {
            continue;
        }
        let certs = store
            .certificates(kind, name, notes)
            .map_err(|e| e.to_string())?;
        out.extend(
            certs
                .into_iter()
                .map(|c| (format!("{}:{name}", kind.dir()), c)),
        );
    }
    if out.is_empty() {
        return Err(format!(
            "statement {:?} names no {} trust store",
            statement.name,
            kind.dir()
        ));
    }
    Ok(out)
}

fn authenticity(
    env: &Envelope,
    statement: &Statement,
    store: &TrustStore,
    notes: &mut Vec<String>,
) -> Result<(String, String), String> {
    let at = match env.signing_scheme {
        SigningScheme::X509 => env.signing_time,
        SigningScheme::SigningAuthority => env.authentic_signing_time,
    };
    check_chain(&env.certs, at)?;
    let kind = match env.signing_scheme {
        SigningScheme::X509 => StoreType::Ca,
        SigningScheme::SigningAuthority => StoreType::SigningAuthority,
    };
    let trusted = store_certs(statement, store, kind, notes)?;
    let anchor = env.certs.iter().find_map(|c| {
        trusted
            .iter()
            .find(|(_, t)| t.der() == c.der())
            .map(|(store, t)| (store.clone(), t.subject()))
    });
    let Some((store_name, anchor)) = anchor else {
        return Err(format!(
            "no certificate of the chain is in the trust store(s) of statement {:?} \
             ({} certificate(s) in {} store(s)); add the signer's root CA to the store",
            statement.name,
            trusted.len(),
            kind.dir()
        ));
    };
    let leaf = env.leaf()?;
    let identity = if statement.trusted_identities.contains(&Identity::Any) {
        "any identity (*)".to_owned()
    } else {
        let attrs = subject_attributes(leaf)?;
        let matched = statement.trusted_identities.iter().any(|i| match i {
            Identity::Any => true,
            Identity::Subject(want) => want.iter().all(|(k, v)| attrs.get(k) == Some(v)),
        });
        if !matched {
            return Err(format!(
                "signing certificate subject {} is not one of the trusted identities of \
                 statement {:?}",
                leaf.subject(),
                statement.name
            ));
        }
        format!("trusted identity {}", leaf.subject())
    };
    Ok((
        anchor.clone(),
        format!("chain leads to {anchor} in {store_name}; {identity}"),
    ))
}

fn chain_valid_at(certs: &[Cert], at: i64, what: &str) -> Result<(), String> {
    for c in certs {
        if at < c.not_before() || at > c.not_after() {
            return Err(format!(
                "{} is not valid at {what} {} (valid {} to {})",
                c.subject(),
                utc(at),
                utc(c.not_before()),
                utc(c.not_after())
            ));
        }
    }
    Ok(())
}

fn authentic_timestamp(
    env: &Envelope,
    statement: &Statement,
    store: &TrustStore,
    now: i64,
    notes: &mut Vec<String>,
) -> Result<(Option<i64>, String), String> {
    if env.signing_scheme == SigningScheme::SigningAuthority {
        let t = env
            .authentic_signing_time
            .ok_or("no authentic signing time")?;
        chain_valid_at(&env.certs, t, "the authentic signing time")?;
        return Ok((Some(t), format!("authentic signing time {}", utc(t))));
    }
    let has_tsa = statement
        .trust_stores
        .iter()
        .any(|(t, _)| *t == StoreType::Tsa);
    let expired = env.certs.iter().any(|c| now > c.not_after());
    let triggered = has_tsa && (statement.verify_timestamp == VerifyTimestamp::Always || expired);
    if !triggered {
        chain_valid_at(&env.certs, now, "the verification time")?;
        let why = if has_tsa {
            "verifyTimestamp is afterCertExpiry and no certificate has expired"
        } else {
            "no tsa trust store configured"
        };
        return Ok((
            None,
            format!("timestamp not verified ({why}); the chain is valid now"),
        ));
    }
    let token = env
        .timestamp_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or(
            "the policy verifies timestamps but the signature has no timestamp countersignature",
        )?;
    let tsa = store_certs(statement, store, StoreType::Tsa, notes)?;
    let root = tsa_root(&tsa)?;
    let ts = crate::rfc3161::verify_timestamp(token, &env.signature, &root)
        .map_err(|e| format!("timestamp countersignature: {e}"))?;
    // The timestamping certificate must meet the specification's requirements too.
    let tsa_leaf = token_certs(token).into_iter().find(|c| {
        parsed(c).is_ok_and(|p| {
            ext::<ExtendedKeyUsage>(&p, "extendedKeyUsage")
                .ok()
                .flatten()
                .is_some_and(|(_, e)| e.0.contains(&OID_TIME_STAMPING))
        })
    });
    match &tsa_leaf {
        Some(leaf) => {
            check_leaf(leaf, true).map_err(|e| format!("timestamping certificate: {e}"))?
        }
        None => {
            return Err("the timestamp token carries no timestamping certificate to check".into());
        }
    }
    chain_valid_at(&env.certs, ts.time, "the timestamp")?;
    Ok((
        Some(ts.time),
        format!(
            "RFC 3161 timestamp {} by {} (trusted via {}); the chain was valid then \
             (TSA accuracy and signing-certificate-v2 not evaluated)",
            utc(ts.time),
            token_signer(token).unwrap_or_else(|| "the TSA".into()),
            ts.authority
        ),
    ))
}

/// A trust root whose timestamp authorities are the `tsa` store's certificates.
fn tsa_root(tsa: &[(String, Cert)]) -> Result<crate::trust_root::TrustRoot, String> {
    use base64::Engine as _;
    let authorities: Vec<serde_json::Value> = tsa
        .iter()
        .map(|(_, c)| {
            serde_json::json!({
                "subject": {"commonName": c.subject()},
                "certChain": {"certificates": [{
                    "rawBytes": base64::engine::general_purpose::STANDARD.encode(c.der())
                }]}
            })
        })
        .collect();
    let doc = serde_json::json!({ "timestampAuthorities": authorities });
    crate::trust_root::TrustRoot::from_json(doc.to_string().as_bytes())
        .map_err(|e| format!("tsa trust store: {e}"))
}

/// The certificates embedded in an RFC 3161 token (at most 8).
fn token_certs(token: &[u8]) -> Vec<Cert> {
    let Ok(ci) = cms::content_info::ContentInfo::from_der(token) else {
        return Vec::new();
    };
    let Ok(sd) = ci.content.decode_as::<cms::signed_data::SignedData>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(certs) = &sd.certificates {
        for choice in certs.0.iter().take(8) {
            if let cms::cert::CertificateChoices::Certificate(c) = choice
                && let Ok(der) = c.to_der()
                && let Ok(cert) = Cert::from_der(&der)
            {
                out.push(cert);
            }
        }
    }
    out
}

fn token_signer(token: &[u8]) -> Option<String> {
    token_certs(token)
        .into_iter()
        .find(|c| {
            parsed(c).is_ok_and(|p| {
                ext::<ExtendedKeyUsage>(&p, "eku")
                    .ok()
                    .flatten()
                    .is_some_and(|(_, e)| e.0.contains(&OID_TIME_STAMPING))
            })
        })
        .map(|c| c.subject())
}

/// Whether a certificate names a revocation source (OCSP responder or CRL distribution point).
fn revocation_source(cert: &Cert) -> Result<Option<&'static str>, String> {
    let c = parsed(cert)?;
    if let Some((_, aia)) = ext::<AuthorityInfoAccessSyntax>(&c, "authorityInfoAccess")?
        && aia.0.iter().any(|a| a.access_method == OID_OCSP)
    {
        return Ok(Some("an OCSP responder"));
    }
    let has_crl = c
        .tbs_certificate()
        .extensions()
        .is_some_and(|exts| exts.iter().any(|e| e.extn_id == OID_CRL_DP));
    Ok(has_crl.then_some("a CRL distribution point"))
}

fn revocation(env: &Envelope, timestamped: bool) -> Result<String, String> {
    let mut chains: Vec<(&str, Vec<Cert>)> = vec![("signing", env.certs.clone())];
    if let Some(token) = env.timestamp_token.as_ref().filter(|_| timestamped) {
        chains.push(("timestamp authority", token_certs(token)));
    }
    for (what, certs) in &chains {
        for c in certs {
            if let Some(source) = revocation_source(c)? {
                return Err(format!(
                    "revocation status of {what} certificate {} cannot be determined: it \
                     names {source}, and Palisade does not check OCSP or CRLs (offline); \
                     the specification treats an undetermined status as a failure. Use level \
                     permissive, or override revocation to log or skip, to accept it",
                    c.subject()
                ));
            }
        }
    }
    Ok(
        "no certificate names an OCSP responder or CRL, so none can be revoked \
        (specification rule); nothing was fetched"
            .into(),
    )
}
