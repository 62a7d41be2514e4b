//! PHP Composer packages: `vendor/composer/installed.json` (what `composer install` put in
//! `vendor/`, in Composer 1's format, a JSON array of packages, or Composer 2's, an object with
//! a `packages` array) and `composer.lock` (its `packages`; `packages-dev` are left out, as
//! production installs use `--no-dev`).
//!
//! Names are `vendor/package` (the PURL's namespace and name); versions are kept as written
//! (`v5.4.1`, `2.0.3`), which is how Packagist advisories compare them.

use serde_json::Value;

use crate::catalogers::{Found, Parsed, shorten};
use crate::package::Ecosystem;

/// The most bytes of an `installed.json` or `composer.lock` that are read.
pub(crate) const MAX_COMPOSER_BYTES: u64 = 32 << 20;

/// Whether `path` is Composer's record of installed packages.
pub(crate) fn is_installed_json_path(path: &str) -> bool {
    path == "vendor/composer/installed.json" || path.ends_with("/vendor/composer/installed.json")
}

/// `vendor/name`: lowercase letters, digits and `_.-` on both sides of one `/`, as Composer
/// requires of package names.
fn valid_name(name: &str) -> bool {
    let Some((vendor, package)) = name.split_once('/') else {
        return false;
    };
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            })
    };
    name.len() <= 214 && part(vendor) && part(package)
}

/// Reads the packages of a JSON array; entries without a valid name and version are warnings.
fn packages(list: &[Value], parsed: &mut Parsed) {
    for (i, p) in list.iter().enumerate() {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let version = p.get("version").and_then(Value::as_str).unwrap_or_default();
        if !valid_name(name)
            || version.is_empty()
            || version.len() > 128
            || version.contains(char::is_whitespace)
        {
            parsed.warnings.push(format!(
                "package {i}: no valid `name` and `version` ({:?} {:?})",
                shorten(name),
                shorten(version)
            ));
            continue;
        }
        let licenses = match p.get("license") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty() && s.len() <= 200)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        parsed.packages.push(Found {
            ecosystem: Ecosystem::Composer,
            name: name.to_owned(),
            version: version.to_owned(),
            licenses,
            ..Found::default()
        });
    }
}

/// Parses `vendor/composer/installed.json`, Composer 1 (an array) or 2 (`{"packages": […]}`).
/// Development packages are listed: they are on disk when the file names them.
pub(crate) fn parse_installed_json(content: &[u8]) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(content).map_err(|e| format!("not valid JSON: {e}"))?;
    let list = match &v {
        Value::Array(list) => list,
        Value::Object(o) => match o.get("packages") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(
                    "an object without a `packages` array: not Composer's installed.json".into(),
                );
            }
        },
        _ => return Err("neither an array nor an object: not Composer's installed.json".into()),
    };
    let mut parsed = Parsed::default();
    packages(list, &mut parsed);
    Ok(parsed)
}

/// Parses `composer.lock`: its `packages`, not its `packages-dev`.
pub(crate) fn parse_lock(content: &[u8]) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(content).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(Value::Array(list)) = v.get("packages") else {
        return Err("no `packages` array: not a composer.lock".into());
    };
    let mut parsed = Parsed::default();
    packages(list, &mut parsed);
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Parsed) -> Vec<(&str, &str)> {
        p.packages
            .iter()
            .map(|f| (f.name.as_str(), f.version.as_str()))
            .collect()
    }

    #[test]
    fn installed_json_v2() {
        // Composer 2.x: https://getcomposer.org/doc/07-runtime.md#installed-json (abridged).
        let v2 = br#"{
    "packages": [
        {
            "name": "guzzlehttp/psr7",
            "version": "1.8.1",
            "version_normalized": "1.8.1.0",
            "source": {"type": "git", "url": "https://github.com/guzzle/psr7.git", "reference": "35ea11d335fd638b5882ff1725228b3d35496ab1"},
            "require": {"php": ">=5.4.0"},
            "type": "library",
            "installation-source": "dist",
            "license": ["MIT"],
            "install-path": "../guzzlehttp/psr7"
        },
        {"name": "Bad Name", "version": "1.0.0"}
    ],
    "dev": true,
    "dev-package-names": []
}"#;
        let p = parse_installed_json(v2).unwrap();
        assert_eq!(names(&p), vec![("guzzlehttp/psr7", "1.8.1")]);
        assert_eq!(p.packages[0].licenses, vec!["MIT"]);
        assert_eq!(p.packages[0].ecosystem, Ecosystem::Composer);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn installed_json_v1() {
        let v1 = br#"[
    {"name": "symfony/http-kernel", "version": "v5.4.1", "version_normalized": "5.4.1.0", "type": "library", "license": "MIT"},
    {"name": "monolog/monolog", "version": "2.3.5", "version_normalized": "2.3.5.0", "type": "library"}
]"#;
        let p = parse_installed_json(v1).unwrap();
        assert_eq!(
            names(&p),
            vec![
                ("symfony/http-kernel", "v5.4.1"),
                ("monolog/monolog", "2.3.5")
            ]
        );
        assert_eq!(p.packages[0].licenses, vec!["MIT"]);
        assert!(parse_installed_json(b"{\"a\":1}").is_err());
        assert!(parse_installed_json(b"nope").is_err());
    }

    #[test]
    fn lock_without_dev_packages() {
        let lock = br#"{
    "_readme": ["This file locks the dependencies of your project to a known state"],
    "content-hash": "0123",
    "packages": [{"name": "twig/twig", "version": "v2.14.10", "type": "library"}],
    "packages-dev": [{"name": "phpunit/phpunit", "version": "9.5.10", "type": "library"}],
    "aliases": [],
    "minimum-stability": "stable"
}"#;
        assert_eq!(
            names(&parse_lock(lock).unwrap()),
            vec![("twig/twig", "v2.14.10")]
        );
        assert!(parse_lock(b"[]").is_err());
    }

    #[test]
    fn paths() {
        assert!(is_installed_json_path(
            "var/www/app/vendor/composer/installed.json"
        ));
        assert!(is_installed_json_path("vendor/composer/installed.json"));
        assert!(!is_installed_json_path("app/installed.json"));
    }
}
