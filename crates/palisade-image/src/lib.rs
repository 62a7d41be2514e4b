//! Reads container images from any source, streams each layer once with its digest checked,
//! and offers a merged filesystem view of the files a caller asked for.
//!
//! Sources: OCI image layouts (`oci-dir:`), their tar form (`oci-archive:`), `docker save`
//! output (`docker-archive:`), unpacked root filesystems (`dir:`) and registries over the OCI
//! distribution API (`registry:`). Not for: packages, vulnerabilities or policy; those live
//! in the crates above this one.
//!
//! Secondarily it owns two small vocabularies that image names and image configs need first
//! and every crate above shares: [`Timestamp`], Palisade's one date-time type (RFC 3339 text
//! as written, ordered by instant; the clock; `YYYY-MM-DD` dates), and [`glob_match`], the one
//! glob syntax of policy files (`*` within a path segment, `**` across, `?` one character).
//!
//! Images are untrusted input. Nothing is ever unpacked to disk: a layer is read once, as a
//! stream, and each entry is handed to an [`EntryVisitor`] that keeps what it needs. Every
//! blob's digest and every layer's diff ID are verified while streaming; entries that would
//! escape the image root are errors; every size a document states is bounded before use.
//!
//! ```no_run
//! use palisade_image::{open, OpenOptions, EntryKind};
//!
//! let image = open("oci-dir:target/testbed/oci:base", &OpenOptions::default())?;
//! for layer in image.layers() {
//!     image.walk_layer(layer.index, &mut |entry: &palisade_image::Entry<'_>, _: &mut dyn std::io::Read| {
//!         if entry.kind == EntryKind::File && entry.path == "etc/debian_version" {
//!             // read the content here
//!         }
//!         Ok(())
//!     })?;
//! }
//! # Ok::<(), palisade_image::Error>(())
//! ```

mod digest;
mod dir;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod glob;
mod gzip;
pub mod http;
mod image;
mod layer;
mod manifest;
mod merge;
mod reference;
mod registry;
mod source;
mod tar;
mod timestamp;

pub use digest::{Algorithm, Digest, DigestParseError};
pub use error::{Error, LayerContext};
pub use glob::{
    Case, GlobError, GlobErrorKind, MAX_GLOB_BYTES, MAX_GLOB_TEXT_BYTES, check_glob, glob_match,
};
pub use http::{HttpClient, HttpOptions};
pub use image::{Image, Layer, MAX_WALK_THREADS, OpenOptions, Origin, open, open_spec};
pub use layer::{Compression, Entry, EntryKind, EntryVisitor, LayerStats, Limits};
pub use manifest::{
    ContainerConfig, Descriptor, History, ImageConfig, Index, MAX_DOCUMENT_BYTES, Manifest,
    Platform, RootFs, media_type,
};
pub use merge::{MergedView, Node};
pub use reference::{DOCKER_HUB, Reference, ReferenceError};
pub use registry::{RegistryClient, RegistryOptions};
pub use source::SourceSpec;
pub use timestamp::{MAX_TIMESTAMP_BYTES, Timestamp, TimestampError};
