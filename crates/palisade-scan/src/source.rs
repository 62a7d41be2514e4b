//! What a scan reads: the one parser of a source argument (an image source, or an SBOM given
//! as `sbom:FILE` or as a JSON file), and opening and cataloging it with the caller's options.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use palisade_catalog::{Catalog, CatalogOptions, LayerCache, Progress};
use palisade_image::{Image, OpenOptions, Platform, RegistryOptions};

use crate::error::{Error, Result};

/// How sources are opened and cached: the settings every command that reads an image shares.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// The platform to pick from multi-platform images (`os/arch[/variant]`); when set, an
    /// image for another platform is an error. Default: linux/amd64, any single platform.
    pub platform: Option<String>,
    /// The image to pick from an archive or layout holding several.
    pub image: Option<String>,
    /// Registry hosts that may be reached over plain HTTP (loopback always may).
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) for registries.
    pub ca_file: Option<PathBuf>,
    /// The total time one registry request may take (default: the image crate's).
    pub http_timeout: Option<Duration>,
    /// Read every layer again and skip the scan-result and hardening caches.
    pub no_cache: bool,
    /// The cache directory (default: `$XDG_CACHE_HOME/palisade`).
    pub cache_dir: Option<PathBuf>,
    /// The most the scan-result cache holds, in MiB.
    pub scan_cache_max_mib: u64,
    /// A registry user and password given by the caller (the server's Harbor adapter gets
    /// them with each scan request); otherwise the Docker credential configuration is read.
    pub credentials: Option<(String, String)>,
    /// Paths left out of a directory source (`dir:`), as globs relative to it.
    pub exclude: Vec<String>,
}

impl SourceOptions {
    /// The registry settings (insecure hosts, CA file, deadline).
    #[must_use]
    pub fn registry(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure_registries.clone(),
            ca_file: self.ca_file.clone(),
            deadline: self.http_timeout,
            username: self.credentials.as_ref().map(|c| c.0.clone()),
            password: self.credentials.as_ref().map(|c| c.1.clone()),
            ..RegistryOptions::default()
        }
    }

    /// The cache root: `cache_dir`, else the default location; `None` with `no_cache`.
    #[must_use]
    pub fn cache_root(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(LayerCache::default_dir)
        }
    }
}

/// What a source argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// An SBOM file: `sbom:FILE`, or an existing file without a prefix whose content is a
    /// JSON document (an image archive is a tar).
    Sbom(&'a str),
    /// An image source (layout, archive, directory or registry reference), as
    /// [`palisade_image::SourceSpec`] parses it.
    Image(&'a str),
}

impl<'a> Source<'a> {
    /// Reads a source argument.
    #[must_use]
    pub fn parse(text: &'a str) -> Source<'a> {
        if let Some(path) = text.strip_prefix("sbom:") {
            return Source::Sbom(path);
        }
        if is_json_file(text) {
            Source::Sbom(text)
        } else {
            Source::Image(text)
        }
    }
}

fn is_json_file(path: &str) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let mut head = [0u8; 64];
    let Ok(n) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Opens an image source (layout, archive, directory or registry).
pub fn open_image(source: &str, options: &SourceOptions) -> Result<Image> {
    let platform: Platform = match &options.platform {
        Some(p) => p
            .parse()
            .map_err(|e: String| Error::Invalid(format!("--platform: {e}")))?,
        None => Platform::linux_amd64(),
    };
    let open = OpenOptions {
        platform,
        require_platform: options.platform.is_some(),
        image: options.image.clone(),
        registry: options.registry(),
        exclude: options.exclude.clone(),
        ..OpenOptions::default()
    };
    Ok(palisade_image::open(source, &open)?)
}

/// Catalogs an opened image, through the layer cache unless `no_cache`.
pub fn catalog_image(
    image: &Image,
    options: &SourceOptions,
    progress: &dyn Progress,
) -> Result<Catalog> {
    let catalog_options = CatalogOptions {
        cache: options.cache_root().map(LayerCache::new),
        threads: 0,
    };
    Ok(palisade_catalog::catalog_image(
        image,
        &catalog_options,
        progress,
    )?)
}

/// Reads an SBOM file's bytes, at most [`palisade_catalog::MAX_SBOM_BYTES`] and one more
/// (so the reader can say it is too large).
pub fn read_sbom_file(path: &str) -> Result<Vec<u8>> {
    read_capped(
        Path::new(path),
        palisade_catalog::MAX_SBOM_BYTES + 1,
        "opening",
    )
}

/// A file's bytes, at most `cap`.
pub(crate) fn read_capped(path: &Path, cap: u64, what: &'static str) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    })?;
    let mut buf = Vec::new();
    f.take(cap)
        .read_to_end(&mut buf)
        .map_err(|source| Error::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
    Ok(buf)
}

/// Opens and catalogs a source, or reads an SBOM; also returns the image's `created` time.
pub fn load_catalog(
    source: &str,
    options: &SourceOptions,
    observer: &dyn crate::Observer,
) -> Result<(Catalog, Option<String>)> {
    match Source::parse(source) {
        Source::Sbom(path) => {
            let bytes = read_sbom_file(path)?;
            Ok((palisade_catalog::read_sbom(&bytes, path)?, None))
        }
        Source::Image(source) => {
            let image = open_image(source, options)?;
            let progress = observer.layers(&image);
            let catalog = catalog_image(&image, options, progress.as_ref())?;
            Ok((catalog, image.config().created.clone()))
        }
    }
}

/// A catalog's distro as reports name it: its `PRETTY_NAME`, else `id-version`.
#[must_use]
pub fn distro_name(catalog: &Catalog) -> Option<String> {
    catalog
        .distro
        .as_ref()
        .map(|d| d.pretty_name.clone().unwrap_or_else(|| d.purl_qualifier()))
}
