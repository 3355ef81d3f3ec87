//! `onshi server …` and `onshi admin …`: the eligibility service and what operators do to it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use onshi_server::admin;
use onshi_server::config::ServerConfig;

/// `onshi server …`.
#[derive(Subcommand)]
pub enum ServerCommand {
    /// Create a server data directory: config, store, terminal CA, server TLS certificate.
    Init {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// A JPKI CA certificate to trust (the test authority's ca.pem); repeatable.
        #[arg(long = "jpki-ca")]
        jpki_ca: Vec<PathBuf>,
    },
    /// Check the data directory's permissions: the directory 0700; config, database (with its
    /// -wal and -shm) and every key file 0600. Names each file whose mode lets others read it and
    /// the chmod that fixes it. Exit 0 when all is well, 1 otherwise.
    Doctor {
        /// The data directory.
        #[arg(long, env = "ONSHI_SERVER_DATA")]
        data: PathBuf,
    },
    /// Serve the eligibility API over HTTPS (mutual TLS for terminals).
    Run {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on (overrides the config).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// A postgres:// URL (overrides the config; default: the SQLite file in the data directory).
        #[arg(long)]
        database: Option<String>,
    },
}

/// Where the admin commands find the service's store.
#[derive(Args, Clone)]
pub struct ServerStore {
    /// The server's data directory.
    #[arg(long, env = "ONSHI_SERVER_DATA")]
    data: PathBuf,
    /// A postgres:// URL instead of the data directory's SQLite store.
    #[arg(long, env = "ONSHI_DATABASE")]
    database: Option<String>,
    /// Print the result as JSON (for scripts).
    #[arg(long, global = true)]
    json: bool,
}

impl ServerStore {
    fn open(&self) -> anyhow::Result<Box<dyn onshi_store::ServiceStore>> {
        let url = match &self.database {
            Some(url) => url.clone(),
            None => ServerConfig::load(&self.data)
                .map(|c| c.database_url(&self.data))
                .with_context(|| format!("{}: サーバーのデータディレクトリではありません / not a server data directory", self.data.display()))?,
        };
        onshi_store::open_service(&url)
            .map_err(|e| anyhow::anyhow!("ストアを開けません / cannot open the store: {e}"))
    }
}

/// `onshi admin …`.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Clinics (施術所).
    #[command(subcommand)]
    Clinic(ClinicCommand),
    /// Terminals (app accounts W0000001 …).
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// Certificate revocation lists of the JPKI CAs.
    #[command(subcommand)]
    Crl(CrlCommand),
    /// The audit log of checks.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Operator accounts of the portal (実施機関): created here only, never by registration.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

/// `onshi admin operator …`.
#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; the password is read without echo (standard input when piped).
    Add {
        #[command(flatten)]
        store: ServerStore,
        /// The login name.
        #[arg(long)]
        login: String,
        /// The operator's name, as pages show it.
        #[arg(long)]
        name: String,
    },
}

/// `onshi admin clinic …`.
#[derive(Subcommand)]
pub enum ClinicCommand {
    /// Register a clinic.
    Add {
        #[command(flatten)]
        store: ServerStore,
        /// 施術所名.
        #[arg(long)]
        name: String,
        /// 登録記号番号 of the 受領委任 contract.
        #[arg(long)]
        registration: String,
    },
}

/// `onshi admin terminal …`.
#[derive(Subcommand)]
pub enum TerminalCommand {
    /// Add a terminal to a clinic: prints its account id and one-time enrollment code.
    Add {
        #[command(flatten)]
        store: ServerStore,
        /// The clinic id.
        #[arg(long)]
        clinic: i64,
    },
    /// Revoke a terminal: refused from its next request on, on every instance.
    Revoke {
        #[command(flatten)]
        store: ServerStore,
        /// The account id (W0000001).
        id: String,
    },
}

/// `onshi admin crl …`.
#[derive(Subcommand)]
pub enum CrlCommand {
    /// Store a CRL (DER or PEM) where every instance sees it.
    Load {
        #[command(flatten)]
        store: ServerStore,
        /// The CRL file.
        file: PathBuf,
    },
}

/// `onshi admin audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute every terminal's hash chain: finds edited, deleted or reordered records.
    Verify {
        #[command(flatten)]
        store: ServerStore,
    },
    /// Who checked a person, and when.
    Show {
        #[command(flatten)]
        store: ServerStore,
        /// The person id.
        #[arg(long)]
        person: String,
    },
}

/// `onshi import card-links`.
#[derive(Args)]
pub struct CardLinksArgs {
    #[command(flatten)]
    store: ServerStore,
    /// The card authority's issued.csv.
    file: PathBuf,
    /// Mark the cards as not yet registered for health-insurance use (利用登録).
    #[arg(long)]
    unregistered: bool,
}

/// Runs `onshi server …`.
pub fn run(command: &ServerCommand) -> anyhow::Result<ExitCode> {
    match command {
        ServerCommand::Init { data, jpki_ca } => {
            onshi_server::run::init(data, jpki_ca, Utc::now()).map_err(anyhow::Error::msg)?;
            println!(
                "サーバーを初期化しました / server initialised: {}",
                data.display()
            );
            println!(
                "  サーバーCA証明書（端末に配布） / server CA: {}",
                data.join("server-ca.pem").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ServerCommand::Doctor { data } => {
            let config = ServerConfig::load(data).with_context(|| {
                format!(
                    "{}: サーバーのデータディレクトリではありません / not a server data directory",
                    data.display()
                )
            })?;
            let report = onshi_server::doctor::check(data, &config);
            print!("{}", report.render());
            Ok(if report.all_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        ServerCommand::Run {
            data,
            listen,
            database,
        } => {
            let mut config = ServerConfig::load(data)?;
            let permissions = onshi_server::doctor::check(data, &config);
            if !permissions.all_ok() {
                eprint!(
                    "警告: データディレクトリの権限が広すぎます / warning: the data directory is readable by others\n{}",
                    permissions.render()
                );
            }
            if let Some(listen) = listen {
                config.listen = *listen;
            }
            if let Some(url) = database {
                config.database = Some(url.clone());
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let portal = onshi_portal::extra_routes(data, &config);
                let with_portal = portal.is_some();
                let server = onshi_server::run::start_with(data, &config, portal)
                    .await
                    .map_err(anyhow::Error::msg)?;
                eprintln!(
                    "資格確認サービスを https://{} で開始しました / serving",
                    server.addr
                );
                if with_portal {
                    let mail = match &config.portal.smtp {
                        Some(smtp) => format!("SMTP {smtp} で送ります"),
                        None => format!(
                            "{} に書き出します",
                            config
                                .portal
                                .outbox
                                .clone()
                                .unwrap_or_else(|| data.join("outbox"))
                                .display()
                        ),
                    };
                    eprintln!(
                        "ポータル: https://{}/portal/ （メールは{mail}）",
                        server.addr
                    );
                }
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = wait_terminate() => {}
                }
                eprintln!("停止します / stopping");
                server.stop().await;
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(unix)]
async fn wait_terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn wait_terminate() {
    std::future::pending::<()>().await
}

fn print(json: bool, value: serde_json::Value, human: String) {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

/// Runs `onshi admin …`.
pub fn admin_run(command: &AdminCommand) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    match command {
        AdminCommand::Clinic(ClinicCommand::Add {
            store,
            name,
            registration,
        }) => {
            let clinic = admin::add_clinic(store.open()?.as_ref(), name, registration, now)
                .map_err(anyhow::Error::msg)?;
            print(
                store.json,
                serde_json::json!({"id": clinic.id, "name": clinic.name, "registration": clinic.registration}),
                format!(
                    "施術所を登録しました / clinic added: ID {}（{}、{}）",
                    clinic.id, clinic.name, clinic.registration
                ),
            );
        }
        AdminCommand::Operator(OperatorCommand::Add { store, login, name }) => {
            let password = crate::card::read_secret("パスワード（10文字以上）: ")?;
            let id = onshi_portal::operator::add_operator(
                store.open()?.as_ref(),
                login,
                name,
                &password,
                now,
            )
            .map_err(anyhow::Error::msg)?;
            print(
                store.json,
                serde_json::json!({"id": id, "login": login}),
                format!("運用担当者を追加しました / operator added: {login}（ID {id}）"),
            );
        }
        AdminCommand::Terminal(TerminalCommand::Add { store, clinic }) => {
            let t = admin::add_terminal(store.open()?.as_ref(), *clinic, now)
                .map_err(anyhow::Error::msg)?;
            print(
                store.json,
                serde_json::json!({"id": t.terminal.id, "clinic": t.terminal.clinic_id, "code": t.code, "code_expires_at": t.code_expires_at.to_rfc3339()}),
                format!(
                    "端末を追加しました / terminal added: {}\n  登録コード（一度だけ表示） / enrollment code (shown once): {}\n  有効期限 / expires: {}",
                    t.terminal.id, t.code, t.code_expires_at
                ),
            );
        }
        AdminCommand::Terminal(TerminalCommand::Revoke { store, id }) => {
            if store.open()?.revoke_terminal(id, now)? {
                print(
                    store.json,
                    serde_json::json!({"id": id, "revoked": true}),
                    format!("端末 {id} を取り消しました / revoked"),
                );
            } else {
                anyhow::bail!("端末 {id} は見つからないか、既に取り消されています / unknown or already revoked");
            }
        }
        AdminCommand::Crl(CrlCommand::Load { store, file }) => {
            let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
            let issuer =
                admin::load_crl(store.open()?.as_ref(), &bytes, now).map_err(anyhow::Error::msg)?;
            print(
                store.json,
                serde_json::json!({"issuer": issuer}),
                format!("CRL を読み込みました / CRL loaded: {issuer}"),
            );
        }
        AdminCommand::Audit(AuditCommand::Verify { store }) => {
            let v = store.open()?.audit_verify()?;
            let ok = v.problems.is_empty();
            let human = if ok {
                format!(
                    "監査ログは改ざんされていません / audit chain intact: 端末 {}、記録 {}",
                    v.terminals, v.records
                )
            } else {
                let mut s = format!(
                    "監査ログに {} 件の問題があります / audit chain broken:",
                    v.problems.len()
                );
                for p in &v.problems {
                    s.push_str(&format!(
                        "\n  端末 {} 記録 {}: {}",
                        p.terminal_id, p.seq, p.what
                    ));
                }
                s
            };
            print(
                store.json,
                serde_json::json!({"terminals": v.terminals, "records": v.records, "problems": v.problems.iter().map(|p| serde_json::json!({"terminal": p.terminal_id, "seq": p.seq, "what": p.what})).collect::<Vec<_>>()}),
                human,
            );
            if !ok {
                return Ok(ExitCode::from(2));
            }
        }
        AdminCommand::Audit(AuditCommand::Show { store, person }) => {
            let records = store.open()?.audit_for_person(person)?;
            if store.json {
                let rows: Vec<_> = records
                    .iter()
                    .map(|r| serde_json::json!({"at": r.entry.at.to_rfc3339(), "terminal": r.entry.terminal_id, "clinic": r.entry.clinic_id, "mode": r.entry.mode, "answer": r.entry.answer, "reference_number": r.entry.reference_number}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{person} の確認記録 / checks of {person}: {} 件",
                    records.len()
                );
                for r in &records {
                    println!(
                        "  {}\t端末 {}\t施術所 {}\t{}\t資格有効性 {}\t照会番号 {}",
                        r.entry.at,
                        r.entry.terminal_id,
                        r.entry.clinic_id,
                        r.entry.mode,
                        r.entry.answer,
                        r.entry.reference_number
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `onshi import card-links`.
pub fn import_card_links(a: &CardLinksArgs) -> anyhow::Result<ExitCode> {
    match admin::import_card_links(a.store.open()?.as_ref(), &a.file, a.unregistered)
        .map_err(anyhow::Error::msg)?
    {
        Ok(n) => {
            println!("カードの紐付けを {n} 件取り込みました / {n} card links imported");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!(
                "{}: {} 行が不正なため、何も取り込みませんでした / nothing stored",
                a.file.display(),
                errors.len()
            );
            for e in errors.iter().take(20) {
                eprintln!("  {}:{}行目: {}", a.file.display(), e.line, e.message);
            }
            Ok(ExitCode::from(2))
        }
    }
}
