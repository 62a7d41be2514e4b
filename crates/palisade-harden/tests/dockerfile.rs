//! `palisade bench dockerfile`: the parser on the corpus in `tests/fixtures/dockerfiles/`, the
//! rules' exact findings on it, and errors on malformed input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use palisade_harden::check::{Status, TargetKind};
use palisade_harden::dockerfile::{self, Args, CHECKS, Error, Model, Options};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dockerfiles")
        .join(name)
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

fn options() -> Options {
    Options {
        trusted_registries: Some(vec!["docker.io".into(), "gcr.io".into()]),
        ..Options::default()
    }
}

/// Lines of the failing (fail or warn) results of `id` on a fixture.
fn failing(name: &str, id: &str) -> Vec<u32> {
    let results = dockerfile::check_file(&fixture(name), &options(), &|_| true).unwrap();
    results
        .iter()
        .filter(|r| r.id == id && r.status.is_failure())
        .map(|r| r.evidence[0].line.unwrap())
        .collect()
}

/// Acceptance 1: the table comes from the check list, so a check without a failing and a
/// passing fixture fails the suite.
#[test]
fn every_check_fails_and_passes_somewhere_in_the_corpus() {
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut passed: BTreeSet<&str> = BTreeSet::new();
    for file in corpus() {
        for r in dockerfile::check_file(&file, &options(), &|_| true).unwrap() {
            if r.status.is_failure() {
                failed.insert(r.id);
                let e = &r.evidence[0];
                assert_eq!(e.file.as_deref(), Some(file.as_path()));
                assert!(
                    e.line.is_some(),
                    "{} on {} has no line",
                    r.id,
                    file.display()
                );
            } else if r.status == Status::Pass {
                passed.insert(r.id);
            }
        }
    }
    for def in CHECKS {
        assert_eq!(def.target, TargetKind::Dockerfile);
        assert!(!def.rationale.is_empty() && !def.remediation.is_empty());
        assert!(!def.references.is_empty(), "{} has no references", def.id);
        assert!(failed.contains(def.id), "no fixture fails {}", def.id);
        assert!(passed.contains(def.id), "no fixture passes {}", def.id);
    }
}

/// Exact findings: (fixture, check, failing lines).
const EXPECTED: &[(&str, &str, &[u32])] = &[
    ("01-go-multistage-good.Dockerfile", "CIS-DOCKER-4.1", &[]),
    ("01-go-multistage-good.Dockerfile", "CIS-DOCKER-4.6", &[]),
    ("01-go-multistage-good.Dockerfile", "PAL-DOCKERFILE-2", &[]),
    ("01-go-multistage-good.Dockerfile", "PAL-DOCKERFILE-3", &[]),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "CIS-DOCKER-4.1",
        &[1],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "CIS-DOCKER-4.6",
        &[1],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "CIS-DOCKER-4.7",
        &[3],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "CIS-DOCKER-4.9",
        &[6],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "CIS-DOCKER-4.10",
        &[5],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-2",
        &[1],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-6",
        &[7],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-7",
        &[8],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-8",
        &[9],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-9",
        &[4],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-10",
        &[3],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-13",
        &[11],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-14",
        &[10],
    ),
    (
        "02-ubuntu-bad-everything.Dockerfile",
        "PAL-DOCKERFILE-16",
        &[2],
    ),
    ("05-latest-tag-root.Dockerfile", "CIS-DOCKER-4.1", &[3]),
    ("05-latest-tag-root.Dockerfile", "PAL-DOCKERFILE-2", &[1]),
    // Heredoc bodies: a script fed to a shell counts, data written with cat does not.
    ("06-heredoc-run.Dockerfile", "PAL-DOCKERFILE-9", &[]),
    ("06-heredoc-run.Dockerfile", "PAL-DOCKERFILE-10", &[]),
    ("06-heredoc-run.Dockerfile", "CIS-DOCKER-4.1", &[]),
    (
        "07-heredoc-data-not-script.Dockerfile",
        "PAL-DOCKERFILE-4",
        &[],
    ),
    (
        "07-heredoc-data-not-script.Dockerfile",
        "PAL-DOCKERFILE-6",
        &[],
    ),
    // Windows: backtick escape, PowerShell (no pipefail rule), drive-letter WORKDIR.
    ("08-windows-backtick.Dockerfile", "PAL-DOCKERFILE-12", &[]),
    ("08-windows-backtick.Dockerfile", "PAL-DOCKERFILE-14", &[]),
    ("08-windows-backtick.Dockerfile", "PAL-DOCKERFILE-1", &[2]),
    // ARG substitution in FROM and USER.
    ("09-arg-substitution.Dockerfile", "CIS-DOCKER-4.1", &[]),
    ("09-arg-substitution.Dockerfile", "PAL-DOCKERFILE-2", &[]),
    (
        "10-untagged-variable-base.Dockerfile",
        "CIS-DOCKER-4.1",
        &[5],
    ),
    (
        "10-untagged-variable-base.Dockerfile",
        "PAL-DOCKERFILE-2",
        &[],
    ),
    (
        "12-secrets-in-env-arg.Dockerfile",
        "CIS-DOCKER-4.10",
        &[2, 3, 4, 7, 8, 10, 11],
    ),
    (
        "13-sudo-variants.Dockerfile",
        "PAL-DOCKERFILE-4",
        &[5, 6, 7],
    ),
    (
        "14-add-variants.Dockerfile",
        "CIS-DOCKER-4.9",
        &[5, 6, 7, 8],
    ),
    ("14-add-variants.Dockerfile", "PAL-DOCKERFILE-5", &[3]),
    (
        "15-pipes-and-shell.Dockerfile",
        "PAL-DOCKERFILE-12",
        &[2, 4],
    ),
    (
        "16-apk-variants.Dockerfile",
        "PAL-DOCKERFILE-11",
        &[3, 5, 7],
    ),
    ("16-apk-variants.Dockerfile", "CIS-DOCKER-4.7", &[2]),
    ("16-apk-variants.Dockerfile", "CIS-DOCKER-4.11", &[7]),
    ("17-expose-and-ports.Dockerfile", "PAL-DOCKERFILE-8", &[6]),
    ("17-expose-and-ports.Dockerfile", "PAL-DOCKERFILE-15", &[5]),
    ("18-workdir-variants.Dockerfile", "PAL-DOCKERFILE-14", &[3]),
    ("19-cmd-shell-form.Dockerfile", "PAL-DOCKERFILE-13", &[8, 9]),
    ("20-wget-variants.Dockerfile", "PAL-DOCKERFILE-17", &[3, 6]),
    ("20-wget-variants.Dockerfile", "CIS-DOCKER-4.11", &[6]),
    // USER inherited from an earlier stage; root only in a builder stage.
    (
        "21-stage-user-inheritance.Dockerfile",
        "CIS-DOCKER-4.1",
        &[],
    ),
    (
        "21-stage-user-inheritance.Dockerfile",
        "CIS-DOCKER-4.6",
        &[],
    ),
    ("22-root-in-builder-only.Dockerfile", "CIS-DOCKER-4.1", &[]),
    (
        "23-numeric-root-variants.Dockerfile",
        "CIS-DOCKER-4.1",
        &[3],
    ),
    ("24-root-group-only.Dockerfile", "CIS-DOCKER-4.1", &[]),
    ("24-root-group-only.Dockerfile", "PAL-DOCKERFILE-1", &[1]),
    (
        "25-private-registry.Dockerfile",
        "PAL-DOCKERFILE-1",
        &[1, 2, 3],
    ),
    (
        "26-update-alone-variants.Dockerfile",
        "CIS-DOCKER-4.7",
        &[2, 4],
    ),
    (
        "26-update-alone-variants.Dockerfile",
        "PAL-DOCKERFILE-10",
        &[2, 4, 6],
    ),
    (
        "26-update-alone-variants.Dockerfile",
        "PAL-DOCKERFILE-9",
        &[],
    ),
    (
        "27-insecure-package-flags.Dockerfile",
        "CIS-DOCKER-4.11",
        &[2, 3, 4, 5],
    ),
    ("28-healthcheck-none.Dockerfile", "CIS-DOCKER-4.6", &[2]),
    ("29-scratch-static.Dockerfile", "CIS-DOCKER-4.1", &[7]),
    (
        "30-continuations-comments.Dockerfile",
        "PAL-DOCKERFILE-9",
        &[4],
    ),
    (
        "30-continuations-comments.Dockerfile",
        "PAL-DOCKERFILE-10",
        &[],
    ),
    (
        "30-continuations-comments.Dockerfile",
        "CIS-DOCKER-4.6",
        &[],
    ),
    (
        "31-chmod-variants.Dockerfile",
        "PAL-DOCKERFILE-7",
        &[2, 4, 6],
    ),
    (
        "32-maintainer-and-label.Dockerfile",
        "PAL-DOCKERFILE-16",
        &[2],
    ),
    (
        "33-curl-pipe-variants.Dockerfile",
        "PAL-DOCKERFILE-6",
        &[2, 3, 4],
    ),
    (
        "35-platform-and-digest-latest.Dockerfile",
        "PAL-DOCKERFILE-2",
        &[],
    ),
    (
        "35-platform-and-digest-latest.Dockerfile",
        "CIS-DOCKER-4.1",
        &[5],
    ),
    (
        "16-apk-variants.Dockerfile",
        "PAL-DOCKERFILE-18",
        &[3, 4, 5, 6],
    ),
    ("38-pinned-installs.Dockerfile", "PAL-DOCKERFILE-18", &[]),
    (
        "39-pin-edge-cases.Dockerfile",
        "PAL-DOCKERFILE-18",
        &[
            6, 7, 9, 15, 17, 19, 22, 24, 25, 26, 27, 32, 33, 34, 36, 37, 41, 42, 43, 45,
        ],
    ),
    ("39-pin-edge-cases.Dockerfile", "PAL-DOCKERFILE-9", &[]),
    ("39-pin-edge-cases.Dockerfile", "PAL-DOCKERFILE-11", &[]),
];

#[test]
fn exact_findings_on_the_corpus() {
    let mut wrong = Vec::new();
    for (name, id, lines) in EXPECTED {
        assert!(CHECKS.iter().any(|d| d.id == *id), "unknown check {id}");
        let got = failing(name, id);
        if got != *lines {
            wrong.push(format!("{name} {id}: expected {lines:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn statuses_of_uncertain_and_certain_findings() {
    let r = dockerfile::check_file(
        &fixture("10-untagged-variable-base.Dockerfile"),
        &options(),
        &|d| d.id == "CIS-DOCKER-4.1",
    )
    .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, Status::Warn);
    let r = dockerfile::check_file(
        &fixture("23-numeric-root-variants.Dockerfile"),
        &options(),
        &|d| d.id == "CIS-DOCKER-4.1",
    )
    .unwrap();
    assert_eq!(r[0].status, Status::Fail);
    assert_eq!(r[0].evidence[0].subject, "USER 0:0");
    // Nothing to check is not a pass.
    let r = dockerfile::check_file(&fixture("03-node-alpine.Dockerfile"), &options(), &|d| {
        d.id == "PAL-DOCKERFILE-9"
    })
    .unwrap();
    assert_eq!(r[0].status, Status::NotApplicable);
    // Without a trusted list, the registry rule is not applicable.
    let r = dockerfile::check_file(
        &fixture("25-private-registry.Dockerfile"),
        &Options::default(),
        &|d| d.id == "PAL-DOCKERFILE-1",
    )
    .unwrap();
    assert_eq!(r[0].status, Status::NotApplicable);
}

#[test]
fn reports_do_not_repeat_secret_values() {
    let results = dockerfile::check_file(
        &fixture("12-secrets-in-env-arg.Dockerfile"),
        &options(),
        &|_| true,
    )
    .unwrap();
    let text = serde_json::to_string(&results).unwrap();
    for secret in [
        "hunter2",
        "changeme",
        "ghp_abcdef",
        "wJalrXUtnFEMI",
        "AKIAIOSFODNN7EXAMPLE",
        "secret-value-here",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the results");
    }
    let env = results
        .iter()
        .find(|r| r.id == "CIS-DOCKER-4.10" && r.evidence[0].line == Some(4))
        .unwrap();
    assert_eq!(
        env.evidence[0].subject,
        "ENV APP_ENV=production MYSQL_ROOT_PASSWORD=*** AWS_SECRET_ACCESS_KEY=***"
    );
}

#[test]
fn build_args_and_wildcard_registries() {
    let df = dockerfile::parse_file(&fixture("10-untagged-variable-base.Dockerfile")).unwrap();
    let mut opts = Options {
        trusted_registries: Some(vec!["*.example.com".into()]),
        ..Options::default()
    };
    opts.build_args
        .insert("BASE".into(), "registry.example.com/base".into());
    opts.build_args.insert("RUNTIME_USER".into(), "root".into());
    let r = dockerfile::check(&df, Path::new("Dockerfile"), &opts, &|_| true);
    let lines = |id: &str| -> Vec<(Status, u32)> {
        r.iter()
            .filter(|x| x.id == id && x.status.is_failure())
            .map(|x| (x.status, x.evidence[0].line.unwrap()))
            .collect()
    };
    assert_eq!(lines("PAL-DOCKERFILE-2"), [(Status::Fail, 2)]);
    assert_eq!(lines("PAL-DOCKERFILE-1"), []);
    assert_eq!(lines("CIS-DOCKER-4.1"), [(Status::Fail, 5)]);
}

#[test]
fn parser_on_the_corpus() {
    for file in corpus() {
        let df = dockerfile::parse_file(&file).unwrap();
        assert!(!df.instructions.is_empty());
        for w in df.instructions.windows(2) {
            assert!(w[0].end_line < w[1].start_line, "{}", file.display());
        }
    }
    // Heredocs with <<-, quoted delimiters, and a script heredoc fed to bash.
    let df = dockerfile::parse_file(&fixture("06-heredoc-run.Dockerfile")).unwrap();
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1.4"));
    let kw: Vec<(&str, u32, u32)> = df
        .instructions
        .iter()
        .map(|i| (i.keyword.as_str(), i.start_line, i.end_line))
        .collect();
    assert_eq!(
        kw,
        [
            ("FROM", 2, 2),
            ("RUN", 3, 8),
            ("COPY", 9, 12),
            ("RUN", 13, 16),
            ("USER", 17, 17),
            ("CMD", 18, 18)
        ]
    );
    let copy = &df.instructions[2];
    assert!(copy.heredocs[0].strip_tabs);
    assert_eq!(
        copy.heredocs[0].body,
        "listen = 0.0.0.0:9000\nworkers = 4\n"
    );
    assert!(df.instructions[3].heredocs[0].quoted);
    // Backtick escape: the continuation joins three lines; `\` stays literal.
    let df = dockerfile::parse_file(&fixture("08-windows-backtick.Dockerfile")).unwrap();
    assert_eq!(df.escape, '`');
    let run = &df.instructions[2];
    assert_eq!((run.start_line, run.end_line), (4, 6));
    assert!(run.text.contains("C:\\tool.zip ;     Expand-Archive"));
    assert_eq!(
        df.instructions[1].args,
        Args::Exec(vec![
            "powershell".into(),
            "-Command".into(),
            "$ErrorActionPreference = 'Stop';".into()
        ])
    );
    // Comments and a blank line inside a continuation.
    let df = dockerfile::parse_file(&fixture("30-continuations-comments.Dockerfile")).unwrap();
    let run = &df.instructions[1];
    assert_eq!((run.start_line, run.end_line), (4, 11));
    assert!(!run.text.contains("health check"));
    let hc = df
        .instructions
        .iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .unwrap();
    assert_eq!(hc.flag("interval").unwrap().value.as_deref(), Some("10s"));
    assert_eq!(
        hc.args,
        Args::Exec(vec![
            "curl".into(),
            "-fsS".into(),
            "http://localhost:8080/healthz".into()
        ])
    );
    // ARG before FROM is scoped to FROM lines; ${VAR:-default} in FROM.
    let df = dockerfile::parse_file(&fixture("09-arg-substitution.Dockerfile")).unwrap();
    let m = Model::new(&df, &Default::default());
    assert_eq!(m.stages[0].base.text, "docker.io/library/debian:12.6");
    assert_eq!(m.stages[0].name.as_deref(), Some("base"));
    // Multi-stage: FROM an earlier stage links to it.
    let df = dockerfile::parse_file(&fixture("21-stage-user-inheritance.Dockerfile")).unwrap();
    let m = Model::new(&df, &Default::default());
    assert_eq!(m.stages.len(), 3);
    assert_eq!(m.stages[2].parent, Some(0));
    let copy = df
        .instructions
        .iter()
        .find(|i| i.flag("from").is_some())
        .unwrap();
    assert_eq!(copy.flag("from").unwrap().value.as_deref(), Some("build"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn malformed_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], u32, &str)] = &[
        ("unknown", b"FROM a\n\nFROMM b\n", 3, "unknown instruction"),
        (
            "heredoc",
            b"FROM a\nRUN <<EOF\necho hi\n",
            2,
            "not terminated",
        ),
        (
            "noargs",
            b"FROM a\nUSER   \n",
            2,
            "requires at least one argument",
        ),
        ("escape", b"# escape=x\nFROM a\n", 1, "escape"),
        ("utf8", b"FROM a\nRUN echo \xff\n", 2, "UTF-8"),
        // Issue 12.9: what is not a Dockerfile never scores.
        ("empty", b"", 1, "no FROM instruction: not a Dockerfile"),
        (
            "comments",
            b"# just a comment\n\n",
            1,
            "no FROM instruction",
        ),
        ("args-only", b"ARG A=1\nARG B\n", 1, "no FROM instruction"),
        (
            "run-first",
            b"# a shell script?\nRUN make\nFROM a\n",
            2,
            "RUN before the first FROM",
        ),
        (
            "yaml",
            b"apiVersion: v1\nkind: Pod\n",
            1,
            "unknown instruction \"apiVersion:\" (this looks like YAML or JSON",
        ),
        (
            "json",
            b"{\"FROM\": \"debian\"}\n",
            1,
            "looks like YAML or JSON",
        ),
    ];
    for (name, bytes, line, what) in cases {
        let p = write(dir.path(), name, bytes);
        let err = dockerfile::parse_file(&p).unwrap_err();
        let Error::Syntax { line: l, .. } = &err else {
            panic!("{name}: {err}")
        };
        assert_eq!(*l, *line, "{name}: {err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{}:{line}: ", p.display())),
            "{msg}"
        );
        assert!(msg.contains(what), "{msg}");
    }
    let big = vec![b'#'; dockerfile::MAX_BYTES + 10];
    let p = write(dir.path(), "big", &big);
    assert!(
        dockerfile::parse_file(&p)
            .unwrap_err()
            .to_string()
            .contains("larger than")
    );
    let many = "FROM a\n".to_owned() + &"USER 1\n".repeat(dockerfile::MAX_INSTRUCTIONS + 1);
    let err = dockerfile::parse(&many).unwrap_err();
    assert!(err.message.contains("instructions"), "{err}");
    assert!(matches!(
        dockerfile::parse_file(&dir.path().join("missing")),
        Err(Error::Io { .. })
    ));
}

/// No input makes the parser or the rules panic: pseudo-random Dockerfiles built from
/// fragments that exercise every syntax path (a deterministic stand-in for a fuzz target).
#[test]
fn random_input_never_panics() {
    const FRAGMENTS: &[&str] = &[
        "FROM ",
        "RUN ",
        "COPY ",
        "ADD ",
        "USER ",
        "ENV ",
        "ARG ",
        "WORKDIR ",
        "EXPOSE ",
        "HEALTHCHECK ",
        "CMD ",
        "SHELL ",
        "ONBUILD ",
        "# escape=`\n",
        "# syntax=x\n",
        "\\\n",
        "`\n",
        "\n",
        " ",
        "<<EOF",
        "<<-'E'",
        "\nEOF\n",
        "\tE\n",
        "${A:-${B:+x}}",
        "$",
        "${",
        "}",
        "\"",
        "'",
        "[\"a\",",
        "]",
        "--from=a ",
        "--mount=type=cache,target=/x ",
        "AS b ",
        "scratch",
        "a:latest",
        "@sha256:",
        "|",
        "||",
        "&&",
        ";",
        "sudo ",
        "apt-get update ",
        "apt-get install ",
        "curl x | sh",
        "chmod 777 ",
        "0:0",
        "root",
        "70000",
        "22",
        "é",
        "\r\n",
        "NONE",
        "=",
        "PASSWORD=",
        "https://x/y",
        ".tar.gz",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let opts = options();
    for _ in 0..3000 {
        let n = (next() % 40) as usize;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
        }
        if let Ok(df) = dockerfile::parse(&text) {
            let _ = dockerfile::check(&df, Path::new("fuzz"), &opts, &|_| true);
        }
    }
}

#[test]
fn inline_ignore_comments_waive_with_a_reason_only() {
    let run = |text: &str| {
        let df = dockerfile::parse(text).unwrap();
        dockerfile::check(&df, Path::new("Dockerfile"), &options(), &|d| {
            d.id == "CIS-DOCKER-4.1"
        })
        .into_iter()
        .map(|r| (r.status, r.evidence[0].detail.clone()))
        .collect::<Vec<_>>()
    };
    // With a reason: the finding stays in the report, as information, saying why.
    let waived = run(
        "FROM debian:12\n# the entrypoint drops privileges\n# palisade ignore=CIS-DOCKER-4.1 the entrypoint runs gosu\nUSER 0:0\n",
    );
    assert_eq!(waived.len(), 1);
    assert_eq!(waived[0].0, Status::Info);
    assert!(
        waived[0]
            .1
            .contains("waived by `# palisade ignore` at line 3: the entrypoint runs gosu"),
        "{waived:?}"
    );
    // By the hadolint code the check maps to, any case, among several ids.
    let by_code = run("FROM debian:12\n# palisade ignore=DL3000,dl3002 gosu drops it\nUSER root\n");
    assert_eq!(by_code[0].0, Status::Info, "{by_code:?}");
    // Without a reason: not honoured, and the report says so.
    let bare = run("FROM debian:12\n# palisade ignore=CIS-DOCKER-4.1\nUSER 0:0\n");
    assert_eq!(bare[0].0, Status::Fail);
    assert!(
        bare[0].1.contains("gives no reason, so it is not honoured"),
        "{bare:?}"
    );
    // Only directly above: a blank line, another rule or another instruction does not count.
    for text in [
        "FROM debian:12\n# palisade ignore=CIS-DOCKER-4.1 reason\n\nUSER 0:0\n",
        "FROM debian:12\n# palisade ignore=CIS-DOCKER-4.6 reason\nUSER 0:0\n",
        "FROM debian:12\n# palisade ignore=CIS-DOCKER-4.1 reason\nRUN true\nUSER 0:0\n",
    ] {
        assert_eq!(run(text)[0].0, Status::Fail, "{text}");
    }
}

#[test]
fn package_installs_pin_versions() {
    let check = |run: &str| {
        let df = dockerfile::parse(&format!("FROM debian:12.5\nRUN {run}\n")).unwrap();
        let r = dockerfile::check(&df, Path::new("Dockerfile"), &options(), &|d| {
            d.id == "PAL-DOCKERFILE-18"
        });
        (r[0].status, r[0].evidence[0].detail.clone())
    };
    for pinned in [
        "apt-get install -y --no-install-recommends curl=7.88.1-10 -o Dpkg::Options::=--force-confold",
        "apk add --no-cache --virtual .build curl=8.5.0-r0 musl~1.2",
        "pip install requests==2.31.0 -r requirements.txt .",
        "python3 -m pip install 'flask>=2,<=3.0.3' pkg@https://example.com/pkg.whl",
        "npm install -g typescript@5.4.5 @scope/cli@1.2.3",
        "npm install",
        "apt-get install -y ./local.deb",
        // Noise around the packages: option values are not packages.
        "apt-get -o Dpkg::Options::=--force-confnew install --no-install-recommends -y -t bookworm curl=7.88.1-10",
        "apk add --no-cache --arch x86_64 --repository https://dl-cdn.alpinelinux.org/alpine/edge/main curl~8.5",
        "pip install --no-binary :all: --root-user-action ignore --upgrade-strategy eager psycopg==3.1.18",
        "npm install --registry https://registry.npmjs.org --omit dev --loglevel warn lodash@4.17.21",
        // Upper bounds and compatible releases pin; so do constraints files, VCS refs, files.
        "apk add 'tzdata<2025' zlib~=1.3",
        "pip install 'urllib3<3' 'idna~=3.6' 'certifi>=2024,<2025' 'attrs===23.2.0; python_version > \"3.8\"'",
        "pip install -c constraints.txt celery",
        "pip3.12 install git+https://github.com/psf/requests@v2.31.0 'pkg @ https://example.com/pkg-1.0.tar.gz' -e .",
        "pip install git+ssh://git@github.com/psf/requests@v2.31.0",
        "npm install lodash@^4.17.21 react@~18.2.0 left-pad@1 alias@npm:lodash@4.17.21",
        "npm install git+https://github.com/lodash/lodash.git#4.17.21 user/repo#v1.0 ./pkg https://example.com/x.tgz",
    ] {
        assert_eq!(
            check(pinned).0,
            Status::Pass,
            "{pinned}: {:?}",
            check(pinned)
        );
    }
    for (unpinned, names) in [
        (
            "apt-get update && apt-get install -y curl wget=1.21",
            "apt-get install of unpinned packages: curl",
        ),
        (
            "apk add --no-cache curl",
            "apk add of unpinned packages: curl",
        ),
        (
            "pip3 install requests flask==3.0.0",
            "pip install of unpinned packages: requests",
        ),
        (
            "python -m pip install requests",
            "pip install of unpinned packages: requests",
        ),
        (
            "npm i lodash @scope/cli",
            "npm install of unpinned packages: lodash, @scope/cli",
        ),
        // A suite or a target release is not a version; a bare variable is unknown.
        (
            "apt-get install -y -t bookworm-backports curl libssl3/bookworm-backports $EXTRA",
            "apt-get install of unpinned packages: curl, libssl3/bookworm-backports, $EXTRA",
        ),
        (
            "apt install -y --no-install-recommends wget",
            "apt-get install of unpinned packages: wget",
        ),
        // A lower bound alone still takes the newest release; a repository tag is no version.
        (
            "apk add --no-cache 'openssl>3.0' 'musl>=1.2' bash@edge",
            "apk add of unpinned packages: openssl>3.0, musl>=1.2, bash@edge",
        ),
        (
            "pip install 'requests>=2.31' 'flask!=3.0.0' 'rich; python_version < \"3.9\"'",
            "pip install of unpinned packages: requests>=2.31, flask!=3.0.0, rich; python_version < \"3.9\"",
        ),
        // A requirements file pins its own packages, not the ones named beside it.
        (
            "pip install -r requirements.txt flask",
            "pip install of unpinned packages: flask",
        ),
        // VCS URLs without a ref follow a branch (the `git@` is a user name).
        (
            "pip install git+https://github.com/psf/requests git+ssh://git@github.com/psf/requests -e git+https://github.com/psf/requests#egg=requests",
            "pip install of unpinned packages: git+https://github.com/psf/requests, git+ssh://git@github.com/psf/requests, git+https://github.com/psf/requests#egg=requests",
        ),
        // The installer itself is a package in the image too.
        (
            "python3 -m pip install --upgrade pip",
            "pip install of unpinned packages: pip",
        ),
        (
            "python3.12 -I -m pip install httpx",
            "pip install of unpinned packages: httpx",
        ),
        (
            "pip3.12 install httpx",
            "pip install of unpinned packages: httpx",
        ),
        // Dist-tags, `*` and lower bounds move; so do git URLs and GitHub shorthands without `#`.
        (
            "npm install -g npm@latest react@next left-pad@* 'lodash@>=4' npm",
            "npm install of unpinned packages: npm@latest, react@next, left-pad@*, lodash@>=4, npm",
        ),
        (
            "npm install git+https://github.com/lodash/lodash.git user/repo github:user/repo",
            "npm install of unpinned packages: git+https://github.com/lodash/lodash.git, user/repo, github:user/repo",
        ),
    ] {
        let (status, detail) = check(unpinned);
        assert_eq!(status, Status::Warn, "{unpinned}");
        assert_eq!(detail, names, "{unpinned}");
    }
    // Not installs: `npm ci` uses the lockfile, `python3 script.py` runs a script.
    for other in [
        "npm ci",
        "python3 -m venv /venv",
        "python3 setup.py install",
    ] {
        assert_eq!(check(other).0, Status::NotApplicable, "{other}");
    }
    let df = dockerfile::parse("FROM debian:12.5\nRUN echo hi\n").unwrap();
    let r = dockerfile::check(&df, Path::new("Dockerfile"), &options(), &|d| {
        d.id == "PAL-DOCKERFILE-18"
    });
    assert_eq!(r[0].status, Status::NotApplicable);
}
