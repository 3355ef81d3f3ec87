//! The desk without a command line: `onshi app install` writes the user's systemd unit (enabled)
//! and the menu and autostart entries, `onshi app uninstall` removes them; `onshi app open` (what
//! those entries run) opens the running desk in the browser on a fresh one-time address each
//! time.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::app_pcsc::{world, World};
use super::browser::{free_port, wait_listening, Running};
use super::cli::s;

fn onshi_in(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn install_writes_an_enabled_unit_and_the_entries_and_uninstall_removes_them() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("onshi-app");
    let out = onshi_in(
        home.path(),
        &["app", "install", "--data", s(&data), "--reader", "pcsc"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let config = home.path().join(".config");
    let unit = config.join("systemd/user/onshi-desk.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    let exe = env!("CARGO_BIN_EXE_onshi");
    assert!(
        unit_text.contains(&format!(
            "ExecStart=\"{exe}\" app ui --data \"{}\" --listen 127.0.0.1:8470 --reader \"pcsc\"",
            data.display()
        )),
        "{unit_text}"
    );
    // Enabled for the user, as `systemctl --user enable` does it.
    let link = config.join("systemd/user/default.target.wants/onshi-desk.service");
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        unit_text,
        "the link resolves to the unit"
    );
    for entry in [
        home.path()
            .join(".local/share/applications/onshi-desk.desktop"),
        config.join("autostart/onshi-desk.desktop"),
    ] {
        let e = std::fs::read_to_string(&entry).unwrap();
        assert!(e.contains("Name=オンライン資格確認（受付）"), "{e}");
        assert!(e.contains("app open --data"), "{e}");
    }
    // `systemd-analyze verify` reads the unit as systemd would, where it is installed.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let checked = Command::new("systemd-analyze")
            .args(["verify", "--user", s(&unit)])
            .output()
            .unwrap();
        let said = text(&checked);
        assert!(
            !said.contains("Unknown key") && !said.contains("Invalid"),
            "{said}"
        );
    }

    let out = onshi_in(home.path(), &["app", "uninstall"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("取り除きました"), "{}", text(&out));
    for gone in [&unit, &link] {
        assert!(gone.symlink_metadata().is_err(), "{} left", gone.display());
    }
    assert!(!config.join("autostart/onshi-desk.desktop").exists());
    let again = onshi_in(home.path(), &["app", "uninstall"], &[]);
    assert!(
        text(&again).contains("設定されていません"),
        "{}",
        text(&again)
    );
}

/// A GET to the desk: (status, Set-Cookie present).
fn open_address(url: &str) -> (u16, bool) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, answer.to_ascii_lowercase().contains("set-cookie:"))
}

#[test]
fn app_open_gives_the_browser_a_fresh_address_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let World {
        app,
        card,
        server: _server,
        ..
    } = world(dir.path());
    // The "browser": writes the address it was given.
    let opened = dir.path().join("opened.txt");
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let browser_env = [("ONSHI_BROWSER", s(&browser))];

    // Not running yet: said so.
    let out = onshi_in(&home, &["app", "open", "--data", s(&app)], &browser_env);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("受付画面が動いていません"),
        "{}",
        text(&out)
    );

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["app", "ui", "--data", s(&app), "--open"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--reader")
        .arg(format!("emu:{}", s(&card)))
        .env("HOME", &home)
        .env("ONSHI_BROWSER", &browser)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut desk = Running(child);
    wait_listening(&mut desk, port, "onshi app ui");
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // --open gave the browser the printed address.
    let printed = first.trim().strip_prefix("受付画面: ").unwrap().to_owned();
    let started = std::time::Instant::now();
    while !opened.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never opened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let by_open = std::fs::read_to_string(&opened).unwrap().trim().to_owned();
    assert_eq!(by_open, printed);
    // The file with the address is the user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.join("desk-login.url"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(open_address(&by_open), (303, true));
    assert_eq!(open_address(&by_open).0, 403, "spent");

    // The menu entry's command: a new address, which works once.
    let out = onshi_in(&home, &["app", "open", "--data", s(&app)], &browser_env);
    assert!(out.status.success(), "{}", text(&out));
    let second = std::fs::read_to_string(&opened).unwrap().trim().to_owned();
    assert_ne!(second, by_open);
    assert_eq!(open_address(&second), (303, true));
    assert_eq!(open_address(&second).0, 403);

    // The desk stopped (SIGTERM, as systemd stops it): its address is gone with it.
    let pid = desk.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let _ = desk.0.wait();
    assert!(!app.join("desk-login.url").exists());
    let out = onshi_in(&home, &["app", "open", "--data", s(&app)], &browser_env);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}
