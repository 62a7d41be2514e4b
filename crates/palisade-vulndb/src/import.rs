//! What an importer hands to the database builder, and the limits every importer keeps.

use std::io::Read;
use std::path::Path;

use crate::{Advisory, Error, Timestamp};

/// The advisories of one feed, ready for [`crate::DatabaseBuilder::add`].
#[derive(Clone, Debug)]
pub struct Import {
    /// The feed they came from.
    pub feed: FeedInfo,
    /// The advisories, one per id, sorted by id.
    pub advisories: Vec<Advisory>,
    /// Records skipped with a reason (e.g. a secdb line naming no vulnerability id).
    pub warnings: Vec<String>,
}

/// A feed, as recorded in the database's `feeds` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedInfo {
    /// Stable name: `osv/PyPI`, `alpine-secdb`.
    pub name: String,
    /// Where it was read from (a path or URL).
    pub source: String,
    /// Number of records read (OSV records; Alpine package entries).
    pub records: u64,
    /// The newest `modified` among its advisories, if any carry one.
    pub snapshot: Option<Timestamp>,
}

/// Bounds on what an importer reads: feeds are hostile until parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single record file or zip entry, in bytes (uncompressed).
    pub max_record_bytes: u64,
    /// Most entries in one zip, or files in one directory tree.
    pub max_entries: usize,
    /// Most bytes read (uncompressed) from one zip or directory tree.
    pub max_total_bytes: u64,
    /// Deepest directory nesting followed.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 16 MiB per record, 500,000 entries, 4 GiB in total, 16 directory levels.
    fn default() -> Self {
        Limits {
            max_record_bytes: 16 << 20,
            max_entries: 500_000,
            max_total_bytes: 4 << 30,
            max_depth: 16,
        }
    }
}

/// Reads a whole file, refusing files larger than `max`.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    read_all_capped(file, path, max)
}

/// Reads `reader` (the contents of `path`, perhaps decompressed) to its end, refusing more
/// than `max` bytes.
pub(crate) fn read_all_capped(reader: impl Read, path: &Path, max: u64) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading", path, e))?;
    if buf.len() as u64 > max {
        return Err(Error::io(
            "reading",
            path,
            std::io::Error::other(format!("more than the {max}-byte limit (uncompressed)")),
        ));
    }
    Ok(buf)
}

/// Lists the files under `dir` whose name ends with one of `extensions`, sorted, within limits.
pub(crate) fn list_files(
    dir: &Path,
    extensions: &[&str],
    limits: &Limits,
) -> Result<Vec<std::path::PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io("listing", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &d, e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| Error::io("listing", &path, e))?;
            if kind.is_dir() {
                if depth + 1 > limits.max_depth {
                    return Err(Error::io(
                        "listing",
                        &path,
                        std::io::Error::other(format!(
                            "nested deeper than {} directories",
                            limits.max_depth
                        )),
                    ));
                }
                stack.push((path, depth + 1));
            } else if kind.is_file()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| extensions.iter().any(|x| n.ends_with(x)))
            {
                out.push(path);
                if out.len() > limits.max_entries {
                    return Err(Error::io(
                        "listing",
                        dir,
                        std::io::Error::other(format!("more than {} files", limits.max_entries)),
                    ));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Sorts by id and folds duplicates with [`Advisory::merge`].
pub(crate) fn dedup_sorted(mut advisories: Vec<Advisory>) -> Vec<Advisory> {
    advisories.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out: Vec<Advisory> = Vec::with_capacity(advisories.len());
    for a in advisories {
        match out.last_mut() {
            Some(last) if last.id == a.id => last.merge(a),
            _ => out.push(a),
        }
    }
    out
}

pub(crate) fn newest_modified(advisories: &[Advisory]) -> Option<Timestamp> {
    advisories
        .iter()
        .filter_map(Advisory::last_change)
        .max()
        .cloned()
}

/// Warnings for affected entries kept unevaluable because their ranges do not compile.
pub(crate) fn range_warnings(a: &Advisory, feed: &str, record: &str, out: &mut Vec<String>) {
    for (i, f) in a.affected.iter().enumerate() {
        if f.has_invalid_ranges() {
            out.push(format!(
                "importing {feed}: {record}: affected[{i}].{}; kept, not evaluable",
                f.unevaluable.as_deref().unwrap_or("")
            ));
        }
    }
}
