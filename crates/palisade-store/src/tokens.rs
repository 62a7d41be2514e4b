//! API tokens: stored as SHA-256 hashes, each with a role. The secret is shown once, when it
//! is made; the store cannot give it back.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::sql::params;
use crate::{Error, Result, Store};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything but secrets.
    Read,
    /// Read, and change: issue scans, revoke tokens, record hosts and CI results.
    Admin,
}

impl Role {
    /// `read` or `admin`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    /// Parses `read` or `admin` (any case).
    ///
    /// # Errors
    /// Another word.
    pub fn parse(text: &str) -> Result<Role> {
        match text.to_ascii_lowercase().as_str() {
            "read" | "read-only" | "readonly" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::Limit(format!(
                "role {text:?}: expected `read` or `admin`"
            ))),
        }
    }
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    /// Its public id (the secret's first characters name it in logs).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made (seconds since the epoch).
    pub created: i64,
    /// When it was revoked.
    pub revoked: Option<i64>,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::Internal(format!("/dev/urandom: {e}")))?;
    Ok(hex::encode(buf))
}

impl Store {
    /// Makes a token; its description and its secret (`pal_<id>_<secret>`), shown only now.
    ///
    /// # Errors
    /// The store cannot be written, or the name is empty or over 200 bytes.
    pub fn create_token(&self, name: &str, role: Role) -> Result<(TokenInfo, String)> {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(Error::Limit(
                "a token needs a name of 1 to 200 bytes (who or what uses it)".to_owned(),
            ));
        }
        let id = random_hex(6)?;
        let secret = format!("pal_{id}_{}", random_hex(24)?);
        let created = crate::now();
        self.pool.with(|conn| {
            conn.execute(
                "INSERT INTO tokens (id, name, hash, role, created) VALUES ($1, $2, $3, $4, $5)",
                params![id.as_str(), name, hash(&secret), role.as_str(), created],
            )
        })?;
        Ok((
            TokenInfo {
                id,
                name: name.to_owned(),
                role,
                created,
                revoked: None,
            },
            secret,
        ))
    }

    /// The token a secret belongs to, unless unknown or revoked.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn token(&self, secret: &str) -> Result<Option<TokenInfo>> {
        if secret.len() > 256 {
            return Ok(None);
        }
        let row = self.pool.with(|conn| {
            conn.query_one(
                "SELECT id, name, role, created, revoked FROM tokens \
                 WHERE hash = $1 AND revoked IS NULL",
                params![hash(secret)],
            )
        })?;
        Ok(row.map(|r| TokenInfo {
            id: r.text(0),
            name: r.text(1),
            role: Role::parse(&r.text(2)).unwrap_or(Role::Read),
            created: r.int(3),
            revoked: r.opt_int(4),
        }))
    }

    /// Every token, newest first.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = self.pool.with(|conn| {
            conn.query(
                "SELECT id, name, role, created, revoked FROM tokens ORDER BY created DESC, id",
                params![],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.text(0),
                name: r.text(1),
                role: Role::parse(&r.text(2)).unwrap_or(Role::Read),
                created: r.int(3),
                revoked: r.opt_int(4),
            })
            .collect())
    }

    /// Revokes the token with public id `id`; whether one was revoked now.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn revoke_token(&self, id: &str) -> Result<bool> {
        let now = crate::now();
        self.pool.with(|conn| {
            Ok(conn.execute(
                "UPDATE tokens SET revoked = $2 WHERE id = $1 AND revoked IS NULL",
                params![id, now],
            )? == 1)
        })
    }
}
