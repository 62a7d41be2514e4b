//! The scored finding: one shape from the matcher to every report, the cache and the policy
//! input. Severity, its source, the CVSS rating's source and the status are enums; they become
//! words only when a report is written.

use std::fmt;

use palisade_vulndb::FindingStatus;
use serde::{Deserialize, Serialize, Serializer};

/// How severe a finding is: the distro's own rating for OS packages, else the CVSS base score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// CVSS ≥ 9.0, or the distro says critical.
    Critical,
    /// CVSS ≥ 7.0.
    High,
    /// CVSS ≥ 4.0.
    Medium,
    /// CVSS > 0.
    Low,
    /// A distro's own word for "below low": Debian `unimportant`, Ubuntu `negligible`.
    Negligible,
    /// No score and no distro rating known.
    Unknown,
}

impl Severity {
    /// Every severity, most severe first (the order of report summaries).
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Negligible,
        Severity::Unknown,
    ];

    /// A distro's own word (Debian urgency, Ubuntu priority, Red Hat's scale as the RHEL
    /// rebuilds use it); `None` when the word rates
    /// nothing (`not yet assigned`, `end-of-life`, `untriaged`), so CVSS decides.
    #[must_use]
    pub fn from_vendor(rating: &str) -> Option<Severity> {
        match rating
            .trim_end_matches('*')
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "critical" => Some(Severity::Critical),
            // Red Hat's scale (and the RHEL rebuilds'): Important, Moderate.
            "high" | "important" => Some(Severity::High),
            "medium" | "moderate" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "unimportant" | "negligible" => Some(Severity::Negligible),
            _ => None,
        }
    }

    /// The severity of a CVSS base score: CRITICAL ≥ 9, HIGH ≥ 7, MEDIUM ≥ 4, LOW > 0, else
    /// UNKNOWN.
    #[must_use]
    pub fn from_score(score: Option<f64>) -> Severity {
        match score {
            Some(s) if s >= 9.0 => Severity::Critical,
            Some(s) if s >= 7.0 => Severity::High,
            Some(s) if s >= 4.0 => Severity::Medium,
            Some(s) if s > 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, `NEGLIGIBLE`, `UNKNOWN`: the word reports and the
    /// policy input use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Negligible => "NEGLIGIBLE",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding's severity comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum SeveritySource {
    /// The distro's own rating (`vendor` as the feed names it, `rating` as it words it).
    Vendor {
        /// `Debian security tracker`, `Ubuntu`.
        vendor: String,
        /// `high`, `unimportant`, …
        rating: String,
    },
    /// The advisory's own CVSS vector.
    AdvisoryCvss,
    /// NVD's CVSS for one of the finding's CVE ids.
    NvdCvss,
    /// Nothing rates it.
    None,
}

impl fmt::Display for SeveritySource {
    /// `Debian security tracker (high)`, `advisory CVSS`, `NVD CVSS`, `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeveritySource::Vendor { vendor, rating } => write!(f, "{vendor} ({rating})"),
            SeveritySource::AdvisoryCvss => f.write_str("advisory CVSS"),
            SeveritySource::NvdCvss => f.write_str("NVD CVSS"),
            SeveritySource::None => f.write_str("none"),
        }
    }
}

impl Serialize for SeveritySource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a CVSS rating comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum CvssSource {
    /// The advisory's own vector.
    Advisory,
    /// NVD's rating of this CVE.
    Nvd(String),
}

impl fmt::Display for CvssSource {
    /// `advisory` or `nvd:CVE-…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CvssSource::Advisory => f.write_str("advisory"),
            CvssSource::Nvd(cve) => write!(f, "nvd:{cve}"),
        }
    }
}

impl Serialize for CvssSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A CVSS rating chosen for a finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// The base score, 0 to 10.
    pub score: f64,
    /// The vector as written (`CVSS:3.1/AV:N/…`).
    pub vector: String,
    /// Where it comes from.
    pub source: CvssSource,
}

/// FIRST EPSS: the probability of exploitation in the next 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epss {
    /// Probability, 0 to 1.
    pub score: f64,
    /// Percentile among all scored CVEs, 0 to 1.
    pub percentile: f64,
}

/// The package a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    /// Name as installed.
    pub name: String,
    /// Version as installed.
    pub version: String,
    /// The package type (`deb`, `python`, `go-module`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its package URL.
    pub purl: String,
    /// The source package it was matched by, for OS packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    /// The layer that introduced it: its index in the image manifest's `layers`, from 0 (the
    /// base layer), as in every output (the SBOM's `layer.index` too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

/// Fixed, unfixed, or a distro's decision; serialised as its word (`fixed`, `wont-fix`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Status(pub FindingStatus);

impl Status {
    /// `fixed`, `unfixed`, `wont-fix`, `ignored`, `postponed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.0.as_str()
    }

    /// The status named by `word`, as [`Status::as_str`] writes it.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Status> {
        [
            FindingStatus::Fixed,
            FindingStatus::Unfixed,
            FindingStatus::WontFix,
            FindingStatus::Ignored,
            FindingStatus::Postponed,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
        .map(Status)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One vulnerability in one package, scored: the shape every report, the scan-result cache
/// and the gate read.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The advisory kept for this vulnerability.
    pub id: String,
    /// Every other id it goes by, sorted.
    pub aliases: Vec<String>,
    /// The package.
    pub package: Package,
    /// How severe.
    pub severity: Severity,
    /// Where `severity` comes from: the distro's rating first (OS packages), then the
    /// advisory's CVSS, then NVD's.
    pub severity_source: SeveritySource,
    /// The CVSS rating, when any.
    pub cvss: Option<Cvss>,
    /// FIRST EPSS, when imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss: Option<Epss>,
    /// Fixed, unfixed, or the distro's decision.
    pub status: Status,
    /// Versions that fix it; empty when no fix is known. A finding is "unfixed" exactly when
    /// this is empty, whatever the distro's status says (docs/policy.md).
    pub fixed_versions: Vec<String>,
    /// Listed in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: bool,
    /// One line saying why it matched.
    pub why: String,
    /// The VEX statement that applies to the finding, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vex: Option<crate::vex::VexAnnotation>,
    /// The first file that shows the package is there (a SARIF location); not in the JSON.
    #[serde(skip)]
    pub evidence: Option<String>,
}

impl Finding {
    /// No fixed version is known: the one meaning of "unfixed", in `scan --ignore-unfixed`
    /// and the policy's `ignore_unfixed` alike.
    #[must_use]
    pub fn is_unfixed(&self) -> bool {
        self.fixed_versions.is_empty()
    }

    /// What to do about it: `Upgrade NAME to FIXED` or `No fixed version yet`.
    #[must_use]
    pub fn fix_text(&self) -> String {
        if self.fixed_versions.is_empty() {
            "No fixed version yet".to_owned()
        } else {
            format!(
                "Upgrade {} to {}",
                self.package.name,
                self.fixed_versions.join(" or ")
            )
        }
    }

    /// The order of reports: package (name, version, type, purl), then advisory id.
    #[must_use]
    pub fn report_order(&self, other: &Finding) -> std::cmp::Ordering {
        let (a, b) = (&self.package, &other.package);
        (&a.name, &a.version, &a.kind, &a.purl, &self.id)
            .cmp(&(&b.name, &b.version, &b.kind, &b.purl, &other.id))
    }
}

/// A package entry the matcher could not evaluate (an unreadable version, an advisory range it
/// cannot compare, an SBOM component without a purl).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Package name.
    pub package: String,
    /// Package version.
    pub version: String,
    /// The advisory whose range could not be evaluated, when one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisory_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// What the database holds for one ecosystem or distro release of the scanned packages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// `Debian:12`, `PyPI`, `Alpine:v3.18`; the package type (`rpm`) for packages that
    /// cannot be matched at all.
    pub ecosystem: String,
    /// Packages looked up there.
    pub packages: usize,
    /// Whether the database has advisories for it.
    pub covered: bool,
    /// How many.
    pub advisories: u64,
    /// The newest `modified` of those advisories.
    pub newest: Option<String>,
    /// Why not covered.
    pub reason: Option<String>,
}

impl Coverage {
    /// `88 package(s) of Debian:12 not checked for vulnerabilities: …`, or `None` when
    /// covered.
    #[must_use]
    pub fn not_checked_line(&self) -> Option<String> {
        (!self.covered).then(|| {
            format!(
                "{} package(s) of {} not checked for vulnerabilities: {}",
                self.packages,
                self.ecosystem,
                self.reason
                    .as_deref()
                    .unwrap_or("no advisories in the database")
            )
        })
    }
}

/// A package that no advisory in the database could be about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotCovered {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Package type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Package URL.
    pub purl: String,
    /// [`Coverage::ecosystem`] of its entry.
    pub ecosystem: String,
}

/// The database a scan's findings came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DbSummary {
    /// Its schema version.
    pub schema_version: u32,
    /// The newest `modified` of its data (RFC 3339), when any.
    pub built: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 drift: Debian `unimportant` and Ubuntu `negligible` are NEGLIGIBLE (they were
    /// folded into LOW, so a policy's `severities: [NEGLIGIBLE]` never fired).
    #[test]
    fn a_distros_below_low_is_negligible_not_low() {
        assert_eq!(
            Severity::from_vendor("unimportant"),
            Some(Severity::Negligible)
        );
        assert_eq!(
            Severity::from_vendor("Negligible"),
            Some(Severity::Negligible)
        );
        assert_eq!(Severity::from_vendor("low*"), Some(Severity::Low));
        assert_eq!(Severity::from_vendor("not yet assigned"), None);
        assert_eq!(Severity::Negligible.as_str(), "NEGLIGIBLE");
    }

    #[test]
    fn scores_map_to_severities_at_the_cvss_bounds() {
        assert_eq!(Severity::from_score(Some(9.0)), Severity::Critical);
        assert_eq!(Severity::from_score(Some(8.9)), Severity::High);
        assert_eq!(Severity::from_score(Some(4.0)), Severity::Medium);
        assert_eq!(Severity::from_score(Some(0.1)), Severity::Low);
        assert_eq!(Severity::from_score(Some(0.0)), Severity::Unknown);
        assert_eq!(Severity::from_score(None), Severity::Unknown);
    }

    #[test]
    fn sources_render_as_the_reports_words() {
        let vendor = SeveritySource::Vendor {
            vendor: "Debian security tracker".into(),
            rating: "high".into(),
        };
        assert_eq!(vendor.to_string(), "Debian security tracker (high)");
        assert_eq!(
            serde_json::to_string(&SeveritySource::NvdCvss).unwrap(),
            "\"NVD CVSS\""
        );
        assert_eq!(
            serde_json::to_string(&CvssSource::Nvd("CVE-2024-1".into())).unwrap(),
            "\"nvd:CVE-2024-1\""
        );
        for s in [
            FindingStatus::Fixed,
            FindingStatus::Unfixed,
            FindingStatus::WontFix,
            FindingStatus::Ignored,
            FindingStatus::Postponed,
        ] {
            assert_eq!(Status::from_word(s.as_str()), Some(Status(s)));
        }
        assert_eq!(Status::from_word("maybe"), None);
    }
}
