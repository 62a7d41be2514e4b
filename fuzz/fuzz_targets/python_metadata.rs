//! Python `METADATA` / `PKG-INFO` headers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::python_metadata(data);
});
