//! Reading one layer as a stream of checked entries.
//!
//! The pipeline for a layer blob is:
//! raw bytes → digest of the blob → decompression (sniffed: gzip, zstd or none) → size guard →
//! digest of the uncompressed tar (the diff ID) → [`crate::tar::TarReader`] → path checks and
//! whiteout translation → the caller's [`EntryVisitor`].
//!
//! Both digests are compared after the last byte, so a layer whose content does not match the
//! manifest (or the config's diff ID) is an error, never a warning.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, LayerContext};
use crate::tar::TarReader;

/// What a layer entry is, after whiteouts are translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A regular file; its content can be read.
    File,
    /// A directory.
    Dir,
    /// A symbolic link and its target as stored (absolute targets are relative to the image root).
    Symlink(&'a str),
    /// A hard link to another path of the image (normalised like entry paths).
    HardLink(&'a str),
    /// `.wh.NAME`: the path (here: NAME, with its directory) is deleted from lower layers.
    Whiteout,
    /// `.wh..wh..opq`: the directory's content from lower layers is hidden.
    OpaqueDir,
    /// Devices, FIFOs and other special files.
    Other,
}

/// One entry of a layer, with a normalised path: relative, `/`-separated, no `.` or `..`.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The path inside the image root, e.g. `var/lib/dpkg/status`.
    pub path: &'a str,
    /// What the entry is.
    pub kind: EntryKind<'a>,
    /// Permission bits, including setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Size of the content in bytes (0 for anything but files).
    pub size: u64,
}

/// Receives the entries of a layer in order.
pub trait EntryVisitor {
    /// Called for each entry. `content` yields the file's bytes for [`EntryKind::File`] (and
    /// nothing for other kinds); reading it is optional. An error aborts the walk.
    ///
    /// # Errors
    /// Errors from reading `content` (a truncated or corrupt layer) must be passed on.
    fn visit(&mut self, entry: &Entry<'_>, content: &mut dyn Read) -> io::Result<()>;

    /// Called instead of [`EntryVisitor::visit`] for a regular file of a directory source,
    /// which lies at `path` on this machine: a visitor may open only the files it wants, and
    /// seek in them instead of reading them whole. The default opens the file and hands it
    /// to `visit` (at most `entry.size` bytes); a file that cannot be opened (permissions on
    /// a live system, removed meanwhile) is passed over.
    ///
    /// # Errors
    /// Errors from reading the file.
    fn visit_file(&mut self, entry: &Entry<'_>, path: &std::path::Path) -> io::Result<()> {
        match std::fs::File::open(path) {
            Ok(f) => {
                let mut r = io::BufReader::with_capacity(64 * 1024, f).take(entry.size);
                self.visit(entry, &mut r)
            }
            Err(_) => Ok(()),
        }
    }
}

impl<F: FnMut(&Entry<'_>, &mut dyn Read) -> io::Result<()>> EntryVisitor for F {
    fn visit(&mut self, entry: &Entry<'_>, content: &mut dyn Read) -> io::Result<()> {
        self(entry, content)
    }
}

/// Limits applied while reading a layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most uncompressed bytes one layer may expand to.
    pub max_layer_bytes: u64,
    /// Once a layer has expanded past [`Limits::ratio_floor`] bytes, the most uncompressed bytes
    /// per compressed byte (a gzip bomb expands by a factor of about 1000).
    pub max_ratio: u64,
    /// See [`Limits::max_ratio`].
    pub ratio_floor: u64,
    /// The most entries one layer may hold.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 64 << 30,
            max_ratio: 200,
            ratio_floor: 256 << 20,
            max_entries: 5_000_000,
        }
    }
}

/// What was learnt by reading a whole layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// Digest of the blob as stored (`None` for `dir:` sources, which have no blob).
    pub blob_digest: Option<Digest>,
    /// Size of the blob as stored.
    pub blob_size: u64,
    /// Digest of the uncompressed tar, the diff ID (`None` for `dir:` sources).
    pub diff_id: Option<Digest>,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Number of entries.
    pub entries: u64,
}

/// The compression of a layer blob, found from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd (one or more frames).
    Zstd,
}

impl Compression {
    fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Counts bytes as they pass; shared with the size guard so it can compute the ratio.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Raw<'a> = BufReader<HashingReader<Counting<Box<dyn Read + Send + 'a>>>>;

enum Decoder<'a> {
    None(Box<Raw<'a>>),
    Gzip(Box<crate::gzip::Gunzip<Raw<'a>>>),
    Zstd(Box<zstd::stream::read::Decoder<'a, Raw<'a>>>),
}

impl<'a> Decoder<'a> {
    fn into_raw(self) -> io::Result<Raw<'a>> {
        Ok(match self {
            Decoder::None(r) => *r,
            Decoder::Gzip(d) => d
                .into_inner()
                .ok_or_else(|| io::Error::other("gzip decoder failed"))?,
            Decoder::Zstd(d) => d.finish(),
        })
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (result, format) = match self {
            Decoder::None(r) => return r.read(buf),
            Decoder::Gzip(d) => (d.read(buf), "gzip"),
            Decoder::Zstd(d) => (d.read(buf), "zstd"),
        };
        // The decoders' own messages ("incomplete deflate stream", "incomplete frame") do not
        // say which layer format failed, nor that a truncated blob is the usual cause.
        result.map_err(|e| {
            let what = if e.kind() == io::ErrorKind::UnexpectedEof {
                "ends too early (truncated blob)"
            } else {
                "is corrupt"
            };
            io::Error::new(e.kind(), format!("{format} compressed data {what}: {e}"))
        })
    }
}

/// Refuses layers that expand beyond the limits.
struct Guard<R> {
    inner: R,
    out: u64,
    compressed: Arc<AtomicU64>,
    limits: Limits,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if self.out > self.limits.max_layer_bytes {
            return Err(io::Error::other(GuardTripped(format!(
                "layer expands beyond {} bytes",
                self.limits.max_layer_bytes
            ))));
        }
        if self.out > self.limits.ratio_floor {
            let c = self.compressed.load(Ordering::Relaxed).max(1);
            if self.out / c > self.limits.max_ratio {
                return Err(io::Error::other(GuardTripped(format!(
                    "decompression bomb: {} bytes from {c} compressed bytes (ratio above {})",
                    self.out, self.limits.max_ratio
                ))));
            }
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct GuardTripped(String);

impl std::fmt::Display for GuardTripped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuardTripped {}

/// Streams a layer blob through `visitor`, checking digests when `expected_blob` /
/// `expected_diff_id` are given.
///
/// Two threads share the work: one reads the blob, hashes it and decompresses it; the other
/// hashes the uncompressed stream, walks the tar and runs the visitor. They are joined by a
/// small bounded channel, so memory stays a few hundred KiB whatever the layer's size.
pub(crate) fn walk_blob<'a>(
    blob: Box<dyn Read + Send + 'a>,
    ctx: &LayerContext,
    expected_blob: Option<&Digest>,
    expected_diff_id: Option<&Digest>,
    limits: Limits,
    visitor: &mut dyn EntryVisitor,
) -> Result<LayerStats, Error> {
    let io_err = |e: io::Error| Error::layer_io(ctx, e);
    let compressed = Arc::new(AtomicU64::new(0));
    let algorithm = expected_blob.map_or(Algorithm::Sha256, Digest::algorithm);
    let hashing = HashingReader::new(
        Counting {
            inner: blob,
            count: Arc::clone(&compressed),
        },
        algorithm,
    );
    let mut raw = BufReader::with_capacity(128 * 1024, hashing);
    let compression = Compression::sniff(raw.fill_buf().map_err(io_err)?);
    let diff_algorithm = expected_diff_id.map_or(Algorithm::Sha256, Digest::algorithm);
    // An uncompressed blob is its own diff ID: hashing it twice would be wasted work.
    let diff_is_blob = compression == Compression::None && diff_algorithm == algorithm;

    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(CHANNEL_CHUNKS);
        // Emptied chunks go back to the producer, so buffers are reused, not zeroed anew.
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let producer = scope.spawn(move || -> io::Result<(Digest, u64)> {
            let decoder = match compression {
                Compression::None => Decoder::None(Box::new(raw)),
                Compression::Gzip => Decoder::Gzip(Box::new(crate::gzip::Gunzip::new(raw))),
                Compression::Zstd => {
                    let mut d = zstd::stream::read::Decoder::with_buffer(raw)?;
                    // Bound the decoder's window (64 MiB): a frame asking for more is refused.
                    d.window_log_max(26)?;
                    Decoder::Zstd(Box::new(d))
                }
            };
            let mut guard = Guard {
                inner: decoder,
                out: 0,
                compressed,
                limits,
            };
            loop {
                let mut chunk = recycle_rx.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
                chunk.resize(CHUNK, 0);
                let mut filled = 0;
                let read = loop {
                    match guard.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                if let Err(e) = read {
                    let msg = e.to_string();
                    let _ = tx.send(Err(e));
                    return Err(io::Error::other(msg));
                }
                if filled == 0 {
                    break;
                }
                chunk.truncate(filled);
                if tx.send(Ok(chunk)).is_err() {
                    // The reader side stopped (it has its own error to report).
                    return Err(io::Error::other("layer walk stopped"));
                }
            }
            drop(tx);
            let (digest, size, _) = guard.inner.into_raw()?.into_inner().finish()?;
            Ok((digest, size))
        });

        let channel = ChannelReader {
            rx,
            recycle: recycle_tx,
            chunk: Vec::new(),
            pos: 0,
        };
        let walked = walk_tar(channel, ctx, limits, diff_algorithm, !diff_is_blob, visitor);
        // Whatever happened, the producer must finish before we return (its receiver is gone
        // if the walk failed, so it stops at its next send).
        let produced = producer.join();
        let (entries, diff_id, uncompressed_size) = walked?;
        let (blob_digest, blob_size) = match produced {
            Ok(r) => r.map_err(io_err)?,
            Err(_) => {
                return Err(Error::Layer {
                    layer: ctx.clone(),
                    reason: "the decompression thread failed".into(),
                });
            }
        };
        let diff_id = diff_id.unwrap_or_else(|| blob_digest.clone());
        if let Some(expected) = expected_blob.filter(|e| **e != blob_digest) {
            return Err(Error::DigestMismatch {
                what: ctx.to_string(),
                expected: expected.clone(),
                actual: blob_digest,
            });
        }
        if let Some(expected) = expected_diff_id.filter(|e| **e != diff_id) {
            return Err(Error::DigestMismatch {
                what: format!("{ctx} (uncompressed content, diff ID)"),
                expected: expected.clone(),
                actual: diff_id,
            });
        }
        Ok(LayerStats {
            blob_digest: Some(blob_digest),
            blob_size,
            diff_id: Some(diff_id),
            uncompressed_size,
            entries,
        })
    })
}

/// Size of the chunks passed between the two threads of a layer walk.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between them.
const CHANNEL_CHUNKS: usize = 4;

/// Reads the chunks the decompression thread sends.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.chunk, chunk);
                    if used.capacity() > 0 {
                        let _ = self.recycle.send(used);
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // sender finished
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Hashes the uncompressed stream unless told not to.
enum MaybeHashing<R> {
    Hashing(Box<HashingReader<R>>),
    Plain(R, u64),
}

impl<R: Read> Read for MaybeHashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeHashing::Hashing(h) => h.read(buf),
            MaybeHashing::Plain(r, count) => {
                let n = r.read(buf)?;
                *count += n as u64;
                Ok(n)
            }
        }
    }
}

/// Walks the uncompressed tar; returns the entry count, the diff ID (when hashed) and the
/// uncompressed size.
fn walk_tar(
    input: ChannelReader,
    ctx: &LayerContext,
    limits: Limits,
    diff_algorithm: Algorithm,
    hash: bool,
    visitor: &mut dyn EntryVisitor,
) -> Result<(u64, Option<Digest>, u64), Error> {
    let io_err = |e: io::Error| Error::layer_io(ctx, e);
    let uncompressed = if hash {
        MaybeHashing::Hashing(Box::new(HashingReader::new(input, diff_algorithm)))
    } else {
        MaybeHashing::Plain(input, 0)
    };
    let mut tar = TarReader::new(uncompressed);

    let mut entries: u64 = 0;
    let mut path_buf = String::new();
    let mut link_buf = String::new();
    while let Some(raw_entry) = tar.next_entry().map_err(io_err)? {
        entries += 1;
        if entries > limits.max_entries {
            return Err(Error::Layer {
                layer: ctx.clone(),
                reason: format!("more than {} entries", limits.max_entries),
            });
        }
        let Some(kind) = classify(&raw_entry, &mut path_buf, &mut link_buf).map_err(|reason| {
            Error::UnsafeEntry {
                layer: ctx.clone(),
                entry: String::from_utf8_lossy(&raw_entry.path).into_owned(),
                reason,
            }
        })?
        else {
            continue;
        };
        let entry = Entry {
            path: &path_buf,
            kind: match kind {
                Kind::Symlink => EntryKind::Symlink(&link_buf),
                Kind::HardLink => EntryKind::HardLink(&link_buf),
                Kind::File => EntryKind::File,
                Kind::Dir => EntryKind::Dir,
                Kind::Whiteout => EntryKind::Whiteout,
                Kind::Opaque => EntryKind::OpaqueDir,
                Kind::Other => EntryKind::Other,
            },
            mode: raw_entry.mode,
            uid: raw_entry.uid,
            gid: raw_entry.gid,
            size: if kind == Kind::File {
                raw_entry.size
            } else {
                0
            },
        };
        if kind == Kind::File {
            let mut data = tar.data();
            visitor.visit(&entry, &mut data).map_err(io_err)?;
        } else {
            visitor.visit(&entry, &mut io::empty()).map_err(io_err)?;
        }
    }

    // Everything after the end-of-archive marker still counts for the digest.
    Ok(match tar.into_inner() {
        MaybeHashing::Hashing(h) => {
            let (diff_id, size, _) = (*h).finish().map_err(io_err)?;
            (entries, Some(diff_id), size)
        }
        MaybeHashing::Plain(mut r, count) => {
            let rest = io::copy(&mut r, &mut io::sink()).map_err(io_err)?;
            (entries, None, count + rest)
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    Whiteout,
    Opaque,
    Other,
}

/// Normalises an entry's path (and link target) into the buffers and says what it is.
/// `Ok(None)` means "nothing to report" (the root directory itself, aufs metadata).
fn classify(
    e: &crate::tar::RawEntry,
    path: &mut String,
    link: &mut String,
) -> Result<Option<Kind>, String> {
    let raw = String::from_utf8_lossy(&e.path);
    if !normalise(&raw, path)? {
        return Ok(None);
    }
    let (dir, base) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path.as_str()),
    };
    if let Some(rest) = base.strip_prefix(".wh.") {
        if rest == ".wh..opq" {
            let dir = dir.to_owned();
            *path = dir;
            return Ok(Some(Kind::Opaque));
        }
        if rest.starts_with(".wh.") || rest.is_empty() {
            // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the filesystem.
            return Ok(None);
        }
        if rest == "." || rest == ".." {
            // `.wh..` / `.wh...` would delete `dir/.` or `dir/..`: not a path of the image.
            return Err(format!("whiteout of {rest:?}"));
        }
        let target = if dir.is_empty() {
            rest.to_owned()
        } else {
            format!("{dir}/{rest}")
        };
        *path = target;
        return Ok(Some(Kind::Whiteout));
    }
    let kind = match e.typeflag {
        b'0' | 0 | b'7' | b'S' => Kind::File,
        b'5' => Kind::Dir,
        b'2' => {
            let target = String::from_utf8_lossy(&e.link);
            check_symlink(path, &target)?;
            link.clear();
            link.push_str(&target);
            Kind::Symlink
        }
        b'1' => {
            let target = String::from_utf8_lossy(&e.link);
            let mut normalised = String::new();
            if !normalise(&target, &mut normalised)? {
                return Err("hard link to the root directory".into());
            }
            *link = normalised;
            Kind::HardLink
        }
        _ => Kind::Other,
    };
    Ok(Some(kind))
}

/// Writes the normalised form of a tar path into `out`; `Ok(false)` for the root itself.
fn normalise(raw: &str, out: &mut String) -> Result<bool, String> {
    out.clear();
    if raw.starts_with('/') {
        return Err("absolute path in a layer".into());
    }
    if raw.contains('\0') {
        return Err("NUL byte in path".into());
    }
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path climbs out of the image root with '..'".into()),
            p => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(p);
            }
        }
    }
    Ok(!out.is_empty())
}

/// The longest symlink target Linux can store (`PATH_MAX` less the NUL). Longer ones exist in
/// no real filesystem; resolving them is what costs (a PAX record may carry 1 MiB of `x/x/…`).
const MAX_SYMLINK_TARGET: usize = 4095;

/// A relative symlink target must stay inside the root when followed from the link's
/// directory. Absolute targets are interpreted relative to the image root, so they are fine.
fn check_symlink(path: &str, target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("symlink with an empty target".into());
    }
    if target.len() > MAX_SYMLINK_TARGET {
        return Err(format!(
            "symlink target of {} bytes, longer than the {MAX_SYMLINK_TARGET} bytes Linux allows",
            target.len()
        ));
    }
    if target.contains('\0') {
        return Err("NUL byte in symlink target".into());
    }
    if target.starts_with('/') {
        return Ok(());
    }
    let mut depth: i64 = path.matches('/').count() as i64; // components of the parent dir
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "symlink target {target:?} points outside the image root"
                    ));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        let mut s = String::new();
        assert!(normalise("./usr//lib/./x", &mut s).unwrap());
        assert_eq!(s, "usr/lib/x");
        assert!(!normalise("./", &mut s).unwrap());
        assert!(normalise("../etc/passwd", &mut s).is_err());
        assert!(normalise("a/../../b", &mut s).is_err());
        assert!(normalise("/etc/passwd", &mut s).is_err());
    }

    #[test]
    fn whiteouts_of_dot_and_dot_dot_are_refused() {
        let entry = |path: &[u8]| crate::tar::RawEntry {
            path: path.to_vec(),
            link: Vec::new(),
            typeflag: b'0',
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
        };
        let (mut p, mut l) = (String::new(), String::new());
        for bad in [&b"a/.wh.."[..], b".wh...", b"a/b/.wh..."] {
            assert!(
                classify(&entry(bad), &mut p, &mut l).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            classify(&entry(b"a/.wh.b"), &mut p, &mut l),
            Ok(Some(Kind::Whiteout))
        );
        assert_eq!(p, "a/b");
        assert_eq!(
            classify(&entry(b".wh..wh..opq"), &mut p, &mut l),
            Ok(Some(Kind::Opaque))
        );
        assert_eq!(p, "");
    }

    #[test]
    fn symlink_escape_rules() {
        assert!(check_symlink("etc/os-release", "../usr/lib/os-release").is_ok());
        assert!(check_symlink("etc/os-release", "/usr/lib/os-release").is_ok());
        assert!(check_symlink("etc/x", "../../etc/shadow").is_err());
        assert!(check_symlink("x", "..").is_err());
        assert!(check_symlink("x", &"a/".repeat(2047)).is_ok());
        assert!(check_symlink("x", &"a/".repeat(2048)).is_err());
    }
}
