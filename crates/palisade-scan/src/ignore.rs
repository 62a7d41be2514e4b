//! `palisade scan --ignorefile FILE`: a YAML list of accepted findings, each with a reason and an
//! optional expiry date.
//!
//! ```yaml
//! - id: GHSA-x84v-xcm2-53pg      # an advisory id or any of its aliases (CVE-…)
//!   package: requests            # optional: only for this package name
//!   reason: not reachable, we never follow redirects
//!   expires: 2026-12-31          # optional: stops applying after this day
//! ```
//!
//! An entry whose `expires` is before today stops applying, and the report says so.
//!
//! Trivy's ignore files are read too, so a team can keep the one it has:
//! - `.trivyignore`: one advisory id per line, `#` comments, an optional `exp:YYYY-MM-DD`
//!   after the id. The comment lines just above an id are its reason; without one the reason
//!   says the file and line it came from.
//! - `.trivyignore.yaml`: `vulnerabilities: [{id, statement?, expired_at?, purls?}]`. `purls`
//!   limit an entry to those packages (by name). `paths` cannot be honoured (Palisade matches by
//!   advisory and package, not by file) and is refused rather than widened to every path; so
//!   are the other sections (`misconfigurations`, `secrets`, `licenses`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest ignore file read.
pub const MAX_IGNORE_FILE_BYTES: u64 = 16 << 20;

/// One entry of the ignore file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    /// Advisory id or alias.
    pub id: String,
    /// Restricts the entry to one package name.
    #[serde(default)]
    pub package: Option<String>,
    /// Why the finding is accepted (required).
    pub reason: String,
    /// `YYYY-MM-DD`: the last day the entry applies.
    #[serde(default)]
    pub expires: Option<String>,
}

/// An ignore entry that no longer applies, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct ExpiredIgnore {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub expires: String,
    pub reason: String,
    pub message: String,
}

/// The parsed ignore file, split into the entries that apply today and those that expired.
#[derive(Debug, Default)]
pub struct IgnoreList {
    active: Vec<IgnoreEntry>,
    pub expired: Vec<ExpiredIgnore>,
}

impl IgnoreList {
    /// Reads and checks `path`; `today` is `YYYY-MM-DD`.
    pub fn load(path: &Path, today: &str) -> Result<IgnoreList> {
        let bytes =
            crate::source::read_capped(path, MAX_IGNORE_FILE_BYTES + 1, "reading ignore file")?;
        if bytes.len() as u64 > MAX_IGNORE_FILE_BYTES {
            return Err(Error::TooLarge {
                path: path.to_owned(),
                limit: MAX_IGNORE_FILE_BYTES,
            });
        }
        let invalid = |message: String| Error::IgnoreFile {
            path: path.to_owned(),
            message,
        };
        let text = String::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
        IgnoreList::parse(&text, today).map_err(invalid)
    }

    /// Parses the text of an ignore file; `today` is `YYYY-MM-DD`. The error says what is
    /// wrong and where.
    pub fn parse(text: &str, today: &str) -> std::result::Result<IgnoreList, String> {
        let entries: Vec<IgnoreEntry> = if text.trim().is_empty() {
            Vec::new()
        } else if let Some(entries) = trivy_plain(text) {
            entries
        } else if let Some(entries) = trivy_yaml(text)? {
            entries
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                format!(
                    "{e} (expected a list of entries {{id, package?, reason, expires?}}, a \
                     .trivyignore or a .trivyignore.yaml)"
                )
            })?
        };
        let mut list = IgnoreList::default();
        for (i, e) in entries.into_iter().enumerate() {
            let n = i + 1;
            if e.id.trim().is_empty() {
                return Err(format!("entry {n}: `id` is empty"));
            }
            if e.reason.trim().is_empty() {
                return Err(format!("entry {n} ({}): `reason` is empty", e.id));
            }
            if let Some(d) = &e.expires {
                if !valid_date(d) {
                    return Err(format!(
                        "entry {n} ({}): `expires: {d}` is not a date YYYY-MM-DD",
                        e.id
                    ));
                }
                if d.as_str() < today {
                    list.expired.push(ExpiredIgnore {
                        message: format!("ignore entry for {} expired on {d}", e.id),
                        id: e.id,
                        package: e.package,
                        expires: d.clone(),
                        reason: e.reason,
                    });
                    continue;
                }
            }
            list.active.push(e);
        }
        Ok(list)
    }

    /// The active entry that suppresses a finding of advisory `id` (with `aliases`) on package
    /// `package`, if any.
    pub fn matching(&self, id: &str, aliases: &[String], package: &str) -> Option<&IgnoreEntry> {
        self.active.iter().find(|e| {
            let id_hit = std::iter::once(id)
                .chain(aliases.iter().map(String::as_str))
                .any(|a| a.eq_ignore_ascii_case(&e.id));
            id_hit && e.package.as_deref().is_none_or(|p| p == package)
        })
    }
}

/// A plain `.trivyignore`: every line blank, a `#` comment, or an id with an optional
/// `exp:YYYY-MM-DD`; `None` when the text is not one.
fn trivy_plain(text: &str) -> Option<Vec<IgnoreEntry>> {
    let mut entries = Vec::new();
    let mut comment: Vec<&str> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            comment.clear();
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            comment.push(c.trim());
            continue;
        }
        let mut words = line.split_whitespace();
        let id = words.next()?;
        let plausible = id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
            && id.chars().any(|c| c.is_ascii_digit() || c == '-');
        if !plausible {
            return None;
        }
        let mut expires = None;
        for w in words {
            expires = Some(w.strip_prefix("exp:")?.to_owned());
        }
        let reason = comment.join(" ");
        entries.push(IgnoreEntry {
            id: id.to_owned(),
            package: None,
            reason: if reason.is_empty() {
                format!(
                    "listed in the Trivy ignore file, line {} (no reason given)",
                    i + 1
                )
            } else {
                reason
            },
            expires,
        });
        comment.clear();
    }
    Some(entries)
}

/// A `.trivyignore.yaml` (a mapping with `vulnerabilities`); `Ok(None)` when the text is not
/// one.
fn trivy_yaml(text: &str) -> std::result::Result<Option<Vec<IgnoreEntry>>, String> {
    let Ok(serde_json::Value::Object(doc)) = serde_saphyr::from_str::<serde_json::Value>(text)
    else {
        return Ok(None);
    };
    if !doc.contains_key("vulnerabilities") {
        return Ok(None);
    }
    if let Some(other) = doc.keys().find(|k| k.as_str() != "vulnerabilities") {
        return Err(format!(
            "Trivy ignore file: the `{other}` section is not supported (Palisade ignores \
             vulnerability findings only): remove it"
        ));
    }
    let list = doc["vulnerabilities"]
        .as_array()
        .ok_or("Trivy ignore file: `vulnerabilities` must be a list")?;
    let mut entries = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let n = i + 1;
        let o = v
            .as_object()
            .ok_or_else(|| format!("Trivy ignore file: vulnerability {n} is not a mapping"))?;
        for k in o.keys() {
            match k.as_str() {
                "id" | "statement" | "expired_at" | "purls" => {}
                "paths" => {
                    return Err(format!(
                        "Trivy ignore file: vulnerability {n}: `paths` cannot be honoured \
                         (Palisade matches by advisory and package, not by file), and ignoring \
                         it would widen the entry to every path: use `purls` or remove it"
                    ));
                }
                other => {
                    return Err(format!(
                        "Trivy ignore file: vulnerability {n}: unknown field `{other}`"
                    ));
                }
            }
        }
        let id = o
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("Trivy ignore file: vulnerability {n} has no `id`"))?;
        let reason = o
            .get("statement")
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map_or_else(
                || format!("listed in the Trivy ignore file, vulnerability {n} (no statement)"),
                str::to_owned,
            );
        // `expired_at` is a date, or a time whose date part is taken.
        let expires = o
            .get("expired_at")
            .and_then(|v| v.as_str())
            .map(|d| d.get(..10).unwrap_or(d).to_owned());
        let purls: Vec<&str> = match o.get("purls") {
            None => Vec::new(),
            Some(p) => p
                .as_array()
                .ok_or_else(|| {
                    format!("Trivy ignore file: vulnerability {n}: `purls` must be a list")
                })?
                .iter()
                .map(|p| p.as_str().unwrap_or_default())
                .collect(),
        };
        if purls.is_empty() {
            entries.push(IgnoreEntry {
                id: id.to_owned(),
                package: None,
                reason: reason.clone(),
                expires: expires.clone(),
            });
        }
        for purl in purls {
            // pkg:type/namespace/name@version?qualifiers: the name.
            let name = purl
                .strip_prefix("pkg:")
                .and_then(|p| p.split(['@', '?', '#']).next())
                .and_then(|p| p.rsplit('/').next())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    format!("Trivy ignore file: vulnerability {n}: {purl:?} is not a package URL")
                })?;
            entries.push(IgnoreEntry {
                id: id.to_owned(),
                package: Some(name.to_owned()),
                reason: reason.clone(),
                expires: expires.clone(),
            });
        }
    }
    Ok(Some(entries))
}

/// `YYYY-MM-DD` with a real month and day.
fn valid_date(s: &str) -> bool {
    palisade_image::Timestamp::parse_date(s).is_ok()
}

/// Today's date in UTC, `YYYY-MM-DD`.
#[must_use]
pub fn today() -> String {
    palisade_image::Timestamp::now().utc_date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2024-13-01"));
        assert!(!valid_date("2024-1-01"));
        assert_eq!(today().len(), 10);
    }

    #[test]
    fn active_expired_and_matching() {
        let text = "- id: CVE-2018-18074\n  package: requests\n  reason: accepted\n\
                    - id: GHSA-old\n  reason: was fine\n  expires: 2020-01-01\n\
                    - id: GHSA-today\n  reason: last day\n  expires: 2025-06-01\n";
        let l = IgnoreList::parse(text, "2025-06-01").unwrap();
        assert_eq!(l.expired.len(), 1);
        assert_eq!(
            l.expired[0].message,
            "ignore entry for GHSA-old expired on 2020-01-01"
        );
        let aliases = vec!["CVE-2018-18074".to_owned()];
        assert!(l.matching("GHSA-x84v", &aliases, "requests").is_some());
        assert!(l.matching("GHSA-x84v", &aliases, "urllib3").is_none());
        assert!(l.matching("GHSA-old", &[], "x").is_none());
        assert!(l.matching("GHSA-today", &[], "x").is_some());
    }

    #[test]
    fn trivy_plain_files() {
        let text = "# accepted: not reachable\nCVE-2018-18074\n\nGHSA-old exp:2020-01-01\n\
                    CVE-2099-1 exp:2099-12-31\n";
        let l = IgnoreList::parse(text, "2025-06-01").unwrap();
        assert_eq!(l.expired.len(), 1);
        let hit = l
            .matching("GHSA-x", &["CVE-2018-18074".to_owned()], "requests")
            .unwrap();
        assert_eq!(hit.reason, "accepted: not reachable");
        let hit = l.matching("CVE-2099-1", &[], "x").unwrap();
        assert!(hit.reason.contains("line 5"), "{}", hit.reason);
        // Not an ignore file of any kind.
        assert!(IgnoreList::parse("just some words\n", "2025-06-01").is_err());
        assert!(IgnoreList::parse("CVE-1 until:2020-01-01\n", "2025-06-01").is_err());
    }

    #[test]
    fn trivy_yaml_files() {
        let text = "vulnerabilities:\n  - id: CVE-2018-18074\n    statement: no redirects\n\
                    \x20   purls: [\"pkg:pypi/requests@2.19.1\"]\n\
                    \x20 - id: CVE-2020-1\n    expired_at: 2020-01-01\n";
        let l = IgnoreList::parse(text, "2025-06-01").unwrap();
        assert_eq!(l.expired.len(), 1);
        let aliases = vec!["CVE-2018-18074".to_owned()];
        assert_eq!(
            l.matching("GHSA-x", &aliases, "requests")
                .map(|e| e.reason.as_str()),
            Some("no redirects")
        );
        assert!(l.matching("GHSA-x", &aliases, "urllib3").is_none());
        // `paths` would widen the entry: refused; other sections too.
        let e = IgnoreList::parse(
            "vulnerabilities:\n  - id: CVE-1\n    paths: [a]\n",
            "2025-06-01",
        )
        .unwrap_err();
        assert!(e.contains("paths"), "{e}");
        let e = IgnoreList::parse("vulnerabilities: []\nsecrets: []\n", "2025-06-01").unwrap_err();
        assert!(e.contains("secrets"), "{e}");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = IgnoreList::parse("- id: X\n  package: p\n", "2025-01-01").unwrap_err();
        assert!(e.to_string().contains("reason"), "{e:#}");
        let e = IgnoreList::parse("- id: X\n  reason: r\n  until: 2025-01-01\n", "2025-01-01")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("until"), "{msg}");
        assert!(msg.contains("line 3") || msg.contains("3:"), "{msg}");
        let e =
            IgnoreList::parse("- id: X\n  reason: r\n  expires: soon\n", "2025-01-01").unwrap_err();
        assert!(e.to_string().contains("not a date"));
        let e = IgnoreList::parse("- id: X\n  reason: '  '\n", "2025-01-01").unwrap_err();
        assert!(e.to_string().contains("reason"));
    }
}
