//! The store half of `perf/store-bench.sh` (issue 16, acceptance 5): a fleet of stored images
//! made from the testbed's real package lists, written through the same calls the server
//! makes, then the re-match and fleet-query figures measured on it. Run by the script; by
//! hand:
//!
//! ```text
//! cargo run --release -p palisade-server --example store_bench -- \
//!     --testbed target/testbed --policy policy.yaml --db vuln.db --db-delta vuln-delta.db \
//!     --images 10000 --store sqlite:/tmp/store.db --store 'host=/tmp/pg port=5432 …'
//! ```
//!
//! The population: `--images` variants of the testbed's `app` and `base` catalogs (read with
//! the scanner's own cataloguer), every Python, npm and Debian package's version perturbed
//! per image (kept, or an older minor or patch release), and one extra Python package
//! `palisade-bench-NN` (NN = image number mod 100) so that one name is in 1% of the images.
//! Each is matched against `--db`, decided with `--policy` and stored with
//! `Tx::put_analysis`, `Tx::put_name` and `Tx::put_decisions` in batches (setup, timed but
//! not a target). `--db-delta` is `--db` plus one advisory for `palisade-bench-42`.
//!
//! Then, per store: (a) `Fleet::rematch` from `--db` to `--db-delta` (the stored
//! fingerprints find the 1%), (b) a full `Fleet::rematch` (no stored fingerprints), (c) 500
//! `Store::fleet` queries for ids found in few to many images, (d) `Store::catalog_size`.
//! Each figure is printed next to its target with the ratio figure/target.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_catalog::{Catalog, Ecosystem, Package};
use palisade_server::fleet::{Facts, Fleet, db_identity, finding_rows, lookup_keys};
use palisade_server::state::{Loaded, State};
use palisade_store::{AnalysisRecord, DecisionRow, OpenOptions, Store};
use sha2::{Digest as _, Sha256};

struct Args {
    testbed: PathBuf,
    policy: PathBuf,
    db: PathBuf,
    db_delta: PathBuf,
    images: usize,
    stores: Vec<String>,
    queries: usize,
}

fn args() -> Args {
    let mut a = Args {
        testbed: PathBuf::from("target/testbed"),
        policy: PathBuf::new(),
        db: PathBuf::new(),
        db_delta: PathBuf::new(),
        images: 10_000,
        stores: Vec::new(),
        queries: 500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--testbed" => a.testbed = value.into(),
            "--policy" => a.policy = value.into(),
            "--db" => a.db = value.into(),
            "--db-delta" => a.db_delta = value.into(),
            "--images" => a.images = value.parse().unwrap_or_else(|_| die("--images N")),
            "--queries" => a.queries = value.parse().unwrap_or_else(|_| die("--queries N")),
            "--store" => a.stores.push(value),
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    if a.stores.is_empty() || a.db.as_os_str().is_empty() || a.db_delta.as_os_str().is_empty() {
        die("--store, --db, --db-delta and --policy are needed");
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("store_bench: {msg}");
    std::process::exit(2)
}

/// splitmix64: deterministic per image and package.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `version` with one numeric component lowered (or kept), e.g. `2.31.0` → `2.29.0`;
/// for Debian only the upstream part (before the last `-`) is touched.
fn perturb(version: &str, r: u64) -> String {
    if r % 10 < 3 {
        return version.to_owned();
    }
    let (head, tail) = match version.rfind('-') {
        Some(i) => version.split_at(i),
        None => (version, ""),
    };
    let (epoch, upstream) = match head.find(':') {
        Some(i) => head.split_at(i + 1),
        None => ("", head),
    };
    let mut parts: Vec<String> = upstream.split('.').map(str::to_owned).collect();
    // The minor (or patch) component, when numeric.
    let which = if parts.len() >= 3 && r.is_multiple_of(3) {
        2
    } else {
        1
    };
    let last = parts.len() - 1;
    let Some(p) = parts.get_mut(which.min(last)) else {
        return version.to_owned();
    };
    let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
    let Ok(n) = digits.parse::<u64>() else {
        return version.to_owned();
    };
    let down = (r >> 8) % 4 + 1;
    let new = n.saturating_sub(down);
    *p = format!("{new}{}", &p[digits.len()..]);
    format!("{epoch}{}{tail}", parts.join("."))
}

fn variant(base: &Catalog, i: usize) -> Catalog {
    let mut c = base.clone();
    for (k, p) in c.packages.iter_mut().enumerate() {
        if !matches!(
            p.ecosystem,
            Ecosystem::Python | Ecosystem::Npm | Ecosystem::Deb
        ) {
            continue;
        }
        let r = mix(((i as u64) << 20) ^ k as u64);
        let v = perturb(&p.version, r);
        if v != p.version {
            p.purl = p
                .purl
                .replacen(&format!("@{}", p.version), &format!("@{v}"), 1);
            p.version = v;
        }
    }
    let name = format!("palisade-bench-{:02}", i % 100);
    let version = format!("1.0.{}", i % 7);
    let template = c
        .packages
        .iter()
        .find(|p| p.ecosystem == Ecosystem::Python)
        .cloned();
    if let Some(mut p) = template {
        p.purl = format!("pkg:pypi/{name}@{version}");
        p.name = name;
        p.version = version;
        p.licenses = vec!["MIT".into()];
        c.packages.push(p);
    } else {
        c.packages.push(Package {
            ecosystem: Ecosystem::Python,
            purl: format!("pkg:pypi/{name}@{version}"),
            name,
            version,
            arch: None,
            source: None,
            licenses: vec!["MIT".into()],
            locations: Vec::new(),
            layer: None,
        });
    }
    c
}

fn digest_of(i: usize) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!("store-bench image {i}")))
    )
}

struct Built {
    record: AnalysisRecord,
    repository: String,
    tag: String,
    decisions: Vec<DecisionRow>,
}

fn build(
    loaded: &Loaded,
    identity: &str,
    scanner: &palisade_scan::Scanner<'_>,
    base: &(String, Catalog),
    i: usize,
) -> Built {
    let catalog = variant(&base.1, i);
    let digest = digest_of(i);
    let repository = format!("bench/{}-{}", base.0, i % 500);
    let tag = format!("v{i}");
    let evaluated = scanner
        .evaluate_catalog(&catalog)
        .unwrap_or_else(|e| die(&format!("matching image {i}: {e}")));
    let vulns = palisade_gate::vuln_input(evaluated);
    let findings = finding_rows(Some(&vulns));
    let now = palisade_gate::now_utc();
    let mut facts = Facts::default();
    let mut decisions = Vec::new();
    for env in loaded.policy.environments() {
        let mut input = palisade_policy::Input {
            now: now.clone(),
            environment: env.to_owned(),
            vulnerabilities: Some(vulns.clone()),
            ..palisade_policy::Input::default()
        };
        input.image.registry = "registry.bench".into();
        input.image.repository = repository.clone();
        input.image.tag = Some(tag.clone());
        input.image.digest = Some(digest.clone());
        input.image.reference = format!("registry.bench/{repository}:{tag}");
        let e = loaded
            .policy
            .evaluate(&input)
            .unwrap_or_else(|e| die(&format!("policy: {e}")));
        decisions.push(DecisionRow {
            repository: repository.clone(),
            environment: env.to_owned(),
            verdict: serde_json::to_value(e.decision.decision)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "deny".into()),
            policy_id: loaded.policy_id.clone(),
            db_identity: identity.to_owned(),
            decided_at: palisade_store::now(),
            reasons: serde_json::to_string(&e.decision.reasons).unwrap_or_else(|_| "[]".into()),
        });
        facts.inputs.insert(env.to_owned(), input);
    }
    let record = AnalysisRecord {
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        platform: "linux/amd64".into(),
        created: None,
        db_identity: identity.to_owned(),
        policy_id: loaded.policy_id.clone(),
        catalog: serde_json::to_vec(&catalog).unwrap_or_default(),
        facts: serde_json::to_vec(&facts).unwrap_or_default(),
        packages: catalog.packages.len() as i64,
        keys: lookup_keys(&catalog),
        findings,
    };
    Built {
        record,
        repository,
        tag,
        decisions,
    }
}

fn write(store: &Store, batch: &[Built]) {
    store
        .transaction(|tx| {
            for b in batch {
                tx.put_analysis(&b.record)?;
                tx.put_name(
                    &b.record.digest,
                    "registry.bench",
                    &b.repository,
                    &b.tag,
                    None,
                )?;
                tx.put_decisions(&b.record.digest, &b.decisions)?;
            }
            Ok::<_, palisade_store::Error>(())
        })
        .unwrap_or_else(|e| die(&format!("writing {}: {e}", store.location())));
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn line(what: &str, figure: f64, unit: &str, target: f64) {
    let ratio = figure / target;
    let verdict = if figure <= target { "PASS" } else { "FAIL" };
    println!(
        "  {what:<58} {figure:>9.3} {unit:<3} target <= {target} {unit:<3} ratio {ratio:>6.3}  {verdict}"
    );
}

fn main() {
    let a = args();
    let started = Instant::now();
    let options = palisade_scan::SourceOptions {
        no_cache: true,
        ..palisade_scan::SourceOptions::default()
    };
    let mut bases = Vec::new();
    for name in ["app", "base"] {
        let source = format!("oci-dir:{}/oci:{name}", a.testbed.display());
        let image = palisade_scan::open_image(&source, &options)
            .unwrap_or_else(|e| die(&format!("{source}: {e}")));
        let catalog = palisade_scan::catalog_image(&image, &options, &palisade_catalog::NoProgress)
            .unwrap_or_else(|e| die(&format!("{source}: {e}")));
        eprintln!(
            "[store-bench] {source}: {} packages",
            catalog.packages.len()
        );
        bases.push((name.to_owned(), catalog));
    }
    let state = Arc::new(State::default());
    state.install(
        Loaded::load(&a.policy, Some(&a.db)).unwrap_or_else(|e| die(&format!("policy: {e}"))),
    );
    let loaded = state.current().unwrap_or_else(|| die("no policy"));
    let identity = db_identity(&a.db).unwrap_or_else(|e| die(&e));
    let stores: Vec<Arc<Store>> = a
        .stores
        .iter()
        .map(|loc| {
            let (store, _) = Store::migrate(loc, &OpenOptions::default())
                .unwrap_or_else(|e| die(&format!("{loc}: {e}")));
            Arc::new(store)
        })
        .collect();

    // Population: matched on every core, written in batches of 100 images per transaction.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Built>(256);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut ids: HashMap<String, usize> = HashMap::new();
    let (mut packages, mut findings) = (0i64, 0usize);
    let mut write_time = vec![Duration::ZERO; stores.len()];
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, loaded, identity, bases, db, options) =
                (&next, &loaded, &identity, &bases, &a.db, &options);
            scope.spawn(move || {
                let vulndb = palisade_scan::VulnDb::new(db.clone());
                let scanner = palisade_scan::Scanner::new(&vulndb, options, &palisade_scan::Silent);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= a.images {
                        return;
                    }
                    let built = build(loaded, identity, &scanner, &bases[i % 2], i);
                    if tx.send(built).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut batch = Vec::with_capacity(100);
        let mut flush = |batch: &mut Vec<Built>| {
            for (s, t) in stores.iter().zip(write_time.iter_mut()) {
                let t0 = Instant::now();
                write(s, batch);
                *t += t0.elapsed();
            }
            batch.clear();
        };
        let mut done = 0usize;
        for b in rx {
            packages += b.record.packages;
            findings += b.record.findings.len();
            let mut seen: Vec<&str> = Vec::new();
            for f in &b.record.findings {
                seen.push(&f.advisory);
                seen.extend(f.aliases.iter().map(String::as_str));
            }
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
            batch.push(b);
            done += 1;
            if batch.len() == 100 {
                flush(&mut batch);
            }
            if done.is_multiple_of(1000) {
                eprintln!(
                    "[store-bench] {done} images stored ({:.0}s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        flush(&mut batch);
    });
    let n = a.images as f64;
    println!(
        "population: {} images ({:.0} packages, {:.1} findings and {} distinct ids on average/in all), built in {:.1}s on {threads} threads; writing took {}",
        a.images,
        packages as f64 / n,
        findings as f64 / n,
        ids.len(),
        secs(started.elapsed()),
        stores
            .iter()
            .zip(&write_time)
            .map(|(s, t)| format!("{:?} {:.1}s", s.backend(), secs(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Fleet queries: ids spread over how many images carry them.
    let mut by_count: Vec<(usize, String)> = ids.iter().map(|(k, v)| (*v, k.clone())).collect();
    by_count.sort();
    let queries: Vec<(usize, String)> = (0..a.queries)
        .map(|q| by_count[q * by_count.len() / a.queries.max(1)].clone())
        .collect();

    let db1 = palisade_scan::VulnDb::new(a.db.clone());
    let fp1 = db1
        .database()
        .and_then(|d| d.fingerprints().map_err(Into::into))
        .unwrap_or_else(|e| die(&format!("fingerprints: {e}")));
    for store in &stores {
        let backend = format!("{:?}", store.backend());
        println!("{backend} ({}):", store.location());
        let fleet = Fleet {
            store: Arc::clone(store),
            state: Arc::new(State::default()),
            options: options.clone(),
            notifiers: Vec::new(),
            max_attempts: 3,
            events: Arc::new(|e: &str| eprintln!("[store-bench] {e}")),
        };
        // The store was matched with --db; the server would have recorded that.
        store
            .set_blob("vulndb.fingerprints", &fp1.to_bytes())
            .and_then(|()| store.set_meta("vulndb.identity", &identity))
            .unwrap_or_else(|e| die(&e.to_string()));
        fleet.state.install(
            Loaded::load(&a.policy, Some(&a.db_delta))
                .unwrap_or_else(|e| die(&format!("policy: {e}"))),
        );
        let events_before = event_count(store);
        let t0 = Instant::now();
        let r = fleet.rematch(&|| true, None).unwrap_or_else(|e| die(&e));
        let delta = t0.elapsed();
        let events_delta = event_count(store) - events_before;
        line(
            &format!(
                "(a) feed delta: {} of {} images matched, {} events",
                r["images_matched"], a.images, events_delta
            ),
            secs(delta),
            "s",
            10.0,
        );
        // (b) nothing stored about the database: every image is matched again.
        store
            .set_blob("vulndb.fingerprints", b"not fingerprints")
            .and_then(|()| store.set_meta("vulndb.identity", "none"))
            .unwrap_or_else(|e| die(&e.to_string()));
        let events_before = event_count(store);
        let t0 = Instant::now();
        let r = fleet.rematch(&|| true, None).unwrap_or_else(|e| die(&e));
        let full = t0.elapsed();
        let events_full = event_count(store) - events_before;
        line(
            &format!(
                "(b) full re-match: {} images, {} events",
                r["images_matched"], events_full
            ),
            secs(full),
            "s",
            60.0,
        );
        // (c)
        let mut times = Vec::with_capacity(queries.len());
        let mut hits = 0usize;
        for (_, id) in &queries {
            let t0 = Instant::now();
            let h = store
                .fleet(id, false, 1000)
                .unwrap_or_else(|e| die(&e.to_string()));
            times.push(t0.elapsed());
            hits += h.len();
        }
        times.sort();
        let pct =
            |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
        line(
            &format!(
                "(c) fleet query p99 ({} ids in 1..{} images, {:.0} avg; p50 {:.2} ms)",
                queries.len(),
                queries.last().map_or(0, |q| q.0),
                hits as f64 / queries.len() as f64,
                pct(0.5).as_secs_f64() * 1e3
            ),
            pct(0.99).as_secs_f64() * 1e3,
            "ms",
            50.0,
        );
        // (d)
        let mut bytes = 0i64;
        for i in 0..a.images {
            bytes += store
                .catalog_size(&digest_of(i))
                .unwrap_or_else(|e| die(&e.to_string()))
                .unwrap_or(0);
        }
        let per_image = bytes as f64 / n;
        let per_300 = per_image * 300.0 / (packages as f64 / n);
        println!(
            "  (d) stored catalog: {:.1} KB per image on average ({:.0} packages)",
            per_image / 1000.0,
            packages as f64 / n
        );
        line(
            "(d) stored catalog per 300 packages",
            per_300 / 1000.0,
            "KB",
            20.0,
        );
    }
}

fn event_count(store: &Store) -> i64 {
    store
        .status()
        .ok()
        .and_then(|s| {
            s.counts
                .iter()
                .find(|(t, _)| t == "events")
                .map(|(_, n)| *n)
        })
        .unwrap_or(0)
}
