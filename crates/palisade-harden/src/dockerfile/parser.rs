//! The Dockerfile syntax, as BuildKit's frontend reads it: parser directives, comments, line
//! continuations with the escape character, heredocs, flags, exec (JSON) and shell forms.
//! Every instruction keeps its source line range. Input is bounded and never panics.

use std::fmt;

/// The largest Dockerfile we read.
pub const MAX_BYTES: usize = 1 << 20;
/// The most instructions we accept in one file.
pub const MAX_INSTRUCTIONS: usize = 10_000;
/// The most comment lines kept above one instruction.
pub const MAX_COMMENTS: usize = 64;
/// The longest comment kept (in characters).
pub const MAX_COMMENT_CHARS: usize = 1000;
/// The most heredocs on one instruction.
const MAX_HEREDOCS: usize = 64;

/// The instructions BuildKit knows.
const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A syntax error, with the 1-based line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed Dockerfile: its directives and instructions in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says `` ` ``).
    pub escape: char,
    /// The `# syntax=` directive, if any.
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// One instruction, continuations joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-case keyword (`RUN`, `FROM`, …).
    pub keyword: String,
    /// First and last source line (1-based), heredoc bodies included.
    pub start_line: u32,
    pub end_line: u32,
    /// Leading `--name[=value]` flags.
    pub flags: Vec<Flag>,
    /// Everything after the keyword and the flags, continuations joined.
    pub text: String,
    /// The arguments in exec (JSON) or shell form. For `HEALTHCHECK CMD …` this is the
    /// command after `CMD`; for `HEALTHCHECK NONE` it is `Shell("NONE")`.
    pub args: Args,
    /// Heredoc bodies, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// The comment lines directly above it: (line, text after `#`), at most
    /// [`MAX_COMMENTS`] of [`MAX_COMMENT_CHARS`] characters. `# palisade ignore=…` lines
    /// among them waive findings on this instruction.
    pub comments: Vec<(u32, String)>,
}

/// An instruction flag such as `--chown=app:app` or `--link`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// Exec form (a JSON array) or shell form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Args {
    Exec(Vec<String>),
    Shell(String),
}

/// A heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    pub delimiter: String,
    /// The delimiter was quoted: the body is not expanded.
    pub quoted: bool,
    /// `<<-`: leading tabs are removed from each body line.
    pub strip_tabs: bool,
    /// The body, one `\n` after each line.
    pub body: String,
    /// The line of the first body line.
    pub start_line: u32,
}

impl Instruction {
    /// The value of flag `name` (without `--`), if present.
    #[must_use]
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The command as one string: exec arguments joined by spaces, or the shell text; heredoc
    /// bodies are appended (they are the script for `RUN <<EOF`).
    #[must_use]
    pub fn command_text(&self) -> String {
        let mut s = match &self.args {
            Args::Exec(v) => v.join(" "),
            Args::Shell(s) => s.clone(),
        };
        for h in &self.heredocs {
            s.push('\n');
            s.push_str(&h.body);
        }
        s
    }
}

fn line_no(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Parses Dockerfile text.
///
/// # Errors
/// On input over [`MAX_BYTES`] or [`MAX_INSTRUCTIONS`], an unknown instruction, an
/// instruction without arguments, an invalid `escape` directive, an unterminated heredoc,
/// no `FROM`, or an instruction other than `ARG` before the first `FROM`.
pub(crate) fn parse(text: &str) -> Result<Dockerfile, SyntaxError> {
    if text.len() > MAX_BYTES {
        return Err(SyntaxError {
            line: 1,
            message: format!(
                "file is {} bytes, more than the {MAX_BYTES} a Dockerfile may have",
                text.len()
            ),
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    let mut seen = Vec::new();
    // Parser directives: only at the very top, before any comment, blank line or instruction.
    while let Some(line) = lines.get(i) {
        let Some((key, value)) = directive(line) else {
            break;
        };
        if seen.contains(&key) {
            return Err(SyntaxError {
                line: line_no(i),
                message: format!("the {key} parser directive appears twice"),
            });
        }
        match key.as_str() {
            "escape" => {
                escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(SyntaxError {
                            line: line_no(i),
                            message: format!("invalid escape directive {other:?}: must be ` or \\"),
                        });
                    }
                }
            }
            "syntax" => syntax = Some(value),
            "check" => {}
            _ => break,
        }
        seen.push(key);
        i += 1;
    }

    let mut instructions = Vec::new();
    // The comment lines directly above the next instruction (a blank line ends a block).
    let mut comments: Vec<(u32, String)> = Vec::new();
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if trimmed.is_empty() {
            comments.clear();
            i += 1;
            continue;
        }
        if let Some(c) = trimmed.strip_prefix('#') {
            if comments.len() < MAX_COMMENTS {
                comments.push((
                    line_no(i),
                    c.trim().chars().take(MAX_COMMENT_CHARS).collect(),
                ));
            }
            i += 1;
            continue;
        }
        let start = i;
        let mut logical = String::new();
        let mut last;
        loop {
            let (content, continued) = strip_continuation(lines[i], escape);
            logical.push_str(content);
            last = i;
            i += 1;
            if !continued {
                break;
            }
            while i < lines.len() && {
                let t = lines[i].trim_start();
                t.is_empty() || t.starts_with('#')
            } {
                i += 1;
            }
            if i >= lines.len() {
                break;
            }
        }
        if instructions.len() >= MAX_INSTRUCTIONS {
            return Err(SyntaxError {
                line: line_no(start),
                message: format!("more than {MAX_INSTRUCTIONS} instructions"),
            });
        }
        let logical = logical.trim();
        let (word, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical, ""),
        };
        let keyword = word.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            let looks_like_data = word.ends_with(':')
                || word.starts_with(['{', '[', '"', '-'])
                || rest.starts_with(':');
            let hint = if looks_like_data {
                " (this looks like YAML or JSON, not a Dockerfile)"
            } else {
                ""
            };
            return Err(SyntaxError {
                line: line_no(start),
                message: format!("unknown instruction {word:?}{hint}"),
            });
        }
        if rest.is_empty() {
            return Err(SyntaxError {
                line: line_no(start),
                message: format!("{keyword} requires at least one argument"),
            });
        }
        let (flags, after_flags) = if keyword == "ONBUILD" {
            (Vec::new(), rest)
        } else {
            split_flags(rest, escape)
        };
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for marker in heredoc_markers(after_flags, escape) {
                if heredocs.len() >= MAX_HEREDOCS {
                    return Err(SyntaxError {
                        line: line_no(start),
                        message: format!("more than {MAX_HEREDOCS} heredocs"),
                    });
                }
                let body_start = i;
                let mut body = String::new();
                let mut closed = false;
                while let Some(line) = lines.get(i) {
                    i += 1;
                    let candidate = if marker.strip_tabs {
                        line.trim_start_matches('\t')
                    } else {
                        line
                    };
                    if candidate == marker.delimiter {
                        closed = true;
                        break;
                    }
                    body.push_str(candidate);
                    body.push('\n');
                }
                if !closed {
                    return Err(SyntaxError {
                        line: line_no(start),
                        message: format!(
                            "heredoc <<{} is not terminated (no line {:?} after line {})",
                            marker.delimiter,
                            marker.delimiter,
                            line_no(start)
                        ),
                    });
                }
                last = i.saturating_sub(1);
                heredocs.push(Heredoc {
                    delimiter: marker.delimiter,
                    quoted: marker.quoted,
                    strip_tabs: marker.strip_tabs,
                    body,
                    start_line: line_no(body_start),
                });
            }
        }
        let args = if keyword == "HEALTHCHECK" {
            let t = after_flags.trim_start();
            match t.get(..3) {
                Some(w)
                    if w.eq_ignore_ascii_case("CMD")
                        && t[3..].starts_with(|c: char| c.is_whitespace() || c == '[') =>
                {
                    args_of(t[3..].trim_start())
                }
                _ => Args::Shell(t.to_owned()),
            }
        } else if matches!(
            keyword.as_str(),
            "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "VOLUME" | "COPY" | "ADD"
        ) {
            args_of(after_flags)
        } else {
            Args::Shell(after_flags.to_owned())
        };
        instructions.push(Instruction {
            keyword,
            start_line: line_no(start),
            end_line: line_no(last),
            flags,
            text: after_flags.to_owned(),
            args,
            heredocs,
            comments: std::mem::take(&mut comments),
        });
    }
    // BuildKit: only ARG may come before the first FROM, and a file without a FROM has no
    // build stage. Either way this is not a Dockerfile we could judge.
    match instructions.iter().find(|i| i.keyword != "ARG") {
        Some(first) if first.keyword == "FROM" => {}
        Some(first) => {
            return Err(SyntaxError {
                line: first.start_line,
                message: format!(
                    "{} before the first FROM: not a Dockerfile (only ARG may precede FROM)",
                    first.keyword
                ),
            });
        }
        None => {
            return Err(SyntaxError {
                line: instructions.first().map_or(1, |i| i.start_line),
                message: "no FROM instruction: not a Dockerfile".into(),
            });
        }
    }
    Ok(Dockerfile {
        escape,
        syntax,
        instructions,
    })
}

/// `# key=value` at the top of the file (key case-insensitive).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim();
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_owned()))
}

/// The line without a trailing escape character (and the whitespace after it), and whether
/// it continues on the next line.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end();
    match t.strip_suffix(escape) {
        Some(content) => (content, true),
        None => (line, false),
    }
}

/// Leading `--flag[=value]` words.
fn split_flags(rest: &str, escape: char) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut r = rest.trim_start();
    while r.starts_with("--") {
        // The flag ends at the first unquoted whitespace.
        let mut end = r.len();
        let mut quote: Option<char> = None;
        let mut prev_escape = false;
        for (p, c) in r.char_indices() {
            if prev_escape {
                prev_escape = false;
                continue;
            }
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == escape => prev_escape = true,
                None if c.is_whitespace() => {
                    end = p;
                    break;
                }
                None => {}
            }
        }
        let word = &r[2..end];
        if word.is_empty() {
            break;
        }
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v))),
            None => (word, None),
        };
        flags.push(Flag {
            name: name.to_ascii_lowercase(),
            value,
        });
        r = r[end..].trim_start();
    }
    (flags, r)
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    v.to_owned()
}

/// Exec form if `text` is a JSON array of strings, shell form otherwise.
fn args_of(text: &str) -> Args {
    let t = text.trim();
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(t)
    {
        return Args::Exec(v);
    }
    Args::Shell(t.to_owned())
}

struct Marker {
    delimiter: String,
    quoted: bool,
    strip_tabs: bool,
}

/// Heredoc markers: words `<<WORD`, `<<-WORD`, `<<"WORD"`, `<<'WORD'` outside quotes
/// (`<<<` is a here-string, not a heredoc).
fn heredoc_markers(text: &str, escape: char) -> Vec<Marker> {
    let mut out = Vec::new();
    for word in super::words::split_raw(text, escape) {
        // A redirection may be glued to what precedes it (`cat<<EOF`).
        let Some(p) = word.find("<<") else { continue };
        if word[..p].contains(['"', '\'']) {
            continue;
        }
        let rest = &word[p + 2..];
        if rest.starts_with('<') {
            continue;
        }
        let (strip_tabs, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (delimiter, quoted) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => match rest[1..].find(q) {
                Some(e) => (rest[1..=e].to_owned(), true),
                None => continue,
            },
            _ => {
                let d: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                    .collect();
                (d, false)
            }
        };
        if delimiter.is_empty() || delimiter.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        out.push(Marker {
            delimiter,
            quoted,
            strip_tabs,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_ranges() {
        let df = parse("FROM a\n# c\nRUN echo a \\\n  # inner comment\n\n  && echo b\nUSER x\n")
            .unwrap();
        let run = &df.instructions[1];
        assert_eq!((run.start_line, run.end_line), (3, 6));
        assert_eq!(run.args, Args::Shell("echo a   && echo b".into()));
        assert_eq!(df.instructions[2].start_line, 7);
    }

    #[test]
    fn backtick_escape() {
        let df = parse("# escape=`\nFROM mcr/x\nRUN dir c:\\ `\n  && echo x\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("dir c:\\   && echo x".into())
        );
    }

    #[test]
    fn directives_stop_at_first_other_line() {
        let df = parse("# syntax=docker/dockerfile:1\n\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.escape, '\\');
        assert!(parse("# escape=x\nFROM a\n").is_err());
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM a\nRUN <<EOF cat >/x && <<-'END' sh\nline1\nEOF\n\techo $HOME\n\tEND\nUSER 1\n",
        )
        .unwrap();
        let run = &df.instructions[1];
        assert_eq!(run.heredocs.len(), 2);
        assert_eq!(run.heredocs[0].body, "line1\n");
        assert!(run.heredocs[1].quoted && run.heredocs[1].strip_tabs);
        assert_eq!(run.heredocs[1].body, "echo $HOME\n");
        assert_eq!((run.start_line, run.end_line), (2, 6));
        assert_eq!(df.instructions[2].start_line, 7);
        let err = parse("FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(err.line, 2);
        // Not heredocs: here-strings, quoted text.
        let df = parse("FROM a\nRUN cat <<<x && echo '<<EOF'\n").unwrap();
        assert!(df.instructions[1].heredocs.is_empty());
    }

    #[test]
    fn flags_and_forms() {
        let df = parse(
            "FROM --platform=$BUILDPLATFORM a AS b\nCOPY --from=b --chown=1:1 [\"a b\", \"/c\"]\nCMD [\"x\"]\nCMD [bad\nHEALTHCHECK --interval=5s CMD [\"true\"]\n",
        )
        .unwrap();
        let from = &df.instructions[0];
        assert_eq!(
            from.flag("platform").unwrap().value.as_deref(),
            Some("$BUILDPLATFORM")
        );
        assert_eq!(from.text, "a AS b");
        let copy = &df.instructions[1];
        assert_eq!(copy.flags.len(), 2);
        assert_eq!(copy.args, Args::Exec(vec!["a b".into(), "/c".into()]));
        assert_eq!(df.instructions[2].args, Args::Exec(vec!["x".into()]));
        assert_eq!(df.instructions[3].args, Args::Shell("[bad".into()));
        assert_eq!(df.instructions[4].args, Args::Exec(vec!["true".into()]));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("FROM a\n\nFOO bar\n").unwrap_err().line, 3);
        assert_eq!(parse("FROM a\nRUN\n").unwrap_err().line, 2);
        let big = "#".repeat(MAX_BYTES + 1);
        assert!(parse(&big).is_err());
    }
}
