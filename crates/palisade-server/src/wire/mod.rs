//! The wire formats the enforcement points speak, decoded with limits: nothing here decides.

pub mod admission;
pub mod authz;

/// A request body that could not be decoded: answered 400 (admission) or `Err` (AuthZ).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

/// Refuses JSON nested deeper than `max` (objects and arrays) without building it, so a
/// hostile body costs one pass over its bytes. Strings are skipped with their escapes.
///
/// # Errors
/// A [`WireError`] naming the limit.
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), WireError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(WireError(format!(
                        "the JSON body nests deeper than {max} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_depth;

    #[test]
    fn depth() {
        assert!(check_depth(br#"{"a":[{"b":"[[[[[["}]}"#, 3).is_ok());
        assert!(check_depth(br#"{"a":[{"b":[1]}]}"#, 3).is_err());
        assert!(check_depth(br#"{"a":"\"[[[[["}"#, 1).is_ok());
    }
}
