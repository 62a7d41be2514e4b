//! Licences as SBOMs carry them: an SPDX expression where the declared text is (or plainly
//! means) one, otherwise the text itself under a `LicenseRef-` identifier.
//!
//! Packages declare licences in many spellings: SPDX expressions (`MIT`, `Apache-2.0 OR
//! MIT`), near-misses (`Apache 2.0`, `GPLv2+`, `MIT/Apache-2.0`), Debian's short names
//! (`GPL-2+`, `Expat`, mapped in the dpkg cataloger), and free text (`BSD License`,
//! `Public Domain`). [`classify`] turns a near-miss into the canonical expression with
//! cargo-deny's parser (the `spdx` crate, lax mode) and checks the result strictly; anything
//! else stays as written, never guessed.

use sha2::{Digest as _, Sha256};

/// One declared licence, as SBOMs write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum License {
    /// A valid SPDX expression, canonical (`Apache-2.0 OR MIT`).
    Spdx(String),
    /// Text that is no SPDX expression, with the `LicenseRef-` identifier it is written under.
    Other { id: String, text: String },
}

impl License {
    /// What goes into an SPDX `licenseDeclared`: the expression, or the `LicenseRef-` id.
    pub(crate) fn spdx_term(&self) -> &str {
        match self {
            License::Spdx(e) => e,
            License::Other { id, .. } => id,
        }
    }
}

/// The declared licence `raw`, as an SPDX expression when it is one.
pub(crate) fn classify(raw: &str) -> License {
    let raw = raw.trim();
    let candidate = match spdx::Expression::canonicalize(raw) {
        Ok(Some(fixed)) => fixed,
        Ok(None) => raw.to_owned(),
        Err(_) => return other(raw),
    };
    match spdx::Expression::parse(&candidate) {
        Ok(e) => License::Spdx(e.to_string()),
        Err(_) => other(raw),
    }
}

fn other(raw: &str) -> License {
    License::Other {
        id: license_ref(raw),
        text: raw.to_owned(),
    }
}

/// `LicenseRef-` followed by the text's letters, digits, `.` and `-` (others become `-`, at
/// most 48), and 8 hex digits of its SHA-256, so that two texts never share an id.
pub(crate) fn license_ref(text: &str) -> String {
    let mut id = String::from("LicenseRef-");
    let mut last_dash = true;
    for c in text.chars().take(48) {
        if c.is_ascii_alphanumeric() || c == '.' {
            id.push(c);
            last_dash = false;
        } else if !last_dash {
            id.push('-');
            last_dash = true;
        }
    }
    if !last_dash {
        id.push('-');
    }
    id.push_str(&hex::encode(&Sha256::digest(text.as_bytes())[..4]));
    id
}

/// An SPDX `licenseDeclared` for a package declaring `licenses` (all of which apply, as Syft
/// and Trivy read several declarations): `NOASSERTION` when there are none.
pub(crate) fn declared(licenses: &[License]) -> String {
    match licenses {
        [] => "NOASSERTION".to_owned(),
        [one] => one.spdx_term().to_owned(),
        many => many
            .iter()
            .map(|l| {
                let t = l.spdx_term();
                if t.contains(' ') {
                    format!("({t})")
                } else {
                    t.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_near_misses_and_free_text() {
        assert_eq!(classify("MIT"), License::Spdx("MIT".into()));
        assert_eq!(
            classify("Apache-2.0 OR MIT"),
            License::Spdx("Apache-2.0 OR MIT".into())
        );
        assert_eq!(
            classify("MIT/Apache-2.0"),
            License::Spdx("MIT OR Apache-2.0".into())
        );
        assert_eq!(
            classify("GPL-2.0+"),
            License::Spdx("GPL-2.0-or-later".into())
        );
        let License::Other { id, text } = classify("BSD License") else {
            panic!("free text is not an expression")
        };
        assert_eq!(text, "BSD License");
        assert!(id.starts_with("LicenseRef-BSD-License-"), "{id}");
        assert!(
            id["LicenseRef-".len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{id}"
        );
        assert_ne!(license_ref("a b"), license_ref("a  b"));
    }

    #[test]
    fn declared_joins_with_and() {
        assert_eq!(declared(&[]), "NOASSERTION");
        let both = [classify("MIT"), classify("Apache-2.0 OR MIT")];
        assert_eq!(declared(&both), "MIT AND (Apache-2.0 OR MIT)");
    }
}
