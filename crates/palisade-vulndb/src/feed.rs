//! Building the database from feed inputs on disk: one function that tells a feed's kind and
//! hands it to the right importer ([`add_feed`], used by every command and service that
//! writes the database), and the whole of a local import under the writers' lock
//! ([`import_feeds`], what `palisade db import` does).
//!
//! Not for: downloading feeds (the `update` module, behind the `fetch` feature, stages the
//! downloads and then calls [`add_feed`] on them), printing (progress arrives through a
//! callback, results come back typed), or choosing exit codes.

use std::path::{Path, PathBuf};

use crate::{
    Database, DatabaseBuilder, Error, FeedInfo, FeedKind, Limits, Status, Timestamp, WriteLock,
    detect_feed_kind, import_alpine_secdb, import_debian_tracker, import_epss, import_kev,
    import_nvd, import_osv,
};

/// One feed input added to a [`DatabaseBuilder`] by [`add_feed`].
#[derive(Clone, Debug)]
pub struct AddedFeed {
    /// What the input was detected as.
    pub kind: FeedKind,
    /// The feed as it will be recorded in the database (name, source, records, snapshot).
    pub feed: FeedInfo,
    /// Records skipped or kept unevaluable, with the reason (the import went on).
    pub warnings: Vec<String>,
}

/// Why a feed input, or a local import, failed. The message of each variant names the input;
/// the cause is its [`std::error::Error::source`], to be shown after it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The input's kind could not be told, or the database could not be locked, read or
    /// written (the error names the file).
    #[error(transparent)]
    Db(#[from] Error),
    /// The input's kind was told, but its importer refused it.
    #[error("importing {}", path.display())]
    Feed {
        /// The feed input.
        path: PathBuf,
        /// What the importer found wrong.
        source: Box<Error>,
    },
    /// The database's directory could not be created.
    #[error("creating {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Keeping the previous database's other feeds was asked for, but it cannot be read.
    #[error("the previous database {} cannot be read", path.display())]
    Previous {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: Box<Error>,
    },
}

/// Detects the kind of the feed at `path` ([`detect_feed_kind`]), imports it with that kind's
/// importer, and adds it to `builder` with `imported_at` as its import time. `source`, when
/// given, replaces the path as where the feed is recorded to come from (e.g. the feed cache
/// path of a file imported from a staging directory).
///
/// # Errors
/// [`ImportError::Db`] when the kind cannot be told (the error names the path),
/// [`ImportError::Feed`] when the importer refuses the input; `builder` is then unchanged.
pub fn add_feed(
    builder: &mut DatabaseBuilder,
    path: &Path,
    source: Option<&str>,
    limits: &Limits,
    imported_at: &Timestamp,
) -> Result<AddedFeed, ImportError> {
    let kind = detect_feed_kind(path, limits)?;
    let failed = |source: Error| ImportError::Feed {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let set_source = |feed: &mut FeedInfo| {
        if let Some(s) = source {
            s.clone_into(&mut feed.source);
        }
    };
    let now = imported_at.clone();
    let (feed, warnings) = match kind {
        FeedKind::Osv | FeedKind::Alpine | FeedKind::Debian => {
            let mut import = match kind {
                FeedKind::Osv => import_osv(path, limits),
                FeedKind::Alpine => import_alpine_secdb(path, limits),
                _ => import_debian_tracker(path, limits),
            }
            .map_err(failed)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add(import, now);
            out
        }
        FeedKind::Nvd => {
            let mut import = import_nvd(path, limits).map_err(failed)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add_enrichment(import, now);
            out
        }
        FeedKind::Kev => {
            let mut import = import_kev(path, limits).map_err(failed)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add_kev(import, now);
            out
        }
        FeedKind::Epss => {
            let mut import = import_epss(path, limits).map_err(failed)?;
            set_source(&mut import.feed);
            let out = (import.feed.clone(), std::mem::take(&mut import.warnings));
            builder.add_epss(import, now);
            out
        }
    };
    Ok(AddedFeed {
        kind,
        feed,
        warnings,
    })
}

/// How [`import_feeds`] writes the database.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Keep the previous database's feeds that the inputs do not replace (a feed is replaced
    /// by an input giving a feed of the same name); otherwise the new database holds exactly
    /// the inputs.
    pub add: bool,
    /// Replace the database even when the new one would drop a feed or keep less than half
    /// of a feed's records (see [`DatabaseBuilder::allow_shrink`]).
    pub allow_shrink: bool,
    /// The importers' bounds.
    pub limits: Limits,
}

/// What happened during [`import_feeds`], as it happens.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ImportEvent<'a> {
    /// Taking the writers' lock removed a temporary file of an interrupted write.
    RemovedTempFile(&'a Path),
    /// An input is about to be read (feeds can take seconds each).
    Importing {
        /// The input, as given.
        path: &'a Path,
    },
}

/// What [`import_feeds`] wrote.
#[derive(Clone, Debug)]
pub struct ImportReport {
    /// Each input, in the order given, with what it was imported as.
    pub feeds: Vec<(PathBuf, AddedFeed)>,
    /// With [`ImportOptions::add`] and a previous database: the names of the feeds kept from
    /// it. `None` when nothing was to be kept.
    pub kept: Option<Vec<String>>,
    /// The new database.
    pub status: Status,
}

/// Builds the database at `db` from local feed inputs (files or directories of any kind
/// [`detect_feed_kind`] knows), under the database's [`WriteLock`], replacing it atomically.
/// The database's directory is created when missing. `on_event` hears of stale temporary
/// files removed when the lock is taken.
///
/// # Errors
/// The first input that cannot be detected or imported (naming it), the lock being held by
/// another writer, a shrink refused ([`Error::Shrink`]), an unreadable previous database with
/// [`ImportOptions::add`] ([`ImportError::Previous`]), or a write failure. The previous
/// database is then unchanged.
pub fn import_feeds(
    db: &Path,
    paths: &[PathBuf],
    options: &ImportOptions,
    on_event: &mut dyn FnMut(ImportEvent<'_>),
) -> Result<ImportReport, ImportError> {
    if let Some(dir) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ImportError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let lock = WriteLock::acquire(db)?;
    for p in lock.removed() {
        on_event(ImportEvent::RemovedTempFile(p));
    }
    let now = Timestamp::now();
    let mut builder = DatabaseBuilder::new(db);
    builder.allow_shrink(options.allow_shrink);
    let mut feeds = Vec::with_capacity(paths.len());
    for path in paths {
        on_event(ImportEvent::Importing { path });
        let added = add_feed(&mut builder, path, None, &options.limits, &now)?;
        feeds.push((path.clone(), added));
    }
    let mut kept = None;
    if options.add {
        match Database::open_read_only(db) {
            Ok(previous) => kept = Some(builder.keep_other_feeds(&previous)?),
            Err(Error::Missing { .. }) => {}
            Err(source) => {
                return Err(ImportError::Previous {
                    path: db.to_path_buf(),
                    source: Box::new(source),
                });
            }
        }
    }
    let status = builder.finish_locked(&lock)?;
    Ok(ImportReport {
        feeds,
        kept,
        status,
    })
}
