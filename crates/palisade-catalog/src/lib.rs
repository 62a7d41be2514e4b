//! Finds what is installed in an image: the operating system, OS packages (dpkg, apk) and
//! language packages (Python, npm, Go binaries), each with the files that show it and the
//! layer that introduced it; and writes the result as an SBOM (CycloneDX 1.6, SPDX 2.3, or
//! Palisade's own JSON). Not for: where files came from (that is `palisade-image`) or
//! vulnerabilities.
//!
//! ```no_run
//! use palisade_catalog::{catalog_image, CatalogOptions, NoProgress};
//!
//! let image = palisade_image::open("oci-dir:target/testbed/oci:base", &Default::default())?;
//! let catalog = catalog_image(&image, &CatalogOptions::default(), &NoProgress)?;
//! for p in &catalog.packages {
//!     println!("{} {} {}", p.ecosystem, p.name, p.version);
//! }
//! # Ok::<(), palisade_image::Error>(())
//! ```
//!
//! Traps this crate handles:
//! - Debian advisories are filed per *source* package: every dpkg package carries its source
//!   name and version (from `Source: name (version)`, defaulting to its own).
//! - A file owned by an OS package (dpkg `.list`, apk `R:` lines) is not reported again as a
//!   language package.
//! - `etc/os-release` is usually a symlink to `../usr/lib/os-release`: lookups go through the
//!   merged view, which follows links inside the image root only.

mod cache;
mod catalog;
mod catalogers;
#[doc(hidden)]
pub mod fuzzing;
mod license;
mod package;
mod purl;
mod sbom;

pub use cache::LayerCache;
pub use catalog::{
    ADVANCED_EVERY, Catalog, CatalogOptions, LayerEvent, LayerInfo, NoProgress, Problem, Progress,
    SourceInfo, catalog_image, counts, evidence_paths,
};
pub use catalogers::CATALOGER_VERSION;
pub use catalogers::python::normalise_name as normalise_python_name;
pub use package::{Distro, Ecosystem, LayerRef, Location, Package, SourcePackage};
pub use sbom::{
    MAX_SBOM_BYTES, MAX_SBOM_COMPONENTS, MAX_SBOM_LIST_ITEMS, MAX_SBOM_NAME_BYTES,
    MAX_SBOM_PURL_BYTES, MAX_SBOM_TEXT_BYTES, MAX_SBOM_VERSION_BYTES, SbomError, SbomFormat,
    SbomRead, SkippedComponent, read_sbom, read_sbom_components, spdx_created, to_cyclonedx,
    to_spdx,
};
