//! `palisade scan`: catalog a source, match it against the vulnerability database, score and
//! filter the findings, report them, and pick the exit code.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use palisade_catalog::Catalog;
use palisade_vulndb::{Database, Enrichment, Finding, Matcher, SeverityKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::DbPathArgs;
use crate::ignore::{self, ExpiredOut, IgnoreList};
use crate::scan_cache::{Evaluated, ScanCache};
use crate::vex::{VexOut, VexSet};
use crate::{SourceArgs, catalog_image, exit, junit, open_image, output, sarif};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScanOutput {
    /// A table for people, grouped by package.
    Table,
    /// A stable JSON document.
    Json,
    /// SARIF 2.1.0: one rule per advisory, one result per finding.
    Sarif,
    /// The CycloneDX 1.6 SBOM with a `vulnerabilities` array.
    Cyclonedx,
    /// JUnit XML: a failing testcase per finding, a passing one per clean package.
    Junit,
}

/// A severity derived from the CVSS base score.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Level {
    /// CVSS ≥ 9.0.
    Critical,
    /// CVSS ≥ 7.0.
    High,
    /// CVSS ≥ 4.0.
    Medium,
    /// CVSS > 0.
    Low,
    /// A distro's own word for "below low": Debian `unimportant`, Ubuntu `negligible`.
    Negligible,
    /// No score known.
    Unknown,
}

impl Level {
    const ALL: [Level; 6] = [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Negligible,
        Level::Unknown,
    ];

    /// A distro's own word (Debian urgency, Ubuntu priority); `None` when the word rates
    /// nothing (`not yet assigned`, `end-of-life`, `untriaged`), so CVSS decides.
    fn from_vendor(rating: &str) -> Option<Level> {
        match rating
            .trim_end_matches('*')
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "critical" => Some(Level::Critical),
            "high" => Some(Level::High),
            "medium" => Some(Level::Medium),
            "low" => Some(Level::Low),
            "unimportant" | "negligible" => Some(Level::Negligible),
            _ => None,
        }
    }

    fn from_score(score: Option<f64>) -> Level {
        match score {
            Some(s) if s >= 9.0 => Level::Critical,
            Some(s) if s >= 7.0 => Level::High,
            Some(s) if s >= 4.0 => Level::Medium,
            Some(s) if s > 0.0 => Level::Low,
            _ => Level::Unknown,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "CRITICAL",
            Level::High => "HIGH",
            Level::Medium => "MEDIUM",
            Level::Low => "LOW",
            Level::Negligible => "NEGLIGIBLE",
            Level::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 no finding left after the filters (or --exit-code 0, the default); \
N (the --exit-code value) at least one finding left after the filters; 2 error (bad source, \
missing or unreadable database, bad flags).\n\n\
Severity comes from the CVSS base score: the advisory's own CVSS v3/v4 vector, else NVD's \
score for its CVE alias (primary v3.x first); CRITICAL >= 9, HIGH >= 7, MEDIUM >= 4, LOW > 0, \
else UNKNOWN."
)]
pub(crate) struct ScanArgs {
    /// The image: oci-dir:PATH[:TAG], oci-archive:FILE, docker-archive:FILE, dir:PATH,
    /// registry:REF, sbom:FILE, or an existing path / image reference without prefix.
    source: String,

    #[command(flatten)]
    db: DbPathArgs,

    /// Keep only findings of these severities (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    severity: Vec<Level>,

    /// Keep only findings whose CVSS base score is at least N (unscored findings are dropped)
    /// [default: no minimum].
    #[arg(long, value_name = "N")]
    min_cvss: Option<f64>,

    /// Drop findings with no fixed version, whatever the distro's status says (unfixed,
    /// wont-fix, ignored, postponed): the same test as the policy's `ignore_unfixed`.
    #[arg(long)]
    ignore_unfixed: bool,

    /// Findings of UNKNOWN severity (no CVSS and no distro rating) when --severity or
    /// --min-cvss filter: deny keeps them, since they may be critical; warn drops them and
    /// says how many on standard error; ignore drops them silently.
    #[arg(long, value_enum, value_name = "ACTION", default_value = "deny")]
    unknown_severity: Action,

    /// Packages the database has no advisories for (an ecosystem or distro release with no
    /// feed imported, or a package type Palisade cannot match): deny makes the scan fail like
    /// a finding (the --exit-code applies); warn only reports them; ignore leaves them out of
    /// the table and standard error (the JSON always lists them under `not_covered`).
    #[arg(long, value_enum, value_name = "ACTION", default_value = "deny")]
    coverage: Action,

    /// Warn on standard error when the database's newest data is older than DAYS.
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    max_age: u64,

    /// Exit 2 (error) instead of warning when the database is older than --max-age, or its
    /// age is unknown.
    #[arg(long)]
    fail_on_stale: bool,

    /// The exit code when at least one finding is left after the filters.
    /// Any code but 2, which errors exit with.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = crate::exit::parse_code)]
    exit_code: u8,

    /// Accepted findings: a YAML list of {id, package?, reason, expires?} (id: advisory id or
    /// alias; expires: YYYY-MM-DD, after which the entry stops applying and the report says so).
    #[arg(long, value_name = "FILE")]
    ignorefile: Option<PathBuf>,

    /// VEX documents (OpenVEX JSON or CycloneDX VEX, detected by content): a `not_affected`
    /// statement with a justification (CycloneDX: also `false_positive`) suppresses the findings
    /// it names by advisory id or alias and package PURL; other statuses annotate them.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    vex: Vec<PathBuf>,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: ScanOutput,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    source_args: SourceArgs,
}

/// What to do with a doubtful result (unknown severity, a package with no coverage): the
/// same three words as the policy file's `unknown_severity` and `coverage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Action {
    /// Count it against the image.
    Deny,
    /// Report it, but let it pass.
    Warn,
    /// Leave it out.
    Ignore,
}

/// What the database holds for one ecosystem or distro release of the scanned packages.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CoverageOut {
    /// `Debian:12`, `PyPI`, `Alpine:v3.18`; the package type (`rpm`) for packages that
    /// cannot be matched at all.
    pub(crate) ecosystem: String,
    /// Packages looked up there.
    pub(crate) packages: usize,
    /// Whether the database has advisories for it.
    pub(crate) covered: bool,
    /// How many.
    pub(crate) advisories: u64,
    /// The newest `modified` of those advisories.
    pub(crate) newest: Option<String>,
    /// Why not covered.
    pub(crate) reason: Option<String>,
}

/// A package that no advisory in the database could be about.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NotCoveredOut {
    pub(crate) name: String,
    pub(crate) version: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) purl: String,
    /// [`CoverageOut::ecosystem`] of its entry.
    pub(crate) ecosystem: String,
}

/// A CVSS rating chosen for a finding.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Cvss {
    pub(crate) score: f64,
    pub(crate) vector: String,
    /// `advisory`, or `nvd:CVE-…`.
    pub(crate) source: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PackageOut {
    pub(crate) name: String,
    pub(crate) version: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) purl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source_package: Option<String>,
    /// 1-based layer index, as the tables show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) layer: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FindingOut {
    pub(crate) id: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) package: PackageOut,
    pub(crate) severity: Level,
    /// Where `severity` comes from: the distro's rating first (OS packages), then the
    /// advisory's CVSS, then NVD's.
    pub(crate) severity_source: String,
    pub(crate) cvss: Option<Cvss>,
    /// FIRST EPSS, when imported: probability of exploitation in the next 30 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) epss: Option<EpssOut>,
    pub(crate) status: String,
    pub(crate) fixed_versions: Vec<String>,
    pub(crate) kev: bool,
    pub(crate) why: String,
    /// The VEX statement that applies to the finding, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) vex: Option<VexOut>,
    /// The first file that shows the package is there (SARIF location); not in the JSON.
    #[serde(skip)]
    pub(crate) evidence: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EpssOut {
    pub(crate) score: f64,
    pub(crate) percentile: f64,
}

/// A finding suppressed by the ignore file or a VEX `not_affected` statement.
#[derive(Debug, Serialize)]
struct IgnoredOut {
    #[serde(flatten)]
    finding: FindingOut,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

/// An advisory's texts, for SARIF rules and CycloneDX descriptions.
#[derive(Debug, Default)]
pub(crate) struct AdvisoryText {
    pub(crate) summary: String,
    pub(crate) details: Option<String>,
}

/// What to do about a finding: `Upgrade NAME to FIXED` or `No fixed version yet`.
pub(crate) fn fix_text(f: &FindingOut) -> String {
    if f.fixed_versions.is_empty() {
        "No fixed version yet".to_owned()
    } else {
        format!(
            "Upgrade {} to {}",
            f.package.name,
            f.fixed_versions.join(" or ")
        )
    }
}

/// The database a report's findings came from.
#[derive(Debug, Serialize)]
pub(crate) struct DbOut {
    pub(crate) schema_version: u32,
    pub(crate) built: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SkipOut {
    pub(crate) package: String,
    pub(crate) version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) advisory_id: Option<String>,
    pub(crate) reason: String,
}

#[derive(Debug, Serialize)]
struct Report {
    source: String,
    distro: Option<String>,
    db: DbOut,
    /// What the database holds for each ecosystem of the scanned packages.
    coverage: Vec<CoverageOut>,
    findings: Vec<FindingOut>,
    counts: BTreeMap<&'static str, usize>,
    skipped: Vec<SkipOut>,
    /// Packages no advisory in the database could be about: "no finding" says nothing of
    /// them.
    not_covered: Vec<NotCoveredOut>,
    /// Findings of UNKNOWN severity dropped by --severity/--min-cvss with
    /// `--unknown-severity warn|ignore` (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    unknown_severity_dropped: usize,
    /// Findings suppressed by `--ignorefile` or `--vex` (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored: Vec<IgnoredOut>,
    /// Ignore-file entries past their `expires` date (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignore_expired: Vec<ExpiredOut>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub(crate) fn run(args: &ScanArgs) -> Result<u8> {
    if let Some(n) = args.min_cvss
        && !(0.0..=10.0).contains(&n)
    {
        anyhow::bail!("--min-cvss {n}: expected a score from 0 to 10");
    }
    let ignores = match &args.ignorefile {
        Some(path) => IgnoreList::load(path, &ignore::today())?,
        None => IgnoreList::default(),
    };
    let vex = VexSet::load(&args.vex)?;
    let db = VulnDb::new(args.db.path()?);
    let (catalog, evaluated) = if let Some(path) = crate::sbom_file(&args.source) {
        crate::scan_sbom::scan_sbom(&db, path, &args.source_args)?
    } else {
        let image = open_image(&args.source, &args.source_args)?;
        scan_image(&db, &image, &args.source_args)?
    };

    let evidence: BTreeMap<&str, &str> = catalog
        .packages
        .iter()
        .rev()
        .filter_map(|p| Some((p.purl.as_str(), p.locations.first()?.path.as_str())))
        .collect();
    let mut findings = Vec::new();
    let mut ignored = Vec::new();
    let mut unknown_dropped = 0usize;
    for mut out in evaluated.findings {
        match keep(args, &out) {
            Keep::Yes => {}
            Keep::No => continue,
            Keep::UnknownSeverity => {
                unknown_dropped += 1;
                continue;
            }
        }
        out.evidence = evidence
            .get(out.package.purl.as_str())
            .map(|s| (*s).to_owned());
        if let Some(e) = ignores.matching(&out.id, &out.aliases, &out.package.name) {
            ignored.push(IgnoredOut {
                reason: e.reason.clone(),
                expires: e.expires.clone(),
                finding: out,
            });
            continue;
        }
        let statement = vex.matching(&out.id, &out.aliases, &out.package.purl);
        out.vex = statement.map(crate::vex::Statement::annotation);
        match statement {
            Some(s) if s.suppresses() => ignored.push(IgnoredOut {
                reason: s.reason(),
                expires: None,
                finding: out,
            }),
            _ => findings.push(out),
        }
    }
    let order = |a: &FindingOut, b: &FindingOut| {
        (
            &a.package.name,
            &a.package.version,
            &a.package.kind,
            &a.package.purl,
            &a.id,
        )
            .cmp(&(
                &b.package.name,
                &b.package.version,
                &b.package.kind,
                &b.package.purl,
                &b.id,
            ))
    };
    findings.sort_by(order);
    ignored.sort_by(|a, b| order(&a.finding, &b.finding));
    let mut counts: BTreeMap<&'static str, usize> =
        Level::ALL.iter().map(|l| (l.as_str(), 0)).collect();
    for f in &findings {
        *counts.entry(f.severity.as_str()).or_default() += 1;
    }
    let skipped = evaluated.skipped;
    let doc = Report {
        source: catalog.source.name.clone(),
        distro: catalog
            .distro
            .as_ref()
            .map(|d| d.pretty_name.clone().unwrap_or_else(|| d.purl_qualifier())),
        db: evaluated.db,
        coverage: evaluated.coverage,
        findings,
        counts,
        skipped,
        not_covered: evaluated.not_covered,
        unknown_severity_dropped: unknown_dropped,
        ignored,
        ignore_expired: ignores.expired,
    };
    // Warnings go to standard error in every format (SARIF and CycloneDX have no place for
    // most of them), never into the report on standard output.
    {
        let mut stderr = io::stderr().lock();
        for e in &doc.ignore_expired {
            writeln!(stderr, "palisade: warning: {}", e.message)?;
        }
        if args.coverage != Action::Ignore {
            for line in coverage_lines(&doc.coverage) {
                writeln!(stderr, "palisade: warning: {line}")?;
            }
        }
        if args.unknown_severity == Action::Warn && unknown_dropped > 0 {
            writeln!(
                stderr,
                "palisade: warning: {unknown_dropped} finding(s) of UNKNOWN severity left out by \
                 --severity/--min-cvss (--unknown-severity deny keeps them)"
            )?;
        }
        if let Some(stale) = staleness(doc.db.built.as_deref(), args.max_age) {
            if args.fail_on_stale {
                anyhow::bail!("{stale} (--fail-on-stale)");
            }
            writeln!(stderr, "palisade: warning: {stale}")?;
        }
    }

    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        ScanOutput::Json => output::json(&doc, &mut out)?,
        ScanOutput::Table => table(&doc, &mut out)?,
        ScanOutput::Sarif => {
            let suppressed: Vec<sarif::Suppressed<'_>> = doc
                .ignored
                .iter()
                .map(|i| sarif::Suppressed {
                    finding: &i.finding,
                    justification: &i.reason,
                })
                .collect();
            let texts = advisory_texts(
                db.database()?,
                doc.findings
                    .iter()
                    .chain(doc.ignored.iter().map(|i| &i.finding)),
            )?;
            output::json(
                &sarif::to_sarif(
                    &doc.source,
                    &doc.findings,
                    &suppressed,
                    &texts,
                    &coverage_lines(&doc.coverage),
                ),
                &mut out,
            )?;
        }
        ScanOutput::Cyclonedx => {
            let texts = advisory_texts(
                db.database()?,
                doc.findings
                    .iter()
                    .chain(doc.ignored.iter().map(|i| &i.finding)),
            )?;
            let mut bom = palisade_catalog::to_cyclonedx(&catalog);
            let reported: Vec<&FindingOut> = doc.findings.iter().collect();
            let mut vulns = cyclonedx_vulnerabilities(&reported, &texts, &|_| None);
            let ignored: Vec<&FindingOut> = doc.ignored.iter().map(|i| &i.finding).collect();
            let reason = |f: &FindingOut| {
                doc.ignored
                    .iter()
                    .find(|i| std::ptr::eq(&i.finding, f))
                    .map(|i| i.reason.clone())
            };
            vulns.extend(cyclonedx_vulnerabilities(&ignored, &texts, &reason));
            bom["vulnerabilities"] = Value::Array(vulns);
            mark_not_covered(&mut bom, &doc.not_covered);
            output::json(&bom, &mut out)?;
        }
        ScanOutput::Junit => {
            let packages: Vec<junit::ScannedPackage<'_>> = catalog
                .packages
                .iter()
                .map(|p| junit::ScannedPackage {
                    name: &p.name,
                    version: &p.version,
                    purl: &p.purl,
                })
                .collect();
            let suppressed: Vec<(&FindingOut, &str)> = doc
                .ignored
                .iter()
                .map(|i| (&i.finding, i.reason.as_str()))
                .collect();
            out.write_all(junit::to_junit(&doc.findings, &suppressed, &packages).as_bytes())?;
        }
    }
    out.flush()?;
    let uncovered = args.coverage == Action::Deny && !doc.not_covered.is_empty();
    Ok(if doc.findings.is_empty() && !uncovered {
        exit::OK
    } else {
        args.exit_code
    })
}

/// CycloneDX: a `palisade:not-covered` property (`true`) on each component the database
/// has no advisories for, and one on the BOM's metadata naming the count, so a consumer
/// does not read "no vulnerabilities" for them.
fn mark_not_covered(bom: &mut Value, not_covered: &[NotCoveredOut]) {
    if not_covered.is_empty() {
        return;
    }
    let purls: std::collections::BTreeSet<&str> =
        not_covered.iter().map(|n| n.purl.as_str()).collect();
    if let Some(components) = bom.get_mut("components").and_then(Value::as_array_mut) {
        for c in components {
            let hit = c
                .get("purl")
                .and_then(Value::as_str)
                .is_some_and(|p| purls.contains(p));
            if hit {
                let prop = json!({"name": "palisade:not-covered", "value": "true"});
                match c.get_mut("properties").and_then(Value::as_array_mut) {
                    Some(props) => props.push(prop),
                    None => c["properties"] = json!([prop]),
                }
            }
        }
    }
    let prop =
        json!({"name": "palisade:not-covered-packages", "value": not_covered.len().to_string()});
    if let Some(meta) = bom.get_mut("metadata").and_then(Value::as_object_mut) {
        match meta.get_mut("properties").and_then(Value::as_array_mut) {
            Some(props) => props.push(prop),
            None => {
                meta.insert("properties".into(), json!([prop]));
            }
        }
    }
}

/// One line per ecosystem the database does not cover: `88 deb packages (Debian:12) not
/// covered: …`.
fn coverage_lines(coverage: &[CoverageOut]) -> Vec<String> {
    coverage
        .iter()
        .filter(|c| !c.covered)
        .map(|c| {
            format!(
                "{} package(s) of {} not checked for vulnerabilities: {}",
                c.packages,
                c.ecosystem,
                c.reason
                    .as_deref()
                    .unwrap_or("no advisories in the database")
            )
        })
        .collect()
}

/// Why the database at `built` is too old for `max_age_days`, or `None` when it is fresh
/// enough.
pub(crate) fn staleness(built: Option<&str>, max_age_days: u64) -> Option<String> {
    let Some(built) = built else {
        return Some(
            "the vulnerability database's age is unknown (it has no dated advisories): \
             update it with `palisade db update`"
                .to_owned(),
        );
    };
    let Ok(t) = palisade_vulndb::Timestamp::parse(built) else {
        return Some(format!(
            "the vulnerability database's build time {built:?} cannot be read"
        ));
    };
    let age = (crate::db::unix_now() - t.unix_seconds()).max(0) / 86_400;
    (u64::try_from(age).unwrap_or(0) > max_age_days).then(|| {
        format!(
            "the vulnerability database is {age} days old (newest data {built}), older than \
             {max_age_days} days: update it with `palisade db update`"
        )
    })
}

/// The vulnerability database, opened read-only on first use: a warm scan answered from the
/// scan-result cache never opens it.
pub(crate) struct VulnDb {
    path: PathBuf,
    opened: std::cell::OnceCell<(Database, palisade_vulndb::Status)>,
}

impl VulnDb {
    pub(crate) fn new(path: PathBuf) -> VulnDb {
        VulnDb {
            path,
            opened: std::cell::OnceCell::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn get(&self) -> Result<&(Database, palisade_vulndb::Status)> {
        if let Some(opened) = self.opened.get() {
            return Ok(opened);
        }
        let opened = open_db(&self.path)?;
        Ok(self.opened.get_or_init(|| opened))
    }

    /// The open database.
    pub(crate) fn database(&self) -> Result<&Database> {
        Ok(&self.get()?.0)
    }
}

/// Opens the vulnerability database read-only and reads its status.
pub(crate) fn open_db(path: &Path) -> Result<(Database, palisade_vulndb::Status)> {
    let db = Database::open_read_only(path)?;
    let status = db.status()?;
    Ok((db, status))
}

/// The scan-result cache, unless `--no-cache` (or no cache directory is known).
fn scan_cache(source_args: &SourceArgs) -> Option<ScanCache> {
    if source_args.no_cache {
        None
    } else {
        ScanCache::new(
            source_args.cache_dir.clone(),
            source_args.scan_cache_max_mib,
        )
    }
}

/// Matches a catalog against the database and scores every finding, before any filter; read
/// from (and written to) the scan-result cache, keyed by the package list, unless
/// `--no-cache`. For images, [`scan_image`] keys by the image instead.
pub(crate) fn evaluate_catalog(
    vulndb: &VulnDb,
    catalog: &Catalog,
    source_args: &SourceArgs,
) -> Result<Evaluated> {
    let cache = scan_cache(source_args);
    let key = cache
        .as_ref()
        .and_then(|_| ScanCache::key(vulndb.path(), catalog));
    let cached = cache.as_ref().zip(key.as_deref());
    if let Some(hit) = cached.and_then(|(c, k)| c.load(k)) {
        return Ok(hit);
    }
    match_and_store(vulndb, catalog, cached, || {
        ScanCache::key(vulndb.path(), catalog)
    })
}

/// Catalogs `image` and evaluates its catalog as [`evaluate_catalog`] does, with the
/// scan-result cache keyed by the image's identity ([`ScanCache::image_key`]), so the entry is
/// read while the catalog is built instead of after it.
pub(crate) fn scan_image(
    vulndb: &VulnDb,
    image: &palisade_image::Image,
    source_args: &SourceArgs,
) -> Result<(Catalog, Evaluated)> {
    let cache = scan_cache(source_args);
    let key = cache
        .as_ref()
        .and_then(|_| ScanCache::image_key(vulndb.path(), image));
    let Some((cache, key)) = cache.as_ref().zip(key.as_deref()) else {
        let catalog = catalog_image(image, source_args)?;
        let evaluated = evaluate_catalog(vulndb, &catalog, source_args)?;
        return Ok((catalog, evaluated));
    };
    let (catalog, hit) = std::thread::scope(|scope| {
        let loading = scope.spawn(|| cache.load(key));
        let catalog = catalog_image(image, source_args);
        let hit = loading
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (catalog, hit)
    });
    let catalog = catalog?;
    if let Some(hit) = hit {
        return Ok((catalog, hit));
    }
    let evaluated = match_and_store(vulndb, &catalog, Some((cache, key)), || {
        ScanCache::image_key(vulndb.path(), image)
    })?;
    Ok((catalog, evaluated))
}

/// Matches and scores `catalog`, then stores the result under `key`, but only if `key_now`
/// still gives that key: an update may have renamed a new database into place since.
fn match_and_store(
    vulndb: &VulnDb,
    catalog: &Catalog,
    cached: Option<(&ScanCache, &str)>,
    key_now: impl Fn() -> Option<String>,
) -> Result<Evaluated> {
    let (db, status) = vulndb.get()?;
    let report = Matcher::new(db)
        .match_packages(&catalog.packages, catalog.distro.as_ref())
        .context("matching packages")?;
    let findings = report
        .findings
        .into_iter()
        .map(|f| evaluate(db, f))
        .collect::<Result<Vec<_>>>()?;
    let skipped = report
        .skipped
        .into_iter()
        .map(|s| SkipOut {
            package: s.package.name,
            version: s.package.version,
            advisory_id: s.advisory_id,
            reason: s.reason,
        })
        .collect();
    let coverage = report
        .coverage
        .iter()
        .map(|c| CoverageOut {
            ecosystem: c.ecosystem.clone(),
            packages: c.packages,
            covered: c.covered(),
            advisories: c.advisories,
            newest: c.newest.as_ref().map(ToString::to_string),
            reason: c.reason.clone(),
        })
        .collect();
    let not_covered = report
        .not_covered
        .into_iter()
        .map(|n| NotCoveredOut {
            name: n.package.name,
            version: n.package.version,
            kind: n.package.ecosystem.to_string(),
            purl: n.package.purl,
            ecosystem: n.ecosystem,
        })
        .collect();
    let e = Evaluated {
        findings,
        skipped,
        coverage,
        not_covered,
        db: DbOut {
            schema_version: status.schema_version,
            built: status.built.as_ref().map(ToString::to_string),
        },
    };
    if let Some((c, k)) = cached
        && key_now().as_deref() == Some(k)
        && let Err(err) = c.store(k, &e)
    {
        writeln!(io::stderr(), "warning: scan cache not written: {err:#}")?;
    }
    Ok(e)
}

enum Keep {
    Yes,
    No,
    /// Dropped by a severity or CVSS filter although its severity is unknown.
    UnknownSeverity,
}

/// Whether a finding passes the filters. A finding of UNKNOWN severity may be anything, so
/// the severity and CVSS filters keep it unless `--unknown-severity` says otherwise.
/// "Unfixed" means no fixed version is known, the same test as the policy's
/// `ignore_unfixed` (docs/policy.md).
fn keep(args: &ScanArgs, f: &FindingOut) -> Keep {
    if args.ignore_unfixed && f.fixed_versions.is_empty() {
        return Keep::No;
    }
    let filtered = !args.severity.is_empty() || args.min_cvss.is_some();
    if filtered && f.severity == Level::Unknown && !args.severity.contains(&Level::Unknown) {
        return match args.unknown_severity {
            Action::Deny => Keep::Yes,
            Action::Warn | Action::Ignore => Keep::UnknownSeverity,
        };
    }
    if !args.severity.is_empty() && !args.severity.contains(&f.severity) {
        return Keep::No;
    }
    if let Some(min) = args.min_cvss
        && f.cvss.as_ref().is_none_or(|c| c.score < min)
    {
        return Keep::No;
    }
    Keep::Yes
}

/// Scores a finding (the advisory's CVSS v3/v4 vector, else NVD's for a CVE id) and looks up
/// its KEV flag.
fn evaluate(db: &Database, f: Finding) -> Result<FindingOut> {
    let own = f.severity.as_ref().and_then(|s| {
        matches!(s.kind, SeverityKind::CvssV3 | SeverityKind::CvssV4)
            .then(|| s.score.parse::<cvss::Cvss>().ok())
            .flatten()
            .map(|v| Cvss {
                score: v.score(),
                vector: s.score.clone(),
                source: "advisory".to_owned(),
            })
    });
    let mut nvd: Option<Cvss> = None;
    let mut kev = false;
    let mut epss: Option<EpssOut> = None;
    let cves = std::iter::once(&f.advisory_id)
        .chain(&f.aliases)
        .filter(|id| id.starts_with("CVE-"));
    for cve in cves {
        let Some(e) = db
            .enrichment(cve)
            .with_context(|| format!("reading enrichment for {cve}"))?
        else {
            continue;
        };
        kev |= e.kev.is_some();
        if let Some(s) = &e.epss
            && epss.as_ref().is_none_or(|x| s.score > x.score)
        {
            epss = Some(EpssOut {
                score: s.score,
                percentile: s.percentile,
            });
        }
        if let Some(c) = nvd_score(&e)
            && nvd.as_ref().is_none_or(|n| c.score > n.score)
        {
            nvd = Some(c);
        }
    }
    let cvss = own.or(nvd);
    let vendor = f
        .vendor_severity
        .as_ref()
        .and_then(|v| Level::from_vendor(&v.rating).map(|l| (l, v)));
    let (severity, severity_source) = match (vendor, &cvss) {
        (Some((level, v)), _) => (level, format!("{} ({})", v.vendor, v.rating)),
        (None, Some(c)) if c.source == "advisory" => {
            (Level::from_score(Some(c.score)), "advisory CVSS".to_owned())
        }
        (None, Some(c)) => (Level::from_score(Some(c.score)), "NVD CVSS".to_owned()),
        (None, None) => (Level::Unknown, "none".to_owned()),
    };
    let p = std::sync::Arc::unwrap_or_clone(f.package);
    Ok(FindingOut {
        id: f.advisory_id,
        aliases: f.aliases,
        package: PackageOut {
            name: p.name,
            version: p.version,
            kind: p.ecosystem.to_string(),
            purl: p.purl,
            source_package: p.source,
            layer: p.layer.map(|l| l.index + 1),
        },
        severity,
        severity_source,
        cvss,
        epss,
        status: f.status.as_str().to_owned(),
        fixed_versions: f.fixed_versions,
        kev,
        why: f.why,
        vex: None,
        evidence: None,
    })
}

/// NVD's primary v3.x score, else the highest v3.x score, else the preferred rating.
fn nvd_score(e: &Enrichment) -> Option<Cvss> {
    let v3 = |s: &&palisade_vulndb::CvssScore| s.version.starts_with("3.");
    let pick = e
        .cvss
        .iter()
        .filter(v3)
        .find(|s| s.primary)
        .or_else(|| {
            e.cvss
                .iter()
                .filter(v3)
                .max_by(|a, b| a.base_score.total_cmp(&b.base_score))
        })
        .or_else(|| e.preferred())?;
    Some(Cvss {
        score: pick.base_score,
        vector: pick.vector.clone(),
        source: format!("nvd:{}", e.cve),
    })
}

fn table(doc: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{}: {}",
        doc.source,
        doc.distro.as_deref().unwrap_or("no known operating system")
    )?;
    writeln!(
        out,
        "database: schema {}, built {}",
        doc.db.schema_version,
        doc.db.built.as_deref().unwrap_or("-")
    )?;
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut last: Option<(&str, &str, &str, &str)> = None;
    for f in &doc.findings {
        let key = (
            f.package.name.as_str(),
            f.package.version.as_str(),
            f.package.kind.as_str(),
            f.package.purl.as_str(),
        );
        if last != Some(key) {
            headings.push((
                rows.len(),
                format!(
                    "{} {} ({}, layer {})",
                    f.package.name,
                    f.package.version,
                    f.package.kind,
                    f.package
                        .layer
                        .map_or_else(|| "-".to_owned(), |l| l.to_string())
                ),
            ));
            last = Some(key);
        }
        let cve = f.aliases.iter().find(|a| a.starts_with("CVE-"));
        rows.push([
            match cve {
                Some(c) if !f.id.starts_with("CVE-") => format!("{} ({c})", f.id),
                _ => f.id.clone(),
            },
            match &f.cvss {
                Some(c) => format!("{} ({:.1})", f.severity.as_str(), c.score),
                None => f.severity.as_str().to_owned(),
            },
            match &f.vex {
                Some(v) => format!("{} (VEX: {})", f.status, v.status),
                None => f.status.to_owned(),
            },
            if f.fixed_versions.is_empty() {
                "-".to_owned()
            } else {
                f.fixed_versions.join(", ")
            },
            if f.kev { "KEV" } else { "" }.to_owned(),
        ]);
    }
    let header = ["ID", "SEVERITY", "STATUS", "FIXED IN", "KEV"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut next = headings.iter().peekable();
    for (i, r) in rows.iter().enumerate() {
        if let Some((_, h)) = next.next_if(|(at, _)| *at == i) {
            writeln!(out, "\n{h}")?;
            line(&header.map(str::to_owned), &widths, out)?;
        }
        line(r, &widths, out)?;
    }
    let summary: Vec<String> = Level::ALL
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                doc.counts.get(l.as_str()).copied().unwrap_or(0),
                l.as_str()
            )
        })
        .collect();
    writeln!(
        out,
        "\n{} vulnerabilities ({})",
        doc.findings.len(),
        summary.join(", ")
    )?;
    if !doc.ignored.is_empty() {
        writeln!(
            out,
            "{} findings suppressed by the ignore file or VEX (see --format json)",
            doc.ignored.len()
        )?;
    }
    for e in &doc.ignore_expired {
        writeln!(out, "{}", e.message)?;
    }
    if !doc.skipped.is_empty() {
        writeln!(
            out,
            "{} package entries not evaluated (see --format json)",
            doc.skipped.len()
        )?;
    }
    if !doc.not_covered.is_empty() {
        writeln!(
            out,
            "NOT CHECKED: {} package(s) the database has no advisories for, so \"no finding\" \
             says nothing about them (see `not_covered` in --format json):",
            doc.not_covered.len()
        )?;
        for line in coverage_lines(&doc.coverage) {
            writeln!(out, "  {line}")?;
        }
    }
    if doc.unknown_severity_dropped > 0 {
        writeln!(
            out,
            "{} finding(s) of UNKNOWN severity left out by the severity filters",
            doc.unknown_severity_dropped
        )?;
    }
    Ok(())
}

fn line<const N: usize>(
    cells: &[String; N],
    widths: &[usize; N],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut s = String::from("  ");
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == N {
            s.push_str(c);
        } else {
            s.push_str(&format!("{c:<w$}  "));
        }
    }
    writeln!(out, "{}", s.trim_end())
}

/// A left-aligned table with a header row.
pub(crate) fn columns<const N: usize>(
    header: &[&str; N],
    rows: &[[String; N]],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    line(&header.map(str::to_owned), &widths, out)?;
    for r in rows {
        line(r, &widths, out)?;
    }
    Ok(())
}

/// The summary and details of each advisory among `findings`.
fn advisory_texts<'f>(
    db: &Database,
    findings: impl IntoIterator<Item = &'f FindingOut>,
) -> Result<BTreeMap<String, AdvisoryText>> {
    let mut texts = BTreeMap::new();
    for f in findings {
        if texts.contains_key(&f.id) {
            continue;
        }
        let a = db
            .advisory(&f.id)
            .with_context(|| format!("reading advisory {}", f.id))?;
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

/// The database that publishes an id, by its prefix.
fn id_source(id: &str) -> &'static str {
    if id.starts_with("CVE-") {
        "NVD"
    } else if id.starts_with("GHSA-") {
        "GitHub"
    } else if id.starts_with("GO-") {
        "Go"
    } else if id.starts_with("RUSTSEC-") {
        "RustSec"
    } else if id.starts_with("PYSEC-") {
        "PyPA"
    } else {
        "OSV"
    }
}

/// The CycloneDX rating method of a CVSS vector.
fn cvss_method(vector: &str) -> &'static str {
    if vector.starts_with("CVSS:3.1") {
        "CVSSv31"
    } else if vector.starts_with("CVSS:3") {
        "CVSSv3"
    } else if vector.starts_with("CVSS:4") {
        "CVSSv4"
    } else if vector.starts_with("AV:") || vector.starts_with("(AV:") {
        "CVSSv2"
    } else {
        "other"
    }
}

/// The CycloneDX `vulnerabilities` array: one entry per advisory, affecting the components
/// (by `bom-ref`, their purl) it was found in.
/// CycloneDX `vulnerabilities` entries, one per advisory id. `suppressed` gives the reason a
/// finding was left out of the report (ignore file or VEX); those entries get their own
/// `bom-ref` and say why in `analysis`. A VEX statement becomes the entry's `analysis`.
fn cyclonedx_vulnerabilities(
    findings: &[&FindingOut],
    texts: &BTreeMap<String, AdvisoryText>,
    suppressed: &dyn Fn(&FindingOut) -> Option<String>,
) -> Vec<Value> {
    let mut by_id: BTreeMap<&str, Vec<&FindingOut>> = BTreeMap::new();
    for f in findings {
        by_id.entry(f.id.as_str()).or_default().push(f);
    }
    by_id
        .into_iter()
        .map(|(id, fs)| {
            let first = fs[0];
            let why_suppressed = suppressed(first);
            let bom_ref = match why_suppressed {
                Some(_) => format!("vulnerability:{id}:suppressed"),
                None => format!("vulnerability:{id}"),
            };
            let mut v = json!({
                "bom-ref": bom_ref,
                "id": id,
                "source": {"name": id_source(id)},
            });
            let mut analysis = first.vex.as_ref().map(|x| x.cyclonedx_analysis());
            if let Some(reason) = why_suppressed {
                let a = analysis.get_or_insert_with(|| json!({}));
                a["detail"] = json!(format!("Suppressed: {reason}"));
            }
            if let Some(a) = analysis {
                v["analysis"] = a;
            }
            if !first.aliases.is_empty() {
                v["references"] = Value::Array(
                    first
                        .aliases
                        .iter()
                        .map(|a| json!({"id": a, "source": {"name": id_source(a)}}))
                        .collect(),
                );
            }
            let mut ratings = Vec::new();
            if !matches!(
                first.severity_source.as_str(),
                "advisory CVSS" | "NVD CVSS" | "none"
            ) {
                // The distro's own rating, which the severity shown comes from.
                let vendor = first
                    .severity_source
                    .split(" (")
                    .next()
                    .unwrap_or(&first.severity_source);
                ratings.push(json!({
                    "severity": match first.severity {
                        // CycloneDX has no "negligible".
                        Level::Negligible => "info".to_owned(),
                        l => l.as_str().to_lowercase(),
                    },
                    "method": "other",
                    "source": {"name": vendor},
                }));
            }
            if let Some(c) = &first.cvss {
                let source = if c.source.starts_with("nvd:") {
                    "NVD"
                } else {
                    id_source(id)
                };
                ratings.push(json!({
                    "severity": Level::from_score(Some(c.score)).as_str().to_lowercase(),
                    "score": c.score,
                    "method": cvss_method(&c.vector),
                    "vector": c.vector,
                    "source": {"name": source},
                }));
            }
            if ratings.is_empty() {
                ratings.push(json!({"severity": "unknown"}));
            }
            v["ratings"] = Value::Array(ratings);
            if let Some(t) = texts.get(id)
                && !t.summary.trim().is_empty()
            {
                v["description"] = json!(t.summary.trim());
            }
            if let Some(d) = texts.get(id).and_then(|t| t.details.as_deref())
                && !d.trim().is_empty()
            {
                v["detail"] = json!(d.trim());
            }
            let mut fixes: Vec<String> = fs.iter().map(|f| fix_text(f)).collect();
            fixes.dedup();
            v["recommendation"] = json!(fixes.join("; "));
            let mut refs: Vec<&str> = fs.iter().map(|f| f.package.purl.as_str()).collect();
            refs.sort_unstable();
            refs.dedup();
            v["affects"] = Value::Array(refs.iter().map(|r| json!({"ref": r})).collect());
            let kev = fs.iter().any(|f| f.kev);
            let mut props = vec![
                json!({"name": "palisade:kev", "value": kev.to_string()}),
                json!({"name": "palisade:status", "value": first.status}),
                json!({"name": "palisade:severity-source", "value": first.severity_source}),
            ];
            if let Some(e) = &first.epss {
                props.push(json!({"name": "palisade:epss", "value": e.score.to_string()}));
                props.push(
                    json!({"name": "palisade:epss-percentile", "value": e.percentile.to_string()}),
                );
            }
            v["properties"] = Value::Array(props);
            v
        })
        .collect()
}
