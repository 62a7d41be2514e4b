//! Issue 4, end to end: `palisade key generate`, `sign` and `verify` against a real Debian
//! `docker-registry` (Distribution 2.8, no referrers API) on 127.0.0.1, and interoperability
//! both ways with skopeo 1.18 from Debian trixie (`testbed/skopeo-trixie.sh`), whose sigstore
//! support is the containers/image implementation of cosign's format.
//!
//! Needs root and the testbed (`testbed/install-deps.sh`): the images from
//! `testbed/build-images.sh` and the trixie root, both built once and cached under
//! `target/testbed`. Each test starts its own registry on its own port and stops it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine as _;
use palisade_image::{Descriptor, Digest, RegistryClient, media_type};
use palisade_trust::cosign::{
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureManifest, signature_tag,
};
use serde_json::{Value, json};

mod common;
use common::{Registry, repo_root, run_script};

/// Builds (once, cached on disk) the testbed images and the trixie root with skopeo 1.18.
fn testbed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = common::testbed().to_path_buf();
        run_script(&["testbed/skopeo-trixie.sh", "build"]);
        out
    })
}

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

fn verify_json(reference: &str, key: &Path) -> (i32, Value) {
    let out = palisade(
        &[
            "verify",
            reference,
            "--key",
            key.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    let code = out.status.code().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v)
}

fn generate_key(dir: &Path, name: &str, password: &str) -> PathBuf {
    let prefix = dir.join(name);
    let out = palisade(
        &[
            "key",
            "generate",
            "--output-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", password)],
    );
    assert!(out.status.success(), "{}", text(&out));
    prefix
}

/// Runs trixie's skopeo with `dirs` visible inside its root.
fn skopeo_trixie(dirs: &[&Path], args: &[&str]) -> Output {
    testbed();
    let mut cmd = Command::new("bash");
    cmd.arg("testbed/skopeo-trixie.sh")
        .arg("run")
        .current_dir(repo_root());
    for d in dirs {
        cmd.arg(d);
    }
    cmd.arg("--").args(args);
    cmd.output().unwrap()
}

fn registries_d(dir: &Path, addr: &str) -> PathBuf {
    let rd = dir.join("registries.d");
    std::fs::create_dir_all(&rd).unwrap();
    std::fs::write(
        rd.join("default.yaml"),
        format!("docker:\n  {addr}:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    rd
}

#[test]
fn image_signed_by_skopeo_verifies_with_palisade() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("pass"), "skopeo pass\n").unwrap();
    let prefix = w.join("skopeo-key");
    let out = skopeo_trixie(
        &[w],
        &[
            "generate-sigstore-key",
            "--output-prefix",
            prefix.to_str().unwrap(),
            "--passphrase-file",
            w.join("pass").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rd = registries_d(w, &reg.addr);
    let dst = format!("docker://{}/testbed/skopeo-signed:v1", reg.addr);
    let src = format!("oci:{}/oci:base", testbed().display());
    let out = skopeo_trixie(
        &[w, testbed()],
        &[
            "--insecure-policy",
            "--registries.d",
            rd.to_str().unwrap(),
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--sign-by-sigstore-private-key",
            prefix.with_extension("private").to_str().unwrap(),
            "--sign-passphrase-file",
            w.join("pass").to_str().unwrap(),
            &src,
            &dst,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let digest = reg.digest_of("testbed/skopeo-signed:v1");
    let reference = format!("{}/testbed/skopeo-signed:v1", reg.addr);

    // skopeo's key verifies it; the result names the digest and the signer.
    let public = prefix.with_extension("pub");
    let (code, v) = verify_json(&reference, &public);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["digest"], digest.to_string());
    assert_eq!(v["verified"], true);
    let sig = &v["signatures"][0]["verified"];
    assert_eq!(sig["signer"], public.to_str().unwrap());
    // containers/image signs the full reference with its tag, and adds creator/timestamp.
    assert_eq!(sig["identity"], reference.as_str());
    assert!(
        sig["annotations"]["creator"]
            .as_str()
            .unwrap()
            .starts_with("containers/image"),
        "{v:#}"
    );

    // The table names the verdict, digest and signer.
    let out = palisade(
        &["verify", &reference, "--key", public.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with(&format!("VERIFIED {reference} ({digest})")),
        "{table}"
    );

    // Another key: not verified (exit 1), with the reason.
    let other = generate_key(w, "other", "x");
    let (code, v) = verify_json(&reference, &other.with_extension("pub"));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verified"], false);
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted key"),
        "{v:#}"
    );

    // skopeo's encrypted key (label ENCRYPTED COSIGN PRIVATE KEY) signs with palisade too.
    reg.push("base", "testbed/resigned:v1");
    let out = palisade(
        &[
            "sign",
            &format!("{}/testbed/resigned:v1", reg.addr),
            "--key",
            prefix.with_extension("private").to_str().unwrap(),
        ],
        &[("COSIGN_PASSWORD", "skopeo pass")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (code, v) = verify_json(&format!("{}/testbed/resigned:v1", reg.addr), &public);
    assert_eq!(code, 0, "{v:#}");
}

#[test]
fn image_signed_by_palisade_passes_skopeos_sigstore_policy() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let digest = reg.push("base", "testbed/base:latest");
    let key = generate_key(w, "palisade", "correct horse");
    let reference = format!("{}/testbed/base:latest", reg.addr);

    // No passphrase and no terminal: an error (exit 2), not a hang.
    let out = palisade(
        &[
            "sign",
            &reference,
            "--key",
            key.with_extension("key").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("PALISADE_PASSWORD"), "{}", text(&out));

    let out = palisade(
        &[
            "sign",
            &reference,
            "--key",
            key.with_extension("key").to_str().unwrap(),
            "-a",
            "env=ci",
        ],
        &[("PALISADE_PASSWORD", "correct horse")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&digest.to_string()),
        "{}",
        text(&out)
    );

    // Stored as cosign does: one simple-signing layer under sha256-<hex>.sig.
    let client = reg.client();
    let (bytes, _, _) = client
        .get_manifest(
            "testbed/base",
            &signature_tag(&digest),
            &[media_type::OCI_MANIFEST],
        )
        .unwrap();
    let manifest = SignatureManifest::parse(&bytes, "sig").unwrap();
    assert_eq!(manifest.layers.len(), 1);
    assert_eq!(manifest.layers[0].media_type, SIMPLE_SIGNING_MEDIA_TYPE);
    assert!(
        manifest.layers[0]
            .annotations
            .contains_key(SIGNATURE_ANNOTATION)
    );

    // skopeo (trixie) accepts it under a sigstoreSigned policy with our key ...
    let rd = registries_d(w, &reg.addr);
    let policy = |key: &Path, name: &str| {
        let p = w.join(name);
        let doc = json!({
            "default": [{"type": "reject"}],
            "transports": {
                "docker": {format!("{}/testbed/base", reg.addr): [{
                    "type": "sigstoreSigned",
                    "keyPath": key,
                    "signedIdentity": {"type": "matchRepository"}
                }]},
                "dir": {"": [{"type": "insecureAcceptAnything"}]}
            }
        });
        std::fs::write(&p, doc.to_string()).unwrap();
        p
    };
    let copy = |policy: &Path, out_dir: &str| {
        skopeo_trixie(
            &[w],
            &[
                "--policy",
                policy.to_str().unwrap(),
                "--registries.d",
                rd.to_str().unwrap(),
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                &format!("docker://{reference}"),
                &format!("dir:{}", w.join(out_dir).display()),
            ],
        )
    };
    let good = policy(&key.with_extension("pub"), "good.json");
    let out = copy(&good, "copied");
    assert!(
        out.status.success(),
        "skopeo refused palisade's signature: {}",
        text(&out)
    );

    // ... and refuses it with another key.
    let other = generate_key(w, "other", "x");
    let bad = policy(&other.with_extension("pub"), "bad.json");
    let out = copy(&bad, "refused");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ignature"),
        "{}",
        text(&out)
    );

    // A second signature is appended, not replacing the first; both verify.
    let out = palisade(
        &[
            "sign",
            &reference,
            "--key",
            other.with_extension("key").to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", "x")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let keys = w.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(key.with_extension("pub"), keys.join("a.pub")).unwrap();
    std::fs::copy(other.with_extension("pub"), keys.join("b.pub")).unwrap();
    let out = palisade(
        &[
            "verify",
            &reference,
            "--keys",
            keys.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let signers: Vec<&str> = v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verified"]["signer"].as_str().unwrap())
        .collect();
    assert_eq!(signers.len(), 2, "{v:#}");
    assert!(
        signers[0].ends_with("a.pub") && signers[1].ends_with("b.pub"),
        "{signers:?}"
    );
    // Required annotations: present on the first signature only.
    let out = palisade(
        &[
            "verify",
            &reference,
            "--keys",
            keys.to_str().unwrap(),
            "--annotation",
            "env=ci",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signatures"][0]["verified"]["annotations"]["env"], "ci");
    assert!(
        v["signatures"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("env=ci"),
        "{v:#}"
    );
    let out = palisade(
        &[
            "verify",
            &reference,
            "--keys",
            keys.to_str().unwrap(),
            "-a",
            "env=prod",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// Pushes a signature manifest built by hand under `repo:tag`.
fn put_sig_manifest(client: &RegistryClient, repo: &str, tag: &str, layers: Vec<Descriptor>) {
    let config = b"{}".to_vec();
    let config_digest = client.push_blob(repo, &config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
    });
    client
        .put_manifest(
            repo,
            tag,
            manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        )
        .unwrap();
}

#[test]
fn attacks_are_refused_with_reasons() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let key = generate_key(w, "k", "pw");
    let public = key.with_extension("pub");
    let client = reg.client();
    let sign = |reference: &str| {
        let out = palisade(
            &[
                "sign",
                reference,
                "--key",
                key.with_extension("key").to_str().unwrap(),
            ],
            &[("PALISADE_PASSWORD", "pw")],
        );
        assert!(out.status.success(), "{}", text(&out));
    };

    // Unsigned image.
    reg.push("base", "testbed/unsigned:v1");
    let (code, v) = verify_json(&format!("{}/testbed/unsigned:v1", reg.addr), &public);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        v["notes"].to_string().contains("no signatures found"),
        "{v:#}"
    );
    // Distribution 2.8 has no referrers API: the fallback tag was used.
    assert!(v["notes"].to_string().contains("no referrers API"), "{v:#}");

    // Tag moved to another image after signing: the new digest is what is verified, unsigned.
    let signed_digest = reg.push("base", "testbed/moving:v1");
    sign(&format!("{}/testbed/moving:v1", reg.addr));
    let (code, _) = verify_json(&format!("{}/testbed/moving:v1", reg.addr), &public);
    assert_eq!(code, 0);
    let moved_digest = reg.push("app", "testbed/moving:v1");
    assert_ne!(signed_digest, moved_digest);
    let (code, v) = verify_json(&format!("{}/testbed/moving:v1", reg.addr), &public);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["digest"], moved_digest.to_string());

    // Signature for another digest: the old image's .sig copied to the new image's tag.
    let (sig_bytes, _, _) = client
        .get_manifest(
            "testbed/moving",
            &signature_tag(&signed_digest),
            &[media_type::OCI_MANIFEST],
        )
        .unwrap();
    client
        .put_manifest(
            "testbed/moving",
            &signature_tag(&moved_digest),
            &sig_bytes,
            media_type::OCI_MANIFEST,
        )
        .unwrap();
    let (code, v) = verify_json(&format!("{}/testbed/moving:v1", reg.addr), &public);
    assert_eq!(code, 1, "{v:#}");
    let reason = v["signatures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "signs manifest {signed_digest}, not {moved_digest}"
        )),
        "{reason}"
    );

    // Payload tampered: same signature annotation over a changed payload.
    let tampered_digest = reg.push("base", "testbed/tampered:v1");
    let sig = SignatureManifest::parse(&sig_bytes, "sig").unwrap();
    let good_layer = sig.layers[0].clone();
    let payload = palisade_trust::payload::Payload::new(
        &format!("{}/testbed/tampered", reg.addr),
        &tampered_digest,
        &BTreeMap::new(),
    )
    .to_bytes()
    .unwrap();
    let payload_digest = client.push_blob("testbed/tampered", &payload).unwrap();
    let mut layer = good_layer.clone();
    layer.digest = payload_digest.clone();
    layer.size = payload.len() as u64;
    put_sig_manifest(
        &client,
        "testbed/tampered",
        &signature_tag(&tampered_digest),
        vec![layer.clone()],
    );
    let (code, v) = verify_json(&format!("{}/testbed/tampered:v1", reg.addr), &public);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted key"),
        "{v:#}"
    );

    // Malformed base64 signature.
    let mut garbled = layer.clone();
    garbled
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), "!!not base64!!".into());
    put_sig_manifest(
        &client,
        "testbed/tampered",
        &signature_tag(&tampered_digest),
        vec![garbled],
    );
    let (code, v) = verify_json(&format!("{}/testbed/tampered:v1", reg.addr), &public);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("base64"),
        "{v:#}"
    );

    // A layer declaring a huge size: refused before download and reported with the reason;
    // with nothing else verified, not verified (exit 1).
    let mut huge = layer.clone();
    huge.size = 10 << 30;
    put_sig_manifest(
        &client,
        "testbed/tampered",
        &signature_tag(&tampered_digest),
        vec![huge],
    );
    let (code, v) = verify_json(&format!("{}/testbed/tampered:v1", reg.addr), &public);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("more than the 65536 accepted"),
        "{v:#}"
    );

    // 10,000 layers: refused, exit 2.
    let many = vec![layer; 10_000];
    put_sig_manifest(
        &client,
        "testbed/tampered",
        &signature_tag(&tampered_digest),
        many,
    );
    let out = palisade(
        &[
            "verify",
            &format!("{}/testbed/tampered:v1", reg.addr),
            "--key",
            public.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("10000 signature layers"),
        "{}",
        text(&out)
    );
}

/// Issue 13.9: a bad layer appended to the `.sig` manifest (a blob over 64 KiB, a blob that
/// is missing) is reported as refused with its reason, and the valid signature beside it
/// still verifies (exit 0); bad layers alone are a plain "not verified" (exit 1), never an
/// error that blocks every deploy.
#[test]
fn issue_13_9_a_bad_signature_layer_does_not_hide_a_valid_one() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let key = generate_key(work.path(), "k", "pw");
    let public = key.with_extension("pub");
    let client = reg.client();
    let digest = reg.push("base", "testbed/cosigned:v1");
    let reference = format!("{}/testbed/cosigned:v1", reg.addr);
    let out = palisade(
        &[
            "sign",
            &reference,
            "--key",
            key.with_extension("key").to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", "pw")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let tag = signature_tag(&digest);
    let (sig_bytes, _, _) = client
        .get_manifest("testbed/cosigned", &tag, &[media_type::OCI_MANIFEST])
        .unwrap();
    let valid = SignatureManifest::parse(&sig_bytes, "sig").unwrap().layers[0].clone();

    // A real 70 KiB blob, over the 64 KiB a signature payload may take.
    let big = vec![b'{'; 70 << 10];
    let mut oversized = valid.clone();
    oversized.digest = client.push_blob("testbed/cosigned", &big).unwrap();
    oversized.size = big.len() as u64;
    // A layer whose blob is gone: pushed (the registry checks layers exist when a manifest is
    // put), then deleted through the registry API.
    let gone: &[u8] = b"a payload nobody keeps";
    let mut missing = valid.clone();
    missing.digest = Digest::sha256_of(gone);
    missing.size = gone.len() as u64;
    let put = |layers: Vec<Descriptor>| {
        let with_missing = layers.contains(&missing);
        if with_missing {
            client.push_blob("testbed/cosigned", gone).unwrap();
        }
        put_sig_manifest(&client, "testbed/cosigned", &tag, layers);
        if with_missing {
            let url = format!(
                "http://{}/v2/testbed/cosigned/blobs/{}",
                reg.addr, missing.digest
            );
            let out = Command::new("curl")
                .args(["-fsS", "-X", "DELETE", &url])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        }
    };

    for (layers, what) in [
        (vec![valid.clone(), oversized.clone()], "oversized after"),
        (vec![oversized.clone(), valid.clone()], "oversized before"),
        (vec![missing.clone(), valid.clone()], "missing before"),
        (
            vec![oversized.clone(), missing.clone(), valid.clone()],
            "both",
        ),
    ] {
        put(layers.clone());
        let (code, v) = verify_json(&reference, &public);
        assert_eq!(code, 0, "{what}: {v:#}");
        assert_eq!(v["verified"], true, "{what}: {v:#}");
        let sigs = v["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), layers.len(), "{what}: {v:#}");
        assert_eq!(
            sigs.iter().filter(|s| s.get("verified").is_some()).count(),
            1,
            "{what}: {v:#}"
        );
        let reasons: Vec<&str> = sigs.iter().filter_map(|s| s["reason"].as_str()).collect();
        assert_eq!(reasons.len(), layers.len() - 1, "{what}: {v:#}");
        for r in &reasons {
            assert!(r.contains("signature layer not read"), "{what}: {r}");
        }
        if layers.contains(&oversized) {
            assert!(
                reasons.iter().any(|r| r.contains("more than the 65536")),
                "{what}: {reasons:?}"
            );
        }
        if layers.contains(&missing) {
            assert!(
                reasons
                    .iter()
                    .any(|r| r.contains(&missing.digest.to_string())),
                "{what}: {reasons:?}"
            );
        }
    }

    // Only bad layers: not verified, exit 1 (deny), with both reasons; not an error.
    put(vec![oversized.clone(), missing.clone()]);
    let (code, v) = verify_json(&reference, &public);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verified"], false, "{v:#}");
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2, "{v:#}");
}

#[test]
fn signatures_are_found_through_the_referrers_fallback_tag() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let key = generate_key(w, "k", "pw");
    let digest = reg.push("base", "testbed/referred:v1");
    let client = reg.client();
    // A cosign simple-signing signature stored as an OCI 1.1 referrer (artifactType
    // application/vnd.dev.cosign.artifact.sig.v1+json, subject = the image), listed in the
    // sha256-<hex> fallback index as clients do when the registry has no referrers API.
    let private = palisade_trust::keys::PrivateKey::from_pem(
        &std::fs::read_to_string(key.with_extension("key")).unwrap(),
        b"pw",
        "k.key",
    )
    .unwrap();
    let payload = palisade_trust::payload::Payload::new(
        &format!("{}/testbed/referred", reg.addr),
        &digest,
        &BTreeMap::new(),
    )
    .to_bytes()
    .unwrap();
    let signature =
        base64::engine::general_purpose::STANDARD.encode(private.sign(&payload).unwrap());
    let payload_digest = client.push_blob("testbed/referred", &payload).unwrap();
    let empty = b"{}";
    let empty_digest = client.push_blob("testbed/referred", empty).unwrap();
    let subject = client
        .head_manifest(
            "testbed/referred",
            &digest.to_string(),
            media_type::ACCEPT_MANIFESTS,
        )
        .unwrap()
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest.to_string(), "size": 2},
        "layers": [{"mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "digest": payload_digest.to_string(), "size": payload.len(),
                    "annotations": {SIGNATURE_ANNOTATION: signature}}],
        "subject": {"mediaType": subject.media_type, "digest": digest.to_string(), "size": subject.size},
    })
    .to_string();
    let referrer = client
        .put_manifest(
            "testbed/referred",
            &Digest::sha256_of(manifest.as_bytes()).to_string(),
            manifest.as_bytes(),
            media_type::OCI_MANIFEST,
        )
        .unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{"mediaType": media_type::OCI_MANIFEST, "digest": referrer.to_string(), "size": manifest.len(),
                       "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}],
    })
    .to_string();
    client
        .put_manifest(
            "testbed/referred",
            &palisade_trust::cosign::referrers_tag(&digest),
            index.as_bytes(),
            media_type::OCI_INDEX,
        )
        .unwrap();
    let (code, v) = verify_json(
        &format!("{}/testbed/referred:v1", reg.addr),
        &key.with_extension("pub"),
    );
    assert_eq!(code, 0, "{v:#}");
    assert!(
        v["signatures"][0]["source"]
            .as_str()
            .unwrap()
            .contains(&referrer.to_string()),
        "{v:#}"
    );
}

#[test]
fn key_generate_writes_cosign_keys_and_never_hangs_without_a_passphrase() {
    let work = tempfile::tempdir().unwrap();
    let prefix = work.path().join("cosign");
    let p = prefix.to_str().unwrap();
    // No passphrase in the environment and no terminal: an error, not a prompt.
    let out = palisade(&["key", "generate", "--output-prefix", p], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("PALISADE_PASSWORD"), "{}", text(&out));
    assert!(!prefix.with_extension("key").exists());

    let out = palisade(
        &["key", "generate", "--output-prefix", p],
        &[("COSIGN_PASSWORD", "pw")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pem = std::fs::read_to_string(prefix.with_extension("key")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{pem}"
    );
    let key = palisade_trust::keys::PrivateKey::from_pem(&pem, b"pw", "cosign.key").unwrap();
    let public = palisade_trust::keys::PublicKey::from_pem(
        &std::fs::read_to_string(prefix.with_extension("pub")).unwrap(),
    )
    .unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(public.algorithm(), "ecdsa-p256");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(prefix.with_extension("key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
    }
    // Existing keys are not overwritten without --force.
    let out = palisade(
        &["key", "generate", "--output-prefix", p],
        &[("PALISADE_PASSWORD", "other")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(prefix.with_extension("key")).unwrap(),
        pem
    );
    let out = palisade(
        &["key", "generate", "--output-prefix", p, "--force"],
        &[("PALISADE_PASSWORD", "other")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(
        std::fs::read_to_string(prefix.with_extension("key")).unwrap(),
        pem
    );
}

#[test]
fn verify_errors_exit_2() {
    let work = tempfile::tempdir().unwrap();
    // A private key given as a public key, a missing key directory, a bad reference.
    let key = work.path().join("k");
    let out = palisade(
        &["key", "generate", "--output-prefix", key.to_str().unwrap()],
        &[("PALISADE_PASSWORD", "pw")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = palisade(
        &[
            "verify",
            "127.0.0.1:1/x:1",
            "--key",
            key.with_extension("key").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("PUBLIC KEY"), "{}", text(&out));
    let out = palisade(
        &[
            "verify",
            "127.0.0.1:1/x:1",
            "--keys",
            work.path().join("none").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = palisade(
        &[
            "verify",
            "NOT A REF",
            "--key",
            key.with_extension("pub").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Keyless signatures and Sigstore bundle referrers, with real fixtures from
// ../shared/trust-fixtures (read in place, never copied into the repository).

fn fixtures() -> PathBuf {
    repo_root().join("../shared/trust-fixtures")
}

fn fixture(rel: &str) -> String {
    fixtures().join(rel).to_str().unwrap().to_owned()
}

/// Writes a file straight into the registry's filesystem storage (Distribution 2.8 layout):
/// the blob's data under `blobs/` and its link in `repo`'s `links` directory (`_layers` for
/// blobs, `_manifests/revisions` for manifests). Distribution reads neither back to check its
/// digest: this is how the tests stand in for fixture bytes that were never published.
fn plant(reg: &Registry, repo: &str, links: &str, digest: &str, data: &[u8], size: u64) {
    let v2 = reg.dir.path().join("data/docker/registry/v2");
    let hex = digest.strip_prefix("sha256:").unwrap();
    let blob = v2.join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    std::fs::create_dir_all(&blob).unwrap();
    let f = std::fs::File::create(blob.join("data")).unwrap();
    use std::io::Write as _;
    (&f).write_all(data).unwrap();
    f.set_len(size).unwrap();
    let link = v2.join(format!("repositories/{repo}/{links}/sha256/{hex}"));
    std::fs::create_dir_all(&link).unwrap();
    std::fs::write(link.join("link"), digest).unwrap();
}

fn verify_args(reference: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["verify", reference, "--format", "json"];
    args.extend_from_slice(extra);
    let out = palisade(&args, &[]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v, text(&out))
}

/// The cosign keyless signature of `ci-fulcio-rekor` (Fulcio certificate for
/// `mitr@redhat.com`, issuer `https://github.com/login/oauth`, Rekor SET), served by a real
/// `docker-registry` and verified by `palisade verify` with an offline trusted root.
///
/// The signed image manifest (`image-manifest.json`, `sha256:0489474d…`) is pushed byte for
/// byte through the registry API. Its config (1508 bytes) and layer (2.5 MB) were never
/// published with the fixture, and Distribution 2.8 refuses a manifest whose blobs it lacks,
/// so the test plants placeholder files of the declared sizes in the registry's storage first
/// ([`plant`]); verification never reads them (a signature covers the manifest digest). The
/// `.sig` manifest is built as cosign does: the exact payload blob, the recorded annotations.
/// The payload names `192.168.64.2:5000/cosign-signed/fulcio-rekor-1`, so identity checks
/// against our `127.0.0.1` registry need `--identity ignore` (the mirror case), and fail
/// without it, which the test shows too.
#[test]
fn keyless_signature_verifies_against_an_offline_trusted_root() {
    let reg = Registry::start();
    let client = reg.client();
    let repo = "cosign-signed/fulcio-rekor-1";
    let dir = fixtures().join("cosign-classic/ci-fulcio-rekor");
    let manifest_bytes = std::fs::read(dir.join("image-manifest.json")).unwrap();
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let mut blobs = vec![&manifest["config"]];
    blobs.extend(manifest["layers"].as_array().unwrap());
    for b in blobs {
        plant(
            &reg,
            repo,
            "_layers",
            b["digest"].as_str().unwrap(),
            b"",
            b["size"].as_u64().unwrap(),
        );
    }
    let digest = client
        .put_manifest(repo, "v1", &manifest_bytes, media_type::DOCKER_MANIFEST)
        .unwrap();
    assert_eq!(
        digest.to_string(),
        "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
    );
    let payload = std::fs::read(dir.join("payload.bin")).unwrap();
    let annotations: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.join("annotations.json")).unwrap()).unwrap();
    let payload_digest = client.push_blob(repo, &payload).unwrap();
    let layer: Descriptor = serde_json::from_value(json!({
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": payload_digest.to_string(),
        "size": payload.len(),
        "annotations": annotations,
    }))
    .unwrap();
    put_sig_manifest(&client, repo, &signature_tag(&digest), vec![layer.clone()]);

    let image = format!("{}/{repo}:v1", reg.addr);
    let root = fixture("sigstore-bundles/trusted_root.production.json");
    let who = [
        "--certificate-identity",
        "mitr@redhat.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = who.to_vec();
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        verify_args(&image, &a)
    };

    // Verified with the Sigstore trusted root.
    let (code, v, out) = run(with(&["--trusted-root", &root, "--identity", "ignore"]));
    assert_eq!(code, 0, "{out}");
    let sig = &v["signatures"][0]["verified"];
    assert_eq!(sig["kind"], "keyless", "{v:#}");
    assert_eq!(sig["signer"], "mitr@redhat.com", "{v:#}");
    assert_eq!(sig["issuer"], "https://github.com/login/oauth", "{v:#}");
    assert_eq!(sig["rekor_log_index"], 11_605_770, "{v:#}");
    assert_eq!(sig["signed_at"], 1_674_247_893, "{v:#}");
    assert_eq!(v["digest"], digest.to_string());

    // And with cosign-classic PEM trust material.
    let (code, _, out) = run(with(&[
        "--ca-roots",
        &fixture("cosign-classic/fulcio_v1.crt.pem"),
        "--rekor-key",
        &fixture("cosign-classic/rekor.pub"),
        "--identity",
        "ignore",
    ]));
    assert_eq!(code, 0, "{out}");
    // A PEM root without the Rekor key: the SET cannot be checked, refused.
    let (code, v, out) = run(with(&[
        "--ca-roots",
        &fixture("cosign-classic/fulcio_v1.crt.pem"),
        "--identity",
        "ignore",
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("transparency log"),
        "{v:#}"
    );

    // The payload's identity is checked after the certificate: another registry here.
    let (code, v, out) = run(with(&["--trusted-root", &root]));
    assert_eq!(code, 1, "{out}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("192.168.64.2:5000/cosign-signed/fulcio-rekor-1"),
        "{v:#}"
    );

    // Wrong identity, wrong issuer, a regexp that does not match: exit 1 with the reason.
    for (args, reason) in [
        (
            vec![
                "--certificate-identity",
                "someone@example.com",
                "--certificate-oidc-issuer",
                "https://github.com/login/oauth",
            ],
            "identity mismatch",
        ),
        (
            vec![
                "--certificate-identity",
                "mitr@redhat.com",
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "issuer mismatch",
        ),
        (
            vec![
                "--certificate-identity-regexp",
                "^mitr@example\\.com$",
                "--certificate-oidc-issuer-regexp",
                "github",
            ],
            "identity mismatch",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--trusted-root", root.as_str(), "--identity", "ignore"]);
        let out = palisade(&[&["verify", image.as_str()][..], &a].concat(), &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains("NOT VERIFIED"), "{t}");
        assert!(t.contains(reason), "{args:?}: {t}");
    }
    // A matching regexp pair verifies.
    let (code, _, out) = verify_args(
        &image,
        &[
            "--certificate-identity-regexp",
            "@redhat\\.com$",
            "--certificate-oidc-issuer-regexp",
            "^https://github\\.com/",
            "--trusted-root",
            &root,
            "--identity",
            "ignore",
        ],
    );
    assert_eq!(code, 0, "{out}");

    // Keys and identities together: the keyless signature still counts; a key alone does not
    // check it and says why.
    let work = tempfile::tempdir().unwrap();
    let key = generate_key(work.path(), "k", "pw").with_extension("pub");
    let (code, v, out) = run(with(&[
        "--trusted-root",
        &root,
        "--identity",
        "ignore",
        "--key",
        key.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["signatures"][0]["verified"]["kind"], "keyless");
    let (code, v, out) = verify_args(
        &image,
        &["--key", key.to_str().unwrap(), "--identity", "ignore"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("keyless signature (Fulcio certificate), not checked"),
        "{v:#}"
    );

    // The same signature copied onto another image (a testbed image): signs another digest.
    let other = reg.push("base", &format!("{repo}:other"));
    put_sig_manifest(&client, repo, &signature_tag(&other), vec![layer]);
    let (code, v, out) = verify_args(
        &format!("{}/{repo}:other", reg.addr),
        &[
            "--certificate-identity",
            "mitr@redhat.com",
            "--certificate-oidc-issuer",
            "https://github.com/login/oauth",
            "--trusted-root",
            &root,
            "--identity",
            "ignore",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("not {other}")),
        "{v:#}"
    );
}

/// cosign v3's default output, `cosign-v3-bundle-referrer`: a Sigstore bundle v0.3 (DSSE,
/// Rekor v1 entry, RFC 3161 timestamp) in an OCI 1.1 referrer whose subject is the image
/// index `sha256:d7d5640c…`, listed in the `sha256-d7d5640c…` fallback index that
/// Distribution 2.8 needs. The referrer manifest, its bundle layer and the fallback index are
/// pushed byte for byte through the registry API.
///
/// The signed image index itself (928 bytes) is not part of the fixture, so it cannot be in
/// the registry with its real bytes. First the library's `verify_digest` checks the digest
/// with nothing standing in for it. Then, for `palisade verify REF@sha256:d7d5640c…`, which
/// resolves the reference with a HEAD request, the test plants a placeholder index under that
/// digest in the registry's storage ([`plant`]); palisade never downloads it.
#[test]
fn bundle_referrer_verifies_with_its_key() {
    let reg = Registry::start();
    let client = reg.client();
    let repo = "lab/subject";
    let dir = fixtures().join("cosign-v3-bundle-referrer");
    let subject: Digest = "sha256:d7d5640c741c60b47fa4b5530daa20a6469b55754a89dd42adbadadb59f9093c"
        .parse()
        .unwrap();
    client.push_blob(repo, b"{}").unwrap();
    let bundle = std::fs::read(dir.join("bundle-sigstore.json")).unwrap();
    client.push_blob(repo, &bundle).unwrap();
    let referrer = std::fs::read(dir.join("bundle-referring-manifest.json")).unwrap();
    let referrer_digest = Digest::sha256_of(&referrer);
    client
        .put_manifest(
            repo,
            &referrer_digest.to_string(),
            &referrer,
            media_type::OCI_MANIFEST,
        )
        .unwrap();
    let index = std::fs::read(dir.join("bundle-referrers-index.json")).unwrap();
    client
        .put_manifest(
            repo,
            &palisade_trust::cosign::referrers_tag(&subject),
            &index,
            media_type::OCI_INDEX,
        )
        .unwrap();
    let root_path = fixture("sigstore-bundles/trusted_root.production.json");
    let root =
        palisade_trust::trust_root::TrustRoot::from_json(&std::fs::read(&root_path).unwrap())
            .unwrap();
    let key_path = dir.join("bundle-cosign.pub");
    let key = palisade_trust::keys::NamedKey::from_file(&key_path).unwrap();

    // Library level, nothing planted: the digest as the caller resolved it.
    let reference: palisade_image::Reference =
        format!("{}/{repo}@{subject}", reg.addr).parse().unwrap();
    let options = palisade_trust::verify::VerifyOptions {
        keys: vec![key],
        trust_root: Some(root),
        ..Default::default()
    };
    let v = palisade_trust::verify::verify_digest(&client, &reference, &subject, &options).unwrap();
    assert!(v.verified, "{v:#?}");
    let accepted: Vec<_> = v.accepted().collect();
    assert_eq!(accepted.len(), 1, "{v:#?}");
    assert_eq!(accepted[0].kind, "bundle-key");
    assert_eq!(accepted[0].rekor_log_index, Some(2_440_595_631));
    assert!(
        v.signatures[0]
            .source
            .contains(&referrer_digest.to_string())
    );
    // Another digest with the same referrer listed: its subject is not that digest.
    let other = reg.push("base", &format!("{repo}:other"));
    client
        .put_manifest(
            repo,
            &palisade_trust::cosign::referrers_tag(&other),
            &index,
            media_type::OCI_INDEX,
        )
        .unwrap();
    let v = palisade_trust::verify::verify_digest(&client, &reference, &other, &options).unwrap();
    assert!(!v.verified, "{v:#?}");
    assert!(
        v.notes.iter().any(|n| n.contains("its subject is")),
        "{v:#?}"
    );

    // CLI: the subject index stands in as a placeholder so the digest reference resolves.
    let placeholder = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    plant(
        &reg,
        repo,
        "_manifests/revisions",
        &subject.to_string(),
        placeholder,
        placeholder.len() as u64,
    );
    let image = format!("{}/{repo}@{subject}", reg.addr);
    let (code, v, out) = verify_args(
        &image,
        &[
            "--key",
            key_path.to_str().unwrap(),
            "--trusted-root",
            &root_path,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        v["signatures"][0]["verified"]["kind"], "bundle-key",
        "{v:#}"
    );
    assert_eq!(v["digest"], subject.to_string());

    // Another key: refused with the reason.
    let work = tempfile::tempdir().unwrap();
    let wrong = generate_key(work.path(), "wrong", "pw").with_extension("pub");
    let out = palisade(
        &[
            "verify",
            &image,
            "--key",
            wrong.to_str().unwrap(),
            "--trusted-root",
            &root_path,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Sigstore bundle"), "{}", text(&out));
    // No trust root: the bundle is reported as not checked.
    let (code, v, out) = verify_args(&image, &["--key", key_path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not checked: give a trust root"),
        "{v:#}"
    );
    // An identity policy for a key-signed bundle: refused, says why.
    let (code, v, out) = verify_args(
        &image,
        &[
            "--certificate-identity",
            "x@example.com",
            "--certificate-oidc-issuer",
            "https://example.com",
            "--trusted-root",
            &root_path,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        v["signatures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("signed with a key"),
        "{v:#}"
    );
}

/// Inconsistent keyless flags are usage errors (exit 2) with a message naming the fix.
#[test]
fn inconsistent_keyless_flags_exit_2() {
    let root = fixture("sigstore-bundles/trusted_root.production.json");
    let not_a_root = fixture("cosign-classic/rekor.pub");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "nothing to verify with"),
        (
            vec![
                "--certificate-identity",
                "a@b",
                "--certificate-oidc-issuer",
                "https://x",
            ],
            "need a trust root",
        ),
        (
            vec!["--certificate-identity", "a@b", "--trusted-root", &root],
            "--certificate-oidc-issuer",
        ),
        (
            vec![
                "--certificate-identity",
                "a@b",
                "--certificate-identity-regexp",
                "a",
                "--certificate-oidc-issuer",
                "https://x",
                "--trusted-root",
                &root,
            ],
            "not both",
        ),
        (
            vec![
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                "https://x",
                "--trusted-root",
                &root,
            ],
            "invalid regular expression",
        ),
        (
            vec!["--trusted-root", &root, "--ca-roots", &root],
            "cannot be used with",
        ),
        (vec!["--rekor-key", &root], "--ca-roots"),
        (
            vec![
                "--certificate-identity",
                "a@b",
                "--certificate-oidc-issuer",
                "https://x",
                "--trusted-root",
                "/nonexistent/trusted_root.json",
            ],
            "/nonexistent/trusted_root.json",
        ),
        (
            vec![
                "--certificate-identity",
                "a@b",
                "--certificate-oidc-issuer",
                "https://x",
                "--trusted-root",
                &not_a_root,
            ],
            "trusted root",
        ),
    ];
    for (args, message) in cases {
        let out = palisade(&[&["verify", "127.0.0.1:1/x:1"][..], &args].concat(), &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out)
        );
    }
}
