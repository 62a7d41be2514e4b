//! Errors of the host, daemon, container, engine and image targets (and, wrapped, of the
//! Dockerfile and Kubernetes ones). Each names its input.

use std::path::PathBuf;

/// An input could not be read or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A host file that should be a regular file is a FIFO, a device, a socket or a
    /// directory; it was not opened.
    #[error("{path}: {}, not a regular file; not read", kind.describe())]
    NotRegular {
        /// The host path (inside the root).
        path: String,
        kind: crate::hostfs::FileKind,
    },
    /// A file is larger than we are willing to read.
    #[error("{}: larger than {limit} bytes; refusing to read it", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// A document is not what it should be.
    #[error("{input}: {message}")]
    Invalid { input: String, message: String },
    /// The Docker Engine API could not be reached or answered badly.
    #[error("Docker Engine API at {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] palisade_image::Error),
    /// A Kubernetes manifest could not be read or is not one.
    #[error(transparent)]
    Kubernetes(#[from] crate::k8s::Error),
    /// A Dockerfile could not be read or parsed.
    #[error(transparent)]
    Dockerfile(#[from] crate::dockerfile::Error),
}

impl Error {
    pub(crate) fn invalid(input: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            input: input.into(),
            message: message.into(),
        }
    }
}

/// Reads at most `limit` bytes of a file; `Ok(None)` when it does not exist.
pub(crate) fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Option<Vec<u8>>, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    read_bounded_from(f, path, limit).map(Some)
}

/// Reads at most `limit` bytes from an open file.
pub(crate) fn read_bounded_from(
    f: std::fs::File,
    path: &std::path::Path,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(buf)
}
