//! Keyless (Fulcio + Rekor) verification, offline: who signed (certificate identity and OIDC
//! issuer, matched against a policy), when (the Rekor integrated time, at which the whole
//! certificate chain must be valid) and which log entry proves it.
//!
//! # The cosign-classic keyless form (for `verify.rs`)
//!
//! A `.sig` manifest layer whose blob is the simple-signing payload and whose annotations
//! hold `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`,
//! `dev.sigstore.cosign/chain` and `dev.sigstore.cosign/bundle` is verified with
//!
//! ```text
//! pub fn verify_cosign_keyless(
//!     input: &CosignKeyless<'_>,   // payload bytes + the four annotation values
//!     root: &TrustRoot,            // offline trust root (trusted_root.json or PEM files)
//!     policy: &IdentityPolicy,     // --certificate-identity[-regexp], --certificate-oidc-issuer[-regexp]
//!     options: &Options,           // require the Rekor bundle (default) or a fixed time
//! ) -> Result<VerifiedSigner, SigstoreError>
//! ```
//!
//! It checks the signature over the payload bytes with the certificate's key, the Rekor
//! bundle (SET under the log key chosen by logID; the entry body records this signature,
//! this certificate and `sha256(payload)`), the chain to a trusted CA at the integrated
//! time, and the identity policy. It does **not** look inside the payload: the caller still
//! checks `critical.image.docker-manifest-digest` and the reference, as for keyed signatures.
//!
//! Identity and issuer patterns follow cosign (Go `regexp.MatchString`): a `-regexp` pattern
//! is **not** implicitly anchored; write `^…$` to match the whole value. Exact values must
//! equal the whole SAN / issuer.

use crate::rekor::{LogEntry, VerifiedEntry};
use crate::sigalg::b64;
use crate::sigstore_error::SigstoreError;
use crate::trust_root::TrustRoot;
use crate::x509::{Cert, verify_chain};

/// Largest compiled regular expression accepted in a policy.
const MAX_REGEX_SIZE: usize = 1 << 20;

/// How a certificate value is matched.
#[derive(Debug, Clone)]
pub enum IdentityMatcher {
    /// The whole value must be equal.
    Exact(String),
    /// The regular expression must match somewhere (cosign semantics; anchor it yourself).
    Regex(regex::Regex),
}

impl IdentityMatcher {
    /// Compiles a `-regexp` pattern.
    ///
    /// # Errors
    /// An invalid or oversized pattern.
    pub fn regex(pattern: &str) -> Result<Self, SigstoreError> {
        regex::RegexBuilder::new(pattern)
            .size_limit(MAX_REGEX_SIZE)
            .build()
            .map(Self::Regex)
            .map_err(|e| {
                SigstoreError::Policy(format!("invalid regular expression {pattern:?}: {e}"))
            })
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Regex(r) => r.is_match(value),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Exact(s) => s.clone(),
            Self::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

/// Which certificate identities are accepted: both the SAN and the OIDC issuer must match.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Matches one of the certificate's SAN values.
    pub identity: IdentityMatcher,
    /// Matches the OIDC issuer extension.
    pub issuer: IdentityMatcher,
}

impl IdentityPolicy {
    /// Exact identity and issuer (`--certificate-identity`, `--certificate-oidc-issuer`).
    #[must_use]
    pub fn exact(identity: &str, issuer: &str) -> Self {
        Self {
            identity: IdentityMatcher::Exact(identity.to_owned()),
            issuer: IdentityMatcher::Exact(issuer.to_owned()),
        }
    }

    /// Builds a policy from cosign's four flags; exactly one of each pair must be given.
    ///
    /// # Errors
    /// Both or neither of a pair given, or an invalid regular expression.
    pub fn from_flags(
        identity: Option<&str>,
        identity_regexp: Option<&str>,
        issuer: Option<&str>,
        issuer_regexp: Option<&str>,
    ) -> Result<Self, SigstoreError> {
        let pick = |exact: Option<&str>, re: Option<&str>, what: &str| match (exact, re) {
            (Some(e), None) => Ok(IdentityMatcher::Exact(e.to_owned())),
            (None, Some(r)) => IdentityMatcher::regex(r),
            (Some(_), Some(_)) => Err(SigstoreError::Policy(format!(
                "give either --certificate-{what} or --certificate-{what}-regexp, not both"
            ))),
            (None, None) => Err(SigstoreError::Policy(format!(
                "keyless verification needs --certificate-{what} or --certificate-{what}-regexp"
            ))),
        };
        Ok(Self {
            identity: pick(identity, identity_regexp, "identity")?,
            issuer: pick(issuer, issuer_regexp, "oidc-issuer")?,
        })
    }

    /// Checks a certificate against the policy.
    ///
    /// # Errors
    /// [`SigstoreError::IdentityMismatch`] or [`SigstoreError::IssuerMismatch`].
    pub fn check(&self, cert: &Cert) -> Result<(Vec<String>, Option<String>), SigstoreError> {
        let ids = cert.identities()?;
        let issuer = cert.oidc_issuer()?;
        if !ids.iter().any(|id| self.identity.matches(id)) {
            return Err(SigstoreError::IdentityMismatch {
                expected: self.identity.describe(),
                found: ids,
            });
        }
        // As cosign: a certificate without an issuer extension has the empty issuer, which
        // only a pattern like `.*` (or an exact empty string) accepts.
        if !self.issuer.matches(issuer.as_deref().unwrap_or_default()) {
            return Err(SigstoreError::IssuerMismatch {
                expected: self.issuer.describe(),
                found: issuer,
            });
        }
        Ok((ids, issuer))
    }
}

/// Verification options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Require transparency-log evidence (the default, as cosign). When false and a
    /// signature has no log entry, the chain is checked at [`Options::time_without_tlog`].
    pub require_tlog: bool,
    /// The time (seconds since the epoch) used when there is no log entry and
    /// `require_tlog` is false, typically "now". Required in that case.
    pub time_without_tlog: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            require_tlog: true,
            time_without_tlog: None,
        }
    }
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A certificate (Fulcio or BYO PKI).
    Certificate {
        /// SAN values (e-mail, URI, …).
        identities: Vec<String>,
        /// OIDC issuer, if the certificate records one.
        issuer: Option<String>,
        /// Subject DN of the CA that issued the leaf.
        issued_by: String,
    },
    /// A public key given by the caller.
    Key {
        /// `sha256:` + hex of the key's DER SPKI.
        fingerprint: String,
    },
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSigner {
    /// Who signed.
    pub signer: Signer,
    /// When the signature provably existed (integrated time), if a log entry proved it.
    pub signed_at: Option<i64>,
    /// The log entry that proved it.
    pub log_entry: Option<VerifiedEntry>,
    /// The log entry kind (`hashedrekord 0.0.1`, `dsse 0.0.1`, …), if any.
    pub entry_kind: Option<String>,
}

/// A cosign-classic keyless signature as found on a `.sig` layer.
#[derive(Debug, Clone, Copy)]
pub struct CosignKeyless<'a> {
    /// The layer blob: the exact signed bytes.
    pub payload: &'a [u8],
    /// `dev.cosignproject.cosign/signature` (base64; line breaks tolerated).
    pub signature_b64: &'a str,
    /// `dev.sigstore.cosign/certificate` (PEM leaf).
    pub certificate_pem: &'a str,
    /// `dev.sigstore.cosign/chain` (PEM intermediates and possibly the root), if present.
    pub chain_pem: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle` (Rekor bundle JSON), if present.
    pub rekor_bundle: Option<&'a str>,
}

/// Verifies a cosign-classic keyless signature; see the module docs.
///
/// # Errors
/// The first check that failed, as a [`SigstoreError`].
pub fn verify_cosign_keyless(
    input: &CosignKeyless<'_>,
    root: &TrustRoot,
    policy: &IdentityPolicy,
    options: &Options,
) -> Result<VerifiedSigner, SigstoreError> {
    let signature = b64("cosign signature annotation", input.signature_b64)?;
    let mut leaf_certs = Cert::from_pem_chain(input.certificate_pem.as_bytes())?;
    if leaf_certs.len() != 1 {
        return Err(SigstoreError::malformed(
            "certificate annotation",
            format!("expected one certificate, found {}", leaf_certs.len()),
        ));
    }
    let leaf = leaf_certs.remove(0);
    let extra = match input.chain_pem {
        Some(p) if !p.trim().is_empty() => Cert::from_pem_chain(p.as_bytes())?,
        _ => Vec::new(),
    };
    let key = leaf.verifying_key()?;
    key.verify(key.default_scheme(), input.payload, &signature)
        .map_err(|e| {
            SigstoreError::Signature(format!("payload signature by the certificate key: {e}"))
        })?;

    let digest = crate::sigalg::HashAlg::Sha256.digest(input.payload);
    let (at, log_entry, entry_kind) = match input.rekor_bundle {
        Some(bundle) => {
            let entry = LogEntry::from_cosign_bundle(bundle.as_bytes())?;
            let verified = crate::rekor::verify_entry(&entry, root)?;
            let spki = leaf.public_key_der()?;
            let kind =
                crate::rekor::check_body(&entry.body, &signature, &[leaf.der(), &spki], &digest)?;
            let Some(t) = verified.integrated_time else {
                return Err(SigstoreError::Tlog(
                    "Rekor bundle has no signed integrated time".into(),
                ));
            };
            (t, Some(verified), Some(kind))
        }
        None if options.require_tlog => {
            return Err(SigstoreError::Tlog(
                "no Rekor bundle: nothing proves when the signature was made (the certificate \
                 is only valid for minutes); pass a bundle or disable the transparency-log requirement"
                    .into(),
            ));
        }
        None => {
            let Some(t) = options.time_without_tlog else {
                return Err(SigstoreError::Policy(
                    "no transparency log entry and no verification time given".into(),
                ));
            };
            (t, None, None)
        }
    };
    let chain = verify_chain(&leaf, &extra, root.certificate_authorities(), at)?;
    let (identities, issuer) = policy.check(&leaf)?;
    Ok(VerifiedSigner {
        signer: Signer::Certificate {
            identities,
            issuer,
            issued_by: chain.certs.get(1).map(Cert::subject).unwrap_or_default(),
        },
        signed_at: log_entry.as_ref().and_then(|e| e.integrated_time),
        log_entry,
        entry_kind,
    })
}
