//! `var/lib/dpkg/status`, `status.d/*` and `info/*.list` files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::dpkg_status(data);
});
