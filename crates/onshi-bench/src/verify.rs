//! The load test behind `onshi bench verify`: verified PIN-mode checks per second through the
//! eligibility service over mutual TLS, beside the single-core RSA-2048 verify rate measured in
//! the same run as the ceiling.
//!
//! A throwaway world (`world`) is set up and the server started in process on 127.0.0.1. N
//! requests are prepared (`prepare`: a challenge from the server and the card's signature over
//! it; signing is the card's cost, not the server's, and is not timed), then sent to
//! `POST /api/v1/verify` from C concurrent tasks (`load`), each speaking for one of the T
//! terminals on its own kept-alive connection — or, with new connections, on a connection per
//! check, once with full handshakes and once resuming TLS sessions. Every latency is recorded.
//!
//! With a [`Target`], no server is started: the checks go to instances that already run (behind
//! a load balancer), on their database, with cards from the test card authority they trust.

mod ceiling;
pub(crate) mod https;
pub(crate) mod load;
pub(crate) mod prepare;
pub(crate) mod world;

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use load::ConnectionMode;

use load::{Outcome, TaskLoad};
use world::{Terminal, World};

/// How long challenges live in the bench's server (the service's default is 120 s): long enough
/// for every prepared request to be sent before its nonce expires.
pub const CHALLENGE_TTL_SECONDS: u64 = 3600;

/// What to measure.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Checks to send (per row).
    pub requests: usize,
    /// Concurrent tasks, each with its own connection.
    pub concurrency: usize,
    /// Enrolled terminals the tasks speak for, in turn.
    pub terminals: usize,
    /// A PostgreSQL URL instead of SQLite (its onshi tables are dropped first).
    pub postgres: Option<String>,
    /// A new TLS connection per check: a row with full handshakes and one with resumed ones.
    pub new_connection: bool,
    /// Synthetic persons in the store.
    pub persons: u64,
    /// Software cards, linked to persons with valid eligibility, signing the checks in turn.
    pub cards: usize,
    /// Seconds spent measuring the ceiling.
    pub ceiling_seconds: f64,
    /// Instances that already run: send the checks there instead of starting a server.
    pub target: Option<Target>,
    /// PostgreSQL: the server's checks on the blocking client instead of the async one
    /// (`[database] async_checks = false`), to compare them.
    pub blocking_store: bool,
}

/// Instances that already run (`onshi bench verify --target`), and what the bench needs of
/// theirs.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where they listen: the load balancer's address.
    pub addr: SocketAddr,
    /// Their data directory (or a copy): `config.toml` (the database), `server-ca.pem`, the
    /// trusted JPKI CAs.
    pub data: PathBuf,
    /// The test card authority (`onshi jlis init --dir`) whose CA they trust.
    pub jlis: PathBuf,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            requests: 10_000,
            concurrency: 32,
            terminals: 8,
            postgres: None,
            new_connection: false,
            persons: 300,
            cards: 100,
            ceiling_seconds: 1.0,
            target: None,
            blocking_store: false,
        }
    }
}

/// Why the load test stopped.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The options cannot be run.
    #[error("options: {0}")]
    Options(String),
    /// Setting up the world failed.
    #[error("setup: {0}")]
    Setup(String),
    /// The service's data directory could not be set up or started.
    #[error("setup: {0}")]
    Server(onshi_server::ServerError),
    /// The portal's settings could not be read.
    #[error("setup: {0}")]
    Portal(onshi_portal::PortalError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] onshi_store::StoreError),
    /// Resetting PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// The PKI (the authority's files, certificates) failed.
    #[error("card authority: {0}")]
    Pki(#[from] onshi_pki::PkiError),
    /// A software card file could not be used.
    #[error("software card: {0}")]
    Emu(#[from] onshi_card_emu::EmuError),
    /// A card refused a command.
    #[error("card: {0}")]
    Card(#[from] onshi_card::CardError),
    /// TLS failed.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// HTTP failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The service's client failed (no connection, a refused handshake …).
    #[error("client: {0}")]
    Client(#[from] onshi_client::ClientError),
    /// The test world (authority, service, feed, cards, clinic) could not be built.
    #[error("{0}")]
    Kit(#[from] onshi_testkit::KitError),
    /// A JSON body could not be written or read.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The server refused a request of the preparation.
    #[error("{what} refused: status {status}: {body}")]
    Refused {
        /// Which request.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// A task of the load generator died.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Measuring the ceiling failed.
    #[error("ceiling: {0}")]
    Ceiling(String),
    /// A file or socket could not be used.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl VerifyError {
    fn refused(what: &'static str, status: u16, body: &[u8]) -> Self {
        Self::Refused {
            what,
            status,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct VerifyRow {
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// How the checks reached the server.
    pub mode: ConnectionMode,
    /// Checks sent.
    pub requests: usize,
    /// Concurrent tasks.
    pub concurrency: usize,
    /// Checks answered per second (wall time, first to last).
    pub checks_per_second: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest request, milliseconds.
    pub max_ms: f64,
    /// Checks not answered with 200 and QualificationValidity 1.
    pub failures: usize,
    /// Connections that resumed a TLS session (new-connection rows).
    pub resumed: usize,
    /// What the first failure was.
    pub first_failure: Option<String>,
}

impl VerifyRow {
    fn new(engine: &'static str, mode: ConnectionMode, concurrency: usize, o: Outcome) -> Self {
        Self {
            engine,
            mode,
            requests: o.latencies.len(),
            concurrency,
            checks_per_second: o.latencies.len() as f64 / o.seconds,
            p50_ms: o.quantile_ms(0.50),
            p99_ms: o.quantile_ms(0.99),
            max_ms: o.quantile_ms(1.0),
            failures: o.failures,
            resumed: o.resumed,
            first_failure: o.first_failure,
        }
    }
}

/// Everything measured.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    /// Persons in the store.
    pub persons: u64,
    /// Eligibility records in the store.
    pub records: u64,
    /// Software cards signing the checks.
    pub cards: usize,
    /// Enrolled terminals.
    pub terminals: usize,
    /// The challenge lifetime configured for the run.
    pub challenge_ttl_seconds: u64,
    /// The server's own defaults the run changed: challenge lifetime (seconds) and per-terminal
    /// rate limit (requests a second; the run turns it off).
    pub server_defaults: (u64, u32),
    /// Seconds the cards took to sign every prepared challenge (not part of the rates).
    pub signing_seconds: f64,
    /// Threads the cards signed on.
    pub signing_threads: usize,
    /// Single-core RSA-2048 PKCS#1 v1.5 SHA-256 verifications per second (aws-lc-rs).
    pub ceiling: f64,
    /// The lines of the table.
    pub rows: Vec<VerifyRow>,
    /// The running instances the checks went to (`--target`), if not a server of the run's own.
    pub target: Option<SocketAddr>,
}

impl VerifyReport {
    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let prepared: usize = self.rows.iter().map(|r| r.requests).sum();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "onshi bench verify: {} persons, {} eligibility records, {} software cards, {} terminals",
            self.persons, self.records, self.cards, self.terminals
        );
        let (default_ttl, default_rate) = self.server_defaults;
        match self.target {
            Some(addr) => {
                let _ = writeln!(
                    out,
                    "through {addr}: instances already running, with their own settings (challenges \
                     must outlive the preparation of {prepared} checks; a per-terminal rate limit \
                     shows as failed checks)"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "server changed for the run: challenges live {} s (default {default_ttl} s) so \
                     that the {} prepared ones stay valid; no per-terminal rate limit (default \
                     {default_rate}/s)",
                    self.challenge_ttl_seconds, prepared
                );
            }
        }
        let _ = writeln!(
            out,
            "the cards signed the challenges in {:.1} s on {} threads (not timed)",
            self.signing_seconds, self.signing_threads
        );
        let _ = writeln!(
            out,
            "{:<9} {:<18} {:>8} {:>11} {:>9} {:>7} {:>7} {:>7} {:>17} {:>6} {:>6}",
            "engine",
            "mode",
            "requests",
            "concurrency",
            "checks/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "ceiling verify/s",
            "ratio",
            "failed"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<9} {:<18} {:>8} {:>11} {:>9.0} {:>7.2} {:>7.2} {:>7.2} {:>17.0} {:>6.3} {:>6}",
                r.engine,
                r.mode.label(),
                r.requests,
                r.concurrency,
                r.checks_per_second,
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                self.ceiling,
                r.checks_per_second / self.ceiling,
                r.failures
            );
        }
        for r in &self.rows {
            if r.mode != ConnectionMode::KeepAlive {
                let _ = writeln!(
                    out,
                    "{}: {} of {} handshakes resumed a TLS session",
                    r.mode.label(),
                    r.resumed,
                    r.requests
                );
            }
            if let Some(f) = &r.first_failure {
                let _ = writeln!(out, "{}: first failure: {f}", r.mode.label());
            }
        }
        out
    }
}

/// The cores to spread the cards' work over.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Which terminal each of the C tasks speaks for (task `j`: terminal `j mod T`) and how many of
/// the N requests it sends.
fn plan(opts: &VerifyOptions) -> Vec<(usize, usize)> {
    let (n, c) = (opts.requests, opts.concurrency);
    (0..c)
        .map(|j| (j % opts.terminals, n / c + usize::from(j < n % c)))
        .collect()
}

/// Runs the load test. `stage` hears what is being done. It makes its own async runtime: call it
/// from a plain thread, not from async code.
pub fn run(opts: &VerifyOptions, stage: &mut dyn FnMut(&str)) -> Result<VerifyReport, VerifyError> {
    for (name, value) in [
        ("requests", opts.requests),
        ("concurrency", opts.concurrency),
        ("terminals", opts.terminals),
        ("cards", opts.cards),
    ] {
        if value == 0 {
            return Err(VerifyError::Options(format!("{name} must be at least 1")));
        }
    }
    let world = match &opts.target {
        Some(target) => World::attach(opts, target, stage)?,
        None => World::build(opts, stage)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = measure(&world, &runtime, opts, stage);
    // The runtime goes first, from this thread, which is no async one: the server's store
    // clients may close while it shuts down. The world's own store handle closes after it.
    drop(runtime);
    drop(world);
    report
}

/// Starts the server, prepares the requests, measures the ceiling, then drives each row.
fn measure(
    world: &World,
    runtime: &tokio::runtime::Runtime,
    opts: &VerifyOptions,
    stage: &mut dyn FnMut(&str),
) -> Result<VerifyReport, VerifyError> {
    let (server, addr) = match &opts.target {
        Some(target) => {
            stage(&format!(
                "enrolling {} terminals through {}",
                opts.terminals, target.addr
            ));
            (None, target.addr)
        }
        None => {
            stage(&format!(
                "starting the server, enrolling {} terminals",
                opts.terminals
            ));
            let server = runtime.block_on(world.start())?;
            let addr = server.addr;
            (Some(server), addr)
        }
    };
    let terminals = runtime.block_on(world.enroll(addr))?;
    let modes = if opts.new_connection {
        vec![ConnectionMode::NewFull, ConnectionMode::NewResumed]
    } else {
        vec![ConnectionMode::KeepAlive]
    };
    let prepared = prepare_rows(world, runtime, addr, &terminals, opts, &modes, stage)?;

    stage("measuring the ceiling: RSA-2048 verifications on one core (aws-lc-rs)");
    let ceiling = ceiling::verify_rate(&world.cards[0], opts.ceiling_seconds)?;

    let mut rows = Vec::with_capacity(modes.len());
    for (mode, loads) in modes.into_iter().zip(prepared.loads) {
        stage(&format!(
            "driving POST {}: {} checks from {} tasks, {}",
            onshi_proto::VERIFY,
            opts.requests,
            opts.concurrency,
            mode.label()
        ));
        let outcome = runtime.block_on(load::drive(addr, mode, loads))?;
        rows.push(VerifyRow::new(
            world.engine,
            mode,
            opts.concurrency,
            outcome,
        ));
    }
    if let Some(server) = server {
        runtime.block_on(server.stop());
    }
    let defaults = onshi_server::ServerConfig::default();
    Ok(VerifyReport {
        persons: world.persons,
        records: world.records,
        cards: world.cards.len(),
        terminals: terminals.len(),
        challenge_ttl_seconds: CHALLENGE_TTL_SECONDS,
        server_defaults: (
            defaults.challenge_ttl_seconds,
            defaults.rate_limit_per_second,
        ),
        signing_seconds: prepared.signing_seconds,
        signing_threads: prepared.signing_threads,
        ceiling,
        rows,
        target: opts.target.as_ref().map(|t| t.addr),
    })
}

/// Requests ready to send: for each row, every task's share.
struct Prepared {
    loads: Vec<Vec<TaskLoad>>,
    signing_seconds: f64,
    signing_threads: usize,
}

/// Fetches the challenges of every row, has the cards sign them, and deals them out to the
/// tasks: each task gets requests minted for its own terminal.
fn prepare_rows(
    world: &World,
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    terminals: &[Terminal],
    opts: &VerifyOptions,
    modes: &[ConnectionMode],
    stage: &mut dyn FnMut(&str),
) -> Result<Prepared, VerifyError> {
    let server_ca = world.server_ca_pem()?;
    // One configuration per terminal with session storage: the challenge connections, the
    // kept-alive rows and the resumed rows share it, as a terminal's app would.
    let resuming = client_configs(&server_ca, terminals, true)?;
    let full = client_configs(&server_ca, terminals, false)?;
    let tasks = plan(opts);
    let mut wanted = vec![0usize; terminals.len()];
    for &(terminal, count) in &tasks {
        wanted[terminal] += count * modes.len();
    }

    stage(&format!(
        "fetching {} challenges (not timed)",
        wanted.iter().sum::<usize>()
    ));
    let nonces = runtime.block_on(prepare::challenges(addr, &resuming, &wanted))?;
    let signing_threads = cores().min(world.cards.len());
    stage(&format!(
        "signing them with {} software cards on {signing_threads} threads (the cards' cost, not timed)",
        world.cards.len()
    ));
    let signing = Instant::now();
    let bodies = prepare::sign_all(&world.cards, terminals, &nonces, world.visit_date)?;
    let signing_seconds = signing.elapsed().as_secs_f64();

    let mut pools: Vec<_> = bodies.into_iter().map(Vec::into_iter).collect();
    let loads = modes
        .iter()
        .map(|mode| {
            let configs = match mode {
                ConnectionMode::NewFull => &full,
                ConnectionMode::KeepAlive | ConnectionMode::NewResumed => &resuming,
            };
            tasks
                .iter()
                .map(|&(terminal, count)| TaskLoad {
                    config: configs[terminal].clone(),
                    requests: pools[terminal].by_ref().take(count).collect(),
                })
                .collect()
        })
        .collect();
    Ok(Prepared {
        loads,
        signing_seconds,
        signing_threads,
    })
}

/// Each terminal's client configuration, with or without TLS session storage.
fn client_configs(
    server_ca_pem: &str,
    terminals: &[Terminal],
    resume: bool,
) -> Result<Vec<Arc<onshi_client::ServiceClient>>, VerifyError> {
    terminals
        .iter()
        .map(|t| https::client_config(server_ca_pem, Some(&t.identity), resume))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tiny(new_connection: bool) -> VerifyOptions {
        VerifyOptions {
            requests: 20,
            concurrency: 4,
            terminals: 2,
            postgres: None,
            new_connection,
            persons: 40,
            cards: 4,
            ceiling_seconds: 0.05,
            target: None,
            blocking_store: false,
        }
    }

    /// The numbers of a table line, after the engine and the mode.
    fn numbers(line: &str, mode: &str) -> Vec<f64> {
        let rest = line.strip_prefix("sqlite").unwrap().trim_start();
        let rest = rest.strip_prefix(mode).unwrap();
        rest.split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    }

    fn check(report: &VerifyReport, modes: &[ConnectionMode]) {
        let table = report.table();
        assert_eq!(report.rows.len(), modes.len(), "{table}");
        for (row, mode) in report.rows.iter().zip(modes) {
            assert_eq!(row.mode, *mode);
            assert_eq!(row.requests, 20, "{table}");
            assert_eq!(row.failures, 0, "{table}");
            let line = table
                .lines()
                .find(|l| l.starts_with("sqlite") && l.contains(&format!("{} ", mode.label())))
                .unwrap();
            let n = numbers(line, mode.label());
            // requests, concurrency, checks/s, p50, p99, max, ceiling, ratio, failed
            assert_eq!(n.len(), 9, "{line}");
            assert_eq!((n[0], n[1], n[8]), (20.0, 4.0, 0.0), "{line}");
            assert!(n[2] > 0.0 && n[6] > 0.0 && n[7] > 0.0, "{line}");
            assert!(n[3] > 0.0 && n[3] <= n[4] && n[4] <= n[5], "{line}");
        }
    }

    #[test]
    fn keep_alive_run_prints_a_table_of_numbers() {
        let report = run(&tiny(false), &mut |_| {}).unwrap();
        check(&report, &[ConnectionMode::KeepAlive]);
        assert!(
            report.table().contains("challenges live 3600 s"),
            "{}",
            report.table()
        );
    }

    #[test]
    fn new_connection_run_prints_full_and_resumed_rows() {
        let report = run(&tiny(true), &mut |_| {}).unwrap();
        check(
            &report,
            &[ConnectionMode::NewFull, ConnectionMode::NewResumed],
        );
        assert_eq!(report.rows[0].resumed, 0);
        assert!(report.rows[1].resumed > 0, "{}", report.table());
    }

    /// `--target`: instances started beforehand (here one, in process, with its default rate
    /// limits) get the checks; the bench enrolls through them and takes their database and CA.
    #[test]
    fn target_run_drives_instances_that_already_run() {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let jlis = dir.path().join(onshi_testkit::JLIS_DIR);
        let authority = onshi_testkit::authority(&jlis, now - chrono::Duration::days(1)).unwrap();
        let data = dir.path().join(onshi_testkit::SERVER_DIR);
        let service = onshi_testkit::Service::create(&data, &authority, None, now, |c| {
            c.crl_poll_seconds = 1
        })
        .unwrap();
        let config = service.config.clone();
        drop(service);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime
            .block_on(onshi_server::run::start(&data, &config))
            .unwrap();
        let opts = VerifyOptions {
            target: Some(Target {
                addr: server.addr,
                data: data.clone(),
                jlis,
            }),
            ..tiny(false)
        };
        let report = run(&opts, &mut |_| {}).unwrap();
        let table = report.table();
        assert_eq!(report.rows.len(), 1, "{table}");
        assert_eq!(
            (report.rows[0].requests, report.rows[0].failures),
            (20, 0),
            "{table}"
        );
        assert!(
            table.contains(&format!("through {}", server.addr)),
            "{table}"
        );
        // The checks were answered by the running instance, on its database.
        let store = onshi_store::open_service(&config.database_url(&data)).unwrap();
        assert_eq!(
            store
                .checks_since(now - chrono::Duration::hours(1))
                .unwrap(),
            20
        );
        runtime.block_on(server.stop());
    }

    #[test]
    fn requests_are_spread_over_tasks_and_terminals() {
        let p = plan(&VerifyOptions {
            requests: 10,
            concurrency: 4,
            terminals: 3,
            ..VerifyOptions::default()
        });
        assert_eq!(p, vec![(0, 3), (1, 3), (2, 2), (0, 2)]);
    }
}
