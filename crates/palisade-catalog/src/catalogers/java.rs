//! Java archives (`.jar`, `.war`, `.ear`, Jenkins `.jpi`/`.hpi`, …): Maven coordinates from
//! `META-INF/maven/<group>/<artifact>/pom.properties`, or, for an archive that has none, from
//! its `META-INF/MANIFEST.MF` and file name. Archives nested inside (`WEB-INF/lib/*.jar`,
//! Spring Boot's `BOOT-INF/lib/*.jar`, an ear's modules and `lib/*.jar`) are read from memory,
//! recursively.
//!
//! Not for: class files, shaded classes without a `pom.properties`, or archives that are not
//! zip files. Nothing is extracted to disk and entry names are never used as paths, so names
//! such as `../../etc/passwd` are only strings here. Every allocation an archive controls is
//! capped: entries per archive, the size of each file read, nesting depth, and the total of
//! decompressed bytes per top-level archive (a zip bomb is refused with a warning).

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use zip::ZipArchive;

use crate::catalogers::{Found, Parsed, shorten};
use crate::package::Ecosystem;

/// The most bytes of a top-level archive worth reading into memory (for the caller).
pub(crate) const MAX_ARCHIVE_BYTES: u64 = 256 << 20;
/// The largest nested archive (uncompressed) that is read into memory.
pub(crate) const MAX_NESTED_BYTES: u64 = 64 << 20;
/// The most bytes decompressed while reading one top-level archive, nested ones included.
pub(crate) const MAX_TOTAL_DECOMPRESSED: u64 = 512 << 20;
/// The most entries one archive may have.
pub(crate) const MAX_ENTRIES: u64 = 100_000;
/// How deep archives nested in archives are followed (the top-level archive is depth 0).
pub(crate) const MAX_DEPTH: usize = 4;
/// The largest `pom.properties` read.
const MAX_POM_PROPERTIES_BYTES: u64 = 64 << 10;
/// The largest `MANIFEST.MF` read.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Warnings kept per top-level archive; the rest are counted.
const MAX_WARNINGS: usize = 64;
/// Packages kept per top-level archive.
const MAX_PACKAGES: usize = 100_000;
/// Longest group id, artifact id or licence kept.
const MAX_FIELD: usize = 256;
/// Longest version kept.
const MAX_VERSION: usize = 128;

/// File extensions of Java archives (zip files), compared without case. `.rar` (resource
/// adapters) is left out: it is far more often a RAR archive.
const EXTENSIONS: &[&str] = &[
    "jar", "war", "ear", "jpi", "hpi", "par", "sar", "nar", "kar",
];

/// Whether `path` names a Java archive, by its extension.
pub(crate) fn is_archive_path(path: &str) -> bool {
    let name = file_name(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty() && EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e))
        }
        None => false,
    }
}

/// Reads the packages of a Java archive and of the archives nested in it.
///
/// `path` is where the archive is (in the image); its file name names the artifact when the
/// manifest does not. One package is reported per `pom.properties`; an archive without one
/// (or whose `pom.properties` are all unusable) is described by its manifest and file name.
/// Identical coordinates found twice are reported once. Problems inside the archive, such as
/// an unreadable nested archive or a zip bomb, become warnings; an error means the archive
/// itself could not be read.
pub(crate) fn parse_archive(bytes: &[u8], path: &str) -> Result<Parsed, String> {
    let mut walk = Walk {
        remaining: MAX_TOTAL_DECOMPRESSED,
        parsed: Parsed::default(),
        seen: BTreeSet::new(),
        dropped_warnings: 0,
        dropped_packages: 0,
        budget_warned: false,
    };
    walk.archive(bytes, &shorten(path), file_name(path), 0)?;
    if walk.dropped_warnings > 0 {
        walk.parsed
            .warnings
            .push(format!("{} more warnings left out", walk.dropped_warnings));
    }
    if walk.dropped_packages > 0 {
        walk.parsed.warnings.push(format!(
            "{} more packages left out (at most {MAX_PACKAGES} are read from one archive)",
            walk.dropped_packages
        ));
    }
    Ok(walk.parsed)
}

/// The state of reading one top-level archive.
struct Walk {
    /// Decompressed bytes still allowed.
    remaining: u64,
    parsed: Parsed,
    /// `(name, version)` already reported.
    seen: BTreeSet<(String, String)>,
    dropped_warnings: usize,
    dropped_packages: usize,
    budget_warned: bool,
}

/// What an archive's entries are, for this cataloger.
enum Role {
    PomProperties,
    Manifest,
    Nested,
}

impl Walk {
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
            .contains(&(found.name.clone(), found.version.clone()))
        {
            return;
        }
        if self.parsed.packages.len() >= MAX_PACKAGES {
            self.dropped_packages += 1;
            return;
        }
        self.seen
            .insert((found.name.clone(), found.version.clone()));
        self.parsed.packages.push(found);
    }

    /// Reads one archive: `display` names it in messages (`app.war!/WEB-INF/lib/x.jar`),
    /// `file` is its file name.
    fn archive(
        &mut self,
        bytes: &[u8],
        display: &str,
        file: &str,
        depth: usize,
    ) -> Result<(), String> {
        let claimed = claimed_entries(bytes);
        if claimed > MAX_ENTRIES {
            return Err(format!(
                "{display}: claims {claimed} entries, over the limit of {MAX_ENTRIES}; not read"
            ));
        }
        let mut zip = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| format!("{display}: not a readable zip archive: {e}"))?;
        if zip.len() as u64 > MAX_ENTRIES {
            return Err(format!(
                "{display}: {} entries, over the limit of {MAX_ENTRIES}; not read",
                zip.len()
            ));
        }

        let mut poms = Vec::new();
        let mut manifest = None;
        let mut nested = Vec::new();
        for index in 0..zip.len() {
            let Ok(entry) = zip.by_index_data(index) else {
                continue;
            };
            if entry.is_dir() {
                continue;
            }
            let name = String::from_utf8_lossy(entry.name_raw());
            let role = if is_pom_properties(&name) {
                Role::PomProperties
            } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
                Role::Manifest
            } else if is_archive_path(&name) {
                Role::Nested
            } else {
                continue;
            };
            let name = name.into_owned();
            match role {
                Role::PomProperties => poms.push((index, name)),
                Role::Manifest => {
                    if manifest.is_none() {
                        manifest = Some(index);
                    }
                }
                Role::Nested => nested.push((index, name)),
            }
        }

        let manifest = match manifest {
            Some(index) => match self.read(&mut zip, index, MAX_MANIFEST_BYTES, display) {
                Ok(content) => parse_manifest(&content),
                Err(e) => {
                    self.warn(e);
                    Manifest::default()
                }
            },
            None => Manifest::default(),
        };

        let mut from_poms = Vec::new();
        for (index, name) in &poms {
            let content = match self.read(&mut zip, *index, MAX_POM_PROPERTIES_BYTES, display) {
                Ok(c) => c,
                Err(e) => {
                    self.warn(e);
                    continue;
                }
            };
            match from_pom_properties(&content, name) {
                Ok((found, artifact)) => from_poms.push((found, artifact)),
                Err(e) => self.warn(format!("{display}!/{}: {e}", shorten(name))),
            }
        }
        if from_poms.is_empty() {
            // An archive that names no version anywhere (an application's own war, a renamed
            // jar with a bare manifest) has nothing to match advisories against.
            if let Some(found) = from_manifest(&manifest, file) {
                self.push(found);
            }
        } else {
            // The manifest's licence belongs to the archive's own artifact: the only
            // pom.properties, or the one the file name or manifest points at.
            let main = if from_poms.len() == 1 {
                Some(0)
            } else {
                let (file_artifact, _) = split_file_name(file);
                from_poms.iter().position(|(_, artifact)| {
                    *artifact == file_artifact
                        || manifest.title.as_deref() == Some(artifact.as_str())
                })
            };
            for (i, (mut found, _)) in from_poms.into_iter().enumerate() {
                if Some(i) == main {
                    found.licenses = manifest.licenses();
                }
                self.push(found);
            }
        }

        if !nested.is_empty() && depth >= MAX_DEPTH {
            self.warn(format!(
                "{display}: {} nested archives deeper than {MAX_DEPTH} levels; not read",
                nested.len()
            ));
            return Ok(());
        }
        for (index, name) in &nested {
            if self.remaining == 0 {
                self.exhausted(display);
                break;
            }
            let inner_display = format!("{display}!/{}", shorten(name));
            let content = match self.read(&mut zip, *index, MAX_NESTED_BYTES, display) {
                Ok(c) => c,
                Err(e) => {
                    self.warn(e);
                    continue;
                }
            };
            if let Err(e) = self.archive(&content, &inner_display, file_name(name), depth + 1) {
                self.warn(e);
            }
        }
        Ok(())
    }

    fn exhausted(&mut self, display: &str) {
        if !self.budget_warned {
            self.budget_warned = true;
            self.warn(format!(
                "{display}: more than {MAX_TOTAL_DECOMPRESSED} bytes decompressed (a zip bomb?); the rest is not read"
            ));
        }
    }

    /// Reads entry `index` whole, if it is at most `cap` bytes and the budget allows.
    fn read(
        &mut self,
        zip: &mut ZipArchive<Cursor<&[u8]>>,
        index: usize,
        cap: u64,
        display: &str,
    ) -> Result<Vec<u8>, String> {
        let (declared, name) = match zip.by_index_data(index) {
            Ok(e) => (e.size(), shorten(&String::from_utf8_lossy(e.name_raw()))),
            Err(e) => return Err(format!("{display}: entry {index}: {e}")),
        };
        if declared > cap {
            return Err(format!(
                "{display}!/{name}: {declared} bytes uncompressed, over the {cap}-byte limit; not read"
            ));
        }
        if declared > self.remaining {
            self.exhausted(display);
            return Err(format!(
                "{display}!/{name}: not read, the decompression budget is spent"
            ));
        }
        let limit = cap.min(self.remaining);
        let file = zip
            .by_index(index)
            .map_err(|e| format!("{display}!/{name}: cannot be read: {e}"))?;
        // Trust the declared size only as a hint, never beyond the cap.
        let mut buf = Vec::with_capacity(usize::try_from(declared.min(limit)).unwrap_or(0));
        let result = file.take(limit + 1).read_to_end(&mut buf);
        self.remaining = self.remaining.saturating_sub(buf.len() as u64);
        if buf.len() as u64 > limit {
            if limit < cap {
                self.exhausted(display);
            }
            return Err(format!(
                "{display}!/{name}: decompresses to more than {limit} bytes although it declares {declared} (a zip bomb?); not read"
            ));
        }
        result.map_err(|e| format!("{display}!/{name}: cannot be read: {e}"))?;
        Ok(buf)
    }
}

/// The largest entry count any end-of-central-directory record near the end of `bytes`
/// claims (zip64 ones included), so that a huge claim is refused before the zip reader
/// allocates for it.
fn claimed_entries(bytes: &[u8]) -> u64 {
    const EOCD: &[u8] = b"PK\x05\x06";
    const LOCATOR: &[u8] = b"PK\x06\x07";
    const EOCD64: &[u8] = b"PK\x06\x06";
    // The record is 22 bytes and may be followed by a comment of up to 65,535 bytes.
    let start = bytes.len().saturating_sub(22 + 0xFFFF);
    let Some(tail) = bytes.get(start..) else {
        return 0;
    };
    let mut most = 0u64;
    for pos in memchr::memmem::find_iter(tail, EOCD) {
        let at = start + pos;
        let Some(record) = bytes.get(at..at + 22) else {
            continue;
        };
        let count = u64::from(u16::from_le_bytes([record[10], record[11]]));
        most = most.max(count);
        if count != 0xFFFF {
            continue;
        }
        let Some(locator) = at.checked_sub(20).and_then(|l| bytes.get(l..at)) else {
            continue;
        };
        if &locator[..4] != LOCATOR {
            continue;
        }
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&locator[8..16]);
        let Ok(offset) = usize::try_from(u64::from_le_bytes(offset)) else {
            continue;
        };
        let Some(record64) = offset
            .checked_add(56)
            .and_then(|end| bytes.get(offset..end))
        else {
            continue;
        };
        if &record64[..4] != EOCD64 {
            continue;
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&record64[32..40]);
        most = most.max(u64::from_le_bytes(count));
    }
    most
}

fn is_pom_properties(name: &str) -> bool {
    name.ends_with("/pom.properties")
        && (name.starts_with("META-INF/maven/") || name.contains("/META-INF/maven/"))
}

/// The package a `pom.properties` describes, with its artifact id. Missing `groupId` or
/// `artifactId` are taken from the path (`META-INF/maven/<group>/<artifact>/pom.properties`).
fn from_pom_properties(content: &[u8], entry: &str) -> Result<(Found, String), String> {
    let text = String::from_utf8_lossy(content);
    let (mut group, mut artifact, mut version) = (None, None, None);
    for (key, value) in properties(&text) {
        match key {
            "groupId" => group = Some(value),
            "artifactId" => artifact = Some(value),
            "version" => version = Some(value),
            _ => {}
        }
    }
    let mut parts = entry.rsplit('/').skip(1);
    let path_artifact = parts.next();
    let path_group = parts.next();
    let group = group
        .filter(|g| !g.is_empty())
        .or_else(|| path_group.map(str::to_owned))
        .ok_or("no groupId")?;
    let artifact = artifact
        .filter(|a| !a.is_empty())
        .or_else(|| path_artifact.map(str::to_owned))
        .ok_or("no artifactId")?;
    if !valid_id(&group) {
        return Err(format!(
            "groupId {:?} is not a valid Maven group id",
            shorten(&group)
        ));
    }
    if !valid_id(&artifact) {
        return Err(format!(
            "artifactId {:?} is not a valid Maven artifact id",
            shorten(&artifact)
        ));
    }
    let version = version.ok_or_else(|| format!("{group}:{artifact}: no version"))?;
    if !valid_version(&version) {
        return Err(format!(
            "{group}:{artifact}: version {:?} is not usable",
            shorten(&version)
        ));
    }
    Ok((
        Found {
            ecosystem: Ecosystem::JavaArchive,
            name: format!("{group}:{artifact}"),
            version,
            ..Found::default()
        },
        artifact,
    ))
}

/// `key=value` pairs of a Java properties file (`=`, `:` or blanks separate; `#` and `!`
/// start comments; a backslash escapes the next character). Continuation lines are not
/// joined: the keys read here never need them.
fn properties(text: &str) -> impl Iterator<Item = (&str, String)> {
    text.lines().filter_map(|line| {
        let line = line.trim_start_matches([' ', '\t', '\u{c}']);
        if line.is_empty() || line.starts_with(['#', '!']) {
            return None;
        }
        let end = line.find(['=', ':', ' ', '\t']).unwrap_or(line.len());
        let key = &line[..end];
        let rest = line[end..].trim_start_matches([' ', '\t']);
        let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
        let value = rest.trim_matches([' ', '\t', '\r']);
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else {
                out.push(c);
            }
        }
        Some((key, out))
    })
}

/// The main section of a manifest: only the attributes this cataloger uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct Manifest {
    title: Option<String>,
    version: Option<String>,
    vendor_id: Option<String>,
    symbolic_name: Option<String>,
    bundle_version: Option<String>,
    license: Option<String>,
}

impl Manifest {
    fn licenses(&self) -> Vec<String> {
        self.license
            .iter()
            .filter(|l| !l.is_empty() && l.len() <= MAX_FIELD)
            .cloned()
            .collect()
    }
}

/// Parses the main section of `META-INF/MANIFEST.MF` (up to the first blank line); a line
/// that starts with a space continues the one before it.
fn parse_manifest(content: &[u8]) -> Manifest {
    let text = String::from_utf8_lossy(content);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut m = Manifest::default();
    let mut current: Option<&mut String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some(value) = current.as_deref_mut() {
                value.push_str(more);
            }
            continue;
        }
        current = None;
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "implementation-title" => &mut m.title,
            "implementation-version" => &mut m.version,
            "implementation-vendor-id" => &mut m.vendor_id,
            "bundle-symbolicname" => &mut m.symbolic_name,
            "bundle-version" => &mut m.bundle_version,
            "bundle-license" => &mut m.license,
            _ => continue,
        };
        *slot = Some(value.strip_prefix(' ').unwrap_or(value).to_owned());
        current = slot.as_mut();
    }
    for field in [
        &mut m.title,
        &mut m.version,
        &mut m.vendor_id,
        &mut m.symbolic_name,
        &mut m.bundle_version,
        &mut m.license,
    ] {
        if let Some(v) = field {
            let trimmed = v.trim();
            if trimmed.is_empty() {
                *field = None;
            } else if trimmed.len() != v.len() {
                *v = trimmed.to_owned();
            }
        }
    }
    m
}

/// The package an archive without `pom.properties` stands for, from its manifest and file
/// name; `None` when neither gives a version.
///
/// - version: `Implementation-Version`, else `Bundle-Version`, else the file name's;
/// - artifact: the file name's when it carries a version (`commons-lang3-3.12.0.jar`), else an
///   `Implementation-Title` that is a valid artifact id, else `Bundle-SymbolicName`, else the
///   file name without its extension;
/// - group: `Implementation-Vendor-Id`, else what `Bundle-SymbolicName` has before
///   `.<artifact>`; with no group the name is the bare artifact id.
fn from_manifest(m: &Manifest, file: &str) -> Option<Found> {
    let (file_artifact, file_version) = split_file_name(file);
    let symbolic_name = m
        .symbolic_name
        .as_deref()
        .map(|s| s.split(';').next().unwrap_or(s).trim())
        .filter(|s| valid_id(s));
    let version = [
        m.version.as_deref(),
        m.bundle_version.as_deref(),
        file_version,
    ]
    .into_iter()
    .flatten()
    .find(|v| valid_version(v))?;
    let title = m.title.as_deref().filter(|t| valid_id(t));
    let artifact = if file_version.is_some() && valid_id(file_artifact) {
        file_artifact
    } else if let Some(t) = title {
        t
    } else if let Some(s) = symbolic_name {
        s
    } else if valid_id(file_artifact) {
        file_artifact
    } else {
        return None;
    };
    let group = m
        .vendor_id
        .as_deref()
        .map(str::trim)
        .filter(|g| valid_id(g))
        .or_else(|| {
            symbolic_name
                .and_then(|s| s.strip_suffix(artifact))
                .and_then(|s| s.strip_suffix('.'))
                .filter(|g| valid_id(g))
        });
    let name = match group {
        Some(g) => format!("{g}:{artifact}"),
        None => artifact.to_owned(),
    };
    Some(Found {
        ecosystem: Ecosystem::JavaArchive,
        name,
        version: version.to_owned(),
        licenses: m.licenses(),
        ..Found::default()
    })
}

/// Splits a Maven file name, `<artifact>-<version>[-classifier].<ext>`, at the `-` before the
/// version: the last `-<digit>` whose rest has a dot (`log4j-1.2-api-2.17.1` →
/// `log4j-1.2-api`, `2.17.1`), else the first `-<digit>`. Without one, the whole stem is the
/// artifact.
fn split_file_name(file: &str) -> (&str, Option<&str>) {
    let stem = match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file,
    };
    let bytes = stem.as_bytes();
    // `i` is the index of a digit after a `-`, with at least one byte before the `-`; both
    // are ASCII, so slicing there is on character boundaries.
    let candidates = || {
        (2..bytes.len()).filter(|&i| {
            bytes.get(i - 1) == Some(&b'-') && bytes.get(i).is_some_and(u8::is_ascii_digit)
        })
    };
    let at = candidates()
        .rev()
        .find(|&i| stem[i..].contains('.'))
        .or_else(|| candidates().next());
    match at {
        Some(i) => (&stem[..i - 1], Some(&stem[i..])),
        None => (stem, None),
    }
}

/// Maven group and artifact ids: `[A-Za-z0-9_][A-Za-z0-9_.-]*`, not too long.
fn valid_id(s: &str) -> bool {
    s.len() <= MAX_FIELD
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_VERSION
        && !v.contains("${")
        && !v.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths() {
        assert!(is_archive_path("usr/share/java/commons-lang3-3.12.0.jar"));
        assert!(is_archive_path("app/ROOT.WAR"));
        assert!(is_archive_path("x.ear"));
        assert!(is_archive_path("var/jenkins_home/plugins/git.jpi"));
        assert!(is_archive_path("plugins/git.hpi"));
        assert!(!is_archive_path("x.rar"));
        assert!(!is_archive_path("dir/.jar"));
        assert!(!is_archive_path("jar"));
        assert!(!is_archive_path("x.jar/readme"));
        assert!(!is_archive_path("x.java"));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("commons-lang3-3.12.0.jar"),
            ("commons-lang3", Some("3.12.0"))
        );
        assert_eq!(
            split_file_name("guava-31.1-jre.jar"),
            ("guava", Some("31.1-jre"))
        );
        assert_eq!(
            split_file_name("guice-no-aop-4.2.3.jar"),
            ("guice-no-aop", Some("4.2.3"))
        );
        assert_eq!(
            split_file_name("log4j-1.2-api-2.17.1.jar"),
            ("log4j-1.2-api", Some("2.17.1"))
        );
        assert_eq!(
            split_file_name("jsr305-0.1~+svn49.jar"),
            ("jsr305", Some("0.1~+svn49"))
        );
        assert_eq!(
            split_file_name("tool-20230101.jar"),
            ("tool", Some("20230101"))
        );
        assert_eq!(split_file_name("app.jar"), ("app", None));
        assert_eq!(split_file_name("-1.0.jar"), ("-1.0", None));
        assert_eq!(split_file_name(""), ("", None));
    }

    #[test]
    fn pom_properties() {
        let text = b"#Generated by Maven\n#Tue Jan 01\ngroupId=org.apache.commons\nartifactId = commons-lang3\nversion: 3.12.0\r\n";
        let (f, artifact) = from_pom_properties(
            text,
            "META-INF/maven/org.apache.commons/commons-lang3/pom.properties",
        )
        .unwrap();
        assert_eq!(
            (f.name.as_str(), f.version.as_str(), artifact.as_str()),
            (
                "org.apache.commons:commons-lang3",
                "3.12.0",
                "commons-lang3"
            )
        );
        // Ids missing from the file come from the path.
        let (f, _) =
            from_pom_properties(b"version=1.0\n", "META-INF/maven/g.h/a/pom.properties").unwrap();
        assert_eq!(f.name, "g.h:a");
        assert!(
            from_pom_properties(
                b"groupId=g\nartifactId=a\n",
                "META-INF/maven/g/a/pom.properties"
            )
            .is_err()
        );
        assert!(
            from_pom_properties(
                b"groupId=g\nartifactId=a\nversion=${project.version}\n",
                "META-INF/maven/g/a/pom.properties"
            )
            .is_err()
        );
        assert!(
            from_pom_properties(
                b"groupId=g x\nartifactId=a\nversion=1\n",
                "x/pom.properties"
            )
            .is_err()
        );
        assert!(is_pom_properties("META-INF/maven/g/a/pom.properties"));
        assert!(is_pom_properties(
            "WEB-INF/classes/META-INF/maven/g/a/pom.properties"
        ));
        assert!(!is_pom_properties("META-INF/maven/g/a/pom.xml"));
        assert!(!is_pom_properties("XMETA-INF/maven/g/a/pom.properties"));
    }

    #[test]
    fn manifest_sections_and_continuations() {
        let m = parse_manifest(
            b"Manifest-Version: 1.0\r\nImplementation-Title: Apache Commons Lang\r\nBundle-SymbolicName: org.apache.commons.lang\r\n 3;singleton:=true\r\nBundle-License: https://www.apache.org/licenses/LICENSE-2.0.txt\r\nimplementation-version: 3.12.0\r\n\r\nName: org/x/\r\nImplementation-Version: 9.9\r\n",
        );
        assert_eq!(m.title.as_deref(), Some("Apache Commons Lang"));
        assert_eq!(
            m.symbolic_name.as_deref(),
            Some("org.apache.commons.lang3;singleton:=true")
        );
        assert_eq!(m.version.as_deref(), Some("3.12.0"));
        assert_eq!(
            m.license.as_deref(),
            Some("https://www.apache.org/licenses/LICENSE-2.0.txt")
        );
        // No vendor id, and the symbolic name does not end in `.commons-lang3`: no group.
        let f = from_manifest(&m, "commons-lang3-3.12.0.jar").unwrap();
        assert_eq!(
            (f.name.as_str(), f.version.as_str()),
            ("commons-lang3", "3.12.0")
        );
        assert_eq!(
            f.licenses,
            vec!["https://www.apache.org/licenses/LICENSE-2.0.txt"]
        );
        // Without a versioned file name, the symbolic name names the artifact.
        let f = from_manifest(&m, "lang.jar").unwrap();
        assert_eq!(f.name, "org.apache.commons.lang3");
        // Without any version there is no package.
        assert!(from_manifest(&Manifest::default(), "app.jar").is_none());
        let f = from_manifest(&Manifest::default(), "app-1.0.jar").unwrap();
        assert_eq!((f.name.as_str(), f.version.as_str()), ("app", "1.0"));
        let m = parse_manifest(b"Implementation-Title: greeter\nImplementation-Vendor-Id: com.example\nBundle-Version: 2.0\n");
        let f = from_manifest(&m, "app.jar").unwrap();
        assert_eq!(
            (f.name.as_str(), f.version.as_str()),
            ("com.example:greeter", "2.0")
        );
    }

    #[test]
    fn not_zip() {
        assert!(parse_archive(b"", "x.jar").is_err());
        assert!(parse_archive(b"PK\x03\x04garbage", "x.jar").is_err());
        assert!(parse_archive(&[0xff; 4096], "x.jar").is_err());
    }

    #[test]
    fn huge_claimed_entry_count_is_refused_before_reading() {
        // An empty zip64 archive whose zip64 end record claims 2^40 entries.
        let mut z = Vec::new();
        let eocd64_at = z.len() as u64;
        z.extend_from_slice(b"PK\x06\x06");
        z.extend_from_slice(&44u64.to_le_bytes());
        z.extend_from_slice(&[45, 0, 45, 0]);
        z.extend_from_slice(&[0; 8]);
        z.extend_from_slice(&(1u64 << 40).to_le_bytes());
        z.extend_from_slice(&(1u64 << 40).to_le_bytes());
        z.extend_from_slice(&0u64.to_le_bytes());
        z.extend_from_slice(&0u64.to_le_bytes());
        z.extend_from_slice(b"PK\x06\x07");
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&eocd64_at.to_le_bytes());
        z.extend_from_slice(&1u32.to_le_bytes());
        z.extend_from_slice(b"PK\x05\x06");
        z.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        z.extend_from_slice(&[0xff; 8]);
        z.extend_from_slice(&[0, 0]);
        assert_eq!(claimed_entries(&z), 1 << 40);
        let e = parse_archive(&z, "bomb.jar").unwrap_err();
        assert!(e.contains("claims"), "{e}");
    }

    // ---- the fixtures made by tests/java_rust_fixtures.sh ----

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/java/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn coords(p: &Parsed) -> Vec<String> {
        p.packages
            .iter()
            .map(|f| {
                assert_eq!(f.ecosystem, Ecosystem::JavaArchive);
                if f.licenses.is_empty() {
                    format!("{}@{}", f.name, f.version)
                } else {
                    format!("{}@{} [{}]", f.name, f.version, f.licenses.join(", "))
                }
            })
            .collect()
    }

    fn parse_fixture(name: &str) -> Parsed {
        parse_archive(&fixture(name), &format!("opt/app/{name}")).unwrap()
    }

    #[test]
    fn jar_with_pom_properties() {
        let p = parse_fixture("greeter-1.2.3.jar");
        assert_eq!(coords(&p), vec!["com.example:greeter@1.2.3 [Apache-2.0]"]);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn jar_with_only_a_manifest() {
        let p = parse_fixture("plainlib-2.4.1.jar");
        assert_eq!(coords(&p), vec!["org.example:plainlib@2.4.1 [MIT]"]);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let p = parse_fixture("osgi-bundle.jar");
        assert_eq!(coords(&p), vec!["net.example.widget@0.9.0"]);
    }

    #[test]
    fn war_with_two_jars() {
        let p = parse_fixture("webapp.war");
        assert_eq!(
            coords(&p),
            vec![
                "com.example:webapp@1.0.0",
                "com.example:greeter@1.2.3 [Apache-2.0]",
                "org.example:plainlib@2.4.1 [MIT]",
            ]
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn ear_with_a_war_and_a_library() {
        let p = parse_fixture("app.ear");
        assert_eq!(
            coords(&p),
            vec![
                "net.example.widget@0.9.0",
                "com.example:webapp@1.0.0",
                "com.example:greeter@1.2.3 [Apache-2.0]",
                "org.example:plainlib@2.4.1 [MIT]",
            ]
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn spring_boot_jar_with_stored_nested_jars() {
        let p = parse_fixture("boot.jar");
        assert_eq!(
            coords(&p),
            vec![
                "com.example:bootapp@0.0.1-SNAPSHOT",
                "com.example:greeter@1.2.3 [Apache-2.0]"
            ]
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn nesting_stops_at_the_depth_limit() {
        let p = parse_fixture("deep.jar");
        let expected: Vec<String> = (0..=MAX_DEPTH)
            .map(|l| format!("org.example.deep:level{l}@1.0.{l}"))
            .collect();
        assert_eq!(coords(&p), expected);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("deeper than 4"), "{}", p.warnings[0]);
        assert!(
            p.warnings[0].starts_with("opt/app/deep.jar!/lib/level1.jar!/"),
            "{}",
            p.warnings[0]
        );
    }

    /// Jars that Debian ships (`/usr/share/java`, e.g. from the maven package); skipped where
    /// they are not installed. Nothing downloaded is committed.
    #[test]
    fn debian_jars() {
        let dir = std::path::Path::new("/usr/share/java");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut checked = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.to_string_lossy().into_owned();
            if !is_archive_path(&name) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let p = parse_archive(&bytes, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
            for f in &p.packages {
                assert!(!f.name.is_empty() && !f.version.is_empty(), "{name}: {f:?}");
            }
            checked += 1;
        }
        let expect = |file: &str, want: &[&str]| {
            if let Ok(bytes) = std::fs::read(dir.join(file)) {
                assert_eq!(
                    coords(&parse_archive(&bytes, file).unwrap()),
                    want,
                    "{file}"
                );
            }
        };
        expect(
            "commons-lang3-3.12.0.jar",
            &["org.apache.commons:commons-lang3@3.12.0"],
        );
        expect("commons-io-2.11.0.jar", &["commons-io:commons-io@2.11.0"]);
        expect(
            "guava-31.1-jre.jar",
            &["com.google.guava:guava@31.1-jre [http://www.apache.org/licenses/LICENSE-2.0.txt]"],
        );
        // No pom.properties: the manifest and the file name.
        expect(
            "guice-no-aop-4.2.3.jar",
            &["guice-no-aop@4.2.3 [http://www.apache.org/licenses/LICENSE-2.0.txt]"],
        );
        assert!(checked == 0 || checked > 3);
    }

    // ---- hostile archives ----

    #[test]
    fn truncated_and_corrupted_archives_never_panic() {
        for name in ["webapp.war", "boot.jar"] {
            let good = fixture(name);
            for len in 0..good.len() {
                let _ = parse_archive(&good[..len], name);
            }
            for i in 0..good.len() {
                let mut bad = good.clone();
                bad[i] ^= 0xff;
                let _ = parse_archive(&bad, name);
            }
        }
        assert!(parse_archive(&fixture("webapp.war")[..1000], "x.war").is_err());
    }

    /// A zip written by hand, so that sizes and checksums can lie.
    #[derive(Default)]
    struct RawZip {
        body: Vec<u8>,
        central: Vec<u8>,
        count: u16,
    }

    impl RawZip {
        /// Adds an entry whose data is `data`, compressed with `method` (0 stored, 8 deflate).
        fn add(&mut self, name: &str, method: u16, data: &[u8], crc: u32, size: u32) {
            let offset = self.body.len() as u32;
            let fixed = |out: &mut Vec<u8>| {
                out.extend_from_slice(&20u16.to_le_bytes()); // version needed
                out.extend_from_slice(&0u16.to_le_bytes()); // flags
                out.extend_from_slice(&method.to_le_bytes());
                out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
                out.extend_from_slice(&crc.to_le_bytes());
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(&(name.len() as u16).to_le_bytes());
                out.extend_from_slice(&0u16.to_le_bytes()); // extra length
            };
            self.body.extend_from_slice(b"PK\x03\x04");
            fixed(&mut self.body);
            self.body.extend_from_slice(name.as_bytes());
            self.body.extend_from_slice(data);
            self.central.extend_from_slice(b"PK\x01\x02");
            self.central.extend_from_slice(&20u16.to_le_bytes()); // version made by
            fixed(&mut self.central);
            self.central.extend_from_slice(&[0; 10]); // comment len, disk, attributes
            self.central.extend_from_slice(&offset.to_le_bytes());
            self.central.extend_from_slice(name.as_bytes());
            self.count += 1;
        }

        fn add_stored(&mut self, name: &str, data: &[u8]) {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            self.add(name, 0, data, crc.sum(), data.len() as u32);
        }

        fn finish(mut self) -> Vec<u8> {
            let cd_offset = self.body.len() as u32;
            let cd_size = self.central.len() as u32;
            self.body.extend_from_slice(&self.central);
            self.body.extend_from_slice(b"PK\x05\x06");
            self.body.extend_from_slice(&[0, 0, 0, 0]);
            self.body.extend_from_slice(&self.count.to_le_bytes());
            self.body.extend_from_slice(&self.count.to_le_bytes());
            self.body.extend_from_slice(&cd_size.to_le_bytes());
            self.body.extend_from_slice(&cd_offset.to_le_bytes());
            self.body.extend_from_slice(&[0, 0]);
            self.body
        }
    }

    /// `len` zero bytes, deflated, with their CRC-32.
    fn deflated_zeros(len: usize) -> (Vec<u8>, u32) {
        use std::io::Write;
        let zeros = vec![0u8; 1 << 20];
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let mut crc = flate2::Crc::new();
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len());
            enc.write_all(&zeros[..n]).unwrap();
            crc.update(&zeros[..n]);
            left -= n;
        }
        (enc.finish().unwrap(), crc.sum())
    }

    const POM: &[u8] = b"groupId=g\nartifactId=a\nversion=1.0\n";

    #[test]
    fn nested_bomb_with_a_lying_size_is_refused() {
        let (bomb, _) = deflated_zeros(65 << 20);
        let mut z = RawZip::default();
        z.add_stored("META-INF/maven/g/a/pom.properties", POM);
        z.add("WEB-INF/lib/bomb.jar", 8, &bomb, 0, 1000);
        let p = parse_archive(&z.finish(), "app.war").unwrap();
        assert_eq!(coords(&p), vec!["g:a@1.0"]);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("bomb.jar"), "{}", p.warnings[0]);
    }

    #[test]
    fn nested_archive_over_the_size_limit_is_not_read() {
        let (big, crc) = deflated_zeros((MAX_NESTED_BYTES + 1) as usize);
        let mut z = RawZip::default();
        z.add("lib/big.jar", 8, &big, crc, (MAX_NESTED_BYTES + 1) as u32);
        let p = parse_archive(&z.finish(), "app.ear").unwrap();
        assert!(p.packages.is_empty());
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("over the"), "{}", p.warnings[0]);
    }

    #[test]
    fn total_decompressed_bytes_are_capped() {
        // Nine honest 60 MiB entries (540 MiB) sharing one compressed copy each.
        let (data, crc) = deflated_zeros(60 << 20);
        let mut z = RawZip::default();
        for i in 0..9 {
            z.add(&format!("lib/n{i}.jar"), 8, &data, crc, 60 << 20);
        }
        z.add_stored("lib/z/META-INF/maven/g/a/pom.properties", POM);
        let p = parse_archive(&z.finish(), "app.ear").unwrap();
        // pom.properties is read first; the ninth nested archive no longer fits the budget.
        assert_eq!(coords(&p), vec!["g:a@1.0"]);
        assert!(
            p.warnings.iter().any(|w| w.contains("decompressed")),
            "{:?}",
            p.warnings
        );
        assert!(
            p.warnings.iter().any(|w| w.contains("lib/n8.jar")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn too_many_entries_are_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..=MAX_ENTRIES {
            w.start_file(format!("{i}"), options).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        let e = parse_archive(&bytes, "many.jar").unwrap_err();
        assert!(e.contains("100001"), "{e}");
    }

    #[test]
    fn traversal_names_are_only_names() {
        let mut z = RawZip::default();
        z.add_stored("../../etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
        z.add_stored("../evil.jar", b"not a zip");
        z.add_stored(
            "/abs/META-INF/maven/g/b/pom.properties",
            b"groupId=g\nartifactId=b\nversion=2.0\n",
        );
        z.add_stored("META-INF/maven/../../pom.properties", b"version=1\n");
        z.add_stored("META-INF/maven/g/a/pom.properties", POM);
        let p = parse_archive(&z.finish(), "x.jar").unwrap();
        assert_eq!(coords(&p), vec!["g:b@2.0", "g:a@1.0"]);
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    }

    #[test]
    fn encrypted_and_unsupported_entries_become_warnings() {
        let mut z = RawZip::default();
        // Method 12 (bzip2) is not compiled in.
        z.add("META-INF/maven/g/c/pom.properties", 12, b"BZh9", 0, 4);
        z.add_stored("META-INF/maven/g/a/pom.properties", POM);
        // Stored data whose checksum is wrong.
        z.add(
            "META-INF/maven/g/d/pom.properties",
            0,
            POM,
            1234,
            POM.len() as u32,
        );
        let p = parse_archive(&z.finish(), "x.jar").unwrap();
        assert_eq!(coords(&p), vec!["g:a@1.0"]);
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    }

    #[test]
    fn warnings_are_capped() {
        let mut z = RawZip::default();
        for i in 0..200 {
            z.add_stored(&format!("lib/{i}.jar"), b"junk");
        }
        let p = parse_archive(&z.finish(), "x.war").unwrap();
        assert_eq!(p.warnings.len(), MAX_WARNINGS + 1);
        assert_eq!(p.warnings.last().unwrap(), "136 more warnings left out");
    }

    #[test]
    fn many_end_records_are_tried() {
        // Trailing garbage in which every fourth offset looks like an end-of-central-directory
        // record: the reader tries those candidates (0.03 s when this was written) and falls
        // back to the real record.
        let mut z = RawZip::default();
        z.add_stored("META-INF/maven/g/a/pom.properties", POM);
        let mut bytes = z.finish();
        for _ in 0..16_384 {
            bytes.extend_from_slice(b"PK\x05\x06");
        }
        let p = parse_archive(&bytes, "x.jar").unwrap();
        assert_eq!(coords(&p), vec!["g:a@1.0"]);
    }
}
