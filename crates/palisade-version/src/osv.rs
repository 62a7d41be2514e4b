//! OSV ranges: the `ranges` and `versions` of an OSV `affected[]` entry, and their evaluation
//! exactly as the OSV schema's "Evaluation" section writes it.
//!
//! ```text
//! affected  = v in versions  or  any range (not GIT) with BeforeLimits(v) and
//!             walking the events sorted by version: introduced <= v → affected,
//!             fixed <= v → not affected, last_affected < v → not affected
//! ```
//!
//! `introduced: "0"` sorts before every version and `limit` values containing `*` after every
//! version. Events of equal version keep their order in the record. `GIT` ranges (and types this
//! crate does not know) are skipped and reported in [`Evaluation::skipped`].

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Scheme, Version};

/// The version part of an OSV `affected[]` entry. Other keys of the entry are ignored, so an
/// entry deserializes into this directly (or flattens into a larger struct).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedVersions {
    /// `affected[].ranges`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// `affected[].versions`: versions affected outright.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// One `affected[].ranges[]` entry (its `database_specific` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// `type`: how the events' versions are ordered.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// `repo`, required for `GIT` ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// `events`, in record order.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// A range `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RangeKind {
    /// `SEMVER`: SemVer 2.0.0 precedence, whatever the ecosystem.
    Semver,
    /// `ECOSYSTEM`: the ecosystem's own scheme.
    Ecosystem,
    /// `GIT`: commit hashes; needs the repository, so never evaluated here.
    Git,
    /// A type this crate does not know; skipped.
    Other(String),
}

impl From<String> for RangeKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "SEMVER" => RangeKind::Semver,
            "ECOSYSTEM" => RangeKind::Ecosystem,
            "GIT" => RangeKind::Git,
            _ => RangeKind::Other(s),
        }
    }
}

impl From<RangeKind> for String {
    fn from(k: RangeKind) -> String {
        match k {
            RangeKind::Semver => "SEMVER".into(),
            RangeKind::Ecosystem => "ECOSYSTEM".into(),
            RangeKind::Git => "GIT".into(),
            RangeKind::Other(s) => s,
        }
    }
}

/// One event: a JSON object with exactly one of the four keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `{"introduced": v}`; `"0"` means before every version.
    Introduced(String),
    /// `{"fixed": v}`: `v` is the first unaffected version.
    Fixed(String),
    /// `{"last_affected": v}`: `v` is the last affected version.
    LastAffected(String),
    /// `{"limit": v}`: only versions below some limit are in the range; `"*"` is infinity.
    Limit(String),
}

const EVENT_KEYS: &str = "introduced, fixed, last_affected or limit";

impl Event {
    /// The JSON key: `introduced`, `fixed`, `last_affected` or `limit`.
    pub fn key(&self) -> &'static str {
        match self {
            Event::Introduced(_) => "introduced",
            Event::Fixed(_) => "fixed",
            Event::LastAffected(_) => "last_affected",
            Event::Limit(_) => "limit",
        }
    }

    /// The kind of event.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Introduced(_) => EventKind::Introduced,
            Event::Fixed(_) => EventKind::Fixed,
            Event::LastAffected(_) => EventKind::LastAffected,
            Event::Limit(_) => EventKind::Limit,
        }
    }

    /// The version string.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key(), self.version())?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;

        impl<'de> Visitor<'de> for EventVisitor {
            type Value = Event;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an OSV event object with one key: {EVENT_KEYS}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
                let mut found: Option<Event> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let make: fn(String) -> Event = match key.as_str() {
                        "introduced" => Event::Introduced,
                        "fixed" => Event::Fixed,
                        "last_affected" => Event::LastAffected,
                        "limit" => Event::Limit,
                        _ => {
                            return Err(de::Error::custom(format_args!(
                                "unknown OSV event key {key:?} (expected {EVENT_KEYS})"
                            )));
                        }
                    };
                    let event = make(map.next_value()?);
                    if let Some(first) = &found {
                        return Err(de::Error::custom(format_args!(
                            "OSV event has two keys, {:?} and {:?}; it must have exactly one",
                            first.key(),
                            event.key()
                        )));
                    }
                    found = Some(event);
                }
                found.ok_or_else(|| {
                    de::Error::custom(format_args!("OSV event has no key (expected {EVENT_KEYS})"))
                })
            }
        }

        deserializer.deserialize_map(EventVisitor)
    }
}

/// Why a version is affected: the range and the pair of events it falls between, or the
/// `versions` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Match {
    /// Position of the matching range in `ranges`; `None` for a `versions` list match.
    pub range_index: Option<usize>,
    /// The `introduced` event the version is at or after (`"0"` for "every version").
    pub introduced: Option<String>,
    /// The event that closes the range above the version, if any: `None` means no fix.
    pub fixed_or_last_affected: Option<Bound>,
    /// The version is listed in `versions`.
    pub via_versions_list: bool,
}

/// The upper end of a matched range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Fixed in this version.
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
    /// No fix or last affected version, but the range stops below this limit.
    Limit(String),
}

impl fmt::Display for Match {
    /// One line for a report: `range 0: introduced 0, fixed 1.2.3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.via_versions_list {
            return f.write_str("listed in the affected versions");
        }
        if let Some(i) = self.range_index {
            write!(f, "range {i}: ")?;
        }
        match self.introduced.as_deref() {
            Some("0") | None => f.write_str("introduced at the first version")?,
            Some(v) => write!(f, "introduced {v}")?,
        }
        match &self.fixed_or_last_affected {
            Some(Bound::Fixed(v)) => write!(f, ", fixed {v}"),
            Some(Bound::LastAffected(v)) => write!(f, ", last affected {v}"),
            Some(Bound::Limit(v)) => write!(f, ", no fix below limit {v}"),
            None => f.write_str(", no fix"),
        }
    }
}

/// A range that was not evaluated, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Position of the range in `ranges`.
    pub range_index: usize,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Why a range was not evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// `GIT` ranges are commit hashes: evaluating them needs the repository's history.
    Git,
    /// A range type this crate does not know.
    UnknownType(String),
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            SkipReason::Git => write!(
                f,
                "range {}: GIT range skipped (needs the repository's commit graph)",
                self.range_index
            ),
            SkipReason::UnknownType(t) => write!(
                f,
                "range {}: unknown range type {t:?} skipped",
                self.range_index
            ),
        }
    }
}

/// The outcome of evaluating a version against an `affected[]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// Every reason the version is affected: a `versions` list match first, then the matching
    /// ranges in record order. Empty when it is not affected.
    pub matches: Vec<Match>,
    /// Ranges that were not evaluated; a version can be affected through them unseen.
    pub skipped: Vec<Skipped>,
}

impl Evaluation {
    /// Whether the version is affected.
    pub fn is_affected(&self) -> bool {
        !self.matches.is_empty()
    }
}

/// A point on a range's line: an event's version, or one of the two special values.
#[derive(Clone, Debug)]
enum Point {
    /// `introduced: "0"`.
    Start,
    At(Version),
    /// A `limit` containing `*` (its text).
    End(Box<str>),
}

impl Point {
    /// Orders two points; versions of one range share a scheme, so `partial_cmp` answers.
    fn cmp(&self, other: &Point) -> Ordering {
        match (self, other) {
            (Point::Start, Point::Start) | (Point::End(_), Point::End(_)) => Ordering::Equal,
            (Point::Start, _) | (_, Point::End(_)) => Ordering::Less,
            (_, Point::Start) | (Point::End(_), _) => Ordering::Greater,
            (Point::At(a), Point::At(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        }
    }

    fn cmp_version(&self, v: &Version) -> Ordering {
        match self {
            Point::Start => Ordering::Less,
            Point::End(_) => Ordering::Greater,
            Point::At(p) => p.partial_cmp(v).unwrap_or(Ordering::Equal),
        }
    }

    /// The event's version text as written.
    fn text(&self) -> &str {
        match self {
            Point::Start => "0",
            Point::At(v) => v.as_str(),
            Point::End(t) => t,
        }
    }
}

/// The kind of an [`Event`], without its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `introduced`.
    Introduced,
    /// `fixed`.
    Fixed,
    /// `last_affected`.
    LastAffected,
    /// `limit`.
    Limit,
}

impl EventKind {
    /// The JSON key: `introduced`, `fixed`, `last_affected` or `limit`.
    pub fn key(self) -> &'static str {
        match self {
            EventKind::Introduced => "introduced",
            EventKind::Fixed => "fixed",
            EventKind::LastAffected => "last_affected",
            EventKind::Limit => "limit",
        }
    }
}

#[derive(Clone, Debug)]
struct CompiledEvent {
    kind: EventKind,
    point: Point,
}

#[derive(Clone, Debug)]
struct CompiledRange {
    index: usize,
    scheme: Scheme,
    /// Sorted by point, stable.
    events: Vec<CompiledEvent>,
    has_limit: bool,
}

/// A `versions` list entry. It is parsed only when the installed version's text differs but
/// its [`equality_signature`] agrees: long PyPI lists (hundreds of entries) then cost one
/// hash comparison per entry instead of one parse.
#[derive(Clone, Debug)]
struct Listed {
    /// Where its text is in [`CompiledAffected::listed_text`].
    text: std::ops::Range<usize>,
    signature: Option<u64>,
}

/// A necessary condition for two version strings to be equal under `scheme`: the sequence
/// of non-zero ASCII digits, hashed. Equal versions have equal signatures because every
/// scheme compares numbers by value (`1.0` = `1`, `01` = `1`) and words never stand for
/// digits. For the SemVer schemes (and Go's and NuGet's) only the digits before `+` count: what follows
/// is build metadata, which they ignore; in rpm, dpkg and PEP 440 the digits after `+` do
/// count (rpm reads `+` as a separator: `+6` = `6`). `None` (any non-ASCII byte) means
/// "always parse".
fn equality_signature(text: &str, scheme: Scheme) -> Option<u64> {
    if !text.is_ascii() {
        return None;
    }
    let build_metadata = matches!(
        scheme,
        Scheme::SemverNpm | Scheme::SemverCargo | Scheme::Go | Scheme::NuGet
    );
    // FNV-1a over the digits: no allocation, stable across runs.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes().take_while(|&b| !(build_metadata && b == b'+')) {
        if b.is_ascii_digit() && b != b'0' {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Some(hash)
}

/// An [`AffectedVersions`] with every event parsed and sorted once, ready to evaluate many
/// versions: build it when an advisory is loaded, so a bad range fails then.
#[derive(Clone, Debug)]
pub struct CompiledAffected {
    scheme: Scheme,
    versions: Vec<Listed>,
    /// The `versions` texts, one after another: one allocation per entry, not one per
    /// listed version.
    listed_text: String,
    ranges: Vec<CompiledRange>,
    skipped: Vec<Skipped>,
}

/// The scheme of `SEMVER` ranges for an ecosystem scheme: Go keeps its own (for `v` and
/// `go` prefixes), Cargo its strict reading, NuGet its own (SemVer plus a fourth part and
/// case-insensitive labels), every other ecosystem the npm reading.
fn semver_scheme(scheme: Scheme) -> Scheme {
    match scheme {
        Scheme::Go | Scheme::SemverCargo | Scheme::NuGet => scheme,
        _ => Scheme::SemverNpm,
    }
}

impl AffectedVersions {
    /// Parses and sorts every event with `scheme` (the package ecosystem's scheme; `SEMVER`
    /// ranges use SemVer). A version an event's scheme cannot parse is an error naming the
    /// range and event.
    pub fn compile(&self, scheme: Scheme) -> Result<CompiledAffected, Error> {
        let mut compiled = CompiledAffected::new(scheme);
        for (index, range) in self.ranges.iter().enumerate() {
            compiled.add_range(
                index,
                &range.kind,
                range.events.iter().map(|e| (e.kind(), e.version())),
            )?;
        }
        for text in &self.versions {
            compiled.add_listed(text);
        }
        Ok(compiled)
    }

    /// The same entry without the `versions` entries that its ranges already cover: the
    /// verdict (affected or not) is unchanged for every version, while lookups read and scan
    /// far less (OSV lists every affected release of a PyPI range). Only ranges ordered by
    /// `scheme` itself prune (an equal version then falls in the same ranges); a record that
    /// does not compile is returned unchanged, so the error stays visible.
    pub fn without_versions_covered_by_ranges(&self, scheme: Scheme) -> AffectedVersions {
        let Ok(compiled) = self.compile(scheme) else {
            return self.clone();
        };
        let covered = |text: &str| -> bool {
            let Ok(v) = scheme.parse(text) else {
                return false;
            };
            compiled
                .ranges
                .iter()
                .any(|r| r.scheme == scheme && r.evaluate(&v).is_some())
        };
        AffectedVersions {
            ranges: self.ranges.clone(),
            versions: self
                .versions
                .iter()
                .filter(|t| !covered(t))
                .cloned()
                .collect(),
        }
    }

    /// [`AffectedVersions::compile`] then [`CompiledAffected::evaluate`].
    pub fn evaluate(&self, scheme: Scheme, version: &str) -> Result<Evaluation, Error> {
        self.compile(scheme)?.evaluate(version)
    }
}

impl CompiledAffected {
    /// An entry with no ranges and no `versions` list yet, for `scheme` (the package
    /// ecosystem's scheme); [`CompiledAffected::add_range`] and
    /// [`CompiledAffected::add_listed`] fill it from borrowed text, in record order, exactly as
    /// [`AffectedVersions::compile`] would.
    pub fn new(scheme: Scheme) -> CompiledAffected {
        CompiledAffected {
            scheme,
            versions: Vec::new(),
            listed_text: String::new(),
            ranges: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Adds `ranges[index]`, of type `kind`, with its events in record order: parses and
    /// sorts them (`GIT` and unknown types are recorded as skipped). A version the range's
    /// scheme cannot parse is an error naming the range and event.
    pub fn add_range<'e>(
        &mut self,
        index: usize,
        kind: &RangeKind,
        events: impl IntoIterator<Item = (EventKind, &'e str)>,
    ) -> Result<(), Error> {
        let range_scheme = match kind {
            RangeKind::Ecosystem => self.scheme,
            RangeKind::Semver => semver_scheme(self.scheme),
            RangeKind::Git => {
                self.skipped.push(Skipped {
                    range_index: index,
                    reason: SkipReason::Git,
                });
                return Ok(());
            }
            RangeKind::Other(t) => {
                self.skipped.push(Skipped {
                    range_index: index,
                    reason: SkipReason::UnknownType(t.clone()),
                });
                return Ok(());
            }
        };
        let events = events
            .into_iter()
            .map(|(kind, text)| {
                let point = match kind {
                    EventKind::Introduced if text == "0" => Point::Start,
                    EventKind::Limit if text.contains('*') => Point::End(text.into()),
                    _ => Point::At(range_scheme.parse(text).map_err(|e| {
                        Error::InvalidRangeEvent {
                            range_index: index,
                            event: kind.key(),
                            error: Box::new(e),
                        }
                    })?),
                };
                Ok(CompiledEvent { kind, point })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let has_limit = events.iter().any(|e| e.kind == EventKind::Limit);
        let events = merge_sort(events, &|a: &CompiledEvent, b: &CompiledEvent| {
            a.point.cmp(&b.point)
        });
        self.ranges.push(CompiledRange {
            index,
            scheme: range_scheme,
            events,
            has_limit,
        });
        Ok(())
    }

    /// Adds an entry of the `versions` list.
    pub fn add_listed(&mut self, text: &str) {
        let start = self.listed_text.len();
        self.listed_text.push_str(text);
        self.versions.push(Listed {
            text: start..self.listed_text.len(),
            signature: equality_signature(text, self.scheme),
        });
    }

    /// The ecosystem scheme this was compiled with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Evaluates `version`. It is an error if a range must be walked and its scheme cannot
    /// parse `version`; the `versions` list alone needs no parse (it matches equal text, or
    /// an equal version when both parse).
    pub fn evaluate(&self, version: &str) -> Result<Evaluation, Error> {
        self.evaluate_installed(&mut Installed::new(version))
    }

    /// [`CompiledAffected::evaluate`] for a version evaluated against many entries: it is
    /// parsed once per scheme, however many entries ask.
    pub fn evaluate_installed(&self, installed: &mut Installed<'_>) -> Result<Evaluation, Error> {
        let version = installed.text;
        let mut matches = Vec::new();
        let signature = equality_signature(version, self.scheme);
        let scheme = self.scheme;
        let listed = self.versions.iter().any(|l| {
            let text = self.listed_text.get(l.text.clone()).unwrap_or_default();
            if text == version {
                return true;
            }
            if signature.is_some() && l.signature.is_some() && l.signature != signature {
                return false;
            }
            match (scheme.parse(text), installed.get(scheme)) {
                (Ok(a), Ok(b)) => a == *b,
                _ => false,
            }
        });
        if listed {
            matches.push(Match {
                range_index: None,
                introduced: None,
                fixed_or_last_affected: None,
                via_versions_list: true,
            });
        }
        for range in &self.ranges {
            let v = installed.get(range.scheme).map_err(Clone::clone)?;
            matches.extend(range.evaluate(v));
        }
        Ok(Evaluation {
            matches,
            skipped: self.skipped.clone(),
        })
    }
}

/// An installed version being evaluated against many advisory entries, parsed at most once
/// per scheme (an ecosystem's ranges and its `SEMVER` ranges may order differently).
#[derive(Clone, Debug)]
pub struct Installed<'t> {
    text: &'t str,
    parsed: Vec<(Scheme, Result<Version, Error>)>,
}

impl<'t> Installed<'t> {
    /// The version as installed; nothing is parsed yet.
    pub fn new(text: &'t str) -> Installed<'t> {
        Installed {
            text,
            parsed: Vec::new(),
        }
    }

    /// The version as text.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// The version parsed with `scheme` (parsed on first use).
    pub fn get(&mut self, scheme: Scheme) -> Result<&Version, &Error> {
        let at = match self.parsed.iter().position(|(s, _)| *s == scheme) {
            Some(at) => at,
            None => {
                self.parsed.push((scheme, scheme.parse(self.text)));
                self.parsed.len() - 1
            }
        };
        self.parsed[at].1.as_ref()
    }
}

impl CompiledRange {
    fn evaluate(&self, v: &Version) -> Option<Match> {
        // BeforeLimits: with no limit events an implicit `*` admits everything.
        if self.has_limit
            && !self
                .events
                .iter()
                .any(|e| e.kind == EventKind::Limit && e.point.cmp_version(v).is_gt())
        {
            return None;
        }
        let mut vulnerable = false;
        let mut introduced_at = None;
        for (k, e) in self.events.iter().enumerate() {
            let at_or_below = e.point.cmp_version(v).is_le();
            match e.kind {
                EventKind::Introduced if at_or_below => {
                    vulnerable = true;
                    introduced_at = Some(k);
                }
                EventKind::Fixed if at_or_below => vulnerable = false,
                EventKind::LastAffected if e.point.cmp_version(v).is_lt() => vulnerable = false,
                _ => {}
            }
        }
        let k = introduced_at.filter(|_| vulnerable)?;
        let bound = self.events[k + 1..]
            .iter()
            .find_map(|e| match e.kind {
                EventKind::Fixed => Some(Bound::Fixed(e.point.text().to_owned())),
                EventKind::LastAffected => Some(Bound::LastAffected(e.point.text().to_owned())),
                _ => None,
            })
            .or_else(|| {
                self.events
                    .iter()
                    .find(|e| e.kind == EventKind::Limit && e.point.cmp_version(v).is_gt())
                    .map(|e| Bound::Limit(e.point.text().to_owned()))
            });
        Some(Match {
            range_index: Some(self.index),
            introduced: Some(self.events[k].point.text().to_owned()),
            fixed_or_last_affected: bound,
            via_versions_list: false,
        })
    }
}

/// A stable merge sort that cannot panic whatever `cmp` answers (the standard sorts may panic
/// on an inconsistent order, and events come from outside).
fn merge_sort<T>(mut items: Vec<T>, cmp: &dyn Fn(&T, &T) -> Ordering) -> Vec<T> {
    if items.len() <= 16 {
        // Insertion sort by adjacent swaps: stable, no allocation, and ranges are short.
        for i in 1..items.len() {
            let mut j = i;
            while j > 0 && cmp(&items[j], &items[j - 1]).is_lt() {
                items.swap(j, j - 1);
                j -= 1;
            }
        }
        return items;
    }
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, cmp);
    let right = merge_sort(right, cmp);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_right = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => cmp(r, l).is_lt(),
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => break,
        };
        out.extend(if take_right {
            right.next()
        } else {
            left.next()
        });
    }
    out
}
