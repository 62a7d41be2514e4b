//! `palisade bench` reports: the table, SARIF and JUnit of a hardening report (the JSON is the
//! report's own `to_json`).

use std::io::{self, Write};

use palisade_harden::check::{CheckDef, Status};
use palisade_harden::profile::Profile;
use palisade_harden::report::Report;
use serde_json::{Value, json};

use super::junit::{Case, Outcome};
use super::sarif::{self, Level};

/// The results by section, for people, with the score.
pub(crate) fn table(report: &Report, profile: &Profile, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "palisade bench {}: {} ({}, level {})",
        report.target,
        report.subject,
        report.benchmark(),
        profile.level
    )?;
    for (section, results) in report.sections() {
        writeln!(out, "\n{section}")?;
        let mut last = "";
        for r in results {
            if r.id != last {
                let title = report.def(r).map_or("", |d| d.title);
                writeln!(out, "  {}  {title}", r.id)?;
                last = r.id;
            }
            for e in &r.evidence {
                let at = match (&e.file, e.line) {
                    (Some(f), Some(l)) if f.display().to_string() != e.subject => {
                        format!(" [{}:{l}]", f.display())
                    }
                    (Some(f), None) if f.display().to_string() != e.subject => {
                        format!(" [{}]", f.display())
                    }
                    (Some(_), Some(l)) => format!(" [line {l}]"),
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "    {:<6} {}: {}{at}",
                    r.status.to_string(),
                    e.subject,
                    e.detail
                )?;
            }
        }
    }
    let s = report.summary();
    let score = s
        .score
        .map_or_else(|| "n/a".to_owned(), |n| format!("{n}%"));
    writeln!(
        out,
        "\nScore: {score} ({} pass, {} fail, {} warn, {} info, {} manual, {} n/a)",
        s.pass, s.fail, s.warn, s.info, s.manual, s.not_applicable
    )
}

fn sarif_level(s: Status) -> Level {
    if s == Status::Fail {
        Level::Error
    } else {
        Level::Warning
    }
}

/// SARIF: one rule per check in the report, one result per failure or warning.
pub(crate) fn sarif(report: &Report) -> Value {
    let mut defs: Vec<&CheckDef> = Vec::new();
    for r in &report.results {
        if let Some(d) = report.def(r)
            && !defs.iter().any(|x| x.id == d.id)
        {
            defs.push(d);
        }
    }
    let rules = defs
        .iter()
        .map(|d| {
            let mut tags = vec![
                Value::from("security"),
                Value::from("hardening"),
                Value::from(d.target.name()),
            ];
            if let Some(n) = d.cis_number() {
                tags.push(Value::from(format!("CIS Docker {n}")));
            }
            sarif::Rule {
                id: d.id.to_owned(),
                name: d.id.replace(['-', '.'], "_"),
                short: d.title.to_owned(),
                full: Some(d.rationale.to_owned()),
                help: Some((
                    format!("{} Fix: {}", d.rationale, d.remediation),
                    format!(
                        "**{}**: {}\n\n{}\n\nFix: {}\n\nReferences: {}",
                        d.id,
                        d.title,
                        d.rationale,
                        d.remediation,
                        d.references.join(", ")
                    ),
                )),
                help_uri: None,
                default_level: Some(Level::Error),
                properties: Some(
                    json!({"tags": tags, "level": d.level.number(), "section": d.section}),
                ),
            }
        })
        .collect();
    let mut results = Vec::new();
    for r in report.results.iter().filter(|r| r.status.is_failure()) {
        let index = defs.iter().position(|d| d.id == r.id);
        for e in &r.evidence {
            let physical = e.file.as_ref().map(|f| {
                let mut phys =
                    json!({"artifactLocation": {"uri": sarif::uri(&f.display().to_string())}});
                if let Some(l) = e.line {
                    phys["region"] = json!({"startLine": l});
                }
                phys
            });
            results.push(sarif::Finding {
                rule_id: r.id.to_owned(),
                rule_index: index,
                level: sarif_level(r.status),
                message: format!("{}: {}", e.subject, e.detail),
                location: sarif::Location {
                    physical,
                    logical: json!([{"name": e.subject, "kind": "resource"}]),
                },
                properties: json!({"status": r.status, "subject": e.subject}),
                suppression: None,
            });
        }
    }
    sarif::Log {
        rules,
        results,
        notifications: Vec::new(),
        properties: Some(json!({"target": report.target, "subject": report.subject})),
    }
    .to_value()
}

/// JUnit: a test case per result (classname = section, name = `ID subject`); failures and
/// warnings fail, manual and not-applicable results are skipped.
pub(crate) fn junit(report: &Report) -> String {
    let cases = report
        .results
        .iter()
        .map(|r| {
            let def = report.def(r);
            let detail = r
                .evidence
                .iter()
                .map(|e| format!("{}: {}", e.subject, e.detail))
                .collect::<Vec<_>>()
                .join("\n");
            Case {
                class: def.map_or("Other", |d| d.section).to_owned(),
                name: format!("{} {}", r.id, r.subject()),
                outcome: match r.status {
                    Status::Fail | Status::Warn => Outcome::Failure {
                        message: def.map_or("", |d| d.title).to_owned(),
                        kind: r.status.to_string(),
                        body: format!("{detail}\nFix: {}", def.map_or("", |d| d.remediation)),
                    },
                    Status::Manual | Status::NotApplicable => Outcome::Skipped { message: detail },
                    Status::Pass | Status::Info => Outcome::Pass,
                },
            }
        })
        .collect();
    super::junit::write(
        &format!("palisade bench {}", report.target),
        cases,
        ("palisade", "no checks"),
    )
}
