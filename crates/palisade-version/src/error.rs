//! The one error type of the crate: every message names the input it is about.

use std::borrow::Cow;

use crate::Scheme;

/// Longest input quoted in an error message; longer input is cut and marked with `…`.
const MAX_QUOTED: usize = 128;

/// What went wrong, with the text that caused it.
///
/// Messages read `invalid dpkg version "1:": epoch without upstream version`; callers add
/// their own context (advisory id, package, file) around it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a version of the scheme.
    #[error("invalid {scheme} version {input:?}: {reason}")]
    InvalidVersion {
        /// The scheme the text was parsed with.
        scheme: Scheme,
        /// The text, cut to 128 characters.
        input: String,
        /// Why it was rejected.
        reason: Cow<'static, str>,
    },
    /// Two versions of different schemes were compared; no order exists between them.
    #[error("cannot compare a {left} version with a {right} version")]
    SchemeMismatch {
        /// The scheme of the left-hand version.
        left: Scheme,
        /// The scheme of the right-hand version.
        right: Scheme,
    },
    /// An event of an OSV range holds a version its scheme cannot parse.
    #[error("OSV range {range_index}, `{event}` event: {error}")]
    InvalidRangeEvent {
        /// Position of the range in the `ranges` array.
        range_index: usize,
        /// The event key: `introduced`, `fixed`, `last_affected` or `limit`.
        event: &'static str,
        /// The parse error of the event's version.
        error: Box<Error>,
    },
}

impl Error {
    pub(crate) fn invalid(
        scheme: Scheme,
        input: &str,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error::InvalidVersion {
            scheme,
            input: quote(input),
            reason: reason.into(),
        }
    }
}

fn quote(input: &str) -> String {
    if input.chars().count() <= MAX_QUOTED {
        return input.to_owned();
    }
    let mut cut: String = input.chars().take(MAX_QUOTED).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_scheme_input_and_reason() {
        let e = Error::invalid(Scheme::Dpkg, "1:", "epoch without upstream version");
        assert_eq!(
            e.to_string(),
            r#"invalid dpkg version "1:": epoch without upstream version"#
        );
    }

    #[test]
    fn long_input_is_cut_and_control_characters_escaped() {
        let long = "9".repeat(1000);
        let e = Error::invalid(Scheme::Rpm, &long, "too long");
        let msg = e.to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'));
        let e = Error::invalid(Scheme::Rpm, "1\n\u{1b}[31m", "bad");
        assert!(e.to_string().contains(r"\n\u{1b}"), "{e}");
    }
}
