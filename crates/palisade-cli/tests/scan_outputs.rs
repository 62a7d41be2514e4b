//! `palisade scan` report formats on the real testbed "app" image and the real feed snapshots:
//! SARIF 2.1.0 (validated against the OASIS schema), CycloneDX 1.6 with `vulnerabilities`
//! (validated by cyclonedx-python-lib), and `--ignorefile`.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::*;

/// Runs a scan writing `format` to a file; returns the exit code and the parsed document.
fn scan_to_file(format: &str, extra: &[&str]) -> (i32, PathBuf, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("report.{format}.json"));
    let mut args = vec!["--format", format, "--output", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = scan(&image("app"), &args);
    let code = out.status.code().unwrap();
    assert_ne!(code, 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "--output must keep stdout empty");
    let v = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    (code, file, v, dir)
}

#[test]
fn sarif_is_valid_and_has_a_rule_per_advisory() {
    let (_, json) = scan_json(&image("app"), &[]);
    let f = findings(&json);
    assert!(!f.is_empty());
    let (code, file, v, _dir) = scan_to_file("sarif", &["--exit-code", "3"]);
    assert_eq!(code, 3);
    validate("sarif", &file);

    assert_eq!(v["version"], "2.1.0");
    assert_eq!(
        v["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "palisade");
    assert!(driver["version"].is_string());
    assert!(driver["informationUri"].is_string());
    let rules = driver["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();

    // One rule per advisory id, sorted; one result per finding, in the JSON report's order.
    let mut ids: Vec<&str> = f.iter().map(|x| x["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rule_ids, ids);
    assert_eq!(results.len(), f.len());
    for (r, x) in results.iter().zip(f) {
        assert_eq!(r["ruleId"], x["id"]);
        let rule = &rules[usize::try_from(r["ruleIndex"].as_u64().unwrap()).unwrap()];
        assert_eq!(rule["id"], x["id"]);
        let want = match x["severity"].as_str().unwrap() {
            "CRITICAL" | "HIGH" => "error",
            "MEDIUM" => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], want, "{x}");
        assert_eq!(rule["defaultConfiguration"]["level"], want);
        let msg = r["message"]["text"].as_str().unwrap();
        let pkg = format!(
            "{}@{}",
            x["package"]["name"].as_str().unwrap(),
            x["package"]["version"].as_str().unwrap()
        );
        assert!(msg.starts_with(&pkg), "{msg}");
        // The advice is the package's one upgrade (the JSON report's `upgrades`), which is
        // at least this finding's own first fix.
        let fixed = x["fixed_versions"].as_array().unwrap();
        let upgrade = json["upgrades"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["purl"] == x["package"]["purl"] && u["version"] == x["package"]["version"])
            .unwrap_or_else(|| panic!("no upgrade entry for {x}"));
        if fixed.is_empty() {
            assert!(msg.contains("No fixed version yet"), "{msg}");
        } else {
            let to = upgrade["upgrade_to"]
                .as_str()
                .unwrap_or_else(|| panic!("{upgrade}"));
            assert!(
                msg.contains(&format!(
                    "Upgrade {} to {to}",
                    x["package"]["name"].as_str().unwrap(),
                )),
                "{msg}"
            );
        }
        if let Some(score) = x["cvss"]["score"].as_f64() {
            assert_eq!(
                rule["properties"]["security-severity"],
                format!("{score:.1}")
            );
        }
        assert!(rule["help"]["text"].as_str().unwrap().contains("Fix:"));
        assert!(rule["help"]["markdown"].is_string());
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        assert_eq!(
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            x["package"]["purl"]
        );
    }
    // The evidence file of the old requests is the artifact location.
    let uris: Vec<&str> = results
        .iter()
        .filter_map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    assert!(
        uris.iter().any(|u| u.starts_with("usr/")
            && u.contains("site-packages/requests-")
            && u.ends_with(".dist-info/METADATA")),
        "{uris:?}"
    );

    // Deterministic.
    let (_, _, again, _d) = scan_to_file("sarif", &[]);
    assert_eq!(again, v);
}

#[test]
fn cyclonedx_has_valid_vulnerabilities() {
    let (_, json) = scan_json(&image("app"), &[]);
    let f = findings(&json);
    let (_, file, v, _dir) = scan_to_file("cyclonedx", &[]);
    validate("cyclonedx", &file);
    assert_eq!(v["specVersion"], "1.6");
    let refs: std::collections::BTreeSet<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["bom-ref"].as_str())
        .collect();
    let vulns = v["vulnerabilities"].as_array().unwrap();
    let mut ids: Vec<&str> = f.iter().map(|x| x["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    let vuln_ids: Vec<&str> = vulns.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(vuln_ids, ids);
    for x in f {
        let vuln = vulns.iter().find(|u| u["id"] == x["id"]).unwrap();
        assert!(vuln["bom-ref"].is_string());
        assert!(vuln["source"]["name"].is_string());
        let purl = x["package"]["purl"].as_str().unwrap();
        assert!(refs.contains(purl), "{purl} is not a component bom-ref");
        assert!(
            vuln["affects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["ref"] == purl),
            "{vuln}"
        );
        let aliases: Vec<&Value> = x["aliases"].as_array().unwrap().iter().collect();
        let references: Vec<&Value> = vuln["references"]
            .as_array()
            .map(|r| r.iter().map(|r| &r["id"]).collect())
            .unwrap_or_default();
        assert_eq!(references, aliases, "{vuln}");
        let rating = &vuln["ratings"][0];
        assert_eq!(
            rating["severity"],
            x["severity"].as_str().unwrap().to_lowercase()
        );
        if let Some(score) = x["cvss"]["score"].as_f64() {
            assert_eq!(rating["score"].as_f64(), Some(score));
            assert_eq!(rating["vector"], x["cvss"]["vector"]);
            assert!(
                ["CVSSv31", "CVSSv3", "CVSSv4", "CVSSv2"]
                    .contains(&rating["method"].as_str().unwrap()),
                "{rating}"
            );
        }
        assert!(vuln["recommendation"].is_string());
        let kev = vuln["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "palisade:kev")
            .unwrap();
        if x["kev"] == true {
            assert_eq!(kev["value"], "true");
        }
    }
}

fn write_ignore(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("palisade-ignore.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn active_ignore_entries_pass_the_gate() {
    // Coverage is another test's subject (tests/checked.rs): no feed here covers Debian or npm.
    let gate = ["--min-cvss", "9", "--exit-code", "1", "--coverage", "warn"];
    let (code, v) = scan_json(&image("app"), &gate);
    assert_eq!(code, 1);
    assert!(v.get("ignored").is_none() && v.get("ignore_expired").is_none());
    let f = findings(&v);
    // Ignore each critical finding: by a CVE alias where it has one, restricted to its package.
    let mut yaml = String::new();
    for x in f {
        let id = x["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .find(|a| a.starts_with("CVE-"))
            .unwrap_or_else(|| x["id"].as_str().unwrap());
        yaml.push_str(&format!(
            "- id: {id}\n  package: {}\n  reason: accepted for the test\n  expires: 2999-12-31\n",
            x["package"]["name"].as_str().unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_ignore(dir.path(), &yaml);
    let mut args = gate.to_vec();
    args.extend(["--ignorefile", file.to_str().unwrap()]);
    let (code, after) = scan_json(&image("app"), &args);
    assert_eq!(code, 0, "{after}");
    assert!(findings(&after).is_empty());
    let ignored = after["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), f.len());
    for i in ignored {
        assert_eq!(i["reason"], "accepted for the test");
        assert_eq!(i["expires"], "2999-12-31");
        assert!(i["id"].is_string() && i["package"]["purl"].is_string());
    }
    assert_eq!(after["counts"]["CRITICAL"], 0);

    // A package restriction that does not match leaves the finding alone.
    let first = &f[0];
    let file = write_ignore(
        dir.path(),
        &format!(
            "- id: {}\n  package: no-such-package\n  reason: wrong package\n",
            first["id"].as_str().unwrap()
        ),
    );
    let mut args = gate.to_vec();
    args.extend(["--ignorefile", file.to_str().unwrap()]);
    let (code, v) = scan_json(&image("app"), &args);
    assert_eq!(code, 1);
    assert_eq!(findings(&v).len(), f.len());
}

#[test]
fn expired_ignore_entries_stop_applying_and_are_reported() {
    // Coverage is another test's subject (tests/checked.rs): no feed here covers Debian or npm.
    let gate = ["--min-cvss", "9", "--exit-code", "1", "--coverage", "warn"];
    let (_, v) = scan_json(&image("app"), &gate);
    let f = findings(&v);
    let id = f[0]["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_ignore(
        dir.path(),
        &format!("- id: {id}\n  reason: was accepted\n  expires: 2020-01-31\n"),
    );
    let mut args = gate.to_vec();
    args.extend(["--ignorefile", file.to_str().unwrap()]);
    let (code, after) = scan_json(&image("app"), &args);
    assert_eq!(code, 1);
    assert_eq!(findings(&after).len(), f.len());
    assert!(after.get("ignored").is_none());
    let msg = format!("ignore entry for {id} expired on 2020-01-31");
    assert_eq!(after["ignore_expired"][0]["message"], msg.as_str());
    assert_eq!(after["ignore_expired"][0]["reason"], "was accepted");

    let out = scan(&image("app"), &args);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains(&msg), "{table}");
}

#[test]
fn bad_ignore_files_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        ("- id: CVE-2018-18074\n  package: requests\n", "reason"),
        (
            "- id: CVE-2018-18074\n  reason: ok\n  until: 2030-01-01\n",
            "until",
        ),
        (
            "- id: CVE-2018-18074\n  reason: ok\n  expires: 2030-02-30\n",
            "not a date",
        ),
    ] {
        let file = write_ignore(dir.path(), text);
        let out = scan(
            &image("app"),
            &["--ignorefile", file.to_str().unwrap(), "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("palisade-ignore.yaml"), "{err}");
        assert!(err.contains(want), "{err}");
    }
    let err = String::from_utf8_lossy(
        &scan(
            &image("app"),
            &[
                "--ignorefile",
                write_ignore(dir.path(), "- id: X\n  reason: r\n  until: 2030-01-01\n")
                    .to_str()
                    .unwrap(),
            ],
        )
        .stderr,
    )
    .into_owned();
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn trivy_ignore_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    // Plain .trivyignore: the comment above an id is its reason.
    let plain = dir.path().join(".trivyignore");
    std::fs::write(
        &plain,
        "# PyYAML is only fed trusted files\nCVE-2020-14343\nCVE-2020-1747 exp:2999-12-31\n",
    )
    .unwrap();
    let (_, v) = scan_json(&image("app"), &["--ignorefile", plain.to_str().unwrap()]);
    let ignored = v["ignored"].as_array().unwrap();
    let pyyaml: Vec<&Value> = ignored
        .iter()
        .filter(|i| i["package"]["name"] == "PyYAML")
        .collect();
    assert_eq!(pyyaml.len(), 2, "{ignored:?}");
    assert!(
        findings(&v)
            .iter()
            .all(|f| f["package"]["name"] != "PyYAML"),
        "PyYAML's findings are suppressed"
    );
    assert!(
        ignored
            .iter()
            .any(|i| i["reason"] == "PyYAML is only fed trusted files")
    );
    // .trivyignore.yaml with purls: only that package.
    let yaml = dir.path().join(".trivyignore.yaml");
    std::fs::write(
        &yaml,
        "vulnerabilities:\n  - id: CVE-2023-37920\n    statement: pinned CA bundle\n    purls: [\"pkg:pypi/certifi@2018.4.16\"]\n",
    )
    .unwrap();
    let (_, v) = scan_json(&image("app"), &["--ignorefile", yaml.to_str().unwrap()]);
    let ignored = v["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0]["package"]["name"], "certifi");
    assert_eq!(ignored[0]["reason"], "pinned CA bundle");
}
