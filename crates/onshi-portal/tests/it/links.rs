//! The wrong-link guard's page for operators (issue 15), on both engines: held and name-only
//! links listed with what differed and counted on the dashboard; a release or hold needs a
//! reason, is audited with the operator, and changes what the service answers; clinics never
//! reach the page.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use chrono::Utc;
use onshi_store::link_checks::{self, HolderRecord, LinkCheck, LinkStatus};

use super::harness::*;

fn check(serial: &str, person: &str, status: LinkStatus, differences: &[&str]) -> LinkCheck {
    LinkCheck {
        issuer: "C=JP, O=onshi TEST, CN=CA".into(),
        serial: serial.into(),
        person_id: person.into(),
        status,
        differences: differences.iter().map(|d| (*d).to_owned()).collect(),
        holder: Some(HolderRecord {
            name: "山田　太郎".into(),
            name_kana: String::new(),
            birthdate: "19800102".into(),
            sex: "1".into(),
        }),
        checked_at: Utc::now(),
        changed_at: None,
        decision: None,
    }
}

fn borrow<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn operators_release_and_hold_links_with_a_reason() {
    each_engine(Options::default(), |world| async move {
        sync(|| {
            link_checks::put_link_checks(
                world.store.portal(),
                &[
                    check("4A01", "P0000000001", LinkStatus::Held, &["birth"]),
                    check(
                        "4A02",
                        "P0000000002",
                        LinkStatus::NameOnly,
                        &["name_spelling"],
                    ),
                    check("4A03", "P0000000003", LinkStatus::Match, &[]),
                ],
            )
            .unwrap()
        });
        let mut op = operator_browser(&world).await;
        let home = op.get("/portal/operator/").await;
        home.expect(StatusCode::OK);
        assert_eq!(home.by_id("count-links-held").unwrap(), "1");
        assert_eq!(home.by_id("count-links-name-only").unwrap(), "1");
        let page = op.get("/portal/operator/links").await;
        page.expect(StatusCode::OK)
            .expect_text("生年月日が違う")
            .expect_text("氏名の字体・表記だけが違う")
            .expect_text("昭和55年1月2日生・男");
        assert!(!page.text().contains("4A03"), "a plain match is not listed");
        let csrf = page.csrf();
        let fields = |decision: &str, reason: &str| -> Vec<(&'static str, String)> {
            vec![
                ("csrf", csrf.clone()),
                ("issuer", "C=JP, O=onshi TEST, CN=CA".to_owned()),
                ("serial", "4A01".to_owned()),
                ("decision", decision.to_owned()),
                ("reason", reason.to_owned()),
            ]
        };
        let status = |serial: &str| {
            sync(|| {
                link_checks::link_check(world.store.portal(), "C=JP, O=onshi TEST, CN=CA", serial)
                    .unwrap()
                    .unwrap()
                    .status
            })
        };
        // No reason: refused, nothing changed.
        let f = fields("release", "  ");
        op.post("/portal/operator/links/decide", &borrow(&f))
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("理由を入力してください");
        assert_eq!(status("4A01"), LinkStatus::Held);
        // With a reason: released, then held again, each audited with the operator.
        let f = fields("release", "保険者に確認済み");
        op.post("/portal/operator/links/decide", &borrow(&f))
            .await
            .expect_redirect("/portal/operator/links?done=release");
        assert_eq!(status("4A01"), LinkStatus::Released);
        let f = fields("hold", "再確認のため");
        op.post("/portal/operator/links/decide", &borrow(&f))
            .await
            .expect_redirect("/portal/operator/links?done=hold");
        assert_eq!(status("4A01"), LinkStatus::HeldByOperator);
        let audit = sync(|| onshi_portal::db::audit_lines(world.store.portal(), 10, 0).unwrap());
        let operator_id = operator(&world);
        assert!(audit.iter().any(|l| l.action == "link.release"
            && l.actor_role == "operator"
            && l.actor_id == operator_id
            && l.detail.ends_with("保険者に確認済み")));
        assert!(audit.iter().any(|l| l.action == "link.hold"));
        // A forged form (no CSRF token) changes nothing.
        op.post(
            "/portal/operator/links/decide",
            &[("serial", "4A01"), ("decision", "release"), ("reason", "x")],
        )
        .await
        .expect(StatusCode::FORBIDDEN);
        assert_eq!(status("4A01"), LinkStatus::HeldByOperator);
        // A clinic never reaches the page.
        let mut clinic = approved_clinic(&world, 1).await;
        let page = clinic.browser.get("/portal/operator/links").await;
        assert_ne!(page.status, StatusCode::OK);
    })
}
