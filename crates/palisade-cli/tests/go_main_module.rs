//! Go binaries built without module support (issue 17): Debian's `docker-registry` (a GOPATH
//! build: a `path` line, no `mod` line) copied to `/usr/local/bin/registry`, and a GOPATH build
//! made here with `-X …/version.Version=` link flags. `palisade sbom` must list each main
//! package, under the path `go version -m` prints, with the linked version or `(devel)`, and
//! the same from a directory (ELF section headers) as from an image (a layer stream).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn sh(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `path` line of `go version -m`: the independent reading of the build information.
fn go_path(binary: &Path) -> String {
    let out =
        String::from_utf8(sh(Command::new("go").arg("version").arg("-m").arg(binary))).unwrap();
    out.lines()
        .find_map(|l| l.trim().strip_prefix("path\t").map(str::to_owned))
        .unwrap_or_else(|| panic!("no path line in {out}"))
}

fn sbom(source: &str, cache: &Path) -> BTreeSet<(String, String, String, String)> {
    let out = common::run(&["sbom", source, "-f", "json"], cache);
    assert!(
        out.status.success(),
        "sbom {source}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == "go-module")
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (
                s("name"),
                s("version"),
                s("purl"),
                p["locations"][0]["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn gopath_binaries_list_their_main_package() {
    let registry = Path::new("/usr/bin/docker-registry");
    assert!(
        registry.is_file(),
        "/usr/bin/docker-registry is missing: run testbed/install-deps.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    std::fs::copy(registry, root.join("usr/local/bin/registry")).unwrap();

    // A GOPATH build whose version is linked in, as distro packages often do without -trimpath.
    let gopath = dir.path().join("gopath");
    let src = gopath.join("src/example.org/tool");
    std::fs::create_dir_all(src.join("cmd/tool")).unwrap();
    std::fs::create_dir_all(src.join("version")).unwrap();
    std::fs::write(
        src.join("version/version.go"),
        "package version\n\nvar Version = \"unset\"\n",
    )
    .unwrap();
    std::fs::write(
        src.join("cmd/tool/main.go"),
        "package main\n\nimport \"example.org/tool/version\"\n\nfunc main() { println(version.Version) }\n",
    )
    .unwrap();
    sh(Command::new("go")
        .args(["build", "-o"])
        .arg(root.join("usr/local/bin/tool"))
        .args([
            "-ldflags",
            "-s -w -X example.org/tool/version.Version=v1.4.2+ds1 -X 'main.commit=abc def'",
            ".",
        ])
        .current_dir(src.join("cmd/tool"))
        .env("GOPATH", &gopath)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.path().join("gocache")));

    let registry_path = go_path(&root.join("usr/local/bin/registry"));
    assert_eq!(registry_path, "github.com/docker/distribution/cmd/registry");
    let tool_path = go_path(&root.join("usr/local/bin/tool"));
    assert_eq!(tool_path, "example.org/tool/cmd/tool");

    let cache = dir.path().join("cache");
    let from_dir = sbom(&format!("dir:{}", root.display()), &cache);
    let has = |name: &str, version: &str, file: &str| {
        from_dir
            .iter()
            .any(|(n, v, _, f)| n == name && v == version && f == file)
    };
    // Debian built it with -trimpath, so no link flags are recorded: the version is unknown
    // (`(devel)`), not the `v2.8.2+ds1` string Syft finds by searching the binary's contents.
    assert!(
        has(&registry_path, "(devel)", "usr/local/bin/registry"),
        "{from_dir:#?}"
    );
    assert!(
        has("stdlib", "go1.19.8", "usr/local/bin/registry"),
        "{from_dir:#?}"
    );
    assert!(
        has(&tool_path, "v1.4.2+ds1", "usr/local/bin/tool"),
        "{from_dir:#?}"
    );
    assert!(
        from_dir.iter().any(|(n, _, p, _)| n == &tool_path
            && p == "pkg:golang/example.org/tool/cmd/tool@v1.4.2%2Bds1"),
        "{from_dir:#?}"
    );

    // The same tree as a one-layer image, read as a stream: the same packages.
    let layer = dir.path().join("layer.tar");
    sh(Command::new("tar")
        .arg("-cf")
        .arg(&layer)
        .arg("-C")
        .arg(&root)
        .arg("usr"));
    let layout = dir.path().join("oci");
    sh(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    let image = format!("{}:img", layout.display());
    sh(Command::new("umoci").args(["new", "--image", &image]));
    sh(Command::new("umoci")
        .args(["raw", "add-layer", "--image", &image])
        .arg(&layer));
    let from_image = sbom(&format!("oci-dir:{image}"), &cache);
    assert_eq!(from_image, from_dir);
}
