//! `palisade gate` reports: the table, SARIF and JUnit, from the typed decision (the JSON is
//! the decision's own `to_json`).

use std::io::{self, Write};

use palisade_policy::{Decision, Effect, ExceptionStatus, Reason};
use serde_json::{Value, json};

use super::junit::{Case, Outcome};
use super::sarif::{self, Level};

/// A serialised enum's word (`deny`, `vulnerabilities`, `applied`): the words the decision
/// JSON uses, so every format says the same.
fn word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The decision and its reasons, for people.
pub(crate) fn table(d: &Decision, out: &mut dyn Write) -> io::Result<()> {
    let decision = word(&d.decision).to_ascii_uppercase();
    writeln!(
        out,
        "{decision}  {}{}",
        d.image.reference,
        d.image
            .digest
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "policy {} (environment {})",
        d.policy.name, d.environment
    )?;
    if d.reasons.is_empty() {
        writeln!(
            out,
            "\nNo reason to refuse: every section the policy sets passed."
        )?;
    }
    let mut section = String::new();
    for r in &d.reasons {
        let this = word(&r.section);
        if this != section {
            writeln!(out, "\n{this}")?;
            section = this;
        }
        writeln!(
            out,
            "  {:<8} {:<22} {}",
            word(&r.effect).to_ascii_uppercase(),
            r.code,
            r.message
        )?;
        if let Some(fix) = r.fix.as_deref().filter(|f| !f.is_empty()) {
            writeln!(out, "  {:<8} {:<22} fix: {fix}", "", "")?;
        }
        if let Some(e) = &r.exception {
            writeln!(
                out,
                "  {:<8} {:<22} exception {} ({}, expires {})",
                "",
                "",
                e.name,
                word(&e.status),
                e.expires
            )?;
        }
    }
    if !d.exceptions.is_empty() {
        writeln!(out, "\nexceptions")?;
        for e in &d.exceptions {
            writeln!(
                out,
                "  {:<8} {} (approved by {}, expires {}): {}",
                word(&e.status),
                e.name,
                e.approved_by,
                e.expires,
                e.reason
            )?;
        }
    }
    writeln!(
        out,
        "\n{decision}: {} deny, {} warn, {} excepted",
        d.summary.deny, d.summary.warn, d.summary.excepted
    )
}

fn sarif_level(effect: Effect) -> Level {
    match effect {
        Effect::Deny => Level::Error,
        Effect::Warn => Level::Warning,
        Effect::Excepted => Level::Note,
    }
}

/// A reason's message with its fix.
fn text_with_fix(r: &Reason, separator: &str) -> String {
    let mut text = r.message.clone();
    if let Some(fix) = r.fix.as_deref().filter(|f| !f.is_empty()) {
        text.push_str(&format!("{separator}{fix}"));
    }
    text
}

/// SARIF: one rule per reason code, one result per reason; excepted reasons carry a
/// suppression naming the exception.
pub(crate) fn sarif(d: &Decision) -> Value {
    let mut codes: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let target = d.image.reference.as_str();
    let location = sarif::image_location(target);
    let log = sarif::Log {
        rules: codes
            .iter()
            .map(|c| sarif::Rule {
                id: (*c).to_owned(),
                name: c.replace('-', "_"),
                short: format!("palisade gate: {c}"),
                full: None,
                help: None,
                help_uri: Some(format!(
                    "{}/blob/main/docs/policy.md#reason-codes",
                    sarif::information_uri()
                )),
                default_level: None,
                properties: None,
            })
            .collect(),
        results: d
            .reasons
            .iter()
            .map(|r| sarif::Finding {
                rule_id: r.code.clone(),
                rule_index: codes.iter().position(|c| *c == r.code),
                level: sarif_level(r.effect),
                message: text_with_fix(r, " Fix: "),
                location: sarif::Location {
                    physical: Some(location.clone()),
                    logical: json!([{"name": target, "kind": "resource"}]),
                },
                properties: json!({
                    "effect": r.effect,
                    "section": r.section,
                    "subject": r.subject,
                }),
                suppression: r
                    .exception
                    .as_ref()
                    .filter(|e| e.status == ExceptionStatus::Applied)
                    .map(|e| {
                        (
                            "external",
                            format!(
                                "exception {}: {} (approved by {}, expires {})",
                                e.name, e.reason, e.approved_by, e.expires
                            ),
                        )
                    }),
            })
            .collect(),
        notifications: Vec::new(),
        properties: Some(json!({
            "decision": d.decision,
            "environment": d.environment,
            "image": d.image,
            "policy": d.policy,
        })),
    };
    log.to_value()
}

/// JUnit: a failing test case per deny reason, a skipped one per warn or excepted reason (with
/// the text), and a passing one per evaluated section without deny reasons.
pub(crate) fn junit(d: &Decision) -> String {
    let mut cases = Vec::new();
    for r in &d.reasons {
        let body = text_with_fix(r, "\nfix: ");
        cases.push(Case {
            class: word(&r.section),
            name: format!("{} {}", r.code, subject_name(r)),
            outcome: match r.effect {
                Effect::Deny => Outcome::Failure {
                    message: r.message.clone(),
                    kind: r.code.clone(),
                    body,
                },
                effect => Outcome::Skipped {
                    message: format!("{}: {body}", word(&effect)),
                },
            },
        });
    }
    // The sections in the order of the decision's `evaluated` keys; `trust` is the
    // `sources` section of the reasons.
    let evaluated = [
        ("hardening", "hardening", d.evaluated.hardening),
        ("rules", "rules", d.evaluated.rules > 0),
        ("trust", "sources", d.evaluated.trust),
        (
            "vulnerabilities",
            "vulnerabilities",
            d.evaluated.vulnerabilities,
        ),
    ];
    for (section, reasons_section, ran) in evaluated {
        let denied = d
            .reasons
            .iter()
            .any(|r| word(&r.section) == reasons_section && r.effect == Effect::Deny);
        if ran && !denied {
            cases.push(Case {
                class: section.to_owned(),
                name: format!("{section} passed"),
                outcome: Outcome::Pass,
            });
        }
    }
    let suite = format!("palisade gate {} ({})", d.image.reference, d.environment);
    super::junit::write(&suite, cases, ("palisade", "no reasons"))
}

/// A short name for a reason's subject: the advisory and package, the check, or the rule.
fn subject_name(r: &Reason) -> String {
    let parts: Vec<&str> = ["advisory", "package", "version", "check", "signer", "rule"]
        .iter()
        .filter_map(|k| r.subject.get(*k).and_then(Value::as_str))
        .collect();
    if parts.is_empty() {
        r.rule.clone()
    } else {
        parts.join(" ")
    }
}
