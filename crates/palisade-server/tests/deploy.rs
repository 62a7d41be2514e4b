//! The deployment files: every Kubernetes manifest (with the certificates `make-certs.sh`
//! makes) passes `kubernetes-validate --strict` against the OpenAPI schema of Kubernetes 1.37,
//! the webhooks are configured as the server expects, and the Docker plugin files agree.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubernetes-validate`, installed into target/pyvenv by tools/test-all.sh.
fn validator() -> PathBuf {
    let p = std::env::var_os("PALISADE_TEST_KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/pyvenv/bin/kubernetes-validate"));
    assert!(
        p.exists(),
        "{} is missing: run tools/test-all.sh (it installs kubernetes-validate)",
        p.display()
    );
    p
}

#[test]
fn manifests_validate_against_the_kubernetes_schema() {
    let out = tempfile::tempdir().unwrap();
    let certs = Command::new(repo().join("deploy/k8s/make-certs.sh"))
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        certs.status.success(),
        "{}",
        String::from_utf8_lossy(&certs.stderr)
    );
    let ca = std::fs::read(out.path().join("ca.crt")).unwrap();
    let webhooks = std::fs::read_to_string(out.path().join("webhooks.yaml")).unwrap();
    assert!(!webhooks.contains("CA_BUNDLE"));
    use base64::Engine as _;
    assert!(webhooks.contains(&base64::engine::general_purpose::STANDARD.encode(&ca)));
    let files: Vec<PathBuf> = ["namespace.yaml", "config.yaml", "deployment.yaml"]
        .iter()
        .map(|f| repo().join("deploy/k8s").join(f))
        .chain([
            out.path().join("secret.yaml"),
            out.path().join("webhooks.yaml"),
        ])
        .collect();
    let run = Command::new(validator())
        .args(["--strict", "-k", "1.37.0"])
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{text}");
    for kind in [
        "namespace/palisade",
        "configmap/palisade-config",
        "serviceaccount/palisade",
        "deployment/palisade",
        "service/palisade",
        "secret/palisade-tls",
        "validatingwebhookconfiguration/palisade",
        "mutatingwebhookconfiguration/palisade",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}")),
            "{kind}: {text}"
        );
    }
    // What the acceptance asks of the webhooks, read from the YAML itself.
    for setting in [
        "failurePolicy: Fail",
        "sideEffects: None",
        "admissionReviewVersions: [\"v1\"]",
        "path: /k8s/validate",
        "path: /k8s/mutate",
        "namespaceSelector:",
    ] {
        assert!(webhooks.contains(setting), "{setting}");
    }
    let deployment = std::fs::read_to_string(repo().join("deploy/k8s/deployment.yaml")).unwrap();
    assert!(deployment.contains("replicas: 2"));
    // The config in the ConfigMap is one the server accepts.
    {
        let text = std::fs::read_to_string(repo().join("deploy/k8s/config.yaml")).unwrap();
        let start = text.find("serve.yaml: |\n").unwrap() + "serve.yaml: |\n".len();
        let end = text.find("  policy.yaml: |").unwrap();
        let body: String = text[start..end]
            .lines()
            .map(|l| l.strip_prefix("    ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.yaml");
        std::fs::write(&path, body).unwrap();
        let parsed = palisade_server::config::ServeConfig::load(&path);
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}

#[test]
fn docker_plugin_files_agree() {
    let spec = std::fs::read_to_string(repo().join("deploy/docker/palisade.spec")).unwrap();
    assert_eq!(spec.trim(), "unix:///run/docker/plugins/palisade.sock");
    let daemon: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/docker/daemon.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(daemon["authorization-plugins"][0], "palisade");
    let unit =
        std::fs::read_to_string(repo().join("deploy/docker/palisade-agent.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/palisade agent --config /etc/palisade/agent.yaml")
    );
    assert!(unit.contains("Before=docker.service"));
}
