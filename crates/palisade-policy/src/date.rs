//! Dates and times as days / seconds since 1970-01-01 UTC. RFC 3339 parsing is
//! `palisade_vulndb::Timestamp`'s (the one the feeds use); a date is that at midnight UTC.

use palisade_vulndb::Timestamp;

/// Days since 1970-01-01 of a strict `YYYY-MM-DD` date (years 1970..=9999).
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || s.starts_with(['+', '-']) {
        return None;
    }
    let seconds = Timestamp::parse(&format!("{s}T00:00:00Z"))
        .ok()?
        .unix_seconds();
    (seconds >= 0).then_some(seconds / 86_400)
}

/// Seconds since the epoch of an RFC 3339 timestamp (`2026-11-28T22:00:00Z`,
/// `2026-11-28T22:00:00.123+01:00`; a space or `t` is accepted for `T`, `z` for `Z`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    Timestamp::parse(s).ok().map(|t| t.unix_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(
            parse_date("2028-02-29").map(|d| d - parse_date("2028-02-28").unwrap_or(0)),
            Some(1)
        );
        assert_eq!(parse_date("2027-02-29"), None);
        assert_eq!(parse_date("2027-02-30"), None);
        assert_eq!(parse_date("tomorrow"), None);
        assert_eq!(parse_date("2027-1-31"), None);
        assert_eq!(parse_date("+027-01-31"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00.5Z"), Some(86_400));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00"), None);
        assert_eq!(parse_rfc3339("1970-01-01T24:00:00Z"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.Z"), None);
    }
}
