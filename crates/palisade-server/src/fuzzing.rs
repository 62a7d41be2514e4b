//! Entry points for the fuzz targets in `fuzz/` at the repository root. Not part of the API:
//! hidden from the docs, may change at any time.
//!
//! Errors are fine (they become 400 answers or refusals); panics, hangs and unbounded
//! allocations are bugs. Nothing here reaches a registry or an engine: the decoders, and
//! what the handlers do with a decoded body before any network call.

use crate::wire::admission::decode_review;
use crate::wire::authz::{api_path, decode_authz, decode_body, query_param};

/// An `AdmissionReview` body: decoding with its limits, then what the handler does with the
/// object before deciding images: the workload checks, the container list and the JSON
/// pointers the patch would use. Returns whether the review was accepted.
#[must_use]
pub fn admission_review(data: &[u8]) -> bool {
    let Ok(review) = decode_review(data) else {
        return false;
    };
    let Some(request) = review.request else {
        return true;
    };
    for object in [request.object.as_ref(), request.old_object.as_ref()]
        .into_iter()
        .flatten()
    {
        let _ = palisade_harden::k8s::check_object(object, "default", &|_| true);
        for c in palisade_harden::k8s::container_images(object) {
            // The patch path must point at the image it was built from.
            if let Some(image) = &c.image {
                assert_eq!(
                    object.pointer(&c.pointer).and_then(|v| v.as_str()),
                    Some(image.as_str()),
                    "pointer {} does not reach the image",
                    c.pointer
                );
            }
        }
    }
    true
}

/// An `AuthZReq` body: decoding, the path and query parsing, and for a create or exec body
/// what the plugin reads of it (the container as the engine will see it, its checks, the exec
/// checks). Returns whether the request was accepted.
#[must_use]
pub fn authz_request(data: &[u8]) -> bool {
    let Ok(req) = decode_authz(data) else {
        return false;
    };
    let path = api_path(&req.uri);
    assert!(path.starts_with('/'), "{path:?}");
    assert!(!path.contains("//"), "{path:?}");
    assert!(!path.split('/').any(|s| s == ".." || s == "."), "{path:?}");
    let _ = query_param(&req.uri, "name");
    let _ = query_param(&req.uri, "fromImage");
    if let Some(body) = req.body.as_deref()
        && let Ok(value) = decode_body(body)
    {
        if let Ok(container) =
            palisade_harden::containers::Container::from_create(&value, Some("fuzz"), None)
        {
            let _ = container.image();
            let _ = palisade_harden::containers::check_create(&container, false);
        }
        let _ = palisade_harden::containers::check_exec(&value);
    }
    true
}

/// A registry notification envelope (`POST /registry/events`): what it would queue. Every
/// job it plans names a valid repository and a `sha256:` digest. Returns whether it was
/// accepted.
#[must_use]
pub fn registry_envelope(data: &[u8]) -> bool {
    match crate::registry::plan(data, None) {
        Ok((work, queued)) => {
            assert_eq!(work.len(), queued.scans.len() + queued.verifications.len());
            for (_, name) in &work {
                assert!(name.digest.starts_with("sha256:") && name.digest.len() == 71);
                assert!(!name.repository.is_empty() && name.repository.len() <= 255);
            }
            true
        }
        Err(_) => false,
    }
}

/// A Harbor scan request (`POST /harbor/api/v1/scan`) with its bounds. Returns whether it
/// was accepted.
#[must_use]
pub fn harbor_scan_request(data: &[u8]) -> bool {
    match crate::harbor::parse_scan_request(data) {
        Ok(r) => {
            assert!(r.artifact.digest.starts_with("sha256:"));
            let _ = r.sbom_media_types();
            true
        }
        Err(e) => {
            assert!(matches!(e.status(), 400 | 422 | 501), "{e:?}");
            false
        }
    }
}
