//! The listeners: our own accept loop serving an axum `Router` over HTTPS (the webhook and
//! `/v1` port), plain HTTP (the ops port) or a unix socket (the Docker plugin).
//!
//! Why our own loop rather than `axum::serve`: every connection needs limits that `serve`
//! does not have, and the TLS config must be read per connection so a reloaded certificate
//! applies to the next client:
//! - at most [`Limits::max_connections`] connections; past that, new ones wait in the
//!   kernel's backlog until one closes;
//! - a TLS handshake deadline, then a deadline for the first request's headers, then an idle
//!   deadline between requests (HTTP/1.1's header deadline also runs between requests);
//! - HTTP/2 or HTTP/1.1 as ALPN chose (plain and unix listeners speak HTTP/1.1 only);
//! - on shutdown: stop accepting, let open connections finish their requests for
//!   [`Limits::shutdown_grace`], then close what is left.
//!
//! Handlers see who is on the other end through the [`PeerInfo`] extension on every request
//! (`axum::Extension<PeerInfo>`): the remote address, the client certificate chain if one was
//! presented, or the unix peer's uid and pid.
//!
//! Nothing a client does makes this module panic or return early; accept, handshake and
//! connection errors go to [`Limits::on_error`], and a panicking handler only ends its own
//! connection.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::metrics::{Metrics, metrics_route};
use crate::tls::ReloadingTls;

/// Where the listeners report what went wrong with a client (accept errors, failed or slow
/// TLS handshakes, broken connections, panicking handlers). One line, no trailing newline.
pub type ErrorSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Connection limits and timeouts of one listener.
#[derive(Clone)]
pub struct Limits {
    /// Connections served at once; more wait, unaccepted, in the listen backlog.
    pub max_connections: usize,
    /// Time from accept to a finished TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time from the connection's start (after TLS) to the first request's complete headers;
    /// for HTTP/1.1 also from the end of one response to the next request's complete headers
    /// (so it bounds keep-alive idle time too).
    pub header_timeout: Duration,
    /// Time a connection may stay open with no request in flight, after its first request
    /// (the bound that matters for HTTP/2).
    pub idle_timeout: Duration,
    /// HTTP/2 ping interval while a connection is open (`None`: no pings); a peer that does
    /// not answer within [`keepalive_timeout`](Self::keepalive_timeout) is disconnected.
    pub keepalive_interval: Option<Duration>,
    /// How long an HTTP/2 ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// Largest request head (HTTP/1.1 read buffer, at least 8 KiB; HTTP/2 header list).
    pub max_header_bytes: usize,
    /// HTTP/2 streams (requests) at once on one connection.
    pub max_concurrent_streams: u32,
    /// On shutdown, how long open connections may take to finish before they are closed.
    pub shutdown_grace: Duration,
    /// Where client and connection errors are reported; defaults to nowhere.
    pub on_error: ErrorSink,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            tls_handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_timeout: Duration::from_secs(20),
            max_header_bytes: 64 * 1024,
            max_concurrent_streams: 128,
            shutdown_grace: Duration::from_secs(10),
            on_error: Arc::new(|_| {}),
        }
    }
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("max_connections", &self.max_connections)
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// The same limits, reporting errors to `sink`.
    #[must_use]
    pub fn with_error_sink(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_error = Arc::new(sink);
        self
    }

    fn report(&self, message: &str) {
        (self.on_error)(message);
    }

    /// Caps every duration at [`MAX_TIMEOUT`] (hyper and h2 add them to `Instant::now()`,
    /// which panics on overflow), drops a zero ping interval, and keeps the counts in range.
    fn normalized(mut self) -> Self {
        for d in [
            &mut self.tls_handshake_timeout,
            &mut self.header_timeout,
            &mut self.idle_timeout,
            &mut self.keepalive_timeout,
            &mut self.shutdown_grace,
        ] {
            *d = (*d).min(MAX_TIMEOUT);
        }
        self.keepalive_interval = self
            .keepalive_interval
            .filter(|d| !d.is_zero())
            .map(|d| d.min(MAX_TIMEOUT));
        self.max_connections = self.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        self
    }
}

/// The longest timeout honoured; longer ones (a configured "never") are cut to this.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who is on the other end of a request's connection; inserted into every request's
/// extensions (`axum::Extension<PeerInfo>`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The TCP peer; `None` on a unix socket.
    pub remote_addr: Option<SocketAddr>,
    /// The client's certificate chain (end entity first), verified against the client CA;
    /// `None` when the client presented none or the listener is not TLS.
    pub client_certificates: Option<Arc<[CertificateDer<'static>]>>,
    /// The unix peer's user id, when the listener is a unix socket.
    pub unix_uid: Option<u32>,
    /// The unix peer's process id, when the listener is a unix socket and the OS says.
    pub unix_pid: Option<i32>,
}

impl PeerInfo {
    /// Whether the client presented a (verified) certificate.
    #[must_use]
    pub fn has_client_certificate(&self) -> bool {
        self.client_certificates
            .as_ref()
            .is_some_and(|chain| !chain.is_empty())
    }
}

impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.remote_addr, self.unix_uid, self.unix_pid) {
            (Some(addr), _, _) => write!(f, "{addr}"),
            (None, Some(uid), Some(pid)) => write!(f, "unix peer uid {uid} pid {pid}"),
            (None, Some(uid), None) => write!(f, "unix peer uid {uid}"),
            (None, None, _) => f.write_str("unix peer"),
        }
    }
}

/// Serves `router` over HTTPS until `shutdown` completes, then drains (see [`Limits`]).
/// Each connection takes [`ReloadingTls::current`] at accept time, so a reloaded certificate
/// applies to new connections while open ones keep theirs. HTTP/2 or HTTP/1.1 by ALPN.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ReloadingTls>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    run(listener, Some(tls), router, limits, shutdown).await;
}

/// Serves `router` over plain HTTP/1.1 (the ops port: probes and metrics) until `shutdown`
/// completes, then drains.
pub async fn serve_plain(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    run(listener, None, router, limits, shutdown).await;
}

/// Serves `router` over HTTP/1.1 on a unix socket (the Docker plugin) until `shutdown`
/// completes, then drains. [`PeerInfo`] carries the peer's uid and pid.
pub async fn serve_unix(
    listener: UnixListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    run(listener, None, router, limits, shutdown).await;
}

/// Binds a unix socket at `path` with permission bits `mode` (0o600 for the Docker plugin).
/// A stale socket left at `path` by an earlier run is removed first; any other kind of file
/// there is an error. The socket exists with the umask's permissions for the moment between
/// bind and chmod: keep its directory private where that matters. Needs a tokio runtime.
///
/// # Errors
///
/// `path` holds something that is not a socket, or bind or chmod failed.
pub fn bind_unix(path: &Path, mode: u32) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; not replacing it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// The ops router: `GET /healthz` (200 while the process serves), `GET /readyz` (200, or 503
/// with one reason per line from `not_ready`) and `GET /metrics`.
pub fn ops_router(
    metrics: Arc<Metrics>,
    not_ready: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let reasons = not_ready();
                async move { readyz(&reasons) }
            }),
        )
        .route("/metrics", metrics_route(metrics))
}

fn readyz(reasons: &[String]) -> Response {
    if reasons.is_empty() {
        return "ready\n".into_response();
    }
    let mut body = String::new();
    for reason in reasons {
        body.push_str(reason);
        body.push('\n');
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// The accept loop.

/// A listener the accept loop can drive.
trait Listener: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, PeerInfo)>> + Send;
}

impl Listener for TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(Self::Io, PeerInfo)> {
        let (stream, addr) = TcpListener::accept(self).await?;
        // Small request/response exchanges: do not wait to coalesce.
        let _ = stream.set_nodelay(true);
        Ok((
            stream,
            PeerInfo {
                remote_addr: Some(addr),
                ..PeerInfo::default()
            },
        ))
    }
}

impl Listener for UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept(&mut self) -> io::Result<(Self::Io, PeerInfo)> {
        let (stream, _) = UnixListener::accept(self).await?;
        let cred = stream.peer_cred().ok();
        Ok((
            stream,
            PeerInfo {
                unix_uid: cred.map(|c| c.uid()),
                unix_pid: cred.and_then(|c| c.pid()),
                ..PeerInfo::default()
            },
        ))
    }
}

/// What every connection task shares.
struct Shared {
    router: Router,
    limits: Limits,
    tls: Option<Arc<ReloadingTls>>,
    /// HTTP/1.1 only (no ALPN, ALPN `http/1.1`, plain and unix listeners).
    http1: auto::Builder<TokioExecutor>,
    /// HTTP/2 only (ALPN `h2`).
    http2: auto::Builder<TokioExecutor>,
}

fn builders(limits: &Limits) -> (auto::Builder<TokioExecutor>, auto::Builder<TokioExecutor>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    (builder.clone().http1_only(), builder.http2_only())
}

/// Errors from `accept` that concern one connection only: retry at once.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

async fn accept_after<L: Listener>(
    delay: Duration,
    listener: &mut L,
    slots: &Arc<Semaphore>,
) -> io::Result<(L::Io, PeerInfo, OwnedSemaphorePermit)> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let permit = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("connection limit closed"))?;
    let (io, peer) = listener.accept().await?;
    Ok((io, peer, permit))
}

async fn run<L: Listener>(
    mut listener: L,
    tls: Option<Arc<ReloadingTls>>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let limits = limits.normalized();
    let (http1, http2) = builders(&limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let shared = Arc::new(Shared {
        router,
        limits,
        tls,
        http1,
        http2,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut delay = Duration::ZERO;
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                report_join(&shared.limits, done);
            }
            accepted = accept_after(delay, &mut listener, &slots) => match accepted {
                Ok((io, peer, permit)) => {
                    delay = Duration::ZERO;
                    let shared = Arc::clone(&shared);
                    let stop = stop_rx.clone();
                    connections.spawn(async move {
                        let _permit = permit;
                        connection(io, peer, &shared, stop).await;
                    });
                }
                Err(e) => {
                    shared.limits.report(&format!("accepting a connection: {e}"));
                    // Out of file descriptors or memory: back off rather than spin.
                    delay = if per_connection(&e) {
                        Duration::ZERO
                    } else {
                        (delay * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
                    };
                }
            },
        }
    }

    // Stop accepting, ask every connection to finish, and wait a bounded time.
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(shared.limits.shutdown_grace, async {
        while let Some(done) = connections.join_next().await {
            report_join(&shared.limits, done);
        }
    })
    .await;
    if drained.is_err() {
        shared.limits.report(&format!(
            "shutdown: closing {} connection(s) still open after {:?}",
            connections.len(),
            shared.limits.shutdown_grace
        ));
        connections.shutdown().await;
    }
}

fn report_join(limits: &Limits, done: Result<(), JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        limits.report(&format!("a connection's handler panicked: {e}"));
    }
}

/// Resolves once shutdown has begun (or the loop is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn connection<I>(io: I, mut peer: PeerInfo, shared: &Shared, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(tls) = &shared.tls else {
        return http(TokioIo::new(io), &shared.http1, peer, shared, stop).await;
    };
    let acceptor = TlsAcceptor::from(tls.current());
    let handshake = tokio::time::timeout(shared.limits.tls_handshake_timeout, acceptor.accept(io));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                shared.limits.report(&format!("{peer}: TLS handshake failed: {e}"));
                return;
            }
            Err(_) => {
                shared.limits.report(&format!(
                    "{peer}: TLS handshake not finished within {:?}; closed",
                    shared.limits.tls_handshake_timeout
                ));
                return;
            }
        },
        () = stopping(&mut stop) => return,
    };
    let session = stream.get_ref().1;
    peer.client_certificates = session.peer_certificates().map(|chain| {
        chain
            .iter()
            .map(|c| c.clone().into_owned())
            .collect::<Vec<_>>()
            .into()
    });
    let builder = if session.alpn_protocol() == Some(b"h2") {
        &shared.http2
    } else {
        &shared.http1
    };
    http(TokioIo::new(stream), builder, peer, shared, stop).await;
}

/// Requests in flight on one connection and when the last one ended, for the idle deadline.
struct Activity {
    start: Instant,
    inflight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds from `start` to the end of the last request.
    last_end_ms: AtomicU64,
    /// Woken when a request ends, so the connection's deadline is taken again.
    ended: Notify,
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_end_ms.store(ms, Ordering::Relaxed);
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_one();
    }
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            inflight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_end_ms: AtomicU64::new(0),
            ended: Notify::new(),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// When the connection should be closed if nothing happens before; while a request is
    /// in flight there is no deadline, so look again one idle period later.
    fn deadline(&self, limits: &Limits) -> (Instant, bool) {
        let now = Instant::now();
        if self.inflight.load(Ordering::Acquire) > 0 {
            return (now + limits.idle_timeout, false);
        }
        if self.requests.load(Ordering::Relaxed) == 0 {
            return (self.start + limits.header_timeout, true);
        }
        let last = self.start + Duration::from_millis(self.last_end_ms.load(Ordering::Relaxed));
        (last + limits.idle_timeout, true)
    }
}

async fn http<I>(
    io: TokioIo<I>,
    builder: &auto::Builder<TokioExecutor>,
    peer: PeerInfo,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let service = {
        let router = shared.router.clone();
        let activity = Arc::clone(&activity);
        let peer = peer.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(peer.clone());
            let guard = activity.begin();
            let response = router.clone().oneshot(request);
            async move {
                let response: Result<Response, Infallible> = response.await;
                drop(guard);
                response
            }
        })
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    // Set once the connection was asked to close for idleness: by then it must be gone.
    let mut closing_by: Option<Instant> = None;
    loop {
        let (deadline, idle) = match closing_by {
            Some(by) => (by, true),
            None => activity.deadline(&shared.limits),
        };
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    // An HTTP/1.1 keep-alive connection that served requests and then sent no
                    // new one within the header timeout is closed by hyper with a timeout:
                    // that is how idle connections end (dockerd keeps plugin connections
                    // open), not an error worth a log line.
                    let idle_close = activity.requests.load(Ordering::Relaxed) > 0
                        && e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout);
                    if !idle_close {
                        shared.limits.report(&format!("{peer}: connection: {e}"));
                    }
                }
                return;
            }
            () = stopping(&mut stop), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = activity.ended.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                if closing_by.is_some() {
                    return; // A client that does not even close cleanly: drop it.
                }
                // Re-read: a request may have begun or ended since the deadline was taken.
                let (now_deadline, now_idle) = activity.deadline(&shared.limits);
                let now = Instant::now();
                if idle && now_idle && now_deadline <= now {
                    if activity.requests.load(Ordering::Relaxed) == 0 {
                        shared.limits.report(&format!(
                            "{peer}: no request within {:?}; closed",
                            shared.limits.header_timeout
                        ));
                    }
                    // HTTP/2: GOAWAY, then close; HTTP/1.1: close.
                    if !draining {
                        conn.as_mut().graceful_shutdown();
                        draining = true;
                    }
                    closing_by = Some(now + IDLE_CLOSE_GRACE);
                }
            }
        }
    }
}

/// How long a connection closed for idleness may take to say goodbye before it is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ops_router_answers_probes_and_metrics() {
        let ready = Arc::new(std::sync::Mutex::new(vec![
            "policy: line 3: bad".to_owned(),
        ]));
        let app = ops_router(Arc::new(Metrics::new()), {
            let ready = Arc::clone(&ready);
            Arc::new(move || ready.lock().unwrap().clone())
        });
        let get = |path: &str| Request::get(path).body(axum::body::Body::empty()).unwrap();
        let response = app.clone().oneshot(get("/healthz")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.clone().oneshot(get("/readyz")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"policy: line 3: bad\n");
        ready.lock().unwrap().clear();
        let response = app.clone().oneshot(get("/readyz")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.oneshot(get("/metrics")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn limits_are_brought_into_range() {
        let limits = Limits {
            max_connections: 0,
            header_timeout: Duration::MAX,
            keepalive_interval: Some(Duration::ZERO),
            ..Limits::default()
        }
        .normalized();
        assert_eq!(limits.max_connections, 1);
        assert_eq!(limits.header_timeout, MAX_TIMEOUT);
        assert_eq!(limits.keepalive_interval, None);
        assert_eq!(limits.idle_timeout, Limits::default().idle_timeout);
    }

    #[test]
    fn peer_info_says_who() {
        let mut peer = PeerInfo::default();
        assert_eq!(peer.to_string(), "unix peer");
        peer.unix_uid = Some(0);
        peer.unix_pid = Some(42);
        assert_eq!(peer.to_string(), "unix peer uid 0 pid 42");
        peer.remote_addr = Some("127.0.0.1:9".parse().unwrap());
        assert_eq!(peer.to_string(), "127.0.0.1:9");
        assert!(!peer.has_client_certificate());
    }
}
