//! Host checks: bitmask modes, exact audit paths, symlinks kept inside the root, groups,
//! services, and "nothing to check" never passing.

mod support;

use palisade_harden::check::Status;
use palisade_harden::host::{audit_rules, check_host, mode_ok};
use palisade_harden::profile::Profile;
use support::{HostTree, host_profile, statuses};

#[test]
fn modes_are_bitmasks() {
    assert!(mode_ok(0o644, 0o644));
    assert!(mode_ok(0o600, 0o644));
    assert!(mode_ok(0o400, 0o444));
    // docker-bench-security compares `stat -c %a` as decimal numbers: 477 < 644 passes there.
    assert!(!mode_ok(0o477, 0o644));
    assert!(!mode_ok(0o560, 0o644));
    assert!(!mode_ok(0o4644, 0o644), "setuid is not within 644");
    assert!(!mode_ok(0o600, 0o400));
}

#[test]
fn audit_rules_come_from_both_files_and_match_exactly() {
    let t = HostTree::empty();
    t.write(
        "/etc/audit/audit.rules",
        "-w /etc/docker -k docker\n# -w /var/lib/docker\n",
        0o640,
    );
    t.write("/etc/audit/rules.d/a.rules", "-a exit,always -F path=/usr/bin/containerd-shim -F perm=war\n-w /etc/docker/daemon.json -p wa\n", 0o640);
    t.write(
        "/etc/audit/rules.d/ignored.conf",
        "-w /usr/bin/runc\n",
        0o640,
    );
    let rules = audit_rules(&t.root()).unwrap();
    let paths: Vec<&str> = rules.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/etc/docker",
            "/usr/bin/containerd-shim",
            "/etc/docker/daemon.json"
        ]
    );
    assert_eq!(
        (rules[1].file.as_str(), rules[1].line),
        ("/etc/audit/rules.d/a.rules", 1)
    );
    t.write("/usr/bin/containerd", "", 0o755);
    t.write("/usr/bin/runc", "", 0o755);
    let r = check_host(&t.root(), &Profile::default()).unwrap();
    assert_eq!(statuses(&r, "CIS-DOCKER-1.1.6"), [Status::Pass]);
    // A rule for containerd-shim does not audit containerd; .conf files are not rules files.
    assert_eq!(statuses(&r, "CIS-DOCKER-1.1.14"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-1.1.18"), [Status::Fail]);
    // Not present and not audited: nothing to decide.
    assert_eq!(statuses(&r, "CIS-DOCKER-1.1.13"), [Status::NotApplicable]);
}

#[test]
fn an_empty_tree_passes_nothing() {
    let t = HostTree::empty();
    let r = check_host(&t.root(), &Profile::default()).unwrap();
    assert!(!r.is_empty());
    let passing: Vec<_> = r
        .iter()
        .filter(|r| r.status == Status::Pass)
        .map(|r| r.id)
        .collect();
    assert!(passing.is_empty(), "{passing:?}");
}

#[test]
fn symlinks_stay_inside_the_root() {
    let mut t = HostTree::hardened();
    // An absolute link must resolve inside the tree, not on the machine running the test.
    t.remove("/lib/systemd/system/docker.service");
    t.write(
        "/opt/units/docker.service",
        "[Service]\nExecStart=/usr/bin/dockerd\n",
        0o664,
    );
    t.link(
        "/lib/systemd/system/docker.service",
        "/opt/units/docker.service",
    );
    t.link(
        "/etc/docker/certs.d/escape.crt",
        "../../../../../../../../etc/hostname",
    );
    t.own("/etc/docker/certs.d/escape.crt", 0, 0);
    let r = check_host(&t.root(), &host_profile()).unwrap();
    let ev: Vec<_> = r.iter().filter(|r| r.id == "CIS-DOCKER-3.2").collect();
    assert!(
        ev.iter()
            .any(|r| r.status == Status::Fail && r.evidence[0].detail.contains("mode 0664")),
        "{ev:?}"
    );
    // ../ above the root stays at the root: /etc/hostname of the tree does not exist.
    assert!(
        !r.iter().any(|r| r.subject().contains("escape.crt")),
        "a dangling link is not a file"
    );
}

#[test]
fn docker_group_members_and_services_follow_the_profile() {
    let t = HostTree::hardened();
    t.write("/etc/group", "root:x:0:\ndocker:x:998:alice\n", 0o644);
    t.write(
        "/etc/passwd",
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:998::/:/bin/sh\n",
        0o644,
    );
    let r = check_host(&t.root(), &host_profile()).unwrap();
    let g = r.iter().find(|r| r.id == "CIS-DOCKER-1.1.2").unwrap();
    assert_eq!(g.status, Status::Fail, "bob's primary group is docker");
    assert!(g.evidence[0].detail.contains("bob"));
    // Without a trusted list every member is for review.
    let r = check_host(&t.root(), &Profile::default()).unwrap();
    assert_eq!(statuses(&r, "CIS-DOCKER-1.1.2"), [Status::Warn]);

    t.link(
        "/etc/systemd/system/multi-user.target.wants/cups.service",
        "/lib/systemd/system/cups.service",
    );
    assert_eq!(
        statuses(
            &check_host(&t.root(), &host_profile()).unwrap(),
            "PAL-HOST-1"
        ),
        [Status::Fail]
    );
    let allow = Profile {
        allowed_services: vec!["cups*".into()],
        ..host_profile()
    };
    assert_eq!(
        statuses(&check_host(&t.root(), &allow).unwrap(), "PAL-HOST-1"),
        [Status::Pass]
    );
}

#[test]
fn a_live_docker_socket_wins_over_the_unit() {
    let mut t = HostTree::hardened();
    t.write("/etc/group", "root:x:0:\ndocker:x:998:alice\n", 0o644);
    t.socket("/run/docker.sock", 0o666);
    t.own("/run/docker.sock", 0, 998);
    let r = check_host(&t.root(), &host_profile()).unwrap();
    assert_eq!(statuses(&r, "CIS-DOCKER-3.15"), [Status::Pass]);
    assert_eq!(statuses(&r, "CIS-DOCKER-3.16"), [Status::Fail]);
}

#[test]
fn data_root_from_daemon_json_and_mount_units() {
    let t = HostTree::hardened();
    t.daemon_json(|m| {
        m.insert("data-root".into(), "/srv/docker".into());
    });
    let r = check_host(&t.root(), &host_profile()).unwrap();
    assert_eq!(
        statuses(&r, "CIS-DOCKER-1.1.1"),
        [Status::Fail],
        "fstab mounts /var/lib/docker, not /srv/docker"
    );
    t.write(
        "/etc/systemd/system/srv-docker.mount",
        "[Mount]\nWhat=/dev/sdc1\nWhere=/srv/docker/\n",
        0o644,
    );
    let r = check_host(&t.root(), &host_profile()).unwrap();
    assert_eq!(statuses(&r, "CIS-DOCKER-1.1.1"), [Status::Pass]);
}

/// Makes a FIFO at host path `p` of the tree.
fn fifo(t: &HostTree, p: &str) {
    let path = t.path(p);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Issue 13.11: a FIFO or device node where a regular file belongs fails its checks (it is
/// never opened, so nothing blocks), instead of counting as "not present".
#[test]
fn special_files_where_regular_files_belong_fail() {
    let t = HostTree::empty();
    t.mkdir("/etc/docker", 0o755);
    for p in [
        "/etc/group",
        "/etc/docker/daemon.json",
        "/etc/default/docker",
        "/etc/fstab",
        "/etc/environment",
        "/etc/audit/audit.rules",
        "/etc/docker/certs.d/registry.example.com/ca.crt",
    ] {
        fifo(&t, p);
    }
    // A device node too, where the test may create one (root only).
    let dev = t.path("/etc/sysconfig/docker");
    std::fs::create_dir_all(dev.parent().unwrap()).unwrap();
    let made_device = std::process::Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());

    let r = check_host(&t.root(), &Profile::default()).unwrap();
    let fails = |id: &str| {
        let mine: Vec<_> = r.iter().filter(|x| x.id == id).collect();
        assert!(!mine.is_empty(), "{id}: no result");
        assert!(
            mine.iter().all(|x| x.status == Status::Fail),
            "{id}: {mine:#?}"
        );
        mine[0].evidence[0].detail.clone()
    };
    assert!(fails("CIS-DOCKER-1.1.2").starts_with("a FIFO (named pipe), not a regular file"));
    assert!(fails("CIS-DOCKER-1.1.1").contains("the mount table is unknown"));
    for n in 3..=18 {
        assert!(fails(&format!("CIS-DOCKER-1.1.{n}")).contains("the audit rules are unknown"));
    }
    assert!(fails("CIS-DOCKER-3.7").starts_with("a FIFO (named pipe), expected a regular file"));
    fails("CIS-DOCKER-3.8");
    for id in [
        "CIS-DOCKER-3.17",
        "CIS-DOCKER-3.18",
        "CIS-DOCKER-3.19",
        "CIS-DOCKER-3.20",
    ] {
        assert!(
            fails(id).starts_with("a FIFO (named pipe), expected a regular file"),
            "{id}"
        );
    }
    if made_device {
        for id in ["CIS-DOCKER-3.21", "CIS-DOCKER-3.22"] {
            assert!(
                fails(id).starts_with("a device node, expected a regular file"),
                "{id}"
            );
        }
    }
    assert!(fails("CIS-DOCKER-4.5").contains("DOCKER_CONTENT_TRUST is unknown"));
    // Only the real directory /etc/docker passes.
    let passing: Vec<_> = r
        .iter()
        .filter(|x| x.status == Status::Pass)
        .map(|x| x.id)
        .collect();
    assert_eq!(passing, ["CIS-DOCKER-3.5", "CIS-DOCKER-3.6"]);

    // The daemon's own target refuses a configuration it cannot read, naming the file.
    let err = palisade_harden::daemon::load_offline(&t.root()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/default/docker: a FIFO (named pipe), not a regular file; not read"
    );
}

/// Issue 13.11: on an otherwise hardened host, a FIFO at daemon.json and a directory where
/// the docker.service unit belongs turn their passes into failures.
#[test]
fn a_special_daemon_json_fails_a_hardened_host() {
    let t = HostTree::hardened();
    let before = check_host(&t.root(), &host_profile()).unwrap();
    assert_eq!(statuses(&before, "CIS-DOCKER-3.17"), [Status::Pass]);
    t.remove("/etc/docker/daemon.json");
    fifo(&t, "/etc/docker/daemon.json");
    let r = check_host(&t.root(), &host_profile()).unwrap();
    assert_eq!(statuses(&r, "CIS-DOCKER-3.17"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-3.18"), [Status::Fail]);
    // /etc/docker itself must be a directory.
    t.remove("/etc/docker");
    t.write("/etc/docker", "", 0o644);
    let r = check_host(&t.root(), &host_profile()).unwrap();
    assert_eq!(statuses(&r, "CIS-DOCKER-3.5"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-3.6"), [Status::Fail]);
}
