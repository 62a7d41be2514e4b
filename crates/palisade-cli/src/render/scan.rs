//! `palisade scan` reports: the table, SARIF, CycloneDX and JUnit, from the typed
//! [`Report`] (the JSON is the report itself).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use palisade_catalog::Catalog;
use palisade_scan::{
    AdvisoryText, Finding, NotCovered, PackageUpgrade, Report, Severity, SeveritySource,
};
use serde_json::{Value, json};

use super::junit::{Case, Outcome};
use super::sarif::{self, Level};
use super::{line, widths};

/// What to do about a finding: its package's one upgrade when the finding has a fix and the
/// report has one (the version that fixes all of the package's findings), else the finding's
/// own fix text.
fn advice(upgrades: &[PackageUpgrade], f: &Finding) -> String {
    let p = &f.package;
    if f.fixed_versions.is_empty() {
        return f.fix_text();
    }
    match upgrades.iter().find(|u| {
        (&u.name, &u.version, &u.kind, &u.purl) == (&p.name, &p.version, &p.kind, &p.purl)
    }) {
        Some(PackageUpgrade {
            upgrade_to: Some(v),
            findings,
            unfixed,
            prerelease,
            ..
        }) => {
            let pre = if *prerelease { ", a pre-release" } else { "" };
            if *unfixed == 0 {
                format!(
                    "Upgrade {} to {v}{pre} (fixes all {findings} of its findings)",
                    p.name
                )
            } else {
                format!(
                    "Upgrade {} to {v}{pre} (fixes {} of its {findings} findings; {unfixed} without a fix yet)",
                    p.name,
                    findings - unfixed
                )
            }
        }
        _ => f.fix_text(),
    }
}

/// The longest advisory title shown in the table.
const TITLE_CHARS: usize = 60;

/// The table for people: one block per package, the most severe package first, with the one
/// upgrade that fixes its findings, then its findings by severity, CVSS and id, with their
/// advisory titles.
pub(crate) fn table(
    doc: &Report,
    texts: &BTreeMap<String, AdvisoryText>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{}: {}",
        doc.source,
        doc.distro.as_deref().unwrap_or("no known operating system")
    )?;
    writeln!(
        out,
        "database: schema {}, built {}",
        doc.db.schema_version,
        doc.db.built.as_deref().unwrap_or("-")
    )?;
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut headings: Vec<(usize, String)> = Vec::new();
    for u in &doc.upgrades {
        let mut fs: Vec<&Finding> = doc
            .findings
            .iter()
            .filter(|f| {
                let p = &f.package;
                (&p.name, &p.version, &p.kind, &p.purl) == (&u.name, &u.version, &u.kind, &u.purl)
            })
            .collect();
        fs.sort_by(|a, b| palisade_scan::severity_order(a, b));
        let layer = fs
            .first()
            .and_then(|f| f.package.layer)
            .map_or_else(|| "-".to_owned(), |l| l.to_string());
        headings.push((
            rows.len(),
            format!(
                "{} {} ({}, layer {layer})\n  {}",
                u.name,
                u.version,
                u.kind,
                u.text()
            ),
        ));
        for f in fs {
            let cve = f.aliases.iter().find(|a| a.starts_with("CVE-"));
            let title = texts.get(&f.id).map_or("", |t| t.summary.as_str()).trim();
            rows.push([
                match cve {
                    Some(c) if !f.id.starts_with("CVE-") => format!("{} ({c})", f.id),
                    _ => f.id.clone(),
                },
                match &f.cvss {
                    Some(c) => format!("{} ({:.1})", f.severity, c.score),
                    None => f.severity.to_string(),
                },
                match &f.vex {
                    Some(v) => format!("{} (VEX: {})", f.status, v.status),
                    None => f.status.to_string(),
                },
                if f.fixed_versions.is_empty() {
                    "-".to_owned()
                } else {
                    f.fixed_versions.join(", ")
                },
                if f.kev { "KEV" } else { "" }.to_owned(),
                if title.chars().count() > TITLE_CHARS {
                    format!(
                        "{}…",
                        title.chars().take(TITLE_CHARS - 1).collect::<String>()
                    )
                } else {
                    title.to_owned()
                },
            ]);
        }
    }
    let header = ["ID", "SEVERITY", "STATUS", "FIXED IN", "KEV", "TITLE"];
    let widths = widths(&header, &rows);
    let mut next = headings.iter().peekable();
    for (i, r) in rows.iter().enumerate() {
        if let Some((_, h)) = next.next_if(|(at, _)| *at == i) {
            writeln!(out, "\n{h}")?;
            line(&header.map(str::to_owned), &widths, out)?;
        }
        line(r, &widths, out)?;
    }
    let summary: Vec<String> = Severity::ALL
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                doc.counts.get(l.as_str()).copied().unwrap_or(0),
                l.as_str()
            )
        })
        .collect();
    writeln!(
        out,
        "\n{} vulnerabilities ({})",
        doc.findings.len(),
        summary.join(", ")
    )?;
    if !doc.ignored.is_empty() {
        writeln!(
            out,
            "{} findings suppressed by the ignore file or VEX (see --format json)",
            doc.ignored.len()
        )?;
    }
    for e in &doc.ignore_expired {
        writeln!(out, "{}", e.message)?;
    }
    if !doc.skipped.is_empty() {
        writeln!(
            out,
            "{} package entries not evaluated (see --format json)",
            doc.skipped.len()
        )?;
    }
    if !doc.not_covered.is_empty() {
        writeln!(
            out,
            "NOT CHECKED: {} package(s) the database has no advisories for, so \"no finding\" \
             says nothing about them (see `not_covered` in --format json):",
            doc.not_covered.len()
        )?;
        for line in doc.not_checked_lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if doc.unknown_severity_dropped > 0 {
        writeln!(
            out,
            "{} finding(s) of UNKNOWN severity left out by the severity filters",
            doc.unknown_severity_dropped
        )?;
    }
    Ok(())
}

/// The SARIF level of a severity: `error` for CRITICAL/HIGH, `warning` for MEDIUM, else `note`.
fn sarif_level(l: Severity) -> Level {
    match l {
        Severity::Critical | Severity::High => Level::Error,
        Severity::Medium => Level::Warning,
        Severity::Low | Severity::Negligible | Severity::Unknown => Level::Note,
    }
}

/// SARIF: one rule per advisory (in id order), one result per finding, then one suppressed
/// result per finding the ignore file or VEX left out; packages nobody checked are tool
/// notifications.
pub(crate) fn sarif(doc: &Report, texts: &BTreeMap<String, AdvisoryText>) -> Value {
    let image = sarif::image_location(&doc.source);
    let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in doc
        .findings
        .iter()
        .chain(doc.ignored.iter().map(|s| &s.finding))
    {
        by_rule.entry(f.id.as_str()).or_default().push(f);
    }
    let index: BTreeMap<&str, usize> = by_rule.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut log = sarif::Log {
        rules: by_rule
            .iter()
            .map(|(id, fs)| sarif_rule(id, fs, texts.get(*id)))
            .collect(),
        ..sarif::Log::default()
    };
    for f in &doc.findings {
        log.results.push(sarif_result(
            f,
            index.get(f.id.as_str()).copied(),
            &image,
            &doc.upgrades,
        ));
    }
    for s in &doc.ignored {
        let mut r = sarif_result(
            &s.finding,
            index.get(s.finding.id.as_str()).copied(),
            &image,
            &[],
        );
        let kind = if s.finding.vex.is_some() {
            "external"
        } else {
            "inSource"
        };
        r.suppression = Some((kind, s.reason.clone()));
        log.results.push(r);
    }
    log.notifications = doc
        .not_checked_lines()
        .into_iter()
        .map(|text| ("not-covered".to_owned(), text))
        .collect();
    log.to_value()
}

fn sarif_rule(id: &str, fs: &[&Finding], text: Option<&AdvisoryText>) -> sarif::Rule {
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
    let mut fixes: Vec<String> = fs.iter().map(|f| f.fix_text()).collect();
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
    sarif::Rule {
        id: id.to_owned(),
        name: id.to_owned(),
        short: summary.to_owned(),
        full: Some(full.to_owned()),
        help: Some((help_text, md)),
        help_uri: None,
        default_level: Some(sarif_level(first.severity)),
        properties: Some(props),
    }
}

fn sarif_result(
    f: &Finding,
    rule_index: Option<usize>,
    image: &Value,
    upgrades: &[PackageUpgrade],
) -> sarif::Finding {
    let message = format!(
        "{}@{}: {} ({}). {}.",
        f.package.name,
        f.package.version,
        f.why,
        f.id,
        advice(upgrades, f)
    );
    let mut props = json!({
        "purl": f.package.purl,
        "status": f.status,
        "kev": f.kev,
        "severitySource": f.severity_source,
    });
    if let Some(c) = &f.cvss {
        props["cvss"] = json!(c.score);
        props["cvssVector"] = json!(c.vector);
    }
    if let Some(v) = &f.vex {
        props["vex"] = json!(v);
    }
    if let Some(e) = &f.epss {
        props["epss"] = json!(e.score);
        props["epssPercentile"] = json!(e.percentile);
    }
    sarif::Finding {
        rule_id: f.id.clone(),
        rule_index,
        level: sarif_level(f.severity),
        message,
        location: sarif::Location {
            physical: Some(match &f.evidence {
                Some(path) => sarif::physical(&sarif::uri(path)),
                None => image.clone(),
            }),
            logical: json!([{
                "name": f.package.name,
                "fullyQualifiedName": f.package.purl,
                "kind": "package",
            }]),
        },
        properties: props,
        suppression: None,
    }
}

/// JUnit: a failing test case (`classname` = `PACKAGE@VERSION`, `name` = the advisory id) per
/// finding left after the filters, a skipped one per suppressed finding, and a passing one per
/// scanned package without findings, so the suite is never empty.
pub(crate) fn junit(doc: &Report, catalog: &Catalog) -> String {
    let mut cases: Vec<Case> = Vec::new();
    let mut with_findings: BTreeSet<&str> = BTreeSet::new();
    for f in &doc.findings {
        with_findings.insert(f.package.purl.as_str());
        let score = f
            .cvss
            .as_ref()
            .map(|c| format!(" {:.1}", c.score))
            .unwrap_or_default();
        let mut body = f.why.clone();
        if !f.aliases.is_empty() {
            body.push_str(&format!("\nAliases: {}", f.aliases.join(", ")));
        }
        body.push_str(&format!("\nPackage: {}", f.package.purl));
        body.push_str(&format!("\nStatus: {}", f.status));
        if f.kev {
            body.push_str("\nKnown exploited (CISA KEV)");
        }
        if let Some(v) = &f.vex {
            body.push_str(&format!("\nVEX: {}", v.status));
        }
        cases.push(Case {
            class: format!("{}@{}", f.package.name, f.package.version),
            name: f.id.clone(),
            outcome: Outcome::Failure {
                message: format!("{}{score}: {}", f.severity, f.fix_text()),
                kind: f.severity.as_str().to_owned(),
                body,
            },
        });
    }
    for s in &doc.ignored {
        cases.push(Case {
            class: format!("{}@{}", s.finding.package.name, s.finding.package.version),
            name: s.finding.id.clone(),
            outcome: Outcome::Skipped {
                message: format!("suppressed: {}", s.reason),
            },
        });
    }
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for p in &catalog.packages {
        if with_findings.contains(p.purl.as_str()) || !seen.insert((&p.name, &p.version)) {
            continue;
        }
        cases.push(Case {
            class: format!("{}@{}", p.name, p.version),
            name: "no findings".to_owned(),
            outcome: Outcome::Pass,
        });
    }
    cases.sort_by(|a, b| (&a.class, &a.name).cmp(&(&b.class, &b.name)));
    super::junit::write("palisade scan", cases, ("palisade", "no packages found"))
}

/// The database that publishes an id, by its prefix.
fn id_source(id: &str) -> &'static str {
    if id.starts_with("CVE-") {
        "NVD"
    } else if id.starts_with("GHSA-") {
        "GitHub"
    } else if id.starts_with("GO-") {
        "Go"
    } else if id.starts_with("RUSTSEC-") {
        "RustSec"
    } else if id.starts_with("PYSEC-") {
        "PyPA"
    } else {
        "OSV"
    }
}

/// The CycloneDX rating method of a CVSS vector.
fn cvss_method(vector: &str) -> &'static str {
    if vector.starts_with("CVSS:3.1") {
        "CVSSv31"
    } else if vector.starts_with("CVSS:3") {
        "CVSSv3"
    } else if vector.starts_with("CVSS:4") {
        "CVSSv4"
    } else if vector.starts_with("AV:") || vector.starts_with("(AV:") {
        "CVSSv2"
    } else {
        "other"
    }
}

/// The CycloneDX SBOM of `catalog` with a `vulnerabilities` array: one entry per advisory for
/// the reported findings, then one per advisory for the suppressed ones (their own `bom-ref`,
/// saying why in `analysis`); components nobody checked are marked.
pub(crate) fn cyclonedx(
    catalog: &Catalog,
    doc: &Report,
    texts: &BTreeMap<String, AdvisoryText>,
) -> Value {
    let mut bom = palisade_catalog::to_cyclonedx(catalog);
    let reported: Vec<(&Finding, Option<&str>)> = doc.findings.iter().map(|f| (f, None)).collect();
    let mut vulns = cyclonedx_vulnerabilities(&reported, texts, &doc.upgrades);
    let ignored: Vec<(&Finding, Option<&str>)> = doc
        .ignored
        .iter()
        .map(|s| (&s.finding, Some(s.reason.as_str())))
        .collect();
    vulns.extend(cyclonedx_vulnerabilities(&ignored, texts, &[]));
    bom["vulnerabilities"] = Value::Array(vulns);
    mark_not_covered(&mut bom, &doc.not_covered);
    bom
}

/// CycloneDX `vulnerabilities` entries, one per advisory id, for findings with the reason each
/// was suppressed (if it was). A VEX statement becomes the entry's `analysis`.
fn cyclonedx_vulnerabilities(
    findings: &[(&Finding, Option<&str>)],
    texts: &BTreeMap<String, AdvisoryText>,
    upgrades: &[PackageUpgrade],
) -> Vec<Value> {
    let mut by_id: BTreeMap<&str, Vec<(&Finding, Option<&str>)>> = BTreeMap::new();
    for (f, why) in findings {
        by_id.entry(f.id.as_str()).or_default().push((f, *why));
    }
    by_id
        .into_iter()
        .map(|(id, fs)| {
            let (first, why_suppressed) = fs[0];
            let bom_ref = match why_suppressed {
                Some(_) => format!("vulnerability:{id}:suppressed"),
                None => format!("vulnerability:{id}"),
            };
            let mut v = json!({
                "bom-ref": bom_ref,
                "id": id,
                "source": {"name": id_source(id)},
            });
            let mut analysis = first.vex.as_ref().map(|x| x.cyclonedx_analysis());
            if let Some(reason) = why_suppressed {
                let a = analysis.get_or_insert_with(|| json!({}));
                a["detail"] = json!(format!("Suppressed: {reason}"));
            }
            if let Some(a) = analysis {
                v["analysis"] = a;
            }
            if !first.aliases.is_empty() {
                v["references"] = Value::Array(
                    first
                        .aliases
                        .iter()
                        .map(|a| json!({"id": a, "source": {"name": id_source(a)}}))
                        .collect(),
                );
            }
            let mut ratings = Vec::new();
            if let SeveritySource::Vendor { vendor, .. } = &first.severity_source {
                // The distro's own rating, which the severity shown comes from.
                ratings.push(json!({
                    "severity": match first.severity {
                        // CycloneDX has no "negligible".
                        Severity::Negligible => "info".to_owned(),
                        l => l.as_str().to_lowercase(),
                    },
                    "method": "other",
                    "source": {"name": vendor},
                }));
            }
            if let Some(c) = &first.cvss {
                let source = match c.source {
                    palisade_scan::CvssSource::Nvd(_) => "NVD",
                    palisade_scan::CvssSource::Advisory => id_source(id),
                };
                ratings.push(json!({
                    "severity": Severity::from_score(Some(c.score)).as_str().to_lowercase(),
                    "score": c.score,
                    "method": cvss_method(&c.vector),
                    "vector": c.vector,
                    "source": {"name": source},
                }));
            }
            if ratings.is_empty() {
                ratings.push(json!({"severity": "unknown"}));
            }
            v["ratings"] = Value::Array(ratings);
            if let Some(t) = texts.get(id)
                && !t.summary.trim().is_empty()
            {
                v["description"] = json!(t.summary.trim());
            }
            if let Some(d) = texts.get(id).and_then(|t| t.details.as_deref())
                && !d.trim().is_empty()
            {
                v["detail"] = json!(d.trim());
            }
            let mut fixes: Vec<String> = fs.iter().map(|(f, _)| advice(upgrades, f)).collect();
            fixes.dedup();
            v["recommendation"] = json!(fixes.join("; "));
            let mut refs: Vec<&str> = fs.iter().map(|(f, _)| f.package.purl.as_str()).collect();
            refs.sort_unstable();
            refs.dedup();
            v["affects"] = Value::Array(refs.iter().map(|r| json!({"ref": r})).collect());
            let kev = fs.iter().any(|(f, _)| f.kev);
            let mut props = vec![
                json!({"name": "palisade:kev", "value": kev.to_string()}),
                json!({"name": "palisade:status", "value": first.status}),
                json!({"name": "palisade:severity-source", "value": first.severity_source}),
            ];
            if let Some(e) = &first.epss {
                props.push(json!({"name": "palisade:epss", "value": e.score.to_string()}));
                props.push(
                    json!({"name": "palisade:epss-percentile", "value": e.percentile.to_string()}),
                );
            }
            v["properties"] = Value::Array(props);
            v
        })
        .collect()
}

/// CycloneDX: a `palisade:not-covered` property (`true`) on each component the database has
/// no advisories for, and one on the BOM's metadata naming the count, so a consumer does not
/// read "no vulnerabilities" for them.
fn mark_not_covered(bom: &mut Value, not_covered: &[NotCovered]) {
    if not_covered.is_empty() {
        return;
    }
    let purls: BTreeSet<&str> = not_covered.iter().map(|n| n.purl.as_str()).collect();
    if let Some(components) = bom.get_mut("components").and_then(Value::as_array_mut) {
        for c in components {
            let hit = c
                .get("purl")
                .and_then(Value::as_str)
                .is_some_and(|p| purls.contains(p));
            if hit {
                let prop = json!({"name": "palisade:not-covered", "value": "true"});
                match c.get_mut("properties").and_then(Value::as_array_mut) {
                    Some(props) => props.push(prop),
                    None => c["properties"] = json!([prop]),
                }
            }
        }
    }
    let prop =
        json!({"name": "palisade:not-covered-packages", "value": not_covered.len().to_string()});
    if let Some(meta) = bom.get_mut("metadata").and_then(Value::as_object_mut) {
        match meta.get_mut("properties").and_then(Value::as_array_mut) {
            Some(props) => props.push(prop),
            None => {
                meta.insert("properties".into(), json!([prop]));
            }
        }
    }
}
