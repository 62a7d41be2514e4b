//! Acceptance A1 (serve plan §6): the real `palisade agent` binary as the authorization plugin
//! of a real Docker engine (Debian's dockerd 20.10, `testbed/dockerd.sh`), with images pulled
//! from a real registry (Debian's docker-registry) and signed by `palisade sign`.
//!
//! - pulls pass the `sources` rule (no signature is asked at pull); one from a registry no
//!   rule names is refused;
//! - `docker create` of the signed image succeeds, of the unsigned one fails with
//!   `signature-missing`; `--privileged`, `--cap-add SYS_ADMIN`, `--net host` and a bind of
//!   the Docker socket are refused naming CIS-DOCKER-5.5, 5.4, 5.10 and 5.32;
//! - reads (`ps`, `inspect`, `logs`) pass, and one `docker run --rm` runs end to end;
//! - `docker exec` in a running container passes, `--privileged` and `-u root` are refused
//!   (CIS-DOCKER-5.23, 5.24);
//! - bodies of 600 KB both ways (a create and its inspect) pass without the engine retrying
//!   a plugin call;
//! - the host: `etc/docker/daemon.json` mode 0666 in `host.root` refuses creation naming
//!   CIS-DOCKER-3.18 after `POST /recheck`, and mode 0644 with another recheck lets it through;
//! - raw plugin calls with `curl`: a create without its body is refused naming
//!   CVE-2024-41110 (both spellings of the URI field), `/Plugin.Activate` says `authz`;
//! - raw engine calls with `curl` that the engine serves but the CLI never sends: a version
//!   prefix `/v1.41./`, an absolute-form request target, a chunked create body, a chunked
//!   HostConfig at start under API 1.23, a pull whose image name is in a form body: all 403;
//! - the policy is reloaded when its file changes: dropping CIS-DOCKER-5.10 from `include`
//!   lets `--net host` through within a few poll intervals.
//!
//! Needs root, dockerd, docker, skopeo, docker-registry and curl; skipped, with the reason
//! printed, when one is missing. It builds the `palisade` binary itself (`cargo build -p
//! palisade-cli`, a no-op when fresh; `PALISADE_BIN` names another). Everything it starts is
//! stopped by guards, also when an assertion fails.

// The skip reason, refusal messages and phase timings are for people reading the test log.
#![allow(clippy::print_stderr)]

mod dockerd;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dockerd::{
    AgentProcess, Dockerd, Registry, SpecFile, curl, free_port, missing, mounts_under,
    palisade_bin, run_ok, testbed, text, wait_for,
};
use serde_json::Value;

const PASSWORD: &str = "agent dockerd test";

fn policy(key: &Path, include: &[&str]) -> String {
    let include: Vec<String> = include.iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        "version: 1\n\
         sources:\n  keys:\n    release: {}\n  default: deny\n  rules:\n    \
         - name: testbed\n      images: [\"127.0.0.1:*/**\"]\n      signers: {{ any_of: [release] }}\n\
         hardening:\n  level: 2\n  deny_on: fail\n  include: [{}]\n",
        key.display(),
        include.join(", ")
    )
}

const CHECKS: &[&str] = &[
    "CIS-DOCKER-5.4",
    "CIS-DOCKER-5.5",
    "CIS-DOCKER-5.10",
    "CIS-DOCKER-5.23",
    "CIS-DOCKER-5.24",
    "CIS-DOCKER-5.32",
    "CIS-DOCKER-3.18",
];

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refused engine request: non-zero exit, the engine names our plugin, and every `needle`
/// is in the message.
#[track_caller]
fn assert_refused(out: &Output, plugin: &str, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected a refusal: {}", text(out));
    assert!(
        err.contains(&format!("authorization denied by plugin {plugin}")),
        "not refused by the plugin: {}",
        text(out)
    );
    for n in needles {
        assert!(err.contains(n), "{n:?} missing: {}", text(out));
    }
    eprintln!("refused as expected: {}", err.lines().next().unwrap_or(""));
}

#[track_caller]
fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", text(out));
}

/// `POST http://ADDR/recheck` with curl; the JSON answer.
fn recheck(ops: &str) -> Value {
    let out = curl(&["-f", "-X", "POST", &format!("http://{ops}/recheck")]);
    assert!(out.status.success(), "POST /recheck: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A raw plugin call on the agent's socket with curl; the JSON answer.
fn plugin_call(socket: &Path, path: &str, body: &str) -> Value {
    let out = curl(&[
        "--unix-socket",
        socket.to_str().unwrap(),
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        &format!("http://plugin{path}"),
    ]);
    assert!(out.status.success(), "{path}: {}", text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", text(&out)))
}

#[test]
fn agent_decides_a_real_docker_engine() {
    if let Some(why) = missing() {
        eprintln!("SKIPPED agent_decides_a_real_docker_engine: {why}");
        return;
    }
    let started = Instant::now();
    let mut laps = Laps::new();
    let bin = palisade_bin();
    laps.lap("cargo build -p palisade-cli");
    let testbed = testbed();
    let tmp = tempfile::Builder::new()
        .prefix("palisade-agent-")
        .tempdir()
        .unwrap();
    let t = tmp.path();

    // 1. A registry with the signed image (the testbed's base, signed by `release`) and the
    //    unsigned one (the app).
    let registry = Registry::start(&t.join("registry"));
    let addr = registry.addr.clone();
    registry.push(&testbed, "base", "testbed/signed:v1");
    registry.push(&testbed, "app", "testbed/unsigned:v1");
    let prefix = t.join("release");
    run_ok(
        Command::new(&bin)
            .args(["key", "generate", "--output-prefix"])
            .arg(&prefix)
            .env("PALISADE_PASSWORD", PASSWORD),
    );
    run_ok(
        Command::new(&bin)
            .arg("sign")
            .arg(format!("{addr}/testbed/signed:v1"))
            .arg("--key")
            .arg(prefix.with_extension("key"))
            .env("PALISADE_PASSWORD", PASSWORD),
    );
    let signed = format!("{addr}/testbed/signed:v1");
    let unsigned = format!("{addr}/testbed/unsigned:v1");
    laps.lap("registry, push, key, sign");

    // The host tree the host checks read: only daemon.json, 0644 as CIS 3.18 wants.
    let host = t.join("host");
    std::fs::create_dir_all(host.join("etc/docker")).unwrap();
    let daemon_json = host.join("etc/docker/daemon.json");
    std::fs::write(&daemon_json, "{}\n").unwrap();
    let chmod = |mode: u32| {
        std::fs::set_permissions(&daemon_json, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(0o644);

    let policy_path = t.join("policy.yaml");
    let key = prefix.with_extension("pub");
    std::fs::write(&policy_path, policy(&key, CHECKS)).unwrap();

    // The agent.
    let plugin = format!("palisade-test-{}", std::process::id());
    let socket = t.join("agent.sock");
    let ops = format!("127.0.0.1:{}", free_port());
    let engine_dir = t.join("d");
    let config = t.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "socket: {socket}\n\
             engine: unix://{engine}/docker.sock\n\
             policy: {policy}\n\
             cache_dir: {cache}\n\
             host: {{root: {host}, interval: 10m}}\n\
             ops_listen: {ops}\n\
             decision: {{budget: 20s}}\n\
             reload: {{poll_interval: 200ms}}\n\
             log: {{decisions: {log}}}\n",
            socket = socket.display(),
            engine = engine_dir.display(),
            policy = policy_path.display(),
            cache = t.join("cache").display(),
            host = host.display(),
            log = t.join("decisions.jsonl").display(),
        ),
    )
    .unwrap();
    let mut agent = AgentProcess::spawn(&bin, &config, &t.join("agent.log"));
    wait_for(
        "the agent ready (socket and GET /readyz)",
        Duration::from_secs(30),
        || {
            socket.exists()
                && curl(&["-f", "-o", "/dev/null", &format!("http://{ops}/readyz")])
                    .status
                    .success()
        },
        || agent.output(),
    );
    let _spec = SpecFile::write(&plugin, &socket);
    laps.lap("agent ready");

    // 2. The engine, with the agent as its authorization plugin; pulls pass `sources`.
    let mut engine = Dockerd::start(&engine_dir, &[&format!("--authorization-plugin={plugin}")]);
    laps.lap("dockerd ready");
    for image in [&signed, &unsigned] {
        assert_ok(&engine.docker(&["pull", "--quiet", image]), "pull");
    }
    // A registry no source rule names is refused before the engine reaches out.
    assert_refused(
        &engine.docker(&["pull", "docker.io/library/busybox:latest"]),
        &plugin,
        &["untrusted-source"],
    );
    laps.lap("pulls");

    // 3. Containers.
    let out = engine.docker(&["create", "--name", "allowed", &signed]);
    assert_ok(&out, "create of the signed image");
    laps.lap("first create (cold image decision)");
    let out = engine.docker(&["create", &unsigned]);
    assert_refused(&out, &plugin, &["signature-missing", "testbed/unsigned"]);
    for (flags, id) in [
        (&["--privileged"][..], "CIS-DOCKER-5.5"),
        (&["--cap-add", "SYS_ADMIN"][..], "CIS-DOCKER-5.4"),
        (&["--net", "host"][..], "CIS-DOCKER-5.10"),
        (
            &["-v", "/var/run/docker.sock:/var/run/docker.sock"][..],
            "CIS-DOCKER-5.32",
        ),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.push(&signed);
        assert_refused(&engine.docker(&args), &plugin, &[id]);
    }
    assert_ok(&engine.docker(&["ps", "-a"]), "docker ps");
    let out = engine.docker(&["inspect", "allowed"]);
    assert_ok(&out, "docker inspect");
    let inspected: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspected[0]["Name"], "/allowed");
    assert_ok(&engine.docker(&["logs", "allowed"]), "docker logs");
    // Containers start in this sandbox (only privileged ones cannot, TESTBED.md).
    let out = engine.docker(&["run", "--rm", &signed, "echo", "palisade-run-ok"]);
    assert_ok(&out, "docker run --rm");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("palisade-run-ok"),
        "{}",
        text(&out)
    );

    // Exec in a running container: the CLI's exec body reaches the plugin.
    let out = engine.docker(&["run", "-d", "--name", "runner", &signed, "sleep", "300"]);
    assert_ok(&out, "docker run -d");
    let out = engine.docker(&["exec", "runner", "echo", "palisade-exec-ok"]);
    assert_ok(&out, "docker exec");
    assert!(String::from_utf8_lossy(&out.stdout).contains("palisade-exec-ok"));
    assert_refused(
        &engine.docker(&["exec", "--privileged", "runner", "true"]),
        &plugin,
        &["CIS-DOCKER-5.23"],
    );
    assert_refused(
        &engine.docker(&["exec", "-u", "root", "runner", "true"]),
        &plugin,
        &["CIS-DOCKER-5.24"],
    );
    assert_ok(&engine.docker(&["rm", "-f", "runner"]), "docker rm -f");

    // Large bodies both ways: a create of 600 KB (below the engine's 1 MiB forwarding limit)
    // and its inspect. The engine sends both again, with the response, to AuthZRes.
    let env_file = t.join("big.env");
    let line = "a".repeat(30_000);
    let env: String = (0..20).map(|i| format!("BIG{i}={line}\n")).collect();
    std::fs::write(&env_file, env).unwrap();
    for i in 0..3 {
        let name = format!("big{i}");
        let at = Instant::now();
        let out = engine.docker(&[
            "create",
            "--name",
            &name,
            "--env-file",
            env_file.to_str().unwrap(),
            &signed,
        ]);
        assert_ok(&out, "create with a 600 KB body");
        let created = at.elapsed();
        let at = Instant::now();
        let out = engine.docker(&["inspect", &name]);
        assert_ok(&out, "inspect of 600 KB");
        let inspected = at.elapsed();
        assert!(
            inspected < Duration::from_secs(5),
            "inspect of a 600 KB container took {inspected:?} (create {created:?})"
        );
    }

    laps.lap("creates, reads, run, exec, large bodies");

    // 4. The host: daemon.json writable by all fails CIS 3.18; creation stops until fixed.
    chmod(0o666);
    let r = recheck(&ops);
    assert!(
        r["failing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "CIS-DOCKER-3.18"),
        "{r}"
    );
    let out = engine.docker(&["create", &signed]);
    assert_refused(&out, &plugin, &["CIS-DOCKER-3.18"]);
    chmod(0o644);
    let r = recheck(&ops);
    assert!(
        !r["failing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "CIS-DOCKER-3.18"),
        "{r}"
    );
    assert_ok(&engine.docker(&["create", &signed]), "create after the fix");

    // 5. Raw plugin calls: a create or exec whose body did not come along (CVE-2024-41110).
    for field in ["RequestUri", "RequestURI"] {
        for uri in ["/v1.41/containers/create", "/v1.41/containers/abc/exec"] {
            let answer = plugin_call(
                &socket,
                "/AuthZPlugin.AuthZReq",
                &format!(r#"{{"RequestMethod":"POST","{field}":"{uri}"}}"#),
            );
            assert_eq!(answer["Allow"], false, "{field} {uri}: {answer}");
            assert!(
                answer["Msg"].as_str().unwrap().contains("CVE-2024-41110"),
                "{field} {uri}: {answer}"
            );
        }
    }
    let answer = plugin_call(&socket, "/Plugin.Activate", "");
    assert_eq!(answer, serde_json::json!({"Implements": ["authz"]}));
    let answer = plugin_call(
        &socket,
        "/AuthZPlugin.AuthZReq",
        r#"{"RequestMethod":"GET","RequestUri":"/v1.41/containers/json"}"#,
    );
    assert_eq!(answer["Allow"], true, "{answer}");

    // The engine's own socket, with requests the docker CLI never sends but the engine
    // serves: each must reach the plugin as what it is.
    let docker_sock = engine_dir.join("docker.sock");
    let privileged = format!(r#"{{"Image":"{signed}","HostConfig":{{"Privileged":true}}}}"#);
    let raw_engine = |extra: &[&str], url: &str, body: &str| {
        let mut args = vec![
            "--unix-socket",
            docker_sock.to_str().unwrap(),
            "-o",
            "/dev/stderr",
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/json",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data-binary", body, url]);
        curl(&args)
    };
    for (what, extra, url) in [
        (
            "a version prefix the engine reads as 1.41",
            &["--path-as-is"][..],
            "http://docker/v1.41./containers/create",
        ),
        (
            "the absolute form of the request target",
            &["--request-target", "http://docker/v1.41/containers/create"][..],
            "http://docker/",
        ),
        (
            "a chunked body, never forwarded to the plugin",
            &["-H", "Transfer-Encoding: chunked"][..],
            "http://docker/v1.41/containers/create",
        ),
    ] {
        let out = raw_engine(extra, url, &privileged);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "403",
            "create with {what}: {}",
            text(&out)
        );
        assert!(
            stderr(&out).contains(&format!("authorization denied by plugin {plugin}")),
            "{}",
            text(&out)
        );
    }
    // An old API version applies a HostConfig given at start, also from a chunked body.
    let out = engine.docker(&["create", "--name", "old-start", &signed, "sleep", "30"]);
    assert_ok(&out, "create for the start test");
    let out = raw_engine(
        &["-H", "Transfer-Encoding: chunked"],
        "http://docker/v1.23/containers/old-start/start",
        r#"{"CapAdd":["SYS_ADMIN"],"NetworkMode":"host"}"#,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "403",
        "start of API 1.23 with a chunked HostConfig: {}",
        text(&out)
    );
    // The engine reads a pull's image name from a form body before the query.
    let out = curl(&[
        "--unix-socket",
        docker_sock.to_str().unwrap(),
        "-o",
        "/dev/stderr",
        "-w",
        "%{http_code}",
        "--data",
        "fromImage=docker.io/library/busybox&tag=latest",
        &format!("http://docker/v1.41/images/create?fromImage={addr}/testbed/signed&tag=v1"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "403",
        "pull with a form body: {}",
        text(&out)
    );

    // 6. Reload: without CIS-DOCKER-5.10 in `include`, the host's network is allowed.
    let without: Vec<&str> = CHECKS
        .iter()
        .copied()
        .filter(|c| *c != "CIS-DOCKER-5.10")
        .collect();
    let loads = || agent.output().matches("policy loaded").count();
    let before = loads();
    laps.lap("host, raw calls");
    std::fs::write(&policy_path, policy(&key, &without)).unwrap();
    let edited = Instant::now();
    wait_for(
        "the edited policy loaded",
        Duration::from_secs(10),
        || loads() > before,
        || agent.output(),
    );
    laps.lap("policy edit noticed and loaded (poll 200ms)");
    loop {
        let out = engine.docker(&["create", "--net", "host", &signed]);
        if out.status.success() {
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(15),
            "--net host still refused 15s after the policy edit: {}\nagent:\n{}",
            text(&out),
            agent.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    laps.lap("--net host allowed");
    // What the reload did not drop still applies.
    assert_refused(
        &engine.docker(&["create", "--privileged", &signed]),
        &plugin,
        &["CIS-DOCKER-5.5"],
    );

    // The decision log has the refusals with the image's digest.
    let log = std::fs::read_to_string(t.join("decisions.jsonl")).unwrap();
    let unsigned_line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["image"].as_str() == Some(unsigned.as_str()) && v["allowed"] == false)
        .unwrap_or_else(|| panic!("no deny of {unsigned} in the decision log:\n{log}"));
    assert_eq!(unsigned_line["source"], "authz");
    assert!(
        unsigned_line["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{unsigned_line}"
    );

    // The engine never had to call the plugin twice (it retries a failed call after 1 s).
    let retried: Vec<String> = engine
        .log()
        .lines()
        .filter(|l| l.contains("Unable to connect to plugin"))
        .map(str::to_owned)
        .collect();
    assert!(
        retried.is_empty(),
        "plugin calls retried:\n{}",
        retried.join("\n")
    );

    // Teardown, checked: the engine stopped and unmounted, the agent gone with its socket.
    assert!(agent.alive(), "the agent died:\n{}", agent.output());
    engine.stop();
    agent.stop();
    assert!(!socket.exists(), "the agent left its socket behind");
    assert_eq!(mounts_under(t), Vec::<String>::new(), "mounts left behind");
    drop(registry);
    laps.lap("teardown");
    eprintln!(
        "timings:{} (total {:.1}s)",
        laps.show(),
        started.elapsed().as_secs_f64()
    );
}

/// Wall time of each phase, printed at the end.
struct Laps {
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Laps {
    fn new() -> Laps {
        Laps {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, what: &'static str) {
        let now = Instant::now();
        self.laps.push((what, now - self.last));
        self.last = now;
    }

    fn show(&self) -> String {
        self.laps
            .iter()
            .map(|(w, d)| format!("\n  {w}: {:.1}s", d.as_secs_f64()))
            .collect()
    }
}
