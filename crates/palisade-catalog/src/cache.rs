//! The layer cache: what the catalogers extracted from a layer, stored under its diff ID.
//!
//! A result is written only after the whole layer was read and its blob digest and diff ID
//! were verified, so an entry always describes content that hashes to its key. Writes go to a
//! temporary file in the same directory and are renamed into place, so several processes can
//! share the cache: a reader sees a whole entry or none. A damaged entry is ignored (and
//! rewritten by the next cold read), never trusted.

use std::fs;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use palisade_image::{Digest, Node};
use serde::{Deserialize, Serialize};

use crate::catalogers::{CATALOGER_VERSION, FileData};

/// A directory of cached per-layer results.
#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    cataloger_version: String,
    diff_id: Digest,
    nodes: Vec<(String, Node<FileData>)>,
}

impl LayerCache {
    /// A cache rooted at `dir` (created on first write).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> LayerCache {
        LayerCache { dir: dir.into() }
    }

    /// The default location: `$XDG_CACHE_HOME/palisade`, else `~/.cache/palisade`.
    #[must_use]
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| Path::new(v).is_absolute())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("palisade"))
    }

    /// The cache's root directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir
            .join("layers")
            .join(CATALOGER_VERSION)
            .join(format!(
                "{}-{}.json",
                diff_id.algorithm().name(),
                diff_id.hex()
            ))
    }

    pub(crate) fn load(&self, diff_id: &Digest) -> Option<Vec<(String, Node<FileData>)>> {
        let f = fs::File::open(self.path(diff_id)).ok()?;
        let entry: Entry = serde_json::from_reader(BufReader::new(f)).ok()?;
        (entry.cataloger_version == CATALOGER_VERSION && entry.diff_id == *diff_id)
            .then_some(entry.nodes)
    }

    pub(crate) fn store(
        &self,
        diff_id: &Digest,
        nodes: &[(String, Node<FileData>)],
    ) -> io::Result<()> {
        let path = self.path(diff_id);
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("cache path has no parent"))?;
        fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut w = BufWriter::new(tmp.as_file());
            #[derive(Serialize)]
            struct EntryRef<'a> {
                cataloger_version: &'a str,
                diff_id: &'a Digest,
                nodes: &'a [(String, Node<FileData>)],
            }
            serde_json::to_writer(
                &mut w,
                &EntryRef {
                    cataloger_version: CATALOGER_VERSION,
                    diff_id,
                    nodes,
                },
            )?;
            w.flush()?;
        }
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}
