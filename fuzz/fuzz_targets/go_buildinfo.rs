//! The Go build-information scanner, fed in chunks whose sizes come from the input's first two
//! bytes; the result must not depend on them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_catalog::fuzzing::go_buildinfo(data);
});
