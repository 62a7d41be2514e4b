//! GPG "simple signing" for `palisade verify` (`--gpg-keyring`, `--registries-d`,
//! `--lookaside`) and `palisade policy import-containers-policy`. The logic lives in
//! `palisade_trust::gpg` and `palisade_trust::containers_policy`; this module reads the flags
//! and files.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use palisade_image::{Digest, HttpOptions, Reference};
use palisade_trust::gpg::{GpgOptions, Keyring, RegistriesD, merge, verify_gpg};
use palisade_trust::payload::IdentityMatch;
use palisade_trust::verify::Verification;

/// The GPG options from the flags, or `None` when no keyring was given.
pub(crate) fn options(
    keyrings: &[PathBuf],
    registries_d: Option<&Path>,
    lookaside: Option<&str>,
    insecure: &[String],
    ca_file: Option<&PathBuf>,
) -> Result<Option<GpgOptions>> {
    if keyrings.is_empty() {
        return Ok(None);
    }
    let keyrings = keyrings
        .iter()
        .map(|p| Keyring::from_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    let registries_d = registries_d
        .map(|d| {
            RegistriesD::load(d).with_context(|| format!("reading registries.d {}", d.display()))
        })
        .transpose()?;
    Ok(Some(GpgOptions {
        keyrings,
        registries_d,
        lookaside: lookaside.map(str::to_owned),
        identity: IdentityMatch::default(),
        http: HttpOptions {
            insecure: insecure.to_vec(),
            ca_file: ca_file.cloned(),
            deadline: None,
        },
    }))
}

/// Adds the GPG signatures of the verified digest to `result` (or the hint about them).
pub(crate) fn add_to(
    result: &mut Verification,
    reference: &Reference,
    options: Option<&GpgOptions>,
    identity: IdentityMatch,
) -> Result<()> {
    let gpg = match options {
        Some(options) => {
            let digest: Digest = result
                .digest
                .parse()
                .with_context(|| format!("digest {:?}", result.digest))?;
            let options = GpgOptions {
                identity,
                ..options.clone()
            };
            Some(verify_gpg(reference, &digest, &options))
        }
        None => None,
    };
    merge(result, gpg);
    Ok(())
}

/// `palisade policy import-containers-policy FILE [-o OUT]`: exit 0, or 2 when refused.
pub(crate) fn import_containers_policy(file: &Path, output: Option<&Path>) -> Result<u8> {
    use std::io::Write as _;
    let bytes = palisade_trust::read_trust_file(
        file,
        palisade_trust::containers_policy::MAX_POLICY_JSON_BYTES as u64,
    )?;
    let base = file.parent().unwrap_or_else(|| Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let imported = palisade_trust::containers_policy::import(&bytes, &base)
        .with_context(|| format!("importing {}", file.display()))?;
    let mut err = std::io::stderr().lock();
    for w in &imported.warnings {
        writeln!(err, "palisade: {w}")?;
    }
    let dir = output
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    for (name, bytes) in &imported.files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    match output {
        Some(out) => std::fs::write(out, &imported.yaml)
            .with_context(|| format!("writing {}", out.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(imported.yaml.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(crate::exit::OK)
}
