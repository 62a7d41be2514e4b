//! Policy tests: `*.test.yaml` files that pair input documents with the decision a policy must
//! reach (`palisade policy test PATH...`, files or directories).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::decision::{Effect, Verdict};
use crate::error::{ErrorKind, PolicyError};
use crate::input::Input;
use crate::policy::{Policy, parse_yaml, read_limited};

/// The deepest directory level searched for test files.
const MAX_DEPTH: usize = 16;
/// The most test files read.
const MAX_FILES: usize = 10_000;

/// The outcome of every case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestReport {
    /// How many test files were read.
    pub files: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Every case, in file order then case order.
    pub cases: Vec<CaseResult>,
}

/// One case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The test file.
    pub file: PathBuf,
    /// The case's name.
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// The decision reached, when evaluation succeeded.
    pub decision: Option<Verdict>,
    /// What differed (`decision: expected allow, got deny`), or why the case could not run.
    pub differences: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    policy: String,
    cases: Vec<RawCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    environment: Option<String>,
    input: serde_json::Value,
    expect: RawExpect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    decision: RawVerdict,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    exceptions: BTreeMap<String, RawStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawVerdict {
    Allow,
    Warn,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawStatus {
    Applied,
    Expired,
    Unused,
}

/// Runs the test file `dir` when it is a file (whatever its name), else every `*.test.yaml`
/// under it (recursively, sorted by path).
///
/// A case whose input cannot be read or whose evaluation fails is a failed case; a malformed
/// test file or a policy that does not load is an error.
///
/// # Errors
/// [`PolicyError`] naming the test file (or the policy) and the line of the problem.
pub fn run_tests(dir: &Path) -> Result<TestReport, PolicyError> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
    } else {
        find(dir, 0, &mut files)?;
        files.sort();
    }
    let mut policies: BTreeMap<PathBuf, Policy> = BTreeMap::new();
    let mut report = TestReport {
        files: files.len(),
        ..TestReport::default()
    };
    for file in files {
        let shown = file.display().to_string();
        let text = read_limited(&file, &shown)?;
        let raw: RawTestFile = parse_yaml(&text, &shown).map_err(|e| PolicyError {
            kind: ErrorKind::Test,
            ..e
        })?;
        let base = file.parent().unwrap_or_else(|| Path::new("."));
        let policy_path = base.join(&raw.policy);
        if !policies.contains_key(&policy_path) {
            let p = Policy::load(&policy_path)?;
            policies.insert(policy_path.clone(), p);
        }
        let Some(policy) = policies.get(&policy_path) else {
            continue;
        };
        for case in raw.cases {
            let result = run_case(policy, base, &file, case);
            if result.passed {
                report.passed += 1;
            } else {
                report.failed += 1;
            }
            report.cases.push(result);
        }
    }
    Ok(report)
}

fn find(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| PolicyError::io(&shown, &e))?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            find(&path, depth + 1, out)?;
        } else if kind.is_file()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.yaml"))
        {
            if out.len() >= MAX_FILES {
                return Err(PolicyError::new(
                    ErrorKind::Test,
                    shown,
                    0,
                    0,
                    format!("more than {MAX_FILES} test files"),
                ));
            }
            out.push(path);
        }
    }
    Ok(())
}

fn load_input(base: &Path, value: serde_json::Value) -> Result<Input, String> {
    match value {
        serde_json::Value::String(rel) => {
            let path = base.join(&rel);
            let shown = path.display().to_string();
            let text = read_limited(&path, &shown).map_err(|e| e.to_string())?;
            if rel.ends_with(".json") {
                serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}"))
            } else {
                parse_yaml(&text, &shown).map_err(|e| e.to_string())
            }
        }
        v @ serde_json::Value::Object(_) => {
            serde_json::from_value(v).map_err(|e| format!("inline input: {e}"))
        }
        _ => Err("input must be a file path or a mapping".into()),
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Warn => "warn",
        Verdict::Deny => "deny",
    }
}

fn run_case(policy: &Policy, base: &Path, file: &Path, case: RawCase) -> CaseResult {
    let mut result = CaseResult {
        file: file.to_path_buf(),
        name: case.name,
        passed: false,
        decision: None,
        differences: Vec::new(),
    };
    let mut input = match load_input(base, case.input) {
        Ok(i) => i,
        Err(e) => {
            result.differences.push(e);
            return result;
        }
    };
    if let Some(env) = case.environment {
        input.environment = env;
    }
    let evaluation = match policy.evaluate(&input) {
        Ok(e) => e,
        Err(e) => {
            result.differences.push(e.to_string());
            return result;
        }
    };
    let d = &evaluation.decision;
    result.decision = Some(d.decision);
    let expected = match case.expect.decision {
        RawVerdict::Allow => Verdict::Allow,
        RawVerdict::Warn => Verdict::Warn,
        RawVerdict::Deny => Verdict::Deny,
    };
    if d.decision != expected {
        result.differences.push(format!(
            "decision: expected {}, got {}",
            verdict_name(expected),
            verdict_name(d.decision)
        ));
    }
    for code in &case.expect.reasons {
        let found = d.reasons.iter().any(|r| {
            r.effect != Effect::Excepted
                && (r.code == *code
                    || r.subject
                        .get("thresholds")
                        .and_then(|t| t.as_array())
                        .is_some_and(|t| t.iter().any(|c| c.as_str() == Some(code))))
        });
        if !found {
            let mut present: Vec<&str> = d
                .reasons
                .iter()
                .filter(|r| r.effect != Effect::Excepted)
                .map(|r| r.code.as_str())
                .collect();
            present.dedup();
            result.differences.push(format!(
                "reasons: expected {code}, got [{}]",
                present.join(", ")
            ));
        }
    }
    for (name, status) in &case.expect.exceptions {
        let want = match status {
            RawStatus::Applied => "applied",
            RawStatus::Expired => "expired",
            RawStatus::Unused => "unused",
        };
        match d.exceptions.iter().find(|e| e.name == *name) {
            None => result.differences.push(format!(
                "exceptions.{name}: no such exception in the policy"
            )),
            Some(e) if e.status.as_str() != want => result.differences.push(format!(
                "exceptions.{name}: expected {want}, got {}",
                e.status.as_str()
            )),
            Some(_) => {}
        }
    }
    result.passed = result.differences.is_empty();
    result
}
