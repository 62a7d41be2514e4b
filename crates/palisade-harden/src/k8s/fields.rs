//! PAL-K8S-1: the fields of a pod spec, its containers and their security contexts are the
//! ones the Kubernetes API defines (core/v1, up to 1.34), with the types it accepts.
//!
//! The API server decodes fields case-sensitively and, unless asked for strict validation,
//! drops what it does not know: a misspelled `securityContxt:` silently removes every setting
//! under it. A field we do not know may also be a setting newer than this list, which the
//! checks would not see. Either way the manifest is not what it seems, so an unknown field or
//! a value of the wrong type (`privileged: "true"`, `runAsUser: "0"`, YAML 1.1 `yes`) fails.

use super::{Container, Node, Value, Violation, Workload, containers};

/// The type a field accepts.
#[derive(Clone, Copy)]
enum Ty {
    /// Not checked further.
    Any,
    Bool,
    Int,
    Str,
    /// A mapping with exactly these fields.
    Obj(&'static [(&'static str, Ty)]),
    /// A sequence of items of the type.
    List(&'static Ty),
    /// `containers`, `initContainers`, `ephemeralContainers`: a sequence of mappings, each
    /// checked as a container of its own (with its name in the evidence).
    Containers,
}

use Ty::{Any, Bool, Int, List, Obj, Str};

const CAPABILITIES: &[(&str, Ty)] = &[("add", List(&Str)), ("drop", List(&Str))];
const SECCOMP: &[(&str, Ty)] = &[("type", Str), ("localhostProfile", Str)];
const APPARMOR: &[(&str, Ty)] = &[("type", Str), ("localhostProfile", Str)];
const SELINUX: &[(&str, Ty)] = &[("level", Str), ("role", Str), ("type", Str), ("user", Str)];
const WINDOWS: &[(&str, Ty)] = &[
    ("gmsaCredentialSpec", Str),
    ("gmsaCredentialSpecName", Str),
    ("hostProcess", Bool),
    ("runAsUserName", Str),
];
const SYSCTL: &[(&str, Ty)] = &[("name", Str), ("value", Str)];

/// `PodSecurityContext`.
const POD_SECURITY_CONTEXT: &[(&str, Ty)] = &[
    ("appArmorProfile", Obj(APPARMOR)),
    ("fsGroup", Int),
    ("fsGroupChangePolicy", Str),
    ("runAsGroup", Int),
    ("runAsNonRoot", Bool),
    ("runAsUser", Int),
    ("seLinuxChangePolicy", Str),
    ("seLinuxOptions", Obj(SELINUX)),
    ("seccompProfile", Obj(SECCOMP)),
    ("supplementalGroups", List(&Int)),
    ("supplementalGroupsPolicy", Str),
    ("sysctls", List(&Obj(SYSCTL))),
    ("windowsOptions", Obj(WINDOWS)),
];

/// A container's `SecurityContext`.
const SECURITY_CONTEXT: &[(&str, Ty)] = &[
    ("allowPrivilegeEscalation", Bool),
    ("appArmorProfile", Obj(APPARMOR)),
    ("capabilities", Obj(CAPABILITIES)),
    ("privileged", Bool),
    ("procMount", Str),
    ("readOnlyRootFilesystem", Bool),
    ("runAsGroup", Int),
    ("runAsNonRoot", Bool),
    ("runAsUser", Int),
    ("seLinuxOptions", Obj(SELINUX)),
    ("seccompProfile", Obj(SECCOMP)),
    ("windowsOptions", Obj(WINDOWS)),
];

const PORT: &[(&str, Ty)] = &[
    ("containerPort", Int),
    ("hostIP", Str),
    ("hostPort", Int),
    ("name", Str),
    ("protocol", Str),
];

/// `Container` and `EphemeralContainer` (which adds `targetContainerName`).
const CONTAINER: &[(&str, Ty)] = &[
    ("args", List(&Any)),
    ("command", List(&Any)),
    ("env", List(&Any)),
    ("envFrom", List(&Any)),
    ("image", Str),
    ("imagePullPolicy", Str),
    ("lifecycle", Any),
    ("livenessProbe", Any),
    ("name", Str),
    ("ports", List(&Obj(PORT))),
    ("readinessProbe", Any),
    ("resizePolicy", List(&Any)),
    ("resources", Any),
    ("restartPolicy", Str),
    ("restartPolicyRules", List(&Any)),
    ("securityContext", Obj(SECURITY_CONTEXT)),
    ("startupProbe", Any),
    ("stdin", Bool),
    ("stdinOnce", Bool),
    ("targetContainerName", Str),
    ("terminationMessagePath", Str),
    ("terminationMessagePolicy", Str),
    ("tty", Bool),
    ("volumeDevices", List(&Any)),
    ("volumeMounts", List(&Any)),
    ("workingDir", Str),
];

/// A `Volume`: its name and one source.
const VOLUME: &[(&str, Ty)] = &[
    ("name", Str),
    ("awsElasticBlockStore", Any),
    ("azureDisk", Any),
    ("azureFile", Any),
    ("cephfs", Any),
    ("cinder", Any),
    ("configMap", Any),
    ("csi", Any),
    ("downwardAPI", Any),
    ("emptyDir", Any),
    ("ephemeral", Any),
    ("fc", Any),
    ("flexVolume", Any),
    ("flocker", Any),
    ("gcePersistentDisk", Any),
    ("gitRepo", Any),
    ("glusterfs", Any),
    ("hostPath", Any),
    ("image", Any),
    ("iscsi", Any),
    ("nfs", Any),
    ("persistentVolumeClaim", Any),
    ("photonPersistentDisk", Any),
    ("portworxVolume", Any),
    ("projected", Any),
    ("quobyte", Any),
    ("rbd", Any),
    ("scaleIO", Any),
    ("secret", Any),
    ("storageos", Any),
    ("vsphereVolume", Any),
];

/// `PodSpec`.
const POD_SPEC: &[(&str, Ty)] = &[
    ("activeDeadlineSeconds", Int),
    ("affinity", Any),
    ("automountServiceAccountToken", Bool),
    ("containers", Ty::Containers),
    ("dnsConfig", Any),
    ("dnsPolicy", Str),
    ("enableServiceLinks", Bool),
    ("ephemeralContainers", Ty::Containers),
    ("hostAliases", List(&Any)),
    ("hostIPC", Bool),
    ("hostNetwork", Bool),
    ("hostPID", Bool),
    ("hostUsers", Bool),
    ("hostname", Str),
    ("hostnameOverride", Str),
    ("imagePullSecrets", List(&Any)),
    ("initContainers", Ty::Containers),
    ("nodeName", Str),
    ("nodeSelector", Any),
    ("os", Obj(&[("name", Str)])),
    ("overhead", Any),
    ("preemptionPolicy", Str),
    ("priority", Int),
    ("priorityClassName", Str),
    ("readinessGates", List(&Any)),
    ("resourceClaims", List(&Any)),
    ("resources", Any),
    ("restartPolicy", Str),
    ("runtimeClassName", Str),
    ("schedulerName", Str),
    ("schedulingGates", List(&Any)),
    ("securityContext", Obj(POD_SECURITY_CONTEXT)),
    ("serviceAccount", Str),
    ("serviceAccountName", Str),
    ("setHostnameAsFQDN", Bool),
    ("shareProcessNamespace", Bool),
    ("subdomain", Str),
    ("terminationGracePeriodSeconds", Int),
    ("tolerations", List(&Any)),
    ("topologySpreadConstraints", List(&Any)),
    ("volumes", List(&Obj(VOLUME))),
];

/// The closest known field name, when one is close enough to be a likely misspelling
/// (Jaro-Winkler similarity of at least 0.85, ignoring case).
fn suggestion(name: &str, fields: &[(&'static str, Ty)]) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    fields
        .iter()
        .map(|(f, _)| (strsim::jaro_winkler(&lower, &f.to_ascii_lowercase()), *f))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f)
}

fn kind_of(n: &Node) -> &'static str {
    match n.value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Str(_) => "a string",
        Value::Seq(_) => "a sequence",
        Value::Map(_) => "a mapping",
    }
}

struct Walk<'c> {
    container: Option<&'c str>,
    out: Vec<Violation>,
}

impl Walk<'_> {
    fn push(&mut self, path: String, node: &Node, detail: String) {
        self.out.push(Violation {
            container: self.container.map(str::to_owned),
            path,
            line: node.line,
            detail,
        });
    }

    fn wrong_type(&mut self, path: String, node: &Node, want: &str) {
        let detail = format!("expected {want}, found {} {}", kind_of(node), node.show());
        self.push(path, node, detail);
    }

    fn check(&mut self, node: &Node, ty: Ty, path: &str) {
        // An explicit null is the field left unset, as the API server reads it.
        if node.is_null() {
            return;
        }
        match ty {
            Any => {}
            Bool if node.bool().is_none() => self.wrong_type(path.into(), node, "true or false"),
            Int if node.int().is_none() => self.wrong_type(path.into(), node, "an integer"),
            Str if node.str().is_none() => self.wrong_type(path.into(), node, "a string"),
            Bool | Int | Str => {}
            Obj(fields) => {
                let Value::Map(entries) = &node.value else {
                    return self.wrong_type(path.into(), node, "a mapping");
                };
                for (key, value) in entries {
                    let child = format!("{path}.{key}");
                    match fields.iter().find(|(f, _)| f == key) {
                        Some((_, t)) => self.check(value, *t, &child),
                        None => {
                            let hint = suggestion(key, fields)
                                .map(|s| format!("; did you mean {s:?}?"))
                                .unwrap_or_default();
                            self.push(child, value, format!("unknown field {key:?}{hint}"));
                        }
                    }
                }
            }
            List(item) => {
                let Value::Seq(items) = &node.value else {
                    return self.wrong_type(path.into(), node, "a sequence");
                };
                for (i, n) in items.iter().enumerate() {
                    self.check(n, *item, &format!("{path}[{i}]"));
                }
            }
            Ty::Containers => {
                let Value::Seq(items) = &node.value else {
                    return self.wrong_type(path.into(), node, "a sequence of containers");
                };
                for (i, n) in items.iter().enumerate() {
                    if !matches!(n.value, Value::Map(_)) {
                        self.wrong_type(format!("{path}[{i}]"), n, "a container (a mapping)");
                    }
                }
            }
        }
    }
}

/// Unknown and mistyped fields of the pod spec, its containers and security contexts.
pub(super) fn unknown_fields(w: &Workload<'_>) -> Vec<Violation> {
    let mut walk = Walk {
        container: None,
        out: Vec::new(),
    };
    walk.check(w.spec, Obj(POD_SPEC), &w.spec_path);
    let mut out = walk.out;
    for Container { name, path, node } in containers(w) {
        if !matches!(node.value, Value::Map(_)) {
            continue; // reported above
        }
        let mut walk = Walk {
            container: Some(&name),
            out: Vec::new(),
        };
        walk.check(node, Obj(CONTAINER), &path);
        out.extend(walk.out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_misspellings_only() {
        assert_eq!(
            suggestion("securityContxt", CONTAINER),
            Some("securityContext")
        );
        assert_eq!(suggestion("HostNetwork", POD_SPEC), Some("hostNetwork"));
        assert_eq!(
            suggestion("runAsNonroot", SECURITY_CONTEXT),
            Some("runAsNonRoot")
        );
        assert_eq!(suggestion("frobnicate", POD_SPEC), None);
    }
}
