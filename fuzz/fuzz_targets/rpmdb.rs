//! rpmdb.sqlite, Berkeley DB `Packages` and NDB `Packages.db`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::rpmdb(data);
});
