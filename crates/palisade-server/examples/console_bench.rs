//! Fills a SQLite store for `perf/console-bench.sh`: IMAGES images with FINDINGS findings each
//! (10,000 and 100 by default: a million findings), each with two names, decisions in `prod`
//! and `dev`, the testbed app image's real catalog (so an image page decompresses and lays out
//! 300 packages), every third image running somewhere, hosts with history, and the events a
//! server of that size has (an analysis per image, refusals, posture snapshots).
//!
//! Findings are synthetic but shaped like real ones: advisory ids from a pool (each id in about
//! 50 images, one "hot" id in every tenth image), severities, CVSS, KEV, EPSS, fixes and
//! why-lines.
//!
//!   cargo run --release -p palisade-server --example console_bench -- \
//!       --store target/perf/console/store.db --testbed target/testbed

#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use palisade_store::{AnalysisRecord, DecisionRow, FindingRow, HostReport, NewEvent, Store};

/// The id that every tenth image has: the vulnerability page's worst case.
const HOT: &str = "CVE-2099-0001";

struct Args {
    store: String,
    testbed: PathBuf,
    images: usize,
    findings: usize,
    hosts: usize,
    policy: Option<PathBuf>,
    db: Option<PathBuf>,
}

fn die(msg: &str) -> ! {
    eprintln!("console-bench: {msg}");
    std::process::exit(1);
}

fn args() -> Args {
    let mut a = Args {
        store: String::new(),
        testbed: PathBuf::from("target/testbed"),
        images: 10_000,
        findings: 100,
        hosts: 50,
        policy: None,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        let number = || {
            value
                .parse::<usize>()
                .unwrap_or_else(|_| die(&format!("{flag}: a number")))
        };
        match flag.as_str() {
            "--store" => a.store = value.clone(),
            "--testbed" => a.testbed = PathBuf::from(&value),
            "--images" => a.images = number(),
            "--findings" => a.findings = number(),
            "--hosts" => a.hosts = number(),
            "--policy" => a.policy = Some(PathBuf::from(&value)),
            "--db" => a.db = Some(PathBuf::from(&value)),
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    if a.store.is_empty() {
        die("--store PATH is required");
    }
    a
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn finding(i: usize, j: usize) -> FindingRow {
    let r = mix((i as u64) << 20 | j as u64);
    let advisory = if j == 0 && i.is_multiple_of(10) {
        HOT.to_owned()
    } else {
        format!("GHSA-bench-{:05}", (i * 7 + j * 131) % 20_000)
    };
    let severity = [
        "critical", "high", "high", "medium", "medium", "medium", "low", "low",
    ][(r % 8) as usize];
    let package = format!("pkg{}", (r >> 8) % 300);
    let fixed = if r.is_multiple_of(5) {
        Vec::new()
    } else {
        vec![format!(
            "{}.{}.{}",
            1 + (r >> 16) % 3,
            (r >> 20) % 10,
            (r >> 24) % 10
        )]
    };
    FindingRow {
        aliases: vec![format!("CVE-2025-{:05}", (r >> 12) % 90_000)],
        why: format!(
            "{package} 1.0.0 is in [0, {})",
            fixed.first().map_or("∞", String::as_str)
        ),
        package,
        version: "1.0.0".into(),
        kind: "python".into(),
        purl: None,
        severity: severity.into(),
        cvss: Some(((r >> 28) % 100) as f64 / 10.0),
        kev: r.is_multiple_of(50),
        epss: r
            .is_multiple_of(3)
            .then(|| ((r >> 32) % 1000) as f64 / 1000.0),
        status: if fixed.is_empty() { "unfixed" } else { "fixed" }.into(),
        fixed,
        advisory,
    }
}

fn main() {
    let a = args();
    let started = Instant::now();
    let options = palisade_scan::SourceOptions {
        no_cache: true,
        ..palisade_scan::SourceOptions::default()
    };
    let source = format!("oci-dir:{}/oci:app", a.testbed.display());
    let image = palisade_scan::open_image(&source, &options)
        .unwrap_or_else(|e| die(&format!("{source}: {e}")));
    let catalog = palisade_scan::catalog_image(&image, &options, &palisade_catalog::NoProgress)
        .unwrap_or_else(|e| die(&format!("{source}: {e}")));
    let catalog_json = serde_json::to_vec(&catalog).unwrap_or_default();
    let (store, _) = Store::migrate(&a.store, &palisade_store::OpenOptions::default())
        .unwrap_or_else(|e| die(&format!("{}: {e}", a.store)));
    // Stored as decided with the server's policy and database, so the server starts current
    // and the bench measures pages, not a background re-decision of every image.
    let (policy_id, identity) = match (&a.policy, &a.db) {
        (Some(p), Some(d)) => {
            let loaded = palisade_server::state::Loaded::load(p, Some(d))
                .unwrap_or_else(|e| die(&format!("policy: {e}")));
            let identity = palisade_server::fleet::db_identity(d).unwrap_or_else(|e| die(&e));
            (loaded.policy_id.clone(), identity)
        }
        _ => ("bench".to_owned(), "bench".to_owned()),
    };
    store
        .set_meta("policy.id", &policy_id)
        .unwrap_or_else(|e| die(&e.to_string()));
    store
        .set_meta("vulndb.identity", &identity)
        .unwrap_or_else(|e| die(&e.to_string()));
    let batch = 100;
    for start in (0..a.images).step_by(batch) {
        store
            .transaction(|tx| {
                for i in start..(start + batch).min(a.images) {
                    let digest = format!("sha256:{:064x}", mix(i as u64) as u128 * 31 + i as u128);
                    let findings: Vec<FindingRow> = (0..a.findings).map(|j| finding(i, j)).collect();
                    let critical = findings.iter().filter(|f| f.severity == "critical").count();
                    tx.put_analysis(&AnalysisRecord {
                        digest: digest.clone(),
                        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                        platform: "linux/amd64".into(),
                        created: Some("2026-11-01T00:00:00Z".into()),
                        db_identity: identity.clone(),
                        policy_id: policy_id.clone(),
                        catalog: catalog_json.clone(),
                        facts: b"{}".to_vec(),
                        packages: catalog.packages.len() as i64,
                        keys: BTreeSet::new(),
                        findings,
                    })?;
                    let repository = format!("team{}/svc{i}", i % 100);
                    for tag in [format!("v{i}"), "latest".to_owned()] {
                        tx.put_name(&digest, "registry.bench", &repository, &tag, None)?;
                    }
                    let decisions: Vec<DecisionRow> = ["prod", "dev"]
                        .iter()
                        .map(|env| DecisionRow {
                            repository: format!("registry.bench/{repository}"),
                            environment: (*env).into(),
                            verdict: if critical > 0 && *env == "prod" { "deny" } else { "allow" }.into(),
                            policy_id: policy_id.clone(),
                            db_identity: identity.clone(),
                            decided_at: palisade_store::now(),
                            reasons: "[]".into(),
                        })
                        .collect();
                    tx.put_decisions(&digest, &decisions)?;
                    tx.append_events(&[NewEvent {
                        kind: "image.analyzed".into(),
                        digest: Some(digest.clone()),
                        subject: format!("registry.bench/{repository}:v{i} analysed (bench): {} findings", a.findings),
                        detail: serde_json::json!({"findings": a.findings, "verdicts": {"prod": "deny", "dev": "allow"}}),
                    }])?;
                    if i % 5 == 0 {
                        tx.append_events(&[NewEvent {
                            kind: "admission.refused".into(),
                            digest: Some(digest.clone()),
                            subject: format!("admission refused registry.bench/{repository}:v{i} for Pod/ns{}/svc{i}: cvss-above-threshold", i % 40),
                            detail: serde_json::json!({"image": format!("registry.bench/{repository}:v{i}"), "place": format!("Pod/ns{}/svc{i}", i % 40), "source": "admission", "verdict": "deny", "reasons": []}),
                        }])?;
                    }
                }
                Ok::<_, palisade_store::Error>(())
            })
            .unwrap_or_else(|e| die(&format!("writing: {e}")));
        // Sightings go through their own statements (outside a transaction's API).
        for i in (start..(start + batch).min(a.images)).filter(|i| i % 3 == 0) {
            let digest = format!("sha256:{:064x}", mix(i as u64) as u128 * 31 + i as u128);
            store
                .put_sighting(
                    &digest,
                    "kubernetes",
                    &format!("Pod/ns{}/svc{i}", i % 40),
                    &format!("registry.bench/team{}/svc{i}:v{i}", i % 100),
                )
                .unwrap_or_else(|e| die(&format!("sighting: {e}")));
        }
        if start % 2000 == 0 {
            eprintln!(
                "[console-bench] {start} images written ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    for h in 0..a.hosts {
        let failing: Vec<String> = (0..(h % 4)).map(|k| format!("2.{k}")).collect();
        store
            .put_host(&HostReport {
                name: format!("node-{h:03}"),
                passed: 40 - failing.len() as i64,
                failed: failing.len() as i64,
                compliant: failing.is_empty(),
                report: serde_json::json!({"host_failing": failing, "host_passed": 40, "agent_version": "bench"}),
            })
            .unwrap_or_else(|e| die(&format!("host: {e}")));
    }
    let posture = store.posture().unwrap_or_else(|e| die(&e.to_string()));
    let snapshots: Vec<NewEvent> = (0..720)
        .map(|_| NewEvent {
            kind: "fleet.posture".into(),
            digest: None,
            subject: "bench".into(),
            detail: serde_json::to_value(&posture).unwrap_or_default(),
        })
        .collect();
    store
        .append_events(&snapshots)
        .unwrap_or_else(|e| die(&e.to_string()));
    store.maintain().unwrap_or_else(|e| die(&e.to_string()));
    println!(
        "{} images, {} findings, {} hosts in {:.1}s; hot advisory {HOT}; an image: sha256:{:064x}",
        a.images,
        a.images * a.findings,
        a.hosts,
        started.elapsed().as_secs_f64(),
        mix(0) as u128 * 31
    );
}
