//! The `palisade` command. It only wires the library crates together: argument parsing,
//! progress, output formats and exit codes live here; everything else lives in the crates.

mod args;
mod commands;
mod progress;
mod render;
mod secret;
mod service;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use commands::trust::notary;
use commands::{agent, bench, db, docs, gate, policy, sbom, scan, serve, store, trust};

/// Exit codes, documented in the README.
/// mimalloc instead of the system allocator: matching and catalog reading allocate many small
/// strings and versions, and glibc's malloc and free (with its consolidation passes) were
/// over a third of a 5,000-package match. `bench/vuln-bench.sh` (b) measures with it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod exit {
    /// The command did what was asked.
    pub(crate) const OK: u8 = 0;
    /// The input could not be read or is invalid (bad source, corrupt image, bad flags).
    pub(crate) const ERROR: u8 = 2;
    /// `palisade gate`: the policy refused the image.
    pub(crate) const DENY: u8 = 1;
    // `palisade scan` returns its `--exit-code N` when findings are left after the filters.

    /// Parses an `--exit-code N`, refusing the code that errors exit with: a CI job could not
    /// tell findings from a scan that never ran.
    pub(crate) fn parse_code(text: &str) -> Result<u8, String> {
        let n: u8 = text
            .parse()
            .map_err(|_| format!("{text:?} is not an exit code from 0 to 255"))?;
        if n == ERROR {
            return Err(format!(
                "{ERROR} is the exit code of errors (unreadable input, bad flags): pick another, such as 1"
            ));
        }
        Ok(n)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "palisade",
    version,
    about = "Container image trust, vulnerabilities and hardening under one policy",
    long_about = None,
    after_help = "Exit codes: 0 success, 2 error (unreadable or invalid input); `scan --exit-code N` returns N when findings are left after its filters; `gate` returns 1 on deny; `verify` 1 when not verified; `policy test` 1 when a case fails. Data and caches live in the XDG directories ($XDG_CACHE_HOME/palisade, $XDG_DATA_HOME/palisade/vuln.db)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// No progress and no informational lines on standard error (warnings and errors are
    /// still printed).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Say more on standard error: a line per layer read, every import warning, every policy
    /// test case.
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List what is inside an image (OS and packages), as a table or an SBOM.
    Sbom(sbom::SbomArgs),
    /// List the known vulnerabilities of an image (or SBOM) and gate CI on them.
    Scan(scan::ScanArgs),
    /// Manage the vulnerability database (import feeds, show status).
    Db(db::DbArgs),
    /// Check hardening (CIS Docker Benchmark, Pod Security Standards): host, daemon, containers,
    /// images, Dockerfiles, Kubernetes manifests.
    Bench(bench::BenchArgs),
    /// Manage signing keys (cosign-compatible).
    Key(trust::KeyArgs),
    /// Sign an image in a registry (cosign-compatible `.sig` signature).
    Sign(trust::SignArgs),
    /// Verify an image's signatures: exit 0 verified, 1 not verified, 2 error.
    Verify(Box<trust::VerifyArgs>),
    /// Attest an image in a registry: a signed in-toto statement (cosign-compatible `.att`,
    /// or a Sigstore bundle referrer).
    Attest(commands::trust::attest::AttestArgs),
    /// Docker Content Trust (Notary v1): migrate DCT-signed tags to cosign signatures.
    Trust(notary::TrustArgs),
    /// Decide on an image under a policy (signatures, vulnerabilities, hardening, Rego rules):
    /// exit 0 allow or warn, 1 deny, 2 error.
    Gate(gate::GateArgs),
    /// Write, validate and test policies.
    Policy(policy::PolicyArgs),
    /// Enforce at Kubernetes admission: a validating and mutating webhook over HTTPS.
    Serve(serve::ServeArgs),
    /// Enforce on a Docker host: an authorization plugin for dockerd.
    Agent(agent::AgentArgs),
    /// The server's store: migrations, status and API tokens.
    Store(store::StoreArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(docs::CompletionsArgs),
    /// Write the man pages (palisade.1 and one per subcommand) into a directory.
    Man(docs::ManArgs),
}

fn main() -> ExitCode {
    if let Some(code) = policy::rule_worker() {
        return ExitCode::from(code);
    }
    let cli = Cli::parse();
    progress::set_verbosity(cli.quiet, cli.verbose);
    match policy::install_rule_worker().and_then(|()| run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(exit::OK);
            }
            let mut stderr = io::stderr().lock();
            let top = err.to_string();
            let _ = writeln!(stderr, "palisade: error: {top}");
            // Library errors already quote their cause; print only what adds something.
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !top.contains(&cause) {
                    let _ = writeln!(stderr, "  caused by: {cause}");
                }
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Sbom(args) => sbom::run(&args),
        Command::Scan(args) => scan::run(&args),
        Command::Db(args) => db::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Key(args) => trust::key(&args),
        Command::Sign(args) => trust::sign(&args),
        Command::Verify(args) => trust::verify(&args),
        Command::Attest(args) => commands::trust::attest::run(&args),
        Command::Trust(args) => notary::run(&args),
        Command::Gate(args) => gate::run(&args),
        Command::Policy(args) => policy::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Agent(args) => agent::run(&args),
        Command::Store(args) => store::run(&args),
        Command::Completions(args) => {
            docs::completions(&args, <Cli as clap::CommandFactory>::command())
        }
        Command::Man(args) => docs::man(&args, <Cli as clap::CommandFactory>::command()),
    }
}
