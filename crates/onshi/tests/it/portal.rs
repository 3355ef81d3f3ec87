//! The portal's whole story in a real headless Chromium against the real `onshi server run`:
//! a clinic with both 柔道整復 and はり・きゅう registers its two 登録記号番号 (併設), confirms
//! its e-mail from the outbox, logs in and applies; the operator (added with `onshi admin
//! operator add`) approves and posts an お知らせ; the clinic reads it and asks a question, the
//! operator answers it and the answer reaches the clinic's home page; the clinic creates a named
//! terminal, the app is enrolled with the settings file and the code the page showed, a check is
//! made; the clinic claims the equipment subsidy with two receipts (52,800円 → 41,000円), its
//! transfer account, the 口座確認書類 and the 内訳書; the operator approves, sets the payer and
//! exports the CSV and the 全銀協 総合振込 file. Screenshots of the main pages are saved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use super::app::start_server;
use super::app_pcsc::{ELIGIBILITY_CSV, PERSON, PERSONS_CSV, PIN};
use super::browser::{chromium_installed, click, screenshot, start_browser, WAIT};
use super::cli::{ok, s};

/// A PDF the sniffing accepts (the portal reads only the type from the bytes).
const MINIMAL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// A 1×1 PNG.
const ONE_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

const OPERATOR_PASSWORD: &str = "operator-password-1";
const CLINIC_PASSWORD: &str = "clinic-password-1";

/// Types `text` into the field `css` (cleared first).
async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Waits until `css` shows a text holding `want` (pages change under the driver: a stale or
/// missing element is tried again) and returns the text.
async fn text(c: &Client, css: &str, want: &str) -> String {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if t.contains(want) {
                    return t;
                }
                last = t;
            }
        }
        if started.elapsed() > WAIT {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let page = c.source().await.unwrap_or_default();
            panic!("{css} never showed {want:?} on {url} (last: {last:?})\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The newest mail in the outbox whose body holds `needle`, waiting for it.
fn mail_link(outbox: &Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let mut found = Vec::new();
        if let Ok(dir) = std::fs::read_dir(outbox) {
            for e in dir.flatten() {
                let body = std::fs::read_to_string(e.path()).unwrap_or_default();
                if let Some(line) = body.lines().find(|l| l.contains(needle)) {
                    found.push((e.file_name(), line.trim().to_owned()));
                }
            }
        }
        found.sort();
        if let Some((_, link)) = found.pop() {
            return link;
        }
        assert!(
            started.elapsed() < WAIT,
            "no mail with {needle} in {}",
            outbox.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the page's script-free fetch returns (run inside the page, with its cookies).
async fn fetch_text(c: &Client, url: &str) -> String {
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done('ERROR ' + e));",
            vec![serde_json::Value::String(url.to_owned())],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_owned()
}

/// The bytes of `url`, fetched inside the page (a Shift_JIS file is not text to the browser).
async fn fetch_bytes(c: &Client, url: &str) -> Vec<u8> {
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.arrayBuffer())
               .then(b => done(Array.from(new Uint8Array(b))), e => done([]));",
            vec![serde_json::Value::String(url.to_owned())],
        )
        .await
        .unwrap();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u8)
                .collect()
        })
        .unwrap_or_default()
}

async fn login_clinic(c: &Client, base: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", "sakura@example.jp").await;
    fill(c, "#password", CLINIC_PASSWORD).await;
    click(c, "form[action=\"/portal/login\"] button[type=\"submit\"]").await;
    text(c, "#clinic-name", "さくら接骨院").await;
}

/// The operator's TOTP code for a login: of a step not used before (a code is accepted once).
fn totp_code(secret: &[u8], last_step: &mut i64) -> String {
    loop {
        let step = onshi_portal::totp::step(chrono::Utc::now());
        if step > *last_step {
            *last_step = step;
            return onshi_portal::totp::code(secret, step);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

async fn login_operator(c: &Client, base: &str, code: &str) {
    c.goto(&format!("{base}/operator/login")).await.unwrap();
    fill(c, "#login", "operator1").await;
    fill(c, "#password", OPERATOR_PASSWORD).await;
    fill(c, "#code", code).await;
    click(
        c,
        "form[action=\"/portal/operator/login\"] button[type=\"submit\"]",
    )
    .await;
    arrived(c, "/portal/operator/").await;
}

async fn logout_operator(c: &Client) {
    click(
        c,
        "form[action=\"/portal/operator/logout\"] button[type=\"submit\"]",
    )
    .await;
    arrived(c, "/portal/operator/login").await;
}

async fn logout_clinic(c: &Client) {
    click(c, "form[action=\"/portal/logout\"] button[type=\"submit\"]").await;
    arrived(c, "/portal/login").await;
}

/// Waits until the browser shows `path`: a navigation in flight must land before the next one
/// starts, or it would replace it.
async fn arrived(c: &Client, path: &str) {
    let started = Instant::now();
    loop {
        let url = c
            .current_url()
            .await
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        if url == path && c.find(Locator::Css("main")).await.is_ok() {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "never arrived at {path} (at {url})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The operator finds the clinic's application and approves it.
async fn approve_application(c: &Client, base: &str, clinic: &str, code: &str) {
    login_operator(c, base, code).await;
    text(c, "#count-applied", "1").await;
    screenshot(c, "portal-operator-dashboard.png").await;
    c.goto(&format!("{base}/operator/clinics?status=applied"))
        .await
        .unwrap();
    text(c, "#clinics-table", clinic).await;
    click(c, "#clinics-table a[href^=\"/portal/operator/clinics/\"]").await;
    click(c, "form[action$=\"/approve\"] button[type=\"submit\"]").await;
    text(c, "main", "承認").await;
    text(c, "#clinic-registration", "契0765432-0-01").await;
    screenshot(c, "portal-operator-clinic.png").await;
    // An お知らせ for every clinic.
    c.goto(&format!("{base}/operator/notices")).await.unwrap();
    fill(
        c,
        "#notice-form input[name=\"title\"]",
        "申請の受付を始めました",
    )
    .await;
    fill(
        c,
        "#notice-form textarea[name=\"body\"]",
        "機器導入の補助（最大41,000円）の申請を受け付けています。",
    )
    .await;
    click(c, "#notice-form button[type=\"submit\"]").await;
    text(c, "main", "申請の受付を始めました").await;
    logout_operator(c).await;
}

#[test]
fn register_apply_approve_enroll_check_and_claim_in_chromium() {
    if !chromium_installed() {
        return;
    }
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
    // Claims stay open in this test whatever today's date (the default deadline has passed).
    let config_file = srv.join("config.toml");
    let config = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        config.contains("subsidy_deadline = \"2026-01-15\""),
        "{config}"
    );
    std::fs::write(
        &config_file,
        config.replace(
            "subsidy_deadline = \"2026-01-15\"",
            "subsidy_deadline = \"2099-01-15\"",
        ),
    )
    .unwrap();
    for (kind, text) in [("persons", PERSONS_CSV), ("eligibility", ELIGIBILITY_CSV)] {
        let file = dir.path().join(format!("{kind}.csv"));
        std::fs::write(&file, text).unwrap();
        ok(&["import", kind, s(&file), "--data", s(&srv)]);
    }
    let card = dir.path().join("card.json");
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(&jlis),
        "--person",
        PERSON,
        "--pin",
        PIN,
        "--name",
        "𠮷田　髙子",
        "--birth",
        "19820303",
        "--sex",
        "2",
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
    // The operator, from the command line only.
    let mut add = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args([
            "admin",
            "operator",
            "add",
            "--data",
            s(&srv),
            "--login",
            "operator1",
            "--name",
            "審査　花子",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{OPERATOR_PASSWORD}").unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // The second factor: the secret of the otpauth:// URI the command printed.
    let printed = String::from_utf8_lossy(&added.stdout).into_owned();
    let secret = printed
        .lines()
        .find(|l| l.starts_with("otpauth://totp/"))
        .and_then(onshi_portal::totp::secret_of_uri)
        .unwrap_or_else(|| panic!("no otpauth:// URI printed:\n{printed}"));
    let mut last_step = 0_i64;

    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let _server = start_server(&srv, &listen);
    let base = format!("https://{listen}/portal");
    let outbox = srv.join("outbox");
    let profile = dir.path().join("chromium-profile");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (driver, c) = start_browser(&profile).await;

        // Registration, with one mistake first: the page says what is wrong and keeps the values.
        c.goto(&format!("{base}/register")).await.unwrap();
        fill(&c, "#name", "さくら接骨院").await;
        click(&c, "input[name=\"kinds\"][value=\"judo\"]").await;
        click(&c, "input[name=\"kinds\"][value=\"hari\"]").await;
        fill(&c, "#director", "桜井　一郎").await;
        fill(&c, "#registration", "契0123456-1-23").await;
        // 併設: the はり・きゅう number too, typed in full width.
        fill(&c, "#registration_ahaki", "契０７６５４３２－０－０１").await;
        fill(&c, "#address", "東京都千代田区霞が関１－２－２").await;
        fill(&c, "#phone", "03-1234-5678").await;
        fill(&c, "#email", "sakura@example.jp").await;
        fill(&c, "#password", "short").await;
        fill(&c, "#password_confirm", "short").await;
        click(
            &c,
            "form[action=\"/portal/register\"] button[type=\"submit\"]",
        )
        .await;
        text(&c, "#form-errors", "入力内容に誤り").await;
        let page = c.source().await.unwrap();
        assert!(
            page.contains("10文字以上") && page.contains("さくら接骨院"),
            "{page}"
        );
        screenshot(&c, "portal-register-errors.png").await;
        fill(&c, "#password", CLINIC_PASSWORD).await;
        fill(&c, "#password_confirm", CLINIC_PASSWORD).await;
        click(
            &c,
            "form[action=\"/portal/register\"] button[type=\"submit\"]",
        )
        .await;
        text(&c, "#registered", "sakura@example.jp").await;

        // Not confirmed yet: no login.
        c.goto(&format!("{base}/login")).await.unwrap();
        fill(&c, "#email", "sakura@example.jp").await;
        fill(&c, "#password", CLINIC_PASSWORD).await;
        click(&c, "form[action=\"/portal/login\"] button[type=\"submit\"]").await;
        text(&c, "#login-error", "確認が済んでいません").await;

        // The link from the outbox.
        let link = mail_link(&outbox, "/portal/confirm?token=");
        c.goto(&link).await.unwrap();
        text(&c, "#confirmed", "登録が完了しました").await;

        c.goto(&format!("{base}/login")).await.unwrap();
        fill(&c, "#email", "sakura@example.jp").await;
        fill(&c, "#password", CLINIC_PASSWORD).await;
        click(&c, "form[action=\"/portal/login\"] button[type=\"submit\"]").await;
        text(&c, "#application-status", "未申請").await;
        text(&c, "#registration-numbers", "契0765432-0-01").await;
        text(&c, "#registration-numbers", "契0123456-1-23").await;
        click(&c, "form[action=\"/portal/apply\"] button[type=\"submit\"]").await;
        text(&c, "#application-status", "申請中（審査待ち）").await;
        screenshot(&c, "portal-clinic-home.png").await;

        // The operator approves (another browser profile would do as well: one at a time here).
        logout_clinic(&c).await;
        approve_application(&c, &base, "さくら接骨院", &totp_code(&secret, &mut last_step)).await;

        // The clinic reads the お知らせ on its home page and asks a question.
        login_clinic(&c, &base).await;
        text(&c, "#application-status", "承認済み").await;
        text(&c, "#new-notices", "申請の受付を始めました").await;
        text(&c, "#messages", "利用開始申請が承認されました").await;
        screenshot(&c, "portal-clinic-notices.png").await;
        c.goto(&format!("{base}/contact")).await.unwrap();
        fill(&c, "#subject", "領収書の宛名について").await;
        fill(&c, "#body", "宛名が院長の個人名の領収書でも申請できますか。").await;
        click(&c, "#contact-form button[type=\"submit\"]").await;
        text(&c, "#contact-sent", "受け付けました").await;
        screenshot(&c, "portal-contact.png").await;
        logout_clinic(&c).await;
        // The operator answers from the inbox.
        login_operator(&c, &base, &totp_code(&secret, &mut last_step)).await;
        c.goto(&format!("{base}/operator/inquiries")).await.unwrap();
        text(&c, "main", "領収書の宛名について").await;
        fill(&c, "form[id^=\"reply-\"] textarea[name=\"reply\"]", "施術所名または院長名の領収書で申請できます。").await;
        screenshot(&c, "portal-operator-inquiries.png").await;
        click(&c, "form[id^=\"reply-\"] button[type=\"submit\"]").await;
        text(&c, "main", "回答済み").await;
        logout_operator(&c).await;
        // The answer is mailed (the worker sends it within seconds).
        mail_link(&outbox, "施術所名または院長名の領収書で申請できます。");

        // The clinic creates a named terminal: the code once, the settings file.
        login_clinic(&c, &base).await;
        text(&c, "#messages", "施術所名または院長名の領収書で申請できます。").await;
        c.goto(&format!("{base}/terminals")).await.unwrap();
        fill(&c, "#create-terminal input[name=\"name\"]", "受付PC").await;
        click(&c, "#create-terminal button[type=\"submit\"]").await;
        let account = text(&c, "#terminal-account", "W").await;
        let code = text(&c, "#enrollment-code", "-").await;
        // The steps are the desk's page; the command stays folded for the person who installs.
        text(&c, "#enroll-steps", "「端末の登録」").await;
        screenshot(&c, "portal-terminal-code.png").await;
        let settings_url = c
            .find(Locator::Css("#settings-link"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let settings = fetch_text(&c, &settings_url).await;
        assert!(
            settings.contains(&format!("account = \"{account}\"")),
            "{settings}"
        );
        let settings_file = dir.path().join(format!("onshi-terminal-{account}.toml"));
        std::fs::write(&settings_file, &settings).unwrap();

        // The reception PC enrolls with them and checks a patient.
        ok(&[
            "app",
            "enroll",
            "--data",
            s(&app),
            "--settings",
            s(&settings_file),
            "--code",
            &code,
        ]);
        let checked = super::cli::onshi(&[
            "app",
            "verify",
            "--data",
            s(&app),
            "--reader",
            &format!("emu:{}", s(&card)),
            "--mode",
            "visual",
            "--confirm-photo",
            "--date",
            "20260401",
        ]);
        assert_eq!(
            checked.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        c.goto(&format!("{base}/terminals")).await.unwrap();
        text(&c, &format!("#status-{account}"), "利用中").await;
        text(&c, &format!("#checks-{account}"), "1").await;
        text(&c, &format!("#name-{account}"), "受付PC").await;
        screenshot(&c, "portal-terminals.png").await;

        // The equipment subsidy: two receipts, 22,000円 + 30,800円 = 52,800円 → 41,000円.
        let pdf = dir.path().join("receipt-reader.pdf");
        std::fs::write(&pdf, MINIMAL_PDF).unwrap();
        let png = dir.path().join("receipt-pc.png");
        std::fs::write(&png, ONE_PIXEL_PNG).unwrap();
        c.goto(&format!("{base}/claims/equipment")).await.unwrap();
        for (date, vendor, what, amount, file) in [
            (
                "2025-12-01",
                "カードリーダー販売株式会社",
                "ICカードリーダー",
                "22,000",
                &pdf,
            ),
            (
                "2025-12-05",
                "パソコン専門店",
                "受付用ノートパソコン",
                "30,800",
                &png,
            ),
        ] {
            // A date input takes keystrokes in the browser's locale: set its value instead.
            c.execute(
                "document.querySelector('#add-item-form input[name=\"purchased_on\"]').value = arguments[0];",
                vec![serde_json::Value::String(date.to_owned())],
            )
            .await
            .unwrap();
            fill(&c, "#add-item-form input[name=\"vendor\"]", vendor).await;
            fill(&c, "#add-item-form input[name=\"description\"]", what).await;
            fill(&c, "#add-item-form input[name=\"amount\"]", amount).await;
            c.find(Locator::Css("#add-item-form input[name=\"receipt\"]"))
                .await
                .unwrap()
                .send_keys(s(file))
                .await
                .unwrap();
            click(&c, "#add-item-form button[type=\"submit\"]").await;
            text(&c, "#claim-items", vendor).await;
        }
        text(&c, "#claim-total", "52,800円").await;
        text(&c, "#claim-grant", "41,000円").await;
        text(&c, "#claim-computation", "1,000円未満を切り捨てて").await;
        text(&c, "#subsidy-name", "地域診療情報連携推進費補助金").await;
        // The transfer account, typed in full-width kana.
        for (field, value) in [
            ("bank_code", "0005"),
            ("bank_name", "ミツビシＵＦＪ"),
            ("branch_code", "123"),
            ("branch_name", "シンジュク"),
            ("account_number", "7654321"),
            ("holder", "サクライ　イチロウ"),
        ] {
            fill(&c, &format!("#claim-account-form input[name=\"{field}\"]"), value).await;
        }
        click(&c, "#claim-account-form input[name=\"account_kind\"][value=\"1\"]").await;
        click(&c, "#claim-account-form button[type=\"submit\"]").await;
        text(&c, "#claim-account-holder", "ｻｸﾗｲ ｲﾁﾛｳ").await;
        // 口座確認書類 and 内訳書 beside the receipts.
        for role in ["bank", "breakdown"] {
            c.find(Locator::Css(&format!("#document-{role} input[name=\"document\"]")))
                .await
                .unwrap()
                .send_keys(s(&pdf))
                .await
                .unwrap();
            click(&c, &format!("#document-{role} button[type=\"submit\"]")).await;
            text(&c, &format!("#document-{role}"), "receipt-reader.pdf").await;
        }
        screenshot(&c, "portal-claim-equipment.png").await;
        click(&c, "#submit-claim-form button[type=\"submit\"]").await;
        text(&c, "#claim-status", "提出済み").await;
        logout_clinic(&c).await;

        // The operator reviews it (the receipts are there), approves 41,000円, exports the CSV.
        login_operator(&c, &base, &totp_code(&secret, &mut last_step)).await;
        c.goto(&format!("{base}/operator/claims")).await.unwrap();
        text(&c, "#claims-table", "さくら接骨院").await;
        click(&c, "#claims-table a[href^=\"/portal/operator/claims/\"]").await;
        text(&c, "#claim-total", "52,800円").await;
        text(&c, "#claim-grant", "41,000円").await;
        c.find(Locator::Css("img[id^=\"receipt-preview-\"]"))
            .await
            .expect("the PNG receipt previewed");
        screenshot(&c, "portal-operator-claim.png").await;
        click(&c, "#approve-form button[type=\"submit\"]").await;
        text(&c, "#claim-approved", "41,000円").await;
        let csv = fetch_text(&c, "/portal/operator/claims.csv").await;
        assert!(
            csv.contains("さくら接骨院") && csv.contains("41000"),
            "{csv}"
        );
        screenshot(&c, "portal-operator-claim-approved.png").await;

        // The payer, then the 全銀協 総合振込 file of the approved claim.
        c.goto(&format!("{base}/operator/payment")).await.unwrap();
        for (field, value) in [
            ("code", "1234567890"),
            ("name", "シャ）オンシジツシキカン"),
            ("bank_code", "0001"),
            ("bank_name", "ミズホ"),
            ("branch_code", "001"),
            ("branch_name", "トウキョウ"),
            ("account_number", "0123456"),
        ] {
            fill(&c, &format!("#payer input[name=\"{field}\"]"), value).await;
        }
        click(&c, "#payer input[name=\"account_kind\"][value=\"2\"]").await;
        click(&c, "#payer button[type=\"submit\"]").await;
        text(&c, "#payer-saved", "保存しました").await;
        screenshot(&c, "portal-operator-payment.png").await;
        let zengin = fetch_bytes(&c, "/portal/operator/claims.zengin?date=2026-02-27").await;
        assert_eq!(zengin.len(), 4 * 122, "header, one transfer, trailer, end");
        assert!(zengin.starts_with(b"12101234567890"));
        assert_eq!(&zengin[122..127], b"20005");
        assert!(zengin.windows(10).any(|w| w == b"0000041000"));

        c.close().await.unwrap();
        drop(driver);
    });
}
