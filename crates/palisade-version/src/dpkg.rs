//! dpkg versions, `[epoch:]upstream_version[-debian_revision]`, ordered as Debian Policy §5.6.12
//! describes and dpkg's `verrevcmp` implements.

use std::cmp::Ordering;

use crate::{Error, Scheme};

/// A parsed dpkg version. Equality is the ordering's: `1.0` equals `1.0-0` and `0:1.0`.
#[derive(Clone, Debug)]
pub struct DpkgVersion {
    text: Box<str>,
    epoch: u32,
    upstream: (usize, usize),
    revision: Option<(usize, usize)>,
}

/// dpkg keeps epochs in an `int`; a larger one is rejected, as dpkg does.
const MAX_EPOCH: u64 = i32::MAX as u64;

impl DpkgVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::invalid(Scheme::Dpkg, input, reason);
        // dpkg skips surrounding blanks but refuses blanks inside.
        let lead = input.len()
            - input
                .trim_start_matches(|c: char| c.is_ascii_whitespace())
                .len();
        let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() {
            return Err(err("empty version".into()));
        }
        if trimmed.contains(|c: char| c.is_ascii_whitespace()) {
            return Err(err("contains whitespace".into()));
        }
        let (epoch, rest_at) = match trimmed.find(':') {
            Some(colon) => {
                let digits = &trimmed[..colon];
                if digits.is_empty() {
                    return Err(err("epoch is empty".into()));
                }
                if !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(err("epoch is not a number".into()));
                }
                let epoch = digits
                    .parse::<u64>()
                    .ok()
                    .filter(|&e| e <= MAX_EPOCH)
                    .and_then(|e| u32::try_from(e).ok())
                    .ok_or_else(|| err("epoch is too big".into()))?;
                if colon + 1 == trimmed.len() {
                    return Err(err("epoch without upstream version".into()));
                }
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let rest = &trimmed[rest_at..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(hyphen) if hyphen + 1 == rest.len() => {
                return Err(err("revision is empty".into()));
            }
            Some(hyphen) => (&rest[..hyphen], Some(&rest[hyphen + 1..])),
            None => (rest, None),
        };
        if upstream.is_empty() {
            return Err(err("upstream version is empty".into()));
        }
        if let Some(c) = upstream
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || ".+~-:".contains(c)))
        {
            return Err(err(format!("invalid character {c:?} in upstream version")));
        }
        if let Some(c) = revision.and_then(|r| {
            r.chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || ".+~".contains(c)))
        }) {
            return Err(err(format!("invalid character {c:?} in revision")));
        }
        let up_at = lead + rest_at;
        Ok(DpkgVersion {
            text: input.into(),
            epoch,
            upstream: (up_at, up_at + upstream.len()),
            revision: revision.map(|r| {
                let at = up_at + upstream.len() + 1;
                (at, at + r.len())
            }),
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch, 0 when absent.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version (between the epoch and the last hyphen).
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    /// The Debian revision (after the last hyphen), if any.
    pub fn revision(&self) -> Option<&str> {
        self.revision.map(|(a, b)| &self.text[a..b])
    }
}

/// The weight of one character in the non-digit parts: `~` before the end, the end before
/// letters, letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit parts (compared character by character with
/// [`order`]) and digit parts (compared as numbers).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| {
                verrevcmp(
                    self.revision().unwrap_or("").as_bytes(),
                    other.revision().unwrap_or("").as_bytes(),
                )
            })
    }
}

crate::ordered_by_cmp!(DpkgVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DpkgVersion {
        DpkgVersion::parse(s).unwrap()
    }

    fn lt(a: &str, b: &str) {
        assert!(v(a) < v(b), "{a} < {b}");
        assert!(v(b) > v(a), "{b} > {a}");
    }

    #[test]
    fn policy_examples() {
        // Debian Policy §5.6.12: `~` sorts before anything, even the end of a part.
        lt("1.0~rc1", "1.0");
        lt("1.0~~", "1.0~~a");
        lt("1.0~~a", "1.0~");
        lt("1.0~", "1.0");
        lt("1.0", "1.0a");
        // The epoch dominates.
        assert!(v("1:0.9") > v("2.0"));
        // Security updates append to the revision.
        lt("1.0-1", "1.0-1+deb12u1");
        lt("2.36-9+deb12u4", "2.36-9+deb12u7");
        lt("2.36-9+deb12u9", "2.36-9+deb12u10");
        // Letters sort before non-letters.
        lt("1.0a", "1.0+");
        lt("1.0a", "1.0.");
        // Numbers compare as numbers.
        lt("1.9", "1.10");
        assert_eq!(v("1.01"), v("1.1"));
        // A missing revision is the empty revision, equal to `-0`.
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(v("0:1.0"), v("1.0"));
        lt("1.0", "1.0-1");
        lt("1.0-0ubuntu1", "1.0-1");
        lt("2.30-1ubuntu1~22.04", "2.30-1ubuntu1");
    }

    #[test]
    fn parts_are_split_as_dpkg_does() {
        let x = v(" 2:1.2-3-4ubuntu1 ");
        assert_eq!(x.epoch(), 2);
        assert_eq!(x.upstream(), "1.2-3");
        assert_eq!(x.revision(), Some("4ubuntu1"));
        assert_eq!(x.to_string(), " 2:1.2-3-4ubuntu1 ");
        let y = v("1:2:3");
        assert_eq!(y.upstream(), "2:3");
        assert_eq!(y.revision(), None);
    }

    #[test]
    fn errors_name_the_problem() {
        let msg = |s: &str| DpkgVersion::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("1:"),
            r#"invalid dpkg version "1:": epoch without upstream version"#
        );
        assert!(msg("").ends_with("empty version"));
        assert!(msg(":1").ends_with("epoch is empty"));
        assert!(msg("a:1").ends_with("epoch is not a number"));
        assert!(msg("99999999999:1").ends_with("epoch is too big"));
        assert!(msg("1.0-").ends_with("revision is empty"));
        assert!(msg("-1").ends_with("upstream version is empty"));
        assert!(msg("1 0").ends_with("contains whitespace"));
        assert!(msg("1.0_1").ends_with("invalid character '_' in upstream version"));
        assert!(msg("1.0-1_2").ends_with("invalid character '_' in revision"));
        assert!(msg("1.0-1:2").ends_with("epoch is not a number"));
    }
}
