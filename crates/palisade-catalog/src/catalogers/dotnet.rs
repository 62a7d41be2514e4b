//! .NET packages: `*.deps.json`, the dependency manifest `dotnet publish` writes beside an
//! application (and the runtime's own `Microsoft.NETCore.App.deps.json`).
//!
//! Its `libraries` object is keyed `Name/Version`; entries of `"type": "package"` are NuGet
//! packages. `project` (the application and its project references) and `reference` entries
//! are not from NuGet and are left out, as are `runtimepack` entries (the runtime itself).

use serde_json::Value;

use crate::catalogers::{Found, Parsed, shorten};
use crate::package::Ecosystem;

/// The most bytes of a `.deps.json` that are read.
pub(crate) const MAX_DEPS_JSON_BYTES: u64 = 16 << 20;

/// Whether `path` is a .NET dependency manifest.
pub(crate) fn is_deps_json_path(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".deps.json"))
        .is_some_and(|stem| !stem.is_empty())
}

/// A NuGet package id: letters, digits, `.`, `-`, `_`, at most 100 characters.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Parses a `.deps.json`: the `libraries` of type `package`.
pub(crate) fn parse_deps_json(content: &[u8]) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(content).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(Value::Object(libraries)) = v.get("libraries") else {
        return Err("no `libraries` object: not a .deps.json".into());
    };
    let mut parsed = Parsed::default();
    for (key, entry) in libraries {
        if entry.get("type").and_then(Value::as_str) != Some("package") {
            continue;
        }
        let Some((name, version)) = key.split_once('/') else {
            parsed
                .warnings
                .push(format!("library {:?}: not `Name/Version`", shorten(key)));
            continue;
        };
        if !valid_id(name)
            || version.is_empty()
            || version.len() > 128
            || version.contains(|c: char| c.is_whitespace() || c == '/')
        {
            parsed.warnings.push(format!(
                "library {:?}: not a NuGet package id and version",
                shorten(key)
            ));
            continue;
        }
        parsed.packages.push(Found {
            ecosystem: Ecosystem::Nuget,
            name: name.to_owned(),
            version: version.to_owned(),
            ..Found::default()
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_json() {
        // As `dotnet publish` writes it for a .NET 6 application (abridged).
        let deps = br#"{
  "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0", "signature": ""},
  "compilationOptions": {},
  "targets": {
    ".NETCoreApp,Version=v6.0": {
      "WebApp/1.0.0": {"dependencies": {"Newtonsoft.Json": "12.0.1"}, "runtime": {"WebApp.dll": {}}},
      "Newtonsoft.Json/12.0.1": {"runtime": {"lib/netstandard2.0/Newtonsoft.Json.dll": {"assemblyVersion": "12.0.0.0", "fileVersion": "12.0.1.23012"}}}
    }
  },
  "libraries": {
    "WebApp/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
    "Newtonsoft.Json/12.0.1": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-jlEDH5VDxhDOMqvTVYDsDh0qRdy5kP53MzyZIb6T2LQvt+xrOYRDjUkvSdd6vmlzPaM1Oc3k9TnTkR4gvB1OKA==",
      "path": "newtonsoft.json/12.0.1",
      "hashPath": "newtonsoft.json.12.0.1.nupkg.sha512"
    },
    "System.Text.Encodings.Web/4.5.0": {"type": "package", "serviceable": true, "sha512": "sha512-x", "path": "system.text.encodings.web/4.5.0"},
    "Bad Id/1.0": {"type": "package"},
    "NoVersion": {"type": "package"}
  }
}"#;
        let p = parse_deps_json(deps).unwrap();
        let got: Vec<_> = p
            .packages
            .iter()
            .map(|f| (f.name.as_str(), f.version.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Newtonsoft.Json", "12.0.1"),
                ("System.Text.Encodings.Web", "4.5.0")
            ]
        );
        assert!(p.packages.iter().all(|f| f.ecosystem == Ecosystem::Nuget));
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(parse_deps_json(b"{}").is_err());
    }

    #[test]
    fn paths() {
        assert!(is_deps_json_path("app/WebApp.deps.json"));
        assert!(is_deps_json_path(
            "usr/share/dotnet/shared/Microsoft.NETCore.App/6.0.25/Microsoft.NETCore.App.deps.json"
        ));
        assert!(!is_deps_json_path("app/.deps.json"));
        assert!(!is_deps_json_path("app/deps.json"));
    }
}
