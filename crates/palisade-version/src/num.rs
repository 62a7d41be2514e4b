//! Decimal numbers of any length, ordered by value: version segments are not bounded by `u64`.

use std::cmp::Ordering;

/// A run of ASCII digits stored without leading zeros (`"0"` for zero), ordered by value.
///
/// Up to [`INLINE`] digits (every number that occurs in practice) are stored inline, so a
/// parsed version does not allocate once per number.
#[derive(Clone)]
pub(crate) struct Num(Repr);

impl std::fmt::Debug for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Num").field(&self.as_str()).finish()
    }
}

/// Digits stored inline.
const INLINE: usize = 22;

#[derive(Clone, Debug)]
enum Repr {
    /// `digits[..len]`; always used when the digits fit.
    Inline {
        len: u8,
        digits: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl Num {
    /// `digits` must be ASCII digits only (possibly empty, which reads as zero).
    pub(crate) fn new(digits: &str) -> Self {
        let trimmed = digits.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        if trimmed.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..trimmed.len()].copy_from_slice(trimmed.as_bytes());
            Num(Repr::Inline {
                len: trimmed.len() as u8,
                digits: buf,
            })
        } else {
            Num(Repr::Heap(trimmed.into()))
        }
    }

    pub(crate) fn zero() -> Self {
        Num::new("0")
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, digits } => &digits[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.as_bytes() == b"0"
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            // Only ASCII digits are ever stored.
            Repr::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or("0"),
            Repr::Heap(s) => s,
        }
    }

    /// Whether the value is greater than `max`.
    pub(crate) fn exceeds(&self, max: u64) -> bool {
        self.as_bytes().len() > 20 || self.as_str().parse::<u64>().map_or(true, |v| v > max)
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Num {}

impl std::hash::Hash for Num {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.as_bytes(), other.as_bytes());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
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
        // Across the inline limit (22 digits).
        let (a, b) = ("9".repeat(INLINE), format!("1{}", "0".repeat(INLINE)));
        assert!(Num::new(&a) < Num::new(&b));
        assert_eq!(Num::new(&format!("000{b}")), Num::new(&b));
        assert_eq!(Num::new(&b).as_str(), b);
        assert_eq!(Num::new(&format!("00{a}")).as_str(), a);
        assert_eq!(format!("{:?}", Num::new("012")), "Num(\"12\")");
    }
}
