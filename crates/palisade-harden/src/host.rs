//! Host checks on a tree of files (CIS 1.1, 1.2, 3 and 4.5): ownership and modes of the
//! daemon's files, audit rules, the docker group, a separate partition for the data root,
//! enabled services.
//!
//! Modes are compared as bitmasks (`mode & !allowed == 0`), so 0477 does not pass "644 or
//! more restrictive" as it does in docker-bench-security. Audit rules come from
//! `/etc/audit/audit.rules` and `/etc/audit/rules.d/*.rules` and must name the path exactly.
//! A file that is not there is not applicable, never a pass; a FIFO, device or other special
//! file where a regular file (or directory, or socket) belongs is a failure, and is never
//! opened (opening a FIFO blocks until a writer comes).

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};
use crate::daemon::{DaemonConfig, UNIT_DIRS, load_offline_partial};
use crate::error::Error;
use crate::hostfs::{FileKind, FileMeta, HostRoot, join, normalize};
use crate::profile::Profile;
use crate::target::Target;

const S11: &str = "1.1 Linux Hosts Specific Configuration";
const S12: &str = "1.2 General Configuration";
const S3: &str = "3 Docker daemon configuration files";
const S4: &str = "4 Container Images and Build File";
const H: TargetKind = TargetKind::Host;

const AUDIT_WHY: &str = "Audit records of changes to Docker's files and binaries are needed to investigate an incident.";
const AUDIT_FIX: &str = "Add a watch rule to /etc/audit/rules.d/docker.rules, e.g. `-w PATH -k docker`, and reload auditd (`augenrules --load`).";
const OWN_WHY: &str = "A file that configures the daemon must be writable by root only; whoever can change it controls the daemon.";
const MODE_WHY: &str = "Permissions wider than needed let other users read secrets or change the daemon's configuration.";

macro_rules! audit {
    ($id:expr, $title:expr, $level:expr) => {
        CheckDef::new($id, $title, $level, H, S11, AUDIT_WHY, AUDIT_FIX)
    };
}
macro_rules! own {
    ($id:expr, $title:expr, $level:expr, $fix:expr) => {
        CheckDef::new($id, $title, $level, H, S3, OWN_WHY, $fix)
    };
}
macro_rules! mode {
    ($id:expr, $title:expr, $level:expr, $fix:expr) => {
        CheckDef::new($id, $title, $level, H, S3, MODE_WHY, $fix)
    };
}

/// The host checks.
pub static CHECKS: &[CheckDef] = &[
    CheckDef::new(
        "CIS-DOCKER-1.1.1",
        "Ensure a separate partition for containers has been created",
        Level::One,
        H,
        S11,
        "Containers filling the data root must not fill the host's root file system.",
        "Mount the data root (/var/lib/docker or `data-root`) on its own partition, in /etc/fstab or a systemd .mount unit.",
    ),
    CheckDef::new(
        "CIS-DOCKER-1.1.2",
        "Ensure only trusted users are allowed to control Docker daemon",
        Level::One,
        H,
        S11,
        "Members of group docker are root on the host in all but name.",
        "Remove untrusted users from group docker (`gpasswd -d USER docker`); list trusted ones in the profile's `trusted_docker_users`.",
    ),
    audit!(
        "CIS-DOCKER-1.1.3",
        "Ensure auditing is configured for the Docker daemon",
        Level::One
    ),
    audit!(
        "CIS-DOCKER-1.1.4",
        "Ensure auditing is configured for Docker files and directories - /run/containerd",
        Level::One
    ),
    audit!(
        "CIS-DOCKER-1.1.5",
        "Ensure auditing is configured for Docker files and directories - /var/lib/docker",
        Level::One
    ),
    audit!(
        "CIS-DOCKER-1.1.6",
        "Ensure auditing is configured for Docker files and directories - /etc/docker",
        Level::One
    ),
    audit!(
        "CIS-DOCKER-1.1.7",
        "Ensure auditing is configured for Docker files and directories - docker.service",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.8",
        "Ensure auditing is configured for Docker files and directories - containerd.sock",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.9",
        "Ensure auditing is configured for Docker files and directories - docker.socket",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.10",
        "Ensure auditing is configured for Docker files and directories - /etc/default/docker",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.11",
        "Ensure auditing is configured for Docker files and directories - /etc/docker/daemon.json",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.12",
        "Ensure auditing is configured for Docker files and directories - /etc/containerd/config.toml",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.13",
        "Ensure auditing is configured for Docker files and directories - /etc/sysconfig/docker",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.14",
        "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.15",
        "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.16",
        "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v1",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.17",
        "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v2",
        Level::Two
    ),
    audit!(
        "CIS-DOCKER-1.1.18",
        "Ensure auditing is configured for Docker files and directories - /usr/bin/runc",
        Level::Two
    ),
    CheckDef::new(
        "PAL-HOST-1",
        "Ensure only essential services are enabled on the container host",
        Level::One,
        H,
        S12,
        "Every service running next to the daemon is attack surface on a host that holds root over all containers (CIS 1.2.1 asks for a hardened host).",
        "Disable what the host does not need (`systemctl disable --now NAME`) or allow it in the profile's `allowed-services`.",
    ),
    own!(
        "CIS-DOCKER-3.1",
        "Ensure that the docker.service file ownership is set to root:root",
        Level::One,
        "`chown root:root` the docker.service unit and its drop-ins."
    ),
    mode!(
        "CIS-DOCKER-3.2",
        "Ensure that docker.service file permissions are appropriately set",
        Level::One,
        "`chmod 644` the docker.service unit and its drop-ins."
    ),
    own!(
        "CIS-DOCKER-3.3",
        "Ensure that docker.socket file ownership is set to root:root",
        Level::One,
        "`chown root:root` the docker.socket unit and its drop-ins."
    ),
    mode!(
        "CIS-DOCKER-3.4",
        "Ensure that docker.socket file permissions are set to 644 or more restrictive",
        Level::One,
        "`chmod 644` the docker.socket unit and its drop-ins."
    ),
    own!(
        "CIS-DOCKER-3.5",
        "Ensure that the /etc/docker directory ownership is set to root:root",
        Level::One,
        "`chown root:root /etc/docker`."
    ),
    mode!(
        "CIS-DOCKER-3.6",
        "Ensure that /etc/docker directory permissions are set to 755 or more restrictively",
        Level::One,
        "`chmod 755 /etc/docker`."
    ),
    own!(
        "CIS-DOCKER-3.7",
        "Ensure that registry certificate file ownership is set to root:root",
        Level::One,
        "`chown root:root` every file under /etc/docker/certs.d."
    ),
    mode!(
        "CIS-DOCKER-3.8",
        "Ensure that registry certificate file permissions are set to 444 or more restrictively",
        Level::One,
        "`chmod 444` certificates (and 400 keys) under /etc/docker/certs.d."
    ),
    own!(
        "CIS-DOCKER-3.9",
        "Ensure that TLS CA certificate file ownership is set to root:root",
        Level::One,
        "`chown root:root` the file named by `tlscacert`."
    ),
    mode!(
        "CIS-DOCKER-3.10",
        "Ensure that TLS CA certificate file permissions are set to 444 or more restrictively",
        Level::One,
        "`chmod 444` the file named by `tlscacert`."
    ),
    own!(
        "CIS-DOCKER-3.11",
        "Ensure that Docker server certificate file ownership is set to root:root",
        Level::One,
        "`chown root:root` the file named by `tlscert`."
    ),
    mode!(
        "CIS-DOCKER-3.12",
        "Ensure that the Docker server certificate file permissions are set to 444 or more restrictively",
        Level::One,
        "`chmod 444` the file named by `tlscert`."
    ),
    own!(
        "CIS-DOCKER-3.13",
        "Ensure that the Docker server certificate key file ownership is set to root:root",
        Level::One,
        "`chown root:root` the file named by `tlskey`."
    ),
    mode!(
        "CIS-DOCKER-3.14",
        "Ensure that the Docker server certificate key file permissions are set to 400",
        Level::One,
        "`chmod 400` the file named by `tlskey`."
    ),
    own!(
        "CIS-DOCKER-3.15",
        "Ensure that the Docker socket file ownership is set to root:docker",
        Level::One,
        "`chown root:docker /var/run/docker.sock`, or `SocketUser=root` and `SocketGroup=docker` in docker.socket."
    ),
    mode!(
        "CIS-DOCKER-3.16",
        "Ensure that the Docker socket file permissions are set to 660 or more restrictively",
        Level::One,
        "`chmod 660 /var/run/docker.sock`, or `SocketMode=0660` in docker.socket."
    ),
    own!(
        "CIS-DOCKER-3.17",
        "Ensure that the daemon.json file ownership is set to root:root",
        Level::Two,
        "`chown root:root /etc/docker/daemon.json`."
    ),
    mode!(
        "CIS-DOCKER-3.18",
        "Ensure that daemon.json file permissions are set to 644 or more restrictive",
        Level::Two,
        "`chmod 644 /etc/docker/daemon.json`."
    ),
    own!(
        "CIS-DOCKER-3.19",
        "Ensure that the /etc/default/docker file ownership is set to root:root",
        Level::Two,
        "`chown root:root /etc/default/docker`."
    ),
    mode!(
        "CIS-DOCKER-3.20",
        "Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively",
        Level::Two,
        "`chmod 644 /etc/default/docker`."
    ),
    mode!(
        "CIS-DOCKER-3.21",
        "Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively",
        Level::Two,
        "`chmod 644 /etc/sysconfig/docker`."
    ),
    own!(
        "CIS-DOCKER-3.22",
        "Ensure that the /etc/sysconfig/docker file ownership is set to root:root",
        Level::Two,
        "`chown root:root /etc/sysconfig/docker`."
    ),
    own!(
        "CIS-DOCKER-3.23",
        "Ensure that the Containerd socket file ownership is set to root:root",
        Level::One,
        "`chown root:root /run/containerd/containerd.sock`."
    ),
    mode!(
        "CIS-DOCKER-3.24",
        "Ensure that the Containerd socket file permissions are set to 660 or more restrictively",
        Level::One,
        "`chmod 660 /run/containerd/containerd.sock`."
    ),
    CheckDef::new(
        "CIS-DOCKER-4.5",
        "Ensure Content trust for Docker is Enabled",
        Level::Two,
        H,
        S4,
        "With content trust, the docker client refuses unsigned images. Read from the host's login environment (/etc/environment, /etc/profile, /etc/profile.d), not from the scanner's own.",
        "Add `DOCKER_CONTENT_TRUST=1` to /etc/environment or a file in /etc/profile.d.",
    ),
];

/// A user and group database read from a host or image tree.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    /// name → uid.
    pub users: Vec<(String, u32)>,
    /// (name, gid, members).
    pub groups: Vec<(String, u32, Vec<String>)>,
}

impl Accounts {
    /// Parses `/etc/passwd` and `/etc/group` texts (bad lines are skipped).
    #[must_use]
    pub fn parse(passwd: &str, group: &str) -> Accounts {
        let users = passwd
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                let members = f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
            })
            .collect();
        Accounts { users, groups }
    }

    fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.iter().find(|u| u.1 == uid).map(|u| u.0.as_str())
    }

    fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.1 == gid)
            .map(|g| g.0.as_str())
    }

    /// The gid of group `name`.
    #[must_use]
    pub fn gid(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|g| g.0 == name).map(|g| g.1)
    }

    fn owner(&self, m: &FileMeta) -> String {
        format!(
            "{}:{} ({}:{})",
            m.uid,
            m.gid,
            self.user_name(m.uid).unwrap_or("?"),
            self.group_name(m.gid).unwrap_or("?")
        )
    }
}

fn describe(acc: &Accounts, m: &FileMeta) -> String {
    format!("mode {:04o}, owner {}", m.mode, acc.owner(m))
}

/// `mode & !allowed == 0`, with the offending bits named.
#[must_use]
pub fn mode_ok(mode: u32, allowed: u32) -> bool {
    mode & 0o7777 & !allowed == 0
}

struct Ctx<'a> {
    root: &'a HostRoot,
    acc: Accounts,
    out: Vec<CheckResult>,
}

impl Ctx<'_> {
    fn na(&mut self, id: &'static str, subject: &str, why: &str) {
        self.out.push(CheckResult::one(
            id,
            Status::NotApplicable,
            Evidence::new(subject, why),
        ));
    }

    fn fail(&mut self, id: &'static str, subject: &str, detail: String) {
        self.out.push(CheckResult::one(
            id,
            Status::Fail,
            Evidence::new(subject, detail).at(subject, None),
        ));
    }

    /// A special file where a regular file belongs: the check fails.
    fn not_regular(&mut self, id: &'static str, path: &str, kind: FileKind, why: &str) {
        self.fail(
            id,
            path,
            format!(
                "{}, not a regular file; not read, so {why}",
                kind.describe()
            ),
        );
    }

    /// The file's metadata, when it is of kind `want`; a file of another kind fails `id`.
    fn stat_as(
        &mut self,
        id: &'static str,
        path: &str,
        want: FileKind,
    ) -> Result<Option<Option<FileMeta>>, Error> {
        match self.root.stat(path)? {
            Some(m) if m.kind != want => {
                let detail = format!(
                    "{}, expected {}; {}",
                    m.kind.describe(),
                    want.describe(),
                    describe(&self.acc, &m)
                );
                self.fail(id, path, detail);
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }

    fn owner(&mut self, id: &'static str, path: &str, want_gid: u32) -> Result<(), Error> {
        self.owner_of(id, path, want_gid, FileKind::File)
    }

    fn owner_of(
        &mut self,
        id: &'static str,
        path: &str,
        want_gid: u32,
        kind: FileKind,
    ) -> Result<(), Error> {
        let Some(meta) = self.stat_as(id, path, kind)? else {
            return Ok(());
        };
        match meta {
            None => self.na(id, path, "not present"),
            Some(m) => {
                let ok = m.uid == 0 && m.gid == want_gid;
                let want = if want_gid == 0 {
                    "root:root".to_owned()
                } else {
                    format!("root:{want_gid}")
                };
                self.out.push(CheckResult::one(
                    id,
                    if ok { Status::Pass } else { Status::Fail },
                    Evidence::new(
                        path,
                        format!("{}; expected {want}", describe(&self.acc, &m)),
                    )
                    .at(path, None),
                ));
            }
        }
        Ok(())
    }

    fn mode(&mut self, id: &'static str, path: &str, allowed: u32) -> Result<(), Error> {
        self.mode_of(id, path, allowed, FileKind::File)
    }

    fn mode_of(
        &mut self,
        id: &'static str,
        path: &str,
        allowed: u32,
        kind: FileKind,
    ) -> Result<(), Error> {
        let Some(meta) = self.stat_as(id, path, kind)? else {
            return Ok(());
        };
        match meta {
            None => self.na(id, path, "not present"),
            Some(m) => {
                let ok = mode_ok(m.mode, allowed);
                let extra = m.mode & 0o7777 & !allowed;
                let detail = if ok {
                    format!("{}; within {allowed:04o}", describe(&self.acc, &m))
                } else {
                    format!(
                        "{}; bits {extra:04o} exceed {allowed:04o}",
                        describe(&self.acc, &m)
                    )
                };
                self.out.push(CheckResult::one(
                    id,
                    if ok { Status::Pass } else { Status::Fail },
                    Evidence::new(path, detail).at(path, None),
                ));
            }
        }
        Ok(())
    }

    /// Owner and mode checks for a list of files (a unit and its drop-ins).
    fn files(
        &mut self,
        own_id: &'static str,
        mode_id: &'static str,
        files: &[String],
        allowed: u32,
        what: &str,
    ) -> Result<(), Error> {
        if files.is_empty() {
            self.na(own_id, what, "not present");
            self.na(mode_id, what, "not present");
            return Ok(());
        }
        for f in files {
            self.owner(own_id, f, 0)?;
            self.mode(mode_id, f, allowed)?;
        }
        Ok(())
    }
}

/// An audit rule naming a path: (path, file, line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRule {
    /// The watched path, normalised.
    pub path: String,
    /// The rules file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// Reads the watch rules of `/etc/audit/audit.rules` and `/etc/audit/rules.d/*.rules`.
///
/// # Errors
/// When a rules file cannot be read.
pub fn audit_rules(root: &HostRoot) -> Result<Vec<AuditRule>, Error> {
    let mut files = vec!["/etc/audit/audit.rules".to_owned()];
    for f in root.list("/etc/audit/rules.d") {
        if f.ends_with(".rules") {
            files.push(join("/etc/audit/rules.d", &f));
        }
    }
    let mut out = Vec::new();
    for file in files {
        let Some(text) = root.read_text(&file)? else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let lineno = u32::try_from(n + 1).unwrap_or(u32::MAX);
            for (i, w) in words.iter().enumerate() {
                let path = match *w {
                    "-w" => words.get(i + 1).map(|p| (*p).to_owned()),
                    "-F" => words.get(i + 1).and_then(|f| {
                        f.strip_prefix("path=")
                            .or_else(|| f.strip_prefix("dir="))
                            .map(str::to_owned)
                    }),
                    w => w
                        .strip_prefix("-Fpath=")
                        .or_else(|| w.strip_prefix("-Fdir="))
                        .map(str::to_owned),
                };
                if let Some(p) = path {
                    out.push(AuditRule {
                        path: normalize(&p),
                        file: file.clone(),
                        line: lineno,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The host target: a tree of files under a root and the daemon configuration found there
/// (read with [`load_offline_partial`]: its unreadable files fail the checks of the files
/// they are). The checks read the other files they need from the root as they run.
#[derive(Debug)]
pub struct Host {
    root: HostRoot,
    daemon: DaemonConfig,
}

impl Host {
    /// Reads the daemon configuration under `root`.
    ///
    /// # Errors
    /// When a configuration file exists but cannot be read, or daemon.json is not a JSON
    /// object.
    pub fn load(root: HostRoot) -> Result<Host, Error> {
        let daemon = load_offline_partial(&root)?;
        Ok(Host { root, daemon })
    }

    /// The root the checks read from.
    #[must_use]
    pub fn root(&self) -> &HostRoot {
        &self.root
    }
}

impl Target for Host {
    fn kind(&self) -> TargetKind {
        TargetKind::Host
    }

    fn subject(&self) -> String {
        self.root.root().display().to_string()
    }

    fn check(&self, profile: &Profile) -> Result<Vec<CheckResult>, Error> {
        check_host_with(&self.root, &self.daemon, profile)
    }
}

/// Runs every host check on the tree ([`Host::load`] and [`Target::check`] in one call).
///
/// # Errors
/// When a file exists but cannot be read.
pub fn check_host(root: &HostRoot, profile: &Profile) -> Result<Vec<CheckResult>, Error> {
    let cfg = load_offline_partial(root)?;
    check_host_with(root, &cfg, profile)
}

/// Runs every host check with an already loaded daemon configuration (from
/// [`load_offline_partial`]: its unreadable files fail
/// the checks of the files they are).
///
/// # Errors
/// When a file exists but cannot be read.
#[allow(clippy::too_many_lines)]
pub fn check_host_with(
    root: &HostRoot,
    cfg: &DaemonConfig,
    profile: &Profile,
) -> Result<Vec<CheckResult>, Error> {
    let mut accounts_unreadable = None;
    let mut read_accounts = |path: &str| match root.read_text(path) {
        Err(Error::NotRegular { path, kind }) => {
            accounts_unreadable.get_or_insert((path, kind));
            Ok(None)
        }
        other => other,
    };
    let passwd = read_accounts("/etc/passwd")?.unwrap_or_default();
    let group = read_accounts("/etc/group")?;
    let acc = Accounts::parse(&passwd, group.as_deref().unwrap_or(""));
    let mut cx = Ctx {
        root,
        acc,
        out: Vec::new(),
    };
    let data_root = normalize(&cfg.data_root());

    // 1.1.1 partition
    partition(&mut cx, &data_root)?;

    // 1.1.2 docker group
    match cx.acc.groups.iter().find(|g| g.0 == "docker").cloned() {
        _ if accounts_unreadable.is_some() => {
            if let Some((path, kind)) = &accounts_unreadable {
                cx.not_regular(
                    "CIS-DOCKER-1.1.2",
                    path,
                    *kind,
                    "the members of group docker are unknown",
                );
            }
        }
        None => cx.na(
            "CIS-DOCKER-1.1.2",
            "/etc/group",
            if group.is_some() {
                "no group docker"
            } else {
                "/etc/group not present"
            },
        ),
        Some((_, gid, mut members)) => {
            // Users whose primary group is docker are members too.
            for line in passwd.lines() {
                let f: Vec<&str> = line.split(':').collect();
                if f.get(3).and_then(|g| g.parse::<u32>().ok()) == Some(gid)
                    && let Some(name) = f.first()
                    && !members.iter().any(|m| m == name)
                {
                    members.push((*name).to_owned());
                }
            }
            let line = group
                .as_deref()
                .and_then(|g| g.lines().position(|l| l.starts_with("docker:")))
                .and_then(|n| u32::try_from(n + 1).ok());
            let untrusted: Vec<&String> = members
                .iter()
                .filter(|m| !profile.trusted_docker_users.contains(m))
                .collect();
            let (st, detail) = if members.is_empty() {
                (Status::Pass, "group docker has no members".to_owned())
            } else if untrusted.is_empty() {
                (
                    Status::Pass,
                    format!("members {members:?} are all trusted by the profile"),
                )
            } else if profile.trusted_docker_users.is_empty() {
                (
                    Status::Warn,
                    format!(
                        "members to review: {members:?} (no trusted-docker-users in the profile)"
                    ),
                )
            } else {
                (Status::Fail, format!("untrusted members: {untrusted:?}"))
            };
            cx.out.push(CheckResult::one(
                "CIS-DOCKER-1.1.2",
                st,
                Evidence::new("group docker", detail).at("/etc/group", line),
            ));
        }
    }

    // 1.1.3 – 1.1.18 audit rules
    let (rules, rules_unreadable) = match audit_rules(root) {
        Ok(r) => (r, None),
        Err(Error::NotRegular { path, kind }) => (Vec::new(), Some((path, kind))),
        Err(e) => return Err(e),
    };
    let service = cfg.service_unit.clone();
    let socket = cfg.socket_unit.clone();
    let audits: Vec<(&'static str, Vec<String>)> = vec![
        (
            "CIS-DOCKER-1.1.3",
            vec!["/usr/bin/dockerd".into(), "/usr/sbin/dockerd".into()],
        ),
        ("CIS-DOCKER-1.1.4", vec!["/run/containerd".into()]),
        ("CIS-DOCKER-1.1.5", vec![data_root.clone()]),
        ("CIS-DOCKER-1.1.6", vec!["/etc/docker".into()]),
        ("CIS-DOCKER-1.1.7", with_usr_alias(service)),
        (
            "CIS-DOCKER-1.1.8",
            vec!["/run/containerd/containerd.sock".into()],
        ),
        ("CIS-DOCKER-1.1.9", with_usr_alias(socket)),
        ("CIS-DOCKER-1.1.10", vec!["/etc/default/docker".into()]),
        (
            "CIS-DOCKER-1.1.11",
            vec![
                cfg.daemon_json
                    .clone()
                    .unwrap_or_else(|| "/etc/docker/daemon.json".into()),
            ],
        ),
        (
            "CIS-DOCKER-1.1.12",
            vec!["/etc/containerd/config.toml".into()],
        ),
        ("CIS-DOCKER-1.1.13", vec!["/etc/sysconfig/docker".into()]),
        (
            "CIS-DOCKER-1.1.14",
            vec!["/usr/bin/containerd".into(), "/usr/sbin/containerd".into()],
        ),
        ("CIS-DOCKER-1.1.15", vec!["/usr/bin/containerd-shim".into()]),
        (
            "CIS-DOCKER-1.1.16",
            vec!["/usr/bin/containerd-shim-runc-v1".into()],
        ),
        (
            "CIS-DOCKER-1.1.17",
            vec!["/usr/bin/containerd-shim-runc-v2".into()],
        ),
        (
            "CIS-DOCKER-1.1.18",
            vec!["/usr/bin/runc".into(), "/usr/sbin/runc".into()],
        ),
    ];
    for (id, candidates) in audits {
        if let Some((path, kind)) = &rules_unreadable {
            cx.not_regular(id, path, *kind, "the audit rules are unknown");
            continue;
        }
        let candidates: Vec<String> = candidates.iter().map(|c| normalize(c)).collect();
        if let Some(r) = rules.iter().find(|r| candidates.contains(&r.path)) {
            cx.out.push(CheckResult::one(
                id,
                Status::Pass,
                Evidence::new(r.path.clone(), format!("audited by {}:{}", r.file, r.line))
                    .at(r.file.clone(), Some(r.line)),
            ));
            continue;
        }
        let mut present = Vec::new();
        for c in &candidates {
            if root.stat(c)?.is_some() {
                present.push(c.clone());
            }
        }
        if present.is_empty() {
            let what = candidates.first().cloned().unwrap_or_else(|| "unit".into());
            cx.na(id, &what, "not present");
        } else {
            cx.out.push(CheckResult::one(
                id,
                Status::Fail,
                Evidence::new(
                    present.join(", "),
                    format!(
                        "no audit rule names it exactly ({} rule(s) read)",
                        rules.len()
                    ),
                ),
            ));
        }
    }

    // PAL-HOST-1 enabled services
    services(&mut cx, profile);

    // 3.1 – 3.4 units
    let mut service_files: Vec<String> = cfg.service_unit.iter().cloned().collect();
    service_files.extend(cfg.service_dropins.iter().cloned());
    cx.files(
        "CIS-DOCKER-3.1",
        "CIS-DOCKER-3.2",
        &service_files,
        0o644,
        "docker.service",
    )?;
    let mut socket_files: Vec<String> = cfg.socket_unit.iter().cloned().collect();
    socket_files.extend(cfg.socket_dropins.iter().cloned());
    cx.files(
        "CIS-DOCKER-3.3",
        "CIS-DOCKER-3.4",
        &socket_files,
        0o644,
        "docker.socket",
    )?;

    // 3.5 / 3.6 /etc/docker
    cx.owner_of("CIS-DOCKER-3.5", "/etc/docker", 0, FileKind::Dir)?;
    cx.mode_of("CIS-DOCKER-3.6", "/etc/docker", 0o755, FileKind::Dir)?;

    // 3.7 / 3.8 certs.d
    let mut certs = Vec::new();
    walk(root, "/etc/docker/certs.d", 0, &mut certs)?;
    if certs.is_empty() {
        cx.na(
            "CIS-DOCKER-3.7",
            "/etc/docker/certs.d",
            "no registry certificates",
        );
        cx.na(
            "CIS-DOCKER-3.8",
            "/etc/docker/certs.d",
            "no registry certificates",
        );
    }
    for c in &certs {
        cx.owner("CIS-DOCKER-3.7", c, 0)?;
        let allowed = if c.ends_with(".key") { 0o400 } else { 0o444 };
        cx.mode("CIS-DOCKER-3.8", c, allowed)?;
    }

    // 3.9 – 3.14 TLS material
    for (key, own_id, mode_id, allowed) in [
        ("tlscacert", "CIS-DOCKER-3.9", "CIS-DOCKER-3.10", 0o444),
        ("tlscert", "CIS-DOCKER-3.11", "CIS-DOCKER-3.12", 0o444),
        ("tlskey", "CIS-DOCKER-3.13", "CIS-DOCKER-3.14", 0o400),
    ] {
        match cfg.string(key) {
            None => {
                cx.na(own_id, key, "not configured");
                cx.na(mode_id, key, "not configured");
            }
            Some(p) => {
                let p = normalize(p);
                if root.stat(&p)?.is_none() {
                    for id in [own_id, mode_id] {
                        cx.out.push(CheckResult::one(
                            id,
                            Status::Fail,
                            Evidence::new(p.clone(), format!("configured as {key} but missing")),
                        ));
                    }
                } else {
                    cx.owner(own_id, &p, 0)?;
                    cx.mode(mode_id, &p, allowed)?;
                }
            }
        }
    }

    // 3.15 / 3.16 docker.sock
    docker_socket(&mut cx, cfg)?;

    // 3.17 – 3.22 daemon.json, /etc/default/docker, /etc/sysconfig/docker
    let json = cfg
        .daemon_json
        .clone()
        .unwrap_or_else(|| "/etc/docker/daemon.json".into());
    cx.owner("CIS-DOCKER-3.17", &json, 0)?;
    cx.mode("CIS-DOCKER-3.18", &json, 0o644)?;
    cx.owner("CIS-DOCKER-3.19", "/etc/default/docker", 0)?;
    cx.mode("CIS-DOCKER-3.20", "/etc/default/docker", 0o644)?;
    cx.mode("CIS-DOCKER-3.21", "/etc/sysconfig/docker", 0o644)?;
    cx.owner("CIS-DOCKER-3.22", "/etc/sysconfig/docker", 0)?;

    // 3.23 / 3.24 containerd socket (present only on a running host)
    let cs = "/run/containerd/containerd.sock";
    match root.stat(cs)? {
        Some(m) if m.kind == FileKind::Socket => {
            cx.owner_of("CIS-DOCKER-3.23", cs, 0, FileKind::Socket)?;
            cx.mode_of("CIS-DOCKER-3.24", cs, 0o660, FileKind::Socket)?;
        }
        _ => {
            cx.na(
                "CIS-DOCKER-3.23",
                cs,
                "no socket (containerd not running, or an offline tree)",
            );
            cx.na(
                "CIS-DOCKER-3.24",
                cs,
                "no socket (containerd not running, or an offline tree)",
            );
        }
    }

    // 4.5 content trust
    content_trust(&mut cx)?;

    // Configuration files of the daemon that are special files and that no owner or mode
    // check above looked at (an EnvironmentFile of the unit): they fail 3.1, the unit's.
    for (path, kind) in &cfg.unreadable {
        if !cx.out.iter().any(|r| r.subject() == path.as_str()) {
            cx.not_regular(
                "CIS-DOCKER-3.1",
                path,
                *kind,
                "the daemon's configuration is unknown",
            );
        }
    }
    Ok(cx.out)
}

/// A unit path and its merged-`/usr` twin (`/lib/…` and `/usr/lib/…` are one file there), so
/// an audit rule naming either one counts.
fn with_usr_alias(unit: Option<String>) -> Vec<String> {
    let Some(u) = unit else { return Vec::new() };
    let twin = if let Some(rest) = u.strip_prefix("/usr/lib/") {
        Some(format!("/lib/{rest}"))
    } else {
        u.strip_prefix("/lib/")
            .map(|rest| format!("/usr/lib/{rest}"))
    };
    std::iter::once(u).chain(twin).collect()
}

fn walk(root: &HostRoot, dir: &str, depth: usize, out: &mut Vec<String>) -> Result<(), Error> {
    if depth > 4 || out.len() > 10_000 {
        return Ok(());
    }
    for name in root.list(dir) {
        let p = join(dir, &name);
        match root.stat(&p)? {
            Some(m) if m.kind == FileKind::Dir && !root.is_symlink(&p) => {
                walk(root, &p, depth + 1, out)?
            }
            // Special files too: they fail the checks of the file they stand in for.
            Some(m) if m.kind != FileKind::Dir => out.push(p),
            _ => {}
        }
    }
    Ok(())
}

fn partition(cx: &mut Ctx<'_>, data_root: &str) -> Result<(), Error> {
    let id = "CIS-DOCKER-1.1.1";
    let fstab = match cx.root.read_text("/etc/fstab") {
        Err(Error::NotRegular { path, kind }) => {
            cx.not_regular(id, &path, kind, "the mount table is unknown");
            return Ok(());
        }
        other => other?,
    };
    if let Some(text) = &fstab {
        for (n, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.first().is_some_and(|w| w.starts_with('#')) || f.len() < 2 {
                continue;
            }
            if normalize(f[1]) == data_root {
                cx.out.push(CheckResult::one(
                    id,
                    Status::Pass,
                    Evidence::new(
                        data_root,
                        format!("mounted from {} ({})", f[0], f.get(2).unwrap_or(&"?")),
                    )
                    .at("/etc/fstab", u32::try_from(n + 1).ok()),
                ));
                return Ok(());
            }
        }
    }
    let mut units = 0;
    for dir in UNIT_DIRS {
        for name in cx.root.list(dir) {
            if !name.ends_with(".mount") {
                continue;
            }
            units += 1;
            let path = join(dir, &name);
            let text = match cx.root.read_text(&path) {
                Err(Error::NotRegular { path, kind }) => {
                    cx.not_regular(id, &path, kind, "the mount units are unknown");
                    return Ok(());
                }
                other => other?,
            };
            if let Some(text) = text {
                for (n, line) in text.lines().enumerate() {
                    if let Some(w) = line.trim().strip_prefix("Where=")
                        && normalize(w.trim()) == data_root
                    {
                        cx.out.push(CheckResult::one(
                            id,
                            Status::Pass,
                            Evidence::new(data_root, format!("mounted by unit {name}"))
                                .at(path.clone(), u32::try_from(n + 1).ok()),
                        ));
                        return Ok(());
                    }
                }
            }
        }
    }
    if fstab.is_none() && units == 0 {
        cx.na(
            id,
            data_root,
            "no /etc/fstab and no systemd .mount unit to read; the mount table is live-only",
        );
    } else {
        cx.out.push(CheckResult::one(
            id,
            Status::Fail,
            Evidence::new(
                data_root,
                format!("not a mount point in /etc/fstab or in {units} .mount unit(s)"),
            ),
        ));
    }
    Ok(())
}

fn services(cx: &mut Ctx<'_>, profile: &Profile) {
    let base = "/etc/systemd/system";
    let wants: Vec<String> = cx
        .root
        .list(base)
        .into_iter()
        .filter(|d| d.ends_with(".wants"))
        .collect();
    if wants.is_empty() {
        cx.na("PAL-HOST-1", base, "no enabled systemd units found");
        return;
    }
    let mut enabled = Vec::new();
    for w in &wants {
        for name in cx.root.list(&join(base, w)) {
            if let Some(svc) = name.strip_suffix(".service")
                && !enabled.iter().any(|(s, _): &(String, String)| s == svc)
            {
                enabled.push((svc.to_owned(), w.clone()));
            }
        }
    }
    let bad: Vec<String> = enabled
        .iter()
        .filter(|(s, _)| !profile.service_allowed(s))
        .map(|(s, w)| format!("{s} ({w})"))
        .collect();
    if bad.is_empty() {
        cx.out.push(CheckResult::one(
            "PAL-HOST-1",
            Status::Pass,
            Evidence::new(
                base,
                format!("{} enabled service(s), all allowed", enabled.len()),
            ),
        ));
    } else {
        cx.out.push(CheckResult::one(
            "PAL-HOST-1",
            Status::Fail,
            Evidence::new(
                base,
                format!("enabled services not in the allowlist: {}", bad.join(", ")),
            ),
        ));
    }
}

fn docker_socket(cx: &mut Ctx<'_>, cfg: &DaemonConfig) -> Result<(), Error> {
    let docker_gid = cx.acc.gid("docker");
    for p in ["/run/docker.sock", "/var/run/docker.sock"] {
        if let Some(m) = cx.root.stat(p)?
            && m.kind == FileKind::Socket
        {
            let ok = m.uid == 0 && Some(m.gid) == docker_gid;
            cx.out.push(CheckResult::one(
                "CIS-DOCKER-3.15",
                if ok { Status::Pass } else { Status::Fail },
                Evidence::new(
                    p,
                    format!("{}; expected root:docker", describe(&cx.acc, &m)),
                )
                .at(p, None),
            ));
            return cx.mode_of("CIS-DOCKER-3.16", p, 0o660, FileKind::Socket);
        }
    }
    let Some(unit) = cfg.socket_unit.clone() else {
        cx.na(
            "CIS-DOCKER-3.15",
            "docker.sock",
            "no socket and no docker.socket unit",
        );
        cx.na(
            "CIS-DOCKER-3.16",
            "docker.sock",
            "no socket and no docker.socket unit",
        );
        return Ok(());
    };
    let get = |k: &str, default: &str| -> (String, String, Option<u32>) {
        cfg.socket_settings.get(k).map_or_else(
            || (default.to_owned(), unit.clone(), None),
            |(v, f, l)| (v.clone(), f.clone(), Some(*l)),
        )
    };
    let (user, uf, ul) = get("SocketUser", "root");
    let (group, gf, gl) = get("SocketGroup", "docker");
    let ok = (user == "root" || user == "0")
        && (group == "docker" || docker_gid.is_some_and(|g| group == g.to_string()));
    cx.out.push(CheckResult::one(
        "CIS-DOCKER-3.15",
        if ok { Status::Pass } else { Status::Fail },
        Evidence::new("docker.sock", format!("docker.socket SocketUser={user} SocketGroup={group} (from {}; no live socket in the tree)", if uf == gf { uf.clone() } else { format!("{uf} and {gf}") }))
            .at(if ul.is_some() { uf.clone() } else { gf.clone() }, ul.or(gl)),
    ));
    let (mode, mf, ml) = get("SocketMode", "0660");
    let parsed = u32::from_str_radix(mode.trim_start_matches("0o"), 8).ok();
    let ok = parsed.is_some_and(|m| mode_ok(m, 0o660));
    cx.out.push(CheckResult::one(
        "CIS-DOCKER-3.16",
        if ok { Status::Pass } else { Status::Fail },
        Evidence::new(
            "docker.sock",
            format!("docker.socket SocketMode={mode} (from {mf}; no live socket in the tree)"),
        )
        .at(mf, ml),
    ));
    Ok(())
}

fn content_trust(cx: &mut Ctx<'_>) -> Result<(), Error> {
    let mut files = vec![
        "/etc/environment".to_owned(),
        "/etc/profile".to_owned(),
        "/etc/bash.bashrc".to_owned(),
    ];
    for f in cx.root.list("/etc/profile.d") {
        if f.ends_with(".sh") {
            files.push(join("/etc/profile.d", &f));
        }
    }
    let mut read = 0;
    for f in &files {
        let text = match cx.root.read_text(f) {
            Err(Error::NotRegular { path, kind }) => {
                cx.not_regular(
                    "CIS-DOCKER-4.5",
                    &path,
                    kind,
                    "DOCKER_CONTENT_TRUST is unknown",
                );
                return Ok(());
            }
            other => other?,
        };
        let Some(text) = text else {
            continue;
        };
        read += 1;
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            let l = l.strip_prefix("export ").unwrap_or(l).trim();
            if let Some(v) = l.strip_prefix("DOCKER_CONTENT_TRUST=") {
                let v = v.trim().trim_matches(['"', '\'']);
                if v == "1" {
                    cx.out.push(CheckResult::one(
                        "CIS-DOCKER-4.5",
                        Status::Pass,
                        Evidence::new("DOCKER_CONTENT_TRUST", "set to 1")
                            .at(f.clone(), u32::try_from(n + 1).ok()),
                    ));
                    return Ok(());
                }
            }
        }
    }
    if read == 0 {
        cx.na(
            "CIS-DOCKER-4.5",
            "DOCKER_CONTENT_TRUST",
            "no /etc/environment or profile files",
        );
    } else {
        cx.out.push(CheckResult::one(
            "CIS-DOCKER-4.5",
            Status::Fail,
            Evidence::new(
                "DOCKER_CONTENT_TRUST",
                format!("not set to 1 in {}", files.join(", ")),
            ),
        ));
    }
    Ok(())
}
