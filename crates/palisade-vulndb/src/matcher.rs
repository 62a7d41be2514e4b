//! Matching installed packages against advisories: which ecosystem and name each package is
//! looked up by, how its version is evaluated, and one finding per vulnerability per package.
//!
//! - Language packages are looked up by OSV ecosystem and name (PEP 503 for PyPI) and their
//!   installed version is evaluated against the advisory's ranges and `versions` list.
//! - Distro packages are looked up by *source* package (Debian source, Alpine origin) and
//!   release; the installed binary version is compared, in the distro's scheme, with the
//!   tracker's fixed version, so a backported fix is never flagged. The tracker's status says
//!   whether there is a fix at all.
//! - RPM packages are looked up by binary name in their distro's OSV ecosystem
//!   (`AlmaLinux:8`, chosen from os-release by [`crate::rpm_distro`]) and compared with
//!   rpmvercmp; modular and non-modular builds are never compared with each other.
//! - Findings from several feeds about the same vulnerability (same id, or a shared alias) are
//!   folded into one, keeping the record that has a fix.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use palisade_catalog::{Distro, Ecosystem, LayerRef, Package};
use palisade_version::Scheme;
use palisade_version::osv::{Bound, CompiledAffected, Installed, Match};

use crate::blob::{self, CandidateView, DistroView, EntryView, PackageView, StatusView};
use crate::{Advisory, Database, Error, MatchCandidate, Severity};
use crate::{SeverityKind, normalize_name};

/// Matches packages against a [`Database`] or against advisories held in memory.
#[derive(Debug)]
pub struct Matcher<'a> {
    source: Source<'a>,
}

#[derive(Debug)]
enum Source<'a> {
    Database(&'a Database),
    /// `(ecosystem, normalised name)` → the record (see [`crate::blob`]) of the advisories
    /// with an entry for it, sorted by id.
    Memory(
        HashMap<(String, String), Vec<u8>>,
        HashMap<String, crate::EcosystemSummary>,
    ),
}

/// What a match run found, and what it could not evaluate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchReport {
    /// One finding per vulnerability per package, sorted by package then advisory id.
    pub findings: Vec<Finding>,
    /// Packages or advisory entries that could not be evaluated, with the reason; they
    /// produced no finding. Sorted like the findings.
    pub skipped: Vec<Skip>,
    /// What the database holds for each ecosystem or distro release the packages are looked
    /// up in, sorted by ecosystem. A package Palisade cannot match at all (an RPM distro not matched yet) or
    /// a distro package of an unknown release has an entry with `advisories: 0` too.
    pub coverage: Vec<Coverage>,
    /// The packages no advisory in the database could be about: their ecosystem has no
    /// advisories ([`Coverage::advisories`] is 0), or they cannot be matched at all. "No
    /// finding" says nothing about these. Sorted like the findings.
    pub not_covered: Vec<NotCovered>,
}

/// What the database holds for one ecosystem or distro release of the scanned packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The ecosystem as OSV spells it, with its release (`Debian:12`, `Alpine:v3.18`,
    /// `PyPI`); for packages that cannot be matched, their type (`rpm`, `deb`).
    pub ecosystem: String,
    /// Packages looked up there.
    pub packages: usize,
    /// Advisories in the database naming a package there; 0: not covered.
    pub advisories: u64,
    /// The newest `modified` of those advisories: how fresh the data for it is.
    pub newest: Option<crate::Timestamp>,
    /// Why it is not covered, when `advisories` is 0.
    pub reason: Option<String>,
}

impl Coverage {
    /// Whether the database holds advisories for it.
    pub fn covered(&self) -> bool {
        self.advisories > 0
    }
}

/// A package that no advisory in the database could be about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotCovered {
    /// The package.
    pub package: FindingPackage,
    /// [`Coverage::ecosystem`] of its entry.
    pub ecosystem: String,
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
    /// The package, shared by all its findings (a vulnerable package can have hundreds, and
    /// copying its strings into each cost more than matching them).
    pub package: Arc<FindingPackage>,
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
    /// not matched (e.g. an RPM distro not matched yet, or a Debian package with no known release).
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
        let mut summaries: HashMap<String, crate::EcosystemSummary> = HashMap::new();
        for a in advisories {
            let mut ecosystems = BTreeSet::new();
            for (key, candidate) in MatchCandidate::of(a) {
                ecosystems.insert(key.0.clone());
                index.entry(key).or_default().push(candidate);
            }
            for eco in ecosystems {
                let s = summaries.entry(eco).or_default();
                s.advisories += 1;
                if let Some(m) = &a.modified
                    && s.newest.as_ref().is_none_or(|n| m > n)
                {
                    s.newest = Some(m.clone());
                }
            }
        }
        let index = index
            .into_iter()
            .map(|(key, mut list)| {
                list.sort_by(|a, b| a.id.cmp(&b.id));
                let mut record = Vec::new();
                blob::encode(&list, &mut record);
                (key, record)
            })
            .collect();
        Matcher {
            source: Source::Memory(index, summaries),
        }
    }

    /// What the source holds for `ecosystems`, together.
    fn summary(&self, ecosystems: &[String]) -> Result<crate::EcosystemSummary, Error> {
        match &self.source {
            Source::Database(db) => {
                let names: Vec<&str> = ecosystems.iter().map(String::as_str).collect();
                db.ecosystem_summary(&names)
            }
            Source::Memory(_, summaries) => {
                let mut out = crate::EcosystemSummary::default();
                for s in ecosystems.iter().filter_map(|e| summaries.get(e)) {
                    out.advisories += s.advisories;
                    if s.newest
                        .as_ref()
                        .is_some_and(|t| out.newest.as_ref().is_none_or(|n| t > n))
                    {
                        out.newest = s.newest.clone();
                    }
                }
                Ok(out)
            }
        }
    }

    /// Appends to `records[keys[(ecosystem, normalized)]].0` the stored record of each key;
    /// nothing when no advisory names it. The database is read one ecosystem at a time, in
    /// name order.
    fn read_records(
        &self,
        keys: &HashMap<(String, String), usize, FastHash>,
        records: &mut [(Vec<u8>, String, String)],
    ) -> Result<(), Error> {
        match &self.source {
            Source::Database(db) => {
                let mut by_ecosystem: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
                for ((eco, name), &at) in keys {
                    by_ecosystem.entry(eco).or_default().push((name, at));
                }
                for (eco, mut list) in by_ecosystem {
                    list.sort_unstable();
                    let names: Vec<&str> = list.iter().map(|(name, _)| *name).collect();
                    db.package_records(eco, &names, |i, record| {
                        records[list[i].1].0.extend_from_slice(record);
                    })?;
                }
            }
            Source::Memory(index, _) => {
                for (key, &at) in keys {
                    if let Some(record) = index.get(key) {
                        records[at].0.extend_from_slice(record);
                    }
                }
            }
        }
        Ok(())
    }

    fn corrupt(&self, ecosystem: &str, name: &str, message: &str) -> Error {
        match &self.source {
            Source::Database(db) => db.corrupt(ecosystem, name, message),
            Source::Memory(..) => Error::Corrupt {
                path: "(advisories in memory)".into(),
                message: format!("match record for {ecosystem} {name}: {message}"),
            },
        }
    }

    /// Matches `packages`; `distro` is the image's operating system, needed for OS packages
    /// (without it they are skipped with a reason). The only errors are database reads.
    pub fn match_packages(
        &self,
        packages: &[Package],
        distro: Option<&Distro>,
    ) -> Result<MatchReport, Error> {
        match_all(self, packages, distro)
    }
}

/// The database lookups matching `pkg` reads: (OSV ecosystem, normalised name) for each
/// ecosystem it is looked up in; empty when it cannot be matched (an RPM package, a deb
/// without a known release). A stored image needs re-matching exactly when the record of
/// one of its keys changed ([`crate::Fingerprints::changes_since`]).
#[must_use]
pub fn lookup_keys(pkg: &Package, distro: Option<&Distro>) -> Vec<(String, String)> {
    match Target::of(pkg, distro) {
        Ok(t) => t
            .ecosystems
            .iter()
            .map(|eco| (eco.clone(), normalize_name(eco, &t.name)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// [`Matcher::match_packages`].
fn match_all(
    matcher: &Matcher<'_>,
    packages: &[Package],
    distro: Option<&Distro>,
) -> Result<MatchReport, Error> {
    let mut report = MatchReport::default();
    // One database lookup (and one reading of its record) per (ecosystem, name) per call,
    // however many packages share it (several images' layers, or versions).
    let mut keys: HashMap<(String, String), usize, FastHash> =
        HashMap::with_capacity_and_hasher(packages.len(), FastHash);
    // `records[i]` is `(its bytes, ecosystem, name)`. One buffer per record rather than one
    // growing arena: the arena's reallocations copied every record again and again, and each
    // free of a large block made the allocator consolidate.
    let mut records: Vec<(Vec<u8>, String, String)> = Vec::new();
    let mut targets: Vec<Located> = Vec::with_capacity(packages.len());
    // Coverage label → (the ecosystems looked up, packages, why it cannot be matched).
    let mut covered: BTreeMap<String, (Vec<String>, usize, Option<String>)> = BTreeMap::new();
    for pkg in packages {
        let target = match Target::of(pkg, distro) {
            Ok(t) => t,
            Err(reason) => {
                let entry = covered
                    .entry(pkg.ecosystem.as_str().to_owned())
                    .or_insert_with(|| (Vec::new(), 0, Some(reason.clone())));
                entry.1 += 1;
                targets.push(Err(reason));
                continue;
            }
        };
        let entry = covered
            .entry(target.label())
            .or_insert_with(|| (target.ecosystems.clone(), 0, None));
        entry.1 += 1;
        let mut lists = Vec::with_capacity(target.ecosystems.len());
        for eco in &target.ecosystems {
            let key = (eco.clone(), normalize_name(eco, &target.name));
            let at = match keys.get(&key) {
                Some(&at) => at,
                None => {
                    records.push((Vec::new(), eco.clone(), target.name.clone()));
                    keys.insert(key, records.len() - 1);
                    records.len() - 1
                }
            };
            lists.push(at);
        }
        targets.push(Ok((target, lists)));
    }
    matcher.read_records(&keys, &mut records)?;
    drop(keys);
    for (label, (ecosystems, count, unmatchable)) in covered {
        let summary = match unmatchable {
            Some(_) => crate::EcosystemSummary::default(),
            None => matcher.summary(&ecosystems)?,
        };
        let reason = match (summary.advisories, unmatchable) {
            (_, Some(why)) => Some(why),
            (0, None) => Some(format!(
                "the database has no advisories for {label}: import a feed for it"
            )),
            _ => None,
        };
        report.coverage.push(Coverage {
            ecosystem: label,
            packages: count,
            advisories: summary.advisories,
            newest: summary.newest,
            reason,
        });
    }
    let prepared = records
        .iter()
        .map(|(record, eco, name)| {
            let view = if record.is_empty() {
                PackageView::default()
            } else {
                PackageView::parse(record, matches!(matcher.source, Source::Database(_)))
                    .map_err(|e| matcher.corrupt(eco, name, &e))?
            };
            let compiled = view.entries.iter().map(|_| OnceCell::new()).collect();
            Ok(Prepared { view, compiled })
        })
        .collect::<Result<Vec<_>, Error>>()?;

    // Packages are visited in report order (by package, stably), so the findings come out
    // sorted by package and only each package's own findings need sorting by advisory id;
    // sorting every finding afterwards moved each one many times.
    let fps: Vec<FindingPackage> = packages.iter().map(finding_package).collect();
    let mut order: Vec<usize> = (0..packages.len()).collect();
    order.sort_by(|&a, &b| fps[a].cmp(&fps[b]));
    let mut targets: Vec<Option<Located>> = targets.into_iter().map(Some).collect();
    let mut fps: Vec<Option<FindingPackage>> = fps.into_iter().map(Some).collect();

    let mut advisories: BTreeMap<&str, Vec<Part<'_>>> = BTreeMap::new();
    let mut raw = Vec::new();
    // Where the findings of the current run of equal packages start.
    let mut run_start = 0;
    for (k, &i) in order.iter().enumerate() {
        let pkg = &packages[i];
        let (Some(target), Some(fp)) = (targets[i].take(), fps[i].take()) else {
            continue;
        };
        let next_differs = order
            .get(k + 1)
            .is_none_or(|&j| fps[j].as_ref().is_none_or(|next| *next != fp));
        let fp = Arc::new(fp);
        let (target, lists) = match target {
            Ok(t) => t,
            Err(reason) => {
                report.skipped.push(Skip {
                    package: Arc::unwrap_or_clone(fp),
                    advisory_id: None,
                    reason,
                });
                if next_differs {
                    report.findings[run_start..].sort_by(|a, b| a.advisory_id.cmp(&b.advisory_id));
                    run_start = report.findings.len();
                }
                continue;
            }
        };
        let mut installed = Installed::new(&pkg.version);
        raw.clear();
        // An installed version the scheme cannot read is one skip for the package, not one per
        // advisory (each would copy the package, and an SBOM's version can be long).
        let mut bad_version: Option<String> = None;
        let mut one = |parts: &[Part<'_>], report: &mut MatchReport| {
            let Some((first, _)) = parts.first() else {
                return;
            };
            if parts.iter().any(|(c, _)| c.withdrawn) {
                return;
            }
            match evaluate(parts, &target, pkg, &mut installed) {
                Outcome::Affected(hit) => raw.push(hit),
                Outcome::NotAffected => {}
                Outcome::Skipped(reason) => report.skipped.push(Skip {
                    package: FindingPackage::clone(&fp),
                    advisory_id: Some(first.id.to_owned()),
                    reason,
                }),
                Outcome::BadVersion(reason) => {
                    bad_version.get_or_insert(reason);
                }
            }
        };
        if let [only] = lists.as_slice() {
            // One ecosystem: its candidates are sorted by id (one per advisory, unless
            // advisories given in memory repeat an id).
            let p = &prepared[*only];
            for group in p.view.candidates.chunk_by(|a, b| a.id == b.id) {
                if let [c] = group {
                    one(&[(c, p)], &mut report);
                } else {
                    let parts: Vec<Part<'_>> = group.iter().map(|c| (c, p)).collect();
                    one(&parts, &mut report);
                }
            }
        } else {
            // An advisory can have entries under several of the target's ecosystems
            // (`Debian:bookworm` and `Debian:12`): evaluate them together.
            advisories.clear();
            for &at in &lists {
                let p = &prepared[at];
                for c in &p.view.candidates {
                    advisories.entry(c.id).or_default().push((c, p));
                }
            }
            for parts in advisories.values() {
                one(parts, &mut report);
            }
        }
        if let Some(reason) = bad_version {
            report.skipped.push(Skip {
                package: FindingPackage::clone(&fp),
                advisory_id: None,
                reason,
            });
        }
        for hit in dedup(std::mem::take(&mut raw)) {
            report.findings.push(Finding {
                advisory_id: hit.id,
                aliases: hit.aliases,
                package: Arc::clone(&fp),
                fixed_versions: hit.fixed,
                status: hit.status,
                why: hit.why,
                severity: hit.severity,
                vendor_severity: hit.vendor_severity,
            });
        }
        if next_differs {
            report.findings[run_start..].sort_by(|a, b| a.advisory_id.cmp(&b.advisory_id));
            run_start = report.findings.len();
        }
    }
    report.skipped.sort();
    let uncovered: std::collections::BTreeSet<&str> = report
        .coverage
        .iter()
        .filter(|c| !c.covered())
        .map(|c| c.ecosystem.as_str())
        .collect();
    if !uncovered.is_empty() {
        for pkg in packages {
            let label = Target::of(pkg, distro)
                .map_or_else(|_| pkg.ecosystem.as_str().to_owned(), |t| t.label());
            if uncovered.contains(label.as_str()) {
                report.not_covered.push(NotCovered {
                    package: finding_package(pkg),
                    ecosystem: label,
                });
            }
        }
        report.not_covered.sort();
        report.not_covered.dedup();
    }
    Ok(report)
}

/// A cheap hasher for the lookup keys (FxHash's multiply-rotate): they are our own strings,
/// not an adversary's, and SipHash cost more than the lookups it keyed.
#[derive(Clone, Copy, Debug, Default)]
struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
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

/// A package's target and the indexes of its records (one per target ecosystem), or why it
/// is not matched.
type Located = Result<(Target, Vec<usize>), String>;

/// Where a package is looked up.
struct Target {
    /// OSV ecosystem strings, in order of preference (`Debian:bookworm`, `Debian:12`).
    ecosystems: Vec<String>,
    /// The name looked up: the package name, or the source package for OS packages.
    name: String,
    /// OS packages: matched by source package through a distro tracker.
    distro: bool,
    /// RPM packages: matched by binary name through the distro's OSV records, every entry
    /// of an advisory for the package together (see [`rpm_evaluate`]).
    rpm: bool,
}

impl Target {
    /// The ecosystem a coverage entry names: the release number for Debian (`Debian:12`,
    /// else its codename), the first ecosystem otherwise.
    fn label(&self) -> String {
        if self.distro && self.ecosystems.len() > 1 && self.ecosystems[0].starts_with("Debian:") {
            return self.ecosystems[self.ecosystems.len() - 1].clone();
        }
        self.ecosystems.first().cloned().unwrap_or_default()
    }

    fn of(pkg: &Package, distro: Option<&Distro>) -> Result<Target, String> {
        let language = |eco: &str| Target {
            ecosystems: vec![eco.to_owned()],
            name: pkg.name.clone(),
            distro: false,
            rpm: false,
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
            Ecosystem::Gem => language("RubyGems"),
            // `vendor/name`, and NuGet ids: looked up lowercased (`advisory::normalize_name`),
            // as both registries treat names case-insensitively.
            Ecosystem::Composer => language("Packagist"),
            Ecosystem::Nuget => language("NuGet"),
            // The distro's OSV ecosystem (`AlmaLinux:8`), by binary package name; the table of
            // RPM distros and why one is not matched yet is in `crate::rpm_distro`.
            Ecosystem::Rpm => Target {
                ecosystems: vec![crate::rpm_distro::rpm_ecosystem(distro)?],
                name: pkg.name.clone(),
                distro: true,
                rpm: true,
            },
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
                        rpm: false,
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
                    rpm: false,
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
                    rpm: false,
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
    /// An entry of the advisory could not be evaluated, whatever the installed version.
    Skipped(String),
    /// Only the installed version stood in the way: it is not a version of the scheme.
    BadVersion(String),
}

/// Why an entry was not evaluated for a package.
enum NotEvaluated {
    /// The entry itself (no scheme, GIT ranges only, ranges that do not compile, a tracker
    /// status not understood).
    Entry(String),
    /// The installed version is not a version of the entry's scheme.
    InstalledVersion(String),
}

/// One lookup's record, read once, with its entries compiled on first use (once per
/// `match_packages` call, however many installed packages share the name).
struct Prepared<'b> {
    view: PackageView<'b>,
    /// `compiled[j]`: entry `j` of the view.
    compiled: Vec<Compiled>,
}

type Compiled = OnceCell<Result<CompiledAffected, String>>;

/// One advisory's candidate from one of the target's ecosystems, with its lookup.
type Part<'p> = (&'p CandidateView<'p>, &'p Prepared<'p>);

fn evaluate(
    parts: &[Part<'_>],
    target: &Target,
    pkg: &Package,
    installed: &mut Installed<'_>,
) -> Outcome {
    let Some((advisory, _)) = parts.first() else {
        return Outcome::NotAffected;
    };
    if target.rpm {
        return rpm_evaluate(parts, pkg, installed);
    }
    // (status, fixed versions, why) of each entry the version is affected by.
    let mut verdicts: Vec<VerdictFacts> = Vec::new();
    let mut skipped: Option<String> = None;
    let mut bad_version: Option<String> = None;
    for (candidate, prepared) in parts {
        let entries = &prepared.view.entries[candidate.entries.clone()];
        let cells = &prepared.compiled[candidate.entries.clone()];
        for (entry, cell) in entries.iter().zip(cells) {
            let verdict = if target.distro {
                distro_verdict(candidate.id, entry, cell, pkg, target, installed)
            } else {
                language_verdict(candidate.id, entry, cell, pkg, installed)
            };
            match verdict {
                Ok(Some(v)) => verdicts.push(v),
                Ok(None) => {}
                Err(NotEvaluated::Entry(reason)) => {
                    skipped.get_or_insert(reason);
                }
                Err(NotEvaluated::InstalledVersion(reason)) => {
                    bad_version.get_or_insert(reason);
                }
            }
        }
    }
    // Prefer a verdict with a fix, then the status order (fixed, unfixed, wont-fix, …).
    verdicts.sort_by_key(|(status, fixed, _, _)| (fixed.is_empty(), *status));
    let mut verdicts = verdicts.into_iter();
    let Some((status, mut fixed, why, mut vendor_severity)) = verdicts.next() else {
        return match (skipped, bad_version) {
            (Some(reason), _) => Outcome::Skipped(reason),
            (None, Some(reason)) => Outcome::BadVersion(reason),
            (None, None) => Outcome::NotAffected,
        };
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
        id: advisory.id.to_owned(),
        aliases: advisory.aliases().map(str::to_owned).collect(),
        fixed,
        status,
        why,
        severity: preferred_severity(advisory),
        vendor_severity: vendor_severity.or_else(|| {
            // OSV's Ubuntu records rate with Ubuntu's priority word.
            target
                .distro
                .then(|| advisory.severity().find(|(kind, _)| *kind == "Ubuntu"))
                .flatten()
                .map(|(_, score)| VendorSeverity {
                    vendor: "Ubuntu".into(),
                    rating: score.to_owned(),
                })
        }),
    })
}

/// An RPM distro advisory (`ALSA-…`) for one installed package. Its entries for the package
/// are one fix built several times (a modular record lists a build per module stream:
/// `…module_el8.5.0+119+…`, `…module_el8.4.0+2496+…`), so the package is affected only when
/// it is below every fix that applies to it, compared as `[epoch:]version-release` with
/// rpmvercmp. A modular fix applies only to a modular build (`.module+el8…`, `.module_el8…`
/// in its release) and a non-modular fix only to a non-modular one.
fn rpm_evaluate(parts: &[Part<'_>], pkg: &Package, installed: &mut Installed<'_>) -> Outcome {
    let Some((advisory, _)) = parts.first() else {
        return Outcome::NotAffected;
    };
    let modular = crate::rpm_distro::is_modular(&pkg.version);
    let mut fixed: Vec<String> = Vec::new();
    let mut unfixed_ecosystem = None;
    let mut applicable = 0usize;
    let mut ecosystem = "";
    for (candidate, prepared) in parts {
        let entries = &prepared.view.entries[candidate.entries.clone()];
        let cells = &prepared.compiled[candidate.entries.clone()];
        for (entry, cell) in entries.iter().zip(cells) {
            let ranges = match entry.ranges() {
                Ok(r) => r,
                Err(e) => {
                    return Outcome::Skipped(format!(
                        "{} {}: unreadable ranges: {e}",
                        entry.ecosystem, entry.name
                    ));
                }
            };
            let entry_modular = ranges.iter().any(|r| {
                r.events()
                    .any(|e| e.is_ok_and(|(_, v)| crate::rpm_distro::is_modular(v)))
            });
            if entry_modular != modular {
                continue;
            }
            applicable += 1;
            ecosystem = entry.ecosystem;
            match evaluate_entry(entry, cell, installed) {
                Ok(m) if m.is_empty() => return Outcome::NotAffected,
                Ok(m) => {
                    let f = fixes(&m);
                    if f.is_empty() {
                        unfixed_ecosystem = Some(entry.ecosystem);
                    }
                    for v in f {
                        if !fixed.contains(&v) {
                            fixed.push(v);
                        }
                    }
                }
                Err(NotEvaluated::Entry(reason)) => return Outcome::Skipped(reason),
                Err(NotEvaluated::InstalledVersion(reason)) => return Outcome::BadVersion(reason),
            }
        }
    }
    if applicable == 0 {
        return Outcome::NotAffected;
    }
    let id = advisory.id;
    let (status, why) = if fixed.is_empty() || unfixed_ecosystem.is_some() {
        (
            FindingStatus::Unfixed,
            format!(
                "{ecosystem}: {} {}: no fixed version ({id})",
                pkg.name, pkg.version
            ),
        )
    } else {
        (
            FindingStatus::Fixed,
            format!(
                "{ecosystem}: {} {} < fixed {} ({id})",
                pkg.name,
                pkg.version,
                fixed.join(", ")
            ),
        )
    };
    Outcome::Affected(Hit {
        id: id.to_owned(),
        aliases: advisory.aliases().map(str::to_owned).collect(),
        fixed,
        status,
        why,
        severity: preferred_severity(advisory),
        // The distro's word, from the summary at import (`Important`; `rpm_distro` says why).
        vendor_severity: crate::rpm_distro::row_of(ecosystem).and_then(|row| {
            advisory
                .severity()
                .find(|(kind, _)| *kind == row.ecosystem)
                .map(|(_, rating)| VendorSeverity {
                    vendor: row.ecosystem.to_owned(),
                    rating: rating.to_owned(),
                })
        }),
    })
}

/// An entry's verdict: status, fixed versions, the "why" line, the vendor's rating.
type VerdictFacts = (FindingStatus, Vec<String>, String, Option<VendorSeverity>);

type Verdict = Result<Option<VerdictFacts>, NotEvaluated>;

/// Compiles an entry's ranges and `versions` list, as [`AffectedVersions::compile`] does.
///
/// [`AffectedVersions::compile`]: palisade_version::osv::AffectedVersions::compile
fn compile(entry: &EntryView<'_>, scheme: Scheme) -> Result<CompiledAffected, String> {
    let mut compiled = CompiledAffected::new(scheme);
    for (index, range) in entry.ranges()?.iter().enumerate() {
        let mut bad = None;
        let events = range
            .events()
            .map_while(|e| e.map_err(|e| bad = Some(e)).ok());
        compiled
            .add_range(index, &range.kind, events)
            .map_err(|e| e.to_string())?;
        if let Some(e) = bad {
            return Err(e);
        }
    }
    for text in entry.versions() {
        compiled.add_listed(text?);
    }
    Ok(compiled)
}

/// The entry's matches for the installed version (empty when not affected); the entry is
/// compiled into `cell` on first use.
fn evaluate_entry(
    entry: &EntryView<'_>,
    cell: &Compiled,
    installed: &mut Installed<'_>,
) -> Result<Vec<Match>, NotEvaluated> {
    let Some(scheme) = entry.scheme else {
        return Err(NotEvaluated::Entry(format!(
            "{} {}: entry not evaluable: {}",
            entry.ecosystem,
            entry.name,
            entry.unevaluable.unwrap_or("no version scheme")
        )));
    };
    if !entry.evaluable_ranges && entry.no_versions && !entry.no_ranges {
        return Err(NotEvaluated::Entry(format!(
            "{} {}: only GIT or unknown ranges, which need a repository to evaluate",
            entry.ecosystem, entry.name
        )));
    }
    let compiled = cell.get_or_init(|| {
        compile(entry, scheme).map_err(|e| {
            format!(
                "{} {}: ranges do not compile: {e}",
                entry.ecosystem, entry.name
            )
        })
    });
    let compiled = compiled
        .as_ref()
        .map_err(|e| NotEvaluated::Entry(e.clone()))?;
    // The version's own parse error quotes it, cut to 128 characters; the reason does not
    // repeat it whole.
    let eval = compiled.evaluate_installed(installed).map_err(|e| {
        NotEvaluated::InstalledVersion(format!("installed version is not a {scheme} version: {e}"))
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
    entry: &EntryView<'_>,
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
    // `{ecosystem} {name} {version}: {shown} ({id})`, without the formatting machinery.
    let mut why = String::with_capacity(
        entry.ecosystem.len() + pkg.name.len() + pkg.version.len() + id.len() + 80,
    );
    for part in [entry.ecosystem, " ", &pkg.name, " ", &pkg.version, ": "] {
        why.push_str(part);
    }
    push_match(&mut why, shown);
    for part in [" (", id, ")"] {
        why.push_str(part);
    }
    Ok(Some((status, fixed, why, None)))
}

/// Appends `m` as its [`fmt::Display`] writes it.
fn push_match(out: &mut String, m: &Match) {
    if m.via_versions_list {
        out.push_str("listed in the affected versions");
        return;
    }
    if let Some(i) = m.range_index {
        let _ = write!(out, "range {i}: ");
    }
    match m.introduced.as_deref() {
        Some("0") | None => out.push_str("introduced at the first version"),
        Some(v) => {
            out.push_str("introduced ");
            out.push_str(v);
        }
    }
    let (word, v) = match &m.fixed_or_last_affected {
        Some(Bound::Fixed(v)) => (", fixed ", v.as_str()),
        Some(Bound::LastAffected(v)) => (", last affected ", v.as_str()),
        Some(Bound::Limit(v)) => (", no fix below limit ", v.as_str()),
        None => (", no fix", ""),
    };
    out.push_str(word);
    out.push_str(v);
}

fn distro_verdict(
    id: &str,
    entry: &EntryView<'_>,
    cell: &Compiled,
    pkg: &Package,
    target: &Target,
    installed: &mut Installed<'_>,
) -> Verdict {
    // An OSV distro record (e.g. `Debian:12` DSA/DLA) without tracker facts: its ranges
    // carry the fix.
    let facts = entry.distro.unwrap_or(DistroView {
        status: StatusView::Fixed,
        urgency: None,
        nodsa: None,
    });
    let (base, release) = entry
        .ecosystem
        .split_once(':')
        .unwrap_or((entry.ecosystem, ""));
    let feed = if base == "Alpine" { "secdb" } else { "tracker" };
    let who = if target.name == pkg.name {
        format!("source {}", target.name)
    } else {
        format!("source {} (binary {})", target.name, pkg.name)
    };
    let head = format!("{base} {release} {feed}: {who} {}", pkg.version);
    let status = match facts.status {
        StatusView::NotAffected => return Ok(None),
        StatusView::Fixed => FindingStatus::Fixed,
        StatusView::Unfixed => FindingStatus::Unfixed,
        StatusView::WontFix => FindingStatus::WontFix,
        StatusView::Ignored => FindingStatus::Ignored,
        StatusView::Postponed => FindingStatus::Postponed,
        StatusView::Other(word) => {
            return Err(NotEvaluated::Entry(format!(
                "{} {}: tracker status {word:?} is not understood",
                entry.ecosystem, entry.name
            )));
        }
    };
    let no_versions = entry.no_ranges && entry.no_versions;
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
            match facts.nodsa.filter(|n| !n.is_empty()) {
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
        .filter(|u| !u.is_empty() && base == "Debian")
        .map(|u| VendorSeverity {
            vendor: "Debian security tracker".into(),
            rating: u.to_owned(),
        });
    Ok(Some((status, fixed, why, vendor)))
}

/// The advisory's own rating: CVSS v3 preferred, then v4, v2, Ubuntu's word, others; the
/// first of the best kind.
fn preferred_severity(advisory: &CandidateView<'_>) -> Option<Severity> {
    let rank = |k: &str| match k {
        "CVSS_V3" => 0,
        "CVSS_V4" => 1,
        "CVSS_V2" => 2,
        "Ubuntu" => 3,
        _ => 4,
    };
    advisory
        .severity()
        .min_by_key(|(kind, _)| rank(kind))
        .map(|(kind, score)| Severity {
            kind: SeverityKind::from(kind.to_owned()),
            score: score.to_owned(),
        })
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
    if n == 1 {
        // Nothing to fold; only the aliases' order and duplicates to settle.
        let mut hits = hits;
        if let Some(h) = hits.first_mut() {
            h.aliases.sort();
            h.aliases.dedup();
            let id = &h.id;
            h.aliases.retain(|a| a != id);
        }
        return hits;
    }
    let keys = hits.iter().map(|h| 1 + h.aliases.len()).sum();
    let mut owner: HashMap<&str, usize, FastHash> =
        HashMap::with_capacity_and_hasher(keys, FastHash);
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
        if let [_] = group.as_slice() {
            // Nothing folded in (the common case): the set below, without building it.
            let Some(mut kept) = group.pop() else {
                continue;
            };
            kept.aliases.sort();
            kept.aliases.dedup();
            let id = &kept.id;
            kept.aliases.retain(|a| a != id);
            out.push(kept);
            continue;
        }
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
