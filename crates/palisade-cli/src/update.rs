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

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use palisade_vulndb::{DatabaseBuilder, Limits};

use crate::db::{DbPathArgs, Kind, detect, now_timestamp};
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
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

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

/// `http://` is accepted only for loopback hosts (test mirrors); everything else needs https.
fn check_url(url: &str) -> Result<bool> {
    if url.starts_with("https://") {
        return Ok(false);
    }
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{url}: only https:// URLs are supported (http:// for loopback mirrors)");
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(true)
    } else {
        bail!("{url}: plain http:// is only allowed for loopback mirrors; use https://")
    }
}

fn agent(loopback: bool) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .https_only(!loopback)
        .max_redirects(5)
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .timeout_per_write(Some(READ_TIMEOUT))
        .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")));
    if loopback {
        config = config.proxy(None);
    }
    ureq::Agent::new_with_config(config.build())
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
fn fetch(agent: &ureq::Agent, file: &FeedFile, cached: &Path, staged: &Path) -> Result<Outcome> {
    let have_cached = cached.is_file();
    let mut req = agent.get(&file.url);
    if have_cached {
        if let Some(etag) = read_sidecar(cached, ".etag") {
            req = req.header("If-None-Match", etag);
        }
        if let Some(lm) = read_sidecar(cached, ".last-modified") {
            req = req.header("If-Modified-Since", lm);
        }
    }
    let resp = req.call().map_err(|e| anyhow!("GET {}: {e}", file.url))?;
    let status = resp.status().as_u16();
    if status == 304 && have_cached {
        return Ok(Outcome::NotModified);
    }
    if status != 200 {
        bail!(
            "GET {}: HTTP {status} {}",
            file.url,
            resp.status().canonical_reason().unwrap_or("")
        );
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
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
    let mut body = resp.into_body().into_reader().take(MAX_FEED_BYTES + 1);
    let bytes = io::copy(&mut body, &mut out).map_err(|e| anyhow!("GET {}: {e}", file.url))?;
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

/// Removes staging directories left behind by killed runs.
fn remove_stale_staging(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".staging-") {
            let _ = fs::remove_dir_all(e.path());
        }
    }
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
    let mut loopback = true;
    for f in &files {
        loopback &= check_url(&f.url)?;
    }
    let agent = agent(loopback);

    let mut cache_name = db_path
        .file_name()
        .context("--db: not a file path")?
        .to_owned();
    cache_name.push(".feeds");
    let cache = db_path.with_file_name(cache_name);
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    remove_stale_staging(&cache);
    let staging = Staging(cache.join(format!(".staging-{}", std::process::id())));

    let mut stderr = io::stderr().lock();
    let mut staged: Vec<(&FeedFile, Option<String>, Option<String>)> = Vec::new();
    let mut failed = 0usize;
    for f in &files {
        let cached = cache.join(&f.rel);
        let staged_path = staging.0.join(&f.rel);
        match fetch(&agent, f, &cached, &staged_path) {
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
    // cached copies.
    let mut rels = cached_files(&cache)?;
    for (f, _, _) in &staged {
        if !rels.contains(&f.rel) {
            rels.push(f.rel.clone());
        }
    }
    rels.sort();
    let inputs: Vec<(String, PathBuf)> = rels
        .into_iter()
        .map(|rel| {
            let path = if staged.iter().any(|(f, _, _)| f.rel == rel) {
                staging.0.join(&rel)
            } else {
                cache.join(&rel)
            };
            (rel, path)
        })
        .collect();
    let lines = build(&db_path, &cache, &inputs)?;

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

/// Builds the database from `(relative path, file)` inputs; an error names the feed.
fn build(db_path: &Path, cache: &Path, inputs: &[(String, PathBuf)]) -> Result<Vec<String>> {
    let limits = Limits::default();
    let now = now_timestamp();
    let mut builder = DatabaseBuilder::new(db_path);
    let mut lines = Vec::new();
    for (rel, path) in inputs {
        let source = cache.join(rel).display().to_string();
        let fail = || {
            format!(
                "feed {rel} ({}) could not be imported; the database {} was not changed",
                path.display(),
                db_path.display()
            )
        };
        let kind = detect(path).with_context(fail)?;
        let (name, records) = match kind {
            Kind::Osv | Kind::Alpine | Kind::Debian => {
                let mut import = match kind {
                    Kind::Osv => palisade_vulndb::import_osv(path, &limits),
                    Kind::Alpine => palisade_vulndb::import_alpine_secdb(path, &limits),
                    _ => palisade_vulndb::import_debian_tracker(path, &limits),
                }
                .with_context(fail)?;
                import.feed.source.clone_from(&source);
                let out = (import.feed.name.clone(), import.feed.records);
                builder.add(import, now.clone());
                out
            }
            Kind::Nvd => {
                let mut import = palisade_vulndb::import_nvd(path, &limits).with_context(fail)?;
                import.feed.source.clone_from(&source);
                let out = (import.feed.name.clone(), import.feed.records);
                builder.add_enrichment(import, now.clone());
                out
            }
            Kind::Kev => {
                let mut import = palisade_vulndb::import_kev(path, &limits).with_context(fail)?;
                import.feed.source.clone_from(&source);
                let out = (import.feed.name.clone(), import.feed.records);
                builder.add_kev(import, now.clone());
                out
            }
            Kind::Epss => {
                let mut import = palisade_vulndb::import_epss(path, &limits).with_context(fail)?;
                import.feed.source.clone_from(&source);
                let out = (import.feed.name.clone(), import.feed.records);
                builder.add_epss(import, now.clone());
                out
            }
        };
        lines.push(format!("imported {name}: {records} records from {rel}"));
    }
    let status = builder
        .finish()
        .with_context(|| format!("writing {}", db_path.display()))?;
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
        assert!(check_url("http://example.com/x").is_err());
        assert!(check_url("ftp://127.0.0.1/x").is_err());
        assert!(check_url("http://127.0.0.1:8080/x").unwrap());
        assert!(check_url("http://[::1]:8080/x").unwrap());
        assert!(!check_url("https://example.com/x").unwrap());
    }
}
