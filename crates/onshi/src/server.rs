//! `onshi server …` and `onshi admin …`: the eligibility service and what operators do to it.

use std::path::{Path, PathBuf};
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
    /// The trusted JPKI CAs of the data directory's config.
    fn trusted_jpki(&self) -> anyhow::Result<onshi_pki::TrustedJpki> {
        let config = ServerConfig::load(&self.data)?;
        admin::trusted_jpki(&self.data, &config).map_err(anyhow::Error::msg)
    }

    /// Whether `--json` was given.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// The store's URL: `--database`, or the data directory's configured one.
    fn url(&self) -> anyhow::Result<String> {
        Ok(match &self.database {
            Some(url) => url.clone(),
            None => ServerConfig::load(&self.data)
                .map(|c| c.database_url(&self.data))
                .with_context(|| format!("{}: サーバーのデータディレクトリではありません / not a server data directory", self.data.display()))?,
        })
    }

    pub(crate) fn open(&self) -> anyhow::Result<Box<dyn onshi_store::ServiceStore>> {
        let url = self.url()?;
        onshi_store::open_service(&url)
            .map_err(|e| anyhow::anyhow!("ストアを開けません / cannot open the store: {e}"))
    }

    /// `max_terminals_per_clinic` of the data directory's config.toml (its default when there
    /// is none, with `--database`).
    fn max_terminals_per_clinic(&self) -> u32 {
        ServerConfig::load(&self.data)
            .map(|c| c.max_terminals_per_clinic)
            .unwrap_or(onshi_server::config::DEFAULT_MAX_TERMINALS_PER_CLINIC)
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
    /// Card links the wrong-link guard held or listed at import, and the operator's decisions.
    #[command(subcommand)]
    Links(crate::links::LinksCommand),
    /// Back the store up to a new file, while instances serve (PostgreSQL: pg_dump's custom
    /// format; SQLite: VACUUM INTO). audit.key and the CA keys are not in it: keep them apart.
    Backup {
        #[command(flatten)]
        store: ServerStore,
        /// The file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into the store the data directory (or --database) names, which must be
    /// empty (a new PostgreSQL database, or no SQLite file yet), then verify the audit chain.
    Restore {
        #[command(flatten)]
        store: ServerStore,
        /// The backup file (`onshi admin backup --out`).
        #[arg(long)]
        from: PathBuf,
        /// The audit key (default: audit.key in the data directory).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Heads saved before the backup (`audit verify --save-heads`) to check against.
        #[arg(long)]
        heads: Option<PathBuf>,
    },
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
    /// Make a new TOTP secret (second factor) for an operator: a lost phone, or an operator
    /// made before TOTP. The old codes stop working; the operator is logged out everywhere.
    Totp {
        #[command(flatten)]
        store: ServerStore,
        /// The login name.
        #[arg(long)]
        login: String,
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
    /// Store a CRL (DER or PEM) where every instance sees it: refused unless it verifies with a
    /// trusted JPKI CA and its CRL number is higher than the stored one's.
    Load {
        #[command(flatten)]
        store: ServerStore,
        /// The CRL file.
        file: PathBuf,
    },
    /// Every trusted CA and stored CRL: number, nextUpdate, whether it verifies and is current.
    List {
        #[command(flatten)]
        store: ServerStore,
    },
    /// Remove a stored CRL (one that no longer verifies); the serials it revoked stay revoked.
    Remove {
        #[command(flatten)]
        store: ServerStore,
        /// The issuer, as `onshi admin crl list` prints it.
        #[arg(long)]
        issuer: String,
    },
}

/// `onshi admin audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute every terminal's chain under the audit key: finds edited, deleted or reordered
    /// records, and prints each chain's head to keep elsewhere.
    Verify {
        #[command(flatten)]
        store: ServerStore,
        /// The audit key (default: audit.key in the data directory).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Heads saved earlier (`--save-heads`): each must still be in its chain, unchanged.
        #[arg(long)]
        heads: Option<PathBuf>,
        /// Write the heads to this file when the log is intact (to keep somewhere else).
        #[arg(long)]
        save_heads: Option<PathBuf>,
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
    /// Write the wrong-link guard's findings here (CSV: line, serial, issuer, person id, status,
    /// what differed).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Compare the links held with the wrong links `onshi gen --wrong-links` planted (its
    /// planted-wrong-links.csv) and print planted, caught and falsely held: how the guard is
    /// measured.
    #[arg(long)]
    planted: Option<PathBuf>,
}

/// Runs `onshi server …`.
pub fn run(command: &ServerCommand) -> anyhow::Result<ExitCode> {
    match command {
        ServerCommand::Init { data, jpki_ca } => {
            let mut config =
                onshi_server::run::init(data, jpki_ca, Utc::now()).map_err(anyhow::Error::msg)?;
            // The portal's keys with their defaults, where the operator edits them.
            config.portal = onshi_portal::PortalConfig::default()
                .to_table()
                .map_err(anyhow::Error::msg)?;
            config.save(data)?;
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
                config.database.url = Some(url.clone());
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let portal =
                    onshi_portal::extra_routes(data, &config).map_err(anyhow::Error::msg)?;
                let portal_config =
                    onshi_portal::PortalConfig::from_server(&config).map_err(anyhow::Error::msg)?;
                let with_portal = portal.is_some();
                let server = onshi_server::run::start_with(data, &config, portal)
                    .await
                    .map_err(anyhow::Error::msg)?;
                eprintln!(
                    "資格確認サービスを https://{} で開始しました / serving",
                    server.addr
                );
                if with_portal {
                    let mail = match &portal_config.smtp {
                        Some(smtp) => format!("SMTP {smtp} で送ります"),
                        None => format!(
                            "{} に書き出します",
                            portal_config
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
        AdminCommand::Links(c) => return crate::links::run(c),
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
            let added = onshi_portal::operator::add_operator(
                store.open()?.as_ref(),
                login,
                name,
                &password,
                now,
            )
            .map_err(anyhow::Error::msg)?;
            let uri = &added.otpauth_uri;
            print(
                store.json,
                serde_json::json!({"id": added.id, "login": login, "otpauth_uri": uri}),
                format!(
                    "運用担当者を追加しました / operator added: {login}（ID {}）\n\
                     認証アプリ（TOTP）にこの URI を登録してください。ログインのたびに6桁の確認コードを使います / add this to an authenticator app:\n{uri}",
                    added.id
                ),
            );
        }
        AdminCommand::Operator(OperatorCommand::Totp { store, login }) => {
            let uri = onshi_portal::operator::renew_totp(store.open()?.as_ref(), login, now)
                .map_err(anyhow::Error::msg)?;
            print(
                store.json,
                serde_json::json!({"login": login, "otpauth_uri": uri}),
                format!("確認コード（TOTP）を作り直しました / new TOTP secret for {login}:\n{uri}"),
            );
        }
        AdminCommand::Terminal(TerminalCommand::Add { store, clinic }) => {
            let t = admin::add_terminal(
                store.open()?.as_ref(),
                *clinic,
                store.max_terminals_per_clinic(),
                now,
            )?;
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
            let trusted = store.trusted_jpki()?;
            let info = admin::load_crl(store.open()?.as_ref(), &trusted, &bytes, now)
                .map_err(anyhow::Error::msg)?;
            let number = info.number.clone().unwrap_or_default();
            let next = info.next_update.map(|t| t.to_rfc3339()).unwrap_or_default();
            print(
                store.json,
                serde_json::json!({"issuer": info.issuer, "number": number, "next_update": next, "revoked": info.revoked}),
                format!(
                    "CRL を読み込みました / CRL loaded: {}（番号 {number}、失効 {} 件、次回更新 {next}）",
                    info.issuer, info.revoked
                ),
            );
            if info.next_update.is_some_and(|t| t < now) {
                eprintln!("警告: この CRL は次回更新日時を過ぎています。新しい CRL を読み込んでください / warning: this CRL is past its nextUpdate");
            }
        }
        AdminCommand::Crl(CrlCommand::List { store }) => {
            let trusted = store.trusted_jpki()?;
            let rows = admin::crl_status(store.open()?.as_ref(), &trusted, now)
                .map_err(anyhow::Error::msg)?;
            if store.json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        let (number, next, problem) = match &r.crl {
                            None => (None, None, Some("no CRL".to_owned())),
                            Some(Ok(i)) => (i.number.clone(), i.next_update.map(|t| t.to_rfc3339()), None),
                            Some(Err(e)) => (None, None, Some(e.to_string())),
                        };
                        serde_json::json!({"issuer": r.issuer, "trusted": r.trusted, "current": r.current, "number": number, "next_update": next, "problem": problem})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for r in &rows {
                    let state = match &r.crl {
                        None => "CRL なし / no CRL".to_owned(),
                        Some(Ok(i)) => format!(
                            "番号 {}、次回更新 {}{}",
                            i.number.as_deref().unwrap_or("-"),
                            i.next_update.map(|t| t.to_rfc3339()).unwrap_or_default(),
                            if r.current {
                                ""
                            } else {
                                "（期限切れ / stale）"
                            }
                        ),
                        Some(Err(e)) => format!("検証できません / does not verify: {e}"),
                    };
                    let trust = if r.trusted {
                        ""
                    } else {
                        "（信頼していない CA / not trusted）"
                    };
                    println!("{}{trust}\n  {state}", r.issuer);
                }
            }
            if rows.iter().any(|r| r.trusted && !r.current) {
                return Ok(ExitCode::from(2));
            }
        }
        AdminCommand::Crl(CrlCommand::Remove { store, issuer }) => {
            if admin::remove_crl(store.open()?.as_ref(), issuer).map_err(anyhow::Error::msg)? {
                print(
                    store.json,
                    serde_json::json!({"issuer": issuer, "removed": true}),
                    format!("CRL を削除しました（失効済みのシリアルは失効のままです） / CRL removed: {issuer}"),
                );
            } else {
                anyhow::bail!("{issuer}: 保存された CRL はありません / no stored CRL for this issuer (see `onshi admin crl list`)");
            }
        }
        AdminCommand::Audit(AuditCommand::Verify {
            store,
            key,
            heads,
            save_heads,
        }) => {
            return audit_verify(
                store,
                key.as_deref(),
                heads.as_deref(),
                save_heads.as_deref(),
            );
        }
        AdminCommand::Backup { store, out } => {
            let url = store.url()?;
            let bytes = onshi_store::backup::backup(&url, out)
                .map_err(|e| anyhow::anyhow!("バックアップできません / backup failed: {e}"))?;
            print(
                store.json,
                serde_json::json!({"file": out, "bytes": bytes}),
                format!(
                    "バックアップしました / backed up: {} ({bytes} bytes)。audit.key は含まれません / audit.key is not in it",
                    out.display()
                ),
            );
        }
        AdminCommand::Restore {
            store,
            from,
            key,
            heads,
        } => {
            let url = store.url()?;
            onshi_store::backup::restore(from, &url)
                .map_err(|e| anyhow::anyhow!("復元できません / restore failed: {e}"))?;
            // Opening runs the migrations a backup of an older onshi needs.
            drop(store.open()?);
            let counts = onshi_store::backup::table_counts(&url)?;
            if !store.json {
                println!("復元しました / restored from {}:", from.display());
                for (table, n) in &counts {
                    println!("  {table}\t{n}");
                }
            }
            return audit_verify(store, key.as_deref(), heads.as_deref(), None);
        }
        AdminCommand::Audit(AuditCommand::Show { store, person }) => {
            let records = store.open()?.audit_for_person(person)?;
            if store.json {
                let rows: Vec<_> = records
                    .iter()
                    .map(|r| serde_json::json!({"at": r.entry.at.to_rfc3339(), "terminal": r.entry.terminal_id, "clinic": r.entry.clinic_id, "mode": r.entry.mode.as_str(), "answer": r.entry.answer, "reference_number": r.entry.reference_number, "recheck_of": r.entry.recheck_of}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{person} の確認記録 / checks of {person}: {} 件",
                    records.len()
                );
                for r in &records {
                    let recheck = r
                        .entry
                        .recheck_of
                        .as_deref()
                        .map(|v| format!("\t確認し直し（{v} の受付）"))
                        .unwrap_or_default();
                    println!(
                        "  {}\t端末 {}\t施術所 {}\t{}\t資格有効性 {}\t照会番号 {}{recheck}",
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

/// `onshi admin audit verify`: the chains under the key, the heads, and the saved heads.
fn audit_verify(
    store: &ServerStore,
    key: Option<&std::path::Path>,
    heads: Option<&std::path::Path>,
    save_heads: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let key_path = key.map_or_else(
        || onshi_server::audit_key::default_path(&store.data),
        std::path::Path::to_path_buf,
    );
    let audit_key = onshi_server::audit_key::read(&key_path).map_err(anyhow::Error::msg)?;
    let anchors = match heads {
        Some(path) => read_heads(path)?,
        None => Vec::new(),
    };
    let Ok(v) = store.open()?.audit_verify(&audit_key, &anchors)? else {
        eprintln!(
            "{}: この鍵はデータベースの監査ログの鍵ではありません / the audit log was written under another key",
            key_path.display()
        );
        return Ok(ExitCode::from(2));
    };
    let ok = v.problems.is_empty();
    let mut human = if ok {
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
    if let Some(path) = heads {
        human.push_str(&format!(
            "\n保存した先頭 {} 件と照合しました / compared with {} saved heads from {}",
            anchors.len(),
            anchors.len(),
            path.display()
        ));
    }
    human.push_str("\n各端末のチェーンの先頭 / chain heads (terminal seq hash):");
    for h in &v.heads {
        human.push_str(&format!("\n  {}", h.line()));
    }
    human.push_str(
        "\nこの先頭を別の場所（別のマシン、印刷、署名付きメール）に保存し、後で --heads FILE で照合してください（--save-heads FILE で書き出せます）。\n\
         Keep these heads somewhere the database's writers cannot reach (another machine, paper, a \
         signed mail); later, `onshi admin audit verify --heads FILE` checks that each is still in \
         its chain, unchanged (`--save-heads FILE` writes them).",
    );
    if let Some(path) = save_heads {
        if ok {
            let mut text = format!(
                "# onshi audit heads, {} (terminal seq hash)\n",
                Utc::now().to_rfc3339()
            );
            for h in &v.heads {
                text.push_str(&h.line());
                text.push('\n');
            }
            std::fs::write(path, text)
                .with_context(|| format!("{}: 書けません / cannot write", path.display()))?;
            human.push_str(&format!(
                "\n先頭を保存しました / heads saved: {}",
                path.display()
            ));
        } else {
            human.push_str(
                "\n問題があるため先頭は保存しません / heads not saved: the log is broken",
            );
        }
    }
    print(
        store.json,
        serde_json::json!({
            "terminals": v.terminals,
            "records": v.records,
            "problems": v.problems.iter().map(|p| serde_json::json!({"terminal": p.terminal_id, "seq": p.seq, "what": p.what})).collect::<Vec<_>>(),
            "heads": v.heads.iter().map(|h| serde_json::json!({"terminal": h.terminal_id, "seq": h.seq, "hash": hex_of(&h.hash)})).collect::<Vec<_>>(),
        }),
        human,
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a heads file: `TERMINAL SEQ HASH` lines; blank lines and `#` comments are skipped.
fn read_heads(path: &std::path::Path) -> anyhow::Result<Vec<onshi_store::AuditHead>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: 読めません / cannot read", path.display()))?;
    let mut heads = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let head = onshi_store::AuditHead::parse_line(line).with_context(|| {
            format!(
                "{}:{}: 「端末 記録番号 ハッシュ」の行ではありません / not a `TERMINAL SEQ HASH` line",
                path.display(),
                i + 1
            )
        })?;
        heads.push(head);
    }
    Ok(heads)
}

/// The serials of a planted-wrong-links.csv (`Serial,HolderPersonId,LinkedPersonId`).
fn planted_serials(path: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("{}: 読めません / cannot read", path.display()))?;
    let mut out = std::collections::HashSet::new();
    for row in reader.records() {
        let row =
            row.with_context(|| format!("{}: CSV が正しくありません / bad CSV", path.display()))?;
        out.insert(row.get(0).unwrap_or_default().to_owned());
    }
    Ok(out)
}

/// Runs `onshi import card-links`.
pub fn import_card_links(a: &CardLinksArgs) -> anyhow::Result<ExitCode> {
    let issuers = a.store.trusted_jpki()?.issuers();
    match admin::import_card_links_trusting(
        a.store.open()?.as_ref(),
        &a.file,
        a.unregistered,
        &issuers,
    )
    .map_err(anyhow::Error::msg)?
    {
        Ok(import) => {
            let n = import.links;
            println!("カードの紐付けを {n} 件取り込みました / {n} card links imported");
            println!(
                "本人照合: 一致 {}、氏名の表記だけ違う {}（回答する・要確認）、保留 {}（回答しない）、本人情報なし {}、運用者の判断を維持 {}",
                import.matched, import.name_only, import.held, import.unchecked, import.decisions_kept
            );
            if let Some(path) = &a.report {
                admin::write_link_report(path, &import.report).map_err(anyhow::Error::msg)?;
                println!(
                    "照合の報告（{} 行）: {}",
                    import.report.len(),
                    path.display()
                );
            }
            if let Some(path) = &a.planted {
                let planted = planted_serials(path)?;
                let held: std::collections::HashSet<&str> = import
                    .report
                    .iter()
                    .filter(|r| !r.status.usable())
                    .map(|r| r.serial.as_str())
                    .collect();
                let caught = planted.iter().filter(|s| held.contains(s.as_str())).count();
                let falsely = held.iter().filter(|s| !planted.contains(**s)).count();
                println!(
                    "仕込んだ誤り {} 件、保留で捕捉 {caught} 件、誤って保留 {falsely} 件 / planted {}, caught {caught}, falsely held {falsely}",
                    planted.len(),
                    planted.len()
                );
            }
            if import.held > 0 || import.name_only > 0 {
                println!("確認: onshi admin links review（保留の解除は onshi admin links release SERIAL --reason …）");
            }
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
