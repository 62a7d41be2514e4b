//! npm `package-lock.json` (v1 to v3).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::npm_lock(data);
});
