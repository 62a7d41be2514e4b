//! `palisade bench`: hardening checks (CIS Docker Benchmark v1.6.0 and our own) on a host tree,
//! a daemon, containers, an image or Dockerfiles, reported as a table, JSON, SARIF or JUnit.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use palisade_harden::check::{Level, Status};
use palisade_harden::check_list;
use palisade_harden::containers::Containers;
use palisade_harden::daemon::Daemon;
use palisade_harden::dockerfile::Dockerfiles;
use palisade_harden::engine::Engine;

/// Where a Docker engine listens when nothing says otherwise.
const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
use palisade_harden::host::Host;
use palisade_harden::hostfs::HostRoot;
use palisade_harden::image::ImageFacts;
use palisade_harden::k8s::Manifests;
use palisade_harden::profile::Profile;
use serde_json::{Value, json};

use crate::args::SourceArgs;
use crate::{exit, render};

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 done (whatever the results), 2 error; with `--exit-code N`, N when a check \
                  fails (or warns, with `--fail-on warn`)."
)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    target: Option<Target>,

    /// List every check (automated, manual and live-only, with the reason) and exit.
    #[arg(long)]
    list: bool,

    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct Common {
    /// Run level 1 checks only (1), or levels 1 and 2 (2) [default: 2, or the profile's].
    #[arg(long, global = true, value_parser = ["1", "2"])]
    level: Option<String>,

    /// Run only checks whose ID matches (globs: `CIS-DOCKER-5.*`); repeatable.
    #[arg(long, global = true, value_name = "ID")]
    include: Vec<String>,

    /// Skip checks whose ID matches (globs); repeatable.
    #[arg(long, global = true, value_name = "ID")]
    exclude: Vec<String>,

    /// A YAML profile: level, include, exclude, trusted-docker-users, trusted-registries,
    /// allowed-services.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "PALISADE_BENCH_PROFILE"
    )]
    profile: Option<PathBuf>,

    /// Output format.
    #[arg(
        long,
        short = 'f',
        global = true,
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', global = true, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Exit with N when a check fails (see --fail-on); any code but 2, which errors exit with.
    #[arg(long, global = true, value_name = "N", value_parser = crate::exit::parse_code)]
    exit_code: Option<u8>,

    /// What --exit-code counts: failures only, or warnings too.
    #[arg(
        long,
        global = true,
        value_enum,
        ignore_case = true,
        default_value = "fail"
    )]
    fail_on: FailOn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table for people, grouped by section, with a score.
    Table,
    /// A stable JSON document.
    Json,
    /// SARIF 2.1.0: one rule per check, one result per failure or warning.
    Sarif,
    /// JUnit XML: one testcase per check and subject.
    Junit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// Only FAIL results.
    Fail,
    /// FAIL and WARN results.
    Warn,
}

#[derive(Subcommand, Debug)]
enum Target {
    /// Host files under a root: ownership and modes, audit rules, docker group, partition,
    /// enabled services (CIS 1.1, 1.2, 3, 4.5).
    Host {
        /// The host's root directory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// The daemon's effective configuration (CIS 2, 5.1): from the files under --root, or
    /// live from the Engine API with --docker-host.
    Daemon {
        /// The host's root directory (when not live).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// A live engine: `unix:///path/to/docker.sock`.
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
    },
    /// Containers (CIS 4.1, 5): `docker inspect` JSON files, or every container (running or
    /// not) of a live engine: --docker-host, --context, else where the Docker CLI would
    /// connect (DOCKER_HOST, DOCKER_CONTEXT, the current context), else the local socket.
    Containers {
        /// `docker inspect` output files (an array or one object each).
        files: Vec<PathBuf>,
        /// A live engine: `unix:///path/to/docker.sock`.
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
        /// A Docker context (`docker context ls`), as `docker --context` takes it.
        #[arg(long, value_name = "NAME", conflicts_with = "docker_host")]
        context: Option<String>,
        /// A host root whose daemon configuration tells whether no-new-privileges is set
        /// daemon-wide (CIS 5.26), for inspect files.
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// An image from any source (CIS 4.x and image contents).
    Image {
        /// oci-dir:PATH[:TAG], oci-archive:FILE, docker-archive:FILE, dir:PATH, registry:REF.
        source: String,
        #[command(flatten)]
        source_args: SourceArgs,
    },
    /// Dockerfiles (CIS 4.x, hadolint-style rules).
    Dockerfile {
        /// The Dockerfiles.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `NAME=value` for ARG substitution; repeatable.
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
    },
    /// Kubernetes manifests: Pod Security Standards baseline (level 1) and restricted
    /// (level 2) on Pods and workload templates, multi-document YAML.
    K8s {
        /// The manifest files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(crate) fn run(args: &BenchArgs) -> Result<u8> {
    let profile = profile(&args.common)?;
    if args.list {
        list(&args.common)?;
        return Ok(exit::OK);
    }
    let Some(target) = &args.target else {
        bail!("name a target (host, daemon, containers, image, dockerfile, k8s) or use --list");
    };
    // Gather what the target's checks look at, then check it the one way every target shares.
    let gathered: Box<dyn palisade_harden::target::Target> = match target {
        Target::Host { root } => Box::new(Host::load(HostRoot::new(root))?),
        Target::Daemon { root, docker_host } => match docker_host {
            Some(h) => Box::new(Daemon::live(&Engine::new(h)?)?),
            None => Box::new(Daemon::offline(&HostRoot::new(root))?),
        },
        Target::Containers {
            files,
            docker_host,
            context,
            root,
        } => {
            if !files.is_empty() {
                if docker_host.is_some() || context.is_some() {
                    bail!(
                        "give either inspect files or a live engine (--docker-host, --context), not both"
                    );
                }
                let root = root.as_ref().map(HostRoot::new);
                Box::new(Containers::from_files(files, root.as_ref())?)
            } else {
                // As the Docker CLI decides: the flag, the context, DOCKER_HOST,
                // DOCKER_CONTEXT, the current context, else the local socket.
                let host = match docker_host {
                    Some(h) => h.clone(),
                    None => palisade_harden::engine::host_from_environment(
                        context.as_deref(),
                        &|k: &str| std::env::var(k).ok(),
                    )?
                    .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned()),
                };
                Box::new(Containers::live(&Engine::new(&host)?)?)
            }
        }
        Target::Image {
            source,
            source_args,
        } => {
            let image = palisade_scan::open_image(source, &source_args.options())?;
            Box::new(ImageFacts::from_image(&image, source)?)
        }
        Target::Dockerfile { files, build_args } => {
            let mut args = BTreeMap::new();
            for a in build_args {
                let (k, v) = a
                    .split_once('=')
                    .with_context(|| format!("--build-arg {a}: expected NAME=VALUE"))?;
                args.insert(k.to_owned(), v.to_owned());
            }
            Box::new(Dockerfiles::load(files, args)?)
        }
        Target::K8s { files } => Box::new(Manifests::load(files)?),
    };
    let report = gathered.report(&profile)?;
    write(&args.common, |out| match args.common.format {
        Format::Table => render::bench::table(&report, &profile, out),
        Format::Json => render::json(&report.to_json(), out),
        Format::Sarif => render::json(&render::bench::sarif(&report), out),
        Format::Junit => out.write_all(render::bench::junit(&report).as_bytes()),
    })?;
    let threshold = match args.common.fail_on {
        FailOn::Fail => Status::Fail,
        FailOn::Warn => Status::Warn,
    };
    Ok(match args.common.exit_code {
        Some(n) if report.fails(threshold, profile.level) => n,
        _ => exit::OK,
    })
}

fn profile(c: &Common) -> Result<Profile> {
    let mut p = match &c.profile {
        Some(path) => {
            let (p, warnings) = Profile::load_reporting(path)?;
            let mut stderr = io::stderr().lock();
            for w in warnings {
                writeln!(stderr, "palisade: warning: {w}")?;
            }
            p
        }
        None => Profile::default(),
    };
    if let Some(l) = &c.level {
        p.level = l.parse::<Level>().map_err(|e| anyhow::anyhow!(e))?;
    }
    p.include.extend(c.include.iter().cloned());
    p.exclude.extend(c.exclude.iter().cloned());
    Ok(p)
}

fn write(c: &Common, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let mut out: Box<dyn Write> = match &c.output {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    f(&mut out)?;
    out.flush()?;
    Ok(())
}

fn list(c: &Common) -> Result<()> {
    let defs = check_list::all();
    write(c, |out| match c.format {
        Format::Json => {
            let v: Vec<Value> = defs
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id, "title": d.title, "level": d.level, "target": d.target,
                        "section": d.section, "automated": !d.manual,
                        "manual-reason": (!d.manual_reason.is_empty()).then_some(d.manual_reason),
                        "rationale": d.rationale, "remediation": d.remediation,
                        "references": d.references,
                    })
                })
                .collect();
            render::json(&v, out)
        }
        _ => {
            let idw = defs.iter().map(|d| d.id.len()).max().unwrap_or(2);
            writeln!(
                out,
                "{:<idw$}  {:<10}  LVL  {:<10}  TITLE",
                "ID", "TARGET", "MODE"
            )?;
            for d in &defs {
                let mode = if d.manual {
                    if d.manual_reason.starts_with("live-only") {
                        "live-only"
                    } else {
                        "manual"
                    }
                } else {
                    "automated"
                };
                writeln!(
                    out,
                    "{:<idw$}  {:<10}  {}    {:<10}  {}",
                    d.id,
                    d.target.name(),
                    d.level,
                    mode,
                    d.title
                )?;
                if d.manual {
                    writeln!(out, "{:<idw$}  {}", "", d.manual_reason)?;
                }
            }
            let automated = defs.iter().filter(|d| !d.manual).count();
            writeln!(
                out,
                "\n{} checks: {automated} automated, {} manual or live-only",
                defs.len(),
                defs.len() - automated
            )
        }
    })
}
