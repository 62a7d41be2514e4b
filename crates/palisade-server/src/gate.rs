//! The real [`ImageDecider`]: `palisade gate`'s pipeline, on the digest the tag resolved to.

use palisade_gate::Gate;
use palisade_policy::Evaluation;
use palisade_scan::SourceOptions;

use crate::engine::ImageDecider;
use crate::state::Loaded;

/// Decides images as `palisade gate registry:REFERENCE@DIGEST` does.
#[derive(Debug, Clone)]
pub struct GateDecider {
    /// How registries are reached and where layers are cached (the registry timeout is set
    /// from the server's `decision.registry_timeout`).
    pub options: SourceOptions,
}

impl ImageDecider for GateDecider {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        let parsed: palisade_image::Reference = reference
            .parse()
            .map_err(|e| format!("not an image reference: {e}"))?;
        palisade_gate::resolve(&parsed, &self.options)
            .map(|d| d.to_string())
            .map_err(|e| e.to_string())
    }

    fn decide(
        &self,
        loaded: &Loaded,
        env: &str,
        reference: &str,
        digest: &str,
    ) -> Result<Evaluation, String> {
        let now = palisade_gate::now_utc();
        let gate = Gate {
            policy: &loaded.policy,
            environment: env,
            now: &now,
            db_path: loaded.db_path.clone(),
            options: &self.options,
            trust_local_tags: false,
        };
        let name = reference.split_once('@').map_or(reference, |(n, _)| n);
        gate.decide(&format!("registry:{name}@{digest}"), &palisade_scan::Silent)
            .map_err(|e| e.to_string())
    }
}
