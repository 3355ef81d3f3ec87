//! One clinic, one account: 登録記号番号 checked per practice, normalised, held by one account
//! only (two registrations of one number at once: one wins), several per account (併設).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;

use super::harness::*;

/// The numbers of `email`'s account, as stored.
fn stored_numbers(world: &World, email: &str) -> Vec<(String, String)> {
    let id = clinic_id(world, email);
    sync(|| {
        onshi_portal::db::numbers(world.store.portal(), id)
            .unwrap()
            .into_iter()
            .map(|n| (n.practice.as_str().to_owned(), n.number.as_str().to_owned()))
            .collect()
    })
}

#[test]
fn full_width_and_hyphens_are_one_number_and_a_second_account_is_refused() {
    each_engine(Options::default(), |world| async move {
        let mut a = ClinicForm::valid(1);
        a.registration = "協０１２３４５６－１－２３".to_owned();
        register(&mut world.browser(), &a)
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            stored_numbers(&world, &a.email),
            vec![("judo".to_owned(), "協0123456123".to_owned())]
        );
        // The same number written another way, from another address: refused, in Japanese,
        // saying how to get the account back; nothing of the second registration stays.
        let mut b = ClinicForm::valid(2);
        b.registration = "協0123456-1-23".to_owned();
        let clinics_before = sync(|| world.store.clinics().unwrap().len());
        let page = register(&mut world.browser(), &b).await;
        page.expect(StatusCode::BAD_REQUEST)
            .expect_text("登録記号番号 協0123456-1-23 はすでに別のアカウントで登録されています")
            .expect_text("パスワードを忘れた方");
        assert_eq!(
            sync(|| world.store.clinics().unwrap().len()),
            clinics_before
        );
        assert!(sync(|| onshi_portal::db::account_by_email(
            world.store.portal(),
            &b.email
        )
        .unwrap()
        .is_none()));
        // Only the first registration's mail.
        assert_eq!(world.mails().len(), 1);
    });
}

#[test]
fn numbers_are_checked_per_practice() {
    each_engine(Options::default(), |world| async move {
        let mut browser = world.browser();
        for (kinds, judo, ahaki, field, message) in [
            // あはき has no 協定.
            (
                vec!["hari"],
                "",
                "協0123456-1-23",
                "registration_ahaki",
                "「契」で始まります",
            ),
            // Seven digits are not a number.
            (vec!["judo"], "契0123456", "", "registration", "数字10桁"),
            // A kind chosen, its number missing.
            (
                vec!["judo", "anma"],
                "契0123456-1-23",
                "",
                "registration_ahaki",
                "あん摩マッサージ指圧・はり・きゅうの登録記号番号を入力してください。",
            ),
            // A number for a kind not chosen.
            (
                vec!["judo"],
                "契0123456-1-23",
                "契0123457-1-23",
                "registration_ahaki",
                "施術所の種類で",
            ),
        ] {
            let mut form = ClinicForm::valid(1);
            form.kinds = kinds.iter().map(|k| (*k).to_owned()).collect();
            form.registration = judo.to_owned();
            form.registration_ahaki = ahaki.to_owned();
            let page = register(&mut browser, &form).await;
            page.expect(StatusCode::BAD_REQUEST).expect_text(message);
            // The error sits at the field that holds the number.
            assert!(
                page.text().contains(&format!(
                    "name=\"{field}\" type=\"text\" value=\"{}\" aria-invalid=\"true\"",
                    if field == "registration" { judo } else { ahaki }
                )),
                "{field}: {}",
                page.text()
            );
        }
        assert!(world.mails().is_empty());
        assert!(sync(|| world.store.clinics().unwrap().is_empty()));
    });
}

#[test]
fn one_account_holds_both_numbers_of_a_clinic_with_both_practices() {
    each_engine(Options::default(), |world| async move {
        let mut form = ClinicForm::valid(1);
        form.kinds = vec!["judo".to_owned(), "hari".to_owned()];
        form.registration = "協0123451-1-23".to_owned();
        form.registration_ahaki = "契0765432-0-01".to_owned();
        let mut browser = world.browser();
        register(&mut browser, &form).await.expect(StatusCode::OK);
        let mut stored = stored_numbers(&world, &form.email);
        stored.sort();
        assert_eq!(
            stored,
            vec![
                ("ahaki".to_owned(), "契0765432001".to_owned()),
                ("judo".to_owned(), "協0123451123".to_owned()),
            ]
        );
        // Both shown on the home page.
        let link = world.link(&form.email, "/portal/confirm");
        browser.get(&link).await.expect(StatusCode::OK);
        login(&mut browser, &form.email, &form.password)
            .await
            .expect_redirect("/portal/home");
        let home = browser.get("/portal/home").await;
        home.expect(StatusCode::OK);
        home.expect_text("柔道整復: 協0123451-1-23")
            .expect_text("あん摩マッサージ指圧・はり・きゅう: 契0765432-0-01");
        // The あはき number alone cannot make a second account either.
        let mut other = ClinicForm::valid(2);
        other.kinds = vec!["anma".to_owned()];
        other.registration = String::new();
        other.registration_ahaki = "契0765432001".to_owned();
        register(&mut world.browser(), &other)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("契0765432-0-01 はすでに別のアカウントで登録されています");
    });
}

#[test]
fn two_registrations_of_one_number_at_once_one_wins() {
    each_engine(Options::default(), |world| async move {
        for round in 0..3u32 {
            let number = format!("契{:07}-1-23", 7_000_000 + round);
            let mut forms = Vec::new();
            for i in 0..2 {
                let mut f = ClinicForm::valid(500 + round * 10 + i);
                f.registration = number.clone();
                forms.push(f);
            }
            let (mut b1, mut b2) = (world.browser(), world.browser());
            // Both forms fetched first, then both posted at once.
            let (c1, c2) = (
                b1.get("/portal/register").await.csrf(),
                b2.get("/portal/register").await.csrf(),
            );
            let mut f1 = vec![("csrf", c1.as_str())];
            f1.extend(forms[0].fields());
            let mut f2 = vec![("csrf", c2.as_str())];
            f2.extend(forms[1].fields());
            let (p1, p2) = tokio::join!(
                b1.post("/portal/register", &f1),
                b2.post("/portal/register", &f2)
            );
            let mut statuses = [p1.status, p2.status];
            statuses.sort();
            assert_eq!(
                statuses,
                [StatusCode::OK, StatusCode::BAD_REQUEST],
                "{} / {}",
                p1.text(),
                p2.text()
            );
            let loser = if p1.status == StatusCode::OK {
                &p2
            } else {
                &p1
            };
            loser.expect_text("はすでに別のアカウントで登録されています");
            let holders: i64 = sync(|| {
                onshi_store::portal::read(world.store.portal(), |tx| {
                    tx.query_opt(
                        "SELECT count(*) FROM portal_registration_numbers WHERE number = $1",
                        &[number.replace('-', "").into()],
                    )?
                    .unwrap()
                    .int(0)
                })
                .unwrap()
            });
            assert_eq!(holders, 1);
        }
    });
}

#[test]
fn details_are_edited_and_a_new_number_waits_for_the_operator() {
    each_engine(Options::default(), |world| async move {
        let other = signup(&world, 2).await;
        let mut a = approved_clinic(&world, 1).await;
        let home = a.browser.get("/portal/home").await;
        assert!(home.by_id("edit-details").is_some());
        let page = a.browser.get("/portal/details").await;
        page.expect(StatusCode::OK);
        let csrf = page.csrf();
        let form = |name: &'static str, ahaki: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("name", name.to_owned()),
                ("director", "山田　花子".to_owned()),
                ("address", "東京都千代田区１－１".to_owned()),
                ("phone", "03-0000-1111".to_owned()),
                ("registration", String::new()),
                ("registration_ahaki", ahaki.to_owned()),
            ]
        };
        let post = |f: Vec<(&'static str, String)>| {
            let mut b = a.browser.clone();
            async move {
                let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
                b.post("/portal/details", &pairs).await
            }
        };
        // Another account's number: refused, nothing changed.
        let taken = ClinicForm::valid(2).registration;
        let mut f = form("新しい接骨院", "");
        f[5].1 = taken.clone();
        post(f)
            .await
            .expect(StatusCode::BAD_REQUEST)
            .expect_text("はすでに別のアカウントで登録されています");
        // Details and a new あはき number.
        post(form("新しい接骨院", "契0999999-1-01"))
            .await
            .expect_redirect("/portal/details?done=saved");
        let home = a.browser.get("/portal/home").await;
        assert_eq!(home.by_id("clinic-name").unwrap(), "新しい接骨院");
        home.expect_text("山田　花子")
            .expect_text("契0999999-1-01（実施機関の承認待ち）");
        // While it waits, no other account can take it.
        let mut b = other.browser.clone();
        let c = b.get("/portal/details").await.csrf();
        b.post(
            "/portal/details",
            &[
                ("csrf", c.as_str()),
                ("name", "B"),
                ("director", "B"),
                ("address", "B"),
                ("phone", "03-0000-2222"),
                ("registration_ahaki", "契0999999101"),
            ],
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
        // The operator approves.
        let mut op = operator_browser(&world).await;
        let page = op.get(&format!("/portal/operator/clinics/{}", a.id)).await;
        page.expect_text("変更の申請");
        op.post(
            &format!("/portal/operator/clinics/{}/numbers", a.id),
            &[
                ("csrf", page.csrf().as_str()),
                ("number", "契0999999101"),
                ("approve", "1"),
            ],
        )
        .await
        .expect_redirect(&format!("/portal/operator/clinics/{}?done=number", a.id));
        let mut stored = stored_numbers(&world, &a.email);
        stored.sort();
        assert_eq!(
            stored,
            vec![
                ("ahaki".to_owned(), "契0999999101".to_owned()),
                ("judo".to_owned(), "契0123451123".to_owned()),
            ]
        );
        assert!(world
            .mails()
            .iter()
            .any(|m| m.to == a.email && m.subject.contains("登録記号番号の変更が承認されました")));
        let audit = sync(|| onshi_portal::db::audit_lines(world.store.portal(), 50, 0).unwrap());
        for action in [
            "clinic.details",
            "clinic.number.request",
            "clinic.number.approve",
        ] {
            assert!(audit.iter().any(|l| l.action == action), "{action}");
        }
    });
}
