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

use std::collections::BTreeMap;
use std::path::Path;

use palisade_version::osv::{AffectedVersions, Event, Range, RangeKind};
use serde::Deserialize;

use crate::advisory::new_advisory;
use crate::import::{Import, Limits, read_capped};
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
    #[serde(default)]
    releases: BTreeMap<String, RawRelease>,
}

/// One release's facts about an issue, as written.
#[derive(Deserialize)]
struct RawRelease {
    status: String,
    #[serde(default)]
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
/// per issue, id `DEBIAN-<issue>`, see the [module documentation](self). The file may be as
/// large as [`Limits::max_total_bytes`]; at most [`Limits::max_entries`] (package, issue) records
/// are read. Errors name the file and the record (`openssl/CVE-2024-1: releases.bookworm: …`).
pub fn import_debian_tracker(path: &Path, limits: &Limits) -> Result<Import, Error> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("json")
        .to_owned();
    let bytes = read_capped(path, limits.max_total_bytes)?;
    let mut import = parse_debian_tracker(&bytes, &file_name, limits)?;
    import.feed.source = path.display().to_string();
    Ok(import)
}

fn parse_debian_tracker(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<Import, Error> {
    let feed = format!("Debian security tracker {file_name}");
    let raw: BTreeMap<String, BTreeMap<String, serde_json::Value>> = serde_json::from_slice(bytes)
        .map_err(|e| Error::Feed {
            feed: feed.clone(),
            message: format!("not the tracker's JSON (package → issue → releases): {e}"),
        })?;
    let mut advisories: BTreeMap<String, Advisory> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut records = 0u64;
    for (package, issues) in raw {
        if package.is_empty() {
            return Err(Error::Record {
                feed,
                record: "\"\"".into(),
                message: "empty source package name".into(),
            });
        }
        for (issue, value) in issues {
            records += 1;
            if records > limits.max_entries as u64 {
                return Err(Error::Feed {
                    feed,
                    message: format!("more than {} records", limits.max_entries),
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
            let raw: RawIssue = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
            let id = format!("DEBIAN-{issue}");
            let advisory = advisories.entry(id.clone()).or_insert_with(|| {
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
                && let Some(d) = raw.description.as_deref().filter(|d| !d.is_empty())
            {
                advisory.summary = d.to_owned();
            }
            if advisory.details.is_none() {
                advisory.details = raw.scope.as_ref().map(|s| format!("scope: {s}"));
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
                let entry =
                    ReleaseEntry::try_from(release).map_err(|e| err(format!("{at}: {e}")))?;
                if let Some(w) = entry.warning {
                    warnings.push(format!("importing {feed}: {record}: {at}: {w}; kept"));
                }
                let mut facts = entry.facts;
                facts.release = Some(codename.clone());
                let affected = Affected::new(
                    format!("Debian:{codename}"),
                    package.clone(),
                    entry.versions,
                    Some(facts),
                )
                .map_err(|e| err(format!("{at}: {e}")))?;
                if let Some(why) = affected.unevaluable.as_deref() {
                    warnings.push(format!(
                        "importing {feed}: {record}: {at}: {why}; kept, not evaluable"
                    ));
                }
                advisory.affected.push(affected);
            }
            advisory.provenance.push(Provenance {
                feed: FEED.into(),
                record,
            });
        }
    }
    let advisories: Vec<Advisory> = advisories
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
            records,
            snapshot: None,
        },
        advisories,
        warnings,
    })
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
    fn release_numbers() {
        assert_eq!(debian_release_number("bookworm"), Some("12"));
        assert_eq!(debian_release_number("buster"), Some("10"));
        assert_eq!(debian_release_number("sid"), None);
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
