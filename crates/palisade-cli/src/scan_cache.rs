//! The scan-result cache: the evaluated findings (before filters, ignore files and VEX, which
//! are applied on every run) of one package list against one vulnerability database, under
//! `$XDG_CACHE_HOME/palisade/scans/<key>.json`.
//!
//! The key is a SHA-256 over this binary's version, the cache format, the database's identity
//! (schema version, data date, advisory count, every feed's name, records, snapshot and import
//! time, and the file's size and modification time), the distro, and every package field that
//! matching or a finding reads (ecosystem, name, version, PURL, source package, layer). A new database or another image gives another key; an
//! entry is never updated in place. Files are written to a temporary name and renamed, so
//! concurrent scans read a whole entry or none; an entry that does not parse is ignored and
//! rewritten. `--no-cache` (or `PALISADE_NO_CACHE`) skips the cache, as for layers.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_catalog::Catalog;
use palisade_vulndb::Status;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scan::{FindingOut, SkipOut};

/// Bumped whenever what a cache entry holds, or how it is derived, changes.
const FORMAT: u32 = 1;
/// An entry larger than this is not read (a scan's findings are far smaller).
const MAX_ENTRY_BYTES: u64 = 64 << 20;

/// What a cache entry holds.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Evaluated {
    pub(crate) findings: Vec<FindingOut>,
    pub(crate) skipped: Vec<SkipOut>,
}

/// The cache directory, or none (`--no-cache`, or no cache directory known).
#[derive(Debug)]
pub(crate) struct ScanCache {
    dir: PathBuf,
}

impl ScanCache {
    /// `scans/` beside the layer cache (`cache_dir`, else the default location).
    pub(crate) fn new(cache_dir: Option<PathBuf>) -> Option<ScanCache> {
        let root = cache_dir.or_else(palisade_catalog::LayerCache::default_dir)?;
        Some(ScanCache {
            dir: root.join("scans"),
        })
    }

    /// The key of `catalog` scanned against the database at `db_path` with `status`.
    pub(crate) fn key(db_path: &Path, status: &Status, catalog: &Catalog) -> Result<String> {
        let mut h = Sha256::new();
        h.update(format!(
            "palisade {} scan cache {FORMAT}\n",
            env!("CARGO_PKG_VERSION")
        ));
        h.update(format!(
            "db schema {} built {:?} advisories {}\n",
            status.schema_version,
            status.built.as_ref().map(|t| t.as_str()),
            status.advisories
        ));
        for f in &status.feeds {
            h.update(format!(
                "feed {:?} {} {:?} {}\n",
                f.name,
                f.records,
                f.snapshot.as_ref().map(|t| t.as_str()),
                f.imported_at.as_str()
            ));
        }
        let meta =
            std::fs::metadata(db_path).with_context(|| format!("reading {}", db_path.display()))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(format!("db file {} {modified}\n", meta.len()));
        h.update(serde_json::to_vec(&catalog.distro).context("hashing the distro")?);
        // Every package field that matching or a finding reads, length-prefixed (serializing
        // the whole catalog to hash it cost more than the rest of a warm scan).
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        for p in &catalog.packages {
            field(p.ecosystem.to_string().as_bytes());
            field(p.name.as_bytes());
            field(p.version.as_bytes());
            field(p.purl.as_bytes());
            match &p.source {
                Some(s) => {
                    field(s.name.as_bytes());
                    field(s.version.as_deref().unwrap_or("\u{0}").as_bytes());
                }
                None => field(b"\x00no source"),
            }
            match &p.layer {
                Some(l) => {
                    field(&(l.index as u64).to_le_bytes());
                    field(l.diff_id.as_deref().unwrap_or("").as_bytes());
                }
                None => field(b"\x00no layer"),
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The entry for `key`, if there is a whole, readable one.
    pub(crate) fn load(&self, key: &str) -> Option<Evaluated> {
        let file = std::fs::File::open(self.path(key)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores the entry for `key` (temporary file, then rename). A cache that cannot be
    /// written only costs the next scan its speed, so failures are returned for a warning.
    pub(crate) fn store(&self, key: &str, value: &Evaluated) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .with_context(|| format!("creating a file in {}", self.dir.display()))?;
        serde_json::to_writer(&mut tmp, value).context("writing the scan cache")?;
        tmp.persist(self.path(key))
            .with_context(|| format!("writing {}", self.path(key).display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_or_oversized_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ScanCache::new(Some(dir.path().to_path_buf())).unwrap();
        let empty = Evaluated {
            findings: Vec::new(),
            skipped: Vec::new(),
        };
        cache.store("k", &empty).unwrap();
        assert!(cache.load("k").is_some());
        std::fs::write(cache.path("k"), b"{\"findings\": [").unwrap();
        assert!(cache.load("k").is_none());
        assert!(cache.load("missing").is_none());
    }
}
