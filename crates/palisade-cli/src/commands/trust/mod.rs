//! `palisade key generate`, `palisade sign` and `palisade verify`: cosign-compatible
//! signatures in registries (keyed, keyless against an offline trust root, Sigstore bundles),
//! and in local OCI image layouts (`verify --local-image`). The logic lives in
//! `palisade-trust`; this module reads flags, passphrases and key files, and prints results.
//!
//! Exit codes of `verify`: 0 verified, 1 not verified (no signature accepted), 2 error.

pub(crate) mod attest;
pub(crate) mod gpg;
pub(crate) mod notary;
pub(crate) mod notation;

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use palisade_image::{Reference, RegistryClient, RegistryOptions, SourceSpec};
use palisade_trust::keyless::IdentityPolicy;
use palisade_trust::keys::{NamedKey, PrivateKey};
use palisade_trust::payload::IdentityMatch;
use palisade_trust::trust_root::TrustRoot;
use palisade_trust::verify::{VerifyOptions, verify_image, verify_local_image};

/// Exit code of `verify` when no signature was accepted.
const NOT_VERIFIED: u8 = 1;

#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Generate an ECDSA P-256 key pair: PREFIX.key (encrypted as cosign does) and PREFIX.pub.
    ///
    /// The passphrase comes from PALISADE_PASSWORD, else COSIGN_PASSWORD, else a prompt on the
    /// terminal (an empty passphrase is allowed, as with cosign).
    Generate {
        /// Where to write the keys: PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX", default_value = "cosign")]
        output_prefix: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
pub(crate) struct RegistryArgs {
    /// Registry host (`host[:port]`) that may be reached over plain HTTP (loopback always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,

    /// Extra CA certificates (PEM) to trust for registries, on top of the system roots.
    #[arg(long, value_name = "FILE", env = "PALISADE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// The image in a registry: `[registry:]HOST[:PORT]/REPO[:TAG][@DIGEST]`. It is resolved
    /// to a digest once; the signature is for that digest.
    reference: String,

    /// The private key (cosign's encrypted PEM, or unencrypted PKCS#8). Its passphrase comes
    /// from PALISADE_PASSWORD, else COSIGN_PASSWORD, else a prompt.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "notation_key",
        conflicts_with = "notation_key"
    )]
    key: Option<PathBuf>,

    #[command(flatten)]
    notation: notation::NotationSignArgs,

    /// An annotation to sign into the payload (`key=value`, repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,

    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum VerifyFormat {
    /// Lines for people.
    Table,
    /// JSON: reference, digest, verdict and every signature with its signer or reason.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum IdentityArg {
    /// Same repository; a tag in the signed identity must equal the tag verified.
    RepoDigestOrExact,
    /// Same repository, tags ignored.
    Repository,
    /// Do not check the signed identity (e.g. an image copied to a mirror).
    Ignore,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("image").required(true).args(["reference", "local_image"])))]
pub(crate) struct VerifyArgs {
    /// The image in a registry: `[registry:]HOST[:PORT]/REPO[:TAG][@DIGEST]`. A tag is
    /// resolved once; the answer names the digest that was verified.
    reference: Option<String>,

    /// Verify an image in a local OCI image layout instead of a registry (cosign's
    /// --local-image): `PATH` or `PATH:TAG` (also `oci-dir:PATH[:TAG]`), as written by `cosign
    /// save` or by `skopeo copy … oci:PATH:TAG` with the `sha256-<hex>.sig` object copied
    /// alongside. The signed identity (docker-reference) is reported, not checked: a layout has
    /// no registry name to match it against.
    #[arg(long, value_name = "PATH[:TAG]", conflicts_with_all = ["reference", "identity"])]
    local_image: Option<String>,

    /// A trusted public key (PEM). Repeatable: any one of them suffices.
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,

    /// A directory of trusted public keys (*.pub, *.pem); any one of them suffices.
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,

    /// A GPG keyring (`gpg --export [--armor]`) trusted for containers/image "simple signing"
    /// signatures (podman, skopeo, CRI-O); repeatable. They are read from lookaside storage
    /// (--registries-d, --lookaside) and the registry's signature extension API.
    #[arg(long, value_name = "FILE")]
    gpg_keyring: Vec<PathBuf>,

    /// A containers registries.d directory (YAML, `lookaside:` per registry or namespace)
    /// saying where GPG signatures are stored.
    #[arg(long, value_name = "DIR", requires = "gpg_keyring")]
    registries_d: Option<PathBuf>,

    /// The lookaside base URL (`file://` or `http(s)://`) of GPG signatures, instead of
    /// --registries-d.
    #[arg(long, value_name = "URL", requires = "gpg_keyring")]
    lookaside: Option<String>,

    /// An annotation each accepted signature must carry (`key=value`, repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    annotations: Vec<String>,

    /// Keyless: the certificate identity (SAN: e-mail, URI) that must have signed, exactly.
    #[arg(long, value_name = "IDENTITY")]
    certificate_identity: Option<String>,

    /// Keyless: a regular expression the certificate identity must match (not anchored, as
    /// cosign: write ^…$ to match the whole value).
    #[arg(long, value_name = "REGEX")]
    certificate_identity_regexp: Option<String>,

    /// Keyless: the OIDC issuer recorded in the certificate, exactly.
    #[arg(long, value_name = "URL")]
    certificate_oidc_issuer: Option<String>,

    /// Keyless: a regular expression the certificate's OIDC issuer must match (not anchored).
    #[arg(long, value_name = "REGEX")]
    certificate_oidc_issuer_regexp: Option<String>,

    /// A Sigstore trusted_root.json (Fulcio CAs, Rekor keys, timestamp authorities). Read
    /// from this file only; nothing is fetched. Needed for keyless signatures, Sigstore
    /// bundles and checking the Rekor bundle of keyed signatures.
    #[arg(long, value_name = "FILE", conflicts_with = "ca_roots")]
    trusted_root: Option<PathBuf>,

    /// PEM root certificates trusted for keyless signatures (cosign's --ca-roots), instead of
    /// --trusted-root.
    #[arg(long, value_name = "FILE")]
    ca_roots: Option<PathBuf>,

    /// PEM intermediate certificates under --ca-roots.
    #[arg(long, value_name = "FILE", requires = "ca_roots")]
    ca_intermediates: Option<PathBuf>,

    /// A Rekor public key (PEM), with --ca-roots.
    #[arg(long, value_name = "FILE", requires = "ca_roots")]
    rekor_key: Option<PathBuf>,

    /// How the signed identity (`docker-reference`) must match REFERENCE (registry images
    /// only).
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        default_value = "repo-digest-or-exact"
    )]
    identity: IdentityArg,

    /// Show only attestations of this predicate type (cosign's names: slsaprovenance,
    /// slsaprovenance1, spdxjson, cyclonedx, vuln, custom, …; or a URI).
    #[arg(long = "type", value_name = "TYPE")]
    attestation_type: Option<String>,

    /// Output format.
    #[arg(
        long,
        short = 'f',
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    format: VerifyFormat,

    #[command(flatten)]
    notary: notary::NotaryArgs,

    #[command(flatten)]
    notation: notation::NotationVerifyArgs,

    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn key(args: &KeyArgs) -> Result<u8> {
    match &args.command {
        KeyCommand::Generate {
            output_prefix,
            force,
        } => generate(output_prefix, *force),
    }
}

fn generate(prefix: &Path, force: bool) -> Result<u8> {
    let key_path = with_suffix(prefix, "key");
    let pub_path = with_suffix(prefix, "pub");
    for p in [&key_path, &pub_path] {
        if p.exists() && !force {
            bail!("{} exists (use --force to overwrite)", p.display());
        }
    }
    let password = crate::secret::passphrase(true)?;
    let key = PrivateKey::generate_p256()?;
    let pem = key.to_encrypted_pem(password.as_bytes())?;
    write_file(&key_path, pem.as_bytes(), true)?;
    write_file(&pub_path, key.public_key().to_pem().as_bytes(), false)?;
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "Private key written to {}\nPublic key written to {}",
        key_path.display(),
        pub_path.display()
    )?;
    Ok(crate::exit::OK)
}

fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn parse_reference(text: &str) -> Result<Reference> {
    let text = text.strip_prefix("registry:").unwrap_or(text);
    text.parse::<Reference>()
        .with_context(|| format!("{text:?} is not an image reference"))
}

fn client(reference: &Reference, args: &RegistryArgs) -> Result<RegistryClient> {
    let options = RegistryOptions {
        insecure: args.insecure_registry.clone(),
        ca_file: args.ca_file.clone(),
        ..RegistryOptions::default()
    };
    Ok(RegistryClient::new(reference.registry(), &options)?)
}

fn parse_annotations(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("annotation {item:?} is not KEY=VALUE"),
        })
        .collect()
}

pub(crate) fn sign(args: &SignArgs) -> Result<u8> {
    let reference = parse_reference(&args.reference)?;
    if let Some(code) = notation::sign(
        &args.notation,
        &client(&reference, &args.registry)?,
        &reference,
    )? {
        return Ok(code);
    }
    let Some(key_path) = &args.key else {
        bail!("give --key (cosign) or --notation-key with --notation-cert (Notation)");
    };
    let annotations = parse_annotations(&args.annotations)?;
    let text = String::from_utf8(read_trust_file(key_path)?)
        .with_context(|| format!("{} is not a PEM text file", key_path.display()))?;
    let password = if text.contains("-----BEGIN ENCRYPTED") {
        crate::secret::passphrase(false)?
    } else {
        String::new()
    };
    let key = PrivateKey::from_pem(&text, password.as_bytes(), &key_path.display().to_string())?;
    let client = client(&reference, &args.registry)?;
    let signed = palisade_trust::sign::sign_image(&client, &reference, &key, &annotations)?;
    let mut out = io::stdout().lock();
    if signed.added {
        writeln!(
            out,
            "Signed {} with {} ({} signature(s) in {})",
            signed.image,
            key.public_key().fingerprint(),
            signed.signatures,
            signed.signature_manifest
        )?;
    } else {
        writeln!(
            out,
            "{} already carries this signature ({})",
            signed.image, signed.signature_manifest
        )?;
    }
    Ok(crate::exit::OK)
}

/// Largest trust material file read (trusted_root.json, PEM bundles).
const MAX_TRUST_FILE: u64 = 4 << 20;

fn read_trust_file(path: &Path) -> Result<Vec<u8>> {
    Ok(palisade_trust::read_trust_file(path, MAX_TRUST_FILE)?)
}

/// Reads a Sigstore `trusted_root.json`.
fn load_trust_root(path: &Path) -> Result<TrustRoot> {
    Ok(TrustRoot::from_file(path)?)
}

/// The trust root from --trusted-root or --ca-roots [--ca-intermediates] [--rekor-key].
fn trust_root(args: &VerifyArgs) -> Result<Option<TrustRoot>> {
    if let Some(path) = &args.trusted_root {
        return load_trust_root(path).map(Some);
    }
    let Some(roots) = &args.ca_roots else {
        return Ok(None);
    };
    let intermediates = args
        .ca_intermediates
        .as_deref()
        .map(read_trust_file)
        .transpose()?;
    let rekor = args.rekor_key.as_deref().map(read_trust_file).transpose()?;
    let root = TrustRoot::from_pem(
        &read_trust_file(roots)?,
        intermediates.as_deref(),
        rekor.as_deref(),
    )
    .with_context(|| format!("reading the CA roots {}", roots.display()))?;
    Ok(Some(root))
}

/// The keyless identity policy, if any identity flag was given; both halves are required.
fn identity_policy(args: &VerifyArgs) -> Result<Option<IdentityPolicy>> {
    let given = [
        &args.certificate_identity,
        &args.certificate_identity_regexp,
        &args.certificate_oidc_issuer,
        &args.certificate_oidc_issuer_regexp,
    ]
    .iter()
    .any(|f| f.is_some());
    if !given {
        return Ok(None);
    }
    Ok(Some(IdentityPolicy::from_flags(
        args.certificate_identity.as_deref(),
        args.certificate_identity_regexp.as_deref(),
        args.certificate_oidc_issuer.as_deref(),
        args.certificate_oidc_issuer_regexp.as_deref(),
    )?))
}

/// `--local-image PATH[:TAG]` (or `oci-dir:`/`oci:` prefixed) as a layout directory and tag.
fn parse_local_image(text: &str) -> Result<(PathBuf, Option<String>)> {
    let prefixed = if text.starts_with("oci-dir:") || text.starts_with("oci:") {
        text.to_owned()
    } else {
        format!("oci-dir:{text}")
    };
    match SourceSpec::parse(&prefixed)? {
        SourceSpec::OciDir { path, tag } => Ok((path, tag)),
        other => bail!("--local-image {text:?} is {other}, not an OCI image layout directory"),
    }
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<u8> {
    let mut keys = Vec::new();
    for path in &args.key {
        keys.push(NamedKey::from_file(path)?);
    }
    if let Some(dir) = &args.keys {
        keys.extend(NamedKey::from_dir(dir)?);
    }
    let identity = identity_policy(args)?;
    let root = trust_root(args)?;
    if identity.is_some() && root.is_none() {
        bail!(
            "--certificate-identity/--certificate-oidc-issuer need a trust root: \
             --trusted-root FILE, or --ca-roots FILE"
        );
    }
    let gpg = gpg::options(
        &args.gpg_keyring,
        args.registries_d.as_deref(),
        args.lookaside.as_deref(),
        &args.registry.insecure_registry,
        args.registry.ca_file.as_ref(),
    )?;
    let notary = args.notary.notary()?;
    if notary.is_some() && args.local_image.is_some() {
        bail!("--notary-server verifies a tag in a registry, not a --local-image");
    }
    if gpg.is_some() && args.local_image.is_some() {
        bail!(
            "--gpg-keyring checks GPG signatures in lookaside storage for a registry image, \
             not a --local-image"
        );
    }
    let notation = args.notation.verifier()?;
    if keys.is_empty()
        && identity.is_none()
        && gpg.is_none()
        && notary.is_none()
        && notation.is_none()
    {
        bail!(
            "nothing to verify with: give --key/--keys, or --certificate-identity[-regexp] \
             and --certificate-oidc-issuer[-regexp] with a trust root, or --gpg-keyring, or \
             --notary-server with --notary-root, or --notation-trust-policy with \
             --notation-trust-store"
        );
    }
    let options = VerifyOptions {
        trust_root: root,
        certificate_identities: identity.into_iter().collect(),
        keys,
        identity: match args.identity {
            IdentityArg::RepoDigestOrExact => IdentityMatch::RepoDigestOrExact,
            IdentityArg::Repository => IdentityMatch::Repository,
            IdentityArg::Ignore => IdentityMatch::Ignore,
        },
        annotations: parse_annotations(&args.annotations)?,
    };
    let attestations;
    let result = match (&args.local_image, &args.reference) {
        (Some(local), _) => {
            let (path, tag) = parse_local_image(local)?;
            let mut result = verify_local_image(&path, tag.as_deref(), &options)?;
            let (n, t) = (notation.as_ref(), tag.as_deref());
            notation::add_layout(&mut result, &args.notation, n, &path, t)?;
            attestations = attest::for_local(
                &path,
                tag.as_deref(),
                &options,
                args.attestation_type.as_deref(),
            )?;
            result
        }
        (None, Some(reference)) => {
            let reference = parse_reference(reference)?;
            let client = client(&reference, &args.registry)?;
            let mut result = verify_image(&client, &reference, &options)?;
            gpg::add_to(&mut result, &reference, gpg.as_ref(), options.identity)?;
            notation::add_registry(&mut result, notation.as_ref(), &client, &reference)?;
            if let Some(notary) = &notary {
                let r = notary::report(notary, &client, &reference, &result.digest);
                result.verified |= r.verified.is_some();
                result.signatures.push(r);
            }
            attestations = attest::for_verify(
                &client,
                &reference,
                &result.digest,
                &options,
                args.attestation_type.as_deref(),
            )?;
            result
        }
        (None, None) => bail!("give an image REFERENCE or --local-image PATH"),
    };
    let mut out = io::stdout().lock();
    match args.format {
        VerifyFormat::Json => {
            let json = attest::with_attestations(&result, &attestations)?;
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
        }
        VerifyFormat::Table => {
            let verdict = if result.verified {
                "VERIFIED"
            } else {
                "NOT VERIFIED"
            };
            writeln!(out, "{verdict} {} ({})", result.reference, result.digest)?;
            for s in &result.signatures {
                match (&s.verified, &s.reason) {
                    (Some(v), _) => {
                        let mut line =
                            format!("  ok    {}: {} signed by {}", s.source, v.kind, v.signer);
                        if let Some(issuer) = &v.issuer {
                            line.push_str(&format!(" (issuer {issuer})"));
                        }
                        if !v.key_fingerprint.is_empty() {
                            line.push_str(&format!(" ({})", v.key_fingerprint));
                        }
                        if !v.identity.is_empty() {
                            line.push_str(&format!(" for {}", v.identity));
                        }
                        if let Some(index) = v.rekor_log_index {
                            line.push_str(&format!(", Rekor entry {index}"));
                        }
                        if let Some(at) = v.signed_at {
                            line.push_str(&format!(" at {}", utc(at)));
                        }
                        writeln!(out, "{line}")?;
                        for (k, val) in &v.annotations {
                            writeln!(out, "          {k}={val}")?;
                        }
                    }
                    (None, reason) => writeln!(
                        out,
                        "  FAIL  {}: {}",
                        s.source,
                        reason.as_deref().unwrap_or("not accepted")
                    )?,
                }
            }
            attest::write_table(&mut out, &attestations)?;
            for note in &result.notes {
                writeln!(out, "  note  {note}")?;
            }
        }
    }
    out.flush()?;
    Ok(if result.verified {
        crate::exit::OK
    } else {
        NOT_VERIFIED
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (the number itself outside the years
/// 0000 to 9999).
fn utc(secs: i64) -> String {
    palisade_image::Timestamp::from_unix_seconds(secs)
        .map_or_else(|| secs.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_renders_epoch_seconds() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        // The ci-fulcio-rekor fixture's Rekor integrated time.
        assert_eq!(super::utc(1_674_247_893), "2023-01-20T20:51:33Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
