//! The card reader under faults, under a running desk (`onshi app ui`): pcscd killed and started
//! again, and the card pulled out in the middle of a read. What must hold: the desk says in
//! Japanese what is wrong (no reader, card taken out), keeps running, and checks the next card
//! without being restarted.
//!
//! The other PC/SC tests of this binary share the system pcscd, so this one runs its own: a
//! pcscd in a private mount namespace (`unshare -m`, its /run/pcscd bound to a test folder) with
//! one vpcd reader on its own port, reached by the desk through `PCSCLITE_CSOCK_NAME`. Killing it
//! is as close as this machine gets to a reader pulled out of the USB port: the desk sees the
//! same PC/SC errors (no service, no readers). Needs root and pcscd with vsmartcard-vpcd;
//! skipped without them unless `ONSHI_REQUIRE_MOUNT` and `ONSHI_REQUIRE_VPCD` are set (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::app_pcsc::{world, World};
use super::browser::{free_port, wait_listening, Running};
use super::cli::s;

/// The private reader's vpcd port (0x8C96; the system pcscd's readers use 35963 and 35964).
const VPCD_PORT: u16 = 35990;
/// The name pcscd gives the reader of the configuration below.
const READER: &str = "pcsc:Fault PCD 00 00";
/// How long the desk may take to notice a change.
const NOTICE: Duration = Duration::from_secs(30);

/// A pcscd of the test's own, killed on drop.
struct PrivatePcscd {
    dir: PathBuf,
    daemon: Option<Child>,
}

impl PrivatePcscd {
    /// Writes its configuration under `dir`; `None` where it cannot run here.
    fn new(dir: &Path) -> Option<Self> {
        let required = std::env::var_os("ONSHI_REQUIRE_MOUNT").is_some()
            && std::env::var_os("ONSHI_REQUIRE_VPCD").is_some();
        let driver = Path::new("/usr/lib/pcsc/drivers/serial/libifdvpcd.so");
        let tools = ["pcscd", "unshare"].iter().all(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|st| st.success())
        });
        // Mount namespaces need root.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if !(driver.exists() && tools && root && cfg!(feature = "pcsc")) {
            assert!(!required, "pcscd, vpcd, unshare and root are needed here");
            eprintln!("reader fault test skipped: needs root, pcscd with vpcd and unshare");
            return None;
        }
        let conf = dir.join("reader.conf.d");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(
            conf.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Fault PCD\"\nDEVICENAME /dev/null:0x{VPCD_PORT:X}\n\
                 LIBPATH {}\nCHANNELID 0x{VPCD_PORT:X}\n",
                driver.display()
            ),
        )
        .unwrap();
        Some(Self {
            dir: dir.to_path_buf(),
            daemon: None,
        })
    }

    /// The socket clients reach it by (`PCSCLITE_CSOCK_NAME`).
    fn socket(&self) -> PathBuf {
        self.dir.join("run").join("pcscd.comm")
    }

    fn start(&mut self) {
        // What a killed daemon left behind would stop the next one.
        for stale in ["pcscd.comm", "pcscd.pid"] {
            let _ = std::fs::remove_file(self.dir.join("run").join(stale));
        }
        let script = format!(
            "mount --bind {} /run/pcscd && exec pcscd --foreground -c {}",
            s(&self.dir.join("run")),
            s(&self.dir.join("reader.conf.d"))
        );
        let daemon = Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.daemon = Some(daemon);
        let started = Instant::now();
        while !self.socket().exists() || TcpStream::connect(("127.0.0.1", VPCD_PORT)).is_err() {
            assert!(
                started.elapsed() < NOTICE,
                "the private pcscd never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash would.
    fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }

    /// `onshi card ARGS` through this daemon.
    fn card(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_onshi"))
            .arg("card")
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", self.socket())
            .output()
            .unwrap()
    }

    /// Puts the card into the reader (`extra`: more `card emulate` options) and waits until
    /// pcscd shows it.
    fn insert(&self, card: &Path, extra: &[&str]) -> Running {
        let emulator = self.put(card, extra);
        let started = Instant::now();
        while !self.card(&["status", "--reader", READER]).status.success() {
            assert!(started.elapsed() < NOTICE, "pcscd never saw the card");
            std::thread::sleep(Duration::from_millis(200));
        }
        emulator
    }

    /// Puts the card into the reader and returns at once: where the desk is waiting for it, a
    /// second program asking the card (as [`Self::insert`] does) would reset it under the desk.
    fn put(&self, card: &Path, extra: &[&str]) -> Running {
        let vpcd = format!("127.0.0.1:{VPCD_PORT}");
        let mut args = vec!["card", "emulate", "--card", s(card), "--vpcd", &vpcd];
        args.extend_from_slice(extra);
        Running(
            Command::new(env!("CARGO_BIN_EXE_onshi"))
                .args(&args)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for PrivatePcscd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The desk on a loopback port, logged in: its port and session cookie.
struct Desk {
    _process: Running,
    port: u16,
    cookie: String,
}

impl Desk {
    fn start(app: &Path, home: &Path, pcscd: &PrivatePcscd) -> Self {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(["app", "ui", "--data", s(app)])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--reader", READER])
            .env("HOME", home)
            .env("PCSCLITE_CSOCK_NAME", pcscd.socket())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut process = Running(child);
        wait_listening(&mut process, port, "onshi app ui");
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let login = first
            .trim()
            .strip_prefix(&format!("受付画面: http://127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("no address printed: {first:?}"))
            .to_owned();
        let (code, head, _) = request(port, "GET", &login, None, None);
        assert!(
            code == 303 || code == 302 || code == 307,
            "login: {code}\n{head}"
        );
        let cookie = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("set-cookie")
                    .then(|| value.trim().split(';').next().unwrap_or("").to_owned())
            })
            .unwrap_or_else(|| panic!("no cookie: {head}"));
        Self {
            _process: process,
            port,
            cookie,
        }
    }

    fn status(&self) -> serde_json::Value {
        let (code, _, body) = request(self.port, "GET", "/api/status", Some(&self.cookie), None);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Starts a 目視 check (the photo confirmed by the staff).
    fn check(&self) {
        let body = r#"{"mode":"visual","photo_confirmed":true}"#;
        let (code, _, answer) = request(
            self.port,
            "POST",
            "/api/check",
            Some(&self.cookie),
            Some(body),
        );
        assert_eq!(code, 200, "{answer}");
    }

    /// Clears the result screen for the next patient.
    fn next_patient(&self) {
        let (code, _, answer) = request(
            self.port,
            "POST",
            "/api/cancel",
            Some(&self.cookie),
            Some("{}"),
        );
        assert_eq!(code, 200, "{answer}");
    }

    /// Waits until the status satisfies `what`; returns it.
    fn wait_for(&self, why: &str, what: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let now = self.status();
            if what(&now) {
                return now;
            }
            assert!(
                started.elapsed() < NOTICE,
                "{why}: never; the desk shows {now:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One HTTP/1.1 request to the desk: (status, head, body).
fn request(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    if let Some(c) = cookie {
        text.push_str(&format!("Cookie: {c}\r\nX-Onshi-Desk: 1\r\n"));
    }
    if let Some(b) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    text.push_str("Connection: close\r\n\r\n");
    text.push_str(body.unwrap_or(""));
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_owned(), body.to_owned())
}

fn phase(status: &serde_json::Value) -> &str {
    status["phase"].as_str().unwrap_or("")
}

fn reader_state(status: &serde_json::Value) -> &str {
    status["reader"]["state"].as_str().unwrap_or("")
}

fn screen(status: &serde_json::Value) -> &str {
    status["screen"].as_str().unwrap_or("")
}

#[test]
fn the_desk_survives_pcscd_killed_and_a_card_pulled_mid_read() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut pcscd) = PrivatePcscd::new(&dir.path().join("pcscd")) else {
        return;
    };
    let World {
        srv,
        app,
        card,
        server: _server,
        ..
    } = world(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    pcscd.start();
    let emulator = pcscd.insert(&card, &[]);
    let desk = Desk::start(&app, &home, &pcscd);

    // A check before any fault.
    desk.wait_for("the card shown", |st| reader_state(st) == "card");
    desk.check();
    let done = desk.wait_for("the first check", |st| {
        phase(st) != "waiting" && phase(st) != "working"
    });
    assert_eq!(phase(&done), "done", "{done:#}");
    assert!(screen(&done).contains("資格は有効です"), "{done:#}");
    desk.next_patient();

    // pcscd killed (the reader gone): the desk says so in Japanese, and a check started now
    // waits for the reader instead of failing the patient.
    pcscd.kill();
    drop(emulator);
    let gone = desk.wait_for("the reader missing", |st| {
        matches!(reader_state(st), "no-reader" | "no-service")
    });
    let text = gone["reader"]["text"].as_str().unwrap_or("");
    assert!(text.contains("カードリーダー"), "{gone:#}");
    desk.check();
    let waiting = desk.status();
    assert_eq!(phase(&waiting), "waiting", "{waiting:#}");

    // pcscd back, the card on the reader: the same check goes on by itself, no restart.
    pcscd.start();
    let emulator = pcscd.put(&card, &[]);
    let done = desk.wait_for("the check after pcscd came back", |st| {
        phase(st) == "done" || phase(st) == "failed"
    });
    assert_eq!(phase(&done), "done", "{done:#}");
    assert!(screen(&done).contains("資格は有効です"), "{done:#}");
    desk.next_patient();

    // The card pulled out in the middle of reading its certificate: said in Japanese.
    drop(emulator);
    desk.wait_for("the card taken out", |st| reader_state(st) != "card");
    let pulled = pcscd.insert(&card, &["--remove-after", "1"]);
    desk.wait_for("the card shown again", |st| reader_state(st) == "card");
    desk.check();
    let failed = desk.wait_for("the pulled card's check", |st| {
        phase(st) == "done" || phase(st) == "failed"
    });
    assert_eq!(phase(&failed), "failed", "{failed:#}");
    assert!(
        screen(&failed).contains("カードが外されました"),
        "{failed:#}"
    );
    desk.next_patient();
    drop(pulled);

    // Put back: the next check goes through.
    desk.wait_for("the card taken out", |st| reader_state(st) != "card");
    let _emulator = pcscd.insert(&card, &[]);
    desk.check();
    let done = desk.wait_for("the check after the card was put back", |st| {
        phase(st) == "done" || phase(st) == "failed"
    });
    assert_eq!(phase(&done), "done", "{done:#}");

    // Three answered checks, each with its audit row (the pulled card's never reached the
    // service); the chain intact.
    let out = super::cli::ok(&["admin", "audit", "verify", "--data", s(&srv)]);
    assert!(out.contains("記録 3"), "{out}");
}
