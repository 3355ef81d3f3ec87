//! Operations, limits and connections: /healthz, /readyz, /metrics, /openapi.yaml, logs without
//! patient data, 429 and 413, keep-alive with an idle timeout, TLS session resumption, and CRL
//! reload on SIGHUP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use onshi_proto::{self as proto, Mode};
use rustls::HandshakeKind;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use onshi_testkit::*;

fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

async fn each_engine<F, Fut>(test: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let scratch = tempfile::tempdir().unwrap();
    for (_, database) in databases(scratch.path()) {
        test(database).await;
    }
}

/// One kept-alive HTTPS connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    kind: Option<HandshakeKind>,
}

/// An answer: status, headers, body text.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

impl Conn {
    async fn open(https: &Https) -> Self {
        let tcp = tokio::net::TcpStream::connect(https.addr()).await.unwrap();
        let tls = https.tls(tcp).await.unwrap();
        let kind = tls.get_ref().1.handshake_kind();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        Self { sender, kind }
    }

    async fn send(&mut self, method: &str, path: &str, body: Vec<u8>) -> Answer {
        self.try_send(method, path, body).await.unwrap()
    }

    async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Answer, hyper::Error> {
        self.sender.ready().await?;
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, Vec::new()).await
    }

    async fn post(&mut self, path: &str, body: &Value) -> Answer {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        self.send("POST", path, bytes).await
    }
}

/// The value of the sample `series` in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `/metrics` read without a client certificate.
async fn metrics(world: &World) -> String {
    let mut anonymous = Conn::open(&Https::new(world, None)).await;
    let a = anonymous.get(proto::METRICS).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_document_and_metrics_after_a_check() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        let t = world.terminal().await;

        // No client certificate needed for the operations routes.
        let mut anonymous = Conn::open(&Https::new(&world, None)).await;
        let a = anonymous.get(proto::HEALTHZ).await;
        assert_eq!((a.status, a.body.as_str()), (200, "ok"));
        let a = anonymous.get(proto::READYZ).await;
        assert_eq!((a.status, a.body.as_str()), (200, "ready"));
        let a = anonymous.get(proto::OPENAPI).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.headers["content-type"], "application/yaml");
        assert_eq!(a.body, onshi_server::openapi::DOCUMENT);
        // …but the terminal routes do.
        let a = anonymous.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.json()["code"], proto::codes::NO_CLIENT_CERTIFICATE);

        let (status, body) = t.check(&card, Mode::Pin, &today()).await;
        assert_eq!(status, 200, "{body}");
        let unlinked = world.cards.valid("P0000000004");
        let (status, body) = t.check(&unlinked, Mode::Visual, &today()).await;
        assert_eq!(
            (status, &body["QualificationValidity"]),
            (200, &Value::from("4"))
        );

        let a = anonymous.get(proto::METRICS).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.headers["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = a.body;
        let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("{s} missing in\n{text}"));
        let verify = format!("route=\"{}\"", proto::VERIFY);
        assert_eq!(
            v(&format!(
                "onshi_http_requests_total{{{verify},status=\"200\"}}"
            )),
            2.0
        );
        assert_eq!(
            v(&format!(
                "onshi_http_requests_total{{route=\"{}\",status=\"200\"}}",
                proto::CHALLENGE
            )),
            2.0
        );
        assert_eq!(
            v(&format!(
                "onshi_http_requests_total{{route=\"{}\",status=\"401\"}}",
                proto::CHALLENGE
            )),
            1.0
        );
        assert_eq!(
            v(&format!(
                "onshi_http_request_duration_seconds_count{{{verify}}}"
            )),
            2.0
        );
        assert_eq!(
            v(&format!(
                "onshi_http_request_duration_seconds_bucket{{{verify},le=\"+Inf\"}}"
            )),
            2.0
        );
        assert_eq!(
            v("onshi_checks_total{qualification_validity=\"1\",processing_result_code=\"none\"}"),
            1.0
        );
        assert_eq!(
            v("onshi_checks_total{qualification_validity=\"4\",processing_result_code=\"none\"}"),
            1.0
        );
        assert!(v("onshi_tls_handshakes_total{kind=\"full\"}") >= 1.0);
        assert!(v("onshi_tls_handshakes_refused_total{reason=\"error\"}") >= 0.0);
        assert!(v("onshi_connections_active") >= 1.0);
        assert!(v("onshi_crl_generation") >= 0.0);

        // A refused handshake is counted: a certificate from another CA.
        let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["W0000001".into()])
            .unwrap()
            .self_signed(&stranger)
            .unwrap();
        let (status, _) = Https::new(&world, Some((cert.pem(), stranger.serialize_pem())))
            .post(proto::CHALLENGE, &Value::Null)
            .await;
        assert_eq!(status, 0);
        // The client sees the alert before the server has counted the refusal: wait for it.
        let refused = "onshi_tls_handshakes_refused_total{reason=\"error\"}";
        let mut text = metrics(&world).await;
        for _ in 0..50 {
            if sample(&text, refused).unwrap_or(0.0) >= 1.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            text = metrics(&world).await;
        }
        assert!(sample(&text, refused).unwrap() >= 1.0, "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_and_idle_connections_close() {
    let world = World::start(None, |c| c.idle_timeout_seconds = 2).await;
    let t = world.terminal().await;

    // First connection: a full handshake; several requests on it.
    let mut first = Conn::open(&t.https).await;
    assert_ne!(first.kind, Some(HandshakeKind::Resumed));
    for _ in 0..3 {
        let a = first.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    drop(first);

    // Second connection from the same client config: resumed, and still this terminal.
    let mut second = Conn::open(&t.https).await;
    assert_eq!(second.kind, Some(HandshakeKind::Resumed));
    let a = second.post(proto::CHALLENGE, &Value::Null).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = metrics(&world).await;
    assert!(
        sample(&text, "onshi_tls_handshakes_total{kind=\"resumed\"}").unwrap() >= 1.0,
        "{text}"
    );

    // Idle past idle_timeout_seconds: the server closes the connection.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(second
        .try_send("POST", proto::CHALLENGE, Vec::new())
        .await
        .is_err());
    // Nothing left open but the connection that reads the metrics.
    let text = metrics(&world).await;
    assert_eq!(
        sample(&text, "onshi_connections_active"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_get_429_and_large_bodies_413() {
    let world = World::start(None, |c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 3;
        c.max_body_bytes = 1024;
    })
    .await;
    let t = world.terminal().await;
    let other = world.terminal().await;

    let mut conn = Conn::open(&t.https).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let a = conn.post(proto::CHALLENGE, &Value::Null).await;
        statuses.push(a.status);
        if a.status == 429 {
            limited = Some(a);
        }
    }
    // The burst passes; then at most one more within the refill of a second.
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let limited = limited.unwrap();
    assert_eq!(limited.headers["retry-after"], "1");
    let body = limited.json();
    assert_eq!(body["code"], proto::codes::RATE_LIMITED);
    assert!(
        body["message"].as_str().unwrap().contains("多すぎます"),
        "{body}"
    );

    // Another terminal has its own bucket; the operations routes are not limited.
    let (status, _) = other.https.post(proto::CHALLENGE, &Value::Null).await;
    assert_eq!(status, 200);
    let mut anonymous = Conn::open(&Https::new(&world, None)).await;
    for _ in 0..10 {
        assert_eq!(anonymous.get(proto::HEALTHZ).await.status, 200);
    }

    // A body over max_body_bytes: 413 with the error body, on a terminal route and on enroll.
    let big = serde_json::json!({
        "mode": "visual",
        "certificate": "A".repeat(4096),
        "nonce": "AA==",
        "visit_date": today(),
    });
    let (status, body) = other.https.post(proto::VERIFY, &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], proto::codes::BAD_REQUEST);
    let big_enroll = serde_json::json!({
        "account": "W0000001", "code": "x", "csr_pem": "A".repeat(4096),
    });
    let a = anonymous.post(proto::ENROLL, &big_enroll).await;
    assert_eq!(a.status, 413, "{}", a.body);

    let text = metrics(&world).await;
    assert!(
        sample(
            &text,
            &format!(
                "onshi_http_requests_total{{route=\"{}\",status=\"429\"}}",
                proto::CHALLENGE
            )
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_crls_at_once() {
    // Polling is off for the length of the test: only SIGHUP can bring the new CRL in.
    let world = World::start(None, |c| c.crl_poll_seconds = 3600).await;
    let card = world.cards.valid("P0000000002");
    world.link_cards(false);
    let t = world.terminal().await;
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["ProcessingResultStatus"], "1", "{body}");

    let serial = world.cards.authority.issued().unwrap()[0].serial.clone();
    world.cards.authority.revoke(&serial, Utc::now()).unwrap();
    let crl = world
        .cards
        .authority
        .crl(Utc::now(), chrono::Duration::days(7))
        .unwrap();
    let before = sample(&metrics(&world).await, "onshi_crl_generation").unwrap();
    world.load_crl(&crl).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(
        body["ProcessingResultStatus"], "1",
        "not reloaded yet: {body}"
    );

    // Every server in this process gets the signal; each reloads (harmless to the others).
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut after = before;
    for _ in 0..50 {
        after = sample(&metrics(&world).await, "onshi_crl_generation").unwrap();
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after > before, "{before} → {after}");
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(
        body["ProcessingResultCode"],
        proto::codes::CARD_CERTIFICATE_REVOKED,
        "{body}"
    );
}

/// Every log line of this test binary, as JSON (the subscriber is process-wide: the service
/// logs from async and blocking threads alike).
pub(super) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        // As `onshi server run` logs with ONSHI_LOG=trace: everything, less what
        // onshi_server::logging::may_log keeps out.
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Sink(sink.clone()))
            .finish()
            .with(tracing_subscriber::filter::filter_fn(
                onshi_server::logging::may_log,
            ))
            .try_init()
            .expect("no other subscriber in this test binary");
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `needle` occurs in `text` as a token of its own (no letter or digit beside it).
fn occurs_alone(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Every field name and every string value in a JSON log line.
fn strings_in(v: &Value, names: &mut Vec<String>, values: &mut Vec<String>) {
    match v {
        Value::String(s) => values.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings_in(v, names, values)),
        Value::Object(o) => {
            for (k, v) in o {
                names.push(k.clone());
                strings_in(v, names, values);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_patient_data() {
    let logs = captured_logs();
    each_engine(|db| {
        let logs = logs.clone();
        async move {
            let world = World::start(db, |_| {}).await;
            let card = world.cards.valid("P0000000001");
            world.link_cards(false);
            let t = world.terminal().await;
            let serials: Vec<String> = world
                .cards
                .authority
                .issued()
                .unwrap()
                .into_iter()
                .map(|r| r.serial)
                .collect();

            for mode in [Mode::Pin, Mode::Visual] {
                let (status, body) = t.check(&card, mode, &today()).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["ResultList"][0]["Name"], "髙橋　花子");
            }
            // A wrong signature, a query by numbers, and a malformed query.
            let nonce = t.challenge().await;
            let (certificate, signature) = card_answer(&card, &nonce, "W9999999", Some("1234"));
            let req = proto::VerifyRequest {
                mode: Mode::Pin,
                certificate,
                signature,
                nonce,
                visit_date: date(&today()),
                recheck_of: None,
            };
            let (_, body) = t
                .https
                .post(proto::VERIFY, &serde_json::to_value(req).unwrap())
                .await;
            assert_eq!(body["ProcessingResultCode"], proto::codes::BAD_SIGNATURE);
            let query = proto::QueryRequest {
                insurer_number: "01130012".into(),
                symbol: Some("医国３４０".into()),
                number: "１".into(),
                branch: Some("00".into()),
                birthdate: onshi_model::date::parse_yyyymmdd("19800102").unwrap(),
                visit_date: date(&today()),
            };
            let (status, body) = t
                .https
                .post(proto::QUERY, &serde_json::to_value(&query).unwrap())
                .await;
            assert_eq!(
                (status, &body["QualificationValidity"]),
                (200, &Value::from("1"))
            );
            // A birth date that is no date, as a client could send it: refused, never logged.
            let mut bad = serde_json::to_value(&query).unwrap();
            bad["birthdate"] = Value::from("1980010２");
            let (status, _) = t.https.post(proto::QUERY, &bad).await;
            assert_eq!(status, 400);

            let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
            // The capture works: our terminal's verify requests are there.
            let ours = text
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|l| l["fields"]["terminal"] == t.id.as_str())
                .filter(|l| l["fields"]["route"] == proto::VERIFY)
                .count();
            assert!(ours >= 3, "request log lines missing:\n{text}");

            let mut forbidden = vec![
                "髙橋",
                "花子",
                "タカハシ",
                "ハナコ",
                "ﾀｶﾊｼ",
                "ﾊﾅｺ",
                "P0000000001",
                "19800102",
                "1980010２",
                "医国３４０",
                "霞が関",
            ];
            forbidden.extend(serials.iter().map(String::as_str));
            for word in forbidden {
                let line = text.lines().find(|l| l.contains(word));
                assert!(line.is_none(), "{word} appears in the logs: {line:?}");
            }
            // The PIN as a value of its own in any field (it never even reaches the server).
            for line in text.lines() {
                let (mut names, mut values) = (Vec::new(), Vec::new());
                let value: Value = serde_json::from_str(line).unwrap();
                strings_in(&value, &mut names, &mut values);
                // rustls' trace of the test client's handshake prints random numbers (an
                // extension order seed, once 1234 by chance); TLS code never sees the PIN.
                let tls_trace = value["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("rustls"));
                for s in names.iter().chain(&values) {
                    assert!(tls_trace || !occurs_alone(s, "1234"), "the PIN in: {line}");
                }
                for name in names {
                    assert!(
                        !name.to_ascii_lowercase().contains("pin"),
                        "a PIN field in: {line}"
                    );
                }
            }
        }
    })
    .await;
}

/// Sleeps until the start of the next window of `seconds` (Unix time), so that a short burst of
/// requests falls in one window.
async fn start_of_window(seconds: i64) {
    let now = Utc::now();
    let into =
        now.timestamp().rem_euclid(seconds) * 1000 + i64::from(now.timestamp_subsec_millis());
    let left = seconds * 1000 - into;
    tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap() + 20)).await;
}

/// `shared_rate_limits`: two instances on one database count a terminal's requests (per second)
/// and a clinic's queries (per minute, the next test) together; without it each instance counts
/// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_terminal_limits_count_across_two_instances() {
    each_engine(|db| async move {
        // Per terminal: 1/s, burst 2 → at most 3 in one second, whichever instance.
        let world = World::start(db, |c| {
            c.shared_rate_limits = true;
            c.rate_limit_per_second = 1;
            c.rate_limit_burst = 2;
        })
        .await;
        let second = onshi_server::run::start(&world.data, &world.config)
            .await
            .unwrap();
        let t = world.terminal().await;
        let (mut a, mut b) = (
            Conn::open(&t.https).await,
            Conn::open(&t.https.to(second.addr)).await,
        );
        start_of_window(1).await;
        let mut statuses = Vec::new();
        for i in 0..4 {
            let conn = if i % 2 == 0 { &mut a } else { &mut b };
            statuses.push(conn.post(proto::CHALLENGE, &Value::Null).await.status);
        }
        // Each instance's own bucket lets 2 through: 4 in all; the shared count stops the 4th.
        assert_eq!(statuses, [200, 200, 200, 429]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_clinic_query_limits_count_across_two_instances() {
    each_engine(|db| async move {
        // Per clinic /query: 1/min, burst 2 → at most 3 in one minute, whichever instance.
        let world = World::start(db, |c| {
            c.shared_rate_limits = true;
            c.rate_limit_per_second = 0;
            c.clinic_query_rate_limit_per_minute = 1;
            c.clinic_query_rate_limit_burst = 2;
        })
        .await;
        let second = onshi_server::run::start(&world.data, &world.config)
            .await
            .unwrap();
        let t = world.terminal().await;
        let query = serde_json::to_value(proto::QueryRequest {
            insurer_number: "01130012".into(),
            symbol: Some("医国３４０".into()),
            number: "１".into(),
            branch: Some("00".into()),
            birthdate: onshi_model::date::parse_yyyymmdd("19800102").unwrap(),
            visit_date: date(&today()),
        })
        .unwrap();
        if Utc::now().timestamp().rem_euclid(60) >= 55 {
            start_of_window(60).await;
        }
        let mut statuses = Vec::new();
        for i in 0..4 {
            let https = if i % 2 == 0 {
                t.https.clone()
            } else {
                t.https.to(second.addr)
            };
            statuses.push(https.post(proto::QUERY, &query).await.0);
        }
        assert_eq!(statuses, [200, 200, 200, 429]);
        drop(second);
    })
    .await;
}
