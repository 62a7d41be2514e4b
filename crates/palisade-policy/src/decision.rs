//! The decision document (`palisade.decision/v1`): stable field order, sorted reasons, no clock
//! other than the input's `now`.

use serde::Serialize;

/// The schema identifier written in every decision.
pub const DECISION_SCHEMA: &str = "palisade.decision/v1";

/// Allow, warn or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No deny and no warn reason.
    Allow,
    /// At least one warn reason, no deny reason.
    Warn,
    /// At least one deny reason.
    Deny,
}

/// What a reason does to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Makes the decision deny.
    Deny,
    /// Makes the decision warn (unless something denies).
    Warn,
    /// Would have denied or warned, but an exception applies.
    Excepted,
}

/// The policy section a reason comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// `sources`.
    Sources,
    /// `vulnerabilities`.
    Vulnerabilities,
    /// `hardening`.
    Hardening,
    /// `rules` (Rego).
    Rules,
}

/// The decision on one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Always [`DECISION_SCHEMA`].
    pub schema: &'static str,
    /// The verdict.
    pub decision: Verdict,
    /// The environment decided for.
    pub environment: String,
    /// The evaluation clock, echoed from the input.
    pub now: String,
    /// Which policy decided.
    pub policy: PolicyRef,
    /// Which image.
    pub image: ImageRef,
    /// Which sections ran.
    pub evaluated: Evaluated,
    /// Every reason, sorted by effect, section, code, subject, message.
    pub reasons: Vec<Reason>,
    /// Every exception of the policy and what became of it, in policy order.
    pub exceptions: Vec<ExceptionReport>,
    /// Counts of reasons by effect.
    pub summary: Summary,
}

/// The policy that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// The policy's `name` (or the file name).
    pub name: String,
    /// The policy file format version.
    pub version: u64,
    /// Hex SHA-256 of the policy file bytes.
    pub sha256: String,
}

/// The image decided on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// The reference as requested.
    pub reference: String,
    /// The resolved digest, when known.
    pub digest: Option<String>,
    /// `registry` (the reference names where it came from), `local` (a layout, archive or
    /// directory, named by its path), or `local-tags-trusted` (local, and the caller vouched
    /// for its own tag with `--trust-local-tags`).
    pub origin: &'static str,
}

/// Which sections ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evaluated {
    /// The `sources` section (source rules and signatures).
    pub trust: bool,
    /// The `vulnerabilities` section.
    pub vulnerabilities: bool,
    /// The `hardening` section.
    pub hardening: bool,
    /// How many Rego rules ran.
    pub rules: usize,
}

/// One reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// Deny, warn or excepted.
    pub effect: Effect,
    /// The section it comes from.
    pub section: Section,
    /// A stable kebab-case code (see the docs for the list).
    pub code: String,
    /// The policy setting or rule that produced it (`max_cvss`, a source rule name, a Rego rule
    /// name, a check ID).
    pub rule: String,
    /// What it is about (an advisory in a package, a check, the image); shape depends on the
    /// section.
    pub subject: serde_json::Value,
    /// A sentence for humans.
    pub message: String,
    /// How to fix it, when known.
    pub fix: Option<String>,
    /// The exception that applies (`applied`) or would have applied (`expired`).
    pub exception: Option<ExceptionRef>,
}

/// An exception attached to a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionRef {
    /// The exception's name.
    pub name: String,
    /// `applied` or `expired`.
    pub status: ExceptionStatus,
    /// Its justification.
    pub reason: String,
    /// Who approved it.
    pub approved_by: String,
    /// Its last valid day, `YYYY-MM-DD`.
    pub expires: String,
}

/// What became of an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExceptionStatus {
    /// It matched at least one reason and has not expired.
    Applied,
    /// Its expiry date has passed (whether or not it matched anything).
    Expired,
    /// Not expired, but it matched nothing (or does not apply in this environment).
    Unused,
}

impl ExceptionStatus {
    /// `applied`, `expired` or `unused`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionStatus::Applied => "applied",
            ExceptionStatus::Expired => "expired",
            ExceptionStatus::Unused => "unused",
        }
    }
}

/// One exception of the policy, as reported in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionReport {
    /// The exception's name.
    pub name: String,
    /// Applied, expired or unused.
    pub status: ExceptionStatus,
    /// Its justification.
    pub reason: String,
    /// Who approved it.
    pub approved_by: String,
    /// Its last valid day.
    pub expires: String,
    /// How many reasons it matched (applied or, when expired, would have).
    pub matched: usize,
}

/// Counts of reasons by effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    /// Deny reasons.
    pub deny: usize,
    /// Warn reasons.
    pub warn: usize,
    /// Excepted reasons.
    pub excepted: usize,
}

impl Decision {
    /// The decision as pretty JSON (two-space indent, trailing newline), byte-identical for the
    /// same policy and input.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}
