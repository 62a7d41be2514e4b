//! The one error type: every problem names the file, line and column it comes from.

use std::fmt;

/// What kind of problem a [`PolicyError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be read (line and column are 0).
    Io,
    /// The YAML is malformed, has an unknown key or a value of the wrong type.
    Syntax,
    /// The YAML is well-formed but a value is not acceptable (glob, date, signer name, …).
    Invalid,
    /// A Rego module does not compile.
    Rego,
    /// A Rego rule failed while evaluating (runtime error, time limit, bad result shape).
    Eval,
    /// A policy-test file is malformed.
    Test,
}

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given by the caller (or resolved relative to the policy file).
    pub path: String,
    /// 1-based line; 0 when not known.
    pub line: u64,
    /// 1-based column; 0 when not known.
    pub column: u64,
    /// What is wrong, starting with the key path when there is one
    /// (`exceptions[0].expires: invalid date "2027-02-30"`).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path, self.line, self.column, self.message
            )
        }
    }
}

/// Why a policy (or a policy test, or an evaluation) failed. The first problem is in `path`,
/// `line`, `column` and `message`; further problems found in the same pass are in `more`.
/// `Display` prints one problem per line as `path:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// The file the (first) problem is in.
    pub path: String,
    /// 1-based line; 0 when not known (I/O errors).
    pub line: u64,
    /// 1-based column; 0 when not known.
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// Further problems, in file order.
    pub more: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first())?;
        for d in &self.more {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl PolicyError {
    pub(crate) fn new(
        kind: ErrorKind,
        path: impl Into<String>,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            kind,
            path: path.into(),
            line,
            column,
            message: message.into(),
            more: Vec::new(),
        }
    }

    pub(crate) fn io(path: impl Into<String>, err: &std::io::Error) -> PolicyError {
        PolicyError::new(ErrorKind::Io, path, 0, 0, err.to_string())
    }

    /// Builds one error out of several diagnostics (sorted by file, line, column); `None` when
    /// there are none.
    pub(crate) fn from_diagnostics(
        kind: ErrorKind,
        mut all: Vec<Diagnostic>,
    ) -> Option<PolicyError> {
        all.sort_by(|a, b| {
            (a.line, a.column, &a.path, &a.message).cmp(&(b.line, b.column, &b.path, &b.message))
        });
        all.dedup();
        let mut it = all.into_iter();
        let first = it.next()?;
        Some(PolicyError {
            kind,
            path: first.path,
            line: first.line,
            column: first.column,
            message: first.message,
            more: it.collect(),
        })
    }

    /// The first problem as a [`Diagnostic`].
    #[must_use]
    pub fn first(&self) -> Diagnostic {
        Diagnostic {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
        }
    }

    /// Every problem, the first one included.
    #[must_use]
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut v = vec![self.first()];
        v.extend(self.more.iter().cloned());
        v
    }
}
