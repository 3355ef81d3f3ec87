//! The card commands end to end: the test authority issues a software card; `onshi card
//! emulate` puts it into pcscd's virtual reader; `onshi card …` talks to it through the real
//! PC/SC stack (feature `pcsc`, pcscd with vsmartcard-vpcd — scripts/test starts them).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::cli::{ok, s};

/// `onshi ARGS` with `stdin` fed to it.
fn onshi_with_input(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Issues a card for a person from a fresh authority; returns (authority dir, card file).
fn issue(dir: &Path, person: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let authority = dir.join("jlis");
    let card = dir.join(format!("{person}.card.json"));
    if !authority.join("ca.pem").exists() {
        ok(&["jlis", "init", "--dir", s(&authority)]);
    }
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(&authority),
        "--person",
        person,
        "--pin",
        "1234",
        "--out",
        s(&card),
    ]);
    (authority, card)
}

#[test]
fn software_card_through_the_in_process_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, card) = issue(dir.path(), "P0000000001");
    let reader = format!("emu:{}", s(&card));
    let pem = dir.path().join("cert.pem");
    let info = ok(&["card", "info", "--reader", &reader, "--cert-out", s(&pem)]);
    let issued = std::fs::read_to_string(authority.join("issued.csv")).unwrap();
    let serial = issued
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    assert!(info.contains(&serial), "{info}\n{issued}");
    assert!(std::fs::read_to_string(&pem)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(ok(&["card", "status", "--reader", &reader]).contains("残り3回"));

    // Sign a file and verify the signature with openssl, independently of our code.
    let data = dir.path().join("data.bin");
    let sig = dir.path().join("sig.bin");
    std::fs::write(&data, b"nonce and terminal id").unwrap();
    let out = onshi_with_input(
        &[
            "card",
            "sign",
            "--reader",
            &reader,
            "--in",
            s(&data),
            "--out",
            s(&sig),
        ],
        "1234\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&sig).unwrap().len(), 256);
    verify_with_openssl(dir.path(), &pem, &data, &sig);

    // Wrong PIN twice, then right: the tries come back.
    for left in ["残り2回", "残り1回"] {
        let out = onshi_with_input(&["card", "verify-pin", "--reader", &reader], "0000\n");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("暗証番号が違います"), "{}", text(&out));
        assert!(ok(&["card", "status", "--reader", &reader]).contains(left));
    }
    let out = onshi_with_input(&["card", "verify-pin", "--reader", &reader], "1234\n");
    assert!(out.status.success(), "{}", text(&out));
    assert!(ok(&["card", "status", "--reader", &reader]).contains("残り3回"));

    // Three wrong PINs lock the card, and it stays locked (the card file keeps the counter).
    for _ in 0..3 {
        onshi_with_input(&["card", "verify-pin", "--reader", &reader], "9999\n");
    }
    let out = onshi_with_input(&["card", "verify-pin", "--reader", &reader], "1234\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("市区町村の窓口"), "{}", text(&out));
    assert!(ok(&["card", "status", "--reader", &reader]).contains("残り0回"));
}

fn verify_with_openssl(dir: &Path, pem: &Path, data: &Path, sig: &Path) {
    let Ok(out) = Command::new("openssl")
        .args(["x509", "-in", s(pem), "-pubkey", "-noout"])
        .output()
    else {
        eprintln!("openssl not installed: independent verification skipped");
        return;
    };
    assert!(out.status.success());
    let public = dir.join("pub.pem");
    std::fs::write(&public, &out.stdout).unwrap();
    let out = Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            s(&public),
            "-signature",
            s(sig),
            s(data),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
}

/// The virtual reader (`ONSHI_TEST_VPCD`), required when `ONSHI_REQUIRE_VPCD` is set (CI).
pub(super) fn vpcd() -> Option<String> {
    match std::env::var("ONSHI_TEST_VPCD") {
        Ok(addr) if !addr.is_empty() => Some(addr),
        _ => {
            assert!(
                std::env::var_os("ONSHI_REQUIRE_VPCD").is_none(),
                "ONSHI_TEST_VPCD missing"
            );
            eprintln!("PC/SC tests skipped: ONSHI_TEST_VPCD is not set (scripts/test sets it)");
            None
        }
    }
}

/// pcscd names the reader behind vpcd port 35963 "Virtual PCD 00 00" (35964: "… 00 01").
pub(super) fn reader_name(addr: &str) -> &'static str {
    if addr.ends_with(":35964") {
        "pcsc:Virtual PCD 00 01"
    } else {
        "pcsc:Virtual PCD 00 00"
    }
}

pub(super) struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `onshi card emulate` and waits until pcscd shows the card in the reader.
pub(super) fn insert(args: &[&str], addr: &str, reader: &str) -> Emulator {
    let mut all = vec!["card", "emulate", "--vpcd", addr];
    all.extend_from_slice(args);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(&all)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Give pcscd a moment to notice that the previous card left the slot.
    std::thread::sleep(Duration::from_millis(1500));
    let mut emulator = Emulator(spawn());
    let started = Instant::now();
    let mut inserted = Instant::now();
    loop {
        // An emulator that could not connect exits; and pcscd's vpcd driver now and then misses
        // an insertion right after a removal: in both cases insert the card again.
        if emulator.0.try_wait().unwrap().is_some() || inserted.elapsed() > Duration::from_secs(8) {
            drop(emulator);
            std::thread::sleep(Duration::from_millis(1500));
            emulator = Emulator(spawn());
            inserted = Instant::now();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(["card", "status", "--reader", reader])
            .output()
            .unwrap();
        let t = text(&out);
        if out.status.success() || t.contains("マイナンバーカードではない") {
            return emulator;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the virtual card ({all:?}) never appeared: {t}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(feature = "pcsc")]
#[test]
fn software_card_through_pcscd_and_vpcd() {
    let Some(addr) = vpcd() else { return };
    let reader = reader_name(&addr);
    let dir = tempfile::tempdir().unwrap();
    let (_authority, card) = issue(dir.path(), "P0000000002");

    {
        let _card = insert(&["--card", s(&card)], &addr, reader);
        let pem = dir.path().join("cert.pem");
        let info = ok(&["card", "info", "--reader", reader, "--cert-out", s(&pem)]);
        assert!(info.contains("利用者証明用電子証明書"), "{info}");
        let data = dir.path().join("data.bin");
        let sig = dir.path().join("sig.bin");
        std::fs::write(&data, b"challenge").unwrap();
        let out = onshi_with_input(
            &[
                "card",
                "sign",
                "--reader",
                reader,
                "--in",
                s(&data),
                "--out",
                s(&sig),
            ],
            "1234\n",
        );
        assert!(out.status.success(), "{}", text(&out));
        verify_with_openssl(dir.path(), &pem, &data, &sig);
        for _ in 0..3 {
            let out = onshi_with_input(&["card", "verify-pin", "--reader", reader], "0000\n");
            assert_ne!(out.status.code(), Some(0));
        }
        let out = onshi_with_input(&["card", "verify-pin", "--reader", reader], "1234\n");
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    }
    // Taken out and put back: still locked.
    {
        let _card = insert(&["--card", s(&card)], &addr, reader);
        assert!(ok(&["card", "status", "--reader", reader]).contains("残り0回"));
    }
    // A card that is not a My Number card.
    {
        let _card = insert(&["--foreign"], &addr, reader);
        let out = Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(["card", "info", "--reader", reader])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        assert!(
            text(&out).contains("マイナンバーカードではない"),
            "{}",
            text(&out)
        );
    }
    // Pulled out in the middle of reading the certificate: `card info` reads its first bytes
    // (one READ BINARY), and the card is gone before the next READ BINARY.
    {
        let _card = insert(&["--card", s(&card), "--remove-after", "1"], &addr, reader);
        let out = Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(["card", "info", "--reader", reader])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        assert!(
            text(&out).contains("読み取り中にカードが外されました"),
            "{}",
            text(&out)
        );
    }
    // No card at all.
    let out = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["card", "info", "--reader", reader])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}
