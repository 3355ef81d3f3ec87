//! Isolation between clinics: every route that takes an id, given another clinic's id, answers
//! "not found" exactly as for an id that does not exist, and changes nothing of the other
//! clinic. The routes come from `routes::ROUTES` (checked against the source), so a new route
//! with an id is tested as soon as it is listed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use onshi_store::portal::transaction;

use super::harness::*;
use super::routes::{fill, Access, Ids, ROUTES};
use super::security::{populated, send};

/// Whether the path takes an id (a parameter other than the claim's kind or a document's role,
/// which name the clinic's own).
fn takes_id(path: &str) -> bool {
    path.split('/')
        .any(|s| s.starts_with('{') && s != "{kind}" && s != "{role}")
}

/// Everything of clinic `id` a request could change: account, terminals, claims, items and
/// the receipts folder.
pub fn snapshot(world: &World, id: i64) -> Vec<String> {
    sync(|| {
        let mut out = vec![];
        let a = onshi_portal::db::account(world.store.portal(), id)
            .unwrap()
            .unwrap();
        out.push(format!(
            "account {} {} {} {:?}",
            a.status.as_str(),
            a.session_epoch,
            a.password_hash,
            a.decided_at
        ));
        for t in world.store.terminals_of_clinic(id).unwrap() {
            out.push(format!(
                "terminal {} {:?} {:?}",
                t.id, t.status, t.revoked_at
            ));
        }
        let rows = transaction(world.store.portal(), |tx| {
            tx.query(
                "SELECT c.id, c.kind, c.status, c.requested_amount, i.id, i.amount, i.receipt_file, i.vendor
                 FROM portal_claims c LEFT JOIN portal_claim_items i ON i.claim_id = c.id
                 WHERE c.clinic_id = $1 ORDER BY c.id, i.id",
                &[id.into()],
            )
        })
        .unwrap();
        for r in rows {
            out.push(format!(
                "claim {} {} {} {} item {:?} {:?} {:?} {:?}",
                r.int(0).unwrap(),
                r.text(1).unwrap(),
                r.text(2).unwrap(),
                r.int(3).unwrap(),
                r.opt_int(4).unwrap(),
                r.opt_int(5).unwrap(),
                r.opt_text(6).unwrap(),
                r.opt_text(7).unwrap()
            ));
        }
        for f in World::files_under(&world.settings.receipts) {
            let bytes = std::fs::read(world.settings.receipts.join(&f)).unwrap();
            out.push(format!("file {} {}", f.display(), bytes.len()));
        }
        out
    })
}

#[test]
fn another_clinics_ids_are_not_found_and_change_nothing() {
    each_engine(Options::default(), |world| async move {
        let (mut a, ids) = populated(&world, 1).await;
        let mut b = approved_clinic(&world, 2).await;
        // B has data of its own: "not found" is not "B has nothing".
        let (b_terminal, _, _) = new_terminal(&mut b).await;
        let (_, b_item) = super::claims::add_item(&world, &mut b, "equipment", "5,000").await;
        let b_csrf = b.csrf().await;
        let before = snapshot(&world, a.id);
        assert!(before.len() >= 2, "{before:?}");
        let unknown = Ids {
            clinic: 999_999,
            terminal: "W9999999".to_owned(),
            kind: ids.kind.clone(),
            claim: 999_999,
            item: 999_999,
        };
        let mut checked = vec![];
        for route in ROUTES
            .iter()
            .filter(|r| r.access == Access::Clinic && takes_id(r.path))
        {
            let page = send(&mut b.browser, route, &ids, Some(&b_csrf)).await;
            assert_eq!(
                page.status,
                StatusCode::NOT_FOUND,
                "B on A's {} {}: {}",
                route.method,
                fill(route.path, &ids),
                page.text()
            );
            // Exactly what an id that does not exist gets.
            let none = send(&mut b.browser, route, &unknown, Some(&b_csrf)).await;
            assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", route.path);
            assert_eq!(page.by_id("error-message"), none.by_id("error-message"));
            checked.push(route.path);
        }
        assert!(checked.len() >= 2, "{checked:?}");
        // Pages scoped by the session alone show B its own data, never A's.
        for route in ROUTES
            .iter()
            .filter(|r| r.access == Access::Clinic && r.method == "GET" && !takes_id(r.path))
        {
            let page = send(&mut b.browser, route, &ids, None).await;
            assert!(
                !page.text().contains(&ids.terminal),
                "{} shows A's terminal",
                route.path
            );
            assert!(
                !page.text().contains(&a.email),
                "{} shows A's e-mail",
                route.path
            );
            if route.path == "/portal/terminals" {
                page.expect_text(&b_terminal);
            }
        }
        // A's own item under the other kind is not found either.
        let a_csrf = a.csrf().await;
        a.browser
            .post(
                &format!("/portal/claims/rececon/items/{}/delete", ids.item),
                &[("csrf", &a_csrf)],
            )
            .await
            .expect(StatusCode::NOT_FOUND);
        a.browser
            .get(&format!(
                "/portal/claims/rececon/items/{}/receipt",
                ids.item
            ))
            .await
            .expect(StatusCode::NOT_FOUND);
        assert_eq!(snapshot(&world, a.id), before, "A's data changed");
        // B's own item is still B's.
        b.browser
            .get(&format!("/portal/claims/equipment/items/{b_item}/receipt"))
            .await
            .expect(StatusCode::OK);
        // A still reaches its own.
        a.browser
            .get(&format!("/portal/terminals/{}/settings", ids.terminal))
            .await
            .expect(StatusCode::OK);
    });
}
