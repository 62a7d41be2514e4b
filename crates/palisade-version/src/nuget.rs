//! NuGet package versions, ordered as `NuGet.Versioning` orders them: up to four numeric
//! parts (`Major.Minor.Patch.Revision`, missing parts are zero), then SemVer 2.0.0
//! pre-release labels compared case-insensitively; build metadata never counts.
//!
//! Reference: <https://learn.microsoft.com/en-us/nuget/concepts/package-versioning>
//! (normalized versions: `1.0 == 1.0.0 == 1.0.0.0`, `1.01 == 1.1`; pre-release labels
//! `1.0.0-Beta == 1.0.0-beta`).

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Error, Scheme};

/// Longest version text read (NuGet itself limits ids, not versions; real ones are short).
const MAX_LEN: usize = 256;

/// A parsed NuGet version. Equality is the ordering's: `1.0` equals `1.0.0.0`, and
/// `1.0.0-RC.1` equals `1.0.0-rc.1+build`.
#[derive(Clone, Debug)]
pub struct NuGetVersion {
    text: Box<str>,
    /// Major, minor, patch, revision (missing parts are zero).
    release: [Num; 4],
    /// Dot-separated pre-release labels; empty for a release.
    pre: Vec<Label>,
}

/// A pre-release label: numbers sort before words, as in SemVer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Num(Num),
    /// Lower-cased: NuGet compares labels ignoring case.
    Word(Box<str>),
}

impl NuGetVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: &'static str| Error::invalid(Scheme::NuGet, input, reason);
        if input.len() > MAX_LEN {
            return Err(err("longer than 256 characters"));
        }
        let text = input.trim();
        if text.is_empty() {
            return Err(err("empty version"));
        }
        let (text, metadata) = match text.split_once('+') {
            Some((v, m)) => (v, Some(m)),
            None => (text, None),
        };
        if let Some(m) = metadata
            && (m.is_empty() || !m.split('.').all(identifier))
        {
            return Err(err("malformed build metadata"));
        }
        let (numbers, pre) = match text.split_once('-') {
            Some((n, p)) => (n, Some(p)),
            None => (text, None),
        };
        let parts: Vec<&str> = numbers.split('.').collect();
        if parts.len() > 4 {
            return Err(err("more than four numeric parts"));
        }
        if parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err("the version parts must be numbers"));
        }
        let mut release: [Num; 4] = std::array::from_fn(|_| Num::new("0"));
        for (slot, part) in release.iter_mut().zip(&parts) {
            *slot = Num::new(part);
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) if p.is_empty() || !p.split('.').all(identifier) => {
                return Err(err("malformed pre-release label"));
            }
            Some(p) => p
                .split('.')
                .map(|l| {
                    if l.bytes().all(|b| b.is_ascii_digit()) {
                        Label::Num(Num::new(l))
                    } else {
                        Label::Word(l.to_ascii_lowercase().into())
                    }
                })
                .collect(),
        };
        Ok(NuGetVersion {
            text: input.into(),
            release,
            pre,
        })
    }

    /// The text exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the version has a pre-release label (`1.0.0-beta`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

/// A SemVer identifier: one or more of `[0-9A-Za-z-]`.
fn identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.release.cmp(&other.release).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A release sorts after its pre-releases.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

crate::ordered_by_cmp!(NuGetVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> NuGetVersion {
        NuGetVersion::parse(s).unwrap()
    }

    #[test]
    fn orders_as_nuget_does() {
        // Each strictly below the next.
        let chain = [
            "0.9",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-BETA",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0.1",
            "1.0.1",
            "1.0.118.0",
            "1.2",
            "12.0.1",
            "13.0.1",
        ];
        for w in chain.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn normalized_forms_are_equal() {
        for (a, b) in [
            ("1", "1.0.0.0"),
            ("1.0", "1.0.0"),
            ("1.01", "1.1"),
            ("1.0.0-Beta", "1.0.0-beta"),
            ("1.0.0+build.5", "1.0.0"),
            ("1.0.118.0", "1.0.118"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
        assert_eq!(
            v("1.0.0-Beta").to_string(),
            "1.0.0-Beta",
            "text kept as written"
        );
    }

    #[test]
    fn refuses_what_nuget_refuses() {
        for bad in [
            "",
            "1.2.3.4.5",
            "v1.0.0",
            "1..0",
            "1.0.0-",
            "1.0.0-be_ta",
            "1.0.0+",
            "1.a",
        ] {
            assert!(NuGetVersion::parse(bad).is_err(), "{bad:?}");
        }
        assert!(NuGetVersion::parse(&"1".repeat(300)).is_err());
    }
}
