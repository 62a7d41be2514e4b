//! Which checks run and with what settings: `--level`, `--include`/`--exclude` ID globs, and a
//! YAML profile file (the policy engine reuses this type).
//!
//! ```yaml
//! level: 1                      # run level 1 checks only (default: 2 = all)
//! include: ["CIS-DOCKER-5.*"]   # only these IDs (globs, any case); empty = all
//! exclude: ["CIS-DOCKER-5.9"]   # never these
//! trusted_docker_users: [alice] # CIS 1.1.2: members of group docker allowed
//! trusted_registries: [registry.example]  # CIS 4.2
//! allowed_services: [nginx]     # PAL-HOST-1: extra services allowed to be enabled
//! ```
//!
//! Keys are snake_case, as in every file Palisade reads. The kebab-case spellings of earlier
//! releases (`trusted-registries`) are still read, with a deprecation warning.
//!
//! Every pattern here is a [`palisade_image::glob_match`] glob (`*` and `?` stop at `/`, `**`
//! crosses it), compared ignoring ASCII case; [`Profile::from_yaml`] refuses what
//! [`palisade_image::check_glob`] refuses.

use std::path::Path;

use palisade_image::{Case, check_glob, glob_match};
use serde::Deserialize;

use crate::check::{CheckDef, CheckResult, Level};

/// The most bytes read from a profile file.
const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Services a container host usually needs; PAL-HOST-1 flags every other enabled service
/// unless the profile allows it. Names are unit names without `.service`; a trailing `*`
/// matches a prefix (`systemd-*`, `getty@*`).
pub const DEFAULT_ALLOWED_SERVICES: &[&str] = &[
    "docker",
    "containerd",
    "ssh",
    "sshd",
    "auditd",
    "cron",
    "crond",
    "rsyslog",
    "chrony",
    "chronyd",
    "ntp",
    "ntpd",
    "networking",
    "NetworkManager",
    "NetworkManager-wait-online",
    "dbus",
    "dbus-broker",
    "getty@*",
    "serial-getty@*",
    "systemd-*",
    "e2scrub_reap",
    "apparmor",
    "ufw",
    "nftables",
    "firewalld",
    "cloud-init*",
    "cloud-config",
    "cloud-final",
    "unattended-upgrades",
    "irqbalance",
    "lvm2-*",
    "multipathd",
    "polkit",
    "tuned",
    "kdump",
    "remote-fs",
];

/// Errors reading a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The file could not be read.
    #[error("reading profile {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("profile {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A compiled selection of checks plus the settings some checks take.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// The highest CIS level to run: 1 runs level 1 only, 2 (the default) runs everything.
    pub level: Level,
    /// ID globs to run; empty means every check.
    pub include: Vec<String>,
    /// ID globs never to run (wins over `include`).
    pub exclude: Vec<String>,
    /// Users allowed in group `docker` (CIS 1.1.2). Empty: any member is reported for review.
    pub trusted_docker_users: Vec<String>,
    /// Registries (or `registry/repository` prefixes, globs allowed) images may come from (CIS 4.2).
    pub trusted_registries: Vec<String>,
    /// Services allowed to be enabled on the host, on top of [`DEFAULT_ALLOWED_SERVICES`].
    pub allowed_services: Vec<String>,
    /// Replace the default service allowlist instead of extending it.
    pub replace_default_services: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            level: Level::Two,
            include: Vec::new(),
            exclude: Vec::new(),
            trusted_docker_users: Vec::new(),
            trusted_registries: Vec::new(),
            allowed_services: Vec::new(),
            replace_default_services: false,
        }
    }
}

impl Profile {
    /// Parses a YAML profile; `name` names the input in errors.
    ///
    /// # Errors
    /// When the YAML is invalid, has unknown keys, or a glob [`check_glob`] refuses.
    pub fn from_yaml(text: &str, name: &str) -> Result<Profile, ProfileError> {
        Profile::from_yaml_reporting(text, name).map(|(p, _)| p)
    }

    /// [`Profile::from_yaml`], with a deprecation warning for each kebab-case key read.
    ///
    /// # Errors
    /// As [`Profile::from_yaml`].
    pub fn from_yaml_reporting(
        text: &str,
        name: &str,
    ) -> Result<(Profile, Vec<String>), ProfileError> {
        if text.trim().is_empty() {
            return Ok((Profile::default(), Vec::new()));
        }
        let invalid = |message: String| ProfileError::Invalid {
            path: name.to_owned(),
            message,
        };
        let mut warnings = Vec::new();
        // Read directly when every key is snake_case (errors keep their line and column);
        // through a value with the keys renamed when an old kebab-case key is there.
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let profile: Profile = match value {
            serde_json::Value::Object(map) if map.keys().any(|k| k.contains('-')) => {
                let mut renamed = serde_json::Map::new();
                for (k, v) in map {
                    let snake = k.replace('-', "_");
                    if snake != k {
                        warnings.push(format!(
                            "profile {name}: `{k}` is deprecated: write `{snake}` (snake_case, as in the policy file)"
                        ));
                    }
                    if renamed.insert(snake.clone(), v).is_some() {
                        return Err(invalid(format!("`{snake}` is given twice")));
                    }
                }
                serde_json::from_value(serde_json::Value::Object(renamed))
                    .map_err(|e| invalid(e.to_string()))?
            }
            _ => serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?,
        };
        for (key, globs) in [
            ("include", &profile.include),
            ("exclude", &profile.exclude),
            ("trusted_registries", &profile.trusted_registries),
            ("allowed_services", &profile.allowed_services),
        ] {
            for g in globs {
                check_glob(g).map_err(|e| invalid(format!("{key}: {e}")))?;
            }
        }
        Ok((profile, warnings))
    }

    /// Reads a YAML profile file (at most 1 MiB).
    ///
    /// # Errors
    /// When the file cannot be read or is invalid.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        Profile::load_reporting(path).map(|(p, _)| p)
    }

    /// [`Profile::load`], with the deprecation warnings of [`Profile::from_yaml_reporting`].
    ///
    /// # Errors
    /// As [`Profile::load`].
    pub fn load_reporting(path: &Path) -> Result<(Profile, Vec<String>), ProfileError> {
        use std::io::Read;
        let name = path.display().to_string();
        let io = |source| ProfileError::Io {
            path: name.clone(),
            source,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        f.take(MAX_PROFILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_PROFILE_BYTES {
            return Err(ProfileError::Invalid {
                path: name,
                message: "larger than 1 MiB".into(),
            });
        }
        Profile::from_yaml_reporting(&text, &name)
    }

    /// Whether `def` runs under this profile.
    #[must_use]
    pub fn selects(&self, def: &CheckDef) -> bool {
        def.level <= self.level
            && (self.include.is_empty()
                || self
                    .include
                    .iter()
                    .any(|g| glob_match(g, def.id, Case::Insensitive)))
            && !self
                .exclude
                .iter()
                .any(|g| glob_match(g, def.id, Case::Insensitive))
    }

    /// Keeps the results of selected checks among `defs` (results of unknown IDs are dropped).
    #[must_use]
    pub fn filter(&self, defs: &[CheckDef], results: Vec<CheckResult>) -> Vec<CheckResult> {
        results
            .into_iter()
            .filter(|r| defs.iter().any(|d| d.id == r.id && self.selects(d)))
            .collect()
    }

    /// Whether a service unit name (without `.service`) is allowed to be enabled.
    #[must_use]
    pub fn service_allowed(&self, name: &str) -> bool {
        let defaults: &[&str] = if self.replace_default_services {
            &[]
        } else {
            DEFAULT_ALLOWED_SERVICES
        };
        defaults
            .iter()
            .copied()
            .chain(self.allowed_services.iter().map(String::as_str))
            .any(|g| glob_match(g, name, Case::Insensitive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_keys_and_deprecated_kebab_case_ones() {
        let (p, w) =
            Profile::from_yaml_reporting("trusted_registries: [a.example]\n", "p.yaml").unwrap();
        assert_eq!(p.trusted_registries, ["a.example"]);
        assert!(w.is_empty());
        let (q, w) = Profile::from_yaml_reporting(
            "trusted-registries: [a.example]\nallowed-services: [nginx]\nlevel: 1\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(q.trusted_registries, ["a.example"]);
        assert_eq!(q.allowed_services, ["nginx"]);
        assert_eq!(w.len(), 2);
        assert!(
            w.iter()
                .any(|w| w
                    .contains("`trusted-registries` is deprecated: write `trusted_registries`")),
            "{w:?}"
        );
        let e = Profile::from_yaml("trusted-registries: [a]\ntrusted_registries: [b]\n", "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
        let e = Profile::from_yaml("trusted-registry: [a]\n", "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trusted_registry"), "{e}");
    }

    #[test]
    fn globs() {
        let p = Profile::from_yaml(
            "include: [\"cis-docker-5.*\", CIS-DOCKER-4.?]\nexclude: [CIS-DOCKER-5.1?]\nallowed-services: [\"my-*\"]\n",
            "p.yaml",
        )
        .unwrap();
        let def = |id: &'static str| CheckDef {
            id,
            ..crate::image::CHECKS[0]
        };
        assert!(p.selects(&def("CIS-DOCKER-5.9")));
        assert!(p.selects(&def("CIS-DOCKER-4.1")));
        assert!(!p.selects(&def("CIS-DOCKER-4.10")));
        assert!(!p.selects(&def("CIS-DOCKER-5.10")));
        assert!(!p.selects(&def("CIS-DOCKER-6.1")));
        assert!(p.service_allowed("My-App"));
        assert!(p.service_allowed("getty@tty1"));
        assert!(!p.service_allowed("telnet"));
    }

    #[test]
    fn refuses_globs_the_policy_refuses() {
        for bad in [
            "include: [\"CIS-[45].*\"]\n",
            "exclude: [\"\"]\n",
            "allowed-services: [\"{a,b}\"]\n",
            "trusted-registries: [\"registry.example/***\"]\n",
        ] {
            let e = Profile::from_yaml(bad, "p.yaml").unwrap_err();
            assert!(e.to_string().contains("invalid glob"), "{bad}: {e}");
        }
    }

    #[test]
    fn yaml_profile() {
        let p = Profile::from_yaml(
            "level: 1\ninclude: [\"CIS-DOCKER-5.*\"]\nexclude: [CIS-DOCKER-5.9]\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(p.level, Level::One);
        assert_eq!(p.exclude, vec!["CIS-DOCKER-5.9"]);
        assert!(Profile::from_yaml("levle: 1\n", "p.yaml").is_err());
    }
}
