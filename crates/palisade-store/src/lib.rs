//! The server's store: the images it has analysed (digest, names, platform, the catalog
//! compressed, the facts a policy reads), their findings per database, their decisions per
//! repository and environment, where each image was seen running, hosts with their latest
//! hardening results, an event log, the job queue with leases, and hashed API tokens.
//!
//! Two databases behind one [`Store`]: SQLite, embedded, the default (a file under
//! `$XDG_DATA_HOME/palisade/`), and PostgreSQL for several server replicas sharing one store.
//! The queries are written once; migrations are numbered and applied in order.
//!
//! Not for: HTTP, policies, matching, images. The server decides; the store remembers. Values
//! the server owns (catalogs, facts, reasons) are opaque JSON here.
//!
//! ```no_run
//! use palisade_store::{OpenOptions, Store};
//!
//! let store = Store::open("sqlite:/var/lib/palisade/store.db", &OpenOptions::default())?;
//! println!("{:?}", store.status()?);
//! # Ok::<(), palisade_store::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
mod events;
mod hosts;
mod images;
mod jobs;
mod overview;
mod schema;
mod sql;
mod tokens;

use std::path::PathBuf;
use std::time::Duration;

pub use error::{Error, Result};
pub use events::{Event, EventFilter, NewEvent};
pub use hosts::{HostReport, HostRow};
pub use images::{
    AnalysisRecord, DecisionChange, DecisionRow, FindingRow, FleetHit, ImageDetail, ImageFilter,
    ImageName, ImageSummary, KeyHits, Sighting, Sort,
};
pub use jobs::{Claimed, Enqueued, Job, JobCounts, JobState};
pub use overview::{EventQuery, HIGH_EPSS, Posture, VerdictCount};
pub use schema::SCHEMA_VERSION;
pub use tokens::{Role, TokenInfo};

use sql::{Dialect, Pool};

/// How to open a store.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Apply missing migrations (otherwise a store behind this build is refused).
    pub migrate: bool,
    /// How long one connection attempt to PostgreSQL may take.
    pub connect_timeout: Duration,
    /// The deadline of every statement (PostgreSQL `statement_timeout` and `lock_timeout`;
    /// SQLite's busy timeout).
    pub statement_timeout: Duration,
    /// Connections kept open for reuse.
    pub max_idle: usize,
    /// The most connections this process opens; a caller beyond them waits up to
    /// `statement_timeout` for one.
    pub max_open: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            migrate: false,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            max_idle: 8,
            max_open: 32,
        }
    }
}

/// Which database a store is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// What `palisade store status` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    /// The database.
    pub backend: Backend,
    /// Where it is (a PostgreSQL password is never shown).
    pub location: String,
    /// The schema version the store is at.
    pub schema_version: i64,
    /// The version this build writes.
    pub schema_known: i64,
    /// Every migration, with when it was applied (seconds since the epoch).
    pub migrations: Vec<(i64, String, Option<i64>)>,
    /// Rows in the main tables (when the schema is current).
    pub counts: Vec<(String, i64)>,
}

/// One transaction: the writes made through it are committed together when the closure given
/// to [`Store::transaction`] returns `Ok`, and not at all otherwise. The server records an
/// analysis, its decisions, its events and their deliveries this way, so a replica killed
/// half-way leaves nothing half-written for the one that takes its job over.
pub struct Tx<'a> {
    conn: &'a mut dyn sql::Conn,
}

impl Tx<'_> {
    /// [`Store::enqueue`] in this transaction.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn enqueue(&mut self, kind: &str, key: &str, payload: &str) -> Result<Enqueued> {
        self.enqueue_at(kind, key, payload, 0)
    }
}

/// One store. Cheap to share (`Arc<Store>`); every method is synchronous and may block on
/// the database, so the server calls it from blocking threads.
pub struct Store {
    pool: Pool,
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; anything else as is.
#[must_use]
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(x) => x,
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The default SQLite store: `$XDG_DATA_HOME/palisade/store.db`, else
/// `~/.local/share/palisade/store.db`.
#[must_use]
pub fn default_location() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(data.join("palisade").join("store.db"))
}

/// Seconds since the epoch.
#[must_use]
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Milliseconds since the epoch.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens the store at `location`: `postgres://…` or `postgresql://…` (libpq's URL and
    /// key=value forms; a socket directory as `host=/run/postgresql`), `sqlite:PATH` or a path.
    ///
    /// # Errors
    /// It cannot be reached, or its schema is newer than this build, or older and
    /// `options.migrate` is false.
    pub fn open(location: &str, options: &OpenOptions) -> Result<Store> {
        let store = Store::connect(location, options)?;
        if options.migrate {
            schema::migrate(&store.pool, now())?;
        }
        let at = store.pool.with(schema::current)?;
        if at > SCHEMA_VERSION {
            return Err(Error::TooNew {
                found: at,
                known: SCHEMA_VERSION,
            });
        }
        if at < SCHEMA_VERSION {
            return Err(Error::NotMigrated {
                found: at,
                needed: SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    /// Opens the store and applies the migrations it misses: what `palisade store migrate`
    /// does. The versions applied now (none: it was current).
    ///
    /// # Errors
    /// It cannot be reached, a migration failed (and was rolled back), or the store is newer.
    pub fn migrate(location: &str, options: &OpenOptions) -> Result<(Store, Vec<i64>)> {
        let store = Store::connect(location, options)?;
        let applied = schema::migrate(&store.pool, now())?;
        Ok((store, applied))
    }

    /// Connects without looking at the schema.
    fn connect(location: &str, options: &OpenOptions) -> Result<Store> {
        let location = location.trim();
        let is_pg = location.starts_with("postgres://")
            || location.starts_with("postgresql://")
            || location.starts_with("host=");
        let pool = if is_pg {
            let url = location.to_owned();
            let (connect, statement) = (options.connect_timeout, options.statement_timeout);
            // Fail here rather than on the first request.
            let first = sql::Postgres::connect(&url, connect, statement)?;
            let pool = Pool::new(
                Dialect::Postgres,
                options.max_idle,
                options.max_open,
                statement,
                Box::new(move || {
                    Ok(Box::new(sql::Postgres::connect(&url, connect, statement)?)
                        as Box<dyn sql::Conn>)
                }),
            );
            pool.put(Box::new(first));
            pool
        } else {
            let path = PathBuf::from(location.strip_prefix("sqlite:").unwrap_or(location));
            if path.as_os_str().is_empty() {
                return Err(Error::Open {
                    url: location.to_owned(),
                    message: "no path".to_owned(),
                });
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::Open {
                    url: location.to_owned(),
                    message: format!("creating {}: {e}", dir.display()),
                })?;
            }
            let busy = options.statement_timeout;
            let first = sql::Sqlite::open(&path, busy)?;
            let pool = Pool::new(
                Dialect::Sqlite,
                options.max_idle,
                options.max_open,
                busy,
                Box::new(move || {
                    Ok(Box::new(sql::Sqlite::open(&path, busy)?) as Box<dyn sql::Conn>)
                }),
            );
            pool.put(Box::new(first));
            pool
        };
        Ok(Store {
            pool,
            location: redact(location),
        })
    }

    /// Runs `f` in one transaction ([`Tx`]): committed when it returns `Ok`, rolled back
    /// otherwise (its error is returned as is).
    ///
    /// # Errors
    /// `f`'s error, or the store's when it cannot begin or commit.
    pub fn transaction<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut outer: Option<E> = None;
        let result = self.pool.tx(|conn| {
            let mut tx = Tx { conn };
            match f(&mut tx) {
                Ok(v) => Ok(Some(v)),
                Err(e) => {
                    outer = Some(e);
                    // Any error rolls back.
                    Err(Error::Internal("rolled back".into()))
                }
            }
        });
        match (result, outer) {
            (_, Some(e)) => Err(e),
            (Ok(Some(v)), None) => Ok(v),
            (Ok(None), None) => Err(Error::Internal("transaction without a result".into()).into()),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self.pool.dialect {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
        }
    }

    /// The store's location, without a password.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Schema version, migrations and table sizes.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn status(&self) -> Result<Status> {
        self.pool.with(|conn| {
            let version = schema::current(conn)?;
            let migrations = schema::list(conn)?;
            let mut counts = Vec::new();
            if version == SCHEMA_VERSION {
                for table in [
                    "images",
                    "image_names",
                    "findings",
                    "decisions",
                    "sightings",
                    "hosts",
                    "events",
                    "jobs",
                    "tokens",
                ] {
                    let n = conn
                        .query_one(
                            &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"),
                            sql::params![],
                        )?
                        .map_or(0, |r| r.int(0));
                    counts.push((table.to_owned(), n));
                }
            }
            Ok(Status {
                backend: self.backend(),
                location: self.location.clone(),
                schema_version: version,
                schema_known: SCHEMA_VERSION,
                migrations,
                counts,
            })
        })
    }

    /// After a bulk rewrite (a full re-match rewrites every image's findings): on PostgreSQL
    /// `VACUUM (ANALYZE)` of the tables rewritten, so the planner's statistics and the
    /// visibility map are current and the fleet-wide queries use their indexes alone, instead
    /// of waiting for autovacuum; on SQLite `PRAGMA optimize`.
    ///
    /// # Errors
    /// The store refused (a statement timeout on a very large store, say); nothing is lost.
    pub fn maintain(&self) -> Result<()> {
        self.pool.with(|conn| match conn.dialect() {
            Dialect::Postgres => {
                conn.batch("VACUUM (ANALYZE) findings, finding_ids, image_keys, decisions, images")
            }
            Dialect::Sqlite => conn.batch("PRAGMA optimize"),
        })
    }

    /// A value of the store's own key-value table.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.pool.with(|conn| {
            Ok(conn
                .query_one("SELECT value FROM meta WHERE key = $1", sql::params![key])?
                .map(|r| r.text(0)))
        })
    }

    /// Sets a value of the key-value table.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.pool.with(|conn| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                sql::params![key, value],
            )?;
            Ok(())
        })
    }

    /// Sets `key` to `value` only if it is `expected` now (`None`: unset); whether it did.
    /// Two replicas racing to record the same change: exactly one wins.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn swap_meta(&self, key: &str, expected: Option<&str>, value: &str) -> Result<bool> {
        self.pool.tx(|conn| {
            let changed = match expected {
                None => conn.execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    sql::params![key, value],
                )?,
                Some(old) => conn.execute(
                    "UPDATE meta SET value = $2 WHERE key = $1 AND value = $3",
                    sql::params![key, value, old],
                )?,
            };
            Ok(changed == 1)
        })
    }

    /// A stored blob (compressed in the store, returned as written).
    ///
    /// # Errors
    /// The store cannot be read, or the blob is damaged.
    pub fn blob(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let row = self.pool.with(|conn| {
            conn.query_one("SELECT value FROM blobs WHERE key = $1", sql::params![key])
        })?;
        row.and_then(|r| r.blob(0).map(|b| decompress(b, key)))
            .transpose()
    }

    /// Stores a blob under `key`, replacing what was there.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn set_blob(&self, key: &str, value: &[u8]) -> Result<()> {
        let packed = compress(value)?;
        self.pool.with(|conn| {
            conn.execute(
                "INSERT INTO blobs (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                sql::params![key, packed],
            )?;
            Ok(())
        })
    }
}

/// The largest value the store decompresses (a catalog of the largest SBOM we accept, with
/// room to spare): a damaged or hostile row cannot make the server allocate more.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

pub(crate) fn compress(bytes: &[u8]) -> Result<Vec<u8>> {
    zstd::bulk::compress(bytes, 12).map_err(|e| Error::Internal(format!("zstd: {e}")))
}

pub(crate) fn decompress(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(|e| Error::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    decoder
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Corrupt {
            what: what.to_owned(),
            message: e.to_string(),
        })?;
    if out.len() > MAX_DECOMPRESSED {
        return Err(Error::Corrupt {
            what: what.to_owned(),
            message: format!("more than {MAX_DECOMPRESSED} bytes when decompressed"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://pal:s3cret@db.example:5432/palisade"),
            "postgres://pal:***@db.example:5432/palisade"
        );
        assert_eq!(redact("/var/lib/store.db"), "/var/lib/store.db");
    }
}
