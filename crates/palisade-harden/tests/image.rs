//! Image checks on facts built in the test, and on the real testbed image.

mod support;

use palisade_harden::check::Status;
use palisade_harden::image::{check_image, secret_name};
use palisade_harden::profile::Profile;
use support::{add_file, hardened_image, image_profile, statuses};

#[test]
fn user_names_resolve_through_the_image_passwd() {
    let mut f = hardened_image();
    add_file(
        &mut f,
        "etc/passwd",
        0o644,
        Some("root:x:0:0::/root:/bin/sh\nadmin:x:0:0::/:/bin/sh\napp:x:10001:10001::/:/bin/sh\n"),
    );
    for (user, want) in [
        ("admin", Status::Fail),
        ("app:app", Status::Pass),
        ("ghost", Status::Warn),
        ("0:0", Status::Fail),
        ("10001", Status::Pass),
    ] {
        f.user = Some(user.into());
        assert_eq!(
            statuses(&check_image(&f, &image_profile()), "CIS-DOCKER-4.1"),
            [want],
            "{user}"
        );
    }
}

#[test]
fn history_rules() {
    let mut f = hardened_image();
    f.history
        .push("RUN |2 GITHUB_TOKEN=ghp_x VERSION=1 /bin/sh -c make".into());
    f.history
        .push("RUN /bin/sh -c apk add --no-cache curl=8.0 && apk update".into());
    f.history
        .push("ADD --chown=1:1 conf.tgz /etc/app/ # buildkit".into());
    let r = check_image(&f, &image_profile());
    assert_eq!(statuses(&r, "CIS-DOCKER-4.10"), [Status::Fail]);
    let e = &r
        .iter()
        .find(|r| r.id == "CIS-DOCKER-4.10")
        .unwrap()
        .evidence[0]
        .detail;
    assert!(
        e.contains("GITHUB_TOKEN") && !e.contains("ghp_x"),
        "never print the secret: {e}"
    );
    assert_eq!(
        statuses(&r, "CIS-DOCKER-4.7"),
        [Status::Fail],
        "apk update after the install"
    );
    assert_eq!(
        statuses(&r, "CIS-DOCKER-4.9"),
        [Status::Warn],
        "a local ADD after the base layer"
    );
    assert!(
        secret_name("aws_secret_access_key")
            && !secret_name("GPG_KEY")
            && !secret_name("PASSWORD_FILE")
    );
    // `apk add pkg=ver` is not an ENV pair (dockle #250).
    let mut g = hardened_image();
    g.history
        .push("RUN /bin/sh -c apk add --no-cache token=1.0".into());
    assert_eq!(
        statuses(&check_image(&g, &image_profile()), "CIS-DOCKER-4.10"),
        [Status::Pass]
    );
}

#[test]
fn no_trusted_registries_means_manual() {
    let f = hardened_image();
    assert_eq!(
        statuses(&check_image(&f, &Profile::default()), "CIS-DOCKER-4.2"),
        [Status::Manual]
    );
    let mut local = hardened_image();
    local.reference = None;
    assert_eq!(
        statuses(&check_image(&local, &image_profile()), "CIS-DOCKER-4.2"),
        [Status::Warn]
    );
}

/// `trusted_registries` globs follow the policy's glob rules (palisade_image::glob_match):
/// `*` stays within one path segment, `**` crosses `/`, case is ignored. Before, `*` crossed
/// `/` here, so `registry.example/*` trusted `registry.example/team/app` too.
#[test]
fn trusted_registry_globs_follow_the_policy_rules() {
    let verdict = |pattern: &str, reference: &str| {
        let mut f = hardened_image();
        f.reference = Some(reference.into());
        let profile = Profile {
            trusted_registries: vec![pattern.into()],
            ..Profile::default()
        };
        statuses(&check_image(&f, &profile), "CIS-DOCKER-4.2")
    };
    assert_eq!(
        verdict("registry.example/*", "registry.example/app:1"),
        [Status::Pass]
    );
    // Passed before the one glob matcher; now `*` stops at `/`.
    assert_eq!(
        verdict("registry.example/*", "registry.example/team/app:1"),
        [Status::Fail]
    );
    assert_eq!(
        verdict("registry.example/**", "registry.example/team/app:1"),
        [Status::Pass]
    );
    assert_eq!(
        verdict("*.example/**", "Reg.Example/team/app:1"),
        [Status::Pass]
    );
    // A plain registry is still a prefix.
    assert_eq!(
        verdict("registry.example", "registry.example/team/app:1"),
        [Status::Pass]
    );
    assert_eq!(
        verdict("registry.example", "registry.example.evil/app:1"),
        [Status::Fail]
    );
}

#[test]
fn the_testbed_base_image() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new("bash")
        .arg(root.join("testbed/build-images.sh"))
        .arg(root.join("target/testbed"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "testbed/build-images.sh failed; run testbed/install-deps.sh first"
    );
    let src = format!("oci-dir:{}:base", root.join("target/testbed/oci").display());
    let image = palisade_image::open(&src, &palisade_image::OpenOptions::default()).unwrap();
    let facts = palisade_harden::image::ImageFacts::from_image(&image, &src).unwrap();
    assert!(facts.files.len() > 1000, "{}", facts.files.len());
    let r = check_image(&facts, &Profile::default());
    assert_eq!(statuses(&r, "CIS-DOCKER-4.1"), [Status::Fail], "no USER");
    assert_eq!(
        statuses(&r, "CIS-DOCKER-4.8"),
        [Status::Warn],
        "su, mount, passwd are setuid"
    );
    assert_eq!(statuses(&r, "PAL-IMAGE-3"), [Status::Pass]);
    assert_eq!(statuses(&r, "PAL-IMAGE-4"), [Status::Pass]);
    assert_eq!(statuses(&r, "PAL-IMAGE-1"), [Status::Pass]);
}

/// CIS 4.2 compares where an image came from with the trusted registries. A local archive's
/// own tag (`RepoTags: testbed/base:latest`) is words anyone can write: it never passes 4.2,
/// even when it spells a trusted name (before, the archive's tag passed).
#[test]
fn a_local_archives_own_tag_does_not_pass_trusted_registries() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new("bash")
        .arg(root.join("testbed/build-images.sh"))
        .arg(root.join("target/testbed"))
        .status()
        .unwrap();
    assert!(status.success(), "testbed/build-images.sh failed");
    let src = format!(
        "docker-archive:{}",
        root.join("target/testbed/base.docker.tar").display()
    );
    let image = palisade_image::open(&src, &palisade_image::OpenOptions::default()).unwrap();
    assert_eq!(image.origin(), palisade_image::Origin::DockerArchive);
    let own = image
        .reference()
        .expect("the archive carries RepoTags")
        .to_owned();
    assert!(image.registry_reference().is_none());
    let facts = palisade_harden::image::ImageFacts::from_image(&image, &src).unwrap();
    let profile = Profile {
        trusted_registries: vec!["**".to_owned(), own],
        ..Profile::default()
    };
    let r = check_image(&facts, &profile);
    assert_eq!(statuses(&r, "CIS-DOCKER-4.2"), [Status::Warn], "{r:?}");
}
