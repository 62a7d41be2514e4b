//! The effective daemon configuration: units, drop-ins, environment files, daemon.json.

mod support;

use palisade_harden::check::Status;
use palisade_harden::daemon::{check_daemon, load_offline, split_words};
use serde_json::json;
use support::{HostTree, statuses};

fn tree(unit: &str) -> HostTree {
    let t = HostTree::empty();
    t.write("/lib/systemd/system/docker.service", unit, 0o644);
    t
}

#[test]
fn drop_ins_reset_exec_start_and_expand_the_environment() {
    let t = tree(
        "[Service]\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n",
    );
    t.write(
        "/etc/default/docker",
        "# comment\nDOCKER_OPTS=\"--icc=false --log-level debug\"\n",
        0o644,
    );
    // A drop-in in /etc replaces ExecStart (the empty assignment resets the list) and sets
    // an environment variable used with ${} (one word) and $ (split into words).
    t.write(
        "/etc/systemd/system/docker.service.d/10-flags.conf",
        "[Service]\nEnvironment=\"EXTRA=--live-restore --userland-proxy=false\" REG=reg.example:5000\nExecStart=\nExecStart=/usr/bin/dockerd \\\n  $DOCKER_OPTS $EXTRA --insecure-registry=${REG}\n",
        0o644,
    );
    let cfg = load_offline(&t.root()).unwrap();
    assert_eq!(
        cfg.service_dropins,
        ["/etc/systemd/system/docker.service.d/10-flags.conf"]
    );
    assert_eq!(cfg.bool("icc"), Some(false));
    assert_eq!(cfg.string("log-level"), Some("debug"));
    assert_eq!(cfg.bool("live-restore"), Some(true));
    assert_eq!(cfg.bool("userland-proxy"), Some(false));
    assert_eq!(cfg.list("insecure-registries"), ["reg.example:5000"]);
    // -H fd:// was in the replaced ExecStart only.
    assert!(cfg.list("hosts").is_empty());
    let s = cfg.get("icc").unwrap();
    assert_eq!(
        s.origin.source,
        "/etc/systemd/system/docker.service.d/10-flags.conf"
    );
    assert_eq!(s.origin.line, Some(4));
    let r = check_daemon(&cfg);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.2"), [Status::Pass]);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.3"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.5"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.15"), [Status::Pass]);
}

#[test]
fn the_same_option_in_daemon_json_and_a_flag_is_reported() {
    let t = tree("[Service]\nExecStart=/usr/bin/dockerd -H fd:// --config-file /srv/docker.json\n");
    t.write(
        "/srv/docker.json",
        "{\n  \"hosts\": [\"tcp://0.0.0.0:2375\"],\n  \"icc\": false\n}\n",
        0o644,
    );
    let cfg = load_offline(&t.root()).unwrap();
    assert_eq!(cfg.daemon_json.as_deref(), Some("/srv/docker.json"));
    let r = check_daemon(&cfg);
    let conflicts: Vec<_> = r.iter().filter(|r| r.id == "PAL-DAEMON-1").collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].status, Status::Fail);
    assert_eq!(conflicts[0].evidence[0].subject, "hosts");
    assert_eq!(conflicts[0].evidence[0].line, Some(2));
    // TCP without tlsverify.
    assert_eq!(statuses(&r, "CIS-DOCKER-2.7"), [Status::Fail]);
}

#[test]
fn sysv_options_without_a_unit() {
    let t = HostTree::empty();
    t.write(
        "/etc/sysconfig/docker",
        "OPTIONS='--selinux-enabled --log-driver=journald --userns-remap=default'\n",
        0o644,
    );
    let cfg = load_offline(&t.root()).unwrap();
    assert_eq!(cfg.string("log-driver"), Some("journald"));
    let r = check_daemon(&cfg);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.9"), [Status::Pass]);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.13"), [Status::Pass]);
}

#[test]
fn nothing_found_is_not_applicable_and_bad_json_is_an_error() {
    let t = HostTree::empty();
    let r = check_daemon(&load_offline(&t.root()).unwrap());
    assert!(r.iter().all(|r| r.status == Status::NotApplicable), "{r:?}");
    t.write("/etc/docker/daemon.json", "{\"icc\": false,", 0o644);
    let e = load_offline(&t.root()).unwrap_err().to_string();
    assert!(
        e.contains("/etc/docker/daemon.json") && e.contains("not valid JSON"),
        "{e}"
    );
    t.write("/etc/docker/daemon.json", "[1, 2]", 0o644);
    assert!(load_offline(&t.root()).is_err());
}

#[test]
fn daemon_json_values_and_lines() {
    let t = HostTree::empty();
    t.write(
        "/etc/docker/daemon.json",
        &serde_json::to_string_pretty(
            &json!({"seccomp-profile": "unconfined", "storage-opts": ["dm.basesize=20G"]}),
        )
        .unwrap(),
        0o644,
    );
    let cfg = load_offline(&t.root()).unwrap();
    let r = check_daemon(&cfg);
    let e = &r
        .iter()
        .find(|r| r.id == "CIS-DOCKER-2.17")
        .unwrap()
        .evidence[0];
    assert_eq!(
        e.file.as_deref(),
        Some(std::path::Path::new("/etc/docker/daemon.json"))
    );
    assert_eq!(e.line, Some(2));
    assert_eq!(statuses(&r, "CIS-DOCKER-2.17"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-2.11"), [Status::Warn]);
}

#[test]
fn words_split_like_systemd() {
    assert_eq!(
        split_words(r#"a "b c" 'd e' f\ g"#),
        ["a", "b c", "d e", "f g"]
    );
    assert_eq!(split_words("  "), Vec::<String>::new());
}
