//! Information pages (お知らせ, FAQ, 問い合わせ, the national articles, the subsidy's name) and
//! the late correction window of returned claims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use onshi_store::portal::transaction;

use super::harness::*;

#[test]
fn the_operator_posts_notices_that_clinics_read_newest_first() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let mut op = operator_browser(&world).await;
        let csrf = op.get("/portal/operator/notices").await.csrf();
        op.post(
            "/portal/operator/notices",
            &[("csrf", &csrf), ("title", ""), ("body", "本文")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST)
        .expect_text("件名を入力してください。");
        for (title, body) in [
            (
                "申請受付を開始しました",
                "機器導入の補助の申請を受け付けています。",
            ),
            ("レセコン改修の補助率について", "補助率が決まりました。"),
        ] {
            op.post(
                "/portal/operator/notices",
                &[("csrf", &csrf), ("title", title), ("body", body)],
            )
            .await
            .expect_redirect("/portal/operator/notices");
        }
        // Anyone reads them, newest first.
        let page = world.browser().get("/portal/notices").await;
        page.expect(StatusCode::OK);
        let text = page.text();
        let first = text.find("レセコン改修の補助率について").unwrap();
        let second = text.find("申請受付を開始しました").unwrap();
        assert!(first < second, "not newest first");
        page.expect_text("資格確認限定型レセコン連携機能について")
            .expect_text("KB0010175");
        // New ones on the clinic's home page.
        a.browser
            .get("/portal/home")
            .await
            .expect_text("新着のお知らせ")
            .expect_text("補助率が決まりました。");
        // Audited.
        let audit = sync(|| onshi_portal::db::audit_lines(world.store.portal(), 10, 0).unwrap());
        assert_eq!(
            audit.iter().filter(|l| l.action == "notice.post").count(),
            2
        );
    });
}

#[test]
fn the_faq_starts_from_the_notice_and_the_operator_edits_it() {
    each_engine(Options::default(), |world| async move {
        let page = world.browser().get("/portal/faq").await;
        page.expect(StatusCode::OK)
            .expect_text("最大4.1万円")
            .expect_text("令和8年1月15日")
            .expect_text("地域診療情報連携推進費補助金");
        let mut op = operator_browser(&world).await;
        let edit = op.get("/portal/operator/faq").await;
        let csrf = edit.csrf();
        op.post(
            "/portal/operator/faq",
            &[
                ("csrf", csrf.as_str()),
                ("position", "5"),
                ("question", "スマートフォンだけで使えますか。"),
                ("answer", "カードリーダーがなくても読み取れます。"),
            ],
        )
        .await
        .expect_redirect("/portal/operator/faq");
        let page = world.browser().get("/portal/faq").await;
        let text = page.text();
        assert!(
            text.find("スマートフォンだけで使えますか").unwrap()
                < text.find("どの施術所が補助の対象ですか").unwrap(),
            "position 5 comes first"
        );
        // Removed.
        let id = sync(|| {
            onshi_portal::info::queries::faq(world.store.portal())
                .unwrap()
                .into_iter()
                .find(|f| f.position == 5)
                .unwrap()
                .id
        });
        op.post(
            "/portal/operator/faq",
            &[("csrf", &csrf), ("id", &id.to_string()), ("delete", "1")],
        )
        .await
        .expect_redirect("/portal/operator/faq");
        assert!(!world
            .browser()
            .get("/portal/faq")
            .await
            .text()
            .contains("スマートフォンだけで使えますか"));
    });
}

#[test]
fn a_question_reaches_the_operator_and_the_answer_comes_by_mail() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let page = a.browser.get("/portal/contact").await;
        page.expect(StatusCode::OK);
        let csrf = page.csrf();
        a.browser
            .post(
                "/portal/contact",
                &[("csrf", &csrf), ("subject", ""), ("body", "")],
            )
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("件名を入力してください。")
            .expect_text("お問い合わせの内容を入力してください。");
        a.browser
            .post(
                "/portal/contact",
                &[
                    ("csrf", &csrf),
                    ("subject", "領収書の宛名について"),
                    ("body", "宛名が個人名の領収書でも申請できますか。"),
                ],
            )
            .await
            .expect_redirect("/portal/contact?done=sent");
        let rows = sync(|| {
            onshi_store::portal::read(world.store.portal(), |tx| {
                tx.query_opt("SELECT count(*) FROM portal_inquiries", &[])?
                    .unwrap()
                    .int(0)
            })
            .unwrap()
        });
        assert_eq!(rows, 1);
        let mut op = operator_browser(&world).await;
        let inbox = op.get("/portal/operator/inquiries").await;
        inbox
            .expect(StatusCode::OK)
            .expect_text("領収書の宛名について")
            .expect_text("宛名が個人名の領収書でも申請できますか。");
        let id = sync(|| onshi_portal::info::queries::inbox(world.store.portal()).unwrap()[0].id);
        let c = inbox.csrf();
        let path = format!("/portal/operator/inquiries/{id}/reply");
        op.post(
            &path,
            &[
                ("csrf", &c),
                ("reply", "施術所名の記載があれば申請できます。"),
            ],
        )
        .await
        .expect_redirect("/portal/operator/inquiries");
        // Once only.
        op.post(&path, &[("csrf", &c), ("reply", "二度目")])
            .await
            .expect(StatusCode::BAD_REQUEST);
        let mail = world
            .mails()
            .into_iter()
            .find(|m| m.subject.contains("領収書の宛名について"))
            .expect("no reply mail");
        assert_eq!(mail.to, a.email);
        assert!(mail.body.contains("施術所名の記載があれば申請できます。"));
        a.browser
            .get("/portal/contact")
            .await
            .expect_text("施術所名の記載があれば申請できます。");
        a.browser
            .get("/portal/home")
            .await
            .expect_text("お問い合わせ「領収書の宛名について」への回答");
    });
}

#[test]
fn claim_pages_name_the_subsidy_and_the_national_articles() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        for kind in ["equipment", "rececon"] {
            let page = a.browser.get(&format!("/portal/claims/{kind}")).await;
            page.expect(StatusCode::OK)
                .expect_text("地域診療情報連携推進費補助金")
                .expect_text("KB0011734");
        }
    });
}

/// Puts a returned equipment claim of `clinic` into the store, returned `days` ago, with one
/// item, its account and its documents.
fn returned_claim(world: &World, clinic: i64, days: i64) {
    let returned = (Utc::now() - Duration::days(days)).timestamp();
    sync(|| {
        transaction(world.store.portal(), |tx| {
            let id = tx
                .query_opt(
                    "INSERT INTO portal_claims (clinic_id, kind, status, requested_amount, return_reason, submitted_at, decided_at, returned_at, created_at,
                        bank_code, bank_name, branch_code, branch_name, account_kind, account_number, account_holder)
                     VALUES ($1, 'equipment', 'returned', 10000, '内訳書がありません。', $2, $2, $2, $2,
                        '0005', 'ﾐﾂﾋﾞｼUFJ', '123', 'ｼﾝｼﾞﾕｸ', '1', '7654321', 'ﾔﾏﾀﾞ ﾀﾛｳ') RETURNING id",
                    &[clinic.into(), returned.into()],
                )?
                .unwrap()
                .int(0)?;
            tx.execute(
                "INSERT INTO portal_claim_items (claim_id, purchased_on, vendor, description, amount, receipt_file, receipt_type, receipt_name, receipt_size, created_at)
                 VALUES ($1, '2025-10-01', '店', 'カードリーダー', 10000, $2, 'pdf', 'r.pdf', 10, $3)",
                &[id.into(), format!("{clinic:032x}").into(), returned.into()],
            )?;
            tx.execute(
                "INSERT INTO portal_claim_documents (claim_id, role, file, file_type, file_name, file_size, created_at)
                 VALUES ($1, 'bank', $2, 'pdf', 'b.pdf', 10, $3)",
                &[id.into(), format!("{clinic:031x}b").into(), returned.into()],
            )
        })
        .unwrap()
    });
}

#[test]
fn a_returned_claim_may_be_corrected_after_the_deadline_within_its_window() {
    each_engine(Options { claims_open: false }, |world| async move {
        // Returned 3 days ago: inside the 14-day window.
        let mut inside = approved_clinic(&world, 1).await;
        returned_claim(&world, inside.id, 3);
        let page = inside.browser.get("/portal/claims/equipment").await;
        page.expect(StatusCode::OK).expect_text("差戻しから14日間");
        assert!(page.by_id("claims-closed").is_none());
        // Corrected: the missing 内訳書 added, submitted again.
        let csrf = page.csrf();
        let mut file = super::claims::pdf_upload("内訳書.pdf");
        file.field = "document".to_owned();
        inside
            .browser
            .post_multipart(
                "/portal/claims/equipment/documents/breakdown",
                &[("csrf", &csrf)],
                &[file],
            )
            .await
            .expect_redirect("/portal/claims/equipment?done=document#claim-documents");
        inside
            .browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/claims/equipment?done=submitted");
        // Submitted: the window is over for it.
        inside
            .browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::FORBIDDEN);

        // Returned 15 days ago: outside; nothing may change.
        let mut outside = approved_clinic(&world, 2).await;
        returned_claim(&world, outside.id, 15);
        let page = outside.browser.get("/portal/claims/equipment").await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("claims-closed").is_some());
        page.expect_text("差戻しから14日間は期限後でも");
        let csrf = page.csrf();
        outside
            .browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::FORBIDDEN)
            .expect_text("申請期間は終了しました");
    });
}

#[test]
fn someone_who_cannot_log_in_asks_without_an_account_and_gets_the_answer_by_mail() {
    each_engine(Options::default(), |world| async move {
        let mut guest = world.browser();
        guest
            .submit(
                "/portal/contact",
                "/portal/contact",
                &[("email", "not-an-address"), ("subject", "x"), ("body", "y")],
            )
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("メールアドレスの形式が正しくありません");
        guest
            .submit(
                "/portal/contact",
                "/portal/contact",
                &[
                    ("email", "owner@example.jp"),
                    ("subject", "登録記号番号が登録済みと言われます"),
                    ("body", "契0123456-1-23 は当院の番号です。"),
                ],
            )
            .await
            .expect_redirect("/portal/contact?done=sent");
        let rows = sync(|| {
            onshi_store::portal::read(world.store.portal(), |tx| {
                tx.query_opt("SELECT count(*) FROM portal_inquiries", &[])?
                    .unwrap()
                    .int(0)
            })
            .unwrap()
        });
        assert_eq!(rows, 1);
        let mut op = operator_browser(&world).await;
        let inbox = op.get("/portal/operator/inquiries").await;
        inbox
            .expect_text("ログイン前の問い合わせ: owner@example.jp")
            .expect_text("契0123456-1-23 は当院の番号です。");
        let id = sync(|| onshi_portal::info::queries::inbox(world.store.portal()).unwrap()[0].id);
        op.post(
            &format!("/portal/operator/inquiries/{id}/reply"),
            &[
                ("csrf", inbox.csrf().as_str()),
                ("reply", "登録内容を確認しました。"),
            ],
        )
        .await
        .expect_redirect("/portal/operator/inquiries");
        let mail = world
            .mails()
            .into_iter()
            .find(|m| m.to == "owner@example.jp")
            .expect("no answer mailed");
        assert!(mail.body.contains("登録内容を確認しました。"));
    });
}
