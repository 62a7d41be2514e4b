//! The advisory model every feed is imported into, and its OSV reading (`Raw*` → `TryFrom`).

use std::fmt;

use palisade_version::Scheme;
use palisade_version::osv::AffectedVersions;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One advisory: an OSV record, or the facts a distro feed gives about one vulnerability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Advisory {
    /// `PYSEC-2020-342`, `GO-2022-0001`, `ALPINE-CVE-2019-14904`, …
    pub id: String,
    /// The same vulnerability under other ids (CVE, GHSA, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Other vulnerabilities this one is related to (not the same issue).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// One-line summary (empty when the feed gives none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// When it was first published, if the feed says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Timestamp>,
    /// When it last changed, if the feed says (OSV always does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Timestamp>,
    /// Set when the advisory was withdrawn: kept, but it must not produce findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Timestamp>,
    /// Severity ratings as the feed gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// The packages affected, one entry per ecosystem and package (and release, for distros).
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Where this advisory came from: one entry per feed record that gave it, sorted.
    pub provenance: Vec<Provenance>,
}

/// A severity rating.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// The rating system.
    pub kind: SeverityKind,
    /// The rating: a CVSS vector for CVSS kinds, a word (`medium`) for Ubuntu.
    pub score: String,
}

/// A severity rating system (OSV `severity[].type`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum SeverityKind {
    /// `CVSS_V2`.
    CvssV2,
    /// `CVSS_V3`.
    CvssV3,
    /// `CVSS_V4`.
    CvssV4,
    /// `Ubuntu`: Ubuntu's priority words.
    Ubuntu,
    /// Any other type, kept as written.
    Other(String),
}

impl From<String> for SeverityKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "CVSS_V2" => SeverityKind::CvssV2,
            "CVSS_V3" => SeverityKind::CvssV3,
            "CVSS_V4" => SeverityKind::CvssV4,
            "Ubuntu" => SeverityKind::Ubuntu,
            _ => SeverityKind::Other(s),
        }
    }
}

impl From<SeverityKind> for String {
    fn from(k: SeverityKind) -> String {
        match k {
            SeverityKind::CvssV2 => "CVSS_V2".into(),
            SeverityKind::CvssV3 => "CVSS_V3".into(),
            SeverityKind::CvssV4 => "CVSS_V4".into(),
            SeverityKind::Ubuntu => "Ubuntu".into(),
            SeverityKind::Other(s) => s,
        }
    }
}

/// A link (OSV `references[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `WEB`, `ADVISORY`, `FIX`, `PACKAGE`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL.
    pub url: String,
}

/// Which feed record gave (part of) an advisory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    /// The feed name, as in the database's `feeds` table (`osv/PyPI`, `alpine-secdb`).
    pub feed: String,
    /// The record inside the feed: a zip entry or file path, or `v3.11/main.yaml: packages[3]`.
    pub record: String,
}

/// One affected package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredAffected")]
#[non_exhaustive]
pub struct Affected {
    /// The OSV ecosystem string, suffix included: `PyPI`, `Debian:12`, `Alpine:v3.11`.
    pub ecosystem: String,
    /// The package name as published.
    pub name: String,
    /// The name packages are looked up by: [`normalize_name`] of `name`.
    pub normalized_name: String,
    /// The version scheme the ranges compiled with; `None` when the entry cannot be evaluated
    /// (see [`Affected::unevaluable`]). It is kept, never dropped.
    pub scheme: Option<Scheme>,
    /// Why the entry cannot be evaluated: the ecosystem has no scheme here, or a range does not
    /// compile (`ranges[1]: `fixed` event: invalid PEP 440 version "…"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unevaluable: Option<String>,
    /// The affected versions. With a scheme, they compiled when the advisory was imported.
    pub versions: AffectedVersions,
    /// Distro facts, when the feed is a distro's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<DistroFacts>,
}

/// The serialized form of [`Affected`]. Reading it back does not compile the ranges again
/// (the importer did, and the matcher compiles the entries it evaluates); it checks that the
/// stored scheme is the ecosystem's, so a record cannot be evaluated with another ordering.
#[derive(Deserialize)]
struct StoredAffected {
    ecosystem: String,
    name: String,
    scheme: Option<Scheme>,
    #[serde(default)]
    unevaluable: Option<String>,
    versions: AffectedVersions,
    #[serde(default)]
    distro: Option<DistroFacts>,
}

impl TryFrom<StoredAffected> for Affected {
    type Error = String;
    fn try_from(raw: StoredAffected) -> Result<Self, String> {
        if raw.ecosystem.is_empty() {
            return Err("package.ecosystem is empty".into());
        }
        if raw.name.is_empty() {
            return Err("package.name is empty".into());
        }
        let expected = Scheme::from_osv_ecosystem(&raw.ecosystem);
        let (scheme, unevaluable) = match raw.scheme {
            Some(stored) if Some(stored) != expected => {
                return Err(format!(
                    "stored scheme {stored:?} does not match ecosystem {:?}",
                    raw.ecosystem
                ));
            }
            Some(stored) => (Some(stored), None),
            None => (
                None,
                Some(raw.unevaluable.unwrap_or_else(|| {
                    format!("no version scheme for ecosystem {:?}", raw.ecosystem)
                })),
            ),
        };
        Ok(Affected {
            normalized_name: normalize_name(&raw.ecosystem, &raw.name),
            ecosystem: raw.ecosystem,
            name: raw.name,
            scheme,
            unevaluable,
            versions: raw.versions,
            distro: raw.distro,
        })
    }
}

impl Affected {
    /// Builds an entry, compiling its ranges with the ecosystem's scheme. An entry that does
    /// not compile is kept with [`Affected::unevaluable`] naming the range and event; the only
    /// errors are an empty ecosystem or name.
    pub fn new(
        ecosystem: String,
        name: String,
        versions: AffectedVersions,
        distro: Option<DistroFacts>,
    ) -> Result<Affected, String> {
        if ecosystem.is_empty() {
            return Err("package.ecosystem is empty".into());
        }
        if name.is_empty() {
            return Err("package.name is empty".into());
        }
        let (scheme, unevaluable) = match Scheme::from_osv_ecosystem(&ecosystem) {
            None => (
                None,
                Some(format!("no version scheme for ecosystem {ecosystem:?}")),
            ),
            Some(scheme) => match versions.compile(scheme) {
                Ok(_) => (Some(scheme), None),
                Err(e) => (None, Some(compile_error_message(&e))),
            },
        };
        Ok(Affected {
            unevaluable,
            normalized_name: normalize_name(&ecosystem, &name),
            ecosystem,
            name,
            scheme,
            versions,
            distro,
        })
    }

    /// Whether versions can be evaluated against this entry.
    pub fn is_evaluable(&self) -> bool {
        self.scheme.is_some()
    }

    /// Whether the entry is unevaluable because its ranges do not compile (as opposed to an
    /// ecosystem without a scheme): the importer reports these as warnings.
    pub fn has_invalid_ranges(&self) -> bool {
        self.scheme.is_none() && Scheme::from_osv_ecosystem(&self.ecosystem).is_some()
    }
}

fn compile_error_message(e: &palisade_version::Error) -> String {
    match e {
        palisade_version::Error::InvalidRangeEvent {
            range_index,
            event,
            error,
        } => format!("ranges[{range_index}]: `{event}` event: {error}"),
        other => other.to_string(),
    }
}

/// The name an ecosystem looks packages up by: PEP 503 for PyPI (lowercase, runs of `-_.`
/// become `-`), lowercase for NuGet and Packagist (case-insensitive registries); every other
/// name exactly as written (npm, Go module paths, crates, Maven, distro packages).
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    let base = ecosystem.split_once(':').map_or(ecosystem, |(b, _)| b);
    match base {
        "PyPI" => {
            let mut out = String::with_capacity(name.len());
            let mut in_sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !in_sep {
                        out.push('-');
                    }
                    in_sep = true;
                } else {
                    out.extend(c.to_lowercase());
                    in_sep = false;
                }
            }
            out
        }
        "NuGet" | "Packagist" => name.to_lowercase(),
        _ => name.to_owned(),
    }
}

/// What a distro's tracker says about one package in one release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistroFacts {
    /// The release (`v3.11`, `bookworm`), when the feed is per release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The repository within the release (`main`, `community`), when the feed says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The name is a source package (Debian source, Alpine origin), not a binary package.
    pub source_package: bool,
    /// The tracker's status.
    pub status: DistroStatus,
    /// Debian's urgency (`low`, `medium`, `high`, `unimportant`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    /// Debian's `nodsa` reason: minor issue, no security advisory planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodsa: Option<String>,
    /// Free text the tracker attached (Alpine: `(SMB - partially fixed…)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A distro tracker's status for a package in a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistroStatus {
    /// Fixed in the version the ranges give.
    Fixed,
    /// Affected, no fix yet.
    Unfixed,
    /// The release never had the vulnerable code (Debian/Alpine fixed version `0`).
    NotAffected,
    /// Affected, and the distro will not fix it.
    WontFix,
    /// Affected, deliberately ignored by the distro (Debian `ignored`).
    Ignored,
    /// Affected, fix postponed (Debian `postponed`).
    Postponed,
    /// Another status word, kept as written.
    Other(String),
}

impl fmt::Display for Advisory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if !self.summary.is_empty() {
            write!(f, ": {}", self.summary)?;
        }
        Ok(())
    }
}

impl Advisory {
    /// Folds `other` (the same id from another feed or file) into `self`: the newer
    /// `modified` wins the fields; its affected entries replace the older one's for the same
    /// ecosystem and package, and the older one's other entries are kept; provenances are
    /// united.
    pub fn merge(&mut self, other: Advisory) {
        let (mut newer, older) = if other.modified > self.modified {
            (other, std::mem::replace(self, placeholder()))
        } else {
            (std::mem::replace(self, placeholder()), other)
        };
        for a in older.affected {
            if !newer
                .affected
                .iter()
                .any(|n| n.ecosystem == a.ecosystem && n.name == a.name)
            {
                newer.affected.push(a);
            }
        }
        newer.provenance.extend(older.provenance);
        newer.provenance.sort();
        newer.provenance.dedup();
        *self = newer;
    }

    /// The newest of `modified` and `published`, for the database's build time. Dates before
    /// 1970 are placeholders, not dates (the Go vulnerability database's OSV files all say
    /// `"modified": "0001-01-01T00:00:00Z"`), and are left out.
    pub(crate) fn last_change(&self) -> Option<&Timestamp> {
        [self.modified.as_ref(), self.published.as_ref()]
            .into_iter()
            .flatten()
            .filter(|t| t.unix_seconds() >= 0)
            .max()
    }
}

fn placeholder() -> Advisory {
    Advisory {
        id: String::new(),
        aliases: Vec::new(),
        related: Vec::new(),
        summary: String::new(),
        details: None,
        published: None,
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        affected: Vec::new(),
        references: Vec::new(),
        provenance: Vec::new(),
    }
}

pub(crate) fn new_advisory(id: String) -> Advisory {
    Advisory {
        id,
        ..placeholder()
    }
}

// ---- OSV ---------------------------------------------------------------------------------

/// An OSV record as written (schema 1.x); unknown keys are ignored.
#[derive(Deserialize)]
pub(crate) struct RawOsvRecord {
    id: String,
    modified: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    related: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    affected: Option<Vec<RawAffected>>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    #[serde(flatten)]
    versions: AffectedVersions,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

impl TryFrom<RawOsvRecord> for Advisory {
    /// A message with the path inside the record: `affected[0].ranges[1]: …`.
    type Error = String;

    fn try_from(raw: RawOsvRecord) -> Result<Advisory, String> {
        if raw.id.trim().is_empty() {
            return Err("id is empty".into());
        }
        let ts = |field: &str, v: Option<String>| -> Result<Option<Timestamp>, String> {
            v.map(|t| Timestamp::parse(&t).map_err(|e| format!("{field}: {e}")))
                .transpose()
        };
        let modified = ts("modified", Some(raw.modified))?;
        let published = ts("published", raw.published)?;
        let withdrawn = ts("withdrawn", raw.withdrawn)?;
        let severity = |s: Option<Vec<RawSeverity>>| {
            s.unwrap_or_default().into_iter().map(|s| Severity {
                kind: s.kind.into(),
                score: s.score,
            })
        };
        let mut severities: Vec<Severity> = severity(raw.severity).collect();
        let mut affected = Vec::new();
        for (i, a) in raw.affected.unwrap_or_default().into_iter().enumerate() {
            // OSV allows a per-package severity when the record has none.
            for s in severity(a.severity) {
                if !severities.contains(&s) {
                    severities.push(s);
                }
            }
            let Some(package) = a.package else {
                // Entries without a package describe a commit range of a GIT repository only;
                // no installed package can match them, so they are not indexed.
                continue;
            };
            affected.push(
                Affected::new(package.ecosystem, package.name, a.versions, None)
                    .map_err(|e| format!("affected[{i}].{e}"))?,
            );
        }
        Ok(Advisory {
            id: raw.id,
            aliases: raw.aliases.unwrap_or_default(),
            related: raw.related.unwrap_or_default(),
            summary: raw.summary.unwrap_or_default(),
            details: raw.details.filter(|d| !d.is_empty()),
            published,
            modified,
            withdrawn,
            severity: severities,
            affected,
            references: raw.references.unwrap_or_default(),
            provenance: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_names() {
        assert_eq!(
            normalize_name("PyPI", "Django_Rest.Framework"),
            "django-rest-framework"
        );
        assert_eq!(normalize_name("PyPI", "a--_.b"), "a-b");
        assert_eq!(normalize_name("npm", "JSONStream"), "JSONStream");
        assert_eq!(
            normalize_name("Go", "github.com/BurntSushi/toml"),
            "github.com/BurntSushi/toml"
        );
        assert_eq!(
            normalize_name("NuGet", "Newtonsoft.Json"),
            "newtonsoft.json"
        );
    }

    fn record(json: &str) -> Result<Advisory, String> {
        let raw: RawOsvRecord = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Advisory::try_from(raw)
    }

    #[test]
    fn bad_range_version_is_kept_unevaluable_with_the_place() {
        let a = record(
            r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[
            {"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]},
            {"package":{"ecosystem":"PyPI","name":"b"},"ranges":[
              {"type":"ECOSYSTEM","events":[{"introduced":"0"}]},
              {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"not a version!"}]}]}]}"#,
        )
        .unwrap();
        assert!(a.affected[0].is_evaluable());
        assert!(a.affected[1].has_invalid_ranges());
        let e = a.affected[1].unevaluable.as_deref().unwrap();
        assert!(
            e.starts_with("ranges[1]: `fixed` event: invalid PEP 440 version \"not a version!\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_ecosystem_is_kept_unevaluable() {
        let a = record(
            r#"{"id":"X-2","modified":"2024-01-01T00:00:00Z","affected":[
            {"package":{"ecosystem":"Hackage","name":"aeson"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(a.affected.len(), 1);
        assert!(!a.affected[0].is_evaluable());
    }

    #[test]
    fn stored_form_round_trips_and_is_checked() {
        let a = record(
            r#"{"id":"X-3","modified":"2024-01-01T00:00:00Z","aliases":["CVE-1"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N"}],"affected":[
            {"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}"#,
        )
        .unwrap();
        let json = serde_json::to_string(&a).unwrap();
        let back: Advisory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.affected[0].normalized_name, "foo-bar");
        assert_eq!(back.severity[0].kind, SeverityKind::CvssV3);
        // A stored scheme that is not the ecosystem's is refused when read back.
        let other_scheme = json.replace("\"pep440\"", "\"go\"");
        assert_ne!(other_scheme, json);
        let e = serde_json::from_str::<Advisory>(&other_scheme).unwrap_err();
        assert!(e.to_string().contains("does not match ecosystem"), "{e}");
        // Ranges are not compiled again on read (the matcher compiles what it evaluates and
        // reports a range that does not compile as skipped, with the reason).
        let tampered: Advisory = serde_json::from_str(&json.replace("2.0", "@@")).unwrap();
        let entry = &tampered.affected[0];
        assert!(entry.versions.compile(entry.scheme.unwrap()).is_err());
    }

    #[test]
    fn merge_keeps_newer_and_both_provenances() {
        let mut a = new_advisory("X".into());
        a.modified = Some(Timestamp::parse("2024-01-01T00:00:00Z").unwrap());
        a.summary = "old".into();
        a.provenance.push(Provenance {
            feed: "f1".into(),
            record: "r1".into(),
        });
        let mut b = new_advisory("X".into());
        b.modified = Some(Timestamp::parse("2024-02-01T00:00:00Z").unwrap());
        b.summary = "new".into();
        b.provenance.push(Provenance {
            feed: "f2".into(),
            record: "r2".into(),
        });
        a.merge(b.clone());
        assert_eq!(a.summary, "new");
        assert_eq!(a.provenance.len(), 2);
        let mut c = b;
        c.summary = "newest?".into();
        c.modified = Some(Timestamp::parse("2023-01-01T00:00:00Z").unwrap());
        a.merge(c);
        assert_eq!(a.summary, "new");
        assert_eq!(a.provenance.len(), 2);
    }
}
