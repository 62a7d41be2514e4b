//! Gathering the input document: the image's facts, its signatures, its findings and its
//! hardening results, only as the policy needs them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use palisade_catalog::Catalog;
use palisade_image::{Digest, Image, Reference, RegistryClient};
use palisade_policy::{
    CoverageInput, CvssInput, FindingInput, HardeningInput, ImageInput, Input, Keyless,
    NotCoveredInput, PackageInput, SbomInput, TrustInput, VulnInput,
};
use palisade_scan::{Evaluated, Observer, Scanner, Source, VulnDb};
use palisade_trust::keys::NamedKey;
use palisade_trust::payload::IdentityMatch;
use palisade_trust::verify::{VerifyOptions, verify_image};

use crate::{Error, Gate, Result};

/// Builds the input document, running only the stages the policy needs.
pub(crate) fn gather(
    gate: &Gate<'_>,
    source: &str,
    observer: &dyn Observer,
) -> Result<(Input, Option<Catalog>)> {
    let needs = gate.policy.needs(gate.environment);
    if matches!(Source::parse(source), Source::Sbom(_)) {
        return Err(Error::Invalid(format!(
            "{source}: the gate needs the image itself (its configuration, signatures and \
             files), not an SBOM"
        )));
    }
    let image = palisade_scan::open_image(source, gate.options)?;
    // Only a registry says where an image came from. A layout's `ref.name` ("latest") or an
    // archive's `RepoTags` are words anyone can write: a local image is named by its path,
    // unless the caller vouches for its tag. Even then, a layout's `ref.name` without a `/` is
    // a tag alone: parsed as a reference it would become `docker.io/library/latest:latest`, a
    // name nobody gave.
    let local = image.origin() != palisade_image::Origin::Registry;
    if local
        && gate.trust_local_tags
        && image.origin() == palisade_image::Origin::Layout
        && let Some(r) = image.reference().filter(|r| !r.contains('/'))
    {
        return Err(Error::Invalid(format!(
            "{source}: --trust-local-tags, but the layout's own name {r:?} is a tag without a \
             registry or repository, so it says nothing of where the image came from"
        )));
    }
    let reference = if local && !gate.trust_local_tags {
        None
    } else {
        image
            .reference()
            .map(|r| {
                r.parse::<Reference>().map_err(|e| {
                    Error::Invalid(format!(
                        "{r:?} (the image's own tag) is not an image reference: {e}"
                    ))
                })
            })
            .transpose()?
    };
    if local && gate.trust_local_tags && reference.is_none() {
        return Err(Error::Invalid(format!(
            "{source}: --trust-local-tags, but the image has no tag of its own to trust"
        )));
    }
    let config = image.config();
    let container = config.config.as_ref();
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
        digest: image.manifest_digest().map(ToString::to_string),
        created: config.created.clone(),
        user: container.and_then(|c| c.user.clone()),
        os: Some(config.os.clone()).filter(|s| !s.is_empty()),
        architecture: Some(config.architecture.clone()).filter(|s| !s.is_empty()),
        labels: container.and_then(|c| c.labels.clone()).unwrap_or_default(),
        local,
        local_tags_trusted: local && gate.trust_local_tags,
    };

    // Signature verification waits on the registry; the rest mostly on the CPU. Both run at
    // once, and the verification is of the digest just read, never of the tag again.
    let manifest_digest = image.manifest_digest().cloned();
    let (trust, gathered) = std::thread::scope(|scope| {
        let verifying = needs.trust.then(|| {
            scope.spawn(|| {
                verify_signatures(gate, reference.as_ref().filter(|_| !local), manifest_digest)
            })
        });
        let gathered = gather_local(gate, source, needs, &image, observer);
        let trust = verifying.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (trust, gathered)
    });
    let trust = trust.transpose()?;
    let (vulnerabilities, sbom, hardening, catalog) = gathered?;

    let input = Input {
        now: gate.now.to_owned(),
        environment: gate.environment.to_owned(),
        image: image_input,
        trust,
        vulnerabilities,
        sbom,
        hardening,
    };
    Ok((input, catalog))
}

type Local = (
    Option<VulnInput>,
    Option<SbomInput>,
    Option<HardeningInput>,
    Option<Catalog>,
);

/// What comes from the image and the local database: findings, the SBOM summary and the
/// hardening results, as the policy needs them.
fn gather_local(
    gate: &Gate<'_>,
    source: &str,
    needs: palisade_policy::Needs,
    image: &Image,
    observer: &dyn Observer,
) -> Result<Local> {
    // The catalog feeds the vulnerability scan and the SBOM summary.
    let (catalog, vulnerabilities) = if needs.vulnerabilities {
        let path = match &gate.db_path {
            Some(p) => p.clone(),
            None => VulnDb::default_path().ok_or_else(|| {
                Error::Invalid(
                    "no database path: pass --db, or set PALISADE_DB, XDG_DATA_HOME or HOME"
                        .to_owned(),
                )
            })?,
        };
        let vulndb = VulnDb::new(path);
        let (catalog, evaluated) =
            Scanner::new(&vulndb, gate.options, observer).scan_image(image)?;
        (Some(catalog), Some(vuln_input(evaluated)))
    } else if needs.sbom {
        let progress = observer.layers(image);
        (
            Some(palisade_scan::catalog_image(
                image,
                gate.options,
                progress.as_ref(),
            )?),
            None,
        )
    } else {
        (None, None)
    };
    let sbom = catalog.as_ref().map(sbom_summary);
    let hardening = if needs.hardening {
        Some(crate::hardening::harden(gate, source, image, observer)?)
    } else {
        None
    };
    Ok((vulnerabilities, sbom, hardening, catalog))
}

/// The policy's view of a scan: the document shape of `input.vulnerabilities`. The server
/// builds it again from a stored catalog when the database changes.
#[must_use]
pub fn vuln_input(evaluated: Evaluated) -> VulnInput {
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
            status: f.status.as_str().to_owned(),
            fixed_versions: f.fixed_versions,
            kev: f.kev,
            epss: f.epss.map(|e| e.score),
            why: f.why,
        })
        .collect();
    VulnInput {
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
    }
}

/// The policy's view of a catalog: package counts by type and the distro.
#[must_use]
pub fn sbom_summary(catalog: &Catalog) -> SbomInput {
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for p in &catalog.packages {
        *by_type.entry(p.ecosystem.as_str().to_owned()).or_default() += 1;
    }
    SbomInput {
        packages: catalog.packages.len(),
        by_type,
        distro: palisade_scan::distro_name(catalog),
    }
}

/// Verifies the image's signatures with the policy's keys and keyless identities, for the
/// digest that was read (not the tag again), and names the signers that verified.
fn verify_signatures(
    gate: &Gate<'_>,
    reference: Option<&Reference>,
    digest: Option<Digest>,
) -> Result<TrustInput> {
    let (Some(reference), Some(digest)) = (reference, digest) else {
        // A local image: nothing was looked up, and nothing failed (the input says `local`).
        return Ok(TrustInput::default());
    };
    let pinned = reference.with_digest(digest);
    let client = RegistryClient::new(reference.registry(), &gate.options.registry())?;
    let trust_err = |what: String| {
        move |source| Error::Trust {
            what,
            source: Box::new(source),
        }
    };
    let mut runs: Vec<(Option<String>, VerifyOptions)> = Vec::new();
    let keys = gate
        .policy
        .keys()
        .iter()
        .map(|(name, path): (&String, &PathBuf)| {
            NamedKey::from_file(path)
                .map(|k| NamedKey {
                    name: name.clone(),
                    key: k.key,
                })
                .map_err(trust_err(format!(
                    "policy key {name:?} ({})",
                    path.display()
                )))
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
    for (name, keyless) in gate.policy.keyless() {
        runs.push((Some(name.clone()), keyless_run(name, keyless)?));
    }
    let mut signers = BTreeSet::new();
    let mut errors = BTreeSet::new();
    let mut signatures = 0;
    let mut attestations: Vec<palisade_policy::AttestationInput> = Vec::new();
    for (name, options) in &runs {
        let result = verify_image(&client, &pinned, options)
            .map_err(trust_err(format!("verifying the signatures of {pinned}")))?;
        // Only verified statements reach the policy; each under the policy's name for its
        // signer (a key's name, or the keyless identity's).
        let found = match pinned.digest() {
            Some(digest) => palisade_trust::attest::verify_digest_attestations(
                &client, &pinned, digest, options,
            )
            .map_err(trust_err(format!("verifying the attestations of {pinned}")))?,
            None => Vec::new(),
        };
        for v in found.into_iter().filter_map(|a| a.verified) {
            let input = palisade_policy::AttestationInput {
                predicate_type: v.predicate_type,
                predicate: v.predicate,
                signer: name.clone().unwrap_or(v.signer),
                kind: v.kind,
                subjects: v
                    .subjects
                    .into_iter()
                    .map(|s| palisade_policy::AttestationSubject {
                        name: s.name,
                        digest: s.digest,
                    })
                    .collect(),
            };
            if !attestations.contains(&input) {
                attestations.push(input);
            }
        }
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
    // GPG simple signing (`sources.gpg`): signatures in lookaside storage, one run per keyring.
    if let Some(digest) = pinned.digest() {
        let registry = gate.options.registry();
        for (name, g) in gate.policy.gpg() {
            let http = palisade_image::HttpOptions {
                insecure: registry.insecure.clone(),
                ca_file: registry.ca_file.clone(),
                deadline: registry.deadline,
            };
            let (reports, _) = palisade_trust::gpg::verify_source(
                name,
                &g.keyring,
                g.registries_d.as_deref(),
                g.lookaside.as_deref(),
                http,
                &pinned,
                digest,
            )
            .map_err(trust_err(format!(
                "policy gpg keyring {name:?} ({})",
                g.keyring.display()
            )))?;
            signatures = signatures.max(reports.len());
            for s in &reports {
                match (&s.verified, &s.reason) {
                    (Some(_), _) => {
                        signers.insert(name.clone());
                    }
                    (None, Some(reason)) => {
                        errors.insert(format!("{}: {reason}", s.source));
                    }
                    (None, None) => {}
                }
            }
        }
    }
    // Docker Content Trust (`sources.notary`): the tag's target in each pinned Notary
    // collection must be the digest read.
    for (name, n) in gate.policy.notary() {
        signatures = signatures.max(1);
        match notary_run(gate, name, n, &client, &pinned)? {
            Ok(()) => {
                signers.insert(name.clone());
            }
            Err(reason) => {
                errors.insert(format!("notary {name:?} ({}): {reason}", n.server));
            }
        }
    }
    // Notation (`sources.notation`): each trust policy and store; the source's name is the
    // signer when one signature verifies (a `skip` statement verifies none, so names none).
    if let Some(digest) = pinned.digest() {
        for (name, n) in gate.policy.notation() {
            let result = notation_run(name, n, &client, &pinned, digest)?;
            signatures = signatures.max(result.signatures.len());
            for s in &result.signatures {
                match (&s.verified, &s.reason) {
                    (Some(v), _) if v.kind.ends_with(palisade_trust::notation::UNAUTHENTICATED) => {
                        errors.insert(format!(
                            "{}: accepted by the Notation trust policy's level, but its signer \
                             is not authenticated (authenticity failed and was only logged), so \
                             it names no signer",
                            s.source
                        ));
                    }
                    (Some(_), _) => {
                        signers.insert(name.clone());
                    }
                    (None, Some(reason)) => {
                        errors.insert(format!("{}: {reason}", s.source));
                    }
                    (None, None) => {}
                }
            }
        }
    }
    Ok(TrustInput {
        signers: signers.into_iter().collect(),
        signatures,
        errors: errors.into_iter().collect(),
        attestations,
    })
}

/// One `sources.notation` run: the Notation signatures of `digest` under the source's trust
/// policy and store.
fn notation_run(
    name: &str,
    source: &palisade_policy::NotationSource,
    client: &RegistryClient,
    pinned: &Reference,
    digest: &Digest,
) -> Result<palisade_trust::verify::Verification> {
    use palisade_trust::notation::{Verifier, now, verify_registry};
    let trust = |what: String| {
        move |source| Error::Trust {
            what,
            source: Box::new(source),
        }
    };
    let verifier = Verifier::from_files(name, &source.trust_policy, &source.trust_store).map_err(
        trust(format!(
            "policy notation source {name:?} ({})",
            source.trust_policy.display()
        )),
    )?;
    verify_registry(client, pinned, digest, &verifier, now()).map_err(trust(format!(
        "verifying the Notation signatures of {pinned}"
    )))
}

/// The verification of one keyless identity of the policy, against its offline trust root.
fn keyless_run(name: &str, keyless: &Keyless) -> Result<VerifyOptions> {
    let what = || format!("policy keyless identity {name:?}");
    let Some(root_path) = &keyless.trusted_root else {
        return Err(Error::Invalid(format!(
            "policy keyless identity {name:?} has no `trusted_root`: keyless signatures are \
             verified offline against a trust root file"
        )));
    };
    let root = palisade_trust::trust_root::TrustRoot::from_file(root_path).map_err(|source| {
        Error::Trust {
            what: what(),
            source: Box::new(source),
        }
    })?;
    let identity = palisade_trust::keyless::IdentityPolicy::from_flags(
        (!keyless.identity_regexp).then_some(keyless.identity.as_str()),
        keyless.identity_regexp.then_some(keyless.identity.as_str()),
        Some(keyless.issuer.as_str()),
        None,
    )
    .map_err(|source| Error::Trust {
        what: what(),
        source: Box::new(source.into()),
    })?;
    Ok(VerifyOptions {
        trust_root: Some(root),
        certificate_identities: vec![identity],
        identity: IdentityMatch::RepoDigestOrExact,
        ..VerifyOptions::default()
    })
}

/// One `sources.notary` run: `Ok(Err(reason))` when the tag is not verified (reported, never
/// accepted), `Err` when the policy's entry itself cannot be used.
fn notary_run(
    gate: &Gate<'_>,
    name: &str,
    source: &palisade_policy::NotarySource,
    client: &RegistryClient,
    pinned: &Reference,
) -> Result<std::result::Result<(), String>> {
    use palisade_trust::notary::{Notary, RootPin, verify_in};
    let what = || format!("policy notary source {name:?}");
    let trust = |source: palisade_trust::Error| Error::Trust {
        what: what(),
        source: Box::new(source),
    };
    let pin: RootPin = source.root.parse().map_err(trust)?;
    // Rollback protection keeps its state even with --no-cache.
    let state = gate
        .options
        .cache_dir
        .clone()
        .or_else(palisade_catalog::LayerCache::default_dir)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{}: no cache directory for the Notary version state: pass --cache-dir, or set \
                 XDG_CACHE_HOME or HOME",
                what()
            ))
        })?
        .join("notary");
    let registry = gate.options.registry();
    let http = palisade_image::HttpOptions {
        insecure: registry.insecure.clone(),
        ca_file: registry.ca_file.clone(),
        deadline: registry.deadline,
    };
    let notary = Notary::new(&source.server, pin, &state, &http).map_err(trust)?;
    if pinned.tag().is_none() {
        return Ok(Err(
            "Docker Content Trust signs tags; the image was named by digest only".to_owned(),
        ));
    }
    Ok(notary
        .collection(&palisade_trust::notary::gun_of(pinned))
        .and_then(|c| verify_in(&c, client, pinned))
        .map(|_| ())
        .map_err(|e| e.to_string()))
}
