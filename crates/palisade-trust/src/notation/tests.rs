//! Notation against the real fixtures in `../shared/trust-fixtures/notation` (read in place),
//! and the trust-policy level table on signatures made here.

use std::path::{Path, PathBuf};

use super::envelope::{Envelope, Format, TargetArtifact};
use super::policy::{Level, TrustPolicy, TrustStore};
use super::verify::{Target, verify_envelope};
use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/trust-fixtures/notation")
}

/// A trust store in a temp dir with `certs` as `x509/<kind>/<name>/<file>`.
fn store(entries: &[(&str, &str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (kind, name, cert) in entries {
        let d = dir.path().join("x509").join(kind).join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(cert, d.join(cert.file_name().unwrap())).unwrap();
    }
    dir
}

fn policy(level: &str, extra: &str, stores: &str) -> TrustPolicy {
    let doc = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"test","registryScopes":["*"],
        "signatureVerification":{{"level":"{level}"{extra}}},"trustStores":[{stores}],
        "trustedIdentities":["*"]}}]}}"#
    );
    TrustPolicy::from_json(doc.as_bytes()).unwrap()
}

const NOW: i64 = 1_780_000_000; // 2026-05-28

#[test]
fn local_layout_jws_and_cose_verify_with_their_certificate() {
    let dir = fixtures().join("notation-go-local-layout");
    let cert = dir.join("signing-cert-selfsigned-alpine.pem");
    let st = store(&[("ca", "alpine", &cert)]);
    let p = policy("strict", "", r#""ca:alpine""#);
    let manifest = std::fs::read(dir.join("image-manifest.json")).unwrap();
    let target = Target {
        digest: palisade_image::Digest::sha256_of(&manifest).to_string(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: manifest.len() as u64,
    };
    assert_eq!(
        target.digest,
        "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"
    );
    for (file, format) in [
        ("jws_signature.sig", Format::Jws),
        ("cose_signature.sig", Format::Cose),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let env = Envelope::parse(format, &bytes).unwrap();
        assert_eq!(env.alg.name(), "PS256");
        assert_eq!(env.signing_agent.as_deref(), Some("Notation/1.0.0"));
        let mut notes = Vec::new();
        let o = verify_envelope(
            format,
            &bytes,
            &target,
            &p.statements[0],
            &TrustStore::new(st.path()),
            NOW,
            &mut notes,
        );
        assert!(o.verified, "{file}: {o:#?}");
        assert!(o.steps.iter().all(|s| s.result == "passed"), "{o:#?}");
        assert_eq!(
            o.signer.as_deref(),
            Some("CN=alpine,O=Notary,L=Seattle,ST=WA,C=US")
        );

        // The same signature for another artifact, or a flipped payload byte, fails integrity.
        let mut other = target.clone();
        other.size += 1;
        let o = verify_envelope(
            format,
            &bytes,
            &other,
            &p.statements[0],
            &TrustStore::new(st.path()),
            NOW,
            &mut notes,
        );
        assert!(!o.verified);
        assert!(
            o.failure
                .as_deref()
                .unwrap()
                .starts_with("integrity: signed size 481"),
            "{o:#?}"
        );
    }
    // A tampered JWS signature.
    let mut jws: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("jws_signature.sig")).unwrap()).unwrap();
    let sig = jws["signature"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    jws["signature"] = format!("{flipped}{}", &sig[1..]).into();
    let e = Envelope::parse(Format::Jws, &serde_json::to_vec(&jws).unwrap())
        .unwrap()
        .verify_integrity()
        .unwrap_err();
    assert_eq!(e, "PS256 signature does not verify");
}

#[test]
fn timestamped_jws_and_cose_verify_with_the_globalsign_tsa_root() {
    let dir = fixtures().join("notation-go-timestamped");
    let ca = dir.join("truststore-ca-TestTimestamp.crt");
    let tsa = dir.join("truststore-tsa-globalsignRoot-R6.cer");
    let st = store(&[("ca", "ts", &ca), ("tsa", "gs", &tsa)]);
    let target = Target {
        digest: "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda".into(),
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        size: 528,
    };
    let skip_revocation = policy(
        "strict",
        r#","override":{"revocation":"skip"}"#,
        r#""ca:ts","tsa:gs""#,
    );
    let strict = policy("strict", "", r#""ca:ts","tsa:gs""#);
    let permissive = policy("permissive", "", r#""ca:ts","tsa:gs""#);
    // genTime as `openssl ts -reply -token_in -text` prints it: 06:29:37Z and 06:27:16Z.
    for (file, format, gen_time) in [
        ("jwsWithTimestamp.sig", Format::Jws, 1_718_692_177),
        ("coseWithTimestamp.sig", Format::Cose, 1_718_692_036),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let mut notes = Vec::new();
        let run = |p: &TrustPolicy, notes: &mut Vec<String>| {
            verify_envelope(
                format,
                &bytes,
                &target,
                &p.statements[0],
                &TrustStore::new(st.path()),
                NOW,
                notes,
            )
        };
        let o = run(&skip_revocation, &mut notes);
        assert!(o.verified, "{file}: {o:#?}");
        assert_eq!(o.authentic_time, Some(gen_time), "{o:#?}");
        let ts = o
            .steps
            .iter()
            .find(|s| s.name == "authenticTimestamp")
            .unwrap();
        assert!(
            ts.detail
                .contains("Globalsign TSA for Advanced - G4 - 202311"),
            "{ts:?}"
        );
        assert_eq!(o.steps.last().unwrap().result, "skipped");

        // Strict enforces revocation, which cannot be determined offline for GlobalSign's
        // chain (it names OCSP responders): refused, with the reason.
        let o = run(&strict, &mut notes);
        assert!(!o.verified);
        let f = o.failure.unwrap();
        assert!(
            f.starts_with("revocation: revocation status of timestamp authority certificate"),
            "{f}"
        );
        assert!(f.contains("OCSP"), "{f}");
        // Permissive logs it.
        let o = run(&permissive, &mut notes);
        assert!(o.verified, "{o:#?}");
        assert_eq!(
            o.logged().map(|s| s.name).collect::<Vec<_>>(),
            ["revocation"]
        );
    }
    // verifyTimestamp afterCertExpiry: while the chain is valid the token is not needed (and
    // not read), so the signature without one passes; once a certificate has expired it is.
    let after = policy(
        "strict",
        r#","verifyTimestamp":"afterCertExpiry","override":{"revocation":"skip"}"#,
        r#""ca:ts","tsa:gs""#,
    );
    let without = std::fs::read(dir.join("withoutTimestamp.sig")).unwrap();
    let o = verify_envelope(
        Format::Jws,
        &without,
        &target,
        &after.statements[0],
        &TrustStore::new(st.path()),
        NOW,
        &mut Vec::new(),
    );
    assert!(o.verified, "{o:#?}");
    let ts = o
        .steps
        .iter()
        .find(|s| s.name == "authenticTimestamp")
        .unwrap();
    assert!(
        ts.detail
            .contains("afterCertExpiry and no certificate has expired"),
        "{ts:?}"
    );
    let after_expiry = 2_000_000_000; // 2033-05-18, after the leaf's notAfter (2033-05-10)
    let o = verify_envelope(
        Format::Jws,
        &without,
        &target,
        &after.statements[0],
        &TrustStore::new(st.path()),
        after_expiry,
        &mut Vec::new(),
    );
    assert!(
        o.failure
            .as_deref()
            .unwrap()
            .contains("no timestamp countersignature"),
        "{o:#?}"
    );
    let with = std::fs::read(dir.join("jwsWithTimestamp.sig")).unwrap();
    let o = verify_envelope(
        Format::Jws,
        &with,
        &target,
        &after.statements[0],
        &TrustStore::new(st.path()),
        after_expiry,
        &mut Vec::new(),
    );
    assert!(
        o.verified,
        "an expired chain is fine when the timestamp proves it was valid: {o:#?}"
    );

    // Without a timestamp, a policy that verifies timestamps fails authentic timestamp.
    let bytes = std::fs::read(dir.join("withoutTimestamp.sig")).unwrap();
    let o = verify_envelope(
        Format::Jws,
        &bytes,
        &target,
        &skip_revocation.statements[0],
        &TrustStore::new(st.path()),
        NOW,
        &mut Vec::new(),
    );
    assert_eq!(
        o.failure.as_deref(),
        Some(
            "authenticTimestamp: the policy verifies timestamps but the signature has no \
             timestamp countersignature"
        )
    );
    // A TSA store that does not hold GlobalSign's root: the timestamp is untrusted.
    let other = store(&[("ca", "ts", &ca), ("tsa", "gs", &ca)]);
    let bytes = std::fs::read(dir.join("jwsWithTimestamp.sig")).unwrap();
    let o = verify_envelope(
        Format::Jws,
        &bytes,
        &target,
        &skip_revocation.statements[0],
        &TrustStore::new(other.path()),
        NOW,
        &mut Vec::new(),
    );
    assert!(!o.verified);
    assert!(
        o.failure
            .as_deref()
            .unwrap()
            .starts_with("authenticTimestamp: timestamp countersignature"),
        "{o:#?}"
    );
}

fn e2e() -> PathBuf {
    fixtures().join("notation-cli-e2e")
}

fn e2e_verifier(policy_file: &str) -> (Verifier, tempfile::TempDir) {
    let st = store(&[("ca", "e2e", &e2e().join("truststore-ca-e2e.crt"))]);
    let v = Verifier::from_files(
        "e2e",
        &e2e().join("trustpolicies").join(policy_file),
        st.path(),
    )
    .unwrap();
    (v, st)
}

#[test]
fn e2e_layout_trusted_and_untrusted_signatures_under_the_e2e_policies() {
    let layout = e2e().join("oci-layout-e2e-valid-multiple-signatures");
    let trusted = "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f";
    let untrusted = "sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf";
    let run = |file: &str| {
        let (v, _st) = e2e_verifier(file);
        verify_layout(&layout, Some("v1"), None, &v, NOW).unwrap()
    };
    let by_source = |r: &Verification, d: &str| {
        r.signatures
            .iter()
            .find(|s| s.source.contains(d))
            .cloned()
            .unwrap()
    };
    // strict, scope "*", ca:e2e, any identity.
    let r = run("trustpolicy.json");
    assert!(r.verified, "{r:#?}");
    assert_eq!(
        r.digest,
        "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9"
    );
    assert_eq!(r.signatures.len(), 2, "{r:#?}");
    let ok = by_source(&r, trusted).verified.unwrap();
    assert_eq!(ok.kind, "notation-jws");
    assert_eq!(ok.signer, "e2e (CN=e2e,O=Notary,L=Seattle,ST=WA,C=US)");
    assert!(ok.key_fingerprint.starts_with("sha256:e38aea13"), "{ok:?}");
    let bad = by_source(&r, untrusted);
    assert!(bad.verified.is_none());
    let reason = bad.reason.unwrap();
    assert!(
        reason.contains("authenticity: no certificate of the chain is in the trust store"),
        "{reason}"
    );

    // The identity the e2e suite trusts, by subject.
    let r = run("valid_trusted_identity_trustpolicy.json");
    assert!(by_source(&r, trusted).verified.is_some(), "{r:#?}");

    // permissive: authenticity is still enforced.
    let r = run("permissive_trustpolicy.json");
    assert!(by_source(&r, trusted).verified.is_some());
    assert!(by_source(&r, untrusted).verified.is_none());

    // audit: authenticity (and the expired certificate) only logged: both pass, logged.
    let r = run("audit_trustpolicy.json");
    assert!(by_source(&r, untrusted).verified.is_some(), "{r:#?}");
    assert!(
        r.notes.iter().any(
            |n| n.contains(untrusted) && n.contains("authenticity failed, logged not enforced")
        ),
        "{:#?}",
        r.notes
    );
    assert!(
        r.notes.iter().any(|n| n.contains(untrusted)
            && n.contains("authenticTimestamp failed, logged not enforced")
            && n.contains("CN=testcert11")),
        "{:#?}",
        r.notes
    );

    // strict with everything but integrity overridden to log.
    let r = run("override_strict_trustpolicy.json");
    assert!(by_source(&r, untrusted).verified.is_some(), "{r:#?}");

    // Scoped to other repositories: no statement applies to a layout without a scope.
    let r = run("multiple_registry_scope_trustpolicy.json");
    assert!(!r.verified);
    assert!(r.signatures.is_empty());
    assert!(
        r.notes.iter().any(|n| n.contains("no statement")),
        "{:#?}",
        r.notes
    );
    // ... and applies with the right scope.
    let (v, _st) = e2e_verifier("multiple_registry_scope_trustpolicy.json");
    let r = verify_layout(
        &layout,
        Some("v1"),
        Some("localhost:5000/test-repo2"),
        &v,
        NOW,
    )
    .unwrap();
    assert!(r.verified, "{r:#?}");

    // The spec forbids `skip` on the global scope, which the e2e skip policy uses.
    let st = store(&[("ca", "e2e", &e2e().join("truststore-ca-e2e.crt"))]);
    let e = Verifier::from_files(
        "skip",
        &e2e().join("trustpolicies/skip_trustpolicy.json"),
        st.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("level skip cannot be used with the global scope"),
        "{e}"
    );
    // The blob policy is not an OCI policy (no registryScopes).
    let e = Verifier::from_files(
        "blob",
        &e2e().join("trustpolicies/trustpolicy.blob.json"),
        st.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("registryScopes is required") || e.contains("unknown field"),
        "{e}"
    );
}

#[test]
fn e2e_timestamp_policy_needs_a_timestamp() {
    let layout = e2e().join("oci-layout-e2e-valid-multiple-signatures");
    let st = store(&[
        ("ca", "e2e", &e2e().join("truststore-ca-e2e.crt")),
        (
            "tsa",
            "e2e",
            &fixtures().join("notation-go-timestamped/truststore-tsa-globalsignRoot-R6.cer"),
        ),
    ]);
    let v = Verifier::from_files(
        "ts",
        &e2e().join("trustpolicies/timestamp_trustpolicy.json"),
        st.path(),
    )
    .unwrap();
    let r = verify_layout(&layout, Some("v1"), None, &v, NOW).unwrap();
    assert!(!r.verified, "{r:#?}");
    assert!(
        r.signatures
            .iter()
            .all(|s| s.reason.as_deref().is_some_and(
                |x| x.contains("authenticity") || x.contains("no timestamp countersignature")
            ))
    );
}

// ---------------------------------------------------------------------------------------------
// The level table, on signatures made here with openssl-generated certificates.

struct Made {
    _dir: tempfile::TempDir,
    key: crate::keys::PrivateKey,
    chain: Vec<crate::x509::Cert>,
    cert_path: PathBuf,
    other_cert: PathBuf,
    not_after: i64,
}

fn openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_cert(crl: bool) -> Made {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mk = |name: &str, extra: &[&str]| {
        let key = d.join(format!("{name}.key"));
        let crt = d.join(format!("{name}.crt"));
        let mut args = vec![
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            crt.to_str().unwrap(),
            "-days",
            "30",
            "-subj",
            "/C=US/ST=WA/O=Palisade Test/CN=signer",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-addext",
            "extendedKeyUsage=codeSigning",
            "-addext",
            "basicConstraints=CA:FALSE",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        openssl(&args.iter().map(String::as_str).collect::<Vec<_>>());
        (key, crt)
    };
    let extra: &[&str] = if crl {
        &[
            "-addext",
            "crlDistributionPoints=URI:http://crl.example/test.crl",
        ]
    } else {
        &[]
    };
    let (key, crt) = mk("signer", extra);
    let (_, other) = mk("other", &[]);
    let key =
        crate::keys::PrivateKey::from_pem(&std::fs::read_to_string(&key).unwrap(), b"", "test key")
            .unwrap();
    let chain = crate::x509::Cert::from_pem_chain(&std::fs::read(&crt).unwrap()).unwrap();
    let not_after = chain[0].not_after();
    Made {
        _dir: dir,
        key,
        chain,
        cert_path: crt,
        other_cert: other,
        not_after,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    None,
    Integrity,
    Authenticity,
    Expiry,
    AuthenticTimestamp,
    Revocation,
}

#[test]
fn level_table_per_failure_kind() {
    use Failure::*;
    let plain = make_cert(false);
    let with_crl = make_cert(true);
    let target = TargetArtifact {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        size: 1234,
        artifact_type: Option::None,
        annotations: Default::default(),
    };
    let t = Target {
        digest: target.digest.clone(),
        media_type: target.media_type.clone(),
        size: target.size,
    };
    let signed_at = plain.chain[0].not_before() + 60;
    // (level, failure) -> verified, per the specification's table:
    //              integrity authenticity authTimestamp expiry revocation
    //  strict      enforce   enforce      enforce       enforce enforce
    //  permissive  enforce   enforce      log           log     log
    //  audit       enforce   log          log           log     log
    //  skip        (nothing is verified; the spec accepts, Palisade says not verified)
    let table: &[(&str, [(Failure, bool); 6])] = &[
        (
            "strict",
            [
                (None, true),
                (Integrity, false),
                (Authenticity, false),
                (Expiry, false),
                (AuthenticTimestamp, false),
                (Revocation, false),
            ],
        ),
        (
            "permissive",
            [
                (None, true),
                (Integrity, false),
                (Authenticity, false),
                (Expiry, true),
                (AuthenticTimestamp, true),
                (Revocation, true),
            ],
        ),
        (
            "audit",
            [
                (None, true),
                (Integrity, false),
                (Authenticity, true),
                (Expiry, true),
                (AuthenticTimestamp, true),
                (Revocation, true),
            ],
        ),
        // The specification accepts the artifact unverified; Palisade reports it not verified
        // (accepting unsigned images is a source rule without signers).
        (
            "skip",
            [
                (None, false),
                (Integrity, false),
                (Authenticity, false),
                (Expiry, false),
                (AuthenticTimestamp, false),
                (Revocation, false),
            ],
        ),
    ];
    for (level, row) in table {
        for (failure, expected) in row {
            let made = if *failure == Revocation {
                &with_crl
            } else {
                &plain
            };
            let expiry = (*failure == Expiry).then_some(signed_at + 3600);
            let bytes = sign::sign_envelope(
                &made.key,
                &made.chain,
                &target,
                Format::Jws,
                signed_at,
                expiry,
            )
            .unwrap();
            let trusted = if *failure == Authenticity {
                &made.other_cert
            } else {
                &made.cert_path
            };
            let st = store(&[("ca", "test", trusted)]);
            let now = match failure {
                AuthenticTimestamp => made.not_after + 86_400,
                _ => signed_at + 7200,
            };
            let mut target_seen = t.clone();
            if *failure == Integrity {
                target_seen.digest = format!("sha256:{}", "cd".repeat(32));
            }
            let doc = format!(
                r#"{{"version":"1.0","trustPolicies":[
                {{"name":"skipped","registryScopes":["r.example/unsigned/app"],"signatureVerification":{{"level":"skip"}}}},
                {{"name":"test","registryScopes":["*"],"signatureVerification":{{"level":"{}"}},"trustStores":["ca:test"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=Palisade Test"]}}]}}"#,
                if *level == "skip" { "strict" } else { level }
            );
            let p = TrustPolicy::from_json(doc.as_bytes()).unwrap();
            let scope = (*level == "skip").then_some("r.example/unsigned/app");
            let statement = p.statement_for(scope).unwrap();
            let verified = if statement.level == Level::Skip {
                let v = Verifier {
                    name: "t".into(),
                    policy: p.clone(),
                    store: TrustStore::new(st.path()),
                };
                let r = verify_artifacts(
                    &[],
                    Vec::new(),
                    &|_, _| unreachable!(),
                    &target_seen,
                    scope,
                    &v,
                    now,
                    "x".into(),
                );
                assert!(r.notes[0].contains("level skip"), "{r:#?}");
                r.verified
            } else {
                let o = verify_envelope(
                    Format::Jws,
                    &bytes,
                    &target_seen,
                    statement,
                    &TrustStore::new(st.path()),
                    now,
                    &mut Vec::new(),
                );
                // The failing step is the one the failure kind targets.
                let step = match failure {
                    None => Option::None,
                    Integrity => Some("integrity"),
                    Authenticity => Some("authenticity"),
                    Expiry => Some("expiry"),
                    AuthenticTimestamp => Some("authenticTimestamp"),
                    Revocation => Some("revocation"),
                };
                if let Some(step) = step {
                    let s = o
                        .steps
                        .iter()
                        .find(|s| s.name == step)
                        .unwrap_or_else(|| panic!("{level} {failure:?}: {o:#?}"));
                    assert!(
                        s.result == "failed" || s.result == "logged",
                        "{level} {failure:?}: {o:#?}"
                    );
                    assert_eq!(
                        o.steps
                            .iter()
                            .filter(|s| s.result == "failed" || s.result == "logged")
                            .count(),
                        1,
                        "{level} {failure:?}: {o:#?}"
                    );
                } else {
                    assert!(o.steps.iter().all(|s| s.result == "passed"), "{o:#?}");
                }
                o.verified
            };
            assert_eq!(verified, *expected, "level {level}, failure {failure:?}");
        }
    }
}

#[test]
fn produced_cose_and_jws_envelopes_meet_the_spec_headers() {
    let made = make_cert(false);
    let target = TargetArtifact {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        size: 10,
        artifact_type: None,
        annotations: Default::default(),
    };
    let at = made.chain[0].not_before() + 10;
    for format in [Format::Jws, Format::Cose] {
        let bytes = sign::sign_envelope(&made.key, &made.chain, &target, format, at, Some(at + 99))
            .unwrap();
        let env = Envelope::parse(format, &bytes).unwrap();
        assert_eq!(env.alg.name(), "ES256");
        assert_eq!(env.signing_time, Some(at));
        assert_eq!(env.expiry, Some(at + 99));
        assert_eq!(env.certs.len(), 1);
        assert_eq!(env.signing_agent.as_deref(), Some(sign::SIGNING_AGENT));
        let payload = env.verify_integrity().unwrap();
        assert_eq!(payload.target_artifact, target);
    }
    // An unknown critical header is refused.
    let bytes =
        sign::sign_envelope(&made.key, &made.chain, &target, Format::Jws, at, None).unwrap();
    let mut jws: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut prot: serde_json::Value =
        serde_json::from_slice(&b64.decode(jws["protected"].as_str().unwrap()).unwrap()).unwrap();
    prot["crit"]
        .as_array_mut()
        .unwrap()
        .push("io.example.new".into());
    prot["io.example.new"] = "x".into();
    jws["protected"] = b64.encode(serde_json::to_vec(&prot).unwrap()).into();
    let e = Envelope::parse(Format::Jws, &serde_json::to_vec(&jws).unwrap()).unwrap_err();
    assert!(
        e.contains("unknown critical header \"io.example.new\""),
        "{e}"
    );
}

#[test]
fn es512_jws_made_with_openssl_verifies() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, crt) = (d.join("p521.key"), d.join("p521.crt"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-sha512",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        crt.to_str().unwrap(),
        "-days",
        "30",
        "-subj",
        "/C=US/ST=WA/O=Palisade Test/CN=p521",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "basicConstraints=CA:FALSE",
    ]);
    let leaf = crate::x509::Cert::from_pem_chain(&std::fs::read(&crt).unwrap()).unwrap();
    let at = leaf[0].not_before() + 5;
    let b64u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let prot = serde_json::json!({
        "alg": "ES512",
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": palisade_image::Timestamp::from_unix_seconds(at).unwrap().to_string(),
    });
    let digest = format!("sha256:{}", "ef".repeat(32));
    let payload = serde_json::json!({"targetArtifact": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 7}});
    let (p64, b64p) = (
        b64u.encode(serde_json::to_vec(&prot).unwrap()),
        b64u.encode(serde_json::to_vec(&payload).unwrap()),
    );
    std::fs::write(d.join("input"), format!("{p64}.{b64p}")).unwrap();
    openssl(&[
        "dgst",
        "-sha512",
        "-sign",
        key.to_str().unwrap(),
        "-out",
        d.join("sig.der").to_str().unwrap(),
        d.join("input").to_str().unwrap(),
    ]);
    let der_sig = std::fs::read(d.join("sig.der")).unwrap();
    let raw = p521::ecdsa::Signature::from_der(&der_sig)
        .unwrap()
        .to_bytes()
        .to_vec();
    let x5c = base64::engine::general_purpose::STANDARD.encode(leaf[0].der());
    let env = |sig: &[u8]| {
        serde_json::to_vec(&serde_json::json!({
            "payload": b64p, "protected": p64, "header": {"x5c": [x5c]},
            "signature": b64u.encode(sig)}))
        .unwrap()
    };
    let st = store(&[("ca", "p521", &crt)]);
    let p = policy("strict", "", r#""ca:p521""#);
    let target = Target {
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 7,
    };
    let run = |bytes: &[u8]| {
        verify_envelope(
            Format::Jws,
            bytes,
            &target,
            &p.statements[0],
            &TrustStore::new(st.path()),
            at + 60,
            &mut Vec::new(),
        )
    };
    let o = run(&env(&raw));
    assert!(o.verified, "{o:#?}");
    assert!(
        o.steps[0]
            .detail
            .starts_with("JWS ES512 signature by CN=p521"),
        "{o:#?}"
    );
    let mut bad = raw.clone();
    bad[10] ^= 1;
    assert_eq!(
        run(&env(&bad)).failure.as_deref(),
        Some("integrity: ES512 signature does not verify")
    );
}

#[test]
fn signing_authority_scheme_needs_a_signing_authority_store() {
    use base64::Engine as _;
    let made = make_cert(false);
    let at = made.chain[0].not_before() + 30;
    let b64u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let stamp = palisade_image::Timestamp::from_unix_seconds(at)
        .unwrap()
        .to_string();
    let jws = |crit: serde_json::Value| {
        let prot = serde_json::json!({
            "alg": "ES256",
            "crit": crit,
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "io.cncf.notary.signingScheme": "notary.x509.signingAuthority",
            "io.cncf.notary.authenticSigningTime": stamp,
        });
        let payload = serde_json::json!({"targetArtifact": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "12".repeat(32)), "size": 3}});
        let (p, b) = (
            b64u.encode(serde_json::to_vec(&prot).unwrap()),
            b64u.encode(serde_json::to_vec(&payload).unwrap()),
        );
        let sig = sign::sign_raw(
            &made.key,
            super::envelope::Alg::ES256,
            format!("{p}.{b}").as_bytes(),
        )
        .unwrap();
        serde_json::to_vec(&serde_json::json!({
            "payload": b, "protected": p,
            "header": {"x5c": [base64::engine::general_purpose::STANDARD.encode(made.chain[0].der())]},
            "signature": b64u.encode(sig)}))
        .unwrap()
    };
    let target = Target {
        digest: format!("sha256:{}", "12".repeat(32)),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 3,
    };
    let good = jws(serde_json::json!([
        "io.cncf.notary.signingScheme",
        "io.cncf.notary.authenticSigningTime"
    ]));
    let st = store(&[
        ("signingAuthority", "sa", &made.cert_path),
        ("ca", "ca", &made.cert_path),
    ]);
    let run = |bytes: &[u8], stores: &str| {
        let p = policy("strict", "", stores);
        verify_envelope(
            Format::Jws,
            bytes,
            &target,
            &p.statements[0],
            &TrustStore::new(st.path()),
            at + 100,
            &mut Vec::new(),
        )
    };
    let o = run(&good, r#""signingAuthority:sa""#);
    assert!(o.verified, "{o:#?}");
    assert_eq!(o.authentic_time, Some(at));
    // A ca store does not vouch for a signing authority's signature.
    let o = run(&good, r#""ca:ca""#);
    assert_eq!(
        o.failure.as_deref(),
        Some("authenticity: statement \"test\" names no signingAuthority trust store")
    );
    // authenticSigningTime must be critical.
    let o = run(
        &jws(serde_json::json!(["io.cncf.notary.signingScheme"])),
        r#""signingAuthority:sa""#,
    );
    assert_eq!(
        o.failure.as_deref(),
        Some("integrity: io.cncf.notary.authenticSigningTime is present but not marked critical")
    );
}

#[test]
fn hostile_envelopes_are_refused_with_a_reason() {
    let dir = fixtures().join("notation-go-local-layout");
    let jws: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("jws_signature.sig")).unwrap()).unwrap();
    let parse =
        |v: &serde_json::Value| Envelope::parse(Format::Jws, &serde_json::to_vec(v).unwrap());
    // No members beyond the flattened JWS ones.
    let mut extra = jws.clone();
    extra["signatures"] = serde_json::json!([]);
    assert!(
        parse(&extra)
            .unwrap_err()
            .contains("unknown field `signatures`")
    );
    // At most MAX_CHAIN_CERTS certificates.
    let mut long = jws.clone();
    let one = long["header"]["x5c"][0].clone();
    long["header"]["x5c"] = serde_json::Value::Array(vec![one; envelope::MAX_CHAIN_CERTS + 1]);
    assert!(
        parse(&long)
            .unwrap_err()
            .contains("more than the 10 accepted")
    );
    // No chain at all.
    let mut none = jws.clone();
    none["header"].as_object_mut().unwrap().remove("x5c");
    assert!(parse(&none).unwrap_err().contains("no x5c"));
    // Too large, garbage COSE, untagged or truncated COSE.
    let big = vec![b' '; envelope::MAX_ENVELOPE_BYTES + 1];
    assert!(
        Envelope::parse(Format::Jws, &big)
            .unwrap_err()
            .contains("more than the")
    );
    assert!(
        Envelope::parse(Format::Cose, b"\xd2\x84\x40")
            .unwrap_err()
            .contains("not a tagged COSE_Sign1")
    );
    let cose = std::fs::read(dir.join("cose_signature.sig")).unwrap();
    assert!(Envelope::parse(Format::Cose, &cose[1..]).is_err());
    assert!(Envelope::parse(Format::Cose, &cose[..cose.len() / 2]).is_err());
    // A COSE envelope given as JWS (wrong layer media type) is an integrity failure.
    assert!(Envelope::parse(Format::Jws, &cose).is_err());
}

/// A subject that repeats an attribute (`O=Evil, O=Acme`) is refused, never matched by one
/// of its values (notation-go refuses it too).
#[test]
fn repeated_subject_attributes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let cert = dir.path().join("c.pem");
    let (k, c) = (key.to_str().unwrap(), cert.to_str().unwrap());
    for (subject, repeated) in [("/O=Evil/O=Acme/CN=x", true), ("/O=Acme/CN=x", false)] {
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", k, "-out", c, "-days", "1",
            "-subj", subject,
        ]);
        let certs = crate::x509::Cert::from_pem_chain(&std::fs::read(&cert).unwrap()).unwrap();
        let got = super::verify::subject_attributes(&certs[0]);
        if repeated {
            let e = got.unwrap_err();
            assert!(e.contains("repeats the attribute O"), "{e}");
        } else {
            assert_eq!(got.unwrap()["O"], "Acme");
        }
    }
}

/// A certificate with a critical extension the verifier does not enforce (name constraints)
/// is refused in a chain, not silently accepted.
#[test]
fn unsupported_critical_extensions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let cert = dir.path().join("c.pem");
    let (k, c) = (key.to_str().unwrap(), cert.to_str().unwrap());
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        k,
        "-out",
        c,
        "-days",
        "1",
        "-subj",
        "/O=Acme/CN=root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-addext",
        "nameConstraints=critical,permitted;dirName:dir_sect",
        "-config",
        &{
            let cfg = dir.path().join("openssl.cnf");
            std::fs::write(
                &cfg,
                "[req]\ndistinguished_name=dn\n[dn]\n[dir_sect]\nO=Acme\n",
            )
            .unwrap();
            cfg.to_str().unwrap().to_owned()
        },
    ]);
    let certs = crate::x509::Cert::from_pem_chain(&std::fs::read(&cert).unwrap()).unwrap();
    let e = super::verify::critical_extensions_understood(&certs[0]).unwrap_err();
    assert!(
        e.contains("2.5.29.30 (name constraints) is not supported"),
        "{e}"
    );
}
