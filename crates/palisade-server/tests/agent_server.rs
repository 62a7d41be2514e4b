//! The real binaries: `palisade agent` taking its policy from a running `palisade serve`. A raw
//! AuthZReq (as dockerd sends it) for a `--net host` create is refused while the server's
//! policy selects CIS-DOCKER-5.10, allowed once the policy on the server drops it, and the
//! agent keeps enforcing that last good policy while the server is stopped, also after its own
//! restart. The engine itself is not needed: the create names no image, so only the
//! container's settings and the host are judged (`agent_dockerd.rs` runs a real engine).

mod ca;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const TOKEN: &str = "agent-token-0123456789abcdef";

fn palisade() -> PathBuf {
    common::palisade_bin().to_path_buf()
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(palisade())
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn policy(include: &str) -> String {
    format!(
        "version: 1\nname: fleet\nhardening:\n  level: 2\n  include: [{include}]\n  deny_on: fail\n"
    )
}

/// Sends an AuthZReq for a create with `host_config` to the agent's socket.
fn create(socket: &Path, host_config: &str) -> serde_json::Value {
    let body = format!(r#"{{"Image":"","HostConfig":{host_config}}}"#);
    let req = serde_json::json!({
        "User": "", "UserAuthNMethod": "", "RequestMethod": "POST",
        "RequestUri": "/v1.41/containers/create?name=t",
        "RequestHeaders": {"Content-Type": "application/json"},
        "RequestBody": base64::engine::general_purpose::STANDARD.encode(body),
    });
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "--unix-socket"])
        .arg(socket)
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(req.to_string())
        .arg("http://plugin/AuthZPlugin.AuthZReq")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn agent_enforces_the_servers_policy_and_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = ca::Ca::new("agent-server test CA");
    ca.server(1).write(d, "tls");
    ca.write(&d.join("ca.crt"));
    std::fs::create_dir_all(d.join("policy")).unwrap();
    std::fs::write(
        d.join("policy/policy.yaml"),
        policy("CIS-DOCKER-5.10, CIS-DOCKER-5.5"),
    )
    .unwrap();
    std::fs::write(d.join("tokens"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(d.join("token"), TOKEN).unwrap();
    std::fs::create_dir_all(d.join("host/etc")).unwrap();
    let port = free_port();
    std::fs::write(
        d.join("serve.yaml"),
        format!("listen: 127.0.0.1:{port}\ntls: {{cert: tls.crt, key: tls.key}}\npolicy: policy/policy.yaml\nreload: {{poll_interval: 200ms}}\nagents: {{tokens_file: tokens}}\nstore: {{location: store.db}}\n"),
    )
    .unwrap();
    let socket = d.join("agent.sock");
    let ops = free_port();
    std::fs::write(
        d.join("agent.yaml"),
        format!(
            "socket: agent.sock\nengine: unix://{}/no-engine.sock\nserver: {{url: \"https://127.0.0.1:{port}\", token_file: token, ca_file: ca.crt, poll: 300ms}}\nstate_dir: state\nhost: {{root: host, interval: 1h}}\nops_listen: 127.0.0.1:{ops}\nreload: {{poll_interval: 200ms}}\n",
            d.display()
        ),
    )
    .unwrap();

    let serve_args =
        ["serve", "--config", d.join("serve.yaml").to_str().unwrap()].map(str::to_owned);
    let serve_args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
    let server = spawn(&serve_args, &d.join("serve.log"));
    let agent_args =
        ["agent", "--config", d.join("agent.yaml").to_str().unwrap()].map(str::to_owned);
    let agent_args: Vec<&str> = agent_args.iter().map(String::as_str).collect();
    let mut agent = spawn(&agent_args, &d.join("agent.log"));
    let log = |name: &str| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    wait_for(
        "the agent's socket and policy",
        Duration::from_secs(30),
        || socket.exists() && log("agent.log").contains("policy loaded"),
    );

    // The server's policy selects 5.10: --net host is refused, naming the check.
    let r = create(&socket, r#"{"NetworkMode":"host"}"#);
    assert_eq!(r["Allow"], false, "{r}\n{}", log("agent.log"));
    assert!(
        r["Msg"].as_str().unwrap().contains("CIS-DOCKER-5.10"),
        "{r}"
    );
    let r = create(&socket, r#"{"NetworkMode":"bridge"}"#);
    assert_eq!(r["Allow"], true, "{r}");

    // A change made on the server reaches the agent.
    std::fs::write(d.join("policy/policy.yaml"), policy("CIS-DOCKER-5.5")).unwrap();
    wait_for(
        "the new policy on the agent",
        Duration::from_secs(20),
        || create(&socket, r#"{"NetworkMode":"host"}"#)["Allow"] == true,
    );
    assert_eq!(create(&socket, r#"{"Privileged":true}"#)["Allow"], false);

    // The agent's host report is kept in the server's store and listed by the API.
    let out = Command::new(palisade())
        .args(["store", "token", "create", "--config"])
        .arg(d.join("serve.yaml"))
        .args(["--name", "test"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let api_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let hosts = || -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(d.join("ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {api_token}")])
            .arg(format!("https://127.0.0.1:{port}/api/v1/hosts"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    wait_for(
        "the host report in the store",
        Duration::from_secs(30),
        || hosts()["hosts"].as_array().is_some_and(|h| !h.is_empty()),
    );
    let listed = hosts();
    let host = &listed["hosts"][0];
    assert!(
        host["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{listed}"
    );
    assert!(host["reported_at"].as_i64().unwrap() > 0, "{listed}");
    assert_eq!(
        host["failed"].as_u64().unwrap() as usize,
        host["report"]["host_failing"].as_array().unwrap().len(),
        "{listed}"
    );
    assert_eq!(
        host["passed"].as_u64(),
        host["report"]["host_passed"].as_u64(),
        "the agent counts the checks that pass: {listed}"
    );

    // The server stops: the agent keeps enforcing the last good policy.
    drop(server);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(create(&socket, r#"{"Privileged":true}"#)["Allow"], false);
    assert_eq!(create(&socket, r#"{"NetworkMode":"host"}"#)["Allow"], true);
    assert!(
        log("agent.log").contains("enforcing the last good policy"),
        "{}",
        log("agent.log")
    );

    // The agent restarts while the server is down: it starts from that bundle.
    let _ = agent.0.kill();
    let _ = agent.0.wait();
    let _ = std::fs::remove_file(&socket);
    std::fs::write(d.join("agent.log"), "").unwrap();
    agent = spawn(&agent_args, &d.join("agent.log"));
    wait_for("the restarted agent", Duration::from_secs(30), || {
        socket.exists() && log("agent.log").contains("policy loaded")
    });
    assert_eq!(create(&socket, r#"{"Privileged":true}"#)["Allow"], false);
    assert_eq!(create(&socket, r#"{"NetworkMode":"host"}"#)["Allow"], true);
    drop(agent);
}
