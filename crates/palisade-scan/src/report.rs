//! The report model: the evaluated findings after the filters, the ignore file and VEX, with
//! everything a report says beside them (coverage, skipped entries, suppressions), and the
//! one test of whether the scan fails.

use std::collections::BTreeMap;

use palisade_catalog::Catalog;
use palisade_vulndb::Database;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::finding::{Coverage, DbSummary, Finding, NotCovered, Severity, Skipped};
use crate::ignore::{ExpiredIgnore, IgnoreList};
use crate::scanner::Evaluated;
use crate::vex::VexSet;

/// What to do with a doubtful result (unknown severity, a package with no coverage): the
/// same three words as the policy file's `unknown_severity` and `coverage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Action {
    /// Count it against the image.
    #[default]
    Deny,
    /// Report it, but let it pass.
    Warn,
    /// Leave it out.
    Ignore,
}

/// Which findings a report keeps.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Keep only these severities (empty: all).
    pub severities: Vec<Severity>,
    /// Keep only findings whose CVSS base score is at least this.
    pub min_cvss: Option<f64>,
    /// Drop findings with no fixed version ([`Finding::is_unfixed`]).
    pub ignore_unfixed: bool,
    /// Findings of UNKNOWN severity when `severities` or `min_cvss` filter: `Deny` keeps them
    /// (they may be critical); `Warn` and `Ignore` drop them and count them.
    pub unknown_severity: Action,
}

impl Filters {
    /// Checks the values a user typed.
    pub fn validate(&self) -> Result<()> {
        if let Some(n) = self.min_cvss
            && !(0.0..=10.0).contains(&n)
        {
            return Err(Error::Invalid(format!(
                "--min-cvss {n}: expected a score from 0 to 10"
            )));
        }
        Ok(())
    }

    fn keep(&self, f: &Finding) -> Keep {
        if self.ignore_unfixed && f.is_unfixed() {
            return Keep::No;
        }
        let filtered = !self.severities.is_empty() || self.min_cvss.is_some();
        if filtered
            && f.severity == Severity::Unknown
            && !self.severities.contains(&Severity::Unknown)
        {
            return match self.unknown_severity {
                Action::Deny => Keep::Yes,
                Action::Warn | Action::Ignore => Keep::UnknownSeverity,
            };
        }
        if !self.severities.is_empty() && !self.severities.contains(&f.severity) {
            return Keep::No;
        }
        if let Some(min) = self.min_cvss
            && f.cvss.as_ref().is_none_or(|c| c.score < min)
        {
            return Keep::No;
        }
        Keep::Yes
    }
}

enum Keep {
    Yes,
    No,
    /// Dropped by a severity or CVSS filter although its severity is unknown.
    UnknownSeverity,
}

/// A finding suppressed by the ignore file or a VEX `not_affected` statement.
#[derive(Clone, Debug, Serialize)]
pub struct Suppressed {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// Why (the ignore entry's reason, or the VEX statement's justification and file).
    pub reason: String,
    /// The ignore entry's last day, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A scan's report: the JSON document `palisade scan --format json` writes, and what every
/// other format is rendered from.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The source as named by the catalog.
    pub source: String,
    /// The operating system, when known.
    pub distro: Option<String>,
    /// The database the findings came from.
    pub db: DbSummary,
    /// What the database holds for each ecosystem of the scanned packages.
    pub coverage: Vec<Coverage>,
    /// The findings left after the filters and suppressions, in report order.
    pub findings: Vec<Finding>,
    /// Findings per severity word, every severity present.
    pub counts: BTreeMap<&'static str, usize>,
    /// Package entries that could not be evaluated.
    pub skipped: Vec<Skipped>,
    /// Packages no advisory in the database could be about: "no finding" says nothing of
    /// them.
    pub not_covered: Vec<NotCovered>,
    /// Findings of UNKNOWN severity dropped by the severity filters with
    /// [`Filters::unknown_severity`] warn or ignore (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown_severity_dropped: usize,
    /// Findings suppressed by the ignore file or VEX (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<Suppressed>,
    /// Ignore-file entries past their `expires` date (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_expired: Vec<ExpiredIgnore>,
    /// One upgrade per package with findings: the version that fixes all of them, most
    /// severe package first.
    pub upgrades: Vec<PackageUpgrade>,
}

/// What to upgrade one package to ([`crate::upgrade`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageUpgrade {
    /// The package's name.
    pub name: String,
    /// Its installed version.
    pub version: String,
    /// Its type (`deb`, `python`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its package URL.
    pub purl: String,
    /// The smallest version that fixes every finding of the package that has a fix; absent
    /// when none has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_to: Option<String>,
    /// The package's findings.
    pub findings: usize,
    /// Of those, the ones no version fixes yet.
    pub unfixed: usize,
    /// `upgrade_to` is a pre-release: no release fixes some finding.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prerelease: bool,
}

impl PackageUpgrade {
    /// `Upgrade to 5.4 (fixes all 2)`, `Upgrade to 2.0 (fixes 3 of 4; 1 has no fix yet)` or
    /// `No fixed version yet`.
    #[must_use]
    pub fn text(&self) -> String {
        match &self.upgrade_to {
            None => "No fixed version yet".to_owned(),
            Some(v) => {
                let pre = if self.prerelease {
                    ", a pre-release: no release fixes it"
                } else {
                    ""
                };
                if self.unfixed == 0 {
                    format!("Upgrade to {v} (fixes all {}{pre})", self.findings)
                } else {
                    format!(
                        "Upgrade to {v} (fixes {} of {}; {} without a fix yet{pre})",
                        self.findings - self.unfixed,
                        self.findings,
                        self.unfixed
                    )
                }
            }
        }
    }
}

/// The most severe first: severity, then CVSS (higher first), then id.
#[must_use]
pub fn severity_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    let cvss = |f: &Finding| f.cvss.as_ref().map_or(-1.0, |c| c.score);
    a.severity
        .cmp(&b.severity)
        .then(cvss(b).total_cmp(&cvss(a)))
        .then(a.id.cmp(&b.id))
}

/// One upgrade per package of `findings`, most severe package first.
#[must_use]
pub fn package_upgrades(findings: &[Finding]) -> Vec<PackageUpgrade> {
    let mut by: BTreeMap<(&str, &str, &str, &str), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        let p = &f.package;
        by.entry((&p.name, &p.version, &p.kind, &p.purl))
            .or_default()
            .push(f);
    }
    let mut out: Vec<(Finding, PackageUpgrade)> = by
        .into_iter()
        .map(|((name, version, kind, purl), mut fs)| {
            fs.sort_by(|a, b| severity_order(a, b));
            let u = crate::upgrade(kind, version, fs.iter().map(|f| &f.fixed_versions));
            (
                fs[0].clone(),
                PackageUpgrade {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    kind: kind.to_owned(),
                    purl: purl.to_owned(),
                    upgrade_to: u.version,
                    findings: fs.len(),
                    unfixed: u.unfixed,
                    prerelease: u.prerelease,
                },
            )
        })
        .collect();
    out.sort_by(|(a, pa), (b, pb)| severity_order(a, b).then(pa.name.cmp(&pb.name)));
    out.into_iter().map(|(_, u)| u).collect()
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    /// Applies `filters`, the ignore list and the VEX statements to an evaluation of
    /// `catalog`.
    #[must_use]
    pub fn new(
        catalog: &Catalog,
        evaluated: Evaluated,
        filters: &Filters,
        ignores: IgnoreList,
        vex: &VexSet,
    ) -> Report {
        let evidence: BTreeMap<&str, &str> = catalog
            .packages
            .iter()
            .rev()
            .filter_map(|p| Some((p.purl.as_str(), p.locations.first()?.path.as_str())))
            .collect();
        let mut findings = Vec::new();
        let mut ignored = Vec::new();
        let mut unknown_dropped = 0usize;
        for mut f in evaluated.findings {
            match filters.keep(&f) {
                Keep::Yes => {}
                Keep::No => continue,
                Keep::UnknownSeverity => {
                    unknown_dropped += 1;
                    continue;
                }
            }
            f.evidence = evidence
                .get(f.package.purl.as_str())
                .map(|s| (*s).to_owned());
            if let Some(e) = ignores.matching(&f.id, &f.aliases, &f.package.name) {
                ignored.push(Suppressed {
                    reason: e.reason.clone(),
                    expires: e.expires.clone(),
                    finding: f,
                });
                continue;
            }
            let statement = vex.matching(&f.id, &f.aliases, &f.package.purl);
            f.vex = statement.map(crate::vex::Statement::annotation);
            match statement {
                Some(s) if s.suppresses() => ignored.push(Suppressed {
                    reason: s.reason(),
                    expires: None,
                    finding: f,
                }),
                _ => findings.push(f),
            }
        }
        findings.sort_by(Finding::report_order);
        ignored.sort_by(|a, b| a.finding.report_order(&b.finding));
        let mut counts: BTreeMap<&'static str, usize> =
            Severity::ALL.iter().map(|l| (l.as_str(), 0)).collect();
        for f in &findings {
            *counts.entry(f.severity.as_str()).or_default() += 1;
        }
        Report {
            source: catalog.source.name.clone(),
            distro: crate::source::distro_name(catalog),
            db: evaluated.db,
            coverage: evaluated.coverage,
            counts,
            skipped: evaluated.skipped,
            not_covered: evaluated.not_covered,
            unknown_severity_dropped: unknown_dropped,
            upgrades: package_upgrades(&findings),
            findings,
            ignored,
            ignore_expired: ignores.expired,
        }
    }

    /// Whether the scan fails: a finding is left, or (with `coverage` deny) a package was not
    /// covered.
    #[must_use]
    pub fn fails(&self, coverage: Action) -> bool {
        !self.findings.is_empty() || (coverage == Action::Deny && !self.not_covered.is_empty())
    }

    /// One line per ecosystem the database does not cover.
    #[must_use]
    pub fn not_checked_lines(&self) -> Vec<String> {
        self.coverage
            .iter()
            .filter_map(Coverage::not_checked_line)
            .collect()
    }
}

/// Why the database built at `built` is too old for `max_age_days` at `now`, or `None` when
/// it is fresh enough.
#[must_use]
pub fn staleness(
    built: Option<&str>,
    max_age_days: u64,
    now: &palisade_image::Timestamp,
) -> Option<String> {
    let Some(built) = built else {
        return Some(
            "the vulnerability database's age is unknown (it has no dated advisories): \
             update it with `palisade db update`"
                .to_owned(),
        );
    };
    let Ok(t) = palisade_image::Timestamp::parse(built) else {
        return Some(format!(
            "the vulnerability database's build time {built:?} cannot be read"
        ));
    };
    let age = now.whole_days_since(&t).max(0);
    (u64::try_from(age).unwrap_or(0) > max_age_days).then(|| {
        format!(
            "the vulnerability database is {age} days old (newest data {built}), older than \
             {max_age_days} days: update it with `palisade db update`"
        )
    })
}

/// An advisory's texts, for SARIF rules and CycloneDX descriptions.
#[derive(Clone, Debug, Default)]
pub struct AdvisoryText {
    /// One line.
    pub summary: String,
    /// The long description, when any.
    pub details: Option<String>,
}

/// The summary and details of each advisory among `findings`.
pub fn advisory_texts<'f>(
    db: &Database,
    findings: impl IntoIterator<Item = &'f Finding>,
) -> Result<BTreeMap<String, AdvisoryText>> {
    let mut texts = BTreeMap::new();
    for f in findings {
        if texts.contains_key(&f.id) {
            continue;
        }
        let a = db.advisory(&f.id).map_err(|source| Error::DbRead {
            what: format!("reading advisory {}", f.id),
            source: Box::new(source),
        })?;
        texts.insert(
            f.id.clone(),
            a.map(|a| AdvisoryText {
                summary: a.summary,
                details: a.details,
            })
            .unwrap_or_default(),
        );
    }
    Ok(texts)
}
