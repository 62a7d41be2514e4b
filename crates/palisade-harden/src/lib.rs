//! Hardening checks with stable IDs mapped to the CIS Docker Benchmark v1.6.0: host files,
//! daemon configuration, containers, images, Dockerfiles and Kubernetes pod specs. Every
//! check has a rationale and a remediation; every result carries its evidence.
//!
//! Not for: vulnerabilities, signatures, the policy decision (`palisade-policy` reuses
//! [`check`] profiles).
//!
//! Each target has a module with its `CHECKS`, a type holding what its checks look at, and
//! that type's [`target::Target`] implementation: the one calling convention (gather, then
//! `check(&profile)` or `report(&profile)`) every caller uses. [`check_list::all`] lists every
//! check (the manual and live-only ones with their reason), [`profile::Profile`] selects them,
//! [`report::Report`] orders, groups and scores the results.
//!
//! ```
//! use palisade_harden::check::Status;
//! use palisade_harden::containers::Containers;
//! use palisade_harden::profile::Profile;
//! use palisade_harden::target::Target;
//!
//! let containers = Containers::from_files(&["tests/fixtures/inspect/hardened.json".into()], None)?;
//! let results = containers.check(&Profile::default())?;
//! let privileged = results.iter().find(|r| r.id == "CIS-DOCKER-5.5").unwrap();
//! assert_eq!((privileged.subject(), privileged.status), ("hardened", Status::Pass));
//! # Ok::<(), palisade_harden::Error>(())
//! ```

pub mod check;
pub mod check_list;
pub mod containers;
pub mod daemon;
pub mod dockerfile;
pub mod engine;
mod error;
pub mod host;
pub mod hostfs;
pub mod image;
pub mod k8s;
pub mod profile;
pub mod report;
pub mod target;

pub use error::Error;
