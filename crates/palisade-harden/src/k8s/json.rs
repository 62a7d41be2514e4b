//! The Kubernetes checks on one object given as JSON, as an admission webhook receives it (an
//! AdmissionReview's `request.object`), without the YAML parser (and its large-stack thread):
//! the JSON value becomes the same tree the YAML path builds (without lines) and the same rules
//! run on it, so a manifest gives the same check IDs, statuses, subjects and details either way.
//!
//! Not for: manifest files (use [`super::check_files`], which also gives lines), decoding the
//! AdmissionReview itself (its size and depth limits belong to the server), or deciding: the
//! results go to the policy like any other check results.

use serde::Serialize;
use serde_json::Value as Json;

use super::{Error, Evidence, Node, Value, evaluate, objects, pod_spec_path};
use crate::check::{CheckDef, CheckResult};

/// How deep objects and arrays may nest in what [`check_object`] accepts, counting the object
/// itself as level 1 (scalars add no level): the YAML path's depth budget, so the same object is
/// refused, or not, either way.
pub const MAX_OBJECT_DEPTH: usize = 64;

/// The most JSON values (objects, arrays and scalars, the object itself included; keys do not
/// count) [`check_object`] converts. Kubernetes stores objects of at most about 1.5 MiB, and a
/// real pod has a few thousand values at most; a larger object is refused, not checked.
pub const MAX_OBJECT_NODES: usize = 200_000;

/// One check result on an object, with the container it is about (`None` for the pod, a pass,
/// or not-applicable), so a caller can name the container without parsing the detail text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkloadResult {
    /// The container's `name` (`(unnamed)` when it has none), for a failure about one container.
    pub container: Option<String>,
    pub result: CheckResult,
}

/// Runs the Kubernetes checks that `select` keeps on one object given as JSON (a Pod, a
/// workload with a pod template, or any other object). `namespace` is the namespace the object
/// is created in when its `metadata.namespace` is absent (an admission request's `namespace`;
/// the file path uses `default`).
///
/// Per check and workload the results are those of [`super::check_text`] on the same object
/// written as YAML: one failure per violation (subject `Kind/namespace/name`, the container and
/// field path in the detail), or one pass; the evidence has no file or line. Where a rule walks
/// a mapping (annotations, a volume's fields), several failures come in the JSON map's key
/// order, which is sorted unless serde_json's `preserve_order` feature is on. An object that
/// holds no pod spec (a ConfigMap, a Service, any kind [`pod_spec_path`] does not know) gives
/// one not-applicable result per selected check, with the subject `Kind/namespace/name`.
///
/// # Errors
/// [`Error::Object`] when the object is nested deeper than [`MAX_OBJECT_DEPTH`], has more than
/// [`MAX_OBJECT_NODES`] values, is not a JSON object with a non-empty `apiVersion` and `kind`,
/// or is a workload whose pod spec is missing or not an object.
pub fn check_object(
    obj: &Json,
    namespace: &str,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Result<Vec<WorkloadResult>, Error> {
    let subject = subject(obj, namespace);
    let err = |message: String| Error::Object {
        subject: subject.clone(),
        message,
    };
    let mut budget = MAX_OBJECT_NODES;
    let node = to_node(obj, 1, &mut budget).map_err(err)?;
    if !matches!(node.value, Value::Map(_)) {
        return Err(err(
            "not an object with apiVersion and kind (not a JSON object)".into(),
        ));
    }
    let mut found = Vec::new();
    objects(&node, "the object", namespace, &mut found).map_err(|(_, m)| err(m))?;
    let none = Evidence::new(subject.clone(), "no Pod or workload with a pod template");
    Ok(evaluate(&found, select, &none, &|e, _| e)
        .into_iter()
        .map(|(container, result)| WorkloadResult { container, result })
        .collect())
}

/// `Kind/namespace/name` as far as the object says, for errors and not-applicable results.
fn subject(obj: &Json, namespace: &str) -> String {
    fn text(v: Option<&Json>) -> Option<&str> {
        v.and_then(Json::as_str).filter(|s| !s.is_empty())
    }
    let meta = obj.get("metadata");
    let kind = text(obj.get("kind")).unwrap_or("(no kind)");
    let ns = text(meta.and_then(|m| m.get("namespace"))).unwrap_or(namespace);
    let name = text(meta.and_then(|m| m.get("name")))
        .or_else(|| text(meta.and_then(|m| m.get("generateName"))))
        .unwrap_or("(unnamed)");
    format!("{kind}/{ns}/{name}")
}

/// Converts a JSON value at nesting level `depth` (the root is 1) into a tree without lines,
/// taking one from `budget` per value. The recursion is at most [`MAX_OBJECT_DEPTH`] deep.
fn to_node(j: &Json, depth: usize, budget: &mut usize) -> Result<Node, String> {
    if depth > MAX_OBJECT_DEPTH && matches!(j, Json::Array(_) | Json::Object(_)) {
        return Err(format!(
            "nested deeper than {MAX_OBJECT_DEPTH} levels; not checked"
        ));
    }
    let Some(left) = budget.checked_sub(1) else {
        return Err(format!("more than {MAX_OBJECT_NODES} values; not checked"));
    };
    *budget = left;
    let value = match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        // As the YAML path: integers that fit i64, anything else as a float.
        Json::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::Seq(
            a.iter()
                .map(|x| to_node(x, depth + 1, budget))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), to_node(x, depth + 1, budget)?)))
                .collect::<Result<_, String>>()?,
        ),
    };
    Ok(Node { value, line: 0 })
}

/// A container of a pod spec in a JSON object, and where its image is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub field: &'static str,
    /// Position in that list.
    pub index: usize,
    /// The container's `name`, when it is a string.
    pub name: Option<String>,
    /// The container's `image`, when it is a string (a container without one is listed, so a
    /// caller can refuse it rather than skip it).
    pub image: Option<String>,
    /// RFC 6901 JSON pointer to the `image` field, e.g.
    /// `/spec/template/spec/containers/0/image` (for a JSON patch that pins the image).
    pub pointer: String,
}

/// The containers of the object's pod spec (at [`pod_spec_path`] of its `kind`) in the order
/// `containers`, `initContainers`, `ephemeralContainers`, each with its image and the JSON
/// pointer to it. For an admission webhook that checks each image and patches tags to digests.
///
/// Empty when the kind holds no pod spec, the pod spec is missing, or a container list is not
/// an array (the checks, not this, report malformed objects); elements that are not JSON
/// objects are skipped. Not for `List` objects: one object, as admission requests carry.
#[must_use]
pub fn container_images(obj: &Json) -> Vec<ContainerRef> {
    let Some(keys) = obj
        .get("kind")
        .and_then(Json::as_str)
        .and_then(pod_spec_path)
    else {
        return Vec::new();
    };
    let Some(spec) = keys.iter().try_fold(obj, |v, k| v.get(k)) else {
        return Vec::new();
    };
    let base: String = keys.iter().map(|k| format!("/{}", escape(k))).collect();
    let mut out = Vec::new();
    for field in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(list) = spec.get(field).and_then(Json::as_array) else {
            continue;
        };
        for (index, c) in list.iter().enumerate() {
            if !c.is_object() {
                continue;
            }
            let text = |k: &str| c.get(k).and_then(Json::as_str).map(str::to_owned);
            out.push(ContainerRef {
                field,
                index,
                name: text("name"),
                image: text("image"),
                pointer: format!("{base}/{field}/{index}/image"),
            });
        }
    }
    out
}

/// Escapes one reference token of a JSON pointer (RFC 6901 §3: `~` as `~0`, `/` as `~1`).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
