//! RPM versions, `[epoch:]version[-release]`, ordered by `rpmvercmp` (with `~` and `^`) on
//! the version and then the release, after the epoch.

use std::cmp::Ordering;

use crate::num::{Num, cmp_digits};
use crate::{Error, Scheme};

/// A parsed RPM EVR. Equality is the ordering's: `1.0` equals `1_0` and `10.0001` equals `10.1`.
#[derive(Clone, Debug)]
pub struct RpmVersion {
    text: Box<str>,
    epoch: Num,
    version: (usize, usize),
    release: Option<(usize, usize)>,
}

impl RpmVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::invalid(Scheme::Rpm, input, reason);
        if input.is_empty() {
            return Err(err("empty version".into()));
        }
        if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(format!("invalid character {c:?}")));
        }
        let (epoch, version_at) = match input.find(':') {
            Some(colon) => {
                let digits = &input[..colon];
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(err("epoch is not a number".into()));
                }
                let epoch = Num::new(digits);
                if epoch.exceeds(u64::from(u32::MAX)) {
                    return Err(err("epoch is too big".into()));
                }
                (epoch, colon + 1)
            }
            None => (Num::zero(), 0),
        };
        let rest = &input[version_at..];
        if rest.contains(':') {
            return Err(err("more than one ':'".into()));
        }
        let (version, release) = match rest.rfind('-') {
            Some(hyphen) if hyphen + 1 == rest.len() => return Err(err("release is empty".into())),
            Some(hyphen) => (&rest[..hyphen], Some(&rest[hyphen + 1..])),
            None => (rest, None),
        };
        if version.is_empty() {
            return Err(err("version is empty".into()));
        }
        let release_at = version_at + version.len() + 1;
        Ok(RpmVersion {
            text: input.into(),
            epoch,
            version: (version_at, version_at + version.len()),
            release: release.map(|r| (release_at, release_at + r.len())),
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch as written without leading zeros, `"0"` when absent.
    pub fn epoch(&self) -> &str {
        self.epoch.as_str()
    }

    /// The version (between the epoch and the last hyphen).
    pub fn version(&self) -> &str {
        &self.text[self.version.0..self.version.1]
    }

    /// The release (after the last hyphen), if any.
    pub fn release(&self) -> Option<&str> {
        self.release.map(|(a, b)| &self.text[a..b])
    }
}

/// `rpmvercmp` from rpm's `rpmio/rpmvercmp.c`: runs of letters or digits are compared in
/// turn, everything else only separates them; `~` sorts before anything (even the end), `^`
/// after the end but before anything else; a digit run beats a letter run; whoever has
/// segments left over wins.
pub(crate) fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while a.get(i).is_some_and(separator) {
            i += 1;
        }
        while b.get(j).is_some_and(separator) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while a.get(i).is_some_and(class) {
            i += 1;
        }
        while b.get(j).is_some_and(class) {
            j += 1;
        }
        if j == sj {
            // Different kinds of segment: numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[si..i], &b[sj..j]);
        let ord = if numeric {
            cmp_digits(sa, sb)
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

impl Ord for RpmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(self.version().as_bytes(), other.version().as_bytes()))
            .then_with(|| match (self.release(), other.release()) {
                // As rpm's `rpmverCmp`: a missing release sorts before any release.
                (Some(a), Some(b)) => rpmvercmp(a.as_bytes(), b.as_bytes()),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

crate::ordered_by_cmp!(RpmVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn vercmp(a: &str, b: &str) -> i8 {
        match rpmvercmp(a.as_bytes(), b.as_bytes()) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }
    }

    fn v(s: &str) -> RpmVersion {
        RpmVersion::parse(s).unwrap()
    }

    #[test]
    fn rpmvercmp_reference_pairs() {
        // Pairs from rpm's own rpmvercmp test suite.
        let cases = [
            ("1.0", "1.0", 0),
            ("1.0", "2.0", -1),
            ("2.0.1", "2.0", 1),
            ("2.0.1a", "2.0.1", 1),
            ("5.5p1", "5.5p10", -1),
            ("10xyz", "10.1xyz", -1),
            ("xyz10", "xyz10.1", -1),
            ("xyz.4", "8", -1),
            ("6.0.rc1", "6.0", 1),
            ("10b2", "10a1", 1),
            ("1.0a", "1.0aa", -1),
            ("10.0001", "10.1", 0),
            ("10.0001", "10.0039", -1),
            ("4.999.9", "5.0", -1),
            ("2_0", "2.0", 0),
            ("a+", "a_", 0),
            ("+", "_", 0),
            ("1.0~rc1", "1.0", -1),
            ("1.0~rc1", "1.0~rc2", -1),
            ("1.0~rc1~git123", "1.0~rc1", -1),
            ("1.0^", "1.0", 1),
            ("1.0^git1", "1.0", 1),
            ("1.0^git1", "1.0^git2", -1),
            ("1.0^git1", "1.01", -1),
            ("1.0^20160101", "1.0.1", -1),
            ("1.0^20160102", "1.0^20160101^git1", 1),
            ("1.0~rc1^git1", "1.0~rc1", 1),
            ("1.0^git1~pre", "1.0^git1", -1),
        ];
        for (a, b, want) in cases {
            assert_eq!(vercmp(a, b), want, "rpmvercmp({a}, {b})");
            assert_eq!(vercmp(b, a), -want, "rpmvercmp({b}, {a})");
        }
    }

    #[test]
    fn evr_ordering() {
        // Tilde before the release, caret after it but before the next version.
        assert!(v("1.0~rc1") < v("1.0"));
        assert!(v("1.0") < v("1.0^git1"));
        assert!(v("1.0^git1") < v("1.0.1"));
        // The epoch dominates.
        assert!(v("2:1.0") > v("1:9.9"));
        assert_eq!(v("0:1.0-1"), v("1.0-1"));
        assert!(v("1.0-1.el9") < v("1.0-2.el9"));
        assert!(v("1.0-1.el9_2") > v("1.0-1.el9"));
        assert!(v("3.0.7-24.el9") < v("1:3.0.7-25.el9"));
        // A missing release sorts before any release, even one starting with `~`.
        assert!(v("1.0") < v("1.0-0"));
        assert!(v("1.0") < v("1.0-~1"));
        assert!(v("1.0-~1") < v("1.0-0"));
    }

    #[test]
    fn parts_and_errors() {
        let x = v("1:2.3-4.el9");
        assert_eq!(
            (x.epoch(), x.version(), x.release()),
            ("1", "2.3", Some("4.el9"))
        );
        let msg = |s: &str| RpmVersion::parse(s).unwrap_err().to_string();
        assert!(msg("").ends_with("empty version"));
        assert!(msg("a:1").ends_with("epoch is not a number"));
        assert!(msg("1:2:3").ends_with("more than one ':'"));
        assert!(msg("1.0-").ends_with("release is empty"));
        assert!(msg("1:-1").ends_with("version is empty"));
        assert!(msg("1.0 -1").contains("invalid character ' '"));
    }
}
