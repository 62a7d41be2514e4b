//! The published JSON Schema accepts every example policy of the crate and refuses what the
//! parser refuses.

use std::path::{Path, PathBuf};

use palisade_policy::{POLICY_SCHEMA, Policy, STARTER_POLICY};

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(POLICY_SCHEMA).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn as_json(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str(yaml).expect("YAML")
}

fn examples() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = vec![(PathBuf::from("STARTER_POLICY"), STARTER_POLICY.to_owned())];
    for p in [dir.join("policy.yaml"), dir.join("suite/policy.yaml")] {
        let text = std::fs::read_to_string(&p).expect("fixture");
        out.push((p, text));
    }
    out
}

#[test]
fn every_example_policy_is_valid() {
    let v = validator();
    for (path, text) in examples() {
        let errors: Vec<String> = v
            .iter_errors(&as_json(&text))
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let base = path.parent().unwrap_or(Path::new("."));
        Policy::parse(&text, &path.display().to_string(), base).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn starter_policy_parses_and_explains_every_section() {
    let p = Policy::parse(STARTER_POLICY, "policy.yaml", Path::new(".")).expect("starter parses");
    assert_eq!(p.name(), Some("production"));
    let n = p.needs("prod");
    assert!(n.trust && n.vulnerabilities && n.hardening);
    for section in [
        "sources:",
        "vulnerabilities:",
        "hardening:",
        "exceptions:",
        "rules:",
    ] {
        let line = STARTER_POLICY
            .lines()
            .position(|l| l.starts_with(section))
            .unwrap_or_else(|| panic!("{section} missing"));
        let above = STARTER_POLICY.lines().nth(line - 1).unwrap_or_default();
        assert!(above.starts_with('#'), "{section} has no comment above it");
    }
}

#[test]
fn invalid_policies_fail_both_schema_and_parser() {
    let v = validator();
    let cases = [
        "version: 1\nvulnerabilities:\n  max_cvs: 8.9\n",
        "version: 2\n",
        "version: 1\nsources:\n  rules:\n    - name: r\n      images: [\"a/[b]\"]\n",
        "version: 1\nexceptions:\n  - name: x\n    advisories: [CVE-1]\n    reason: r\n    approved_by: me\n    expires: tomorrow\n",
        "version: 1\nrules:\n  - name: r\n",
        "version: 1\nhardening:\n  level: 3\n",
        "version: 1\nvulnerabilities:\n  severities: [severe]\n",
    ];
    for text in cases {
        assert!(!v.is_valid(&as_json(text)), "schema accepted:\n{text}");
        assert!(
            Policy::parse(text, "p.yaml", Path::new("/nonexistent")).is_err(),
            "parser accepted:\n{text}"
        );
    }
}
