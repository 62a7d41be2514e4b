//! Ruby, PHP and .NET end to end (issue 17): a directory tree holding the real gemspecs that
//! Debian's `ruby-rack` and `ruby-webrick` install under `/usr/share/rubygems-integration`
//! (copied from this host, see `testbed/install-deps.sh`), a `Gemfile.lock`, Composer's
//! `installed.json` (its 2.x format) and a `composer.lock`, and a `.deps.json`, each written by
//! hand in its documented format with versions that have published advisories (kept in
//! `testbed/langs/`, which `testbed/extra-images.sh` also builds an image from). A small OSV
//! feed holds those advisories; `palisade scan` must report each in its ecosystem (and not the
//! rack advisory against Debian's fixed rack), and `palisade sbom -f cyclonedx` must carry the
//! `pkg:gem`, `pkg:composer` and `pkg:nuget` PURLs.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const GEMSPECS: &str = "usr/share/rubygems-integration/all/specifications";

/// The host's gemspec of `gem` (`rack-2.2.22.gemspec`), and the version in its file name.
fn host_gemspec(gem: &str) -> (PathBuf, String) {
    let dir = Path::new("/").join(GEMSPECS);
    let found = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run testbed/install-deps.sh", dir.display()))
        .filter_map(Result::ok)
        .find_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name
                .strip_prefix(&format!("{gem}-"))?
                .strip_suffix(".gemspec")?
                .to_owned();
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| (e.path(), version))
        });
    found.unwrap_or_else(|| {
        panic!(
            "no {gem} gemspec in {}: run testbed/install-deps.sh",
            dir.display()
        )
    })
}

/// Copies the files below `from` (not README.md) to the same places below `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else if entry.file_name() != "README.md" {
            std::fs::create_dir_all(to).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// An OSV record with one `ECOSYSTEM` range.
fn osv(id: &str, ecosystem: &str, name: &str, introduced: &str, fixed: &str) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2024-06-01T00:00:00Z",
        "published": "2022-01-01T00:00:00Z",
        "summary": format!("{name} advisory"),
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]}]
        }]
    })
}

fn tree(root: &Path) -> (String, String) {
    let (rack, rack_version) = host_gemspec("rack");
    let (webrick, webrick_version) = host_gemspec("webrick");
    for src in [&rack, &webrick] {
        let rel = format!("{GEMSPECS}/{}", src.file_name().unwrap().to_str().unwrap());
        write(root, &rel, &std::fs::read(src).unwrap());
    }
    // The hand-written Bundler, Composer and .NET files (their formats and sources are in
    // testbed/langs/README.md), shared with testbed/extra-images.sh.
    copy_tree(&common::repo_root().join("testbed/langs"), root);
    (rack_version, webrick_version)
}

#[test]
fn ruby_php_dotnet_are_cataloged_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (rack_version, webrick_version) = tree(&root);
    assert_eq!(
        webrick_version, "1.8.1",
        "the webrick advisory below is for <= 1.8.1"
    );
    let cache = dir.path().join("cache");
    let source = format!("dir:{}", root.display());

    // The advisories, as published (ids and ranges of the GitHub advisories in OSV).
    let feed = dir.path().join("osv");
    std::fs::create_dir_all(&feed).unwrap();
    let records = [
        // CVE-2022-30123, rack: fixed in 2.2.3.1 (a 4-part gem version).
        osv(
            "GHSA-wq4h-7r42-5hrr",
            "RubyGems",
            "rack",
            "2.2.0",
            "2.2.3.1",
        ),
        // CVE-2024-47220, webrick request smuggling: fixed in 1.8.2.
        osv("GHSA-6f62-3596-g6w7", "RubyGems", "webrick", "0", "1.8.2"),
        // CVE-2022-24775, guzzlehttp/psr7 header parsing: fixed in 1.8.4.
        osv(
            "GHSA-q7rv-6hp3-vh96",
            "Packagist",
            "guzzlehttp/psr7",
            "0",
            "1.8.4",
        ),
        // CVE-2022-39261, twig/twig path traversal: fixed in 2.15.3.
        osv(
            "GHSA-52m2-vc4m-jj33",
            "Packagist",
            "twig/twig",
            "2.0.0",
            "2.15.3",
        ),
        // CVE-2024-21907, Newtonsoft.Json stack overflow: fixed in 13.0.1.
        osv(
            "GHSA-5crp-9r3c-p9vr",
            "NuGet",
            "Newtonsoft.Json",
            "0",
            "13.0.1",
        ),
        // CVE-2021-26701, System.Text.Encodings.Web: fixed in 4.5.1.
        osv(
            "GHSA-ghhp-997w-qr28",
            "NuGet",
            "System.Text.Encodings.Web",
            "4.0.0",
            "4.5.1",
        ),
        // Not published advisories: they check that 4-part NuGet versions are ordered as
        // NuGet orders them (1.0.118.0 < 1.0.118.1, and 1.0.118 == 1.0.118.0), and that the
        // package name matches whatever its case.
        osv(
            "TEST-NUGET-4PART",
            "NuGet",
            "system.data.sqlite.core",
            "0",
            "1.0.118.1",
        ),
        osv(
            "TEST-NUGET-4PART-FIXED",
            "NuGet",
            "System.Data.SQLite.Core",
            "0",
            "1.0.118",
        ),
    ];
    let mut paths = Vec::new();
    for r in &records {
        let p = feed.join(format!("{}.json", r["id"].as_str().unwrap()));
        std::fs::write(&p, serde_json::to_vec(r).unwrap()).unwrap();
        paths.push(p.display().to_string());
    }
    let db = dir.path().join("vuln.db");
    let mut args = vec!["db", "import", "--db", db.to_str().unwrap()];
    args.extend(paths.iter().map(String::as_str));
    let out = common::run(&args, &cache);
    assert!(
        out.status.success(),
        "db import: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = common::run(
        &["scan", &source, "--db", db.to_str().unwrap(), "-f", "json"],
        &cache,
    );
    assert_ne!(
        out.status.code(),
        Some(2),
        "scan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let got: BTreeSet<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&f["package"]["name"]),
                s(&f["package"]["version"]),
                s(&f["id"]),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("rack", "2.2.3", "GHSA-wq4h-7r42-5hrr"),
        ("webrick", "1.8.1", "GHSA-6f62-3596-g6w7"),
        ("guzzlehttp/psr7", "1.8.1", "GHSA-q7rv-6hp3-vh96"),
        ("twig/twig", "v2.14.10", "GHSA-52m2-vc4m-jj33"),
        ("Newtonsoft.Json", "12.0.1", "GHSA-5crp-9r3c-p9vr"),
        ("System.Text.Encodings.Web", "4.5.0", "GHSA-ghhp-997w-qr28"),
        ("System.Data.SQLite.Core", "1.0.118.0", "TEST-NUGET-4PART"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(got, want, "{report:#}");
    // Debian's rack is past the fix; its version was compared, not skipped.
    assert!(
        !got.iter()
            .any(|(n, v, _)| n == "rack" && *v == rack_version),
        "{got:?}"
    );
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        !skipped
            .iter()
            .any(|s| s["package"] == "System.Data.SQLite.Core"),
        "NuGet's 4-part versions are compared: {report:#}"
    );
    let coverage: BTreeSet<String> = report["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["covered"] == true)
        .map(|c| c["ecosystem"].as_str().unwrap().to_owned())
        .collect();
    for eco in ["RubyGems", "Packagist", "NuGet"] {
        assert!(coverage.contains(eco), "{eco} not covered: {report:#}");
    }

    let out = common::run(&["sbom", &source, "-f", "cyclonedx"], &cache);
    assert!(
        out.status.success(),
        "sbom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bom: Value = serde_json::from_slice(&out.stdout).expect("CycloneDX JSON");
    let purls: BTreeSet<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    for purl in [
        format!("pkg:gem/rack@{rack_version}"),
        "pkg:gem/webrick@1.8.1".to_owned(),
        "pkg:gem/rack@2.2.3".to_owned(),
        "pkg:gem/nokogiri@1.13.10".to_owned(),
        "pkg:gem/racc@1.6.1".to_owned(),
        "pkg:composer/guzzlehttp/psr7@1.8.1".to_owned(),
        "pkg:composer/psr/http-message@1.0.1".to_owned(),
        "pkg:composer/twig/twig@v2.14.10".to_owned(),
        "pkg:nuget/Newtonsoft.Json@12.0.1".to_owned(),
        "pkg:nuget/System.Text.Encodings.Web@4.5.0".to_owned(),
        "pkg:nuget/System.Data.SQLite.Core@1.0.118.0".to_owned(),
    ] {
        assert!(purls.contains(purl.as_str()), "{purl} missing: {purls:#?}");
    }
    // Development-only and project entries are not packages.
    assert!(
        !purls
            .iter()
            .any(|p| p.contains("phpunit") || p.contains("WebApp"))
    );
}
