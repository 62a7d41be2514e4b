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
    let mut classified: Vec<String> = Vec::new();
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
            "Classifier" if classified.len() < 16 => {
                if let Some(l) = classifier_license(value)
                    && !classified.contains(&l)
                {
                    classified.push(l);
                }
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
    // PEP 639: `License-Expression` is authoritative; else the `License` text; else the
    // licence classifiers.
    if let Some(expr) = license_expression {
        licenses = vec![expr];
    } else if licenses.is_empty() {
        licenses = classified;
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

/// The licence a `License :: …` trove classifier names: its SPDX identifier where the
/// classifier names exactly one licence and version, otherwise the classifier's last part
/// as written (`BSD License` and `Apache Software License` name no version: never guessed).
fn classifier_license(classifier: &str) -> Option<String> {
    let rest = classifier.strip_prefix("License ::")?.trim();
    let last = rest.rsplit("::").next()?.trim();
    if last.is_empty() || last == "OSI Approved" || last.len() > 200 {
        return None;
    }
    let spdx = match last {
        "MIT License" => "MIT",
        "MIT No Attribution License (MIT-0)" => "MIT-0",
        "GNU General Public License v2 (GPLv2)" => "GPL-2.0-only",
        "GNU General Public License v2 or later (GPLv2+)" => "GPL-2.0-or-later",
        "GNU General Public License v3 (GPLv3)" => "GPL-3.0-only",
        "GNU General Public License v3 or later (GPLv3+)" => "GPL-3.0-or-later",
        "GNU Lesser General Public License v2 (LGPLv2)" => "LGPL-2.0-only",
        "GNU Lesser General Public License v2 or later (LGPLv2+)" => "LGPL-2.0-or-later",
        "GNU Lesser General Public License v3 (LGPLv3)" => "LGPL-3.0-only",
        "GNU Lesser General Public License v3 or later (LGPLv3+)" => "LGPL-3.0-or-later",
        "GNU Affero General Public License v3" => "AGPL-3.0-only",
        "GNU Affero General Public License v3 or later (AGPLv3+)" => "AGPL-3.0-or-later",
        "Mozilla Public License 2.0 (MPL 2.0)" => "MPL-2.0",
        "ISC License (ISCL)" => "ISC",
        "Python Software Foundation License" => "PSF-2.0",
        "The Unlicense (Unlicense)" => "Unlicense",
        "zlib/libpng License" => "Zlib",
        "Boost Software License 1.0 (BSL-1.0)" => "BSL-1.0",
        "Eclipse Public License 2.0 (EPL-2.0)" => "EPL-2.0",
        "Universal Permissive License (UPL)" => "UPL-1.0",
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication" => "CC0-1.0",
        other => other,
    };
    Some(spdx.to_owned())
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

    /// Issue 17: licence classifiers when there is no `License` or `License-Expression`; a
    /// classifier without a version is kept as written.
    #[test]
    fn licence_classifiers() {
        let meta = b"Name: x\nVersion: 1\nClassifier: Programming Language :: Python\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: BSD License\nClassifier: License :: OSI Approved\n";
        let p = parse_metadata(meta).unwrap();
        assert_eq!(p.packages[0].licenses, ["MIT", "BSD License"]);
        let with_text = b"Name: x\nVersion: 1\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: MIT License\n";
        assert_eq!(
            parse_metadata(with_text).unwrap().packages[0].licenses,
            ["Apache 2.0"]
        );
        let with_expr = b"Name: x\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nClassifier: License :: OSI Approved :: ISC License (ISCL)\n";
        assert_eq!(
            parse_metadata(with_expr).unwrap().packages[0].licenses,
            ["MIT OR Apache-2.0"]
        );
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
