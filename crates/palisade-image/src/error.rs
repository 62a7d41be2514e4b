//! Errors of this crate. Every variant names the input it concerns.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// Identifies a layer in messages: its position, digest and the image source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerContext {
    /// The image source as the user typed it (e.g. `oci-dir:/images/app`).
    pub source: String,
    /// Position of the layer, 0 for the lowest.
    pub index: usize,
    /// The layer blob's digest, when known.
    pub digest: Option<Digest>,
}

impl fmt::Display for LayerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // From 0, as every output numbers layers.
        write!(f, "layer {}", self.index)?;
        if let Some(d) = &self.digest {
            write!(f, " ({d})")?;
        }
        write!(f, " of {}", self.source)
    }
}

/// Everything that can go wrong while opening or reading an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source string could not be understood.
    #[error("invalid image source {input:?}: {reason}")]
    InvalidSource {
        /// What the user typed.
        input: String,
        /// Why it is invalid, with a hint.
        reason: String,
    },
    /// A file of the source could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A document (manifest, index, config, archive manifest) is not what the format requires.
    #[error("{what}: {reason}")]
    Malformed {
        /// Which document, in which source.
        what: String,
        /// What was expected.
        reason: String,
    },
    /// A media type this reader does not know.
    #[error("{what}: unsupported media type {media_type:?}")]
    UnsupportedMediaType {
        /// Which descriptor, in which source.
        what: String,
        /// The media type found.
        media_type: String,
    },
    /// A blob that a manifest names is not in the source.
    #[error("{source_name}: blob {digest} is missing ({detail})")]
    MissingBlob {
        /// The image source.
        source_name: String,
        /// The blob.
        digest: Digest,
        /// Where it was looked for.
        detail: String,
    },
    /// Content does not hash to the digest it was referenced by.
    #[error("{what}: digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// The digest the reference promised.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// Reading a layer failed (truncated, corrupt, or over a limit).
    #[error("reading {layer}: {source}")]
    LayerIo {
        /// The layer.
        layer: LayerContext,
        /// The cause.
        source: io::Error,
    },
    /// A layer is refused for a reason other than I/O.
    #[error("reading {layer}: {reason}")]
    Layer {
        /// The layer.
        layer: LayerContext,
        /// The reason.
        reason: String,
    },
    /// A layer entry that would escape the image root or is otherwise unsafe.
    #[error("{layer}: unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The layer.
        layer: LayerContext,
        /// The entry's path as stored.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An index has no manifest for the requested platform.
    #[error(
        "{source_name}: no image for platform {wanted}; the image has: {}",
        if available.is_empty() { "no platform information".to_owned() } else { available.join(", ") }
    )]
    PlatformNotFound {
        /// The image source.
        source_name: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms the index lists.
        available: Vec<String>,
    },
    /// The source holds several images, or not the one asked for.
    #[error("{source_name}: {reason}; available: {}", available.join(", "))]
    ImageNotFound {
        /// The image source.
        source_name: String,
        /// What went wrong.
        reason: String,
        /// What the source holds.
        available: Vec<String>,
    },
    /// A registry request failed.
    #[error("registry {url}: {reason}")]
    Registry {
        /// The URL requested.
        url: String,
        /// What happened, with the status and the registry's error message when there is one.
        reason: String,
    },
    /// An HTTP request (other than to a registry) failed or was refused by the transport
    /// policy (see [`crate::http`]).
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL requested (without credentials or query).
        url: String,
        /// What happened.
        reason: String,
    },
    /// A document exceeds the size this reader accepts.
    #[error("{what} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Which document.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn layer_io(layer: &LayerContext, source: io::Error) -> Error {
        Error::LayerIo {
            layer: layer.clone(),
            source,
        }
    }

    pub(crate) fn malformed(what: impl Into<String>, reason: impl fmt::Display) -> Error {
        Error::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
