//! The checks the issue lists, each against SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use onshi_proto::{self as proto, Mode};
use serde_json::Value;

use onshi_testkit::*;

fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

async fn each_engine<F, Fut>(test: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let scratch = tempfile::tempdir().unwrap();
    for (_, database) in databases(scratch.path()) {
        test(database).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_and_visual_checks_answer_with_exact_fields() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        let t = world.terminal().await;
        for mode in [Mode::Pin, Mode::Visual] {
            let (status, body) = t.check(&card, mode, &today()).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["ProcessingResultStatus"], "1", "{body}");
            assert_eq!(body["QualificationValidity"], "1", "{body}");
            assert_eq!(
                body["ReferenceNumber"].as_str().unwrap().len(),
                22,
                "{body}"
            );
            let r = &body["ResultList"][0];
            assert_eq!(r["InsurerNumber"], "01130012");
            assert_eq!(r["InsuredCardSymbol"], "医国３４０");
            assert_eq!(r["InsuredIdentificationNumber"], "１");
            assert_eq!(r["InsuredBranchNumber"], "00");
            assert_eq!(r["Name"], "髙橋　花子");
            assert_eq!(r["NameKana"], "ﾀｶﾊｼ ﾊﾅｺ");
            assert_eq!(r["Birthdate"], "19800102");
            assert_eq!(r["QualificationDate"], "20200401");
            assert_eq!(r["InsuredPartialContributionRatio"], "030");
            assert!(r.get("PersonId").is_none(), "{r}");
        }
        // Audit: two records for the person, chain intact.
        let audit = sync(|| world.store.audit_for_person("P0000000001").unwrap());
        assert_eq!(audit.len(), 2);
        assert!(world.audit_verify().problems.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_says_which_visit_in_the_audit() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        let t = world.terminal().await;
        let visit_time = "2026-04-01T00:30:05Z";
        let ask = |recheck_of: Option<&str>| {
            let (t, card, recheck_of) = (&t, &card, recheck_of.map(str::to_owned));
            async move {
                let nonce = t.challenge().await;
                let (certificate, signature) = card_answer(card, &nonce, &t.id, None);
                let req = proto::VerifyRequest {
                    mode: Mode::Visual,
                    certificate,
                    signature,
                    nonce,
                    visit_date: onshi_model::date::parse_yyyymmdd("20260401").unwrap(),
                    recheck_of,
                };
                t.https
                    .post(proto::VERIFY, &serde_json::to_value(req).unwrap())
                    .await
            }
        };
        // A reference that is no visit's: refused with the field named, nothing audited.
        for bad in ["", "2026-04-01 00:30", &"9".repeat(65)] {
            let (status, body) = ask(Some(bad)).await;
            assert_eq!(status, 400, "{bad:?}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains("recheck_of"),
                "{body}"
            );
        }
        let (status, body) = ask(Some(visit_time)).await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = ask(None).await;
        assert_eq!(status, 200);
        let audit = sync(|| world.store.audit_for_person("P0000000001").unwrap());
        let rechecks: Vec<Option<&str>> = audit
            .iter()
            .map(|r| r.entry.recheck_of.as_deref())
            .collect();
        assert_eq!(rechecks, [Some(visit_time), None]);
        // The reference is under the chain's hash: the chain verifies as written …
        assert!(world.audit_verify().problems.is_empty());
        // … and an entry with another reference hashes otherwise.
        let mut other = audit[0].entry.clone();
        other.recheck_of = Some("2026-04-01T00:30:06Z".into());
        assert_ne!(
            onshi_store::audit_hash(&audit[0].prev_hash, &audit[0].entry, audit[0].seq),
            onshi_store::audit_hash(&audit[0].prev_hash, &other, audit[0].seq)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_single_use_bound_and_short_lived() {
    each_engine(|db| async move {
        let world = World::start(db, |c| c.challenge_ttl_seconds = 1).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        let t = world.terminal().await;
        let other = world.terminal().await;

        let nonce = t.challenge().await;
        let (certificate, signature) = card_answer(&card, &nonce, &t.id, Some("1234"));
        let req = proto::VerifyRequest {
            mode: Mode::Pin,
            certificate,
            signature,
            nonce: nonce.clone(),
            visit_date: date(&today()),
            recheck_of: None,
        };
        let body = serde_json::to_value(&req).unwrap();
        let (status, first) = t.https.post(proto::VERIFY, &body).await;
        assert_eq!(
            (status, first["QualificationValidity"].clone()),
            (200, Value::from("1")),
            "{first}"
        );
        // Replayed.
        let (status, replay) = t.https.post(proto::VERIFY, &body).await;
        assert_eq!(
            (status, replay["code"].clone()),
            (403, Value::from(proto::codes::BAD_NONCE)),
            "{replay}"
        );
        // Another terminal's nonce.
        let theirs = other.challenge().await;
        let (certificate, signature) = card_answer(&card, &theirs, &t.id, Some("1234"));
        let req = proto::VerifyRequest {
            mode: Mode::Pin,
            certificate,
            signature,
            nonce: theirs,
            visit_date: date(&today()),
            recheck_of: None,
        };
        let (status, body) = t
            .https
            .post(proto::VERIFY, &serde_json::to_value(req).unwrap())
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, Value::from(proto::codes::BAD_NONCE)),
            "{body}"
        );
        // Expired (the test server's nonces live one second).
        let nonce = t.challenge().await;
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (certificate, signature) = card_answer(&card, &nonce, &t.id, Some("1234"));
        let req = proto::VerifyRequest {
            mode: Mode::Pin,
            certificate,
            signature,
            nonce,
            visit_date: date(&today()),
            recheck_of: None,
        };
        let (status, body) = t
            .https
            .post(proto::VERIFY, &serde_json::to_value(req).unwrap())
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, Value::from(proto::codes::BAD_NONCE)),
            "{body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("有効時間"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cards_are_refused_with_what_to_do() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let good = world.cards.valid("P0000000001");
        let revoked = world.cards.valid("P0000000002");
        let now = Utc::now();
        let in_grace = world.cards.issue(
            "P0000000001",
            now - Duration::days(900),
            now - Duration::days(20),
        );
        let beyond = world.cards.issue(
            "P0000000001",
            now - Duration::days(900),
            now - Duration::days(200),
        );
        let soon = world.cards.issue(
            "P0000000001",
            now - Duration::days(900),
            now + Duration::days(20),
        );
        world.link_cards(false);
        let t = world.terminal().await;

        // Forged signature: signed for another terminal id.
        let nonce = t.challenge().await;
        let (certificate, signature) = card_answer(&good, &nonce, "W9999999", Some("1234"));
        let req = proto::VerifyRequest {
            mode: Mode::Pin,
            certificate,
            signature,
            nonce,
            visit_date: date(&today()),
            recheck_of: None,
        };
        let (_, body) = t
            .https
            .post(proto::VERIFY, &serde_json::to_value(req).unwrap())
            .await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::BAD_SIGNATURE,
            "{body}"
        );
        assert_eq!(body["ProcessingResultStatus"], "2");

        // A card from another CA.
        let other = Cards::new(&world.root.path().join("other"));
        let foreign = other.valid("P0000000001");
        let (_, body) = t.check(&foreign, Mode::Visual, &today()).await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::CARD_CERTIFICATE_UNTRUSTED,
            "{body}"
        );

        // Revoked: the CRL goes into the store; the server picks it up within a poll.
        let serial = world
            .cards
            .authority
            .issued()
            .unwrap()
            .into_iter()
            .find(|r| r.person_id == "P0000000002")
            .unwrap()
            .serial;
        world.cards.authority.revoke(&serial, Utc::now()).unwrap();
        let crl = world
            .cards
            .authority
            .crl(Utc::now(), Duration::days(7))
            .unwrap();
        world.load_crl(&crl).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        let (_, body) = t.check(&revoked, Mode::Visual, &today()).await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::CARD_CERTIFICATE_REVOKED,
            "{body}"
        );
        assert!(
            body["ProcessingResultMessage"]
                .as_str()
                .unwrap()
                .contains("失効"),
            "{body}"
        );

        // Expired: inside the grace period with a warning; beyond it refused.
        let (_, body) = t.check(&in_grace, Mode::Pin, &today()).await;
        assert_eq!(body["QualificationValidity"], "1", "{body}");
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::WARN_CERTIFICATE_IN_GRACE,
            "{body}"
        );
        let (_, body) = t.check(&beyond, Mode::Pin, &today()).await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::CARD_CERTIFICATE_EXPIRED,
            "{body}"
        );
        let (_, body) = t.check(&soon, Mode::Visual, &today()).await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::WARN_CERTIFICATE_EXPIRES_SOON,
            "{body}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_by_the_persons_records() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let lost = world.cards.valid("P0000000002");
        let changed = world.cards.valid("P0000000003");
        let nobody = world.cards.valid("P0000000004");
        world.link_cards(false);
        // A card nobody links to.
        let unlinked = world.cards.valid("P0000000001");
        let t = world.terminal().await;
        let validity = |b: &Value| b["QualificationValidity"].as_str().unwrap().to_owned();
        assert_eq!(
            validity(&t.check(&lost, Mode::Visual, &today()).await.1),
            "2"
        );
        assert_eq!(
            validity(&t.check(&changed, Mode::Visual, &today()).await.1),
            "1"
        );
        assert_eq!(
            validity(&t.check(&nobody, Mode::Visual, &today()).await.1),
            "4"
        );
        assert_eq!(
            validity(&t.check(&unlinked, Mode::Visual, &today()).await.1),
            "4"
        );
        // By numbers: the old card of P3 (3), P1's card (1), wrong birth date (4).
        let q = |insurer: &str, number: &str, birth: &str| proto::QueryRequest {
            insurer_number: insurer.into(),
            symbol: Some("医国３４０".into()),
            number: number.into(),
            branch: Some("00".into()),
            birthdate: date(birth),
            visit_date: date(&today()),
        };
        for (query, expected) in [
            (q("01130012", "３", "19900303"), "3"),
            (q("01130012", "１", "19800102"), "1"),
            (q("01130012", "１", "19800103"), "4"),
        ] {
            let (status, body) = t
                .https
                .post(proto::QUERY, &serde_json::to_value(query).unwrap())
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["QualificationValidity"], expected, "{body}");
        }
        let (status, body) = t
            .https
            .post(
                proto::QUERY,
                &serde_json::to_value(q("01130013", "１", "19800102")).unwrap(),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("検証番号"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_cards_and_registration_on_the_spot() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(true);
        let t = world.terminal().await;
        let (_, body) = t.check(&card, Mode::Visual, &today()).await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::CARD_NOT_REGISTERED,
            "{body}"
        );
        assert_eq!(body["QualificationValidity"], "6", "{body}");
        assert_eq!(body["ResultList"].as_array().unwrap().len(), 0);
        // Visual mode cannot register.
        let nonce = t.challenge().await;
        let (certificate, _) = card_answer(&card, &nonce, &t.id, None);
        let req = proto::VerifyRequest {
            mode: Mode::Visual,
            certificate,
            signature: None,
            nonce,
            visit_date: date(&today()),
            recheck_of: None,
        };
        let (status, _) = t
            .https
            .post(proto::REGISTER, &serde_json::to_value(req).unwrap())
            .await;
        assert_eq!(status, 400);
        // PIN mode with consent registers and answers.
        let nonce = t.challenge().await;
        let (certificate, signature) =
            card_answer_for(proto::Purpose::Register, &card, &nonce, &t.id, Some("1234"));
        let req = proto::VerifyRequest {
            mode: Mode::Pin,
            certificate,
            signature,
            nonce,
            visit_date: date(&today()),
            recheck_of: None,
        };
        let (status, body) = t
            .https
            .post(proto::REGISTER, &serde_json::to_value(req).unwrap())
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["QualificationValidity"], "1", "{body}");
        let (_, body) = t.check(&card, Mode::Visual, &today()).await;
        assert_eq!(body["QualificationValidity"], "1", "{body}");
        assert!(body.get("ProcessingResultCode").is_none(), "{body}");
    })
    .await;
}

/// A PIN-mode body: the card's certificate and its signature for `purpose` over `nonce`.
fn pin_body(t: &Terminal, card: &std::path::Path, nonce: &str, purpose: proto::Purpose) -> Value {
    let (certificate, signature) = card_answer_for(purpose, card, nonce, &t.id, Some("1234"));
    serde_json::to_value(proto::VerifyRequest {
        mode: Mode::Pin,
        certificate,
        signature,
        nonce: nonce.to_owned(),
        visit_date: date(&today()),
        recheck_of: None,
    })
    .unwrap()
}

/// Whether a visual check of `card` finds it registered (QualificationValidity 1, not 6).
async fn registered(t: &Terminal, card: &std::path::Path) -> bool {
    let (status, body) = t.check(card, Mode::Visual, &today()).await;
    assert_eq!(status, 200, "{body}");
    match body["QualificationValidity"].as_str() {
        Some("1") => true,
        Some("6") => false,
        _ => panic!("unexpected answer: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checks_signature_sent_to_register_registers_nothing() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(true);
        let t = world.terminal().await;
        // A PIN check, then its very body replayed to /register: refused, nothing registered.
        let nonce = t.challenge().await;
        let body = pin_body(&t, &card, &nonce, proto::Purpose::Verify);
        let (status, answer) = t.https.post(proto::VERIFY, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["QualificationValidity"], "6", "{answer}");
        let (status, answer) = t.https.post(proto::REGISTER, &body).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["code"], proto::codes::BAD_NONCE, "{answer}");
        assert!(!registered(&t, &card).await);
        // A check's signature over a fresh challenge, sent to /register: the signature is not
        // one for registering.
        let nonce = t.challenge().await;
        let body = pin_body(&t, &card, &nonce, proto::Purpose::Verify);
        let (status, answer) = t.https.post(proto::REGISTER, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["ProcessingResultStatus"], "2", "{answer}");
        assert_eq!(
            answer["ProcessingResultCode"],
            proto::codes::BAD_SIGNATURE,
            "{answer}"
        );
        assert!(!registered(&t, &card).await);
        // And a register signature is no check's.
        let nonce = t.challenge().await;
        let body = pin_body(&t, &card, &nonce, proto::Purpose::Register);
        let (status, answer) = t.https.post(proto::VERIFY, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["ProcessingResultCode"],
            proto::codes::BAD_SIGNATURE,
            "{answer}"
        );
        assert!(world.audit_verify().problems.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_whose_audit_write_fails_leaves_the_card_unregistered() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(true);
        let t = world.terminal().await;
        // The challenge is spent by a visual check first; a registration with it then fails
        // to write its audit record (the nonce is spent) and must not register the card.
        let nonce = t.challenge().await;
        let (certificate, _) = card_answer(&card, &nonce, &t.id, None);
        let visual = serde_json::to_value(proto::VerifyRequest {
            mode: Mode::Visual,
            certificate,
            signature: None,
            nonce: nonce.clone(),
            visit_date: date(&today()),
            recheck_of: None,
        })
        .unwrap();
        let (status, answer) = t.https.post(proto::VERIFY, &visual).await;
        assert_eq!(status, 200, "{answer}");
        let body = pin_body(&t, &card, &nonce, proto::Purpose::Register);
        let (status, answer) = t.https.post(proto::REGISTER, &body).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["code"], proto::codes::BAD_NONCE, "{answer}");
        assert!(!registered(&t, &card).await);
        // With a fresh challenge it registers, with its audit record.
        let nonce = t.challenge().await;
        let body = pin_body(&t, &card, &nonce, proto::Purpose::Register);
        let (status, answer) = t.https.post(proto::REGISTER, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["QualificationValidity"], "1", "{answer}");
        assert!(registered(&t, &card).await);
        let audit = sync(|| world.store.audit_for_person("P0000000001").unwrap());
        assert!(audit
            .iter()
            .any(|r| r.entry.mode == onshi_store::AuditMode::Register
                && r.entry.reference_number == answer["ReferenceNumber"].as_str().unwrap()));
        assert!(world.audit_verify().problems.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_key_is_created_beside_the_config_and_guards_the_log() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let path = onshi_server::audit_key::default_path(&world.data);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another key for the same database is refused, for serving and for verifying.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("audit.key"), [0xA5u8; 32]).unwrap();
        let err = sync(|| {
            onshi_server::audit_key::open_or_create(other.path(), world.store.as_ref()).unwrap_err()
        });
        assert!(err.to_string().contains("audit.key"), "{err}");
        let wrong = onshi_server::audit_key::read(&other.path().join("audit.key")).unwrap();
        assert!(sync(|| world.store.audit_verify(&wrong, &[]).unwrap()).is_err());
        // Without a key, on a database that has one: refused too.
        let none = tempfile::tempdir().unwrap();
        assert!(sync(|| {
            onshi_server::audit_key::open_or_create(none.path(), world.store.as_ref()).is_err()
        }));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_must_be_enrolled_and_active() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        // No client certificate.
        let anonymous = Https::new(&world, None);
        let (status, body) = anonymous.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(
            (status, body["code"].clone()),
            (401, Value::from(proto::codes::NO_CLIENT_CERTIFICATE)),
            "{body}"
        );
        // A certificate from another CA is refused at the handshake.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["W0000001".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let stranger = Https::new(&world, Some((cert.pem(), key.serialize_pem())));
        let (status, _) = stranger.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(
            status, 0,
            "a stranger's certificate must fail the handshake"
        );

        // Enrollment: the code works once; a wrong code and a reuse are refused.
        let (clinic, added) = sync(|| {
            let clinic = onshi_server::admin::add_clinic(
                world.store.as_ref(),
                "テスト鍼灸院",
                "契7654321",
                Utc::now(),
            )
            .unwrap();
            let added =
                onshi_server::admin::add_terminal(world.store.as_ref(), clinic.id, 10, Utc::now())
                    .unwrap();
            (clinic, added)
        });
        let (status, body) = world
            .enroll(&added.terminal.id, "AAAA-AAAA-AAAA")
            .await
            .err()
            .unwrap();
        assert_eq!(
            (status, body["code"].clone()),
            (403, Value::from(proto::codes::BAD_ENROLLMENT)),
            "{body}"
        );
        let t = world.enroll(&added.terminal.id, &added.code).await.unwrap();
        assert!(
            world.enroll(&added.terminal.id, &added.code).await.is_err(),
            "a spent code must not work again"
        );
        assert_eq!(t.check(&card, Mode::Visual, &today()).await.0, 200);
        // An expired code.
        let late = sync(|| {
            onshi_server::admin::add_terminal(
                world.store.as_ref(),
                clinic.id,
                10,
                Utc::now() - Duration::hours(73),
            )
            .unwrap()
        });
        assert!(world.enroll(&late.terminal.id, &late.code).await.is_err());

        // Renewal: the new certificate works, the old one is refused from then on.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::new(vec![])
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let (status, body) = t
            .https
            .post(
                proto::RENEW,
                &serde_json::to_value(proto::RenewRequest { csr_pem: csr }).unwrap(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let renewed = Https::new(
            &world,
            Some((
                body["certificate_pem"].as_str().unwrap().to_owned(),
                key.serialize_pem(),
            )),
        );
        assert_eq!(renewed.post(proto::CHALLENGE, &Value::Null).await.0, 200);
        let (status, body) = t.https.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, Value::from(proto::codes::TERMINAL_NOT_ACTIVE)),
            "{body}"
        );
        let t = Terminal {
            id: t.id.clone(),
            https: renewed,
        };

        // Revoked: refused on the next request.
        assert!(sync(|| world
            .store
            .revoke_terminal(&t.id, Utc::now())
            .unwrap()));
        let (status, body) = t.https.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, Value::from(proto::codes::TERMINAL_NOT_ACTIVE)),
            "{body}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_server_certificate() {
    let own = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(own.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(own.path().join("key.pem"), key.serialize_pem()).unwrap();
    let world = World::start(None, |c| {
        c.tls_certificate = Some(own.path().join("cert.pem"));
        c.tls_key = Some(own.path().join("key.pem"));
    })
    .await;
    // A client trusting the operator's certificate gets through; one trusting server-ca.pem does not.
    let trusting_own = Https::with(world.addr, &cert.pem(), None);
    let (status, body) = trusting_own.post(proto::CHALLENGE, &Value::Null).await;
    assert_eq!(status, 401, "{body}");
    let trusting_ours = Https::new(&world, None);
    assert_eq!(
        trusting_ours.post(proto::CHALLENGE, &Value::Null).await.0,
        0
    );
}

/// `[database] statement_timeout_ms`: a check whose read waits on a lock (a migration, a stuck
/// transaction) is answered 503 after the timeout instead of hanging until the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_stuck_on_a_lock_is_answered_503_after_the_statement_timeout() {
    let scratch = tempfile::tempdir().unwrap();
    for (_, database) in databases(scratch.path()) {
        let Some(url) = database else { continue };
        let world = World::start(Some(url.clone()), |c| {
            c.database.statement_timeout_ms = 300;
        })
        .await;
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        let t = world.terminal().await;
        let (status, body) = t.check(&card, Mode::Pin, &today()).await;
        assert_eq!(status, 200, "{body}");
        let (locked, wait_locked) = std::sync::mpsc::channel();
        let (release, wait_release) = std::sync::mpsc::channel::<()>();
        let locker = std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut tx = c.transaction().unwrap();
            tx.batch_execute("LOCK TABLE eligibility IN ACCESS EXCLUSIVE MODE")
                .unwrap();
            locked.send(()).unwrap();
            let _ = wait_release.recv_timeout(std::time::Duration::from_secs(30));
            tx.rollback().unwrap();
        });
        sync(|| wait_locked.recv().unwrap());
        let started = std::time::Instant::now();
        let (status, body) = t.check(&card, Mode::Pin, &today()).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        release.send(()).unwrap();
        sync(|| locker.join().unwrap());
        let (status, body) = t.check(&card, Mode::Pin, &today()).await;
        assert_eq!(status, 200, "{body}");
    }
}
