//! Argument groups that several commands share: how sources are read and where the database
//! is. They turn into the libraries' option types here, so commands never import each other.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use palisade_scan::SourceOptions;

#[derive(Args, Debug)]
pub(crate) struct SourceArgs {
    /// The platform to pick from multi-platform images [default: linux/amd64]. When given,
    /// an image for another platform is an error, single-platform images included.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", env = "PALISADE_PLATFORM")]
    pub(crate) platform: Option<String>,

    /// The image to pick from an archive or layout holding several (a tag such as `app:1.0`).
    #[arg(long, value_name = "NAME")]
    pub(crate) image: Option<String>,

    /// Registry host (`host[:port]`) that may be reached over plain HTTP (loopback always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub(crate) insecure_registry: Vec<String>,

    /// Extra CA certificates (PEM) to trust for registries, on top of the system roots.
    #[arg(long, value_name = "FILE", env = "PALISADE_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// The total time one registry request may take, retries, redirects and the whole body
    /// (a layer) included: `90s`, `30m`, `2h` (plain numbers are seconds) [default: 30m].
    #[arg(long, value_name = "DURATION", env = "PALISADE_HTTP_TIMEOUT",
          value_parser = palisade_image::http::parse_duration)]
    pub(crate) http_timeout: Option<std::time::Duration>,

    /// Read every layer again instead of using the layer cache (and skip the scan-result and
    /// gate caches). `PALISADE_NO_CACHE=1` (or true, yes, on) does the same.
    #[arg(long, env = "PALISADE_NO_CACHE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) no_cache: bool,

    /// The cache directory [default: $XDG_CACHE_HOME/palisade, else ~/.cache/palisade].
    #[arg(long, value_name = "DIR", env = "PALISADE_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// The most the scan-result cache (`scans/` in the cache directory) holds, in MiB; the
    /// least recently used results are removed first, and a result over a quarter of it (at
    /// most 32 MiB) is not cached. 0 caches no scan results.
    #[arg(long, value_name = "MIB", env = "PALISADE_SCAN_CACHE_MAX_MIB",
          default_value_t = palisade_scan::DEFAULT_SCAN_CACHE_MAX_MIB)]
    pub(crate) scan_cache_max_mib: u64,
}

impl SourceArgs {
    /// The library's view of these flags.
    pub(crate) fn options(&self) -> SourceOptions {
        SourceOptions {
            platform: self.platform.clone(),
            image: self.image.clone(),
            insecure_registries: self.insecure_registry.clone(),
            ca_file: self.ca_file.clone(),
            http_timeout: self.http_timeout,
            no_cache: self.no_cache,
            cache_dir: self.cache_dir.clone(),
            scan_cache_max_mib: self.scan_cache_max_mib,
            credentials: None,
            exclude: Vec::new(),
        }
    }
}

/// `--db`, shared by `db`, `scan` and `gate`.
#[derive(Args, Debug, Clone)]
pub(crate) struct DbPathArgs {
    /// The vulnerability database file
    /// [default: $XDG_DATA_HOME/palisade/vuln.db, else ~/.local/share/palisade/vuln.db].
    #[arg(long, value_name = "FILE", env = "PALISADE_DB")]
    pub(crate) db: Option<PathBuf>,
}

impl DbPathArgs {
    /// The database path: `--db`, else `$PALISADE_DB` (both via clap), else the XDG default.
    pub(crate) fn path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.db {
            return Ok(p.clone());
        }
        palisade_scan::VulnDb::default_path()
            .context("no database path: pass --db, or set PALISADE_DB, XDG_DATA_HOME or HOME")
    }
}

/// The source options with `--exclude`, which only a directory takes.
pub(crate) fn with_exclude(
    source: &str,
    mut options: palisade_scan::SourceOptions,
    exclude: &[String],
) -> Result<palisade_scan::SourceOptions> {
    if exclude.is_empty() {
        return Ok(options);
    }
    let dir = source.strip_prefix("dir:").unwrap_or(source);
    if !std::path::Path::new(dir).is_dir() {
        anyhow::bail!("--exclude applies to a directory (dir:PATH), not to {source:?}");
    }
    for g in exclude {
        palisade_image::check_glob(g).map_err(|e| anyhow::anyhow!("--exclude {g:?}: {e}"))?;
    }
    options.exclude = exclude.to_vec();
    Ok(options)
}
