//! `palisade bench`: the check list, host trees, inspect files, images, output formats, exit
//! codes, and (acceptance 2 of issue 5) a real dockerd with known good and bad containers.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{repo_root, testbed, validate};
use serde_json::{Value, json};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("bench")
        .args(args)
        .env_remove("PALISADE_BENCH_PROFILE")
        .output()
        .expect("running palisade")
}

fn bench_json(args: &[&str]) -> (i32, Value) {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let out = bench(&a);
    let code = out.status.code().unwrap();
    assert_ne!(code, 2, "{}", String::from_utf8_lossy(&out.stderr));
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (code, v)
}

/// (check id, subject) → status, from a JSON report.
fn statuses(v: &Value) -> BTreeMap<(String, String), String> {
    let mut m = BTreeMap::new();
    for r in v["results"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap().to_owned();
        let subject = r["evidence"][0]["subject"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let status = r["status"].as_str().unwrap().to_owned();
        m.insert((id, subject), status);
    }
    m
}

fn status_of(v: &Value, id: &str) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == id)
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

fn inspect_fixture() -> Value {
    let p = repo_root().join("crates/palisade-harden/tests/fixtures/inspect/hardened.json");
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// Two containers in one inspect file: the hardened fixture and a privileged copy named `web`.
fn two_containers(dir: &Path) -> PathBuf {
    let mut docs = inspect_fixture();
    let mut bad = docs[0].clone();
    bad["Name"] = json!("/web");
    bad["HostConfig"]["Privileged"] = json!(true);
    bad["HostConfig"]["PortBindings"] = json!({"80/tcp": [{"HostIp": "", "HostPort": "80"}]});
    docs.as_array_mut().unwrap().push(bad);
    let f = dir.join("inspect.json");
    fs::write(&f, serde_json::to_vec_pretty(&docs).unwrap()).unwrap();
    f
}

#[test]
fn list_names_every_cis_recommendation_and_why_some_are_manual() {
    let out = bench(&["--list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for id in [
        "CIS-DOCKER-1.1.1",
        "CIS-DOCKER-3.24",
        "CIS-DOCKER-5.32",
        "CIS-DOCKER-7.9",
        "PAL-HOST-1",
    ] {
        assert!(text.contains(id), "{id} missing from --list");
    }
    assert!(text.contains("live-only: needs the processes running inside each container"));
    let (_, v) = bench_json(&["--list"]);
    let list = v.as_array().unwrap();
    let sevens: Vec<&Value> = list
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("CIS-DOCKER-7."))
        .collect();
    assert_eq!(sevens.len(), 9);
    assert!(
        sevens
            .iter()
            .all(|c| c["automated"] == false && c["manual-reason"].is_string())
    );
    let c55 = list.iter().find(|c| c["id"] == "CIS-DOCKER-5.5").unwrap();
    assert_eq!(c55["automated"], true);
    assert_eq!(c55["target"], "container");
}

#[test]
fn containers_from_inspect_files_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_containers(dir.path());
    let f = f.to_str().unwrap();
    let (code, v) = bench_json(&["containers", f]);
    assert_eq!(
        code, 0,
        "without --exit-code failures do not change the exit code"
    );
    let s = statuses(&v);
    assert_eq!(s[&("CIS-DOCKER-5.5".into(), "hardened".into())], "pass");
    assert_eq!(s[&("CIS-DOCKER-5.5".into(), "web".into())], "fail");
    assert_eq!(s[&("CIS-DOCKER-5.8".into(), "web".into())], "fail");
    assert_eq!(s[&("CIS-DOCKER-5.14".into(), "web".into())], "fail");
    assert_eq!(
        s[&("CIS-DOCKER-5.8".into(), "hardened".into())],
        "not-applicable"
    );
    // Live-only checks of the target are listed as manual.
    assert_eq!(
        s[&("CIS-DOCKER-5.7".into(), "CIS-DOCKER-5.7".into())],
        "manual"
    );

    // Table: grouped by section, with a score.
    let out = bench(&["containers", f]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\n5 Container Runtime\n"), "{text}");
    assert!(
        text.contains("FAIL   web: HostConfig.Privileged=true"),
        "{text}"
    );
    assert!(text.contains("Score: "), "{text}");

    // SARIF: valid, rule IDs carry the CIS number, each failure names its container.
    let sarif = dir.path().join("bench.sarif");
    let out = bench(&[
        "containers",
        f,
        "--format",
        "sarif",
        "--output",
        sarif.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    validate("sarif", &sarif);
    let v: Value = serde_json::from_slice(&fs::read(&sarif).unwrap()).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let priv_result = results
        .iter()
        .find(|r| r["ruleId"] == "CIS-DOCKER-5.5")
        .unwrap();
    assert_eq!(priv_result["level"], "error");
    assert!(
        priv_result["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("web: ")
    );
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let idx = priv_result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[idx]["id"], "CIS-DOCKER-5.5");
    assert!(
        results
            .iter()
            .all(|r| r["level"] == "error" || r["level"] == "warning")
    );
    assert!(!results.iter().any(|r| {
        r["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("hardened: ")
            && r["level"] == "error"
    }));

    // JUnit: failures counted.
    let out = bench(&["containers", f, "--format", "junit"]);
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.contains("<testsuite name=\"palisade bench container\""));
    assert!(
        xml.contains("name=\"CIS-DOCKER-5.5 web\">\n      <failure"),
        "{xml}"
    );
}

#[test]
fn exit_code_profile_level_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_containers(dir.path());
    let f = f.to_str().unwrap();
    assert_eq!(
        bench(&["containers", f, "--exit-code", "3"]).status.code(),
        Some(3)
    );
    // Only checks that pass for both containers: no failure, exit 0.
    let out = bench(&[
        "containers",
        f,
        "--exit-code",
        "3",
        "--include",
        "CIS-DOCKER-5.1?",
        "--exclude",
        "CIS-DOCKER-5.14",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Warnings count only with --fail-on warn (5.9: published ports to review).
    let args = [
        "containers",
        f,
        "--exit-code",
        "4",
        "--include",
        "CIS-DOCKER-5.9",
    ];
    assert_eq!(bench(&args).status.code(), Some(0));
    let mut warn = args.to_vec();
    warn.extend(["--fail-on", "warn"]);
    assert_eq!(bench(&warn).status.code(), Some(4));
    // A profile file: level 1 drops level 2 checks (5.3 SELinux, 5.30 docker0).
    let profile = dir.path().join("profile.yaml");
    fs::write(&profile, "level: 1\nexclude: [\"CIS-DOCKER-5.5\"]\n").unwrap();
    let (_, v) = bench_json(&["containers", f, "--profile", profile.to_str().unwrap()]);
    assert!(status_of(&v, "CIS-DOCKER-5.3").is_empty());
    assert!(status_of(&v, "CIS-DOCKER-5.5").is_empty());
    assert_eq!(status_of(&v, "CIS-DOCKER-5.10").len(), 2);
    // A bad profile is an error naming the file.
    fs::write(&profile, "levle: 1\n").unwrap();
    let out = bench(&["containers", f, "--profile", profile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("profile.yaml"));
    // Hostile input: not JSON.
    let junk = dir.path().join("junk.json");
    fs::write(&junk, "{\"Name\": ").unwrap();
    let out = bench(&["containers", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.json"));
}

#[test]
fn host_tree_modes_are_bitmasks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |p: &str, content: &str, mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    write("etc/docker/daemon.json", "{\"icc\": false}\n", 0o644);
    // 0477 is below 644 as a decimal number, but grants group and others write.
    write(
        "lib/systemd/system/docker.service",
        "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
        0o477,
    );
    fs::set_permissions(root.join("etc/docker"), fs::Permissions::from_mode(0o755)).unwrap();
    let (_, v) = bench_json(&["host", "--root", root.to_str().unwrap()]);
    assert_eq!(status_of(&v, "CIS-DOCKER-3.2"), ["fail"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-3.6"), ["pass"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-3.18"), ["pass"]);
    // Nothing to check: not applicable, never pass.
    assert_eq!(status_of(&v, "CIS-DOCKER-3.20"), ["not-applicable"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-3.4"), ["not-applicable"]);
    let r = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "CIS-DOCKER-3.2")
        .unwrap();
    assert!(
        r["evidence"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("mode 0477"),
        "{r}"
    );
    // The daemon configuration of the same tree.
    let (_, v) = bench_json(&["daemon", "--root", root.to_str().unwrap()]);
    assert_eq!(status_of(&v, "CIS-DOCKER-2.2"), ["pass"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-2.15"), ["fail"]);
    // An empty tree: everything not applicable.
    let empty = tempfile::tempdir().unwrap();
    let (_, v) = bench_json(&["daemon", "--root", empty.path().to_str().unwrap()]);
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "not-applicable" || r["status"] == "manual")
    );
}

#[test]
fn images_from_the_testbed() {
    let tb = testbed();
    let app = format!("docker-archive:{}", tb.join("app.docker.tar").display());
    let base = format!("oci-dir:{}:base", tb.join("oci").display());
    let (_, v) = bench_json(&["image", &app]);
    // app: User 1000, no health check, Debian's setuid binaries, history without ADD URLs.
    assert_eq!(status_of(&v, "CIS-DOCKER-4.1"), ["pass"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-4.6"), ["fail"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-4.8"), ["warn"]);
    assert_eq!(status_of(&v, "PAL-IMAGE-3"), ["pass"]);
    assert_eq!(status_of(&v, "PAL-IMAGE-4"), ["pass"]);
    let r = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "CIS-DOCKER-4.8")
        .unwrap();
    assert!(
        r["evidence"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("/usr/bin/passwd (4755)"),
        "{r}"
    );
    let (_, v) = bench_json(&["image", &base]);
    assert_eq!(
        status_of(&v, "CIS-DOCKER-4.1"),
        ["fail"],
        "base has no USER"
    );
}

// ---------- a real dockerd ----------

struct Dockerd {
    dir: tempfile::TempDir,
    host: String,
}

impl Dockerd {
    fn start(flags: &[&str]) -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("pd")
            .tempdir_in("/tmp")
            .unwrap();
        let out = Command::new("bash")
            .arg(repo_root().join("testbed/dockerd.sh"))
            .arg("start")
            .arg(dir.path())
            .args(flags)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "testbed/dockerd.sh start failed (run testbed/install-deps.sh for docker.io): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let host = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Dockerd { dir, host }
    }

    fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .output()
            .expect("running the docker client");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("testbed/dockerd.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_real_dockerd_and_its_containers() {
    let tar = testbed().join("base.docker.tar");
    let cfg_dir = tempfile::tempdir().unwrap();
    let daemon_json = cfg_dir.path().join("daemon.json");
    fs::write(
        &daemon_json,
        "{\"log-level\": \"warn\", \"experimental\": false}\n",
    )
    .unwrap();
    let d = Dockerd::start(&[
        "--config-file",
        daemon_json.to_str().unwrap(),
        "--live-restore",
        "--no-new-privileges",
        "--userland-proxy=false",
        "--insecure-registry",
        "127.0.0.1:5999",
        "--default-ulimit",
        "nofile=1024:2048",
    ]);
    d.docker(&["load", "-i", tar.to_str().unwrap()]);
    let img = "testbed/base:latest";
    d.docker(&["create", "--name", "priv", "--privileged", img]);
    d.docker(&["create", "--name", "hostnet", "--network", "host", img]);
    d.docker(&[
        "create",
        "--name",
        "sock",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        img,
    ]);
    d.docker(&[
        "create",
        "--name",
        "sysadmin",
        "--cap-add",
        "SYS_ADMIN",
        img,
    ]);
    d.docker(&[
        "create",
        "--name",
        "hardened",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--user",
        "1000:1000",
        "--memory",
        "256m",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "100",
        "--security-opt",
        "no-new-privileges",
        "--restart",
        "on-failure:5",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--ulimit",
        "nofile=512:1024",
        img,
    ]);

    // The daemon's own settings, from /info and its command line.
    let (_, v) = bench_json(&["daemon", "--docker-host", &d.host]);
    let expect_daemon = [
        ("CIS-DOCKER-2.2", "fail"),           // icc not disabled
        ("CIS-DOCKER-2.3", "fail"),           // log-level warn in --config-file
        ("CIS-DOCKER-2.4", "fail"),           // --iptables=false
        ("CIS-DOCKER-2.5", "fail"),           // --insecure-registry
        ("CIS-DOCKER-2.6", "pass"),           // vfs
        ("CIS-DOCKER-2.7", "not-applicable"), // unix socket only
        ("CIS-DOCKER-2.8", "pass"),           // --default-ulimit
        ("CIS-DOCKER-2.9", "fail"),           // no userns-remap
        ("CIS-DOCKER-2.10", "pass"),
        ("CIS-DOCKER-2.11", "pass"),
        ("CIS-DOCKER-2.12", "fail"), // no authorization plugin
        ("CIS-DOCKER-2.13", "fail"), // json-file
        ("CIS-DOCKER-2.14", "pass"), // --no-new-privileges
        ("CIS-DOCKER-2.15", "pass"), // --live-restore
        ("CIS-DOCKER-2.16", "pass"), // --userland-proxy=false
        ("CIS-DOCKER-2.17", "pass"), // default seccomp profile
        ("CIS-DOCKER-2.18", "pass"),
        ("CIS-DOCKER-5.1", "pass"), // swarm inactive
        ("PAL-DAEMON-1", "pass"),
    ];
    for (id, want) in expect_daemon {
        assert_eq!(status_of(&v, id), [want], "{id}: {v:#}");
    }

    // Every container, created but never started.
    let (code, v) = bench_json(&["containers", "--docker-host", &d.host, "--exit-code", "5"]);
    assert_eq!(code, 5);
    let got = statuses(&v);
    // What a container created with Docker's defaults from an image without USER gets here
    // (no AppArmor or SELinux on this host; the daemon sets no-new-privileges, and dockerd
    // copies its --default-ulimit into each container's HostConfig.Ulimits).
    let default: &[(&str, &str)] = &[
        ("CIS-DOCKER-4.1", "fail"),
        ("CIS-DOCKER-5.2", "warn"),
        ("CIS-DOCKER-5.3", "warn"),
        ("CIS-DOCKER-5.4", "pass"),
        ("CIS-DOCKER-5.5", "pass"),
        ("CIS-DOCKER-5.6", "pass"),
        ("CIS-DOCKER-5.8", "not-applicable"),
        ("CIS-DOCKER-5.9", "pass"),
        ("CIS-DOCKER-5.10", "pass"),
        ("CIS-DOCKER-5.11", "fail"),
        ("CIS-DOCKER-5.12", "fail"),
        ("CIS-DOCKER-5.13", "fail"),
        ("CIS-DOCKER-5.14", "not-applicable"),
        ("CIS-DOCKER-5.15", "pass"),
        ("CIS-DOCKER-5.16", "pass"),
        ("CIS-DOCKER-5.17", "pass"),
        ("CIS-DOCKER-5.18", "pass"),
        ("CIS-DOCKER-5.19", "pass"),
        ("CIS-DOCKER-5.20", "pass"),
        ("CIS-DOCKER-5.21", "pass"),
        ("CIS-DOCKER-5.22", "pass"),
        ("CIS-DOCKER-5.25", "pass"),
        ("CIS-DOCKER-5.26", "pass"),
        ("CIS-DOCKER-5.27", "fail"),
        ("CIS-DOCKER-5.29", "fail"),
        ("CIS-DOCKER-5.30", "warn"),
        ("CIS-DOCKER-5.31", "pass"),
        ("CIS-DOCKER-5.32", "pass"),
    ];
    let differences: &[(&str, &[(&str, &str)])] = &[
        (
            "priv",
            &[
                ("CIS-DOCKER-5.5", "fail"),
                ("CIS-DOCKER-5.2", "fail"),
                ("CIS-DOCKER-5.22", "fail"),
                // dockerd adds `label=disable` to privileged containers.
                ("CIS-DOCKER-5.3", "fail"),
            ],
        ),
        (
            "hostnet",
            &[("CIS-DOCKER-5.10", "fail"), ("CIS-DOCKER-5.30", "pass")],
        ),
        ("sock", &[("CIS-DOCKER-5.32", "fail")]),
        ("sysadmin", &[("CIS-DOCKER-5.4", "fail")]),
        (
            "hardened",
            &[
                ("CIS-DOCKER-4.1", "pass"),
                ("CIS-DOCKER-5.11", "pass"),
                ("CIS-DOCKER-5.12", "pass"),
                ("CIS-DOCKER-5.13", "pass"),
                ("CIS-DOCKER-5.27", "pass"),
                ("CIS-DOCKER-5.29", "pass"),
                ("CIS-DOCKER-5.30", "pass"),
            ],
        ),
    ];
    let mut want: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, diff) in differences {
        for (id, st) in default {
            want.insert(((*id).into(), (*name).into()), (*st).into());
        }
        for (id, st) in *diff {
            want.insert(((*id).into(), (*name).into()), (*st).into());
        }
    }
    let got: BTreeMap<(String, String), String> =
        got.into_iter().filter(|(_, s)| s != "manual").collect();
    let mismatches: Vec<String> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, v)| format!("{} {}: want {v}, got {:?}", k.0, k.1, got.get(k)))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(got.len(), want.len(), "unexpected extra results: {got:?}");
}

#[test]
fn dockerfiles_and_manifests_point_at_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let df = dir.path().join("Dockerfile");
    fs::write(&df, "FROM debian:bookworm\nRUN apt-get update\nUSER root\n").unwrap();
    let sarif = dir.path().join("df.sarif");
    let out = bench(&[
        "dockerfile",
        df.to_str().unwrap(),
        "--format",
        "sarif",
        "-o",
        sarif.to_str().unwrap(),
        "--exit-code",
        "7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    validate("sarif", &sarif);
    let v: Value = serde_json::from_slice(&fs::read(&sarif).unwrap()).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let user = results
        .iter()
        .find(|r| r["ruleId"] == "CIS-DOCKER-4.1")
        .expect("USER root flagged");
    let phys = &user["locations"][0]["physicalLocation"];
    assert!(
        phys["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("Dockerfile")
    );
    assert_eq!(phys["region"]["startLine"], 3);

    let pod = dir.path().join("pod.yaml");
    fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: nginx\n").unwrap();
    let (_, v) = bench_json(&["k8s", pod.to_str().unwrap()]);
    let fails: Vec<&Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert!(!fails.is_empty());
    assert!(
        fails.iter().any(|r| r["evidence"][0]["line"] == 6),
        "hostNetwork on line 6: {v:#}"
    );
}
