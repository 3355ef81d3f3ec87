//! Serving HTTPS with rustls: the terminal's client certificate (if any) is taken from the TLS
//! session and put into every request of that connection, because axum's own servers do not
//! hand it to handlers. Connections are kept alive (closed after
//! [`ConnectionOptions::idle_timeout`] without a request) and TLS sessions resume from tickets or
//! the session cache, because a full mutual-TLS handshake costs far more than a check.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::WebPkiClientVerifier;
use rustls::HandshakeKind;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::metrics::{Handshake, Metrics};

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
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(server_chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("server certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(server_key_pem.as_bytes())
        .map_err(|e| format!("server key: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(terminal_ca_pem.as_bytes()) {
        roots
            .add(ca.map_err(|e| format!("terminal CA: {e}"))?)
            .map_err(|e| format!("terminal CA: {e}"))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("client verifier: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("server certificate: {e}"))?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How accepted connections are served.
#[derive(Clone)]
pub struct ConnectionOptions {
    /// Where handshakes and open connections are counted.
    pub metrics: Arc<Metrics>,
    /// How long a connection may wait for a complete request head, from its handshake or its
    /// previous answer: closes idle keep-alive connections and slow senders alike.
    pub idle_timeout: Duration,
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
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let options = options.clone();
        tokio::spawn(async move {
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
            let service = hyper_util::service::TowerToHyperService::new(
                router
                    .layer(axum::Extension(peer))
                    .layer(axum::Extension(PeerAddr(remote))),
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
