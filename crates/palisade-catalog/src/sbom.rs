//! SBOM documents: CycloneDX 1.6 JSON and SPDX 2.3 JSON writers and readers, and Palisade's
//! own JSON (the [`Catalog`] itself).
//!
//! Output is deterministic: the same catalog gives the same bytes. Serial numbers and
//! namespaces are derived from the content; the only time stamp (SPDX requires one) is taken
//! from `SOURCE_DATE_EPOCH`, else the image's creation time, else the Unix epoch.

use std::collections::BTreeMap;
use std::str::FromStr;

use packageurl::PackageUrl;
use palisade_image::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::catalog::{Catalog, LayerInfo, Problem, SourceInfo};
use crate::license::{self, License};
use crate::package::{Distro, Ecosystem, LayerRef, Location, Package, SourcePackage};

const TOOL: &str = "palisade";
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
const PROP: &str = "palisade";

/// SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    /// CycloneDX 1.6 JSON.
    CycloneDx,
    /// SPDX 2.3 JSON.
    Spdx,
    /// Palisade's own JSON.
    Native,
}

/// Errors reading an SBOM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbomError {
    /// Not JSON, or too large.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn content_hash(catalog: &Catalog) -> [u8; 32] {
    let bytes = serde_json::to_vec(catalog).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

fn uuid_from(hash: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x50; // version 5 style (name-based, SHA)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn subject_name(source: &SourceInfo) -> String {
    source
        .reference
        .clone()
        .unwrap_or_else(|| source.name.clone())
}

fn package_properties(p: &Package) -> Vec<Value> {
    let mut props =
        vec![json!({"name": format!("{PROP}:package:type"), "value": p.ecosystem.as_str()})];
    if let Some(a) = &p.arch {
        props.push(json!({"name": format!("{PROP}:package:arch"), "value": a}));
    }
    if let Some(s) = &p.source {
        props.push(json!({"name": format!("{PROP}:package:source-name"), "value": s.name}));
        if let Some(v) = &s.version {
            props.push(json!({"name": format!("{PROP}:package:source-version"), "value": v}));
        }
    }
    if let Some(l) = &p.layer {
        props.push(json!({"name": format!("{PROP}:layer:index"), "value": l.index.to_string()}));
        if let Some(d) = &l.diff_id {
            props.push(json!({"name": format!("{PROP}:layer:diff-id"), "value": d}));
        }
    }
    for (i, loc) in p.locations.iter().enumerate() {
        props.push(json!({"name": format!("{PROP}:location:{i}:path"), "value": loc.path}));
        if let Some(l) = loc.layer {
            props.push(
                json!({"name": format!("{PROP}:location:{i}:layer"), "value": l.to_string()}),
            );
        }
    }
    props
}

/// Writes a CycloneDX 1.6 JSON document.
#[must_use]
pub fn to_cyclonedx(catalog: &Catalog) -> Value {
    let hash = content_hash(catalog);
    let mut components: Vec<Value> = Vec::new();
    if let Some(d) = &catalog.distro {
        let mut os = json!({
            "type": "operating-system",
            "bom-ref": format!("os:{}", d.purl_qualifier()),
            "name": d.id,
        });
        if let Some(v) = &d.version_id {
            os["version"] = json!(v);
        }
        if let Some(pn) = &d.pretty_name {
            os["description"] = json!(pn);
        }
        let mut props = Vec::new();
        if let Some(c) = &d.codename {
            props.push(json!({"name": format!("{PROP}:distro:codename"), "value": c}));
        }
        if let Some(v) = &d.detail_version {
            props.push(json!({"name": format!("{PROP}:distro:detail-version"), "value": v}));
        }
        for l in &d.id_like {
            props.push(json!({"name": format!("{PROP}:distro:id-like"), "value": l}));
        }
        if !props.is_empty() {
            os["properties"] = Value::Array(props);
        }
        components.push(os);
    }
    for p in &catalog.packages {
        let mut c = json!({
            "type": "library",
            "bom-ref": p.purl,
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
        });
        if !p.licenses.is_empty() {
            c["licenses"] = cyclonedx_licenses(&p.licenses);
        }
        c["properties"] = Value::Array(package_properties(p));
        components.push(c);
    }
    let mut subject = json!({
        "type": "container",
        "bom-ref": "subject",
        "name": subject_name(&catalog.source),
    });
    if let Some(d) = &catalog.source.manifest_digest {
        subject["version"] = json!(d);
    }
    let mut subject_props =
        vec![json!({"name": format!("{PROP}:source"), "value": catalog.source.name})];
    if let Some(d) = &catalog.source.config_digest {
        subject_props.push(json!({"name": format!("{PROP}:image:config-digest"), "value": d}));
    }
    if let Some(p) = &catalog.source.platform {
        subject_props.push(json!({"name": format!("{PROP}:image:platform"), "value": p}));
    }
    for l in &catalog.source.layers {
        if let Some(d) = &l.diff_id {
            subject_props.push(
                json!({"name": format!("{PROP}:image:layer:{}:diff-id", l.index), "value": d}),
            );
        }
    }
    subject["properties"] = Value::Array(subject_props);
    let dependencies: Vec<Value> = vec![json!({
        "ref": "subject",
        "dependsOn": catalog.packages.iter().map(|p| p.purl.clone()).collect::<Vec<_>>(),
    })];
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&hash)),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": TOOL, "version": TOOL_VERSION}]},
            "component": subject,
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn spdx_id(prefix: &str, text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    let h = hex::encode(&Sha256::digest(text.as_bytes())[..6]);
    format!("SPDXRef-{prefix}-{clean}-{h}")
}

/// Writes an SPDX 2.3 JSON document. `created` is the creation time (RFC 3339, seconds, `Z`).
#[must_use]
pub fn to_spdx(catalog: &Catalog, created: &str) -> Value {
    let hash = content_hash(catalog);
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let subject = subject_name(&catalog.source);
    let subject_id = "SPDXRef-Subject".to_owned();
    let mut packages = vec![{
        let mut s = json!({
            "SPDXID": subject_id,
            "name": subject,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "CONTAINER",
            "comment": format!("source: {}", catalog.source.name),
        });
        if let Some(d) = &catalog.source.manifest_digest {
            s["versionInfo"] = json!(d);
        }
        s
    }];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": subject_id,
    })];
    if let Some(d) = &catalog.distro {
        let id = spdx_id("OperatingSystem", &d.purl_qualifier());
        let mut os = json!({
            "SPDXID": id,
            "name": d.id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        });
        if let Some(v) = &d.version_id {
            os["versionInfo"] = json!(v);
        }
        if let Some(pn) = &d.pretty_name {
            os["description"] = json!(pn);
        }
        packages.push(os);
        relationships.push(json!({
            "spdxElementId": subject_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    for p in &catalog.packages {
        let id = spdx_id("Package", &p.purl);
        let mut comment = format!("type: {}", p.ecosystem);
        if let Some(l) = &p.layer {
            comment.push_str(&format!("; layer: {}", l.index));
            if let Some(d) = &l.diff_id {
                comment.push_str(&format!(" ({d})"));
            }
        }
        let licenses: Vec<License> = p.licenses.iter().map(|l| license::classify(l)).collect();
        for l in &licenses {
            if let License::Other { id, text } = l {
                extracted.entry(id.clone()).or_insert_with(|| text.clone());
            }
        }
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license::declared(&licenses),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "sourceInfo": format!(
                "found in: {}",
                p.locations.iter().map(|l| l.path.as_str()).collect::<Vec<_>>().join(", ")
            ),
            "comment": comment,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        });
        if let Some(s) = p.source.as_ref().filter(|s| s.name != p.name) {
            pkg["summary"] = json!(format!("built from source package {}", s.name));
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": subject_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject,
        "documentNamespace": format!("https://palisade.invalid/spdx/{}", uuid_from(&hash)),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: {TOOL}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        // Every `LicenseRef-` used is defined, with the text as the package declared it.
        doc["hasExtractedLicensingInfos"] = extracted
            .into_iter()
            .map(|(id, text)| {
                json!({
                    "licenseId": id,
                    "extractedText": text,
                    "name": text,
                    "comment": "the licence as the package declares it; not an SPDX expression",
                })
            })
            .collect();
    }
    doc
}

/// CycloneDX `licenses`: one compound SPDX expression as an `expression` (which stands
/// alone); otherwise a `license` per declaration, with its SPDX `id` when it is one licence
/// of the SPDX list, else its text as `name`.
fn cyclonedx_licenses(declared: &[String]) -> Value {
    let classified: Vec<License> = declared.iter().map(|l| license::classify(l)).collect();
    let single_id = |e: &str| spdx::license_id(e).is_some_and(|id| id.name == e);
    if let [License::Spdx(e)] = classified.as_slice()
        && !single_id(e)
    {
        return json!([{ "expression": e }]);
    }
    classified
        .iter()
        .zip(declared)
        .map(|(l, raw)| match l {
            License::Spdx(e) if single_id(e) => json!({"license": {"id": e}}),
            License::Spdx(e) => json!({"license": {"name": e}}),
            License::Other { .. } => json!({"license": {"name": raw}}),
        })
        .collect()
}

/// The SPDX creation time: `SOURCE_DATE_EPOCH` if set (seconds within the years 0000–9999),
/// else the image's creation time, else the Unix epoch (so output stays reproducible).
#[must_use]
pub fn spdx_created(image_created: Option<&str>) -> String {
    created_from(
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        image_created,
    )
}

fn created_from(source_date_epoch: Option<&str>, image_created: Option<&str>) -> String {
    if let Some(t) = source_date_epoch
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(Timestamp::from_unix_seconds)
    {
        return t.to_string();
    }
    if let Some(c) = image_created {
        // Keep the date and time to the second, in UTC as written (`2024-01-01T00:00:00Z`).
        if c.len() >= 19 && c.ends_with('Z') && c.as_bytes().get(10) == Some(&b'T') {
            return format!("{}Z", &c[..19]);
        }
    }
    "1970-01-01T00:00:00Z".to_owned()
}

/// The most bytes of an SBOM that are read.
pub const MAX_SBOM_BYTES: u64 = 512 << 20;
/// The longest package name (the purl's namespace and name, or the component's own name)
/// accepted from an SBOM; a component with a longer one is not matched but listed as skipped.
pub const MAX_SBOM_NAME_BYTES: usize = 512;
/// The longest package version accepted from an SBOM; a longer one is skipped likewise
/// (a version is compared, never shortened: a cut version could match the wrong range).
pub const MAX_SBOM_VERSION_BYTES: usize = 256;
/// The longest purl accepted from an SBOM; a longer one is skipped likewise.
pub const MAX_SBOM_PURL_BYTES: usize = 2048;
/// The longest other text kept from an SBOM (licence, file path, architecture, digest,
/// platform, descriptions, distro fields): longer text is cut and marked
/// `…[cut: N more bytes]`.
pub const MAX_SBOM_TEXT_BYTES: usize = 1024;
/// The most licences, and the most file locations, kept per package; the rest are dropped
/// with a warning.
pub const MAX_SBOM_LIST_ITEMS: usize = 64;
/// The most components (packages) an SBOM may hold, counting nested CycloneDX components and
/// SPDX packages; a larger document is refused.
pub const MAX_SBOM_COMPONENTS: usize = 500_000;
/// The deepest nesting of CycloneDX `components` followed.
const MAX_NESTING: usize = 32;

/// A component of an SBOM that is not matched, and why (no purl, a purl that does not parse
/// or names an ecosystem without advisories, no version, a field over its length cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedComponent {
    /// Where it is in the document: `components[3]`, `components[0].components[2]`,
    /// `packages[7]`.
    pub location: String,
    /// Its name as written (cut to [`MAX_SBOM_NAME_BYTES`] with a marker), else its purl's
    /// (cut likewise), else `(no name)`.
    pub name: String,
    /// Its version as written (cut to [`MAX_SBOM_VERSION_BYTES`] with a marker), or empty.
    pub version: String,
    /// Why it is not matched.
    pub reason: String,
}

/// An SBOM read back: the catalog of the components that can be matched, and those that
/// cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbomRead {
    /// The packages, identified by their purls, and the document's warnings in
    /// [`Catalog::problems`] (a component whose name or version disagrees with its purl, a
    /// list cut short).
    pub catalog: Catalog,
    /// Components that are not matched, in document order.
    pub skipped: Vec<SkippedComponent>,
}

/// Cuts `s` to at most `max` bytes (at a character boundary) and marks the cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut: {} more bytes]", &s[..end], s.len() - end)
}

/// `s` quoted as Rust writes a string (escapes included), cut to `max` bytes.
fn quoted(s: &str, max: usize) -> String {
    cut(&format!("{s:?}"), max)
}

fn text(s: &str) -> String {
    cut(s, MAX_SBOM_TEXT_BYTES)
}

fn opt_text(s: Option<&str>) -> Option<String> {
    s.map(text)
}

/// Reads an SBOM (CycloneDX JSON, SPDX JSON or Palisade JSON) back into a catalog. Components
/// that cannot be matched are reported in [`Catalog::problems`]; [`read_sbom_components`]
/// returns them apart.
///
/// # Errors
/// As [`read_sbom_components`].
pub fn read_sbom(bytes: &[u8], path: &str) -> Result<Catalog, SbomError> {
    let SbomRead {
        mut catalog,
        skipped,
    } = read_sbom_components(bytes, path)?;
    catalog
        .problems
        .extend(skipped.into_iter().map(|s| Problem {
            layer: None,
            path: Some(s.location),
            message: skipped_message(&s.name, &s.version, &s.reason),
        }));
    Ok(catalog)
}

fn skipped_message(name: &str, version: &str, reason: &str) -> String {
    if version.is_empty() {
        format!("{name}: not matched: {reason}")
    } else {
        format!("{name} {version}: not matched: {reason}")
    }
}

/// Reads an SBOM (CycloneDX JSON, SPDX JSON, Syft JSON or Palisade JSON) into the catalog of the
/// components that can be matched, and the list of those that cannot.
///
/// Every component is identified by its purl: the ecosystem comes from the purl's type, the
/// name from its namespace and name, the version from its version (the component's own
/// `version` only when the purl has none). The component's own name and version are kept for
/// display when they agree with the purl; when they do not, the purl's are used and a warning
/// says so. Text is bounded: names, versions and purls over their caps
/// ([`MAX_SBOM_NAME_BYTES`], [`MAX_SBOM_VERSION_BYTES`], [`MAX_SBOM_PURL_BYTES`]) make the
/// component skipped; other text is cut at [`MAX_SBOM_TEXT_BYTES`] with a marker.
///
/// # Errors
/// When the document is too large, not JSON, not one of the three formats, or holds more
/// than [`MAX_SBOM_COMPONENTS`] components.
pub fn read_sbom_components(bytes: &[u8], path: &str) -> Result<SbomRead, SbomError> {
    let err = |reason: String| SbomError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > MAX_SBOM_BYTES {
        return Err(err(format!("larger than {MAX_SBOM_BYTES} bytes")));
    }
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let mut reader = Reader::default();
    if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        read_cyclonedx(&v, &mut reader).map_err(err)?;
    } else if v.get("spdxVersion").is_some() {
        read_spdx(&v, &mut reader).map_err(err)?;
    } else if is_syft(&v) {
        read_syft(&v, &mut reader).map_err(err)?;
    } else if v.get("packages").is_some() && v.get("source").is_some() {
        let native: Catalog =
            serde_json::from_value(v).map_err(|e| err(format!("not a Palisade catalog: {e}")))?;
        read_native(native, &mut reader).map_err(err)?;
    } else {
        return Err(err(
            "not a CycloneDX, SPDX, Syft or Palisade JSON document".into()
        ));
    }
    let Reader {
        mut catalog,
        skipped,
        ..
    } = reader;
    catalog.source.name = format!("sbom:{path}");
    catalog.packages.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.purl).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.purl,
        ))
    });
    Ok(SbomRead { catalog, skipped })
}

/// What is being read: the catalog so far, the skipped components, and how many components
/// were seen.
#[derive(Default)]
struct Reader {
    catalog: Catalog,
    skipped: Vec<SkippedComponent>,
    components: usize,
}

/// A component as the document gives it, before it is checked.
struct Component<'a> {
    location: String,
    name: Option<&'a str>,
    version: Option<&'a str>,
    purl: Option<&'a str>,
    props: BTreeMap<String, String>,
    licenses: Vec<String>,
    /// Facts a Palisade catalog carries itself (locations, layer, licences).
    native: Option<Package>,
}

impl Reader {
    fn count(&mut self) -> Result<(), String> {
        self.components += 1;
        if self.components > MAX_SBOM_COMPONENTS {
            return Err(format!(
                "more than {MAX_SBOM_COMPONENTS} components (packages)"
            ));
        }
        Ok(())
    }

    fn warn(&mut self, location: &str, message: String) {
        self.catalog.problems.push(Problem {
            layer: None,
            path: Some(location.to_owned()),
            message,
        });
    }

    fn add(&mut self, c: Component<'_>) {
        match package_from(c, self) {
            Ok(p) => self.catalog.packages.push(p),
            Err(s) => self.skipped.push(s),
        }
    }
}

fn props_of(c: &Value) -> BTreeMap<String, String> {
    c.get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?;
                    // Only Palisade's own properties are read; others are not kept.
                    if !name.starts_with(PROP) || name.len() > 128 {
                        return None;
                    }
                    Some((name.to_owned(), text(p.get("value")?.as_str()?)))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn distro_text(s: Option<&str>) -> Option<String> {
    s.map(|s| cut(s, MAX_SBOM_NAME_BYTES))
}

/// Pushes the components of `list` (under `parent`) onto `stack`, last first, so they pop in
/// document order.
fn push_components<'v>(
    stack: &mut Vec<(String, &'v Value, usize)>,
    parent: &str,
    list: &'v Value,
    depth: usize,
) -> Result<(), String> {
    let Some(items) = list.as_array() else {
        return Ok(());
    };
    if stack.len() + items.len() > MAX_SBOM_COMPONENTS {
        return Err(format!(
            "more than {MAX_SBOM_COMPONENTS} components (packages)"
        ));
    }
    for (i, c) in items.iter().enumerate().rev() {
        let location = if parent.is_empty() {
            format!("components[{i}]")
        } else {
            format!("{parent}.components[{i}]")
        };
        stack.push((location, c, depth));
    }
    Ok(())
}

fn read_cyclonedx(v: &Value, reader: &mut Reader) -> Result<(), String> {
    if let Some(subject) = v.pointer("/metadata/component") {
        let props = props_of(subject);
        reader.catalog.source = SourceInfo {
            reference: opt_text(str_of(subject, "name")),
            manifest_digest: opt_text(str_of(subject, "version")),
            config_digest: props.get(&format!("{PROP}:image:config-digest")).cloned(),
            platform: props.get(&format!("{PROP}:image:platform")).cloned(),
            ..SourceInfo::default()
        };
    }
    // Components, depth first in document order, nested ones included.
    let mut stack: Vec<(String, &Value, usize)> = Vec::new();
    if let Some(list) = v.get("components") {
        push_components(&mut stack, "", list, 0)?;
    }
    while let Some((location, c, depth)) = stack.pop() {
        reader.count()?;
        if let Some(children) = c.get("components") {
            if depth + 1 >= MAX_NESTING {
                return Err(format!(
                    "{location}: components nested more than {MAX_NESTING} deep"
                ));
            }
            push_components(&mut stack, &location, children, depth + 1)?;
        }
        if str_of(c, "type") == Some("operating-system") {
            let props = props_of(c);
            reader.catalog.distro = Some(Distro {
                id: distro_text(str_of(c, "name")).unwrap_or_default(),
                version_id: distro_text(str_of(c, "version")),
                pretty_name: opt_text(str_of(c, "description")),
                codename: props
                    .get(&format!("{PROP}:distro:codename"))
                    .map(|s| cut(s, MAX_SBOM_NAME_BYTES)),
                detail_version: props.get(&format!("{PROP}:distro:detail-version")).cloned(),
                id_like: Vec::new(),
            });
            continue;
        }
        let licenses = c
            .get("licenses")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| {
                        l.pointer("/license/id")
                            .or_else(|| l.pointer("/license/name"))
                            .or_else(|| l.get("expression"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        reader.add(Component {
            location,
            name: str_of(c, "name"),
            version: str_of(c, "version"),
            purl: str_of(c, "purl"),
            props: props_of(c),
            licenses,
            native: None,
        });
    }
    if reader.catalog.distro.is_none() {
        reader.catalog.distro = distro_from_purls(&reader.catalog.packages);
    }
    Ok(())
}

fn read_spdx(v: &Value, reader: &mut Reader) -> Result<(), String> {
    for (i, p) in v
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        reader.count()?;
        match str_of(p, "primaryPackagePurpose") {
            Some("CONTAINER") => {
                reader.catalog.source.reference = opt_text(str_of(p, "name"));
                reader.catalog.source.manifest_digest = opt_text(str_of(p, "versionInfo"));
                continue;
            }
            Some("OPERATING-SYSTEM") => {
                reader.catalog.distro = Some(Distro {
                    id: distro_text(str_of(p, "name")).unwrap_or_default(),
                    version_id: distro_text(str_of(p, "versionInfo")),
                    pretty_name: opt_text(str_of(p, "description")),
                    ..Distro::default()
                });
                continue;
            }
            _ => {}
        }
        let purl = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| str_of(r, "referenceType") == Some("purl"))
            })
            .and_then(|r| str_of(r, "referenceLocator"));
        reader.add(Component {
            location: format!("packages[{i}]"),
            name: str_of(p, "name"),
            version: str_of(p, "versionInfo"),
            purl,
            props: BTreeMap::new(),
            licenses: Vec::new(),
            native: None,
        });
    }
    if reader.catalog.distro.is_none() {
        reader.catalog.distro = distro_from_purls(&reader.catalog.packages);
    }
    Ok(())
}

/// Syft's own JSON (`syft -o syft-json`): `artifacts`, `source`, `distro`, and a `descriptor`
/// naming syft (or a `schema` URL of Syft's schemas).
fn is_syft(v: &Value) -> bool {
    v.get("artifacts").is_some_and(Value::is_array)
        && (v.pointer("/descriptor/name").and_then(Value::as_str) == Some("syft")
            || v.pointer("/schema/url")
                .and_then(Value::as_str)
                .is_some_and(|u| u.contains("anchore/syft")))
}

/// A Syft JSON document: each artifact is identified by its purl like a CycloneDX component
/// (artifacts without one, such as GitHub Actions, are listed as skipped); the distro comes
/// from `distro` (`id`, `versionID`, `versionCodename`, `idLike`), the image from `source`.
fn read_syft(v: &Value, reader: &mut Reader) -> Result<(), String> {
    if let Some(src) = v.get("source") {
        let meta = src.get("metadata");
        let meta_str = |key: &str| meta.and_then(|m| str_of(m, key));
        reader.catalog.source = SourceInfo {
            reference: opt_text(meta_str("userInput").or_else(|| str_of(src, "name"))),
            manifest_digest: opt_text(meta_str("manifestDigest")),
            config_digest: opt_text(meta_str("imageID")),
            ..SourceInfo::default()
        };
    }
    if let Some(d) = v.get("distro").filter(|d| str_of(d, "id").is_some()) {
        reader.catalog.distro = Some(Distro {
            id: distro_text(str_of(d, "id")).unwrap_or_default(),
            version_id: distro_text(str_of(d, "versionID")),
            pretty_name: opt_text(str_of(d, "prettyName")),
            codename: distro_text(str_of(d, "versionCodename")),
            detail_version: None,
            id_like: d
                .get("idLike")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .take(MAX_SBOM_LIST_ITEMS)
                .map(|s| cut(s, MAX_SBOM_NAME_BYTES))
                .collect(),
        });
    }
    let artifacts = v.get("artifacts").and_then(Value::as_array);
    if artifacts.map_or(0, Vec::len) > MAX_SBOM_COMPONENTS {
        return Err(format!(
            "more than {MAX_SBOM_COMPONENTS} components (packages)"
        ));
    }
    for (i, a) in artifacts.into_iter().flatten().enumerate() {
        reader.count()?;
        // Licences: objects (`spdxExpression`, else `value`) since schema 11, strings before.
        let licenses = a
            .get("licenses")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .take(MAX_SBOM_LIST_ITEMS)
                    .filter_map(|l| {
                        l.as_str()
                            .or_else(|| {
                                str_of(l, "spdxExpression")
                                    .filter(|e| !e.is_empty())
                                    .or_else(|| str_of(l, "value"))
                            })
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        reader.add(Component {
            location: format!("artifacts[{i}]"),
            name: str_of(a, "name"),
            version: str_of(a, "version"),
            purl: str_of(a, "purl").filter(|p| !p.is_empty()),
            props: BTreeMap::new(),
            licenses,
            native: None,
        });
    }
    if reader.catalog.distro.is_none() {
        reader.catalog.distro = distro_from_purls(&reader.catalog.packages);
    }
    Ok(())
}

/// A Palisade catalog: every package is checked and identified by its purl like a
/// CycloneDX component, and every other string is bounded.
fn read_native(native: Catalog, reader: &mut Reader) -> Result<(), String> {
    let Catalog {
        source,
        distro,
        packages,
        problems,
    } = native;
    let mut layers = source.layers;
    if layers.len() > MAX_SBOM_COMPONENTS {
        return Err(format!("more than {MAX_SBOM_COMPONENTS} layers"));
    }
    layers.truncate(4096);
    reader.catalog.source = SourceInfo {
        name: String::new(),
        reference: source.reference.as_deref().map(text),
        manifest_digest: source.manifest_digest.as_deref().map(text),
        config_digest: source.config_digest.as_deref().map(text),
        platform: source.platform.as_deref().map(text),
        layers: layers
            .into_iter()
            .map(|l| LayerInfo {
                index: l.index,
                digest: l.digest.as_deref().map(text),
                diff_id: l.diff_id.as_deref().map(text),
                size: l.size,
                created_by: l.created_by.as_deref().map(text),
            })
            .collect(),
    };
    reader.catalog.distro = distro.map(|d| Distro {
        id: cut(&d.id, MAX_SBOM_NAME_BYTES),
        version_id: distro_text(d.version_id.as_deref()),
        pretty_name: opt_text(d.pretty_name.as_deref()),
        codename: distro_text(d.codename.as_deref()),
        detail_version: opt_text(d.detail_version.as_deref()),
        id_like: d
            .id_like
            .iter()
            .take(MAX_SBOM_LIST_ITEMS)
            .map(|s| cut(s, MAX_SBOM_NAME_BYTES))
            .collect(),
    });
    for p in problems.iter().take(MAX_SBOM_COMPONENTS) {
        reader.catalog.problems.push(Problem {
            layer: p.layer,
            path: p.path.as_deref().map(text),
            message: text(&p.message),
        });
    }
    for (i, p) in packages.iter().enumerate() {
        reader.count()?;
        reader.add(Component {
            location: format!("packages[{i}]"),
            name: Some(&p.name),
            version: Some(&p.version),
            purl: Some(&p.purl),
            props: BTreeMap::new(),
            licenses: Vec::new(),
            native: Some(p.clone()),
        });
    }
    Ok(())
}

fn distro_from_purls(packages: &[Package]) -> Option<Distro> {
    packages.iter().find(|p| p.ecosystem.is_os()).and_then(|p| {
        let purl = PackageUrl::from_str(&p.purl).ok()?;
        let q = purl.qualifiers().get("distro")?.to_string();
        let (id, version) = q.split_once('-').map_or((q.clone(), None), |(a, b)| {
            (a.to_owned(), Some(b.to_owned()))
        });
        Some(Distro {
            id,
            version_id: version,
            ..Distro::default()
        })
    })
}

/// The ecosystem a purl type is matched in.
fn ecosystem_of(ty: &str) -> Option<Ecosystem> {
    Some(match ty {
        "deb" => Ecosystem::Deb,
        "apk" => Ecosystem::Apk,
        "rpm" => Ecosystem::Rpm,
        "pypi" => Ecosystem::Python,
        "npm" => Ecosystem::Npm,
        "golang" => Ecosystem::GoModule,
        "cargo" => Ecosystem::RustCrate,
        "maven" => Ecosystem::JavaArchive,
        "gem" => Ecosystem::Gem,
        "composer" => Ecosystem::Composer,
        "nuget" => Ecosystem::Nuget,
        _ => return None,
    })
}

/// Whether a component's own name says the same as its purl's `full` name (the namespace
/// joined as the ecosystem writes it): equal, or equal once normalised (PyPI).
fn same_name(ecosystem: Ecosystem, own: &str, full: &str) -> bool {
    own == full
        || (ecosystem == Ecosystem::Python
            && crate::catalogers::python::normalise_name(own)
                == crate::catalogers::python::normalise_name(full))
}

/// Checks a component and identifies it by its purl.
fn package_from(c: Component<'_>, reader: &mut Reader) -> Result<Package, SkippedComponent> {
    let shown_version = c
        .version
        .map(|v| cut(v, MAX_SBOM_VERSION_BYTES))
        .unwrap_or_default();
    let shown_name = c
        .name
        .filter(|n| !n.is_empty())
        .or(c.purl)
        .filter(|n| !n.is_empty())
        .map_or_else(|| "(no name)".to_owned(), |n| cut(n, MAX_SBOM_NAME_BYTES));
    let skip = |reason: String| SkippedComponent {
        location: c.location.clone(),
        name: shown_name.clone(),
        version: shown_version.clone(),
        reason,
    };
    let Some(purl) = c.purl.filter(|p| !p.is_empty()) else {
        return Err(skip(
            "no purl: SBOM components are matched by their purl".into(),
        ));
    };
    if purl.len() > MAX_SBOM_PURL_BYTES {
        return Err(skip(format!(
            "the purl is {} bytes, more than the {MAX_SBOM_PURL_BYTES} accepted",
            purl.len()
        )));
    }
    let parsed = PackageUrl::from_str(purl).map_err(|e| {
        skip(format!(
            "the purl {} does not parse: {}",
            quoted(purl, 256),
            cut(&e.to_string(), 512)
        ))
    })?;
    let Some(ecosystem) = ecosystem_of(parsed.ty()) else {
        return Err(skip(format!(
            "purl type {} has no advisory source (deb, apk, rpm, pypi, npm, golang, cargo, \
             maven, gem, composer, nuget are matched)",
            quoted(parsed.ty(), 64)
        )));
    };
    let full_name = match (ecosystem, parsed.namespace()) {
        (Ecosystem::Npm | Ecosystem::GoModule | Ecosystem::Composer, Some(ns)) => {
            format!("{ns}/{}", parsed.name())
        }
        (Ecosystem::JavaArchive, Some(ns)) => format!("{ns}:{}", parsed.name()),
        _ => parsed.name().to_string(),
    };
    if full_name.is_empty() {
        return Err(skip("the purl has no name".into()));
    }
    if full_name.len() > MAX_SBOM_NAME_BYTES {
        return Err(skip(format!(
            "the purl's name is {} bytes, more than the {MAX_SBOM_NAME_BYTES} accepted",
            full_name.len()
        )));
    }
    let purl_version = parsed.version().filter(|v| !v.is_empty());
    let Some(version) = purl_version.or(c.version).filter(|v| !v.is_empty()) else {
        return Err(skip("no version, in the purl or the component".into()));
    };
    if version.len() > MAX_SBOM_VERSION_BYTES {
        return Err(skip(format!(
            "the version is {} bytes, more than the {MAX_SBOM_VERSION_BYTES} accepted",
            version.len()
        )));
    }
    if let Some(own) = c.version.filter(|v| !v.is_empty())
        && own.len() > MAX_SBOM_VERSION_BYTES
    {
        return Err(skip(format!(
            "the component's version is {} bytes, more than the {MAX_SBOM_VERSION_BYTES} \
             accepted",
            own.len()
        )));
    }
    if let Some(own) = c.name
        && own.len() > MAX_SBOM_NAME_BYTES
    {
        return Err(skip(format!(
            "the component's name is {} bytes, more than the {MAX_SBOM_NAME_BYTES} accepted",
            own.len()
        )));
    }

    // The name and version shown: the component's own when they say the same as the purl.
    let name = match c.name.filter(|n| !n.is_empty()) {
        Some(own) if same_name(ecosystem, own, &full_name) => own.to_owned(),
        Some(own) => {
            // CycloneDX splits `group` off the name: `net` for `golang.org/x/net` is no news.
            if own != parsed.name() {
                reader.warn(
                    &c.location,
                    format!(
                        "component named {} is matched by its purl, as {full_name} ({})",
                        quoted(own, 256),
                        cut(purl, 256)
                    ),
                );
            }
            full_name.clone()
        }
        None => full_name.clone(),
    };
    // The same Go version: `go1.22.2` for the standard library's `1.22.2`, `0.7.0` for
    // `v0.7.0`.
    let same_go = |own: &str| {
        ecosystem == Ecosystem::GoModule
            && ((full_name == "stdlib" && own.strip_prefix("go") == Some(version))
                || own.strip_prefix('v').unwrap_or(own)
                    == version.strip_prefix('v').unwrap_or(version))
    };
    let version = match c.version.filter(|v| !v.is_empty()) {
        Some(own) if own == version || same_go(own) => own.to_owned(),
        Some(own) => {
            reader.warn(
                &c.location,
                format!(
                    "{name}: version {} differs from its purl's; matched as {version}",
                    quoted(own, 256)
                ),
            );
            version.to_owned()
        }
        None => version.to_owned(),
    };

    let q = parsed.qualifiers();
    let arch = q
        .get("arch")
        .map(|a| text(a))
        .or_else(|| c.props.get(&format!("{PROP}:package:arch")).cloned())
        .or_else(|| c.native.as_ref().and_then(|n| n.arch.as_deref().map(text)));
    // OS packages are matched by source package: the purl's `upstream` qualifier
    // (`name@version`, or `name` when the version is the binary's), else the package itself.
    let source = if ecosystem.is_os() {
        let (source_name, source_version) = match q.get("upstream").map(|u| u.to_string()) {
            Some(u) => match u.split_once('@') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => (u, version.clone()),
            },
            None => (full_name.clone(), version.clone()),
        };
        if source_name.is_empty()
            || source_name.len() > MAX_SBOM_NAME_BYTES
            || source_version.len() > MAX_SBOM_VERSION_BYTES
        {
            return Err(skip(format!(
                "the purl's upstream qualifier is empty or too long (name over \
                 {MAX_SBOM_NAME_BYTES} or version over {MAX_SBOM_VERSION_BYTES} bytes)"
            )));
        }
        Some(SourcePackage {
            name: source_name,
            version: Some(source_version),
        })
    } else {
        None
    };

    let (mut licenses, mut locations, layer) = match c.native {
        Some(n) => (n.licenses, n.locations, n.layer),
        None => {
            let mut locations = Vec::new();
            for i in 0..=MAX_SBOM_LIST_ITEMS {
                let Some(path) = c.props.get(&format!("{PROP}:location:{i}:path")) else {
                    break;
                };
                locations.push(Location {
                    path: path.clone(),
                    layer: c
                        .props
                        .get(&format!("{PROP}:location:{i}:layer"))
                        .and_then(|l| l.parse().ok()),
                });
            }
            let layer = c
                .props
                .get(&format!("{PROP}:layer:index"))
                .and_then(|i| i.parse().ok())
                .map(|index| LayerRef {
                    index,
                    diff_id: c.props.get(&format!("{PROP}:layer:diff-id")).cloned(),
                });
            (c.licenses, locations, layer)
        }
    };
    if licenses.len() > MAX_SBOM_LIST_ITEMS || locations.len() > MAX_SBOM_LIST_ITEMS {
        reader.warn(
            &c.location,
            format!("{name}: only the first {MAX_SBOM_LIST_ITEMS} licences and locations are kept"),
        );
    }
    licenses.truncate(MAX_SBOM_LIST_ITEMS);
    locations.truncate(MAX_SBOM_LIST_ITEMS);
    Ok(Package {
        ecosystem,
        name,
        version,
        purl: purl.to_owned(),
        arch,
        source,
        licenses: licenses.iter().map(|l| text(l)).collect(),
        locations: locations
            .into_iter()
            .map(|l| Location {
                path: text(&l.path),
                layer: l.layer,
            })
            .collect(),
        layer: layer.map(|l| LayerRef {
            index: l.index,
            diff_id: l.diff_id.as_deref().map(text),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(created_from(Some("0"), None), "1970-01-01T00:00:00Z");
        assert_eq!(
            created_from(Some("1700000000"), Some("2024-05-06T07:08:09Z")),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(created_from(Some("-1"), None), "1969-12-31T23:59:59Z");
        assert_eq!(
            created_from(None, Some("2024-05-06T07:08:09.123456789Z")),
            "2024-05-06T07:08:09Z"
        );
        // An epoch RFC 3339 cannot write (past 9999) or no number falls through.
        assert_eq!(
            created_from(Some("999999999999"), Some("2024-05-06T07:08:09Z")),
            "2024-05-06T07:08:09Z"
        );
        assert_eq!(created_from(Some("soon"), None), "1970-01-01T00:00:00Z");
        assert_eq!(
            created_from(None, Some("2024-05-06T07:08:09+02:00")),
            "1970-01-01T00:00:00Z"
        );
    }

    fn cdx(components: &Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "components": components,
        }))
        .unwrap()
    }

    /// Issue 13.8: components are matched by purl, never by their `name`; a component
    /// without a usable purl is skipped with a reason instead of vanishing.
    #[test]
    fn issue_13_8_components_are_identified_by_purl() {
        let bytes = cdx(&json!([
            {"type": "library", "group": "golang.org/x", "name": "net", "version": "0.7.0",
             "purl": "pkg:golang/golang.org/x/net@v0.7.0"},
            {"type": "library", "name": "safe-package", "version": "5.3",
             "purl": "pkg:pypi/pyyaml@5.3"},
            {"type": "library", "name": "PyYAML", "version": "5.3", "purl": "pkg:pypi/pyyaml@5.3"},
            {"type": "library", "name": "stdlib", "version": "go1.19.8",
             "purl": "pkg:golang/stdlib@1.19.8"},
            {"type": "library", "name": "no-purl", "version": "1.0"},
            {"type": "library", "name": "hex", "version": "1.0", "purl": "pkg:hex/plug@1.0"},
            {"type": "library", "name": "broken", "version": "1.0", "purl": "not a purl"},
            {"type": "application", "name": "left-pad", "purl": "pkg:npm/left-pad@1.3.0",
             "components": [{"type": "library", "name": "inner", "version": "2"}]},
        ]));
        let read = read_sbom_components(&bytes, "x.json").unwrap();
        let got: Vec<(Ecosystem, &str, &str)> = read
            .catalog
            .packages
            .iter()
            .map(|p| (p.ecosystem, p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Ecosystem::Python, "PyYAML", "5.3"),
                (Ecosystem::Python, "pyyaml", "5.3"),
                (Ecosystem::Npm, "left-pad", "1.3.0"),
                (Ecosystem::GoModule, "golang.org/x/net", "0.7.0"),
                (Ecosystem::GoModule, "stdlib", "go1.19.8"),
            ]
        );
        let skipped: Vec<(&str, &str)> = read
            .skipped
            .iter()
            .map(|s| (s.location.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("components[4]", "no-purl"),
                ("components[5]", "hex"),
                ("components[6]", "broken"),
                ("components[7].components[0]", "inner"),
            ]
        );
        assert!(read.skipped[0].reason.contains("no purl"));
        assert!(read.skipped[1].reason.contains("\"hex\""));
        assert!(read.skipped[2].reason.contains("does not parse"));
        // The disagreeing name is a warning; the group split is not.
        let warnings: Vec<&str> = read
            .catalog
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("\"safe-package\" is matched by its purl, as pyyaml"));
        // `read_sbom` folds the skipped ones into the problems.
        let catalog = read_sbom(&bytes, "x.json").unwrap();
        assert_eq!(catalog.problems.len(), 5);
    }

    /// A version that disagrees with the purl's: the purl's is matched, with a warning.
    #[test]
    fn the_purl_version_wins() {
        let bytes = cdx(&json!([
            {"name": "requests", "version": "2.31.0", "purl": "pkg:pypi/requests@2.19.1"},
            {"name": "urllib3", "version": "1.23", "purl": "pkg:pypi/urllib3"},
        ]));
        let read = read_sbom_components(&bytes, "x.json").unwrap();
        let p = &read.catalog.packages;
        assert_eq!(
            (p[0].name.as_str(), p[0].version.as_str()),
            ("requests", "2.19.1")
        );
        assert_eq!(
            (p[1].name.as_str(), p[1].version.as_str()),
            ("urllib3", "1.23")
        );
        assert!(
            read.catalog.problems[0]
                .message
                .contains("differs from its purl")
        );
    }

    /// SPDX and Palisade JSON are identified by purl the same way.
    #[test]
    fn spdx_and_native_match_by_purl() {
        let spdx = serde_json::to_vec(&json!({
            "spdxVersion": "SPDX-2.3",
            "packages": [
                {"name": "safe-package", "versionInfo": "1.0", "externalRefs": [
                    {"referenceType": "purl", "referenceLocator": "pkg:pypi/pyyaml@5.3"}]},
                {"name": "lonely", "versionInfo": "1.0"},
            ],
        }))
        .unwrap();
        let read = read_sbom_components(&spdx, "x.spdx.json").unwrap();
        assert_eq!(read.catalog.packages[0].name, "pyyaml");
        assert_eq!(read.skipped.len(), 1);
        assert_eq!(read.skipped[0].location, "packages[1]");
        let native = serde_json::to_vec(&json!({
            "source": {"name": "x"},
            "packages": [
                {"ecosystem": "deb", "name": "safe-package", "version": "1",
                 "purl": "pkg:pypi/pyyaml@5.3", "locations": []},
                {"ecosystem": "python", "name": "x", "version": "1", "purl": "",
                 "locations": []},
            ],
        }))
        .unwrap();
        let read = read_sbom_components(&native, "x.json").unwrap();
        let p = &read.catalog.packages[0];
        assert_eq!(
            (p.ecosystem, p.name.as_str(), p.version.as_str()),
            (Ecosystem::Python, "pyyaml", "5.3")
        );
        assert_eq!(read.skipped.len(), 1);
    }

    /// Issue 17: Syft's own JSON, with licences as objects (schema 11+) and as strings, the
    /// distro from `distro`, and an artifact without a purl listed as skipped.
    #[test]
    fn syft_json_is_read_by_purl() {
        let syft = serde_json::to_vec(&json!({
            "artifacts": [
                {"name": "adduser", "version": "3.134", "type": "deb",
                 "purl": "pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12",
                 "licenses": [{"value": "GPL-2", "spdxExpression": "GPL-2.0-only"}]},
                {"name": "Jinja2", "version": "2.10", "type": "python",
                 "purl": "pkg:pypi/jinja2@2.10", "licenses": ["BSD"]},
                {"name": "actions/checkout", "version": "v4", "type": "github-action",
                 "purl": ""},
            ],
            "source": {"name": "app", "type": "image",
                       "metadata": {"userInput": "app:1", "manifestDigest": "sha256:ab"}},
            "distro": {"id": "debian", "versionID": "12", "versionCodename": "bookworm",
                       "prettyName": "Debian GNU/Linux 12 (bookworm)", "idLike": ["x"]},
            "descriptor": {"name": "syft", "version": "1.18.1"},
        }))
        .unwrap();
        let read = read_sbom_components(&syft, "app.syft.json").unwrap();
        let c = &read.catalog;
        let d = c.distro.as_ref().unwrap();
        assert_eq!(
            (
                d.id.as_str(),
                d.version_id.as_deref(),
                d.codename.as_deref()
            ),
            ("debian", Some("12"), Some("bookworm"))
        );
        assert_eq!(c.source.reference.as_deref(), Some("app:1"));
        assert_eq!(c.packages.len(), 2);
        let deb = c.packages.iter().find(|p| p.name == "adduser").unwrap();
        assert_eq!(deb.licenses, ["GPL-2.0-only"]);
        let py = c
            .packages
            .iter()
            .find(|p| p.ecosystem == Ecosystem::Python)
            .unwrap();
        assert_eq!(
            (py.name.as_str(), py.licenses.as_slice()),
            ("Jinja2", &["BSD".to_owned()][..])
        );
        assert_eq!(read.skipped.len(), 1);
        assert_eq!(read.skipped[0].location, "artifacts[2]");
        // Without the descriptor or schema, `artifacts` alone is no Syft document.
        let other = serde_json::to_vec(&json!({"artifacts": []})).unwrap();
        assert!(read_sbom_components(&other, "x.json").is_err());
    }

    /// Issue 13.3: over-long names, versions and purls are refused (skipped with the reason
    /// and a cut copy of the text); other text is cut with a marker.
    #[test]
    fn issue_13_3_long_strings_are_refused_or_cut() {
        let long = "9".repeat(1 << 20);
        let bytes = cdx(&json!([
            {"name": "stdlib", "version": format!("go1.{long}"), "purl": "pkg:golang/stdlib"},
            {"name": "stdlib", "version": "go1.22.1", "purl": format!("pkg:golang/stdlib@{long}")},
            {"name": long, "purl": "pkg:pypi/x@1"},
            {"name": "x", "purl": format!("pkg:pypi/{}@1", "x".repeat(4000))},
            {"name": "ok", "version": "1", "purl": "pkg:pypi/ok@1",
             "licenses": [{"license": {"name": long}}]},
        ]));
        let read = read_sbom_components(&bytes, "x.json").unwrap();
        assert_eq!(read.skipped.len(), 4, "{:?}", read.skipped);
        for s in &read.skipped {
            assert!(s.name.len() < 600 && s.version.len() < 300, "{s:?}");
            assert!(s.reason.contains("more than the"), "{}", s.reason);
        }
        assert!(read.skipped[0].version.contains("…[cut: "));
        let p = &read.catalog.packages[0];
        assert!(p.licenses[0].len() < MAX_SBOM_TEXT_BYTES + 48);
        assert!(p.licenses[0].ends_with("more bytes]"));
    }

    #[test]
    fn cut_keeps_character_boundaries() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("ééé", 3), "é…[cut: 4 more bytes]");
    }

    #[test]
    fn reader_rejects_garbage() {
        assert!(read_sbom(b"{", "x.json").is_err());
        assert!(read_sbom(b"{\"a\":1}", "x.json").is_err());
    }
}
