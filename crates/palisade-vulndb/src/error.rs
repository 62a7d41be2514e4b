//! The crate's error type: every message names the operation, the file and the record.

use std::path::PathBuf;

/// What went wrong, and on which input.
///
/// Messages read `importing OSV PyPI/all.zip: PYSEC-2019-1.json: affected[0].ranges[1]: …`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `renaming the new database over`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A feed file or one of its records is malformed.
    #[error("importing {feed}: {record}: {message}")]
    Record {
        /// The feed and file, e.g. `OSV PyPI/all.zip` or `Alpine secdb v3.11/main.yaml`.
        feed: String,
        /// The record: a zip entry name, a file name, or `packages[12] (openssl)`.
        record: String,
        /// What is wrong, with the path inside the record (`affected[0].ranges[1]: …`).
        message: String,
    },
    /// A feed file as a whole is unreadable (not a zip, too many entries, too large…).
    #[error("importing {feed}: {message}")]
    Feed {
        /// The feed and file.
        feed: String,
        /// What is wrong.
        message: String,
    },
    /// A feed input whose kind could not be told (see [`crate::detect_feed_kind`]).
    #[error("{path}: {message}")]
    UnknownKind {
        /// The input.
        path: PathBuf,
        /// What was expected, and what was found.
        message: String,
    },
    /// SQLite failed on the database file.
    #[error("vulnerability database {path}: {action}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The database file was written by another version of Palisade (or is not one).
    #[error(
        "vulnerability database {path} has schema version {found}, this palisade reads version {expected}; \
         run `palisade db update` (or `palisade db import`) to rebuild it"
    )]
    SchemaVersion {
        /// The database file.
        path: PathBuf,
        /// The version found, or `none` when the file has no Palisade metadata.
        found: String,
        /// The version this crate reads and writes.
        expected: u32,
    },
    /// There is no database file yet.
    #[error(
        "no vulnerability database at {path}: build one with `palisade db update` (downloads the feeds) \
         or `palisade db import PATH...` (local feed files), or point --db / PALISADE_DB at one"
    )]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Another process is writing the database (it holds the writers' lock).
    #[error(
        "vulnerability database {path} is being written by another palisade process{}; \
         try again when it has finished (lock file {lock})",
        holder.as_ref().map_or_else(String::new, |h| format!(" ({h})"))
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as the holder wrote it (`pid 1234`), when readable.
        holder: Option<String>,
    },
    /// The new database would lose feeds or most of a feed's records; it was not written.
    #[error(
        "refusing to replace the vulnerability database {path}: {}; it was not changed \
         (pass --allow-shrink to replace it anyway)",
        losses.join("; ")
    )]
    Shrink {
        /// The database file.
        path: PathBuf,
        /// What would be lost, one entry per feed (`feed osv/PyPI: 2661 records would become 0`).
        losses: Vec<String>,
    },
    /// The database file is structurally broken (failed `PRAGMA integrity_check`, or holds a
    /// record that does not parse).
    #[error("vulnerability database {path}: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
