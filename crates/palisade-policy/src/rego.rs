//! Custom rules in Rego (via regorus): each module is compiled once when the policy loads, then
//! `data.<package>.deny` and `data.<package>.warn` are evaluated against the input document.

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;

/// Wall-clock limit for one rule's evaluation (regorus has a cooperative execution timer, no
/// instruction budget).
const EVAL_LIMIT: Duration = Duration::from_secs(5);

/// A compiled Rego rule.
#[derive(Debug, Clone)]
pub(crate) struct RegoRule {
    pub(crate) name: String,
    /// `data.<package>`.
    pub(crate) package: String,
    /// Where the source is (the `.rego` file, or the policy file for inline rules).
    pub(crate) origin: String,
    engine: regorus::Engine,
}

/// The deepest `[`/`{` nesting accepted. regorus 0.14's parser takes time exponential in the
/// nesting of arrays and sets (about 0.2 s at 16 levels, 45 s at 24 in a debug build), so
/// deeper modules are refused before it sees them.
const MAX_NESTING: usize = 12;

/// Refuses sources nested deeper than [`MAX_NESTING`] (outside strings and comments).
fn check_nesting(source: &str) -> Result<(), RegoSyntaxError> {
    let (mut line, mut column) = (1u64, 0u64);
    let mut depth = 0usize;
    let mut chars = source.chars();
    let mut in_comment = false;
    let mut in_string: Option<char> = None;
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            in_comment = false;
            continue;
        }
        if in_comment {
            continue;
        }
        if let Some(q) = in_string {
            if c == '\\' && q == '"' {
                chars.next();
                column += 1;
            } else if c == q {
                in_string = None;
            }
            continue;
        }
        match c {
            '#' => in_comment = true,
            '"' | '`' => in_string = Some(c),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(RegoSyntaxError {
                        line,
                        column,
                        message: format!("nested deeper than {MAX_NESTING} brackets"),
                    });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Where regorus reported a compile error, and what it said.
pub(crate) struct RegoSyntaxError {
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) message: String,
}

/// One string (or `{msg, fix}` object) a rule returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleMessage {
    pub(crate) msg: String,
    pub(crate) fix: Option<String>,
}

/// What one rule said.
#[derive(Debug, Default)]
pub(crate) struct RuleOutput {
    pub(crate) deny: Vec<RuleMessage>,
    pub(crate) warn: Vec<RuleMessage>,
}

fn new_engine() -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval: NonZeroU32::MIN.saturating_add(999),
    });
    engine.set_strict_builtin_errors(true);
    engine
}

impl RegoRule {
    /// Compiles `source`; `label` names it in regorus's messages.
    pub(crate) fn compile(
        name: &str,
        label: &str,
        source: &str,
        origin: &str,
    ) -> Result<RegoRule, RegoSyntaxError> {
        check_nesting(source)?;
        let mut engine = new_engine();
        let package = engine
            .add_policy(label.to_owned(), source.to_owned())
            .map_err(|e| parse_regorus_error(&e.to_string()))?;
        // regorus resolves functions when it first evaluates: a trial run with no input reports
        // unknown functions and other static problems now, with their location.
        for which in ["deny", "warn"] {
            engine
                .eval_query(format!("{package}.{which}"), false)
                .map_err(|e| parse_regorus_error(&e.to_string()))?;
        }
        Ok(RegoRule {
            name: name.to_owned(),
            package,
            origin: origin.to_owned(),
            engine,
        })
    }

    /// Evaluates `deny` and `warn` with `input` (the input document as JSON).
    pub(crate) fn evaluate(&self, input: &str) -> Result<RuleOutput, String> {
        let mut engine = self.engine.clone();
        let value = regorus::Value::from_json_str(input).map_err(|e| e.to_string())?;
        engine.set_input(value);
        Ok(RuleOutput {
            deny: self.query(&mut engine, "deny")?,
            warn: self.query(&mut engine, "warn")?,
        })
    }

    fn query(&self, engine: &mut regorus::Engine, which: &str) -> Result<Vec<RuleMessage>, String> {
        let query = format!("{}.{which}", self.package);
        let results = engine
            .eval_query(query.clone(), false)
            .map_err(|e| first_line(&e.to_string()))?;
        let mut out = Vec::new();
        for r in &results.result {
            for expr in &r.expressions {
                let json = expr.value.to_json_str().map_err(|e| e.to_string())?;
                let value: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| e.to_string())?;
                collect(&value, &query, &mut out)?;
            }
        }
        Ok(out)
    }
}

fn collect(
    value: &serde_json::Value,
    query: &str,
    out: &mut Vec<RuleMessage>,
) -> Result<(), String> {
    use serde_json::Value as J;
    let items = match value {
        J::Array(items) => items,
        J::Null => return Ok(()),
        other => {
            return Err(format!(
                "{query} must be a set or array of strings or {{msg, fix}} objects, got {}",
                kind(other)
            ));
        }
    };
    for item in items {
        match item {
            J::String(s) => out.push(RuleMessage {
                msg: s.clone(),
                fix: None,
            }),
            J::Object(o) => {
                let Some(J::String(msg)) = o.get("msg") else {
                    return Err(format!("{query}: an object without a string `msg`"));
                };
                let fix = match o.get("fix") {
                    None | Some(J::Null) => None,
                    Some(J::String(f)) => Some(f.clone()),
                    Some(other) => {
                        return Err(format!(
                            "{query}: `fix` must be a string, got {}",
                            kind(other)
                        ));
                    }
                };
                out.push(RuleMessage {
                    msg: msg.clone(),
                    fix,
                });
            }
            other => {
                return Err(format!(
                    "{query} must contain strings or {{msg, fix}} objects, got {}",
                    kind(other)
                ));
            }
        }
    }
    Ok(())
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn first_line(s: &str) -> String {
    parse_regorus_error(s).message
}

/// regorus formats errors as `\n--> FILE:LINE:COL\n  |\nN | source\n  | ^\nerror: MESSAGE`.
pub(crate) fn parse_regorus_error(text: &str) -> RegoSyntaxError {
    let mut line = 0;
    let mut column = 0;
    if let Some(arrow) = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
    {
        let mut parts = arrow.rsplitn(3, ':');
        let c = parts.next().and_then(|c| c.trim().parse().ok());
        let l = parts.next().and_then(|l| l.trim().parse().ok());
        if let (Some(l), Some(c)) = (l, c) {
            line = l;
            column = c;
        }
    }
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or_else(
            || {
                text.lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("Rego error")
                    .to_owned()
            },
            str::to_owned,
        );
    RegoSyntaxError {
        line,
        column,
        message,
    }
}
