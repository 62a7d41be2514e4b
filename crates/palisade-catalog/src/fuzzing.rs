//! Entry points for the fuzz targets in `fuzz/` at the repository root. Not part of the API:
//! hidden from the docs, may change at any time.
//!
//! Each function takes arbitrary bytes (a file as an image could hold it), runs one cataloger's
//! parser over them and checks the invariants the catalog relies on, panicking when one is
//! broken. Errors are fine: the catalog turns them into warnings. Panics, hangs and unbounded
//! allocations are bugs. Each returns whether the parser accepted the input.

use crate::catalogers::{Parsed, apk, dpkg, golang, java, npm, os, python, rpm, rust};
use crate::purl::purl;

/// What every cataloger promises about the packages it returns.
fn check(parsed: &Parsed) {
    for f in &parsed.packages {
        assert!(!f.name.is_empty(), "package without a name: {f:?}");
        assert!(
            !f.version.is_empty(),
            "package {:?} without a version",
            f.name
        );
        // A PURL may be refused (the catalog reports that), but building one must not panic.
        let _ = purl(f, None);
    }
}

/// `var/lib/dpkg/status` (and `status.d/*`), and the `info/*.list` parser.
#[must_use]
pub fn dpkg_status(data: &[u8]) -> bool {
    for p in dpkg::parse_list(data) {
        assert!(!p.is_empty() && !p.starts_with('/'), "list path {p:?}");
    }
    match dpkg::parse_status(data) {
        Ok(parsed) => {
            check(&parsed);
            true
        }
        Err(_) => false,
    }
}

/// `lib/apk/db/installed`.
#[must_use]
pub fn apk_installed(data: &[u8]) -> bool {
    match apk::parse_installed(data) {
        Ok((parsed, _owned)) => {
            check(&parsed);
            true
        }
        Err(_) => false,
    }
}

/// Python `METADATA` / `PKG-INFO`.
#[must_use]
pub fn python_metadata(data: &[u8]) -> bool {
    match python::parse_metadata(data) {
        Ok(parsed) => {
            check(&parsed);
            for f in &parsed.packages {
                let n = python::normalise_name(&f.name);
                assert_eq!(
                    python::normalise_name(&n),
                    n,
                    "PEP 503 normalisation is not idempotent"
                );
            }
            true
        }
        Err(_) => false,
    }
}

/// npm `package.json`.
#[must_use]
pub fn npm_package_json(data: &[u8]) -> bool {
    match npm::parse_package_json(data) {
        Ok(parsed) => {
            check(&parsed);
            true
        }
        Err(_) => false,
    }
}

/// npm `package-lock.json`.
#[must_use]
pub fn npm_lock(data: &[u8]) -> bool {
    match npm::parse_lock(data) {
        Ok(parsed) => {
            check(&parsed);
            true
        }
        Err(_) => false,
    }
}

/// `os-release`, and the one-line distro release files.
#[must_use]
pub fn os_release(data: &[u8]) -> bool {
    if let Ok(line) = os::parse_release_file(data) {
        for (_, distro) in os::RELEASE_FILES {
            let d = os::distro_from_release_file(distro, &line);
            let _ = d.purl_qualifier();
        }
    }
    match os::parse_os_release(data) {
        Ok(fields) => {
            assert!(fields.contains_key("ID"));
            let d = os::distro_from_os_release(&fields);
            let _ = d.purl_qualifier();
            true
        }
        Err(_) => false,
    }
}

/// The Go build-information scanner, fed the way a layer delivers a file: in chunks whose
/// sizes come from the first bytes of the input. The result must not depend on the chunking,
/// so it is compared with a feed of the whole file at once.
#[must_use]
pub fn go_buildinfo(data: &[u8]) -> bool {
    let (seed, file) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => (0, data),
    };
    let mut whole = golang::GoScanner::new();
    whole.feed(file);
    let expected = whole.finish();

    let mut chunked = golang::GoScanner::new();
    let mut rest = file;
    let mut x = u32::from(seed) | 1;
    while !rest.is_empty() {
        // xorshift: chunk sizes 1..=64 mostly, with an occasional large one.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let size = if x % 8 == 0 {
            (x % 4096) as usize + 1
        } else {
            (x % 64) as usize + 1
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunked.feed(chunk);
        rest = tail;
        if !chunked.wants_more() {
            // The extractor stops reading here; feeding more must change nothing.
            chunked.feed(rest);
            break;
        }
    }
    let got = chunked.finish();
    assert_eq!(
        got, expected,
        "the Go scanner's result depends on chunk boundaries"
    );
    match got {
        golang::ScanResult::Found {
            go_version,
            modinfo,
        } => {
            check(&golang::packages(&go_version, &modinfo));
            true
        }
        golang::ScanResult::OldFormat | golang::ScanResult::None => false,
    }
}

/// The three rpmdb formats: the same bytes as SQLite, Berkeley DB hash and NDB.
#[must_use]
pub fn rpmdb(data: &[u8]) -> bool {
    let mut any = false;
    for parse in [rpm::parse_sqlite, rpm::parse_bdb, rpm::parse_ndb] {
        if let Ok((parsed, owned)) = parse(data) {
            check(&parsed);
            assert!(
                owned.iter().all(|p| !p.starts_with('/')),
                "owned paths are relative"
            );
            any = true;
        }
    }
    any
}

/// Java archives (`.jar`, `.war`, `.ear`), nested ones included.
#[must_use]
pub fn java_archive(data: &[u8]) -> bool {
    match java::parse_archive(data, "fuzz.war") {
        Ok(parsed) => {
            check(&parsed);
            true
        }
        Err(_) => false,
    }
}

/// `Cargo.lock`, and the same bytes as a `cargo auditable` ELF and as a bare `.dep-v0` section.
#[must_use]
pub fn rust_packages(data: &[u8]) -> bool {
    let mut any = false;
    if let Ok(parsed) = rust::parse_cargo_lock(data) {
        check(&parsed);
        any = true;
    }
    if let Some(Ok(parsed)) = rust::parse_auditable(data) {
        check(&parsed);
        any = true;
    }
    if let Ok(parsed) = rust::parse_dep_v0(data) {
        check(&parsed);
        any = true;
    }
    any
}

/// An SBOM (CycloneDX, SPDX or Palisade JSON) read back by [`crate::read_sbom_components`]:
/// every package it yields has a name, a version and a purl within their caps, every other
/// string is cut to its cap, skipped components are bounded too, and writing the packages as
/// CycloneDX and reading that back gives the same packages.
#[must_use]
pub fn sbom(data: &[u8]) -> bool {
    use crate::sbom::{
        MAX_SBOM_LIST_ITEMS, MAX_SBOM_NAME_BYTES, MAX_SBOM_PURL_BYTES, MAX_SBOM_TEXT_BYTES,
        MAX_SBOM_VERSION_BYTES,
    };
    // The cut marker `…[cut: N more bytes]` adds at most this much.
    const MARK: usize = 48;
    let Ok(read) = crate::read_sbom_components(data, "fuzz.json") else {
        return false;
    };
    let short = |s: &str, max: usize, what: &str| {
        assert!(s.len() <= max + MARK, "{what}: {} bytes", s.len());
    };
    for p in &read.catalog.packages {
        assert!(!p.name.is_empty() && !p.version.is_empty(), "{p:?}");
        short(&p.name, MAX_SBOM_NAME_BYTES, "name");
        short(&p.version, MAX_SBOM_VERSION_BYTES, "version");
        assert!(
            p.purl.len() <= MAX_SBOM_PURL_BYTES,
            "purl: {} bytes",
            p.purl.len()
        );
        assert!(p.licenses.len() <= MAX_SBOM_LIST_ITEMS);
        assert!(p.locations.len() <= MAX_SBOM_LIST_ITEMS);
        for l in &p.licenses {
            short(l, MAX_SBOM_TEXT_BYTES, "licence");
        }
        for l in &p.locations {
            short(&l.path, MAX_SBOM_TEXT_BYTES, "location");
        }
        if let Some(a) = &p.arch {
            short(a, MAX_SBOM_TEXT_BYTES, "arch");
        }
        if let Some(s) = &p.source {
            short(&s.name, MAX_SBOM_NAME_BYTES, "source name");
        }
    }
    for s in &read.skipped {
        short(&s.name, MAX_SBOM_NAME_BYTES, "skipped name");
        short(&s.version, MAX_SBOM_VERSION_BYTES, "skipped version");
        short(&s.reason, 2 * MAX_SBOM_TEXT_BYTES, "skipped reason");
    }
    for p in &read.catalog.problems {
        short(&p.message, 2 * MAX_SBOM_TEXT_BYTES, "problem");
    }
    if let Some(d) = &read.catalog.distro {
        short(&d.id, MAX_SBOM_NAME_BYTES, "distro id");
    }
    // What was accepted survives a CycloneDX round trip unchanged, and nothing is skipped.
    let bom = crate::to_cyclonedx(&read.catalog);
    let bytes = serde_json::to_vec(&bom).unwrap_or_default();
    let back = crate::read_sbom_components(&bytes, "round-trip.json")
        .unwrap_or_else(|e| panic!("the CycloneDX written does not read back: {e}"));
    let key = |c: &crate::Catalog| {
        let mut k: Vec<_> = c
            .packages
            .iter()
            .map(|p| {
                (
                    p.ecosystem,
                    p.name.clone(),
                    p.version.clone(),
                    p.purl.clone(),
                )
            })
            .collect();
        k.sort();
        k
    };
    assert!(back.skipped.is_empty(), "{:?}", back.skipped);
    assert_eq!(key(&back.catalog), key(&read.catalog));
    true
}
