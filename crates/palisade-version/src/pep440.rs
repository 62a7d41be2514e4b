//! Python package versions as PEP 440 defines them (the grammar and ordering of `packaging`).

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::num::Num;
use crate::{Error, Scheme};

/// A parsed PEP 440 version. Equality is the ordering's: `1.0` equals `1.0.0`, and `1.0RC1`
/// equals `1.0rc1`, `1.0-rc-1` and `1.0c1`.
#[derive(Clone, Debug)]
pub struct Pep440Version {
    text: Box<str>,
    key: Key,
    release: Vec<Num>,
}

/// The ordering key of `packaging.version._cmpkey`; the derived order is PEP 440's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    epoch: Num,
    /// Release without trailing zeros.
    release: Vec<Num>,
    pre: Pre,
    post: Option<Num>,
    dev: Dev,
    local: Option<Vec<LocalPart>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreLabel {
    A,
    B,
    Rc,
}

/// `NegInf` is a dev release without pre or post (`1.0.dev0 < 1.0a0`); `Inf` no pre-release.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    NegInf,
    Some(PreLabel, Num),
    Inf,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dev {
    Some(Num),
    Inf,
}

/// Local segments: a number sorts above any string.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Str(Box<str>),
    Num(Num),
}

/// A cursor over the lower-cased text.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn eat_sep(&mut self) -> bool {
        matches!(self.peek(), Some(b'-' | b'_' | b'.')) && {
            self.at += 1;
            true
        }
    }

    fn digits(&mut self) -> Option<Num> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start)
            .then(|| Num::new(std::str::from_utf8(&self.s[start..self.at]).unwrap_or("0")))
    }

    /// Eats the first of `words` that the text continues with (list longer words first).
    fn word<T: Copy>(&mut self, words: &[(&str, T)]) -> Option<T> {
        let rest = &self.s[self.at..];
        let &(w, t) = words.iter().find(|(w, _)| rest.starts_with(w.as_bytes()))?;
        self.at += w.len();
        Some(t)
    }

    /// `[-_.]? label [-_.]? digits?`, or nothing (the cursor is restored).
    fn labelled<T: Copy>(&mut self, words: &[(&str, T)]) -> Option<(T, Num)> {
        let start = self.at;
        self.eat_sep();
        let Some(label) = self.word(words) else {
            self.at = start;
            return None;
        };
        self.eat_sep();
        // `1.0a.` is valid: the grammar lets a separator trail a label without a number.
        Some((label, self.digits().unwrap_or_else(Num::zero)))
    }
}

const PRE_LABELS: &[(&str, PreLabel)] = &[
    ("alpha", PreLabel::A),
    ("a", PreLabel::A),
    ("beta", PreLabel::B),
    ("b", PreLabel::B),
    ("preview", PreLabel::Rc),
    ("pre", PreLabel::Rc),
    ("c", PreLabel::Rc),
    ("rc", PreLabel::Rc),
];
const POST_LABELS: &[(&str, ())] = &[("post", ()), ("rev", ()), ("r", ())];
const DEV_LABEL: &[(&str, ())] = &[("dev", ())];

impl Pep440Version {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::invalid(Scheme::Pep440, input, reason);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("empty version".into()));
        }
        if !trimmed.is_ascii() {
            return Err(err("contains a non-ASCII character".into()));
        }
        let lower = trimmed.to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            at: 0,
        };
        c.eat(b'v');
        // Epoch: digits followed by `!`.
        let start = c.at;
        let epoch = match (c.digits(), c.eat(b'!')) {
            (Some(n), true) => n,
            _ => {
                c.at = start;
                Num::zero()
            }
        };
        let mut release = vec![
            c.digits()
                .ok_or_else(|| err("expected a release number".into()))?,
        ];
        while c.peek() == Some(b'.') && c.s.get(c.at + 1).is_some_and(u8::is_ascii_digit) {
            c.at += 1;
            release.extend(c.digits());
        }
        let pre = c.labelled(PRE_LABELS);
        let post = {
            let start = c.at;
            if c.eat(b'-') && c.peek().is_some_and(|d| d.is_ascii_digit()) {
                c.digits()
            } else {
                c.at = start;
                c.labelled(POST_LABELS).map(|((), n)| n)
            }
        };
        let dev = c.labelled(DEV_LABEL).map(|((), n)| n);
        let local = if c.eat(b'+') {
            let mut parts = Vec::new();
            loop {
                let start = c.at;
                while c.peek().is_some_and(|d| d.is_ascii_alphanumeric()) {
                    c.at += 1;
                }
                let part = &lower[start..c.at];
                if part.is_empty() {
                    return Err(err("empty local version segment".into()));
                }
                parts.push(if part.bytes().all(|d| d.is_ascii_digit()) {
                    LocalPart::Num(Num::new(part))
                } else {
                    LocalPart::Str(part.into())
                });
                if !c.eat_sep() {
                    break;
                }
            }
            Some(parts)
        } else {
            None
        };
        if c.at != lower.len() {
            return Err(err(format!("unexpected {:?}", &trimmed[c.at..])));
        }
        let mut key_release = release.clone();
        while key_release.last().is_some_and(Num::is_zero) {
            key_release.pop();
        }
        let key = Key {
            epoch,
            release: key_release,
            pre: match pre {
                Some((label, n)) => Pre::Some(label, n),
                None if post.is_none() && dev.is_some() => Pre::NegInf,
                None => Pre::Inf,
            },
            post,
            dev: dev.map_or(Dev::Inf, Dev::Some),
            local,
        };
        Ok(Pep440Version {
            text: input.into(),
            key,
            release,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a pre-release or a development release.
    pub fn is_prerelease(&self) -> bool {
        matches!(self.key.pre, Pre::Some(..)) || matches!(self.key.dev, Dev::Some(_))
    }

    /// The normalised form PEP 440 prescribes (`1.0RC1` → `1.0rc1`, `v1.0-post-1` → `1.0.post1`).
    pub fn normalized(&self) -> String {
        let k = &self.key;
        let mut s = String::new();
        if !k.epoch.is_zero() {
            let _ = write!(s, "{}!", k.epoch.as_str());
        }
        let release: Vec<&str> = self.release.iter().map(Num::as_str).collect();
        s.push_str(&release.join("."));
        if let Pre::Some(label, n) = &k.pre {
            let label = match label {
                PreLabel::A => "a",
                PreLabel::B => "b",
                PreLabel::Rc => "rc",
            };
            let _ = write!(s, "{label}{}", n.as_str());
        }
        if let Some(n) = &k.post {
            let _ = write!(s, ".post{}", n.as_str());
        }
        if let Dev::Some(n) = &k.dev {
            let _ = write!(s, ".dev{}", n.as_str());
        }
        if let Some(local) = &k.local {
            let parts: Vec<&str> = local
                .iter()
                .map(|p| match p {
                    LocalPart::Str(t) => &**t,
                    LocalPart::Num(n) => n.as_str(),
                })
                .collect();
            let _ = write!(s, "+{}", parts.join("."));
        }
        s
    }
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

crate::ordered_by_cmp!(Pep440Version);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Pep440Version {
        Pep440Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn spec_example_ordering() {
        // PEP 440, "Summary of permitted suffixes and relative ordering".
        let list = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ];
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(v(a) < v(b), "{a} < {b}");
            }
        }
    }

    #[test]
    fn normalisation() {
        for (input, norm) in [
            ("1.0RC1", "1.0rc1"),
            ("1.0-rc-1", "1.0rc1"),
            ("1.0c1", "1.0rc1"),
            ("1.0preview1", "1.0rc1"),
            ("1.0alpha1", "1.0a1"),
            ("1.0.beta.2", "1.0b2"),
            ("1.0a", "1.0a0"),
            ("v1.0", "1.0"),
            ("  1.0\n", "1.0"),
            ("1.0-1", "1.0.post1"),
            ("1.0-post1", "1.0.post1"),
            ("1.0rev1", "1.0.post1"),
            ("1.0r", "1.0.post0"),
            ("1.0-dev", "1.0.dev0"),
            ("1.0.DEV2", "1.0.dev2"),
            ("0!1.0", "1.0"),
            ("01!001.0002", "1!1.2"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
            ("1.0+Local_Version", "1.0+local.version"),
            ("1.0a.", "1.0a0"),
        ] {
            assert_eq!(v(input).normalized(), norm, "{input}");
            assert_eq!(v(input), v(norm), "{input} == {norm}");
        }
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1.0RC1"), v("1.0rc1"));
        assert!(v("1.0") < v("1.0+local"));
        assert!(v("1.0+local") < v("1.0.post1"));
        assert!(v("1.0+abc") < v("1.0+1"));
        assert!(v("1.0+1") < v("1.0+1.a"));
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for bad in [
            "",
            "1.",
            "a1",
            "1.0.",
            "1.0+",
            "1.0+a..b",
            "1.0-",
            "1.0ab",
            "1.0.post1.post2",
            "1!",
            "1.0 1",
            "１.0",
            "1.0dev1a",
        ] {
            assert!(
                Pep440Version::parse(bad).is_err(),
                "{bad:?} should be invalid"
            );
        }
        let e = Pep440Version::parse("1.0-foo").unwrap_err().to_string();
        assert_eq!(e, r#"invalid PEP 440 version "1.0-foo": unexpected "-foo""#);
    }
}
