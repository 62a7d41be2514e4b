//! Canonical JSON as Notary writes and verifies it (`github.com/docker/go/canonical/json`,
//! `MarshalCanonical`): object keys sorted by their bytes, no whitespace, strings escaped only
//! where they must be (`"` and `\`; every other character, control characters included, is
//! written as it is), integers only. TUF signatures are over these bytes of the `signed`
//! object, so the verifier re-serializes what it parsed rather than trusting the sender's
//! layout.
//!
//! Not for: anything that must round-trip floating-point numbers (Notary refuses them too).

use serde_json::Value;

/// Deepest nesting accepted (Notary metadata is at most about six levels deep).
const MAX_DEPTH: usize = 32;

/// `value` in canonical form.
///
/// # Errors
/// A number that is not an integer, or nesting deeper than [`MAX_DEPTH`].
pub(crate) fn to_vec(value: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    write(&mut out, value, 0)?;
    Ok(out)
}

fn write(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(format!(
                    "the number {n} is not an integer (canonical JSON has none)"
                ));
            }
        }
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, k);
                out.push(b':');
                write(out, v, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::to_vec;
    use serde_json::json;

    fn canon(v: &serde_json::Value) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_by_bytes_and_drops_whitespace() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{ "b": 1, "a": [true, null, -3], "B": {"z": "x", "_": 0} }"#)
                .unwrap();
        assert_eq!(
            canon(&v),
            r#"{"B":{"_":0,"z":"x"},"a":[true,null,-3],"b":1}"#
        );
    }

    #[test]
    fn escapes_only_quote_and_backslash() {
        let v = json!({"k": "a\"b\\c\n<&>\u{e9}"});
        assert_eq!(canon(&v), "{\"k\":\"a\\\"b\\\\c\n<&>\u{e9}\"}");
    }

    #[test]
    fn refuses_floats_and_deep_nesting() {
        assert!(to_vec(&json!({"x": 1.5})).is_err());
        let mut deep = json!(0);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(to_vec(&deep).unwrap_err().contains("deeper"));
        assert_eq!(canon(&json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn notary_signed_bytes_are_already_canonical() {
        // A `signed` object exactly as notary-server 0.7.0 served it (timestamp role).
        let raw = r#"{"_type":"Timestamp","expires":"2026-12-20T22:44:09.986846607Z","meta":{"snapshot":{"hashes":{"sha256":"eyu0SvFYJEpSEIhGF1eqhJ2xwVShvjkOARiJ+5czZ3E=","sha512":"02+uTwOtsFPPjSdlYCMnZEczHw1QbNlG2fbUnYFcY6rAuUl+ZRmne9o4iW0vwHgWRgYFjmnjdameptnVpNZVvQ=="},"length":885}},"version":3}"#;
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(canon(&v), raw);
    }
}
