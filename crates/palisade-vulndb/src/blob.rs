//! The binary form of a package's [`MatchCandidate`]s, as the database's `packages` table
//! stores them (one record per `(ecosystem, normalised name)`, candidates sorted by id), and
//! a view over it that borrows every string, so a lookup allocates nothing per advisory.
//!
//! Format (integers are LEB128 varints, strings a length then UTF-8 bytes, an optional string
//! a `0`/`1` byte then the string):
//!
//! ```text
//! package   = count candidate*
//! candidate = id  count alias*  count (kind score)*  withdrawn:u8  count entry*
//! entry     = ecosystem name scheme:u8 (0 none, 1 + index in Scheme::ALL) unevaluable:opt
//!             count range*  count version*  distro:u8 (0 none, 1 facts)
//! range     = kind:u8 (0 ECOSYSTEM, 1 SEMVER, 2 GIT, 3 other + its name) repo:opt
//!             count (event:u8 (0 introduced, 1 fixed, 2 last_affected, 3 limit) version)*
//! facts     = release:opt repository:opt source_package:u8 status:u8 (0 fixed, 1 unfixed,
//!             2 not affected, 3 wont fix, 4 ignored, 5 postponed, 6 other + its word)
//!             urgency:opt nodsa:opt note:opt
//! ```

use palisade_version::Scheme;
use palisade_version::osv::{AffectedVersions, Event, EventKind, Range, RangeKind};

use crate::{Affected, DistroFacts, DistroStatus, MatchCandidate, Severity, normalize_name};

// ---- writing ---------------------------------------------------------------------------------

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn scheme_byte(scheme: Option<Scheme>) -> u8 {
    scheme
        .and_then(|s| Scheme::ALL.iter().position(|x| *x == s))
        .map_or(0, |i| i as u8 + 1)
}

/// Appends the binary form of `candidates` (one package's, sorted by id) to `out`.
pub(crate) fn encode(candidates: &[MatchCandidate], out: &mut Vec<u8>) {
    put_len(out, candidates.len());
    for c in candidates {
        put_str(out, &c.id);
        put_len(out, c.aliases.len());
        for a in &c.aliases {
            put_str(out, a);
        }
        put_len(out, c.severity.len());
        for s in &c.severity {
            put_str(out, &String::from(s.kind.clone()));
            put_str(out, &s.score);
        }
        out.push(u8::from(c.withdrawn));
        put_len(out, c.affected.len());
        for e in &c.affected {
            put_str(out, &e.ecosystem);
            put_str(out, &e.name);
            out.push(scheme_byte(e.scheme));
            put_opt(out, e.unevaluable.as_deref());
            put_len(out, e.versions.ranges.len());
            for r in &e.versions.ranges {
                match &r.kind {
                    RangeKind::Ecosystem => out.push(0),
                    RangeKind::Semver => out.push(1),
                    RangeKind::Git => out.push(2),
                    RangeKind::Other(t) => {
                        out.push(3);
                        put_str(out, t);
                    }
                }
                put_opt(out, r.repo.as_deref());
                put_len(out, r.events.len());
                for ev in &r.events {
                    out.push(match ev.kind() {
                        EventKind::Introduced => 0,
                        EventKind::Fixed => 1,
                        EventKind::LastAffected => 2,
                        EventKind::Limit => 3,
                    });
                    put_str(out, ev.version());
                }
            }
            put_len(out, e.versions.versions.len());
            for v in &e.versions.versions {
                put_str(out, v);
            }
            match &e.distro {
                None => out.push(0),
                Some(d) => {
                    out.push(1);
                    put_opt(out, d.release.as_deref());
                    put_opt(out, d.repository.as_deref());
                    out.push(u8::from(d.source_package));
                    match &d.status {
                        DistroStatus::Fixed => out.push(0),
                        DistroStatus::Unfixed => out.push(1),
                        DistroStatus::NotAffected => out.push(2),
                        DistroStatus::WontFix => out.push(3),
                        DistroStatus::Ignored => out.push(4),
                        DistroStatus::Postponed => out.push(5),
                        DistroStatus::Other(w) => {
                            out.push(6);
                            put_str(out, w);
                        }
                    }
                    put_opt(out, d.urgency.as_deref());
                    put_opt(out, d.nodsa.as_deref());
                    put_opt(out, d.note.as_deref());
                }
            }
        }
    }
}

// ---- reading ---------------------------------------------------------------------------------

/// A cursor over a record; every read checks the bounds and UTF-8.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'b> {
    buf: &'b [u8],
    at: usize,
}

const TRUNCATED: &str = "match record is truncated";

impl<'b> Reader<'b> {
    pub(crate) fn new(buf: &'b [u8]) -> Reader<'b> {
        Reader { buf, at: 0 }
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.at).ok_or(TRUNCATED)?;
        self.at += 1;
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, String> {
        let mut n: usize = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift >= usize::BITS {
                return Err("match record has a malformed length".into());
            }
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        // Every counted item takes at least one byte: a count beyond what is left is corrupt
        // (and would otherwise reserve absurd amounts of memory).
        if n > self.buf.len() - self.at {
            return Err(TRUNCATED.into());
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'b [u8], String> {
        let n = self.len()?;
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn str(&mut self) -> Result<&'b str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "match record is not UTF-8".into())
    }

    fn opt(&mut self) -> Result<Option<&'b str>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            b => Err(format!("match record has a bad option tag {b}")),
        }
    }

    fn skip_str(&mut self) -> Result<(), String> {
        self.bytes().map(drop)
    }

    fn skip_opt(&mut self) -> Result<(), String> {
        self.opt().map(drop)
    }

    fn done(&self) -> bool {
        self.at == self.buf.len()
    }

    /// The bytes between `start` and the cursor.
    fn since(&self, start: usize) -> &'b [u8] {
        &self.buf[start..self.at]
    }
}

fn scheme_of(byte: u8) -> Result<Option<Scheme>, String> {
    match byte {
        0 => Ok(None),
        b => Scheme::ALL
            .get(usize::from(b) - 1)
            .copied()
            .map(Some)
            .ok_or_else(|| format!("match record has an unknown scheme {b}")),
    }
}

fn check_scheme(ecosystem: &str, scheme: Option<Scheme>) -> Result<(), String> {
    if let Some(stored) = scheme
        && Some(stored) != Scheme::from_osv_ecosystem(ecosystem)
    {
        return Err(format!(
            "stored scheme {stored:?} does not match ecosystem {ecosystem:?}"
        ));
    }
    Ok(())
}

/// A tracker status, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusView<'b> {
    Fixed,
    Unfixed,
    NotAffected,
    WontFix,
    Ignored,
    Postponed,
    Other(&'b str),
}

fn status<'b>(r: &mut Reader<'b>) -> Result<StatusView<'b>, String> {
    Ok(match r.byte()? {
        0 => StatusView::Fixed,
        1 => StatusView::Unfixed,
        2 => StatusView::NotAffected,
        3 => StatusView::WontFix,
        4 => StatusView::Ignored,
        5 => StatusView::Postponed,
        6 => StatusView::Other(r.str()?),
        b => return Err(format!("match record has an unknown tracker status {b}")),
    })
}

/// What the matcher reads of [`DistroFacts`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct DistroView<'b> {
    pub(crate) status: StatusView<'b>,
    pub(crate) urgency: Option<&'b str>,
    pub(crate) nodsa: Option<&'b str>,
}

/// One affected entry, borrowed from the record.
#[derive(Clone, Debug)]
pub(crate) struct EntryView<'b> {
    pub(crate) ecosystem: &'b str,
    pub(crate) name: &'b str,
    pub(crate) scheme: Option<Scheme>,
    pub(crate) unevaluable: Option<&'b str>,
    /// Some range is `ECOSYSTEM` or `SEMVER`.
    pub(crate) evaluable_ranges: bool,
    pub(crate) no_ranges: bool,
    pub(crate) no_versions: bool,
    /// `count range*`, for [`EntryView::ranges`].
    ranges: &'b [u8],
    /// `count version*`.
    versions: &'b [u8],
    pub(crate) distro: Option<DistroView<'b>>,
}

/// One range: its kind and its events in record order.
pub(crate) struct RangeView<'b> {
    pub(crate) kind: RangeKind,
    events: Reader<'b>,
    count: usize,
}

impl<'b> RangeView<'b> {
    /// `(kind, version)` of each event, in record order (already checked when read).
    /// The events, each checked as it is read (parsing only measured them).
    pub(crate) fn events(
        &self,
    ) -> impl Iterator<Item = Result<(EventKind, &'b str), String>> + use<'b> {
        let mut r = self.events.clone();
        (0..self.count).map(move |_| Ok((event_kind(r.byte()?)?, r.str()?)))
    }
}

fn event_kind(b: u8) -> Result<EventKind, String> {
    Ok(match b {
        0 => EventKind::Introduced,
        1 => EventKind::Fixed,
        2 => EventKind::LastAffected,
        3 => EventKind::Limit,
        b => return Err(format!("match record has an unknown event {b}")),
    })
}

/// A range's type: `(tag, name of an unknown type)`.
fn range_tag<'b>(r: &mut Reader<'b>) -> Result<(u8, Option<&'b str>), String> {
    match r.byte()? {
        t @ 0..=2 => Ok((t, None)),
        3 => Ok((3, Some(r.str()?))),
        b => Err(format!("match record has an unknown range type {b}")),
    }
}

fn range_kind(tag: (u8, Option<&str>)) -> RangeKind {
    match tag {
        (0, _) => RangeKind::Ecosystem,
        (1, _) => RangeKind::Semver,
        (2, _) => RangeKind::Git,
        (_, name) => RangeKind::Other(name.unwrap_or_default().to_owned()),
    }
}

impl<'b> EntryView<'b> {
    /// The ranges, in record order.
    pub(crate) fn ranges(&self) -> Result<Vec<RangeView<'b>>, String> {
        let mut r = Reader::new(self.ranges);
        let n = r.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let kind = range_kind(range_tag(&mut r)?);
            r.skip_opt()?;
            let count = r.len()?;
            let events_at = r.at;
            for _ in 0..count {
                r.byte()?;
                r.skip_str()?;
            }
            out.push(RangeView {
                kind,
                events: Reader::new(&self.ranges[events_at..r.at]),
                count,
            });
        }
        Ok(out)
    }

    /// The `versions` list.
    /// The `versions` list, each checked as it is read (parsing only measured them).
    pub(crate) fn versions(&self) -> impl Iterator<Item = Result<&'b str, String>> + use<'b> {
        let mut r = Reader::new(self.versions);
        let n = r.len();
        let (n, first) = match n {
            Ok(n) => (n, None),
            Err(e) => (0, Some(Err(e))),
        };
        first.into_iter().chain((0..n).map(move |_| r.str()))
    }
}

/// One candidate, borrowed; its entries are `entries[first..first + count]` of the
/// [`PackageView`].
#[derive(Clone, Debug)]
pub(crate) struct CandidateView<'b> {
    pub(crate) id: &'b str,
    /// `count alias*`.
    aliases: &'b [u8],
    /// `count (kind score)*`.
    severity: &'b [u8],
    pub(crate) withdrawn: bool,
    pub(crate) entries: std::ops::Range<usize>,
}

impl<'b> CandidateView<'b> {
    pub(crate) fn aliases(&self) -> impl Iterator<Item = &'b str> + use<'b> {
        let mut r = Reader::new(self.aliases);
        let n = r.len().unwrap_or(0);
        (0..n).map_while(move |_| r.str().ok())
    }

    /// `(kind, score)` of each rating.
    pub(crate) fn severity(&self) -> impl Iterator<Item = (&'b str, &'b str)> + use<'b> {
        let mut r = Reader::new(self.severity);
        let n = r.len().unwrap_or(0);
        (0..n).map_while(move |_| Some((r.str().ok()?, r.str().ok()?)))
    }
}

/// A package's record, read once, nothing copied: every string but the events and listed
/// versions checked (those are checked when their entry is compiled).
#[derive(Clone, Debug, Default)]
pub(crate) struct PackageView<'b> {
    pub(crate) candidates: Vec<CandidateView<'b>>,
    pub(crate) entries: Vec<EntryView<'b>>,
}

fn strings<'b>(r: &mut Reader<'b>, per_item: usize) -> Result<&'b [u8], String> {
    let start = r.at;
    let n = r.len()?;
    for _ in 0..n * per_item {
        r.str()?;
    }
    Ok(r.since(start))
}

impl<'b> PackageView<'b> {
    /// Reads a record written by [`encode`]; `check_schemes` refuses an entry whose stored
    /// scheme is not its ecosystem's (as the database's reading does).
    pub(crate) fn parse(buf: &'b [u8], check_schemes: bool) -> Result<PackageView<'b>, String> {
        let mut r = Reader::new(buf);
        let n = r.len()?;
        let mut out = PackageView {
            candidates: Vec::with_capacity(n),
            // Most advisories have one entry per package: growing from empty reallocated
            // (and copied) the entries several times per record.
            entries: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let id = r.str()?;
            let aliases = strings(&mut r, 1)?;
            let severity = strings(&mut r, 2)?;
            let withdrawn = r.byte()? != 0;
            let count = r.len()?;
            let first = out.entries.len();
            for _ in 0..count {
                out.entries.push(entry(&mut r, check_schemes)?);
            }
            out.candidates.push(CandidateView {
                id,
                aliases,
                severity,
                withdrawn,
                entries: first..out.entries.len(),
            });
        }
        if !r.done() {
            return Err("match record has trailing bytes".into());
        }
        Ok(out)
    }
}

fn entry<'b>(r: &mut Reader<'b>, check_schemes: bool) -> Result<EntryView<'b>, String> {
    let ecosystem = r.str()?;
    let name = r.str()?;
    if ecosystem.is_empty() || name.is_empty() {
        return Err("match record has an entry without ecosystem or name".into());
    }
    let scheme = scheme_of(r.byte()?)?;
    if check_schemes {
        check_scheme(ecosystem, scheme)?;
    }
    let unevaluable = r.opt()?;
    let ranges_at = r.at;
    let n_ranges = r.len()?;
    let mut evaluable_ranges = false;
    for _ in 0..n_ranges {
        if range_tag(r)?.0 <= 1 {
            evaluable_ranges = true;
        }
        r.skip_opt()?;
        // Events and listed versions are measured here and checked (UTF-8, event kind)
        // when an entry is compiled: most entries of a record are never compiled, and
        // checking every string twice was a tenth of a match.
        let events = r.len()?;
        for _ in 0..events {
            r.byte()?;
            r.skip_str()?;
        }
    }
    let ranges = r.since(ranges_at);
    let versions_at = r.at;
    let n_versions = r.len()?;
    for _ in 0..n_versions {
        r.skip_str()?;
    }
    let versions = r.since(versions_at);
    let distro = match r.byte()? {
        0 => None,
        1 => {
            r.skip_opt()?;
            r.skip_opt()?;
            r.byte()?;
            let status = status(r)?;
            let urgency = r.opt()?;
            let nodsa = r.opt()?;
            r.skip_opt()?;
            Some(DistroView {
                status,
                urgency,
                nodsa,
            })
        }
        b => return Err(format!("match record has a bad distro tag {b}")),
    };
    Ok(EntryView {
        ecosystem,
        name,
        scheme,
        unevaluable,
        evaluable_ranges,
        no_ranges: n_ranges == 0,
        no_versions: n_versions == 0,
        ranges,
        versions,
        distro,
    })
}

/// Reads a record written by [`encode`] back into owned candidates.
pub(crate) fn decode(buf: &[u8]) -> Result<Vec<MatchCandidate>, String> {
    let mut r = Reader::new(buf);
    let n = r.len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.str()?.to_owned();
        let mut aliases = Vec::new();
        for _ in 0..r.len()? {
            aliases.push(r.str()?.to_owned());
        }
        let mut severity = Vec::new();
        for _ in 0..r.len()? {
            let kind = r.str()?.to_owned();
            severity.push(Severity {
                kind: kind.into(),
                score: r.str()?.to_owned(),
            });
        }
        let withdrawn = r.byte()? != 0;
        let mut affected = Vec::new();
        for _ in 0..r.len()? {
            affected.push(owned_entry(&mut r)?);
        }
        out.push(MatchCandidate {
            id,
            aliases,
            severity,
            withdrawn,
            affected,
        });
    }
    if !r.done() {
        return Err("match record has trailing bytes".into());
    }
    Ok(out)
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn owned_entry(r: &mut Reader<'_>) -> Result<Affected, String> {
    let ecosystem = r.str()?.to_owned();
    let name = r.str()?.to_owned();
    if ecosystem.is_empty() || name.is_empty() {
        return Err("match record has an entry without ecosystem or name".into());
    }
    let scheme = scheme_of(r.byte()?)?;
    check_scheme(&ecosystem, scheme)?;
    let unevaluable = owned(r.opt()?);
    let unevaluable = match scheme {
        Some(_) => None,
        None => Some(
            unevaluable.unwrap_or_else(|| format!("no version scheme for ecosystem {ecosystem:?}")),
        ),
    };
    let mut ranges = Vec::new();
    for _ in 0..r.len()? {
        let kind = range_kind(range_tag(r)?);
        let repo = owned(r.opt()?);
        let mut events = Vec::new();
        for _ in 0..r.len()? {
            let make: fn(String) -> Event = match event_kind(r.byte()?)? {
                EventKind::Introduced => Event::Introduced,
                EventKind::Fixed => Event::Fixed,
                EventKind::LastAffected => Event::LastAffected,
                EventKind::Limit => Event::Limit,
            };
            events.push(make(r.str()?.to_owned()));
        }
        ranges.push(Range { kind, repo, events });
    }
    let mut versions = Vec::new();
    for _ in 0..r.len()? {
        versions.push(r.str()?.to_owned());
    }
    let distro = match r.byte()? {
        0 => None,
        1 => {
            let release = owned(r.opt()?);
            let repository = owned(r.opt()?);
            let source_package = r.byte()? != 0;
            let status = match status(r)? {
                StatusView::Fixed => DistroStatus::Fixed,
                StatusView::Unfixed => DistroStatus::Unfixed,
                StatusView::NotAffected => DistroStatus::NotAffected,
                StatusView::WontFix => DistroStatus::WontFix,
                StatusView::Ignored => DistroStatus::Ignored,
                StatusView::Postponed => DistroStatus::Postponed,
                StatusView::Other(w) => DistroStatus::Other(w.to_owned()),
            };
            Some(DistroFacts {
                release,
                repository,
                source_package,
                status,
                urgency: owned(r.opt()?),
                nodsa: owned(r.opt()?),
                note: owned(r.opt()?),
            })
        }
        b => return Err(format!("match record has a bad distro tag {b}")),
    };
    Ok(Affected {
        normalized_name: normalize_name(&ecosystem, &name),
        ecosystem,
        name,
        scheme,
        unevaluable,
        versions: AffectedVersions { ranges, versions },
        distro,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_version::osv::{AffectedVersions, Event, Range, RangeKind};

    fn candidate() -> MatchCandidate {
        MatchCandidate {
            id: "PYSEC-2024-1".into(),
            aliases: vec!["CVE-2024-1".into(), "GHSA-aaaa-bbbb-cccc".into()],
            severity: Vec::new(),
            withdrawn: false,
            affected: vec![Affected {
                ecosystem: "PyPI".into(),
                name: "Jinja2".into(),
                normalized_name: "jinja2".into(),
                scheme: Some(Scheme::Pep440),
                unevaluable: None,
                versions: AffectedVersions {
                    ranges: vec![Range {
                        kind: RangeKind::Ecosystem,
                        repo: None,
                        events: vec![Event::Introduced("0".into()), Event::Fixed("2.10.1".into())],
                    }],
                    versions: vec!["3.0.0rc1".into(), "3.0.0rc2".into()],
                },
                distro: None,
            }],
        }
    }

    fn events(view: &PackageView<'_>) -> Vec<Result<(EventKind, String), String>> {
        view.entries[0]
            .ranges()
            .unwrap()
            .iter()
            .flat_map(|r| r.events().map(|e| e.map(|(k, t)| (k, t.to_owned()))))
            .collect()
    }

    #[test]
    fn records_read_back_as_written() {
        let mut buf = Vec::new();
        encode(&[candidate()], &mut buf);
        let view = PackageView::parse(&buf, true).unwrap();
        assert_eq!(view.candidates.len(), 1);
        let c = &view.candidates[0];
        assert_eq!(c.id, "PYSEC-2024-1");
        assert_eq!(
            c.aliases().collect::<Vec<_>>(),
            ["CVE-2024-1", "GHSA-aaaa-bbbb-cccc"]
        );
        let e = &view.entries[0];
        assert_eq!((e.ecosystem, e.name), ("PyPI", "Jinja2"));
        assert_eq!(
            events(&view),
            [
                Ok((EventKind::Introduced, "0".to_owned())),
                Ok((EventKind::Fixed, "2.10.1".to_owned()))
            ]
        );
        assert_eq!(
            e.versions().collect::<Vec<_>>(),
            [Ok("3.0.0rc1"), Ok("3.0.0rc2")]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        encode(&[candidate(), candidate()], &mut buf);
        for cut in 0..buf.len() {
            assert!(
                PackageView::parse(&buf[..cut], true).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert!(PackageView::parse(&longer, true).is_err());
    }

    #[test]
    fn bad_text_in_events_or_versions_is_reported_when_read() {
        // Parsing only measures events and listed versions; reading them must then report a
        // bad byte instead of silently ending the list early.
        let mut buf = Vec::new();
        encode(&[candidate()], &mut buf);
        for needle in [b"2.10.1".as_slice(), b"3.0.0rc1".as_slice()] {
            let at = buf.windows(needle.len()).position(|w| w == needle).unwrap();
            let mut bad = buf.clone();
            bad[at] = 0xff;
            let view = PackageView::parse(&bad, true).unwrap();
            let errors = events(&view).into_iter().filter(Result::is_err).count()
                + view.entries[0].versions().filter(Result::is_err).count();
            assert_eq!(errors, 1, "{needle:?}");
        }
        // A bad event kind too.
        let at = buf.windows(6).position(|w| w == b"2.10.1").unwrap();
        let mut bad = buf.clone();
        bad[at - 2] = 9; // the kind byte before the length byte
        let view = PackageView::parse(&bad, true).unwrap();
        assert!(events(&view).iter().any(Result::is_err));
    }
}
