//! One decision for one image under one policy: gather what the policy needs (the signatures
//! of the digest that was read, the scan, the image's hardening results), build the documented
//! input document, and let `palisade-policy` evaluate it into the typed
//! [`palisade_policy::Decision`].
//!
//! `palisade gate` calls this crate, and so will the admission webhook, the Docker
//! authorization plugin and registry scanning: the same image, policy and database give the
//! same decision wherever it is asked for.
//!
//! For the enforcement points, it also converts hardening reports into policy inputs alike
//! ([`check_inputs`]) and resolves a tag to the digest to decide on ([`resolve`]).
//!
//! Not for: how the request arrived (flags, HTTP, AdmissionReview), rendering the decision, or
//! exit codes. Warnings and progress go through a [`palisade_scan::Observer`]; this crate never
//! prints.
//!
//! ```no_run
//! use palisade_gate::Gate;
//! use palisade_policy::Policy;
//! use palisade_scan::SourceOptions;
//!
//! let policy = Policy::load("policy.yaml".as_ref())?;
//! let options = SourceOptions::default();
//! let gate = Gate {
//!     policy: &policy,
//!     environment: policy.environment(Some("prod"))?,
//!     now: "2026-12-06T00:00:00Z",
//!     db_path: None,
//!     options: &options,
//!     trust_local_tags: false,
//! };
//! let evaluation = gate.decide("registry:registry.example/app:1.0", &palisade_scan::Silent)?;
//! println!("{:?}", evaluation.decision.decision);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod gather;
mod hardening;
mod resolve;

use std::path::PathBuf;

pub use gather::{sbom_summary, vuln_input};
pub use hardening::{check_input, check_inputs};
use palisade_policy::{Evaluation, Input, Policy};
use palisade_scan::{Observer, SourceOptions};
pub use resolve::resolve;

/// What can go wrong while deciding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image could not be opened or read.
    #[error(transparent)]
    Image(Box<palisade_image::Error>),
    /// The scan failed (database, catalog).
    #[error(transparent)]
    Scan(#[from] palisade_scan::Error),
    /// Signatures could not be looked up or a policy key could not be read.
    #[error("{what}: {source}")]
    Trust {
        /// What was being done.
        what: String,
        /// The trust crate's error.
        #[source]
        source: Box<palisade_trust::Error>,
    },
    /// The image's hardening could not be checked.
    #[error(transparent)]
    Harden(Box<palisade_harden::Error>),
    /// The policy could not be evaluated.
    #[error(transparent)]
    Policy(Box<palisade_policy::PolicyError>),
    /// The request cannot be decided as asked (an SBOM instead of an image, a bad clock).
    #[error("{0}")]
    Invalid(String),
    /// The registry has no manifest for a tag ([`resolve`]).
    #[error(
        "{reference}: the registry has no such repository or tag; check the name and the tag, \
         or push the image first"
    )]
    NotFound {
        /// The reference asked for.
        reference: String,
    },
}

impl From<palisade_image::Error> for Error {
    fn from(e: palisade_image::Error) -> Error {
        Error::Image(Box::new(e))
    }
}

impl From<palisade_harden::Error> for Error {
    fn from(e: palisade_harden::Error) -> Error {
        Error::Harden(Box::new(e))
    }
}

impl From<palisade_policy::PolicyError> for Error {
    fn from(e: palisade_policy::PolicyError) -> Error {
        Error::Policy(Box::new(e))
    }
}

/// The gate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One policy in one environment, with the settings to read images.
#[derive(Clone)]
pub struct Gate<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The environment whose overrides apply (checked by [`Policy::environment`]).
    pub environment: &'a str,
    /// The evaluation clock, RFC 3339 UTC (see [`normalise_now`]).
    pub now: &'a str,
    /// The vulnerability database (default: [`palisade_scan::VulnDb::default_path`]).
    pub db_path: Option<PathBuf>,
    /// How images are opened and cached.
    pub options: &'a SourceOptions,
    /// For a local image: take its own tag as where it came from (anyone can write it; the
    /// decision records that the caller vouched for it).
    pub trust_local_tags: bool,
}

impl Gate<'_> {
    /// Builds the policy's input document for the image `source`, running only the stages
    /// the policy needs.
    pub fn gather(&self, source: &str, observer: &dyn Observer) -> Result<Input> {
        gather::gather(self, source, observer).map(|(input, _)| input)
    }

    /// [`Gate::gather`], also returning the image's catalog when the policy needed one (to
    /// store it, match it again later, or export it as an SBOM).
    pub fn gather_with_catalog(
        &self,
        source: &str,
        observer: &dyn Observer,
    ) -> Result<(Input, Option<palisade_catalog::Catalog>)> {
        gather::gather(self, source, observer)
    }

    /// Gathers and evaluates: the decision for `source`.
    pub fn decide(&self, source: &str, observer: &dyn Observer) -> Result<Evaluation> {
        let input = self.gather(source, observer)?;
        self.evaluate(&input)
    }

    /// Evaluates an input document (gathered here, or saved by `--write-input`).
    pub fn evaluate(&self, input: &Input) -> Result<Evaluation> {
        Ok(self.policy.evaluate(input)?)
    }
}

/// The current time, RFC 3339 UTC to the second.
#[must_use]
pub fn now_utc() -> String {
    palisade_image::Timestamp::now().to_string()
}

/// A clock given by a user: RFC 3339 UTC (`2026-11-28T12:00:00Z`) or a date (midnight UTC),
/// as the evaluation clock of exception expiry, database age and Rego rules.
pub fn normalise_now(text: &str) -> Result<String> {
    palisade_image::Timestamp::parse_utc_or_date(text.trim())
        .map(|t| t.to_string())
        .map_err(|_| {
            Error::Invalid(format!(
                "--now {text:?}: expected YYYY-MM-DD or an RFC 3339 UTC time such as \
                 2026-11-28T12:00:00Z"
            ))
        })
}
