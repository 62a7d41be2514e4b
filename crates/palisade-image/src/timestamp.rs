//! Points in time as image configs, registries, feeds and policy files write them: RFC 3339
//! text, kept as written, ordered by the instant it names.
//!
//! This is Palisade's one date-time type. The calendar and the RFC 3339 grammar are chrono's
//! (`DateTime::parse_from_rfc3339`); this module adds only what Palisade promises on top: the
//! text is kept byte for byte (the vulnerability database stores it, reports print it), inputs
//! are bounded and ASCII, and the clock, a plain `YYYY-MM-DD` date and a UTC-only form are read
//! here and nowhere else.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest timestamp text accepted (a nine-digit fraction and an offset need 35 bytes).
pub const MAX_TIMESTAMP_BYTES: usize = 64;

const SECONDS_PER_DAY: i64 = 86_400;

/// An RFC 3339 date-time (`2024-10-10T12:00:00Z`, `2023-11-07T20:24:23.946863Z`,
/// `2020-01-01T00:00:00+02:00`). It keeps its text for display and orders by instant, so
/// `…00.5Z` is after `…00Z` (string order says otherwise) and `==` compares instants.
///
/// ```
/// use palisade_image::Timestamp;
/// let a = Timestamp::parse("2024-01-01T01:00:00+02:00")?;
/// let b = Timestamp::parse("2024-01-01T00:00:00Z")?;
/// assert!(a < b);
/// assert_eq!(a.to_string(), "2024-01-01T01:00:00+02:00");
/// assert_eq!(a.utc_date(), "2023-12-31");
/// # Ok::<(), palisade_image::TimestampError>(())
/// ```
#[derive(Clone)]
pub struct Timestamp {
    text: String,
    /// The instant as chrono reads it, kept as (seconds, nanoseconds) since the epoch: the
    /// cheapest order (sorting a feed's timestamps compares two integers), and what the
    /// vulnerability matcher always compared. `nanos` exceeds 999,999,999 only in a leap second.
    seconds: i64,
    nanos: u32,
}

/// Text that is not a timestamp of the expected form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {text:?}: {why}")]
pub struct TimestampError {
    what: &'static str,
    /// The rejected text (its first 64 characters).
    text: String,
    why: &'static str,
}

impl TimestampError {
    fn new(what: &'static str, text: &str, why: &'static str) -> TimestampError {
        TimestampError {
            what,
            text: text.chars().take(MAX_TIMESTAMP_BYTES).collect(),
            why,
        }
    }

    /// The rejected text (its first 64 characters).
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Why it was rejected (`no such date or time`, `expected YYYY-MM-DD`, …).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.why
    }
}

const RFC3339: &str = "RFC 3339 timestamp";
const SHAPE: &str = "expected YYYY-MM-DDTHH:MM:SS[.fraction] then Z or an offset like +02:00";

impl Timestamp {
    /// Parses an RFC 3339 date-time: a four-digit year, `T` (or `t` or a space), seconds, an
    /// optional fraction of at least one digit (beyond nine digits ignored), then `Z` (or `z`) or
    /// an offset `±HH:MM` up to 23:59. The date must exist; a leap second (`:60`) is accepted.
    /// At most [`MAX_TIMESTAMP_BYTES`] bytes, ASCII only.
    ///
    /// # Errors
    /// [`TimestampError`] naming the text and what is wrong with it.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let err = |why| TimestampError::new(RFC3339, text, why);
        if !(20..=MAX_TIMESTAMP_BYTES).contains(&text.len()) {
            return Err(err("wrong length"));
        }
        if !text.is_ascii() {
            // chrono also takes U+2212 MINUS SIGN in the offset; RFC 3339 does not.
            return Err(err(SHAPE));
        }
        let at = DateTime::parse_from_rfc3339(text).map_err(|e| {
            err(match e.kind() {
                chrono::format::ParseErrorKind::OutOfRange
                | chrono::format::ParseErrorKind::Impossible => "no such date or time",
                _ => SHAPE,
            })
        })?;
        Ok(Timestamp::at(text.to_owned(), at.to_utc()))
    }

    /// Parses a calendar date, exactly `YYYY-MM-DD` (four-digit year, a day that exists), as
    /// midnight UTC; the text becomes `YYYY-MM-DDT00:00:00Z`.
    ///
    /// # Errors
    /// [`TimestampError`] when `text` is not such a date.
    pub fn parse_date(text: &str) -> Result<Timestamp, TimestampError> {
        let err = |why| TimestampError::new("date", text, why);
        let b = text.as_bytes();
        let shape_ok = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(err("expected YYYY-MM-DD"));
        }
        // Every field is ASCII digits of a fixed width, so these cannot fail to parse.
        let field = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(u32::MAX);
        let date = i32::try_from(field(0..4))
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, field(5..7), field(8..10)))
            .ok_or_else(|| err("no such date"))?;
        Ok(Timestamp::at(
            format!("{text}T00:00:00Z"),
            date.and_time(chrono::NaiveTime::MIN).and_utc(),
        ))
    }

    /// Parses a moment given in UTC: either a date `YYYY-MM-DD` (midnight UTC, as
    /// [`Timestamp::parse_date`]) or an RFC 3339 date-time with an upper-case `T` that ends in
    /// `Z` (`2026-11-28T12:00:00Z`, fractions allowed). What a user types for "now".
    ///
    /// # Errors
    /// [`TimestampError`] when `text` is neither.
    pub fn parse_utc_or_date(text: &str) -> Result<Timestamp, TimestampError> {
        if text.len() == 10 {
            return Timestamp::parse_date(text);
        }
        let err = || {
            TimestampError::new(
                "time",
                text,
                "expected YYYY-MM-DD or an RFC 3339 UTC time such as 2026-11-28T12:00:00Z",
            )
        };
        let b = text.as_bytes();
        if b.get(10) != Some(&b'T') || !text.ends_with('Z') {
            return Err(err());
        }
        Timestamp::parse(text).map_err(|_| err())
    }

    /// The system clock, to the whole second, as `YYYY-MM-DDTHH:MM:SSZ`. A clock outside
    /// the years 0000–9999 reads as the nearest end of that range.
    #[must_use]
    pub fn now() -> Timestamp {
        let secs = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        let clamped = secs.clamp(MIN_UNIX_SECONDS, MAX_UNIX_SECONDS);
        Timestamp::from_unix_seconds(clamped).unwrap_or_else(Timestamp::epoch)
    }

    /// The instant `secs` seconds after 1970-01-01T00:00:00Z, written `YYYY-MM-DDTHH:MM:SSZ`;
    /// `None` outside the years 0000–9999 (which RFC 3339 cannot write).
    #[must_use]
    pub fn from_unix_seconds(secs: i64) -> Option<Timestamp> {
        if !(MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&secs) {
            return None;
        }
        let at = DateTime::from_timestamp(secs, 0)?;
        Some(Timestamp::at(
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
            at,
        ))
    }

    fn at(text: String, at: DateTime<Utc>) -> Timestamp {
        Timestamp {
            text,
            seconds: at.timestamp(),
            nanos: at.timestamp_subsec_nanos(),
        }
    }

    fn epoch() -> Timestamp {
        Timestamp::at("1970-01-01T00:00:00Z".to_owned(), DateTime::UNIX_EPOCH)
    }

    /// The text as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whole seconds since 1970-01-01T00:00:00Z (a fraction is dropped, rounding down).
    #[must_use]
    pub fn unix_seconds(&self) -> i64 {
        self.seconds
    }

    /// The UTC calendar date of this instant, `YYYY-MM-DD`.
    #[must_use]
    pub fn utc_date(&self) -> String {
        // `seconds` came from a chrono date-time, so it converts back.
        let d = DateTime::from_timestamp(self.seconds, 0)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .date_naive();
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }

    /// Whole days from `earlier` to `self`, rounded down (so negative when `earlier` is later),
    /// counting whole seconds: the age of a database built at `earlier`, or, with `earlier` a
    /// date at midnight, how many days past that date `self` is (0 on the day itself).
    #[must_use]
    pub fn whole_days_since(&self, earlier: &Timestamp) -> i64 {
        (self.unix_seconds() - earlier.unix_seconds()).div_euclid(SECONDS_PER_DAY)
    }
}

/// 0000-01-01T00:00:00Z, the first instant RFC 3339 can write.
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z, the last whole second RFC 3339 can write.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timestamp").field(&self.text).finish()
    }
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
    /// By instant: the same instant written differently (`Z` or `+00:00`) is equal.
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
    type Err = TimestampError;
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

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn orders_by_instant_not_text() {
        let a = ts("2024-01-01T00:00:00Z");
        let b = ts("2024-01-01T00:00:00.5Z");
        let c = ts("2024-01-01T01:00:00+02:00");
        assert!(a < b);
        assert!(c < a);
        assert_eq!(a, ts("2024-01-01T00:00:00+00:00"));
        assert_eq!(a.unix_seconds(), 1_704_067_200);
        assert_eq!(b.to_string(), "2024-01-01T00:00:00.5Z");
        assert_eq!(ts("1970-01-01T00:00:00.5-00:01").unix_seconds(), 60);
        assert_eq!(ts("1969-12-31T23:59:59.5Z").unix_seconds(), -1);
        let leap = ts("2016-12-31T23:59:60Z");
        assert!(ts("2016-12-31T23:59:59.9Z") < leap && leap < ts("2017-01-01T00:00:00Z"));
        assert_eq!(leap.unix_seconds(), 1_483_228_799);
    }

    #[test]
    fn keeps_the_text_as_written() {
        for s in [
            "2023-11-07T20:24:23.946863Z",
            "2020-01-01T00:00:00+02:00",
            "2020-01-01t00:00:00z",
            "2020-01-01 00:00:00Z",
            "2020-01-01T00:00:00.1234567890123Z",
        ] {
            assert_eq!(ts(s).as_str(), s);
            assert_eq!(serde_json::to_string(&ts(s)).unwrap(), format!("{s:?}"));
        }
        assert_eq!(
            ts("2020-01-01T00:00:00.1234567891Z"),
            ts("2020-01-01T00:00:00.123456789Z"),
            "digits past the ninth are ignored"
        );
    }

    /// Everything the hand-written parsers of palisade-vulndb and palisade-trust refused is
    /// still refused.
    #[test]
    fn rejects_what_was_rejected() {
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2021-02-31T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-00-10T00:00:00Z",
            "2024-13-10T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00Z",
            "2021-01-12 11:53",
            "x024-01-01T00:00:00Z",
            "+2024-01-01T00:00:00Z",
            "12024-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00,5Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:61Z",
            "2024-01-01X00:00:00Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+02:60",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00+02",
            "2024-01-01T00:00:00 +02:00",
            "2024-01-01T00:00:00\u{2212}02:00",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00Z ",
            " 2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00UTC",
            "2024-01-01T00:00:00[UTC]",
            "20240101T000000Z",
            "2021-01-12T11:53:27+0\u{e9}00",
            "2021-01-12T11:5\u{e9}27Z",
        ] {
            let e = Timestamp::parse(bad).expect_err(bad);
            assert!(
                e.to_string().starts_with("invalid RFC 3339 timestamp"),
                "{e}"
            );
        }
        let long = format!("2024-01-01T00:00:00.{}Z", "1".repeat(44));
        assert_eq!(long.len(), 65);
        assert_eq!(
            Timestamp::parse(&long).unwrap_err().reason(),
            "wrong length"
        );
        assert!(Timestamp::parse(&format!("{}Z", &long[..63])).is_ok());
        assert!(ts("2024-02-29T00:00:00Z") < ts("2024-03-01T00:00:00Z"));
        assert!(
            Timestamp::parse("2016-12-31T23:59:60Z").is_ok(),
            "leap second"
        );
        assert_eq!(
            Timestamp::parse("2024-02-30T00:00:00Z")
                .unwrap_err()
                .reason(),
            "no such date or time"
        );
    }

    #[test]
    fn dates() {
        let d = Timestamp::parse_date("2000-03-01").unwrap();
        assert_eq!(d.as_str(), "2000-03-01T00:00:00Z");
        assert_eq!(d.unix_seconds(), 11_017 * 86_400);
        assert_eq!(
            Timestamp::parse_date("1970-01-01").unwrap().unix_seconds(),
            0
        );
        assert!(Timestamp::parse_date("0000-01-01").is_ok());
        for bad in [
            "2027-02-29",
            "2027-02-30",
            "2027-13-01",
            "2027-00-01",
            "2027-01-00",
            "tomorrow",
            "2027-1-31",
            "+027-01-31",
            "-027-01-31",
            "2027-01-31T00:00:00Z",
            "2027/01/31",
            " 2027-01-31",
            "２０２７-01-31",
        ] {
            assert!(Timestamp::parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utc_or_date() {
        let p = |s: &str| Timestamp::parse_utc_or_date(s).map(|t| t.as_str().to_owned());
        assert_eq!(p("2026-11-28").unwrap(), "2026-11-28T00:00:00Z");
        assert_eq!(p("2026-11-28T12:00:00Z").unwrap(), "2026-11-28T12:00:00Z");
        assert_eq!(
            p("2026-11-28T12:00:00.25Z").unwrap(),
            "2026-11-28T12:00:00.25Z"
        );
        for bad in [
            "2026-11-28T12:00:00+01:00",
            "2026-11-28t12:00:00Z",
            "2026-11-28 12:00:00Z",
            "2026-11-28T12:00:00z",
            "2026-02-30",
            "2026-02-30T12:00:00Z",
            "now",
            "",
            "2026-11-2\u{e9}T12:00:00Z",
        ] {
            let e = Timestamp::parse_utc_or_date(bad).expect_err(bad);
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn from_unix_seconds_and_dates() {
        let t = |s| Timestamp::from_unix_seconds(s).unwrap().to_string();
        assert_eq!(t(0), "1970-01-01T00:00:00Z");
        assert_eq!(t(1_674_247_893), "2023-01-20T20:51:33Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(t(-1), "1969-12-31T23:59:59Z");
        assert_eq!(t(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(t(-62_167_219_200), "0000-01-01T00:00:00Z");
        assert!(Timestamp::from_unix_seconds(253_402_300_800).is_none());
        assert!(Timestamp::from_unix_seconds(-62_167_219_201).is_none());
        assert!(Timestamp::from_unix_seconds(i64::MAX).is_none());
        assert_eq!(
            Timestamp::from_unix_seconds(19_782 * 86_400 + 86_399)
                .unwrap()
                .utc_date(),
            "2024-02-29"
        );
        assert_eq!(ts("2024-03-01T00:30:00+01:00").utc_date(), "2024-02-29");
        // What `now` writes parses back to the same instant.
        let now = Timestamp::now();
        assert_eq!(now.as_str().len(), 20);
        assert_eq!(ts(now.as_str()), now);
        assert_eq!(now.utc_date(), now.as_str()[..10]);
    }

    #[test]
    fn whole_days() {
        let day = Timestamp::parse_date("2026-11-28").unwrap();
        let at = |s: &str| ts(s).whole_days_since(&day);
        assert_eq!(at("2026-11-28T00:00:00Z"), 0);
        assert_eq!(at("2026-11-28T23:59:59.9Z"), 0);
        assert_eq!(at("2026-11-29T00:00:00Z"), 1);
        assert_eq!(at("2026-11-27T23:59:59Z"), -1);
        assert_eq!(at("2026-11-29T00:30:00+01:00"), 0);
        assert_eq!(at("2027-11-28T00:00:00Z"), 365);
    }
}
