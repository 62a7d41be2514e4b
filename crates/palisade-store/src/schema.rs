//! Migrations: numbered, applied in order, each in its own transaction, recorded in
//! `schema_migrations`. One text per migration for both databases, with three words that
//! differ between them spelled as tokens: `{ID}` (an auto-numbered primary key), `{BLOB}` and
//! `{REAL}`.
//!
//! A migration, once released, is never edited: a change is a new migration.

use crate::error::{Error, Result};
use crate::sql::{Conn, Dialect, params};

/// The migrations, oldest first. Their number is their position plus one.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "images, findings, decisions, sightings, hosts, events, jobs, tokens",
        r"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE blobs (
    key TEXT PRIMARY KEY,
    value {BLOB} NOT NULL
);
-- One row per image manifest digest: what is the same for every repository it is in.
CREATE TABLE images (
    id {ID},
    digest TEXT NOT NULL UNIQUE,
    media_type TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    created TEXT,
    first_seen BIGINT NOT NULL,
    analyzed_at BIGINT,
    db_identity TEXT,
    policy_id TEXT,
    catalog {BLOB},
    facts {BLOB},
    packages BIGINT NOT NULL DEFAULT 0,
    findings BIGINT NOT NULL DEFAULT 0,
    critical BIGINT NOT NULL DEFAULT 0,
    high BIGINT NOT NULL DEFAULT 0,
    medium BIGINT NOT NULL DEFAULT 0,
    low BIGINT NOT NULL DEFAULT 0,
    kev BIGINT NOT NULL DEFAULT 0,
    fixable BIGINT NOT NULL DEFAULT 0,
    max_severity BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
-- Where each image was pushed or asked for: registry, repository and tag (empty: by digest),
-- with what its signatures said there.
CREATE TABLE image_names (
    image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL DEFAULT '',
    trust TEXT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (image_id, registry, repository, tag)
);
CREATE INDEX image_names_repository ON image_names (repository, image_id);
-- The matcher's lookup keys (ecosystem, normalised name), numbered once.
CREATE TABLE match_keys (
    id {ID},
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (ecosystem, name)
);
-- Which image reads which key: the images a changed advisory can touch.
CREATE TABLE image_keys (
    key_id BIGINT NOT NULL,
    image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (key_id, image_id)
);
CREATE INDEX image_keys_image ON image_keys (image_id);
CREATE TABLE findings (
    image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    advisory TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '',
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    purl TEXT,
    severity TEXT NOT NULL,
    cvss {REAL},
    kev BIGINT NOT NULL DEFAULT 0,
    epss {REAL},
    status TEXT NOT NULL DEFAULT '',
    fixed TEXT NOT NULL DEFAULT ''
);
CREATE INDEX findings_image ON findings (image_id);
-- Every id a finding is known by (its advisory id and aliases): the fleet-wide question
-- question (which images have CVE-X?) is one index range.
CREATE TABLE finding_ids (
    id TEXT NOT NULL,
    image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (id, image_id)
);
CREATE INDEX finding_ids_image ON finding_ids (image_id);
CREATE TABLE decisions (
    image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    environment TEXT NOT NULL,
    verdict TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    db_identity TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (image_id, repository, environment)
);
CREATE INDEX decisions_verdict ON decisions (environment, verdict);
-- Where an image was seen running or asked to run, by digest (it may not be analysed yet).
CREATE TABLE sightings (
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    place TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (digest, kind, place)
);
CREATE TABLE hosts (
    name TEXT PRIMARY KEY,
    report TEXT NOT NULL,
    passed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    compliant BIGINT NOT NULL DEFAULT 0,
    reported_at BIGINT NOT NULL
);
CREATE TABLE host_history (
    name TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    PRIMARY KEY (name, reported_at)
);
CREATE TABLE events (
    id {ID},
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    digest TEXT,
    subject TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL
);
CREATE INDEX events_digest ON events (digest, id);
CREATE TABLE jobs (
    id {ID},
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until BIGINT,
    not_before BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    started BIGINT,
    finished BIGINT,
    error TEXT,
    result TEXT
);
-- At most one queued or running job per (kind, key): delivery is at least once, work is once.
CREATE UNIQUE INDEX jobs_pending ON jobs (kind, key) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_claim ON jobs (state, not_before, id);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created BIGINT NOT NULL,
    revoked BIGINT
);
",
    ),
    (
        "the console: why-lines of findings, events by kind, high-EPSS findings",
        r"
ALTER TABLE findings ADD COLUMN why TEXT NOT NULL DEFAULT '';
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_at ON events (at);
CREATE INDEX findings_epss ON findings (epss, image_id);
CREATE INDEX images_recent ON images (analyzed_at, id);
",
    ),
];

/// The schema version this build writes: the number of migrations it knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn render(dialect: Dialect, text: &str) -> String {
    let (id, blob, real) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB", "REAL"),
        Dialect::Postgres => (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "BYTEA",
            "DOUBLE PRECISION",
        ),
    };
    text.replace("{ID}", id)
        .replace("{BLOB}", blob)
        .replace("{REAL}", real)
}

fn ensure_table(conn: &mut dyn Conn) -> Result<()> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
}

/// The version the store is at (0: empty).
pub(crate) fn current(conn: &mut dyn Conn) -> Result<i64> {
    let exists = match conn.dialect() {
        Dialect::Sqlite => conn.query_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            params![],
        )?,
        Dialect::Postgres => conn.query_one(
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
            params![],
        )?,
    };
    if exists.is_none() {
        return Ok(0);
    }
    Ok(conn
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
            params![],
        )?
        .map_or(0, |r| r.int(0)))
}

/// Applies what is missing; the versions applied now. Several processes may race here: on
/// PostgreSQL an advisory lock orders them, on SQLite the write lock does.
pub(crate) fn migrate(pool: &crate::sql::Pool, now: i64) -> Result<Vec<i64>> {
    let mut applied = Vec::new();
    pool.tx(|conn| {
        if conn.dialect() == Dialect::Postgres {
            // Held to the end of the transaction: one migrator at a time.
            conn.execute("SELECT pg_advisory_xact_lock(7419360)", params![])?;
        }
        ensure_table(conn)?;
        let at = current(conn)?;
        if at > SCHEMA_VERSION {
            return Err(Error::TooNew {
                found: at,
                known: SCHEMA_VERSION,
            });
        }
        for (i, (description, text)) in MIGRATIONS.iter().enumerate().skip(at as usize) {
            let version = i as i64 + 1;
            conn.batch(&render(conn.dialect(), text))
                .map_err(|e| Error::Migration {
                    version,
                    message: e.to_string(),
                })?;
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) \
                 VALUES ($1, $2, $3)",
                params![version, *description, now],
            )?;
            applied.push(version);
        }
        Ok(())
    })?;
    Ok(applied)
}

/// Every migration with whether it is applied.
pub(crate) fn list(conn: &mut dyn Conn) -> Result<Vec<(i64, String, Option<i64>)>> {
    let at = current(conn)?;
    let mut applied = std::collections::BTreeMap::new();
    if at > 0 {
        for r in conn.query(
            "SELECT version, applied_at FROM schema_migrations ORDER BY version",
            params![],
        )? {
            applied.insert(r.int(0), r.int(1));
        }
    }
    Ok(MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, (d, _))| {
            let v = i as i64 + 1;
            (v, (*d).to_owned(), applied.get(&v).copied())
        })
        .collect())
}
