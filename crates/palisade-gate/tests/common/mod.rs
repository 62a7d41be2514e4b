//! Test support shared by the gate's tests: the real testbed images and a throw-away
//! registry (Debian's docker-registry through `testbed/registry.sh`), filled with skopeo.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where prebuilt testbed images may be named instead of building them (a directory as
/// `testbed/build-images.sh` writes it, e.g. another checkout's `target/testbed`).
pub(crate) const TESTBED_DIR_ENV: &str = "PALISADE_TESTBED_DIR";

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shared feed snapshots: `shared/feeds` next to the checkout, or next to one of its
/// parents (a git worktree under `wt/`).
pub(crate) fn feeds() -> PathBuf {
    let root = repo_root();
    root.ancestors()
        .skip(1)
        .map(|a| a.join("shared/feeds"))
        .find(|f| f.is_dir())
        .unwrap_or_else(|| panic!("no shared/feeds next to {} or its parents", root.display()))
}

/// The testbed images: `$PALISADE_TESTBED_DIR` when set (used as it is), else built once into
/// `target/testbed` by `testbed/build-images.sh` (cached on disk by the script itself).
pub(crate) fn testbed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(TESTBED_DIR_ENV) {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("oci/index.json").is_file() && dir.join("app.oci.tar").is_file(),
                "{TESTBED_DIR_ENV}={}: no testbed images there; run testbed/build-images.sh {0} \
                 or unset {TESTBED_DIR_ENV}",
                dir.display()
            );
            return dir;
        }
        let root = repo_root();
        let out = root.join("target/testbed");
        let status = Command::new("bash")
            .arg(root.join("testbed/build-images.sh"))
            .arg(&out)
            .status()
            .expect("running testbed/build-images.sh");
        assert!(
            status.success(),
            "testbed/build-images.sh failed; run testbed/install-deps.sh first, or point \
             {TESTBED_DIR_ENV} at prebuilt images"
        );
        out
    })
}

/// Runs a repository script (from the repository root) and asserts it succeeded.
pub(crate) fn run_script(args: &[&str]) -> std::process::Output {
    let out = Command::new("bash")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A registry of our own on loopback, stopped on drop.
pub(crate) struct Registry {
    pub(crate) dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
}

impl Registry {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = run_script(&["testbed/registry.sh", "start", dir.path().to_str().unwrap()]);
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Self { dir, addr }
    }

    /// Copies a testbed image (`base` or `app`) to `repo:tag` with skopeo, keeping its
    /// manifest.
    pub(crate) fn push(&self, image: &str, repo_tag: &str) {
        let src = format!("oci:{}/oci:{image}", testbed().display());
        let dst = format!("docker://{}/{repo_tag}", self.addr);
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                &src,
                &dst,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy {src} {dst}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The manifest bytes the registry serves for `repo:tag`, as skopeo reads them.
    pub(crate) fn raw_manifest(&self, repo_tag: &str) -> Vec<u8> {
        let out = Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{}/{repo_tag}", self.addr),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect --raw {repo_tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([
                "testbed/registry.sh",
                "stop",
                self.dir.path().to_str().unwrap(),
            ])
            .current_dir(repo_root())
            .output();
    }
}
