//! The NVD CVE API 2.0 importer: enrichment (CVSS scores and vectors, CWEs, NVD status) per
//! CVE, not advisories. NVD names no package versions a scan could match; a finding takes its
//! CVSS from here when neither the vendor nor the advisory gives one.
//!
//! Input: one API response page (or a feed file of the same shape), `{"vulnerabilities":
//! [{"cve": {id, published, lastModified, vulnStatus, descriptions, metrics: {cvssMetricV40?,
//! cvssMetricV31?, cvssMetricV30?, cvssMetricV2?}, weaknesses, …}}]}`.
//!
//! Base scores are computed from the vectors with the `cvss` crate (v2.0, v3.0, v3.1 and v4.0
//! all parse); a vector that does not parse keeps NVD's given score, with a warning, and a
//! computed score that differs from the given one by more than 0.05 is reported too.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::epss::EpssScore;
use crate::import::{Limits, Meter, MeteredReader, Over, cap_text, open_regular};
use crate::kev::KevEntry;
use crate::{Error, FeedInfo, Timestamp};

/// What the database knows about one CVE beyond advisories: NVD's scores and weaknesses, and
/// CISA KEV's facts. [`crate::Database::enrichment`] returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Enrichment {
    /// `CVE-2019-19844`.
    pub cve: String,
    /// The CVSS ratings NVD lists (NVD's own and other sources'), newest CVSS version first,
    /// in record order within a version. Empty when NVD has none yet.
    #[serde(default)]
    pub cvss: Vec<CvssScore>,
    /// `CWE-640`, … (NVD's `weaknesses`, deduplicated, `NVD-CWE-Other`/`NVD-CWE-noinfo` kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwes: Vec<String>,
    /// NVD's `vulnStatus` (`Analyzed`, `Awaiting Analysis`, `Modified`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvd_status: Option<String>,
    /// NVD's `published`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Timestamp>,
    /// NVD's `lastModified` (NVD writes UTC without a zone; read as UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
    /// The English description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The CISA KEV entry, when the CVE is known to be exploited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev: Option<KevEntry>,
    /// The FIRST EPSS score, when an EPSS file was imported and scores the CVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<EpssScore>,
}

/// One CVSS rating.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CvssScore {
    /// `2.0`, `3.0`, `3.1`, `4.0`.
    pub version: String,
    /// The vector as written (`CVSS:3.1/AV:N/…`; v2 vectors have no prefix).
    pub vector: String,
    /// The base score: computed from the vector, or NVD's when the vector does not parse.
    pub base_score: f64,
    /// The base score NVD gives.
    pub given_score: f64,
    /// Whether `base_score` was computed from the vector.
    pub computed: bool,
    /// NVD's `baseSeverity` (v3/v4) or the metric's `baseSeverity` (v2), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Who scored it: `nvd@nist.gov`, or a CNA/ADP's identifier.
    pub source: String,
    /// NVD's `type`: `Primary` (true) or `Secondary`.
    pub primary: bool,
}

impl Enrichment {
    /// An entry with nothing but the CVE id.
    pub fn new(cve: String) -> Enrichment {
        Enrichment {
            cve,
            cvss: Vec::new(),
            cwes: Vec::new(),
            nvd_status: None,
            published: None,
            last_modified: None,
            description: None,
            kev: None,
            epss: None,
        }
    }

    /// The highest base score among the ratings whose version starts with `major`
    /// (`"3"` for v3.0 and v3.1, `"4"`, `"2"`), whatever their source.
    pub fn max_base_score(&self, major: &str) -> Option<f64> {
        self.cvss
            .iter()
            .filter(|s| s.version.split('.').next() == Some(major))
            .map(|s| s.base_score)
            .reduce(f64::max)
    }

    /// The rating to show: the newest CVSS version present, NVD's primary one first.
    pub fn preferred(&self) -> Option<&CvssScore> {
        let newest = self.cvss.first()?.version.clone();
        self.cvss
            .iter()
            .filter(|s| s.version == newest)
            .find(|s| s.primary)
            .or(self.cvss.first())
    }
}

/// The enrichment records of one feed, for [`crate::DatabaseBuilder::add_enrichment`].
#[derive(Clone, Debug)]
pub struct EnrichmentImport {
    /// The feed (`nvd`).
    pub feed: FeedInfo,
    /// One entry per CVE, sorted by CVE id.
    pub enrichment: Vec<Enrichment>,
    /// Problems kept going past (a vector that does not parse, a score that does not agree).
    pub warnings: Vec<String>,
}

/// One `vulnerabilities[]` item, its `cve` kept as text until it is parsed.
#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(borrow)]
    cve: &'a RawValue,
}

/// Just the id of a record, for naming it in errors.
#[derive(Deserialize)]
struct RawId {
    #[serde(default)]
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCve {
    id: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    vuln_status: Option<String>,
    #[serde(default)]
    descriptions: Vec<RawDescription>,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    weaknesses: Vec<RawWeakness>,
}

#[derive(Deserialize)]
struct RawDescription {
    lang: String,
    value: String,
}

#[derive(Deserialize, Default)]
struct RawMetrics {
    #[serde(default, rename = "cvssMetricV40")]
    v40: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV31")]
    v31: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV30")]
    v30: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV2")]
    v2: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetric {
    source: String,
    #[serde(rename = "type")]
    kind: String,
    cvss_data: RawCvssData,
    /// v2 puts the severity beside `cvssData`.
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvssData {
    version: String,
    vector_string: String,
    base_score: f64,
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
struct RawWeakness {
    #[serde(default)]
    description: Vec<RawDescription>,
}

/// NVD writes `2019-12-18T19:15:00.000`: UTC without a zone.
fn nvd_time(field: &str, t: Option<String>) -> Result<Option<Timestamp>, String> {
    t.map(|t| {
        let zoned = t.len() > 19 && (t.ends_with(['Z', 'z']) || t[19..].contains(['+', '-']));
        let text = if zoned { t } else { format!("{t}Z") };
        Timestamp::parse(&text).map_err(|e| format!("{field}: {e}"))
    })
    .transpose()
}

impl TryFrom<RawMetric> for CvssScore {
    /// The problem with the vector, when it does not parse or disagrees; the score is kept.
    type Error = (CvssScore, String);

    fn try_from(raw: RawMetric) -> Result<CvssScore, (CvssScore, String)> {
        let d = raw.cvss_data;
        let mut score = CvssScore {
            version: d.version,
            base_score: d.base_score,
            given_score: d.base_score,
            computed: false,
            severity: d.base_severity.or(raw.base_severity),
            source: raw.source,
            primary: raw.kind == "Primary",
            vector: d.vector_string,
        };
        match score.vector.parse::<cvss::Cvss>() {
            Ok(v) => {
                let computed = v.score();
                score.base_score = computed;
                score.computed = true;
                if (computed - score.given_score).abs() > 0.05 {
                    let msg = format!(
                        "vector {} scores {computed}, NVD gives {}; the computed score is kept",
                        score.vector, score.given_score
                    );
                    return Err((score, msg));
                }
                Ok(score)
            }
            Err(e) => {
                let msg = format!(
                    "vector {:?} does not parse ({e}); NVD's score {} is kept",
                    score.vector, score.given_score
                );
                Err((score, msg))
            }
        }
    }
}

/// One record in the model, with the warnings about its metrics.
struct NvdRecord {
    enrichment: Enrichment,
    warnings: Vec<String>,
}

impl TryFrom<RawCve> for NvdRecord {
    type Error = String;

    fn try_from(raw: RawCve) -> Result<NvdRecord, String> {
        if !raw.id.starts_with("CVE-") {
            return Err(format!("id {:?} is not a CVE id", raw.id));
        }
        let mut e = Enrichment::new(raw.id);
        e.published = nvd_time("published", raw.published)?;
        e.last_modified = nvd_time("lastModified", raw.last_modified)?;
        e.nvd_status = raw.vuln_status;
        e.description = raw
            .descriptions
            .into_iter()
            .find(|d| d.lang == "en")
            .map(|d| d.value);
        let mut warnings = Vec::new();
        let m = raw.metrics;
        for (key, metrics) in [
            ("cvssMetricV40", m.v40),
            ("cvssMetricV31", m.v31),
            ("cvssMetricV30", m.v30),
            ("cvssMetricV2", m.v2),
        ] {
            for (i, metric) in metrics.into_iter().enumerate() {
                match CvssScore::try_from(metric) {
                    Ok(s) => e.cvss.push(s),
                    Err((s, w)) => {
                        warnings.push(format!("metrics.{key}[{i}]: {w}"));
                        e.cvss.push(s);
                    }
                }
            }
        }
        for w in raw.weaknesses {
            for d in w.description {
                if !e.cwes.contains(&d.value) {
                    e.cwes.push(d.value);
                }
            }
        }
        Ok(NvdRecord {
            enrichment: e,
            warnings,
        })
    }
}

/// Imports an NVD CVE API 2.0 response page (feed `nvd`) as enrichment. The page is streamed
/// one record at a time: it may be as large as [`Limits::max_nvd_bytes`] (and
/// [`Limits::max_total_bytes`]), each `vulnerabilities[]` item as large as
/// [`Limits::max_record_bytes`], and hold at most [`Limits::max_entries`] records; a
/// description longer than [`Limits::max_text_bytes`] is cut. A record that does not parse is
/// an error naming it (`vulnerabilities[3] (CVE-…): …`). A CVE listed twice keeps its newest
/// `lastModified`.
pub fn import_nvd(path: &Path, limits: &Limits) -> Result<EnrichmentImport, Error> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("nvd.json")
        .to_owned();
    let feed = format!("NVD {file_name}");
    let file = open_regular(path)?;
    let meter = Meter::new(
        limits.max_nvd_bytes.min(limits.max_total_bytes),
        limits.max_record_bytes,
    );
    let reader = MeteredReader {
        inner: std::io::BufReader::with_capacity(1 << 16, file),
        meter: &meter,
    };
    let mut out: Vec<Enrichment> = Vec::new();
    let mut warnings = Vec::new();
    let failure: RefCell<Option<Error>> = RefCell::new(None);
    let mut seen_vulnerabilities = false;
    {
        let mut on_record = |i: usize, raw: Box<RawValue>| -> Result<(), Error> {
            if i >= limits.max_entries {
                return Err(Error::Feed {
                    feed: feed.clone(),
                    message: format!("more than the limit of {} records", limits.max_entries),
                });
            }
            let (e, ws) = parse_item(&raw, i, &feed, limits)?;
            warnings.extend(ws);
            out.push(e);
            Ok(())
        };
        let mut de = serde_json::Deserializer::from_reader(reader);
        let page = Page {
            meter: &meter,
            on_record: &mut on_record,
            failure: &failure,
            seen_vulnerabilities: &mut seen_vulnerabilities,
        };
        let result = de.deserialize_map(page).and_then(|()| de.end());
        if let Some(e) = failure.borrow_mut().take() {
            return Err(e);
        }
        if let Err(e) = result {
            let record = format!("vulnerabilities[{}]", out.len());
            return Err(match meter.over() {
                Some(Over::Total(max)) => Error::Feed {
                    feed,
                    message: format!("larger than the {max}-byte limit for an NVD file"),
                },
                Some(Over::Record(max)) if seen_vulnerabilities => Error::Record {
                    feed,
                    record,
                    message: format!("larger than the {max}-byte record limit"),
                },
                _ if e.is_io() => Error::io("reading", path, std::io::Error::other(e)),
                _ => Error::Feed {
                    feed,
                    message: format!("not an NVD CVE API 2.0 response: {e}"),
                },
            });
        }
    }
    if !seen_vulnerabilities {
        return Err(Error::Feed {
            feed,
            message: "not an NVD CVE API 2.0 response: missing field `vulnerabilities`".into(),
        });
    }
    let records = out.len() as u64;
    out.sort_by(|a, b| {
        a.cve
            .cmp(&b.cve)
            .then_with(|| b.last_modified.cmp(&a.last_modified))
    });
    out.dedup_by(|later, first| later.cve == first.cve);
    let snapshot = out.iter().filter_map(|e| e.last_modified.clone()).max();
    Ok(EnrichmentImport {
        feed: FeedInfo {
            name: "nvd".into(),
            source: path.display().to_string(),
            records,
            snapshot,
        },
        enrichment: out,
        warnings,
    })
}

/// One `vulnerabilities[i]` item into the model, with its warnings.
fn parse_item(
    raw: &RawValue,
    i: usize,
    feed: &str,
    limits: &Limits,
) -> Result<(Enrichment, Vec<String>), Error> {
    let item: Result<RawItem<'_>, _> = serde_json::from_str(raw.get());
    let id = item
        .as_ref()
        .ok()
        .and_then(|it| serde_json::from_str::<RawId>(it.cve.get()).ok())
        .and_then(|r| r.id)
        .map_or_else(
            || "?".to_owned(),
            |v| cap_text(v.as_str().map_or_else(|| v.to_string(), str::to_owned), 100),
        );
    let record = format!("vulnerabilities[{i}] ({id})");
    let err = |message: String| Error::Record {
        feed: feed.to_owned(),
        record: record.clone(),
        message,
    };
    let item = item.map_err(|e| err(e.to_string()))?;
    let raw: RawCve = serde_json::from_str(item.cve.get()).map_err(|e| err(e.to_string()))?;
    let NvdRecord {
        enrichment: mut e,
        warnings: ws,
    } = NvdRecord::try_from(raw).map_err(err)?;
    e.description = e.description.map(|d| cap_text(d, limits.max_text_bytes));
    let ws = ws
        .into_iter()
        .map(|w| format!("importing {feed}: {record}: {w}"))
        .collect();
    Ok((e, ws))
}

/// The page's top level: `vulnerabilities` is streamed, every other key skipped.
struct Page<'a, 'f> {
    meter: &'a Meter,
    on_record: &'a mut dyn FnMut(usize, Box<RawValue>) -> Result<(), Error>,
    failure: &'f RefCell<Option<Error>>,
    seen_vulnerabilities: &'a mut bool,
}

impl<'de> Visitor<'de> for Page<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an NVD CVE API 2.0 response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Page {
            meter,
            on_record,
            failure,
            seen_vulnerabilities,
        } = self;
        while let Some(key) = map.next_key::<String>()? {
            if key == "vulnerabilities" {
                if *seen_vulnerabilities {
                    return Err(de::Error::custom("`vulnerabilities` given twice"));
                }
                *seen_vulnerabilities = true;
                map.next_value_seed(Records {
                    meter,
                    on_record: &mut *on_record,
                    failure,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            meter.start_record();
        }
        Ok(())
    }
}

/// `vulnerabilities`: each item read as raw text under the record cap, then handed on.
struct Records<'a, 'f> {
    meter: &'a Meter,
    on_record: &'a mut dyn FnMut(usize, Box<RawValue>) -> Result<(), Error>,
    failure: &'f RefCell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of `{\"cve\": …}` records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            self.meter.start_record();
            let Some(raw) = seq.next_element::<Box<RawValue>>()? else {
                return Ok(());
            };
            if let Err(e) = (self.on_record)(i, raw) {
                *self.failure.borrow_mut() = Some(e);
                return Err(de::Error::custom("stopped"));
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(dir: &Path, description: &str, records: usize) -> std::path::PathBuf {
        let item = format!(
            r#"{{"cve":{{"id":"CVE-2099-1","descriptions":[{{"lang":"en","value":"{description}"}}]}}}}"#
        );
        let items = vec![item; records].join(",");
        let p = dir.join("page.json");
        std::fs::write(
            &p,
            format!(r#"{{"format":"NVD_CVE","vulnerabilities":[{items}]}}"#),
        )
        .unwrap();
        p
    }

    #[test]
    fn long_descriptions_are_cut_and_big_records_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_text_bytes: 100,
            max_record_bytes: 10_000,
            ..Limits::default()
        };
        let i = import_nvd(&page(dir.path(), &"x".repeat(5_000), 1), &limits).unwrap();
        let d = i.enrichment[0].description.as_deref().unwrap();
        assert!(
            d.len() <= 100 && d.ends_with("… (truncated from 5000 bytes)"),
            "{d}"
        );
        let e = import_nvd(&page(dir.path(), &"x".repeat(20_000), 1), &limits)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "importing NVD page.json: vulnerabilities[0]: larger than the 10000-byte record limit"
        );
        let small = Limits {
            max_nvd_bytes: 1_000,
            ..Limits::default()
        };
        let e = import_nvd(&page(dir.path(), "d", 100), &small)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("larger than the 1000-byte limit for an NVD file"),
            "{e}"
        );
        let few = Limits {
            max_entries: 3,
            ..Limits::default()
        };
        let e = import_nvd(&page(dir.path(), "d", 4), &few)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than the limit of 3 records"), "{e}");
        let e = import_nvd(&dir.path().join("missing.json"), &few)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.json"), "{e}");
        std::fs::write(dir.path().join("no.json"), r#"{"format":"NVD_CVE"}"#).unwrap();
        let e = import_nvd(&dir.path().join("no.json"), &few)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `vulnerabilities`"), "{e}");
    }

    #[test]
    fn nvd_times_are_utc() {
        let t = nvd_time("x", Some("2019-12-18T19:15:00.000".into()))
            .unwrap()
            .unwrap();
        assert_eq!(t.as_str(), "2019-12-18T19:15:00.000Z");
        let t = nvd_time("x", Some("2019-12-18T19:15:00Z".into()))
            .unwrap()
            .unwrap();
        assert_eq!(t.as_str(), "2019-12-18T19:15:00Z");
    }

    #[test]
    fn scores_are_computed_and_bad_vectors_keep_the_given_score() {
        let m = |v: &str, s: f64| RawMetric {
            source: "nvd@nist.gov".into(),
            kind: "Primary".into(),
            cvss_data: RawCvssData {
                version: "3.1".into(),
                vector_string: v.into(),
                base_score: s,
                base_severity: None,
            },
            base_severity: None,
        };
        let s =
            CvssScore::try_from(m("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)).unwrap();
        assert!(s.computed && s.primary);
        assert!((s.base_score - 9.8).abs() < 1e-9);
        let (s, w) = CvssScore::try_from(m("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 5.0))
            .unwrap_err();
        assert!((s.base_score - 9.8).abs() < 1e-9, "{w}");
        let (s, w) = CvssScore::try_from(m("CVSS:3.1/nonsense", 7.5)).unwrap_err();
        assert!(!s.computed && (s.base_score - 7.5).abs() < 1e-9);
        assert!(w.contains("does not parse"), "{w}");
    }
}
