//! The check model shared by every target: a check's definition (stable ID, title, level,
//! target, rationale, remediation, references) and a result with its evidence.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// CIS profile level. Level 2 checks may reduce functionality; `--level 1` runs only level 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
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

/// One result: a check applied to one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub status: Status,
    pub evidence: Vec<Evidence>,
}
