//! The FIRST EPSS (Exploit Prediction Scoring System) importer: the daily CSV that FIRST
//! publishes as `epss_scores-YYYY-MM-DD.csv.gz` (also `epss_scores-current.csv.gz`), plain or
//! gzip-compressed. Its first line is a comment with the model and the score date
//! (`#model_version:v2025.03.14,score_date:2025-08-21T12:55:00Z`), then the header
//! `cve,epss,percentile` and one row per CVE with two probabilities in `[0, 1]`.
//! Stored in the database's `epss` table and returned with [`crate::Enrichment::epss`].

use std::io::{BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::import::{Limits, open_regular};
use crate::{Error, FeedInfo, Timestamp};

/// One CVE's EPSS score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EpssScore {
    /// `CVE-2024-3094`.
    pub cve: String,
    /// The probability of exploitation activity in the next 30 days, `0.0`–`1.0`.
    pub score: f64,
    /// The share of all scored CVEs with a lower or equal score, `0.0`–`1.0`.
    pub percentile: f64,
}

/// One EPSS file, for [`crate::DatabaseBuilder::add_epss`].
#[derive(Clone, Debug)]
pub struct EpssImport {
    /// The feed (`epss`); its snapshot is the file's `score_date`.
    pub feed: FeedInfo,
    /// `model_version` from the comment line (`v2025.03.14`), empty when absent.
    pub model_version: String,
    /// One score per CVE, sorted by CVE id.
    pub scores: Vec<EpssScore>,
    /// Problems kept going past (a CVE listed twice).
    pub warnings: Vec<String>,
}

/// Imports the EPSS CSV at `path` (plain, or gzip when it starts with the gzip magic),
/// streaming it line by line: at most [`Limits::max_total_bytes`] uncompressed bytes,
/// [`Limits::max_line_bytes`] per line and [`Limits::max_entries`] rows. A malformed or
/// overlong row is an error naming its line.
pub fn import_epss(path: &Path, limits: &Limits) -> Result<EpssImport, Error> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("epss.csv")
        .to_owned();
    let feed = format!("EPSS {file_name}");
    let mut lines = Lines::open(path, limits)?;
    let err = |line: usize, message: String| Error::Record {
        feed: feed.clone(),
        record: format!("line {line}"),
        message,
    };
    let mut model_version = String::new();
    let mut snapshot = None;
    let mut header_seen = false;
    let mut scores = Vec::new();
    while let Some((line_no, raw)) = lines.next_line().map_err(|e| match e {
        LineError::Io(e) => Error::io("reading", path, e),
        LineError::Line(n, message) => err(n, message),
    })? {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            for field in comment.split(',') {
                match field.split_once(':') {
                    Some(("model_version", v)) => model_version = v.trim().to_owned(),
                    Some(("score_date", v)) => {
                        snapshot = Some(score_date(v.trim()).map_err(|e| err(line_no, e))?)
                    }
                    _ => {}
                }
            }
            continue;
        }
        if !header_seen {
            let columns: Vec<&str> = line.split(',').map(str::trim).collect();
            if columns != ["cve", "epss", "percentile"] {
                return Err(Error::Feed {
                    feed,
                    message: format!(
                        "not an EPSS file: expected the header `cve,epss,percentile`, found {line:?}"
                    ),
                });
            }
            header_seen = true;
            continue;
        }
        if scores.len() >= limits.max_entries {
            return Err(Error::Feed {
                feed,
                message: format!("more than the limit of {} rows", limits.max_entries),
            });
        }
        scores.push(row(line).map_err(|e| err(line_no, e))?);
    }
    if !header_seen {
        return Err(Error::Feed {
            feed,
            message: "not an EPSS file: no `cve,epss,percentile` header".into(),
        });
    }
    let records = scores.len() as u64;
    scores.sort_by(|a, b| a.cve.cmp(&b.cve));
    let before = scores.len();
    scores.dedup_by(|a, b| a.cve == b.cve);
    let mut warnings = Vec::new();
    if scores.len() != before {
        warnings.push(format!(
            "importing {feed}: {} CVEs listed more than once; the first kept",
            before - scores.len()
        ));
    }
    Ok(EpssImport {
        feed: FeedInfo {
            name: "epss".into(),
            source: path.display().to_string(),
            records,
            snapshot,
        },
        model_version,
        scores,
        warnings,
    })
}

fn row(line: &str) -> Result<EpssScore, String> {
    let mut fields = line.split(',').map(str::trim);
    let (Some(cve), Some(score), Some(percentile), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("expected 3 fields (cve,epss,percentile): {line:?}"));
    };
    if !is_cve(cve) {
        return Err(format!("{cve:?} is not a CVE id"));
    }
    let probability = |what: &str, v: &str| -> Result<f64, String> {
        match v.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
            _ => Err(format!("{cve}: {what} {v:?} is not a number from 0 to 1")),
        }
    };
    Ok(EpssScore {
        cve: cve.to_owned(),
        score: probability("epss", score)?,
        percentile: probability("percentile", percentile)?,
    })
}

fn is_cve(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && number.len() >= 4
        && number.len() <= 19
        && year
            .bytes()
            .chain(number.bytes())
            .all(|b| b.is_ascii_digit())
}

/// `2025-08-21T12:55:00Z`, `2023-03-08T00:00:00+0000` (older files), or a bare date.
fn score_date(v: &str) -> Result<Timestamp, String> {
    let normalised = match v.strip_suffix("+0000") {
        Some(head) => format!("{head}Z"),
        None if v.len() == 10 => format!("{v}T00:00:00Z"),
        None => v.to_owned(),
    };
    Timestamp::parse(&normalised).map_err(|e| format!("score_date {v:?}: {e}"))
}

/// Why a line could not be read.
enum LineError {
    Io(std::io::Error),
    Line(usize, String),
}

/// The lines of an EPSS file, gunzipped when it starts with the gzip magic, each at most
/// [`Limits::max_line_bytes`] and all at most [`Limits::max_total_bytes`] (uncompressed).
struct Lines {
    reader: Box<dyn BufRead>,
    buf: Vec<u8>,
    line_no: usize,
    read: u64,
    max_line: u64,
    max_total: u64,
}

impl Lines {
    fn open(path: &Path, limits: &Limits) -> Result<Lines, Error> {
        let mut file = open_regular(path)?;
        let mut magic = [0u8; 2];
        let mut n = 0;
        while n < magic.len() {
            let k = file
                .read(&mut magic[n..])
                .map_err(|e| Error::io("reading", path, e))?;
            if k == 0 {
                break;
            }
            n += k;
        }
        let head = std::io::Cursor::new(magic[..n].to_vec());
        let reader: Box<dyn BufRead> = if magic[..n] == [0x1f, 0x8b] {
            Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                head.chain(file),
            )))
        } else {
            Box::new(std::io::BufReader::new(head.chain(file)))
        };
        Ok(Lines {
            reader,
            buf: Vec::new(),
            line_no: 0,
            read: 0,
            max_line: limits.max_line_bytes,
            max_total: limits.max_total_bytes,
        })
    }

    /// The next line (its number and its text without the line end), `None` at the end.
    fn next_line(&mut self) -> Result<Option<(usize, &str)>, LineError> {
        self.buf.clear();
        self.line_no += 1;
        let n = (&mut self.reader)
            .take(self.max_line + 2)
            .read_until(b'\n', &mut self.buf)
            .map_err(LineError::Io)?;
        if n == 0 {
            return Ok(None);
        }
        self.read += n as u64;
        if self.read > self.max_total {
            return Err(LineError::Line(
                self.line_no,
                format!(
                    "the file holds more than the {}-byte limit (uncompressed)",
                    self.max_total
                ),
            ));
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() as u64 > self.max_line {
            return Err(LineError::Line(
                self.line_no,
                format!(
                    "longer than the {}-byte line limit (an EPSS row is `cve,epss,percentile`)",
                    self.max_line
                ),
            ));
        }
        let line = std::str::from_utf8(&self.buf).map_err(|_| {
            LineError::Line(
                self.line_no,
                "not UTF-8 text (an EPSS CSV, plain or gzip)".into(),
            )
        })?;
        Ok(Some((self.line_no, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    const SAMPLE: &str = "#model_version:v2025.03.14,score_date:2025-08-21T12:55:00Z\n\
cve,epss,percentile\n\
CVE-2024-3094,0.84,0.99\n\
CVE-1999-0001,0.0123,0.45\n";

    #[test]
    fn plain_and_gzip_files_give_the_same_scores() {
        let dir = tempfile::tempdir().unwrap();
        let plain = import_epss(
            &write(dir.path(), "e.csv", SAMPLE.as_bytes()),
            &Limits::default(),
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(SAMPLE.as_bytes()).unwrap();
        let zipped = import_epss(
            &write(dir.path(), "e.csv.gz", &gz.finish().unwrap()),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(plain.scores, zipped.scores);
        assert_eq!(plain.model_version, "v2025.03.14");
        assert_eq!(
            plain.feed.snapshot.as_ref().map(Timestamp::as_str),
            Some("2025-08-21T12:55:00Z")
        );
        assert_eq!(plain.scores[0].cve, "CVE-1999-0001");
        assert_eq!(plain.scores[1].score, 0.84);
        assert_eq!(plain.feed.records, 2);
    }

    #[test]
    fn older_date_format_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let text = "#model_version:v2023.03.01,score_date:2023-03-08T00:00:00+0000\r\n\
cve,epss,percentile\r\nCVE-2020-0001,0.5,0.5\r\nCVE-2020-0001,0.6,0.6\r\n";
        let i = import_epss(
            &write(dir.path(), "e.csv", text.as_bytes()),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(i.scores.len(), 1);
        assert_eq!(i.warnings.len(), 1);
        assert_eq!(
            i.feed.snapshot.as_ref().map(Timestamp::as_str),
            Some("2023-03-08T00:00:00Z")
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        for (body, needle) in [
            ("cve,epss,percentile\nCVE-2020-0001,1.5,0.5\n", "line 2"),
            (
                "cve,epss,percentile\nCVE-2020-0001,0.5\n",
                "expected 3 fields",
            ),
            ("cve,epss,percentile\nGHSA-xxxx,0.5,0.5\n", "not a CVE id"),
            ("id,score\nCVE-2020-0001,0.5\n", "not an EPSS file"),
            ("", "no `cve,epss,percentile` header"),
            ("#score_date:yesterday\ncve,epss,percentile\n", "score_date"),
        ] {
            let e = import_epss(
                &write(dir.path(), "bad.csv", body.as_bytes()),
                &Limits::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(needle), "{body:?}: {e}");
            assert!(e.contains("bad.csv"), "{e}");
        }
    }

    #[test]
    fn an_overlong_line_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "cve,epss,percentile\nCVE-2020-0001,0.{},0.5\n",
            "1".repeat(200)
        );
        let limits = Limits {
            max_line_bytes: 100,
            ..Limits::default()
        };
        for (name, bytes) in [
            ("long.csv", body.clone().into_bytes()),
            ("long.csv.gz", {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(body.as_bytes()).unwrap();
                gz.finish().unwrap()
            }),
        ] {
            let e = import_epss(&write(dir.path(), name, &bytes), &limits)
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!(
                    "importing EPSS {name}: line 2: longer than the 100-byte line limit (an EPSS row is `cve,epss,percentile`)"
                )
            );
        }
        let e = import_epss(
            &write(dir.path(), "bin.csv", b"cve,epss,percentile\n\xff\n"),
            &limits,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2: not UTF-8"), "{e}");
    }

    #[test]
    fn limits_hold() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "e.csv", SAMPLE.as_bytes());
        let small = Limits {
            max_entries: 1,
            ..Limits::default()
        };
        assert!(import_epss(&p, &small).is_err());
        let tiny = Limits {
            max_total_bytes: 10,
            ..Limits::default()
        };
        assert!(import_epss(&p, &tiny).is_err());
    }
}
