//! `[database] replica_url`: a primary and a streaming replica on loopback (`pg_basebackup -R`,
//! through scripts/test-postgres). Checks read eligibility and card links from the replica;
//! when the replica lags past `replica_max_lag_ms` or is down, the primary answers and a log
//! line says why. Runs wherever PostgreSQL's server binaries are installed.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use onshi_proto::Mode;

use super::ops::captured_logs;
use onshi_testkit::*;

/// A primary and its replica, each a throwaway cluster; both stopped and removed on drop.
struct Pair {
    primary: String,
    replica: String,
    primary_data: String,
    replica_data: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-postgres")
}

/// The `export NAME=VALUE` lines of a scripts/test-postgres command.
fn exports(args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new(script()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "scripts/test-postgres {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn value(vars: &[(String, String)], name: &str) -> String {
    vars.iter().find(|(k, _)| k == name).unwrap().1.clone()
}

/// `postgres://…/postgres` → the same server's database `onshi`.
fn onshi_db(admin: &str) -> String {
    format!("{}/onshi", admin.rsplit_once('/').unwrap().0)
}

impl Pair {
    /// Both clusters, or None (the test is skipped) where PostgreSQL is not installed.
    fn start() -> Option<Self> {
        let installed = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| d.path().join("bin/initdb").is_file());
        if !installed {
            assert!(
                std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
                "PostgreSQL server binaries missing but ONSHI_REQUIRE_POSTGRES is set"
            );
            eprintln!("replica test skipped: PostgreSQL is not installed");
            return None;
        }
        let p = exports(&["start"]);
        let primary_admin = value(&p, "ONSHI_TEST_POSTGRES");
        let primary_data = value(&p, "ONSHI_TEST_PGDATA");
        let mut c = postgres::Client::connect(&primary_admin, postgres::NoTls).unwrap();
        c.batch_execute("CREATE DATABASE onshi").unwrap();
        let r = exports(&["replica", &primary_data]);
        Some(Self {
            primary: onshi_db(&primary_admin),
            replica: onshi_db(&value(&r, "ONSHI_TEST_REPLICA")),
            primary_data,
            replica_data: value(&r, "ONSHI_TEST_REPLICA_PGDATA"),
        })
    }

    fn primary(&self) -> postgres::Client {
        postgres::Client::connect(&self.primary, postgres::NoTls).unwrap()
    }

    fn replica(&self) -> postgres::Client {
        postgres::Client::connect(&self.replica, postgres::NoTls).unwrap()
    }

    /// A fresh commit on the primary, then waits until the replica has replayed it.
    fn caught_up(&self) {
        let mut p = self.primary();
        p.batch_execute("UPDATE counters SET value = value WHERE name = 'terminal'")
            .unwrap();
        let lsn: String = p
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .unwrap()
            .get(0);
        let mut r = self.replica();
        let started = Instant::now();
        loop {
            let done: bool = r
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )
                .unwrap()
                .get(0);
            if done {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "replica never caught up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Immediate first (the in-process server still holds connections), then removed.
        for data in [&self.replica_data, &self.primary_data] {
            let _ = Command::new(script()).args(["halt", data]).status();
            let _ = Command::new(script()).args(["stop", data]).status();
        }
    }
}

fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

/// Whether a log line carrying `message` was written since `from` bytes into the logs.
fn logged_since(logs: &std::sync::Mutex<Vec<u8>>, from: usize, message: &str) -> bool {
    let logs = logs.lock().unwrap();
    String::from_utf8_lossy(&logs[from.min(logs.len())..]).contains(message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_read_the_replica_and_the_primary_answers_when_it_lags_or_is_down() {
    let Some(pair) = sync(Pair::start) else {
        return;
    };
    let logs = captured_logs();
    let world = World::start(Some(pair.primary.clone()), |c| {
        c.database.replica_url = Some(pair.replica.clone());
        c.database.replica_max_lag_ms = 3_000;
    })
    .await;
    let card = world.cards.valid("P0000000001");
    world.link_cards(false);
    let t = world.terminal().await;
    sync(|| pair.caught_up());
    let name = |body: &serde_json::Value| body["ResultList"][0]["Name"].clone();
    let (status, body) = t.check(&card, Mode::Pin, &today()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(name(&body), "髙橋　花子", "{body}");

    // Answered from the replica: with its replay paused, a change on the primary is not seen.
    sync(|| {
        pair.caught_up();
        pair.replica()
            .batch_execute("SELECT pg_wal_replay_pause()")
            .unwrap();
        pair.primary()
            .batch_execute(
                "UPDATE eligibility SET name = '髙橋　花江' WHERE person_id = 'P0000000001'",
            )
            .unwrap();
    });
    let (status, body) = t.check(&card, Mode::Pin, &today()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(name(&body), "髙橋　花子", "read from the replica: {body}");

    // Lagging past replica_max_lag_ms: the primary answers, with what it holds.
    let mark = logs.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(3_700)).await;
    let (status, body) = t.check(&card, Mode::Pin, &today()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(name(&body), "髙橋　花江", "read from the primary: {body}");
    assert!(logged_since(&logs, mark, "database replica lags"));

    // Caught up again: back to the replica, which now holds the change too.
    let mark = logs.lock().unwrap().len();
    sync(|| {
        pair.replica()
            .batch_execute("SELECT pg_wal_replay_resume()")
            .unwrap();
        pair.caught_up();
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = t.check(&card, Mode::Pin, &today()).await;
    assert_eq!((status, name(&body)), (200, "髙橋　花江".into()), "{body}");
    assert!(logged_since(&logs, mark, "database replica usable again"));

    // The replica down (killed): the primary answers, and the log says the replica is down.
    let mark = logs.lock().unwrap().len();
    let halted = Command::new(script())
        .args(["halt", &pair.replica_data])
        .status()
        .unwrap();
    assert!(halted.success());
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = t.check(&card, Mode::Pin, &today()).await;
        assert_eq!((status, name(&body)), (200, "髙橋　花江".into()), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(logged_since(&logs, mark, "database replica down"));

    // Every check's audit row is on the primary, the chain intact.
    let v = world.audit_verify();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.records, 7);
}
