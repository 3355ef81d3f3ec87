//! Serving HTTPS with rustls: the terminal's client certificate (if any) is taken from the TLS
//! session and put into every request of that connection, because axum's own servers do not
//! hand it to handlers. Connections are kept alive (closed after
//! [`ConnectionOptions::idle_timeout`] without a request) and TLS sessions resume from tickets or
//! the session cache, because a full mutual-TLS handshake costs far more than a check.
//!
//! The edge holds against slow and greedy clients: a request head must arrive within the idle
//! timeout and its body within [`ConnectionOptions::body_timeout`] (else 408 and the connection
//! is closed); connections beyond the caps of [`ConnectionCaps`] (per instance, per client
//! address) are closed at accept; a failing `accept` (out of file descriptors) backs off
//! ([`AcceptBackoff`]) instead of spinning, and is logged once per burst.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::WebPkiClientVerifier;
use rustls::HandshakeKind;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::limit::{CapRefusal, ConnectionCaps};
use crate::metrics::{Handshake, Metrics};
use crate::ApiError;

/// The end-entity certificate the client presented, verified by rustls against the terminal CA,
/// or none (enrollment is the one route that works without), and the terminal id it names.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificate {
    der: Option<Arc<[u8]>>,
    terminal_id: Option<Arc<str>>,
}

impl PeerCertificate {
    /// The peer of a connection whose client presented `der` (or nothing).
    pub fn new(der: Option<&[u8]>) -> Self {
        Self {
            der: der.map(Arc::from),
            terminal_id: der
                .and_then(onshi_pki::terminal_ca::terminal_id_of)
                .map(Arc::from),
        }
    }

    /// The certificate's DER.
    pub fn der(&self) -> Option<&[u8]> {
        self.der.as_deref()
    }

    /// The terminal id (`W0000001`) in the certificate's subject, read once per connection; the
    /// store still decides whether that terminal is active.
    pub fn terminal_id(&self) -> Option<&str> {
        self.terminal_id.as_deref()
    }
}

/// The address the connection came from (the portal throttles logins per address).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// How long a client may take for the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls configuration: our server certificate; client certificates from the terminal CA
/// verified when presented (optional at the TLS level so that enrollment works; every other
/// route requires one); a session cache and tickets so that terminals resume instead of paying a
/// full handshake.
pub fn tls_config(
    server_chain_pem: &str,
    server_key_pem: &str,
    terminal_ca_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(server_chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(TlsError::ServerCertificatePem)?;
    let key =
        PrivateKeyDer::from_pem_slice(server_key_pem.as_bytes()).map_err(TlsError::ServerKey)?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(terminal_ca_pem.as_bytes()) {
        roots
            .add(ca.map_err(TlsError::TerminalCaPem)?)
            .map_err(TlsError::TerminalCa)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(TlsError::ClientVerifier)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(TlsError::ServerCertificate)?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why the TLS configuration could not be built: which part, and rustls' own words.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The server's certificate chain is not PEM.
    #[error("server certificate: {0}")]
    ServerCertificatePem(rustls_pki_types::pem::Error),
    /// rustls refused the server's certificate or key.
    #[error("server certificate: {0}")]
    ServerCertificate(rustls::Error),
    /// The server's key is not PEM.
    #[error("server key: {0}")]
    ServerKey(rustls_pki_types::pem::Error),
    /// The terminal CA's certificate is not PEM.
    #[error("terminal CA: {0}")]
    TerminalCaPem(rustls_pki_types::pem::Error),
    /// The terminal CA's certificate is not a usable trust anchor.
    #[error("terminal CA: {0}")]
    TerminalCa(rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("client verifier: {0}")]
    ClientVerifier(rustls::server::VerifierBuilderError),
    /// rustls refused the protocol versions or the session ticketer.
    #[error("{0}")]
    Rustls(rustls::Error),
}

/// How accepted connections are served.
#[derive(Clone)]
pub struct ConnectionOptions {
    /// Where handshakes and open connections are counted.
    pub metrics: Arc<Metrics>,
    /// How long a connection may wait for a complete request head, from its handshake or its
    /// previous answer: closes idle keep-alive connections and slow senders alike.
    pub idle_timeout: Duration,
    /// How long a request's whole body may take to arrive, from its head.
    pub body_timeout: Duration,
    /// The caps on open connections, per instance and per client address.
    pub caps: Arc<ConnectionCaps>,
}

/// Refusals at accept are logged at most once in this time (with the number left unlogged).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// The first wait after a failed accept; it doubles with each failure in a row.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// The longest wait between failed accepts.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What to do after a failed `accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptFailure {
    /// How long to wait before accepting again (zero: at once).
    pub wait: Duration,
    /// Whether to log it: only the first failure of a burst is logged.
    pub log: bool,
}

/// Back-off after failed accepts. An error of the pending connection itself (reset or aborted
/// before it was accepted) is retried at once; any other error (EMFILE, ENFILE, ENOBUFS, ENOMEM)
/// will fail again at once, so the loop waits [`ACCEPT_BACKOFF_MIN`], doubling up to
/// [`ACCEPT_BACKOFF_MAX`], until an accept succeeds.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    failures: u64,
    delay: Duration,
}

impl AcceptBackoff {
    /// An accept failed with `e`.
    pub fn failed(&mut self, e: &io::Error) -> AcceptFailure {
        if is_connection_error(e) {
            return AcceptFailure {
                wait: Duration::ZERO,
                log: false,
            };
        }
        self.failures += 1;
        self.delay = if self.failures == 1 {
            ACCEPT_BACKOFF_MIN
        } else {
            (self.delay * 2).min(ACCEPT_BACKOFF_MAX)
        };
        AcceptFailure {
            wait: self.delay,
            log: self.failures == 1,
        }
    }

    /// An accept succeeded: ends the burst and returns how many failures it had.
    pub fn succeeded(&mut self) -> u64 {
        std::mem::take(self).failures
    }
}

/// Errors of one pending connection, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Accepts the next connection from `next`, backing off while it fails.
pub async fn accept_next<T, F, Fut>(
    mut next: F,
    backoff: &mut AcceptBackoff,
    metrics: &Metrics,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    loop {
        match next().await {
            Ok(accepted) => {
                let failures = backoff.succeeded();
                if failures > 0 {
                    tracing::info!(failures, "accepting connections again");
                }
                return accepted;
            }
            Err(e) => {
                metrics.accept_error();
                let failure = backoff.failed(&e);
                if failure.log {
                    tracing::warn!(error = %e, "accept failed; backing off until it works again (logged once per burst)");
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
                if !failure.wait.is_zero() {
                    tokio::time::sleep(failure.wait).await;
                }
            }
        }
    }
}

/// Counts events and says when to log one: at most once per `every`, with the number of events
/// since the last line.
struct Burst {
    every: Duration,
    last: Option<Instant>,
    unlogged: u64,
}

impl Burst {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            unlogged: 0,
        }
    }

    /// One event at `now`: `Some(events since the last line)` when it should be logged.
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// The error of a request body that did not arrive within the body deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body deadline")]
pub struct BodyDeadline;

/// A request body that fails with [`BodyDeadline`] once its deadline passes, and says so in
/// `fired` (the connection is then answered 408 and closed).
struct DeadlineBody<B> {
    inner: B,
    deadline: Pin<Box<tokio::time::Sleep>>,
    fired: Arc<AtomicBool>,
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.fired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyDeadline))));
        }
        Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body was too slow: 408, and the connection closed.
fn body_timed_out() -> axum::response::Response {
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        onshi_proto::ErrorCode::BadRequest,
        "要求の受信に時間がかかりすぎたため、接続を閉じました。通信環境を確かめて、もう一度お試しください。",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Accepts connections until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    options: ConnectionOptions,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut backoff = AcceptBackoff::default();
    let mut refusals = Burst::new(REFUSAL_LOG_EVERY);
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = accept_next(|| listener.accept(), &mut backoff, &options.metrics) => accepted,
            () = &mut shutdown => return,
        };
        let permit = match options.caps.admit(remote.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                options.metrics.connection_refused(why);
                if let Some(refused) = refusals.note(Instant::now()) {
                    let cap = match why {
                        CapRefusal::Instance => "max_connections",
                        CapRefusal::Address => "max_connections_per_address",
                    };
                    tracing::warn!(%remote, cap, refused, "connection closed at accept: cap reached (logged at most every 10 s)");
                }
                drop(tcp);
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let metrics = options.metrics;
            let _open = metrics.connection();
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    // No, unknown, expired or revoked client certificates end here.
                    metrics.handshake(Handshake::Refused);
                    tracing::warn!(%remote, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    metrics.handshake(Handshake::TimedOut);
                    tracing::warn!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let session = tls.get_ref().1;
            metrics.handshake(match session.handshake_kind() {
                Some(HandshakeKind::Resumed) => Handshake::Resumed,
                _ => Handshake::Full,
            });
            let peer = PeerCertificate::new(
                session
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.as_ref()),
            );
            let router = router
                .layer(axum::Extension(peer))
                .layer(axum::Extension(PeerAddr(remote)));
            let (body_timeout, counted) = (options.body_timeout, metrics.clone());
            let service = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let (router, metrics) = (router.clone(), counted.clone());
                    async move {
                        let fired = Arc::new(AtomicBool::new(false));
                        let req = req.map(|inner| {
                            axum::body::Body::new(DeadlineBody {
                                inner,
                                deadline: Box::pin(tokio::time::sleep(body_timeout)),
                                fired: fired.clone(),
                            })
                        });
                        let response = tower::ServiceExt::oneshot(router, req).await?;
                        if fired.load(Ordering::Relaxed) {
                            metrics.body_timeout();
                            tracing::warn!(%remote, "request body too slow: 408, connection closed");
                            return Ok::<_, Infallible>(body_timed_out());
                        }
                        Ok(response)
                    }
                },
            );
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(options.idle_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::other("Too many open files (os error 24)")
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_logs_once_per_burst() {
        let mut b = AcceptBackoff::default();
        let failures: Vec<AcceptFailure> = (0..12).map(|_| b.failed(&emfile())).collect();
        let waits: Vec<u64> = failures
            .iter()
            .map(|f| u64::try_from(f.wait.as_millis()).unwrap_or(u64::MAX))
            .collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]
        );
        assert_eq!(failures.iter().filter(|f| f.log).count(), 1);
        assert!(failures[0].log);
        // A success ends the burst; the next failure starts over and is logged again.
        assert_eq!(b.succeeded(), 12);
        assert_eq!(b.succeeded(), 0);
        let again = b.failed(&emfile());
        assert_eq!((again.wait, again.log), (ACCEPT_BACKOFF_MIN, true));
        // A connection's own error is retried at once, unlogged, and leaves the burst alone.
        let reset = b.failed(&io::Error::from(io::ErrorKind::ConnectionAborted));
        assert_eq!((reset.wait, reset.log), (Duration::ZERO, false));
        assert_eq!(b.succeeded(), 1);
    }

    #[tokio::test]
    async fn a_failing_accept_does_not_spin() {
        let metrics = Metrics::new();
        let mut backoff = AcceptBackoff::default();
        let calls = std::sync::atomic::AtomicU64::new(0);
        let accept = || {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(emfile()) }
        };
        let ended = tokio::time::timeout(
            Duration::from_millis(300),
            accept_next(accept, &mut backoff, &metrics),
        )
        .await;
        assert!(ended.is_err(), "an accept that always fails never returns");
        // 5 + 10 + 20 + 40 + 80 + 160 ms: about six tries in 300 ms, not millions.
        let n = calls.load(Ordering::Relaxed);
        assert!((3..=10).contains(&n), "{n} accepts in 300 ms");
        let text = metrics.render(0, 0);
        assert!(
            text.contains(&format!("onshi_accept_errors_total {n}")),
            "{text}"
        );
    }

    #[test]
    fn bursts_are_logged_once_per_period() {
        let mut b = Burst::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(b.note(t0), Some(1));
        assert_eq!(b.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(b.note(t0 + Duration::from_secs(9)), None);
        assert_eq!(b.note(t0 + Duration::from_secs(10)), Some(3));
    }
}
