//! Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `EGG-INFO/PKG-INFO`
//! and single-file `*.egg-info`.

use crate::catalogers::{Found, Parsed};
use crate::package::Ecosystem;

/// The most bytes of a metadata file that are read (the headers come first; the long
/// description after them is not needed).
pub(crate) const MAX_METADATA_BYTES: u64 = 8 << 20;

/// Whether `path` is Python package metadata.
pub(crate) fn is_metadata_path(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || path.ends_with("EGG-INFO/PKG-INFO")
        || path.ends_with(".egg-info")
}

/// Parses core metadata headers (RFC 822 style, up to the first blank line).
pub(crate) fn parse_metadata(content: &[u8]) -> Result<Parsed, String> {
    let text = String::from_utf8_lossy(content);
    let mut name = None;
    let mut version = None;
    let mut licenses = Vec::new();
    let mut license_expression = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Name" => name = Some(value.to_owned()),
            "Version" => version = Some(value.to_owned()),
            "License" if !value.is_empty() && value != "UNKNOWN" && value.len() <= 200 => {
                licenses.push(value.to_owned());
            }
            "License-Expression" if !value.is_empty() => {
                license_expression = Some(value.to_owned())
            }
            _ => {}
        }
    }
    let name = name
        .filter(|n| valid_name(n))
        .ok_or("no valid Name header")?;
    let version = version
        .filter(|v| !v.is_empty() && v.len() <= 128 && !v.contains(char::is_whitespace))
        .ok_or_else(|| format!("package {name}: no valid Version header"))?;
    if let Some(expr) = license_expression {
        licenses = vec![expr];
    }
    Ok(Parsed {
        packages: vec![Found {
            ecosystem: Ecosystem::Python,
            name,
            version,
            licenses,
            ..Found::default()
        }],
        warnings: Vec::new(),
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 200
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
#[must_use]
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metadata() {
        let p = parse_metadata(b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\nLicense: Apache 2.0\nClassifier: x\n\nLong: description\nName: other\n").unwrap();
        let f = &p.packages[0];
        assert_eq!(
            (f.name.as_str(), f.version.as_str()),
            ("requests", "2.19.1")
        );
        assert_eq!(f.licenses, vec!["Apache 2.0"]);
    }

    #[test]
    fn malformed_metadata() {
        assert!(parse_metadata(b"\x00\xff\xfegarbage").is_err());
        assert!(parse_metadata(b"Name: x\nVersion:\n").is_err());
        assert!(parse_metadata(b"Name:\nVersion: 1\n").is_err());
        let huge = format!("Name: x\nVersion: 1\nSummary: {}\n", "s".repeat(4_000_000));
        assert!(parse_metadata(huge.as_bytes()).is_ok());
    }

    #[test]
    fn pep503() {
        assert_eq!(normalise_name("Jinja2"), "jinja2");
        assert_eq!(normalise_name("zope.interface"), "zope-interface");
        assert_eq!(normalise_name("a__b-.c"), "a-b-c");
    }
}
