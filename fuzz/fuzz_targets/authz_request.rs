//! Docker `AuthZReq` decoding and what the plugin reads of a create or exec body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_server::fuzzing::authz_request(data);
});
