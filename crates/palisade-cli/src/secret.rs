//! The private key's passphrase, shared by every command that signs (`key generate`, `sign`,
//! `attest`, `trust migrate`): from the environment, else asked on the terminal.

use std::io::{self, BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, Result, bail};

/// The passphrase: PALISADE_PASSWORD, COSIGN_PASSWORD, else a prompt on the terminal.
pub(crate) fn passphrase(confirm: bool) -> Result<String> {
    for var in ["PALISADE_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(v) = std::env::var(var) {
            return Ok(v);
        }
    }
    if !io::stdin().is_terminal() {
        bail!(
            "no passphrase: set PALISADE_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be asked"
        );
    }
    let first = prompt("Enter passphrase for the private key: ")?;
    if confirm {
        let second = prompt("Enter passphrase again: ")?;
        if first != second {
            bail!("passphrases do not match");
        }
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off (via `stty`, restored afterwards).
fn prompt(text: &str) -> Result<String> {
    let mut err = io::stderr().lock();
    write!(err, "{text}")?;
    err.flush()?;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let silenced = stty("-echo");
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line);
    if silenced {
        stty("echo");
    }
    writeln!(err)?;
    read.context("reading the passphrase")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
