//! The load tests behind `onshi bench`.
//!
//! `onshi bench store` (this module): generate a synthetic feed, import it into each engine and
//! time eligibility lookups, each beside a bare baseline measured in the same run on the same
//! rows — a plain prepared INSERT loop in one transaction (SQLite) or one COPY (PostgreSQL), and
//! plain primary-key SELECTs — so the table shows what onshi's checks and upserts cost.
//!
//! `onshi bench verify` ([`verify`]): verified PIN-mode checks per second through the eligibility
//! service over mutual TLS, beside the single-core RSA verify rate as the ceiling.
//!
//! `onshi bench flood` ([`flood`]): one terminal's checks alone and while anonymous clients flood
//! the portal's registration page; their p50/p99 side by side.
//!
//! `onshi bench soak` ([`soak`]): a steady open-loop mix of PIN, 目視, by-numbers checks and
//! portal pages for minutes; latency per kind, requests shed, failures and resident memory.

mod baseline;
pub mod cluster;
pub mod flood;
pub mod soak;
pub mod verify;

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use onshi_feed::ImportOptions;
use onshi_model::{Date, PersonId};
use onshi_store::Store;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Persons to generate.
    pub persons: u64,
    /// Lookups to time per engine.
    pub lookups: u64,
    /// A PostgreSQL URL to measure as well (its onshi tables are dropped first).
    pub postgres: Option<String>,
    /// Work directory; a temporary one when `None`.
    pub work: Option<PathBuf>,
}

/// Why the load test stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Generating the feed failed.
    #[error("generate: {0}")]
    Synth(#[from] onshi_synth::SynthError),
    /// Importing failed.
    #[error("import: {0}")]
    Feed(#[from] onshi_feed::FeedError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] onshi_store::StoreError),
    /// The baseline's SQLite failed.
    #[error("sqlite baseline: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The baseline's PostgreSQL failed.
    #[error("postgres baseline: {0}")]
    Postgres(#[from] postgres::Error),
    /// Reading the generated CSV failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// A file could not be used.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// One line of the table: onshi's rate beside the baseline's.
#[derive(Clone, Debug)]
pub struct Measure {
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// What was measured.
    pub what: &'static str,
    /// onshi's rate per second.
    pub ours: f64,
    /// The baseline's rate per second.
    pub baseline: f64,
    /// What the baseline is.
    pub baseline_is: &'static str,
    /// onshi's total seconds.
    pub seconds: f64,
}

/// Everything measured.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    /// Persons generated.
    pub persons: u64,
    /// Eligibility records generated.
    pub records: u64,
    /// The lines of the table.
    pub measures: Vec<Measure>,
}

impl BenchReport {
    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "onshi bench store: {} persons, {} eligibility records",
            self.persons, self.records
        );
        let _ = writeln!(
            out,
            "{:<9} {:<28} {:>12} {:>9} {:>12} {:>7}  baseline",
            "engine", "measure", "onshi/s", "onshi s", "baseline/s", "ratio"
        );
        for m in &self.measures {
            let _ = writeln!(
                out,
                "{:<9} {:<28} {:>12.0} {:>9.2} {:>12.0} {:>7.2}  {}",
                m.engine,
                m.what,
                m.ours,
                m.seconds,
                m.baseline,
                m.ours / m.baseline,
                m.baseline_is
            );
        }
        out
    }
}

/// A fixed pseudo-random order of lookups (xorshift), the same in every run.
fn lookup_order(n: usize, count: u64) -> Vec<usize> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        })
        .collect()
}

fn measure_store(
    engine: &'static str,
    store: &dyn Store,
    feed: &Path,
    opts: &BenchOptions,
    bare: &mut dyn baseline::Bare,
    date: Date,
    stage: &mut dyn FnMut(&str),
) -> Result<Vec<Measure>, BenchError> {
    let options = ImportOptions::default();
    stage(&format!("{engine}: importing persons"));
    onshi_feed::import_persons(store, &feed.join("persons.csv"), &options, &|_, _| {})?;
    stage(&format!("{engine}: importing eligibility"));
    let s =
        onshi_feed::import_eligibility(store, &feed.join("eligibility.csv"), &options, &|_, _| {})?;
    let import_rate = s.rows as f64 / s.seconds;
    let import_seconds = s.seconds;

    // The baseline's rows are read into memory only now, so that holding them does not weigh on
    // onshi's import (the allocator) and reading them is not timed.
    let rows = baseline::Rows::read(&feed.join("eligibility.csv"))?;
    stage(&format!("{engine}: bare baseline insert"));
    let bare_seconds = bare.load(&rows)?;
    let bare_rate = rows.len() as f64 / bare_seconds;

    stage(&format!("{engine}: lookups"));
    let ids: Vec<PersonId> = (1..=opts.persons)
        .filter_map(|i| PersonId::parse(&format!("P{i:010}")).ok())
        .collect();
    let order = lookup_order(ids.len(), opts.lookups);
    let started = Instant::now();
    let mut found = 0usize;
    for &i in &order {
        found += store.eligibility_for_person(&ids[i], date)?.records.len();
    }
    let lookup_seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(found);

    stage(&format!("{engine}: bare baseline select"));
    let key_order = lookup_order(rows.len(), opts.lookups);
    let bare_lookup_seconds = bare.select(&rows, &key_order)?;

    Ok(vec![
        Measure {
            engine,
            what: "import eligibility rows",
            ours: import_rate,
            baseline: bare_rate,
            baseline_is: bare.insert_is(),
            seconds: import_seconds,
        },
        Measure {
            engine,
            what: "eligibility lookups (1 core)",
            ours: opts.lookups as f64 / lookup_seconds,
            baseline: opts.lookups as f64 / bare_lookup_seconds,
            baseline_is: "bare primary-key SELECT",
            seconds: lookup_seconds,
        },
    ])
}

/// Runs the load test. `stage` hears what is being done.
pub fn run(opts: &BenchOptions, stage: &mut dyn FnMut(&str)) -> Result<BenchReport, BenchError> {
    let temp;
    let work = match &opts.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            w.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let date = Date::from_ymd_opt(2026, 4, 1).unwrap_or_default();
    let feed = work.join("feed");
    stage("generating the feed");
    let synth = onshi_synth::SynthOptions {
        persons: opts.persons,
        seed: 1,
        as_of: date,
    };
    let summary = onshi_synth::generate(&synth, &feed, &mut |_| {})?;
    let mut report = BenchReport {
        persons: summary.persons,
        records: summary.records,
        measures: Vec::new(),
    };

    for name in ["onshi.sqlite", "bare.sqlite"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(work.join(format!("{name}{suffix}")));
        }
    }
    let store = onshi_store::sqlite::SqliteStore::open(&work.join("onshi.sqlite"))?;
    let mut bare = baseline::BareSqlite::open(&work.join("bare.sqlite"))?;
    report.measures.extend(measure_store(
        "sqlite", &store, &feed, opts, &mut bare, date, stage,
    )?);
    drop(store);

    if let Some(url) = &opts.postgres {
        baseline::reset_postgres(url)?;
        let store = onshi_store::postgres::PgStore::connect(url)?;
        let mut bare = baseline::BarePostgres::connect(url)?;
        report.measures.extend(measure_store(
            "postgres", &store, &feed, opts, &mut bare, date, stage,
        )?);
    }
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A fresh database on the test server (the kit's): its URL, the admin URL and its name;
    /// `None` (the test is skipped) without one, unless `ONSHI_REQUIRE_POSTGRES` is set.
    fn fresh_postgres() -> Option<(String, String, String)> {
        let fresh = onshi_testkit::engines::fresh_postgres("onshi_bench");
        if fresh.is_none() {
            eprintln!("PostgreSQL tests skipped: ONSHI_TEST_POSTGRES is not set");
        }
        fresh.map(|(url, name, admin)| (url, admin, name))
    }

    /// `bench store` and `bench verify` start from nothing on a database a server and its portal
    /// have used (the portal's tables reference `clinics`), and again on the one they left.
    #[test]
    fn bench_store_and_verify_run_on_a_database_the_server_used() {
        let Some((url, admin, name)) = fresh_postgres() else {
            return;
        };
        drop(onshi_store::open_service(&url).unwrap());
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(
            "INSERT INTO clinics (name, registration, created_at) VALUES ('テスト', '1234567', now());
             INSERT INTO portal_accounts (clinic_id, email, password_hash, kinds, director,
                 address, phone, status, created_at)
             SELECT id, 'a@example.invalid', 'x', 'judo', '山田', '東京都', '0300000000',
                 'registered', 0 FROM clinics",
        )
        .unwrap();
        drop(c);

        let store = BenchOptions {
            persons: 30,
            lookups: 20,
            postgres: Some(url.clone()),
            work: None,
        };
        let verify = verify::VerifyOptions {
            requests: 8,
            concurrency: 2,
            terminals: 1,
            postgres: Some(url.clone()),
            persons: 30,
            cards: 2,
            ceiling_seconds: 0.02,
            ..verify::VerifyOptions::default()
        };
        for _ in 0..2 {
            let report = run(&store, &mut |_| {}).unwrap();
            assert!(
                report.measures.iter().any(|m| m.engine == "postgres"),
                "{}",
                report.table()
            );
            let report = verify::run(&verify, &mut |_| {}).unwrap();
            assert_eq!(report.rows.len(), 1, "{}", report.table());
            assert_eq!(report.rows[0].failures, 0, "{}", report.table());
        }

        let mut a = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
    }
}
