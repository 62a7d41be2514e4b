//! The error type of the keyless / Sigstore side: trust roots, certificate chains, Rekor
//! entries, DSSE envelopes and bundles. Every variant says what was wrong in words that
//! name the input (which certificate, which log entry, which field).

/// Why keyless or bundle verification refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigstoreError {
    /// The input could not be decoded (JSON, base64, PEM, DER, …).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which input was malformed.
        what: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// The input is larger, longer or more numerous than the configured bound.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// Which input was too large.
        what: &'static str,
        /// The bound that was exceeded.
        limit: usize,
    },
    /// The input is well formed but uses a feature this verifier does not implement.
    #[error("unsupported {what}: {detail}")]
    Unsupported {
        /// Which input.
        what: &'static str,
        /// What exactly is not supported.
        detail: String,
    },
    /// The certificate chain does not lead to a trusted root, or breaks a chain rule.
    #[error("certificate chain rejected: {0}")]
    Chain(String),
    /// A certificate was not valid at the time the signature was proven to exist.
    #[error("certificate {subject} is not valid at {at} (valid {not_before} .. {not_after})")]
    CertificateNotValidAt {
        /// The certificate's subject (or SAN for leaves without a subject).
        subject: String,
        /// The checked time, seconds since the Unix epoch.
        at: i64,
        /// notBefore, seconds since the epoch.
        not_before: i64,
        /// notAfter, seconds since the epoch.
        not_after: i64,
    },
    /// The certificate identity (SAN) does not match the policy.
    #[error("certificate identity mismatch: expected {expected}, certificate has {found:?}")]
    IdentityMismatch {
        /// The policy's identity or pattern.
        expected: String,
        /// The identities found in the certificate.
        found: Vec<String>,
    },
    /// The OIDC issuer recorded in the certificate does not match the policy.
    #[error("certificate OIDC issuer mismatch: expected {expected}, certificate has {found:?}")]
    IssuerMismatch {
        /// The policy's issuer or pattern.
        expected: String,
        /// The issuer found in the certificate, if any.
        found: Option<String>,
    },
    /// A cryptographic signature did not verify.
    #[error("invalid signature: {0}")]
    Signature(String),
    /// The transparency log evidence (SET, inclusion proof, checkpoint) is missing or invalid.
    #[error("transparency log entry rejected: {0}")]
    Tlog(String),
    /// The log entry body does not describe this signature, key or artifact.
    #[error("transparency log entry does not match the signature: {0}")]
    EntryMismatch(String),
    /// The artifact (image) digest does not match what was signed.
    #[error("artifact digest mismatch: signed {signed}, expected {expected}")]
    DigestMismatch {
        /// What the signature covers.
        signed: String,
        /// What the caller asked to verify.
        expected: String,
    },
    /// The policy itself is unusable (e.g. an invalid regular expression).
    #[error("invalid verification policy: {0}")]
    Policy(String),
}

impl SigstoreError {
    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Malformed {
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn unsupported(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Unsupported {
            what,
            detail: detail.to_string(),
        }
    }
}
