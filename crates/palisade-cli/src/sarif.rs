//! `palisade scan --format sarif`: SARIF 2.1.0, one rule per advisory, one result per finding.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::scan::{AdvisoryText, FindingOut, Level, fix_text};

pub(crate) const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF level of a severity: `error` for CRITICAL/HIGH, `warning` for MEDIUM, else `note`.
fn level(l: Level) -> &'static str {
    match l {
        Level::Critical | Level::High => "error",
        Level::Medium => "warning",
        Level::Low | Level::Negligible | Level::Unknown => "note",
    }
}

/// The project's address: the package's `repository`, else the workspace's.
pub(crate) fn information_uri() -> &'static str {
    match env!("CARGO_PKG_REPOSITORY") {
        "" => "https://example.invalid/palisade",
        r => r,
    }
}

/// A SARIF 2.1.0 log with one run of Palisade: its rules, results and run properties.
pub(crate) fn log(rules: Vec<Value>, results: Vec<Value>, properties: Value) -> Value {
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": information_uri(),
                "rules": rules,
            }},
            "results": results,
            "properties": properties,
        }],
    })
}

/// A finding left out of the report by the ignore file or a VEX `not_affected` statement:
/// SARIF keeps it as a result with a suppression, so code-scanning tools show it as dismissed.
pub(crate) struct Suppressed<'a> {
    pub(crate) finding: &'a FindingOut,
    pub(crate) justification: &'a str,
}

/// The SARIF log for `findings` (already in their report order), then `suppressed`.
pub(crate) fn to_sarif(
    source: &str,
    findings: &[FindingOut],
    suppressed: &[Suppressed<'_>],
    texts: &BTreeMap<String, AdvisoryText>,
    not_covered: &[String],
) -> Value {
    let image = image_location(source);
    // One rule per advisory id, in id order; the findings of each give the fix text.
    let mut by_rule: BTreeMap<&str, Vec<&FindingOut>> = BTreeMap::new();
    for f in findings.iter().chain(suppressed.iter().map(|s| s.finding)) {
        by_rule.entry(f.id.as_str()).or_default().push(f);
    }
    let index: BTreeMap<&str, usize> = by_rule.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let rules: Vec<Value> = by_rule
        .iter()
        .map(|(id, fs)| rule(id, fs, texts.get(*id)))
        .collect();
    let mut results: Vec<Value> = findings
        .iter()
        .map(|f| result(f, index[f.id.as_str()], &image))
        .collect();
    for s in suppressed {
        let mut r = result(s.finding, index[s.finding.id.as_str()], &image);
        let kind = if s.finding.vex.is_some() {
            "external"
        } else {
            "inSource"
        };
        r["suppressions"] = json!([{
            "kind": kind,
            "status": "accepted",
            "justification": s.justification,
        }]);
        results.push(r);
    }
    let mut log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": information_uri(),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    if !not_covered.is_empty() {
        // Packages nobody checked: a tool notification, since they are no finding.
        log["runs"][0]["invocations"] = json!([{
            "executionSuccessful": true,
            "toolExecutionNotifications": not_covered
                .iter()
                .map(|text| json!({
                    "level": "warning",
                    "descriptor": {"id": "not-covered"},
                    "message": {"text": text},
                }))
                .collect::<Vec<_>>(),
        }]);
    }
    log
}

fn rule(id: &str, fs: &[&FindingOut], text: Option<&AdvisoryText>) -> Value {
    let first = fs[0];
    let summary = text
        .map(|t| t.summary.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(id);
    let full = text
        .and_then(|t| t.details.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(summary);
    let mut fixes: Vec<String> = fs.iter().map(|f| fix_text(f)).collect();
    fixes.dedup();
    let aliases = if first.aliases.is_empty() {
        String::new()
    } else {
        format!(" Aliases: {}.", first.aliases.join(", "))
    };
    let help_text = format!("{summary}.{aliases} Fix: {}.", fixes.join("; "));
    let mut md = format!("**{id}**: {summary}\n\n");
    if !first.aliases.is_empty() {
        md.push_str(&format!("Aliases: {}\n\n", first.aliases.join(", ")));
    }
    md.push_str("Fix:\n\n");
    for fix in &fixes {
        md.push_str(&format!("- {fix}\n"));
    }
    let mut props = json!({
        "tags": ["security", "vulnerability", first.severity.as_str()],
    });
    if let Some(c) = &first.cvss {
        props["security-severity"] = json!(format!("{:.1}", c.score));
    }
    if fs.iter().any(|f| f.kev) {
        props["kev"] = json!(true);
    }
    json!({
        "id": id,
        "name": id,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": md},
        "defaultConfiguration": {"level": level(first.severity)},
        "properties": props,
    })
}

fn result(f: &FindingOut, rule_index: usize, image: &Value) -> Value {
    let text = format!(
        "{}@{}: {} ({}). {}.",
        f.package.name,
        f.package.version,
        f.why,
        f.id,
        fix_text(f)
    );
    let mut loc = json!({
        "logicalLocations": [{
            "name": f.package.name,
            "fullyQualifiedName": f.package.purl,
            "kind": "package",
        }],
    });
    loc["physicalLocation"] = match &f.evidence {
        Some(path) => physical(&uri(path)),
        None => image.clone(),
    };
    let mut props = json!({
        "purl": f.package.purl,
        "status": f.status,
        "kev": f.kev,
    });
    if let Some(c) = &f.cvss {
        props["cvss"] = json!(c.score);
        props["cvssVector"] = json!(c.vector);
    }
    props["severitySource"] = json!(f.severity_source);
    if let Some(v) = &f.vex {
        props["vex"] = json!(v);
    }
    if let Some(e) = &f.epss {
        props["epss"] = json!(e.score);
        props["epssPercentile"] = json!(e.percentile);
    }
    json!({
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [loc],
        "properties": props,
    })
}

/// Where a result without a file of its own points: a stable relative URI naming the image
/// (`registry/repository` without tag or digest, or the local path without its prefix), at
/// line 1, as Trivy and Grype do. GitHub code scanning drops results without a physical
/// location.
pub(crate) fn image_location(source: &str) -> Value {
    let mut name = source;
    for prefix in [
        "registry:",
        "docker:",
        "oci-dir:",
        "oci:",
        "oci-archive:",
        "docker-archive:",
        "dir:",
        "sbom:",
    ] {
        if let Some(rest) = source.strip_prefix(prefix) {
            name = rest.trim_start_matches("//");
            break;
        }
    }
    let local =
        name != source && !source.starts_with("registry:") && !source.starts_with("docker:");
    let uri_text = match name.parse::<palisade_image::Reference>() {
        Ok(r) if !local && !std::path::Path::new(name).exists() => r.name(),
        _ => name.to_owned(),
    };
    let mut u = uri(&uri_text);
    if u.is_empty() {
        u = "image".into();
    }
    physical(&u)
}

/// A physical location at line 1 of `relative_uri`.
pub(crate) fn physical(relative_uri: &str) -> Value {
    json!({
        "artifactLocation": {"uri": relative_uri},
        "region": {"startLine": 1},
    })
}

/// A relative URI reference for a path inside the image: no leading `/`, reserved bytes
/// percent-encoded.
pub(crate) fn uri(path: &str) -> String {
    let mut s = String::new();
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/+@".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            uri("/usr/lib/python3/dist-packages/a b-1.0.dist-info/METADATA"),
            "usr/lib/python3/dist-packages/a%20b-1.0.dist-info/METADATA"
        );
        assert_eq!(uri("/a/b:c#d"), "a/b%3Ac%23d");
    }
}
