//! The load generator's connections: the service's one client (`onshi-client`) per terminal
//! identity (the server CA as the only root, the terminal's client certificate), each connection
//! an HTTP/1.1 connection that stays open for as many requests as the caller sends on it.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Bytes;
use onshi_client::{ClientOptions, Method, ServerUrl, ServiceClient};

use super::VerifyError;

/// The name on the server's TLS certificate.
const SERVER_NAME: &str = "localhost";

/// A terminal's client certificate and key (the service client's own type).
pub(crate) use onshi_client::Identity;

/// The service's one client (`onshi-client`) trusting `server_ca_pem`, presenting `identity`
/// when given, as the template of every connection the load generator opens with it. With
/// `resume`, its in-memory session store lets the next connection resume; without, every
/// connection pays a full handshake (as a fresh configuration would).
pub(crate) fn client_config(
    server_ca_pem: &str,
    identity: Option<&Identity>,
    resume: bool,
) -> Result<Arc<ServiceClient>, VerifyError> {
    let url = ServerUrl {
        host: SERVER_NAME.to_owned(),
        port: 443,
    };
    Ok(Arc::new(ServiceClient::with_options(
        url,
        Some(server_ca_pem),
        identity,
        ClientOptions { resume },
    )?))
}

/// How long the preparation waits out 429 answers before it gives up.
pub(crate) const PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// One HTTP/1.1 connection over TLS; requests go out one after the other (keep-alive).
pub(crate) struct Connection {
    client: ServiceClient,
    /// Whether the TLS handshake resumed an earlier session.
    pub(crate) resumed: bool,
}

impl Connection {
    /// Connects to `addr` (the server's name checked as `localhost`) and completes the TLS
    /// handshake.
    pub(crate) async fn open(
        addr: SocketAddr,
        config: &Arc<ServiceClient>,
    ) -> Result<Self, VerifyError> {
        let mut client = config.another_to(addr);
        client.open().await?;
        let resumed = client.resumed() == Some(true);
        Ok(Self { client, resumed })
    }

    /// POSTs a JSON body; the status and the whole answer body.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await
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
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// POSTs a URL-encoded form with a `Cookie` header, as a browser submits a page's form.
    pub(crate) async fn post_form(
        &mut self,
        path: &str,
        cookie: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        self.send(
            Method::POST,
            path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", cookie),
            ],
            body,
        )
        .await
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Bytes), VerifyError> {
        let answer = self.client.request(method, path, headers, body).await?;
        Ok((answer.status, answer.body))
    }
}
