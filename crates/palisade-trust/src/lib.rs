//! Image trust: cosign-compatible keys, signatures and their discovery in registries,
//! keyless (Fulcio + Rekor) verification against an offline trust root, Sigstore bundles,
//! and trusted-source rules that turn all of it into an allow/deny decision with reasons.
//!
//! Not for: vulnerability data, hardening, the policy file as a whole (`palisade-policy`
//! reuses [`rules`]).
