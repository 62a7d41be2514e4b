//! `run_tests` over a fixture suite with one passing file and one failing case.

use std::path::Path;

use palisade_policy::{Verdict, run_tests};

#[test]
fn suite_reports_passes_and_failures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/suite");
    let report = run_tests(&dir).expect("suite runs");
    assert_eq!(report.files, 2);
    assert_eq!((report.passed, report.failed), (2, 1), "{report:#?}");
    let names: Vec<_> = report.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "critical finding excepted in prod, high allowed",
            "the exception has expired a year later",
            "this case is wrong on purpose"
        ]
    );
    let failed = &report.cases[2];
    assert!(!failed.passed);
    assert!(failed.file.ends_with("b.test.yaml"));
    assert_eq!(failed.decision, Some(Verdict::Allow));
    assert_eq!(
        failed.differences,
        [
            "decision: expected deny, got allow".to_owned(),
            "reasons: expected severity-denied, got []".to_owned()
        ]
    );
}

#[test]
fn malformed_test_file_is_a_located_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\n").expect("write");
    std::fs::write(
        dir.path().join("x.test.yaml"),
        "policy: policy.yaml\ncases:\n  - name: a\n    input: {}\n    expect: { decison: allow }\n",
    )
    .expect("write");
    let e = run_tests(dir.path()).expect_err("malformed");
    assert!(e.path.ends_with("x.test.yaml"), "{e}");
    assert_eq!(e.line, 5, "{e}");
}
