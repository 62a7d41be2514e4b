//! The Rego examples of docs/policy.md, taken from the page itself and run against input
//! documents: each must fire where the page says it does (issue 12.10: the `no-root` example
//! tested `input.image.user == "root"` and never fired for an image without USER).

use std::path::Path;

use palisade_policy::{Input, Policy};
use serde_json::json;

fn page() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md");
    std::fs::read_to_string(&path).expect("docs/policy.md")
}

/// The code blocks of `lang` in the section that starts with `heading`.
fn blocks(page: &str, heading: &str, lang: &str) -> Vec<String> {
    let start = page.find(heading).expect("section");
    let rest = &page[start + heading.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut s = section;
    while let Some(i) = s.find(&fence) {
        let body = &s[i + fence.len()..];
        let end = body.find("```").expect("closing fence");
        out.push(body[..end].to_owned());
        s = &body[end..];
    }
    out
}

fn input(user: Option<Option<&str>>, created: &str) -> Input {
    let mut image = json!({
        "reference": "registry.example.com/app:1",
        "created": created,
    });
    if let Some(u) = user {
        image["user"] = json!(u);
    }
    serde_json::from_value(json!({
        "now": "2026-11-28T22:00:00Z",
        "image": image,
    }))
    .expect("input document")
}

/// The policy of the section's YAML example, with its `file:` rule written from the section's
/// Rego example.
fn docs_policy(dir: &Path) -> Policy {
    let page = page();
    let yaml = blocks(&page, "## Rego rules", "yaml");
    let rego = blocks(&page, "## Rego rules", "rego");
    assert_eq!(yaml.len(), 1, "one YAML example in the Rego section");
    assert_eq!(rego.len(), 1, "one Rego example in the Rego section");
    assert!(yaml[0].contains("file: rules/age.rego"));
    std::fs::create_dir_all(dir.join("rules")).expect("rules dir");
    std::fs::write(dir.join("rules/age.rego"), &rego[0]).expect("age.rego");
    let policy = format!("version: 1\n{}", yaml[0]);
    std::fs::write(dir.join("policy.yaml"), policy).expect("policy.yaml");
    Policy::load(&dir.join("policy.yaml")).unwrap_or_else(|e| panic!("docs example loads: {e}"))
}

fn fired(policy: &Policy, input: &Input, rule: &str) -> Vec<String> {
    let e = policy.evaluate(input).expect("evaluates");
    e.decision
        .reasons
        .iter()
        .filter(|r| r.rule == rule)
        .map(|r| r.message.clone())
        .collect()
}

#[test]
fn issue_12_10_no_root_example_fires_without_user_and_for_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = docs_policy(dir.path());
    let recent = "2026-11-01T00:00:00Z";
    for (what, user) in [
        ("no USER (null)", Some(None)),
        ("no user field", None),
        ("USER root", Some(Some("root"))),
        ("USER root:root", Some(Some("root:root"))),
        ("USER 0:0", Some(Some("0:0"))),
    ] {
        assert_eq!(
            fired(&policy, &input(user, recent), "no-root"),
            vec!["the image runs as root".to_owned()],
            "{what}"
        );
    }
    for (what, user) in [("USER app", "app"), ("USER 1000:1000", "1000:1000")] {
        assert!(
            fired(&policy, &input(Some(Some(user)), recent), "no-root").is_empty(),
            "{what}"
        );
    }
}

#[test]
fn image_age_example_fires_for_an_old_image_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = docs_policy(dir.path());
    let old = fired(
        &policy,
        &input(Some(Some("app")), "2026-01-01T00:00:00Z"),
        "max-image-age",
    );
    assert_eq!(old.len(), 1, "{old:?}");
    assert!(old[0].contains("more than 90 days"), "{old:?}");
    assert!(
        fired(
            &policy,
            &input(Some(Some("app")), "2026-11-01T00:00:00Z"),
            "max-image-age"
        )
        .is_empty()
    );
}
