//! The one HTTPS client of the eligibility service, used by the reception app, the load generator
//! and the tests: one rustls configuration (trusting only the server CA stored at enrollment, or
//! the system's roots, presenting the terminal's certificate when it has one) reused for every
//! connection so that TLS sessions resume, an HTTP/1.1 connection kept alive between requests, and
//! a timeout on every network step.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpStream;

pub use hyper::Method;

/// Why a request to the service did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The client cannot be set up (a bad address, CA file, certificate or key).
    #[error("{0}")]
    Setup(String),
    /// No connection, or no answer within [`TIMEOUT`], or the connection ended before the answer.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The server's certificate is not trusted.
    #[error("untrusted server: {0}")]
    Untrusted(String),
    /// The service answered with an error body.
    #[error("HTTP {status} {}: {}", body.code, body.message)]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The service's `{code, message}`.
        body: onshi_proto::ErrorBody,
    },
    /// The TLS handshake or the first request was refused (this terminal's certificate).
    #[error("refused by the server: {0}")]
    TerminalRefused(String),
    /// An answer that is not what the protocol says.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// How long any one network step (connect, handshake, request and answer) may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the service is: `https://HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// The host name or IP address (checked against the server's certificate).
    pub host: String,
    /// The TCP port (443 when the URL has none).
    pub port: u16,
}

impl ServerUrl {
    /// Parses `https://HOST[:PORT][/]`; IPv6 addresses in brackets.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = || {
            ClientError::Setup(format!(
                "サーバーのアドレス {url} は https://ホスト名:ポート の形で指定してください / the server URL must be https://HOST:PORT"
            ))
        };
        let rest = url.strip_prefix("https://").ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(bad()),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => 443,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "https://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "https://{}:{}", self.host, self.port)
        }
    }
}

/// The terminal's client certificate and key (PEM); the key is wiped from memory when dropped.
#[derive(Clone)]
pub struct Identity {
    /// The terminal's certificate.
    pub certificate_pem: String,
    /// The terminal's P-256 key (PKCS#8).
    pub key_pem: zeroize::Zeroizing<String>,
}

/// The answer to [`ServiceClient::get`].
#[derive(Clone, Copy, Debug)]
pub struct GetAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The server's clock (`Date` header).
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

/// A connection to the service, reused between requests while the server keeps it open.
pub struct ServiceClient {
    url: ServerUrl,
    name: ServerName<'static>,
    /// Where to connect instead of resolving `url`'s host (the load generator, the tests).
    address: Option<std::net::SocketAddr>,
    connector: tokio_rustls::TlsConnector,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Whether the last TLS handshake resumed an earlier session.
    resumed: Option<bool>,
    /// The service's clock from the `Date` header of the last answer.
    server_date: Option<chrono::DateTime<chrono::Utc>>,
    /// The last request's connection ended before its answer (see [`ServiceClient::lost`]).
    lost: bool,
}

/// How a [`ServiceClient`] connects.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Resume TLS sessions (the default): the next connection with this client's configuration
    /// skips the full handshake. Off, every connection pays it (the load generator measures both).
    pub resume: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { resume: true }
    }
}

impl ServiceClient {
    /// A client trusting only `server_ca_pem` (the system's roots when `None`), presenting
    /// `identity` when given.
    pub fn new(
        url: ServerUrl,
        server_ca_pem: Option<&str>,
        identity: Option<&Identity>,
    ) -> Result<Self, ClientError> {
        Self::with_options(url, server_ca_pem, identity, ClientOptions::default())
    }

    /// [`ServiceClient::new`] with [`ClientOptions`].
    pub fn with_options(
        url: ServerUrl,
        server_ca_pem: Option<&str>,
        identity: Option<&Identity>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| ClientError::Setup(format!("{what}: {e}"));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match server_ca_pem {
            Some(pem) => {
                for ca in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let ca = ca.map_err(|e| setup("サーバーのCA証明書 / server CA", &e))?;
                    roots
                        .add(ca)
                        .map_err(|e| setup("サーバーのCA証明書 / server CA", &e))?;
                }
                if roots.is_empty() {
                    return Err(ClientError::Setup(
                        "サーバーのCA証明書がありません / the server CA file holds no certificate"
                            .into(),
                    ));
                }
            }
            None => {
                // The operating system's trusted roots (a service with a public certificate).
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(ClientError::Setup(
                        "このパソコンの信頼済みルート証明書を読めません。サーバーのCA証明書を --server-ca で指定してください / no system root certificates".into(),
                    ));
                }
            }
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup("TLS", &e))?
            .with_root_certificates(roots);
        // The default configuration keeps session tickets in memory: the next connection made
        // with this same configuration resumes instead of a full handshake.
        let mut config = match identity {
            Some(id) => {
                let chain = CertificateDer::pem_slice_iter(id.certificate_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| setup("端末の証明書 / terminal certificate", &e))?;
                let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
                    .map_err(|e| setup("端末の鍵 / terminal key", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| setup("端末の証明書 / terminal certificate", &e))?
            }
            None => builder.with_no_client_auth(),
        };
        if !options.resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| setup("サーバーのホスト名 / server host", &e))?;
        Ok(Self {
            url,
            name,
            address: None,
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            sender: None,
            resumed: None,
            server_date: None,
            lost: false,
        })
    }

    /// The service's address.
    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// A client with this one's configuration (trust, identity, TLS session store: its
    /// connections resume this one's sessions) and no connection open yet.
    pub fn another(&self) -> Self {
        Self {
            address: self.address,
            ..self.another_at(self.url.port)
        }
    }

    /// [`ServiceClient::another`] to another port of the same host (another instance).
    pub fn another_at(&self, port: u16) -> Self {
        Self {
            url: ServerUrl {
                host: self.url.host.clone(),
                port,
            },
            name: self.name.clone(),
            address: None,
            connector: self.connector.clone(),
            sender: None,
            resumed: None,
            server_date: None,
            lost: false,
        }
    }

    /// [`ServiceClient::another`] connecting to `address` (the server's name still checked
    /// against the URL's host): a load balancer or an instance on an address of its own.
    pub fn another_to(&self, address: std::net::SocketAddr) -> Self {
        Self {
            address: Some(address),
            ..self.another_at(address.port())
        }
    }

    /// Opens the connection now (it is otherwise opened by the first request), so that the
    /// handshake is not counted in that request's time.
    pub async fn open(&mut self) -> Result<(), ClientError> {
        if self.sender.is_none() {
            self.sender = Some(self.connect().await?);
        }
        Ok(())
    }

    /// Whether the last connection opened resumed an earlier TLS session (`None` before any).
    pub fn resumed(&self) -> Option<bool> {
        self.resumed
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let tcp = match self.address {
            Some(a) => TcpStream::connect(a).await,
            None => TcpStream::connect((self.url.host.as_str(), self.url.port)).await,
        }
        .map_err(|e| ClientError::Unreachable(format!("{}: {e}", self.url)))?;
        // Requests are small and answered one at a time: no Nagle delay.
        tcp.set_nodelay(true)
            .map_err(|e| ClientError::Unreachable(format!("{}: {e}", self.url)))?;
        let tls = self.handshake(tcp).await?;
        self.resumed =
            Some(tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// The TLS handshake on a TCP connection the caller opened (the tests open theirs from a
    /// chosen source address, or write HTTP by hand), with this client's trust and identity.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| {
                let untrusted = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| {
                        matches!(
                            r,
                            rustls::Error::InvalidCertificate(_)
                                | rustls::Error::NoCertificatesPresented
                        )
                    });
                if untrusted {
                    ClientError::Untrusted(e.to_string())
                } else {
                    ClientError::TerminalRefused(e.to_string())
                }
            })
    }

    /// POSTs `body` as JSON to `path` and decodes the answer; an error body becomes
    /// [`ClientError::Refused`]. Every step is bounded by [`TIMEOUT`].
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &mut self,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
            None => Vec::new(),
        };
        let answer = self
            .request(
                hyper::Method::POST,
                path,
                &[("content-type", "application/json")],
                bytes,
            )
            .await?;
        if answer.status != 200 {
            let body =
                serde_json::from_slice::<onshi_proto::ErrorBody>(&answer.body).map_err(|_| {
                    ClientError::Protocol(format!(
                        "HTTP {}: {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    ))
                })?;
            return Err(ClientError::Refused {
                status: answer.status,
                body,
            });
        }
        serde_json::from_slice(&answer.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// GETs `path` (`/healthz`, `/readyz`): the HTTP status and the server's clock from the
    /// `Date` header (when it sent a readable one). Bounded by [`TIMEOUT`].
    pub async fn get(&mut self, path: &str) -> Result<GetAnswer, ClientError> {
        let answer = self
            .request(hyper::Method::GET, path, &[], Bytes::new())
            .await?;
        Ok(GetAnswer {
            status: answer.status,
            date: answer.date,
        })
    }

    /// Sends one request as given and returns the answer whatever its status (the tests and
    /// the load generator look at statuses and bodies themselves). Every step is bounded by
    /// [`TIMEOUT`]; the connection is kept for the next request.
    pub async fn request(
        &mut self,
        method: hyper::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Answer, ClientError> {
        match tokio::time::timeout(
            TIMEOUT,
            self.request_untimed(method, path, headers, body.into()),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => {
                self.sender = None;
                Err(ClientError::Unreachable(format!(
                    "{}: no answer within {} s",
                    self.url,
                    TIMEOUT.as_secs()
                )))
            }
        }
    }

    async fn request_untimed(
        &mut self,
        method: hyper::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        // Keep-alive: reuse the open connection unless the server closed it.
        let mut sender = match self.sender.take() {
            Some(mut s) => match s.ready().await {
                Ok(()) => s,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.url.host.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.lost = false;
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            // TLS 1.3 reports a refused client certificate after the handshake, on first use,
            // as an alert.
            Err(e) if tls_refusal(&e) => return Err(ClientError::TerminalRefused(e.to_string())),
            // Otherwise the connection ended before the answer (the instance behind the load
            // balancer went away): whether the request was carried out is unknown.
            Err(e) => {
                self.lost = true;
                return Err(ClientError::Unreachable(format!(
                    "{}: the connection ended before the answer: {e}",
                    self.url
                )));
            }
        };
        let status = response.status().as_u16();
        let date = date_header(response.headers());
        self.server_date = date;
        let body = match response.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.lost = true;
                return Err(ClientError::Unreachable(format!(
                    "{}: the connection ended during the answer: {e}",
                    self.url
                )));
            }
        };
        self.sender = Some(sender);
        Ok(Answer { status, date, body })
    }
}

/// An answer as received ([`ServiceClient::request`]).
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The server's clock (`Date` header).
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// The body.
    pub body: Bytes,
}

/// Whether a failed request carries a TLS error (an alert from the server: this terminal's
/// certificate refused) rather than a connection that simply ended.
fn tls_refusal(e: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        source = s.source();
    }
    false
}

/// The server's clock from an answer's `Date` header, when it sent a readable one.
fn date_header(headers: &hyper::HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    headers
        .get(hyper::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
}

impl ServiceClient {
    /// Whether the last POST's connection ended before its answer came (not a refusal): the
    /// request may or may not have been carried out. The next request opens a new connection.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// The service's clock as of the last answer (its `Date` header).
    pub fn server_date(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.server_date
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let u = ServerUrl::parse("https://127.0.0.1:8443/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8443));
        assert_eq!(u.to_string(), "https://127.0.0.1:8443");
        assert_eq!(ServerUrl::parse("https://onshi.example").unwrap().port, 443);
        let v6 = ServerUrl::parse("https://[::1]:9").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9));
        assert_eq!(v6.to_string(), "https://[::1]:9");
        for bad in [
            "http://x:1",
            "https://",
            "https://x:y",
            "https://x/a",
            "https://[::1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
