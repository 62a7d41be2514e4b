//! Scan on push: `POST /registry/events` takes a Distribution registry's notification
//! envelopes (`application/vnd.docker.distribution.events.v1+json`, `{"events": […]}`).
//!
//! - A pushed manifest or index is queued for analysis (an index fans out to its platforms
//!   when the job runs).
//! - A pushed `sha256-<hex>.sig` / `.att` / `.sbom` tag is an attachment: its subject
//!   (`sha256:<hex>` in the same repository) is verified again instead of being analysed as an
//!   image.
//! - Pulls, deletes and blob pushes queue nothing.
//!
//! Delivery is at least once and in no order, so queuing is idempotent: one pending job per
//! repository and digest, and a job whose image was already decided with the same policy and
//! database does nothing. The answer is 200 once every job is queued; 503 when the store
//! cannot take them, so the registry retries.

use serde::{Deserialize, Serialize};

use crate::fleet::{ImageName, kind};

/// The media type of an envelope.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";
/// The largest envelope read.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// The most events read from one envelope.
pub const MAX_EVENTS: usize = 1000;

/// An envelope.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Its events.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event (only the fields used).
#[derive(Debug, Deserialize)]
pub struct Event {
    /// `push`, `pull`, `delete`, `mount`.
    #[serde(default)]
    pub action: String,
    /// What was pushed.
    #[serde(default)]
    pub target: Target,
    /// The request that caused it.
    #[serde(default)]
    pub request: Request,
}

/// An event's target.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Its media type.
    #[serde(default)]
    pub media_type: String,
    /// Its digest.
    #[serde(default)]
    pub digest: String,
    /// The repository.
    #[serde(default)]
    pub repository: String,
    /// The tag, when pushed by tag.
    #[serde(default)]
    pub tag: String,
    /// Where the registry serves it.
    #[serde(default)]
    pub url: String,
}

/// An event's request.
#[derive(Debug, Default, Deserialize)]
pub struct Request {
    /// The host the client asked for.
    #[serde(default)]
    pub host: String,
}

/// What one envelope caused.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Queued {
    /// Images queued for analysis.
    pub scans: Vec<String>,
    /// Subjects queued for verification (a signature was pushed).
    pub verifications: Vec<String>,
    /// Events that queue nothing (pulls, deletes, blobs).
    pub ignored: usize,
}

/// A job to queue: its kind and the image.
pub type Work = (&'static str, ImageName);

fn is_manifest(media_type: &str) -> bool {
    use palisade_image::media_type as m;
    let base = media_type.split(';').next().unwrap_or("").trim();
    [
        m::OCI_MANIFEST,
        m::DOCKER_MANIFEST,
        m::OCI_INDEX,
        m::DOCKER_LIST,
    ]
    .contains(&base)
}

/// `sha256:` and 64 lowercase hex digits: the only digests the server takes from a request
/// (the canonical form registries serve).
#[must_use]
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `sha256-<hex>.sig` (and `.att`, `.sbom`): the subject digest.
#[must_use]
pub fn attachment_subject(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_at_checked(64)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit())
        || !matches!(suffix, ".sig" | ".att" | ".sbom" | "")
    {
        return None;
    }
    Some(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// The registry host an event names: `registry` when configured, else the host of the
/// target's URL, else the request's host.
fn registry_of(e: &Event, registry: Option<&str>) -> Option<String> {
    if let Some(r) = registry {
        return Some(r.to_owned());
    }
    let from_url = e
        .target
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|h| !h.is_empty());
    from_url
        .or(Some(e.request.host.as_str()).filter(|h| !h.is_empty()))
        .map(str::to_owned)
}

/// Reads an envelope into the jobs it asks for.
///
/// # Errors
/// Not an envelope, too large, or too many events.
pub fn plan(body: &[u8], registry: Option<&str>) -> Result<(Vec<Work>, Queued), String> {
    if body.len() > MAX_ENVELOPE_BYTES {
        return Err(format!(
            "the envelope is larger than {MAX_ENVELOPE_BYTES} bytes"
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a notification envelope: {e}"))?;
    if !value.get("events").is_some_and(serde_json::Value::is_array) {
        return Err("not a notification envelope: expected an object with an `events` list".into());
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| format!("not a notification envelope: {e}"))?;
    if envelope.events.len() > MAX_EVENTS {
        return Err(format!("more than {MAX_EVENTS} events in one envelope"));
    }
    let mut work = Vec::new();
    let mut queued = Queued::default();
    for e in &envelope.events {
        let repository = e.target.repository.trim();
        let valid_repo = !repository.is_empty()
            && repository.len() <= 255
            && repository
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
        if e.action != "push" || !is_manifest(&e.target.media_type) || !valid_repo {
            queued.ignored += 1;
            continue;
        }
        let Some(registry) = registry_of(e, registry) else {
            queued.ignored += 1;
            continue;
        };
        if let Some(subject) = attachment_subject(&e.target.tag) {
            let name = ImageName {
                registry,
                repository: repository.to_owned(),
                tag: String::new(),
                digest: subject,
                reason: format!("signature {}", e.target.tag),
            };
            queued.verifications.push(name.key());
            work.push((kind::VERIFY, name));
            continue;
        }
        if !is_sha256_digest(&e.target.digest) {
            queued.ignored += 1;
            continue;
        }
        let tag = e.target.tag.trim();
        let name = ImageName {
            registry,
            repository: repository.to_owned(),
            tag: if tag.len() <= 128 {
                tag.to_owned()
            } else {
                String::new()
            },
            digest: e.target.digest.clone(),
            reason: "push".to_owned(),
        };
        queued.scans.push(name.key());
        work.push((kind::SCAN, name));
    }
    Ok((work, queued))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:9a6b000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn pushes_queue_scans_signatures_queue_verifications_and_the_rest_nothing() {
        let sig_tag = format!("sha256-{}.sig", &D[7..]);
        let body = serde_json::json!({"events": [
            {"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": D, "repository": "demo/app", "tag": "v1",
              "url": format!("http://127.0.0.1:5055/v2/demo/app/manifests/{D}")}},
            {"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:ffff000000000000000000000000000000000000000000000000000000000000",
              "repository": "demo/app", "tag": sig_tag,
              "url": "http://127.0.0.1:5055/v2/demo/app/manifests/x"}},
            {"action": "pull", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": D, "repository": "demo/app", "url": "http://127.0.0.1:5055/v2/x"}},
            {"action": "push", "target": {"mediaType": "application/octet-stream",
              "digest": D, "repository": "demo/app", "url": "http://127.0.0.1:5055/v2/x"}},
            {"action": "delete", "target": {"digest": D, "repository": "demo/app"}},
            {"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": D, "repository": "Demo/App", "url": "http://127.0.0.1:5055/v2/x"}},
        ]});
        let (work, queued) = plan(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(work.len(), 2);
        assert_eq!(work[0].0, kind::SCAN);
        assert_eq!(work[0].1.registry, "127.0.0.1:5055");
        assert_eq!(work[0].1.tag, "v1");
        assert_eq!(work[1].0, kind::VERIFY);
        assert_eq!(work[1].1.digest, D);
        assert_eq!(queued.ignored, 4);
        assert!(plan(b"{", None).is_err());
        assert!(plan(b"[]", None).is_err());
    }

    #[test]
    fn attachment_tags() {
        let hex = &D[7..];
        assert_eq!(
            attachment_subject(&format!("sha256-{hex}.sig")).as_deref(),
            Some(D)
        );
        assert_eq!(
            attachment_subject(&format!("sha256-{hex}.att")).as_deref(),
            Some(D)
        );
        assert_eq!(
            attachment_subject(&format!("sha256-{hex}")).as_deref(),
            Some(D)
        );
        assert_eq!(attachment_subject(&format!("sha256-{hex}.exe")), None);
        assert_eq!(attachment_subject("v1"), None);
        assert_eq!(attachment_subject("sha256-abc.sig"), None);
    }
}
