//! Semantic Versioning 2.0.0 in its npm and Cargo flavours, and the shared core that the Go
//! scheme builds on. Precedence follows SemVer §11; build metadata never affects it.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::num::{Num, all_digits};
use crate::{Error, Scheme};

/// node-semver's `MAX_LENGTH`.
const NPM_MAX_LENGTH: usize = 256;
/// node-semver's limit on major, minor and patch: `Number.MAX_SAFE_INTEGER`.
const NPM_MAX_NUMBER: u64 = (1 << 53) - 1;

/// A parsed SemVer version (npm or Cargo flavour). Equality is precedence: build metadata is
/// ignored, so `1.0.0+a` equals `1.0.0+b`.
#[derive(Clone, Debug)]
pub struct SemVersion {
    text: Box<str>,
    core: Core,
}

/// Major, minor, patch, pre-release identifiers and build metadata.
#[derive(Clone, Debug)]
pub(crate) struct Core {
    major: Num,
    minor: Num,
    patch: Num,
    pre: Vec<Ident>,
    build: Option<Box<str>>,
}

/// A pre-release identifier; numeric ones sort before alphanumeric ones.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ident {
    Num(Num),
    Alnum(Box<str>),
}

/// How many of major, minor and patch the text must have.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parts {
    /// `MAJOR.MINOR.PATCH` exactly.
    Three,
    /// Go's shorthand: `1` and `1.2` stand for `1.0.0` and `1.2.0` when nothing follows.
    GoShorthand,
}

impl Core {
    /// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]` with no prefix and no surrounding blanks.
    pub(crate) fn parse(s: &str, parts: Parts) -> Result<Core, Cow<'static, str>> {
        if s.is_empty() {
            return Err("empty version".into());
        }
        let (rest, build) = match s.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (s, None),
        };
        let (main, pre) = match rest.split_once('-') {
            Some((main, pre)) => (main, Some(pre)),
            None => (rest, None),
        };
        let numbers: Vec<&str> = main.split('.').collect();
        let short_ok = parts == Parts::GoShorthand && pre.is_none() && build.is_none();
        if numbers.len() > 3 || (numbers.len() < 3 && !short_ok) {
            return Err("expected MAJOR.MINOR.PATCH".into());
        }
        let mut nums = [Num::zero(), Num::zero(), Num::zero()];
        for ((slot, text), name) in nums
            .iter_mut()
            .zip(&numbers)
            .zip(["major", "minor", "patch"])
        {
            if !all_digits(text) {
                return Err(format!("{name} version {text:?} is not a number").into());
            }
            if text.len() > 1 && text.starts_with('0') {
                return Err(format!("{name} version {text:?} has a leading zero").into());
            }
            *slot = Num::new(text);
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(|id| {
                    check_ident(id, "pre-release")?;
                    if all_digits(id) {
                        if id.len() > 1 && id.starts_with('0') {
                            return Err(format!(
                                "pre-release identifier {id:?} has a leading zero"
                            )
                            .into());
                        }
                        Ok(Ident::Num(Num::new(id)))
                    } else {
                        Ok(Ident::Alnum(id.into()))
                    }
                })
                .collect::<Result<_, Cow<'static, str>>>()?,
        };
        if let Some(build) = build {
            build
                .split('.')
                .try_for_each(|id| check_ident(id, "build metadata"))?;
        }
        let [major, minor, patch] = nums;
        Ok(Core {
            major,
            minor,
            patch,
            pre,
            build: build.map(Into::into),
        })
    }

    /// Whether major, minor or patch is greater than `max`.
    fn exceeds(&self, max: u64) -> bool {
        [&self.major, &self.minor, &self.patch]
            .iter()
            .any(|n| n.exceeds(max))
    }

    pub(crate) fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    pub(crate) fn build(&self) -> Option<&str> {
        self.build.as_deref()
    }

    /// SemVer §11 precedence.
    pub(crate) fn precedence(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then_with(|| self.minor.cmp(&other.minor))
            .then_with(|| self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

fn check_ident(id: &str, what: &str) -> Result<(), Cow<'static, str>> {
    if id.is_empty() {
        return Err(format!("empty {what} identifier").into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!("invalid character {c:?} in {what}").into());
    }
    Ok(())
}

impl SemVersion {
    /// npm: surrounding blanks and leading `v`/`=` are dropped (node-semver's `clean`), at most
    /// 256 characters, numbers up to 2^53 - 1.
    pub(crate) fn parse_npm(input: &str) -> Result<Self, Error> {
        let err = |reason: Cow<'static, str>| Error::invalid(Scheme::SemverNpm, input, reason);
        let cleaned = input.trim().trim_start_matches(['=', 'v']);
        if cleaned.len() > NPM_MAX_LENGTH {
            return Err(err(
                format!("longer than {NPM_MAX_LENGTH} characters").into()
            ));
        }
        let core = Core::parse(cleaned, Parts::Three).map_err(err)?;
        if core.exceeds(NPM_MAX_NUMBER) {
            return Err(err("number larger than 2^53 - 1".into()));
        }
        Ok(SemVersion {
            text: input.into(),
            core,
        })
    }

    /// Cargo: strict SemVer 2.0.0, numbers up to 2^64 - 1, as the `semver` crate accepts.
    pub(crate) fn parse_cargo(input: &str) -> Result<Self, Error> {
        let err = |reason: Cow<'static, str>| Error::invalid(Scheme::SemverCargo, input, reason);
        let core = Core::parse(input, Parts::Three).map_err(err)?;
        if core.exceeds(u64::MAX) {
            return Err(err("number larger than 2^64 - 1".into()));
        }
        Ok(SemVersion {
            text: input.into(),
            core,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the version has pre-release identifiers.
    pub fn is_prerelease(&self) -> bool {
        self.core.is_prerelease()
    }

    /// The build metadata after `+`, which plays no part in ordering.
    pub fn build(&self) -> Option<&str> {
        self.core.build()
    }
}

impl Ord for SemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.precedence(&other.core)
    }
}

crate::ordered_by_cmp!(SemVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn npm(s: &str) -> SemVersion {
        SemVersion::parse_npm(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn spec_example_ordering() {
        // SemVer 2.0.0 §11.
        let list = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(npm(a) < npm(b), "{a} < {b}");
                let (ca, cb) = (
                    SemVersion::parse_cargo(a).unwrap(),
                    SemVersion::parse_cargo(b).unwrap(),
                );
                assert!(ca < cb, "{a} < {b}");
            }
        }
    }

    #[test]
    fn build_metadata_is_ignored_and_numbers_are_numbers() {
        assert_eq!(npm("1.0.0+a"), npm("1.0.0+b"));
        assert_eq!(npm("1.0.0+a").build(), Some("a"));
        assert!(npm("1.0.0-1") < npm("1.0.0-alpha"));
        assert!(npm("1.0.0-beta11") < npm("1.0.0-beta2"));
        assert!(npm("1.0.0-2") < npm("1.0.0-10"));
        assert!(npm("1.10.0") > npm("1.9.0"));
    }

    #[test]
    fn npm_accepts_v_and_equals_cargo_does_not() {
        assert_eq!(npm("v1.2.3"), npm("1.2.3"));
        assert_eq!(npm("=1.2.3"), npm(" 1.2.3 "));
        assert_eq!(npm("v1.2.3").to_string(), "v1.2.3");
        assert!(SemVersion::parse_cargo("v1.2.3").is_err());
        assert!(SemVersion::parse_cargo(" 1.2.3").is_err());
        assert!(SemVersion::parse_npm("9007199254740992.0.0").is_err());
        assert!(SemVersion::parse_npm("9007199254740991.0.0").is_ok());
        assert!(SemVersion::parse_cargo("18446744073709551615.0.0").is_ok());
        assert!(SemVersion::parse_cargo("18446744073709551616.0.0").is_err());
        assert!(SemVersion::parse_npm(&format!("1.0.0-{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.3-a..b",
            "1.2.3-a_b",
            "a.b.c",
            "1.2.3 4",
        ] {
            assert!(
                SemVersion::parse_cargo(bad).is_err(),
                "{bad:?} should be invalid"
            );
        }
        let e = SemVersion::parse_cargo("1.02.3").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"invalid Cargo semver version "1.02.3": minor version "02" has a leading zero"#
        );
    }
}
