//! `palisade policy`: write a starter policy, validate a policy file, run policy tests.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use palisade_policy::Policy;

use crate::exit;

#[derive(Args, Debug)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Write a commented starter policy (to FILE, or standard output).
    Init {
        /// Where to write it; refuses to overwrite an existing file without --force.
        file: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check a policy file: YAML, keys, types, globs, dates, signer names and Rego rules.
    /// Errors name the file, line and column. Exit 0 valid, 2 invalid.
    Validate {
        /// The policy file.
        file: PathBuf,
    },
    /// Run policy tests: each test file named, and every `*.test.yaml` under each directory
    /// named (input documents with expected decisions). Exit 0 when all pass, 1 when one
    /// fails, 2 on an unreadable test. `--verbose` prints every case, not only the failures.
    Test {
        /// Test files and directories holding them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Convert a containers policy.json (podman, skopeo, CRI-O) into a Palisade policy's
    /// `sources` section: signedBy GPG keys become `sources.gpg`, sigstoreSigned keys
    /// `sources.keys`, scopes image globs. What cannot be expressed is printed as a warning
    /// (and kept as a comment in the output); unknown requirement types are refused.
    ImportContainersPolicy {
        /// The policy.json file.
        file: PathBuf,
        /// Where to write the Palisade policy (default: standard output); keyData keys are
        /// written beside it.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

/// The hidden first argument that makes `palisade` the Rego rule worker (see
/// `palisade_policy::RuleWorker`); never typed by a user.
const RULE_WORKER_ARG: &str = "__palisade-rule-worker";

/// When started as the rule worker, runs it and returns its exit code.
pub(crate) fn rule_worker() -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != RULE_WORKER_ARG {
        return None;
    }
    let rest: Vec<std::ffi::OsString> = args.collect();
    Some(palisade_policy::rule_worker_main(&rest))
}

/// Reads a positive whole number from the environment variable `name`, if set.
fn env_number(name: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => bail!("{name}={v:?}: expected a positive whole number"),
        },
    }
}

/// Makes every policy load and evaluation in this process run its Rego rules in a worker
/// process (this binary) under the rule budget: `PALISADE_RULE_MEMORY_MIB` (default 384),
/// `PALISADE_RULE_TIMEOUT_SECS` (default 10, wall clock), `PALISADE_RULE_CPU_SECS` (default 10).
pub(crate) fn install_rule_worker() -> Result<()> {
    let mut budget = palisade_policy::RuleBudget::default();
    if let Some(mib) = env_number("PALISADE_RULE_MEMORY_MIB")? {
        budget.memory_bytes = mib.saturating_mul(1 << 20);
    }
    if let Some(secs) = env_number("PALISADE_RULE_TIMEOUT_SECS")? {
        budget.timeout = std::time::Duration::from_secs(secs);
    }
    if let Some(secs) = env_number("PALISADE_RULE_CPU_SECS")? {
        budget.cpu_seconds = secs;
    }
    let program =
        std::env::current_exe().context("locating the palisade binary for the rule worker")?;
    palisade_policy::install_rule_worker(palisade_policy::RuleWorker {
        program,
        args: vec![RULE_WORKER_ARG.into()],
        budget,
    });
    Ok(())
}

pub(crate) fn run(args: &PolicyArgs) -> Result<u8> {
    match &args.command {
        PolicyCommand::Init { file, force } => init(file.as_ref(), *force),
        PolicyCommand::Validate { file } => {
            let policy = Policy::load(file)?;
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "{}: valid policy{}",
                file.display(),
                policy.name().map(|n| format!(" {n:?}")).unwrap_or_default()
            )?;
            Ok(exit::OK)
        }
        PolicyCommand::Test { paths } => test(paths, crate::progress::verbose()),
        PolicyCommand::ImportContainersPolicy { file, output } => {
            import_containers_policy(file, output.as_deref())
        }
    }
}

fn init(file: Option<&PathBuf>, force: bool) -> Result<u8> {
    match file {
        None => io::stdout()
            .lock()
            .write_all(palisade_policy::STARTER_POLICY.as_bytes())?,
        Some(path) => {
            if path.exists() && !force {
                bail!("{} exists; use --force to overwrite it", path.display());
            }
            std::fs::write(path, palisade_policy::STARTER_POLICY)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                io::stderr().lock(),
                "wrote {}; check it with `palisade policy validate {}`",
                path.display(),
                path.display()
            )?;
        }
    }
    Ok(exit::OK)
}

fn test(paths: &[PathBuf], verbose: bool) -> Result<u8> {
    let mut cases = Vec::new();
    for path in paths {
        cases.extend(palisade_policy::run_tests(path)?.cases);
    }
    let mut out = io::stdout().lock();
    let mut failed = 0;
    for case in &cases {
        if case.passed {
            if verbose {
                writeln!(out, "PASS  {}: {}", case.file.display(), case.name)?;
            }
        } else {
            failed += 1;
            writeln!(out, "FAIL  {}: {}", case.file.display(), case.name)?;
            for d in &case.differences {
                writeln!(out, "      {d}")?;
            }
        }
    }
    let total = cases.len();
    writeln!(out, "{}/{} passed", total - failed, total)?;
    if total == 0 {
        bail!(
            "{}: no policy test cases found (test files, or directories holding *.test.yaml)",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(if failed == 0 { exit::OK } else { exit::DENY })
}

/// `palisade policy import-containers-policy FILE [-o OUT]`: exit 0, or 2 when refused.
fn import_containers_policy(
    file: &std::path::Path,
    output: Option<&std::path::Path>,
) -> Result<u8> {
    use std::io::Write as _;
    let bytes = palisade_trust::read_trust_file(
        file,
        palisade_trust::containers_policy::MAX_POLICY_JSON_BYTES as u64,
    )?;
    let base = file.parent().unwrap_or_else(|| std::path::Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let imported = palisade_trust::containers_policy::import(&bytes, &base)
        .with_context(|| format!("importing {}", file.display()))?;
    let mut err = std::io::stderr().lock();
    for w in &imported.warnings {
        writeln!(err, "palisade: {w}")?;
    }
    let dir = output
        .and_then(std::path::Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    for (name, bytes) in &imported.files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    match output {
        Some(out) => std::fs::write(out, &imported.yaml)
            .with_context(|| format!("writing {}", out.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(imported.yaml.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(crate::exit::OK)
}
