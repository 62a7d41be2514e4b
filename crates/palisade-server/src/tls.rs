//! Placeholder until the TLS module lands (branch h-http).
use std::path::PathBuf;

/// Client-certificate check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// No check.
    None,
    /// Checked when presented.
    Optional,
    /// Required.
    Required,
}

/// Certificate files.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Key (PEM).
    pub key: PathBuf,
    /// Client CA.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Client check.
    pub client_auth: ClientAuth,
}
