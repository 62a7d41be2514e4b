//! The crate's error type.
//!
//! Every variant names the input that caused it (a key file, a reference, a signature layer) and,
//! where it helps, what was expected. Verification *failures* of a signature (wrong key, digest
//! mismatch) are errors too when a single check is asked for; the verifier collects them as
//! reasons instead of stopping at the first one.

use std::path::PathBuf;

/// Everything that can go wrong in `palisade-trust`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PEM document could not be read (missing armour, bad base64, unexpected label, too big).
    #[error("{what}: invalid PEM: {reason}")]
    Pem {
        /// What was being read, e.g. a file name or "public key".
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A key was structurally invalid or of an unsupported kind.
    #[error("{what}: {reason}")]
    Key {
        /// What was being read.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// An encrypted private key could not be decrypted (most often a wrong passphrase).
    #[error("{what}: cannot decrypt private key: {reason}")]
    Decrypt {
        /// What was being read.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A signature did not verify with the given key.
    #[error("signature does not verify with {key}: {reason}")]
    BadSignature {
        /// Description of the key (algorithm and fingerprint).
        key: String,
        /// What was wrong (malformed encoding or mathematical mismatch).
        reason: String,
    },
    /// A simple-signing payload was malformed or did not match what is being verified.
    #[error("signature payload: {0}")]
    Payload(String),
    /// Something read from a registry (signature manifest, layer) was refused.
    #[error("{what}: {reason}")]
    Registry {
        /// What was being read (a reference or digest).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// An error from the image/registry layer.
    #[error(transparent)]
    Image(#[from] palisade_image::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Invalid arguments or configuration (a bad rule, an annotation without `=`).
    #[error("{0}")]
    Invalid(String),
    /// Keyless / Sigstore bundle verification refused its input (see `sigstore_error`).
    #[error(transparent)]
    Sigstore(#[from] crate::sigstore_error::SigstoreError),
}

impl Error {
    pub(crate) fn pem(what: &str, reason: impl Into<String>) -> Self {
        Self::Pem {
            what: what.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn key(what: &str, reason: impl Into<String>) -> Self {
        Self::Key {
            what: what.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn registry(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Registry {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
