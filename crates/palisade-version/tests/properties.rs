//! Property tests for every scheme: the comparison is a total order, parsing a generated valid
//! version gives back its text, and no input makes parsing or comparing panic. Generators use
//! small alphabets so that shared prefixes, equal numbers and ties are common.

use std::cmp::Ordering;

use palisade_version::{Scheme, Version};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Cases per property; `PALISADE_PROPTEST_CASES` raises it for a long run.
fn cases() -> u32 {
    std::env::var("PALISADE_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

/// Text close to versions of every scheme: digits, a few letters, every separator.
const VERSIONISH: &str = "[0-9a-cA-Cpr~^+:._\\-v!*]{0,12}";

fn parse(scheme: Scheme, s: &str) -> Result<Version, TestCaseError> {
    scheme
        .parse(s)
        .map_err(|e| TestCaseError::fail(format!("{s:?} should parse: {e}")))
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    a.try_cmp(b).unwrap_or_else(|e| panic!("{e}"))
}

/// Reflexive, antisymmetric, transitive, and `==` agrees with `Ordering::Equal`.
fn check_order(vs: &[Version]) -> Result<(), TestCaseError> {
    for a in vs {
        prop_assert_eq!(cmp(a, a), Ordering::Equal, "{} is not equal to itself", a);
        prop_assert!(a.eq(a), "{} != itself", a);
        for b in vs {
            let ab = cmp(a, b);
            prop_assert_eq!(ab, cmp(b, a).reverse(), "antisymmetry: {} vs {}", a, b);
            prop_assert_eq!(
                a == b,
                ab == Ordering::Equal,
                "== disagrees with cmp: {} vs {}",
                a,
                b
            );
            prop_assert_eq!(a.partial_cmp(b), Some(ab));
            for c in vs {
                let (bc, ac) = (cmp(b, c), cmp(a, c));
                if ab.is_le() && bc.is_le() {
                    prop_assert!(
                        ac.is_le(),
                        "transitivity: {} <= {} <= {} but {} > {}",
                        a,
                        b,
                        c,
                        a,
                        c
                    );
                    if ab.is_lt() || bc.is_lt() {
                        prop_assert!(
                            ac.is_lt(),
                            "transitivity: {} <= {} <= {}, one strict, but {} >= {}",
                            a,
                            b,
                            c,
                            a,
                            c
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// Sorts by insertion (never panics) and checks every pair of the result is in order: an
/// intransitive comparison shows up as an inversion.
fn check_sorts(mut vs: Vec<Version>) -> Result<(), TestCaseError> {
    for i in 1..vs.len() {
        let mut j = i;
        while j > 0 && cmp(&vs[j - 1], &vs[j]).is_gt() {
            vs.swap(j - 1, j);
            j -= 1;
        }
    }
    for i in 0..vs.len() {
        for j in i + 1..vs.len() {
            prop_assert!(
                cmp(&vs[i], &vs[j]).is_le(),
                "after sorting, {} > {}",
                vs[i],
                vs[j]
            );
        }
    }
    Ok(())
}

macro_rules! scheme_properties {
    ($module:ident, $scheme:expr, $valid:expr) => {
        mod $module {
            use super::*;

            fn valid() -> impl Strategy<Value = String> {
                $valid
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(cases()))]

                #[test]
                fn valid_versions_parse_and_display_their_text(s in valid()) {
                    let v = parse($scheme, &s)?;
                    prop_assert_eq!(v.to_string(), s.clone());
                    prop_assert_eq!(v.scheme(), $scheme);
                    let again = parse($scheme, &v.to_string())?;
                    prop_assert_eq!(cmp(&v, &again), Ordering::Equal);
                }

                #[test]
                fn comparison_is_a_total_order(a in valid(), b in valid(), c in valid()) {
                    check_order(&[parse($scheme, &a)?, parse($scheme, &b)?, parse($scheme, &c)?])?;
                }

                #[test]
                fn sorting_leaves_no_inversion(list in prop::collection::vec(valid(), 0..16)) {
                    let vs = list.iter().map(|s| parse($scheme, s)).collect::<Result<Vec<_>, _>>()?;
                    check_sorts(vs)?;
                }

                #[test]
                fn any_text_parses_or_errs_without_panic(s in any::<String>()) {
                    if let Ok(v) = $scheme.parse(&s) {
                        prop_assert_eq!(v.to_string(), s);
                    }
                }

                #[test]
                fn versionish_text_that_parses_is_totally_ordered(
                    list in prop::collection::vec(VERSIONISH, 3..12)
                ) {
                    let vs: Vec<Version> = list.iter().filter_map(|s| $scheme.parse(s).ok()).collect();
                    check_order(&vs[..vs.len().min(4)])?;
                    check_sorts(vs)?;
                }

                /// An OSV `versions` list matches every version equal to an entry, whatever its
                /// text (`1.0` = `1`, build metadata): the list's pre-filter never hides one.
                #[test]
                fn versions_lists_match_equal_versions(
                    list in prop::collection::vec(prop_oneof![valid(), VERSIONISH.prop_map(String::from)], 2..10)
                ) {
                    let parsed: Vec<(String, Version)> = list
                        .iter()
                        .filter_map(|s| $scheme.parse(s).ok().map(|v| (s.clone(), v)))
                        .collect();
                    for (a, va) in &parsed {
                        for (b, vb) in &parsed {
                            let listed = palisade_version::osv::AffectedVersions {
                                ranges: Vec::new(),
                                versions: vec![b.clone()],
                            };
                            let hit = listed
                                .compile($scheme)
                                .and_then(|c| c.evaluate(a))
                                .map(|e| e.is_affected())
                                .unwrap_or(false);
                            prop_assert_eq!(hit, va == vb, "{:?} listed, {:?} installed", b, a);
                        }
                    }
                }

                #[test]
                fn errors_name_the_input(s in VERSIONISH) {
                    if let Err(e) = $scheme.parse(&s) {
                        let msg = e.to_string();
                        let prefix = format!("invalid {} version {:?}: ", $scheme, s);
                        prop_assert!(msg.starts_with(&prefix), "{}", msg);
                    }
                }
            }
        }
    };
}

scheme_properties!(
    dpkg,
    Scheme::Dpkg,
    (
        "(|[0-2]:)",
        "[0-9a~][0-9a-c.+~]{0,6}",
        "(|-[0-9a-c.+~]{1,5})"
    )
        .prop_map(|(e, u, r)| format!("{e}{u}{r}"))
);

scheme_properties!(
    rpm,
    Scheme::Rpm,
    "(|0?[0-2]:)[0-9a-c.~^_+]{1,8}(|-[0-9a-c.~^_+]{1,5})"
);

scheme_properties!(
    apk,
    Scheme::Apk,
    "[0-9]{1,2}(\\.0?[0-9]{1,2}){0,3}[a-c]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]{0,2}){0,2}(~[0-9a-f]{1,4})?(-r[0-9]{1,2})?"
);

scheme_properties!(
    pep440,
    Scheme::Pep440,
    (
        "(|v|V)(|[0-2]!)[0-9]{1,2}(\\.[0-9]{1,2}){0,2}",
        "(|[-_.]?(a|b|rc|alpha|BETA|c|pre|preview)[-_.]?[0-9]{0,2})",
        "(|-[0-9]|[-_.]?(post|rev|r)[-_.]?[0-9]{0,2})",
        "(|[-_.]?dev[0-9]{0,2})",
        "(|\\+[a-z0-9]{1,3}([-_.][a-z0-9]{1,3}){0,2})"
    )
        .prop_map(|(a, b, c, d, e)| format!("{a}{b}{c}{d}{e}"))
);

const SEMVER: &str = "[0-2]\\.(0|1|10)\\.[0-2](|-(alpha|beta|rc|[0-9]|1[0-9]|[a-z]{1,2}|x-y)(\\.(alpha|beta|[0-9]|1[0-9]|x)){0,2})(|\\+[a-z0-9]{1,3}(\\.[0-9]{1,2})?)";

scheme_properties!(
    semver_npm,
    Scheme::SemverNpm,
    ("(| |=|v|=v)", SEMVER).prop_map(|(p, s)| format!("{p}{s}"))
);

scheme_properties!(semver_cargo, Scheme::SemverCargo, SEMVER);

scheme_properties!(
    go,
    Scheme::Go,
    prop_oneof![
        ("(v|)", SEMVER).prop_map(|(p, s)| format!("{p}{s}")),
        "v(0|1|2)(\\.(0|1))?",
        "v(0\\.0\\.0|1\\.2\\.(3|4))-(|0\\.|rc\\.1\\.0\\.)20(19|20|21)0101000000-[a-f0-9]{12}",
        "v(2|3)\\.0\\.(0|1)\\+incompatible",
        "go1(\\.(20|21|22)(\\.[0-9]|rc[1-2]|beta1)?)?",
    ]
);

scheme_properties!(
    maven,
    Scheme::Maven,
    prop_oneof![
        "(0|1|2|10|a|b|m|rc|cr|sp|ga|final|release|snapshot|alpha|beta|milestone|foo|x|RC|Final|SNAPSHOT)([.\\-]?(0|1|2|10|a|b|m|rc|sp|ga|snapshot|x|Beta)){0,4}",
        "[0-9a-cmA-C.\\-]{1,12}",
    ]
);

scheme_properties!(
    rubygems,
    Scheme::RubyGems,
    "[0-9]{1,2}(\\.([0-9]{1,2}|[a-c]{1,2}|[a-c][0-9]|0)){0,4}(|-[a-c0-9]{1,2}(\\.[a-c0-9\\-]{1,2}){0,1})"
);

scheme_properties!(
    nuget,
    Scheme::NuGet,
    "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(|-[a-cA-C0-9]{1,2}(\\.[a-cA-C0-9\\-]{1,2}){0,2})(|\\+[a-z0-9]{1,3})"
);

/// Differential check of the Cargo flavour against the `semver` crate, which Cargo uses.
mod semver_crate {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn accepts_what_semver_accepts(s in "[0-9]{1,3}\\.[0-9]{1,2}\\.[0-9]{1,2}([-+.][0-9a-zA-Z.+\\-]{0,8})?|[0-9a-z.+\\-]{0,10}") {
            let ours = Scheme::SemverCargo.parse(&s);
            let theirs = semver::Version::parse(&s);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?}, semver {:?}", s, ours.err(), theirs.err());
        }

        #[test]
        fn orders_as_semver_precedence(a in SEMVER, b in SEMVER) {
            let ours = cmp(&parse(Scheme::SemverCargo, &a)?, &parse(Scheme::SemverCargo, &b)?);
            let (sa, sb) = (semver::Version::parse(&a).unwrap(), semver::Version::parse(&b).unwrap());
            prop_assert_eq!(ours, sa.cmp_precedence(&sb), "{} vs {}", a, b);
        }
    }
}

/// The PEP 440 normal form parses back to an equal version, and is its own normal form.
mod pep440_normal_form {
    use super::*;
    use palisade_version::Version;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn normal_form_round_trips(s in "(|v)(|[0-2]!)[0-9]{1,2}(\\.[0-9]{1,2}){0,2}(|[-_.]?(a|B|rc|Alpha|c)[0-9]{0,2})(|[-_.]?post[0-9]{0,2}|-[0-9])(|\\.dev[0-9]?)(|\\+[a-zA-Z0-9]{1,3}([-_.][a-z0-9]{1,3}){0,2})") {
            let Version::Pep440(v) = parse(Scheme::Pep440, &s)? else { unreachable!() };
            let norm = v.normalized();
            let Version::Pep440(w) = parse(Scheme::Pep440, &norm)? else { unreachable!() };
            prop_assert_eq!(&v, &w, "{} -> {}", s, norm);
            prop_assert_eq!(w.normalized(), norm);
        }
    }
}
