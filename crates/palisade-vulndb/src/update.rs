//! Downloading the vulnerability feeds (from upstream, or a mirror with the same layout as
//! `../shared/feeds`) into a cache next to the database, with conditional requests, and
//! rebuilding the database from the cached feeds: what `palisade db update` does, and what a
//! server's scheduled refresh does. Behind the `fetch` feature (it brings the HTTP client).
//!
//! Not for: importing local files (see [`crate::import_feeds`]), printing (progress arrives
//! through [`UpdateEvent`]s, results come back as an [`UpdateReport`]), choosing exit codes,
//! or scheduling. The HTTP policy (TLS roots, plain HTTP only to loopback, redirects checked
//! like direct URLs, a total deadline per download) is [`palisade_image::http`]'s.
//!
//! ```no_run
//! use std::path::Path;
//! use palisade_vulndb::update::{UpdateEvent, UpdateOptions, update};
//!
//! let options = UpdateOptions {
//!     feeds: vec!["osv/PyPI".into(), "kev".into()],
//!     ..UpdateOptions::default()
//! };
//! let report = update(Path::new("vuln.db"), &options, &mut |event| {
//!     if let UpdateEvent::Failed { file, error } = event {
//!         eprintln!("{}: failed: {error}", file.rel);
//!     }
//! })?;
//! match report.rebuilt {
//!     None => println!("every feed is up to date"),
//!     Some(r) => println!("{} advisories", r.status.advisories),
//! }
//! # Ok::<(), palisade_vulndb::update::UpdateError>(())
//! ```
//!
//! Crash safety: new downloads go to a staging directory inside the cache
//! (`<db>.feeds/.staging-<pid>/<relative path>`). The database is rebuilt (atomically, by
//! [`DatabaseBuilder`]) from the staged files plus the unchanged cached ones, and only when that
//! succeeds are the staged files renamed over the cached ones and their ETag / Last-Modified
//! sidecars written. A `kill -9`, a network failure or a corrupt download therefore leaves both
//! the previous database and the previous cache untouched; leftover staging directories are
//! removed by the next run.
//!
//! Concurrency: the run holds the database's writers' lock ([`WriteLock`]) from before it
//! touches the cache until the new database is in place, so a second update (or import) fails
//! clearly instead of deleting this run's staging directory; the staging directories and
//! temporary files it finds once it holds the lock are a dead run's.
//!
//! Monotonic: feeds in the database that the cache does not hold (added by an import) are
//! kept, and a new database that would drop a feed or most of a feed's records is refused
//! unless [`UpdateOptions::allow_shrink`] (see [`DatabaseBuilder`]).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use palisade_image::http::{self, HttpClient};

use crate::feed::{AddedFeed, ImportError, add_feed};
use crate::{Database, DatabaseBuilder, Error, Limits, Status, Timestamp, WriteLock};

pub use palisade_image::http::HttpOptions;

/// The OSV bulk export bucket.
pub const OSV_BUCKET: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// The CISA KEV catalog.
pub const KEV_URL: &str =
    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json";
/// The Alpine secdb.
pub const ALPINE_SECDB: &str = "https://secdb.alpinelinux.org";
/// FIRST's daily EPSS scores (the data is published by Empirical Security for FIRST).
pub const EPSS_URL: &str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz";
/// The largest feed file accepted (declared or received).
pub const MAX_FEED_BYTES: u64 = 2 << 30;
/// The feeds fetched when none are named.
pub const DEFAULT_FEEDS: &[&str] = &[
    "osv/PyPI",
    "osv/Go",
    "osv/crates.io",
    "osv/npm",
    "osv/Maven",
    "osv/RubyGems",
    "osv/Packagist",
    "osv/NuGet",
    "osv/Debian",
    "osv/Alpine",
    "kev",
    "epss",
];

/// Why an update failed. Each message names the feed, URL or file; the cause, when there is
/// one, is its [`std::error::Error::source`], to be shown after it. The database and the feed
/// cache are unchanged after any of these but a failure while committing downloads to the
/// cache ([`UpdateError::Io`] after the database was written), which costs a re-download.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The feed list is empty.
    #[error("no feeds given")]
    NoFeeds,
    /// A feed name that is none of `osv/<ECOSYSTEM>`, `kev`, `epss`, `alpine-secdb/v3.N`.
    #[error("unknown feed {name:?} (expected osv/<ECOSYSTEM>, kev, epss or alpine-secdb/v3.N)")]
    UnknownFeed {
        /// The name as given.
        name: String,
    },
    /// A feed name whose ecosystem or release could escape the cache directory.
    #[error("bad feed name {name:?}")]
    BadFeedName {
        /// The name as given.
        name: String,
    },
    /// A feed URL the HTTP policy refuses (e.g. plain HTTP to a host that is not loopback).
    #[error("{url}: {reason}")]
    RefusedUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be set up (e.g. a CA file with no certificate).
    #[error(transparent)]
    Http(#[from] palisade_image::Error),
    /// The database path names no file, so there is no place for the feed cache.
    #[error("{}: not a file path", path.display())]
    NotAFilePath {
        /// The database path.
        path: PathBuf,
    },
    /// A file or directory of the feed cache could not be read or written.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done (`creating`, `moving the download into`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The database could not be locked, read or written, or a shrink was refused (the error
    /// names the file and what would be lost).
    #[error(transparent)]
    Db(#[from] Error),
    /// Some downloads failed (each was reported as an [`UpdateEvent::Failed`] too).
    #[error(
        "{} of {total} feed downloads failed; the database {} was not changed",
        failures.len(), db.display()
    )]
    Downloads {
        /// The database.
        db: PathBuf,
        /// How many files were to be fetched.
        total: usize,
        /// Each failed file, with why.
        failures: Vec<(FeedFile, FetchError)>,
    },
    /// A downloaded or cached feed file could not be imported.
    #[error(
        "feed {rel} ({}) could not be imported; the database {} was not changed",
        path.display(), db.display()
    )]
    Import {
        /// The feed file's path in the cache (`osv/PyPI/all.zip`).
        rel: String,
        /// Where it was read from (the staging directory or the cache).
        path: PathBuf,
        /// The database.
        db: PathBuf,
        /// Why.
        source: Box<ImportError>,
    },
}

/// Why one feed file could not be downloaded. The message names the URL or the staged file;
/// the cause, when there is one, is its [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A transport failure, a refused redirect or the deadline (the error names the URL).
    #[error(transparent)]
    Http(#[from] palisade_image::Error),
    /// A status other than 200 (or 304 with a cached copy).
    #[error("GET {url}: HTTP {status} {reason}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// Its reason phrase.
        reason: &'static str,
    },
    /// A `Content-Length` over the limit; nothing was read.
    #[error("GET {url}: {declared} bytes is more than the {limit}-byte limit")]
    DeclaredTooLarge {
        /// The URL.
        url: String,
        /// The declared length.
        declared: u64,
        /// [`MAX_FEED_BYTES`].
        limit: u64,
    },
    /// A body that went on past the limit; the download was dropped.
    #[error("GET {url}: more than the {limit}-byte limit")]
    TooLarge {
        /// The URL.
        url: String,
        /// [`MAX_FEED_BYTES`].
        limit: u64,
    },
    /// The staged file could not be written, or the body could not be read (the cause names
    /// the URL, and the deadline when it passed).
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done (`creating`, `downloading into`, `writing`).
        action: &'static str,
        /// The staged file or its directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedFile {
    /// The feed as named (`osv/PyPI`).
    pub feed: String,
    /// Path relative to the cache and the mirror (`osv/PyPI/all.zip`).
    pub rel: String,
    /// Where it is fetched from.
    pub url: String,
}

/// Expands feed names (`osv/<ECOSYSTEM>`, `kev`, `epss`, `alpine-secdb/v3.N`, the RPM
/// distros' OSV exports `almalinux[:N]` and `rocky[:N]` (also `osv/Rocky Linux[:N]`, a space
/// in the name); none: [`DEFAULT_FEEDS`]) into the files to fetch, from `mirror`
/// (`URL/<rel>`) or upstream, without duplicates, in order.
///
/// # Errors
/// [`UpdateError::NoFeeds`], [`UpdateError::UnknownFeed`], [`UpdateError::BadFeedName`].
pub fn feed_files(feeds: &[String], mirror: Option<&str>) -> Result<Vec<FeedFile>, UpdateError> {
    let names: Vec<String> = if feeds.is_empty() {
        DEFAULT_FEEDS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        feeds
            .iter()
            .map(|s| s.trim().trim_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    if names.is_empty() {
        return Err(UpdateError::NoFeeds);
    }
    let mirror = mirror.map(|m| m.trim_end_matches('/'));
    let mut out: Vec<FeedFile> = Vec::new();
    for name in names {
        let files: Vec<(String, String)> =
            if let Some((folder, url)) = crate::rpm_distro::osv_export(&name) {
                // The RPM distros' exports (`almalinux`, `rocky:9`, `osv/Rocky Linux`): see
                // `crate::rpm_distro`.
                vec![(
                    format!("osv/{folder}/all.zip"),
                    format!("{OSV_BUCKET}/{url}/all.zip"),
                )]
            } else if let Some(eco) = name.strip_prefix("osv/") {
                check_segment(&name, eco)?;
                vec![(
                    format!("osv/{eco}/all.zip"),
                    format!("{OSV_BUCKET}/{eco}/all.zip"),
                )]
            } else if name == "kev" {
                vec![(
                    "kev/known_exploited_vulnerabilities.json".to_owned(),
                    KEV_URL.to_owned(),
                )]
            } else if name == "epss" {
                vec![(
                    "epss/epss_scores-current.csv.gz".to_owned(),
                    EPSS_URL.to_owned(),
                )]
            } else if let Some(rel) = name.strip_prefix("alpine-secdb/") {
                check_segment(&name, rel)?;
                ["main", "community"]
                    .iter()
                    .map(|r| {
                        (
                            format!("alpine-secdb/{rel}/{r}.yaml"),
                            format!("{ALPINE_SECDB}/{rel}/{r}.yaml"),
                        )
                    })
                    .collect()
            } else {
                return Err(UpdateError::UnknownFeed { name });
            };
        for (rel, upstream) in files {
            let url = match mirror {
                Some(m) => format!("{m}/{}", rel.replace(' ', "%20")),
                None => upstream,
            };
            let file = FeedFile {
                feed: name.clone(),
                rel,
                url,
            };
            if !out.contains(&file) {
                out.push(file);
            }
        }
    }
    Ok(out)
}

/// A single path segment that cannot escape the cache directory.
fn check_segment(name: &str, seg: &str) -> Result<(), UpdateError> {
    let ok = !seg.is_empty()
        && seg != "."
        && seg != ".."
        && !seg.starts_with('.')
        && seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '+'));
    if ok {
        Ok(())
    } else {
        Err(UpdateError::BadFeedName {
            name: name.to_owned(),
        })
    }
}

/// The feed cache of the database at `db`: `<db>.feeds`, beside it.
///
/// # Errors
/// [`UpdateError::NotAFilePath`] when `db` names no file.
pub fn feed_cache_dir(db: &Path) -> Result<PathBuf, UpdateError> {
    let mut name = db
        .file_name()
        .ok_or_else(|| UpdateError::NotAFilePath {
            path: db.to_path_buf(),
        })?
        .to_owned();
    name.push(".feeds");
    Ok(db.with_file_name(name))
}

/// What to fetch, from where, and how to write the database.
#[derive(Clone, Debug, Default)]
pub struct UpdateOptions {
    /// Feed names (`osv/<ECOSYSTEM>`, `kev`, `epss`, `alpine-secdb/v3.N`); empty:
    /// [`DEFAULT_FEEDS`].
    pub feeds: Vec<String>,
    /// Fetch every feed from this mirror (`URL/osv/<ECOSYSTEM>/all.zip`, …) instead of
    /// upstream.
    pub mirror: Option<String>,
    /// The HTTP client's settings (CA file, deadline per download, insecure hosts). Plain
    /// HTTP to loopback is allowed when every feed URL is a loopback one.
    pub http: HttpOptions,
    /// Replace the database even when the new one would drop a feed or keep less than half
    /// of a feed's records.
    pub allow_shrink: bool,
    /// The importers' bounds.
    pub limits: Limits,
}

/// What happened during [`update`], as it happens (for progress and logs).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum UpdateEvent<'a> {
    /// Taking the writers' lock removed a temporary file of an interrupted write.
    RemovedTempFile(&'a Path),
    /// A staging directory of an interrupted update was removed.
    RemovedStaging(&'a Path),
    /// A file is about to be requested.
    Downloading {
        /// The file.
        file: &'a FeedFile,
    },
    /// A feed file (downloaded or from the cache) is about to be imported into the new
    /// database.
    Importing {
        /// Its path relative to the feed cache.
        rel: &'a str,
    },
    /// A file was downloaded into the staging directory.
    Downloaded {
        /// The file.
        file: &'a FeedFile,
        /// Its size.
        bytes: u64,
    },
    /// The server said the cached copy is current.
    NotModified {
        /// The file.
        file: &'a FeedFile,
    },
    /// A download failed; the update goes on fetching the others, then fails
    /// ([`UpdateError::Downloads`]).
    Failed {
        /// The file.
        file: &'a FeedFile,
        /// Why.
        error: &'a FetchError,
    },
}

/// What happened to one feed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Download {
    /// Downloaded (and, once the database was written, moved into the cache).
    Downloaded {
        /// Its size.
        bytes: u64,
        /// The server's ETag, kept for the next conditional request.
        etag: Option<String>,
        /// The server's Last-Modified, kept likewise.
        last_modified: Option<String>,
    },
    /// The cached copy is current (HTTP 304).
    NotModified,
}

/// One feed file the database was rebuilt from.
#[derive(Clone, Debug)]
pub struct RebuiltFeed {
    /// Its path in the cache (`osv/PyPI/all.zip`).
    pub rel: String,
    /// Whether this run downloaded it (else it came from the cache unchanged).
    pub downloaded: bool,
    /// What it was imported as; its source is the cache path.
    pub added: AddedFeed,
}

/// The database written by [`update`].
#[derive(Debug)]
pub struct Rebuild {
    /// Every feed file of the cache (and the new downloads), sorted by `rel`.
    pub feeds: Vec<RebuiltFeed>,
    /// The previous database could not be read, so its other feeds were not kept.
    pub previous_unreadable: Option<Error>,
    /// The previous database's feeds that the cache does not hold (added by an import), kept.
    pub kept: Vec<String>,
    /// The new database.
    pub status: Status,
}

impl Rebuild {
    /// The names of the feeds this run downloaded, in `rel` order.
    pub fn refreshed(&self) -> Vec<String> {
        self.names(true)
    }

    /// The names of the feeds rebuilt from the cache unchanged, in `rel` order.
    pub fn from_cache(&self) -> Vec<String> {
        self.names(false)
    }

    fn names(&self, downloaded: bool) -> Vec<String> {
        self.feeds
            .iter()
            .filter(|f| f.downloaded == downloaded)
            .map(|f| f.added.feed.name.clone())
            .collect()
    }
}

/// What [`update`] did.
#[derive(Debug)]
pub struct UpdateReport {
    /// The database.
    pub db: PathBuf,
    /// Each file fetched, in order, with what happened to it.
    pub downloads: Vec<(FeedFile, Download)>,
    /// The database written; `None` when every file was current and the database existed,
    /// so it was left as it was.
    pub rebuilt: Option<Rebuild>,
}

/// Downloads the feeds of `options` into the feed cache of `db` ([`feed_cache_dir`]) and
/// rebuilds the database from the whole cache plus the previous database's feeds the cache
/// does not hold, under the database's [`WriteLock`]. See the module documentation for what
/// survives a crash.
///
/// # Errors
/// A bad feed name or URL, the HTTP client's set-up, the lock being held by another writer,
/// any failed download (after all were tried), a feed file that does not import, a shrink
/// refused, or a file of the database or cache that cannot be written.
pub fn update(
    db: &Path,
    options: &UpdateOptions,
    on_event: &mut dyn FnMut(UpdateEvent<'_>),
) -> Result<UpdateReport, UpdateError> {
    let files = feed_files(&options.feeds, options.mirror.as_deref())?;
    let client = HttpClient::new(
        &options.http,
        http::all_loopback(files.iter().map(|f| f.url.as_str())),
    )?;
    for f in &files {
        client
            .check_url(&f.url)
            .map_err(|reason| UpdateError::RefusedUrl {
                url: f.url.clone(),
                reason,
            })?;
    }
    let cache = feed_cache_dir(db)?;
    fs::create_dir_all(&cache).map_err(|source| UpdateError::Io {
        action: "creating",
        path: cache.clone(),
        source,
    })?;
    // From here on no other writer touches the database or its cache.
    let lock = WriteLock::acquire(db)?;
    for p in lock.removed() {
        on_event(UpdateEvent::RemovedTempFile(p));
    }
    for dir in remove_stale_staging(&cache) {
        on_event(UpdateEvent::RemovedStaging(&dir));
    }
    let staging = Staging(cache.join(format!(".staging-{}", std::process::id())));

    let mut downloads = Vec::with_capacity(files.len());
    let mut failures = Vec::new();
    for f in &files {
        on_event(UpdateEvent::Downloading { file: f });
        match fetch(&client, f, &cache.join(&f.rel), &staging.0.join(&f.rel)) {
            Ok(outcome) => {
                on_event(match &outcome {
                    Download::Downloaded { bytes, .. } => UpdateEvent::Downloaded {
                        file: f,
                        bytes: *bytes,
                    },
                    Download::NotModified => UpdateEvent::NotModified { file: f },
                });
                downloads.push((f.clone(), outcome));
            }
            Err(error) => {
                on_event(UpdateEvent::Failed {
                    file: f,
                    error: &error,
                });
                failures.push((f.clone(), error));
            }
        }
    }
    if !failures.is_empty() {
        return Err(UpdateError::Downloads {
            db: db.to_path_buf(),
            total: files.len(),
            failures,
        });
    }
    let is_new = |d: &Download| matches!(d, Download::Downloaded { .. });
    if !downloads.iter().any(|(_, d)| is_new(d)) && db.is_file() {
        return Ok(UpdateReport {
            db: db.to_path_buf(),
            downloads,
            rebuilt: None,
        });
    }

    // The database is built from every cached feed, with the new downloads in place of their
    // cached copies, plus the feeds of the previous database that the cache does not hold.
    let mut rels = cached_files(&cache)?;
    for (f, d) in &downloads {
        if is_new(d) && !rels.contains(&f.rel) {
            rels.push(f.rel.clone());
        }
    }
    rels.sort();
    let inputs: Vec<Input> = rels
        .into_iter()
        .map(|rel| {
            let downloaded = downloads.iter().any(|(f, d)| f.rel == rel && is_new(d));
            let path = if downloaded {
                staging.0.join(&rel)
            } else {
                cache.join(&rel)
            };
            Input {
                rel,
                path,
                downloaded,
            }
        })
        .collect();
    let rebuild = build(db, &cache, inputs, &lock, options, on_event)?;

    // The new database is in place: commit the downloads to the cache. File first, then its
    // validators, so a crash in between only costs a re-download.
    for (f, d) in &downloads {
        let Download::Downloaded {
            etag,
            last_modified,
            ..
        } = d
        else {
            continue;
        };
        let dest = cache.join(&f.rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|source| UpdateError::Io {
                action: "creating",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        fs::rename(staging.0.join(&f.rel), &dest).map_err(|source| UpdateError::Io {
            action: "moving the download into",
            path: dest.clone(),
            source,
        })?;
        write_sidecar(&dest, ".etag", etag.as_deref())?;
        write_sidecar(&dest, ".last-modified", last_modified.as_deref())?;
    }
    Ok(UpdateReport {
        db: db.to_path_buf(),
        downloads,
        rebuilt: Some(rebuild),
    })
}

fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// A validator kept beside a cached file; one that is empty, long or multi-line is ignored.
fn read_sidecar(path: &Path, ext: &str) -> Option<String> {
    let side = sidecar(path, ext);
    // Bounded: a validator is one short line.
    let mut text = String::new();
    File::open(side)
        .ok()?
        .take(4096)
        .read_to_string(&mut text)
        .ok()?;
    let text = text.trim();
    (!text.is_empty() && text.len() < 1024 && !text.contains(['\r', '\n'])).then(|| text.to_owned())
}

fn write_sidecar(path: &Path, ext: &str, value: Option<&str>) -> Result<(), UpdateError> {
    let side = sidecar(path, ext);
    match value {
        Some(v) => fs::write(&side, format!("{v}\n")).map_err(|source| UpdateError::Io {
            action: "writing",
            path: side,
            source,
        }),
        None => match fs::remove_file(&side) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(UpdateError::Io {
                action: "removing",
                path: side,
                source: e,
            }),
            _ => Ok(()),
        },
    }
}

/// Fetches one file, conditionally on the cached copy's validators, into `staged`.
fn fetch(
    client: &HttpClient,
    file: &FeedFile,
    cached: &Path,
    staged: &Path,
) -> Result<Download, FetchError> {
    let have_cached = cached.is_file();
    let etag = have_cached.then(|| read_sidecar(cached, ".etag")).flatten();
    let lm = have_cached
        .then(|| read_sidecar(cached, ".last-modified"))
        .flatten();
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(etag) = &etag {
        headers.push(("If-None-Match", etag.as_str()));
    }
    if let Some(lm) = &lm {
        headers.push(("If-Modified-Since", lm.as_str()));
    }
    let resp = client.get(&file.url, &headers)?;
    let status = resp.status();
    if status == 304 && have_cached {
        return Ok(Download::NotModified);
    }
    if status != 200 {
        return Err(FetchError::Status {
            url: file.url.clone(),
            status,
            reason: resp.reason(),
        });
    }
    let header = |name: &str| {
        resp.header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() < 1024)
            .map(str::to_owned)
    };
    let etag = header("etag");
    let last_modified = header("last-modified");
    if let Some(len) = header("content-length").and_then(|l| l.parse::<u64>().ok())
        && len > MAX_FEED_BYTES
    {
        return Err(FetchError::DeclaredTooLarge {
            url: file.url.clone(),
            declared: len,
            limit: MAX_FEED_BYTES,
        });
    }
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io {
            action,
            path,
            source,
        }
    };
    if let Some(dir) = staged.parent() {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    }
    let mut out = File::create(staged).map_err(io_err("creating", staged))?;
    let mut body = resp.into_reader().take(MAX_FEED_BYTES + 1);
    // The reader's errors name the URL (and the deadline when it passed).
    let bytes = io::copy(&mut body, &mut out).map_err(io_err("downloading into", staged))?;
    if bytes > MAX_FEED_BYTES {
        return Err(FetchError::TooLarge {
            url: file.url.clone(),
            limit: MAX_FEED_BYTES,
        });
    }
    out.sync_all().map_err(io_err("writing", staged))?;
    Ok(Download::Downloaded {
        bytes,
        etag,
        last_modified,
    })
}

/// Every feed file in the cache (relative paths, sorted), skipping sidecars and staging.
fn cached_files(cache: &Path) -> Result<Vec<String>, UpdateError> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), UpdateError> {
        let reading = |source| UpdateError::Io {
            action: "reading",
            path: dir.to_path_buf(),
            source,
        };
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(reading(e)),
        };
        for entry in entries {
            let entry = entry.map_err(reading)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let ty = entry.file_type().map_err(reading)?;
            if ty.is_dir() {
                walk(&entry.path(), &rel, out)?;
            } else if ty.is_file() && !name.ends_with(".etag") && !name.ends_with(".last-modified")
            {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(cache, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// Removes staging directories left behind by killed runs; only the holder of the
/// database's [`WriteLock`] may call it (every other staging directory is then a dead run's).
fn remove_stale_staging(cache: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(cache) else {
        return removed;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".staging-")
            && fs::remove_dir_all(e.path()).is_ok()
        {
            removed.push(e.path());
        }
    }
    removed.sort();
    removed
}

/// Removes the staging directory when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One feed file the database is built from.
struct Input {
    /// Its path in the cache (`osv/PyPI/all.zip`).
    rel: String,
    /// Where it is read from: the staging directory or the cache.
    path: PathBuf,
    /// Whether this run downloaded it.
    downloaded: bool,
}

/// Builds the database from the inputs plus the previous database's other feeds; an error
/// names the feed.
fn build(
    db: &Path,
    cache: &Path,
    inputs: Vec<Input>,
    lock: &WriteLock,
    options: &UpdateOptions,
    on_event: &mut dyn FnMut(UpdateEvent<'_>),
) -> Result<Rebuild, UpdateError> {
    let now = Timestamp::now();
    let mut builder = DatabaseBuilder::new(db);
    builder.allow_shrink(options.allow_shrink);
    let mut feeds = Vec::with_capacity(inputs.len());
    for input in inputs {
        on_event(UpdateEvent::Importing { rel: &input.rel });
        let source = cache.join(&input.rel).display().to_string();
        let added = add_feed(
            &mut builder,
            &input.path,
            Some(&source),
            &options.limits,
            &now,
        )
        .map_err(|source| UpdateError::Import {
            rel: input.rel.clone(),
            path: input.path.clone(),
            db: db.to_path_buf(),
            source: Box::new(source),
        })?;
        feeds.push(RebuiltFeed {
            rel: input.rel,
            downloaded: input.downloaded,
            added,
        });
    }
    let (kept, previous_unreadable) = match Database::open_read_only(db) {
        Ok(previous) => (builder.keep_other_feeds(&previous)?, None),
        Err(Error::Missing { .. }) => (Vec::new(), None),
        Err(e) => (Vec::new(), Some(e)),
    };
    // Its errors name the file (and, refusing a shrink, what would be lost).
    let status = builder.finish_locked(lock)?;
    Ok(Rebuild {
        feeds,
        previous_unreadable,
        kept,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_expand_to_mirror_paths() {
        let files = feed_files(
            &["osv/PyPI".into(), "kev".into(), "alpine-secdb/v3.10".into()],
            Some("http://127.0.0.1:1/"),
        )
        .unwrap();
        let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:1/osv/PyPI/all.zip",
                "http://127.0.0.1:1/kev/known_exploited_vulnerabilities.json",
                "http://127.0.0.1:1/alpine-secdb/v3.10/main.yaml",
                "http://127.0.0.1:1/alpine-secdb/v3.10/community.yaml",
            ]
        );
        let default = feed_files(&[], None).unwrap();
        assert_eq!(
            default[0].url,
            "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
        );
        assert_eq!(default.len(), DEFAULT_FEEDS.len());
        // Duplicates collapse, blanks and slashes are trimmed.
        let files = feed_files(&[" kev/".into(), "kev".into()], None).unwrap();
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn bad_feeds_are_refused() {
        for bad in ["osv/..", "osv/a/b", "osv/.hidden", "alpine-secdb/.."] {
            assert!(
                matches!(
                    feed_files(&[bad.into()], None),
                    Err(UpdateError::BadFeedName { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            feed_files(&["nope".into()], None),
            Err(UpdateError::UnknownFeed { name }) if name == "nope"
        ));
        assert!(matches!(
            feed_files(&[" ".into(), "/".into()], None),
            Err(UpdateError::NoFeeds)
        ));
    }

    #[test]
    fn the_cache_sits_beside_the_database() {
        assert_eq!(
            feed_cache_dir(Path::new("/data/vuln.db")).unwrap(),
            Path::new("/data/vuln.db.feeds")
        );
        assert!(matches!(
            feed_cache_dir(Path::new("/")),
            Err(UpdateError::NotAFilePath { .. })
        ));
    }
}
