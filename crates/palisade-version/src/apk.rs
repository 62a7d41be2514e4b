//! Alpine apk versions, `digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}`, ordered as
//! apk-tools' `apk_version_compare` does.

use std::cmp::Ordering;

use crate::num::cmp_digits;
use crate::{Error, Scheme};

/// A parsed apk version.
#[derive(Clone, Debug)]
pub struct ApkVersion {
    text: Box<str>,
    tokens: Vec<Token>,
}

/// Token kinds in apk-tools' order: a token of a lower kind makes a version greater than one
/// where a higher kind stands at the same place (`1.2.3.1 > 1.2.3_p1 > 1.2.3-r1 > 1.2.3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
}

/// Suffixes in apk-tools' order; those before `None` are pre-releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    None,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    /// Byte range of the token's value in the text (digits, letter, suffix name or hash).
    value: (usize, usize),
    suffix: Suffix,
}

fn suffix(name: &str) -> Option<Suffix> {
    Some(match name {
        "alpha" => Suffix::Alpha,
        "beta" => Suffix::Beta,
        "pre" => Suffix::Pre,
        "rc" => Suffix::Rc,
        "cvs" => Suffix::Cvs,
        "svn" => Suffix::Svn,
        "git" => Suffix::Git,
        "hg" => Suffix::Hg,
        "p" => Suffix::P,
        _ => return None,
    })
}

impl ApkVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::invalid(Scheme::Apk, input, reason);
        let b = input.as_bytes();
        let run = |from: usize, pred: fn(&u8) -> bool| {
            from + b[from..].iter().take_while(|c| pred(c)).count()
        };
        let mut tokens = Vec::new();
        let end = run(0, u8::is_ascii_digit);
        if end == 0 {
            return Err(err(if b.is_empty() {
                "empty version".into()
            } else {
                "must start with a digit".into()
            }));
        }
        tokens.push(Token {
            kind: Kind::InitialDigit,
            value: (0, end),
            suffix: Suffix::None,
        });
        let mut at = end;
        while at < b.len() {
            let prev = tokens.last().map_or(Kind::InitialDigit, |t| t.kind);
            let c = b[at];
            let misplaced = || err(format!("unexpected {:?} at byte {at}", char::from(c)));
            let token = match c {
                b'a'..=b'z' => {
                    if prev > Kind::Digit {
                        return Err(misplaced());
                    }
                    Token {
                        kind: Kind::Letter,
                        value: (at, at + 1),
                        suffix: Suffix::None,
                    }
                }
                b'.' | b'0'..=b'9' => {
                    let kind = match (c, prev) {
                        (b'.', Kind::InitialDigit | Kind::Digit) => Kind::Digit,
                        (b'0'..=b'9', Kind::Suffix) => Kind::SuffixNo,
                        _ => return Err(misplaced()),
                    };
                    let from = if c == b'.' { at + 1 } else { at };
                    let end = run(from, u8::is_ascii_digit);
                    if end == from {
                        return Err(err(format!(
                            "missing number after {:?} at byte {at}",
                            char::from(c)
                        )));
                    }
                    Token {
                        kind,
                        value: (from, end),
                        suffix: Suffix::None,
                    }
                }
                b'_' => {
                    if prev > Kind::SuffixNo {
                        return Err(misplaced());
                    }
                    let end = run(at + 1, u8::is_ascii_lowercase);
                    let name = &input[at + 1..end];
                    let suffix = suffix(name).ok_or_else(|| {
                        err(format!("unknown suffix {name:?} (expected alpha, beta, pre, rc, cvs, svn, git, hg or p)"))
                    })?;
                    Token {
                        kind: Kind::Suffix,
                        value: (at + 1, end),
                        suffix,
                    }
                }
                b'~' => {
                    if prev >= Kind::CommitHash {
                        return Err(misplaced());
                    }
                    let end = run(at + 1, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                    if end == at + 1 {
                        return Err(err(format!("missing commit hash after '~' at byte {at}")));
                    }
                    Token {
                        kind: Kind::CommitHash,
                        value: (at + 1, end),
                        suffix: Suffix::None,
                    }
                }
                b'-' => {
                    if prev >= Kind::RevisionNo || b.get(at + 1) != Some(&b'r') {
                        return Err(err(format!(
                            "'-' at byte {at} must start the revision `-r<number>`"
                        )));
                    }
                    let end = run(at + 2, u8::is_ascii_digit);
                    if end == at + 2 {
                        return Err(err("revision `-r` without a number".into()));
                    }
                    Token {
                        kind: Kind::RevisionNo,
                        value: (at + 2, end),
                        suffix: Suffix::None,
                    }
                }
                _ => {
                    let c = input[at..].chars().next().unwrap_or('\u{fffd}');
                    return Err(err(format!("invalid character {c:?} at byte {at}")));
                }
            };
            at = token.value.1;
            tokens.push(token);
        }
        Ok(ApkVersion {
            text: input.into(),
            tokens,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn value(&self, t: &Token) -> &[u8] {
        &self.text.as_bytes()[t.value.0..t.value.1]
    }

    fn token_cmp(&self, ta: &Token, other: &Self, tb: &Token) -> Ordering {
        let (a, b) = (self.value(ta), other.value(tb));
        match ta.kind {
            // apk-tools compares a number with a leading zero as a string, as Gentoo does.
            Kind::Digit if a.first() == Some(&b'0') || b.first() == Some(&b'0') => a.cmp(b),
            Kind::Digit | Kind::InitialDigit | Kind::SuffixNo | Kind::RevisionNo => {
                cmp_digits(a, b)
            }
            Kind::Suffix => ta.suffix.cmp(&tb.suffix),
            Kind::Letter | Kind::CommitHash | Kind::End => a.cmp(b),
        }
    }
}

const END: Token = Token {
    kind: Kind::End,
    value: (0, 0),
    suffix: Suffix::None,
};

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut k = 0;
        let (ta, tb) = loop {
            let ta = self.tokens.get(k).unwrap_or(&END);
            let tb = other.tokens.get(k).unwrap_or(&END);
            if ta.kind != tb.kind || ta.kind == Kind::End {
                break (ta, tb);
            }
            let ord = self.token_cmp(ta, other, tb);
            if ord != Ordering::Equal {
                return ord;
            }
            k += 1;
        };
        if ta.kind == tb.kind {
            return Ordering::Equal;
        }
        // Same so far: the longer version is greater unless what it has more is a pre-release
        // suffix; a lower token kind is greater.
        if ta.kind == Kind::Suffix && ta.suffix < Suffix::None {
            return Ordering::Less;
        }
        if tb.kind == Kind::Suffix && tb.suffix < Suffix::None {
            return Ordering::Greater;
        }
        tb.kind.cmp(&ta.kind)
    }
}

crate::ordered_by_cmp!(ApkVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApkVersion {
        ApkVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ascending(list: &[&str]) {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(v(a) < v(b), "{a} < {b}");
                assert!(v(b) > v(a), "{b} > {a}");
            }
        }
    }

    #[test]
    fn suffixes_and_revisions() {
        // `_p` is a patch level of the upstream release, so it beats a packaging revision.
        ascending(&["1.2.3_rc1", "1.2.3", "1.2.3-r1", "1.2.3_p1", "1.2.3.1"]);
        ascending(&[
            "1.0_alpha",
            "1.0_alpha2",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0_cvs",
            "1.0_svn",
            "1.0_git",
            "1.0_hg",
            "1.0_p1",
        ]);
        ascending(&["0.1.0_alpha_pre2", "0.1.0_alpha"]);
        ascending(&["1.0_p9-r0", "1.0_p10-r0"]);
        ascending(&["1.0.4-r3", "1.0.4-r4", "1.0.4-r10", "1.6"]);
        ascending(&["2.3.0b-r1", "2.3.0b-r2", "2.3.0c"]);
        ascending(&["1.0~1234-r0", "1.0~1234-r1", "1.0~2345-r0"]);
        assert_eq!(v("0.1.0_alpha"), v("0.1.0_alpha"));
    }

    #[test]
    fn leading_zeros_switch_to_string_comparison() {
        ascending(&["8.2.0", "8.2.001"]);
        ascending(&["8.2.0015", "8.2.002"]);
        ascending(&["1.06-r6", "006"]);
        assert_eq!(v("01.2"), v("1.2"));
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for bad in [
            "",
            "a",
            ".1",
            "_pre1",
            "-r1",
            "0.1bc",
            "0.1a1",
            "0.1a.1",
            "0.1_pre2~",
            "0.1_pre2~1234xbcd",
            "0.1_pre2~1234abcd_pre1",
            "0.1_foobar",
            "0.1-pre1.1",
            "0.1-r",
            "0.1-r2_pre1",
            "0.1-r2-r3",
            "0.1-r2.1",
            "0.1_",
            "0.1_-r0",
            "0.1__alpha",
            "0.1_1_alpha",
            "1.0 ",
            "1.0\u{e9}",
        ] {
            assert!(ApkVersion::parse(bad).is_err(), "{bad:?} should be invalid");
        }
        for good in [
            "1.2",
            "0.1_pre2",
            "0.1_pre2~1234abcd",
            "0.1_p1_pre2",
            "0.1_git20240101_pre1",
            "1.0_p1-r2",
        ] {
            assert!(ApkVersion::parse(good).is_ok(), "{good:?} should be valid");
        }
        let e = ApkVersion::parse("0.1_foobar").unwrap_err().to_string();
        assert!(
            e.starts_with(r#"invalid apk version "0.1_foobar": unknown suffix "foobar""#),
            "{e}"
        );
    }
}
