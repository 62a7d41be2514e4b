//! `palisade scan --format junit`: JUnit XML for CI test-report views.
//!
//! One `<testsuite name="palisade scan">`: a failing testcase (`classname` = `PACKAGE@VERSION`,
//! `name` = the advisory id) per finding left after the filters, a skipped testcase per finding
//! suppressed by the ignore file or VEX, and a passing testcase per scanned package without
//! findings, so the suite is never empty.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::scan::{FindingOut, fix_text};

/// A scanned package: name, version, purl.
pub(crate) struct ScannedPackage<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) purl: &'a str,
}

enum Outcome {
    Pass,
    Fail {
        message: String,
        kind: String,
        body: String,
    },
    Skip {
        message: String,
    },
}

/// The JUnit document.
pub(crate) fn to_junit(
    findings: &[FindingOut],
    suppressed: &[(&FindingOut, &str)],
    packages: &[ScannedPackage<'_>],
) -> String {
    let mut cases: Vec<(String, String, Outcome)> = Vec::new();
    let mut with_findings: BTreeSet<&str> = BTreeSet::new();
    for f in findings {
        with_findings.insert(f.package.purl.as_str());
        let score = f
            .cvss
            .as_ref()
            .map(|c| format!(" {:.1}", c.score))
            .unwrap_or_default();
        let mut body = f.why.clone();
        if !f.aliases.is_empty() {
            let _ = write!(body, "\nAliases: {}", f.aliases.join(", "));
        }
        let _ = write!(body, "\nPackage: {}", f.package.purl);
        let _ = write!(body, "\nStatus: {}", f.status);
        if f.kev {
            body.push_str("\nKnown exploited (CISA KEV)");
        }
        if let Some(v) = &f.vex {
            let _ = write!(body, "\nVEX: {}", v.status);
        }
        cases.push((
            format!("{}@{}", f.package.name, f.package.version),
            f.id.clone(),
            Outcome::Fail {
                message: format!("{}{score}: {}", f.severity.as_str(), fix_text(f)),
                kind: f.severity.as_str().to_owned(),
                body,
            },
        ));
    }
    for (f, reason) in suppressed {
        cases.push((
            format!("{}@{}", f.package.name, f.package.version),
            f.id.clone(),
            Outcome::Skip {
                message: format!("suppressed: {reason}"),
            },
        ));
    }
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for p in packages {
        if with_findings.contains(p.purl) || !seen.insert((p.name, p.version)) {
            continue;
        }
        cases.push((
            format!("{}@{}", p.name, p.version),
            "no findings".to_owned(),
            Outcome::Pass,
        ));
    }
    if cases.is_empty() {
        cases.push((
            "palisade".to_owned(),
            "no packages found".to_owned(),
            Outcome::Pass,
        ));
    }
    cases.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));

    let failures = cases
        .iter()
        .filter(|c| matches!(c.2, Outcome::Fail { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.2, Outcome::Skip { .. }))
        .count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"palisade\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"palisade scan\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\">",
        cases.len()
    );
    for (class, name, outcome) in &cases {
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(class),
            escape(name)
        );
        match outcome {
            Outcome::Pass => {
                let _ = writeln!(xml, "{open}/>");
            }
            Outcome::Fail {
                message,
                kind,
                body,
            } => {
                let _ = writeln!(
                    xml,
                    "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    escape(message),
                    escape(kind),
                    escape(body)
                );
            }
            Outcome::Skip { message } => {
                let _ = writeln!(
                    xml,
                    "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(message)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Escapes text for XML content and double- or single-quoted attributes; characters XML 1.0
/// cannot carry become U+FFFD.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}&#10;"
        );
    }

    #[test]
    fn empty_scan_still_has_a_testcase() {
        let xml = to_junit(&[], &[], &[]);
        assert!(xml.contains("tests=\"1\" failures=\"0\""));
        assert!(xml.contains("no packages found"));
    }
}
