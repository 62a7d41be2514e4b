//! Cataloging an image: read each layer once (or take it from the cache), stack the layers,
//! and turn what the catalogers extracted into the package list.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use palisade_image::{Entry, EntryVisitor, Image, MergedView, Node};
use serde::{Deserialize, Serialize};

use crate::cache::LayerCache;
use crate::catalogers::{Extractor, FileData, Found, os};
use crate::package::{Distro, Ecosystem, LayerRef, Location, Package};
use crate::purl::purl;

/// How to catalog.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    /// The layer cache; `None` reads every layer.
    pub cache: Option<LayerCache>,
    /// Layers read at the same time (0: one per CPU).
    pub threads: usize,
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerEvent {
    /// A layer is being read; `size` is its stored size when known.
    Reading {
        /// Layer position.
        index: usize,
        /// Stored size.
        size: Option<u64>,
    },
    /// Part of a layer was read: `entries` and `bytes` (uncompressed) so far. Sent about
    /// every [`ADVANCED_EVERY`] entries while a layer (or directory) is being read.
    Advanced {
        /// Layer position.
        index: usize,
        /// Entries (files, directories, links) seen so far in this layer.
        entries: u64,
        /// Uncompressed bytes of the files seen so far in this layer.
        bytes: u64,
    },
    /// A layer is done.
    Done {
        /// Layer position.
        index: usize,
        /// Whether the result came from the cache.
        cached: bool,
        /// Entries read (0 when the result came from the cache).
        entries: u64,
        /// Uncompressed bytes read (0 when the result came from the cache).
        bytes: u64,
    },
}

/// How many entries pass between two [`LayerEvent::Advanced`] events.
pub const ADVANCED_EVERY: u64 = 2048;

/// Counts what a layer walk has seen, for [`LayerEvent::Advanced`], before handing each
/// entry to the visitor it wraps. The counters are shared by the threads of a directory walk.
struct Counting<'a, V> {
    inner: V,
    progress: &'a dyn Progress,
    index: usize,
    entries: &'a AtomicU64,
    bytes: &'a AtomicU64,
}

impl<V> Counting<'_, V> {
    fn count(&self, entry: &Entry<'_>) {
        // Sizes come from layer headers: added without overflowing (the atomics wrap).
        let entries = self.entries.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let bytes = self
            .bytes
            .fetch_add(entry.size, Ordering::Relaxed)
            .wrapping_add(entry.size);
        if entries.is_multiple_of(ADVANCED_EVERY) {
            self.progress.event(LayerEvent::Advanced {
                index: self.index,
                entries,
                bytes,
            });
        }
    }
}

impl<V: EntryVisitor> EntryVisitor for Counting<'_, V> {
    fn visit(&mut self, entry: &Entry<'_>, content: &mut dyn std::io::Read) -> std::io::Result<()> {
        self.count(entry);
        self.inner.visit(entry, content)
    }

    fn visit_file(&mut self, entry: &Entry<'_>, path: &std::path::Path) -> std::io::Result<()> {
        self.count(entry);
        self.inner.visit_file(entry, path)
    }
}

/// Receives [`LayerEvent`]s.
pub trait Progress: Sync {
    /// Called from the worker threads.
    fn event(&self, event: LayerEvent);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: LayerEvent) {}
}

/// A layer of the cataloged image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Position, 0 for the lowest.
    pub index: usize,
    /// Blob digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Diff ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// Stored size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The build step that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What was cataloged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The source as given, in prefixed form.
    pub name: String,
    /// The image's name (tag or reference), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Platform manifest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// Config digest (image ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    /// `os/architecture` from the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<LayerInfo>,
}

/// A problem that did not stop the catalog: a file that could not be parsed, a cache that
/// could not be written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// The layer, when the problem is in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The file concerned (absolute path in the image), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// The result: OS, packages and problems, in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// What was cataloged.
    pub source: SourceInfo,
    /// The operating system, when one was recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    /// Packages, sorted by ecosystem, name, version and PURL.
    pub packages: Vec<Package>,
    /// Problems that did not stop the catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

type Nodes = Vec<(String, Node<FileData>)>;
/// A layer's recorded nodes and whether they came from the cache.
type LayerResult = Result<(Nodes, bool), palisade_image::Error>;

/// Catalogs `image`.
///
/// # Errors
/// When a layer cannot be read safely (I/O, digest mismatch, unsafe entry, limits). Problems in
/// single files are reported in [`Catalog::problems`] instead.
pub fn catalog_image(
    image: &Image,
    options: &CatalogOptions,
    progress: &dyn Progress,
) -> Result<Catalog, palisade_image::Error> {
    let layers = image.layers();
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        n => n,
    }
    .min(layers.len().max(1));
    let results: Mutex<Vec<Option<LayerResult>>> =
        Mutex::new((0..layers.len()).map(|_| None).collect());
    let cache_problems: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);

    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= layers.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let layer = &layers[i];
                    let cache = options.cache.as_ref().filter(|_| !image.is_directory());
                    let cached = match (cache, &layer.diff_id) {
                        (Some(c), Some(d)) => c.load(d),
                        _ => None,
                    };
                    let result = if let Some(nodes) = cached {
                        progress.event(LayerEvent::Done {
                            index: i,
                            cached: true,
                            entries: 0,
                            bytes: 0,
                        });
                        Ok((nodes, true))
                    } else {
                        progress.event(LayerEvent::Reading {
                            index: i,
                            size: layer.size,
                        });
                        match read_layer(image, i, options, progress) {
                            Ok((extractor, stats)) => {
                                if let (Some(c), Some(diff_id)) = (cache, &stats.diff_id)
                                    && let Err(e) = c.store(diff_id, &extractor.nodes)
                                    && let Ok(mut p) = cache_problems.lock()
                                {
                                    p.push(Problem {
                                        layer: Some(i),
                                        path: None,
                                        message: format!(
                                            "could not write the layer cache in {}: {e}",
                                            c.dir().display()
                                        ),
                                    });
                                }
                                progress.event(LayerEvent::Done {
                                    index: i,
                                    cached: false,
                                    entries: stats.entries,
                                    bytes: stats.uncompressed_size,
                                });
                                Ok((extractor.nodes, false))
                            }
                            Err(e) => {
                                failed.store(true, Ordering::SeqCst);
                                Err(e)
                            }
                        }
                    };
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });

    let results = results.into_inner().unwrap_or_default();
    let mut records: Vec<Nodes> = Vec::with_capacity(layers.len());
    for r in results {
        match r {
            Some(Ok((nodes, _))) => records.push(nodes),
            Some(Err(e)) => return Err(e),
            None => {
                // A worker stopped early because another layer failed; that error is above.
                return Err(palisade_image::Error::Layer {
                    layer: image.layer_context(records.len()),
                    reason: "not read because another layer failed".into(),
                });
            }
        }
    }
    let mut problems = cache_problems.into_inner().unwrap_or_default();
    let catalog = assemble(image, records, &mut problems);
    Ok(Catalog {
        problems: finish_problems(problems),
        ..catalog
    })
}

/// Reads layer `index` into an [`Extractor`]. A directory is read by several threads (one
/// layer, many files: the files are where the time goes), their findings put in path order.
fn read_layer(
    image: &Image,
    index: usize,
    options: &CatalogOptions,
    progress: &dyn Progress,
) -> Result<(Extractor, palisade_image::LayerStats), palisade_image::Error> {
    let entries = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let counting = |inner| Counting {
        inner,
        progress,
        index,
        entries: &entries,
        bytes: &bytes,
    };
    if image.is_directory() {
        let (visitors, stats) =
            image.walk_directory(options.threads, &|| counting(Extractor::new()))?;
        let mut extractor = Extractor::new();
        extractor.nodes = visitors.into_iter().flat_map(|c| c.inner.nodes).collect();
        extractor.nodes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((extractor, stats))
    } else {
        let mut c = counting(Extractor::new());
        let stats = image.walk_layer(index, &mut c)?;
        Ok((c.inner, stats))
    }
}

fn finish_problems(mut p: Vec<Problem>) -> Vec<Problem> {
    p.sort();
    p.dedup();
    p
}

/// What stays the same about a package across layers.
type Identity = (Ecosystem, String, String, Option<String>);

/// The identity a package keeps across layers: used to find the layer that introduced it.
fn identity(f: &Found) -> Identity {
    (
        f.ecosystem,
        f.name.clone(),
        f.version.clone(),
        f.arch.clone(),
    )
}

fn found_in(data: &FileData) -> &[Found] {
    match data {
        FileData::Packages(p) | FileData::Database { parsed: p, .. } => &p.packages,
        _ => &[],
    }
}

fn assemble(image: &Image, records: Vec<Nodes>, problems: &mut Vec<Problem>) -> Catalog {
    // Earliest layer in which each package appears in the same file (a package database is
    // rewritten by every layer that installs something; the package came with the first).
    let mut first_seen: HashMap<(Identity, String), usize> = HashMap::new();
    for (i, nodes) in records.iter().enumerate() {
        for (path, node) in nodes {
            if let Node::File(data) = node {
                for f in found_in(data) {
                    first_seen.entry((identity(f), path.clone())).or_insert(i);
                }
            }
        }
    }

    let mut view: MergedView<FileData> = MergedView::new();
    for (i, nodes) in records.into_iter().enumerate() {
        view.apply_layer(i, nodes);
    }

    let distro = find_distro(&view);

    let mut owned: HashSet<&str> = HashSet::new();
    for (_, _, data) in view.files() {
        match data {
            FileData::OwnedFiles(files) | FileData::Database { owned: files, .. } => {
                owned.extend(files.iter().map(String::as_str));
            }
            _ => {}
        }
    }

    let layer_ref = |index: usize| LayerRef {
        index,
        diff_id: image
            .layers()
            .get(index)
            .and_then(|l| l.diff_id.as_ref())
            .map(ToString::to_string),
    };
    let is_dir = image.is_directory();

    let mut merged: BTreeMap<(Ecosystem, String, String, String), Package> = BTreeMap::new();
    for (path, layer, data) in view.files() {
        let abs = format!("/{path}");
        match data {
            FileData::Error(message) => problems.push(Problem {
                layer: (!is_dir).then_some(layer),
                path: Some(abs.clone()),
                message: message.clone(),
            }),
            FileData::Packages(parsed) | FileData::Database { parsed, .. } => {
                for w in &parsed.warnings {
                    problems.push(Problem {
                        layer: (!is_dir).then_some(layer),
                        path: Some(abs.clone()),
                        message: w.clone(),
                    });
                }
                for f in &parsed.packages {
                    // Files owned by an OS package are that package's, not a second package.
                    if !f.ecosystem.is_os() && owned.contains(path) {
                        continue;
                    }
                    let Some(purl) = purl(f, distro.as_ref()) else {
                        problems.push(Problem {
                            layer: (!is_dir).then_some(layer),
                            path: Some(abs.clone()),
                            message: format!(
                                "package {:?} {:?} has no valid package URL; skipped",
                                f.name, f.version
                            ),
                        });
                        continue;
                    };
                    let introduced = first_seen
                        .get(&(identity(f), path.to_owned()))
                        .copied()
                        .unwrap_or(layer);
                    let location = Location {
                        path: abs.clone(),
                        layer: (!is_dir).then_some(layer),
                    };
                    let key = (f.ecosystem, f.name.clone(), f.version.clone(), purl.clone());
                    let entry = merged.entry(key).or_insert_with(|| Package {
                        ecosystem: f.ecosystem,
                        name: f.name.clone(),
                        version: f.version.clone(),
                        purl,
                        arch: f.arch.clone(),
                        source: f.source.clone(),
                        licenses: Vec::new(),
                        locations: Vec::new(),
                        layer: (!is_dir).then(|| layer_ref(introduced)),
                    });
                    entry.locations.push(location);
                    for l in &f.licenses {
                        if !entry.licenses.contains(l) {
                            entry.licenses.push(l.clone());
                        }
                    }
                    if let Some(lr) = &mut entry.layer
                        && introduced < lr.index
                    {
                        *lr = layer_ref(introduced);
                    }
                }
            }
            FileData::OsRelease(_)
            | FileData::ReleaseFile { .. }
            | FileData::OwnedFiles(_)
            | FileData::Licenses(_) => {}
        }
    }
    // A Debian package's licences are in its copyright file (the doc directory may be a
    // symlink to another package's, as Debian does for `-dev` packages).
    for ((eco, name, _, _), p) in &mut merged {
        if *eco != Ecosystem::Deb || !p.licenses.is_empty() {
            continue;
        }
        if let Some((_, _, FileData::Licenses(ls))) =
            view.resolve(&format!("usr/share/doc/{name}/copyright"))
        {
            p.licenses.clone_from(ls);
        }
    }

    let packages = merged
        .into_values()
        .map(|mut p| {
            p.locations.sort();
            p.locations.dedup();
            p.licenses.sort();
            p
        })
        .collect();

    Catalog {
        source: source_info(image),
        distro,
        packages,
        problems: Vec::new(),
    }
}

fn find_distro(view: &MergedView<FileData>) -> Option<Distro> {
    let os_release = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| match view.resolve(p) {
            Some((_, _, FileData::OsRelease(fields))) => Some(os::distro_from_os_release(fields)),
            _ => None,
        });
    let release_file = os::RELEASE_FILES
        .iter()
        .find_map(|(p, _)| match view.resolve(p) {
            Some((_, _, FileData::ReleaseFile { distro, line })) => {
                Some((distro.clone(), line.clone()))
            }
            _ => None,
        });
    match (os_release, release_file) {
        (Some(mut d), Some((id, line))) => {
            if d.id == id || d.id_like.contains(&id) {
                d.detail_version = Some(line);
            }
            Some(d)
        }
        (Some(d), None) => Some(d),
        (None, Some((id, line))) => Some(os::distro_from_release_file(&id, &line)),
        (None, None) => None,
    }
}

fn source_info(image: &Image) -> SourceInfo {
    let config = image.config();
    SourceInfo {
        name: image.source().to_owned(),
        reference: image.reference().map(str::to_owned),
        manifest_digest: image.manifest_digest().map(ToString::to_string),
        config_digest: image.config_digest().map(ToString::to_string),
        platform: (!config.os.is_empty()).then(|| format!("{}/{}", config.os, config.architecture)),
        layers: if image.is_directory() {
            Vec::new()
        } else {
            image
                .layers()
                .iter()
                .map(|l| LayerInfo {
                    index: l.index,
                    digest: l.digest.as_ref().map(ToString::to_string),
                    diff_id: l.diff_id.as_ref().map(ToString::to_string),
                    size: l.size,
                    created_by: l.created_by.clone(),
                })
                .collect()
        },
    }
}

/// Counts of packages per ecosystem, for summaries.
#[must_use]
pub fn counts(catalog: &Catalog) -> BTreeMap<Ecosystem, usize> {
    let mut m = BTreeMap::new();
    for p in &catalog.packages {
        *m.entry(p.ecosystem).or_insert(0) += 1;
    }
    m
}

/// Every distinct location path, for tests and summaries.
#[must_use]
pub fn evidence_paths(catalog: &Catalog) -> BTreeSet<String> {
    catalog
        .packages
        .iter()
        .flat_map(|p| p.locations.iter().map(|l| l.path.clone()))
        .collect()
}
