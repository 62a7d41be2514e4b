//! Progress on standard error (issue 19, acceptance 2): drawn in place under a
//! pseudo-terminal, plain `palisade: …` lines without one, nothing with `--quiet`; standard
//! output byte for byte the same in every case.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::pty::{PtyRun, run_on_pty};
use common::{env, feeds, testbed};

fn command(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("PALISADE_DB")
        .env_remove("PALISADE_NO_CACHE");
    c
}

fn piped(args: &[&str], cache: &Path) -> Output {
    command(args, cache).output().expect("running palisade")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The same command on a terminal, on a pipe, on a pipe with `--quiet`, and on a pipe with
/// `--verbose`: the exit codes and standard outputs agree byte for byte; `--quiet` writes
/// nothing but warnings to standard error.
struct Runs {
    pty: PtyRun,
    plain: Output,
    verbose: Output,
}

fn four_ways(args: &[&str], cache: &Path) -> Runs {
    let pty = run_on_pty(command(args, cache));
    let plain = piped(args, cache);
    let quiet = piped(&[args, &["--quiet"]].concat(), cache);
    let verbose = piped(&[args, &["--verbose"]].concat(), cache);
    let what = args.join(" ");
    assert_eq!(
        plain.status.code(),
        pty.code,
        "{what}: {}\n{}",
        stderr(&plain),
        pty.terminal
    );
    assert_eq!(quiet.status.code(), pty.code, "{what} --quiet");
    assert_eq!(verbose.status.code(), pty.code, "{what} --verbose");
    assert!(
        plain.stdout == pty.stdout && quiet.stdout == pty.stdout && verbose.stdout == pty.stdout,
        "{what}: standard output differs between terminal, plain, quiet and verbose runs"
    );
    // Warnings stay (a quiet run must not hide that a result is incomplete); nothing else.
    let quiet_err = stderr(&quiet);
    assert!(
        quiet_err
            .lines()
            .all(|l| l.starts_with("palisade: warning: ")),
        "{what} --quiet wrote more than warnings: {quiet_err}"
    );
    Runs {
        pty,
        plain,
        verbose,
    }
}

#[test]
fn image_reading_shows_progress_on_a_terminal_and_lines_elsewhere() {
    let cache = tempfile::tempdir().unwrap();
    let app = format!("oci-archive:{}", testbed().join("app.oci.tar").display());

    // sbom: a bar on the terminal (cleared when done), a line at each end of the stage.
    let runs = four_ways(&["sbom", &app, "-f", "json", "--no-cache"], cache.path());
    assert!(
        runs.pty.terminal.contains("reading layers"),
        "no progress bar on the terminal: {:?}",
        runs.pty.terminal
    );
    let plain = stderr(&runs.plain);
    assert!(
        !plain.contains('\r') && !plain.contains('\u{1b}'),
        "plain lines only: {plain:?}"
    );
    let lines: Vec<&str> = plain.lines().collect();
    assert!(
        lines[0].starts_with("palisade: reading ") && lines[0].contains(&app),
        "{plain}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("palisade: read ") && l.contains(" entries, ")),
        "{plain}"
    );
    // --verbose: a line per layer.
    let verbose = stderr(&runs.verbose);
    assert!(verbose.contains("palisade: layer 0: "), "{verbose}");

    // scan: the same stage, and the report unchanged.
    let e = env();
    let db = e.db.display().to_string();
    let runs = four_ways(
        &["scan", &app, "--db", &db, "-f", "json", "--no-cache"],
        cache.path(),
    );
    assert!(runs.pty.terminal.contains("reading layers"));
    assert!(stderr(&runs.plain).starts_with("palisade: reading "));

    // gate: the same stage; the decision (exit 1, deny) and its JSON unchanged.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\ndefault_environment: prod\nvulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n",
    )
    .unwrap();
    let policy = policy.display().to_string();
    let runs = four_ways(
        &[
            "gate",
            &app,
            "--policy",
            &policy,
            "--db",
            &db,
            "-f",
            "json",
            "--no-cache",
            "--now",
            "2026-11-01T00:00:00Z",
        ],
        cache.path(),
    );
    assert_eq!(runs.pty.code, Some(1), "{}", runs.pty.terminal);
    assert!(runs.pty.terminal.contains("reading layers"));
    assert!(stderr(&runs.plain).starts_with("palisade: reading "));
}

#[test]
fn directory_reading_counts_files_and_bytes() {
    let cache = tempfile::tempdir().unwrap();
    // A directory that does not change while the runs compare their outputs: the shared
    // test data (feeds, root filesystems, signatures).
    let dir = common::feeds().join("..").canonicalize().unwrap();
    let source = format!("dir:{}", dir.display());
    let runs = four_ways(&["sbom", &source, "-f", "json"], cache.path());
    assert!(
        runs.pty.terminal.contains(&format!("reading {source}")),
        "no spinner: {:?}",
        runs.pty.terminal
    );
    let plain = stderr(&runs.plain);
    assert!(
        plain.starts_with(&format!("palisade: reading {source}\n")),
        "{plain}"
    );
    assert!(
        plain.contains(" entries, ") && plain.contains("palisade: read "),
        "{plain}"
    );
}

#[test]
fn feed_imports_show_each_input() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vuln.db").display().to_string();
    let pypi = feeds().join("osv/PyPI/all.zip").display().to_string();
    let kev = feeds()
        .join("kev/known_exploited_vulnerabilities.json")
        .display()
        .to_string();
    let args = ["db", "import", &pypi, &kev, "--db", &db, "--allow-shrink"];
    let runs = four_ways(&args, cache.path());
    assert!(
        runs.pty.terminal.contains("importing "),
        "no spinner: {:?}",
        runs.pty.terminal
    );
    let plain = stderr(&runs.plain);
    assert!(
        plain.starts_with(&format!(
            "palisade: importing {pypi}\npalisade: importing {kev}\n"
        )),
        "{plain}"
    );
    assert!(plain.contains("palisade: wrote "), "{plain}");
    // --verbose lists the import warnings where the normal level counts them.
    let verbose = stderr(&runs.verbose);
    assert!(!verbose.contains("--verbose lists them"), "{verbose}");
}
