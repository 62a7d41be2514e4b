//! Issue 18, Notation (Notary Project v2), end to end with the `palisade` binary:
//!
//! - `palisade sign --notation-key/--notation-cert` (JWS and COSE) against a real Debian
//!   `docker-registry` (Distribution 2.8, no referrers API) on 127.0.0.1, the signature
//!   manifest and envelope checked field by field against the Notary Project specification
//!   (the JWS signature also with openssl, independently), then `palisade verify` from there;
//! - `palisade verify --local-image` on the Notation CLI's own e2e OCI layout
//!   (`../shared/trust-fixtures/notation`, read in place) under its trust policies.
//!
//! Certificates are made here with openssl; each test starts and stops its own registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use palisade_image::{Digest, media_type};
use serde_json::{Value, json};
use sha2::Digest as _;

mod common;
use common::{Registry, repo_root};

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn openssl(args: &[&str]) -> Output {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    out
}

fn fixtures() -> PathBuf {
    repo_root().join("../shared/trust-fixtures/notation")
}

/// A root CA and a code signing leaf (RSA 3072, so PS384) under `dir`: returns
/// (leaf key, chain PEM leaf+root, root certificate).
fn make_chain(dir: &Path, cn: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let s = |b: &PathBuf| b.to_str().unwrap().to_owned();
    let (ca_key, ca_crt) = (p(&format!("{cn}-ca.key")), p(&format!("{cn}-ca.crt")));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:3072",
        "-nodes",
        "-keyout",
        &s(&ca_key),
        "-out",
        &s(&ca_crt),
        "-days",
        "365",
        "-subj",
        &format!("/C=US/ST=WA/O=Palisade Test/CN={cn} Root"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    let (key, csr, crt) = (
        p(&format!("{cn}.key")),
        p(&format!("{cn}.csr")),
        p(&format!("{cn}.crt")),
    );
    openssl(&[
        "req",
        "-newkey",
        "rsa:3072",
        "-nodes",
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
        "-subj",
        &format!("/C=US/ST=WA/O=Palisade Test/CN={cn}"),
    ]);
    let ext = p(&format!("{cn}.ext"));
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca_crt),
        "-CAkey",
        &s(&ca_key),
        "-CAcreateserial",
        "-days",
        "30",
        "-out",
        &s(&crt),
        "-extfile",
        &s(&ext),
    ]);
    let chain = p(&format!("{cn}-chain.pem"));
    let mut pem = std::fs::read(&crt).unwrap();
    pem.extend(std::fs::read(&ca_crt).unwrap());
    std::fs::write(&chain, pem).unwrap();
    (key, chain, ca_crt)
}

fn der_of(pem_file: &Path) -> Vec<u8> {
    openssl(&["x509", "-in", pem_file.to_str().unwrap(), "-outform", "DER"]).stdout
}

/// Pushes a one-layer OCI image to `repo:tag`; returns (digest, manifest size).
fn push_image(reg: &Registry, repo: &str, tag: &str) -> (Digest, usize) {
    push_image_to(&reg.client(), repo, tag)
}

fn push_image_to(
    client: &palisade_image::RegistryClient,
    repo: &str,
    tag: &str,
) -> (Digest, usize) {
    let mut tar = tar::Builder::new(Vec::new());
    let body = format!("awesome palisade notation {tag}\n").into_bytes();
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/notation.txt", body.as_slice())
        .unwrap();
    let layer = tar.into_inner().unwrap();
    let layer_digest = client.push_blob(repo, &layer).unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]}
    }))
    .unwrap();
    let config_digest = client.push_blob(repo, &config).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    let digest = client
        .put_manifest(repo, tag, &manifest, media_type::OCI_MANIFEST)
        .unwrap();
    (digest, manifest.len())
}

fn trust_store(dir: &Path, name: &str, ca: &Path) -> PathBuf {
    let store = dir.join(format!("store-{name}"));
    let d = store.join("x509/ca").join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(ca, d.join("root.crt")).unwrap();
    store
}

fn verify_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = palisade(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    (out.status.code().unwrap(), v)
}

#[test]
fn notation_sign_jws_and_cose_push_to_docker_registry_and_verify() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let repo = "notation/app";
    let (digest, size) = push_image(&reg, repo, "v1");
    let reference = format!("{}/{repo}:v1", reg.addr);
    let (key, chain, ca) = make_chain(w, "Palisade Signer");

    // Sign twice: JWS (default) and COSE.
    for envelope in ["jws", "cose"] {
        let out = palisade(&[
            "sign",
            "--notation-key",
            key.to_str().unwrap(),
            "--notation-cert",
            chain.to_str().unwrap(),
            "--envelope",
            envelope,
            &reference,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!(
                "Signed {}/{repo}@{digest} with Notation",
                reg.addr
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("referrers fallback tag sha256-{}", digest.hex())),
            "{stdout}"
        );
    }

    // The registry has no referrers API: the signatures are listed in the fallback index.
    let client = reg.client();
    assert!(client.get_referrers(repo, &digest).unwrap().is_none());
    let (index, _, _) = client
        .get_manifest(
            repo,
            &format!("sha256-{}", digest.hex()),
            &[media_type::OCI_INDEX],
        )
        .unwrap();
    let index: Value = serde_json::from_slice(&index).unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{index:#}");
    let leaf_der = der_of(&chain);
    let ca_der = der_of(&ca);
    let thumbprints = json!([
        hex::encode(sha2::Sha256::digest(&leaf_der)),
        hex::encode(sha2::Sha256::digest(&ca_der))
    ]);
    let b64u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut seen = Vec::new();
    for entry in listed {
        assert_eq!(
            entry["artifactType"],
            "application/vnd.cncf.notary.signature"
        );
        let (bytes, _, _) = client
            .get_manifest(
                repo,
                entry["digest"].as_str().unwrap(),
                &[media_type::OCI_MANIFEST],
            )
            .unwrap();
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        // Signature manifest (specification, "OCI Signatures"): OCI manifest; on an OCI 1.0
        // registry no artifactType and config.mediaType = the Notary signature type.
        assert_eq!(m["mediaType"], media_type::OCI_MANIFEST);
        assert!(m.get("artifactType").is_none(), "{m:#}");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.cncf.notary.signature"
        );
        assert_eq!(m["config"]["size"], 2);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["subject"]["digest"], digest.to_string());
        assert_eq!(m["subject"]["size"], size);
        assert_eq!(m["subject"]["mediaType"], media_type::OCI_MANIFEST);
        let annotation: Value = serde_json::from_str(
            m["annotations"]["io.cncf.notary.x509chain.thumbprint#S256"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(annotation, thumbprints);
        let layers = m["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1);
        let layer_type = layers[0]["mediaType"].as_str().unwrap().to_owned();
        let layer_digest: Digest = layers[0]["digest"].as_str().unwrap().parse().unwrap();
        let mut blob = Vec::new();
        std::io::Read::read_to_end(
            &mut client.get_blob(repo, &layer_digest).unwrap(),
            &mut blob,
        )
        .unwrap();
        assert!(layer_digest.matches(&blob));
        assert_eq!(layers[0]["size"], blob.len());
        let payload_want = json!({"targetArtifact": {
            "mediaType": media_type::OCI_MANIFEST, "digest": digest.to_string(), "size": size}});
        if layer_type == "application/jose+json" {
            // Flattened JWS JSON: exactly these members.
            let env: Value = serde_json::from_slice(&blob).unwrap();
            let mut keys: Vec<_> = env.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            assert_eq!(keys, ["header", "payload", "protected", "signature"]);
            let prot: Value =
                serde_json::from_slice(&b64u.decode(env["protected"].as_str().unwrap()).unwrap())
                    .unwrap();
            assert_eq!(prot["alg"], "PS384", "RSA 3072 means PS384: {prot:#}");
            assert_eq!(prot["cty"], "application/vnd.cncf.notary.payload.v1+json");
            assert_eq!(prot["crit"], json!(["io.cncf.notary.signingScheme"]));
            assert_eq!(prot["io.cncf.notary.signingScheme"], "notary.x509");
            let t = prot["io.cncf.notary.signingTime"].as_str().unwrap();
            assert!(
                t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
                "{t}"
            );
            let x5c: Vec<Vec<u8>> = env["header"]["x5c"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| b64.decode(c.as_str().unwrap()).unwrap())
                .collect();
            assert_eq!(x5c, [leaf_der.clone(), ca_der.clone()]);
            assert!(
                env["header"]["io.cncf.notary.signingAgent"]
                    .as_str()
                    .unwrap()
                    .starts_with("palisade/")
            );
            let payload = b64u.decode(env["payload"].as_str().unwrap()).unwrap();
            assert_eq!(
                serde_json::from_slice::<Value>(&payload).unwrap(),
                payload_want
            );
            // The signature, independently: RSASSA-PSS SHA-384, salt 48, over
            // ASCII(protected '.' payload), with the leaf's public key.
            std::fs::write(
                w.join("input"),
                format!(
                    "{}.{}",
                    env["protected"].as_str().unwrap(),
                    env["payload"].as_str().unwrap()
                ),
            )
            .unwrap();
            std::fs::write(
                w.join("sig"),
                b64u.decode(env["signature"].as_str().unwrap()).unwrap(),
            )
            .unwrap();
            let pubkey =
                openssl(&["x509", "-in", chain.to_str().unwrap(), "-pubkey", "-noout"]).stdout;
            std::fs::write(w.join("leaf.pub"), pubkey).unwrap();
            let out = openssl(&[
                "dgst",
                "-sha384",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:48",
                "-verify",
                w.join("leaf.pub").to_str().unwrap(),
                "-signature",
                w.join("sig").to_str().unwrap(),
                w.join("input").to_str().unwrap(),
            ]);
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
        } else {
            assert_eq!(layer_type, "application/cose");
            // COSE_Sign1_Tagged: CBOR tag 18.
            assert_eq!(blob[0], 0xd2);
            let env = palisade_trust::notation::envelope::Envelope::parse(
                palisade_trust::notation::envelope::Format::Cose,
                &blob,
            )
            .unwrap();
            assert_eq!(env.alg.name(), "PS384");
            assert_eq!(env.signing_scheme.name(), "notary.x509");
            assert!(env.signing_time.is_some() && env.expiry.is_none());
            let certs: Vec<&[u8]> = env.certs.iter().map(|c| c.der()).collect();
            assert_eq!(certs, [&leaf_der[..], &ca_der[..]]);
            assert_eq!(
                serde_json::from_slice::<Value>(&env.payload).unwrap(),
                payload_want
            );
        }
        seen.push(layer_type);
    }
    seen.sort();
    assert_eq!(seen, ["application/cose", "application/jose+json"]);

    // Verify from the registry, under a statement scoped to this repository.
    let store = trust_store(w, "test", &ca);
    let policy = w.join("trustpolicy.json");
    std::fs::write(
        &policy,
        serde_json::to_vec(&json!({"version": "1.0", "trustPolicies": [{
            "name": "palisade-test",
            "registryScopes": [format!("{}/{repo}", reg.addr)],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:test"],
            "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Palisade Test, CN=Palisade Signer"]
        }]}))
        .unwrap(),
    )
    .unwrap();
    let args = |store: &Path, policy: &Path| {
        vec![
            reference.clone(),
            "--notation-trust-policy".into(),
            policy.to_str().unwrap().to_owned(),
            "--notation-trust-store".into(),
            store.to_str().unwrap().to_owned(),
        ]
    };
    let a = args(&store, &policy);
    let (code, v) = verify_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["digest"], digest.to_string());
    let sigs = v["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{v:#}");
    let mut kinds: Vec<&str> = sigs
        .iter()
        .map(|s| s["verified"]["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["notation-cose", "notation-jws"]);
    for s in sigs {
        assert_eq!(
            s["verified"]["signer"],
            "palisade-test (CN=Palisade Signer,O=Palisade Test,ST=WA,C=US)"
        );
        assert_eq!(
            s["verified"]["issued_by"],
            "CN=Palisade Signer Root,O=Palisade Test,ST=WA,C=US"
        );
    }

    // Another CA in the store: both refused for authenticity, exit 1.
    let (_, _, other_ca) = make_chain(w, "Other");
    let other = trust_store(w, "test2", &other_ca);
    std::fs::rename(other.join("x509/ca/test2"), other.join("x509/ca/test")).unwrap();
    let a = args(&other, &policy);
    let (code, v) = verify_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1, "{v:#}");
    for s in v["signatures"].as_array().unwrap() {
        let reason = s["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("notation (statement \"palisade-test\", level strict): authenticity: no certificate of the chain is in the trust store"),
            "{reason}"
        );
    }

    // The gate, with the trust policy and store as `sources.notation.release`: the signed
    // image is allowed (signer "release"), an unsigned one in the same repository is denied.
    let (unsigned, _) = push_image(&reg, repo, "unsigned");
    let gate_policy = w.join("gate.yaml");
    std::fs::write(
        &gate_policy,
        format!(
            "version: 1\nsources:\n  notation:\n    release:\n      trust_policy: {}\n      trust_store: {}\n  default: deny\n  rules:\n    - name: notation\n      images: [\"127.0.0.1:*/notation/**\"]\n      signers: {{ any_of: [release] }}\n",
            policy.display(),
            store.display()
        ),
    )
    .unwrap();
    let out = palisade(&["policy", "validate", gate_policy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let gate = |image: &str| {
        let out = palisade(&[
            "gate",
            image,
            "--policy",
            gate_policy.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let code = out.status.code().unwrap();
        assert_ne!(code, 2, "gate failed: {}", text(&out));
        let v: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
        (code, v)
    };
    let (code, v) = gate(&reference);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["decision"], "allow", "{v:#}");
    let (code, v) = gate(&format!("{}/{repo}@{unsigned}", reg.addr));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["decision"], "deny", "{v:#}");
    let denies: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["effect"] == "deny")
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(denies.contains(&"signature-missing"), "{v:#}");

    // An audit-level trust policy accepts signatures by an untrusted CA (the spec's verdict):
    // verify lists them as "+unauthenticated" but says not verified (exit 1), and the gate
    // never takes them as a signer.
    let audit = w.join("audit.json");
    std::fs::write(
        &audit,
        std::fs::read_to_string(&policy)
            .unwrap()
            .replace("\"strict\"", "\"audit\""),
    )
    .unwrap();
    let a = args(&other, &audit);
    let (code, v) = verify_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verified"], false, "{v:#}");
    for s in v["signatures"].as_array().unwrap() {
        assert!(
            s["verified"]["kind"]
                .as_str()
                .unwrap()
                .ends_with("+unauthenticated"),
            "{v:#}"
        );
    }
    let audit_gate = w.join("gate-audit.yaml");
    std::fs::write(
        &audit_gate,
        std::fs::read_to_string(&gate_policy)
            .unwrap()
            .replace(policy.to_str().unwrap(), audit.to_str().unwrap())
            .replace(store.to_str().unwrap(), other.to_str().unwrap()),
    )
    .unwrap();
    let out = palisade(&[
        "gate",
        &reference,
        "--policy",
        audit_gate.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    assert_eq!(v["decision"], "deny", "{v:#}");

    // A policy whose only statement is for another repository: untrusted, exit 1.
    let elsewhere = w.join("elsewhere.json");
    std::fs::write(
        &elsewhere,
        std::fs::read_to_string(&policy)
            .unwrap()
            .replace(repo, "notation/other"),
    )
    .unwrap();
    let a = args(&store, &elsewhere);
    let (code, v) = verify_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1, "{v:#}");
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("no statement of trust policy")),
        "{v:#}"
    );
}

#[test]
fn notation_e2e_layout_verifies_under_the_notation_cli_trust_policies() {
    let e2e = fixtures().join("notation-cli-e2e");
    let layout = format!(
        "{}:v1",
        e2e.join("oci-layout-e2e-valid-multiple-signatures")
            .display()
    );
    let work = tempfile::tempdir().unwrap();
    let store = trust_store(work.path(), "e2e", &e2e.join("truststore-ca-e2e.crt"));
    let run = |policy: &str| {
        verify_json(&[
            "--local-image",
            &layout,
            "--notation-trust-policy",
            e2e.join("trustpolicies").join(policy).to_str().unwrap(),
            "--notation-trust-store",
            store.to_str().unwrap(),
        ])
    };
    let trusted = "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f";
    let untrusted = "sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf";
    let find = |v: &Value, d: &str| {
        v["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"].as_str().unwrap().ends_with(d))
            .cloned()
            .unwrap()
    };
    let (code, v) = run("trustpolicy.json");
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["digest"],
        "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9"
    );
    let ok = find(&v, trusted);
    assert_eq!(ok["verified"]["kind"], "notation-jws");
    assert_eq!(
        ok["verified"]["signer"],
        "e2e (CN=e2e,O=Notary,L=Seattle,ST=WA,C=US)"
    );
    assert_eq!(
        ok["verified"]["key_fingerprint"],
        "sha256:e38aea13f2b051f7183cca64a51ee676f4d4456f41d9fecf15eb367efc7343b9"
    );
    let bad = find(&v, untrusted);
    assert!(bad["verified"].is_null());
    assert!(
        bad["reason"].as_str().unwrap().contains("authenticity"),
        "{bad:#}"
    );

    // audit: the untrusted, expired signature passes with its failures logged.
    let (code, v) = run("audit_trustpolicy.json");
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        find(&v, untrusted)["verified"]["kind"],
        "notation-jws+unauthenticated"
    );
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains(untrusted)
            && n.contains("authenticity failed, logged not enforced (level audit")),
        "{notes:#?}"
    );

    // `policy validate` reads sources.notation: the e2e skip policy (skip on "*") is refused
    // at the line that names it.
    let bad = work.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "version: 1\nsources:\n  notation:\n    e2e:\n      trust_policy: {}\n      trust_store: {}\n",
            e2e.join("trustpolicies/skip_trustpolicy.json").display(),
            store.display()
        ),
    )
    .unwrap();
    let out = palisade(&["policy", "validate", bad.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("sources.notation.e2e"), "{all}");
    assert!(all.contains(":5:"), "{all}");
    assert!(
        all.contains("level skip cannot be used with the global scope"),
        "{all}"
    );

    // Without a trust store holding e2e's certificate, nothing verifies: exit 1.
    let empty = trust_store(
        work.path(),
        "e2e-other",
        &fixtures().join("notation-go-local-layout/signing-cert-selfsigned-alpine.pem"),
    );
    std::fs::rename(empty.join("x509/ca/e2e-other"), empty.join("x509/ca/e2e")).unwrap();
    let (code, v) = verify_json(&[
        "--local-image",
        &layout,
        "--notation-trust-policy",
        e2e.join("trustpolicies/trustpolicy.json").to_str().unwrap(),
        "--notation-trust-store",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verified"], false);
}

// ---------------------------------------------------------------------------------------------
// A registry with the OCI 1.1 referrers API (no such registry is packaged in Debian 12): a small
// in-memory one on loopback, enough for push, pull and referrers.

mod oci11 {
    use std::collections::HashMap;
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use sha2::Digest as _;

    #[derive(Default)]
    struct State {
        blobs: HashMap<String, Vec<u8>>,
        manifests: HashMap<String, (String, Vec<u8>)>,
        tags: HashMap<String, String>,
    }

    pub(crate) fn start() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (method, target) = (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                );
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let (status, hdrs, out) = handle(
                    &mut state.lock().unwrap(),
                    &method,
                    &target,
                    headers.get("content-type").cloned(),
                    body,
                );
                let mut stream = r.into_inner();
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n",
                    out.len()
                );
                for (k, v) in hdrs {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                if method != "HEAD" {
                    let _ = stream.write_all(&out);
                }
            }
        });
        addr
    }

    fn digest_of(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
    }

    fn handle(
        st: &mut State,
        method: &str,
        target: &str,
        content_type: Option<String>,
        body: Vec<u8>,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let not_found = (
            404,
            vec![],
            br#"{"errors":[{"code":"NOT_FOUND","message":"no"}]}"#.to_vec(),
        );
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if let Some((_, rest)) = path.split_once("/blobs/uploads/") {
            return match method {
                "POST" => (
                    202,
                    vec![(
                        "Location".into(),
                        format!(
                            "{}/blobs/uploads/u1",
                            path.trim_end_matches("/blobs/uploads/")
                        ),
                    )],
                    vec![],
                ),
                "PUT" if !rest.is_empty() => {
                    let d = digest_of(&body);
                    let want = query
                        .trim_start_matches("digest=")
                        .replace("%3A", ":")
                        .replace("%3a", ":");
                    if want != d {
                        return (400, vec![], vec![]);
                    }
                    st.blobs.insert(d.clone(), body);
                    (201, vec![("Docker-Content-Digest".into(), d)], vec![])
                }
                _ => not_found,
            };
        }
        if let Some((_, d)) = path.split_once("/blobs/") {
            return match st.blobs.get(d) {
                Some(b) => (
                    200,
                    vec![("Docker-Content-Digest".into(), d.to_owned())],
                    b.clone(),
                ),
                None => not_found,
            };
        }
        if let Some((_, r)) = path.split_once("/manifests/") {
            if method == "PUT" {
                let d = digest_of(&body);
                st.manifests
                    .insert(d.clone(), (content_type.unwrap_or_default(), body));
                if !r.starts_with("sha256:") {
                    st.tags.insert(r.to_owned(), d.clone());
                }
                return (201, vec![("Docker-Content-Digest".into(), d)], vec![]);
            }
            let d = st.tags.get(r).cloned().unwrap_or_else(|| r.to_owned());
            return match st.manifests.get(&d) {
                Some((ct, b)) => (
                    200,
                    vec![
                        ("Content-Type".into(), ct.clone()),
                        ("Docker-Content-Digest".into(), d),
                    ],
                    b.clone(),
                ),
                None => not_found,
            };
        }
        if let Some((_, d)) = path.split_once("/referrers/") {
            let mut list = Vec::new();
            for (md, (ct, b)) in &st.manifests {
                let m: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
                if m["subject"]["digest"] == d {
                    let at = m
                        .get("artifactType")
                        .cloned()
                        .unwrap_or_else(|| m["config"]["mediaType"].clone());
                    list.push(json!({"mediaType": ct, "digest": md, "size": b.len(),
                        "artifactType": at, "annotations": m["annotations"]}));
                }
            }
            let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": list});
            return (
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.index.v1+json".into(),
                )],
                idx.to_string().into_bytes(),
            );
        }
        not_found
    }
}

#[test]
fn notation_sign_and_verify_through_the_oci_referrers_api() {
    let addr = oci11::start();
    let client =
        palisade_image::RegistryClient::new(&addr, &palisade_image::RegistryOptions::default())
            .unwrap();
    let repo = "notation/app";
    let (digest, _) = push_image_to(&client, repo, "v1");
    assert!(client.get_referrers(repo, &digest).unwrap().is_some());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, chain, ca) = make_chain(w, "Referrers Signer");
    let reference = format!("{addr}/{repo}:v1");
    let out = palisade(&[
        "sign",
        "--notation-key",
        key.to_str().unwrap(),
        "--notation-cert",
        chain.to_str().unwrap(),
        &reference,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("fallback"), "{stdout}");
    // The specification's default form: artifactType, empty config, no fallback tag.
    let referrers = client.get_referrers(repo, &digest).unwrap().unwrap();
    assert_eq!(referrers.manifests.len(), 1);
    let (bytes, _, _) = client
        .get_manifest(
            repo,
            &referrers.manifests[0].digest.to_string(),
            &[media_type::OCI_MANIFEST],
        )
        .unwrap();
    let m: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["artifactType"], "application/vnd.cncf.notary.signature");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert!(
        client
            .head_manifest(
                repo,
                &format!("sha256-{}", digest.hex()),
                &[media_type::OCI_INDEX]
            )
            .unwrap()
            .is_none()
    );
    let store = trust_store(w, "ref", &ca);
    let policy = w.join("trustpolicy.json");
    std::fs::write(
        &policy,
        serde_json::to_vec(&json!({"version": "1.0", "trustPolicies": [{
            "name": "referrers", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:ref"], "trustedIdentities": ["*"]}]}))
        .unwrap(),
    )
    .unwrap();
    let (code, v) = verify_json(&[
        &reference,
        "--notation-trust-policy",
        policy.to_str().unwrap(),
        "--notation-trust-store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["signatures"][0]["verified"]["kind"], "notation-jws",
        "{v:#}"
    );
    assert!(
        !v["notes"].to_string().contains("no referrers API"),
        "the referrers API was used: {v:#}"
    );
}
