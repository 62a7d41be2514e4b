//! Decimal numbers of any length, ordered by value: version segments are not bounded by `u64`.

use std::cmp::Ordering;

/// A run of ASCII digits stored without leading zeros (`"0"` for zero), ordered by value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Num(Box<str>);

impl Num {
    /// `digits` must be ASCII digits only (possibly empty, which reads as zero).
    pub(crate) fn new(digits: &str) -> Self {
        let trimmed = digits.trim_start_matches('0');
        Num(if trimmed.is_empty() {
            "0".into()
        } else {
            trimmed.into()
        })
    }

    pub(crate) fn zero() -> Self {
        Num("0".into())
    }

    pub(crate) fn is_zero(&self) -> bool {
        &*self.0 == "0"
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value is greater than `max`.
    pub(crate) fn exceeds(&self, max: u64) -> bool {
        self.0.len() > 20 || self.0.parse::<u64>().map_or(true, |v| v > max)
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two digit strings by value, ignoring leading zeros.
pub(crate) fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_zeros(a);
    let b = strip_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
    &s[start..]
}

pub(crate) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_at_any_length() {
        assert_eq!(Num::new("007"), Num::new("7"));
        assert!(Num::new("10") > Num::new("9"));
        assert!(Num::new("100000000000000000000000") > Num::new("99999999999999999999999"));
        assert_eq!(Num::new(""), Num::zero());
        assert_eq!(cmp_digits(b"0010", b"10"), Ordering::Equal);
        assert!(Num::new("18446744073709551616").exceeds(u64::MAX));
        assert!(!Num::new("18446744073709551615").exceeds(u64::MAX));
    }
}
