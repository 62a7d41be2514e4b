//! `palisade db update`: downloads the vulnerability feeds (from upstream or a mirror with the
//! same layout as `../shared/feeds`) into a cache next to the database, with conditional
//! requests, then rebuilds the database from the cached feeds.
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
//! touches the cache until the new database is in place, so a second `db update` (or `db
//! import`) fails clearly instead of deleting this run's staging directory; the staging
//! directories and temporary files it finds once it holds the lock are a dead run's.
//!
//! Monotonic: feeds in the database that the cache does not hold (added by `db import`) are
//! kept, and a new database that would drop a feed or most of a feed's records is refused
//! unless `--allow-shrink` (see [`DatabaseBuilder`]).
//!
//! Transport: [`palisade_image::http`], the policy every HTTP client of Palisade keeps (system
//! roots plus `--ca-file`, no plain HTTP but to loopback, redirects checked like direct URLs,
//! a total deadline per download).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use palisade_image::http::{self, HttpClient, HttpOptions};
use palisade_vulndb::{Database, DatabaseBuilder, Limits, WriteLock};

use super::db::{DbPathArgs, WriteArgs, add_feed, detect, now_timestamp, report_removed};
use crate::exit;

/// The OSV bulk export bucket.
const OSV_BUCKET: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// The CISA KEV catalog.
const KEV_URL: &str =
    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json";
/// The Alpine secdb.
const ALPINE_SECDB: &str = "https://secdb.alpinelinux.org";
/// FIRST's daily EPSS scores (the data is published by Empirical Security for FIRST).
const EPSS_URL: &str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz";
/// The largest feed file we accept.
const MAX_FEED_BYTES: u64 = 2 << 30;
/// Default feeds.
const DEFAULT_FEEDS: &[&str] = &[
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

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FeedFile {
    /// The feed as named on the command line (`osv/PyPI`).
    feed: String,
    /// Path relative to the cache and the mirror (`osv/PyPI/all.zip`).
    rel: String,
    /// Where it is fetched from.
    url: String,
}

/// Expands `--feeds` entries into the files to fetch.
fn feed_files(feeds: &[String], mirror: Option<&str>) -> Result<Vec<FeedFile>> {
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
        bail!("--feeds: no feeds given");
    }
    let mirror = mirror.map(|m| m.trim_end_matches('/'));
    let mut out: Vec<FeedFile> = Vec::new();
    for name in names {
        let files: Vec<(String, String)> = if let Some(eco) = name.strip_prefix("osv/") {
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
            bail!(
                "--feeds: unknown feed {name:?} (expected osv/<ECOSYSTEM>, kev, epss or alpine-secdb/v3.N)"
            );
        };
        for (rel, upstream) in files {
            let url = match mirror {
                Some(m) => format!("{m}/{rel}"),
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
fn check_segment(name: &str, seg: &str) -> Result<()> {
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
        bail!("--feeds: bad feed name {name:?}")
    }
}

/// What happened to one feed file.
enum Outcome {
    /// Downloaded into the staging directory.
    Downloaded {
        bytes: u64,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    NotModified,
}

fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

fn read_sidecar(path: &Path, ext: &str) -> Option<String> {
    let text = fs::read_to_string(sidecar(path, ext)).ok()?;
    let text = text.trim();
    (!text.is_empty() && text.len() < 1024 && !text.contains(['\r', '\n'])).then(|| text.to_owned())
}

fn write_sidecar(path: &Path, ext: &str, value: Option<&str>) -> Result<()> {
    let side = sidecar(path, ext);
    match value {
        Some(v) => fs::write(&side, format!("{v}\n"))
            .with_context(|| format!("writing {}", side.display())),
        None => match fs::remove_file(&side) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", side.display()))
            }
            _ => Ok(()),
        },
    }
}

/// Fetches one file, conditionally on the cached copy's validators, into `staged`.
fn fetch(client: &HttpClient, file: &FeedFile, cached: &Path, staged: &Path) -> Result<Outcome> {
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
        return Ok(Outcome::NotModified);
    }
    if status != 200 {
        bail!("GET {}: HTTP {status} {}", file.url, resp.reason());
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
        bail!(
            "GET {}: {len} bytes is more than the {MAX_FEED_BYTES}-byte limit",
            file.url
        );
    }
    if let Some(dir) = staged.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut out = File::create(staged).with_context(|| format!("creating {}", staged.display()))?;
    let mut body = resp.into_reader().take(MAX_FEED_BYTES + 1);
    // The reader's errors name the URL (and the deadline when it passed).
    let bytes = io::copy(&mut body, &mut out)
        .with_context(|| format!("downloading into {}", staged.display()))?;
    if bytes > MAX_FEED_BYTES {
        bail!(
            "GET {}: more than the {MAX_FEED_BYTES}-byte limit",
            file.url
        );
    }
    out.sync_all()
        .with_context(|| format!("writing {}", staged.display()))?;
    Ok(Outcome::Downloaded {
        bytes,
        etag,
        last_modified,
    })
}

/// Every feed file in the cache (relative paths, sorted), skipping sidecars and staging.
fn cached_files(cache: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let ty = entry.file_type()?;
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

pub(crate) fn run(args: &UpdateArgs) -> Result<u8> {
    let db_path = args.db.path()?;
    let files = feed_files(&args.feeds, args.mirror.as_deref())?;
    let client = HttpClient::new(
        &HttpOptions {
            insecure: Vec::new(),
            ca_file: args.ca_file.clone(),
            deadline: args.http_timeout,
        },
        http::all_loopback(files.iter().map(|f| f.url.as_str())),
    )?;
    for f in &files {
        client
            .check_url(&f.url)
            .map_err(|reason| anyhow!("{}: {reason}", f.url))?;
    }

    let mut cache_name = db_path
        .file_name()
        .context("--db: not a file path")?
        .to_owned();
    cache_name.push(".feeds");
    let cache = db_path.with_file_name(cache_name);
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    // From here on no other writer touches the database or its cache.
    let lock = WriteLock::acquire(&db_path)?;
    let mut stderr = io::stderr().lock();
    report_removed(&mut stderr, lock.removed())?;
    for dir in remove_stale_staging(&cache) {
        writeln!(
            stderr,
            "removed the staging directory of an interrupted update: {}",
            dir.display()
        )?;
    }
    let staging = Staging(cache.join(format!(".staging-{}", std::process::id())));

    let mut staged: Vec<(&FeedFile, Option<String>, Option<String>)> = Vec::new();
    let mut failed = 0usize;
    for f in &files {
        let cached = cache.join(&f.rel);
        let staged_path = staging.0.join(&f.rel);
        match fetch(&client, f, &cached, &staged_path) {
            Ok(Outcome::Downloaded {
                bytes,
                etag,
                last_modified,
            }) => {
                writeln!(stderr, "{}: downloaded {bytes} bytes from {}", f.rel, f.url)?;
                staged.push((f, etag, last_modified));
            }
            Ok(Outcome::NotModified) => writeln!(stderr, "{}: not modified", f.rel)?,
            Err(e) => {
                failed += 1;
                writeln!(stderr, "{}: failed: {e:#}", f.rel)?;
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} feed downloads failed; the database {} was not changed",
            files.len(),
            db_path.display()
        );
    }
    if staged.is_empty() && db_path.is_file() {
        writeln!(
            stderr,
            "all feeds are up to date; {} unchanged",
            db_path.display()
        )?;
        return Ok(exit::OK);
    }

    // The database is built from every cached feed, with the new downloads in place of their
    // cached copies, plus the feeds of the previous database that the cache does not hold.
    let mut rels = cached_files(&cache)?;
    for (f, _, _) in &staged {
        if !rels.contains(&f.rel) {
            rels.push(f.rel.clone());
        }
    }
    rels.sort();
    let inputs: Vec<Input> = rels
        .into_iter()
        .map(|rel| {
            let downloaded = staged.iter().any(|(f, _, _)| f.rel == rel);
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
    let lines = build(&db_path, &cache, &inputs, &lock, &args.write)?;

    // The new database is in place: commit the downloads to the cache. File first, then its
    // validators, so a crash in between only costs a re-download.
    for (f, etag, last_modified) in &staged {
        let dest = cache.join(&f.rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::rename(staging.0.join(&f.rel), &dest)
            .with_context(|| format!("moving the download into {}", dest.display()))?;
        write_sidecar(&dest, ".etag", etag.as_deref())?;
        write_sidecar(&dest, ".last-modified", last_modified.as_deref())?;
    }
    for l in &lines {
        writeln!(stderr, "{l}")?;
    }
    Ok(exit::OK)
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
/// names the feed. Returns the lines to show.
fn build(
    db_path: &Path,
    cache: &Path,
    inputs: &[Input],
    lock: &WriteLock,
    write: &WriteArgs,
) -> Result<Vec<String>> {
    let limits = Limits::default();
    let now = now_timestamp();
    let mut builder = DatabaseBuilder::new(db_path);
    builder.allow_shrink(write.allow_shrink);
    let mut lines = Vec::new();
    let (mut refreshed, mut from_cache) = (Vec::new(), Vec::new());
    for input in inputs {
        let (rel, path) = (&input.rel, &input.path);
        let source = cache.join(rel).display().to_string();
        let fail = || {
            format!(
                "feed {rel} ({}) could not be imported; the database {} was not changed",
                path.display(),
                db_path.display()
            )
        };
        let kind = detect(path).with_context(fail)?;
        let (feed, warnings) =
            add_feed(&mut builder, path, kind, Some(source), &limits, &now).with_context(fail)?;
        lines.push(format!(
            "imported {}: {} records from {rel}{}",
            feed.name,
            feed.records,
            super::db::warning_count(warnings.len(), write.verbose)
        ));
        if write.verbose {
            lines.extend(warnings.iter().map(|w| format!("  warning: {w}")));
        }
        if input.downloaded {
            refreshed.push(feed.name);
        } else {
            from_cache.push(feed.name);
        }
    }
    let kept = match Database::open_read_only(db_path) {
        Ok(previous) => builder.keep_other_feeds(&previous)?,
        Err(palisade_vulndb::Error::Missing { .. }) => Vec::new(),
        Err(e) => {
            lines.push(format!(
                "the previous database cannot be read ({e}); its feeds are not kept"
            ));
            Vec::new()
        }
    };
    // Its errors name the file (and, refusing a shrink, what would be lost).
    let status = builder.finish_locked(lock)?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    lines.push(format!("refreshed (downloaded): {}", list(&refreshed)));
    lines.push(format!(
        "rebuilt from the feed cache: {}",
        list(&from_cache)
    ));
    lines.push(format!(
        "kept from the previous database (not in the feed cache, e.g. added by `db import`): {}",
        list(&kept)
    ));
    lines.push(format!(
        "wrote {}: {} advisories from {} feeds",
        db_path.display(),
        status.advisories,
        status.feeds.len()
    ));
    Ok(lines)
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
    }

    #[test]
    fn bad_feeds_and_urls_are_refused() {
        assert!(feed_files(&["osv/..".into()], None).is_err());
        assert!(feed_files(&["osv/a/b".into()], None).is_err());
        assert!(feed_files(&["nope".into()], None).is_err());
    }
}
