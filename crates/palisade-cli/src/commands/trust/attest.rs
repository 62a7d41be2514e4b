//! `palisade attest`: sign an in-toto statement about an image (cosign's `attest --key`), stored
//! in cosign's `sha256-<hex>.att` layout or as a Sigstore bundle referrer; and the attestation
//! lines of `palisade verify`. The logic lives in `palisade_trust::attest`.

use std::io::{self, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use palisade_image::{Digest, Reference, RegistryClient, RegistryOptions};
use palisade_trust::attest::{
    AttestLayout, AttestationReport, attest_image, predicate_type_uri, verify_digest_attestations,
};
use palisade_trust::keys::PrivateKey;
use palisade_trust::verify::VerifyOptions;

/// Largest predicate file read.
const MAX_PREDICATE_FILE: u64 = 512 << 10;
/// Largest private key file read.
const MAX_KEY_FILE: u64 = 64 << 10;

#[derive(Args, Debug)]
pub(crate) struct AttestArgs {
    /// The image in a registry: `[registry:]HOST[:PORT]/REPO[:TAG][@DIGEST]`. It is resolved
    /// to a digest once; the statement's subject is that digest.
    reference: String,

    /// The private key (cosign's encrypted PEM, or unencrypted PKCS#8). Its passphrase comes
    /// from PALISADE_PASSWORD, else COSIGN_PASSWORD, else a prompt.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// The predicate: a JSON file (e.g. SLSA provenance), signed into the statement as is.
    #[arg(long, value_name = "FILE")]
    predicate: PathBuf,

    /// The predicate type, as cosign names it: slsaprovenance (v0.2), slsaprovenance1,
    /// spdxjson, cyclonedx, vuln, openvex, link, custom; or a predicate type URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    predicate_type: String,

    /// Store a Sigstore bundle v0.3 (DSSE) as an OCI 1.1 referrer (cosign v3's default)
    /// instead of a layer of the `sha256-<hex>.att` tag; on a registry without the referrers
    /// API it is listed in the `sha256-<hex>` fallback index.
    #[arg(long)]
    bundle_referrer: bool,

    /// Registry host (`host[:port]`) that may be reached over plain HTTP (loopback always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,

    /// Extra CA certificates (PEM) to trust for registries, on top of the system roots.
    #[arg(long, value_name = "FILE", env = "PALISADE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

fn read_bounded(path: &std::path::Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    palisade_trust::read_trust_file(path, limit).with_context(|| format!("reading the {what}"))
}

pub(crate) fn run(args: &AttestArgs) -> Result<u8> {
    let text = args
        .reference
        .strip_prefix("registry:")
        .unwrap_or(&args.reference);
    let reference: Reference = text
        .parse()
        .with_context(|| format!("{text:?} is not an image reference"))?;
    let predicate_type = predicate_type_uri(&args.predicate_type)?;
    let predicate = read_bounded(&args.predicate, MAX_PREDICATE_FILE, "predicate")?;
    let pem = String::from_utf8(read_bounded(&args.key, MAX_KEY_FILE, "key")?)
        .with_context(|| format!("{} is not a PEM text file", args.key.display()))?;
    let password = if pem.contains("-----BEGIN ENCRYPTED") {
        crate::secret::passphrase(false)?
    } else {
        String::new()
    };
    let key = PrivateKey::from_pem(&pem, password.as_bytes(), &args.key.display().to_string())?;
    let options = RegistryOptions {
        insecure: args.insecure_registry.clone(),
        ca_file: args.ca_file.clone(),
        ..RegistryOptions::default()
    };
    let client = RegistryClient::new(reference.registry(), &options)?;
    let layout = if args.bundle_referrer {
        AttestLayout::BundleReferrer
    } else {
        AttestLayout::AttTag
    };
    let done = attest_image(
        &client,
        &reference,
        &key,
        &predicate,
        &predicate_type,
        layout,
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Attested {} ({}) with {}, stored at {}",
        done.image,
        done.predicate_type,
        key.public_key().fingerprint(),
        done.stored_at
    )?;
    if let Some(note) = &done.note {
        writeln!(out, "  note  {note}")?;
    }
    out.flush()?;
    Ok(crate::exit::OK)
}

/// The attestations of the digest `palisade verify` verified (registry images), keeping only
/// those of `wanted` type (a cosign type name or URI) when given.
pub(crate) fn for_verify(
    client: &RegistryClient,
    reference: &Reference,
    digest: &str,
    options: &VerifyOptions,
    wanted: Option<&str>,
) -> Result<Vec<AttestationReport>> {
    let digest: Digest = digest
        .parse()
        .with_context(|| format!("{digest:?} is not a digest"))?;
    let wanted = wanted.map(predicate_type_uri).transpose()?;
    if options.keys.is_empty() && options.certificate_identities.is_empty() {
        // Verifying with GPG, Notary or Notation only: nothing to check attestations with.
        return Ok(Vec::new());
    }
    let reports = verify_digest_attestations(client, reference, &digest, options)?;
    Ok(of_type(reports, wanted.as_deref()))
}

/// The attestations of the image of a local layout (`palisade verify --local-image`).
pub(crate) fn for_local(
    root: &std::path::Path,
    tag: Option<&str>,
    options: &VerifyOptions,
    wanted: Option<&str>,
) -> Result<Vec<AttestationReport>> {
    let wanted = wanted.map(predicate_type_uri).transpose()?;
    if options.keys.is_empty() && options.certificate_identities.is_empty() {
        return Ok(Vec::new());
    }
    let reports = palisade_trust::attest::verify_local_attestations(root, tag, options)?;
    Ok(of_type(reports, wanted.as_deref()))
}

/// Only the attestations of type `wanted` (a URI); an unverified one by its claimed type.
fn of_type(mut reports: Vec<AttestationReport>, wanted: Option<&str>) -> Vec<AttestationReport> {
    if let Some(wanted) = wanted {
        reports.retain(|r| match &r.verified {
            Some(v) => v.predicate_type == wanted,
            None => r.claimed_type.as_deref().is_none_or(|t| t == wanted),
        });
    }
    reports
}

/// Adds `attestations` to the JSON of a verification.
pub(crate) fn with_attestations(
    verification: &impl serde::Serialize,
    attestations: &[AttestationReport],
) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(verification)?;
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "attestations".to_owned(),
            serde_json::to_value(attestations)?,
        );
    } else {
        bail!("the verification is not a JSON object");
    }
    Ok(value)
}

/// The table lines for attestations: a separate list after the signatures.
pub(crate) fn write_table(out: &mut impl io::Write, reports: &[AttestationReport]) -> Result<()> {
    if reports.is_empty() {
        return Ok(());
    }
    writeln!(out, "Attestations:")?;
    for r in reports {
        match (&r.verified, &r.reason) {
            (Some(v), _) => {
                let mut line = format!(
                    "  ok    {}: {} signed by {} ({})",
                    r.source, v.predicate_type, v.signer, v.kind
                );
                if let Some(issuer) = &v.issuer {
                    line.push_str(&format!(" (issuer {issuer})"));
                }
                if let Some(index) = v.rekor_log_index {
                    line.push_str(&format!(", Rekor entry {index}"));
                }
                writeln!(out, "{line}")?;
                if let Some(why) = &v.predicate_omitted {
                    writeln!(out, "          predicate not kept: {why}")?;
                }
            }
            (None, reason) => writeln!(
                out,
                "  FAIL  {}{}: {}",
                r.source,
                r.claimed_type
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default(),
                reason.as_deref().unwrap_or("not accepted")
            )?,
        }
    }
    Ok(())
}
