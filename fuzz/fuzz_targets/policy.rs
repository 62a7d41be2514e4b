//! The policy front end: a policy file (YAML, validation, inline Rego) or a Rego module.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_policy::fuzzing::policy(data);
});
