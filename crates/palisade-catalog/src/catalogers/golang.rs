//! Go binaries: the build information the Go linker embeds (Go 1.18+ inline format), found by
//! scanning the executable as it streams past, so binaries of any size cost no memory.

use crate::catalogers::{Found, Parsed};
use crate::package::Ecosystem;

/// `\xff Go buildinf:`, at a 16-byte aligned offset of the `.go.buildinfo` section.
const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The most bytes of build information kept.
pub(crate) const MAX_CAPTURE: usize = 4 << 20;

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
                let found = memchr::memmem::find_iter(&window, MAGIC)
                    .find(|&i| (base + i as u64).is_multiple_of(16));
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
                Parse::Found {
                    go_version,
                    modinfo,
                } => ScanResult::Found {
                    go_version,
                    modinfo,
                },
                Parse::Pointer => ScanResult::OldFormat,
                Parse::NeedMore | Parse::Invalid => ScanResult::None,
            },
        }
    }
}

/// Scans a whole file held in memory (no copying).
pub(crate) fn scan_whole(data: &[u8]) -> ScanResult {
    let Some(i) = memchr::memmem::find_iter(data, MAGIC).find(|i| i.is_multiple_of(16)) else {
        return ScanResult::None;
    };
    let end = data.len().min(i + MAX_CAPTURE);
    match parse_inline(&data[i..end]) {
        Parse::Found {
            go_version,
            modinfo,
        } => ScanResult::Found {
            go_version,
            modinfo,
        },
        Parse::Pointer => ScanResult::OldFormat,
        Parse::NeedMore | Parse::Invalid => ScanResult::None,
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

/// Reads a varint-prefixed string at `pos`: its bytes and where it ends.
fn read_string(c: &[u8], pos: usize) -> Result<(&[u8], usize), Parse> {
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
        return Err(if end > MAX_CAPTURE {
            Parse::Invalid
        } else {
            Parse::NeedMore
        });
    }
    Ok((&c[start..end], end))
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
    let go_version = String::from_utf8_lossy(go_version).into_owned();
    if !go_version.starts_with("go") && !go_version.starts_with("devel") {
        return Parse::Invalid;
    }
    Parse::Found {
        go_version,
        modinfo: strip_sentinels(modinfo),
    }
}

/// Module information is wrapped in 16-byte sentinels when the linker embeds it. They are cut
/// from the bytes, before any decoding: they are not UTF-8, and a lossy decoding first would
/// change their length and glue them to the first (`path`) and last lines.
fn strip_sentinels(b: &[u8]) -> String {
    if b.len() >= 33 && b[b.len() - 17] == b'\n' {
        String::from_utf8_lossy(&b[16..b.len() - 16]).into_owned()
    } else {
        String::from_utf8_lossy(b).into_owned()
    }
}

/// Turns build information into packages: the main module, every dependency (with
/// replacements applied) and the standard library.
///
/// A binary built without module support (GOPATH mode, as Debian builds its Go packages) has a
/// `path` line and no `mod` line. Its main package is then reported under the path as given
/// (`github.com/docker/distribution/cmd/registry`): without module information the module root
/// is unknown, and cutting the path at a guessed root would name a module the binary never
/// declared. Its version comes from a `-X <pkg>.version=<v>` link flag recorded in the build
/// settings ([`ldflags_version`]); otherwise it is `(devel)`, as Go itself marks a main module
/// without a version, which matching never treats as a version.
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
    let mut main_path: Option<&str> = None;
    let mut has_mod = false;
    let mut ldflags: Option<&str> = None;
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["path", path, ..] => main_path = Some(path),
            ["build", setting, ..] => {
                if let Some(v) = setting.strip_prefix("-ldflags=") {
                    ldflags = Some(v);
                }
            }
            ["mod", path, version, ..] => {
                has_mod = true;
                push(path, version, &mut parsed);
            }
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
                        let v = if version.is_empty() {
                            orig_version
                        } else {
                            (*version).to_owned()
                        };
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
    if let Some(path) = main_path.filter(|p| !has_mod && *p != "command-line-arguments") {
        let version = ldflags
            .and_then(|f| ldflags_version(f, path))
            .unwrap_or_else(|| DEVEL.to_owned());
        // The main package goes first, where a module build's `mod` line would have put it.
        let before = parsed.packages.len();
        push(path, &version, &mut parsed);
        if parsed.packages.len() > before {
            let main = parsed.packages.remove(before);
            parsed.packages.insert(0, main);
        }
    }
    if let Some(v) = go_version.strip_prefix("go") {
        let v = v.split([' ', '+', '-']).next().unwrap_or(v);
        if !v.is_empty() {
            push("stdlib", &format!("go{v}"), &mut parsed);
        }
    }
    parsed
}

/// The version Go gives a main module it has no version for.
const DEVEL: &str = "(devel)";

/// The version a binary was linked with: the value of `-X <pkg>.<var>=<value>` in the
/// `-ldflags` build setting (as `go version -m` prints it, Go-quoted when it holds spaces or
/// quotes), where `<var>` is `version` in any case and `<pkg>` is `main` or a package of the
/// main package's project ([`same_project`]: `github.com/docker/distribution/version` for
/// `github.com/docker/distribution/cmd/registry`).
/// A variable of another project's package (a vendored library's version) is not the binary's
/// version, so it is not taken. Go records `-ldflags` only for builds without `-trimpath`.
pub(crate) fn ldflags_version(ldflags: &str, main_path: &str) -> Option<String> {
    let flags = unquote_go(ldflags);
    let words = split_flags(&flags);
    let mut found = None;
    let mut words = words.iter();
    while let Some(w) = words.next() {
        let assignment = match w.as_str() {
            "-X" | "--X" => words.next().map(String::as_str),
            other => other
                .strip_prefix("-X=")
                .or_else(|| other.strip_prefix("--X=")),
        };
        let Some((var, value)) = assignment.and_then(|a| a.split_once('=')) else {
            continue;
        };
        let Some((pkg, name)) = var.rsplit_once('.') else {
            continue;
        };
        let ours = pkg == "main" || same_project(pkg, main_path);
        if ours
            && name.eq_ignore_ascii_case("version")
            && !value.is_empty()
            && !value.contains(char::is_whitespace)
        {
            // The linker applies the last assignment of a variable; keep the last match.
            found = Some(value.to_owned());
        }
    }
    found
}

/// Whether package `pkg` belongs to the project of the main package `main_path`: it is below
/// the main package, or below the directory that holds the main package's `cmd` directory
/// (`github.com/docker/distribution` for `github.com/docker/distribution/cmd/registry`). The
/// project root must have at least two path elements.
fn same_project(pkg: &str, main_path: &str) -> bool {
    let elements: Vec<&str> = main_path.split('/').collect();
    let root_len = elements
        .iter()
        .position(|e| *e == "cmd")
        .unwrap_or(elements.len());
    if root_len < 2 || elements[..root_len].iter().any(|e| e.is_empty()) {
        return false;
    }
    let root = elements[..root_len].join("/");
    pkg == root
        || pkg == main_path
        || pkg
            .strip_prefix(root.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Undoes the Go quoting `go version -m` applies to a build setting value that holds spaces
/// or quotes (`"-s -w -X \"a=b c\""`); an unquoted value is returned as it is.
fn unquote_go(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// Splits flags the way the go command does (`cmd/internal/quoted`): on white space, with
/// single- or double-quoted parts kept whole and their quotes removed.
fn split_flags(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's `/usr/bin/docker-registry` (docker-registry 2.8.2+ds1-1+b4, go1.19.8): a GOPATH
    /// build with `-trimpath`, so a `path` line, no `mod` line and no `-ldflags` setting.
    const DEBIAN_REGISTRY: &str = "path\tgithub.com/docker/distribution/cmd/registry\nbuild\t-compiler=gc\nbuild\t-trimpath=true\nbuild\tCGO_ENABLED=1\nbuild\tGOARCH=amd64\nbuild\tGOOS=linux\nbuild\tGOAMD64=v1\n";

    /// A GOPATH build by go1.19.8 of `example.org/tool/cmd/tool` with
    /// `-ldflags "-s -w -X example.org/tool/version.Version=v1.4.2+ds1 -X 'main.commit=abc def'"`.
    const GOPATH_LDFLAGS: &str = "path\texample.org/tool/cmd/tool\nbuild\t-compiler=gc\nbuild\t-ldflags=\"-s -w -X example.org/tool/version.Version=v1.4.2+ds1 -X 'main.commit=abc def'\"\nbuild\tCGO_ENABLED=1\nbuild\tCGO_CFLAGS=\nbuild\tCGO_CPPFLAGS=\nbuild\tCGO_CXXFLAGS=\nbuild\tCGO_LDFLAGS=\nbuild\tGOARCH=amd64\nbuild\tGOOS=linux\nbuild\tGOAMD64=v1\n";

    fn names_versions(p: &Parsed) -> Vec<(String, String)> {
        p.packages
            .iter()
            .map(|f| (f.name.clone(), f.version.clone()))
            .collect()
    }

    #[test]
    fn main_package_of_a_build_without_modules() {
        // The real build information, with the linker's sentinels, as the scanner sees it.
        let mut embedded = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        embedded.extend_from_slice(DEBIAN_REGISTRY.as_bytes());
        embedded.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        let modinfo = strip_sentinels(&embedded);
        assert_eq!(modinfo, DEBIAN_REGISTRY);
        assert_eq!(
            names_versions(&packages("go1.19.8", &modinfo)),
            vec![
                (
                    "github.com/docker/distribution/cmd/registry".into(),
                    "(devel)".into()
                ),
                ("stdlib".into(), "go1.19.8".into()),
            ]
        );
        assert_eq!(
            names_versions(&packages("go1.19.8", GOPATH_LDFLAGS)),
            vec![
                ("example.org/tool/cmd/tool".into(), "v1.4.2+ds1".into()),
                ("stdlib".into(), "go1.19.8".into()),
            ]
        );
        // `go run x.go` names its package `command-line-arguments`: no package to report.
        assert_eq!(
            names_versions(&packages("go1.22.1", "path\tcommand-line-arguments\n")),
            vec![("stdlib".into(), "go1.22.1".into())]
        );
    }

    #[test]
    fn version_link_flags() {
        let main = "github.com/docker/distribution/cmd/registry";
        let v = |flags: &str| ldflags_version(flags, main);
        assert_eq!(
            v("\"-X github.com/docker/distribution/version.Version=v2.8.2 -s\""),
            Some("v2.8.2".into())
        );
        assert_eq!(v("-X=main.version=1.0"), Some("1.0".into()));
        assert_eq!(
            v("\"-X 'main.version=1.0' -X main.version=1.1\""),
            Some("1.1".into())
        );
        // Not the binary's version: another project's package, another variable, a value with
        // a space, nothing assigned.
        assert_eq!(
            v("\"-X github.com/docker/docker/version.Version=20.10\""),
            None
        );
        assert_eq!(v("\"-X main.commit=abc -X main.buildVersion=2\""), None);
        assert_eq!(v("\"-X 'main.version=1 2'\""), None);
        assert_eq!(v("\"-X main.version= -X\""), None);
        assert_eq!(v("-s"), None);
        assert_eq!(
            ldflags_version(
                "-X=example.org/tool/internal/version.Version=2",
                "example.org/tool"
            ),
            Some("2".into())
        );
        assert_eq!(
            ldflags_version(
                "-X=example.org/toolbox/version.Version=2",
                "example.org/tool"
            ),
            None
        );
        assert_eq!(ldflags_version("-X=x/version.Version=2", "x/cmd/y"), None);
    }

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
        let sentinel_start =
            "0w\u{af}\u{c}\u{92}t\u{8}\u{2}A\u{e1}\u{c1}\u{7}\u{e6}\u{d6}\u{18}\u{e6}";
        let _ = sentinel_start;
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.7.0\th1:abc=\ndep\tgithub.com/a/b\tv1.0.0\th1:x=\n=>\tgithub.com/c/b\tv1.1.0\th1:y=\nbuild\t-compiler=gc\n";
        let data = blob("go1.19.8", modinfo);
        for chunk_size in [1, 7, 16, 33, 4096] {
            let mut s = GoScanner::new();
            for c in data.chunks(chunk_size) {
                s.feed(c);
            }
            let ScanResult::Found {
                go_version,
                modinfo: m,
            } = s.finish()
            else {
                panic!("chunk size {chunk_size}: not found");
            };
            assert_eq!(go_version, "go1.19.8");
            let p = packages(&go_version, &m);
            let got: Vec<(String, String)> = p
                .packages
                .iter()
                .map(|f| (f.name.clone(), f.version.clone()))
                .collect();
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

/// Reads build information in the pointer format of Go 1.13–1.17 from a whole ELF file:
/// the header holds addresses of two Go string headers, resolved through the program headers.
pub(crate) fn parse_pointer_format(elf: &[u8]) -> Option<(String, String)> {
    let magic_at = memchr::memmem::find_iter(elf, MAGIC).find(|i| i.is_multiple_of(16))?;
    let header = elf.get(magic_at..magic_at + 32)?;
    let ptr_size = usize::from(header[14]);
    let big_endian = header[15] & 1 != 0;
    if ptr_size != 4 && ptr_size != 8 {
        return None;
    }
    let layout = ElfLayout::parse(elf)?;
    let word = |bytes: &[u8]| -> Option<u64> {
        let b = bytes.get(..ptr_size)?;
        let mut v: u64 = 0;
        if big_endian {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        } else {
            for &x in b.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        Some(v)
    };
    let read_go_string = |addr: u64| -> Option<&[u8]> {
        let hdr = layout.slice(elf, addr, 2 * ptr_size)?;
        let data = word(hdr)?;
        let len = usize::try_from(word(&hdr[ptr_size..])?).ok()?;
        if len > MAX_CAPTURE {
            return None;
        }
        layout.slice(elf, data, len)
    };
    let version = String::from_utf8_lossy(read_go_string(word(&header[16..])?)?).into_owned();
    let modinfo = read_go_string(word(&header[16 + ptr_size..])?)?;
    version
        .starts_with("go")
        .then(|| (version, strip_sentinels(modinfo)))
}

/// The loadable segments of an ELF file: virtual address ranges and where they are in the file.
struct ElfLayout {
    segments: Vec<(u64, u64, u64)>, // vaddr, file offset, file size
}

impl ElfLayout {
    fn parse(elf: &[u8]) -> Option<ElfLayout> {
        if elf.get(..4)? != b"\x7fELF" {
            return None;
        }
        let is64 = match elf.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big = match elf.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let rd = |off: usize, n: usize| -> Option<u64> {
            let b = elf.get(off..off + n)?;
            let mut v: u64 = 0;
            if big {
                for &x in b {
                    v = (v << 8) | u64::from(x);
                }
            } else {
                for &x in b.iter().rev() {
                    v = (v << 8) | u64::from(x);
                }
            }
            Some(v)
        };
        let (phoff, phentsize, phnum) = if is64 {
            (rd(32, 8)?, rd(54, 2)?, rd(56, 2)?)
        } else {
            (rd(28, 4)?, rd(42, 2)?, rd(44, 2)?)
        };
        let mut segments = Vec::new();
        for i in 0..phnum.min(4096) {
            let base = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
            let p_type = rd(base, 4)?;
            if p_type != 1 {
                continue; // PT_LOAD only
            }
            let (offset, vaddr, filesz) = if is64 {
                (rd(base + 8, 8)?, rd(base + 16, 8)?, rd(base + 32, 8)?)
            } else {
                (rd(base + 4, 4)?, rd(base + 8, 4)?, rd(base + 16, 4)?)
            };
            segments.push((vaddr, offset, filesz));
        }
        Some(ElfLayout { segments })
    }

    fn slice<'a>(&self, elf: &'a [u8], addr: u64, len: usize) -> Option<&'a [u8]> {
        let (vaddr, offset, filesz) = self
            .segments
            .iter()
            .find(|(v, _, s)| addr >= *v && addr - *v < *s)?;
        let within = addr - vaddr;
        if within.checked_add(len as u64)? > *filesz {
            return None;
        }
        let start = usize::try_from(offset.checked_add(within)?).ok()?;
        elf.get(start..start.checked_add(len)?)
    }
}

#[cfg(test)]
mod pointer_tests {
    use super::*;

    /// A minimal little-endian ELF64 with one PT_LOAD segment mapping file offset 0 at
    /// 0x400000, holding a pre-1.18 build-info header and the two Go strings it points to.
    fn old_style_elf(version: &str, modinfo: &str) -> Vec<u8> {
        let base: u64 = 0x40_0000;
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little endian
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        // Program header at 64: PT_LOAD, offset 0, vaddr base, filesz set below.
        f[64..68].copy_from_slice(&1u32.to_le_bytes());
        f[64 + 16..64 + 24].copy_from_slice(&base.to_le_bytes());
        // Build info header at 0x100.
        let hdr = 0x100;
        f[hdr..hdr + 14].copy_from_slice(MAGIC);
        f[hdr + 14] = 8;
        f[hdr + 15] = 0;
        // String headers at 0x140 and 0x150, data after 0x200.
        let v_data = f.len() as u64;
        f.extend_from_slice(version.as_bytes());
        let m_data = f.len() as u64;
        f.extend_from_slice(modinfo.as_bytes());
        let put =
            |f: &mut Vec<u8>, at: usize, v: u64| f[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put(&mut f, hdr + 16, base + 0x140);
        put(&mut f, hdr + 24, base + 0x150);
        put(&mut f, 0x140, base + v_data);
        put(&mut f, 0x148, version.len() as u64);
        put(&mut f, 0x150, base + m_data);
        put(&mut f, 0x158, modinfo.len() as u64);
        let filesz = f.len() as u64;
        put(&mut f, 64 + 32, filesz);
        f
    }

    #[test]
    fn reads_pointer_format() {
        let elf = old_style_elf(
            "go1.16.15",
            "path\tx\nmod\tx\t(devel)\t\ndep\tgithub.com/a/b\tv1.2.3\th1:x=\n",
        );
        let mut s = GoScanner::new();
        s.feed(&elf);
        assert_eq!(s.finish(), ScanResult::OldFormat);
        assert_eq!(scan_whole(&elf), ScanResult::OldFormat);
        let (v, m) = parse_pointer_format(&elf).unwrap();
        assert_eq!(v, "go1.16.15");
        let p = packages(&v, &m);
        assert!(
            p.packages
                .iter()
                .any(|f| f.name == "github.com/a/b" && f.version == "v1.2.3")
        );
    }

    #[test]
    fn bad_pointers_are_harmless() {
        let mut elf = old_style_elf("go1.16.15", "mod\tx\t(devel)\t\n");
        elf[0x140..0x148].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_pointer_format(&elf).is_none());
        assert!(parse_pointer_format(b"\x7fELF").is_none());
    }
}
