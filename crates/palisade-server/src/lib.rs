//! The enforcement points: `palisade serve` (a Kubernetes validating and mutating admission
//! webhook) and `palisade agent` (a Docker authorization plugin), deciding with the same policy
//! and the same pipeline as `palisade gate` (`palisade_gate::Gate`).
//!
//! The plan is `docs/design/serve-plan.md`. The server never decides on its own: images go
//! through `palisade_gate`, workload and container settings through `palisade_harden` and
//! `palisade_policy`; this crate adds the wire formats, the caches, the decision budget, the
//! listeners and the reloads, and fails closed wherever something could not be checked.

pub mod admission;
pub mod agent;
pub mod agent_sync;
pub mod api;

pub mod authz;
pub mod bundle;
pub mod checks;
pub mod config;
pub mod console;
pub mod dbupdate;
pub mod engine;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod harbor;
pub mod harbor_api;
pub mod hosts;
pub mod http;
pub mod jobs;
pub mod log;
pub mod metrics;
pub mod record;
pub mod registry;
pub mod reload;
pub mod routes;
pub mod serve;
pub mod state;
pub mod tls;
pub mod wire;
