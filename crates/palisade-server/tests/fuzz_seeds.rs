//! The fuzz targets' entry points (`fuzz/fuzz_targets/{admission_review,authz_request}.rs`)
//! on their seeds and on a deterministic stream of mutations of them (truncations, byte
//! flips, insertions, deep nesting): no panic, and the seeds are accepted. The real fuzzing
//! runs with cargo-fuzz (fuzz/README.md).

use std::path::{Path, PathBuf};

use palisade_server::fuzzing::{
    admission_review, authz_request, harbor_scan_request, registry_envelope,
};

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

/// xorshift: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

fn mutations(seed: &[u8], rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b",",
        b":",
        b"null",
        b"true",
        b"-1",
        b"1e999",
        b"\"HostConfig\":{}",
        b"\"privileged\":true",
        b"\\u0000",
        b"\xff",
        b"\"..\"",
    ];
    (0..count)
        .map(|_| {
            let mut m = seed.to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(m.len() + 1);
                match rng.below(4) {
                    0 => m.truncate(at),
                    1 if at < m.len() => m[at] ^= 1 << rng.below(8),
                    2 => {
                        let t = TOKENS[rng.below(TOKENS.len())];
                        m.splice(at..at, t.iter().copied());
                    }
                    _ => {
                        let end = (at + rng.below(16)).min(m.len());
                        m.drain(at..end);
                    }
                }
            }
            m
        })
        .collect()
}

#[test]
fn admission_review_seeds_and_mutations() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (path, seed) in seeds("admission_review") {
        assert!(
            admission_review(&seed),
            "{} is not accepted",
            path.display()
        );
        for m in mutations(&seed, &mut rng, 2000) {
            let _ = admission_review(&m);
        }
    }
    let deep = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","kind":{{}},"resource":{{}},"operation":"CREATE","object":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(!admission_review(deep.as_bytes()));
}

#[test]
fn authz_request_seeds_and_mutations() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (path, seed) in seeds("authz_request") {
        assert!(authz_request(&seed), "{} is not accepted", path.display());
        for m in mutations(&seed, &mut rng, 2000) {
            let _ = authz_request(&m);
        }
    }
    // The captured create bodies of palisade-harden, wrapped as the engine sends them.
    use base64::Engine as _;
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../palisade-harden/tests/fixtures/create");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with(".inspect.json") {
            continue;
        }
        let body = std::fs::read(&p).unwrap();
        let req = serde_json::json!({
            "RequestMethod": "POST",
            "RequestUri": "/v1.41/containers/create",
            "RequestBody": base64::engine::general_purpose::STANDARD.encode(&body),
        });
        assert!(authz_request(req.to_string().as_bytes()), "{name}");
        for m in mutations(&body, &mut rng, 200) {
            let req = serde_json::json!({
                "RequestMethod": "POST",
                "RequestUri": "/v1.41/containers/create",
                "RequestBody": base64::engine::general_purpose::STANDARD.encode(&m),
            });
            let _ = authz_request(req.to_string().as_bytes());
        }
    }
}

#[test]
fn registry_envelope_seeds_and_mutations() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for (path, seed) in seeds("registry_envelope") {
        assert!(
            registry_envelope(&seed),
            "{} is not accepted",
            path.display()
        );
        for m in mutations(&seed, &mut rng, 3000) {
            let _ = registry_envelope(&m);
        }
    }
    let many = format!(
        "{{\"events\":[{}]}}",
        vec!["{\"action\":\"pull\"}"; 1001].join(",")
    );
    assert!(
        !registry_envelope(many.as_bytes()),
        "more than 1,000 events"
    );
}

#[test]
fn harbor_scan_request_seeds_and_mutations() {
    let mut rng = Rng(0x0fed_cba9_8765_4321);
    for (path, seed) in seeds("harbor_scan_request") {
        assert!(
            harbor_scan_request(&seed),
            "{} is not accepted",
            path.display()
        );
        for m in mutations(&seed, &mut rng, 3000) {
            let _ = harbor_scan_request(&m);
        }
    }
    assert!(!harbor_scan_request(&vec![b' '; 70_000]), "over 64 KiB");
}
