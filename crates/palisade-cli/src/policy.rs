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
    /// Run policy tests: every `*.test.yaml` under DIR (input documents with expected
    /// decisions). Exit 0 when all pass, 1 when one fails, 2 on an unreadable test.
    Test {
        /// The directory holding the tests.
        dir: PathBuf,
        /// Print every case, not only the failures.
        #[arg(long, short = 'v')]
        verbose: bool,
    },
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
        PolicyCommand::Test { dir, verbose } => test(dir, *verbose),
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

fn test(dir: &std::path::Path, verbose: bool) -> Result<u8> {
    let report = palisade_policy::run_tests(dir)?;
    let mut out = io::stdout().lock();
    let mut failed = 0;
    for case in &report.cases {
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
    let total = report.cases.len();
    writeln!(out, "{}/{} passed", total - failed, total)?;
    if total == 0 {
        bail!("{}: no *.test.yaml policy tests found", dir.display());
    }
    Ok(if failed == 0 { exit::OK } else { exit::DENY })
}
