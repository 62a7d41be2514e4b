//! The database file: one SQLite file, built into a temporary file and renamed into place.
//!
//! Writers take [`WriteLock`] (an advisory lock on `<db>.lock`), so two updates never race,
//! and the lock holder removes the temporary files that killed writers left behind. A new
//! database that would lose a feed, or most of a feed's records, is refused unless allowed
//! ([`DatabaseBuilder::allow_shrink`]): an empty mirror or a partial import never silently
//! replaces a full database.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{
    Advisory, Affected, Enrichment, EnrichmentImport, EpssImport, EpssScore, Error, FeedInfo,
    Import, KevEntry, KevImport, Severity, Timestamp, blob, normalize_name,
};

/// Rows of the `packages` table that [`Database::package_records`] reads past before it
/// searches the index again.
const SKIP_BEFORE_SEEK: usize = 8;

/// The schema version this crate writes and reads. 6: NuGet entries are stored with the NuGet
/// version scheme (5 stored them as npm SemVer).
pub const SCHEMA_VERSION: u32 = 6;

/// The feeds whose data lives in a table of their own, by the names their importers give.
const NVD_FEED: &str = "nvd";
const KEV_FEED: &str = "cisa-kev";
const EPSS_FEED: &str = "epss";

/// Temporary files of writers older than this, named as versions without the writers' lock
/// named them (`.palisade-db-XXXXXX.tmp`, whatever the database), are removed as stale.
const LEGACY_TEMP_AGE: Duration = Duration::from_secs(24 * 3600);

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    records INTEGER NOT NULL,
    snapshot TEXT,
    imported_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE advisories (id TEXT PRIMARY KEY, modified TEXT, json TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE affected (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    advisory_id TEXT NOT NULL REFERENCES advisories(id),
    PRIMARY KEY (ecosystem, name, advisory_id)
) WITHOUT ROWID;
CREATE TABLE packages (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    candidates BLOB NOT NULL,
    PRIMARY KEY (ecosystem, name)
) WITHOUT ROWID;
CREATE TABLE ecosystems (
    ecosystem TEXT PRIMARY KEY,
    advisories INTEGER NOT NULL,
    newest TEXT
) WITHOUT ROWID;
CREATE TABLE enrichment (cve TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE kev (
    cve TEXT PRIMARY KEY,
    date_added TEXT NOT NULL,
    due_date TEXT NOT NULL,
    ransomware INTEGER NOT NULL,
    json TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL) WITHOUT ROWID;
";

/// A feed as the database records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedStatus {
    /// `osv/PyPI`, `alpine-secdb`.
    pub name: String,
    /// The path or URL it was read from.
    pub source: String,
    /// Records read from it.
    pub records: u64,
    /// The newest `modified` of its advisories.
    pub snapshot: Option<Timestamp>,
    /// When it was imported, as the caller said.
    pub imported_at: Timestamp,
}

/// What `palisade db status` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The file's schema version (always [`SCHEMA_VERSION`] for an opened database).
    pub schema_version: u32,
    /// The newest `modified` of all advisories: the data's age, never the clock.
    pub built: Option<Timestamp>,
    /// Number of advisories.
    pub advisories: u64,
    /// The feeds, by name.
    pub feeds: Vec<FeedStatus>,
}

/// What the database holds for one ecosystem: see [`Database::ecosystem_summary`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EcosystemSummary {
    /// Advisories naming a package there (an advisory under two of the ecosystems asked
    /// about counts twice).
    pub advisories: u64,
    /// The newest `modified` of those advisories: how fresh that feed's data is.
    pub newest: Option<Timestamp>,
}

/// A database opened read-only: a scan never writes to it.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    conn: Connection,
}

fn sql(path: &Path, action: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Sqlite {
        path,
        action,
        source,
    }
}

impl Database {
    /// Opens `path` read-only (`SQLITE_OPEN_READ_ONLY`, the `mode=ro` of a URI, plus
    /// `PRAGMA query_only`) and checks its schema version.
    pub fn open_read_only(path: &Path) -> Result<Database, Error> {
        // Opening a missing file read-only would fail with a vague SQLite message.
        std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                Error::io("opening the vulnerability database", path, e)
            }
        })?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql(path, "opening read-only"))?;
        conn.pragma_update(None, "query_only", true)
            .map_err(sql(path, "setting query_only"))?;
        // Take the shared lock once and keep it (and the page cache) for the connection's
        // life, instead of a lock, unlock and cache check around every query. Updates
        // replace the file by rename, never in place, so no writer ever waits for it.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(sql(path, "setting locking_mode"))?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap_or(None);
        if found.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
            return Err(Error::SchemaVersion {
                path: path.to_path_buf(),
                found: found.unwrap_or_else(|| "none".into()),
                expected: SCHEMA_VERSION,
            });
        }
        Ok(Database {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// The advisories affecting package `name` in `ecosystem` (the OSV string, with its
    /// release suffix: `PyPI`, `Alpine:v3.11`), sorted by id. The name is normalised as the
    /// ecosystem requires (PEP 503 for PyPI).
    pub fn advisories_for(&self, ecosystem: &str, name: &str) -> Result<Vec<Advisory>, Error> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.json FROM affected f JOIN advisories a ON a.id = f.advisory_id \
                 WHERE f.ecosystem = ?1 AND f.name = ?2 ORDER BY a.id",
            )
            .map_err(sql(path, "preparing the lookup"))?;
        let rows = stmt
            .query_map(params![ecosystem, normalize_name(ecosystem, name)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql(path, "looking up advisories"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(sql(path, "reading an advisory"))?;
            out.push(decode(path, &id, &json)?);
        }
        Ok(out)
    }

    /// What the matcher needs of the advisories affecting package `name` in `ecosystem`
    /// (see [`Database::advisories_for`]): one [`MatchCandidate`] per advisory, sorted by id.
    pub fn match_candidates(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<MatchCandidate>, Error> {
        let normalized = normalize_name(ecosystem, name);
        match self.package_record(ecosystem, &normalized)? {
            None => Ok(Vec::new()),
            Some(record) => blob::decode(&record).map_err(|e| self.corrupt(ecosystem, name, &e)),
        }
    }

    /// The stored match record (see [`crate::blob`]) of `(ecosystem, normalized)`.
    pub(crate) fn package_record(
        &self,
        ecosystem: &str,
        normalized: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut out = Vec::new();
        Ok(self
            .append_package_record(ecosystem, normalized, &mut out)?
            .then_some(out))
    }

    /// Appends the stored match record of `(ecosystem, normalized)` to `out`; `false` when
    /// there is none.
    pub(crate) fn append_package_record(
        &self,
        ecosystem: &str,
        normalized: &str,
        out: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT candidates FROM packages WHERE ecosystem = ?1 AND name = ?2")
            .map_err(sql(path, "preparing the lookup"))?;
        let mut rows = stmt
            .query(params![ecosystem, normalized])
            .map_err(sql(path, "looking up advisories"))?;
        let Some(row) = rows.next().map_err(sql(path, "looking up advisories"))? else {
            return Ok(false);
        };
        match row
            .get_ref(0)
            .map_err(sql(path, "reading a match record"))?
        {
            ValueRef::Blob(b) => {
                out.extend_from_slice(b);
                Ok(true)
            }
            _ => Err(self.corrupt(ecosystem, normalized, "match record is not a blob")),
        }
    }

    /// Calls `found(i, record)` for each of `names` (normalised, sorted and distinct) of
    /// `ecosystem` that has a stored record. One ordered range scan serves a run of names
    /// that lie close together in the table, instead of one index search per name; after
    /// [`SKIP_BEFORE_SEEK`] rows in a row that no name wants, it searches again from the
    /// next name, so a few names in a large table cost little more than point lookups.
    pub(crate) fn package_records(
        &self,
        ecosystem: &str,
        names: &[&str],
        mut found: impl FnMut(usize, &[u8]),
    ) -> Result<(), Error> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, candidates FROM packages WHERE ecosystem = ?1 AND name >= ?2 \
                 ORDER BY name",
            )
            .map_err(sql(path, "preparing the lookup"))?;
        let mut i = 0;
        'seek: while i < names.len() {
            let mut rows = stmt
                .query(params![ecosystem, names[i]])
                .map_err(sql(path, "looking up advisories"))?;
            let mut unwanted = 0;
            while let Some(row) = rows.next().map_err(sql(path, "looking up advisories"))? {
                let ValueRef::Text(name) = row
                    .get_ref(0)
                    .map_err(sql(path, "reading a package name"))?
                else {
                    return Err(self.corrupt(ecosystem, names[i], "package name is not text"));
                };
                // Names before this row have no record.
                while names[i].as_bytes() < name {
                    i += 1;
                    if i == names.len() {
                        return Ok(());
                    }
                }
                if names[i].as_bytes() == name {
                    match row
                        .get_ref(1)
                        .map_err(sql(path, "reading a match record"))?
                    {
                        ValueRef::Blob(b) => found(i, b),
                        _ => {
                            return Err(self.corrupt(
                                ecosystem,
                                names[i],
                                "match record is not a blob",
                            ));
                        }
                    }
                    i += 1;
                    if i == names.len() {
                        return Ok(());
                    }
                    unwanted = 0;
                } else {
                    unwanted += 1;
                    if unwanted > SKIP_BEFORE_SEEK {
                        continue 'seek;
                    }
                }
            }
            // No rows left: no later name has a record.
            break;
        }
        Ok(())
    }

    /// Calls `each` for every row of `query` (a statement of this crate's own).
    pub(crate) fn each_row(
        &self,
        query: &str,
        mut each: impl FnMut(&rusqlite::Row<'_>),
    ) -> Result<(), Error> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(query)
            .map_err(sql(path, "preparing a full read"))?;
        let mut rows = stmt.query([]).map_err(sql(path, "reading every row"))?;
        while let Some(row) = rows.next().map_err(sql(path, "reading every row"))? {
            each(row);
        }
        Ok(())
    }

    /// The error for a match record that does not read back.
    pub(crate) fn corrupt(&self, ecosystem: &str, name: &str, message: &str) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            message: format!("match record for {ecosystem} {name}: {message}"),
        }
    }

    /// One advisory by id.
    pub fn advisory(&self, id: &str) -> Result<Option<Advisory>, Error> {
        let path = &self.path;
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT json FROM advisories WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([id], |r| r.get(0)).optional())
            .map_err(sql(path, "reading an advisory"))?;
        json.map(|j| decode(path, id, &j)).transpose()
    }

    /// What NVD, CISA KEV and EPSS say about `cve`: NVD's [`Enrichment`] with the KEV entry
    /// in [`Enrichment::kev`] and the EPSS score in [`Enrichment::epss`]; an entry with only
    /// the KEV or EPSS facts when NVD's is missing; `None` when none knows the CVE.
    pub fn enrichment(&self, cve: &str) -> Result<Option<Enrichment>, Error> {
        let path = &self.path;
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT json FROM enrichment WHERE cve = ?1")
            .and_then(|mut stmt| stmt.query_row([cve], |r| r.get(0)).optional())
            .map_err(sql(path, "reading enrichment"))?;
        let kev_json: Option<String> = self
            .conn
            .prepare_cached("SELECT json FROM kev WHERE cve = ?1")
            .and_then(|mut stmt| stmt.query_row([cve], |r| r.get(0)).optional())
            .map_err(sql(path, "reading the KEV catalog"))?;
        let corrupt = |what: &str, e: serde_json::Error| Error::Corrupt {
            path: path.clone(),
            message: format!("{what} {cve}: {e}"),
        };
        let kev: Option<KevEntry> = kev_json
            .map(|j| serde_json::from_str(&j).map_err(|e| corrupt("KEV entry", e)))
            .transpose()?;
        let mut out: Option<Enrichment> = json
            .map(|j| serde_json::from_str(&j).map_err(|e| corrupt("enrichment", e)))
            .transpose()?;
        if let Some(k) = kev {
            out.get_or_insert_with(|| Enrichment::new(cve.to_owned()))
                .kev = Some(k);
        }
        let epss: Option<(f64, f64)> = self
            .conn
            .prepare_cached("SELECT score, percentile FROM epss WHERE cve = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([cve], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(sql(path, "reading EPSS scores"))?;
        if let Some((score, percentile)) = epss {
            out.get_or_insert_with(|| Enrichment::new(cve.to_owned()))
                .epss = Some(EpssScore {
                cve: cve.to_owned(),
                score,
                percentile,
            });
        }
        Ok(out)
    }

    /// How many advisories name a package under any of `ecosystems` (OSV strings with their
    /// release: `Debian:12`, `PyPI`), and the newest `modified` among them: what the database
    /// knows of that ecosystem. A count of 0 means no feed for it was imported, so packages
    /// there cannot be judged (see [`crate::Coverage`]).
    pub fn ecosystem_summary(&self, ecosystems: &[&str]) -> Result<EcosystemSummary, Error> {
        let path = &self.path;
        let mut summary = EcosystemSummary::default();
        for eco in ecosystems {
            // Precomputed when the database was written (the `ecosystems` table).
            let row: Option<(i64, Option<String>)> = self
                .conn
                .prepare_cached("SELECT advisories, newest FROM ecosystems WHERE ecosystem = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row(params![eco], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(sql(path, "reading ecosystem coverage"))?;
            let (count, newest) = row.unwrap_or((0, None));
            summary.advisories += u64::try_from(count).unwrap_or(0);
            if let Some(t) = newest.as_deref().and_then(|t| Timestamp::parse(t).ok())
                && summary.newest.as_ref().is_none_or(|n| t > *n)
            {
                summary.newest = Some(t);
            }
        }
        Ok(summary)
    }

    /// Calls `each` with every stored advisory, in id order.
    fn for_each_advisory(&self, mut each: impl FnMut(Advisory)) -> Result<(), Error> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT id, json FROM advisories ORDER BY id")
            .map_err(sql(path, "reading advisories"))?;
        let mut rows = stmt.query([]).map_err(sql(path, "reading advisories"))?;
        while let Some(row) = rows.next().map_err(sql(path, "reading advisories"))? {
            let id: String = row.get(0).map_err(sql(path, "reading an advisory"))?;
            let json: String = row.get(1).map_err(sql(path, "reading an advisory"))?;
            each(decode(path, &id, &json)?);
        }
        Ok(())
    }

    /// Every stored JSON value of `table` (`enrichment`, `kev`), in key order.
    fn for_each_json<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        mut each: impl FnMut(T),
    ) -> Result<(), Error> {
        let path = &self.path;
        let query = match table {
            "enrichment" => "SELECT cve, json FROM enrichment ORDER BY cve",
            _ => "SELECT cve, json FROM kev ORDER BY cve",
        };
        let mut stmt = self.conn.prepare(query).map_err(sql(path, "reading"))?;
        let mut rows = stmt.query([]).map_err(sql(path, "reading"))?;
        while let Some(row) = rows.next().map_err(sql(path, "reading"))? {
            let cve: String = row.get(0).map_err(sql(path, "reading"))?;
            let json: String = row.get(1).map_err(sql(path, "reading"))?;
            let value = serde_json::from_str(&json).map_err(|e| Error::Corrupt {
                path: path.clone(),
                message: format!("{table} {cve}: {e}"),
            })?;
            each(value);
        }
        Ok(())
    }

    /// Every stored EPSS score, by CVE.
    fn epss_scores(&self) -> Result<Vec<EpssScore>, Error> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT cve, score, percentile FROM epss ORDER BY cve")
            .map_err(sql(path, "reading EPSS scores"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(EpssScore {
                    cve: r.get(0)?,
                    score: r.get(1)?,
                    percentile: r.get(2)?,
                })
            })
            .map_err(sql(path, "reading EPSS scores"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(sql(path, "reading EPSS scores"))
    }

    /// Schema version, build time, advisory count and feeds.
    pub fn status(&self) -> Result<Status, Error> {
        let path = &self.path;
        let built: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'built'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql(path, "reading meta"))?;
        let advisories: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'advisories'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql(path, "reading meta"))?;
        let advisories: u64 =
            advisories
                .as_deref()
                .unwrap_or("0")
                .parse()
                .map_err(|_| Error::Corrupt {
                    path: path.clone(),
                    message: "meta.advisories is not a number".into(),
                })?;
        let mut stmt = self
            .conn
            .prepare("SELECT name, source, records, snapshot, imported_at FROM feeds ORDER BY name")
            .map_err(sql(path, "reading feeds"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(sql(path, "reading feeds"))?;
        let ts = |t: &str| {
            Timestamp::parse(t).map_err(|e| Error::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })
        };
        let mut feeds = Vec::new();
        for row in rows {
            let (name, source, records, snapshot, imported_at) =
                row.map_err(sql(path, "reading feeds"))?;
            feeds.push(FeedStatus {
                name,
                source,
                records: u64::try_from(records).unwrap_or(0),
                snapshot: snapshot.as_deref().map(ts).transpose()?,
                imported_at: ts(&imported_at)?,
            });
        }
        Ok(Status {
            schema_version: SCHEMA_VERSION,
            built: built.as_deref().map(ts).transpose()?,
            advisories,
            feeds,
        })
    }
}

/// What the matcher needs of one advisory for one `(ecosystem, normalised name)`: its ids,
/// ratings, whether it was withdrawn, and only the entries for that package. Stored with the
/// lookup index, so a lookup reads one small record per advisory instead of the whole
/// advisory (text, references, every other package's ranges).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MatchCandidate {
    /// The advisory id.
    pub id: String,
    /// Its aliases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Its severity ratings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// Whether it was withdrawn (it then produces no finding).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
    /// Its entries for the package, in the advisory's order.
    pub affected: Vec<Affected>,
}

impl MatchCandidate {
    /// One candidate per `(ecosystem, normalised name)` the advisory names, in key order.
    /// Each entry's `versions` list keeps only what its ranges do not already cover (see
    /// [`AffectedVersions::without_versions_covered_by_ranges`]): same verdicts, smaller
    /// records.
    ///
    /// [`AffectedVersions::without_versions_covered_by_ranges`]:
    ///     palisade_version::osv::AffectedVersions::without_versions_covered_by_ranges
    pub fn of(advisory: &Advisory) -> BTreeMap<(String, String), MatchCandidate> {
        let mut out: BTreeMap<(String, String), MatchCandidate> = BTreeMap::new();
        for entry in &advisory.affected {
            let mut entry = entry.clone();
            if let Some(scheme) = entry.scheme
                && !entry.versions.versions.is_empty()
            {
                entry.versions = entry.versions.without_versions_covered_by_ranges(scheme);
            }
            out.entry((entry.ecosystem.clone(), entry.normalized_name.clone()))
                .or_insert_with(|| MatchCandidate {
                    id: advisory.id.clone(),
                    aliases: advisory.aliases.clone(),
                    severity: advisory.severity.clone(),
                    withdrawn: advisory.withdrawn.is_some(),
                    affected: Vec::new(),
                })
                .affected
                .push(entry);
        }
        out
    }
}

fn decode(path: &Path, id: &str, json: &str) -> Result<Advisory, Error> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: format!("advisory {id}: {e}"),
    })
}

/// The writers' lock on one database: an advisory lock (`flock`/`LockFileEx`) on
/// `<db>.lock`, released when dropped or when the process dies, `kill -9` included.
///
/// Only the holder creates the database's temporary files, so once it is held every
/// temporary file of that database belongs to a dead writer: [`WriteLock::acquire`] removes
/// them. The lock file itself stays (removing it would let two writers lock two files).
#[derive(Debug)]
pub struct WriteLock {
    db: PathBuf,
    _file: File,
    removed: Vec<PathBuf>,
}

impl WriteLock {
    /// `<db>.lock`.
    pub fn lock_path(db: &Path) -> PathBuf {
        let mut s = db.as_os_str().to_owned();
        s.push(".lock");
        PathBuf::from(s)
    }

    /// Takes the lock without waiting and removes the stale temporary files of `db`.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process holds it (naming its pid when it wrote one),
    /// [`Error::Io`] when the lock file cannot be opened.
    pub fn acquire(db: &Path) -> Result<WriteLock, Error> {
        let lock = WriteLock::lock_path(db);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(|e| Error::io("opening the lock file", &lock, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = (&file).take(128).read_to_string(&mut text);
                let text = text.trim();
                let holder = (!text.is_empty() && text.chars().all(|c| !c.is_control()))
                    .then(|| text.to_owned());
                return Err(Error::Locked {
                    path: db.to_path_buf(),
                    lock,
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io("locking", &lock, e));
            }
        }
        // Who holds it, for the message a second writer shows; best effort.
        if file.set_len(0).is_ok() {
            let _ = writeln!(file, "pid {}", std::process::id());
        }
        let removed = remove_stale_temporaries(db);
        Ok(WriteLock {
            db: db.to_path_buf(),
            _file: file,
            removed,
        })
    }

    /// The database it locks.
    pub fn database(&self) -> &Path {
        &self.db
    }

    /// The stale temporary files removed when it was taken.
    pub fn removed(&self) -> &[PathBuf] {
        &self.removed
    }
}

/// `.palisade-db-<name>.`: the start of the temporary files' names of database `<name>`.
fn temp_prefix(db: &Path) -> String {
    let name = db
        .file_name()
        .map_or_else(|| "db".into(), |n| n.to_string_lossy().into_owned());
    format!(".palisade-db-{name}.")
}

/// Whether `s` is the random part `tempfile` puts in a name (6 alphanumerics).
fn is_random_part(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes the temporary files of `db` (`.palisade-db-<name>.XXXXXX.tmp`) and, when older
/// than [`LEGACY_TEMP_AGE`], those of versions before the lock (`.palisade-db-XXXXXX.tmp`).
/// Only the lock holder may call this.
fn remove_stale_temporaries(db: &Path) -> Vec<PathBuf> {
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = temp_prefix(db);
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".tmp") else {
            continue;
        };
        let ours = stem.strip_prefix(&prefix).is_some_and(is_random_part);
        let legacy = stem
            .strip_prefix(".palisade-db-")
            .is_some_and(is_random_part)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > LEGACY_TEMP_AGE);
        if (ours || legacy) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            if std::fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed.sort();
    removed
}

/// What a replacement of `previous` by a database with `feeds` and `advisories` would lose:
/// whole feeds, or more than half of a feed's records (or of all advisories).
fn losses(
    previous: &[(String, u64)],
    previous_advisories: u64,
    feeds: &BTreeMap<String, FeedStatus>,
    advisories: u64,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, records) in previous {
        match feeds.get(name) {
            None => out.push(format!("feed {name} ({records} records) would be dropped")),
            Some(new) if new.records.saturating_mul(2) < *records => out.push(format!(
                "feed {name} would shrink from {records} to {} records",
                new.records
            )),
            Some(_) => {}
        }
    }
    if advisories.saturating_mul(2) < previous_advisories {
        out.push(format!(
            "advisories would shrink from {previous_advisories} to {advisories}"
        ));
    }
    out
}

/// The feeds (name, records) and advisory count of the database file at `path`, whatever its
/// schema version (every version so far has these two tables); `None` when it cannot be read.
fn previous_counts(path: &Path) -> Option<(Vec<(String, u64)>, u64)> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    let mut stmt = conn.prepare("SELECT name, records FROM feeds").ok()?;
    let feeds = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .ok()?
        .map(|row| row.map(|(n, c)| (n, u64::try_from(c).unwrap_or(0))))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let advisories: i64 = conn
        .query_row("SELECT count(*) FROM advisories", [], |r| r.get(0))
        .ok()?;
    Some((feeds, u64::try_from(advisories).unwrap_or(0)))
}

/// Builds a database: feeds are merged in memory, written into a temporary file beside the
/// target, checked, and renamed over the target by [`DatabaseBuilder::finish`]. Dropping the
/// builder (or a crash) before `finish` leaves the previous file untouched.
///
/// Updates are monotonic unless allowed: `finish` refuses to replace a database when the new
/// one drops one of its feeds or keeps less than half of a feed's records (or of all its
/// advisories), naming what would be lost ([`Error::Shrink`]); see
/// [`DatabaseBuilder::allow_shrink`] and [`DatabaseBuilder::keep_other_feeds`].
#[derive(Debug)]
pub struct DatabaseBuilder {
    path: PathBuf,
    advisories: BTreeMap<String, Advisory>,
    feeds: BTreeMap<String, FeedStatus>,
    enrichment: BTreeMap<String, Enrichment>,
    kev: BTreeMap<String, KevEntry>,
    epss: BTreeMap<String, EpssScore>,
    allow_shrink: bool,
}

impl DatabaseBuilder {
    /// A builder that will replace `path`.
    pub fn new(path: &Path) -> DatabaseBuilder {
        DatabaseBuilder {
            path: path.to_path_buf(),
            advisories: BTreeMap::new(),
            feeds: BTreeMap::new(),
            enrichment: BTreeMap::new(),
            kev: BTreeMap::new(),
            epss: BTreeMap::new(),
            allow_shrink: false,
        }
    }

    /// Lets [`DatabaseBuilder::finish`] replace a database even when the new one drops feeds
    /// or most of a feed's records (default: refused with [`Error::Shrink`]).
    pub fn allow_shrink(&mut self, allow: bool) {
        self.allow_shrink = allow;
    }

    /// Copies from `previous` every feed this builder has not been given (by name), with its
    /// data: the advisories that name it in their provenance, NVD's enrichment, the KEV
    /// catalog, the EPSS scores; and returns their names. Call it after the `add*` calls.
    ///
    /// An advisory that a kept feed and a refreshed feed share is merged as
    /// [`DatabaseBuilder::add`] merges (the newer `modified` wins).
    ///
    /// # Errors
    /// When `previous` cannot be read.
    pub fn keep_other_feeds(&mut self, previous: &Database) -> Result<Vec<String>, Error> {
        let status = previous.status()?;
        let kept: Vec<FeedStatus> = status
            .feeds
            .into_iter()
            .filter(|f| !self.feeds.contains_key(&f.name))
            .collect();
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        let names: BTreeSet<&str> = kept.iter().map(|f| f.name.as_str()).collect();
        previous.for_each_advisory(|a| {
            if a.provenance.iter().any(|p| names.contains(p.feed.as_str())) {
                match self.advisories.get_mut(&a.id) {
                    Some(existing) => existing.merge(a),
                    None => {
                        self.advisories.insert(a.id.clone(), a);
                    }
                }
            }
        })?;
        if names.contains(NVD_FEED) {
            previous.for_each_json("enrichment", |e: Enrichment| {
                match self.enrichment.get_mut(&e.cve) {
                    Some(existing) if existing.last_modified >= e.last_modified => {}
                    Some(existing) => *existing = e,
                    None => {
                        self.enrichment.insert(e.cve.clone(), e);
                    }
                }
            })?;
        }
        if names.contains(KEV_FEED) {
            previous.for_each_json("kev", |k: KevEntry| {
                self.kev.entry(k.cve.clone()).or_insert(k);
            })?;
        }
        if names.contains(EPSS_FEED) {
            for e in previous.epss_scores()? {
                self.epss.entry(e.cve.clone()).or_insert(e);
            }
        }
        let out = kept.iter().map(|f| f.name.clone()).collect();
        for f in kept {
            self.feeds.insert(f.name.clone(), f);
        }
        Ok(out)
    }

    /// Adds a feed's advisories; an id seen before is merged ([`Advisory::merge`]: newer
    /// `modified` wins, provenances of both are kept). `imported_at` is recorded as given.
    pub fn add(&mut self, import: Import, imported_at: Timestamp) {
        for a in import.advisories {
            match self.advisories.get_mut(&a.id) {
                Some(existing) => existing.merge(a),
                None => {
                    self.advisories.insert(a.id.clone(), a);
                }
            }
        }
        self.add_feed(import.feed, imported_at);
    }

    /// Adds NVD enrichment (listed in `feeds`); for a CVE seen before, the entry with the newer
    /// `last_modified` is kept.
    pub fn add_enrichment(&mut self, import: EnrichmentImport, imported_at: Timestamp) {
        for e in import.enrichment {
            match self.enrichment.get_mut(&e.cve) {
                Some(existing) if existing.last_modified >= e.last_modified => {}
                Some(existing) => *existing = e,
                None => {
                    self.enrichment.insert(e.cve.clone(), e);
                }
            }
        }
        self.add_feed(import.feed, imported_at);
    }

    /// Adds the CISA KEV catalog (listed in `feeds`); it replaces the entries of a catalog
    /// added before for the same CVEs.
    pub fn add_kev(&mut self, import: KevImport, imported_at: Timestamp) {
        for k in import.entries {
            self.kev.insert(k.cve.clone(), k);
        }
        self.add_feed(import.feed, imported_at);
    }

    /// Adds EPSS scores (listed in `feeds`); they replace scores added before for the same
    /// CVEs.
    pub fn add_epss(&mut self, import: EpssImport, imported_at: Timestamp) {
        for s in import.scores {
            self.epss.insert(s.cve.clone(), s);
        }
        self.add_feed(import.feed, imported_at);
    }

    fn add_feed(&mut self, f: FeedInfo, imported_at: Timestamp) {
        self.feeds.insert(
            f.name.clone(),
            FeedStatus {
                name: f.name,
                source: f.source,
                records: f.records,
                snapshot: f.snapshot,
                imported_at,
            },
        );
    }

    /// Takes the writers' lock ([`WriteLock`]), then does [`DatabaseBuilder::finish_locked`].
    ///
    /// # Errors
    /// [`Error::Locked`] when another writer holds the lock, and those of `finish_locked`.
    pub fn finish(self) -> Result<Status, Error> {
        let lock = WriteLock::acquire(&self.path)?;
        self.finish_locked(&lock)
    }

    /// Writes the database and atomically replaces the target with it, after `PRAGMA
    /// integrity_check`, under `lock` (taken for this database). The same inputs give the
    /// same bytes.
    ///
    /// # Errors
    /// [`Error::Shrink`] when the new database would drop a feed of the previous one or more
    /// than half of a feed's records, unless [`DatabaseBuilder::allow_shrink`]; I/O and
    /// SQLite errors naming the file.
    pub fn finish_locked(self, lock: &WriteLock) -> Result<Status, Error> {
        if lock.database() != self.path {
            return self.finish();
        }
        if !self.allow_shrink && self.path.exists() {
            // The previous file's feeds are read from any schema version (a database written
            // by an older Palisade is still someone's data); a file that does not open at all
            // (corrupt, not SQLite) has nothing to compare with: replacing it repairs it.
            if let Some((feeds, advisories)) = previous_counts(&self.path) {
                let lost = losses(
                    &feeds,
                    advisories,
                    &self.feeds,
                    self.advisories.len() as u64,
                );
                if !lost.is_empty() {
                    return Err(Error::Shrink {
                        path: self.path.clone(),
                        losses: lost,
                    });
                }
            }
        }
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(&self.path))
            .rand_bytes(6)
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("creating a temporary database in", &dir, e))?;
        let tmp_path = tmp.path().to_path_buf();
        let built = self
            .advisories
            .values()
            .filter_map(Advisory::last_change)
            .max()
            .cloned();
        {
            let mut conn = Connection::open(&tmp_path).map_err(sql(&tmp_path, "creating"))?;
            write(&mut conn, &tmp_path, &self, built.as_ref())?;
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .map_err(sql(&tmp_path, "checking integrity"))?;
            if check != "ok" {
                return Err(Error::Corrupt {
                    path: tmp_path,
                    message: format!("integrity check of the new database failed: {check}"),
                });
            }
            conn.close()
                .map_err(|(_, e)| sql(&tmp_path, "closing")(e))?;
        }
        // The temporary file is created 0600; a database is for every user of the host.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp_path, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io("setting permissions of", &tmp_path, e))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("syncing", &tmp_path, e))?;
        tmp.persist(&self.path)
            .map_err(|e| Error::io("renaming the new database over", &self.path, e.error))?;
        // Make the rename durable; not every platform lets a directory be synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(Status {
            schema_version: SCHEMA_VERSION,
            built,
            advisories: self.advisories.len() as u64,
            feeds: self.feeds.into_values().collect(),
        })
    }
}

fn write(
    conn: &mut Connection,
    path: &Path,
    b: &DatabaseBuilder,
    built: Option<&Timestamp>,
) -> Result<(), Error> {
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 4096;",
    )
    .map_err(sql(path, "configuring"))?;
    let tx = conn.transaction().map_err(sql(path, "starting"))?;
    tx.execute_batch(SCHEMA)
        .map_err(sql(path, "creating the schema"))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
        [SCHEMA_VERSION.to_string()],
    )
    .map_err(sql(path, "writing meta"))?;
    if let Some(built) = built {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('built', ?1)",
            [built.as_str()],
        )
        .map_err(sql(path, "writing meta"))?;
    }
    // Counted here once: counting at read time walks every page of the advisories table,
    // which cost a warm scan more than the matching itself.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('advisories', ?1)",
        [b.advisories.len().to_string()],
    )
    .map_err(sql(path, "writing meta"))?;
    {
        let mut feed = tx
            .prepare("INSERT INTO feeds VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(sql(path, "writing feeds"))?;
        for f in b.feeds.values() {
            feed.execute(params![
                f.name,
                f.source,
                i64::try_from(f.records).unwrap_or(i64::MAX),
                f.snapshot.as_ref().map(Timestamp::as_str),
                f.imported_at.as_str()
            ])
            .map_err(sql(path, "writing feeds"))?;
        }
        let mut adv = tx
            .prepare("INSERT INTO advisories VALUES (?1, ?2, ?3)")
            .map_err(sql(path, "writing advisories"))?;
        let mut aff = tx
            .prepare("INSERT INTO affected VALUES (?1, ?2, ?3)")
            .map_err(sql(path, "writing the index"))?;
        // Every package's candidates, in advisory id order (the map's order).
        let mut packages: BTreeMap<(String, String), Vec<MatchCandidate>> = BTreeMap::new();
        for a in b.advisories.values() {
            let json = serde_json::to_string(a).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                message: format!("advisory {}: {e}", a.id),
            })?;
            adv.execute(params![
                a.id,
                a.modified.as_ref().map(Timestamp::as_str),
                json
            ])
            .map_err(sql(path, "writing advisories"))?;
            for ((ecosystem, name), mut candidate) in MatchCandidate::of(a) {
                aff.execute(params![ecosystem, name, a.id])
                    .map_err(sql(path, "writing the index"))?;
                // As the stored advisory reads back: an entry without a scheme says why.
                for e in &mut candidate.affected {
                    if e.scheme.is_none() && e.unevaluable.is_none() {
                        e.unevaluable =
                            Some(format!("no version scheme for ecosystem {:?}", e.ecosystem));
                    }
                }
                packages
                    .entry((ecosystem, name))
                    .or_default()
                    .push(candidate);
            }
        }
        let mut pkg = tx
            .prepare("INSERT INTO packages VALUES (?1, ?2, ?3)")
            .map_err(sql(path, "writing the index"))?;
        let mut record = Vec::new();
        for ((ecosystem, name), candidates) in &packages {
            record.clear();
            blob::encode(candidates, &mut record);
            pkg.execute(params![ecosystem, name, record])
                .map_err(sql(path, "writing the index"))?;
        }
        // What a scan's coverage reads, once per database instead of once per scan (the
        // join over every advisory of an ecosystem took 20 ms for PyPI alone).
        tx.execute_batch(
            "INSERT INTO ecosystems SELECT f.ecosystem, count(DISTINCT f.advisory_id), \
             max(a.modified) FROM affected f JOIN advisories a ON a.id = f.advisory_id \
             GROUP BY f.ecosystem",
        )
        .map_err(sql(path, "writing the ecosystem summary"))?;
        let mut enr = tx
            .prepare("INSERT INTO enrichment VALUES (?1, ?2)")
            .map_err(sql(path, "writing enrichment"))?;
        for e in b.enrichment.values() {
            let json = serde_json::to_string(e).map_err(|err| Error::Corrupt {
                path: path.to_path_buf(),
                message: format!("enrichment {}: {err}", e.cve),
            })?;
            enr.execute(params![e.cve, json])
                .map_err(sql(path, "writing enrichment"))?;
        }
        let mut kev = tx
            .prepare("INSERT INTO kev VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(sql(path, "writing the KEV catalog"))?;
        for k in b.kev.values() {
            let json = serde_json::to_string(k).map_err(|err| Error::Corrupt {
                path: path.to_path_buf(),
                message: format!("KEV entry {}: {err}", k.cve),
            })?;
            kev.execute(params![k.cve, k.date_added, k.due_date, k.ransomware, json])
                .map_err(sql(path, "writing the KEV catalog"))?;
        }
        let mut epss = tx
            .prepare("INSERT INTO epss VALUES (?1, ?2, ?3)")
            .map_err(sql(path, "writing EPSS scores"))?;
        for e in b.epss.values() {
            epss.execute(params![e.cve, e.score, e.percentile])
                .map_err(sql(path, "writing EPSS scores"))?;
        }
    }
    tx.commit().map_err(sql(path, "committing"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeedInfo;
    use palisade_version::osv::AffectedVersions;

    /// The range scan of [`Database::package_records`] finds what one lookup per name finds,
    /// whether the names are dense (scanned) or sparse (searched again), before, between and
    /// after the stored ones.
    #[test]
    fn package_records_find_what_point_lookups_find() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vuln.db");
        let versions: AffectedVersions = serde_json::from_value(serde_json::json!({
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
        }))
        .unwrap();
        // Stored: p000, p002, …, p198.
        let advisories: Vec<Advisory> = (0..100)
            .map(|i| {
                let name = format!("p{:03}", 2 * i);
                let mut a: Advisory = serde_json::from_value(
                    serde_json::json!({"id": format!("X-{name}"), "provenance": []}),
                )
                .unwrap();
                a.affected =
                    vec![Affected::new("crates.io".into(), name, versions.clone(), None).unwrap()];
                a
            })
            .collect();
        let mut builder = DatabaseBuilder::new(&path);
        let feed = FeedInfo {
            name: "test".into(),
            source: "test".into(),
            records: 100,
            snapshot: None,
        };
        builder.add(
            Import {
                feed,
                advisories,
                warnings: Vec::new(),
            },
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        );
        builder.finish().unwrap();
        let db = Database::open_read_only(&path).unwrap();
        for step in [1, 2, 3, 9, 10, 19, 40, 300] {
            let names: Vec<String> = std::iter::once("a".to_owned())
                .chain((0..=201).step_by(step).map(|i| format!("p{i:03}")))
                .chain(["p1".to_owned(), "q".to_owned()])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut got = Vec::new();
            db.package_records("crates.io", &names, |i, r| got.push((i, r.to_vec())))
                .unwrap();
            let mut want = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let mut out = Vec::new();
                if db
                    .append_package_record("crates.io", name, &mut out)
                    .unwrap()
                {
                    want.push((i, out));
                }
            }
            assert!(!want.is_empty());
            assert_eq!(got, want, "every {step}th name");
            let mut none = Vec::new();
            db.package_records("PyPI", &names, |i, _| none.push(i))
                .unwrap();
            assert!(none.is_empty());
        }
    }

    fn ts() -> Timestamp {
        Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
    }

    /// A feed of `n` advisories `<feed>-<i>` (each naming the feed in its provenance).
    fn osv_feed(feed: &str, n: usize) -> Import {
        let advisories = (0..n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "id": format!("{feed}-{i}"),
                    "provenance": [{"feed": feed, "record": format!("{i}.json")}]
                }))
                .unwrap()
            })
            .collect();
        Import {
            feed: FeedInfo {
                name: feed.into(),
                source: "test".into(),
                records: n as u64,
                snapshot: None,
            },
            advisories,
            warnings: Vec::new(),
        }
    }

    fn kev(cves: &[&str]) -> KevImport {
        KevImport {
            feed: FeedInfo {
                name: KEV_FEED.into(),
                source: "test".into(),
                records: cves.len() as u64,
                snapshot: None,
            },
            catalog_version: "1".into(),
            entries: cves
                .iter()
                .map(|c| {
                    serde_json::from_value(serde_json::json!({
                        "cve": c, "date_added": "2024-01-01", "due_date": "2024-02-01",
                        "ransomware": false
                    }))
                    .unwrap()
                })
                .collect(),
            warnings: Vec::new(),
        }
    }

    /// Issue 13.5/13.6: a replacement that drops a feed or most of a feed's records is
    /// refused naming it (the previous file unchanged), allowed on request; feeds kept from
    /// the previous database come with their data.
    #[test]
    fn updates_are_monotonic_unless_allowed_and_other_feeds_can_be_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vuln.db");
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 4), ts());
        b.add(osv_feed("osv/B", 2), ts());
        b.add_kev(kev(&["CVE-1", "CVE-2"]), ts());
        b.finish().unwrap();
        let before = std::fs::read(&path).unwrap();

        // osv/A shrinks from 4 to 1, osv/B and cisa-kev are dropped.
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 1), ts());
        let err = b.finish().unwrap_err();
        let Error::Shrink { losses, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            losses,
            &[
                "feed cisa-kev (2 records) would be dropped",
                "feed osv/A would shrink from 4 to 1 records",
                "feed osv/B (2 records) would be dropped",
                "advisories would shrink from 6 to 1",
            ]
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // Half is not "sharply": 4 → 2 with the other feeds kept goes through.
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 2), ts());
        let db = Database::open_read_only(&path).unwrap();
        assert_eq!(b.keep_other_feeds(&db).unwrap(), ["cisa-kev", "osv/B"]);
        drop(db);
        let status = b.finish().unwrap();
        assert_eq!(status.advisories, 4);
        let db = Database::open_read_only(&path).unwrap();
        assert!(db.advisory("osv/B-1").unwrap().is_some());
        assert!(db.advisory("osv/A-3").unwrap().is_none());
        assert!(db.enrichment("CVE-2").unwrap().unwrap().kev.is_some());
        drop(db);

        // On purpose.
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 0), ts());
        b.allow_shrink(true);
        assert_eq!(b.finish().unwrap().advisories, 0);
    }

    /// A database written by an older Palisade (another schema version) cannot be opened,
    /// but its feeds are still someone's data: replacing it with less is refused like any
    /// other shrink, and allowed on request.
    #[test]
    fn a_database_of_another_schema_is_not_dropped_quietly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vuln.db");
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 4), ts());
        b.add(osv_feed("osv/B", 2), ts());
        b.finish().unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '4' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        conn.execute("DROP TABLE ecosystems", []).unwrap();
        drop(conn);
        assert!(matches!(
            Database::open_read_only(&path),
            Err(Error::SchemaVersion { .. })
        ));
        let before = std::fs::read(&path).unwrap();

        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 4), ts());
        let err = b.finish().unwrap_err();
        let Error::Shrink { losses, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(losses, &["feed osv/B (2 records) would be dropped"]);
        assert_eq!(std::fs::read(&path).unwrap(), before);

        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 4), ts());
        b.add(osv_feed("osv/B", 2), ts());
        assert_eq!(b.finish().unwrap().schema_version, SCHEMA_VERSION);

        // Not a database at all: nothing to compare with, replacing it repairs it.
        std::fs::write(&path, b"not sqlite").unwrap();
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 1), ts());
        assert_eq!(b.finish().unwrap().advisories, 1);
    }

    /// Issue 13.7: one writer at a time; the holder removes its database's stale temporary
    /// files (not another database's, not a fresh one of an older version).
    #[test]
    fn one_writer_at_a_time_and_stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vuln.db");
        let stale = dir.path().join(".palisade-db-vuln.db.aB3xY9.tmp");
        let other = dir.path().join(".palisade-db-vuln.db.x.aB3xY9.tmp");
        let legacy_fresh = dir.path().join(".palisade-db-aB3xY9.tmp");
        for p in [&stale, &other, &legacy_fresh] {
            std::fs::write(p, b"x").unwrap();
        }
        let lock = WriteLock::acquire(&path).unwrap();
        assert_eq!(lock.removed(), std::slice::from_ref(&stale));
        assert!(other.exists() && legacy_fresh.exists());
        let err = WriteLock::acquire(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Locked { holder: Some(h), .. } if *h == format!("pid {}", std::process::id())),
            "{err}"
        );
        // The builder's own finish waits for no one: it fails the same way.
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 1), ts());
        assert!(matches!(b.finish(), Err(Error::Locked { .. })));
        let mut b = DatabaseBuilder::new(&path);
        b.add(osv_feed("osv/A", 1), ts());
        b.finish_locked(&lock).unwrap();
        drop(lock);
        assert!(WriteLock::acquire(&path).is_ok());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
