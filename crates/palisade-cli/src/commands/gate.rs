//! `palisade gate`: one decision (allow, warn or deny) for one image under one policy.
//!
//! The gate reads the policy and lets `palisade-gate` gather only what it asks for
//! (signatures, vulnerability findings, image hardening results, and everything when it has
//! Rego rules) and decide. The decision JSON is the stable document described in
//! `docs/policy.md`.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use palisade_gate::Gate;
use palisade_policy::{Policy, Verdict};

use crate::args::{DbPathArgs, SourceArgs};
use crate::progress::Terminal;
use crate::{exit, render};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GateFormat {
    /// The decision and its reasons, for people.
    Table,
    /// The decision document (`palisade.decision/v1`, see docs/policy.md).
    Json,
    /// SARIF 2.1.0: one result per reason, excepted reasons as suppressed results.
    Sarif,
    /// JUnit XML: one test case per reason, plus one per section that passed.
    Junit,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 allow (and warn), 1 deny, 2 error (unreadable or invalid \
policy, unreadable image, missing database when the policy needs one, registry errors)."
)]
pub(crate) struct GateArgs {
    /// The image: registry:REF (or a reference), oci-dir:PATH[:TAG], oci-archive:FILE,
    /// docker-archive:FILE, dir:PATH. Signatures can only be checked for registry images.
    source: String,

    /// The policy file (YAML; `palisade policy init` writes a starter).
    #[arg(long, value_name = "FILE", env = "PALISADE_POLICY")]
    policy: PathBuf,

    /// The environment whose overrides apply (e.g. dev, staging, prod) [default: the policy's
    /// `default_environment`].
    #[arg(long, value_name = "NAME", env = "PALISADE_ENV")]
    env: Option<String>,

    /// Output format.
    #[arg(
        long,
        short = 'f',
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    format: GateFormat,

    /// Write the decision to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Print the evaluation trace: what was gathered, each section, threshold and exception
    /// (after the table, or on standard error with the other formats).
    #[arg(long)]
    explain: bool,

    /// Write the input document the policy was evaluated on to FILE (JSON), e.g. to turn it
    /// into a `palisade policy test` case.
    #[arg(long, value_name = "FILE")]
    write_input: Option<PathBuf>,

    /// For a local image (oci-dir:, oci-archive:, docker-archive:): take its own tag
    /// (`RepoTags`, `org.opencontainers.image.ref.name`) as where it came from. Anyone can
    /// write those tags, so without this flag a local image has no registry location and the
    /// `sources` rules deny it; the decision records that the flag was given.
    #[arg(long)]
    trust_local_tags: bool,

    /// The evaluation clock (RFC 3339, or YYYY-MM-DD for midnight UTC) for exception expiry,
    /// database age and Rego rules [default: now].
    #[arg(long, value_name = "TIME", env = "PALISADE_NOW")]
    now: Option<String>,

    #[command(flatten)]
    db: DbPathArgs,

    #[command(flatten)]
    source_args: SourceArgs,
}

pub(crate) fn run(args: &GateArgs) -> Result<u8> {
    // Everything that can be refused without reading the image is checked first.
    let now = match &args.now {
        Some(t) => palisade_gate::normalise_now(t)?,
        None => palisade_gate::now_utc(),
    };
    let policy = Policy::load(&args.policy)?;
    let environment = policy
        .environment(args.env.as_deref())
        .context("--env (or PALISADE_ENV)")?;
    let options = args.source_args.options();
    let gate = Gate {
        policy: &policy,
        environment,
        now: &now,
        db_path: args.db.db.clone(),
        options: &options,
        trust_local_tags: args.trust_local_tags,
    };
    let input = gate.gather(&args.source, &Terminal)?;
    if let Some(path) = &args.write_input {
        let mut f = io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        render::json(&input, &mut f)?;
        f.flush()?;
    }
    let evaluation = gate
        .evaluate(&input)
        .with_context(|| format!("evaluating {}", args.policy.display()))?;
    let decision = &evaluation.decision;

    let mut out = render::open_output(args.output.as_deref())?;
    match args.format {
        GateFormat::Json => out.write_all(decision.to_json().as_bytes())?,
        GateFormat::Table => {
            render::gate::table(decision, &mut out)?;
            if args.explain {
                writeln!(out, "\nEvaluation trace:")?;
                for line in &evaluation.trace {
                    writeln!(out, "  {line}")?;
                }
            }
        }
        GateFormat::Sarif => render::json(&render::gate::sarif(decision), &mut out)?,
        GateFormat::Junit => out.write_all(render::gate::junit(decision).as_bytes())?,
    }
    out.flush()?;
    if args.explain && args.format != GateFormat::Table {
        let mut err = io::stderr().lock();
        for line in &evaluation.trace {
            writeln!(err, "{line}")?;
        }
    }
    Ok(match decision.decision {
        Verdict::Deny => exit::DENY,
        Verdict::Allow | Verdict::Warn => exit::OK,
    })
}
