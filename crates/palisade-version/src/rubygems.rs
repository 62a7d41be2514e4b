//! RubyGems versions, ordered as `Gem::Version#<=>`: numeric and letter segments, and any
//! letter makes a pre-release.

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Error, Scheme};

/// A parsed gem version. Equality is the ordering's: `1` equals `1.0` and `1.0.a` equals `1.a`.
#[derive(Clone, Debug)]
pub struct GemVersion {
    text: Box<str>,
    /// `Gem::Version#canonical_segments`: trailing zeros dropped from the numeric part and from
    /// the part starting at the first letter segment.
    segments: Vec<Segment>,
    prerelease: bool,
}

/// Letters sort before numbers at the same place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Str(Box<str>),
    Num(Num),
}

impl GemVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: &'static str| Error::invalid(Scheme::RubyGems, input, reason);
        let trimmed = input.trim_matches(ruby_space);
        if trimmed.is_empty() {
            // RubyGems reads "" as "0"; an empty version here is a data error.
            return Err(err("empty version"));
        }
        if !valid(trimmed) {
            return Err(err("malformed version number string"));
        }
        // `-` stands for `.pre.`; segments are the runs of digits and of letters.
        let mut segments = Vec::new();
        let mut rest = trimmed;
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
            let s = &rest[start..];
            let digits = s.as_bytes()[0].is_ascii_digit();
            let len = s
                .find(|c: char| {
                    if digits {
                        !c.is_ascii_digit()
                    } else {
                        !c.is_ascii_alphabetic()
                    }
                })
                .unwrap_or(s.len());
            push_pre(&mut segments, &rest[..start]);
            let run = &s[..len];
            segments.push(if digits {
                Segment::Num(Num::new(run))
            } else {
                Segment::Str(run.into())
            });
            rest = &s[len..];
        }
        push_pre(&mut segments, rest);
        let prerelease = trimmed.contains(|c: char| c.is_ascii_alphabetic() || c == '-');
        let split = segments
            .iter()
            .position(|s| matches!(s, Segment::Str(_)))
            .unwrap_or(segments.len());
        let mut strings = segments.split_off(split);
        let is_zero = |s: &Segment| matches!(s, Segment::Num(n) if n.is_zero());
        while segments.last().is_some_and(is_zero) {
            segments.pop();
        }
        while strings.last().is_some_and(is_zero) {
            strings.pop();
        }
        segments.append(&mut strings);
        Ok(GemVersion {
            text: input.into(),
            segments,
            prerelease,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the version has a letter (or a `-`) in it.
    pub fn is_prerelease(&self) -> bool {
        self.prerelease
    }
}

/// One `pre` segment per `-` in the separators between two runs (`-` reads as `.pre.`).
fn push_pre(segments: &mut Vec<Segment>, separators: &str) {
    for _ in separators.matches('-') {
        segments.push(Segment::Str("pre".into()));
    }
}

/// Ruby's `\s`.
fn ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// `\A\s*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?\s*\z` without the blanks.
fn valid(s: &str) -> bool {
    let (main, pre) = match s.split_once('-') {
        Some((main, pre)) => (main, Some(pre)),
        None => (s, None),
    };
    let mut parts = main.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()));
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    });
    first_ok && rest_ok && pre_ok
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Num(Num::zero());
        let n = self.segments.len().max(other.segments.len());
        (0..n)
            .map(|i| {
                let a = self.segments.get(i).unwrap_or(&zero);
                let b = other.segments.get(i).unwrap_or(&zero);
                a.cmp(b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

crate::ordered_by_cmp!(GemVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> GemVersion {
        GemVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ascending(list: &[&str]) {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(v(a) < v(b), "{a} < {b}");
                assert!(v(b) > v(a), "{b} > {a}");
            }
        }
    }

    #[test]
    fn prereleases_sort_first() {
        ascending(&["1.0.a", "1.0", "1.0.1"]);
        ascending(&["1.0.a1", "1.0.a2", "1.0.b1", "1.0.rc1", "1.0"]);
        ascending(&["1.0.0.a", "1.0.0.a.1", "1.0.0.b", "1.0.0"]);
        ascending(&["1.9.3", "1.10.0", "1.10.0.1"]);
        ascending(&["5.a", "5.0.0.rc2", "5.0.0"]);
        assert!(v("1.0.a").is_prerelease());
        assert!(v("1.0-beta").is_prerelease());
        assert!(!v("1.0").is_prerelease());
    }

    #[test]
    fn canonical_equalities() {
        assert_eq!(v("1"), v("1.0"));
        assert_eq!(v("1.0.0"), v("1"));
        assert_eq!(v("1.0.a"), v("1.a"));
        assert_eq!(v("1.0.a.0"), v("1.a"));
        assert_eq!(v("1.0-beta"), v("1.0.pre.beta"));
        assert_eq!(v("1.0--a"), v("1.0.pre.pre.a"));
        assert_eq!(v("1.0-a-"), v("1.0.pre.a.pre"));
        assert_eq!(v("\u{b}1.0\t"), v("1"));
        assert_eq!(v(" 1.0 "), v("1"));
        assert_eq!(v("01.2"), v("1.2"));
        assert_ne!(v("1.0.a"), v("1.0.b"));
    }

    #[test]
    fn malformed_versions_are_rejected() {
        for bad in [
            "", " ", "a", "1a", ".1", "1.", "1..2", "1.0-", "1.0-a..b", "1_0", "1.0 1", "1.0+1",
            "1.é",
        ] {
            assert!(GemVersion::parse(bad).is_err(), "{bad:?} should be invalid");
        }
        assert_eq!(
            GemVersion::parse("1a").unwrap_err().to_string(),
            r#"invalid RubyGems version "1a": malformed version number string"#
        );
    }
}
