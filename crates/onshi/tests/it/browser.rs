//! What the browser tests share: headless Chromium through chromedriver (Debian `chromium` and
//! `chromium-driver`), child processes stopped when a test ends, screenshots kept under
//! `ONSHI_SCREENSHOTS` (or the tests' temporary target folder) with their paths printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub(super) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(super) const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page may take to reach a screen.
pub(super) const WAIT: Duration = Duration::from_secs(30);

/// A child process killed when the test ends, passing or not.
pub(super) struct Running(pub(super) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub(super) fn wait_listening(child: &mut Running, port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.0.try_wait().unwrap().is_none(), "{what} exited");
        assert!(started.elapsed() < WAIT, "{what} never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where screenshots go.
pub(super) fn screenshots() -> PathBuf {
    let dir = std::env::var_os("ONSHI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

pub(super) async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

pub(super) fn chromium_installed() -> bool {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("ONSHI_REQUIRE_CHROMIUM").is_none(),
        "ONSHI_REQUIRE_CHROMIUM is set, but {CHROMEDRIVER} or {CHROMIUM} is missing"
    );
    eprintln!("browser test skipped: install chromium and chromium-driver (scripts/test does)");
    false
}

/// chromedriver on a free port and a headless Chromium session (a fresh profile under
/// `profile`). The session accepts the test service's own TLS certificate.
pub(super) async fn start_browser(profile: &Path) -> (Running, Client) {
    let driver_port = free_port();
    let mut driver = Running(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&mut driver, driver_port, "chromedriver");
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), serde_json::Value::Bool(true));
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,1500",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver session");
    (driver, client)
}
