//! The listeners end to end on 127.0.0.1: HTTPS with HTTP/1.1 and HTTP/2, certificate
//! reload, client certificates (required, optional), the slow-client deadlines, the
//! connection limit, graceful shutdown, and the plain and unix listeners.
//!
//! The client is tokio-rustls with hyper's client connections, built independently of the
//! server's code; one test also asks `curl` when it is installed.

mod ca;

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Extension, Router};
use ca::{Ca, Leaf};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use palisade_server::http::{self, Limits, PeerInfo};
use palisade_server::tls::{ClientAuth, ReloadingTls, TlsFiles};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

// ---------------------------------------------------------------------------------------
// The server side.

fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|Extension(peer): Extension<PeerInfo>| async move {
                if peer.has_client_certificate() {
                    "client-cert"
                } else {
                    "anonymous"
                }
            }),
        )
        .route(
            "/uid",
            get(|Extension(peer): Extension<PeerInfo>| async move {
                format!("{:?}", peer.unix_uid)
            }),
        )
        .route(
            "/sleep/{ms}",
            get(|axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "slept"
            }),
        )
}

/// A running `serve_tls` (or other listener) with its shutdown trigger and error sink.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn limits(limits: Limits) -> (Limits, Arc<Mutex<Vec<String>>>) {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&errors);
        let limits = limits.with_error_sink(move |e| sink.lock().unwrap().push(e.to_owned()));
        (limits, errors)
    }

    async fn tls(tls: Arc<ReloadingTls>, limits: Limits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (limits, errors) = Self::limits(limits);
        let task = tokio::spawn(http::serve_tls(listener, tls, app(), limits, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
            errors,
        }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Triggers shutdown and waits for the accept loop to return; returns how long that took.
    async fn shutdown(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server did not stop within 10 s")
            .unwrap();
        started.elapsed()
    }
}

/// A temp dir with a CA, a server certificate (serial 1) and the CA file as client CA.
struct Fixture {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Leaf,
    cert: PathBuf,
    key: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("palisade test CA");
        ca.write(&dir.path().join("ca.crt"));
        let server = ca.server(1);
        let (cert, key) = server.write(dir.path(), "tls");
        Self {
            dir,
            ca,
            server,
            cert,
            key,
        }
    }

    fn files(&self, client_auth: ClientAuth) -> TlsFiles {
        let mut files = TlsFiles::new(&self.cert, &self.key);
        if client_auth != ClientAuth::None {
            files.client_ca = Some(self.dir.path().join("ca.crt"));
        }
        files.client_auth = client_auth;
        files
    }

    fn tls(&self, client_auth: ClientAuth) -> Arc<ReloadingTls> {
        Arc::new(ReloadingTls::new(self.files(client_auth)).unwrap())
    }
}

// ---------------------------------------------------------------------------------------
// The client side.

const H2: &[u8] = b"h2";
const H1: &[u8] = b"http/1.1";

fn client_config(ca: &Ca, identity: Option<&Leaf>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn server_certificate(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One HTTP/1.1 connection whose sender stays usable for more requests.
struct H1Conn {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl H1Conn {
    async fn new<S>(stream: S) -> hyper::Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    async fn get(&mut self, path: &str) -> hyper::Result<(StatusCode, Version, String)> {
        let request = Request::get(path)
            .header(hyper::header::HOST, "localhost")
            .body(Empty::new())
            .unwrap();
        let response = self.sender.send_request(request).await?;
        let (status, version) = (response.status(), response.version());
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, version, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Connects, negotiates `alpn`, and makes one `GET path` with HTTP/2 or HTTP/1.1 as the
/// server chose.
async fn fetch(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    path: &str,
) -> Result<(StatusCode, Version, String), String> {
    let stream = connect(addr, config).await.map_err(|e| e.to_string())?;
    if stream.get_ref().1.alpn_protocol() == Some(H2) {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let request = Request::get(format!("https://localhost{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (status, version) = (response.status(), response.version());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, version, String::from_utf8_lossy(&body).into_owned()))
    } else {
        let mut conn = H1Conn::new(stream).await.map_err(|e| e.to_string())?;
        conn.get(path).await.map_err(|e| e.to_string())
    }
}

/// Reads until the server closes (Ok(0) or an error); panics if it does not within `limit`.
async fn wait_for_close<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server kept the connection open");
    started.elapsed()
}

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn https_serves_http2_and_http1_as_alpn_chooses() {
    let fx = Fixture::new();
    let server = Server::tls(fx.tls(ClientAuth::None), Limits::default()).await;

    let cases: [(&[&[u8]], Version); 4] = [
        (&[H2, H1], Version::HTTP_2),
        (&[H2], Version::HTTP_2),
        (&[H1], Version::HTTP_11),
        (&[], Version::HTTP_11),
    ];
    for (alpn, version) in cases {
        let got = fetch(server.addr, client_config(&fx.ca, None, alpn), "/")
            .await
            .unwrap();
        assert_eq!(got, (StatusCode::OK, version, "anonymous".to_owned()));
    }

    // Several requests on one HTTP/1.1 connection (keep-alive).
    let stream = connect(server.addr, client_config(&fx.ca, None, &[H1]))
        .await
        .unwrap();
    let mut conn = H1Conn::new(stream).await.unwrap();
    for _ in 0..3 {
        assert_eq!(conn.get("/").await.unwrap().0, StatusCode::OK);
    }
    drop(conn);
    server.shutdown().await;
}

#[tokio::test]
#[allow(clippy::print_stderr)]
async fn curl_trusts_the_ca_and_gets_200() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let fx = Fixture::new();
    let server = Server::tls(fx.tls(ClientAuth::None), Limits::default()).await;
    let port = server.addr.port();
    let ca = fx.dir.path().join("ca.crt");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args(["-w", " %{http_code} %{http_version}"])
            .arg(format!("https://localhost:{port}/"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // curl offers h2 when built with nghttp2, http/1.1 otherwise.
    assert!(
        stdout == "anonymous 200 2" || stdout == "anonymous 200 1.1",
        "{stdout}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_reloaded_certificate_is_served_to_new_connections() {
    let fx = Fixture::new();
    let tls = fx.tls(ClientAuth::None);
    let server = Server::tls(Arc::clone(&tls), Limits::default()).await;
    let config = client_config(&fx.ca, None, &[H1]);

    let old = connect(server.addr, Arc::clone(&config)).await.unwrap();
    assert_eq!(server_certificate(&old), fx.server.der);
    let mut old = H1Conn::new(old).await.unwrap();
    assert_eq!(old.get("/").await.unwrap().0, StatusCode::OK);

    assert!(!tls.reload_if_changed().unwrap(), "nothing changed yet");
    let renewed = fx.ca.server(2);
    assert_ne!(renewed.der, fx.server.der);
    renewed.write(fx.dir.path(), "tls");
    assert!(tls.reload_if_changed().unwrap());
    assert!(!tls.reload_if_changed().unwrap(), "already reloaded");

    let new = connect(server.addr, Arc::clone(&config)).await.unwrap();
    assert_eq!(server_certificate(&new), renewed.der);
    let mut new = H1Conn::new(new).await.unwrap();
    assert_eq!(new.get("/").await.unwrap().0, StatusCode::OK);
    // The connection opened before the reload goes on with its certificate.
    assert_eq!(old.get("/").await.unwrap().0, StatusCode::OK);

    // `reload` (SIGHUP) rebuilds even without a change.
    tls.reload().unwrap();
    drop((old, new));
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_key_keeps_the_running_certificate() {
    let fx = Fixture::new();
    let tls = fx.tls(ClientAuth::None);
    let server = Server::tls(Arc::clone(&tls), Limits::default()).await;
    let config = client_config(&fx.ca, None, &[H1]);

    // Not PEM at all.
    ca::replace(&fx.key, b"-----BEGIN PRIVATE KEY-----\nnot base64!\n");
    let err = tls.reload_if_changed().unwrap_err().to_string();
    assert!(err.contains("tls.key"), "{err}");
    // Reported once per change, not on every poll.
    assert!(!tls.reload_if_changed().unwrap());
    let stream = connect(server.addr, Arc::clone(&config)).await.unwrap();
    assert_eq!(server_certificate(&stream), fx.server.der);

    // A valid key that belongs to another certificate.
    let other = fx.ca.server(3);
    ca::replace(&fx.key, other.key_pem.as_bytes());
    let err = tls.reload_if_changed().unwrap_err().to_string();
    assert!(
        err.contains("does not fit") && err.contains("tls.crt"),
        "{err}"
    );
    let stream = connect(server.addr, Arc::clone(&config)).await.unwrap();
    assert_eq!(server_certificate(&stream), fx.server.der);

    // A missing file.
    std::fs::remove_file(&fx.cert).unwrap();
    let err = tls.reload_if_changed().unwrap_err().to_string();
    assert!(
        err.contains("reading the TLS certificate") && err.contains("tls.crt"),
        "{err}"
    );
    assert_eq!(
        fx.server.der,
        server_certificate(&connect(server.addr, config.clone()).await.unwrap())
    );

    // Fixing both files brings the new pair in.
    other.write(fx.dir.path(), "tls");
    assert!(tls.reload_if_changed().unwrap());
    let stream = connect(server.addr, config).await.unwrap();
    assert_eq!(server_certificate(&stream), other.der);
    server.shutdown().await;
}

#[tokio::test]
async fn required_client_auth_refuses_clients_without_a_certificate() {
    let fx = Fixture::new();
    let server = Server::tls(fx.tls(ClientAuth::Required), Limits::default()).await;
    let client = fx.ca.client("kube-apiserver");

    let got = fetch(
        server.addr,
        client_config(&fx.ca, Some(&client), &[H2]),
        "/",
    )
    .await;
    assert_eq!(
        got.unwrap(),
        (StatusCode::OK, Version::HTTP_2, "client-cert".to_owned())
    );
    let got = fetch(
        server.addr,
        client_config(&fx.ca, Some(&client), &[H1]),
        "/",
    )
    .await;
    assert_eq!(got.unwrap().2, "client-cert");

    // TLS 1.3: the client finishes its side first and learns of the refusal on first read.
    for alpn in [H2, H1] {
        let got = fetch(server.addr, client_config(&fx.ca, None, &[alpn]), "/").await;
        assert!(got.is_err(), "{got:?}");
    }
    // A certificate from another CA is refused as well.
    let stranger = Ca::new("another CA").client("intruder");
    let got = fetch(
        server.addr,
        client_config(&fx.ca, Some(&stranger), &[H1]),
        "/",
    )
    .await;
    assert!(got.is_err(), "{got:?}");

    let errors = server.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("TLS handshake failed") && e.contains("127.0.0.1")),
        "{errors:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn optional_client_auth_lets_the_handler_see_whether_a_certificate_came() {
    let fx = Fixture::new();
    let server = Server::tls(fx.tls(ClientAuth::Optional), Limits::default()).await;
    let client = fx.ca.client("kube-apiserver");

    for alpn in [H2, H1] {
        let got = fetch(server.addr, client_config(&fx.ca, None, &[alpn]), "/").await;
        assert_eq!(got.unwrap().2, "anonymous");
        let got = fetch(
            server.addr,
            client_config(&fx.ca, Some(&client), &[alpn]),
            "/",
        )
        .await;
        assert_eq!(got.unwrap().2, "client-cert");
    }
    // Optional still means verified: a certificate from another CA is refused.
    let stranger = Ca::new("another CA").client("intruder");
    let got = fetch(
        server.addr,
        client_config(&fx.ca, Some(&stranger), &[H1]),
        "/",
    )
    .await;
    assert!(got.is_err(), "{got:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn slow_clients_are_dropped_after_the_deadlines() {
    let fx = Fixture::new();
    let limits = Limits {
        tls_handshake_timeout: Duration::from_millis(300),
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::tls(fx.tls(ClientAuth::None), limits).await;
    let limit = Duration::from_secs(5);

    // TCP only, never a ClientHello.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let waited = wait_for_close(&mut tcp, limit).await;
    assert!(waited >= Duration::from_millis(250), "{waited:?}");

    // TLS done, then silence: HTTP/1.1 (hyper's header timer) and HTTP/2 (our deadline).
    for alpn in [H1, H2] {
        let mut stream = connect(server.addr, client_config(&fx.ca, None, &[alpn]))
            .await
            .unwrap();
        let waited = wait_for_close(&mut stream, limit).await;
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
    }

    // Half a request head, then silence.
    let mut stream = connect(server.addr, client_config(&fx.ca, None, &[H1]))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    wait_for_close(&mut stream, limit).await;

    // A prompt client on the same server still works.
    let got = fetch(server.addr, client_config(&fx.ca, None, &[H2]), "/").await;
    assert_eq!(got.unwrap().0, StatusCode::OK);

    let errors = server.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("TLS handshake not finished")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no request within")),
        "{errors:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_idle_timeout() {
    let fx = Fixture::new();
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::tls(fx.tls(ClientAuth::None), limits).await;
    let stream = connect(server.addr, client_config(&fx.ca, None, &[H2]))
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = Request::get("https://localhost/sleep/500")
        .body(Empty::<Bytes>::new())
        .unwrap();
    // A request longer than the idle timeout is not cut.
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Then, idle, the server closes the connection.
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the idle connection stayed open")
        .unwrap()
        .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    let fx = Fixture::new();
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = Server::tls(fx.tls(ClientAuth::None), limits).await;
    let config = client_config(&fx.ca, None, &[H1]);

    let first = connect(server.addr, Arc::clone(&config)).await.unwrap();
    let mut first = H1Conn::new(first).await.unwrap();
    assert_eq!(first.get("/").await.unwrap().0, StatusCode::OK);

    // The second connection is not accepted while the first is open: its handshake waits.
    let second = tokio::spawn({
        let config = Arc::clone(&config);
        let addr = server.addr;
        async move { fetch(addr, config, "/").await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "a second connection was served past the limit"
    );

    drop(first);
    let got = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("the waiting connection was never served")
        .unwrap();
    assert_eq!(got.unwrap().0, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_requests_finish_then_stops() {
    let fx = Fixture::new();
    let server = Server::tls(fx.tls(ClientAuth::None), Limits::default()).await;
    let config = client_config(&fx.ca, None, &[H2]);
    let addr = server.addr;

    let slow = tokio::spawn({
        let config = Arc::clone(&config);
        async move { fetch(addr, config, "/sleep/400").await }
    });
    // An idle HTTP/1.1 connection does not hold shutdown up.
    let mut idle = connect(addr, client_config(&fx.ca, None, &[H1]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let took = server.shutdown().await;
    assert_eq!(slow.await.unwrap().unwrap().2, "slept");
    assert!(took < Duration::from_secs(5), "{took:?}");
    wait_for_close(&mut idle, Duration::from_secs(5)).await;
    // Nothing listens any more.
    assert!(connect(addr, config).await.is_err());
}

#[tokio::test]
async fn shutdown_closes_what_is_still_running_after_the_grace_period() {
    let fx = Fixture::new();
    let limits = Limits {
        shutdown_grace: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::tls(fx.tls(ClientAuth::None), limits).await;
    let hung = tokio::spawn({
        let config = client_config(&fx.ca, None, &[H1]);
        let addr = server.addr;
        async move { fetch(addr, config, "/sleep/60000").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let errors = Arc::clone(&server.errors);
    let took = server.shutdown().await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(hung.await.unwrap().is_err());
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.iter().any(|e| e.contains("still open after")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn plain_and_unix_listeners_serve_http1() {
    // Plain HTTP (the ops port).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let plain = tokio::spawn(http::serve_plain(
        listener,
        app(),
        Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut conn = H1Conn::new(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        conn.get("/").await.unwrap(),
        (StatusCode::OK, Version::HTTP_11, "anonymous".to_owned())
    );
    drop(conn);
    stop.send(()).unwrap();
    plain.await.unwrap();

    // A unix socket (the Docker plugin): created 0600, peer uid visible to handlers.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.sock");
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale); // leaves a stale socket file behind, as a crashed agent would
    let listener = http::bind_unix(&path, 0o600).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (stop, stopped) = oneshot::channel::<()>();
    let unix = tokio::spawn(http::serve_unix(
        listener,
        app(),
        Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut conn = H1Conn::new(stream).await.unwrap();
    let uid = std::fs::metadata(dir.path()).unwrap().uid();
    assert_eq!(conn.get("/uid").await.unwrap().2, format!("Some({uid})"));
    drop(conn);
    stop.send(()).unwrap();
    unix.await.unwrap();

    // bind_unix does not replace a regular file.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "x").unwrap();
    let err = http::bind_unix(&file, 0o600).unwrap_err().to_string();
    assert!(err.contains("not a socket"), "{err}");
    assert!(Path::new(&file).exists());
}
