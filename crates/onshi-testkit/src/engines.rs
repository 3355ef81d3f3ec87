//! The engines a test runs against: SQLite always, PostgreSQL when the test server is there
//! (`ONSHI_TEST_POSTGRES`, set by `scripts/test-postgres start`), each test on a fresh database.
#![allow(clippy::expect_used)] // test set-up: a failure is the test's failure

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Runs blocking store work from async test code (the store's clients block).
pub fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A fresh database on the test PostgreSQL server, named `{prefix}_{pid}_{n}`: (its URL, its
/// name, the admin URL). `None` without a test server; a panic when `ONSHI_REQUIRE_POSTGRES` is
/// set and there is none.
pub fn fresh_postgres(prefix: &str) -> Option<(String, String, String)> {
    static N: AtomicU32 = AtomicU32::new(0);
    match std::env::var("ONSHI_TEST_POSTGRES") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!(
                "{prefix}_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let create = || {
                let mut c = postgres::Client::connect(&admin, postgres::NoTls)
                    .expect("the test PostgreSQL server");
                c.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("a test database");
            };
            // From async tests the client blocks: off the runtime's thread.
            match tokio::runtime::Handle::try_current() {
                Ok(_) => sync(create),
                Err(_) => create(),
            }
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            Some((format!("{base}/{name}"), name, admin.clone()))
        }
        _ => {
            assert!(
                std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
                "ONSHI_TEST_POSTGRES missing"
            );
            None
        }
    }
}

/// The engines to run against: `("sqlite", None)` always, `("postgres", Some(url))` on a fresh
/// database when the test server is there.
pub fn databases(dir: &Path) -> Vec<(String, Option<String>)> {
    let _ = dir;
    let mut out = vec![("sqlite".to_owned(), None)];
    if let Some((url, _, _)) = fresh_postgres("onshi_server") {
        out.push(("postgres".to_owned(), Some(url)));
    }
    out
}
