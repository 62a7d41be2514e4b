//! `resolve` against a real registry (Debian's docker-registry on loopback, filled with the
//! testbed images by skopeo): the digest is the one skopeo reads, one `HEAD` asks for it, and
//! the insecure-registry and timeout settings of `SourceOptions` are followed.
#![allow(clippy::print_stderr)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::Registry;
use palisade_gate::{Error, resolve};
use palisade_image::{Digest, Reference};
use palisade_scan::SourceOptions;
use sha2::{Digest as _, Sha256};

fn reference(s: &str) -> Reference {
    s.parse().expect("reference")
}

fn sha256(bytes: &[u8]) -> Digest {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
        .parse()
        .expect("digest")
}

/// The manifest digest of a tag of the testbed OCI layout (what skopeo copies unchanged).
fn layout_digest(tag: &str) -> Digest {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::testbed().join("oci/index.json")).expect("index.json"),
    )
    .expect("index.json parses");
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str())
        .expect("tag in the layout")
        .parse()
        .expect("digest")
}

/// The registry's access-log lines for manifests of `repo` written while `f` runs.
fn manifest_requests<T>(
    registry: &Registry,
    repo: &str,
    f: impl FnOnce() -> T,
) -> (T, Vec<String>) {
    let log = registry.dir.path().join("registry.log");
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();
    let out = f();
    let needle = format!("/v2/{repo}/manifests/");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text
            .get(before..)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle) && (l.contains("\"HEAD ") || l.contains("\"GET ")))
            .map(str::to_owned)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return (out, lines);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_tag_resolves_with_one_head_to_the_digest_skopeo_reads() {
    let registry = Registry::start();
    registry.push("app", "testbed/app:v1");
    let options = SourceOptions::default();
    let r = reference(&format!("{}/testbed/app:v1", registry.addr));

    let (digest, requests) = manifest_requests(&registry, "testbed/app", || {
        resolve(&r, &options).expect("resolves")
    });
    assert_eq!(digest, sha256(&registry.raw_manifest("testbed/app:v1")));
    assert_eq!(digest, layout_digest("app"));
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert!(
        requests[0].contains("\"HEAD /v2/testbed/app/manifests/v1 "),
        "{}",
        requests[0]
    );

    // The tag moves: the next resolve follows it (nothing is cached here).
    registry.push("base", "testbed/app:v1");
    let moved = resolve(&r, &options).expect("resolves");
    assert_eq!(moved, sha256(&registry.raw_manifest("testbed/app:v1")));
    assert_eq!(moved, layout_digest("base"));
    assert_ne!(moved, digest);

    // The pinned reference to decide on next keeps the tag for display.
    assert_eq!(
        r.with_digest(moved.clone()).to_string(),
        format!("{}/testbed/app:v1@{moved}", registry.addr)
    );
}

#[test]
fn an_unknown_tag_or_repository_is_not_found_with_a_hint() {
    let registry = Registry::start();
    registry.push("base", "testbed/base:v1");
    let options = SourceOptions::default();
    for missing in [
        format!("{}/testbed/base:v2", registry.addr),
        // No tag means `latest`, which was not pushed.
        format!("{}/testbed/base", registry.addr),
        format!("{}/testbed/nothing:v1", registry.addr),
    ] {
        let err = resolve(&reference(&missing), &options).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{missing}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("no such repository or tag") && text.contains("push the image"),
            "{text}"
        );
    }
}

#[test]
fn a_pinned_reference_is_returned_without_a_request() {
    // Nothing listens on port 1: any request would fail.
    let digest = "sha256:0b5292ed6745f9681902a9a44292a3178cf5bd2c46ccf7e565f97d45daeb7378";
    for pinned in [
        format!("127.0.0.1:1/testbed/app:v1@{digest}"),
        format!("127.0.0.1:1/testbed/app@{digest}"),
    ] {
        let got = resolve(&reference(&pinned), &SourceOptions::default()).expect("no request");
        assert_eq!(got.to_string(), digest);
    }
    let err = resolve(
        &reference("127.0.0.1:1/testbed/app:v1"),
        &SourceOptions {
            http_timeout: Some(Duration::from_secs(5)),
            ..SourceOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Image(_)), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[test]
fn the_http_timeout_bounds_the_whole_request() {
    // Accepts connections, reads what comes, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut s = stream.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
            held.push(stream);
        }
    });
    let options = SourceOptions {
        http_timeout: Some(Duration::from_secs(1)),
        ..SourceOptions::default()
    };
    let started = Instant::now();
    let err = resolve(&reference(&format!("{addr}/testbed/app:v1")), &options).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert!(matches!(err, Error::Image(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("deadline"), "{text}");
}

/// This machine's address on its default route, if it has one.
fn non_loopback_ipv4() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the route and the source address.
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Forwards every connection to `ip:0` on to `target`: the registry under a non-loopback
/// address, where plain HTTP needs `insecure_registries`.
fn forward(ip: IpAddr, target: String) -> String {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(&target) else {
                continue;
            };
            let (mut c_read, mut u_write) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut u_read, mut c_write) = (upstream, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut u_write);
                let _ = u_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u_read, &mut c_write);
                let _ = c_write.flush();
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn plain_http_to_a_non_loopback_registry_needs_insecure_registries() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("skipped: this machine has no non-loopback IPv4 address on a default route");
        return;
    };
    let registry = Registry::start();
    registry.push("app", "testbed/app:v1");
    let addr = forward(ip, registry.addr.clone());
    let r = reference(&format!("{addr}/testbed/app:v1"));

    // Not listed: HTTPS is spoken to a plain-HTTP registry, and refused.
    let strict = SourceOptions {
        http_timeout: Some(Duration::from_secs(10)),
        ..SourceOptions::default()
    };
    let err = resolve(&r, &strict).unwrap_err();
    assert!(matches!(err, Error::Image(_)), "{err:?}");
    assert!(
        err.to_string().contains(&format!("https://{addr}")),
        "{err}"
    );

    // Listed by host:port, or by host alone: plain HTTP, the same digest as on loopback.
    for entry in [addr.clone(), ip.to_string()] {
        let insecure = SourceOptions {
            insecure_registries: vec![entry.clone()],
            ..strict.clone()
        };
        assert_eq!(
            resolve(&r, &insecure).unwrap_or_else(|e| panic!("insecure {entry}: {e}")),
            layout_digest("app"),
        );
    }
}
