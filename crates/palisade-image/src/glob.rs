//! The one glob syntax of Palisade's policy files, trusted-source rules and hardening profiles.
//!
//! Image names (`registry/repository`) are the reason `/` is special, hence this home; the same
//! rules serve every other pattern (tags, signers, advisory IDs, package names, check IDs,
//! service names) so a user learns them once:
//!
//! - `?` matches one character other than `/`;
//! - `*` matches any run of characters (also none) other than `/`: it stays within one path
//!   segment;
//! - `**` (two or more `*` in a row) matches any run of characters, `/` included;
//! - every other character matches itself; there are no classes (`[a-z]`), alternatives
//!   (`{a,b}`) or escapes, and [`check_glob`] refuses `[`, `]`, `{`, `}` so nobody expects them;
//! - the whole text must match (`debian` does not match `debian-slim`);
//! - case is the caller's choice ([`Case`]): names whose case is significant are compared
//!   exactly, identifiers that are conventionally case-insensitive ignore ASCII case.
//!
//! Matching is a dynamic programme over pattern tokens and text characters, so its cost is
//! bounded by `pattern length × text length`; a pattern longer than [`MAX_GLOB_BYTES`] or a text
//! longer than [`MAX_GLOB_TEXT_BYTES`] never matches.
//!
//! ```
//! use palisade_image::{Case, glob_match};
//! assert!(glob_match("ghcr.io/acme/*", "ghcr.io/acme/app", Case::Sensitive));
//! assert!(!glob_match("ghcr.io/acme/*", "ghcr.io/acme/team/app", Case::Sensitive));
//! assert!(glob_match("ghcr.io/acme/**", "ghcr.io/acme/team/app", Case::Sensitive));
//! assert!(glob_match("cve-2024-*", "CVE-2024-1234", Case::Insensitive));
//! ```

/// The longest pattern accepted by [`check_glob`] and matched by [`glob_match`].
pub const MAX_GLOB_BYTES: usize = 512;
/// The longest text [`glob_match`] matches; a longer one matches no pattern.
pub const MAX_GLOB_TEXT_BYTES: usize = 4096;

/// How letters compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Exactly: image names, tags, signer names.
    Sensitive,
    /// Ignoring ASCII case (`a` = `A`, other characters exactly): advisory IDs, package names,
    /// check IDs, service names.
    Insensitive,
}

/// A pattern [`check_glob`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob {pattern:?}: {kind}")]
pub struct GlobError {
    pattern: String,
    kind: GlobErrorKind,
}

impl GlobError {
    /// What is wrong with the pattern.
    #[must_use]
    pub fn kind(&self) -> &GlobErrorKind {
        &self.kind
    }

    /// The refused pattern (its first 64 characters).
    #[must_use]
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Why a pattern is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobErrorKind {
    /// The pattern is empty.
    #[error("empty pattern")]
    Empty,
    /// The pattern is longer than [`MAX_GLOB_BYTES`].
    #[error("longer than {MAX_GLOB_BYTES} bytes")]
    TooLong,
    /// A character other globs give a meaning to (`[`, `]`, `{`, `}`).
    #[error("`{0}` is not supported (only `*`, `**` and `?`; no classes or alternatives)")]
    Unsupported(char),
    /// Three or more `*` in a row.
    #[error("`***` is not a pattern (use `*` or `**`)")]
    TripleStar,
    /// A control character.
    #[error("control characters are not allowed")]
    Control,
}

/// Whether `pattern` is a glob this module accepts from a user.
///
/// # Errors
/// [`GlobError`] when it is empty, longer than [`MAX_GLOB_BYTES`], uses `[`, `]`, `{` or `}`,
/// has `***`, or holds a control character.
pub fn check_glob(pattern: &str) -> Result<(), GlobError> {
    let kind = if pattern.is_empty() {
        GlobErrorKind::Empty
    } else if pattern.len() > MAX_GLOB_BYTES {
        GlobErrorKind::TooLong
    } else if let Some(c) = pattern.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
        GlobErrorKind::Unsupported(c)
    } else if pattern.contains("***") {
        GlobErrorKind::TripleStar
    } else if pattern.chars().any(char::is_control) {
        GlobErrorKind::Control
    } else {
        return Ok(());
    };
    Err(GlobError {
        pattern: pattern.chars().take(64).collect(),
        kind,
    })
}

/// Whether the whole of `text` matches `pattern` under the rules of this module.
#[must_use]
pub fn glob_match(pattern: &str, text: &str, case: Case) -> bool {
    if pattern.len() > MAX_GLOB_BYTES || text.len() > MAX_GLOB_TEXT_BYTES {
        return false;
    }
    let same = |a: char, b: char| match case {
        Case::Sensitive => a == b,
        Case::Insensitive => a.eq_ignore_ascii_case(&b),
    };
    if !pattern.contains(['*', '?']) {
        let mut p = pattern.chars();
        let mut t = text.chars();
        return loop {
            match (p.next(), t.next()) {
                (None, None) => break true,
                (Some(a), Some(b)) if same(a, b) => {}
                _ => break false,
            }
        };
    }
    let t: Vec<char> = text.chars().collect();
    // matched[j]: the pattern so far matches t[..j].
    let mut matched = vec![false; t.len() + 1];
    let mut next = vec![false; t.len() + 1];
    matched[0] = true;
    let mut p = pattern.chars().peekable();
    while let Some(c) = p.next() {
        match c {
            '*' => {
                let mut crosses = false;
                while p.next_if_eq(&'*').is_some() {
                    crosses = true;
                }
                next[0] = matched[0];
                for j in 1..=t.len() {
                    next[j] = matched[j] || (next[j - 1] && (crosses || t[j - 1] != '/'));
                }
            }
            '?' => {
                next[0] = false;
                for j in 1..=t.len() {
                    next[j] = matched[j - 1] && t[j - 1] != '/';
                }
            }
            c => {
                next[0] = false;
                for j in 1..=t.len() {
                    next[j] = matched[j - 1] && same(c, t[j - 1]);
                }
            }
        }
        std::mem::swap(&mut matched, &mut next);
        if !matched.contains(&true) {
            return false;
        }
    }
    matched[t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p, t, Case::Sensitive)
    }

    fn mi(p: &str, t: &str) -> bool {
        glob_match(p, t, Case::Insensitive)
    }

    #[test]
    fn image_names() {
        assert!(m("ghcr.io/acme/*", "ghcr.io/acme/app"));
        assert!(!m("ghcr.io/acme/*", "ghcr.io/acme/team/app"));
        assert!(m("ghcr.io/acme/**", "ghcr.io/acme/team/app"));
        assert!(!m("ghcr.io/acme/**", "ghcr.io/acme"));
        assert!(m("*.example.com/**", "reg.example.com/a/b"));
        assert!(!m("*.example.com/**", "example.com/a"));
        assert!(m("127.0.0.1:*/testbed/**", "127.0.0.1:5000/testbed/app"));
        assert!(!m("127.0.0.1:*/testbed/**", "127.0.0.1:5000/x/testbed/app"));
        assert!(m(
            "registry.acme.com/team**",
            "registry.acme.com/team-a/app"
        ));
        assert!(m("**", ""));
        assert!(m("**", "a/b/c"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(
            !m("a/**/b", "a/b"),
            "`**` is not a path component: the slashes are literal"
        );
        assert!(!m(
            "docker.io/library/debian",
            "docker.io/library/debian-slim"
        ));
        assert!(!m("Docker.io/**", "docker.io/library/debian"));
    }

    #[test]
    fn question_mark_and_star() {
        assert!(m("latest", "latest"));
        assert!(m("*-dev", "1.2-dev"));
        assert!(m("v?", "v1"));
        assert!(!m("v?", "v12"));
        assert!(!m("v?", "v"));
        assert!(m("v?", "vé"), "`?` is one character, not one byte");
        assert!(!m("a?b", "a/b"));
        assert!(m("*", ""));
        assert!(!m("?", ""));
        assert!(!m("a*b", "acbd"));
        assert!(m("a*b*", "acbd"));
        assert!(m("*a*a*a*b", "aaaaaaaaaaaaaab"));
        assert!(!m("*a*a*a*b", "aaaaaaaaaaaaaaa"));
        assert!(
            m("a***b", "a/x/b"),
            "a run of stars is `**` (check_glob refuses `***`)"
        );
    }

    #[test]
    fn case() {
        assert!(mi("CIS-DOCKER-5.*", "CIS-DOCKER-5.10"));
        assert!(mi("cis-docker-3.?", "CIS-DOCKER-3.5"));
        assert!(!mi("CIS-DOCKER-3.?", "CIS-DOCKER-3.15"));
        assert!(mi("ghsa-*", "GHSA-abcd-efgh-ijkl"));
        assert!(!m("ghsa-*", "GHSA-abcd-efgh-ijkl"));
        assert!(mi("@Acme/*", "@acme/pkg"));
        assert!(!mi("é", "É"), "only ASCII letters fold");
        assert!(mi("exact", "EXACT"));
        assert!(!m("exact", "EXACT"));
    }

    /// The one rule where the three former matchers disagreed: `/` ends `*` and `?` for every
    /// pattern. Before, package globs (palisade-policy, via `palisade_trust::rules::glob_match`
    /// without segments) and hardening-profile globs (`palisade_harden::profile::glob_match`)
    /// let `*` and `?` cross it.
    #[test]
    fn slash_ends_star_everywhere() {
        // Package names with a slash: npm scopes, Go module paths.
        assert!(mi("@acme/*", "@acme/app"));
        assert!(!mi("github.com/acme/*", "github.com/acme/app/v2")); // matched before
        assert!(mi("github.com/acme/**", "github.com/acme/app/v2"));
        assert!(!mi("*", "@acme/app")); // matched before
        assert!(mi("**", "@acme/app"));
    }

    #[test]
    fn bounds() {
        let long = "a".repeat(MAX_GLOB_TEXT_BYTES + 1);
        assert!(!m("**", &long));
        assert!(m("**", &long[1..]));
        let pattern = "*".repeat(2) + &"a".repeat(MAX_GLOB_BYTES - 1);
        assert!(!m(&pattern, &long[1..]));
        // The worst case allowed is quick: 512 pattern tokens over 4,096 characters.
        let worst = "*a".repeat(MAX_GLOB_BYTES / 2);
        assert!(!m(&worst, &"a".repeat(200)));
        assert!(m(&worst, &"a".repeat(MAX_GLOB_TEXT_BYTES)));
    }

    #[test]
    fn checks() {
        assert!(check_glob("registry.acme.com/**").is_ok());
        assert!(check_glob("CIS-DOCKER-4.?").is_ok());
        let kind = |p: &str| check_glob(p).unwrap_err().kind().clone();
        assert_eq!(kind(""), GlobErrorKind::Empty);
        assert_eq!(kind("a[bc]"), GlobErrorKind::Unsupported('['));
        assert_eq!(kind("{a,b}"), GlobErrorKind::Unsupported('{'));
        assert_eq!(kind("a/***"), GlobErrorKind::TripleStar);
        assert_eq!(kind(&"a".repeat(513)), GlobErrorKind::TooLong);
        assert_eq!(kind("a\nb"), GlobErrorKind::Control);
        assert!(check_glob(&"a".repeat(512)).is_ok());
        let e = check_glob("a[b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid glob \"a[b\": `[` is not supported (only `*`, `**` and `?`; no classes or alternatives)"
        );
    }
}
