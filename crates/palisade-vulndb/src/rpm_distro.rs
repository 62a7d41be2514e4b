//! RPM distributions: which OSV ecosystem an image's os-release selects for its RPM packages,
//! and which of a distro feed's records are security advisories.
//!
//! | os-release `ID` | OSV ecosystem | matched | security records | kept out of matching |
//! |---|---|---|---|---|
//! | `almalinux` | `AlmaLinux:<major>` | yes | `ALSA-*` | `ALBA-*` (bug fix), `ALEA-*` (enhancement) |
//! | `rocky` | `Rocky Linux:<major>` | not yet | `RLSA-*` | `RLBA-*`, `RLEA-*` |
//! | `rhel` | `Red Hat:…` (CPE-named streams) | not yet | `RHSA-*` | `RHBA-*`, `RHEA-*` |
//! | `sles`, `sled`, `sle-micro` | `SUSE:…` | not yet | `SUSE-SU-*` | `SUSE-RU-*`, `SUSE-FU-*`, `SUSE-OU-*` |
//! | `opensuse-leap`, `opensuse-tumbleweed` | `openSUSE:…` | not yet | `openSUSE-SU-*`, `SUSE-SU-*` | `openSUSE-RU-*`, `SUSE-RU-*`, `SUSE-FU-*`, `SUSE-OU-*` |
//! | `azurelinux`, `mariner` | `Azure Linux:…`, `Mariner:…` | not yet | all (ids are CVEs) | — |
//!
//! The release is the major number of `VERSION_ID` (`8.9` → `8`), else of the release
//! file's version. `ID` alone selects the distro: `ID_LIKE` (`rhel centos fedora` on
//! AlmaLinux) never borrows another distro's feed, since each rebuild ships its own builds; a
//! distro not in the table, or not matched yet, has its RPM packages reported not covered.
//! `PLATFORM_ID` (`platform:el8`) is not read: the catalog does not keep it, and `VERSION_ID`
//! gives the same major release on every distro above.
//!
//! OSV names binary RPM packages in these feeds (AlmaLinux: `glibc-common`, `gupnp-devel`),
//! so packages are looked up by their own name, not their source RPM.
//!
//! The RHEL rebuilds' security advisories (AlmaLinux, Rocky Linux, Red Hat) name the CVEs they
//! fix in OSV's `related`, not `aliases`, and rate themselves only in the first word of the
//! summary (`Important: glibc security update`, Red Hat's scale: Critical, Important,
//! Moderate, Low). At import ([`distro_facts`]) the CVE ids of `related` become aliases (so
//! NVD scores, KEV, EPSS, ignore files and VEX statements that name the CVE apply), and the
//! summary's word becomes the advisory's severity under the distro's name, which the
//! matcher reports as the vendor's rating.

use palisade_catalog::Distro;

/// One row of the table above.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RpmDistro {
    /// os-release `ID` values.
    pub(crate) ids: &'static [&'static str],
    /// The OSV ecosystem's name, before `:<release>`.
    pub(crate) ecosystem: &'static str,
    /// Whether matching is verified against real feed data and turned on.
    pub(crate) matched: bool,
    /// Record id prefixes of security advisories; empty: every record is one.
    pub(crate) security: &'static [&'static str],
    /// Record id prefixes of other records, with what they are.
    pub(crate) other: &'static [(&'static str, &'static str)],
    /// Security advisories rate themselves in the summary's first word and list their CVEs in
    /// `related` (the RHEL family).
    pub(crate) rated_summary: bool,
}

/// The table of the module documentation.
pub(crate) const RPM_DISTROS: &[RpmDistro] = &[
    RpmDistro {
        ids: &["almalinux"],
        ecosystem: "AlmaLinux",
        matched: true,
        security: &["ALSA-"],
        other: &[("ALBA-", "bug fix"), ("ALEA-", "enhancement")],
        rated_summary: true,
    },
    RpmDistro {
        ids: &["rocky"],
        ecosystem: "Rocky Linux",
        matched: false,
        security: &["RLSA-"],
        other: &[("RLBA-", "bug fix"), ("RLEA-", "enhancement")],
        rated_summary: true,
    },
    RpmDistro {
        ids: &["rhel"],
        ecosystem: "Red Hat",
        matched: false,
        security: &["RHSA-"],
        other: &[("RHBA-", "bug fix"), ("RHEA-", "enhancement")],
        rated_summary: true,
    },
    RpmDistro {
        ids: &["sles", "sled", "sle-micro"],
        ecosystem: "SUSE",
        matched: false,
        security: &["SUSE-SU-"],
        other: &[
            ("SUSE-RU-", "recommended update"),
            ("SUSE-FU-", "feature update"),
            ("SUSE-OU-", "optional update"),
        ],
        rated_summary: false,
    },
    RpmDistro {
        ids: &["opensuse-leap", "opensuse-tumbleweed", "opensuse"],
        ecosystem: "openSUSE",
        matched: false,
        security: &["openSUSE-SU-", "SUSE-SU-"],
        other: &[
            ("openSUSE-RU-", "recommended update"),
            ("SUSE-RU-", "recommended update"),
            ("SUSE-FU-", "feature update"),
            ("SUSE-OU-", "optional update"),
        ],
        rated_summary: false,
    },
    RpmDistro {
        ids: &["azurelinux"],
        ecosystem: "Azure Linux",
        matched: false,
        security: &[],
        other: &[],
        rated_summary: false,
    },
    RpmDistro {
        ids: &["mariner"],
        ecosystem: "Mariner",
        matched: false,
        security: &[],
        other: &[],
        rated_summary: false,
    },
];

/// The OSV ecosystem (`AlmaLinux:8`) whose advisories apply to the RPM packages of `distro`,
/// or why there is none (the package is then not covered).
pub(crate) fn rpm_ecosystem(distro: Option<&Distro>) -> Result<String, String> {
    let d = distro
        .ok_or("RPM package not matched: the image's distro release is unknown (no os-release)")?;
    let Some(row) = RPM_DISTROS.iter().find(|r| r.ids.contains(&d.id.as_str())) else {
        let like = if d.id_like.is_empty() {
            String::new()
        } else {
            format!(
                " (ID_LIKE {:?}: another distro's feed is never borrowed)",
                d.id_like.join(" ")
            )
        };
        return Err(format!(
            "RPM package not matched: no advisory feed for distro {:?}{like}",
            d.id
        ));
    };
    if !row.matched {
        return Err(format!(
            "RPM package not matched: {} ({}) matching is not supported yet",
            row.ecosystem, d.id
        ));
    }
    let major = [d.version_id.as_deref(), d.detail_version.as_deref()]
        .into_iter()
        .flatten()
        .find_map(major_release);
    match major {
        Some(m) => Ok(format!("{}:{m}", row.ecosystem)),
        None => Err(format!(
            "RPM package not matched: cannot tell the {} release from VERSION_ID {:?}",
            row.ecosystem, d.version_id
        )),
    }
}

/// `8` of `8.9`, `8` of `AlmaLinux release 8.9 (Midnight Oncilla)`.
fn major_release(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(digits)
}

/// Why an OSV record is not a security advisory (`AlmaLinux ALBA-* (bug fix)`), when every
/// ecosystem it names is an RPM distro of the table whose record ids tell; `None` for a
/// security advisory or any other record.
pub(crate) fn non_security_kind(id: &str, ecosystems: &[&str]) -> Option<String> {
    let mut kind = None;
    for eco in ecosystems {
        let base = eco.split_once(':').map_or(*eco, |(b, _)| b);
        let row = RPM_DISTROS.iter().find(|r| r.ecosystem == base)?;
        if row.security.is_empty() || row.security.iter().any(|p| id.starts_with(p)) {
            return None;
        }
        let (prefix, what) = row
            .other
            .iter()
            .find(|(p, _)| id.starts_with(p))
            .map_or(("?", "not a security advisory"), |(p, w)| (*p, *w));
        kind.get_or_insert_with(|| format!("{} {prefix}* ({what})", row.ecosystem));
    }
    kind
}

/// The OSV bulk export a `db update` feed name stands for, as `(folder in the feed cache,
/// folder in the URL)`: `almalinux` and `osv/AlmaLinux` → `AlmaLinux`, `almalinux:8` and
/// `osv/AlmaLinux:8` → `AlmaLinux:8`, `rocky:9` and `osv/Rocky Linux:9` → `Rocky Linux:9`
/// (`Rocky%20Linux:9` in the URL). `None` for any other name.
#[cfg_attr(not(feature = "fetch"), allow(dead_code))]
pub(crate) fn osv_export(name: &str) -> Option<(String, String)> {
    const SHORT: &[(&str, &str)] = &[("almalinux", "AlmaLinux"), ("rocky", "Rocky Linux")];
    let (base, release) = name
        .split_once(':')
        .map_or((name, None), |(b, r)| (b, Some(r)));
    let ecosystem = SHORT
        .iter()
        .find(|(short, eco)| base == *short || base.strip_prefix("osv/") == Some(*eco))
        .map(|(_, eco)| *eco)?;
    let folder = match release {
        None => ecosystem.to_owned(),
        Some(r) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{ecosystem}:{r}")
        }
        Some(_) => return None,
    };
    let url = folder.replace(' ', "%20");
    Some((folder, url))
}

/// Whether an RPM release is a modular build (`.module+el8.9.0+…`, `.module_el8.5.0+…`):
/// such a build and a non-modular one of the same package are never compared.
pub(crate) fn is_modular(version: &str) -> bool {
    version.contains(".module+") || version.contains(".module_")
}

/// Red Hat's severity words, as the summary of a RHEL-family advisory starts with them.
const SUMMARY_RATINGS: &[&str] = &["Critical", "Important", "Moderate", "Low"];

/// The RPM distro row of an OSV ecosystem (`AlmaLinux:8` → AlmaLinux's).
pub(crate) fn row_of(ecosystem: &str) -> Option<&'static RpmDistro> {
    let base = ecosystem.split_once(':').map_or(ecosystem, |(b, _)| b);
    RPM_DISTROS.iter().find(|r| r.ecosystem == base)
}

/// For a security advisory of a RHEL-family distro feed (every ecosystem it names is one,
/// its id has the row's security prefix): the CVE ids of `related` join the aliases, and the
/// summary's severity word (`Important: …`) becomes a severity of kind `<distro>` (the
/// module documentation says why). Other advisories are left as they are.
pub(crate) fn distro_facts(a: &mut crate::Advisory) {
    let mut rows = a.affected.iter().map(|e| row_of(&e.ecosystem));
    let Some(Some(row)) = rows.next() else {
        return;
    };
    if !row.rated_summary
        || rows.any(|r| r.is_none_or(|r| r.ecosystem != row.ecosystem))
        || !row.security.iter().any(|p| a.id.starts_with(p))
    {
        return;
    }
    for id in &a.related {
        if is_cve_id(id) && !a.aliases.contains(id) {
            a.aliases.push(id.clone());
        }
    }
    let word = a.summary.split_once(':').map(|(w, _)| w.trim());
    if let Some(word) = word.filter(|w| SUMMARY_RATINGS.contains(w))
        && !a
            .severity
            .iter()
            .any(|s| s.kind == crate::SeverityKind::Other(row.ecosystem.to_owned()))
    {
        a.severity.push(crate::Severity {
            kind: crate::SeverityKind::Other(row.ecosystem.to_owned()),
            score: word.to_owned(),
        });
    }
}

/// `CVE-YYYY-N…`.
fn is_cve_id(id: &str) -> bool {
    id.strip_prefix("CVE-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(year, n)| {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && n.len() >= 4
                && n.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distro(id: &str, version: Option<&str>, like: &[&str]) -> Distro {
        Distro {
            id: id.into(),
            version_id: version.map(Into::into),
            id_like: like.iter().map(|s| (*s).to_owned()).collect(),
            ..Distro::default()
        }
    }

    #[test]
    fn almalinux_os_release_selects_its_major_release() {
        let alma = distro("almalinux", Some("8.9"), &["rhel", "centos", "fedora"]);
        assert_eq!(rpm_ecosystem(Some(&alma)).unwrap(), "AlmaLinux:8");
        assert_eq!(
            rpm_ecosystem(Some(&distro("almalinux", Some("9.3"), &[]))).unwrap(),
            "AlmaLinux:9"
        );
        let mut from_release_file = distro("almalinux", None, &[]);
        from_release_file.detail_version = Some("AlmaLinux release 8.9 (Midnight Oncilla)".into());
        assert_eq!(
            rpm_ecosystem(Some(&from_release_file)).unwrap(),
            "AlmaLinux:8"
        );
        assert!(rpm_ecosystem(Some(&distro("almalinux", None, &[]))).is_err());
    }

    #[test]
    fn other_rpm_distros_fail_closed_and_never_borrow_through_id_like() {
        for id in [
            "rocky",
            "rhel",
            "sles",
            "opensuse-leap",
            "azurelinux",
            "mariner",
        ] {
            let e = rpm_ecosystem(Some(&distro(id, Some("9.3"), &[]))).unwrap_err();
            assert!(e.contains("not supported yet"), "{id}: {e}");
        }
        let centos = distro("centos", Some("8"), &["rhel", "fedora"]);
        let e = rpm_ecosystem(Some(&centos)).unwrap_err();
        assert!(
            e.contains("\"centos\"") && e.contains("never borrowed"),
            "{e}"
        );
        assert!(rpm_ecosystem(None).is_err());
    }

    #[test]
    fn only_security_records_count_per_distro() {
        let alma = ["AlmaLinux:8"];
        assert_eq!(non_security_kind("ALSA-2024:2722", &alma), None);
        assert_eq!(
            non_security_kind("ALBA-2019:0973", &alma).as_deref(),
            Some("AlmaLinux ALBA-* (bug fix)")
        );
        assert_eq!(
            non_security_kind("ALEA-2021:1", &["AlmaLinux:8", "AlmaLinux:9"]).as_deref(),
            Some("AlmaLinux ALEA-* (enhancement)")
        );
        assert!(non_security_kind("RLBA-2023:1", &["Rocky Linux:9"]).is_some());
        assert_eq!(non_security_kind("RLSA-2023:1", &["Rocky Linux:9"]), None);
        assert!(
            non_security_kind("SUSE-RU-2024:1", &["SUSE:Linux Enterprise Server 15 SP5"]).is_some()
        );
        assert_eq!(non_security_kind("CVE-2024-1", &["Azure Linux:3"]), None);
        // A record naming any other ecosystem is left alone.
        assert_eq!(non_security_kind("ALBA-1", &["AlmaLinux:8", "PyPI"]), None);
        assert_eq!(non_security_kind("GHSA-x", &["PyPI"]), None);
    }

    #[test]
    fn update_knows_the_almalinux_and_rocky_exports() {
        let pair = |f: &str, u: &str| Some((f.to_owned(), u.to_owned()));
        assert_eq!(osv_export("almalinux"), pair("AlmaLinux", "AlmaLinux"));
        assert_eq!(
            osv_export("osv/AlmaLinux:8"),
            pair("AlmaLinux:8", "AlmaLinux:8")
        );
        assert_eq!(
            osv_export("rocky:9"),
            pair("Rocky Linux:9", "Rocky%20Linux:9")
        );
        assert_eq!(
            osv_export("osv/Rocky Linux"),
            pair("Rocky Linux", "Rocky%20Linux")
        );
        assert_eq!(osv_export("rocky:9/../x"), None);
        assert_eq!(osv_export("osv/PyPI"), None);
    }

    #[test]
    fn modular_releases_are_told_apart() {
        assert!(is_modular(
            "1:0.1.15-2.git2d0b8a3.module_el8.5.0+119+9a9ec082"
        ));
        assert!(is_modular("10.3.28-1.module+el8.3.0+10472+7adc332a"));
        assert!(!is_modular("2.28-236.el8.7"));
    }

    fn record(id: &str, ecosystem: &str, summary: &str) -> crate::Advisory {
        let json = serde_json::json!({
            "id": id,
            "summary": summary,
            "related": ["CVE-2024-2961", "RHSA-2024:2722", "CVE-24-1"],
            "aliases": [],
            "modified": "2024-05-09T12:09:14Z",
            "affected": [{"package": {"ecosystem": ecosystem, "name": "glibc"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.28-236.el8_9.13"}]}]}]
        });
        crate::osv::parse_osv_record(json.to_string().as_bytes(), "test", "r.json").unwrap()
    }

    #[test]
    fn rhel_family_advisories_get_cve_aliases_and_the_summary_rating() {
        let mut a = record(
            "ALSA-2024:2722",
            "AlmaLinux:8",
            "Important: glibc security update",
        );
        distro_facts(&mut a);
        assert_eq!(
            a.aliases,
            ["CVE-2024-2961"],
            "only well-formed CVE ids of `related`"
        );
        assert_eq!(
            a.severity,
            [crate::Severity {
                kind: crate::SeverityKind::Other("AlmaLinux".into()),
                score: "Important".into()
            }]
        );
        // Idempotent.
        distro_facts(&mut a);
        assert_eq!(a.aliases.len(), 1);
        assert_eq!(a.severity.len(), 1);

        // Not a rating word, not a security advisory, not a RHEL-family feed: unchanged.
        for (id, eco, summary) in [
            ("ALSA-2024:1", "AlmaLinux:8", "glibc: important fix"),
            ("ALBA-2024:1", "AlmaLinux:8", "Important: glibc bug fix"),
            (
                "SUSE-SU-2024:1",
                "SUSE:Linux Enterprise Server 15",
                "Important: glibc",
            ),
            ("GHSA-xxxx", "PyPI", "Important: x"),
        ] {
            let mut b = record(id, eco, summary);
            let aliases = b.aliases.clone();
            distro_facts(&mut b);
            if id == "ALSA-2024:1" {
                assert_eq!(b.aliases, ["CVE-2024-2961"], "{id}");
                assert!(b.severity.is_empty(), "{id}");
            } else {
                assert_eq!(b.aliases, aliases, "{id}");
                assert!(b.severity.is_empty(), "{id}");
            }
        }
    }
}
