//! The catalogers: which files each one needs, and what it extracts from them.
//!
//! Extraction happens while a layer streams past ([`Extractor`] is a layer visitor): each
//! wanted file is read up to its size cap and parsed at once into a small [`FileData`], so
//! no file content outlives its entry. The per-layer results are what the layer cache stores.

pub(crate) mod apk;
pub(crate) mod dotnet;
pub(crate) mod dpkg;
pub(crate) mod golang;
pub(crate) mod java;
pub(crate) mod npm;
pub(crate) mod os;
pub(crate) mod php;
pub(crate) mod python;
pub(crate) mod rpm;
pub(crate) mod ruby;
pub(crate) mod rust;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek as _};
use std::path::Path;

use palisade_image::{Entry, EntryKind, EntryVisitor, Node};
use serde::{Deserialize, Serialize};

use crate::package::{Ecosystem, SourcePackage};

/// Bumped whenever any cataloger's output changes, so cached layer results are redone.
pub const CATALOGER_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+c5");

/// A package as found in one file, before the distro and layer are known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Found {
    pub(crate) ecosystem: Ecosystem,
    pub(crate) name: String,
    pub(crate) version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<SourcePackage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) licenses: Vec<String>,
}

/// Packages from one file, and problems that did not stop the parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Parsed {
    pub(crate) packages: Vec<Found>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
}

/// What was extracted from one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileData {
    /// `os-release` fields.
    OsRelease(BTreeMap<String, String>),
    /// The first line of a distro release file, with the distro it implies.
    ReleaseFile { distro: String, line: String },
    /// Packages (and warnings).
    Packages(Parsed),
    /// Packages of a package manager database plus the files they own.
    Database { parsed: Parsed, owned: Vec<String> },
    /// Files owned by an OS package (a dpkg `.list`).
    OwnedFiles(Vec<String>),
    /// Licences a Debian package declares in `usr/share/doc/PACKAGE/copyright`.
    Licenses(Vec<String>),
    /// The file could not be used; the message says why.
    Error(String),
}

/// The kinds of file the catalogers read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    OsRelease,
    ReleaseFile(&'static str),
    DpkgStatus,
    DpkgList,
    DpkgCopyright,
    ApkInstalled,
    PythonMetadata,
    PackageJson,
    PackageLock,
    RpmSqlite,
    RpmBdb,
    RpmNdb,
    JavaArchive,
    CargoLock,
    Gemspec,
    GemfileLock,
    ComposerInstalled,
    ComposerLock,
    DepsJson,
}

impl Wanted {
    fn cap(self) -> u64 {
        match self {
            Wanted::OsRelease | Wanted::ReleaseFile(_) => os::MAX_RELEASE_BYTES,
            Wanted::DpkgStatus => dpkg::MAX_STATUS_BYTES,
            Wanted::DpkgList => dpkg::MAX_LIST_BYTES,
            Wanted::DpkgCopyright => dpkg::MAX_COPYRIGHT_BYTES,
            Wanted::ApkInstalled => apk::MAX_DB_BYTES,
            Wanted::PythonMetadata => python::MAX_METADATA_BYTES,
            Wanted::PackageJson => npm::MAX_PACKAGE_JSON_BYTES,
            Wanted::PackageLock => npm::MAX_LOCK_BYTES,
            Wanted::RpmSqlite | Wanted::RpmBdb | Wanted::RpmNdb => rpm::MAX_DB_BYTES,
            Wanted::JavaArchive => java::MAX_ARCHIVE_BYTES,
            Wanted::CargoLock => rust::MAX_CARGO_LOCK_BYTES,
            Wanted::Gemspec => ruby::MAX_GEMSPEC_BYTES,
            Wanted::GemfileLock => ruby::MAX_GEMFILE_LOCK_BYTES,
            Wanted::ComposerInstalled | Wanted::ComposerLock => php::MAX_COMPOSER_BYTES,
            Wanted::DepsJson => dotnet::MAX_DEPS_JSON_BYTES,
        }
    }

    fn parse(self, path: &str, content: &[u8]) -> FileData {
        let packages = |r: Result<Parsed, String>| match r {
            Ok(p) => FileData::Packages(p),
            Err(e) => FileData::Error(e),
        };
        let database = |r: Result<(Parsed, Vec<String>), String>| match r {
            Ok((parsed, owned)) => FileData::Database { parsed, owned },
            Err(e) => FileData::Error(e),
        };
        match self {
            Wanted::OsRelease => match os::parse_os_release(content) {
                Ok(f) => FileData::OsRelease(f),
                Err(e) => FileData::Error(e),
            },
            Wanted::ReleaseFile(distro) => match os::parse_release_file(content) {
                Ok(line) => FileData::ReleaseFile {
                    distro: distro.to_owned(),
                    line,
                },
                Err(e) => FileData::Error(e),
            },
            Wanted::DpkgStatus => packages(dpkg::parse_status(content)),
            Wanted::DpkgList => FileData::OwnedFiles(dpkg::parse_list(content)),
            Wanted::DpkgCopyright => FileData::Licenses(dpkg::parse_copyright(content)),
            Wanted::ApkInstalled => database(apk::parse_installed(content)),
            Wanted::RpmSqlite => database(rpm::parse_sqlite(content)),
            Wanted::RpmBdb => database(rpm::parse_bdb(content)),
            Wanted::RpmNdb => database(rpm::parse_ndb(content)),
            Wanted::JavaArchive => packages(java::parse_archive(content, path)),
            Wanted::CargoLock => packages(rust::parse_cargo_lock(content)),
            Wanted::PythonMetadata => packages(python::parse_metadata(content)),
            Wanted::PackageJson => packages(npm::parse_package_json(content)),
            Wanted::PackageLock => packages(npm::parse_lock(content)),
            Wanted::Gemspec => packages(ruby::parse_gemspec(content)),
            Wanted::GemfileLock => packages(ruby::parse_gemfile_lock(content)),
            Wanted::ComposerInstalled => packages(php::parse_installed_json(content)),
            Wanted::ComposerLock => packages(php::parse_lock(content)),
            Wanted::DepsJson => packages(dotnet::parse_deps_json(content)),
        }
    }
}

fn wanted(path: &str) -> Option<Wanted> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    match path {
        "etc/os-release" | "usr/lib/os-release" => return Some(Wanted::OsRelease),
        "var/lib/dpkg/status" => return Some(Wanted::DpkgStatus),
        "lib/apk/db/installed" | "usr/lib/apk/db/installed" => return Some(Wanted::ApkInstalled),
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => {
            return Some(Wanted::RpmSqlite);
        }
        "var/lib/rpm/Packages" | "usr/lib/sysimage/rpm/Packages" => return Some(Wanted::RpmBdb),
        "var/lib/rpm/Packages.db" | "usr/lib/sysimage/rpm/Packages.db" => {
            return Some(Wanted::RpmNdb);
        }
        _ => {}
    }
    if let Some((_, distro)) = os::RELEASE_FILES.iter().find(|(p, _)| *p == path) {
        return Some(Wanted::ReleaseFile(distro));
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/status.d/")
        && !rest.contains('/')
        && !rest.ends_with(".md5sums")
    {
        return Some(Wanted::DpkgStatus);
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/info/")
        && !rest.contains('/')
        && rest.ends_with(".list")
    {
        return Some(Wanted::DpkgList);
    }
    if let Some(rest) = path.strip_prefix("usr/share/doc/")
        && rest
            .strip_suffix("/copyright")
            .is_some_and(|pkg| !pkg.is_empty() && !pkg.contains('/'))
    {
        return Some(Wanted::DpkgCopyright);
    }
    if python::is_metadata_path(path) {
        return Some(Wanted::PythonMetadata);
    }
    if java::is_archive_path(path) {
        return Some(Wanted::JavaArchive);
    }
    if ruby::is_gemspec_path(path) {
        return Some(Wanted::Gemspec);
    }
    if php::is_installed_json_path(path) {
        return Some(Wanted::ComposerInstalled);
    }
    if dotnet::is_deps_json_path(path) {
        return Some(Wanted::DepsJson);
    }
    match file_name {
        "Cargo.lock" => Some(Wanted::CargoLock),
        "package.json" => Some(Wanted::PackageJson),
        "package-lock.json" if !path.contains("node_modules/") => Some(Wanted::PackageLock),
        "Gemfile.lock" => Some(Wanted::GemfileLock),
        // A package's own lock inside `vendor/` describes its development, not what is installed.
        "composer.lock" if !path.contains("vendor/") => Some(Wanted::ComposerLock),
        _ => None,
    }
}

/// `s`, cut to a length fit for a message.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Reads at most `cap` bytes of a file declared `size` bytes long (the buffer is reserved at
/// that size, so it is not grown by doubling past it); `false` when the content is longer
/// than `cap` (possible only when the declared size was wrong).
fn read_capped(content: &mut dyn Read, size: u64, cap: u64, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    buf.reserve_exact(usize::try_from(size.min(cap)).unwrap_or(0));
    content.take(cap + 1).read_to_end(buf)?;
    Ok(buf.len() as u64 <= cap)
}

/// The warning for a wanted file over its kind's cap (the problem carries its path).
fn too_large(size: u64, cap: u64) -> String {
    format!("{size} bytes, larger than the {cap}-byte limit for this kind of file; skipped")
}

/// A read buffer up to this capacity is kept for the next file; a larger one is freed. Kept
/// rather than freed and allocated again for every shared library: the allocator holds freed
/// blocks for a while, so churn costs more resident memory than one buffer reused.
const KEEP_BUFFER: usize = 8 << 20;

/// The smallest file worth checking for an executable header.
const MIN_EXECUTABLE: u64 = 64;

/// A layer visitor that records what the catalogers need.
pub(crate) struct Extractor {
    pub(crate) nodes: Vec<(String, Node<FileData>)>,
    buf: Vec<u8>,
    chunk: Vec<u8>,
}

impl Extractor {
    pub(crate) fn new() -> Self {
        Extractor {
            nodes: Vec::new(),
            buf: Vec::new(),
            chunk: vec![0u8; 256 * 1024],
        }
    }

    /// Looks into an executable: Go build information, and (for files up to
    /// [`MAX_WHOLE_EXECUTABLE`]) what needs the whole file.
    fn scan_executable(
        &mut self,
        size: u64,
        content: &mut dyn Read,
    ) -> io::Result<Option<FileData>> {
        let mut head = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let n = content.read(&mut head[got..])?;
            if n == 0 {
                return Ok(None);
            }
            got += n;
        }
        if head != *b"\x7fELF" {
            return Ok(None);
        }
        if size <= MAX_WHOLE_EXECUTABLE {
            let mut whole = std::mem::take(&mut self.buf);
            whole.clear();
            // Reserved at the declared size: `read_to_end` alone grows by doubling, up to
            // twice the file's size.
            whole.reserve_exact(usize::try_from(size).unwrap_or(0));
            whole.extend_from_slice(&head);
            content.take(MAX_WHOLE_EXECUTABLE).read_to_end(&mut whole)?;
            let result = Self::analyse_whole_executable(&whole);
            if whole.capacity() > KEEP_BUFFER {
                whole = Vec::new();
            }
            self.buf = whole;
            return Ok(result);
        }
        let mut go = golang::GoScanner::new();
        go.feed(&head);
        while go.wants_more() {
            let n = content.read(&mut self.chunk)?;
            if n == 0 {
                break;
            }
            go.feed(&self.chunk[..n]);
        }
        Ok(match go.finish() {
            golang::ScanResult::Found {
                go_version,
                modinfo,
            } => Some(FileData::Packages(golang::packages(&go_version, &modinfo))),
            golang::ScanResult::OldFormat => Some(FileData::Error(format!(
                "Go binary with pre-1.18 build information, larger than {MAX_WHOLE_EXECUTABLE} bytes: not read"
            ))),
            golang::ScanResult::None => None,
        })
    }

    fn analyse_whole_executable(elf: &[u8]) -> Option<FileData> {
        match golang::scan_whole(elf) {
            golang::ScanResult::Found {
                go_version,
                modinfo,
            } => {
                return Some(FileData::Packages(golang::packages(&go_version, &modinfo)));
            }
            golang::ScanResult::OldFormat => {
                return Some(match golang::parse_pointer_format(elf) {
                    Some((v, m)) => FileData::Packages(golang::packages(&v, &m)),
                    None => FileData::Error("Go build information could not be resolved".into()),
                });
            }
            golang::ScanResult::None => {}
        }
        match rust::parse_auditable(elf)? {
            Ok(parsed) => Some(FileData::Packages(parsed)),
            Err(e) => Some(FileData::Error(e)),
        }
    }
}

/// Executables up to this size are read whole (Rust `cargo auditable` data and old Go build
/// information need random access); larger ones are scanned as a stream.
const MAX_WHOLE_EXECUTABLE: u64 = 32 << 20;

impl EntryVisitor for Extractor {
    fn visit(&mut self, entry: &Entry<'_>, content: &mut dyn Read) -> io::Result<()> {
        let node = match entry.kind {
            EntryKind::Symlink(t) => Node::Symlink(t.to_owned()),
            EntryKind::HardLink(t) => Node::HardLink(t.to_owned()),
            EntryKind::Whiteout => Node::Whiteout,
            EntryKind::OpaqueDir => Node::Opaque,
            EntryKind::Dir | EntryKind::Other => return Ok(()),
            EntryKind::File => {
                if let Some(w) = wanted(entry.path) {
                    let cap = w.cap();
                    // The declared size decides first: an oversized file is skipped without
                    // reading a byte of it (the layer reader skips its content), so memory
                    // never follows the size of one evidence file.
                    if entry.size > cap {
                        self.nodes.push((
                            entry.path.to_owned(),
                            Node::File(FileData::Error(too_large(entry.size, cap))),
                        ));
                        return Ok(());
                    }
                    let mut buf = std::mem::take(&mut self.buf);
                    let data = if read_capped(content, entry.size, cap, &mut buf)? {
                        w.parse(entry.path, &buf)
                    } else {
                        FileData::Error(too_large(entry.size.max(buf.len() as u64), cap))
                    };
                    if buf.capacity() > KEEP_BUFFER {
                        buf = Vec::new();
                    }
                    self.buf = buf;
                    Node::File(data)
                } else if entry.size >= MIN_EXECUTABLE {
                    match self.scan_executable(entry.size, content)? {
                        Some(data) => Node::File(data),
                        None => return Ok(()),
                    }
                } else {
                    return Ok(());
                }
            }
        };
        self.nodes.push((entry.path.to_owned(), node));
        Ok(())
    }

    /// A file of a directory source: wanted files are read as from a layer, but an executable
    /// is looked into through its ELF section headers (`.go.buildinfo`, `.dep-v0`) instead
    /// of being read whole, and nothing else is opened. On a live system executables are
    /// most of the bytes (`sbom /`); this reads kilobytes of each instead.
    fn visit_file(&mut self, entry: &Entry<'_>, path: &Path) -> io::Result<()> {
        let open = || match File::open(path) {
            Ok(f) => Ok(Some(f)),
            // Permissions on a live system, or removed meanwhile: passed over, as `find` would.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        };
        if wanted(entry.path).is_some() {
            let Some(f) = open()? else { return Ok(()) };
            let mut r = io::BufReader::with_capacity(64 * 1024, f).take(entry.size);
            return self.visit(entry, &mut r);
        }
        if entry.size < MIN_EXECUTABLE {
            return Ok(());
        }
        let Some(mut f) = open()? else { return Ok(()) };
        let mut head = [0u8; 4];
        match f.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        if head != *b"\x7fELF" {
            return Ok(());
        }
        let data = match local_elf(&f)? {
            LocalElf::Done(data) => data,
            LocalElf::Stream => {
                f.seek(io::SeekFrom::Start(0))?;
                let mut r = io::BufReader::with_capacity(64 * 1024, f).take(entry.size);
                self.scan_executable(entry.size, &mut r)?
            }
        };
        if let Some(data) = data {
            self.nodes.push((entry.path.to_owned(), Node::File(data)));
        }
        Ok(())
    }
}

/// What the section headers of a local ELF file tell.
enum LocalElf {
    /// All there is to know.
    Done(Option<FileData>),
    /// The file has to be read as a stream, as from a layer: no section headers, Go build
    /// information of before Go 1.18 (pointers into the data), or a Go binary whose build
    /// information is not in `.go.buildinfo`.
    Stream,
}

/// Reads the Go build information and the `cargo auditable` data of an ELF file through its
/// section headers, reading only those sections (bounded: [`golang::MAX_CAPTURE`] and
/// [`rust::MAX_SECTION_BYTES`]).
fn local_elf(file: &File) -> io::Result<LocalElf> {
    use object::{Object as _, ObjectSection as _};
    use std::os::unix::fs::FileExt as _;

    let cache = object::ReadCache::new(file);
    let Ok(elf) = object::File::parse(&cache) else {
        return Ok(LocalElf::Stream);
    };
    if elf.sections().next().is_none() {
        return Ok(LocalElf::Stream);
    }
    if let Some(section) = elf.section_by_name(".go.buildinfo") {
        let Some((offset, size)) = section.file_range() else {
            return Ok(LocalElf::Stream);
        };
        let take = usize::try_from(size.min(golang::MAX_CAPTURE as u64)).unwrap_or(0);
        let mut data = vec![0u8; take];
        file.read_exact_at(&mut data, offset)?;
        return Ok(match golang::scan_whole(&data) {
            golang::ScanResult::Found {
                go_version,
                modinfo,
            } => LocalElf::Done(Some(FileData::Packages(golang::packages(
                &go_version,
                &modinfo,
            )))),
            golang::ScanResult::OldFormat | golang::ScanResult::None => LocalElf::Stream,
        });
    }
    if elf.section_by_name(".gopclntab").is_some()
        || elf.section_by_name(".note.go.buildid").is_some()
    {
        return Ok(LocalElf::Stream);
    }
    let Some(section) = elf.section_by_name(rust::AUDITABLE_SECTION) else {
        return Ok(LocalElf::Done(None));
    };
    if section.size() > rust::MAX_SECTION_BYTES {
        return Ok(LocalElf::Done(Some(FileData::Error(format!(
            "{} section of {} bytes, over the {}-byte limit",
            rust::AUDITABLE_SECTION,
            section.size(),
            rust::MAX_SECTION_BYTES
        )))));
    }
    Ok(LocalElf::Done(Some(match section.data() {
        Ok(compressed) => match rust::parse_dep_v0(compressed) {
            Ok(parsed) => FileData::Packages(parsed),
            Err(e) => FileData::Error(e),
        },
        Err(e) => FileData::Error(format!(
            "{} section cannot be read: {e}",
            rust::AUDITABLE_SECTION
        )),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_paths() {
        assert_eq!(wanted("var/lib/dpkg/status"), Some(Wanted::DpkgStatus));
        assert_eq!(
            wanted("var/lib/dpkg/status.d/base-files"),
            Some(Wanted::DpkgStatus)
        );
        assert_eq!(wanted("var/lib/dpkg/status.d/base-files.md5sums"), None);
        assert_eq!(
            wanted("var/lib/dpkg/info/libc6:amd64.list"),
            Some(Wanted::DpkgList)
        );
        assert_eq!(
            wanted("usr/local/lib/python3.11/site-packages/requests-2.19.1.dist-info/METADATA"),
            Some(Wanted::PythonMetadata)
        );
        assert_eq!(
            wanted("app/node_modules/lodash/package.json"),
            Some(Wanted::PackageJson)
        );
        assert_eq!(wanted("app/package-lock.json"), Some(Wanted::PackageLock));
        assert_eq!(wanted("app/node_modules/x/package-lock.json"), None);
        assert_eq!(wanted("etc/passwd"), None);
        assert_eq!(
            wanted("usr/share/doc/bash/copyright"),
            Some(Wanted::DpkgCopyright)
        );
        assert_eq!(wanted("usr/share/doc/bash/x/copyright"), None);
        assert_eq!(wanted("var/lib/rpm/rpmdb.sqlite"), Some(Wanted::RpmSqlite));
        assert_eq!(
            wanted("usr/lib/sysimage/rpm/Packages.db"),
            Some(Wanted::RpmNdb)
        );
        assert_eq!(wanted("var/lib/rpm/Packages"), Some(Wanted::RpmBdb));
        assert_eq!(
            wanted("opt/app/lib/guava-31.1-jre.jar"),
            Some(Wanted::JavaArchive)
        );
        assert_eq!(wanted("src/app/Cargo.lock"), Some(Wanted::CargoLock));
        assert_eq!(
            wanted("usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"),
            Some(Wanted::Gemspec)
        );
        assert_eq!(wanted("srv/app/Gemfile.lock"), Some(Wanted::GemfileLock));
        assert_eq!(
            wanted("var/www/vendor/composer/installed.json"),
            Some(Wanted::ComposerInstalled)
        );
        assert_eq!(wanted("var/www/composer.lock"), Some(Wanted::ComposerLock));
        assert_eq!(wanted("var/www/vendor/a/b/composer.lock"), None);
        assert_eq!(wanted("app/WebApp.deps.json"), Some(Wanted::DepsJson));
    }

    /// Content that fails the test if any of it is read.
    struct Untouchable;
    impl Read for Untouchable {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("an oversized file's content was read");
        }
    }

    #[test]
    fn an_oversized_wanted_file_is_skipped_by_its_declared_size_without_reading_it() {
        let size = dpkg::MAX_STATUS_BYTES + 1;
        let entry = Entry {
            path: "var/lib/dpkg/status.d/x",
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
        };
        let mut x = Extractor::new();
        x.visit(&entry, &mut Untouchable).unwrap();
        let [(path, Node::File(FileData::Error(message)))] = x.nodes.as_slice() else {
            panic!("{:?}", x.nodes);
        };
        assert_eq!(path, "var/lib/dpkg/status.d/x");
        assert!(
            message.starts_with(&format!("{size} bytes, larger than the ")),
            "{message}"
        );
    }
}
