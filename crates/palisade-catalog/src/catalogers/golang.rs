//! Go binaries: the build information the Go linker embeds (Go 1.18+ inline format), found by
//! scanning the executable as it streams past, so binaries of any size cost no memory.

use crate::catalogers::{Found, Parsed};
use crate::package::Ecosystem;

/// `\xff Go buildinf:`, at a 16-byte aligned offset of the `.go.buildinfo` section.
const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The most bytes of build information kept.
const MAX_CAPTURE: usize = 4 << 20;

/// Looks for Go build information in a stream of file content.
pub(crate) struct GoScanner {
    /// Bytes of the previous chunk that may hold the start of the magic.
    tail: Vec<u8>,
    /// File offset of `tail[0]`.
    tail_offset: u64,
    capture: Option<Vec<u8>>,
    state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Searching,
    Capturing,
    Done,
}

/// What the scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanResult {
    /// Not a Go binary (or no build information).
    None,
    /// Build information in the old pointer format (Go < 1.18), not read.
    OldFormat,
    /// Go version and module information.
    Found { go_version: String, modinfo: String },
}

impl GoScanner {
    pub(crate) fn new() -> Self {
        GoScanner {
            tail: Vec::new(),
            tail_offset: 0,
            capture: None,
            state: State::Searching,
        }
    }

    /// Whether more data could change the result.
    pub(crate) fn wants_more(&self) -> bool {
        self.state != State::Done
    }

    /// Feeds the next chunk of the file.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        match self.state {
            State::Done => {}
            State::Capturing => {
                if let Some(c) = &mut self.capture {
                    let room = MAX_CAPTURE.saturating_sub(c.len());
                    c.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if parse_inline(c) != Parse::NeedMore || c.len() >= MAX_CAPTURE {
                        self.state = State::Done;
                    }
                }
            }
            State::Searching => {
                let mut window = std::mem::take(&mut self.tail);
                window.extend_from_slice(chunk);
                let base = self.tail_offset;
                let found = memchr::memmem::find_iter(&window, MAGIC).find(|&i| (base + i as u64) % 16 == 0);
                if let Some(i) = found {
                    let mut c = Vec::with_capacity(64 * 1024);
                    let end = window.len().min(i + MAX_CAPTURE);
                    c.extend_from_slice(&window[i..end]);
                    self.state = if parse_inline(&c) == Parse::NeedMore {
                        State::Capturing
                    } else {
                        State::Done
                    };
                    self.capture = Some(c);
                } else {
                    let keep = window.len().min(MAGIC.len() - 1);
                    self.tail_offset = base + (window.len() - keep) as u64;
                    self.tail = window[window.len() - keep..].to_vec();
                }
            }
        }
    }

    /// The result after the last chunk.
    pub(crate) fn finish(self) -> ScanResult {
        match self.capture {
            None => ScanResult::None,
            Some(c) => match parse_inline(&c) {
                Parse::Found { go_version, modinfo } => ScanResult::Found { go_version, modinfo },
                Parse::Pointer => ScanResult::OldFormat,
                Parse::NeedMore | Parse::Invalid => ScanResult::None,
            },
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Parse {
    NeedMore,
    Invalid,
    Pointer,
    Found { go_version: String, modinfo: String },
}

fn uvarint(b: &[u8]) -> Option<Option<(u64, usize)>> {
    let mut x: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(Some((x, i + 1)));
        }
    }
    if b.len() >= 10 { Some(None) } else { None }
}

/// Reads a varint-prefixed string at `pos`.
fn read_string(c: &[u8], pos: usize) -> Result<(String, usize), Parse> {
    let (len, n) = match uvarint(c.get(pos..).unwrap_or_default()) {
        None => return Err(Parse::NeedMore),
        Some(None) => return Err(Parse::Invalid),
        Some(Some(v)) => v,
    };
    let len = usize::try_from(len).map_err(|_| Parse::Invalid)?;
    if len > MAX_CAPTURE {
        return Err(Parse::Invalid);
    }
    let start = pos + n;
    let end = start + len;
    if c.len() < end {
        return Err(if end > MAX_CAPTURE { Parse::Invalid } else { Parse::NeedMore });
    }
    Ok((String::from_utf8_lossy(&c[start..end]).into_owned(), end))
}

fn parse_inline(c: &[u8]) -> Parse {
    if c.len() < 32 {
        return Parse::NeedMore;
    }
    let flags = c[15];
    if flags & 2 == 0 {
        return Parse::Pointer;
    }
    let (go_version, pos) = match read_string(c, 32) {
        Ok(v) => v,
        Err(p) => return p,
    };
    let (modinfo, _) = match read_string(c, pos) {
        Ok(v) => v,
        Err(p) => return p,
    };
    if !go_version.starts_with("go") && !go_version.starts_with("devel") {
        return Parse::Invalid;
    }
    Parse::Found {
        go_version,
        modinfo: strip_sentinels(&modinfo),
    }
}

/// Module information is wrapped in 16-byte sentinels when the linker embeds it.
fn strip_sentinels(m: &str) -> String {
    let b = m.as_bytes();
    if b.len() >= 33 && b[b.len() - 17] == b'\n' {
        String::from_utf8_lossy(&b[16..b.len() - 16]).into_owned()
    } else {
        m.to_owned()
    }
}

/// Turns build information into packages: the main module, every dependency (with
/// replacements applied) and the standard library.
pub(crate) fn packages(go_version: &str, modinfo: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let push = |name: &str, version: &str, parsed: &mut Parsed| {
        if !name.is_empty() && !version.is_empty() && !name.contains(char::is_whitespace) {
            parsed.packages.push(Found {
                ecosystem: Ecosystem::GoModule,
                name: name.to_owned(),
                version: version.to_owned(),
                ..Found::default()
            });
        }
    };
    let mut pending: Option<(String, String)> = None;
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", path, version, ..] => push(path, version, &mut parsed),
            ["dep", path, version, ..] => {
                if let Some((p, v)) = pending.take() {
                    push(&p, &v, &mut parsed);
                }
                pending = Some(((*path).to_owned(), (*version).to_owned()));
            }
            ["=>", path, version, ..] => {
                // A replacement by another module takes its place; a local directory keeps
                // the original path with the replacement's version, if any.
                if let Some((orig, orig_version)) = pending.take() {
                    if path.starts_with('.') || path.starts_with('/') {
                        let v = if version.is_empty() { orig_version } else { (*version).to_owned() };
                        push(&orig, &v, &mut parsed);
                    } else {
                        push(path, version, &mut parsed);
                    }
                }
            }
            ["=>", ..] => {
                if let Some((orig, orig_version)) = pending.take() {
                    push(&orig, &orig_version, &mut parsed);
                }
            }
            _ => {}
        }
    }
    if let Some((p, v)) = pending.take() {
        push(&p, &v, &mut parsed);
    }
    if let Some(v) = go_version.strip_prefix("go") {
        let v = v.split([' ', '+', '-']).next().unwrap_or(v);
        if !v.is_empty() {
            push("stdlib", &format!("go{v}"), &mut parsed);
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = vec![0u8; 48]; // something before, keeps 16-byte alignment
        b.extend_from_slice(MAGIC);
        b.push(8);
        b.push(2);
        b.extend_from_slice(&[0u8; 16]);
        for s in [version.as_bytes(), modinfo.as_bytes()] {
            let mut n = s.len();
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    b.push(byte);
                    break;
                }
                b.push(byte | 0x80);
            }
            b.extend_from_slice(s);
        }
        b.extend_from_slice(&[0u8; 100]);
        b
    }

    #[test]
    fn finds_build_info_across_chunk_boundaries() {
        let sentinel_start = "0w\u{af}\u{c}\u{92}t\u{8}\u{2}A\u{e1}\u{c1}\u{7}\u{e6}\u{d6}\u{18}\u{e6}";
        let _ = sentinel_start;
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.7.0\th1:abc=\ndep\tgithub.com/a/b\tv1.0.0\th1:x=\n=>\tgithub.com/c/b\tv1.1.0\th1:y=\nbuild\t-compiler=gc\n";
        let data = blob("go1.19.8", modinfo);
        for chunk_size in [1, 7, 16, 33, 4096] {
            let mut s = GoScanner::new();
            for c in data.chunks(chunk_size) {
                s.feed(c);
            }
            let ScanResult::Found { go_version, modinfo: m } = s.finish() else {
                panic!("chunk size {chunk_size}: not found");
            };
            assert_eq!(go_version, "go1.19.8");
            let p = packages(&go_version, &m);
            let got: Vec<(String, String)> = p.packages.iter().map(|f| (f.name.clone(), f.version.clone())).collect();
            assert_eq!(
                got,
                vec![
                    ("example.com/app".into(), "(devel)".into()),
                    ("golang.org/x/net".into(), "v0.7.0".into()),
                    ("github.com/c/b".into(), "v1.1.0".into()),
                    ("stdlib".into(), "go1.19.8".into()),
                ]
            );
        }
    }

    #[test]
    fn garbage_and_truncation_are_harmless() {
        let mut s = GoScanner::new();
        let mut data = vec![0u8; 32];
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&[8, 2, 0xff, 0xff, 0xff]);
        s.feed(&data);
        assert_eq!(s.finish(), ScanResult::None);
        let mut s = GoScanner::new();
        s.feed(&[0xffu8; 10_000]);
        assert_eq!(s.finish(), ScanResult::None);
    }
}
