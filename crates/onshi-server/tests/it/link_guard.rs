//! The wrong-link guard (issue 15) on both engines: links whose holder (the card authority's
//! record) is not the linked person are held and answered with no records (E012, audited); links
//! whose name differs only in spelling are answered and listed; a corrected re-import releases the
//! hold; an operator's release and hold are audited; a card pointed at a new person is answered
//! with W004 for a while.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use onshi_proto::Mode;
use onshi_server::admin::{import_card_links_at, LinkImport};
use onshi_store::link_checks::{self, Decision, LinkStatus};
use serde_json::Value;

use onshi_testkit::*;

fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

fn rfc(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One line of an issued.csv as a card authority writes it, with the holder given.
struct Line<'a> {
    record: &'a onshi_pki::IssuedRecord,
    person: &'a str,
    name: &'a str,
    birth: &'a str,
    sex: &'a str,
}

fn issued_csv(world: &World, file: &str, lines: &[Line<'_>]) -> std::path::PathBuf {
    let mut text =
        "Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex\n".to_owned();
    for l in lines {
        text.push_str(&format!(
            "{},{},{},{},\"{}\",{},,{},{}\n",
            l.record.serial,
            l.person,
            rfc(l.record.not_before),
            rfc(l.record.not_after),
            l.record.issuer,
            l.name,
            l.birth,
            l.sex
        ));
    }
    let path = world.root.path().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn import(world: &World, file: &std::path::Path) -> LinkImport {
    let trusted = vec![world.cards.authority.subject().to_owned()];
    sync(|| {
        import_card_links_at(world.store.as_ref(), file, false, &trusted, Utc::now())
            .unwrap()
            .unwrap()
    })
}

fn status(world: &World, serial: &str) -> LinkStatus {
    let issuer = world.cards.authority.subject().to_owned();
    sync(|| link_checks::link_check(world.store.portal(), &issuer, serial).unwrap())
        .unwrap()
        .status
}

fn held(body: &Value) -> bool {
    body["ProcessingResultStatus"] == "2"
        && body["ProcessingResultCode"] == "E012"
        && body["ResultList"].as_array().is_some_and(Vec::is_empty)
        && body["ProcessingResultMessage"]
            .as_str()
            .is_some_and(|m| m.contains("このカードの登録内容を保険者が確認中です"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_links_are_held_and_spellings_answered_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, database) in databases(dir.path()) {
        let world = World::start(database, |_| {}).await;
        let t = world.terminal().await;
        // Cards: A for P1 (髙橋　花子), B for P3 (𠮷田　桜), C for P1, D for P2 (山﨑　梅),
        // E for P4 (佐藤　杏).
        // (Each card valid a second longer than the one before: the card files are named by
        // person and end of validity.)
        let cards: Vec<_> = [
            "P0000000001",
            "P0000000003",
            "P0000000001",
            "P0000000002",
            "P0000000004",
        ]
        .iter()
        .zip(0..)
        .map(|(p, i)| {
            world.cards.issue(
                p,
                Utc::now() - chrono::Duration::days(30),
                Utc::now() + chrono::Duration::days(1500) + chrono::Duration::seconds(i),
            )
        })
        .collect();
        let issued = world.cards.authority.issued().unwrap();
        let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| &issued[i]);
        let first = issued_csv(
            &world,
            "first.csv",
            &[
                // 異体字 only: answered, listed.
                Line {
                    record: a,
                    person: "P0000000001",
                    name: "高橋　花子",
                    birth: "19800102",
                    sex: "2",
                },
                // Birth date off by a day: held.
                Line {
                    record: b,
                    person: "P0000000003",
                    name: "𠮷田　桜",
                    birth: "19900304",
                    sex: "2",
                },
                // P1's card linked to P2 (another person's serial): held.
                Line {
                    record: c,
                    person: "P0000000002",
                    name: "髙橋　花子",
                    birth: "19800102",
                    sex: "2",
                },
                // Sex swapped: held.
                Line {
                    record: d,
                    person: "P0000000002",
                    name: "山﨑　梅",
                    birth: "19700505",
                    sex: "1",
                },
                // P4's card linked to P2 at first: held; corrected below.
                Line {
                    record: e,
                    person: "P0000000002",
                    name: "佐藤　杏",
                    birth: "20000101",
                    sex: "2",
                },
            ],
        );
        let found = import(&world, &first);
        assert_eq!(
            (found.links, found.matched, found.name_only, found.held),
            (5, 0, 1, 4),
            "{engine}: {found:?}"
        );
        assert_eq!(found.report.len(), 5, "{engine}");
        assert_eq!(status(&world, &a.serial), LinkStatus::NameOnly);
        for r in [b, c, d, e] {
            assert_eq!(
                status(&world, &r.serial),
                LinkStatus::Held,
                "{engine}: {}",
                r.serial
            );
        }

        // At the counter: the spelling variant answers; every held card answers nothing.
        let (code, body) = t.check(&cards[0], Mode::Visual, &today()).await;
        assert_eq!(code, 200);
        assert_eq!(body["QualificationValidity"], "1", "{engine}: {body}");
        assert_eq!(
            body["ResultList"][0]["Name"], "髙橋　花子",
            "{engine}: {body}"
        );
        for (i, card) in cards.iter().enumerate().skip(1) {
            let (code, body) = t.check(card, Mode::Visual, &today()).await;
            assert_eq!(code, 200, "{engine}: card {i}");
            assert!(held(&body), "{engine}: card {i}: {body}");
        }
        // Audited as held, with the person withheld.
        let withheld = sync(|| world.store.audit_for_person("P0000000003").unwrap());
        assert!(
            withheld.iter().any(|r| r.entry.answer == "E012"),
            "{engine}: {withheld:?}"
        );

        // A corrected file releases the holds it corrects; E now points at P4: W004.
        let corrected = issued_csv(
            &world,
            "corrected.csv",
            &[
                Line {
                    record: b,
                    person: "P0000000003",
                    name: "𠮷田　桜",
                    birth: "19900303",
                    sex: "2",
                },
                Line {
                    record: e,
                    person: "P0000000004",
                    name: "佐藤　杏",
                    birth: "20000101",
                    sex: "2",
                },
            ],
        );
        let found = import(&world, &corrected);
        assert_eq!((found.matched, found.held), (2, 0), "{engine}: {found:?}");
        let (_, body) = t.check(&cards[1], Mode::Visual, &today()).await;
        assert_eq!(body["ProcessingResultStatus"], "1", "{engine}: {body}");
        assert!(body["ProcessingResultCode"].is_null(), "{engine}: {body}");
        let (_, body) = t.check(&cards[4], Mode::Visual, &today()).await;
        assert_eq!(body["ProcessingResultStatus"], "1", "{engine}: {body}");
        assert_eq!(body["ProcessingResultCode"], "W004", "{engine}: {body}");
        assert!(
            body["ProcessingResultMessage"]
                .as_str()
                .is_some_and(|m| m.contains("ひも付けが最近変更されました")),
            "{engine}: {body}"
        );

        // The operator: D released (answered again), A held (answered with nothing); both in
        // the operators' audit; a re-import of the same line keeps the decision.
        let issuer = world.cards.authority.subject().to_owned();
        let now = Utc::now();
        let released = sync(|| {
            link_checks::decide_link(
                world.store.portal(),
                None,
                &d.serial,
                Decision::Release,
                link_checks::Actor {
                    role: "admin",
                    id: 0,
                    name: "operator-a",
                },
                "保険者に確認済み（性別の登録誤り）",
                now,
            )
            .unwrap()
        })
        .unwrap();
        assert_eq!(released.status, LinkStatus::Released);
        sync(|| {
            link_checks::decide_link(
                world.store.portal(),
                Some(&issuer),
                &a.serial,
                Decision::Hold,
                link_checks::Actor {
                    role: "admin",
                    id: 0,
                    name: "operator-a",
                },
                "保険者の確認待ち",
                now,
            )
            .unwrap()
        })
        .unwrap();
        let (_, body) = t.check(&cards[3], Mode::Visual, &today()).await;
        assert_eq!(body["ProcessingResultStatus"], "1", "{engine}: {body}");
        let (_, body) = t.check(&cards[0], Mode::Visual, &today()).await;
        assert!(held(&body), "{engine}: {body}");
        let audit = sync(|| {
            onshi_store::portal::read(world.store.portal(), |tx| {
                tx.query(
                    "SELECT action, target, detail FROM portal_audit WHERE action LIKE 'link.%' ORDER BY id",
                    &[],
                )
            })
            .unwrap()
        });
        assert_eq!(audit.len(), 2, "{engine}");
        assert_eq!(audit[0].text(0).unwrap(), "link.release");
        assert!(audit[0].text(1).unwrap().ends_with(&d.serial));
        assert_eq!(audit[1].text(0).unwrap(), "link.hold");
        let found = import(&world, &first);
        assert_eq!(found.decisions_kept, 2, "{engine}: {found:?}");
        assert_eq!(status(&world, &d.serial), LinkStatus::Released);
        assert_eq!(status(&world, &a.serial), LinkStatus::HeldByOperator);

        // The review list: held first, with what differed.
        let review = sync(|| link_checks::links_to_review(world.store.portal()).unwrap());
        assert_eq!(review[0].status, LinkStatus::Held, "{engine}: {review:?}");
        assert!(
            review
                .iter()
                .any(|l| l.serial == c.serial && l.differences.iter().any(|k| k == "name")),
            "{engine}: {review:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_under_the_former_name_is_answered_and_listed_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, database) in databases(dir.path()) {
        let world = World::start(database, |_| {}).await;
        let t = world.terminal().await;
        let card = world.cards.issue(
            "P0000000001",
            Utc::now() - chrono::Duration::days(30),
            Utc::now() + chrono::Duration::days(1500),
        );
        let record = world.cards.authority.issued().unwrap().remove(0);
        let file = issued_csv(
            &world,
            "former.csv",
            &[Line {
                record: &record,
                person: "P0000000001",
                name: onshi_testkit::P1_FORMER_NAME,
                birth: "19800102",
                sex: "2",
            }],
        );
        let found = import(&world, &file);
        assert_eq!(
            (found.links, found.name_only, found.held),
            (1, 1, 0),
            "{engine}: {found:?}"
        );
        assert_eq!(status(&world, &record.serial), LinkStatus::NameOnly);
        // Listed for review with what differed: the former name.
        let listed = sync(|| link_checks::links_to_review(world.store.portal()).unwrap());
        assert_eq!(listed.len(), 1, "{engine}: {listed:?}");
        assert!(
            listed[0].differences_ja().contains("旧姓"),
            "{engine}: {}",
            listed[0].differences_ja()
        );
        // Answered with her records.
        let (code, body) = t.check(&card, Mode::Visual, &today()).await;
        assert_eq!(code, 200, "{engine}");
        assert_eq!(body["QualificationValidity"], "1", "{engine}: {body}");
        assert_eq!(
            body["ResultList"][0]["Name"], "髙橋　花子",
            "{engine}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_holders_imports_unchecked_and_answers() {
    let world = World::start(None, |_| {}).await;
    let card = world.cards.valid("P0000000001");
    let t = world.terminal().await;
    let record = world.cards.authority.issued().unwrap().remove(0);
    let old = world.root.path().join("issuer-only.csv");
    std::fs::write(
        &old,
        format!(
            "Serial,PersonId,NotBefore,NotAfter,Issuer\n{},P0000000001,{},{},\"{}\"\n",
            record.serial,
            rfc(record.not_before),
            rfc(record.not_after),
            record.issuer
        ),
    )
    .unwrap();
    let found = import(&world, &old);
    assert_eq!((found.links, found.unchecked), (1, 1), "{found:?}");
    assert_eq!(status(&world, &record.serial), LinkStatus::Unchecked);
    let (_, body) = t.check(&card, Mode::Visual, &today()).await;
    assert_eq!(body["QualificationValidity"], "1", "{body}");
}
