//! Shell-like words as BuildKit reads them in FROM, USER, WORKDIR, EXPOSE, ENV, ARG, ADD and
//! COPY: quotes, the escape character, and variable substitution (`$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?msg}`).
//! RUN, CMD and ENTRYPOINT are not expanded here: the shell does that at build time.

/// How deep `${a:-${b:-…}}` may nest before the rest is kept literally.
const MAX_NESTING: usize = 16;
/// The longest expansion result we build; longer results are cut (and marked unresolved).
const MAX_EXPANDED: usize = 64 * 1024;

/// A word after quote removal and substitution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    /// The resulting text.
    pub text: String,
    /// Names referenced without a value (and without a default): the text is not what the
    /// build will see.
    pub unresolved: Vec<String>,
}

/// Splits `text` into raw words at unquoted, unescaped whitespace. Quotes and escapes are
/// kept, so each word can be expanded (or split at `=`) afterwards.
pub(crate) fn split_raw(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                } else if c == escape
                    && q == '"'
                    && let Some(n) = chars.next()
                {
                    cur.push(n);
                }
            }
            None => {
                if c.is_whitespace() {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                    continue;
                }
                in_word = true;
                cur.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape
                    && let Some(n) = chars.next()
                {
                    cur.push(n);
                }
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Removes quotes and escapes from `word` and substitutes variables found by `lookup`.
pub(crate) fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Expanded {
    let mut out = Expanded::default();
    let chars: Vec<char> = word.chars().collect();
    let mut x = Expander {
        chars: &chars,
        pos: 0,
        escape,
        lookup,
        unresolved: &mut out.unresolved,
    };
    out.text = x.word(None, 0);
    if out.text.len() > MAX_EXPANDED {
        let mut cut = MAX_EXPANDED;
        while !out.text.is_char_boundary(cut) {
            cut -= 1;
        }
        out.text.truncate(cut);
        out.unresolved.push("(expansion too long)".into());
    }
    out
}

struct Expander<'a> {
    chars: &'a [char],
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unresolved: &'a mut Vec<String>,
}

impl Expander<'_> {
    /// Reads until the end, or until an unquoted `stop` (used for `}` in modifiers).
    fn word(&mut self, stop: Option<char>, depth: usize) -> String {
        let mut out = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            if Some(c) == stop {
                return out;
            }
            if out.len() > MAX_EXPANDED {
                self.pos = self.chars.len();
                return out;
            }
            self.pos += 1;
            if c == self.escape {
                if let Some(&n) = self.chars.get(self.pos) {
                    self.pos += 1;
                    out.push(n);
                }
            } else if c == '\'' {
                while let Some(&n) = self.chars.get(self.pos) {
                    self.pos += 1;
                    if n == '\'' {
                        break;
                    }
                    out.push(n);
                }
            } else if c == '"' {
                while let Some(&n) = self.chars.get(self.pos) {
                    self.pos += 1;
                    if n == '"' {
                        break;
                    } else if n == self.escape {
                        match self.chars.get(self.pos) {
                            Some(&m) if m == '"' || m == '$' || m == self.escape => {
                                self.pos += 1;
                                out.push(m);
                            }
                            _ => out.push(n),
                        }
                    } else if n == '$' {
                        let v = self.dollar(depth);
                        out.push_str(&v);
                    } else {
                        out.push(n);
                    }
                }
            } else if c == '$' {
                let v = self.dollar(depth);
                out.push_str(&v);
            } else {
                out.push(c);
            }
        }
        out
    }

    /// After a `$`: `NAME`, `{NAME}` or `{NAME<op>word}`.
    fn dollar(&mut self, depth: usize) -> String {
        match self.chars.get(self.pos) {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                let value = (self.lookup)(&name);
                let Some(&op) = self.chars.get(self.pos) else {
                    // `${NAME` without `}`: keep it literal.
                    return format!("${{{name}");
                };
                if op == '}' {
                    self.pos += 1;
                    return self.value_or_unresolved(&name, value);
                }
                let colon = op == ':';
                if colon {
                    self.pos += 1;
                }
                let Some(&kind) = self.chars.get(self.pos) else {
                    return format!("${{{name}");
                };
                if !matches!(kind, '-' | '+' | '?') {
                    // `${NAME:offset}`, `${NAME#pattern}`…: not modelled; skip to `}`.
                    while let Some(&c) = self.chars.get(self.pos) {
                        self.pos += 1;
                        if c == '}' {
                            break;
                        }
                    }
                    self.unresolved.push(name);
                    return String::new();
                }
                self.pos += 1;
                let alt = if depth >= MAX_NESTING {
                    let mut s = String::new();
                    while let Some(&c) = self.chars.get(self.pos) {
                        if c == '}' {
                            break;
                        }
                        s.push(c);
                        self.pos += 1;
                    }
                    s
                } else {
                    self.word(Some('}'), depth + 1)
                };
                if self.chars.get(self.pos) == Some(&'}') {
                    self.pos += 1;
                }
                let set = match &value {
                    Some(v) => !(colon && v.is_empty()),
                    None => false,
                };
                match kind {
                    '-' => {
                        if set {
                            value.unwrap_or_default()
                        } else {
                            alt
                        }
                    }
                    '+' => {
                        if set {
                            alt
                        } else {
                            String::new()
                        }
                    }
                    _ => {
                        if set {
                            value.unwrap_or_default()
                        } else {
                            self.unresolved.push(name);
                            String::new()
                        }
                    }
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                let name = self.name();
                let value = (self.lookup)(&name);
                self.value_or_unresolved(&name, value)
            }
            _ => "$".to_owned(),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn value_or_unresolved(&mut self, name: &str, value: Option<String>) -> String {
        match value {
            Some(v) => v,
            None => {
                self.unresolved.push(name.to_owned());
                String::new()
            }
        }
    }
}

/// Splits `NAME=value` words (ENV, ARG, LABEL). The legacy form `ENV NAME value with spaces`
/// is accepted when the first word has no `=`. Returns raw (unexpanded) values.
pub(crate) fn key_values(text: &str, escape: char) -> Vec<(String, Option<String>)> {
    let words = split_raw(text, escape);
    let Some(first) = words.first() else {
        return Vec::new();
    };
    if !first.contains('=') {
        let rest = text.trim_start().get(first.len()..).unwrap_or("").trim();
        if words.len() == 1 {
            return vec![(first.clone(), None)];
        }
        return vec![(first.clone(), Some(rest.to_owned()))];
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w, None),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn x(word: &str) -> String {
        expand(word, '\\', &env).text
    }

    #[test]
    fn substitution_forms() {
        assert_eq!(x("$A"), "alpha");
        assert_eq!(x("${A}-b"), "alpha-b");
        assert_eq!(x("${B:-dflt}"), "dflt");
        assert_eq!(x("${EMPTY:-dflt}"), "dflt");
        assert_eq!(x("${EMPTY-dflt}"), "");
        assert_eq!(x("${A:+alt}"), "alt");
        assert_eq!(x("${B:+alt}"), "");
        assert_eq!(x("${B:-${A}}"), "alpha");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "alpha b");
        assert_eq!(x("\"\\$A\""), "$A");
        assert_eq!(x("$"), "$");
        assert_eq!(x("${A"), "${A");
        assert!(expand("$NOPE", '\\', &env).unresolved == ["NOPE"]);
        assert_eq!(expand("`$A", '`', &env).text, "$A");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "${X:-".repeat(10_000) + &"}".repeat(10_000);
        let _ = expand(&deep, '\\', &env);
    }

    #[test]
    fn words_and_pairs() {
        assert_eq!(
            split_raw(r#"a "b c" d\ e"#, '\\'),
            ["a", "\"b c\"", "d\\ e"]
        );
        assert_eq!(
            key_values(r#"A=1 B="two words""#, '\\'),
            [
                ("A".into(), Some("1".into())),
                ("B".into(), Some("\"two words\"".into()))
            ]
        );
        assert_eq!(
            key_values("KEY some value", '\\'),
            [("KEY".into(), Some("some value".into()))]
        );
        assert_eq!(key_values("NAME", '\\'), [("NAME".into(), None)]);
    }
}
