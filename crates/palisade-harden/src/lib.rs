//! Hardening checks with stable IDs mapped to the CIS Docker Benchmark v1.6.0: host files,
//! daemon configuration, containers, images, Dockerfiles and Kubernetes pod specs. Every
//! check has a rationale and a remediation; every result carries its evidence.
//!
//! Not for: vulnerabilities, signatures, the policy decision (`palisade-policy` reuses
//! [`check`] profiles).

pub mod check;
