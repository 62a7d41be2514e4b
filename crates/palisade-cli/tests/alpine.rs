//! Alpine end to end (issue 17): the real Alpine 3.18.9 minirootfs, made into an OCI image with
//! umoci, scanned against the real v3.18 secdb imported with `palisade db import`. The findings
//! must equal an independent evaluation of the secdb written here: the installed database read
//! by this test (`P`, `V`, `o` fields), each package matched through its origin, and every
//! `secfixes` version compared with apk-tools' own `apk version -t` (the minirootfs's
//! `/sbin/apk`, run through its musl loader), never with palisade-version.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata")
        .canonicalize()
        .expect("../shared/testdata next to the repository")
}

fn minirootfs() -> PathBuf {
    testdata().join("alpine/alpine-minirootfs-3.18.9-x86_64.tar.gz")
}

fn secdb_files() -> Vec<PathBuf> {
    let dir = testdata().join("feeds/alpine-secdb-v3.18");
    vec![dir.join("main.json"), dir.join("community.json")]
}

fn sh(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An OCI layout with tag `img`: one layer per tar (umoci, as `testbed/` builds its images).
fn oci_image(dir: &Path, layers: &[&Path]) -> String {
    let layout = dir.join("oci");
    sh(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    let image = format!("{}:img", layout.display());
    sh(Command::new("umoci").args(["new", "--image", &image]));
    for layer in layers {
        sh(Command::new("umoci")
            .args(["raw", "add-layer", "--image", &image])
            .arg(layer));
    }
    format!("oci-dir:{image}")
}

/// The installed database as this test reads it: (name, version, origin) per stanza.
fn installed(db: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for stanza in db.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(str::to_owned))
        };
        if let (Some(p), Some(v)) = (field("P:"), field("V:")) {
            let origin = field("o:").unwrap_or_else(|| p.clone());
            out.push((p, v, origin));
        }
    }
    out
}

/// The vulnerability ids of one secfixes line: its CVE ids, or, with none, its first word.
fn line_ids(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let cves: Vec<String> = words
        .iter()
        .filter(|w| w.starts_with("CVE-"))
        .map(|w| {
            let digits = w[9..].bytes().take_while(u8::is_ascii_digit).count();
            w[..9 + digits].to_owned()
        })
        .collect();
    if cves.is_empty() {
        words.first().map(|w| (*w).to_owned()).into_iter().collect()
    } else {
        cves
    }
}

/// `apk version -t A B` of the minirootfs's own apk-tools: `<`, `=` or `>`.
struct Apk {
    root: PathBuf,
    cache: HashMap<(String, String), String>,
}

impl Apk {
    fn compare(&mut self, a: &str, b: &str) -> String {
        let key = (a.to_owned(), b.to_owned());
        if let Some(r) = self.cache.get(&key) {
            return r.clone();
        }
        let r = self.root.clone();
        let out = sh(Command::new(r.join("lib/ld-musl-x86_64.so.1"))
            .arg("--library-path")
            .arg(format!(
                "{}:{}",
                r.join("lib").display(),
                r.join("usr/lib").display()
            ))
            .arg(r.join("sbin/apk"))
            .args(["version", "-t", a, b]));
        let result = String::from_utf8(out).unwrap().trim().to_owned();
        assert!(
            ["<", "=", ">"].contains(&result.as_str()),
            "apk version -t {a} {b}: {result:?}"
        );
        self.cache.insert(key, result.clone());
        result
    }
}

/// Per origin package: (fixed version, ids) of each secfixes entry.
type Secfixes = BTreeMap<String, Vec<(String, Vec<String>)>>;

/// The secdb's release and secfixes, from every file.
fn secdb() -> (String, Secfixes) {
    let mut release = String::new();
    let mut fixes = Secfixes::new();
    for file in secdb_files() {
        let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        release = v["distroversion"].as_str().unwrap().to_owned();
        for p in v["packages"].as_array().unwrap() {
            let name = p["pkg"]["name"].as_str().unwrap().to_owned();
            let Some(sf) = p["pkg"]["secfixes"].as_object() else {
                continue;
            };
            for (version, lines) in sf {
                let ids = lines
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .flat_map(line_ids)
                    .collect();
                fixes
                    .entry(name.clone())
                    .or_default()
                    .push((version.clone(), ids));
            }
        }
    }
    (release, fixes)
}

/// The expected findings: (package, vulnerability id) for every secfixes version of the
/// package's origin that is greater than the installed version (`0` means never affected).
fn expected(db: &str, apk: &mut Apk) -> BTreeSet<(String, String)> {
    let (_, fixes) = secdb();
    let mut out = BTreeSet::new();
    for (name, version, origin) in installed(db) {
        for (fixed, ids) in fixes.get(&origin).into_iter().flatten() {
            if fixed != "0" && apk.compare(&version, fixed) == "<" {
                for id in ids {
                    out.insert((name.clone(), id.clone()));
                }
            }
        }
    }
    out
}

/// The scan's findings as (package, vulnerability id), the id without the `ALPINE-` prefix
/// the importer gives secdb records.
fn scanned(report: &Value) -> BTreeSet<(String, String)> {
    common::findings(report)
        .iter()
        .map(|f| {
            let id = f["id"].as_str().unwrap();
            (
                f["package"]["name"].as_str().unwrap().to_owned(),
                id.strip_prefix("ALPINE-").unwrap_or(id).to_owned(),
            )
        })
        .collect()
}

struct Setup {
    dir: tempfile::TempDir,
    root: PathBuf,
    layer: PathBuf,
    db: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    sh(Command::new("tar")
        .arg("-xzf")
        .arg(minirootfs())
        .arg("-C")
        .arg(&root));
    let layer = dir.path().join("rootfs.tar");
    let tar = sh(Command::new("gzip").arg("-dc").arg(minirootfs()));
    std::fs::write(&layer, tar).unwrap();

    let db = dir.path().join("vuln.db");
    let mut args = vec!["db".to_owned(), "import".to_owned()];
    args.extend(secdb_files().iter().map(|p| p.display().to_string()));
    args.extend(["--db".to_owned(), db.display().to_string()]);
    let out = common::run(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &dir.path().join("cache"),
    );
    assert!(
        out.status.success(),
        "db import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Setup {
        dir,
        root,
        layer,
        db,
    }
}

fn scan(s: &Setup, source: &str) -> Value {
    let out = common::run(
        &[
            "scan",
            source,
            "--db",
            s.db.to_str().unwrap(),
            "--format",
            "json",
        ],
        &s.dir.path().join("cache"),
    );
    assert_ne!(
        out.status.code(),
        Some(2),
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

// The minirootfs's apk (the independent version comparison) runs on x86_64 only.
#[cfg(target_arch = "x86_64")]
#[test]
fn minirootfs_findings_equal_an_independent_secdb_evaluation() {
    let s = setup();
    let mut apk = Apk {
        root: s.root.clone(),
        cache: HashMap::new(),
    };
    // The secdb release is the os-release VERSION_ID's major.minor.
    let os_release = std::fs::read_to_string(s.root.join("etc/os-release")).unwrap();
    assert!(os_release.contains("VERSION_ID=3.18.9"), "{os_release}");
    assert_eq!(secdb().0, "v3.18");
    // The independent comparison is apk-tools' own: a pre-release sorts before its release.
    assert_eq!(apk.compare("1.2.2_pre2-r0", "1.2.2-r0"), "<");
    assert_eq!(apk.compare("1.35.0-r17", "1.35.0-r7"), ">");

    let db = std::fs::read_to_string(s.root.join("lib/apk/db/installed")).unwrap();
    assert_eq!(installed(&db).len(), 15);
    let want = expected(&db, &mut apk);
    // What the testdata README says: libcrypto3/libssl3 3.1.7-r0 come from origin openssl,
    // fixed in 3.1.7-r1 for CVE-2024-9143.
    for pkg in ["libcrypto3", "libssl3"] {
        assert!(
            want.contains(&(pkg.to_owned(), "CVE-2024-9143".to_owned())),
            "{want:?}"
        );
    }

    let source = oci_image(s.dir.path(), &[&s.layer]);
    let report = scan(&s, &source);
    assert_eq!(scanned(&report), want);
    for f in common::findings(&report) {
        assert_eq!(f["package"]["type"], "apk", "{f}");
        assert_eq!(f["status"], "fixed", "{f}");
        assert!(
            f["why"].as_str().unwrap().contains("Alpine v3.18 secdb"),
            "{f}"
        );
    }
    // The same root read as a directory gives the same findings.
    let dir_report = scan(&s, &format!("dir:{}", s.root.display()));
    assert_eq!(scanned(&dir_report), want);
}

/// The real minirootfs is almost up to date (one openssl fix). A second layer replaces the
/// installed database with older versions of the same packages, so the comparison runs through
/// letters (`1.1.1b`), pre-releases (`_pre1`), revisions (`-r7` < `-r17`) and many fixes.
#[cfg(target_arch = "x86_64")]
#[test]
fn older_installed_versions_in_a_second_layer() {
    let s = setup();
    let mut apk = Apk {
        root: s.root.clone(),
        cache: HashMap::new(),
    };
    let db = std::fs::read_to_string(s.root.join("lib/apk/db/installed")).unwrap();
    let older: HashMap<&str, &str> = [
        ("busybox", "1.35.0-r7"),
        ("busybox-binsh", "1.35.0-r7"),
        ("ssl_client", "1.35.0-r7"),
        ("libcrypto3", "1.1.1b-r0"),
        ("libssl3", "3.0.7-r0"),
        ("musl", "1.2.2_pre1-r0"),
        ("musl-utils", "1.2.2_pre2-r0"),
        ("zlib", "1.2.11-r3"),
        ("apk-tools", "2.12.5-r0"),
    ]
    .into_iter()
    .collect();
    let mut name = "";
    let rewritten: Vec<String> = db
        .lines()
        .map(|l| {
            if let Some(n) = l.strip_prefix("P:") {
                name = n;
            }
            match (l.strip_prefix("V:"), older.get(name)) {
                (Some(_), Some(v)) => format!("V:{v}"),
                _ => l.to_owned(),
            }
        })
        .collect();
    let rewritten = rewritten.join("\n") + "\n";
    assert_ne!(rewritten, db);

    let layer_root = s.dir.path().join("layer2");
    std::fs::create_dir_all(layer_root.join("lib/apk/db")).unwrap();
    std::fs::write(layer_root.join("lib/apk/db/installed"), &rewritten).unwrap();
    let layer2 = s.dir.path().join("layer2.tar");
    sh(Command::new("tar")
        .arg("-cf")
        .arg(&layer2)
        .arg("-C")
        .arg(&layer_root)
        .arg("lib/apk/db/installed"));

    let want = expected(&rewritten, &mut apk);
    assert!(want.len() > 40, "{want:?}");
    let source = oci_image(s.dir.path(), &[&s.layer, &layer2]);
    assert_eq!(scanned(&scan(&s, &source)), want);
}
