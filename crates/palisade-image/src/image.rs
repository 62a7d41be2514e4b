//! Opening an image from any source and reading its layers.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, LayerContext};
use crate::layer::{EntryVisitor, LayerStats, Limits, walk_blob};
use crate::manifest::{
    Descriptor, Document, ImageConfig, MAX_DOCUMENT_BYTES, Manifest, Platform,
    check_config_platform, media_type, parse_document, select_platform,
};
use crate::registry::{RegistryOptions, RegistryStore};
use crate::source::SourceSpec;

/// How to open an image.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The platform to pick from multi-platform images.
    pub platform: Platform,
    /// The platform was asked for (`--platform`): an image whose configuration names another
    /// OS, architecture or variant is an error ([`Error::PlatformNotFound`], listing the
    /// platform it has), whether it is a single manifest or was picked from an index. When
    /// `false`, `platform` only picks from indexes and a single-platform image is taken as it
    /// is. Plain directories (`dir:`) have no configuration and are not checked.
    pub require_platform: bool,
    /// The image to pick from a docker archive with several images (a `RepoTags` entry),
    /// or from an OCI layout with several tags.
    pub image: Option<String>,
    /// Registry settings.
    pub registry: RegistryOptions,
    /// Limits for reading layers.
    pub limits: Limits,
    /// For a directory (`dir:`): paths left out, as globs relative to the directory
    /// ([`crate::glob_match`]: `*` stays within a path segment, `**` crosses them; a leading
    /// `/` or `./` is ignored). A matching directory is not entered. Images ignore it.
    pub exclude: Vec<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            platform: Platform::linux_amd64(),
            require_platform: false,
            image: None,
            registry: RegistryOptions::default(),
            limits: Limits::default(),
            exclude: Vec::new(),
        }
    }
}

/// Where a blob lives inside a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlobKey {
    /// Content-addressed.
    Digest(Digest),
    /// A member of an archive that is not content-addressed (old `docker save` layouts).
    Path(String),
}

/// A place blobs can be read from.
pub(crate) trait Store: Send + Sync {
    /// Opens a blob as stored (compressed layers stay compressed).
    fn open(&self, key: &BlobKey) -> Result<Box<dyn Read + Send + '_>, Error>;

    /// Reads a manifest or index by digest, checking the digest. Returns the bytes and the
    /// media type the store declares, if any.
    fn manifest(&self, digest: &Digest, what: &str) -> Result<(Vec<u8>, Option<String>), Error> {
        let bytes = read_document(self.open(&BlobKey::Digest(digest.clone()))?, what)?;
        verify(&bytes, digest, what)?;
        Ok((bytes, None))
    }
}

fn read_document(r: impl Read, what: &str) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    r.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::malformed(what, format!("reading failed: {e}")))?;
    if buf.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(Error::TooLarge {
            what: what.into(),
            size: buf.len() as u64,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(buf)
}

pub(crate) fn verify(bytes: &[u8], digest: &Digest, what: &str) -> Result<(), Error> {
    if digest.matches(bytes) {
        Ok(())
    } else {
        let actual = match digest.algorithm() {
            crate::digest::Algorithm::Sha256 => Digest::sha256_of(bytes),
            crate::digest::Algorithm::Sha512 => {
                let mut h = crate::digest::Hasher::new(digest.algorithm());
                h.update(bytes);
                h.finish()
            }
        };
        Err(Error::DigestMismatch {
            what: what.into(),
            expected: digest.clone(),
            actual,
        })
    }
}

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Position, 0 for the lowest layer.
    pub index: usize,
    /// Digest of the blob as stored, when the source is content-addressed.
    pub digest: Option<Digest>,
    /// Digest of the uncompressed tar, from the image configuration.
    pub diff_id: Option<Digest>,
    /// Media type, when the source states it.
    pub media_type: Option<String>,
    /// Size of the blob as stored, when known.
    pub size: Option<u64>,
    /// The build step that made the layer (history `created_by`).
    pub created_by: Option<String>,
    key: Option<BlobKey>,
}

enum Backend {
    Store(Box<dyn Store>),
    /// A directory and the globs left out of it.
    Dir(PathBuf, Vec<String>),
}

/// What kind of source an image was read from, which says how far its own name can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A registry: the reference it was fetched by names where it came from.
    Registry,
    /// An OCI image layout (directory or archive): its `ref.name` is words anyone can write,
    /// most often a tag alone (`latest`).
    Layout,
    /// A `docker save` archive: its `RepoTags` are words anyone can write.
    DockerArchive,
    /// A plain root filesystem: no name at all.
    Directory,
}

/// An opened image: its configuration and its layers, ready to be streamed.
pub struct Image {
    source: String,
    origin: Origin,
    reference: Option<String>,
    manifest_digest: Option<Digest>,
    config_digest: Option<Digest>,
    config: ImageConfig,
    config_raw: Vec<u8>,
    layers: Vec<Layer>,
    backend: Backend,
    limits: Limits,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("source", &self.source)
            .field("manifest_digest", &self.manifest_digest)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

/// Opens the image named by `source` (see [`SourceSpec::parse`]).
///
/// # Errors
/// When the source cannot be read, a document is malformed or a digest does not match.
pub fn open(source: &str, options: &OpenOptions) -> Result<Image, Error> {
    open_spec(&SourceSpec::parse(source)?, options)
}

/// Opens the image described by `spec`.
///
/// # Errors
/// As [`open`].
pub fn open_spec(spec: &SourceSpec, options: &OpenOptions) -> Result<Image, Error> {
    let origin = match spec {
        SourceSpec::Registry(_) => Origin::Registry,
        SourceSpec::OciDir { .. } | SourceSpec::OciArchive { .. } => Origin::Layout,
        SourceSpec::DockerArchive { .. } => Origin::DockerArchive,
        SourceSpec::Dir { .. } => Origin::Directory,
    };
    let mut image = open_by_kind(spec, options)?;
    image.origin = origin;
    Ok(image)
}

fn open_by_kind(spec: &SourceSpec, options: &OpenOptions) -> Result<Image, Error> {
    let name = spec.to_string();
    match spec {
        SourceSpec::Dir { path } => {
            let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            if !meta.is_dir() {
                return Err(Error::InvalidSource {
                    input: name,
                    reason: "not a directory".into(),
                });
            }
            Ok(Image {
                source: name,
                origin: Origin::Directory,
                reference: None,
                manifest_digest: None,
                config_digest: None,
                config: ImageConfig::default(),
                config_raw: Vec::new(),
                layers: vec![Layer {
                    index: 0,
                    digest: None,
                    diff_id: None,
                    media_type: None,
                    size: None,
                    created_by: None,
                    key: None,
                }],
                backend: Backend::Dir(
                    path.clone(),
                    options
                        .exclude
                        .iter()
                        .map(|g| {
                            g.trim_start_matches("./")
                                .trim_start_matches('/')
                                .trim_end_matches('/')
                                .to_owned()
                        })
                        .collect(),
                ),
                limits: options.limits,
            })
        }
        SourceSpec::OciDir { path, tag } => {
            let store = LayoutStore { root: path.clone() };
            let tag = tag.clone().or_else(|| options.image.clone());
            open_layout(Box::new(store), &name, tag.as_deref(), options)
        }
        SourceSpec::OciArchive { path, tag } => {
            let store = ArchiveStore::index(path)?;
            let tag = tag.clone().or_else(|| options.image.clone());
            open_layout(Box::new(store), &name, tag.as_deref(), options)
        }
        SourceSpec::DockerArchive { path, image } => {
            let mut options = options.clone();
            if image.is_some() {
                options.image.clone_from(image);
            }
            open_docker_archive(path, &name, &options)
        }
        SourceSpec::Registry(reference) => {
            let store = RegistryStore::connect(reference, &options.registry)?;
            let (bytes, declared, digest) =
                store.fetch_manifest(&reference.manifest_reference())?;
            let manifest_what = format!("manifest of {name}");
            let doc = parse_document(&bytes, declared.as_deref(), &manifest_what)?;
            let (manifest, manifest_digest) = resolve(&store, doc, digest, options, &name)?;
            finish(
                Box::new(store),
                &name,
                Some(reference.to_string()),
                manifest,
                manifest_digest,
                options,
            )
        }
    }
}

/// Follows indexes down to the manifest for the requested platform.
fn resolve(
    store: &dyn Store,
    mut doc: Document,
    mut digest: Digest,
    options: &OpenOptions,
    name: &str,
) -> Result<(Manifest, Digest), Error> {
    for _ in 0..4 {
        match doc {
            Document::Manifest(m) => return Ok((m, digest)),
            Document::Index(index) => {
                let d = select_platform(&index, &options.platform, name)?;
                let what = format!("manifest {} of {name}", d.digest);
                let (bytes, declared) = store.manifest(&d.digest, &what)?;
                let declared = declared.or_else(|| Some(d.media_type.clone()));
                doc = parse_document(&bytes, declared.as_deref(), &what)?;
                digest = d.digest.clone();
            }
        }
    }
    Err(Error::malformed(name, "indexes nested more than 4 deep"))
}

fn finish(
    store: Box<dyn Store>,
    name: &str,
    reference: Option<String>,
    manifest: Manifest,
    manifest_digest: Digest,
    options: &OpenOptions,
) -> Result<Image, Error> {
    let config_what = format!("config {} of {name}", manifest.config.digest);
    let config_raw = read_document(
        store.open(&BlobKey::Digest(manifest.config.digest.clone()))?,
        &config_what,
    )?;
    verify(&config_raw, &manifest.config.digest, &config_what)?;
    let config: ImageConfig =
        serde_json::from_slice(&config_raw).map_err(|e| Error::malformed(&config_what, e))?;
    check_config_platform(&config, options, name)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::malformed(
            &config_what,
            format!(
                "{} diff IDs for {} layers in the manifest",
                diff_ids.len(),
                manifest.layers.len()
            ),
        ));
    }
    let history = layer_history(&config);
    let layers = manifest
        .layers
        .iter()
        .enumerate()
        .map(|(i, d)| Layer {
            index: i,
            digest: Some(d.digest.clone()),
            diff_id: diff_ids.get(i).cloned(),
            media_type: Some(d.media_type.clone()),
            size: Some(d.size),
            created_by: history.get(i).cloned().flatten(),
            key: Some(BlobKey::Digest(d.digest.clone())),
        })
        .collect();
    Ok(Image {
        // Set by `open_spec`, which knows the source's kind.
        origin: Origin::Directory,
        source: name.into(),
        reference,
        manifest_digest: Some(manifest_digest),
        config_digest: Some(manifest.config.digest.clone()),
        config,
        config_raw,
        layers,
        backend: Backend::Store(store),
        limits: options.limits,
    })
}

/// The `created_by` of each non-empty history entry, in layer order.
fn layer_history(config: &ImageConfig) -> Vec<Option<String>> {
    config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone())
        .collect()
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn open_layout(
    store: Box<dyn Store>,
    name: &str,
    tag: Option<&str>,
    options: &OpenOptions,
) -> Result<Image, Error> {
    let what = format!("index.json of {name}");
    let bytes = read_document(store.open(&BlobKey::Path("index.json".into()))?, &what)?;
    let index: crate::manifest::Index =
        match parse_document(&bytes, Some(media_type::OCI_INDEX), &what)? {
            Document::Index(i) => i,
            Document::Manifest(_) => {
                return Err(Error::malformed(&what, "expected an image index"));
            }
        };
    let tag_of = |d: &Descriptor| d.annotations.get(REF_NAME).cloned();
    let chosen: Descriptor = if let Some(tag) = tag {
        index
            .manifests
            .iter()
            .find(|d| {
                tag_of(d)
                    .is_some_and(|t| t == tag || t.rsplit_once(':').is_some_and(|(_, x)| x == tag))
            })
            .cloned()
            .ok_or_else(|| Error::ImageNotFound {
                source_name: name.into(),
                reason: format!("no image tagged {tag:?}"),
                available: index.manifests.iter().filter_map(tag_of).collect(),
            })?
    } else if index.manifests.len() == 1 {
        index.manifests[0].clone()
    } else {
        let tags: Vec<String> = index.manifests.iter().filter_map(tag_of).collect();
        if tags.is_empty() {
            // A multi-platform layout: the index itself is the list.
            select_platform(&index, &options.platform, name)?.clone()
        } else {
            return Err(Error::ImageNotFound {
                source_name: name.into(),
                reason: "the layout holds several images; pick one with PATH:TAG or --image TAG"
                    .into(),
                available: tags,
            });
        }
    };
    let what = format!("manifest {} of {name}", chosen.digest);
    let (bytes, _) = store.manifest(&chosen.digest, &what)?;
    let doc = parse_document(&bytes, Some(&chosen.media_type), &what)?;
    let (manifest, digest) = resolve(store.as_ref(), doc, chosen.digest.clone(), options, name)?;
    finish(store, name, tag_of(&chosen), manifest, digest, options)
}

/// An OCI image layout on disk.
struct LayoutStore {
    root: PathBuf,
}

impl Store for LayoutStore {
    fn open(&self, key: &BlobKey) -> Result<Box<dyn Read + Send + '_>, Error> {
        let path = match key {
            BlobKey::Digest(d) => self
                .root
                .join("blobs")
                .join(d.algorithm().name())
                .join(d.hex()),
            BlobKey::Path(p) => self.root.join(p),
        };
        match File::open(&path) {
            Ok(f) => {
                // Only regular files: a blob that is a device or a FIFO (`/dev/zero`, a pipe)
                // would never end or never answer.
                let meta = f.metadata().map_err(|e| Error::io(&path, e))?;
                if !meta.is_file() {
                    return Err(Error::malformed(
                        path.display().to_string(),
                        "not a regular file (devices, FIFOs and directories are not blobs)",
                    ));
                }
                Ok(Box::new(BufReader::with_capacity(256 * 1024, f)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match key {
                BlobKey::Digest(d) => Err(Error::MissingBlob {
                    source_name: format!("oci-dir:{}", self.root.display()),
                    digest: d.clone(),
                    detail: format!("{} does not exist", path.display()),
                }),
                BlobKey::Path(_) => Err(Error::io(&path, e)),
            },
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

/// A tar archive whose members are read in place (it is indexed once, never extracted).
struct ArchiveStore {
    path: PathBuf,
    members: HashMap<String, (u64, u64)>,
    /// Symlinks and hard links between members (`docker save` links `<id>/layer.tar` to blobs).
    links: HashMap<String, String>,
}

/// Joins a link target onto the directory of the member holding it, inside the archive.
fn archive_link_target(member: &str, target: &str, hard: bool) -> Option<String> {
    let base = if hard || target.starts_with('/') {
        ""
    } else {
        member.rsplit_once('/').map_or("", |(d, _)| d)
    };
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

impl ArchiveStore {
    fn index(path: &Path) -> Result<ArchiveStore, Error> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut tar = crate::tar::TarReader::new(BufReader::with_capacity(256 * 1024, f));
        let mut members = HashMap::new();
        let mut links = HashMap::new();
        while let Some(e) = tar.next_entry().map_err(|e| Error::io(path, e))? {
            let name = String::from_utf8_lossy(&e.path);
            let name = name.trim_start_matches("./").to_owned();
            match e.typeflag {
                b'0' | 0 => {
                    members.insert(name, (tar.position(), e.size));
                }
                b'1' | b'2' => {
                    let target = String::from_utf8_lossy(&e.link);
                    let target = target.trim_start_matches("./");
                    if let Some(t) = archive_link_target(&name, target, e.typeflag == b'1') {
                        links.insert(name, t);
                    }
                }
                _ => {}
            }
            if members.len() + links.len() > 1_000_000 {
                return Err(Error::malformed(
                    path.display().to_string(),
                    "more than 1,000,000 members",
                ));
            }
        }
        Ok(ArchiveStore {
            path: path.into(),
            members,
            links,
        })
    }

    fn member_name(key: &BlobKey) -> String {
        match key {
            BlobKey::Digest(d) => format!("blobs/{}/{}", d.algorithm().name(), d.hex()),
            BlobKey::Path(p) => p.trim_start_matches("./").to_owned(),
        }
    }

    /// The offset and size of a member, following up to 8 links.
    fn lookup(&self, member: &str) -> Option<(u64, u64)> {
        let mut name = member.to_owned();
        for _ in 0..8 {
            if let Some(m) = self.members.get(&name) {
                return Some(*m);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

impl Store for ArchiveStore {
    fn open(&self, key: &BlobKey) -> Result<Box<dyn Read + Send + '_>, Error> {
        let member = Self::member_name(key);
        let Some((offset, size)) = self.lookup(&member) else {
            return Err(match key {
                BlobKey::Digest(d) => Error::MissingBlob {
                    source_name: self.path.display().to_string(),
                    digest: d.clone(),
                    detail: format!("no member {member} in the archive"),
                },
                BlobKey::Path(p) => Error::malformed(
                    self.path.display().to_string(),
                    format!("no member {p} in the archive"),
                ),
            });
        };
        let mut f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, f).take(size)))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn digest_from_member(member: &str) -> Option<Digest> {
    let rest = member
        .trim_start_matches("./")
        .strip_prefix("blobs/sha256/")?;
    Digest::sha256_from_hex(rest).ok()
}

fn open_docker_archive(path: &Path, name: &str, options: &OpenOptions) -> Result<Image, Error> {
    let store = ArchiveStore::index(path)?;
    let what = format!("manifest.json of {name}");
    let bytes = read_document(store.open(&BlobKey::Path("manifest.json".into()))?, &what)?;
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(&bytes).map_err(|e| Error::malformed(&what, e))?;
    let all_tags = |entries: &[DockerArchiveEntry]| -> Vec<String> {
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.repo_tags
                    .as_ref()
                    .and_then(|t| t.first().cloned())
                    .unwrap_or_else(|| format!("#{} (untagged)", i + 1))
            })
            .collect()
    };
    let entry = match &options.image {
        Some(wanted)
            if wanted
                .strip_prefix('@')
                .is_some_and(|n| n.parse::<usize>().is_ok()) =>
        {
            let n: usize = wanted[1..].parse().unwrap_or(0);
            n.checked_sub(1)
                .and_then(|i| entries.get(i))
                .ok_or_else(|| Error::ImageNotFound {
                    source_name: name.into(),
                    reason: format!("no image number {n} (numbers start at 1)"),
                    available: all_tags(&entries),
                })?
        }
        Some(wanted) => {
            let normalise = |s: &str| {
                s.parse::<crate::reference::Reference>()
                    .map(|r| r.to_string())
                    .ok()
            };
            let wanted_norm = normalise(wanted);
            entries
                .iter()
                .find(|e| {
                    e.repo_tags.as_ref().is_some_and(|tags| {
                        tags.iter().any(|t| {
                            t == wanted || (wanted_norm.is_some() && normalise(t) == wanted_norm)
                        })
                    })
                })
                .ok_or_else(|| Error::ImageNotFound {
                    source_name: name.into(),
                    reason: format!("no image named {wanted:?}"),
                    available: all_tags(&entries),
                })?
        }
        None => match entries.as_slice() {
            [one] => one,
            [] => return Err(Error::malformed(&what, "no images listed")),
            _ => {
                return Err(Error::ImageNotFound {
                    source_name: name.into(),
                    reason: "the archive holds several images; pick one with --image NAME".into(),
                    available: all_tags(&entries),
                });
            }
        },
    };
    let config_what = format!("config {} of {name}", entry.config);
    let config_raw = read_document(
        store.open(&BlobKey::Path(entry.config.clone()))?,
        &config_what,
    )?;
    // Old layouts name the config after its digest (`<hex>.json`), new ones store it as a blob.
    let config_digest = digest_from_member(&entry.config).or_else(|| {
        entry
            .config
            .strip_suffix(".json")
            .and_then(|h| Digest::sha256_from_hex(h).ok())
    });
    if let Some(d) = &config_digest {
        verify(&config_raw, d, &config_what)?;
    }
    let config: ImageConfig =
        serde_json::from_slice(&config_raw).map_err(|e| Error::malformed(&config_what, e))?;
    check_config_platform(&config, options, name)?;
    if config.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(Error::malformed(
            &config_what,
            format!(
                "{} diff IDs for {} layers in manifest.json",
                config.rootfs.diff_ids.len(),
                entry.layers.len()
            ),
        ));
    }
    let history = layer_history(&config);
    let layers = entry
        .layers
        .iter()
        .enumerate()
        .map(|(i, member)| Layer {
            index: i,
            digest: digest_from_member(member),
            diff_id: config.rootfs.diff_ids.get(i).cloned(),
            media_type: None,
            size: store.lookup(member.trim_start_matches("./")).map(|m| m.1),
            created_by: history.get(i).cloned().flatten(),
            key: Some(BlobKey::Path(member.clone())),
        })
        .collect();
    Ok(Image {
        // Set by `open_spec`, which knows the source's kind.
        origin: Origin::Directory,
        source: name.into(),
        reference: entry.repo_tags.as_ref().and_then(|t| t.first().cloned()),
        manifest_digest: None,
        config_digest,
        config,
        config_raw,
        layers,
        backend: Backend::Store(Box::new(store)),
        limits: options.limits,
    })
}

impl Image {
    /// The source as written back in prefixed form, e.g. `oci-dir:/images/app:latest`.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The image's name (registry reference, archive tag or layout ref name), when it has one.
    /// Only a registry's says where the image came from: see [`Image::registry_reference`].
    #[must_use]
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }

    /// What kind of source the image was read from.
    #[must_use]
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The reference the image was fetched by, for a registry image; `None` for local images,
    /// whose own tags anyone can write.
    #[must_use]
    pub fn registry_reference(&self) -> Option<&str> {
        (self.origin == Origin::Registry)
            .then_some(self.reference.as_deref())
            .flatten()
    }

    /// The digest of the platform manifest, when the source has manifests.
    #[must_use]
    pub fn manifest_digest(&self) -> Option<&Digest> {
        self.manifest_digest.as_ref()
    }

    /// The digest of the configuration (the image ID).
    #[must_use]
    pub fn config_digest(&self) -> Option<&Digest> {
        self.config_digest.as_ref()
    }

    /// The parsed configuration (empty for `dir:` sources).
    #[must_use]
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The configuration as stored.
    #[must_use]
    pub fn config_bytes(&self) -> &[u8] {
        &self.config_raw
    }

    /// The layers, lowest first (a `dir:` source has one layer without digests).
    #[must_use]
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Whether this image is an unpacked directory rather than layers.
    #[must_use]
    pub fn is_directory(&self) -> bool {
        matches!(self.backend, Backend::Dir(..))
    }

    /// A short description of layer `index` for messages.
    #[must_use]
    pub fn layer_context(&self, index: usize) -> LayerContext {
        LayerContext {
            source: self.source.clone(),
            index,
            digest: self
                .layers
                .get(index)
                .and_then(|l| l.digest.clone().or(l.diff_id.clone())),
        }
    }

    /// Streams layer `index` through `visitor`, verifying the blob digest and the diff ID.
    ///
    /// # Errors
    /// On I/O errors, unsafe entries, limits exceeded and digest mismatches. When an error is
    /// returned, whatever the visitor saw must be discarded.
    pub fn walk_layer(
        &self,
        index: usize,
        visitor: &mut dyn EntryVisitor,
    ) -> Result<LayerStats, Error> {
        let ctx = self.layer_context(index);
        let layer = self.layers.get(index).ok_or_else(|| Error::Layer {
            layer: ctx.clone(),
            reason: "no such layer".into(),
        })?;
        match &self.backend {
            Backend::Dir(root, exclude) => {
                crate::dir::walk_sequential(root, exclude, &ctx, visitor)
            }
            Backend::Store(store) => {
                let key = layer.key.as_ref().ok_or_else(|| Error::Layer {
                    layer: ctx.clone(),
                    reason: "layer has no location".into(),
                })?;
                let blob = store.open(key)?;
                // Never read more than the manifest promises (plus one byte to notice a lie).
                let blob: Box<dyn Read + Send + '_> = match layer.size {
                    Some(size) => Box::new(blob.take(size.saturating_add(1))),
                    None => blob,
                };
                let stats = walk_blob(
                    blob,
                    &ctx,
                    layer.digest.as_ref(),
                    layer.diff_id.as_ref(),
                    self.limits,
                    visitor,
                )?;
                if let Some(size) = layer.size.filter(|s| *s != stats.blob_size) {
                    return Err(Error::Layer {
                        layer: ctx,
                        reason: format!(
                            "the blob is {} bytes but the manifest says {size}",
                            stats.blob_size
                        ),
                    });
                }
                Ok(stats)
            }
        }
    }

    /// For a directory source (`dir:`): walks it with `threads` threads (0: one per CPU; at
    /// most [`MAX_WALK_THREADS`]),
    /// each handing its entries to its own visitor made by `make`, in no particular order.
    /// Returns the visitors that saw entries and the walk's totals. What is left out is what
    /// [`Image::walk_layer`] leaves out (see the `dir` module).
    ///
    /// # Errors
    /// When this is not a directory source, or on the first visitor error.
    pub fn walk_directory<V: EntryVisitor + Send>(
        &self,
        threads: usize,
        make: &(dyn Fn() -> V + Sync),
    ) -> Result<(Vec<V>, LayerStats), Error> {
        let ctx = self.layer_context(0);
        let Backend::Dir(root, exclude) = &self.backend else {
            return Err(Error::Layer {
                layer: ctx,
                reason: "not a directory source".into(),
            });
        };
        // The walk waits on the disk more than on the CPU; past eight threads it gains little
        // and each thread's visitor holds its own buffers.
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            n => n,
        }
        .min(MAX_WALK_THREADS);
        crate::dir::walk_parallel(root, exclude, &ctx, threads, make)
    }
}

/// The most threads that walk one directory source.
pub const MAX_WALK_THREADS: usize = 8;
