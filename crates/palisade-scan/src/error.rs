//! The scan pipeline's errors: each names the input it is about.

use std::path::PathBuf;

/// What can go wrong in a scan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image could not be opened or read.
    #[error(transparent)]
    Image(Box<palisade_image::Error>),
    /// An SBOM could not be read.
    #[error(transparent)]
    Sbom(Box<palisade_catalog::SbomError>),
    /// The vulnerability database could not be opened or read.
    #[error(transparent)]
    Db(Box<palisade_vulndb::Error>),
    /// Reading the database failed while doing `what` (matching, reading an advisory).
    #[error("{what}")]
    DbRead {
        /// What was being read.
        what: String,
        /// The database's error.
        #[source]
        source: Box<palisade_vulndb::Error>,
    },
    /// A file could not be read.
    #[error("{what} {}", path.display())]
    Io {
        /// What the file is (`reading ignore file`, `opening`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than the pipeline reads.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        limit: u64,
    },
    /// The ignore file is invalid.
    #[error("ignore file {}: {message}", path.display())]
    IgnoreFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the entry number.
        message: String,
    },
    /// A VEX document is invalid.
    #[error("VEX file {}: {message}", path.display())]
    Vex {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the statement number.
        message: String,
    },
    /// An option is invalid (`--platform`, a CVSS minimum out of range).
    #[error("{0}")]
    Invalid(String),
}

/// The pipeline's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<palisade_image::Error> for Error {
    fn from(e: palisade_image::Error) -> Error {
        Error::Image(Box::new(e))
    }
}

impl From<palisade_vulndb::Error> for Error {
    fn from(e: palisade_vulndb::Error) -> Error {
        Error::Db(Box::new(e))
    }
}

impl From<palisade_catalog::SbomError> for Error {
    fn from(e: palisade_catalog::SbomError) -> Error {
        Error::Sbom(Box::new(e))
    }
}
