//! Registry client over the OCI distribution API (placeholder: being written).

use std::io::Read;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::Error;
use crate::image::{BlobKey, Store};
use crate::reference::Reference;

/// How to talk to registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Hosts (`host` or `host:port`) that may be reached over plain HTTP. Loopback hosts
    /// (`127.0.0.1`, `localhost`, `[::1]`) always may.
    pub insecure: Vec<String>,
    /// Extra PEM CA certificates to trust, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// The Docker client configuration to read credentials from (default:
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Explicit credentials, used instead of the Docker configuration.
    pub username: Option<String>,
    /// Password or token for [`RegistryOptions::username`].
    pub password: Option<String>,
}

pub(crate) struct RegistryStore {
    reference: Reference,
}

impl RegistryStore {
    pub(crate) fn connect(reference: &Reference, _options: &RegistryOptions) -> Result<Self, Error> {
        Ok(RegistryStore {
            reference: reference.clone(),
        })
    }

    pub(crate) fn fetch_manifest(&self, reference: &str) -> Result<(Vec<u8>, Option<String>, Digest), Error> {
        Err(Error::Registry {
            url: format!("{}/{reference}", self.reference.name()),
            reason: "not implemented yet".into(),
        })
    }
}

impl Store for RegistryStore {
    fn open(&self, key: &BlobKey) -> Result<Box<dyn Read + Send + '_>, Error> {
        Err(Error::Registry {
            url: format!("{}: {key:?}", self.reference.name()),
            reason: "not implemented yet".into(),
        })
    }
}
