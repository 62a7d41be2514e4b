//! Image trust: cosign-compatible keys, signatures and their discovery in registries,
//! keyless (Fulcio + Rekor) verification against an offline trust root, Sigstore bundles,
//! and trusted-source rules that turn all of it into an allow/deny decision with reasons.
//!
//! Not for: vulnerability data, hardening, the policy file as a whole (`palisade-policy`
//! reuses [`rules`]).

pub mod bundle;
pub mod cosign;
pub mod discover;
pub mod dsse;
pub mod error;
pub mod keyless;
pub mod keys;
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
