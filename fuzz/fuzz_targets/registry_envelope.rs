//! `palisade_server::fuzzing::registry_envelope`: decoding with its bounds; no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_server::fuzzing::registry_envelope(data);
});
