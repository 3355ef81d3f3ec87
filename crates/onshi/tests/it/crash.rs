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
