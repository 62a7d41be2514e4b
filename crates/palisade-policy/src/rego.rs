//! Custom rules in Rego (via regorus): each module is parsed and statically checked when the
//! policy loads (nesting depth, recursion), then `data.<package>.deny` and `data.<package>.warn`
//! are evaluated against the input document under a resource budget (see [`crate::sandbox`]).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;

/// A compiled Rego rule.
#[derive(Debug, Clone)]
pub(crate) struct RegoRule {
    pub(crate) name: String,
    /// `data.<package>`.
    pub(crate) package: String,
    /// Where the source is (the `.rego` file, or the policy file for inline rules).
    pub(crate) origin: String,
    /// The label regorus knows the module by (locations in its errors use it).
    pub(crate) label: String,
    /// The module's source text.
    pub(crate) source: String,
}

/// The deepest `[`/`{`/`(` nesting accepted. regorus 0.14's parser takes time exponential in the
/// nesting of arrays and sets (about 0.2 s at 16 levels, 45 s at 24 in a debug build) and
/// misreports deep parentheses, so deeper modules are refused before it sees them.
pub(crate) const MAX_NESTING: usize = 12;

/// Refuses sources nested deeper than [`MAX_NESTING`] (outside strings and comments).
fn check_nesting(source: &str) -> Result<(), RegoSyntaxError> {
    let (mut line, mut column) = (1u64, 0u64);
    let mut depth = 0usize;
    let mut chars = source.chars();
    let mut in_comment = false;
    let mut in_string: Option<char> = None;
    let mut minus_run = 0usize;
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            in_comment = false;
            if in_string == Some('"') {
                in_string = None;
            }
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
            '[' | '{' | '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(RegoSyntaxError {
                        line,
                        column,
                        message: format!(
                            "nesting too deep: more than {MAX_NESTING} levels of brackets, braces \
                             and parentheses"
                        ),
                    });
                }
            }
            ']' | '}' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        // Each unary minus is one more level of regorus's recursive descent too (a run of
        // thousands overflowed its stack, found by the `policy` fuzz target).
        if c == '-' {
            minus_run += 1;
            if minus_run > MAX_NESTING {
                return Err(RegoSyntaxError {
                    line,
                    column,
                    message: format!(
                        "nesting too deep: more than {MAX_NESTING} minus signs in a row"
                    ),
                });
            }
        } else if !c.is_whitespace() {
            minus_run = 0;
        }
    }
    Ok(())
}

/// Words that start or continue a statement without naming a rule.
const KEYWORDS: &[&str] = &[
    "package", "import", "default", "else", "if", "contains", "in", "some", "every", "not", "with",
    "as", "true", "false", "null",
];

/// Refuses recursion between the rules and functions of one module: Rego forbids it, and
/// regorus (which does not check functions) would recurse until the stack overflows.
///
/// A definition starts with a name at bracket depth 0 on a new line; every later name in it
/// (not after a `.`, except in `data.` references) that is also a definition is an edge. A
/// cycle in that graph is an error at the first definition on it.
fn check_recursion(label: &str, source: &str) -> Result<(), RegoSyntaxError> {
    use regorus::unstable::{Lexer, Source, TokenKind};
    let src = Source::from_contents(label.to_owned(), source.to_owned())
        .map_err(|e| parse_regorus_error(&e.to_string()))?;
    let mut lexer = Lexer::new(&src);
    // (name, line, column) of each definition, and the names each one mentions.
    let mut defs: Vec<(String, u64, u64, BTreeSet<String>)> = Vec::new();
    let mut depth = 0usize;
    let mut last_line = 0u32;
    let mut prev_dot = false;
    let mut in_header = false;
    // After `data`: skip the package path up to the last name of the chain.
    let mut chain: Option<String> = None;
    loop {
        let token = lexer
            .next_token()
            .map_err(|e| parse_regorus_error(&e.to_string()))?;
        let span = &token.1;
        let text = span.text();
        let new_line = span.line != last_line;
        last_line = span.line;
        match token.0 {
            TokenKind::Eof => {
                if let (Some(name), Some(def)) = (chain.take(), defs.last_mut()) {
                    def.3.insert(name);
                }
                break;
            }
            TokenKind::Symbol => {
                match text {
                    "[" | "{" | "(" => depth += 1,
                    "]" | "}" | ")" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if text != "."
                    && let (Some(name), Some(def)) = (chain.take(), defs.last_mut())
                {
                    def.3.insert(name);
                }
                prev_dot = text == ".";
                if new_line && depth == 0 {
                    in_header = false;
                }
                continue;
            }
            TokenKind::Ident => {}
            _ => {
                if let (Some(name), Some(def)) = (chain.take(), defs.last_mut()) {
                    def.3.insert(name);
                }
                prev_dot = false;
                continue;
            }
        }
        let starts = new_line && depth == 0;
        if starts {
            in_header = matches!(text, "package" | "import");
            if let (Some(name), Some(def)) = (chain.take(), defs.last_mut()) {
                def.3.insert(name);
            }
        }
        if in_header {
            prev_dot = false;
            continue;
        }
        if starts && !KEYWORDS.contains(&text) {
            defs.push((
                text.to_owned(),
                u64::from(span.line),
                u64::from(span.col),
                BTreeSet::new(),
            ));
        } else if text == "default" && starts {
            // `default name := …`: the next name is the definition.
            let next = lexer
                .next_token()
                .map_err(|e| parse_regorus_error(&e.to_string()))?;
            if matches!(next.0, TokenKind::Ident) {
                last_line = next.1.line;
                defs.push((
                    next.1.text().to_owned(),
                    u64::from(next.1.line),
                    u64::from(next.1.col),
                    BTreeSet::new(),
                ));
            }
        } else if chain.is_some() && prev_dot {
            chain = Some(text.to_owned());
        } else if text == "data" && !prev_dot {
            chain = Some(String::new());
        } else if !prev_dot && let Some(def) = defs.last_mut() {
            def.3.insert(text.to_owned());
        }
        prev_dot = false;
    }
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, _, _, _) in &defs {
        graph.entry(name.as_str()).or_default();
    }
    for (name, _, _, refs) in &defs {
        let out = refs
            .iter()
            .filter(|r| graph.contains_key(r.as_str()))
            .map(String::as_str)
            .collect::<Vec<_>>();
        graph.entry(name.as_str()).or_default().extend(out);
    }
    for (name, line, column, _) in &defs {
        if let Some(cycle) = cycle_from(&graph, name) {
            return Err(RegoSyntaxError {
                line: *line,
                column: *column,
                message: format!("recursion is not allowed: {}", cycle.join(" -> ")),
            });
        }
    }
    Ok(())
}

/// A path from `start` back to itself, if there is one.
fn cycle_from<'a>(
    graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    start: &'a str,
) -> Option<Vec<&'a str>> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, vec![start])];
    while let Some((node, path)) = stack.pop() {
        for &next in graph.get(node).into_iter().flatten() {
            if next == start {
                let mut p = path.clone();
                p.push(start);
                return Some(p);
            }
            if seen.insert(next) {
                let mut p = path.clone();
                p.push(next);
                stack.push((next, p));
            }
        }
    }
    None
}

/// Where regorus reported a compile error, and what it said.
pub(crate) struct RegoSyntaxError {
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) message: String,
}

/// One string (or `{msg, fix}` object) a rule returned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RuleMessage {
    pub(crate) msg: String,
    pub(crate) fix: Option<String>,
}

/// What one rule said.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct RuleOutput {
    pub(crate) deny: Vec<RuleMessage>,
    pub(crate) warn: Vec<RuleMessage>,
}

/// A regorus engine with strict builtin errors and a cooperative time limit.
pub(crate) fn new_engine(limit: Duration) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::MIN.saturating_add(99),
    });
    engine.set_strict_builtin_errors(true);
    engine
}

impl RegoRule {
    /// Parses `source` and checks it statically (nesting, recursion); `label` names it in
    /// regorus's messages. Nothing is evaluated here: see [`crate::sandbox::run_rules`].
    pub(crate) fn compile(
        name: &str,
        label: &str,
        source: &str,
        origin: &str,
    ) -> Result<RegoRule, RegoSyntaxError> {
        check_nesting(source)?;
        let mut engine = regorus::Engine::new();
        let package = engine
            .add_policy(label.to_owned(), source.to_owned())
            .map_err(|e| parse_regorus_error(&e.to_string()))?;
        check_recursion(label, source)?;
        Ok(RegoRule {
            name: name.to_owned(),
            package,
            origin: origin.to_owned(),
            label: label.to_owned(),
            source: source.to_owned(),
        })
    }
}

/// Compiles one module and evaluates its `deny` and `warn` (with `input`, or without input
/// for the trial run at load time, which reports unknown functions and other static problems
/// with their location). Errors are regorus's full text (with its `--> FILE:LINE:COL`).
pub(crate) fn evaluate_module(
    label: &str,
    source: &str,
    input: Option<&str>,
    limit: Duration,
) -> Result<RuleOutput, String> {
    let mut engine = new_engine(limit);
    let package = engine
        .add_policy(label.to_owned(), source.to_owned())
        .map_err(|e| e.to_string())?;
    if let Some(input) = input {
        let value = regorus::Value::from_json_str(input).map_err(|e| e.to_string())?;
        engine.set_input(value);
    }
    let mut out = RuleOutput::default();
    for (which, into) in [("deny", &mut out.deny), ("warn", &mut out.warn)] {
        let query = format!("{package}.{which}");
        let results = engine
            .eval_query(query.clone(), false)
            .map_err(|e| e.to_string())?;
        if input.is_none() {
            continue;
        }
        for r in &results.result {
            for expr in &r.expressions {
                let json = expr.value.to_json_str().map_err(|e| e.to_string())?;
                let value: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| e.to_string())?;
                collect(&value, &query, into)?;
            }
        }
    }
    Ok(out)
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
