//! Dropping onshi's schema on PostgreSQL (what the load tests do before they start).
#![allow(clippy::unwrap_used)]

use crate::it::common::{fresh_postgres, postgres_admin_url};

#[test]
fn schema_tables_are_read_from_the_migrations() {
    let tables = onshi_store::postgres::schema_tables();
    for t in [
        "persons",
        "eligibility",
        "clinics",
        "terminals",
        "audit_log",
        "portal_accounts",
        "portal_claim_items",
        "crl_revoked",
    ] {
        assert!(tables.contains(&t), "{t} missing from {tables:?}");
    }
    assert!(!tables.contains(&"schema_migrations"), "{tables:?}");
    let mut unique = tables.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), tables.len(), "{tables:?}");
}

#[test]
fn drop_schema_empties_a_database_the_portal_has_used() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let (url, name) = fresh_postgres(&admin);
    let store = onshi_store::open_service(&url).unwrap();
    drop(store);
    // A clinic with a portal account: the reference that made dropping `clinics` alone fail.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(
        "INSERT INTO clinics (name, registration, created_at) VALUES ('テスト接骨院', '1234567', now());
         INSERT INTO portal_accounts (clinic_id, email, password_hash, kinds, director, address,
             phone, status, created_at)
         SELECT id, 'a@example.invalid', 'x', 'judo', '山田太郎', '東京都', '0300000000',
             'registered', 0 FROM clinics",
    )
    .unwrap();
    let tables = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert!(tables(&mut c) > 10);

    onshi_store::postgres::drop_schema(&url).unwrap();
    assert_eq!(
        tables(&mut c),
        0,
        "every table of onshi's schema is dropped"
    );
    // Twice is fine, and the migrations start again from nothing.
    onshi_store::postgres::drop_schema(&url).unwrap();
    let store = onshi_store::open_service(&url).unwrap();
    drop(store);
    let clinics: i64 = c
        .query_one("SELECT count(*) FROM clinics", &[])
        .unwrap()
        .get(0);
    assert_eq!(clinics, 0);
    drop(c);

    let mut a = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
}
