//! Issue 14, acceptance 1, kept true: the binary only parses arguments, renders and picks exit
//! codes. No command module imports another command, and no CLI source does the pipeline's
//! work itself (matching, scoring, caching, feed import, hashing), which lives in the library
//! crates the server calls too.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its `#[cfg(test)]` module (unit tests may reach into `super`).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[test]
fn no_command_module_imports_another() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let text = code(f);
        assert!(
            !text.contains("crate::commands"),
            "{} imports a command module",
            rel.display()
        );
        // A command's own submodule (`db/update.rs`) may use its parent (`super::`); a
        // command itself (`scan.rs`, `db/mod.rs`) may not reach a sibling that way.
        let is_command = rel.components().count() == 1 || rel.ends_with("mod.rs");
        if is_command {
            assert!(
                !text.contains("super::"),
                "{} reaches another command through super::",
                rel.display()
            );
        } else {
            assert!(
                !text.contains("super::super::"),
                "{} reaches another command through super::super::",
                rel.display()
            );
        }
    }
}

#[test]
fn the_cli_does_no_pipeline_work_itself() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    // Each names a step that belongs to a library crate.
    let forbidden = [
        ("Matcher", "matching (palisade-vulndb)"),
        ("match_packages", "matching (palisade-vulndb)"),
        (".enrichment(", "scoring (palisade-scan)"),
        ("SeverityKind", "scoring (palisade-scan)"),
        ("postcard", "the scan-result cache (palisade-scan)"),
        ("Sha256", "cache keys (palisade-scan, palisade-gate)"),
        ("DatabaseBuilder", "feed import (palisade-vulndb)"),
        ("import_osv", "feed import (palisade-vulndb)"),
        (
            "verify_image",
            "gathering signatures for a decision (palisade-gate)",
        ),
    ];
    for f in &files {
        let text = code(f);
        for (needle, belongs) in forbidden {
            // `palisade verify` is the one command whose job is a signature check.
            if needle == "verify_image" && f.ends_with("commands/trust/mod.rs") {
                continue;
            }
            assert!(
                !text.contains(needle),
                "{} uses {needle}: that is {belongs}",
                f.display()
            );
        }
    }
}
