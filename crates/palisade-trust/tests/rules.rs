//! Trusted-source rules, table-driven: references (registries, repositories, tags, digests)
//! and verified signers against expected decisions and every reason, with the rules read from
//! the YAML a policy file would hold.

use std::collections::BTreeSet;

use palisade_trust::rules::{SourceFacts, TrustedSources};

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
        let facts = SourceFacts {
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
    let facts = SourceFacts {
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

/// Signer and tag patterns follow the one glob rule set (palisade_image::glob_match): `*` and
/// `?` stop at `/`. Before, they crossed it in signer patterns, so `*release.pub` accepted a
/// signer named `keys/release.pub`; now that takes `**release.pub` or `keys/*.pub`.
#[test]
fn signer_globs_stop_at_a_slash() {
    let rules = |signer: &str| -> TrustedSources {
        let yaml = format!(
            "rules:\n  - name: r\n    images: [\"registry.example.com/**\"]\n    signers: {{any-of: [\"{signer}\"]}}\n"
        );
        let sources: TrustedSources = serde_saphyr::from_str(&yaml).unwrap();
        sources.validate().unwrap();
        sources
    };
    let facts = SourceFacts {
        reference: "registry.example.com/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111".parse().unwrap(),
        digest: None,
        signers: BTreeSet::from(["keys/release.pub".to_owned()]),
    };
    assert!(
        !rules("*release.pub").evaluate(&facts).allowed,
        "matched before"
    );
    assert!(rules("**release.pub").evaluate(&facts).allowed);
    assert!(rules("keys/*.pub").evaluate(&facts).allowed);
    assert!(
        !rules("KEYS/*.pub").evaluate(&facts).allowed,
        "case-sensitive"
    );

    // Patterns are checked as the policy checks them: `[` was a literal here before.
    let bad = "rules:\n  - name: r\n    images: [\"registry.example.com/[ab]\"]\n";
    let parsed: TrustedSources = serde_saphyr::from_str(bad).unwrap();
    let e = parsed.validate().unwrap_err().to_string();
    assert!(e.contains("`[` is not supported"), "{e}");
}

/// The YAML example in `docs/trust.md` parses, validates and decides as the text says.
#[test]
fn the_documented_rules_parse_and_decide() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/trust.md"),
    )
    .unwrap();
    let start = doc
        .find("```yaml\n")
        .expect("a yaml block in docs/trust.md")
        + 8;
    let len = doc[start..].find("```").unwrap();
    let sources: TrustedSources = serde_saphyr::from_str(&doc[start..start + len]).unwrap();
    sources.validate().unwrap();
    let old_key = "sha256:572439ce5f2123cee20d0251051bdebad6b76f76be6414cc0d2222ad43966c48";
    let new_key = "sha256:bc5875b295bbbcbad19737885800910a4f17f5d0a77e791028e610c744592096";
    let decide = |reference: &str, signers: &[&str]| {
        sources.evaluate(&SourceFacts {
            reference: reference.parse().unwrap(),
            digest: Some(DIGEST.to_owned()),
            signers: signers.iter().map(|s| (*s).to_owned()).collect(),
        })
    };
    // Rotation: either key is enough for the team's releases.
    for key in [old_key, new_key] {
        let d = decide("registry.example.com/team/app:1.0", &[key]);
        assert!(d.allowed, "{d:#?}");
        assert_eq!(d.rule.as_deref(), Some("releases"));
    }
    let d = decide("registry.example.com/team/app:latest", &[old_key]);
    assert!(!d.allowed, "{d:#?}");
    assert_eq!(d.denied_because[0].code, "tag-denied");
    let d = decide("registry.example.com/team/app:1.0", &["sha256:0000"]);
    assert_eq!(d.denied_because[0].code, "no-trusted-signer", "{d:#?}");
    // Production: a key and a keyless identity, by digest only.
    let pinned = format!("prod.example.com/svc/api@{DIGEST}");
    let d = decide(&pinned, &[old_key, "mitr@redhat.com"]);
    assert!(d.allowed, "{d:#?}");
    let d = decide(&pinned, &[old_key]);
    assert!(!d.allowed, "{d:#?}");
    let d = decide(
        "prod.example.com/svc/api:1.0",
        &[old_key, "mitr@redhat.com"],
    );
    assert!(!d.allowed, "{d:#?}");
    // Docker Hub refused, anything else refused by default.
    let d = decide("debian:12", &[old_key]);
    assert_eq!(d.rule.as_deref(), Some("docker-hub"), "{d:#?}");
    assert!(!d.allowed);
    let d = decide("quay.io/x/y:1", &[old_key]);
    assert!(!d.allowed && d.rule.is_none(), "{d:#?}");
}
