//! RFC 3339 timestamps as OSV writes them, ordered by the instant they name.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An RFC 3339 timestamp (`2024-10-10T12:00:00Z`, `2023-11-07T20:24:23.946863Z`,
/// `2020-01-01T00:00:00+02:00`). It keeps its text for display and orders by instant, so
/// `…00.5Z` is after `…00Z` (string order says otherwise).
#[derive(Clone, Debug)]
pub struct Timestamp {
    text: String,
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// Parses an RFC 3339 date-time; a lowercase `t`/`z` or a space separator are accepted.
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let err = |why: &str| format!("invalid RFC 3339 timestamp {:?}: {why}", cut(text));
        let b = text.as_bytes();
        if b.len() < 20 || b.len() > 64 {
            return Err(err("wrong length"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
            let s = &b[range];
            if s.iter().all(u8::is_ascii_digit) {
                Ok(s.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
            } else {
                Err(err("expected digits"))
            }
        };
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err("no such date"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(err("no such time"));
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &b[start..i];
            if digits.is_empty() {
                return Err(err("empty fraction"));
            }
            for k in 0..9 {
                nanos = nanos * 10 + u32::from(digits.get(k).map_or(0, |d| d - b'0'));
            }
        }
        let offset = match &b[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(err("bad offset"));
                }
                let h = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
                let m = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
                if h > 23 || m > 59 {
                    return Err(err("bad offset"));
                }
                let o = h * 3600 + m * 60;
                if *sign == b'+' { o } else { -o }
            }
            _ => return Err(err("expected Z or an offset like +02:00")),
        };
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
                - offset;
        Ok(Timestamp {
            text: text.to_owned(),
            seconds,
            nanos,
        })
    }

    /// The text as written in the feed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> i64 {
        self.seconds
    }

    /// The instant `seconds` after 1970-01-01T00:00:00Z, written in UTC with whole seconds
    /// (`2026-10-21T07:28:00Z`); an instant outside the years 0000 to 9999 is the epoch.
    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        let days = seconds.div_euclid(86_400);
        let rem = seconds.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        );
        Timestamp::parse(&text).unwrap_or_else(|_| Timestamp {
            text: "1970-01-01T00:00:00Z".to_owned(),
            seconds: 0,
            nanos: 0,
        })
    }

    /// The clock, as [`Timestamp::from_unix_seconds`] writes it (a clock before 1970 reads as
    /// the epoch): when a feed was imported.
    pub fn now() -> Timestamp {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Timestamp::from_unix_seconds(seconds)
    }
}

fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's `civil_from_days`: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = (yoe + era * 400).saturating_add(i64::from(m <= 2));
    (y, m, d)
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    /// By instant; equal instants written differently order by text, so the order is total
    /// and agrees with `==` only up to spelling (`==` compares instants).
    fn cmp(&self, other: &Self) -> Ordering {
        (self.seconds, self.nanos).cmp(&(other.seconds, other.nanos))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_instant_not_text() {
        let a = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse("2024-01-01T00:00:00.5Z").unwrap();
        let c = Timestamp::parse("2024-01-01T01:00:00+02:00").unwrap();
        assert!(a < b);
        assert!(c < a);
        assert_eq!(a.unix_seconds(), 1_704_067_200);
        assert_eq!(b.to_string(), "2024-01-01T00:00:00.5Z");
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "2024-02-30T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "x024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T25:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn from_unix_seconds_round_trips() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2000-03-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t = Timestamp::parse(text).unwrap();
            let back = Timestamp::from_unix_seconds(t.unix_seconds());
            assert_eq!(back.as_str(), text);
            assert_eq!(back.unix_seconds(), t.unix_seconds());
        }
        // Out of range (5-digit years, i64 extremes): the epoch, never a panic.
        for s in [i64::MAX, i64::MIN, 253_402_300_800] {
            assert_eq!(
                Timestamp::from_unix_seconds(s).as_str(),
                "1970-01-01T00:00:00Z"
            );
        }
        let now = Timestamp::now();
        assert!(now.unix_seconds() > 1_700_000_000, "{now}");
    }
}
