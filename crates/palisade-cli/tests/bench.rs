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
    // The same engine found as the Docker CLI finds it: DOCKER_HOST, then a context named on
    // the command line, then the configuration's current context (issue 19).
    {
        use sha2::Digest as _;
        let config = tempfile::tempdir().unwrap();
        let meta = config
            .path()
            .join("contexts/meta")
            .join(hex::encode(sha2::Sha256::digest(b"testbed")));
        fs::create_dir_all(&meta).unwrap();
        fs::write(
            meta.join("meta.json"),
            json!({"Name": "testbed", "Metadata": {}, "Endpoints": {"docker": {"Host": d.host, "SkipTLSVerify": false}}}).to_string(),
        )
        .unwrap();
        let run = |args: &[&str], env: &[(&str, &str)]| -> Value {
            let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
                .args(["bench", "--format", "json", "containers"])
                .args(args)
                .env_remove("DOCKER_HOST")
                .env_remove("DOCKER_CONTEXT")
                .env("DOCKER_CONFIG", config.path())
                .envs(env.iter().copied())
                .output()
                .unwrap();
            assert_ne!(
                out.status.code(),
                Some(2),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        };
        let same = |other: &Value, how: &str| {
            assert_eq!(statuses(other), statuses(&v), "{how}");
        };
        same(&run(&[], &[("DOCKER_HOST", &d.host)]), "DOCKER_HOST");
        same(&run(&["--context", "testbed"], &[]), "--context");
        same(
            &run(&[], &[("DOCKER_CONTEXT", "testbed")]),
            "DOCKER_CONTEXT",
        );
        fs::write(
            config.path().join("config.json"),
            r#"{"currentContext":"testbed"}"#,
        )
        .unwrap();
        same(&run(&[], &[]), "the current context");
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["bench", "containers", "--context", "nope"])
            .env("DOCKER_CONFIG", config.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    }
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

// ---------- Kubernetes manifests and Dockerfiles: every format, the same profile options ----------

/// Three workloads and a ConfigMap in one file: `web` is restricted, `api` shares the host's
/// PID namespace (baseline, line 30), `report` only misses restricted settings.
const MANIFESTS: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: prod}
data: {a: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: web
        image: registry.example.com/web:1.0.0
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      hostPID: true
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: api
        image: registry.example.com/api:1.0.0
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: \"0 3 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: registry.example.com/report:2.0.0
";

fn manifests(dir: &Path) -> String {
    let f = dir.join("manifests.yaml");
    fs::write(&f, MANIFESTS).unwrap();
    f.to_str().unwrap().to_owned()
}

#[test]
fn k8s_multi_document_file_in_every_format_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let f = manifests(dir.path());
    let (code, v) = bench_json(&["k8s", &f]);
    assert_eq!(code, 0);
    assert_eq!(v["target"], "kubernetes");
    assert_eq!(v["benchmark"], "Kubernetes Pod Security Standards");
    let s = statuses(&v);
    let host_ns =
        |subject: &str| s[&("PSS-BASELINE-HOST-NAMESPACES".into(), subject.into())].clone();
    assert_eq!(host_ns("Deployment/prod/web"), "pass");
    assert_eq!(host_ns("Deployment/prod/api"), "fail");
    assert_eq!(host_ns("CronJob/default/report"), "pass");
    assert_eq!(
        s[&(
            "PSS-RESTRICTED-RUN-AS-NON-ROOT".into(),
            "CronJob/default/report".into()
        )],
        "fail"
    );
    assert_eq!(
        s[&(
            "PSS-RESTRICTED-RUN-AS-NON-ROOT".into(),
            "Deployment/prod/web".into()
        )],
        "pass"
    );
    // The ConfigMap is no workload: no result names it.
    assert!(!s.keys().any(|(_, subject)| subject.contains("cfg")));
    let api = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "PSS-BASELINE-HOST-NAMESPACES" && r["status"] == "fail")
        .unwrap();
    assert_eq!(api["evidence"][0]["line"], 30, "{api}");
    assert_eq!(api["level"], "1");

    // --exit-code: the failing Deployment fails the run.
    assert_eq!(
        bench(&["k8s", &f, "--exit-code", "1"]).status.code(),
        Some(1)
    );
    // Level 1 (baseline) without the host-namespace check: nothing fails.
    let out = bench(&[
        "k8s",
        &f,
        "--exit-code",
        "1",
        "--level",
        "1",
        "--exclude",
        "PSS-BASELINE-HOST-*",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The same selection from a profile file; the restricted checks are gone from the report.
    let profile = dir.path().join("k8s-profile.yaml");
    fs::write(&profile, "level: 1\nexclude: [\"PSS-BASELINE-HOST-*\"]\n").unwrap();
    let p = profile.to_str().unwrap();
    assert_eq!(
        bench(&["k8s", &f, "--exit-code", "1", "--profile", p])
            .status
            .code(),
        Some(0)
    );
    let (_, v) = bench_json(&["k8s", &f, "--profile", p]);
    assert!(status_of(&v, "PSS-RESTRICTED-RUN-AS-NON-ROOT").is_empty());
    assert!(status_of(&v, "PSS-BASELINE-HOST-NAMESPACES").is_empty());
    assert!(!status_of(&v, "PSS-BASELINE-PRIVILEGED").is_empty());
    // Only restricted checks, level 2: the CronJob fails them.
    assert_eq!(
        bench(&[
            "k8s",
            &f,
            "--exit-code",
            "9",
            "--include",
            "PSS-RESTRICTED-*"
        ])
        .status
        .code(),
        Some(9)
    );

    // SARIF: valid; the Deployment named, pointing at the file and the hostPID line.
    let sarif = dir.path().join("k8s.sarif");
    let out = bench(&[
        "k8s",
        &f,
        "--format",
        "sarif",
        "--output",
        sarif.to_str().unwrap(),
        "--exit-code",
        "1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    validate("sarif", &sarif);
    let v: Value = serde_json::from_slice(&fs::read(&sarif).unwrap()).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let r = results
        .iter()
        .find(|r| r["ruleId"] == "PSS-BASELINE-HOST-NAMESPACES")
        .expect("hostPID reported");
    assert_eq!(r["level"], "error");
    assert!(
        r["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Deployment/prod/api: "),
        "{r}"
    );
    let phys = &r["locations"][0]["physicalLocation"];
    assert!(
        phys["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("manifests.yaml")
    );
    assert_eq!(phys["region"]["startLine"], 30);
    assert!(
        !results.iter().any(|r| r["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Deployment/prod/web")),
        "the restricted Deployment has no findings"
    );

    // Table and JUnit.
    let out = bench(&["k8s", &f]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("palisade bench kubernetes: "), "{text}");
    assert!(text.contains("FAIL   Deployment/prod/api: pod: "), "{text}");
    assert!(text.contains("Score: "), "{text}");
    let out = bench(&["k8s", &f, "--format", "junit"]);
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.contains("<testsuite name=\"palisade bench kubernetes\""));
    assert!(
        xml.contains("name=\"PSS-BASELINE-HOST-NAMESPACES Deployment/prod/api\">\n      <failure"),
        "{xml}"
    );
    assert!(xml.contains("name=\"PSS-BASELINE-HOST-NAMESPACES Deployment/prod/web\"/>"));

    // Hostile input: an error naming the file and line, exit 2.
    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, "apiVersion: v1\nkind: Pod\nspec: [\n").unwrap();
    let out = bench(&["k8s", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
}

#[test]
fn dockerfile_in_every_format_with_profile_options() {
    let dir = tempfile::tempdir().unwrap();
    let df = dir.path().join("Dockerfile");
    fs::write(
        &df,
        "FROM registry.example.com/base:1.2\nRUN apt-get update && apt-get install -y curl\nMAINTAINER someone\nUSER app\nHEALTHCHECK CMD [\"/bin/true\"]\nCMD [\"/app\"]\n",
    )
    .unwrap();
    let f = df.to_str().unwrap();
    let (code, v) = bench_json(&["dockerfile", f]);
    assert_eq!(code, 0);
    assert_eq!(v["target"], "dockerfile");
    assert_eq!(status_of(&v, "CIS-DOCKER-4.1"), ["pass"]);
    // Level 2 hygiene, as warnings: MAINTAINER, no --no-install-recommends, lists left behind.
    assert_eq!(status_of(&v, "PAL-DOCKERFILE-16"), ["warn"]);
    assert_eq!(status_of(&v, "PAL-DOCKERFILE-9"), ["warn"]);
    // No trusted-registry list: not applicable, never a pass.
    assert_eq!(status_of(&v, "PAL-DOCKERFILE-1"), ["not-applicable"]);

    // Warnings count for --exit-code only with --fail-on warn, and level 1 has none here.
    let exit = |extra: &[&str]| {
        let mut a = vec!["dockerfile", f, "--exit-code", "3"];
        a.extend_from_slice(extra);
        bench(&a).status.code()
    };
    assert_eq!(exit(&[]), Some(0));
    assert_eq!(exit(&["--fail-on", "warn"]), Some(3));
    assert_eq!(exit(&["--fail-on", "warn", "--level", "1"]), Some(0));
    let (_, v1) = bench_json(&["dockerfile", f, "--level", "1"]);
    assert!(status_of(&v1, "PAL-DOCKERFILE-16").is_empty());
    assert_eq!(status_of(&v1, "CIS-DOCKER-4.1"), ["pass"]);
    // A profile's trusted registries reach the Dockerfile rules.
    let profile = dir.path().join("df-profile.yaml");
    fs::write(&profile, "level: 1\ntrusted-registries: [\"docker.io\"]\n").unwrap();
    let p = profile.to_str().unwrap();
    let (_, vp) = bench_json(&["dockerfile", f, "--profile", p]);
    assert_eq!(status_of(&vp, "PAL-DOCKERFILE-1"), ["fail"]);
    assert_eq!(
        bench(&["dockerfile", f, "--exit-code", "4", "--profile", p])
            .status
            .code(),
        Some(4)
    );
    // snake_case keys, as in the policy file; the old kebab-case ones still work, with a
    // deprecation warning (issue 19).
    fs::write(&profile, "trusted_registries: [\"*.example.com\"]\n").unwrap();
    let (_, vp) = bench_json(&["dockerfile", f, "--profile", p]);
    assert_eq!(status_of(&vp, "PAL-DOCKERFILE-1"), ["pass"]);
    let warned = bench(&["dockerfile", f, "--profile", p]);
    assert!(!String::from_utf8_lossy(&warned.stderr).contains("deprecated"));
    fs::write(&profile, "trusted-registries: [\"*.example.com\"]\n").unwrap();
    let (_, vp) = bench_json(&["dockerfile", f, "--profile", p]);
    assert_eq!(status_of(&vp, "PAL-DOCKERFILE-1"), ["pass"]);
    let warned = bench(&["dockerfile", f, "--profile", p]);
    assert!(
        String::from_utf8_lossy(&warned.stderr)
            .contains("`trusted-registries` is deprecated: write `trusted_registries`"),
        "{}",
        String::from_utf8_lossy(&warned.stderr)
    );
    // --include / --exclude.
    let (_, vi) = bench_json(&["dockerfile", f, "--include", "PAL-DOCKERFILE-1?"]);
    assert!(
        vi["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"].as_str().unwrap().starts_with("PAL-DOCKERFILE-1"))
    );
    let (_, ve) = bench_json(&["dockerfile", f, "--exclude", "PAL-DOCKERFILE-16"]);
    assert!(status_of(&ve, "PAL-DOCKERFILE-16").is_empty());

    // SARIF (validated), table and JUnit.
    let sarif = dir.path().join("df.sarif");
    let out = bench(&[
        "dockerfile",
        f,
        "-f",
        "sarif",
        "-o",
        sarif.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    validate("sarif", &sarif);
    let v: Value = serde_json::from_slice(&fs::read(&sarif).unwrap()).unwrap();
    let m = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "PAL-DOCKERFILE-16")
        .expect("MAINTAINER reported");
    assert_eq!(
        m["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    let text = String::from_utf8(bench(&["dockerfile", f]).stdout).unwrap();
    assert!(text.starts_with("palisade bench dockerfile: "), "{text}");
    assert!(text.contains("  PAL-DOCKERFILE-16  "), "{text}");
    let xml = String::from_utf8(bench(&["dockerfile", f, "-f", "junit"]).stdout).unwrap();
    assert!(xml.contains("<testsuite name=\"palisade bench dockerfile\""));
    assert!(xml.contains("<failure message=\"MAINTAINER is not used\" type=\"WARN\">"));

    // A missing file: exit 2 naming it.
    let out = bench(&["dockerfile", dir.path().join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

// ---------- snapshots: the table and JSON of a fixed host tree ----------

/// A small host tree with known faults: a 0477 unit, an untrusted `docker` member, a TLS key
/// that no daemon option names, an audit rule on daemon.json but not on /etc/docker, no
/// separate partition, an enabled cups.service. Every directory is 0755 whatever the umask.
/// Owners are the test's own (root, as the other host tests here assume).
fn fixed_host_tree(root: &Path) {
    let write = |p: &str, content: &str, mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    let fx = repo_root().join("crates/palisade-harden/tests/fixtures/host");
    write(
        "etc/docker/daemon.json",
        "{\n  \"icc\": false,\n  \"live-restore\": true\n}\n",
        0o644,
    );
    write(
        "etc/docker/tls/server-key.pem",
        "-----BEGIN PRIVATE KEY-----\n",
        0o440,
    );
    write(
        "lib/systemd/system/docker.service",
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n",
        0o477,
    );
    write(
        "lib/systemd/system/docker.socket",
        &fs::read_to_string(fx.join("docker.socket")).unwrap(),
        0o644,
    );
    write("etc/group", "root:x:0:\ndocker:x:998:alice,bob\n", 0o644);
    write(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        0o644,
    );
    write(
        "etc/audit/rules.d/docker.rules",
        "-w /usr/bin/dockerd -k docker\n-w /etc/docker/daemon.json -k docker\n",
        0o640,
    );
    write("etc/fstab", "UUID=1234 / ext4 defaults 0 1\n", 0o644);
    write("usr/bin/dockerd", "#!/bin/false\n", 0o755);
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/cups.service",
        wants.join("cups.service"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/docker.service",
        wants.join("docker.service"),
    )
    .unwrap();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
    }
}

/// Runs `palisade bench ARGS` and returns (exit code, stdout) with `dir` replaced by `[DIR]`.
fn bench_filtered(args: &[&str], dir: &Path) -> (i32, String) {
    let out = bench(args);
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(&dir.display().to_string(), "[DIR]");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn host_report_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fixed_host_tree(&root);
    let profile = dir.path().join("profile.yaml");
    fs::write(&profile, "trusted_docker_users: [alice]\n").unwrap();
    let (root_s, profile_s) = (root.to_str().unwrap(), profile.to_str().unwrap());

    let (code, table) = bench_filtered(
        &[
            "host",
            "--root",
            root_s,
            "--profile",
            profile_s,
            "--exit-code",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!(table, @r#"
    palisade bench host: [DIR]/root (CIS Docker Benchmark v1.6.0, level 2)

    1.1 Linux Hosts Specific Configuration
      CIS-DOCKER-1.1.1  Ensure a separate partition for containers has been created
        FAIL   /var/lib/docker: not a mount point in /etc/fstab or in 0 .mount unit(s)
      CIS-DOCKER-1.1.2  Ensure only trusted users are allowed to control Docker daemon
        FAIL   group docker: untrusted members: ["bob"] [/etc/group:2]
      CIS-DOCKER-1.1.3  Ensure auditing is configured for the Docker daemon
        PASS   /usr/bin/dockerd: audited by /etc/audit/rules.d/docker.rules:1 [/etc/audit/rules.d/docker.rules:1]
      CIS-DOCKER-1.1.4  Ensure auditing is configured for Docker files and directories - /run/containerd
        N/A    /run/containerd: not present
      CIS-DOCKER-1.1.5  Ensure auditing is configured for Docker files and directories - /var/lib/docker
        N/A    /var/lib/docker: not present
      CIS-DOCKER-1.1.6  Ensure auditing is configured for Docker files and directories - /etc/docker
        FAIL   /etc/docker: no audit rule names it exactly (2 rule(s) read)
      CIS-DOCKER-1.1.7  Ensure auditing is configured for Docker files and directories - docker.service
        FAIL   /lib/systemd/system/docker.service: no audit rule names it exactly (2 rule(s) read)
      CIS-DOCKER-1.1.8  Ensure auditing is configured for Docker files and directories - containerd.sock
        N/A    /run/containerd/containerd.sock: not present
      CIS-DOCKER-1.1.9  Ensure auditing is configured for Docker files and directories - docker.socket
        FAIL   /lib/systemd/system/docker.socket: no audit rule names it exactly (2 rule(s) read)
      CIS-DOCKER-1.1.10  Ensure auditing is configured for Docker files and directories - /etc/default/docker
        N/A    /etc/default/docker: not present
      CIS-DOCKER-1.1.11  Ensure auditing is configured for Docker files and directories - /etc/docker/daemon.json
        PASS   /etc/docker/daemon.json: audited by /etc/audit/rules.d/docker.rules:2 [/etc/audit/rules.d/docker.rules:2]
      CIS-DOCKER-1.1.12  Ensure auditing is configured for Docker files and directories - /etc/containerd/config.toml
        N/A    /etc/containerd/config.toml: not present
      CIS-DOCKER-1.1.13  Ensure auditing is configured for Docker files and directories - /etc/sysconfig/docker
        N/A    /etc/sysconfig/docker: not present
      CIS-DOCKER-1.1.14  Ensure auditing is configured for Docker files and directories - /usr/bin/containerd
        N/A    /usr/bin/containerd: not present
      CIS-DOCKER-1.1.15  Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim
        N/A    /usr/bin/containerd-shim: not present
      CIS-DOCKER-1.1.16  Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v1
        N/A    /usr/bin/containerd-shim-runc-v1: not present
      CIS-DOCKER-1.1.17  Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v2
        N/A    /usr/bin/containerd-shim-runc-v2: not present
      CIS-DOCKER-1.1.18  Ensure auditing is configured for Docker files and directories - /usr/bin/runc
        N/A    /usr/bin/runc: not present

    1.2 General Configuration
      PAL-HOST-1  Ensure only essential services are enabled on the container host
        FAIL   /etc/systemd/system: enabled services not in the allowlist: cups (multi-user.target.wants)
      CIS-DOCKER-1.2.1  Ensure the container host has been Hardened
        MANUAL CIS-DOCKER-1.2.1: manual: an operating-system benchmark of its own; PAL-HOST-1 covers enabled services
      CIS-DOCKER-1.2.2  Ensure that the version of Docker is up to date
        MANUAL CIS-DOCKER-1.2.2: manual: needs the list of current Docker releases, which is not on the host

    3 Docker daemon configuration files
      CIS-DOCKER-3.1  Ensure that the docker.service file ownership is set to root:root
        PASS   /lib/systemd/system/docker.service: mode 0477, owner 0:0 (root:root); expected root:root
      CIS-DOCKER-3.2  Ensure that docker.service file permissions are appropriately set
        FAIL   /lib/systemd/system/docker.service: mode 0477, owner 0:0 (root:root); bits 0033 exceed 0644
      CIS-DOCKER-3.3  Ensure that docker.socket file ownership is set to root:root
        PASS   /lib/systemd/system/docker.socket: mode 0644, owner 0:0 (root:root); expected root:root
      CIS-DOCKER-3.4  Ensure that docker.socket file permissions are set to 644 or more restrictive
        PASS   /lib/systemd/system/docker.socket: mode 0644, owner 0:0 (root:root); within 0644
      CIS-DOCKER-3.5  Ensure that the /etc/docker directory ownership is set to root:root
        PASS   /etc/docker: mode 0755, owner 0:0 (root:root); expected root:root
      CIS-DOCKER-3.6  Ensure that /etc/docker directory permissions are set to 755 or more restrictively
        PASS   /etc/docker: mode 0755, owner 0:0 (root:root); within 0755
      CIS-DOCKER-3.7  Ensure that registry certificate file ownership is set to root:root
        N/A    /etc/docker/certs.d: no registry certificates
      CIS-DOCKER-3.8  Ensure that registry certificate file permissions are set to 444 or more restrictively
        N/A    /etc/docker/certs.d: no registry certificates
      CIS-DOCKER-3.9  Ensure that TLS CA certificate file ownership is set to root:root
        N/A    tlscacert: not configured
      CIS-DOCKER-3.10  Ensure that TLS CA certificate file permissions are set to 444 or more restrictively
        N/A    tlscacert: not configured
      CIS-DOCKER-3.11  Ensure that Docker server certificate file ownership is set to root:root
        N/A    tlscert: not configured
      CIS-DOCKER-3.12  Ensure that the Docker server certificate file permissions are set to 444 or more restrictively
        N/A    tlscert: not configured
      CIS-DOCKER-3.13  Ensure that the Docker server certificate key file ownership is set to root:root
        N/A    tlskey: not configured
      CIS-DOCKER-3.14  Ensure that the Docker server certificate key file permissions are set to 400
        N/A    tlskey: not configured
      CIS-DOCKER-3.15  Ensure that the Docker socket file ownership is set to root:docker
        PASS   docker.sock: docker.socket SocketUser=root SocketGroup=docker (from /lib/systemd/system/docker.socket; no live socket in the tree) [/lib/systemd/system/docker.socket:7]
      CIS-DOCKER-3.16  Ensure that the Docker socket file permissions are set to 660 or more restrictively
        PASS   docker.sock: docker.socket SocketMode=0660 (from /lib/systemd/system/docker.socket; no live socket in the tree) [/lib/systemd/system/docker.socket:6]
      CIS-DOCKER-3.17  Ensure that the daemon.json file ownership is set to root:root
        PASS   /etc/docker/daemon.json: mode 0644, owner 0:0 (root:root); expected root:root
      CIS-DOCKER-3.18  Ensure that daemon.json file permissions are set to 644 or more restrictive
        PASS   /etc/docker/daemon.json: mode 0644, owner 0:0 (root:root); within 0644
      CIS-DOCKER-3.19  Ensure that the /etc/default/docker file ownership is set to root:root
        N/A    /etc/default/docker: not present
      CIS-DOCKER-3.20  Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively
        N/A    /etc/default/docker: not present
      CIS-DOCKER-3.21  Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively
        N/A    /etc/sysconfig/docker: not present
      CIS-DOCKER-3.22  Ensure that the /etc/sysconfig/docker file ownership is set to root:root
        N/A    /etc/sysconfig/docker: not present
      CIS-DOCKER-3.23  Ensure that the Containerd socket file ownership is set to root:root
        N/A    /run/containerd/containerd.sock: no socket (containerd not running, or an offline tree)
      CIS-DOCKER-3.24  Ensure that the Containerd socket file permissions are set to 660 or more restrictively
        N/A    /run/containerd/containerd.sock: no socket (containerd not running, or an offline tree)

    4 Container Images and Build File
      CIS-DOCKER-4.5  Ensure Content trust for Docker is Enabled
        N/A    DOCKER_CONTENT_TRUST: no /etc/environment or profile files

    Score: 61% (11 pass, 7 fail, 0 warn, 0 info, 2 manual, 26 n/a)
    "#);

    let (code, json) = bench_filtered(
        &[
            "host",
            "--root",
            root_s,
            "--profile",
            profile_s,
            "--format",
            "json",
            "--include",
            "CIS-DOCKER-1.1.2",
            "--include",
            "CIS-DOCKER-1.1.6",
            "--include",
            "CIS-DOCKER-1.2.1",
            "--include",
            "CIS-DOCKER-3.2",
            "--include",
            "CIS-DOCKER-3.4",
            "--include",
            "CIS-DOCKER-3.14",
        ],
        dir.path(),
    );
    assert_eq!(code, 0);
    insta::assert_snapshot!(json, @r#"
    {
      "benchmark": "CIS Docker Benchmark v1.6.0",
      "results": [
        {
          "evidence": [
            {
              "detail": "untrusted members: [\"bob\"]",
              "file": "/etc/group",
              "line": 2,
              "subject": "group docker"
            }
          ],
          "id": "CIS-DOCKER-1.1.2",
          "level": "1",
          "remediation": "Remove untrusted users from group docker (`gpasswd -d USER docker`); list trusted ones in the profile's `trusted_docker_users`.",
          "section": "1.1 Linux Hosts Specific Configuration",
          "status": "fail",
          "title": "Ensure only trusted users are allowed to control Docker daemon"
        },
        {
          "evidence": [
            {
              "detail": "no audit rule names it exactly (2 rule(s) read)",
              "subject": "/etc/docker"
            }
          ],
          "id": "CIS-DOCKER-1.1.6",
          "level": "1",
          "remediation": "Add a watch rule to /etc/audit/rules.d/docker.rules, e.g. `-w PATH -k docker`, and reload auditd (`augenrules --load`).",
          "section": "1.1 Linux Hosts Specific Configuration",
          "status": "fail",
          "title": "Ensure auditing is configured for Docker files and directories - /etc/docker"
        },
        {
          "evidence": [
            {
              "detail": "mode 0477, owner 0:0 (root:root); bits 0033 exceed 0644",
              "file": "/lib/systemd/system/docker.service",
              "subject": "/lib/systemd/system/docker.service"
            }
          ],
          "id": "CIS-DOCKER-3.2",
          "level": "1",
          "remediation": "`chmod 644` the docker.service unit and its drop-ins.",
          "section": "3 Docker daemon configuration files",
          "status": "fail",
          "title": "Ensure that docker.service file permissions are appropriately set"
        },
        {
          "evidence": [
            {
              "detail": "mode 0644, owner 0:0 (root:root); within 0644",
              "file": "/lib/systemd/system/docker.socket",
              "subject": "/lib/systemd/system/docker.socket"
            }
          ],
          "id": "CIS-DOCKER-3.4",
          "level": "1",
          "remediation": "`chmod 644` the docker.socket unit and its drop-ins.",
          "section": "3 Docker daemon configuration files",
          "status": "pass",
          "title": "Ensure that docker.socket file permissions are set to 644 or more restrictive"
        },
        {
          "evidence": [
            {
              "detail": "not configured",
              "subject": "tlskey"
            }
          ],
          "id": "CIS-DOCKER-3.14",
          "level": "1",
          "remediation": "`chmod 400` the file named by `tlskey`.",
          "section": "3 Docker daemon configuration files",
          "status": "not-applicable",
          "title": "Ensure that the Docker server certificate key file permissions are set to 400"
        },
        {
          "evidence": [
            {
              "detail": "manual: an operating-system benchmark of its own; PAL-HOST-1 covers enabled services",
              "subject": "CIS-DOCKER-1.2.1"
            }
          ],
          "id": "CIS-DOCKER-1.2.1",
          "level": "1",
          "remediation": "Review by hand as the benchmark describes.",
          "section": "1.2 General Configuration",
          "status": "manual",
          "title": "Ensure the container host has been Hardened"
        }
      ],
      "subject": "[DIR]/root",
      "summary": {
        "fail": 3,
        "info": 0,
        "manual": 1,
        "not-applicable": 1,
        "pass": 1,
        "score": 25,
        "warn": 0
      },
      "target": "host"
    }
    "#);
}

/// Issue 12.9: input that is not what the target reads is an error (exit 2) naming the file,
/// whatever `--exit-code` says; unknown Kubernetes fields fail PAL-K8S-1 with path and line.
#[test]
fn input_the_target_cannot_read_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let dockerfile = write("Dockerfile", "FROM debian:12\nRUN apt-get update\nUSER 0\n");
    let not_k8s = write(
        "values.yaml",
        "replicaCount: 2\nimage: {repository: nginx}\n",
    );
    let empty = write("empty.yaml", "# nothing here\n");
    let good = write(
        "good.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec:\n  containers:\n  - {name: a, image: nginx:1.27}\n",
    );
    let pod = write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n",
    );
    let no_from = write("build.sh.Dockerfile", "RUN make\nCOPY . /app\n");
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["k8s", &dockerfile],
            "Dockerfile:1: not a Kubernetes manifest: document 1 is a scalar",
            "",
        ),
        (
            &["k8s", &not_k8s],
            "values.yaml:1: not a Kubernetes manifest: document 1 has no apiVersion",
            "",
        ),
        (
            &["k8s", &empty],
            "empty.yaml:1: not a Kubernetes manifest: no Kubernetes object",
            "",
        ),
        // One bad file among good ones fails the run.
        (&["k8s", &good, &not_k8s], "values.yaml:1:", ""),
        (
            &["k8s", &pod],
            "pod.yaml:1: not a Kubernetes manifest: Pod/default/web: no pod spec at spec",
            "",
        ),
        (
            &["dockerfile", &not_k8s],
            "values.yaml:1: unknown instruction \"replicaCount:\" (this looks like YAML or JSON",
            "",
        ),
        (
            &["dockerfile", &no_from],
            "build.sh.Dockerfile:1: RUN before the first FROM",
            "",
        ),
        (
            &["dockerfile", &empty],
            "empty.yaml:1: no FROM instruction: not a Dockerfile",
            "",
        ),
    ];
    for (args, want, _) in cases {
        let mut a = args.to_vec();
        a.extend(["--exit-code", "1"]);
        let out = bench(&a);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: no report");
    }

    // A misspelled securityContext: a failure with the path, line and the right name.
    let typo = write(
        "typo.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n    image: nginx:1.27\n    securityContxt:\n      privileged: true\n",
    );
    let out = bench(&["k8s", &typo, "--level", "1", "--exit-code", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL   Pod/default/web: container \"app\": unknown field \"securityContxt\"; did you mean \"securityContext\"? (spec.containers[0].securityContxt) ["),
        "{text}"
    );
    assert!(text.contains("typo.yaml:8]"), "{text}");
    let (_, v) = bench_json(&["k8s", &typo]);
    assert_eq!(status_of(&v, "PAL-K8S-1"), ["fail"]);
}

/// Issue 13.11: a FIFO where a host file belongs fails (and is never opened, so the run ends);
/// `bench daemon` refuses the configuration it cannot read.
#[test]
fn host_special_files_fail_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc/docker")).unwrap();
    for p in ["etc/group", "etc/docker/daemon.json"] {
        let st = Command::new("mkfifo").arg(root.join(p)).status().unwrap();
        assert!(st.success());
    }
    let r = root.to_str().unwrap();
    let (code, v) = bench_json(&["host", "--root", r, "--exit-code", "1"]);
    assert_eq!(code, 1);
    assert_eq!(status_of(&v, "CIS-DOCKER-1.1.2"), ["fail"]);
    assert_eq!(status_of(&v, "CIS-DOCKER-3.18"), ["fail"]);
    let group = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "CIS-DOCKER-1.1.2")
        .unwrap();
    assert_eq!(group["evidence"][0]["subject"], "/etc/group");
    assert!(
        group["evidence"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("a FIFO (named pipe), not a regular file"),
        "{group}"
    );
    let out = bench(&["daemon", "--root", r]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/etc/docker/daemon.json: a FIFO (named pipe), not a regular file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
