//! `palisade store`: the server's store — migrations, status and API tokens. The store is
//! the one `palisade serve` uses: `--store LOCATION`, or the `store.location` of a server
//! configuration given with `--config`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use palisade_store::{OpenOptions, Role, Store};

use crate::exit;

#[derive(Args, Debug)]
#[command(after_help = "Exit codes: 0 done, 2 error. See docs/api.md and docs/scale.md.")]
pub(crate) struct StoreArgs {
    /// The store: `sqlite:PATH`, a path, or `postgres://…` (default: the server config's
    /// `store.location`, else $XDG_DATA_HOME/palisade/store.db).
    #[arg(long, global = true, value_name = "LOCATION", env = "PALISADE_STORE")]
    store: Option<String>,

    /// Read the store's location from this `palisade serve` configuration.
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        env = "PALISADE_SERVE_CONFIG"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Subcommand, Debug)]
enum StoreCommand {
    /// Apply the migrations the store misses (safe to run from several replicas at once).
    Migrate,
    /// Show the schema version, the migrations and the size of each table.
    Status {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Manage API tokens (bearer tokens for /api/v1, stored hashed).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Make a token; its secret is printed once and cannot be shown again.
    Create {
        /// Who or what uses it (`ci`, `console-alice`).
        #[arg(long)]
        name: String,
        /// `read` (everything but secrets) or `admin` (also queue scans).
        #[arg(long, default_value = "read")]
        role: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id (`palisade store token list` shows it).
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn location(args: &StoreArgs) -> Result<String> {
    if let Some(s) = &args.store {
        return Ok(s.clone());
    }
    if let Some(c) = &args.config {
        let config = palisade_server::config::ServeConfig::load(c)?;
        if let Some(s) = config.store {
            return s.location_or_default().map_err(anyhow::Error::msg);
        }
    }
    Ok(palisade_store::default_location()
        .context("no --store, and neither XDG_DATA_HOME nor HOME is set")?
        .display()
        .to_string())
}

pub(crate) fn run(args: &StoreArgs) -> Result<u8> {
    let location = location(args)?;
    let mut out = std::io::stdout().lock();
    match &args.command {
        StoreCommand::Migrate => {
            let (store, applied) = Store::migrate(&location, &OpenOptions::default())?;
            if applied.is_empty() {
                writeln!(
                    out,
                    "{}: already at schema version {}",
                    store.location(),
                    palisade_store::SCHEMA_VERSION
                )?;
            } else {
                writeln!(
                    out,
                    "{}: applied migration{} {}; now at schema version {}",
                    store.location(),
                    if applied.len() == 1 { "" } else { "s" },
                    applied
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    palisade_store::SCHEMA_VERSION
                )?;
            }
        }
        StoreCommand::Status { json } => {
            let store = match Store::open(&location, &OpenOptions::default()) {
                Ok(s) => s,
                Err(palisade_store::Error::NotMigrated { found, needed }) => {
                    bail!(
                        "{location}: at schema version {found}, this build needs {needed}: run `palisade store migrate`"
                    )
                }
                Err(e) => return Err(e.into()),
            };
            let status = store.status()?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &status)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "store:    {} ({})",
                    status.location,
                    match status.backend {
                        palisade_store::Backend::Sqlite => "SQLite",
                        palisade_store::Backend::Postgres => "PostgreSQL",
                    }
                )?;
                writeln!(
                    out,
                    "schema:   version {} (this build: {})",
                    status.schema_version, status.schema_known
                )?;
                for (v, d, at) in &status.migrations {
                    writeln!(
                        out,
                        "  {v:>3}  {}  {d}",
                        if at.is_some() { "applied" } else { "pending" }
                    )?;
                }
                for (table, n) in &status.counts {
                    writeln!(out, "{table:<12} {n}")?;
                }
            }
        }
        StoreCommand::Token(t) => {
            let store = Store::open(&location, &OpenOptions::default())?;
            match t {
                TokenCommand::Create { name, role } => {
                    let role = Role::parse(role)?;
                    let (info, secret) = store.create_token(name, role)?;
                    writeln!(out, "{secret}")?;
                    let mut err = std::io::stderr().lock();
                    writeln!(
                        err,
                        "palisade: token {} ({}, {}) created; the secret above is shown only now",
                        info.id,
                        info.name,
                        info.role.as_str()
                    )?;
                }
                TokenCommand::List => {
                    for t in store.tokens()? {
                        writeln!(
                            out,
                            "{}  {:<6} {:<24} {}",
                            t.id,
                            t.role.as_str(),
                            t.name,
                            if t.revoked.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                        )?;
                    }
                }
                TokenCommand::Revoke { id } => {
                    if !store.revoke_token(id)? {
                        bail!("no active token with id {id:?}");
                    }
                    writeln!(out, "revoked {id}")?;
                }
            }
        }
    }
    Ok(exit::OK)
}
