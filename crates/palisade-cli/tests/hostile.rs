//! Hostile images, end to end through the real `palisade` binary.
//!
//! Every test builds a small OCI image layout by hand in a temporary directory (with digests,
//! diff IDs and media types correct unless the test wants one of them wrong), runs
//! `palisade sbom` on it with `HOME`, `XDG_CACHE_HOME` and the working directory pointed into a
//! sandbox, and checks what a user and an attacker would care about:
//!
//! - image-level attacks (digest and diff ID mismatches, truncated or bombed compression,
//!   entries that escape the root, lying size fields, missing blobs, unknown media types) end
//!   in exit code 2 with one `palisade: error:` that names the source or the layer and says
//!   what is wrong, never a panic, never a partial SBOM on stdout, within bounded memory;
//! - file-level damage (garbage `os-release`, dpkg `status`, apk `installed`, Python
//!   `METADATA`) does not fail the scan: exit 0, the broken file's packages are left out, the
//!   others are kept, and a `palisade: warning:` names the file;
//! - nothing is written anywhere but the cache directory, and no file named like the hostile
//!   target (`evil`) appears in the sandbox, next to it, in `/tmp`, `/etc` or `/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A run that takes longer than this is a hang, not a slow machine: the layers here are tiny
/// or refused within the first few hundred MiB.
const HANG: Duration = Duration::from_secs(180);
/// Peak memory a refused hostile layer may cost. A reader that allocated from a size field
/// (10 GB) or buffered a bomb's output (2 GB) would be far above it.
const MAX_RSS_KB: u64 = 256 * 1024;

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

// ---------------------------------------------------------------------------------------------
// Layer tars
// ---------------------------------------------------------------------------------------------

/// A well-formed tar of regular files (and the directories they need, as real images have).
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = BTreeSet::new();
    for (path, _) in files {
        let mut p = Path::new(path).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_path_buf());
            p = d.parent();
        }
    }
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, &d, &[][..]).expect("tar dir");
    }
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).expect("tar file");
    }
    b.into_inner().expect("tar")
}

/// A header written byte by byte, for what the `tar` crate refuses to write (`..`, absolute
/// paths, sizes that lie). `name` and `link` go into the old 100-byte fields as they are.
fn raw_header(name: &[u8], kind: tar::EntryType, size: u64, link: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name);
    old.linkname = [0; 100];
    old.linkname[..link.len()].copy_from_slice(link);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// A raw regular file: header, data, padding to the block.
fn raw_file(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = raw_header(name, tar::EntryType::Regular, data.len() as u64, b"");
    v.extend_from_slice(data);
    v.resize(v.len().next_multiple_of(512), 0);
    v
}

/// A PAX extended header carrying `records` (key, value), as its own 512-byte-aligned entry.
fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        // "LEN KEY=VALUE\n", where LEN counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {key}=").as_bytes());
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    let mut v = raw_header(
        b"PaxHeaders/entry",
        tar::EntryType::XHeader,
        body.len() as u64,
        b"",
    );
    v.extend_from_slice(&body);
    v.resize(v.len().next_multiple_of(512), 0);
    v
}

/// A symlink whose path and target may be longer than the old header fields.
fn pax_symlink(path: &str, target: &str) -> Vec<u8> {
    let mut v = pax(&[("path", path.as_bytes()), ("linkpath", target.as_bytes())]);
    v.extend_from_slice(&raw_header(b"placeholder", tar::EntryType::Symlink, 0, b""));
    v
}

/// Entries followed by the end-of-archive marker.
fn raw_tar(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut v: Vec<u8> = parts.concat();
    v.extend_from_slice(&[0u8; 1024]);
    v
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

// ---------------------------------------------------------------------------------------------
// Image layouts
// ---------------------------------------------------------------------------------------------

/// One layer as it will be written; every field can be made wrong on purpose.
struct Layer {
    /// The bytes stored in the blob file.
    stored: Vec<u8>,
    /// The digest the manifest names (and the blob file's name).
    digest: String,
    /// The size the manifest states.
    size: u64,
    /// The diff ID the config states.
    diff_id: String,
    /// The media type the manifest states.
    media_type: String,
    /// Whether the blob file is written at all.
    present: bool,
}

impl Layer {
    /// An uncompressed layer with correct digests.
    fn plain(tar: Vec<u8>) -> Layer {
        let diff_id = sha256(&tar);
        Layer::stored_as(tar, diff_id, LAYER_TAR)
    }

    /// A gzip layer with correct digests.
    fn gzip(tar: &[u8]) -> Layer {
        Layer::stored_as(gzip(tar), sha256(tar), LAYER_GZIP)
    }

    /// A layer whose blob digest and size are those of `stored`.
    fn stored_as(stored: Vec<u8>, diff_id: String, media_type: &str) -> Layer {
        Layer {
            digest: sha256(&stored),
            size: stored.len() as u64,
            stored,
            diff_id,
            media_type: media_type.into(),
            present: true,
        }
    }
}

fn write_blob(layout: &Path, digest: &str, data: &[u8]) {
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).expect("blobs dir");
    fs::write(dir.join(hex_of(digest)), data).expect("blob");
}

/// Writes an OCI layout (`oci-layout`, `index.json` tagged `test`, manifest, config, blobs)
/// and returns the manifest digest.
fn write_layout(layout: &Path, layers: &[Layer]) -> String {
    fs::create_dir_all(layout).expect("layout dir");
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created_by": "hostile test"})).collect::<Vec<_>>(),
    }))
    .expect("config");
    let config_digest = sha256(&config);
    write_blob(layout, &config_digest, &config);
    for l in layers.iter().filter(|l| l.present) {
        write_blob(layout, &l.digest, &l.stored);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers
            .iter()
            .map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
            .collect::<Vec<_>>(),
    }))
    .expect("manifest");
    let manifest_digest = sha256(&manifest);
    write_blob(layout, &manifest_digest, &manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "test"},
        }],
    }))
    .expect("index");
    fs::write(layout.join("index.json"), index).expect("index.json");
    manifest_digest
}

// ---------------------------------------------------------------------------------------------
// The sandbox and the run
// ---------------------------------------------------------------------------------------------

/// What a file looked like, to notice any write.
type Snapshot = BTreeMap<PathBuf, (bool, u64, Option<SystemTime>)>;

fn snapshot(root: &Path) -> Snapshot {
    fn walk(dir: &Path, out: &mut Snapshot) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            out.insert(p.clone(), (m.is_dir(), m.len(), m.modified().ok()));
            if m.is_dir() {
                walk(&p, out);
            }
        }
    }
    let mut out = Snapshot::new();
    walk(root, &mut out);
    out
}

/// Places outside the sandbox where a naive extractor following the hostile entries of these
/// tests (`../../evil`, `/etc/evil`, a symlink to `../../../../../evil`) would have written.
fn outside_targets(root: &Path) -> Vec<PathBuf> {
    let mut v = vec![
        PathBuf::from("/tmp/evil"),
        PathBuf::from("/etc/evil"),
        PathBuf::from("/evil"),
    ];
    let mut p = root.parent();
    while let Some(d) = p {
        v.push(d.join("evil"));
        p = d.parent();
    }
    v
}

struct Sandbox {
    root: tempfile::TempDir,
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    /// Peak resident memory of the child, when `/usr/bin/time` could measure it.
    max_rss_kb: Option<u64>,
    elapsed: Duration,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("palisade-hostile-")
            .tempdir()
            .expect("tempdir");
        for d in ["image", "cache", "home", "cwd"] {
            fs::create_dir(root.path().join(d)).expect("sandbox dir");
        }
        Sandbox { root }
    }

    fn layout(&self) -> PathBuf {
        self.root.path().join("image")
    }

    fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    fn source(&self) -> String {
        format!("oci-dir:{}", self.layout().display())
    }

    /// Runs `palisade sbom <this image> --format json`, checking that the run wrote nothing
    /// outside the cache directory. With `measure`, runs under `/usr/bin/time -v` (if present)
    /// to learn the peak memory.
    fn sbom(&self, measure: bool) -> Run {
        let root = self.root.path();
        let outside: Vec<(PathBuf, bool)> = outside_targets(root)
            .into_iter()
            .map(|p| {
                let existed = fs::symlink_metadata(&p).is_ok();
                (p, existed)
            })
            .collect();
        let before = snapshot(root);

        let time_log = std::env::temp_dir().join(format!(
            "palisade-hostile-time-{}-{}.log",
            std::process::id(),
            root.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        let use_time = measure && Path::new("/usr/bin/time").is_file();
        let bin = env!("CARGO_BIN_EXE_palisade");
        let mut cmd = if use_time {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-v").arg("-o").arg(&time_log).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        cmd.args(["sbom", &self.source(), "--format", "json"])
            .current_dir(root.join("cwd"))
            .env("HOME", root.join("home"))
            .env("XDG_CACHE_HOME", self.cache())
            .env_remove("PALISADE_NO_CACHE")
            .env_remove("PALISADE_CACHE_DIR")
            .env_remove("PALISADE_PLATFORM")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a hang can be ended with `time` and all.
            .process_group(0);
        let start = Instant::now();
        let mut child = cmd.spawn().expect("running palisade");
        let mut out_pipe = child.stdout.take().expect("stdout");
        let mut err_pipe = child.stderr.take().expect("stderr");
        let out_thread = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out_pipe.read_to_end(&mut v);
            v
        });
        let err_thread = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err_pipe.read_to_end(&mut v);
            v
        });
        let status = loop {
            if let Some(s) = child.try_wait().expect("waiting for palisade") {
                break s;
            }
            if start.elapsed() > HANG {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                let _ = fs::remove_file(&time_log);
                panic!(
                    "palisade did not finish within {HANG:?} on {}",
                    self.source()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = start.elapsed();
        let stdout = out_thread.join().expect("stdout thread");
        let stderr =
            String::from_utf8_lossy(&err_thread.join().expect("stderr thread")).into_owned();
        let max_rss_kb = if use_time {
            let log = fs::read_to_string(&time_log).unwrap_or_default();
            let _ = fs::remove_file(&time_log);
            log.lines()
                .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                .and_then(|v| v.trim().parse().ok())
        } else {
            None
        };

        // Nothing changed outside the cache directory, and nothing named like a hostile target
        // appeared anywhere in the sandbox or outside it.
        let after = snapshot(root);
        let cache = self.cache();
        let outside_cache = |s: &Snapshot| -> Snapshot {
            s.iter()
                .filter(|(p, _)| !p.starts_with(&cache))
                .map(|(p, v)| (p.clone(), *v))
                .collect()
        };
        assert_eq!(
            outside_cache(&before),
            outside_cache(&after),
            "palisade changed files outside the cache directory; stderr:\n{stderr}"
        );
        for p in after.keys() {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            assert!(
                !matches!(name, "evil" | "passwd" | "shadow"),
                "a file named like a hostile target appeared: {}",
                p.display()
            );
        }
        for (p, existed) in outside {
            assert!(
                existed || fs::symlink_metadata(&p).is_err(),
                "{} appeared while palisade read a hostile image",
                p.display()
            );
        }
        Run {
            code: status.code(),
            stdout,
            stderr,
            max_rss_kb,
            elapsed,
        }
    }

    /// Files in the cache directory.
    fn cache_files(&self) -> Vec<PathBuf> {
        snapshot(&self.cache())
            .into_iter()
            .filter(|(_, (dir, _, _))| !dir)
            .map(|(p, _)| p)
            .collect()
    }
}

/// Whether `line` is one of the progress lines a run prints on a pipe before it fails.
fn is_progress(line: &str) -> bool {
    [
        "palisade: reading ",
        "palisade: importing ",
        "palisade: read ",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// Asserts the run refused the image: exit 2, no panic, no SBOM, one error that contains
/// every one of `names` (the source, a digest) and `phrase` (what is wrong, case-insensitive).
fn assert_refused(sb: &Sandbox, run: &Run, names: &[&str], phrase: &str) {
    let stderr = &run.stderr;
    assert!(!stderr.contains("panicked"), "palisade panicked:\n{stderr}");
    assert_eq!(run.code, Some(2), "expected exit code 2; stderr:\n{stderr}");
    let mut lines = stderr.lines().skip_while(|l| is_progress(l));
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("palisade: error: "))
            && lines.all(|l| l.starts_with("  caused by: ")),
        "expected progress lines, then one `palisade: error:` and its causes; stderr:\n{stderr}"
    );
    for n in names {
        assert!(
            stderr.contains(n),
            "the error does not name {n:?}:\n{stderr}"
        );
    }
    assert!(
        stderr.to_lowercase().contains(&phrase.to_lowercase()),
        "the error does not say {phrase:?}:\n{stderr}"
    );
    assert!(
        run.stdout.is_empty(),
        "a refused image must produce no SBOM, got {} bytes on stdout",
        run.stdout.len()
    );
    // A layer that was refused must not be remembered as good.
    assert_eq!(
        sb.cache_files(),
        Vec::<PathBuf>::new(),
        "a refused layer was cached"
    );
}

fn assert_bounded(run: &Run) {
    if let Some(kb) = run.max_rss_kb {
        assert!(
            kb < MAX_RSS_KB,
            "peak memory {kb} KiB, more than {MAX_RSS_KB} KiB (after {:?}); stderr:\n{}",
            run.elapsed,
            run.stderr
        );
    }
}

const OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
const PY_GOOD_PATH: &str = "usr/lib/python3/dist-packages/goodpy-1.2.3.dist-info/METADATA";
const PY_GOOD: &[u8] = b"Metadata-Version: 2.1\nName: goodpy\nVersion: 1.2.3\n";

/// An image with an OS and one package of each kind, to be damaged by the test.
fn benign_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("etc/os-release", OS_RELEASE.to_vec()),
        (PY_GOOD_PATH, PY_GOOD.to_vec()),
        ("etc/hostname", b"box\n".to_vec()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Image-level attacks: refused with exit code 2
// ---------------------------------------------------------------------------------------------

#[test]
fn blob_altered_after_the_manifest_was_written() {
    let sb = Sandbox::new();
    let tar = tar_of(&[
        ("etc/os-release", OS_RELEASE),
        ("etc/motd", b"hello, world\n"),
    ]);
    let mut layer = Layer::plain(tar);
    // Same length, still a valid tar: only the digest can tell.
    let at = layer
        .stored
        .windows(5)
        .position(|w| w == b"hello")
        .expect("content in the tar");
    layer.stored[at..at + 5].copy_from_slice(b"HELLO");
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(&sb, &run, &[&digest, &sb.source()], "digest mismatch");
}

#[test]
fn truncated_gzip_layer() {
    let sb = Sandbox::new();
    let mut big = Vec::new();
    for i in 0..20_000u32 {
        big.extend_from_slice(
            format!(
                "line {i} of a file that does not compress to nothing {}\n",
                i * 7919
            )
            .as_bytes(),
        );
    }
    let tar = tar_of(&[
        ("etc/os-release", OS_RELEASE),
        ("usr/share/doc/big.txt", &big),
    ]);
    let full = gzip(&tar);
    assert!(full.len() > 4096);
    // The manifest describes the truncated blob exactly: only the compression is broken.
    let cut = full[..full.len() / 2].to_vec();
    let layer = Layer::stored_as(cut, sha256(&tar), LAYER_GZIP);
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(&sb, &run, &[&digest, &sb.source()], "gzip");
    let lower = run.stderr.to_lowercase();
    assert!(
        lower.contains("truncated") || lower.contains("unexpected end"),
        "the error should say the layer ends too early:\n{}",
        run.stderr
    );
}

#[test]
fn entry_climbing_out_with_dot_dot() {
    let sb = Sandbox::new();
    let tar = raw_tar(&[
        raw_file(b"etc/os-release", OS_RELEASE),
        raw_file(b"../../evil", b"pwned\n"),
    ]);
    let layer = Layer::plain(tar);
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(
        &sb,
        &run,
        &[&digest, &sb.source(), "../../evil"],
        "climbs out of the image root",
    );
}

#[test]
fn entry_with_an_absolute_path() {
    let sb = Sandbox::new();
    let tar = raw_tar(&[
        raw_file(b"etc/os-release", OS_RELEASE),
        raw_file(b"/etc/evil", b"pwned\n"),
    ]);
    let layer = Layer::gzip(&tar);
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(
        &sb,
        &run,
        &[&digest, &sb.source(), "/etc/evil"],
        "absolute path",
    );
}

#[test]
fn symlink_pointing_outside_the_root() {
    let sb = Sandbox::new();
    let tar = raw_tar(&[
        raw_file(b"etc/os-release", OS_RELEASE),
        raw_header(b"usr/x", tar::EntryType::Symlink, 0, b"../../../../../evil"),
        // Writing through the link is what an extracting reader would then do.
        raw_file(b"usr/x", b"pwned\n"),
    ]);
    let layer = Layer::plain(tar);
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(
        &sb,
        &run,
        &[&digest, &sb.source(), "usr/x"],
        "points outside the image root",
    );
}

#[test]
fn symlink_with_a_megabyte_long_target() {
    let sb = Sandbox::new();
    // 400,000 components in one PAX `linkpath`: 800 KB of tar, 1 KB of gzip. Linux cannot
    // store such a link; resolving it component by component cost minutes.
    let target = format!("{}y", "x/".repeat(400_000));
    let tar = raw_tar(&[
        raw_file(b"usr/lib/os-release", OS_RELEASE),
        pax_symlink("etc/os-release", &target),
    ]);
    let layer = Layer::gzip(&tar);
    assert!(layer.stored.len() < 8 * 1024, "{}", layer.stored.len());
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(true);
    assert_refused(
        &sb,
        &run,
        &[&digest, &sb.source(), "etc/os-release"],
        "symlink target",
    );
    assert!(
        run.stderr.len() < 16 * 1024,
        "the error echoes the whole target"
    );
    assert_bounded(&run);
}

#[test]
fn chain_of_symlinks_with_long_targets() {
    let sb = Sandbox::new();
    // Each link is a legal 4 KB target leading 2,045 directories deeper to the next link; 40
    // hops (the most a resolution follows) reach a path of 80,000 components. Resolving
    // `etc/os-release` must still cost next to nothing; it ends on nothing, so there is no OS.
    let mut parts = vec![raw_file(b"usr/lib/os-release", OS_RELEASE)];
    let per = 2045;
    let mut dir = "etc".to_owned();
    let mut path = "etc/os-release".to_owned();
    for hop in 1..=40 {
        let target = format!("{}l{hop}", "x/".repeat(per));
        parts.push(pax_symlink(&path, &target));
        dir = format!("{dir}/{}x", "x/".repeat(per - 1));
        path = format!("{dir}/l{hop}");
    }
    write_layout(&sb.layout(), &[Layer::gzip(&raw_tar(&parts))]);
    let run = sb.sbom(true);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_bounded(&run);
}

#[test]
fn header_claims_ten_gigabytes_but_the_blob_ends() {
    let sb = Sandbox::new();
    // A wanted file (read whole by the dpkg cataloger) whose header says 10 GB; 100 bytes follow.
    let mut tar = raw_header(
        b"var/lib/dpkg/status",
        tar::EntryType::Regular,
        10 << 30,
        b"",
    );
    tar.extend_from_slice(&[b'P'; 100]);
    let layer = Layer::plain(tar);
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(true);
    assert_refused(
        &sb,
        &run,
        &[&digest, &sb.source()],
        "archive ends inside entry",
    );
    assert_bounded(&run);
}

#[test]
fn gzip_bomb() {
    let sb = Sandbox::new();
    // 2 GiB of zeros in one file entry, compressed to about 2 MiB, streamed so the test never
    // holds them either. The diff ID is correct: only the expansion ratio gives it away.
    const SIZE: u64 = 2 << 30;
    let header = raw_header(b"var/lib/bomb", tar::EntryType::Regular, SIZE, b"");
    let mut hasher = Sha256::new();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    hasher.update(&header);
    enc.write_all(&header).expect("gzip");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) + 1 {
        // The final MiB covers the end-of-archive marker (and padding, which is none here).
        hasher.update(&zeros);
        enc.write_all(&zeros).expect("gzip");
    }
    let blob = enc.finish().expect("gzip");
    assert!(blob.len() < 4 << 20, "bomb is {} bytes", blob.len());
    let diff_id = format!("sha256:{}", hex::encode(hasher.finalize()));
    let layer = Layer::stored_as(blob, diff_id, LAYER_GZIP);
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(true);
    assert_refused(&sb, &run, &[&digest, &sb.source()], "decompression bomb");
    assert_bounded(&run);
}

#[test]
fn manifest_names_a_missing_blob() {
    let sb = Sandbox::new();
    let mut layer = Layer::gzip(&tar_of(&[("etc/os-release", OS_RELEASE)]));
    layer.present = false;
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(&sb, &run, &[&digest, &sb.source()], "missing");
}

#[test]
fn unknown_layer_media_type() {
    let sb = Sandbox::new();
    let mut layer = Layer::plain(tar_of(&[("etc/os-release", OS_RELEASE)]));
    layer.media_type = "application/x-evil-layer".into();
    let digest = layer.digest.clone();
    let manifest = write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(
        &sb,
        &run,
        &[&digest, &manifest, &sb.source(), "application/x-evil-layer"],
        "unsupported media type",
    );
}

#[test]
fn diff_id_mismatch_in_the_config() {
    let sb = Sandbox::new();
    let mut layer = Layer::gzip(&tar_of(&[("etc/os-release", OS_RELEASE)]));
    // The config promises other uncompressed content than the blob holds.
    layer.diff_id = sha256(b"some other layer");
    let digest = layer.digest.clone();
    let promised = layer.diff_id.clone();
    write_layout(&sb.layout(), &[layer]);
    let run = sb.sbom(false);
    assert_refused(&sb, &run, &[&digest, &promised, &sb.source()], "diff ID");
    assert!(run.stderr.contains("digest mismatch"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// File-level damage: the scan goes on, with a warning naming the file
// ---------------------------------------------------------------------------------------------

struct Scan {
    run: Run,
    doc: Value,
}

impl Scan {
    fn names(&self) -> BTreeSet<(String, String)> {
        self.doc["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| {
                (
                    p["ecosystem"].as_str().unwrap_or_default().to_owned(),
                    p["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn has(&self, ecosystem: &str, name: &str) -> bool {
        self.names()
            .contains(&(ecosystem.to_owned(), name.to_owned()))
    }

    fn assert_warned_about(&self, path: &str) {
        let stderr = &self.run.stderr;
        let warned = stderr
            .lines()
            .any(|l| l.starts_with("palisade: warning: ") && l.contains(path));
        assert!(
            warned,
            "no `palisade: warning:` line naming {path}; stderr:\n{stderr}"
        );
        let problems = self.doc["problems"].as_array().cloned().unwrap_or_default();
        assert!(
            problems.iter().any(|p| p["path"] == path),
            "the JSON report lists no problem for {path}: {problems:?}"
        );
    }
}

/// Builds a one-layer image of `files` and scans it; the scan must succeed.
fn scan(files: &[(&str, Vec<u8>)]) -> Scan {
    let sb = Sandbox::new();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_slice())).collect();
    write_layout(&sb.layout(), &[Layer::gzip(&tar_of(&refs))]);
    let run = sb.sbom(false);
    assert!(
        !run.stderr.contains("panicked"),
        "palisade panicked:\n{}",
        run.stderr
    );
    assert_eq!(
        run.code,
        Some(0),
        "a damaged file must not fail the scan; stderr:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("palisade: error"),
        "unexpected error:\n{}",
        run.stderr
    );
    let doc: Value = serde_json::from_slice(&run.stdout).expect("JSON report on stdout");
    // The undamaged part of the image is still cataloged.
    Scan { run, doc }
}

fn with(
    mut files: Vec<(&'static str, Vec<u8>)>,
    path: &'static str,
    data: Vec<u8>,
) -> Vec<(&'static str, Vec<u8>)> {
    files.retain(|(p, _)| *p != path);
    files.push((path, data));
    files
}

/// Binary garbage with fragments that look like fields, newlines and colons in odd places.
fn garbage(fragments: &[&[u8]]) -> Vec<u8> {
    let mut v: Vec<u8> =
        b"\x7fELF\x02\x01\x01\x00\x00\x00:\xff\xfe\x00\n\xc3\x28:\x01\x80\x81".to_vec();
    let mut x: u32 = 0x2545_f491;
    for f in fragments {
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.push((x & 0xff) as u8);
        }
        v.extend_from_slice(f);
    }
    v.extend_from_slice(b"\x00\x00\xff\n");
    v
}

#[test]
fn os_release_of_binary_garbage() {
    let s = scan(&with(
        benign_files(),
        "etc/os-release",
        garbage(&[b"ID=evil\n", b"\nVERSION_ID=6.6.6\n"]),
    ));
    assert!(s.has("python", "goodpy"), "{:?}", s.names());
    assert!(
        s.doc.get("distro").is_none_or(Value::is_null),
        "a garbage os-release must not yield a distro: {}",
        s.doc["distro"]
    );
    s.assert_warned_about("/etc/os-release");
}

const DPKG_STATUS: &str = "var/lib/dpkg/status";
const DPKG_GOOD: &[u8] =
    b"Package: gooddeb\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n";

#[test]
fn dpkg_status_of_binary_garbage() {
    let data = garbage(&[
        b"\nPackage: evildeb\nVersion: 6.6.6\n",
        b"\n\nPackage: \xff\xfe\nVersion: 1\n",
    ]);
    let s = scan(&with(benign_files(), DPKG_STATUS, data));
    assert!(s.has("python", "goodpy"), "{:?}", s.names());
    assert!(
        !s.names().iter().any(|(e, _)| e == "deb"),
        "{:?}",
        s.names()
    );
    s.assert_warned_about("/var/lib/dpkg/status");
}

#[test]
fn dpkg_status_with_missing_values() {
    let mut data = DPKG_GOOD.to_vec();
    data.extend_from_slice(b"Package: noversion\nStatus: install ok installed\nVersion:\n\n");
    data.extend_from_slice(b"Package:\nVersion: 1.0\n\n");
    data.extend_from_slice(b"Package: emptyvalues\nVersion: \nArchitecture:\nSource:\n\n");
    data.extend_from_slice(b"Status: install ok installed\nVersion: 2.0\n\n");
    let s = scan(&with(benign_files(), DPKG_STATUS, data));
    assert!(s.has("deb", "gooddeb"), "{:?}", s.names());
    assert!(s.has("python", "goodpy"), "{:?}", s.names());
    for bad in ["noversion", "emptyvalues", ""] {
        assert!(
            !s.has("deb", bad),
            "{bad:?} should be skipped: {:?}",
            s.names()
        );
    }
    assert_eq!(
        s.names().iter().filter(|(e, _)| e == "deb").count(),
        1,
        "{:?}",
        s.names()
    );
    s.assert_warned_about("/var/lib/dpkg/status");
}

#[test]
fn dpkg_status_with_a_five_megabyte_line() {
    let mut data = DPKG_GOOD.to_vec();
    // A package whose description is one 5 MB line: harmless, kept.
    data.extend_from_slice(
        b"Package: longdesc\nStatus: install ok installed\nVersion: 2.0\nDescription: ",
    );
    data.extend(std::iter::repeat_n(b'd', 5 << 20));
    data.extend_from_slice(b"\n\n");
    // A package whose version is a 5 MB line: not a version, skipped with a warning.
    data.extend_from_slice(b"Package: hugeversion\nStatus: install ok installed\nVersion: 1");
    data.extend(std::iter::repeat_n(b'9', 5 << 20));
    data.extend_from_slice(b"\n\n");
    let s = scan(&with(benign_files(), DPKG_STATUS, data));
    assert!(s.has("deb", "gooddeb"), "{:?}", s.names());
    assert!(s.has("deb", "longdesc"), "{:?}", s.names());
    assert!(!s.has("deb", "hugeversion"), "{:?}", s.names());
    s.assert_warned_about("/var/lib/dpkg/status");
    // The warning quotes the problem, not the 5 MB of input.
    assert!(
        s.run.stderr.len() < 64 * 1024,
        "stderr is {} bytes",
        s.run.stderr.len()
    );
}

#[test]
fn apk_database_of_garbage() {
    let mut data = b"P:goodapk\nV:1.0-r0\nA:x86_64\n\n".to_vec();
    data.extend_from_slice(b"P:evilapk\nV:6.6.6-r0\n");
    data.extend(garbage(&[b"\nP:evilapk2\nV:1\n"]));
    data.extend_from_slice(b"\n\n");
    let files = with(
        benign_files(),
        "etc/os-release",
        b"ID=alpine\nVERSION_ID=3.19.1\n".to_vec(),
    );
    let s = scan(&with(files, "lib/apk/db/installed", data));
    assert!(s.has("apk", "goodapk"), "{:?}", s.names());
    assert!(s.has("python", "goodpy"), "{:?}", s.names());
    assert!(!s.has("apk", "evilapk"), "{:?}", s.names());
    assert!(!s.has("apk", "evilapk2"), "{:?}", s.names());
    s.assert_warned_about("/lib/apk/db/installed");
}

#[test]
fn python_metadata_of_garbage() {
    const BAD: &str = "usr/lib/python3/dist-packages/evilpy-6.6.6.dist-info/METADATA";
    let data = garbage(&[b"\nName: evilpy\nVersion: \xff\xfe 6.6.6 \x00\n"]);
    let s = scan(&with(benign_files(), BAD, data));
    assert!(s.has("python", "goodpy"), "{:?}", s.names());
    assert!(!s.has("python", "evilpy"), "{:?}", s.names());
    s.assert_warned_about(&format!("/{BAD}"));
}

#[test]
fn layer_blob_that_is_a_device_never_stalls_the_scan() {
    let sb = Sandbox::new();
    let mut layer = Layer::gzip(&tar_of(&[("etc/os-release", OS_RELEASE)]));
    layer.present = false;
    let digest = layer.digest.clone();
    write_layout(&sb.layout(), &[layer]);
    // The blob is `/dev/zero`: endless, and never what its digest says.
    std::os::unix::fs::symlink(
        "/dev/zero",
        sb.layout().join("blobs/sha256").join(hex_of(&digest)),
    )
    .unwrap();
    let run = sb.sbom(false);
    let layout = sb.layout().display().to_string();
    assert_refused(&sb, &run, &[&layout, hex_of(&digest)], "not a regular file");
}
