//! Revocation fails closed and cannot be rolled back (issue 10, finding 3): a CA without a
//! current CRL refuses its cards (or fails `/readyz`), a CRL is verified and must be newer to
//! load, a serial once revoked stays revoked, and a stored CRL that does not verify neither
//! stops the server nor stays forever.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use onshi_proto::{self as proto, Mode};
use onshi_server::config::CrlMissing;
use onshi_store::StoredCrl;

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

/// The issuer of the world's authority, as the service names it.
fn issuer(world: &World) -> String {
    world.cards.authority.subject().to_owned()
}

/// Sets the authority's next CRL number (to make CRL numbers that differ in length).
fn next_crl_number(world: &World, number: u64) {
    let path = world.cards.dir.join(onshi_jlis::authority::STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["next_crl_number"] = number.into();
    std::fs::write(&path, state.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_without_a_current_crl_refuses_its_cards_by_default() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        assert_eq!(world.config.crl_missing, CrlMissing::Refuse);
        let card = world.cards.valid("P0000000001");
        world.link_cards(false);
        let t = world.terminal().await;
        let (_, body) = t.check(&card, Mode::Visual, &today()).await;
        assert_eq!(body["QualificationValidity"], "1", "{body}");

        // The CRL goes: the card is refused with E011 and a message for the desk.
        assert!(sync(|| world.store.remove_crl(&issuer(&world)).unwrap()));
        world.wait_for_poll().await;
        let (status, body) = t.check(&card, Mode::Pin, &today()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ProcessingResultStatus"], "2", "{body}");
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::CRL_NOT_CURRENT,
            "{body}"
        );
        let message = body["ProcessingResultMessage"].as_str().unwrap();
        assert!(message.contains("失効情報"), "{message}");
        // Refusing the cards is the answer: the instance itself stays ready.
        let anonymous = Https::new(&world, None);
        assert_eq!(anonymous.get(proto::READYZ).await, (200, "ready".into()));

        // A CRL past its nextUpdate counts the same.
        let stale = world
            .cards
            .authority
            .crl(Utc::now() - Duration::days(10), Duration::days(7))
            .unwrap();
        world.load_crl(&stale).unwrap();
        world.wait_for_poll().await;
        let (_, body) = t.check(&card, Mode::Visual, &today()).await;
        assert_eq!(
            body["ProcessingResultCode"],
            proto::codes::CRL_NOT_CURRENT,
            "{body}"
        );

        // A current one: checks again.
        let fresh = world
            .cards
            .authority
            .crl(Utc::now(), Duration::days(7))
            .unwrap();
        world.load_crl(&fresh).unwrap();
        world.wait_for_poll().await;
        let (_, body) = t.check(&card, Mode::Visual, &today()).await;
        assert_eq!(body["QualificationValidity"], "1", "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_crl_missing_unready_readyz_fails_instead() {
    let world = World::start(None, |c| c.crl_missing = CrlMissing::Unready).await;
    let card = world.cards.valid("P0000000001");
    world.link_cards(false);
    let t = world.terminal().await;
    let anonymous = Https::new(&world, None);
    assert_eq!(anonymous.get(proto::READYZ).await, (200, "ready".into()));

    assert!(sync(|| world.store.remove_crl(&issuer(&world)).unwrap()));
    world.wait_for_poll().await;
    assert_eq!(
        anonymous.get(proto::READYZ).await,
        (503, "crl not current".into())
    );
    // Cards are still checked (against the serials every CRL listed).
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");

    let fresh = world
        .cards
        .authority
        .crl(Utc::now(), Duration::days(7))
        .unwrap();
    world.load_crl(&fresh).unwrap();
    world.wait_for_poll().await;
    assert_eq!(anonymous.get(proto::READYZ).await, (200, "ready".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_is_verified_and_must_be_newer_to_load() {
    each_engine(|db| async move {
        let world = World::start(db, |_| {}).await;
        // The world loaded CRL number 1. Number 2, then 256.
        let two = world
            .cards
            .authority
            .crl(Utc::now(), Duration::days(7))
            .unwrap();
        next_crl_number(&world, 256);
        let big = world
            .cards
            .authority
            .crl(Utc::now(), Duration::days(7))
            .unwrap();
        let info = world.load_crl(&big).unwrap();
        assert_eq!(info.number.as_deref(), Some("256"));
        // 2 after 256: older (as bytes 0x02 > 0x01 0x00, as numbers not): refused.
        let err = world.load_crl(&two).unwrap_err();
        assert!(err.contains("256") && err.contains("番号"), "{err}");
        // The same CRL again: not newer either.
        assert!(world.load_crl(&big).is_err());
        let stored = sync(|| world.store.crls().unwrap());
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].der, big);

        // Not signed by a trusted CA: refused, nothing stored.
        let other = Cards::new(&world.root.path().join("other"));
        let foreign = other.authority.crl(Utc::now(), Duration::days(7)).unwrap();
        let err = world.load_crl(&foreign).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // Tampered: refused.
        next_crl_number(&world, 300);
        let mut tampered = world
            .cards
            .authority
            .crl(Utc::now(), Duration::days(7))
            .unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(world.load_crl(&tampered).is_err());
        assert_eq!(sync(|| world.store.crls().unwrap())[0].der, big);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_once_revoked_stays_revoked_when_a_later_crl_drops_it() {
    let world = World::start(None, |_| {}).await;
    let card = world.cards.valid("P0000000001");
    world.link_cards(false);
    let t = world.terminal().await;
    let serial = world.cards.authority.issued().unwrap()[0].serial.clone();
    world.cards.authority.revoke(&serial, Utc::now()).unwrap();
    let listing = world
        .cards
        .authority
        .crl(Utc::now(), Duration::days(7))
        .unwrap();
    world.load_crl(&listing).unwrap();
    // The authority drops the entry (as CAs do once a certificate has expired) and publishes a
    // newer CRL without it.
    let revoked_csv = world.cards.dir.join(onshi_jlis::authority::REVOKED_FILE);
    std::fs::write(&revoked_csv, "Serial,RevokedAt\n").unwrap();
    let dropping = world
        .cards
        .authority
        .crl(Utc::now(), Duration::days(7))
        .unwrap();
    let info = world.load_crl(&dropping).unwrap();
    assert_eq!(info.revoked, 0);
    world.wait_for_poll().await;
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(
        body["ProcessingResultCode"],
        proto::codes::CARD_CERTIFICATE_REVOKED,
        "{body}"
    );
    assert_eq!(
        sync(|| world.store.crl_revoked().unwrap()),
        vec![(issuer(&world), serial)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_crl_that_does_not_verify_neither_stops_the_server_nor_stays() {
    let mut world = World::start(None, |_| {}).await;
    let card = world.cards.valid("P0000000001");
    world.link_cards(false);
    // A CRL stored behind the service's back (as loads did before they were verified).
    let mut bad = world
        .cards
        .authority
        .crl(Utc::now(), Duration::days(7))
        .unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let stored = sync(|| {
        world
            .store
            .put_crl(
                &StoredCrl {
                    issuer: issuer(&world),
                    number: Some(vec![9]),
                    der: bad,
                    loaded_at: Utc::now(),
                },
                &[],
            )
            .unwrap()
    });
    assert!(stored);

    // The server restarts: it starts, and the CA counts as having no CRL.
    world.server.take().unwrap().stop().await;
    let server = onshi_server::run::start(&world.data, &world.config)
        .await
        .expect("a bad stored CRL must not stop the server");
    world.addr = server.addr;
    world.server = Some(server);
    let t = world.terminal().await;
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(
        body["ProcessingResultCode"],
        proto::codes::CRL_NOT_CURRENT,
        "{body}"
    );

    // The operator sees it, removes it, and loads a good one.
    let trusted = onshi_server::admin::trusted_jpki(&world.data, &world.config).unwrap();
    let status =
        sync(|| onshi_server::admin::crl_status(world.store.as_ref(), &trusted, Utc::now()))
            .unwrap();
    assert_eq!(status.len(), 1, "{status:?}");
    assert!(matches!(&status[0].crl, Some(Err(_))), "{status:?}");
    assert!(!status[0].current);
    assert!(
        sync(|| onshi_server::admin::remove_crl(world.store.as_ref(), &issuer(&world))).unwrap()
    );
    next_crl_number(&world, 10);
    let good = world
        .cards
        .authority
        .crl(Utc::now(), Duration::days(7))
        .unwrap();
    world.load_crl(&good).unwrap();
    world.wait_for_poll().await;
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");
}
