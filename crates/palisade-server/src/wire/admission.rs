//! `AdmissionReview` `admission.k8s.io/v1`, as the API server sends and reads it:
//! <https://kubernetes.io/docs/reference/config-api/apiserver-admission.v1/>.
//!
//! Unknown fields are ignored (newer API servers add some); the fields a decision depends on
//! are required.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{WireError, check_depth};

/// The largest review body read (the API server stores objects of at most about 1.5 MiB; a
/// review holds the object and the old object).
pub const MAX_REVIEW_BYTES: usize = 4 << 20;

/// How deep a review may nest (objects and arrays); the workload checks accept 64 below
/// `request.object`, which sits at level 3.
pub const MAX_REVIEW_DEPTH: usize = 67;

/// The only version spoken.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// A review, in or out.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// `admission.k8s.io/v1`.
    pub api_version: String,
    /// `AdmissionReview`.
    pub kind: String,
    /// The request (in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    /// The response (out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

/// Group, version and kind.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    /// `apps`, or empty for the core group.
    #[serde(default)]
    pub group: String,
    /// `v1`.
    #[serde(default)]
    pub version: String,
    /// `Deployment`.
    #[serde(default)]
    pub kind: String,
}

/// Group, version and resource.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupVersionResource {
    /// `apps`, or empty for the core group.
    #[serde(default)]
    pub group: String,
    /// `v1`.
    #[serde(default)]
    pub version: String,
    /// `deployments`.
    #[serde(default)]
    pub resource: String,
}

/// Who asked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct UserInfo {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The user's UID.
    #[serde(default)]
    pub uid: String,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default)]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The request half of a review.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// The object's kind.
    pub kind: GroupVersionKind,
    /// The resource.
    pub resource: GroupVersionResource,
    /// `ephemeralcontainers`, `status`, `exec`…
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// The kind originally asked for (before conversion).
    #[serde(default)]
    pub request_kind: Option<GroupVersionKind>,
    /// The resource originally asked for.
    #[serde(default)]
    pub request_resource: Option<GroupVersionResource>,
    /// The sub-resource originally asked for.
    #[serde(default)]
    pub request_sub_resource: Option<String>,
    /// The object's name (may be empty on CREATE with `generateName`).
    #[serde(default)]
    pub name: Option<String>,
    /// The namespace (absent for cluster-scoped objects).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// Who asked.
    #[serde(default)]
    pub user_info: UserInfo,
    /// The new object (CREATE, UPDATE).
    #[serde(default)]
    pub object: Option<Value>,
    /// The old object (UPDATE, DELETE).
    #[serde(default)]
    pub old_object: Option<Value>,
    /// No side effects may follow.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// `CreateOptions`, `UpdateOptions`…
    #[serde(default)]
    pub options: Option<Value>,
}

/// The response half of a review.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's `uid`.
    pub uid: String,
    /// The answer.
    pub allowed: bool,
    /// Why not (shown to the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// A base64 JSONPatch (`/k8s/mutate` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `JSONPatch` when `patch` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Written to the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Shown to the user (`kubectl` prints them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// A `metav1.Status` as a refusal.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Status {
    /// 403.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// What the user reads.
    #[serde(default)]
    pub message: String,
    /// `Forbidden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Decodes a review body: size and depth limits, `apiVersion`, `kind` and a non-empty
/// `request.uid`.
///
/// # Errors
/// A [`WireError`] saying what is wrong, for a 400 answer.
pub fn decode_review(bytes: &[u8]) -> Result<AdmissionReview, WireError> {
    if bytes.len() > MAX_REVIEW_BYTES {
        return Err(WireError(format!(
            "the review is larger than {} MiB",
            MAX_REVIEW_BYTES >> 20
        )));
    }
    if bytes.is_empty() {
        return Err(WireError("empty body: expected an AdmissionReview".into()));
    }
    check_depth(bytes, MAX_REVIEW_DEPTH)?;
    let review: AdmissionReview = serde_json::from_slice(bytes)
        .map_err(|e| WireError(format!("not an AdmissionReview: {e}")))?;
    if review.api_version != API_VERSION {
        return Err(WireError(format!(
            "apiVersion `{}` is not supported: configure the webhook with admissionReviewVersions: [v1]",
            review.api_version
        )));
    }
    if review.kind != "AdmissionReview" {
        return Err(WireError(format!(
            "kind `{}` is not AdmissionReview",
            review.kind
        )));
    }
    match &review.request {
        None => Err(WireError("the review has no request".into())),
        Some(r) if r.uid.is_empty() => Err(WireError("request.uid is empty".into())),
        Some(_) => Ok(review),
    }
}

/// The review that carries `response`.
#[must_use]
pub fn respond(response: AdmissionResponse) -> AdmissionReview {
    AdmissionReview {
        api_version: API_VERSION.to_owned(),
        kind: "AdmissionReview".to_owned(),
        request: None,
        response: Some(response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(extra: &str) -> String {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u1","kind":{{"group":"","version":"v1","kind":"Pod"}},"resource":{{"group":"","version":"v1","resource":"pods"}},"operation":"CREATE"{extra}}}}}"#
        )
    }

    #[test]
    fn decodes_and_refuses() {
        let r = decode_review(review("").as_bytes()).unwrap();
        assert_eq!(r.request.unwrap().uid, "u1");
        assert!(decode_review(b"").is_err());
        assert!(decode_review(b"not json").is_err());
        let wrong = review("").replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1");
        assert!(
            decode_review(wrong.as_bytes())
                .unwrap_err()
                .0
                .contains("admissionReviewVersions")
        );
        let deep = review(&format!(
            r#","object":{}1{}"#,
            "[".repeat(100),
            "]".repeat(100)
        ));
        assert!(
            decode_review(deep.as_bytes())
                .unwrap_err()
                .0
                .contains("deeper")
        );
        let no_uid = review("").replace(r#""uid":"u1""#, r#""uid":"""#);
        assert!(decode_review(no_uid.as_bytes()).is_err());
    }
}
