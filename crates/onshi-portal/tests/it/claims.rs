//! Subsidy claims: receipts add up to a capped grant; uploads too large, of the wrong type or
//! with hostile names; the deadline; the operator's approval, return and CSV export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use onshi_store::portal::transaction;

use super::harness::*;

/// A small valid PDF.
pub const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
/// The first bytes of a PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];

/// The item form's text fields.
pub fn item_fields(amount: &str) -> Vec<(&'static str, String)> {
    vec![
        ("purchased_on", "2025-10-01".to_owned()),
        ("vendor", "家電量販店".to_owned()),
        ("description", "汎用カードリーダー 1台".to_owned()),
        ("amount", amount.to_owned()),
    ]
}

/// A receipt upload of `bytes` named `name`.
pub fn upload(name: &str, content_type: &str, bytes: &[u8]) -> Upload {
    Upload {
        field: "receipt".to_owned(),
        file_name: name.to_owned(),
        content_type: content_type.to_owned(),
        bytes: bytes.to_vec(),
    }
}

/// A PDF receipt named `name`.
pub fn pdf_upload(name: &str) -> Upload {
    upload(name, "application/pdf", PDF)
}

/// Posts the item form of `kind` with `amount` and `file`; the response.
pub async fn post_item(clinic: &mut Clinic, kind: &str, amount: &str, file: Upload) -> Page {
    let page = clinic.browser.get(&format!("/portal/claims/{kind}")).await;
    page.expect(StatusCode::OK);
    let csrf = page.csrf();
    let mut fields = item_fields(amount);
    fields.push(("csrf", csrf));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    clinic
        .browser
        .post_multipart(&format!("/portal/claims/{kind}/items"), &fields, &[file])
        .await
}

/// The newest item of the clinic's claim of `kind`: (claim id, item id).
pub fn last_item(world: &World, clinic: i64, kind: &str) -> (i64, i64) {
    sync(|| {
        let row = transaction(world.store.portal(), |tx| {
            tx.query_opt(
                "SELECT c.id, i.id FROM portal_claims c JOIN portal_claim_items i ON i.claim_id = c.id
                 WHERE c.clinic_id = $1 AND c.kind = $2 ORDER BY i.id DESC LIMIT 1",
                &[clinic.into(), kind.into()],
            )
        })
        .unwrap()
        .unwrap_or_else(|| panic!("clinic {clinic} has no {kind} item"));
        (row.int(0).unwrap(), row.int(1).unwrap())
    })
}

/// Adds an item with a PDF receipt: (claim id, item id).
pub async fn add_item(world: &World, clinic: &mut Clinic, kind: &str, amount: &str) -> (i64, i64) {
    post_item(clinic, kind, amount, pdf_upload("領収書.pdf"))
        .await
        .expect_redirect(&format!(
            "/portal/claims/{kind}?done=added#claim-items-section"
        ));
    last_item(world, clinic.id, kind)
}

/// The number of items of every claim.
/// A valid transfer account form (as a clinic types it: full-width kana).
pub fn account_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("bank_code", "0005"),
        ("bank_name", "ミツビシＵＦＪ"),
        ("branch_code", "123"),
        ("branch_name", "シンジュク"),
        ("account_kind", "1"),
        ("account_number", "7654321"),
        ("holder", "ヤマダ　タロウ"),
    ]
}

/// Gives the clinic's claim of `kind` its transfer account and both documents (口座確認書類,
/// 内訳書), through the claim page's forms.
pub async fn payable(clinic: &mut Clinic, kind: &str) {
    let page = clinic.browser.get(&format!("/portal/claims/{kind}")).await;
    page.expect(StatusCode::OK);
    let csrf = page.csrf();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(account_fields());
    clinic
        .browser
        .post(&format!("/portal/claims/{kind}/account"), &form)
        .await
        .expect_redirect(&format!("/portal/claims/{kind}?done=account#claim-account"));
    for role in ["bank", "breakdown"] {
        let mut file = pdf_upload(&format!("{role}.pdf"));
        file.field = "document".to_owned();
        clinic
            .browser
            .post_multipart(
                &format!("/portal/claims/{kind}/documents/{role}"),
                &[("csrf", &csrf)],
                &[file],
            )
            .await
            .expect_redirect(&format!(
                "/portal/claims/{kind}?done=document#claim-documents"
            ));
    }
}

/// Submits the clinic's claim of `kind` (from its page, with the page's CSRF token), giving it
/// its account and documents first.
pub async fn submit(clinic: &mut Clinic, kind: &str) {
    payable(clinic, kind).await;
    let page = clinic.browser.get(&format!("/portal/claims/{kind}")).await;
    page.expect(StatusCode::OK);
    let csrf = page.csrf();
    clinic
        .browser
        .post(&format!("/portal/claims/{kind}/submit"), &[("csrf", &csrf)])
        .await
        .expect_redirect(&format!("/portal/claims/{kind}?done=submitted"));
}

fn item_count(world: &World) -> i64 {
    sync(|| {
        transaction(world.store.portal(), |tx| {
            tx.query_opt("SELECT count(*) FROM portal_claim_items", &[])
        })
        .unwrap()
        .unwrap()
        .int(0)
        .unwrap()
    })
}

#[test]
fn two_receipts_make_a_capped_grant_that_the_operator_approves_and_exports() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let page = a.browser.get("/portal/claims/equipment").await;
        page.expect(StatusCode::OK);
        assert_eq!(page.by_id("claim-status").unwrap(), "作成中（未提出）");
        assert!(page.by_id("claim-no-items").is_some());

        let (claim, first) = add_item(&world, &mut a, "equipment", "22,000").await;
        let (same_claim, second) = {
            post_item(
                &mut a,
                "equipment",
                "30800",
                upload("photo.png", "image/png", PNG),
            )
            .await
            .expect_redirect("/portal/claims/equipment?done=added#claim-items-section");
            last_item(&world, a.id, "equipment")
        };
        assert_eq!(claim, same_claim);
        assert_ne!(first, second);
        let page = a.browser.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-total").unwrap(), "52,800円");
        assert_eq!(page.by_id("claim-grant").unwrap(), "41,000円");
        assert_eq!(page.by_id("claim-id").unwrap(), claim.to_string());

        // The receipts come back as sent.
        let r = a
            .browser
            .get(&format!("/portal/claims/equipment/items/{first}/receipt"))
            .await;
        r.expect(StatusCode::OK);
        assert_eq!(r.header("content-type").as_deref(), Some("application/pdf"));
        assert_eq!(r.bytes, PDF);
        let r = a
            .browser
            .get(&format!("/portal/claims/equipment/items/{second}/receipt"))
            .await;
        assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
        assert_eq!(r.bytes, PNG);
        // Not under the other kind.
        a.browser
            .get(&format!("/portal/claims/rececon/items/{first}/receipt"))
            .await
            .expect(StatusCode::NOT_FOUND);

        // Submit: not before the account and the documents are there.
        let csrf = page.csrf();
        a.browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("振込先の口座を登録してから提出してください");
        payable(&mut a, "equipment").await;
        a.browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/claims/equipment?done=submitted");
        let page = a.browser.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-status").unwrap(), "提出済み（審査待ち）");
        assert_eq!(page.by_id("claim-requested").unwrap(), "41,000円");
        assert!(page.by_id("add-item-form").is_none());
        // Nothing changes after submission.
        post_item_after_submit(&mut a, &csrf).await;
        a.browser
            .post(
                &format!("/portal/claims/equipment/items/{first}/delete"),
                &[("csrf", &csrf)],
            )
            .await
            .expect(StatusCode::BAD_REQUEST);
        a.browser
            .post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::BAD_REQUEST);

        // The operator reviews.
        let mut op = operator_browser(&world).await;
        let list = op.get("/portal/operator/claims").await;
        list.expect(StatusCode::OK).expect_text("テスト接骨院1");
        let detail = op.get(&format!("/portal/operator/claims/{claim}")).await;
        detail
            .expect(StatusCode::OK)
            .expect_text("52,800円")
            .expect_text("41,000円");
        let r = op
            .get(&format!(
                "/portal/operator/claims/{claim}/items/{second}/receipt"
            ))
            .await;
        r.expect(StatusCode::OK);
        assert_eq!(r.bytes, PNG);
        let op_csrf = detail.csrf();
        // More than the grant is refused.
        op.post(
            &format!("/portal/operator/claims/{claim}/approve"),
            &[("csrf", &op_csrf), ("amount", "41,001")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST)
        .expect_text("41,000円");
        op.post(
            &format!("/portal/operator/claims/{claim}/approve"),
            &[("csrf", &op_csrf), ("amount", "41,000")],
        )
        .await
        .expect_redirect(&format!("/portal/operator/claims/{claim}?done=approved"));
        let page = a.browser.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-status").unwrap(), "承認済み（支払待ち）");
        assert_eq!(page.by_id("claim-approved").unwrap(), "41,000円");

        // The payment CSV holds it.
        let csv = op.get("/portal/operator/claims.csv").await;
        csv.expect(StatusCode::OK);
        assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
        assert!(csv
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment;"));
        let text = csv.text();
        let text = text
            .strip_prefix('\u{FEFF}')
            .unwrap_or_else(|| panic!("no BOM: {text}"));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1, "{text}");
        let row: Vec<&str> = rows[0].iter().collect();
        assert_eq!(row[0], claim.to_string());
        assert_eq!(row[1], a.id.to_string());
        assert_eq!(row[2], "テスト接骨院1");
        assert_eq!(row[3], "契0123451123");
        assert_eq!(row[4], "機器導入");
        assert_eq!(&row[5..8], ["41000", "41000", "承認済み"]);
        // Paid.
        op.post(
            &format!("/portal/operator/claims/{claim}/paid"),
            &[("csrf", &op_csrf)],
        )
        .await
        .expect_redirect(&format!("/portal/operator/claims/{claim}?done=paid"));
        let page = a.browser.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-status").unwrap(), "支払済み");
        let audit = op.get("/portal/operator/audit").await;
        audit.expect(StatusCode::OK);
        // Every step is in the audit, by whom it was done.
        let op_id = operator(&world);
        let mut lines: Vec<(String, i64, String)> =
            sync(|| onshi_portal::db::audit_lines(world.store.portal(), 100, 0).unwrap())
                .into_iter()
                .filter(|l| l.action.starts_with("claim"))
                .map(|l| (l.actor_role, l.actor_id, l.action))
                .collect();
        lines.reverse();
        assert_eq!(
            lines,
            [
                ("clinic".to_owned(), a.id, "claim.account".to_owned()),
                ("clinic".to_owned(), a.id, "claim.submit".to_owned()),
                ("operator".to_owned(), op_id, "claim.approve".to_owned()),
                ("operator".to_owned(), op_id, "claims.export".to_owned()),
                ("operator".to_owned(), op_id, "claim.paid".to_owned()),
            ]
        );
    });
}

async fn post_item_after_submit(a: &mut Clinic, csrf: &str) {
    let mut fields = item_fields("1,000");
    fields.push(("csrf", csrf.to_owned()));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    a.browser
        .post_multipart(
            "/portal/claims/equipment/items",
            &fields,
            &[pdf_upload("late.pdf")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST)
        .expect_text("提出済み（審査待ち）");
}

#[test]
fn a_returned_claim_is_corrected_and_submitted_again() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let (claim, item) = add_item(&world, &mut a, "rececon", "150,000").await;
        payable(&mut a, "rececon").await;
        let csrf = a.csrf().await;
        a.browser
            .post("/portal/claims/rececon/submit", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/claims/rececon?done=submitted");
        let page = a.browser.get("/portal/claims/rececon").await;
        // 50% of 150,000 = 75,000 (under the 100,000 cap).
        assert_eq!(page.by_id("claim-requested").unwrap(), "75,000円");
        let mut op = operator_browser(&world).await;
        let op_csrf = op
            .get(&format!("/portal/operator/claims/{claim}"))
            .await
            .csrf();
        op.post(
            &format!("/portal/operator/claims/{claim}/return"),
            &[("csrf", &op_csrf), ("reason", "")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
        op.post(
            &format!("/portal/operator/claims/{claim}/return"),
            &[
                ("csrf", &op_csrf),
                ("reason", "領収書の宛名が施術所名と違います。"),
            ],
        )
        .await
        .expect_redirect(&format!("/portal/operator/claims/{claim}?done=returned"));
        let page = a.browser.get("/portal/claims/rececon").await;
        page.expect_text("領収書の宛名が施術所名と違います。");
        assert!(page.by_id("claim-return-reason").is_some());
        // Corrected: the item replaced, submitted again.
        a.browser
            .post(
                &format!("/portal/claims/rececon/items/{item}/delete"),
                &[("csrf", &csrf)],
            )
            .await
            .expect_redirect("/portal/claims/rececon?done=deleted#claim-items-section");
        add_item(&world, &mut a, "rececon", "300,000").await;
        a.browser
            .post("/portal/claims/rececon/submit", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/claims/rececon?done=submitted");
        let page = a.browser.get("/portal/claims/rececon").await;
        assert_eq!(page.by_id("claim-requested").unwrap(), "100,000円");
        assert_eq!(page.by_id("claim-status").unwrap(), "提出済み（審査待ち）");
    });
}

#[test]
fn uploads_too_large_or_of_the_wrong_type_are_refused() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        // Just over 10 MB, a real PDF header.
        let mut big = PDF.to_vec();
        big.resize(onshi_portal::MAX_RECEIPT_BYTES + 1, b' ');
        let page = post_item(
            &mut a,
            "equipment",
            "22,000",
            upload("big.pdf", "application/pdf", &big),
        )
        .await;
        assert_eq!(
            page.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            page.text()
        );
        page.expect_text("領収書のファイルは10MBまでです。");
        // Far over: the request limit.
        let mut huge = PDF.to_vec();
        huge.resize(onshi_portal::MAX_REQUEST_BYTES + 1024, b' ');
        let page = post_item(
            &mut a,
            "equipment",
            "22,000",
            upload("huge.pdf", "application/pdf", &huge),
        )
        .await;
        assert_eq!(
            page.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            page.text()
        );
        page.expect_text("10MBまで");
        // Exactly 10 MB is accepted.
        let mut max = PDF.to_vec();
        max.resize(onshi_portal::MAX_RECEIPT_BYTES, b' ');
        post_item(
            &mut a,
            "equipment",
            "22,000",
            upload("max.pdf", "application/pdf", &max),
        )
        .await
        .expect_redirect("/portal/claims/equipment?done=added#claim-items-section");
        assert_eq!(item_count(&world), 1);

        // A text file named .pdf, HTML named .png: judged by their bytes.
        for (name, ct, bytes) in [
            (
                "x.pdf",
                "application/pdf",
                b"this is only text, not a PDF".as_slice(),
            ),
            (
                "x.png",
                "image/png",
                b"<html><script>alert(1)</script></html>".as_slice(),
            ),
            ("x.jpg", "image/jpeg", b"".as_slice()),
        ] {
            let page = post_item(&mut a, "equipment", "22,000", upload(name, ct, bytes)).await;
            page.expect(StatusCode::BAD_REQUEST);
            assert!(
                page.by_id("item-errors").is_some(),
                "{name}: {}",
                page.text()
            );
            let text = page.text();
            assert!(
                text.contains("PDF・JPEG・PNG のいずれか")
                    || text.contains("ファイルを選んでください"),
                "{name}: {text}"
            );
            // What was typed is kept.
            page.expect_text("value=\"家電量販店\"")
                .expect_text("value=\"22,000\"");
        }
        // Bad fields: each named.
        let csrf = a.csrf().await;
        let page = a
            .browser
            .post_multipart(
                "/portal/claims/equipment/items",
                &[
                    ("csrf", &csrf),
                    ("purchased_on", "2999-01-01"),
                    ("vendor", ""),
                    ("description", "x"),
                    ("amount", "-5"),
                ],
                &[pdf_upload("a.pdf")],
            )
            .await;
        page.expect(StatusCode::BAD_REQUEST)
            .expect_text("購入日が未来の日付になっています。")
            .expect_text("購入先を入力してください。")
            .expect_text("金額は半角数字で入力してください");
        assert_eq!(item_count(&world), 1);
        // Only the accepted receipt is on disk.
        let files = World::files_under(&world.settings.receipts);
        assert_eq!(files.len(), 1, "{files:?}");
    });
}

#[test]
fn hostile_file_names_are_never_used_as_paths() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let receipts = world.settings.receipts.clone();
        let outside_before = World::files_under(world.dir.path());
        let hostile = [
            "../../etc/passwd.pdf",
            "..\\..\\windows\\win.ini.pdf",
            "/etc/passwd.pdf",
            "receipts/../../x.pdf",
            "<script>alert(1)</script>.pdf",
            "a\"; filename=evil.html.pdf",
        ];
        for name in hostile {
            post_item(&mut a, "equipment", "1,000", pdf_upload(name))
                .await
                .expect_redirect("/portal/claims/equipment?done=added#claim-items-section");
            let (_, item) = last_item(&world, a.id, "equipment");
            let r = a
                .browser
                .get(&format!("/portal/claims/equipment/items/{item}/receipt"))
                .await;
            r.expect(StatusCode::OK);
            assert_eq!(r.bytes, PDF, "{name}");
            if let Some(d) = r.header("content-disposition") {
                assert!(
                    !d.contains("..") && !d.contains('/') && !d.contains('\\'),
                    "{name}: {d}"
                );
                assert!(!d.contains("evil.html\""), "{name}: {d}");
            }
        }
        // Every file is directly in the receipts folder, named at random.
        let files = World::files_under(&receipts);
        assert_eq!(files.len(), hostile.len(), "{files:?}");
        for f in &files {
            assert_eq!(f.components().count(), 1, "{f:?}");
            let s = f.to_string_lossy();
            assert!(
                !s.contains("passwd")
                    && !s.contains("win.ini")
                    && !s.contains("script")
                    && !s.contains("evil"),
                "{s}"
            );
        }
        // Nothing new anywhere else in the world's folder, nor next to it.
        let outside_after: Vec<_> = World::files_under(world.dir.path())
            .into_iter()
            .filter(|p| {
                !p.starts_with("receipts")
                    && !p.starts_with("outbox")
                    && !p.to_string_lossy().starts_with("portal.sqlite3")
            })
            .collect();
        let outside_before: Vec<_> = outside_before
            .into_iter()
            .filter(|p| {
                !p.starts_with("receipts")
                    && !p.starts_with("outbox")
                    && !p.to_string_lossy().starts_with("portal.sqlite3")
            })
            .collect();
        assert_eq!(outside_after, outside_before);
        for escaped in ["../../etc/passwd.pdf", "../x.pdf", "../../x.pdf"] {
            assert!(!receipts.join(escaped).exists(), "{escaped}");
        }
        // The names shown are escaped, not markup.
        let page = a.browser.get("/portal/claims/equipment").await;
        assert!(!page.text().contains("<script>alert(1)"), "{}", page.text());
    });
}

#[test]
fn after_the_deadline_nothing_can_be_added_or_submitted() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let (_, item) = add_item(&world, &mut a, "equipment", "22,000").await;
        let csrf = a.csrf().await;
        // The same store, the deadline passed (yesterday).
        let closed = settings(world.dir.path(), Options { claims_open: false });
        let app = onshi_portal::router(world.store.clone(), closed);
        let mut late = a.browser.with_app(app);
        let page = late.get("/portal/claims/equipment").await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("claims-closed").is_some(), "{}", page.text());
        assert!(page.by_id("add-item-form").is_none());
        assert!(page.by_id("submit-claim-form").is_none());
        let mut fields = item_fields("1,000");
        fields.push(("csrf", csrf.clone()));
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        late.post_multipart(
            "/portal/claims/equipment/items",
            &fields,
            &[pdf_upload("late.pdf")],
        )
        .await
        .expect(StatusCode::FORBIDDEN)
        .expect_text("申請期間は終了しました");
        late.post("/portal/claims/equipment/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::FORBIDDEN)
            .expect_text("申請期間は終了しました");
        late.post(
            &format!("/portal/claims/equipment/items/{item}/delete"),
            &[("csrf", &csrf)],
        )
        .await
        .expect(StatusCode::FORBIDDEN);
        // A kind never started: nothing to start either.
        late.post("/portal/claims/rececon/submit", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::FORBIDDEN);
        let page = late.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-status").unwrap(), "作成中（未提出）");
        assert_eq!(item_count(&world), 1);
        assert_eq!(World::files_under(&world.settings.receipts).len(), 1);
    });
}

#[test]
fn claims_need_an_approved_application() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let page = a.browser.get("/portal/claims/equipment").await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("claim-not-eligible").is_some());
        assert!(page.by_id("add-item-form").is_none());
        let csrf = page.csrf();
        let mut fields = item_fields("1,000");
        fields.push(("csrf", csrf.clone()));
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        a.browser
            .post_multipart(
                "/portal/claims/equipment/items",
                &fields,
                &[pdf_upload("a.pdf")],
            )
            .await
            .expect(StatusCode::FORBIDDEN);
        assert_eq!(item_count(&world), 0);
        assert!(World::files_under(&world.settings.receipts).is_empty());
    });
}

#[test]
fn receipts_are_served_so_that_nothing_in_them_runs() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let mut b = approved_clinic(&world, 2).await;
        let (claim_a, item_a) = add_item(&world, &mut a, "equipment", "1,000").await;
        let (claim_b, item_b) = add_item(&world, &mut b, "equipment", "2,000").await;
        let r = a
            .browser
            .get(&format!("/portal/claims/equipment/items/{item_a}/receipt"))
            .await;
        r.expect(StatusCode::OK);
        assert_eq!(
            r.header("content-security-policy").as_deref(),
            Some("sandbox")
        );
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            r.header("content-disposition").as_deref(),
            Some("inline; filename=\"receipt.pdf\"")
        );
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        // The operator's receipt route wants the item's own claim.
        let mut op = operator_browser(&world).await;
        op.get(&format!(
            "/portal/operator/claims/{claim_a}/items/{item_a}/receipt"
        ))
        .await
        .expect(StatusCode::OK);
        op.get(&format!(
            "/portal/operator/claims/{claim_a}/items/{item_b}/receipt"
        ))
        .await
        .expect(StatusCode::NOT_FOUND);
        op.get(&format!(
            "/portal/operator/claims/{claim_b}/items/{item_a}/receipt"
        ))
        .await
        .expect(StatusCode::NOT_FOUND);
        op.get("/portal/operator/claims/999999")
            .await
            .expect(StatusCode::NOT_FOUND);
        // A draft cannot be approved or paid.
        let csrf = op
            .get(&format!("/portal/operator/claims/{claim_a}"))
            .await
            .csrf();
        op.post(
            &format!("/portal/operator/claims/{claim_a}/approve"),
            &[("csrf", &csrf), ("amount", "1000")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
        op.post(
            &format!("/portal/operator/claims/{claim_a}/paid"),
            &[("csrf", &csrf)],
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
        // The CSV holds only approved and paid claims.
        let csv = op.get("/portal/operator/claims.csv").await;
        let text = csv.text();
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 1, "{text}");
    });
}
