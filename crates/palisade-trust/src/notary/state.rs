//! The highest metadata versions seen per collection, so a server (or an attacker in front of
//! it) cannot roll a collection back to older, validly signed metadata.
//!
//! One small JSON file, `notary-versions.json` in the directory the caller passes (the cache
//! directory): `{"<gun>": {"root": 3, "timestamp": 9, …}}`. It is keyed by the collection's
//! name only, so the same collection served by another server is held to the same versions.
//! It is written (atomically, by rename) only after a whole chain verified.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The file name inside the state directory.
pub const STATE_FILE: &str = "notary-versions.json";
/// Largest state file read.
const MAX_STATE_BYTES: u64 = 4 << 20;

/// Highest versions seen: gun -> role -> version.
#[derive(Debug, Default)]
pub(crate) struct State {
    path: PathBuf,
    seen: BTreeMap<String, BTreeMap<String, u64>>,
}

impl State {
    /// Reads the state in `dir` (none yet: empty).
    pub(crate) fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join(STATE_FILE);
        let seen = match std::fs::File::open(&path) {
            Ok(f) => {
                let mut bytes = Vec::new();
                f.take(MAX_STATE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if bytes.len() as u64 > MAX_STATE_BYTES {
                    return Err(format!(
                        "{} is larger than {MAX_STATE_BYTES} bytes",
                        path.display()
                    ));
                }
                serde_json::from_slice(&bytes).map_err(|e| {
                    format!(
                        "{} is not a Notary version state file ({e}); remove it to start over \
                         (rollback protection restarts from what is served next)",
                        path.display()
                    )
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Self { path, seen })
    }

    /// Refuses `version` of `role` in `gun` when a higher one was seen.
    pub(crate) fn check(&self, gun: &str, role: &str, version: u64) -> Result<(), String> {
        match self.seen.get(gun).and_then(|r| r.get(role)) {
            Some(&highest) if version < highest => Err(format!(
                "{role}.json version {version} is older than version {highest} seen before: \
                 a rollback (stale mirror or replayed metadata). If the collection was deleted \
                 and created anew on purpose, remove its entry from {}",
                self.path.display()
            )),
            _ => Ok(()),
        }
    }

    /// Records the versions of a verified chain and writes the file.
    pub(crate) fn record(
        &mut self,
        gun: &str,
        versions: &BTreeMap<String, u64>,
    ) -> Result<(), String> {
        let entry = self.seen.entry(gun.to_owned()).or_default();
        for (role, &v) in versions {
            let slot = entry.entry(role.clone()).or_insert(v);
            *slot = (*slot).max(v);
        }
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let bytes = serde_json::to_vec_pretty(&self.seen).map_err(|e| e.to_string())?;
        let tmp = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_lower_versions_after_recording() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path()).unwrap();
        assert!(s.check("r/app", "targets", 1).is_ok());
        let v: BTreeMap<String, u64> = [("targets".to_owned(), 5), ("root".to_owned(), 2)].into();
        s.record("r/app", &v).unwrap();
        let s = State::load(dir.path()).unwrap();
        assert!(s.check("r/app", "targets", 5).is_ok());
        assert!(s.check("r/app", "targets", 6).is_ok());
        let e = s.check("r/app", "targets", 4).unwrap_err();
        assert!(e.contains("older than version 5"), "{e}");
        assert!(s.check("r/other", "targets", 1).is_ok());
        std::fs::write(dir.path().join(STATE_FILE), "nope").unwrap();
        assert!(State::load(dir.path()).unwrap_err().contains("remove it"));
    }
}
