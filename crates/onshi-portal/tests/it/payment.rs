//! Paid to the right account: the transfer account checked in the 全銀 character set, the
//! documents beside the receipts, the operator's 全銀 file and CSV; a mail and a home-page
//! message for every decision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;

use super::claims::{account_fields, add_item, payable};
use super::harness::*;

#[test]
fn malformed_account_fields_are_refused_and_nothing_is_stored() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let page = a.browser.get("/portal/claims/equipment").await;
        let csrf = page.csrf();
        let form = [
            ("csrf", csrf.as_str()),
            ("bank_code", "12"),
            ("bank_name", "三菱UFJ銀行"),
            ("branch_code", "12a"),
            ("branch_name", "シンジュク"),
            ("account_kind", "5"),
            ("account_number", "12345678"),
            ("holder", "ヤマダ　タロウ"),
        ];
        let page = a
            .browser
            .post("/portal/claims/equipment/account", &form)
            .await;
        page.expect(StatusCode::BAD_REQUEST)
            .expect_text("金融機関コードは数字4桁で入力してください。")
            .expect_text("金融機関名（カナ）に振込で使えない文字「三」があります")
            .expect_text("支店コードは数字3桁で入力してください。")
            .expect_text("預金種目（普通・当座）を選んでください。")
            .expect_text("口座番号は数字7桁で入力してください。")
            // What was typed stays.
            .expect_text("value=\"三菱UFJ銀行\"");
        let page = a.browser.get("/portal/claims/equipment").await;
        assert!(page.by_id("claim-account-none").is_some());
        // Not submittable without account and documents.
        add_item(&world, &mut a, "equipment", "10,000").await;
        let page = a.browser.get("/portal/claims/equipment").await;
        assert!(page.by_id("submit-needs").is_some());
        a.browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("振込先の口座を登録してから提出してください");
        // The account alone is not enough either.
        let mut good = vec![("csrf", csrf.as_str())];
        good.extend(account_fields());
        a.browser
            .post("/portal/claims/equipment/account", &good)
            .await
            .expect(StatusCode::SEE_OTHER);
        let page = a.browser.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-account-holder").unwrap(), "ﾔﾏﾀﾞ ﾀﾛｳ");
        a.browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("口座確認書類（通帳の写し等）のファイルを登録してから提出してください。");
        // A document that is not a PDF/JPEG/PNG is refused.
        let bad = Upload {
            field: "document".to_owned(),
            file_name: "x.txt".to_owned(),
            content_type: "application/pdf".to_owned(),
            bytes: b"hello".to_vec(),
        };
        a.browser
            .post_multipart(
                "/portal/claims/equipment/documents/bank",
                &[("csrf", &csrf)],
                &[bad],
            )
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("PDF・JPEG・PNG");
        // Each document is served back to its clinic.
        payable(&mut a, "equipment").await;
        let doc = a
            .browser
            .get("/portal/claims/equipment/documents/breakdown")
            .await;
        doc.expect(StatusCode::OK);
        assert_eq!(doc.bytes, super::claims::PDF);
    });
}

/// The data record of one transfer, written by hand from the layout (each half-width
/// character is one byte, so padding by characters pads by bytes): the test's clinic's
/// account (account_fields) and the claim's id as 顧客コード1.
fn data_record(claim: i64, amount: i64) -> Vec<u8> {
    let sjis = |s: &str| encoding_rs::SHIFT_JIS.encode(s).0.into_owned();
    let mut r = b"2".to_vec();
    r.extend(b"0005");
    r.extend(sjis(&format!("{:<15}", "ﾐﾂﾋﾞｼUFJ")));
    r.extend(b"123");
    r.extend(sjis(&format!("{:<15}", "ｼﾝｼﾞﾕｸ")));
    r.extend(b"0000");
    r.extend(b"1");
    r.extend(b"7654321");
    r.extend(sjis(&format!("{:<30}", "ﾔﾏﾀﾞ ﾀﾛｳ")));
    r.extend(format!("{amount:010}").as_bytes());
    r.extend(b"0");
    r.extend(format!("{claim:010}").as_bytes());
    r.extend(b"0000000000");
    r.extend(b"7");
    r.extend(b" ");
    r.extend(b"       ");
    r
}

#[test]
fn the_operator_exports_the_approved_claims_as_a_zengin_file() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let (claim, _) = add_item(&world, &mut a, "equipment", "52,800").await;
        super::claims::submit(&mut a, "equipment").await;
        let mut op = operator_browser(&world).await;
        // Without a payer there is no file.
        let page = op.get("/portal/operator/payment").await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("payer-missing").is_some());
        op.get("/portal/operator/claims.zengin?date=2026-02-27")
            .await
            .expect(StatusCode::BAD_REQUEST);
        let csrf = page.csrf();
        // The payer as typed in full width; a wrong code is refused.
        let mut payer = vec![
            ("csrf", csrf.as_str()),
            ("code", "123456789"),
            ("name", "シャ）オンシジツシキカン"),
            ("bank_code", "0001"),
            ("bank_name", "ミズホ"),
            ("branch_code", "001"),
            ("branch_name", "トウキョウ"),
            ("account_kind", "2"),
            ("account_number", "0123456"),
        ];
        op.post("/portal/operator/payment", &payer)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("振込依頼人コードは数字10桁");
        payer[1].1 = "1234567890";
        op.post("/portal/operator/payment", &payer)
            .await
            .expect_redirect("/portal/operator/payment?done=saved");
        // Approved: in the file; the header is the fixture's (same payer, same date).
        let detail = op.get(&format!("/portal/operator/claims/{claim}")).await;
        detail.expect_text("ﾔﾏﾀﾞ ﾀﾛｳ");
        op.post(
            &format!("/portal/operator/claims/{claim}/approve"),
            &[("csrf", &detail.csrf()), ("amount", "41,000")],
        )
        .await
        .expect_redirect(&format!("/portal/operator/claims/{claim}?done=approved"));
        let file = op
            .get("/portal/operator/claims.zengin?date=2026-02-27")
            .await;
        file.expect(StatusCode::OK);
        assert!(file
            .header("content-disposition")
            .unwrap()
            .contains("sogo-furikomi-20260227.txt"));
        let fixture = include_bytes!("../fixtures/zengin-sogo-furikomi.txt");
        let mut want = fixture[..122].to_vec();
        want.extend(data_record(claim, 41_000));
        want.extend(b"\r\n");
        want.extend(b"8000001000000041000");
        want.extend([b' '; 101]);
        want.extend(b"\r\n9");
        want.extend([b' '; 119]);
        want.extend(b"\r\n");
        assert_eq!(
            file.bytes,
            want,
            "\n{}\n{}",
            encoding_rs::SHIFT_JIS.decode(&file.bytes).0,
            encoding_rs::SHIFT_JIS.decode(&want).0
        );
        // The CSV names the account too.
        let csv = op.get("/portal/operator/claims.csv").await;
        csv.expect_text("0005,ﾐﾂﾋﾞｼUFJ,123,ｼﾝｼﾞﾕｸ,普通,7654321,ﾔﾏﾀﾞ ﾀﾛｳ");
        // Paid: no longer in the file.
        op.post(
            &format!("/portal/operator/claims/{claim}/paid"),
            &[("csrf", &detail.csrf())],
        )
        .await
        .expect_redirect(&format!("/portal/operator/claims/{claim}?done=paid"));
        let file = op
            .get("/portal/operator/claims.zengin?date=2026-02-27")
            .await;
        assert_eq!(file.bytes.len(), 3 * 122);
    });
}

#[test]
fn every_decision_is_mailed_and_shown_on_the_home_page() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let csrf = a.csrf().await;
        a.browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/home");
        let mut op = operator_browser(&world).await;
        let page = op.get(&format!("/portal/operator/clinics/{}", a.id)).await;
        let op_csrf = page.csrf();
        op.post(
            &format!("/portal/operator/clinics/{}/reject", a.id),
            &[
                ("csrf", &op_csrf),
                ("reason", "登録記号番号が名簿にありません。"),
            ],
        )
        .await;
        a.browser
            .post("/portal/apply", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/home");
        op.post(
            &format!("/portal/operator/clinics/{}/approve", a.id),
            &[("csrf", &op_csrf)],
        )
        .await;
        let (claim, _) = add_item(&world, &mut a, "equipment", "40,999").await;
        super::claims::submit(&mut a, "equipment").await;
        let detail = op.get(&format!("/portal/operator/claims/{claim}")).await;
        let c = detail.csrf();
        let claim_path = format!("/portal/operator/claims/{claim}");
        op.post(
            &format!("{claim_path}/return"),
            &[("csrf", &c), ("reason", "内訳書の金額が領収書と違います。")],
        )
        .await
        .expect_redirect(&format!("{claim_path}?done=returned"));
        super::claims::submit(&mut a, "equipment").await;
        op.post(
            &format!("{claim_path}/approve"),
            &[("csrf", &c), ("amount", "40,000")],
        )
        .await
        .expect_redirect(&format!("{claim_path}?done=approved"));
        op.post(&format!("{claim_path}/paid"), &[("csrf", &c)])
            .await
            .expect_redirect(&format!("{claim_path}?done=paid"));
        let mails: Vec<Mail> = world
            .mails()
            .into_iter()
            .filter(|m| m.to == a.email)
            .collect();
        let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
        for (subject, body) in [
            (
                "利用開始申請が差し戻されました",
                "登録記号番号が名簿にありません。",
            ),
            ("利用開始申請が承認されました", "受付端末"),
            (
                "機器導入の補助金申請が差し戻されました",
                "内訳書の金額が領収書と違います。",
            ),
            ("機器導入の補助金申請が承認されました", "承認額: 40,000円"),
            ("機器導入の補助金をお振り込みしました", "40,000円"),
        ] {
            let m = mails
                .iter()
                .find(|m| m.subject.contains(subject))
                .unwrap_or_else(|| panic!("no mail {subject:?} in {subjects:?}"));
            assert!(m.body.contains(body), "{subject}: {}", m.body);
        }
        let home = a.browser.get("/portal/home").await;
        home.expect(StatusCode::OK)
            .expect_text("承認額: 40,000円")
            .expect_text("内訳書の金額が領収書と違います。")
            .expect_text("登録記号番号が名簿にありません。");
    });
}
