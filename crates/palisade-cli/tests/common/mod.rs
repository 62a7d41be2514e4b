//! Helpers shared by the scan tests: the real testbed images, one vulnerability database built
//! from the real feed snapshots with the binary's own `db import`, and running the binary.
#![allow(dead_code)]

pub(crate) mod pty;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use palisade_image::{Digest, RegistryClient, RegistryOptions, media_type};
use serde_json::Value;

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub(crate) fn feeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/feeds")
        .canonicalize()
        .expect("../shared/feeds next to the repository")
}

/// Builds the testbed images once per test process (the script itself is cached on disk).
pub(crate) fn testbed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let out = root.join("target/testbed");
        let status = Command::new("bash")
            .arg(root.join("testbed/build-images.sh"))
            .arg(&out)
            .status()
            .expect("running testbed/build-images.sh");
        assert!(
            status.success(),
            "testbed/build-images.sh failed; run testbed/install-deps.sh first"
        );
        out
    })
}

/// The `oci-archive:` source of an image `testbed/extra-images.sh` builds from real data
/// (`alpine`, `almalinux`, `langs`); the script runs once per test process (it is cached on
/// disk and serialised with a lock).
pub(crate) fn extra_image(name: &str) -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let root = repo_root();
        let out = root.join("target/testbed");
        let status = Command::new("bash")
            .arg(root.join("testbed/extra-images.sh"))
            .arg(&out)
            .status()
            .expect("running testbed/extra-images.sh");
        assert!(
            status.success(),
            "testbed/extra-images.sh failed; run testbed/install-deps.sh first"
        );
        out
    });
    format!(
        "oci-archive:{}",
        dir.join(format!("{name}.oci.tar")).display()
    )
}

pub(crate) struct Env {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) db: PathBuf,
    pub(crate) cache: PathBuf,
}

/// One database per test binary: OSV PyPI, Go and crates.io, the NVD excerpt and KEV.
pub(crate) fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        // A static is never dropped, so this directory outlives the process: keep it under
        // the target directory (which `cargo clean` empties), not in /tmp, where every test
        // binary run used to leave 34 MB behind.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let db = dir.path().join("data/vuln.db");
        let cache = dir.path().join("cache");
        let f = feeds();
        let inputs: Vec<PathBuf> = vec![
            f.join("osv/PyPI/all.zip"),
            f.join("osv/Go/all.zip"),
            f.join("osv/crates.io/all.zip"),
            f.join("nvd/nvdcve-2.0-excerpt.json"),
            f.join("kev/known_exploited_vulnerabilities.json"),
        ];
        let mut args: Vec<String> = vec!["db".into(), "import".into()];
        args.extend(inputs.iter().map(|p| p.display().to_string()));
        args.push("--db".into());
        args.push(db.display().to_string());
        let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &cache);
        assert!(
            out.status.success(),
            "db import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(db.is_file());
        Env {
            _dir: dir,
            db,
            cache,
        }
    })
}

pub(crate) fn run(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("PALISADE_NO_CACHE")
        .env_remove("PALISADE_DB")
        .output()
        .expect("running palisade")
}

pub(crate) fn image(tag: &str) -> String {
    format!("oci-dir:{}:{tag}", testbed().join("oci").display())
}

pub(crate) fn scan(source: &str, extra: &[&str]) -> Output {
    let e = env();
    let db = e.db.display().to_string();
    let mut args = vec!["scan", source, "--db", &db];
    args.extend_from_slice(extra);
    run(&args, &e.cache)
}

pub(crate) fn scan_json(source: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let out = scan(source, &args);
    let code = out.status.code().expect("exit code");
    assert_ne!(
        code,
        2,
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        code,
        serde_json::from_slice(&out.stdout).expect("JSON report"),
    )
}

pub(crate) fn findings(v: &Value) -> &Vec<Value> {
    v["findings"].as_array().unwrap()
}

/// The Python with the independent validators (installed by `tools/test-all.sh`:
/// cyclonedx-python-lib, spdx-tools, the SARIF schema), or `PALISADE_TEST_PYTHON`.
pub(crate) fn validator_python() -> PathBuf {
    let p = std::env::var_os("PALISADE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/pyvenv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run tools/test-all.sh (it installs the validators)",
        p.display()
    );
    p
}

/// Validates `file` with `tools/validate-sbom.py KIND` (`cyclonedx`, `spdx`, `sarif`).
pub(crate) fn validate(kind: &str, file: &Path) {
    let check = Command::new(validator_python())
        .arg(repo_root().join("tools/validate-sbom.py"))
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{} is not valid {kind}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Runs a repository script (from the repository root) and asserts it succeeded.
pub(crate) fn run_script(args: &[&str]) -> Output {
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

/// A registry of our own, stopped on drop.
pub(crate) struct Registry {
    pub(crate) dir: tempfile::TempDir,
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

    pub(crate) fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.addr, &RegistryOptions::default()).unwrap()
    }

    /// Copies a testbed image (`base` or `app`) to `repo:tag` with bookworm's skopeo.
    pub(crate) fn push(&self, image: &str, repo_tag: &str) -> Digest {
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
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.digest_of(repo_tag)
    }

    pub(crate) fn digest_of(&self, repo_tag: &str) -> Digest {
        let (repo, tag) = repo_tag.split_once(':').unwrap();
        self.client()
            .head_manifest(repo, tag, media_type::ACCEPT_MANIFESTS)
            .unwrap()
            .unwrap()
            .digest
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
