//! `palisade scan sbom:FILE`: an SBOM's components matched by their purls, and every
//! component that cannot be matched listed under `skipped` with a warning on standard error
//! (issue 13.8). The reader bounds every string it keeps (issue 13.3); see
//! [`palisade_catalog::read_sbom_components`].

use std::io::{self, Write};

use anyhow::Result;
use palisade_catalog::Catalog;

use crate::SourceArgs;
use crate::scan::{SkipOut, VulnDb, evaluate_catalog};
use crate::scan_cache::Evaluated;

/// Warnings printed one per line; the rest are counted.
const MAX_WARNING_LINES: usize = 20;

/// Reads `sbom:PATH`, matches what can be matched (through the scan-result cache) and adds the
/// components that cannot be to the evaluation's `skipped`, after the matcher's.
pub(crate) fn scan_sbom(
    vulndb: &VulnDb,
    source: &str,
    source_args: &SourceArgs,
) -> Result<(Catalog, Evaluated)> {
    let path = source.strip_prefix("sbom:").unwrap_or(source);
    let bytes = crate::read_limited(path)?;
    let read = palisade_catalog::read_sbom_components(&bytes, path)?;
    let mut evaluated = evaluate_catalog(vulndb, &read.catalog, source_args)?;
    let mut lines: Vec<String> = read
        .catalog
        .problems
        .iter()
        .map(crate::output::problem_line)
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
    let mut stderr = io::stderr().lock();
    for line in lines.iter().take(MAX_WARNING_LINES) {
        writeln!(stderr, "warning: {path}: {line}")?;
    }
    if lines.len() > MAX_WARNING_LINES {
        writeln!(
            stderr,
            "warning: {path}: {} more (see `skipped` in --format json)",
            lines.len() - MAX_WARNING_LINES
        )?;
    }
    evaluated
        .skipped
        .extend(read.skipped.into_iter().map(|s| SkipOut {
            package: s.name,
            version: s.version,
            advisory_id: None,
            reason: format!("{}: {}", s.location, s.reason),
        }));
    Ok((read.catalog, evaluated))
}
