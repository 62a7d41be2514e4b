//! The event log: what changed, when, about which image. The API lists it and streams it;
//! the notifier delivers it.

use serde::Serialize;

use crate::sql::{Conn, Value, params};
use crate::{Result, Store};

/// An event to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// What happened: `image.analyzed`, `findings.changed`, `decision.changed`,
    /// `signature.verified`, `scan.failed`, `host.reported`, …
    pub kind: String,
    /// The image it is about, if any.
    pub digest: Option<String>,
    /// A one-line summary for people.
    pub subject: String,
    /// Everything else, JSON.
    pub detail: serde_json::Value,
}

/// A stored event.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Its number; later events have larger numbers.
    pub id: i64,
    /// When (milliseconds since the epoch).
    pub at: i64,
    /// What happened.
    pub kind: String,
    /// The image, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The summary.
    pub subject: String,
    /// The detail.
    pub detail: serde_json::Value,
}

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only events after this number.
    pub after: i64,
    /// Only of these kinds (empty: all).
    pub kinds: Vec<String>,
    /// Only about this image.
    pub digest: Option<String>,
    /// At most this many (capped at 1,000).
    pub limit: i64,
}

/// Largest detail stored per event; longer ones are cut and say so.
const MAX_DETAIL: usize = 256 << 10;

impl Store {
    /// Appends events; their numbers.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>> {
        self.pool
            .tx(|conn| crate::Tx { conn }.append_events(events))
    }

    /// Events, oldest first.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let limit = filter.limit.clamp(1, 1000);
        let mut sql =
            "SELECT id, at, kind, digest, subject, detail FROM events WHERE id > $1".to_owned();
        let mut values: Vec<Value> = vec![filter.after.into()];
        if let Some(d) = &filter.digest {
            values.push(d.into());
            sql.push_str(&format!(" AND digest = ${}", values.len()));
        }
        if !filter.kinds.is_empty() {
            let mut list = Vec::new();
            for k in &filter.kinds {
                values.push(k.into());
                list.push(format!("${}", values.len()));
            }
            sql.push_str(&format!(" AND kind IN ({})", list.join(", ")));
        }
        values.push(limit.into());
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", values.len()));
        self.pool.with(|conn| {
            Ok(conn
                .query(&sql, &values)?
                .iter()
                .map(|r| Event {
                    id: r.int(0),
                    at: r.int(1),
                    kind: r.text(2),
                    digest: r.opt_text(3),
                    subject: r.text(4),
                    detail: serde_json::from_str(&r.text(5)).unwrap_or(serde_json::Value::Null),
                })
                .collect())
        })
    }

    /// One event.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn event(&self, id: i64) -> Result<Option<Event>> {
        let mut found = self.events(&EventFilter {
            after: id - 1,
            limit: 1,
            ..EventFilter::default()
        })?;
        Ok(found.pop().filter(|e| e.id == id))
    }

    /// The newest event's number (0: none).
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn last_event_id(&self) -> Result<i64> {
        self.pool.with(|conn| {
            Ok(conn
                .query_one(
                    "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM events",
                    params![],
                )?
                .map_or(0, |r| r.int(0)))
        })
    }
}

impl crate::Tx<'_> {
    /// Appends events; their numbers.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn append_events(&mut self, events: &[NewEvent]) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let at = crate::now_ms();
        let conn: &mut dyn Conn = &mut *self.conn;
        let mut ids = Vec::with_capacity(events.len());
        for e in events {
            let mut detail = e.detail.to_string();
            if detail.len() > MAX_DETAIL {
                detail = serde_json::json!({
                    "truncated": true,
                    "bytes": detail.len(),
                })
                .to_string();
            }
            let subject: String = e.subject.chars().take(1000).collect();
            let r = conn.query_one(
                "INSERT INTO events (at, kind, digest, subject, detail) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                params![at, e.kind.as_str(), e.digest.clone(), subject, detail],
            )?;
            ids.push(r.map_or(0, |r| r.int(0)));
        }
        Ok(ids)
    }
}
