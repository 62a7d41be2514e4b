//! Image source strings: `oci-dir:`, `oci-archive:`, `docker-archive:`, `dir:`, `registry:`,
//! and detection of what an unprefixed string means.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::reference::Reference;

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// An OCI image layout directory; the optional part after the last `:` selects a tag
    /// (`org.opencontainers.image.ref.name`).
    OciDir {
        /// The layout directory.
        path: PathBuf,
        /// The tag to pick when the layout holds several images.
        tag: Option<String>,
    },
    /// A tar of an OCI image layout.
    OciArchive {
        /// The archive.
        path: PathBuf,
        /// The tag to pick when the layout holds several images.
        tag: Option<String>,
    },
    /// The output of `docker save`; the optional part after the archive path picks an image
    /// (`FILE:repo:tag`), like `--image`.
    DockerArchive {
        /// The archive.
        path: PathBuf,
        /// The image to pick when the archive holds several.
        image: Option<String>,
    },
    /// An unpacked root filesystem.
    Dir {
        /// The root directory.
        path: PathBuf,
    },
    /// An image in a registry.
    Registry(Reference),
}

impl SourceSpec {
    /// Parses a source string. Prefixes select the kind; without one, an existing path is
    /// inspected (directory with `oci-layout` → OCI layout, other directory → root
    /// filesystem, tar with `manifest.json` → docker archive, tar with `oci-layout` → OCI
    /// archive), and anything else is a registry reference.
    ///
    /// # Errors
    /// When the string is neither an existing path of a known kind nor a valid reference.
    pub fn parse(input: &str) -> Result<SourceSpec, Error> {
        let invalid = |reason: String| Error::InvalidSource {
            input: input.into(),
            reason,
        };
        if let Some((scheme, rest)) = input.split_once(':') {
            let (path, tag) = split_tag(rest);
            match scheme {
                "oci-dir" | "oci" => {
                    return Ok(SourceSpec::OciDir {
                        path: path.into(),
                        tag,
                    });
                }
                "oci-archive" => {
                    return Ok(SourceSpec::OciArchive {
                        path: path.into(),
                        tag,
                    });
                }
                "docker-archive" => {
                    return Ok(SourceSpec::DockerArchive {
                        path: path.into(),
                        image: tag,
                    });
                }
                "dir" => return Ok(SourceSpec::Dir { path: rest.into() }),
                "registry" | "docker" => {
                    let rest = rest.trim_start_matches("//");
                    return rest
                        .parse::<Reference>()
                        .map(SourceSpec::Registry)
                        .map_err(|e| invalid(e.to_string()));
                }
                _ => {}
            }
        }
        let path = Path::new(input);
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.is_dir() {
                if path.join("oci-layout").is_file() {
                    return Ok(SourceSpec::OciDir {
                        path: path.into(),
                        tag: None,
                    });
                }
                return Ok(SourceSpec::Dir { path: path.into() });
            }
            return detect_archive(path).map_err(invalid);
        }
        // `./app.tar`, `../x`, `/images/app`, `~/x`: a path, never a registry reference.
        if input.starts_with(['/', '~']) || input.starts_with("./") || input.starts_with("../") {
            let why = std::fs::symlink_metadata(path)
                .err()
                .map_or_else(|| "cannot be read".to_owned(), |e| e.to_string());
            return Err(invalid(format!("{why} (no such image file or directory)")));
        }
        input.parse::<Reference>().map(SourceSpec::Registry).map_err(|e| {
            invalid(format!(
                "no such file or directory, and not an image reference ({e}); use a prefix such as oci-dir:, oci-archive:, docker-archive:, dir: or registry:"
            ))
        })
    }

    /// The source written back in prefixed form.
    #[must_use]
    pub fn display_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::OciDir { path, tag } => {
                write!(f, "oci-dir:{}", path.display())?;
                tag.as_ref().map_or(Ok(()), |t| write!(f, ":{t}"))
            }
            SourceSpec::OciArchive { path, tag } => {
                write!(f, "oci-archive:{}", path.display())?;
                tag.as_ref().map_or(Ok(()), |t| write!(f, ":{t}"))
            }
            SourceSpec::DockerArchive { path, image } => {
                write!(f, "docker-archive:{}", path.display())?;
                image.as_ref().map_or(Ok(()), |i| write!(f, ":{i}"))
            }
            SourceSpec::Dir { path } => write!(f, "dir:{}", path.display()),
            SourceSpec::Registry(r) => write!(f, "registry:{r}"),
        }
    }
}

/// `PATH:TAG` for layouts: split only when the part after the last `:` looks like a tag and
/// the whole string is not itself an existing path.
fn split_tag(rest: &str) -> (&str, Option<String>) {
    if Path::new(rest).exists() {
        return (rest, None);
    }
    // The longest prefix ending before a ':' that exists is the path (`FILE:repo:tag`).
    for (i, _) in rest.match_indices(':') {
        let (p, t) = (&rest[..i], &rest[i + 1..]);
        if !t.is_empty() && Path::new(p).exists() {
            return (p, Some(t.to_owned()));
        }
    }
    match rest.rsplit_once(':') {
        Some((p, t)) if !t.is_empty() && !t.contains('/') => (p, Some(t.to_owned())),
        _ => (rest, None),
    }
}

fn detect_archive(path: &Path) -> Result<SourceSpec, String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(|e| format!("cannot read: {e}"))?;
    if head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Err(
            "a JSON document, not an image archive: pass an SBOM (CycloneDX, SPDX, Palisade \
             JSON) as sbom:PATH"
                .into(),
        );
    }
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        return Err(
            "a gzip-compressed file: decompress it first (e.g. `gunzip -k`), then pass the .tar"
                .into(),
        );
    }
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut tar = crate::tar::TarReader::new(std::io::BufReader::new(f));
    let mut seen = 0u32;
    while let Some(e) = tar
        .next_entry()
        .map_err(|e| format!("not a tar archive of an image: {e}"))?
    {
        let name = String::from_utf8_lossy(&e.path);
        let name = name.trim_start_matches("./");
        if name == "manifest.json" {
            return Ok(SourceSpec::DockerArchive {
                path: path.into(),
                image: None,
            });
        }
        if name == "oci-layout" {
            // Docker 25+ writes both files; manifest.json may come later, so keep looking a bit.
            let mut rest = 0;
            while let Some(e) = tar.next_entry().map_err(|e| e.to_string())? {
                if String::from_utf8_lossy(&e.path).trim_start_matches("./") == "manifest.json" {
                    return Ok(SourceSpec::DockerArchive {
                        path: path.into(),
                        image: None,
                    });
                }
                rest += 1;
                if rest > 100_000 {
                    break;
                }
            }
            return Ok(SourceSpec::OciArchive {
                path: path.into(),
                tag: None,
            });
        }
        seen += 1;
        if seen > 1_000_000 {
            break;
        }
    }
    Err(
        "a file that is neither a docker-archive (manifest.json) nor an oci-archive (oci-layout)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            SourceSpec::parse("oci-dir:/x/layout:app").unwrap(),
            SourceSpec::OciDir {
                path: "/x/layout".into(),
                tag: Some("app".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("docker-archive:/tmp/a.tar").unwrap(),
            SourceSpec::DockerArchive {
                path: "/tmp/a.tar".into(),
                image: None
            }
        );
        assert_eq!(
            SourceSpec::parse("registry:127.0.0.1:5000/testbed/base:latest")
                .unwrap()
                .to_string(),
            "registry:127.0.0.1:5000/testbed/base:latest"
        );
    }

    #[test]
    fn unprefixed_reference_and_dir() {
        assert_eq!(
            SourceSpec::parse("debian:bookworm").unwrap().to_string(),
            "registry:docker.io/library/debian:bookworm"
        );
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            SourceSpec::parse(d.path().to_str().unwrap()).unwrap(),
            SourceSpec::Dir { .. }
        ));
        std::fs::write(d.path().join("oci-layout"), "{}").unwrap();
        assert!(matches!(
            SourceSpec::parse(d.path().to_str().unwrap()).unwrap(),
            SourceSpec::OciDir { .. }
        ));
    }

    #[test]
    fn unknown_file_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.bin");
        std::fs::write(&p, b"hello").unwrap();
        let err = SourceSpec::parse(p.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("x.bin"), "{err}");
    }
}
