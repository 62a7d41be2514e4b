//! JUnit XML, the one writer behind `scan`, `gate` and `bench` `--format junit`: a
//! `<testsuites>` holding one `<testsuite>` whose test cases pass, fail or are skipped.

use std::fmt::Write as _;

/// One test case.
pub(crate) struct Case {
    /// `classname`: the package, the policy section or the CIS section.
    pub(crate) class: String,
    /// `name`: the advisory, the reason or the check.
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
}

/// What became of a test case.
pub(crate) enum Outcome {
    Pass,
    Failure {
        /// The `message` attribute: one line.
        message: String,
        /// The `type` attribute.
        kind: String,
        /// The element's text: the details.
        body: String,
    },
    Skipped {
        message: String,
    },
}

/// The document for one suite named `suite`, the cases in the order given; a suite without
/// cases gets one passing case (`empty`), since CI views treat an empty suite as an error.
pub(crate) fn write(suite: &str, mut cases: Vec<Case>, empty: (&str, &str)) -> String {
    if cases.is_empty() {
        cases.push(Case {
            class: empty.0.to_owned(),
            name: empty.1.to_owned(),
            outcome: Outcome::Pass,
        });
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failure { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
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
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\">",
        escape(suite),
        cases.len()
    );
    for c in &cases {
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(&c.class),
            escape(&c.name)
        );
        match &c.outcome {
            Outcome::Pass => {
                let _ = writeln!(xml, "{open}/>");
            }
            Outcome::Failure {
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
            Outcome::Skipped { message } => {
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
    fn an_empty_suite_still_has_a_testcase() {
        let xml = write(
            "palisade scan",
            Vec::new(),
            ("palisade", "no packages found"),
        );
        assert!(xml.contains("tests=\"1\" failures=\"0\""));
        assert!(xml.contains("no packages found"));
    }

    #[test]
    fn counts_failures_and_skips() {
        let case = |outcome| Case {
            class: "c".into(),
            name: "n".into(),
            outcome,
        };
        let xml = write(
            "s",
            vec![
                case(Outcome::Pass),
                case(Outcome::Failure {
                    message: "m".into(),
                    kind: "HIGH".into(),
                    body: "b".into(),
                }),
                case(Outcome::Skipped {
                    message: "why".into(),
                }),
            ],
            ("x", "y"),
        );
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"m\" type=\"HIGH\">b</failure>"));
    }
}
