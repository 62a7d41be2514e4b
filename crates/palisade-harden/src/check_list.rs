//! The list of every check: automated ones from each target's module, plus the CIS
//! recommendations that cannot be decided from files or inspect JSON, each with the reason.

use crate::check::{CheckDef, Level, TargetKind};

const S12: &str = "1.2 General Configuration";
const S2: &str = "2 Docker daemon configuration";
const S4: &str = "4 Container Images and Build File";
const S5: &str = "5 Container Runtime";
const S6: &str = "6 Docker Security Operations";
const S7: &str = "7 Docker Swarm Configuration";
const LIVE: &str = "live-only: ";

const fn m(
    id: &'static str,
    title: &'static str,
    level: Level,
    target: TargetKind,
    section: &'static str,
    reason: &'static str,
) -> CheckDef {
    CheckDef::new(
        id,
        title,
        level,
        target,
        section,
        "See the CIS Docker Benchmark for the rationale.",
        "Review by hand as the benchmark describes.",
    )
    .manual(reason)
}

/// CIS recommendations we list but cannot decide from files or inspect JSON.
pub static MANUAL: &[CheckDef] = &[
    m(
        "CIS-DOCKER-1.2.1",
        "Ensure the container host has been Hardened",
        Level::One,
        TargetKind::Host,
        S12,
        "manual: an operating-system benchmark of its own; PAL-HOST-1 covers enabled services",
    ),
    m(
        "CIS-DOCKER-1.2.2",
        "Ensure that the version of Docker is up to date",
        Level::One,
        TargetKind::Host,
        S12,
        "manual: needs the list of current Docker releases, which is not on the host",
    ),
    m(
        "CIS-DOCKER-2.1",
        "Run the Docker daemon as a non-root user, if possible",
        Level::One,
        TargetKind::Daemon,
        S2,
        "live-only: the owner of the running dockerd process (rootless mode) decides it",
    ),
    m(
        "CIS-DOCKER-4.4",
        "Ensure images are scanned and rebuilt to include security patches",
        Level::One,
        TargetKind::Image,
        S4,
        "manual: needs a vulnerability database, which palisade-harden does not know about; use `palisade scan`",
    ),
    m(
        "CIS-DOCKER-4.12",
        "Ensure all signed artifacts are validated",
        Level::One,
        TargetKind::Image,
        S4,
        "manual: a process control (verify signatures before upload); use `palisade verify`",
    ),
    m(
        "CIS-DOCKER-5.7",
        "Ensure sshd is not run within containers",
        Level::One,
        TargetKind::Container,
        S5,
        "live-only: needs the processes running inside each container (`docker exec ps`)",
    ),
    m(
        "CIS-DOCKER-5.23",
        "Ensure that docker exec commands are not used with the privileged option",
        Level::Two,
        TargetKind::Container,
        S5,
        "live-only: needs the daemon's audit log or event stream of exec calls; `containers::check_exec` judges one exec request",
    ),
    m(
        "CIS-DOCKER-5.24",
        "Ensure that docker exec commands are not used with the user=root option",
        Level::Two,
        TargetKind::Container,
        S5,
        "live-only: needs the daemon's audit log or event stream of exec calls; `containers::check_exec` judges one exec request",
    ),
    m(
        "CIS-DOCKER-5.28",
        "Ensure that Docker commands always make use of the latest version of their image",
        Level::One,
        TargetKind::Container,
        S5,
        "live-only: needs the registry's current digest for each image",
    ),
    m(
        "CIS-DOCKER-6.1",
        "Ensure that image sprawl is avoided",
        Level::One,
        TargetKind::Daemon,
        S6,
        "manual: a judgement over the engine's image list",
    ),
    m(
        "CIS-DOCKER-6.2",
        "Ensure that container sprawl is avoided",
        Level::One,
        TargetKind::Daemon,
        S6,
        "manual: a judgement over the engine's container list",
    ),
    m(
        "CIS-DOCKER-7.1",
        "Ensure that the minimum number of manager nodes have been created in a swarm",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the swarm's node list",
    ),
    m(
        "CIS-DOCKER-7.2",
        "Ensure that swarm services are bound to a specific host interface",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the listening sockets of a swarm manager",
    ),
    m(
        "CIS-DOCKER-7.3",
        "Ensure that all Docker swarm overlay networks are encrypted",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the swarm's network list",
    ),
    m(
        "CIS-DOCKER-7.4",
        "Ensure that Docker's secret management commands are used for managing secrets in a swarm cluster",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the swarm's secret list",
    ),
    m(
        "CIS-DOCKER-7.5",
        "Ensure that swarm manager is run in auto-lock mode",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the swarm's unlock key state",
    ),
    m(
        "CIS-DOCKER-7.6",
        "Ensure that the swarm manager auto-lock key is rotated periodically",
        Level::One,
        TargetKind::Daemon,
        S7,
        "manual: a process control",
    ),
    m(
        "CIS-DOCKER-7.7",
        "Ensure that node certificates are rotated as appropriate",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the swarm's CA configuration",
    ),
    m(
        "CIS-DOCKER-7.8",
        "Ensure that CA certificates are rotated as appropriate",
        Level::One,
        TargetKind::Daemon,
        S7,
        "manual: a process control",
    ),
    m(
        "CIS-DOCKER-7.9",
        "Ensure that management plane traffic is separated from data plane traffic",
        Level::One,
        TargetKind::Daemon,
        S7,
        "live-only: needs the swarm's advertise and data-path addresses",
    ),
];

/// Every check definition: host, daemon, container, image, Dockerfile and Kubernetes checks,
/// then the manual and live-only ones.
#[must_use]
pub fn all() -> Vec<&'static CheckDef> {
    let mut v: Vec<&'static CheckDef> = Vec::new();
    v.extend(crate::host::CHECKS);
    v.extend(crate::daemon::CHECKS);
    v.extend(crate::containers::CHECKS);
    v.extend(crate::image::CHECKS);
    v.extend(crate::dockerfile::CHECKS);
    v.extend(crate::k8s::CHECKS);
    v.extend(MANUAL);
    v
}

/// The checks of one target (automated and manual).
#[must_use]
pub fn for_target(target: TargetKind) -> Vec<&'static CheckDef> {
    all().into_iter().filter(|d| d.target == target).collect()
}

/// The check `id` of `target`. CIS IDs can exist for several targets (4.1 for images,
/// containers and Dockerfiles).
#[must_use]
pub fn find(id: &str, target: TargetKind) -> Option<&'static CheckDef> {
    all().into_iter().find(|d| d.id == id && d.target == target)
}

/// The first check with `id`, whatever its target.
#[must_use]
pub fn find_any(id: &str) -> Option<&'static CheckDef> {
    all().into_iter().find(|d| d.id == id)
}

/// A reminder, in the check list itself, of which live-only recommendations exist.
#[must_use]
pub fn is_live_only(def: &CheckDef) -> bool {
    def.manual && def.manual_reason.starts_with(LIVE)
}
