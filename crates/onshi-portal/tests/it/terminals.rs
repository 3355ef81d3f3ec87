//! A clinic's terminals: only once approved; the enrollment code shown once; the settings file
//! that `onshi app enroll` reads; revoking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use onshi_proto::TerminalSettings;
use onshi_store::TerminalStatus;

use super::harness::*;

#[test]
fn terminals_only_after_approval() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let csrf = a.csrf().await;
        let page = a.browser.get("/portal/terminals").await;
        page.expect(StatusCode::FORBIDDEN);
        assert_eq!(page.by_id("application-status").unwrap(), "未申請");
        a.browser
            .post("/portal/terminals", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::FORBIDDEN);
        assert!(sync(|| world.store.terminals_of_clinic(a.id).unwrap()).is_empty());
    });
}

#[test]
fn create_download_settings_and_revoke() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let list = a.browser.get("/portal/terminals").await;
        list.expect(StatusCode::OK);
        assert!(list.by_id("no-terminals").is_some());

        let (id, code, page) = new_terminal(&mut a).await;
        assert!(id.starts_with('W') && id.len() == 8, "{id}");
        assert!(!code.is_empty());
        assert!(page.by_id("code-once").is_some());
        page.expect_text(&format!("--code {code}"));
        let t = sync(|| world.store.terminal(&id).unwrap().unwrap());
        assert_eq!(t.clinic_id, a.id);
        assert_eq!(t.status, TerminalStatus::Pending);

        // The code is shown once: not on the list, not again.
        let list = a.browser.get("/portal/terminals").await;
        list.expect(StatusCode::OK);
        assert_eq!(list.by_id(&format!("status-{id}")).unwrap(), "登録待ち");
        assert!(!list.text().contains(&code));

        // The settings file.
        let file = a
            .browser
            .get(&format!("/portal/terminals/{id}/settings"))
            .await;
        file.expect(StatusCode::OK);
        assert!(file
            .header("content-type")
            .unwrap()
            .starts_with("application/toml"));
        assert_eq!(
            file.header("content-disposition").unwrap(),
            format!(
                "attachment; filename=\"{}\"",
                onshi_proto::settings_file_name(&id)
            )
        );
        assert!(!file.text().contains(&code));
        let settings: TerminalSettings =
            toml::from_str(&file.text()).unwrap_or_else(|e| panic!("{e}: {}", file.text()));
        assert_eq!(
            settings,
            TerminalSettings {
                server: SERVICE_URL.to_owned(),
                account: id.clone(),
                server_ca: Some(SERVER_CA.to_owned()),
                // The name given when the terminal was created (none typed: the default).
                name: Some(onshi_portal::terminal_names::DEFAULT_NAME.to_owned()),
            }
        );

        // A second terminal; revoke the first.
        let (second, _, _) = new_terminal(&mut a).await;
        assert_ne!(second, id);
        let csrf = a.csrf().await;
        a.browser
            .post(
                &format!("/portal/terminals/{id}/revoke"),
                &[("csrf", &csrf)],
            )
            .await
            .expect_redirect("/portal/terminals");
        let list = a.browser.get("/portal/terminals").await;
        assert_eq!(list.by_id(&format!("status-{id}")).unwrap(), "停止");
        assert_eq!(list.by_id(&format!("status-{second}")).unwrap(), "登録待ち");
        let t = sync(|| world.store.terminal(&id).unwrap().unwrap());
        assert_eq!(t.status, TerminalStatus::Revoked);
        assert!(t.revoked_at.is_some());
        let t = sync(|| world.store.terminal(&second).unwrap().unwrap());
        assert_eq!(t.status, TerminalStatus::Pending);
        // Unknown ids are not found.
        a.browser
            .get("/portal/terminals/W9999999/settings")
            .await
            .expect(StatusCode::NOT_FOUND);
        a.browser
            .post("/portal/terminals/W9999999/revoke", &[("csrf", &csrf)])
            .await
            .expect(StatusCode::NOT_FOUND);
        a.browser
            .get("/portal/terminals/..%2F..%2Fetc/settings")
            .await
            .expect(StatusCode::NOT_FOUND);

        // The operator sees them.
        let mut op = operator_browser(&world).await;
        let page = op.get("/portal/operator/terminals").await;
        page.expect(StatusCode::OK)
            .expect_text(&id)
            .expect_text(&second);
        let page = op.get(&format!("/portal/operator/clinics/{}", a.id)).await;
        page.expect(StatusCode::OK)
            .expect_text(&id)
            .expect_text("利用停止");
    });
}

#[test]
fn terminals_are_named_renamed_and_revoked_by_the_operator_with_a_reason() {
    each_engine(Options::default(), |world| async move {
        let mut a = approved_clinic(&world, 1).await;
        let csrf = a.csrf().await;
        // Named at creation.
        let page = a
            .browser
            .post("/portal/terminals", &[("csrf", &csrf), ("name", "受付PC")])
            .await;
        page.expect(StatusCode::OK);
        let id = page.by_id("terminal-account").unwrap();
        let list = a.browser.get("/portal/terminals").await;
        assert_eq!(list.by_id(&format!("name-{id}")).unwrap(), "受付PC");
        // Renamed; a name too long is refused.
        a.browser
            .post(
                &format!("/portal/terminals/{id}/name"),
                &[("csrf", &csrf), ("name", &"あ".repeat(31))],
            )
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("30文字以内");
        a.browser
            .post(
                &format!("/portal/terminals/{id}/name"),
                &[("csrf", &csrf), ("name", "タブレット（2階）")],
            )
            .await
            .expect_redirect("/portal/terminals");
        let list = a.browser.get("/portal/terminals").await;
        assert_eq!(
            list.by_id(&format!("name-{id}")).unwrap(),
            "タブレット（2階）"
        );
        // The operator sees the name and revokes with a reason (none: refused).
        let mut op = operator_browser(&world).await;
        let page = op.get(&format!("/portal/operator/clinics/{}", a.id)).await;
        page.expect(StatusCode::OK).expect_text("タブレット（2階）");
        let op_csrf = page.csrf();
        op.post(
            &format!("/portal/operator/terminals/{id}/revoke"),
            &[("csrf", &op_csrf), ("reason", " ")],
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
        assert_eq!(
            sync(|| world.store.terminal(&id).unwrap().unwrap().status),
            TerminalStatus::Pending
        );
        op.post(
            &format!("/portal/operator/terminals/{id}/revoke"),
            &[("csrf", &op_csrf), ("reason", "紛失の届出があったため")],
        )
        .await
        .expect_redirect(&format!("/portal/operator/clinics/{}?done=revoked", a.id));
        assert_eq!(
            sync(|| world.store.terminal(&id).unwrap().unwrap().status),
            TerminalStatus::Revoked
        );
        // Audited, mailed, shown to the clinic.
        let audit = sync(|| onshi_portal::db::audit_lines(world.store.portal(), 10, 0).unwrap());
        assert!(audit.iter().any(|l| l.action == "terminal.revoke"
            && l.actor_role == "operator"
            && l.detail == "紛失の届出があったため"));
        let mail = world
            .mails()
            .into_iter()
            .find(|m| m.subject.contains("の利用を停止しました"))
            .expect("no mail");
        assert_eq!(mail.to, a.email);
        assert!(mail.body.contains("紛失の届出があったため"));
        a.browser
            .get("/portal/terminals")
            .await
            .expect_text("実施機関が停止。理由: 紛失の届出があったため");
        a.browser
            .get("/portal/home")
            .await
            .expect_text("タブレット（2階）");
        // A revoked terminal keeps its name.
        a.browser
            .post(
                &format!("/portal/terminals/{id}/name"),
                &[("csrf", &csrf), ("name", "別名")],
            )
            .await
            .expect(StatusCode::BAD_REQUEST);
    });
}
