//! One policy for every host: the policy file and every file it reads, as one bundle with one
//! digest, served by `palisade serve` (`GET /v1/policy`) and kept by each agent.
//!
//! Paths in a bundle are relative to the policy's directory, so the policy loads the same on
//! the agent as on the server. A dependency outside that directory cannot be distributed (the
//! server says which in `/readyz`). The digest covers every path and every byte:
//! `sha256("palisade bundle 1\n" + for each file in path order: path "\n" length "\n" bytes)`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The largest bundle accepted (the policy and its keys and Rego modules).
pub const MAX_BUNDLE_BYTES: usize = 8 << 20;
/// The most files in a bundle.
pub const MAX_BUNDLE_FILES: usize = 1000;

/// A policy and its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// `sha256:…` over the paths and contents.
    pub digest: String,
    /// The policy file's path in the bundle.
    pub policy: String,
    /// Every file, the policy included, by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    digest: String,
    policy: String,
    files: BTreeMap<String, String>,
}

fn digest_of(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    h.update(b"palisade bundle 1\n");
    for (path, bytes) in files {
        h.update(format!("{path}\n{}\n", bytes.len()));
        h.update(bytes);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A relative path without `..`, root or prefix components, written with `/`.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

impl Bundle {
    /// The bundle of a loaded policy: `policy` and its `dependencies`, which must all lie under
    /// the policy's directory.
    ///
    /// # Errors
    /// A dependency outside the policy's directory, an unreadable file, or a bundle too large.
    pub fn build(policy: &Path, dependencies: &[PathBuf]) -> Result<Bundle, String> {
        let dir = policy
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files = BTreeMap::new();
        let mut total = 0usize;
        let name = policy
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a file name", policy.display()))?
            .to_owned();
        for path in std::iter::once(policy).chain(dependencies.iter().map(PathBuf::as_path)) {
            let real =
                std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let rel = real
                .strip_prefix(&dir)
                .ok()
                .and_then(|r| r.to_str())
                .map(|r| r.replace(std::path::MAIN_SEPARATOR, "/"))
                .filter(|r| safe_relative(r))
                .ok_or_else(|| {
                    format!(
                        "{} is outside the policy's directory {}: agents cannot receive it (keep keys and Rego modules next to the policy)",
                        path.display(),
                        dir.display()
                    )
                })?;
            let bytes = std::fs::read(&real).map_err(|e| format!("{}: {e}", path.display()))?;
            total += bytes.len();
            if total > MAX_BUNDLE_BYTES || files.len() >= MAX_BUNDLE_FILES {
                return Err(format!(
                    "the policy and its files are larger than {} MiB or more than {MAX_BUNDLE_FILES} files",
                    MAX_BUNDLE_BYTES >> 20
                ));
            }
            files.insert(rel, bytes);
        }
        // The policy is named by its own path in the bundle (a symlinked policy keeps its name).
        let policy_rel = if files.contains_key(&name) {
            name
        } else {
            let real = std::fs::canonicalize(policy).map_err(|e| e.to_string())?;
            real.strip_prefix(&dir)
                .ok()
                .and_then(|r| r.to_str())
                .map(str::to_owned)
                .unwrap_or(name)
        };
        Ok(Bundle {
            digest: digest_of(&files),
            policy: policy_rel,
            files,
        })
    }

    /// The JSON served at `GET /v1/policy`.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            digest: self.digest.clone(),
            policy: self.policy.clone(),
            files: self
                .files
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        base64::engine::general_purpose::STANDARD.encode(v),
                    )
                })
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a served bundle, checking its size, its paths and its digest.
    ///
    /// # Errors
    /// What is wrong with it; a bundle that fails any check is never used.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, String> {
        if bytes.len() > MAX_BUNDLE_BYTES * 4 / 3 + 64 * 1024 {
            return Err("the policy bundle is too large".into());
        }
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| format!("not a policy bundle: {e}"))?;
        if wire.files.len() > MAX_BUNDLE_FILES {
            return Err(format!("more than {MAX_BUNDLE_FILES} files"));
        }
        let mut files = BTreeMap::new();
        for (path, b64) in wire.files {
            if !safe_relative(&path) {
                return Err(format!("unsafe path {path:?} in the policy bundle"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| format!("{path}: not base64: {e}"))?;
            files.insert(path, bytes);
        }
        if !files.contains_key(&wire.policy) {
            return Err(format!(
                "the bundle does not hold its policy {:?}",
                wire.policy
            ));
        }
        let digest = digest_of(&files);
        if digest != wire.digest {
            return Err(format!(
                "the bundle's digest {} does not match its content ({digest})",
                wire.digest
            ));
        }
        Ok(Bundle {
            digest,
            policy: wire.policy,
            files,
        })
    }

    /// Writes the bundle under `state_dir/bundles/<digest>/` (once; an existing complete copy
    /// is kept) and points `state_dir/current` at it, atomically. Returns the policy path
    /// through `current`.
    ///
    /// # Errors
    /// When the files cannot be written.
    pub fn install(&self, state_dir: &Path) -> Result<PathBuf, String> {
        let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
        let hex = self.digest.trim_start_matches("sha256:");
        let bundles = state_dir.join("bundles");
        std::fs::create_dir_all(&bundles).map_err(|e| io(&bundles, e))?;
        let target = bundles.join(hex);
        if !target.join(".complete").exists() {
            let tmp = bundles.join(format!(".tmp-{hex}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            for (rel, bytes) in &self.files {
                let path = tmp.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                let mut f = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
                f.write_all(bytes).map_err(|e| io(&path, e))?;
                f.sync_all().map_err(|e| io(&path, e))?;
            }
            std::os::unix::fs::symlink(&self.policy, tmp.join(".policy"))
                .map_err(|e| io(&tmp, e))?;
            std::fs::write(tmp.join(".complete"), &self.digest).map_err(|e| io(&tmp, e))?;
            let _ = std::fs::remove_dir_all(&target);
            std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
        }
        let link = state_dir.join("current");
        let tmp_link = state_dir.join(format!(".current-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp_link);
        std::os::unix::fs::symlink(Path::new("bundles").join(hex), &tmp_link)
            .map_err(|e| io(&tmp_link, e))?;
        std::fs::rename(&tmp_link, &link).map_err(|e| io(&link, e))?;
        Ok(link.join(".policy"))
    }

    /// The digest of the bundle `state_dir/current` points at, when there is a complete one.
    #[must_use]
    pub fn installed(state_dir: &Path) -> Option<String> {
        std::fs::read_to_string(state_dir.join("current").join(".complete")).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("policy.yaml"), "version: 1\n").unwrap();
        std::fs::write(dir.path().join("keys/k.pub"), "key").unwrap();
        let b = Bundle::build(
            &dir.path().join("policy.yaml"),
            &[dir.path().join("keys/k.pub")],
        )
        .unwrap();
        assert_eq!(b.policy, "policy.yaml");
        assert_eq!(b.files.len(), 2);
        let back = Bundle::from_json(&b.to_json()).unwrap();
        assert_eq!(back, b);
        let tampered = String::from_utf8(b.to_json()).unwrap().replace(
            &base64::engine::general_purpose::STANDARD.encode("key"),
            "eHh4",
        );
        assert!(
            Bundle::from_json(tampered.as_bytes())
                .unwrap_err()
                .contains("does not match")
        );
        let evil = br#"{"digest":"x","policy":"../p","files":{"../p":""}}"#;
        assert!(Bundle::from_json(evil).unwrap_err().contains("unsafe path"));
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("o.pub"), "o").unwrap();
        assert!(
            Bundle::build(
                &dir.path().join("policy.yaml"),
                &[outside.path().join("o.pub")]
            )
            .unwrap_err()
            .contains("outside the policy's directory")
        );
        let state = tempfile::tempdir().unwrap();
        let p = b.install(state.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "version: 1\n");
        assert_eq!(
            Bundle::installed(state.path()).as_deref(),
            Some(b.digest.as_str())
        );
        assert_eq!(
            std::fs::read_to_string(state.path().join("current/keys/k.pub")).unwrap(),
            "key"
        );
    }
}
