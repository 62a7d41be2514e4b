//! The `palisade` command. It only wires the library crates together: argument parsing,
//! progress, output formats and exit codes live here; everything else lives in the crates.

mod bench;
mod db;
mod gate;
mod ignore;
mod junit;
mod output;
mod policy;
mod progress;
mod sarif;
mod scan;
mod scan_cache;
mod scan_sbom;
mod trust;
mod update;
mod vex;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade_catalog::{Catalog, CatalogOptions, LayerCache};
use palisade_image::{OpenOptions, Platform, RegistryOptions};

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
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List what is inside an image (OS and packages), as a table or an SBOM.
    Sbom(SbomArgs),
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
    Verify(trust::VerifyArgs),
    /// Decide on an image under a policy (signatures, vulnerabilities, hardening, Rego rules):
    /// exit 0 allow or warn, 1 deny, 2 error.
    Gate(gate::GateArgs),
    /// Write, validate and test policies.
    Policy(policy::PolicyArgs),
}

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
pub(crate) struct SourceArgs {
    /// The platform to pick from multi-platform images [default: linux/amd64]. When given,
    /// an image for another platform is an error, single-platform images included.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", env = "PALISADE_PLATFORM")]
    platform: Option<String>,

    /// The image to pick from an archive or layout holding several (a tag such as `app:1.0`).
    #[arg(long, value_name = "NAME")]
    image: Option<String>,

    /// Registry host (`host[:port]`) that may be reached over plain HTTP (loopback always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,

    /// Extra CA certificates (PEM) to trust for registries, on top of the system roots.
    #[arg(long, value_name = "FILE", env = "PALISADE_CA_FILE")]
    ca_file: Option<PathBuf>,

    /// The total time one registry request may take, retries, redirects and the whole body
    /// (a layer) included: `90s`, `30m`, `2h` (plain numbers are seconds) [default: 30m].
    #[arg(long, value_name = "DURATION", env = "PALISADE_HTTP_TIMEOUT",
          value_parser = palisade_image::http::parse_duration)]
    http_timeout: Option<std::time::Duration>,

    /// Read every layer again instead of using the layer cache (and skip the scan-result and
    /// gate caches). `PALISADE_NO_CACHE=1` (or true, yes, on) does the same.
    #[arg(long, env = "PALISADE_NO_CACHE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    no_cache: bool,

    /// The cache directory [default: $XDG_CACHE_HOME/palisade, else ~/.cache/palisade].
    #[arg(long, value_name = "DIR", env = "PALISADE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// The most the scan-result cache (`scans/` in the cache directory) holds, in MiB; the
    /// least recently used results are removed first, and a result over a quarter of it (at
    /// most 32 MiB) is not cached. 0 caches no scan results.
    #[arg(long, value_name = "MIB", env = "PALISADE_SCAN_CACHE_MAX_MIB",
          default_value_t = scan_cache::DEFAULT_MAX_MIB)]
    scan_cache_max_mib: u64,
}

#[derive(Args, Debug)]
struct SbomArgs {
    /// The image: oci-dir:PATH[:TAG], oci-archive:FILE, docker-archive:FILE, dir:PATH,
    /// registry:REF, sbom:FILE, or an existing path / image reference without prefix.
    source: String,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: SbomOutput,

    /// Write the document to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    source_args: SourceArgs,
}

fn main() -> ExitCode {
    if let Some(code) = policy::rule_worker() {
        return ExitCode::from(code);
    }
    let cli = Cli::parse();
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
        Command::Sbom(args) => sbom(&args),
        Command::Scan(args) => scan::run(&args),
        Command::Db(args) => db::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Key(args) => trust::key(&args),
        Command::Sign(args) => trust::sign(&args),
        Command::Verify(args) => trust::verify(&args),
        Command::Gate(args) => gate::run(&args),
        Command::Policy(args) => policy::run(&args),
    }
}

/// The SBOM file a source names: `sbom:FILE`, or an existing file given without a prefix
/// whose content is a JSON document (an image archive is a tar).
pub(crate) fn sbom_file(source: &str) -> Option<&str> {
    if let Some(path) = source.strip_prefix("sbom:") {
        return Some(path);
    }
    let meta = std::fs::metadata(source).ok()?;
    if !meta.is_file() {
        return None;
    }
    use std::io::Read as _;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(source).ok()?.read(&mut head).ok()?;
    (head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')).then_some(source)
}

/// Opens and catalogs a source (or reads an SBOM given as `sbom:FILE`, or as a JSON file
/// without a prefix).
pub(crate) fn load_catalog(source: &str, args: &SourceArgs) -> Result<(Catalog, Option<String>)> {
    if let Some(path) = sbom_file(source) {
        let bytes = read_limited(path)?;
        let catalog = palisade_catalog::read_sbom(&bytes, path)?;
        return Ok((catalog, None));
    }
    let image = open_image(source, args)?;
    let catalog = catalog_image(&image, args)?;
    Ok((catalog, image.config().created.clone()))
}

/// Opens an image source (layout, archive, directory or registry) with the common flags.
pub(crate) fn open_image(source: &str, args: &SourceArgs) -> Result<palisade_image::Image> {
    let platform: Platform = match &args.platform {
        Some(p) => p
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))
            .context("--platform")?,
        None => Platform::linux_amd64(),
    };
    let options = OpenOptions {
        platform,
        require_platform: args.platform.is_some(),
        image: args.image.clone(),
        registry: RegistryOptions {
            insecure: args.insecure_registry.clone(),
            ca_file: args.ca_file.clone(),
            deadline: args.http_timeout,
            ..RegistryOptions::default()
        },
        ..OpenOptions::default()
    };
    Ok(palisade_image::open(source, &options)?)
}

/// Catalogs an opened image, through the layer cache unless `--no-cache`.
pub(crate) fn catalog_image(image: &palisade_image::Image, args: &SourceArgs) -> Result<Catalog> {
    let cache = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(LayerCache::default_dir)
            .map(LayerCache::new)
    };
    let catalog_options = CatalogOptions { cache, threads: 0 };
    let progress = progress::LayerBars::new(image.layers().len(), io::stderr().is_terminal());
    let catalog = palisade_catalog::catalog_image(image, &catalog_options, &progress)?;
    progress.finish();
    Ok(catalog)
}

pub(crate) fn read_limited(path: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut buf = Vec::new();
    f.take(palisade_catalog::MAX_SBOM_BYTES + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {path}"))?;
    Ok(buf)
}

fn sbom(args: &SbomArgs) -> Result<u8> {
    let (catalog, created) = load_catalog(&args.source, &args.source_args)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        SbomOutput::Table => output::table(&catalog, &mut out)?,
        SbomOutput::Json => output::json(&catalog, &mut out)?,
        SbomOutput::Cyclonedx => output::json(&palisade_catalog::to_cyclonedx(&catalog), &mut out)?,
        SbomOutput::Spdx => {
            let created = palisade_catalog::spdx_created(created.as_deref());
            output::json(&palisade_catalog::to_spdx(&catalog, &created), &mut out)?;
        }
    }
    out.flush()?;
    if !catalog.problems.is_empty() {
        let mut stderr = io::stderr().lock();
        for p in &catalog.problems {
            writeln!(stderr, "palisade: warning: {}", output::problem_line(p))?;
        }
    }
    Ok(exit::OK)
}
