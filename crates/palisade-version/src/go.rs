//! Go versions: module versions (`v1.2.3`, pseudo-versions, `+incompatible`), the same without
//! the `v` as OSV writes them, and Go release tags (`go1.21.3`, `go1.21rc2`).

use std::cmp::Ordering;

use crate::num::all_digits;
use crate::semver::{Core, Parts};
use crate::{Error, Scheme};

/// A parsed Go version, ordered as `golang.org/x/mod/semver.Compare` orders its canonical form.
/// Build metadata such as `+incompatible` is ignored.
#[derive(Clone, Debug)]
pub struct GoVersion {
    text: Box<str>,
    core: Core,
}

impl GoVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::invalid(Scheme::Go, input, reason);
        let core = if let Some(tag) = input.strip_prefix("go") {
            release_tag(tag).ok_or_else(|| {
                err("not a Go release tag (go1.N, go1.N.P, go1.NrcN, go1.NbetaN)".into())
            })?
        } else if let Some(v) = input.strip_prefix('v') {
            Core::parse(v, Parts::GoShorthand).map_err(|e| err(e.into_owned()))?
        } else {
            match Core::parse(input, Parts::GoShorthand) {
                Ok(core) => core,
                Err(e) => release_tag(input).ok_or_else(|| err(e.into_owned()))?,
            }
        };
        Ok(GoVersion {
            text: input.into(),
            core,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the version has pre-release identifiers (pseudo-versions all do).
    pub fn is_prerelease(&self) -> bool {
        self.core.is_prerelease()
    }

    /// The build metadata after `+` (`incompatible`), which plays no part in ordering.
    pub fn build(&self) -> Option<&str> {
        self.core.build()
    }
}

/// A Go release tag without its `go` prefix, read as golang.org/x/vuln reads it:
/// `1` → 1.0.0, `1.21` → 1.21.0, `1.21.3`, `1.21rc2` → 1.21.0-rc.2, `1.9beta2` → 1.9.0-beta.2.
fn release_tag(tag: &str) -> Option<Core> {
    if tag == "1" {
        return Core::parse("1.0.0", Parts::Three).ok();
    }
    let (major, rest) = tag.split_once('.')?;
    let minor_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (minor, rest) = rest.split_at(minor_end);
    if !all_digits(major) || !all_digits(minor) || (major == "1" && minor == "0") {
        return None;
    }
    let (patch, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            r.split_at(end)
        }
        None => ("0", rest),
    };
    let pre = if rest.is_empty() {
        String::new()
    } else {
        let (label, n) = ["beta", "rc", "-pre"]
            .iter()
            .find_map(|l| rest.strip_prefix(l).map(|n| (l, n)))?;
        if !all_digits(n) {
            return None;
        }
        format!("-{}.{n}", label.trim_start_matches('-'))
    };
    Core::parse(&format!("{major}.{minor}.{patch}{pre}"), Parts::Three).ok()
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.precedence(&other.core)
    }
}

crate::ordered_by_cmp!(GoVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> GoVersion {
        GoVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ascending(list: &[&str]) {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(v(a) < v(b), "{a} < {b}");
            }
        }
    }

    #[test]
    fn pseudo_versions_are_prereleases() {
        // vX.0.0-yyyymmddhhmmss-abcdef123456: no earlier tag.
        ascending(&[
            "v0.0.0-20210101000000-abcdef123456",
            "v0.0.0-20220101000000-000000000000",
            "v0.0.0",
            "v0.1.0",
        ]);
        // vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdef123456: after vX.Y.Z, before vX.Y.(Z+1).
        ascending(&[
            "v1.2.3",
            "v1.2.4-0.20210101000000-abcdef123456",
            "v1.2.4-0.20220101000000-abcdef123456",
            "v1.2.4",
        ]);
        // vX.Y.Z-pre.0.yyyymmddhhmmss-abcdef123456: after vX.Y.Z-pre.
        ascending(&[
            "v1.2.4-rc.1",
            "v1.2.4-rc.1.0.20210101000000-abcdef123456",
            "v1.2.4-rc.2",
        ]);
        assert!(v("v0.0.0-20210101000000-abcdef123456").is_prerelease());
    }

    #[test]
    fn incompatible_and_prefixes() {
        assert_eq!(v("v2.0.0+incompatible"), v("v2.0.0"));
        assert_eq!(v("v2.0.0+incompatible").build(), Some("incompatible"));
        assert!(v("v2.0.1+incompatible") > v("v2.0.0"));
        assert_eq!(v("1.2.3"), v("v1.2.3"));
        assert_eq!(v("v1"), v("v1.0.0"));
        assert_eq!(v("v1.2"), v("1.2.0"));
        ascending(&["v1.9.9", "v1.10.0", "v1.10.1", "v2.0.0-alpha", "v2.0.0"]);
    }

    #[test]
    fn release_tags() {
        assert_eq!(v("go1.21.3"), v("1.21.3"));
        assert_eq!(v("go1.21"), v("1.21.0"));
        assert_eq!(v("go1"), v("1.0.0"));
        assert_eq!(v("go1.21rc2"), v("v1.21.0-rc.2"));
        assert_eq!(v("1.21rc2"), v("go1.21rc2"));
        assert_eq!(v("go1.9beta2"), v("1.9.0-beta.2"));
        ascending(&[
            "go1.20.14",
            "go1.21beta1",
            "go1.21rc1",
            "go1.21rc2",
            "go1.21.0",
            "go1.21.3",
            "go1.22.0",
        ]);
        for bad in [
            "go1.0",
            "go",
            "go1.",
            "go1.21.",
            "go1.21x1",
            "gox",
            "go1.21.3 X:boringcrypto",
            "devel",
        ] {
            assert!(GoVersion::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for bad in [
            "", "v", "v1-pre", "v1.2-pre", "v1.2.3.4", "v01.2.3", "V1.2.3", "v1.2.3-", "v1.2.3+",
            " v1.2.3",
        ] {
            assert!(GoVersion::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }
}
