//! Sigstore bundle verification against every bundle fixture in `shared/trust-fixtures`
//! (sigstore-conformance cases with their expected verdicts, cosign v3 referrer bundle,
//! sigstore-rs bundle v0.3), plus attacks made by mutating them.

use std::path::PathBuf;

use palisade_trust::bundle::{Artifact, Bundle, SignerPolicy, verify_bundle};
use palisade_trust::keyless::{IdentityPolicy, Signer, VerifiedSigner};
use palisade_trust::keys::PublicKey;
use palisade_trust::sigstore_error::SigstoreError;
use palisade_trust::trust_root::TrustRoot;
use sha2::Digest as _;

fn fx(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/trust-fixtures")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fx(rel)).unwrap_or_else(|e| panic!("reading fixture {rel}: {e}"))
}

const CONF: &str = "sigstore-bundles/conformance";
const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISS: &str = "https://token.actions.githubusercontent.com";

fn production_root() -> TrustRoot {
    TrustRoot::from_json(&read("sigstore-bundles/trusted_root.production.json"))
        .expect("production trusted root")
}

/// Runs one conformance case the way its README describes.
fn run_case(case: &str) -> Result<VerifiedSigner, String> {
    let dir = fx(&format!("{CONF}/{case}"));
    let bundle_json = std::fs::read(dir.join("bundle.sigstore.json")).expect("bundle file");
    let artifact =
        std::fs::read(dir.join("artifact")).unwrap_or_else(|_| read(&format!("{CONF}/a.txt")));
    let root = match std::fs::read(dir.join("trusted_root.json")) {
        Ok(json) => TrustRoot::from_json(&json).map_err(|e| format!("trust root: {e}"))?,
        Err(_) => production_root(),
    };
    let identity = std::fs::read_to_string(dir.join("identity")).unwrap_or_else(|_| ID.to_owned());
    let issuer = std::fs::read_to_string(dir.join("issuer")).unwrap_or_else(|_| ISS.to_owned());
    let bundle = Bundle::from_json(&bundle_json).map_err(|e| format!("bundle: {e}"))?;
    match std::fs::read_to_string(dir.join("key.pub")) {
        Ok(pem) => {
            let key = PublicKey::from_pem(&pem).map_err(|e| format!("key: {e}"))?;
            verify_bundle(
                &bundle,
                Artifact::Bytes(&artifact),
                &root,
                SignerPolicy::Key(&key),
            )
            .map_err(|e| e.to_string())
        }
        Err(_) => {
            let policy = IdentityPolicy::exact(identity.trim(), issuer.trim());
            verify_bundle(
                &bundle,
                Artifact::Bytes(&artifact),
                &root,
                SignerPolicy::Identity(&policy),
            )
            .map_err(|e| e.to_string())
        }
    }
}

#[test]
fn conformance_happy_paths_verify() {
    for case in [
        "happy-path-v0.1",
        "happy-path-v0.2",
        "happy-path-v0.3",
        "happy-path-v0.3-new-mediaType",
        "happy-path-intoto-in-dsse-v3",
        "intoto-with-custom-trust-root",
        "managed-key-happy-path",
        "managed-key-and-trusted-root",
    ] {
        let v = run_case(case).unwrap_or_else(|e| panic!("{case}: expected to verify, got: {e}"));
        assert!(v.signed_at.is_some(), "{case}");
        assert!(v.log_entry.is_some(), "{case}");
        match (&v.signer, case.starts_with("managed-key")) {
            (Signer::Key { fingerprint }, true) => assert!(fingerprint.starts_with("sha256:")),
            (Signer::Certificate { identities, .. }, false) if case.starts_with("happy") => {
                assert!(identities.iter().any(|i| i == ID), "{case}: {identities:?}");
            }
            (Signer::Certificate { .. }, false) => {}
            (s, _) => panic!("{case}: unexpected signer {s:?}"),
        }
    }
}

#[test]
fn conformance_v03_details() {
    let v = run_case("happy-path-v0.3").expect("verifies");
    assert_eq!(v.signed_at, Some(1_710_869_186));
    let entry = v.log_entry.expect("entry");
    assert_eq!(entry.log_index, 79_571_823);
    assert!(entry.inclusion_proven && entry.promise_verified);
    assert_eq!(v.entry_kind.as_deref(), Some("hashedrekord 0.0.1"));
    let v = run_case("happy-path-intoto-in-dsse-v3").expect("verifies");
    assert_eq!(v.entry_kind.as_deref(), Some("dsse 0.0.1"));
    let v = run_case("intoto-with-custom-trust-root").expect("verifies");
    assert_eq!(v.entry_kind.as_deref(), Some("intoto 0.0.2"));
}

#[test]
fn conformance_negative_cases_fail_for_the_right_reason() {
    for (case, needle) in [
        ("signature-mismatch_fail", "invalid signature"),
        ("set-invalid-signature_fail", "signed entry timestamp"),
        // The body was modified after logging, so the SET over it no longer verifies.
        ("incorrect-public-key_fail", "signed entry timestamp"),
        ("bundle-with-root-cert_fail", "root certificate"),
        ("managed-key-wrong-key_fail", "key"),
    ] {
        let err = run_case(case).expect_err(case);
        assert!(err.contains(needle), "{case}: {err}");
    }
}

#[test]
fn rekor_v2_bundles_verify_with_rfc3161_time() {
    // Rekor v2 entries carry no integrated time: the time comes from the TSA timestamp, and
    // the inclusion proof is signed by an Ed25519 checkpoint.
    for case in ["rekor2-happy-path", "rekor2-dsse-happy-path"] {
        let v = run_case(case).unwrap_or_else(|e| panic!("{case}: {e}"));
        let entry = v.log_entry.expect("entry");
        assert_eq!(entry.integrated_time, None, "{case}");
        assert!(entry.inclusion_proven && !entry.promise_verified, "{case}");
        assert!(v.signed_at.is_some(), "{case}");
        assert_eq!(
            v.entry_kind.as_deref(),
            Some("hashedrekord 0.0.2"),
            "{case}"
        );
    }
}

/// Loads a conformance bundle, applies `f`, and verifies it with the case's trust root.
fn verify_case_mutated(
    case: &str,
    f: impl FnOnce(&mut serde_json::Value),
) -> Result<VerifiedSigner, SigstoreError> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&read(&format!("{CONF}/{case}/bundle.sigstore.json")))
            .expect("json");
    f(&mut v);
    let bundle = Bundle::from_json(v.to_string().as_bytes())?;
    let root =
        TrustRoot::from_json(&read(&format!("{CONF}/{case}/trusted_root.json"))).expect("root");
    let artifact = read(&format!("{CONF}/a.txt"));
    let policy = IdentityPolicy::exact(ID, ISS);
    verify_bundle(
        &bundle,
        Artifact::Bytes(&artifact),
        &root,
        SignerPolicy::Identity(&policy),
    )
}

#[test]
fn rekor_v2_attacks_are_refused() {
    verify_case_mutated("rekor2-happy-path", |_| {}).expect("baseline verifies");
    // Without the timestamp nothing proves when the short-lived certificate signed.
    let err = verify_case_mutated("rekor2-happy-path", |v| {
        v["verificationMaterial"]
            .as_object_mut()
            .expect("obj")
            .remove("timestampVerificationData");
    })
    .expect_err("no time");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("no verified time")),
        "{err}"
    );
    // A timestamp over another signature (the DSSE case's) is refused.
    let other: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{CONF}/rekor2-dsse-happy-path/bundle.sigstore.json"
    )))
    .expect("json");
    let err = verify_case_mutated("rekor2-happy-path", |v| {
        v["verificationMaterial"]["timestampVerificationData"] =
            other["verificationMaterial"]["timestampVerificationData"].clone();
    })
    .expect_err("foreign timestamp");
    assert!(
        matches!(err, SigstoreError::Signature(ref m) if m.contains("imprint")),
        "{err}"
    );
    // A forged Ed25519 checkpoint signature is refused.
    let err =
        verify_case_mutated("rekor2-happy-path", |v| {
            let e = &mut v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
                ["envelope"];
            let cp = e.as_str().expect("checkpoint").to_owned();
            let (body, sig) = cp.split_at(cp.len() - 6);
            let flipped = if sig.starts_with('A') {
                sig.replacen('A', "B", 1)
            } else {
                format!("A{}", &sig[1..])
            };
            *e = serde_json::json!(format!("{body}{flipped}"));
        })
        .expect_err("forged checkpoint");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("checkpoint")),
        "{err}"
    );
    // A corrupted timestamp token is refused as malformed, not accepted or panicking.
    let err = verify_case_mutated("rekor2-happy-path", |v| {
        v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
            serde_json::json!("MAMCAQA=");
    })
    .expect_err("garbage token");
    assert!(matches!(err, SigstoreError::Malformed { .. }), "{err}");
}

#[test]
fn conformance_case_list_is_complete() {
    // Every case directory is covered by one of the tests above.
    let known = [
        "happy-path-v0.1",
        "happy-path-v0.2",
        "happy-path-v0.3",
        "happy-path-v0.3-new-mediaType",
        "happy-path-intoto-in-dsse-v3",
        "intoto-with-custom-trust-root",
        "managed-key-happy-path",
        "managed-key-and-trusted-root",
        "signature-mismatch_fail",
        "set-invalid-signature_fail",
        "incorrect-public-key_fail",
        "bundle-with-root-cert_fail",
        "managed-key-wrong-key_fail",
        "rekor2-happy-path",
        "rekor2-dsse-happy-path",
    ];
    let mut found: Vec<String> = std::fs::read_dir(fx(CONF))
        .expect("conformance dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut known: Vec<String> = known.iter().map(|s| (*s).to_owned()).collect();
    known.sort();
    assert_eq!(found, known);
}

fn digest_hex(hex_str: &str) -> [u8; 32] {
    let v = hex::decode(hex_str).expect("hex");
    v.try_into().expect("32 bytes")
}

#[test]
fn cosign_v3_referrer_bundle_verifies_with_key_and_image_digest() {
    let bundle =
        Bundle::from_json(&read("cosign-v3-bundle-referrer/bundle-sigstore.json")).expect("bundle");
    let key = PublicKey::from_pem(
        &String::from_utf8(read("cosign-v3-bundle-referrer/bundle-cosign.pub")).expect("utf8"),
    )
    .expect("key");
    let image = digest_hex("d7d5640c741c60b47fa4b5530daa20a6469b55754a89dd42adbadadb59f9093c");
    let root = production_root();
    let v = verify_bundle(
        &bundle,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Key(&key),
    )
    .expect("verifies");
    assert_eq!(v.entry_kind.as_deref(), Some("dsse 0.0.1"));
    assert_eq!(
        v.log_entry.as_ref().map(|e| e.log_index),
        Some(2_440_595_631)
    );
    // Another image digest: the statement subject does not name it.
    let other = digest_hex("aa34dbe1aa34dbe1aa34dbe1aa34dbe1aa34dbe1aa34dbe1aa34dbe1aa34dbe1");
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&other),
        &root,
        SignerPolicy::Key(&key),
    )
    .expect_err("digest");
    assert!(matches!(err, SigstoreError::DigestMismatch { .. }), "{err}");
    // Another key.
    let wrong =
        PublicKey::from_pem(&String::from_utf8(read("cosign-classic/cosign.pub")).expect("utf8"))
            .expect("key");
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Key(&wrong),
    )
    .expect_err("key");
    assert!(matches!(err, SigstoreError::Signature(_)), "{err}");
    // Its RFC 3161 timestamp is verified too: a token for another signature is refused.
    let mut v: serde_json::Value =
        serde_json::from_slice(&read("cosign-v3-bundle-referrer/bundle-sigstore.json"))
            .expect("json");
    let other: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{CONF}/managed-key-happy-path/bundle.sigstore.json"
    )))
    .expect("json");
    v["verificationMaterial"]["timestampVerificationData"] =
        other["verificationMaterial"]["timestampVerificationData"].clone();
    let swapped = Bundle::from_json(v.to_string().as_bytes()).expect("bundle");
    assert_eq!(swapped.rfc3161_timestamps.len(), 1);
    let err = verify_bundle(
        &swapped,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Key(&key),
    )
    .expect_err("foreign timestamp");
    assert!(
        matches!(err, SigstoreError::Signature(ref m) if m.contains("imprint")),
        "{err}"
    );
    // A certificate identity cannot stand in for the key.
    let policy = IdentityPolicy::exact(ID, ISS);
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Identity(&policy),
    )
    .expect_err("policy kind");
    assert!(matches!(err, SigstoreError::Policy(_)), "{err}");
}

const KUBEWARDEN: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

#[test]
fn sigstore_rs_bundle_v03_verifies_keyless() {
    let bundle =
        Bundle::from_json(&read("sigstore-bundles/sigstore-rs/bundle_v03.json")).expect("bundle");
    let image = digest_hex("c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172");
    let root = production_root();
    let policy = IdentityPolicy::exact(KUBEWARDEN, ISS);
    let v = verify_bundle(
        &bundle,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Identity(&policy),
    )
    .expect("verifies");
    match &v.signer {
        Signer::Certificate {
            identities, issuer, ..
        } => {
            assert_eq!(identities, &vec![KUBEWARDEN.to_owned()]);
            assert_eq!(issuer.as_deref(), Some(ISS));
        }
        s => panic!("unexpected signer {s:?}"),
    }
    let wrong = IdentityPolicy::exact(
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.33.0",
        ISS,
    );
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Identity(&wrong),
    )
    .expect_err("wrong SAN");
    assert!(
        matches!(err, SigstoreError::IdentityMismatch { .. }),
        "{err}"
    );
    let wrong_issuer = IdentityPolicy::exact(KUBEWARDEN, "https://accounts.google.com");
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&image),
        &root,
        SignerPolicy::Identity(&wrong_issuer),
    )
    .expect_err("wrong issuer");
    assert!(matches!(err, SigstoreError::IssuerMismatch { .. }), "{err}");
    let other = digest_hex("0000000000000000000000000000000000000000000000000000000000000000");
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&other),
        &root,
        SignerPolicy::Identity(&policy),
    )
    .expect_err("digest");
    assert!(matches!(err, SigstoreError::DigestMismatch { .. }), "{err}");
}

/// Loads the happy v0.3 bundle JSON, applies `f`, and verifies it as the README says.
fn verify_mutated(f: impl FnOnce(&mut serde_json::Value)) -> Result<VerifiedSigner, SigstoreError> {
    let mut v: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{CONF}/happy-path-v0.3/bundle.sigstore.json"
    )))
    .expect("json");
    f(&mut v);
    let bundle = Bundle::from_json(v.to_string().as_bytes())?;
    let artifact = read(&format!("{CONF}/a.txt"));
    let policy = IdentityPolicy::exact(ID, ISS);
    verify_bundle(
        &bundle,
        Artifact::Bytes(&artifact),
        &production_root(),
        SignerPolicy::Identity(&policy),
    )
}

fn entry(v: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut v["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn mutation_baseline_verifies() {
    verify_mutated(|_| {}).expect("unchanged bundle verifies");
}

#[test]
fn tampered_inclusion_proof_is_refused() {
    let err = verify_mutated(|v| {
        entry(v)["inclusionProof"]["hashes"][3] =
            serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    })
    .expect_err("bad sibling hash");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("inclusion proof")),
        "{err}"
    );
    let err = verify_mutated(|v| {
        let hashes = entry(v)["inclusionProof"]["hashes"]
            .as_array_mut()
            .expect("array");
        hashes.pop();
    })
    .expect_err("short proof");
    assert!(matches!(err, SigstoreError::Tlog(_)), "{err}");
    let err = verify_mutated(|v| {
        entry(v)["inclusionProof"]["logIndex"] = serde_json::json!("75408391");
    })
    .expect_err("wrong leaf index");
    assert!(matches!(err, SigstoreError::Tlog(_)), "{err}");
}

#[test]
fn integrated_time_needs_the_set_and_checkpoints_must_verify() {
    // Without the promise, the inclusion proof still verifies, but nothing signs the
    // integrated time and the bundle has no timestamp: refused.
    let err = verify_mutated(|v| {
        entry(v)
            .as_object_mut()
            .expect("obj")
            .remove("inclusionPromise");
    })
    .expect_err("unsigned time");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("no verified time")),
        "{err}"
    );
    // A checkpoint that does not match the proof is refused even with a valid SET.
    let err = verify_mutated(|v| {
        let cp = entry(v)["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .expect("checkpoint")
            .replace("75408393", "75408394");
        entry(v)["inclusionProof"]["checkpoint"]["envelope"] = serde_json::json!(cp);
    })
    .expect_err("checkpoint mismatch");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("checkpoint")),
        "{err}"
    );
    // And neither promise nor proof: refused.
    let err = verify_mutated(|v| {
        let e = entry(v).as_object_mut().expect("obj");
        e.remove("inclusionPromise");
        e.remove("inclusionProof");
    })
    .expect_err("no evidence");
    assert!(matches!(err, SigstoreError::Tlog(_)), "{err}");
}

#[test]
fn set_from_another_log_is_refused() {
    let err = verify_mutated(|v| {
        // The CT log's key ID: a key the trust root has, but not as a Rekor log.
        entry(v)["logId"]["keyId"] =
            serde_json::json!("3T0wasbHETJjGR4cmWc3AqJKXrjePK3/h4pygC8p7o4=");
    })
    .expect_err("unknown log");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("not in the trust root")),
        "{err}"
    );
}

#[test]
fn tampered_integrated_time_is_refused() {
    let err = verify_mutated(|v| entry(v)["integratedTime"] = serde_json::json!("1710869000"))
        .expect_err("time is signed");
    assert!(matches!(err, SigstoreError::Tlog(_)), "{err}");
}

#[test]
fn other_artifact_is_refused() {
    let mut v: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{CONF}/happy-path-v0.3/bundle.sigstore.json"
    )))
    .expect("json");
    v["messageSignature"]
        .as_object_mut()
        .expect("obj")
        .remove("messageDigest");
    let bundle = Bundle::from_json(v.to_string().as_bytes()).expect("bundle");
    let policy = IdentityPolicy::exact(ID, ISS);
    let digest: [u8; 32] = sha2::Sha256::digest(b"another artifact").into();
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&digest),
        &production_root(),
        SignerPolicy::Identity(&policy),
    )
    .expect_err("other artifact");
    assert!(
        matches!(
            err,
            SigstoreError::Signature(_) | SigstoreError::EntryMismatch(_)
        ),
        "{err}"
    );
    // With messageDigest present the mismatch is named before any signature check.
    let bundle = Bundle::from_json(&read(&format!(
        "{CONF}/happy-path-v0.3/bundle.sigstore.json"
    )))
    .expect("bundle");
    let err = verify_bundle(
        &bundle,
        Artifact::Sha256(&digest),
        &production_root(),
        SignerPolicy::Identity(&policy),
    )
    .expect_err("other artifact");
    assert!(matches!(err, SigstoreError::DigestMismatch { .. }), "{err}");
}

#[test]
fn malformed_bundles_are_refused() {
    for (what, json) in [
        ("not json", "{".to_owned()),
        ("unknown media type", r#"{"mediaType":"application/x","verificationMaterial":{}}"#.to_owned()),
        (
            "no material",
            r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"messageSignature":{"signature":"AA=="}}"#
                .to_owned(),
        ),
        (
            "bad certificate base64",
            r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"@@"}},"messageSignature":{"signature":"AA=="}}"#
                .to_owned(),
        ),
        (
            "bad certificate DER",
            r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"MIIBAAAA"}},"messageSignature":{"signature":"AA=="}}"#
                .to_owned(),
        ),
    ] {
        let err = Bundle::from_json(json.as_bytes()).expect_err(what);
        assert!(
            matches!(err, SigstoreError::Malformed { .. } | SigstoreError::Unsupported { .. }),
            "{what}: {err}"
        );
    }
    let huge = vec![b' '; palisade_trust::bundle::MAX_BUNDLE_BYTES + 1];
    assert!(matches!(
        Bundle::from_json(&huge),
        Err(SigstoreError::TooLarge { .. })
    ));
    // Bad base64 inside a DSSE signature and in the tlog body.
    let err = verify_mutated(|v| entry(v)["canonicalizedBody"] = serde_json::json!("!!!"))
        .expect_err("body");
    assert!(matches!(err, SigstoreError::Malformed { .. }), "{err}");
}

#[test]
fn trusted_roots_parse() {
    let root = production_root();
    assert_eq!(root.tlogs().len(), 2);
    assert_eq!(root.certificate_authorities().len(), 2);
    assert_eq!(root.ctlogs().len(), 2);
    assert_eq!(root.timestamp_authorities().len(), 1);
    assert_eq!(
        root.tlogs()[0].log_id_hex(),
        "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
    );
    for case in [
        "intoto-with-custom-trust-root",
        "managed-key-and-trusted-root",
        "rekor2-happy-path",
        "rekor2-dsse-happy-path",
    ] {
        TrustRoot::from_json(&read(&format!("{CONF}/{case}/trusted_root.json")))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    assert!(TrustRoot::from_json(br#"{"mediaType":"application/x"}"#).is_err());
    assert!(TrustRoot::from_json(br#"{"tlogs":[{"publicKey":{"rawBytes":"AAAA"}}]}"#).is_err());
}

#[test]
fn corrupted_bundles_never_panic() {
    let artifact = read(&format!("{CONF}/a.txt"));
    let policy = IdentityPolicy::exact(ID, ISS);
    let root = production_root();
    let original = read(&format!("{CONF}/happy-path-v0.3/bundle.sigstore.json"));
    let mut accepted_changes = 0;
    for i in (0..original.len()).step_by(89) {
        let mut bytes = original.clone();
        bytes[i] ^= 0x04;
        if let Ok(bundle) = Bundle::from_json(&bytes)
            && verify_bundle(
                &bundle,
                Artifact::Bytes(&artifact),
                &root,
                SignerPolicy::Identity(&policy),
            )
            .is_ok()
        {
            accepted_changes += 1;
        }
    }
    // Flipping a bit in signed material must not verify; only bytes outside it (JSON
    // whitespace, ignored fields such as the checkpoint's trailing text) may.
    assert!(
        accepted_changes < 5,
        "{accepted_changes} corrupted bundles verified"
    );

    // The same for the RFC 3161 token of a Rekor v2 bundle.
    let json: serde_json::Value = serde_json::from_slice(&read(&format!(
        "{CONF}/rekor2-happy-path/bundle.sigstore.json"
    )))
    .expect("json");
    let token_b64 = json["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        [0]["signedTimestamp"]
        .as_str()
        .expect("token")
        .to_owned();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD
        .decode(token_b64)
        .expect("b64");
    let root2 = TrustRoot::from_json(&read(&format!(
        "{CONF}/rekor2-happy-path/trusted_root.json"
    )))
    .expect("root");
    let sig = base64::engine::general_purpose::STANDARD
        .decode(json["messageSignature"]["signature"].as_str().expect("sig"))
        .expect("b64");
    palisade_trust::rfc3161::verify_timestamp(&token, &sig, &root2).expect("token verifies");
    for i in (0..token.len()).step_by(11) {
        let mut t = token.clone();
        t[i] ^= 0x01;
        let _ = palisade_trust::rfc3161::verify_timestamp(&t, &sig, &root2);
    }
    for cut in (0..token.len()).step_by(5) {
        assert!(palisade_trust::rfc3161::verify_timestamp(&token[..cut], &sig, &root2).is_err());
    }
}
