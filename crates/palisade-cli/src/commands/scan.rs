//! `palisade scan`: catalog a source, match it against the vulnerability database, score and
//! filter the findings, report them, and pick the exit code.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use palisade_scan::{
    Filters, IgnoreList, Report, Scanner, Severity, Source, VexSet, VulnDb, advisory_texts,
};

use palisade_image::Timestamp;

use crate::args::{DbPathArgs, SourceArgs};
use crate::progress::Terminal;
use crate::{exit, render};

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

/// A severity, as `--severity` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

impl From<Level> for Severity {
    fn from(l: Level) -> Severity {
        match l {
            Level::Critical => Severity::Critical,
            Level::High => Severity::High,
            Level::Medium => Severity::Medium,
            Level::Low => Severity::Low,
            Level::Negligible => Severity::Negligible,
            Level::Unknown => Severity::Unknown,
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
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_delimiter = ',',
        value_name = "LIST"
    )]
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
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_name = "ACTION",
        default_value = "deny"
    )]
    unknown_severity: Action,

    /// Packages the database has no advisories for (an ecosystem or distro release with no
    /// feed imported, or a package type Palisade cannot match): deny makes the scan fail like
    /// a finding (the --exit-code applies); warn only reports them; ignore leaves them out of
    /// the table and standard error (the JSON always lists them under `not_covered`).
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_name = "ACTION",
        default_value = "deny"
    )]
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
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = exit::parse_code)]
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
    #[arg(
        long,
        short = 'f',
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    format: ScanOutput,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Also record the result on a Palisade server (`POST /api/v1/catalogs`): the catalog is
    /// matched and decided there with the server's database and policy, kept in its store,
    /// and matched again whenever that database changes.
    #[arg(long, value_name = "URL", env = "PALISADE_SERVER")]
    server: Option<String>,

    /// The server's API token (admin role; `palisade store token create --role admin`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PALISADE_SERVER_TOKEN",
        hide_env_values = true
    )]
    server_token: Option<String>,

    /// The name to record the image under (`registry/repository[:tag]`); default: its own
    /// reference, for an image read from a registry.
    #[arg(long, value_name = "REF", requires = "server")]
    server_name: Option<String>,

    /// For a directory: leave out paths matching GLOB, relative to the directory (`home/**`,
    /// `**/node_modules`); a matching directory is not entered. Repeatable.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,

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

impl From<Action> for palisade_scan::Action {
    fn from(a: Action) -> palisade_scan::Action {
        match a {
            Action::Deny => palisade_scan::Action::Deny,
            Action::Warn => palisade_scan::Action::Warn,
            Action::Ignore => palisade_scan::Action::Ignore,
        }
    }
}

pub(crate) fn run(args: &ScanArgs) -> Result<u8> {
    let filters = Filters {
        severities: args.severity.iter().map(|l| Severity::from(*l)).collect(),
        min_cvss: args.min_cvss,
        ignore_unfixed: args.ignore_unfixed,
        unknown_severity: args.unknown_severity.into(),
    };
    filters.validate()?;
    let ignores = match &args.ignorefile {
        Some(path) => IgnoreList::load(path, &palisade_scan::today())?,
        None => IgnoreList::default(),
    };
    let vex = VexSet::load(&args.vex)?;
    let db = VulnDb::new(args.db.path()?);
    let options =
        crate::args::with_exclude(&args.source, args.source_args.options(), &args.exclude)?;
    let scanner = Scanner::new(&db, &options, &Terminal);
    let (catalog, evaluated) = match Source::parse(&args.source) {
        Source::Sbom(path) => scanner.scan_sbom(path)?,
        Source::Image(source) => {
            scanner.scan_image(&palisade_scan::open_image(source, &options)?)?
        }
    };
    let doc = Report::new(&catalog, evaluated, &filters, ignores, &vex);

    // Warnings go to standard error in every format (SARIF and CycloneDX have no place for
    // most of them), never into the report on standard output.
    {
        let mut stderr = io::stderr().lock();
        for e in &doc.ignore_expired {
            writeln!(stderr, "palisade: warning: {}", e.message)?;
        }
        if args.coverage != Action::Ignore {
            for line in doc.not_checked_lines() {
                writeln!(stderr, "palisade: warning: {line}")?;
            }
        }
        if args.unknown_severity == Action::Warn && doc.unknown_severity_dropped > 0 {
            writeln!(
                stderr,
                "palisade: warning: {} finding(s) of UNKNOWN severity left out by \
                 --severity/--min-cvss (--unknown-severity deny keeps them)",
                doc.unknown_severity_dropped
            )?;
        }
        if let Some(stale) =
            palisade_scan::staleness(doc.db.built.as_deref(), args.max_age, &Timestamp::now())
        {
            if args.fail_on_stale {
                anyhow::bail!("{stale} (--fail-on-stale)");
            }
            writeln!(stderr, "palisade: warning: {stale}")?;
        }
    }

    let mut out = render::open_output(args.output.as_deref())?;
    let texts = || {
        advisory_texts(
            db.database()?,
            doc.findings
                .iter()
                .chain(doc.ignored.iter().map(|i| &i.finding)),
        )
    };
    match args.format {
        ScanOutput::Json => render::json(&doc, &mut out)?,
        ScanOutput::Table => render::scan::table(&doc, &texts()?, &mut out)?,
        ScanOutput::Sarif => render::json(&render::scan::sarif(&doc, &texts()?), &mut out)?,
        ScanOutput::Cyclonedx => {
            render::json(
                &render::scan::cyclonedx(&catalog, &doc, &texts()?),
                &mut out,
            )?;
        }
        ScanOutput::Junit => out.write_all(render::scan::junit(&doc, &catalog).as_bytes())?,
    }
    out.flush()?;
    if let Some(server) = &args.server {
        record_on_server(args, server, &catalog)?;
    }
    Ok(if doc.fails(args.coverage.into()) {
        args.exit_code
    } else {
        exit::OK
    })
}

/// `--server`: sends the catalog to the server and prints its verdicts on standard error.
fn record_on_server(
    args: &ScanArgs,
    server: &str,
    catalog: &palisade_catalog::Catalog,
) -> Result<()> {
    let token = args.server_token.as_deref().ok_or_else(|| {
        anyhow::anyhow!("--server needs --server-token (or PALISADE_SERVER_TOKEN)")
    })?;
    let digest = catalog.source.manifest_digest.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "--server: {} has no manifest digest (an SBOM cannot be recorded; scan the image)",
            args.source
        )
    })?;
    let name = match (&args.server_name, &catalog.source.reference) {
        (Some(n), _) => n.clone(),
        (None, Some(r)) if args.source.starts_with("registry:") => r.clone(),
        _ => anyhow::bail!(
            "--server: name the image with --server-name registry/repository:tag (a local \
             image's own tag says nothing of where it will run)"
        ),
    };
    let name = name
        .split_once('@')
        .map_or(name.as_str(), |(n, _)| n)
        .to_owned();
    let body = serde_json::to_vec(&serde_json::json!({
        "name": name,
        "digest": digest,
        "catalog": catalog,
    }))?;
    let client = palisade_image::HttpClient::new(
        &palisade_image::HttpOptions {
            insecure: Vec::new(),
            ca_file: args.source_args.options().ca_file,
            deadline: args.source_args.options().http_timeout,
        },
        false,
    )?;
    let url = format!("{}/api/v1/catalogs", server.trim_end_matches('/'));
    let auth = format!("Bearer {token}");
    let resp = client.post(
        &url,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        &body,
    )?;
    let status = resp.status();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(resp.into_reader(), 1 << 20),
        &mut text,
    )?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        anyhow::bail!("{url} answered {status}: {message}");
    }
    let answer: serde_json::Value = serde_json::from_str(&text)?;
    let verdicts = answer["verdicts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(e, v)| format!("{e}: {}", v.as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    writeln!(
        io::stderr().lock(),
        "palisade: recorded {name}@{digest} on {server} ({verdicts})"
    )?;
    Ok(())
}
