//! The scan-result cache: the evaluated findings (before filters, ignore files and VEX, which
//! are applied on every run) of one package list against one vulnerability database, under
//! `$XDG_CACHE_HOME/palisade/scans/<key>.bin`.
//!
//! Entries are postcard, not JSON: a warm scan reads one on every run, and decoding the
//! app image's 113 findings as JSON took half a millisecond, as long as the rest of the scan
//! beyond the catalog. The entry types mirror the report's without its `skip_serializing_if`
//! fields, which a format without field names cannot read back.
//!
//! The key is a SHA-256 over this binary's version, the cache format, the database schema it
//! reads, the database file's identity (device, inode, size, modification and change times),
//! and what was scanned. For an image that is its catalog's identity: the catalogers' version,
//! the configuration digest and every layer's diff ID, known before the catalog is built, so
//! `palisade scan` and `palisade gate` read the entry while the catalog is built. For an SBOM or
//! a directory it is the distro and every package field that matching or a finding reads
//! (ecosystem, name, version, PURL, source package, layer). `palisade db update` and `db import` replace the
//! database by renaming a new file into place, so every update gives a new inode and a new key;
//! the change time also moves with any write in place, which no `utime` call can set back. A
//! warm scan therefore never opens the database: the entry holds the database summary the
//! report prints. Another image gives another key; an entry is never updated in place.
//!
//! Files are written to a temporary name and renamed, so concurrent scans read a whole entry or
//! none; an entry that does not decode, or holds bytes after its end, is ignored and rewritten. `--no-cache` (or `PALISADE_NO_CACHE`) skips the cache, as for layers.
//!
//! The directory is bounded: an entry larger than the per-entry cap (a quarter of the total
//! cap, at most [`MAX_ENTRY_BYTES`]) is not written, and after each write the least recently
//! used files (by modification time, which a hit moves forward) are removed until the
//! directory holds at most the total cap (`--scan-cache-max-mib`, default
//! [`DEFAULT_MAX_MIB`] MiB; 0 stores nothing).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use palisade_catalog::Catalog;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::{
    Coverage, Cvss, CvssSource, DbSummary, Epss, Finding, NotCovered, Package, Severity,
    SeveritySource, Skipped, Status,
};
use crate::scanner::Evaluated;

/// Why an entry was not written (the scan goes on; the caller warns).
type StoreResult = std::result::Result<(), String>;

/// Bumped whenever what a cache entry holds, or how it is derived, changes.
const FORMAT: u32 = 5;
/// An entry larger than this is neither written nor read (a scan's findings are far
/// smaller: the app image's 113 findings take a few kilobytes).
pub const MAX_ENTRY_BYTES: u64 = 32 << 20;
/// The default total size of the scan cache directory, in MiB.
pub const DEFAULT_MAX_MIB: u64 = 256;

/// The cache directory, or none (`--no-cache`, or no cache directory known).
#[derive(Debug)]
pub(crate) struct ScanCache {
    dir: PathBuf,
    /// The most bytes the directory holds after a write.
    max_total: u64,
}

impl ScanCache {
    /// `scans/` beside the layer cache (`cache_dir`, else the default location), holding at
    /// most `max_mib` MiB.
    pub(crate) fn new(cache_dir: Option<PathBuf>, max_mib: u64) -> Option<ScanCache> {
        let root = cache_dir.or_else(palisade_catalog::LayerCache::default_dir)?;
        Some(ScanCache {
            dir: root.join("scans"),
            max_total: max_mib.saturating_mul(1 << 20),
        })
    }

    /// The largest entry written: a quarter of the total, at most [`MAX_ENTRY_BYTES`].
    fn max_entry(&self) -> u64 {
        (self.max_total / 4).min(MAX_ENTRY_BYTES)
    }

    /// The key of `catalog` scanned against the database file at `db_path`; `None` when the
    /// file's identity cannot be read (the scan then opens it, and reports why it cannot).
    pub(crate) fn key(db_path: &Path, catalog: &Catalog) -> Option<String> {
        let meta = std::fs::metadata(db_path).ok()?;
        let mut h = Sha256::new();
        h.update(format!(
            "palisade {} scan cache {FORMAT} db schema {}\n",
            env!("CARGO_PKG_VERSION"),
            palisade_vulndb::SCHEMA_VERSION
        ));
        h.update(file_identity(&meta));
        h.update(serde_json::to_vec(&catalog.distro).ok()?);
        // Every package field that matching or a finding reads, length-prefixed (serializing
        // the whole catalog to hash it cost more than the rest of a warm scan).
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        for p in &catalog.packages {
            field(p.ecosystem.to_string().as_bytes());
            field(p.name.as_bytes());
            field(p.version.as_bytes());
            field(p.purl.as_bytes());
            match &p.source {
                Some(s) => {
                    field(s.name.as_bytes());
                    field(s.version.as_deref().unwrap_or("\u{0}").as_bytes());
                }
                None => field(b"\x00no source"),
            }
            match &p.layer {
                Some(l) => {
                    field(&(l.index as u64).to_le_bytes());
                    field(l.diff_id.as_deref().unwrap_or("").as_bytes());
                }
                None => field(b"\x00no layer"),
            }
        }
        Some(hex::encode(h.finalize()))
    }

    /// The key of `image`'s catalog scanned against the database file at `db_path`, known
    /// before the catalog is built: the catalogers' version, the image configuration's digest
    /// and every layer's diff ID, under the layer cache's trust (a warm catalog takes the same
    /// diff IDs from the same digest-checked configuration). `None` for a directory (never
    /// cached), a layer without a diff ID, or a database whose identity cannot be read.
    pub(crate) fn image_key(db_path: &Path, image: &palisade_image::Image) -> Option<String> {
        if image.is_directory() {
            return None;
        }
        let config = image.config_digest()?;
        let meta = std::fs::metadata(db_path).ok()?;
        let mut h = Sha256::new();
        h.update(format!(
            "palisade {} scan cache {FORMAT} db schema {} image catalog {}\n",
            env!("CARGO_PKG_VERSION"),
            palisade_vulndb::SCHEMA_VERSION,
            palisade_catalog::CATALOGER_VERSION
        ));
        h.update(file_identity(&meta));
        h.update(format!("config {config}\n"));
        for layer in image.layers() {
            h.update(format!("layer {}\n", layer.diff_id.as_ref()?));
        }
        Some(hex::encode(h.finalize()))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.bin"))
    }

    /// The entry for `key`, if there is a whole, readable one.
    pub(crate) fn load(&self, key: &str) -> Option<Evaluated> {
        let file = std::fs::File::open(self.path(key)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        let (entry, rest): (Entry, &[u8]) = postcard::take_from_bytes(&bytes).ok()?;
        if !rest.is_empty() {
            return None;
        }
        // A hit is a use: eviction removes the least recently used first. Best effort (a
        // read-only cache still answers).
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(self.path(key)) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        entry.into_evaluated()
    }

    /// Stores the entry for `key` (temporary file, then rename). A cache that cannot be
    /// written only costs the next scan its speed, so failures are returned for a warning.
    /// Entries over the per-entry cap are not written (an error, for the warning), and
    /// least recently used entries are removed to keep the directory within its total cap.
    pub(crate) fn store(&self, key: &str, value: &Evaluated) -> StoreResult {
        let bytes = postcard::to_stdvec(&EntryRef::from(value))
            .map_err(|e| format!("encoding the scan cache: {e}"))?;
        let max_entry = self.max_entry();
        if bytes.len() as u64 > max_entry {
            return Err(format!(
                "the result takes {} bytes, more than the {max_entry} bytes an entry may hold \
                 (a quarter of --scan-cache-max-mib, at most {} MiB)",
                bytes.len(),
                MAX_ENTRY_BYTES >> 20
            ));
        }
        let dir = self.dir.display();
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("creating {dir}: {e}"))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|e| format!("creating a file in {dir}: {e}"))?;
        tmp.write_all(&bytes)
            .map_err(|e| format!("writing the scan cache: {e}"))?;
        let path = self.path(key);
        tmp.persist(&path)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        self.evict(&path)
    }

    /// Removes the least recently used files until the directory holds at most the total
    /// cap; `keep` (the entry just written) is never removed.
    fn evict(&self, keep: &Path) -> StoreResult {
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        let mut total = 0u64;
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("listing {}: {e}", self.dir.display()))?;
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            total = total.saturating_add(meta.len());
            let path = entry.path();
            if path != keep {
                let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                files.push((used, meta.len(), path));
            }
        }
        if total <= self.max_total {
            return Ok(());
        }
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_total {
                break;
            }
            // Another scan may have removed it already.
            match std::fs::remove_file(&path) {
                Ok(()) => total = total.saturating_sub(len),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    total = total.saturating_sub(len);
                }
                Err(e) => return Err(format!("removing {}: {e}", path.display())),
            }
        }
        Ok(())
    }
}

/// A cache entry as stored (read side).
#[derive(Deserialize)]
struct Entry {
    findings: Vec<CachedFinding>,
    skipped: Vec<CachedSkip>,
    coverage: Vec<Coverage>,
    not_covered: Vec<NotCovered>,
    schema_version: u32,
    built: Option<String>,
}

/// A cache entry as stored (write side, borrowing the evaluation).
#[derive(Serialize)]
struct EntryRef<'a> {
    findings: Vec<CachedFindingRef<'a>>,
    skipped: Vec<CachedSkipRef<'a>>,
    coverage: &'a [Coverage],
    not_covered: &'a [NotCovered],
    schema_version: u32,
    built: Option<&'a str>,
}

/// [`Finding`] without its report-only fields (VEX annotation, evidence path).
#[derive(Deserialize)]
struct CachedFinding {
    id: String,
    aliases: Vec<String>,
    name: String,
    version: String,
    kind: String,
    purl: String,
    source_package: Option<String>,
    layer: Option<u64>,
    severity: Severity,
    severity_source: (u8, String, String),
    /// Score, vector, and the NVD CVE it came from (`None`: the advisory's own).
    cvss: Option<(f64, String, Option<String>)>,
    epss: Option<(f64, f64)>,
    status: String,
    fixed_versions: Vec<String>,
    kev: bool,
    why: String,
}

#[derive(Serialize)]
struct CachedFindingRef<'a> {
    id: &'a str,
    aliases: &'a [String],
    name: &'a str,
    version: &'a str,
    kind: &'a str,
    purl: &'a str,
    source_package: Option<&'a str>,
    layer: Option<u64>,
    severity: Severity,
    severity_source: (u8, &'a str, &'a str),
    cvss: Option<(f64, &'a str, Option<&'a str>)>,
    epss: Option<(f64, f64)>,
    status: &'static str,
    fixed_versions: &'a [String],
    kev: bool,
    why: &'a str,
}

#[derive(Deserialize)]
struct CachedSkip {
    package: String,
    version: String,
    advisory_id: Option<String>,
    reason: String,
}

#[derive(Serialize)]
struct CachedSkipRef<'a> {
    package: &'a str,
    version: &'a str,
    advisory_id: Option<&'a str>,
    reason: &'a str,
}

/// [`SeveritySource`] as a tag and two strings.
fn source_ref(s: &SeveritySource) -> (u8, &str, &str) {
    match s {
        SeveritySource::Vendor { vendor, rating } => (0, vendor, rating),
        SeveritySource::AdvisoryCvss => (1, "", ""),
        SeveritySource::NvdCvss => (2, "", ""),
        SeveritySource::None => (3, "", ""),
    }
}

fn source_from(tag: u8, vendor: String, rating: String) -> Option<SeveritySource> {
    Some(match tag {
        0 => SeveritySource::Vendor { vendor, rating },
        1 => SeveritySource::AdvisoryCvss,
        2 => SeveritySource::NvdCvss,
        3 => SeveritySource::None,
        _ => return None,
    })
}

impl<'a> From<&'a Evaluated> for EntryRef<'a> {
    fn from(e: &'a Evaluated) -> EntryRef<'a> {
        EntryRef {
            findings: e
                .findings
                .iter()
                .map(|f| CachedFindingRef {
                    id: &f.id,
                    aliases: &f.aliases,
                    name: &f.package.name,
                    version: &f.package.version,
                    kind: &f.package.kind,
                    purl: &f.package.purl,
                    source_package: f.package.source_package.as_deref(),
                    layer: f.package.layer.map(|l| l as u64),
                    severity: f.severity,
                    severity_source: source_ref(&f.severity_source),
                    cvss: f.cvss.as_ref().map(|c| {
                        (
                            c.score,
                            c.vector.as_str(),
                            match &c.source {
                                CvssSource::Advisory => None,
                                CvssSource::Nvd(cve) => Some(cve.as_str()),
                            },
                        )
                    }),
                    epss: f.epss.as_ref().map(|e| (e.score, e.percentile)),
                    status: f.status.as_str(),
                    fixed_versions: &f.fixed_versions,
                    kev: f.kev,
                    why: &f.why,
                })
                .collect(),
            skipped: e
                .skipped
                .iter()
                .map(|s| CachedSkipRef {
                    package: &s.package,
                    version: &s.version,
                    advisory_id: s.advisory_id.as_deref(),
                    reason: &s.reason,
                })
                .collect(),
            coverage: &e.coverage,
            not_covered: &e.not_covered,
            schema_version: e.db.schema_version,
            built: e.db.built.as_deref(),
        }
    }
}

impl Entry {
    /// The evaluation, or `None` when a field holds what no writer writes (a damaged entry
    /// is a miss).
    fn into_evaluated(self) -> Option<Evaluated> {
        let findings = self
            .findings
            .into_iter()
            .map(|f| {
                let (tag, vendor, rating) = f.severity_source;
                Some(Finding {
                    id: f.id,
                    aliases: f.aliases,
                    package: Package {
                        name: f.name,
                        version: f.version,
                        kind: f.kind,
                        purl: f.purl,
                        source_package: f.source_package,
                        layer: f.layer.and_then(|l| usize::try_from(l).ok()),
                    },
                    severity: f.severity,
                    severity_source: source_from(tag, vendor, rating)?,
                    cvss: f.cvss.map(|(score, vector, cve)| Cvss {
                        score,
                        vector,
                        source: cve.map_or(CvssSource::Advisory, CvssSource::Nvd),
                    }),
                    epss: f.epss.map(|(score, percentile)| Epss { score, percentile }),
                    status: Status::from_word(&f.status)?,
                    fixed_versions: f.fixed_versions,
                    kev: f.kev,
                    why: f.why,
                    vex: None,
                    evidence: None,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Evaluated {
            findings,
            skipped: self
                .skipped
                .into_iter()
                .map(|s| Skipped {
                    package: s.package,
                    version: s.version,
                    advisory_id: s.advisory_id,
                    reason: s.reason,
                })
                .collect(),
            coverage: self.coverage,
            not_covered: self.not_covered,
            db: DbSummary {
                schema_version: self.schema_version,
                built: self.built,
            },
        })
    }
}

/// What tells one database file from another, or from itself before a write.
fn file_identity(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!(
            "db file dev {} ino {} size {} mtime {}.{} ctime {}.{}\n",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        )
    }
    #[cfg(not(unix))]
    {
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("db file size {} mtime {modified}\n", meta.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_or_oversized_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ScanCache::new(Some(dir.path().to_path_buf()), DEFAULT_MAX_MIB).unwrap();
        let empty = Evaluated {
            findings: Vec::new(),
            skipped: Vec::new(),
            coverage: Vec::new(),
            not_covered: Vec::new(),
            db: DbSummary {
                schema_version: palisade_vulndb::SCHEMA_VERSION,
                built: None,
            },
        };
        cache.store("k", &empty).unwrap();
        assert!(cache.load("k").is_some());
        std::fs::write(cache.path("k"), b"{\"findings\": [").unwrap();
        assert!(cache.load("k").is_none());
        assert!(cache.load("missing").is_none());
        // A whole entry followed by anything else is not trusted either.
        cache.store("k", &empty).unwrap();
        let mut bytes = std::fs::read(cache.path("k")).unwrap();
        bytes.push(0);
        std::fs::write(cache.path("k"), bytes).unwrap();
        assert!(cache.load("k").is_none());
    }

    fn finding(n: usize) -> Finding {
        Finding {
            id: format!("GHSA-{n}"),
            aliases: vec![format!("CVE-2024-{n}"), "PYSEC-1".into()],
            package: Package {
                name: "openssl".into(),
                version: "3.0.11-1~deb12u2".into(),
                kind: "deb".into(),
                purl: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2".into(),
                source_package: n.is_multiple_of(2).then(|| "openssl".into()),
                layer: (!n.is_multiple_of(3)).then_some(n),
            },
            severity: Severity::High,
            severity_source: if n.is_multiple_of(3) {
                SeveritySource::Vendor {
                    vendor: "Debian security tracker".into(),
                    rating: "high".into(),
                }
            } else {
                SeveritySource::NvdCvss
            },
            cvss: (n % 2 == 1).then(|| Cvss {
                score: 7.5,
                vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H".into(),
                source: if n % 4 == 1 {
                    CvssSource::Advisory
                } else {
                    CvssSource::Nvd("CVE-2024-1".into())
                },
            }),
            epss: n.is_multiple_of(2).then_some(Epss {
                score: 0.25,
                percentile: 0.97,
            }),
            status: Status(if n.is_multiple_of(2) {
                palisade_vulndb::FindingStatus::Fixed
            } else {
                palisade_vulndb::FindingStatus::WontFix
            }),
            fixed_versions: vec!["3.0.13-1~deb12u1".into()],
            kev: n.is_multiple_of(2),
            why: format!("why {n}: \u{e9}\"quoted\""),
            vex: None,
            evidence: None,
        }
    }

    #[test]
    fn entries_round_trip_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ScanCache::new(Some(dir.path().to_path_buf()), DEFAULT_MAX_MIB).unwrap();
        let e = Evaluated {
            findings: (0..7).map(finding).collect(),
            skipped: vec![
                Skipped {
                    package: "x".into(),
                    version: "1".into(),
                    advisory_id: Some("GO-1".into()),
                    reason: "GIT range".into(),
                },
                Skipped {
                    package: "y".into(),
                    version: "2".into(),
                    advisory_id: None,
                    reason: "bad version".into(),
                },
            ],
            coverage: vec![
                Coverage {
                    ecosystem: "Debian:12".into(),
                    packages: 88,
                    covered: false,
                    advisories: 0,
                    newest: None,
                    reason: Some("no advisories".into()),
                },
                Coverage {
                    ecosystem: "PyPI".into(),
                    packages: 7,
                    covered: true,
                    advisories: 12,
                    newest: Some("2026-11-01T00:00:00Z".into()),
                    reason: None,
                },
            ],
            not_covered: vec![NotCovered {
                name: "bash".into(),
                version: "5.2.15-2+b7".into(),
                kind: "deb".into(),
                purl: "pkg:deb/debian/bash@5.2.15-2%2Bb7?distro=debian-12".into(),
                ecosystem: "Debian:12".into(),
            }],
            db: DbSummary {
                schema_version: 4,
                built: Some("2026-11-01T00:00:00Z".into()),
            },
        };
        cache.store("k", &e).unwrap();
        let back = cache.load("k").unwrap();
        // The report's JSON of both is the same: every field the report prints came back.
        let json = |e: &Evaluated| {
            serde_json::json!({
                "findings": e.findings,
                "skipped": e.skipped,
                "coverage": e.coverage,
                "not_covered": e.not_covered,
                "db": e.db,
            })
        };
        assert_eq!(json(&back), json(&e));
    }

    fn sized(n: usize) -> Evaluated {
        Evaluated {
            findings: Vec::new(),
            skipped: vec![Skipped {
                package: "x".repeat(n),
                version: "1".into(),
                advisory_id: None,
                reason: "r".into(),
            }],
            coverage: Vec::new(),
            not_covered: Vec::new(),
            db: DbSummary {
                schema_version: 1,
                built: None,
            },
        }
    }

    /// Issue 13.3: the directory stays within its total cap, least recently used first,
    /// and an entry over the per-entry cap is refused.
    #[test]
    fn issue_13_3_the_cache_is_capped_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        // 1 MiB in all, so entries up to 256 KiB.
        let cache = ScanCache::new(Some(dir.path().to_path_buf()), 1).unwrap();
        let err = cache.store("huge", &sized(300 << 10)).unwrap_err();
        assert!(
            format!("{err:#}").contains("more than the 262144 bytes"),
            "{err:#}"
        );
        assert!(!cache.path("huge").exists());
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for i in 0..4 {
            cache.store(&format!("k{i}"), &sized(250 << 10)).unwrap();
            // Distinct, increasing use times without waiting.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(cache.path(&format!("k{i}")))
                .unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(i * 60))
                .unwrap();
        }
        // A hit on the oldest makes it the most recently used.
        assert!(cache.load("k0").is_some());
        cache.store("k4", &sized(250 << 10)).unwrap();
        cache.store("k5", &sized(250 << 10)).unwrap();
        let total: u64 = std::fs::read_dir(&cache.dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 1 << 20, "{total}");
        assert!(cache.path("k0").exists(), "the entry just used was evicted");
        assert!(cache.path("k5").exists() && cache.path("k4").exists());
        assert!(!cache.path("k1").exists() && !cache.path("k2").exists());
        // 0 stores nothing.
        let none = ScanCache::new(Some(dir.path().join("zero")), 0).unwrap();
        assert!(none.store("k", &sized(1)).is_err());
    }

    #[test]
    fn a_database_replaced_or_written_gives_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vuln.db");
        std::fs::write(&db, b"one").unwrap();
        let catalog = Catalog::default();
        let first = ScanCache::key(&db, &catalog).unwrap();
        assert_eq!(ScanCache::key(&db, &catalog).unwrap(), first);
        // Same size and content, renamed into place as `db update` does: another inode.
        let new = dir.path().join("vuln.db.new");
        std::fs::write(&new, b"one").unwrap();
        std::fs::rename(&new, &db).unwrap();
        let second = ScanCache::key(&db, &catalog).unwrap();
        assert_ne!(second, first);
        // Written in place with the modification time set back: the change time still moves.
        let modified = std::fs::metadata(&db).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        std::io::Write::write_all(&mut &f, b"two").unwrap();
        f.set_modified(modified).unwrap();
        drop(f);
        assert_ne!(ScanCache::key(&db, &catalog).unwrap(), second);
        assert!(ScanCache::key(&dir.path().join("missing.db"), &catalog).is_none());
    }
}
