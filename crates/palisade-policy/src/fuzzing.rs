//! Entry points for the fuzz targets in `fuzz/` at the repository root. Not part of the API:
//! hidden from the docs, may change at any time.
//!
//! Errors are fine (they are the policy author's diagnostics); panics, hangs and unbounded
//! allocations are bugs. Nothing here evaluates Rego: the front end only (YAML, validation,
//! nesting and recursion checks, regorus's parser), so a fuzzed `numbers.range` costs nothing.

use std::path::Path;

use crate::error::PolicyError;
use crate::policy::Policy;
use crate::rego::RegoRule;

/// The first byte picks the front end: even, a policy file (YAML and everything it holds,
/// inline Rego included); odd, a Rego module on its own. Returns whether it was accepted.
#[must_use]
pub fn policy(data: &[u8]) -> bool {
    let Some((&which, rest)) = data.split_first() else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return false;
    };
    if which % 2 == 0 {
        match Policy::parse_with(text, "fuzz.yaml", Path::new("/nonexistent"), false) {
            Ok(_) => true,
            Err(e) => {
                check_error(&e, text);
                false
            }
        }
    } else {
        RegoRule::compile("fuzz", "fuzz.rego", text, "fuzz.rego").is_ok()
    }
}

/// Every diagnostic names a file and has a message; a located one points inside the text
/// (inline Rego errors are mapped back into the policy file).
fn check_error(e: &PolicyError, text: &str) {
    // YAML breaks lines at `\n`, `\r\n` and a lone `\r` (`str::lines` misses the last).
    let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() as u64 + 1;
    for d in e.diagnostics() {
        assert!(!d.path.is_empty(), "diagnostic without a path: {d:?}");
        assert!(!d.message.is_empty(), "diagnostic without a message: {d:?}");
        // The library's own advice, not the user's text quoted back (an unknown key may be
        // spelled anything, these words included).
        for internal in ["DuplicateKeyPolicy", "from_str_multi"] {
            assert!(
                !d.message.contains(internal) || text.contains(internal),
                "library internals in a message: {d:?}"
            );
        }
        if d.path == "fuzz.yaml" {
            assert!(
                d.line <= lines + 1,
                "line {} past the end ({lines}): {d:?}",
                d.line
            );
        }
    }
}
