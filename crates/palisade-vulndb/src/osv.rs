//! The OSV importer: one `.json` record, a directory of them, or a bulk `ECOSYSTEM/all.zip`.

use std::io::Read;
use std::path::Path;

use crate::advisory::RawOsvRecord;
use crate::import::{
    Import, Limits, PathKind, cap_text, dedup_sorted, list_files, newest_modified, open_regular,
    path_kind, range_warnings, read_capped,
};
use crate::{Advisory, Error, FeedInfo, Provenance};

/// Imports OSV records from `path`: a `.zip` bulk export, a directory (every `*.json` below
/// it), or a single `.json` file. The feed is named `osv/<ECOSYSTEM>` after the zip's folder
/// (`osv/PyPI/all.zip` → `osv/PyPI`), `osv/<dir>` for a directory, `osv/<file>` for a file.
///
/// Each record may be [`Limits::max_record_bytes`] long; a zip holding two entries of the same
/// name is refused (which one is meant cannot be told); `summary` and `details` longer than
/// [`Limits::max_text_bytes`] are cut. A FIFO, socket or device is refused by its type.
pub fn import_osv(path: &Path, limits: &Limits) -> Result<Import, Error> {
    let kind = path_kind(path)?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if kind == PathKind::Dir {
        import_dir(path, limits)
    } else if file_name.ends_with(".zip") {
        import_zip(path, limits)
    } else {
        let feed = format!("OSV {file_name}");
        let bytes = read_capped(path, limits.max_record_bytes)?;
        let mut advisory = parse_record(&bytes, &feed, file_name, limits.max_text_bytes)?;
        let mut warnings = Vec::new();
        range_warnings(&advisory, &feed, file_name, &mut warnings);
        let name = format!("osv/{}", file_name.trim_end_matches(".json"));
        advisory.provenance.push(Provenance {
            feed: name.clone(),
            record: file_name.to_owned(),
        });
        finish(name, path, 1, vec![advisory], warnings)
    }
}

/// Parses one OSV JSON record; errors read `importing {feed}: {record}: …`.
/// `summary` and `details` are cut to the default [`Limits::max_text_bytes`].
pub fn parse_osv_record(bytes: &[u8], feed: &str, record: &str) -> Result<Advisory, Error> {
    parse_record(bytes, feed, record, Limits::default().max_text_bytes)
}

fn parse_record(
    bytes: &[u8],
    feed: &str,
    record: &str,
    max_text: usize,
) -> Result<Advisory, Error> {
    let err = |message: String| Error::Record {
        feed: feed.to_owned(),
        record: record.to_owned(),
        message,
    };
    let raw: RawOsvRecord =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not an OSV record: {e}")))?;
    let mut a = Advisory::try_from(raw).map_err(err)?;
    a.summary = cap_text(std::mem::take(&mut a.summary), max_text);
    a.details = a.details.take().map(|d| cap_text(d, max_text));
    Ok(a)
}

fn finish(
    name: String,
    path: &Path,
    records: u64,
    advisories: Vec<Advisory>,
    mut warnings: Vec<String>,
) -> Result<Import, Error> {
    let advisories = security_only(&name, dedup_sorted(advisories), &mut warnings);
    Ok(Import {
        feed: FeedInfo {
            name,
            source: path.display().to_string(),
            records,
            snapshot: newest_modified(&advisories),
        },
        advisories,
        warnings,
    })
}

/// Keeps out of matching the records of an RPM distro feed that are not security advisories
/// (AlmaLinux `ALBA-*` bug fix and `ALEA-*` enhancement records; the rule per distro is in
/// [`crate::rpm_distro`]), and says so in one warning per kind, with a count and the first id;
/// the security advisories kept get their distro's CVE aliases and rating
/// ([`crate::rpm_distro::distro_facts`]).
fn security_only(
    feed: &str,
    advisories: Vec<Advisory>,
    warnings: &mut Vec<String>,
) -> Vec<Advisory> {
    let mut left_out: std::collections::BTreeMap<String, (usize, String)> =
        std::collections::BTreeMap::new();
    let kept = advisories
        .into_iter()
        .filter(|a| {
            let ecosystems: Vec<&str> = a.affected.iter().map(|e| e.ecosystem.as_str()).collect();
            if ecosystems.is_empty() {
                return true;
            }
            match crate::rpm_distro::non_security_kind(&a.id, &ecosystems) {
                None => true,
                Some(kind) => {
                    let e = left_out.entry(kind).or_insert_with(|| (0, a.id.clone()));
                    e.0 += 1;
                    false
                }
            }
        })
        .map(|mut a| {
            crate::rpm_distro::distro_facts(&mut a);
            a
        })
        .collect();
    for (kind, (count, first)) in left_out {
        warnings.push(format!(
            "{feed}: {count} {kind} records are not security advisories: kept out of matching (first: {first})"
        ));
    }
    kept
}

fn parent_name(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned()
}

fn import_dir(dir: &Path, limits: &Limits) -> Result<Import, Error> {
    let dir_name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("osv")
        .to_owned();
    let name = format!("osv/{dir_name}");
    let files = list_files(dir, &[".json"], limits)?;
    let mut total = 0u64;
    let mut advisories = Vec::with_capacity(files.len());
    let mut warnings = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(dir).unwrap_or(file).display().to_string();
        let bytes = read_capped(file, limits.max_record_bytes)?;
        total += bytes.len() as u64;
        if total > limits.max_total_bytes {
            return Err(Error::Feed {
                feed: format!("OSV {dir_name}/"),
                message: format!("more than {} bytes of records", limits.max_total_bytes),
            });
        }
        let feed = format!("OSV {dir_name}/");
        let mut a = parse_record(&bytes, &feed, &rel, limits.max_text_bytes)?;
        range_warnings(&a, &feed, &rel, &mut warnings);
        a.provenance.push(Provenance {
            feed: name.clone(),
            record: rel,
        });
        advisories.push(a);
    }
    finish(name, dir, files.len() as u64, advisories, warnings)
}

/// The first entry name the central directory of the zip at `path` lists twice.
fn duplicate_name(path: &Path, limits: &Limits) -> Option<String> {
    let file = std::io::BufReader::new(open_regular(path).ok()?);
    let mut zip =
        zip::unstable::read::ZipIterable::try_new(file, zip::read::Config::default()).ok()?;
    let mut names = std::collections::HashSet::new();
    for entry in zip.files().ok()?.take(limits.max_entries.saturating_add(1)) {
        let entry = entry.ok()?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if !names.insert(name.clone()) {
            return Some(cap_text(name, 1024));
        }
    }
    None
}

fn import_zip(path: &Path, limits: &Limits) -> Result<Import, Error> {
    let ecosystem = parent_name(path);
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("all.zip");
    let feed = format!("OSV {ecosystem}/{file_name}");
    let name = format!("osv/{ecosystem}");
    let feed_err = |message: String| Error::Feed {
        feed: feed.clone(),
        message,
    };
    let file = open_regular(path)?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| feed_err(format!("not a readable zip archive: {e}")))?;
    if archive.has_duplicate_names() {
        let name = duplicate_name(path, limits).unwrap_or_else(|| "?".into());
        return Err(Error::Record {
            feed,
            record: name,
            message:
                "the zip holds more than one entry of this name; which one is meant cannot be told"
                    .into(),
        });
    }
    if archive.len() > limits.max_entries {
        return Err(feed_err(format!(
            "{} entries, more than the limit of {}",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut total = 0u64;
    let mut records = 0u64;
    let mut advisories = Vec::with_capacity(archive.len());
    let mut warnings = Vec::new();
    let mut buf = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| feed_err(format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry
            .name()
            .map_err(|e| feed_err(format!("entry {i}: unreadable name: {e}")))?
            .into_owned();
        if !entry_name.ends_with(".json") {
            continue;
        }
        let claimed = entry.size();
        if claimed > limits.max_record_bytes {
            return Err(Error::Record {
                feed,
                record: entry_name,
                message: format!(
                    "entry claims {claimed} bytes, more than the {}-byte record limit",
                    limits.max_record_bytes
                ),
            });
        }
        buf.clear();
        (&mut entry)
            .take(limits.max_record_bytes + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::Record {
                feed: feed.clone(),
                record: entry_name.clone(),
                message: format!("reading the entry: {e}"),
            })?;
        if buf.len() as u64 > limits.max_record_bytes {
            return Err(Error::Record {
                feed,
                record: entry_name,
                message: format!(
                    "entry is larger than the {}-byte record limit",
                    limits.max_record_bytes
                ),
            });
        }
        total += buf.len() as u64;
        if total > limits.max_total_bytes {
            return Err(feed_err(format!(
                "more than {} bytes uncompressed",
                limits.max_total_bytes
            )));
        }
        let mut a = parse_record(&buf, &feed, &entry_name, limits.max_text_bytes)?;
        range_warnings(&a, &feed, &entry_name, &mut warnings);
        a.provenance.push(Provenance {
            feed: name.clone(),
            record: entry_name,
        });
        advisories.push(a);
        records += 1;
    }
    finish(name, path, records, advisories, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const RECORD: &[u8] = br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","summary":"SUMMARY","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":["1.0"]}]}"#;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if &bytes[i..i + from.len()] == from {
                bytes[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
    }

    #[test]
    fn a_zip_with_a_repeated_entry_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let eco = dir.path().join("PyPI");
        std::fs::create_dir(&eco).unwrap();
        let path = eco.join("all.zip");
        let mut bytes = zip_of(&[("X-1.json", RECORD), ("Y-1.json", RECORD)]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            import_osv(&path, &Limits::default()).unwrap().feed.records,
            2
        );
        replace_all(&mut bytes, b"Y-1.json", b"X-1.json");
        std::fs::write(&path, &bytes).unwrap();
        let e = import_osv(&path, &Limits::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "importing OSV PyPI/all.zip: X-1.json: the zip holds more than one entry of this name; which one is meant cannot be told"
        );
    }

    #[test]
    fn long_summaries_are_cut() {
        let long = "s".repeat(500);
        let record = String::from_utf8(RECORD.to_vec())
            .unwrap()
            .replace("SUMMARY", &long);
        let a = parse_record(record.as_bytes(), "OSV t", "X-1.json", 100).unwrap();
        assert!(a.summary.len() <= 100 && a.summary.ends_with("(truncated from 500 bytes)"));
        let a = parse_osv_record(RECORD, "OSV t", "X-1.json").unwrap();
        assert_eq!(a.summary, "SUMMARY");
    }
}
