//! Hostile feed inputs, end to end through the real `palisade db import` (issue 13.2 and the
//! feed part of 13.12).
//!
//! Every input is generated here, into a temporary directory, streamed to disk (compressed
//! where the format allows) so the test itself never holds it in memory. Each run must end
//! with a clear error naming the file (or the right answer), never a panic or a hang, and the
//! cases about memory check the child's peak resident set (its own `getrusage`) against
//! [`MAX_RSS_KB`].
//!
//! Peak memory is measured by re-running this test binary as a launcher (the test
//! `rss_launcher`, inert unless [`LAUNCH_ENV`] is set): it starts `palisade`, waits for it and
//! reads `getrusage(RUSAGE_CHILDREN)`, which then covers exactly that one child.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;

/// Peak memory a hostile feed may cost. Reading any of these inputs whole (or parsing it into
/// a tree) costs several times more.
const MAX_RSS_KB: u64 = 512 * 1024;
/// A run longer than this is a hang (a FIFO read, an endless device), not a slow machine.
const HANG: Duration = Duration::from_secs(600);
/// Set (to a directory) when this binary runs as the launcher.
const LAUNCH_ENV: &str = "PALISADE_HOSTILE_FEEDS_LAUNCH";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_kb: u64,
}

/// The launcher: inert in a normal test run. With [`LAUNCH_ENV`] set to a directory holding
/// `args` (NUL-separated), runs `palisade` with them and writes `stdout`, `stderr`, `code`
/// and `maxrss` (KiB) there.
#[test]
fn rss_launcher() {
    let Some(dir) = std::env::var_os(LAUNCH_ENV).map(PathBuf::from) else {
        return;
    };
    let args = fs::read(dir.join("args")).expect("launcher args");
    let args: Vec<String> = args
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8(a.to_vec()).expect("UTF-8 args"))
        .collect();
    let status = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("stdout")).expect("stdout file"))
        .stderr(File::create(dir.join("stderr")).expect("stderr file"))
        .env("RUST_BACKTRACE", "0")
        .status()
        .expect("running palisade");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    fs::write(
        dir.join("code"),
        status
            .code()
            .map_or_else(|| "signal".into(), |c| c.to_string()),
    )
    .expect("code file");
    fs::write(dir.join("maxrss"), usage.max_rss().to_string()).expect("maxrss file");
}

/// Runs `palisade ARGS` through the launcher; panics on a hang.
fn palisade(args: &[&str]) -> Run {
    let dir = tempfile::Builder::new()
        .prefix("palisade-feeds-run-")
        .tempdir()
        .expect("tempdir");
    let mut joined = Vec::new();
    for a in args {
        joined.extend_from_slice(a.as_bytes());
        joined.push(0);
    }
    fs::write(dir.path().join("args"), joined).unwrap();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "rss_launcher", "--nocapture", "--test-threads=1"])
        .env(LAUNCH_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so that a hang can be ended with palisade and all.
        .process_group(0)
        .spawn()
        .expect("running the launcher");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for the launcher") {
            break s;
        }
        if start.elapsed() > HANG {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("palisade {args:?} did not finish within {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the launcher failed for {args:?}");
    let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    Run {
        code: read("code").trim().parse().ok(),
        stdout: read("stdout"),
        stderr: read("stderr"),
        max_rss_kb: read("maxrss").trim().parse().expect("maxrss"),
    }
}

/// `palisade db import INPUT --db <tmp>/vuln.db`.
fn import(input: &Path, tmp: &Path) -> Run {
    let db = tmp.join("vuln.db");
    palisade(&[
        "db",
        "import",
        &input.display().to_string(),
        "--db",
        &db.display().to_string(),
    ])
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

/// Asserts the run failed cleanly: exit 2, one `palisade: error:` naming `input` and saying
/// every one of `phrases`, no panic.
fn assert_refused(run: &Run, input: &Path, phrases: &[&str]) {
    let e = &run.stderr;
    assert!(!e.contains("panicked"), "palisade panicked:\n{e}");
    assert_eq!(run.code, Some(2), "expected exit code 2; stderr:\n{e}");
    let mut lines = e.lines().skip_while(|l| is_progress(l));
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("palisade: error: "))
            && lines.all(|l| l.starts_with("  caused by: ")),
        "expected progress lines, then one `palisade: error:` and its causes; stderr:\n{e}"
    );
    let name = input.display().to_string();
    assert!(e.contains(&name), "the error does not name {name}:\n{e}");
    for p in phrases {
        assert!(e.contains(p), "the error does not say {p:?}:\n{e}");
    }
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
}

fn assert_bounded(run: &Run) {
    assert!(
        run.max_rss_kb < MAX_RSS_KB,
        "peak memory {} KiB, more than {MAX_RSS_KB} KiB; stderr:\n{}",
        run.max_rss_kb,
        run.stderr
    );
    assert!(run.max_rss_kb > 0, "no peak memory measured");
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("palisade-hostile-feeds-")
        .tempdir()
        .expect("tempdir")
}

/// One gzip member holding `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// 13.2: an EPSS `.csv.gz` of a few MB whose second row is one 4 GiB line.
#[test]
fn epss_gzip_with_a_four_gib_line() {
    let t = tmp();
    let input = t.path().join("epss_scores-current.csv.gz");
    let mut out = BufWriter::new(File::create(&input).unwrap());
    out.write_all(&gzip(
        b"#model_version:v2025.03.14,score_date:2025-08-21T12:55:00Z\ncve,epss,percentile\nCVE-2024-0001,0.",
    ))
    .unwrap();
    // 64 members of 64 MiB of digits each: concatenated gzip members are one stream.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let mib = vec![b'1'; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&mib).unwrap();
    }
    let member = gz.finish().unwrap();
    for _ in 0..64 {
        out.write_all(&member).unwrap();
    }
    out.write_all(&gzip(b",0.5\n")).unwrap();
    out.flush().unwrap();
    drop(out);
    assert!(fs::metadata(&input).unwrap().len() < 16 << 20);
    let run = import(&input, t.path());
    assert_refused(&run, &input, &["line 3", "65536-byte line limit"]);
    assert_bounded(&run);
}

/// 13.2: feed-kind detection used to parse a whole `.json` file: a 125 MB OSV record with a
/// million `affected` entries. Detection now looks at its first MiB; the importer refuses the
/// record by its size.
#[test]
fn osv_record_with_a_million_affected_entries() {
    let t = tmp();
    let input = t.path().join("HUGE-1.json");
    let mut out = BufWriter::new(File::create(&input).unwrap());
    out.write_all(br#"{"id":"HUGE-1","modified":"2024-01-01T00:00:00Z","affected":["#)
        .unwrap();
    for i in 0..1_000_000u32 {
        if i > 0 {
            out.write_all(b",").unwrap();
        }
        write!(
            out,
            r#"{{"package":{{"ecosystem":"PyPI","name":"package-{i:07}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"1.0.{i}"}}]}}]}}"#
        )
        .unwrap();
    }
    out.write_all(b"]}").unwrap();
    out.flush().unwrap();
    drop(out);
    assert!(fs::metadata(&input).unwrap().len() > 100_000_000);
    let run = import(&input, t.path());
    assert_refused(&run, &input, &["16777216-byte limit"]);
    assert_bounded(&run);
}

/// Writes an NVD page of `records` records, each carrying `padding` bytes in a field the
/// importer skips, and `description` bytes of description.
fn nvd_page(path: &Path, records: usize, padding: usize, description: usize) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    write!(
        out,
        r#"{{"resultsPerPage":{records},"startIndex":0,"totalResults":{records},"format":"NVD_CVE","version":"2.0","timestamp":"2026-01-01T00:00:00.000","vulnerabilities":["#
    )
    .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let write_n = |out: &mut BufWriter<File>, mut n: usize| {
        while n > 0 {
            let k = n.min(chunk.len());
            out.write_all(&chunk[..k]).unwrap();
            n -= k;
        }
    };
    for i in 0..records {
        if i > 0 {
            out.write_all(b",").unwrap();
        }
        write!(
            out,
            r#"{{"cve":{{"id":"CVE-2099-{:05}","published":"2026-01-01T00:00:00.000","lastModified":"2026-01-01T00:00:00.000","vulnStatus":"Analyzed","descriptions":[{{"lang":"en","value":""#,
            i + 1
        )
        .unwrap();
        write_n(&mut out, description);
        out.write_all(br#""}],"configurations":[{"note":""#)
            .unwrap();
        write_n(&mut out, padding);
        out.write_all(br#""}],"metrics":{"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8,"baseSeverity":"CRITICAL"}}]}}}"#).unwrap();
    }
    out.write_all(b"]}").unwrap();
    out.flush().unwrap();
}

/// 13.2: a 770 MB NVD page is streamed one record at a time: imported whole, in bounded
/// memory.
#[test]
fn nvd_page_of_770_mb_is_streamed() {
    let t = tmp();
    let input = t.path().join("nvd-page.json");
    nvd_page(&input, 770, 1 << 20, 100);
    assert!(fs::metadata(&input).unwrap().len() > 770_000_000);
    let run = import(&input, t.path());
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("imported nvd: 770 records"),
        "stderr:\n{}",
        run.stderr
    );
    assert_bounded(&run);
}

/// 13.2: one NVD record with a 400 MB description: refused by the record cap, naming the
/// record, in bounded memory (it used to be accepted at 2 GB).
#[test]
fn nvd_description_of_400_mb() {
    let t = tmp();
    let input = t.path().join("nvd-description.json");
    nvd_page(&input, 2, 0, 400_000_000);
    let run = import(&input, t.path());
    assert_refused(
        &run,
        &input,
        &["vulnerabilities[0]", "16777216-byte record limit"],
    );
    assert_bounded(&run);
}

/// 13.2: a feed path that is a FIFO is refused by its type, never opened for a read that
/// would block forever; so are a symlink to one and a symlink to `/dev/zero`, whatever the
/// name says the kind is.
#[test]
fn fifo_and_device_paths_are_refused_by_type() {
    let t = tmp();
    let fifo = t.path().join("feed.json");
    let ok = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(ok.success());
    let run = import(&fifo, t.path());
    assert_refused(&run, &fifo, &["not a regular file but a FIFO"]);

    for (name, target, what) in [
        ("linked.csv.gz", fifo.clone(), "a FIFO"),
        (
            "zero.json",
            PathBuf::from("/dev/zero"),
            "a character device",
        ),
        ("zero.zip", PathBuf::from("/dev/zero"), "a character device"),
        ("zero.csv", PathBuf::from("/dev/zero"), "a character device"),
        (
            "zero.yaml",
            PathBuf::from("/dev/zero"),
            "a character device",
        ),
    ] {
        let link = t.path().join(name);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let run = import(&link, t.path());
        assert_refused(&run, &link, &[&format!("not a regular file but {what}")]);
    }
    assert!(!t.path().join("vuln.db").exists());
}

/// A zip of stored entries, each `(name, data)`, written by hand so that names may repeat.
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let offset = u32::try_from(out.len()).unwrap();
        let len = u32::try_from(data.len()).unwrap();
        let name_len = u16::try_from(name.len()).unwrap();
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory header.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&0o100_644u32.wrapping_shl(16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let cd_len = u32::try_from(central.len()).unwrap();
    let count = u16::try_from(entries.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

const OSV_A: &[u8] = br#"{"id":"DUP-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":["1.0"]}]}"#;
const OSV_B: &[u8] = br#"{"id":"DUP-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"b"},"versions":["1.0"]}]}"#;

/// 13.12: a feed zip with two entries of the same name used to import the last one silently;
/// it is an error naming the entry. The same zip without the repeat imports fine.
#[test]
fn zip_with_a_duplicated_entry_name() {
    let t = tmp();
    let dir = t.path().join("PyPI");
    fs::create_dir(&dir).unwrap();
    let input = dir.join("all.zip");
    fs::write(
        &input,
        stored_zip(&[
            ("DUP-1.json", OSV_A),
            ("OTHER.json", OSV_B),
            ("DUP-1.json", OSV_B),
        ]),
    )
    .unwrap();
    let run = import(&input, t.path());
    assert_refused(
        &run,
        &input,
        &["DUP-1.json", "more than one entry of this name"],
    );

    fs::write(&input, stored_zip(&[("DUP-1.json", OSV_A)])).unwrap();
    let run = import(&input, t.path());
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("imported osv/PyPI: 1 records"),
        "{}",
        run.stderr
    );
}
