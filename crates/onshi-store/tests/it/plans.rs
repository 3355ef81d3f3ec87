//! Every query path of a check on an index, on PostgreSQL: the plans PostgreSQL chose (logged by
//! `auto_explain` for every statement of the test's database) hold no sequential scan of a large
//! table.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use onshi_model::{InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber};
use onshi_model::{InsurerNumber, KeyQuery, PersonId};
use onshi_store::{AuditEntry, AuditKey, CardLink};

use crate::it::common::{date, fresh_postgres, person, postgres_admin_url, put, record};

/// The tables that grow with the country: a sequential scan of one is a finding.
const LARGE: &[&str] = &[
    "persons",
    "eligibility",
    "card_links",
    "audit_log",
    "crl_revoked",
];

#[test]
fn every_query_path_of_a_check_uses_an_index_on_postgresql() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    // The server's log, where auto_explain writes (scripts/test-postgres: DATA/log).
    let Ok(pgdata) = std::env::var("ONSHI_TEST_PGDATA") else {
        assert!(
            std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
            "ONSHI_TEST_PGDATA is not set but ONSHI_REQUIRE_POSTGRES is"
        );
        return;
    };
    let log = std::path::Path::new(&pgdata).join("log");
    let (url, name) = fresh_postgres(&admin);
    let mut a = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    a.batch_execute(&format!(
        "ALTER DATABASE {name} SET session_preload_libraries = 'auto_explain';
         ALTER DATABASE {name} SET auto_explain.log_min_duration = 0;"
    ))
    .unwrap();
    let store = onshi_store::open_service(&url).unwrap();

    // Large enough that the planner prefers an index wherever there is one.
    let n = 5_000usize;
    let persons: Vec<_> = (1..=n)
        .map(|i| person(&format!("P{i:010}"), "試験太郎", "シケンタロウ", "19800102"))
        .collect();
    let records: Vec<_> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| record(p, "01130012", "1234", &format!("{i:08}"), "00", "20200401"))
        .collect();
    put(store.as_ref(), &persons, &records);
    let now = Utc::now();
    let links: Vec<CardLink> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| CardLink {
            issuer: "CN=JPKI".into(),
            serial: format!("{i:08X}"),
            person_id: p.id.clone(),
            not_before: now - Duration::days(10),
            not_after: now + Duration::days(1000),
            registered: true,
        })
        .collect();
    let mut tx = store.begin_import().unwrap();
    tx.put_card_links(&links).unwrap();
    tx.commit().unwrap();
    let clinic = store.add_clinic("計画接骨院", "1312345", now).unwrap().id;
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO terminals (id, clinic_id, status, certificate_serial, created_at, audit_head)
             SELECT 'W' || lpad(g::text, 7, '0'), {clinic}, 'active', 'T' || g, now(), sha256('h'::bytea)
             FROM generate_series(1, 200) g;
         INSERT INTO audit_log (terminal_id, seq, at, clinic_id, mode, person_id, answer,
                                reference_number, nonce_id, prev_hash, hash)
             SELECT 'W' || lpad((g % 200 + 1)::text, 7, '0'), g, now() - g * interval '1 minute',
                    {clinic}, 'pin', 'P' || lpad((g % {n} + 1)::text, 10, '0'), '1', 'R' || g,
                    sha256(g::text::bytea), '\\x00', '\\x00'
             FROM generate_series(1, 50000) g;
         INSERT INTO crl_revoked (issuer, serial)
             SELECT 'CN=JPKI', 'R' || g FROM generate_series(1, 5000) g;
         ANALYZE;"
    ))
    .unwrap();
    let terminal = store.active_terminal_by_serial("T7").unwrap().unwrap();
    let start = std::fs::metadata(&log).unwrap().len();

    // The paths of a check, of a check by numbers, of the dashboard.
    let id = PersonId::parse("P0000000042").unwrap();
    let visit = date("20260401");
    store.active_terminal_by_serial("T42").unwrap().unwrap();
    store.card_link("CN=JPKI", "0000002A").unwrap().unwrap();
    store.eligibility_for_person(&id, visit).unwrap();
    store.person(&id).unwrap().unwrap();
    let query = KeyQuery {
        insurer_number: InsurerNumber::parse("01130012").unwrap(),
        symbol: Some(InsuredCardSymbol::parse("1234").unwrap()),
        number: InsuredIdentificationNumber::parse("00000041").unwrap(),
        branch: Some(InsuredBranchNumber::parse("00").unwrap()),
        birthdate: date("19800102"),
    };
    store.eligibility_for_key(&query, visit).unwrap();
    let entry = AuditEntry {
        at: now,
        terminal_id: terminal.id.clone(),
        clinic_id: clinic,
        mode: onshi_store::AuditMode::Pin,
        certificate_serial: Some("0000002A".into()),
        person_id: Some(PersonId::parse("P0000000042").unwrap()),
        answer: "1".into(),
        reference_number: "R-plan".into(),
        nonce_id: Some([9; 32]),
        recheck_of: None,
    };
    let key = AuditKey::from_bytes(&[7; 32]).unwrap();
    store.record_check(&key, &entry, None).unwrap().unwrap();
    store.checks_since(now - Duration::hours(1)).unwrap();
    // The same paths through the async check path (tokio-postgres), with the card's link, guard
    // and records read in one round trip.
    let path = store.check_path().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        path.active_terminal_by_serial("T42")
            .await
            .unwrap()
            .unwrap();
        let found = path
            .card_lookup("CN=JPKI", "0000002A", visit)
            .await
            .unwrap();
        assert!(found.link.is_some() && !found.eligibility.records.is_empty());
        path.eligibility_for_key(&query, visit).await.unwrap();
        let entry = AuditEntry {
            reference_number: "R-plan-async".into(),
            nonce_id: Some([10; 32]),
            ..entry.clone()
        };
        path.record_check(&key, &entry, None)
            .await
            .unwrap()
            .unwrap();
    });
    drop(path);
    drop(store);
    drop(c);

    let text = std::fs::read(&log).unwrap();
    let ours = String::from_utf8_lossy(&text[start as usize..]);
    assert!(
        ours.contains("Index"),
        "auto_explain logged no plan:\n{ours}"
    );
    let scans: Vec<&str> = ours
        .lines()
        .filter(|l| {
            LARGE.iter().any(|t| {
                l.contains(&format!("Seq Scan on {t} ")) || l.ends_with(&format!("Seq Scan on {t}"))
            })
        })
        .collect();
    assert!(
        scans.is_empty(),
        "sequential scans of large tables: {scans:?}\nthe plans:\n{ours}"
    );
    a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
}
