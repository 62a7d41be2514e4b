//! The little SQL layer under the store: one connection trait with a SQLite and a PostgreSQL
//! implementation, values as one enum, and a pool. The store's queries are written once, with
//! `$1`-style placeholders and the SQL both databases share; the few places where they differ
//! ask [`Dialect`].

use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};

/// Which database a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// One SQL value, as bound and as read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a parameter list: `params![a, b]`.
macro_rules! params {
    () => { &[] as &[$crate::sql::Value] };
    ($($v:expr),+ $(,)?) => { &[$($crate::sql::Value::from($v)),+] as &[$crate::sql::Value] };
}
pub(crate) use params;

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    pub(crate) fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or(0)
    }
    pub(crate) fn opt_int(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Some(*v),
            Some(Value::Real(v)) => Some(*v as i64),
            _ => None,
        }
    }
    pub(crate) fn opt_real(&self, i: usize) -> Option<f64> {
        match self.0.get(i) {
            Some(Value::Real(v)) => Some(*v),
            Some(Value::Int(v)) => Some(*v as f64),
            _ => None,
        }
    }
    pub(crate) fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }
    pub(crate) fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Some(v.clone()),
            _ => None,
        }
    }
    pub(crate) fn blob(&self, i: usize) -> Option<&[u8]> {
        match self.0.get(i) {
            Some(Value::Blob(v)) => Some(v),
            _ => None,
        }
    }
}

/// A connection to either database.
pub(crate) trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query; every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Runs statements without parameters (migrations, `BEGIN`).
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Whether the connection can still be used after an error.
    fn healthy(&mut self) -> bool;

    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite

/// `$1` → `?1`: SQLite numbers `$1` by first appearance, `?1` by its digits.
fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let bytes = sql.as_bytes();
    let mut quoted = false;
    for (i, c) in sql.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) struct Sqlite(rusqlite::Connection);

impl Sqlite {
    pub(crate) fn open(path: &std::path::Path, busy: Duration) -> Result<Sqlite> {
        let conn = rusqlite::Connection::open(path).map_err(|e| Error::Open {
            url: path.display().to_string(),
            message: e.to_string(),
        })?;
        conn.busy_timeout(busy)?;
        // WAL: readers never wait for the writer. NORMAL is durable across a process crash,
        // which is what a server killed with -9 needs; the store is not the system of record
        // for anything a registry or cluster cannot tell again.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Sqlite(conn))
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

impl Conn for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql))?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn healthy(&mut self) -> bool {
        if !self.0.is_autocommit() {
            // An error inside a transaction that was not rolled back: do it now.
            return self.0.execute_batch("ROLLBACK").is_ok();
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

pub(crate) struct Postgres(postgres::Client);

impl Postgres {
    pub(crate) fn connect(url: &str, timeout: Duration, statement: Duration) -> Result<Postgres> {
        let mut config: postgres::Config = url.parse().map_err(|e| Error::Open {
            url: crate::redact(url),
            message: format!("not a PostgreSQL connection string: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        // Every statement has a deadline, whatever the server's own setting.
        let ms = statement.as_millis();
        config.options(&format!("-c statement_timeout={ms} -c lock_timeout={ms}"));
        config.application_name("palisade");
        let client = config.connect(postgres::NoTls).map_err(|e| Error::Open {
            url: crate::redact(url),
            message: e.to_string(),
        })?;
        Ok(Postgres(client))
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                _ => Err(format!("an integer for a {ty} parameter").into()),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT8 => v.to_sql(ty, out),
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => Err(format!("a real for a {ty} parameter").into()),
            },
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl Conn for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let stmt = self.0.prepare(sql)?;
        Ok(self.0.execute(&stmt, &refs)?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        use postgres::types::Type;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let rows = self.0.query(sql, &refs)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let ty = col.type_();
                let v = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)?
                        .map(|v| Value::Int(i64::from(v)))
                } else if *ty == Type::INT2 {
                    row.try_get::<_, Option<i16>>(i)?
                        .map(|v| Value::Int(i64::from(v)))
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)?
                        .map(|v| Value::Int(i64::from(v)))
                } else if *ty == Type::FLOAT8 {
                    row.try_get::<_, Option<f64>>(i)?.map(Value::Real)
                } else if *ty == Type::FLOAT4 {
                    row.try_get::<_, Option<f32>>(i)?
                        .map(|v| Value::Real(f64::from(v)))
                } else if *ty == Type::NUMERIC {
                    return Err(Error::Internal(format!(
                        "column {} is NUMERIC: cast it in the query",
                        col.name()
                    )));
                } else if *ty == Type::BYTEA {
                    row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
                } else {
                    row.try_get::<_, Option<String>>(i)?.map(Value::Text)
                };
                values.push(v.unwrap_or(Value::Null));
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.batch_execute(sql)?)
    }

    fn healthy(&mut self) -> bool {
        !self.0.is_closed() && self.0.batch_execute("ROLLBACK").is_ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Pool

type Connect = Box<dyn Fn() -> Result<Box<dyn Conn>> + Send + Sync>;

/// Connections made on demand, kept for reuse up to `max_idle`.
pub(crate) struct Pool {
    pub(crate) dialect: Dialect,
    connect: Connect,
    /// The idle connections, and how many are open in all (idle or in use).
    state: Mutex<(Vec<Box<dyn Conn>>, usize)>,
    freed: std::sync::Condvar,
    max_idle: usize,
    max_open: usize,
    /// How long a caller waits for a connection when `max_open` are in use.
    wait: Duration,
}

impl Pool {
    pub(crate) fn new(
        dialect: Dialect,
        max_idle: usize,
        max_open: usize,
        wait: Duration,
        connect: Connect,
    ) -> Pool {
        Pool {
            dialect,
            connect,
            state: Mutex::new((Vec::new(), 0)),
            freed: std::sync::Condvar::new(),
            max_idle,
            max_open: max_open.max(1),
            wait,
        }
    }

    /// Adds a connection made elsewhere (the first one, made to fail early).
    pub(crate) fn put(&self, conn: Box<dyn Conn>) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1 += 1;
        self.give_back(conn, false);
    }

    /// An idle connection, a new one while fewer than `max_open` are open, or else the first
    /// one given back within `wait`.
    fn checkout(&self) -> Result<Box<dyn Conn>> {
        let deadline = std::time::Instant::now() + self.wait;
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(c) = state.0.pop() {
                return Ok(c);
            }
            if state.1 < self.max_open {
                state.1 += 1;
                drop(state);
                return (self.connect)().inspect_err(|_| self.closed());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Busy {
                    open: self.max_open,
                    waited: self.wait,
                });
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// A connection was dropped: room for another.
    fn closed(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.1 = state.1.saturating_sub(1);
        drop(state);
        self.freed.notify_one();
    }

    fn give_back(&self, mut conn: Box<dyn Conn>, failed: bool) {
        if failed && !conn.healthy() {
            drop(conn);
            self.closed();
            return;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.0.len() < self.max_idle {
            state.0.push(conn);
            drop(state);
            self.freed.notify_one();
        } else {
            drop(state);
            drop(conn);
            self.closed();
        }
    }

    /// Runs `f` on a connection (outside any transaction).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.checkout()?;
        let out = f(conn.as_mut());
        self.give_back(conn, out.is_err());
        out
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.checkout()?;
        let begin = match self.dialect {
            // IMMEDIATE takes the write lock at once, so two writers never both read and then
            // fail to upgrade (SQLITE_BUSY without waiting).
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        let out = conn.batch(begin).and_then(|()| {
            let value = f(conn.as_mut())?;
            conn.batch("COMMIT")?;
            Ok(value)
        });
        if out.is_err() {
            let _ = conn.batch("ROLLBACK");
        }
        self.give_back(conn, out.is_err());
        out
    }
}

/// Inserts `rows` (each `columns.len()` values) in statements of many rows each: one round
/// trip per few hundred rows instead of one per row. `tail` follows the VALUES list
/// (`ON CONFLICT DO NOTHING`).
pub(crate) fn insert_many(
    conn: &mut dyn Conn,
    table_and_columns: &str,
    width: usize,
    values: &[Value],
    tail: &str,
) -> Result<()> {
    // SQLite allows 32,766 parameters, PostgreSQL 65,535.
    const MAX_PARAMS: usize = 30_000;
    if width == 0 || values.is_empty() {
        return Ok(());
    }
    debug_assert_eq!(values.len() % width, 0);
    let per = (MAX_PARAMS / width).max(1);
    for chunk in values.chunks(per * width) {
        let rows = chunk.len() / width;
        let mut sql = format!("INSERT INTO {table_and_columns} VALUES ");
        let mut n = 1;
        for r in 0..rows {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push(',');
                }
                sql.push('$');
                sql.push_str(&n.to_string());
                n += 1;
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        conn.execute(&sql, chunk)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_question_marks_outside_strings() {
        assert_eq!(
            sqlite_placeholders("SELECT $2, '$1', $10 FROM t WHERE a = $1"),
            "SELECT ?2, '$1', ?10 FROM t WHERE a = ?1"
        );
    }
}
