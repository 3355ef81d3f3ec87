//! The tests' HTTPS client: the service's one client (`onshi-client`) trusting the world's
//! server CA, optionally with a client certificate; every request on a fresh connection. And an
//! enrolled terminal that checks cards with it.
#![allow(clippy::expect_used)] // test set-up: a failure is the test's failure

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use onshi_proto as proto;
use serde_json::Value;

use crate::{card_answer, date, World};

/// An enrolled terminal.
pub struct Terminal {
    /// Its account (`W0000001`…).
    pub id: String,
    /// Its client, with its client certificate.
    pub https: Https,
}

impl Terminal {
    /// A challenge (nonce, base64) for this terminal.
    pub async fn challenge(&self) -> String {
        let (status, body) = self.https.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(status, 200, "{body}");
        body["nonce"].as_str().expect("a nonce").to_owned()
    }

    /// A full check with a card: challenge, card answer (PIN [`crate::CARD_PIN`] in PIN mode),
    /// verify.
    pub async fn check(&self, card: &Path, mode: proto::Mode, visit: &str) -> (u16, Value) {
        let nonce = self.challenge().await;
        let pin = (mode == proto::Mode::Pin).then_some(crate::CARD_PIN);
        let (certificate, signature) = card_answer(card, &nonce, &self.id, pin);
        let req = proto::VerifyRequest {
            mode,
            certificate,
            signature,
            nonce,
            visit_date: date(visit),
            recheck_of: None,
        };
        self.https
            .post(proto::VERIFY, &serde_json::to_value(req).expect("JSON"))
            .await
    }
}

/// The tests' HTTPS client.
#[derive(Clone)]
pub struct Https {
    addr: SocketAddr,
    client: Arc<onshi_client::ServiceClient>,
}

impl Https {
    /// A client of the world's service, with `identity` (certificate PEM, key PEM) when given.
    pub fn new(world: &World, identity: Option<(String, String)>) -> Self {
        Self::with(world.addr, &world.server_ca(), identity)
    }

    /// The same client (the same identity) to another instance.
    pub fn to(&self, addr: SocketAddr) -> Self {
        Self {
            addr,
            client: Arc::new(self.client.another_at(addr.port())),
        }
    }

    /// A client of the service at `addr` trusting `server_ca_pem`.
    pub fn with(addr: SocketAddr, server_ca_pem: &str, identity: Option<(String, String)>) -> Self {
        let identity = identity.map(|(certificate_pem, key)| onshi_client::Identity {
            certificate_pem,
            key_pem: zeroize::Zeroizing::new(key),
        });
        let url = onshi_client::ServerUrl {
            host: "localhost".into(),
            port: addr.port(),
        };
        let client = onshi_client::ServiceClient::new(url, Some(server_ca_pem), identity.as_ref())
            .expect("the service's client");
        Self {
            addr,
            client: Arc::new(client),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS handshake on a TCP connection the test opened (one client configuration: its
    /// session store lets connections resume).
    pub async fn tls(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        self.client.handshake(tcp).await.map_err(|e| e.to_string())
    }

    /// GETs a path on a fresh connection; (status, body text).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let answer = self
            .client
            .another()
            .request(onshi_client::Method::GET, path, &[], Vec::new())
            .await
            .expect("an answer");
        (
            answer.status,
            String::from_utf8_lossy(&answer.body).into_owned(),
        )
    }

    /// POSTs JSON on a fresh connection; (status, JSON body). A refused handshake is status 0.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).expect("JSON")
        };
        match self
            .client
            .another()
            .request(
                onshi_client::Method::POST,
                path,
                &[("content-type", "application/json")],
                bytes,
            )
            .await
        {
            Ok(a) => (
                a.status,
                serde_json::from_slice(&a.body)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&a.body).into())),
            ),
            // A refused handshake, or TLS 1.3's refusal of a client certificate on first use.
            Err(e) => (0, Value::String(e.to_string())),
        }
    }
}
