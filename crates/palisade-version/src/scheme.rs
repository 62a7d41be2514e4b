//! The scheme enum, the version enum over the parsed forms, and OSV ecosystem names.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    ApkVersion, DpkgVersion, Error, GemVersion, GoVersion, MavenVersion, NuGetVersion,
    Pep440Version, RpmVersion, SemVersion,
};

/// A version scheme: how version strings of one ecosystem are read and ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Debian and Ubuntu packages: `[epoch:]upstream[-revision]`.
    Dpkg,
    /// RPM packages (Red Hat, Rocky, AlmaLinux, SUSE, …): `[epoch:]version[-release]`.
    Rpm,
    /// Alpine (and Wolfi) packages.
    Apk,
    /// Python packages (PEP 440).
    Pep440,
    /// npm packages: SemVer 2.0.0, a leading `v` or `=` allowed.
    SemverNpm,
    /// Cargo crates: strict SemVer 2.0.0.
    SemverCargo,
    /// Go modules and Go releases.
    Go,
    /// Maven artifacts (`ComparableVersion`).
    Maven,
    /// Ruby gems (`Gem::Version`).
    #[serde(rename = "rubygems")]
    RubyGems,
    /// NuGet packages (`NuGet.Versioning`): up to four numeric parts, pre-release labels
    /// compared ignoring case.
    #[serde(rename = "nuget")]
    NuGet,
}

impl Scheme {
    /// Every scheme, in declaration order.
    pub const ALL: [Scheme; 10] = [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::SemverNpm,
        Scheme::SemverCargo,
        Scheme::Go,
        Scheme::Maven,
        Scheme::RubyGems,
        Scheme::NuGet,
    ];

    /// Parses `text` as a version of this scheme.
    pub fn parse(&self, text: &str) -> Result<Version, Error> {
        Ok(match self {
            Scheme::Dpkg => Version::Dpkg(DpkgVersion::parse(text)?),
            Scheme::Rpm => Version::Rpm(RpmVersion::parse(text)?),
            Scheme::Apk => Version::Apk(ApkVersion::parse(text)?),
            Scheme::Pep440 => Version::Pep440(Pep440Version::parse(text)?),
            Scheme::SemverNpm => Version::SemverNpm(SemVersion::parse_npm(text)?),
            Scheme::SemverCargo => Version::SemverCargo(SemVersion::parse_cargo(text)?),
            Scheme::Go => Version::Go(GoVersion::parse(text)?),
            Scheme::Maven => Version::Maven(MavenVersion::parse(text)?),
            Scheme::RubyGems => Version::RubyGems(GemVersion::parse(text)?),
            Scheme::NuGet => Version::NuGet(NuGetVersion::parse(text)?),
        })
    }

    /// Parses both texts and orders them.
    pub fn compare(&self, a: &str, b: &str) -> Result<Ordering, Error> {
        self.parse(a)?.try_cmp(&self.parse(b)?)
    }

    /// The scheme of a package type as reports name it (`deb`, `python`, `go-module`, …, and the
    /// PURL types `pypi`, `cargo`, `golang`, `maven`, `gem`); `None` when unknown.
    pub fn from_package_type(kind: &str) -> Option<Scheme> {
        Some(match kind {
            "deb" => Scheme::Dpkg,
            "rpm" => Scheme::Rpm,
            "apk" => Scheme::Apk,
            "python" | "pypi" => Scheme::Pep440,
            "npm" => Scheme::SemverNpm,
            "rust-crate" | "cargo" => Scheme::SemverCargo,
            "go-module" | "golang" => Scheme::Go,
            "java-archive" | "maven" => Scheme::Maven,
            "gem" | "rubygems" => Scheme::RubyGems,
            // The approximation of `from_osv_ecosystem` (documented there).
            "dotnet" | "nuget" => Scheme::NuGet,
            "php-composer" | "composer" => Scheme::SemverNpm,
            _ => return None,
        })
    }

    /// The scheme of an OSV `affected[].package.ecosystem` value, or `None` for ecosystems with
    /// no scheme here (`GIT`, `Linux`, `Hackage`, …). A `:suffix` (`Debian:12`, `Alpine:v3.19`,
    /// `Ubuntu:Pro:18.04:LTS`, `Red Hat:rhel_aus:8.4::appstream`, `Maven:https://…`) is ignored.
    ///
    /// `Packagist` maps to [`Scheme::SemverNpm`], an approximation: its 2- and 4-part versions
    /// (`1.0`, `1.2.3.4`) are rejected as errors rather than guessed at, and pre-release tags
    /// are ordered as SemVer orders them (ASCII, so `RC1 < beta1`), not by Composer's
    /// stability order.
    pub fn from_osv_ecosystem(ecosystem: &str) -> Option<Scheme> {
        let base = ecosystem
            .split_once(':')
            .map_or(ecosystem, |(base, _)| base);
        Some(match base {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Photon OS"
            | "Mageia" | "openEuler" => Scheme::Rpm,
            "Alpine" | "Wolfi" | "Chainguard" | "Alpaquita" | "MinimOS" => Scheme::Apk,
            "PyPI" => Scheme::Pep440,
            "npm" | "Packagist" => Scheme::SemverNpm,
            "NuGet" => Scheme::NuGet,
            "crates.io" | "Hex" => Scheme::SemverCargo,
            "Go" => Scheme::Go,
            "Maven" => Scheme::Maven,
            "RubyGems" => Scheme::RubyGems,
            _ => return None,
        })
    }

    /// A short human name, as used in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "PEP 440",
            Scheme::SemverNpm => "npm semver",
            Scheme::SemverCargo => "Cargo semver",
            Scheme::Go => "Go",
            Scheme::Maven => "Maven",
            Scheme::RubyGems => "RubyGems",
            Scheme::NuGet => "NuGet",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed version of one scheme.
///
/// Versions of the same scheme are ordered ([`PartialOrd`] answers `Some`, [`Version::try_cmp`]
/// answers `Ok`); versions of different schemes are not: `partial_cmp` answers `None`,
/// `try_cmp` an [`Error::SchemeMismatch`], and `==` is `false`. There is no `Ord` on this
/// enum for that reason; each scheme's own type has one.
///
/// Equality is the scheme's: `Scheme::Pep440` makes `1.0` equal to `1.0.0`. [`fmt::Display`]
/// writes the text exactly as it was parsed.
#[derive(Clone, Debug)]
pub enum Version {
    /// A dpkg version.
    Dpkg(DpkgVersion),
    /// An RPM EVR.
    Rpm(RpmVersion),
    /// An apk version.
    Apk(ApkVersion),
    /// A PEP 440 version.
    Pep440(Pep440Version),
    /// A SemVer version read the npm way.
    SemverNpm(SemVersion),
    /// A SemVer version read the Cargo way.
    SemverCargo(SemVersion),
    /// A Go module or release version.
    Go(GoVersion),
    /// A Maven version.
    Maven(MavenVersion),
    /// A RubyGems version.
    RubyGems(GemVersion),
    /// A NuGet version.
    NuGet(NuGetVersion),
}

impl Version {
    /// The scheme this version was parsed with.
    pub fn scheme(&self) -> Scheme {
        match self {
            Version::Dpkg(_) => Scheme::Dpkg,
            Version::Rpm(_) => Scheme::Rpm,
            Version::Apk(_) => Scheme::Apk,
            Version::Pep440(_) => Scheme::Pep440,
            Version::SemverNpm(_) => Scheme::SemverNpm,
            Version::SemverCargo(_) => Scheme::SemverCargo,
            Version::Go(_) => Scheme::Go,
            Version::Maven(_) => Scheme::Maven,
            Version::RubyGems(_) => Scheme::RubyGems,
            Version::NuGet(_) => Scheme::NuGet,
        }
    }

    /// The text exactly as parsed.
    pub fn as_str(&self) -> &str {
        match self {
            Version::Dpkg(v) => v.as_str(),
            Version::Rpm(v) => v.as_str(),
            Version::Apk(v) => v.as_str(),
            Version::Pep440(v) => v.as_str(),
            Version::SemverNpm(v) | Version::SemverCargo(v) => v.as_str(),
            Version::Go(v) => v.as_str(),
            Version::Maven(v) => v.as_str(),
            Version::RubyGems(v) => v.as_str(),
            Version::NuGet(v) => v.as_str(),
        }
    }

    /// Whether the version is a pre-release in its scheme (PEP 440 `a`/`b`/`rc`/`.dev`,
    /// SemVer `-…`, Go pseudo-versions' and tags' pre-release part, RubyGems letters); OS
    /// package versions and Maven never are.
    pub fn is_prerelease(&self) -> bool {
        match self {
            Version::Pep440(v) => v.is_prerelease(),
            Version::SemverNpm(v) | Version::SemverCargo(v) => v.is_prerelease(),
            Version::Go(v) => v.is_prerelease(),
            Version::RubyGems(v) => v.is_prerelease(),
            Version::NuGet(v) => v.is_prerelease(),
            Version::Dpkg(_) | Version::Rpm(_) | Version::Apk(_) | Version::Maven(_) => false,
        }
    }

    /// Orders two versions of the same scheme; versions of different schemes are an error.
    pub fn try_cmp(&self, other: &Version) -> Result<Ordering, Error> {
        self.partial_cmp(other).ok_or(Error::SchemeMismatch {
            left: self.scheme(),
            right: other.scheme(),
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(match (self, other) {
            (Version::Dpkg(a), Version::Dpkg(b)) => a.cmp(b),
            (Version::Rpm(a), Version::Rpm(b)) => a.cmp(b),
            (Version::Apk(a), Version::Apk(b)) => a.cmp(b),
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            (Version::SemverNpm(a), Version::SemverNpm(b))
            | (Version::SemverCargo(a), Version::SemverCargo(b)) => a.cmp(b),
            (Version::Go(a), Version::Go(b)) => a.cmp(b),
            (Version::Maven(a), Version::Maven(b)) => a.cmp(b),
            (Version::RubyGems(a), Version::RubyGems(b)) => a.cmp(b),
            (Version::NuGet(a), Version::NuGet(b)) => a.cmp(b),
            _ => return None,
        })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_ecosystems() {
        for (eco, want) in [
            ("PyPI", Some(Scheme::Pep440)),
            ("npm", Some(Scheme::SemverNpm)),
            ("Go", Some(Scheme::Go)),
            ("crates.io", Some(Scheme::SemverCargo)),
            ("Maven", Some(Scheme::Maven)),
            ("Maven:https://maven.google.com", Some(Scheme::Maven)),
            ("RubyGems", Some(Scheme::RubyGems)),
            ("Debian", Some(Scheme::Dpkg)),
            ("Debian:12", Some(Scheme::Dpkg)),
            ("Ubuntu:22.04", Some(Scheme::Dpkg)),
            ("Ubuntu:Pro:18.04:LTS", Some(Scheme::Dpkg)),
            ("Alpine:v3.19", Some(Scheme::Apk)),
            ("Wolfi", Some(Scheme::Apk)),
            ("Red Hat", Some(Scheme::Rpm)),
            ("Red Hat:rhel_aus:8.4::appstream", Some(Scheme::Rpm)),
            ("Rocky Linux", Some(Scheme::Rpm)),
            ("AlmaLinux:9", Some(Scheme::Rpm)),
            ("openSUSE:Tumbleweed", Some(Scheme::Rpm)),
            ("Packagist", Some(Scheme::SemverNpm)),
            (
                "Packagist:https://packages.drupal.org/8",
                Some(Scheme::SemverNpm),
            ),
            ("NuGet", Some(Scheme::NuGet)),
            ("GIT", None),
            ("Linux", None),
            ("pypi", None),
            ("", None),
        ] {
            assert_eq!(Scheme::from_osv_ecosystem(eco), want, "{eco}");
        }
    }

    #[test]
    fn versions_of_different_schemes_do_not_compare() {
        let a = Scheme::SemverNpm.parse("1.0.0").unwrap();
        let b = Scheme::SemverCargo.parse("1.0.0").unwrap();
        assert_eq!(a.partial_cmp(&b), None);
        assert_ne!(a, b);
        assert!(!a.lt(&b) && !a.gt(&b) && !a.le(&b) && !a.ge(&b));
        let e = a.try_cmp(&b).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot compare a npm semver version with a Cargo semver version"
        );
        assert_eq!(
            a.try_cmp(&Scheme::SemverNpm.parse("v1.0.0").unwrap()),
            Ok(Ordering::Equal)
        );
    }

    #[test]
    fn display_is_the_original_text() {
        for scheme in Scheme::ALL {
            let text = match scheme {
                Scheme::Dpkg => " 1:2.0-1 ",
                Scheme::Rpm => "1:1.0~rc1-1",
                Scheme::Apk => "1.0_rc1-r0",
                Scheme::Pep440 => " V1.0RC1 ",
                Scheme::SemverNpm => " =v1.0.0 ",
                Scheme::SemverCargo => "1.0.0-rc.1+b",
                Scheme::Go => "go1.21rc2",
                Scheme::Maven => "1.0-RELEASE",
                Scheme::RubyGems => " 1.0-beta ",
                Scheme::NuGet => " 1.0.0.1-Beta+b ",
            };
            let v = scheme.parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(v.to_string(), text);
            assert_eq!(v.scheme(), scheme);
        }
    }

    #[test]
    fn scheme_serde_names() {
        let json = serde_json::to_string(&Scheme::ALL).unwrap();
        assert_eq!(
            json,
            r#"["dpkg","rpm","apk","pep440","semver-npm","semver-cargo","go","maven","rubygems","nuget"]"#
        );
        let back: Vec<Scheme> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Scheme::ALL);
    }
}
