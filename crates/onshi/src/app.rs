//! `onshi app …`: the reception app's commands (enroll, renew, verify, history, recheck,
//! doctor). Parses the
//! arguments and calls `onshi-app`; the reader and the PIN come from [`crate::card`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use onshi_app::{exit, AppError, Desk};
use onshi_card::client::Client;
use onshi_card::Pin;
use onshi_model::date::parse_yyyymmdd;
use onshi_proto::Mode;

use crate::card::{open_reader, read_pin};

/// `onshi app …`.
#[derive(Subcommand)]
pub enum AppCommand {
    /// Register this terminal with the service (once): creates DIR with the terminal's key.
    Enroll {
        /// The app's data directory (created, mode 0700).
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// The one-time enrollment code the portal showed (登録コード).
        #[arg(long)]
        code: String,
        /// The terminal's settings file from the portal (ユーザー設定情報: server, account, server
        /// CA). Or give --server and --account (and --server-ca).
        #[arg(long, conflicts_with_all = ["server", "account", "server_ca"])]
        settings: Option<PathBuf>,
        /// The service: https://HOST:PORT.
        #[arg(long, required_unless_present = "settings")]
        server: Option<String>,
        /// The terminal's account (W0000001).
        #[arg(long, required_unless_present = "settings")]
        account: Option<String>,
        /// The server CA's certificate (server-ca.pem from `onshi server init`); without it the
        /// system's trusted roots.
        #[arg(long)]
        server_ca: Option<PathBuf>,
    },
    /// Renew the terminal's certificate (new key, over the current certificate).
    Renew {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
    },
    /// Check a patient's My Number card with the service.
    ///
    /// Exit codes: 0 valid (資格有効性 1); 1 not valid (資格有効性 2–6, or 異常終了); 2 card error
    /// (wrong or locked PIN, no card, not a My Number card, photo not confirmed); 3 service error
    /// (unreachable, timeout, not trusted, terminal refused: recorded as 未確認); 4 the app cannot
    /// run (not enrolled, unreadable files, bad option).
    Verify {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// The card: `emu:FILE` (a software card file), `pcsc` or `pcsc:NAME`.
        #[arg(long, default_value = "pcsc")]
        reader: String,
        /// pin: the patient enters the PIN; visual: 目視確認 of the card's photo.
        #[arg(long, value_enum)]
        mode: ModeArg,
        /// The visit date, yyyyMMdd (default: today).
        #[arg(long)]
        date: Option<String>,
        /// Print the service's answer as JSON (the result format's element names).
        #[arg(long)]
        json: bool,
        /// Visual mode: the staff confirmed that the card's photo is the patient (for scripts).
        #[arg(long)]
        confirm_photo: bool,
        /// 利用登録 on the spot (PIN mode only): the patient consented to register the card for
        /// health-insurance use; the card signs for registration and the service registers it,
        /// then answers as a check.
        #[arg(long)]
        register: bool,
    },
    /// Check by the numbers on a 資格確認書 (or 資格情報のお知らせ): 保険者番号, 記号, 番号, 枝番 and
    /// 生年月日, without a card. The answer and the receipt-computer files as for a card.
    ///
    /// Exit codes as for `verify` (a service error is not recorded as 未確認: there is no card
    /// to check again later; ask again).
    Query {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// 保険者番号 (6 or 8 digits; its check digit is checked).
        #[arg(long)]
        insurer: String,
        /// 記号 (omit for 後期高齢者); half-width letters and digits are sent full-width.
        #[arg(long, default_value = "")]
        symbol: String,
        /// 番号; half-width letters and digits are sent full-width.
        #[arg(long)]
        number: String,
        /// 枝番 (two digits), when the document shows one.
        #[arg(long, default_value = "")]
        branch: String,
        /// 生年月日: 19800102, 1980-01-02, 昭和55年1月2日 or S55.1.2.
        #[arg(long)]
        birth: String,
        /// The visit date, yyyyMMdd (default: today).
        #[arg(long)]
        date: Option<String>,
        /// Print the service's answer as JSON (the result format's element names).
        #[arg(long)]
        json: bool,
    },
    /// Check again a visit recorded as 未確認 (the service was unreachable), for its original
    /// visit date: the newest such visit, or `--entry N` from `onshi app history`. With `--held`,
    /// without the card: the card's certificate kept (encrypted, 31 days at most) when the visit
    /// was recorded, in 目視 mode.
    ///
    /// Exit codes as for `verify`.
    Recheck {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// The card: `emu:FILE` (a software card file), `pcsc` or `pcsc:NAME`.
        #[arg(long, default_value = "pcsc")]
        reader: String,
        /// pin: the patient enters the PIN; visual: 目視確認 of the card's photo.
        #[arg(
            long,
            value_enum,
            required_unless_present = "held",
            conflicts_with = "held"
        )]
        mode: Option<ModeArg>,
        /// Without the card: the certificate kept for the visit when it was recorded as 未確認
        /// (the patient was identified then), checked in 目視 mode.
        #[arg(long)]
        held: bool,
        /// The number of the 未確認 entry in `onshi app history` (default: the newest).
        #[arg(long)]
        entry: Option<usize>,
        /// Print the service's answer as JSON (the result format's element names).
        #[arg(long)]
        json: bool,
        /// Visual mode: the staff confirmed that the card's photo is the patient (for scripts).
        #[arg(long)]
        confirm_photo: bool,
    },
    /// Check this terminal: data directory, enrollment, clock, server, output folder, and with
    /// `--reader` the reader (and pcscd). Exit 0 when all is well, 1 otherwise.
    Doctor {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// Also check this reader: `emu:FILE`, `pcsc` or `pcsc:NAME` (reads no PIN).
        #[arg(long)]
        reader: Option<String>,
    },
    /// The reception desk's web page: PIN pad, 目視, results, today's history, settings.
    ///
    /// Served on this computer only (loopback). Prints a one-time address
    /// (`http://127.0.0.1:8470/login?k=…`): opening it once gives that browser the desk's cookie;
    /// to open the desk again, start `onshi app ui` again.
    /// Renews the terminal's certificate by itself when fewer than 30 days are left.
    Ui {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// Where to listen: a loopback address and port.
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: std::net::SocketAddr,
        /// The card reader for this run (`pcsc`, `pcsc:NAME`, `emu:FILE`), instead of the one in
        /// the settings.
        #[arg(long)]
        reader: Option<String>,
        /// Open the desk in the browser at once (`$ONSHI_BROWSER`, or the system's opener).
        #[arg(long)]
        open: bool,
    },
    /// Start the desk at every login and put 「オンライン資格確認（受付）」 in the menu (Linux: a
    /// systemd user unit, a menu entry and an autostart entry; Windows: onshi-desk.cmd in the
    /// Startup folder, the menu entry being the MSI's; see docs/desk.md for macOS). Runs again
    /// safely; `onshi app uninstall` undoes it.
    Install {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// Where the desk listens: a loopback address and port.
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: std::net::SocketAddr,
        /// The card reader, instead of the one in the settings.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Undo `onshi app install` (the data directory is kept).
    Uninstall,
    /// Open the running desk in the browser (what the menu entry does).
    Open {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
    },
    /// The terminal's own log of checks (90 days).
    History {
        /// The app's data directory.
        #[arg(long, env = "ONSHI_APP_DATA")]
        data: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `--mode`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// The patient enters the card's 4-digit PIN.
    Pin,
    /// 目視確認.
    Visual,
}

/// The desk on a terminal: the PIN without echo, the photo question with y/N.
struct Console {
    confirm_photo: bool,
}

impl Desk for Console {
    fn pin(&mut self, tries_left: u8) -> Result<Pin, AppError> {
        eprintln!("暗証番号（数字4桁）を入力してください（残り{tries_left}回）");
        read_pin("暗証番号: ").map_err(|e| AppError::Usage(format!("{e:#}")))
    }

    fn confirm_photo(&mut self) -> Result<bool, AppError> {
        if self.confirm_photo {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Ok(false);
        }
        eprint!("カードの顔写真と患者さんが同じ人であることを確認しましたか？ [y/N] ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes" | "はい"))
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn fail(e: &AppError) -> ExitCode {
    eprintln!("{}", e.message_ja());
    if e.is_card_error() || e.is_service_error() {
        // What to do next (目視, 番号で確認, the reset of a locked PIN …).
        eprint!(
            "{}",
            onshi_app::guidance::render_text(&onshi_app::guidance::for_error(e))
        );
    }
    eprintln!("（詳細 / detail: {e}）");
    ExitCode::from(exit::for_error(e))
}

/// `--date yyyyMMdd`, or today.
fn visit_date(date: Option<&str>) -> Result<onshi_model::Date, AppError> {
    match date {
        Some(d) => parse_yyyymmdd(d)
            .map_err(|e| AppError::Usage(format!("--date {d}: yyyyMMdd で指定してください / {e}"))),
        None => Ok(chrono::Local::now().date_naive()),
    }
}

/// Runs `onshi app …`.
pub fn run(command: &AppCommand) -> anyhow::Result<ExitCode> {
    match command {
        AppCommand::Enroll {
            data,
            code,
            settings,
            server,
            account,
            server_ca,
        } => {
            let args = match settings {
                Some(file) => {
                    onshi_app::EnrollArgs::from_settings(data.clone(), file, code.clone())
                }
                None => server_ca
                    .as_deref()
                    .map(onshi_app::data::read_text)
                    .transpose()
                    .map(|server_ca_pem| onshi_app::EnrollArgs {
                        data: data.clone(),
                        server: server.clone().unwrap_or_default(),
                        code: code.clone(),
                        account: account.clone().unwrap_or_default(),
                        server_ca_pem,
                        name: None,
                    }),
            };
            let args = match args {
                Ok(a) => a,
                Err(e) => return Ok(fail(&e)),
            };
            match runtime()?.block_on(onshi_app::enroll(&args)) {
                Ok(config) => {
                    println!(
                        "端末 {} を登録しました（{}）。",
                        config.account,
                        data.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(fail(&e)),
            }
        }
        AppCommand::Renew { data } => match runtime()?.block_on(onshi_app::renew(data)) {
            Ok(expiry) => {
                println!(
                    "端末の証明書を更新しました（有効期限 {}）。",
                    expiry.format("%Y-%m-%d")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Ok(fail(&e)),
        },
        AppCommand::Verify {
            data,
            reader,
            mode,
            date,
            json,
            confirm_photo,
            register,
        } => {
            let visit = match visit_date(date.as_deref()) {
                Ok(d) => d,
                Err(e) => return Ok(fail(&e)),
            };
            let mode = match mode {
                ModeArg::Pin => Mode::Pin,
                ModeArg::Visual => Mode::Visual,
            };
            if *register && mode != Mode::Pin {
                return Ok(fail(&AppError::Usage(
                    "利用登録は暗証番号による確認（--mode pin）でだけできます / --register needs --mode pin".to_owned(),
                )));
            }
            let mut desk = Console {
                confirm_photo: *confirm_photo,
            };
            // 目視: the photo is confirmed before the card is even opened.
            if mode == Mode::Visual && !desk.confirm_photo()? {
                return Ok(fail(&AppError::PhotoNotConfirmed));
            }
            desk.confirm_photo = true;
            let transport = match open_reader(reader) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e:#}");
                    return Ok(ExitCode::from(exit::CARD_ERROR));
                }
            };
            let mut card = Client::new(transport);
            let now = chrono::Utc::now();
            let result = if *register {
                eprintln!("利用登録: 患者さんの同意を得て、マイナンバーカードを健康保険証として利用登録します。");
                runtime()?.block_on(onshi_app::register(data, &mut card, &mut desk, visit, now))
            } else {
                runtime()?.block_on(onshi_app::check(
                    data, &mut card, &mut desk, mode, visit, now,
                ))
            };
            match result {
                Ok(outcome) => show(&outcome, *json),
                Err(e) => Ok(fail(&e)),
            }
        }
        AppCommand::Query {
            data,
            insurer,
            symbol,
            number,
            branch,
            birth,
            date,
            json,
        } => {
            let visit = match visit_date(date.as_deref()) {
                Ok(d) => d,
                Err(e) => return Ok(fail(&e)),
            };
            let numbers = match onshi_app::Numbers::parse(insurer, symbol, number, branch, birth) {
                Ok(n) => n,
                Err(e) => return Ok(fail(&e)),
            };
            let now = chrono::Utc::now();
            match runtime()?.block_on(onshi_app::query(data, &numbers, visit, now)) {
                Ok(outcome) => show(&outcome, *json),
                Err(e) => Ok(fail(&e)),
            }
        }
        AppCommand::Recheck {
            data,
            reader,
            mode,
            entry,
            json,
            confirm_photo,
            held,
        } => {
            // Which entry, before anything asks the patient or opens the card.
            let waiting = onshi_app::history::read(data)
                .and_then(|entries| onshi_app::history::to_recheck(&entries, *entry));
            if let Err(e) = waiting {
                return Ok(fail(&e));
            }
            if *held {
                let result = runtime()?.block_on(onshi_app::check::recheck_held(
                    data,
                    *entry,
                    chrono::Utc::now(),
                ));
                return match result {
                    Ok(done) => show_recheck(&done, *json),
                    Err(e) => Ok(fail(&e)),
                };
            }
            let mode = match mode {
                Some(ModeArg::Pin) => Mode::Pin,
                _ => Mode::Visual,
            };
            let mut desk = Console {
                confirm_photo: *confirm_photo,
            };
            if mode == Mode::Visual && !desk.confirm_photo()? {
                return Ok(fail(&AppError::PhotoNotConfirmed));
            }
            desk.confirm_photo = true;
            let transport = match open_reader(reader) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e:#}");
                    return Ok(ExitCode::from(exit::CARD_ERROR));
                }
            };
            let mut card = Client::new(transport);
            let result = runtime()?.block_on(onshi_app::recheck(
                data,
                &mut card,
                &mut desk,
                mode,
                *entry,
                chrono::Utc::now(),
            ));
            match result {
                Ok(done) => show_recheck(&done, *json),
                Err(e) => Ok(fail(&e)),
            }
        }
        AppCommand::Doctor { data, reader } => {
            let now = chrono::Utc::now();
            let mut report = runtime()?.block_on(onshi_app::doctor::doctor(data, now));
            if let Some(spec) = reader {
                let opened = open_reader(spec).map(Client::new).map_err(Into::into);
                report
                    .findings
                    .push(onshi_app::doctor::reader(spec, opened, now));
                if spec.starts_with("pcsc") {
                    report.findings.push(onshi_app::doctor::pcscd(Path::new(
                        onshi_app::doctor::PCSCD_SOCKET,
                    )));
                }
            }
            print!("{}", report.render());
            Ok(if report.all_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AppCommand::Ui {
            data,
            listen,
            reader,
            open,
        } => ui(data, *listen, reader.as_deref(), *open),
        AppCommand::Install {
            data,
            listen,
            reader,
        } => install(data, *listen, reader.as_deref()),
        AppCommand::Uninstall => {
            let removed = if cfg!(windows) {
                onshi_app::desktop::uninstall_windows(&startup_dir()?)?
            } else {
                onshi_app::desktop::uninstall(&user_dirs()?, true)?
            };
            if removed.is_empty() {
                println!("受付画面の自動起動は設定されていません / nothing was installed");
            } else {
                for f in &removed {
                    println!("削除しました / removed: {}", f.display());
                }
                println!("受付画面の自動起動とメニューを取り除きました（データフォルダーは残してあります）。");
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Open { data } => match onshi_app::desktop::desk_login_url(data)? {
            Some(url) => {
                onshi_app::desktop::open_browser(&url).map_err(|e| {
                    anyhow::anyhow!("ブラウザーを開けません（{e}）。次のアドレスをブラウザーで開いてください: {url}")
                })?;
                println!("受付画面をブラウザーで開きました。");
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("受付画面が動いていません。onshi app ui を起動するか、onshi app install で自動起動を設定してください / the desk is not running");
                Ok(ExitCode::from(onshi_app::exit::SETUP_ERROR))
            }
        },
        AppCommand::History { data, json } => match onshi_app::history::read(data) {
            Ok(entries) => {
                if *json {
                    for e in &entries {
                        println!("{}", serde_json::to_string(e)?);
                    }
                } else {
                    print!("{}", onshi_app::history::render(&entries, data));
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Ok(fail(&e)),
        },
    }
}

/// Prints an answered re-check: which visit, then the answer.
fn show_recheck(done: &onshi_app::Recheck, json: bool) -> anyhow::Result<ExitCode> {
    if !json {
        let recorded = onshi_model::date::jst_time(done.recorded);
        println!(
            "{}番（{} {} に未確認として記録）を受診日 {}（{}）の資格で確認し直しました。",
            done.entry,
            onshi_model::wareki::label(recorded.date()),
            recorded.format("%H:%M"),
            onshi_model::wareki::label(done.outcome.visit),
            done.outcome.visit.format("%Y-%m-%d")
        );
    }
    show(&done.outcome, json)
}

/// Prints an answered check (as text with the files written, or as JSON) and returns its exit
/// code.
fn show(outcome: &onshi_app::CheckOutcome, json: bool) -> anyhow::Result<ExitCode> {
    if let Some(e) = &outcome.files_error {
        eprintln!("注意: {e}");
    }
    let guidance = onshi_app::guidance::render_text(&outcome.guidance());
    if json {
        // The verdict and the next steps for the person at the terminal; the JSON alone on
        // standard output.
        eprint!("{guidance}");
        println!("{}", serde_json::to_string_pretty(&outcome.response)?);
    } else {
        // The verdict, the warnings and the next step first, then the answer.
        print!("{guidance}");
        print!("{}", outcome.describe());
        if let Some(files) = &outcome.files {
            println!("レセコン連携ファイル");
            for path in files.paths() {
                println!("  {}", path.display());
            }
            for m in &files.mapped {
                println!(
                    "  注意: {}の「{}」は Shift_JIS にないため「{}」と書きました。申請書では正しい字に直してください。",
                    m.field, m.original, m.replacement
                );
            }
        }
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// `onshi app ui`: serves the desk until Ctrl-C or SIGTERM.
/// The user's XDG directories.
fn user_dirs() -> anyhow::Result<onshi_app::desktop::UserDirs> {
    onshi_app::desktop::UserDirs::from_env()
        .ok_or_else(|| anyhow::anyhow!("HOME が設定されていません / HOME is not set"))
}

/// The user's Startup folder on Windows.
fn startup_dir() -> anyhow::Result<PathBuf> {
    onshi_app::desktop::windows_startup_dir(std::env::var_os("APPDATA"))
        .ok_or_else(|| anyhow::anyhow!("APPDATA が設定されていません / APPDATA is not set"))
}

/// Runs `onshi app install`.
fn install(
    data: &Path,
    listen: std::net::SocketAddr,
    reader: Option<&str>,
) -> anyhow::Result<ExitCode> {
    if !listen.ip().is_loopback() {
        anyhow::bail!("--listen {listen}: 受付画面はこのパソコンの中（127.0.0.1 など）でだけ開けます / a loopback address");
    }
    let exe = std::env::current_exe()?;
    let listen = listen.to_string();
    if cfg!(windows) {
        let known: Vec<(&str, String)> = onshi_app::desktop::WINDOWS_DIR_VARIABLES
            .iter()
            .filter_map(|name| {
                let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
                Some((*name, value))
            })
            .collect();
        let file =
            onshi_app::desktop::install_windows(&onshi_app::desktop::WindowsInstallOptions {
                startup: &startup_dir()?,
                exe: &exe,
                data,
                listen: &listen,
                reader,
                known: &known,
            })?;
        println!("書き込みました / written: {}", file.display());
        println!("次回のログオンから受付画面が自動で起動し、ブラウザーで開きます。今すぐ開くにはスタートメニューの「{}」を選んでください。", onshi_app::desktop::MENU_TITLE);
        return Ok(ExitCode::SUCCESS);
    }
    let dirs = user_dirs()?;
    let done = onshi_app::desktop::install(&onshi_app::desktop::InstallOptions {
        dirs: &dirs,
        exe: &exe,
        data,
        listen: &listen,
        reader,
        systemctl: true,
    })?;
    for f in &done.files {
        println!("書き込みました / written: {}", f.display());
    }
    if done.started {
        println!("受付画面を起動しました。次回からはログインすると自動で起動し、ブラウザーで開きます。メニューの「{}」からも開けます。", onshi_app::desktop::MENU_TITLE);
    } else {
        println!("次回のログインから受付画面が自動で起動し、ブラウザーで開きます（このパソコンでは今すぐ起動できませんでした: systemctl --user が使えません）。メニューの「{}」からも開けます。", onshi_app::desktop::MENU_TITLE);
    }
    Ok(ExitCode::SUCCESS)
}

fn ui(
    data: &Path,
    listen: std::net::SocketAddr,
    reader: Option<&str>,
    open: bool,
) -> anyhow::Result<ExitCode> {
    let reader = match reader.map(onshi_app::reader::ReaderSpec::parse).transpose() {
        Ok(r) => r,
        Err(e) => return Ok(fail(&e)),
    };
    let options = onshi_app_ui::UiOptions {
        data: data.to_owned(),
        reader,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            anyhow::anyhow!("{listen} で待ち受けできません（{e}）。--listen で別のポートを指定してください / cannot listen")
        })?;
        let addr = listener.local_addr()?;
        let desk = match onshi_app_ui::Desk::new(options, addr) {
            Ok(d) => d,
            Err(e) => anyhow::bail!("{e}"),
        };
        println!("受付画面: {}", desk.login_url());
        println!("このパソコンのブラウザーで開いてください。このアドレスは一度だけ使えます（開き直すには onshi app open）。Ctrl-C で終了します。");
        if open {
            if let Err(e) = onshi_app::desktop::open_browser(desk.login_url()) {
                eprintln!("ブラウザーを開けませんでした（{e}）。上のアドレスを開いてください。");
            }
        }
        desk.serve(listener, shutdown_signal())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
