//! The package model: what was found, where, and which layer brought it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The packaging system a package belongs to.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Ecosystem {
    /// Debian packages (dpkg).
    #[default]
    Deb,
    /// Alpine packages (apk).
    Apk,
    /// RPM packages.
    Rpm,
    /// Python distributions (PyPI).
    Python,
    /// npm packages.
    Npm,
    /// Go modules compiled into a binary.
    GoModule,
    /// Rust crates (Cargo.lock or `cargo auditable` binaries).
    RustCrate,
    /// Java archives (Maven coordinates).
    JavaArchive,
    /// Ruby gems (installed gemspecs, `Gemfile.lock`).
    Gem,
    /// PHP Composer packages (`vendor/composer/installed.json`, `composer.lock`).
    Composer,
    /// .NET NuGet packages (`*.deps.json`).
    Nuget,
}

impl Ecosystem {
    /// The name used in reports (`deb`, `python`, `go-module`, …), as Syft names package types.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Python => "python",
            Ecosystem::Npm => "npm",
            Ecosystem::GoModule => "go-module",
            Ecosystem::RustCrate => "rust-crate",
            Ecosystem::JavaArchive => "java-archive",
            Ecosystem::Gem => "gem",
            Ecosystem::Composer => "php-composer",
            Ecosystem::Nuget => "dotnet",
        }
    }

    /// Whether packages of this kind are installed by the operating system's package manager.
    #[must_use]
    pub fn is_os(self) -> bool {
        matches!(self, Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm)
    }

    /// Parses [`Ecosystem::as_str`] names.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Ecosystem> {
        Some(match s {
            "deb" => Ecosystem::Deb,
            "apk" => Ecosystem::Apk,
            "rpm" => Ecosystem::Rpm,
            "python" => Ecosystem::Python,
            "npm" => Ecosystem::Npm,
            "go-module" => Ecosystem::GoModule,
            "rust-crate" => Ecosystem::RustCrate,
            "java-archive" => Ecosystem::JavaArchive,
            "gem" => Ecosystem::Gem,
            "php-composer" => Ecosystem::Composer,
            "dotnet" => Ecosystem::Nuget,
            _ => return None,
        })
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The source package a binary package was built from (Debian `Source:`, Alpine origin,
/// RPM source RPM). Distro advisories are filed against it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourcePackage {
    /// Source package name.
    pub name: String,
    /// Source version (may differ from the binary version, e.g. binNMUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A layer, as packages refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LayerRef {
    /// Position in the image, 0 for the lowest.
    pub index: usize,
    /// The layer's diff ID, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
}

/// A file that shows a package is there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// Absolute path inside the image, e.g. `/var/lib/dpkg/status`.
    pub path: String,
    /// The layer the file was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The packaging system.
    pub ecosystem: Ecosystem,
    /// Name as the ecosystem writes it (for Maven: `group:artifact`).
    pub name: String,
    /// Version as installed.
    pub version: String,
    /// Package URL (purl-spec).
    pub purl: String,
    /// Architecture, for OS packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Source package, for OS packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    /// Declared licences (as written by the package, not normalised).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// The files that show the package is there.
    pub locations: Vec<Location>,
    /// The layer that introduced the package (its earliest appearance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerRef>,
}

/// The operating system of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID` from os-release (`debian`, `alpine`, `rhel`, …).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`, `9.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// `PRETTY_NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, split on spaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    /// Finer version from a distro file (`/etc/debian_version`: `12.7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_version: Option<String>,
}

impl Distro {
    /// The `distro` qualifier of PURLs: `debian-12`, `alpine-3.19.1`.
    #[must_use]
    pub fn purl_qualifier(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}-{v}", self.id),
            None => self.id.clone(),
        }
    }
}
