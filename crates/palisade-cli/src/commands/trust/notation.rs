//! Notation (Notary Project v2) in `palisade verify` and `palisade sign`:
//! `verify IMAGE --notation-trust-policy FILE --notation-trust-store DIR` adds each Notation
//! signature found (referrers API or `sha256-<hex>` fallback tag; or the OCI layout of
//! `--local-image`) to the report, and `sign --notation-key KEY --notation-cert CHAIN IMAGE`
//! pushes a JWS (or `--envelope cose`) signature as a referrer. The logic lives in
//! `palisade_trust::notation`; this module reads flags and files.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use palisade_image::{Reference, RegistryClient};
use palisade_trust::keys::PrivateKey;
use palisade_trust::notation::envelope::Format;
use palisade_trust::notation::{
    SIGNATURE_ARTIFACT_TYPE, Verifier, merge, now, verify_layout, verify_registry,
};
use palisade_trust::verify::Verification;
use palisade_trust::x509::Cert;

/// Largest key or certificate chain file read.
const MAX_FILE: u64 = 1 << 20;

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct NotationVerifyArgs {
    /// A Notation trust policy (`trustpolicy.json`, version 1.0): which statement applies is
    /// chosen by the image's repository (`registry/namespace/repository`, else `*`). Needs
    /// --notation-trust-store.
    #[arg(long, value_name = "FILE", requires = "notation_trust_store")]
    pub(crate) notation_trust_policy: Option<PathBuf>,

    /// The Notation trust store directory: `x509/ca/<name>/*.crt|pem|cer` (and
    /// `signingAuthority`, `tsa`), the names the policy's `trustStores` use.
    #[arg(long, value_name = "DIR", requires = "notation_trust_policy")]
    pub(crate) notation_trust_store: Option<PathBuf>,

    /// With --local-image: the repository (`registry/namespace/repository`) whose trust
    /// policy statement applies (Notation's --scope); without it only the `*` statement does.
    #[arg(long, value_name = "REPOSITORY", requires = "notation_trust_policy")]
    pub(crate) notation_scope: Option<String>,
}

impl NotationVerifyArgs {
    /// The verifier, when asked for.
    pub(crate) fn verifier(&self) -> Result<Option<Verifier>> {
        let (Some(policy), Some(store)) = (&self.notation_trust_policy, &self.notation_trust_store)
        else {
            return Ok(None);
        };
        Ok(Some(Verifier::from_files(
            &policy.display().to_string(),
            policy,
            store,
        )?))
    }
}

/// Drops the cosign verifier's notes about Notation signatures (it does not check them;
/// this module does) and, once Notation signatures were reported, its "no signatures" note.
fn tidy(result: &mut Verification, notation: &Verification) {
    let found = !notation.signatures.is_empty();
    let ours = |n: &str| {
        n.contains(SIGNATURE_ARTIFACT_TYPE) || (found && n.starts_with("no signatures found for"))
    };
    result.notes.retain(|n| !ours(n));
}

/// Adds the Notation verdict for a registry image to `result`.
pub(crate) fn add_registry(
    result: &mut Verification,
    verifier: Option<&Verifier>,
    client: &RegistryClient,
    reference: &Reference,
) -> Result<()> {
    let Some(verifier) = verifier else {
        return Ok(());
    };
    let digest = result
        .digest
        .parse()
        .with_context(|| format!("verified digest {:?}", result.digest))?;
    let notation = verify_registry(client, reference, &digest, verifier, now())?;
    tidy(result, &notation);
    merge(result, notation);
    Ok(())
}

/// Adds the Notation verdict for an image in an OCI layout to `result`.
pub(crate) fn add_layout(
    result: &mut Verification,
    args: &NotationVerifyArgs,
    verifier: Option<&Verifier>,
    path: &Path,
    tag: Option<&str>,
) -> Result<()> {
    let Some(verifier) = verifier else {
        return Ok(());
    };
    let notation = verify_layout(path, tag, args.notation_scope.as_deref(), verifier, now())?;
    tidy(result, &notation);
    merge(result, notation);
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum EnvelopeArg {
    /// JWS JSON serialization (`application/jose+json`), Notation's default.
    #[default]
    Jws,
    /// COSE_Sign1 (`application/cose`).
    Cose,
}

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct NotationSignArgs {
    /// Sign the Notation way with this private key (unencrypted PKCS#8 or SEC1 PEM; RSA
    /// 2048/3072/4096 or EC P-256/P-384), instead of cosign's --key. Needs --notation-cert.
    #[arg(long, value_name = "FILE", requires = "notation_cert")]
    pub(crate) notation_key: Option<PathBuf>,

    /// The signing certificate chain (PEM), leaf first and ending in its root; the leaf must
    /// be the key's and meet the Notary Project's code signing requirements.
    #[arg(long, value_name = "FILE", requires = "notation_key")]
    pub(crate) notation_cert: Option<PathBuf>,

    /// The Notation envelope format.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        default_value = "jws",
        requires = "notation_key"
    )]
    pub(crate) envelope: EnvelopeArg,

    /// A signature expiry, in seconds from now (`io.cncf.notary.expiry`).
    #[arg(long, value_name = "SECONDS", requires = "notation_key")]
    pub(crate) notation_expiry: Option<u32>,
}

/// `palisade sign --notation-key … --notation-cert … IMAGE`. `None` when not asked for.
pub(crate) fn sign(
    args: &NotationSignArgs,
    client: &RegistryClient,
    reference: &Reference,
) -> Result<Option<u8>> {
    let (Some(key_path), Some(cert_path)) = (&args.notation_key, &args.notation_cert) else {
        return Ok(None);
    };
    let key_text = String::from_utf8(palisade_trust::read_trust_file(key_path, MAX_FILE)?)
        .with_context(|| format!("{} is not a PEM text file", key_path.display()))?;
    let key = PrivateKey::from_pem(&key_text, b"", &key_path.display().to_string())?;
    let chain = Cert::from_pem_chain(&palisade_trust::read_trust_file(cert_path, MAX_FILE)?)
        .with_context(|| format!("{}: not a PEM certificate chain", cert_path.display()))?;
    let format = match args.envelope {
        EnvelopeArg::Jws => Format::Jws,
        EnvelopeArg::Cose => Format::Cose,
    };
    let expiry = args.notation_expiry.map(|s| now() + i64::from(s));
    let signed = palisade_trust::notation::sign::sign_image(
        client, reference, &key, &chain, format, expiry,
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Signed {} with Notation ({}, {}) as {}{}",
        signed.image,
        format.media_type(),
        chain.first().map(Cert::subject).unwrap_or_default(),
        signed.signature_manifest,
        signed
            .fallback_tag
            .as_deref()
            .map(|t| format!(", listed in the referrers fallback tag {t}"))
            .unwrap_or_default()
    )?;
    Ok(Some(crate::exit::OK))
}
