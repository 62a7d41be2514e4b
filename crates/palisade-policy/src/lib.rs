//! The one policy file of Palisade (trusted sources, vulnerability thresholds, hardening
//! profile, exceptions with expiry and justification, custom Rego rules) and its evaluation
//! into one decision — allow, warn or deny — with every reason attached.
//!
//! Not for: gathering facts. The caller (`palisade-gate`, for the CLI and the server) verifies
//! signatures, scans and runs hardening checks, and hands the results over as an [`Input`]
//! document; this crate reads only the policy file, the Rego files it names and policy-test
//! files, and never the clock (`input.now` is the clock).
//!
//! Enforcement points that judge more than an image (the admission webhook, the Docker
//! authorization plugin) call the same code for parts of a policy:
//! [`Policy::evaluate_checks`] for the hardening results of a workload, a container request or
//! a host, [`Policy::source_reasons`] for a pull before any signature exists, and
//! [`Policy::dependencies`] to know which files to watch and ship with the policy.
//!
//! ```
//! use palisade_policy::{Input, Policy};
//!
//! let policy = Policy::parse(
//!     "version: 1\nvulnerabilities:\n  max_cvss: 8.9\n",
//!     "policy.yaml",
//!     std::path::Path::new("."),
//! )?;
//! let input: Input = serde_json::from_str(
//!     r#"{"now": "2026-11-28T22:00:00Z", "image": {"reference": "registry.acme.com/app:1"},
//!         "vulnerabilities": {"db_built": "2026-11-28T00:00:00Z", "findings": []}}"#,
//! ).expect("valid input");
//! let evaluation = policy.evaluate(&input)?;
//! assert_eq!(evaluation.decision.summary.deny, 0);
//! # Ok::<(), palisade_policy::PolicyError>(())
//! ```

mod decision;
mod error;
mod eval;
#[doc(hidden)]
pub mod fuzzing;
mod input;
mod model;
mod policy;
mod rego;
mod sandbox;
mod starter;
mod testing;

pub use decision::{
    DECISION_SCHEMA, Decision, Effect, Evaluated, ExceptionRef, ExceptionReport, ExceptionStatus,
    ImageRef, PolicyRef, Reason, Section, Summary, Verdict,
};
pub use error::{Diagnostic, ErrorKind, PolicyError};
pub use eval::Evaluation;
pub use input::{AttestationInput, AttestationSubject};
pub use input::{
    CheckInput, CoverageInput, CvssInput, FindingInput, HardeningInput, ImageInput, Input,
    NotCoveredInput, PackageInput, SbomInput, TrustInput, VulnInput,
};
pub use policy::GpgSource;
pub use policy::NotarySource;
pub use policy::NotationSource;
pub use policy::{ExceptionInfo, Keyless, MAX_ITEMS, MAX_POLICY_BYTES, Needs, Policy};
pub use sandbox::{
    DEFAULT_RULE_CPU_SECONDS, DEFAULT_RULE_MEMORY_BYTES, DEFAULT_RULE_OUTPUT_BYTES,
    DEFAULT_RULE_TIMEOUT, RuleBudget, RuleWorker, install_rule_worker, rule_worker_main,
};
pub use starter::STARTER_POLICY;
pub use testing::{CaseResult, TestReport, run_tests};

/// The JSON Schema (draft 2020-12) of the policy file.
pub const POLICY_SCHEMA: &str = include_str!("../policy.schema.json");
