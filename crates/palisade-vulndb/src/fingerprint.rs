//! What changed between two databases, for re-evaluating stored images: a fingerprint of
//! every record a match or a score reads, compared key by key. A package whose match record
//! is the same in both databases matches the same way in both; a CVE whose enrichment, KEV
//! entry and EPSS score are the same scores the same way.

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;
use sha2::{Digest as _, Sha256};

use crate::db::Database;
use crate::error::Error;

/// One database's fingerprints: package records by (ecosystem, normalised name) and CVE
/// facts by CVE id, each as the first 8 bytes of a SHA-256.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprints {
    /// (ecosystem, name) → the match record's hash.
    pub packages: BTreeMap<(String, String), u64>,
    /// CVE id → the hash of its enrichment, KEV entry and EPSS score together.
    pub cves: BTreeMap<String, u64>,
}

/// The keys whose records differ (added, changed or removed) between two databases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Packages whose advisories changed: exactly the lookups that can match differently.
    pub packages: Vec<(String, String)>,
    /// CVEs whose severity data, KEV listing or EPSS score changed.
    pub cves: Vec<String>,
}

impl Changes {
    /// Nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && self.cves.is_empty()
    }
}

fn hash(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn bytes<'a>(v: &'a ValueRef<'a>) -> std::borrow::Cow<'a, [u8]> {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => std::borrow::Cow::Borrowed(t),
        ValueRef::Integer(i) => std::borrow::Cow::Owned(i.to_le_bytes().to_vec()),
        ValueRef::Real(r) => std::borrow::Cow::Owned(r.to_le_bytes().to_vec()),
        ValueRef::Null => std::borrow::Cow::Borrowed(&[]),
    }
}

impl Database {
    /// Fingerprints every package record and every CVE's scoring facts.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn fingerprints(&self) -> Result<Fingerprints, Error> {
        let mut out = Fingerprints::default();
        self.each_row("SELECT ecosystem, name, candidates FROM packages", |row| {
            let (Ok(e), Ok(n), Ok(c)) = (row.get_ref(0), row.get_ref(1), row.get_ref(2)) else {
                return;
            };
            out.packages.insert(
                (
                    String::from_utf8_lossy(&bytes(&e)).into_owned(),
                    String::from_utf8_lossy(&bytes(&n)).into_owned(),
                ),
                hash(&[&bytes(&c)]),
            );
        })?;
        let mut cve: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (tag, query) in [
            (b'n', "SELECT cve, json FROM enrichment"),
            (b'k', "SELECT cve, json FROM kev"),
            (
                b'e',
                "SELECT cve, CAST(score AS TEXT) || ' ' || CAST(percentile AS TEXT) FROM epss",
            ),
        ] {
            self.each_row(query, |row| {
                let (Ok(id), Ok(v)) = (row.get_ref(0), row.get_ref(1)) else {
                    return;
                };
                let entry = cve
                    .entry(String::from_utf8_lossy(&bytes(&id)).into_owned())
                    .or_default();
                entry.push(tag);
                let v = bytes(&v);
                entry.extend_from_slice(&(v.len() as u64).to_le_bytes());
                entry.extend_from_slice(&v);
            })?;
        }
        out.cves = cve.into_iter().map(|(k, v)| (k, hash(&[&v]))).collect();
        Ok(out)
    }
}

impl Fingerprints {
    /// What differs from `older` to `self`.
    #[must_use]
    pub fn changes_since(&self, older: &Fingerprints) -> Changes {
        fn diff<K: Ord + Clone>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> Vec<K> {
            let mut out: Vec<K> = a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
            out.sort();
            out
        }
        Changes {
            packages: diff(&self.packages, &older.packages),
            cves: diff(&self.cves, &older.cves),
        }
    }

    /// A compact text form: one `p\tECOSYSTEM\tNAME\tHASH` or `c\tCVE\tHASH` line each.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.packages.len() * 32 + self.cves.len() * 24);
        for ((e, n), h) in &self.packages {
            out.extend_from_slice(format!("p\t{e}\t{n}\t{h:016x}\n").as_bytes());
        }
        for (c, h) in &self.cves {
            out.extend_from_slice(format!("c\t{c}\t{h:016x}\n").as_bytes());
        }
        out
    }

    /// Reads [`Fingerprints::to_bytes`]; `None` when it is not that form.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Fingerprints> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut out = Fingerprints::default();
        for line in text.lines() {
            let parts: Vec<&str> = line.split('\t').collect();
            match parts.as_slice() {
                ["p", e, n, h] => {
                    out.packages.insert(
                        ((*e).to_owned(), (*n).to_owned()),
                        u64::from_str_radix(h, 16).ok()?,
                    );
                }
                ["c", c, h] => {
                    out.cves
                        .insert((*c).to_owned(), u64::from_str_radix(h, 16).ok()?);
                }
                _ => return None,
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_added_changed_and_removed_keys_and_round_trip() {
        let mut old = Fingerprints::default();
        old.packages.insert(("PyPI".into(), "a".into()), 1);
        old.packages.insert(("PyPI".into(), "b".into()), 2);
        old.cves.insert("CVE-1".into(), 7);
        let mut new = old.clone();
        new.packages.insert(("PyPI".into(), "b".into()), 3);
        new.packages.insert(("npm".into(), "c".into()), 4);
        new.packages.remove(&("PyPI".into(), "a".into()));
        let c = new.changes_since(&old);
        assert_eq!(
            c.packages,
            vec![
                ("PyPI".to_owned(), "a".to_owned()),
                ("PyPI".to_owned(), "b".to_owned()),
                ("npm".to_owned(), "c".to_owned())
            ]
        );
        assert!(c.cves.is_empty());
        assert!(new.changes_since(&new).is_empty());
        assert_eq!(Fingerprints::from_bytes(&new.to_bytes()), Some(new));
    }
}
