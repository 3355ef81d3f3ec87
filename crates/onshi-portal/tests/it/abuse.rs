//! The portal under abuse (issue 10, findings 1, 11 and 12): a full password-hashing pool
//! answers 503 before doing anything; mail is queued, sent in the background, retried; limits
//! per address on registration and reset links; unconfirmed registrations removed after 72 h;
//! growing delays instead of a lock; separate buckets for clinics and operators; TOTP for
//! operators; one reset link spends the others; page views need no writer's lock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration as StdDuration, Instant};

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use onshi_portal::db::{self, Attempt, Limit};
use onshi_portal::mail::{self, Mailer};

use super::harness::*;

/// Mails in the outbox folder, without running the worker.
fn outbox_files(world: &World) -> usize {
    std::fs::read_dir(&world.settings.outbox)
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Takes every place of the hashing pool.
fn fill_hashing_pool(world: &World) -> Vec<onshi_portal::hashing::Slot> {
    let mut held = vec![];
    while let Ok(slot) = world.portal.hasher.admit() {
        held.push(slot);
    }
    held
}

#[test]
fn a_full_hashing_pool_answers_503_and_does_nothing() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        let reset = {
            let mut guest = world.browser();
            guest
                .submit("/portal/reset", "/portal/reset", &[("email", &a.email)])
                .await
                .expect(StatusCode::OK);
            world.link(&a.email, "/portal/reset/confirm")
        };
        let token = reset.split("token=").nth(1).unwrap().to_owned();
        let mut guest = world.browser();
        let csrf = guest.get(&reset).await.csrf();
        let clinics = sync(|| world.store.clinics().unwrap()).len();
        let held = fill_hashing_pool(&world);

        let page = register(&mut world.browser(), &ClinicForm::valid(2)).await;
        page.expect(StatusCode::SERVICE_UNAVAILABLE)
            .expect_text("混み合っています");
        login(&mut world.browser(), &a.email, &a.password)
            .await
            .expect(StatusCode::SERVICE_UNAVAILABLE);
        let fields = [
            ("csrf", csrf.as_str()),
            ("token", token.as_str()),
            ("password", "a brand new password"),
            ("password_confirm", "a brand new password"),
        ];
        guest
            .post("/portal/reset/confirm", &fields)
            .await
            .expect(StatusCode::SERVICE_UNAVAILABLE);
        // Nothing was done: no clinic, no mail, the link still unspent.
        assert_eq!(sync(|| world.store.clinics().unwrap()).len(), clinics);
        assert_eq!(sync(|| mail::queued(world.store.portal()).unwrap()), vec![]);
        drop(held);
        guest
            .post("/portal/reset/confirm", &fields)
            .await
            .expect(StatusCode::OK)
            .expect_text("パスワードを変更しました");
    });
}

#[test]
fn mail_is_queued_on_the_request_and_sent_by_the_worker_with_retries() {
    each_engine(Options::default(), |world| async move {
        let form = ClinicForm::valid(1);
        register(&mut world.browser(), &form)
            .await
            .expect(StatusCode::OK);
        // Nothing was sent while the request waited: the mail is in the queue.
        assert_eq!(outbox_files(&world), 0);
        let queued = sync(|| mail::queued(world.store.portal()).unwrap());
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].to, form.email);

        // A transport that fails: retried later, with growing back-off.
        let blocked = world.dir.path().join("not-a-folder");
        std::fs::write(&blocked, b"a file").unwrap();
        let broken = Mailer::Outbox(blocked.join("outbox"));
        let db = world.store.portal();
        let t0 = Utc::now();
        let d = sync(|| mail::deliver_due(db, &broken, "portal@onshi.test", t0).unwrap());
        assert_eq!((d.sent, d.retried, d.given_up), (0, 1, 0));
        let q = sync(|| mail::queued(db).unwrap());
        assert_eq!(q[0].attempts, 1);
        assert_eq!(
            q[0].next_attempt_at.timestamp(),
            t0.timestamp() + mail::backoff_seconds(1)
        );
        // Not due yet: nothing is tried.
        let d = sync(|| {
            mail::deliver_due(
                db,
                &world.portal.mailer,
                "x@onshi.test",
                t0 + Duration::seconds(10),
            )
            .unwrap()
        });
        assert_eq!(d, mail::Delivery::default());
        assert_eq!(outbox_files(&world), 0);
        // Due: the worker's round sends it and the queue is empty.
        let d = sync(|| {
            world
                .portal
                .background_round(t0 + Duration::seconds(mail::backoff_seconds(1)))
                .unwrap()
        });
        assert_eq!(d.sent, 1);
        assert_eq!(sync(|| mail::queued(db).unwrap()), vec![]);
        assert!(world
            .link(&form.email, "/portal/confirm")
            .contains("token="));

        // A mail that never goes is given up after the last attempt, its link removed.
        let mut reset = world.browser();
        reset
            .submit("/portal/reset", "/portal/reset", &[("email", &form.email)])
            .await
            .expect(StatusCode::OK);
        let mut t = Utc::now();
        for _ in 0..mail::MAX_ATTEMPTS {
            sync(|| mail::deliver_due(db, &broken, "x@onshi.test", t).unwrap());
            t += Duration::hours(2);
        }
        let q = sync(|| mail::queued(db).unwrap());
        assert_eq!(
            (q.len(), q[0].failed, q[0].attempts),
            (1, true, mail::MAX_ATTEMPTS)
        );
        assert_eq!(backoffs(), [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    });
}

fn backoffs() -> Vec<i64> {
    (1..mail::MAX_ATTEMPTS).map(mail::backoff_seconds).collect()
}

#[test]
fn unconfirmed_registrations_go_after_72_hours() {
    each_engine(Options::default(), |world| async move {
        let kept = signup(&world, 1).await;
        let form = ClinicForm::valid(2);
        register(&mut world.browser(), &form)
            .await
            .expect(StatusCode::OK);
        let clinics = sync(|| world.store.clinics().unwrap()).len();
        let now = Utc::now();
        sync(|| {
            world
                .portal
                .background_round(now + Duration::hours(71))
                .unwrap()
        });
        assert!(
            sync(|| db::account_by_email(world.store.portal(), &form.email).unwrap()).is_some()
        );
        sync(|| {
            world
                .portal
                .background_round(now + Duration::hours(73))
                .unwrap()
        });
        assert!(
            sync(|| db::account_by_email(world.store.portal(), &form.email).unwrap()).is_none()
        );
        assert_eq!(sync(|| world.store.clinics().unwrap()).len(), clinics - 1);
        // The confirmed one stays; the address can register again.
        assert!(
            sync(|| db::account_by_email(world.store.portal(), &kept.email).unwrap()).is_some()
        );
        register(&mut world.browser(), &form)
            .await
            .expect(StatusCode::OK);
    });
}

#[test]
fn registrations_and_reset_links_are_limited_per_address() {
    each_engine(Options::default(), |world| async move {
        let now = Utc::now().timestamp();
        for _ in 0..REGISTRATIONS_PER_ADDRESS {
            sync(|| {
                onshi_store::portal::transaction(world.store.portal(), |tx| {
                    tx.execute(
                        "INSERT INTO portal_login_failures (throttle_key, at) VALUES ('register:203.0.113.77', $1)",
                        &[now.into()],
                    )
                })
                .unwrap()
            });
        }
        let mut flooder = Browser::new(&world, "203.0.113.77:1");
        register(&mut flooder, &ClinicForm::valid(1))
            .await
            .expect(StatusCode::TOO_MANY_REQUESTS)
            .expect_text("しばらく登録できません");
        assert!(sync(|| mail::queued(world.store.portal()).unwrap()).is_empty());
        register(&mut world.browser(), &ClinicForm::valid(1))
            .await
            .expect(StatusCode::OK);

        // Guessing reset links from one address: slowed down after a few.
        let mut guesser = Browser::new(&world, "203.0.113.78:1");
        let csrf = guesser.get("/portal/reset/confirm?token=x").await.csrf();
        let mut statuses = vec![];
        for i in 0..=FAILURES_PER_ADDRESS {
            let token = format!("{i:064}");
            statuses.push(
                guesser
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
                    .status,
            );
        }
        assert_eq!(
            statuses.last(),
            Some(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        assert!(statuses[..FAILURES_PER_ADDRESS as usize]
            .iter()
            .all(|s| *s == StatusCode::BAD_REQUEST));
    });
}

#[test]
fn using_one_reset_link_spends_every_other() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        let mut guest = world.browser();
        let mut links = vec![];
        for _ in 0..2 {
            guest
                .submit("/portal/reset", "/portal/reset", &[("email", &a.email)])
                .await
                .expect(StatusCode::OK);
            links.push(world.link(&a.email, "/portal/reset/confirm"));
        }
        assert_ne!(links[0], links[1]);
        for (i, link) in links.iter().rev().enumerate() {
            let token = link.split("token=").nth(1).unwrap().to_owned();
            let csrf = guest.get(link).await.csrf();
            let page = guest
                .post(
                    "/portal/reset/confirm",
                    &[
                        ("csrf", &csrf),
                        ("token", &token),
                        ("password", "a brand new password"),
                        ("password_confirm", "a brand new password"),
                    ],
                )
                .await;
            if i == 0 {
                page.expect(StatusCode::OK);
            } else {
                page.expect(StatusCode::BAD_REQUEST)
                    .expect_text("このリンクはすでに使われています。");
            }
        }
    });
}

#[test]
fn delays_grow_per_key_and_end_by_themselves() {
    each_engine(Options::default(), |world| async move {
        let db = world.store.portal();
        let limit = Limit::new("account:delays@example.jp", 3, 15, 60);
        let t0 = Utc::now();
        let at = |s: i64| t0 + Duration::seconds(s);
        let reserve = |s: i64| {
            sync(|| {
                db::reserve_attempt(
                    db,
                    std::slice::from_ref(&limit),
                    at(s),
                    at(s) - Duration::minutes(15),
                )
                .unwrap()
            })
        };
        let mut seen = vec![];
        for s in [0, 0, 0, 0, 15, 15, 45, 46, 105, 106, 165] {
            seen.push((s, reserve(s)));
        }
        assert_eq!(
            seen,
            [
                (0, Attempt::Allowed),
                (0, Attempt::Allowed),
                (0, Attempt::Allowed),
                (0, Attempt::Wait(15)),
                (15, Attempt::Allowed),
                (15, Attempt::Wait(30)),
                (45, Attempt::Allowed),
                (46, Attempt::Wait(59)),
                (105, Attempt::Allowed),
                // At most a minute: the account's owner waits, but is never locked out.
                (106, Attempt::Wait(59)),
                (165, Attempt::Allowed),
            ]
        );
    });
}

#[test]
fn a_guesser_cannot_lock_a_clinic_out() {
    each_engine(Options::default(), |world| async move {
        let a = signup(&world, 1).await;
        // Fifty wrong guesses from many addresses, the last two minutes ago.
        let past = Utc::now() - Duration::seconds(120);
        for i in 0..50 {
            let limits = onshi_portal::auth::Bucket::Clinic.limits(
                &world.settings,
                &a.email,
                &format!("198.18.0.{i}"),
            );
            sync(|| {
                onshi_store::portal::transaction(world.store.portal(), |tx| {
                    for l in &limits {
                        tx.execute(
                            "INSERT INTO portal_login_failures (throttle_key, at) VALUES ($1, $2)",
                            &[l.key.as_str().into(), (past.timestamp() - 50 + i).into()],
                        )?;
                    }
                    Ok(())
                })
                .unwrap()
            });
        }
        let mut owner = Browser::new(&world, "203.0.113.200:1");
        login(&mut owner, &a.email, &a.password)
            .await
            .expect_redirect("/portal/home");
        // Right after more failures, the account waits a little and says how long.
        let mut guesser = Browser::new(&world, "203.0.113.201:1");
        for _ in 0..FAILURES_PER_ACCOUNT {
            login(&mut guesser, &a.email, "wrong password")
                .await
                .expect(StatusCode::UNAUTHORIZED);
        }
        let page = login(
            &mut Browser::new(&world, "203.0.113.202:1"),
            &a.email,
            &a.password,
        )
        .await;
        page.expect(StatusCode::TOO_MANY_REQUESTS)
            .expect_text("秒ほど待ってから");
    });
}

#[test]
fn clinics_and_operators_count_in_separate_buckets() {
    each_engine(Options::default(), |world| async move {
        let _ = operator(&world);
        let mut shared = Browser::new(&world, "203.0.113.90:1");
        for i in 0..FAILURES_PER_ADDRESS {
            login(
                &mut shared,
                &format!("nobody{i}@example.jp"),
                "wrong password",
            )
            .await
            .expect(StatusCode::UNAUTHORIZED);
        }
        login(&mut shared, "nobody@example.jp", "wrong password")
            .await
            .expect(StatusCode::TOO_MANY_REQUESTS);
        // The same address's operator login is not slowed by the clinics' failures.
        let code = operator_code(&world);
        let page = shared
            .submit(
                "/portal/operator/login",
                "/portal/operator/login",
                &[
                    ("login", OPERATOR_LOGIN),
                    ("password", OPERATOR_PASSWORD),
                    ("code", &code),
                ],
            )
            .await;
        page.expect_redirect("/portal/operator/");
    });
}

#[test]
fn operators_log_in_with_a_totp_code_used_once() {
    each_engine(Options::default(), |world| async move {
        let _ = operator(&world);
        let try_login = |code: String| {
            let world = world.clone();
            async move {
                let mut b = Browser::new(&world, "198.51.100.30:1");
                b.submit(
                    "/portal/operator/login",
                    "/portal/operator/login",
                    &[
                        ("login", OPERATOR_LOGIN),
                        ("password", OPERATOR_PASSWORD),
                        ("code", &code),
                    ],
                )
                .await
            }
        };
        try_login(String::new())
            .await
            .expect(StatusCode::UNAUTHORIZED)
            .expect_text("確認コードが違う");
        let right = operator_code(&world);
        let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
        try_login(wrong)
            .await
            .expect(StatusCode::UNAUTHORIZED)
            .expect_text("確認コードが違う");
        try_login(right.clone())
            .await
            .expect_redirect("/portal/operator/");
        // The same code again, in its window: refused.
        try_login(right)
            .await
            .expect(StatusCode::UNAUTHORIZED)
            .expect_text("すでに使われています");
        let actions: Vec<String> = sync(|| {
            db::audit_lines(world.store.portal(), 100, 0)
                .unwrap()
                .into_iter()
                .map(|l| l.action)
                .collect()
        });
        assert_eq!(actions.iter().filter(|a| *a == "operator.login").count(), 1);
    });
}

#[test]
fn page_views_do_not_wait_for_a_writer() {
    each_engine(Options::default(), |world| async move {
        let mut a = signup(&world, 1).await;
        a.browser.get("/portal/home").await.expect(StatusCode::OK);
        // A long write holds the writers' lock (as a burst of checks' audit writes would).
        let store = world.store.clone();
        let writer = std::thread::spawn(move || {
            onshi_store::portal::transaction(store.portal(), |tx| {
                tx.execute("UPDATE portal_throttle_locks SET touched_at = 0", &[])?;
                std::thread::sleep(StdDuration::from_secs(3));
                Ok(())
            })
            .unwrap()
        });
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        let started = Instant::now();
        a.browser
            .get("/portal/home")
            .await
            .expect(StatusCode::OK)
            .expect_text(&ClinicForm::valid(1).name);
        let took = started.elapsed();
        sync(|| writer.join().unwrap());
        assert!(
            took < StdDuration::from_millis(1500),
            "{}: a page view waited {took:?} for a writer",
            world.engine
        );
    });
}

#[test]
fn a_flood_from_one_address_is_turned_away_before_the_store() {
    each_engine(Options::default(), |world| async move {
        let mut flooder = Browser::new(&world, "203.0.113.90:1");
        let mut statuses = Vec::new();
        for i in 0..40 {
            statuses.push(
                register(&mut flooder, &ClinicForm::valid(100 + i))
                    .await
                    .status,
            );
        }
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        // Every attempt the store saw left a row; the in-memory gate let at most its burst
        // through, so most of the flood never reached the store (nor its writer lock).
        let rows = sync(|| {
            onshi_store::portal::transaction(world.store.portal(), |tx| {
                tx.query(
                    "SELECT throttle_key FROM portal_login_failures WHERE throttle_key = 'register:203.0.113.90'",
                    &[],
                )
            })
            .unwrap()
        });
        assert!(
            rows.len() <= onshi_portal::REGISTRATION_GATE_BURST as usize + 1,
            "{} attempts reached the store",
            rows.len()
        );
        // Another address is not held up by the flood.
        register(&mut world.browser(), &ClinicForm::valid(1))
            .await
            .expect(StatusCode::OK);
    });
}
