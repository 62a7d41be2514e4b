//! The Debian security tracker importer (`https://security-tracker.debian.org/tracker/data/json`).
//!
//! The tracker's JSON is `{ SOURCE_PACKAGE: { CVE_ID: { "description"?, "scope"?, "debianbug"?,
//! "releases": { CODENAME: { "status", "repositories", "fixed_version"?, "urgency", "nodsa"?,
//! "nodsa_reason"? } } } } }`. Each (source package, issue, release) becomes one [`Affected`]
//! entry of ecosystem `Debian:<codename>` (`Debian:bookworm`), named by the **source** package
//! (`source_package: true`): a binary package is looked up by its source name.
//!
//! # Ids, and how they coexist with other feeds
//!
//! One advisory per tracker issue, id `DEBIAN-<issue>` (`DEBIAN-CVE-2024-1234`, as OSV names
//! the tracker's records), with the CVE as alias. The database merges advisories by id, so a
//! distro record never folds into (or overwrites) a language-ecosystem record that uses the CVE
//! id or a `PYSEC-`/`GHSA-`/`GO-` id: findings are tied together through aliases instead. The
//! same id from OSV's own Debian export merges with it ([`Advisory::merge`]: OSV's record, which
//! carries `modified`, wins the fields; the entries of both are kept, OSV's under `Debian:12`,
//! the tracker's under `Debian:bookworm`).
//!
//! # Status mapping (per release)
//!
//! | tracker | [`DistroStatus`] | ranges |
//! |---|---|---|
//! | `resolved`, `fixed_version` `0` | `NotAffected` | none |
//! | `resolved`, `fixed_version` V | `Fixed` | `ECOSYSTEM` introduced `0`, fixed V (dpkg) |
//! | `resolved`, no `fixed_version` | `Other("resolved")`, warning | none |
//! | `open` | `Unfixed` | introduced `0` |
//! | `open`, `nodsa_reason` `ignored` | `Ignored` | introduced `0` |
//! | `open`, `nodsa_reason` `postponed` | `Postponed` | introduced `0` |
//! | `open`, urgency `end-of-life` | `WontFix`: the package is out of security support in that release, no fix will come | introduced `0` |
//! | `undetermined` | `Other("undetermined")` | introduced `0`: possibly affected, the matcher decides |
//! | anything else | `Other(status)` | introduced `0` |
//!
//! The urgency is always recorded as written (`unimportant` keeps its status; filtering is the
//! matcher's policy); `nodsa` keeps the tracker's text (or the reason when the text is empty).
//! The numeric release is given by [`debian_release_number`] (`bookworm` → `12`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use palisade_version::osv::{AffectedVersions, Event, Range, RangeKind};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::advisory::new_advisory;
use crate::import::{Import, Limits, Meter, MeteredReader, Over, cap_text, open_regular};
use crate::{
    Advisory, Affected, DistroFacts, DistroStatus, Error, FeedInfo, Provenance, Reference,
};

/// The feed name in the database's `feeds` table.
const FEED: &str = "debian-tracker";

/// One issue of one source package, as written.
#[derive(Deserialize)]
struct RawIssue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    debianbug: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "map_or_empty_list")]
    releases: BTreeMap<String, RawRelease>,
}

/// A JSON object, or `[]`: the tracker (written by PHP-style code) spells an empty map as an
/// empty array, e.g. `"releases": []` in the real data.
fn map_or_empty_list<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Visit<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map, or an empty list")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, V>()? {
                out.insert(k, v);
            }
            Ok(out)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            match seq.next_element::<serde::de::IgnoredAny>()? {
                None => Ok(BTreeMap::new()),
                Some(_) => Err(serde::de::Error::custom("expected a map, or an empty list")),
            }
        }
    }
    d.deserialize_any(Visit(std::marker::PhantomData))
}

/// One release's facts about an issue, as written.
#[derive(Deserialize)]
struct RawRelease {
    status: String,
    #[serde(default, deserialize_with = "map_or_empty_list")]
    #[allow(dead_code)]
    repositories: BTreeMap<String, String>,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

/// A release's facts turned into the model.
struct ReleaseEntry {
    facts: DistroFacts,
    versions: AffectedVersions,
    warning: Option<String>,
}

fn introduced_zero(fixed: Option<String>) -> AffectedVersions {
    let mut events = vec![Event::Introduced("0".into())];
    events.extend(fixed.map(Event::Fixed));
    AffectedVersions {
        ranges: vec![Range {
            kind: RangeKind::Ecosystem,
            repo: None,
            events,
        }],
        versions: Vec::new(),
    }
}

impl TryFrom<RawRelease> for ReleaseEntry {
    type Error = String;

    fn try_from(raw: RawRelease) -> Result<ReleaseEntry, String> {
        let urgency = raw.urgency.filter(|u| !u.is_empty());
        let reason = raw.nodsa_reason.filter(|r| !r.is_empty());
        let nodsa = raw
            .nodsa
            .filter(|n| !n.is_empty())
            .or_else(|| reason.clone());
        let fixed = raw.fixed_version.filter(|v| !v.is_empty());
        let mut warning = None;
        let (status, versions) = match raw.status.as_str() {
            "resolved" => match fixed {
                Some(v) if v == "0" => (DistroStatus::NotAffected, AffectedVersions::default()),
                Some(v) => (DistroStatus::Fixed, introduced_zero(Some(v))),
                None => {
                    warning = Some("status resolved without fixed_version".to_owned());
                    (
                        DistroStatus::Other("resolved".into()),
                        AffectedVersions::default(),
                    )
                }
            },
            "open" => {
                let status = match (reason.as_deref(), urgency.as_deref()) {
                    (Some("ignored"), _) => DistroStatus::Ignored,
                    (Some("postponed"), _) => DistroStatus::Postponed,
                    (_, Some("end-of-life")) => DistroStatus::WontFix,
                    _ => DistroStatus::Unfixed,
                };
                (status, introduced_zero(None))
            }
            "" => return Err("status is empty".into()),
            other => (DistroStatus::Other(other.to_owned()), introduced_zero(None)),
        };
        Ok(ReleaseEntry {
            facts: DistroFacts {
                release: None,
                repository: None,
                source_package: true,
                status,
                urgency,
                nodsa,
                note: None,
            },
            versions,
            warning,
        })
    }
}

/// The Debian release number of a codename (`bookworm` → `12`), for the releases since 8;
/// `None` for `sid` and unknown names.
pub fn debian_release_number(codename: &str) -> Option<&'static str> {
    Some(match codename {
        "jessie" => "8",
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        _ => return None,
    })
}

/// Imports the Debian security tracker's JSON at `path` (feed `debian-tracker`): one advisory
/// per issue, id `DEBIAN-<issue>` (the module documentation of `debian.rs` says more). The
/// file is streamed one issue at a time: it may be as large as [`Limits::max_debian_bytes`] (and
/// [`Limits::max_total_bytes`]), each issue [`Limits::max_record_bytes`]; at most
/// [`Limits::max_entries`] (package, issue) records are read, and descriptions longer than
/// [`Limits::max_text_bytes`] are cut. Errors name the file and the record
/// (`openssl/CVE-2024-1: releases.bookworm: …`).
pub fn import_debian_tracker(path: &Path, limits: &Limits) -> Result<Import, Error> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("json")
        .to_owned();
    let file = open_regular(path)?;
    let mut import = parse_tracker_reader(
        std::io::BufReader::with_capacity(1 << 16, file),
        &file_name,
        limits,
    )?;
    import.feed.source = path.display().to_string();
    Ok(import)
}

#[cfg(test)]
fn parse_debian_tracker(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<Import, Error> {
    parse_tracker_reader(bytes, file_name, limits)
}

fn parse_tracker_reader(
    reader: impl Read,
    file_name: &str,
    limits: &Limits,
) -> Result<Import, Error> {
    let feed = format!("Debian security tracker {file_name}");
    let meter = Meter::new(
        limits.max_debian_bytes.min(limits.max_total_bytes),
        limits.max_record_bytes,
    );
    let mut tracker = Tracker {
        feed: feed.clone(),
        limits,
        advisories: BTreeMap::new(),
        warnings: Vec::new(),
        records: 0,
        at: String::new(),
    };
    let failure = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_reader(MeteredReader {
        inner: reader,
        meter: &meter,
    });
    let result = de
        .deserialize_map(Packages {
            tracker: &mut tracker,
            meter: &meter,
            failure: &failure,
        })
        .and_then(|()| de.end());
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    if let Err(e) = result {
        return Err(match meter.over() {
            Some(Over::Total(max)) => Error::Feed {
                feed,
                message: format!("larger than the {max}-byte limit for a tracker file"),
            },
            Some(Over::Record(max)) => Error::Record {
                feed,
                record: tracker.at,
                message: format!("larger than the {max}-byte record limit"),
            },
            None => Error::Feed {
                feed,
                message: format!("not the tracker's JSON (package → issue → releases): {e}"),
            },
        });
    }
    let advisories: Vec<Advisory> = tracker
        .advisories
        .into_values()
        .map(|mut a| {
            a.provenance.sort();
            a
        })
        .collect();
    Ok(Import {
        feed: FeedInfo {
            name: FEED.into(),
            source: file_name.to_owned(),
            records: tracker.records,
            snapshot: None,
        },
        advisories,
        warnings: tracker.warnings,
    })
}

/// The advisories built so far.
struct Tracker<'l> {
    feed: String,
    limits: &'l Limits,
    advisories: BTreeMap<String, Advisory>,
    warnings: Vec<String>,
    records: u64,
    /// The record being read (`package/issue`), for errors.
    at: String,
}

impl Tracker<'_> {
    fn add(&mut self, package: &str, issue: String, value: &RawValue) -> Result<(), Error> {
        let feed = &self.feed;
        self.records += 1;
        if self.records > self.limits.max_entries as u64 {
            return Err(Error::Feed {
                feed: feed.clone(),
                message: format!("more than {} records", self.limits.max_entries),
            });
        }
        let record = format!("{package}/{issue}");
        let err = |message: String| Error::Record {
            feed: feed.clone(),
            record: record.clone(),
            message,
        };
        if issue.is_empty() || issue.contains(char::is_whitespace) {
            return Err(err(format!("{issue:?} is not an issue id")));
        }
        let raw: RawIssue = serde_json::from_str(value.get()).map_err(|e| err(e.to_string()))?;
        let max_text = self.limits.max_text_bytes;
        let id = format!("DEBIAN-{issue}");
        let advisory = self.advisories.entry(id.clone()).or_insert_with(|| {
            let mut a = new_advisory(id);
            if issue.starts_with("CVE-") {
                a.aliases.push(issue.clone());
            }
            a.references.push(Reference {
                kind: "WEB".into(),
                url: format!("https://security-tracker.debian.org/tracker/{issue}"),
            });
            a
        });
        if advisory.summary.is_empty()
            && let Some(d) = raw.description.filter(|d| !d.is_empty())
        {
            advisory.summary = cap_text(d, max_text);
        }
        if advisory.details.is_none() {
            advisory.details = raw
                .scope
                .as_ref()
                .map(|s| cap_text(format!("scope: {s}"), max_text));
        }
        if let Some(bug) = raw.debianbug.as_ref().and_then(bug_number) {
            let url = format!("https://bugs.debian.org/{bug}");
            if !advisory.references.iter().any(|r| r.url == url) {
                advisory.references.push(Reference {
                    kind: "REPORT".into(),
                    url,
                });
            }
        }
        for (codename, release) in raw.releases {
            let at = format!("releases.{codename}");
            if codename.is_empty() || codename.contains([':', ' ']) {
                return Err(err(format!("{at}: not a release codename")));
            }
            let entry = ReleaseEntry::try_from(release).map_err(|e| err(format!("{at}: {e}")))?;
            if let Some(w) = entry.warning {
                self.warnings
                    .push(format!("importing {feed}: {record}: {at}: {w}; kept"));
            }
            let mut facts = entry.facts;
            facts.release = Some(codename.clone());
            facts.nodsa = facts.nodsa.map(|n| cap_text(n, max_text));
            let affected = Affected::new(
                format!("Debian:{codename}"),
                package.to_owned(),
                entry.versions,
                Some(facts),
            )
            .map_err(|e| err(format!("{at}: {e}")))?;
            if let Some(why) = affected.unevaluable.as_deref() {
                self.warnings.push(format!(
                    "importing {feed}: {record}: {at}: {why}; kept, not evaluable"
                ));
            }
            advisory.affected.push(affected);
        }
        advisory.provenance.push(Provenance {
            feed: FEED.into(),
            record,
        });
        Ok(())
    }
}

/// The top level: source package → its issues.
struct Packages<'a, 'l> {
    tracker: &'a mut Tracker<'l>,
    meter: &'a Meter,
    failure: &'a RefCell<Option<Error>>,
}

impl<'de> Visitor<'de> for Packages<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of source packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        loop {
            self.meter.start_record();
            let Some(package) = map.next_key::<String>()? else {
                return Ok(());
            };
            if package.is_empty() {
                *self.failure.borrow_mut() = Some(Error::Record {
                    feed: self.tracker.feed.clone(),
                    record: "\"\"".into(),
                    message: "empty source package name".into(),
                });
                return Err(de::Error::custom("stopped"));
            }
            map.next_value_seed(Issues {
                package: &package,
                tracker: &mut *self.tracker,
                meter: self.meter,
                failure: self.failure,
            })?;
        }
    }
}

/// One package's issues, each read as raw text under the record cap.
struct Issues<'a, 'l> {
    package: &'a str,
    tracker: &'a mut Tracker<'l>,
    meter: &'a Meter,
    failure: &'a RefCell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for Issues<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Issues<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of issues")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        loop {
            self.meter.start_record();
            let Some(issue) = map.next_key::<String>()? else {
                return Ok(());
            };
            self.tracker.at = cap_text(format!("{}/{issue}", self.package), 1024);
            let value: Box<RawValue> = map.next_value()?;
            if let Err(e) = self.tracker.add(self.package, issue, &value) {
                *self.failure.borrow_mut() = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
    }
}

fn bug_number(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_texts_are_bounded() {
        let long = "d".repeat(5_000);
        let json = format!(
            r#"{{"zlib":{{"CVE-2024-1":{{"description":"{long}","releases":{{}}}}}},"openssl":{{"CVE-2024-2":{{"description":"{}","releases":{{}}}}}}}}"#,
            "e".repeat(20_000)
        );
        let limits = Limits {
            max_text_bytes: 100,
            max_record_bytes: 10_000,
            ..Limits::default()
        };
        let e = parse_debian_tracker(json.as_bytes(), "json", &limits)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "importing Debian security tracker json: openssl/CVE-2024-2: larger than the 10000-byte record limit"
        );
        let json =
            format!(r#"{{"zlib":{{"CVE-2024-1":{{"description":"{long}","releases":{{}}}}}}}}"#);
        let i = parse_debian_tracker(json.as_bytes(), "json", &limits).unwrap();
        let s = &i.advisories[0].summary;
        assert!(
            s.len() <= 100 && s.ends_with("(truncated from 5000 bytes)"),
            "{s}"
        );
        let e = parse_debian_tracker(br#"{"":{}}"#, "json", &limits)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("empty source package name"), "{e}");
    }

    #[test]
    fn release_numbers() {
        assert_eq!(debian_release_number("bookworm"), Some("12"));
        assert_eq!(debian_release_number("buster"), Some("10"));
        assert_eq!(debian_release_number("sid"), None);
    }

    #[test]
    fn an_empty_list_is_an_empty_map() {
        // The real tracker JSON has `"releases": []` (chromium-browser/CVE-2022-0358).
        let json = r#"{"chromium":{"CVE-2022-0358":{"releases":[]}},"openssl":{"CVE-2024-1":{"releases":{"bookworm":{"status":"open","repositories":[]}}}}}"#;
        let i = parse_debian_tracker(json.as_bytes(), "json", &Limits::default()).unwrap();
        assert!(i.advisories.iter().any(|a| a.id.contains("CVE-2024-1")));
        let json = r#"{"chromium":{"CVE-2022-0358":{"releases":[1]}}}"#;
        assert!(parse_debian_tracker(json.as_bytes(), "json", &Limits::default()).is_err());
    }

    #[test]
    fn bad_record_names_package_issue_and_release() {
        let json = r#"{"openssl":{"CVE-2024-1":{"releases":{"bookworm":{"repositories":{}}}}}}"#;
        let e = parse_debian_tracker(json.as_bytes(), "json", &Limits::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with(
                "importing Debian security tracker json: openssl/CVE-2024-1: missing field `status`"
            ),
            "{e}"
        );
        let json = r#"{"openssl":{"CVE-2024-1":{"releases":{"bookworm":{"status":"resolved","fixed_version":"a b!"}}}}}"#;
        let i = parse_debian_tracker(json.as_bytes(), "json", &Limits::default()).unwrap();
        assert!(!i.advisories[0].affected[0].is_evaluable());
        assert!(
            i.warnings[0].starts_with(
                "importing Debian security tracker json: openssl/CVE-2024-1: releases.bookworm: ranges[0]"
            ),
            "{:?}",
            i.warnings
        );
    }
}
