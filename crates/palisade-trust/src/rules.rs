//! Trusted-source rules: which registries and repositories images may come from, who must have
//! signed them, and which tags are acceptable, turned into allow or deny with every reason.
//!
//! The types deserialize with serde (kebab-case, unknown fields refused), so the policy crate
//! can read them from its YAML file as they are:
//!
//! ```yaml
//! default: deny
//! rules:
//!   - name: internal
//!     images: ["registry.example.com/team/**"]
//!     signers: { any-of: ["keys/release.pub", "keys/release-2026.pub"] }
//!     tags: { deny: ["latest"], require-digest: false }
//!   - name: blocked
//!     images: ["docker.io/**"]
//!     action: deny
//! ```
//!
//! Rules are tried in order; the first whose `images` glob matches `registry/repository` decides.
//! Globs are [`palisade_image::glob_match`]'s, case-sensitive: `*` matches within one path
//! segment, `**` across segments, `?` one character other than `/`. Signer patterns are globs
//! over the names the verifier reports for each accepted signature (the key's file name or
//! label, its `sha256:` fingerprint, or a keyless identity), so `keys/*.pub` names key files
//! and `**` is needed to cross a `/` in an identity URL.

use std::collections::BTreeSet;

use palisade_image::{Case, Reference, check_glob, glob_match};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What happens when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Refuse the image (the default).
    #[default]
    Deny,
    /// Accept the image.
    Allow,
}

/// The trusted-sources section of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TrustedSources {
    /// What happens to images no rule matches.
    #[serde(default)]
    pub default: Action,
    /// The rules, tried in order.
    #[serde(default)]
    pub rules: Vec<SourceRule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceRule {
    /// A name used in reasons.
    pub name: String,
    /// Globs over `registry/repository` (e.g. `ghcr.io/acme/*`, `127.0.0.1:5000/**`).
    pub images: Vec<String>,
    /// `allow` (default): the image is accepted if the checks below pass; `deny`: refused.
    #[serde(default = "allow")]
    pub action: Action,
    /// Who must have signed the image.
    #[serde(default)]
    pub signers: Signers,
    /// Tag requirements.
    #[serde(default)]
    pub tags: TagRules,
}

fn allow() -> Action {
    Action::Allow
}

/// Required signers. Empty lists require nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Signers {
    /// At least one of these must have signed.
    #[serde(default)]
    pub any_of: Vec<String>,
    /// Every one of these must have signed.
    #[serde(default)]
    pub all_of: Vec<String>,
}

/// Tag requirements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TagRules {
    /// Tag globs that are refused (e.g. `latest`, `*-dev`). A reference with neither tag nor
    /// digest means `latest`.
    #[serde(default)]
    pub deny: Vec<String>,
    /// The reference must pin a digest (`repo@sha256:…`).
    #[serde(default)]
    pub require_digest: bool,
}

/// What is known about the image being decided on.
#[derive(Debug, Clone)]
pub struct SourceFacts {
    /// The reference as requested.
    pub reference: Reference,
    /// The digest it was resolved to and verified as, when known.
    pub digest: Option<String>,
    /// Names of the signers whose signatures verified (key names, fingerprints, identities).
    pub signers: BTreeSet<String>,
}

/// Why a decision went one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReason {
    /// A stable kebab-case code.
    pub code: &'static str,
    /// What happened, naming the rule and the input.
    pub message: String,
}

/// The decision with all its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceDecision {
    /// True when the image is allowed.
    pub allowed: bool,
    /// The rule that matched, if any.
    pub rule: Option<String>,
    /// The digest the decision is about, when known.
    pub digest: Option<String>,
    /// Every reason for refusal (empty when allowed).
    pub denied_because: Vec<SourceReason>,
    /// What was satisfied (matched rule, signers found, tag checks passed).
    pub satisfied: Vec<SourceReason>,
}

impl TrustedSources {
    /// Checks the patterns once ([`check_glob`], non-empty lists) so evaluation cannot fail.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the rule and the problem.
    pub fn validate(&self) -> Result<()> {
        for rule in &self.rules {
            if rule.images.is_empty() {
                return Err(Error::Invalid(format!(
                    "trusted source rule {:?}: `images` is empty",
                    rule.name
                )));
            }
            let patterns = rule
                .images
                .iter()
                .chain(&rule.signers.any_of)
                .chain(&rule.signers.all_of)
                .chain(&rule.tags.deny);
            for p in patterns {
                if let Err(e) = check_glob(p) {
                    return Err(Error::Invalid(format!(
                        "trusted source rule {:?}: {e}",
                        rule.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Decides on one image.
    #[must_use]
    pub fn evaluate(&self, facts: &SourceFacts) -> SourceDecision {
        let name = facts.reference.name();
        let mut denied = Vec::new();
        let mut satisfied = Vec::new();
        let Some(rule) = self.rules.iter().find(|r| {
            r.images
                .iter()
                .any(|g| glob_match(g, &name, Case::Sensitive))
        }) else {
            let reason = SourceReason {
                code: "no-matching-source",
                message: format!("no trusted source rule matches {name}"),
            };
            let allowed = self.default == Action::Allow;
            if allowed {
                satisfied.push(SourceReason {
                    code: "default-allow",
                    message: format!("{} (default: allow)", reason.message),
                });
            } else {
                denied.push(reason);
            }
            return SourceDecision {
                allowed,
                rule: None,
                digest: facts.digest.clone(),
                denied_because: denied,
                satisfied,
            };
        };
        if rule.action == Action::Deny {
            denied.push(SourceReason {
                code: "source-denied",
                message: format!("{name} is refused by rule {:?}", rule.name),
            });
        } else {
            satisfied.push(SourceReason {
                code: "source-matched",
                message: format!("{name} matches rule {:?}", rule.name),
            });
        }

        // Tags.
        let pinned = facts.reference.digest().is_some();
        if rule.tags.require_digest {
            if pinned {
                satisfied.push(SourceReason {
                    code: "digest-pinned",
                    message: "the reference pins a digest".into(),
                });
            } else {
                denied.push(SourceReason {
                    code: "digest-required",
                    message: format!(
                        "rule {:?} requires a digest reference (name@sha256:…), got {}",
                        rule.name, facts.reference
                    ),
                });
            }
        }
        let tag = facts
            .reference
            .tag()
            .or(if pinned { None } else { Some("latest") });
        if let Some(tag) = tag
            && let Some(glob) = rule
                .tags
                .deny
                .iter()
                .find(|g| glob_match(g, tag, Case::Sensitive))
        {
            denied.push(SourceReason {
                code: "tag-denied",
                message: format!(
                    "tag {tag:?} is refused by rule {:?} (pattern {glob:?})",
                    rule.name
                ),
            });
        }

        // Signers.
        let signed_by = |pattern: &str| {
            facts
                .signers
                .iter()
                .any(|s| glob_match(pattern, s, Case::Sensitive))
        };
        for required in &rule.signers.all_of {
            if signed_by(required) {
                satisfied.push(SourceReason {
                    code: "signer-present",
                    message: format!("signed by {required}"),
                });
            } else {
                denied.push(SourceReason {
                    code: "signer-missing",
                    message: format!(
                        "rule {:?} requires a signature by {required}; none verified",
                        rule.name
                    ),
                });
            }
        }
        if !rule.signers.any_of.is_empty() {
            match rule.signers.any_of.iter().find(|p| signed_by(p)) {
                Some(p) => satisfied.push(SourceReason {
                    code: "signer-present",
                    message: format!("signed by {p}"),
                }),
                None => denied.push(SourceReason {
                    code: "no-trusted-signer",
                    message: format!(
                        "rule {:?} requires a signature by one of {}; {}",
                        rule.name,
                        rule.signers.any_of.join(", "),
                        if facts.signers.is_empty() {
                            "no signature verified".to_owned()
                        } else {
                            format!(
                                "verified signers: {}",
                                facts.signers.iter().cloned().collect::<Vec<_>>().join(", ")
                            )
                        }
                    ),
                }),
            }
        }
        SourceDecision {
            allowed: denied.is_empty(),
            rule: Some(rule.name.clone()),
            digest: facts.digest.clone(),
            denied_because: denied,
            satisfied,
        }
    }
}
