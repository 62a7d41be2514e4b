//! One policy for every host: `palisade serve` hands its policy bundle to agents over HTTPS
//! with a bearer token; an agent installs it, follows a change made on the server, keeps the
//! last good bundle while the server is down (also across a restart, from its state dir) and
//! reports; the server lists hosts with their digest, whether it is current, and staleness.

mod ca;

use std::sync::Arc;
use std::time::Duration;

use palisade_server::agent_sync::{ServerSettings, Sync, Tally};
use palisade_server::authz::HostStatus;
use palisade_server::bundle::Bundle;
use palisade_server::config::ServeConfig;
use palisade_server::serve::Server;
use palisade_server::state::Loaded;

const TOKEN: &str = "test-token-0123456789abcdef";

fn policy(name: &str) -> String {
    format!(
        "version: 1\nname: {name}\nsources:\n  keys:\n    release: keys/release.pub\n  default: deny\n  rules:\n    - name: local\n      images: [\"127.0.0.1:*/**\"]\n      signers: {{ any_of: [release] }}\n"
    )
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    url: String,
}

async fn start(dir: &std::path::Path, port: u16) -> Running {
    let config = format!(
        "listen: 127.0.0.1:{port}\ntls: {{cert: tls.crt, key: tls.key}}\npolicy: policy/policy.yaml\nreload: {{poll_interval: 200ms}}\nagents: {{tokens_file: tokens, stale_after: 1s}}\n"
    );
    std::fs::write(dir.join("serve.yaml"), config).unwrap();
    let config = ServeConfig::load(&dir.join("serve.yaml")).unwrap();
    let server = Server::bind(config, Arc::new(|_: &str| {})).await.unwrap();
    let url = format!("https://{}", server.local_addr().unwrap());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running { stop, task, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_follow_the_server_and_keep_the_last_good_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = ca::Ca::new("distribution test CA");
    ca.server(1).write(d, "tls");
    ca.write(&d.join("ca.crt"));
    std::fs::create_dir_all(d.join("policy/keys")).unwrap();
    // Any PEM public key: the policy checks it parses.
    let key = palisade_trust::keys::PrivateKey::generate_p256()
        .unwrap()
        .public_key()
        .to_pem();
    std::fs::write(d.join("policy/keys/release.pub"), key).unwrap();
    std::fs::write(d.join("policy/policy.yaml"), policy("one")).unwrap();
    std::fs::write(d.join("tokens"), format!("# agents\n{TOKEN}\n")).unwrap();
    std::fs::write(d.join("agent.token"), TOKEN).unwrap();
    std::fs::write(d.join("wrong.token"), "not-the-token-0123456789").unwrap();

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = start(d, port).await;
    let state = d.join("agent-state");
    let settings = ServerSettings {
        url: server.url.clone(),
        token_file: d.join("agent.token"),
        ca_file: Some(d.join("ca.crt")),
        poll: Duration::from_millis(200),
    };
    let sync = Arc::new(Sync::new(&settings, &state, "host-a".into()).unwrap());
    let blocking = |f: Box<dyn FnOnce() -> Result<Option<String>, String> + Send>| {
        tokio::task::spawn_blocking(f)
    };

    // A wrong token is refused.
    let wrong = Sync::new(
        &ServerSettings {
            token_file: d.join("wrong.token"),
            ..settings.clone()
        },
        &d.join("wrong-state"),
        "host-x".into(),
    )
    .unwrap();
    let refused = tokio::task::spawn_blocking(move || wrong.fetch())
        .await
        .unwrap();
    assert!(refused.unwrap_err().contains("401"));

    // First fetch installs; the second is a 304.
    let s = Arc::clone(&sync);
    let first = blocking(Box::new(move || s.fetch()))
        .await
        .unwrap()
        .unwrap();
    let digest_one = first.expect("installed");
    let s = Arc::clone(&sync);
    assert_eq!(
        blocking(Box::new(move || s.fetch()))
            .await
            .unwrap()
            .unwrap(),
        None
    );
    let loaded = Loaded::load(&Sync::policy_path(&state), None).unwrap();
    assert_eq!(loaded.policy.name(), Some("one"));

    // The host reports; the server lists it as current.
    let host = Arc::new(HostStatus::default());
    let tally = Arc::new(Tally::default());
    tally.add("deny");
    let (s, h, t) = (Arc::clone(&sync), Arc::clone(&host), Arc::clone(&tally));
    tokio::task::spawn_blocking(move || s.report(&h, &t))
        .await
        .unwrap()
        .unwrap();
    let hosts = list_hosts(&server.url, d).await;
    assert_eq!(hosts[0]["host"], "host-a");
    assert_eq!(hosts[0]["policy_digest"], digest_one.as_str());
    assert_eq!(hosts[0]["current"], true);
    assert_eq!(hosts[0]["decisions"]["deny"], 1);
    assert_eq!(hosts[0]["stale"], false);

    // A change on the server reaches the agent.
    std::fs::write(d.join("policy/policy.yaml"), policy("two")).unwrap();
    let mut digest_two = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = Arc::clone(&sync);
        if let Some(d) = blocking(Box::new(move || s.fetch()))
            .await
            .unwrap()
            .unwrap()
        {
            digest_two = Some(d);
            break;
        }
    }
    let digest_two = digest_two.expect("the new policy reached the agent");
    assert_ne!(digest_two, digest_one);
    let loaded = Loaded::load(&Sync::policy_path(&state), None).unwrap();
    assert_eq!(loaded.policy.name(), Some("two"));
    // Not reported since: listed as not current, then stale.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let hosts = list_hosts(&server.url, d).await;
    assert_eq!(hosts[0]["current"], false);
    assert_eq!(hosts[0]["stale"], true);

    // The server stops: fetching fails, the installed bundle stays and still loads.
    server.stop.send(()).unwrap();
    server.task.await.unwrap();
    let s = Arc::clone(&sync);
    assert!(
        blocking(Box::new(move || s.fetch()))
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(
        Bundle::installed(&state).as_deref(),
        Some(digest_two.as_str())
    );
    // A restarted agent (a new link on the same state dir) starts from it.
    let again = Sync::new(&settings, &state, "host-a".into()).unwrap();
    assert!(
        tokio::task::spawn_blocking(move || again.fetch())
            .await
            .unwrap()
            .is_err()
    );
    let loaded = Loaded::load(&Sync::policy_path(&state), None).unwrap();
    assert_eq!(loaded.policy.name(), Some("two"));
}

async fn list_hosts(url: &str, d: &std::path::Path) -> Vec<serde_json::Value> {
    let (url, ca) = (url.to_owned(), d.join("ca.crt"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(ca)
            .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
            .arg(format!("{url}/v1/hosts"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}
