//! `onshi import`, `onshi gen` and `onshi bench`: the insurers' feed in and out of the store, and
//! the load tests.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use onshi_feed::{Encoding, FeedError, ImportOptions, ImportSummary};
use onshi_model::date::parse_yyyymmdd;

use crate::StoreArgs;

/// `onshi import …`.
#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// persons.csv: PersonId, Name, NameKana, Birthdate, Sex1, Address.
    Persons(ImportArgs),
    /// eligibility.csv: the result format's element names.
    Eligibility(ImportArgs),
    /// The card authority's issued.csv: which card certificate belongs to which person.
    CardLinks(crate::server::CardLinksArgs),
}

/// Which feed file is imported.
#[derive(Clone, Copy, ValueEnum)]
pub enum FeedKind {
    /// persons.csv: PersonId, Name, NameKana, Birthdate, Sex1, Address.
    Persons,
    /// eligibility.csv: the result format's element names.
    Eligibility,
}

/// Arguments of `onshi import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file.
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
    /// The file's encoding: auto, utf-8 or shift_jis.
    #[arg(long, default_value = "auto")]
    encoding: Encoding,
    /// Store the valid rows even when some rows are invalid (the rest go to the report).
    #[arg(long)]
    skip_invalid: bool,
    /// Where to write the report of rejected rows (default: FILE.rejected.csv).
    #[arg(long)]
    report: Option<PathBuf>,
}

/// A progress bar on a terminal (hidden otherwise).
pub fn progress_bar(message: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {percent:>3}% {bytes}/{total_bytes} 残り{eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

/// Runs one import with a progress bar; prints the summary.
pub fn import_file(
    store: &dyn onshi_store::Store,
    kind: FeedKind,
    file: &std::path::Path,
    options: &ImportOptions,
) -> Result<ImportSummary, FeedError> {
    let bar = progress_bar("取り込み中");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let result = match kind {
        FeedKind::Persons => onshi_feed::import_persons(store, file, options, &progress),
        FeedKind::Eligibility => onshi_feed::import_eligibility(store, file, options, &progress),
    };
    bar.finish_and_clear();
    result
}

fn print_summary(file: &std::path::Path, s: &ImportSummary) {
    println!(
        "{}: 読込 {} 行 / 登録・更新 {} 行 / 変更なし {} 行 / 不正 {} 行 / {:.1} 秒",
        file.display(),
        s.rows,
        s.stored,
        s.unchanged,
        s.rejected,
        s.seconds
    );
    println!(
        "  rows read {}, stored {}, unchanged {}, rejected {}, {:.1} s",
        s.rows, s.stored, s.unchanged, s.rejected, s.seconds
    );
    if let Some(report) = &s.report {
        println!("  不正な行の一覧 / rejected rows: {}", report.display());
    }
}

/// Runs `onshi import …`.
pub fn import(command: &ImportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImportCommand::Persons(a) => import_feed(FeedKind::Persons, a),
        ImportCommand::Eligibility(a) => import_feed(FeedKind::Eligibility, a),
        ImportCommand::CardLinks(a) => crate::server::import_card_links(a),
    }
}

fn import_feed(kind: FeedKind, a: &ImportArgs) -> anyhow::Result<ExitCode> {
    let store = a.store.open()?;
    let options = ImportOptions {
        encoding: a.encoding,
        skip_invalid: a.skip_invalid,
        report: a.report.clone(),
    };
    match import_file(store.as_ref(), kind, &a.file, &options) {
        Ok(summary) => {
            print_summary(&a.file, &summary);
            Ok(ExitCode::SUCCESS)
        }
        Err(FeedError::Invalid {
            path,
            rows,
            errors,
            report,
        }) => {
            eprintln!(
                "{}: {rows} 行が不正なため、何も取り込みませんでした / {rows} invalid rows, nothing was stored",
                path.display()
            );
            for e in errors.iter().take(20) {
                eprintln!("  {}:{e}", path.display());
            }
            if let Some(report) = report {
                eprintln!("  全件の一覧 / every error: {}", report.display());
            }
            eprintln!("  直してから取り込み直すか、--skip-invalid で正しい行だけを取り込めます / fix the file, or use --skip-invalid to store the valid rows");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

/// Arguments of `onshi gen`.
#[derive(Args)]
pub struct GenArgs {
    /// How many persons.
    #[arg(long, default_value_t = 1000)]
    persons: u64,
    /// The random seed (the same seed gives the same files).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The date the data describes, yyyyMMdd.
    #[arg(long, default_value = "20260401")]
    as_of: String,
    /// The output directory.
    #[arg(long)]
    out: PathBuf,
    /// Also write a card-links feed (issued.csv: one card per person, with its holder) for
    /// `onshi import card-links`.
    #[arg(long)]
    card_links: bool,
    /// Plant this share of wrong links in issued.csv (a card linked to another person), e.g.
    /// `0.1%` or `0.001`; listed in planted-wrong-links.csv (implies --card-links).
    #[arg(long, value_parser = parse_share)]
    wrong_links: Option<f64>,
    /// The issuing CA's subject written in issued.csv (default: the test card authority's, as
    /// `onshi jlis init` makes it).
    #[arg(long)]
    issuer: Option<String>,
}

/// A share: `0.1%` or `0.001`.
fn parse_share(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    let v: f64 = number.trim().parse().map_err(|_| {
        format!("{s}: 割合は 0.1% や 0.001 の形で書きます / a share such as 0.1% or 0.001")
    })?;
    let v = v / scale;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s}: 0 から 100% までです / between 0 and 100%"))
    }
}

/// Runs `onshi gen`.
pub fn gen(a: &GenArgs) -> anyhow::Result<ExitCode> {
    let as_of = parse_yyyymmdd(&a.as_of).map_err(|e| anyhow::anyhow!("--as-of: {e}"))?;
    let summary = generate(a.persons, a.seed, as_of, &a.out)?;
    if a.card_links || a.wrong_links.is_some() {
        let issuer = a.issuer.clone().unwrap_or_else(|| {
            format!(
                "C=JP, O={}, CN={}",
                onshi_jlis::authority::CA_ORGANIZATION,
                onshi_jlis::authority::CA_COMMON_NAME
            )
        });
        let not_before = as_of
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default();
        let links = onshi_synth::card_links::write_card_links(
            &a.out,
            &onshi_synth::card_links::CardLinkOptions {
                wrong_share: a.wrong_links.unwrap_or(0.0),
                seed: a.seed,
                issuer,
                not_before,
                not_after: not_before + chrono::Duration::days(5 * 365),
            },
        )?;
        println!(
            "{}: issued.csv カード {} 枚（誤ったひも付けを {} 件仕込み、planted-wrong-links.csv に記録。カード側の氏名を標準字体で書いた正しいひも付け {} 件、旧姓のままのカード {} 件） / {} cards, {} wrong links planted",
            a.out.display(),
            links.cards,
            links.planted,
            links.spelled_otherwise,
            links.under_former_name,
            links.cards,
            links.planted
        );
    }
    println!(
        "{}: persons.csv {} 人, eligibility.csv {} 件（世帯 {}） / {} persons, {} records, {} households",
        a.out.display(),
        summary.persons,
        summary.records,
        summary.families,
        summary.persons,
        summary.records,
        summary.families
    );
    Ok(ExitCode::SUCCESS)
}

/// Generates synthetic feed files with a progress bar.
pub fn generate(
    persons: u64,
    seed: u64,
    as_of: onshi_model::Date,
    out: &std::path::Path,
) -> anyhow::Result<onshi_synth::SynthSummary> {
    let bar = ProgressBar::new(persons);
    bar.set_style(
        ProgressStyle::with_template("生成中 [{bar:40}] {pos}/{len} 人 残り{eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let options = onshi_synth::SynthOptions {
        persons,
        seed,
        as_of,
    };
    let summary = onshi_synth::generate(&options, out, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    Ok(summary?)
}

/// `onshi bench …`.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Import and lookup rates of the store engines beside bare baselines.
    Store(BenchStoreArgs),
    /// Verified PIN-mode checks per second over mutual TLS, beside the RSA verify rate.
    ///
    /// Sets up a throwaway server, software cards and terminals; the cards' signing is prepared
    /// beforehand and not timed. Exits 1 when any check was not answered with 200 and
    /// QualificationValidity 1.
    Verify(BenchVerifyArgs),
    /// One terminal's checks alone and beside N clients flooding the portal's registration: the
    /// checks' p50/p99 with and without the flood, and their ratio.
    Flood(BenchFloodArgs),
    /// A steady open-loop mix (PIN, 目視, by numbers, portal pages) for minutes: latency per kind,
    /// requests shed (429/503), failures, and resident memory sampled through the run.
    Soak(BenchSoakArgs),
    /// Several `onshi server run` instances on one PostgreSQL behind HAProxy (TLS passthrough),
    /// checks from several terminals through it, one instance killed with SIGKILL mid-run: one
    /// table of checks sent, answered, failed, retried, audit rows, duplicated and lost.
    ///
    /// Exits 1 unless every check was answered, with 0 lost and 0 duplicated audit rows.
    /// `scripts/cluster` starts the PostgreSQL and runs this.
    Cluster(BenchClusterArgs),
}

/// Arguments of `onshi bench store`.
#[derive(Args)]
pub struct BenchStoreArgs {
    /// Persons to generate (records are about 1.1-1.2 times as many).
    #[arg(long, default_value_t = 1_000_000)]
    persons: u64,
    /// Lookups to time on each engine.
    #[arg(long, default_value_t = 200_000)]
    lookups: u64,
    /// A PostgreSQL URL to measure too (an empty database: its tables are created and dropped).
    #[arg(long, env = "ONSHI_BENCH_POSTGRES")]
    postgres: Option<String>,
    /// Work directory (generated files and the SQLite databases); a temporary one by default.
    #[arg(long)]
    work: Option<PathBuf>,
}

/// Arguments of `onshi bench verify`.
#[derive(Args)]
pub struct BenchVerifyArgs {
    /// Checks to prepare (a challenge and a card signature each, not timed) and send.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Enrolled terminals the clients speak for (default: one per client, as at real desks,
    /// where a terminal makes one check at a time).
    #[arg(long)]
    terminals: Option<usize>,
    /// Run the server on this PostgreSQL database instead of SQLite (its onshi tables are
    /// dropped first).
    #[arg(long, env = "ONSHI_BENCH_POSTGRES")]
    postgres: Option<String>,
    /// A new TLS connection per check: one row with full handshakes, one with resumed sessions.
    #[arg(long)]
    new_connection: bool,
    /// With --postgres: the server's checks on the blocking PostgreSQL client instead of the
    /// async one (`[database] async_checks = false`), to compare the two.
    #[arg(long, requires = "postgres")]
    blocking_store: bool,
    /// Send the checks to instances that already run (a load balancer, `HOST:PORT`) instead of
    /// starting a server: their database (from `--data`'s config.toml, or `--postgres`) is kept,
    /// the bench adds its cards, a clinic and terminals to it. Needs `--data` and `--jlis`.
    #[arg(long, requires_all = ["data", "jlis"])]
    target: Option<String>,
    /// With `--target`: the instances' data directory (config.toml, server-ca.pem, jpki/).
    #[arg(long)]
    data: Option<PathBuf>,
    /// With `--target`: the test card authority whose CA the instances trust.
    #[arg(long)]
    jlis: Option<PathBuf>,
}

/// Arguments of `onshi bench flood`.
#[derive(Args)]
pub struct BenchFloodArgs {
    /// Anonymous clients posting registrations to /portal/register during the flood.
    #[arg(long = "portal", default_value_t = 16)]
    portal_clients: usize,
    /// Seconds of checks in each phase (without and with the flood).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Checks a second the terminal sends.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Fail (exit 1) when the p99 with the flood is more than this many times the p99 without.
    #[arg(long, default_value_t = 2.0)]
    max_ratio: f64,
    /// Run the server on this PostgreSQL database instead of SQLite (its onshi tables are
    /// dropped first).
    #[arg(long, env = "ONSHI_BENCH_POSTGRES")]
    postgres: Option<String>,
}

/// Arguments of `onshi bench soak`.
#[derive(Args)]
pub struct BenchSoakArgs {
    /// Seconds of load (600: the documented soak; CI runs 60).
    #[arg(long, default_value_t = 600.0)]
    seconds: f64,
    /// Requests a second, all kinds together (twice the capacity shows overload).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Enrolled terminals.
    #[arg(long, default_value_t = 8)]
    terminals: usize,
    /// Kept-alive connections per terminal.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds between two memory samples.
    #[arg(long, default_value_t = 10.0)]
    sample: f64,
    /// Allow requests shed (429/503), as in an overload run; otherwise any shed request fails the run.
    #[arg(long)]
    allow_shed: bool,
    /// Run the server on this PostgreSQL database instead of SQLite (its onshi tables are
    /// dropped first).
    #[arg(long, env = "ONSHI_BENCH_POSTGRES")]
    postgres: Option<String>,
}

/// Arguments of `onshi bench cluster`.
#[derive(Args)]
pub struct BenchClusterArgs {
    /// The PostgreSQL the instances share (its onshi tables are dropped first).
    #[arg(long, env = "ONSHI_BENCH_POSTGRES")]
    postgres: String,
    /// `onshi server run` instances behind HAProxy.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// Terminals checking side by side, one check at a time each.
    #[arg(long, default_value_t = 6)]
    terminals: usize,
    /// Checks each terminal makes.
    #[arg(long, default_value_t = 40)]
    checks: usize,
    /// The share of all checks sent before instance 2 is killed.
    #[arg(long, default_value_t = 0.4)]
    kill_at: f64,
    /// The haproxy binary.
    #[arg(long, default_value = "haproxy")]
    haproxy: PathBuf,
}

/// Runs `onshi bench …`.
pub fn bench(command: &BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Store(a) => bench_store(a),
        BenchCommand::Verify(a) => bench_verify(a),
        BenchCommand::Flood(a) => bench_flood(a),
        BenchCommand::Soak(a) => bench_soak(a),
        BenchCommand::Cluster(a) => bench_cluster(a),
    }
}

fn bench_store(a: &BenchStoreArgs) -> anyhow::Result<ExitCode> {
    let options = onshi_bench::BenchOptions {
        persons: a.persons,
        lookups: a.lookups,
        postgres: a.postgres.clone(),
        work: a.work.clone(),
    };
    let report = onshi_bench::run(&options, &mut |stage| eprintln!("… {stage}"))?;
    print!("{}", report.table());
    Ok(ExitCode::SUCCESS)
}

fn bench_verify(a: &BenchVerifyArgs) -> anyhow::Result<ExitCode> {
    let options = onshi_bench::verify::VerifyOptions {
        requests: a.requests,
        concurrency: a.concurrency,
        terminals: a.terminals.unwrap_or(a.concurrency),
        postgres: a.postgres.clone(),
        new_connection: a.new_connection,
        blocking_store: a.blocking_store,
        target: match (&a.target, &a.data, &a.jlis) {
            (Some(target), Some(data), Some(jlis)) => {
                use anyhow::Context;
                use std::net::ToSocketAddrs;
                let addr = target
                    .to_socket_addrs()
                    .with_context(|| format!("--target {target}"))?
                    .next()
                    .with_context(|| format!("--target {target}: no address"))?;
                Some(onshi_bench::verify::Target {
                    addr,
                    data: data.clone(),
                    jlis: jlis.clone(),
                })
            }
            _ => None,
        },
        ..Default::default()
    };
    let report = onshi_bench::verify::run(&options, &mut |stage| eprintln!("… {stage}"))?;
    print!("{}", report.table());
    let failed = report.rows.iter().any(|r| r.failures > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Exit 0 when every check was answered and the flood's p99 stayed within `--max-ratio` times the
/// quiet one, 1 otherwise.
fn bench_flood(a: &BenchFloodArgs) -> anyhow::Result<ExitCode> {
    let options = onshi_bench::flood::FloodOptions {
        portal_clients: a.portal_clients,
        seconds: a.seconds,
        check_rate: a.rate,
        postgres: a.postgres.clone(),
    };
    let report = onshi_bench::flood::run(&options, &mut |stage| eprintln!("… {stage}"))?;
    print!("{}", report.table());
    let held = report.quiet.failures == 0
        && report.flooded.failures == 0
        && report.p99_ratio() <= a.max_ratio;
    Ok(if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Exit 0 when nothing failed, nothing was shed (unless allowed) and memory stayed flat.
fn bench_soak(a: &BenchSoakArgs) -> anyhow::Result<ExitCode> {
    let options = onshi_bench::soak::SoakOptions {
        seconds: a.seconds,
        rate: a.rate,
        terminals: a.terminals,
        workers_per_terminal: a.connections,
        postgres: a.postgres.clone(),
        sample_seconds: a.sample,
    };
    let report = onshi_bench::soak::run(&options, &mut |stage| eprintln!("… {stage}"))?;
    print!("{}", report.table());
    let held =
        report.failures() == 0 && (a.allow_shed || report.shed() == 0) && report.memory_flat();
    Ok(if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Exit 0 when every check was answered with nothing lost or duplicated after the kill.
fn bench_cluster(a: &BenchClusterArgs) -> anyhow::Result<ExitCode> {
    let options = onshi_bench::cluster::ClusterOptions {
        postgres: a.postgres.clone(),
        instances: a.instances,
        terminals: a.terminals,
        checks: a.checks,
        kill_at: a.kill_at,
        onshi: std::env::current_exe()?,
        haproxy: a.haproxy.clone(),
    };
    let report = onshi_bench::cluster::run(&options, &mut |stage| eprintln!("… {stage}"))?;
    print!("{}", report.table());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
