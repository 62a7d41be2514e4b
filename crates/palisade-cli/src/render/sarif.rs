//! SARIF 2.1.0, the one builder behind `scan`, `gate` and `bench` `--format sarif`: typed
//! rules and results in, one log with one run of Palisade out.

use serde_json::{Value, json};

pub(crate) const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The project's address: the package's `repository`, else the workspace's.
pub(crate) fn information_uri() -> &'static str {
    match env!("CARGO_PKG_REPOSITORY") {
        "" => "https://example.invalid/palisade",
        r => r,
    }
}

/// A result's or rule's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// A rule (`tool.driver.rules[]`).
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) short: String,
    pub(crate) full: Option<String>,
    /// Help as text and Markdown.
    pub(crate) help: Option<(String, String)>,
    pub(crate) help_uri: Option<String>,
    pub(crate) default_level: Option<Level>,
    pub(crate) properties: Option<Value>,
}

/// A result's location: a physical location and logical names.
pub(crate) struct Location {
    pub(crate) physical: Option<Value>,
    pub(crate) logical: Value,
}

/// A result (`runs[0].results[]`).
pub(crate) struct Finding {
    pub(crate) rule_id: String,
    pub(crate) rule_index: Option<usize>,
    pub(crate) level: Level,
    pub(crate) message: String,
    pub(crate) location: Location,
    pub(crate) properties: Value,
    /// Why it is suppressed: `(kind, justification)`.
    pub(crate) suppression: Option<(&'static str, String)>,
}

/// A SARIF log with one run of Palisade.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) rules: Vec<Rule>,
    pub(crate) results: Vec<Finding>,
    /// Tool notifications (warnings about the run, not results).
    pub(crate) notifications: Vec<(String, String)>,
    /// The run's `properties`.
    pub(crate) properties: Option<Value>,
}

impl Log {
    pub(crate) fn to_value(&self) -> Value {
        let rules: Vec<Value> = self.rules.iter().map(rule_value).collect();
        let results: Vec<Value> = self.results.iter().map(result_value).collect();
        let mut run = json!({
            "tool": {"driver": {
                "name": "palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": information_uri(),
                "rules": rules,
            }},
            "results": results,
        });
        if let Some(p) = &self.properties {
            run["properties"] = p.clone();
        }
        if !self.notifications.is_empty() {
            run["invocations"] = json!([{
                "executionSuccessful": true,
                "toolExecutionNotifications": self
                    .notifications
                    .iter()
                    .map(|(id, text)| json!({
                        "level": "warning",
                        "descriptor": {"id": id},
                        "message": {"text": text},
                    }))
                    .collect::<Vec<_>>(),
            }]);
        }
        json!({
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [run],
        })
    }
}

fn rule_value(r: &Rule) -> Value {
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "shortDescription": {"text": r.short},
    });
    if let Some(full) = &r.full {
        v["fullDescription"] = json!({"text": full});
    }
    if let Some((text, markdown)) = &r.help {
        v["help"] = json!({"text": text, "markdown": markdown});
    }
    if let Some(uri) = &r.help_uri {
        v["helpUri"] = json!(uri);
    }
    if let Some(level) = r.default_level {
        v["defaultConfiguration"] = json!({"level": level.as_str()});
    }
    if let Some(p) = &r.properties {
        v["properties"] = p.clone();
    }
    v
}

fn result_value(r: &Finding) -> Value {
    let mut loc = json!({"logicalLocations": r.location.logical});
    if let Some(p) = &r.location.physical {
        loc["physicalLocation"] = p.clone();
    }
    let mut v = json!({
        "ruleId": r.rule_id,
        "level": r.level.as_str(),
        "message": {"text": r.message},
        "locations": [loc],
        "properties": r.properties,
    });
    if let Some(i) = r.rule_index {
        v["ruleIndex"] = json!(i);
    }
    if let Some((kind, justification)) = &r.suppression {
        v["suppressions"] = json!([{
            "kind": kind,
            "status": "accepted",
            "justification": justification,
        }]);
    }
    v
}

/// Where a result without a file of its own points: a stable relative URI naming the image
/// (`registry/repository` without tag or digest, or the local path without its prefix), at
/// line 1, as Trivy and Grype do. GitHub code scanning drops results without a physical
/// location.
pub(crate) fn image_location(source: &str) -> Value {
    let mut name = source;
    for prefix in [
        "registry:",
        "docker:",
        "oci-dir:",
        "oci:",
        "oci-archive:",
        "docker-archive:",
        "dir:",
        "sbom:",
    ] {
        if let Some(rest) = source.strip_prefix(prefix) {
            name = rest.trim_start_matches("//");
            break;
        }
    }
    let local =
        name != source && !source.starts_with("registry:") && !source.starts_with("docker:");
    let uri_text = match name.parse::<palisade_image::Reference>() {
        Ok(r) if !local && !std::path::Path::new(name).exists() => r.name(),
        _ => name.to_owned(),
    };
    let mut u = uri(&uri_text);
    if u.is_empty() {
        u = "image".into();
    }
    physical(&u)
}

/// A physical location at line 1 of `relative_uri`.
pub(crate) fn physical(relative_uri: &str) -> Value {
    json!({
        "artifactLocation": {"uri": relative_uri},
        "region": {"startLine": 1},
    })
}

/// A relative URI reference for a path inside the image: no leading `/`, reserved bytes
/// percent-encoded.
pub(crate) fn uri(path: &str) -> String {
    let mut s = String::new();
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/+@".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            uri("/usr/lib/python3/dist-packages/a b-1.0.dist-info/METADATA"),
            "usr/lib/python3/dist-packages/a%20b-1.0.dist-info/METADATA"
        );
        assert_eq!(uri("/a/b:c#d"), "a/b%3Ac%23d");
    }
}
