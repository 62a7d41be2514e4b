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
///
/// Every importer streams its input or reads it under one of these caps before parsing, and
/// every text that reaches a report is cut to [`Limits::max_text_bytes`]. A file cap never
/// exceeds [`Limits::max_total_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single record, in bytes (uncompressed): an OSV `.json` file or zip entry, one
    /// NVD `vulnerabilities[]` item, one Debian tracker issue.
    pub max_record_bytes: u64,
    /// Most entries in one zip, files in one directory tree, records in one NVD page, KEV
    /// catalog or Debian tracker file, or rows in one EPSS file.
    pub max_entries: usize,
    /// Most bytes read (uncompressed) from one zip, directory tree or EPSS file.
    pub max_total_bytes: u64,
    /// Deepest directory nesting followed.
    pub max_depth: usize,
    /// Largest NVD page or feed file (streamed: memory is bounded by the record cap).
    pub max_nvd_bytes: u64,
    /// Largest Debian security tracker JSON file (streamed, one issue at a time).
    pub max_debian_bytes: u64,
    /// Largest CISA KEV catalog (read whole).
    pub max_kev_bytes: u64,
    /// Largest Alpine secdb file (read whole).
    pub max_secdb_bytes: u64,
    /// Longest line of an EPSS CSV.
    pub max_line_bytes: u64,
    /// Longest text kept from a feed for output (descriptions, summaries, details, notes); a
    /// longer one is cut at a character boundary and ends with `… (truncated from N bytes)`.
    pub max_text_bytes: usize,
    /// How much of a `.json` file feed-kind detection looks at.
    pub max_sniff_bytes: u64,
}

impl Default for Limits {
    /// 16 MiB per record, 500,000 entries, 4 GiB in total, 16 directory levels; NVD and
    /// Debian files up to 2 GiB, KEV files up to 64 MiB, Alpine secdb files up to 16 MiB, EPSS lines up to
    /// 64 KiB, texts up to 64 KiB, detection on the first 1 MiB.
    fn default() -> Self {
        Limits {
            max_record_bytes: 16 << 20,
            max_entries: 500_000,
            max_total_bytes: 4 << 30,
            max_depth: 16,
            max_nvd_bytes: 2 << 30,
            max_debian_bytes: 2 << 30,
            max_kev_bytes: 64 << 20,
            max_secdb_bytes: 16 << 20,
            max_line_bytes: 64 << 10,
            max_text_bytes: 64 << 10,
            max_sniff_bytes: 1 << 20,
        }
    }
}

/// What a path is, once special files are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathKind {
    File,
    Dir,
}

/// `path`'s type (following symlinks): a regular file or a directory; a FIFO, socket or device
/// (or a symlink to one) is an error, so that it is never opened or read.
pub(crate) fn path_kind(path: &Path) -> Result<PathKind, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    if meta.is_dir() {
        return Ok(PathKind::Dir);
    }
    check_regular(path, &meta)?;
    Ok(PathKind::File)
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(Error::io(
        "opening",
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file but {what}; a feed is a regular file or a directory"),
        ),
    ))
}

/// Opens a feed file for reading, refusing anything but a regular file by type before it is
/// opened and again on the opened descriptor (`O_NONBLOCK`, so that a FIFO swapped in between
/// cannot block the open).
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io("opening", path, e))?;
    check_regular(path, &meta)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("opening", path, e))?;
    check_regular(path, &meta)?;
    Ok(file)
}

/// Reads a whole regular file, refusing files larger than `max`.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, Error> {
    let file = open_regular(path)?;
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

/// `text` cut to at most `max` bytes (at a character boundary), saying so at its end.
pub(crate) fn cap_text(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let marker = format!("… (truncated from {} bytes)", text.len());
    let mut end = max.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text;
    out.truncate(end);
    out.push_str(&marker);
    out
}

/// Byte counts shared between a [`MeteredReader`] and the parser reading from it: the total
/// read, and the bytes read since the parser marked the start of a record.
#[derive(Debug)]
pub(crate) struct Meter {
    read: std::cell::Cell<u64>,
    record_start: std::cell::Cell<u64>,
    max_total: u64,
    max_record: u64,
    /// Which cap was hit, once one was.
    over: std::cell::Cell<Option<Over>>,
}

/// A cap a [`MeteredReader`] hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    Total(u64),
    Record(u64),
}

impl Meter {
    pub(crate) fn new(max_total: u64, max_record: u64) -> Meter {
        Meter {
            read: std::cell::Cell::new(0),
            record_start: std::cell::Cell::new(0),
            max_total,
            max_record,
            over: std::cell::Cell::new(None),
        }
    }

    /// A record starts here: the record cap counts from now.
    pub(crate) fn start_record(&self) {
        self.record_start.set(self.read.get());
    }

    pub(crate) fn over(&self) -> Option<Over> {
        self.over.get()
    }
}

/// A reader that fails once more than the meter's total, or more than its record cap since
/// the last [`Meter::start_record`], has been read. Put it over a buffered reader, so that
/// the counts are the parser's.
pub(crate) struct MeteredReader<'m, R> {
    pub(crate) inner: R,
    pub(crate) meter: &'m Meter,
}

impl<R: Read> Read for MeteredReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let m = self.meter;
        let n = self.inner.read(buf)?;
        let read = m.read.get() + n as u64;
        m.read.set(read);
        let over = if read > m.max_total {
            Some(Over::Total(m.max_total))
        } else if read - m.record_start.get() > m.max_record {
            Some(Over::Record(m.max_record))
        } else {
            None
        };
        if let Some(o) = over {
            m.over.set(Some(o));
            return Err(std::io::Error::other(match o {
                Over::Total(max) => format!("more than the {max}-byte file limit"),
                Over::Record(max) => format!("a record larger than the {max}-byte record limit"),
            }));
        }
        Ok(n)
    }
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
            // `file_type` does not follow symlinks: only real files and directories are taken,
            // never a FIFO, a device or a link to one.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_and_say_so() {
        assert_eq!(cap_text("short".into(), 64), "short");
        let long = "é".repeat(1000);
        let cut = cap_text(long, 100);
        assert!(cut.len() <= 100, "{}", cut.len());
        assert!(cut.ends_with("… (truncated from 2000 bytes)"), "{cut}");
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn special_files_are_refused_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("feed.json");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_capped(&fifo, 10).unwrap_err().to_string();
        assert!(
            e.contains("feed.json") && e.contains("not a regular file but a FIFO"),
            "{e}"
        );
        let link = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_capped(&link, 10).unwrap_err().to_string();
        assert!(
            e.contains("zero.json") && e.contains("a character device"),
            "{e}"
        );
        assert!(path_kind(&link).is_err());
        assert_eq!(path_kind(dir.path()).unwrap(), PathKind::Dir);
        let file = dir.path().join("ok.json");
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(read_capped(&file, 10).unwrap(), b"{}");
        assert!(read_capped(&file, 1).is_err());
    }

    #[test]
    fn the_meter_stops_a_record_and_a_file() {
        let meter = Meter::new(100, 10);
        let mut r = MeteredReader {
            inner: &[7u8; 200][..],
            meter: &meter,
        };
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        meter.start_record();
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        assert!(r.read(&mut buf).is_err());
        assert_eq!(meter.over(), Some(Over::Record(10)));
        let meter = Meter::new(20, 1000);
        let mut r = MeteredReader {
            inner: &[7u8; 200][..],
            meter: &meter,
        };
        let mut sink = Vec::new();
        assert!(r.read_to_end(&mut sink).is_err());
        assert_eq!(meter.over(), Some(Over::Total(20)));
    }
}
