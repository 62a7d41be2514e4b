//! The Dockerfile checks: the CIS Docker Benchmark 4.x recommendations that a Dockerfile
//! decides, and our own `PAL-DOCKERFILE-*` rules. Each rule records the hadolint rules it
//! corresponds to (see `DOCKERFILE-RULES.md`).

use std::path::Path;

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};

use super::Options;
use super::model::Model;
use super::parser::{Args, Instruction};
use super::shell::{self, Command};

const SECTION: &str = "4 Container Images and Build File";
const CIS: &str = crate::check::CIS_DOCKER;

/// One rule: its definition, the hadolint rules it corresponds to, the status of a finding,
/// and how it is evaluated.
pub(crate) struct Rule {
    pub(crate) def: CheckDef,
    pub(crate) hadolint: &'static [&'static str],
    pub(crate) finding: Status,
    eval: fn(&Ctx<'_>) -> Outcome,
}

const fn def(
    id: &'static str,
    title: &'static str,
    level: Level,
    rationale: &'static str,
    remediation: &'static str,
    references: &'static [&'static str],
) -> CheckDef {
    CheckDef::new(
        id,
        title,
        level,
        TargetKind::Dockerfile,
        SECTION,
        rationale,
        remediation,
    )
    .refs(references)
}

pub(crate) const RULES: &[Rule] = &[
    Rule {
        def: def(
            "CIS-DOCKER-4.1",
            "Ensure that a user for the container has been created (Dockerfile: non-root USER in the final stage)",
            Level::One,
            "A container whose process runs as root (user `root` or uid 0, with any group) turns a process compromise into root inside the container and widens every kernel or runtime escape.",
            "Create an unprivileged user in the image and end the final stage with `USER <uid>` (numeric, non-zero), e.g. `RUN useradd -r -u 10001 app` then `USER 10001`.",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3002"],
        ),
        hadolint: &["DL3002"],
        finding: Status::Fail,
        eval: user_non_root,
    },
    Rule {
        def: def(
            "CIS-DOCKER-4.6",
            "Ensure that HEALTHCHECK instructions have been added to container images",
            Level::One,
            "Without a HEALTHCHECK the engine cannot tell a hung service from a healthy one, so it is neither restarted nor taken out of rotation.",
            "Add `HEALTHCHECK CMD [\"/app/healthcheck\"]` (or an equivalent probe) to the final stage; do not end with `HEALTHCHECK NONE`.",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3057"],
        ),
        hadolint: &["DL3057"],
        finding: Status::Fail,
        eval: healthcheck,
    },
    Rule {
        def: def(
            "CIS-DOCKER-4.7",
            "Ensure update instructions are not used alone in the Dockerfile",
            Level::One,
            "A RUN that only refreshes package metadata (`apt-get update`, `apk update`, `dnf makecache`) is cached as its own layer, so later installs use stale indexes and miss security updates.",
            "Refresh and install in the same RUN: `RUN apt-get update && apt-get install -y --no-install-recommends pkg && rm -rf /var/lib/apt/lists/*`.",
            &[CIS],
        ),
        hadolint: &[],
        finding: Status::Fail,
        eval: update_alone,
    },
    Rule {
        def: def(
            "CIS-DOCKER-4.9",
            "Ensure that COPY is used instead of ADD in Dockerfiles",
            Level::One,
            "ADD also fetches URLs and unpacks archives; for plain files and folders that hidden behaviour is a risk (an unexpected archive is extracted) and COPY says exactly what happens.",
            "Use `COPY` for local files and folders; keep ADD only to unpack a local tar archive (and for remote files, see PAL-DOCKERFILE-5).",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3020"],
        ),
        hadolint: &["DL3020"],
        finding: Status::Fail,
        eval: add_instead_of_copy,
    },
    Rule {
        def: def(
            "CIS-DOCKER-4.10",
            "Ensure secrets are not stored in Dockerfiles",
            Level::One,
            "ENV values are stored in the image configuration and ARG values in its history; copied key files stay in a layer even if deleted later. Anyone who can pull the image can read them.",
            "Pass build secrets with `RUN --mount=type=secret,id=…` and runtime secrets through the orchestrator (files, not ENV); never COPY key or credential files into the image.",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3064"],
        ),
        hadolint: &["DL3064"],
        finding: Status::Fail,
        eval: secrets,
    },
    Rule {
        def: def(
            "CIS-DOCKER-4.11",
            "Ensure only verified packages are installed",
            Level::Two,
            "Flags that disable signature or TLS verification (`--allow-unauthenticated`, `--nogpgcheck`, `apk --allow-untrusted`, `pip --trusted-host`, `curl -k`) let a network attacker substitute packages.",
            "Remove the flag and import the repository's signing key (or fix the CA bundle) instead.",
            &[CIS],
        ),
        hadolint: &[],
        finding: Status::Fail,
        eval: unverified_packages,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-1",
            "Base images come from a trusted registry",
            Level::One,
            "A base image from an arbitrary registry brings code nobody vetted into every image built on it (CIS 4.2: use only trusted base images).",
            "Pull base images only from the registries in the profile's trusted list (a mirror you control, or the vendors you accept).",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3026"],
        ),
        hadolint: &["DL3026"],
        finding: Status::Fail,
        eval: trusted_registry,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-2",
            "Base images have an explicit tag other than latest",
            Level::One,
            "`FROM image` and `FROM image:latest` build on whatever the tag points to that day: builds are not reproducible and a compromised or broken push is picked up silently.",
            "Name a version: `FROM debian:12.7-slim`, better with a digest (PAL-DOCKERFILE-3).",
            &[
                CIS,
                "https://github.com/hadolint/hadolint/wiki/DL3006",
                "https://github.com/hadolint/hadolint/wiki/DL3007",
            ],
        ),
        hadolint: &["DL3006", "DL3007"],
        finding: Status::Fail,
        eval: tagged_base,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-3",
            "Base images are pinned by digest",
            Level::Two,
            "A tag can be moved; only a digest names exactly the bytes that were reviewed and scanned.",
            "Pin with `FROM image:tag@sha256:<digest>` and let a bot (Renovate, Dependabot) update it.",
            &[CIS],
        ),
        hadolint: &[],
        finding: Status::Warn,
        eval: digest_pinned,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-4",
            "RUN does not use sudo",
            Level::One,
            "sudo in an image build means sudo is installed in the image, with its setuid binary and sudoers rules, and its TTY and signal behaviour is unpredictable.",
            "Run the step as root before the final `USER`, or use `gosu`/`su-exec` in an entrypoint that drops privileges.",
            &["https://github.com/hadolint/hadolint/wiki/DL3004"],
        ),
        hadolint: &["DL3004"],
        finding: Status::Fail,
        eval: sudo,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-5",
            "ADD does not fetch remote URLs without a checksum",
            Level::One,
            "ADD from a URL downloads whatever the server returns at build time; without `--checksum` nothing verifies it.",
            "Use `ADD --checksum=sha256:<digest> <url> <dest>`, or download with curl and verify with `sha256sum -c`.",
            &[
                CIS,
                "https://docs.docker.com/reference/dockerfile/#add---checksum",
            ],
        ),
        hadolint: &[],
        finding: Status::Fail,
        eval: add_url,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-6",
            "Downloaded scripts are not piped into a shell",
            Level::One,
            "`curl … | sh` runs whatever the server (or anyone in the path) sends, unverified, as the build user.",
            "Download to a file, verify its checksum or signature, then run it.",
            &[CIS],
        ),
        hadolint: &[],
        finding: Status::Fail,
        eval: curl_pipe_shell,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-7",
            "No world-writable permissions (chmod 777, o+w, --chmod=777)",
            Level::One,
            "World-writable files and directories let any process in the container, whatever its user, replace binaries or configuration.",
            "Grant the minimum: `chown app: /data && chmod 750 /data`; keep the sticky bit on shared directories (`1777`).",
            &[CIS],
        ),
        hadolint: &[],
        finding: Status::Fail,
        eval: world_writable,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-8",
            "The image does not expose SSH (port 22)",
            Level::One,
            "An SSH server in a container is a second way in, with its own keys and users, and bypasses the engine's exec audit trail.",
            "Remove sshd and `EXPOSE 22`; use `docker exec` or `kubectl exec` for debugging.",
            &[CIS, "CIS Docker Benchmark v1.6.0 5.7"],
        ),
        hadolint: &[],
        finding: Status::Fail,
        eval: expose_ssh,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-9",
            "apt-get install uses --no-install-recommends",
            Level::Two,
            "Recommended packages are installed by default: more code, more vulnerabilities, nothing the image asked for (CIS 4.3: no unnecessary packages).",
            "Add `--no-install-recommends` to every `apt-get install`.",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3015"],
        ),
        hadolint: &["DL3015"],
        finding: Status::Warn,
        eval: no_install_recommends,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-10",
            "apt lists are removed in the RUN that fetched them",
            Level::Two,
            "Package indexes left in /var/lib/apt/lists grow the image and go stale; later installs from them miss updates. Only stages that end up in the final image are checked.",
            "End the RUN with `&& rm -rf /var/lib/apt/lists/*`, or use a cache mount (`RUN --mount=type=cache,target=/var/lib/apt/lists …`).",
            &[CIS, "https://github.com/hadolint/hadolint/wiki/DL3009"],
        ),
        hadolint: &["DL3009"],
        finding: Status::Warn,
        eval: apt_lists,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-11",
            "apk add uses --no-cache",
            Level::Two,
            "Without `--no-cache`, apk keeps its index in /var/cache/apk, which grows the image and goes stale.",
            "Use `apk add --no-cache pkg` (it also makes `apk update` unnecessary).",
            &["https://github.com/hadolint/hadolint/wiki/DL3019"],
        ),
        hadolint: &["DL3019"],
        finding: Status::Warn,
        eval: apk_no_cache,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-12",
            "RUN with a pipe sets pipefail",
            Level::Two,
            "In `curl url | tar x` only the last command's status counts: a failed download builds a broken image without an error.",
            "Set `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` (or ash/zsh with `-o pipefail`) before RUN instructions that use pipes.",
            &["https://github.com/hadolint/hadolint/wiki/DL4006"],
        ),
        hadolint: &["DL4006"],
        finding: Status::Warn,
        eval: pipefail,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-13",
            "CMD and ENTRYPOINT use the exec (JSON) form",
            Level::Two,
            "In shell form the process runs under `/bin/sh -c`, which does not forward SIGTERM: the container is killed after the grace period instead of shutting down cleanly.",
            "Write `CMD [\"/app/server\", \"--port\", \"8080\"]`.",
            &["https://github.com/hadolint/hadolint/wiki/DL3025"],
        ),
        hadolint: &["DL3025"],
        finding: Status::Warn,
        eval: exec_form,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-14",
            "WORKDIR is absolute",
            Level::Two,
            "A relative WORKDIR depends on every earlier WORKDIR, including the base image's, so files land somewhere nobody reviewed.",
            "Use an absolute path: `WORKDIR /app`.",
            &["https://github.com/hadolint/hadolint/wiki/DL3000"],
        ),
        hadolint: &["DL3000"],
        finding: Status::Warn,
        eval: absolute_workdir,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-15",
            "EXPOSE names valid ports (0-65535)",
            Level::Two,
            "A port outside 0-65535 is a typo; the port the service really uses is then undocumented.",
            "Fix the port number.",
            &["https://github.com/hadolint/hadolint/wiki/DL3011"],
        ),
        hadolint: &["DL3011"],
        finding: Status::Warn,
        eval: port_range,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-16",
            "MAINTAINER is not used",
            Level::Two,
            "MAINTAINER is deprecated; the author belongs in a label that tools read.",
            "Replace it with `LABEL org.opencontainers.image.authors=\"…\"`.",
            &["https://github.com/hadolint/hadolint/wiki/DL4000"],
        ),
        hadolint: &["DL4000"],
        finding: Status::Warn,
        eval: maintainer,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-17",
            "wget runs quietly or with a compact progress bar",
            Level::Two,
            "wget's default progress output floods build logs and hides the lines that matter.",
            "Use `wget -q`, `-nv` or `--progress=dot:giga`.",
            &["https://github.com/hadolint/hadolint/wiki/DL3047"],
        ),
        hadolint: &["DL3047"],
        finding: Status::Warn,
        eval: wget_progress,
    },
    Rule {
        def: def(
            "PAL-DOCKERFILE-18",
            "Package installs pin versions (apt, apk, pip, npm)",
            Level::Two,
            "An unpinned `apt-get install curl`, `apk add curl`, `pip install requests` or `npm install lodash` installs whatever is newest when the image is built: two builds of one Dockerfile differ, a compromised or broken release lands unnoticed, and a scan of yesterday's image says nothing about today's.",
            "Pin each package: `apt-get install curl=7.88.1-10+deb12u5`, `apk add curl=8.5.0-r0`, `pip install requests==2.31.0` (or `-r requirements.txt` with pins), `npm install lodash@4.17.21` (or `npm ci` with a lockfile).",
            &[
                "https://github.com/hadolint/hadolint/wiki/DL3008",
                "https://github.com/hadolint/hadolint/wiki/DL3018",
                "https://github.com/hadolint/hadolint/wiki/DL3013",
                "https://github.com/hadolint/hadolint/wiki/DL3016",
            ],
        ),
        hadolint: &["DL3008", "DL3018", "DL3013", "DL3016"],
        finding: Status::Warn,
        eval: pinned_installs,
    },
];

const N_RULES: usize = RULES.len();

/// Every Dockerfile check, in report order.
pub const CHECKS: &[CheckDef] = &{
    let mut out = [RULES[0].def; N_RULES];
    let mut i = 0;
    while i < N_RULES {
        out[i] = RULES[i].def;
        i += 1;
    }
    out
};

/// The hadolint rules a check corresponds to (empty when hadolint has none).
#[must_use]
pub fn hadolint_rules(id: &str) -> &'static [&'static str] {
    RULES
        .iter()
        .find(|r| r.def.id == id)
        .map_or(&[], |r| r.hadolint)
}

/// The `# palisade ignore=ID[,ID…] REASON` comment directly above `ins` that names `rule`
/// (by its id or one of its hadolint codes, any case): its line and its reason (`None`: no
/// reason given, which is not honoured).
fn inline_ignore(ins: &Instruction, rule: &Rule) -> Option<(u32, Option<String>)> {
    ins.comments.iter().find_map(|(line, text)| {
        let rest = text.strip_prefix("palisade")?.trim_start();
        let rest = rest.strip_prefix("ignore=")?;
        let (ids, reason) = match rest.split_once(char::is_whitespace) {
            Some((ids, reason)) => (ids, reason.trim()),
            None => (rest, ""),
        };
        let named = ids.split(',').map(str::trim).any(|id| {
            id.eq_ignore_ascii_case(rule.def.id)
                || rule.hadolint.iter().any(|h| id.eq_ignore_ascii_case(h))
        });
        named.then(|| (*line, (!reason.is_empty()).then(|| reason.to_owned())))
    })
}

/// What a rule found.
enum Outcome {
    /// Nothing to check (e.g. no apt-get install for an apt rule).
    NotApplicable(String),
    /// Checked: findings (empty means pass) and what the pass is about.
    Checked {
        findings: Vec<Finding>,
        pass_line: Option<u32>,
        pass_detail: String,
    },
}

struct Finding {
    /// The instruction the finding is about.
    ins: usize,
    detail: String,
    /// Overrides the rule's status (e.g. a warning where the verdict is uncertain).
    status: Option<Status>,
}

fn found(ins: usize, detail: impl Into<String>) -> Finding {
    Finding {
        ins,
        detail: detail.into(),
        status: None,
    }
}

fn checked(findings: Vec<Finding>, pass_detail: impl Into<String>) -> Outcome {
    Outcome::Checked {
        findings,
        pass_line: None,
        pass_detail: pass_detail.into(),
    }
}

/// What rules look at.
pub(crate) struct Ctx<'a> {
    pub(crate) model: Model<'a>,
    options: &'a Options,
    /// Per instruction: the simple commands of a RUN (empty for other instructions).
    commands: Vec<Vec<Command>>,
    /// Stages in the final image: the final stage and the stages it is built on.
    final_chain: Vec<usize>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(model: Model<'a>, options: &'a Options) -> Ctx<'a> {
        let commands = model
            .df
            .instructions
            .iter()
            .map(|ins| {
                if ins.keyword == "RUN" {
                    run_commands(ins)
                } else {
                    Vec::new()
                }
            })
            .collect();
        let mut final_chain = Vec::new();
        let mut cur = model.stages.len().checked_sub(1);
        while let Some(c) = cur {
            if final_chain.contains(&c) {
                break;
            }
            final_chain.push(c);
            cur = model.stages.get(c).and_then(|s| s.parent);
        }
        Ctx {
            model,
            options,
            commands,
            final_chain,
        }
    }

    fn runs(&self) -> impl Iterator<Item = (usize, &Instruction, &[Command])> {
        self.model
            .df
            .instructions
            .iter()
            .enumerate()
            .filter(|(_, ins)| ins.keyword == "RUN")
            .map(|(i, ins)| (i, ins, self.commands[i].as_slice()))
    }

    fn of(&self, keyword: &'static str) -> impl Iterator<Item = (usize, &Instruction)> {
        self.model
            .df
            .instructions
            .iter()
            .enumerate()
            .filter(move |(_, ins)| ins.keyword == keyword)
    }

    fn in_final_image(&self, i: usize) -> bool {
        self.model
            .stage_of
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|s| self.final_chain.contains(&s))
    }
}

/// Runs the selected rules.
pub(crate) fn evaluate(
    ctx: &Ctx<'_>,
    path: &Path,
    select: &dyn Fn(&CheckDef) -> bool,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for rule in RULES {
        if !select(&rule.def) {
            continue;
        }
        match (rule.eval)(ctx) {
            Outcome::NotApplicable(why) => out.push(CheckResult::one(
                rule.def.id,
                Status::NotApplicable,
                Evidence::new(path.display().to_string(), why).at(path, None),
            )),
            Outcome::Checked {
                findings,
                pass_line,
                pass_detail,
            } => {
                if findings.is_empty() {
                    out.push(CheckResult::one(
                        rule.def.id,
                        Status::Pass,
                        Evidence::new(path.display().to_string(), pass_detail).at(path, pass_line),
                    ));
                }
                for f in findings {
                    let ins = ctx.model.ins(f.ins);
                    let (status, detail) = match inline_ignore(ins, rule) {
                        Some((line, Some(reason))) => (
                            Status::Info,
                            format!(
                                "waived by `# palisade ignore` at line {line}: {reason} (finding: {})",
                                f.detail
                            ),
                        ),
                        Some((line, None)) => (
                            f.status.unwrap_or(rule.finding),
                            format!(
                                "{} (the `# palisade ignore` at line {line} gives no reason, so it is not honoured: write `# palisade ignore={} REASON`)",
                                f.detail, rule.def.id
                            ),
                        ),
                        None => (f.status.unwrap_or(rule.finding), f.detail),
                    };
                    out.push(CheckResult::one(
                        rule.def.id,
                        status,
                        Evidence::new(subject(ctx, f.ins), detail).at(path, Some(ins.start_line)),
                    ));
                }
            }
        }
    }
    out
}

/// `USER root`, `RUN apt-get update && …` (cut to 80 characters).
/// ENV and ARG values that look secret are shown as `***`, so a report does not leak them.
fn subject(ctx: &Ctx<'_>, i: usize) -> String {
    let ins = ctx.model.ins(i);
    let flags: String = ins
        .flags
        .iter()
        .map(|f| match &f.value {
            Some(v) => format!(" --{}={v}", f.name),
            None => format!(" --{}", f.name),
        })
        .collect();
    let pairs = &ctx.model.pairs[i];
    let one_line = if matches!(ins.keyword.as_str(), "ENV" | "ARG") && !pairs.is_empty() {
        pairs
            .iter()
            .map(|(k, v)| match v {
                None => k.clone(),
                Some(v) if secret_name(k) || secret_value(&v.text).is_some() => format!("{k}=***"),
                Some(v) => format!("{k}={}", v.text),
            })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        ins.text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let mut s = format!("{}{flags} {one_line}", ins.keyword);
    if s.chars().count() > 80 {
        s = s.chars().take(77).collect::<String>() + "...";
    }
    s
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"];

/// The simple commands a RUN executes. Heredoc bodies count when they feed a shell
/// (`RUN <<EOF`, `RUN bash <<EOF`), not when they are data (`RUN cat <<EOF >/etc/x`).
fn run_commands(ins: &Instruction) -> Vec<Command> {
    match &ins.args {
        Args::Exec(v) => {
            let is_shell = v
                .first()
                .is_some_and(|p| SHELLS.contains(&p.rsplit('/').next().unwrap_or(p)));
            if is_shell && let Some(pos) = v.iter().position(|a| a == "-c") {
                return v
                    .get(pos + 1)
                    .map(|s| shell::commands(s))
                    .unwrap_or_default();
            }
            vec![Command {
                words: v.clone(),
                piped: false,
            }]
        }
        Args::Shell(s) => {
            let mut cmds = shell::commands(s);
            if ins.heredocs.is_empty() {
                return cmds;
            }
            let feeds_shell = cmds.iter().all(|c| {
                let words: Vec<&String> = c.words.iter().filter(|w| !w.contains("<<")).collect();
                words
                    .first()
                    .is_none_or(|w| SHELLS.contains(&w.rsplit('/').next().unwrap_or(w)))
            });
            for c in &mut cmds {
                c.words.retain(|w| !w.starts_with("<<"));
            }
            cmds.retain(|c| !c.words.is_empty());
            if feeds_shell {
                for h in &ins.heredocs {
                    cmds.extend(shell::commands(&h.body));
                }
            }
            cmds
        }
    }
}

/// The first non-option argument (`install` in `apt-get -y install x`); options listed in
/// `with_value` take the next word.
fn subcommand<'a>(args: &'a [String], with_value: &[&str]) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if with_value.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

const APT_VALUE_OPTS: &[&str] = &[
    "-o",
    "-c",
    "-t",
    "--option",
    "--config-file",
    "--target-release",
];

fn apt_get(cmd: &Command) -> Option<(&str, &[String])> {
    let (prog, args) = cmd.program();
    if prog != "apt-get" {
        return None;
    }
    Some((subcommand(args, APT_VALUE_OPTS)?, args))
}

fn has_mount_target(ins: &Instruction, prefix: &str) -> bool {
    ins.flags.iter().any(|f| {
        f.name == "mount"
            && f.value.as_deref().is_some_and(|v| {
                v.split(',').any(|kv| {
                    kv.split_once('=').is_some_and(|(k, val)| {
                        matches!(k, "target" | "dst" | "destination")
                            && val.trim_end_matches('/').starts_with(prefix)
                    })
                })
            })
    })
}

// ---------------------------------------------------------------- CIS 4.1

fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user);
    name == "root" || name == "0"
}

fn user_non_root(ctx: &Ctx<'_>) -> Outcome {
    let Some(fin) = ctx.model.final_stage() else {
        return Outcome::NotApplicable("no FROM instruction".into());
    };
    match ctx
        .model
        .last_in_chain(fin.index, &|ins| ins.keyword == "USER")
    {
        Some(i) => {
            let word = ctx.model.words[i].first().cloned().unwrap_or_default();
            let findings = if !word.unresolved.is_empty() {
                vec![Finding {
                    ins: i,
                    detail: format!(
                        "the final USER {:?} uses {} without a value; cannot tell whether it is root",
                        ctx.model.ins(i).text,
                        word.unresolved.join(", ")
                    ),
                    status: Some(Status::Warn),
                }]
            } else if is_root(&word.text) {
                vec![found(
                    i,
                    format!("the final stage runs as {:?}, which is root", word.text),
                )]
            } else {
                Vec::new()
            };
            Outcome::Checked {
                findings,
                pass_line: Some(ctx.model.ins(i).start_line),
                pass_detail: format!("the final stage runs as {:?}", word.text),
            }
        }
        None => {
            let scratch = fin.base.text.eq_ignore_ascii_case("scratch");
            Outcome::Checked {
                findings: vec![Finding {
                    ins: fin.from,
                    detail: if scratch {
                        "no USER in the final stage: a scratch image runs as uid 0".into()
                    } else {
                        format!(
                            "no USER in the final stage: runs as the user of {} (root unless that image sets one)",
                            fin.base.text
                        )
                    },
                    status: Some(if scratch { Status::Fail } else { Status::Warn }),
                }],
                pass_line: None,
                pass_detail: String::new(),
            }
        }
    }
}

// ---------------------------------------------------------------- CIS 4.6

fn healthcheck(ctx: &Ctx<'_>) -> Outcome {
    let Some(fin) = ctx.model.final_stage() else {
        return Outcome::NotApplicable("no FROM instruction".into());
    };
    match ctx
        .model
        .last_in_chain(fin.index, &|ins| ins.keyword == "HEALTHCHECK")
    {
        Some(i) if ctx.model.ins(i).text.trim().eq_ignore_ascii_case("NONE") => Outcome::Checked {
            findings: vec![found(
                i,
                "the final stage disables the health check (HEALTHCHECK NONE)",
            )],
            pass_line: None,
            pass_detail: String::new(),
        },
        Some(i) => Outcome::Checked {
            findings: Vec::new(),
            pass_line: Some(ctx.model.ins(i).start_line),
            pass_detail: "the final stage has a HEALTHCHECK".into(),
        },
        None => Outcome::Checked {
            findings: vec![found(fin.from, "no HEALTHCHECK in the final stage")],
            pass_line: None,
            pass_detail: String::new(),
        },
    }
}

// ---------------------------------------------------------------- CIS 4.7

fn is_update(cmd: &Command) -> bool {
    let (prog, args) = cmd.program();
    let sub = subcommand(args, APT_VALUE_OPTS);
    match prog {
        "apt-get" | "apt" | "apk" => sub == Some("update"),
        "yum" | "dnf" | "microdnf" => sub == Some("makecache"),
        "zypper" => matches!(sub, Some("refresh" | "ref")),
        _ => false,
    }
}

fn is_install(cmd: &Command) -> bool {
    let (prog, args) = cmd.program();
    let sub = subcommand(args, APT_VALUE_OPTS);
    match prog {
        "apt-get" | "apt" => matches!(
            sub,
            Some("install" | "upgrade" | "dist-upgrade" | "full-upgrade" | "build-dep")
        ),
        "apk" => matches!(sub, Some("add" | "upgrade")),
        "yum" | "dnf" | "microdnf" => {
            matches!(
                sub,
                Some("install" | "update" | "upgrade" | "groupinstall" | "reinstall")
            )
        }
        "zypper" => matches!(
            sub,
            Some("install" | "in" | "update" | "up" | "dist-upgrade" | "dup")
        ),
        _ => false,
    }
}

fn update_alone(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, _, cmds) in ctx.runs() {
        if let Some(u) = cmds.iter().position(is_update) {
            seen = true;
            if !cmds[u..].iter().any(is_install) {
                findings.push(found(
                    i,
                    format!(
                        "`{}` refreshes package indexes without installing anything in the same RUN",
                        cmds[u].words.join(" ")
                    ),
                ));
            }
        }
    }
    if !seen {
        return Outcome::NotApplicable("no RUN refreshes package indexes".into());
    }
    checked(
        findings,
        "every index refresh is followed by an install in the same RUN",
    )
}

// ---------------------------------------------------------------- CIS 4.9 and PAL-5

fn is_url(src: &str) -> bool {
    let s = src.to_ascii_lowercase();
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

fn is_archive(src: &str) -> bool {
    let s = src.to_ascii_lowercase();
    [
        ".tar",
        ".tar.gz",
        ".tgz",
        ".tar.bz2",
        ".tbz2",
        ".tbz",
        ".tar.xz",
        ".txz",
        ".tar.zst",
        ".tar.lz",
        ".tar.lzma",
        ".tlz",
        ".tar.z",
        ".gz",
        ".bz2",
        ".xz",
        ".zst",
        ".lz",
        ".lzma",
    ]
    .iter()
    .any(|e| s.ends_with(e))
}

/// The source words of ADD/COPY (all but the destination; heredoc markers excluded).
fn sources(ctx: &Ctx<'_>, i: usize) -> Vec<String> {
    let words = &ctx.model.words[i];
    let n = words.len().saturating_sub(1);
    words[..n]
        .iter()
        .map(|w| w.text.clone())
        .filter(|w| !w.starts_with("<<"))
        .collect()
}

fn add_instead_of_copy(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    for (i, _) in ctx.of("ADD") {
        let local: Vec<String> = sources(ctx, i)
            .into_iter()
            .filter(|s| !is_url(s) && !is_archive(s))
            .collect();
        if !local.is_empty() {
            findings.push(found(
                i,
                format!(
                    "ADD of local files or folders ({}): use COPY",
                    local.join(", ")
                ),
            ));
        }
    }
    checked(findings, "ADD is used only for URLs or local archives")
}

fn add_url(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    let mut seen = false;
    for (i, ins) in ctx.of("ADD") {
        let urls: Vec<String> = sources(ctx, i).into_iter().filter(|s| is_url(s)).collect();
        if urls.is_empty() {
            continue;
        }
        seen = true;
        if ins.flag("checksum").is_none() {
            findings.push(found(
                i,
                format!("ADD downloads {} without --checksum", urls.join(", ")),
            ));
        }
    }
    if !seen {
        return Outcome::NotApplicable("no ADD of a URL".into());
    }
    checked(findings, "every ADD of a URL has --checksum")
}

// ---------------------------------------------------------------- CIS 4.10

/// Names that suggest a secret, matched against the lower-cased name.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "private_key",
    "privatekey",
    "credential",
];

/// Suffixes that name where a secret is, not the secret (`DB_PASSWORD_FILE`, `TOKEN_URL`).
const REFERENCE_SUFFIXES: &[&str] = &[
    "_file",
    "_path",
    "_dir",
    "_url",
    "_uri",
    "_endpoint",
    "_name",
    "_length",
    "_ttl",
    "_header",
];

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n == "gpg_key" || n == "gpg_keys" || REFERENCE_SUFFIXES.iter().any(|s| n.ends_with(s)) {
        return false;
    }
    SECRET_WORDS.iter().any(|w| n.contains(w))
        || n == "pass"
        || n.ends_with("_pass")
        || n.ends_with("_pwd")
}

/// Values that look like a credential whatever the name.
fn secret_value(v: &str) -> Option<&'static str> {
    let t = v.trim();
    let alnum_after = |prefix: &str, min: usize| {
        t.strip_prefix(prefix).is_some_and(|r| {
            r.len() >= min
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    };
    if t.len() == 20
        && (t.starts_with("AKIA") || t.starts_with("ASIA"))
        && t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Some("an AWS access key ID");
    }
    if t.contains("-----BEGIN") && t.contains("PRIVATE KEY") {
        return Some("a PEM private key");
    }
    for (prefix, what) in [
        ("ghp_", "a GitHub token"),
        ("gho_", "a GitHub token"),
        ("ghs_", "a GitHub token"),
        ("github_pat_", "a GitHub token"),
        ("glpat-", "a GitLab token"),
        ("xoxb-", "a Slack token"),
        ("xoxp-", "a Slack token"),
        ("sk_live_", "a Stripe key"),
        ("npm_", "an npm token"),
        ("AIza", "a Google API key"),
    ] {
        if alnum_after(prefix, 20) {
            return Some(what);
        }
    }
    None
}

/// File names that hold credentials.
fn secret_file(src: &str) -> bool {
    let s = src.trim_end_matches('/').to_ascii_lowercase();
    let base = s.rsplit('/').next().unwrap_or(&s);
    matches!(
        base,
        "id_rsa"
            | "id_dsa"
            | "id_ecdsa"
            | "id_ed25519"
            | ".env"
            | ".npmrc"
            | ".pypirc"
            | ".netrc"
            | ".pgpass"
            | ".git-credentials"
            | ".dockercfg"
            | "credentials"
            | "credentials.json"
            | ".htpasswd"
    ) || s.ends_with(".aws/credentials")
        || s.ends_with(".docker/config.json")
        || [".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ovpn"]
            .iter()
            .any(|e| base.ends_with(e))
}

fn secrets(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    for (i, ins) in ctx.model.df.instructions.iter().enumerate() {
        match ins.keyword.as_str() {
            "ENV" | "ARG" => {
                let mut names = Vec::new();
                let mut values = Vec::new();
                for (k, v) in &ctx.model.pairs[i] {
                    if secret_name(k) {
                        names.push(k.clone());
                    } else if let Some(what) = v.as_ref().and_then(|v| secret_value(&v.text)) {
                        values.push(format!("{k} holds what looks like {what}"));
                    }
                }
                if !names.is_empty() {
                    findings.push(found(
                        i,
                        format!(
                            "{} {} {} a secret: {} values are stored in the image{}",
                            ins.keyword,
                            names.join(", "),
                            if names.len() == 1 { "names" } else { "name" },
                            ins.keyword,
                            if ins.keyword == "ARG" {
                                " history"
                            } else {
                                " configuration"
                            }
                        ),
                    ));
                }
                if !values.is_empty() {
                    findings.push(found(i, values.join("; ")));
                }
            }
            "COPY" | "ADD" => {
                let files: Vec<String> = sources(ctx, i)
                    .into_iter()
                    .filter(|s| secret_file(s))
                    .collect();
                if !files.is_empty() && ins.flag("from").is_none() {
                    findings.push(found(
                        i,
                        format!(
                            "copies credential files into the image: {}",
                            files.join(", ")
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    checked(
        findings,
        "no ENV or ARG names or holds a secret, and no credential file is copied",
    )
}

// ---------------------------------------------------------------- CIS 4.11

fn unverified_packages(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    for (i, _, cmds) in ctx.runs() {
        let mut bad = Vec::new();
        for c in cmds {
            let (prog, args) = c.program();
            let has = |f: &str| args.iter().any(|a| a == f);
            let opt_true = |key: &str| {
                args.iter().any(|a| {
                    a.split_once('=').is_some_and(|(k, v)| {
                        k.eq_ignore_ascii_case(key) && matches!(v, "true" | "1" | "yes")
                    })
                })
            };
            let hit = match prog {
                "apt-get" | "apt" => {
                    has("--allow-unauthenticated")
                        || has("--allow-insecure-repositories")
                        || has("--force-yes")
                        || opt_true("APT::Get::AllowUnauthenticated")
                        || opt_true("Acquire::AllowInsecureRepositories")
                }
                "yum" | "dnf" | "microdnf" | "tdnf" => has("--nogpgcheck"),
                "zypper" => has("--no-gpg-checks"),
                "rpm" => has("--nosignature") || has("--nodigest"),
                "apk" => has("--allow-untrusted"),
                "pip" | "pip3" => has("--trusted-host"),
                "curl" => has("-k") || has("--insecure"),
                "wget" => has("--no-check-certificate"),
                "npm" | "yarn" => {
                    args.windows(2)
                        .any(|w| w[0] == "strict-ssl" && w[1] == "false")
                        || has("--strict-ssl=false")
                }
                "git" => {
                    args.iter()
                        .any(|a| a.eq_ignore_ascii_case("http.sslVerify=false"))
                        || args
                            .windows(2)
                            .any(|w| w[0].eq_ignore_ascii_case("http.sslVerify") && w[1] == "false")
                }
                _ => false,
            };
            if hit {
                bad.push(c.words.join(" "));
            }
        }
        if !bad.is_empty() {
            findings.push(found(
                i,
                format!("verification disabled: {}", bad.join("; ")),
            ));
        }
    }
    checked(
        findings,
        "no RUN disables package signature or TLS verification",
    )
}

// ---------------------------------------------------------------- base images

/// The base images to look at: resolved, not `scratch`, not an earlier stage.
fn external_bases<'c>(ctx: &'c Ctx<'_>) -> Vec<(usize, &'c str)> {
    ctx.model
        .stages
        .iter()
        .filter(|s| {
            s.parent.is_none()
                && s.base.unresolved.is_empty()
                && !s.base.text.is_empty()
                && !s.base.text.eq_ignore_ascii_case("scratch")
        })
        .map(|s| (s.from, s.base.text.as_str()))
        .collect()
}

/// Splits a reference into (registry, repository, tag, digest).
fn split_ref(r: &str) -> (&str, &str, Option<&str>, Option<&str>) {
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("docker.io", name),
    };
    let last_slash = rest.rfind('/').map_or(0, |p| p + 1);
    match rest[last_slash..].find(':') {
        Some(p) => (
            registry,
            &rest[..last_slash + p],
            Some(&rest[last_slash + p + 1..]),
            digest,
        ),
        None => (registry, rest, None, digest),
    }
}

fn trusted_registry(ctx: &Ctx<'_>) -> Outcome {
    let Some(trusted) = &ctx.options.trusted_registries else {
        return Outcome::NotApplicable(
            "no trusted registry list configured (profile `trusted_registries`)".into(),
        );
    };
    let bases = external_bases(ctx);
    if bases.is_empty() {
        return Outcome::NotApplicable("no external base image".into());
    }
    let mut findings = Vec::new();
    for (i, base) in bases {
        let (registry, ..) = split_ref(base);
        let ok = trusted.iter().any(|t| {
            let t = t.trim().to_ascii_lowercase();
            let r = registry.to_ascii_lowercase();
            match t.strip_prefix("*.") {
                Some(suffix) => r.ends_with(&format!(".{suffix}")),
                None => t == r || (t == "hub.docker.com" && r == "docker.io"),
            }
        });
        if !ok {
            findings.push(found(
                i,
                format!(
                    "{base} comes from {registry}, which is not in the trusted list ({})",
                    trusted.join(", ")
                ),
            ));
        }
    }
    checked(findings, "every base image comes from a trusted registry")
}

fn tagged_base(ctx: &Ctx<'_>) -> Outcome {
    let bases = external_bases(ctx);
    if bases.is_empty() {
        return Outcome::NotApplicable("no external base image".into());
    }
    let mut findings = Vec::new();
    for (i, base) in bases {
        match split_ref(base) {
            (_, _, _, Some(_)) => {}
            (_, _, None, None) => {
                findings.push(found(i, format!("{base} has no tag: it means latest")));
            }
            (_, _, Some("latest"), None) => {
                findings.push(found(i, format!("{base} uses the latest tag")));
            }
            _ => {}
        }
    }
    checked(findings, "every base image names a version")
}

fn digest_pinned(ctx: &Ctx<'_>) -> Outcome {
    let bases = external_bases(ctx);
    if bases.is_empty() {
        return Outcome::NotApplicable("no external base image".into());
    }
    let findings = bases
        .into_iter()
        .filter(|(_, b)| split_ref(b).3.is_none())
        .map(|(i, b)| found(i, format!("{b} is not pinned by digest")))
        .collect();
    checked(findings, "every base image is pinned by digest")
}

// ---------------------------------------------------------------- RUN rules

fn sudo(ctx: &Ctx<'_>) -> Outcome {
    let findings = ctx
        .runs()
        .filter(|(_, _, cmds)| cmds.iter().any(|c| c.chain().contains(&"sudo")))
        .map(|(i, _, _)| found(i, "RUN uses sudo"))
        .collect();
    checked(findings, "no RUN uses sudo")
}

const DOWNLOADERS: &[&str] = &["curl", "wget", "fetch"];
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "ash", "dash", "zsh", "ksh", "python", "python3", "perl", "ruby", "node",
];

fn curl_pipe_shell(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    for (i, _, cmds) in ctx.runs() {
        let piped = cmds.windows(2).any(|w| {
            w[0].piped
                && DOWNLOADERS.contains(&w[0].program().0)
                && INTERPRETERS.contains(&w[1].program().0)
        });
        let substituted = cmds.iter().any(|c| {
            INTERPRETERS.contains(&c.program().0)
                && c.program().1.iter().any(|a| {
                    (a.contains("$(") || a.contains("<(") || a.contains('`'))
                        && DOWNLOADERS.iter().any(|d| a.contains(d))
                })
        });
        if piped || substituted {
            findings.push(found(
                i,
                "a downloaded script is run by a shell without verification",
            ));
        }
    }
    checked(findings, "no RUN pipes a download into a shell")
}

/// A numeric mode that lets others write, without the sticky bit.
fn world_writable_mode(m: &str) -> bool {
    if !m.is_empty() && m.len() <= 4 && m.chars().all(|c| c.is_digit(8)) {
        let Ok(v) = u32::from_str_radix(m, 8) else {
            return false;
        };
        return v & 0o002 != 0 && v & 0o1000 == 0;
    }
    // Symbolic: o+w, a+w, ugo=rwx…
    m.split(',').any(|clause| {
        let (who, perm) = match clause.find(['+', '=']) {
            Some(p) => (&clause[..p], &clause[p + 1..]),
            None => return false,
        };
        (who.contains('o') || who.contains('a')) && perm.contains('w') && !perm.contains('t')
    })
}

fn world_writable(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    for (i, ins) in ctx.model.df.instructions.iter().enumerate() {
        match ins.keyword.as_str() {
            "RUN" => {
                let bad: Vec<String> = ctx.commands[i]
                    .iter()
                    .filter(|c| {
                        let (prog, args) = c.program();
                        prog == "chmod"
                            && args
                                .iter()
                                .find(|a| !a.starts_with('-'))
                                .is_some_and(|m| world_writable_mode(m))
                    })
                    .map(|c| c.words.join(" "))
                    .collect();
                if !bad.is_empty() {
                    findings.push(found(i, format!("world-writable: {}", bad.join("; "))));
                }
            }
            "COPY" | "ADD" => {
                if let Some(m) = ins.flag("chmod").and_then(|f| f.value.as_deref())
                    && world_writable_mode(m)
                {
                    findings.push(found(
                        i,
                        format!("--chmod={m} makes the files world-writable"),
                    ));
                }
            }
            _ => {}
        }
    }
    checked(findings, "no instruction makes files world-writable")
}

/// The ports of an EXPOSE word: `80`, `80/tcp`, `8000-8010/udp`.
fn ports(word: &str) -> Option<(u64, u64)> {
    let p = word.split('/').next().unwrap_or(word);
    let (lo, hi) = p.split_once('-').unwrap_or((p, p));
    Some((lo.parse().ok()?, hi.parse().ok()?))
}

fn expose_ssh(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    let mut seen = false;
    for (i, _) in ctx.of("EXPOSE") {
        seen = true;
        if ctx.model.words[i]
            .iter()
            .filter_map(|w| ports(&w.text))
            .any(|(lo, hi)| lo <= 22 && 22 <= hi)
        {
            findings.push(found(i, "port 22 (SSH) is exposed"));
        }
    }
    if !seen {
        return Outcome::NotApplicable("no EXPOSE".into());
    }
    checked(findings, "port 22 is not exposed")
}

fn port_range(ctx: &Ctx<'_>) -> Outcome {
    let mut findings = Vec::new();
    let mut seen = false;
    for (i, _) in ctx.of("EXPOSE") {
        seen = true;
        let bad: Vec<String> = ctx.model.words[i]
            .iter()
            .filter(|w| w.unresolved.is_empty())
            .filter(|w| ports(&w.text).is_some_and(|(lo, hi)| lo > 65535 || hi > 65535))
            .map(|w| w.text.clone())
            .collect();
        if !bad.is_empty() {
            findings.push(found(i, format!("ports out of range: {}", bad.join(", "))));
        }
    }
    if !seen {
        return Outcome::NotApplicable("no EXPOSE".into());
    }
    checked(findings, "every exposed port is in 0-65535")
}

/// The package arguments of an install command: the words after the subcommand that are
/// not options (`with_value` options take the next word, `--opt=value` carries its own).
fn install_args<'a>(args: &'a [String], sub: &str, with_value: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut it = args.iter();
    // Up to the subcommand.
    for a in it.by_ref() {
        if a == sub {
            break;
        }
    }
    while let Some(a) = it.next() {
        if with_value.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') && !a.is_empty() {
            out.push(a.as_str());
        }
    }
    out
}

/// A path to a file or directory (`./x`, `/x`, `~/x`, `$DIR/x`): what it installs is fixed
/// by that file, not by a registry. A bare `$PKGS` is not a path: its value is unknown.
fn is_path(p: &str) -> bool {
    p.starts_with(['.', '/'])
        || p.starts_with("~/")
        || p.starts_with("file:")
        || (p.starts_with('$') && p.contains('/'))
}

/// apt-get: `pkg=version` (or `pkg=1.2*`), or a `.deb` file. `pkg/bookworm-backports` picks
/// a suite, not a version.
fn apt_pinned(p: &str) -> bool {
    p.contains('=') || is_path(p) || p.ends_with(".deb")
}

/// apk: `pkg=version`, `pkg~version` (`~=`), or an upper bound (`<`, `<=`); a lower bound
/// alone (`>`, `>=`) still takes the newest release. `pkg@edge` names a repository.
fn apk_pinned(p: &str) -> bool {
    if is_path(p) || p.ends_with(".apk") {
        return true;
    }
    p.find(['=', '<', '>', '~'])
        .is_some_and(|i| !p[i..].starts_with('>'))
}

/// A pip VCS URL (`git+https://…`, `hg+ssh://…`) pins only with a commit or tag after the
/// path (`…/repo@v1.2`); otherwise it follows the default branch.
fn vcs_url_has_ref(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    // Skip the authority (`git@github.com`), whose `@` is a user name.
    rest.split_once('/')
        .is_some_and(|(_, path)| path.contains('@'))
}

fn is_vcs_scheme(url: &str) -> bool {
    ["git+", "git://", "hg+", "svn+", "svn://", "bzr+"]
        .iter()
        .any(|s| url.starts_with(s))
}

/// pip: `==`, `===`, `~=` or an upper bound (`<`, `<=`, as in `>=2,<3`); a lower bound or
/// `!=` alone does not. A direct reference (`name @ URL`) or URL is pinned when it names a
/// file, or a VCS commit or tag (`git+https://…/repo@v1.2`); files and directories are.
fn pip_pinned(req: &str) -> bool {
    // Environment markers (`; python_version < "3.9"`) say when, not which version.
    let req = req.split(';').next().unwrap_or(req).trim();
    if req.contains("://") || is_vcs_scheme(req) {
        let url = match req.split_once('@') {
            Some((name, url)) if !name.contains("://") && !is_vcs_scheme(name) => url.trim(),
            _ => req,
        };
        return if is_vcs_scheme(url) {
            vcs_url_has_ref(url)
        } else {
            true
        };
    }
    if is_path(req)
        || [".whl", ".tar.gz", ".tar.bz2", ".zip"]
            .iter()
            .any(|e| req.ends_with(e))
    {
        return true;
    }
    req.contains("==") || req.contains("~=") || req.contains('<')
}

/// npm: `name@version`, or a range with an upper end (`@^4.17.0`, `@~1.2`, `@4`); a
/// dist-tag (`@latest`, `@next`), `@*` or a lower bound alone moves. Git URLs and GitHub
/// shorthands (`user/repo`) pin with `#commit` or `#semver:…`; tarballs and folders are fixed.
fn npm_pinned(p: &str) -> bool {
    if is_path(p) || [".tgz", ".tar.gz", ".tar"].iter().any(|e| p.ends_with(e)) {
        return true;
    }
    if let Some(real) = p.split_once("@npm:").map(|(_, r)| r) {
        return npm_pinned(real);
    }
    // `@scope/name@spec`: the name starts after the scope.
    let (scoped, rest) = match p.strip_prefix('@').and_then(|r| r.split_once('/')) {
        Some((_, name)) => (true, name),
        None => (false, p),
    };
    if p.contains("://")
        || (!scoped && rest.contains('/'))
        || ["github:", "gitlab:", "bitbucket:", "gist:"]
            .iter()
            .any(|s| p.starts_with(s))
    {
        // A URL other than a tarball, or a hosted-git shorthand.
        return p.contains('#');
    }
    rest.split_once('@').is_some_and(|(_, spec)| {
        spec.contains(|c: char| c.is_ascii_digit())
            && (!spec.starts_with('>') || spec.contains('<'))
    })
}

/// `pip`, `pip3`, `pip3.12`; `python`, `python3`, `python3.12`.
fn versioned(prog: &str, base: &str) -> bool {
    prog.strip_prefix(base)
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

const APK_VALUE_OPTS: &[&str] = &[
    "-X",
    "--repository",
    "-t",
    "--virtual",
    "-p",
    "--root",
    "--arch",
    "--cache-dir",
    "--keys-dir",
    "--repositories-file",
    "--cache-max-age",
    "--timeout",
];

const PIP_VALUE_OPTS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--trusted-host",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--progress-bar",
    "--cache-dir",
    "--no-binary",
    "--only-binary",
    "--upgrade-strategy",
    "--root-user-action",
    "--proxy",
    "--python",
    "--retries",
    "--timeout",
    "--exists-action",
    "--cert",
    "--client-cert",
    "--log",
    "--report",
    "-C",
    "--config-settings",
    "--global-option",
];

const NPM_VALUE_OPTS: &[&str] = &[
    "--prefix",
    "-C",
    "--registry",
    "--loglevel",
    "--cache",
    "--userconfig",
    "-w",
    "--workspace",
    "--tag",
    "--omit",
    "--include",
    "--install-strategy",
];

/// The unpinned packages of one command, with the manager's name.
fn unpinned(cmd: &Command) -> Option<(&'static str, Vec<String>)> {
    let (prog, args) = cmd.program();
    let list = |manager: &'static str, pkgs: Vec<&str>, pinned: &dyn Fn(&str) -> bool| {
        let bad: Vec<String> = pkgs
            .into_iter()
            .filter(|p| !pinned(p))
            .map(str::to_owned)
            .collect();
        Some((manager, bad))
    };
    match prog {
        "apt-get" | "apt" if subcommand(args, APT_VALUE_OPTS) == Some("install") => list(
            "apt-get install",
            install_args(args, "install", APT_VALUE_OPTS),
            &apt_pinned,
        ),
        "apk" if subcommand(args, APK_VALUE_OPTS) == Some("add") => list(
            "apk add",
            install_args(args, "add", APK_VALUE_OPTS),
            &apk_pinned,
        ),
        _ if versioned(prog, "pip") || versioned(prog, "python") => {
            let args: &[String] = if prog.starts_with("python") {
                // `python3 -m pip …`, after interpreter options such as `-I`.
                let m = args.iter().position(|a| !a.starts_with('-') || a == "-m")?;
                match &args[m..] {
                    [m, pip, rest @ ..] if m == "-m" && versioned(pip, "pip") => rest,
                    _ => return None,
                }
            } else {
                args
            };
            if subcommand(args, PIP_VALUE_OPTS) != Some("install") {
                return None;
            }
            // A constraints file pins whatever it lists, like a requirements file.
            if args
                .iter()
                .any(|a| a == "-c" || a == "--constraint" || a.starts_with("--constraint="))
            {
                return Some(("pip install", Vec::new()));
            }
            // `-e URL` is a package too: an editable VCS checkout follows its branch.
            let mut pkgs = install_args(args, "install", PIP_VALUE_OPTS);
            pkgs.extend(args.iter().filter_map(|a| a.strip_prefix("--editable=")));
            list("pip install", pkgs, &pip_pinned)
        }
        "npm" => {
            let sub = subcommand(args, NPM_VALUE_OPTS)?;
            if !matches!(
                sub,
                "install" | "i" | "add" | "in" | "ins" | "inst" | "insta" | "instal"
            ) {
                return None;
            }
            list(
                "npm install",
                install_args(args, sub, NPM_VALUE_OPTS),
                &npm_pinned,
            )
        }
        _ => None,
    }
}

fn pinned_installs(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, _, cmds) in ctx.runs() {
        for c in cmds {
            let Some((manager, bad)) = unpinned(c) else {
                continue;
            };
            seen = true;
            if !bad.is_empty() {
                let shown: Vec<&str> = bad.iter().take(5).map(String::as_str).collect();
                let more = if bad.len() > 5 {
                    format!(" and {} more", bad.len() - 5)
                } else {
                    String::new()
                };
                findings.push(found(
                    i,
                    format!("{manager} of unpinned packages: {}{more}", shown.join(", ")),
                ));
                break;
            }
        }
    }
    if !seen {
        return Outcome::NotApplicable("no apt-get, apk, pip or npm install".into());
    }
    checked(findings, "every package install pins its versions")
}

fn no_install_recommends(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, _, cmds) in ctx.runs() {
        for c in cmds {
            let Some(("install", args)) = apt_get(c) else {
                continue;
            };
            seen = true;
            let ok = args.iter().any(|a| a == "--no-install-recommends")
                || args.iter().any(|a| {
                    a.split_once('=').is_some_and(|(k, v)| {
                        k.eq_ignore_ascii_case("APT::Install-Recommends")
                            && matches!(v, "false" | "0")
                    })
                });
            if !ok {
                findings.push(found(i, "apt-get install without --no-install-recommends"));
                break;
            }
        }
    }
    if !seen {
        return Outcome::NotApplicable("no apt-get install".into());
    }
    checked(
        findings,
        "every apt-get install has --no-install-recommends",
    )
}

fn apt_lists(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, ins, cmds) in ctx.runs() {
        if !ctx.in_final_image(i) {
            continue;
        }
        let fetches = cmds
            .iter()
            .any(|c| matches!(apt_get(c), Some(("update", _))));
        if !fetches {
            continue;
        }
        seen = true;
        let removed = cmds.iter().any(|c| {
            let (prog, args) = c.program();
            prog == "rm" && args.iter().any(|a| a.starts_with("/var/lib/apt/lists"))
        });
        if !removed && !has_mount_target(ins, "/var/lib/apt") {
            findings.push(found(
                i,
                "apt-get update fetches package lists but the RUN does not remove /var/lib/apt/lists",
            ));
        }
    }
    if !seen {
        return Outcome::NotApplicable("no apt-get update in a stage of the final image".into());
    }
    checked(
        findings,
        "every RUN with apt-get removes /var/lib/apt/lists",
    )
}

fn apk_no_cache(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, ins, cmds) in ctx.runs() {
        for c in cmds {
            let (prog, args) = c.program();
            if prog != "apk"
                || subcommand(args, &["-X", "--repository", "-p", "--root"]) != Some("add")
            {
                continue;
            }
            seen = true;
            if !args.iter().any(|a| a == "--no-cache") && !has_mount_target(ins, "/var/cache/apk") {
                findings.push(found(i, "apk add without --no-cache"));
                break;
            }
        }
    }
    if !seen {
        return Outcome::NotApplicable("no apk add".into());
    }
    checked(findings, "every apk add has --no-cache")
}

/// Whether a SHELL exec array sets pipefail (`-o pipefail`, `-euo pipefail`).
fn sets_pipefail(shell: &[String]) -> bool {
    shell
        .windows(2)
        .any(|w| w[0].starts_with('-') && w[0].contains('o') && w[1] == "pipefail")
}

fn pipefail(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    // The SHELL in effect per stage (inherited from the stage it is built on).
    let mut shell_of: Vec<Option<Vec<String>>> = Vec::new();
    for stage in &ctx.model.stages {
        let mut shell = stage
            .parent
            .and_then(|p| shell_of.get(p).cloned())
            .flatten();
        for &i in &stage.body {
            let ins = ctx.model.ins(i);
            if ins.keyword == "SHELL" {
                if let Args::Exec(v) = &ins.args {
                    shell = Some(v.clone());
                }
                continue;
            }
            if ins.keyword != "RUN" || !matches!(ins.args, Args::Shell(_)) {
                continue;
            }
            let program = shell.as_ref().and_then(|s| s.first()).map(|p| {
                p.rsplit(['/', '\\'])
                    .next()
                    .unwrap_or(p)
                    .to_ascii_lowercase()
            });
            if program.as_deref().is_some_and(|p| {
                p.starts_with("pwsh") || p.starts_with("powershell") || p.starts_with("cmd")
            }) {
                continue;
            }
            if !ctx.commands[i].iter().any(|c| c.piped) {
                continue;
            }
            seen = true;
            if !shell.as_deref().is_some_and(sets_pipefail) {
                findings.push(found(
                    i,
                    "RUN uses a pipe but the shell does not set pipefail",
                ));
            }
        }
        shell_of.push(shell);
    }
    if !seen {
        return Outcome::NotApplicable("no RUN uses a pipe".into());
    }
    checked(
        findings,
        "every RUN with a pipe runs under a shell with pipefail",
    )
}

fn exec_form(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, ins) in ctx.model.df.instructions.iter().enumerate() {
        if ins.keyword != "CMD" && ins.keyword != "ENTRYPOINT" {
            continue;
        }
        seen = true;
        if matches!(ins.args, Args::Shell(_)) {
            findings.push(found(i, format!("{} in shell form", ins.keyword)));
        }
    }
    if !seen {
        return Outcome::NotApplicable("no CMD or ENTRYPOINT".into());
    }
    checked(findings, "CMD and ENTRYPOINT use the exec form")
}

fn absolute_workdir(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, _) in ctx.of("WORKDIR") {
        seen = true;
        let Some(w) = ctx.model.words[i].first() else {
            continue;
        };
        if !w.unresolved.is_empty() {
            continue;
        }
        let t = w.text.as_str();
        let b = t.as_bytes();
        let windows = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
        if !(t.starts_with('/') || t.starts_with('\\') || windows) {
            findings.push(found(i, format!("WORKDIR {t:?} is relative")));
        }
    }
    if !seen {
        return Outcome::NotApplicable("no WORKDIR".into());
    }
    checked(findings, "every WORKDIR is absolute")
}

fn maintainer(ctx: &Ctx<'_>) -> Outcome {
    let findings = ctx
        .of("MAINTAINER")
        .map(|(i, _)| found(i, "MAINTAINER is deprecated"))
        .collect();
    checked(findings, "no MAINTAINER")
}

fn wget_quiet(args: &[String]) -> bool {
    args.iter().any(|a| {
        matches!(
            a.as_str(),
            "-q" | "--quiet"
                | "-nv"
                | "--no-verbose"
                | "-o"
                | "--output-file"
                | "-a"
                | "--append-output"
        ) || a.starts_with("--progress")
            || a.starts_with("--output-file=")
            || a.starts_with("--append-output=")
            || (a.starts_with('-') && !a.starts_with("--") && a.len() > 2 && {
                // A cluster such as -qO-: options before the first value-taking one.
                let letters: String = a[1..].chars().take_while(|c| *c != 'O').collect();
                letters.contains('q')
            })
    })
}

fn wget_progress(ctx: &Ctx<'_>) -> Outcome {
    let mut seen = false;
    let mut findings = Vec::new();
    for (i, _, cmds) in ctx.runs() {
        for c in cmds {
            let (prog, args) = c.program();
            if prog != "wget" {
                continue;
            }
            seen = true;
            if !wget_quiet(args) {
                findings.push(found(i, "wget without -q, -nv or --progress"));
                break;
            }
        }
    }
    if !seen {
        return Outcome::NotApplicable("no wget".into());
    }
    checked(
        findings,
        "every wget is quiet or uses a compact progress bar",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            split_ref("registry.example.com:5000/team/app:1.2@sha256:ab"),
            (
                "registry.example.com:5000",
                "team/app",
                Some("1.2"),
                Some("sha256:ab")
            )
        );
        assert_eq!(split_ref("debian"), ("docker.io", "debian", None, None));
        assert_eq!(
            split_ref("localhost/x:y"),
            ("localhost", "x", Some("y"), None)
        );
    }

    #[test]
    fn modes() {
        assert!(world_writable_mode("777"));
        assert!(world_writable_mode("0666"));
        assert!(!world_writable_mode("1777"));
        assert!(!world_writable_mode("755"));
        assert!(world_writable_mode("o+w"));
        assert!(world_writable_mode("u+x,a+rw"));
        assert!(!world_writable_mode("+x"));
    }

    #[test]
    fn secret_names() {
        for n in [
            "DB_PASSWORD",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "NPM_TOKEN",
            "PASS",
            "db_pass",
        ] {
            assert!(secret_name(n), "{n}");
        }
        for n in [
            "PASSWORD_FILE",
            "TOKEN_URL",
            "GPG_KEY",
            "PWD",
            "KEYRING",
            "PATH",
        ] {
            assert!(!secret_name(n), "{n}");
        }
        assert!(secret_value("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(secret_value("ghp_0123456789abcdefghij0123456789abcdef").is_some());
        assert!(secret_value("hello").is_none());
    }

    #[test]
    fn every_rule_has_a_unique_id() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                RULES[..i].iter().all(|o| o.def.id != r.def.id),
                "{}",
                r.def.id
            );
            assert_eq!(CHECKS[i].id, r.def.id);
        }
    }
}
