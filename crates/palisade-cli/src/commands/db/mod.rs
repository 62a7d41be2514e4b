//! `palisade db import` and `palisade db status`: building the vulnerability database from
//! local feed files, and showing what it holds. Here are their arguments, their lines and
//! their exit codes; the import itself (kind detection, importers, the writers' lock, the
//! monotonic check) is [`palisade_vulndb::import_feeds`].

mod update;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use palisade_vulndb::{
    Database, ImportError, ImportEvent, ImportOptions, Limits, Timestamp, import_feeds,
};
use serde_json::{Value, json};

use crate::progress::{self, Steps};
use crate::{exit, render};

/// `--db`, shared by `db` and `scan`.
use crate::args::DbPathArgs;

/// What `db import` and `db update` share about writing the database.
#[derive(Args, Debug, Clone)]
pub(crate) struct WriteArgs {
    /// Replace the database even when the new one would drop one of its feeds or keep less
    /// than half of a feed's records (refused by default, naming what would be lost).
    #[arg(long)]
    pub(crate) allow_shrink: bool,
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
    Update(update::UpdateArgs),
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
    #[arg(
        long,
        short = 'f',
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    format: StatusFormat,

    /// Warn when the data is older than this many days (the exit code stays 0).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    max_age: u64,
}

pub(crate) fn run(args: &DbArgs) -> Result<u8> {
    match &args.command {
        DbCommand::Import(a) => import(a),
        DbCommand::Status(a) => status(a),
        DbCommand::Update(a) => update::run(a),
    }
}

/// `, 45 warnings (--verbose lists them)`, or nothing when there are none.
pub(crate) fn warning_count(n: usize, verbose: bool) -> String {
    match n {
        0 => String::new(),
        _ if verbose => format!(", {n} warnings"),
        _ => format!(", {n} warnings (--verbose lists them)"),
    }
}

/// Says that the writers' lock removed a stale temporary file.
pub(crate) fn removed_line(removed: &Path) -> String {
    format!(
        "removed a temporary file of an interrupted write: {}",
        removed.display()
    )
}

fn import(args: &ImportArgs) -> Result<u8> {
    let db_path = args.db.path()?;
    let options = ImportOptions {
        add: args.add,
        allow_shrink: args.write.allow_shrink,
        limits: Limits::default(),
    };
    let verbose = progress::verbose();
    let steps = Steps::new();
    let result = import_feeds(&db_path, &args.paths, &options, &mut |event| match event {
        ImportEvent::RemovedTempFile(p) => steps.line(removed_line(p)),
        ImportEvent::Importing { path } => steps.step(format_args!("importing {}", path.display())),
        _ => {}
    });
    drop(steps);
    let report = match result {
        Ok(report) => report,
        Err(ImportError::Previous { source, .. }) => {
            return Err(*source).context("--add: the previous database cannot be read");
        }
        Err(e) => return Err(e.into()),
    };
    let mut lines = Vec::new();
    for (path, added) in &report.feeds {
        let feed = &added.feed;
        lines.push(format!(
            "imported {}: {} records{}{} from {}",
            feed.name,
            feed.records,
            feed.snapshot
                .as_ref()
                .map_or_else(String::new, |s| format!(", snapshot {s}")),
            warning_count(added.warnings.len(), verbose),
            path.display()
        ));
        if verbose {
            lines.extend(added.warnings.iter().map(|w| format!("  warning: {w}")));
        }
    }
    if let Some(kept) = &report.kept {
        lines.push(format!(
            "kept from the previous database: {}",
            if kept.is_empty() {
                "none".to_owned()
            } else {
                kept.join(", ")
            }
        ));
    }
    let status = &report.status;
    for l in &lines {
        progress::note(l);
    }
    progress::note(format_args!(
        "wrote {}: {} advisories from {} feeds, built {}",
        db_path.display(),
        status.advisories,
        status.feeds.len(),
        status
            .built
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    ));
    Ok(exit::OK)
}

fn status(args: &StatusArgs) -> Result<u8> {
    let db_path = args.db.path()?;
    let db = Database::open_read_only(&db_path)?;
    let status = db.status()?;
    let now = Timestamp::now();
    let age_days = status
        .built
        .as_ref()
        .map(|b| now.whole_days_since(b).max(0));
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
