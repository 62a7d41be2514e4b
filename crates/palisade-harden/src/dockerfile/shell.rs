//! Just enough POSIX shell to find the simple commands of a RUN script: words with quotes
//! removed, split at `&&`, `||`, `;`, `|`, `&`, newlines and parentheses. Not an interpreter:
//! variables stay as written.

/// One simple command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Command {
    /// Words after quote removal, including leading `NAME=value` assignments.
    pub(crate) words: Vec<String>,
    /// The command's output is piped (`|`) into the next command.
    pub(crate) piped: bool,
}

/// Programs that run their arguments as another command.
const WRAPPERS: &[&str] = &[
    "env", "time", "nice", "nohup", "exec", "command", "builtin", "stdbuf", "timeout", "sudo",
    "doas", "gosu", "su-exec", "chroot",
];

impl Command {
    /// The program and its arguments, after assignments and wrappers (`env`, `sudo`, …).
    pub(crate) fn program(&self) -> (&str, &[String]) {
        let mut w: &[String] = &self.words;
        let mut guard = 0;
        loop {
            guard += 1;
            while let Some(first) = w.first() {
                if is_assignment(first) || first == "!" || first == "{" {
                    w = &w[1..];
                } else {
                    break;
                }
            }
            let Some(first) = w.first() else {
                return ("", &[]);
            };
            let name = basename(first);
            if guard < 8 && WRAPPERS.contains(&name) {
                w = &w[1..];
                // Options of the wrapper (and `timeout`'s duration, `gosu`'s user).
                while let Some(o) = w.first() {
                    if o.starts_with('-') || is_assignment(o) {
                        w = &w[1..];
                    } else {
                        break;
                    }
                }
                if matches!(name, "timeout" | "gosu" | "su-exec" | "chroot") && !w.is_empty() {
                    w = &w[1..];
                }
                continue;
            }
            return (name, &w[1..]);
        }
    }

    /// The programs in the wrapper chain: `env X=1 sudo -E apt-get` gives
    /// `["env", "sudo", "apt-get"]`.
    pub(crate) fn chain(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut w: &[String] = &self.words;
        while out.len() < 8 {
            while let Some(first) = w.first() {
                if is_assignment(first) || first == "!" || first == "{" {
                    w = &w[1..];
                } else {
                    break;
                }
            }
            let Some(first) = w.first() else { break };
            let name = basename(first);
            out.push(name);
            if !WRAPPERS.contains(&name) {
                break;
            }
            w = &w[1..];
            while let Some(o) = w.first() {
                if o.starts_with('-') || is_assignment(o) {
                    w = &w[1..];
                } else {
                    break;
                }
            }
            if matches!(name, "timeout" | "gosu" | "su-exec" | "chroot") && !w.is_empty() {
                w = &w[1..];
            }
        }
        out
    }

    /// The first word after assignments (without following wrappers).
    #[cfg(test)]
    pub(crate) fn head(&self) -> &str {
        self.words
            .iter()
            .find(|w| !is_assignment(w) && *w != "!" && *w != "{")
            .map_or("", |w| basename(w))
    }
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((k, _)) => {
            !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !k.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn basename(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

/// Splits a script into simple commands.
pub(crate) fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let mut cur = Command::default();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let flush_word = |cur: &mut Command, word: &mut String, in_word: &mut bool| {
        if *in_word {
            cur.words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    word.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(m @ ('"' | '\\' | '$' | '`')) => word.push(m),
                            Some('\n') | None => {}
                            Some(m) => {
                                word.push('\\');
                                word.push(m);
                            }
                        },
                        _ => word.push(n),
                    }
                }
            }
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                flush_word(&mut cur, &mut word, &mut in_word);
                push(&mut out, &mut cur, false);
            }
            '(' if in_word && word.ends_with('$') => word.push('('),
            '&' if in_word && (word.ends_with('>') || word.ends_with('<')) => word.push('&'),
            '&' if chars.peek() == Some(&'>') => {
                // `&>file`: a redirection, not a separator.
                flush_word(&mut cur, &mut word, &mut in_word);
                chars.next();
                word.push_str("&>");
                in_word = true;
            }
            '|' | '&' | ';' | '\n' | '(' | ')' => {
                flush_word(&mut cur, &mut word, &mut in_word);
                let mut piped = false;
                if c == '|' {
                    match chars.peek() {
                        Some('|') => {
                            chars.next();
                        }
                        Some('&') => {
                            chars.next();
                            piped = true;
                        }
                        _ => piped = true,
                    }
                } else if c == '&' && chars.peek() == Some(&'&') {
                    chars.next();
                }
                push(&mut out, &mut cur, piped);
            }
            c if c.is_whitespace() => flush_word(&mut cur, &mut word, &mut in_word),
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush_word(&mut cur, &mut word, &mut in_word);
    push(&mut out, &mut cur, false);
    out
}

fn push(out: &mut Vec<Command>, cur: &mut Command, piped: bool) {
    if cur.words.is_empty() {
        // `a | | b` or a leading separator: keep the pipe on the previous command.
        if piped && let Some(prev) = out.last_mut() {
            prev.piped = true;
        }
        return;
    }
    cur.piped = piped;
    out.push(std::mem::take(cur));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands() {
        let c = commands(
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y 'a b' \\\n  c; curl -s x | sh # note | x\n(cd /x || true)",
        );
        let heads: Vec<&str> = c.iter().map(Command::head).collect();
        assert_eq!(heads, ["apt-get", "apt-get", "curl", "sh", "cd", "true"]);
        assert_eq!(c[1].words[4], "a b");
        assert!(c[2].piped && !c[3].piped);
        assert!(!c[4].piped);
    }

    #[test]
    fn programs_behind_wrappers() {
        let c = commands("env -i X=1 sudo -E apt-get install x");
        assert_eq!(c[0].program().0, "apt-get");
        assert_eq!(c[0].head(), "env");
        let c = commands("echo \"$(id -u)\" &>/dev/null");
        assert_eq!(c.len(), 1);
    }
}
