//! Maven versions, ordered as `org.apache.maven.artifact.versioning.ComparableVersion` of
//! Maven 3.9 orders them: items split at `.`, `-` and digit/letter changes, sub-lists after
//! `-` and at those changes, and well-known qualifiers.

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Error, Scheme};

/// Longest version accepted, as Maven 4 bounds it: nesting depth, and so the recursion of
/// comparison, grows with the length.
const MAX_LENGTH: usize = 256;

/// A parsed Maven version. Equality is the ordering's: `1` equals `1.0`, `1.0.0`, `1-0`,
/// `1.ga`, `1-final` and `1.release`.
///
/// Maven's comparison is not transitive: a number beats a qualifier or sub-list, and a
/// qualifier loses to a sub-list, whatever either is worth against a missing item, so
/// `a < -m0 < 0 < a` and `0.3.0-SNAPSHOT > 0.3.jre-SNAPSHOT` although `0.3.0-SNAPSHOT < 0.3 <
/// 0.3.jre-SNAPSHOT`. A Rust `Ord` must be total (sorting may panic otherwise), so here each
/// item is first placed below, at or above a missing item (a zero by what follows it), and
/// Maven's type order (qualifier < sub-list < number) applies within each side. Checked
/// against Maven 3.9 on random versions, this differs from Maven only on pairs where Maven
/// contradicts itself, and there it takes the answer that comparing both with a shorter
/// version gives. Only ASCII digits count as digits (Maven 3.9 takes any Unicode digit).
#[derive(Clone, Debug)]
pub struct MavenVersion {
    text: Box<str>,
    items: Vec<Item>,
}

/// An item as Maven's parser makes it.
#[derive(Clone, Debug)]
enum Raw {
    Num(Num),
    Str(Qualifier),
    List(Vec<Raw>),
}

/// An item ready to compare: each item knows where it stands against a missing item (the
/// padding of a shorter list), and a zero knows where the rest of its list stands.
#[derive(Clone, Debug)]
enum Item {
    /// A number above zero.
    Num(Num),
    /// A zero, with the sign of what follows it in its list against nothing.
    Zero(Ordering),
    Str(Qualifier),
    /// A sub-list (always the last item of its list) with its sign against nothing.
    List(Vec<Item>, Ordering),
}

/// Well-known qualifiers by their index in `alpha, beta, milestone, rc, snapshot, "", sp`;
/// unknown ones after them, in lexical order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Qualifier {
    Known(u8),
    Unknown(Box<str>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE: Qualifier = Qualifier::Known(5);

impl Qualifier {
    fn new(value: &str, followed_by_digit: bool) -> Self {
        let value = match value {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            v => v,
        };
        match QUALIFIERS.iter().position(|q| *q == value) {
            Some(i) => Qualifier::Known(u8::try_from(i).unwrap_or(u8::MAX)),
            None => Qualifier::Unknown(value.into()),
        }
    }
}

impl Raw {
    fn parse(digits: bool, text: &str) -> Raw {
        if digits {
            Raw::Num(Num::new(text))
        } else {
            Raw::Str(Qualifier::new(text, false))
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Raw::Num(n) => n.is_zero(),
            Raw::Str(q) => *q == RELEASE,
            Raw::List(l) => l.is_empty(),
        }
    }
}

/// `ListItem.normalize`: drop trailing null items, looking past sub-lists.
fn normalize(list: &mut Vec<Raw>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Raw::List(_)) {
            break;
        }
    }
}

/// Turns a normalised list into comparable items and returns them with the list's sign (how
/// it compares with nothing: its first item that is not equal to nothing decides).
fn annotate(list: Vec<Raw>) -> (Vec<Item>, Ordering) {
    let mut tail = Ordering::Equal;
    let mut items: Vec<Item> = list
        .into_iter()
        .rev()
        .map(|raw| {
            let (item, sign) = match raw {
                Raw::Num(n) if n.is_zero() => (Item::Zero(tail), tail),
                Raw::Num(n) => (Item::Num(n), Ordering::Greater),
                Raw::Str(q) => {
                    let sign = q.cmp(&RELEASE);
                    (Item::Str(q), sign)
                }
                Raw::List(l) => {
                    let (l, sign) = annotate(l);
                    (Item::List(l, sign), sign)
                }
            };
            if sign.is_ne() {
                tail = sign;
            }
            item
        })
        .collect();
    items.reverse();
    (items, tail)
}

impl Item {
    /// How the item compares with a missing item.
    fn sign(&self) -> Ordering {
        match self {
            Item::Num(_) => Ordering::Greater,
            Item::Zero(s) | Item::List(_, s) => *s,
            Item::Str(q) => q.cmp(&RELEASE),
        }
    }

    /// Items in blocks: below nothing (qualifiers, sub-lists, zeros followed by less), equal
    /// to nothing, above nothing (qualifiers, sub-lists, zeros followed by more, numbers).
    /// Within a side, Maven's type order: qualifier < sub-list < number.
    fn rank(&self) -> u8 {
        let kind = match self {
            Item::Str(_) => 0,
            Item::List(..) => 1,
            Item::Zero(_) => 2,
            Item::Num(_) => 3,
        };
        match self.sign() {
            Ordering::Less => kind,
            Ordering::Equal => 10,
            Ordering::Greater => 20 + kind,
        }
    }
}

/// Maven's `Item.compareTo` made total; `None` is the missing item of a shorter list.
fn cmp_item(a: &Item, b: Option<&Item>) -> Ordering {
    let Some(b) = b else { return a.sign() };
    a.rank().cmp(&b.rank()).then_with(|| match (a, b) {
        (Item::Num(n), Item::Num(m)) => n.cmp(m),
        (Item::Str(q), Item::Str(r)) => q.cmp(r),
        (Item::List(l, _), Item::List(r, _)) => cmp_lists(l, r),
        // Zeros of one side, or items equal to nothing: look further.
        _ => Ordering::Equal,
    })
}

fn cmp_lists(l: &[Item], r: &[Item]) -> Ordering {
    for k in 0..l.len().max(r.len()) {
        let ord = match (l.get(k), r.get(k)) {
            (Some(a), b) => cmp_item(a, b),
            (None, Some(b)) => cmp_item(b, None).reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord.is_ne() {
            return ord;
        }
    }
    Ordering::Equal
}

impl MavenVersion {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::invalid(Scheme::Maven, input, reason);
        if input.trim().is_empty() {
            return Err(err("empty version".into()));
        }
        if input.chars().count() > MAX_LENGTH {
            return Err(err(format!("longer than {MAX_LENGTH} characters")));
        }
        let lower = input.to_lowercase();
        // The list being filled is the last of `stack`; each new sub-list goes at the end of
        // the current list and becomes the current list, so it is folded back at the end.
        let mut stack: Vec<Vec<Raw>> = vec![Vec::new()];
        let descend = |stack: &mut Vec<Vec<Raw>>| stack.push(Vec::new());
        let mut digits = false;
        let mut start = 0;
        for (i, c) in lower.char_indices() {
            let cur = stack.len() - 1;
            match c {
                '.' | '-' => {
                    let item = if i == start {
                        Raw::Num(Num::zero())
                    } else {
                        Raw::parse(digits, &lower[start..i])
                    };
                    stack[cur].push(item);
                    start = i + 1;
                    if c == '-' {
                        descend(&mut stack);
                    }
                }
                '0'..='9' => {
                    if !digits && i > start {
                        // 1.0.0.X1 < 1.0.0-X2: treat .X as -X for any string qualifier X.
                        if !stack[cur].is_empty() {
                            descend(&mut stack);
                        }
                        let top = stack.len() - 1;
                        stack[top].push(Raw::Str(Qualifier::new(&lower[start..i], true)));
                        start = i;
                        descend(&mut stack);
                    }
                    digits = true;
                }
                _ => {
                    if digits && i > start {
                        stack[cur].push(Raw::parse(true, &lower[start..i]));
                        start = i;
                        descend(&mut stack);
                    }
                    digits = false;
                }
            }
        }
        if lower.len() > start {
            if !digits && stack.last().is_some_and(|l| !l.is_empty()) {
                descend(&mut stack);
            }
            let top = stack.len() - 1;
            stack[top].push(Raw::parse(digits, &lower[start..]));
        }
        // Normalise from the innermost list out, as Maven pops its stack.
        let mut child: Option<Vec<Raw>> = None;
        while let Some(mut list) = stack.pop() {
            if let Some(inner) = child.take() {
                list.push(Raw::List(inner));
            }
            normalize(&mut list);
            child = Some(list);
        }
        let (items, _) = annotate(child.unwrap_or_default());
        Ok(MavenVersion {
            text: input.into(),
            items,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

crate::ordered_by_cmp!(MavenVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MavenVersion {
        MavenVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ascending(list: &[&str]) {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(v(a) < v(b), "{a} < {b}");
                assert!(v(b) > v(a), "{b} > {a}");
            }
        }
    }

    fn equal(a: &str, b: &str) {
        assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} == {b}");
    }

    #[test]
    fn comparable_version_test_qualifiers() {
        // ComparableVersionTest.VERSIONS_QUALIFIER.
        ascending(&[
            "1-alpha2snapshot",
            "1-alpha2",
            "1-alpha-123",
            "1-beta-2",
            "1-beta123",
            "1-m2",
            "1-m11",
            "1-rc",
            "1-cr2",
            "1-rc123",
            "1-SNAPSHOT",
            "1",
            "1-sp",
            "1-sp2",
            "1-sp123",
            "1-abc",
            "1-def",
            "1-pom-1",
            "1-1-snapshot",
            "1-1",
            "1-2",
            "1-123",
        ]);
    }

    #[test]
    fn comparable_version_test_numbers() {
        // ComparableVersionTest.VERSIONS_NUMBER as of Maven 3.9 (MNG-7644: `2.0.a` < `2-1`).
        ascending(&[
            "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
            "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11",
            "11", "11.a", "11b", "11c", "11m",
        ]);
    }

    #[test]
    fn comparable_version_test_equalities() {
        for (a, b) in [
            ("1", "1.0"),
            ("1", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1", "1-0"),
            ("1", "1.0-0"),
            ("1.0", "1.0-0"),
            ("1a", "1-a"),
            ("1a", "1.0-a"),
            ("1a", "1.0.0-a"),
            ("1.0a", "1-a"),
            ("1.0.0a", "1-a"),
            ("1x", "1-x"),
            ("1x", "1.0-x"),
            ("1.0x", "1-x"),
            ("1.0.0x", "1-x"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"),
            ("1X", "1x"),
            ("1A", "1a"),
            ("1B", "1b"),
            ("1M", "1m"),
            ("1Cr", "1Rc"),
            ("1cR", "1rC"),
            ("1m3", "1Milestone3"),
            ("1m3", "1MileStone3"),
            ("1m3", "1MILESTONE3"),
            ("1.ga", "1"),
            ("1-ga", "1"),
            ("1.final", "1"),
            ("1-release", "1"),
            ("1.RELEASE", "1.0.0"),
            ("1.0.0-GA", "1"),
            ("0001.0", "1"),
        ] {
            equal(a, b);
        }
    }

    #[test]
    fn comparable_version_test_orderings() {
        for (a, b) in [
            ("1", "2"),
            ("1.5", "2"),
            ("1", "2.5"),
            ("1.0", "1.1"),
            ("1.1", "1.2"),
            ("1.0.0", "1.1"),
            ("1.0.1", "1.1"),
            ("1.1", "1.2.0"),
            ("1.0-alpha-1", "1.0"),
            ("1.0-alpha-1", "1.0-alpha-2"),
            ("1.0-alpha-1", "1.0-beta-1"),
            ("1.0-beta-1", "1.0-SNAPSHOT"),
            ("1.0-SNAPSHOT", "1.0"),
            ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0-2"),
            ("1.0.0", "1.0-1"),
            ("2.0-1", "2.0.1"),
            ("2.0.1-klm", "2.0.1-lmn"),
            ("2.0.1", "2.0.1-xyz"),
            ("2.0.1", "2.0.1-123"),
            ("2.0.1-xyz", "2.0.1-123"),
            // MNG-5568
            ("6.1.0rc3", "6.1.0"),
            ("6.1.0rc3", "6.1H.5-beta"),
            ("6.1.0", "6.1H.5-beta"),
            // MNG-6572: numbers of any length
            ("20190126.230843", "1234567890.12345"),
            ("1234567890.12345", "123456789012345.1H.5-beta"),
            (
                "123456789012345.1H.5-beta",
                "12345678901234567890.1H.5-beta",
            ),
            // MNG-6964: the whole sub-list counts against a missing item
            ("1-0.alpha", "1"),
            ("1-0.beta", "1"),
            ("1-0.alpha", "1-0.beta"),
            // Leading zeros
            ("0.7", "2"),
            ("0.2", "1.0.7"),
            // The class comment: a hyphen is less important than a dot
            ("1.0.RC2", "1.0-RC3"),
            ("1.0-RC3", "1.0.1"),
        ] {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
        // MNG-7644: `.X1` reads as `-X1`.
        for x in [
            "abc",
            "alpha",
            "a",
            "beta",
            "b",
            "def",
            "milestone",
            "m",
            "RC",
        ] {
            assert!(v(&format!("1.0.0.{x}1")) < v(&format!("1.0.0-{x}2")), "{x}");
            assert!(v(&format!("1.0.0-{x}1")) < v(&format!("1.0.0.{x}2")), "{x}");
            equal(&format!("1.0.0.{x}1"), &format!("1.0.0-{x}1"));
        }
    }

    #[test]
    fn maven_cycles_are_broken_by_the_missing_item() {
        // Maven says a < -m0 < 0 < a; here: -m0 < 0 < a.
        ascending(&["-m0", "0", "a"]);
        // Maven says 0.3.0-SNAPSHOT > 0.3.jre-SNAPSHOT, yet each against 0.3 says otherwise.
        ascending(&["0.3.0-SNAPSHOT", "0.3", "0.3.jre-SNAPSHOT"]);
        // Maven says 0.rc-9 > 0.0-3; 0.rc-9 < 0 < 0.0-3.
        ascending(&["0.rc-9", "0", "0.0-3"]);
        // Where Maven is consistent the answer is Maven's: a number beats a sub-list.
        ascending(&["2", "2-1", "2.0.1"]);
    }

    #[test]
    fn brief_examples() {
        ascending(&[
            "1-alpha",
            "1-beta",
            "1-milestone",
            "1-rc",
            "1-snapshot",
            "1",
            "1-sp",
        ]);
        equal("1-rc", "1-cr");
        // Unknown qualifiers sort after the release.
        assert!(v("1.0-preview1") > v("1.0"));
    }

    #[test]
    fn bounds() {
        assert!(MavenVersion::parse("").is_err());
        assert!(MavenVersion::parse("  ").is_err());
        assert!(MavenVersion::parse(&"1-".repeat(200)).is_err());
        let deep = "1-".repeat(127) + "1";
        assert!(v(&deep) > v("1"));
        assert!(MavenVersion::parse(&"1-".repeat(128)).is_ok());
    }
}
