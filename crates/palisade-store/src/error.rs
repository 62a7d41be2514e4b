//! What can go wrong in the store.

/// A store error. Every one of them makes a decision that needs the store fail closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be opened or reached.
    #[error("store {url}: {message}")]
    Open {
        /// The store's location, without its password.
        url: String,
        /// Why.
        message: String,
    },
    /// The store was written by a newer Palisade.
    #[error(
        "the store is at schema version {found}, newer than this build's {known}: upgrade Palisade (a store is never migrated down)"
    )]
    TooNew {
        /// The store's version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The store needs migrations this process was told not to apply.
    #[error(
        "the store is at schema version {found}, this build needs {needed}: run `palisade store migrate` (or start the server with `store.migrate: true`)"
    )]
    NotMigrated {
        /// The store's version.
        found: i64,
        /// The version needed.
        needed: i64,
    },
    /// A migration failed; it was rolled back.
    #[error("migration {version} failed (rolled back): {message}")]
    Migration {
        /// Its number.
        version: i64,
        /// Why.
        message: String,
    },
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no.
    #[error("postgresql: {0}")]
    Postgres(#[from] postgres::Error),
    /// A stored value did not read back.
    #[error("stored {what} is damaged: {message}")]
    Corrupt {
        /// Which value.
        what: String,
        /// Why.
        message: String,
    },
    /// A value handed to the store is over one of its limits.
    #[error("{0}")]
    Limit(String),
    /// A job's lease expired and another worker holds it now: nothing was written.
    #[error("job {job}: its lease expired and another worker took it over; nothing was written")]
    LeaseLost {
        /// The job.
        job: i64,
    },
    /// Every connection of this process is in use and none was given back in time.
    #[error(
        "all {open} store connections of this process are busy and none came free within {waited:?} (store.max_connections)"
    )]
    Busy {
        /// The cap.
        open: usize,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// A bug in the store's queries.
    #[error("internal: {0}")]
    Internal(String),
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
