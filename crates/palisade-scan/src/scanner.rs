//! Source → catalog → match → scored findings, through the scan-result cache.

use std::path::{Path, PathBuf};

use palisade_catalog::Catalog;
use palisade_image::Image;
use palisade_vulndb::{Database, Matcher};

use crate::cache::ScanCache;
use crate::error::{Error, Result};
use crate::finding::{Coverage, DbSummary, Finding, NotCovered, Skipped};
use crate::source::{SourceOptions, catalog_image, read_sbom_file};
use crate::{Observer, score};

/// Every finding of one catalog against one database, scored, before any filter, ignore file
/// or VEX (which every run applies anew): what the scan-result cache holds.
#[derive(Clone, Debug)]
pub struct Evaluated {
    /// The scored findings, in the matcher's order.
    pub findings: Vec<Finding>,
    /// Package entries that could not be evaluated.
    pub skipped: Vec<Skipped>,
    /// What the database holds for each ecosystem of the packages.
    pub coverage: Vec<Coverage>,
    /// The packages no advisory in the database could be about.
    pub not_covered: Vec<NotCovered>,
    /// The database the findings came from.
    pub db: DbSummary,
}

/// The vulnerability database, opened read-only on first use: a warm scan answered from the
/// scan-result cache never opens it.
#[derive(Debug)]
pub struct VulnDb {
    path: PathBuf,
    opened: std::sync::OnceLock<(Database, palisade_vulndb::Status)>,
}

impl VulnDb {
    /// The database file at `path`, not opened yet.
    #[must_use]
    pub fn new(path: PathBuf) -> VulnDb {
        VulnDb {
            path,
            opened: std::sync::OnceLock::new(),
        }
    }

    /// Where the database lives unless told otherwise: `$XDG_DATA_HOME/palisade/vuln.db`,
    /// else `~/.local/share/palisade/vuln.db`; `None` when neither variable is usable.
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })?;
        Some(data.join("palisade").join("vuln.db"))
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get(&self) -> Result<&(Database, palisade_vulndb::Status)> {
        if let Some(opened) = self.opened.get() {
            return Ok(opened);
        }
        let db = Database::open_read_only(&self.path)?;
        let status = db.status()?;
        Ok(self.opened.get_or_init(|| (db, status)))
    }

    /// The open database.
    pub fn database(&self) -> Result<&Database> {
        Ok(&self.get()?.0)
    }
}

/// The scan pipeline for one database and one set of source options.
pub struct Scanner<'a> {
    db: &'a VulnDb,
    options: &'a SourceOptions,
    observer: &'a dyn Observer,
}

impl<'a> Scanner<'a> {
    /// A scanner reading `db`, opening and caching as `options` say, reporting warnings and
    /// progress to `observer`.
    #[must_use]
    pub fn new(db: &'a VulnDb, options: &'a SourceOptions, observer: &'a dyn Observer) -> Self {
        Scanner {
            db,
            options,
            observer,
        }
    }

    /// The scan-result cache, unless `no_cache` (or no cache directory is known).
    fn cache(&self) -> Option<ScanCache> {
        if self.options.no_cache {
            None
        } else {
            ScanCache::new(
                self.options.cache_dir.clone(),
                self.options.scan_cache_max_mib,
            )
        }
    }

    /// Matches a catalog against the database and scores every finding, before any filter;
    /// read from (and written to) the scan-result cache, keyed by the package list. For
    /// images, [`Scanner::scan_image`] keys by the image instead.
    pub fn evaluate_catalog(&self, catalog: &Catalog) -> Result<Evaluated> {
        let cache = self.cache();
        let key = cache
            .as_ref()
            .and_then(|_| ScanCache::key(self.db.path(), catalog));
        let cached = cache.as_ref().zip(key.as_deref());
        if let Some(hit) = cached.and_then(|(c, k)| c.load(k)) {
            return Ok(hit);
        }
        self.match_and_store(catalog, cached, || ScanCache::key(self.db.path(), catalog))
    }

    /// Catalogs `image` and evaluates its catalog as [`Scanner::evaluate_catalog`] does, with
    /// the scan-result cache keyed by the image's identity, so the entry is read while the
    /// catalog is built instead of after it.
    pub fn scan_image(&self, image: &Image) -> Result<(Catalog, Evaluated)> {
        let cache = self.cache();
        let key = cache
            .as_ref()
            .and_then(|_| ScanCache::image_key(self.db.path(), image));
        let Some((cache, key)) = cache.as_ref().zip(key.as_deref()) else {
            let catalog = self.catalog(image)?;
            let evaluated = self.evaluate_catalog(&catalog)?;
            return Ok((catalog, evaluated));
        };
        let (catalog, hit) = std::thread::scope(|scope| {
            let loading = scope.spawn(|| cache.load(key));
            let catalog = self.catalog(image);
            let hit = loading
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (catalog, hit)
        });
        let catalog = catalog?;
        if let Some(hit) = hit {
            return Ok((catalog, hit));
        }
        let evaluated = self.match_and_store(&catalog, Some((cache, key)), || {
            ScanCache::image_key(self.db.path(), image)
        })?;
        Ok((catalog, evaluated))
    }

    /// Reads an SBOM file, matches what can be matched (through the scan-result cache) and
    /// adds the components that cannot be to the evaluation's `skipped`, after the matcher's;
    /// each of those, and each problem of the document, is a warning.
    pub fn scan_sbom(&self, path: &str) -> Result<(Catalog, Evaluated)> {
        /// Warnings reported one by one; the rest are counted.
        const MAX_WARNING_LINES: usize = 20;
        let bytes = read_sbom_file(path)?;
        let read = palisade_catalog::read_sbom_components(&bytes, path)?;
        let mut evaluated = self.evaluate_catalog(&read.catalog)?;
        let mut lines: Vec<String> = read
            .catalog
            .problems
            .iter()
            .map(crate::problem_line)
            .collect();
        for s in &read.skipped {
            lines.push(if s.version.is_empty() {
                format!("{}: {}: not matched: {}", s.location, s.name, s.reason)
            } else {
                format!(
                    "{}: {} {}: not matched: {}",
                    s.location, s.name, s.version, s.reason
                )
            });
        }
        for line in lines.iter().take(MAX_WARNING_LINES) {
            self.observer.warning(&format!("{path}: {line}"));
        }
        if lines.len() > MAX_WARNING_LINES {
            self.observer.warning(&format!(
                "{path}: {} more (see `skipped` in --format json)",
                lines.len() - MAX_WARNING_LINES
            ));
        }
        evaluated
            .skipped
            .extend(read.skipped.into_iter().map(|s| Skipped {
                package: s.name,
                version: s.version,
                advisory_id: None,
                reason: format!("{}: {}", s.location, s.reason),
            }));
        Ok((read.catalog, evaluated))
    }

    fn catalog(&self, image: &Image) -> Result<Catalog> {
        let progress = self.observer.layers(image);
        catalog_image(image, self.options, progress.as_ref())
    }

    /// Matches and scores `catalog`, then stores the result under `key`, but only if `key_now`
    /// still gives that key: an update may have renamed a new database into place since.
    fn match_and_store(
        &self,
        catalog: &Catalog,
        cached: Option<(&ScanCache, &str)>,
        key_now: impl Fn() -> Option<String>,
    ) -> Result<Evaluated> {
        let (db, status) = self.db.get()?;
        let report = Matcher::new(db)
            .match_packages(&catalog.packages, catalog.distro.as_ref())
            .map_err(|source| Error::DbRead {
                what: "matching packages".to_owned(),
                source: Box::new(source),
            })?;
        let findings = report
            .findings
            .into_iter()
            .map(|f| score::score(db, f))
            .collect::<Result<Vec<_>>>()?;
        let skipped = report
            .skipped
            .into_iter()
            .map(|s| Skipped {
                package: s.package.name,
                version: s.package.version,
                advisory_id: s.advisory_id,
                reason: s.reason,
            })
            .collect();
        let coverage = report
            .coverage
            .iter()
            .map(|c| Coverage {
                ecosystem: c.ecosystem.clone(),
                packages: c.packages,
                covered: c.covered(),
                advisories: c.advisories,
                newest: c.newest.as_ref().map(ToString::to_string),
                reason: c.reason.clone(),
            })
            .collect();
        let not_covered = report
            .not_covered
            .into_iter()
            .map(|n| NotCovered {
                name: n.package.name,
                version: n.package.version,
                kind: n.package.ecosystem.to_string(),
                purl: n.package.purl,
                ecosystem: n.ecosystem,
            })
            .collect();
        let e = Evaluated {
            findings,
            skipped,
            coverage,
            not_covered,
            db: DbSummary {
                schema_version: status.schema_version,
                built: status.built.as_ref().map(ToString::to_string),
            },
        };
        if let Some((c, k)) = cached
            && key_now().as_deref() == Some(k)
            && let Err(err) = c.store(k, &e)
        {
            self.observer
                .warning(&format!("scan cache not written: {err}"));
        }
        Ok(e)
    }
}
