//! The merged filesystem view: what a container would see, for the paths a caller kept.
//!
//! Callers record, per layer, the entries they care about (with whatever they extracted from
//! them) plus every symlink, whiteout and opaque marker; [`MergedView::apply_layer`] stacks
//! the layers with overlay semantics, and [`MergedView::resolve`] follows symlinks (absolute
//! ones from the image root, `..` never above it) and hard links.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One recorded entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node<T> {
    /// A file, with what the caller extracted from it.
    File(T),
    /// A directory (only needed when it replaces something).
    Dir,
    /// A symbolic link and its target as stored.
    Symlink(String),
    /// A hard link to another path.
    HardLink(String),
    /// The path is deleted from lower layers.
    Whiteout,
    /// The directory's content from lower layers is hidden.
    Opaque,
}

/// Layers stacked into one view.
#[derive(Debug, Clone)]
pub struct MergedView<T> {
    entries: BTreeMap<String, (usize, Node<T>)>,
}

impl<T> Default for MergedView<T> {
    fn default() -> Self {
        MergedView {
            entries: BTreeMap::new(),
        }
    }
}

/// The most symlinks followed while resolving one path (Linux uses 40).
const MAX_HOPS: usize = 40;
/// The longest path resolution may build (Linux's `PATH_MAX`).
const MAX_PATH: usize = 4096;

impl<T> MergedView<T> {
    /// An empty view.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn remove_under(&mut self, dir: &str) {
        if dir.is_empty() {
            self.entries.clear();
            return;
        }
        let lo = format!("{dir}/");
        let hi = format!("{dir}0"); // '0' is the byte after '/'
        let doomed: Vec<String> = self.entries.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// Stacks one layer's recorded entries on top of the view.
    pub fn apply_layer(
        &mut self,
        layer: usize,
        nodes: impl IntoIterator<Item = (String, Node<T>)>,
    ) {
        let mut inserts = Vec::new();
        for (path, node) in nodes {
            match node {
                Node::Opaque => self.remove_under(&path),
                Node::Whiteout => {
                    self.entries.remove(&path);
                    self.remove_under(&path);
                }
                other => inserts.push((path, other)),
            }
        }
        for (path, node) in inserts {
            if !matches!(node, Node::Dir) {
                // A file or link replaces a lower directory and everything in it.
                self.remove_under(&path);
            }
            self.entries.insert(path, (layer, node));
        }
    }

    /// The entry recorded at exactly `path`, without following links.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<(usize, &Node<T>)> {
        self.entries.get(path).map(|(l, n)| (*l, n))
    }

    /// Follows symlinks in every component of `path` and returns the real path, staying inside
    /// the root. `None` when links loop.
    #[must_use]
    pub fn resolve_path(&self, path: &str) -> Option<String> {
        let mut queue: VecDeque<String> = path.split('/').map(str::to_owned).collect();
        // The path so far, and where each of its components starts (for `..`).
        let mut cur = String::new();
        let mut starts: Vec<usize> = Vec::new();
        let mut hops = 0;
        while let Some(c) = queue.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if let Some(before) = starts.pop() {
                        cur.truncate(before);
                    }
                    continue;
                }
                _ => {}
            }
            let before = cur.len();
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(&c);
            starts.push(before);
            if cur.len() > MAX_PATH {
                return None; // ENAMETOOLONG, as Linux would say
            }
            if let Some((_, Node::Symlink(target))) = self.entries.get(cur.as_str()) {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                cur.truncate(before);
                starts.pop();
                if target.starts_with('/') {
                    cur.clear();
                    starts.clear();
                }
                for part in target.split('/').rev() {
                    queue.push_front(part.to_owned());
                }
            }
        }
        Some(cur)
    }

    /// The file at `path` after following links: its real path, the layer that wrote it and
    /// what was extracted from it.
    #[must_use]
    pub fn resolve(&self, path: &str) -> Option<(String, usize, &T)> {
        let real = self.resolve_path(path)?;
        match self.entries.get(&real)? {
            (layer, Node::File(t)) => Some((real, *layer, t)),
            (_, Node::HardLink(target)) => match self.entries.get(target)? {
                (layer, Node::File(t)) => Some((target.clone(), *layer, t)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every visible file, in path order.
    pub fn files(&self) -> impl Iterator<Item = (&str, usize, &T)> {
        self.entries.iter().filter_map(|(p, (l, n))| match n {
            Node::File(t) => Some((p.as_str(), *l, t)),
            _ => None,
        })
    }

    /// Every visible hard link whose target is a visible file: `(link path, target path)`.
    pub fn hard_links(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|(p, (_, n))| match n {
            Node::HardLink(t) if matches!(self.entries.get(t), Some((_, Node::File(_)))) => {
                Some((p.as_str(), t.as_str()))
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Node<String> {
        Node::File(s.to_owned())
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let mut v = MergedView::new();
        v.apply_layer(
            0,
            [
                ("etc/a".to_owned(), f("a0")),
                ("etc/b".to_owned(), f("b0")),
                ("opt/x/1".to_owned(), f("x1")),
            ],
        );
        v.apply_layer(
            1,
            [
                ("etc/a".to_owned(), Node::Whiteout),
                ("opt/x".to_owned(), Node::Opaque),
                ("opt/x/2".to_owned(), f("x2")),
                ("etc/b".to_owned(), f("b1")),
            ],
        );
        let files: Vec<_> = v
            .files()
            .map(|(p, l, t)| (p.to_owned(), l, t.clone()))
            .collect();
        assert_eq!(
            files,
            vec![
                ("etc/b".into(), 1, "b1".into()),
                ("opt/x/2".into(), 1, "x2".into())
            ]
        );
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let mut v = MergedView::new();
        v.apply_layer(
            0,
            [
                ("usr/lib/os-release".to_owned(), f("debian")),
                (
                    "etc/os-release".to_owned(),
                    Node::Symlink("../usr/lib/os-release".into()),
                ),
                ("lib".to_owned(), Node::Symlink("usr/lib".into())),
                (
                    "evil".to_owned(),
                    Node::Symlink("../../../../usr/lib/os-release".into()),
                ),
                ("loop".to_owned(), Node::Symlink("loop".into())),
            ],
        );
        assert_eq!(v.resolve("etc/os-release").unwrap().2, "debian");
        assert_eq!(v.resolve("lib/os-release").unwrap().0, "usr/lib/os-release");
        // `..` stops at the root, as in a chroot.
        assert_eq!(v.resolve("evil").unwrap().0, "usr/lib/os-release");
        assert!(v.resolve("loop").is_none());
    }

    #[test]
    fn long_symlink_chains_stay_cheap() {
        // 40 links, each with a legal 4 KiB target that points at the next one.
        let mut v = MergedView::new();
        let mut nodes = Vec::new();
        let mut at = "etc/os-release".to_owned();
        for hop in 0..40 {
            let target = format!("/{}l{hop}", "x/".repeat(2045));
            nodes.push((at.clone(), Node::Symlink(target.clone())));
            at = target.trim_start_matches('/').to_owned();
        }
        nodes.push((at, f("end")));
        v.apply_layer(0, nodes);
        // Before paths were built in place this took minutes; now it is linear.
        assert_eq!(v.resolve("etc/os-release").unwrap().2, "end");
    }

    #[test]
    fn hard_links_resolve_to_their_target() {
        let mut v = MergedView::new();
        v.apply_layer(
            0,
            [
                ("usr/bin/python3.11".to_owned(), f("elf")),
                (
                    "usr/bin/python3".to_owned(),
                    Node::HardLink("usr/bin/python3.11".into()),
                ),
                (
                    "usr/bin/dangling".to_owned(),
                    Node::HardLink("nowhere".into()),
                ),
            ],
        );
        assert_eq!(
            v.resolve("usr/bin/python3").unwrap(),
            ("usr/bin/python3.11".to_owned(), 0, &"elf".to_owned())
        );
        assert!(v.resolve("usr/bin/dangling").is_none());
        assert_eq!(
            v.hard_links().collect::<Vec<_>>(),
            vec![("usr/bin/python3", "usr/bin/python3.11")]
        );
    }

    #[test]
    fn file_replacing_a_directory_hides_its_content() {
        let mut v = MergedView::new();
        v.apply_layer(0, [("d/x".to_owned(), f("x"))]);
        v.apply_layer(1, [("d".to_owned(), f("d"))]);
        assert_eq!(v.files().count(), 1);
        assert!(v.resolve("d/x").is_none());
    }
}
