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
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                format!("{e} (expected a list of entries {{id, package?, reason, expires?}})")
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
