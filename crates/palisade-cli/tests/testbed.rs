//! End to end on real images: the testbed's Debian bookworm base and the app image built on it
//! (see `testbed/README.md`), read as OCI layout, OCI archive, docker archive, unpacked
//! directory and from a real registry, checked against ground truth from dpkg-query, the
//! packages' own metadata and `go version -m`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Builds the testbed images once per test process (the script itself is cached on disk).
fn testbed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let out = root.join("target/testbed");
        let status = Command::new("bash")
            .arg(root.join("testbed/build-images.sh"))
            .arg(&out)
            .status()
            .expect("running testbed/build-images.sh");
        assert!(
            status.success(),
            "testbed/build-images.sh failed; run testbed/install-deps.sh first"
        );
        out
    })
}

fn palisade(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("PALISADE_NO_CACHE")
        .output()
        .expect("running palisade")
}

fn sbom_json(source: &str, extra: &[&str], cache: &Path) -> Value {
    let mut args = vec!["sbom", source, "--format", "json"];
    args.extend_from_slice(extra);
    let out = palisade(&args, cache);
    assert!(
        out.status.success(),
        "palisade sbom {source} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// (ecosystem, name, version, purl, introducing layer) of every package.
fn package_set(v: &Value) -> BTreeSet<(String, String, String, String, Option<u64>)> {
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ecosystem"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["purl"].as_str().unwrap().to_owned(),
                p["layer"]["index"].as_u64(),
            )
        })
        .collect()
}

fn of_type(v: &Value, ecosystem: &str) -> BTreeSet<(String, String)> {
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == ecosystem)
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn tsv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// A registry started for one test and stopped when dropped.
struct Registry {
    dir: tempfile::TempDir,
    addr: String,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let root = repo_root();
        let out = Command::new("bash")
            .arg(root.join("testbed/registry.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "registry start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = std::fs::read_to_string(dir.path().join("addr"))
            .unwrap()
            .trim()
            .to_owned();
        Registry { dir, addr }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("testbed/registry.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn base_image_matches_dpkg_query() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let v = sbom_json(
        &format!("oci-dir:{}:base", tb.join("oci").display()),
        &["--no-cache"],
        cache.path(),
    );

    let distro = &v["distro"];
    assert_eq!(distro["id"], "debian");
    assert_eq!(distro["version_id"], "12");
    assert_eq!(distro["codename"], "bookworm");

    let expected: BTreeSet<(String, String, String, String, String)> =
        tsv(&tb.join("expected/base.dpkg.tsv"))
            .into_iter()
            .map(|r| {
                (
                    r[0].clone(),
                    r[1].clone(),
                    r[2].clone(),
                    r[3].clone(),
                    r[4].clone(),
                )
            })
            .collect();
    assert_eq!(expected.len(), 88);
    let got: BTreeSet<(String, String, String, String, String)> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["ecosystem"], "deb");
            assert_eq!(p["layer"]["index"], 0);
            assert!(
                p["purl"].as_str().unwrap().contains("distro=debian-12"),
                "{p}"
            );
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["arch"].as_str().unwrap().to_owned(),
                p["source"]["name"].as_str().unwrap().to_owned(),
                p["source"]["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected, "dpkg packages differ from dpkg-query");
}

#[test]
fn app_image_is_the_same_from_every_source_and_matches_ground_truth() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let push = Command::new("bash")
        .arg(repo_root().join("testbed/push.sh"))
        .arg(&registry.addr)
        .arg(tb)
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "push: {}",
        String::from_utf8_lossy(&push.stderr)
    );

    for tag in ["base", "app"] {
        let oci = sbom_json(
            &format!("oci-dir:{}:{tag}", tb.join("oci").display()),
            &["--no-cache"],
            cache.path(),
        );
        let sources = [
            format!(
                "oci-archive:{}",
                tb.join(format!("{tag}.oci.tar")).display()
            ),
            format!(
                "docker-archive:{}",
                tb.join(format!("{tag}.docker.tar")).display()
            ),
            format!("registry:{}/testbed/{tag}:latest", registry.addr),
            // Unprefixed paths are detected.
            tb.join(format!("{tag}.docker.tar")).display().to_string(),
            tb.join(format!("{tag}.oci.tar")).display().to_string(),
        ];
        let want = package_set(&oci);
        assert!(want.len() >= 88, "{tag}: {} packages", want.len());
        for s in &sources {
            let v = sbom_json(s, &["--no-cache"], cache.path());
            assert_eq!(package_set(&v), want, "{s} differs from the OCI layout");
            assert_eq!(v["distro"], oci["distro"], "{s}");
        }
    }
    let oci = sbom_json(
        &format!("oci-dir:{}:app", tb.join("oci").display()),
        &["--no-cache"],
        cache.path(),
    );
    let want = package_set(&oci);
    // A docker archive with several images: pick one by name.
    let multi = tb.join("multi.docker.tar");
    let v = sbom_json(
        &format!("docker-archive:{}", multi.display()),
        &["--no-cache", "--image", "testbed/app:latest"],
        cache.path(),
    );
    assert_eq!(package_set(&v), want);
    let out = palisade(
        &["sbom", &format!("docker-archive:{}", multi.display())],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("several images") && err.contains("testbed/app:latest"),
        "{err}"
    );

    // Ground truth.
    let python: BTreeSet<(String, String)> = tsv(&tb.join("expected/app.python.tsv"))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(of_type(&oci, "python"), python);
    let npm_installed: BTreeSet<(String, String)> = tsv(&tb.join("expected/app.npm.tsv"))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let npm = of_type(&oci, "npm");
    assert!(
        npm_installed.is_subset(&npm),
        "{npm_installed:?} not all in {npm:?}"
    );
    let go_text = std::fs::read_to_string(tb.join("expected/app.go.txt")).unwrap();
    let mut go_expected = BTreeSet::new();
    for line in go_text.lines() {
        let f: Vec<&str> = line.trim().split('\t').collect();
        if (f[0] == "dep" || f[0] == "mod") && f.len() >= 3 {
            go_expected.insert((f[1].to_owned(), f[2].to_owned()));
        }
    }
    let go_version = go_text
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    go_expected.insert(("stdlib".to_owned(), go_version));
    assert_eq!(of_type(&oci, "go-module"), go_expected);

    // Each package is attributed to the layer that added it.
    for p in oci["packages"].as_array().unwrap() {
        let layer = p["layer"]["index"].as_u64().unwrap();
        let expected_layer = match p["ecosystem"].as_str().unwrap() {
            "deb" => 0,
            "python" => 1,
            "npm" => 2,
            "go-module" => 3,
            other => panic!("unexpected ecosystem {other}"),
        };
        assert_eq!(layer, expected_layer, "{p}");
        assert!(
            p["layer"]["diff_id"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
    }
    assert_eq!(oci["source"]["layers"].as_array().unwrap().len(), 4);
}

#[test]
fn unpacked_directory_gives_the_same_debian_packages() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let dir = sbom_json(
        &format!("dir:{}", tb.join("base-rootfs").display()),
        &[],
        cache.path(),
    );
    let oci = sbom_json(
        &format!("oci-dir:{}:base", tb.join("oci").display()),
        &["--no-cache"],
        cache.path(),
    );
    assert_eq!(of_type(&dir, "deb"), of_type(&oci, "deb"));
    assert_eq!(dir["distro"], oci["distro"]);
}

#[test]
fn warm_cache_gives_identical_output_and_is_used() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let src = format!("oci-dir:{}:app", tb.join("oci").display());
    let cold = palisade(&["sbom", &src, "--format", "cyclonedx"], cache.path());
    assert!(cold.status.success());
    let layers_dir = cache.path().join("palisade/layers");
    let cached: Vec<_> = walk_files(&layers_dir);
    assert_eq!(cached.len(), 4, "one cache entry per layer: {cached:?}");
    let warm = palisade(&["sbom", &src, "--format", "cyclonedx"], cache.path());
    assert!(warm.status.success());
    assert_eq!(cold.stdout, warm.stdout, "warm output differs from cold");
    // The cache is really read: a damaged entry is ignored and rewritten, never trusted.
    for f in &cached {
        std::fs::write(f, b"{ not json").unwrap();
    }
    let again = palisade(&["sbom", &src, "--format", "cyclonedx"], cache.path());
    assert_eq!(again.stdout, cold.stdout);
    assert!(
        std::fs::read(&cached[0])
            .unwrap()
            .starts_with(b"{\"cataloger_version\"")
    );
    // --no-cache writes nothing.
    let other = tempfile::tempdir().unwrap();
    let out = palisade(
        &["sbom", &src, "--no-cache", "--format", "json"],
        other.path(),
    );
    assert!(out.status.success());
    assert!(!other.path().join("palisade").exists());
}

#[test]
fn processes_sharing_one_cache_agree() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let src = format!("oci-dir:{}:app", tb.join("oci").display());
    // Four cold runs at once write the same entries; every one must succeed and agree, and a
    // warm run afterwards must read whole entries only.
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_palisade"))
                .args(["sbom", &src, "--format", "json", "--quiet"])
                .env("XDG_CACHE_HOME", cache.path())
                .env_remove("PALISADE_NO_CACHE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout, outputs[0].stdout);
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let files = walk_files(&cache.path().join("palisade/layers"));
    assert_eq!(files.len(), 4, "{files:?}");
    let warm = palisade(&["sbom", &src, "--format", "json"], cache.path());
    assert_eq!(warm.stdout, outputs[0].stdout);
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn sbom_documents_round_trip_and_are_deterministic() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let src = format!("oci-dir:{}:app", tb.join("oci").display());
    let native = sbom_json(&src, &[], cache.path());
    for format in ["cyclonedx", "spdx"] {
        let a = palisade(&["sbom", &src, "--format", format], cache.path());
        let b = palisade(
            &["sbom", &src, "--format", format, "--no-cache"],
            cache.path(),
        );
        assert!(a.status.success() && b.status.success());
        assert_eq!(a.stdout, b.stdout, "{format} output is not deterministic");
        let file = cache.path().join(format!("doc.{format}.json"));
        std::fs::write(&file, &a.stdout).unwrap();
        // Reading the SBOM back as a source gives the same packages.
        let back = sbom_json(&format!("sbom:{}", file.display()), &[], cache.path());
        let names = |v: &Value| -> BTreeSet<(String, String, String)> {
            v["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["ecosystem"].as_str().unwrap().to_owned(),
                        p["name"].as_str().unwrap().to_owned(),
                        p["version"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(names(&back), names(&native), "{format} round trip");
        assert_eq!(back["distro"]["id"], "debian");
    }
}

/// The Python with the independent validators (installed by `tools/test-all.sh`).
fn validator_python() -> PathBuf {
    let p = std::env::var_os("PALISADE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/pyvenv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run tools/test-all.sh (it installs cyclonedx-python-lib and spdx-tools)",
        p.display()
    );
    p
}

#[test]
fn sbom_documents_are_valid_against_their_schemas() {
    let tb = testbed();
    let cache = tempfile::tempdir().unwrap();
    let python = validator_python();
    for tag in ["base", "app"] {
        let src = format!("oci-dir:{}:{tag}", tb.join("oci").display());
        for format in ["cyclonedx", "spdx"] {
            let file = cache.path().join(format!("{tag}.{format}.json"));
            let out = palisade(
                &[
                    "sbom",
                    &src,
                    "--format",
                    format,
                    "--output",
                    file.to_str().unwrap(),
                ],
                cache.path(),
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.is_empty(), "--output must keep stdout empty");
            let check = Command::new(&python)
                .arg(repo_root().join("tools/validate-sbom.py"))
                .arg(format)
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{tag} {format} is not valid:\n{}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
            if tag == "app" {
                let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                check_licences(format, &doc);
            }
        }
    }
}

/// Licences (issue 17): Debian's `bash` declares GPL-3+ in its machine-readable copyright
/// file, PyPI's PyYAML `MIT` in its metadata; SPDX defines every `LicenseRef-` it uses.
fn check_licences(format: &str, doc: &Value) {
    if format == "cyclonedx" {
        let licences = |name: &str| -> Vec<Value> {
            doc["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .and_then(|c| c["licenses"].as_array().cloned())
                .unwrap_or_else(|| panic!("no licences for {name}"))
        };
        let gpl3 = serde_json::json!({"license": {"id": "GPL-3.0-or-later"}});
        assert!(licences("bash").contains(&gpl3), "{:?}", licences("bash"));
        assert_eq!(
            licences("PyYAML"),
            [serde_json::json!({"license": {"id": "MIT"}})]
        );
        return;
    }
    let packages = doc["packages"].as_array().unwrap();
    let declared = |name: &str| -> String {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["licenseDeclared"].as_str())
            .unwrap()
            .to_owned()
    };
    assert!(
        declared("bash").contains("GPL-3.0-or-later"),
        "{}",
        declared("bash")
    );
    assert_eq!(declared("PyYAML"), "MIT");
    let defined: BTreeSet<&str> = doc["hasExtractedLicensingInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["licenseId"].as_str().unwrap())
        .collect();
    for p in packages {
        for term in p["licenseDeclared"]
            .as_str()
            .unwrap()
            .split([' ', '(', ')'])
        {
            if term.starts_with("LicenseRef-") {
                assert!(defined.contains(term), "{term} is not defined");
            }
        }
    }
}
