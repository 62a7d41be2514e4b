//! A host's files under a root directory, read as the host would see them: symlinks are
//! followed inside the root (an absolute link target starts again at the root, `..` never
//! climbs above it), reads are bounded, and owners can be overridden so tests can describe
//! ownership they cannot create without root.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, read_bounded_from};

/// The most bytes read from one host file (units, daemon.json, rules, /etc/group, …).
pub const MAX_HOST_FILE_BYTES: u64 = 4 << 20;
/// The most symlinks followed for one path.
const MAX_HOPS: usize = 40;
/// The most entries listed from one directory.
const MAX_DIR_ENTRIES: usize = 10_000;

/// What kind of file a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A unix socket.
    Socket,
    /// A named pipe: reading it blocks until a writer comes, and its content is whatever the
    /// writer sends.
    Fifo,
    /// A character or block device node.
    Device,
    /// Anything else.
    Other,
}

impl FileKind {
    /// "a regular file", "a FIFO", … for messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::File => "a regular file",
            FileKind::Dir => "a directory",
            FileKind::Socket => "a socket",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Device => "a device node",
            FileKind::Other => "a special file",
        }
    }
}

/// Ownership and mode of a host file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The kind of file.
    pub kind: FileKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
}

/// A host tree under a root directory.
#[derive(Clone, Debug)]
pub struct HostRoot {
    root: PathBuf,
    owners: BTreeMap<String, (u32, u32)>,
    default_owner: Option<(u32, u32)>,
    modes: BTreeMap<String, u32>,
}

impl HostRoot {
    /// The host tree at `root` (`/` for the running host).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> HostRoot {
        HostRoot {
            root: root.into(),
            owners: BTreeMap::new(),
            default_owner: None,
            modes: BTreeMap::new(),
        }
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reports `path` (host-absolute, e.g. `/etc/docker`) as owned by `uid:gid`, whatever the
    /// file system says. For tests, which cannot chown without root.
    #[must_use]
    pub fn with_owner(mut self, path: &str, uid: u32, gid: u32) -> HostRoot {
        self.owners.insert(normalize(path), (uid, gid));
        self
    }

    /// Reports every path without its own override as owned by `uid:gid`. For tests.
    #[must_use]
    pub fn with_default_owner(mut self, uid: u32, gid: u32) -> HostRoot {
        self.default_owner = Some((uid, gid));
        self
    }

    /// Reports `path` with permission bits `mode`, whatever the file system says (for sockets
    /// and special bits in tests).
    #[must_use]
    pub fn with_mode(mut self, path: &str, mode: u32) -> HostRoot {
        self.modes.insert(normalize(path), mode & 0o7777);
        self
    }

    /// The real path of host path `path` inside the root, after following symlinks.
    /// `None` when links loop.
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let mut pending: Vec<String> = path
            .split('/')
            .rev()
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_owned)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            let real = self.join(&cur);
            if fs::symlink_metadata(&real).is_ok_and(|m| m.file_type().is_symlink()) {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                let target = fs::read_link(&real).ok()?;
                let target = target.to_string_lossy().into_owned();
                cur.pop();
                if target.starts_with('/') {
                    cur.clear();
                }
                for part in target.split('/').rev().filter(|p| !p.is_empty()) {
                    pending.push(part.to_owned());
                }
            }
        }
        Some(self.join(&cur))
    }

    fn join(&self, parts: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for c in parts {
            p.push(c);
        }
        p
    }

    /// The file's ownership and mode; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// When the file exists but cannot be examined.
    pub fn stat(&self, path: &str) -> Result<Option<FileMeta>, Error> {
        let Some(real) = self.resolve(path) else {
            return Ok(None);
        };
        let meta = match fs::metadata(&real) {
            Ok(m) => m,
            // Under a parent that is not a directory, the path does not exist either.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(Error::Io {
                    path: real,
                    source: e,
                });
            }
        };
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            FileKind::File
        } else if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_socket() {
            FileKind::Socket
        } else if ft.is_fifo() {
            FileKind::Fifo
        } else if ft.is_char_device() || ft.is_block_device() {
            FileKind::Device
        } else {
            FileKind::Other
        };
        let key = normalize(path);
        let (uid, gid) = self
            .owners
            .get(&key)
            .copied()
            .or(self.default_owner)
            .unwrap_or((meta.uid(), meta.gid()));
        let mode = self
            .modes
            .get(&key)
            .copied()
            .unwrap_or(meta.mode() & 0o7777);
        Ok(Some(FileMeta {
            kind,
            mode,
            uid,
            gid,
        }))
    }

    /// The file's content (at most [`MAX_HOST_FILE_BYTES`]); `Ok(None)` when it does not exist.
    /// The file type is checked before the file is opened, so a FIFO or a device is never
    /// opened (opening a FIFO blocks until a writer comes).
    ///
    /// # Errors
    /// [`Error::NotRegular`] when the path is a FIFO, device, socket or directory; otherwise
    /// when the file cannot be read or is too large.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(real) = self.resolve(path) else {
            return Ok(None);
        };
        let kind = match self.stat(path)? {
            None => return Ok(None),
            Some(m) => m.kind,
        };
        if kind != FileKind::File {
            return Err(Error::NotRegular {
                path: normalize(path),
                kind,
            });
        }
        // O_NONBLOCK: should the file be swapped for a FIFO between the check and the open,
        // the open still returns at once; the type is checked again on the open handle.
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&real)
        };
        let file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Io {
                    path: real,
                    source: e,
                });
            }
        };
        let meta = file.metadata().map_err(|e| Error::Io {
            path: real.clone(),
            source: e,
        })?;
        if !meta.is_file() {
            return Err(Error::NotRegular {
                path: normalize(path),
                kind: FileKind::Other,
            });
        }
        read_bounded_from(file, &real, MAX_HOST_FILE_BYTES).map(Some)
    }

    /// The file's content as text (invalid UTF-8 replaced); `Ok(None)` when absent.
    ///
    /// # Errors
    /// As [`HostRoot::read`].
    pub fn read_text(&self, path: &str) -> Result<Option<String>, Error> {
        Ok(self
            .read(path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The names in directory `path`, sorted; empty when it does not exist.
    #[must_use]
    pub fn list(&self, path: &str) -> Vec<String> {
        let Some(real) = self.resolve(path) else {
            return Vec::new();
        };
        let Ok(rd) = fs::read_dir(&real) else {
            return Vec::new();
        };
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .take(MAX_DIR_ENTRIES)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Whether `path` is a symlink (not followed) inside the root.
    #[must_use]
    pub fn is_symlink(&self, path: &str) -> bool {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        let name = path.rsplit('/').next().unwrap_or("");
        self.resolve(parent).is_some_and(|p| {
            fs::symlink_metadata(p.join(name)).is_ok_and(|m| m.file_type().is_symlink())
        })
    }
}

/// `/a//b/` → `/a/b`.
#[must_use]
pub fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Joins host paths: `join("/etc", "docker")` → `/etc/docker`.
#[must_use]
pub fn join(dir: &str, name: &str) -> String {
    normalize(&format!("{dir}/{name}"))
}
