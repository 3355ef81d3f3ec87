//! Writes: round trips, transactions, idempotent upserts, migrations.
#![allow(clippy::unwrap_used)]

use onshi_model::*;

use super::common::*;

fn rich_record(p: &Person) -> EligibilityRecord {
    let mut r = record(
        p,
        "01130012",
        "医国３４０",
        "０２８２‐００１",
        "01",
        "20200401",
    );
    r.elderly = Some(ElderlyRecipientCertificateInfo {
        certificate_date: Some(date("20240701")),
        valid_start: date("20240801"),
        valid_end: date("20250731"),
        contribution_ratio: ContributionRatio::TWENTY,
    });
    r.disqualification_date = Some(date("20250401"));
    r.reason_of_loss = Some(ReasonOfLoss::OTHER_INSURANCE);
    r.preschool = Some(PreschoolClassification::IN_SCHOOL);
    r.name = PersonName::parse("𠮷田　﨑太郎").unwrap();
    r.insured_name = Some(PersonName::parse("髙橋　一郎").unwrap());
    r.personal_family = PersonalFamilyClassification::FAMILY;
    r.card_issuance_date = Some(date("20200325"));
    r.card_valid_date = Some(date("20200401"));
    r.card_expiration_date = Some(date("20250331"));
    r
}

#[test]
fn every_field_round_trips() {
    for e in engines() {
        let p = person(
            "P0000000001",
            "𠮷田　﨑太郎",
            "ヨシダ　サキタロウ",
            "19540102",
        );
        let koki = person("P0000000002", "渡邊　榮", "ワタナベ　サカエ", "19450301");
        let mut koki_record = record(&koki, "39131156", "", "12345678", "00", "20200301");
        koki_record.address = None;
        koki_record.post_number = None;
        koki_record.contribution_ratio = None;
        koki_record.insured_name = None;
        let records = vec![rich_record(&p), koki_record];
        put(e.store.as_ref(), &[p.clone(), koki.clone()], &records);
        assert_eq!(
            e.store.person(&p.id).unwrap(),
            Some(p.clone()),
            "{}",
            e.name
        );
        assert_eq!(
            e.store.person(&koki.id).unwrap(),
            Some(koki.clone()),
            "{}",
            e.name
        );
        assert_eq!(
            e.store.records_of_person(&p.id).unwrap(),
            vec![records[0].clone()],
            "{}",
            e.name
        );
        assert_eq!(
            e.store.records_of_person(&koki.id).unwrap(),
            vec![records[1].clone()],
            "{}",
            e.name
        );
        let ids = e.store.person_ids().unwrap();
        assert!(
            ids.contains(&p.id) && ids.contains(&koki.id) && ids.len() == 2,
            "{}",
            e.name
        );
        assert_eq!(
            e.store.counts().unwrap(),
            onshi_store::StoreCounts {
                persons: 2,
                records: 2
            },
            "{}",
            e.name
        );
    }
}

#[test]
fn an_import_not_committed_leaves_nothing() {
    for e in engines() {
        let p = person("P0000000001", "山田　太郎", "ヤマダ　タロウ", "19800102");
        {
            let mut tx = e.store.begin_import().unwrap();
            tx.put_persons(std::slice::from_ref(&p)).unwrap();
            tx.put_records(&[record(&p, "01130012", "１２３", "４５６", "00", "20200401")])
                .unwrap();
            // Dropped here without commit, as when an import fails halfway.
        }
        assert_eq!(
            e.store.counts().unwrap(),
            onshi_store::StoreCounts::default(),
            "{}",
            e.name
        );
        assert_eq!(e.store.person(&p.id).unwrap(), None, "{}", e.name);
        // The store is still usable afterwards.
        put(e.store.as_ref(), std::slice::from_ref(&p), &[]);
        assert_eq!(e.store.counts().unwrap().persons, 1, "{}", e.name);
    }
}

#[test]
fn reimport_changes_nothing_and_a_change_is_an_update() {
    for e in engines() {
        let p = person("P0000000001", "山田　太郎", "ヤマダ　タロウ", "19800102");
        let r = record(&p, "01130012", "１２３", "４５６", "00", "20200401");
        let first = put(
            e.store.as_ref(),
            std::slice::from_ref(&p),
            std::slice::from_ref(&r),
        );
        assert_eq!(
            first,
            onshi_store::ImportCounts {
                changed: 2,
                unchanged: 0
            },
            "{}",
            e.name
        );
        let again = put(
            e.store.as_ref(),
            std::slice::from_ref(&p),
            std::slice::from_ref(&r),
        );
        assert_eq!(
            again,
            onshi_store::ImportCounts {
                changed: 0,
                unchanged: 2
            },
            "{}",
            e.name
        );
        let mut lost = r.clone();
        lost.disqualification_date = Some(date("20240401"));
        let update = put(e.store.as_ref(), &[], std::slice::from_ref(&lost));
        assert_eq!(
            update,
            onshi_store::ImportCounts {
                changed: 1,
                unchanged: 0
            },
            "{}",
            e.name
        );
        assert_eq!(
            e.store.records_of_person(&p.id).unwrap(),
            vec![lost],
            "{}",
            e.name
        );
        assert_eq!(e.store.counts().unwrap().records, 1, "{}", e.name);
    }
}

#[test]
fn reopening_keeps_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = person("P0000000001", "山田　太郎", "ヤマダ　タロウ", "19800102");
    {
        let store = onshi_store::open_data_dir(dir.path()).unwrap();
        put(store.as_ref(), std::slice::from_ref(&p), &[]);
    }
    let store =
        onshi_store::open(dir.path().join(onshi_store::SQLITE_FILE).to_str().unwrap()).unwrap();
    assert_eq!(store.person(&p.id).unwrap(), Some(p));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(onshi_store::sqlite::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_migrations (version) VALUES (999)", [])
        .unwrap();
    drop(conn);
    let err = onshi_store::sqlite::SqliteStore::open(&path).err().unwrap();
    assert!(
        matches!(
            err,
            onshi_store::StoreError::SchemaTooNew { found: 999, .. }
        ),
        "{err}"
    );
    if let Some(admin) = postgres_admin_url() {
        let (url, _name) = fresh_postgres(&admin);
        drop(onshi_store::open(&url).unwrap());
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.execute("INSERT INTO schema_migrations (version) VALUES (999)", &[])
            .unwrap();
        let err = onshi_store::open(&url).err().unwrap();
        assert!(
            matches!(
                err,
                onshi_store::StoreError::SchemaTooNew { found: 999, .. }
            ),
            "{err}"
        );
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {_name}"))
            .ok();
    }
}

#[test]
fn instances_starting_together_migrate_once() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let (url, _name) = fresh_postgres(&admin);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || onshi_store::open(&url).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    // Every migration once: 1 (persons, records), 2 (the eligibility service), 3 (the portal),
    // 4 (the portal's mail queue and operators' TOTP), 5 (the audit key's legacy seal), 7 (card
    // links by issuer, CRL numbers, kept revoked serials), 8 (the audit log by time), 9 (the
    // card's own dates), 10 (the portal's registration numbers), 11 (the portal's accounts,
    // documents, messages, information pages), 12 (the wrong-link guard), 13 (rate counters),
    // 15 (former names), 16 (the re-checked visit in the audit), 17 (spent challenges by age).
    assert_eq!(n, 15);
}

#[test]
fn readers_on_many_threads() {
    for e in engines() {
        let persons: Vec<Person> = (1..=50)
            .map(|i| {
                person(
                    &format!("P{i:010}"),
                    "山田　太郎",
                    "ヤマダ　タロウ",
                    "19800102",
                )
            })
            .collect();
        let records: Vec<EligibilityRecord> = persons
            .iter()
            .enumerate()
            .map(|(i, p)| record(p, "01130012", "１２３", &format!("{i}"), "00", "20200401"))
            .collect();
        put(e.store.as_ref(), &persons, &records);
        let store = e.store.as_ref();
        std::thread::scope(|s| {
            for t in 0..4 {
                let persons = &persons;
                s.spawn(move || {
                    for p in persons.iter().skip(t) {
                        let a = store
                            .eligibility_for_person(&p.id, date("20250101"))
                            .unwrap();
                        assert_eq!(a.validity, QualificationValidity::VALID);
                    }
                });
            }
        });
    }
}

#[test]
fn a_chunk_with_new_and_stored_rows_and_a_record_moving_to_another_person() {
    for e in engines() {
        let a = person("P0000000001", "山田　太郎", "ヤマダ　タロウ", "19800102");
        let b = person("P0000000002", "山田　次郎", "ヤマダ　ジロウ", "19800102");
        let r1 = record(&a, "01130012", "１", "１", "00", "20200401");
        let r2 = record(&a, "01130012", "１", "２", "00", "20200401");
        put(
            e.store.as_ref(),
            &[a.clone(), b.clone()],
            std::slice::from_ref(&r1),
        );
        // The insurer corrects the link of r1 to person b, and sends r2 for the first time.
        let mut moved = r1.clone();
        moved.person_id = b.id.clone();
        moved.name = b.name.clone();
        moved.name_kana = b.name_kana.clone();
        let counts = put(e.store.as_ref(), &[], &[moved.clone(), r2.clone()]);
        assert_eq!(
            counts,
            onshi_store::ImportCounts {
                changed: 2,
                unchanged: 0
            },
            "{}",
            e.name
        );
        assert_eq!(
            e.store.records_of_person(&a.id).unwrap(),
            vec![r2],
            "{}",
            e.name
        );
        assert_eq!(
            e.store.records_of_person(&b.id).unwrap(),
            vec![moved],
            "{}",
            e.name
        );
        assert_eq!(e.store.counts().unwrap().records, 2, "{}", e.name);
    }
}
