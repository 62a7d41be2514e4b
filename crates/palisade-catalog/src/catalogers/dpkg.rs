//! Debian packages: `var/lib/dpkg/status`, distroless `var/lib/dpkg/status.d/*`, and the
//! `var/lib/dpkg/info/*.list` files that say which files each package owns.

use crate::catalogers::{Found, Parsed};
use crate::package::{Ecosystem, SourcePackage};

/// The most bytes of a status database that are read. Real ones are far smaller (a few MiB
/// for thousands of packages); the file is held whole while it is parsed, so this bounds peak
/// memory. A larger one is skipped, unread, with a warning naming its path and size.
pub(crate) const MAX_STATUS_BYTES: u64 = 32 << 20;
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

/// The most bytes of a `usr/share/doc/PACKAGE/copyright` file read.
pub(crate) const MAX_COPYRIGHT_BYTES: u64 = 1 << 20;

/// The most licences kept from one copyright file.
const MAX_COPYRIGHT_LICENSES: usize = 16;

/// The licences a Debian copyright file declares, from the `License:` fields of a
/// machine-readable file (DEP-5; the first line of each field is the short name), with
/// Debian's short names written as SPDX identifiers where they have one (`GPL-2+` is
/// `GPL-2.0-or-later`, `Expat` is `MIT`). A file without `License:` fields (free-form, as
/// older packages have) declares nothing readable: no licence is listed, none is guessed.
pub(crate) fn parse_copyright(content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if line.starts_with([' ', '\t']) || !key.eq_ignore_ascii_case("license") {
            continue;
        }
        let value = value.trim();
        if value.is_empty() || value.len() > 200 {
            continue;
        }
        let spdx = debian_to_spdx(value);
        if !out.contains(&spdx) {
            out.push(spdx);
            if out.len() >= MAX_COPYRIGHT_LICENSES {
                break;
            }
        }
    }
    out
}

/// A Debian short licence name (or an `or`/`and` combination of them) in SPDX spelling where
/// every part has one; otherwise the name as written.
fn debian_to_spdx(name: &str) -> String {
    let mut parts = Vec::new();
    for (i, word) in name.split_whitespace().enumerate() {
        if i % 2 == 1 {
            match word.to_ascii_lowercase().as_str() {
                "or" => parts.push("OR".to_owned()),
                "and" => parts.push("AND".to_owned()),
                _ => return name.to_owned(),
            }
            continue;
        }
        let Some(id) = debian_short_name(word.trim_end_matches(',')) else {
            return name.to_owned();
        };
        parts.push(id);
    }
    if parts.len() % 2 == 0 {
        return name.to_owned();
    }
    parts.join(" ")
}

/// One Debian short name (<https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/#license-short-name>)
/// as an SPDX identifier.
fn debian_short_name(name: &str) -> Option<String> {
    let (base, later) = match name.strip_suffix('+') {
        Some(b) => (b, true),
        None => (name, false),
    };
    // The GNU family: GPL-2, LGPL-2.1+, AGPL-3, GFDL-1.3+.
    for family in ["GPL", "LGPL", "AGPL", "GFDL"] {
        if let Some(version) = base
            .strip_prefix(family)
            .and_then(|v| v.strip_prefix('-'))
            .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        {
            let version = if version.contains('.') {
                version.to_owned()
            } else {
                format!("{version}.0")
            };
            let suffix = if later { "or-later" } else { "only" };
            let id = format!("{family}-{version}-{suffix}");
            return spdx::license_id(&id).map(|_| id);
        }
    }
    let id = match base {
        "Expat" => "MIT",
        "BSD-2-clause" => "BSD-2-Clause",
        "BSD-3-clause" => "BSD-3-Clause",
        "BSD-4-clause" => "BSD-4-Clause",
        "Zlib" | "zlib" => "Zlib",
        "MPL-1.1" | "MPL-2.0" | "Apache-2.0" | "ISC" | "MIT" | "CC0-1.0" | "OpenSSL"
        | "Unicode-DFS-2016" | "Python-2.0" | "PSF-2.0" | "FTL" | "curl" | "BSL-1.0" | "X11"
        | "W3C" | "0BSD" => base,
        _ => return None,
    };
    if later {
        // `Apache-2.0+` and the like: SPDX writes it with the `+` operator.
        return Some(format!("{id}+"));
    }
    Some(id.to_owned())
}

#[cfg(test)]
mod copyright_tests {
    use super::*;

    #[test]
    fn machine_readable_copyright_files_give_spdx_names() {
        let file = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: bash

Files: *
Copyright: 1987-2022 Free Software Foundation, Inc.
License: GPL-3+

Files: lib/sh/*
License: GPL-2+ or Artistic
 The full text of the GNU General Public License ...

Files: debian/*
License: Expat

Files: x/*
License: public-domain

License: GPL-3+
 On Debian systems, the complete text ...
";
        assert_eq!(
            parse_copyright(file),
            vec![
                "GPL-3.0-or-later",
                "GPL-2+ or Artistic",
                "MIT",
                "public-domain"
            ]
        );
        assert_eq!(
            debian_to_spdx("LGPL-2.1+ or MIT"),
            "LGPL-2.1-or-later OR MIT"
        );
        assert_eq!(debian_to_spdx("GPL-2"), "GPL-2.0-only");
        assert_eq!(debian_to_spdx("BSD-3-clause"), "BSD-3-Clause");
        // Free-form files declare nothing readable.
        assert!(
            parse_copyright(b"This package was debianized by someone.\nIt is GPL.\n").is_empty()
        );
    }
}
