//! The check model shared by every target: a check's definition (stable ID, title, level,
//! target, rationale, remediation, references) and a result with its evidence.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// CIS profile level. Level 2 checks may reduce functionality; `--level 1` runs only level 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
}

impl Level {
    /// `1` or `2`.
    #[must_use]
    pub fn number(self) -> u8 {
        match self {
            Level::One => 1,
            Level::Two => 2,
        }
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(1) => Ok(Level::One),
            Raw::N(2) => Ok(Level::Two),
            Raw::N(n) => Err(serde::de::Error::custom(format!(
                "level must be 1 or 2, not {n}"
            ))),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1" => Ok(Level::One),
            "2" => Ok(Level::Two),
            other => Err(format!("level must be 1 or 2, not {other:?}")),
        }
    }
}

/// What a check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// Files of a host under a root directory.
    Host,
    /// The effective Docker daemon configuration.
    Daemon,
    /// A container's configuration (inspect JSON or the live engine).
    Container,
    /// An image's configuration and files.
    Image,
    /// A Dockerfile.
    Dockerfile,
    /// A Kubernetes Pod or workload template.
    Kubernetes,
}

impl TargetKind {
    /// The name used on the command line and in reports (`host`, `daemon`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Host => "host",
            TargetKind::Daemon => "daemon",
            TargetKind::Container => "container",
            TargetKind::Image => "image",
            TargetKind::Dockerfile => "dockerfile",
            TargetKind::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A check's static definition. IDs are stable: the CIS number where there is one
/// (`CIS-DOCKER-3.5`), our own otherwise (`PAL-IMAGE-…`, `PAL-DOCKERFILE-…`, `PSS-…`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CheckDef {
    pub id: &'static str,
    pub title: &'static str,
    pub level: Level,
    pub target: TargetKind,
    /// The CIS section title (e.g. "3 Docker daemon configuration files"), or our own grouping.
    pub section: &'static str,
    pub rationale: &'static str,
    pub remediation: &'static str,
    pub references: &'static [&'static str],
    /// `true` when the check cannot be decided automatically from the inputs we read
    /// (reported as [`Status::Manual`] with `manual_reason`).
    pub manual: bool,
    pub manual_reason: &'static str,
}

/// The CIS Docker Benchmark this registry follows.
pub const CIS_DOCKER: &str = "CIS Docker Benchmark v1.6.0";

/// The standard the Kubernetes checks follow.
pub const POD_SECURITY_STANDARDS: &str = "Kubernetes Pod Security Standards";

impl CheckDef {
    /// An automated check. References default to the CIS benchmark; use
    /// [`CheckDef::refs`] to replace them.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        id: &'static str,
        title: &'static str,
        level: Level,
        target: TargetKind,
        section: &'static str,
        rationale: &'static str,
        remediation: &'static str,
    ) -> CheckDef {
        CheckDef {
            id,
            title,
            level,
            target,
            section,
            rationale,
            remediation,
            references: &[CIS_DOCKER],
            manual: false,
            manual_reason: "",
        }
    }

    /// The same check, with other references.
    #[must_use]
    pub const fn refs(mut self, references: &'static [&'static str]) -> CheckDef {
        self.references = references;
        self
    }

    /// The same check, marked manual or live-only with the reason.
    #[must_use]
    pub const fn manual(mut self, reason: &'static str) -> CheckDef {
        self.manual = true;
        self.manual_reason = reason;
        self
    }

    /// The CIS number in the ID (`3.5` for `CIS-DOCKER-3.5`), if it is a CIS check.
    #[must_use]
    pub fn cis_number(&self) -> Option<&'static str> {
        self.id.strip_prefix("CIS-DOCKER-")
    }
}

/// The outcome of one check on one subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Info,
    Manual,
    NotApplicable,
}

impl Status {
    /// The word the JSON reports and the policy input use: `pass`, `fail`, `warn`, `info`,
    /// `manual`, `not-applicable` (the table writes `PASS` … `N/A`, see `Display`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Info => "info",
            Status::Manual => "manual",
            Status::NotApplicable => "not-applicable",
        }
    }

    /// `true` for the verdicts that mean "not compliant": fail and warn.
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Fail | Status::Warn)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
            Status::Info => "INFO",
            Status::Manual => "MANUAL",
            Status::NotApplicable => "N/A",
        })
    }
}

/// What was found, so a reader can check the verdict without re-running the tool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// What the result is about: a file path, a daemon setting, a container name, an image
    /// reference, a Dockerfile instruction, a Kubernetes object (`Deployment/ns/name`).
    pub subject: String,
    /// The file the evidence comes from, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// 1-based line in `file`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What was found, e.g. "mode 0775 (group-writable), owner 0:0".
    pub detail: String,
}

impl Evidence {
    /// Evidence about `subject` with a `detail`.
    #[must_use]
    pub fn new(subject: impl Into<String>, detail: impl Into<String>) -> Evidence {
        Evidence {
            subject: subject.into(),
            file: None,
            line: None,
            detail: detail.into(),
        }
    }

    /// The same evidence, pointing at a file (and line, when known).
    #[must_use]
    pub fn at(mut self, file: impl Into<PathBuf>, line: Option<u32>) -> Evidence {
        self.file = Some(file.into());
        self.line = line;
        self
    }
}

/// One result: a check applied to one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub status: Status,
    pub evidence: Vec<Evidence>,
}

impl CheckResult {
    /// A result with one piece of evidence.
    #[must_use]
    pub fn one(id: &'static str, status: Status, evidence: Evidence) -> CheckResult {
        CheckResult {
            id,
            status,
            evidence: vec![evidence],
        }
    }

    /// The subject of the first piece of evidence (empty when there is none).
    #[must_use]
    pub fn subject(&self) -> &str {
        self.evidence.first().map_or("", |e| e.subject.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_are_the_serialised_ones() {
        for s in [
            Status::Pass,
            Status::Fail,
            Status::Warn,
            Status::Info,
            Status::Manual,
            Status::NotApplicable,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
