//! Issue 14, item 3: every bench target is called the same way. Each is gathered first, then
//! `Target::check`/`Target::report` under a profile; these tests drive all the offline
//! targets through `dyn Target` and pin what the convention decides for them (the subject,
//! the profile's settings, which file's error wins).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use palisade_harden::check::{Status, TargetKind};
use palisade_harden::check_list;
use palisade_harden::containers::Containers;
use palisade_harden::daemon::Daemon;
use palisade_harden::dockerfile::Dockerfiles;
use palisade_harden::host::Host;
use palisade_harden::k8s::Manifests;
use palisade_harden::profile::Profile;
use palisade_harden::target::Target;
use support::{HostTree, fixtures, hardened_image, statuses};

#[test]
fn every_offline_target_reports_through_one_trait() {
    let tree = HostTree::hardened();
    let root = tree.root();
    let inspect = fixtures().join("inspect/hardened.json");
    let dockerfile = fixtures().join("dockerfiles/01-go-multistage-good.Dockerfile");
    let manifest = fixtures().join("k8s/pass-restricted.yaml");
    let targets: Vec<(Box<dyn Target>, TargetKind, String)> = vec![
        (
            Box::new(Host::load(root.clone()).unwrap()),
            TargetKind::Host,
            root.root().display().to_string(),
        ),
        (
            Box::new(Daemon::offline(&root).unwrap()),
            TargetKind::Daemon,
            root.root().display().to_string(),
        ),
        (
            Box::new(Containers::from_files(&[inspect.clone(), inspect.clone()], None).unwrap()),
            TargetKind::Container,
            format!("{}, {}", inspect.display(), inspect.display()),
        ),
        (
            Box::new(hardened_image()),
            TargetKind::Image,
            hardened_image().name,
        ),
        (
            Box::new(
                Dockerfiles::load(std::slice::from_ref(&dockerfile), BTreeMap::new()).unwrap(),
            ),
            TargetKind::Dockerfile,
            dockerfile.display().to_string(),
        ),
        (
            Box::new(Manifests::load(std::slice::from_ref(&manifest)).unwrap()),
            TargetKind::Kubernetes,
            manifest.display().to_string(),
        ),
    ];
    for (target, kind, subject) in targets {
        assert_eq!(target.kind(), kind);
        let report = target.report(&Profile::default()).unwrap();
        assert_eq!(report.target, kind);
        assert_eq!(report.subject, subject, "{kind}");
        assert!(
            report.results.iter().any(|r| r.status == Status::Pass),
            "{kind}: nothing passed"
        );
        let defs = check_list::for_target(kind);
        for r in &report.results {
            assert!(
                defs.iter().any(|d| d.id == r.id),
                "{kind}: {} is not its check",
                r.id
            );
        }
    }
}

#[test]
fn the_profile_selects_and_configures_every_target() {
    let manifest = fixtures().join("k8s/fail-privileged.yaml");
    let manifests = Manifests::load(&[manifest]).unwrap();
    let only = Profile {
        include: vec!["PSS-BASELINE-PRIVILEGED".into()],
        ..Profile::default()
    };
    let ids: Vec<&str> = manifests
        .check(&only)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|id| *id == "PSS-BASELINE-PRIVILEGED"),
        "{ids:?}"
    );

    // PAL-DOCKERFILE-1 takes its trusted list from the profile: none, not applicable.
    let file = fixtures().join("dockerfiles/25-private-registry.Dockerfile");
    let dockerfiles = Dockerfiles::load(&[file], BTreeMap::new()).unwrap();
    let none = dockerfiles.check(&Profile::default()).unwrap();
    assert_eq!(statuses(&none, "PAL-DOCKERFILE-1"), [Status::NotApplicable]);
    let trusting = Profile {
        trusted_registries: vec!["docker.io".into()],
        ..Profile::default()
    };
    let some = dockerfiles.check(&trusting).unwrap();
    assert!(
        statuses(&some, "PAL-DOCKERFILE-1").contains(&Status::Fail),
        "{some:?}"
    );
}

#[test]
fn gathering_stops_at_the_first_bad_file_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "a: [\n").unwrap();
    let missing: PathBuf = tmp.path().join("missing.yaml");
    let err = Manifests::load(&[bad.clone(), missing.clone()])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("{}:", bad.display())), "{err}");
    let err = Manifests::load(&[missing.clone(), bad])
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.yaml"), "{err}");

    let df = tmp.path().join("Dockerfile");
    std::fs::write(&df, "FROM debian:12\n").unwrap();
    let err = Dockerfiles::load(&[df, missing], BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.yaml"), "{err}");
}
