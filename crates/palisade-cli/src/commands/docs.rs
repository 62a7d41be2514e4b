//! `palisade completions SHELL` and `palisade man --output-dir DIR`: shell completion scripts
//! and man pages generated from the same clap definitions as `--help`, so they never drift.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;

/// `palisade completions`.
#[derive(Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish (any case).
    #[arg(value_enum, ignore_case = true)]
    shell: clap_complete::Shell,
}

/// `palisade man`.
#[derive(Args, Debug)]
pub(crate) struct ManArgs {
    /// Where to write palisade.1 and palisade-SUBCOMMAND.1 (created when missing), e.g.
    /// ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    output_dir: PathBuf,
}

pub(crate) fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> Result<u8> {
    // Into memory first: the generator panics on a write error, and a closed pipe
    // (`palisade completions bash | head`) is not worth a panic.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "palisade", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(crate::exit::OK)
}

pub(crate) fn man(args: &ManArgs, cmd: clap::Command) -> Result<u8> {
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("creating {}", args.output_dir.display()))?;
    clap_mangen::generate_to(cmd, &args.output_dir)
        .with_context(|| format!("writing man pages into {}", args.output_dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(&args.output_dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("palisade") && n.ends_with(".1"))
        .collect();
    pages.sort();
    writeln!(
        std::io::stderr().lock(),
        "palisade: wrote {} man pages into {} (man palisade; man palisade-scan; …)",
        pages.len(),
        args.output_dir.display()
    )?;
    Ok(crate::exit::OK)
}
