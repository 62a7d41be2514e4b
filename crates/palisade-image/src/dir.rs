//! Reading a directory source (`dir:PATH`, `sbom /`): a walk that enters neither pseudo nor
//! network filesystems, nor the paths the user excluded, and hands each entry to a visitor.
//!
//! Two walks share one notion of what is read: [`walk_sequential`] (one visitor, entries in
//! file-name order) and [`walk_parallel`] (several threads, a visitor each, entries in no
//! particular order). Regular files are handed over by path ([`EntryVisitor::visit_file`]) so
//! that a visitor opens only what it wants, and may seek in it instead of reading it whole.
//!
//! Left out, besides the excluded globs:
//! - `proc`, `sys` and `dev` right under the root (a live system's virtual directories);
//! - every mount point below the root whose filesystem is a pseudo filesystem (procfs,
//!   sysfs, cgroup, …) or a network filesystem (NFS, CIFS, SSHFS, …): reading them is slow
//!   or endless, and they hold no installed software. The root itself is read whatever it is.
//!
//! Entries that cannot be read (a permission error on a live system, a file removed during
//! the walk) are left out, as `find` would report and pass them.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ignore::{WalkBuilder, WalkState};

use crate::error::{Error, LayerContext};
use crate::layer::{Entry, EntryKind, EntryVisitor, LayerStats};

/// Top-level directories of a live system that hold no installed software.
const VIRTUAL_DIRS: &[&str] = &["proc", "sys", "dev"];

/// Filesystem types never entered below the root: pseudo filesystems of the kernel, and
/// network filesystems (`fuse.*` ones named after their remote protocol).
const SKIPPED_FS_TYPES: &[&str] = &[
    // Pseudo filesystems.
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "binfmt_misc",
    "autofs",
    "rpc_pipefs",
    "nsfs",
    "efivarfs",
    "selinuxfs",
    // Network filesystems.
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.rclone",
    "fuse.gcsfuse",
    "afs",
    "lustre",
    "9p",
];

/// What to leave out of one walk.
#[derive(Clone)]
struct Filter {
    root: PathBuf,
    exclude: Vec<String>,
    mounts: HashSet<PathBuf>,
}

impl Filter {
    fn new(root: &Path, exclude: &[String]) -> Self {
        Filter {
            root: root.to_path_buf(),
            exclude: exclude.to_vec(),
            mounts: skipped_mounts(root),
        }
    }

    /// Whether the walk enters (or reports) the entry at `path`, `depth` levels below the
    /// root.
    fn keeps(&self, path: &Path, depth: usize, name: &std::ffi::OsStr) -> bool {
        if depth == 0 {
            return true;
        }
        if depth == 1 && VIRTUAL_DIRS.iter().any(|v| name == std::ffi::OsStr::new(v)) {
            return false;
        }
        if !self.mounts.is_empty() && self.mounts.contains(path) {
            return false;
        }
        if self.exclude.is_empty() {
            return true;
        }
        let Some(rel) = path.strip_prefix(&self.root).ok().and_then(Path::to_str) else {
            return true;
        };
        !self
            .exclude
            .iter()
            .any(|g| crate::glob_match(g, rel, crate::Case::Sensitive))
    }
}

/// The mount points strictly below `root` whose filesystem type is in [`SKIPPED_FS_TYPES`],
/// from `/proc/self/mountinfo` (none when it cannot be read).
fn skipped_mounts(root: &Path) -> HashSet<PathBuf> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return HashSet::new();
    };
    parse_mountinfo(&info)
        .filter(|(point, fs)| {
            SKIPPED_FS_TYPES.contains(&fs.as_str()) && point != &root && point.starts_with(&root)
        })
        .map(|(point, _)| point)
        .collect()
}

/// `(mount point, filesystem type)` of each line of a `mountinfo` file (proc(5)): the fifth
/// field, octal escapes undone, and the first field after the ` - ` separator.
fn parse_mountinfo(info: &str) -> impl Iterator<Item = (PathBuf, String)> + '_ {
    info.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        let fs = right.split(' ').next()?;
        Some((PathBuf::from(unescape_octal(point)), fs.to_owned()))
    })
}

/// Undoes mountinfo's `\040`-style escapes (space, tab, newline, backslash).
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes
                .get(i + 1..i + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn builder(filter: &Filter) -> WalkBuilder {
    let mut b = WalkBuilder::new(&filter.root);
    b.standard_filters(false)
        .follow_links(false)
        .sort_by_file_name(std::ffi::OsStr::cmp);
    let f = filter.clone();
    b.filter_entry(move |e| f.keeps(e.path(), e.depth(), e.file_name()));
    b
}

/// What one entry gave: its size when it is a regular file.
enum Seen {
    Skipped,
    Entry { bytes: u64 },
}

/// Hands one walked entry to `visitor`.
fn visit_one(
    root: &Path,
    entry: &ignore::DirEntry,
    visitor: &mut dyn EntryVisitor,
    ctx: &LayerContext,
) -> Result<Seen, Error> {
    if entry.depth() == 0 {
        return Ok(Seen::Skipped);
    }
    let path = entry.path();
    let Some(rel) = path.strip_prefix(root).ok().and_then(Path::to_str) else {
        return Ok(Seen::Skipped);
    };
    // lstat: the walk does not follow links.
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(Seen::Skipped);
    };
    let ft = meta.file_type();
    let link;
    let kind = if ft.is_symlink() {
        link = std::fs::read_link(path)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        EntryKind::Symlink(&link)
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    let size = if ft.is_file() { meta.len() } else { 0 };
    let e = Entry {
        path: rel,
        kind,
        mode: meta.permissions().mode() & 0o7777,
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        size,
    };
    if ft.is_file() {
        visitor
            .visit_file(&e, path)
            .map_err(|err| Error::io(path, err))?;
    } else {
        visitor
            .visit(&e, &mut std::io::empty())
            .map_err(|err| Error::layer_io(ctx, err))?;
    }
    Ok(Seen::Entry { bytes: size })
}

fn stats(entries: u64, bytes: u64) -> LayerStats {
    LayerStats {
        blob_digest: None,
        blob_size: 0,
        diff_id: None,
        uncompressed_size: bytes,
        entries,
    }
}

/// Walks `root` with one visitor, entries in file-name order (a directory before what it
/// holds).
pub(crate) fn walk_sequential(
    root: &Path,
    exclude: &[String],
    ctx: &LayerContext,
    visitor: &mut dyn EntryVisitor,
) -> Result<LayerStats, Error> {
    let filter = Filter::new(root, exclude);
    let (mut entries, mut bytes) = (0u64, 0u64);
    for item in builder(&filter).build() {
        // Unreadable parts of a live filesystem are skipped, as `find` would report them.
        let Ok(item) = item else { continue };
        if let Seen::Entry { bytes: b } = visit_one(root, &item, visitor, ctx)? {
            entries += 1;
            bytes = bytes.saturating_add(b);
        }
    }
    Ok(stats(entries, bytes))
}

/// Walks `root` with `threads` threads, each handing its entries to its own visitor made
/// by `make`; returns the visitors (those that saw at least one entry) and the walk's
/// totals. The first visitor error stops the walk and is returned.
pub(crate) fn walk_parallel<V: EntryVisitor + Send>(
    root: &Path,
    exclude: &[String],
    ctx: &LayerContext,
    threads: usize,
    make: &(dyn Fn() -> V + Sync),
) -> Result<(Vec<V>, LayerStats), Error> {
    let filter = Filter::new(root, exclude);
    let entries = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<Error>> = Mutex::new(None);
    let done: Mutex<Vec<V>> = Mutex::new(Vec::new());

    /// One thread's visitor, handed back when the thread's walk ends.
    struct Worker<'a, V> {
        visitor: Option<V>,
        used: bool,
        done: &'a Mutex<Vec<V>>,
    }
    impl<V> Drop for Worker<'_, V> {
        fn drop(&mut self) {
            if let (true, Some(v)) = (self.used, self.visitor.take())
                && let Ok(mut d) = self.done.lock()
            {
                d.push(v);
            }
        }
    }

    builder(&filter)
        .threads(threads.max(1))
        .build_parallel()
        .run(|| {
            let mut worker = Worker {
                visitor: Some(make()),
                used: false,
                done: &done,
            };
            let (entries, bytes, failed, error) = (&entries, &bytes, &failed, &error);
            Box::new(move |item| {
                if failed.load(Ordering::Relaxed) {
                    return WalkState::Quit;
                }
                let Ok(item) = item else {
                    return WalkState::Continue;
                };
                let Some(visitor) = worker.visitor.as_mut() else {
                    return WalkState::Quit;
                };
                worker.used = true;
                match visit_one(root, &item, visitor, ctx) {
                    Ok(Seen::Entry { bytes: b }) => {
                        entries.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(b, Ordering::Relaxed);
                        WalkState::Continue
                    }
                    Ok(Seen::Skipped) => WalkState::Continue,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = error.lock()
                            && slot.is_none()
                        {
                            *slot = Some(e);
                        }
                        WalkState::Quit
                    }
                }
            })
        });
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    let visitors = done.into_inner().unwrap_or_default();
    Ok((visitors, stats(entries.into_inner(), bytes.into_inner())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_mount_points_and_types() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw
40 22 0:35 / /mnt/my\\040share rw - nfs4 server:/export rw
41 22 0:36 / /home rw - ext4 /dev/vdb rw
bad line
";
        let got: Vec<_> = parse_mountinfo(info).collect();
        assert_eq!(
            got,
            [
                (PathBuf::from("/"), "ext4".to_owned()),
                (PathBuf::from("/proc"), "proc".to_owned()),
                (PathBuf::from("/mnt/my share"), "nfs4".to_owned()),
                (PathBuf::from("/home"), "ext4".to_owned()),
            ]
        );
    }

    #[test]
    fn walks_agree_and_leave_out_what_they_should() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["proc/1", "usr/lib", "home/me/.cache", "var/cache/apt"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "proc/1/status",
            "usr/lib/a",
            "usr/lib/b",
            "home/me/.cache/c",
            "var/cache/apt/d",
        ] {
            std::fs::write(root.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("lib/a", root.join("usr/link")).unwrap();
        let ctx = LayerContext {
            source: "dir:test".into(),
            index: 0,
            digest: None,
        };
        let exclude = vec!["var/cache".to_owned()];

        let mut seen = Vec::new();
        let stats = walk_sequential(
            root,
            &exclude,
            &ctx,
            &mut |e: &Entry<'_>, _: &mut dyn std::io::Read| {
                seen.push(e.path.to_owned());
                Ok(())
            },
        )
        .unwrap();
        let expected = [
            "home",
            "home/me",
            "home/me/.cache",
            "home/me/.cache/c",
            "usr",
            "usr/lib",
            "usr/lib/a",
            "usr/lib/b",
            "usr/link",
            "var",
        ];
        assert_eq!(seen, expected);
        assert_eq!(stats.entries, expected.len() as u64);

        struct Collect(Vec<String>);
        impl EntryVisitor for Collect {
            fn visit(&mut self, e: &Entry<'_>, _: &mut dyn std::io::Read) -> std::io::Result<()> {
                self.0.push(e.path.to_owned());
                Ok(())
            }
        }
        let (visitors, pstats) =
            walk_parallel(root, &exclude, &ctx, 3, &|| Collect(Vec::new())).unwrap();
        let mut all: Vec<String> = visitors.into_iter().flat_map(|c| c.0).collect();
        all.sort();
        assert_eq!(all, expected);
        assert_eq!(pstats.entries, stats.entries);
        assert_eq!(pstats.uncompressed_size, stats.uncompressed_size);
    }
}
