//! The first start without a command line, in a real headless Chromium: `onshi app ui` on a PC
//! that is not enrolled opens at 端末の登録; the portal's settings file chosen and the one-time code
//! typed on the page enroll the terminal (key and certificate made as `onshi app enroll` makes
//! them); the page turns into the 受付 and checks a card. A wrong code is said in Japanese and
//! leaves nothing half-enrolled.
//!
//! Skipped when chromedriver is not installed, unless `ONSHI_REQUIRE_CHROMIUM` is set (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};

use fantoccini::{Client, Locator};

use super::app_pcsc::{world_unenrolled, World};
use super::browser::{
    chromium_installed, click, free_port, screenshot, start_browser, wait_listening, Running, WAIT,
};
use super::cli::s;

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default()
}

/// Waits until the element's text contains `what`; returns it.
async fn wait_text(c: &Client, css: &str, what: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let now = text_of(c, css).await;
        if now.contains(what) {
            return now;
        }
        assert!(
            started.elapsed() < WAIT,
            "{css} never said {what:?}: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[test]
fn a_new_pc_enrolls_from_the_page_and_checks_a_card() {
    if !chromium_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (
        World {
            app,
            card,
            server: _server,
            ..
        },
        settings,
        code,
    ) = world_unenrolled(dir.path());
    assert!(!app.exists(), "the app is not enrolled yet");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["app", "ui", "--data", s(&app)])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--reader")
        .arg(format!("emu:{}", s(&card)))
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut desk = Running(child);
    wait_listening(&mut desk, port, "onshi app ui");
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let login = first.trim().strip_prefix("受付画面: ").unwrap().to_owned();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_driver, c) = start_browser(&dir.path().join("profile")).await;
        c.goto(&login).await.unwrap();
        let page = wait_text(&c, "main", "端末の登録").await;
        assert!(page.contains("登録コード"), "{page}");
        screenshot(&c, "desk-enroll.png").await;

        // A wrong code: said in Japanese, nothing enrolled.
        let file = c.find(Locator::Css("#settings-file")).await.unwrap();
        file.send_keys(s(&settings)).await.unwrap();
        let code_field = c.find(Locator::Css("#enroll-code")).await.unwrap();
        code_field.send_keys("AAAA-AAAA-AAAA").await.unwrap();
        click(&c, "#enroll-form button[type=submit]").await;
        let said = wait_text(&c, "#enroll-message", "登録").await;
        let said = if said.contains("登録しています") {
            // Still working: wait for the answer.
            let started = std::time::Instant::now();
            loop {
                let now = text_of(&c, "#enroll-message").await;
                if !now.contains("登録しています") {
                    break now;
                }
                assert!(started.elapsed() < WAIT, "no answer to the wrong code");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        } else {
            said
        };
        assert!(!said.contains("登録しました"), "{said}");
        assert!(
            said.chars()
                .any(|ch| ('\u{3040}'..='\u{30FF}').contains(&ch)),
            "not Japanese: {said}"
        );
        assert!(!app.join("terminal.pem").exists(), "half-enrolled");
        screenshot(&c, "desk-enroll-wrong-code.png").await;

        // The right code: enrolled, and the page becomes the 受付.
        code_field.clear().await.unwrap();
        code_field.send_keys(&code).await.unwrap();
        click(&c, "#enroll-form button[type=submit]").await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#screen > .screen[data-phase=\"idle\"]"))
            .await
            .expect("the 受付 after enrolling");
        assert!(app.join("terminal.pem").exists());
        assert!(app.join("app.toml").exists());
        let header = text_of(&c, "header").await;
        assert!(header.contains("端末 W"), "{header}");
        screenshot(&c, "desk-enrolled.png").await;

        // And it checks a card (目視).
        click(&c, "[data-action=\"photo\"]").await;
        click(&c, "[data-action=\"photo-yes\"]").await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#screen > .screen[data-phase=\"done\"]"))
            .await
            .expect("an answer");
        let verdict = text_of(&c, "#verdict").await;
        assert_eq!(verdict, "資格は有効です");
        screenshot(&c, "desk-enrolled-first-check.png").await;
        c.close().await.unwrap();
    });
}
