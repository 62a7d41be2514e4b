//! One upgrade per package: the version that fixes every finding of a package at once.
//!
//! Each finding lists the versions that fix it (often one per release line: Django's advisory
//! may say 2.2.10, 3.0.3 and 3.1.1). For a package the advice is the smallest version above the
//! installed one that is at or above, for every finding, the first fix on the line the package
//! is on or a later one: the highest of the findings' smallest fixes above the installed
//! version. Pre-releases count only when no release fixes the finding.

use palisade_version::{Scheme, Version};

/// What to upgrade a package to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// The one version that fixes every fixable finding; `None` when none of them has a fix
    /// above the installed version, or the versions cannot be compared.
    pub version: Option<String>,
    /// Findings with no fix above the installed version (they stay after the upgrade).
    pub unfixed: usize,
    /// The advice is a pre-release (no release fixes some finding).
    pub prerelease: bool,
}

fn parse(scheme: Scheme, text: &str) -> Option<Version> {
    scheme.parse(text).ok()
}

/// The one upgrade for a package of type `kind` (`deb`, `python`, …) at `installed`, given
/// each finding's fixed versions.
#[must_use]
pub fn upgrade<'a, I, F>(kind: &str, installed: &str, findings: I) -> Upgrade
where
    I: IntoIterator<Item = F>,
    F: IntoIterator<Item = &'a String>,
{
    let mut out = Upgrade::default();
    let Some(scheme) = Scheme::from_package_type(kind) else {
        return out;
    };
    let Some(current) = parse(scheme, installed) else {
        return out;
    };
    let mut best: Option<Version> = None;
    for fixes in findings {
        let above: Vec<Version> = fixes
            .into_iter()
            .filter_map(|f| parse(scheme, f))
            .filter(|v| v.try_cmp(&current).is_ok_and(std::cmp::Ordering::is_gt))
            .collect();
        let smallest = |pre: bool| {
            above
                .iter()
                .filter(|v| v.is_prerelease() == pre)
                .min_by(|a, b| a.try_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
                .cloned()
        };
        let Some(fix) = smallest(false).or_else(|| smallest(true)) else {
            out.unfixed += 1;
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|b| fix.try_cmp(b).is_ok_and(std::cmp::Ordering::is_gt))
        {
            best = Some(fix);
        }
    }
    if let Some(b) = best {
        out.prerelease = b.is_prerelease();
        out.version = Some(b.as_str().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_version_fixes_every_finding_on_the_line() {
        let findings = [
            v(&["2.2.4", "2.1.11"]),
            v(&["2.2.9"]),
            v(&["2.2.10", "3.0.3"]),
            v(&["2.2.28", "3.2.13"]),
        ];
        let u = upgrade("python", "2.2.3", &findings);
        assert_eq!(u.version.as_deref(), Some("2.2.28"));
        assert_eq!(u.unfixed, 0);
        assert!(!u.prerelease);
    }

    #[test]
    fn a_pre_release_only_when_no_release_fixes() {
        let u = upgrade("python", "5.1", &[v(&["5.2b1", "5.2"])]);
        assert_eq!(u.version.as_deref(), Some("5.2"));
        let u = upgrade("python", "5.1", &[v(&["5.2b1"])]);
        assert_eq!(u.version.as_deref(), Some("5.2b1"));
        assert!(u.prerelease);
    }

    #[test]
    fn findings_without_a_fix_are_counted_and_unknown_types_give_nothing() {
        let u = upgrade("deb", "1.0-1", &[v(&[]), v(&["1.0-2"])]);
        assert_eq!(u.version.as_deref(), Some("1.0-2"));
        assert_eq!(u.unfixed, 1);
        assert_eq!(upgrade("unknown", "1", &[v(&["2"])]), Upgrade::default());
        // A listed fix at or below the installed version does not count.
        let u = upgrade("npm", "1.2.3", &[v(&["1.2.3", "1.0.0"])]);
        assert_eq!(u.version, None);
        assert_eq!(u.unfixed, 1);
    }
}
