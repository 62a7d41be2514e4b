//! `palisade bench k8s`: the Pod Security Standards checks on the manifests in
//! `tests/fixtures/k8s/`. Each fixture marks the lines that must be flagged with a trailing
//! `# expect: CHECK-ID …` comment, so the expected findings live next to the YAML that causes
//! them; `pass-restricted.yaml` (every workload kind, hardened) marks none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use palisade_harden::check::{Status, TargetKind};
use palisade_harden::k8s::{self, CHECKS, Error};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Check ID → lines marked `# expect: ID` in the file.
fn marks(path: &Path) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (i, line) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
        if let Some((_, ids)) = line.split_once("# expect:") {
            for id in ids.split_whitespace() {
                out.entry(id.to_owned())
                    .or_default()
                    .push(u32::try_from(i + 1).unwrap());
            }
        }
    }
    out
}

#[test]
fn findings_are_exactly_the_marked_lines() {
    let mut wrong = Vec::new();
    for file in fixtures() {
        let expected = marks(&file);
        for id in expected.keys() {
            assert!(
                CHECKS.iter().any(|d| d.id == id),
                "{}: unknown check {id}",
                file.display()
            );
        }
        let results = k8s::check_file(&file, &|_| true).unwrap();
        for def in CHECKS {
            let mut got: Vec<u32> = results
                .iter()
                .filter(|r| r.id == def.id && r.status == Status::Fail)
                .map(|r| r.evidence[0].line.unwrap())
                .collect();
            got.sort_unstable();
            let want = expected.get(def.id).cloned().unwrap_or_default();
            if got != want {
                wrong.push(format!(
                    "{} {}: expected lines {want:?}, got {got:?}",
                    file.file_name().unwrap().to_string_lossy(),
                    def.id
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Acceptance 1: generated from the check list: every check has a fixture that fails it and
/// passes on every workload of `pass-restricted.yaml`.
#[test]
fn every_check_has_a_failing_and_a_passing_manifest() {
    let pass = k8s::check_file(&dir().join("pass-restricted.yaml"), &|_| true).unwrap();
    for def in CHECKS {
        assert_eq!(def.target, TargetKind::Kubernetes);
        assert!(
            def.id.starts_with("PSS-BASELINE-")
                || def.id.starts_with("PSS-RESTRICTED-")
                || def.id.starts_with("PAL-K8S-")
        );
        let failing_fixture = fixtures()
            .into_iter()
            .filter(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("fail-")
            })
            .any(|f| marks(&f).contains_key(def.id));
        assert!(failing_fixture, "no failing fixture for {}", def.id);
        let mine: Vec<_> = pass.iter().filter(|r| r.id == def.id).collect();
        // Nine workloads: Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet (in a
        // List), ReplicationController, PodTemplate, Pod.
        assert_eq!(mine.len(), 9, "{}", def.id);
        assert!(mine.iter().all(|r| r.status == Status::Pass), "{}", def.id);
    }
    let subjects: Vec<&str> = pass
        .iter()
        .filter(|r| r.id == CHECKS[0].id)
        .map(|r| r.subject())
        .collect();
    assert_eq!(
        subjects,
        [
            "Deployment/shop/web",
            "StatefulSet/shop/db",
            "DaemonSet/monitoring/node-metrics",
            "CronJob/shop/nightly-report",
            "Job/shop/seed",
            "ReplicaSet/shop/legacy-web",
            "ReplicationController/default/old-rc",
            "PodTemplate/batch/worker-template",
            "Pod/shop/debug-target",
        ]
    );
}

#[test]
fn evidence_names_object_container_and_field() {
    let r = k8s::check_file(&dir().join("fail-privileged.yaml"), &|d| {
        d.id == "PSS-BASELINE-PRIVILEGED"
    })
    .unwrap();
    assert_eq!(r.len(), 1);
    let e = &r[0].evidence[0];
    assert_eq!(e.subject, "Pod/default/builder");
    assert_eq!(
        e.detail,
        "container \"setup\": privileged: true (spec.initContainers[0].securityContext.privileged)"
    );
    assert_eq!(
        e.file.as_deref(),
        Some(dir().join("fail-privileged.yaml").as_path())
    );
    let r = k8s::check_file(&dir().join("fail-baseline-seccomp.yaml"), &|d| {
        d.id == "PSS-BASELINE-SECCOMP"
    })
    .unwrap();
    let details: Vec<&str> = r.iter().map(|x| x.evidence[0].detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("pod: seccomp annotation unconfined")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.starts_with("container \"trace\"")
            && d.ends_with(
                "(spec.jobTemplate.spec.template.spec.containers[0].securityContext.seccompProfile.type)"
            )),
        "{details:?}"
    );
    // A pass points at the document.
    let r = k8s::check_file(&dir().join("fail-privileged.yaml"), &|d| {
        d.id == "PSS-BASELINE-HOST-PORTS"
    })
    .unwrap();
    assert_eq!(
        (r[0].status, r[0].evidence[0].line),
        (Status::Pass, Some(1))
    );
}

#[test]
fn levels_follow_the_profiles() {
    use palisade_harden::check::Level;
    for d in CHECKS {
        let want = if d.id.starts_with("PSS-BASELINE-") || d.id.starts_with("PAL-K8S-") {
            Level::One
        } else {
            Level::Two
        };
        assert_eq!(d.level, want, "{}", d.id);
    }
}

#[test]
fn nothing_to_check_is_not_applicable() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n---\n---\n";
    let r = k8s::check_text(yaml, Path::new("cm.yaml"), &|_| true).unwrap();
    assert_eq!(r.len(), CHECKS.len());
    assert!(r.iter().all(|x| x.status == Status::NotApplicable));
}

/// Issue 12.9: what is not Kubernetes manifests is an error naming the file and line, never a
/// clean not-applicable run.
#[test]
fn input_that_is_not_kubernetes_is_an_error() {
    let cases: &[(&str, &str, u32, &str)] = &[
        ("empty", "", 1, "no Kubernetes object"),
        (
            "comments and separators",
            "# nothing\n---\n---\n",
            1,
            "no Kubernetes object",
        ),
        (
            "a Dockerfile",
            "FROM debian:12\nRUN apt-get update\nUSER 0\n",
            1,
            "document 1 is a scalar",
        ),
        (
            "other YAML",
            "name: web\nreplicas: 3\n",
            1,
            "document 1 has no apiVersion",
        ),
        ("a JSON array", "[1, 2]\n", 1, "document 1 is a sequence"),
        (
            "a kind without apiVersion",
            "apiVersion: v1\nkind: Pod\nspec: {containers: []}\n---\nkind: Pod\n",
            5,
            "document 2 has no apiVersion",
        ),
        (
            "a workload without its pod spec",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  tempalte: {}\n",
            1,
            "Deployment/default/d: no pod spec at spec.template.spec",
        ),
        (
            "a pod spec that is not a mapping",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: [a]\n",
            4,
            "spec is not a mapping",
        ),
        (
            "a List item without kind",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {name: x}\n",
            4,
            "item 0 of document 1 has no kind",
        ),
    ];
    for (what, yaml, want_line, want) in cases {
        let err = k8s::check_text(yaml, Path::new("in.yaml"), &|_| true).unwrap_err();
        let Error::NotKubernetes { line, message, .. } = &err else {
            panic!("{what}: {err}");
        };
        assert_eq!(line, want_line, "{what}: {err}");
        assert!(message.contains(want), "{what}: {err}");
        assert!(err.to_string().starts_with("in.yaml:"), "{what}: {err}");
    }
}

/// Issue 12.9: unknown and mistyped fields are PAL-K8S-1 failures with path, line and the
/// closest known field.
#[test]
fn unknown_fields_are_reported_with_path_line_and_suggestion() {
    let file = dir().join("fail-unknown-fields.yaml");
    let r = k8s::check_file(&file, &|d| d.id == "PAL-K8S-1").unwrap();
    let details: Vec<(u32, &str)> = r
        .iter()
        .filter(|x| x.status == Status::Fail)
        .map(|x| (x.evidence[0].line.unwrap(), x.evidence[0].detail.as_str()))
        .collect();
    let want = [
        (
            11,
            "pod: unknown field \"HostNetwork\"; did you mean \"hostNetwork\"? (spec.template.spec.HostNetwork)",
        ),
        (
            17,
            "pod: unknown field \"runAsUsr\"; did you mean \"runAsUser\"? (spec.template.spec.securityContext.runAsUsr)",
        ),
        (
            22,
            "container \"web\": expected true or false, found a string \"true\" (spec.template.spec.containers[0].securityContext.privileged)",
        ),
        (
            24,
            "container \"web\": unknown field \"readOnlyRootFilesytem\"; did you mean \"readOnlyRootFilesystem\"? (spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem)",
        ),
        (
            28,
            "container \"sidecar\": unknown field \"securityContxt\"; did you mean \"securityContext\"? (spec.template.spec.containers[1].securityContxt)",
        ),
    ];
    for w in want {
        assert!(details.contains(&w), "{w:?} not in {details:#?}");
    }
    // A clean manifest passes, one result per workload.
    let pass = k8s::check_file(&dir().join("pass-restricted.yaml"), &|d| {
        d.id == "PAL-K8S-1"
    })
    .unwrap();
    assert!(pass.iter().all(|x| x.status == Status::Pass), "{pass:#?}");
}

#[test]
fn malformed_input_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "kind: Pod\nspec:\n  containers: [\n    {name: a\n").unwrap();
    let err = k8s::check_file(&bad, &|_| true).unwrap_err();
    let Error::Yaml { line, .. } = &err else {
        panic!("{err}")
    };
    assert!(*line >= 3, "{err}");
    assert!(
        err.to_string().starts_with(&format!("{}:", bad.display())),
        "{err}"
    );
    let latin1 = tmp.path().join("latin1.yaml");
    std::fs::write(&latin1, b"kind: Pod\nmetadata: {name: caf\xe9}\n").unwrap();
    let err = k8s::check_file(&latin1, &|_| true).unwrap_err();
    assert!(err.to_string().contains(":2: not UTF-8"), "{err}");
    assert!(matches!(
        k8s::check_file(&tmp.path().join("missing.yaml"), &|_| true),
        Err(Error::Io { .. })
    ));
    let many = "---\na: 1\n".repeat(k8s::MAX_DOCUMENTS + 1);
    assert!(k8s::check_text(&many, Path::new("many.yaml"), &|_| true).is_err());
    let files = [dir().join("pass-restricted.yaml"), bad];
    assert!(k8s::check_files(&files, &|_| true).is_err());
}

/// No input makes the checks panic: pseudo-random YAML built from fragments of pod specs
/// (wrong types, nulls, odd nesting), a deterministic stand-in for a fuzz target.
#[test]
fn random_manifests_never_panic() {
    const FRAGMENTS: &[&str] = &[
        "kind: Pod\n",
        "kind: Deployment\n",
        "kind: List\n",
        "kind: CronJob\n",
        "items:\n",
        "spec:\n",
        "  template:\n",
        "    spec:\n",
        "  containers:\n",
        "  - name: a\n",
        "    securityContext:\n",
        "      capabilities: {add: [SYS_ADMIN, 3, null]}\n",
        "      privileged: yes\n",
        "      runAsUser: 0\n",
        "      seccompProfile: x\n",
        "  volumes: [{name: v, hostPath: null}, 7]\n",
        "  hostNetwork: true\n",
        "---\n",
        "- ",
        "  ",
        "{",
        "}",
        "[",
        "]",
        ": ",
        "&a ",
        "*a ",
        "null\n",
        "~\n",
        "'x'\n",
        "\"y\n",
        "metadata: {name: [1]}\n",
        "ports: [{hostPort: '80'}]\n",
        "\n",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..1500 {
        let n = (next() % 30) as usize;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
        }
        let _ = k8s::check_text(&text, Path::new("fuzz.yaml"), &|_| true);
    }
}
