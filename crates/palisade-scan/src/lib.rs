//! The scan pipeline, one library for every place that scans: source → image → catalog →
//! match → one typed, scored [`Finding`] (severity and its source, CVSS, EPSS, KEV, status) →
//! suppressions (ignore file and VEX, as data with their reasons) → a [`Report`], plus the
//! scan-result cache that makes a warm scan cost only its catalog.
//!
//! `palisade scan`, `palisade gate` and the server all call this crate, so the same image and
//! database give the same findings wherever they are decided on.
//!
//! Not for: rendering (tables, SARIF, CycloneDX and JUnit belong to the binary), exit codes,
//! terminals or HTTP; the policy decision (`palisade-gate` and `palisade-policy`). Warnings and
//! progress go through an [`Observer`]; this crate never prints.
//!
//! ```no_run
//! use palisade_scan::{Filters, IgnoreList, Report, Scanner, SourceOptions, VexSet, VulnDb};
//!
//! let db = VulnDb::new("vuln.db".into());
//! let options = SourceOptions::default();
//! let scanner = Scanner::new(&db, &options, &palisade_scan::Silent);
//! let image = palisade_scan::open_image("oci-archive:app.tar", &options)?;
//! let (catalog, evaluated) = scanner.scan_image(&image)?;
//! let report = Report::new(&catalog, evaluated, &Filters::default(), IgnoreList::default(), &VexSet::default());
//! for f in &report.findings {
//!     println!("{} {} {}: {}", f.package.name, f.id, f.severity, f.fix_text());
//! }
//! # Ok::<(), palisade_scan::Error>(())
//! ```

mod cache;
mod error;
mod finding;
mod ignore;
mod report;
mod scanner;
mod score;
mod source;
mod upgrade;
mod vex;

pub use cache::{DEFAULT_MAX_MIB as DEFAULT_SCAN_CACHE_MAX_MIB, MAX_ENTRY_BYTES};
pub use error::{Error, Result};
pub use finding::{
    Coverage, Cvss, CvssSource, DbSummary, Epss, Finding, NotCovered, Package, Severity,
    SeveritySource, Skipped, Status,
};
pub use ignore::{ExpiredIgnore, IgnoreEntry, IgnoreList, MAX_IGNORE_FILE_BYTES, today};
pub use report::{
    Action, AdvisoryText, Filters, PackageUpgrade, Report, Suppressed, advisory_texts,
    package_upgrades, severity_order, staleness,
};
pub use scanner::{Evaluated, Scanner, VulnDb};
pub use source::{
    Source, SourceOptions, catalog_image, distro_name, load_catalog, open_image, read_sbom_file,
};
pub use upgrade::{Upgrade, upgrade};
pub use vex::{MAX_VEX_FILE_BYTES, Statement, VexAnnotation, VexSet, VexStatus};

use palisade_catalog::{LayerEvent, Problem, Progress};

/// Where the pipeline reports what is not an error but the user should know: warnings (an
/// unmatched SBOM component, a cache that could not be written) and layer progress. The CLI
/// prints them on standard error; a server logs them.
pub trait Observer: Sync {
    /// A warning, one line, without a `warning:` prefix.
    fn warning(&self, text: &str);

    /// Progress for reading the layers of `image` (a directory is one layer); dropped when
    /// done.
    fn layers(&self, image: &palisade_image::Image) -> Box<dyn Progress + '_> {
        let _ = image;
        Box::new(Silent)
    }
}

/// An [`Observer`] that drops everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn warning(&self, _text: &str) {}
}

impl Progress for Silent {
    fn event(&self, _event: LayerEvent) {}
}

/// One line describing a catalog problem: `layer N: PATH: message`.
#[must_use]
pub fn problem_line(p: &Problem) -> String {
    let mut s = String::new();
    if let Some(l) = p.layer {
        s.push_str(&format!("layer {l}: "));
    }
    if let Some(path) = &p.path {
        s.push_str(&format!("{path}: "));
    }
    s.push_str(&p.message);
    s
}
