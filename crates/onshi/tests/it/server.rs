//! The service's commands as an operator runs them: init, imports, clinics and terminals, run.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::{imported, ok, onshi, s};

#[test]
fn operator_sets_up_and_runs_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let jlis = dir.path().join("jlis");
    let srv = dir.path().join("srv");
    ok(&["jlis", "init", "--dir", s(&jlis)]);
    ok(&[
        "server",
        "init",
        "--data",
        s(&srv),
        "--jpki-ca",
        s(&jlis.join("ca.pem")),
    ]);
    assert!(srv.join("server-ca.pem").exists() && srv.join("config.toml").exists());
    let refused = onshi(&["server", "init", "--data", s(&srv)]);
    assert!(
        !refused.status.success(),
        "a second init must not overwrite"
    );

    // The insurers' feed into the service's store, then the card authority's links.
    let (_, feed) = imported(dir.path(), "30");
    for (kind, file) in [
        ("persons", "persons.csv"),
        ("eligibility", "eligibility.csv"),
    ] {
        ok(&["import", kind, s(&feed.join(file)), "--data", s(&srv)]);
    }
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(&jlis),
        "--person",
        "P0000000001",
        "--pin",
        "1234",
        "--out",
        s(&dir.path().join("c.json")),
    ]);
    let links = ok(&[
        "import",
        "card-links",
        "--data",
        s(&srv),
        s(&jlis.join("issued.csv")),
    ]);
    assert!(links.contains("1 件"), "{links}");
    // A link to an unknown person is refused with its line.
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(&jlis),
        "--person",
        "P9999999999",
        "--pin",
        "1234",
        "--out",
        s(&dir.path().join("d.json")),
    ]);
    let out = onshi(&[
        "import",
        "card-links",
        "--data",
        s(&srv),
        s(&jlis.join("issued.csv")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3行目"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

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
    assert_eq!(clinic["registration"], "契0123456123");
    let id = clinic["id"].to_string();
    let terminal: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "terminal",
        "add",
        "--data",
        s(&srv),
        "--clinic",
        &id,
        "--json",
    ]))
    .unwrap();
    assert_eq!(terminal["id"], "W0000001");
    assert_eq!(terminal["code"].as_str().unwrap().len(), 14);
    let second = ok(&[
        "admin",
        "terminal",
        "add",
        "--data",
        s(&srv),
        "--clinic",
        &id,
    ]);
    assert!(
        second.contains("W0000002") && second.contains("登録コード"),
        "{second}"
    );
    ok(&["admin", "terminal", "revoke", "--data", s(&srv), "W0000002"]);
    assert!(
        !onshi(&["admin", "terminal", "revoke", "--data", s(&srv), "W0000002"])
            .status
            .success()
    );
    let verified = ok(&["admin", "audit", "verify", "--data", s(&srv)]);
    assert!(verified.contains("改ざんされていません"), "{verified}");
    assert!(verified.contains("chain heads"), "{verified}");
    assert!(verified.contains("--heads FILE"), "{verified}");
    // The audit key: beside the config, 32 bytes, the owner's only.
    let key = srv.join("audit.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Heads saved, then compared; a tampered copy and a wrong key fail.
    let heads = dir.path().join("heads.txt");
    ok(&[
        "admin",
        "audit",
        "verify",
        "--data",
        s(&srv),
        "--save-heads",
        s(&heads),
    ]);
    assert!(std::fs::read_to_string(&heads)
        .unwrap()
        .starts_with("# onshi audit heads"));
    ok(&[
        "admin",
        "audit",
        "verify",
        "--data",
        s(&srv),
        "--heads",
        s(&heads),
    ]);
    let forged = dir.path().join("forged.txt");
    std::fs::write(&forged, format!("W0000001 1 {}\n", "00".repeat(32))).unwrap();
    let out = onshi(&[
        "admin",
        "audit",
        "verify",
        "--data",
        s(&srv),
        "--heads",
        s(&forged),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("saved head"));
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, [0xA5u8; 32]).unwrap();
    let out = onshi(&[
        "admin",
        "audit",
        "verify",
        "--data",
        s(&srv),
        "--key",
        s(&wrong),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another key"));

    // Backup, then restore into a new store, checked against the heads saved before.
    let backup = dir.path().join("onshi.backup");
    let made = ok(&["admin", "backup", "--data", s(&srv), "--out", s(&backup)]);
    assert!(made.contains("audit.key"), "{made}");
    assert!(
        !onshi(&["admin", "backup", "--data", s(&srv), "--out", s(&backup)])
            .status
            .success()
    );
    let restored = dir.path().join("restored.sqlite");
    let url = format!("sqlite://{}", restored.display());
    let out = ok(&[
        "admin",
        "restore",
        "--data",
        s(&srv),
        "--database",
        &url,
        "--from",
        s(&backup),
        "--heads",
        s(&heads),
    ]);
    assert!(out.contains("persons\t30"), "{out}");
    assert!(out.contains("改ざんされていません"), "{out}");
    // Never over a store in use.
    assert!(
        !onshi(&["admin", "restore", "--data", s(&srv), "--from", s(&backup)])
            .status
            .success()
    );

    // The CRL of the authority loads.
    let crl = dir.path().join("jlis.crl");
    ok(&["jlis", "crl", "--dir", s(&jlis), "--out", s(&crl)]);
    ok(&["admin", "crl", "load", "--data", s(&srv), s(&crl)]);

    // The server starts, listens, and stops on SIGTERM.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["server", "run", "--data", s(&srv), "--listen", &listen])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("停止します"));
}
