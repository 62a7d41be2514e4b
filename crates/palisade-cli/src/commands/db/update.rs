//! `palisade db update`: its arguments, its progress and summary lines on stderr, and its exit
//! code. The work (feed names to URLs, conditional downloads into a staging directory, the
//! rebuild under the writers' lock, the monotonic check, committing to the feed cache) is
//! [`palisade_vulndb::update`]'s, whose documentation says what survives a crash.
//!
//! Transport: [`palisade_image::http`], the policy every HTTP client of Palisade keeps (system
//! roots plus `--ca-file`, no plain HTTP but to loopback, redirects checked like direct URLs,
//! a total deadline per download).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use clap::Args;
use palisade_image::http;
use palisade_vulndb::update::{HttpOptions, UpdateError, UpdateEvent, UpdateOptions, update};

use super::{DbPathArgs, WriteArgs, removed_line, warning_count};
use crate::exit;
use crate::progress::{self, Steps, note};

#[derive(Args, Debug)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    db: DbPathArgs,

    /// Fetch every feed from this mirror instead of upstream; it has the layout of the feed
    /// snapshots: `URL/osv/<ECOSYSTEM>/all.zip`, `URL/kev/known_exploited_vulnerabilities.json`,
    /// `URL/epss/epss_scores-current.csv.gz`, `URL/alpine-secdb/v3.N/{main,community}.yaml`.
    /// Plain `http://` only for loopback hosts.
    #[arg(long, value_name = "URL", env = "PALISADE_MIRROR")]
    mirror: Option<String>,

    /// Comma-separated feeds: `osv/<ECOSYSTEM>`, `kev`, `epss`, `alpine-secdb/v3.N`
    /// [default: OSV PyPI, Go, crates.io, npm, Maven, RubyGems, Packagist, NuGet, Debian,
    /// Alpine, kev and epss].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    feeds: Vec<String>,

    /// Extra CA certificates (PEM) to trust, on top of the system roots.
    #[arg(long, value_name = "FILE", env = "PALISADE_CA_FILE")]
    ca_file: Option<PathBuf>,

    /// The total time one download may take, connecting, redirects and the whole body
    /// included: `90s`, `30m`, `2h` (plain numbers are seconds) [default: 30m].
    #[arg(long, value_name = "DURATION", env = "PALISADE_HTTP_TIMEOUT",
          value_parser = http::parse_duration)]
    http_timeout: Option<Duration>,

    #[command(flatten)]
    write: WriteArgs,
}

pub(crate) fn run(args: &UpdateArgs) -> Result<u8> {
    let db_path = args.db.path()?;
    let options = UpdateOptions {
        feeds: args.feeds.clone(),
        mirror: args.mirror.clone(),
        http: HttpOptions {
            insecure: Vec::new(),
            ca_file: args.ca_file.clone(),
            deadline: args.http_timeout,
        },
        allow_shrink: args.write.allow_shrink,
        limits: palisade_vulndb::Limits::default(),
    };
    let steps = Steps::new();
    let result = update(&db_path, &options, &mut |event| show_event(&steps, event));
    drop(steps);
    let report = result.map_err(cli_error)?;
    let Some(rebuilt) = &report.rebuilt else {
        note(format_args!(
            "all feeds are up to date; {} unchanged",
            db_path.display()
        ));
        return Ok(exit::OK);
    };
    let verbose = progress::verbose();
    for f in &rebuilt.feeds {
        let feed = &f.added.feed;
        note(format_args!(
            "imported {}: {} records from {}{}",
            feed.name,
            feed.records,
            f.rel,
            warning_count(f.added.warnings.len(), verbose)
        ));
        if verbose {
            for w in &f.added.warnings {
                note(format_args!("  warning: {w}"));
            }
        }
    }
    if let Some(e) = &rebuilt.previous_unreadable {
        // Not quiet: feeds of the previous database are gone from the new one.
        let _ = writeln!(
            io::stderr(),
            "palisade: warning: the previous database cannot be read ({e}); its feeds are not kept"
        );
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    note(format_args!(
        "refreshed (downloaded): {}",
        list(&rebuilt.refreshed())
    ));
    note(format_args!(
        "rebuilt from the feed cache: {}",
        list(&rebuilt.from_cache())
    ));
    note(format_args!(
        "kept from the previous database (not in the feed cache, e.g. added by `db import`): {}",
        list(&rebuilt.kept)
    ));
    note(format_args!(
        "wrote {}: {} advisories from {} feeds",
        db_path.display(),
        rebuilt.status.advisories,
        rebuilt.status.feeds.len()
    ));
    Ok(exit::OK)
}

/// What an event says: the step under way, a line that stays, or a failure (also with
/// `--quiet`).
fn show_event(steps: &Steps, event: UpdateEvent<'_>) {
    match event {
        UpdateEvent::RemovedTempFile(p) => steps.line(removed_line(p)),
        UpdateEvent::RemovedStaging(dir) => steps.line(format_args!(
            "removed the staging directory of an interrupted update: {}",
            dir.display()
        )),
        UpdateEvent::Downloading { file } => {
            steps.step(format_args!("{}: downloading {}", file.rel, file.url));
        }
        UpdateEvent::Importing { rel } => steps.step(format_args!("importing {rel}")),
        UpdateEvent::Downloaded { file, bytes } => steps.line(format_args!(
            "{}: downloaded {bytes} bytes from {}",
            file.rel, file.url
        )),
        UpdateEvent::NotModified { file } => steps.line(format_args!("{}: not modified", file.rel)),
        UpdateEvent::Failed { file, error } => {
            steps.always(format_args!("{}: failed: {}", file.rel, with_causes(error)));
        }
        _ => {}
    }
}

/// An error and its causes, `: `-separated (as `{:#}` shows an `anyhow::Error`).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let _ = write!(text, ": {c}");
        cause = c.source();
    }
    text
}

/// The library's error, with the flag it concerns named where the user typed it.
fn cli_error(e: UpdateError) -> anyhow::Error {
    match e {
        UpdateError::NoFeeds
        | UpdateError::UnknownFeed { .. }
        | UpdateError::BadFeedName { .. } => {
            anyhow!("--feeds: {e}")
        }
        UpdateError::NotAFilePath { .. } => anyhow!("--db: not a file path"),
        e => e.into(),
    }
}
