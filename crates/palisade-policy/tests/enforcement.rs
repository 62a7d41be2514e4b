//! The entry points of the enforcement points (admission webhook, Docker authorization
//! plugin, policy watcher and bundle): `evaluate_checks`, `source_reasons` and
//! `dependencies`, each held to what `evaluate` does with the same facts.

use std::path::{Path, PathBuf};

use palisade_image::Reference;
use palisade_policy::{
    CheckInput, Effect, ErrorKind, ExceptionStatus, HardeningInput, Input, Policy, Reason, Section,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_policy() -> Policy {
    Policy::load(&fixtures().join("policy.yaml")).expect("fixture policy loads")
}

fn input(name: &str) -> Input {
    let text = std::fs::read_to_string(fixtures().join("inputs").join(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture input parses")
}

fn check(id: &str, status: &str, level: u8) -> CheckInput {
    CheckInput {
        id: id.into(),
        title: format!("title of {id}"),
        status: status.into(),
        level,
        message: format!("{id} is {status}"),
        remediation: format!("fix {id}"),
    }
}

/// A policy whose hardening section and check exceptions exercise every path: level 2 with
/// an exclude, `deny_on: warn` overridden in dev, exceptions scoped by image (full name and
/// Docker Hub short name), by environment, expired, and one for any image.
const CHECKS_POLICY: &str = r#"version: 1
default_environment: prod
environments: [prod, dev]
hardening:
  level: 2
  exclude: ["CIS-DOCKER-4.9"]
  deny_on: warn
  environments:
    dev: { level: 1, deny_on: none }
exceptions:
  - name: app-runs-as-root
    checks: ["CIS-DOCKER-4.1"]
    images: ["registry.acme.com/app"]
    reason: "the app drops privileges itself"
    approved_by: alice@example.com
    expires: 2027-01-31
  - name: nginx-healthcheck
    checks: ["CIS-DOCKER-4.6"]
    images: ["docker.io/library/nginx"]
    reason: "probes come from the orchestrator"
    approved_by: bob@example.com
    expires: 2027-01-31
  - name: privileged-in-dev
    checks: ["CIS-DOCKER-5.4"]
    environments: [dev]
    reason: "dev clusters run debug pods"
    approved_by: carol@example.com
    expires: 2027-01-31
  - name: old-memory-waiver
    checks: ["CIS-DOCKER-5.10"]
    reason: "lapsed"
    approved_by: dave@example.com
    expires: 2026-06-30
  - name: any-image-pids
    checks: ["CIS-DOCKER-5.28"]
    images: ["**"]
    reason: "pids limits come with the next runtime"
    approved_by: erin@example.com
    expires: 2027-01-31
  - name: daemon-json-mode
    checks: ["CIS-DOCKER-3.18"]
    reason: "being fixed by configuration management"
    approved_by: frank@example.com
    expires: 2027-01-31
"#;

fn checks_policy() -> Policy {
    Policy::parse(CHECKS_POLICY, "checks.yaml", Path::new(".")).expect("checks policy parses")
}

fn results() -> Vec<CheckInput> {
    vec![
        check("CIS-DOCKER-4.1", "fail", 1),
        check("CIS-DOCKER-4.6", "warn", 1),
        check("CIS-DOCKER-4.9", "fail", 1),
        check("CIS-DOCKER-5.4", "fail", 1),
        check("CIS-DOCKER-5.10", "fail", 1),
        check("CIS-DOCKER-5.28", "fail", 1),
        check("CIS-DOCKER-3.18", "fail", 1),
        check("CIS-DOCKER-5.2", "warn", 2),
        check("CIS-DOCKER-5.5", "pass", 1),
        check("CIS-DOCKER-5.7", "manual", 1),
        check("CIS-DOCKER-5.8", "not-applicable", 1),
        check("CIS-DOCKER-5.12", "info", 1),
        // The same failure twice (two containers of one pod): one reason, as in a decision.
        check("CIS-DOCKER-5.4", "fail", 1),
    ]
}

/// An input whose only section is hardening, for `reference` (parsed as the gate does).
fn hardening_input(env: &str, now: &str, reference: &str, results: Vec<CheckInput>) -> Input {
    let r: Reference = reference.parse().expect("reference");
    Input {
        now: now.into(),
        environment: env.into(),
        image: palisade_policy::ImageInput {
            reference: reference.into(),
            registry: r.registry().into(),
            repository: r.repository().into(),
            tag: r.tag().map(str::to_owned),
            ..palisade_policy::ImageInput::default()
        },
        hardening: Some(HardeningInput { results }),
        ..Input::default()
    }
}

fn hardening_reasons_of_evaluate(policy: &Policy, input: &Input) -> Vec<Reason> {
    policy
        .evaluate(input)
        .expect("evaluates")
        .decision
        .reasons
        .into_iter()
        .filter(|r| r.section == Section::Hardening)
        .collect()
}

#[test]
fn evaluate_checks_gives_exactly_the_hardening_reasons_of_evaluate() {
    let mut cases: Vec<(Policy, Input)> = Vec::new();
    // The fixture policy with its own inputs, in each environment and around the expiry of
    // its check exception (2026-12-31).
    for name in ["app.json", "clean.json"] {
        for env in ["prod", "dev", "staging"] {
            for now in ["2026-11-28T22:00:00Z", "2027-01-01T00:00:00Z"] {
                let mut i = input(name);
                i.environment = env.into();
                i.now = now.into();
                cases.push((fixture_policy(), i));
            }
        }
    }
    // The checks policy for several images, environments and clocks.
    for reference in [
        "registry.acme.com/app:1.0",
        "registry.acme.com/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "registry.acme.com/other:2",
        "nginx:1.25",
        "docker.io/library/nginx:1.25",
        "127.0.0.1:5000/testbed/app:v1",
    ] {
        for env in ["prod", "dev", ""] {
            for now in ["2026-12-06T00:00:00Z", "2027-02-01T00:00:00Z"] {
                cases.push((
                    checks_policy(),
                    hardening_input(env, now, reference, results()),
                ));
            }
        }
    }
    let mut excepted = 0;
    let mut expired = 0;
    for (policy, i) in &cases {
        let expected = hardening_reasons_of_evaluate(policy, i);
        let checks = &i.hardening.as_ref().expect("hardening input").results;
        let got = policy
            .evaluate_checks(&i.environment, &i.now, &i.image.reference, checks)
            .expect("evaluate_checks");
        assert_eq!(
            got, expected,
            "env {:?}, now {}, image {}",
            i.environment, i.now, i.image.reference
        );
        excepted += got.iter().filter(|r| r.effect == Effect::Excepted).count();
        expired += got
            .iter()
            .filter(|r| {
                r.exception
                    .as_ref()
                    .is_some_and(|e| e.status == ExceptionStatus::Expired)
            })
            .count();
    }
    assert!(excepted > 0 && expired > 0, "the cases cover exceptions");
}

#[test]
fn evaluate_checks_selects_judges_and_excepts_as_the_policy_says() {
    let p = checks_policy();
    let now = "2026-12-06T00:00:00Z";
    let summary = |reasons: &[Reason]| -> Vec<(String, Effect, Option<String>)> {
        reasons
            .iter()
            .map(|r| {
                (
                    r.rule.clone(),
                    r.effect,
                    r.exception.as_ref().map(|e| e.name.clone()),
                )
            })
            .collect()
    };
    let prod = p
        .evaluate_checks("prod", now, "registry.acme.com/app:1.0", &results())
        .unwrap();
    let s = summary(&prod);
    // 4.9 is excluded, pass/manual/not-applicable/info give nothing, the duplicate is one.
    assert_eq!(prod.len(), 7, "{s:?}");
    assert!(s.iter().all(|(rule, _, _)| rule != "CIS-DOCKER-4.9"));
    assert!(s.contains(&(
        "CIS-DOCKER-4.1".into(),
        Effect::Excepted,
        Some("app-runs-as-root".into())
    )));
    // deny_on: warn makes a warning deny; level 2 selects the level-2 check.
    assert!(s.contains(&("CIS-DOCKER-4.6".into(), Effect::Deny, None)));
    assert!(s.contains(&("CIS-DOCKER-5.2".into(), Effect::Deny, None)));
    assert!(s.contains(&("CIS-DOCKER-5.4".into(), Effect::Deny, None)));
    assert!(s.contains(&(
        "CIS-DOCKER-5.10".into(),
        Effect::Deny,
        Some("old-memory-waiver".into())
    )));
    let lapsed = prod.iter().find(|r| r.rule == "CIS-DOCKER-5.10").unwrap();
    assert!(
        lapsed
            .message
            .ends_with("; exception old-memory-waiver expired on 2026-06-30"),
        "{}",
        lapsed.message
    );
    let first = &prod.iter().find(|r| r.rule == "CIS-DOCKER-5.4").unwrap();
    assert_eq!(first.code, "check-failed");
    assert_eq!(first.subject["check"], "CIS-DOCKER-5.4");
    assert_eq!(first.fix.as_deref(), Some("fix CIS-DOCKER-5.4"));

    // Another image: the image-scoped exception does not apply; `**` still does.
    let other = p
        .evaluate_checks("prod", now, "registry.acme.com/other:2", &results())
        .unwrap();
    let s = summary(&other);
    assert!(s.contains(&("CIS-DOCKER-4.1".into(), Effect::Deny, None)));
    assert!(s.contains(&(
        "CIS-DOCKER-5.28".into(),
        Effect::Excepted,
        Some("any-image-pids".into())
    )));

    // A Docker Hub short name is matched as registry/repository.
    let nginx = p
        .evaluate_checks("prod", now, "nginx:1.25", &results())
        .unwrap();
    assert!(summary(&nginx).contains(&(
        "CIS-DOCKER-4.6".into(),
        Effect::Excepted,
        Some("nginx-healthcheck".into())
    )));

    // dev: level 1 drops 5.2, deny_on none only warns, the dev exception applies.
    let dev = p
        .evaluate_checks("dev", now, "registry.acme.com/other:2", &results())
        .unwrap();
    let s = summary(&dev);
    assert!(s.iter().all(|(rule, _, _)| rule != "CIS-DOCKER-5.2"));
    assert!(dev.iter().all(|r| r.effect != Effect::Deny), "{s:?}");
    assert!(s.contains(&(
        "CIS-DOCKER-5.4".into(),
        Effect::Excepted,
        Some("privileged-in-dev".into())
    )));
    // The empty environment is the policy's default.
    assert_eq!(
        p.evaluate_checks("", now, "registry.acme.com/app:1.0", &results())
            .unwrap(),
        prod
    );
}

#[test]
fn host_checks_have_no_image_so_only_unscoped_exceptions_apply() {
    let p = checks_policy();
    let now = "2026-12-06T00:00:00Z";
    let host = vec![
        check("CIS-DOCKER-3.18", "fail", 1),
        check("CIS-DOCKER-5.28", "fail", 1),
        check("CIS-DOCKER-4.1", "fail", 1),
    ];
    let reasons = p.evaluate_checks("prod", now, "", &host).unwrap();
    let by_rule = |id: &str| reasons.iter().find(|r| r.rule == id).expect(id);
    assert_eq!(by_rule("CIS-DOCKER-3.18").effect, Effect::Excepted);
    // `images: ["**"]` names images: a host result is about none.
    assert_eq!(by_rule("CIS-DOCKER-5.28").effect, Effect::Deny);
    assert_eq!(by_rule("CIS-DOCKER-4.1").effect, Effect::Deny);
}

#[test]
fn evaluate_checks_without_a_hardening_section_gives_nothing_and_checks_its_arguments() {
    let p = Policy::parse(
        "version: 1\nenvironments: [prod]\nsources:\n  default: allow\n",
        "nohardening.yaml",
        Path::new("."),
    )
    .unwrap();
    let failing = vec![check("CIS-DOCKER-5.4", "fail", 1)];
    assert_eq!(
        p.evaluate_checks("prod", "2026-12-06T00:00:00Z", "app:1", &failing)
            .unwrap(),
        []
    );
    let err = p
        .evaluate_checks("prdo", "2026-12-06T00:00:00Z", "app:1", &failing)
        .unwrap_err();
    assert!(err.to_string().contains("unknown environment"), "{err}");
    let err = checks_policy()
        .evaluate_checks("prod", "yesterday", "app:1", &failing)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Eval);
    assert!(err.to_string().contains("RFC 3339"), "{err}");
}

#[test]
fn source_reasons_are_the_signature_free_source_reasons_of_evaluate() {
    let p = fixture_policy();
    let digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let cases: Vec<(String, Vec<&str>)> = vec![
        // `internal` matches; its signer requirement is left out.
        ("127.0.0.1:5000/testbed/app:1.0".into(), vec![]),
        (format!("127.0.0.1:5000/testbed/app@{digest}"), vec![]),
        ("registry.acme.com/team/app:2".into(), vec![]),
        // No rule: the default denies.
        ("quay.io/other/app:1".into(), vec!["untrusted-source"]),
        // `blocked` (action: deny), also through a Docker Hub short name.
        (
            "docker.io/library/debian:12".into(),
            vec!["untrusted-source"],
        ),
        ("debian:12".into(), vec!["untrusted-source"]),
        // Tag rules.
        (
            "127.0.0.1:5000/testbed/app:latest".into(),
            vec!["tag-denied"],
        ),
        ("127.0.0.1:5000/testbed/app".into(), vec!["tag-denied"]),
        ("registry.pinned.com/app:1".into(), vec!["digest-required"]),
        (format!("registry.pinned.com/app:1@{digest}"), vec![]),
    ];
    for (reference, codes) in cases {
        let r: Reference = reference.parse().unwrap();
        let got = p.source_reasons("prod", &r).unwrap();
        let got_codes: Vec<&str> = got.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(got_codes, codes, "{reference}");
        assert!(got.iter().all(|r| r.effect == Effect::Deny));

        // `evaluate` on the same reference without signatures: the same reasons, plus the
        // signer requirement.
        let mut i = input("clean.json");
        i.image.reference = r.to_string();
        i.image.registry = r.registry().into();
        i.image.repository = r.repository().into();
        i.image.tag = r.tag().map(str::to_owned);
        i.trust = None;
        let expected: Vec<Reason> = p
            .evaluate(&i)
            .unwrap()
            .decision
            .reasons
            .into_iter()
            .filter(|r| r.section == Section::Sources && !r.code.starts_with("signature-"))
            .collect();
        assert_eq!(got, expected, "{reference}");
    }
    let untrusted = p
        .source_reasons("prod", &"quay.io/other/app:1".parse().unwrap())
        .unwrap();
    assert_eq!(untrusted[0].rule, "default");
    assert_eq!(untrusted[0].subject["image"], "quay.io/other/app");
    assert!(
        untrusted[0]
            .message
            .contains("no trusted source rule matches"),
        "{}",
        untrusted[0].message
    );

    let err = p
        .source_reasons("prdo", &"quay.io/other/app:1".parse().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("unknown environment"), "{err}");
    assert_eq!(
        checks_policy()
            .source_reasons("prod", &"quay.io/other/app:1".parse().unwrap())
            .unwrap(),
        [],
        "no sources section, no reasons"
    );
}

#[test]
fn dependencies_are_the_keys_and_rego_files_the_policy_reads() {
    let p = fixture_policy();
    let deps = p.dependencies();
    let dir = fixtures().canonicalize().unwrap();
    let canonical: Vec<PathBuf> = deps.iter().map(|d| d.canonicalize().unwrap()).collect();
    assert_eq!(
        canonical,
        [
            dir.join("keys/release.pub"),
            dir.join("keys/ops.pub"),
            dir.join("rules/age.rego"),
        ]
    );
    assert!(deps.iter().all(|d| d.is_absolute()), "{deps:?}");

    // They are what the policy needs: a bundle of the policy file and its dependencies
    // loads elsewhere into the same policy, and each of them missing makes loading fail.
    let bundle = tempfile::tempdir().unwrap();
    let copy = |to: &Path, skip: Option<&Path>| {
        std::fs::copy(fixtures().join("policy.yaml"), to.join("policy.yaml")).unwrap();
        for d in &deps {
            if Some(d.as_path()) == skip {
                continue;
            }
            let rel = d
                .strip_prefix(fixtures())
                .expect("under the policy's directory");
            std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
            std::fs::copy(d, to.join(rel)).unwrap();
        }
    };
    copy(bundle.path(), None);
    let moved = Policy::load(&bundle.path().join("policy.yaml")).expect("the bundle loads");
    assert_eq!(moved.sha256(), p.sha256());
    assert_eq!(moved.dependencies().len(), deps.len());
    for d in &deps {
        let partial = tempfile::tempdir().unwrap();
        copy(partial.path(), Some(d));
        assert!(
            Policy::load(&partial.path().join("policy.yaml")).is_err(),
            "loads without {}",
            d.display()
        );
    }
}

#[test]
fn dependencies_name_trust_roots_once_and_leave_inline_rego_out() {
    let text = r#"version: 1
sources:
  keys:
    release: keys/release.pub
    again: keys/release.pub
  keyless:
    ci:
      identity: https://ci.example/release
      issuer: https://issuer.example
      trusted_root: roots/trusted_root.json
  rules:
    - name: all
      images: ["**"]
      signers: { any_of: [release, ci] }
rules:
  - name: inline
    rego: |
      package inline
      deny contains "never" if { false }
"#;
    let p = Policy::parse(text, "p.yaml", Path::new("/etc/palisade")).unwrap();
    assert_eq!(
        p.dependencies(),
        [
            PathBuf::from("/etc/palisade/keys/release.pub"),
            PathBuf::from("/etc/palisade/roots/trusted_root.json"),
        ]
    );
    let bare = Policy::parse("version: 1\n", "bare.yaml", Path::new(".")).unwrap();
    assert!(bare.dependencies().is_empty());
}
