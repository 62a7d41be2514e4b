//! Docker Content Trust (Notary v1): `palisade verify IMAGE --notary-server URL --notary-root
//! PIN` adds the tag's Notary signature to the report, and `palisade trust migrate` verifies
//! every DCT-signed tag of a repository and signs the same digest with a cosign key, so
//! images can leave Notary v1 (retired; notary.docker.io shuts down on 2026-12-08). The logic
//! lives in `palisade_trust::notary`; this module reads flags and prints results.
//!
//! Exit codes of `trust migrate`: 0 every tag migrated, 1 some tag refused (each one is
//! reported with its reason), 2 error (the collection itself refused, bad flags).

use std::io::{self, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use palisade_image::{HttpOptions, Reference, RegistryClient, RegistryOptions};
use palisade_trust::cosign::VerifiedSignature;
use palisade_trust::keys::PrivateKey;
use palisade_trust::notary::{Notary, NotaryVerified, RootPin, gun_of, verify_in};
use palisade_trust::verify::SignatureReport;
use serde_json::json;

/// Largest cosign key file read.
const MAX_KEY_FILE: u64 = 1 << 20;

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct NotaryArgs {
    /// A Notary v1 server (Docker Content Trust) to verify the tag against:
    /// `https://HOST[:PORT]` (plain http:// only on loopback). Needs --notary-root.
    #[arg(long, value_name = "URL", requires = "notary_root")]
    pub(crate) notary_server: Option<String>,

    /// The collection's pinned root of trust: `sha256:<hex>`, the SHA-256 of a root.json you
    /// exported and checked (e.g. `sha256sum ~/.docker/trust/tuf/<gun>/metadata/root.json`),
    /// or `key:<hex>`, a root key ID from root.json's `roles.root.keyids`. Trust on first use
    /// is never accepted.
    #[arg(long, value_name = "PIN", requires = "notary_server")]
    pub(crate) notary_root: Option<String>,

    /// Where the highest Notary metadata versions seen are kept, so older metadata is refused
    /// as a rollback [default: $PALISADE_CACHE_DIR/notary, else
    /// $XDG_CACHE_HOME/palisade/notary, else ~/.cache/palisade/notary].
    #[arg(long, value_name = "DIR", env = "PALISADE_NOTARY_STATE_DIR")]
    pub(crate) notary_state_dir: Option<PathBuf>,

    /// Extra CA certificates (PEM) to trust for the Notary server.
    #[arg(long, value_name = "FILE")]
    pub(crate) notary_ca_file: Option<PathBuf>,
}

impl NotaryArgs {
    /// The Notary client, when asked for.
    pub(crate) fn notary(&self) -> Result<Option<Notary>> {
        let (Some(server), Some(pin)) = (&self.notary_server, &self.notary_root) else {
            return Ok(None);
        };
        let pin: RootPin = pin.parse()?;
        let state = match &self.notary_state_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("PALISADE_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(palisade_catalog::LayerCache::default_dir)
                .context(
                    "no directory for the Notary version state: pass --notary-state-dir, or set \
                     PALISADE_CACHE_DIR, XDG_CACHE_HOME or HOME",
                )?
                .join("notary"),
        };
        let http = HttpOptions {
            ca_file: self.notary_ca_file.clone(),
            ..HttpOptions::default()
        };
        Ok(Some(Notary::new(server, pin, &state, &http)?))
    }
}

/// The Notary outcome for `reference` as one more signature of the report: verified when the
/// collection verifies, the tag is signed, and the registry serves the signed manifest with
/// the digest `resolved` (the one the other signatures were checked for).
pub(crate) fn report(
    notary: &Notary,
    client: &RegistryClient,
    reference: &Reference,
    resolved: &str,
) -> SignatureReport {
    let gun = gun_of(reference);
    let source = format!("notary {} {gun}", notary.server());
    let outcome = notary
        .collection(&gun)
        .and_then(|c| verify_in(&c, client, reference))
        .map_err(|e| e.to_string())
        .and_then(|v| {
            if v.digest == resolved {
                Ok(v)
            } else {
                Err(format!(
                    "Notary signed {} for the tag, but {resolved} was resolved and verified: \
                     the tag moved during verification; verify again",
                    v.digest
                ))
            }
        });
    match outcome {
        Ok(v) => SignatureReport {
            source,
            verified: Some(as_signature(&v)),
            reason: None,
        },
        Err(reason) => SignatureReport {
            source,
            verified: None,
            reason: Some(reason),
        },
    }
}

fn as_signature(v: &NotaryVerified) -> VerifiedSignature {
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert("notary.role".to_owned(), v.role.clone());
    annotations.insert("notary.tag".to_owned(), v.tag.clone());
    annotations.insert(
        "notary.versions".to_owned(),
        v.versions
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    VerifiedSignature {
        kind: format!("notary {}", v.role),
        signer: v.signer.clone(),
        key_fingerprint: v.key_ids.join(","),
        identity: String::new(),
        digest: v.digest.clone(),
        annotations,
        issuer: None,
        issued_by: None,
        signed_at: None,
        rekor_log_index: None,
    }
}

#[derive(Args, Debug)]
pub(crate) struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(Subcommand, Debug)]
enum TrustCommand {
    /// Move a repository off Docker Content Trust: verify each DCT-signed tag in Notary, check
    /// the registry serves the signed digest, and sign that digest with a cosign key. Prints
    /// one JSON record per tag (verified role, digest, versions, the cosign signature).
    ///
    /// Exit codes: 0 every tag migrated, 1 some tag refused (with its reason), 2 error.
    Migrate(MigrateArgs),
}

#[derive(Args, Debug)]
struct MigrateArgs {
    /// The repository: `HOST[:PORT]/REPO` (no tag); its collection (GUN) is the same name.
    repository: String,

    /// The cosign private key to sign with (cosign's encrypted PEM, or unencrypted PKCS#8);
    /// its passphrase comes from PALISADE_PASSWORD, else COSIGN_PASSWORD, else a prompt.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// Migrate only these tags (repeatable) [default: every signed tag].
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,

    #[command(flatten)]
    notary: NotaryArgs,

    /// Registry host (`host[:port]`) that may be reached over plain HTTP (loopback always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,

    /// Extra CA certificates (PEM) to trust for the registry.
    #[arg(long, value_name = "FILE", env = "PALISADE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

pub(crate) fn run(args: &TrustArgs) -> Result<u8> {
    match &args.command {
        TrustCommand::Migrate(m) => migrate(m),
    }
}

fn migrate(args: &MigrateArgs) -> Result<u8> {
    let text = args
        .repository
        .strip_prefix("registry:")
        .unwrap_or(&args.repository);
    let repo: Reference = text
        .parse()
        .with_context(|| format!("{text:?} is not a repository name"))?;
    let last = text.rsplit('/').next().unwrap_or(text);
    if last.contains(':') || text.contains('@') {
        bail!("give the repository without a tag or digest (use --tag to pick tags)");
    }
    let Some(notary) = args.notary.notary()? else {
        bail!("--notary-server URL and --notary-root PIN are required");
    };
    let pem = String::from_utf8(palisade_trust::read_trust_file(&args.key, MAX_KEY_FILE)?)
        .with_context(|| format!("{} is not a PEM text file", args.key.display()))?;
    let password = if pem.contains("-----BEGIN ENCRYPTED") {
        crate::secret::passphrase(false)?
    } else {
        String::new()
    };
    let key = PrivateKey::from_pem(&pem, password.as_bytes(), &args.key.display().to_string())?;
    let client = RegistryClient::new(
        repo.registry(),
        &RegistryOptions {
            insecure: args.insecure_registry.clone(),
            ca_file: args.ca_file.clone(),
            ..RegistryOptions::default()
        },
    )?;
    let gun = gun_of(&repo);
    // The collection is verified once; a refusal here refuses every tag (exit 2).
    let collection = notary.collection(&gun)?;
    let mut tags: Vec<String> = if args.tags.is_empty() {
        collection.targets.keys().cloned().collect()
    } else {
        args.tags.clone()
    };
    let mut seen = std::collections::BTreeSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    let mut out = io::stdout().lock();
    let mut refused = 0usize;
    for tag in &tags {
        let record = match migrate_tag(&collection, &client, &repo, tag, &key) {
            Ok(record) => record,
            Err(e) => {
                refused += 1;
                json!({
                    "gun": gun,
                    "tag": tag,
                    "status": "refused",
                    "reason": format!("{e:#}"),
                })
            }
        };
        serde_json::to_writer(&mut out, &record)?;
        writeln!(out)?;
    }
    out.flush()?;
    crate::progress::note(format_args!(
        "{} of {} tag(s) of {gun} migrated from Notary ({}) to cosign signatures",
        tags.len() - refused,
        tags.len(),
        notary.server()
    ));
    for note in &collection.notes {
        crate::progress::note(format_args!("note: {note}"));
    }
    Ok(if refused == 0 && !tags.is_empty() {
        crate::exit::OK
    } else {
        1
    })
}

fn migrate_tag(
    collection: &palisade_trust::notary::Collection,
    client: &RegistryClient,
    repo: &Reference,
    tag: &str,
    key: &PrivateKey,
) -> Result<serde_json::Value> {
    let tagged: Reference = format!("{}:{tag}", repo.name())
        .parse()
        .with_context(|| format!("{tag:?} is not a tag"))?;
    let verified = verify_in(collection, client, &tagged)?;
    // Signed by digest: the signature is for exactly the manifest Notary vouched for.
    let pinned: Reference = format!("{}@{}", repo.name(), verified.digest)
        .parse()
        .with_context(|| format!("{}@{}", repo.name(), verified.digest))?;
    let signed =
        palisade_trust::sign::sign_image(client, &pinned, key, &std::collections::BTreeMap::new())?;
    if signed.digest != verified.digest {
        bail!(
            "signed {} but Notary verified {}; the registry changed under us",
            signed.digest,
            verified.digest
        );
    }
    Ok(json!({
        "gun": collection.gun,
        "tag": tag,
        "status": "migrated",
        "notary": {
            "server": verified.server,
            "signer": verified.signer,
            "role": verified.role,
            "key_ids": verified.key_ids,
            "versions": verified.versions,
            "root_sha256": collection.root_sha256,
        },
        "digest": verified.digest,
        "length": verified.length,
        "cosign": {
            "image": signed.image,
            "key": key.public_key().fingerprint(),
            "signature_manifest": signed.signature_manifest,
            "added": signed.added,
        },
    }))
}
