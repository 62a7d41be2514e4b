//! Which globs the policy accepts. Matching is done by `palisade_trust::rules::glob_match`
//! (images, advisories, packages, tags) and `palisade_harden::profile::glob_match` (check IDs):
//! `*`, `**` and `?` only, no classes, braces or escapes.

/// The longest glob accepted.
pub(crate) const MAX_GLOB: usize = 512;

/// Why `glob` is refused, if it is.
pub(crate) fn check_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() {
        return Err("empty pattern".into());
    }
    if glob.len() > MAX_GLOB {
        return Err(format!("longer than {MAX_GLOB} bytes"));
    }
    if let Some(c) = glob.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
        return Err(format!(
            "`{c}` is not supported (only `*`, `**` and `?`; no classes or alternatives)"
        ));
    }
    if glob.contains("***") {
        return Err("`***` is not a pattern (use `*` or `**`)".into());
    }
    if glob.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_glob;

    #[test]
    fn globs() {
        assert!(check_glob("registry.acme.com/**").is_ok());
        assert!(check_glob("CIS-DOCKER-4.?").is_ok());
        assert!(check_glob("").is_err());
        assert!(check_glob("a[bc]").is_err());
        assert!(check_glob("{a,b}").is_err());
        assert!(check_glob("a/***").is_err());
        assert!(check_glob(&"a".repeat(513)).is_err());
        assert!(check_glob("a\nb").is_err());
    }
}
