//! Container checks on inspect documents: parsing, users, mounts, ports.

mod support;

use palisade_harden::check::Status;
use palisade_harden::containers::{check_containers, is_root_user, parse_inspect};
use serde_json::json;
use support::{hardened_container, set, statuses};

fn run(doc: &serde_json::Value) -> Vec<palisade_harden::check::CheckResult> {
    let cs = parse_inspect(&serde_json::to_vec(doc).unwrap(), "t.json").unwrap();
    check_containers(&cs, false)
}

#[test]
fn root_users_in_every_spelling() {
    for u in [
        "",
        "root",
        "0",
        "0:0",
        "root:root",
        "00",
        "0:1000",
        "root:app",
    ] {
        assert!(is_root_user(u), "{u:?}");
    }
    for u in ["1000", "1000:0", "app", "app:root", "10001:10001"] {
        assert!(!is_root_user(u), "{u:?}");
    }
}

#[test]
fn single_objects_arrays_and_garbage() {
    let one = hardened_container();
    assert_eq!(
        parse_inspect(one.to_string().as_bytes(), "x")
            .unwrap()
            .len(),
        1
    );
    let two = json!([one.clone(), one]);
    assert_eq!(
        parse_inspect(two.to_string().as_bytes(), "x")
            .unwrap()
            .len(),
        2
    );
    let e = parse_inspect(b"[1]", "inspect.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("inspect.json[0]"), "{e}");
    assert!(parse_inspect(b"{", "x").is_err());
    // Wrong types inside are ignored, not panics.
    let odd = json!({"Name": 7, "HostConfig": {"Privileged": "yes", "PortBindings": {"80/tcp": "x"}, "CapAdd": [1, null]}, "Mounts": "no"});
    let r = run(&odd);
    assert_eq!(statuses(&r, "CIS-DOCKER-5.5"), [Status::Pass]);
    // No containers: not applicable, never pass.
    assert!(
        check_containers(&[], false)
            .iter()
            .all(|r| r.status == Status::NotApplicable)
    );
}

#[test]
fn mounts_sockets_and_propagation() {
    let mut c = hardened_container();
    set(
        &mut c,
        "/Mounts",
        json!([
            {"Type": "bind", "Source": "/etc/ssl/certs", "Destination": "/etc/ssl/certs", "RW": false, "Propagation": "rprivate"},
            {"Type": "bind", "Source": "/run", "Destination": "/host-run", "RW": true, "Propagation": "rslave"},
        ]),
    );
    let r = run(&c);
    // A read-only mount below /etc is worth a warning; mounting /run exposes docker.sock.
    assert_eq!(
        statuses(&r, "CIS-DOCKER-5.6"),
        [Status::Fail],
        "/run mounted read-write"
    );
    assert_eq!(statuses(&r, "CIS-DOCKER-5.32"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-5.20"), [Status::Pass]);
    set(
        &mut c,
        "/Mounts",
        json!([{"Type": "bind", "Source": "/etc/ssl/certs", "Destination": "/certs", "RW": false}]),
    );
    assert_eq!(statuses(&run(&c), "CIS-DOCKER-5.6"), [Status::Warn]);
    // Created containers of old engines: only HostConfig.Binds.
    set(&mut c, "/Mounts", json!([]));
    set(
        &mut c,
        "/HostConfig/Binds",
        json!([
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            "/srv:/srv:rshared"
        ]),
    );
    let r = run(&c);
    assert_eq!(statuses(&r, "CIS-DOCKER-5.32"), [Status::Fail]);
    assert_eq!(statuses(&r, "CIS-DOCKER-5.20"), [Status::Fail]);
}

#[test]
fn ports_restart_and_caps() {
    let mut c = hardened_container();
    set(
        &mut c,
        "/HostConfig/PortBindings",
        json!({"443/tcp": [{"HostIp": "[::]", "HostPort": "8443"}], "53/udp": [{"HostIp": "10.0.0.1", "HostPort": "53"}]}),
    );
    let r = run(&c);
    assert_eq!(
        statuses(&r, "CIS-DOCKER-5.14"),
        [Status::Fail],
        "[::] is every interface"
    );
    assert_eq!(statuses(&r, "CIS-DOCKER-5.8"), [Status::Fail]);
    for (policy, retries, want) in [
        ("no", 0, Status::Pass),
        ("on-failure", 5, Status::Pass),
        ("on-failure", 0, Status::Fail),
        ("on-failure", 6, Status::Fail),
        ("unless-stopped", 0, Status::Fail),
    ] {
        set(
            &mut c,
            "/HostConfig/RestartPolicy",
            json!({"Name": policy, "MaximumRetryCount": retries}),
        );
        assert_eq!(
            statuses(&run(&c), "CIS-DOCKER-5.15"),
            [want],
            "{policy}:{retries}"
        );
    }
    set(
        &mut c,
        "/HostConfig/CapAdd",
        json!(["net_bind_service", "CAP_CHOWN"]),
    );
    assert_eq!(statuses(&run(&c), "CIS-DOCKER-5.4"), [Status::Pass]);
    set(&mut c, "/HostConfig/CapAdd", json!(["ALL"]));
    assert_eq!(statuses(&run(&c), "CIS-DOCKER-5.4"), [Status::Fail]);
    // Daemon-wide no-new-privileges covers containers without the option.
    set(&mut c, "/HostConfig/SecurityOpt", json!(null));
    let cs = parse_inspect(c.to_string().as_bytes(), "x").unwrap();
    assert_eq!(
        statuses(&check_containers(&cs, true), "CIS-DOCKER-5.26"),
        [Status::Pass]
    );
    assert_eq!(
        statuses(&check_containers(&cs, false), "CIS-DOCKER-5.26"),
        [Status::Fail]
    );
}
