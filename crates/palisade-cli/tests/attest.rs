//! Issue 18, point 4: cosign attestations (in-toto statements in DSSE envelopes).
//!
//! - The real DSSE/in-toto Sigstore bundles of `../shared/trust-fixtures` verify as
//!   attestations of their subject, and a copy with one byte of the payload changed does not.
//! - `palisade attest` stores a SLSA provenance attestation of a testbed image in a local
//!   `docker-registry` (Distribution 2.8, no referrers API), in cosign's `.att` layout and as a
//!   Sigstore bundle referrer (fallback tag); `palisade verify` lists it, and `palisade gate`
//!   hands it to a Rego rule that allows on the right builder and denies on another, with the
//!   exact reason. An attestation signed by an untrusted key never reaches the policy.
//!
//! Needs the testbed (`testbed/install-deps.sh`); each registry test starts and stops its own
//! registry on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_image::Digest;
use palisade_trust::attest::{VerifiedAttestation, verify_bundle_attestation};
use palisade_trust::bundle::Bundle;
use palisade_trust::keyless::IdentityPolicy;
use palisade_trust::keys::NamedKey;
use palisade_trust::trust_root::TrustRoot;
use palisade_trust::verify::VerifyOptions;
use serde_json::Value;

mod common;
use common::{Registry, repo_root};

const CONF: &str = "sigstore-bundles/conformance";
const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISS: &str = "https://token.actions.githubusercontent.com";
const NOW: &str = "2026-11-28T12:00:00Z";
const BUILDER: &str = "https://github.com/acme/builder/.github/workflows/build.yml@refs/tags/v1";
const SOURCE_REPO: &str = "https://github.com/acme/app";

fn fixtures() -> PathBuf {
    repo_root().join("../shared/trust-fixtures")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

fn root_for(case_dir: &str) -> TrustRoot {
    let own = fixtures().join(case_dir).join("trusted_root.json");
    let json = std::fs::read(own)
        .unwrap_or_else(|_| read("sigstore-bundles/trusted_root.production.json"));
    TrustRoot::from_json(&json).unwrap()
}

fn keyless_options(root: TrustRoot) -> VerifyOptions {
    VerifyOptions {
        trust_root: Some(root),
        certificate_identities: vec![IdentityPolicy::exact(ID, ISS)],
        ..VerifyOptions::default()
    }
}

/// The same bundle with one byte of the DSSE payload changed.
fn tampered(bundle: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bundle).unwrap();
    let payload = v["dsseEnvelope"]["payload"].as_str().unwrap();
    let mut bytes = B64.decode(payload).unwrap();
    // A byte inside the JSON, kept printable so the change is only in what was signed.
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    v["dsseEnvelope"]["payload"] = Value::String(B64.encode(bytes));
    serde_json::to_vec(&v).unwrap()
}

fn check(
    bundle: &[u8],
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<VerifiedAttestation, String> {
    let bundle = Bundle::from_json(bundle).map_err(|e| e.to_string())?;
    verify_bundle_attestation(&bundle, digest, options).map_err(|e| e.to_string())
}

#[test]
fn real_dsse_bundles_verify_as_attestations_and_tampered_copies_do_not() {
    // (case, artifact whose sha256 the statement names, predicate type, Rekor entry kind)
    let cases = [
        (
            "happy-path-intoto-in-dsse-v3",
            format!("{CONF}/a.txt"),
            "https://slsa.dev/provenance/v1",
        ),
        (
            "intoto-with-custom-trust-root",
            format!("{CONF}/intoto-with-custom-trust-root/artifact"),
            "https://slsa.dev/provenance/v1",
        ),
        (
            "rekor2-dsse-happy-path",
            format!("{CONF}/a.txt"),
            "https://slsa.dev/provenance/v1",
        ),
    ];
    for (case, artifact, predicate_type) in &cases {
        let dir = format!("{CONF}/{case}");
        let bundle = read(&format!("{dir}/bundle.sigstore.json"));
        let digest = Digest::sha256_of(&read(artifact));
        let options = keyless_options(root_for(&dir));
        let v = check(&bundle, &digest, &options).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(v.kind, "bundle-keyless", "{case}");
        assert_eq!(v.signer, ID, "{case}");
        assert_eq!(v.issuer.as_deref(), Some(ISS), "{case}");
        assert_eq!(&v.predicate_type, predicate_type, "{case}: {v:#?}");
        assert!(v.predicate.is_object(), "{case}: {v:#?}");
        assert!(
            v.subjects
                .iter()
                .any(|s| s.digest.get("sha256") == Some(&digest.hex().to_owned())),
            "{case}: {v:#?}"
        );
        // One byte of the payload changed: the signature no longer covers it.
        let err = check(&tampered(&bundle), &digest, &options).expect_err(case);
        assert!(err.contains("no DSSE signature verifies"), "{case}: {err}");
        // Another digest: the statement is not about it.
        let other = Digest::sha256_of(b"another image");
        let err = check(&bundle, &other, &options).expect_err(case);
        assert!(err.contains("digest"), "{case}: {err}");
        // Another identity: refused.
        let mut wrong = keyless_options(root_for(&dir));
        wrong.certificate_identities = vec![IdentityPolicy::exact("someone@example.com", ISS)];
        assert!(check(&bundle, &digest, &wrong).is_err(), "{case}");
    }

    // cosign v3's referrer bundle: keyed, Rekor v1 dsse entry and RFC 3161 timestamp.
    let dir = "cosign-v3-bundle-referrer";
    let bundle = read(&format!("{dir}/bundle-sigstore.json"));
    let digest: Digest = "sha256:d7d5640c741c60b47fa4b5530daa20a6469b55754a89dd42adbadadb59f9093c"
        .parse()
        .unwrap();
    let key = NamedKey::from_file(&fixtures().join(dir).join("bundle-cosign.pub")).unwrap();
    let options = VerifyOptions {
        keys: vec![key],
        trust_root: Some(root_for(dir)),
        ..VerifyOptions::default()
    };
    let v = check(&bundle, &digest, &options).unwrap();
    assert_eq!(v.kind, "bundle-key");
    assert!(v.signer.ends_with("bundle-cosign.pub"), "{v:#?}");
    assert_eq!(v.predicate_type, "https://sigstore.dev/cosign/sign/v1");
    assert_eq!(v.rekor_log_index, Some(2_440_595_631));
    let err = check(&tampered(&bundle), &digest, &options).unwrap_err();
    assert!(err.contains("no DSSE signature verifies"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// End to end, against a registry.

fn palisade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .env_remove("PALISADE_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("PALISADE_POLICY")
        .env_remove("PALISADE_ENV")
        .env_remove("PALISADE_NOW")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("palisade-attest-test-cache"),
        );
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

fn ok(args: &[&str]) -> String {
    let out = palisade(args, &[("PALISADE_PASSWORD", "pw")]);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn generate_key(dir: &Path, name: &str) -> PathBuf {
    let prefix = dir.join(name);
    ok(&[
        "key",
        "generate",
        "--output-prefix",
        prefix.to_str().unwrap(),
    ]);
    prefix
}

fn provenance(dir: &Path, builder: &str) -> PathBuf {
    let p = dir.join("provenance.json");
    let predicate = serde_json::json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {
                "workflow": {"ref": "refs/tags/v1.0", "repository": SOURCE_REPO, "path": ".github/workflows/release.yml"}
            }
        },
        "runDetails": {"builder": {"id": builder}}
    });
    std::fs::write(&p, predicate.to_string()).unwrap();
    p
}

/// A policy: images of our registry signed by `release`, and a Rego rule that wants SLSA v1
/// provenance from `builder` out of the acme/app repository.
fn policy(dir: &Path, name: &str, release: &Path, builder: &str) -> PathBuf {
    let body = format!(
        r#"version: 1
sources:
  keys:
    release: {key}
  default: deny
  rules:
    - name: testbed
      images: ["127.0.0.1:*/attest/**"]
      signers: {{ any_of: [release] }}
rules:
  - name: provenance
    rego: |
      package palisade.provenance

      built_right if {{
        some a in input.trust.attestations
        a.predicate_type == "https://slsa.dev/provenance/v1"
        a.signer == "release"
        a.predicate.runDetails.builder.id == "{builder}"
        a.predicate.buildDefinition.externalParameters.workflow.repository == "{SOURCE_REPO}"
      }}

      deny contains "no SLSA provenance signed by release from builder {builder}" if not built_right
"#,
        key = release.display(),
    );
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn gate(image: &str, policy: &Path) -> (i32, Value, String) {
    let out = palisade(
        &[
            "gate",
            image,
            "--policy",
            policy.to_str().unwrap(),
            "--now",
            NOW,
            "--format",
            "json",
        ],
        &[],
    );
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v, text(&out))
}

/// The input document the gate evaluated (`palisade gate --write-input`).
fn gate_input(image: &str, policy: &Path, dir: &Path) -> Value {
    let path = dir.join("input.json");
    let out = palisade(
        &[
            "gate",
            image,
            "--policy",
            policy.to_str().unwrap(),
            "--now",
            NOW,
            "--write-input",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(out.status.code(), Some(2), "{}", text(&out));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn deny_messages(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["effect"] == "deny")
                .map(|r| {
                    format!(
                        "{}: {}",
                        r["code"].as_str().unwrap_or(""),
                        r["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn verify_json(image: &str, key: &Path) -> Value {
    let out = palisade(
        &[
            "verify",
            image,
            "--key",
            key.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[test]
fn attestations_made_by_palisade_reach_the_policy_only_when_verified() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let release = generate_key(w, "release");
    let rogue = generate_key(w, "rogue");
    let release_pub = release.with_extension("pub");
    let prov = provenance(w, BUILDER);
    let right = policy(w, "right.yaml", &release_pub, BUILDER);
    let wrong_builder = "https://github.com/evil/builder/.github/workflows/build.yml@refs/tags/v1";
    let wrong = policy(w, "wrong.yaml", &release_pub, wrong_builder);
    let denied_right =
        format!("rego-deny: no SLSA provenance signed by release from builder {BUILDER}");
    let denied_wrong =
        format!("rego-deny: no SLSA provenance signed by release from builder {wrong_builder}");

    for (repo, layout) in [
        ("attest/att", None),
        ("attest/bundle", Some("--bundle-referrer")),
    ] {
        let digest = reg.push("base", &format!("{repo}:v1"));
        let image = format!("{}/{repo}:v1", reg.addr);
        ok(&[
            "sign",
            "--key",
            release.with_extension("key").to_str().unwrap(),
            &image,
        ]);

        // Signed, not attested yet: the rule denies, the signature itself is fine.
        let (code, v, out) = gate(&image, &right);
        assert_eq!(code, 1, "{out}");
        assert_eq!(deny_messages(&v), vec![denied_right.clone()], "{out}");

        let key = release.with_extension("key");
        let mut args = vec![
            "attest",
            "--key",
            key.to_str().unwrap(),
            "--predicate",
            prov.to_str().unwrap(),
            "--type",
            "slsaprovenance1",
            &image,
        ];
        if let Some(flag) = layout {
            args.insert(1, flag);
        }
        let said = ok(&args);
        assert!(
            said.contains(&format!("Attested {}/{repo}@{digest}", reg.addr)),
            "{said}"
        );
        if layout.is_some() {
            assert!(said.contains("fallback index"), "{said}");
        } else {
            assert!(
                said.contains(&format!("sha256-{}.att", digest.hex())),
                "{said}"
            );
        }

        // `palisade verify` lists it, with its predicate type and signer.
        let v = verify_json(&image, &release_pub);
        // The attestation is not counted as a signature of the image (only the `.sig`).
        assert_eq!(v["signatures"].as_array().unwrap().len(), 1, "{v:#}");
        let atts = v["attestations"]
            .as_array()
            .unwrap_or_else(|| panic!("{v:#}"));
        assert_eq!(atts.len(), 1, "{v:#}");
        let a = &atts[0]["verified"];
        assert_eq!(
            a["predicate_type"], "https://slsa.dev/provenance/v1",
            "{v:#}"
        );
        assert_eq!(a["signer"], release_pub.to_str().unwrap(), "{v:#}");
        assert_eq!(
            a["kind"],
            if layout.is_some() {
                "bundle-key"
            } else {
                "key"
            },
            "{v:#}"
        );
        assert_eq!(
            a["predicate"]["runDetails"]["builder"]["id"], BUILDER,
            "{v:#}"
        );
        assert_eq!(a["subjects"][0]["digest"]["sha256"], digest.hex(), "{v:#}");
        let table = ok(&["verify", &image, "--key", release_pub.to_str().unwrap()]);
        assert!(
            table.contains("Attestations:")
                && table.contains(&format!(
                    "https://slsa.dev/provenance/v1 signed by {}",
                    release_pub.display()
                )),
            "{table}"
        );
        // --type filters.
        let v = {
            let out = palisade(
                &[
                    "verify",
                    &image,
                    "--key",
                    release_pub.to_str().unwrap(),
                    "--type",
                    "cyclonedx",
                    "--format",
                    "json",
                ],
                &[],
            );
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        assert_eq!(v["attestations"], Value::Array(vec![]), "{v:#}");

        // The gate: the right builder allows, another denies with the exact reason.
        let (code, v, out) = gate(&image, &right);
        assert_eq!(code, 0, "{out}");
        assert_eq!(v["decision"], "allow", "{out}");
        let (code, v, out) = gate(&image, &wrong);
        assert_eq!(code, 1, "{out}");
        assert_eq!(deny_messages(&v), vec![denied_wrong.clone()], "{out}");
        if layout.is_none() {
            // The image and its `.att` object copied to an OCI layout (skopeo oci:DIR:TAG):
            // `verify --local-image` finds and verifies the attestation there too.
            let oci = w.join(format!("layout-{}", repo.replace('/', "-")));
            let att_tag = format!("sha256-{}.att", digest.hex());
            for (from, to) in [("v1", "v1"), (att_tag.as_str(), att_tag.as_str())] {
                let out = Command::new("skopeo")
                    .args([
                        "--insecure-policy",
                        "copy",
                        "--quiet",
                        "--src-tls-verify=false",
                        &format!("docker://{}/{repo}:{from}", reg.addr),
                        &format!("oci:{}:{to}", oci.display()),
                    ])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", text(&out));
            }
            let local = format!("{}:v1", oci.display());
            let out = palisade(
                &[
                    "verify",
                    "--local-image",
                    &local,
                    "--key",
                    release_pub.to_str().unwrap(),
                    "--format",
                    "json",
                ],
                &[],
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            assert_eq!(
                v["attestations"].as_array().map(Vec::len),
                Some(1),
                "{}",
                text(&out)
            );
            let a = &v["attestations"][0]["verified"];
            assert_eq!(
                a["predicate_type"], "https://slsa.dev/provenance/v1",
                "{v:#}"
            );
            assert_eq!(a["subjects"][0]["digest"]["sha256"], digest.hex(), "{v:#}");
        }

        // What the rule saw: the verified statement, under the policy's name for the key.
        let input = gate_input(&image, &right, w);
        let atts = input["trust"]["attestations"].as_array().unwrap();
        assert_eq!(atts.len(), 1, "{input:#}");
        assert_eq!(atts[0]["signer"], "release", "{input:#}");
        assert_eq!(atts[0]["predicate_type"], "https://slsa.dev/provenance/v1");
        assert_eq!(atts[0]["predicate"]["runDetails"]["builder"]["id"], BUILDER);
        assert_eq!(atts[0]["subjects"][0]["digest"]["sha256"], digest.hex());
    }

    // Attested with the right builder, but by a key the policy does not trust: verify shows
    // it refused, and the policy never sees it.
    let repo = "attest/rogue";
    reg.push("base", &format!("{repo}:v1"));
    let image = format!("{}/{repo}:v1", reg.addr);
    ok(&[
        "sign",
        "--key",
        release.with_extension("key").to_str().unwrap(),
        &image,
    ]);
    ok(&[
        "attest",
        "--key",
        rogue.with_extension("key").to_str().unwrap(),
        "--predicate",
        prov.to_str().unwrap(),
        "--type",
        "slsaprovenance1",
        &image,
    ]);
    let v = verify_json(&image, &release_pub);
    let atts = v["attestations"].as_array().unwrap();
    assert_eq!(atts.len(), 1, "{v:#}");
    assert!(atts[0]["verified"].is_null(), "{v:#}");
    assert!(
        atts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted key"),
        "{v:#}"
    );
    let (code, v, out) = gate(&image, &right);
    assert_eq!(code, 1, "{out}");
    assert_eq!(deny_messages(&v), vec![denied_right], "{out}");
    let input = gate_input(&image, &right, w);
    assert_eq!(
        input["trust"]["signers"],
        serde_json::json!(["release"]),
        "{input:#}"
    );
    assert_eq!(
        input["trust"]["attestations"],
        serde_json::json!([]),
        "{input:#}"
    );
}
