//! Test support for the server's end-to-end tests: the real testbed images in a throw-away
//! registry (Debian's `docker-registry` through `testbed/registry.sh`, filled with skopeo),
//! keys and signatures made by the real `palisade` binary, a vulnerability database imported
//! from the shared feed snapshots, a TCP proxy that can stop answering, and
//! `kubernetes-validate` for the objects sent.
#![allow(dead_code)] // Each test file uses part of it.

pub(crate) mod http;
pub(crate) mod serve;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Where prebuilt testbed images may be named instead of building them (a directory as
/// `testbed/build-images.sh` writes it, e.g. the main checkout's `target/testbed`).
pub(crate) const TESTBED_DIR_ENV: &str = "PALISADE_TESTBED_DIR";
/// The `palisade` binary to run instead of building this checkout's.
pub(crate) const BIN_ENV: &str = "PALISADE_TEST_BIN";
/// `kubernetes-validate` (installed into `target/pyvenv` by `tools/test-all.sh`).
pub(crate) const KUBERNETES_VALIDATE_ENV: &str = "PALISADE_TEST_KUBERNETES_VALIDATE";
/// The passphrase of the test signing key.
pub(crate) const PASSWORD: &str = "admission test";

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Why the end-to-end tests cannot run here (a required tool is not installed), if so.
pub(crate) fn missing_tools() -> Option<String> {
    let missing: Vec<&str> = ["skopeo", "docker-registry"]
        .into_iter()
        .filter(|tool| {
            !std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
            })
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (testbed/install-deps.sh installs them)",
            missing.join(" and ")
        )
    })
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

/// The testbed images: `$PALISADE_TESTBED_DIR` when set, else built once into
/// `target/testbed` by `testbed/build-images.sh` (cached on disk by the script itself).
pub(crate) fn testbed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(TESTBED_DIR_ENV) {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("oci/index.json").is_file(),
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

/// The `palisade` binary: `$PALISADE_TEST_BIN`, else this checkout's, built now with the
/// profile of the running test (`cargo test -p palisade-server` does not build other
/// packages' binaries, and a stale binary would test old code).
pub(crate) fn palisade_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os(BIN_ENV) {
            return PathBuf::from(bin);
        }
        // target/<profile>/deps/admission-<hash>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "palisade-cli",
            "--bin",
            "palisade",
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(repo_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        // What cargo set for this test would make build scripts that track them (ring's
        // tracks CARGO_MANIFEST_DIR) look changed, and rebuild half the tree.
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| {
                k == "OUT_DIR"
                    || k.starts_with("CARGO_PKG_")
                    || [
                        "CARGO_MANIFEST_DIR",
                        "CARGO_MANIFEST_PATH",
                        "CARGO_CRATE_NAME",
                        "CARGO_BIN_NAME",
                        "CARGO_PRIMARY_PACKAGE",
                        "CARGO_TARGET_TMPDIR",
                        "CARGO_RUSTC_CURRENT_DIR",
                    ]
                    .contains(&k)
            }) {
                cmd.env_remove(k);
            }
        }
        let out = cmd.output().expect("running cargo build -p palisade-cli");
        assert!(
            out.status.success(),
            "cargo build -p palisade-cli failed (or set {BIN_ENV}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join("palisade");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// A `palisade` command with a private cache and none of the caller's `PALISADE_*` settings.
pub(crate) fn palisade_cmd(cache: &Path) -> Command {
    let mut cmd = Command::new(palisade_bin());
    cmd.env("XDG_CACHE_HOME", cache);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| {
            (k.starts_with("PALISADE_") && k != TESTBED_DIR_ENV) || k == "COSIGN_PASSWORD"
        }) {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `palisade ARGS` with the test password; returns its output.
pub(crate) fn palisade(args: &[&str], cache: &Path) -> Output {
    palisade_cmd(cache)
        .args(args)
        .env("PALISADE_PASSWORD", PASSWORD)
        .output()
        .expect("running palisade")
}

/// Exit code, standard output and standard error, for assertion messages.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a repository script (from the repository root) and asserts it succeeded.
pub(crate) fn run_script(args: &[&str]) -> Output {
    let out = Command::new("bash")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} failed: {}", text(&out));
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
        Self::start_with(&[])
    }

    /// Starts one with extra environment for `testbed/registry.sh` (its notifications).
    pub(crate) fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["testbed/registry.sh", "start", dir.path().to_str().unwrap()])
            .current_dir(repo_root());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "testbed/registry.sh start: {}",
            text(&out)
        );
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Self { dir, addr }
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

/// Copies the testbed image `image` (`base` or `app`) to `docker://HOST/REPO:TAG` with skopeo,
/// keeping its manifest (so its digest is the layout's).
pub(crate) fn push(image: &str, host: &str, repo_tag: &str) {
    let src = format!("oci:{}/oci:{image}", testbed().display());
    let dst = format!("docker://{host}/{repo_tag}");
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
        text(&out)
    );
}

/// The manifest digest the registry serves for `HOST/REPO:TAG`, as skopeo sees it.
pub(crate) fn registry_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{reference}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        text(&out)
    );
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    digest
}

/// `palisade key generate --output-prefix DIR/NAME`: returns `DIR/NAME.key` (its `.pub` is
/// next to it).
pub(crate) fn generate_key(dir: &Path, name: &str) -> PathBuf {
    let prefix = dir.join(name);
    let out = palisade(
        &[
            "key",
            "generate",
            "--output-prefix",
            prefix.to_str().unwrap(),
        ],
        &dir.join("cache"),
    );
    assert!(out.status.success(), "{}", text(&out));
    prefix.with_extension("key")
}

/// `palisade sign HOST/REPO:TAG --key KEY`.
pub(crate) fn sign(reference: &str, key: &Path) {
    let cache = key.parent().unwrap().join("cache");
    let out = palisade(&["sign", reference, "--key", key.to_str().unwrap()], &cache);
    assert!(
        out.status.success(),
        "palisade sign {reference}: {}",
        text(&out)
    );
}

/// A vulnerability database built by `palisade db import` from the real feed snapshots (OSV
/// PyPI, the NVD excerpt, CISA KEV), as the CLI's tests build theirs.
pub(crate) fn import_db(db: &Path) {
    let f = feeds();
    let inputs = [
        f.join("osv/PyPI/all.zip"),
        f.join("nvd/nvdcve-2.0-excerpt.json"),
        f.join("kev/known_exploited_vulnerabilities.json"),
    ];
    let mut args: Vec<String> = vec!["db".into(), "import".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--db".into(), db.display().to_string()]);
    let out = palisade(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &db.parent().unwrap().join("cache"),
    );
    assert!(out.status.success(), "db import: {}", text(&out));
}

/// `kubernetes-validate --strict -k 1.37.0 FILES…` must pass; returns its output.
pub(crate) fn kubernetes_validate(files: &[PathBuf]) -> String {
    let validator = std::env::var_os(KUBERNETES_VALIDATE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/pyvenv/bin/kubernetes-validate"));
    assert!(
        validator.exists(),
        "{} is missing: run tools/test-all.sh (it installs kubernetes-validate), or set \
         {KUBERNETES_VALIDATE_ENV}",
        validator.display()
    );
    let out = Command::new(&validator)
        .args(["--strict", "-k", "1.37.0"])
        .args(files)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate: {all}");
    all
}

/// A TCP proxy in front of a registry (std threads). With `hang` on, it accepts and reads but
/// never forwards, so the client's request is never answered; with it off it forwards both
/// ways. It counts what clients send, so a test can tell that nothing reached the registry.
/// Images are pushed and signed through the proxy's own address, since a signature names the
/// `host:port` it was made for.
pub(crate) struct HangProxy {
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    hang: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl HangProxy {
    pub(crate) fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hang = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        {
            let (hang, reads, stop) = (Arc::clone(&hang), Arc::clone(&reads), Arc::clone(&stop));
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    reads.fetch_add(1, Ordering::SeqCst);
                    let (hang, reads, upstream) =
                        (Arc::clone(&hang), Arc::clone(&reads), upstream.clone());
                    std::thread::spawn(move || relay(client, &upstream, &hang, &reads));
                }
            });
        }
        Self {
            addr,
            hang,
            reads,
            stop,
        }
    }

    /// Stops (or resumes) answering.
    pub(crate) fn set_hang(&self, on: bool) {
        self.hang.store(on, Ordering::SeqCst);
    }

    /// Connections accepted plus reads from clients so far.
    pub(crate) fn activity(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Drop for HangProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn relay(mut client: TcpStream, upstream: &str, hang: &AtomicBool, reads: &AtomicU64) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_w), Ok(mut server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                reads.fetch_add(1, Ordering::SeqCst);
                // Hanging: read and drop, never forward, never answer.
                if !hang.load(Ordering::SeqCst) && server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = back.join();
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`.
pub(crate) fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
