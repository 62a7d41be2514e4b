//! `k8s::check_object`, `pod_spec_path` and `container_images`: the Kubernetes checks on one
//! JSON object (an AdmissionReview's `request.object`) give what the YAML file path gives for
//! the same object; images are found with their JSON pointers; oversized objects are errors.

use palisade_harden::check::{CheckResult, Status};
use palisade_harden::k8s::{
    self, CHECKS, ContainerRef, Error, MAX_OBJECT_DEPTH, MAX_OBJECT_NODES, check_object,
    container_images, pod_spec_path,
};
use serde_json::{Value, json};

const KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// A pod spec with hostNetwork, a privileged app container, an init container and an
/// ephemeral container.
fn pod_spec() -> Value {
    json!({
        "hostNetwork": true,
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [
            {"name": "app", "image": "nginx:1.27", "securityContext": {"privileged": true}},
            {"name": "side", "image": "registry.example/side@sha256:0123"}
        ],
        "ephemeralContainers": [{"name": "debug", "image": "alpine:3.20"}]
    })
}

/// An object of `kind` holding [`pod_spec`] where that kind keeps it.
fn object(kind: &str) -> Value {
    let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()});
    let spec = match kind {
        "Pod" => pod_spec(),
        "CronJob" => {
            json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}})
        }
        _ => json!({"selector": {"matchLabels": {"app": "web"}}, "template": template}),
    };
    let api = match kind {
        "Pod" | "ReplicationController" => "v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    json!({
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": spec
    })
}

/// What both paths must agree on: ID, status, subject and detail of each result.
fn key(r: &CheckResult) -> (String, Status, String, String) {
    let e = &r.evidence[0];
    (
        r.id.to_owned(),
        r.status,
        e.subject.clone(),
        e.detail.clone(),
    )
}

fn via_yaml(obj: &Value) -> Vec<CheckResult> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.yaml");
    std::fs::write(&path, serde_saphyr::to_string(obj).unwrap()).unwrap();
    k8s::check_files(&[path], &|_| true).unwrap()
}

#[test]
fn every_workload_kind_gives_the_yaml_results() {
    for kind in KINDS {
        let obj = object(kind);
        let json = check_object(&obj, "default", &|_| true).unwrap();
        let yaml = via_yaml(&obj);
        assert_eq!(
            json.iter().map(|w| key(&w.result)).collect::<Vec<_>>(),
            yaml.iter().map(key).collect::<Vec<_>>(),
            "{kind}"
        );
        assert!(json.iter().all(|w| w.result.evidence[0].line.is_none()
            && w.result.evidence[0].file.is_none()));

        let subject = format!("{kind}/team-a/web");
        let fails = |id: &str| -> Vec<&k8s::WorkloadResult> {
            json.iter()
                .filter(|w| w.result.id == id && w.result.status == Status::Fail)
                .collect()
        };
        let privileged = fails("PSS-BASELINE-PRIVILEGED");
        assert_eq!(privileged.len(), 1, "{kind}");
        assert_eq!(privileged[0].container.as_deref(), Some("app"));
        assert_eq!(privileged[0].result.evidence[0].subject, subject);
        let host = fails("PSS-BASELINE-HOST-NAMESPACES");
        assert_eq!(host.len(), 1, "{kind}");
        assert_eq!(host[0].container, None);
        assert!(
            host[0].result.evidence[0]
                .detail
                .contains("hostNetwork: true"),
            "{:?}",
            host[0].result
        );
        // Every check ran: each has a result.
        for def in CHECKS {
            assert!(
                json.iter().any(|w| w.result.id == def.id),
                "{kind} {}",
                def.id
            );
        }
    }
}

#[test]
fn select_and_namespace_are_honoured() {
    let mut obj = object("Deployment");
    obj["metadata"].as_object_mut().unwrap().remove("namespace");
    let out = check_object(&obj, "payments", &|d| d.id == "PSS-BASELINE-PRIVILEGED").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].result.id, "PSS-BASELINE-PRIVILEGED");
    assert_eq!(out[0].result.evidence[0].subject, "Deployment/payments/web");
}

#[test]
fn pod_spec_path_for_each_kind() {
    let template: &[&str] = &["spec", "template", "spec"];
    assert_eq!(pod_spec_path("Pod"), Some(&["spec"][..]));
    for kind in [
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "ReplicationController",
    ] {
        assert_eq!(pod_spec_path(kind), Some(template), "{kind}");
    }
    assert_eq!(
        pod_spec_path("CronJob"),
        Some(&["spec", "jobTemplate", "spec", "template", "spec"][..])
    );
    assert_eq!(pod_spec_path("ConfigMap"), None);
    assert_eq!(pod_spec_path("pod"), None);
    for kind in KINDS {
        let obj = object(kind);
        let spec = pod_spec_path(kind)
            .unwrap()
            .iter()
            .try_fold(&obj, |v, k| v.get(k))
            .unwrap();
        assert_eq!(spec, &pod_spec(), "{kind}");
    }
}

#[test]
fn container_images_in_all_three_lists_with_pointers() {
    for kind in KINDS {
        let obj = object(kind);
        let refs = container_images(&obj);
        let base = format!("/{}", pod_spec_path(kind).unwrap().join("/"));
        let want = |field: &'static str, index: usize, name: &str, image: &str| ContainerRef {
            field,
            index,
            name: Some(name.to_owned()),
            image: Some(image.to_owned()),
            pointer: format!("{base}/{field}/{index}/image"),
        };
        assert_eq!(
            refs,
            vec![
                want("containers", 0, "app", "nginx:1.27"),
                want("containers", 1, "side", "registry.example/side@sha256:0123"),
                want("initContainers", 0, "init", "busybox:1.36"),
                want("ephemeralContainers", 0, "debug", "alpine:3.20"),
            ],
            "{kind}"
        );
        for r in &refs {
            assert_eq!(
                obj.pointer(&r.pointer).and_then(Value::as_str),
                r.image.as_deref(),
                "{kind} {}",
                r.pointer
            );
        }
    }
    assert_eq!(
        container_images(&object("Deployment"))[0].pointer,
        "/spec/template/spec/containers/0/image"
    );
    // A container without an image is listed (so a caller can refuse it), a non-object skipped.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a"}, 7]}});
    let refs = container_images(&pod);
    assert_eq!(refs.len(), 1);
    assert_eq!(
        (refs[0].name.as_deref(), refs[0].image.as_deref()),
        (Some("a"), None)
    );
    assert!(container_images(&json!({"kind": "ConfigMap", "data": {}})).is_empty());
    assert!(container_images(&json!([1, 2])).is_empty());
}

/// A Pod whose objects nest `levels` deep (the root object is level 1), with a scalar below the
/// deepest.
fn pod_nested(levels: usize) -> Value {
    let mut leaf = json!(1);
    for _ in 0..levels - 2 {
        leaf = json!({ "a": leaf });
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deep"},
        "spec": {"containers": [{"name": "c", "image": "x"}], "extra": leaf}})
}

#[test]
fn too_deep_is_an_error() {
    assert!(check_object(&pod_nested(MAX_OBJECT_DEPTH), "default", &|_| true).is_ok());
    for levels in [MAX_OBJECT_DEPTH + 1, 1_000] {
        let err = check_object(&pod_nested(levels), "default", &|_| true).unwrap_err();
        let Error::Object { subject, message } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(subject, "Pod/default/deep");
        assert!(message.contains("nested deeper than 64"), "{err}");
    }
}

#[test]
fn depth_limit_is_the_yaml_paths() {
    for levels in [MAX_OBJECT_DEPTH, MAX_OBJECT_DEPTH + 1] {
        let obj = pod_nested(levels);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep.yaml");
        std::fs::write(&path, serde_saphyr::to_string(&obj).unwrap()).unwrap();
        let yaml_ok = k8s::check_files(&[path], &|_| true).is_ok();
        let json_ok = check_object(&obj, "default", &|_| true).is_ok();
        assert_eq!(
            (yaml_ok, json_ok),
            (levels <= MAX_OBJECT_DEPTH, levels <= MAX_OBJECT_DEPTH)
        );
    }
}
#[test]
fn too_many_nodes_is_an_error() {
    let pod = |n: usize| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
            "spec": {"containers": [], "extra": vec![0; n]}})
    };
    // root, apiVersion, kind, metadata, name, spec, containers, extra: 8 values besides the items.
    assert!(check_object(&pod(MAX_OBJECT_NODES - 8), "default", &|_| true).is_ok());
    let err = check_object(&pod(MAX_OBJECT_NODES - 7), "default", &|_| true).unwrap_err();
    assert!(
        matches!(&err, Error::Object { message, .. } if message.contains("more than 200000 values")),
        "{err}"
    );
}

#[test]
fn unknown_kind_gives_not_applicable_per_check() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg"}, "data": {"hostNetwork": "true"}});
    let out = check_object(&obj, "team-a", &|_| true).unwrap();
    assert_eq!(out.len(), CHECKS.len());
    for (w, def) in out.iter().zip(CHECKS) {
        assert_eq!(w.result.id, def.id);
        assert_eq!(w.result.status, Status::NotApplicable);
        assert_eq!(w.container, None);
        assert_eq!(w.result.evidence[0].subject, "ConfigMap/team-a/cfg");
    }
    // The YAML path gives the same statuses (its subject is the file).
    let yaml = via_yaml(&obj);
    assert!(yaml.iter().all(|r| r.status == Status::NotApplicable));
    assert_eq!(yaml.len(), out.len());
}

#[test]
fn not_a_kubernetes_object_is_an_error() {
    for (obj, says) in [
        (json!([1, 2]), "not a JSON object"),
        (json!(null), "not a JSON object"),
        (json!({"kind": "Pod"}), "has no apiVersion"),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}),
            "no pod spec at spec.template.spec",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "spec": []}),
            "spec is not a mapping",
        ),
    ] {
        let err = check_object(&obj, "default", &|_| true).unwrap_err();
        assert!(
            matches!(&err, Error::Object { message, .. } if message.contains(says)),
            "{obj}: {err}"
        );
    }
}
