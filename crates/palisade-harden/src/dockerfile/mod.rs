//! Dockerfile checks (`palisade bench dockerfile FILE`): our own parser of the Dockerfile
//! syntax BuildKit accepts, and the CIS Docker Benchmark 4.x rules a Dockerfile decides plus
//! our own `PAL-DOCKERFILE-*` rules, each mapped to the hadolint rules it overlaps with.
//!
//! Not for: image configurations or layers (see the image checks), shell linting.
//!
//! ```
//! use palisade_harden::check::Status;
//! use palisade_harden::dockerfile::{self, Options};
//!
//! let df = dockerfile::parse("FROM debian:12\nRUN apt-get update\nUSER 0:0\n").unwrap();
//! let results = dockerfile::check(&df, "Dockerfile".as_ref(), &Options::default(), &|_| true);
//! let user = results.iter().find(|r| r.id == "CIS-DOCKER-4.1").unwrap();
//! assert_eq!(user.status, Status::Fail);
//! assert_eq!(user.evidence[0].line, Some(3));
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::check::{CheckDef, CheckResult, TargetKind};
use crate::profile::Profile;
use crate::target::{Target, files_subject};

mod model;
mod parser;
mod rules;
mod shell;
mod words;

pub use model::{Model, Stage};
pub use parser::{
    Args, Dockerfile, Flag, Heredoc, Instruction, MAX_BYTES, MAX_COMMENT_CHARS, MAX_COMMENTS,
    MAX_INSTRUCTIONS, SyntaxError,
};
pub use rules::{CHECKS, hadolint_rules};
pub use words::Expanded;

/// Settings of the Dockerfile checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Registries base images may come from (`docker.io`, `registry.example.com:5000`,
    /// `*.example.com`). `None`: PAL-DOCKERFILE-1 is not applicable.
    pub trusted_registries: Option<Vec<String>>,
    /// `--build-arg NAME=value` overrides for ARG substitution.
    pub build_args: BTreeMap<String, String>,
}

/// Errors reading a Dockerfile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("reading Dockerfile {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a Dockerfile we can read.
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: u32,
        message: String,
    },
}

/// Parses Dockerfile text (see [`parser`](Dockerfile) for what is understood).
///
/// # Errors
/// On a syntax error, with its line.
pub fn parse(text: &str) -> Result<Dockerfile, SyntaxError> {
    parser::parse(text)
}

/// Reads and parses a Dockerfile (at most [`MAX_BYTES`], UTF-8).
///
/// # Errors
/// When the file cannot be read, is too large, is not UTF-8 or has a syntax error; the error
/// names the file and line.
pub fn parse_file(path: &Path) -> Result<Dockerfile, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_BYTES {
        return Err(Error::Syntax {
            path: path.to_owned(),
            line: 1,
            message: format!("larger than {MAX_BYTES} bytes; not read"),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        Error::Syntax {
            path: path.to_owned(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            message: "not UTF-8 text".into(),
        }
    })?;
    parser::parse(text).map_err(|e| Error::Syntax {
        path: path.to_owned(),
        line: e.line,
        message: e.message,
    })
}

/// Runs the Dockerfile checks that `select` keeps on a parsed Dockerfile; `path` names it in
/// the evidence. One result per finding (with the instruction's line), or one pass or
/// not-applicable result per check.
#[must_use]
pub fn check(
    df: &Dockerfile,
    path: &Path,
    options: &Options,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Vec<CheckResult> {
    let model = Model::new(df, &options.build_args);
    let ctx = rules::Ctx::new(model, options);
    rules::evaluate(&ctx, path, select)
}

/// [`parse_file`] then [`check`].
///
/// # Errors
/// As [`parse_file`].
pub fn check_file(
    path: &Path,
    options: &Options,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Result<Vec<CheckResult>, Error> {
    let df = parse_file(path)?;
    Ok(check(&df, path, options, select))
}

/// The Dockerfile target: parsed Dockerfiles and the `--build-arg` values for ARG
/// substitution. The profile's `trusted_registries` (when not empty) are the trusted list of
/// PAL-DOCKERFILE-1.
#[derive(Debug)]
pub struct Dockerfiles {
    files: Vec<(PathBuf, Dockerfile)>,
    build_args: BTreeMap<String, String>,
}

impl Dockerfiles {
    /// Reads and parses each file ([`parse_file`]).
    ///
    /// # Errors
    /// The first file that cannot be read or parsed.
    pub fn load(
        paths: &[PathBuf],
        build_args: BTreeMap<String, String>,
    ) -> Result<Dockerfiles, Error> {
        let mut files = Vec::new();
        for p in paths {
            files.push((p.clone(), parse_file(p)?));
        }
        Ok(Dockerfiles { files, build_args })
    }
}

impl Target for Dockerfiles {
    fn kind(&self) -> TargetKind {
        TargetKind::Dockerfile
    }

    fn subject(&self) -> String {
        files_subject(self.files.iter().map(|(p, _)| p))
    }

    fn check(&self, profile: &Profile) -> Result<Vec<CheckResult>, crate::Error> {
        let options = Options {
            trusted_registries: (!profile.trusted_registries.is_empty())
                .then(|| profile.trusted_registries.clone()),
            build_args: self.build_args.clone(),
        };
        let select = |d: &CheckDef| profile.selects(d);
        let mut out = Vec::new();
        for (path, df) in &self.files {
            out.extend(check(df, path, &options, &select));
        }
        Ok(out)
    }
}
