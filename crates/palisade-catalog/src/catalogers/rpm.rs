//! RPM packages: the rpmdb in its three on-disk formats, and the header blobs they store.
//!
//! | format | file | used by |
//! |---|---|---|
//! | SQLite | `var/lib/rpm/rpmdb.sqlite` (`usr/lib/sysimage/rpm/…`) | Fedora ≥ 33, RHEL ≥ 9, Amazon Linux 2023 |
//! | Berkeley DB hash | `var/lib/rpm/Packages` | CentOS / RHEL ≤ 8, Amazon Linux 2, old SUSE |
//! | NDB | `var/lib/rpm/Packages.db` (`usr/lib/sysimage/rpm/…`) | SUSE / openSUSE ≥ 15.3 |
//!
//! Each format is a container of header blobs keyed by a header number; the blob is rpm's
//! exported header (`headerExport`): big-endian index-entry and data-store lengths, the
//! 16-byte index entries (tag, type, offset, count), then the data store. Only the few tags a
//! scanner needs are read. The readers are pure functions over the file's bytes: every page
//! number, offset and length is checked against the buffer, no allocation is sized by a
//! field that was not first checked against the input's length, and a malformed record
//! becomes a warning while the rest of the database is still read. `gpg-pubkey`
//! pseudo-packages (imported signing keys) are skipped.
//!
//! Not for: `.rpm` files, the secondary indexes (`Name`, `Basenames`, `Index.db`, …), or the
//! SQLite write-ahead log: only the main `rpmdb.sqlite` file is read, which is complete
//! whenever rpm closed the database (as it does at the end of every transaction).
//!
//! ## Versions
//!
//! A package's `version` is exactly what `rpm -q --qf '%{EVR}'` prints: `EPOCH:VERSION-RELEASE`
//! when the header has an Epoch tag (also when it is `0`), and `VERSION-RELEASE` when it has
//! none. Red Hat OVAL's `evr` always carries the epoch (`0:` included) while other feeds may
//! omit it; rpm's comparison (`rpmvercmp`, the `rpm-version` crate) treats a missing epoch as
//! `0`, so both spellings compare equal and a matcher comparing EVRs need not rewrite either
//! side. Syft and Grype print the same string as this reader.
//!
//! The source package comes from the `SOURCERPM` file name `NAME-VERSION-RELEASE.src.rpm`.
//! That name carries no epoch, so the source version is given the binary package's epoch,
//! as Grype does when matching by source package (a spec's sub-packages share its epoch).

use std::collections::HashMap;
use std::io::Read;

use rusqlite::config::DbConfig;
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::catalogers::{Found, Parsed};
use crate::package::{Ecosystem, SourcePackage};

/// The most bytes of an rpm database that are read (a full Fedora desktop is ~150 MB; images
/// are usually under 30 MB).
pub(crate) const MAX_DB_BYTES: u64 = 256 << 20;

/// rpm's own header limits (`hdrchkTags`, `hdrchkData` in `lib/header.c`).
const MAX_INDEX_ENTRIES: u32 = 0xffff;
const MAX_DATA_BYTES: u32 = (16 << 20) - 1;
/// The largest header blob: its two length words, the index and the data store.
const MAX_BLOB_BYTES: usize = 8 + 16 * MAX_INDEX_ENTRIES as usize + MAX_DATA_BYTES as usize;
/// Header records read from one database before giving up on the rest.
const MAX_RECORDS: usize = 1_000_000;
/// Entries of one array tag (the largest real packages list under 100,000 files).
const MAX_ARRAY_ENTRIES: u32 = 1_000_000;
/// Owned files recorded per database, and their total bytes (a full Fedora install owns
/// ~300,000 files in ~20 MB of paths).
const MAX_OWNED_FILES: usize = 2_000_000;
const MAX_OWNED_BYTES: usize = 128 << 20;
/// Longer paths cannot exist on Linux (`PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;
/// Warnings kept per database; the rest are counted.
const MAX_WARNINGS: usize = 100;
/// SQLite virtual-machine steps allowed for reading `Packages`, in units of
/// [`SQL_STEPS_PER_CHECK`]: 2·10⁷ steps. rpm's table needs 4 per row, so this is 5 million
/// rows, well past [`MAX_RECORDS`]; only a crafted view gets stopped.
const SQL_STEP_CHECKS: u32 = 2_000;
const SQL_STEPS_PER_CHECK: i32 = 10_000;

// Header tags and types (`rpmtag.h`).
const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_OLDFILENAMES: u32 = 1027;
const TAG_SOURCERPM: u32 = 1044;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const WANTED_TAGS: [u32; 11] = [
    TAG_NAME,
    TAG_VERSION,
    TAG_RELEASE,
    TAG_EPOCH,
    TAG_LICENSE,
    TAG_ARCH,
    TAG_OLDFILENAMES,
    TAG_SOURCERPM,
    TAG_DIRINDEXES,
    TAG_BASENAMES,
    TAG_DIRNAMES,
];

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

// ---------------------------------------------------------------------------------------------
// Byte readers that never panic.

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The byte order a Berkeley DB file was written in (rpm writes the host's).
#[derive(Clone, Copy)]
struct Order {
    big_endian: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let v: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        if self.big_endian {
            be32(b, at)
        } else {
            le32(b, at)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The header blob.

#[derive(Clone, Copy)]
struct IndexEntry {
    tag: u32,
    ty: u32,
    offset: u32,
    count: u32,
}

/// A parsed header: the wanted index entries and the data store they point into.
struct Header<'a> {
    data: &'a [u8],
    entries: [Option<IndexEntry>; WANTED_TAGS.len()],
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Result<Self, String> {
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(format!("header of {} bytes is too short", blob.len()));
        };
        if il == 0 {
            return Err("header has no index entries".into());
        }
        if il > MAX_INDEX_ENTRIES {
            return Err(format!(
                "header claims {il} index entries (limit {MAX_INDEX_ENTRIES})"
            ));
        }
        if dl > MAX_DATA_BYTES {
            return Err(format!(
                "header claims {dl} bytes of data (limit {MAX_DATA_BYTES})"
            ));
        }
        let data_start = 8 + 16 * il as usize;
        let data_end = data_start + dl as usize;
        let (Some(index), Some(data)) = (blob.get(8..data_start), blob.get(data_start..data_end))
        else {
            return Err(format!(
                "header is truncated: {il} entries and {dl} data bytes need {data_end} bytes, blob has {}",
                blob.len()
            ));
        };
        let mut entries = [None; WANTED_TAGS.len()];
        for e in index.chunks_exact(16) {
            let word = |i: usize| be32(e, i * 4).unwrap_or(0);
            let tag = word(0);
            // Later entries win: rpm lets entries appended after install replace region ones.
            if let Some(slot) = WANTED_TAGS.iter().position(|&t| t == tag) {
                entries[slot] = Some(IndexEntry {
                    tag,
                    ty: word(1),
                    offset: word(2),
                    count: word(3),
                });
            }
        }
        Ok(Header { data, entries })
    }

    fn entry(&self, tag: u32) -> Option<IndexEntry> {
        WANTED_TAGS
            .iter()
            .position(|&t| t == tag)
            .and_then(|i| self.entries[i])
    }

    /// The data from an entry's offset on, or an error when the offset is outside the store.
    fn data_at(&self, e: IndexEntry) -> Result<&'a [u8], String> {
        self.data
            .get(e.offset as usize..)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                format!(
                    "tag {} points at offset {} outside the {}-byte data store",
                    e.tag,
                    e.offset,
                    self.data.len()
                )
            })
    }

    /// The first string of a string-typed tag.
    fn string(&self, tag: u32) -> Result<Option<&'a [u8]>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if !matches!(e.ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) || e.count == 0 {
            return Err(format!(
                "tag {tag} has type {} and count {}, not a string",
                e.ty, e.count
            ));
        }
        let d = self.data_at(e)?;
        match memchr::memchr(0, d) {
            Some(end) => Ok(Some(&d[..end])),
            None => Err(format!(
                "tag {tag}: string runs past the end of the data store"
            )),
        }
    }

    /// An `INT32` tag's first value.
    fn int32(&self, tag: u32) -> Result<Option<u32>, String> {
        Ok(self.int32s(tag)?.and_then(|v| v.first().copied()))
    }

    /// All values of an `INT32` tag.
    fn int32s(&self, tag: u32) -> Result<Option<Vec<u32>>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if e.ty != TYPE_INT32 || e.count == 0 {
            return Err(format!(
                "tag {tag} has type {} and count {}, not INT32",
                e.ty, e.count
            ));
        }
        if e.count > MAX_ARRAY_ENTRIES {
            return Err(format!("tag {tag} claims {} integers", e.count));
        }
        let d = self.data_at(e)?;
        let len = (e.count as usize)
            .checked_mul(4)
            .filter(|&n| n <= d.len())
            .ok_or_else(|| {
                format!(
                    "tag {tag}: {} integers run past the end of the data store",
                    e.count
                )
            })?;
        Ok(Some(
            d[..len]
                .chunks_exact(4)
                .filter_map(|c| be32(c, 0))
                .collect(),
        ))
    }

    /// All strings of a `STRING_ARRAY` tag.
    fn strings(&self, tag: u32) -> Result<Option<Vec<&'a [u8]>>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if e.ty != TYPE_STRING_ARRAY || e.count == 0 {
            return Err(format!(
                "tag {tag} has type {} and count {}, not a string array",
                e.ty, e.count
            ));
        }
        if e.count > MAX_ARRAY_ENTRIES {
            return Err(format!("tag {tag} claims {} strings", e.count));
        }
        let mut d = self.data_at(e)?;
        // Every string takes at least its terminating NUL.
        if e.count as usize > d.len() {
            return Err(format!(
                "tag {tag}: {} strings cannot fit in the data store",
                e.count
            ));
        }
        let mut out = Vec::new();
        for _ in 0..e.count {
            let Some(end) = memchr::memchr(0, d) else {
                return Err(format!(
                    "tag {tag}: string array runs past the end of the data store"
                ));
            };
            out.push(&d[..end]);
            d = &d[end + 1..];
        }
        Ok(Some(out))
    }

    /// The paths of the files the package owns, without the leading `/`, as far as the
    /// budget allows (paths over it are counted in the budget, not allocated).
    fn files(&self, budget: &mut FileBudget) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut add = |dir: &[u8], base: &[u8]| {
            let len = dir.len() + base.len();
            if len > MAX_PATH_BYTES {
                budget.too_long += 1;
            } else if budget.files == 0 || budget.bytes < len {
                budget.dropped += 1;
            } else {
                let mut p = String::from_utf8_lossy(dir).into_owned();
                p.push_str(&String::from_utf8_lossy(base));
                let p = p.trim_start_matches('/');
                if !p.is_empty() {
                    budget.files -= 1;
                    budget.bytes -= len;
                    out.push(p.to_owned());
                }
            }
        };
        if let Some(bases) = self.strings(TAG_BASENAMES)? {
            let dirs = self
                .strings(TAG_DIRNAMES)?
                .ok_or("BASENAMES without DIRNAMES")?;
            let indexes = self
                .int32s(TAG_DIRINDEXES)?
                .ok_or("BASENAMES without DIRINDEXES")?;
            if indexes.len() != bases.len() {
                return Err(format!(
                    "{} basenames but {} dir indexes",
                    bases.len(),
                    indexes.len()
                ));
            }
            if let Some(&i) = indexes.iter().find(|&&i| i as usize >= dirs.len()) {
                return Err(format!(
                    "dir index {i} is outside the {} dirnames",
                    dirs.len()
                ));
            }
            for (base, &i) in bases.iter().zip(&indexes) {
                add(dirs[i as usize], base);
            }
        } else if let Some(paths) = self.strings(TAG_OLDFILENAMES)? {
            for path in paths {
                add(b"", path);
            }
        }
        Ok(out)
    }
}

/// What is left of a database's allowance for owned-file paths.
struct FileBudget {
    files: usize,
    bytes: usize,
    dropped: usize,
    too_long: usize,
}

impl Default for FileBudget {
    fn default() -> Self {
        FileBudget {
            files: MAX_OWNED_FILES,
            bytes: MAX_OWNED_BYTES,
            dropped: 0,
            too_long: 0,
        }
    }
}

/// A package read from one header.
struct HeaderPackage {
    found: Found,
    files: Vec<String>,
    /// Why the file list could not be read (the package itself is still good).
    files_error: Option<String>,
}

/// A NAME, VERSION or RELEASE: non-empty, printable, without whitespace.
fn token(h: &Header<'_>, tag: u32, what: &str) -> Result<String, String> {
    let raw = h
        .string(tag)?
        .ok_or_else(|| format!("header has no {what}"))?;
    let s = String::from_utf8_lossy(raw);
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("header has an invalid {what} {s:?}"));
    }
    Ok(s.into_owned())
}

/// Reads one header blob; `None` for a `gpg-pubkey` pseudo-package.
fn read_header(blob: &[u8], budget: &mut FileBudget) -> Result<Option<HeaderPackage>, String> {
    let h = Header::parse(blob)?;
    let name = token(&h, TAG_NAME, "NAME")?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = token(&h, TAG_VERSION, "VERSION")?;
    let release = token(&h, TAG_RELEASE, "RELEASE")?;
    let epoch = h.int32(TAG_EPOCH)?;
    let evr = match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let text = |tag| -> Result<Option<String>, String> {
        Ok(h.string(tag)?
            .map(|s| String::from_utf8_lossy(s).trim().to_owned())
            .filter(|s| !s.is_empty()))
    };
    let arch = text(TAG_ARCH)?;
    let licenses = text(TAG_LICENSE)?.into_iter().collect();
    let source = text(TAG_SOURCERPM)?.and_then(|s| source_package(&s, epoch));
    let (files, files_error) = match h.files(budget) {
        Ok(f) => (f, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(Some(HeaderPackage {
        found: Found {
            ecosystem: Ecosystem::Rpm,
            name,
            version: evr,
            arch,
            source,
            licenses,
        },
        files,
        files_error,
    }))
}

/// Splits a source RPM file name `NAME-VERSION-RELEASE.src.rpm` into the source package.
fn source_package(file_name: &str, epoch: Option<u32>) -> Option<SourcePackage> {
    let stem = file_name
        .strip_suffix(".src.rpm")
        .or_else(|| file_name.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if [name, version, release].iter().any(|s| s.is_empty()) {
        return None;
    }
    let version = match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    Some(SourcePackage {
        name: name.to_owned(),
        version: Some(version),
    })
}

// ---------------------------------------------------------------------------------------------
// What all three formats share: turning header records into packages and warnings.

#[derive(Default)]
struct Collector {
    packages: Vec<(u32, Found, Vec<String>)>,
    warnings: Vec<String>,
    more_warnings: usize,
    records: usize,
    bad: usize,
    budget: FileBudget,
}

impl Collector {
    fn warn(&mut self, msg: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(msg);
        } else {
            self.more_warnings += 1;
        }
    }

    /// A record that could not be read.
    fn bad_record(&mut self, msg: String) {
        self.bad += 1;
        self.warn(msg);
    }

    /// Whether the record limit is reached; warns once when it is.
    fn full(&mut self) -> bool {
        if self.records == MAX_RECORDS {
            self.records += 1;
            self.warn(format!(
                "more than {MAX_RECORDS} header records; the rest is skipped"
            ));
        }
        self.records > MAX_RECORDS
    }

    fn add(&mut self, hnum: u32, blob: &[u8]) {
        self.records += 1;
        match read_header(blob, &mut self.budget) {
            Ok(Some(p)) => {
                if let Some(e) = p.files_error {
                    self.warn(format!(
                        "header {hnum} ({}): file list unreadable: {e}",
                        p.found.name
                    ));
                }
                self.packages.push((hnum, p.found, p.files));
            }
            Ok(None) => {}
            Err(e) => self.bad_record(format!("header {hnum}: {e}; skipped")),
        }
    }

    fn finish(mut self) -> Result<(Parsed, Vec<String>), String> {
        if self.budget.dropped > 0 {
            self.warn(format!(
                "owned files beyond {MAX_OWNED_FILES} paths or {MAX_OWNED_BYTES} bytes: {} not recorded",
                self.budget.dropped
            ));
        }
        if self.budget.too_long > 0 {
            self.warn(format!(
                "{} owned paths longer than {MAX_PATH_BYTES} bytes not recorded",
                self.budget.too_long
            ));
        }
        self.packages.sort_by_key(|(hnum, _, _)| *hnum);
        let mut parsed = Parsed::default();
        let mut owned = Vec::new();
        let mut last = None;
        let mut duplicates = Vec::new();
        for (hnum, found, files) in std::mem::take(&mut self.packages) {
            if last == Some(hnum) {
                duplicates.push(hnum);
                continue;
            }
            last = Some(hnum);
            parsed.packages.push(found);
            owned.extend(files);
        }
        for hnum in duplicates {
            self.warn(format!(
                "header number {hnum} appears more than once; later copies skipped"
            ));
        }
        if parsed.packages.is_empty() && self.bad > 0 {
            let first = self
                .warnings
                .first()
                .map(String::as_str)
                .unwrap_or_default();
            return Err(format!(
                "no readable package header ({} malformed; first: {first})",
                self.bad
            ));
        }
        parsed.warnings = self.warnings;
        if self.more_warnings > 0 {
            parsed
                .warnings
                .push(format!("… and {} more warnings", self.more_warnings));
        }
        Ok((parsed, owned))
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite: `rpmdb.sqlite`, table `Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`.

/// Reads `rpmdb.sqlite`. The bytes are deserialized into a private in-memory, read-only
/// SQLite connection; no file is opened. The database is hostile input: the schema is not
/// trusted, values are capped at the largest header rpm accepts, and the query is interrupted
/// after a fixed number of virtual-machine steps, so a crafted view cannot make it hang.
pub(crate) fn parse_sqlite(db: &[u8]) -> Result<(Parsed, Vec<String>), String> {
    const MAGIC: &[u8] = b"SQLite format 3\0";
    if db.len() < 100 || !db.starts_with(MAGIC) {
        return Err("not an SQLite database".into());
    }
    let mut head = [0u8; 100];
    head.copy_from_slice(&db[..100]);
    // rpm keeps the database in WAL mode (file format 2 at offsets 18 and 19). An in-memory
    // database cannot use WAL, so it is read as a rollback-journal database instead; the
    // pages are the same.
    for b in &mut head[18..20] {
        if *b == 2 {
            *b = 1;
        }
    }
    let sql_err = |what: &str, e: rusqlite::Error| format!("{what}: {e}");
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_err("cannot start SQLite", e))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .and_then(|_| conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false))
        .and_then(|_| conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_BLOB_BYTES as i32))
        .map_err(|e| sql_err("cannot configure SQLite", e))?;
    conn.deserialize_read_exact("main", head.as_slice().chain(&db[100..]), db.len(), true)
        .map_err(|e| sql_err("cannot load the SQLite database", e))?;
    let mut checks = 0u32;
    conn.progress_handler(
        SQL_STEPS_PER_CHECK,
        Some(move || {
            checks += 1;
            checks > SQL_STEP_CHECKS
        }),
    )
    .map_err(|e| sql_err("cannot configure SQLite", e))?;

    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(|e| sql_err("no readable Packages table", e))?;
    let mut rows = stmt
        .query([])
        .map_err(|e| sql_err("cannot read the Packages table", e))?;
    let mut c = Collector::default();
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                let msg = match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::OperationInterrupted) => {
                        "reading the Packages table took too many steps; the rest is skipped".into()
                    }
                    _ => format!("reading the Packages table stopped: {e}"),
                };
                if c.records == 0 {
                    return Err(msg);
                }
                c.warn(msg);
                break;
            }
        };
        if c.full() {
            break;
        }
        let hnum = match row.get_ref(0) {
            Ok(ValueRef::Integer(n)) => u32::try_from(n).ok(),
            _ => None,
        };
        let Some(hnum) = hnum else {
            c.records += 1;
            c.bad_record(format!(
                "row {}: hnum is not a header number; skipped",
                c.records
            ));
            continue;
        };
        match row.get_ref(1) {
            Ok(ValueRef::Blob(b) | ValueRef::Text(b)) => c.add(hnum, b),
            _ => {
                c.records += 1;
                c.bad_record(format!(
                    "header {hnum}: blob column holds no bytes; skipped"
                ));
            }
        }
    }
    c.finish()
}

// ---------------------------------------------------------------------------------------------
// Berkeley DB hash: `Packages`.
//
// Page layout (`dbinc/db_page.h`): a 26-byte header (LSN 0-7, page number 8-11, previous and
// next page 12-19, entry count 20-21, high free offset 22-23, level 24, type 25), then on
// hash pages an array of 2-byte item offsets, key and value alternating. Items are packed
// at the end of the page, so an item's length is the previous item's offset (the page size
// for the first) minus its own. An item starts with its type: 1 = bytes inline, 3 = stored
// on a chain of overflow pages (3 bytes padding, first page, total length). On an overflow
// page the "high free offset" holds the number of data bytes on it.

const BDB_HASH_MAGIC: u32 = 0x0006_1561;
const BDB_BTREE_MAGIC: u32 = 0x0005_3162;
const BDB_PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

struct Bdb<'a> {
    db: &'a [u8],
    order: Order,
    page_size: usize,
    /// Pages that are both declared by the metadata and present in the buffer.
    pages: usize,
}

impl<'a> Bdb<'a> {
    fn page(&self, n: usize) -> Option<&'a [u8]> {
        if n >= self.pages {
            return None;
        }
        self.db.get(n * self.page_size..(n + 1) * self.page_size)
    }

    /// Item `i` of a hash page with `n` entries: its bytes, type byte included.
    fn item(&self, page: &'a [u8], n: usize, i: usize) -> Option<&'a [u8]> {
        let off = usize::from(self.order.u16(page, BDB_PAGE_HEADER + 2 * i)?);
        let end = if i == 0 {
            self.page_size
        } else {
            usize::from(self.order.u16(page, BDB_PAGE_HEADER + 2 * (i - 1))?)
        };
        if off < BDB_PAGE_HEADER + 2 * n || end <= off {
            return None;
        }
        page.get(off..end)
    }

    /// Reassembles a value stored on overflow pages.
    fn overflow(&self, first: u32, total: u32, seen: &mut PageSet) -> Result<Vec<u8>, String> {
        let total = total as usize;
        if total == 0 || total > MAX_BLOB_BYTES || total > self.db.len() {
            return Err(format!("overflow value claims {total} bytes"));
        }
        seen.clear();
        let mut out = Vec::with_capacity(total);
        let mut pgno = first;
        while out.len() < total {
            let n = pgno as usize;
            let page = self
                .page(n)
                .filter(|_| n != 0)
                .ok_or_else(|| format!("overflow page {pgno} is outside the file"))?;
            if !seen.insert(n) {
                return Err(format!("overflow pages loop back to page {pgno}"));
            }
            if page[25] != P_OVERFLOW || self.order.u32(page, 8) != Some(pgno) {
                return Err(format!("page {pgno} is not the overflow page it should be"));
            }
            let len = usize::from(self.order.u16(page, 22).unwrap_or(0));
            let data = page
                .get(BDB_PAGE_HEADER..BDB_PAGE_HEADER + len)
                .filter(|_| len > 0 && len <= total - out.len())
                .ok_or_else(|| format!("overflow page {pgno} claims {len} bytes"))?;
            out.extend_from_slice(data);
            pgno = self.order.u32(page, 16).unwrap_or(0);
        }
        Ok(out)
    }
}

/// Page numbers already visited on one overflow chain; cleared cheaply between chains.
struct PageSet {
    bits: Vec<u64>,
    touched: Vec<usize>,
}

impl PageSet {
    fn new(pages: usize) -> Self {
        PageSet {
            bits: vec![0; pages / 64 + 1],
            touched: Vec::new(),
        }
    }

    fn insert(&mut self, n: usize) -> bool {
        let (word, bit) = (n / 64, 1u64 << (n % 64));
        let Some(w) = self.bits.get_mut(word) else {
            return false;
        };
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.touched.push(word);
        true
    }

    fn clear(&mut self) {
        for w in self.touched.drain(..) {
            self.bits[w] = 0;
        }
    }
}

/// Reads a Berkeley DB hash `Packages` file, in either byte order, as rpm's read-only
/// `bdb_ro` backend does: every hash page is scanned for key/value pairs whose key is a
/// 4-byte header number (0 is rpm's counter record, not a package).
pub(crate) fn parse_bdb(db: &[u8]) -> Result<(Parsed, Vec<String>), String> {
    if db.len() < 512 {
        return Err(format!(
            "{} bytes is too short for a Berkeley DB file",
            db.len()
        ));
    }
    let order = match le32(db, 12) {
        Some(BDB_HASH_MAGIC) => Order { big_endian: false },
        Some(m) if m == BDB_HASH_MAGIC.swap_bytes() => Order { big_endian: true },
        Some(m) if m == BDB_BTREE_MAGIC || m == BDB_BTREE_MAGIC.swap_bytes() => {
            return Err("a Berkeley DB btree, not the hash database rpm uses for Packages".into());
        }
        _ => return Err("not a Berkeley DB hash database".into()),
    };
    let version = order.u32(db, 16).unwrap_or(0);
    if !(8..=10).contains(&version) {
        return Err(format!("unsupported Berkeley DB hash version {version}"));
    }
    let page_size = order.u32(db, 20).unwrap_or(0) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("invalid Berkeley DB page size {page_size}"));
    }
    if db[24] != 0 {
        return Err("the Berkeley DB file is encrypted".into());
    }
    if db[25] != P_HASHMETA {
        return Err(format!("first page has type {}, not hash metadata", db[25]));
    }
    let declared = (order.u32(db, 32).unwrap_or(0) as usize).saturating_add(1);
    let present = db.len() / page_size;
    let mut c = Collector::default();
    if declared > present {
        c.warn(format!(
            "file is truncated: {declared} pages declared, {present} present"
        ));
    }
    let bdb = Bdb {
        db,
        order,
        page_size,
        pages: declared.min(present),
    };
    let mut seen = PageSet::new(bdb.pages);
    'pages: for pgno in 1..bdb.pages {
        let Some(page) = bdb.page(pgno) else { break };
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        if order.u32(page, 8) != Some(pgno as u32) {
            c.warn(format!(
                "page {pgno}: wrong page number in its header; skipped"
            ));
            continue;
        }
        let n = usize::from(order.u16(page, 20).unwrap_or(0));
        if BDB_PAGE_HEADER + 2 * n > page_size {
            c.warn(format!("page {pgno}: {n} entries cannot fit; skipped"));
            continue;
        }
        for pair in 0..n / 2 {
            if c.full() {
                break 'pages;
            }
            let (Some(key), Some(value)) =
                (bdb.item(page, n, 2 * pair), bdb.item(page, n, 2 * pair + 1))
            else {
                c.records += 1;
                c.bad_record(format!(
                    "page {pgno}: entry {pair} has invalid offsets; skipped"
                ));
                continue;
            };
            let hnum = match key {
                [H_KEYDATA, k @ ..] if k.len() == 4 => order.u32(k, 0).unwrap_or(0),
                _ => {
                    c.records += 1;
                    c.bad_record(format!(
                        "page {pgno}: entry {pair} has no header-number key; skipped"
                    ));
                    continue;
                }
            };
            if hnum == 0 {
                continue;
            }
            match value {
                [H_KEYDATA, blob @ ..] => c.add(hnum, blob),
                [H_OFFPAGE, _, _, _, rest @ ..] if rest.len() == 8 => {
                    let first = order.u32(rest, 0).unwrap_or(0);
                    let total = order.u32(rest, 4).unwrap_or(0);
                    match bdb.overflow(first, total, &mut seen) {
                        Ok(blob) => c.add(hnum, &blob),
                        Err(e) => {
                            c.records += 1;
                            c.bad_record(format!("header {hnum}: {e}; skipped"));
                        }
                    }
                }
                _ => {
                    c.records += 1;
                    let ty = value.first().copied().unwrap_or(0);
                    c.bad_record(format!(
                        "header {hnum}: value stored as item type {ty}; skipped"
                    ));
                }
            }
        }
    }
    c.finish()
}

// ---------------------------------------------------------------------------------------------
// NDB: `Packages.db` (`lib/backend/ndb/rpmpkg.c`).
//
// A 32-byte header (magic "RpmP", version 0, generation, slot page count, next package
// index) overlaps the first two 16-byte slots of the first 4 KiB slot page. A slot is magic
// "Slot", package index, block offset and block count; blocks are 16 bytes and an offset of
// 0 is a free slot. A blob is a 16-byte head (magic "BlbS", package index, timestamp, length),
// the header, zero padding and a 12-byte tail (Adler-32 of all before it, length, "BlbE").

const NDB_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const NDB_SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const NDB_BLOB_HEAD_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const NDB_BLOB_TAIL_MAGIC: u32 = u32::from_le_bytes(*b"BlbE");
const NDB_PAGE: usize = 4096;
const NDB_SLOT: usize = 16;
const NDB_BLOCK: usize = 16;
const NDB_BLOB_HEAD: usize = 16;
const NDB_BLOB_TAIL: usize = 12;

/// Reads an NDB `Packages.db`.
pub(crate) fn parse_ndb(db: &[u8]) -> Result<(Parsed, Vec<String>), String> {
    if le32(db, 0) != Some(NDB_MAGIC) {
        return Err("not an rpm NDB database".into());
    }
    let version = le32(db, 4).unwrap_or(u32::MAX);
    if version != 0 {
        return Err(format!("unsupported NDB version {version}"));
    }
    let slot_pages = le32(db, 12).unwrap_or(0) as usize;
    if slot_pages == 0 || slot_pages > db.len() / NDB_PAGE {
        return Err(format!(
            "NDB header claims {slot_pages} slot pages; {} bytes hold {}",
            db.len(),
            db.len() / NDB_PAGE
        ));
    }
    let blocks = db.len() / NDB_BLOCK;
    let first_blob_block = slot_pages * (NDB_PAGE / NDB_BLOCK);
    let mut c = Collector::default();
    let mut bad_magic = 0usize;
    // Package index → slot number, to report duplicates the way they are found.
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for slot_no in 2..slot_pages * (NDB_PAGE / NDB_SLOT) {
        let at = slot_no * NDB_SLOT;
        let word = |i: usize| le32(db, at + 4 * i).unwrap_or(0);
        if word(0) != NDB_SLOT_MAGIC {
            bad_magic += 1;
            continue;
        }
        let (pkgidx, blkoff, blkcnt) = (word(1), word(2) as usize, word(3) as usize);
        if blkoff == 0 {
            continue;
        }
        if c.full() {
            break;
        }
        if pkgidx == 0 || blkcnt == 0 || blkoff < first_blob_block {
            c.records += 1;
            c.bad_record(format!("slot {slot_no}: invalid entry; skipped"));
            continue;
        }
        if blkoff.saturating_add(blkcnt) > blocks {
            c.records += 1;
            c.bad_record(format!(
                "header {pkgidx}: blob runs past the end of the file; skipped"
            ));
            continue;
        }
        if let Some(first) = seen.insert(pkgidx, slot_no) {
            c.warn(format!(
                "header {pkgidx}: slots {first} and {slot_no} both claim it"
            ));
        }
        let region = &db[blkoff * NDB_BLOCK..(blkoff + blkcnt) * NDB_BLOCK];
        match ndb_blob(region, pkgidx) {
            Ok((blob, checksum_ok)) => {
                if !checksum_ok {
                    c.warn(format!("header {pkgidx}: blob checksum mismatch"));
                }
                c.add(pkgidx, blob);
            }
            Err(e) => {
                c.records += 1;
                c.bad_record(format!("header {pkgidx}: {e}; skipped"));
            }
        }
    }
    if bad_magic > 0 {
        c.warn(format!("{bad_magic} slots without the slot magic; skipped"));
    }
    c.finish()
}

/// The header inside one NDB blob region, and whether its Adler-32 checksum matched (rpm
/// itself does not check it when reading, so a mismatch is only a warning).
fn ndb_blob(region: &[u8], pkgidx: u32) -> Result<(&[u8], bool), String> {
    if region.len() < NDB_BLOB_HEAD + NDB_BLOB_TAIL {
        return Err("blob is too short".into());
    }
    if le32(region, 0) != Some(NDB_BLOB_HEAD_MAGIC) {
        return Err("blob has no head magic".into());
    }
    if le32(region, 4) != Some(pkgidx) {
        return Err("blob belongs to another package".into());
    }
    let len = le32(region, 12).unwrap_or(0) as usize;
    let needed = len
        .checked_add(NDB_BLOB_HEAD + NDB_BLOB_TAIL + NDB_BLOCK - 1)
        .map(|n| n / NDB_BLOCK * NDB_BLOCK);
    if needed != Some(region.len()) {
        return Err(format!(
            "blob length {len} does not match its {} bytes",
            region.len()
        ));
    }
    let tail = region.len() - NDB_BLOB_TAIL;
    if le32(region, tail + 4) != Some(len as u32)
        || le32(region, tail + 8) != Some(NDB_BLOB_TAIL_MAGIC)
    {
        return Err("blob tail does not match its head".into());
    }
    let checksum_ok = le32(region, tail) == Some(adler32(&region[..tail]));
    Ok((&region[NDB_BLOB_HEAD..NDB_BLOB_HEAD + len], checksum_ok))
}

/// Adler-32 (RFC 1950).
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQLITE: &[u8] = include_bytes!("../../tests/fixtures/rpm/rpmdb.sqlite");
    const BDB_OVERFLOW: &[u8] = include_bytes!("../../tests/fixtures/rpm/bdb-overflow.Packages");
    const BDB_INLINE: &[u8] = include_bytes!("../../tests/fixtures/rpm/bdb-inline.Packages");
    const BDB_BIGENDIAN: &[u8] = include_bytes!("../../tests/fixtures/rpm/bdb-bigendian.Packages");
    const NDB: &[u8] = include_bytes!("../../tests/fixtures/rpm/Packages.db");
    const EXPECTED_PACKAGES: &str = include_str!("../../tests/fixtures/rpm/expected-packages.tsv");
    const EXPECTED_FILES: &str = include_str!("../../tests/fixtures/rpm/expected-files.tsv");

    type Parser = fn(&[u8]) -> Result<(Parsed, Vec<String>), String>;

    fn fixtures() -> [(&'static str, Parser, &'static [u8]); 5] {
        [
            ("sqlite", parse_sqlite as Parser, SQLITE),
            ("bdb-overflow", parse_bdb, BDB_OVERFLOW),
            ("bdb-inline", parse_bdb, BDB_INLINE),
            ("bdb-bigendian", parse_bdb, BDB_BIGENDIAN),
            ("ndb", parse_ndb, NDB),
        ]
    }

    /// Checks a parse against what `rpm -qa` printed for the same headers (see
    /// `tests/rpm_fixtures.sh`): columns NAME, EPOCHNUM:VERSION-RELEASE, ARCH, SOURCERPM, EVR,
    /// LICENSE; and the file lists.
    fn assert_matches_rpm(what: &str, parsed: &Parsed, owned: &[String]) {
        assert!(parsed.warnings.is_empty(), "{what}: {:?}", parsed.warnings);
        let mut got: Vec<String> = parsed
            .packages
            .iter()
            .map(|p| {
                assert_eq!(p.ecosystem, Ecosystem::Rpm);
                let src = p.source.as_ref().expect("source package");
                let src_version = src.version.as_deref().unwrap();
                let src_file = format!(
                    "{}-{}.src.rpm",
                    src.name,
                    src_version.split_once(':').map_or(src_version, |(_, v)| v)
                );
                let epochnum = if p.version.contains(':') {
                    p.version.clone()
                } else {
                    format!("0:{}", p.version)
                };
                format!(
                    "{}\t{epochnum}\t{}\t{src_file}\t{}\t{}",
                    p.name,
                    p.arch.as_deref().unwrap_or("(none)"),
                    p.version,
                    p.licenses.join(" ")
                )
            })
            .collect();
        got.sort();
        let want: Vec<&str> = EXPECTED_PACKAGES
            .lines()
            .filter(|l| !l.starts_with("gpg-pubkey\t"))
            .collect();
        assert_eq!(want.len(), 3, "the fixture has three real packages");
        assert_eq!(got, want, "{what}");

        let mut files: Vec<String> = owned.to_vec();
        files.sort();
        let mut want_files: Vec<String> = EXPECTED_FILES
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(_, f)| f.trim_start_matches('/').to_owned())
            .collect();
        want_files.sort();
        assert_eq!(files, want_files, "{what}");
    }

    #[test]
    fn sqlite_matches_rpm() {
        // rpm leaves the file in WAL mode; the reader must cope with that header.
        assert_eq!(&SQLITE[18..20], &[2, 2]);
        assert!(
            EXPECTED_PACKAGES
                .lines()
                .any(|l| l.starts_with("gpg-pubkey\t"))
        );
        let (parsed, owned) = parse_sqlite(SQLITE).unwrap();
        assert_matches_rpm("sqlite", &parsed, &owned);
    }

    #[test]
    fn bdb_matches_rpm() {
        for (what, db) in [
            ("overflow", BDB_OVERFLOW),
            ("inline", BDB_INLINE),
            ("bigendian", BDB_BIGENDIAN),
        ] {
            let (parsed, owned) = parse_bdb(db).unwrap();
            assert_matches_rpm(what, &parsed, &owned);
        }
    }

    #[test]
    fn ndb_matches_rpm() {
        let (parsed, owned) = parse_ndb(NDB).unwrap();
        assert_matches_rpm("ndb", &parsed, &owned);
    }

    #[test]
    fn versions_sources_and_ownership() {
        let (parsed, owned) = parse_ndb(NDB).unwrap();
        let by_name = |n: &str| parsed.packages.iter().find(|p| p.name == n).unwrap();
        let e = by_name("hello-epoch");
        assert_eq!(e.version, "2:1.0-3");
        assert_eq!(e.arch.as_deref(), Some("noarch"));
        assert_eq!(e.licenses, vec!["MIT"]);
        assert_eq!(
            e.source,
            Some(SourcePackage {
                name: "hello-epoch".into(),
                version: Some("2:1.0-3".into())
            })
        );
        // Epoch: 0 is printed, as rpm's %{EVR} does; no Epoch tag, no epoch.
        let o = by_name("libother");
        assert_eq!(o.version, "0:0.9-1.el9");
        let src = o.source.as_ref().unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_deref()),
            ("srcname", Some("0:0.9-1.el9"))
        );
        assert_eq!(by_name("twodirs").version, "2.5.1-7.fc40");
        assert!(parsed.packages.iter().all(|p| p.name != "gpg-pubkey"));
        assert!(owned.contains(&"etc/twodirs/twodirs.conf".to_owned()));
        assert!(owned.contains(&"usr/bin/twodirs".to_owned()));
    }

    #[test]
    fn source_rpm_names() {
        let s = source_package("util-linux-2.32.1-42.el8_8.src.rpm", None).unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_deref()),
            ("util-linux", Some("2.32.1-42.el8_8"))
        );
        let s = source_package("foo-1-2.nosrc.rpm", Some(3)).unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_deref()),
            ("foo", Some("3:1-2"))
        );
        assert_eq!(source_package("foo-1.src.rpm", None), None);
        assert_eq!(source_package("-1-2.src.rpm", None), None);
        assert_eq!(source_package("foo-1-2.rpm", None), None);
    }

    // ---- synthetic headers ----

    enum V<'a> {
        Str(&'a str),
        Strs(&'a [&'a str]),
        Ints(&'a [u32]),
    }

    /// Builds an exported header blob from (tag, value) pairs.
    fn header(entries: &[(u32, V<'_>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, v) in entries {
            let (ty, count) = match v {
                V::Str(s) => {
                    let off = data.len();
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                    (TYPE_STRING, (off, 1))
                }
                V::Strs(ss) => {
                    let off = data.len();
                    for s in *ss {
                        data.extend_from_slice(s.as_bytes());
                        data.push(0);
                    }
                    (TYPE_STRING_ARRAY, (off, ss.len()))
                }
                V::Ints(ns) => {
                    while data.len() % 4 != 0 {
                        data.push(0);
                    }
                    let off = data.len();
                    for n in *ns {
                        data.extend_from_slice(&n.to_be_bytes());
                    }
                    (TYPE_INT32, (off, ns.len()))
                }
            };
            for w in [*tag, ty, count.0 as u32, count.1 as u32] {
                index.extend_from_slice(&w.to_be_bytes());
            }
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    fn basic<'a>(name: &'a str) -> Vec<(u32, V<'a>)> {
        vec![
            (TAG_NAME, V::Str(name)),
            (TAG_VERSION, V::Str("1.2")),
            (TAG_RELEASE, V::Str("3.el9")),
        ]
    }

    fn one(blob: &[u8]) -> Collector {
        let mut c = Collector::default();
        c.add(7, blob);
        c
    }

    #[test]
    fn synthetic_headers() {
        // No epoch, no arch, no source, old-style file names.
        let mut e = basic("old");
        e.push((TAG_OLDFILENAMES, V::Strs(&["/bin/sh", "/etc/x"])));
        let (p, owned) = one(&header(&e)).finish().unwrap();
        assert_eq!(p.packages[0].version, "1.2-3.el9");
        assert_eq!(p.packages[0].arch, None);
        assert_eq!(p.packages[0].source, None);
        assert_eq!(owned, vec!["bin/sh", "etc/x"]);

        // Epoch 0 and compressed file names.
        let mut e = basic("new");
        e.push((TAG_EPOCH, V::Ints(&[0])));
        e.push((TAG_DIRNAMES, V::Strs(&["/usr/bin/", "/etc/"])));
        e.push((TAG_BASENAMES, V::Strs(&["a", "b", "c"])));
        e.push((TAG_DIRINDEXES, V::Ints(&[1, 0, 0])));
        let (p, owned) = one(&header(&e)).finish().unwrap();
        assert_eq!(p.packages[0].version, "0:1.2-3.el9");
        assert_eq!(owned, vec!["etc/a", "usr/bin/b", "usr/bin/c"]);

        // gpg-pubkey is not a package.
        let (p, _) = one(&header(&basic("gpg-pubkey"))).finish().unwrap();
        assert!(p.packages.is_empty() && p.warnings.is_empty());

        // A bad file list keeps the package, with a warning.
        let mut e = basic("badfiles");
        e.push((TAG_DIRNAMES, V::Strs(&["/usr/"])));
        e.push((TAG_BASENAMES, V::Strs(&["a", "b"])));
        e.push((TAG_DIRINDEXES, V::Ints(&[0, 9])));
        let (p, owned) = one(&header(&e)).finish().unwrap();
        assert_eq!(p.packages.len(), 1);
        assert!(owned.is_empty());
        assert!(p.warnings[0].contains("dir index 9"), "{:?}", p.warnings);
        let mut e = basic("mismatch");
        e.push((TAG_DIRNAMES, V::Strs(&["/usr/"])));
        e.push((TAG_BASENAMES, V::Strs(&["a", "b"])));
        e.push((TAG_DIRINDEXES, V::Ints(&[0])));
        let (p, _) = one(&header(&e)).finish().unwrap();
        assert!(
            p.warnings[0].contains("2 basenames but 1 dir indexes"),
            "{:?}",
            p.warnings
        );

        // Missing and invalid identity fields are errors.
        assert!(one(&header(&basic("")[..])).finish().is_err());
        assert!(one(&header(&basic("two words"))).finish().is_err());
        assert!(
            one(&header(&basic("x")[..2]))
                .finish()
                .unwrap_err()
                .contains("no RELEASE")
        );
        // A later duplicate entry replaces the earlier one, as in rpm.
        let mut e = basic("first");
        e.push((TAG_NAME, V::Str("second")));
        assert_eq!(
            one(&header(&e)).finish().unwrap().0.packages[0].name,
            "second"
        );
    }

    #[test]
    fn hostile_headers() {
        let blob = header(&basic("pkg"));
        assert!(Header::parse(&blob).is_ok());
        // 2^31 index entries: refused before anything is sized by it.
        let mut h = blob.clone();
        h[..4].copy_from_slice(&0x8000_0000u32.to_be_bytes());
        assert!(
            Header::parse(&h)
                .err()
                .unwrap()
                .contains("2147483648 index entries")
        );
        let mut h = blob.clone();
        h[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Header::parse(&h).is_err());
        // One more entry than the blob holds.
        let mut h = blob.clone();
        h[3] += 1;
        assert!(Header::parse(&h).err().unwrap().contains("truncated"));
        // Every truncation fails cleanly.
        for n in 0..blob.len() {
            assert!(one(&blob[..n]).finish().is_err(), "{n}");
        }
        // Offsets and counts pointing outside the data store.
        for (entry, word, value) in [
            (0, 2, 1000u32),
            (0, 2, u32::MAX),
            (1, 1, TYPE_INT32),
            (2, 1, 99),
        ] {
            let mut h = blob.clone();
            let at = 8 + 16 * entry + 4 * word;
            h[at..at + 4].copy_from_slice(&value.to_be_bytes());
            assert!(one(&h).finish().is_err(), "{entry}/{word}");
        }
        // A string without its NUL.
        let mut h = blob.clone();
        let last = h.len() - 1;
        h[last] = b'x';
        assert!(one(&h).finish().unwrap_err().contains("runs past"));
        // A string array claiming more strings than bytes.
        let mut e = basic("arr");
        e.push((TAG_OLDFILENAMES, V::Strs(&["/a"])));
        let mut h = header(&e);
        let at = 8 + 16 * 3 + 12;
        h[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
        let (p, _) = one(&h).finish().unwrap();
        assert!(p.warnings[0].contains("cannot fit"), "{:?}", p.warnings);
        h[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        let (p, _) = one(&h).finish().unwrap();
        assert!(
            p.warnings[0].contains("claims 2147483647 strings"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn owned_files_are_budgeted() {
        // A path longer than PATH_MAX is not recorded.
        let long_dir = format!("/{}/", "d".repeat(5000));
        let dirs = [long_dir.as_str(), "/ok/"];
        let mut e = basic("long");
        e.push((TAG_DIRNAMES, V::Strs(&dirs)));
        e.push((TAG_BASENAMES, V::Strs(&["a", "b"])));
        e.push((TAG_DIRINDEXES, V::Ints(&[0, 1])));
        let (p, owned) = one(&header(&e)).finish().unwrap();
        assert_eq!(owned, vec!["ok/b"]);
        assert!(
            p.warnings[0].contains("longer than 4096"),
            "{:?}",
            p.warnings
        );
        // Past the database's allowance, files are counted, not stored; packages still are.
        let mut c = Collector::default();
        c.budget.files = 1;
        let mut e = basic("many");
        e.push((TAG_OLDFILENAMES, V::Strs(&["/a", "/b", "/c"])));
        c.add(1, &header(&e));
        c.add(2, &header(&e));
        let (p, owned) = c.finish().unwrap();
        assert_eq!(p.packages.len(), 2);
        assert_eq!(owned, vec!["a"]);
        assert!(p.warnings[0].contains("5 not recorded"), "{:?}", p.warnings);
    }

    // ---- hostile databases ----

    /// A tiny xorshift generator, so the fuzz loops are reproducible without dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn truncated_databases() {
        for (what, parse, db) in fixtures() {
            for n in [
                0,
                1,
                16,
                31,
                32,
                100,
                511,
                512,
                4096,
                db.len() / 2,
                db.len() - 1,
            ] {
                let n = n.min(db.len());
                // Either an error or a (possibly partial) result; never a panic.
                if let Ok((p, _)) = parse(&db[..n]) {
                    assert!(p.packages.len() <= 3, "{what} at {n}");
                }
            }
            assert!(parse(&[]).is_err(), "{what}");
        }
        // A BDB file cut after the metadata page says so.
        let cut = &BDB_OVERFLOW[..BDB_OVERFLOW.len() - 4096];
        match parse_bdb(cut) {
            Ok((p, _)) => assert!(
                p.warnings.iter().any(|w| w.contains("truncated")),
                "{:?}",
                p.warnings
            ),
            Err(e) => assert!(e.contains("outside the file"), "{e}"),
        }
    }

    #[test]
    fn random_bytes() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let len = rng.below(20_000);
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert!(parse_bdb(&buf).is_err());
            assert!(parse_ndb(&buf).is_err());
            assert!(parse_sqlite(&buf).is_err());
            // With valid magics the parsers get further in.
            if buf.len() >= 4096 {
                buf[12..16].copy_from_slice(&BDB_HASH_MAGIC.to_le_bytes());
                buf[16..20].copy_from_slice(&9u32.to_le_bytes());
                buf[20..24].copy_from_slice(&512u32.to_le_bytes());
                buf[24] = 0;
                buf[25] = P_HASHMETA;
                let _ = parse_bdb(&buf);
                buf[..4].copy_from_slice(b"RpmP");
                buf[4..8].copy_from_slice(&0u32.to_le_bytes());
                buf[12..16].copy_from_slice(&1u32.to_le_bytes());
                let _ = parse_ndb(&buf);
            }
        }
    }

    #[test]
    fn ndb_hostile_header_fields() {
        let mut db = NDB.to_vec();
        db[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_ndb(&db).unwrap_err().contains("slot pages"));
        // A slot whose blob points past the end of the file, and one pointing into the slots.
        let mut db = NDB.to_vec();
        let slot = (2..256).find(|s| le32(&db, s * 16 + 8) != Some(0)).unwrap() * 16;
        db[slot + 8..slot + 12].copy_from_slice(&0x0fff_ffffu32.to_le_bytes());
        let (p, _) = parse_ndb(&db).unwrap();
        assert_eq!(p.packages.len(), 2);
        assert!(
            p.warnings.iter().any(|w| w.contains("past the end")),
            "{:?}",
            p.warnings
        );
        db[slot + 8..slot + 12].copy_from_slice(&1u32.to_le_bytes());
        let (p, _) = parse_ndb(&db).unwrap();
        assert!(
            p.warnings.iter().any(|w| w.contains("invalid entry")),
            "{:?}",
            p.warnings
        );
        // A flipped byte inside a blob: checksum warning, and the header still parses.
        let mut db = NDB.to_vec();
        let blkoff = le32(&db, slot + 8).unwrap() as usize * 16;
        let len = le32(&db, blkoff + 12).unwrap() as usize;
        let name_at = blkoff + 16 + len - 3; // inside the data store
        db[name_at] ^= 0x20;
        let (p, _) = parse_ndb(&db).unwrap();
        assert!(
            p.warnings.iter().any(|w| w.contains("checksum")),
            "{:?}",
            p.warnings
        );
    }

    /// The (page, item offset) of the first overflow value in a little-endian BDB file.
    fn first_offpage_value(db: &[u8], page_size: usize) -> (usize, usize) {
        for pgno in 1..db.len() / page_size {
            let page = &db[pgno * page_size..(pgno + 1) * page_size];
            if page[25] != P_HASH {
                continue;
            }
            let n = usize::from(u16::from_le_bytes([page[20], page[21]]));
            for i in (1..n).step_by(2) {
                let off = usize::from(u16::from_le_bytes([page[26 + 2 * i], page[27 + 2 * i]]));
                if page[off] == H_OFFPAGE {
                    return (pgno, off);
                }
            }
        }
        panic!("no overflow value");
    }

    #[test]
    fn bdb_overflow_loops_and_lies() {
        let ps = 4096;
        let (pg, off) = first_offpage_value(BDB_OVERFLOW, ps);
        let item = pg * ps + off;
        let first = le32(BDB_OVERFLOW, item + 4).unwrap() as usize;

        // The first overflow page holds 100 bytes and points back at itself.
        let mut db = BDB_OVERFLOW.to_vec();
        db[first * ps + 16..first * ps + 20].copy_from_slice(&(first as u32).to_le_bytes());
        db[first * ps + 22..first * ps + 24].copy_from_slice(&100u16.to_le_bytes());
        let (p, _) = parse_bdb(&db).unwrap();
        assert_eq!(p.packages.len(), 2);
        assert!(
            p.warnings.iter().any(|w| w.contains("loop")),
            "{:?}",
            p.warnings
        );

        // The value claims 4 GiB.
        let mut db = BDB_OVERFLOW.to_vec();
        db[item + 8..item + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let (p, _) = parse_bdb(&db).unwrap();
        assert!(
            p.warnings.iter().any(|w| w.contains("claims")),
            "{:?}",
            p.warnings
        );

        // The chain starts outside the file, or at the metadata page.
        for bad in [u32::MAX, 0, 1_000_000] {
            let mut db = BDB_OVERFLOW.to_vec();
            db[item + 4..item + 8].copy_from_slice(&bad.to_le_bytes());
            let (p, _) = parse_bdb(&db).unwrap();
            assert_eq!(p.packages.len(), 2, "{bad}");
        }

        // An overflow page claiming more bytes than a page holds.
        let mut db = BDB_OVERFLOW.to_vec();
        db[first * ps + 22..first * ps + 24].copy_from_slice(&u16::MAX.to_le_bytes());
        let (p, _) = parse_bdb(&db).unwrap();
        assert_eq!(p.packages.len(), 2);

        // A hash page with more entries than fit.
        let mut db = BDB_OVERFLOW.to_vec();
        db[pg * ps + 20..pg * ps + 22].copy_from_slice(&u16::MAX.to_le_bytes());
        match parse_bdb(&db) {
            Ok((p, _)) => assert!(p.warnings.iter().any(|w| w.contains("cannot fit"))),
            Err(e) => assert!(e.contains("no readable"), "{e}"),
        }

        // Metadata that declares 2^32 pages only reads the pages present.
        let mut db = BDB_OVERFLOW.to_vec();
        db[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let (p, _) = parse_bdb(&db).unwrap();
        assert_eq!(p.packages.len(), 3);
        assert!(p.warnings.iter().any(|w| w.contains("truncated")));

        // Wrong magic, btree, page size, encryption.
        for (at, v) in [
            (12usize, 0u32),
            (12, BDB_BTREE_MAGIC),
            (20, 1000),
            (20, 1 << 20),
        ] {
            let mut db = BDB_OVERFLOW.to_vec();
            db[at..at + 4].copy_from_slice(&v.to_le_bytes());
            assert!(parse_bdb(&db).is_err(), "{at}={v}");
        }
        let mut db = BDB_OVERFLOW.to_vec();
        db[24] = 1;
        assert!(parse_bdb(&db).unwrap_err().contains("encrypted"));
    }

    /// Serializes an in-memory SQLite database built by `sql`.
    fn sqlite_db(sql: &str) -> Vec<u8> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(sql).unwrap();
        conn.serialize("main").unwrap().to_vec()
    }

    #[test]
    fn hostile_sqlite() {
        // No Packages table.
        let db = sqlite_db("CREATE TABLE t(x);");
        assert!(parse_sqlite(&db).unwrap_err().contains("Packages"));
        // A view that never ends is interrupted.
        let db = sqlite_db(
            "CREATE VIEW Packages AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)
             SELECT n AS hnum, x'00' AS blob FROM c WHERE n < 0;",
        );
        assert!(parse_sqlite(&db).unwrap_err().contains("too many steps"));
        // A view that asks for a 1 GB blob hits the length limit.
        let db =
            sqlite_db("CREATE VIEW Packages AS SELECT 1 AS hnum, zeroblob(1000000000) AS blob;");
        assert!(parse_sqlite(&db).is_err());
        // Rows of the wrong types are skipped with warnings; good rows survive.
        let good = header(&basic("good"));
        let hex: String = good.iter().map(|b| format!("{b:02X}")).collect();
        let db = sqlite_db(&format!(
            "CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB);
             INSERT INTO Packages VALUES (1, 42), (2, x'{hex}'), (3, x'00000001'), (4, NULL);"
        ));
        let (p, _) = parse_sqlite(&db).unwrap();
        assert_eq!(p.packages.len(), 1);
        assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
        // Only malformed rows: an error naming the first problem.
        let db = sqlite_db(
            "CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB); INSERT INTO Packages VALUES (1, x'0000');",
        );
        assert!(parse_sqlite(&db).unwrap_err().contains("header 1"));
        // An empty database is valid: no packages.
        let db = sqlite_db("CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB);");
        assert!(parse_sqlite(&db).unwrap().0.packages.is_empty());
    }

    #[test]
    fn warnings_are_capped() {
        let mut c = Collector::default();
        for i in 0..1000 {
            c.add(i, b"junk");
        }
        c.add(5000, &header(&basic("ok")));
        let (p, _) = c.finish().unwrap();
        assert_eq!(p.packages.len(), 1);
        assert_eq!(p.warnings.len(), MAX_WARNINGS + 1);
        assert!(p.warnings.last().unwrap().contains("900 more"));
    }

    /// Flips random bytes of every fixture 2,000 times: the parsers must never panic or hang.
    #[test]
    fn fuzz_fixtures_with_byte_flips() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for (what, parse, db) in fixtures() {
            let mut buf = db.to_vec();
            for round in 0..2000 {
                buf.copy_from_slice(db);
                let flips = 1 + rng.below(8);
                for _ in 0..flips {
                    // Half the flips land in the first 8 KiB, where the structure is densest.
                    let limit = if rng.next() & 1 == 0 {
                        buf.len().min(8192)
                    } else {
                        buf.len()
                    };
                    let at = rng.below(limit);
                    buf[at] ^= 1 << rng.below(8);
                }
                if let Ok((p, owned)) = parse(&buf) {
                    assert!(p.packages.len() <= 8, "{what} round {round}");
                    assert!(owned.len() <= 10_000, "{what} round {round}");
                }
            }
        }
    }

    #[test]
    fn limits_are_consistent() {
        // The largest header rpm accepts fits in the largest database that is read.
        assert!(MAX_DB_BYTES as usize > MAX_BLOB_BYTES);
        assert!(MAX_BLOB_BYTES < i32::MAX as usize, "SQLite length limit");
    }

    #[test]
    fn adler32_known_value() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&[]), 1);
        assert_eq!(adler32(&vec![0xffu8; 100_000]), {
            let (mut a, mut b) = (1u64, 0u64);
            for _ in 0..100_000 {
                a = (a + 0xff) % 65521;
                b = (b + a) % 65521;
            }
            ((b << 16) | a) as u32
        });
    }
}
