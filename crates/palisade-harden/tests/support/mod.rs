//! Test support: a hardened host tree, a hardened container, a hardened image, each of which a
//! test breaks in exactly one place.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use palisade_harden::check::{CheckResult, Status, TargetKind};
use palisade_harden::containers::{Containers, parse_inspect};
use palisade_harden::daemon::{Daemon, apply_info, load_offline};
use palisade_harden::host::Host;
use palisade_harden::hostfs::HostRoot;
use palisade_harden::image::{FileFact, ImageFacts};
use palisade_harden::profile::Profile;
use palisade_harden::target::Target;
use serde_json::{Map, Value, json};

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A host tree in a temporary directory, with ownership overrides (tests cannot chown without
/// root; every path defaults to root:root).
pub(crate) struct HostTree {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) owners: Vec<(String, u32, u32)>,
}

impl HostTree {
    pub(crate) fn empty() -> HostTree {
        HostTree {
            dir: tempfile::tempdir().unwrap(),
            owners: Vec::new(),
        }
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    pub(crate) fn write(&self, p: &str, content: &str, mode: u32) {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        self.chmod(p, mode);
    }

    pub(crate) fn mkdir(&self, p: &str, mode: u32) {
        fs::create_dir_all(self.path(p)).unwrap();
        self.chmod(p, mode);
    }

    pub(crate) fn chmod(&self, p: &str, mode: u32) {
        fs::set_permissions(self.path(p), fs::Permissions::from_mode(mode)).unwrap();
    }

    pub(crate) fn remove(&self, p: &str) {
        let path = self.path(p);
        if path.is_dir() {
            fs::remove_dir_all(path).unwrap();
        } else {
            fs::remove_file(path).unwrap();
        }
    }

    pub(crate) fn link(&self, p: &str, target: &str) {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
    }

    pub(crate) fn socket(&self, p: &str, mode: u32) {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        drop(UnixListener::bind(&path).unwrap());
        self.chmod(p, mode);
    }

    pub(crate) fn own(&mut self, p: &str, uid: u32, gid: u32) {
        self.owners.push((p.to_owned(), uid, gid));
    }

    pub(crate) fn root(&self) -> HostRoot {
        let mut r = HostRoot::new(self.dir.path()).with_default_owner(0, 0);
        for (p, u, g) in &self.owners {
            r = r.with_owner(p, *u, *g);
        }
        r
    }

    /// Edits /etc/docker/daemon.json.
    pub(crate) fn daemon_json(&self, f: impl FnOnce(&mut Map<String, Value>)) {
        let path = self.path("/etc/docker/daemon.json");
        let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        f(v.as_object_mut().unwrap());
        fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// A host that passes every host and daemon check.
    pub(crate) fn hardened() -> HostTree {
        let t = HostTree::empty();
        let fx = fixtures();
        let read = |p: &str| fs::read_to_string(fx.join(p)).unwrap();
        t.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
            0o644,
        );
        t.write(
            "/etc/group",
            "root:x:0:\ndocker:x:998:alice\nalice:x:1000:\n",
            0o644,
        );
        t.write("/etc/fstab", "# <fs> <mount> <type> <options> <dump> <pass>\nUUID=1234 / ext4 defaults 0 1\n/dev/sdb1 /var/lib/docker ext4 defaults,nodev 0 2\n", 0o644);
        t.mkdir("/etc/docker", 0o755);
        t.write(
            "/etc/docker/daemon.json",
            &read("daemon/hardened.json"),
            0o644,
        );
        t.write(
            "/etc/docker/tls/ca.pem",
            "-----BEGIN CERTIFICATE-----\n",
            0o444,
        );
        t.write(
            "/etc/docker/tls/server-cert.pem",
            "-----BEGIN CERTIFICATE-----\n",
            0o444,
        );
        t.write(
            "/etc/docker/tls/server-key.pem",
            "-----BEGIN PRIVATE KEY-----\n",
            0o400,
        );
        t.write(
            "/etc/docker/certs.d/registry.example:5000/ca.crt",
            "-----BEGIN CERTIFICATE-----\n",
            0o444,
        );
        t.write(
            "/etc/docker/certs.d/registry.example:5000/client.cert",
            "-----BEGIN CERTIFICATE-----\n",
            0o444,
        );
        t.write(
            "/etc/docker/certs.d/registry.example:5000/client.key",
            "-----BEGIN PRIVATE KEY-----\n",
            0o400,
        );
        t.write(
            "/lib/systemd/system/docker.service",
            &read("host/docker.service"),
            0o644,
        );
        t.write(
            "/lib/systemd/system/docker.socket",
            &read("host/docker.socket"),
            0o644,
        );
        t.write(
            "/etc/systemd/system/docker.service.d/override.conf",
            "[Service]\nLimitNOFILE=1048576\n",
            0o644,
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/docker.service",
            "/lib/systemd/system/docker.service",
        );
        t.link(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        );
        t.link(
            "/etc/systemd/system/sockets.target.wants/docker.socket",
            "/lib/systemd/system/docker.socket",
        );
        t.write(
            "/etc/default/docker",
            "# Docker Upstart and SysVinit configuration file\nDOCKER_OPTS=\"-H tcp://10.0.0.5:2376\"\n",
            0o644,
        );
        t.write("/etc/sysconfig/docker", "OPTIONS=\"\"\n", 0o644);
        t.write(
            "/etc/audit/audit.rules",
            "## generated by augenrules\n-D\n-b 8192\n",
            0o640,
        );
        t.write(
            "/etc/audit/rules.d/docker.rules",
            &read("host/audit-docker.rules"),
            0o640,
        );
        for b in [
            "dockerd",
            "containerd",
            "containerd-shim",
            "containerd-shim-runc-v1",
            "containerd-shim-runc-v2",
            "runc",
        ] {
            t.write(&format!("/usr/bin/{b}"), "#!/bin/false\n", 0o755);
        }
        t.write("/etc/containerd/config.toml", "version = 2\n", 0o644);
        t.socket("/run/containerd/containerd.sock", 0o660);
        t.mkdir("/var/lib/docker", 0o710);
        t.write(
            "/etc/environment",
            "PATH=/usr/bin:/bin\nDOCKER_CONTENT_TRUST=1\n",
            0o644,
        );
        t
    }
}

/// The profile the hardened host is checked with.
pub(crate) fn host_profile() -> Profile {
    Profile {
        trusted_docker_users: vec!["alice".into()],
        ..Profile::default()
    }
}

/// The profile images are checked with.
pub(crate) fn image_profile() -> Profile {
    Profile {
        trusted_registries: vec!["registry.example".into()],
        ..Profile::default()
    }
}

/// The hardened container's inspect document.
pub(crate) fn hardened_container() -> Value {
    let text = fs::read(fixtures().join("inspect/hardened.json")).unwrap();
    let v: Value = serde_json::from_slice(&text).unwrap();
    v[0].clone()
}

/// Sets `pointer` (which must exist up to its parent) in a JSON document.
pub(crate) fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let p = if parent.is_empty() {
        doc
    } else {
        doc.pointer_mut(parent).unwrap()
    };
    p.as_object_mut().unwrap().insert(key.to_owned(), value);
}

fn file(mode: u32, content: Option<&str>) -> FileFact {
    FileFact {
        mode,
        uid: 0,
        gid: 0,
        size: content.map_or(100, |c| c.len() as u64),
        content: content.map(|c| c.as_bytes().to_vec()),
        private_key: content.is_some_and(|c| c.contains("PRIVATE KEY-----")),
    }
}

/// Adds a file to image facts (keeping path order).
pub(crate) fn add_file(f: &mut ImageFacts, path: &str, mode: u32, content: Option<&str>) {
    f.files.retain(|(p, _, _)| p != path);
    f.files.push((path.to_owned(), 1, file(mode, content)));
    f.files.sort_by(|a, b| a.0.cmp(&b.0));
}

/// An image that passes every image check.
pub(crate) fn hardened_image() -> ImageFacts {
    let mut f = ImageFacts {
        name: "registry.example/app:1.0".into(),
        reference: Some("registry.example/app:1.0".into()),
        user: Some("app".into()),
        env: vec!["PATH=/usr/bin:/bin".into(), "GPG_KEY=0123ABCD".into()],
        healthcheck: Some(vec!["CMD".into(), "/app/server".into(), "--health".into()]),
        history: vec![
            "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ".into(),
            "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*".into(),
            "COPY server /app/server # buildkit".into(),
            "USER app".into(),
        ],
        files: Vec::new(),
    };
    add_file(
        &mut f,
        "etc/passwd",
        0o644,
        Some(
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:10001:10001::/app:/usr/sbin/nologin\n",
        ),
    );
    add_file(
        &mut f,
        "etc/shadow",
        0o640,
        Some("root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\napp:!:19000::::::\n"),
    );
    add_file(
        &mut f,
        "etc/group",
        0o644,
        Some("root:x:0:\nnogroup:x:65534:\napp:x:10001:\n"),
    );
    add_file(&mut f, "bin/sh", 0o755, None);
    add_file(&mut f, "app/server", 0o755, None);
    add_file(&mut f, "etc/ssl/certs/ca-certificates.crt", 0o644, None);
    add_file(&mut f, "var/lib/apt/lists/lock", 0o640, None);
    f
}

/// Everything a check may look at; a fixture edits one part.
pub(crate) struct World {
    pub(crate) host: HostTree,
    pub(crate) info: Option<Value>,
    pub(crate) container: Value,
    pub(crate) image: ImageFacts,
}

impl World {
    pub(crate) fn hardened() -> World {
        World {
            host: HostTree::hardened(),
            info: None,
            container: hardened_container(),
            image: hardened_image(),
        }
    }

    /// Runs the checks of `target` on this world, the way every caller does: gather, then
    /// [`Target::check`].
    pub(crate) fn run(&self, target: TargetKind) -> Vec<CheckResult> {
        let gathered: Box<dyn Target> = match target {
            TargetKind::Host => Box::new(Host::load(self.host.root()).unwrap()),
            TargetKind::Daemon => {
                let mut cfg = load_offline(&self.host.root()).unwrap();
                if let Some(info) = &self.info {
                    apply_info(&mut cfg, info, "unix:///test.sock");
                }
                Box::new(Daemon::new(cfg, "fixture"))
            }
            TargetKind::Container => {
                let text = serde_json::to_vec(&self.container).unwrap();
                let cs = parse_inspect(&text, "fixture").unwrap();
                Box::new(Containers::new(cs, false, "fixture"))
            }
            TargetKind::Image => Box::new(self.image.clone()),
            other => panic!("no fixtures for {other}"),
        };
        assert_eq!(gathered.kind(), target);
        let profile = match target {
            TargetKind::Host => host_profile(),
            TargetKind::Image => image_profile(),
            _ => Profile::default(),
        };
        gathered.check(&profile).unwrap()
    }
}

/// The statuses `id` got.
pub(crate) fn statuses(results: &[CheckResult], id: &str) -> Vec<Status> {
    results
        .iter()
        .filter(|r| r.id == id)
        .map(|r| r.status)
        .collect()
}

pub(crate) fn info_swarm(state: &str) -> Value {
    json!({"Swarm": {"LocalNodeState": state}, "LoggingDriver": "syslog", "LiveRestoreEnabled": true, "Driver": "overlay2", "SecurityOptions": ["name=seccomp,profile=default", "name=userns"], "Plugins": {"Authorization": ["authz-broker"]}, "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": true}}}})
}
