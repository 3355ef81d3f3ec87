//! The reception app as a clinic runs it: the real binary against a real service on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::{imported, ok, onshi, s};

/// Stops the background server even when an assertion fails.
pub(super) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `onshi server run` on `listen` and waits until it accepts connections.
pub(super) fn start_server(srv: &std::path::Path, listen: &str) -> Server {
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(["server", "run", "--data", s(srv), "--listen", listen])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[test]
fn enroll_verify_and_history_with_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let jlis = dir.path().join("jlis");
    let srv = dir.path().join("srv");
    let app = dir.path().join("app");
    ok(&["jlis", "init", "--dir", s(&jlis)]);
    ok(&[
        "server",
        "init",
        "--data",
        s(&srv),
        "--jpki-ca",
        s(&jlis.join("ca.pem")),
    ]);
    let (_, feed) = imported(dir.path(), "30");
    for (kind, file) in [
        ("persons", "persons.csv"),
        ("eligibility", "eligibility.csv"),
    ] {
        ok(&["import", kind, s(&feed.join(file)), "--data", s(&srv)]);
    }
    let visit = "20260401";
    // A person with a valid record on the visit date.
    let person = (1..=30)
        .map(|n| format!("P{n:010}"))
        .find(|p| {
            let out = onshi(&[
                "lookup",
                "--data",
                s(&srv),
                "--person",
                p,
                "--date",
                visit,
                "--json",
            ]);
            out.status.success()
                && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .is_ok_and(|v| v["QualificationValidity"] == "1")
        })
        .expect("a valid person in the synthetic feed");
    let card = dir.path().join("card.json");
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(&jlis),
        "--person",
        &person,
        "--pin",
        "1234",
        "--out",
        s(&card),
    ]);
    ok(&[
        "import",
        "card-links",
        "--data",
        s(&srv),
        s(&jlis.join("issued.csv")),
    ]);
    // A current CRL: without one, the authority's cards are refused (E011).
    let crl = jlis.join("first.crl");
    ok(&["jlis", "crl", "--dir", s(&jlis), "--out", s(&crl)]);
    ok(&["admin", "crl", "load", "--data", s(&srv), s(&crl)]);
    let clinic: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "clinic",
        "add",
        "--data",
        s(&srv),
        "--name",
        "テスト接骨院",
        "--registration",
        "契0123456-1-23",
        "--json",
    ]))
    .unwrap();
    let terminal: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "terminal",
        "add",
        "--data",
        s(&srv),
        "--clinic",
        &clinic["id"].to_string(),
        "--json",
    ]))
    .unwrap();
    let account = terminal["id"].as_str().unwrap();
    let code = terminal["code"].as_str().unwrap();

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let server = start_server(&srv, &listen);

    let url = format!("https://{listen}");
    let enrolled = ok(&[
        "app",
        "enroll",
        "--data",
        s(&app),
        "--server",
        &url,
        "--code",
        code,
        "--account",
        account,
        "--server-ca",
        s(&srv.join("server-ca.pem")),
    ]);
    assert!(enrolled.contains(account), "{enrolled}");

    // PIN mode with the PIN on standard input.
    let reader = format!("emu:{}", s(&card));
    let verify = |pin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args([
                "app",
                "verify",
                "--data",
                s(&app),
                "--reader",
                &reader,
                "--mode",
                "pin",
                "--date",
                visit,
                "--json",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{pin}").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = verify("1234");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("残り3回"), "{stderr}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["QualificationValidity"], "1");
    assert_eq!(answer["ProcessingResultStatus"], "1");
    let name = answer["ResultList"][0]["Name"].as_str().unwrap().to_owned();

    // A wrong PIN: exit code 2, and the staff are told 目視 is possible.
    let out = verify("9999");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("目視"));

    // 目視 from a script needs --confirm-photo.
    let out = onshi(&[
        "app",
        "verify",
        "--data",
        s(&app),
        "--reader",
        &reader,
        "--mode",
        "visual",
        "--date",
        visit,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = ok(&[
        "app",
        "verify",
        "--data",
        s(&app),
        "--reader",
        &reader,
        "--mode",
        "visual",
        "--date",
        visit,
        "--confirm-photo",
    ]);
    assert!(
        text.contains("資格有効性\t有効") && text.contains(&name),
        "{text}"
    );

    // Each answered check left its three files for the receipt computer (UTF-8 by default).
    assert!(text.contains("レセコン連携ファイル"), "{text}");
    let mut files: Vec<String> = std::fs::read_dir(app.join("rececon"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "{files:?}");
    assert!(
        files.iter().all(|f| f.starts_with("OQSsiquc01res_")),
        "{files:?}"
    );
    let reference = answer["ReferenceNumber"].as_str().unwrap();
    let xml_name = files
        .iter()
        .find(|f| f.contains(reference) && f.ends_with(".xml"))
        .unwrap();
    let xml = std::fs::read_to_string(app.join("rececon").join(xml_name)).unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\""),
        "{xml}"
    );
    assert!(
        xml.contains("<QualificationValidity>1</QualificationValidity>"),
        "{xml}"
    );
    assert!(xml.contains(&format!("<Name>{name}</Name>")), "{xml}");
    let txt = std::fs::read_to_string(app.join("rececon").join(xml_name.replace(".xml", ".txt")))
        .unwrap();
    assert!(txt.starts_with("資格情報(医療保険)\r\n"), "{txt}");

    let history = ok(&["app", "history", "--data", s(&app)]);
    assert!(history.contains("暗証番号\t有効"), "{history}");
    assert!(history.contains("目視\t有効"), "{history}");
    assert!(history.contains(&name), "{history}");
    assert!(history.contains(answer["ReferenceNumber"].as_str().unwrap()));
    let lines = ok(&["app", "history", "--data", s(&app), "--json"]);
    assert_eq!(lines.lines().count(), 2, "{lines}");

    // The service is gone: 未確認, exit code 3.
    drop(server);
    let out = onshi(&[
        "app",
        "verify",
        "--data",
        s(&app),
        "--reader",
        &reader,
        "--mode",
        "visual",
        "--date",
        visit,
        "--confirm-photo",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("つながりません"));
    let history = ok(&["app", "history", "--data", s(&app)]);
    assert!(history.contains("目視\t未確認"), "{history}");
    assert_eq!(std::fs::read_dir(app.join("held")).unwrap().count(), 1);
    // The card's certificate was kept for the visit: the hint re-checks it without the card.
    let hint = format!("onshi app recheck --data {} --entry 3 --held", s(&app));
    assert!(history.contains(&hint), "{history}");

    // The doctor while the service is down: exit 1, the server ✗ with what to do.
    let out = onshi(&["app", "doctor", "--data", s(&app), "--reader", &reader]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ 資格確認サービス"), "{text}");
    assert!(text.contains("ネットワーク"), "{text}");
    assert!(text.contains("✓ カードリーダー"), "{text}");

    // The service is back: recheck answers for the original visit date.
    let _server = start_server(&srv, &listen);
    let text = ok(&[
        "app",
        "recheck",
        "--data",
        s(&app),
        "--reader",
        &reader,
        "--mode",
        "visual",
        "--confirm-photo",
    ]);
    assert!(
        text.contains("3番")
            && text.contains("受診日 令和8年4月1日（2026-04-01）")
            && text.contains("資格有効性\t有効"),
        "{text}"
    );
    // Checked again with the card: the kept certificate is no longer needed.
    assert_eq!(std::fs::read_dir(app.join("held")).unwrap().count(), 0);
    let history = ok(&["app", "history", "--data", s(&app)]);
    assert!(
        history.contains("3番の再確認（受診日 20260401）"),
        "{history}"
    );
    assert!(history.contains("再確認済（4番）"), "{history}");
    assert!(!history.contains("onshi app recheck"), "{history}");
    // Nothing left: a usage error (exit 4).
    let out = onshi(&[
        "app",
        "recheck",
        "--data",
        s(&app),
        "--reader",
        &reader,
        "--mode",
        "visual",
        "--confirm-photo",
    ]);
    assert_eq!(out.status.code(), Some(4));

    let out = onshi(&["app", "doctor", "--data", s(&app), "--reader", &reader]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains('✗'), "{text}");
}
