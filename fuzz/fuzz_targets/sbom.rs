//! SBOM inputs: CycloneDX, SPDX and Palisade JSON, read back for matching.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::sbom(data);
});
