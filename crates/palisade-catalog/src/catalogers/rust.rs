//! Rust crates: `Cargo.lock` (lock format v1 to v4), and the dependency list that
//! `cargo auditable` embeds in executables (zlib-compressed JSON in the `.dep-v0` section).
//!
//! Not for: binaries built without `cargo auditable`, whose crates cannot be told apart
//! reliably (panic-message paths are a guess, not a record), or `Cargo.toml` version
//! requirements.
//!
//! Which crates are reported, and why:
//!
//! - A `Cargo.lock` package is reported only when it has a `source`, i.e. comes from a
//!   registry (`registry+…`, `sparse+…`) or a git repository (`git+…`). Packages without a
//!   source are workspace members and path dependencies: the project's own code, not a
//!   published crate. Advisories (RustSec, OSV's `crates.io` ecosystem) are filed against
//!   crates.io crates by name, so reporting a local crate that happens to share a name
//!   (`utils`, `config`, `time`) would raise findings that are false; cargo-audit ignores
//!   such packages for the same reason (rustsec/rustsec#169).
//! - In a `cargo auditable` binary every crate compiled into it is reported: the root (the
//!   binary's own package, so the SBOM names the program, even when its source is `local`)
//!   and every dependency of kind `runtime`, whatever its source, except `local` ones, which
//!   are path dependencies and are skipped as in `Cargo.lock`. Build dependencies (kind
//!   `build`: build scripts and proc-macros) run on the build machine and are not in the
//!   binary, so they are left out.

use std::collections::BTreeSet;
use std::io::Read;

use flate2::read::ZlibDecoder;
use object::{Object, ObjectSection};
use serde::Deserialize;

use crate::catalogers::{Found, Parsed, shorten};
use crate::package::Ecosystem;

/// The most bytes of a `Cargo.lock` that are read (for the caller).
pub(crate) const MAX_CARGO_LOCK_BYTES: u64 = 16 << 20;
/// The name of the section `cargo auditable` writes.
pub(crate) const AUDITABLE_SECTION: &str = ".dep-v0";
/// The largest `.dep-v0` section read (compressed).
pub(crate) const MAX_SECTION_BYTES: u64 = 8 << 20;
/// The most bytes the section may decompress to.
pub(crate) const MAX_AUDIT_JSON_BYTES: u64 = 8 << 20;
/// The newest `Cargo.lock` format version known.
const NEWEST_LOCK_VERSION: i64 = 4;
/// Warnings kept per file; the rest are counted.
const MAX_WARNINGS: usize = 64;
/// Longest crate name accepted (crates.io allows 64; other registries may allow more).
const MAX_NAME: usize = 128;
/// Longest version accepted.
const MAX_VERSION: usize = 128;

/// Parses a `Cargo.lock` of any format version (1 to 4; newer ones are read as 4 with a
/// warning). See the module documentation for which packages are reported.
pub(crate) fn parse_cargo_lock(bytes: &[u8]) -> Result<Parsed, String> {
    #[derive(Deserialize)]
    struct Lock {
        #[serde(default)]
        version: Option<toml::Value>,
        #[serde(default)]
        package: Option<Vec<LockPackage>>,
        /// v1 only: the root package, which has no source.
        #[serde(default)]
        root: Option<LockPackage>,
    }
    #[derive(Deserialize)]
    struct LockPackage {
        #[serde(default)]
        name: Option<toml::Value>,
        #[serde(default)]
        version: Option<toml::Value>,
        #[serde(default)]
        source: Option<toml::Value>,
    }

    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let lock: Lock = toml::from_str(text)
        .map_err(|e| format!("not a valid Cargo.lock: {}", shorten(&e.to_string())))?;
    if lock.version.is_none() && lock.package.is_none() && lock.root.is_none() {
        return Err("no [[package]] entries and no lock version: not a Cargo.lock".into());
    }
    let mut out = Output::default();
    match &lock.version {
        None => {}
        Some(toml::Value::Integer(v)) if (1..=NEWEST_LOCK_VERSION).contains(v) => {}
        Some(toml::Value::Integer(v)) if *v > NEWEST_LOCK_VERSION => out.warn(format!(
            "lock file version {v} is newer than {NEWEST_LOCK_VERSION}; read as version {NEWEST_LOCK_VERSION}"
        )),
        Some(other) => out.warn(format!(
            "lock file version is a {}, not a number; read anyway",
            other.type_str()
        )),
    }
    for (index, p) in lock.package.iter().flatten().enumerate() {
        let source = match &p.source {
            None => None,
            Some(toml::Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                out.warn(format!(
                    "package {index}: `source` is not a string; skipped"
                ));
                continue;
            }
        };
        if source.is_none_or(str::is_empty) {
            continue; // a workspace member or path dependency
        }
        match crate_of(
            p.name.as_ref().and_then(toml::Value::as_str),
            p.version.as_ref().and_then(toml::Value::as_str),
        ) {
            Ok(found) => out.push(found),
            Err(e) => out.warn(format!("package {index}: {e}; skipped")),
        }
    }
    Ok(out.finish())
}

/// Reads the crates that `cargo auditable` recorded in an executable: `None` if it has no
/// `.dep-v0` section (or is not a readable ELF file), otherwise the packages or why the section is
/// unusable. See the module documentation for which packages are reported.
pub(crate) fn parse_auditable(elf: &[u8]) -> Option<Result<Parsed, String>> {
    let file = object::File::parse(elf).ok()?;
    let section = file.section_by_name(AUDITABLE_SECTION)?;
    if section.size() > MAX_SECTION_BYTES {
        return Some(Err(format!(
            "{AUDITABLE_SECTION} section of {} bytes, over the {MAX_SECTION_BYTES}-byte limit",
            section.size()
        )));
    }
    Some(match section.data() {
        Ok(compressed) => parse_dep_v0(compressed),
        Err(e) => Err(format!("{AUDITABLE_SECTION} section cannot be read: {e}")),
    })
}

/// Decompresses and parses the content of a `.dep-v0` section.
pub(crate) fn parse_dep_v0(compressed: &[u8]) -> Result<Parsed, String> {
    let mut json = Vec::new();
    ZlibDecoder::new(compressed)
        .take(MAX_AUDIT_JSON_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("{AUDITABLE_SECTION} is not valid zlib data: {e}"))?;
    if json.len() as u64 > MAX_AUDIT_JSON_BYTES {
        return Err(format!(
            "{AUDITABLE_SECTION} decompresses to more than {MAX_AUDIT_JSON_BYTES} bytes; not read"
        ));
    }
    parse_audit_json(&json)
}

/// Parses the JSON of `cargo auditable` (`{"packages": [{name, version, source, kind,
/// dependencies, root}, …]}`).
fn parse_audit_json(json: &[u8]) -> Result<Parsed, String> {
    #[derive(Deserialize)]
    struct Info {
        packages: Vec<AuditPackage>,
    }
    #[derive(Deserialize)]
    struct AuditPackage {
        #[serde(default)]
        name: Option<serde_json::Value>,
        #[serde(default)]
        version: Option<serde_json::Value>,
        #[serde(default)]
        source: Option<serde_json::Value>,
        #[serde(default)]
        kind: Option<serde_json::Value>,
        #[serde(default)]
        root: Option<serde_json::Value>,
    }

    let info: Info = serde_json::from_slice(json)
        .map_err(|e| format!("{AUDITABLE_SECTION} is not cargo auditable's JSON: {e}"))?;
    let mut out = Output::default();
    for (index, p) in info.packages.iter().enumerate() {
        let root = p.root.as_ref().and_then(serde_json::Value::as_bool) == Some(true);
        match p.kind.as_ref() {
            None => {}
            Some(serde_json::Value::String(k)) if k == "runtime" => {}
            Some(serde_json::Value::String(k)) if k == "build" => continue,
            Some(other) => {
                out.warn(format!(
                    "package {index}: unknown kind {}; skipped",
                    shorten(&other.to_string())
                ));
                continue;
            }
        }
        if !root && p.source.as_ref().and_then(serde_json::Value::as_str) == Some("local") {
            continue; // a path dependency
        }
        let name = p.name.as_ref().and_then(serde_json::Value::as_str);
        let version = p.version.as_ref().and_then(serde_json::Value::as_str);
        match crate_of(name, version) {
            Ok(found) => out.push(found),
            Err(e) => out.warn(format!("package {index}: {e}; skipped")),
        }
    }
    Ok(out.finish())
}

/// A crate, if its name and version are plausible.
fn crate_of(name: Option<&str>, version: Option<&str>) -> Result<Found, String> {
    let name = name.ok_or("no name")?;
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("name {:?} is not a crate name", shorten(name)));
    }
    let version = version.ok_or_else(|| format!("{name}: no version"))?;
    if version.is_empty()
        || version.len() > MAX_VERSION
        || !version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
    {
        return Err(format!(
            "{name}: version {:?} is not a crate version",
            shorten(version)
        ));
    }
    Ok(Found {
        ecosystem: Ecosystem::RustCrate,
        name: name.to_owned(),
        version: version.to_owned(),
        ..Found::default()
    })
}

/// Packages (each `(name, version)` once, in file order) and capped warnings.
#[derive(Default)]
struct Output {
    parsed: Parsed,
    seen: BTreeSet<(String, String)>,
    dropped_warnings: usize,
}

impl Output {
    fn warn(&mut self, message: String) {
        if self.parsed.warnings.len() < MAX_WARNINGS {
            self.parsed.warnings.push(message);
        } else {
            self.dropped_warnings += 1;
        }
    }

    fn push(&mut self, found: Found) {
        if self
            .seen
            .insert((found.name.clone(), found.version.clone()))
        {
            self.parsed.packages.push(found);
        }
    }

    fn finish(mut self) -> Parsed {
        if self.dropped_warnings > 0 {
            self.parsed
                .warnings
                .push(format!("{} more warnings left out", self.dropped_warnings));
        }
        self.parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Parsed) -> Vec<String> {
        p.packages
            .iter()
            .map(|f| format!("{}@{}", f.name, f.version))
            .collect()
    }

    #[test]
    fn lock_v1_with_root_and_metadata() {
        let v1 = br#"
[[package]]
name = "libc"
version = "0.2.40"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "mylib"
version = "0.1.0"

[root]
name = "app"
version = "0.1.0"
dependencies = [
 "libc 0.2.40 (registry+https://github.com/rust-lang/crates.io-index)",
 "mylib 0.1.0",
]

[metadata]
"checksum libc 0.2.40 (registry+https://github.com/rust-lang/crates.io-index)" = "6fd41f331ac7c5b8ac259b8bf82c75c0fb2e469bbf37d2becbba9a6a2221965b"
"#;
        let p = parse_cargo_lock(v1).unwrap();
        assert_eq!(names(&p), vec!["libc@0.2.40"]);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn lock_v2_v3_git_and_sparse() {
        let v2 = br#"
[[package]]
name = "app"
version = "0.1.0"
dependencies = ["serde", "tokio"]

[[package]]
name = "serde"
version = "1.0.100"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "f4473e8506b213730ff2061073b48fa51dcc66349219e2e7c5608f0296a1d95a"

[[package]]
name = "tokio"
version = "1.0.0"
source = "git+https://github.com/tokio-rs/tokio?branch=master#0123456789abcdef0123456789abcdef01234567"
"#;
        assert_eq!(
            names(&parse_cargo_lock(v2).unwrap()),
            vec!["serde@1.0.100", "tokio@1.0.0"]
        );
        let v3 = b"version = 3\n\n[[package]]\nname = \"rand\"\nversion = \"0.8.5\"\nsource = \"sparse+https://index.crates.io/\"\n\n[[package]]\nname = \"rand\"\nversion = \"0.8.5\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let p = parse_cargo_lock(v3).unwrap();
        assert_eq!(names(&p), vec!["rand@0.8.5"]);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn lock_versions_and_bad_records() {
        let p = parse_cargo_lock(b"version = 4\n").unwrap();
        assert!(p.packages.is_empty() && p.warnings.is_empty());
        let p = parse_cargo_lock(b"version = 5\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\n").unwrap();
        assert_eq!(names(&p), vec!["a@1.0.0"]);
        assert_eq!(p.warnings.len(), 1);
        let bad = b"version = 3\n[[package]]\nname = \"bad name\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\n[[package]]\nname = \"b\"\nversion = 1\nsource = \"registry+x\"\n[[package]]\nname = \"c\"\nversion = \"1.0.0\"\nsource = 7\n[[package]]\nversion = \"1.0.0\"\nsource = \"registry+x\"\n[[package]]\nname = \"ok\"\nversion = \"2.0.0-rc.1+build.5\"\nsource = \"registry+x\"\n";
        let p = parse_cargo_lock(bad).unwrap();
        assert_eq!(names(&p), vec!["ok@2.0.0-rc.1+build.5"]);
        assert_eq!(p.warnings.len(), 4, "{:?}", p.warnings);
    }

    #[test]
    fn lock_errors() {
        assert!(parse_cargo_lock(b"").is_err());
        assert!(parse_cargo_lock(b"[package]\nname = 1\n").is_err());
        assert!(parse_cargo_lock(b"\xff\xfe").is_err());
        assert!(parse_cargo_lock(b"[[package]\nname = ").is_err());
        assert!(parse_cargo_lock(b"[dependencies]\nserde = \"1\"\n").is_err());
        // A huge line is not copied whole into the message.
        let mut huge = b"version = 3\nx = \"".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 1 << 20));
        huge.extend_from_slice(b"\n");
        let e = parse_cargo_lock(&huge).unwrap_err();
        assert!(e.len() < 2000, "{}", e.len());
    }

    #[test]
    fn audit_json() {
        let json = br#"{"packages":[
            {"name":"autocfg","version":"1.4.0","source":"crates.io","kind":"build"},
            {"name":"helper","version":"0.1.0","source":"local"},
            {"name":"itoa","version":"1.0.11","source":"crates.io"},
            {"name":"vendored","version":"0.2.0","source":"registry","kind":"runtime"},
            {"name":"fromgit","version":"0.3.0","source":"git"},
            {"name":"weird","version":"1.0.0","source":"crates.io","kind":"proc-macro"},
            {"name":"bad name","version":"1.0.0","source":"crates.io"},
            {"name":"app","version":"0.3.1","source":"local","dependencies":[0,1,2,3,4],"root":true}
        ],"format":1}"#;
        let p = parse_audit_json(json).unwrap();
        assert_eq!(
            names(&p),
            vec![
                "itoa@1.0.11",
                "vendored@0.2.0",
                "fromgit@0.3.0",
                "app@0.3.1"
            ]
        );
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(parse_audit_json(b"{}").is_err());
        assert!(parse_audit_json(b"{\"packages\": 3}").is_err());
        assert!(parse_audit_json(b"[").is_err());
    }

    #[test]
    fn not_auditable() {
        assert!(parse_auditable(b"").is_none());
        assert!(parse_auditable(b"\x7fELF").is_none());
        assert!(parse_auditable(&[0u8; 4096]).is_none());
        assert!(parse_dep_v0(b"not zlib").is_err());
    }

    // ---- the fixtures made by tests/java_rust_fixtures.sh ----

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/rust/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn real_cargo_lock_v4() {
        // palisade-hello (workspace root) and hello-helper (path dependency) have no source.
        let p = parse_cargo_lock(&fixture("Cargo.lock")).unwrap();
        assert_eq!(names(&p), vec!["autocfg@1.4.0", "itoa@1.0.11"]);
        assert!(
            p.packages
                .iter()
                .all(|f| f.ecosystem == Ecosystem::RustCrate)
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn real_auditable_section() {
        // autocfg is a build dependency, hello-helper a local path dependency; the root stays.
        let p = parse_auditable(&fixture("hello.dep-v0.elf"))
            .unwrap()
            .unwrap();
        assert_eq!(names(&p), vec!["itoa@1.0.11", "palisade-hello@0.3.1"]);
        assert!(
            p.packages
                .iter()
                .all(|f| f.ecosystem == Ecosystem::RustCrate)
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // The committed JSON is what the section holds.
        assert_eq!(parse_audit_json(&fixture("hello.dep-v0.json")).unwrap(), p);
    }

    /// A minimal little-endian ELF64 file with one section besides `.shstrtab`.
    fn elf_with_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut shstrtab = vec![0u8];
        shstrtab.extend_from_slice(name.as_bytes());
        shstrtab.push(0);
        let shstrtab_name = shstrtab.len() as u32;
        shstrtab.extend_from_slice(b".shstrtab\0");
        let data_offset = 64u64;
        let strtab_offset = data_offset + data.len() as u64;
        let shoff = (strtab_offset + shstrtab.len() as u64).next_multiple_of(8);
        let mut elf = Vec::new();
        elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf.extend_from_slice(&62u16.to_le_bytes()); // x86-64
        elf.extend_from_slice(&1u32.to_le_bytes());
        elf.extend_from_slice(&0u64.to_le_bytes()); // entry
        elf.extend_from_slice(&0u64.to_le_bytes()); // phoff
        elf.extend_from_slice(&shoff.to_le_bytes());
        elf.extend_from_slice(&0u32.to_le_bytes()); // flags
        for v in [64u16, 56, 0, 64, 3, 2] {
            elf.extend_from_slice(&v.to_le_bytes());
        }
        elf.extend_from_slice(data);
        elf.extend_from_slice(&shstrtab);
        elf.resize(shoff as usize, 0);
        let mut section = |name: u32, ty: u32, offset: u64, size: u64| {
            elf.extend_from_slice(&name.to_le_bytes());
            elf.extend_from_slice(&ty.to_le_bytes());
            elf.extend_from_slice(&[0; 16]); // flags, addr
            elf.extend_from_slice(&offset.to_le_bytes());
            elf.extend_from_slice(&size.to_le_bytes());
            elf.extend_from_slice(&[0; 8]); // link, info
            elf.extend_from_slice(&1u64.to_le_bytes()); // addralign
            elf.extend_from_slice(&0u64.to_le_bytes()); // entsize
        };
        section(0, 0, 0, 0);
        section(1, 1, data_offset, data.len() as u64);
        section(shstrtab_name, 3, strtab_offset, shstrtab.len() as u64);
        elf
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn hand_made_elf() {
        let json =
            br#"{"packages":[{"name":"app","version":"1.0.0","source":"crates.io","root":true}]}"#;
        let p = parse_auditable(&elf_with_section(".dep-v0", &zlib(json)))
            .unwrap()
            .unwrap();
        assert_eq!(names(&p), vec!["app@1.0.0"]);
        // Another section name: not an auditable binary.
        assert!(parse_auditable(&elf_with_section(".text", &zlib(json))).is_none());
        // The section is there but holds garbage.
        assert!(
            parse_auditable(&elf_with_section(".dep-v0", b"garbage"))
                .unwrap()
                .is_err()
        );
        assert!(
            parse_auditable(&elf_with_section(".dep-v0", &zlib(b"{\"packages\":")))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn decompression_bomb_is_refused() {
        let bomb = zlib(&vec![0u8; 100 << 20]);
        assert!(bomb.len() < 200 << 10);
        let e = parse_auditable(&elf_with_section(".dep-v0", &bomb))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("more than"), "{e}");
    }

    #[test]
    fn truncated_and_corrupted_elf_never_panics() {
        let good = fixture("hello.dep-v0.elf");
        for len in 0..good.len() {
            if let Some(Ok(p)) = parse_auditable(&good[..len]) {
                assert!(p.packages.len() <= 2);
            }
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = parse_auditable(&bad);
        }
    }

    #[test]
    fn huge_strings_and_deep_nesting_in_a_lock() {
        let big = "a".repeat(5 << 20);
        let lock = format!(
            "version = 3\n[[package]]\nname = \"{big}\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\n"
        );
        let p = parse_cargo_lock(lock.as_bytes()).unwrap();
        assert!(p.packages.is_empty());
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].len() < 1000);
        let lock = format!(
            "version = 3\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\nchecksum = \"{big}\"\n"
        );
        assert_eq!(
            names(&parse_cargo_lock(lock.as_bytes()).unwrap()),
            vec!["a@1.0.0"]
        );
        // An unterminated 5 MB string is an error whose message stays short.
        let lock = format!("version = 3\n[[package]]\nname = \"{big}\n");
        let e = parse_cargo_lock(lock.as_bytes()).unwrap_err();
        assert!(e.len() < 1000, "{}", e.len());
        let deep = format!(
            "version = 3\nx = {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse_cargo_lock(deep.as_bytes()).is_err());
        let deep = format!(
            "version = 3\nx = {}1{}\n",
            "{a = ".repeat(100_000),
            "}".repeat(100_000)
        );
        assert!(parse_cargo_lock(deep.as_bytes()).is_err());
    }
}
