//! Version schemes and ranges: dpkg, rpm, apk, PEP 440, SemVer (npm and Cargo), Go, Maven,
//! RubyGems and NuGet, each read and ordered by its reference rules, and OSV `affected` ranges evaluated
//! with the reason a version matched.
//!
//! Not for: packages, ecosystems' package names, feeds or databases. This crate knows strings
//! and their order; `palisade-catalog` finds the versions and `palisade-vulndb` the advisories.
//!
//! ```
//! use std::cmp::Ordering;
//! use palisade_version::{Scheme, osv::AffectedVersions};
//!
//! assert_eq!(Scheme::Dpkg.compare("1:0.9", "2.0")?, Ordering::Greater);
//! assert_eq!(Scheme::from_osv_ecosystem("Debian:12"), Some(Scheme::Dpkg));
//!
//! let affected: AffectedVersions = serde_json::from_str(r#"{"ranges": [{"type": "ECOSYSTEM",
//!     "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u7"}]}]}"#).unwrap();
//! let found = affected.evaluate(Scheme::Dpkg, "2.36-9+deb12u4")?;
//! assert!(found.is_affected());
//! assert_eq!(found.matches[0].to_string(), "range 0: introduced at the first version, fixed 2.36-9+deb12u7");
//! assert!(!affected.evaluate(Scheme::Dpkg, "2.36-9+deb12u10")?.is_affected());
//! # Ok::<(), palisade_version::Error>(())
//! ```
//!
//! # One API
//!
//! [`Scheme::parse`] turns text into a [`Version`]; versions of one scheme are ordered
//! (`partial_cmp` is `Some`, [`Version::try_cmp`] is `Ok`), versions of two schemes are not.
//! [`fmt::Display`](std::fmt::Display) gives back the text as written. Parsing never panics, and an
//! [`Error`] names the scheme, the text and the reason. Equality is the scheme's, not the
//! text's: PEP 440 `1.0 == 1.0.0`, Maven `1 == 1.ga`.
//!
//! # Traps, scheme by scheme
//!
//! - **dpkg**: the epoch dominates (`1:0.9 > 2.0`); `~` sorts before everything, even the
//!   end (`1.0~rc1 < 1.0`, `2.30-1ubuntu1~22.04 < 2.30-1ubuntu1`); letters sort before other
//!   characters (`1.0a < 1.0+`); no revision equals `-0`; security updates extend the revision
//!   (`1.0-1 < 1.0-1+deb12u1`, `+deb12u9 < +deb12u10`).
//! - **rpm**: `~` is a pre-release (`1.0~rc1 < 1.0`), `^` a post-release snapshot below the
//!   next version (`1.0 < 1.0^git1 < 1.0.1`); without `~`, `1.0rc1 > 1.0` (an extra segment
//!   wins); separators only separate (`1.0 == 1_0`) and numbers drop zeros (`10.0001 ==
//!   10.1`); a number beats letters (`1.0.1 > 1.0.a`). A missing release sorts before any
//!   release (`1.0 < 1.0-~1`), as `rpmverCmp` does; dependency matching (where it matches
//!   any release) is not this crate's business.
//! - **apk**: `_alpha`, `_beta`, `_pre`, `_rc` come before the release; `_cvs`, `_svn`,
//!   `_git`, `_hg`, `_p` after it, and above any `-rN` (`1.2.3-r1 < 1.2.3_p1`: a patch level
//!   is an upstream change); a later component with a leading zero compares as text
//!   (`8.2.0 < 8.2.001`, `8.2.0015 < 8.2.002`); `~hash` commit components.
//! - **PEP 440**: `1.0.dev0 < 1.0a0 < 1.0 < 1.0+local < 1.0.post0`; spellings normalise
//!   (`1.0RC1 == 1.0-rc-1 == 1.0c1`, `1.0-1 == 1.0.post1`, `v1.0 == 1.0`); trailing zeros
//!   do not count (`1.0 == 1.0.0`); in local versions numbers beat letters (`+abc < +5`).
//! - **SemVer**: build metadata never counts (`1.0.0+a == 1.0.0+b`); numeric identifiers
//!   sort before alphanumeric ones (`1.0.0-1 < 1.0.0-alpha`) and compare as numbers only when
//!   whole (`-beta.11 > -beta.2` but `-beta11 < -beta2`). npm allows a leading `v` or `=`
//!   and numbers up to 2^53 - 1; Cargo allows neither prefix.
//! - **Go**: pseudo-versions are pre-releases (`v1.2.3 < v1.2.4-0.2021…-abcdef123456 <
//!   v1.2.4`); `+incompatible` is build metadata and ignored; OSV writes versions without
//!   the `v`; release tags read as SemVer (`go1.21 == 1.21.0`, `go1.21rc2 == 1.21.0-rc.2`).
//! - **Maven**: unknown qualifiers sort *after* the release (`1.0-preview1 > 1.0`), like
//!   `sp`; `ga`, `final`, `release` and trailing zeros vanish (`1.ga == 1 == 1.0.0`);
//!   `a1`/`b1`/`m1` mean alpha/beta/milestone only before a digit; a hyphen weighs less than
//!   a dot (`1.0.RC2 < 1.0-RC3 < 1.0.1`). Maven's own comparison is not transitive
//!   (`a < -m0 < 0 < a`); this order is total and agrees with Maven wherever Maven agrees with
//!   itself (see [`MavenVersion`]). Versions longer than 256 characters are rejected.
//! - **RubyGems**: any letter makes a pre-release (`1.0.a < 1.0 < 1.0.1`), `-` reads as
//!   `.pre.`, trailing zeros vanish (`1 == 1.0`, `1.0.a == 1.a`).
//! - **NuGet**: up to four numeric parts, missing ones zero (`1.0 == 1.0.0.0 < 1.0.0.1`),
//!   SemVer pre-release labels compared ignoring case (`1.0.0-Beta == 1.0.0-beta`), build
//!   metadata ignored.
//!
//! # OSV
//!
//! [`osv`] holds serde structs for the `ranges`/`versions` part of an OSV `affected` entry
//! and evaluates them: [`osv::AffectedVersions::compile`] once per advisory, then
//! [`osv::CompiledAffected::evaluate`] per installed version, which reports every
//! [`osv::Match`] and every skipped (`GIT`) range.

#![deny(missing_docs)]

/// Implements `PartialOrd`, `PartialEq` and `Eq` from a version type's `Ord` (so equality is the
/// scheme's, e.g. `1.0 == 1.0.0` in Maven), and `Display` as the original text (`self.text`).
macro_rules! ordered_by_cmp {
    ($t:ty) => {
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<::std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == ::std::cmp::Ordering::Equal
            }
        }

        impl Eq for $t {}

        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.text)
            }
        }
    };
}
pub(crate) use ordered_by_cmp;

mod apk;
mod dpkg;
mod error;
mod go;
mod maven;
mod nuget;
mod num;
pub mod osv;
mod pep440;
mod rpm;
mod rubygems;
mod scheme;
mod semver;

pub use apk::ApkVersion;
pub use dpkg::DpkgVersion;
pub use error::Error;
pub use go::GoVersion;
pub use maven::MavenVersion;
pub use nuget::NuGetVersion;
pub use pep440::Pep440Version;
pub use rpm::RpmVersion;
pub use rubygems::GemVersion;
pub use scheme::{Scheme, Version};
pub use semver::SemVersion;
