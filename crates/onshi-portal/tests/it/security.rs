//! Security of the routes: CSRF on every POST, login throttling (per account and per address),
//! password reset and logout ending sessions, the operator's pages closed to clinics, login
//! redirects, cookie attributes and security headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;

use super::harness::*;
use super::routes::{fill, Access, Body, Ids, ROUTES};

/// A world with clinic A approved and holding data behind every kind of id; A's ids.
pub async fn populated(world: &World, n: u32) -> (Clinic, Ids) {
    let mut a = approved_clinic(world, n).await;
    let (terminal, _, _) = new_terminal(&mut a).await;
    let mut ids = Ids {
        clinic: a.id,
        terminal,
        kind: "equipment".to_owned(),
        ..Ids::default()
    };
    if has_route("POST", "/portal/claims/{kind}/items") {
        let (claim, item) = super::claims::add_item(world, &mut a, "equipment", "22,000").await;
        ids.claim = claim;
        ids.item = item;
    }
    (a, ids)
}

/// Sends `route` (filled from `ids`) from `browser` with `csrf` (none when `None`).
pub async fn send(
    browser: &mut Browser,
    route: &super::routes::Route,
    ids: &Ids,
    csrf: Option<&str>,
) -> Page {
    let path = fill(route.path, ids);
    match (route.method, route.body) {
        ("GET", _) => browser.get(&path).await,
        (_, Body::Multipart) => {
            let mut fields = super::claims::item_fields("22,000");
            if let Some(c) = csrf {
                fields.push(("csrf", c.to_owned()));
            }
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser
                .post_multipart(&path, &fields, &[super::claims::pdf_upload("receipt.pdf")])
                .await
        }
        _ => {
            let mut fields: Vec<(&str, &str)> = vec![("reason", "理由"), ("amount", "41000")];
            if let Some(c) = csrf {
                fields.push(("csrf", c));
            }
            browser.post(&path, &fields).await
        }
    }
}

#[test]
fn every_post_route_refuses_a_missing_or_wrong_csrf_token() {
    each_engine(Options::default(), |world| async move {
        let (mut a, ids) = populated(&world, 1).await;
        let mut b = approved_clinic(&world, 2).await;
        let b_csrf = b.csrf().await;
        let mut op = operator_browser(&world).await;
        // A guest browser that has its pre-login CSRF cookie.
        let mut guest = world.browser();
        let guest_token = guest.get("/portal/login").await.csrf();
        let mut posts = 0;
        for route in ROUTES.iter().filter(|r| r.method == "POST") {
            let wrong = "0".repeat(64);
            let (browser, other): (&mut Browser, Option<&str>) = match route.access {
                Access::Public => (&mut guest, None),
                Access::Clinic => (&mut a.browser, Some(b_csrf.as_str())),
                Access::Operator => (&mut op, Some(b_csrf.as_str())),
            };
            let mut tries = vec![None, Some(""), Some(wrong.as_str())];
            if let Some(o) = other {
                tries.push(Some(o));
            }
            for csrf in tries {
                let page = send(browser, route, &ids, csrf).await;
                assert_eq!(
                    page.status,
                    StatusCode::FORBIDDEN,
                    "{} {} with CSRF {csrf:?}: {}",
                    route.method,
                    route.path,
                    page.text()
                );
                page.expect_text(CSRF_REFUSED);
            }
            if route.access == Access::Public {
                // The right token without its cookie (another browser's token).
                let mut fresh = world.browser();
                let page = send(&mut fresh, route, &ids, Some(&guest_token)).await;
                assert_eq!(
                    page.status,
                    StatusCode::FORBIDDEN,
                    "{} {} without the cookie",
                    route.method,
                    route.path
                );
            }
            posts += 1;
        }
        assert!(posts >= 6, "{posts}");
        // Nothing happened: A is still logged in, its terminal still pending, no mail but the
        // registrations' and the approvals' of the two clinics.
        a.browser.get("/portal/home").await.expect(StatusCode::OK);
        let t = sync(|| world.store.terminal(&ids.terminal).unwrap().unwrap());
        assert_eq!(t.status, onshi_store::TerminalStatus::Pending);
        assert_eq!(world.mails().len(), 4);
        let _ = &mut b;
    });
}

#[test]
fn login_is_throttled_per_account() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        let mut browser = world.browser();
        for _ in 0..FAILURES_PER_ACCOUNT {
            login(&mut browser, &a.email, "wrong password")
                .await
                .expect(StatusCode::UNAUTHORIZED);
        }
        // The next attempt is refused even with the right password, from anywhere.
        let page = login(&mut browser, &a.email, &a.password).await;
        page.expect(StatusCode::TOO_MANY_REQUESTS)
            .expect_text("ログインの失敗が続いたため");
        assert!(!browser.jar.contains_key(SESSION_COOKIE));
        let mut elsewhere = Browser::new(&world, "203.0.113.99:1234");
        login(&mut elsewhere, &a.email, &a.password)
            .await
            .expect(StatusCode::TOO_MANY_REQUESTS);
        assert!(!elsewhere.jar.contains_key(SESSION_COOKIE));
        // Another account from the same address is not affected.
        let b = signup(&world, 2).await;
        let mut browser = world.browser();
        login(&mut browser, &b.email, &b.password)
            .await
            .expect_redirect("/portal/home");
    });
}

#[test]
fn login_is_throttled_per_address() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        let mut attacker = Browser::new(&world, "203.0.113.5:1000");
        for i in 0..FAILURES_PER_ADDRESS {
            // A different (unknown) account each time: only the address adds up.
            login(
                &mut attacker,
                &format!("nobody{i}@example.jp"),
                "wrong password",
            )
            .await
            .expect(StatusCode::UNAUTHORIZED);
        }
        // Same address (another port), right password of a real account: refused.
        let mut same_address = Browser::new(&world, "203.0.113.5:2000");
        login(&mut same_address, &a.email, &a.password)
            .await
            .expect(StatusCode::TOO_MANY_REQUESTS);
        // Another address logs in.
        let mut other = Browser::new(&world, "203.0.113.6:1000");
        login(&mut other, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");
    });
}

#[test]
fn password_reset_changes_the_password_and_ends_every_session() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let mut second = world.browser();
        login(&mut second, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");
        let mails_before = world.mails().len();

        // Unknown address: the same answer, no mail.
        let mut guest = world.browser();
        let page = guest
            .submit(
                "/portal/reset",
                "/portal/reset",
                &[("email", "nobody@example.jp")],
            )
            .await;
        page.expect(StatusCode::OK);
        let unknown_answer = page.by_id("reset-sent").unwrap();
        assert_eq!(world.mails().len(), mails_before);
        let page = guest
            .submit(
                "/portal/reset",
                "/portal/reset",
                &[("email", &a.email.to_uppercase())],
            )
            .await;
        page.expect(StatusCode::OK);
        assert_eq!(page.by_id("reset-sent").unwrap(), unknown_answer);
        let mails = world.mails();
        assert_eq!(mails.len(), mails_before + 1);
        assert_eq!(
            mails.last().unwrap().subject,
            "【施術所等向け総合ポータルサイト】パスワードの再設定"
        );
        let link = world.link(&a.email, "/portal/reset/confirm");
        let token = link.split("token=").nth(1).unwrap().to_owned();

        let form = guest.get(&link).await;
        form.expect(StatusCode::OK)
            .expect_text(&format!("name=\"token\" value=\"{token}\""));
        let csrf = form.csrf();
        let new_password = "a brand new password";
        guest
            .post(
                "/portal/reset/confirm",
                &[
                    ("csrf", &csrf),
                    ("token", &token),
                    ("password", new_password),
                    ("password_confirm", "different one!"),
                ],
            )
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("確認用のパスワードが一致しません。");
        // Nothing changed yet: the sessions live.
        a.browser.get("/portal/home").await.expect(StatusCode::OK);
        let page = guest
            .post(
                "/portal/reset/confirm",
                &[
                    ("csrf", &csrf),
                    ("token", &token),
                    ("password", new_password),
                    ("password_confirm", new_password),
                ],
            )
            .await;
        page.expect(StatusCode::OK);
        assert!(page.by_id("password-changed").is_some());

        // Every session ended; the old password no longer works, the new one does.
        a.browser
            .get("/portal/home")
            .await
            .expect_redirect("/portal/login");
        second
            .get("/portal/home")
            .await
            .expect_redirect("/portal/login");
        let mut fresh = world.browser();
        login(&mut fresh, &a.email, &a.password)
            .await
            .expect(StatusCode::UNAUTHORIZED);
        login(&mut fresh, &a.email, new_password)
            .await
            .expect_redirect("/portal/home");
        fresh.get("/portal/home").await.expect(StatusCode::OK);

        // The link works once.
        guest
            .post(
                "/portal/reset/confirm",
                &[
                    ("csrf", &csrf),
                    ("token", &token),
                    ("password", "yet another password"),
                    ("password_confirm", "yet another password"),
                ],
            )
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このリンクはすでに使われています。");
        let mut again = world.browser();
        login(&mut again, &a.email, new_password)
            .await
            .expect_redirect("/portal/home");
    });
}

#[test]
fn logout_ends_one_session_and_logout_all_every_one() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let mut second = world.browser();
        login(&mut second, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");
        let mut third = world.browser();
        login(&mut third, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");

        // Logout: this session only. The old cookie, replayed, no longer works.
        let stolen = a.browser.clone();
        let csrf = a.csrf().await;
        let page = a.browser.post("/portal/logout", &[("csrf", &csrf)]).await;
        page.expect_redirect("/portal/login");
        assert!(page
            .set_cookies()
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=;")) && c.contains("Max-Age=0")));
        assert!(!a.browser.jar.contains_key(SESSION_COOKIE));
        let mut stolen = stolen;
        stolen
            .get("/portal/home")
            .await
            .expect_redirect("/portal/login");
        second.get("/portal/home").await.expect(StatusCode::OK);

        // Logout everywhere from the second browser: the third one is out too.
        let stolen_second = second.clone();
        let csrf = second.get("/portal/home").await.csrf();
        second
            .post("/portal/logout-all", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/login");
        third
            .get("/portal/home")
            .await
            .expect_redirect("/portal/login");
        let mut stolen_second = stolen_second;
        stolen_second
            .get("/portal/home")
            .await
            .expect_redirect("/portal/login");
        // Logging in again works.
        login(&mut third, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");
        third.get("/portal/home").await.expect(StatusCode::OK);
    });
}

#[test]
fn sessions_and_roles_guard_every_page() {
    each_engine(Options::default(), |world| async move {
        let (mut a, ids) = populated(&world, 1).await;
        let csrf = a.csrf().await;
        let mut op = operator_browser(&world).await;
        let op_csrf = operator_csrf(&mut op).await;
        let mut checked = 0;
        for route in ROUTES {
            match route.access {
                Access::Public => continue,
                Access::Operator => {
                    // A clinic's session: 403, whatever the page.
                    let page = send(&mut a.browser, route, &ids, Some(&csrf)).await;
                    assert_eq!(
                        page.status,
                        StatusCode::FORBIDDEN,
                        "clinic on {} {}: {}",
                        route.method,
                        route.path,
                        page.text()
                    );
                    page.expect_text("実施機関（運用担当者）専用");
                    // No session: the operator's login.
                    let mut nobody = world.browser();
                    let page = send(&mut nobody, route, &ids, None).await;
                    assert!(
                        page.status.is_redirection(),
                        "guest on {} {}: {}",
                        route.method,
                        route.path,
                        page.status
                    );
                    assert_eq!(
                        page.location().as_deref(),
                        Some("/portal/operator/login"),
                        "{}",
                        route.path
                    );
                }
                Access::Clinic => {
                    // An operator's session: 403.
                    let page = send(&mut op, route, &ids, Some(&op_csrf)).await;
                    assert_eq!(
                        page.status,
                        StatusCode::FORBIDDEN,
                        "operator on {} {}: {}",
                        route.method,
                        route.path,
                        page.text()
                    );
                    // No session: the clinic's login.
                    let mut nobody = world.browser();
                    let page = send(&mut nobody, route, &ids, None).await;
                    assert!(
                        page.status.is_redirection(),
                        "guest on {} {}: {}",
                        route.method,
                        route.path,
                        page.status
                    );
                    assert_eq!(
                        page.location().as_deref(),
                        Some("/portal/login"),
                        "{}",
                        route.path
                    );
                }
            }
            checked += 1;
        }
        assert!(checked >= 8, "{checked}");
        // A still has everything.
        let t = sync(|| world.store.terminal(&ids.terminal).unwrap().unwrap());
        assert_eq!(t.status, onshi_store::TerminalStatus::Pending);
        a.browser.get("/portal/home").await.expect(StatusCode::OK);
        world
            .browser()
            .get("/portal/")
            .await
            .expect_redirect("/portal/login");
    });
}

#[test]
fn cookies_are_host_only_secure_httponly_and_strict() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        let mut browser = world.browser();
        let page = browser.get("/portal/login").await;
        let mut cookies = page.set_cookies();
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        let csrf = page.csrf();
        let page = browser
            .post(
                "/portal/login",
                &[
                    ("csrf", &csrf),
                    ("email", &a.email),
                    ("password", &a.password),
                ],
            )
            .await;
        page.expect_redirect("/portal/home");
        let session = page.set_cookies();
        assert!(
            session
                .iter()
                .any(|c| c.starts_with(&format!("{SESSION_COOKIE}="))),
            "{session:?}"
        );
        cookies.extend(session);
        let csrf = browser.get("/portal/home").await.csrf();
        cookies.extend(
            browser
                .post("/portal/logout", &[("csrf", &csrf)])
                .await
                .set_cookies(),
        );
        assert!(cookies.len() >= 3, "{cookies:?}");
        for c in &cookies {
            let attrs: Vec<&str> = c.split(';').map(str::trim).collect();
            assert!(attrs[0].starts_with("__Host-"), "{c}");
            for a in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
                assert!(attrs.contains(&a), "{c} lacks {a}");
            }
            assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
        }
    });
}

#[test]
fn security_headers_on_every_kind_of_response() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        let mut guest = world.browser();
        let mut pages = vec![
            ("login page", guest.get("/portal/login").await),
            ("style", guest.get("/portal/style.css").await),
            ("redirect", guest.get("/portal/home").await),
            (
                "csrf refusal",
                guest.post("/portal/login", &[("csrf", "x")]).await,
            ),
            ("home", a.browser.get("/portal/home").await),
            (
                "not found",
                a.browser.get("/portal/claims/nothing-here").await,
            ),
            ("forbidden", a.browser.get("/portal/terminals").await),
        ];
        if has_route("GET", "/portal/operator/claims") {
            pages.push((
                "operator page refused",
                a.browser.get("/portal/operator/claims").await,
            ));
        }
        for (what, page) in &pages {
            let csp = page
                .header("content-security-policy")
                .unwrap_or_else(|| panic!("{what}: no CSP"));
            for d in [
                "default-src 'none'",
                "frame-ancestors 'none'",
                "form-action 'self'",
            ] {
                assert!(csp.contains(d), "{what}: CSP {csp}");
            }
            assert!(
                !csp.contains("unsafe-inline") && !csp.contains("script-src"),
                "{what}: CSP {csp}"
            );
            assert_eq!(
                page.header("x-frame-options").as_deref(),
                Some("DENY"),
                "{what}"
            );
            assert_eq!(
                page.header("cache-control").as_deref(),
                Some("no-store"),
                "{what}"
            );
            assert_eq!(
                page.header("x-content-type-options").as_deref(),
                Some("nosniff"),
                "{what}"
            );
            assert!(page.header("strict-transport-security").is_some(), "{what}");
            assert_eq!(
                page.header("referrer-policy").as_deref(),
                Some("same-origin"),
                "{what}"
            );
        }
        // The not-approved page is a 403 and the unknown kind a 404.
        assert_eq!(pages[5].1.status, StatusCode::NOT_FOUND);
        assert_eq!(pages[6].1.status, StatusCode::FORBIDDEN);
    });
}

/// Runs one SQL statement on the portal's tables (as time passing would).
fn raw(world: &World, sql: &str) {
    sync(|| {
        onshi_store::portal::transaction(world.store.portal(), |tx| tx.execute(sql, &[])).unwrap()
    });
}

#[test]
fn the_operator_login_is_throttled_and_its_logout_ends_the_session() {
    each_engine(Options::default(), |world| async move {
        let _ = operator(&world);
        let mut browser = Browser::new(&world, "198.51.100.20:1");
        for _ in 0..FAILURES_PER_ACCOUNT {
            browser
                .submit(
                    "/portal/operator/login",
                    "/portal/operator/login",
                    &[("login", OPERATOR_LOGIN), ("password", "not the password")],
                )
                .await
                .expect(StatusCode::UNAUTHORIZED)
                .expect_text("ログイン名またはパスワードが違います。");
        }
        let mut elsewhere = Browser::new(&world, "198.51.100.21:1");
        elsewhere
            .submit(
                "/portal/operator/login",
                "/portal/operator/login",
                &[("login", OPERATOR_LOGIN), ("password", OPERATOR_PASSWORD)],
            )
            .await
            .expect(StatusCode::TOO_MANY_REQUESTS);
        assert!(!elsewhere.jar.contains_key(SESSION_COOKIE));
        // The failures expire with the window.
        raw(&world, "UPDATE portal_login_failures SET at = at - 3600");
        let mut op = operator_browser(&world).await;
        op.get("/portal/operator/").await.expect(StatusCode::OK);
        let stolen = op.clone();
        let csrf = operator_csrf(&mut op).await;
        op.post("/portal/operator/logout", &[("csrf", &csrf)])
            .await
            .expect_redirect("/portal/operator/login");
        let mut stolen = stolen;
        stolen
            .get("/portal/operator/")
            .await
            .expect_redirect("/portal/operator/login");
        let actions: Vec<String> = sync(|| {
            onshi_portal::db::audit_lines(world.store.portal(), 100, 0)
                .unwrap()
                .into_iter()
                .map(|l| l.action)
                .collect()
        });
        assert!(
            actions.contains(&"operator.logout".to_owned()),
            "{actions:?}"
        );
    });
}

#[test]
fn expired_sessions_and_links_do_not_work() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        a.browser.get("/portal/home").await.expect(StatusCode::OK);
        raw(&world, "UPDATE portal_sessions SET expires_at = 1");
        a.browser
            .get("/portal/home")
            .await
            .expect_redirect("/portal/login");

        // A reset link past its hour.
        let mut guest = world.browser();
        guest
            .submit("/portal/reset", "/portal/reset", &[("email", &a.email)])
            .await
            .expect(StatusCode::OK);
        let link = world.link(&a.email, "/portal/reset/confirm");
        let token = link.split("token=").nth(1).unwrap().to_owned();
        // A reset token is no confirmation token.
        guest
            .get(&format!("/portal/confirm?token={token}"))
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このリンクは正しくありません。");
        raw(
            &world,
            "UPDATE portal_tokens SET expires_at = 1 WHERE purpose = 'reset'",
        );
        let csrf = guest.get(&link).await.csrf();
        guest
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
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このリンクは有効期限が切れています。");
        let mut fresh = world.browser();
        login(&mut fresh, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");

        // A confirmation link past its 72 hours.
        let form = ClinicForm::valid(2);
        register(&mut world.browser(), &form)
            .await
            .expect(StatusCode::OK);
        let link = world.link(&form.email, "/portal/confirm");
        raw(
            &world,
            "UPDATE portal_tokens SET expires_at = 1 WHERE purpose = 'confirm'",
        );
        guest
            .get(&link)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("このリンクは有効期限が切れています。");
        login(&mut world.browser(), &form.email, &form.password)
            .await
            .expect(StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn a_successful_login_clears_the_accounts_failures() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        for _ in 0..3 {
            let mut browser = Browser::new(&world, "203.0.113.50:1");
            for _ in 0..FAILURES_PER_ACCOUNT - 1 {
                login(&mut browser, &a.email, "wrong password")
                    .await
                    .expect(StatusCode::UNAUTHORIZED);
            }
            // Each round from its own address: only the account's count is in question.
            let mut ok = Browser::new(&world, "203.0.113.51:1");
            login(&mut ok, &a.email, &a.password)
                .await
                .expect_redirect("/portal/home");
            raw(
                &world,
                "DELETE FROM portal_login_failures WHERE throttle_key LIKE '%address:%'",
            );
        }
    });
}

/// Guesses sent at once must not get more password checks than the limit: the count of
/// failures has to be checked and raised together, not read, then verified, then written.
#[test]
fn concurrent_guesses_do_not_get_past_the_account_limit() {
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    each_engine(Options::default(), |world| {
        let found = found.clone();
        async move {
            let a = signup(&world, 1).await;
            let _ = operator(&world);
            for (path, user_field, user) in [
                ("/portal/login", "email", a.email.clone()),
                ("/portal/operator/login", "login", OPERATOR_LOGIN.to_owned()),
            ] {
                const GUESSES: usize = 16;
                let mut ready = vec![];
                for i in 0..GUESSES {
                    // Each from its own address: only the account's limit applies.
                    let mut b = Browser::new(&world, &format!("203.0.113.{}:1", 100 + i));
                    let csrf = b.get(path).await.csrf();
                    ready.push((b, csrf));
                }
                let mut tasks = vec![];
                for (mut b, csrf) in ready {
                    let user = user.clone();
                    tasks.push(tokio::spawn(async move {
                        b.post(
                            path,
                            &[
                                ("csrf", &csrf),
                                (user_field, &user),
                                ("password", "guess guess guess"),
                            ],
                        )
                        .await
                        .status
                    }));
                }
                let mut checked = 0;
                for t in tasks {
                    match t.await.unwrap() {
                        StatusCode::UNAUTHORIZED => checked += 1,
                        StatusCode::TOO_MANY_REQUESTS => {}
                        other => panic!("{other}"),
                    }
                }
                if checked > FAILURES_PER_ACCOUNT as usize {
                    found.lock().unwrap().push(format!(
                        "{} {path}: {checked} of {GUESSES} concurrent guesses had the password checked (limit {FAILURES_PER_ACCOUNT})",
                        world.engine
                    ));
                }
                // The addresses are spent: forget them for the next round.
                raw(&world, "DELETE FROM portal_login_failures");
            }
        }
    });
    let found = found.lock().unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

/// A prepared POST: the browser, the path and the form.
type Prepared = (Browser, String, Vec<(String, String)>);

/// Sends prepared POSTs at once, each from its own browser; the statuses.
async fn at_once(browsers: Vec<Prepared>) -> Vec<StatusCode> {
    let mut tasks = vec![];
    for (mut b, path, fields) in browsers {
        tasks.push(tokio::spawn(async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            b.post(&path, &fields).await.status
        }));
    }
    let mut out = vec![];
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[test]
fn a_reset_link_works_once_even_when_used_at_once() {
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    each_engine(Options::default(), |world| {
        let found = found.clone();
        async move {
            let a = signup(&world, 1).await;
            // Three rounds: the fourth reset mail of the window would be throttled.
            for round in 0..3 {
                let mut guest = world.browser();
                guest
                    .submit("/portal/reset", "/portal/reset", &[("email", &a.email)])
                    .await
                    .expect(StatusCode::OK);
                let link = world.link(&a.email, "/portal/reset/confirm");
                let token = link.split("token=").nth(1).unwrap().to_owned();
                let mut browsers = vec![];
                for i in 0..12 {
                    let mut b = Browser::new(&world, &format!("203.0.113.{}:1", 10 + i));
                    let csrf = b.get(&link).await.csrf();
                    let password = format!("new password number {round}/{i}");
                    browsers.push((
                        b,
                        "/portal/reset/confirm".to_owned(),
                        vec![
                            ("csrf".to_owned(), csrf),
                            ("token".to_owned(), token.clone()),
                            ("password".to_owned(), password.clone()),
                            ("password_confirm".to_owned(), password),
                        ],
                    ));
                }
                let statuses = at_once(browsers).await;
                let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
                let refused = statuses
                    .iter()
                    .filter(|s| **s == StatusCode::BAD_REQUEST)
                    .count();
                if ok != 1 || refused != statuses.len() - 1 {
                    found.lock().unwrap().push(format!(
                        "{} round {round}: one reset link used 12 times at once: {statuses:?}",
                        world.engine
                    ));
                }
            }
        }
    });
    let found = found.lock().unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

/// Registrations of one address at once: one account, the others told the address is taken,
/// and no clinic row left behind.
#[test]
fn one_address_registered_at_once_makes_one_account() {
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    each_engine(Options::default(), |world| {
        let found = found.clone();
        async move {
            for round in 0..4u32 {
                let email = format!("same{round}@example.jp");
                let clinics_before = sync(|| world.store.clinics().unwrap()).len();
                let mails_before = world.mails().len();
                let mut browsers = vec![];
                for i in 0..12u32 {
                    let mut b = Browser::new(&world, &format!("203.0.113.{}:1", 10 + i));
                    let csrf = b.get("/portal/register").await.csrf();
                    let mut form = ClinicForm::valid(round * 100 + i);
                    form.email = email.clone();
                    let mut fields: Vec<(String, String)> = form
                        .fields()
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    fields.push(("csrf".to_owned(), csrf));
                    browsers.push((b, "/portal/register".to_owned(), fields));
                }
                let statuses = at_once(browsers).await;
                let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
                let clinics = sync(|| world.store.clinics().unwrap()).len() - clinics_before;
                let mails = world.mails().len() - mails_before;
                if ok != 1
                    || statuses
                        .iter()
                        .any(|s| *s != StatusCode::OK && *s != StatusCode::BAD_REQUEST)
                    || clinics != 1
                    || mails != 1
                {
                    found.lock().unwrap().push(format!(
                        "{} round {round}: 12 registrations of one address at once: {statuses:?}, {clinics} new clinics, {mails} mails",
                        world.engine
                    ));
                }
            }
        }
    });
    let found = found.lock().unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn odd_ids_and_queries_are_not_found_or_refused_never_errors() {
    each_engine(Options::default(), |world| async move {
        let (mut a, ids) = populated(&world, 1).await;
        let mut op = operator_browser(&world).await;
        let odd = [
            "-1",
            "0",
            "abc",
            "99999999999999999999",
            "1.5",
            "%2e%2e",
            "1%20OR%201=1",
        ];
        for route in ROUTES
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains('{'))
        {
            let browser = match route.access {
                Access::Clinic => &mut a.browser,
                Access::Operator => &mut op,
                Access::Public => continue,
            };
            for v in odd {
                // Every parameter odd (the kind too, unless an item follows it).
                let path: String = route
                    .path
                    .split('/')
                    .map(|seg| match seg {
                        "{kind}" if route.path.contains("{item}") => ids.kind.clone(),
                        s if s.starts_with('{') => v.to_owned(),
                        s => s.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let page = browser.get(&path).await;
                assert_eq!(
                    page.status,
                    StatusCode::NOT_FOUND,
                    "{path}: {}",
                    page.text()
                );
            }
        }
        for path in [
            "/portal/operator/clinics",
            "/portal/operator/terminals",
            "/portal/operator/claims",
            "/portal/operator/audit",
        ] {
            for q in [
                "?page=-1",
                "?page=abc",
                "?page=99999999999999999999",
                "?page=9223372036854775807",
                "?q=%25%5F%5C",
                "?status=bogus",
                "?q=%E3%83%86%E3%82%B9%E3%83%88",
            ] {
                let page = op.get(&format!("{path}{q}")).await;
                assert!(
                    page.status == StatusCode::OK || page.status == StatusCode::BAD_REQUEST,
                    "{path}{q}: {} {}",
                    page.status,
                    page.text()
                );
            }
        }
    });
}

/// A NUL character in any text a user sends: PostgreSQL refuses it in text, so it must be
/// refused (or dropped) before it reaches a query, not turn into a 500.
#[test]
fn a_nul_character_is_refused_not_an_error() {
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    each_engine(Options::default(), |world| {
        let found = found.clone();
        async move {
            let nul = "a\u{0}b@example.jp";
            let check = |what: &str, page: Page| {
                if page.status.is_server_error() {
                    found
                        .lock()
                        .unwrap()
                        .push(format!("{} {what}: {}", world.engine, page.status));
                }
            };
            let mut guest = world.browser();
            check(
                "POST /portal/login email",
                login(&mut guest, nul, "some password").await,
            );
            check(
                "POST /portal/reset email",
                guest
                    .submit("/portal/reset", "/portal/reset", &[("email", nul)])
                    .await,
            );
            let mut form = ClinicForm::valid(1);
            form.name = "名\u{0}前".to_owned();
            form.email = nul.to_owned();
            check("POST /portal/register", register(&mut guest, &form).await);
            check(
                "POST /portal/operator/login login",
                guest
                    .submit(
                        "/portal/operator/login",
                        "/portal/operator/login",
                        &[("login", nul), ("password", "some password")],
                    )
                    .await,
            );
            let mut op = operator_browser(&world).await;
            for path in [
                "/portal/operator/clinics",
                "/portal/operator/terminals",
                "/portal/operator/claims",
                "/portal/operator/audit",
            ] {
                check(
                    &format!("GET {path}?q=%00"),
                    op.get(&format!("{path}?q=%00")).await,
                );
            }
        }
    });
    let found = found.lock().unwrap();
    assert!(found.is_empty(), "{found:#?}");
}
