//! The input document: everything the caller gathered about one image. This is what the
//! built-in checks read and what Rego rules see as `input`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything known about the image being decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Input {
    /// The evaluation clock, RFC 3339 UTC (`2026-11-28T22:00:00Z`): exception expiry, DB age and
    /// Rego rules use it; nothing reads the system clock.
    pub now: String,
    /// The environment decided for (`prod`, `dev`, …).
    pub environment: String,
    /// The image.
    pub image: ImageInput,
    /// Signature verification results; `None` when not evaluated.
    pub trust: Option<TrustInput>,
    /// Vulnerability findings; `None` when not scanned.
    pub vulnerabilities: Option<VulnInput>,
    /// SBOM summary; `None` when not catalogued.
    pub sbom: Option<SbomInput>,
    /// Hardening check results; `None` when not run.
    pub hardening: Option<HardeningInput>,
}

/// The image's identity and configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageInput {
    /// The reference as requested (`registry.acme.com/app:1.2`).
    pub reference: String,
    /// Registry host (and port).
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Tag, if the reference has one.
    pub tag: Option<String>,
    /// The digest the image resolved to (`sha256:…`).
    pub digest: Option<String>,
    /// The image config's `created`, RFC 3339.
    pub created: Option<String>,
    /// The config's `User`.
    pub user: Option<String>,
    /// The config's `os`.
    pub os: Option<String>,
    /// The config's `architecture`.
    pub architecture: Option<String>,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// Read from a local layout, archive or directory: `reference` is its path (and tag), and
    /// it has no registry location or signatures that could be looked up.
    pub local: bool,
    /// For a local image: the caller vouched for the archive's own tag (`--trust-local-tags`),
    /// so `registry`, `repository` and `tag` come from it.
    pub local_tags_trusted: bool,
}

/// Signature verification results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustInput {
    /// Names (from the policy's `sources.keys` / `sources.keyless`) whose signatures verified.
    pub signers: Vec<String>,
    /// How many signatures were found.
    pub signatures: usize,
    /// Why the other signatures failed to verify.
    pub errors: Vec<String>,
    /// The attestations (in-toto statements) whose signature verified with a key or identity
    /// of the policy and whose subject names the image digest; never unverified ones.
    pub attestations: Vec<AttestationInput>,
}

/// One verified attestation, for Rego rules (`input.trust.attestations[_]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationInput {
    /// The statement's `predicateType` (`https://slsa.dev/provenance/v1`, …).
    pub predicate_type: String,
    /// The predicate as signed (JSON), or `null` when it was larger than the cap.
    pub predicate: serde_json::Value,
    /// The name (from `sources.keys` / `sources.keyless`) that signed it.
    pub signer: String,
    /// How it was stored and checked: `key`, `keyless` (cosign `.att` tag), `bundle-key`,
    /// `bundle-keyless` (Sigstore bundle referrer).
    pub kind: String,
    /// The statement's subjects (`name`, `digest` algorithm → hex).
    pub subjects: Vec<AttestationSubject>,
}

/// A subject of an attested statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationSubject {
    /// `name`, as the attester wrote it (may be empty).
    pub name: String,
    /// `digest`: algorithm → lower-case hex.
    pub digest: BTreeMap<String, String>,
}

/// Vulnerability scan results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VulnInput {
    /// When the vulnerability database was built, RFC 3339.
    pub db_built: Option<String>,
    /// The findings, in any order.
    pub findings: Vec<FindingInput>,
    /// What the database holds for each ecosystem or distro release of the image's packages.
    pub coverage: Vec<CoverageInput>,
    /// The packages no advisory in the database could be about (their ecosystem has no
    /// advisories, or they cannot be matched at all): no finding says nothing about them.
    pub not_covered: Vec<NotCoveredInput>,
}

/// What the database holds for one ecosystem or distro release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoverageInput {
    /// `Debian:12`, `PyPI`, `Alpine:v3.18`; a package type (`rpm`) for packages that cannot
    /// be matched at all.
    pub ecosystem: String,
    /// The image's packages there.
    pub packages: usize,
    /// Whether the database has advisories for it.
    pub covered: bool,
    /// How many.
    pub advisories: u64,
    /// The newest `modified` of those advisories, RFC 3339.
    pub newest: Option<String>,
    /// Why it is not covered.
    pub reason: Option<String>,
}

/// A package no advisory in the database could be about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotCoveredInput {
    /// Name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Package type (`deb`, `npm`, `rpm`, …).
    #[serde(rename = "type")]
    pub r#type: String,
    /// Package URL.
    pub purl: String,
    /// [`CoverageInput::ecosystem`] of its entry.
    pub ecosystem: String,
}

/// One advisory matching one package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FindingInput {
    /// The advisory ID (`GHSA-…`, `CVE-…`, `DSA-…`).
    pub id: String,
    /// Other IDs of the same issue.
    pub aliases: Vec<String>,
    /// The affected package.
    pub package: PackageInput,
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, `NEGLIGIBLE` or `UNKNOWN`.
    pub severity: String,
    /// The CVSS score, when known.
    pub cvss: Option<CvssInput>,
    /// `fixed`, `unfixed`, `wont-fix`, …
    pub status: String,
    /// Versions that fix it.
    pub fixed_versions: Vec<String>,
    /// Listed in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: bool,
    /// EPSS probability (0..1).
    pub epss: Option<f64>,
    /// One line saying why it matched (the matcher's words, e.g. the affected range).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// A package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackageInput {
    /// Name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Ecosystem type (`deb`, `apk`, `pypi`, …).
    #[serde(rename = "type")]
    pub r#type: String,
    /// Package URL.
    pub purl: String,
}

/// A CVSS score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CvssInput {
    /// Base score, 0..10.
    pub score: f64,
    /// Vector string.
    pub vector: String,
}

/// SBOM summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SbomInput {
    /// Number of packages.
    pub packages: usize,
    /// Packages per type.
    pub by_type: BTreeMap<String, usize>,
    /// The distribution (`debian 12`).
    pub distro: Option<String>,
}

/// Hardening check results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HardeningInput {
    /// One result per check.
    pub results: Vec<CheckInput>,
}

/// One hardening check result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckInput {
    /// Stable check ID (`CIS-DOCKER-4.1`).
    pub id: String,
    /// Check title.
    pub title: String,
    /// `pass`, `fail`, `warn`, `info`, `manual` or `not-applicable`.
    pub status: String,
    /// CIS level (1 or 2).
    pub level: u8,
    /// What was found.
    pub message: String,
    /// How to fix it.
    pub remediation: String,
}
