//! The Alpine secdb importer (`v3.N/{main,community}.yaml`, or the same shape as `.json`).
//!
//! Each `secfixes` line (`"CVE-2019-14904"`, `"CVE-2018-16876 XSA-273"`,
//! `"CVE-2018-10103 (SMB - partially fixed…)"`) becomes one advisory per CVE, id
//! `ALPINE-CVE-…` as OSV names Alpine records, with an affected entry for the package in
//! ecosystem `Alpine:v3.N`: fixed in the version key, or not affected when the key is `"0"`.

use std::collections::BTreeMap;
use std::path::Path;

use palisade_version::osv::{AffectedVersions, Event, Range, RangeKind};
use serde::Deserialize;

use crate::advisory::new_advisory;
use crate::import::{
    Import, Limits, PathKind, cap_text, dedup_sorted, list_files, path_kind, read_capped,
};
use crate::{Advisory, Affected, DistroFacts, DistroStatus, Error, FeedInfo, Provenance};

/// A secdb file as written.
#[derive(Deserialize)]
struct RawSecdb {
    distroversion: String,
    reponame: String,
    #[serde(default)]
    packages: Option<Vec<RawPackageEntry>>,
}

#[derive(Deserialize)]
struct RawPackageEntry {
    pkg: RawPkg,
}

#[derive(Deserialize)]
struct RawPkg {
    name: String,
    #[serde(default)]
    secfixes: Option<BTreeMap<String, Option<Vec<String>>>>,
}

/// Imports the secdb files at `path`: one `.yaml`/`.json` file (feed `alpine-secdb/v3.N/repo`)
/// or a directory tree of them (feed `alpine-secdb`). Each file may be
/// [`Limits::max_secdb_bytes`] long (all of them [`Limits::max_total_bytes`]); notes longer
/// than [`Limits::max_text_bytes`] are cut. A FIFO, socket or device is refused by its type.
pub fn import_alpine_secdb(path: &Path, limits: &Limits) -> Result<Import, Error> {
    let (name, files, root) = if path_kind(path)? == PathKind::Dir {
        (
            "alpine-secdb".to_owned(),
            list_files(path, &[".yaml", ".yml", ".json"], limits)?,
            path.to_path_buf(),
        )
    } else {
        let root = path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        (String::new(), vec![path.to_path_buf()], root)
    };
    let mut advisories = Vec::new();
    let mut records = 0u64;
    let mut warnings = Vec::new();
    let mut feed_name = name;
    let mut total = 0u64;
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let bytes = read_capped(file, limits.max_secdb_bytes.min(limits.max_total_bytes))?;
        total += bytes.len() as u64;
        if total > limits.max_total_bytes {
            return Err(Error::Feed {
                feed: "Alpine secdb".into(),
                message: format!("more than {} bytes of files", limits.max_total_bytes),
            });
        }
        let parsed = parse_secdb_file(&bytes, &rel, &mut warnings, limits.max_text_bytes)?;
        if feed_name.is_empty() {
            feed_name = format!("alpine-secdb/{}/{}", parsed.release, parsed.repository);
        }
        records += parsed.records;
        advisories.extend(parsed.advisories);
    }
    let feed_name_for_prov = feed_name.clone();
    for a in &mut advisories {
        for p in &mut a.provenance {
            p.feed.clone_from(&feed_name_for_prov);
        }
    }
    Ok(Import {
        feed: FeedInfo {
            name: feed_name,
            source: path.display().to_string(),
            records,
            snapshot: None,
        },
        advisories: dedup_sorted(advisories),
        warnings,
    })
}

struct ParsedFile {
    release: String,
    repository: String,
    records: u64,
    advisories: Vec<Advisory>,
}

fn parse_secdb_file(
    bytes: &[u8],
    rel: &str,
    warnings: &mut Vec<String>,
    max_text: usize,
) -> Result<ParsedFile, Error> {
    let feed = format!("Alpine secdb {rel}");
    let raw: RawSecdb = if rel.ends_with(".json") {
        serde_json::from_slice(bytes).map_err(|e| Error::Feed {
            feed: feed.clone(),
            message: format!("not a secdb JSON file: {e}"),
        })?
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Feed {
            feed: feed.clone(),
            message: format!("not UTF-8: {e}"),
        })?;
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| Error::Feed {
            feed: feed.clone(),
            message: format!("not a secdb YAML file: {e}"),
        })?
    };
    let release = raw.distroversion;
    if release.is_empty() || release.contains(char::is_whitespace) {
        return Err(Error::Feed {
            feed,
            message: format!("distroversion {release:?} is not a release name"),
        });
    }
    let ecosystem = format!("Alpine:{release}");
    let mut advisories = Vec::new();
    let packages = raw.packages.unwrap_or_default();
    for (i, entry) in packages.iter().enumerate() {
        let pkg = &entry.pkg;
        let record = format!("packages[{i}] ({})", pkg.name);
        let provenance = Provenance {
            feed: String::new(),
            record: format!("{rel}: {record}"),
        };
        for (version, lines) in pkg.secfixes.iter().flatten() {
            let (status, versions) = if version == "0" {
                (DistroStatus::NotAffected, AffectedVersions::default())
            } else {
                (
                    DistroStatus::Fixed,
                    AffectedVersions {
                        ranges: vec![Range {
                            kind: RangeKind::Ecosystem,
                            repo: None,
                            events: vec![
                                Event::Introduced("0".into()),
                                Event::Fixed(version.clone()),
                            ],
                        }],
                        versions: Vec::new(),
                    },
                )
            };
            for line in lines.iter().flatten() {
                let ids = SecfixLine::parse(line);
                if ids.cves.is_empty() && ids.others.is_empty() {
                    warnings.push(format!(
                        "importing {feed}: {record}: secfixes {version:?}: no vulnerability id in {line:?}; skipped"
                    ));
                    continue;
                }
                let primaries: Vec<&String> = if ids.cves.is_empty() {
                    ids.others.iter().take(1).collect()
                } else {
                    ids.cves.iter().collect()
                };
                for primary in primaries {
                    let mut a = new_advisory(format!("ALPINE-{primary}"));
                    a.aliases = ids.cves.iter().chain(&ids.others).cloned().collect();
                    let facts = DistroFacts {
                        release: Some(release.clone()),
                        repository: Some(raw.reponame.clone()),
                        source_package: true,
                        status: status.clone(),
                        urgency: None,
                        nodsa: None,
                        note: ids.note.clone().map(|n| cap_text(n, max_text)),
                    };
                    let affected = Affected::new(
                        ecosystem.clone(),
                        pkg.name.clone(),
                        versions.clone(),
                        Some(facts),
                    )
                    .map_err(|e| Error::Record {
                        feed: feed.clone(),
                        record: record.clone(),
                        message: format!("secfixes {version:?}: {e}"),
                    })?;
                    if let Some(why) = affected.unevaluable.as_deref() {
                        warnings.push(format!(
                            "importing {feed}: {record}: secfixes {version:?}: {why}; kept, not evaluable"
                        ));
                    }
                    a.affected.push(affected);
                    a.provenance.push(provenance.clone());
                    advisories.push(a);
                }
            }
        }
    }
    Ok(ParsedFile {
        release,
        repository: raw.reponame,
        records: packages.len() as u64,
        advisories,
    })
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 16,
            max_aliases: 0,
            max_anchors: 0,
            max_documents: 1,
        },
    }
}

/// The ids and note of one `secfixes` line.
#[derive(Debug, Default, PartialEq, Eq)]
struct SecfixLine {
    cves: Vec<String>,
    others: Vec<String>,
    note: Option<String>,
}

impl SecfixLine {
    fn parse(line: &str) -> SecfixLine {
        let mut out = SecfixLine::default();
        let mut note = Vec::new();
        let (ids_part, paren) = match line.find('(') {
            Some(p) => (&line[..p], Some(line[p..].trim())),
            None => (line, None),
        };
        for token in ids_part.split_whitespace() {
            if let Some((cve, rest)) = cve_prefix(token) {
                if !out.cves.contains(&cve) {
                    out.cves.push(cve);
                }
                if !rest.is_empty() {
                    note.push(token.to_owned());
                }
            } else if is_other_id(token) {
                out.others.push(token.to_owned());
            } else {
                note.push(token.to_owned());
            }
        }
        note.extend(paren.map(str::to_owned));
        if !note.is_empty() {
            out.note = Some(note.join(" "));
        }
        out
    }
}

/// `CVE-2019-1234…` (or the misspelt `CVE_2019-1234`): the CVE id and what follows it.
fn cve_prefix(token: &str) -> Option<(String, &str)> {
    let rest = token
        .strip_prefix("CVE-")
        .or_else(|| token.strip_prefix("CVE_"))?;
    let b = rest.as_bytes();
    if b.len() < 9 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let digits = b[5..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits < 4 {
        return None;
    }
    let end = 5 + digits;
    Some((format!("CVE-{}", &rest[..end]), &rest[end..]))
}

/// Other tracker ids: `XSA-273`, `TALOS-2019-0844`, `ZBX-16532`, `wnpa-sec-2019-12`.
fn is_other_id(token: &str) -> bool {
    let mut parts = token.split('-');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !first.is_empty()
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && rest
            .last()
            .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secfix_lines() {
        let l =
            SecfixLine::parse("CVE-2018-10103 (SMB - partially fixed, but SMB printing disabled)");
        assert_eq!(l.cves, ["CVE-2018-10103"]);
        assert_eq!(
            l.note.as_deref(),
            Some("(SMB - partially fixed, but SMB printing disabled)")
        );
        let l = SecfixLine::parse("CVE-2019-5060 TALOS-2019-0844");
        assert_eq!(
            (l.cves.as_slice(), l.others.as_slice()),
            (
                &["CVE-2019-5060".to_owned()][..],
                &["TALOS-2019-0844".to_owned()][..]
            )
        );
        let l = SecfixLine::parse("CVE_2019-2426");
        assert_eq!(l.cves, ["CVE-2019-2426"]);
        let l = SecfixLine::parse("CVE-2017-17434-1");
        assert_eq!(l.cves, ["CVE-2017-17434"]);
        assert_eq!(l.note.as_deref(), Some("CVE-2017-17434-1"));
        let l = SecfixLine::parse("CVE-????-?????  XSA-215");
        assert!(l.cves.is_empty());
        assert_eq!(l.others, ["XSA-215"]);
        let l = SecfixLine::parse("wnpa-sec-2019-12");
        assert_eq!(l.others, ["wnpa-sec-2019-12"]);
    }

    #[test]
    fn yaml_file_into_the_model() {
        let yaml = "distroversion: v3.8\nreponame: main\npackages:\n  - pkg:\n      name: musl\n      secfixes:\n        1.1.19-r10:\n          - CVE-2018-1000001\n        \"0\":\n          - CVE-2017-1000001 XSA-1\n";
        let mut w = Vec::new();
        let f = parse_secdb_file(yaml.as_bytes(), "v3.8/main.yaml", &mut w, 1 << 16).unwrap();
        assert!(w.is_empty());
        assert_eq!(f.records, 1);
        let a = &f.advisories;
        assert_eq!(a.len(), 2);
        let fixed = a
            .iter()
            .find(|a| a.id == "ALPINE-CVE-2018-1000001")
            .unwrap();
        let aff = &fixed.affected[0];
        assert_eq!(
            (aff.ecosystem.as_str(), aff.name.as_str()),
            ("Alpine:v3.8", "musl")
        );
        let facts = aff.distro.as_ref().unwrap();
        assert_eq!(facts.status, DistroStatus::Fixed);
        assert_eq!(facts.release.as_deref(), Some("v3.8"));
        assert!(
            aff.versions
                .evaluate(palisade_version::Scheme::Apk, "1.1.19-r9")
                .unwrap()
                .is_affected()
        );
        assert!(
            !aff.versions
                .evaluate(palisade_version::Scheme::Apk, "1.1.19-r10")
                .unwrap()
                .is_affected()
        );
        let na = a
            .iter()
            .find(|a| a.id == "ALPINE-CVE-2017-1000001")
            .unwrap();
        assert_eq!(na.aliases, ["CVE-2017-1000001", "XSA-1"]);
        assert_eq!(
            na.affected[0].distro.as_ref().unwrap().status,
            DistroStatus::NotAffected
        );
        assert!(na.affected[0].versions.ranges.is_empty());
    }

    #[test]
    fn json_form_has_the_same_shape() {
        let json = r#"{"distroversion":"v3.8","reponame":"main","archs":["x86_64"],"packages":[{"pkg":{"name":"musl","secfixes":{"1.1.19-r10":["CVE-2018-1000001"]}}}]}"#;
        let f =
            parse_secdb_file(json.as_bytes(), "v3.8/main.json", &mut Vec::new(), 1 << 16).unwrap();
        assert_eq!(f.advisories[0].id, "ALPINE-CVE-2018-1000001");
    }

    #[test]
    fn bad_version_names_the_package() {
        let yaml = "distroversion: v3.8\nreponame: main\npackages:\n  - pkg:\n      name: musl\n      secfixes:\n        \"not a version\":\n          - CVE-2018-1000001\n";
        let mut w = Vec::new();
        let f = parse_secdb_file(yaml.as_bytes(), "v3.8/main.yaml", &mut w, 1 << 16).unwrap();
        assert!(!f.advisories[0].affected[0].is_evaluable());
        let e = &w[0];
        assert!(e.starts_with("importing Alpine secdb v3.8/main.yaml: packages[0] (musl): secfixes \"not a version\": ranges[0]: `fixed` event: invalid apk version"), "{e}");
    }

    #[test]
    fn yaml_bombs_and_deep_nesting_are_errors() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ndistroversion: v3.8\nreponame: main\n";
        let e = parse_secdb_file(bomb.as_bytes(), "v3.8/bomb.yaml", &mut Vec::new(), 1 << 16)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("importing Alpine secdb v3.8/bomb.yaml: not a secdb YAML file"),
            "{e}"
        );
        let deep = format!(
            "distroversion: v3.8\nreponame: main\npackages: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let e = parse_secdb_file(deep.as_bytes(), "v3.8/deep.yaml", &mut Vec::new(), 1 << 16)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("importing Alpine secdb v3.8/deep.yaml: not a secdb YAML file"),
            "{e}"
        );
        let deep_block: String = (0..500)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        let e = parse_secdb_file(
            deep_block.as_bytes(),
            "v3.8/deep2.yaml",
            &mut Vec::new(),
            1 << 16,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("v3.8/deep2.yaml"), "{e}");
    }
}
