//! Evaluation of the fixture policy: every reason code, environments, exceptions, determinism.

use std::path::{Path, PathBuf};

use palisade_policy::{
    CheckInput, CvssInput, Decision, Effect, ExceptionStatus, FindingInput, Input, PackageInput,
    Policy, TrustInput, Verdict,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn policy() -> Policy {
    Policy::load(&fixtures().join("policy.yaml")).expect("fixture policy loads")
}

fn input(name: &str) -> Input {
    let text = std::fs::read_to_string(fixtures().join("inputs").join(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture input parses")
}

fn decide(policy: &Policy, input: &Input) -> Decision {
    policy.evaluate(input).expect("evaluates").decision
}

fn codes(d: &Decision, effect: Effect) -> Vec<&str> {
    d.reasons
        .iter()
        .filter(|r| r.effect == effect)
        .map(|r| r.code.as_str())
        .collect()
}

fn finding(id: &str, package: &str, severity: &str, cvss: Option<f64>) -> FindingInput {
    FindingInput {
        id: id.into(),
        package: PackageInput {
            name: package.into(),
            version: "1.0".into(),
            r#type: "deb".into(),
            purl: String::new(),
        },
        severity: severity.into(),
        cvss: cvss.map(|score| CvssInput {
            score,
            vector: String::new(),
        }),
        status: "fixed".into(),
        fixed_versions: vec!["1.1".into()],
        ..FindingInput::default()
    }
}

fn with_findings(findings: Vec<FindingInput>) -> Input {
    let mut i = input("clean.json");
    if let Some(v) = i.vulnerabilities.as_mut() {
        v.findings = findings;
    }
    i
}

#[test]
fn clean_image_is_allowed() {
    let d = decide(&policy(), &input("clean.json"));
    assert_eq!(d.decision, Verdict::Allow, "{}", d.to_json());
    assert!(d.reasons.is_empty());
    assert_eq!(d.environment, "prod");
    assert_eq!(d.policy.name, "production");
    assert_eq!(d.policy.sha256.len(), 64);
    assert!(d.evaluated.trust && d.evaluated.vulnerabilities && d.evaluated.hardening);
    assert_eq!(d.evaluated.rules, 1);
    let unused: Vec<_> = d
        .exceptions
        .iter()
        .map(|e| (e.name.as_str(), e.status))
        .collect();
    assert_eq!(
        unused,
        [
            ("pyyaml-risk-accepted", ExceptionStatus::Unused),
            ("healthcheck-later", ExceptionStatus::Unused),
            ("never-used", ExceptionStatus::Unused)
        ]
    );
}

#[test]
fn untrusted_source_default_and_deny_rule() {
    let p = policy();
    let mut i = input("clean.json");
    i.image.reference = "quay.io/other/app:1".into();
    i.image.registry = "quay.io".into();
    i.image.repository = "other/app".into();
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["untrusted-source"]);
    assert_eq!(d.reasons[0].rule, "default");

    i.image.reference = "docker.io/library/debian:12".into();
    i.image.registry = "docker.io".into();
    i.image.repository = "library/debian".into();
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["untrusted-source"]);
    assert_eq!(d.reasons[0].rule, "blocked");
}

#[test]
fn signature_missing_and_invalid() {
    let p = policy();
    let mut i = input("clean.json");
    i.trust = Some(TrustInput::default());
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["signature-missing"]);
    assert_eq!(
        d.reasons[0].fix.as_deref(),
        Some(
            "Sign the image with key release: palisade sign --key release.key 127.0.0.1:5000/testbed/app:1.0"
        )
    );

    i.trust = Some(TrustInput {
        signers: vec![],
        signatures: 1,
        errors: vec!["signature does not match key release".into()],
        ..TrustInput::default()
    });
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["signature-invalid"]);
    assert!(
        d.reasons[0]
            .message
            .contains("signature does not match key release")
    );

    // No trust input at all: the signature requirement still denies.
    i.trust = None;
    assert_eq!(codes(&decide(&p, &i), Effect::Deny), ["signature-missing"]);
}

#[test]
fn tag_denied_and_digest_required() {
    let p = policy();
    let mut i = input("clean.json");
    i.image.reference = "127.0.0.1:5000/testbed/app:latest".into();
    i.image.tag = Some("latest".into());
    assert_eq!(codes(&decide(&p, &i), Effect::Deny), ["tag-denied"]);

    i.image.reference = "registry.pinned.com/app:1".into();
    i.image.registry = "registry.pinned.com".into();
    i.image.repository = "app".into();
    i.trust = Some(TrustInput {
        signers: vec!["release".into()],
        signatures: 1,
        errors: vec![],
        ..TrustInput::default()
    });
    let d = decide(&p, &i);
    assert_eq!(
        codes(&d, Effect::Deny),
        ["digest-required", "signature-missing"]
    );
    let sig = d
        .reasons
        .iter()
        .find(|r| r.code == "signature-missing")
        .expect("signature reason");
    assert_eq!(sig.subject["signer"], "ops");
}

#[test]
fn every_vulnerability_code() {
    let p = policy();
    let mut kev = finding("CVE-2024-0002", "libkev", "LOW", Some(3.0));
    kev.kev = true;
    let mut epss = finding("CVE-2024-0003", "libepss", "LOW", Some(3.0));
    epss.epss = Some(0.9);
    let i = with_findings(vec![
        finding("CVE-2024-0001", "libcvss", "HIGH", Some(9.1)),
        finding("CVE-2024-0004", "libsev", "critical", None),
        kev,
        epss,
        finding("CVE-2024-0005", "libok", "HIGH", Some(8.9)),
    ]);
    let d = decide(&p, &i);
    assert_eq!(
        codes(&d, Effect::Deny),
        ["cvss-above-threshold", "kev-listed", "severity-denied"]
    );
    assert_eq!(codes(&d, Effect::Warn), ["epss-above-threshold"]);
    assert_eq!(d.decision, Verdict::Deny);
    let cvss = &d.reasons[0];
    assert_eq!(cvss.rule, "max_cvss");
    assert_eq!(
        cvss.message,
        "CVE-2024-0001 in libcvss 1.0: CVSS 9.1 is above max_cvss 8.9 (environment prod)"
    );
    assert_eq!(cvss.fix.as_deref(), Some("Upgrade libcvss to 1.1"));
}

#[test]
fn one_reason_per_finding_lists_every_threshold() {
    let mut f = finding("CVE-2024-0009", "libboth", "CRITICAL", Some(9.8));
    f.kev = true;
    let d = decide(&policy(), &with_findings(vec![f]));
    assert_eq!(d.reasons.len(), 1);
    let r = &d.reasons[0];
    assert_eq!(r.code, "cvss-above-threshold");
    assert_eq!(
        r.subject["thresholds"],
        serde_json::json!(["cvss-above-threshold", "severity-denied", "kev-listed"])
    );
    assert!(r.message.contains(
        "CVSS 9.8 is above max_cvss 8.9; severity CRITICAL is denied; it is listed in CISA KEV"
    ));
}

#[test]
fn db_too_old_and_db_missing() {
    let p = policy();
    let mut i = input("clean.json");
    if let Some(v) = i.vulnerabilities.as_mut() {
        v.db_built = Some("2026-11-20T00:00:00Z".into());
    }
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["db-too-old"]);
    assert!(d.reasons[0].message.contains("8 days old"));

    if let Some(v) = i.vulnerabilities.as_mut() {
        v.db_built = None;
    }
    assert_eq!(codes(&decide(&p, &i), Effect::Deny), ["db-missing"]);

    i.vulnerabilities = None;
    assert_eq!(codes(&decide(&p, &i), Effect::Deny), ["input-missing"]);
}

#[test]
fn check_failed_with_remediation_and_selection() {
    let p = policy();
    let mut i = input("clean.json");
    i.hardening = Some(palisade_policy::HardeningInput {
        results: vec![
            CheckInput {
                id: "CIS-DOCKER-4.1".into(),
                title: "Ensure that a user for the container has been created".into(),
                status: "fail".into(),
                level: 1,
                message: "the image runs as root".into(),
                remediation: "Set USER in the Dockerfile".into(),
            },
            // Outside `include`: ignored.
            CheckInput {
                id: "CIS-DOCKER-5.4".into(),
                status: "fail".into(),
                level: 1,
                ..CheckInput::default()
            },
            // Level 2 with level 1 selected: ignored.
            CheckInput {
                id: "CIS-DOCKER-4.9".into(),
                status: "fail".into(),
                level: 2,
                ..CheckInput::default()
            },
        ],
    });
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["check-failed"]);
    let r = &d.reasons[0];
    assert_eq!(r.fix.as_deref(), Some("Set USER in the Dockerfile"));
    assert_eq!(r.subject["check"], "CIS-DOCKER-4.1");
    assert_eq!(
        r.subject["title"],
        "Ensure that a user for the container has been created"
    );

    // dev: deny_on none → the same failure only warns.
    i.environment = "dev".into();
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Warn), ["check-failed"]);
    assert_eq!(d.decision, Verdict::Warn);
}

#[test]
fn rego_deny_and_warn() {
    let p = policy();
    let mut i = input("clean.json");
    i.image.created = Some("2026-08-01T00:00:00Z".into());
    i.image.user = Some("root".into());
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["rego-deny"]);
    assert_eq!(codes(&d, Effect::Warn), ["rego-warn"]);
    let deny = &d.reasons[0];
    assert_eq!(deny.rule, "max-image-age");
    assert_eq!(
        deny.message,
        "the image was built more than 90 days ago (2026-08-01T00:00:00Z)"
    );
    let warn = &d.reasons[1];
    assert_eq!(warn.fix.as_deref(), Some("Set USER in the Dockerfile"));

    // 89 days old: allowed. The rule reads input.now, never the system clock.
    i.image.created = Some("2026-08-31T23:00:00Z".into());
    i.image.user = None;
    assert_eq!(decide(&p, &i).decision, Verdict::Allow);
}

#[test]
fn environment_override_prod_denies_dev_allows() {
    let p = policy();
    let mut i = with_findings(vec![finding(
        "CVE-2024-0001",
        "libx",
        "CRITICAL",
        Some(9.8),
    )]);
    assert_eq!(decide(&p, &i).decision, Verdict::Deny);
    i.environment = "dev".into();
    let d = decide(&p, &i);
    assert_eq!(d.decision, Verdict::Allow, "{}", d.to_json());
    assert_eq!(d.environment, "dev");
    // staging raises max_cvss to 9.5 but keeps `severities: [critical]`.
    i.environment = "staging".into();
    assert_eq!(
        codes(&decide(&p, &i), Effect::Deny),
        ["cvss-above-threshold"]
    );
    // No environment in the input: the policy's default_environment (prod).
    i.environment = String::new();
    assert_eq!(decide(&p, &i).environment, "prod");
    assert_eq!(p.environment(None).unwrap(), "prod");
    assert_eq!(p.environment(Some("dev")).unwrap(), "dev");
    let err = p.environment(Some("prdo")).unwrap_err().to_string();
    assert!(err.contains("unknown environment \"prdo\""), "{err}");
    assert!(err.contains("dev, prod, staging"), "{err}");
}

#[test]
fn exception_applied_then_expired() {
    let p = policy();
    let mut i = input("app.json");
    i.environment = "prod".into();
    let d = decide(&p, &i);
    let pyyaml = d
        .reasons
        .iter()
        .find(|r| r.subject["package"] == "PyYAML")
        .expect("PyYAML reason");
    assert_eq!(pyyaml.effect, Effect::Excepted);
    let e = pyyaml.exception.as_ref().expect("exception attached");
    assert_eq!(e.name, "pyyaml-risk-accepted");
    assert_eq!(e.status, ExceptionStatus::Applied);
    assert_eq!(d.exceptions[0].status, ExceptionStatus::Applied);
    assert_eq!(d.exceptions[0].matched, 1);

    // The same input on 2027-02-01: expired.
    i.now = "2027-02-01T00:00:00Z".into();
    if let Some(v) = i.vulnerabilities.as_mut() {
        v.db_built = Some("2027-01-31T00:00:00Z".into());
    }
    let d = decide(&p, &i);
    let pyyaml = d
        .reasons
        .iter()
        .find(|r| r.subject["package"] == "PyYAML")
        .expect("PyYAML reason");
    assert_eq!(pyyaml.effect, Effect::Deny);
    assert_eq!(
        pyyaml.exception.as_ref().map(|e| e.status),
        Some(ExceptionStatus::Expired)
    );
    assert!(
        pyyaml
            .message
            .ends_with("; exception pyyaml-risk-accepted expired on 2027-01-31"),
        "{}",
        pyyaml.message
    );
    assert_eq!(d.exceptions[0].status, ExceptionStatus::Expired);

    // Last valid day: still applies.
    i.now = "2027-01-31T23:59:59Z".into();
    let d = decide(&p, &i);
    assert_eq!(d.exceptions[0].status, ExceptionStatus::Applied);

    // Other environment: the exception is limited to prod.
    i.environment = "staging".into();
    let d = decide(&p, &i);
    assert_eq!(d.exceptions[0].status, ExceptionStatus::Unused);
}

#[test]
fn check_exception_applies_to_check_reasons() {
    let d = decide(&policy(), &input("app.json"));
    let hc = d
        .reasons
        .iter()
        .find(|r| r.subject["check"] == "CIS-DOCKER-4.6")
        .expect("check reason");
    assert_eq!(hc.effect, Effect::Excepted);
    assert_eq!(d.exceptions[1].status, ExceptionStatus::Applied);
    assert_eq!(d.exceptions[2].status, ExceptionStatus::Unused);
}

#[test]
fn decision_json_is_deterministic() {
    let p = policy();
    let mut i = input("app.json");
    let mut more = vec![
        finding("CVE-2024-0001", "liba", "CRITICAL", Some(9.8)),
        finding("CVE-2024-0002", "libb", "HIGH", Some(9.0)),
        finding("CVE-2024-0003", "libc", "critical", None),
    ];
    if let Some(v) = i.vulnerabilities.as_mut() {
        v.findings.append(&mut more);
    }
    let first = decide(&p, &i).to_json();
    assert_eq!(first, decide(&p, &i).to_json());
    // Rotate and reverse the findings and check results: same bytes.
    for _ in 0..4 {
        if let Some(v) = i.vulnerabilities.as_mut() {
            v.findings.rotate_left(1);
        }
        if let Some(h) = i.hardening.as_mut() {
            h.results.reverse();
        }
        assert_eq!(first, decide(&p, &i).to_json());
    }
    let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    // serde_json's map is sorted unless preserve_order; check the raw text order instead.
    let _ = keys;
    let order = [
        "\"schema\"",
        "\"decision\"",
        "\"environment\"",
        "\"now\"",
        "\"policy\"",
        "\"image\"",
        "\"evaluated\"",
        "\"reasons\"",
        "\"exceptions\"",
        "\"summary\"",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| first.find(&format!("\n  {k}")).expect("top-level key"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert_eq!(v["schema"], "palisade.decision/v1");
}

#[test]
fn needs_keys_and_profile() {
    let p = policy();
    let n = p.needs("prod");
    assert!(n.trust && n.vulnerabilities && n.hardening);
    let key = p.keys().get("release").expect("release key");
    assert!(key.is_absolute());
    assert!(key.ends_with("tests/fixtures/keys/release.pub"));
    let profile = p.hardening_profile("dev").expect("profile");
    assert_eq!(profile.include, vec!["CIS-DOCKER-4.*".to_owned()]);
    assert_eq!(profile.level, palisade_harden::check::Level::One);
    assert!(n.sbom, "the fixture has a Rego rule");
    let bare = Policy::parse("version: 1\n", "bare.yaml", Path::new(".")).expect("parses");
    assert_eq!(bare.needs("prod"), palisade_policy::Needs::default());
    assert_eq!(bare.name(), None);
    assert!(bare.hardening_profile("prod").is_none());
    assert_eq!(bare.environment(None).unwrap(), "default");
    assert!(bare.environment(Some("prod")).is_err());
}

#[test]
fn bad_now_is_an_error() {
    let mut i = input("clean.json");
    i.now = "yesterday".into();
    let e = policy().evaluate(&i).expect_err("bad clock");
    assert_eq!(e.kind, palisade_policy::ErrorKind::Eval);
}

#[test]
fn policy_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Policy>();
}

#[test]
fn exceptions_never_waive_db_or_source_reasons() {
    let text = "version: 1
environments: [prod]
sources:
  default: deny
vulnerabilities:
  max_db_age_days: 1
exceptions:
  - name: everything
    advisories: [\"*\"]
    packages: [\"*\"]
    reason: too broad
    approved_by: nobody@example.com
    expires: 2030-01-01
";
    let p = Policy::parse(text, "p.yaml", Path::new(".")).expect("parses");
    let mut i = input("clean.json");
    if let Some(v) = i.vulnerabilities.as_mut() {
        v.db_built = Some("2026-01-01T00:00:00Z".into());
    }
    let d = decide(&p, &i);
    assert_eq!(codes(&d, Effect::Deny), ["untrusted-source", "db-too-old"]);
    assert_eq!(d.exceptions[0].status, ExceptionStatus::Unused);
}
