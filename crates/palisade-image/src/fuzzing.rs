//! Entry points for the fuzz targets in `fuzz/` at the repository root. Not part of the API:
//! hidden from the docs, may change at any time.
//!
//! Each function takes arbitrary bytes, runs one parser of untrusted input over them and
//! checks the invariants the rest of the project relies on, panicking when one is broken (a
//! panic is what the fuzzer reports). Errors are fine; panics, hangs and unbounded
//! allocations are bugs.

use std::io::{self, Read};

use crate::digest::Digest;
use crate::error::LayerContext;
use crate::layer::{Entry, EntryKind, Limits, walk_blob};
use crate::manifest::{
    Document, ImageConfig, Index, Manifest, Platform, media_type, parse_document, select_platform,
};
use crate::merge::{MergedView, Node};

/// Limits for fuzzing: the default guards, but a bomb is caught after 8 MiB instead of
/// 256 MiB so that one input costs milliseconds, not seconds.
fn fuzz_limits() -> Limits {
    Limits {
        max_layer_bytes: 1 << 30,
        ratio_floor: 8 << 20,
        ..Limits::default()
    }
}

/// Whether a normalised entry path keeps the promises of [`Entry::path`].
fn path_is_normal(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.ends_with('/')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Feeds `data` as a layer blob through the whole pipeline: compression sniffing (gzip, zstd,
/// none), the size guard, both digests, the tar reader, path normalisation and the symlink
/// checks; a visitor reads every file to its end. The entries seen are then stacked into a
/// [`MergedView`] and every path is resolved. Returns whether the layer was accepted.
///
/// # Panics
/// When an accepted entry has a path that is not normalised, a relative symlink of an accepted
/// entry climbs out of the root, a file yields more bytes than its size, the stats disagree
/// with what was seen, or a resolved path leaves the root.
///
/// An uncompressed input is also walked a second time with the checksum of every 512-byte
/// block recomputed, so that mutations of header fields get past the checksum check and reach
/// the parsers behind it.
#[must_use]
pub fn tar_walker(data: &[u8]) -> bool {
    let accepted = walk_one(data);
    if !data.starts_with(&[0x1f, 0x8b]) && !data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let fixed = with_fixed_checksums(data);
        if fixed != data {
            return walk_one(&fixed) || accepted;
        }
    }
    accepted
}

/// A copy of `data` in which every whole, non-zero 512-byte block carries a valid tar header
/// checksum.
fn with_fixed_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for block in out.chunks_exact_mut(512) {
        if block.iter().all(|&b| b == 0) {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let field = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(field.as_bytes());
    }
    out
}

fn walk_one(data: &[u8]) -> bool {
    let ctx = LayerContext {
        source: "fuzz".into(),
        index: 0,
        digest: None,
    };
    let blob_digest = Digest::sha256_of(data);
    let mut nodes: Vec<(String, Node<u64>)> = Vec::new();
    let mut seen: u64 = 0;
    let mut buf = vec![0u8; 8192];
    let mut visitor = |e: &Entry<'_>, content: &mut dyn Read| -> io::Result<()> {
        seen += 1;
        // The opaque marker of the root directory is the only entry with an empty path.
        assert!(
            path_is_normal(e.path) || (e.kind == EntryKind::OpaqueDir && e.path.is_empty()),
            "entry path not normalised: {:?} ({:?})",
            e.path,
            e.kind
        );
        assert!(e.mode <= 0o7777, "mode {:o}", e.mode);
        let mut total: u64 = 0;
        loop {
            let n = content.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        match e.kind {
            EntryKind::File => {
                assert_eq!(
                    total, e.size,
                    "file {:?} yielded {total} bytes, header said {}",
                    e.path, e.size
                );
                nodes.push((e.path.to_owned(), Node::File(total)));
            }
            EntryKind::Symlink(t) => {
                assert_eq!(total, 0);
                assert!(!t.is_empty() && !t.contains('\0'), "symlink target {t:?}");
                if !t.starts_with('/') {
                    let mut depth = e.path.matches('/').count() as i64;
                    for c in t.split('/') {
                        match c {
                            "" | "." => {}
                            ".." => depth -= 1,
                            _ => depth += 1,
                        }
                        assert!(depth >= 0, "symlink {:?} -> {t:?} leaves the root", e.path);
                    }
                }
                nodes.push((e.path.to_owned(), Node::Symlink(t.to_owned())));
            }
            EntryKind::HardLink(t) => {
                assert_eq!(total, 0);
                assert!(path_is_normal(t), "hard link target not normalised: {t:?}");
                nodes.push((e.path.to_owned(), Node::HardLink(t.to_owned())));
            }
            EntryKind::Whiteout => nodes.push((e.path.to_owned(), Node::Whiteout)),
            EntryKind::OpaqueDir => nodes.push((e.path.to_owned(), Node::Opaque)),
            EntryKind::Dir => nodes.push((e.path.to_owned(), Node::Dir)),
            EntryKind::Other => assert_eq!(total, 0),
        }
        Ok(())
    };
    let result = walk_blob(
        Box::new(data),
        &ctx,
        Some(&blob_digest),
        None,
        fuzz_limits(),
        &mut visitor,
    );
    let Ok(stats) = result else {
        return false;
    };
    assert_eq!(stats.blob_digest, Some(blob_digest));
    assert_eq!(stats.blob_size, data.len() as u64);
    assert!(
        stats.entries >= seen,
        "stats say {} entries, visitor saw {seen}",
        stats.entries
    );

    let paths: Vec<String> = nodes.iter().map(|(p, _)| p.clone()).collect();
    let mut view = MergedView::new();
    view.apply_layer(0, nodes);
    for p in paths {
        if let Some(real) = view.resolve_path(&p) {
            assert!(
                real.is_empty() || path_is_normal(&real),
                "{p:?} resolved to {real:?}, outside the root or not normalised"
            );
        }
        let _ = view.resolve(&p);
    }
    let _ = view.files().count();
    let _ = view.hard_links().count();
    true
}

/// Parses `data` as a manifest or index (with no declared media type and with each known
/// one), as an image configuration and as the parts of both; picks a platform from any index.
/// Returns whether any form parsed.
#[must_use]
pub fn manifest(data: &[u8]) -> bool {
    let mut ok = false;
    for declared in [
        None,
        Some(media_type::OCI_INDEX),
        Some(media_type::OCI_MANIFEST),
        Some(media_type::DOCKER_LIST),
        Some(media_type::DOCKER_MANIFEST),
        Some("application/json"),
    ] {
        match parse_document(data, declared, "fuzz") {
            Ok(Document::Index(index)) => {
                ok = true;
                for platform in [
                    Platform::linux_amd64(),
                    Platform {
                        architecture: "arm64".into(),
                        os: "linux".into(),
                        variant: Some("v8".into()),
                    },
                ] {
                    if let Ok(d) = select_platform(&index, &platform, "fuzz") {
                        assert!(index.manifests.contains(d));
                    }
                }
            }
            Ok(Document::Manifest(m)) => {
                ok = true;
                for l in &m.layers {
                    assert!(media_type::LAYERS.contains(&l.media_type.as_str()));
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Ok(config) = serde_json::from_slice::<ImageConfig>(data) {
        ok = true;
        // What the config says is echoed into reports: it must serialise back.
        let _ = serde_json::to_vec(&config).map(|v| assert!(!v.is_empty()));
    }
    ok |= serde_json::from_slice::<Index>(data).is_ok();
    ok |= serde_json::from_slice::<Manifest>(data).is_ok();
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = s.parse::<Digest>() {
            // A digest is used as a file name: it must not be able to name anything but itself.
            assert!(
                !d.hex().contains(['/', '.', '\\']),
                "digest {d} is not a safe file name"
            );
            assert_eq!(d.to_string(), s);
        }
        if let Ok(p) = s.parse::<Platform>() {
            assert_eq!(p.to_string().parse::<Platform>().ok(), Some(p));
        }
    }
    ok
}
