//! A registry tag to the manifest digest it names now, with one `HEAD` request.

use palisade_image::{Digest, Reference, RegistryClient, media_type};
use palisade_scan::SourceOptions;

use crate::{Error, Result};

/// The digest of the manifest (or index) `reference` names in its registry now: one `HEAD`
/// request for the tag, accepting every manifest type the image reader reads
/// ([`media_type::ACCEPT_MANIFESTS`]: OCI index and manifest, Docker manifest list and
/// manifest v2), answered by the registry's `Docker-Content-Digest`. That is the digest of the
/// bytes a `GET` returns (`skopeo inspect --raw … | sha256sum`): for a multi-platform image,
/// the index's. A registry that does not state the digest, size or type is asked with a `GET`
/// instead and the bytes are hashed. A reference that already pins a digest
/// (`repo:tag@sha256:…`) returns that digest without a request.
///
/// Decide on `reference.with_digest(digest)` afterwards ([`Gate::decide`] on
/// `registry:HOST/REPO:TAG@sha256:…`): the image is then read by digest, so what is decided is
/// what was resolved, even if the tag moves in between.
///
/// The request follows `options`: [`SourceOptions::insecure_registries`] (plain HTTP;
/// loopback always may), [`SourceOptions::ca_file`] and [`SourceOptions::http_timeout`], the
/// deadline of the whole request, retries included (unset: `$PALISADE_HTTP_TIMEOUT`, else the
/// image crate's default). Credentials come from the Docker configuration, as for every
/// registry request of the gate.
///
/// [`Gate::decide`]: crate::Gate::decide
///
/// # Errors
/// [`Error::NotFound`] when the registry has no such repository or tag; [`Error::Image`] when
/// the registry cannot be reached or refuses (TLS to a plain-HTTP registry not listed as
/// insecure, authentication, the deadline), with the URL and the registry's message.
pub fn resolve(reference: &Reference, options: &SourceOptions) -> Result<Digest> {
    if let Some(digest) = reference.digest() {
        return Ok(digest.clone());
    }
    let client = RegistryClient::new(reference.registry(), &options.registry())?;
    let tag = reference.manifest_reference();
    match client.head_manifest(reference.repository(), &tag, media_type::ACCEPT_MANIFESTS)? {
        Some(descriptor) => Ok(descriptor.digest),
        None => Err(Error::NotFound {
            reference: reference.to_string(),
        }),
    }
}
