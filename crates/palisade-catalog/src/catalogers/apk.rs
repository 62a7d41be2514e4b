//! Alpine packages: `lib/apk/db/installed`.

use crate::catalogers::{Found, Parsed};
use crate::package::{Ecosystem, SourcePackage};

/// The most bytes of the database that are read. Real ones are far smaller (about 1 KiB a
/// package); the file is held whole while it is parsed, so this bounds peak memory. A larger
/// one is skipped, unread, with a warning naming its path and size.
pub(crate) const MAX_DB_BYTES: u64 = 32 << 20;

/// Parses the installed database: stanzas of `K:value` lines separated by blank lines.
/// Returns the packages and, for ownership, every file they list.
pub(crate) fn parse_installed(content: &[u8]) -> Result<(Parsed, Vec<String>), String> {
    let text = String::from_utf8_lossy(content);
    let mut parsed = Parsed::default();
    let mut owned = Vec::new();
    let mut bad = 0usize;

    #[derive(Default)]
    struct Cur {
        line: usize,
        name: Option<String>,
        version: Option<String>,
        arch: Option<String>,
        origin: Option<String>,
        license: Option<String>,
        files: Vec<String>,
        dir: String,
        bad: bool,
    }

    let finish = |c: Cur, parsed: &mut Parsed, owned: &mut Vec<String>, bad: &mut usize| {
        if c.bad {
            parsed
                .warnings
                .push(format!("line {}: malformed stanza skipped", c.line));
            *bad += 1;
            return;
        }
        match (c.name, c.version) {
            (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => {
                owned.extend(c.files);
                parsed.packages.push(Found {
                    ecosystem: Ecosystem::Apk,
                    source: Some(SourcePackage {
                        name: c.origin.unwrap_or_else(|| name.clone()),
                        version: Some(version.clone()),
                    }),
                    name,
                    version,
                    arch: c.arch,
                    licenses: c.license.into_iter().collect(),
                });
            }
            _ => {
                parsed.warnings.push(format!(
                    "line {}: package without name or version skipped",
                    c.line
                ));
                *bad += 1;
            }
        }
    };

    let mut cur: Option<Cur> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if let Some(c) = cur.take() {
                finish(c, &mut parsed, &mut owned, &mut bad);
            }
            continue;
        }
        let c = cur.get_or_insert_with(|| Cur {
            line: i + 1,
            ..Cur::default()
        });
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b':' {
            c.bad = true;
            continue;
        }
        let value = line[2..].to_owned();
        match bytes[0] {
            b'P' => c.name = Some(value),
            b'V' => c.version = Some(value),
            b'A' => c.arch = Some(value),
            b'o' => c.origin = Some(value),
            b'L' => c.license = Some(value),
            b'F' => c.dir = value,
            b'R' if c.files.len() < 1_000_000 => {
                let path = if c.dir.is_empty() {
                    value
                } else {
                    format!("{}/{value}", c.dir)
                };
                c.files.push(path);
            }
            _ => {}
        }
    }
    if let Some(c) = cur.take() {
        finish(c, &mut parsed, &mut owned, &mut bad);
    }
    if parsed.packages.is_empty() && bad > 0 {
        return Err(format!("no valid package stanza ({bad} malformed)"));
    }
    Ok((parsed, owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_packages_and_files() {
        let db = b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:busybox-binsh\nV:1.36.1-r15\no:busybox\nF:bin\nR:sh\n";
        let (p, owned) = parse_installed(db).unwrap();
        assert_eq!(p.packages.len(), 2);
        assert_eq!(p.packages[1].source.as_ref().unwrap().name, "busybox");
        assert_eq!(owned, vec!["lib/ld-musl-x86_64.so.1", "bin/sh"]);
    }

    #[test]
    fn malformed_databases() {
        assert!(parse_installed(b"\x00\x01garbage\xff\n").is_err());
        let (p, _) = parse_installed(b"P:a\n\nP:b\nV:1\n").unwrap();
        assert_eq!(p.packages.len(), 1);
        assert_eq!(p.warnings.len(), 1);
        let huge = format!("P:x\nV:1\nT:{}\n", "y".repeat(3_000_000));
        assert_eq!(
            parse_installed(huge.as_bytes()).unwrap().0.packages.len(),
            1
        );
    }
}
