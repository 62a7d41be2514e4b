//! Issue 17, acceptance 1 (rpm parity): the real CBL-Mariner 2.0 sqlite rpmdb and the real
//! SLE 15 SP3 BCI NDB rpmdb (`../shared/testdata/rpm/`), each placed at a path rpm uses in a
//! `dir:` tree, list exactly the packages `rpm -qa` lists: name, epoch, version, release and
//! arch, as `palisade sbom -f json` prints them.
//!
//! The reference lists come from outside Palisade: for Mariner the `.rpm-qa.tsv` beside the
//! database (`rpm -qa` of Debian's rpm 4.18); for SLE, whose NDB backend Debian's rpm is built
//! without (`rpm --showrc`: sqlite, bdb_ro, dummy), the list go-rpmdb's test expects for this
//! very database (see [`SLE_RPM_QA`]). The SLE database holds 35 packages, not 36: 36 is the
//! length of go-rpmdb's later list, made from a newer image.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// name, epoch (`None` when rpm prints `(none)`), version, release, arch.
type Nevra = (String, Option<u32>, String, String, String);

fn testdata() -> PathBuf {
    common::repo_root().join("../shared/testdata/rpm")
}

/// The packages of the SLE 15 SP3 BCI image this database was copied from, as go-rpmdb's test
/// expects them for this very file (`SLE15WithNDB` in `pkg/rpmdb_testcase_test.go` at commit
/// d637bcc3; fossa-cli's `test/Ndb/NdbSpec.hs` expects the same 35 rows of the same file).
/// go-rpmdb's later `pkg/testdata/sle15-bci/packages.csv` (36 rows, with `skelcd-EULA-bci`
/// and newer releases) was made from a newer image and does not describe this file, which has
/// 35 occupied slots ([`ndb_occupied_slots`]). No package has an epoch.
const SLE_RPM_QA: &str = "\
system-user-root 20190513 3.3.1 noarch
filesystem 15.0 11.3.2 x86_64
glibc 2.31 9.3.2 x86_64
libpcre1 8.45 20.10.1 x86_64
libgmp10 6.1.2 4.6.1 x86_64
libgcc_s1 11.2.1+git610 1.3.9 x86_64
libcap2 2.26 4.6.1 x86_64
libstdc++6 11.2.1+git610 1.3.9 x86_64
libncurses6 6.1 5.9.1 x86_64
terminfo-base 6.1 5.9.1 x86_64
libattr1 2.4.47 2.19 x86_64
libselinux1 3.0 1.31 x86_64
libreadline7 7.0 19.6.1 x86_64
bash 4.4 19.6.1 x86_64
libacl1 2.2.52 4.3.1 x86_64
coreutils 8.32 3.2.1 x86_64
sles-release 15.3 55.4.1 x86_64
ca-certificates-mozilla-prebuilt 2.44 21.1 noarch
libgpg-error0 1.29 1.8 x86_64
libpopt0 1.16 3.22 x86_64
file-magic 5.32 7.14.1 noarch
libbz2-1 1.0.6 5.11.1 x86_64
liblua5_3-5 5.3.6 3.6.1 x86_64
liblzma5 5.2.3 4.3.1 x86_64
libz1 1.2.11 3.21.1 x86_64
libzstd1 1.4.4 1.6.1 x86_64
libmagic1 5.32 7.14.1 x86_64
libdw1 0.168 4.5.3 x86_64
libebl-plugins 0.168 4.5.3 x86_64
libelf1 0.168 4.5.3 x86_64
libcrypt1 4.4.15 2.51 x86_64
perl-base 5.26.1 15.87 x86_64
libgcrypt20 1.8.2 8.39.1 x86_64
rpm-config-SUSE 1 5.6.1 noarch
rpm-ndb 4.14.3 40.1 x86_64
";

fn sle_expected() -> BTreeSet<Nevra> {
    SLE_RPM_QA
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 4, "{l}");
            (f[0].into(), None, f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

/// The `.rpm-qa.tsv` rows (`#NAME EPOCH VERSION RELEASE ARCH SOURCERPM`, tab-separated).
fn tsv_expected(tsv: &Path) -> BTreeSet<Nevra> {
    let text = std::fs::read_to_string(tsv).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 5, "{l}");
            let epoch = (f[1] != "(none)").then(|| f[1].parse().unwrap());
            (f[0].into(), epoch, f[2].into(), f[3].into(), f[4].into())
        })
        .collect()
}

/// Occupied slots of an NDB file, counted straight from the slot pages (rpm's `rpmpkg.c`
/// layout: a 32-byte header whose 4th word is the number of 4 KiB slot pages, then 16-byte
/// slots `Slot`, package index, block offset, block count; the header takes slots 0 and 1).
fn ndb_occupied_slots(db: &[u8]) -> usize {
    let word = |at: usize| u32::from_le_bytes(db[at..at + 4].try_into().unwrap());
    assert_eq!(&db[..4], b"RpmP");
    let pages = word(12) as usize;
    (2..pages * 256)
        .filter(|s| &db[s * 16..s * 16 + 4] == b"Slot" && word(s * 16 + 4) != 0)
        .count()
}

/// `palisade sbom dir:ROOT -f json --no-cache`'s rpm packages, as `(name, epoch, version,
/// release, arch)` from the printed `[EPOCH:]VERSION-RELEASE` and `arch`.
fn palisade_rpms(root: &Path) -> BTreeSet<Nevra> {
    let cache = root.parent().unwrap().join("cache");
    let source = format!("dir:{}", root.display());
    let out = common::run(&["sbom", &source, "-f", "json", "--no-cache"], &cache);
    assert!(
        out.status.success(),
        "sbom {source}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sbom: Value = serde_json::from_slice(&out.stdout).expect("JSON SBOM");
    let mut list = BTreeSet::new();
    for p in sbom["packages"].as_array().unwrap() {
        if p["ecosystem"] != "rpm" {
            continue;
        }
        let full = p["version"].as_str().unwrap();
        let (epoch, vr) = match full.split_once(':') {
            Some((e, vr)) => (Some(e.parse().unwrap()), vr),
            None => (None, full),
        };
        let (version, release) = vr.rsplit_once('-').unwrap();
        let nevra = (
            p["name"].as_str().unwrap().to_owned(),
            epoch,
            version.to_owned(),
            release.to_owned(),
            p["arch"].as_str().unwrap_or_default().to_owned(),
        );
        assert!(list.insert(nevra.clone()), "listed twice: {nevra:?}");
    }
    list
}

/// Copies `db` to `rel` under a fresh root.
fn tree(dir: &Path, name: &str, db: &Path, rel: &str) -> PathBuf {
    let root = dir.join(name);
    let to = root.join(rel);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(db, &to).unwrap();
    root
}

fn assert_same(what: &str, got: &BTreeSet<Nevra>, want: &BTreeSet<Nevra>) {
    let missing: Vec<_> = want.difference(got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: rpm lists {} packages, palisade {}\nmissing from palisade: {missing:#?}\nnot listed by rpm: {extra:#?}",
        want.len(),
        got.len()
    );
}

#[test]
fn mariner_sqlite_rpmdb_lists_what_rpm_qa_lists() {
    let dir = tempfile::tempdir().unwrap();
    let want = tsv_expected(&testdata().join("cbl-mariner-2.0.rpm-qa.tsv"));
    assert_eq!(want.len(), 129);
    for rel in [
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    ] {
        let root = tree(
            dir.path(),
            &rel.replace('/', "_"),
            &testdata().join("cbl-mariner-2.0/rpmdb.sqlite"),
            rel,
        );
        assert_same(&format!("Mariner at {rel}"), &palisade_rpms(&root), &want);
    }
}

#[test]
fn sle_ndb_rpmdb_lists_what_rpm_qa_lists() {
    let db = testdata().join("sle15-bci/Packages.db");
    let bytes = std::fs::read(&db).unwrap();
    let want = sle_expected();
    assert_eq!(want.len(), 35);
    assert_eq!(ndb_occupied_slots(&bytes), want.len());
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "usr/lib/sysimage/rpm/Packages.db",
        "var/lib/rpm/Packages.db",
    ] {
        let root = tree(dir.path(), &rel.replace('/', "_"), &db, rel);
        assert_same(&format!("SLE at {rel}"), &palisade_rpms(&root), &want);
    }
}
