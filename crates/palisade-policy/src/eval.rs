//! Evaluation: one input document through every section of the policy into one decision.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use palisade_image::Reference;
use palisade_image::{Case, Timestamp, glob_match};
use palisade_trust::rules::{SourceFacts, SourceReason};
use serde_json::json;

use crate::decision::{
    DECISION_SCHEMA, Decision, Effect, Evaluated, ExceptionRef, ExceptionReport, ExceptionStatus,
    ImageRef, PolicyRef, Reason, Section, Summary, Verdict,
};
use crate::error::{ErrorKind, PolicyError};
use crate::input::{CheckInput, FindingInput, Input};
use crate::policy::{DenyOn, Exception, HardeningSettings, OnMatch, Policy};

/// A decision and the lines that explain how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The decision document.
    pub decision: Decision,
    /// Human-readable lines for `--explain`: each section, thresholds used, each rule, each
    /// exception considered.
    pub trace: Vec<String>,
}

/// What an exception can be matched against.
enum Target {
    None,
    Finding { ids: Vec<String>, package: String },
    Check { id: String },
}

struct Pending {
    reason: Reason,
    target: Target,
}

fn reason(
    effect: Effect,
    section: Section,
    code: &str,
    rule: &str,
    subject: serde_json::Value,
    message: String,
    fix: Option<String>,
) -> Reason {
    Reason {
        effect,
        section,
        code: code.to_owned(),
        rule: rule.to_owned(),
        subject,
        message,
        fix,
        exception: None,
    }
}

fn effect_of(m: OnMatch) -> Option<Effect> {
    match m {
        OnMatch::Deny => Some(Effect::Deny),
        OnMatch::Warn => Some(Effect::Warn),
        OnMatch::Ignore => None,
    }
}

fn eval_error(path: &str, message: String) -> PolicyError {
    PolicyError::new(ErrorKind::Eval, path, 0, 0, message)
}

impl Policy {
    /// Decides on one image. Pure: the same policy and input give byte-identical decisions.
    /// The environment is `input.environment`, else the policy's default.
    ///
    /// # Errors
    /// [`PolicyError`] of kind [`ErrorKind::Eval`] when `input.now` is not RFC 3339 or a Rego
    /// rule fails at run time (error, time limit, result of the wrong shape).
    pub fn evaluate(&self, input: &Input) -> Result<Evaluation, PolicyError> {
        let env = self
            .environment(Some(input.environment.as_str()))?
            .to_owned();
        let now = parse_now(&input.now)?;
        let mut trace = vec![format!(
            "policy {} (sha256 {}), environment {env}, now {}",
            self.name, self.sha256, input.now
        )];
        let image_name = image_name(input);
        let mut pending = Vec::new();

        self.eval_sources(input, &image_name, &mut pending, &mut trace);
        self.eval_vulns(input, &env, &now, &mut pending, &mut trace);
        self.eval_hardening(input, &env, &mut pending, &mut trace);
        self.eval_rules(input, &env, &mut pending, &mut trace)?;

        let mut matched = vec![0usize; self.exceptions.len()];
        let reasons = self.apply_exceptions(
            pending,
            Some(&image_name),
            &env,
            &now,
            &mut matched,
            &mut trace,
        );
        let exceptions: Vec<ExceptionReport> = self
            .exceptions
            .iter()
            .zip(&matched)
            .map(|(e, &n)| {
                let status = if days_past(e, &now) > 0 {
                    ExceptionStatus::Expired
                } else if n > 0 {
                    ExceptionStatus::Applied
                } else {
                    ExceptionStatus::Unused
                };
                trace.push(format!(
                    "exception {}: {} (matched {n}, expires {})",
                    e.name,
                    status.as_str(),
                    e.expires
                ));
                ExceptionReport {
                    name: e.name.clone(),
                    status,
                    reason: e.reason.clone(),
                    approved_by: e.approved_by.clone(),
                    expires: e.expires.clone(),
                    matched: n,
                }
            })
            .collect();
        let reasons = sort_reasons(reasons);

        let mut summary = Summary::default();
        for r in &reasons {
            match r.effect {
                Effect::Deny => summary.deny += 1,
                Effect::Warn => summary.warn += 1,
                Effect::Excepted => summary.excepted += 1,
            }
        }
        let decision = if summary.deny > 0 {
            Verdict::Deny
        } else if summary.warn > 0 {
            Verdict::Warn
        } else {
            Verdict::Allow
        };
        trace.push(format!(
            "decision {}: {} deny, {} warn, {} excepted",
            match decision {
                Verdict::Allow => "allow",
                Verdict::Warn => "warn",
                Verdict::Deny => "deny",
            },
            summary.deny,
            summary.warn,
            summary.excepted
        ));
        Ok(Evaluation {
            decision: Decision {
                schema: DECISION_SCHEMA,
                decision,
                environment: env,
                now: input.now.clone(),
                policy: PolicyRef {
                    name: self.name.clone(),
                    version: self.version,
                    sha256: self.sha256.clone(),
                },
                image: ImageRef {
                    reference: input.image.reference.clone(),
                    digest: input.image.digest.clone(),
                    origin: match (input.image.local, input.image.local_tags_trusted) {
                        (false, _) => "registry",
                        (true, false) => "local",
                        (true, true) => "local-tags-trusted",
                    },
                },
                evaluated: Evaluated {
                    trust: self.sources.is_some(),
                    vulnerabilities: self.vulnerabilities.is_some(),
                    hardening: self.hardening.is_some(),
                    rules: self.rules.len(),
                },
                reasons,
                exceptions,
                summary,
            },
            trace,
        })
    }

    /// The reasons of the `hardening` section, with exceptions applied, for check results that
    /// come from elsewhere than an image: a Kubernetes workload, a container create or exec
    /// request, a host or a Docker daemon. For the same results, they are exactly the
    /// hardening reasons [`Policy::evaluate`] gives when the results are an input's
    /// `hardening.results` (one code path serves both): the environment's level,
    /// `include`/`exclude` and `deny_on` select and judge the results, `check-failed` reasons
    /// come out sorted as in a decision, and `checks` exceptions apply, expire or not as at
    /// `now`. Sources, vulnerabilities and Rego rules are not evaluated. A policy without a
    /// `hardening` section gives no reasons (and no `input-missing` either: the caller ran the
    /// checks).
    ///
    /// `env` is the environment (empty: the policy's default), `now` the evaluation clock in
    /// RFC 3339 UTC (as [`Input::now`]).
    ///
    /// `image` scopes exceptions that name `images`. It is the image reference of the
    /// container the results are about, as written in the workload or the create request
    /// (`nginx:1.25`, `registry.acme.com/app:1@sha256:…`). It is matched as `evaluate` matches
    /// an input's image: as `registry/repository` (`docker.io/library/nginx`), without tag or
    /// digest; a string that is not an image reference is matched as it is. An empty `image`
    /// means the results are about no image (host and daemon checks): only exceptions without
    /// `images` can apply to them.
    ///
    /// # Errors
    /// [`PolicyError`] when `env` is not an environment of the policy ([`Policy::environment`])
    /// or `now` is not RFC 3339 (kind [`ErrorKind::Eval`]).
    pub fn evaluate_checks(
        &self,
        env: &str,
        now: &str,
        image: &str,
        checks: &[CheckInput],
    ) -> Result<Vec<Reason>, PolicyError> {
        let env = self.environment(Some(env))?;
        let now = parse_now(now)?;
        let Some(h) = &self.hardening else {
            return Ok(Vec::new());
        };
        let mut pending = Vec::new();
        check_reasons(h.get(env), checks, &mut pending);
        let image = (!image.is_empty()).then(|| {
            image
                .parse::<Reference>()
                .map_or_else(|_| image.to_owned(), |r| r.name())
        });
        let mut matched = vec![0usize; self.exceptions.len()];
        let reasons = self.apply_exceptions(
            pending,
            image.as_deref(),
            env,
            &now,
            &mut matched,
            &mut Vec::new(),
        );
        Ok(sort_reasons(reasons))
    }

    /// The reasons of the `sources` section that do not depend on signatures, for an image
    /// that has none yet: a pull (`docker pull`, `POST /images/create`) before the image is in
    /// the engine. The rule that matches `reference` decides as in [`Policy::evaluate`], with
    /// the same codes, rules, subjects and messages: `untrusted-source` (no rule matches and
    /// the default is deny, or a `deny` rule matches), `tag-denied` (the rule's `tags.deny`;
    /// a reference with neither tag nor digest means `latest`) and `digest-required` (the
    /// rule's `tags.require_digest` and a reference without a digest). The rule's signer
    /// requirement (`signature-missing`, `signature-invalid`) is left out: check it when the
    /// image is used, with [`Policy::evaluate`]. Exceptions never waive source reasons, so none
    /// apply here. A policy without `sources` gives no reasons.
    ///
    /// # Errors
    /// [`PolicyError`] when `env` is not an environment of the policy ([`Policy::environment`]);
    /// sources have no per-environment settings, but a typo should not pass unnoticed.
    pub fn source_reasons(
        &self,
        env: &str,
        reference: &Reference,
    ) -> Result<Vec<Reason>, PolicyError> {
        self.environment(Some(env))?;
        let Some(sources) = &self.sources else {
            return Ok(Vec::new());
        };
        let facts = SourceFacts {
            reference: reference.clone(),
            digest: reference.digest().map(ToString::to_string),
            signers: BTreeSet::new(),
        };
        let d = sources.evaluate(&facts);
        let rule_name = d.rule.clone().unwrap_or_else(|| "default".into());
        let image_name = reference.name();
        let reasons = d
            .denied_because
            .iter()
            .filter_map(|r| placement_reason(r, &rule_name, &image_name, &facts.reference))
            .collect();
        Ok(sort_reasons(reasons))
    }

    /// Applies the exceptions to `pending` reasons of environment `env` at `now`: the first
    /// exception that matches and has not expired turns the reason into `excepted`; else the
    /// first expired one is named in its message. `image` is the `registry/repository`
    /// exceptions' `images` match (`None`: no image, so image-scoped exceptions never match).
    /// Counts the reasons each exception matched into `matched`.
    fn apply_exceptions(
        &self,
        pending: Vec<Pending>,
        image: Option<&str>,
        env: &str,
        now: &Timestamp,
        matched: &mut [usize],
        trace: &mut Vec<String>,
    ) -> Vec<Reason> {
        let mut reasons = Vec::with_capacity(pending.len());
        for p in pending {
            let mut r = p.reason;
            let mut applied: Option<&Exception> = None;
            let mut expired: Option<&Exception> = None;
            for (i, e) in self.exceptions.iter().enumerate() {
                if !exception_matches(e, &p.target, image, env) {
                    continue;
                }
                matched[i] += 1;
                if days_past(e, now) <= 0 {
                    applied.get_or_insert(e);
                } else {
                    expired.get_or_insert(e);
                }
            }
            if let Some(e) = applied {
                trace.push(format!(
                    "exception {} applies to {} ({})",
                    e.name, r.code, r.message
                ));
                r.effect = Effect::Excepted;
                r.exception = Some(exception_ref(e, ExceptionStatus::Applied));
            } else if let Some(e) = expired {
                trace.push(format!(
                    "exception {} would apply to {} but expired on {}",
                    e.name, r.code, e.expires
                ));
                let _ = write!(r.message, "; exception {} expired on {}", e.name, e.expires);
                r.exception = Some(exception_ref(e, ExceptionStatus::Expired));
            }
            reasons.push(r);
        }
        reasons
    }

    fn eval_sources(
        &self,
        input: &Input,
        image_name: &str,
        out: &mut Vec<Pending>,
        trace: &mut Vec<String>,
    ) {
        let Some(sources) = &self.sources else {
            trace.push("sources: not configured".into());
            return;
        };
        let subject = json!({ "image": image_name });
        if input.image.local && !input.image.local_tags_trusted {
            trace.push("sources: a local image has no registry location".into());
            out.push(Pending {
                reason: reason(
                    Effect::Deny,
                    Section::Sources,
                    "local-source",
                    "sources",
                    subject,
                    format!(
                        "{} is a local image: it has no registry location for the source rules \
                         to place, and no signatures that could be looked up",
                        input.image.reference.chars().take(256).collect::<String>()
                    ),
                    Some(
                        "Push the image to a registry the policy trusts, sign it there, and gate \
                         the registry reference (REGISTRY/REPOSITORY@sha256:…); or, if you vouch \
                         for the archive's own tag, pass --trust-local-tags"
                            .into(),
                    ),
                ),
                target: Target::None,
            });
            return;
        }
        let push = |out: &mut Vec<Pending>, code: &str, rule: &str, subject, message, fix| {
            out.push(Pending {
                reason: reason(
                    Effect::Deny,
                    Section::Sources,
                    code,
                    rule,
                    subject,
                    message,
                    fix,
                ),
                target: Target::None,
            });
        };
        let Some(reference) = reference_of(input) else {
            push(
                out,
                "untrusted-source",
                "sources",
                subject,
                format!(
                    "{:?} is not a valid image reference",
                    input.image.reference.chars().take(256).collect::<String>()
                ),
                None,
            );
            return;
        };
        let (signers, errors, verified) = match &input.trust {
            Some(t) => (
                t.signers.iter().cloned().collect::<BTreeSet<_>>(),
                t.errors.clone(),
                true,
            ),
            None => (BTreeSet::new(), Vec::new(), false),
        };
        if !verified {
            trace.push(
                "sources: no signature verification in the input; no signer counts as verified"
                    .into(),
            );
        }
        let facts = SourceFacts {
            reference,
            digest: input.image.digest.clone(),
            signers: signers.clone(),
        };
        let d = sources.evaluate(&facts);
        let rule_name = d.rule.clone().unwrap_or_else(|| "default".into());
        trace.push(format!(
            "sources: rule {rule_name} ({}), default {}",
            if d.allowed { "allowed" } else { "denied" },
            match sources.default {
                palisade_trust::rules::Action::Allow => "allow",
                palisade_trust::rules::Action::Deny => "deny",
            }
        ));
        for s in &d.satisfied {
            trace.push(format!("sources: ok {}: {}", s.code, s.message));
        }
        let rule = sources
            .rules
            .iter()
            .find(|r| Some(&r.name) == d.rule.as_ref());
        // The trust crate reports missing `all_of` signers in order, then `any_of`.
        let mut missing_all = rule
            .map(|r| {
                r.signers
                    .all_of
                    .iter()
                    .filter(|s| !signers.iter().any(|v| glob_match(s, v, Case::Sensitive)))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter();
        for r in &d.denied_because {
            if let Some(reason) = placement_reason(r, &rule_name, image_name, &facts.reference) {
                out.push(Pending {
                    reason,
                    target: Target::None,
                });
                continue;
            }
            // The signer requirement: every other code of the trust crate.
            let signer = if r.code == "signer-missing" {
                missing_all.next()
            } else {
                rule.and_then(|r| r.signers.any_of.first().cloned())
            }
            .unwrap_or_default();
            let local = input.image.local;
            let invalid = !local && signers.is_empty() && !errors.is_empty();
            let mut message = r.message.clone();
            if local {
                message.push_str(
                    " (a local image's signatures cannot be looked up: they live in a registry)",
                );
            } else if !verified {
                message.push_str(" (signatures were not verified)");
            } else if invalid {
                let _ = write!(
                    message,
                    " ({} signature(s) failed to verify: {})",
                    errors.len(),
                    errors.join("; ")
                );
            }
            push(
                out,
                if invalid {
                    "signature-invalid"
                } else {
                    "signature-missing"
                },
                &rule_name,
                json!({ "image": image_name, "signer": signer }),
                message,
                Some(if local {
                    format!(
                        "Push the image to its registry, sign it there with key {signer} \
                         (palisade sign --key {signer}.key REGISTRY/REPOSITORY@sha256:…) and \
                         gate the registry reference"
                    )
                } else if let Some(g) = self.gpg.get(&signer) {
                    format!(
                        "Sign the image with a key of GPG keyring {signer} ({}): skopeo copy \
                         --sign-by FINGERPRINT … docker://{}, with the signature written to \
                         the lookaside storage sources.gpg.{signer} reads (registries_d or \
                         lookaside)",
                        g.keyring.display(),
                        input.image.reference
                    )
                } else {
                    format!(
                        "Sign the image with key {signer}: palisade sign --key {signer}.key {}",
                        input.image.reference
                    )
                }),
            );
        }
    }

    fn eval_vulns(
        &self,
        input: &Input,
        env: &str,
        now: &Timestamp,
        out: &mut Vec<Pending>,
        trace: &mut Vec<String>,
    ) {
        let Some(v) = &self.vulnerabilities else {
            trace.push("vulnerabilities: not configured".into());
            return;
        };
        let s = v.get(env);
        trace.push(format!(
            "vulnerabilities ({env}): max_cvss {}, severities [{}], ignore_unfixed {}, kev {}, epss {}, max_db_age_days {}, coverage {}, unknown_severity {}",
            s.max_cvss.map_or_else(|| "none".into(), |m| m.to_string()),
            s.severities.join(", "),
            s.ignore_unfixed,
            s.kev.as_str(),
            s.epss.map_or_else(|| "none".into(), |(a, e)| format!("above {a}: {}", e.as_str())),
            s.max_db_age_days.map_or_else(|| "none".into(), |d| d.to_string()),
            s.coverage.as_str(),
            s.unknown_severity.as_str(),
        ));
        let Some(vi) = &input.vulnerabilities else {
            out.push(Pending {
                reason: reason(
                    Effect::Deny,
                    Section::Vulnerabilities,
                    "input-missing",
                    "vulnerabilities",
                    json!({}),
                    "the policy requires a vulnerability scan but the input has none".into(),
                    Some("Scan the image (palisade gate does this when the policy has a vulnerabilities section)".into()),
                ),
                target: Target::None,
            });
            return;
        };
        // Database freshness.
        let built = vi
            .db_built
            .as_deref()
            .and_then(|b| Timestamp::parse(b).ok());
        match (built, s.max_db_age_days) {
            (None, limit) => {
                let what = match &vi.db_built {
                    Some(b) => format!(
                        "the vulnerability database build time {:?} is not RFC 3339",
                        b.chars().take(64).collect::<String>()
                    ),
                    None => "the vulnerability database build time is unknown".into(),
                };
                out.push(Pending {
                    reason: reason(
                        if limit.is_some() {
                            Effect::Deny
                        } else {
                            Effect::Warn
                        },
                        Section::Vulnerabilities,
                        "db-missing",
                        "max_db_age_days",
                        json!({}),
                        what,
                        Some("Update the vulnerability database: palisade db update".into()),
                    ),
                    target: Target::None,
                });
            }
            (Some(b), Some(max)) => {
                let age = now.whole_days_since(&b);
                trace.push(format!(
                    "vulnerabilities: database is {age} day(s) old (max {max})"
                ));
                if age > i64::try_from(max).unwrap_or(i64::MAX) {
                    out.push(Pending {
                        reason: reason(
                            Effect::Deny,
                            Section::Vulnerabilities,
                            "db-too-old",
                            "max_db_age_days",
                            json!({ "db_built": vi.db_built }),
                            format!("the vulnerability database is {age} days old, older than max_db_age_days {max} (environment {env})"),
                            Some("Update the vulnerability database: palisade db update".into()),
                        ),
                        target: Target::None,
                    });
                }
            }
            (Some(_), None) => {}
        }
        // Coverage: packages no advisory in the database could be about.
        if let Some(effect) = effect_of(s.coverage) {
            for c in vi.coverage.iter().filter(|c| !c.covered) {
                let names: Vec<&str> = vi
                    .not_covered
                    .iter()
                    .filter(|n| n.ecosystem == c.ecosystem)
                    .map(|n| n.name.as_str())
                    .collect();
                let shown = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
                let more = names.len().saturating_sub(8);
                out.push(Pending {
                    reason: reason(
                        effect,
                        Section::Vulnerabilities,
                        "not-covered",
                        "coverage",
                        json!({ "ecosystem": c.ecosystem, "packages": c.packages }),
                        format!(
                            "{} package(s) of {} were not checked for vulnerabilities: {}{}",
                            c.packages,
                            c.ecosystem.chars().take(128).collect::<String>(),
                            c.reason
                                .as_deref()
                                .unwrap_or("the database has no advisories for it")
                                .chars()
                                .take(256)
                                .collect::<String>(),
                            if shown.is_empty() {
                                String::new()
                            } else if more > 0 {
                                format!(" ({shown} and {more} more)")
                            } else {
                                format!(" ({shown})")
                            }
                        ),
                        Some(format!(
                            "Import a feed that covers {} (palisade db update, or palisade db import FILE), or set vulnerabilities.coverage to warn if unchecked packages are acceptable",
                            c.ecosystem.chars().take(128).collect::<String>()
                        )),
                    ),
                    target: Target::None,
                });
            }
        }
        trace.push(format!(
            "vulnerabilities: coverage of {} ecosystem(s), {} package(s) not covered",
            vi.coverage.len(),
            vi.not_covered.len()
        ));
        let thresholds = s.max_cvss.is_some() || !s.severities.is_empty();
        let mut skipped = 0usize;
        for f in &vi.findings {
            if s.ignore_unfixed && f.fixed_versions.is_empty() {
                skipped += 1;
                continue;
            }
            let mut crossed: Vec<(Effect, &str, &str, String)> = Vec::new();
            if let (Some(max), Some(c)) = (s.max_cvss, &f.cvss)
                && c.score > max
            {
                crossed.push((
                    Effect::Deny,
                    "cvss-above-threshold",
                    "max_cvss",
                    format!("CVSS {} is above max_cvss {max}", c.score),
                ));
            }
            let sev = f.severity.to_ascii_uppercase();
            if s.severities.contains(&sev) {
                crossed.push((
                    Effect::Deny,
                    "severity-denied",
                    "severities",
                    format!("severity {sev} is denied"),
                ));
            } else if thresholds
                && f.cvss.is_none()
                && matches!(sev.as_str(), "UNKNOWN" | "")
                && let Some(e) = effect_of(s.unknown_severity)
            {
                // No score and no rating: max_cvss and severities cannot clear it.
                crossed.push((
                    e,
                    "unknown-severity",
                    "unknown_severity",
                    "its severity is unknown (no CVSS score, no distro rating), so the severity thresholds cannot clear it".into(),
                ));
            }
            if f.kev
                && let Some(e) = effect_of(s.kev)
            {
                crossed.push((
                    e,
                    "kev-listed",
                    "kev",
                    "it is listed in CISA KEV (known exploited)".into(),
                ));
            }
            if let (Some((above, action)), Some(p)) = (s.epss, f.epss)
                && p > above
                && let Some(e) = effect_of(action)
            {
                crossed.push((
                    e,
                    "epss-above-threshold",
                    "epss",
                    format!("EPSS {p} is above {above}"),
                ));
            }
            let Some(strongest) = crossed.iter().map(|c| c.0).min() else {
                continue;
            };
            let Some(primary) = crossed.iter().find(|c| c.0 == strongest) else {
                continue;
            };
            let message = format!(
                "{} in {} {}: {} (environment {env})",
                advisory_label(f),
                f.package.name,
                f.package.version,
                crossed
                    .iter()
                    .map(|c| c.3.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            let fix = if f.fixed_versions.is_empty() {
                Some(format!(
                    "No fixed version of {} is known; if the risk is accepted, add an exception with a reason and an expiry",
                    f.package.name
                ))
            } else {
                Some(format!(
                    "Upgrade {} to {}",
                    f.package.name,
                    f.fixed_versions.join(" or ")
                ))
            };
            let mut ids = vec![f.id.clone()];
            ids.extend(f.aliases.iter().cloned());
            out.push(Pending {
                reason: reason(
                    strongest,
                    Section::Vulnerabilities,
                    primary.1,
                    primary.2,
                    json!({
                        "advisory": f.id,
                        "aliases": f.aliases,
                        "package": f.package.name,
                        "version": f.package.version,
                        "fixed_versions": f.fixed_versions,
                        "thresholds": crossed.iter().map(|c| c.1).collect::<Vec<_>>(),
                    }),
                    message,
                    fix,
                ),
                target: Target::Finding {
                    ids,
                    package: f.package.name.clone(),
                },
            });
        }
        trace.push(format!(
            "vulnerabilities: {} finding(s), {skipped} skipped as unfixed",
            vi.findings.len()
        ));
    }

    fn eval_hardening(
        &self,
        input: &Input,
        env: &str,
        out: &mut Vec<Pending>,
        trace: &mut Vec<String>,
    ) {
        let Some(h) = &self.hardening else {
            trace.push("hardening: not configured".into());
            return;
        };
        let s = h.get(env);
        trace.push(format!(
            "hardening ({env}): level {}, include [{}], exclude [{}], deny_on {}",
            s.level,
            s.include.join(", "),
            s.exclude.join(", "),
            s.deny_on.as_str()
        ));
        let Some(hi) = &input.hardening else {
            out.push(Pending {
                reason: reason(
                    Effect::Deny,
                    Section::Hardening,
                    "input-missing",
                    "hardening",
                    json!({}),
                    "the policy requires hardening checks but the input has none".into(),
                    Some("Run the image hardening checks (palisade gate does this when the policy has a hardening section)".into()),
                ),
                target: Target::None,
            });
            return;
        };
        let considered = check_reasons(s, &hi.results, out);
        trace.push(format!(
            "hardening: {considered} of {} result(s) selected",
            hi.results.len()
        ));
    }

    fn eval_rules(
        &self,
        input: &Input,
        env: &str,
        out: &mut Vec<Pending>,
        trace: &mut Vec<String>,
    ) -> Result<(), PolicyError> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let mut doc = input.clone();
        env.clone_into(&mut doc.environment);
        let json = serde_json::to_string(&doc)
            .map_err(|e| eval_error(&self.path, format!("serializing the input: {e}")))?;
        let runs = crate::sandbox::run_rules(&self.rules, Some(&json));
        for (rule, run) in self.rules.iter().zip(runs) {
            let output = match run {
                crate::sandbox::RuleRun::Done(output) => output,
                crate::sandbox::RuleRun::Failed(e) => {
                    return Err(eval_error(
                        &rule.origin,
                        format!(
                            "rule {:?} ({}): {}",
                            rule.name,
                            rule.package,
                            crate::rego::parse_regorus_error(&e).message
                        ),
                    ));
                }
                crate::sandbox::RuleRun::Budget(why) => {
                    return Err(eval_error(
                        &rule.origin,
                        format!("rule {:?} ({}): {why}", rule.name, rule.package),
                    ));
                }
            };
            trace.push(format!(
                "rule {} ({}): {} deny, {} warn",
                rule.name,
                rule.package,
                output.deny.len(),
                output.warn.len()
            ));
            for (effect, code, items) in [
                (Effect::Deny, "rego-deny", output.deny),
                (Effect::Warn, "rego-warn", output.warn),
            ] {
                for m in items {
                    out.push(Pending {
                        reason: reason(
                            effect,
                            Section::Rules,
                            code,
                            &rule.name,
                            json!({ "rule": rule.name }),
                            m.msg,
                            m.fix,
                        ),
                        target: Target::None,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Parses the evaluation clock.
fn parse_now(now: &str) -> Result<Timestamp, PolicyError> {
    Timestamp::parse(now).map_err(|_| {
        eval_error(
            "input",
            format!("now: {now:?} is not an RFC 3339 timestamp"),
        )
    })
}

/// Days past an exception's expiry date at `now`: 0 on the day itself, when it still applies.
fn days_past(e: &Exception, now: &Timestamp) -> i64 {
    e.expires_at.as_ref().map_or(1, |x| now.whole_days_since(x))
}

/// The reasons of the hardening section for `results` under settings `s`: the selected
/// results that fail or warn, judged by `deny_on`. Returns how many results were selected.
fn check_reasons(s: &HardeningSettings, results: &[CheckInput], out: &mut Vec<Pending>) -> usize {
    let mut considered = 0usize;
    for c in results {
        let selected = c.level.max(1) <= s.level
            && (s.include.is_empty()
                || s.include
                    .iter()
                    .any(|g| glob_match(g, &c.id, Case::Insensitive)))
            && !s
                .exclude
                .iter()
                .any(|g| glob_match(g, &c.id, Case::Insensitive));
        if !selected {
            continue;
        }
        considered += 1;
        let effect = match (c.status.as_str(), s.deny_on) {
            ("fail", DenyOn::Fail | DenyOn::Warn) | ("warn", DenyOn::Warn) => Effect::Deny,
            ("fail" | "warn", _) => Effect::Warn,
            _ => continue,
        };
        let mut message = format!("{} {}: {}", c.id, c.title, c.status);
        if !c.message.is_empty() {
            let _ = write!(message, ": {}", c.message);
        }
        out.push(Pending {
            reason: reason(
                effect,
                Section::Hardening,
                "check-failed",
                &c.id,
                json!({ "check": c.id, "title": c.title, "status": c.status }),
                message,
                (!c.remediation.is_empty()).then(|| c.remediation.clone()),
            ),
            target: Target::Check { id: c.id.clone() },
        });
    }
    considered
}

/// The reason for a source decision's refusal that concerns where the image is and how it is
/// named (rule, default, tags, digest), `None` for a signer requirement.
fn placement_reason(
    r: &SourceReason,
    rule_name: &str,
    image_name: &str,
    reference: &Reference,
) -> Option<Reason> {
    let (code, subject, fix) = match r.code {
        "no-matching-source" | "source-denied" => (
            "untrusted-source",
            json!({ "image": image_name }),
            "Use an image from a trusted source, or add a rule for it to sources.rules".to_owned(),
        ),
        "digest-required" => (
            "digest-required",
            json!({ "image": image_name }),
            format!("Refer to the image by digest: {image_name}@sha256:…"),
        ),
        "tag-denied" => (
            "tag-denied",
            json!({ "image": image_name, "tag": reference.tag().unwrap_or("latest") }),
            "Use an immutable version tag or a digest".to_owned(),
        ),
        _ => return None,
    };
    Some(reason(
        Effect::Deny,
        Section::Sources,
        code,
        rule_name,
        subject,
        r.message.clone(),
        Some(fix),
    ))
}

/// Sorts reasons into the decision's deterministic order and drops duplicates.
fn sort_reasons(reasons: Vec<Reason>) -> Vec<Reason> {
    let mut keyed: Vec<(String, Reason)> = reasons
        .into_iter()
        .map(|r| {
            let key = serde_json::to_string(&r.subject).unwrap_or_default();
            (key, r)
        })
        .collect();
    keyed.sort_by(|(ka, a), (kb, b)| {
        (a.effect, a.section, &a.code, ka, &a.message, &a.rule)
            .cmp(&(b.effect, b.section, &b.code, kb, &b.message, &b.rule))
    });
    keyed.dedup_by(|(ka, a), (kb, b)| ka == kb && a == b);
    keyed.into_iter().map(|(_, r)| r).collect()
}

fn advisory_label(f: &FindingInput) -> String {
    if f.aliases.is_empty() {
        f.id.clone()
    } else {
        format!("{} ({})", f.id, f.aliases.join(", "))
    }
}

/// `registry/repository` from the input (parsed from the reference when the fields are empty).
fn image_name(input: &Input) -> String {
    if !input.image.registry.is_empty() && !input.image.repository.is_empty() {
        return format!("{}/{}", input.image.registry, input.image.repository);
    }
    input
        .image
        .reference
        .parse::<Reference>()
        .map_or_else(|_| input.image.reference.clone(), |r| r.name())
}

fn reference_of(input: &Input) -> Option<Reference> {
    if let Ok(r) = input.image.reference.parse::<Reference>() {
        return Some(r);
    }
    let i = &input.image;
    if i.registry.is_empty() || i.repository.is_empty() {
        return None;
    }
    let mut s = format!("{}/{}", i.registry, i.repository);
    if let Some(t) = &i.tag {
        let _ = write!(s, ":{t}");
    }
    s.parse().ok()
}

fn exception_matches(e: &Exception, target: &Target, image: Option<&str>, env: &str) -> bool {
    if let Some(envs) = &e.environments
        && !envs.iter().any(|x| x == env)
    {
        return false;
    }
    if !e.images.is_empty()
        && !image.is_some_and(|image| {
            e.images
                .iter()
                .any(|g| glob_match(g, image, Case::Sensitive))
        })
    {
        return false;
    }
    match target {
        Target::None => false,
        Target::Finding { ids, package } => {
            if !e.checks.is_empty() || (e.advisories.is_empty() && e.packages.is_empty()) {
                return false;
            }
            (e.advisories.is_empty()
                || e.advisories
                    .iter()
                    .any(|g| ids.iter().any(|id| glob_match(g, id, Case::Insensitive))))
                && (e.packages.is_empty()
                    || e.packages
                        .iter()
                        .any(|g| glob_match(g, package, Case::Insensitive)))
        }
        Target::Check { id } => {
            !e.checks.is_empty()
                && e.checks
                    .iter()
                    .any(|g| glob_match(g, id, Case::Insensitive))
        }
    }
}

fn exception_ref(e: &Exception, status: ExceptionStatus) -> ExceptionRef {
    ExceptionRef {
        name: e.name.clone(),
        status,
        reason: e.reason.clone(),
        approved_by: e.approved_by.clone(),
        expires: e.expires.clone(),
    }
}
