//! Matching installed packages against advisories: which ecosystem and name each package is
//! looked up by, how its version is evaluated, and one finding per vulnerability per package.
//!
//! - Language packages are looked up by OSV ecosystem and name (PEP 503 for PyPI) and their
//!   installed version is evaluated against the advisory's ranges and `versions` list.
//! - Distro packages are looked up by *source* package (Debian source, Alpine origin) and
//!   release; the installed binary version is compared, in the distro's scheme, with the
//!   tracker's fixed version, so a backported fix is never flagged. The tracker's status says
//!   whether there is a fix at all.
//! - Findings from several feeds about the same vulnerability (same id, or a shared alias) are
//!   folded into one, keeping the record that has a fix.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;

use palisade_catalog::{Distro, Ecosystem, LayerRef, Package};
use palisade_version::osv::{Bound, CompiledAffected, Installed, Match, RangeKind};

use crate::{
    Advisory, Affected, Database, DistroFacts, DistroStatus, Error, MatchCandidate, Severity,
};
use crate::{SeverityKind, normalize_name};

/// Matches packages against a [`Database`] or against advisories held in memory.
#[derive(Debug)]
pub struct Matcher<'a> {
    source: Source<'a>,
}

#[derive(Debug)]
enum Source<'a> {
    Database(&'a Database),
    /// `(ecosystem, normalised name)` → the advisories with an entry for it, sorted by id.
    Memory(HashMap<(String, String), Rc<[MatchCandidate]>>),
}

/// What a match run found, and what it could not evaluate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchReport {
    /// One finding per vulnerability per package, sorted by package then advisory id.
    pub findings: Vec<Finding>,
    /// Packages or advisory entries that could not be evaluated, with the reason; they
    /// produced no finding. Sorted like the findings.
    pub skipped: Vec<Skip>,
}

/// One vulnerability affecting one installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The id of the advisory kept for this vulnerability (`GHSA-…`, `PYSEC-…`, `CVE-…`).
    pub advisory_id: String,
    /// Every other id the vulnerability goes by: the kept advisory's aliases and the ids and
    /// aliases of the records folded into it. Sorted.
    pub aliases: Vec<String>,
    /// The package.
    pub package: FindingPackage,
    /// Versions that fix it; empty when there is no fix.
    pub fixed_versions: Vec<String>,
    /// Fixed, unfixed, or a distro's decision not to fix (yet).
    pub status: FindingStatus,
    /// One line saying why it matched: the range or the tracker's verdict.
    pub why: String,
    /// The advisory's own rating (CVSS v3 preferred, then v4, v2, others), for enrichment to
    /// refine (vendor severity, NVD, scores). `None` when the advisory gives none.
    pub severity: Option<Severity>,
    /// The distro's own rating of the vulnerability for this release, as the vendor words it
    /// (Debian's urgency `low`/`medium`/`high`/`unimportant`, Ubuntu's priority), for OS
    /// packages; it comes before any CVSS score when a severity is shown.
    pub vendor_severity: Option<VendorSeverity>,
}

/// A distro's own severity word and who gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorSeverity {
    /// `Debian security tracker`, `Ubuntu`.
    pub vendor: String,
    /// The word as written: `high`, `unimportant`, `not yet assigned`, …
    pub rating: String,
}

/// The package a finding or skip is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindingPackage {
    /// The packaging system.
    pub ecosystem: Ecosystem,
    /// Name as installed.
    pub name: String,
    /// Version as installed.
    pub version: String,
    /// Package URL.
    pub purl: String,
    /// The source package it was matched by, for OS packages.
    pub source: Option<String>,
    /// The layer that introduced it.
    pub layer: Option<LayerRef>,
}

/// Whether a fix exists, or what the distro decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingStatus {
    /// A fixed version exists ([`Finding::fixed_versions`]).
    Fixed,
    /// No fix yet.
    Unfixed,
    /// The distro will not fix it.
    WontFix,
    /// The distro ignores it (Debian `ignored`).
    Ignored,
    /// The distro postponed the fix (Debian `postponed`).
    Postponed,
}

impl FindingStatus {
    /// `fixed`, `unfixed`, `wont-fix`, `ignored`, `postponed`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Fixed => "fixed",
            FindingStatus::Unfixed => "unfixed",
            FindingStatus::WontFix => "wont-fix",
            FindingStatus::Ignored => "ignored",
            FindingStatus::Postponed => "postponed",
        }
    }
}

impl fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A package, or one advisory entry for it, that was not evaluated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skip {
    /// The package.
    pub package: FindingPackage,
    /// The advisory whose entry could not be evaluated; `None` when the whole package was
    /// not matched (e.g. RPM, or a Debian package with no known release).
    pub advisory_id: Option<String>,
    /// Why, in one line.
    pub reason: String,
}

impl<'a> Matcher<'a> {
    /// A matcher reading advisories from `db` as packages are looked up.
    pub fn new(db: &'a Database) -> Matcher<'a> {
        Matcher {
            source: Source::Database(db),
        }
    }

    /// A matcher over advisories in memory (tests, or a small feed read directly).
    pub fn from_advisories(advisories: &[Advisory]) -> Matcher<'a> {
        let mut index: HashMap<(String, String), Vec<MatchCandidate>> = HashMap::new();
        for a in advisories {
            for (key, candidate) in MatchCandidate::of(a) {
                index.entry(key).or_default().push(candidate);
            }
        }
        let index = index
            .into_iter()
            .map(|(key, mut list)| {
                list.sort_by(|a, b| a.id.cmp(&b.id));
                (key, Rc::from(list))
            })
            .collect();
        Matcher {
            source: Source::Memory(index),
        }
    }

    fn lookup(&self, ecosystem: &str, name: &str) -> Result<Prepared, Error> {
        let candidates: Rc<[MatchCandidate]> = match &self.source {
            Source::Database(db) => Rc::from(db.match_candidates(ecosystem, name)?),
            Source::Memory(index) => index
                .get(&(ecosystem.to_owned(), normalize_name(ecosystem, name)))
                .cloned()
                .unwrap_or_else(|| Rc::from(Vec::new())),
        };
        let compiled = candidates
            .iter()
            .map(|c| c.affected.iter().map(|_| OnceCell::new()).collect())
            .collect();
        Ok(Prepared {
            candidates,
            compiled,
        })
    }

    /// Matches `packages`; `distro` is the image's operating system, needed for OS packages
    /// (without it they are skipped with a reason). The only errors are database reads.
    pub fn match_packages(
        &self,
        packages: &[Package],
        distro: Option<&Distro>,
    ) -> Result<MatchReport, Error> {
        let mut report = MatchReport::default();
        // One database lookup (and one decoding of its advisories) per (ecosystem, name) per
        // call, however many packages share it (several images' layers, or versions).
        let mut looked_up: HashMap<(String, String), Rc<Prepared>> = HashMap::new();
        for pkg in packages {
            let fp = finding_package(pkg);
            let target = match Target::of(pkg, distro) {
                Ok(t) => t,
                Err(reason) => {
                    report.skipped.push(Skip {
                        package: fp,
                        advisory_id: None,
                        reason,
                    });
                    continue;
                }
            };
            let mut lists = Vec::with_capacity(target.ecosystems.len());
            for eco in &target.ecosystems {
                let key = (eco.clone(), normalize_name(eco, &target.name));
                let found = match looked_up.get(&key) {
                    Some(found) => Rc::clone(found),
                    None => {
                        let found = Rc::new(self.lookup(eco, &target.name)?);
                        looked_up.insert(key, Rc::clone(&found));
                        found
                    }
                };
                lists.push(found);
            }
            // An advisory can have entries under several of the target's ecosystems
            // (`Debian:bookworm` and `Debian:12`): evaluate them together.
            let mut advisories: BTreeMap<&str, Vec<Part<'_>>> = BTreeMap::new();
            for prepared in &lists {
                for (candidate, compiled) in prepared.candidates.iter().zip(&prepared.compiled) {
                    advisories
                        .entry(candidate.id.as_str())
                        .or_default()
                        .push((candidate, compiled.as_slice()));
                }
            }
            let mut installed = Installed::new(&pkg.version);
            let mut raw = Vec::new();
            for (id, parts) in &advisories {
                if parts.iter().any(|(c, _)| c.withdrawn) {
                    continue;
                }
                match evaluate(parts, &target, pkg, &mut installed) {
                    Outcome::Affected(hit) => raw.push(hit),
                    Outcome::NotAffected => {}
                    Outcome::Skipped(reason) => report.skipped.push(Skip {
                        package: fp.clone(),
                        advisory_id: Some((*id).to_owned()),
                        reason,
                    }),
                }
            }
            for hit in dedup(raw) {
                report.findings.push(Finding {
                    advisory_id: hit.id,
                    aliases: hit.aliases,
                    package: fp.clone(),
                    fixed_versions: hit.fixed,
                    status: hit.status,
                    why: hit.why,
                    severity: hit.severity,
                    vendor_severity: hit.vendor_severity,
                });
            }
        }
        report
            .findings
            .sort_by(|a, b| (&a.package, &a.advisory_id).cmp(&(&b.package, &b.advisory_id)));
        report.skipped.sort();
        Ok(report)
    }
}

fn finding_package(pkg: &Package) -> FindingPackage {
    FindingPackage {
        ecosystem: pkg.ecosystem,
        name: pkg.name.clone(),
        version: pkg.version.clone(),
        purl: pkg.purl.clone(),
        source: pkg
            .ecosystem
            .is_os()
            .then(|| pkg.source.as_ref().map(|s| s.name.clone()))
            .flatten(),
        layer: pkg.layer.clone(),
    }
}

/// Where a package is looked up.
struct Target {
    /// OSV ecosystem strings, in order of preference (`Debian:bookworm`, `Debian:12`).
    ecosystems: Vec<String>,
    /// The name looked up: the package name, or the source package for OS packages.
    name: String,
    /// OS packages: matched by source package through a distro tracker.
    distro: bool,
}

impl Target {
    fn of(pkg: &Package, distro: Option<&Distro>) -> Result<Target, String> {
        let language = |eco: &str| Target {
            ecosystems: vec![eco.to_owned()],
            name: pkg.name.clone(),
            distro: false,
        };
        let source_name = || {
            pkg.source
                .as_ref()
                .map_or_else(|| pkg.name.clone(), |s| s.name.clone())
        };
        Ok(match pkg.ecosystem {
            Ecosystem::Python => language("PyPI"),
            Ecosystem::Npm => language("npm"),
            // `stdlib` (version `go1.19.8`) is OSV's own package name for the standard
            // library; the Go scheme reads `go` release tags.
            Ecosystem::GoModule => language("Go"),
            Ecosystem::RustCrate => language("crates.io"),
            Ecosystem::JavaArchive => language("Maven"),
            // TODO: RPM distros (RHEL, Rocky, Alma, SUSE) need their own feeds imported first.
            Ecosystem::Rpm => {
                return Err(
                    "RPM packages are not matched yet: no RPM advisory feed is supported".into(),
                );
            }
            Ecosystem::Deb => {
                let d = distro.ok_or(
                    "deb package not matched: the image's distro release is unknown (no os-release)",
                )?;
                if d.id == "ubuntu" {
                    // OSV's Ubuntu records: `Ubuntu:22.04:LTS`, `Ubuntu:24.10`, and the Pro
                    // (ESM) streams `Ubuntu:Pro:18.04:LTS`, keyed by source package.
                    let Some(v) = d.version_id.as_deref().filter(|v| !v.is_empty()) else {
                        return Err(
                            "deb package not matched: the Ubuntu release has no VERSION_ID".into(),
                        );
                    };
                    return Ok(Target {
                        ecosystems: vec![
                            format!("Ubuntu:{v}"),
                            format!("Ubuntu:{v}:LTS"),
                            format!("Ubuntu:Pro:{v}:LTS"),
                        ],
                        name: source_name(),
                        distro: true,
                    });
                }
                if d.id != "debian" {
                    return Err(format!(
                        "deb package not matched: no advisory feed for distro {:?} (Debian and Ubuntu only)",
                        d.id
                    ));
                }
                let mut ecosystems = Vec::new();
                if let Some(c) = d.codename.as_deref().filter(|c| !c.is_empty()) {
                    ecosystems.push(format!("Debian:{c}"));
                }
                if let Some(major) = d
                    .version_id
                    .as_deref()
                    .and_then(|v| v.split('.').next())
                    .filter(|m| !m.is_empty())
                {
                    ecosystems.push(format!("Debian:{major}"));
                }
                if ecosystems.is_empty() {
                    return Err(
                        "deb package not matched: the Debian release has no codename or VERSION_ID"
                            .into(),
                    );
                }
                Target {
                    ecosystems,
                    name: source_name(),
                    distro: true,
                }
            }
            Ecosystem::Apk => {
                let d = distro.ok_or(
                    "apk package not matched: the image's distro release is unknown (no os-release)",
                )?;
                if d.id != "alpine" {
                    return Err(format!(
                        "apk package not matched: no advisory feed for distro {:?} (only Alpine)",
                        d.id
                    ));
                }
                let branch = d.version_id.as_deref().and_then(|v| {
                    let mut parts = v.split('.');
                    let major = parts
                        .next()
                        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))?;
                    let minor: String = parts
                        .next()?
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    (!major.is_empty() && !minor.is_empty()).then(|| format!("v{major}.{minor}"))
                });
                let Some(branch) = branch else {
                    return Err(format!(
                        "apk package not matched: cannot tell the Alpine branch from VERSION_ID {:?}",
                        d.version_id
                    ));
                };
                Target {
                    ecosystems: vec![format!("Alpine:{branch}")],
                    name: source_name(),
                    distro: true,
                }
            }
        })
    }
}

/// One advisory's verdict for one package, before deduplication.
struct Hit {
    id: String,
    aliases: Vec<String>,
    fixed: Vec<String>,
    status: FindingStatus,
    why: String,
    severity: Option<Severity>,
    vendor_severity: Option<VendorSeverity>,
}

enum Outcome {
    Affected(Hit),
    NotAffected,
    Skipped(String),
}

/// One lookup's advisories, each entry compiled on first use (once per `match_packages`
/// call, however many installed packages share the name).
struct Prepared {
    candidates: Rc<[MatchCandidate]>,
    /// `compiled[i][j]`: candidate `i`'s entry `j`.
    compiled: Vec<Vec<Compiled>>,
}

type Compiled = OnceCell<Result<CompiledAffected, String>>;

/// One advisory's candidate from one of the target's ecosystems, with its compiled entries.
type Part<'p> = (&'p MatchCandidate, &'p [Compiled]);

fn evaluate(
    parts: &[Part<'_>],
    target: &Target,
    pkg: &Package,
    installed: &mut Installed<'_>,
) -> Outcome {
    let Some((advisory, _)) = parts.first() else {
        return Outcome::NotAffected;
    };
    // (status, fixed versions, why) of each entry the version is affected by.
    let mut verdicts: Vec<VerdictFacts> = Vec::new();
    let mut skipped: Option<String> = None;
    for (candidate, compiled) in parts {
        for (entry, cell) in candidate.affected.iter().zip(compiled.iter()) {
            let verdict = if target.distro {
                distro_verdict(&candidate.id, entry, cell, pkg, target, installed)
            } else {
                language_verdict(&candidate.id, entry, cell, pkg, installed)
            };
            match verdict {
                Ok(Some(v)) => verdicts.push(v),
                Ok(None) => {}
                Err(reason) => {
                    skipped.get_or_insert(reason);
                }
            }
        }
    }
    // Prefer a verdict with a fix, then the status order (fixed, unfixed, wont-fix, …).
    verdicts.sort_by_key(|(status, fixed, _, _)| (fixed.is_empty(), *status));
    let mut verdicts = verdicts.into_iter();
    let Some((status, mut fixed, why, mut vendor_severity)) = verdicts.next() else {
        return skipped.map_or(Outcome::NotAffected, Outcome::Skipped);
    };
    for (_, more, _, vendor) in verdicts {
        if vendor_severity.is_none() {
            vendor_severity = vendor;
        }
        for f in more {
            if !fixed.contains(&f) {
                fixed.push(f);
            }
        }
    }
    Outcome::Affected(Hit {
        id: advisory.id.clone(),
        aliases: advisory.aliases.clone(),
        fixed,
        status,
        why,
        severity: preferred_severity(&advisory.severity),
        vendor_severity: vendor_severity.or_else(|| {
            // OSV's Ubuntu records rate with Ubuntu's priority word.
            target
                .distro
                .then(|| {
                    advisory
                        .severity
                        .iter()
                        .find(|s| s.kind == SeverityKind::Ubuntu)
                })
                .flatten()
                .map(|s| VendorSeverity {
                    vendor: "Ubuntu".into(),
                    rating: s.score.clone(),
                })
        }),
    })
}

/// An entry's verdict: status, fixed versions, the "why" line, the vendor's rating.
type VerdictFacts = (FindingStatus, Vec<String>, String, Option<VendorSeverity>);

type Verdict = Result<Option<VerdictFacts>, String>;

/// The entry's matches for the installed version (empty when not affected); the entry is
/// compiled into `cell` on first use.
fn evaluate_entry(
    entry: &Affected,
    cell: &Compiled,
    installed: &mut Installed<'_>,
) -> Result<Vec<Match>, String> {
    let Some(scheme) = entry.scheme else {
        return Err(format!(
            "{} {}: entry not evaluable: {}",
            entry.ecosystem,
            entry.name,
            entry.unevaluable.as_deref().unwrap_or("no version scheme")
        ));
    };
    let v = &entry.versions;
    let evaluable_ranges = v
        .ranges
        .iter()
        .any(|r| matches!(r.kind, RangeKind::Ecosystem | RangeKind::Semver));
    if !evaluable_ranges && v.versions.is_empty() && !v.ranges.is_empty() {
        return Err(format!(
            "{} {}: only GIT or unknown ranges, which need a repository to evaluate",
            entry.ecosystem, entry.name
        ));
    }
    let compiled = cell.get_or_init(|| {
        v.compile(scheme).map_err(|e| {
            format!(
                "{} {}: ranges do not compile: {e}",
                entry.ecosystem, entry.name
            )
        })
    });
    let compiled = compiled.as_ref().map_err(Clone::clone)?;
    let eval = compiled.evaluate_installed(installed).map_err(|e| {
        format!(
            "{} {}: installed version {:?} is not a {scheme} version: {e}",
            entry.ecosystem,
            entry.name,
            installed.text()
        )
    })?;
    Ok(eval.matches)
}

fn fixes(matches: &[Match]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in matches {
        if let Some(Bound::Fixed(f)) = &m.fixed_or_last_affected
            && !out.contains(f)
        {
            out.push(f.clone());
        }
    }
    out
}

fn language_verdict(
    id: &str,
    entry: &Affected,
    cell: &Compiled,
    pkg: &Package,
    installed: &mut Installed<'_>,
) -> Verdict {
    let matches = evaluate_entry(entry, cell, installed)?;
    let Some(first) = matches.first() else {
        return Ok(None);
    };
    let fixed = fixes(&matches);
    // The line names the range with a fix when there is one.
    let shown = matches
        .iter()
        .find(|m| matches!(m.fixed_or_last_affected, Some(Bound::Fixed(_))))
        .unwrap_or(first);
    let status = if fixed.is_empty() {
        FindingStatus::Unfixed
    } else {
        FindingStatus::Fixed
    };
    let why = format!(
        "{} {} {}: {shown} ({id})",
        entry.ecosystem, pkg.name, pkg.version
    );
    Ok(Some((status, fixed, why, None)))
}

fn distro_verdict(
    id: &str,
    entry: &Affected,
    cell: &Compiled,
    pkg: &Package,
    target: &Target,
    installed: &mut Installed<'_>,
) -> Verdict {
    let default_facts;
    let facts = match &entry.distro {
        Some(f) => f,
        None => {
            // An OSV distro record (e.g. `Debian:12` DSA/DLA) without tracker facts: its
            // ranges carry the fix.
            default_facts = DistroFacts {
                release: None,
                repository: None,
                source_package: true,
                status: DistroStatus::Fixed,
                urgency: None,
                nodsa: None,
                note: None,
            };
            &default_facts
        }
    };
    let (base, release) = entry
        .ecosystem
        .split_once(':')
        .unwrap_or((entry.ecosystem.as_str(), ""));
    let feed = if base == "Alpine" { "secdb" } else { "tracker" };
    let who = if target.name == pkg.name {
        format!("source {}", target.name)
    } else {
        format!("source {} (binary {})", target.name, pkg.name)
    };
    let head = format!("{base} {release} {feed}: {who} {}", pkg.version);
    let status = match &facts.status {
        DistroStatus::NotAffected => return Ok(None),
        DistroStatus::Fixed => FindingStatus::Fixed,
        DistroStatus::Unfixed => FindingStatus::Unfixed,
        DistroStatus::WontFix => FindingStatus::WontFix,
        DistroStatus::Ignored => FindingStatus::Ignored,
        DistroStatus::Postponed => FindingStatus::Postponed,
        DistroStatus::Other(word) => {
            return Err(format!(
                "{} {}: tracker status {word:?} is not understood",
                entry.ecosystem, entry.name
            ));
        }
    };
    let no_versions = entry.versions.ranges.is_empty() && entry.versions.versions.is_empty();
    let matches = if status != FindingStatus::Fixed && no_versions {
        // The tracker says the release's package is affected, whatever its version.
        Vec::new()
    } else {
        let m = evaluate_entry(entry, cell, installed)?;
        if m.is_empty() {
            return Ok(None);
        }
        m
    };
    let fixed = fixes(&matches);
    let why = match status {
        FindingStatus::Fixed if !fixed.is_empty() => {
            format!("{head} < fixed {} ({id})", fixed.join(", "))
        }
        FindingStatus::Fixed => match matches.first() {
            Some(m) => format!("{head}: {m} ({id})"),
            None => format!("{head}: affected ({id})"),
        },
        FindingStatus::Unfixed => format!("{head}: unfixed, no fixed version yet ({id})"),
        other => {
            let word = match other {
                FindingStatus::WontFix => "will not fix",
                FindingStatus::Ignored => "ignored",
                _ => "postponed",
            };
            match facts.nodsa.as_deref().filter(|n| !n.is_empty()) {
                Some(reason) => format!("{head}: {word} ({reason}) ({id})"),
                None => format!("{head}: {word} ({id})"),
            }
        }
    };
    let status = if status == FindingStatus::Fixed && fixed.is_empty() {
        FindingStatus::Unfixed
    } else {
        status
    };
    let vendor = facts
        .urgency
        .as_deref()
        .filter(|u| !u.is_empty() && base == "Debian")
        .map(|u| VendorSeverity {
            vendor: "Debian security tracker".into(),
            rating: u.to_owned(),
        });
    Ok(Some((status, fixed, why, vendor)))
}

fn preferred_severity(all: &[Severity]) -> Option<Severity> {
    let rank = |k: &SeverityKind| match k {
        SeverityKind::CvssV3 => 0,
        SeverityKind::CvssV4 => 1,
        SeverityKind::CvssV2 => 2,
        SeverityKind::Ubuntu => 3,
        SeverityKind::Other(_) => 4,
    };
    all.iter().min_by_key(|s| rank(&s.kind)).cloned()
}

/// Folds hits about the same vulnerability (same id or a shared alias, transitively) into
/// one: the kept record is the one with a fix, then the better status, then the smallest id.
fn dedup(hits: Vec<Hit>) -> Vec<Hit> {
    let n = hits.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, h) in hits.iter().enumerate() {
        for key in std::iter::once(&h.id).chain(&h.aliases) {
            match owner.get(key.as_str()) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
                None => {
                    owner.insert(key, i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut slots: Vec<Option<Hit>> = hits.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for members in groups.into_values() {
        let mut group: Vec<Hit> = members.iter().filter_map(|&i| slots[i].take()).collect();
        group.sort_by(|a, b| {
            (a.fixed.is_empty(), a.status, &a.id).cmp(&(b.fixed.is_empty(), b.status, &b.id))
        });
        let mut group = group.into_iter();
        let Some(mut kept) = group.next() else {
            continue;
        };
        let mut names: BTreeSet<String> = kept.aliases.drain(..).collect();
        for other in group {
            names.insert(other.id);
            names.extend(other.aliases);
        }
        names.remove(&kept.id);
        kept.aliases = names.into_iter().collect();
        out.push(kept);
    }
    out
}
