//! `Cargo.lock`, `cargo auditable` binaries and `.dep-v0` sections.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::rust_packages(data);
});
