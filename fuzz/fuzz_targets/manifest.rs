//! Manifests, indexes (with platform selection), image configurations, digests and platforms.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_image::fuzzing::manifest(data);
});
