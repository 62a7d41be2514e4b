//! `palisade db import` and `palisade db status`: building the vulnerability database from
//! local feed files, and showing what it holds.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use palisade_vulndb::{Database, DatabaseBuilder, FeedInfo, Limits, Timestamp, WriteLock};
use serde_json::{Value, json};

use crate::{exit, render};

/// `--db`, shared by `db` and `scan`.
pub(crate) use crate::args::DbPathArgs;

/// What `db import` and `db update` share about writing the database.
#[derive(Args, Debug, Clone)]
pub(crate) struct WriteArgs {
    /// Replace the database even when the new one would drop one of its feeds or keep less
    /// than half of a feed's records (refused by default, naming what would be lost).
    #[arg(long)]
    pub(crate) allow_shrink: bool,

    /// List every import warning (records skipped or kept unevaluable), not only their count.
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Build a new database from local feed files (replaces the previous one atomically;
    /// with `--add`, adds them to it).
    ///
    /// A new database that would drop a feed of the previous one, or keep less than half of
    /// a feed's records, is refused unless `--allow-shrink`. Each PATH's kind is detected: an OSV `.zip` export or directory of OSV `.json` records;
    /// an Alpine secdb directory (`v3.N/*.yaml`) or `.yaml` file; a `.json` file holding a CISA
    /// KEV catalog, an NVD CVE API 2.0 page, a single OSV record, an Alpine secdb, or the Debian
    /// security tracker's JSON.
    Import(ImportArgs),
    /// Show the database's schema version, build date and feeds.
    Status(StatusArgs),
    /// Download the feeds (upstream, or `--mirror`) into a cache next to the database, with
    /// conditional requests, and rebuild the database from them (atomically).
    ///
    /// Feeds of the database that the cache does not hold (added by `db import`) are kept.
    /// A new database that would drop a feed or keep less than half of a feed's records is
    /// refused unless `--allow-shrink`. Every download has a total deadline
    /// (`--http-timeout`).
    Update(super::update::UpdateArgs),
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// Feed files or directories; the new database holds exactly these (with `--add`: these
    /// and the previous database's other feeds).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Keep the previous database's feeds that these PATHs do not replace (a feed is
    /// replaced by a PATH giving a feed of the same name).
    #[arg(long)]
    add: bool,

    #[command(flatten)]
    write: WriteArgs,

    #[command(flatten)]
    db: DbPathArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StatusFormat {
    /// A summary for people.
    Table,
    /// JSON.
    Json,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    db: DbPathArgs,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: StatusFormat,

    /// Warn when the data is older than this many days (the exit code stays 0).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    max_age: u64,
}

pub(crate) fn run(args: &DbArgs) -> Result<u8> {
    match &args.command {
        DbCommand::Import(a) => import(a),
        DbCommand::Status(a) => status(a),
        DbCommand::Update(a) => super::update::run(a),
    }
}

/// What a feed input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Osv,
    Alpine,
    Debian,
    Nvd,
    Kev,
    Epss,
}

/// The kind of the feed at `path`, told from its name and its first bytes (never by reading
/// it whole); FIFOs, sockets and devices are refused by type.
pub(crate) fn detect(path: &Path) -> Result<Kind> {
    use palisade_vulndb::FeedKind;
    Ok(
        match palisade_vulndb::detect_feed_kind(path, &Limits::default())? {
            FeedKind::Osv => Kind::Osv,
            FeedKind::Alpine => Kind::Alpine,
            FeedKind::Debian => Kind::Debian,
            FeedKind::Nvd => Kind::Nvd,
            FeedKind::Kev => Kind::Kev,
            FeedKind::Epss => Kind::Epss,
            kind => bail!("{}: feed kind {kind:?} is not supported", path.display()),
        },
    )
}

/// Imports `path` (of `kind`) into `builder`, recording `source` (default: the path) as
/// where it came from. Returns the feed and its warnings.
pub(crate) fn add_feed(
    builder: &mut DatabaseBuilder,
    path: &Path,
    kind: Kind,
    source: Option<String>,
    limits: &Limits,
    now: &Timestamp,
) -> Result<(FeedInfo, Vec<String>)> {
    let ctx = || format!("importing {}", path.display());
    let set_source = |feed: &mut FeedInfo| {
        if let Some(s) = &source {
            feed.source.clone_from(s);
        }
    };
    Ok(match kind {
        Kind::Osv | Kind::Alpine | Kind::Debian => {
            let mut import = match kind {
                Kind::Osv => palisade_vulndb::import_osv(path, limits),
                Kind::Alpine => palisade_vulndb::import_alpine_secdb(path, limits),
                _ => palisade_vulndb::import_debian_tracker(path, limits),
            }
            .with_context(ctx)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add(import, now.clone());
            out
        }
        Kind::Nvd => {
            let mut import = palisade_vulndb::import_nvd(path, limits).with_context(ctx)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add_enrichment(import, now.clone());
            out
        }
        Kind::Kev => {
            let mut import = palisade_vulndb::import_kev(path, limits).with_context(ctx)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add_kev(import, now.clone());
            out
        }
        Kind::Epss => {
            let mut import = palisade_vulndb::import_epss(path, limits).with_context(ctx)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add_epss(import, now.clone());
            out
        }
    })
}

/// `, 45 warnings (--verbose lists them)`, or nothing when there are none.
pub(crate) fn warning_count(n: usize, verbose: bool) -> String {
    match n {
        0 => String::new(),
        _ if verbose => format!(", {n} warnings"),
        _ => format!(", {n} warnings (--verbose lists them)"),
    }
}

/// Says which stale temporary files the writers' lock removed.
pub(crate) fn report_removed(out: &mut impl Write, removed: &[PathBuf]) -> io::Result<()> {
    for p in removed {
        writeln!(
            out,
            "removed a temporary file of an interrupted write: {}",
            p.display()
        )?;
    }
    Ok(())
}

fn import(args: &ImportArgs) -> Result<u8> {
    let db_path = args.db.path()?;
    if let Some(dir) = db_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let lock = WriteLock::acquire(&db_path)?;
    let mut stderr = io::stderr().lock();
    report_removed(&mut stderr, lock.removed())?;
    let limits = Limits::default();
    let now = now_timestamp();
    let mut builder = DatabaseBuilder::new(&db_path);
    builder.allow_shrink(args.write.allow_shrink);
    let mut lines = Vec::new();
    for path in &args.paths {
        let kind = detect(path)?;
        let (feed, warnings) = add_feed(&mut builder, path, kind, None, &limits, &now)?;
        lines.push(format!(
            "imported {}: {} records{}{} from {}",
            feed.name,
            feed.records,
            feed.snapshot
                .as_ref()
                .map_or_else(String::new, |s| format!(", snapshot {s}")),
            warning_count(warnings.len(), args.write.verbose),
            path.display()
        ));
        if args.write.verbose {
            lines.extend(warnings.iter().map(|w| format!("  warning: {w}")));
        }
    }
    if args.add {
        match Database::open_read_only(&db_path) {
            Ok(previous) => {
                let kept = builder.keep_other_feeds(&previous)?;
                lines.push(format!(
                    "kept from the previous database: {}",
                    if kept.is_empty() {
                        "none".to_owned()
                    } else {
                        kept.join(", ")
                    }
                ));
            }
            Err(palisade_vulndb::Error::Missing { .. }) => {}
            Err(e) => {
                return Err(e).context("--add: the previous database cannot be read");
            }
        }
    }
    // Its errors name the file (and, refusing a shrink, what would be lost).
    let status = builder.finish_locked(&lock)?;
    for l in &lines {
        writeln!(stderr, "{l}")?;
    }
    writeln!(
        stderr,
        "wrote {}: {} advisories from {} feeds, built {}",
        db_path.display(),
        status.advisories,
        status.feeds.len(),
        status
            .built
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    )?;
    Ok(exit::OK)
}

fn status(args: &StatusArgs) -> Result<u8> {
    let db_path = args.db.path()?;
    let db = Database::open_read_only(&db_path)?;
    let status = db.status()?;
    let now = unix_now();
    let age_days = status
        .built
        .as_ref()
        .map(|b| (now - b.unix_seconds()).max(0) / 86_400);
    let stale = age_days.is_none_or(|a| u64::try_from(a).unwrap_or(0) > args.max_age);
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        StatusFormat::Json => {
            let feeds: Vec<Value> = status
                .feeds
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name,
                        "source": f.source,
                        "records": f.records,
                        "snapshot": f.snapshot.as_ref().map(Timestamp::as_str),
                        "imported_at": f.imported_at.as_str(),
                    })
                })
                .collect();
            let doc = json!({
                "path": db_path.display().to_string(),
                "schema_version": status.schema_version,
                "built": status.built.as_ref().map(Timestamp::as_str),
                "age_days": age_days,
                "max_age_days": args.max_age,
                "stale": stale,
                "advisories": status.advisories,
                "feeds": feeds,
            });
            render::json(&doc, &mut out)?;
        }
        StatusFormat::Table => {
            writeln!(out, "database:       {}", db_path.display())?;
            writeln!(out, "schema version: {}", status.schema_version)?;
            writeln!(
                out,
                "built:          {}{}",
                status.built.as_ref().map_or("-", Timestamp::as_str),
                age_days.map_or_else(String::new, |a| format!(" ({a} days ago)"))
            )?;
            writeln!(out, "advisories:     {}", status.advisories)?;
            writeln!(out, "feeds:          {}", status.feeds.len())?;
            let rows: Vec<[String; 4]> = status
                .feeds
                .iter()
                .map(|f| {
                    [
                        f.name.clone(),
                        f.records.to_string(),
                        f.snapshot
                            .as_ref()
                            .map_or_else(|| "-".to_owned(), ToString::to_string),
                        f.imported_at.to_string(),
                    ]
                })
                .collect();
            render::columns(
                &["FEED", "RECORDS", "SNAPSHOT", "IMPORTED"],
                &rows,
                &mut out,
            )?;
        }
    }
    out.flush()?;
    if stale {
        let mut stderr = io::stderr().lock();
        match age_days {
            Some(a) => writeln!(
                stderr,
                "palisade: warning: the vulnerability database is {a} days old (more than --max-age {}); run `palisade db update` (or `palisade db import` with newer feeds)",
                args.max_age
            )?,
            None => writeln!(
                stderr,
                "palisade: warning: the vulnerability database has no build date"
            )?,
        }
    }
    Ok(exit::OK)
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The clock as an RFC 3339 timestamp (UTC, whole seconds).
pub(crate) fn now_timestamp() -> Timestamp {
    let secs = unix_now();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    Timestamp::parse(&text).unwrap_or_else(|_| {
        Timestamp::parse("1970-01-01T00:00:00Z").expect("a valid constant timestamp")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_a_valid_timestamp_near_the_clock() {
        let t = now_timestamp();
        assert!((t.unix_seconds() - unix_now()).abs() <= 2, "{t}");
    }
}
