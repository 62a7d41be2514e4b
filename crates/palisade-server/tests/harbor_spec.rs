//! The Harbor scanner adapter's documents, checked against the official OpenAPI spec
//! (goharbor/pluggable-scanner-spec v1.1 and v1.2) with PyPI `openapi-core`: the metadata of
//! both versions, the vulnerability report and both SBOM reports of a real scan of the
//! testbed's app image (database imported from the shared feed snapshots), the scan response,
//! error bodies of every status, a 302 with `Refresh-After`; and wrong documents the validator
//! must reject, so that this test can fail.
//!
//! The spec: `$PALISADE_HARBOR_SPEC_DIR` (a directory holding
//! `scanner-adapter-openapi-v1.1.yaml` and `-v1.2.yaml`), else extracted from the fetched
//! spec repository, a bare git directory: `$PALISADE_HARBOR_SPEC_GIT_DIR`, by default
//! `/work/.mirror/goharbor+pluggable-scanner-spec/repo`. Without either the test fails, unless `PALISADE_HARBOR_SPEC_OPTIONAL=1`, when
//! it says so loudly and passes. The validator: `$PALISADE_TEST_PYTHON`, else
//! `target/pyvenv/bin/python` (`tools/test-all.sh` installs `openapi-core` there).
#![allow(clippy::print_stderr)] // the notice when the spec may be missing; the validator's lines

mod ca;
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_scan::{
    Filters, IgnoreList, Report, Scanner, Silent, SourceOptions, VexSet, VulnDb, advisory_texts,
    open_image,
};
use palisade_server::harbor::{self, Artifact, ReportKind, SbomMediaType};
use serde_json::{Value, json};

const SPEC_DIR_ENV: &str = "PALISADE_HARBOR_SPEC_DIR";
const SPEC_OPTIONAL_ENV: &str = "PALISADE_HARBOR_SPEC_OPTIONAL";
const SPEC_GIT_DIR_ENV: &str = "PALISADE_HARBOR_SPEC_GIT_DIR";
const SPEC_GIT_DIR: &str = "/work/.mirror/goharbor+pluggable-scanner-spec/repo";
const SPEC_FILES: [&str; 2] = [
    "scanner-adapter-openapi-v1.1.yaml",
    "scanner-adapter-openapi-v1.2.yaml",
];
const REPORT_PATH: &str = "/api/v1/scan/3fa85f64-5717-4562-b3fc-2c963f66afa6/report";
const GENERATED_AT: &str = "2026-12-06T12:00:00Z";

/// The spec's directory (and the temporary directory holding it, when extracted), or why
/// there is none.
fn spec_dir() -> Result<(PathBuf, Option<tempfile::TempDir>), String> {
    if let Some(dir) = std::env::var_os(SPEC_DIR_ENV) {
        let dir = PathBuf::from(dir);
        for f in SPEC_FILES {
            assert!(
                dir.join(f).is_file(),
                "{SPEC_DIR_ENV}={}: {f} is not there",
                dir.display()
            );
        }
        return Ok((dir, None));
    }
    let git_dir = std::env::var_os(SPEC_GIT_DIR_ENV)
        .map_or_else(|| PathBuf::from(SPEC_GIT_DIR), PathBuf::from);
    if !git_dir.is_dir() {
        return Err(format!(
            "no {SPEC_DIR_ENV}, and no spec repository at {}",
            git_dir.display()
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    for f in SPEC_FILES {
        let out = Command::new("git")
            .arg(format!("--git-dir={}", git_dir.display()))
            .args(["show", &format!("HEAD:api/spec/{f}")])
            .output()
            .map_err(|e| format!("running git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git --git-dir={} show HEAD:api/spec/{f}: {}",
                git_dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::fs::write(tmp.path().join(f), &out.stdout).unwrap();
    }
    Ok((tmp.path().to_path_buf(), Some(tmp)))
}

fn python() -> PathBuf {
    let p = std::env::var_os("PALISADE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target/pyvenv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run tools/test-all.sh (it installs openapi-core into target/pyvenv), \
         or set PALISADE_TEST_PYTHON to a Python with openapi-core==0.23.*",
        p.display()
    );
    p
}

/// One response to check.
struct Case {
    label: String,
    spec: &'static str,
    method: &'static str,
    path: &'static str,
    args: Value,
    status: u16,
    content_type: Option<&'static str>,
    headers: Value,
    body: String,
    valid: bool,
    request: bool,
}

impl Case {
    fn new(
        label: &str,
        spec: &'static str,
        method: &'static str,
        path: &'static str,
        status: u16,
        content_type: Option<&'static str>,
        body: &Value,
    ) -> Case {
        Case {
            label: label.to_owned(),
            spec,
            method,
            path,
            args: json!({}),
            status,
            content_type,
            headers: json!({}),
            body: serde_json::to_string(body).unwrap(),
            valid: true,
            request: false,
        }
    }

    /// A scan request body (checked as a request, not a response).
    fn scan_request(
        label: &str,
        spec: &'static str,
        content_type: &'static str,
        body: &Value,
    ) -> Case {
        let mut c = Case::new(
            label,
            spec,
            "post",
            "/api/v1/scan",
            0,
            Some(content_type),
            body,
        );
        c.request = true;
        c
    }

    fn args(mut self, args: Value) -> Case {
        self.args = args;
        self
    }

    fn invalid(mut self) -> Case {
        self.valid = false;
        self.label.push_str(" [must be rejected]");
        self
    }

    fn json(&self) -> Value {
        json!({
            "label": self.label,
            "spec": self.spec,
            "method": self.method,
            "path": self.path,
            "args": self.args,
            "status": self.status,
            "content_type": self.content_type,
            "headers": self.headers,
            "body": self.body,
            "expect": if self.valid { "valid" } else { "invalid" },
            "kind": if self.request { "request" } else { "response" },
        })
    }
}

/// The app image's manifest digest, from the testbed layout's index.
fn app_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "app")
        .and_then(|m| m["digest"].as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn harbor_documents_follow_the_official_spec() {
    let (spec, _keep) = match spec_dir() {
        Ok(found) => found,
        Err(why) if std::env::var_os(SPEC_OPTIONAL_ENV).is_some_and(|v| v == "1") => {
            eprintln!(
                "\n######## NOT CHECKED: the Harbor scanner adapter spec is unavailable ({why}); \
                 {SPEC_OPTIONAL_ENV}=1 lets this test pass without checking anything. ########\n"
            );
            return;
        }
        Err(why) => panic!(
            "the Harbor scanner adapter spec is unavailable ({why}). Provide it: set \
             {SPEC_DIR_ENV} to a directory holding {} and {} (from \
             https://github.com/goharbor/pluggable-scanner-spec, api/spec/), or point \
             {SPEC_GIT_DIR_ENV} at a bare clone of that repository (default {SPEC_GIT_DIR}); \
             or set {SPEC_OPTIONAL_ENV}=1 to skip the check",
            SPEC_FILES[0], SPEC_FILES[1]
        ),
    };
    let python = python();

    // A real scan of the testbed's app image with a database from the feed snapshots.
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("vuln.db");
    let feeds = common::feeds();
    palisade_vulndb::import_feeds(
        &db_path,
        &[
            feeds.join("osv/PyPI/all.zip"),
            feeds.join("nvd/nvdcve-2.0-excerpt.json"),
            feeds.join("kev/known_exploited_vulnerabilities.json"),
        ],
        &palisade_vulndb::ImportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let db = VulnDb::new(db_path);
    let options = SourceOptions {
        no_cache: true,
        cache_dir: Some(tmp.path().join("cache")),
        ..SourceOptions::default()
    };
    let layout = common::testbed().join("oci");
    let image = open_image(&format!("oci-dir:{}:app", layout.display()), &options).unwrap();
    let (catalog, evaluated) = Scanner::new(&db, &options, &Silent)
        .scan_image(&image)
        .unwrap();
    let report = Report::new(
        &catalog,
        evaluated,
        &Filters::default(),
        IgnoreList::default(),
        &VexSet::default(),
    );
    assert!(
        !report.findings.is_empty(),
        "the app image's vulnerable Python packages gave no finding"
    );
    let texts = advisory_texts(db.database().unwrap(), &report.findings).unwrap();

    let artifact = Artifact {
        repository: "library/app".into(),
        digest: app_digest(&layout),
        tag: Some("1.0".into()),
        mime_type: Some(harbor::OCI_IMAGE_MANIFEST.into()),
    };
    let vulns = harbor::vulnerability_report(&report, &artifact, GENERATED_AT, &texts);

    // The report holds exactly the scan's findings, in report order.
    let items = vulns["vulnerabilities"].as_array().unwrap();
    let ours: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap(),
                v["package"].as_str().unwrap(),
                v["version"].as_str().unwrap(),
            )
        })
        .collect();
    let scanned: Vec<(&str, &str, &str)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.package.name.as_str(),
                f.package.version.as_str(),
            )
        })
        .collect();
    assert_eq!(ours, scanned);
    assert_eq!(
        vulns["severity"],
        harbor::harbor_severity(harbor::overall_severity(&report.findings))
    );
    assert_ne!(vulns["severity"], "Unknown", "{vulns:#}");
    // Something the feeds rate with CVSS v3 and summarise.
    assert!(
        items
            .iter()
            .any(|v| v["preferred_cvss"]["score_v3"].is_number()),
        "no CVSS v3 score in {vulns:#}"
    );
    assert!(
        report
            .findings
            .iter()
            .zip(items)
            .any(|(f, v)| v["description"] != f.why.as_str()),
        "no advisory summary used as a description"
    );
    for (f, v) in report.findings.iter().zip(items) {
        if !f.fixed_versions.is_empty() {
            assert!(
                f.fixed_versions
                    .iter()
                    .any(|x| v["fix_version"] == x.as_str()),
                "{v:#}"
            );
        }
    }
    let ids: BTreeSet<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        items
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect::<BTreeSet<_>>()
            .len()
    );

    let sbom = |t| harbor::sbom_report(&catalog, t, &artifact, GENERATED_AT);
    let spdx = sbom(SbomMediaType::Spdx);
    let cyclonedx = sbom(SbomMediaType::CycloneDx);
    assert_eq!(
        spdx["sbom"]["spdxVersion"], "SPDX-2.3",
        "{:#}",
        spdx["sbom"]
    );
    assert_eq!(cyclonedx["sbom"]["bomFormat"], "CycloneDX");

    // Negotiation gives the content types the cases below are sent with.
    let kind = |accept: &str, q: Option<&str>| {
        harbor::negotiate_report(Some(accept), q)
            .unwrap()
            .content_type()
    };
    let vuln_security = kind(
        "application/vnd.security.vulnerability.report;version=1.1",
        None,
    );
    let vuln_harbor = kind(harbor::VULN_REPORT_HARBOR, None);
    let sbom_type = kind(harbor::SBOM_REPORT, Some(harbor::SPDX_JSON));
    assert_eq!(
        harbor::negotiate_report(Some(harbor::SBOM_REPORT), Some(harbor::CYCLONEDX_JSON)),
        Ok(ReportKind::Sbom(SbomMediaType::CycloneDx))
    );

    let (meta11_type, meta11) = harbor::metadata(
        harbor::metadata_version_1_2(Some(harbor::METADATA_V1_0)),
        harbor::SCANNER_VERSION,
        report.db.built.as_deref(),
    );
    let (meta12_type, meta12) = harbor::metadata(
        harbor::metadata_version_1_2(Some(harbor::METADATA_V1_1)),
        harbor::SCANNER_VERSION,
        report.db.built.as_deref(),
    );
    assert_eq!(meta11_type, harbor::METADATA_V1_0);
    assert_eq!(meta12_type, harbor::METADATA_V1_1);

    let bad_json = harbor::parse_scan_request(b"{").unwrap_err();
    let bad_field = harbor::parse_scan_request(
        br#"{"registry":{"url":"https://h"},"artifact":{"repository":"a","digest":"md5:1"}}"#,
    )
    .unwrap_err();
    let no_sbom_type = harbor::negotiate_report(Some(harbor::SBOM_REPORT), None).unwrap_err();
    let raw = harbor::negotiate_report(Some(harbor::VULN_REPORT_RAW), None).unwrap_err();
    assert_eq!(
        (
            bad_json.status(),
            bad_field.status(),
            no_sbom_type.status(),
            raw.status()
        ),
        (400, 422, 400, 501)
    );
    let error = Some(harbor::ERROR);
    let get = "get";
    let post = "post";
    let sbom_args = |t: &str| json!({ "sbom_media_type": t });

    let mut cases = Vec::new();
    for spec in ["1.1", "1.2"] {
        cases.extend([
            Case::new(
                "metadata v1.1",
                spec,
                get,
                "/api/v1/metadata",
                200,
                Some(meta11_type),
                &meta11,
            ),
            Case::new(
                "metadata 500",
                spec,
                get,
                "/api/v1/metadata",
                500,
                error,
                &harbor::error_body("db"),
            ),
            Case::new(
                "scan 202",
                spec,
                post,
                "/api/v1/scan",
                202,
                Some(harbor::SCAN_RESPONSE),
                &harbor::scan_response("3fa85f64"),
            ),
            Case::new(
                "scan 400",
                spec,
                post,
                "/api/v1/scan",
                400,
                error,
                &bad_json.body(),
            ),
            Case::new(
                "scan 422",
                spec,
                post,
                "/api/v1/scan",
                422,
                error,
                &bad_field.body(),
            ),
            Case::new(
                "report security+1.1",
                spec,
                get,
                REPORT_PATH,
                200,
                Some(vuln_security),
                &vulns,
            ),
            Case::new(
                "report harbor+json 1.0",
                spec,
                get,
                REPORT_PATH,
                200,
                Some(vuln_harbor),
                &vulns,
            ),
            Case::new(
                "report 404",
                spec,
                get,
                REPORT_PATH,
                404,
                None,
                &Value::Null,
            ),
            Case::new(
                "report 500",
                spec,
                get,
                REPORT_PATH,
                500,
                error,
                &harbor::error_body("scan failed"),
            ),
        ]);
        let mut not_ready = Case::new(
            "report 302",
            spec,
            get,
            REPORT_PATH,
            302,
            None,
            &Value::Null,
        );
        not_ready.body = String::new();
        not_ready.headers =
            json!({ harbor::REFRESH_AFTER_HEADER: harbor::DEFAULT_REFRESH_AFTER_SECS.to_string() });
        cases.push(not_ready);
    }
    for c in &mut cases {
        if c.status == 404 {
            c.body = String::new();
        }
    }
    cases.extend([
        Case::new(
            "metadata v1.2",
            "1.2",
            get,
            "/api/v1/metadata",
            200,
            Some(meta12_type),
            &meta12,
        ),
        Case::new(
            "scan 501",
            "1.2",
            post,
            "/api/v1/scan",
            501,
            error,
            &harbor::error_body("mime type"),
        ),
        Case::new(
            "report SPDX",
            "1.2",
            get,
            REPORT_PATH,
            200,
            Some(sbom_type),
            &spdx,
        )
        .args(sbom_args(harbor::SPDX_JSON)),
        Case::new(
            "report CycloneDX",
            "1.2",
            get,
            REPORT_PATH,
            200,
            Some(sbom_type),
            &cyclonedx,
        )
        .args(sbom_args(harbor::CYCLONEDX_JSON)),
        Case::new(
            "report 400",
            "1.2",
            get,
            REPORT_PATH,
            400,
            error,
            &no_sbom_type.body(),
        ),
        Case::new(
            "report 501",
            "1.2",
            get,
            REPORT_PATH,
            501,
            error,
            &raw.body(),
        ),
    ]);

    // Scan requests Palisade accepts are requests the spec accepts. (Not `parameters: null`:
    // the spec means it to be valid, "nullable", but openapi-core applies the `oneOf` to null
    // and rejects it; Harbor sends it, so the unit tests accept it.)
    let digest = artifact.digest.clone();
    let v1_0_request = json!({
        "registry": { "url": "http://harbor-core:8080", "authorization": "Bearer x.y.z" },
        "artifact": { "repository": "library/app", "digest": digest, "tag": "1.0",
                      "mime_type": harbor::OCI_IMAGE_MANIFEST },
    });
    let mut v1_1_request = v1_0_request.clone();
    v1_1_request["enabled_capabilities"] = json!([
        { "type": "vulnerability", "produces_mime_types": [harbor::VULN_REPORT_SECURITY] },
        { "type": "sbom", "produces_mime_types": [harbor::SBOM_REPORT],
          "parameters": { "sbom_media_types": [harbor::SPDX_JSON, harbor::CYCLONEDX_JSON] } },
    ]);
    for r in [&v1_0_request, &v1_1_request] {
        harbor::parse_scan_request(&serde_json::to_vec(r).unwrap()).unwrap();
    }
    let mut bad_sbom_request = v1_1_request.clone();
    bad_sbom_request["enabled_capabilities"][1]["parameters"]["sbom_media_types"] =
        json!(["text/plain"]);
    assert_eq!(
        harbor::parse_scan_request(&serde_json::to_vec(&bad_sbom_request).unwrap())
            .unwrap_err()
            .status(),
        422
    );
    cases.extend([
        Case::scan_request(
            "scan request v1.0",
            "1.1",
            harbor::SCAN_REQUEST_V1_0,
            &v1_0_request,
        ),
        Case::scan_request(
            "scan request v1.0",
            "1.2",
            harbor::SCAN_REQUEST_V1_0,
            &v1_0_request,
        ),
        Case::scan_request(
            "scan request v1.1",
            "1.2",
            harbor::SCAN_REQUEST_V1_1,
            &v1_1_request,
        ),
        Case::scan_request(
            "scan request, SBOM type text/plain",
            "1.2",
            harbor::SCAN_REQUEST_V1_1,
            &bad_sbom_request,
        )
        .invalid(),
    ]);

    // What the validator must reject: else a green run proves nothing.
    let mut none_severity = vulns.clone();
    none_severity["severity"] = json!("None");
    let mut item_severity = vulns.clone();
    item_severity["vulnerabilities"][0]["severity"] = json!("Severe");
    let mut no_capabilities = meta12.clone();
    no_capabilities
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let mut bad_sbom_type = spdx.clone();
    bad_sbom_type["media_type"] = json!("text/plain");
    let mut bad_link = vulns.clone();
    bad_link["vulnerabilities"][0]["links"] = json!(["not a uri"]);
    let mut bad_date = vulns.clone();
    bad_date["generated_at"] = json!("yesterday");
    let mut bad_refresh = Case::new(
        "report 302 Refresh-After soon",
        "1.2",
        get,
        REPORT_PATH,
        302,
        None,
        &Value::Null,
    )
    .invalid();
    bad_refresh.body = String::new();
    bad_refresh.headers = json!({ harbor::REFRESH_AFTER_HEADER: "soon" });
    cases.extend([
        Case::new(
            "report severity None",
            "1.2",
            get,
            REPORT_PATH,
            200,
            Some(vuln_security),
            &none_severity,
        )
        .invalid(),
        Case::new(
            "report item severity Severe",
            "1.1",
            get,
            REPORT_PATH,
            200,
            Some(vuln_harbor),
            &item_severity,
        )
        .invalid(),
        Case::new(
            "report generated_at yesterday",
            "1.2",
            get,
            REPORT_PATH,
            200,
            Some(vuln_security),
            &bad_date,
        )
        .invalid(),
        Case::new(
            "metadata without capabilities",
            "1.2",
            get,
            "/api/v1/metadata",
            200,
            Some(meta12_type),
            &no_capabilities,
        )
        .invalid(),
        Case::new(
            "metadata version=1.1 under spec v1.1",
            "1.1",
            get,
            "/api/v1/metadata",
            200,
            Some(meta12_type),
            &meta12,
        )
        .invalid(),
        Case::new(
            "metadata with spaces dropped",
            "1.2",
            get,
            "/api/v1/metadata",
            200,
            Some("application/vnd.scanner.adapter.metadata+json;version=1.1"),
            &meta12,
        )
        .invalid(),
        Case::new(
            "SBOM report media_type text/plain",
            "1.2",
            get,
            REPORT_PATH,
            200,
            Some(sbom_type),
            &bad_sbom_type,
        )
        .args(sbom_args(harbor::SPDX_JSON))
        .invalid(),
        Case::new(
            "error status 418",
            "1.2",
            get,
            REPORT_PATH,
            418,
            error,
            &harbor::error_body("teapot"),
        )
        .invalid(),
        bad_refresh,
    ]);
    // openapi-core checks `format: uri` only when jsonschema's optional URI checker is
    // installed; check the links here, and the rejection too when it is.
    for link in items.iter().flat_map(|v| v["links"].as_array().unwrap()) {
        let link = link.as_str().unwrap();
        assert!(
            link.starts_with("https://")
                && link.len() > "https://".len()
                && link.bytes().all(|b| b.is_ascii_graphic()),
            "{link:?} is not a URI"
        );
    }
    let with_uri = Command::new(&python)
        .args([
            "-c",
            "import sys; from openapi_schema_validator import OAS30Validator as V; \
             sys.exit('uri' not in V.FORMAT_CHECKER.checkers)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if with_uri {
        cases.push(
            Case::new(
                "report link not a URI",
                "1.2",
                get,
                REPORT_PATH,
                200,
                Some(vuln_security),
                &bad_link,
            )
            .invalid(),
        );
    }

    validate(&python, &spec, &cases, tmp.path());
}

/// Runs validate.py over `cases`; every case must come out as expected.
fn validate(python: &Path, spec: &Path, cases: &[Case], tmp: &Path) {
    let cases_path = tmp.join("cases.json");
    std::fs::write(
        &cases_path,
        serde_json::to_vec_pretty(&cases.iter().map(Case::json).collect::<Vec<_>>()).unwrap(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harbor/validate.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(spec)
        .arg(&cases_path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("validate.py:\n{text}"); // shown with --nocapture
    assert!(out.status.success(), "validate.py:\n{text}");
    let checked = text.lines().filter(|l| l.starts_with("ok   v")).count();
    assert_eq!(checked, cases.len(), "validate.py:\n{text}");
}

/// One answer of the served adapter: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

fn call(
    https: std::net::SocketAddr,
    ca: &Path,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "60", "-X", method, "--cacert"])
        .arg(ca)
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.arg(format!("https://{https}{path}")).output().unwrap();
    assert!(out.status.success(), "curl {path}: {}", common::text(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The adapter as `palisade serve` serves it under `/harbor`: a scan request for the testbed
/// app image in a real registry (with the Basic `authorization` Harbor sends) is queued,
/// answered 302 with `Refresh-After` until done, and then reports the same findings as
/// `palisade scan` on that image with the same database; every answer is checked against
/// the spec.
#[test]
fn served_adapter_reports_what_palisade_scan_finds() {
    if let Some(why) = common::missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let spec = match spec_dir() {
        Ok(found) => Some(found),
        Err(why) if std::env::var_os(SPEC_OPTIONAL_ENV).is_some_and(|v| v == "1") => {
            eprintln!(
                "\n######## NOT CHECKED against the spec: it is unavailable ({why}); the \
                 served adapter's findings are still compared with palisade scan ########\n"
            );
            None
        }
        Err(why) => {
            panic!("the Harbor scanner adapter spec is unavailable ({why}); see {SPEC_DIR_ENV}")
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    common::import_db(&d.join("vuln.db"));
    std::fs::write(
        d.join("policy.yaml"),
        "version: 1\nname: harbor-e2e\nvulnerabilities:\n  max_cvss: 8.9\n",
    )
    .unwrap();
    let ca = ca::Ca::new("palisade harbor test CA");
    ca.write(&d.join("ca.crt"));
    ca.server(1).write(d, "tls");
    std::fs::write(
        d.join("serve.yaml"),
        "listen: 127.0.0.1:0\ntls: {cert: tls.crt, key: tls.key}\npolicy: policy.yaml\n\
         db: vuln.db\ncache_dir: cache\nstore: {location: store.db}\n",
    )
    .unwrap();
    let registry = common::Registry::start();
    common::push("app", &registry.addr, "testbed/app:v1");
    let reference = format!("{}/testbed/app:v1", registry.addr);
    let digest = common::registry_digest(&reference);
    let serve = common::serve::Serve::start(&d.join("serve.yaml"), &cache);
    let mint = |role: &str| {
        let out = common::palisade(
            &[
                "store",
                "token",
                "create",
                "--config",
                d.join("serve.yaml").to_str().unwrap(),
                "--name",
                "harbor",
                "--role",
                role,
            ],
            &cache,
        );
        assert!(out.status.success(), "{}", common::text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let token = mint("admin");
    let reader = mint("read");
    let ca_file = d.join("ca.crt");
    let mut cases = Vec::new();

    let meta = call(
        serve.https,
        &ca_file,
        &token,
        "GET",
        "/harbor/api/v1/metadata",
        &[("Accept", harbor::METADATA_V1_0)],
        None,
    );
    assert_eq!(meta.status, 200, "{}", meta.body);
    assert_eq!(meta.headers["content-type"], harbor::METADATA_V1_0);
    let m: Value = serde_json::from_str(&meta.body).unwrap();
    assert!(
        m["properties"]["harbor.scanner-adapter/vulnerability-database-updated-at"].is_string()
    );
    cases.push(served_case(
        "served metadata",
        "1.1",
        "get",
        "/api/v1/metadata",
        &meta,
    ));
    // A read-only token cannot queue scans; no token at all is refused.
    assert_eq!(
        call(
            serve.https,
            &ca_file,
            &reader,
            "GET",
            "/harbor/api/v1/metadata",
            &[],
            None
        )
        .status,
        403
    );
    assert_eq!(
        call(
            serve.https,
            &ca_file,
            "pal_nope",
            "GET",
            "/harbor/api/v1/metadata",
            &[],
            None
        )
        .status,
        401
    );

    let request = json!({
        "registry": {"url": format!("http://{}", registry.addr), "authorization": "Basic aGFyYm9yOnNlY3JldA=="},
        "artifact": {"repository": "testbed/app", "digest": digest, "tag": "v1",
                     "mime_type": "application/vnd.oci.image.manifest.v1+json"},
        "enabled_capabilities": [{"type": "vulnerability"}, {"type": "sbom", "parameters": {"sbom_media_types": ["application/spdx+json"]}}],
    })
    .to_string();
    let accepted = call(
        serve.https,
        &ca_file,
        &token,
        "POST",
        "/harbor/api/v1/scan",
        &[("Content-Type", harbor::SCAN_REQUEST_V1_1)],
        Some(&request),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    cases.push(served_case(
        "served scan response",
        "1.2",
        "post",
        "/api/v1/scan",
        &accepted,
    ));
    let id = serde_json::from_str::<Value>(&accepted.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path: &'static str = Box::leak(format!("/api/v1/scan/{id}/report").into_boxed_str());
    let mut pending_seen = false;
    let report = common::wait_for(std::time::Duration::from_secs(90), || {
        let a = call(
            serve.https,
            &ca_file,
            &token,
            "GET",
            &format!("/harbor{path}"),
            &[("Accept", harbor::VULN_REPORT_SECURITY)],
            None,
        );
        if a.status == 302 {
            assert!(
                a.headers["refresh-after"].parse::<u8>().is_ok(),
                "{:?}",
                a.headers
            );
            if !pending_seen {
                cases.push(served_case("served 302", "1.2", "get", path, &a));
                pending_seen = true;
            }
            return None;
        }
        Some(a)
    })
    .expect("the report");
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(report.headers["content-type"], harbor::VULN_REPORT_SECURITY);
    cases.push(served_case(
        "served vulnerability report",
        "1.2",
        "get",
        path,
        &report,
    ));
    let served: Value = serde_json::from_str(&report.body).unwrap();
    let mut got: Vec<(String, String, String)> = served["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["package"].as_str().unwrap().to_owned(),
                v["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let out = common::palisade(
        &[
            "scan",
            &format!("registry:{reference}"),
            "--db",
            d.join("vuln.db").to_str().unwrap(),
            "--format",
            "json",
        ],
        &cache,
    );
    let scan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", common::text(&out)));
    let mut want: Vec<(String, String, String)> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["package"]["name"].as_str().unwrap().to_owned(),
                f["package"]["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    let sbom = call(
        serve.https,
        &ca_file,
        &token,
        "GET",
        &format!("/harbor{path}?sbom_media_type=application/spdx%2Bjson"),
        &[("Accept", harbor::SBOM_REPORT)],
        None,
    );
    assert_eq!(sbom.status, 200, "{}", sbom.body);
    let mut c = served_case("served SPDX report", "1.2", "get", path, &sbom);
    c.args = json!({"sbom_media_type": "application/spdx+json"});
    cases.push(c);
    let missing = call(
        serve.https,
        &ca_file,
        &token,
        "GET",
        "/harbor/api/v1/scan/00000000-0000-4000-8000-000000000000/report",
        &[("Accept", harbor::VULN_REPORT_SECURITY)],
        None,
    );
    assert_eq!(missing.status, 404);

    // Harbor's registry credential is not kept once the scan is done.
    let jobs = call(
        serve.https,
        &ca_file,
        &token,
        "GET",
        "/api/v1/jobs?kind=harbor",
        &[],
        None,
    );
    assert!(
        jobs.body.contains(&id) && !jobs.body.contains("Basic "),
        "{}",
        jobs.body
    );

    if let Some((spec, _keep)) = spec {
        validate(&python(), &spec, &cases, d);
    }
}

fn served_case(
    label: &str,
    spec: &'static str,
    method: &'static str,
    path: &'static str,
    a: &Answer,
) -> Case {
    let mut c = Case::new(
        label,
        spec,
        method,
        path,
        a.status,
        a.headers
            .get("content-type")
            .map(|t| &*Box::leak(t.clone().into_boxed_str())),
        &Value::Null,
    );
    c.body = a.body.clone();
    if let Some(r) = a.headers.get("refresh-after") {
        c.headers = json!({"Refresh-After": r});
    }
    c
}
