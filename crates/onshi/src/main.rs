//! `onshi`: the one binary. It parses arguments and calls the library crates; nothing else.

mod app;
mod card;
mod demo;
mod feed;
mod jlis;
mod links;
mod lookup;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// onshi: オンライン資格確認（資格確認限定型） for 柔道整復・あはき clinics.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the whole flow on this machine: synthetic data, import, eligibility answers (SQLite).
    Demo(demo::DemoArgs),
    /// Import the insurers' feed (CSV) into the store.
    #[command(subcommand)]
    Import(feed::ImportCommand),
    /// Print the eligibility answer for a person or for 保険者番号・記号・番号 + birth date.
    Lookup(lookup::LookupArgs),
    /// Write synthetic persons.csv and eligibility.csv (same seed, same files).
    Gen(feed::GenArgs),
    /// Load tests: store import and lookup rates, eligibility checks through the service.
    #[command(subcommand)]
    Bench(feed::BenchCommand),
    /// Talk to a My Number card (a reader through PC/SC, or a software card file).
    #[command(subcommand)]
    Card(card::CardCommand),
    /// The test card authority (acting as J-LIS would): test root, software cards, CRLs.
    #[command(subcommand)]
    Jlis(jlis::JlisCommand),
    /// The eligibility service (資格確認限定用).
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Operator commands: clinics, terminals, CRLs, the audit log.
    #[command(subcommand)]
    Admin(server::AdminCommand),
    /// The reception app: enroll this terminal, check a patient's card, the history of checks.
    #[command(subcommand)]
    App(app::AppCommand),
}

/// Which store to use: a data directory (SQLite, the default) or a database URL.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Data directory holding the SQLite store.
    #[arg(long, env = "ONSHI_DATA", default_value = "onshi-data")]
    data: PathBuf,
    /// A database URL instead (postgres://user@host/db, or sqlite://FILE).
    #[arg(long, env = "ONSHI_DATABASE")]
    database: Option<String>,
}

impl StoreArgs {
    /// Opens the chosen store, running migrations.
    pub fn open(&self) -> anyhow::Result<Box<dyn onshi_store::Store>> {
        let store = match &self.database {
            Some(url) => onshi_store::open(url),
            None => onshi_store::open_data_dir(&self.data),
        };
        store.map_err(|e| anyhow::anyhow!("ストアを開けません / cannot open the store: {e}"))
    }
}

fn main() -> ExitCode {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONSHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr);
    // No patient data in the logs, whatever ONSHI_LOG asks of the database driver.
    let allowed = tracing_subscriber::filter::filter_fn(onshi_server::logging::may_log);
    // ONSHI_LOG_FORMAT=json: one JSON object per line, for log collectors.
    if std::env::var("ONSHI_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().finish().with(allowed).init();
    } else {
        logs.finish().with(allowed).init();
    }
    // Windows: the app's data under %LOCALAPPDATA%\onshi unless --data or ONSHI_APP_DATA names
    // another (set before any thread starts; the desk's children inherit it).
    #[cfg(windows)]
    if std::env::var_os("ONSHI_APP_DATA").is_none() {
        if let Some(dir) = onshi_app::desktop::windows_data_dir(std::env::var_os("LOCALAPPDATA")) {
            std::env::set_var("ONSHI_APP_DATA", dir);
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => demo::run(&a),
        Command::Import(a) => feed::import(&a),
        Command::Lookup(a) => lookup::run(&a),
        Command::Gen(a) => feed::gen(&a),
        Command::Bench(c) => feed::bench(&c),
        Command::Card(c) => card::run(&c),
        Command::Jlis(c) => jlis::run(&c),
        Command::Server(c) => server::run(&c),
        Command::Admin(c) => server::admin_run(&c),
        Command::App(c) => app::run(&c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("エラー / error: {e:#}");
            ExitCode::from(1)
        }
    }
}
