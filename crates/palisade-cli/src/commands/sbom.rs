//! `palisade sbom`: what is inside an image, as a table or an SBOM document.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::args::SourceArgs;
use crate::progress::Terminal;
use crate::{exit, render};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SbomOutput {
    /// A table for people.
    Table,
    /// Palisade's own JSON (the full catalog).
    Json,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

#[derive(Args, Debug)]
pub(crate) struct SbomArgs {
    /// The image: oci-dir:PATH[:TAG], oci-archive:FILE, docker-archive:FILE, dir:PATH,
    /// registry:REF, sbom:FILE, or an existing path / image reference without prefix.
    source: String,

    /// Output format.
    #[arg(
        long,
        short = 'f',
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    format: SbomOutput,

    /// Write the document to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// For a directory: leave out paths matching GLOB, relative to the directory (`home/**`,
    /// `**/node_modules`, `var/cache`); a matching directory is not entered. Repeatable.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,

    #[command(flatten)]
    source_args: SourceArgs,
}

pub(crate) fn run(args: &SbomArgs) -> Result<u8> {
    let options =
        crate::args::with_exclude(&args.source, args.source_args.options(), &args.exclude)?;
    let (catalog, created) = palisade_scan::load_catalog(&args.source, &options, &Terminal)?;
    let mut out = render::open_output(args.output.as_deref())?;
    match args.format {
        SbomOutput::Table => render::sbom_table(&catalog, &mut out)?,
        SbomOutput::Json => render::json(&catalog, &mut out)?,
        SbomOutput::Cyclonedx => render::json(&palisade_catalog::to_cyclonedx(&catalog), &mut out)?,
        SbomOutput::Spdx => {
            let created = palisade_catalog::spdx_created(created.as_deref());
            render::json(&palisade_catalog::to_spdx(&catalog, &created), &mut out)?;
        }
    }
    out.flush()?;
    if !catalog.problems.is_empty() {
        let mut stderr = io::stderr().lock();
        for p in &catalog.problems {
            writeln!(
                stderr,
                "palisade: warning: {}",
                palisade_scan::problem_line(p)
            )?;
        }
    }
    Ok(exit::OK)
}
