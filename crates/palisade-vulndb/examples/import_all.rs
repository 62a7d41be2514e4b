//! Times importing every snapshot in `../shared/feeds` and building the database:
//! `cargo run --release -p palisade-vulndb --example import_all -- ../shared/feeds /tmp/v.db`.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Instant;

use palisade_vulndb::{DatabaseBuilder, Limits, Timestamp, import_alpine_secdb, import_osv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let feeds = PathBuf::from(args.next().ok_or("usage: import_all FEEDS_DIR DB")?);
    let db = PathBuf::from(args.next().ok_or("usage: import_all FEEDS_DIR DB")?);
    let start = Instant::now();
    let limits = Limits::default();
    let mut builder = DatabaseBuilder::new(&db);
    let at = Timestamp::parse("2026-09-01T00:00:00Z")?;
    for eco in ["PyPI", "crates.io", "Go"] {
        builder.add(
            import_osv(&feeds.join("osv").join(eco).join("all.zip"), &limits)?,
            at.clone(),
        );
    }
    builder.add(
        import_alpine_secdb(&feeds.join("alpine-secdb"), &limits)?,
        at,
    );
    let imported = start.elapsed();
    let status = builder.finish()?;
    eprintln!(
        "imported in {:.2?}, database written in {:.2?} total: {} advisories, {} feeds",
        imported,
        start.elapsed(),
        status.advisories,
        status.feeds.len()
    );
    Ok(())
}
