//! The operating system: `os-release` and the distro-specific release files.

use std::collections::BTreeMap;

use crate::package::Distro;

/// The most bytes of a release file that are read.
pub(crate) const MAX_RELEASE_BYTES: u64 = 64 * 1024;

/// Parses `os-release` (`KEY=value`, values optionally quoted with shell escapes).
///
/// Lines that are not assignments are ignored, as systemd does; an error is returned only
/// when the file is not text or has no `ID`.
pub(crate) fn parse_os_release(content: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(content).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        fields.insert(key.to_owned(), unquote(value.trim()));
    }
    if !fields.contains_key("ID") {
        return Err("no ID= line".into());
    }
    Ok(fields)
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        let inner = &v[1..v.len() - 1];
        if bytes[0] == b'"' {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            return out;
        }
        return inner.to_owned();
    }
    v.to_owned()
}

/// Builds the distro from os-release fields.
pub(crate) fn distro_from_os_release(fields: &BTreeMap<String, String>) -> Distro {
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    Distro {
        id: get("ID").unwrap_or_default().to_ascii_lowercase(),
        version_id: get("VERSION_ID"),
        codename: get("VERSION_CODENAME").or_else(|| get("UBUNTU_CODENAME")),
        pretty_name: get("PRETTY_NAME"),
        id_like: get("ID_LIKE")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        detail_version: None,
    }
}

/// The kinds of release file other than os-release.
pub(crate) const RELEASE_FILES: &[(&str, &str)] = &[
    ("etc/debian_version", "debian"),
    ("etc/alpine-release", "alpine"),
    ("etc/redhat-release", "rhel"),
    ("etc/centos-release", "centos"),
    ("etc/rocky-release", "rocky"),
    ("etc/almalinux-release", "almalinux"),
    ("etc/fedora-release", "fedora"),
    ("etc/oracle-release", "ol"),
    ("etc/system-release", "rhel"),
];

/// Reads the first line of a release file: `12.7`, `3.19.1`, `Rocky Linux release 9.3 (Blue Onyx)`.
pub(crate) fn parse_release_file(content: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(content).map_err(|_| "not UTF-8 text".to_owned())?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() || line.len() > 256 {
        return Err("expected one short line".into());
    }
    Ok(line.to_owned())
}

/// The version number inside a RHEL-style release line (`... release 9.3 (Blue Onyx)` → `9.3`).
pub(crate) fn version_from_release_line(line: &str) -> Option<String> {
    let after = line.split(" release ").nth(1)?;
    let v: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The distro when there is no os-release, from a release file.
pub(crate) fn distro_from_release_file(id: &str, line: &str) -> Distro {
    let version = match id {
        "debian" => line
            .split('.')
            .next()
            .filter(|m| m.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned),
        "alpine" => Some(line.to_owned()),
        _ => version_from_release_line(line),
    };
    Distro {
        id: id.to_owned(),
        version_id: version,
        codename: None,
        pretty_name: Some(line.to_owned()),
        id_like: Vec::new(),
        detail_version: Some(line.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_os_release() {
        let f = parse_os_release(
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
        .unwrap();
        let d = distro_from_os_release(&f);
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id.as_deref(), Some("12"));
        assert_eq!(d.codename.as_deref(), Some("bookworm"));
        assert_eq!(d.purl_qualifier(), "debian-12");
    }

    #[test]
    fn malformed_os_release_is_an_error_not_a_panic() {
        assert!(parse_os_release(b"\xff\xfe\x00garbage").is_err());
        assert!(parse_os_release(b"NAME=x\n").is_err());
        let huge = "A".repeat(100_000);
        assert!(parse_os_release(huge.as_bytes()).is_err());
        // Missing values and odd quoting are tolerated.
        let f = parse_os_release(b"ID=\nID=alpine\nVERSION_ID='3.19.1'\nBAD LINE\n=x\n").unwrap();
        assert_eq!(f["VERSION_ID"], "3.19.1");
    }

    #[test]
    fn release_lines() {
        assert_eq!(
            version_from_release_line("Rocky Linux release 9.3 (Blue Onyx)").as_deref(),
            Some("9.3")
        );
        assert_eq!(
            distro_from_release_file("debian", "12.7")
                .version_id
                .as_deref(),
            Some("12")
        );
        assert!(parse_release_file(b"").is_err());
    }
}
