//! The e2e tests' HTTP client: `curl` against a [`Serve`] with the test CA and a bearer token,
//! and the admission reviews they send.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::serve::Serve;

/// `curl` to the server at `path` with `token` (a JSON body makes it a POST); the JSON answer.
pub(crate) fn curl(
    serve: &Serve,
    ca: &Path,
    token: &str,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60", "--cacert"])
        .arg(ca)
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(b.to_string());
    }
    let out = cmd
        .arg(format!("https://{}{path}", serve.https))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {path}: {}", super::text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", super::text(&out)))
}

/// An `AdmissionReview` creating pod `namespace/name` with one container per image.
pub(crate) fn pod(namespace: &str, name: &str, images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let object = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": containers},
    });
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": format!("uid-{name}"),
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": name, "namespace": namespace, "operation": "CREATE",
        "userInfo": {"username": "test"},
        "object": object, "oldObject": null, "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }})
}
