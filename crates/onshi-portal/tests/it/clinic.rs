//! A clinic's way in: registration (errors in Japanese, values kept), the confirmation mail,
//! login before and after confirmation, the 利用開始申請 and the operator's approval.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;

use super::harness::*;

#[test]
fn registration_errors_are_in_japanese_and_keep_the_values() {
    each_engine(Options::default(), |world| async move {
        let mut browser = world.browser();
        let form = ClinicForm {
            name: String::new(),
            kinds: vec![],
            director: " ".to_owned(),
            registration: "abc".to_owned(),
            registration_ahaki: String::new(),
            address: String::new(),
            phone: "12345".to_owned(),
            email: "not-an-email".to_owned(),
            password: "short".to_owned(),
            password_confirm: "short".to_owned(),
        };
        let page = register(&mut browser, &form).await;
        page.expect(StatusCode::BAD_REQUEST);
        assert!(page.by_id("form-errors").is_some(), "{}", page.text());
        for message in [
            "施術所名を入力してください。",
            "施術所の種類を1つ以上選んでください。",
            "院長（管理者）の氏名を入力してください。",
            "柔道整復の登録記号番号は「協」または「契」で始まります",
            "所在地を入力してください。",
            "電話番号は0から始まる10桁または11桁の数字",
            "メールアドレスの形式が正しくありません",
            "パスワードは10文字以上にしてください。",
        ] {
            page.expect_text(message);
        }
        // What was typed stays (except the passwords).
        for kept in ["value=\"abc\"", "value=\"12345\"", "value=\"not-an-email\""] {
            page.expect_text(kept);
        }
        assert!(!page.text().contains("value=\"short\""));
        assert!(world.mails().is_empty());

        // One error left: the rest of the form (checkboxes too) is kept.
        let mut form = ClinicForm::valid(1);
        form.kinds = vec!["judo".to_owned(), "hari".to_owned()];
        form.password_confirm = "something else!".to_owned();
        let page = register(&mut browser, &form).await;
        page.expect(StatusCode::BAD_REQUEST)
            .expect_text("確認用のパスワードが一致しません。")
            .expect_text(&format!("value=\"{}\"", form.name))
            .expect_text(&format!("value=\"{}\"", form.email))
            .expect_text("value=\"judo\" checked")
            .expect_text("value=\"hari\" checked");
        assert!(!page.text().contains("value=\"anma\" checked"));
        // An unknown kind is refused.
        let mut form = ClinicForm::valid(1);
        form.kinds = vec!["surgery".to_owned()];
        register(&mut browser, &form)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("施術所の種類を1つ以上選んでください。");
        assert!(world.mails().is_empty());
        let clinics = sync(|| world.store.clinics().unwrap());
        assert!(clinics.is_empty(), "{clinics:?}");
    });
}

#[test]
fn registration_numbers_with_and_without_hyphens() {
    each_engine(Options::default(), |world| async move {
        let mut a = ClinicForm::valid(1);
        a.registration = "契0123451-1-23".to_owned();
        let mut b = ClinicForm::valid(2);
        b.registration = "契0123452123".to_owned();
        for form in [&a, &b] {
            let mut browser = world.browser();
            register(&mut browser, form).await.expect(StatusCode::OK);
        }
        let ra = sync(|| {
            onshi_portal::db::account(world.store.portal(), clinic_id(&world, &a.email))
                .unwrap()
                .unwrap()
                .registration
        });
        let rb = sync(|| {
            onshi_portal::db::account(world.store.portal(), clinic_id(&world, &b.email))
                .unwrap()
                .unwrap()
                .registration
        });
        assert_eq!(ra, "契0123451123");
        assert_eq!(rb, "契0123452123");
    });
}

#[test]
fn register_confirm_login_apply_and_approval() {
    each_engine(Options::default(), |world| async move {
        let form = ClinicForm::valid(1);
        let mut browser = world.browser();
        let page = register(&mut browser, &form).await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("registered").unwrap().contains(&form.email));

        // The mail.
        let mails = world.mails();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].to, form.email);
        assert_eq!(
            mails[0].subject,
            "【施術所等向け総合ポータルサイト】メールアドレスの確認"
        );
        assert!(mails[0].body.contains(&form.name), "{}", mails[0].body);
        let link = world.link(&form.email, "/portal/confirm");

        // The same address again is refused.
        let mut other = world.browser();
        let mut again = ClinicForm::valid(2);
        again.email = form.email.to_uppercase();
        register(&mut other, &again)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このメールアドレスはすでに登録されています。");
        assert_eq!(sync(|| world.store.clinics().unwrap()).len(), 1);

        // No login before the confirmation.
        login(&mut browser, &form.email, &form.password)
            .await
            .expect(StatusCode::UNAUTHORIZED)
            .expect_text("メールアドレスの確認が済んでいません。");
        assert!(!browser.jar.contains_key("__Host-onshi-portal"));

        // A wrong link, the right one, then the right one again.
        browser
            .get("/portal/confirm?token=0123")
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このリンクは正しくありません。");
        let page = browser.get(&link).await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("confirmed").is_some(), "{}", page.text());
        browser
            .get(&link)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このリンクはすでに使われています。");

        // A wrong password, then the right one.
        login(&mut browser, &form.email, "wrong password!")
            .await
            .expect(StatusCode::UNAUTHORIZED)
            .expect_text("メールアドレスまたはパスワードが違います。");
        login(&mut browser, &form.email.to_uppercase(), &form.password)
            .await
            .expect_redirect("/portal/home");
        browser
            .get("/portal/")
            .await
            .expect_redirect("/portal/home");
        let home = browser.get("/portal/home").await;
        home.expect(StatusCode::OK);
        assert_eq!(home.by_id("clinic-name").unwrap(), form.name);
        assert_eq!(home.by_id("application-status").unwrap(), "未申請");
        home.expect_text("契0123451-1-23");

        // 利用開始申請.
        let csrf = home.csrf();
        browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/home");
        let home = browser.get("/portal/home").await;
        assert_eq!(
            home.by_id("application-status").unwrap(),
            "申請中（審査待ち）"
        );
        browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("いまは申請できません");

        // The operator approves.
        let id = clinic_id(&world, &form.email);
        approve(&world, id).await;
        let home = browser.get("/portal/home").await;
        assert_eq!(home.by_id("application-status").unwrap(), "承認済み");
        home.expect_text("/portal/terminals");
    });
}

/// The operator approves clinic `id` on its page.
pub async fn approve(world: &World, id: i64) {
    let mut op = operator_browser(world).await;
    let page = op.get(&format!("/portal/operator/clinics/{id}")).await;
    page.expect(StatusCode::OK);
    assert_eq!(
        page.by_id("application-status").unwrap(),
        "申請中（審査待ち）"
    );
    let csrf = page.csrf();
    op.post(
        &format!("/portal/operator/clinics/{id}/approve"),
        &[("csrf", &csrf)],
    )
    .await
    .expect_redirect(&format!("/portal/operator/clinics/{id}?done=approved"));
    let page = op
        .get(&format!("/portal/operator/clinics/{id}?done=approved"))
        .await;
    assert_eq!(page.by_id("application-status").unwrap(), "承認済み");
    assert!(page.by_id("decision-done").is_some());
    // Once only.
    op.post(
        &format!("/portal/operator/clinics/{id}/approve"),
        &[("csrf", &csrf)],
    )
    .await
    .expect(StatusCode::CONFLICT)
    .expect_text("審査待ちの利用開始申請がないため");
}

#[test]
fn a_rejected_application_shows_the_reason_and_can_be_made_again() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let csrf = a.csrf().await;
        a.browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/home");
        let mut op = operator_browser(&world).await;
        let id = a.id;
        let page = op.get("/portal/operator/clinics").await;
        page.expect(StatusCode::OK).expect_text("テスト接骨院1");
        let op_csrf = op
            .get(&format!("/portal/operator/clinics/{id}"))
            .await
            .csrf();
        // A reason is required.
        op.post(
            &format!("/portal/operator/clinics/{id}/reject"),
            &[("csrf", &op_csrf), ("reason", "  ")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST)
        .expect_text("差戻しの理由を入力してください。");
        let reason = "登録記号番号が受領委任の名簿と一致しません。";
        op.post(
            &format!("/portal/operator/clinics/{id}/reject"),
            &[("csrf", &op_csrf), ("reason", reason)],
        )
        .await
        .expect_redirect(&format!("/portal/operator/clinics/{id}?done=rejected"));
        let home = a.browser.get("/portal/home").await;
        assert_eq!(home.by_id("application-status").unwrap(), "差戻し");
        home.expect_text(reason);
        // Unknown clinics are not found.
        op.get("/portal/operator/clinics/999999")
            .await
            .expect(StatusCode::NOT_FOUND);
        op.post(
            "/portal/operator/clinics/999999/approve",
            &[("csrf", &op_csrf)],
        )
        .await
        .expect(StatusCode::NOT_FOUND);
        op.get("/portal/operator/clinics/abc")
            .await
            .expect(StatusCode::NOT_FOUND);
        // Applied again, approved.
        a.browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/home");
        approve(&world, id).await;
        // Every decision is in the audit, by the operator.
        let op_id = operator(&world);
        let lines = sync(|| onshi_portal::db::audit_lines(world.store.portal(), 100, 0).unwrap());
        let decisions: Vec<(String, i64, String)> = lines
            .iter()
            .filter(|l| l.target == format!("clinic:{id}") && l.actor_role == "operator")
            .map(|l| (l.action.clone(), l.actor_id, l.detail.clone()))
            .collect();
        assert_eq!(
            decisions,
            [
                ("application.approve".to_owned(), op_id, String::new()),
                ("application.reject".to_owned(), op_id, reason.to_owned()),
            ]
        );
        let page = op.get("/portal/operator/audit").await;
        page.expect(StatusCode::OK);
    });
}

#[test]
fn clinic_input_is_escaped_on_every_page_and_in_the_csv() {
    each_engine(Options::default(), |world| async move {
        let mut form = ClinicForm::valid(1);
        form.name = "=HYPERLINK(\"http://evil.example\",\"<script>alert(1)</script>\")".to_owned();
        form.director = "<img src=x onerror=alert(2)>".to_owned();
        let mut browser = world.browser();
        register(&mut browser, &form).await.expect(StatusCode::OK);
        let link = world.link(&form.email, "/portal/confirm");
        browser.get(&link).await.expect(StatusCode::OK);
        login(&mut browser, &form.email, &form.password)
            .await
            .expect_redirect("/portal/home");
        let mut a = Clinic {
            id: clinic_id(&world, &form.email),
            email: form.email.clone(),
            password: form.password.clone(),
            browser,
        };
        let home = a.browser.get("/portal/home").await;
        for raw in ["<script>alert(1)", "<img src=x"] {
            assert!(!home.text().contains(raw), "home: {raw}");
        }
        let csrf = home.csrf();
        a.browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/home");
        approve(&world, a.id).await;
        let (claim, _) = super::claims::add_item(&world, &mut a, "equipment", "10,000").await;
        super::claims::payable(&mut a, "equipment").await;
        a.browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/claims/equipment?done=submitted");
        let mut op = operator_browser(&world).await;
        for path in [
            "/portal/operator/".to_owned(),
            "/portal/operator/clinics".to_owned(),
            format!("/portal/operator/clinics/{}", a.id),
            "/portal/operator/claims".to_owned(),
            format!("/portal/operator/claims/{claim}"),
            "/portal/operator/audit".to_owned(),
        ] {
            let page = op.get(&path).await;
            page.expect(StatusCode::OK);
            for raw in ["<script>alert(1)", "<img src=x"] {
                assert!(!page.text().contains(raw), "{path}: {raw}");
            }
        }
        let op_csrf = op
            .get(&format!("/portal/operator/claims/{claim}"))
            .await
            .csrf();
        op.post(
            &format!("/portal/operator/claims/{claim}/approve"),
            &[("csrf", &op_csrf), ("amount", "10000")],
        )
        .await
        .expect_redirect(&format!("/portal/operator/claims/{claim}?done=approved"));
        let csv = op.get("/portal/operator/claims.csv").await;
        let text = csv.text();
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{FEFF}').as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(
            &row[2],
            format!("'{}", form.name),
            "a formula must not reach Excel"
        );
    });
}

/// A clinic whose confirmation link expired (72 hours) must have a way in: registering again
/// says the address is taken, and the login says to open the (dead) link. A password reset
/// proves the mailbox as well as the link did, so it is the way this test takes.
#[test]
fn an_expired_confirmation_link_is_not_a_dead_end() {
    each_engine(Options::default(), |world| async move {
        let form = ClinicForm::valid(1);
        let mut browser = world.browser();
        register(&mut browser, &form).await.expect(StatusCode::OK);
        sync(|| {
            onshi_store::portal::transaction(world.store.portal(), |tx| {
                tx.execute("UPDATE portal_tokens SET expires_at = 1", &[])
            })
            .unwrap()
        });
        let link = world.link(&form.email, "/portal/confirm");
        browser
            .get(&link)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("有効期限が切れています");
        register(&mut world.browser(), &form)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("すでに登録されています");
        // The reset mail proves the mailbox.
        browser
            .submit("/portal/reset", "/portal/reset", &[("email", &form.email)])
            .await
            .expect(StatusCode::OK);
        let link = world.link(&form.email, "/portal/reset/confirm");
        let token = link.split("token=").nth(1).unwrap().to_owned();
        let csrf = browser.get(&link).await.csrf();
        browser
            .post(
                "/portal/reset/confirm",
                &[
                    ("csrf", &csrf),
                    ("token", &token),
                    ("password", "a brand new password"),
                    ("password_confirm", "a brand new password"),
                ],
            )
            .await
            .expect(StatusCode::OK);
        login(&mut browser, &form.email, "a brand new password")
            .await
            .expect_redirect("/portal/home");
    });
}
