//! Trusted-source rules, table-driven: references (registries, repositories, tags, digests)
//! and verified signers against expected decisions and every reason, with the rules read from
//! the YAML a policy file would hold.

use std::collections::BTreeSet;

use palisade_trust::rules::{ImageFacts, TrustedSources};

const POLICY: &str = r#"
default: deny
rules:
  - name: blocked-hub
    images: ["docker.io/**"]
    action: deny
  - name: internal
    images: ["registry.example.com/team/*"]
    signers:
      any-of: ["keys/release.pub", "keys/release-2026.pub"]
    tags:
      deny: ["latest", "*-dev"]
  - name: prod
    images: ["prod.example.com/**"]
    signers:
      all-of: ["keys/release.pub", "sha256:ab*"]
    tags:
      require-digest: true
  - name: mirror
    images: ["127.0.0.1:*/mirror/**"]
"#;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

struct Case {
    reference: &'static str,
    signers: &'static [&'static str],
    allowed: bool,
    rule: Option<&'static str>,
    /// Codes of the refusal reasons, in order.
    denied: &'static [&'static str],
    /// A fragment each refusal message must contain, in order.
    messages: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        reference: "registry.example.com/team/app:1.2",
        signers: &["keys/release.pub"],
        allowed: true,
        rule: Some("internal"),
        denied: &[],
        messages: &[],
    },
    Case {
        reference: "registry.example.com/team/app:1.2",
        signers: &["keys/release-2026.pub"],
        allowed: true,
        rule: Some("internal"),
        denied: &[],
        messages: &[],
    },
    Case {
        reference: "registry.example.com/team/app:1.2",
        signers: &[],
        allowed: false,
        rule: Some("internal"),
        denied: &["no-trusted-signer"],
        messages: &["no signature verified"],
    },
    Case {
        reference: "registry.example.com/team/app:1.2",
        signers: &["keys/other.pub"],
        allowed: false,
        rule: Some("internal"),
        denied: &["no-trusted-signer"],
        messages: &["verified signers: keys/other.pub"],
    },
    Case {
        reference: "registry.example.com/team/app:latest",
        signers: &["keys/release.pub"],
        allowed: false,
        rule: Some("internal"),
        denied: &["tag-denied"],
        messages: &["tag \"latest\""],
    },
    // No tag and no digest means latest.
    Case {
        reference: "registry.example.com/team/app",
        signers: &["keys/release.pub"],
        allowed: false,
        rule: Some("internal"),
        denied: &["tag-denied"],
        messages: &["latest"],
    },
    Case {
        reference: "registry.example.com/team/app:2.0-dev",
        signers: &[],
        allowed: false,
        rule: Some("internal"),
        denied: &["tag-denied", "no-trusted-signer"],
        messages: &["*-dev", "one of keys/release.pub, keys/release-2026.pub"],
    },
    // A deeper repository is not matched by `*`: falls through to the default.
    Case {
        reference: "registry.example.com/team/sub/app:1",
        signers: &["keys/release.pub"],
        allowed: false,
        rule: None,
        denied: &["no-matching-source"],
        messages: &["registry.example.com/team/sub/app"],
    },
    Case {
        reference: "debian:12",
        signers: &["keys/release.pub"],
        allowed: false,
        rule: Some("blocked-hub"),
        denied: &["source-denied"],
        messages: &["docker.io/library/debian"],
    },
    Case {
        reference: "prod.example.com/svc/api@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        signers: &["keys/release.pub", "sha256:abcdef"],
        allowed: true,
        rule: Some("prod"),
        denied: &[],
        messages: &[],
    },
    Case {
        reference: "prod.example.com/svc/api:1.0",
        signers: &["keys/release.pub"],
        allowed: false,
        rule: Some("prod"),
        denied: &["digest-required", "signer-missing"],
        messages: &["requires a digest", "sha256:ab*"],
    },
    Case {
        reference: "127.0.0.1:5000/mirror/x/y:latest",
        signers: &[],
        allowed: true,
        rule: Some("mirror"),
        denied: &[],
        messages: &[],
    },
    Case {
        reference: "quay.io/acme/app:1",
        signers: &["keys/release.pub"],
        allowed: false,
        rule: None,
        denied: &["no-matching-source"],
        messages: &["quay.io/acme/app"],
    },
];

#[test]
fn references_against_rules() {
    let sources: TrustedSources = serde_saphyr::from_str(POLICY).unwrap();
    sources.validate().unwrap();
    for case in CASES {
        let reference = case.reference.parse().unwrap();
        let facts = ImageFacts {
            reference,
            digest: Some(DIGEST.to_owned()),
            signers: case
                .signers
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>(),
        };
        let d = sources.evaluate(&facts);
        let ctx = format!("{} signed by {:?}: {d:#?}", case.reference, case.signers);
        assert_eq!(d.allowed, case.allowed, "{ctx}");
        assert_eq!(d.rule.as_deref(), case.rule, "{ctx}");
        assert_eq!(d.digest.as_deref(), Some(DIGEST), "{ctx}");
        let codes: Vec<&str> = d.denied_because.iter().map(|r| r.code).collect();
        assert_eq!(codes, case.denied, "{ctx}");
        for (reason, fragment) in d.denied_because.iter().zip(case.messages) {
            assert!(
                reason.message.contains(fragment),
                "{fragment:?} not in {:?}",
                reason.message
            );
        }
        if d.allowed && d.rule.is_some() {
            assert!(
                d.satisfied.iter().any(|r| r.code == "source-matched"),
                "{ctx}"
            );
        }
    }
}

#[test]
fn default_allow_and_bad_policies() {
    let sources: TrustedSources = serde_saphyr::from_str("default: allow\n").unwrap();
    let facts = ImageFacts {
        reference: "quay.io/x/y:1".parse().unwrap(),
        digest: None,
        signers: BTreeSet::new(),
    };
    let d = sources.evaluate(&facts);
    assert!(d.allowed);
    assert_eq!(d.satisfied[0].code, "default-allow");

    // Unknown keys are refused (a typo must not silently weaken the policy).
    let typo = "rules:\n  - name: x\n    images: [\"a/*\"]\n    signer: {any-of: [k]}\n";
    assert!(serde_saphyr::from_str::<TrustedSources>(typo).is_err());
    let empty = "rules:\n  - name: x\n    images: []\n";
    let parsed: TrustedSources = serde_saphyr::from_str(empty).unwrap();
    assert!(
        parsed
            .validate()
            .unwrap_err()
            .to_string()
            .contains("images")
    );
}
