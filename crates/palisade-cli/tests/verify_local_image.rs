//! Issue 19: `palisade verify --local-image PATH[:TAG]`, end to end with the real parts. An
//! image is pushed to a Debian `docker-registry` started by the test and signed there with
//! `palisade sign`; skopeo then copies the image and its `sha256-<hex>.sig` object into an OCI
//! image layout (`oci:DIR:TAG`), and `palisade verify --local-image` checks it with no
//! registry involved: the right key verifies (exit 0), another key does not (exit 1), and a
//! signature copied next to another image, as if it were that image's, is refused because its
//! payload names another digest (exit 1).
//!
//! Needs root and the testbed (`testbed/install-deps.sh`, images from
//! `testbed/build-images.sh`, cached under `target/testbed`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use palisade_image::Digest;
use palisade_trust::cosign::signature_tag;
use serde_json::Value;

mod common;
use common::Registry;

const PASSWORD: &str = "local image";

fn palisade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .env_remove("PALISADE_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn generate_key(dir: &Path, name: &str) -> PathBuf {
    let prefix = dir.join(name);
    let out = palisade(
        &[
            "key",
            "generate",
            "--output-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", PASSWORD)],
    );
    assert!(out.status.success(), "{}", text(&out));
    prefix
}

/// `skopeo copy docker://SRC oci:DEST` (bookworm's skopeo, plain HTTP to the loopback registry).
fn copy_to_layout(src: &str, dest: &str) {
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{src}"),
            &format!("oci:{dest}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy {src}: {}", text(&out));
}

fn verify_local(layout: &str, key: &Path, extra: &[&str]) -> (i32, Value, Output) {
    let mut args = vec![
        "verify",
        "--local-image",
        layout,
        "--key",
        key.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = palisade(&args, &[]);
    let code = out.status.code().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v, out)
}

fn sig_tag(digest: &Digest) -> String {
    signature_tag(digest)
}

#[test]
fn a_signed_image_copied_to_a_layout_verifies_without_the_registry() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let digest = reg.push("base", "testbed/base:latest");
    let key = generate_key(w, "release");
    let out = palisade(
        &[
            "sign",
            &format!("{}/testbed/base:latest", reg.addr),
            "--key",
            key.with_extension("key").to_str().unwrap(),
            "-a",
            "pipeline=ci-42",
        ],
        &[("PALISADE_PASSWORD", PASSWORD)],
    );
    assert!(out.status.success(), "{}", text(&out));

    // The image and its `.sig` object, side by side in one layout, as skopeo writes them.
    let layout = w.join("layout");
    let l = layout.to_str().unwrap();
    copy_to_layout(
        &format!("{}/testbed/base@{digest}", reg.addr),
        &format!("{l}:base"),
    );
    copy_to_layout(
        &format!("{}/testbed/base:{}", reg.addr, sig_tag(&digest)),
        &format!("{l}:{}", sig_tag(&digest)),
    );
    // The registry is gone: everything below reads the layout only.
    drop(reg);

    let pubkey = key.with_extension("pub");
    let (code, v, out) = verify_local(l, &pubkey, &["--annotation", "pipeline=ci-42"]);
    assert_eq!(code, 0, "{}", text(&out));
    assert_eq!(v["verified"], true);
    assert_eq!(v["digest"], digest.to_string());
    assert_eq!(v["reference"], format!("oci-dir:{l}"));
    let sig = &v["signatures"][0];
    assert_eq!(sig["verified"]["kind"], "key");
    assert_eq!(sig["verified"]["digest"], digest.to_string());
    // The identity the signer named is reported (it is not checked: there is no name here).
    assert!(
        sig["verified"]["identity"]
            .as_str()
            .unwrap()
            .ends_with("/testbed/base"),
        "{v:#}"
    );
    assert!(
        sig["source"].as_str().unwrap().contains(&sig_tag(&digest)),
        "{v:#}"
    );
    assert!(v["notes"].to_string().contains("not checked"), "{v:#}");

    // The same with the tag spelled out, and as `oci-dir:PATH:TAG`; the table says VERIFIED.
    let (code, _, out) = verify_local(&format!("{l}:base"), &pubkey, &[]);
    assert_eq!(code, 0, "{}", text(&out));
    let out = palisade(
        &[
            "verify",
            "--local-image",
            &format!("oci-dir:{l}:base"),
            "--key",
            pubkey.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("VERIFIED oci-dir:{l}:base ({digest})")),
        "{}",
        text(&out)
    );

    // A required annotation the signer did not sign: not verified.
    let (code, v, out) = verify_local(l, &pubkey, &["--annotation", "pipeline=other"]);
    assert_eq!(code, 1, "{}", text(&out));
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("pipeline"),
        "{v:#}"
    );

    // Another key: the signature is found and refused with the reason; exit 1.
    let stranger = generate_key(w, "stranger");
    let (code, v, out) = verify_local(l, &stranger.with_extension("pub"), &[]);
    assert_eq!(code, 1, "{}", text(&out));
    assert_eq!(v["verified"], false);
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted key"),
        "{v:#}"
    );

    // A layout with no signature at all: not verified, and it says so.
    let bare = w.join("bare");
    let b = bare.to_str().unwrap();
    copy_to_layout_from_oci(l, "base", b);
    let (code, v, out) = verify_local(b, &pubkey, &[]);
    assert_eq!(code, 1, "{}", text(&out));
    assert!(
        v["notes"].to_string().contains("no signatures found"),
        "{v:#}"
    );
}

/// Copies one tag between layouts (no registry).
fn copy_to_layout_from_oci(src: &str, tag: &str, dest: &str) {
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            &format!("oci:{src}:{tag}"),
            &format!("oci:{dest}:{tag}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_signature_moved_next_to_another_image_is_refused() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let base = reg.push("base", "testbed/base:latest");
    let app = reg.push("app", "testbed/app:latest");
    assert_ne!(base, app);
    let key = generate_key(w, "release");
    let out = palisade(
        &[
            "sign",
            &format!("{}/testbed/base:latest", reg.addr),
            "--key",
            key.with_extension("key").to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", PASSWORD)],
    );
    assert!(out.status.success(), "{}", text(&out));

    // The app image, with base's (valid, trusted) signature stored under app's `.sig` tag.
    let layout = w.join("layout");
    let l = layout.to_str().unwrap();
    copy_to_layout(
        &format!("{}/testbed/app@{app}", reg.addr),
        &format!("{l}:app"),
    );
    copy_to_layout(
        &format!("{}/testbed/base:{}", reg.addr, sig_tag(&base)),
        &format!("{l}:{}", sig_tag(&app)),
    );
    let (code, v, out) = verify_local(l, &key.with_extension("pub"), &[]);
    assert_eq!(code, 1, "{}", text(&out));
    assert_eq!(v["verified"], false);
    assert_eq!(v["digest"], app.to_string());
    let reason = v["signatures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("signs manifest {base}, not {app}")),
        "{reason}"
    );
}

#[test]
fn local_image_argument_errors_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let key = generate_key(w, "k");
    let pubkey = key.with_extension("pub");
    let p = pubkey.to_str().unwrap();
    let d = w.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        // Both a registry reference and a layout.
        (
            &[
                "verify",
                "127.0.0.1:5000/app:1",
                "--local-image",
                d,
                "--key",
                p,
            ],
            "cannot be used with",
        ),
        // Neither.
        (&["verify", "--key", p], "required"),
        // An identity rule asks for a check a layout cannot give: refused, not ignored.
        (
            &[
                "verify",
                "--local-image",
                d,
                "--identity",
                "repository",
                "--key",
                p,
            ],
            "cannot be used with",
        ),
        // Not a layout.
        (
            &["verify", "--local-image", d, "--key", p],
            "not an OCI image layout",
        ),
    ];
    for (args, expected) in cases {
        let out = palisade(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out)
        );
    }
}
