//! `palisade gate`: one decision (allow, warn or deny) for one image under one policy.
//!
//! The gate reads the policy, gathers only what it asks for (signatures, vulnerability
//! findings, image hardening results, and everything when it has Rego rules), builds the
//! documented input document, and lets `palisade-policy` decide. The decision JSON is the
//! stable document described in `docs/policy.md`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use palisade_catalog::Catalog;
use palisade_harden::check::TargetKind;
use palisade_harden::image::{ImageFacts, check_image};
use palisade_harden::report::Report as HardenReport;
use palisade_image::{Digest, Image, Reference, RegistryClient, RegistryOptions};
use palisade_policy::{
    CheckInput, CoverageInput, CvssInput, FindingInput, HardeningInput, ImageInput, Input, Keyless,
    NotCoveredInput, PackageInput, Policy, SbomInput, TrustInput, VulnInput,
};
use palisade_trust::keys::NamedKey;
use palisade_trust::payload::IdentityMatch;
use palisade_trust::verify::{VerifyOptions, verify_image};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::db::DbPathArgs;
use crate::scan::{VulnDb, scan_image};
use crate::{SourceArgs, catalog_image, exit, junit, open_image, output, sarif};

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
    #[arg(long, short = 'f', value_enum, default_value = "table")]
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
        Some(t) => normalise_now(t)?,
        None => crate::trust::utc(now_secs()),
    };
    let policy = Policy::load(&args.policy)?;
    let env = policy
        .environment(args.env.as_deref())
        .context("--env (or PALISADE_ENV)")?
        .to_owned();
    let input = gather(args, &policy, &env, &now)?;
    if let Some(path) = &args.write_input {
        let mut f = io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        output::json(&input, &mut f)?;
        f.flush()?;
    }
    let evaluation = policy
        .evaluate(&input)
        .with_context(|| format!("evaluating {}", args.policy.display()))?;
    let doc = serde_json::to_value(&evaluation.decision)?;

    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        GateFormat::Json => out.write_all(evaluation.decision.to_json().as_bytes())?,
        GateFormat::Table => {
            table(&doc, &mut out)?;
            if args.explain {
                writeln!(out, "\nEvaluation trace:")?;
                for line in &evaluation.trace {
                    writeln!(out, "  {line}")?;
                }
            }
        }
        GateFormat::Sarif => output::json(&to_sarif(&doc), &mut out)?,
        GateFormat::Junit => out.write_all(to_junit(&doc).as_bytes())?,
    }
    out.flush()?;
    if args.explain && args.format != GateFormat::Table {
        let mut err = io::stderr().lock();
        for line in &evaluation.trace {
            writeln!(err, "{line}")?;
        }
    }
    Ok(match doc["decision"].as_str() {
        Some("deny") => exit::DENY,
        _ => exit::OK,
    })
}

/// Builds the input document, running only the stages the policy needs.
fn gather(args: &GateArgs, policy: &Policy, env: &str, now: &str) -> Result<Input> {
    let needs = policy.needs(env);
    if crate::sbom_file(&args.source).is_some() {
        bail!(
            "{}: the gate needs the image itself (its configuration, signatures and files), \
             not an SBOM",
            args.source
        );
    }
    let image = open_image(&args.source, &args.source_args)?;
    // Only a registry says where an image came from. A layout's `ref.name` ("latest") or an
    // archive's `RepoTags` are words anyone can write: a local image is named by its path,
    // unless the caller vouches for its tag.
    let local = !matches!(
        palisade_image::SourceSpec::parse(&args.source),
        Ok(palisade_image::SourceSpec::Registry(_))
    );
    let reference = if local && !args.trust_local_tags {
        None
    } else {
        image
            .reference()
            .map(|r| {
                r.parse::<Reference>().with_context(|| {
                    format!("{r:?} (the image's own tag) is not an image reference")
                })
            })
            .transpose()?
    };
    if local && args.trust_local_tags && reference.is_none() {
        bail!(
            "{}: --trust-local-tags, but the image has no tag of its own to trust",
            args.source
        );
    }
    let config = image.config();
    let container = config.config.as_ref();
    let digest = image.manifest_digest().map(ToString::to_string);
    let image_input = ImageInput {
        reference: reference
            .as_ref()
            .map_or_else(|| image.source().to_owned(), ToString::to_string),
        registry: reference
            .as_ref()
            .map(|r| r.registry().to_owned())
            .unwrap_or_default(),
        repository: reference
            .as_ref()
            .map(|r| r.repository().to_owned())
            .unwrap_or_default(),
        tag: reference.as_ref().and_then(|r| r.tag().map(str::to_owned)),
        digest: digest.clone(),
        created: config.created.clone(),
        user: container.and_then(|c| c.user.clone()),
        os: Some(config.os.clone()).filter(|s| !s.is_empty()),
        architecture: Some(config.architecture.clone()).filter(|s| !s.is_empty()),
        labels: container.and_then(|c| c.labels.clone()).unwrap_or_default(),
        local,
        local_tags_trusted: local && args.trust_local_tags,
    };

    // Signature verification waits on the registry; the rest mostly on the CPU. Both run at
    // once, and the verification is of the digest just read, never of the tag again.
    let manifest_digest = image.manifest_digest().cloned();
    let (trust, local) = std::thread::scope(|scope| {
        let verifying = needs.trust.then(|| {
            scope.spawn(|| {
                verify_signatures(
                    args,
                    policy.keys(),
                    policy.keyless(),
                    reference.as_ref().filter(|_| !local),
                    manifest_digest,
                )
            })
        });
        let local = gather_local(args, policy, env, needs, &image);
        let trust = verifying.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (trust, local)
    });
    let trust = trust.transpose()?;
    let (vulnerabilities, sbom, hardening) = local?;

    Ok(Input {
        now: now.to_owned(),
        environment: env.to_owned(),
        image: image_input,
        trust,
        vulnerabilities,
        sbom,
        hardening,
    })
}

type Local = (Option<VulnInput>, Option<SbomInput>, Option<HardeningInput>);

/// What comes from the image and the local database: findings, the SBOM summary and the
/// hardening results, as the policy needs them.
fn gather_local(
    args: &GateArgs,
    policy: &Policy,
    env: &str,
    needs: palisade_policy::Needs,
    image: &Image,
) -> Result<Local> {
    // The catalog feeds the vulnerability scan and the SBOM summary.
    let (catalog, vulnerabilities) = if needs.vulnerabilities {
        let vulndb = VulnDb::new(args.db.path()?);
        let (catalog, evaluated) = scan_image(&vulndb, image, &args.source_args)?;
        let findings = evaluated
            .findings
            .into_iter()
            .map(|f| FindingInput {
                id: f.id,
                aliases: f.aliases,
                package: PackageInput {
                    name: f.package.name,
                    version: f.package.version,
                    r#type: f.package.kind,
                    purl: f.package.purl,
                },
                severity: f.severity.as_str().to_owned(),
                cvss: f.cvss.map(|c| CvssInput {
                    score: c.score,
                    vector: c.vector,
                }),
                status: f.status,
                fixed_versions: f.fixed_versions,
                kev: f.kev,
                epss: f.epss.map(|e| e.score),
            })
            .collect();
        let vulns = VulnInput {
            db_built: evaluated.db.built,
            findings,
            coverage: evaluated
                .coverage
                .into_iter()
                .map(|c| CoverageInput {
                    ecosystem: c.ecosystem,
                    packages: c.packages,
                    covered: c.covered,
                    advisories: c.advisories,
                    newest: c.newest,
                    reason: c.reason,
                })
                .collect(),
            not_covered: evaluated
                .not_covered
                .into_iter()
                .map(|n| NotCoveredInput {
                    name: n.name,
                    version: n.version,
                    r#type: n.kind,
                    purl: n.purl,
                    ecosystem: n.ecosystem,
                })
                .collect(),
        };
        (Some(catalog), Some(vulns))
    } else if needs.sbom {
        (Some(catalog_image(image, &args.source_args)?), None)
    } else {
        (None, None)
    };
    let sbom = catalog.as_ref().map(sbom_summary);

    let hardening = if needs.hardening {
        Some(harden(args, policy, env, image)?)
    } else {
        None
    };
    Ok((vulnerabilities, sbom, hardening))
}

fn sbom_summary(catalog: &Catalog) -> SbomInput {
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for p in &catalog.packages {
        *by_type.entry(p.ecosystem.as_str().to_owned()).or_default() += 1;
    }
    SbomInput {
        packages: catalog.packages.len(),
        by_type,
        distro: catalog
            .distro
            .as_ref()
            .map(|d| d.pretty_name.clone().unwrap_or_else(|| d.purl_qualifier())),
    }
}

/// Verifies the image's signatures with the policy's keys and keyless identities, for the
/// digest that was read (not the tag again), and names the signers that verified.
fn verify_signatures(
    args: &GateArgs,
    keys: &BTreeMap<String, PathBuf>,
    keyless: &BTreeMap<String, Keyless>,
    reference: Option<&Reference>,
    digest: Option<Digest>,
) -> Result<TrustInput> {
    let (Some(reference), Some(digest)) = (reference, digest) else {
        // A local image: nothing was looked up, and nothing failed (the input says `local`).
        return Ok(TrustInput::default());
    };
    let pinned = reference.with_digest(digest);
    let options = RegistryOptions {
        insecure: args.source_args.insecure_registry.clone(),
        ca_file: args.source_args.ca_file.clone(),
        ..RegistryOptions::default()
    };
    let client = RegistryClient::new(reference.registry(), &options)?;
    let mut runs: Vec<(Option<String>, VerifyOptions)> = Vec::new();
    let keys = keys
        .iter()
        .map(|(name, path)| {
            NamedKey::from_file(path)
                .map(|k| NamedKey {
                    name: name.clone(),
                    key: k.key,
                })
                .with_context(|| format!("policy key {name:?} ({})", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    if !keys.is_empty() {
        runs.push((
            None,
            VerifyOptions {
                keys,
                identity: IdentityMatch::RepoDigestOrExact,
                ..VerifyOptions::default()
            },
        ));
    }
    for (name, keyless) in keyless {
        let Some(root_path) = &keyless.trusted_root else {
            bail!(
                "policy keyless identity {name:?} has no `trusted_root`: keyless signatures are \
                 verified offline against a trust root file"
            );
        };
        let root = crate::trust::load_trust_root(root_path)
            .with_context(|| format!("policy keyless identity {name:?}"))?;
        let identity = palisade_trust::keyless::IdentityPolicy::from_flags(
            (!keyless.identity_regexp).then_some(keyless.identity.as_str()),
            keyless.identity_regexp.then_some(keyless.identity.as_str()),
            Some(keyless.issuer.as_str()),
            None,
        )
        .with_context(|| format!("policy keyless identity {name:?}"))?;
        runs.push((
            Some(name.clone()),
            VerifyOptions {
                trust_root: Some(root),
                certificate_identities: vec![identity],
                identity: IdentityMatch::RepoDigestOrExact,
                ..VerifyOptions::default()
            },
        ));
    }
    let mut signers = std::collections::BTreeSet::new();
    let mut errors = std::collections::BTreeSet::new();
    let mut signatures = 0;
    for (name, options) in &runs {
        let result = verify_image(&client, &pinned, options)
            .with_context(|| format!("verifying the signatures of {pinned}"))?;
        signatures = signatures.max(result.signatures.len());
        for s in &result.signatures {
            match (&s.verified, &s.reason) {
                (Some(v), _) => {
                    signers.insert(name.clone().unwrap_or_else(|| v.signer.clone()));
                }
                (None, Some(reason)) => {
                    errors.insert(format!("{}: {reason}", s.source));
                }
                (None, None) => {}
            }
        }
    }
    Ok(TrustInput {
        signers: signers.into_iter().collect(),
        signatures,
        errors: errors.into_iter().collect(),
    })
}

/// Image hardening results under the policy's profile, cached by image and profile: the files
/// of every layer are read once per image, not once per gate.
fn harden(args: &GateArgs, policy: &Policy, env: &str, image: &Image) -> Result<HardeningInput> {
    let profile = policy.hardening_profile(env).unwrap_or_default();
    let cache = cache_path(args, image, &format!("{profile:?}"));
    if let Some(path) = &cache
        && let Some(hit) = read_cached(path)
    {
        return Ok(hit);
    }
    let facts = ImageFacts::from_image(image, &args.source)?;
    let report = HardenReport::new(
        TargetKind::Image,
        args.source.clone(),
        check_image(&facts, &profile),
        &profile,
    );
    let results = report
        .results
        .iter()
        .map(|r| {
            let def = report.def(r);
            CheckInput {
                id: r.id.to_owned(),
                title: def.map(|d| d.title.to_owned()).unwrap_or_default(),
                status: serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                level: def.map_or(1, |d| d.level.number()),
                message: r
                    .evidence
                    .iter()
                    .map(|e| e.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                remediation: def.map(|d| d.remediation.to_owned()).unwrap_or_default(),
            }
        })
        .collect();
    let out = HardeningInput { results };
    if let Some(path) = &cache
        && let Err(err) = write_cached(path, &out)
    {
        writeln!(
            io::stderr(),
            "warning: hardening cache not written: {err:#}"
        )?;
    }
    Ok(out)
}

/// Largest hardening cache entry read.
const MAX_HARDEN_ENTRY: u64 = 8 << 20;

/// `<cache>/gate/<sha256>.json`, keyed by the binary version, the config and layer digests
/// (checked when the image was opened) and the profile; none for sources without digests.
fn cache_path(args: &GateArgs, image: &Image, profile: &str) -> Option<PathBuf> {
    if args.source_args.no_cache {
        return None;
    }
    let config = image.config_digest()?;
    let root = args
        .source_args
        .cache_dir
        .clone()
        .or_else(palisade_catalog::LayerCache::default_dir)?;
    let mut h = Sha256::new();
    h.update(format!(
        "palisade {} gate hardening 1\nconfig {config}\n",
        env!("CARGO_PKG_VERSION")
    ));
    for l in image.layers() {
        h.update(format!("layer {:?}\n", l.diff_id));
    }
    h.update(format!("source {}\nprofile {profile}\n", args.source));
    Some(
        root.join("gate")
            .join(format!("{}.json", hex::encode(h.finalize()))),
    )
}

fn read_cached(path: &Path) -> Option<HardeningInput> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_HARDEN_ENTRY + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_HARDEN_ENTRY {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

fn write_cached(path: &Path, value: &HardeningInput) -> Result<()> {
    let dir = path.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, value)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `--now`: RFC 3339 (`2026-11-28T12:00:00Z`) or a date (midnight UTC).
fn normalise_now(text: &str) -> Result<String> {
    let t = text.trim();
    let date_ok = |d: &str| {
        d.len() == 10
            && d.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    if date_ok(t) {
        let midnight = format!("{t}T00:00:00Z");
        if palisade_vulndb::Timestamp::parse(&midnight).is_ok() {
            return Ok(midnight);
        }
    }
    if t.len() >= 20
        && date_ok(&t[..10])
        && t.as_bytes()[10] == b'T'
        && t.ends_with('Z')
        && palisade_vulndb::Timestamp::parse(t).is_ok()
    {
        return Ok(t.to_owned());
    }
    bail!(
        "--now {text:?}: expected YYYY-MM-DD or an RFC 3339 UTC time such as 2026-11-28T12:00:00Z"
    )
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn table(doc: &Value, out: &mut dyn Write) -> io::Result<()> {
    let decision = s(doc, "decision").to_ascii_uppercase();
    let image = &doc["image"];
    writeln!(
        out,
        "{decision}  {}{}",
        s(image, "reference"),
        image
            .get("digest")
            .and_then(Value::as_str)
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )?;
    let policy = &doc["policy"];
    writeln!(
        out,
        "policy {} (environment {})",
        policy
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)"),
        s(doc, "environment")
    )?;
    let reasons = doc["reasons"].as_array().map_or(&[][..], Vec::as_slice);
    if reasons.is_empty() {
        writeln!(
            out,
            "\nNo reason to refuse: every section the policy sets passed."
        )?;
    }
    let mut section = "";
    for r in reasons {
        if s(r, "section") != section {
            section = s(r, "section");
            writeln!(out, "\n{section}")?;
        }
        writeln!(
            out,
            "  {:<8} {:<22} {}",
            s(r, "effect").to_ascii_uppercase(),
            s(r, "code"),
            s(r, "message")
        )?;
        if let Some(fix) = r
            .get("fix")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        {
            writeln!(out, "  {:<8} {:<22} fix: {fix}", "", "")?;
        }
        if let Some(e) = r.get("exception").filter(|e| e.is_object()) {
            writeln!(
                out,
                "  {:<8} {:<22} exception {} ({}, expires {})",
                "",
                "",
                s(e, "name"),
                s(e, "status"),
                s(e, "expires")
            )?;
        }
    }
    if let Some(exceptions) = doc["exceptions"].as_array().filter(|e| !e.is_empty()) {
        writeln!(out, "\nexceptions")?;
        for e in exceptions {
            writeln!(
                out,
                "  {:<8} {} (approved by {}, expires {}): {}",
                s(e, "status"),
                s(e, "name"),
                s(e, "approved_by"),
                s(e, "expires"),
                s(e, "reason")
            )?;
        }
    }
    let summary = &doc["summary"];
    writeln!(
        out,
        "\n{decision}: {} deny, {} warn, {} excepted",
        summary["deny"], summary["warn"], summary["excepted"]
    )
}

fn sarif_level(effect: &str) -> &'static str {
    match effect {
        "deny" => "error",
        "warn" => "warning",
        _ => "note",
    }
}

/// SARIF 2.1.0: one rule per reason code, one result per reason; excepted reasons carry a
/// suppression naming the exception.
fn to_sarif(doc: &Value) -> Value {
    let reasons = doc["reasons"].as_array().map_or(&[][..], Vec::as_slice);
    let mut codes: Vec<&str> = reasons.iter().map(|r| s(r, "code")).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            json!({
                "id": c,
                "name": c.replace('-', "_"),
                "shortDescription": {"text": format!("palisade gate: {c}")},
                "helpUri": format!("{}/blob/main/docs/policy.md#reason-codes", sarif::information_uri()),
            })
        })
        .collect();
    let target = s(&doc["image"], "reference");
    let location = sarif::image_location(target);
    let results: Vec<Value> = reasons
        .iter()
        .map(|r| {
            let code = s(r, "code");
            let mut text = s(r, "message").to_owned();
            if let Some(fix) = r
                .get("fix")
                .and_then(Value::as_str)
                .filter(|f| !f.is_empty())
            {
                text.push_str(&format!(" Fix: {fix}"));
            }
            let mut res = json!({
                "ruleId": code,
                "ruleIndex": codes.iter().position(|c| *c == code),
                "level": sarif_level(s(r, "effect")),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": location,
                    "logicalLocations": [{"name": target, "kind": "resource"}],
                }],
                "properties": {
                    "effect": s(r, "effect"),
                    "section": s(r, "section"),
                    "subject": r.get("subject").cloned().unwrap_or(Value::Null),
                },
            });
            if let Some(e) = r.get("exception").filter(|e| s(e, "status") == "applied") {
                res["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": format!("exception {}: {} (approved by {}, expires {})",
                        s(e, "name"), s(e, "reason"), s(e, "approved_by"), s(e, "expires")),
                }]);
            }
            res
        })
        .collect();
    sarif::log(
        rules,
        results,
        json!({
            "decision": doc["decision"],
            "environment": doc["environment"],
            "image": doc["image"],
            "policy": doc["policy"],
        }),
    )
}

/// JUnit XML: a failing test case per deny reason, a skipped one per warn or excepted
/// reason (with the text), and a passing one per evaluated section without deny reasons.
fn to_junit(doc: &Value) -> String {
    use std::fmt::Write as _;
    let reasons = doc["reasons"].as_array().map_or(&[][..], Vec::as_slice);
    let mut cases = Vec::new();
    for r in reasons {
        let name = format!("{} {}", s(r, "code"), subject_name(r));
        let mut body = s(r, "message").to_owned();
        if let Some(fix) = r
            .get("fix")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        {
            body.push_str(&format!("\nfix: {fix}"));
        }
        let inner = match s(r, "effect") {
            "deny" => format!(
                "<failure message=\"{}\" type=\"{}\">{}</failure>",
                junit::escape(s(r, "message")),
                junit::escape(s(r, "code")),
                junit::escape(&body)
            ),
            effect => format!(
                "<skipped message=\"{}: {}\"/>",
                effect,
                junit::escape(&body)
            ),
        };
        cases.push((s(r, "section").to_owned(), name, inner));
    }
    if let Some(evaluated) = doc["evaluated"].as_object() {
        for (section, on) in evaluated {
            let ran = on.as_bool().unwrap_or(false) || on.as_u64().is_some_and(|n| n > 0);
            let denied = reasons
                .iter()
                .any(|r| s(r, "section") == section && s(r, "effect") == "deny");
            if ran && !denied {
                cases.push((section.clone(), format!("{section} passed"), String::new()));
            }
        }
    }
    let failures = cases.iter().filter(|c| c.2.starts_with("<failure")).count();
    let skipped = cases.iter().filter(|c| c.2.starts_with("<skipped")).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!(
        "palisade gate {} ({})",
        s(&doc["image"], "reference"),
        s(doc, "environment")
    );
    let _ = writeln!(
        xml,
        "<testsuites name=\"palisade\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        junit::escape(&suite),
        cases.len()
    );
    for (class, name, inner) in &cases {
        if inner.is_empty() {
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\"/>",
                junit::escape(class),
                junit::escape(name)
            );
        } else {
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\">{inner}</testcase>",
                junit::escape(class),
                junit::escape(name)
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// A short name for a reason's subject: the advisory and package, the check, or the rule.
fn subject_name(r: &Value) -> String {
    let subject = &r["subject"];
    let parts: Vec<&str> = ["advisory", "package", "version", "check", "signer", "rule"]
        .iter()
        .filter_map(|k| subject.get(*k).and_then(Value::as_str))
        .collect();
    if parts.is_empty() {
        s(r, "rule").to_owned()
    } else {
        parts.join(" ")
    }
}
