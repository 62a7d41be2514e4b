//! Ruby, PHP and .NET end to end (issue 17): a directory tree holding the real gemspecs that
//! Debian's `ruby-rack` and `ruby-webrick` install under `/usr/share/rubygems-integration`
//! (copied from this host, see `testbed/install-deps.sh`), a `Gemfile.lock`, Composer's
//! `installed.json` (its 2.x format) and a `composer.lock`, and a `.deps.json`, each written by
//! hand in its documented format with versions that have published advisories. A small OSV
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
    // Bundler's format: https://bundler.io/guides/bundler_setup.html (Gemfile.lock).
    write(
        root,
        "srv/app/Gemfile.lock",
        b"GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.13.10-x86_64-linux)
      racc (~> 1.4)
    racc (1.6.1)
    rack (2.2.3)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri
  rack (= 2.2.3)

BUNDLED WITH
   2.3.26
",
    );
    // Composer 2's installed.json: https://getcomposer.org/doc/07-runtime.md (installed.json).
    write(
        root,
        "var/www/app/vendor/composer/installed.json",
        br#"{
    "packages": [
        {
            "name": "guzzlehttp/psr7",
            "version": "1.8.1",
            "version_normalized": "1.8.1.0",
            "source": {"type": "git", "url": "https://github.com/guzzle/psr7.git", "reference": "35ea11d335fd638b5882ff1725228b3d35496ab1"},
            "dist": {"type": "zip", "url": "https://api.github.com/repos/guzzle/psr7/zipball/35ea11d335fd638b5882ff1725228b3d35496ab1", "reference": "35ea11d335fd638b5882ff1725228b3d35496ab1", "shasum": ""},
            "require": {"php": ">=5.4.0", "psr/http-message": "~1.0", "ralouphie/getallheaders": "^2.0.5 || ^3.0.0"},
            "type": "library",
            "installation-source": "dist",
            "license": ["MIT"],
            "install-path": "../guzzlehttp/psr7"
        },
        {
            "name": "psr/http-message",
            "version": "1.0.1",
            "version_normalized": "1.0.1.0",
            "type": "library",
            "installation-source": "dist",
            "license": ["MIT"],
            "install-path": "../psr/http-message"
        }
    ],
    "dev": false,
    "dev-package-names": []
}"#,
    );
    // composer.lock: https://getcomposer.org/doc/01-basic-usage.md#commit-your-composer-lock-file-to-version-control
    write(
        root,
        "var/www/site/composer.lock",
        br#"{
    "_readme": ["This file locks the dependencies of your project to a known state"],
    "content-hash": "5d2f3e0c0b6b0f1a9e8e3a8a0f8e7d6c",
    "packages": [
        {"name": "twig/twig", "version": "v2.14.10", "type": "library", "license": ["BSD-3-Clause"]}
    ],
    "packages-dev": [
        {"name": "phpunit/phpunit", "version": "9.5.10", "type": "library"}
    ],
    "aliases": [],
    "minimum-stability": "stable",
    "plugin-api-version": "2.3.0"
}"#,
    );
    // https://github.com/dotnet/sdk/blob/main/documentation/specs/runtime-configuration-file.md
    write(
        root,
        "app/WebApp.deps.json",
        br#"{
  "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0", "signature": ""},
  "compilationOptions": {},
  "targets": {
    ".NETCoreApp,Version=v6.0": {
      "WebApp/1.0.0": {
        "dependencies": {"Newtonsoft.Json": "12.0.1", "System.Text.Encodings.Web": "4.5.0"},
        "runtime": {"WebApp.dll": {}}
      },
      "Newtonsoft.Json/12.0.1": {
        "runtime": {"lib/netstandard2.0/Newtonsoft.Json.dll": {"assemblyVersion": "12.0.0.0", "fileVersion": "12.0.1.23012"}}
      },
      "System.Text.Encodings.Web/4.5.0": {
        "runtime": {"lib/netstandard2.0/System.Text.Encodings.Web.dll": {"assemblyVersion": "4.0.3.0", "fileVersion": "4.6.26515.6"}}
      }
    }
  },
  "libraries": {
    "WebApp/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
    "Newtonsoft.Json/12.0.1": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-pBR3wCgYWZGiaZDYP+HHYnalVnPJlpP1q55qvVb+adrDHmFMDc1NAKio61xTwftK3Pw5h7TZJPJEEVMd6ty8rg==",
      "path": "newtonsoft.json/12.0.1",
      "hashPath": "newtonsoft.json.12.0.1.nupkg.sha512"
    },
    "System.Text.Encodings.Web/4.5.0": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-Xg4G4Indi4dqP1iuAiMSwpiWS54ZghzR644OtsRCm/m/lBMG8dUBhLVN7hLm8NNrNTR+iGbshCPTwrvxZPlm4g==",
      "path": "system.text.encodings.web/4.5.0",
      "hashPath": "system.text.encodings.web.4.5.0.nupkg.sha512"
    },
    "System.Data.SQLite.Core/1.0.118.0": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-x",
      "path": "system.data.sqlite.core/1.0.118.0",
      "hashPath": "system.data.sqlite.core.1.0.118.0.nupkg.sha512"
    }
  }
}"#,
    );
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
        // Not a published advisory: it checks that a 4-part NuGet version, which the SemVer
        // reading of NuGet versions cannot order, is reported as skipped, never guessed at.
        osv(
            "TEST-NUGET-4PART",
            "NuGet",
            "system.data.sqlite.core",
            "0",
            "2.0.0",
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
        skipped
            .iter()
            .any(|s| s["package"] == "System.Data.SQLite.Core"
                && s["version"] == "1.0.118.0"
                && s["reason"]
                    .as_str()
                    .unwrap()
                    .contains("not a npm semver version")),
        "{report:#}"
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
