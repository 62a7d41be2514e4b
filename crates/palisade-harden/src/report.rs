//! A bench report: the results of one target run under a profile, in check-list order, grouped by
//! section, with a score. Deterministic: same inputs, same order.

use serde::Serialize;
use serde_json::{Value, json};

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};
use crate::check_list;
use crate::profile::Profile;

/// Counts per status and a score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub info: usize,
    pub manual: usize,
    pub not_applicable: usize,
    /// `100 × pass / (pass + fail + warn)`, rounded down; `None` when nothing was decided.
    pub score: Option<u32>,
}

/// The results of one target.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was checked.
    pub target: TargetKind,
    /// The input: a root directory, a socket, an image, files.
    pub subject: String,
    /// Results in check-list order.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Builds a report: keeps the results of checks the profile selects, adds one manual
    /// result per selected manual check of `target` (with its reason), and sorts everything
    /// in check-list order, then by subject.
    #[must_use]
    pub fn new(
        target: TargetKind,
        subject: impl Into<String>,
        results: Vec<CheckResult>,
        profile: &Profile,
    ) -> Report {
        let defs = check_list::for_target(target);
        let index = |id: &str| defs.iter().position(|d| d.id == id).unwrap_or(usize::MAX);
        let mut results: Vec<CheckResult> = results
            .into_iter()
            .filter(|r| defs.iter().any(|d| d.id == r.id && profile.selects(d)))
            .collect();
        for d in defs.iter().filter(|d| d.manual && profile.selects(d)) {
            if !results.iter().any(|r| r.id == d.id) {
                results.push(CheckResult::one(
                    d.id,
                    Status::Manual,
                    Evidence::new(d.id, d.manual_reason),
                ));
            }
        }
        results.sort_by(|a, b| {
            index(a.id)
                .cmp(&index(b.id))
                .then_with(|| a.subject().cmp(b.subject()))
        });
        Report {
            target,
            subject: subject.into(),
            results,
        }
    }

    /// The benchmark the target's checks follow: the Pod Security Standards for Kubernetes,
    /// the CIS Docker Benchmark (with our own checks) otherwise.
    #[must_use]
    pub fn benchmark(&self) -> &'static str {
        match self.target {
            TargetKind::Kubernetes => crate::check::POD_SECURITY_STANDARDS,
            _ => crate::check::CIS_DOCKER,
        }
    }

    /// The definition of a result's check.
    #[must_use]
    pub fn def(&self, r: &CheckResult) -> Option<&'static CheckDef> {
        check_list::find(r.id, self.target)
    }

    /// Counts and score.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Info => s.info += 1,
                Status::Manual => s.manual += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
        }
        let decided = s.pass + s.fail + s.warn;
        s.score = (decided > 0).then(|| u32::try_from(s.pass * 100 / decided).unwrap_or(0));
        s
    }

    /// Results grouped by section, sections in check-list order.
    #[must_use]
    pub fn sections(&self) -> Vec<(&'static str, Vec<&CheckResult>)> {
        let mut out: Vec<(&'static str, Vec<&CheckResult>)> = Vec::new();
        for r in &self.results {
            let section = self.def(r).map_or("Other", |d| d.section);
            match out.iter_mut().find(|(s, _)| *s == section) {
                Some((_, v)) => v.push(r),
                None => out.push((section, vec![r])),
            }
        }
        out
    }

    /// Whether any result has a status at least as bad as `threshold` (fail > warn) among
    /// checks of level `level` or lower.
    #[must_use]
    pub fn fails(&self, threshold: Status, level: Level) -> bool {
        self.results.iter().any(|r| {
            let bad = match threshold {
                Status::Warn => r.status.is_failure(),
                _ => r.status == Status::Fail,
            };
            bad && self.def(r).is_none_or(|d| d.level <= level)
        })
    }

    /// The report as JSON: target, subject, summary, and each result with its check's title,
    /// level, section and remediation.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let results: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                let d = self.def(r);
                json!({
                    "id": r.id,
                    "title": d.map_or("", |d| d.title),
                    "level": d.map(|d| d.level),
                    "section": d.map_or("", |d| d.section),
                    "status": r.status,
                    "evidence": r.evidence,
                    "remediation": d.map_or("", |d| d.remediation),
                })
            })
            .collect();
        json!({
            "target": self.target,
            "subject": self.subject,
            "benchmark": self.benchmark(),
            "summary": self.summary(),
            "results": results,
        })
    }
}
