//! Registry client over the OCI distribution API: manifests, blobs, uploads, tags and
//! referrers, with token and basic authentication, retries and bounded reads.
//!
//! [`RegistryClient`] is the whole surface; `RegistryStore` adapts it to the image reader.
//! Not for: parsing images (see `image.rs`) or judging signatures (the trust crate builds on
//! [`RegistryClient`] for that).
//!
//! Traps handled here:
//! - Docker Hub's API host is `registry-1.docker.io`, but Docker stores its credentials under
//!   `https://index.docker.io/v1/`.
//! - Blob GETs redirect to object storage. Redirects are followed by hand, and the
//!   `Authorization` header only goes to the origin it was meant for.
//! - A `Bearer` challenge names a token server; tokens are cached per scope
//!   (`repository:NAME:pull` or `…:pull,push`), and a rejected token is fetched again once.
//! - 429, 502, 503, 504 and dropped connections are retried (4 attempts, doubling backoff from
//!   200 ms with jitter, `Retry-After` honoured up to 30 s); other 4xx never are.
//! - Every body read into memory is bounded: documents by [`MAX_DOCUMENT_BYTES`](crate::MAX_DOCUMENT_BYTES), token
//!   responses by 1 MiB, error bodies by 64 KiB.
//! - Plain HTTP is used for loopback hosts and for hosts listed in
//!   [`RegistryOptions::insecure`]; everything else is HTTPS with the system roots (plus
//!   [`RegistryOptions::ca_file`]). TLS, redirect rules and deadlines are those of
//!   [`crate::http`], shared with every other HTTP client: one deadline
//!   ([`RegistryOptions::deadline`]) covers a request's retries, redirects and body.
//!
//! The parts: `client` (the API calls and [`RegistryOptions`]), `transport` (one request:
//! retries, deadlines, redirects, bounded bodies), `auth` (`WWW-Authenticate` challenges and
//! token exchange), `credentials` (Docker's `config.json` and credential helpers) and `store`
//! (a repository as the image reader's blob store).

use std::sync::{Mutex, MutexGuard, PoisonError};

mod auth;
mod client;
mod credentials;
mod store;
mod transport;

pub use client::{RegistryClient, RegistryOptions};
pub(crate) use store::RegistryStore;

/// Locks `m`, taking over a lock poisoned by a panic elsewhere (the guarded caches stay valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
