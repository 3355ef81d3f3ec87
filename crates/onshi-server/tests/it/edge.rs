//! The service's edge under slow, greedy and guessing clients: a body that dribbles in is cut off
//! with 408, connections are capped per address and per instance, enrollment is rate-limited per
//! address and answers every refusal alike without signing anything, and a clinic's queries by
//! numbers share one budget however many terminals it has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use onshi_proto as proto;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use onshi_testkit::*;

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to the server from the loopback address `source` (127.0.0.0/8 is all this
/// machine's), or why it failed.
async fn tls_from(https: &Https, source: [u8; 4]) -> Result<Tls, String> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    let tcp = socket
        .connect(https.addr())
        .await
        .map_err(|e| e.to_string())?;
    https.tls(tcp).await
}

/// An HTTP/1.1 connection from `source` on which `GET /healthz` was answered 200: the server
/// has accepted and is serving it.
async fn open_from(https: &Https, source: [u8; 4]) -> Result<SendRequest<Full<Bytes>>, String> {
    let tls = tls_from(https, source).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(proto::HEALTHZ)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if answer.status() != 200 {
        return Err(format!("healthz answered {}", answer.status()));
    }
    answer
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(sender)
}

/// POSTs JSON from `source` on a fresh connection: status, headers, body.
async fn post_from(
    https: &Https,
    source: [u8; 4],
    path: &str,
    body: &Value,
) -> (u16, HeaderMap, Value) {
    let tls = tls_from(https, source).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap();
    let answer = sender.send_request(req).await.unwrap();
    let (status, headers) = (answer.status().as_u16(), answer.headers().clone());
    let bytes = answer.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

/// `/metrics`, read from 127.0.0.9.
async fn metrics_text(world: &World) -> String {
    let https = Https::new(world, None);
    let mut sender = open_from(&https, [127, 0, 0, 9]).await.unwrap();
    get_text(&mut sender, proto::METRICS).await
}

/// GETs `path` on an open connection: the body as text.
async fn get_text(sender: &mut SendRequest<Full<Bytes>>, path: &str) -> String {
    sender.ready().await.unwrap();
    let req = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = sender.send_request(req).await.unwrap();
    let bytes = answer.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_a_second_is_cut_off_with_408() {
    let world = World::start(None, |c| c.body_timeout_seconds = 2).await;
    let https = Https::new(&world, None);
    let tls = tls_from(&https, [127, 0, 0, 1]).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    wr.write_all(
        b"POST /api/v1/enroll HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n",
    )
    .await
    .unwrap();
    wr.flush().await.unwrap();
    let started = Instant::now();
    // JSON whitespace, one byte a second: 200 s for the whole body.
    let dribble = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b" ").await.is_err() || wr.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        // Until the server closes (with or without close_notify).
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let elapsed = started.elapsed();
    dribble.abort();
    assert!(
        read.is_ok(),
        "after 10 s the server still waits for the body ({} bytes read)",
        answer.len()
    );
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.contains(proto::codes::BAD_REQUEST.to_lowercase().as_str()),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(5),
        "cut off after {elapsed:?} with a deadline of 2 s"
    );
    let m = metrics_text(&world).await;
    assert_eq!(
        sample(&m, "onshi_request_body_timeouts_total"),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_address_and_per_instance() {
    let world = World::start(None, |c| {
        c.max_connections_per_address = 3;
        c.max_connections = 6;
    })
    .await;
    let https = Https::new(&world, None);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_from(&https, [127, 0, 0, 1]).await.unwrap());
    }
    // The fourth from the same address is closed at accept.
    let refused = open_from(&https, [127, 0, 0, 1]).await;
    assert!(
        refused.is_err(),
        "a 4th connection from one address was served"
    );
    // Other addresses still get through, up to the instance's cap.
    let mut others = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 2], [127, 0, 0, 3]] {
        others.push(open_from(&https, source).await.unwrap());
    }
    let full = open_from(&https, [127, 0, 0, 4]).await;
    assert!(
        full.is_err(),
        "a 7th connection was served under a cap of 6"
    );

    // Closing one frees its place.
    drop(others.pop());
    let mut text = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(mut sender) = open_from(&https, [127, 0, 0, 9]).await {
            text = get_text(&mut sender, proto::METRICS).await;
            break;
        }
    }
    assert!(
        sample(
            &text,
            "onshi_connections_refused_total{reason=\"address_cap\"}"
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "onshi_connections_refused_total{reason=\"instance_cap\"}"
        ) >= Some(1.0),
        "{text}"
    );
    drop(held.pop());
    let mut again = Err(String::new());
    for _ in 0..50 {
        again = open_from(&https, [127, 0, 0, 1]).await;
        if again.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_ok(), "{again:?}");
}

fn csr() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    rcgen::CertificateParams::new(vec![])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
}

fn enroll_body(account: &str, code: &str, csr_pem: &str) -> Value {
    serde_json::to_value(proto::EnrollRequest {
        account: account.to_owned(),
        code: code.to_owned(),
        csr_pem: csr_pem.to_owned(),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_enrollment_gets_one_answer_and_nothing_is_signed() {
    each_engine(|db| async move {
        let world = World::start(db, |c| c.enroll_rate_limit_burst = 100).await;
        let active = world.terminal().await;
        let (pending, revoked) = sync(|| {
            let clinic = onshi_server::admin::add_clinic(
                world.store.as_ref(),
                "受付接骨院",
                "契7654321",
                Utc::now(),
            )
            .unwrap();
            let add = || {
                onshi_server::admin::add_terminal(world.store.as_ref(), clinic.id, 10, Utc::now())
                    .unwrap()
            };
            let (pending, revoked) = (add(), add());
            assert!(world
                .store
                .revoke_terminal(&revoked.terminal.id, Utc::now())
                .unwrap());
            (pending, revoked)
        });
        let https = Https::new(&world, None);
        let (good, bad) = (
            csr(),
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
                .to_owned(),
        );
        let p = pending.terminal.id.as_str();
        let cases = [
            (
                "unknown account",
                enroll_body("W9999999", &pending.code, &good),
            ),
            (
                "unknown account, bad CSR",
                enroll_body("W9999999", &pending.code, &bad),
            ),
            (
                "pending, wrong code",
                enroll_body(p, "AAAA-AAAA-AAAA", &good),
            ),
            (
                "pending, wrong code, bad CSR",
                enroll_body(p, "AAAA-AAAA-AAAA", &bad),
            ),
            (
                "pending, right code, bad CSR",
                enroll_body(p, &pending.code, &bad),
            ),
            (
                "already enrolled",
                enroll_body(&active.id, &pending.code, &good),
            ),
            (
                "revoked",
                enroll_body(&revoked.terminal.id, &revoked.code, &good),
            ),
            (
                "not an account",
                enroll_body("W1\"\n\u{1b}[31m", &pending.code, &good),
            ),
        ];
        let mut answers = Vec::new();
        for (what, body) in &cases {
            let (status, _, answer) = post_from(&https, [127, 0, 0, 1], proto::ENROLL, body).await;
            answers.push((*what, status, answer));
        }
        let (_, status, first) = &answers[0];
        assert_eq!(*status, 403, "{first}");
        assert_eq!(first["code"], proto::codes::BAD_ENROLLMENT);
        for (what, status, answer) in &answers {
            assert_eq!((*status, answer), (403, first), "{what}");
        }
        // Only the active terminal's enrollment was signed; the refused ones signed nothing.
        let m = metrics_text(&world).await;
        assert_eq!(
            sample(&m, "onshi_terminal_certificates_signed_total"),
            Some(1.0),
            "{m}"
        );
        // A bad CSR did not spend the code: the right code and a good CSR still work, once.
        assert!(world.enroll(p, &pending.code).await.is_ok());
        assert_eq!(
            world.enroll(p, &pending.code).await.err().map(|e| e.0),
            Some(403)
        );
        let m = metrics_text(&world).await;
        assert_eq!(
            sample(&m, "onshi_terminal_certificates_signed_total"),
            Some(2.0),
            "{m}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_is_rate_limited_per_address() {
    let world = World::start(None, |c| {
        c.enroll_rate_limit_per_minute = 1;
        c.enroll_rate_limit_burst = 2;
    })
    .await;
    let https = Https::new(&world, None);
    let body = enroll_body("W9999999", "AAAA-AAAA-AAAA", &csr());
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..3 {
        let (status, headers, answer) =
            post_from(&https, [127, 0, 0, 1], proto::ENROLL, &body).await;
        statuses.push(status);
        if status == 429 {
            limited = Some((headers, answer));
        }
    }
    assert_eq!(statuses, [403, 403, 429]);
    let (headers, answer) = limited.unwrap();
    assert_eq!(answer["code"], proto::codes::RATE_LIMITED);
    assert_eq!(headers["retry-after"], "60");
    // Another address has its own bucket.
    let (status, _, _) = post_from(&https, [127, 0, 0, 2], proto::ENROLL, &body).await;
    assert_eq!(status, 403);
}

/// With `shared_rate_limits`, an address's enrollments are counted in the store: a second
/// instance behind the same load balancer does not give it a second bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_limits_per_address_count_across_two_instances() {
    each_engine(|db| async move {
        // 1/min, burst 2 → at most 3 in one minute from an address, whichever instance.
        let world = World::start(db, |c| {
            c.shared_rate_limits = true;
            c.enroll_rate_limit_per_minute = 1;
            c.enroll_rate_limit_burst = 2;
        })
        .await;
        let second = onshi_server::run::start(&world.data, &world.config)
            .await
            .unwrap();
        let (first, other) = {
            let https = Https::new(&world, None);
            let other = https.to(second.addr);
            (https, other)
        };
        let body = enroll_body("W9999999", "AAAA-AAAA-AAAA", &csr());
        if Utc::now().timestamp().rem_euclid(60) >= 55 {
            tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        }
        let mut statuses = Vec::new();
        for i in 0..4 {
            let https = if i % 2 == 0 { &first } else { &other };
            statuses.push(
                post_from(https, [127, 0, 0, 3], proto::ENROLL, &body)
                    .await
                    .0,
            );
        }
        // Each instance's own bucket lets 2 through: 4 in all; the shared count stops the 4th.
        assert_eq!(statuses, [403, 403, 403, 429]);
        // Another address has its own count.
        let (status, _, _) = post_from(&other, [127, 0, 0, 4], proto::ENROLL, &body).await;
        assert_eq!(status, 403);
        drop(second);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_shares_one_query_budget_across_its_terminals() {
    let world = World::start(None, |c| {
        c.clinic_query_rate_limit_per_minute = 1;
        c.clinic_query_rate_limit_burst = 2;
    })
    .await;
    let added = sync(|| {
        let clinic = onshi_server::admin::add_clinic(
            world.store.as_ref(),
            "二台接骨院",
            "契1111111",
            Utc::now(),
        )
        .unwrap();
        [0, 1].map(|_| {
            onshi_server::admin::add_terminal(world.store.as_ref(), clinic.id, 10, Utc::now())
                .unwrap()
        })
    });
    let mut terminals = Vec::new();
    for t in &added {
        terminals.push(world.enroll(&t.terminal.id, &t.code).await.unwrap());
    }
    let elsewhere = world.terminal().await;
    let query = serde_json::to_value(proto::QueryRequest {
        insurer_number: "01130012".into(),
        symbol: Some("医国３４０".into()),
        number: "１".into(),
        branch: Some("00".into()),
        birthdate: onshi_model::date::parse_yyyymmdd("19800102").unwrap(),
        visit_date: date(&Utc::now().format("%Y%m%d").to_string()),
    })
    .unwrap();
    let mut statuses = Vec::new();
    let mut limited = None;
    for t in [&terminals[0], &terminals[1], &terminals[0], &terminals[1]] {
        let (status, body) = t.https.post(proto::QUERY, &query).await;
        statuses.push(status);
        if status == 429 {
            limited = Some(body);
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let body = limited.unwrap();
    assert_eq!(body["code"], proto::codes::RATE_LIMITED);
    assert!(
        body["message"].as_str().unwrap().contains("施術所"),
        "{body}"
    );
    // Another clinic has its own budget; the clinic's card checks are not touched.
    assert_eq!(elsewhere.https.post(proto::QUERY, &query).await.0, 200);
    assert_eq!(
        terminals[0]
            .https
            .post(proto::CHALLENGE, &Value::Null)
            .await
            .0,
        200
    );
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
