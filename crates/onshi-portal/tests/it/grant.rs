//! The grant as the national claims compute it: actual cost, at most 41,000円, 1,000円未満
//! 切り捨て, the computation shown; the レセコン改修 page in words, without setting names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;

use super::claims::add_item;
use super::harness::*;

#[test]
fn the_grant_is_rounded_down_to_the_thousand_and_capped() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        // 40,999円 → 40,000円; 41,000円 → 41,000円; 52,800円 → 41,000円.
        for (amount, total, grant) in [
            ("40,999", "40,999円", "40,000円"),
            ("1", "41,000円", "41,000円"),
            ("11,800", "52,800円", "41,000円"),
        ] {
            add_item(&world, &mut a, "equipment", amount).await;
            let page = a.browser.get("/portal/claims/equipment").await;
            page.expect(StatusCode::OK);
            assert_eq!(page.by_id("claim-total").unwrap(), total);
            assert_eq!(page.by_id("claim-grant").unwrap(), grant);
            page.expect_text("1,000円未満を切り捨てて、補助額: ")
                .expect_text(&format!("領収書の合計（実費）: {total}"))
                .expect_text("上限 41,000円 を当てはめて");
        }
        // The operator sees the same computation, and cannot approve more than the rounded
        // grant.
        let (claim, _) = super::claims::last_item(&world, a.id, "equipment");
        sync(|| {
            onshi_store::portal::transaction(world.store.portal(), |tx| {
                tx.execute(
                    "DELETE FROM portal_claim_items WHERE claim_id = $1 AND amount <> 40999",
                    &[claim.into()],
                )
            })
            .unwrap()
        });
        let page = a.browser.get("/portal/claims/equipment").await;
        assert_eq!(page.by_id("claim-grant").unwrap(), "40,000円");
        super::claims::submit(&mut a, "equipment").await;
        let mut op = operator_browser(&world).await;
        let detail = op.get(&format!("/portal/operator/claims/{claim}")).await;
        detail
            .expect(StatusCode::OK)
            .expect_text("1,000円未満を切り捨てて、補助額: ");
        let csrf = detail.csrf();
        op.post(
            &format!("/portal/operator/claims/{claim}/approve"),
            &[("csrf", &csrf), ("amount", "40,999")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST)
        .expect_text("40,000円");
    });
}

#[test]
fn the_rececon_page_speaks_in_words_not_settings() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let page = a.browser.get("/portal/claims/rececon").await;
        page.expect(StatusCode::OK)
            .expect_text("50%")
            .expect_text("100,000円")
            .expect_text("1,000円未満切り捨て");
        for setting in [
            "config.toml",
            "rececon_rate_percent",
            "rececon_cap_yen",
            "[portal]",
        ] {
            assert!(!page.text().contains(setting), "{setting}");
        }
    });
}
