//! Keyed cosign interoperability against the real fixtures in `../shared/trust-fixtures`:
//! every encrypted private key decrypts with its documented passphrase to the documented public
//! key, and every keyed signature gives the expected verdict.

use std::path::{Path, PathBuf};

use palisade_trust::Error;
use palisade_trust::keys::{PrivateKey, PublicKey};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/trust-fixtures")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap()
}

/// (file stem, passphrase, expected algorithm) for every key in cosign-encrypted-keys/.
const ENCRYPTED_KEYS: &[(&str, &str, &str)] = &[
    ("cosign_generated_encrypted_empty_private", "", "ecdsa-p256"),
    ("ecdsa_encrypted_private", "123", "ecdsa-p256"),
    ("ed25519_encrypted_private", "123", "ed25519"),
    ("rsa_encrypted_private", "123", "rsa-pkcs1v15"),
    ("cosign-keystest-cosign-label-ec", "hello", "ecdsa-p256"),
    ("cosign-keystest-sigstore-label-ec", "hello", "ecdsa-p256"),
    (
        "cosign-keystest-cosign-label-sec1-ec",
        "hello",
        "ecdsa-p256",
    ),
];

#[test]
fn every_encrypted_fixture_key_decrypts_to_its_public_key() {
    let dir = fixtures().join("cosign-encrypted-keys");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            seen += 1;
            let stem = path.file_stem().unwrap().to_str().unwrap();
            assert!(
                ENCRYPTED_KEYS.iter().any(|(s, _, _)| *s == stem),
                "fixture {stem} is not covered by this test"
            );
        }
    }
    assert_eq!(seen, ENCRYPTED_KEYS.len());
    for (stem, password, algorithm) in ENCRYPTED_KEYS {
        let pem = read_text(&dir.join(format!("{stem}.key")));
        let key = PrivateKey::from_pem(&pem, password.as_bytes(), stem)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let expected = PublicKey::from_pem(&read_text(&dir.join(format!("{stem}.pub")))).unwrap();
        assert_eq!(key.public_key(), expected, "{stem}");
        assert_eq!(expected.algorithm(), *algorithm, "{stem}");
        // A signature made with the decrypted key verifies with the documented public key.
        let sig = key.sign(b"palisade round trip").unwrap();
        expected.verify(b"palisade round trip", &sig).unwrap();
        assert!(expected.verify(b"palisade round trip!", &sig).is_err());
        // A wrong passphrase is refused as a decryption failure, never a panic.
        let wrong = PrivateKey::from_pem(&pem, b"wrong", stem).unwrap_err();
        assert!(matches!(wrong, Error::Decrypt { .. }), "{stem}: {wrong}");
        assert!(wrong.to_string().contains(stem), "{wrong}");
    }
}

#[test]
fn generated_key_is_written_as_current_cosign_does_and_reads_back() {
    let key = PrivateKey::generate_p256().unwrap();
    let pem = key.to_encrypted_pem(b"s3cret").unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 64));
    let back = PrivateKey::from_pem(&pem, b"s3cret", "generated").unwrap();
    assert_eq!(back.public_key(), key.public_key());
    let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
    assert_eq!(public, key.public_key());
    assert_eq!(public.algorithm(), "ecdsa-p256");
}

#[test]
fn unencrypted_pkcs8_private_key_is_read() {
    let key = PrivateKey::generate_p256().unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let pem = palisade_trust::keys::encode_pem("PRIVATE KEY", &der);
    let back = PrivateKey::from_pem(&pem, b"", "plain.key").unwrap();
    assert_eq!(back.public_key(), key.public_key());
}

#[test]
fn public_key_files_of_every_kind_parse() {
    let fx = fixtures();
    for (file, algorithm) in [
        ("cosign-classic/cosign.pub", "ecdsa-p256"),
        ("cosign-classic/cosign2.pub", "ecdsa-p256"),
        ("cosign-classic/rekor.pub", "ecdsa-p256"),
        (
            "cosign-classic/rs-keyed-rsa-pkcs1v15/cosign.pub",
            "rsa-pkcs1v15",
        ),
        (
            "cosign-encrypted-keys/ed25519_encrypted_private.pub",
            "ed25519",
        ),
    ] {
        let key = PublicKey::from_pem(&read_text(&fx.join(file)))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.algorithm(), algorithm, "{file}");
        assert!(key.fingerprint().starts_with("sha256:"));
    }
    // A private key is not a public key.
    let err = PublicKey::from_pem(&read_text(
        &fx.join("cosign-encrypted-keys/ecdsa_encrypted_private.key"),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("PUBLIC KEY"), "{err}");
}

mod signatures {
    use std::collections::BTreeMap;

    use palisade_image::{Digest, Reference};
    use palisade_trust::cosign::{
        SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer, SignatureManifest, verify_keyed,
    };
    use palisade_trust::keys::NamedKey;
    use palisade_trust::payload::{IdentityMatch, Payload};

    use super::*;

    fn key(file: &str) -> NamedKey {
        NamedKey::from_file(&fixtures().join("cosign-classic").join(file)).unwrap()
    }

    fn trusted() -> Vec<NamedKey> {
        vec![key("cosign.pub"), key("cosign2.pub")]
    }

    /// The fixture's layer in containers/image `dir:` form.
    fn dir_layer(case: &str) -> SignatureLayer {
        let path = fixtures()
            .join("cosign-classic")
            .join(case)
            .join("containers-image-dir-signature");
        SignatureLayer::from_containers_image_dir(&read(&path), case).unwrap()
    }

    /// The fixture's layer built from payload.bin + annotations.json.
    fn raw_layer(case: &str) -> SignatureLayer {
        let dir = fixtures().join("cosign-classic").join(case);
        let annotations: BTreeMap<String, String> =
            match std::fs::read(dir.join("annotations.json")) {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
                Err(_) => {
                    let mut a = BTreeMap::new();
                    a.insert(
                        "dev.cosignproject.cosign/signature".to_owned(),
                        read_text(&dir.join("signature.b64")).trim().to_owned(),
                    );
                    a
                }
            };
        SignatureLayer {
            source: case.to_owned(),
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
            payload: read(&dir.join("payload.bin")),
            annotations,
        }
    }

    /// The digest and reference the payload claims (tests separately that they are checked).
    fn claims(layer: &SignatureLayer) -> (Reference, Digest) {
        let p = Payload::parse(&layer.payload).unwrap();
        (
            p.critical.identity.docker_reference.parse().unwrap(),
            p.digest().unwrap(),
        )
    }

    fn check(
        layer: &SignatureLayer,
        keys: &[NamedKey],
    ) -> Result<palisade_trust::cosign::VerifiedSignature, Error> {
        let (reference, digest) = claims(layer);
        verify_keyed(
            layer,
            keys,
            &reference,
            &digest,
            IdentityMatch::RepoDigestOrExact,
            &BTreeMap::new(),
        )
    }

    #[test]
    fn valid_keyed_fixtures_verify_with_the_right_key_only() {
        for (case, signer) in [
            ("ci-keyed-valid", "cosign.pub"),
            ("ci-keyed-valid-2", "cosign.pub"),
            ("ci-keyed-with-tag", "cosign.pub"),
            ("ci-key-rekor", "cosign2.pub"),
        ] {
            for layer in [dir_layer(case), raw_layer(case)] {
                let v = check(&layer, &trusted()).unwrap_or_else(|e| panic!("{case}: {e}"));
                assert!(v.signer.ends_with(signer), "{case}: signed by {}", v.signer);
                // Only the documented key verifies it.
                let other = if signer == "cosign.pub" {
                    "cosign2.pub"
                } else {
                    "cosign.pub"
                };
                let err = check(&layer, &[key(other)]).unwrap_err();
                assert!(matches!(err, Error::BadSignature { .. }), "{case}: {err}");
            }
            // The payload digest is the image manifest's digest.
            let manifest = read(
                &fixtures()
                    .join("cosign-classic")
                    .join(case)
                    .join("image-manifest.json"),
            );
            assert_eq!(
                claims(&raw_layer(case)).1,
                Digest::sha256_of(&manifest),
                "{case}"
            );
        }
        let with_tag = check(&dir_layer("ci-keyed-with-tag"), &trusted()).unwrap();
        assert_eq!(
            with_tag.annotations.get("creator").map(String::as_str),
            Some("containers/image 5.21.2-dev")
        );
    }

    #[test]
    fn sigstore_rs_keyed_fixtures_verify_ecdsa_and_rsa() {
        for case in [
            "rs-keyed-ecdsa-p256",
            "rs-keyed-rsa-pkcs1v15",
            "tobby-cosign-v3-sig-manifest",
        ] {
            let dir = fixtures().join("cosign-classic").join(case);
            let k = NamedKey::from_file(&dir.join("cosign.pub")).unwrap();
            let layer = raw_layer(case);
            let v =
                check(&layer, std::slice::from_ref(&k)).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(v.key_fingerprint, k.key.fingerprint());
            // Not with the containers/image keys.
            assert!(check(&layer, &trusted()).is_err(), "{case}");
        }
    }

    #[test]
    fn complete_sig_manifest_from_cosign_v3_parses_and_matches_its_payload() {
        let dir = fixtures().join("cosign-classic/tobby-cosign-v3-sig-manifest");
        let manifest =
            SignatureManifest::parse(&read(&dir.join("sig-manifest.json")), "sig-manifest.json")
                .unwrap();
        assert_eq!(manifest.layers.len(), 1);
        let layer = &manifest.layers[0];
        assert_eq!(layer.media_type, SIMPLE_SIGNING_MEDIA_TYPE);
        let payload = read(&dir.join("payload.bin"));
        assert!(layer.digest.matches(&payload));
        let sig = SignatureLayer {
            source: "sig-manifest.json layer 1".into(),
            media_type: layer.media_type.clone(),
            payload,
            annotations: layer.annotations.clone(),
        };
        let k = NamedKey::from_file(&dir.join("cosign.pub")).unwrap();
        check(&sig, &[k]).unwrap();
    }

    #[test]
    fn negative_fixtures_fail_with_clear_reasons() {
        let unknown = dir_layer("ci-unknown-key");
        let err = check(&unknown, &trusted()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cosign.pub") && text.contains("cosign2.pub"),
            "{text}"
        );
        assert!(text.contains("not signed by a trusted key"), "{text}");

        let other = dir_layer("ci-other-attachment");
        let (reference, digest) = claims(&dir_layer("ci-keyed-valid"));
        let err = verify_keyed(
            &other,
            &trusted(),
            &reference,
            &digest,
            IdentityMatch::default(),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("text/plain"), "{err}");
        // Even presented as a simple-signing layer, it is refused (its signature is not over it).
        let mut disguised = other.clone();
        disguised.media_type = SIMPLE_SIGNING_MEDIA_TYPE.into();
        assert!(
            verify_keyed(
                &disguised,
                &trusted(),
                &reference,
                &digest,
                IdentityMatch::default(),
                &BTreeMap::new()
            )
            .is_err()
        );
    }

    #[test]
    fn claims_are_checked_after_the_signature() {
        let layer = dir_layer("ci-keyed-valid");
        let (reference, digest) = claims(&layer);
        let none = BTreeMap::new();
        // Another digest: refused, naming both.
        let other = Digest::sha256_of(b"another manifest");
        let err = verify_keyed(
            &layer,
            &trusted(),
            &reference,
            &other,
            IdentityMatch::default(),
            &none,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(&other.to_string())
                && err.to_string().contains(&digest.to_string()),
            "{err}"
        );
        // Another repository: refused unless identity checks are off.
        let elsewhere: Reference = "192.168.64.2:5000/somewhere-else:v1".parse().unwrap();
        let err = verify_keyed(
            &layer,
            &trusted(),
            &elsewhere,
            &digest,
            IdentityMatch::default(),
            &none,
        )
        .unwrap_err();
        assert!(err.to_string().contains("somewhere-else"), "{err}");
        verify_keyed(
            &layer,
            &trusted(),
            &elsewhere,
            &digest,
            IdentityMatch::Ignore,
            &none,
        )
        .unwrap();
        // A tampered payload no longer verifies.
        let mut tampered = layer.clone();
        let text = String::from_utf8(tampered.payload.clone())
            .unwrap()
            .replace("single-sample", "single-sampl3");
        tampered.payload = text.into_bytes();
        assert!(matches!(
            verify_keyed(
                &tampered,
                &trusted(),
                &reference,
                &digest,
                IdentityMatch::Ignore,
                &none
            ),
            Err(Error::BadSignature { .. })
        ));
        // Malformed base64 in the annotation.
        let mut garbled = layer.clone();
        garbled
            .annotations
            .insert("dev.cosignproject.cosign/signature".into(), "%%%".into());
        assert!(
            verify_keyed(
                &garbled,
                &trusted(),
                &reference,
                &digest,
                IdentityMatch::default(),
                &none
            )
            .is_err()
        );
        // Required annotations.
        let mut required = BTreeMap::new();
        required.insert(
            "creator".to_owned(),
            "containers/image 5.21.2-dev".to_owned(),
        );
        let err = verify_keyed(
            &layer,
            &trusted(),
            &reference,
            &digest,
            IdentityMatch::default(),
            &required,
        )
        .unwrap_err();
        assert!(err.to_string().contains("creator"), "{err}");
        let tagged = dir_layer("ci-keyed-with-tag");
        let (r, d) = claims(&tagged);
        verify_keyed(
            &tagged,
            &trusted(),
            &r,
            &d,
            IdentityMatch::default(),
            &required,
        )
        .unwrap();
    }
}
