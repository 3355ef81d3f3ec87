//! The reception desk's web page (`onshi app ui`): served on loopback only, for the browser of
//! the reception PC. Choose PIN or 目視, the patient's PIN pad (digits never shown), the result
//! screen with the clipboard copy, today's history with re-checks of 未確認 visits, and the
//! settings (reader, output folder, encoding). The reader's state is shown live.
//!
//! Who may use it: any process on the PC can reach a loopback port, so nothing is given away
//! to whoever asks. Each launch makes a secret, printed on the command line as a one-time
//! address (`http://127.0.0.1:8470/login?k=…`). Opening it once exchanges it for an `HttpOnly`,
//! `SameSite=Strict` cookie (the key is then spent); the page and every call of its JSON API
//! under `/api/` need that cookie, the page's own `X-Onshi-Desk` header (which a cross-site
//! request cannot send) and a `Host` that is this loopback address (against DNS rebinding).
//! Without the cookie the page says how to open the desk again.

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

/// The cookie that carries the desk's session.
pub const COOKIE: &str = "onshi_desk";
/// Where the one-time key is exchanged for the cookie (`/login?k=KEY`).
pub const LOGIN_PATH: &str = "/login";
/// The header every API call carries (a cross-site request cannot send it unasked).
pub const DESK_HEADER: &str = "x-onshi-desk";

struct Ui {
    data: PathBuf,
    session: Arc<Session>,
    /// This launch's one-time key; `None` once exchanged.
    login_key: Mutex<Option<String>>,
    /// The cookie's value, once the key was exchanged.
    cookie: Mutex<Option<String>>,
    /// `Host` values the page may use.
    hosts: Vec<String>,
    /// The reader given on the command line, if any.
    reader_override: Option<ReaderSpec>,
    /// The last word of the automatic renewal, shown in the banner.
    banner: Mutex<Option<String>>,
    /// Where the desk listens (for its one-time addresses).
    local: SocketAddr,
}

impl Ui {
    /// Keeps the current one-time address where `onshi app open` finds it (0600 in the data
    /// directory, beside the terminal's key); a failure only means `app open` cannot help.
    fn publish_login(&self, key: &str) {
        let url = format!("http://{}{LOGIN_PATH}?k={key}\n", self.local);
        let path = self.data.join(onshi_app::desktop::DESK_LOGIN_FILE);
        if let Err(e) = onshi_app::data::write_file(&path, url.as_bytes(), 0o600) {
            tracing::warn!(target: "onshi_app_ui", error = %e.message_ja(), "could not keep the desk's address for `onshi app open`");
        }
    }

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
    /// The launch's secret could not be made.
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

/// 32 random bytes, hex.
fn secret() -> Result<String, UiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UiError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Compares two secrets in constant time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The desk of one launch: its routes and the one-time address that opens it.
pub struct Desk {
    router: Router,
    login_url: String,
    data: PathBuf,
}

impl Desk {
    /// The desk for a listener bound to `local` (loopback), with a new one-time key.
    pub fn new(options: UiOptions, local: SocketAddr) -> Result<Self, UiError> {
        if !local.ip().is_loopback() {
            return Err(UiError::NotLoopback(local));
        }
        match AppConfig::load(&options.data) {
            Ok(_) => {}
            // Not enrolled yet: the page opens at 端末の登録. The (private) directory is made now
            // so that the desk's one-time address can be kept in it.
            Err(onshi_app::AppError::NotEnrolled(_)) => {
                onshi_app::data::create_private_dir(&options.data).map_err(UiError::App)?;
            }
            Err(e) => return Err(UiError::App(e)),
        }
        let key = secret()?;
        let key_for_file = key.clone();
        let data_dir = options.data.clone();
        let port = local.port();
        let login_url = format!("http://{local}{LOGIN_PATH}?k={key}");
        let ui = Arc::new(Ui {
            session: Session::new(options.data.clone()),
            data: options.data,
            login_key: Mutex::new(Some(key)),
            cookie: Mutex::new(None),
            hosts: vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
            reader_override: options.reader,
            banner: Mutex::new(None),
            local,
        });
        ui.publish_login(&key_for_file);
        spawn_renewal(ui.clone());
        let api = Router::new()
            .route("/api/status", get(status))
            .route("/api/check", post(check))
            .route("/api/recheck", post(recheck))
            .route("/api/register", post(register))
            .route("/api/query", post(query))
            .route("/api/typed", post(typed))
            .route("/api/pin", post(pin))
            .route("/api/cancel", post(cancel))
            .route("/api/history", get(history))
            .route("/api/settings", get(settings).post(save_settings))
            .route("/api/enroll", post(enroll))
            .layer(axum::middleware::from_fn_with_state(
                ui.clone(),
                require_cookie,
            ));
        let router = Router::new()
            .route("/", get(page))
            .route(LOGIN_PATH, get(login))
            .route("/app.js", get(script))
            .route("/app.css", get(style))
            .merge(api)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(axum::middleware::from_fn_with_state(ui.clone(), guard))
            .with_state(ui);
        Ok(Self {
            router,
            login_url,
            data: data_dir,
        })
    }

    /// The one-time address to open in the browser (`http://127.0.0.1:8470/login?k=…`): print
    /// it to the person who started the desk, nowhere else.
    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    /// The routes (for tests without a socket).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves the desk on `listener` (the one `local` was taken from) until `shutdown`
    /// resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let served = axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        // Gone with the desk: an address of a desk that no longer runs helps nobody.
        let _ = std::fs::remove_file(self.data.join(onshi_app::desktop::DESK_LOGIN_FILE));
        served?;
        Ok(())
    }
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
                        onshi_model::wareki::label(expiry.date_naive())
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

/// Whether the request carries the cookie the one-time key was exchanged for.
fn has_cookie(ui: &Ui, headers: &HeaderMap) -> bool {
    let Some(expected) = lock(&ui.cookie).clone() else {
        return false;
    };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value.as_bytes(), expected.as_bytes()))
}

/// The API: only with the desk's cookie and the page's header.
async fn require_cookie(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let from_page = headers
        .get(DESK_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    if from_page && has_cookie(&ui, &headers) {
        next.run(request).await
    } else {
        refuse(
            StatusCode::FORBIDDEN,
            "この操作は受付画面からだけ行えます。受付画面を開き直すには、onshi app ui を起動し直し、表示された新しいアドレスを開いてください。",
        )
    }
}

/// The page without the cookie: how to open the desk again.
fn locked(status: StatusCode, why: &str) -> Response {
    (status, Html(view::locked(why).into_string())).into_response()
}

/// `/login?k=KEY`: the one-time key, exchanged once for the cookie, then spent.
async fn login(State(ui): State<Arc<Ui>>, uri: axum::http::Uri) -> Response {
    // The key is hex: no percent-decoding needed; anything else simply does not match.
    let given = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "k")
        .map_or("", |(_, value)| value);
    let spent = {
        let mut key = lock(&ui.login_key);
        match key.as_deref() {
            Some(k) if same(k.as_bytes(), given.as_bytes()) => {
                // Spent; the next one waits for `onshi app open` (the menu entry).
                let next = secret().ok();
                if let Some(n) = &next {
                    ui.publish_login(n);
                }
                *key = next;
                true
            }
            _ => false,
        }
    };
    if !spent {
        tracing::warn!(target: "onshi_app_ui", "a spent or wrong one-time desk address was opened");
        return locked(
            StatusCode::FORBIDDEN,
            "このアドレスはもう使われたか、正しくありません（受付画面のアドレスは一度しか使えません）。",
        );
    }
    let value = match secret() {
        Ok(v) => v,
        Err(e) => return locked(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    *lock(&ui.cookie) = Some(value.clone());
    let cookie = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, HeaderValue::from_static("/")),
                (header::SET_COOKIE, cookie),
            ],
        )
            .into_response(),
        Err(_) => locked(StatusCode::INTERNAL_SERVER_ERROR, "クッキーを作れません。"),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "ok": false, "message": message }))).into_response()
}

async fn page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    if !has_cookie(&ui, &headers) {
        return locked(
            StatusCode::UNAUTHORIZED,
            "この受付画面は、起動したときに表示されたアドレスから開いてください。",
        );
    }
    match AppConfig::load(&ui.data) {
        Ok(config) => Html(view::page(&config.terminal_label()).into_string()).into_response(),
        Err(onshi_app::AppError::NotEnrolled(_)) => {
            Html(view::enroll_page().into_string()).into_response()
        }
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

#[derive(Deserialize)]
struct EnrollBody {
    /// The portal's settings file (ユーザー設定情報), as text.
    #[serde(default)]
    settings: Option<String>,
    /// Or the service's address and the account, typed.
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    server_ca: Option<String>,
    /// The one-time code shown with the settings file.
    code: zeroize::Zeroizing<String>,
}

/// 端末の登録 from the page: what `onshi app enroll` does (a new key, the CSR with the code, the
/// certificate and `app.toml` stored). Refused once the terminal is enrolled.
async fn enroll(State(ui): State<Arc<Ui>>, Json(body): Json<EnrollBody>) -> Response {
    if AppConfig::load(&ui.data).is_ok() {
        return refuse(StatusCode::CONFLICT, "この端末はもう登録されています。");
    }
    let code = body.code.trim().to_owned();
    if code.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "登録コードを入力してください。");
    }
    let args = match (&body.settings, &body.server, &body.account) {
        (Some(text), _, _) if !text.trim().is_empty() => {
            onshi_app::EnrollArgs::from_settings_text(
                ui.data.clone(),
                text,
                std::path::Path::new("端末設定ファイル"),
                code,
            )
        }
        (_, Some(server), Some(account)) if !server.trim().is_empty() && !account.trim().is_empty() => {
            Ok(onshi_app::EnrollArgs {
                data: ui.data.clone(),
                server: server.trim().to_owned(),
                code,
                account: account.trim().to_owned(),
                server_ca_pem: body.server_ca.clone().filter(|c| !c.trim().is_empty()),
                name: None,
            })
        }
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "ポータルでダウンロードした端末設定ファイルを選ぶか、サーバーのアドレスとアカウントを入力してください。",
            )
        }
    };
    let args = match args {
        Ok(a) => a,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.message_ja()),
    };
    match onshi_app::enroll(&args).await {
        Ok(config) => {
            tracing::info!(target: "onshi_app_ui", account = %config.account, "terminal enrolled from the desk's page");
            Json(json!({ "ok": true, "account": config.account })).into_response()
        }
        Err(e) => refuse(StatusCode::BAD_REQUEST, &e.message_ja()),
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
    #[serde(default)]
    mode: String,
    #[serde(default)]
    photo_confirmed: bool,
    entry: Option<usize>,
    /// A re-check without the card, from the certificate kept for the visit.
    #[serde(default)]
    held: bool,
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

#[derive(Deserialize)]
struct RegisterBody {
    /// The staff read the consent text to the patient, who agreed.
    #[serde(default)]
    consent: bool,
}

/// 「この場で利用登録する」: after the patient's consent, a new PIN check that registers the card.
async fn register(State(ui): State<Arc<Ui>>, Json(body): Json<RegisterBody>) -> Response {
    if !body.consent {
        return refuse(
            StatusCode::BAD_REQUEST,
            "利用登録の前に、確認の文を患者さんに読み上げて同意を得てください。",
        );
    }
    started(ui.session.start(Job::Register, ui.reader()))
}

#[derive(Deserialize)]
struct NumbersBody {
    insurer: String,
    #[serde(default)]
    symbol: String,
    number: String,
    #[serde(default)]
    branch: String,
    birth: String,
}

/// 「番号で確認」: what was typed checked here (each field named in Japanese), then the service
/// asked without a card.
async fn query(State(ui): State<Arc<Ui>>, Json(body): Json<NumbersBody>) -> Response {
    let numbers = onshi_app::Numbers::parse(
        &body.insurer,
        &body.symbol,
        &body.number,
        &body.branch,
        &body.birth,
    );
    match numbers {
        Ok(n) => started(ui.session.start(Job::Query(Box::new(n)), ui.reader())),
        Err(e) => refuse(StatusCode::BAD_REQUEST, &e.message_ja()),
    }
}

#[derive(Deserialize)]
struct TypedBody {
    #[serde(default)]
    insurer: String,
    #[serde(default)]
    birth: String,
}

/// As the numbers are typed: whether the insurer number is whole and its 検証番号 right, and
/// the birth date as read (和暦 and 西暦).
async fn typed(Json(body): Json<TypedBody>) -> Response {
    let insurer = insurer_as_typed(body.insurer.trim());
    let birth = match body.birth.trim() {
        "" => json!({ "ok": false, "text": "" }),
        b => match onshi_app::check::parse_birth(b) {
            Ok(d) => json!({
                "ok": true,
                "text": format!("{}（{}）", onshi_model::wareki::label(d), d.format("%Y-%m-%d")),
            }),
            Err(why) => json!({ "ok": false, "text": why.to_string() }),
        },
    };
    Json(json!({ "insurer": insurer, "birth": birth })).into_response()
}

/// The kind of insurer, in words.
fn kind_ja(kind: onshi_model::InsuranceKind) -> &'static str {
    use onshi_model::InsuranceKind as K;
    match kind {
        K::Kyokai => "協会けんぽ",
        K::Kumiai => "健康保険組合",
        K::Kyosai => "共済組合",
        K::Kokuho => "国民健康保険",
        K::Taishoku => "退職者医療",
        K::Koki => "後期高齢者医療",
    }
}

/// Why the desk does not take a folder for the receipt computer's files.
#[derive(Debug)]
enum OutputRefused {
    /// Outside the folders `app.toml` allows (the app's own message).
    NotAllowed(onshi_app::AppError),
    /// It cannot be created or written.
    NotWritable,
}

/// What the desk says under the insurer number while it is typed.
fn insurer_as_typed(typed: &str) -> serde_json::Value {
    if typed.is_empty() {
        return json!({ "ok": false, "text": "" });
    }
    if !typed.bytes().all(|b| b.is_ascii_digit()) {
        return json!({ "ok": false, "text": "保険者番号は半角数字で入力してください。" });
    }
    match (typed.len(), onshi_model::InsurerNumber::parse(typed)) {
        (6 | 8, Ok(n)) => json!({
            "ok": true,
            "text": format!("保険者番号の検証番号（最後の1桁）は合っています（{}）。", kind_ja(n.kind())),
        }),
        (6 | 8, Err(e)) => json!({
            "ok": false,
            "text": onshi_app::check::insurer_error_ja(typed, &e),
        }),
        (n, _) if n < 6 => json!({ "ok": false, "text": format!("{n}桁（6桁または8桁）") }),
        (7, _) => json!({ "ok": false, "text": "7桁（8桁の番号ならあと1桁）" }),
        _ => json!({ "ok": false, "text": "保険者番号は6桁または8桁です。" }),
    }
}

async fn recheck(State(ui): State<Arc<Ui>>, Json(body): Json<CheckBody>) -> Response {
    let mode = match job_mode(&body) {
        Ok(m) => m,
        // Without the card, the patient was identified when the visit was recorded.
        Err(_) if body.held => Mode::Visual,
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
    let job = if body.held {
        Job::RecheckHeld { entry }
    } else {
        Job::Recheck { entry, mode }
    };
    started(ui.session.start(job, ui.reader()))
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
            let held: Vec<bool> = entries
                .iter()
                .map(|e| onshi_app::held::is_held(&ui.data, e.time))
                .collect();
            Html(view::history(&entries, &held, chrono::Utc::now()).into_string()).into_response()
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
    let mut config = match AppConfig::load_file(&ui.data) {
        Ok(c) => c,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.message_ja()),
    };
    // Only under a root the settings file allows, checked before anything is created there,
    // and again once the folder exists (a link made meanwhile does not lead out).
    let roots = config.rececon.output_roots(&ui.data);
    let allowed = tokio::task::spawn_blocking({
        let (output, roots) = (output.clone(), roots.clone());
        move || -> Result<(), OutputRefused> {
            onshi_app::data::allowed_output(&output, &roots).map_err(OutputRefused::NotAllowed)?;
            std::fs::create_dir_all(&output).map_err(|_| OutputRefused::NotWritable)?;
            onshi_app::data::allowed_output(&output, &roots).map_err(OutputRefused::NotAllowed)?;
            tempfile_probe(&output).map_err(|_| OutputRefused::NotWritable)
        }
    })
    .await;
    match allowed {
        Ok(Ok(())) => {}
        Ok(Err(OutputRefused::NotAllowed(e))) => return bad(e.message_ja()),
        _ => {
            return bad(format!(
                "出力先フォルダー {} に書き込めません。フォルダーの場所と権限を確認してください。",
                output.display()
            ))
        }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    const LOCAL: &str = "127.0.0.1:8470";

    fn enrolled(dir: &std::path::Path) {
        AppConfig {
            server: "https://127.0.0.1:1".into(),
            account: "W0000001".into(),
            name: Some("受付PC".into()),
            rececon: onshi_app::data::RececonConfig {
                output: dir.join("rececon"),
                encoding: Encoding::Utf8,
                allowed_output_roots: vec![dir.to_path_buf()],
                institution_code: None,
            },
            reader: None,
        }
        .save(dir)
        .unwrap();
    }

    fn desk(dir: &std::path::Path) -> Desk {
        enrolled(dir);
        let options = UiOptions {
            data: dir.to_path_buf(),
            reader: None,
        };
        Desk::new(options, LOCAL.parse().unwrap()).unwrap()
    }

    async fn send(
        router: &Router,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, LOCAL)
            .header(DESK_HEADER, "1");
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        let request = match body {
            Some(b) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// Finding 7: nothing on the page or the API without the cookie that only the one-time
    /// address gives, once.
    #[tokio::test]
    async fn the_desk_opens_only_through_its_one_time_address() {
        let dir = tempfile::tempdir().unwrap();
        let desk = desk(dir.path());
        let router = desk.router();
        let url = desk.login_url().to_owned();
        let prefix = format!("http://{LOCAL}/login?k=");
        assert!(url.starts_with(&prefix), "{url}");
        let key = url.strip_prefix(&prefix).unwrap().to_owned();
        assert_eq!(key.len(), 64);
        let login = format!("/login?k={key}");

        // Without the cookie: the page says how to open the desk again, the API refuses.
        let (status, headers, body) = send(&router, "GET", "/", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            body.contains("onshi app ui") && body.contains("一度"),
            "{body}"
        );
        assert!(!body.contains(&key));
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        for path in ["/api/history", "/api/settings", "/api/status"] {
            let (status, _, body) = send(&router, "GET", path, None, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(body.contains("onshi app ui"), "{body}");
        }
        // A wrong key spends nothing.
        let (status, headers, body) = send(&router, "GET", "/login?k=00", None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!headers.contains_key(header::SET_COOKIE));
        assert!(body.contains("一度しか使えません"), "{body}");
        let (status, _, _) = send(&router, "GET", "/login", None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The key, once: an HttpOnly, SameSite=Strict cookie and back to the page.
        let (status, headers, _) = send(&router, "GET", &login, None, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/");
        let set = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with(&format!("{COOKIE}=")));
        assert!(!cookie.contains(&key));
        // Spent: a second use (another process that read the address) gets nothing.
        let (status, headers, _) = send(&router, "GET", &login, None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!headers.contains_key(header::SET_COOKIE));

        let (status, _, page) = send(&router, "GET", "/", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("W0000001") && page.contains("/app.js"));
        // The terminal's name from the portal, in the header.
        assert!(page.contains("端末 受付PC（W0000001）"), "{page}");
        let value = cookie.split_once('=').unwrap().1;
        assert!(!page.contains(value) && !page.contains(&key));
        let (status, _, _) = send(&router, "GET", "/api/history", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK);
        // Another cookie value, or the cookie without the page's header, is refused.
        let forged = format!("{COOKIE}={}", "0".repeat(64));
        let (status, _, _) = send(&router, "GET", "/api/history", Some(&forged), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let request = axum::http::Request::builder()
            .uri("/api/history")
            .header(header::HOST, LOCAL)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // Another Host (DNS rebinding) is refused even with the cookie.
        let request = axum::http::Request::builder()
            .uri("/")
            .header(header::HOST, "attacker.example:8470")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    }

    /// Finding 7: the output folder set from the page only under a root `app.toml` allows.
    #[tokio::test]
    async fn the_output_folder_only_where_the_settings_file_allows() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("app");
        std::fs::create_dir_all(&data).unwrap();
        let desk = desk(&data);
        let router = desk.router();
        let login = desk
            .login_url()
            .strip_prefix(&format!("http://{LOCAL}"))
            .unwrap()
            .to_owned();
        let (_, headers, _) = send(&router, "GET", &login, None, None).await;
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();

        let outside = root.path().join("outside/rececon");
        for folder in [outside.clone(), data.join("../outside/rececon")] {
            let body = json!({"reader": "pcsc", "output": folder, "encoding": "utf-8"});
            let (status, _, said) =
                send(&router, "POST", "/api/settings", Some(&cookie), Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{said}");
            assert!(
                said.contains("許可された場所") && said.contains("allowed_output_roots"),
                "{said}"
            );
        }
        assert!(!root.path().join("outside").exists(), "created outside");
        let config = AppConfig::load_file(&data).unwrap();
        assert_eq!(config.rececon.output, data.join("rececon"));

        let inside = data.join("out2");
        let body = json!({"reader": "pcsc", "output": inside, "encoding": "shift_jis"});
        let (status, _, said) =
            send(&router, "POST", "/api/settings", Some(&cookie), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{said}");
        let config = AppConfig::load_file(&data).unwrap();
        assert!(config.rececon.output.ends_with("out2"));
        assert_eq!(config.rececon.encoding, Encoding::ShiftJis);
        // The page cannot widen the roots: they stay what the file says.
        assert_eq!(
            config.rececon.allowed_output_roots,
            std::slice::from_ref(&data)
        );
    }

    async fn logged_in(desk: &Desk) -> String {
        let login = desk
            .login_url()
            .strip_prefix(&format!("http://{LOCAL}"))
            .unwrap()
            .to_owned();
        let (_, headers, _) = send(&desk.router(), "GET", &login, None, None).await;
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        set.split(';').next().unwrap().to_owned()
    }

    /// 番号で確認: the insurer number's 検証番号 checked as typed, the birth date read back in
    /// 和暦 and 西暦, and nothing asked of the service with a field wrong.
    #[tokio::test]
    async fn numbers_are_checked_as_they_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let desk = desk(dir.path());
        let router = desk.router();
        let cookie = logged_in(&desk).await;
        let typed = |insurer: &str, birth: &str| json!({ "insurer": insurer, "birth": birth });
        let said = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();

        let (status, _, body) = send(
            &router,
            "POST",
            "/api/typed",
            Some(&cookie),
            Some(typed("06139992", "昭和57年3月3日")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v = said(&body);
        assert_eq!(v["insurer"]["ok"], true, "{v}");
        assert!(
            v["insurer"]["text"]
                .as_str()
                .unwrap()
                .contains("健康保険組合"),
            "{v}"
        );
        assert_eq!(v["birth"]["ok"], true);
        assert_eq!(v["birth"]["text"], "昭和57年3月3日（1982-03-03）");

        let (_, _, body) = send(
            &router,
            "POST",
            "/api/typed",
            Some(&cookie),
            Some(typed("06139993", "19820303")),
        )
        .await;
        let v = said(&body);
        assert_eq!(v["insurer"]["ok"], false);
        assert!(
            v["insurer"]["text"].as_str().unwrap().contains("検証番号"),
            "{v}"
        );
        assert_eq!(v["birth"]["text"], "昭和57年3月3日（1982-03-03）");
        let (_, _, body) = send(
            &router,
            "POST",
            "/api/typed",
            Some(&cookie),
            Some(typed("0613999", "S57.3")),
        )
        .await;
        let v = said(&body);
        assert!(
            v["insurer"]["text"].as_str().unwrap().contains("あと1桁"),
            "{v}"
        );
        assert_eq!(v["birth"]["ok"], false);
        assert!(v["birth"]["text"].as_str().unwrap().contains("和暦"), "{v}");

        // A wrong field is refused with its name; the desk stays idle.
        for (field, body) in [
            (
                "保険者番号",
                json!({"insurer": "06139993", "number": "88", "birth": "19820303"}),
            ),
            (
                "番号",
                json!({"insurer": "06139992", "number": " ", "birth": "19820303"}),
            ),
            (
                "枝番",
                json!({"insurer": "06139992", "number": "88", "branch": "1", "birth": "19820303"}),
            ),
            (
                "生年月日",
                json!({"insurer": "06139992", "number": "88", "birth": "19821303"}),
            ),
        ] {
            let (status, _, said) =
                send(&router, "POST", "/api/query", Some(&cookie), Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{said}");
            assert!(said.contains(field), "{field}: {said}");
        }
        let (_, _, status) = send(&router, "GET", "/api/status", Some(&cookie), None).await;
        assert!(status.contains("\"phase\":\"idle\""), "{status}");
        // The page has the tab.
        let (_, _, page) = send(&router, "GET", "/", Some(&cookie), None).await;
        assert!(page.contains("番号で確認（資格確認書など）") && page.contains("numbers-form"));
    }

    /// 利用登録 only after the consent the staff read out.
    #[tokio::test]
    async fn registration_needs_the_consent() {
        let dir = tempfile::tempdir().unwrap();
        let desk = desk(dir.path());
        let router = desk.router();
        let cookie = logged_in(&desk).await;
        let (status, _, said) = send(
            &router,
            "POST",
            "/api/register",
            Some(&cookie),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(said.contains("同意"), "{said}");
        let (_, _, page) = send(&router, "GET", "/", Some(&cookie), None).await;
        assert!(
            page.contains("register-template") && page.contains("利用登録"),
            "{page}"
        );
    }
}
