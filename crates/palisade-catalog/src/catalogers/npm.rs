//! npm packages: `package.json` of installed packages and `package-lock.json` v1–v3.

use serde::Deserialize;
use serde_json::Value;

use crate::catalogers::{Found, Parsed};
use crate::package::Ecosystem;

/// The most bytes of a `package.json` that are read.
pub(crate) const MAX_PACKAGE_JSON_BYTES: u64 = 4 << 20;
/// The most bytes of a `package-lock.json` that are read.
pub(crate) const MAX_LOCK_BYTES: u64 = 64 << 20;

/// Parses a `package.json`. Files without both a name and a version (workspaces, test
/// fixtures) describe no installed package and yield nothing.
pub(crate) fn parse_package_json(content: &[u8]) -> Result<Parsed, String> {
    #[derive(Deserialize)]
    struct Manifest {
        #[serde(default)]
        name: Option<Value>,
        #[serde(default)]
        version: Option<Value>,
        #[serde(default)]
        license: Option<Value>,
        #[serde(default)]
        licenses: Option<Value>,
    }
    let m: Manifest =
        serde_json::from_slice(content).map_err(|e| format!("not valid JSON: {e}"))?;
    let (Some(Value::String(name)), Some(Value::String(version))) = (m.name, m.version) else {
        return Ok(Parsed::default());
    };
    if !valid_name(&name) || version.is_empty() || version.len() > 256 {
        return Ok(Parsed::default());
    }
    let mut licenses = Vec::new();
    let mut add = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => licenses.push(s.clone()),
        Value::Object(o) => {
            if let Some(Value::String(t)) = o.get("type") {
                licenses.push(t.clone());
            }
        }
        _ => {}
    };
    if let Some(l) = &m.license {
        add(l);
    }
    if let Some(Value::Array(ls)) = &m.licenses {
        ls.iter().for_each(&mut add);
    }
    Ok(Parsed {
        packages: vec![Found {
            ecosystem: Ecosystem::Npm,
            name,
            version,
            licenses,
            ..Found::default()
        }],
        warnings: Vec::new(),
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 214 && !n.contains(char::is_whitespace)
}

/// Parses `package-lock.json` (lockfileVersion 1, 2 or 3). Development dependencies are left
/// out: production installs don't have them.
pub(crate) fn parse_lock(content: &[u8]) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(content).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut parsed = Parsed::default();
    let push = |name: &str, version: &str, parsed: &mut Parsed| {
        if valid_name(name) && !version.is_empty() && version.len() <= 256 && !version.contains(':')
        {
            parsed.packages.push(Found {
                ecosystem: Ecosystem::Npm,
                name: name.to_owned(),
                version: version.to_owned(),
                ..Found::default()
            });
        }
    };
    if let Some(Value::Object(packages)) = v.get("packages") {
        for (key, entry) in packages {
            if key.is_empty() {
                continue; // the project itself
            }
            let Some(idx) = key.rfind("node_modules/") else {
                continue;
            };
            if entry.get("dev").and_then(Value::as_bool) == Some(true)
                || entry.get("link").and_then(Value::as_bool) == Some(true)
            {
                continue;
            }
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&key[idx + "node_modules/".len()..]);
            if let Some(version) = entry.get("version").and_then(Value::as_str) {
                push(name, version, &mut parsed);
            }
        }
    } else if let Some(Value::Object(deps)) = v.get("dependencies") {
        // v1: nested `dependencies`, walked without recursion.
        let mut stack: Vec<&serde_json::Map<String, Value>> = vec![deps];
        while let Some(map) = stack.pop() {
            for (name, entry) in map {
                if entry.get("dev").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(version) = entry.get("version").and_then(Value::as_str) {
                    push(name, version, &mut parsed);
                }
                if let Some(Value::Object(nested)) = entry.get("dependencies") {
                    stack.push(nested);
                }
            }
        }
    } else {
        return Err("neither `packages` nor `dependencies`: not a package-lock.json".into());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json() {
        let p = parse_package_json(br#"{"name":"lodash","version":"4.17.15","license":"MIT"}"#)
            .unwrap();
        assert_eq!(p.packages[0].name, "lodash");
        assert_eq!(p.packages[0].licenses, vec!["MIT"]);
        assert!(
            parse_package_json(br#"{"name":"x"}"#)
                .unwrap()
                .packages
                .is_empty()
        );
        assert!(parse_package_json(b"{not json").is_err());
    }

    #[test]
    fn locks_v1_and_v3() {
        let v1 = br#"{"lockfileVersion":1,"dependencies":{"minimist":{"version":"1.2.0"},"a":{"version":"1.0.0","dev":true},"b":{"version":"2.0.0","dependencies":{"c":{"version":"3.0.0"}}}}}"#;
        let mut names: Vec<_> = parse_lock(v1)
            .unwrap()
            .packages
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        assert_eq!(names, vec!["b", "c", "minimist"]);
        let v3 = br#"{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/@scope/x":{"version":"1.0.0"},"node_modules/lodash":{"version":"4.17.15"},"node_modules/d":{"version":"1.0.0","dev":true}}}"#;
        let mut names: Vec<_> = parse_lock(v3)
            .unwrap()
            .packages
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        assert_eq!(names, vec!["@scope/x", "lodash"]);
    }
}
