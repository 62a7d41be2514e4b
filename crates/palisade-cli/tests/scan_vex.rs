//! `palisade scan --format junit` and `--vex` (OpenVEX and CycloneDX VEX) on the real testbed
//! "app" image and the real feed snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::*;

/// Parses JUnit XML with Python's xml.etree and prints `tests failures skipped` of the one
/// testsuite and the number of testcases, failures and skips actually present, and the
/// (classname, name) of each failing testcase.
fn junit_summary(xml: &[u8]) -> (Vec<usize>, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
assert len(suites) == 1, len(suites)
s = suites[0]
assert s.get("name") == "palisade scan"
cases = s.findall("testcase")
fails = [c for c in cases if c.find("failure") is not None]
skips = [c for c in cases if c.find("skipped") is not None]
for c in fails:
    f = c.find("failure")
    assert f.get("message"), c.attrib
print(s.get("tests"), s.get("failures"), s.get("skipped") or 0, len(cases), len(fails), len(skips))
for c in fails:
    print(c.get("classname") + "\t" + c.get("name"))
"#;
    let out = Command::new(validator_python())
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "JUnit XML is not well-formed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let counts = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let fails = lines
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.to_owned(), b.to_owned())
        })
        .collect();
    (counts, fails)
}

fn pkg_at(x: &Value) -> String {
    format!(
        "{}@{}",
        x["package"]["name"].as_str().unwrap(),
        x["package"]["version"].as_str().unwrap()
    )
}

#[test]
fn junit_is_well_formed_and_counts_match_the_json() {
    for extra in [&[][..], &["--min-cvss", "9"][..]] {
        let (_, json) = scan_json(&image("app"), extra);
        let f = findings(&json);
        let mut args = vec!["--format", "junit", "--exit-code", "4"];
        args.extend_from_slice(extra);
        let out = scan(&image("app"), &args);
        assert_eq!(
            out.status.code(),
            Some(if f.is_empty() { 0 } else { 4 }),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (counts, fails) = junit_summary(&out.stdout);
        let [tests, failures, skipped, cases, nfail, nskip] = counts[..] else {
            panic!("{counts:?}");
        };
        assert_eq!(failures, f.len());
        assert_eq!(nfail, f.len());
        assert_eq!(tests, cases);
        assert_eq!(skipped, nskip);
        assert_eq!(skipped, 0);
        // More testcases than failures: the packages without findings pass.
        assert!(tests > failures, "{tests} {failures}");
        let mut want: Vec<(String, String)> = f
            .iter()
            .map(|x| (pkg_at(x), x["id"].as_str().unwrap().to_owned()))
            .collect();
        want.sort();
        let mut got = fails.clone();
        got.sort();
        assert_eq!(got, want);
        // Deterministic.
        let again = scan(&image("app"), &args);
        assert_eq!(again.stdout, out.stdout);
    }
    let text =
        String::from_utf8(scan(&image("app"), &["--format", "junit", "--min-cvss", "9"]).stdout)
            .unwrap();
    assert!(text.contains("<failure message=\"CRITICAL 9."), "{text}");
}

/// The first critical finding that has a CVE alias, and that alias.
fn critical_with_cve(v: &Value) -> (Value, String) {
    findings(v)
        .iter()
        .find_map(|x| {
            let cve = x["aliases"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .find(|a| a.starts_with("CVE-"))?;
            Some((x.clone(), cve.to_owned()))
        })
        .expect("a critical finding with a CVE alias")
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

/// The PURL with a qualifier added, to check that qualifiers are ignored.
fn with_qualifier(purl: &str) -> String {
    if purl.contains('?') {
        format!("{purl}&vex=test")
    } else {
        format!("{purl}?vex=test")
    }
}

#[test]
fn openvex_not_affected_suppresses_and_affected_annotates() {
    // Known severities only: these tests count CRITICAL findings.
    let gate = [
        "--min-cvss",
        "9",
        "--exit-code",
        "1",
        "--unknown-severity",
        "ignore",
    ];
    let (code, v) = scan_json(&image("app"), &gate);
    assert_eq!(code, 1);
    let before = findings(&v).len();
    let (target, cve) = critical_with_cve(&v);
    let purl = target["package"]["purl"].as_str().unwrap();
    let same = findings(&v)
        .iter()
        .filter(|x| {
            x["package"]["purl"] == purl
                && x["aliases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .chain([&x["id"]])
                    .any(|a| a == cve.as_str())
        })
        .count();
    let dir = tempfile::tempdir().unwrap();
    let doc = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "test",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": cve},
            "products": [{"@id": with_qualifier(purl)}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]
    });
    let file = write(dir.path(), "app.openvex.json", &doc);
    let mut args = gate.to_vec();
    args.extend(["--vex", file.to_str().unwrap()]);
    let (_, after) = scan_json(&image("app"), &args);
    assert_eq!(findings(&after).len(), before - same);
    assert_eq!(after["counts"]["CRITICAL"], before - same);
    let ignored = after["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), same);
    let reason = format!(
        "VEX not_affected: vulnerable_code_not_in_execute_path ({})",
        file.display()
    );
    assert_eq!(ignored[0]["reason"], reason.as_str());
    assert_eq!(ignored[0]["package"]["purl"], purl);
    assert!(
        findings(&after)
            .iter()
            .all(|x| x["package"]["purl"] != purl || x["id"] != target["id"])
    );

    // SARIF keeps the suppressed results, marked as such (valid against the schema), and
    // CycloneDX lists them apart with the VEX analysis.
    let sarif_file = dir.path().join("suppressed.sarif");
    let mut sargs = args.clone();
    sargs.extend([
        "--format",
        "sarif",
        "--output",
        sarif_file.to_str().unwrap(),
    ]);
    assert_eq!(scan(&image("app"), &sargs).status.code(), Some(1));
    validate("sarif", &sarif_file);
    let sarif: Value = serde_json::from_slice(&std::fs::read(&sarif_file).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(results.len(), before);
    assert_eq!(suppressed.len(), same);
    for r in &suppressed {
        assert_eq!(r["suppressions"][0]["kind"], "external");
        assert_eq!(r["suppressions"][0]["justification"], reason.as_str());
        assert_eq!(r["properties"]["vex"]["status"], "not_affected");
    }
    let cdx_file = dir.path().join("suppressed.cdx.json");
    let mut cargs = args.clone();
    cargs.extend([
        "--format",
        "cyclonedx",
        "--output",
        cdx_file.to_str().unwrap(),
    ]);
    assert_eq!(scan(&image("app"), &cargs).status.code(), Some(1));
    validate("cyclonedx", &cdx_file);
    let bom: Value = serde_json::from_slice(&std::fs::read(&cdx_file).unwrap()).unwrap();
    let entry = bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["bom-ref"]
                == format!(
                    "vulnerability:{}:suppressed",
                    ignored[0]["id"].as_str().unwrap()
                )
        })
        .expect("the suppressed vulnerability in the BOM");
    assert_eq!(entry["analysis"]["state"], "not_affected");
    let detail = entry["analysis"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("vulnerable_code_not_in_execute_path"),
        "{detail}"
    );
    assert!(detail.contains("Suppressed: VEX not_affected"), "{detail}");

    // JUnit shows it as skipped.
    let mut jargs = args.clone();
    jargs.extend(["--format", "junit"]);
    let out = scan(&image("app"), &jargs);
    let (counts, _) = junit_summary(&out.stdout);
    assert_eq!(counts[1], before - same);
    assert_eq!(counts[2], same);

    // Another version of the package in the product: no effect.
    let other = purl.rsplit_once('@').unwrap().0.to_owned() + "@0.0.0-not-installed";
    let mut doc2 = doc.clone();
    doc2["statements"][0]["products"][0]["@id"] = Value::from(other);
    let file2 = write(dir.path(), "other.openvex.json", &doc2);
    let mut args = gate.to_vec();
    args.extend(["--vex", file2.to_str().unwrap()]);
    let (code, v2) = scan_json(&image("app"), &args);
    assert_eq!(code, 1);
    assert_eq!(findings(&v2).len(), before);

    // `affected` (on the versionless PURL, by the advisory id) annotates and keeps the finding.
    let versionless = purl
        .split(['?', '#'])
        .next()
        .unwrap()
        .rsplit_once('@')
        .unwrap()
        .0;
    let doc3 = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "statements": [{
            "vulnerability": {"name": target["id"], "aliases": [cve]},
            "products": [{"@id": versionless}],
            "status": "affected",
            "action_statement": "Upgrade <soon> & redeploy"
        }]
    });
    let file3 = write(dir.path(), "affected.openvex.json", &doc3);
    let mut args = gate.to_vec();
    args.extend(["--vex", file3.to_str().unwrap()]);
    let (code, v3) = scan_json(&image("app"), &args);
    assert_eq!(code, 1);
    assert_eq!(findings(&v3).len(), before);
    assert!(v3.get("ignored").is_none());
    let annotated: Vec<&Value> = findings(&v3)
        .iter()
        .filter(|x| x.get("vex").is_some())
        .collect();
    assert!(!annotated.is_empty());
    for x in &annotated {
        assert_eq!(x["package"]["purl"], purl);
        assert_eq!(x["vex"]["status"], "affected");
        assert_eq!(x["vex"]["action_statement"], "Upgrade <soon> & redeploy");
        assert_eq!(x["vex"]["statement"], doc3["statements"][0]);
    }
    // CycloneDX carries the statement as the entry's analysis.
    let cdx_file = dir.path().join("affected.cdx.json");
    let mut cargs = args.clone();
    cargs.extend([
        "--format",
        "cyclonedx",
        "--output",
        cdx_file.to_str().unwrap(),
    ]);
    scan(&image("app"), &cargs);
    let bom: Value = serde_json::from_slice(&std::fs::read(&cdx_file).unwrap()).unwrap();
    let entry = bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == target["id"])
        .unwrap();
    assert_eq!(entry["analysis"]["state"], "exploitable");
    assert!(
        entry["analysis"]["detail"]
            .as_str()
            .unwrap()
            .contains("Upgrade <soon> & redeploy")
    );
    // The table says it too, and JUnit stays well-formed.
    let table = String::from_utf8(scan(&image("app"), &args).stdout).unwrap();
    assert!(table.contains("(VEX: affected)"), "{table}");
    let mut jargs = args.clone();
    jargs.extend(["--format", "junit"]);
    let (counts, _) = junit_summary(&scan(&image("app"), &jargs).stdout);
    assert_eq!(counts[1], before);
}

#[test]
fn cyclonedx_vex_false_positive_suppresses() {
    // Known severities only: these tests count CRITICAL findings.
    let gate = [
        "--min-cvss",
        "9",
        "--exit-code",
        "1",
        "--unknown-severity",
        "ignore",
    ];
    let (_, v) = scan_json(&image("app"), &gate);
    let before = findings(&v).len();
    let target = &findings(&v)[0];
    let id = target["id"].as_str().unwrap();
    let purl = target["package"]["purl"].as_str().unwrap();
    let same = findings(&v)
        .iter()
        .filter(|x| x["id"] == id && x["package"]["purl"] == purl)
        .count();
    let dir = tempfile::tempdir().unwrap();
    let doc = serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": [{"type": "library", "name": "x", "bom-ref": "comp-1", "purl": purl}],
        "vulnerabilities": [
            {"id": id, "analysis": {"state": "false_positive", "detail": "not our build"},
             "affects": [{"ref": "comp-1"}]},
            {"id": "CVE-0000-00000", "analysis": {"state": "in_triage"},
             "affects": [{"ref": purl}]}
        ]
    });
    let file = write(dir.path(), "app.cdx-vex.json", &doc);
    let mut args = gate.to_vec();
    args.extend(["--vex", file.to_str().unwrap()]);
    let (_, after) = scan_json(&image("app"), &args);
    assert_eq!(findings(&after).len(), before - same);
    let ignored = after["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), same);
    assert_eq!(
        ignored[0]["reason"],
        format!("VEX not_affected: false_positive ({})", file.display()).as_str()
    );
    assert_eq!(ignored[0]["vex"]["original_status"], "false_positive");
    assert_eq!(ignored[0]["vex"]["format"], "cyclonedx");

    // `exploitable` by purl ref annotates as affected.
    let doc2 = serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "vulnerabilities": [{"id": id, "analysis": {"state": "exploitable"},
                             "affects": [{"ref": purl}]}]
    });
    let file2 = write(dir.path(), "exploitable.cdx.json", &doc2);
    let mut args = gate.to_vec();
    args.extend(["--vex", file2.to_str().unwrap()]);
    let (_, v2) = scan_json(&image("app"), &args);
    assert_eq!(findings(&v2).len(), before);
    let x = findings(&v2)
        .iter()
        .find(|x| x["id"] == id && x["package"]["purl"] == purl)
        .unwrap();
    assert_eq!(x["vex"]["status"], "affected");
}

#[test]
fn malformed_vex_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        ("garbage.json", "this is not json {", "not JSON"),
        ("other.json", r#"{"hello": "world"}"#, "neither"),
        (
            "badstatus.json",
            r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:pypi/a"}],"status":"maybe"}]}"#,
            "maybe",
        ),
        (
            "nojust.json",
            r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:pypi/a"}],"status":"not_affected"}]}"#,
            "justification",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = scan(
            &image("app"),
            &["--vex", p.to_str().unwrap(), "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{err}");
        assert!(err.contains(want), "{err}");
    }
    let out = scan(
        &image("app"),
        &["--vex", dir.path().join("missing.json").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
}
