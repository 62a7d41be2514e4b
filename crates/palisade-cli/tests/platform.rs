//! Issue 12.6: `--platform` is checked against the image's configuration for every source:
//! a registry (pushed with skopeo to Debian's docker-registry on loopback), an OCI layout, an
//! OCI archive and a docker archive, all of the real amd64 testbed image. A platform the image
//! does not provide is an error (exit 2) naming the platforms it has; without `--platform` a
//! single-platform image is read as it is.

mod common;

use std::process::Output;

use common::{Registry, repo_root, testbed};
use palisade_image::media_type;
use serde_json::json;

fn sbom(source: &str, extra: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec!["sbom", source, "--format", "json", "--no-cache"];
    args.extend_from_slice(extra);
    common::run(&args, cache.path())
}

/// The image is refused for `linux/arm64`, with the platform it has; read for `linux/amd64`
/// and without `--platform`.
fn check_source(source: &str) {
    let out = sbom(source, &["--platform", "linux/arm64"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{source}: {stderr}");
    assert!(
        stderr.contains("no image for platform linux/arm64; the image has: linux/amd64"),
        "{source}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{source}: no catalog on stdout");
    for extra in [&["--platform", "linux/amd64"][..], &[]] {
        let out = sbom(source, extra);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{source} {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_platform_the_image_lacks_is_an_error_for_every_source() {
    let tb = testbed();
    check_source(&format!("oci-dir:{}:base", tb.join("oci").display()));
    check_source(&format!(
        "oci-archive:{}",
        tb.join("base.oci.tar").display()
    ));
    check_source(&format!(
        "docker-archive:{}",
        tb.join("base.docker.tar").display()
    ));
    // PALISADE_PLATFORM asks as --platform does.
    let cache = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["sbom", "--no-cache", "--format", "json"])
        .arg(format!("oci-dir:{}:base", tb.join("oci").display()))
        .env("XDG_CACHE_HOME", cache.path())
        .env("PALISADE_PLATFORM", "linux/s390x")
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the image has: linux/amd64"));
}

#[test]
fn a_registry_image_for_another_platform_is_an_error() {
    let registry = Registry::start();
    let digest = registry.push("base", "testbed/base:1");
    check_source(&format!("registry:{}/testbed/base:1", registry.addr));
    check_source(&format!("registry:{}/testbed/base@{digest}", registry.addr));

    // An index whose only entry claims linux/arm64 for the amd64 image: the configuration
    // decides, not the index.
    let client = registry.client();
    let (manifest, declared, _) = client
        .get_manifest(
            "testbed/base",
            &digest.to_string(),
            media_type::ACCEPT_MANIFESTS,
        )
        .unwrap();
    let manifest_type = declared.unwrap_or_else(|| media_type::OCI_MANIFEST.to_owned());
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": manifest_type,
            "digest": digest.to_string(),
            "size": manifest.len(),
            "platform": {"architecture": "arm64", "os": "linux"}
        }]
    }))
    .unwrap();
    client
        .put_manifest("testbed/base", "lying-index", &index, media_type::OCI_INDEX)
        .unwrap();
    let source = format!("registry:{}/testbed/base:lying-index", registry.addr);
    let out = sbom(&source, &["--platform", "linux/arm64"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the image has: linux/amd64"), "{stderr}");
    // Asking for amd64: the index has no such entry, and says what it has.
    let out = sbom(&source, &["--platform", "linux/amd64"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the image has: linux/arm64"), "{stderr}");
}
