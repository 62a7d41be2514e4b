//! Kubernetes manifests (`palisade bench k8s FILE...`): the Pod Security Standards, baseline
//! and restricted, as the pod-security-admission code defines them, on Pods and on the pod
//! templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs,
//! ReplicationControllers and PodTemplates, in multi-document YAML (and `kind: List`).
//! Every container kind counts: `containers`, `initContainers` and `ephemeralContainers`;
//! container settings override the pod's where the standard says so.
//!
//! One object given as JSON (an admission request's object) is checked by [`check_object`],
//! with [`pod_spec_path`] and [`container_images`] to find its pod spec and images.
//!
//! Not for: RBAC, network policies, admission decisions (the server runs these checks and
//! leaves the verdict to the policy).
//!
//! ```
//! use palisade_harden::check::Status;
//! use palisade_harden::k8s;
//!
//! let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  containers:\n  - name: app\n    image: nginx:1.27\n";
//! let results = k8s::check_text(yaml, "pod.yaml".as_ref(), &|d| d.id == "PSS-BASELINE-HOST-NAMESPACES").unwrap();
//! assert_eq!(results[0].status, Status::Fail);
//! assert_eq!(results[0].evidence[0].subject, "Pod/default/web");
//! assert_eq!(results[0].evidence[0].line, Some(5));
//! ```

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};
use crate::profile::Profile;
use crate::target::{Target, files_subject};

mod fields;
mod json;

pub use json::{
    ContainerRef, MAX_OBJECT_DEPTH, MAX_OBJECT_NODES, WorkloadResult, check_object,
    container_images,
};

/// The largest manifest file we read.
pub const MAX_BYTES: usize = 8 << 20;
/// The most YAML documents in one file.
pub const MAX_DOCUMENTS: usize = 2_000;

const BASELINE: &str = "Kubernetes Pod Security Standards: baseline";
const RESTRICTED: &str = "Kubernetes Pod Security Standards: restricted";
const PSS: &str = "Kubernetes Pod Security Standards (pod-security-admission, latest)";
const PSS_URL: &str = "https://kubernetes.io/docs/concepts/security/pod-security-standards/";

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("reading manifest {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML we accept.
    #[error("{path}:{line}: {message}")]
    Yaml {
        path: PathBuf,
        line: u32,
        message: String,
    },
    /// The file is YAML but not Kubernetes manifests: a document that is not an object with
    /// `apiVersion` and `kind`, a workload without its pod spec, or no object at all.
    #[error("{path}:{line}: not a Kubernetes manifest: {message}")]
    NotKubernetes {
        path: PathBuf,
        line: u32,
        message: String,
    },
    /// A JSON object ([`check_object`]) we do not check: nested deeper than
    /// [`MAX_OBJECT_DEPTH`], more than [`MAX_OBJECT_NODES`] values, or not a Kubernetes object.
    #[error("Kubernetes object {subject}: {message}")]
    Object { subject: String, message: String },
}

// ------------------------------------------------------------------ YAML tree with lines

/// A YAML node and the 1-based line it starts on (0 for a node converted from JSON).
#[derive(Clone, Debug, PartialEq)]
struct Node {
    value: Value,
    line: u32,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            value: s.value,
            line: u32::try_from(s.referenced.line()).unwrap_or(u32::MAX),
        })
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = a.next_element::<Node>()? {
            out.push(n);
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        // A value's line is its key's line: `hostPath:` rather than the first line below it.
        while let Some(k) = a.next_key::<serde_saphyr::Spanned<Key>>()? {
            let mut v = a.next_value::<Node>()?;
            let key_line = u32::try_from(k.referenced.line()).unwrap_or(u32::MAX);
            if key_line > 0 {
                v.line = key_line;
            }
            out.push((k.value.0, v));
        }
        Ok(Value::Map(out))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A mapping key: any scalar, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Str(s) => Ok(Key(s)),
            Value::Bool(b) => Ok(Key(b.to_string())),
            Value::Int(i) => Ok(Key(i.to_string())),
            Value::Float(f) => Ok(Key(f.to_string())),
            Value::Null => Ok(Key(String::new())),
            Value::Seq(_) | Value::Map(_) => {
                Err(de::Error::custom("a mapping key must be a scalar"))
            }
        }
    }
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }
    fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    fn bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    fn int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
    fn seq(&self) -> &[Node] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }
    fn map(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }
    fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// A short rendering of a scalar for evidence.
    fn show(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(s) => format!("[{} items]", s.len()),
            Value::Map(_) => "{…}".into(),
        }
    }
}

// ------------------------------------------------------------------ workloads

/// A pod spec found in a manifest: the object that holds it and where.
struct Workload<'a> {
    /// `Kind/namespace/name`.
    subject: String,
    /// Field path of the pod spec (`spec.template.spec`).
    spec_path: String,
    spec: &'a Node,
    /// The pod's metadata (for AppArmor and seccomp annotations).
    pod_meta: Option<&'a Node>,
    /// Line of the document (or `List` item).
    line: u32,
}

/// Where an object of `kind` keeps its pod spec, as keys from the object's root:
/// `spec` for a Pod, `spec.template.spec` for a Deployment, ReplicaSet, StatefulSet,
/// DaemonSet, Job and ReplicationController, `spec.jobTemplate.spec.template.spec` for a
/// CronJob, `template.spec` for a PodTemplate; `None` for any other kind (they hold no pod).
///
/// For an admission webhook that needs to find (or patch) the pod spec in a JSON object; the
/// checks themselves find it with the same table.
///
/// ```
/// assert_eq!(palisade_harden::k8s::pod_spec_path("Deployment"), Some(&["spec", "template", "spec"][..]));
/// assert_eq!(palisade_harden::k8s::pod_spec_path("ConfigMap"), None);
/// ```
#[must_use]
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    template_path(kind).map(|(spec, _)| spec)
}

/// Where each workload kind keeps its pod spec and the pod's metadata.
fn template_path(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match kind {
        "Pod" => (&["spec"], &["metadata"]),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => (
            &["spec", "template", "spec"],
            &["spec", "template", "metadata"],
        ),
        "CronJob" => (
            &["spec", "jobTemplate", "spec", "template", "spec"],
            &["spec", "jobTemplate", "spec", "template", "metadata"],
        ),
        "PodTemplate" => (&["template", "spec"], &["template", "metadata"]),
        _ => return None,
    })
}

/// Checks that `doc` (a document, or an item of a `List`, named by `what`) is a Kubernetes
/// object and collects its workloads. Returns the number of objects found (0 for an empty
/// document), or the line and reason it is not a Kubernetes object.
fn objects<'a>(
    doc: &'a Node,
    what: &str,
    default_ns: &str,
    out: &mut Vec<Workload<'a>>,
) -> Result<usize, (u32, String)> {
    if doc.is_null() {
        return Ok(0);
    }
    if !matches!(doc.value, Value::Map(_)) {
        return Err((
            doc.line,
            format!(
                "{what} is {}, not an object with apiVersion and kind",
                match doc.value {
                    Value::Seq(_) => "a sequence",
                    _ => "a scalar",
                }
            ),
        ));
    }
    let field = |name: &str| doc.get(name).and_then(Node::str).filter(|s| !s.is_empty());
    let (Some(_), Some(kind)) = (field("apiVersion"), field("kind")) else {
        let missing = if field("apiVersion").is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        let keys: Vec<&str> = doc.map().iter().take(3).map(|(k, _)| k.as_str()).collect();
        return Err((
            doc.line,
            format!(
                "{what} has no {missing} (its keys begin {})",
                keys.join(", ")
            ),
        ));
    };
    if kind.ends_with("List") {
        let mut n = 1;
        let items = doc.get("items").filter(|i| !i.is_null());
        if let Some(items) = items {
            let Value::Seq(list) = &items.value else {
                return Err((
                    items.line,
                    format!("{what}: {kind}.items is not a sequence"),
                ));
            };
            for (i, item) in list.iter().enumerate() {
                n += objects(item, &format!("item {i} of {what}"), default_ns, out)?;
            }
        }
        return Ok(n);
    }
    let Some((spec_keys, meta_keys)) = template_path(kind) else {
        return Ok(1);
    };
    let meta = doc.get("metadata");
    let name = meta
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Node::str)
        .unwrap_or("(unnamed)");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Node::str)
        .unwrap_or(default_ns);
    let subject = format!("{kind}/{ns}/{name}");
    let spec_path = spec_keys.join(".");
    let spec = match doc.path(spec_keys) {
        Some(spec) if matches!(spec.value, Value::Map(_)) => spec,
        Some(other) => {
            return Err((
                other.line,
                format!("{subject}: {spec_path} is not a mapping (a pod spec)"),
            ));
        }
        None => {
            return Err((doc.line, format!("{subject}: no pod spec at {spec_path}")));
        }
    };
    out.push(Workload {
        subject,
        spec_path,
        spec,
        pod_meta: doc.path(meta_keys),
        line: doc.line,
    });
    Ok(1)
}

/// A container of any kind, with its field path.
struct Container<'a> {
    name: String,
    path: String,
    node: &'a Node,
}

fn containers<'a>(w: &Workload<'a>) -> Vec<Container<'a>> {
    let mut out = Vec::new();
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in w
            .spec
            .get(field)
            .map(Node::seq)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            out.push(Container {
                name: c
                    .get("name")
                    .and_then(Node::str)
                    .unwrap_or("(unnamed)")
                    .to_owned(),
                path: format!("{}.{field}[{i}]", w.spec_path),
                node: c,
            });
        }
    }
    out
}

// ------------------------------------------------------------------ checks

/// A violation: where (field path and line) and what.
struct Violation {
    container: Option<String>,
    path: String,
    line: u32,
    detail: String,
}

type Eval = fn(&Workload<'_>) -> Vec<Violation>;

struct Rule {
    def: CheckDef,
    eval: Eval,
}

const fn def(
    id: &'static str,
    title: &'static str,
    restricted: bool,
    rationale: &'static str,
    remediation: &'static str,
    references: &'static [&'static str],
) -> CheckDef {
    CheckDef::new(
        id,
        title,
        if restricted { Level::Two } else { Level::One },
        TargetKind::Kubernetes,
        if restricted { RESTRICTED } else { BASELINE },
        rationale,
        remediation,
    )
    .refs(references)
}

const RULES: &[Rule] = &[
    Rule {
        def: def(
            "PSS-BASELINE-HOST-NAMESPACES",
            "Host namespaces are not shared (hostNetwork, hostPID, hostIPC)",
            false,
            "Sharing the host's network, PID or IPC namespace lets the pod see and reach host processes and interfaces.",
            "Remove `hostNetwork`, `hostPID` and `hostIPC` (or set them to false).",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.10, 5.16, 5.17"],
        ),
        eval: host_namespaces,
    },
    Rule {
        def: def(
            "PSS-BASELINE-PRIVILEGED",
            "Containers are not privileged",
            false,
            "A privileged container has every capability and all host devices: it is root on the node.",
            "Remove `securityContext.privileged` or set it to false; grant the single capability needed instead.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.5"],
        ),
        eval: privileged,
    },
    Rule {
        def: def(
            "PSS-BASELINE-HOST-PROCESS",
            "Windows containers are not HostProcess containers",
            false,
            "A Windows HostProcess container runs directly on the host with host privileges.",
            "Remove `securityContext.windowsOptions.hostProcess` or set it to false.",
            &[PSS, PSS_URL],
        ),
        eval: host_process,
    },
    Rule {
        def: def(
            "PSS-BASELINE-CAPABILITIES",
            "Added capabilities stay within the baseline set",
            false,
            "Capabilities beyond the default set (NET_RAW excluded), such as SYS_ADMIN or NET_ADMIN, give kernel-level powers that break isolation.",
            "Add only capabilities from AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.4"],
        ),
        eval: baseline_capabilities,
    },
    Rule {
        def: def(
            "PSS-BASELINE-HOST-PATH-VOLUMES",
            "No hostPath volumes",
            false,
            "A hostPath volume exposes the node's filesystem (the container runtime socket, kubelet credentials, /etc) to the pod.",
            "Use a PersistentVolumeClaim, emptyDir, configMap or secret instead of hostPath.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.6, 5.32"],
        ),
        eval: host_path,
    },
    Rule {
        def: def(
            "PSS-BASELINE-HOST-PORTS",
            "No host ports",
            false,
            "hostPort binds the node's own interface, bypassing Services and network policies.",
            "Remove `ports[*].hostPort` (or set it to 0) and expose the pod through a Service.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.8"],
        ),
        eval: host_ports,
    },
    Rule {
        def: def(
            "PSS-BASELINE-APPARMOR",
            "AppArmor is not disabled",
            false,
            "An `Unconfined` AppArmor profile removes the mandatory access control the runtime applies by default.",
            "Remove the override, or use `appArmorProfile.type: RuntimeDefault` or `Localhost`.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.2"],
        ),
        eval: apparmor,
    },
    Rule {
        def: def(
            "PSS-BASELINE-SELINUX",
            "SELinux options stay within the allowed types",
            false,
            "Setting a custom SELinux user or role, or a type other than the container types, can escape the SELinux confinement of containers.",
            "Remove `seLinuxOptions.user` and `role`; use type container_t, container_init_t, container_kvm_t or container_engine_t, or leave it unset.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.3"],
        ),
        eval: selinux,
    },
    Rule {
        def: def(
            "PSS-BASELINE-PROC-MOUNT",
            "/proc is mounted with the default masks",
            false,
            "`procMount: Unmasked` exposes /proc paths the runtime masks by default (kernel memory, sysrq, timers).",
            "Remove `securityContext.procMount` or set it to Default (Unmasked needs `hostUsers: false`).",
            &[PSS, PSS_URL],
        ),
        eval: proc_mount,
    },
    Rule {
        def: def(
            "PSS-BASELINE-SECCOMP",
            "Seccomp is not disabled",
            false,
            "An `Unconfined` seccomp profile lets the container call every system call, including those used in kernel exploits.",
            "Remove the override or use `seccompProfile.type: RuntimeDefault` (or Localhost).",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.22"],
        ),
        eval: baseline_seccomp,
    },
    Rule {
        def: def(
            "PSS-BASELINE-SYSCTLS",
            "Only safe sysctls are set",
            false,
            "Sysctls outside the namespaced safe set change kernel settings for the whole node.",
            "Set only kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.ip_unprivileged_port_start, net.ipv4.tcp_syncookies, net.ipv4.ping_group_range, net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_rmem or net.ipv4.tcp_wmem.",
            &[PSS, PSS_URL],
        ),
        eval: sysctls,
    },
    Rule {
        def: def(
            "PSS-BASELINE-PROBE-HOST",
            "Probes and lifecycle handlers do not name a host",
            false,
            "A `host` in an httpGet or tcpSocket probe or lifecycle hook makes the kubelet connect to an arbitrary address on the pod's behalf.",
            "Remove `host` from probes and lifecycle handlers; they then target the pod's own IP.",
            &[PSS, PSS_URL],
        ),
        eval: probe_host,
    },
    Rule {
        def: def(
            "PSS-RESTRICTED-VOLUME-TYPES",
            "Volumes are of the restricted types only",
            true,
            "Volume types other than configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret reach node or network storage directly.",
            "Use one of the allowed volume types, typically a PersistentVolumeClaim.",
            &[PSS, PSS_URL],
        ),
        eval: volume_types,
    },
    Rule {
        def: def(
            "PSS-RESTRICTED-PRIVILEGE-ESCALATION",
            "Privilege escalation is disallowed",
            true,
            "Without `allowPrivilegeEscalation: false`, setuid binaries and file capabilities can raise a process's privileges (no_new_privs is not set).",
            "Set `securityContext.allowPrivilegeEscalation: false` on every container.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.26"],
        ),
        eval: privilege_escalation,
    },
    Rule {
        def: def(
            "PSS-RESTRICTED-RUN-AS-NON-ROOT",
            "Containers must run as non-root (runAsNonRoot: true)",
            true,
            "Unless runAsNonRoot is true, an image whose user is root (the default) runs as root.",
            "Set `securityContext.runAsNonRoot: true` in the pod spec (or on every container) and never false on a container.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 4.1"],
        ),
        eval: run_as_non_root,
    },
    Rule {
        def: def(
            "PSS-RESTRICTED-RUN-AS-USER",
            "Containers do not set runAsUser 0",
            true,
            "runAsUser: 0 runs the process as root whatever the image says.",
            "Set a non-zero `runAsUser` or leave it unset with `runAsNonRoot: true`.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 4.1"],
        ),
        eval: run_as_user,
    },
    Rule {
        def: def(
            "PSS-RESTRICTED-SECCOMP",
            "A seccomp profile is set (RuntimeDefault or Localhost)",
            true,
            "Without an explicit profile, some runtimes run containers unconfined; restricted requires the runtime's default filter or a local one.",
            "Set `securityContext.seccompProfile.type: RuntimeDefault` in the pod spec (or on every container).",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.22"],
        ),
        eval: restricted_seccomp,
    },
    Rule {
        def: def(
            "PSS-RESTRICTED-CAPABILITIES",
            "Containers drop ALL capabilities and add at most NET_BIND_SERVICE",
            true,
            "Every capability the container keeps is kernel privilege an attacker inherits.",
            "Set `securityContext.capabilities.drop: [\"ALL\"]` on every container; add back only NET_BIND_SERVICE if needed.",
            &[PSS, PSS_URL, "CIS Docker Benchmark v1.6.0 5.4"],
        ),
        eval: restricted_capabilities,
    },
    Rule {
        def: CheckDef::new(
            "PAL-K8S-1",
            "Pod spec, container and securityContext fields are known Kubernetes fields of the right type",
            Level::One,
            TargetKind::Kubernetes,
            "Kubernetes manifest fields",
            "The API server drops fields it does not know unless strict validation is on, so a misspelled `securityContxt:` silently removes every setting under it; a field newer than our list, or a value of the wrong type (`privileged: \"true\"`, YAML 1.1 `yes`), is one the other checks cannot judge. Either way the manifest is not what it seems.",
            "Fix the spelling (the finding suggests the closest field) or the value's type; validate with `kubectl apply --dry-run=server --validate=strict`.",
        )
        .refs(&[
            "Kubernetes API reference: PodSpec, Container, SecurityContext, PodSecurityContext (core/v1)",
            "https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation",
        ]),
        eval: fields::unknown_fields,
    },
];

const N_RULES: usize = RULES.len();

/// Every Kubernetes check, in report order.
pub const CHECKS: &[CheckDef] = &{
    let mut out = [RULES[0].def; N_RULES];
    let mut i = 0;
    while i < N_RULES {
        out[i] = RULES[i].def;
        i += 1;
    }
    out
};

fn v(container: Option<&Container<'_>>, path: String, node: &Node, detail: String) -> Violation {
    Violation {
        container: container.map(|c| c.name.clone()),
        path,
        line: node.line,
        detail,
    }
}

fn pod_sc<'a>(w: &Workload<'a>) -> Option<&'a Node> {
    w.spec.get("securityContext")
}

fn is_windows(w: &Workload<'_>) -> bool {
    w.spec
        .path(&["os", "name"])
        .and_then(Node::str)
        .is_some_and(|n| n.eq_ignore_ascii_case("windows"))
}

fn host_users_false(w: &Workload<'_>) -> bool {
    w.spec.get("hostUsers").and_then(Node::bool) == Some(false)
}

fn host_namespaces(w: &Workload<'_>) -> Vec<Violation> {
    ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter_map(|f| {
            let n = w.spec.get(f)?;
            (n.bool() == Some(true)).then(|| {
                v(
                    None,
                    format!("{}.{f}", w.spec_path),
                    n,
                    format!("{f}: true"),
                )
            })
        })
        .collect()
}

/// A container's securityContext field, as (path, node).
fn csc<'a>(c: &Container<'a>, keys: &[&str]) -> Option<(String, &'a Node)> {
    let mut path = format!("{}.securityContext", c.path);
    let mut n = c.node.get("securityContext")?;
    for k in keys {
        n = n.get(k)?;
        path.push('.');
        path.push_str(k);
    }
    Some((path, n))
}

/// A pod securityContext field, as (path, node).
fn psc<'a>(w: &Workload<'a>, keys: &[&str]) -> Option<(String, &'a Node)> {
    let mut path = format!("{}.securityContext", w.spec_path);
    let mut n = pod_sc(w)?;
    for k in keys {
        n = n.get(k)?;
        path.push('.');
        path.push_str(k);
    }
    Some((path, n))
}

fn privileged(w: &Workload<'_>) -> Vec<Violation> {
    containers(w)
        .iter()
        .filter_map(|c| {
            let (p, n) = csc(c, &["privileged"])?;
            (n.bool() == Some(true)).then(|| v(Some(c), p, n, "privileged: true".into()))
        })
        .collect()
}

fn host_process(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some((p, n)) = psc(w, &["windowsOptions", "hostProcess"])
        && n.bool() == Some(true)
    {
        out.push(v(None, p, n, "hostProcess: true".into()));
    }
    for c in containers(w) {
        if let Some((p, n)) = csc(&c, &["windowsOptions", "hostProcess"])
            && n.bool() == Some(true)
        {
            out.push(v(Some(&c), p, n, "hostProcess: true".into()));
        }
    }
    out
}

const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added_caps<'a>(c: &Container<'a>) -> Vec<(String, &'a Node)> {
    csc(c, &["capabilities", "add"])
        .map(|(p, n)| {
            n.seq()
                .iter()
                .enumerate()
                .map(|(i, cap)| (format!("{p}[{i}]"), cap))
                .collect()
        })
        .unwrap_or_default()
}

fn baseline_capabilities(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in containers(w) {
        for (p, cap) in added_caps(&c) {
            let name = cap.str().unwrap_or("");
            if !BASELINE_CAPS.contains(&name) {
                out.push(v(
                    Some(&c),
                    p,
                    cap,
                    format!("adds capability {}", cap.show()),
                ));
            }
        }
    }
    out
}

fn volumes<'a>(w: &Workload<'a>) -> Vec<(String, &'a Node)> {
    w.spec
        .get("volumes")
        .map(Node::seq)
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{}.volumes[{i}]", w.spec_path), n))
        .collect()
}

fn volume_name(n: &Node) -> &str {
    n.get("name").and_then(Node::str).unwrap_or("(unnamed)")
}

fn host_path(w: &Workload<'_>) -> Vec<Violation> {
    volumes(w)
        .into_iter()
        .filter_map(|(p, vol)| {
            let hp = vol.get("hostPath").filter(|n| !n.is_null())?;
            let path = hp.get("path").and_then(Node::str).unwrap_or("?");
            Some(v(
                None,
                format!("{p}.hostPath"),
                hp,
                format!("volume {:?} mounts host path {path:?}", volume_name(vol)),
            ))
        })
        .collect()
}

fn host_ports(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in containers(w) {
        for (i, port) in c
            .node
            .get("ports")
            .map(Node::seq)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if let Some(hp) = port.get("hostPort")
                && hp.int().is_some_and(|p| p != 0)
            {
                out.push(v(
                    Some(&c),
                    format!("{}.ports[{i}].hostPort", c.path),
                    hp,
                    format!("hostPort {}", hp.show()),
                ));
            }
        }
    }
    out
}

fn apparmor(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let bad_type = |n: &Node| !matches!(n.str(), Some("RuntimeDefault" | "Localhost"));
    if let Some((p, n)) = psc(w, &["appArmorProfile", "type"])
        && bad_type(n)
    {
        out.push(v(None, p, n, format!("appArmorProfile.type {}", n.show())));
    }
    for c in containers(w) {
        if let Some((p, n)) = csc(&c, &["appArmorProfile", "type"])
            && bad_type(n)
        {
            out.push(v(
                Some(&c),
                p,
                n,
                format!("appArmorProfile.type {}", n.show()),
            ));
        }
    }
    if let Some(annotations) = w.pod_meta.and_then(|m| m.get("annotations")) {
        for (k, val) in annotations.map() {
            if let Some(container) =
                k.strip_prefix("container.apparmor.security.beta.kubernetes.io/")
            {
                let ok = val
                    .str()
                    .is_some_and(|s| s == "runtime/default" || s.starts_with("localhost/"));
                if !ok {
                    out.push(Violation {
                        container: Some(container.to_owned()),
                        path: format!("metadata.annotations[{k}]"),
                        line: val.line,
                        detail: format!("AppArmor annotation {}", val.show()),
                    });
                }
            }
        }
    }
    out
}

const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn selinux_violations(
    out: &mut Vec<Violation>,
    c: Option<&Container<'_>>,
    base: Option<(String, &Node)>,
) {
    let Some((p, opts)) = base else { return };
    if let Some(t) = opts.get("type")
        && !t.str().is_some_and(|s| SELINUX_TYPES.contains(&s))
    {
        out.push(v(
            c,
            format!("{p}.type"),
            t,
            format!("seLinuxOptions.type {}", t.show()),
        ));
    }
    for f in ["user", "role"] {
        if let Some(n) = opts.get(f)
            && !n.str().is_some_and(str::is_empty)
            && !n.is_null()
        {
            out.push(v(
                c,
                format!("{p}.{f}"),
                n,
                format!("seLinuxOptions.{f} {}", n.show()),
            ));
        }
    }
}

fn selinux(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    selinux_violations(&mut out, None, psc(w, &["seLinuxOptions"]));
    for c in containers(w) {
        let base = csc(&c, &["seLinuxOptions"]);
        selinux_violations(&mut out, Some(&c), base);
    }
    out
}

fn proc_mount(w: &Workload<'_>) -> Vec<Violation> {
    if host_users_false(w) {
        return Vec::new();
    }
    containers(w)
        .iter()
        .filter_map(|c| {
            let (p, n) = csc(c, &["procMount"])?;
            (!n.is_null() && n.str() != Some("Default"))
                .then(|| v(Some(c), p, n, format!("procMount {}", n.show())))
        })
        .collect()
}

fn baseline_seccomp(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some((p, n)) = psc(w, &["seccompProfile", "type"])
        && n.str() == Some("Unconfined")
    {
        out.push(v(None, p, n, "seccompProfile.type Unconfined".into()));
    }
    for c in containers(w) {
        if let Some((p, n)) = csc(&c, &["seccompProfile", "type"])
            && n.str() == Some("Unconfined")
        {
            out.push(v(Some(&c), p, n, "seccompProfile.type Unconfined".into()));
        }
    }
    if let Some(annotations) = w.pod_meta.and_then(|m| m.get("annotations")) {
        for (k, val) in annotations.map() {
            let seccomp = k == "seccomp.security.alpha.kubernetes.io/pod"
                || k.starts_with("container.seccomp.security.alpha.kubernetes.io/");
            if seccomp && val.str() == Some("unconfined") {
                out.push(Violation {
                    container: k
                        .strip_prefix("container.seccomp.security.alpha.kubernetes.io/")
                        .map(str::to_owned),
                    path: format!("metadata.annotations[{k}]"),
                    line: val.line,
                    detail: "seccomp annotation unconfined".into(),
                });
            }
        }
    }
    out
}

const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

fn sysctls(w: &Workload<'_>) -> Vec<Violation> {
    let Some((p, list)) = psc(w, &["sysctls"]) else {
        return Vec::new();
    };
    list.seq()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let name = s.get("name")?;
            (!name.str().is_some_and(|n| SAFE_SYSCTLS.contains(&n))).then(|| {
                v(
                    None,
                    format!("{p}[{i}].name"),
                    name,
                    format!("sysctl {}", name.show()),
                )
            })
        })
        .collect()
}

fn probe_host(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in containers(w) {
        let mut handlers: Vec<(String, &Node)> = Vec::new();
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            if let Some(n) = c.node.get(probe) {
                handlers.push((format!("{}.{probe}", c.path), n));
            }
        }
        for hook in ["postStart", "preStop"] {
            if let Some(n) = c.node.path(&["lifecycle", hook]) {
                handlers.push((format!("{}.lifecycle.{hook}", c.path), n));
            }
        }
        for (p, h) in handlers {
            for kind in ["httpGet", "tcpSocket"] {
                if let Some(host) = h.path(&[kind, "host"])
                    && !host.str().is_some_and(str::is_empty)
                    && !host.is_null()
                {
                    out.push(v(
                        Some(&c),
                        format!("{p}.{kind}.host"),
                        host,
                        format!("{kind}.host {}", host.show()),
                    ));
                }
            }
        }
    }
    out
}

const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn volume_types(w: &Workload<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (p, vol) in volumes(w) {
        for (k, n) in vol.map() {
            if k != "name" && !n.is_null() && !RESTRICTED_VOLUMES.contains(&k.as_str()) {
                out.push(v(
                    None,
                    format!("{p}.{k}"),
                    n,
                    format!("volume {:?} is of type {k}", volume_name(vol)),
                ));
            }
        }
    }
    out
}

fn privilege_escalation(w: &Workload<'_>) -> Vec<Violation> {
    if is_windows(w) {
        return Vec::new();
    }
    containers(w)
        .iter()
        .filter_map(|c| match csc(c, &["allowPrivilegeEscalation"]) {
            Some((_, n)) if n.bool() == Some(false) => None,
            Some((p, n)) => Some(v(
                Some(c),
                p,
                n,
                format!("allowPrivilegeEscalation {}", n.show()),
            )),
            None => Some(v(
                Some(c),
                format!("{}.securityContext.allowPrivilegeEscalation", c.path),
                c.node,
                "allowPrivilegeEscalation is not set to false".into(),
            )),
        })
        .collect()
}

fn run_as_non_root(w: &Workload<'_>) -> Vec<Violation> {
    if host_users_false(w) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let pod = psc(w, &["runAsNonRoot"]);
    let pod_true = pod.as_ref().is_some_and(|(_, n)| n.bool() == Some(true));
    if let Some((p, n)) = &pod
        && n.bool() == Some(false)
    {
        out.push(v(None, p.clone(), n, "runAsNonRoot: false".into()));
    }
    for c in containers(w) {
        match csc(&c, &["runAsNonRoot"]) {
            Some((_, n)) if n.bool() == Some(true) => {}
            Some((p, n)) if n.bool() == Some(false) => {
                out.push(v(Some(&c), p, n, "runAsNonRoot: false".into()));
            }
            _ if pod_true => {}
            _ => out.push(v(
                Some(&c),
                format!("{}.securityContext.runAsNonRoot", c.path),
                c.node,
                "runAsNonRoot is set neither on the pod nor on the container".into(),
            )),
        }
    }
    out
}

fn run_as_user(w: &Workload<'_>) -> Vec<Violation> {
    if host_users_false(w) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some((p, n)) = psc(w, &["runAsUser"])
        && n.int() == Some(0)
    {
        out.push(v(None, p, n, "runAsUser: 0".into()));
    }
    for c in containers(w) {
        if let Some((p, n)) = csc(&c, &["runAsUser"])
            && n.int() == Some(0)
        {
            out.push(v(Some(&c), p, n, "runAsUser: 0".into()));
        }
    }
    out
}

fn restricted_seccomp(w: &Workload<'_>) -> Vec<Violation> {
    if is_windows(w) {
        return Vec::new();
    }
    let valid = |n: &Node| matches!(n.str(), Some("RuntimeDefault" | "Localhost"));
    let mut out = Vec::new();
    let pod = psc(w, &["seccompProfile", "type"]);
    let pod_valid = pod.as_ref().is_some_and(|(_, n)| valid(n));
    if let Some((p, n)) = &pod
        && !valid(n)
    {
        out.push(v(
            None,
            p.clone(),
            n,
            format!("seccompProfile.type {}", n.show()),
        ));
    }
    for c in containers(w) {
        match csc(&c, &["seccompProfile", "type"]) {
            Some((_, n)) if valid(n) => {}
            Some((p, n)) => {
                out.push(v(
                    Some(&c),
                    p,
                    n,
                    format!("seccompProfile.type {}", n.show()),
                ));
            }
            None if pod_valid => {}
            None => out.push(v(
                Some(&c),
                format!("{}.securityContext.seccompProfile.type", c.path),
                c.node,
                "no seccomp profile on the pod or the container".into(),
            )),
        }
    }
    out
}

fn restricted_capabilities(w: &Workload<'_>) -> Vec<Violation> {
    if is_windows(w) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in containers(w) {
        let drops_all = csc(&c, &["capabilities", "drop"])
            .is_some_and(|(_, n)| n.seq().iter().any(|d| d.str() == Some("ALL")));
        if !drops_all {
            let (p, n) = csc(&c, &["capabilities", "drop"]).unwrap_or_else(|| {
                (
                    format!("{}.securityContext.capabilities.drop", c.path),
                    c.node,
                )
            });
            out.push(v(
                Some(&c),
                p,
                n,
                "capabilities.drop does not include ALL".into(),
            ));
        }
        for (p, cap) in added_caps(&c) {
            if cap.str() != Some("NET_BIND_SERVICE") {
                out.push(v(
                    Some(&c),
                    p,
                    cap,
                    format!("adds capability {}", cap.show()),
                ));
            }
        }
    }
    out
}

// ------------------------------------------------------------------ entry points

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_documents: MAX_DOCUMENTS,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_nodes: 1_000_000,
            max_recorded_anchor_events: 200_000,
        },
    }
}

/// Stack for the YAML parser: deserialisation recurses once per nesting level (bounded by
/// the budget's `max_depth`), and a debug build needs tens of KiB per level.
const PARSER_STACK: usize = 32 << 20;

/// Parses every document, on a thread with a stack large enough for the depth budget.
fn parse_documents(text: &str) -> Result<Vec<Node>, (u32, String)> {
    let parse = || {
        serde_saphyr::from_multiple_with_options::<Node>(text, yaml_options()).map_err(|e| {
            let line = e
                .location()
                .map_or(1, |l| u32::try_from(l.line()).unwrap_or(u32::MAX));
            (line, format!("not valid YAML: {e}"))
        })
    };
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("palisade-k8s-yaml".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(s, parse)
            .map_err(|e| (1, format!("cannot start the YAML parser thread: {e}")))?;
        handle
            .join()
            .unwrap_or_else(|_| Err((1, "the YAML parser failed".to_owned())))
    })
}

/// Runs the Kubernetes checks that `select` keeps on manifest text; `path` names it in the
/// evidence. Per check and workload: one result per violation (subject `Kind/namespace/name`,
/// the container and field path in the detail, the field's line), or one pass. A file of
/// Kubernetes objects without a Pod or workload gives one not-applicable result per check.
///
/// # Errors
/// When the text is too large or is not valid YAML (with the line), and when it is not
/// Kubernetes manifests ([`Error::NotKubernetes`]): a document that is not an object with
/// `apiVersion` and `kind`, a workload without a pod spec, or no object at all (an empty file,
/// a Dockerfile, any other YAML).
pub fn check_text(
    text: &str,
    path: &Path,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Result<Vec<CheckResult>, Error> {
    let docs = parse_manifest(text, path)?;
    check_documents(&docs, path, select)
}

/// Parses manifest text into its documents and checks that they are Kubernetes objects (the
/// errors of [`check_text`]).
fn parse_manifest(text: &str, path: &Path) -> Result<Vec<Node>, Error> {
    let yaml_err = |line: u32, message: String| Error::Yaml {
        path: path.to_owned(),
        line,
        message,
    };
    if text.len() > MAX_BYTES {
        return Err(yaml_err(
            1,
            format!("larger than {MAX_BYTES} bytes; not read"),
        ));
    }
    let docs = parse_documents(text).map_err(|(line, message)| yaml_err(line, message))?;
    let not_k8s = |(line, message): (u32, String)| Error::NotKubernetes {
        path: path.to_owned(),
        line,
        message,
    };
    let mut found = Vec::new();
    let mut objects_seen = 0;
    for (i, d) in docs.iter().enumerate() {
        objects_seen +=
            objects(d, &format!("document {}", i + 1), "default", &mut found).map_err(not_k8s)?;
    }
    if objects_seen == 0 {
        return Err(not_k8s((
            1,
            "no Kubernetes object (a mapping with apiVersion and kind) in the file".into(),
        )));
    }
    drop(found);
    Ok(docs)
}

/// Runs the checks on documents [`parse_manifest`] accepted.
fn check_documents(
    docs: &[Node],
    path: &Path,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Result<Vec<CheckResult>, Error> {
    let not_k8s = |(line, message): (u32, String)| Error::NotKubernetes {
        path: path.to_owned(),
        line,
        message,
    };
    let mut found = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        objects(d, &format!("document {}", i + 1), "default", &mut found).map_err(not_k8s)?;
    }
    let none = Evidence::new(
        path.display().to_string(),
        "no Pod or workload with a pod template",
    )
    .at(path, None);
    let results = evaluate(&found, select, &none, &|e, line| e.at(path, Some(line)));
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Runs the rules `select` keeps on the workloads found, each result with the container it is
/// about (`None` for the pod). `none` is the not-applicable evidence when there is no workload;
/// `place` adds the file and line to a result's evidence.
fn evaluate(
    found: &[Workload<'_>],
    select: &dyn Fn(&CheckDef) -> bool,
    none: &Evidence,
    place: &dyn Fn(Evidence, u32) -> Evidence,
) -> Vec<(Option<String>, CheckResult)> {
    let mut out = Vec::new();
    for rule in RULES {
        if !select(&rule.def) {
            continue;
        }
        if found.is_empty() {
            out.push((
                None,
                CheckResult::one(rule.def.id, Status::NotApplicable, none.clone()),
            ));
            continue;
        }
        for w in found {
            let violations = (rule.eval)(w);
            if violations.is_empty() {
                out.push((
                    None,
                    CheckResult::one(
                        rule.def.id,
                        Status::Pass,
                        place(Evidence::new(w.subject.clone(), "compliant"), w.line),
                    ),
                ));
            }
            for x in violations {
                let who = x
                    .container
                    .as_ref()
                    .map_or_else(|| "pod".to_owned(), |c| format!("container {c:?}"));
                let evidence = Evidence::new(
                    w.subject.clone(),
                    format!("{who}: {} ({})", x.detail, x.path),
                );
                out.push((
                    x.container,
                    CheckResult::one(rule.def.id, Status::Fail, place(evidence, x.line)),
                ));
            }
        }
    }
    out
}

/// Reads a manifest file (at most [`MAX_BYTES`]) and runs [`check_text`].
///
/// # Errors
/// When the file cannot be read, is not UTF-8, too large, or not valid YAML.
pub fn check_file(
    path: &Path,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Result<Vec<CheckResult>, Error> {
    let text = read_manifest(path)?;
    check_text(&text, path, select)
}

/// Reads a manifest file: at most [`MAX_BYTES`] of UTF-8 text.
fn read_manifest(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::Yaml {
            path: path.to_owned(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            message: "not UTF-8 text".into(),
        }
    })?;
    Ok(text.to_owned())
}

/// The Kubernetes target: manifest files, read and parsed (each file is read, then parsed,
/// before the next is opened, so the first bad file is the error).
#[derive(Debug)]
pub struct Manifests {
    files: Vec<(PathBuf, Vec<Node>)>,
}

impl Manifests {
    /// Reads and parses each file (at most [`MAX_BYTES`], UTF-8, valid YAML, Kubernetes
    /// objects).
    ///
    /// # Errors
    /// The first file that cannot be read or is not Kubernetes manifests, as [`check_file`].
    pub fn load(paths: &[PathBuf]) -> Result<Manifests, Error> {
        let mut files = Vec::new();
        for p in paths {
            let text = read_manifest(p)?;
            files.push((p.clone(), parse_manifest(&text, p)?));
        }
        Ok(Manifests { files })
    }
}

impl Target for Manifests {
    fn kind(&self) -> TargetKind {
        TargetKind::Kubernetes
    }

    fn subject(&self) -> String {
        files_subject(self.files.iter().map(|(p, _)| p))
    }

    fn check(&self, profile: &Profile) -> Result<Vec<CheckResult>, crate::Error> {
        let select = |d: &CheckDef| profile.selects(d);
        let mut out = Vec::new();
        for (path, docs) in &self.files {
            out.extend(check_documents(docs, path, &select)?);
        }
        Ok(out)
    }
}

/// [`check_file`] on each file, results in file order.
///
/// # Errors
/// The first file that cannot be read.
pub fn check_files(
    paths: &[PathBuf],
    select: &dyn Fn(&CheckDef) -> bool,
) -> Result<Vec<CheckResult>, Error> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(check_file(p, select)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_lines() {
        let docs = parse_documents("a: 1\n---\n\nb:\n  c: [x, {d: true}]\n").unwrap();

        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].get("a").unwrap().line, 1);
        let c = docs[1].path(&["b", "c"]).unwrap();
        assert_eq!(c.line, 5);
        assert_eq!(c.seq()[1].get("d").unwrap().bool(), Some(true));
    }

    #[test]
    fn budgets_and_errors() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(check_text(&deep, Path::new("x.yaml"), &|_| true).is_err());
        let err = check_text("a: 1\nb: [\n", Path::new("x.yaml"), &|_| true).unwrap_err();
        assert!(err.to_string().starts_with("x.yaml:"), "{err}");
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert!(check_text(bomb, Path::new("x.yaml"), &|_| true).is_err());
    }

    #[test]
    fn ids_are_unique() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(RULES[..i].iter().all(|o| o.def.id != r.def.id));
            assert_eq!(CHECKS[i].id, r.def.id);
        }
    }
}
