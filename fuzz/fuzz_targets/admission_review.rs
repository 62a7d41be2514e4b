//! `AdmissionReview` decoding and what the webhook does with the object before deciding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_server::fuzzing::admission_review(data);
});
