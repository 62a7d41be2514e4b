//! What decides right now: the loaded policy and database, swapped whole on reload so one
//! request never sees half of two policies, and the reasons the server is not ready.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use palisade_policy::Policy;
use sha2::{Digest as _, Sha256};

/// One loaded policy (and the database it needs), immutable.
#[derive(Debug)]
pub struct Loaded {
    /// The policy.
    pub policy: Arc<Policy>,
    /// Hex SHA-256 over the policy file and every file it read: part of every cache key, so a
    /// changed key or Rego module changes every decision's key.
    pub policy_id: String,
    /// The vulnerability database, when configured.
    pub db_path: Option<PathBuf>,
    /// The database file's identity (device, inode, size, modification time): a new file put in
    /// place changes it.
    pub db_id: String,
    /// The fingerprints of every watched file, to notice changes.
    pub fingerprints: Vec<(PathBuf, Fingerprint)>,
    /// The policy and its files for agents, or why they cannot be distributed.
    pub bundle: Result<Arc<crate::bundle::Bundle>, String>,
}

/// What a file looks like from `stat`: enough to notice a replaced or rewritten file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Fingerprint {
    /// The file's fingerprint; a missing file has the zero fingerprint.
    #[must_use]
    pub fn of(path: &Path) -> Fingerprint {
        std::fs::metadata(path).map_or_else(
            |_| Fingerprint::default(),
            |m| Fingerprint {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            },
        )
    }
}

impl Loaded {
    /// Loads the policy at `policy_path` and checks the database `db` when the policy needs one.
    ///
    /// # Errors
    /// The policy's diagnostics (file:line:column), or why the database cannot be used.
    pub fn load(policy_path: &Path, db: Option<&Path>) -> Result<Loaded, String> {
        let before = Fingerprint::of(policy_path);
        let policy = Policy::load(policy_path).map_err(|e| e.to_string())?;
        let dependencies = policy.dependencies();
        let bundle = crate::bundle::Bundle::build(policy_path, &dependencies).map(Arc::new);
        let mut files = vec![policy_path.to_path_buf()];
        files.extend(dependencies);
        let mut h = Sha256::new();
        for f in &files {
            let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            h.update(format!("{}\n{}\n", f.display(), bytes.len()));
            h.update(&bytes);
        }
        let policy_id = hex::encode(h.finalize());
        let needs_db = policy
            .environments()
            .any(|env| policy.needs(env).vulnerabilities);
        let db_id = match db {
            Some(path) if needs_db => {
                palisade_scan::VulnDb::new(path.to_path_buf())
                    .database()
                    .map_err(|e| format!("vulnerability database {}: {e}", path.display()))?;
                let f = Fingerprint::of(path);
                format!("{}:{}:{}:{}", f.dev, f.ino, f.size, f.mtime_ns)
            }
            None if needs_db => {
                return Err(format!(
                    "{}: the policy has a `vulnerabilities` section but no database is configured (set `db:` in the server's config)",
                    policy_path.display()
                ));
            }
            _ => String::new(),
        };
        let mut fingerprints: Vec<(PathBuf, Fingerprint)> = files
            .iter()
            .map(|f| (f.clone(), Fingerprint::of(f)))
            .collect();
        // A write between the stat and the read shows up on the next poll.
        fingerprints[0].1 = before;
        if let Some(db) = db {
            fingerprints.push((db.to_path_buf(), Fingerprint::of(db)));
        }
        Ok(Loaded {
            policy: Arc::new(policy),
            policy_id,
            db_path: db.map(Path::to_path_buf),
            db_id,
            fingerprints,
            bundle,
        })
    }
}

/// The current [`Loaded`] (none until the first good load) and what is wrong.
#[derive(Debug, Default)]
pub struct State {
    current: ArcSwapOption<Loaded>,
    problems: Mutex<Vec<String>>,
}

impl State {
    /// The snapshot a request decides with.
    #[must_use]
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.load_full()
    }

    /// Replaces the snapshot and clears the problems of the policy.
    pub fn install(&self, loaded: Loaded) {
        self.current.store(Some(Arc::new(loaded)));
        self.set_problem("policy", None);
    }

    /// Sets (or clears) the problem reported for `what` (`policy`, `certificate`…).
    pub fn set_problem(&self, what: &str, problem: Option<String>) {
        let mut p = self
            .problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let prefix = format!("{what}: ");
        p.retain(|line| !line.starts_with(&prefix));
        if let Some(problem) = problem {
            p.push(format!("{prefix}{problem}"));
        }
    }

    /// Why the server is not ready (empty when it is): no policy loaded yet, or the last reload
    /// failed (the previous policy still decides).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = self
            .problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if self.current.load().is_none() {
            out.insert(0, "no policy loaded".to_owned());
        }
        out
    }
}
