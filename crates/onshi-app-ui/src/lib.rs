//! The reception desk's web page (`onshi app ui`): served on loopback only, for the browser of
//! the reception PC. Choose PIN or 目視, the patient's PIN pad (digits never shown), the result
//! screen with the clipboard copy, today's history with re-checks of 未確認 visits, and the
//! settings (reader, output folder, encoding). The reader's state is shown live.
//!
//! The page talks to a small JSON API under `/api/`. Because any web site the browser visits
//! could send requests to a loopback port, every API call must carry the token embedded in the
//! page (`X-Onshi-Token`, which a cross-site request cannot read or set) and a `Host` that is
//! this loopback address (against DNS rebinding).

pub mod session;
pub mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use onshi_app::data::{AppConfig, Encoding};
use onshi_app::reader::ReaderSpec;
use onshi_card::Pin;
use onshi_proto::Mode;
use serde::Deserialize;
use serde_json::json;

use crate::session::{Job, Session};

/// The largest request body the page sends (settings, PIN).
const BODY_LIMIT: usize = 16 * 1024;
/// How often the certificate's expiry is looked at for the automatic renewal.
const RENEWAL_CHECK: Duration = Duration::from_secs(3600);

/// What `onshi app ui` starts with.
#[derive(Clone, Debug)]
pub struct UiOptions {
    /// The app's data directory (enrolled).
    pub data: PathBuf,
    /// The reader, overriding the settings' one.
    pub reader: Option<ReaderSpec>,
}

struct Ui {
    data: PathBuf,
    session: Arc<Session>,
    token: String,
    /// `Host` values the page may use.
    hosts: Vec<String>,
    /// The reader given on the command line, if any.
    reader_override: Option<ReaderSpec>,
    /// The last word of the automatic renewal, shown in the banner.
    banner: Mutex<Option<String>>,
}

impl Ui {
    fn reader(&self) -> ReaderSpec {
        if let Some(r) = &self.reader_override {
            return r.clone();
        }
        AppConfig::load(&self.data)
            .ok()
            .and_then(|c| c.reader)
            .and_then(|r| ReaderSpec::parse(&r).ok())
            .unwrap_or(ReaderSpec::Pcsc(None))
    }
}

/// Why the desk cannot start.
#[derive(Debug)]
pub enum UiError {
    /// `--listen` is not a loopback address.
    NotLoopback(SocketAddr),
    /// The data directory is not enrolled or unreadable.
    App(onshi_app::AppError),
    /// The random token could not be made.
    Random(String),
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLoopback(a) => write!(f, "受付画面はこのパソコンの中（127.0.0.1 など）でだけ開けます。{a} は使えません / --listen must be a loopback address"),
            Self::App(e) => f.write_str(&e.message_ja()),
            Self::Random(e) => write!(f, "乱数を作れません / {e}"),
        }
    }
}

impl std::error::Error for UiError {}

/// The desk's router for a listener bound to `local` (loopback).
pub fn router(options: UiOptions, local: SocketAddr) -> Result<Router, UiError> {
    if !local.ip().is_loopback() {
        return Err(UiError::NotLoopback(local));
    }
    AppConfig::load(&options.data).map_err(UiError::App)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UiError::Random(e.to_string()))?;
    let port = local.port();
    let ui = Arc::new(Ui {
        session: Session::new(options.data.clone()),
        data: options.data,
        token: hex::encode(bytes),
        hosts: vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ],
        reader_override: options.reader,
        banner: Mutex::new(None),
    });
    spawn_renewal(ui.clone());
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/check", post(check))
        .route("/api/recheck", post(recheck))
        .route("/api/pin", post(pin))
        .route("/api/cancel", post(cancel))
        .route("/api/history", get(history))
        .route("/api/settings", get(settings).post(save_settings))
        .layer(axum::middleware::from_fn_with_state(
            ui.clone(),
            require_token,
        ));
    Ok(Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .merge(api)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(ui.clone(), guard))
        .with_state(ui))
}

/// Serves the desk on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: UiOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error>> {
    let app = router(options, listener.local_addr()?)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Renews the terminal's certificate when fewer than 30 days are left: at start, then hourly.
fn spawn_renewal(ui: Arc<Ui>) {
    tokio::spawn(async move {
        loop {
            let now = chrono::Utc::now();
            if let Ok(true) = onshi_app::renewal_due(&ui.data, now) {
                let said = match onshi_app::renew(&ui.data).await {
                    Ok(expiry) => format!(
                        "端末の証明書を自動で更新しました（新しい有効期限 {}）。",
                        expiry.format("%Y-%m-%d")
                    ),
                    Err(e) => format!(
                        "端末の証明書の有効期限が近づいていますが、自動更新できませんでした。{}",
                        e.message_ja()
                    ),
                };
                tracing::info!(target: "onshi_app_ui", "renewal: {said}");
                *ui.banner
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(said);
            }
            tokio::time::sleep(RENEWAL_CHECK).await;
        }
    });
}

/// Every response: only our own loopback `Host`, no caching, no framing, a strict CSP.
async fn guard(State(ui): State<Arc<Ui>>, request: Request, next: Next) -> Response {
    let host_ok = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| ui.hosts.iter().any(|allowed| allowed == h));
    let mut response = if host_ok {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "この受付画面は http://127.0.0.1 で開いてください。",
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// The API: only with the page's token.
async fn require_token(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let given = headers.get("x-onshi-token").map(|v| v.as_bytes());
    // Compared in constant time: the token is the page's only credential.
    let ok = given.is_some_and(|g| {
        g.len() == ui.token.len()
            && g.iter()
                .zip(ui.token.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        next.run(request).await
    } else {
        refuse(
            StatusCode::FORBIDDEN,
            "この操作は受付画面からだけ行えます。画面を開き直してください。",
        )
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "ok": false, "message": message }))).into_response()
}

async fn page(State(ui): State<Arc<Ui>>) -> Response {
    match AppConfig::load(&ui.data) {
        Ok(config) => Html(view::page(&ui.token, &config.account).into_string()).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(format!(
                "<!doctype html><meta charset=utf-8><p>{}</p>",
                maud::html!((e.message_ja())).into_string()
            )),
        )
            .into_response(),
    }
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/app.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/app.css"),
    )
}

async fn status(State(ui): State<Arc<Ui>>) -> Response {
    let spec = ui.reader();
    let reader = tokio::task::spawn_blocking(move || spec.state())
        .await
        .unwrap_or(onshi_app::reader::ReaderState::NoReader);
    let (phase, seq) = ui.session.phase();
    let banner = ui
        .banner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Json(json!({
        "seq": seq,
        "phase": phase.key(),
        "screen": view::screen(&phase).into_string(),
        "reader": { "state": reader.key(), "text": reader.message_ja() },
        "banner": banner,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct CheckBody {
    mode: String,
    #[serde(default)]
    photo_confirmed: bool,
    entry: Option<usize>,
}

/// The mode the page asked for, or why it cannot start (in Japanese).
fn job_mode(body: &CheckBody) -> Result<Mode, &'static str> {
    match body.mode.as_str() {
        "pin" => Ok(Mode::Pin),
        "visual" if body.photo_confirmed => Ok(Mode::Visual),
        "visual" => Err("目視確認では、先に顔写真で本人であることを確認してください。"),
        _ => Err("確認のしかた（暗証番号か目視）を選んでください。"),
    }
}

fn started(result: Result<(), session::Refusal>) -> Response {
    match result {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(r) => refuse(StatusCode::CONFLICT, r.message_ja()),
    }
}

async fn check(State(ui): State<Arc<Ui>>, Json(body): Json<CheckBody>) -> Response {
    match job_mode(&body) {
        Ok(mode) => started(ui.session.start(Job::Check(mode), ui.reader())),
        Err(why) => refuse(StatusCode::BAD_REQUEST, why),
    }
}

async fn recheck(State(ui): State<Arc<Ui>>, Json(body): Json<CheckBody>) -> Response {
    let mode = match job_mode(&body) {
        Ok(m) => m,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    let Some(entry) = body.entry else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "確認し直す受付を履歴から選んでください。",
        );
    };
    let waiting = onshi_app::history::read(&ui.data)
        .and_then(|entries| onshi_app::history::to_recheck(&entries, Some(entry)));
    if let Err(e) = waiting {
        return refuse(StatusCode::BAD_REQUEST, &e.message_ja());
    }
    started(ui.session.start(Job::Recheck { entry, mode }, ui.reader()))
}

#[derive(Deserialize)]
struct PinBody {
    pin: zeroize::Zeroizing<String>,
}

async fn pin(State(ui): State<Arc<Ui>>, Json(body): Json<PinBody>) -> Response {
    let pin = match Pin::parse(&body.pin) {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &format!("{}。", e.message_ja())),
    };
    match ui.session.pin(pin) {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(r) => refuse(StatusCode::CONFLICT, r.message_ja()),
    }
}

async fn cancel(State(ui): State<Arc<Ui>>) -> Response {
    ui.session.cancel();
    Json(json!({ "ok": true })).into_response()
}

async fn history(State(ui): State<Arc<Ui>>) -> Response {
    match onshi_app::history::read(&ui.data) {
        Ok(entries) => {
            Html(view::history(&entries, chrono::Utc::now()).into_string()).into_response()
        }
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.message_ja()),
    }
}

async fn settings(State(ui): State<Arc<Ui>>) -> Response {
    let config = match AppConfig::load_file(&ui.data) {
        Ok(c) => c,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.message_ja()),
    };
    let readers = tokio::task::spawn_blocking(onshi_app::reader::pcsc_readers)
        .await
        .unwrap_or_default();
    let reader = ui.reader().to_string();
    Html(view::settings(&config, &reader, &readers).into_string()).into_response()
}

#[derive(Deserialize)]
struct SettingsBody {
    reader: String,
    output: String,
    encoding: String,
}

async fn save_settings(State(ui): State<Arc<Ui>>, Json(body): Json<SettingsBody>) -> Response {
    let bad = |m: String| refuse(StatusCode::BAD_REQUEST, &m);
    let reader = match ReaderSpec::parse(body.reader.trim()) {
        Ok(r) => r,
        Err(e) => return bad(format!("カードリーダー: {}", e.message_ja())),
    };
    let encoding = match body.encoding.as_str() {
        "utf-8" => Encoding::Utf8,
        "shift_jis" => Encoding::ShiftJis,
        other => {
            return bad(format!(
                "文字コード「{other}」は選べません。UTF-8 か Shift_JIS を選んでください。"
            ))
        }
    };
    let output = PathBuf::from(body.output.trim());
    if !output.is_absolute() {
        return bad(
            "出力先フォルダーは /home/… や C:\\… のように、最初から（絶対パスで）書いてください。"
                .to_owned(),
        );
    }
    let writable = tokio::task::spawn_blocking({
        let output = output.clone();
        move || {
            std::fs::create_dir_all(&output)?;
            tempfile_probe(&output)
        }
    })
    .await;
    if !matches!(writable, Ok(Ok(()))) {
        return bad(format!(
            "出力先フォルダー {} に書き込めません。フォルダーの場所と権限を確認してください。",
            output.display()
        ));
    }
    let mut config = match AppConfig::load_file(&ui.data) {
        Ok(c) => c,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.message_ja()),
    };
    config.reader = Some(reader.to_string());
    config.rececon.output = output;
    config.rececon.encoding = encoding;
    match config.save(&ui.data) {
        Ok(()) => {
            let note = if ui.reader_override.is_some() {
                "（起動時に --reader が指定されているため、この起動中はそのリーダーを使います）"
            } else {
                ""
            };
            Json(json!({ "ok": true, "message": format!("設定を保存しました。{note}") }))
                .into_response()
        }
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.message_ja()),
    }
}

/// Creates and removes a file in `dir`: the folder is writable.
fn tempfile_probe(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".onshi-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}
