//! `[database]` limits: a pool that opens at most `pool_size` connections, and statements that
//! fail after `statement_timeout_ms` instead of hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use onshi_model::PersonId;
use onshi_store::{StoreError, StoreOptions};

use super::common::*;

fn options(pool_size: usize, timeout_ms: u64) -> StoreOptions {
    StoreOptions {
        pool_size,
        pool_wait: Duration::from_secs(10),
        statement_timeout: Some(Duration::from_millis(timeout_ms)),
        ..StoreOptions::default()
    }
}

/// A read that waits on a lock held elsewhere (a migration, a stuck transaction) fails after the
/// statement timeout with SQLSTATE 57014, answered as "unavailable", instead of hanging.
#[test]
fn postgres_statement_over_the_timeout_fails_with_a_clear_error() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let (url, name) = fresh_postgres(&admin);
    let store = onshi_store::open_service_with(&url, &options(4, 300)).unwrap();
    let p = person("P000001", "山田　太郎", "ヤマダ　タロウ", "19800101");
    put(store.as_ref(), std::slice::from_ref(&p), &[]);

    let mut locker = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut tx = locker.transaction().unwrap();
    tx.batch_execute("LOCK TABLE eligibility IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let started = Instant::now();
    let err = store
        .records_of_person(&PersonId::parse("P000001").unwrap())
        .unwrap_err();
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(err.is_unavailable(), "{err}");
    assert!(
        err.to_string().contains("statement timeout"),
        "not a clear message: {err}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    tx.rollback().unwrap();
    // The connection is usable again once the lock is gone.
    assert!(store
        .records_of_person(&PersonId::parse("P000001").unwrap())
        .unwrap()
        .is_empty());

    // A slow statement of its own: pg_sleep on a connection set up the same way.
    let mut slow = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    slow.execute(
        "SELECT set_config('statement_timeout', '300ms', false)",
        &[],
    )
    .unwrap();
    let err = slow.execute("SELECT pg_sleep(5)", &[]).unwrap_err();
    assert!(StoreError::from(err).is_timeout());
    drop(store);
    drop_database(&admin, &name);
}

/// An import (minutes of COPY at national size) is not bound by the statement timeout: it waits
/// past it for a lock and still commits.
#[test]
fn postgres_import_is_not_bound_by_the_statement_timeout() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let (url, name) = fresh_postgres(&admin);
    // One connection, made (and its statements prepared) before the lock is taken.
    let store = onshi_store::open_service_with(&url, &options(1, 200)).unwrap();
    store.counts().unwrap();
    let locker_url = url.clone();
    let (locked, wait_locked) = std::sync::mpsc::channel();
    let locker = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&locker_url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        tx.commit().unwrap();
    });
    wait_locked.recv().unwrap();
    let p = person("P000001", "山田　太郎", "ヤマダ　タロウ", "19800101");
    let counts = put(store.as_ref(), std::slice::from_ref(&p), &[]);
    assert_eq!(counts.changed, 1);
    locker.join().unwrap();
    drop(store);
    drop_database(&admin, &name);
}

/// However many threads ask at once, one store opens at most `pool_size` connections.
#[test]
fn postgres_pool_opens_at_most_pool_size_connections() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let (url, name) = fresh_postgres(&admin);
    let store = onshi_store::open_service_with(&url, &options(3, 5_000)).unwrap();
    let id = PersonId::parse("P000001").unwrap();
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| {
                for _ in 0..30 {
                    store.records_of_person(&id).unwrap();
                }
            });
        }
    });
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let open: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!((1..=3).contains(&open), "{open} connections open");
    drop(store);
    drop_database(&admin, &name);
}

/// SQLite's equivalent: a writer waits for another process's write lock for
/// `statement_timeout_ms`, then fails with "database is locked" (busy), answered as
/// "unavailable".
#[test]
fn sqlite_writer_waits_at_most_the_statement_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(onshi_store::SQLITE_FILE);
    let store = onshi_store::open_service_with(path.to_str().unwrap(), &options(4, 300)).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let err = store.begin_import().err().unwrap();
    let took = started.elapsed();
    assert!(err.is_timeout() && err.is_unavailable(), "{err}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    assert!(store.begin_import().is_ok());
}

#[test]
fn sqlite_refuses_a_replica() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(onshi_store::SQLITE_FILE);
    let mut o = options(4, 300);
    o.replica_url = Some("postgres://replica/onshi".to_owned());
    let err = onshi_store::open_service_with(path.to_str().unwrap(), &o)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Unsupported(_)), "{err}");
}

/// Two instances on one database count the same key in one window together; another window
/// starts at 1; pruning forgets the old windows only.
#[test]
fn request_counts_are_shared_by_instances_and_pruned_by_window() {
    for e in service_engines() {
        let (a, b) = (e.store.as_ref(), e.another());
        let counts: Vec<u64> = (0..4)
            .map(|i| {
                let s = if i % 2 == 0 { a } else { b.as_ref() };
                s.count_request("terminal:W0000001", 1_000).unwrap()
            })
            .collect();
        assert_eq!(counts, [1, 2, 3, 4], "{}", e.name);
        assert_eq!(a.count_request("terminal:W0000002", 1_000).unwrap(), 1);
        assert_eq!(b.count_request("terminal:W0000001", 1_060).unwrap(), 1);
        assert_eq!(a.prune_request_counts(1_060).unwrap(), 2, "{}", e.name);
        assert_eq!(a.count_request("terminal:W0000001", 1_060).unwrap(), 2);
        assert_eq!(a.count_request("terminal:W0000001", 1_000).unwrap(), 1);
    }
}

/// Counting is one atomic statement: eight threads on two instances lose no count.
#[test]
fn concurrent_counts_lose_nothing() {
    for e in service_engines() {
        let b = e.another();
        let stores: [&dyn onshi_store::ServiceStore; 2] = [e.store.as_ref(), b.as_ref()];
        std::thread::scope(|s| {
            for i in 0..8 {
                let store = stores[i % 2];
                s.spawn(move || {
                    for _ in 0..25 {
                        store.count_request("clinic:1", 60).unwrap();
                    }
                });
            }
        });
        assert_eq!(
            e.store.count_request("clinic:1", 60).unwrap(),
            201,
            "{}",
            e.name
        );
    }
}
