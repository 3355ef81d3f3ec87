//! The first start without a command line, in a real headless Chromium: `onshi app ui` on a PC
//! that is not enrolled opens at 端末の登録; the portal's settings file chosen and the one-time code
//! typed on the page enroll the terminal (key and certificate made as `onshi app enroll` makes
//! them); the page turns into the 受付 and checks a card. A wrong code is said in Japanese and
//! leaves nothing half-enrolled.
//!
//! Skipped when chromedriver is not installed, unless `ONSHI_REQUIRE_CHROMIUM` is set (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fantoccini::{Client, Locator};

use super::app_pcsc::{world_unenrolled, World, ELIGIBILITY_CSV, PERSON, PIN};
use super::app_ui::{phase, type_pin};
use super::browser::{
    chromium_installed, click, free_port, screenshot, start_browser, wait_listening, Running, WAIT,
};
use super::cli::{ok, s};
use super::desk_cli::unregistered_card;

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

/// Cards for more answer kinds: (the world's person with a certificate that expires in 40 days,
/// the world's person on a card whose holder is someone else — held by the wrong-link guard —,
/// another person whose insurance was lost in 2025).
fn answer_kind_cards(dir: &Path, srv: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let jlis = dir.join("jlis");
    let (persons, eligibility) = (
        dir.join("lost-persons.csv"),
        dir.join("lost-eligibility.csv"),
    );
    std::fs::write(
        &persons,
        "PersonId,Name,NameKana,Birthdate,Sex1,Address\n\
         P0000000888,山本　次郎,ヤマモト　ジロウ,19700505,1,東京都千代田区霞が関１－２－２\n",
    )
    .unwrap();
    std::fs::write(
        &eligibility,
        format!(
            "{}P0000000888,06139992,７７,９９,00,1,山本　次郎,山本　次郎,ヤマモト　ジロウ,1,19700505,東京都千代田区霞が関１－２－２,100-8916,20200401,20250401,01,030,,03,サンプル健康保険組合,,,,\n",
            ELIGIBILITY_CSV.lines().next().unwrap().to_owned() + "\n"
        ),
    )
    .unwrap();
    ok(&["import", "persons", s(&persons), "--data", s(srv)]);
    ok(&["import", "eligibility", s(&eligibility), "--data", s(srv)]);
    let issue = |person: &str, name: &str, birth: &str, sex: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            "jlis",
            "issue-card",
            "--dir",
            s(&jlis),
            "--person",
            person,
            "--pin",
            PIN,
            "--name",
            name,
            "--birth",
            birth,
            "--sex",
            sex,
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        ok(&args);
    };
    let soon = dir.join("expires-soon.json");
    let last_day = (chrono::Utc::now() + chrono::Duration::days(40))
        .format("%Y%m%d")
        .to_string();
    issue(
        PERSON,
        "𠮷田　髙子",
        "19820303",
        "2",
        &["--not-after", &last_day],
        &soon,
    );
    let held_link = dir.join("held-link.json");
    issue(PERSON, "別人　花子", "19900101", "2", &[], &held_link);
    let lost = dir.join("lost.json");
    issue("P0000000888", "山本　次郎", "19700505", "1", &[], &lost);
    let out = ok(&[
        "import",
        "card-links",
        "--data",
        s(srv),
        s(&jlis.join("issued.csv")),
    ]);
    assert!(out.contains("保留 1"), "{out}");
    (soon, held_link, lost)
}

/// Opens a tab of the desk and waits until it shows (a click while the screen is redrawn may
/// miss: then again).
async fn open_tab(c: &Client, tab: &str) {
    let started = std::time::Instant::now();
    loop {
        click(c, &format!("nav [data-tab=\"{tab}\"]")).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let shown = c
            .find(Locator::Css(&format!("#tab-{tab}:not([hidden])")))
            .await
            .is_ok();
        if shown {
            return;
        }
        assert!(started.elapsed() < WAIT, "the {tab} tab never opened");
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
            srv,
            server,
            listen,
        },
        settings,
        code,
    ) = world_unenrolled(dir.path());
    // First the registered cards: an import marks every card of issued.csv registered.
    let (soon, held_link, lost) = answer_kind_cards(dir.path(), &srv);
    let unregistered = unregistered_card(dir.path(), &srv);
    // The reader: a slot the test puts a card into by copying its file (the desk opens the card
    // anew for every check).
    let slot = dir.path().join("reader-slot.json");
    std::fs::copy(&card, &slot).unwrap();
    assert!(!app.exists(), "the app is not enrolled yet");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["app", "ui", "--data", s(&app)])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--reader")
        .arg(format!("emu:{}", s(&slot)))
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
        // The terminal's name from the portal's settings file, beside its account.
        assert!(header.contains("端末 受付PC（W"), "{header}");
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

        // A PIN check on the page's pad: 有効, with what to do next.
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        click(&c, "[data-action=\"start\"][data-mode=\"pin\"]").await;
        phase(&c, "pin").await;
        type_pin(&c, PIN).await;
        phase(&c, "done").await;
        assert_eq!(text_of(&c, "#verdict").await, "資格は有効です");
        let next = text_of(&c, "#next-step").await;
        assert!(
            next.contains("次にすること") && next.contains("レセコン"),
            "{next}"
        );
        screenshot(&c, "desk-pin-valid.png").await;

        // A card not registered for health-insurance use: said plainly, and registered on the
        // spot after the patient's consent (a new challenge, the PIN again).
        std::fs::copy(&unregistered, &slot).unwrap();
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        click(&c, "[data-action=\"start\"][data-mode=\"pin\"]").await;
        phase(&c, "pin").await;
        type_pin(&c, PIN).await;
        phase(&c, "done").await;
        let verdict = text_of(&c, "#verdict").await;
        assert_eq!(verdict, "利用登録がされていません");
        assert!(!verdict.contains("有効"), "{verdict}");
        let next = text_of(&c, "#next-step").await;
        assert!(next.contains("同意"), "{next}");
        screenshot(&c, "desk-unregistered.png").await;
        click(&c, "[data-action=\"register-consent\"]").await;
        let consent = phase(&c, "consent").await;
        assert!(
            consent.contains("健康保険証として使えるように登録") && consent.contains("暗証番号"),
            "{consent}"
        );
        screenshot(&c, "desk-register-consent.png").await;
        click(&c, "[data-action=\"register\"]").await;
        phase(&c, "pin").await;
        type_pin(&c, PIN).await;
        let registered = phase(&c, "done").await;
        assert_eq!(text_of(&c, "#verdict").await, "資格は有効です");
        assert!(registered.contains("利用登録しました"), "{registered}");
        assert!(registered.contains("𠮷田　髙子"), "{registered}");
        screenshot(&c, "desk-registered.png").await;

        // 番号で確認: the check digit said as it is typed, then the answer as for a card.
        let before = std::fs::read_dir(app.join("rececon")).unwrap().count();
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        open_tab(&c, "numbers").await;
        let insurer = c.find(Locator::Css("#insurer")).await.unwrap();
        insurer.send_keys("06139993").await.unwrap();
        wait_text(&c, "#insurer-check", "検証番号").await;
        screenshot(&c, "desk-numbers-check-digit.png").await;
        insurer.clear().await.unwrap();
        insurer.send_keys("06139992").await.unwrap();
        wait_text(&c, "#insurer-check", "合っています").await;
        for (css, value) in [
            ("#symbol", "77"),
            ("#number", "88"),
            ("#birth", "昭和57年3月3日"),
        ] {
            c.find(Locator::Css(css))
                .await
                .unwrap()
                .send_keys(value)
                .await
                .unwrap();
        }
        wait_text(&c, "#birth-check", "1982-03-03").await;
        screenshot(&c, "desk-numbers-form.png").await;
        click(&c, "#numbers-form button[type=submit]").await;
        let by_numbers = phase(&c, "done").await;
        assert_eq!(text_of(&c, "#verdict").await, "資格は有効です");
        assert!(by_numbers.contains("06139992"), "{by_numbers}");
        assert!(
            by_numbers.contains("生年月日で確認しました"),
            "{by_numbers}"
        );
        assert_eq!(
            std::fs::read_dir(app.join("rececon")).unwrap().count(),
            before + 3,
            "the three receipt-computer files"
        );
        screenshot(&c, "desk-numbers-result.png").await;

        // Numbers that match nobody: what to compare, and whom the patient asks.
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        open_tab(&c, "numbers").await;
        let birth = c.find(Locator::Css("#birth")).await.unwrap();
        birth.clear().await.unwrap();
        birth.send_keys("19820304").await.unwrap();
        click(&c, "#numbers-form button[type=submit]").await;
        phase(&c, "done").await;
        assert_eq!(text_of(&c, "#verdict").await, "該当する資格がありません");
        let next = text_of(&c, "#next-step").await;
        assert!(
            next.contains("見比べて") && next.contains("保険者"),
            "{next}"
        );
        screenshot(&c, "desk-numbers-not-found.png").await;

        // More answer kinds, each with its next step, from cards put on the reader: a card
        // whose certificate expires within three months (W002, a warning on top), a card whose
        // link the insurer holds (E012), and a person whose insurance was lost (無効).
        let kinds = [
            (
                &soon,
                "資格は有効です",
                "#warnings",
                "市区町村の窓口で電子証明書を更新",
                "desk-warning-renew.png",
            ),
            (
                &held_link,
                "確認中",
                "#next-step",
                "番号で確認",
                "desk-link-held.png",
            ),
            (
                &lost,
                "資格は無効です",
                "#next-step",
                "資格確認書または資格情報のお知らせ",
                "desk-invalid.png",
            ),
        ];
        for (kind_card, verdict, css, words, shot) in kinds {
            std::fs::copy(kind_card, &slot).unwrap();
            click(&c, "[data-action=\"reset\"]").await;
            open_tab(&c, "desk").await;
            phase(&c, "idle").await;
            click(&c, "[data-action=\"photo\"]").await;
            click(&c, "[data-action=\"photo-yes\"]").await;
            let screen = phase(&c, "done").await;
            let said = text_of(&c, "#verdict").await;
            assert!(said.contains(verdict), "{said}\n{screen}");
            let next = text_of(&c, css).await;
            assert!(next.contains(words), "{next}");
            screenshot(&c, shot).await;
        }
        // The warning sits above the answer, with the certificate's last day in 和暦.
        std::fs::copy(&soon, &slot).unwrap();
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        click(&c, "[data-action=\"photo\"]").await;
        click(&c, "[data-action=\"photo-yes\"]").await;
        phase(&c, "done").await;
        let html = c
            .find(Locator::Css("#screen"))
            .await
            .unwrap()
            .html(true)
            .await
            .unwrap();
        let warning_at = html.find("id=\"warnings\"").unwrap();
        assert!(warning_at < html.find("id=\"answer\"").unwrap(), "{html}");
        assert!(html[warning_at..].contains("令和"), "{html}");
        std::fs::copy(&unregistered, &slot).unwrap();

        // A PIN mistyped three times locks the card: 目視 today, and the reset at the 市区町村.
        click(&c, "[data-action=\"reset\"]").await;
        open_tab(&c, "desk").await;
        phase(&c, "idle").await;
        for left in ["あと2回", "あと1回"] {
            click(&c, "[data-action=\"start\"][data-mode=\"pin\"]").await;
            phase(&c, "pin").await;
            type_pin(&c, "9999").await;
            let failed = phase(&c, "failed").await;
            assert!(failed.contains(left), "{failed}");
        }
        screenshot(&c, "desk-wrong-pin.png").await;
        click(&c, "[data-action=\"start\"][data-mode=\"pin\"]").await;
        phase(&c, "pin").await;
        type_pin(&c, "9999").await;
        phase(&c, "failed").await;
        // Locked: said at once, before the pad, from now on.
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        click(&c, "[data-action=\"start\"][data-mode=\"pin\"]").await;
        let locked = phase(&c, "failed").await;
        assert_eq!(
            text_of(&c, "#verdict").await,
            "暗証番号がロックされています"
        );
        assert!(
            locked.contains("目視で確認")
                && locked.contains("市区町村の窓口")
                && locked.contains("初期化"),
            "{locked}"
        );
        c.find(Locator::Css(
            "[data-phase=\"failed\"] [data-action=\"photo\"]",
        ))
        .await
        .expect("目視 offered for a locked PIN");
        screenshot(&c, "desk-pin-locked.png").await;

        // The service goes away: 目視 while the patient is here, recorded 未確認, with the card's
        // certificate kept (encrypted) for this visit.
        drop(server);
        click(&c, "[data-action=\"reset\"]").await;
        phase(&c, "idle").await;
        click(&c, "[data-action=\"photo\"]").await;
        click(&c, "[data-action=\"photo-yes\"]").await;
        let failed = phase(&c, "failed").await;
        assert!(failed.contains("未確認"), "{failed}");
        assert!(failed.contains("確認し直す"), "{failed}");
        screenshot(&c, "desk-outage.png").await;
        assert_eq!(std::fs::read_dir(app.join("held")).unwrap().count(), 1);

        // The patient leaves with the card; later the service is back, and the visit is checked
        // again from the history without the card, for its visit date.
        std::fs::remove_file(&slot).unwrap();
        let _server = super::app::start_server(&srv, &listen);
        open_tab(&c, "history").await;
        let button = "tr[data-status=\"unconfirmed\"] [data-action=\"recheck\"][data-held=\"1\"]";
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(button))
            .await
            .expect("a re-check without the card");
        let waiting = text_of(&c, "#waiting").await;
        assert!(waiting.contains("カード不要"), "{waiting}");
        screenshot(&c, "desk-history-held.png").await;
        click(&c, button).await;
        let result = phase(&c, "done").await;
        assert_eq!(text_of(&c, "#verdict").await, "資格は有効です");
        assert!(
            result.contains("カードなし") && result.contains("未確認として記録した受付"),
            "{result}"
        );
        assert_eq!(std::fs::read_dir(app.join("held")).unwrap().count(), 0);
        screenshot(&c, "desk-recheck-without-card.png").await;
        c.close().await.unwrap();
    });
}
