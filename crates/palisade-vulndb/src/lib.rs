//! Vulnerability feeds and the local database: importers (OSV JSON and bulk zips, Alpine
//! secdb) into one advisory model that keeps distro facts, and the database file a scan opens
//! read-only and an update replaces atomically.
//!
//! Not for: images, packages' discovery, matching policy. `palisade-version` orders versions;
//! this crate stores which versions each advisory names.
//!
//! ```no_run
//! use std::path::Path;
//! use palisade_vulndb::{Database, DatabaseBuilder, Limits, Timestamp, import_osv};
//!
//! let import = import_osv(Path::new("feeds/osv/PyPI/all.zip"), &Limits::default())?;
//! let mut builder = DatabaseBuilder::new(Path::new("vuln.db"));
//! builder.add(import, Timestamp::parse("2026-08-21T00:00:00Z").unwrap());
//! builder.finish()?;
//!
//! let db = Database::open_read_only(Path::new("vuln.db"))?;
//! for advisory in db.advisories_for("PyPI", "Django")? {
//!     println!("{advisory}");
//! }
//! # Ok::<(), palisade_vulndb::Error>(())
//! ```
//!
//! Building a database from feed inputs: [`add_feed`] tells an input's kind and imports it
//! into a [`DatabaseBuilder`]; [`import_feeds`] does a whole local import under the writers'
//! lock. With the `fetch` feature, the `update` module downloads the feeds first.
//!
//! # Database schema (version [`SCHEMA_VERSION`])
//!
//! - `meta(key, value)`: `schema_version`, `built` (newest `modified` of the data, not the
//!   clock, so the same feeds give the same file), `advisories` (their count).
//! - `feeds(name, source, records, snapshot, imported_at)`.
//! - `advisories(id, modified, json)`: the [`Advisory`] as JSON, checked again when read.
//! - `affected(ecosystem, name, advisory_id)`: which advisories name a package, by
//!   normalised name.
//! - `packages(ecosystem, name, candidates)`: the matcher's lookup, by normalised name: one
//!   binary record per package holding its [`MatchCandidate`]s (ids, ratings and only that
//!   package's entries) sorted by id, so a scan reads one row per package and never decodes
//!   whole advisories or JSON.
//! - `ecosystems(ecosystem, advisories, newest)`: per ecosystem, how many advisories name
//!   one of its packages and the newest `modified` among them, written with the rest so a
//!   scan's coverage costs one lookup per ecosystem.
//! - `enrichment(cve, json)`: NVD's [`Enrichment`] per CVE (CVSS, CWEs, status).
//! - `kev(cve, date_added, due_date, ransomware, json)`: the CISA KEV catalog.
//! - `epss(cve, score, percentile)`: FIRST EPSS scores.

#![deny(missing_docs)]

mod advisory;
mod alpine;
mod blob;
mod db;
mod debian;
mod detect;
mod epss;
mod error;
mod feed;
mod fingerprint;
mod import;
mod kev;
mod matcher;
mod nvd;
mod osv;
mod rpm_distro;
#[cfg(feature = "fetch")]
pub mod update;

pub use advisory::{
    Advisory, Affected, DistroFacts, DistroStatus, Provenance, Reference, Severity, SeverityKind,
    normalize_name,
};
pub use alpine::import_alpine_secdb;
pub use db::{
    Database, DatabaseBuilder, EcosystemSummary, FeedStatus, MatchCandidate, SCHEMA_VERSION,
    Status, WriteLock,
};
pub use debian::{debian_release_number, import_debian_tracker};
pub use detect::{FeedKind, detect_feed_kind};
pub use epss::{EpssImport, EpssScore, import_epss};
pub use error::Error;
pub use feed::{
    AddedFeed, ImportError, ImportEvent, ImportOptions, ImportReport, add_feed, import_feeds,
};
pub use fingerprint::{Changes, Fingerprints};
pub use import::{FeedInfo, Import, Limits};
pub use kev::{KevEntry, KevImport, import_kev};
pub use matcher::{
    Coverage, Finding, FindingPackage, FindingStatus, MatchReport, Matcher, NotCovered, Skip,
    VendorSeverity, lookup_keys,
};
pub use nvd::{CvssScore, Enrichment, EnrichmentImport, import_nvd};
pub use osv::{import_osv, parse_osv_record};
/// Feed timestamps are `palisade_image`'s one date-time type, re-exported for this crate's users.
pub use palisade_image::{Timestamp, TimestampError};
