//! Times [`Timestamp::parse`] and sorting by instant on 1,000,000 generated feed timestamps:
//! `cargo run --release -p palisade-vulndb --example timestamp_bench`.
//!
//! The inputs mix the spellings the feeds use (`…Z`, six fraction digits, `+02:00` offsets,
//! lowercase `t`/`z`) and are the same on every run (a fixed linear congruential sequence).
//! It prints the median of five runs, after one warm-up run, in nanoseconds per timestamp.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use palisade_vulndb::Timestamp;

/// The allocator of the `palisade` binary, so the figure is the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COUNT: usize = 1_000_000;
const RUNS: usize = 5;

fn inputs() -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    (0..COUNT)
        .map(|i| {
            let (y, mo, d) = (1990 + next(40), 1 + next(12), 1 + next(28));
            let (h, mi, s) = (next(24), next(60), next(60));
            match i % 4 {
                0 => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
                1 => format!(
                    "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
                    next(1_000_000)
                ),
                2 => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+02:00"),
                _ => format!("{y:04}-{mo:02}-{d:02}t{h:02}:{mi:02}:{s:02}z"),
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let texts = inputs();
    let mut parse = Vec::new();
    let mut sort = Vec::new();
    for run in 0..=RUNS {
        let t0 = Instant::now();
        let mut parsed = texts
            .iter()
            .map(|t| Timestamp::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let t1 = Instant::now();
        parsed.sort();
        let t2 = Instant::now();
        std::hint::black_box(&parsed);
        if run > 0 {
            parse.push(t1 - t0);
            sort.push(t2 - t1);
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / COUNT as f64;
    println!(
        "timestamp_bench: {COUNT} timestamps, median of {RUNS}: parse {:.1} ns each, sort {:.1} ns each",
        per(median(parse)),
        per(median(sort))
    );
    Ok(())
}
