//! The server's TLS configuration: a certificate chain and key from PEM files, optional or
//! required client certificates from a CA file, and a holder that reloads all three when
//! they change on disk.
//!
//! Every `rustls::ServerConfig` built here uses the *ring* provider explicitly (never the
//! process-wide default, which another crate could have installed) and offers ALPN `h2` and
//! `http/1.1`. A reload builds a complete new config before swapping it in, so a half-written
//! certificate or a key that does not match it leaves the running config untouched; only new
//! connections see a new config.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;

/// The largest certificate chain or client CA file read, in bytes.
pub const MAX_CERT_FILE_BYTES: u64 = 1024 * 1024;
/// The largest private key file read, in bytes.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Whether the server asks connecting clients for a certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client may present a certificate; if it does, it must chain to `client_ca`. Handlers
    /// see whether one was presented (`crate::http::PeerInfo`).
    Optional,
    /// A client must present a certificate chaining to `client_ca`, or the handshake fails.
    Required,
}

impl ClientAuth {
    /// The word used in the configuration file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// Where the server's TLS material lives: the `tls:` block of the `serve` configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file holding the server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM file holding the private key (PKCS#8, PKCS#1 or SEC1) of the first certificate.
    pub key: PathBuf,
    /// PEM file of CA certificates that client certificates must chain to; required when
    /// `client_auth` is `optional` or `required`, and only then.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Whether clients are asked for a certificate.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

impl TlsFiles {
    /// Files without client certificates: `client_ca` absent, `client_auth: none`.
    #[must_use]
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
            client_auth: ClientAuth::None,
        }
    }

    /// The files that make up the configuration, in the order cert, key, client CA.
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [
            Some(self.cert.as_path()),
            Some(self.key.as_path()),
            self.client_ca.as_deref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// Why a TLS configuration could not be built. Each variant names the file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be opened or read.
    #[error("reading the TLS {what} {}: {source}", path.display())]
    Read {
        /// `certificate`, `private key` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file is larger than any sensible PEM file of its kind.
    #[error("the TLS {what} {} is larger than {limit} bytes; is it the right file?", path.display())]
    TooLarge {
        /// `certificate`, `private key` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cap, in bytes.
        limit: u64,
    },
    /// A file is not valid PEM, or holds no block of the expected kind.
    #[error("parsing the TLS {what} {}: {message}", path.display())]
    Pem {
        /// `certificate`, `private key` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, with the expected PEM label.
        message: String,
    },
    /// The client CA file holds a certificate that cannot be a trust anchor.
    #[error("the client CA {} holds an unusable certificate: {message}", path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        message: String,
    },
    /// The key does not belong to the certificate, or rustls refused the pair.
    #[error("the TLS key {} does not fit the certificate {}: {message}", key.display(), cert.display())]
    CertKey {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        message: String,
    },
    /// `client_auth` and `client_ca` do not agree.
    #[error("{0}")]
    Settings(String),
}

/// Builds a server config from the files: the chain and key, client certificate checking as
/// `client_auth` says, ALPN `h2` then `http/1.1`, and the *ring* provider.
///
/// # Errors
///
/// [`TlsError`] naming the file that could not be read or parsed, or the pair that does not fit.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(&files.cert, "certificate")?;
    let key = read_key(&files.key)?;

    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Settings(format!("TLS protocol versions: {e}")))?;
    let builder = match (files.client_auth, &files.client_ca) {
        (ClientAuth::None, None) => builder.with_no_client_auth(),
        (ClientAuth::None, Some(ca)) => {
            return Err(TlsError::Settings(format!(
                "tls.client_ca is {} but tls.client_auth is none; set client_auth to optional \
                 or required, or remove client_ca",
                ca.display()
            )));
        }
        (mode, None) => {
            return Err(TlsError::Settings(format!(
                "tls.client_auth is {} but tls.client_ca is not set; name the CA file client \
                 certificates must chain to",
                mode.as_str()
            )));
        }
        (mode, Some(ca)) => {
            let verifier = client_verifier(ca, mode == ClientAuth::Optional, &provider)?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::CertKey {
            cert: files.cert.clone(),
            key: files.key.clone(),
            message: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    path: &Path,
    optional: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, "client CA")? {
        roots.add(cert).map_err(|e| TlsError::ClientCa {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    }
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    if optional {
        builder = builder.allow_unauthenticated();
    }
    builder.build().map_err(|e| TlsError::ClientCa {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn read_capped(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(TlsError::TooLarge {
            what,
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_capped(path, what, MAX_CERT_FILE_BYTES)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.to_owned(),
            message: "no `-----BEGIN CERTIFICATE-----` block found".to_owned(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "private key";
    let bytes = read_capped(path, what, MAX_KEY_FILE_BYTES)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        what,
        path: path.to_owned(),
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no `PRIVATE KEY`, `RSA PRIVATE KEY` \
                 or `EC PRIVATE KEY` block found"
                .to_owned(),
            other => other.to_string(),
        },
    })
}

/// What identifies one version of a file without reading it: size, modification time and
/// inode (a Kubernetes Secret volume swaps a symlink, which changes the inode). `None` when
/// the file could not be looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint(Option<(u64, Option<SystemTime>, u64, u64)>);

impl Fingerprint {
    fn of(path: &Path) -> Self {
        Self(
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.modified().ok(), m.dev(), m.ino())),
        )
    }
}

/// A server config that follows its files: [`current`](Self::current) for each new
/// connection, [`reload_if_changed`](Self::reload_if_changed) from a polling loop.
///
/// Changes are noticed through each file's size, modification time and inode. A file
/// rewritten in place within the same mtime tick, at the same size, is not noticed; use
/// [`reload`](Self::reload) (SIGHUP) for that.
pub struct ReloadingTls {
    files: TlsFiles,
    config: ArcSwap<ServerConfig>,
    /// The fingerprints of the last attempted load (successful or not), and the lock that
    /// keeps two reloads from interleaving.
    seen: Mutex<Vec<Fingerprint>>,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Loads the files once.
    ///
    /// # Errors
    ///
    /// As [`load`]: the server cannot start without a certificate.
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let seen = fingerprints(&files);
        let config = load(&files)?;
        Ok(Self {
            files,
            config: ArcSwap::new(config),
            seen: Mutex::new(seen),
        })
    }

    /// The files this config is built from.
    #[must_use]
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The config to use for a connection accepted now.
    #[must_use]
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// Reloads when any file's size, mtime or inode changed since the last attempt. Returns
    /// whether a new config is now in use.
    ///
    /// # Errors
    ///
    /// As [`load`]. The running config stays in use, and the same error is not returned
    /// again until a file changes once more (so a polling loop reports it once per change).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = fingerprints(&self.files);
        if now == *seen {
            return Ok(false);
        }
        *seen = now;
        self.config.store(load(&self.files)?);
        Ok(true)
    }

    /// Reloads unconditionally (SIGHUP).
    ///
    /// # Errors
    ///
    /// As [`load`]; the running config stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        *seen = fingerprints(&self.files);
        self.config.store(load(&self.files)?);
        Ok(())
    }
}

fn fingerprints(files: &TlsFiles) -> Vec<Fingerprint> {
    files.paths().map(Fingerprint::of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_auth_parses_snake_case_and_defaults_to_none() {
        let files: TlsFiles = serde_json::from_str(
            r#"{"cert":"/c","key":"/k","client_ca":"/ca","client_auth":"optional"}"#,
        )
        .unwrap();
        assert_eq!(files.client_auth, ClientAuth::Optional);
        let files: TlsFiles = serde_json::from_str(r#"{"cert":"/c","key":"/k"}"#).unwrap();
        assert_eq!(files, TlsFiles::new("/c", "/k"));
        assert!(serde_json::from_str::<TlsFiles>(r#"{"cert":"/c","key":"/k","x":1}"#).is_err());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        let err = load(&TlsFiles::new(&cert, &key)).unwrap_err().to_string();
        assert!(
            err.contains("certificate") && err.contains("tls.crt"),
            "{err}"
        );

        std::fs::write(&cert, "not pem").unwrap();
        let err = load(&TlsFiles::new(&cert, &key)).unwrap_err().to_string();
        assert!(
            err.contains("BEGIN CERTIFICATE") && err.contains("tls.crt"),
            "{err}"
        );

        std::fs::write(&cert, vec![b'a'; (MAX_CERT_FILE_BYTES + 1) as usize]).unwrap();
        let err = load(&TlsFiles::new(&cert, &key)).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn client_auth_and_client_ca_must_agree() {
        let mut files = TlsFiles::new("/nonexistent/c", "/nonexistent/k");
        files.client_auth = ClientAuth::Required;
        // The settings are checked after the files are read, so use real-looking files.
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        files.cert = dir.path().join("c");
        files.key = dir.path().join("k");
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        let err = load(&files).unwrap_err().to_string();
        assert!(err.contains("client_ca is not set"), "{err}");

        files.client_auth = ClientAuth::None;
        files.client_ca = Some(files.cert.clone());
        let err = load(&files).unwrap_err().to_string();
        assert!(err.contains("client_auth is none"), "{err}");

        files.client_auth = ClientAuth::Optional;
        let config = load(&files).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
