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
