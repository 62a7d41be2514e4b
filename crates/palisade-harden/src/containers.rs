//! Container runtime checks (CIS section 5 and 4.1) on `docker inspect` documents, from files
//! (an array or a single object) or from the live Engine API ([`crate::engine`]).
//!
//! Every container is checked, running or not. Evidence names the container and the inspect
//! field that decided the verdict.
//!
//! # Requests, before the container exists
//!
//! An authorization plugin sees each Engine API request body before the engine acts on it. A
//! create body (`POST /containers/create`) becomes the same inspect shape through
//! [`Container::from_create`] and is checked by [`check_create`] with the same code; an exec
//! body (`POST /containers/{id}/exec`) is judged for CIS 5.23 and 5.24 by [`check_exec`].
//! Fetching the image's configuration and the containers of `VolumesFrom` is the caller's
//! part ([`Container::image`], [`Container::add_volumes_from`]).
//!
//! The engine decodes a body with Go's `encoding/json`, and a plugin that reads it otherwise
//! can be walked around. The traps, each seen on dockerd 20.10
//! (`tests/fixtures/create/README.md`):
//!
//! - Keys match struct fields case-insensitively, with Unicode simple folding: `hostconfig`,
//!   `PRIVILEGED` and `HoſtConfig` (long s) all set `HostConfig`. Known fields are read under
//!   any such spelling here; two spellings of one field in one object are refused.
//! - A key given twice names one struct, which Go decodes twice into the same value, merging
//!   the two objects; `serde_json::Value` keeps only the last. [`parse_api_body`] refuses
//!   duplicate keys: parse bodies with it, not with `serde_json::from_slice`.
//! - Up to moby 28 (API 1.51), `HostConfig` fields at the top level of the body (`Privileged`,
//!   `NetworkMode`, …) are the host configuration when `HostConfig` is absent or null, and
//!   `Memory`, `MemorySwap`, `CpuShares` fill in zero values of a given `HostConfig`. Read the
//!   same way here (for a later engine, which ignores them, the verdict errs on the strict
//!   side).
//! - `CapAdd` and `CapDrop` take a string as well as an array (`"CapAdd": "SYS_ADMIN"`).
//! - A field of the wrong type makes the engine refuse the request (HTTP 400); here it is an
//!   error, never a default.
//! - At create the engine adds `label=disable` to the security options of a privileged
//!   container or one sharing the host's IPC or PID namespace; so does the mapping.
//!
//! ```
//! use palisade_harden::check::Status;
//! use palisade_harden::containers::{Container, check_create, parse_api_body};
//!
//! let body = parse_api_body(br#"{"Image": "app:1", "User": "1000", "hostconfig": {"privileged": true}}"#, "body")?;
//! let container = Container::from_create(&body, Some("web"), None)?;
//! let results = check_create(&container, false);
//! let privileged = results.iter().find(|r| r.id == "CIS-DOCKER-5.5").unwrap();
//! assert_eq!((privileged.subject(), privileged.status), ("web", Status::Fail));
//! # Ok::<(), palisade_harden::Error>(())
//! ```

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};
use crate::engine::Engine;
use crate::error::{Error, read_bounded};
use crate::hostfs::HostRoot;
use crate::profile::Profile;
use crate::target::{Target, files_subject};

mod create;

pub use create::{
    MAX_CREATE_DEPTH, MAX_CREATE_MOUNTS, MAX_CREATE_VALUES, check_create, check_exec,
    parse_api_body,
};

/// The most bytes read from one inspect file.
pub const MAX_INSPECT_BYTES: u64 = 64 << 20;

const S5: &str = "5 Container Runtime";
const S4: &str = "4 Container Images and Build File";
const C: TargetKind = TargetKind::Container;

/// The container checks.
pub static CHECKS: &[CheckDef] = &[
    CheckDef::new(
        "CIS-DOCKER-4.1",
        "Ensure that a user for the container has been created",
        Level::One,
        C,
        S4,
        "A container running as root is one kernel bug away from root on the host.",
        "Run as a non-root user: `USER 1000` in the Dockerfile or `docker run --user 1000:1000`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.2",
        "Ensure that, if applicable, an AppArmor Profile is enabled",
        Level::One,
        C,
        S5,
        "AppArmor limits what a compromised process may touch.",
        "Do not run with `--security-opt apparmor=unconfined`; use docker-default or a custom profile.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.3",
        "Ensure that, if applicable, SELinux security options are set",
        Level::Two,
        C,
        S5,
        "SELinux labels confine containers on SELinux hosts.",
        "Start the daemon with `--selinux-enabled` and do not pass `--security-opt label=disable`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.4",
        "Ensure that Linux kernel capabilities are restricted within containers",
        Level::One,
        C,
        S5,
        "Capabilities beyond Docker's default set (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, …) break isolation.",
        "Drop what is not needed (`--cap-drop ALL`) and add back only capabilities from the default set.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.5",
        "Ensure that privileged containers are not used",
        Level::One,
        C,
        S5,
        "`--privileged` gives every capability, all devices and no seccomp or AppArmor confinement.",
        "Remove `--privileged`; add the single capability or device actually needed.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.6",
        "Ensure sensitive host system directories are not mounted on containers",
        Level::One,
        C,
        S5,
        "Writable mounts of /, /etc, /usr, /boot, /proc, /sys, /dev or the Docker data root let a container change the host.",
        "Do not bind-mount host system directories; if unavoidable, mount them read-only.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.8",
        "Ensure privileged ports are not mapped within containers",
        Level::One,
        C,
        S5,
        "Host ports below 1024 are reserved for privileged services.",
        "Publish on a host port of 1024 or above (`-p 8080:80`).",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.9",
        "Ensure that only needed ports are open on the container",
        Level::One,
        C,
        S5,
        "Every published port is attack surface; review each one.",
        "Publish only the ports the service needs; avoid `-P` (publish all).",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.10",
        "Ensure that the host's network namespace is not shared",
        Level::One,
        C,
        S5,
        "With `--network host` the container sees and can bind every host interface.",
        "Do not use `--network host`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.11",
        "Ensure that the memory usage for containers is limited",
        Level::One,
        C,
        S5,
        "Without a limit one container can exhaust the host's memory.",
        "Set a limit: `docker run --memory 512m`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.12",
        "Ensure that CPU priority is set appropriately on containers",
        Level::One,
        C,
        S5,
        "Without CPU shares or a quota one container can starve the others.",
        "Set `--cpu-shares`, `--cpus` or `--cpu-quota`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.13",
        "Ensure that the container's root filesystem is mounted as read only",
        Level::One,
        C,
        S5,
        "A read-only root filesystem stops an attacker from changing the container's binaries.",
        "Run with `--read-only` and mount writable volumes or tmpfs only where needed.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.14",
        "Ensure that incoming container traffic is bound to a specific host interface",
        Level::One,
        C,
        S5,
        "Ports published on 0.0.0.0 or [::] are reachable on every host interface.",
        "Publish on one address: `-p 127.0.0.1:8080:80`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.15",
        "Ensure that the 'on-failure' container restart policy is set to '5'",
        Level::One,
        C,
        S5,
        "`always`, `unless-stopped` or unlimited retries restart a crashing container forever.",
        "Use `--restart on-failure:5` (or no restart policy).",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.16",
        "Ensure that the host's process namespace is not shared",
        Level::One,
        C,
        S5,
        "With `--pid host` the container sees and can signal every host process.",
        "Do not use `--pid host`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.17",
        "Ensure that the host's IPC namespace is not shared",
        Level::One,
        C,
        S5,
        "With `--ipc host` the container shares host shared memory and semaphores.",
        "Do not use `--ipc host`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.18",
        "Ensure that host devices are not directly exposed to containers",
        Level::One,
        C,
        S5,
        "Host devices give raw access to hardware; each one needs review.",
        "Do not pass `--device` unless needed, and then with the narrowest permissions (`:r`).",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.19",
        "Ensure that the default ulimit is overwritten at runtime if needed",
        Level::One,
        C,
        S5,
        "Containers inherit the daemon's default ulimits unless given their own.",
        "Set `--ulimit nofile=…` where the daemon default does not fit.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.20",
        "Ensure mount propagation mode is not set to shared",
        Level::One,
        C,
        S5,
        "A shared mount propagates mounts made inside the container back to the host.",
        "Do not use `shared` or `rshared` propagation on bind mounts.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.21",
        "Ensure that the host's UTS namespace is not shared",
        Level::One,
        C,
        S5,
        "With `--uts host` the container can change the host's hostname.",
        "Do not use `--uts host`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.22",
        "Ensure the default seccomp profile is not Disabled",
        Level::One,
        C,
        S5,
        "Seccomp blocks dangerous system calls; `unconfined` (or `--privileged`) turns it off.",
        "Do not pass `--security-opt seccomp=unconfined`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.25",
        "Ensure that cgroup usage is confirmed",
        Level::One,
        C,
        S5,
        "A custom cgroup parent moves the container out of Docker's resource accounting.",
        "Do not use `--cgroup-parent` unless it is intended.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.26",
        "Ensure that the container is restricted from acquiring additional privileges",
        Level::One,
        C,
        S5,
        "`no-new-privileges` stops setuid binaries from raising privileges.",
        "Run with `--security-opt no-new-privileges` or set `\"no-new-privileges\": true` in daemon.json.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.27",
        "Ensure that container health is checked at runtime",
        Level::One,
        C,
        S5,
        "Without a health check a hung service keeps receiving traffic.",
        "Add a HEALTHCHECK to the image or `--health-cmd` to the container.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.29",
        "Ensure that the PIDs cgroup limit is used",
        Level::One,
        C,
        S5,
        "Without a PIDs limit a fork bomb in a container takes the host down.",
        "Set `--pids-limit 100` (or a value that fits).",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.30",
        "Ensure that Docker's default bridge 'docker0' is not used",
        Level::Two,
        C,
        S5,
        "All containers on the default bridge can talk to each other.",
        "Attach containers to user-defined networks.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.31",
        "Ensure that the host's user namespaces are not shared",
        Level::One,
        C,
        S5,
        "`--userns host` turns off user-namespace remapping for the container.",
        "Do not use `--userns host`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-5.32",
        "Ensure that the Docker socket is not mounted inside any containers",
        Level::One,
        C,
        S5,
        "Whoever reaches docker.sock controls the daemon, hence the host.",
        "Do not mount docker.sock (or the directory holding it) into containers.",
    ),
];

/// Docker's default capability set (CIS 5.4).
pub const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// One container's inspect document, or a create request mapped to that shape
/// ([`Container::from_create`]).
#[derive(Clone, Debug)]
pub struct Container {
    /// The container's name without the leading `/` (or its ID when unnamed).
    pub name: String,
    /// The file the document came from, if any.
    pub file: Option<PathBuf>,
    doc: Value,
    origin: Origin,
}

/// Where a container's document comes from, which decides how the checks that need a live
/// container (AppArmor profile, process label, image defaults) are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// `docker inspect` or the Engine API: the engine filled in every field.
    Inspect,
    /// A create request mapped by [`Container::from_create`]; `image` is whether the image's
    /// configuration (its `USER`, `HEALTHCHECK`, `EXPOSE`) was given and merged.
    Create { image: bool },
}

impl Container {
    /// Wraps one inspect object.
    ///
    /// # Errors
    /// When `doc` is not a JSON object.
    pub fn from_value(doc: Value, input: &str) -> Result<Container, Error> {
        if !doc.is_object() {
            return Err(Error::invalid(
                input,
                "an inspect document must be a JSON object",
            ));
        }
        let name = doc
            .get("Name")
            .and_then(Value::as_str)
            .map(|n| n.trim_start_matches('/').to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                doc.get("Id")
                    .and_then(Value::as_str)
                    .map(|id| id.chars().take(12).collect())
            })
            .unwrap_or_else(|| "<unnamed>".to_owned());
        Ok(Container {
            name,
            file: None,
            doc,
            origin: Origin::Inspect,
        })
    }

    /// The raw inspect document.
    #[must_use]
    pub fn document(&self) -> &Value {
        &self.doc
    }

    fn at(&self, path: &[&str]) -> Option<&Value> {
        let mut v = &self.doc;
        for p in path {
            v = v.get(*p)?;
        }
        Some(v).filter(|v| !v.is_null())
    }

    fn str_at(&self, path: &[&str]) -> &str {
        self.at(path).and_then(Value::as_str).unwrap_or("")
    }

    fn int_at(&self, path: &[&str]) -> i64 {
        self.at(path).and_then(Value::as_i64).unwrap_or(0)
    }

    fn bool_at(&self, path: &[&str]) -> bool {
        self.at(path).and_then(Value::as_bool).unwrap_or(false)
    }

    fn strings_at(&self, path: &[&str]) -> Vec<String> {
        self.at(path)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn security_opts(&self) -> Vec<String> {
        self.strings_at(&["HostConfig", "SecurityOpt"])
    }

    /// Bind mounts and volumes: (source, destination, read-write, propagation).
    fn mounts(&self) -> Vec<Mount> {
        let mut out = Vec::new();
        if let Some(ms) = self.at(&["Mounts"]).and_then(Value::as_array) {
            for m in ms {
                let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                // A volume of a create request has no host path yet: name it by its name.
                let source = Some(s("Source"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| s("Name"));
                out.push(Mount {
                    kind: s("Type"),
                    source,
                    destination: s("Destination"),
                    rw: m.get("RW").and_then(Value::as_bool).unwrap_or(true),
                    propagation: s("Propagation"),
                });
            }
        }
        if out.is_empty() {
            // Created containers from old engines: only HostConfig.Binds ("src:dst[:opts]").
            for b in self.strings_at(&["HostConfig", "Binds"]) {
                let parts: Vec<&str> = b.split(':').collect();
                if parts.len() < 2 {
                    continue;
                }
                let opts: Vec<&str> = parts.get(2).map_or(Vec::new(), |o| o.split(',').collect());
                out.push(Mount {
                    kind: if parts[0].starts_with('/') {
                        "bind"
                    } else {
                        "volume"
                    }
                    .to_owned(),
                    source: parts[0].to_owned(),
                    destination: parts[1].to_owned(),
                    rw: !opts.contains(&"ro"),
                    propagation: opts
                        .iter()
                        .find(|o| {
                            o.contains("shared") || o.contains("slave") || o.contains("private")
                        })
                        .map(|s| (*s).to_owned())
                        .unwrap_or_default(),
                });
            }
        }
        out
    }

    /// Published ports: (container port, host IP, host port), each once, in the order found.
    /// For a create request with `PublishAllPorts`, every exposed port without a binding is
    /// published as the engine will at start: on every interface, at a random host port
    /// (host port empty, as `-p 8080` gives).
    fn port_bindings(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut push = |entry: (String, String, String)| {
            if seen.insert(entry.clone()) {
                out.push(entry);
            }
        };
        for path in [
            &["HostConfig", "PortBindings"][..],
            &["NetworkSettings", "Ports"][..],
        ] {
            if let Some(map) = self.at(path).and_then(Value::as_object) {
                for (cport, binds) in map {
                    for b in binds.as_array().into_iter().flatten() {
                        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                        push((cport.clone(), s("HostIp"), s("HostPort")));
                    }
                }
            }
        }
        if matches!(self.origin, Origin::Create { .. })
            && self.bool_at(&["HostConfig", "PublishAllPorts"])
        {
            let bound = self.at(&["HostConfig", "PortBindings"]);
            for cport in self
                .at(&["Config", "ExposedPorts"])
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.keys())
            {
                if bound.and_then(|b| b.get(cport)).is_none_or(Value::is_null) {
                    push((cport.clone(), String::new(), String::new()));
                }
            }
        }
        out
    }
}

struct Mount {
    kind: String,
    source: String,
    destination: String,
    rw: bool,
    propagation: String,
}

/// Parses a `docker inspect` document: an array of objects or one object.
///
/// # Errors
/// When the text is not JSON or holds something other than objects.
pub fn parse_inspect(bytes: &[u8], input: &str) -> Result<Vec<Container>, Error> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::invalid(input, e.to_string()))?;
    match v {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, d)| Container::from_value(d, &format!("{input}[{i}]")))
            .collect(),
        other => Ok(vec![Container::from_value(other, input)?]),
    }
}

/// Reads inspect files (at most [`MAX_INSPECT_BYTES`] each).
///
/// # Errors
/// When a file cannot be read or parsed; the error names the file.
pub fn load_inspect_files(paths: &[PathBuf]) -> Result<Vec<Container>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let bytes = read_bounded(path, MAX_INSPECT_BYTES)?.ok_or_else(|| Error::Io {
            path: path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        for mut c in parse_inspect(&bytes, &path.display().to_string())? {
            c.file = Some(path.clone());
            out.push(c);
        }
    }
    Ok(out)
}

fn norm_cap(c: &str) -> String {
    let u = c.trim().to_ascii_uppercase();
    u.strip_prefix("CAP_").map_or(u.clone(), str::to_owned)
}

/// A root user: empty, `root`, `0`, or either with any group.
#[must_use]
pub fn is_root_user(user: &str) -> bool {
    let u = user.trim();
    let name = u.split(':').next().unwrap_or("");
    name.is_empty() || name == "root" || name.trim_start_matches('0').is_empty()
}

const SENSITIVE_EXACT: &[&str] = &[
    "/", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sys", "/usr", "/bin", "/sbin",
    "/root", "/var", "/var/lib", "/run", "/var/run", "/home",
];
const SENSITIVE_TREES: &[&str] = &[
    "/boot",
    "/dev",
    "/etc",
    "/proc",
    "/sys",
    "/usr",
    "/lib",
    "/root",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/run/containerd",
];

fn sensitive(source: &str) -> bool {
    let s = source.trim_end_matches('/');
    let s = if s.is_empty() { "/" } else { s };
    SENSITIVE_EXACT.contains(&s)
        || SENSITIVE_TREES
            .iter()
            .any(|t| s.strip_prefix(t).is_some_and(|rest| rest.starts_with('/')))
}

fn is_docker_sock_mount(m: &Mount) -> bool {
    let s = m.source.trim_end_matches('/');
    s.ends_with("docker.sock")
        || m.destination.ends_with("docker.sock")
        || matches!(s, "/run" | "/var/run" | "/run/docker" | "/var/run/docker")
}

/// The containers target: inspect documents, whether the daemon sets `no-new-privileges` for
/// every container (CIS 5.26), and the name the report gives them.
#[derive(Debug)]
pub struct Containers {
    containers: Vec<Container>,
    daemon_no_new_privileges: bool,
    subject: String,
}

impl Containers {
    /// Reads `docker inspect` files ([`load_inspect_files`]). `root`, when given, is a host
    /// root whose daemon configuration tells whether `no-new-privileges` is set daemon-wide;
    /// without it, it is taken as unset. The report names the files.
    ///
    /// # Errors
    /// When the daemon configuration under `root` or a file cannot be read or parsed.
    pub fn from_files(paths: &[PathBuf], root: Option<&HostRoot>) -> Result<Containers, Error> {
        let daemon_no_new_privileges = match root {
            Some(r) => crate::daemon::load_offline(r)?.bool("no-new-privileges") == Some(true),
            None => false,
        };
        Ok(Containers {
            daemon_no_new_privileges,
            subject: files_subject(paths),
            containers: load_inspect_files(paths)?,
        })
    }

    /// Every container of a live engine, running or not, and the daemon's setting; the
    /// report names the endpoint.
    ///
    /// # Errors
    /// When the Engine API cannot be reached or answers badly.
    pub fn live(engine: &Engine) -> Result<Containers, Error> {
        let cfg = engine.daemon_config()?;
        Ok(Containers {
            daemon_no_new_privileges: cfg.bool("no-new-privileges") == Some(true),
            containers: engine.containers()?,
            subject: engine.endpoint().to_owned(),
        })
    }

    /// Containers gathered some other way, named `subject` in the report.
    #[must_use]
    pub fn new(
        containers: Vec<Container>,
        daemon_no_new_privileges: bool,
        subject: impl Into<String>,
    ) -> Containers {
        Containers {
            containers,
            daemon_no_new_privileges,
            subject: subject.into(),
        }
    }

    /// The containers, in the order they were read.
    #[must_use]
    pub fn containers(&self) -> &[Container] {
        &self.containers
    }
}

impl Target for Containers {
    fn kind(&self) -> TargetKind {
        TargetKind::Container
    }

    fn subject(&self) -> String {
        self.subject.clone()
    }

    fn check(&self, _profile: &Profile) -> Result<Vec<CheckResult>, Error> {
        Ok(check_containers(
            &self.containers,
            self.daemon_no_new_privileges,
        ))
    }
}

/// Runs every container check on `containers`. `daemon_no_new_privileges` is the daemon-wide
/// `no-new-privileges` setting when known (CIS 5.26 passes for every container then).
/// With no containers, each check is reported once as not applicable.
#[must_use]
pub fn check_containers(
    containers: &[Container],
    daemon_no_new_privileges: bool,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if containers.is_empty() {
        for d in CHECKS {
            out.push(CheckResult::one(
                d.id,
                Status::NotApplicable,
                Evidence::new("containers", "no containers to check"),
            ));
        }
        return out;
    }
    for c in containers {
        check_one(c, daemon_no_new_privileges, &mut out);
    }
    out
}

#[allow(clippy::too_many_lines)]
fn check_one(c: &Container, daemon_nnp: bool, out: &mut Vec<CheckResult>) {
    let ev = |detail: String| {
        let e = Evidence::new(c.name.clone(), detail);
        match &c.file {
            Some(f) => e.at(f.clone(), None),
            None => e,
        }
    };
    let mut push = |id: &'static str, status: Status, detail: String| {
        out.push(CheckResult::one(id, status, ev(detail)));
    };
    let host = |v: &str| v == "host";

    // A create request without the image's configuration cannot tell the image's defaults.
    let image_unknown = c.origin == Origin::Create { image: false };
    let create = matches!(c.origin, Origin::Create { .. });

    // 4.1 user
    let user = c.str_at(&["Config", "User"]);
    if user.is_empty() && image_unknown {
        push(
            "CIS-DOCKER-4.1",
            Status::NotApplicable,
            "Config.User=\"\" in the request, and the image's configuration (its USER) was not given".into(),
        );
    } else {
        push(
            "CIS-DOCKER-4.1",
            if is_root_user(user) {
                Status::Fail
            } else {
                Status::Pass
            },
            format!("Config.User={user:?}"),
        );
    }

    let privileged = c.bool_at(&["HostConfig", "Privileged"]);
    let secopts = c.security_opts();
    let opt_is = |prefix: &str, value: &str| {
        secopts.iter().any(|o| {
            let o = o.replace(':', "=");
            o.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('='))
                .is_some_and(|v| v == value)
        })
    };

    // 5.2 AppArmor
    let aa = c.str_at(&["AppArmorProfile"]);
    let aa_opt = secopts.iter().find_map(|o| {
        o.replace(':', "=")
            .strip_prefix("apparmor=")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
    });
    let (st, detail) = if create {
        // The profile applied is known once the container exists; the request shows the option.
        if opt_is("apparmor", "unconfined") || privileged {
            (
                Status::Fail,
                format!("HostConfig.SecurityOpt={secopts:?}, Privileged={privileged}"),
            )
        } else if let Some(profile) = aa_opt {
            (
                Status::Pass,
                format!("HostConfig.SecurityOpt sets apparmor={profile}"),
            )
        } else {
            (
                Status::NotApplicable,
                "no apparmor= in HostConfig.SecurityOpt: the engine applies docker-default where the host has AppArmor; the profile applied (AppArmorProfile) is known once the container exists".into(),
            )
        }
    } else if aa == "unconfined" || opt_is("apparmor", "unconfined") || privileged {
        (
            Status::Fail,
            format!("AppArmorProfile={aa:?}, Privileged={privileged}"),
        )
    } else if aa.is_empty() {
        (
            Status::Warn,
            "AppArmorProfile=\"\" (no profile; host without AppArmor?)".to_owned(),
        )
    } else {
        (Status::Pass, format!("AppArmorProfile={aa:?}"))
    };
    push("CIS-DOCKER-5.2", st, detail);

    // 5.3 SELinux
    let label_disabled = opt_is("label", "disable");
    let has_label =
        secopts.iter().any(|o| o.starts_with("label")) || !c.str_at(&["ProcessLabel"]).is_empty();
    let st = if label_disabled {
        Status::Fail
    } else if has_label {
        Status::Pass
    } else if create {
        Status::NotApplicable
    } else {
        Status::Warn
    };
    push(
        "CIS-DOCKER-5.3",
        st,
        if st == Status::NotApplicable {
            "no label= in HostConfig.SecurityOpt: the engine labels the process only when it runs with --selinux-enabled; the label applied (ProcessLabel) is known once the container exists".into()
        } else if create {
            format!("HostConfig.SecurityOpt={secopts:?}")
        } else {
            format!(
                "HostConfig.SecurityOpt={secopts:?}, ProcessLabel={:?}",
                c.str_at(&["ProcessLabel"])
            )
        },
    );

    // 5.4 capabilities
    let added: Vec<String> = c
        .strings_at(&["HostConfig", "CapAdd"])
        .iter()
        .map(|s| norm_cap(s))
        .collect();
    let dropped: Vec<String> = c
        .strings_at(&["HostConfig", "CapDrop"])
        .iter()
        .map(|s| norm_cap(s))
        .collect();
    let extra: Vec<&String> = added
        .iter()
        .filter(|a| !DEFAULT_CAPS.contains(&a.as_str()))
        .collect();
    push(
        "CIS-DOCKER-5.4",
        if extra.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        if extra.is_empty() {
            format!("HostConfig.CapAdd={added:?} (within the default set), CapDrop={dropped:?}")
        } else {
            format!("HostConfig.CapAdd adds {extra:?} beyond Docker's default set")
        },
    );

    // 5.5 privileged
    push(
        "CIS-DOCKER-5.5",
        if privileged {
            Status::Fail
        } else {
            Status::Pass
        },
        format!("HostConfig.Privileged={privileged}"),
    );

    let mounts = c.mounts();
    // 5.6 sensitive mounts
    let bad: Vec<String> = mounts
        .iter()
        .filter(|m| m.kind != "volume" && m.kind != "tmpfs" && sensitive(&m.source))
        .map(|m| {
            format!(
                "{} -> {} ({})",
                m.source,
                m.destination,
                if m.rw { "rw" } else { "ro" }
            )
        })
        .collect();
    let rw = mounts
        .iter()
        .any(|m| m.kind != "volume" && m.kind != "tmpfs" && sensitive(&m.source) && m.rw);
    push(
        "CIS-DOCKER-5.6",
        if bad.is_empty() {
            Status::Pass
        } else if rw {
            Status::Fail
        } else {
            Status::Warn
        },
        if bad.is_empty() {
            format!(
                "Mounts: {} mount(s), none of a sensitive host directory",
                mounts.len()
            )
        } else {
            format!("Mounts: {}", bad.join(", "))
        },
    );

    // 5.8, 5.9, 5.14 ports
    let ports = c.port_bindings();
    let publish_all = c.bool_at(&["HostConfig", "PublishAllPorts"]);
    let describe = |p: &(String, String, String)| {
        format!(
            "{}:{}->{}",
            if p.1.is_empty() { "*" } else { &p.1 },
            if p.2.is_empty() { "random" } else { &p.2 },
            p.0
        )
    };
    if ports.is_empty() {
        push(
            "CIS-DOCKER-5.8",
            Status::NotApplicable,
            "no published ports".into(),
        );
        push(
            "CIS-DOCKER-5.9",
            if publish_all {
                Status::Warn
            } else {
                Status::Pass
            },
            format!("no published ports, HostConfig.PublishAllPorts={publish_all}"),
        );
        push(
            "CIS-DOCKER-5.14",
            Status::NotApplicable,
            "no published ports".into(),
        );
    } else {
        let low: Vec<String> = ports
            .iter()
            .filter(|p| p.2.parse::<u32>().is_ok_and(|n| n > 0 && n < 1024))
            .map(describe)
            .collect();
        push(
            "CIS-DOCKER-5.8",
            if low.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            },
            if low.is_empty() {
                "no host port below 1024".into()
            } else {
                format!("privileged host ports: {}", low.join(", "))
            },
        );
        let all: Vec<String> = ports.iter().map(describe).collect();
        push(
            "CIS-DOCKER-5.9",
            Status::Warn,
            format!("published ports to review: {}", all.join(", ")),
        );
        let wild: Vec<String> = ports
            .iter()
            .filter(|p| matches!(p.1.as_str(), "" | "0.0.0.0" | "::" | "[::]"))
            .map(describe)
            .collect();
        push(
            "CIS-DOCKER-5.14",
            if wild.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            },
            if wild.is_empty() {
                format!("bound to specific addresses: {}", all.join(", "))
            } else {
                format!("bound to every interface: {}", wild.join(", "))
            },
        );
    }

    // namespaces
    let net = c.str_at(&["HostConfig", "NetworkMode"]);
    push(
        "CIS-DOCKER-5.10",
        if host(net) {
            Status::Fail
        } else {
            Status::Pass
        },
        format!("HostConfig.NetworkMode={net:?}"),
    );

    // 5.11 memory
    let mem = c.int_at(&["HostConfig", "Memory"]);
    push(
        "CIS-DOCKER-5.11",
        if mem > 0 { Status::Pass } else { Status::Fail },
        format!("HostConfig.Memory={mem}"),
    );

    // 5.12 CPU
    let shares = c.int_at(&["HostConfig", "CpuShares"]);
    let nano = c.int_at(&["HostConfig", "NanoCpus"]);
    let quota = c.int_at(&["HostConfig", "CpuQuota"]);
    push(
        "CIS-DOCKER-5.12",
        if shares > 0 || nano > 0 || quota > 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        format!("HostConfig.CpuShares={shares}, NanoCpus={nano}, CpuQuota={quota}"),
    );

    // 5.13 read-only root
    let ro = c.bool_at(&["HostConfig", "ReadonlyRootfs"]);
    push(
        "CIS-DOCKER-5.13",
        if ro { Status::Pass } else { Status::Fail },
        format!("HostConfig.ReadonlyRootfs={ro}"),
    );

    // 5.15 restart policy
    let rp = c.str_at(&["HostConfig", "RestartPolicy", "Name"]);
    let retries = c.int_at(&["HostConfig", "RestartPolicy", "MaximumRetryCount"]);
    let ok = match rp {
        "" | "no" => true,
        "on-failure" => (1..=5).contains(&retries),
        _ => false,
    };
    push(
        "CIS-DOCKER-5.15",
        if ok { Status::Pass } else { Status::Fail },
        format!("HostConfig.RestartPolicy={rp:?}, MaximumRetryCount={retries}"),
    );

    for (id, field) in [
        ("CIS-DOCKER-5.16", "PidMode"),
        ("CIS-DOCKER-5.17", "IpcMode"),
        ("CIS-DOCKER-5.21", "UTSMode"),
        ("CIS-DOCKER-5.31", "UsernsMode"),
    ] {
        let v = c.str_at(&["HostConfig", field]);
        push(
            id,
            if host(v) { Status::Fail } else { Status::Pass },
            format!("HostConfig.{field}={v:?}"),
        );
    }

    // 5.18 devices
    let devices: Vec<String> = c
        .at(&["HostConfig", "Devices"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.get("PathOnHost").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    push(
        "CIS-DOCKER-5.18",
        if devices.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        },
        format!("HostConfig.Devices={devices:?}"),
    );

    // 5.19 ulimits
    let ulimits = c
        .at(&["HostConfig", "Ulimits"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    push(
        "CIS-DOCKER-5.19",
        if ulimits > 0 {
            Status::Pass
        } else {
            Status::Info
        },
        format!("HostConfig.Ulimits: {ulimits} set (none means the daemon defaults apply)"),
    );

    // 5.20 propagation
    let shared: Vec<String> = mounts
        .iter()
        .filter(|m| m.propagation.contains("shared"))
        .map(|m| format!("{} -> {} ({})", m.source, m.destination, m.propagation))
        .collect();
    push(
        "CIS-DOCKER-5.20",
        if shared.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        if shared.is_empty() {
            "no mount with shared propagation".into()
        } else {
            format!("Mounts with shared propagation: {}", shared.join(", "))
        },
    );

    // 5.22 seccomp
    let unconfined = opt_is("seccomp", "unconfined");
    push(
        "CIS-DOCKER-5.22",
        if unconfined || privileged {
            Status::Fail
        } else {
            Status::Pass
        },
        format!("HostConfig.SecurityOpt={secopts:?}, Privileged={privileged}"),
    );

    // 5.25 cgroup parent
    let cg = c.str_at(&["HostConfig", "CgroupParent"]);
    push(
        "CIS-DOCKER-5.25",
        if cg.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        },
        format!("HostConfig.CgroupParent={cg:?}"),
    );

    // 5.26 no-new-privileges
    let nnp = secopts.iter().any(|o| {
        let o = o.replace(':', "=");
        o == "no-new-privileges" || o == "no-new-privileges=true"
    });
    push(
        "CIS-DOCKER-5.26",
        if nnp || daemon_nnp {
            Status::Pass
        } else {
            Status::Fail
        },
        if nnp {
            "HostConfig.SecurityOpt has no-new-privileges".into()
        } else if daemon_nnp {
            "no-new-privileges set daemon-wide".into()
        } else {
            format!("HostConfig.SecurityOpt={secopts:?} lacks no-new-privileges")
        },
    );

    // 5.27 health check
    let test = c.strings_at(&["Config", "Healthcheck", "Test"]);
    let has_state = c.at(&["State", "Health"]).is_some();
    let health = has_state || (!test.is_empty() && test[0] != "NONE");
    if test.is_empty() && image_unknown {
        push(
            "CIS-DOCKER-5.27",
            Status::NotApplicable,
            "no Config.Healthcheck in the request, and the image's configuration (its HEALTHCHECK) was not given".into(),
        );
    } else {
        push(
            "CIS-DOCKER-5.27",
            if health { Status::Pass } else { Status::Fail },
            format!("Config.Healthcheck.Test={test:?}"),
        );
    }

    // 5.29 PIDs limit
    let pids = c.int_at(&["HostConfig", "PidsLimit"]);
    push(
        "CIS-DOCKER-5.29",
        if pids > 0 { Status::Pass } else { Status::Fail },
        format!("HostConfig.PidsLimit={pids}"),
    );

    // 5.30 default bridge
    let on_bridge = matches!(net, "" | "default" | "bridge")
        || c.at(&["NetworkSettings", "Networks", "bridge"]).is_some();
    push(
        "CIS-DOCKER-5.30",
        if on_bridge {
            Status::Warn
        } else {
            Status::Pass
        },
        format!("HostConfig.NetworkMode={net:?}"),
    );

    // 5.32 docker.sock
    let socks: Vec<String> = mounts
        .iter()
        .filter(|m| is_docker_sock_mount(m))
        .map(|m| format!("{} -> {}", m.source, m.destination))
        .collect();
    push(
        "CIS-DOCKER-5.32",
        if socks.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        if socks.is_empty() {
            "docker.sock not mounted".into()
        } else {
            format!("Mounts: {}", socks.join(", "))
        },
    );
}
