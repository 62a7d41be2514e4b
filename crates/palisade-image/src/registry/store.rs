//! The image reader's view of a registry: one repository as a [`Store`] of blobs by digest.

use std::io::Read;

use super::{RegistryClient, RegistryOptions};
use crate::digest::Digest;
use crate::error::Error;
use crate::image::{BlobKey, Store};
use crate::manifest::media_type;
use crate::reference::Reference;

/// A repository of a registry as a blob store for the image reader.
pub(crate) struct RegistryStore {
    client: RegistryClient,
    repository: String,
}

impl RegistryStore {
    pub(crate) fn connect(reference: &Reference, options: &RegistryOptions) -> Result<Self, Error> {
        Ok(RegistryStore {
            client: RegistryClient::new(reference.registry(), options)?,
            repository: reference.repository().to_owned(),
        })
    }

    pub(crate) fn fetch_manifest(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, Digest), Error> {
        self.client
            .get_manifest(&self.repository, reference, media_type::ACCEPT_MANIFESTS)
    }
}

impl Store for RegistryStore {
    fn open(&self, key: &BlobKey) -> Result<Box<dyn Read + Send + '_>, Error> {
        match key {
            BlobKey::Digest(d) => self.client.get_blob(&self.repository, d),
            BlobKey::Path(p) => Err(Error::malformed(
                format!("{}/{}", self.client.registry(), self.repository),
                format!("registries hold blobs by digest, not by path ({p:?})"),
            )),
        }
    }

    fn manifest(&self, digest: &Digest, what: &str) -> Result<(Vec<u8>, Option<String>), Error> {
        let (bytes, content_type, _) = self.client.fetch_manifest(
            &self.repository,
            &digest.to_string(),
            media_type::ACCEPT_MANIFESTS,
            Some(what),
        )?;
        Ok((bytes, content_type))
    }
}
