//! Notation signature envelopes (JWS and COSE_Sign1) and trust policies: parsing and the
//! integrity check never panic on hostile bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_trust::notation::envelope::{Envelope, Format};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Jws, Format::Cose] {
        if let Ok(env) = Envelope::parse(format, data) {
            let _ = env.verify_integrity();
        }
    }
    let _ = palisade_trust::notation::policy::TrustPolicy::from_json(data);
});
