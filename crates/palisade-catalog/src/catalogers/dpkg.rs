//! Debian packages: `var/lib/dpkg/status`, distroless `var/lib/dpkg/status.d/*`, and the
//! `var/lib/dpkg/info/*.list` files that say which files each package owns.

use crate::catalogers::{Found, Parsed};
use crate::package::{Ecosystem, SourcePackage};

/// The most bytes of a status database that are read.
pub(crate) const MAX_STATUS_BYTES: u64 = 128 << 20;
/// The most bytes of one `.list` file.
pub(crate) const MAX_LIST_BYTES: u64 = 32 << 20;

/// One control-file stanza as `(field, value)` pairs, with the line it started on.
struct Stanza<'a> {
    line: usize,
    fields: Vec<(&'a str, String)>,
    bad_line: Option<usize>,
}

impl Stanza<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits RFC 822-style control data into stanzas. Continuation lines (starting with a space
/// or tab) extend the previous field; only the first line of a field is kept in full.
fn stanzas(text: &str) -> Vec<Stanza<'_>> {
    let mut out = Vec::new();
    let mut cur: Option<Stanza<'_>> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            if let Some(s) = cur.take() {
                out.push(s);
            }
            continue;
        }
        let stanza = cur.get_or_insert_with(|| Stanza {
            line: line_no,
            fields: Vec::new(),
            bad_line: None,
        });
        if line.starts_with([' ', '\t']) {
            if stanza.fields.is_empty() && stanza.bad_line.is_none() {
                stanza.bad_line = Some(line_no);
            }
            continue;
        }
        match line.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
                stanza.fields.push((k, v.trim().to_owned()));
            }
            _ => {
                if stanza.bad_line.is_none() {
                    stanza.bad_line = Some(line_no);
                }
            }
        }
    }
    if let Some(s) = cur.take() {
        out.push(s);
    }
    out
}

/// Parses a status database (or one distroless `status.d` file).
pub(crate) fn parse_status(content: &[u8]) -> Result<Parsed, String> {
    let text = String::from_utf8_lossy(content);
    let mut parsed = Parsed::default();
    let mut bad = 0usize;
    for stanza in stanzas(&text) {
        if let Some(line) = stanza.bad_line {
            parsed
                .warnings
                .push(format!("line {line}: not a control field; stanza skipped"));
            bad += 1;
            continue;
        }
        let Some(name) = stanza.get("Package").filter(|n| valid_name(n)) else {
            parsed.warnings.push(format!(
                "line {}: stanza without a valid Package field; skipped",
                stanza.line
            ));
            bad += 1;
            continue;
        };
        let Some(version) = stanza.get("Version").filter(|v| valid_version(v)) else {
            parsed.warnings.push(format!(
                "line {}: package {name} has no valid Version; skipped",
                stanza.line
            ));
            bad += 1;
            continue;
        };
        // Only packages whose files are on disk count (not `config-files` or `not-installed`).
        if let Some(status) = stanza.get("Status") {
            let state = status.split_whitespace().nth(2).unwrap_or("");
            if matches!(state, "not-installed" | "config-files") {
                continue;
            }
        }
        let source = match stanza.get("Source") {
            Some(s) if !s.is_empty() => {
                let (src_name, src_version) = match s.split_once('(') {
                    Some((n, v)) => (n.trim(), Some(v.trim_end_matches(')').trim().to_owned())),
                    None => (s.trim(), None),
                };
                SourcePackage {
                    name: src_name.to_owned(),
                    version: src_version.or_else(|| Some(version.to_owned())),
                }
            }
            _ => SourcePackage {
                name: name.to_owned(),
                version: Some(version.to_owned()),
            },
        };
        parsed.packages.push(Found {
            ecosystem: Ecosystem::Deb,
            name: name.to_owned(),
            version: version.to_owned(),
            arch: stanza.get("Architecture").map(str::to_owned),
            source: Some(source),
            ..Found::default()
        });
    }
    if parsed.packages.is_empty() && bad > 0 {
        return Err(format!("no valid package stanza ({bad} malformed)"));
    }
    Ok(parsed)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 256
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+-~:".contains(&b))
}

/// Parses a `.list` file into the paths it names (relative to the root, without `/.`).
pub(crate) fn parse_list(content: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(content)
        .lines()
        .filter_map(|l| {
            let p = l.trim().trim_start_matches('/');
            (!p.is_empty() && p != ".").then(|| p.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u7\nDescription: GNU C Library\n shared libraries\n\nPackage: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\nSource: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1.0\n";

    #[test]
    fn source_packages() {
        let p = parse_status(STATUS.as_bytes()).unwrap();
        assert_eq!(p.packages.len(), 2);
        let libc = &p.packages[0];
        assert_eq!(
            (libc.name.as_str(), libc.version.as_str()),
            ("libc6", "2.36-9+deb12u7")
        );
        let src = libc.source.as_ref().unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_deref()),
            ("glibc", Some("2.36-9+deb12u7"))
        );
        let gcc = p.packages[1].source.as_ref().unwrap();
        assert_eq!(
            (gcc.name.as_str(), gcc.version.as_deref()),
            ("gcc-12", Some("12.2.0-14"))
        );
    }

    #[test]
    fn malformed_status_files() {
        // Binary garbage.
        assert!(parse_status(b"\x00\x01\x02\xff\xfe garbage\nmore").is_err());
        // Missing values: the stanza is skipped with a warning, others survive.
        let p = parse_status(b"Package: a\nVersion:\n\nPackage: b\nVersion: 1.0\n").unwrap();
        assert_eq!(p.packages.len(), 1);
        assert_eq!(p.warnings.len(), 1);
        // A huge line does not break anything.
        let huge = format!(
            "Package: x\nVersion: 1\nDescription: {}\n",
            "y".repeat(5_000_000)
        );
        assert_eq!(parse_status(huge.as_bytes()).unwrap().packages.len(), 1);
        // Empty is valid: no packages.
        assert!(parse_status(b"").unwrap().packages.is_empty());
    }

    #[test]
    fn list_files() {
        assert_eq!(
            parse_list(b"/.\n/usr\n/usr/bin/ls\n"),
            vec!["usr", "usr/bin/ls"]
        );
    }
}
