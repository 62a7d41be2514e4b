//! Keyless (Fulcio + Rekor) verification of cosign-classic signatures against the real
//! fixtures in `shared/trust-fixtures/cosign-classic`, plus attacks built by mutating them.

use std::path::PathBuf;

use palisade_trust::keyless::{
    CosignKeyless, IdentityPolicy, Options, Signer, verify_cosign_keyless,
};
use palisade_trust::rekor::LogEntry;
use palisade_trust::sigstore_error::SigstoreError;
use palisade_trust::trust_root::TrustRoot;
use palisade_trust::x509::{Cert, verify_chain};

fn fx(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/trust-fixtures")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fx(rel)).unwrap_or_else(|e| panic!("reading fixture {rel}: {e}"))
}

fn text(rel: &str) -> String {
    String::from_utf8(read(rel)).expect("fixture is UTF-8")
}

struct Case {
    payload: Vec<u8>,
    annotations: serde_json::Map<String, serde_json::Value>,
}

impl Case {
    fn load(dir: &str) -> Self {
        let annotations: serde_json::Value =
            serde_json::from_slice(&read(&format!("cosign-classic/{dir}/annotations.json")))
                .expect("annotations JSON");
        Self {
            payload: read(&format!("cosign-classic/{dir}/payload.bin")),
            annotations: annotations.as_object().expect("object").clone(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).and_then(|v| v.as_str())
    }

    fn input(&self) -> CosignKeyless<'_> {
        CosignKeyless {
            payload: &self.payload,
            signature_b64: self
                .get("dev.cosignproject.cosign/signature")
                .expect("signature"),
            certificate_pem: self
                .get("dev.sigstore.cosign/certificate")
                .expect("certificate"),
            chain_pem: self.get("dev.sigstore.cosign/chain"),
            rekor_bundle: self.get("dev.sigstore.cosign/bundle"),
        }
    }
}

fn fulcio_root() -> TrustRoot {
    TrustRoot::from_pem(
        &read("cosign-classic/fulcio_v1.crt.pem"),
        None,
        Some(&read("cosign-classic/rekor.pub")),
    )
    .expect("fulcio + rekor trust root")
}

fn production_root() -> TrustRoot {
    TrustRoot::from_json(&read("sigstore-bundles/trusted_root.production.json"))
        .expect("production trusted root")
}

const MITR: &str = "mitr@redhat.com";
const GITHUB_OAUTH: &str = "https://github.com/login/oauth";

#[test]
fn ci_fulcio_rekor_verifies_with_pem_root() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    let v = verify_cosign_keyless(&case.input(), &fulcio_root(), &policy, &Options::default())
        .expect("ci-fulcio-rekor verifies");
    assert_eq!(v.signed_at, Some(1_674_247_893));
    let entry = v.log_entry.expect("log entry");
    assert_eq!(entry.log_index, 11_605_770);
    assert_eq!(
        entry.log_id,
        "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
    );
    assert!(entry.promise_verified);
    assert_eq!(v.entry_kind.as_deref(), Some("hashedrekord 0.0.1"));
    match v.signer {
        Signer::Certificate {
            identities,
            issuer,
            issued_by,
        } => {
            assert_eq!(identities, vec![MITR.to_owned()]);
            assert_eq!(issuer.as_deref(), Some(GITHUB_OAUTH));
            assert!(issued_by.contains("sigstore-intermediate"), "{issued_by}");
        }
        other => panic!("unexpected signer {other:?}"),
    }
}

#[test]
fn ci_fulcio_rekor_verifies_with_production_trusted_root() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    verify_cosign_keyless(
        &case.input(),
        &production_root(),
        &policy,
        &Options::default(),
    )
    .expect("verifies against trusted_root.json too");
}

#[test]
fn identity_regexp_follows_cosign_semantics() {
    let case = Case::load("ci-fulcio-rekor");
    let root = fulcio_root();
    let ok = IdentityPolicy::from_flags(
        None,
        Some(r"^.*@redhat\.com$"),
        None,
        Some("^https://github\\.com/"),
    )
    .expect("policy");
    verify_cosign_keyless(&case.input(), &root, &ok, &Options::default()).expect("regexp matches");
    let wrong =
        IdentityPolicy::from_flags(None, Some(r"^.*@example\.com$"), Some(GITHUB_OAUTH), None)
            .expect("policy");
    let err = verify_cosign_keyless(&case.input(), &root, &wrong, &Options::default())
        .expect_err("identity regexp must not match");
    assert!(
        matches!(err, SigstoreError::IdentityMismatch { .. }),
        "{err}"
    );
    assert!(IdentityPolicy::from_flags(Some(MITR), Some("x"), Some(GITHUB_OAUTH), None).is_err());
    assert!(IdentityPolicy::from_flags(Some(MITR), None, None, None).is_err());
    assert!(matches!(
        IdentityPolicy::from_flags(None, Some("("), Some(GITHUB_OAUTH), None),
        Err(SigstoreError::Policy(_))
    ));
}

#[test]
fn identity_mismatch_is_refused() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact("someone@redhat.com", GITHUB_OAUTH);
    let err = verify_cosign_keyless(&case.input(), &fulcio_root(), &policy, &Options::default())
        .expect_err("wrong identity");
    match err {
        SigstoreError::IdentityMismatch { expected, found } => {
            assert_eq!(expected, "someone@redhat.com");
            assert_eq!(found, vec![MITR.to_owned()]);
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn issuer_mismatch_is_refused() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, "https://accounts.google.com");
    let err = verify_cosign_keyless(&case.input(), &fulcio_root(), &policy, &Options::default())
        .expect_err("wrong issuer");
    assert!(
        matches!(&err, SigstoreError::IssuerMismatch { found: Some(f), .. } if f == GITHUB_OAUTH),
        "{err}"
    );
}

#[test]
fn certificate_expired_at_integrated_time_is_refused() {
    // Re-sign the same Rekor bundle claim with a later integrated time: the SET breaks.
    // Without the log, a check "now" must fail because Fulcio leaves live ten minutes.
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    let mut input = case.input();
    input.rekor_bundle = None;
    let opts = Options {
        require_tlog: false,
        time_without_tlog: Some(1_674_247_893 + 3600),
    };
    let err = verify_cosign_keyless(&input, &fulcio_root(), &policy, &opts)
        .expect_err("expired an hour after signing");
    assert!(
        matches!(err, SigstoreError::CertificateNotValidAt { at, .. } if at == 1_674_247_893 + 3600),
        "{err}"
    );
    // Same material, inside the window: accepted (proves the failure above is about time).
    let opts = Options {
        require_tlog: false,
        time_without_tlog: Some(1_674_247_893),
    };
    verify_cosign_keyless(&input, &fulcio_root(), &policy, &opts).expect("inside the window");
    // And by default a missing Rekor bundle is refused outright.
    let err = verify_cosign_keyless(&input, &fulcio_root(), &policy, &Options::default())
        .expect_err("no bundle");
    assert!(matches!(err, SigstoreError::Tlog(_)), "{err}");
}

fn mutate_bundle(case: &Case, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(case.get("dev.sigstore.cosign/bundle").expect("bundle"))
            .expect("json");
    f(&mut v);
    v.to_string()
}

#[test]
fn moved_integrated_time_breaks_the_set() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    let bundle = mutate_bundle(&case, |v| {
        v["Payload"]["integratedTime"] = serde_json::json!(1_674_247_800);
    });
    let mut input = case.input();
    input.rekor_bundle = Some(&bundle);
    let err = verify_cosign_keyless(&input, &fulcio_root(), &policy, &Options::default())
        .expect_err("SET covers the time");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("signed entry timestamp")),
        "{err}"
    );
}

#[test]
fn set_from_another_log_key_is_refused() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    // A trust root whose only "Rekor" key is cosign2.pub: the logID is unknown.
    let root = TrustRoot::from_pem(
        &read("cosign-classic/fulcio_v1.crt.pem"),
        None,
        Some(&read("cosign-classic/cosign2.pub")),
    )
    .expect("root");
    let err = verify_cosign_keyless(&case.input(), &root, &policy, &Options::default())
        .expect_err("unknown log");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("not in the trust root")),
        "{err}"
    );
    // Claim the other key's log ID: the SET does not verify under that key.
    let other = TrustRoot::from_pem(b"", None, None).err();
    assert!(other.is_some(), "empty PEM root is refused");
    let other_id = {
        use sha2::Digest as _;
        let pem = text("cosign-classic/cosign2.pub");
        let key = palisade_trust::keys::PublicKey::from_pem(&pem).expect("key");
        hex::encode(sha2::Sha256::digest(key.spki_der()))
    };
    let bundle = mutate_bundle(&case, |v| {
        v["Payload"]["logID"] = serde_json::json!(other_id)
    });
    let mut input = case.input();
    input.rekor_bundle = Some(&bundle);
    let err = verify_cosign_keyless(&input, &root, &policy, &Options::default())
        .expect_err("SET by another key");
    assert!(
        matches!(err, SigstoreError::Tlog(ref m) if m.contains("does not verify")),
        "{err}"
    );
}

#[test]
fn tampered_payload_is_refused() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    let mut payload = case.payload.clone();
    payload[10] ^= 1;
    let mut input = case.input();
    input.payload = &payload;
    let err = verify_cosign_keyless(&input, &fulcio_root(), &policy, &Options::default())
        .expect_err("tampered");
    assert!(matches!(err, SigstoreError::Signature(_)), "{err}");
}

#[test]
fn entry_for_another_artifact_is_refused() {
    // The ci-key-rekor bundle is a valid SET, but for another signature and key.
    let case = Case::load("ci-fulcio-rekor");
    let other = Case::load("ci-key-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    let mut input = case.input();
    input.rekor_bundle = other.get("dev.sigstore.cosign/bundle");
    let err = verify_cosign_keyless(&input, &fulcio_root(), &policy, &Options::default())
        .expect_err("entry mismatch");
    assert!(matches!(err, SigstoreError::EntryMismatch(_)), "{err}");
}

#[test]
fn rs_keyless_2021_rekord_verifies() {
    let dir = "cosign-classic/rs-keyless-2021";
    let payload = read(&format!("{dir}/payload.bin"));
    let sig = text(&format!("{dir}/signature.b64"));
    let cert = text(&format!("{dir}/certificate.pem"));
    let bundle = text(&format!("{dir}/rekor-bundle.json"));
    let input = CosignKeyless {
        payload: &payload,
        signature_b64: &sig,
        certificate_pem: &cert,
        chain_pem: None,
        rekor_bundle: Some(&bundle),
    };
    let root = TrustRoot::from_pem(
        &read(&format!("{dir}/fulcio-root-2021-03.pem")),
        None,
        Some(&read("cosign-classic/rekor.pub")),
    )
    .expect("root");
    let policy = IdentityPolicy::from_flags(Some("flavio@castelli.me"), None, None, Some(".*"))
        .expect("policy");
    let v = verify_cosign_keyless(&input, &root, &policy, &Options::default()).expect("verifies");
    assert_eq!(v.signed_at, Some(1_634_714_717));
    assert_eq!(v.entry_kind.as_deref(), Some("rekord 0.0.1"));
    // The production trusted root holds the 2021 Fulcio CA (validFor 2021-03 .. 2022-12).
    let v = verify_cosign_keyless(&input, &production_root(), &policy, &Options::default())
        .expect("verifies with trusted_root.json");
    assert_eq!(v.log_entry.map(|e| e.log_index), Some(783_607));
    // The 2021 certificate does not chain to the current Fulcio root.
    let err = verify_cosign_keyless(&input, &fulcio_root(), &policy, &Options::default())
        .expect_err("wrong root");
    assert!(matches!(err, SigstoreError::Chain(_)), "{err}");
}

#[test]
fn ci_pki_verifies_without_tlog() {
    let case = Case::load("ci-pki");
    let root =
        TrustRoot::from_pem(&read("cosign-classic/pki_root_crts.pem"), None, None).expect("root");
    let policy = IdentityPolicy::from_flags(Some("qiwan@redhat.com"), None, None, Some(".*"))
        .expect("policy");
    let cert = Cert::from_pem_chain(
        case.get("dev.sigstore.cosign/certificate")
            .expect("cert")
            .as_bytes(),
    )
    .expect("cert");
    let at = cert[0].not_before() + 60;
    let opts = Options {
        require_tlog: false,
        time_without_tlog: Some(at),
    };
    let v = verify_cosign_keyless(&case.input(), &root, &policy, &opts).expect("BYO PKI verifies");
    assert_eq!(v.log_entry, None);
    match v.signer {
        Signer::Certificate { identities, .. } => {
            assert!(
                identities.contains(&"qiwan@redhat.com".to_owned()),
                "{identities:?}"
            );
            assert!(
                identities.contains(&"myhost.example.com".to_owned()),
                "{identities:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Without the chain annotation the intermediate is missing: no path to the root.
    let mut input = case.input();
    input.chain_pem = None;
    let err = verify_cosign_keyless(&input, &root, &policy, &opts).expect_err("no intermediate");
    assert!(matches!(err, SigstoreError::Chain(_)), "{err}");
    // Against the Fulcio root, the PKI certificate is untrusted.
    let err = verify_cosign_keyless(&case.input(), &fulcio_root(), &policy, &opts)
        .expect_err("untrusted");
    assert!(matches!(err, SigstoreError::Chain(_)), "{err}");
}

#[test]
fn ci_key_rekor_bundle_parses_and_verifies_its_set() {
    let bundle = read("cosign-classic/ci-key-rekor/rekor-bundle.json");
    let entry = LogEntry::from_cosign_bundle(&bundle).expect("bundle");
    let v = palisade_trust::rekor::verify_entry(&entry, &fulcio_root()).expect("SET verifies");
    assert_eq!(v.integrated_time, Some(1_674_251_859));
    assert_eq!(v.log_index, 11_608_800);
    let mut bad = entry.clone();
    bad.log_index += 1;
    assert!(palisade_trust::rekor::verify_entry(&bad, &fulcio_root()).is_err());

    // The keyed helper: entry must record this signature, cosign2.pub and sha256(payload).
    let payload = read("cosign-classic/ci-key-rekor/payload.bin");
    let sig = read("cosign-classic/ci-key-rekor/signature.der");
    let key2 = palisade_trust::keys::PublicKey::from_pem(&text("cosign-classic/cosign2.pub"))
        .expect("key");
    let key1 =
        palisade_trust::keys::PublicKey::from_pem(&text("cosign-classic/cosign.pub")).expect("key");
    let root = fulcio_root();
    let v =
        palisade_trust::rekor::verify_cosign_bundle_for_key(&bundle, &payload, &sig, &key2, &root)
            .expect("keyed Rekor bundle verifies");
    assert_eq!(v.integrated_time, Some(1_674_251_859));
    let err =
        palisade_trust::rekor::verify_cosign_bundle_for_key(&bundle, &payload, &sig, &key1, &root)
            .expect_err("other key");
    assert!(matches!(err, SigstoreError::EntryMismatch(_)), "{err}");
    let mut other_payload = payload.clone();
    other_payload.push(b'\n');
    let err = palisade_trust::rekor::verify_cosign_bundle_for_key(
        &bundle,
        &other_payload,
        &sig,
        &key2,
        &root,
    )
    .expect_err("other payload");
    assert!(matches!(err, SigstoreError::EntryMismatch(_)), "{err}");
}

#[test]
fn malformed_inputs_are_refused_without_panics() {
    let case = Case::load("ci-fulcio-rekor");
    let policy = IdentityPolicy::exact(MITR, GITHUB_OAUTH);
    let root = fulcio_root();
    let mut input = case.input();
    input.signature_b64 = "not base64!!";
    assert!(matches!(
        verify_cosign_keyless(&input, &root, &policy, &Options::default()),
        Err(SigstoreError::Malformed { .. })
    ));
    let mut input = case.input();
    input.certificate_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        verify_cosign_keyless(&input, &root, &policy, &Options::default()),
        Err(SigstoreError::Malformed { .. })
    ));
    let mut input = case.input();
    input.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIIB";
    assert!(matches!(
        verify_cosign_keyless(&input, &root, &policy, &Options::default()),
        Err(SigstoreError::Malformed { .. })
    ));
    let mut input = case.input();
    input.rekor_bundle = Some("{\"SignedEntryTimestamp\":1}");
    assert!(matches!(
        verify_cosign_keyless(&input, &root, &policy, &Options::default()),
        Err(SigstoreError::Malformed { .. })
    ));
    // Truncated DER in every position must be an error, never a panic.
    let der = &Cert::from_pem_chain(
        case.get("dev.sigstore.cosign/certificate")
            .expect("c")
            .as_bytes(),
    )
    .expect("cert")[0];
    let bytes = der.der();
    for cut in (0..bytes.len()).step_by(7) {
        assert!(Cert::from_der(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let mut flipped = bytes.to_vec();
    for i in (0..flipped.len()).step_by(13) {
        flipped[i] ^= 0x55;
        if let Ok(c) = Cert::from_der(&flipped) {
            let _ = c.identities();
            let _ = c.oidc_issuer();
        }
        flipped[i] ^= 0x55;
    }
}

#[test]
fn chain_validation_uses_the_given_time() {
    let case = Case::load("ci-fulcio-rekor");
    let leaf = &Cert::from_pem_chain(
        case.get("dev.sigstore.cosign/certificate")
            .expect("c")
            .as_bytes(),
    )
    .expect("leaf")[0];
    let chain = Cert::from_pem_chain(case.get("dev.sigstore.cosign/chain").expect("c").as_bytes())
        .expect("chain");
    let root = fulcio_root();
    let ok =
        verify_chain(leaf, &chain, root.certificate_authorities(), 1_674_247_893).expect("valid");
    assert_eq!(ok.certs.len(), 3);
    for at in [leaf.not_before() - 1, leaf.not_after() + 1] {
        assert!(matches!(
            verify_chain(leaf, &chain, root.certificate_authorities(), at),
            Err(SigstoreError::CertificateNotValidAt { .. })
        ));
    }
}

/// Certificates generated in the test (x509-cert builder, deterministic P-256 keys) for the
/// chain attacks that no real fixture shows: loops, overlong chains, non-CA issuers,
/// path-length violations and expired intermediates.
mod generated {
    use std::str::FromStr as _;
    use std::time::Duration;

    use der::Encode as _;
    use p256::ecdsa::{DerSignature, SigningKey};
    use palisade_trust::sigstore_error::SigstoreError;
    use palisade_trust::trust_root::{CertificateAuthority, ValidFor};
    use palisade_trust::x509::{Cert, MAX_CHAIN_LEN, verify_chain};
    use x509_cert::builder::{Builder as _, CertificateBuilder, profile::BuilderProfile};
    use x509_cert::certificate::TbsCertificate;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{
        BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    };
    use x509_cert::ext::{Extension, ToExtension as _};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::{Time, Validity};

    const T0: u64 = 1_700_000_000;

    struct Profile {
        subject: Name,
        issuer: Name,
        ca: bool,
        path_len: Option<u8>,
    }

    impl BuilderProfile for Profile {
        fn get_issuer(&self, _subject: &Name) -> Name {
            self.issuer.clone()
        }

        fn get_subject(&self) -> Name {
            self.subject.clone()
        }

        fn build_extensions(
            &self,
            _spk: spki::SubjectPublicKeyInfoRef<'_>,
            _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
            tbs: &TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<Extension>> {
            let subject = tbs.subject();
            let mut exts: Vec<Extension> = Vec::new();
            let bc = BasicConstraints {
                ca: self.ca,
                path_len_constraint: self.path_len,
            };
            exts.push((&bc).to_extension(subject, &exts)?);
            if self.ca {
                let ku = KeyUsage(KeyUsages::KeyCertSign.into());
                exts.push((&ku).to_extension(subject, &exts)?);
            } else {
                let ku = KeyUsage(KeyUsages::DigitalSignature.into());
                exts.push((&ku).to_extension(subject, &exts)?);
                let eku = ExtendedKeyUsage(vec![der::oid::ObjectIdentifier::new_unwrap(
                    "1.3.6.1.5.5.7.3.3",
                )]);
                exts.push((&eku).to_extension(subject, &exts)?);
                let email = der::asn1::Ia5String::new("dev@example.com")?;
                let san = SubjectAltName(vec![GeneralName::Rfc822Name(email)]);
                exts.push((&san).to_extension(subject, &exts)?);
                let issuer = der::asn1::Utf8StringRef::new("https://issuer.example")?.to_der()?;
                exts.push(Extension {
                    extn_id: der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8"),
                    critical: false,
                    extn_value: der::asn1::OctetString::new(issuer)?,
                });
            }
            Ok(exts)
        }
    }

    fn key(n: u8) -> SigningKey {
        let mut bytes = [0u8; 32];
        bytes[31] = n;
        bytes[0] = 1;
        SigningKey::from_slice(&bytes).expect("valid scalar")
    }

    fn name(cn: &str) -> Name {
        Name::from_str(&format!("CN={cn},O=palisade-test")).expect("name")
    }

    fn time(t: u64) -> Time {
        Time::UtcTime(der::asn1::UtcTime::from_unix_duration(Duration::from_secs(t)).expect("time"))
    }

    /// Issues a certificate for `subject_key` named `subject`, signed by `issuer_key`.
    #[allow(clippy::too_many_arguments)]
    fn issue(
        subject: &str,
        subject_key: &SigningKey,
        issuer: &str,
        issuer_key: &SigningKey,
        ca: bool,
        path_len: Option<u8>,
        window: (u64, u64),
        serial: u32,
    ) -> Cert {
        let spki =
            spki::SubjectPublicKeyInfoOwned::from_key(subject_key.verifying_key()).expect("spki");
        let profile = Profile {
            subject: name(subject),
            issuer: name(issuer),
            ca,
            path_len,
        };
        let validity = Validity::new(time(window.0), time(window.1));
        let builder = CertificateBuilder::new(profile, SerialNumber::from(serial), validity, spki)
            .expect("builder");
        let cert = builder.build::<_, DerSignature>(issuer_key).expect("sign");
        Cert::from_der(&cert.to_der().expect("der")).expect("parse")
    }

    const LONG: (u64, u64) = (T0 - 86_400, T0 + 86_400);

    fn ca(root: &Cert) -> Vec<CertificateAuthority> {
        vec![CertificateAuthority {
            subject: "O=palisade-test, CN=root".into(),
            uri: String::new(),
            chain: vec![root.der().to_vec()],
            valid_for: ValidFor::default(),
        }]
    }

    fn root() -> Cert {
        issue("root", &key(1), "root", &key(1), true, None, LONG, 1)
    }

    #[test]
    fn generated_chain_verifies_and_exposes_identity() {
        let root = root();
        let inter = issue("inter", &key(2), "root", &key(1), true, Some(0), LONG, 2);
        let leaf = issue(
            "leaf",
            &key(3),
            "inter",
            &key(2),
            false,
            None,
            (T0 - 60, T0 + 540),
            3,
        );
        let chain = verify_chain(&leaf, std::slice::from_ref(&inter), &ca(&root), T0 as i64)
            .expect("valid chain");
        assert_eq!(chain.certs.len(), 3);
        assert_eq!(
            leaf.identities().expect("san"),
            vec!["dev@example.com".to_owned()]
        );
        assert_eq!(
            leaf.oidc_issuer().expect("issuer").as_deref(),
            Some("https://issuer.example")
        );
        assert!(root.is_self_signed());
        assert!(!inter.is_self_signed());
    }

    #[test]
    fn overlong_chain_is_refused() {
        let root = root();
        let mut extra = Vec::new();
        let mut issuer = ("root".to_owned(), key(1));
        for i in 0..MAX_CHAIN_LEN {
            let n = u8::try_from(10 + i).expect("small");
            let cn = format!("inter{i}");
            extra.push(issue(
                &cn,
                &key(n),
                &issuer.0,
                &issuer.1,
                true,
                None,
                LONG,
                u32::from(n),
            ));
            issuer = (cn, key(n));
        }
        let leaf = issue(
            "leaf",
            &key(99),
            &issuer.0,
            &issuer.1,
            false,
            None,
            LONG,
            99,
        );
        let err = verify_chain(&leaf, &extra, &ca(&root), T0 as i64).expect_err("too long");
        assert!(
            matches!(err, SigstoreError::Chain(ref m) if m.contains("longer than")),
            "{err}"
        );
        // Issued one level higher, the path has exactly MAX_CHAIN_LEN certificates: accepted,
        // so the limit is what failed above.
        let k = MAX_CHAIN_LEN - 3;
        let n = u8::try_from(10 + k).expect("small");
        let ok = issue(
            "leaf2",
            &key(98),
            &format!("inter{k}"),
            &key(n),
            false,
            None,
            LONG,
            98,
        );
        let chain = verify_chain(&ok, &extra, &ca(&root), T0 as i64).expect("within the limit");
        assert_eq!(chain.certs.len(), MAX_CHAIN_LEN);
    }

    #[test]
    fn certificate_loop_is_refused() {
        let root = root();
        // A and B certify each other; neither leads to the root.
        let a = issue("A", &key(20), "B", &key(21), true, None, LONG, 20);
        let b = issue("B", &key(21), "A", &key(20), true, None, LONG, 21);
        let leaf = issue("leaf", &key(22), "A", &key(20), false, None, LONG, 22);
        let err =
            verify_chain(&leaf, &[a.clone(), b.clone()], &ca(&root), T0 as i64).expect_err("loop");
        assert!(
            matches!(err, SigstoreError::Chain(ref m) if m.contains("loop")),
            "{err}"
        );
        // Even with many copies of the loop the search stays bounded and fails.
        let pool: Vec<Cert> = (0..16).flat_map(|_| [a.clone(), b.clone()]).collect();
        assert!(verify_chain(&leaf, &pool, &ca(&root), T0 as i64).is_err());
    }

    #[test]
    fn non_ca_issuer_is_refused() {
        let root = root();
        let not_ca = issue("inter", &key(30), "root", &key(1), false, None, LONG, 30);
        let leaf = issue("leaf", &key(31), "inter", &key(30), false, None, LONG, 31);
        let err = verify_chain(&leaf, &[not_ca], &ca(&root), T0 as i64).expect_err("not a CA");
        assert!(
            matches!(err, SigstoreError::Chain(ref m) if m.contains("not a CA")),
            "{err}"
        );
    }

    #[test]
    fn path_length_constraint_is_enforced() {
        let root = issue("root", &key(1), "root", &key(1), true, Some(0), LONG, 1);
        let inter = issue("inter", &key(40), "root", &key(1), true, None, LONG, 40);
        let leaf = issue("leaf", &key(41), "inter", &key(40), false, None, LONG, 41);
        let err = verify_chain(&leaf, &[inter], &ca(&root), T0 as i64).expect_err("pathLen");
        assert!(
            matches!(err, SigstoreError::Chain(ref m) if m.contains("pathLenConstraint")),
            "{err}"
        );
    }

    #[test]
    fn expired_intermediate_is_refused() {
        let root = root();
        let inter = issue(
            "inter",
            &key(50),
            "root",
            &key(1),
            true,
            None,
            (T0 - 1000, T0 - 10),
            50,
        );
        let leaf = issue("leaf", &key(51), "inter", &key(50), false, None, LONG, 51);
        let err = verify_chain(&leaf, &[inter], &ca(&root), T0 as i64).expect_err("expired");
        assert!(
            matches!(err, SigstoreError::CertificateNotValidAt { .. }),
            "{err}"
        );
    }

    #[test]
    fn forged_link_is_refused() {
        let root = root();
        // Names say "issued by root", but the signature is by another key.
        let inter = issue("inter", &key(60), "root", &key(61), true, None, LONG, 60);
        let leaf = issue("leaf", &key(62), "inter", &key(60), false, None, LONG, 62);
        let err = verify_chain(&leaf, &[inter], &ca(&root), T0 as i64).expect_err("forged");
        assert!(
            matches!(err, SigstoreError::Chain(ref m) if m.contains("does not verify")),
            "{err}"
        );
    }
}
