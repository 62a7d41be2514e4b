//! The starter policy written by `palisade policy init`.

/// A commented starter policy: every section with sensible defaults (see `src/starter.yaml`).
pub const STARTER_POLICY: &str = include_str!("starter.yaml");
