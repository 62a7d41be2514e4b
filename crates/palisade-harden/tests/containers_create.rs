//! Create and exec request bodies captured from the real Docker CLI and engine
//! (`tests/fixtures/create/README.md`): the verdicts each create request gives, the same
//! verdicts as `docker inspect` of the container the engine made from it, the exec checks
//! (CIS 5.23, 5.24), bodies the engine reads differently from serde_json, and hostile values.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use palisade_harden::Error;
use palisade_harden::check::{CheckResult, Status, TargetKind};
use palisade_harden::check_list;
use palisade_harden::containers::{
    CHECKS, Container, MAX_CREATE_DEPTH, MAX_CREATE_MOUNTS, MAX_CREATE_VALUES, check_containers,
    check_create, check_exec, parse_api_body, parse_inspect,
};
use serde_json::{Value, json};

use Status::{Fail, NotApplicable as Na, Pass, Warn};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/create")
}

fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A captured body, parsed as a plugin should parse it.
fn body(name: &str) -> Value {
    parse_api_body(&bytes(&format!("{name}.json")), name).unwrap()
}

/// The engine's `GET /images/{name}/json` document for the fixture's image: `testbed/healthy`
/// (USER 1000:1000, HEALTHCHECK, EXPOSE 8080) for two fixtures, `testbed/base` otherwise.
fn image_for(name: &str) -> Value {
    let file = match name {
        "image-defaults" | "publish-all" => "image-healthy.json",
        _ => "image-base.json",
    };
    serde_json::from_slice(&bytes(file)).unwrap()
}

fn create(name: &str) -> Container {
    let image = image_for(name);
    Container::from_create(&body(name), Some(&format!("cap-{name}")), Some(&image))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(name: &str) -> Vec<CheckResult> {
    check_create(&create(name), false)
}

fn status(results: &[CheckResult], id: &str) -> Status {
    let found: Vec<&CheckResult> = results.iter().filter(|r| r.id == id).collect();
    assert_eq!(found.len(), 1, "{id}: {results:#?}");
    found[0].status
}

fn detail<'a>(results: &'a [CheckResult], id: &str) -> &'a str {
    &results.iter().find(|r| r.id == id).unwrap().evidence[0].detail
}

/// The inspect document the engine wrote for the fixture's container.
fn inspected(name: &str) -> Container {
    let file = format!("{name}.inspect.json");
    parse_inspect(&bytes(&file), &file).unwrap().remove(0)
}

/// Every fixture that has the engine's inspect document beside it.
fn captured() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".inspect.json").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// The fixtures whose body the engine reads otherwise than serde_json's `Value` would; each
/// has its own test below.
const UNREADABLE: &[&str] = &["hostile-duplicate", "hostile-folded-duplicate"];

#[test]
fn plain_create_gives_one_result_per_check() {
    let r = run("plain");
    let ids: BTreeSet<&str> = r.iter().map(|r| r.id).collect();
    let all: BTreeSet<&str> = CHECKS.iter().map(|d| d.id).collect();
    assert_eq!(
        (r.len(), &ids),
        (CHECKS.len(), &all),
        "one result per check"
    );
    let want = [
        ("CIS-DOCKER-4.1", Fail), // testbed/base has no USER: root
        ("CIS-DOCKER-5.2", Na),
        ("CIS-DOCKER-5.3", Na),
        ("CIS-DOCKER-5.4", Pass),
        ("CIS-DOCKER-5.5", Pass),
        ("CIS-DOCKER-5.6", Pass),
        ("CIS-DOCKER-5.8", Na),
        ("CIS-DOCKER-5.9", Pass),
        ("CIS-DOCKER-5.10", Pass),
        ("CIS-DOCKER-5.11", Fail),
        ("CIS-DOCKER-5.12", Fail),
        ("CIS-DOCKER-5.13", Fail),
        ("CIS-DOCKER-5.14", Na),
        ("CIS-DOCKER-5.15", Pass),
        ("CIS-DOCKER-5.16", Pass),
        ("CIS-DOCKER-5.17", Pass),
        ("CIS-DOCKER-5.18", Pass),
        ("CIS-DOCKER-5.19", Status::Info),
        ("CIS-DOCKER-5.20", Pass),
        ("CIS-DOCKER-5.21", Pass),
        ("CIS-DOCKER-5.22", Pass),
        ("CIS-DOCKER-5.25", Pass),
        ("CIS-DOCKER-5.26", Fail),
        ("CIS-DOCKER-5.27", Fail), // nor a HEALTHCHECK
        ("CIS-DOCKER-5.29", Fail),
        ("CIS-DOCKER-5.30", Warn),
        ("CIS-DOCKER-5.31", Pass),
        ("CIS-DOCKER-5.32", Pass),
    ];
    for (id, st) in want {
        assert_eq!(status(&r, id), st, "{id}: {}", detail(&r, id));
    }
    assert!(r.iter().all(|r| r.subject() == "cap-plain"));
    // Daemon-wide no-new-privileges covers a request without the option.
    assert_eq!(
        status(&check_create(&create("plain"), true), "CIS-DOCKER-5.26"),
        Pass
    );
}

#[test]
fn each_flag_gives_its_verdict() {
    let table: &[(&str, &[(&str, Status)])] = &[
        (
            "privileged",
            &[
                ("CIS-DOCKER-5.5", Fail),
                ("CIS-DOCKER-5.2", Fail),
                ("CIS-DOCKER-5.3", Fail), // the engine adds label=disable
                ("CIS-DOCKER-5.22", Fail),
            ],
        ),
        (
            "cap-add",
            &[("CIS-DOCKER-5.4", Fail), ("CIS-DOCKER-5.5", Pass)],
        ),
        (
            "net-host",
            &[("CIS-DOCKER-5.10", Fail), ("CIS-DOCKER-5.30", Pass)],
        ),
        (
            "pid-host",
            &[("CIS-DOCKER-5.16", Fail), ("CIS-DOCKER-5.3", Fail)],
        ),
        (
            "ipc-host",
            &[("CIS-DOCKER-5.17", Fail), ("CIS-DOCKER-5.3", Fail)],
        ),
        (
            "uts-host",
            &[("CIS-DOCKER-5.21", Fail), ("CIS-DOCKER-5.3", Na)],
        ),
        (
            "docker-sock",
            &[("CIS-DOCKER-5.32", Fail), ("CIS-DOCKER-5.6", Pass)],
        ),
        (
            "mount-etc-ro",
            &[
                ("CIS-DOCKER-5.6", Warn), // read-only: reviewed, not failed
                ("CIS-DOCKER-5.32", Pass),
                ("CIS-DOCKER-5.20", Pass),
            ],
        ),
        (
            "limits",
            &[("CIS-DOCKER-5.11", Pass), ("CIS-DOCKER-5.29", Pass)],
        ),
        ("user", &[("CIS-DOCKER-4.1", Pass)]),
        ("no-new-privileges", &[("CIS-DOCKER-5.26", Pass)]),
        ("read-only", &[("CIS-DOCKER-5.13", Pass)]),
        (
            "image-defaults",
            &[("CIS-DOCKER-4.1", Pass), ("CIS-DOCKER-5.27", Pass)],
        ),
        (
            "publish-all",
            &[
                ("CIS-DOCKER-5.8", Pass),
                ("CIS-DOCKER-5.9", Warn),
                ("CIS-DOCKER-5.14", Fail),
            ],
        ),
        (
            "ports",
            &[
                ("CIS-DOCKER-5.8", Fail),
                ("CIS-DOCKER-5.9", Warn),
                ("CIS-DOCKER-5.14", Fail),
            ],
        ),
        (
            "volumes",
            &[("CIS-DOCKER-5.20", Fail), ("CIS-DOCKER-5.6", Pass)],
        ),
        (
            "unconfined",
            &[
                ("CIS-DOCKER-5.2", Fail),
                ("CIS-DOCKER-5.3", Fail),
                ("CIS-DOCKER-5.22", Fail),
                ("CIS-DOCKER-5.5", Pass),
            ],
        ),
        (
            "misc",
            &[
                ("CIS-DOCKER-5.31", Fail),
                ("CIS-DOCKER-5.18", Warn),
                ("CIS-DOCKER-5.25", Warn),
                ("CIS-DOCKER-5.15", Fail),
            ],
        ),
        (
            "hostile-top-level",
            &[("CIS-DOCKER-5.5", Fail), ("CIS-DOCKER-5.10", Fail)],
        ),
        (
            "hostile-lowercase",
            &[
                ("CIS-DOCKER-5.5", Fail),
                ("CIS-DOCKER-5.32", Fail),
                ("CIS-DOCKER-4.1", Fail),
            ],
        ),
        ("hostile-long-s", &[("CIS-DOCKER-5.5", Fail)]),
        ("hostile-cap-add-string", &[("CIS-DOCKER-5.4", Fail)]),
    ];
    for (name, want) in table {
        let r = run(name);
        for (id, st) in *want {
            assert_eq!(status(&r, id), *st, "{name} {id}: {}", detail(&r, id));
        }
    }
    // The hardened request fails nothing; only what needs a live container stays open.
    let r = run("hardened");
    let open: Vec<(&str, Status)> = r
        .iter()
        .filter(|r| r.status != Pass)
        .map(|r| (r.id, r.status))
        .collect();
    assert_eq!(
        open,
        [
            ("CIS-DOCKER-5.2", Na),
            ("CIS-DOCKER-5.3", Na),
            ("CIS-DOCKER-5.8", Na),
            ("CIS-DOCKER-5.14", Na),
        ],
        "{r:#?}"
    );
}

/// The create path and the inspect path agree on every container the engine made from a
/// captured request, verdicts and details, except where the request cannot know yet: the
/// AppArmor profile and SELinux label the engine applies (not applicable before), the default
/// IPC mode (a daemon setting; detail only), and the ports `PublishAllPorts` publishes at start
/// (failed before, absent from the inspect document of a container not started).
#[test]
fn create_and_inspect_agree() {
    let names = captured();
    assert!(names.len() >= 25, "{names:?}");
    for name in names.iter().filter(|n| !UNREADABLE.contains(&n.as_str())) {
        let mut c = create(name);
        for entry in c.volumes_from() {
            let source = entry.split(':').next().unwrap().trim_start_matches("cap-");
            c.add_volumes_from(&entry, &inspected(source)).unwrap();
        }
        let from_create = check_create(&c, false);
        let from_inspect = check_containers(&[inspected(name)], false);
        assert_eq!(from_create.len(), from_inspect.len());
        for (a, b) in from_create.iter().zip(&from_inspect) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.subject(), b.subject(), "{name} {}", a.id);
            let live_only = matches!(a.id, "CIS-DOCKER-5.2" | "CIS-DOCKER-5.3");
            let published_at_start = name == "publish-all"
                && matches!(
                    a.id,
                    "CIS-DOCKER-5.8" | "CIS-DOCKER-5.9" | "CIS-DOCKER-5.14"
                );
            if published_at_start || (live_only && a.status == Na) {
                continue;
            }
            assert_eq!(a.status, b.status, "{name} {}: {a:?} / {b:?}", a.id);
            if !live_only && a.id != "CIS-DOCKER-5.17" {
                assert_eq!(
                    a.evidence[0].detail, b.evidence[0].detail,
                    "{name} {}",
                    a.id
                );
            }
        }
    }
}

#[test]
fn mounts_have_the_engines_shape() {
    for name in ["docker-sock", "mount-etc-ro", "volumes"] {
        let ours = create(name).document()["Mounts"].clone();
        let theirs = inspected(name).document()["Mounts"].clone();
        let key = |m: &Value| m["Destination"].as_str().unwrap().to_owned();
        let mut ours = ours.as_array().unwrap().clone();
        let mut theirs = theirs.as_array().unwrap().clone();
        ours.sort_by_key(key);
        theirs.sort_by_key(key);
        assert_eq!(ours.len(), theirs.len(), "{name}");
        for (a, b) in ours.iter().zip(&theirs) {
            for field in ["Type", "Destination", "RW", "Propagation"] {
                assert_eq!(a[field], b[field], "{name} {field}");
            }
            if a["Type"] == "bind" {
                assert_eq!(a["Source"], b["Source"], "{name}");
                assert_eq!(a["Mode"], b["Mode"], "{name}");
            } else {
                // A volume's host path exists once the engine made it; its name is known before.
                assert_eq!(a["Name"], b["Name"], "{name}");
                assert_eq!(a["Source"], "");
            }
        }
    }
    // HostConfig.Mounts: Target, ReadOnly, BindOptions.Propagation, any key spelling.
    let c = Container::from_create(
        &json!({"Image": "x", "HostConfig": {"Mounts": [
            {"type": "bind", "source": "/run", "target": "/r", "readonly": false,
             "bindoptions": {"propagation": "rshared"}},
            {"Type": "volume", "Source": "cache", "Target": "/cache", "ReadOnly": true},
            {"Type": "tmpfs", "Target": "/tmp"}
        ]}}),
        None,
        None,
    )
    .unwrap();
    assert_eq!(
        c.document()["Mounts"],
        json!([
            {"Type": "bind", "Source": "/run", "Destination": "/r", "Mode": "", "RW": true, "Propagation": "rshared"},
            {"Type": "volume", "Name": "cache", "Source": "", "Destination": "/cache", "Mode": "", "RW": false, "Propagation": ""},
            {"Type": "tmpfs", "Source": "", "Destination": "/tmp", "Mode": "", "RW": true, "Propagation": ""}
        ])
    );
    let r = check_create(&c, false);
    assert_eq!(
        status(&r, "CIS-DOCKER-5.32"),
        Fail,
        "/run holds docker.sock"
    );
    assert_eq!(status(&r, "CIS-DOCKER-5.20"), Fail);
    assert_eq!(status(&r, "CIS-DOCKER-5.6"), Fail);
    assert_eq!(c.name, "<unnamed>");
}

#[test]
fn binds_as_the_engine_parses_them() {
    let mounts = |binds: Value| {
        Container::from_create(&json!({"HostConfig": {"Binds": binds}}), None, None)
            .map(|c| c.document()["Mounts"].clone())
    };
    assert_eq!(
        mounts(json!([
            "/etc:/host-etc:ro,Z",
            "data:/data:nocopy",
            "/anon",
            "/srv:/srv:rslave"
        ]))
        .unwrap(),
        json!([
            {"Type": "bind", "Source": "/etc", "Destination": "/host-etc", "Mode": "ro,Z", "RW": false, "Propagation": "rprivate"},
            {"Type": "volume", "Name": "data", "Source": "", "Destination": "/data", "Mode": "nocopy", "RW": true, "Propagation": ""},
            {"Type": "volume", "Name": "", "Source": "", "Destination": "/anon", "Mode": "", "RW": true, "Propagation": ""},
            {"Type": "bind", "Source": "/srv", "Destination": "/srv", "Mode": "rslave", "RW": true, "Propagation": "rslave"}
        ])
    );
    for bad in ["/a:/b:ro:x", ":/b", ""] {
        let e = mounts(json!([bad])).unwrap_err().to_string();
        assert!(e.contains("HostConfig.Binds[0]"), "{bad:?}: {e}");
    }
    let e = mounts(json!(["/a:/b", 7])).unwrap_err().to_string();
    assert!(e.contains("HostConfig.Binds[1]"), "{e}");
}

#[test]
fn image_defaults_are_merged_as_the_engine_merges_them() {
    let b = body("image-defaults");
    let healthy = image_for("image-defaults");
    let base = image_for("plain");
    let r = |image: Option<&Value>, b: &Value| {
        check_create(&Container::from_create(b, None, image).unwrap(), false)
    };
    // Without the image's configuration its USER and HEALTHCHECK are unknown.
    let unknown = r(None, &b);
    assert_eq!(status(&unknown, "CIS-DOCKER-4.1"), Na);
    assert_eq!(status(&unknown, "CIS-DOCKER-5.27"), Na);
    assert!(detail(&unknown, "CIS-DOCKER-4.1").contains("not given"));
    let with_base = r(Some(&base), &b);
    assert_eq!(status(&with_base, "CIS-DOCKER-4.1"), Fail);
    assert_eq!(status(&with_base, "CIS-DOCKER-5.27"), Fail);
    let with_healthy = r(Some(&healthy), &b);
    assert_eq!(
        detail(&with_healthy, "CIS-DOCKER-4.1"),
        "Config.User=\"1000:1000\""
    );
    assert_eq!(status(&with_healthy, "CIS-DOCKER-5.27"), Pass);
    // The request's own values win: --user root, --no-healthcheck (Test NONE).
    let mut own = b.clone();
    own["User"] = json!("root");
    own["Healthcheck"] = json!({"Test": ["NONE"]});
    let mine = r(Some(&healthy), &own);
    assert_eq!(status(&mine, "CIS-DOCKER-4.1"), Fail);
    assert_eq!(status(&mine, "CIS-DOCKER-5.27"), Fail);
    // A request that sets a user or a health check needs no image configuration for them.
    assert_eq!(status(&run("user"), "CIS-DOCKER-4.1"), Pass);
    let hardened = Container::from_create(&body("hardened"), None, None).unwrap();
    assert_eq!(
        status(&check_create(&hardened, false), "CIS-DOCKER-5.27"),
        Pass
    );
    assert_eq!(
        status(&check_create(&hardened, false), "CIS-DOCKER-4.1"),
        Pass
    );
    // The body's image, for the caller that fetches its configuration.
    let c = Container::from_create(&b, None, None).unwrap();
    assert_eq!(c.image(), Some("testbed/healthy:latest"));
    assert_eq!(create("plain").image(), Some("testbed/base:latest"));
    let err = Container::from_create(&b, None, Some(&json!([]))).unwrap_err();
    assert!(err.to_string().contains("image's configuration"), "{err}");
}

/// The engine decodes with Go's encoding/json; each of these bodies made dockerd 20.10 create
/// the container its inspect document shows (see the fixtures' README).
#[test]
fn bodies_are_read_as_the_engine_reads_them() {
    for name in ["hostile-top-level", "hostile-lowercase", "hostile-long-s"] {
        assert_eq!(inspected(name).document()["HostConfig"]["Privileged"], true);
        assert_eq!(status(&run(name), "CIS-DOCKER-5.5"), Fail, "{name}");
    }
    assert_eq!(
        inspected("hostile-cap-add-string").document()["HostConfig"]["CapAdd"],
        json!(["SYS_ADMIN"])
    );
    assert_eq!(
        create("hostile-cap-add-string").document()["HostConfig"]["CapAdd"],
        json!(["SYS_ADMIN"])
    );

    // A key twice: the engine merged both HostConfig objects (privileged, host network);
    // serde_json keeps the last one only, so parse_api_body refuses the body.
    let dup = bytes("hostile-duplicate.json");
    let theirs = inspected("hostile-duplicate");
    assert_eq!(theirs.document()["HostConfig"]["Privileged"], true);
    assert_eq!(theirs.document()["HostConfig"]["NetworkMode"], "host");
    let e = parse_api_body(&dup, "hostile-duplicate")
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"HostConfig\" appears twice"), "{e}");
    let naive: Value = serde_json::from_slice(&dup).unwrap();
    let naive = check_create(&Container::from_create(&naive, None, None).unwrap(), false);
    assert_eq!(
        status(&naive, "CIS-DOCKER-5.5"),
        Pass,
        "why bodies go through parse_api_body"
    );

    // Two spellings of one field: the engine used both; refused.
    let folded = body("hostile-folded-duplicate");
    assert_eq!(
        inspected("hostile-folded-duplicate").document()["HostConfig"]["Privileged"],
        true
    );
    let e = Container::from_create(&folded, Some("x"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("create request for \"x\"") && e.contains("both name the field HostConfig"),
        "{e}"
    );

    // A type the engine refuses (it answered 400) is an error, not a default.
    let e = Container::from_create(&body("hostile-wrong-type"), None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("HostConfig.Privileged: a string"), "{e}");

    // Top-level Memory fills a zero HostConfig.Memory; top-level Privileged does not override
    // a given HostConfig (moby's getHostConfig before moby 29).
    let c = Container::from_create(
        &json!({"Memory": 1_000_000_000, "Privileged": true, "HostConfig": {"Memory": 0}}),
        None,
        None,
    )
    .unwrap();
    let r = check_create(&c, false);
    assert_eq!(status(&r, "CIS-DOCKER-5.11"), Pass);
    assert_eq!(status(&r, "CIS-DOCKER-5.5"), Pass);
    // `"HostConfig": null` is absent: the top-level fields count.
    let c = Container::from_create(&json!({"HostConfig": null, "PidMode": "host"}), None, None)
        .unwrap();
    assert_eq!(status(&check_create(&c, false), "CIS-DOCKER-5.16"), Fail);
    // Go folds the long s to S and the Kelvin sign to K.
    let c = Container::from_create(
        &json!({"HostConfig": {"U\u{17F}ern\u{17F}Mode": "host"}}),
        None,
        None,
    )
    .unwrap();
    assert_eq!(status(&check_create(&c, false), "CIS-DOCKER-5.31"), Fail);
    let e = Container::from_create(
        &json!({"HostConfig": {"\u{212A}ernelMemory": 5, "KernelMemory": 6}}),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("both name the field KernelMemory"), "{e}");
    let c = Container::from_create(
        &json!({"HostConfig": {"CAPADD": ["sys_ptrace"]}}),
        None,
        None,
    )
    .unwrap();
    assert_eq!(status(&check_create(&c, false), "CIS-DOCKER-5.4"), Fail);
}

#[test]
fn exec_bodies() {
    let r = check_exec(&body("exec-privileged-root"));
    assert_eq!(
        r.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        [("CIS-DOCKER-5.23", Fail), ("CIS-DOCKER-5.24", Fail)]
    );
    assert_eq!(r[0].evidence[0].detail, "Privileged=true");
    assert_eq!(r[1].evidence[0].detail, "User=\"root\"");
    assert_eq!(r[0].subject(), "exec request");
    let r = check_exec(&body("exec-user-1000"));
    assert!(r.iter().all(|r| r.status == Pass), "{r:#?}");
    // The engine read `privileged`/`USER` (its exec inspect said privileged, user 0).
    let r = check_exec(&body("hostile-exec-lowercase"));
    assert!(r.iter().all(|r| r.status == Fail), "{r:#?}");
    for (user, want) in [
        ("", Pass),
        ("0", Fail),
        ("0:0", Fail),
        ("root:app", Fail),
        ("1000:0", Pass),
        ("app", Pass),
    ] {
        let r = check_exec(&json!({"User": user, "Cmd": ["id"]}));
        assert_eq!(status(&r, "CIS-DOCKER-5.24"), want, "{user:?}");
        assert_eq!(status(&r, "CIS-DOCKER-5.23"), Pass);
    }
    assert_eq!(status(&check_exec(&json!({})), "CIS-DOCKER-5.24"), Pass);
    // What the engine would refuse or read otherwise fails both, with the reason.
    for bad in [
        json!({"Privileged": "yes"}),
        json!({"User": 0}),
        json!([]),
        json!(null),
        json!({"privileged": false, "Privileged": true}),
    ] {
        let r = check_exec(&bad);
        assert_eq!(r.len(), 2);
        assert!(
            r.iter()
                .all(|r| r.status == Fail && r.evidence[0].detail.contains("not understood")),
            "{bad}: {r:#?}"
        );
    }
    // The check list keeps both live-only for inspect documents.
    for id in ["CIS-DOCKER-5.23", "CIS-DOCKER-5.24"] {
        let def = check_list::find(id, TargetKind::Container).unwrap();
        assert!(def.manual && check_list::is_live_only(def), "{id}");
        assert!(def.manual_reason.contains("check_exec"), "{id}");
    }
}

#[test]
fn volumes_from_adds_the_other_containers_mounts() {
    let mut c = create("volumes-from");
    assert_eq!(c.volumes_from(), ["cap-docker-sock:ro", "cap-volumes"]);
    assert_eq!(status(&check_create(&c, false), "CIS-DOCKER-5.32"), Pass);
    c.add_volumes_from("cap-docker-sock:ro", &inspected("docker-sock"))
        .unwrap();
    let r = check_create(&c, false);
    assert_eq!(status(&r, "CIS-DOCKER-5.32"), Fail);
    assert_eq!(c.document()["Mounts"][0]["RW"], false, ":ro");
    c.add_volumes_from("cap-volumes", &inspected("volumes"))
        .unwrap();
    assert_eq!(status(&check_create(&c, false), "CIS-DOCKER-5.20"), Fail);
    // Bounded like the request's own mounts.
    let many = json!([{"Mounts": vec![json!({"Type": "bind", "Source": "/x", "Destination": "/x", "RW": true}); MAX_CREATE_MOUNTS]}]);
    let big = parse_inspect(many.to_string().as_bytes(), "big")
        .unwrap()
        .remove(0);
    let e = c.add_volumes_from("big", &big).unwrap_err().to_string();
    assert!(
        e.contains(&format!("more than {MAX_CREATE_MOUNTS} mounts")),
        "{e}"
    );
}

#[test]
fn limits_are_errors_never_passes() {
    // Depth: the body is level 1.
    // (`Value::Array`, not `json!`, which copies its argument recursively.)
    let nest = |levels: usize| {
        let mut v = json!("leaf");
        for _ in 1..levels {
            v = Value::Array(vec![v]);
        }
        let mut top = serde_json::Map::new();
        top.insert("Labels".into(), v);
        Value::Object(top)
    };
    assert!(Container::from_create(&nest(MAX_CREATE_DEPTH), None, None).is_ok());
    let e = Container::from_create(&nest(MAX_CREATE_DEPTH + 1), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("nested deeper than {MAX_CREATE_DEPTH}")),
        "{e}"
    );
    // A value built in memory, far deeper than a parser allows: refused without recursion.
    // (serde_json drops values recursively, so the test leaks it rather than overflow.)
    let deep = nest(100_000);
    let e = Container::from_create(&deep, None, None).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }));
    std::mem::forget(deep);
    // Values.
    let e = Container::from_create(
        &json!({"Env": vec![json!("A=1"); MAX_CREATE_VALUES]}),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!("more than {MAX_CREATE_VALUES} values")),
        "{e}"
    );
    // Mounts: Binds and Mounts together.
    let half = MAX_CREATE_MOUNTS / 2;
    let hc = |binds: usize, mounts: usize| {
        json!({"HostConfig": {
            "Binds": vec![json!("/a:/a"); binds],
            "Mounts": vec![json!({"Type": "tmpfs", "Target": "/t"}); mounts],
        }})
    };
    assert!(Container::from_create(&hc(half, MAX_CREATE_MOUNTS - half), None, None).is_ok());
    let e = Container::from_create(&hc(half, MAX_CREATE_MOUNTS - half + 1), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("more than {MAX_CREATE_MOUNTS} mounts")),
        "{e}"
    );
    // Not an object.
    for v in [json!(null), json!([]), json!("x"), json!(1)] {
        assert!(Container::from_create(&v, None, None).is_err(), "{v}");
    }
    // parse_api_body: one value, no duplicate key at any depth.
    assert!(parse_api_body(b"{} {}", "x").is_err());
    assert!(
        parse_api_body(
            br#"{"HostConfig": {"Mounts": [{"Type": "bind", "Type": "volume"}]}}"#,
            "x"
        )
        .is_err()
    );
    assert!(
        parse_api_body(br#"{"Labels": {"a": 1, "A": 2}}"#, "x").is_ok(),
        "map keys are case-sensitive"
    );
    for name in captured()
        .iter()
        .filter(|n| n.as_str() != "hostile-duplicate")
    {
        let raw = bytes(&format!("{name}.json"));
        let naive: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(parse_api_body(&raw, name).unwrap(), naive, "{name}");
    }
}

/// A small deterministic generator (xorshift), so the hostile runs are the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// JSON pointers to every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn hostile_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(1.5),
        json!(""),
        json!("host"),
        json!("/var/run/docker.sock:/var/run/docker.sock:rshared"),
        json!([]),
        json!([null]),
        json!([1, "x", {}]),
        json!({}),
        json!({"Type": 1, "Source": [], "BindOptions": "x"}),
        json!({"80/tcp": [{"HostIp": 1}]}),
        json!(vec![json!("a:b:c:d"); 3]),
    ]
}

/// Every value of real bodies replaced by each hostile value: an error or one result per
/// check, never a panic.
#[test]
fn hostile_values_give_errors_or_results() {
    let image = image_for("plain");
    let mut runs = 0;
    for name in [
        "hardened",
        "volumes",
        "mount-etc-ro",
        "ports",
        "image-defaults",
    ] {
        let original = body(name);
        let mut paths = Vec::new();
        pointers(&original, String::new(), &mut paths);
        for p in paths.iter().filter(|p| !p.is_empty()) {
            for h in hostile_values() {
                let mut b = original.clone();
                *b.pointer_mut(p).unwrap() = h;
                runs += 1;
                let img = (runs % 2 == 0).then_some(&image);
                if let Ok(c) = Container::from_create(&b, Some(name), img) {
                    let r = check_create(&c, false);
                    let ids: BTreeSet<&str> = r.iter().map(|r| r.id).collect();
                    assert_eq!(
                        (r.len(), ids.len()),
                        (CHECKS.len(), CHECKS.len()),
                        "{name} {p}"
                    );
                }
            }
        }
    }
    assert!(runs > 5_000, "{runs}");
    // Hostile image configurations too.
    for h in hostile_values() {
        let img = json!({"Config": {"User": h.clone(), "Healthcheck": h.clone(), "ExposedPorts": h.clone()}});
        let b = json!({"HostConfig": {"PublishAllPorts": true}});
        if let Ok(c) = Container::from_create(&b, None, Some(&img)) {
            assert_eq!(check_create(&c, false).len(), CHECKS.len());
        }
        for exec in [
            json!({"User": h.clone()}),
            json!({"Privileged": h.clone()}),
            h.clone(),
        ] {
            assert_eq!(check_exec(&exec).len(), 2);
        }
    }
}

/// Key spellings do not change a verdict: struct keys of real bodies in random case give the
/// original results (or, when two spellings collide, an error).
#[test]
fn key_case_does_not_change_verdicts() {
    fn scramble(v: &Value, rng: &mut Rng, structs: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| {
                        // PortBindings, Labels, ExposedPorts, … are maps: their keys stay.
                        let is_map = matches!(
                            k.as_str(),
                            "PortBindings"
                                | "Labels"
                                | "ExposedPorts"
                                | "Volumes"
                                | "EndpointsConfig"
                                | "LogConfig"
                        );
                        let k2: String = if structs {
                            k.chars()
                                .map(|c| match rng.below(3) {
                                    0 => c.to_ascii_lowercase(),
                                    1 => c.to_ascii_uppercase(),
                                    _ if c == 's' || c == 'S' => '\u{17F}',
                                    _ => c,
                                })
                                .collect()
                        } else {
                            k.clone()
                        };
                        (k2, scramble(x, rng, structs && !is_map))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| scramble(x, rng, structs)).collect()),
            other => other.clone(),
        }
    }
    let mut rng = Rng(0x5eed_cafe);
    for name in captured()
        .iter()
        .filter(|n| !UNREADABLE.contains(&n.as_str()))
    {
        let original = body(name);
        let image = image_for(name);
        let want: Vec<(&str, Status)> = run(name).iter().map(|r| (r.id, r.status)).collect();
        for _ in 0..20 {
            let b = scramble(&original, &mut rng, true);
            let c = Container::from_create(&b, Some(name), Some(&image))
                .unwrap_or_else(|e| panic!("{name}: {e}\n{b}"));
            let got: Vec<(&str, Status)> = check_create(&c, false)
                .iter()
                .map(|r| (r.id, r.status))
                .collect();
            assert_eq!(got, want, "{name}\n{b}");
        }
    }
}
