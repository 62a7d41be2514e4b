//! The one calling convention of every `palisade bench` target: first gather what the checks
//! look at (read files, ask the Engine API, stream an image, parse Dockerfiles), then run the
//! checks on it under a [`Profile`] and get a [`Report`].
//!
//! | target | what is gathered | from |
//! |---|---|---|
//! | host | [`Host`](crate::host::Host): the root and the daemon configuration under it | [`Host::load`](crate::host::Host::load) |
//! | daemon | [`Daemon`](crate::daemon::Daemon): the effective configuration | [`Daemon::offline`](crate::daemon::Daemon::offline), [`Daemon::live`](crate::daemon::Daemon::live) |
//! | containers | [`Containers`](crate::containers::Containers): inspect documents | [`Containers::from_files`](crate::containers::Containers::from_files), [`Containers::live`](crate::containers::Containers::live) |
//! | image | [`ImageFacts`](crate::image::ImageFacts): configuration, history, merged files | [`ImageFacts::from_image`](crate::image::ImageFacts::from_image) |
//! | Dockerfiles | [`Dockerfiles`](crate::dockerfile::Dockerfiles): parsed files | [`Dockerfiles::load`](crate::dockerfile::Dockerfiles::load) |
//! | Kubernetes | [`Manifests`](crate::k8s::Manifests): manifest texts | [`Manifests::load`](crate::k8s::Manifests::load) |
//!
//! Every one then answers [`Target::check`] the same way, so the CLI, and later the server,
//! drive all six alike:
//!
//! ```
//! use palisade_harden::containers::Containers;
//! use palisade_harden::profile::Profile;
//! use palisade_harden::target::Target;
//!
//! let containers = Containers::from_files(&["tests/fixtures/inspect/hardened.json".into()], None)?;
//! let report = containers.report(&Profile::default())?;
//! assert_eq!(report.subject, "tests/fixtures/inspect/hardened.json");
//! assert!(report.results.iter().any(|r| r.id == "CIS-DOCKER-5.5"));
//! # Ok::<(), palisade_harden::Error>(())
//! ```

use crate::check::{CheckResult, TargetKind};
use crate::error::Error;
use crate::profile::Profile;
use crate::report::Report;

/// Something `palisade bench` checks, with its facts already gathered.
pub trait Target {
    /// Which checks apply, and which benchmark the report follows.
    fn kind(&self) -> TargetKind;

    /// What was checked, as the report names it: a root directory, a socket, an image, files.
    fn subject(&self) -> String;

    /// Runs the target's checks. `profile` selects the checks and gives their settings
    /// (trusted users, registries and services); the results of unselected checks are
    /// dropped by [`Report::new`] in any case.
    ///
    /// # Errors
    /// Host checks read the files they need from the root as they go, and fail when one
    /// exists but cannot be read; Kubernetes manifests fail here when they are not valid YAML
    /// or not Kubernetes objects. The other targets do not fail once gathered.
    fn check(&self, profile: &Profile) -> Result<Vec<CheckResult>, Error>;

    /// [`Target::check`], then the [`Report`]: selected results and manual checks, in
    /// check-list order.
    ///
    /// # Errors
    /// As [`Target::check`].
    fn report(&self, profile: &Profile) -> Result<Report, Error> {
        Ok(Report::new(
            self.kind(),
            self.subject(),
            self.check(profile)?,
            profile,
        ))
    }
}

/// The subject of a target read from files: their paths, comma-separated.
pub(crate) fn files_subject<P: AsRef<std::path::Path>>(
    paths: impl IntoIterator<Item = P>,
) -> String {
    paths
        .into_iter()
        .map(|p| p.as_ref().display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
