//! SBOM documents: CycloneDX 1.6 JSON and SPDX 2.3 JSON writers and readers, and Palisade's
//! own JSON (the [`Catalog`] itself).
//!
//! Output is deterministic: the same catalog gives the same bytes. Serial numbers and
//! namespaces are derived from the content; the only time stamp (SPDX requires one) is taken
//! from `SOURCE_DATE_EPOCH`, else the image's creation time, else the Unix epoch.

use std::collections::BTreeMap;
use std::str::FromStr;

use packageurl::PackageUrl;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::catalog::{Catalog, SourceInfo};
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
            c["licenses"] = Value::Array(
                p.licenses
                    .iter()
                    .map(|l| json!({"license": {"name": l}}))
                    .collect(),
            );
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
        if !p.licenses.is_empty() {
            comment.push_str(&format!("; declared licenses: {}", p.licenses.join(", ")));
        }
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
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
    json!({
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
    })
}

/// The SPDX creation time: `SOURCE_DATE_EPOCH` if set, else the image's creation time, else
/// the Unix epoch (so output stays reproducible).
#[must_use]
pub fn spdx_created(image_created: Option<&str>) -> String {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        return rfc3339_from_unix(secs);
    }
    if let Some(c) = image_created {
        // Keep the date and time to the second, in UTC as written (`2024-01-01T00:00:00Z`).
        if c.len() >= 19 && c.ends_with('Z') && c.as_bytes().get(10) == Some(&b'T') {
            return format!("{}Z", &c[..19]);
        }
    }
    rfc3339_from_unix(0)
}

fn rfc3339_from_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The most bytes of an SBOM that are read.
pub const MAX_SBOM_BYTES: u64 = 512 << 20;

/// Reads an SBOM (CycloneDX JSON, SPDX JSON or Palisade JSON) back into a catalog. Package
/// facts come from Palisade's properties when present and from the PURL otherwise.
///
/// # Errors
/// When the document is not JSON or not one of the three formats.
pub fn read_sbom(bytes: &[u8], path: &str) -> Result<Catalog, SbomError> {
    let err = |reason: String| SbomError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > MAX_SBOM_BYTES {
        return Err(err(format!("larger than {MAX_SBOM_BYTES} bytes")));
    }
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let mut catalog = if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        read_cyclonedx(&v)
    } else if v.get("spdxVersion").is_some() {
        read_spdx(&v)
    } else if v.get("packages").is_some() && v.get("source").is_some() {
        serde_json::from_value(v).map_err(|e| err(format!("not a Palisade catalog: {e}")))?
    } else {
        return Err(err("not a CycloneDX, SPDX or Palisade JSON document".into()));
    };
    catalog.source.name = format!("sbom:{path}");
    catalog.packages.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.purl).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.purl,
        ))
    });
    Ok(catalog)
}

fn props_of(c: &Value) -> BTreeMap<String, String> {
    c.get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get("name")?.as_str()?.to_owned(),
                        p.get("value")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn read_cyclonedx(v: &Value) -> Catalog {
    let mut catalog = Catalog::default();
    if let Some(subject) = v.pointer("/metadata/component") {
        let props = props_of(subject);
        catalog.source = SourceInfo {
            reference: subject
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            manifest_digest: subject
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_owned),
            config_digest: props.get(&format!("{PROP}:image:config-digest")).cloned(),
            platform: props.get(&format!("{PROP}:image:platform")).cloned(),
            ..SourceInfo::default()
        };
    }
    for c in v
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if c.get("type").and_then(Value::as_str) == Some("operating-system") {
            let props = props_of(c);
            catalog.distro = Some(Distro {
                id: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                version_id: c.get("version").and_then(Value::as_str).map(str::to_owned),
                pretty_name: c
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                codename: props.get(&format!("{PROP}:distro:codename")).cloned(),
                detail_version: props.get(&format!("{PROP}:distro:detail-version")).cloned(),
                id_like: Vec::new(),
            });
            continue;
        }
        let Some(purl) = c.get("purl").and_then(Value::as_str) else {
            continue;
        };
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
        if let Some(p) = package_from(
            purl,
            c.get("name").and_then(Value::as_str),
            c.get("version").and_then(Value::as_str),
            &props_of(c),
            licenses,
        ) {
            catalog.packages.push(p);
        }
    }
    if catalog.distro.is_none() {
        catalog.distro = distro_from_purls(&catalog.packages);
    }
    catalog
}

fn read_spdx(v: &Value) -> Catalog {
    let mut catalog = Catalog::default();
    for p in v
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match p.get("primaryPackagePurpose").and_then(Value::as_str) {
            Some("CONTAINER") => {
                catalog.source.reference = p.get("name").and_then(Value::as_str).map(str::to_owned);
                catalog.source.manifest_digest = p
                    .get("versionInfo")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                continue;
            }
            Some("OPERATING-SYSTEM") => {
                catalog.distro = Some(Distro {
                    id: p
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    version_id: p
                        .get("versionInfo")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    pretty_name: p
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
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
                    .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            })
            .and_then(|r| r.get("referenceLocator"))
            .and_then(Value::as_str);
        let Some(purl) = purl else { continue };
        if let Some(pkg) = package_from(
            purl,
            p.get("name").and_then(Value::as_str),
            p.get("versionInfo").and_then(Value::as_str),
            &BTreeMap::new(),
            Vec::new(),
        ) {
            catalog.packages.push(pkg);
        }
    }
    if catalog.distro.is_none() {
        catalog.distro = distro_from_purls(&catalog.packages);
    }
    catalog
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

fn package_from(
    purl: &str,
    name: Option<&str>,
    version: Option<&str>,
    props: &BTreeMap<String, String>,
    licenses: Vec<String>,
) -> Option<Package> {
    let parsed = PackageUrl::from_str(purl).ok()?;
    let ecosystem = props
        .get(&format!("{PROP}:package:type"))
        .and_then(|t| Ecosystem::from_name(t))
        .or_else(|| match parsed.ty() {
            "deb" => Some(Ecosystem::Deb),
            "apk" => Some(Ecosystem::Apk),
            "rpm" => Some(Ecosystem::Rpm),
            "pypi" => Some(Ecosystem::Python),
            "npm" => Some(Ecosystem::Npm),
            "golang" => Some(Ecosystem::GoModule),
            "cargo" => Some(Ecosystem::RustCrate),
            "maven" => Some(Ecosystem::JavaArchive),
            _ => None,
        })?;
    let purl_name = match (ecosystem, parsed.namespace()) {
        (Ecosystem::Npm | Ecosystem::GoModule, Some(ns)) => format!("{ns}/{}", parsed.name()),
        (Ecosystem::JavaArchive, Some(ns)) => format!("{ns}:{}", parsed.name()),
        _ => parsed.name().to_string(),
    };
    let name = name.map_or(purl_name, str::to_owned);
    let version = version
        .map(str::to_owned)
        .or_else(|| parsed.version().map(|v| v.to_string()))?;
    let q = parsed.qualifiers();
    let arch = props
        .get(&format!("{PROP}:package:arch"))
        .cloned()
        .or_else(|| q.get("arch").map(|a| a.to_string()));
    let source = props
        .get(&format!("{PROP}:package:source-name"))
        .map(|n| SourcePackage {
            name: n.clone(),
            version: props
                .get(&format!("{PROP}:package:source-version"))
                .cloned(),
        })
        .or_else(|| {
            if !ecosystem.is_os() {
                return None;
            }
            let up = q.get("upstream").map(|u| u.to_string());
            Some(match up {
                Some(u) => match u.split_once('@') {
                    Some((n, v)) => SourcePackage {
                        name: n.to_owned(),
                        version: Some(v.to_owned()),
                    },
                    None => SourcePackage {
                        name: u,
                        version: Some(version.clone()),
                    },
                },
                None => SourcePackage {
                    name: name.clone(),
                    version: Some(version.clone()),
                },
            })
        });
    let mut locations = Vec::new();
    for i in 0.. {
        let Some(path) = props.get(&format!("{PROP}:location:{i}:path")) else {
            break;
        };
        locations.push(Location {
            path: path.clone(),
            layer: props
                .get(&format!("{PROP}:location:{i}:layer"))
                .and_then(|l| l.parse().ok()),
        });
    }
    let layer = props
        .get(&format!("{PROP}:layer:index"))
        .and_then(|i| i.parse().ok())
        .map(|index| LayerRef {
            index,
            diff_id: props.get(&format!("{PROP}:layer:diff-id")).cloned(),
        });
    Some(Package {
        ecosystem,
        name,
        version,
        purl: purl.to_owned(),
        arch,
        source,
        licenses,
        locations,
        layer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            spdx_created(Some("2024-05-06T07:08:09.123456789Z")).len(),
            20
        );
    }

    #[test]
    fn reader_rejects_garbage() {
        assert!(read_sbom(b"{", "x.json").is_err());
        assert!(read_sbom(b"{\"a\":1}", "x.json").is_err());
    }
}
