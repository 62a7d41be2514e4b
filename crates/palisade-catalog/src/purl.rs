//! Package URLs (purl-spec), with the distro qualifiers vulnerability matching relies on.

use packageurl::PackageUrl;

use crate::catalogers::Found;
use crate::package::{Distro, Ecosystem};

/// The PURL of a found package. Returns `None` only if the name cannot form a valid PURL.
pub(crate) fn purl(f: &Found, distro: Option<&Distro>) -> Option<String> {
    let (ty, namespace, name): (&str, Option<String>, String) = match f.ecosystem {
        Ecosystem::Deb => (
            "deb",
            Some(distro.map_or("debian", |d| d.id.as_str()).to_owned()),
            f.name.clone(),
        ),
        Ecosystem::Apk => (
            "apk",
            Some(distro.map_or("alpine", |d| d.id.as_str()).to_owned()),
            f.name.clone(),
        ),
        Ecosystem::Rpm => (
            "rpm",
            Some(distro.map_or("redhat", |d| d.id.as_str()).to_owned()),
            f.name.clone(),
        ),
        Ecosystem::Python => ("pypi", None, f.name.to_ascii_lowercase().replace('_', "-")),
        Ecosystem::Npm => match f.name.strip_prefix('@').and_then(|s| s.split_once('/')) {
            Some((scope, n)) => ("npm", Some(format!("@{scope}")), n.to_owned()),
            None => ("npm", None, f.name.clone()),
        },
        Ecosystem::GoModule => match f.name.rsplit_once('/') {
            Some((ns, n)) => ("golang", Some(ns.to_owned()), n.to_owned()),
            None => ("golang", None, f.name.clone()),
        },
        Ecosystem::RustCrate => ("cargo", None, f.name.clone()),
        Ecosystem::JavaArchive => match f.name.split_once(':') {
            Some((group, artifact)) => ("maven", Some(group.to_owned()), artifact.to_owned()),
            None => ("maven", None, f.name.clone()),
        },
        Ecosystem::Gem => ("gem", None, f.name.clone()),
        // `vendor/name`: the vendor is the namespace (purl-spec's composer type).
        Ecosystem::Composer => match f.name.split_once('/') {
            Some((vendor, n)) => ("composer", Some(vendor.to_owned()), n.to_owned()),
            None => ("composer", None, f.name.clone()),
        },
        Ecosystem::Nuget => ("nuget", None, f.name.clone()),
    };
    let mut p = PackageUrl::new(ty, name).ok()?;
    if let Some(ns) = &namespace {
        p.with_namespace(ns.as_str()).ok()?;
    }
    // The Go standard library is versioned `go1.22.2` in binaries but `1.22.2` in PURLs and
    // in the Go vulnerability database.
    let version = match f.ecosystem {
        Ecosystem::GoModule if f.name == "stdlib" => {
            f.version.strip_prefix("go").unwrap_or(&f.version)
        }
        _ => f.version.as_str(),
    };
    p.with_version(version).ok()?;
    if f.ecosystem.is_os() {
        if let Some(arch) = &f.arch {
            p.add_qualifier("arch", arch.as_str()).ok()?;
        }
        if let Some(d) = distro {
            p.add_qualifier("distro", d.purl_qualifier()).ok()?;
        }
        if let Some(src) = &f.source {
            let upstream = match &src.version {
                Some(v) if *v != f.version => format!("{}@{v}", src.name),
                _ => src.name.clone(),
            };
            if src.name != f.name || src.version.as_deref().is_some_and(|v| v != f.version) {
                p.add_qualifier("upstream", upstream).ok()?;
            }
        }
    }
    Some(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::SourcePackage;

    fn found(e: Ecosystem, name: &str, version: &str) -> Found {
        Found {
            ecosystem: e,
            name: name.into(),
            version: version.into(),
            ..Found::default()
        }
    }

    #[test]
    fn deb_with_distro_and_upstream() {
        let mut f = found(Ecosystem::Deb, "libc6", "2.36-9+deb12u7");
        f.arch = Some("amd64".into());
        f.source = Some(SourcePackage {
            name: "glibc".into(),
            version: Some("2.36-9+deb12u7".into()),
        });
        let d = Distro {
            id: "debian".into(),
            version_id: Some("12".into()),
            ..Distro::default()
        };
        assert_eq!(
            purl(&f, Some(&d)).unwrap(),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12&upstream=glibc"
        );
    }

    #[test]
    fn language_packages() {
        assert_eq!(
            purl(&found(Ecosystem::Python, "PyYAML", "5.3"), None).unwrap(),
            "pkg:pypi/pyyaml@5.3"
        );
        assert_eq!(
            purl(&found(Ecosystem::Npm, "@babel/core", "7.0.0"), None).unwrap(),
            "pkg:npm/%40babel/core@7.0.0"
        );
        assert_eq!(
            purl(
                &found(Ecosystem::GoModule, "golang.org/x/net", "v0.7.0"),
                None
            )
            .unwrap(),
            "pkg:golang/golang.org/x/net@v0.7.0"
        );
        assert_eq!(
            purl(&found(Ecosystem::GoModule, "stdlib", "go1.19.8"), None).unwrap(),
            "pkg:golang/stdlib@1.19.8"
        );
        assert_eq!(
            purl(&found(Ecosystem::Gem, "rack", "2.2.22"), None).unwrap(),
            "pkg:gem/rack@2.2.22"
        );
        assert_eq!(
            purl(
                &found(Ecosystem::Composer, "symfony/http-kernel", "v5.4.1"),
                None
            )
            .unwrap(),
            "pkg:composer/symfony/http-kernel@v5.4.1"
        );
        assert_eq!(
            purl(&found(Ecosystem::Nuget, "Newtonsoft.Json", "12.0.1"), None).unwrap(),
            "pkg:nuget/Newtonsoft.Json@12.0.1"
        );
    }
}
