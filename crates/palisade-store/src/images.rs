//! Images: what each digest holds (catalog, facts, findings), under which names it was seen,
//! how it was decided, and where it runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::sql::{Conn, Value, insert_many, params};
use crate::{Error, Result, Store};

/// One finding as stored (the columns the API filters on; the server keeps the rest in the
/// image's facts).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindingRow {
    /// The advisory id.
    pub advisory: String,
    /// Its aliases (CVE ids, GHSA ids, …).
    pub aliases: Vec<String>,
    /// The package name.
    pub package: String,
    /// Its installed version.
    pub version: String,
    /// Its kind (`deb`, `apk`, `python`, …).
    pub kind: String,
    /// Its PURL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// `critical`, `high`, `medium`, `low`, `negligible` or `unknown`.
    pub severity: String,
    /// The CVSS base score used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<f64>,
    /// Listed in CISA KEV.
    pub kev: bool,
    /// The EPSS probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss: Option<f64>,
    /// `fixed`, `not-fixed`, `wont-fix`, …
    pub status: String,
    /// Versions that fix it.
    pub fixed: Vec<String>,
    /// One line saying why it matched (the matcher's own words; empty in rows stored before
    /// schema 2).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// Everything one analysis of an image gives, written together.
#[derive(Clone, Debug, Default)]
pub struct AnalysisRecord {
    /// The manifest digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The image configuration's `created`.
    pub created: Option<String>,
    /// The vulnerability database the findings came from.
    pub db_identity: String,
    /// The policy the facts were gathered for.
    pub policy_id: String,
    /// The catalog, JSON (stored compressed).
    pub catalog: Vec<u8>,
    /// What the policy reads besides the findings, JSON (stored compressed).
    pub facts: Vec<u8>,
    /// Packages in the catalog.
    pub packages: i64,
    /// The matcher's lookup keys (ecosystem, normalised name) of the catalog's packages.
    pub keys: BTreeSet<(String, String)>,
    /// The findings.
    pub findings: Vec<FindingRow>,
}

/// A name an image was seen under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageName {
    /// Registry host.
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Tag; empty when seen by digest only.
    pub tag: String,
    /// What signature verification said in this repository, JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<serde_json::Value>,
    /// First and last seen (seconds since the epoch).
    pub first_seen: i64,
    /// Last seen.
    pub last_seen: i64,
}

/// A decision to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionRow {
    /// The repository decided for (signatures and source rules depend on it).
    pub repository: String,
    /// The environment.
    pub environment: String,
    /// `allow`, `warn` or `deny`.
    pub verdict: String,
    /// The policy that decided.
    pub policy_id: String,
    /// The database it decided with.
    pub db_identity: String,
    /// When (seconds since the epoch).
    pub decided_at: i64,
    /// The reasons, JSON (shown as JSON, not as a string).
    #[serde(serialize_with = "as_json")]
    pub reasons: String,
}

fn as_json<S: serde::Serializer>(text: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize as _;
    serde_json::from_str::<serde_json::Value>(text)
        .unwrap_or(serde_json::Value::Null)
        .serialize(s)
}

/// A decision whose verdict changed (or that is new).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionChange {
    /// The repository.
    pub repository: String,
    /// The environment.
    pub environment: String,
    /// The verdict before; `None` when there was none.
    pub before: Option<String>,
    /// The verdict now.
    pub after: String,
}

/// Where an image was seen running or asked to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sighting {
    /// `kubernetes` or `docker`.
    pub kind: String,
    /// `cluster/namespace/kind/name` or `host/container`.
    pub place: String,
    /// The reference it was asked for by.
    pub reference: String,
    /// First seen (seconds since the epoch).
    pub first_seen: i64,
    /// Last seen.
    pub last_seen: i64,
}

/// An image in a list.
#[derive(Clone, Debug, Serialize)]
pub struct ImageSummary {
    /// The manifest digest.
    pub digest: String,
    /// `os/architecture`.
    pub platform: String,
    /// The configuration's `created`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When last analysed (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyzed_at: Option<i64>,
    /// The database its findings are from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_identity: Option<String>,
    /// Packages.
    pub packages: i64,
    /// Findings (their number; an image's detail lists them under `findings`).
    pub finding_count: i64,
    /// Critical findings.
    pub critical: i64,
    /// High findings.
    pub high: i64,
    /// Medium findings.
    pub medium: i64,
    /// Low findings.
    pub low: i64,
    /// Findings listed in KEV.
    pub kev: i64,
    /// Findings with a fixed version.
    pub fixable: i64,
    /// Names it was seen under (`registry/repository:tag`).
    pub names: Vec<String>,
    /// Verdict per environment (the strictest over its repositories).
    pub verdicts: BTreeMap<String, String>,
    /// Places it runs.
    pub running: i64,
    /// Why the last analysis failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An image in full.
#[derive(Clone, Debug, Serialize)]
pub struct ImageDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: ImageSummary,
    /// The manifest media type.
    pub media_type: String,
    /// The names in full.
    pub repositories: Vec<ImageName>,
    /// Every decision.
    pub decisions: Vec<DecisionRow>,
    /// Where it runs.
    pub sightings: Vec<Sighting>,
    /// Its findings.
    pub findings: Vec<FindingRow>,
}

/// How to sort a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Most recently analysed first.
    #[default]
    Newest,
    /// Most severe first (critical, then high, … counts).
    Severity,
    /// By digest.
    Digest,
}

/// Which images to list.
#[derive(Clone, Debug, Default)]
pub struct ImageFilter {
    /// Seen in this repository (`registry/repo` or `repo`; a trailing `*` matches a prefix).
    pub repository: Option<String>,
    /// Whose digest starts with, or one of whose names (`registry/repository:tag`) contains,
    /// this text (case-insensitive for ASCII).
    pub search: Option<String>,
    /// With this verdict …
    pub verdict: Option<String>,
    /// … in this environment (any, when `None`).
    pub environment: Option<String>,
    /// With a finding at least this severe (`low` … `critical`).
    pub min_severity: Option<String>,
    /// With a finding listed in KEV.
    pub kev: bool,
    /// With a finding that has a fix.
    pub fixable: bool,
    /// Seen running.
    pub running: Option<bool>,
    /// Sort order.
    pub sort: Sort,
    /// Skip this many.
    pub offset: i64,
    /// At most this many (capped at 500).
    pub limit: i64,
}

/// One image affected by an advisory, fleet-wide.
#[derive(Clone, Debug, Serialize)]
pub struct FleetHit {
    /// The image.
    pub digest: String,
    /// Names it was seen under.
    pub names: Vec<String>,
    /// The matching findings.
    pub findings: Vec<FindingRow>,
    /// Where it runs.
    pub sightings: Vec<Sighting>,
}

/// Images that read any of some lookup keys or carry any of some advisory ids.
#[derive(Clone, Debug, Default)]
pub struct KeyHits {
    /// Their digests, sorted.
    pub digests: Vec<String>,
}

/// A severity's rank; higher is worse.
#[must_use]
pub(crate) fn severity_rank(s: &str) -> i64 {
    match s.to_ascii_lowercase().as_str() {
        "critical" => 5,
        "high" => 4,
        "medium" | "moderate" => 3,
        "low" => 2,
        "negligible" => 1,
        _ => 0,
    }
}

const SUMMARY_COLUMNS: &str = "i.id, i.digest, i.platform, i.created, i.analyzed_at, \
    i.db_identity, i.packages, i.findings, i.critical, i.high, i.medium, i.low, i.kev, \
    i.fixable, i.error, i.media_type";

fn finding_row(r: &crate::sql::Row, at: usize) -> FindingRow {
    let split = |s: String| -> Vec<String> {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    FindingRow {
        advisory: r.text(at),
        aliases: split(r.text(at + 1)),
        package: r.text(at + 2),
        version: r.text(at + 3),
        kind: r.text(at + 4),
        purl: r.opt_text(at + 5),
        severity: r.text(at + 6),
        cvss: r.opt_real(at + 7),
        kev: r.int(at + 8) != 0,
        epss: r.opt_real(at + 9),
        status: r.text(at + 10),
        fixed: split(r.text(at + 11)),
        why: r.text(at + 12),
    }
}

const FINDING_COLUMNS: &str = "f.advisory, f.aliases, f.package, f.version, f.kind, f.purl, \
    f.severity, f.cvss, f.kev, f.epss, f.status, f.fixed, f.why";

fn image_id(conn: &mut dyn Conn, digest: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_one("SELECT id FROM images WHERE digest = $1", params![digest])?
        .map(|r| r.int(0)))
}

/// The image's id, adding an empty row for a digest not seen before.
fn ensure_image(conn: &mut dyn Conn, digest: &str, now: i64) -> Result<i64> {
    if let Some(id) = image_id(conn, digest)? {
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO images (digest, first_seen) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        params![digest, now],
    )?;
    image_id(conn, digest)?
        .ok_or_else(|| Error::Internal(format!("image {digest} vanished while being added")))
}

fn write_findings(conn: &mut dyn Conn, id: i64, findings: &[FindingRow]) -> Result<()> {
    conn.execute("DELETE FROM findings WHERE image_id = $1", params![id])?;
    conn.execute("DELETE FROM finding_ids WHERE image_id = $1", params![id])?;
    let mut values: Vec<Value> = Vec::with_capacity(findings.len() * 14);
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for f in findings {
        values.extend([
            id.into(),
            f.advisory.as_str().into(),
            f.aliases.join(" ").into(),
            f.package.as_str().into(),
            f.version.as_str().into(),
            f.kind.as_str().into(),
            f.purl.clone().into(),
            f.severity.as_str().into(),
            f.cvss.into(),
            f.kev.into(),
            f.epss.into(),
            f.status.as_str().into(),
            f.fixed.join(" ").into(),
            f.why.chars().take(500).collect::<String>().into(),
        ]);
        ids.insert(&f.advisory);
        ids.extend(f.aliases.iter().map(String::as_str));
    }
    insert_many(
        conn,
        "findings (image_id, advisory, aliases, package, version, kind, purl, severity, cvss, \
         kev, epss, status, fixed, why)",
        14,
        &values,
        "",
    )?;
    let ids: Vec<Value> = ids
        .into_iter()
        .flat_map(|x| [Value::from(x), Value::Int(id)])
        .collect();
    insert_many(
        conn,
        "finding_ids (id, image_id)",
        2,
        &ids,
        "ON CONFLICT DO NOTHING",
    )?;
    let (mut critical, mut high, mut medium, mut low, mut kev, mut fixable, mut max) =
        (0i64, 0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    for f in findings {
        let rank = severity_rank(&f.severity);
        max = max.max(rank);
        match rank {
            5 => critical += 1,
            4 => high += 1,
            3 => medium += 1,
            2 => low += 1,
            _ => {}
        }
        kev += i64::from(f.kev);
        fixable += i64::from(!f.fixed.is_empty());
    }
    conn.execute(
        "UPDATE images SET findings = $2, critical = $3, high = $4, medium = $5, low = $6, \
         kev = $7, fixable = $8, max_severity = $9 WHERE id = $1",
        params![
            id,
            findings.len() as i64,
            critical,
            high,
            medium,
            low,
            kev,
            fixable,
            max
        ],
    )?;
    Ok(())
}

fn write_keys(conn: &mut dyn Conn, id: i64, keys: &BTreeSet<(String, String)>) -> Result<()> {
    conn.execute("DELETE FROM image_keys WHERE image_id = $1", params![id])?;
    if keys.is_empty() {
        return Ok(());
    }
    let values: Vec<Value> = keys
        .iter()
        .flat_map(|(e, n)| [Value::from(e.as_str()), Value::from(n.as_str())])
        .collect();
    insert_many(
        conn,
        "match_keys (ecosystem, name)",
        2,
        &values,
        "ON CONFLICT DO NOTHING",
    )?;
    // Resolve the keys' numbers, a few hundred at a time.
    let mut pairs: Vec<Value> = Vec::with_capacity(keys.len() * 2);
    let list: Vec<&(String, String)> = keys.iter().collect();
    for chunk in list.chunks(400) {
        let mut sql = "SELECT id FROM match_keys WHERE ".to_owned();
        let mut vals: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        for (i, (e, n)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!(
                "(ecosystem = ${} AND name = ${})",
                vals.len() + 1,
                vals.len() + 2
            ));
            vals.push(e.as_str().into());
            vals.push(n.as_str().into());
        }
        for r in conn.query(&sql, &vals)? {
            pairs.push(r.int(0).into());
            pairs.push(id.into());
        }
    }
    insert_many(
        conn,
        "image_keys (key_id, image_id)",
        2,
        &pairs,
        "ON CONFLICT DO NOTHING",
    )
}

impl Store {
    /// Records one analysis of an image: its row, catalog, facts, lookup keys and findings,
    /// in one transaction (readers see the old analysis or the new one, never half).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_analysis(&self, a: &AnalysisRecord) -> Result<()> {
        self.pool.tx(|conn| crate::Tx { conn }.put_analysis(a))
    }

    /// Replaces an image's findings after a re-match with database `db_identity`, and its
    /// facts when given.
    ///
    /// # Errors
    /// The store cannot be written, or the image is unknown.
    pub fn put_findings(
        &self,
        digest: &str,
        db_identity: &str,
        findings: &[FindingRow],
        facts: Option<&[u8]>,
    ) -> Result<()> {
        self.pool
            .tx(|conn| crate::Tx { conn }.put_findings(digest, db_identity, findings, facts))
    }

    /// Records that analysing an image failed (the previous analysis, if any, stays).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_image_error(&self, digest: &str, error: &str) -> Result<()> {
        self.pool
            .tx(|conn| crate::Tx { conn }.put_image_error(digest, error))
    }

    /// Records a name the image was seen under, with what its signatures said there.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_name(
        &self,
        digest: &str,
        registry: &str,
        repository: &str,
        tag: &str,
        trust: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.pool
            .tx(|conn| crate::Tx { conn }.put_name(digest, registry, repository, tag, trust))
    }

    /// Records decisions; the ones whose verdict is new or changed.
    ///
    /// # Errors
    /// The store cannot be written, or the image is unknown.
    pub fn put_decisions(
        &self,
        digest: &str,
        decisions: &[DecisionRow],
    ) -> Result<Vec<DecisionChange>> {
        self.pool
            .tx(|conn| crate::Tx { conn }.put_decisions(digest, decisions))
    }

    /// The decisions stored for an image.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn decisions(&self, digest: &str) -> Result<Vec<DecisionRow>> {
        self.pool.with(|conn| {
            Ok(conn
                .query(
                    "SELECT d.repository, d.environment, d.verdict, d.policy_id, d.db_identity, \
                     d.decided_at, d.reasons FROM decisions d JOIN images i ON i.id = d.image_id \
                     WHERE i.digest = $1 ORDER BY d.repository, d.environment",
                    params![digest],
                )?
                .iter()
                .map(|r| DecisionRow {
                    repository: r.text(0),
                    environment: r.text(1),
                    verdict: r.text(2),
                    policy_id: r.text(3),
                    db_identity: r.text(4),
                    decided_at: r.int(5),
                    reasons: r.text(6),
                })
                .collect())
        })
    }

    /// What the last analysis of an image was made with: (database, policy), when analysed.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn analysed_with(&self, digest: &str) -> Result<Option<(String, String)>> {
        self.pool.with(|conn| {
            Ok(conn
                .query_one(
                    "SELECT db_identity, policy_id FROM images WHERE digest = $1 \
                     AND analyzed_at IS NOT NULL AND catalog IS NOT NULL",
                    params![digest],
                )?
                .map(|r| (r.text(0), r.text(1))))
        })
    }

    /// An image's stored catalog and facts (as written), when analysed.
    ///
    /// # Errors
    /// The store cannot be read, or a value is damaged.
    pub fn image_data(&self, digest: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let row = self.pool.with(|conn| {
            conn.query_one(
                "SELECT catalog, facts FROM images WHERE digest = $1 AND catalog IS NOT NULL",
                params![digest],
            )
        })?;
        let Some(r) = row else { return Ok(None) };
        let catalog = crate::decompress(r.blob(0).unwrap_or_default(), "catalog")?;
        let facts = crate::decompress(r.blob(1).unwrap_or_default(), "facts")?;
        Ok(Some((catalog, facts)))
    }

    /// An image's stored catalog size, compressed, in bytes.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn catalog_size(&self, digest: &str) -> Result<Option<i64>> {
        let row = self.pool.with(|conn| {
            conn.query_one(
                "SELECT catalog FROM images WHERE digest = $1",
                params![digest],
            )
        })?;
        Ok(row.and_then(|r| r.blob(0).map(|b| b.len() as i64)))
    }

    /// An image's findings.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn findings(&self, digest: &str) -> Result<Vec<FindingRow>> {
        self.pool.with(|conn| {
            Ok(conn
                .query(
                    &format!(
                        "SELECT {FINDING_COLUMNS} FROM findings f JOIN images i \
                         ON i.id = f.image_id WHERE i.digest = $1 \
                         ORDER BY f.package, f.version, f.advisory"
                    ),
                    params![digest],
                )?
                .iter()
                .map(|r| finding_row(r, 0))
                .collect())
        })
    }

    /// The names of an image.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn names(&self, digest: &str) -> Result<Vec<ImageName>> {
        self.pool.with(|conn| names_of(conn, digest))
    }

    /// Digests of every analysed image, in order, `limit` at a time after `after`.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn analysed_digests(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        self.pool.with(|conn| {
            Ok(conn
                .query(
                    "SELECT digest FROM images WHERE digest > $1 AND catalog IS NOT NULL \
                     ORDER BY digest LIMIT $2",
                    params![after, limit],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect())
        })
    }

    /// The analysed images that read any of `keys` (ecosystem, normalised name) or carry a
    /// finding known by any of `ids`: the only images a database change can touch.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn images_touched(&self, keys: &[(String, String)], ids: &[String]) -> Result<KeyHits> {
        let mut digests: BTreeSet<String> = BTreeSet::new();
        self.pool.with(|conn| {
            for chunk in keys.chunks(400) {
                let mut sql = "SELECT DISTINCT i.digest FROM match_keys k \
                    JOIN image_keys x ON x.key_id = k.id JOIN images i ON i.id = x.image_id \
                    WHERE "
                    .to_owned();
                let mut vals: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
                for (i, (e, n)) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(" OR ");
                    }
                    sql.push_str(&format!(
                        "(k.ecosystem = ${} AND k.name = ${})",
                        vals.len() + 1,
                        vals.len() + 2
                    ));
                    vals.push(e.as_str().into());
                    vals.push(n.as_str().into());
                }
                for r in conn.query(&sql, &vals)? {
                    digests.insert(r.text(0));
                }
            }
            for chunk in ids.chunks(500) {
                let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                let vals: Vec<Value> = chunk.iter().map(Value::from).collect();
                for r in conn.query(
                    &format!(
                        "SELECT DISTINCT i.digest FROM finding_ids x JOIN images i \
                         ON i.id = x.image_id WHERE x.id IN ({})",
                        list.join(", ")
                    ),
                    &vals,
                )? {
                    digests.insert(r.text(0));
                }
            }
            Ok(())
        })?;
        Ok(KeyHits {
            digests: digests.into_iter().collect(),
        })
    }

    /// Records that an image was seen at a place (`kubernetes`: `cluster/namespace/kind/name`,
    /// `docker`: `host/container`).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_sighting(
        &self,
        digest: &str,
        kind: &str,
        place: &str,
        reference: &str,
    ) -> Result<()> {
        let now = crate::now();
        self.pool.with(|conn| {
            conn.execute(
                "INSERT INTO sightings (digest, kind, place, reference, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (digest, kind, place) DO UPDATE \
                 SET last_seen = excluded.last_seen, reference = excluded.reference",
                params![digest, kind, place, reference, now],
            )?;
            Ok(())
        })
    }

    /// Where an image was seen.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn sightings(&self, digest: &str) -> Result<Vec<Sighting>> {
        self.pool
            .with(|conn| sightings_of(conn, &[digest.to_owned()]))
            .map(|mut m| m.remove(digest).unwrap_or_default())
    }

    /// Lists images; the page and how many match in all.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn list_images(&self, filter: &ImageFilter) -> Result<(Vec<ImageSummary>, i64)> {
        let mut clauses: Vec<String> = vec!["1 = 1".to_owned()];
        let mut vals: Vec<Value> = Vec::new();
        let push = |vals: &mut Vec<Value>, v: Value| {
            vals.push(v);
            format!("${}", vals.len())
        };
        if let Some(repo) = &filter.repository {
            let (registry, repository) = split_repository(repo);
            let prefix = repository.strip_suffix('*');
            let repo_clause = match prefix {
                Some(p) => {
                    let pat = format!("{}%", like_escape(p));
                    format!(
                        "n.repository LIKE {} ESCAPE '\\'",
                        push(&mut vals, pat.into())
                    )
                }
                None => format!("n.repository = {}", push(&mut vals, repository.into())),
            };
            let reg_clause = match registry {
                Some(r) => format!(" AND n.registry = {}", push(&mut vals, r.into())),
                None => String::new(),
            };
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM image_names n WHERE n.image_id = i.id AND {repo_clause}{reg_clause})"
            ));
        }
        if let Some(text) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let text = text.to_ascii_lowercase();
            let contains = push(&mut vals, format!("%{}%", like_escape(&text)).into());
            let prefix = push(&mut vals, format!("{}%", like_escape(&text)).into());
            clauses.push(format!(
                "(i.digest LIKE {prefix} ESCAPE '\\' OR EXISTS (SELECT 1 FROM image_names n \
                 WHERE n.image_id = i.id AND LOWER(n.registry || '/' || n.repository || ':' || n.tag) \
                 LIKE {contains} ESCAPE '\\'))"
            ));
        }
        if filter.verdict.is_some() || filter.environment.is_some() {
            let mut c = "EXISTS (SELECT 1 FROM decisions d WHERE d.image_id = i.id".to_owned();
            if let Some(v) = &filter.verdict {
                c.push_str(&format!(" AND d.verdict = {}", push(&mut vals, v.into())));
            }
            if let Some(e) = &filter.environment {
                c.push_str(&format!(
                    " AND d.environment = {}",
                    push(&mut vals, e.into())
                ));
            }
            c.push(')');
            clauses.push(c);
        }
        if let Some(s) = &filter.min_severity {
            clauses.push(format!(
                "i.max_severity >= {}",
                push(&mut vals, severity_rank(s).into())
            ));
        }
        if filter.kev {
            clauses.push("i.kev > 0".to_owned());
        }
        if filter.fixable {
            clauses.push("i.fixable > 0".to_owned());
        }
        match filter.running {
            Some(true) => clauses
                .push("EXISTS (SELECT 1 FROM sightings s WHERE s.digest = i.digest)".to_owned()),
            Some(false) => clauses.push(
                "NOT EXISTS (SELECT 1 FROM sightings s WHERE s.digest = i.digest)".to_owned(),
            ),
            None => {}
        }
        let wher = clauses.join(" AND ");
        let order = match filter.sort {
            Sort::Newest => "COALESCE(i.analyzed_at, i.first_seen) DESC, i.id DESC",
            Sort::Severity => "i.critical DESC, i.high DESC, i.medium DESC, i.low DESC, i.id DESC",
            Sort::Digest => "i.digest",
        };
        let limit = filter.limit.clamp(1, 500);
        let offset = filter.offset.max(0);
        self.pool.with(|conn| {
            let total = conn
                .query_one(
                    &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM images i WHERE {wher}"),
                    &vals,
                )?
                .map_or(0, |r| r.int(0));
            let mut page_vals = vals.clone();
            page_vals.push(limit.into());
            page_vals.push(offset.into());
            let rows = conn.query(
                &format!(
                    "SELECT {SUMMARY_COLUMNS} FROM images i WHERE {wher} ORDER BY {order} \
                     LIMIT ${} OFFSET ${}",
                    page_vals.len() - 1,
                    page_vals.len()
                ),
                &page_vals,
            )?;
            let summaries = summaries(conn, &rows)?;
            Ok((summaries, total))
        })
    }

    /// One image in full.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn image(&self, digest: &str) -> Result<Option<ImageDetail>> {
        let detail = self.pool.with(|conn| {
            let Some(row) = conn.query_one(
                &format!("SELECT {SUMMARY_COLUMNS} FROM images i WHERE i.digest = $1"),
                params![digest],
            )?
            else {
                return Ok(None);
            };
            let media_type = row.text(15);
            let summary = summaries(conn, &[row])?
                .pop()
                .ok_or_else(|| Error::Internal(format!("image {digest} has no summary")))?;
            let repositories = names_of(conn, digest)?;
            let sightings = sightings_of(conn, &[digest.to_owned()])?
                .remove(digest)
                .unwrap_or_default();
            Ok(Some((summary, media_type, repositories, sightings)))
        })?;
        let Some((summary, media_type, repositories, sightings)) = detail else {
            return Ok(None);
        };
        Ok(Some(ImageDetail {
            summary,
            media_type,
            repositories,
            decisions: self.decisions(digest)?,
            sightings,
            findings: self.findings(digest)?,
        }))
    }

    /// Every image with a finding known by `id` (an advisory id or an alias such as a CVE),
    /// with those findings and where each image runs; only running images when asked.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn fleet(&self, id: &str, running_only: bool, limit: i64) -> Result<Vec<FleetHit>> {
        let limit = limit.clamp(1, 10_000);
        self.pool.with(|conn| {
            let running = if running_only {
                " AND EXISTS (SELECT 1 FROM sightings s WHERE s.digest = i.digest)"
            } else {
                ""
            };
            // The first `limit` images (in digest order) are picked from the index alone, then
            // only their findings are read, by image id (the `findings_image` index): an id
            // carried by thousands of images does not read and sort all of theirs to keep
            // `limit` rows, and no planner estimate of the alias match can turn the read into
            // a scan of every finding.
            let images = conn.query(
                &format!(
                    "SELECT x.image_id, i.digest FROM finding_ids x \
                     JOIN images i ON i.id = x.image_id \
                     WHERE x.id = $1{running} ORDER BY i.digest LIMIT $2"
                ),
                params![id, limit],
            )?;
            let digest_of: BTreeMap<i64, String> =
                images.iter().map(|r| (r.int(0), r.text(1))).collect();
            let ids: Vec<i64> = digest_of.keys().copied().collect();
            let pattern = format!("% {} %", like_escape(id));
            let mut hits: BTreeMap<String, Vec<FindingRow>> = BTreeMap::new();
            for chunk in ids.chunks(500) {
                let mut vals: Vec<Value> = vec![id.into(), pattern.as_str().into()];
                vals.extend(chunk.iter().map(|i| Value::Int(*i)));
                for r in conn.query(
                    &format!(
                        "SELECT f.image_id, {FINDING_COLUMNS} FROM findings f \
                         WHERE f.image_id IN ({}) AND (f.advisory = $1 OR \
                         (' ' || f.aliases || ' ') LIKE $2 ESCAPE '\\')",
                        in_list(3, chunk.len())
                    ),
                    &vals,
                )? {
                    if let Some(digest) = digest_of.get(&r.int(0)) {
                        hits.entry(digest.clone())
                            .or_default()
                            .push(finding_row(&r, 1));
                    }
                }
            }
            // In digest, package, version order, `limit` findings at most (as before).
            let mut left = usize::try_from(limit).unwrap_or(usize::MAX);
            hits.retain(|_, rows| {
                rows.sort_by(|a, b| (&a.package, &a.version).cmp(&(&b.package, &b.version)));
                rows.truncate(left);
                left -= rows.len();
                !rows.is_empty()
            });
            let digests: Vec<String> = hits.keys().cloned().collect();
            let mut seen = sightings_of(conn, &digests)?;
            let mut names = display_names(conn, &digests)?;
            Ok(hits
                .into_iter()
                .map(|(digest, findings)| FleetHit {
                    names: names.remove(&digest).unwrap_or_default(),
                    sightings: seen.remove(&digest).unwrap_or_default(),
                    digest,
                    findings,
                })
                .collect())
        })
    }
}

/// `registry/repo/path` → (`Some(registry)`, `repo/path`) when the first part looks like a
/// host (has a dot or colon, or is `localhost`); otherwise (`None`, everything).
fn split_repository(text: &str) -> (Option<&str>, &str) {
    match text.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, text),
    }
}

pub(crate) fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn names_of(conn: &mut dyn Conn, digest: &str) -> Result<Vec<ImageName>> {
    Ok(conn
        .query(
            "SELECT n.registry, n.repository, n.tag, n.trust, n.first_seen, n.last_seen \
             FROM image_names n JOIN images i ON i.id = n.image_id WHERE i.digest = $1 \
             ORDER BY n.registry, n.repository, n.tag",
            params![digest],
        )?
        .iter()
        .map(|r| ImageName {
            registry: r.text(0),
            repository: r.text(1),
            tag: r.text(2),
            trust: r.opt_text(3).and_then(|t| serde_json::from_str(&t).ok()),
            first_seen: r.int(4),
            last_seen: r.int(5),
        })
        .collect())
}

fn in_list(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_names(conn: &mut dyn Conn, digests: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in digests.chunks(500) {
        let vals: Vec<Value> = chunk.iter().map(Value::from).collect();
        for r in conn.query(
            &format!(
                "SELECT i.digest, n.registry, n.repository, n.tag FROM image_names n \
                 JOIN images i ON i.id = n.image_id WHERE i.digest IN ({}) \
                 ORDER BY i.digest, n.registry, n.repository, n.tag",
                in_list(1, chunk.len())
            ),
            &vals,
        )? {
            let (registry, repository, tag) = (r.text(1), r.text(2), r.text(3));
            let mut name = if registry.is_empty() {
                repository
            } else {
                format!("{registry}/{repository}")
            };
            if !tag.is_empty() {
                name.push(':');
                name.push_str(&tag);
            }
            out.entry(r.text(0)).or_default().push(name);
        }
    }
    Ok(out)
}

fn sightings_of(
    conn: &mut dyn Conn,
    digests: &[String],
) -> Result<BTreeMap<String, Vec<Sighting>>> {
    let mut out: BTreeMap<String, Vec<Sighting>> = BTreeMap::new();
    for chunk in digests.chunks(500) {
        let vals: Vec<Value> = chunk.iter().map(Value::from).collect();
        for r in conn.query(
            &format!(
                "SELECT digest, kind, place, reference, first_seen, last_seen FROM sightings \
                 WHERE digest IN ({}) ORDER BY digest, kind, place",
                in_list(1, chunk.len())
            ),
            &vals,
        )? {
            out.entry(r.text(0)).or_default().push(Sighting {
                kind: r.text(1),
                place: r.text(2),
                reference: r.text(3),
                first_seen: r.int(4),
                last_seen: r.int(5),
            });
        }
    }
    Ok(out)
}

/// Summaries for rows of [`SUMMARY_COLUMNS`], with names, verdicts and running counts.
fn summaries(conn: &mut dyn Conn, rows: &[crate::sql::Row]) -> Result<Vec<ImageSummary>> {
    let digests: Vec<String> = rows.iter().map(|r| r.text(1)).collect();
    let ids: Vec<i64> = rows.iter().map(|r| r.int(0)).collect();
    let mut names = display_names(conn, &digests)?;
    let mut verdicts: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
    let mut running: BTreeMap<String, i64> = BTreeMap::new();
    if !ids.is_empty() {
        let vals: Vec<Value> = ids.iter().map(|i| Value::Int(*i)).collect();
        for r in conn.query(
            &format!(
                "SELECT image_id, environment, verdict FROM decisions WHERE image_id IN ({})",
                in_list(1, ids.len())
            ),
            &vals,
        )? {
            let env = verdicts.entry(r.int(0)).or_default();
            let v = r.text(2);
            let worse = |a: &str| match a {
                "deny" => 2,
                "warn" => 1,
                _ => 0,
            };
            let slot = env.entry(r.text(1)).or_insert_with(|| v.clone());
            if worse(&v) > worse(slot) {
                *slot = v;
            }
        }
        let vals: Vec<Value> = digests.iter().map(Value::from).collect();
        for r in conn.query(
            &format!(
                "SELECT digest, CAST(COUNT(*) AS BIGINT) FROM sightings WHERE digest IN ({}) \
                 GROUP BY digest",
                in_list(1, digests.len())
            ),
            &vals,
        )? {
            running.insert(r.text(0), r.int(1));
        }
    }
    Ok(rows
        .iter()
        .map(|r| {
            let digest = r.text(1);
            ImageSummary {
                names: names.remove(&digest).unwrap_or_default(),
                verdicts: verdicts.remove(&r.int(0)).unwrap_or_default(),
                running: running.get(&digest).copied().unwrap_or(0),
                digest,
                platform: r.text(2),
                created: r.opt_text(3),
                analyzed_at: r.opt_int(4),
                db_identity: r.opt_text(5),
                packages: r.int(6),
                finding_count: r.int(7),
                critical: r.int(8),
                high: r.int(9),
                medium: r.int(10),
                low: r.int(11),
                kev: r.int(12),
                fixable: r.int(13),
                error: r.opt_text(14),
            }
        })
        .collect())
}

impl crate::Tx<'_> {
    /// Records one analysis of an image: its row, catalog, facts, lookup keys and findings,
    /// in one transaction (readers see the old analysis or the new one, never half).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_analysis(&mut self, a: &AnalysisRecord) -> Result<()> {
        let catalog = crate::compress(&a.catalog)?;
        let facts = crate::compress(&a.facts)?;
        let now = crate::now();
        let conn: &mut dyn Conn = &mut *self.conn;
        let id = ensure_image(conn, &a.digest, now)?;
        conn.execute(
            "UPDATE images SET media_type = $2, platform = $3, created = $4, \
             analyzed_at = $5, db_identity = $6, policy_id = $7, catalog = $8, facts = $9, \
             packages = $10, error = NULL WHERE id = $1",
            params![
                id,
                a.media_type.as_str(),
                a.platform.as_str(),
                a.created.clone(),
                now,
                a.db_identity.as_str(),
                a.policy_id.as_str(),
                catalog.clone(),
                facts.clone(),
                a.packages
            ],
        )?;
        write_keys(conn, id, &a.keys)?;
        write_findings(conn, id, &a.findings)
    }

    /// Replaces an image's findings after a re-match with database `db_identity`, and its
    /// facts when given.
    ///
    /// # Errors
    /// The store cannot be written, or the image is unknown.
    pub fn put_findings(
        &mut self,
        digest: &str,
        db_identity: &str,
        findings: &[FindingRow],
        facts: Option<&[u8]>,
    ) -> Result<()> {
        let facts = facts.map(crate::compress).transpose()?;
        let now = crate::now();
        let conn: &mut dyn Conn = &mut *self.conn;
        let id = image_id(conn, digest)?
            .ok_or_else(|| Error::Internal(format!("image {digest} is not stored")))?;
        conn.execute(
            "UPDATE images SET db_identity = $2, analyzed_at = $3 WHERE id = $1",
            params![id, db_identity, now],
        )?;
        if let Some(f) = &facts {
            conn.execute(
                "UPDATE images SET facts = $2 WHERE id = $1",
                params![id, f.clone()],
            )?;
        }
        write_findings(conn, id, findings)
    }

    /// Records that analysing an image failed (the previous analysis, if any, stays).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_image_error(&mut self, digest: &str, error: &str) -> Result<()> {
        let now = crate::now();
        let error: String = error.chars().take(4096).collect();
        let conn: &mut dyn Conn = &mut *self.conn;
        let id = ensure_image(conn, digest, now)?;
        conn.execute(
            "UPDATE images SET error = $2 WHERE id = $1",
            params![id, error],
        )?;
        Ok(())
    }

    /// Records a name the image was seen under, with what its signatures said there.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn put_name(
        &mut self,
        digest: &str,
        registry: &str,
        repository: &str,
        tag: &str,
        trust: Option<&serde_json::Value>,
    ) -> Result<()> {
        let now = crate::now();
        let trust = trust.map(ToString::to_string);
        let conn: &mut dyn Conn = &mut *self.conn;
        let id = ensure_image(conn, digest, now)?;
        match &trust {
            Some(t) => conn.execute(
                "INSERT INTO image_names (image_id, registry, repository, tag, trust, \
                 first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (image_id, registry, repository, tag) DO UPDATE SET \
                 trust = excluded.trust, last_seen = excluded.last_seen",
                params![id, registry, repository, tag, t.as_str(), now],
            )?,
            None => conn.execute(
                "INSERT INTO image_names (image_id, registry, repository, tag, \
                 first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (image_id, registry, repository, tag) DO UPDATE SET \
                 last_seen = excluded.last_seen",
                params![id, registry, repository, tag, now],
            )?,
        };
        // Signatures are per repository: every name of the repository shares them.
        if let Some(t) = &trust {
            conn.execute(
                "UPDATE image_names SET trust = $4 WHERE image_id = $1 AND registry = $2 \
                 AND repository = $3",
                params![id, registry, repository, t.as_str()],
            )?;
        }
        Ok(())
    }

    /// Records decisions; the ones whose verdict is new or changed.
    ///
    /// # Errors
    /// The store cannot be written, or the image is unknown.
    pub fn put_decisions(
        &mut self,
        digest: &str,
        decisions: &[DecisionRow],
    ) -> Result<Vec<DecisionChange>> {
        let conn: &mut dyn Conn = &mut *self.conn;
        let id = image_id(conn, digest)?
            .ok_or_else(|| Error::Internal(format!("image {digest} is not stored")))?;
        let mut before: BTreeMap<(String, String), String> = BTreeMap::new();
        for r in conn.query(
            "SELECT repository, environment, verdict FROM decisions WHERE image_id = $1",
            params![id],
        )? {
            before.insert((r.text(0), r.text(1)), r.text(2));
        }
        let mut changes = Vec::new();
        for d in decisions {
            conn.execute(
                "INSERT INTO decisions (image_id, repository, environment, verdict, \
                 policy_id, db_identity, decided_at, reasons) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (image_id, repository, environment) DO UPDATE SET \
                 verdict = excluded.verdict, policy_id = excluded.policy_id, \
                 db_identity = excluded.db_identity, decided_at = excluded.decided_at, \
                 reasons = excluded.reasons",
                params![
                    id,
                    d.repository.as_str(),
                    d.environment.as_str(),
                    d.verdict.as_str(),
                    d.policy_id.as_str(),
                    d.db_identity.as_str(),
                    d.decided_at,
                    d.reasons.as_str()
                ],
            )?;
            let old = before.get(&(d.repository.clone(), d.environment.clone()));
            if old != Some(&d.verdict) {
                changes.push(DecisionChange {
                    repository: d.repository.clone(),
                    environment: d.environment.clone(),
                    before: old.cloned(),
                    after: d.verdict.clone(),
                });
            }
        }
        Ok(changes)
    }

    /// [`Store::names`] in this transaction.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn names(&mut self, digest: &str) -> Result<Vec<ImageName>> {
        names_of(self.conn, digest)
    }

    /// [`Store::sightings`] in this transaction.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn sightings(&mut self, digest: &str) -> Result<Vec<Sighting>> {
        sightings_of(self.conn, &[digest.to_owned()])
            .map(|mut m| m.remove(digest).unwrap_or_default())
    }
}
