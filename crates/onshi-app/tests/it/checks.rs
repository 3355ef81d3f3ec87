//! Enrollment, PIN and 目視 checks, a wrong PIN, renewal and the outage path against a real
//! service on loopback TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::Utc;
use onshi_app::history::{self, Status};
use onshi_app::{exit, AppError, Desk, EnrollArgs};
use onshi_card::error::CardError;
use onshi_card::Pin;
use onshi_model::QualificationValidity;
use onshi_proto::Mode;

use onshi_testkit::{date, open_card, sync, World};

/// A desk that types a fixed PIN and answers the photo question.
struct TestDesk {
    pin: &'static str,
    photo: bool,
    tries_seen: Option<u8>,
}

impl TestDesk {
    fn pin(pin: &'static str) -> Self {
        Self {
            pin,
            photo: false,
            tries_seen: None,
        }
    }

    fn visual(photo: bool) -> Self {
        Self {
            pin: "",
            photo,
            tries_seen: None,
        }
    }
}

impl Desk for TestDesk {
    fn pin(&mut self, tries_left: u8) -> Result<Pin, AppError> {
        self.tries_seen = Some(tries_left);
        Ok(Pin::parse(self.pin).unwrap())
    }

    fn confirm_photo(&mut self) -> Result<bool, AppError> {
        Ok(self.photo)
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn check(
    dir: &Path,
    card: &Path,
    desk: &mut TestDesk,
    mode: Mode,
) -> Result<onshi_app::CheckOutcome, AppError> {
    let mut client = open_card(card);
    onshi_app::check(dir, &mut client, desk, mode, date("20260401"), Utc::now()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_check_renew_and_outage() {
    let mut world = World::start(None, |_| {}).await;
    let valid = world.cards.valid("P0000000001");
    let lost = world.cards.valid("P0000000002");
    world.link_cards(false);
    let (account, code) = world.add_terminal();
    let dir = world.root.path().join("app");
    let args = |code: &str, ca: &Path, url: String| EnrollArgs {
        data: dir.clone(),
        server: url,
        code: code.to_owned(),
        account: account.clone(),
        server_ca_pem: Some(std::fs::read_to_string(ca).unwrap()),
        name: None,
    };

    // A wrong code: the service's E009 message, nothing left behind.
    let e = onshi_app::enroll(&args(
        "AAAA-BBBB-CCCC",
        &world.server_ca_path(),
        world.url(),
    ))
    .await
    .unwrap_err();
    match &e {
        AppError::Refused { body, .. } => {
            assert_eq!(body.code, onshi_proto::ErrorCode::BadEnrollment)
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.message_ja().is_empty());
    assert!(!dir.join("terminal-key.pem").exists());
    // A CA that did not sign the server's certificate: not trusted.
    let e = onshi_app::enroll(&args(&code, &world.cards.dir.join("ca.pem"), world.url()))
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Untrusted(_)), "{e:?}");
    assert!(e.message_ja().contains("信頼できません"));
    // Nobody listening: unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = onshi_app::enroll(&args(
        &code,
        &world.server_ca_path(),
        format!("https://127.0.0.1:{port}"),
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, AppError::Unreachable(_)), "{e:?}");
    assert_eq!(exit::for_error(&e), exit::SERVICE_ERROR);

    // The right code.
    let config = onshi_app::enroll(&args(&code, &world.server_ca_path(), world.url()))
        .await
        .unwrap();
    assert_eq!(config.account, account);
    assert_eq!(config.rececon.output, dir.join("rececon"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("terminal-key.pem")), 0o600);
        assert_eq!(mode(&dir.join("app.toml")), 0o600);
    }
    for f in ["terminal.pem", "server-ca.pem", "app.toml"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let e = onshi_app::enroll(&args(&code, &world.server_ca_path(), world.url()))
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::AlreadyEnrolled(_)), "{e:?}");

    // PIN mode: tries shown before the PIN, a valid answer.
    let mut desk = TestDesk::pin("1234");
    let outcome = check(&dir, &valid, &mut desk, Mode::Pin).await.unwrap();
    assert_eq!(desk.tries_seen, Some(3));
    assert_eq!(outcome.exit_code(), exit::VALID);
    assert_eq!(
        outcome.response.answer.validity,
        QualificationValidity::VALID
    );
    let text = outcome.describe();
    assert!(text.contains("資格有効性\t有効"), "{text}");
    assert!(text.contains("髙橋　花子"), "{text}");
    assert!(text.contains(&outcome.response.reference_number), "{text}");

    // 目視: refused without the photo confirmed (nothing recorded), then valid.
    let e = check(&dir, &valid, &mut TestDesk::visual(false), Mode::Visual)
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::PhotoNotConfirmed));
    assert_eq!(exit::for_error(&e), exit::CARD_ERROR);
    let outcome = check(&dir, &valid, &mut TestDesk::visual(true), Mode::Visual)
        .await
        .unwrap();
    assert_eq!(outcome.exit_code(), exit::VALID);

    // A person whose only record is lost: not valid.
    let outcome = check(&dir, &lost, &mut TestDesk::visual(true), Mode::Visual)
        .await
        .unwrap();
    assert_eq!(
        outcome.response.answer.validity,
        QualificationValidity::INVALID
    );
    assert_eq!(outcome.exit_code(), exit::NOT_VALID);

    // A wrong PIN: a card error that says 目視 is possible.
    let e = check(&dir, &valid, &mut TestDesk::pin("9999"), Mode::Pin)
        .await
        .unwrap_err();
    assert!(
        matches!(e, AppError::Card(CardError::WrongPin { tries_left: 2 })),
        "{e:?}"
    );
    assert_eq!(exit::for_error(&e), exit::CARD_ERROR);
    assert!(e.message_ja().contains("目視"), "{}", e.message_ja());
    let blocked = AppError::Card(CardError::PinBlocked).message_ja();
    assert!(blocked.contains("市区町村") && blocked.contains("目視"));

    // Renewal: a new key and certificate, and checks go on with them.
    assert!(!onshi_app::renewal_due(&dir, Utc::now()).unwrap());
    let old_key = std::fs::read(dir.join("terminal-key.pem")).unwrap();
    let old_cert = std::fs::read(dir.join("terminal.pem")).unwrap();
    let expiry = onshi_app::renew(&dir).await.unwrap();
    assert!(expiry > Utc::now());
    assert_ne!(
        std::fs::read(dir.join("terminal-key.pem")).unwrap(),
        old_key
    );
    assert_ne!(std::fs::read(dir.join("terminal.pem")).unwrap(), old_cert);
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("terminal-key.pem")), 0o600);
    assert!(!dir.join("terminal-key.pem.new").exists());
    let outcome = check(&dir, &valid, &mut TestDesk::pin("1234"), Mode::Pin)
        .await
        .unwrap();
    assert_eq!(outcome.exit_code(), exit::VALID);

    // The outage: the service stops; the visit is 未確認 in the history, exit code 3.
    world.stop().await;
    let e = check(&dir, &valid, &mut TestDesk::visual(true), Mode::Visual)
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Unreachable(_)), "{e:?}");
    assert_eq!(exit::for_error(&e), exit::SERVICE_ERROR);
    assert!(e.message_ja().contains("未確認"));

    // The history: every answered check and the 未確認 one, nothing from the card stored.
    let entries = history::read(&dir).unwrap();
    let statuses: Vec<_> = entries.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Confirmed,
            Status::Confirmed,
            Status::Confirmed,
            Status::Confirmed,
            Status::Unconfirmed
        ]
    );
    assert_eq!(entries[0].mode, Mode::Pin);
    assert_eq!(entries[0].name.as_deref(), Some("髙橋　花子"));
    assert_eq!(entries[0].validity_label(), "有効");
    assert_eq!(entries[2].validity_label(), "無効");
    assert!(entries[0].reference_number.is_some());
    let last = &entries[4];
    assert_eq!(last.validity_label(), "未確認");
    assert!(last.name.is_none() && last.reference_number.is_none());
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("history.jsonl")), 0o600);
    let raw = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(!raw.contains("BEGIN CERTIFICATE") && !raw.contains("MII"));
    let text = history::render(&entries, &dir);
    let newest = text.lines().nth(1).unwrap();
    assert!(newest.contains("目視\t未確認"), "{text}");
    assert!(
        newest.starts_with("5\t")
            && newest.contains(&format!(
                "onshi app recheck --data {} --entry 5 --held",
                dir.display()
            )),
        "{text}"
    );

    // The doctor while the service is down: the server is ✗ with advice, the rest is fine.
    let report = onshi_app::doctor::doctor(&dir, Utc::now()).await;
    let server = report.find(onshi_app::doctor::what::SERVER).unwrap();
    assert!(!server.ok, "{}", report.render());
    assert!(
        server.detail.contains("つながりません"),
        "{}",
        report.render()
    );
    assert!(
        server.advice.as_deref().unwrap().contains("ネットワーク"),
        "{}",
        report.render()
    );
    assert!(!report.all_ok());
    for what in [
        onshi_app::doctor::what::DATA,
        onshi_app::doctor::what::ENROLLMENT,
        onshi_app::doctor::what::OUTPUT,
    ] {
        assert!(report.find(what).unwrap().ok, "{}", report.render());
    }

    // Still down: a re-check changes nothing, the visit stays 未確認.
    let e = onshi_app::recheck(
        &dir,
        &mut open_card(&valid),
        &mut TestDesk::visual(true),
        Mode::Visual,
        None,
        Utc::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AppError::Unreachable(_)), "{e:?}");
    assert_eq!(history::read(&dir).unwrap().len(), 5);

    // The service is back (same data directory): the re-check answers for the original visit
    // date, and the history keeps the 未確認 line and adds the answer.
    world.restart().await;
    let later = Utc::now() + chrono::Duration::minutes(1);
    let done = onshi_app::recheck(
        &dir,
        &mut open_card(&valid),
        &mut TestDesk::visual(true),
        Mode::Visual,
        None,
        later,
    )
    .await
    .unwrap();
    assert_eq!(done.entry, 5);
    assert_eq!(done.outcome.visit, date("20260401"));
    assert_eq!(done.outcome.exit_code(), exit::VALID);
    assert!(done.outcome.files.is_some());
    let entries = history::read(&dir).unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[4], *last, "the original line is kept as it was");
    let answered = &entries[5];
    assert_eq!(answered.status, Status::Confirmed);
    assert_eq!(answered.visit_date.format("%Y%m%d").to_string(), "20260401");
    assert_eq!(answered.recheck_of, Some(last.time));
    assert_eq!(
        answered.reference_number.as_deref(),
        Some(done.outcome.response.reference_number.as_str())
    );
    assert!(!history::awaits_recheck(&entries, 4));
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("history.jsonl")), 0o600);
    let text = history::render(&entries, &dir);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("6\t")
            && lines[1].contains("目視\t有効")
            && lines[1].contains("5番の再確認（受診日 20260401）"),
        "{text}"
    );
    assert!(
        lines[2].contains("目視\t未確認") && lines[2].contains("再確認済（6番）"),
        "{text}"
    );
    assert!(!text.contains("onshi app recheck"), "{text}");
    // Nothing left to re-check; an answered entry cannot be re-checked.
    for entry in [None, Some(6), Some(5), Some(99)] {
        let e = onshi_app::recheck(
            &dir,
            &mut open_card(&valid),
            &mut TestDesk::visual(true),
            Mode::Visual,
            entry,
            later,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, AppError::Usage(_)), "{entry:?}: {e:?}");
    }

    // The doctor with the service running: everything ✓.
    let report = onshi_app::doctor::doctor(&dir, Utc::now()).await;
    assert!(report.all_ok(), "{}", report.render());
    assert_eq!(report.findings.len(), 6, "{}", report.render());
    let card = onshi_app::doctor::reader("emu", Ok(open_card(&valid)), Utc::now());
    assert!(card.ok && card.detail.contains("残り"), "{}", card.detail);
    world.stop().await;
}

/// A TCP relay in front of the service. Each connection's bytes from the app are counted; with a
/// cut armed, the next connection is closed (both ways) as soon as the app has sent more than the
/// cut's number of bytes, without relaying the chunk that crossed it: the service never gets that
/// request, the app never gets an answer. Later connections are relayed whole.
struct Relay {
    addr: std::net::SocketAddr,
    /// Bytes the app sent on each finished connection, in order.
    sent: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    cut: std::sync::Arc<std::sync::Mutex<Option<usize>>>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let cut = std::sync::Arc::new(std::sync::Mutex::new(None::<usize>));
        let (sent2, cut2) = (sent.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((app, _)) = listener.accept().await else {
                    return;
                };
                let limit = cut2.lock().unwrap().take();
                let sent = sent2.clone();
                tokio::spawn(async move {
                    let service = tokio::net::TcpStream::connect(target).await.unwrap();
                    let (mut app_r, mut app_w) = app.into_split();
                    let (mut svc_r, mut svc_w) = service.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut svc_r, &mut app_w).await;
                        app_w
                    });
                    let mut total = 0usize;
                    let mut buf = vec![0u8; 16384];
                    loop {
                        let n = match app_r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if limit.is_some_and(|l| total + n > l) {
                            // Cut: nothing more either way.
                            back.abort();
                            break;
                        }
                        total += n;
                        if svc_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = svc_w.shutdown().await;
                    sent.lock().unwrap().push(total);
                });
            }
        });
        Self { addr, sent, cut }
    }
}

/// When the connection dies before the answer (the instance behind a load balancer went away),
/// the app checks once more on a new connection with a new challenge: the patient gets an
/// answer, the history one entry, the audit log one row per challenge the service carried out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_before_the_answer_is_checked_again_with_a_new_challenge() {
    let world = World::start(None, |_| {}).await;
    let card = world.cards.valid("P0000000001");
    world.link_cards(false);
    let (account, code) = world.add_terminal();
    let relay = Relay::start(world.addr).await;
    let dir = world.root.path().join("app");
    onshi_app::enroll(&EnrollArgs {
        data: dir.clone(),
        server: format!("https://127.0.0.1:{}", relay.addr.port()),
        code,
        account: account.clone(),
        server_ca_pem: Some(std::fs::read_to_string(world.server_ca_path()).unwrap()),
        name: None,
    })
    .await
    .unwrap();

    // One whole check: how many bytes a check's connection carries from the app.
    let mut desk = TestDesk::pin("1234");
    check(&dir, &card, &mut desk, Mode::Pin).await.unwrap();
    // The enrollment's connection and the check's, once both are closed.
    let finished = |n: usize| {
        let sent = relay.sent.clone();
        async move {
            for _ in 0..200 {
                if sent.lock().unwrap().len() >= n {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            sent.lock().unwrap().clone()
        }
    };
    let whole = finished(2).await[1];
    let rows = |w: &World| {
        sync(|| {
            w.store
                .audit_of_terminal(&account)
                .unwrap()
                .into_iter()
                .map(|r| r.entry.nonce_id)
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(rows(&world).len(), 1);

    // The next check's connection is cut while the verify request goes out (its last 2 kB).
    *relay.cut.lock().unwrap() = Some(whole.saturating_sub(2000).max(1));
    let mut desk = TestDesk::pin("1234");
    let outcome = check(&dir, &card, &mut desk, Mode::Pin).await.unwrap();
    assert_eq!(
        outcome.response.answer.validity,
        onshi_model::QualificationValidity::VALID
    );
    let sent = finished(4).await;
    assert_eq!(
        sent.len(),
        4,
        "two connections for the second check: {sent:?}"
    );
    assert!(sent[2] < whole, "the cut connection carried less: {sent:?}");
    // The service carried out the retried check only, on its own challenge.
    let nonces = rows(&world);
    assert_eq!(nonces.len(), 2, "{nonces:?}");
    assert_ne!(nonces[0], nonces[1]);
    let entries = history::read(&dir).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        entries.iter().all(|e| e.status == Status::Confirmed),
        "{entries:?}"
    );
}
