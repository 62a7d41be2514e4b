//! Times [`Matcher::match_packages`] on a 5,000-package input built from the OSV snapshots:
//! `cargo run --release -p palisade-vulndb --example match_bench -- ../shared/feeds [DB]`.
//!
//! The database is built once from the PyPI, Go and crates.io `all.zip` exports (into a
//! temporary directory unless `DB` is given). The input takes every (ecosystem, package)
//! named in those feeds, up to 5,000, each at an old version (the first version the
//! advisory lists, else a low version of the ecosystem's scheme). It prints the median of
//! five `match_packages` runs, after one warm-up run.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use palisade_catalog::{Ecosystem, Package};
use palisade_vulndb::{Database, DatabaseBuilder, Limits, Matcher, Timestamp, import_osv};

/// The allocator of the `palisade` binary, so the figure is the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PACKAGES: usize = 5_000;
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let feeds = PathBuf::from(args.next().ok_or("usage: match_bench FEEDS_DIR [DB]")?);
    let tmp = tempfile::tempdir()?;
    let db_path = args
        .next()
        .map_or_else(|| tmp.path().join("vuln.db"), PathBuf::from);

    // (ecosystem, name) → an old version, over every package the feeds name.
    let mut names: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    let mut builder = DatabaseBuilder::new(&db_path);
    let at = Timestamp::parse("2026-09-01T00:00:00Z")?;
    for eco in ["PyPI", "Go", "crates.io"] {
        let import = import_osv(
            &feeds.join("osv").join(eco).join("all.zip"),
            &Limits::default(),
        )?;
        for a in &import.advisories {
            for e in &a.affected {
                if e.ecosystem != eco {
                    continue;
                }
                let fallback = match (eco, e.name.as_str()) {
                    ("PyPI", _) => "0.1",
                    ("Go", "stdlib" | "toolchain") => "go1.12",
                    ("Go", _) => "v0.0.1",
                    _ => "0.1.0",
                };
                let version = e.versions.versions.first().map_or(fallback, String::as_str);
                names
                    .entry((eco, e.name.clone()))
                    .or_insert_with(|| version.to_owned());
            }
        }
        builder.add(import, at.clone());
    }
    builder.finish()?;
    eprintln!(
        "{} distinct (ecosystem, package) pairs in the feeds; using {}",
        names.len(),
        names.len().min(PACKAGES)
    );

    // Spread the sample over the three ecosystems rather than taking the first 5,000 in order.
    let step = (names.len() as f64 / PACKAGES as f64).max(1.0);
    let all: Vec<_> = names.into_iter().collect();
    let mut packages = Vec::new();
    let mut i = 0.0_f64;
    while (i as usize) < all.len() && packages.len() < PACKAGES {
        let ((eco, name), version) = &all[i as usize];
        packages.push(package(eco, name, version));
        i += step;
    }

    // The feeds name fewer than 5,000 packages: fill up with the same names at another old
    // version, as a second image would carry them.
    let mut again = all.iter().cycle();
    while packages.len() < PACKAGES {
        let Some(((eco, name), _)) = again.next() else {
            break;
        };
        let version = match (*eco, name.as_str()) {
            ("PyPI", _) => "0.0.1",
            ("Go", "stdlib" | "toolchain") => "go1.11",
            ("Go", _) => "v0.0.0-20180101000000-000000000000",
            _ => "0.0.1",
        };
        packages.push(package(eco, name, version));
    }

    let db = Database::open_read_only(&db_path)?;
    if std::env::var_os("MATCH_BENCH_LOOKUPS").is_some() {
        let start = Instant::now();
        let mut n = 0;
        for p in &packages {
            let eco = match p.ecosystem {
                Ecosystem::Python => "PyPI",
                Ecosystem::GoModule => "Go",
                _ => "crates.io",
            };
            n += db.match_candidates(eco, &p.name)?.len();
        }
        eprintln!(
            "lookups alone: {n} advisories decoded in {:.1?}",
            start.elapsed()
        );
    }
    let matcher = Matcher::new(&db);
    let warm = matcher.match_packages(&packages, None)?;
    let mut times: Vec<Duration> = Vec::new();
    let mut cpu: Vec<Duration> = Vec::new();
    for _ in 0..RUNS {
        let (start, start_cpu) = (Instant::now(), thread_cpu_time());
        let report = matcher.match_packages(&packages, None)?;
        times.push(start.elapsed());
        if let (Some(a), Some(b)) = (start_cpu, thread_cpu_time()) {
            cpu.push(b.saturating_sub(a));
        }
        assert_eq!(report, warm, "runs disagree");
    }
    cpu.sort();
    if cpu.len() == RUNS {
        // On a busy machine wall time includes waiting for a core; on-CPU time does not.
        eprintln!(
            "on-CPU time (/proc/thread-self/schedstat): median {:.1} ms",
            cpu[RUNS / 2].as_secs_f64() * 1e3
        );
    }
    times.sort();
    let median = times[RUNS / 2];
    eprintln!(
        "runs: {}",
        times
            .iter()
            .map(|t| format!("{:.1} ms", t.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "match_packages: {} packages, {} findings, {} skipped: median {:.1} ms of {RUNS} (target < 100 ms)",
        packages.len(),
        warm.findings.len(),
        warm.skipped.len(),
        median.as_secs_f64() * 1e3
    );
    Ok(())
}

fn package(eco: &str, name: &str, version: &str) -> Package {
    let (ecosystem, purl_type) = match eco {
        "PyPI" => (Ecosystem::Python, "pypi"),
        "Go" => (Ecosystem::GoModule, "golang"),
        _ => (Ecosystem::RustCrate, "cargo"),
    };
    Package {
        ecosystem,
        name: name.to_owned(),
        version: version.to_owned(),
        purl: format!("pkg:{purl_type}/{name}@{version}"),
        arch: None,
        source: None,
        licenses: Vec::new(),
        locations: Vec::new(),
        layer: None,
    }
}

/// This thread's time on a CPU so far (Linux `/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}
