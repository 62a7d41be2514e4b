//! Test support for the agent against a real Docker engine (`agent_dockerd.rs`): the real
//! `palisade` binary, a loopback registry filled with skopeo, a private dockerd
//! (`testbed/dockerd.sh`), the plugin spec file in `/etc/docker/plugins`, and the agent
//! process. Each part is a guard that takes itself down on drop, so a failing assertion
//! still leaves no engine, registry, agent, spec file or mount behind.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Why the test cannot run here, when it cannot: it needs root (the spec file in
/// `/etc/docker/plugins`, dockerd) and the testbed's programs.
pub(crate) fn missing() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        });
    if uid.as_deref() != Some("0") {
        return Some("needs root (dockerd, /etc/docker/plugins)".into());
    }
    for tool in ["dockerd", "docker", "skopeo", "docker-registry", "curl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!(
                "{tool} not found (testbed/install-deps.sh; dockerd and docker come with docker.io)"
            ));
        }
    }
    None
}

/// The testbed images: `$PALISADE_TESTBED_DIR` when set, else built once into
/// `target/testbed` by `testbed/build-images.sh` (which caches on disk).
pub(crate) fn testbed() -> PathBuf {
    if let Some(dir) = std::env::var_os("PALISADE_TESTBED_DIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("oci/index.json").is_file(),
            "PALISADE_TESTBED_DIR={}: no testbed images there; run testbed/build-images.sh {0}",
            dir.display()
        );
        return dir;
    }
    let out = repo_root().join("target/testbed");
    run_ok(
        Command::new("bash")
            .arg(repo_root().join("testbed/build-images.sh"))
            .arg(&out),
    );
    out
}

/// The `palisade` binary next to this test's own build (same target directory and
/// profile), built first with `cargo build -p palisade-cli` (a no-op when it is fresh), so the
/// test never runs a stale agent. `PALISADE_BIN` names another binary and skips the build.
pub(crate) fn palisade_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PALISADE_BIN") {
        return PathBuf::from(bin);
    }
    // target/<profile>/deps/agent_dockerd-HASH
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap().to_path_buf();
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "10"])
        .arg(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "palisade-cli",
            "--bin",
            "palisade",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(repo_root());
    // What cargo sets for this test's own run: inherited, it would make the build differ
    // from a plain `cargo build` (rebuilding half the tree each time, both ways).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref())
        {
            cmd.env_remove(key.as_ref());
        }
    }
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let started = Instant::now();
    run_ok(&mut cmd);
    eprintln!(
        "cargo build -p palisade-cli: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let bin = profile_dir.join("palisade");
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", text(&out));
    out
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `ready` holds, up to `limit`; panics with `what` and `context()` otherwise.
pub(crate) fn wait_for(
    what: &str,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A registry of our own on loopback (`testbed/registry.sh`), stopped on drop.
pub(crate) struct Registry {
    dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
}

impl Registry {
    pub(crate) fn start(dir: &Path) -> Registry {
        let out = run_ok(
            Command::new("bash")
                .arg("testbed/registry.sh")
                .arg("start")
                .arg(dir)
                .current_dir(repo_root()),
        );
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Registry {
            dir: dir.to_path_buf(),
            addr,
        }
    }

    /// Copies the testbed image `image` (`base`, `app`) to `repo_tag` with skopeo.
    pub(crate) fn push(&self, testbed: &Path, image: &str, repo_tag: &str) {
        run_ok(Command::new("skopeo").args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}/oci:{image}", testbed.display()),
            &format!("docker://{}/{repo_tag}", self.addr),
        ]));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg("testbed/registry.sh")
            .arg("stop")
            .arg(&self.dir)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output();
    }
}

/// `/etc/docker/plugins/NAME.spec` naming the agent's socket; removed on drop, with the
/// directories this guard created (when empty).
pub(crate) struct SpecFile {
    pub(crate) path: PathBuf,
    created: Vec<PathBuf>,
}

impl SpecFile {
    pub(crate) fn write(name: &str, socket: &Path) -> SpecFile {
        let dir = Path::new("/etc/docker/plugins");
        let mut created = Vec::new();
        for d in [Path::new("/etc/docker"), dir] {
            if !d.exists() {
                std::fs::create_dir(d).unwrap();
                created.push(d.to_path_buf());
            }
        }
        let path = dir.join(format!("{name}.spec"));
        assert!(!path.exists(), "{} exists already", path.display());
        let guard = SpecFile {
            path: path.clone(),
            created,
        };
        std::fs::write(&path, format!("unix://{}\n", socket.display())).unwrap();
        guard
    }
}

impl Drop for SpecFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A private dockerd (`testbed/dockerd.sh`, which unmounts what it leaves behind on stop).
pub(crate) struct Dockerd {
    dir: PathBuf,
    /// `unix://DIR/docker.sock`.
    pub(crate) host: String,
    stopped: bool,
}

impl Dockerd {
    pub(crate) fn start(dir: &Path, flags: &[&str]) -> Dockerd {
        let mut guard = Dockerd {
            dir: dir.to_path_buf(),
            host: String::new(),
            stopped: false,
        };
        let out = Command::new("bash")
            .arg("testbed/dockerd.sh")
            .arg("start")
            .arg(dir)
            .args(flags)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dockerd.sh start: {}\ndockerd.log:\n{}",
            text(&out),
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        guard.host = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        guard
    }

    /// `docker -H … ARGS` with a private client configuration.
    pub(crate) fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Stops the engine and unmounts what it left; idempotent.
    pub(crate) fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = Command::new("bash")
            .arg("testbed/dockerd.sh")
            .arg("stop")
            .arg(&self.dir)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output();
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The agent process (`palisade agent --config FILE`), its output in a log file; stopped with
/// SIGTERM (SIGKILL after 10 s) on drop.
pub(crate) struct AgentProcess {
    child: Child,
    pub(crate) log: PathBuf,
}

impl AgentProcess {
    pub(crate) fn spawn(bin: &Path, config: &Path, log: &Path) -> AgentProcess {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(bin)
            .arg("agent")
            .arg("--config")
            .arg(config)
            .env_remove("PALISADE_AGENT_CONFIG")
            .env_remove("PALISADE_PASSWORD")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        AgentProcess {
            child,
            log: log.to_path_buf(),
        }
    }

    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it still runs.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(crate) fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while self.alive() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `curl` (the independent HTTP client): `args` then the URL; returns the output.
pub(crate) fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The mount points under `dir` (none may be left after the teardown).
pub(crate) fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}
