//! The server's memory of the fleet: images analysed through the gate's pipeline into the
//! store, matched again when the database changes, decided again when the policy changes,
//! and every change told as an event (and to the notifiers).
//!
//! Everything here is synchronous and runs on the job workers' blocking threads
//! ([`crate::jobs`]); the store is shared by every replica, so each piece of work is a job
//! claimed with a lease and written idempotently.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use palisade_catalog::Catalog;
use palisade_gate::Gate;
use palisade_policy::{Evaluation, Input, VulnInput};
use palisade_scan::SourceOptions;
use palisade_store::{AnalysisRecord, DecisionChange, DecisionRow, FindingRow, NewEvent, Store};
use serde::{Deserialize, Serialize};

use crate::config::NotifierSettings;
use crate::state::{Loaded, State};

/// Job kinds.
pub mod kind {
    /// Analyse an image pushed (or asked for) under a name.
    pub const SCAN: &str = "scan";
    /// A signature was pushed: verify the subject again.
    pub const VERIFY: &str = "verify";
    /// The database changed: match the touched images again.
    pub const REMATCH: &str = "rematch";
    /// The policy changed: decide every image again.
    pub const REDECIDE: &str = "redecide";
    /// Deliver one event to one notifier.
    pub const NOTIFY: &str = "notify";
    /// Every kind a worker takes.
    pub const ALL: &[&str] = &[SCAN, VERIFY, REMATCH, REDECIDE, NOTIFY, HARBOR];
    /// A Harbor scan request.
    pub const HARBOR: &str = crate::harbor_api::KIND;
}

/// Where an image was pushed or asked for: what a scan job names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageName {
    /// Registry host (`host:port`).
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Tag (empty: by digest).
    #[serde(default)]
    pub tag: String,
    /// Manifest digest.
    pub digest: String,
    /// Why it is analysed (`push`, `signature`, `api`, `admission`, …).
    #[serde(default)]
    pub reason: String,
}

impl ImageName {
    /// The job key: one pending job per name (tag included) and digest, so a second tag
    /// pushed while the first is pending is recorded too.
    #[must_use]
    pub fn key(&self) -> String {
        if self.tag.is_empty() {
            format!("{}/{}@{}", self.registry, self.repository, self.digest)
        } else {
            format!(
                "{}/{}:{}@{}",
                self.registry, self.repository, self.tag, self.digest
            )
        }
    }

    /// `registry/repository:tag` (or `@digest` when untagged).
    #[must_use]
    pub fn display(&self) -> String {
        if self.tag.is_empty() {
            format!(
                "{}/{}@{}",
                self.registry,
                self.repository,
                short(&self.digest)
            )
        } else {
            format!("{}/{}:{}", self.registry, self.repository, self.tag)
        }
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// What the store keeps of an analysis besides the catalog: each environment's policy input
/// (the findings included) as it was gathered, so a policy change is decided without the
/// image, and a database change needs only the catalog.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Facts {
    /// Environment → the input gathered for it.
    pub inputs: BTreeMap<String, Input>,
}

/// The event that records the fleet's posture ([`palisade_store::Posture`]) when it changes,
/// at most twice a minute and at least hourly while anything is stored: the console's chart
/// of findings over time.
pub const POSTURE_EVENT: &str = "fleet.posture";

/// The fleet side of a server: the store, the policy in force and how images are read.
pub struct Fleet {
    /// The store.
    pub store: Arc<Store>,
    /// The policy and database in force.
    pub state: Arc<State>,
    /// How registries are reached.
    pub options: SourceOptions,
    /// Where events go.
    pub notifiers: Vec<NotifierSettings>,
    /// Tries before a job is given up.
    pub max_attempts: i64,
    /// Where operational errors are reported.
    pub events: crate::http::ErrorSink,
}

/// The database's identity by content (its status: build time, counts and feeds), the same
/// on every replica that has the same data, unlike a file's inode.
///
/// # Errors
/// The database cannot be read.
pub fn db_identity(path: &std::path::Path) -> Result<String, String> {
    use sha2::{Digest as _, Sha256};
    let db = palisade_vulndb::Database::open_read_only(path)
        .map_err(|e| format!("vulnerability database {}: {e}", path.display()))?;
    let status = db.status().map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    h.update(format!("{status:?}"));
    Ok(hex::encode(&h.finalize()[..12]))
}

/// The findings as the store lists them.
#[must_use]
pub fn finding_rows(v: Option<&VulnInput>) -> Vec<FindingRow> {
    let Some(v) = v else { return Vec::new() };
    v.findings
        .iter()
        .map(|f| FindingRow {
            advisory: f.id.clone(),
            aliases: f.aliases.clone(),
            package: f.package.name.clone(),
            version: f.package.version.clone(),
            kind: f.package.r#type.clone(),
            purl: Some(f.package.purl.clone()).filter(|p| !p.is_empty()),
            severity: f.severity.clone(),
            cvss: f.cvss.as_ref().map(|c| c.score),
            kev: f.kev,
            epss: f.epss,
            status: f.status.clone(),
            fixed: f.fixed_versions.clone(),
            why: f.why.clone(),
        })
        .collect()
}

/// The matcher's lookups for every package of a catalog.
#[must_use]
pub fn lookup_keys(catalog: &Catalog) -> BTreeSet<(String, String)> {
    catalog
        .packages
        .iter()
        .flat_map(|p| palisade_vulndb::lookup_keys(p, catalog.distro.as_ref()))
        .collect()
}

fn verdict(e: &Evaluation) -> String {
    serde_json::to_value(e.decision.decision)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "deny".to_owned())
}

/// (advisory, package, version) of each finding: what "the findings changed" compares.
fn finding_set(rows: &[FindingRow]) -> BTreeSet<(String, String, String)> {
    rows.iter()
        .map(|f| (f.advisory.clone(), f.package.clone(), f.version.clone()))
        .collect()
}

/// The job a piece of work belongs to: its writes commit only while the job's lease is still
/// this worker's ([`palisade_store::Tx::hold`]).
#[derive(Clone, Debug)]
pub struct Hold {
    /// The job.
    pub job: i64,
    /// The worker.
    pub owner: String,
    /// The lease to extend to, in milliseconds.
    pub lease_ms: i64,
}

impl Hold {
    fn check(hold: Option<&Hold>, tx: &mut palisade_store::Tx<'_>) -> palisade_store::Result<()> {
        match hold {
            Some(h) => tx.hold(h.job, &h.owner, h.lease_ms),
            None => Ok(()),
        }
    }
}

/// What a manifest is, for analysis.
enum Shape {
    /// An image manifest (its media type).
    Image(String),
    /// An index: its platform manifests (and its media type).
    Index(Vec<String>, String),
    /// A referrer (signature, attestation, SBOM) of this subject digest.
    Referrer(String),
}

/// What one analysis did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Analysed {
    /// The image.
    pub digest: String,
    /// Skipped: already analysed with this policy and database.
    pub skipped: bool,
    /// Findings.
    pub findings: usize,
    /// Verdict per environment.
    pub verdicts: BTreeMap<String, String>,
    /// Events written.
    pub events: Vec<i64>,
}

impl Fleet {
    fn loaded(&self) -> Result<Arc<Loaded>, String> {
        self.state
            .current()
            .ok_or_else(|| "no policy is loaded: nothing can be decided yet".to_owned())
    }

    fn db_identity_of(loaded: &Loaded) -> Result<String, String> {
        match &loaded.db_path {
            Some(p) => db_identity(p),
            None => Ok(String::new()),
        }
    }

    /// Analyses `name` through the gate for every environment of the policy and stores the
    /// result; skipped when this name and digest were already decided with the same policy
    /// and database (deliveries repeat) unless `force`.
    ///
    /// # Errors
    /// The image could not be read or decided, or the store written: the job is retried.
    pub fn analyse(
        &self,
        name: &ImageName,
        force: bool,
        hold: Option<&Hold>,
    ) -> Result<Analysed, String> {
        let loaded = self.loaded()?;
        let identity = Self::db_identity_of(&loaded)?;
        let store = &self.store;
        if !force
            && store
                .analysed_with(&name.digest)
                .map_err(|e| e.to_string())?
                == Some((identity.clone(), loaded.policy_id.clone()))
        {
            let decided = store
                .decisions(&name.digest)
                .map_err(|e| e.to_string())?
                .iter()
                .any(|d| d.repository == name.repository && d.policy_id == loaded.policy_id);
            if decided {
                store
                    .put_name(
                        &name.digest,
                        &name.registry,
                        &name.repository,
                        &name.tag,
                        None,
                    )
                    .map_err(|e| e.to_string())?;
                return Ok(Analysed {
                    digest: name.digest.clone(),
                    skipped: true,
                    ..Analysed::default()
                });
            }
        }
        let (children, media_type) = match self.manifest_shape(name)? {
            Shape::Referrer(subject) => {
                // An OCI 1.1 referrer (a signature or attestation pushed by digest, naming
                // its subject): verify the subject again instead of analysing it as an image.
                if !crate::registry::is_sha256_digest(&subject) {
                    return Err(format!(
                        "{}: a referrer whose subject {subject:?} is not a sha256 digest",
                        name.key()
                    ));
                }
                let target = ImageName {
                    digest: subject,
                    tag: String::new(),
                    reason: format!("referrer {}", short(&name.digest)),
                    ..name.clone()
                };
                store
                    .enqueue(
                        kind::VERIFY,
                        &target.key(),
                        &serde_json::to_string(&target).map_err(|e| e.to_string())?,
                    )
                    .map_err(|e| e.to_string())?;
                return Ok(Analysed {
                    digest: name.digest.clone(),
                    skipped: true,
                    ..Analysed::default()
                });
            }
            Shape::Index(children, media_type) => (Some(children), media_type),
            Shape::Image(media_type) => (None, media_type),
        };
        if let Some(children) = children {
            // An index is its platforms: each is analysed (and decided) as its own image.
            let mut queued = 0;
            for digest in children {
                let child = ImageName {
                    digest,
                    reason: format!("{} (index {})", name.reason, short(&name.digest)),
                    ..name.clone()
                };
                store
                    .enqueue(
                        if force { kind::VERIFY } else { kind::SCAN },
                        &child.key(),
                        &serde_json::to_string(&child).map_err(|e| e.to_string())?,
                    )
                    .map_err(|e| e.to_string())?;
                queued += 1;
            }
            return Ok(Analysed {
                digest: name.digest.clone(),
                skipped: true,
                findings: queued,
                ..Analysed::default()
            });
        }
        let source = format!(
            "registry:{}/{}@{}",
            name.registry, name.repository, name.digest
        );
        let now = palisade_gate::now_utc();
        let mut facts = Facts::default();
        let mut evaluations: BTreeMap<String, Evaluation> = BTreeMap::new();
        let mut catalog: Option<Catalog> = None;
        for env in loaded.policy.environments() {
            let gate = Gate {
                policy: &loaded.policy,
                environment: env,
                now: &now,
                db_path: loaded.db_path.clone(),
                options: &self.options,
                trust_local_tags: false,
            };
            let (mut input, c) = gate
                .gather_with_catalog(&source, &palisade_scan::Silent)
                .map_err(|e| e.to_string())?;
            // The decision names the reference it was asked for.
            input.image.tag = Some(name.tag.clone()).filter(|t| !t.is_empty());
            let evaluation = gate.evaluate(&input).map_err(|e| e.to_string())?;
            if catalog.is_none() {
                catalog = c;
            }
            evaluations.insert(env.to_owned(), evaluation);
            facts.inputs.insert(env.to_owned(), input);
        }
        let catalog = match catalog {
            Some(c) => c,
            None => {
                let image =
                    palisade_scan::open_image(&source, &self.options).map_err(|e| e.to_string())?;
                palisade_scan::catalog_image(&image, &self.options, &palisade_catalog::NoProgress)
                    .map_err(|e| e.to_string())?
            }
        };
        self.record(
            &loaded,
            &identity,
            name,
            &media_type,
            &catalog,
            &facts,
            &evaluations,
            hold,
        )
    }

    /// Records a catalog made elsewhere (`palisade scan --server` in CI): matched with the
    /// server's database, decided under the server's policy with what a catalog can tell
    /// (findings and the SBOM summary; signatures and hardening are not known from it, so a
    /// policy that needs them decides as it does when they are missing), and stored like an
    /// analysis, so database changes re-match it too.
    ///
    /// # Errors
    /// No policy or database, the match failed, or the store cannot be written.
    pub fn record_catalog(&self, name: &ImageName, catalog: &Catalog) -> Result<Analysed, String> {
        let loaded = self.loaded()?;
        let identity = Self::db_identity_of(&loaded)?;
        let vulnerabilities = match &loaded.db_path {
            Some(path) => {
                let vulndb = palisade_scan::VulnDb::new(path.clone());
                let options = SourceOptions {
                    no_cache: true,
                    ..self.options.clone()
                };
                let evaluated =
                    palisade_scan::Scanner::new(&vulndb, &options, &palisade_scan::Silent)
                        .evaluate_catalog(catalog)
                        .map_err(|e| e.to_string())?;
                Some(palisade_gate::vuln_input(evaluated))
            }
            None => None,
        };
        let (os, architecture) = catalog
            .source
            .platform
            .as_deref()
            .and_then(|p| p.split_once('/'))
            .map_or((None, None), |(o, a)| {
                (Some(o.to_owned()), Some(a.to_owned()))
            });
        let now = palisade_gate::now_utc();
        let mut facts = Facts::default();
        let mut evaluations = BTreeMap::new();
        for env in loaded.policy.environments() {
            let input = Input {
                now: now.clone(),
                environment: env.to_owned(),
                image: palisade_policy::ImageInput {
                    reference: format!("{}/{}@{}", name.registry, name.repository, name.digest),
                    registry: name.registry.clone(),
                    repository: name.repository.clone(),
                    tag: Some(name.tag.clone()).filter(|t| !t.is_empty()),
                    digest: Some(name.digest.clone()),
                    os: os.clone(),
                    architecture: architecture.clone(),
                    ..palisade_policy::ImageInput::default()
                },
                trust: None,
                vulnerabilities: vulnerabilities.clone(),
                sbom: Some(palisade_gate::sbom_summary(catalog)),
                hardening: None,
            };
            let evaluation = loaded.policy.evaluate(&input).map_err(|e| e.to_string())?;
            evaluations.insert(env.to_owned(), evaluation);
            facts.inputs.insert(env.to_owned(), input);
        }
        self.record(
            &loaded,
            &identity,
            name,
            "",
            catalog,
            &facts,
            &evaluations,
            None,
        )
    }

    /// Writes one analysis (its catalog, facts, findings, name, decisions and events) in one
    /// transaction: what [`Fleet::analyse`] and [`Fleet::record_catalog`] share.
    #[allow(clippy::too_many_arguments)] // the parts of one analysis, written together
    fn record(
        &self,
        loaded: &Loaded,
        identity: &str,
        name: &ImageName,
        media_type: &str,
        catalog: &Catalog,
        facts: &Facts,
        evaluations: &BTreeMap<String, Evaluation>,
        hold: Option<&Hold>,
    ) -> Result<Analysed, String> {
        let store = &self.store;
        let identity = identity.to_owned();
        let first = facts.inputs.values().next();
        let findings = finding_rows(first.and_then(|i| i.vulnerabilities.as_ref()));
        let trust = first
            .and_then(|i| i.trust.as_ref())
            .and_then(|t| serde_json::to_value(t).ok());
        let previous = store.findings(&name.digest).map_err(|e| e.to_string())?;
        let was_analysed = store
            .analysed_with(&name.digest)
            .map_err(|e| e.to_string())?
            .is_some();
        let record = AnalysisRecord {
            digest: name.digest.clone(),
            media_type: media_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            platform: first
                .map(|i| {
                    format!(
                        "{}/{}",
                        i.image.os.clone().unwrap_or_default(),
                        i.image.architecture.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            created: first.and_then(|i| i.image.created.clone()),
            db_identity: identity.clone(),
            policy_id: loaded.policy_id.clone(),
            catalog: serde_json::to_vec(&catalog).map_err(|e| e.to_string())?,
            facts: serde_json::to_vec(&facts).map_err(|e| e.to_string())?,
            packages: catalog.packages.len() as i64,
            keys: lookup_keys(catalog),
            findings: findings.clone(),
        };
        let rows: Vec<DecisionRow> = evaluations
            .iter()
            .map(|(env, e)| decision_row(&name.repository, env, e, &loaded.policy_id, &identity))
            .collect();
        let verdicts: BTreeMap<String, String> = evaluations
            .iter()
            .map(|(env, e)| (env.clone(), verdict(e)))
            .collect();
        let counts = severity_counts(&findings);
        let analysed = NewEvent {
            kind: "image.analyzed".into(),
            digest: Some(name.digest.clone()),
            subject: format!(
                "{} analysed ({}): {} findings{}; {}",
                name.display(),
                name.reason,
                findings.len(),
                if counts.is_empty() {
                    String::new()
                } else {
                    format!(" ({counts})")
                },
                verdicts
                    .iter()
                    .map(|(e, v)| format!("{e}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            detail: serde_json::json!({
                "name": name,
                "packages": catalog.packages.len(),
                "findings": findings.len(),
                "verdicts": verdicts,
                "decisions": evaluations.iter().map(|(env, e)| (env.clone(), serde_json::to_value(&e.decision).unwrap_or_default())).collect::<BTreeMap<_, _>>(),
                "db": identity,
                "policy": loaded.policy_id,
            }),
        };
        // Everything the analysis found, its decisions, its events and their deliveries are
        // written together: a replica killed half-way leaves nothing for the next to repeat.
        let ids = store
            .transaction(|tx| {
                Hold::check(hold, tx)?;
                tx.put_analysis(&record)?;
                tx.put_name(
                    &name.digest,
                    &name.registry,
                    &name.repository,
                    &name.tag,
                    trust.as_ref(),
                )?;
                let changes = tx.put_decisions(&name.digest, &rows)?;
                let mut events = vec![analysed];
                if name.reason.starts_with("signature") {
                    events.push(NewEvent {
                        kind: "signature.verified".into(),
                        digest: Some(name.digest.clone()),
                        subject: format!(
                            "{}: signatures verified again ({})",
                            name.display(),
                            name.reason
                        ),
                        detail: serde_json::json!({"name": name, "trust": trust}),
                    });
                }
                if was_analysed {
                    events.extend(self.findings_event(
                        tx,
                        &name.digest,
                        &previous,
                        &findings,
                        "analysis",
                    )?);
                }
                events.extend(self.decision_events(
                    tx,
                    &name.digest,
                    &changes,
                    evaluations,
                    was_analysed,
                )?);
                self.emit_in(tx, &events)
            })
            .map_err(|e| e.to_string())?;
        Ok(Analysed {
            digest: name.digest.clone(),
            skipped: false,
            findings: findings.len(),
            verdicts,
            events: ids,
        })
    }

    /// What `name`'s manifest is: an image, an index (with its platform manifests,
    /// attestation manifests left out) or a referrer (with its subject).
    fn manifest_shape(&self, name: &ImageName) -> Result<Shape, String> {
        use palisade_image::media_type;
        let client = palisade_image::RegistryClient::new(&name.registry, &self.options.registry())
            .map_err(|e| e.to_string())?;
        let (bytes, content_type, _) = client
            .get_manifest(&name.repository, &name.digest, media_type::ACCEPT_MANIFESTS)
            .map_err(|e| e.to_string())?;
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("manifest {}: {e}", name.digest))?;
        let kind = content_type
            .or_else(|| doc["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if let Some(subject) = doc["subject"]["digest"].as_str() {
            return Ok(Shape::Referrer(subject.to_owned()));
        }
        let is_index = kind.starts_with(media_type::OCI_INDEX)
            || kind.starts_with(media_type::DOCKER_LIST)
            || (kind.is_empty() && doc["manifests"].is_array());
        if !is_index {
            return Ok(Shape::Image(kind));
        }
        let index: palisade_image::Index =
            serde_json::from_slice(&bytes).map_err(|e| format!("index {}: {e}", name.digest))?;
        Ok(Shape::Index(
            index
                .manifests
                .iter()
                .filter(|d| {
                    !d.annotations.contains_key("vnd.docker.reference.type")
                        && d.platform.as_ref().is_none_or(|p| p.os != "unknown")
                })
                .map(|d| d.digest.to_string())
                .take(64)
                .collect(),
            kind,
        ))
    }

    /// Records the fleet's posture as a [`POSTURE_EVENT`] when it differs from the last one
    /// or that is over an hour old; whether it did.
    ///
    /// # Errors
    /// The store cannot be read or written.
    pub fn snapshot_posture(&self) -> Result<bool, String> {
        let now = self.store.posture().map_err(|e| e.to_string())?;
        let last = self
            .store
            .last_event_of(POSTURE_EVENT)
            .map_err(|e| e.to_string())?;
        let unchanged = last.as_ref().is_some_and(|e| {
            serde_json::from_value::<palisade_store::Posture>(e.detail.clone())
                .ok()
                .as_ref()
                == Some(&now)
                && palisade_store::now_ms() - e.at < 3_600_000
        });
        if unchanged || (last.is_none() && now.images == 0) {
            return Ok(false);
        }
        // Not through `emit`: a snapshot is for the chart, not for notifiers.
        self.store
            .append_events(&[NewEvent {
                kind: POSTURE_EVENT.into(),
                digest: None,
                subject: format!(
                    "{} images: {} critical, {} high, {} medium, {} low findings",
                    now.images, now.critical, now.high, now.medium, now.low
                ),
                detail: serde_json::to_value(&now).map_err(|e| e.to_string())?,
            }])
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Appends events and queues their deliveries, in one transaction.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn emit(&self, events: &[NewEvent]) -> Result<Vec<i64>, String> {
        self.store
            .transaction(|tx| self.emit_in(tx, events))
            .map_err(|e| e.to_string())
    }

    /// Appends events and queues their deliveries in `tx`.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn emit_in(
        &self,
        tx: &mut palisade_store::Tx<'_>,
        events: &[NewEvent],
    ) -> palisade_store::Result<Vec<i64>> {
        let ids = tx.append_events(events)?;
        for (id, e) in ids.iter().zip(events) {
            for (i, n) in self.notifiers.iter().enumerate() {
                if n.events.is_empty() || n.events.iter().any(|k| k == &e.kind) {
                    tx.enqueue(
                        kind::NOTIFY,
                        &format!("{id}:{i}"),
                        &serde_json::json!({"event": id, "url": n.url}).to_string(),
                    )?;
                }
            }
        }
        Ok(ids)
    }

    fn places(
        tx: &mut palisade_store::Tx<'_>,
        digest: &str,
    ) -> palisade_store::Result<serde_json::Value> {
        Ok(serde_json::to_value(tx.sightings(digest)?).unwrap_or_default())
    }

    fn names(tx: &mut palisade_store::Tx<'_>, digest: &str) -> palisade_store::Result<Vec<String>> {
        Ok(tx
            .names(digest)?
            .iter()
            .map(|n| {
                let mut s = format!("{}/{}", n.registry, n.repository);
                if !n.tag.is_empty() {
                    s.push(':');
                    s.push_str(&n.tag);
                }
                s
            })
            .collect())
    }

    /// A `findings.changed` event when the findings differ, naming what was added (new
    /// advisories) and removed (fixed upstream or withdrawn), and where the image runs.
    fn findings_event(
        &self,
        tx: &mut palisade_store::Tx<'_>,
        digest: &str,
        before: &[FindingRow],
        after: &[FindingRow],
        why: &str,
    ) -> palisade_store::Result<Option<NewEvent>> {
        let (b, a) = (finding_set(before), finding_set(after));
        if a == b {
            return Ok(None);
        }
        let pick = |rows: &[FindingRow], keys: &BTreeSet<(String, String, String)>| {
            rows.iter()
                .filter(|f| {
                    keys.contains(&(f.advisory.clone(), f.package.clone(), f.version.clone()))
                })
                .map(|f| {
                    serde_json::json!({
                        "id": f.advisory, "aliases": f.aliases, "package": f.package,
                        "version": f.version, "severity": f.severity, "kev": f.kev,
                        "fixed": f.fixed,
                    })
                })
                .collect::<Vec<_>>()
        };
        let added: BTreeSet<_> = a.difference(&b).cloned().collect();
        let removed: BTreeSet<_> = b.difference(&a).cloned().collect();
        let names = Self::names(tx, digest)?;
        let label = names
            .first()
            .cloned()
            .unwrap_or_else(|| short(digest).to_owned());
        let list = |keys: &BTreeSet<(String, String, String)>| {
            keys.iter()
                .take(5)
                .map(|(id, p, v)| format!("{id} in {p} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("{} new ({})", added.len(), list(&added)));
        }
        if !removed.is_empty() {
            parts.push(format!("{} gone ({})", removed.len(), list(&removed)));
        }
        Ok(Some(NewEvent {
            kind: "findings.changed".into(),
            digest: Some(digest.to_owned()),
            subject: format!("{label}: findings changed: {}", parts.join("; ")),
            detail: serde_json::json!({
                "names": names,
                "added": pick(after, &added),
                "removed": pick(before, &removed),
                "why": why,
                "running": Self::places(tx, digest)?,
            }),
        }))
    }

    fn decision_events(
        &self,
        tx: &mut palisade_store::Tx<'_>,
        digest: &str,
        changes: &[DecisionChange],
        evaluations: &BTreeMap<String, Evaluation>,
        report_new: bool,
    ) -> palisade_store::Result<Vec<NewEvent>> {
        let mut out = Vec::new();
        for c in changes {
            if c.before.is_none() && !report_new {
                continue;
            }
            let reasons = evaluations
                .get(&c.environment)
                .map(|e| {
                    e.decision
                        .reasons
                        .iter()
                        .filter_map(|r| serde_json::to_value(r).ok())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            out.push(NewEvent {
                kind: "decision.changed".into(),
                digest: Some(digest.to_owned()),
                subject: format!(
                    "{}@{} in {}: {} → {}",
                    c.repository,
                    short(digest),
                    c.environment,
                    c.before.as_deref().unwrap_or("none"),
                    c.after
                ),
                detail: serde_json::json!({
                    "repository": c.repository,
                    "environment": c.environment,
                    "before": c.before,
                    "after": c.after,
                    "reasons": reasons,
                    "names": Self::names(tx, digest)?,
                    "running": Self::places(tx, digest)?,
                }),
            });
        }
        Ok(out)
    }

    /// Decides a stored image again from its stored facts, for every repository it is known
    /// in: the decisions to record and the evaluations (for the events' reasons).
    fn decide_again(
        &self,
        loaded: &Loaded,
        identity: &str,
        digest: &str,
        facts: &Facts,
    ) -> Result<(Vec<DecisionRow>, BTreeMap<String, Evaluation>), String> {
        let now = palisade_gate::now_utc();
        let names = self.store.names(digest).map_err(|e| e.to_string())?;
        let mut repositories: BTreeMap<(String, String), Option<serde_json::Value>> =
            BTreeMap::new();
        for n in names {
            repositories
                .entry((n.registry, n.repository))
                .or_insert(n.trust);
        }
        let mut rows = Vec::new();
        let mut evaluations = BTreeMap::new();
        for ((registry, repository), trust) in &repositories {
            for env in loaded.policy.environments() {
                let Some(base) = facts
                    .inputs
                    .get(env)
                    .or_else(|| facts.inputs.values().next())
                else {
                    continue;
                };
                let mut input = base.clone();
                input.now = now.clone();
                input.environment = env.to_owned();
                input.image.registry = registry.clone();
                input.image.repository = repository.clone();
                input.image.reference = format!("{registry}/{repository}@{digest}");
                if let Some(t) = trust
                    .as_ref()
                    .and_then(|t| serde_json::from_value(t.clone()).ok())
                {
                    input.trust = Some(t);
                }
                let evaluation = loaded.policy.evaluate(&input).map_err(|e| e.to_string())?;
                rows.push(decision_row(
                    repository,
                    env,
                    &evaluation,
                    &loaded.policy_id,
                    identity,
                ));
                evaluations.insert(env.to_owned(), evaluation);
            }
        }
        Ok((rows, evaluations))
    }

    /// Matches one stored image again with the database in force; its events.
    fn rematch_image(
        &self,
        loaded: &Loaded,
        identity: &str,
        scanner: &palisade_scan::Scanner<'_>,
        digest: &str,
        hold: Option<&Hold>,
    ) -> Result<usize, String> {
        let Some((catalog, facts)) = self.store.image_data(digest).map_err(|e| e.to_string())?
        else {
            return Ok(0);
        };
        let catalog: Catalog = serde_json::from_slice(&catalog)
            .map_err(|e| format!("stored catalog of {digest}: {e}"))?;
        let mut facts: Facts =
            serde_json::from_slice(&facts).map_err(|e| format!("stored facts of {digest}: {e}"))?;
        let evaluated = scanner
            .evaluate_catalog(&catalog)
            .map_err(|e| e.to_string())?;
        let vulns = palisade_gate::vuln_input(evaluated);
        let after = finding_rows(Some(&vulns));
        let before = self.store.findings(digest).map_err(|e| e.to_string())?;
        for input in facts.inputs.values_mut() {
            if input.vulnerabilities.is_some() {
                input.vulnerabilities = Some(vulns.clone());
            }
        }
        let facts_bytes = serde_json::to_vec(&facts).map_err(|e| e.to_string())?;
        let changed = finding_set(&before) != finding_set(&after);
        let decided = if changed {
            Some(self.decide_again(loaded, identity, digest, &facts)?)
        } else {
            None
        };
        // The new findings, the decisions they lead to and the events, together.
        self.store
            .transaction(|tx| {
                Hold::check(hold, tx)?;
                tx.put_findings(digest, identity, &after, Some(&facts_bytes))?;
                let mut events: Vec<NewEvent> = self
                    .findings_event(tx, digest, &before, &after, "database")?
                    .into_iter()
                    .collect();
                if let Some((rows, evaluations)) = &decided {
                    let changes = tx.put_decisions(digest, rows)?;
                    events.extend(self.decision_events(
                        tx,
                        digest,
                        &changes,
                        evaluations,
                        false,
                    )?);
                }
                Ok::<_, palisade_store::Error>(self.emit_in(tx, &events)?.len())
            })
            .map_err(|e| e.to_string())
    }

    /// The database changed (or this is the first time the store sees it): matches again
    /// every stored image that reads a package whose advisories changed or carries a CVE
    /// whose scoring facts changed, and only those; `renew` is called between images (a
    /// false return means the job was lost and the work stops).
    ///
    /// # Errors
    /// The database or the store cannot be read; the job is retried.
    pub fn rematch(
        &self,
        renew: &(dyn Fn() -> bool + Sync),
        hold: Option<&Hold>,
    ) -> Result<serde_json::Value, String> {
        let loaded = self.loaded()?;
        let Some(db_path) = loaded.db_path.clone() else {
            return Ok(serde_json::json!({"skipped": "no database configured"}));
        };
        let identity = db_identity(&db_path)?;
        let vulndb = palisade_scan::VulnDb::new(db_path.clone());
        let db = vulndb.database().map_err(|e| e.to_string())?;
        let new = db.fingerprints().map_err(|e| e.to_string())?;
        let old_identity = self
            .store
            .meta("vulndb.identity")
            .map_err(|e| e.to_string())?;
        if old_identity.as_deref() == Some(identity.as_str()) {
            return Ok(serde_json::json!({"skipped": "the store already has this database"}));
        }
        let old = self
            .store
            .blob("vulndb.fingerprints")
            .map_err(|e| e.to_string())?
            .and_then(|b| palisade_vulndb::Fingerprints::from_bytes(&b));
        let (digests, how) = match &old {
            Some(old) => {
                let changes = new.changes_since(old);
                let hits = self
                    .store
                    .images_touched(&changes.packages, &changes.cves)
                    .map_err(|e| e.to_string())?;
                (
                    hits.digests,
                    serde_json::json!({"packages": changes.packages.len(), "cves": changes.cves.len()}),
                )
            }
            None => {
                let mut all = Vec::new();
                let mut after = String::new();
                loop {
                    let page = self
                        .store
                        .analysed_digests(&after, 1000)
                        .map_err(|e| e.to_string())?;
                    let Some(last) = page.last().cloned() else {
                        break;
                    };
                    all.extend(page);
                    after = last;
                }
                (all, serde_json::json!({"full": true}))
            }
        };
        let options = SourceOptions {
            no_cache: true,
            ..self.options.clone()
        };
        let touched = digests.len();
        let events = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::Mutex::new(Vec::new());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let lost = std::sync::atomic::AtomicBool::new(false);
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(8);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let vulndb = palisade_scan::VulnDb::new(db_path.clone());
                    let scanner =
                        palisade_scan::Scanner::new(&vulndb, &options, &palisade_scan::Silent);
                    loop {
                        if lost.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(digest) = digests.get(i) else { return };
                        if i % 200 == 199 && !renew() {
                            lost.store(true, std::sync::atomic::Ordering::Relaxed);
                            return;
                        }
                        match self.rematch_image(&loaded, &identity, &scanner, digest, hold) {
                            Ok(n) => {
                                events.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => failed
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(format!("{digest}: {e}")),
                        }
                    }
                });
            }
        });
        if lost.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("the re-match job's lease was lost to another replica".to_owned());
        }
        let failed = failed
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !failed.is_empty() {
            // Retried as a whole; images already matched are idempotent.
            return Err(format!(
                "{} of {touched} images could not be matched again: {}",
                failed.len(),
                failed
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        let events = events.into_inner();
        // Many images rewritten: bring the store's statistics up to date at once.
        if touched >= 500
            && let Err(e) = self.store.maintain()
        {
            (self.events)(&format!("store maintenance after the re-match: {e}"));
        }
        self.store
            .set_blob("vulndb.fingerprints", &new.to_bytes())
            .map_err(|e| e.to_string())?;
        self.store
            .set_meta("vulndb.identity", &identity)
            .map_err(|e| e.to_string())?;
        Ok(serde_json::json!({
            "db": identity,
            "changes": how,
            "images_matched": touched,
            "events": events,
        }))
    }

    /// The policy changed: decides every stored image again from its stored facts. An image
    /// whose facts lack what the new policy needs (its signatures, say) is analysed again.
    ///
    /// # Errors
    /// The store cannot be read; the job is retried.
    pub fn redecide(
        &self,
        renew: &(dyn Fn() -> bool + Sync),
        hold: Option<&Hold>,
    ) -> Result<serde_json::Value, String> {
        let loaded = self.loaded()?;
        let identity = Self::db_identity_of(&loaded)?;
        if self
            .store
            .meta("policy.id")
            .map_err(|e| e.to_string())?
            .as_deref()
            == Some(loaded.policy_id.as_str())
        {
            return Ok(serde_json::json!({"skipped": "the store is decided with this policy"}));
        }
        let mut after = String::new();
        let (mut decided, mut rescans, mut events) = (0usize, 0usize, 0usize);
        loop {
            let page = self
                .store
                .analysed_digests(&after, 200)
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            after = last;
            if !renew() {
                return Err("the re-decide job's lease was lost to another replica".to_owned());
            }
            for digest in page {
                let Some((_, facts)) = self.store.image_data(&digest).map_err(|e| e.to_string())?
                else {
                    continue;
                };
                let facts: Facts = serde_json::from_slice(&facts).map_err(|e| e.to_string())?;
                if self.needs_more(&loaded, &facts) {
                    for n in self.store.names(&digest).map_err(|e| e.to_string())? {
                        let name = ImageName {
                            registry: n.registry,
                            repository: n.repository,
                            tag: n.tag,
                            digest: digest.clone(),
                            reason: "policy".into(),
                        };
                        self.store
                            .enqueue(
                                kind::SCAN,
                                &name.key(),
                                &serde_json::to_string(&name).unwrap_or_default(),
                            )
                            .map_err(|e| e.to_string())?;
                        rescans += 1;
                    }
                    continue;
                }
                let (rows, evaluations) = self.decide_again(&loaded, &identity, &digest, &facts)?;
                events += self
                    .store
                    .transaction(|tx| {
                        Hold::check(hold, tx)?;
                        let changes = tx.put_decisions(&digest, &rows)?;
                        let e = self.decision_events(tx, &digest, &changes, &evaluations, false)?;
                        Ok::<_, palisade_store::Error>(self.emit_in(tx, &e)?.len())
                    })
                    .map_err(|e| e.to_string())?;
                decided += 1;
            }
        }
        self.store
            .set_meta("policy.id", &loaded.policy_id)
            .map_err(|e| e.to_string())?;
        Ok(
            serde_json::json!({"policy": loaded.policy_id, "decided": decided, "rescans": rescans, "events": events}),
        )
    }

    /// Whether stored facts miss a section or an environment the policy in force needs.
    fn needs_more(&self, loaded: &Loaded, facts: &Facts) -> bool {
        loaded.policy.environments().any(|env| {
            let Some(input) = facts.inputs.get(env) else {
                return true;
            };
            let needs = loaded.policy.needs(env);
            (needs.trust && input.trust.is_none())
                || (needs.vulnerabilities && input.vulnerabilities.is_none())
                || (needs.hardening && input.hardening.is_none())
                || (needs.sbom && input.sbom.is_none())
        })
    }

    /// Delivers event `event` to notifier `index`.
    ///
    /// # Errors
    /// The receiver did not answer 2xx within its deadline; the job is retried.
    pub fn notify(&self, event: i64, url: &str) -> Result<serde_json::Value, String> {
        let Some(n) = self.notifiers.iter().find(|n| n.url == url) else {
            return Ok(serde_json::json!({"skipped": "that notifier is no longer configured"}));
        };
        let Some(e) = self.store.event(event).map_err(|e| e.to_string())? else {
            return Ok(serde_json::json!({"skipped": "event gone"}));
        };
        let body = if n.format == "slack" {
            serde_json::json!({"text": format!("Palisade: {}", e.subject)})
        } else {
            serde_json::json!({"source": "palisade", "event": e})
        };
        let client = palisade_image::http::HttpClient::new(
            &palisade_image::http::HttpOptions {
                insecure: self.options.insecure_registries.clone(),
                ca_file: self.options.ca_file.clone(),
                deadline: Some(n.timeout),
            },
            false,
        )
        .map_err(|e| e.to_string())?;
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        headers.extend(n.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let resp = client
            .post(&n.url, &headers, body.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&resp.status()) {
            return Err(format!("{} answered {}", n.url, resp.status()));
        }
        Ok(serde_json::json!({"delivered": n.url, "status": resp.status()}))
    }
}

fn decision_row(
    repository: &str,
    env: &str,
    e: &Evaluation,
    policy_id: &str,
    identity: &str,
) -> DecisionRow {
    DecisionRow {
        repository: repository.to_owned(),
        environment: env.to_owned(),
        verdict: verdict(e),
        policy_id: policy_id.to_owned(),
        db_identity: identity.to_owned(),
        decided_at: palisade_store::now(),
        reasons: serde_json::to_string(&e.decision.reasons).unwrap_or_else(|_| "[]".into()),
    }
}

fn severity_counts(rows: &[FindingRow]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in rows {
        *counts.entry(f.severity.as_str()).or_default() += 1;
    }
    ["critical", "high", "medium", "low"]
        .iter()
        .filter_map(|s| counts.get(s).map(|n| format!("{n} {s}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The decision records of admission, seen by the store: every image a workload was
/// admitted with is recorded where it runs (and queued for analysis, so a database change
/// finds it), and every refusal is an event. Passes each record on to `inner`.
pub struct FleetSink {
    /// Where records go as before (the log and the metrics).
    pub inner: Arc<dyn crate::record::Sink>,
    /// The fleet.
    pub fleet: Arc<Fleet>,
    /// The runtime the store writes are spawned on.
    pub runtime: tokio::runtime::Handle,
    /// (digest, place) pairs written recently: one write per pair per 10 minutes, whatever
    /// the admission rate.
    pub seen: moka::sync::Cache<(String, String), ()>,
}

impl FleetSink {
    /// A sink in front of `inner`.
    #[must_use]
    pub fn new(
        inner: Arc<dyn crate::record::Sink>,
        fleet: Arc<Fleet>,
        runtime: tokio::runtime::Handle,
    ) -> FleetSink {
        FleetSink {
            inner,
            fleet,
            runtime,
            seen: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(600))
                .build(),
        }
    }
}

impl crate::record::Sink for FleetSink {
    fn record(&self, r: &crate::record::Record) {
        self.inner.record(r);
        if r.dry_run {
            return;
        }
        let (Some(image), Some(digest)) = (r.image.clone(), r.digest.clone()) else {
            return;
        };
        let kind = if r.source == "admission" {
            "kubernetes"
        } else {
            "docker"
        };
        let place = r.object.clone();
        let refused = !r.allowed;
        // One write per image, place and outcome per 10 minutes: a workload retried in a
        // loop is refused once in the event log, not thousands of times.
        let seen_key = (
            digest.clone(),
            format!("{}{place}", if refused { "refused " } else { "" }),
        );
        if self.seen.contains_key(&seen_key) {
            return;
        }
        self.seen.insert(seen_key, ());
        let fleet = Arc::clone(&self.fleet);
        let subject = format!(
            "{} refused {image} for {place}: {}",
            r.source,
            r.reasons
                .iter()
                .take(3)
                .map(|x| x.short(false))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let reasons = serde_json::to_value(&r.reasons).unwrap_or_default();
        let verdict = r.verdict;
        let source = r.source;
        self.runtime.spawn_blocking(move || {
            let result = (|| -> Result<(), String> {
                if refused {
                    fleet.emit(&[NewEvent {
                        kind: "admission.refused".into(),
                        digest: Some(digest.clone()),
                        subject,
                        detail: serde_json::json!({"image": image, "place": place, "source": source, "verdict": verdict, "reasons": reasons}),
                    }])?;
                    return Ok(());
                }
                fleet
                    .store
                    .put_sighting(&digest, kind, &place, &image)
                    .map_err(|e| e.to_string())?;
                let Ok(reference) = image.parse::<palisade_image::Reference>() else {
                    return Ok(());
                };
                let name = ImageName {
                    registry: reference.registry().to_owned(),
                    repository: reference.repository().to_owned(),
                    tag: reference.tag().unwrap_or_default().to_owned(),
                    digest: digest.clone(),
                    reason: format!("{kind} {place}"),
                };
                if fleet
                    .store
                    .analysed_with(&digest)
                    .map_err(|e| e.to_string())?
                    .is_none()
                {
                    fleet
                        .store
                        .enqueue(kind::SCAN, &name.key(), &serde_json::to_string(&name).unwrap_or_default())
                        .map_err(|e| e.to_string())?;
                } else {
                    fleet
                        .store
                        .put_name(&digest, &name.registry, &name.repository, &name.tag, None)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            })();
            if let Err(e) = result {
                (fleet.events)(&format!("store: recording {place}: {e}"));
            }
        });
    }
}
