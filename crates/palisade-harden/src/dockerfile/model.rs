//! Build stages and variable scopes: ARGs before the first FROM are visible to FROM lines
//! only (and to `ARG NAME` re-declarations inside a stage); ARG and ENV inside a stage apply
//! to the instructions after them; a stage built `FROM` an earlier stage inherits its ENV.

use std::collections::BTreeMap;

use super::parser::{Dockerfile, Instruction};
use super::words::{self, Expanded};

/// One build stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position among the stages.
    pub index: usize,
    /// `AS name` (lower-cased, as BuildKit compares names), if any.
    pub name: Option<String>,
    /// Index of the FROM instruction in [`Dockerfile::instructions`].
    pub from: usize,
    /// The base image after ARG substitution.
    pub base: Expanded,
    /// The earlier stage this one is built on, if `base` names one.
    pub parent: Option<usize>,
    /// Indices of the instructions of this stage (FROM excluded).
    pub body: Vec<usize>,
}

/// The Dockerfile with its stages and, for every instruction, the variables in scope.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    pub df: &'a Dockerfile,
    pub stages: Vec<Stage>,
    /// Per instruction: the stage it belongs to (`None` before the first FROM).
    pub stage_of: Vec<Option<usize>>,
    /// Per instruction: expanded key/values for ENV and ARG (value `None` for `ARG NAME`
    /// without a default or build argument).
    pub pairs: Vec<Vec<(String, Option<Expanded>)>>,
    /// Per instruction: its words after substitution (USER, WORKDIR, EXPOSE, ADD, COPY,
    /// VOLUME, STOPSIGNAL); empty for the others.
    pub words: Vec<Vec<Expanded>>,
}

impl<'a> Model<'a> {
    /// Resolves stages and variables; `build_args` play `--build-arg NAME=value`.
    #[must_use]
    pub fn new(df: &'a Dockerfile, build_args: &BTreeMap<String, String>) -> Model<'a> {
        let esc = df.escape;
        let n = df.instructions.len();
        let mut stages: Vec<Stage> = Vec::new();
        let mut stage_of = vec![None; n];
        let mut pairs = vec![Vec::new(); n];
        let mut words_of = vec![Vec::new(); n];
        let mut global: BTreeMap<String, String> = BTreeMap::new();
        // Per stage: ENV values and ARG values in scope.
        let mut env_by_stage: Vec<BTreeMap<String, String>> = Vec::new();
        let mut args: BTreeMap<String, String> = BTreeMap::new();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (i, ins) in df.instructions.iter().enumerate() {
            let cur = stages.len().checked_sub(1);
            if ins.keyword == "FROM" {
                if cur.is_some() {
                    env_by_stage.push(std::mem::take(&mut env));
                }
                let lookup =
                    |name: &str| build_args.get(name).or_else(|| global.get(name)).cloned();
                let raw = words::split_raw(&ins.text, esc);
                let base = raw
                    .first()
                    .map(|w| words::expand(w, esc, &lookup))
                    .unwrap_or_default();
                let name = match (raw.get(1), raw.get(2)) {
                    (Some(as_), Some(n)) if as_.eq_ignore_ascii_case("AS") => {
                        Some(n.to_ascii_lowercase())
                    }
                    _ => None,
                };
                let parent = stages
                    .iter()
                    .find(|s| s.name.as_deref() == Some(base.text.to_ascii_lowercase().as_str()))
                    .map(|s| s.index);
                env = parent
                    .and_then(|p| env_by_stage.get(p).cloned())
                    .unwrap_or_default();
                args.clear();
                stage_of[i] = Some(stages.len());
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    from: i,
                    base,
                    parent,
                    body: Vec::new(),
                });
                continue;
            }
            stage_of[i] = cur;
            if let Some(c) = cur
                && let Some(s) = stages.get_mut(c)
            {
                s.body.push(i);
            }
            match ins.keyword.as_str() {
                "ARG" => {
                    let mut out = Vec::new();
                    for (k, v) in words::key_values(&ins.text, esc) {
                        let value = match cur {
                            None => {
                                let glookup = |name: &str| {
                                    build_args.get(name).or_else(|| global.get(name)).cloned()
                                };
                                let ex = v.map(|v| words::expand(&v, esc, &glookup));
                                let eff = build_args
                                    .get(&k)
                                    .cloned()
                                    .or_else(|| ex.as_ref().map(|e| e.text.clone()));
                                if let Some(e) = eff {
                                    global.insert(k.clone(), e);
                                }
                                ex
                            }
                            Some(_) => {
                                let ex = v.map(|v| words::expand(&v, esc, &scope(&env, &args)));
                                let eff = build_args
                                    .get(&k)
                                    .cloned()
                                    .or_else(|| ex.as_ref().map(|e| e.text.clone()))
                                    .or_else(|| global.get(&k).cloned());
                                if let Some(e) = eff {
                                    args.insert(k.clone(), e);
                                }
                                ex
                            }
                        };
                        out.push((k, value));
                    }
                    pairs[i] = out;
                }
                "ENV" => {
                    let mut out = Vec::new();
                    for (k, v) in words::key_values(&ins.text, esc) {
                        let ex = v.map(|v| words::expand(&v, esc, &scope(&env, &args)));
                        out.push((k, ex));
                    }
                    for (k, v) in &out {
                        env.insert(
                            k.clone(),
                            v.as_ref().map(|e| e.text.clone()).unwrap_or_default(),
                        );
                    }
                    pairs[i] = out;
                }
                "USER" | "WORKDIR" | "EXPOSE" | "ADD" | "COPY" | "VOLUME" | "STOPSIGNAL" => {
                    words_of[i] = instruction_words(ins, esc)
                        .iter()
                        .map(|w| words::expand(w, esc, &scope(&env, &args)))
                        .collect();
                }
                _ => {}
            }
        }
        Model {
            df,
            stages,
            stage_of,
            pairs,
            words: words_of,
        }
    }

    /// The last stage: the one `docker build` produces without `--target`.
    #[must_use]
    pub fn final_stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// The instruction at `i`.
    #[must_use]
    pub fn ins(&self, i: usize) -> &'a Instruction {
        &self.df.instructions[i]
    }

    /// Whether stage `s` or one it is built on contains an instruction matching `pred`; returns
    /// the last such instruction.
    pub fn last_in_chain(&self, s: usize, pred: &dyn Fn(&Instruction) -> bool) -> Option<usize> {
        let mut seen = 0;
        let mut cur = Some(s);
        while let Some(c) = cur {
            let stage = self.stages.get(c)?;
            if let Some(&i) = stage.body.iter().rev().find(|&&i| pred(self.ins(i))) {
                return Some(i);
            }
            cur = stage.parent;
            seen += 1;
            if seen > self.stages.len() {
                return None;
            }
        }
        None
    }
}

/// Variable lookup inside a stage: ENV wins over ARG.
fn scope<'m>(
    env: &'m BTreeMap<String, String>,
    args: &'m BTreeMap<String, String>,
) -> impl Fn(&str) -> Option<String> + 'm {
    move |name| env.get(name).or_else(|| args.get(name)).cloned()
}

/// The raw words of an instruction (the exec-form array elements, or the shell-form words).
fn instruction_words(ins: &Instruction, esc: char) -> Vec<String> {
    match &ins.args {
        super::parser::Args::Exec(v) => v
            .iter()
            .map(|s| {
                // Elements are literal words: escape what expansion would otherwise interpret.
                let mut w = String::with_capacity(s.len());
                for c in s.chars() {
                    if c == '\'' || c == '"' || c == esc || c.is_whitespace() {
                        w.push(esc);
                    }
                    w.push(c);
                }
                w
            })
            .collect(),
        super::parser::Args::Shell(s) => words::split_raw(s, esc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parser::parse;

    #[test]
    fn arg_scopes() {
        let df = parse(
            "ARG BASE=debian\nARG TAG=12\nFROM ${BASE}:${TAG:-x} AS build\nARG TAG\nENV DIR=/srv/$TAG\nWORKDIR $DIR\nUSER $BASE\nFROM build\nWORKDIR ${DIR}/x\n",
        )
        .unwrap();
        let m = Model::new(&df, &BTreeMap::new());
        assert_eq!(m.stages[0].base.text, "debian:12");
        assert_eq!(m.stages[0].name.as_deref(), Some("build"));
        assert_eq!(m.words[5][0].text, "/srv/12");
        // BASE was not re-declared in the stage: unresolved there.
        assert_eq!(m.words[6][0].unresolved, ["BASE"]);
        assert_eq!(m.stages[1].parent, Some(0));
        assert_eq!(m.words[8][0].text, "/srv/12/x");
        let mut ba = BTreeMap::new();
        ba.insert("TAG".to_owned(), "13".to_owned());
        let m = Model::new(&df, &ba);
        assert_eq!(m.stages[0].base.text, "debian:13");
    }
}
