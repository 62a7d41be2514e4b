//! Telling a feed input's kind from its name and its first bytes, never by reading it whole:
//! a `.json` file is sniffed within [`Limits::max_sniff_bytes`] by a streaming look at its
//! top-level keys (no value is kept), so that a 1 GB record costs no more than a small one.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::Error;
use crate::import::{Limits, PathKind, open_regular, path_kind};

/// What a feed input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedKind {
    /// An OSV `.zip` export, a directory of OSV `.json` records, or one record.
    Osv,
    /// An Alpine secdb directory (`v3.N/*.yaml`), or one secdb `.yaml`/`.json` file.
    Alpine,
    /// The Debian security tracker's JSON.
    Debian,
    /// An NVD CVE API 2.0 page (or a feed file of that shape).
    Nvd,
    /// The CISA KEV catalog.
    Kev,
    /// A FIRST EPSS `.csv` or `.csv.gz`.
    Epss,
}

/// Detects the kind of the feed at `path`: a directory is an Alpine secdb tree when it holds
/// `v3.N/` folders of `.yaml` files, else OSV; a file by its name (`.zip`, `.csv[.gz]`,
/// `.yaml`), and a `.json` file by the top-level keys within its first
/// [`Limits::max_sniff_bytes`]. A FIFO, socket or device (or a symlink to one) is refused by
/// its type without being read.
pub fn detect_feed_kind(path: &Path, limits: &Limits) -> Result<FeedKind, Error> {
    if path_kind(path)? == PathKind::Dir {
        return Ok(if is_alpine_dir(path) {
            FeedKind::Alpine
        } else {
            FeedKind::Osv
        });
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let unknown = |message: String| Error::UnknownKind {
        path: path.to_path_buf(),
        message,
    };
    if name.ends_with(".zip") {
        return Ok(FeedKind::Osv);
    }
    if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        return Ok(FeedKind::Epss);
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return Ok(FeedKind::Alpine);
    }
    if !name.ends_with(".json") {
        return Err(unknown(
            "unknown feed kind (expected a .zip, .json, .yaml or EPSS .csv[.gz] file, or a directory)"
                .into(),
        ));
    }
    let file = open_regular(path)?;
    let mut head = Vec::new();
    let mut limited = file.take(limits.max_sniff_bytes + 1);
    limited
        .read_to_end(&mut head)
        .map_err(|e| Error::io("reading", path, e))?;
    let truncated = head.len() as u64 > limits.max_sniff_bytes;
    head.truncate(usize::try_from(limits.max_sniff_bytes).unwrap_or(usize::MAX));
    sniff_json(&head, truncated).map_err(|m| {
        unknown(if truncated {
            format!("{m} (looked at the first {} bytes)", head.len())
        } else {
            m
        })
    })
}

/// A directory shaped like alpine-secdb: `v3.N/` folders holding `.yaml` files.
fn is_alpine_dir(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with('v')
            && name[1..].starts_with(|c: char| c.is_ascii_digit())
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::read_dir(e.path()).is_ok_and(|files| {
                files.take(10_000).any(|f| {
                    f.ok().is_some_and(|f| {
                        let n = f.file_name();
                        let n = n.to_string_lossy();
                        n.ends_with(".yaml") || n.ends_with(".yml")
                    })
                })
            })
    })
}

/// What the top level of a JSON document showed, as far as it was read.
#[derive(Debug, Default)]
struct Seen {
    decided: Option<FeedKind>,
    id: bool,
    affected: bool,
    distroversion: bool,
    packages: bool,
    /// Top-level values read (or begun), and whether every one of them is an object.
    values: usize,
    all_objects: bool,
}

/// Why the parse stopped early: a decision was made.
const DECIDED: &str = "palisade: kind decided";

/// Sniffs a JSON document (or its first bytes, when `truncated`) by its top-level keys, with
/// the same rules (in order) as a full parse would give: `catalogVersion` → KEV; `format`
/// `NVD_CVE`, or `vulnerabilities` whose first item has a `cve` key → NVD; `id` and
/// `affected` → OSV; `distroversion` and `packages` → Alpine; an object whose values are all
/// objects → Debian.
pub(crate) fn sniff_json(bytes: &[u8], truncated: bool) -> Result<FeedKind, String> {
    let mut seen = Seen {
        all_objects: true,
        ..Seen::default()
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(if first.is_none() {
            "unknown feed kind (empty)".into()
        } else {
            "unknown feed kind (not a JSON object)".into()
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = de.deserialize_map(Top(&mut seen));
    if let Some(kind) = seen.decided {
        return Ok(kind);
    }
    match result.and_then(|()| de.end()) {
        Ok(()) => {}
        // The prefix ended inside the document: decide on what was seen.
        Err(e) if truncated && e.is_eof() => {}
        Err(e) => return Err(format!("not valid JSON: {e}")),
    }
    if seen.id && seen.affected {
        Ok(FeedKind::Osv)
    } else if seen.distroversion && seen.packages {
        Ok(FeedKind::Alpine)
    } else if seen.values > 0 && seen.all_objects {
        Ok(FeedKind::Debian)
    } else {
        Err("unknown feed kind (not KEV, NVD, OSV, Alpine secdb or Debian tracker JSON)".into())
    }
}

struct Top<'a>(&'a mut Seen);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let seen = self.0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "catalogVersion" => {
                    seen.decided = Some(FeedKind::Kev);
                    return Err(de::Error::custom(DECIDED));
                }
                "format" => map.next_value_seed(Probe(Role::Format, seen))?,
                "vulnerabilities" => {
                    map.next_value_seed(Probe(Role::Vulnerabilities, seen))?;
                }
                k => {
                    match k {
                        "id" => seen.id = true,
                        "affected" => seen.affected = true,
                        "distroversion" => seen.distroversion = true,
                        "packages" => seen.packages = true,
                        _ => {}
                    }
                    map.next_value_seed(Probe(Role::Other, seen))?;
                }
            }
            if seen.decided.is_some() {
                return Err(de::Error::custom(DECIDED));
            }
            if seen.id && seen.affected {
                seen.decided = Some(FeedKind::Osv);
                return Err(de::Error::custom(DECIDED));
            }
            if seen.distroversion && seen.packages {
                seen.decided = Some(FeedKind::Alpine);
                return Err(de::Error::custom(DECIDED));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Format,
    Vulnerabilities,
    Other,
}

/// Reads one top-level value, noting its type before its contents are skipped (so a value
/// cut off by the prefix still counts), and the facts its role asks for.
struct Probe<'a>(Role, &'a mut Seen);

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Probe<'_> {
    fn scalar(self) {
        self.1.values += 1;
        self.1.all_objects = false;
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.1.values += 1;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let role = self.0;
        let seen = self.1;
        seen.values += 1;
        seen.all_objects = false;
        if role == Role::Vulnerabilities {
            match seq.next_element_seed(FirstItem(seen))? {
                // `[]`: an NVD page with no results.
                None => {
                    seen.decided = Some(FeedKind::Nvd);
                    return Ok(());
                }
                Some(()) if seen.decided.is_some() => return Ok(()),
                Some(()) => {}
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.0 == Role::Format && v == "NVD_CVE" {
            self.1.decided = Some(FeedKind::Nvd);
        }
        self.scalar();
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar();
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar();
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar();
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar();
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar();
        Ok(())
    }
}

/// The first item of `vulnerabilities`: NVD's when it is an object with a `cve` key.
struct FirstItem<'a>(&'a mut Seen);

impl<'de> DeserializeSeed<'de> for FirstItem<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstItem<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "cve" {
                self.0.decided = Some(FeedKind::Nvd);
                return Err(de::Error::custom(DECIDED));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_whole_documents() {
        for (doc, kind) in [
            (
                r#"{"title":"x","catalogVersion":"1","vulnerabilities":[]}"#,
                FeedKind::Kev,
            ),
            (
                r#"{"vulnerabilities":[{"cveID":"CVE-1"}],"catalogVersion":"1"}"#,
                FeedKind::Kev,
            ),
            (
                r#"{"resultsPerPage":0,"format":"NVD_CVE","vulnerabilities":[]}"#,
                FeedKind::Nvd,
            ),
            (
                r#"{"vulnerabilities":[{"cve":{"id":"CVE-1"}}]}"#,
                FeedKind::Nvd,
            ),
            (r#"{"vulnerabilities":[]}"#, FeedKind::Nvd),
            (
                r#"{"schema_version":"1.6","id":"X-1","affected":[]}"#,
                FeedKind::Osv,
            ),
            (r#"{"affected":[],"details":"d","id":"X-1"}"#, FeedKind::Osv),
            (
                r#"{"apkurl":"u","distroversion":"v3.18","packages":[]}"#,
                FeedKind::Alpine,
            ),
            (r#"{"zlib":{"CVE-1":{}},"openssl":{}}"#, FeedKind::Debian),
        ] {
            assert_eq!(sniff_json(doc.as_bytes(), false), Ok(kind), "{doc}");
        }
        for (doc, needle) in [
            ("", "empty"),
            ("[1]", "not a JSON object"),
            (r#"{"a":1}"#, "unknown feed kind"),
            (
                r#"{"vulnerabilities":[{"cveID":"CVE-1"}]}"#,
                "unknown feed kind",
            ),
            (r#"{"a":{}"#, "not valid JSON"),
            (r#"{"a":{}} x"#, "not valid JSON"),
        ] {
            let e = sniff_json(doc.as_bytes(), false).unwrap_err();
            assert!(e.contains(needle), "{doc}: {e}");
        }
    }

    #[test]
    fn a_prefix_is_enough() {
        // An OSV record whose `affected` array is cut off by the prefix.
        let osv = br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"na"#;
        assert_eq!(sniff_json(osv, true), Ok(FeedKind::Osv));
        // The tracker's first package cut off in its middle.
        let debian = br#"{"linux":{"CVE-2024-1":{"releases":{"bookworm":{"stat"#;
        assert_eq!(sniff_json(debian, true), Ok(FeedKind::Debian));
        // An NVD page with a first record cut off inside its description.
        let nvd = br#"{"vulnerabilities":[{"cve":{"id":"CVE-1","descriptions":[{"value":"aaaa"#;
        assert_eq!(sniff_json(nvd, true), Ok(FeedKind::Nvd));
        // The same cut-off text, complete: it is not valid JSON.
        assert!(
            sniff_json(debian, false)
                .unwrap_err()
                .contains("not valid JSON")
        );
        // A cut-off document with no marker is still unknown.
        let e = sniff_json(br#"{"x":[1,2,3"#, true).unwrap_err();
        assert!(e.contains("unknown feed kind"), "{e}");
    }
}
