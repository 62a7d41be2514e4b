//! Image trust: cosign-compatible keys, signatures and their discovery in registries,
//! keyless (Fulcio + Rekor) verification against an offline trust root, Sigstore bundles,
//! and trusted-source rules that turn all of it into an allow/deny decision with reasons.
//!
//! Not for: vulnerability data, hardening, the policy file as a whole (`palisade-policy`
//! reuses [`rules`]).

pub mod attest;
pub mod bundle;
pub mod containers_policy;
pub mod cosign;
pub mod discover;
pub mod dsse;
pub mod error;
pub mod gpg;
pub mod keyless;
pub mod keys;
pub mod notary;
pub mod notation;
pub mod payload;
pub mod rekor;
pub mod rfc3161;
pub mod rules;
mod sigalg;
pub mod sign;
pub mod sigstore_error;
pub mod trust_root;
pub mod verify;
pub mod x509;

pub use error::{Error, Result};

/// Reads a trust file (a trusted root, CA certificates, a Rekor key) of at most `limit`
/// bytes.
///
/// # Errors
/// The file cannot be read, or is larger than `limit`.
pub fn read_trust_file(path: &std::path::Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::Invalid(format!(
            "{} is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}
