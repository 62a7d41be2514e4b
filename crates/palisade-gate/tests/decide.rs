//! The gate end to end without the CLI: the real testbed `app` image (a local archive), a
//! database built from the real feed snapshots, and policies that allow and deny.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use palisade_gate::Gate;
use palisade_policy::{Effect, Policy, Verdict};
use palisade_scan::SourceOptions;
use palisade_vulndb::{DatabaseBuilder, Limits, Timestamp, import_nvd, import_osv};

fn app() -> String {
    format!(
        "oci-archive:{}",
        common::testbed().join("app.oci.tar").display()
    )
}

/// OSV PyPI and the NVD excerpt, imported through the library.
fn db() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let feeds = common::feeds();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vuln.db");
        let limits = Limits::default();
        let at = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let mut b = DatabaseBuilder::new(&db);
        b.add(
            import_osv(&feeds.join("osv/PyPI/all.zip"), &limits).unwrap(),
            at.clone(),
        );
        b.add_enrichment(
            import_nvd(&feeds.join("nvd/nvdcve-2.0-excerpt.json"), &limits).unwrap(),
            at,
        );
        b.finish().unwrap();
        (dir, db)
    })
    .1
}

fn decide(policy: &str, env: Option<&str>, trust_local_tags: bool) -> palisade_policy::Decision {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, policy).unwrap();
    let policy = Policy::load(&path).unwrap();
    let options = SourceOptions {
        no_cache: true,
        ..SourceOptions::default()
    };
    let gate = Gate {
        policy: &policy,
        environment: policy.environment(env).unwrap(),
        now: "2026-12-06T00:00:00Z",
        db_path: Some(db().to_owned()),
        options: &options,
        trust_local_tags,
    };
    gate.decide(&app(), &palisade_scan::Silent)
        .unwrap()
        .decision
}

#[test]
fn a_local_image_is_denied_by_source_rules_unless_its_tag_is_trusted() {
    let policy = "version: 1\nsources:\n  default: deny\n  rules:\n    - name: testbed\n      images: [\"**/testbed/**\", \"testbed/**\"]\n      action: allow\n";
    let d = decide(policy, None, false);
    assert_eq!(d.decision, Verdict::Deny);
    assert!(d.reasons.iter().any(|r| r.code == "local-source"), "{d:?}");
    assert_eq!(d.image.origin, "local");
}

/// Issue 14 drift: a layout's `ref.name` (`app`, a tag alone) never becomes a made-up
/// `docker.io/library/app:latest`, not even when the caller trusts local tags.
#[test]
fn a_layouts_tag_alone_is_no_provenance_to_trust() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, "version: 1\nsources:\n  default: allow\n").unwrap();
    let policy = Policy::load(&path).unwrap();
    let options = SourceOptions {
        no_cache: true,
        ..SourceOptions::default()
    };
    let gate = Gate {
        policy: &policy,
        environment: policy.environment(None).unwrap(),
        now: "2026-12-06T00:00:00Z",
        db_path: Some(db().to_owned()),
        options: &options,
        trust_local_tags: true,
    };
    let layout = app()
        .replace("oci-archive:", "oci-dir:")
        .replace("app.oci.tar", "oci:app");
    let err = gate.decide(&layout, &palisade_scan::Silent).unwrap_err();
    assert!(
        err.to_string().contains("is a tag without a registry"),
        "{err}"
    );
    let gate = Gate {
        trust_local_tags: false,
        ..gate
    };
    let d = gate
        .decide(&layout, &palisade_scan::Silent)
        .unwrap()
        .decision;
    assert_eq!(d.image.reference, layout);
    assert!(!d.image.reference.contains("docker.io/library"));
}

#[test]
fn critical_findings_deny_in_prod_and_a_dev_override_allows() {
    let policy = "version: 1\ndefault_environment: prod\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  max_db_age_days: 3650\n  environments:\n    dev: { max_cvss: null }\n";
    let prod = decide(policy, None, false);
    assert_eq!(prod.decision, Verdict::Deny, "{prod:?}");
    assert!(
        prod.reasons
            .iter()
            .any(|r| r.effect == Effect::Deny && r.code.contains("cvss")),
        "{:?}",
        prod.reasons
    );
    let dev = decide(policy, Some("dev"), false);
    assert_ne!(dev.decision, Verdict::Deny, "{dev:?}");
}

#[test]
fn the_clock_is_checked_before_anything_is_read() {
    assert_eq!(
        palisade_gate::normalise_now("2026-12-06").unwrap(),
        "2026-12-06T00:00:00Z"
    );
    assert!(palisade_gate::normalise_now("2026-02-30").is_err());
    assert!(palisade_gate::normalise_now("yesterday").is_err());
    assert!(palisade_gate::now_utc().ends_with('Z'));
}

/// The gate's hardening input is `check_inputs` of the image's report, and the hardening
/// reasons of its decision are what `evaluate_checks` gives for those inputs: the server,
/// converting and judging workload and host reports the same way, agrees with the gate.
#[test]
fn the_gate_converts_reports_with_check_inputs_and_evaluate_checks_agrees() {
    use palisade_harden::target::Target as _;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(
        &path,
        "version: 1\nhardening:\n  level: 2\n  deny_on: warn\nexceptions:\n  - name: healthcheck\n    checks: [CIS-DOCKER-4.6]\n    reason: probes\n    approved_by: a@example.com\n    expires: 2027-01-31\n",
    )
    .unwrap();
    let policy = Policy::load(&path).unwrap();
    let options = SourceOptions {
        no_cache: true,
        ..SourceOptions::default()
    };
    let gate = Gate {
        policy: &policy,
        environment: policy.environment(None).unwrap(),
        now: "2026-12-06T00:00:00Z",
        db_path: None,
        options: &options,
        trust_local_tags: false,
    };
    let source = app();
    let input = gate.gather(&source, &palisade_scan::Silent).unwrap();
    let gathered = input.hardening.clone().expect("hardening input").results;

    let image = palisade_scan::open_image(&source, &options).unwrap();
    let profile = policy.hardening_profile(gate.environment).unwrap();
    let report = palisade_harden::image::ImageFacts::from_image(&image, &source)
        .unwrap()
        .report(&profile)
        .unwrap();
    let converted = palisade_gate::check_inputs(&report);
    assert_eq!(converted, gathered);
    assert!(!converted.is_empty());
    for (c, r) in converted.iter().zip(&report.results) {
        assert_eq!(c, &palisade_gate::check_input(report.target, r));
        let def = report.def(r).expect("a check of the list");
        assert_eq!(c.title, def.title);
        assert_eq!(c.level, def.level.number());
        assert_eq!(c.status, r.status.as_str());
    }

    let decision = gate.evaluate(&input).unwrap().decision;
    let from_decision: Vec<_> = decision
        .reasons
        .into_iter()
        .filter(|r| r.section == palisade_policy::Section::Hardening)
        .collect();
    assert!(
        !from_decision.is_empty(),
        "the testbed app fails some checks"
    );
    let from_checks = policy
        .evaluate_checks(
            gate.environment,
            gate.now,
            &input.image.reference,
            &converted,
        )
        .unwrap();
    assert_eq!(from_checks, from_decision);
}
