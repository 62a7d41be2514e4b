//! Check results (of a workload, a create or exec request, or a host) as the policy's input:
//! one conversion for every enforcement point, so the same result is judged the same way.

use palisade_harden::check::{CheckResult, TargetKind};
use palisade_policy::CheckInput;

use crate::engine::{MAX_CACHED_MESSAGE, ReasonLite, cut};

/// One check result as a [`CheckInput`], as the gate converts it ([`palisade_gate::check_input`]),
/// with the check's own target (a workload's, a container's, a host's).
#[must_use]
pub fn input(r: &CheckResult) -> CheckInput {
    let target =
        palisade_harden::check_list::find_any(r.id).map_or(TargetKind::Container, |d| d.target);
    palisade_gate::check_input(target, r)
}

/// The policy's reasons on `checks`, for `image` (`""` for host checks), in `env`. A policy
/// error is a deny of the server's own, never a pass.
#[must_use]
pub fn reasons(
    policy: &palisade_policy::Policy,
    env: &str,
    now: &str,
    image: &str,
    checks: &[CheckInput],
) -> Vec<ReasonLite> {
    match policy.evaluate_checks(env, now, image, checks) {
        Ok(reasons) => reasons
            .iter()
            .map(|r| ReasonLite {
                effect: r.effect,
                section: "hardening".to_owned(),
                code: r.code.clone(),
                rule: r.rule.clone(),
                message: cut(&r.message, MAX_CACHED_MESSAGE),
            })
            .collect(),
        Err(e) => vec![ReasonLite::server("decision-error", e.to_string())],
    }
}
