//! Card links know their issuer (issue 10, finding 4): a link is keyed by (issuer, serial), its
//! validity must be the certificate's, and `issued.csv` names the issuer (old files without the
//! column still import when one CA is trusted).
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use onshi_proto::Mode;
use onshi_server::admin::{import_card_links_trusting, LinkError};

use onshi_testkit::*;

fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

/// A second authority with another name whose serials are the first one's (the same tag in
/// `state.json`): its first card has the serial of the first authority's first card.
fn second_authority(world: &World) -> Cards {
    let dir = world.root.path().join("jlis-b");
    let authority = onshi_jlis::Authority::init_named(
        &dir,
        "onshi TEST second JPKI CA",
        Utc::now() - chrono::Duration::days(3650),
    )
    .unwrap();
    let state = |dir: &std::path::Path| dir.join(onshi_jlis::authority::STATE_FILE);
    std::fs::copy(state(&world.cards.dir), state(&dir)).unwrap();
    Cards { authority, dir }
}

fn import(
    world: &World,
    file: &std::path::Path,
    trusted: &[String],
) -> Result<usize, Vec<LinkError>> {
    sync(|| import_card_links_trusting(world.store.as_ref(), file, false, trusted).unwrap())
        .map(|import| import.links)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_serial_from_two_issuers_is_two_persons() {
    let mut world = World::start(None, |_| {}).await;
    // A second authority, trusted too: its CA goes into the config, with a CRL (required by
    // default), and the server restarts.
    let b = second_authority(&world);
    world.config.jpki_ca.push(b.dir.join("ca.pem"));
    world.config.save(&world.data).unwrap();
    let b_crl = b
        .authority
        .crl(Utc::now(), chrono::Duration::days(7))
        .unwrap();
    world.load_crl(&b_crl).unwrap();
    world.server.take().unwrap().stop().await;
    let server = onshi_server::run::start(&world.data, &world.config)
        .await
        .unwrap();
    world.addr = server.addr;
    world.server = Some(server);
    let a_card = world.cards.valid("P0000000001");
    let b_card = b.valid("P0000000002");
    let a_serial = world.cards.authority.issued().unwrap()[0].serial.clone();
    let b_serial = b.authority.issued().unwrap()[0].serial.clone();
    assert_eq!(a_serial, b_serial, "the two cards must share a serial");
    let t = world.terminal().await;
    let trusted = vec![
        world.cards.authority.subject().to_owned(),
        b.authority.subject().to_owned(),
    ];

    // Only A's issue record: A's card answers P1, B's card (same serial) answers nothing.
    assert_eq!(
        import(&world, &world.cards.dir.join("issued.csv"), &trusted),
        Ok(1)
    );
    let (_, body) = t.check(&a_card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");
    assert_eq!(body["ResultList"][0]["Name"], "髙橋　花子", "{body}");
    let (_, body) = t.check(&b_card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "4", "{body}");

    // B's record too: each card answers its own person.
    assert_eq!(import(&world, &b.dir.join("issued.csv"), &trusted), Ok(1));
    let (_, body) = t.check(&b_card, Mode::Visual, &today()).await;
    assert_eq!(
        body["QualificationValidity"], "2",
        "P2 has a lost record: {body}"
    );
    let (_, body) = t.check(&a_card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");
    assert_eq!(body["ResultList"][0]["Name"], "髙橋　花子", "{body}");
    let a_link = sync(|| world.store.card_link(&trusted[0], &a_serial).unwrap()).unwrap();
    let b_link = sync(|| world.store.card_link(&trusted[1], &b_serial).unwrap()).unwrap();
    assert_eq!(a_link.person_id.as_str(), "P0000000001");
    assert_eq!(b_link.person_id.as_str(), "P0000000002");

    // An old issued.csv (no Issuer column) cannot say whose cards it lists: refused per line.
    let old = world.root.path().join("old-issued.csv");
    std::fs::write(
        &old,
        format!(
            "Serial,PersonId,NotBefore,NotAfter\n{a_serial},P0000000003,2020-01-01T00:00:00Z,2030-01-01T00:00:00Z\n"
        ),
    )
    .unwrap();
    let errors = import(&world, &old, &trusted).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.starts_with("Issuer"), "{errors:?}");
    // An Issuer that is not a trusted CA: refused too.
    let foreign = world.root.path().join("foreign-issued.csv");
    std::fs::write(
        &foreign,
        format!(
            "Serial,PersonId,NotBefore,NotAfter,Issuer\n{a_serial},P0000000003,2020-01-01T00:00:00Z,2030-01-01T00:00:00Z,C=JP\n"
        ),
    )
    .unwrap();
    let errors = import(&world, &foreign, &trusted).unwrap_err();
    assert!(errors[0].message.contains("not a trusted CA"), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_issued_csv_imports_with_the_one_trusted_ca() {
    let world = World::start(None, |_| {}).await;
    let card = world.cards.valid("P0000000001");
    let t = world.terminal().await;
    let record = world.cards.authority.issued().unwrap().remove(0);
    let rfc = |d: chrono::DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let old = world.root.path().join("old-issued.csv");
    std::fs::write(
        &old,
        format!(
            "Serial,PersonId,NotBefore,NotAfter\n{},{},{},{}\n",
            record.serial,
            record.person_id,
            rfc(record.not_before),
            rfc(record.not_after)
        ),
    )
    .unwrap();
    let trusted = vec![world.cards.authority.subject().to_owned()];
    assert_eq!(import(&world, &old, &trusted), Ok(1));
    let link = sync(|| world.store.card_link(&trusted[0], &record.serial).unwrap()).unwrap();
    assert_eq!(link.person_id.as_str(), "P0000000001");
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_whose_validity_is_not_the_certificates_answers_nothing() {
    let world = World::start(None, |_| {}).await;
    let card = world.cards.valid("P0000000001");
    let t = world.terminal().await;
    let record = world.cards.authority.issued().unwrap().remove(0);
    let rfc = |d: chrono::DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The link of another certificate with this serial (another validity).
    let wrong = world.root.path().join("wrong-issued.csv");
    let issuer = world.cards.authority.subject().to_owned();
    std::fs::write(
        &wrong,
        format!(
            "Serial,PersonId,NotBefore,NotAfter,Issuer\n{},{},{},{},\"{issuer}\"\n",
            record.serial,
            record.person_id,
            rfc(record.not_before),
            rfc(record.not_after + chrono::Duration::days(1)),
        ),
    )
    .unwrap();
    assert_eq!(import(&world, &wrong, std::slice::from_ref(&issuer)), Ok(1));
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "4", "{body}");
    // The authority's own record fits: the card answers.
    world.link_cards(false);
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");
}
