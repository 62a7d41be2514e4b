//! The library's registry side against a real Debian `docker-registry` (Distribution 2.8) on
//! 127.0.0.1, started by the test on its own port: signing appends to the `.sig` manifest and
//! is idempotent, verification resolves a tag once and reports every signature, and a pinned
//! digest is verified as given. (Interoperability with skopeo and the CLI's exit codes are in
//! `palisade-cli/tests/trust.rs`.) Needs the testbed (`testbed/install-deps.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_image::{Reference, RegistryClient, RegistryOptions, media_type};
use palisade_trust::keys::{NamedKey, PrivateKey};
use palisade_trust::sign::{resolve, sign_image};
use palisade_trust::verify::{VerifyOptions, verify_digest, verify_image};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Registry(tempfile::TempDir, String);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([
                "testbed/registry.sh",
                "stop",
                self.0.path().to_str().unwrap(),
            ])
            .current_dir(repo_root())
            .output();
    }
}

fn start() -> Registry {
    let images = repo_root().join("target/testbed");
    script(&["testbed/build-images.sh", images.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let addr = script(&["testbed/registry.sh", "start", dir.path().to_str().unwrap()])
        .trim()
        .to_owned();
    let reg = Registry(dir, addr);
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}/oci:base", images.display()))
        .arg(format!("docker://{}/lib/base:v1", reg.1))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    reg
}

#[test]
fn sign_appends_once_per_key_and_verify_reports_each_signer() {
    let reg = start();
    let client = RegistryClient::new(&reg.1, &RegistryOptions::default()).unwrap();
    let reference: Reference = format!("{}/lib/base:v1", reg.1).parse().unwrap();
    let digest = resolve(&client, &reference).unwrap();
    let (a, b) = (
        PrivateKey::generate_p256().unwrap(),
        PrivateKey::generate_p256().unwrap(),
    );
    let mut annotations = BTreeMap::new();
    annotations.insert("build".to_owned(), "42".to_owned());

    let first = sign_image(&client, &reference, &a, &annotations).unwrap();
    assert!(first.added);
    assert_eq!(first.signatures, 1);
    assert_eq!(first.digest, digest.to_string());
    // The same key over the same payload: deterministic ECDSA, nothing added.
    let again = sign_image(&client, &reference, &a, &annotations).unwrap();
    assert!(!again.added);
    assert_eq!(again.signatures, 1);
    let second = sign_image(&client, &reference, &b, &BTreeMap::new()).unwrap();
    assert!(second.added);
    assert_eq!(second.signatures, 2);

    let keys = vec![
        NamedKey {
            name: "a".into(),
            key: a.public_key(),
        },
        NamedKey {
            name: "b".into(),
            key: b.public_key(),
        },
    ];
    let options = VerifyOptions {
        keys,
        ..VerifyOptions::default()
    };
    let v = verify_image(&client, &reference, &options).unwrap();
    assert!(v.verified);
    assert_eq!(v.digest, digest.to_string());
    let signers: Vec<&str> = v.accepted().map(|s| s.signer.as_str()).collect();
    assert_eq!(signers, ["a", "b"]);
    let first_sig = v.accepted().next().unwrap();
    assert_eq!(
        first_sig.annotations.get("build").map(String::as_str),
        Some("42")
    );
    assert_eq!(first_sig.identity, reference.name());

    // Only key b trusted: a's signature is reported as not trusted, b's accepted.
    let only_b = VerifyOptions {
        keys: vec![NamedKey {
            name: "b".into(),
            key: b.public_key(),
        }],
        ..VerifyOptions::default()
    };
    let v = verify_image(&client, &reference, &only_b).unwrap();
    assert!(v.verified);
    assert!(
        v.signatures[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("not signed by a trusted key")
    );
    assert!(v.signatures[1].verified.is_some());

    // Verification by a pinned digest verifies that digest; the tag is not consulted.
    let pinned: Reference = format!("{}/lib/base@{digest}", reg.1).parse().unwrap();
    let v = verify_digest(&client, &pinned, &digest, &options).unwrap();
    assert!(v.verified);
    // Another digest of the same repository has no signatures.
    let head = client
        .head_manifest("lib/base", "v1", media_type::ACCEPT_MANIFESTS)
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, digest);
    let other = palisade_image::Digest::sha256_of(b"not that manifest");
    let v = verify_digest(&client, &reference, &other, &options).unwrap();
    assert!(!v.verified);
    assert!(v.signatures.is_empty());
}

/// Issue 13.9: one bad layer in the `.sig` manifest (a blob over 64 KiB, a blob that is gone)
/// is listed as refused with its reason; the valid signature beside it still verifies, and
/// bad layers alone verify nothing (fail closed) without being an error.
#[test]
fn issue_13_9_bad_signature_layers_are_refused_and_the_valid_one_verifies() {
    let reg = start();
    let client = RegistryClient::new(&reg.1, &RegistryOptions::default()).unwrap();
    let reference: Reference = format!("{}/lib/base:v1", reg.1).parse().unwrap();
    let digest = resolve(&client, &reference).unwrap();
    let key = PrivateKey::generate_p256().unwrap();
    sign_image(&client, &reference, &key, &BTreeMap::new()).unwrap();
    let options = VerifyOptions {
        keys: vec![NamedKey {
            name: "k".into(),
            key: key.public_key(),
        }],
        ..VerifyOptions::default()
    };
    let tag = palisade_trust::cosign::signature_tag(&digest);
    let (bytes, _, _) = client
        .get_manifest("lib/base", &tag, &[media_type::OCI_MANIFEST])
        .unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let valid = manifest["layers"][0].clone();
    let big = vec![b'{'; 70 << 10];
    let mut oversized = valid.clone();
    oversized["digest"] = client
        .push_blob("lib/base", &big)
        .unwrap()
        .to_string()
        .into();
    oversized["size"] = big.len().into();
    let gone: &[u8] = b"a payload nobody keeps";
    let gone_digest = client.push_blob("lib/base", gone).unwrap();
    let mut missing = valid.clone();
    missing["digest"] = gone_digest.to_string().into();
    missing["size"] = gone.len().into();
    manifest["layers"] = serde_json::json!([oversized, valid, missing]);
    client
        .put_manifest(
            "lib/base",
            &tag,
            manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        )
        .unwrap();
    let out = Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "DELETE",
            &format!("http://{}/v2/lib/base/blobs/{gone_digest}", reg.1),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let v = verify_digest(&client, &reference, &digest, &options).unwrap();
    assert!(v.verified, "{v:#?}");
    assert_eq!(v.signatures.len(), 3, "{v:#?}");
    assert_eq!(v.accepted().count(), 1);
    let reasons: Vec<&str> = v
        .signatures
        .iter()
        .filter_map(|s| s.reason.as_deref())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("more than the 65536"), "{}", reasons[0]);
    assert!(v.signatures[1].source.ends_with("layer 1"), "{v:#?}");
    assert!(
        reasons[1].contains(&gone_digest.to_string()),
        "{}",
        reasons[1]
    );

    // Only the bad layers: nothing verified, and no error either.
    manifest["layers"] = serde_json::json!([oversized]);
    client
        .put_manifest(
            "lib/base",
            &tag,
            manifest.to_string().as_bytes(),
            media_type::OCI_MANIFEST,
        )
        .unwrap();
    let v = verify_digest(&client, &reference, &digest, &options).unwrap();
    assert!(!v.verified, "{v:#?}");
    assert_eq!(v.signatures.len(), 1);
    assert!(v.signatures[0].reason.is_some());
}
