//! `palisade scan --vex FILE...`: OpenVEX and CycloneDX VEX documents, detected by content.
//!
//! A statement applies to a finding when its vulnerability (name or an alias) is the finding's
//! advisory id or one of its aliases, and one of its products is the finding package's PURL
//! (compared without qualifiers and subpath; a product PURL without a version matches every
//! version). When several statements apply, the last one (in file order, files in command-line
//! order) wins. A `not_affected` statement that carries a justification (or an impact statement /
//! CycloneDX `detail`) suppresses the finding; CycloneDX `false_positive` suppresses it too.
//! Every other status annotates it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The largest VEX document read.
pub const MAX_VEX_FILE_BYTES: u64 = 64 << 20;

/// What is wrong inside a document, with the statement it is about.
type Invalid<T> = std::result::Result<T, String>;

/// The OpenVEX status of a statement (CycloneDX states map onto it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    NotAffected,
    Affected,
    Fixed,
    UnderInvestigation,
}

impl VexStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VexStatus::NotAffected => "not_affected",
            VexStatus::Affected => "affected",
            VexStatus::Fixed => "fixed",
            VexStatus::UnderInvestigation => "under_investigation",
        }
    }
}

/// One VEX statement, normalized.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The vulnerability name and its aliases.
    ids: Vec<String>,
    /// Product PURLs (or unresolved refs).
    products: Vec<String>,
    status: VexStatus,
    /// The document's own status word (`false_positive`, `exploitable`, …).
    original_status: String,
    justification: Option<String>,
    impact_statement: Option<String>,
    action_statement: Option<String>,
    file: String,
    format: &'static str,
    raw: Value,
}

impl Statement {
    /// Whether this statement suppresses the findings it applies to.
    pub fn suppresses(&self) -> bool {
        self.status == VexStatus::NotAffected
            && (self.original_status == "false_positive"
                || self.justification.is_some()
                || self.impact_statement.is_some())
    }

    /// `VEX not_affected: JUSTIFICATION (FILE)`.
    pub fn reason(&self) -> String {
        let why = self
            .justification
            .as_deref()
            .or(self.impact_statement.as_deref())
            .unwrap_or(&self.original_status);
        format!("VEX {}: {why} ({})", self.status.as_str(), self.file)
    }

    /// The `vex` annotation of a finding in the JSON report.
    pub fn annotation(&self) -> VexAnnotation {
        VexAnnotation {
            status: self.status.as_str(),
            original_status: (self.original_status != self.status.as_str())
                .then(|| self.original_status.clone()),
            justification: self.justification.clone(),
            impact_statement: self.impact_statement.clone(),
            action_statement: self.action_statement.clone(),
            file: self.file.clone(),
            format: self.format,
            statement: self.raw.clone(),
        }
    }

    fn applies(&self, id: &str, aliases: &[String], purl: &str) -> bool {
        let id_hit = std::iter::once(id)
            .chain(aliases.iter().map(String::as_str))
            .any(|a| self.ids.iter().any(|s| s.eq_ignore_ascii_case(a)));
        id_hit && self.products.iter().any(|p| purl_matches(p, purl))
    }
}

/// The `vex` field of a finding.
#[derive(Clone, Debug, Serialize)]
pub struct VexAnnotation {
    pub status: &'static str,
    /// The CycloneDX analysis state, when it differs from `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    impact_statement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_statement: Option<String>,
    file: String,
    /// `openvex` or `cyclonedx`.
    format: &'static str,
    /// The statement (OpenVEX) or vulnerability entry (CycloneDX) as written.
    statement: Value,
}

impl VexAnnotation {
    /// The CycloneDX `analysis` object for this statement: the state in CycloneDX's words,
    /// the justification when it is one of CycloneDX's, the statements as `detail`.
    pub fn cyclonedx_analysis(&self) -> Value {
        const CDX_JUSTIFICATIONS: [&str; 9] = [
            "code_not_present",
            "code_not_reachable",
            "requires_configuration",
            "requires_dependency",
            "requires_environment",
            "protected_by_compiler",
            "protected_at_runtime",
            "protected_at_perimeter",
            "protected_by_mitigating_control",
        ];
        let state = match self.original_status.as_deref() {
            Some(original) => original.to_owned(),
            None => match self.status {
                "affected" => "exploitable",
                "fixed" => "resolved",
                "under_investigation" => "in_triage",
                other => other,
            }
            .to_owned(),
        };
        let mut a = serde_json::json!({ "state": state });
        let mut detail: Vec<String> = Vec::new();
        if let Some(j) = &self.justification {
            if CDX_JUSTIFICATIONS.contains(&j.as_str()) {
                a["justification"] = serde_json::json!(j);
            } else {
                detail.push(format!("justification: {j}"));
            }
        }
        detail.extend(self.impact_statement.iter().cloned());
        detail.extend(self.action_statement.iter().cloned());
        detail.push(format!("{} VEX {}", self.format, self.file));
        a["detail"] = serde_json::json!(detail.join("; "));
        a
    }
}

/// All statements of the `--vex` files.
#[derive(Debug, Default)]
pub struct VexSet {
    statements: Vec<Statement>,
}

impl VexSet {
    pub fn load(paths: &[PathBuf]) -> Result<VexSet> {
        let mut set = VexSet::default();
        for p in paths {
            let text = crate::source::read_capped(p, MAX_VEX_FILE_BYTES + 1, "reading VEX file")?;
            if text.len() as u64 > MAX_VEX_FILE_BYTES {
                return Err(Error::TooLarge {
                    path: p.clone(),
                    limit: MAX_VEX_FILE_BYTES,
                });
            }
            let statements = parse(&text, p).map_err(|message| Error::Vex {
                path: p.clone(),
                message,
            })?;
            set.statements.extend(statements);
        }
        Ok(set)
    }

    /// The statement that decides a finding: the last applicable one.
    pub fn matching(&self, id: &str, aliases: &[String], purl: &str) -> Option<&Statement> {
        self.statements
            .iter()
            .rev()
            .find(|s| s.applies(id, aliases, purl))
    }
}

fn parse(bytes: &[u8], path: &Path) -> Invalid<Vec<Statement>> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let file = path.display().to_string();
    let is_openvex = doc
        .get("@context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains("openvex"))
        || doc.get("statements").is_some_and(Value::is_array);
    if is_openvex {
        return openvex(&doc, &file);
    }
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX")
        || doc.get("vulnerabilities").is_some_and(Value::is_array)
    {
        return cyclonedx(&doc, &file);
    }
    Err(
        "neither an OpenVEX document (@context, statements) nor CycloneDX VEX (vulnerabilities)"
            .to_owned(),
    )
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn openvex(doc: &Value, file: &str) -> Invalid<Vec<Statement>> {
    let statements = doc
        .get("statements")
        .and_then(Value::as_array)
        .ok_or_else(|| "OpenVEX: `statements` is missing or not an array".to_owned())?;
    let mut out = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        let n = i + 1;
        let vuln = s
            .get("vulnerability")
            .ok_or_else(|| format!("statement {n}: `vulnerability` is missing"))?;
        let mut ids = Vec::new();
        match vuln {
            // OpenVEX before v0.2 used a plain string.
            Value::String(name) => ids.push(name.clone()),
            Value::Object(_) => {
                let name = opt_str(vuln, "name")
                    .or_else(|| opt_str(vuln, "@id"))
                    .ok_or_else(|| format!("statement {n}: `vulnerability.name` is missing"))?;
                ids.push(name);
                if let Some(aliases) = vuln.get("aliases") {
                    let aliases = aliases.as_array().ok_or_else(|| {
                        format!("statement {n}: `vulnerability.aliases` is not an array")
                    })?;
                    ids.extend(aliases.iter().filter_map(Value::as_str).map(str::to_owned));
                }
            }
            _ => return Err(format!("statement {n}: `vulnerability` is not an object")),
        }
        let products = s
            .get("products")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("statement {n}: `products` is missing or not an array"))?;
        let mut purls = Vec::new();
        for p in products {
            purls.extend(product_ids(p));
            if let Some(subs) = p.get("subcomponents").and_then(Value::as_array) {
                for sub in subs {
                    purls.extend(product_ids(sub));
                }
            }
        }
        if purls.is_empty() {
            return Err(format!(
                "statement {n}: no product identifier (`@id` or `identifiers.purl`)"
            ));
        }
        let status_word =
            opt_str(s, "status").ok_or_else(|| format!("statement {n}: `status` is missing"))?;
        let status = match status_word.as_str() {
            "not_affected" => VexStatus::NotAffected,
            "affected" => VexStatus::Affected,
            "fixed" => VexStatus::Fixed,
            "under_investigation" => VexStatus::UnderInvestigation,
            other => {
                return Err(format!(
                    "statement {n}: unknown status `{other}` (expected not_affected, affected, fixed \
                 or under_investigation)"
                ));
            }
        };
        let justification = opt_str(s, "justification");
        let impact_statement = opt_str(s, "impact_statement");
        if status == VexStatus::NotAffected && justification.is_none() && impact_statement.is_none()
        {
            return Err(format!(
                "statement {n}: `not_affected` needs a `justification` or `impact_statement`"
            ));
        }
        out.push(Statement {
            ids,
            products: purls,
            status,
            original_status: status_word,
            justification,
            impact_statement,
            action_statement: opt_str(s, "action_statement"),
            file: file.to_owned(),
            format: "openvex",
            raw: s.clone(),
        });
    }
    Ok(out)
}

/// The identifiers of an OpenVEX product: its `@id` and `identifiers.purl`.
fn product_ids(p: &Value) -> Vec<String> {
    match p {
        Value::String(s) => vec![s.clone()],
        _ => [
            p.get("@id").and_then(Value::as_str),
            p.get("identifiers")
                .and_then(|i| i.get("purl"))
                .and_then(Value::as_str),
        ]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect(),
    }
}

/// Collects `bom-ref → purl` of all components, nested ones and the metadata component included.
fn component_refs(v: &Value, refs: &mut BTreeMap<String, String>) {
    if let (Some(r), Some(p)) = (
        v.get("bom-ref").and_then(Value::as_str),
        v.get("purl").and_then(Value::as_str),
    ) {
        refs.insert(r.to_owned(), p.to_owned());
    }
    if let Some(cs) = v.get("components").and_then(Value::as_array) {
        for c in cs {
            component_refs(c, refs);
        }
    }
}

fn cyclonedx(doc: &Value, file: &str) -> Invalid<Vec<Statement>> {
    let vulns = doc
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .ok_or_else(|| "CycloneDX: `vulnerabilities` is missing or not an array".to_owned())?;
    let mut refs = BTreeMap::new();
    component_refs(doc, &mut refs);
    if let Some(c) = doc.get("metadata").and_then(|m| m.get("component")) {
        component_refs(c, &mut refs);
    }
    let mut out = Vec::new();
    for (i, v) in vulns.iter().enumerate() {
        let n = i + 1;
        let id =
            opt_str(v, "id").ok_or_else(|| format!("vulnerabilities[{n}]: `id` is missing"))?;
        let mut ids = vec![id.clone()];
        if let Some(r) = v.get("references").and_then(Value::as_array) {
            ids.extend(r.iter().filter_map(|r| opt_str(r, "id")));
        }
        // A vulnerability without analysis is an SBOM finding, not a VEX statement.
        let Some(analysis) = v.get("analysis") else {
            continue;
        };
        let Some(state) = opt_str(analysis, "state") else {
            continue;
        };
        let status = match state.as_str() {
            "not_affected" | "false_positive" => VexStatus::NotAffected,
            "exploitable" => VexStatus::Affected,
            "resolved" | "resolved_with_pedigree" => VexStatus::Fixed,
            "in_triage" => VexStatus::UnderInvestigation,
            other => {
                return Err(format!(
                    "vulnerabilities[{n}] ({id}): unknown analysis.state `{other}` (expected \
                 not_affected, false_positive, exploitable, resolved, resolved_with_pedigree or \
                 in_triage)"
                ));
            }
        };
        let affects = v
            .get("affects")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("vulnerabilities[{n}] ({id}): `affects` is missing"))?;
        let mut products = Vec::new();
        for a in affects {
            let r = a
                .get("ref")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("vulnerabilities[{n}] ({id}): an `affects` has no `ref`"))?;
            // A BOM-Link (urn:cdx:…#ref) names a bom-ref in another BOM; use its fragment.
            let local = r
                .strip_prefix("urn:cdx:")
                .and_then(|l| l.split_once('#'))
                .map_or(r, |(_, frag)| frag);
            products.push(
                refs.get(local)
                    .or_else(|| refs.get(r))
                    .cloned()
                    .unwrap_or_else(|| local.to_owned()),
            );
        }
        let responses: Vec<&str> = analysis
            .get("response")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let justification = opt_str(analysis, "justification")
            .or_else(|| (state == "false_positive").then(|| "false_positive".to_owned()));
        out.push(Statement {
            ids,
            products,
            status,
            original_status: state,
            justification,
            impact_statement: opt_str(analysis, "detail"),
            action_statement: (!responses.is_empty()).then(|| responses.join(", ")),
            file: file.to_owned(),
            format: "cyclonedx",
            raw: v.clone(),
        });
    }
    Ok(out)
}

/// A PURL split into `type/namespace/name` (normalized) and its version, without qualifiers and
/// subpath.
fn purl_key(purl: &str) -> Option<(String, Option<String>)> {
    let rest = purl.trim().strip_prefix("pkg:")?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let rest = rest.split('?').next().unwrap_or(rest);
    let (path, version) = match rest.rfind('@') {
        Some(at) if at > rest.rfind('/').unwrap_or(0) => {
            (&rest[..at], Some(decode(&rest[at + 1..])))
        }
        _ => (rest, None),
    };
    let path = decode(path.trim_start_matches('/'));
    let (kind, name) = path.split_once('/')?;
    let kind = kind.to_ascii_lowercase();
    let name = if kind == "pypi" {
        name.to_ascii_lowercase().replace(['_', '.'], "-")
    } else {
        name.to_owned()
    };
    Some((format!("{kind}/{name}"), version.filter(|v| !v.is_empty())))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a VEX product names the package `purl`.
pub(crate) fn purl_matches(product: &str, purl: &str) -> bool {
    if product == purl {
        return true;
    }
    match (purl_key(product), purl_key(purl)) {
        (Some((pp, pv)), Some((fp, fv))) => pp == fp && (pv.is_none() || pv == fv),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_compare_without_qualifiers() {
        let pkg = "pkg:pypi/requests@2.19.1";
        assert!(purl_matches("pkg:pypi/requests@2.19.1?arch=x", pkg));
        assert!(purl_matches("pkg:pypi/Requests", pkg));
        assert!(!purl_matches("pkg:pypi/requests@2.20.0", pkg));
        assert!(!purl_matches("pkg:npm/requests@2.19.1", pkg));
        assert!(purl_matches(
            "pkg:npm/@babel/core@7.0.0",
            "pkg:npm/%40babel/core@7.0.0"
        ));
        assert!(purl_matches(
            "pkg:deb/debian/openssl@1.1.1n-0%2Bdeb11u4",
            "pkg:deb/debian/openssl@1.1.1n-0+deb11u4?arch=amd64&distro=debian-11"
        ));
        assert!(!purl_matches("not a purl", pkg));
    }

    #[test]
    fn openvex_and_cyclonedx_statements() {
        let open = br#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[
            {"vulnerability":{"name":"CVE-1","aliases":["GHSA-1"]},
             "products":[{"@id":"pkg:pypi/a@1"}],"status":"not_affected",
             "justification":"vulnerable_code_not_in_execute_path"},
            {"vulnerability":{"name":"CVE-2"},"products":[{"@id":"pkg:pypi/a"}],
             "status":"affected","action_statement":"upgrade"}]}"#;
        let s = parse(open, Path::new("o.json")).unwrap();
        let set = VexSet { statements: s };
        let hit = set.matching("GHSA-1", &[], "pkg:pypi/a@1").unwrap();
        assert!(hit.suppresses());
        assert_eq!(
            hit.reason(),
            "VEX not_affected: vulnerable_code_not_in_execute_path (o.json)"
        );
        let hit = set
            .matching("PYSEC-9", &["CVE-2".to_owned()], "pkg:pypi/a@7")
            .unwrap();
        assert!(!hit.suppresses());
        assert_eq!(hit.annotation().status, "affected");
        assert!(set.matching("CVE-1", &[], "pkg:pypi/a@2").is_none());

        let cdx = br#"{"bomFormat":"CycloneDX","specVersion":"1.6",
            "components":[{"bom-ref":"c1","purl":"pkg:golang/x@v1.0.0"}],
            "vulnerabilities":[{"id":"GO-1","analysis":{"state":"false_positive"},
              "affects":[{"ref":"c1"}]},
              {"id":"GO-2","analysis":{"state":"in_triage"},"affects":[{"ref":"pkg:golang/x"}]}]}"#;
        let set = VexSet {
            statements: parse(cdx, Path::new("c.json")).unwrap(),
        };
        assert!(
            set.matching("GO-1", &[], "pkg:golang/x@v1.0.0")
                .unwrap()
                .suppresses()
        );
        let t = set.matching("GO-2", &[], "pkg:golang/x@v1.0.0").unwrap();
        assert_eq!(t.annotation().status, "under_investigation");
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            &b"garbage"[..],
            br#"{"hello":1}"#,
            br#"{"statements":[{"vulnerability":{"name":"X"},"products":[{"@id":"pkg:pypi/a"}],"status":"bogus"}]}"#,
            br#"{"statements":[{"vulnerability":{"name":"X"},"products":[{"@id":"pkg:pypi/a"}],"status":"not_affected"}]}"#,
            br#"{"vulnerabilities":[{"id":"X","analysis":{"state":"nope"},"affects":[]}]}"#,
        ] {
            assert!(parse(bad, Path::new("x")).is_err());
        }
    }
}
