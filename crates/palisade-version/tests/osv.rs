//! OSV range evaluation: the schema's own examples, then the corners (limits, `last_affected`,
//! `"0"`, unsorted events, `versions` lists, `GIT` ranges, bad input).

use palisade_version::osv::{AffectedVersions, Bound, Event, Match, RangeKind, SkipReason};
use palisade_version::{Error, Scheme};

fn affected(json: &str) -> AffectedVersions {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn is_affected(a: &AffectedVersions, scheme: Scheme, version: &str) -> bool {
    a.evaluate(scheme, version)
        .unwrap_or_else(|e| panic!("{e}"))
        .is_affected()
}

fn check(a: &AffectedVersions, scheme: Scheme, yes: &[&str], no: &[&str]) {
    for v in yes {
        assert!(is_affected(a, scheme, v), "{v} should be affected");
    }
    for v in no {
        assert!(!is_affected(a, scheme, v), "{v} should not be affected");
    }
}

#[test]
fn schema_example_unfixed() {
    let a = affected(r#"{"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}"#);
    check(
        &a,
        Scheme::SemverCargo,
        &["0.0.0-alpha", "0.1.0", "1.0.0", "999.0.0"],
        &[],
    );
    let m = &a.evaluate(Scheme::SemverCargo, "1.0.0").unwrap().matches[0];
    assert_eq!(m.fixed_or_last_affected, None);
    assert_eq!(
        m.to_string(),
        "range 0: introduced at the first version, no fix"
    );
}

#[test]
fn schema_example_fixed() {
    let a = affected(
        r#"{"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.2"}]}]}"#,
    );
    check(
        &a,
        Scheme::SemverCargo,
        &["0.0.1", "1.0.1", "1.0.2-rc.1"],
        &["1.0.2", "1.0.3", "2.0.0"],
    );
    let found = a.evaluate(Scheme::SemverCargo, "1.0.1").unwrap();
    assert_eq!(
        found.matches,
        vec![Match {
            range_index: Some(0),
            introduced: Some("0".into()),
            fixed_or_last_affected: Some(Bound::Fixed("1.0.2".into())),
            via_versions_list: false,
        }]
    );
}

#[test]
fn schema_example_multiple_ranges_in_one_range() {
    let a = affected(
        r#"{"ranges": [{"type": "SEMVER", "events": [
            {"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"}]}]}"#,
    );
    check(
        &a,
        Scheme::SemverNpm,
        &["1.0.0", "1.0.1", "3.0.0", "3.2.4"],
        &[
            "0.9.0",
            "1.0.0-rc.1",
            "1.0.2",
            "2.0.0",
            "3.0.0-beta",
            "3.2.5",
            "4.0.0",
        ],
    );
    let m = &a.evaluate(Scheme::SemverNpm, "3.1.0").unwrap().matches[0];
    assert_eq!(m.introduced.as_deref(), Some("3.0.0"));
    assert_eq!(m.fixed_or_last_affected, Some(Bound::Fixed("3.2.5".into())));
}

#[test]
fn schema_example_last_affected_versus_fixed() {
    let last = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "2.1.214"}]}]}"#,
    );
    check(
        &last,
        Scheme::Maven,
        &["1.0", "2.1.213", "2.1.214"],
        &["2.1.215", "2.2"],
    );
    let m = &last.evaluate(Scheme::Maven, "2.1.214").unwrap().matches[0];
    assert_eq!(
        m.fixed_or_last_affected,
        Some(Bound::LastAffected("2.1.214".into()))
    );
    assert_eq!(
        m.to_string(),
        "range 0: introduced at the first version, last affected 2.1.214"
    );
    let fixed = affected(
        r#"{"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "2.1.214"}]}]}"#,
    );
    check(&fixed, Scheme::Maven, &["2.1.213"], &["2.1.214", "2.1.215"]);
}

#[test]
fn limit_events() {
    let a = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"limit": "2.0"}]}]}"#,
    );
    check(
        &a,
        Scheme::Pep440,
        &["1.0", "1.5", "2.0rc1"],
        &["0.9", "2.0", "3.0"],
    );
    let m = &a.evaluate(Scheme::Pep440, "1.5").unwrap().matches[0];
    assert_eq!(m.fixed_or_last_affected, Some(Bound::Limit("2.0".into())));
    // `*` is infinity; several limits admit below any of them.
    let star = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"limit": "*"}]}]}"#,
    );
    check(&star, Scheme::Pep440, &["1.0", "99"], &["0.9"]);
    let two = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "1.0"}, {"fixed": "1.2"}, {"limit": "1.5"}, {"introduced": "3.0"}, {"limit": "4.0"}]}]}"#,
    );
    check(
        &two,
        Scheme::Pep440,
        &["1.1", "3.0", "3.9"],
        &["1.2", "1.6", "2.0", "4.0", "5.0"],
    );
    // A limit cuts what a fix would not.
    let cut = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"limit": "1.0"}, {"fixed": "2.0"}]}]}"#,
    );
    check(&cut, Scheme::Pep440, &["0.5"], &["1.0", "1.5", "2.0"]);
}

#[test]
fn several_ranges_report_each_match() {
    let a = affected(
        r#"{"ranges": [
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "1.2"}, {"fixed": "2.0"}]}
        ]}"#,
    );
    let found = a.evaluate(Scheme::RubyGems, "1.3").unwrap();
    let ranges: Vec<_> = found.matches.iter().map(|m| m.range_index).collect();
    assert_eq!(ranges, [Some(0), Some(1)]);
    let found = a.evaluate(Scheme::RubyGems, "1.7").unwrap();
    assert_eq!(found.matches.len(), 1);
    assert_eq!(found.matches[0].range_index, Some(1));
    assert_eq!(
        found.matches[0].to_string(),
        "range 1: introduced 1.2, fixed 2.0"
    );
    check(&a, Scheme::RubyGems, &["1.0.a", "1.9"], &["2.0", "2.0.1"]);
}

#[test]
fn introduced_zero_is_before_every_version() {
    // In dpkg, `~~` sorts below the version "0"; as an `introduced` value "0" is not a version.
    let a = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-1"}]}]}"#,
    );
    check(
        &a,
        Scheme::Dpkg,
        &["~~", "0~rc1", "0", "1.0-0"],
        &["1.0-1", "1:0.1"],
    );
    let py = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]}"#,
    );
    check(&py, Scheme::Pep440, &["0.dev0", "0.0.0a1", "0.9"], &["1.0"]);
    // A fixed "0" is a version like any other.
    let zero = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0"}]}]}"#,
    );
    check(&zero, Scheme::Dpkg, &["~1"], &["0", "1.0"]);
}

#[test]
fn unsorted_events_give_the_sorted_answer() {
    let sorted = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"}]}]}"#,
    );
    let shuffled = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [
            {"fixed": "3.2.5"}, {"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}]}]}"#,
    );
    for v in [
        "0.1.0", "1.0.0", "1.0.1", "1.0.2", "2.0.0", "3.0.0", "3.2.4", "3.2.5", "9.0.0",
    ] {
        assert_eq!(
            is_affected(&sorted, Scheme::SemverNpm, v),
            is_affected(&shuffled, Scheme::SemverNpm, v),
            "{v}"
        );
    }
    let back = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "2.0"}, {"introduced": "0"}]}]}"#,
    );
    check(&back, Scheme::Maven, &["1.0"], &["2.0"]);
}

#[test]
fn equal_versions_keep_record_order() {
    // [1, 2) then [2, 3): 2 is in the second range.
    let adjacent = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "1"}, {"fixed": "2"}, {"introduced": "2"}, {"fixed": "3"}]}]}"#,
    );
    check(&adjacent, Scheme::Maven, &["1", "2", "2.5"], &["0.5", "3"]);
    // [1, 1) is empty.
    let empty = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1"}, {"fixed": "1"}]}]}"#,
    );
    check(&empty, Scheme::Maven, &[], &["0.5", "1", "2"]);
    // `1.0` and `1.0.0` are the same version.
    let same = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0.0"}, {"last_affected": "1.0"}]}]}"#,
    );
    check(
        &same,
        Scheme::Pep440,
        &["1", "1.0", "1.0.0"],
        &["0.9", "1.0.1"],
    );
}

#[test]
fn versions_list_only() {
    let a = affected(r#"{"versions": ["1.0", "1.1", "not-a-version"]}"#);
    check(
        &a,
        Scheme::Pep440,
        &["1.0", "1.0.0", "1.1", "v1.1"],
        &["1.2", "0.9"],
    );
    // A listed text matches even when the scheme cannot read it.
    assert!(is_affected(&a, Scheme::Pep440, "not-a-version"));
    let found = a.evaluate(Scheme::Pep440, "1.0").unwrap();
    assert_eq!(found.matches.len(), 1);
    assert!(found.matches[0].via_versions_list);
    assert_eq!(
        found.matches[0].to_string(),
        "listed in the affected versions"
    );
}

#[test]
fn git_ranges_are_skipped_and_reported() {
    let a = affected(
        r#"{"ranges": [
            {"type": "GIT", "repo": "https://example.invalid/repo", "events": [{"introduced": "6e5755a2a833bc64852eae12967d0a54d7adf629"}, {"fixed": "c43455749b914feef56b178b256f29b3016146eb"}]},
            {"type": "SOMETHING_NEW", "events": [{"introduced": "0"}]}
        ], "versions": ["1.2.3"]}"#,
    );
    let found = a.evaluate(Scheme::SemverNpm, "1.2.3").unwrap();
    assert!(found.is_affected());
    assert_eq!(found.skipped.len(), 2);
    assert_eq!(found.skipped[0].reason, SkipReason::Git);
    assert_eq!(
        found.skipped[1].reason,
        SkipReason::UnknownType("SOMETHING_NEW".into())
    );
    assert_eq!(
        found.skipped[0].to_string(),
        "range 0: GIT range skipped (needs the repository's commit graph)"
    );
    let not = a.evaluate(Scheme::SemverNpm, "1.2.4").unwrap();
    assert!(!not.is_affected());
    assert_eq!(not.skipped.len(), 2);
    assert_eq!(a.ranges[0].kind, RangeKind::Git);
    assert_eq!(
        a.ranges[0].repo.as_deref(),
        Some("https://example.invalid/repo")
    );
}

#[test]
fn semver_ranges_follow_the_ecosystem() {
    // Go: OSV writes versions without `v`; modules and the toolchain have it.
    let go = affected(
        r#"{"ranges": [{"type": "SEMVER", "events": [{"introduced": "1.21.0-0"}, {"fixed": "1.21.3"}]}]}"#,
    );
    check(
        &go,
        Scheme::Go,
        &["go1.21rc2", "go1.21.0", "v1.21.2", "1.21.2"],
        &["go1.20.14", "go1.21.3", "v1.22.0"],
    );
    let pseudo = affected(
        r#"{"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.0.0-20220315000000-aaaaaaaaaaaa"}]}]}"#,
    );
    check(
        &pseudo,
        Scheme::Go,
        &["v0.0.0-20210101000000-abcdef123456"],
        &["v0.0.0-20230101000000-abcdef123456", "v0.1.0"],
    );
    // npm: a leading `v` on the installed version is fine.
    let npm = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "6.5.4"}]}]}"#,
    );
    check(
        &npm,
        Scheme::SemverNpm,
        &["v6.5.3", "6.5.4-beta.1"],
        &["6.5.4", "=6.5.4", "6.10.0"],
    );
}

#[test]
fn distro_ranges() {
    let debian = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u7"}]}]}"#,
    );
    check(
        &debian,
        Scheme::Dpkg,
        &["2.36-9", "2.36-9+deb12u4"],
        &["2.36-9+deb12u7", "2.36-9+deb12u10", "2.37-1"],
    );
    let rhel = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]}]}"#,
    );
    check(
        &rhel,
        Scheme::Rpm,
        &["1:3.0.7-24.el9", "3.5.0-1.el9"],
        &["1:3.0.7-25.el9_3", "1:3.0.7-27.el9"],
    );
    let alpine = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r1"}]}]}"#,
    );
    check(
        &alpine,
        Scheme::Apk,
        &["3.1.4-r0", "3.1.4_rc1-r0"],
        &["3.1.4-r1", "3.1.4_p1-r0", "3.1.5-r0"],
    );
}

#[test]
fn bad_event_versions_name_range_event_and_text() {
    let a = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:"}]}]}"#,
    );
    let e = a.compile(Scheme::Dpkg).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"OSV range 0, `fixed` event: invalid dpkg version "1:": epoch without upstream version"#
    );
    assert!(matches!(
        e,
        Error::InvalidRangeEvent {
            range_index: 0,
            event: "fixed",
            ..
        }
    ));
    // The installed version is checked too, when a range needs it.
    let ok = affected(r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}"#);
    let e = ok.evaluate(Scheme::SemverCargo, "1.0").unwrap_err();
    assert!(
        e.to_string()
            .starts_with(r#"invalid Cargo semver version "1.0""#),
        "{e}"
    );
}

#[test]
fn event_objects_must_have_exactly_one_known_key() {
    let err = |json: &str| serde_json::from_str::<Event>(json).unwrap_err().to_string();
    assert!(
        err(r#"{"fixd": "1.0"}"#).contains(r#"unknown OSV event key "fixd""#),
        "{}",
        err(r#"{"fixd": "1.0"}"#)
    );
    assert!(
        err(r#"{"introduced": "0", "fixed": "1.0"}"#)
            .contains(r#"two keys, "introduced" and "fixed""#)
    );
    assert!(err("{}").contains("OSV event has no key"));
    assert!(err(r#"{"fixed": 1}"#).contains("invalid type"));
    let a: Result<AffectedVersions, _> = serde_json::from_str(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed_in": "2"}]}]}"#,
    );
    assert!(a.unwrap_err().to_string().contains(r#""fixed_in""#));
}

#[test]
fn serde_round_trip_and_whole_affected_entries() {
    let json = r#"{"package": {"ecosystem": "crates.io", "name": "http"},
        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.1.20"}],
                    "database_specific": {"x": 1}}],
        "ecosystem_specific": {"severity": "HIGH"}}"#;
    let a = affected(json);
    assert_eq!(
        a.ranges[0].events,
        vec![Event::Introduced("0".into()), Event::Fixed("0.1.20".into())]
    );
    let out = serde_json::to_string(&a).unwrap();
    assert_eq!(
        out,
        r#"{"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.1.20"}]}]}"#
    );
    assert_eq!(affected(&out), a);
    check(&a, Scheme::SemverCargo, &["0.1.19"], &["0.1.20"]);
}

#[test]
fn compiled_once_evaluated_many_times() {
    let a = affected(
        r#"{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.4"}]}], "versions": ["1.0", "1.1"]}"#,
    );
    let compiled = a.compile(Scheme::Pep440).unwrap();
    assert_eq!(compiled.scheme(), Scheme::Pep440);
    let both = compiled.evaluate("1.1").unwrap();
    assert_eq!(both.matches.len(), 2);
    assert!(both.matches[0].via_versions_list);
    assert_eq!(both.matches[1].range_index, Some(0));
    assert!(compiled.evaluate("1.3").unwrap().is_affected());
    assert!(!compiled.evaluate("1.4").unwrap().is_affected());
}

/// Properties of the evaluation: the order of events in the record does not matter (when
/// their versions differ), and no record or version makes it panic.
mod properties {
    use super::*;
    use palisade_version::osv::Range;
    use proptest::prelude::*;

    const POOL: [&str; 8] = [
        "0.1",
        "0.9",
        "1.0a1",
        "1.0",
        "1.0.post1",
        "1.2",
        "2.0",
        "3.0rc1",
    ];

    fn event(kind: u8, v: &str) -> Event {
        match kind % 4 {
            0 => Event::Introduced(v.to_owned()),
            1 => Event::Fixed(v.to_owned()),
            2 => Event::LastAffected(v.to_owned()),
            _ => Event::Limit(v.to_owned()),
        }
    }

    fn record(events: Vec<Event>) -> AffectedVersions {
        AffectedVersions {
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                repo: None,
                events,
            }],
            versions: Vec::new(),
        }
    }

    proptest! {
        #[test]
        fn event_order_does_not_matter(
            picks in prop::collection::vec((0u8..4, 0usize..POOL.len()), 1..7),
            zero in any::<bool>(),
            query in 0usize..POOL.len(),
            seed in any::<u64>(),
        ) {
            // Distinct versions only: events at equal versions keep record order on purpose.
            let mut seen = Vec::new();
            let mut events: Vec<Event> = picks
                .into_iter()
                .filter(|(_, i)| !seen.contains(i) && { seen.push(*i); true })
                .map(|(k, i)| event(k, POOL[i]))
                .collect();
            if zero {
                events.push(Event::Introduced("0".into()));
            }
            let mut shuffled = events.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, usize::try_from(s >> 33).unwrap_or(0) % (i + 1));
            }
            let q = POOL[query];
            let a = record(events).evaluate(Scheme::Pep440, q).unwrap();
            let b = record(shuffled).evaluate(Scheme::Pep440, q).unwrap();
            prop_assert_eq!(a.is_affected(), b.is_affected());
            prop_assert_eq!(a.matches, b.matches);
        }

        #[test]
        fn hostile_records_never_panic(
            events in prop::collection::vec((0u8..4, "[0-9a-z.~*:+\\-]{0,6}"), 0..10),
            versions in prop::collection::vec("[0-9a-z.\\-]{0,5}", 0..4),
            query in "[0-9a-z.~:+\\-]{0,6}",
            scheme in prop::sample::select(Scheme::ALL.to_vec()),
            semver in any::<bool>(),
        ) {
            let record = AffectedVersions {
                ranges: vec![Range {
                    kind: if semver { RangeKind::Semver } else { RangeKind::Ecosystem },
                    repo: None,
                    events: events.iter().map(|(k, v)| event(*k, v)).collect(),
                }],
                versions,
            };
            if let Ok(compiled) = record.compile(scheme) {
                let _ = compiled.evaluate(&query);
            }
        }

        #[test]
        fn arbitrary_json_never_panics(json in "[\\[\\]{}\",:0-9a-z_ ]{0,80}") {
            let _ = serde_json::from_str::<AffectedVersions>(&json);
            let _ = serde_json::from_str::<Event>(&json);
        }
    }
}

/// A `versions` list finds equal versions whatever their text, including where `+` means
/// different things: a separator in rpm (`+6` = `6`), build metadata in SemVer.
#[test]
fn versions_lists_match_equal_versions_across_plus_signs() {
    let listed = |v: &str| AffectedVersions {
        ranges: Vec::new(),
        versions: vec![v.to_owned()],
    };
    let hit = |list: &AffectedVersions, scheme: Scheme, v: &str| {
        list.evaluate(scheme, v).unwrap().is_affected()
    };
    assert!(hit(&listed("+6"), Scheme::Rpm, "6"));
    assert!(hit(&listed("1.0.0+build5"), Scheme::SemverNpm, "1.0.0"));
    assert!(hit(&listed("1.0"), Scheme::Pep440, "1.0.0"));
    assert!(!hit(&listed("1.0+5"), Scheme::Pep440, "1.0"));
}
