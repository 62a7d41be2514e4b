//! The CISA Known Exploited Vulnerabilities catalog importer
//! (`known_exploited_vulnerabilities.json`: `catalogVersion`, `dateReleased`, `count`,
//! `vulnerabilities: [{cveID, vendorProject, product, dateAdded, dueDate,
//! knownRansomwareCampaignUse, …}]`). Stored in the database's `kev` table and returned with
//! [`crate::Enrichment::kev`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::import::{Limits, cap_text, read_capped};
use crate::{Error, FeedInfo, Timestamp};

/// One KEV catalog entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KevEntry {
    /// `CVE-2025-48384`.
    pub cve: String,
    /// `Git`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor_project: String,
    /// `Git`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product: String,
    /// When CISA added it, `YYYY-MM-DD`.
    pub date_added: String,
    /// The remediation due date for U.S. federal agencies, `YYYY-MM-DD`.
    pub due_date: String,
    /// `knownRansomwareCampaignUse` is `Known`.
    pub ransomware: bool,
}

/// The KEV catalog, for [`crate::DatabaseBuilder::add_kev`].
#[derive(Clone, Debug)]
pub struct KevImport {
    /// The feed (`cisa-kev`); its snapshot is the catalog's `dateReleased`.
    pub feed: FeedInfo,
    /// `catalogVersion` (`2025.08.25`).
    pub catalog_version: String,
    /// One entry per CVE, sorted by CVE id.
    pub entries: Vec<KevEntry>,
    /// Problems kept going past (a `count` that disagrees, a CVE listed twice).
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog<'a> {
    #[serde(default)]
    catalog_version: String,
    #[serde(default)]
    date_released: Option<String>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(borrow)]
    vulnerabilities: Vec<&'a serde_json::value::RawValue>,
}

/// Just the id of an entry, for naming it in errors.
#[derive(Deserialize)]
struct RawKevId {
    #[serde(default, rename = "cveID")]
    cve_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKev {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    date_added: String,
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl TryFrom<RawKev> for KevEntry {
    type Error = String;

    fn try_from(raw: RawKev) -> Result<KevEntry, String> {
        if !raw.cve_id.starts_with("CVE-") {
            return Err(format!("cveID {:?} is not a CVE id", raw.cve_id));
        }
        for (field, v) in [("dateAdded", &raw.date_added), ("dueDate", &raw.due_date)] {
            if !is_date(v) {
                return Err(format!("{field} {v:?} is not a YYYY-MM-DD date"));
            }
        }
        Ok(KevEntry {
            cve: raw.cve_id,
            vendor_project: raw.vendor_project,
            product: raw.product,
            date_added: raw.date_added,
            due_date: raw.due_date,
            ransomware: raw
                .known_ransomware_campaign_use
                .eq_ignore_ascii_case("known"),
        })
    }
}

/// Imports the KEV catalog at `path` (feed `cisa-kev`), up to [`Limits::max_kev_bytes`] (and
/// [`Limits::max_total_bytes`]) and [`Limits::max_entries`] entries; vendor and product names
/// longer than [`Limits::max_text_bytes`] are cut. An entry that does not parse is an error naming it
/// (`vulnerabilities[12] (CVE-…): …`).
pub fn import_kev(path: &Path, limits: &Limits) -> Result<KevImport, Error> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kev.json")
        .to_owned();
    let feed = format!("CISA KEV {file_name}");
    let bytes = read_capped(path, limits.max_kev_bytes.min(limits.max_total_bytes))?;
    let raw: RawCatalog = serde_json::from_slice(&bytes).map_err(|e| Error::Feed {
        feed: feed.clone(),
        message: format!("not a KEV catalog: {e}"),
    })?;
    if raw.vulnerabilities.len() > limits.max_entries {
        return Err(Error::Feed {
            feed,
            message: format!(
                "{} entries, more than the limit of {}",
                raw.vulnerabilities.len(),
                limits.max_entries
            ),
        });
    }
    let snapshot = raw
        .date_released
        .as_deref()
        .map(Timestamp::parse)
        .transpose()
        .map_err(|e| Error::Feed {
            feed: feed.clone(),
            message: format!("dateReleased: {e}"),
        })?;
    let mut warnings = Vec::new();
    let records = raw.vulnerabilities.len() as u64;
    if let Some(count) = raw.count.filter(|&c| c != records) {
        warnings.push(format!(
            "importing {feed}: count says {count}, the catalog lists {records}"
        ));
    }
    let mut entries = Vec::with_capacity(raw.vulnerabilities.len());
    for (i, v) in raw.vulnerabilities.into_iter().enumerate() {
        let id = serde_json::from_str::<RawKevId>(v.get())
            .ok()
            .and_then(|r| r.cve_id)
            .map_or_else(
                || "?".to_owned(),
                |v| cap_text(v.as_str().map_or_else(|| v.to_string(), str::to_owned), 100),
            );
        let err = |message: String| Error::Record {
            feed: feed.clone(),
            record: format!("vulnerabilities[{i}] ({id})"),
            message,
        };
        let r: RawKev = serde_json::from_str(v.get()).map_err(|e| err(e.to_string()))?;
        let mut entry = KevEntry::try_from(r).map_err(err)?;
        entry.vendor_project = cap_text(entry.vendor_project, limits.max_text_bytes);
        entry.product = cap_text(entry.product, limits.max_text_bytes);
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.cve.cmp(&b.cve));
    let before = entries.len();
    entries.dedup_by(|a, b| a.cve == b.cve);
    if entries.len() != before {
        warnings.push(format!(
            "importing {feed}: {} CVEs listed more than once; the first kept",
            before - entries.len()
        ));
    }
    Ok(KevImport {
        feed: FeedInfo {
            name: "cisa-kev".into(),
            source: path.display().to_string(),
            records,
            snapshot,
        },
        catalog_version: raw.catalog_version,
        entries,
        warnings,
    })
}
