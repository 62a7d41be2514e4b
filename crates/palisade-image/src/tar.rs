//! A streaming tar reader for untrusted archives.
//!
//! Why not the `tar` crate: it reads GNU long-name and PAX records into memory without a bound,
//! so a hostile layer can make it allocate as much as it claims. This reader keeps every piece of
//! metadata under [`MAX_META_BYTES`], never allocates from a size field, verifies header
//! checksums, and leaves entry data to the caller as a bounded stream.
//!
//! It understands ustar, GNU (`L`/`K` long names, old sparse headers) and PAX (`x` local
//! records for `path`, `linkpath`, `size`, `uid`, `gid`; `g` global records are skipped).

use std::io::{self, Read};

/// The most metadata (a PAX record set or a GNU long name) one entry may carry.
pub(crate) const MAX_META_BYTES: u64 = 1 << 20;

const BLOCK: usize = 512;

/// The header fields of one tar entry, after long names and PAX records are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub(crate) path: Vec<u8>,
    pub(crate) link: Vec<u8>,
    pub(crate) typeflag: u8,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) size: u64,
}

/// Reads entries one after the other; the data of the current entry can be read with
/// [`TarReader::data`] until [`TarReader::next_entry`] is called again.
pub(crate) struct TarReader<R> {
    inner: R,
    /// Data bytes of the current entry not yet consumed.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    finished: bool,
    entries: u64,
    /// Bytes consumed from `inner` so far.
    pos: u64,
}

/// A malformed archive: the message says what was wrong and at which entry.
#[derive(Debug)]
pub(crate) struct TarFormatError(pub(crate) String);

impl std::fmt::Display for TarFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TarFormatError {}

fn format_err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TarFormatError(msg))
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        TarReader {
            inner,
            remaining: 0,
            padding: 0,
            finished: false,
            entries: 0,
            pos: 0,
        }
    }

    /// Gives back the underlying reader (positioned after the end-of-archive marker, if read).
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// The offset in the stream where the current entry's data starts (right after
    /// [`TarReader::next_entry`] returned it).
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// Reads the data of the current entry.
    pub(crate) fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tar: self }
    }

    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        while n > 0 {
            let want = usize::try_from(n.min(buf.len() as u64)).unwrap_or(buf.len());
            let got = self.inner.read(&mut buf[..want])?;
            self.pos += got as u64;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "archive ends inside entry {} ({n} bytes of data missing)",
                        self.entries
                    ),
                ));
            }
            n -= got as u64;
        }
        Ok(())
    }

    /// Reads a whole block; `Ok(false)` on a clean end of stream before the block.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < BLOCK {
            let n = self.inner.read(&mut block[filled..])?;
            self.pos += n as u64;
            if n == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "archive ends inside the header of entry {}",
                        self.entries + 1
                    ),
                ));
            }
            filled += n;
        }
        Ok(true)
    }

    fn read_meta(&mut self, size: u64, what: &str) -> io::Result<Vec<u8>> {
        if size > MAX_META_BYTES {
            return Err(format_err(format!(
                "entry {}: {what} of {size} bytes exceeds the limit of {MAX_META_BYTES}",
                self.entries + 1
            )));
        }
        let len = usize::try_from(size).map_err(|_| format_err("size overflow".into()))?;
        let mut v = vec![0u8; len];
        self.inner.read_exact(&mut v).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "archive ends inside the {what} of entry {}",
                    self.entries + 1
                ),
            )
        })?;
        self.pos += size;
        self.skip(padding_for(size))?;
        Ok(v)
    }

    /// Advances to the next entry, skipping whatever is left of the current one.
    pub(crate) fn next_entry(&mut self) -> io::Result<Option<RawEntry>> {
        if self.finished {
            return Ok(None);
        }
        self.skip(self.remaining + self.padding)?;
        self.remaining = 0;
        self.padding = 0;

        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax = Pax::default();
        let mut block = [0u8; BLOCK];
        loop {
            if !self.read_block(&mut block)? {
                // A stream that stops at a block boundary without the two zero blocks: accept it,
                // as GNU tar does with a warning.
                self.finished = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                self.finished = true;
                return Ok(None);
            }
            let entry_no = self.entries + 1;
            verify_checksum(&block).map_err(|m| format_err(format!("entry {entry_no}: {m}")))?;
            let typeflag = block[156];
            let size = parse_number(&block[124..136])
                .map_err(|m| format_err(format!("entry {entry_no}: size field: {m}")))?;
            match typeflag {
                b'x' | b'X' => {
                    let data = self.read_meta(size, "PAX header")?;
                    pax.apply(&data)
                        .map_err(|m| format_err(format!("entry {entry_no}: PAX header: {m}")))?;
                }
                b'g' => {
                    // Global PAX records: we take nothing from them, but they must stay bounded.
                    self.read_meta(size, "global PAX header")?;
                }
                b'L' => long_name = Some(trim_nul(&self.read_meta(size, "GNU long name")?)),
                b'K' => long_link = Some(trim_nul(&self.read_meta(size, "GNU long link")?)),
                _ => {
                    self.entries += 1;
                    let is_ustar = &block[257..263] == b"ustar\0";
                    let path = if let Some(p) = pax.path.take() {
                        p
                    } else if let Some(p) = long_name.take() {
                        p
                    } else {
                        let name = trim_nul(&block[0..100]);
                        let prefix = if is_ustar {
                            trim_nul(&block[345..500])
                        } else {
                            Vec::new()
                        };
                        if prefix.is_empty() {
                            name
                        } else {
                            let mut p = prefix;
                            p.push(b'/');
                            p.extend_from_slice(&name);
                            p
                        }
                    };
                    let link = pax
                        .link
                        .take()
                        .or(long_link.take())
                        .unwrap_or_else(|| trim_nul(&block[157..257]));
                    let mode = parse_number(&block[100..108])
                        .map_err(|m| format_err(format!("entry {entry_no}: mode field: {m}")))?;
                    let uid = match pax.uid.take() {
                        Some(u) => u,
                        None => parse_number(&block[108..116]).unwrap_or(0),
                    };
                    let gid = match pax.gid.take() {
                        Some(g) => g,
                        None => parse_number(&block[116..124]).unwrap_or(0),
                    };
                    let size = pax.size.take().unwrap_or(size);
                    if typeflag == b'S' && block[482] != 0 {
                        // Old GNU sparse: extension headers follow until one says "no more".
                        loop {
                            if !self.read_block(&mut block)? {
                                return Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    format!(
                                        "archive ends inside sparse headers of entry {entry_no}"
                                    ),
                                ));
                            }
                            if block[504] == 0 {
                                break;
                            }
                        }
                    }
                    // Links and directories carry no data whatever their size field says.
                    let data_size = match typeflag {
                        b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => 0,
                        _ => size,
                    };
                    self.remaining = data_size;
                    self.padding = padding_for(data_size);
                    return Ok(Some(RawEntry {
                        path,
                        link,
                        typeflag,
                        mode: u32::try_from(mode & 0o7777).unwrap_or(0),
                        uid,
                        gid,
                        size: data_size,
                    }));
                }
            }
        }
    }
}

/// The data of the current entry; reading past its end returns EOF.
pub(crate) struct EntryData<'a, R> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tar.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.tar.remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = self.tar.inner.read(&mut buf[..want])?;
        self.tar.pos += n as u64;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "archive ends inside entry {} ({} bytes of data missing)",
                    self.tar.entries, self.tar.remaining
                ),
            ));
        }
        self.tar.remaining -= n as u64;
        Ok(n)
    }
}

fn padding_for(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn trim_nul(b: &[u8]) -> Vec<u8> {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    b[..end].to_vec()
}

fn verify_checksum(block: &[u8; BLOCK]) -> Result<(), String> {
    let stored = parse_number(&block[148..156]).map_err(|m| format!("checksum field: {m}"))?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b.cast_signed());
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(format!(
            "header checksum mismatch (stored {stored}, computed {unsigned}): not a tar archive, or corrupt"
        ))
    }
}

/// Parses a numeric header field: octal text (space or NUL padded) or GNU base-256.
fn parse_number(field: &[u8]) -> Result<u64, String> {
    if let Some(&first) = field.first().filter(|&&f| f & 0x80 != 0) {
        if first == 0xff {
            return Err("negative base-256 number".into());
        }
        let mut v: u64 = u64::from(first & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or("base-256 number overflows")?;
        }
        return Ok(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let mut v: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(format!("invalid octal digit {:?}", char::from(b)));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("octal number overflows")?;
    }
    Ok(v)
}

#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

impl Pax {
    /// Applies records of the form `LEN KEY=VALUE\n`.
    fn apply(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if data.iter().all(|&b| b == 0) {
                break;
            }
            let space = memchr::memchr(b' ', data).ok_or("record without length")?;
            let len: usize = std::str::from_utf8(&data[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad record length")?;
            if len <= space + 1 || len > data.len() {
                return Err("record length out of range".into());
            }
            let record = &data[space + 1..len];
            let record = record
                .strip_suffix(b"\n")
                .ok_or("record not ended by newline")?;
            let eq = memchr::memchr(b'=', record).ok_or("record without '='")?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            let number = || -> Result<u64, String> {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("{} is not a number", String::from_utf8_lossy(key)))
            };
            match key {
                b"path" => self.path = Some(value.to_vec()),
                b"linkpath" => self.link = Some(value.to_vec()),
                b"size" => self.size = Some(number()?),
                b"uid" => self.uid = Some(number()?),
                b"gid" => self.gid = Some(number()?),
                _ => {}
            }
            data = &data[len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(::tar::EntryType::Regular);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn read_all(bytes: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut t = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(e) = t.next_entry()? {
            let mut d = Vec::new();
            t.data().read_to_end(&mut d)?;
            out.push((String::from_utf8(e.path).unwrap(), d));
        }
        Ok(out)
    }

    #[test]
    fn reads_plain_and_long_names() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let bytes = build(&[("a.txt", b"hello"), (&long, b"x")]);
        let got = read_all(&bytes).unwrap();
        assert_eq!(got[0], ("a.txt".into(), b"hello".to_vec()));
        assert_eq!(got[1], (long, b"x".to_vec()));
    }

    #[test]
    fn skips_unread_data() {
        let bytes = build(&[("a", &[7u8; 1000]), ("b", b"bb")]);
        let mut t = TarReader::new(&bytes[..]);
        assert_eq!(t.next_entry().unwrap().unwrap().path, b"a");
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!(e.path, b"b");
        let mut d = Vec::new();
        t.data().read_to_end(&mut d).unwrap();
        assert_eq!(d, b"bb");
        assert!(t.next_entry().unwrap().is_none());
    }

    #[test]
    fn truncated_data_is_an_error() {
        let bytes = build(&[("a", &[7u8; 1000])]);
        let err = read_all(&bytes[..700]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn corrupt_header_is_an_error() {
        let mut bytes = build(&[("a", b"x")]);
        bytes[10] ^= 0x55;
        let err = read_all(&bytes).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn oversized_long_name_is_refused_without_allocating() {
        // A GNU long-name header that claims 10 GB of name.
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::GNULongName);
        h.set_size(10 << 30);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        let err = read_all(h.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number(b"0000644\0").unwrap(), 0o644);
        assert_eq!(parse_number(b"   12 \0").unwrap(), 0o12);
        assert_eq!(parse_number(&[0x80, 0, 0, 1, 0]).unwrap(), 256);
        assert!(parse_number(b"0009").is_err());
    }
}
