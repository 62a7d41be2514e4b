//! End to end through the binary for the catalogers the Debian testbed image does not
//! exercise: an RPM database written by rpm 4.18, Java archives built with `jar`, a
//! `Cargo.lock` and a `cargo auditable` section (fixtures made by real tools, see
//! `crates/palisade-catalog/tests/*_fixtures.sh`), stacked in a two-layer OCI image (gzip below,
//! zstd above) whose upper layer deletes a file of the lower one.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../palisade-catalog/tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A layer tar from (path, content, mode) entries; a `None` content makes a whiteout of it.
fn layer(entries: &[(&str, Option<&[u8]>, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        match content {
            Some(data) => {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).unwrap();
            }
            None => {
                let (dir, name) = path.rsplit_once('/').unwrap();
                h.set_size(0);
                b.append_data(&mut h, format!("{dir}/.wh.{name}"), &[][..])
                    .unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes an OCI layout with the given uncompressed layers (stored gzip- and zstd-compressed).
fn write_layout(dir: &Path, layers: &[Vec<u8>]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> String {
        let d = sha(data);
        std::fs::write(blobs.join(&d[7..]), data).unwrap();
        d
    };
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        diff_ids.push(sha(l));
        // Alternate the compressions: gzip, zstd, gzip, …
        let (stored, media_type) = if i % 2 == 0 {
            (gzip(l), "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (
                zstd::encode_all(&l[..], 3).unwrap(),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            )
        };
        descriptors
            .push(json!({"mediaType": media_type, "digest": put(&stored), "size": stored.len()}));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(&config), "size": config.len()},
        "layers": descriptors,
    }))
    .unwrap();
    let m = put(&manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "polyglot"}}]}))
        .unwrap(),
    )
    .unwrap();
}

fn sbom(source: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["sbom", source, "--format", "json", "--no-cache"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn packages(v: &Value, ecosystem: &str) -> BTreeSet<(String, String, u64)> {
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == ecosystem)
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["layer"]["index"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, u64)]) -> BTreeSet<(String, String, u64)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), *c))
        .collect()
}

#[test]
fn rpm_java_and_rust_packages_from_a_layered_image() {
    let dir = tempfile::tempdir().unwrap();
    let layout: PathBuf = dir.path().join("layout");
    let os_release =
        b"NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";
    let rpmdb = fixture("rpm/rpmdb.sqlite");
    let greeter = fixture("java/greeter-1.2.3.jar");
    let war = fixture("java/webapp.war");
    let lock = fixture("rust/Cargo.lock");
    let elf = fixture("rust/hello.dep-v0.elf");
    let lower = layer(&[
        ("etc/os-release", Some(os_release), 0o644),
        ("var/lib/rpm/rpmdb.sqlite", Some(&rpmdb), 0o644),
        ("opt/old/greeter-1.2.3.jar", Some(&greeter), 0o644),
    ]);
    let upper = layer(&[
        ("opt/old/greeter-1.2.3.jar", None, 0o644),
        ("srv/webapp.war", Some(&war), 0o644),
        ("src/hello/Cargo.lock", Some(&lock), 0o644),
        ("usr/local/bin/hello", Some(&elf), 0o755),
    ]);
    write_layout(&layout, &[lower, upper]);
    let v = sbom(&format!("oci-dir:{}", layout.display()));

    assert_eq!(v["distro"]["id"], "rocky");
    // Exactly what `rpm -qa` printed for this database (gpg-pubkey is not a package).
    assert_eq!(
        packages(&v, "rpm"),
        set(&[
            ("hello-epoch", "2:1.0-3", 0),
            ("libother", "0:0.9-1.el9", 0),
            ("twodirs", "2.5.1-7.fc40", 0)
        ])
    );
    let rpm_purls: Vec<&str> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == "rpm")
        .map(|p| p["purl"].as_str().unwrap())
        .collect();
    assert!(
        rpm_purls
            .iter()
            .all(|p| p.starts_with("pkg:rpm/rocky/") && p.contains("distro=rocky-9.3")),
        "{rpm_purls:?}"
    );

    // The war's own pom.properties and the jars inside it; the deleted jar of the lower layer
    // is gone, but the same jar nested in the war (upper layer) is still reported.
    let java = packages(&v, "java-archive");
    assert!(java.iter().all(|(_, _, layer)| *layer == 1), "{java:?}");
    assert!(
        java.iter()
            .any(|(n, ver, _)| n.ends_with(":greeter") && ver == "1.2.3"),
        "{java:?}"
    );
    let java_paths: Vec<&str> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == "java-archive")
        .flat_map(|p| {
            p["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["path"].as_str().unwrap())
        })
        .collect();
    assert!(
        java_paths.iter().all(|p| p.starts_with("/srv/webapp.war")),
        "{java_paths:?}"
    );

    // Cargo.lock: registry packages; the auditable binary: its runtime packages and the root.
    assert_eq!(
        packages(&v, "rust-crate"),
        set(&[
            ("autocfg", "1.4.0", 1),
            ("itoa", "1.0.11", 1),
            ("palisade-hello", "0.3.1", 1)
        ])
    );
}

#[test]
fn files_owned_by_os_packages_are_not_reported_again() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let status = b"Package: python3-six\nStatus: install ok installed\nArchitecture: all\nVersion: 1.16.0-4\n\n";
    let list = b"/.\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA\n";
    let owned = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n";
    let mine = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n";
    let base = layer(&[
        (
            "etc/os-release",
            Some(b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
            0o644,
        ),
        ("var/lib/dpkg/status", Some(status), 0o644),
        ("var/lib/dpkg/info/python3-six.list", Some(list), 0o644),
        (
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            Some(owned),
            0o644,
        ),
    ]);
    let app = layer(&[(
        "usr/local/lib/python3.11/site-packages/requests-2.19.1.dist-info/METADATA",
        Some(mine),
        0o644,
    )]);
    write_layout(&layout, &[base, app]);
    let v = sbom(&format!("oci-dir:{}", layout.display()));
    assert_eq!(packages(&v, "deb"), set(&[("python3-six", "1.16.0-4", 0)]));
    // six's METADATA belongs to python3-six: only the pip-installed package is a Python one.
    assert_eq!(packages(&v, "python"), set(&[("requests", "2.19.1", 1)]));
}

/// Runs the binary and returns (exit code, stdout, stderr) with temporary paths replaced.
fn run_filtered(args: &[&str], tmp: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .unwrap();
    let filter = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp.display().to_string(), "[TMP]");
    (
        out.status.code().unwrap_or(-1),
        filter(&out.stdout),
        filter(&out.stderr),
    )
}

#[test]
fn user_facing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let status = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u7\n\n";
    let broken = b"Name: broken\nVersion:\n";
    let base = layer(&[
        (
            "etc/os-release",
            Some(b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
            0o644,
        ),
        ("var/lib/dpkg/status", Some(status), 0o644),
        (
            "usr/lib/python3/dist-packages/broken-1.dist-info/METADATA",
            Some(broken),
            0o644,
        ),
    ]);
    let app = layer(&[(
        "app/node_modules/lodash/package.json",
        Some(br#"{"name":"lodash","version":"4.17.15"}"#),
        0o644,
    )]);
    write_layout(&layout, &[base, app]);
    let source = format!("oci-dir:{}", layout.display());

    let (code, stdout, stderr) =
        run_filtered(&["sbom", &source, "--no-cache", "--quiet"], dir.path());
    assert_eq!(code, 0);
    // Warnings go to standard error, in the table format too (issue 12), and stay with
    // `--quiet` (issue 19).
    assert_eq!(
        stderr,
        "palisade: warning: layer 0: /usr/lib/python3/dist-packages/broken-1.dist-info/METADATA: package broken: no valid Version header\n"
    );
    insta::assert_snapshot!(stdout, @r"
    oci-dir:[TMP]/layout: Debian GNU/Linux 12 (bookworm)
    NAME    VERSION         TYPE  LAYER
    libc6   2.36-9+deb12u7  deb   0
    lodash  4.17.15         npm   1

    2 packages (1 deb, 1 npm)
    1 problem(s) reading files (see the warnings on standard error)
    ");

    let (code, _, stderr) = run_filtered(
        &["sbom", &format!("{}/nothing-here", dir.path().display())],
        dir.path(),
    );
    assert_eq!(code, 2);
    // An absolute path is a path, never a registry reference (issue 12).
    insta::assert_snapshot!(stderr, @r#"palisade: error: invalid image source "[TMP]/nothing-here": No such file or directory (os error 2) (no such image file or directory)"#);

    let (code, _, stderr) = run_filtered(&["sbom", &format!("{source}:v9")], dir.path());
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"palisade: error: oci-dir:[TMP]/layout:v9: no image tagged "v9"; available: polyglot"#);
}
