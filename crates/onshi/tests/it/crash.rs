//! A kill in the middle of an import leaves the store as it was before that file.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use super::cli::{ok, s};

fn wal_size(data: &std::path::Path) -> u64 {
    std::fs::metadata(data.join("onshi.sqlite-wal")).map_or(0, |m| m.len())
}

#[test]
fn killed_import_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    let data = dir.path().join("data");
    ok(&[
        "gen",
        "--persons",
        "60000",
        "--seed",
        "5",
        "--out",
        s(&feed),
    ]);
    ok(&[
        "import",
        "persons",
        s(&feed.join("persons.csv")),
        "--data",
        s(&data),
    ]);
    let before = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
        "--json",
    ]);
    assert!(
        before.contains("\"QualificationValidity\": \"4\""),
        "no records yet: {before}"
    );
    let wal_before = wal_size(&data);

    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args([
            "import",
            "eligibility",
            s(&feed.join("eligibility.csv")),
            "--data",
            s(&data),
        ])
        .spawn()
        .unwrap();
    // Wait until the import has written a good part into the WAL, then kill it hard.
    let started = Instant::now();
    while wal_size(&data) < wal_before + (4 << 20) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "import finished before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "import wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let after = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
        "--json",
    ]);
    assert_eq!(before, after, "a killed import must leave nothing behind");
    // And the file imports whole afterwards.
    let done = ok(&[
        "import",
        "eligibility",
        s(&feed.join("eligibility.csv")),
        "--data",
        s(&data),
    ]);
    assert!(done.contains("不正 0 行"), "{done}");
    let now = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
        "--json",
    ]);
    assert!(now.contains("\"QualificationValidity\": \"1\""), "{now}");
}

/// The test server (`ONSHI_TEST_POSTGRES`); required when `ONSHI_REQUIRE_POSTGRES` is set.
fn postgres_admin() -> Option<String> {
    match std::env::var("ONSHI_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
                "ONSHI_TEST_POSTGRES missing"
            );
            None
        }
    }
}

#[test]
fn killed_postgres_import_leaves_the_database_as_it_was() {
    let Some(admin) = postgres_admin() else {
        return;
    };
    let name = format!("onshi_crash_{}", std::process::id());
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    ok(&[
        "gen",
        "--persons",
        "60000",
        "--seed",
        "5",
        "--out",
        s(&feed),
    ]);
    ok(&[
        "import",
        "persons",
        s(&feed.join("persons.csv")),
        "--database",
        &url,
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args([
            "import",
            "eligibility",
            s(&feed.join("eligibility.csv")),
            "--database",
            &url,
        ])
        .spawn()
        .unwrap();
    // Wait until the server has taken a good part of the rows, then kill the importer hard.
    let mut watch = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let started = Instant::now();
    loop {
        let copied: i64 = watch
            .query_one(
                "SELECT COALESCE(SUM(tuples_processed), 0)::bigint FROM pg_stat_progress_copy",
                &[],
            )
            .unwrap()
            .get(0);
        if copied > 5000 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "import finished before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "import sent nothing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let records: i64 = watch
        .query_one("SELECT COUNT(*) FROM eligibility", &[])
        .unwrap()
        .get(0);
    assert_eq!(records, 0, "a killed import must leave nothing behind");
    let done = ok(&[
        "import",
        "eligibility",
        s(&feed.join("eligibility.csv")),
        "--database",
        &url,
    ]);
    assert!(done.contains("不正 0 行"), "{done}");
    let records: i64 = watch
        .query_one("SELECT COUNT(*) FROM eligibility", &[])
        .unwrap()
        .get(0);
    assert!(records > 60000, "{records}");
    drop(watch);
    c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
}
