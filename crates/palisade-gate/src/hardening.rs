//! The image's hardening results under the policy's profile, cached by image and profile: the
//! files of every layer are read once per image, not once per decision.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use palisade_harden::check::{CheckResult, TargetKind};
use palisade_harden::image::ImageFacts;
use palisade_harden::report::Report;
use palisade_harden::target::Target as _;
use palisade_image::Image;
use palisade_policy::{CheckInput, HardeningInput};
use palisade_scan::Observer;
use sha2::{Digest as _, Sha256};

use crate::{Gate, Result};

/// Largest hardening cache entry read.
const MAX_HARDEN_ENTRY: u64 = 8 << 20;

pub(crate) fn harden(
    gate: &Gate<'_>,
    source: &str,
    image: &Image,
    observer: &dyn Observer,
) -> Result<HardeningInput> {
    let profile = gate
        .policy
        .hardening_profile(gate.environment)
        .unwrap_or_default();
    let cache = cache_path(gate, source, image, &format!("{profile:?}"));
    if let Some(path) = &cache
        && let Some(hit) = read_cached(path)
    {
        return Ok(hit);
    }
    // The same call as `palisade bench image`.
    let report = ImageFacts::from_image(image, source)?.report(&profile)?;
    let results = check_inputs(&report);
    let out = HardeningInput { results };
    if let Some(path) = &cache
        && let Err(err) = write_cached(path, &out)
    {
        observer.warning(&format!("hardening cache not written: {err}"));
    }
    Ok(out)
}

/// The policy's inputs for a hardening report, one [`CheckInput`] per result in report
/// order: what [`Gate::gather`] puts in `input.hardening.results` for an image, and what the
/// admission webhook and the Docker authorization plugin hand to
/// [`palisade_policy::Policy::evaluate_checks`] for workload, container-request, host and
/// daemon reports, so every enforcement point judges the same results alike.
#[must_use]
pub fn check_inputs(report: &Report) -> Vec<CheckInput> {
    report
        .results
        .iter()
        .map(|r| check_input(report.target, r))
        .collect()
}

/// One result as a policy input, its title, level and remediation taken from the check
/// list entry of `target` (results of no known check get level 1 and no title): for results
/// that do not come in a [`Report`] (a workload's per-container results). `status` is the
/// serialised word (`fail`, `not-applicable`), `message` the evidence details joined by `; `.
#[must_use]
pub fn check_input(target: TargetKind, result: &CheckResult) -> CheckInput {
    let def = palisade_harden::check_list::find(result.id, target);
    CheckInput {
        id: result.id.to_owned(),
        title: def.map(|d| d.title.to_owned()).unwrap_or_default(),
        status: result.status.as_str().to_owned(),
        level: def.map_or(1, |d| d.level.number()),
        message: result
            .evidence
            .iter()
            .map(|e| e.detail.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        remediation: def.map(|d| d.remediation.to_owned()).unwrap_or_default(),
    }
}

/// `<cache>/gate/<sha256>.json`, keyed by the version, the config and layer digests (checked
/// when the image was opened), the source and the profile; none for sources without digests.
fn cache_path(gate: &Gate<'_>, source: &str, image: &Image, profile: &str) -> Option<PathBuf> {
    let config = image.config_digest()?;
    let root = gate.options.cache_root()?;
    let mut h = Sha256::new();
    h.update(format!(
        "palisade {} gate hardening 1\nconfig {config}\n",
        env!("CARGO_PKG_VERSION")
    ));
    for l in image.layers() {
        h.update(format!("layer {:?}\n", l.diff_id));
    }
    h.update(format!("source {source}\nprofile {profile}\n"));
    Some(
        root.join("gate")
            .join(format!("{}.json", hex::encode(h.finalize()))),
    )
}

fn read_cached(path: &Path) -> Option<HardeningInput> {
    let f = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_HARDEN_ENTRY + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_HARDEN_ENTRY {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

fn write_cached(path: &Path, value: &HardeningInput) -> std::result::Result<(), String> {
    let dir = path.parent().ok_or("cache path has no parent")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("creating a file in {}: {e}", dir.display()))?;
    serde_json::to_writer(&mut tmp, value).map_err(|e| e.to_string())?;
    tmp.persist(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}
