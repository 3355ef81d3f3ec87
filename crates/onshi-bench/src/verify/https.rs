//! The load generator's HTTPS client: a rustls configuration per terminal identity (the server
//! CA as the only root, the terminal's client certificate) and HTTP/1.1 connections that stay
//! open for as many requests as the caller sends on them.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use rustls::client::Resumption;
use rustls::{ClientConfig, HandshakeKind};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use super::VerifyError;

/// The name on the server's TLS certificate.
const SERVER_NAME: &str = "localhost";

/// A terminal's client certificate and key, PEM.
#[derive(Clone)]
pub(crate) struct Identity {
    /// The terminal's certificate, as the server issued it at enrollment.
    pub(crate) certificate_pem: String,
    /// The terminal's P-256 key, PKCS#8.
    pub(crate) key_pem: String,
}

fn pem_error(what: &'static str) -> impl Fn(rustls_pki_types::pem::Error) -> VerifyError {
    move |e| VerifyError::Setup(format!("{what}: {e}"))
}

/// A client configuration trusting `server_ca_pem`, presenting `identity` when given. With
/// `resume`, rustls' default in-memory session storage keeps tickets so that the next connection
/// resumes; without, every connection pays a full handshake (as a fresh configuration would).
pub(crate) fn client_config(
    server_ca_pem: &str,
    identity: Option<&Identity>,
    resume: bool,
) -> Result<Arc<ClientConfig>, VerifyError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(server_ca_pem.as_bytes()) {
        roots.add(ca.map_err(pem_error("server CA"))?)?;
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(id.certificate_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(pem_error("terminal certificate"))?;
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
                .map_err(pem_error("terminal key"))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    if !resume {
        config.resumption = Resumption::disabled();
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How long the preparation waits out 429 answers before it gives up.
pub(crate) const PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// One HTTP/1.1 connection over TLS; requests go out one after the other (keep-alive).
pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// Whether the TLS handshake resumed an earlier session.
    pub(crate) resumed: bool,
}

impl Connection {
    /// Connects and completes the TLS handshake.
    pub(crate) async fn open(
        addr: SocketAddr,
        config: &Arc<ClientConfig>,
    ) -> Result<Self, VerifyError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(SERVER_NAME)
            .map_err(|e| VerifyError::Setup(format!("server name: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await?;
        let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes; either is fine here.
            let _ = conn.await;
        });
        Ok(Self { sender, resumed })
    }

    /// POSTs a JSON body; the status and the whole answer body.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        self.send(path, "application/json", None, body).await
    }

    /// POSTs as [`Connection::post`], waiting a second and trying again while the answer is 429:
    /// the rate limits of instances the bench does not configure (`--target`), for at most
    /// [`PATIENCE`].
    pub(crate) async fn post_patiently(
        &mut self,
        path: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        let started = std::time::Instant::now();
        loop {
            let answer = self.post(path, body.clone()).await?;
            if answer.0 != 429 || started.elapsed() >= PATIENCE {
                return Ok(answer);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// GETs a page; the status and the whole answer body.
    pub(crate) async fn get(&mut self, path: &str) -> Result<(u16, Bytes), VerifyError> {
        self.sender.ready().await?;
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, SERVER_NAME)
            .body(Full::new(Bytes::new()))
            .map_err(|e| VerifyError::Setup(format!("request: {e}")))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// POSTs a URL-encoded form with a `Cookie` header, as a browser submits a page's form.
    pub(crate) async fn post_form(
        &mut self,
        path: &str,
        cookie: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        self.send(
            path,
            "application/x-www-form-urlencoded",
            Some(cookie),
            body,
        )
        .await
    }

    async fn send(
        &mut self,
        path: &str,
        content_type: &str,
        cookie: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        self.sender.ready().await?;
        let mut request = hyper::Request::post(path)
            .header(hyper::header::HOST, SERVER_NAME)
            .header(hyper::header::CONTENT_TYPE, content_type);
        if let Some(cookie) = cookie {
            request = request.header(hyper::header::COOKIE, cookie);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| VerifyError::Setup(format!("request: {e}")))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
