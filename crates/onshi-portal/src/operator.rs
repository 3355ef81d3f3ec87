//! The operator's (実施機関) pages: login, the dashboard with counts, the clinics with their
//! 利用開始申請 (approve, or reject with a reason), every terminal, and the portal's audit.
//! Operator accounts come only from the command line ([`add_operator`]); every operator action
//! is written to `portal_audit`. Claims are reviewed in [`crate::claims`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State as StateOf};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use maud::{html, Markup};
use onshi_store::portal::{read, transaction, PortalDb, Value};
use onshi_store::{Clinic, StoreError, Terminal, TerminalStatus};
use serde::Deserialize;

use crate::auth::{self, OperatorUser};
use crate::clinic::LoginOutcome;
use crate::db::{self, Account, AccountStatus, Operator, Role, ACCOUNT_COLUMNS, ACCOUNT_FROM};
use crate::view::{self, csrf, field, respond, Nav, PageError};
use crate::{blocking, jst, Portal, State};

/// Rows on one page of every list.
pub const PER_PAGE: i64 = 20;
/// The longest search text kept (characters; the rest is ignored).
const MAX_QUERY_CHARS: usize = 100;
/// The longest login name (as [`add_operator`] allows).
const MAX_LOGIN_CHARS: usize = 64;
/// The longest reason for a rejection.
const MAX_REASON_CHARS: usize = 1000;
/// The character that escapes `%`, `_` and itself in the lists' `LIKE` patterns.
const LIKE_ESCAPE: char = '!';

/// An operator just added: the id and the TOTP secret to give their authenticator app.
#[derive(Clone, Debug)]
pub struct NewOperator {
    /// The operator's id.
    pub id: i64,
    /// The TOTP secret (RFC 6238, SHA-1, 30 s, 6 digits).
    pub totp_secret: Vec<u8>,
    /// The same as an `otpauth://` URI (for a QR code or to paste into the app).
    pub otpauth_uri: String,
}

/// Adds an operator account (from `onshi admin operator add`): checks the login and password,
/// hashes it with argon2id, makes the TOTP secret of their second factor, records it in the
/// audit.
pub fn add_operator(
    store: &dyn onshi_store::ServiceStore,
    login: &str,
    name: &str,
    password: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewOperator, String> {
    let login = login.trim();
    if login.is_empty()
        || login.len() > 64
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err("ログイン名は英数字と . _ - @ で64文字以内にしてください / login: letters, digits, . _ - @".to_owned());
    }
    if name.trim().is_empty() {
        return Err("名前が空です / the name is empty".to_owned());
    }
    if let Some(problem) = crate::auth::password_problem(password, password) {
        return Err(problem);
    }
    let hash = crate::auth::hash_password(password).map_err(|e| e.message)?;
    let secret = crate::totp::new_secret().map_err(|e| e.to_string())?;
    let id = crate::db::add_operator(store.portal(), login, name.trim(), &hash, &secret, now)
        .map_err(|e| onshi_server::loggable(&e))?
        .ok_or_else(|| format!("ログイン名「{login}」はすでに使われています / login taken"))?;
    Ok(NewOperator {
        id,
        otpauth_uri: crate::totp::uri(&secret, login),
        totp_secret: secret,
    })
}

/// Gives operator `login` a new TOTP secret (a lost phone, or an operator made before TOTP):
/// the old codes stop working and the operator is logged out everywhere. Returns the
/// `otpauth://` URI.
pub fn renew_totp(
    store: &dyn onshi_store::ServiceStore,
    login: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    let secret = crate::totp::new_secret().map_err(|e| e.to_string())?;
    crate::db::set_totp_secret(store.portal(), login.trim(), &secret, now)
        .map_err(|e| onshi_server::loggable(&e))?
        .ok_or_else(|| format!("運用担当者「{login}」はいません / no such operator"))?;
    Ok(crate::totp::uri(&secret, login.trim()))
}

/// The operator's routes (claims are in [`crate::claims`]).
pub fn routes() -> Router<State> {
    Router::new()
        .route(
            "/portal/operator",
            get(|| async { Redirect::to("/portal/operator/") }),
        )
        .route("/portal/operator/", get(dashboard))
        .route("/portal/operator/login", get(login_form).post(login))
        .route("/portal/operator/logout", post(logout))
        .route("/portal/operator/clinics", get(clinics))
        .route("/portal/operator/clinics/{id}", get(clinic))
        .route("/portal/operator/clinics/{id}/approve", post(approve))
        .route("/portal/operator/clinics/{id}/reject", post(reject))
        .route("/portal/operator/terminals", get(terminals))
        .route(
            "/portal/operator/terminals/{id}/revoke",
            post(revoke_terminal),
        )
        .route("/portal/operator/audit", get(audit))
}

// ---------------------------------------------------------------------------------------------
// Lists: search text, LIKE patterns, paging.

/// A search text as kept: trimmed, without control characters (PostgreSQL's text refuses
/// NUL), at most [`MAX_QUERY_CHARS`] characters.
pub fn search_text(q: &str) -> String {
    q.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_QUERY_CHARS)
        .collect()
}

/// A `LIKE` pattern that finds `text` anywhere, with `%`, `_` and the escape character
/// escaped (the SQL says `ESCAPE '!'`), so a search for `50%` finds only "50%".
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if c == '%' || c == '_' || c == LIKE_ESCAPE {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A search text as a 登録記号番号 is stored: without hyphens and spaces (as
/// `normalise_registration` stores it); the text itself when nothing is left.
pub fn registration_text(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | '‐' | '－' | ' ' | '　'))
        .collect();
    if kept.is_empty() {
        text.to_owned()
    } else {
        kept
    }
}

/// A page number from a query string: 1 when missing or not a number.
pub fn page_number(s: &str) -> i64 {
    s.trim().parse::<i64>().unwrap_or(1)
}

/// Where a list stands: the page shown (from 1), how many pages and rows there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// The page shown, from 1 (clamped to the pages there are).
    pub page: i64,
    /// How many pages (at least 1, even for no rows).
    pub pages: i64,
    /// How many rows match.
    pub total: i64,
}

impl Paging {
    /// The page `requested` of `total` rows, [`PER_PAGE`] a page.
    pub fn new(total: i64, requested: i64) -> Self {
        let total = total.max(0);
        let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
        Self {
            page: requested.clamp(1, pages),
            pages,
            total,
        }
    }

    /// The SQL `OFFSET` of the page.
    pub fn offset(self) -> i64 {
        (self.page - 1) * PER_PAGE
    }
}

/// ` WHERE a AND b`, or nothing.
fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// A list's address with its query (empty values left out).
fn list_link(path: &str, pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    match serde_urlencoded::to_string(&kept) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

/// The count and the 前へ / 次へ links of a list.
fn pager(p: Paging, link: impl Fn(i64) -> String) -> Markup {
    html! {
        nav.pager aria-label="ページ送り" {
            span { "全" strong #total-count { (p.total) } "件" }
            span #page-of { (p.page) " / " (p.pages) " ページ" }
            @if p.page > 1 { a #prev-page href=(link(p.page - 1)) rel="prev" { "前へ" } }
            @if p.page < p.pages { a #next-page href=(link(p.page + 1)) rel="next" { "次へ" } }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// The dashboard's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Clinics with a portal account.
    pub clinics: i64,
    /// 利用開始申請 waiting for a decision.
    pub applied: i64,
    /// Clinics approved.
    pub approved: i64,
    /// Terminals enrolled and not revoked.
    pub terminals_active: i64,
    /// Checks since 00:00 JST.
    pub checks_today: i64,
}

/// The counts the portal's tables hold (all but the checks).
pub fn counts(db: &dyn PortalDb) -> Result<Counts, StoreError> {
    read(db, |tx| {
        let Some(r) = tx.query_opt(
            "SELECT (SELECT count(*) FROM portal_accounts),
                    (SELECT count(*) FROM portal_accounts WHERE status = 'applied'),
                    (SELECT count(*) FROM portal_accounts WHERE status = 'approved'),
                    (SELECT count(*) FROM terminals WHERE status = 'active')",
            &[],
        )?
        else {
            return Ok(Counts::default());
        };
        Ok(Counts {
            clinics: r.int(0)?,
            applied: r.int(1)?,
            approved: r.int(2)?,
            terminals_active: r.int(3)?,
            checks_today: 0,
        })
    })
}

/// 00:00 JST of the day `now` falls on.
pub fn start_of_day_jst(now: DateTime<Utc>) -> DateTime<Utc> {
    let day = now.with_timezone(&jst()).date_naive();
    jst()
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// One page of the clinics' accounts that match `q` (name, 登録記号番号 or e-mail, any case)
/// and `status`, newest first.
pub fn search_accounts(
    db: &dyn PortalDb,
    q: &str,
    status: Option<AccountStatus>,
    page: i64,
) -> Result<(Vec<Account>, Paging), StoreError> {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if !q.is_empty() {
        params.push(like_pattern(q).into());
        params.push(like_pattern(&registration_text(q)).into());
        conditions.push(
            "(lower(c.name) LIKE lower($1) ESCAPE '!' OR lower(a.email) LIKE lower($1) ESCAPE '!' OR lower(c.registration) LIKE lower($2) ESCAPE '!' OR EXISTS (SELECT 1 FROM portal_registration_numbers n WHERE n.clinic_id = c.id AND n.number LIKE $2 ESCAPE '!'))"
                .to_owned(),
        );
    }
    if let Some(s) = status {
        params.push(s.as_str().into());
        conditions.push(format!("a.status = ${}", params.len()));
    }
    let filter = where_clause(&conditions);
    read(db, |tx| {
        let total = tx
            .query_opt(
                &format!("SELECT count(*) FROM {ACCOUNT_FROM}{filter}"),
                &params,
            )?
            .map_or(Ok(0), |r| r.int(0))?;
        let paging = Paging::new(total, page);
        let mut p = params.clone();
        p.push(PER_PAGE.into());
        p.push(paging.offset().into());
        let rows = tx.query(
            &format!(
                "SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNT_FROM}{filter} ORDER BY a.clinic_id DESC LIMIT ${} OFFSET ${}",
                p.len() - 1,
                p.len()
            ),
            &p,
        )?;
        let accounts = rows
            .iter()
            .map(db::decode_account)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((accounts, paging))
    })
}

/// A terminal in the operator's list: its id, clinic id and clinic name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalRow {
    /// `W0000001`.
    pub id: String,
    /// Its clinic.
    pub clinic_id: i64,
    /// Its clinic's name.
    pub clinic_name: String,
}

/// One page of the terminals whose id or clinic name matches `q` (any case), by id.
pub fn search_terminals(
    db: &dyn PortalDb,
    q: &str,
    page: i64,
) -> Result<(Vec<TerminalRow>, Paging), StoreError> {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if !q.is_empty() {
        params.push(like_pattern(q).into());
        conditions.push(
            "(lower(t.id) LIKE lower($1) ESCAPE '!' OR lower(c.name) LIKE lower($1) ESCAPE '!')"
                .to_owned(),
        );
    }
    let filter = where_clause(&conditions);
    let from = "terminals t JOIN clinics c ON c.id = t.clinic_id";
    read(db, |tx| {
        let total = tx
            .query_opt(&format!("SELECT count(*) FROM {from}{filter}"), &params)?
            .map_or(Ok(0), |r| r.int(0))?;
        let paging = Paging::new(total, page);
        let mut p = params.clone();
        p.push(PER_PAGE.into());
        p.push(paging.offset().into());
        let rows = tx.query(
            &format!(
                "SELECT t.id, c.id, c.name FROM {from}{filter} ORDER BY t.id LIMIT ${} OFFSET ${}",
                p.len() - 1,
                p.len()
            ),
            &p,
        )?;
        let terminals = rows
            .iter()
            .map(|r| {
                Ok(TerminalRow {
                    id: r.text(0)?,
                    clinic_id: r.int(1)?,
                    clinic_name: r.text(2)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((terminals, paging))
    })
}

/// How many lines the portal's audit holds.
pub fn audit_count(db: &dyn PortalDb) -> Result<i64, StoreError> {
    read(db, |tx| {
        tx.query_opt("SELECT count(*) FROM portal_audit", &[])?
            .map_or(Ok(0), |r| r.int(0))
    })
}

/// Every operator's name by id (for the audit's actors).
pub fn operator_names(db: &dyn PortalDb) -> Result<HashMap<i64, String>, StoreError> {
    read(db, |tx| {
        tx.query("SELECT id, name FROM portal_operators", &[])?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?)))
            .collect()
    })
}

/// A successful login, in the audit (with the address it came from).
fn audit_login(
    db: &dyn PortalDb,
    operator_id: i64,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "operator.login",
            &format!("operator:{operator_id}"),
            &format!("address:{address}"),
        )
    })
}

/// Ends an operator's session and audits the logout, together.
fn record_logout(
    db: &dyn PortalDb,
    id_hash: &[u8],
    operator_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "DELETE FROM portal_sessions WHERE id_hash = $1",
            &[id_hash.into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "operator.logout",
            &format!("operator:{operator_id}"),
            "",
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Login and logout.

/// A page with the pre-login CSRF cookie set when new.
fn with_cookie(markup: Markup, set: Option<String>) -> Response {
    let mut response = respond(markup);
    if let Some(c) = set {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn login_page(token: &str, login: &str, message: Option<&str>) -> Markup {
    view::page(
        "実施機関ログイン",
        Nav::Guest,
        html! {
            p { "実施機関（運用担当者）の方のログイン画面です。施術所の方は " a href="/portal/login" { "施術所のログイン" } " へ。" }
            @if let Some(m) = message { div.notice.error role="alert" #login-error { p { (m) } } }
            form #operator-login-form method="post" action="/portal/operator/login" {
                (csrf(token))
                (field("ログイン名", "login", "text", login, None))
                (field("パスワード", "password", "password", "", None))
                (field("確認コード（認証アプリの6桁）", "code", "text", "", None))
                button.primary type="submit" { "ログイン" }
            }
        },
    )
}

async fn login_form(headers: HeaderMap) -> Result<Response, PageError> {
    let (token, set) = auth::form_token(&headers)?;
    Ok(with_cookie(login_page(&token, "", None), set))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: zeroize::Zeroizing<String>,
    #[serde(default)]
    code: String,
}

const WRONG: &str = "ログイン名またはパスワードが違います。";
const WRONG_CODE: &str =
    "確認コードが違うか、すでに使われています。認証アプリの新しいコードを入力してください。";
const NO_TOTP: &str = "このアカウントには確認コード（二要素認証）が設定されていません。管理者に onshi admin operator totp での設定を依頼してください。";

async fn login(
    StateOf(portal): StateOf<State>,
    Extension(addr): Extension<onshi_server::serve::PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    auth::check_form_token(&headers, &f.csrf)?;
    // Nobody's login is longer; the cap keeps the throttling keys small.
    let login: String = f.login.trim().chars().take(MAX_LOGIN_CHARS).collect();
    let address = addr.0.ip().to_string();
    let password = f.password.clone();
    let outcome = login_operator(&portal, login.clone(), address, password, f.code.clone()).await?;
    match outcome {
        LoginOutcome::Ok(id) => Ok((
            [(header::SET_COOKIE, auth::session_cookie(&id))],
            Redirect::to("/portal/operator/"),
        )
            .into_response()),
        refused => {
            let (status, m) = refused
                .refusal()
                .unwrap_or((StatusCode::UNAUTHORIZED, WRONG.to_owned()));
            Ok((status, respond(login_page(&f.csrf, &login, Some(&m)))).into_response())
        }
    }
}

/// An operator's login: throttled password check (the operators' own buckets), then the TOTP
/// code (RFC 6238, one step either side, each step once), then a session and the audit.
async fn login_operator(
    portal: &State,
    login: String,
    address: String,
    password: zeroize::Zeroizing<String>,
    code: String,
) -> Result<LoginOutcome, PageError> {
    // A control character (NUL …) is in nobody's login: refused before the store.
    if login.chars().any(char::is_control) {
        return Ok(LoginOutcome::Refused(WRONG));
    }
    let now = Utc::now();
    let limits = auth::Bucket::Operator.limits(&portal.settings, &login, &address);
    let (login_key, address_key) = (limits[0].key.clone(), limits[1].key.clone());
    let find_login = login.clone();
    let checked = auth::check_login(portal, limits, password, now, move |p| {
        Ok(
            db::operator_by_login(p.store.portal(), &find_login)?.map(|o| {
                let hash = o.password_hash.clone();
                (o, hash)
            }),
        )
    })
    .await?;
    let operator = match checked {
        auth::Checked::Throttled(seconds) => return Ok(LoginOutcome::Throttled(seconds)),
        auth::Checked::Wrong => return Ok(LoginOutcome::Refused(WRONG)),
        auth::Checked::Ok(operator) => operator,
    };
    blocking(portal, move |p| {
        let db = p.store.portal();
        // A wrong or replayed code leaves the attempt counted as a failure.
        let Some(secret) = &operator.totp_secret else {
            return Ok(LoginOutcome::Refused(NO_TOTP));
        };
        let Some(step) = crate::totp::matching_step(secret, &code, now) else {
            return Ok(LoginOutcome::Refused(WRONG_CODE));
        };
        if !db::use_totp_step(db, operator.id, step)? {
            return Ok(LoginOutcome::Refused(WRONG_CODE));
        }
        db::attempt_succeeded(db, &login_key, &address_key, now)?;
        let id = auth::start_session(p, Role::Operator, operator.id, operator.session_epoch, now)?;
        audit_login(db, operator.id, &address, now)?;
        Ok(LoginOutcome::Ok(id))
    })
    .await
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let hash = user.session.id_hash.clone();
    let operator_id = user.operator_id;
    blocking(&portal, move |p| {
        Ok(record_logout(
            p.store.portal(),
            &hash,
            operator_id,
            Utc::now(),
        )?)
    })
    .await?;
    Ok((
        [(header::SET_COOKIE, auth::clear_session_cookie())],
        Redirect::to("/portal/operator/login"),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Pages.

/// Loads the logged-in operator (for the header) and runs `work`, off the async threads.
async fn with_operator<T: Send + 'static>(
    portal: &State,
    user: &OperatorUser,
    work: impl FnOnce(&Portal) -> Result<T, PageError> + Send + 'static,
) -> Result<(Operator, T), PageError> {
    let operator_id = user.operator_id;
    blocking(portal, move |p| {
        let operator = db::operator(p.store.portal(), operator_id)?.ok_or_else(|| {
            PageError::forbidden(
                "運用担当者のアカウントが見つかりません。ログインし直してください。",
            )
        })?;
        Ok((operator, work(p)?))
    })
    .await
}

fn operator_page(title: &str, operator: &Operator, user: &OperatorUser, body: Markup) -> Markup {
    view::page(
        title,
        Nav::Operator(&operator.name, &user.session.csrf),
        body,
    )
}

async fn dashboard(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
) -> Result<Response, PageError> {
    let (operator, counts) = with_operator(&portal, &user, |p| {
        let mut c = counts(p.store.portal())?;
        let checks = p.store.checks_since(start_of_day_jst(Utc::now()))?;
        c.checks_today = i64::try_from(checks).unwrap_or(i64::MAX);
        Ok(c)
    })
    .await?;
    Ok(respond(operator_page(
        "ダッシュボード",
        &operator,
        &user,
        html! {
            section.counts #counts {
                div { "登録施術所" strong #count-clinics { (counts.clinics) } a href="/portal/operator/clinics" { "一覧" } }
                div { "審査待ちの利用開始申請" strong #count-applied { (counts.applied) } a href="/portal/operator/clinics?status=applied" { "審査する" } }
                div { "承認済みの施術所" strong #count-approved { (counts.approved) } a href="/portal/operator/clinics?status=approved" { "一覧" } }
                div { "利用中の端末" strong #count-terminals-active { (counts.terminals_active) } a href="/portal/operator/terminals" { "一覧" } }
                div { "本日の資格確認" strong #count-checks-today { (counts.checks_today) } span { "（日本時間 0時から）" } }
            }
            section.card {
                h2 { "業務" }
                ul {
                    li { a href="/portal/operator/clinics?status=applied" { "利用開始申請の審査" } }
                    li { a href="/portal/operator/clinics" { "施術所の検索" } }
                    li { a href="/portal/operator/terminals" { "端末の一覧" } }
                    li { a href="/portal/operator/claims" { "補助金申請の審査" } }
                    li { a href="/portal/operator/audit" { "操作記録" } }
                }
            }
        },
    )))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

const STATUSES: [AccountStatus; 4] = [
    AccountStatus::Registered,
    AccountStatus::Applied,
    AccountStatus::Approved,
    AccountStatus::Rejected,
];

/// A list's status filter: none for empty, else one of [`STATUSES`].
fn status_filter(s: &str) -> Result<Option<AccountStatus>, PageError> {
    match s.trim() {
        "" => Ok(None),
        s => AccountStatus::parse(s).map(Some).map_err(|_| {
            PageError::bad_request(
                "状況の指定が正しくありません（未申請・申請中・承認済み・差戻しから選んでください）。",
            )
        }),
    }
}

fn optional_time(t: Option<DateTime<Utc>>) -> String {
    t.map(view::when).unwrap_or_else(|| "—".to_owned())
}

async fn clinics(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let q = search_text(&query.q);
    let status = status_filter(&query.status)?;
    let page = page_number(&query.page);
    let q_for_work = q.clone();
    let (operator, (accounts, paging)) = with_operator(&portal, &user, move |p| {
        Ok(search_accounts(
            p.store.portal(),
            &q_for_work,
            status,
            page,
        )?)
    })
    .await?;
    let status_value = status.map_or("", AccountStatus::as_str);
    let link = |n: i64| {
        list_link(
            "/portal/operator/clinics",
            &[
                ("q", &q),
                ("status", status_value),
                ("page", &n.to_string()),
            ],
        )
    };
    Ok(respond(operator_page(
        "施術所",
        &operator,
        &user,
        html! {
            form.card #search-form method="get" action="/portal/operator/clinics" {
                div.field {
                    label for="q" { "施術所名・登録記号番号・メールアドレス" }
                    input #q name="q" type="text" value=(q);
                }
                div.field {
                    label for="status" { "状況" }
                    select #status name="status" {
                        option value="" selected[status.is_none()] { "すべて" }
                        @for s in STATUSES {
                            option value=(s.as_str()) selected[status == Some(s)] { (s.label()) }
                        }
                    }
                }
                button.primary type="submit" { "検索" }
            }
            (pager(paging, link))
            table #clinics-table {
                thead { tr {
                    th { "施術所名" } th { "登録記号番号" } th { "メールアドレス" } th { "状況" } th { "申請日時" } th { "登録日時" }
                } }
                tbody {
                    @for a in &accounts {
                        tr data-clinic-id=(a.clinic_id) {
                            td { a href={ "/portal/operator/clinics/" (a.clinic_id) } { (a.name) } }
                            td { (a.registration) }
                            td { (a.email) }
                            td.status { (a.status.label()) }
                            td { (optional_time(a.applied_at)) }
                            td { (view::when(a.created_at)) }
                        }
                    }
                }
            }
            @if accounts.is_empty() { p #no-results { "該当する施術所はありません。" } }
        },
    )))
}

/// What the clinic page shows.
struct ClinicDetail {
    clinic: Clinic,
    account: Option<Account>,
    numbers: Vec<db::HeldNumber>,
    terminals: Vec<Terminal>,
    names: HashMap<String, crate::terminal_names::Named>,
}

fn load_clinic(p: &Portal, clinic_id: i64) -> Result<ClinicDetail, PageError> {
    let clinic = p
        .store
        .clinic(clinic_id)?
        .ok_or_else(PageError::not_found)?;
    let account = db::account(p.store.portal(), clinic_id)?;
    let numbers = db::numbers(p.store.portal(), clinic_id)?;
    let terminals = p.store.terminals_of_clinic(clinic_id)?;
    let ids: Vec<String> = terminals.iter().map(|t| t.id.clone()).collect();
    let names = crate::terminal_names::names(p.store.portal(), &ids)?;
    Ok(ClinicDetail {
        clinic,
        account,
        numbers,
        terminals,
        names,
    })
}

/// A clinic id from the path; anything else is a page that does not exist.
fn clinic_id(s: &str) -> Result<i64, PageError> {
    s.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(PageError::not_found)
}

/// In Japanese.
pub fn terminal_status_label(s: TerminalStatus) -> &'static str {
    match s {
        TerminalStatus::Pending => "登録待ち",
        TerminalStatus::Active => "利用中",
        TerminalStatus::Revoked => "利用停止",
    }
}

/// What the clinic page says above its sections.
enum Said<'a> {
    Nothing,
    Done(&'a str),
    Problem(String),
}

fn clinic_page(
    operator: &Operator,
    user: &OperatorUser,
    d: &ClinicDetail,
    said: &Said<'_>,
    reason: &str,
    reason_error: Option<&str>,
) -> Markup {
    let token = &user.session.csrf;
    let id = d.clinic.id;
    operator_page(
        &d.clinic.name,
        operator,
        user,
        html! {
            p { a href="/portal/operator/clinics" { "← 施術所の一覧" } }
            @match said {
                Said::Nothing => {}
                Said::Done(m) => div.notice.info role="status" #decision-done { p { (m) } },
                Said::Problem(m) => div.notice.error role="alert" #decision-error { p { (m) } },
            }
            section.card #registration {
                h2 { "登録内容" }
                @if let Some(a) = &d.account {
                    dl {
                        dt { "施術所名" } dd #clinic-name { (a.name) }
                        dt { "施術所の種類" } dd #clinic-kinds { (crate::clinic::kinds_label(&a.kinds)) }
                        dt { "院長（管理者）" } dd #clinic-director { (a.director) }
                        dt { "登録記号番号" } dd #clinic-registration {
                            @for n in &d.numbers {
                                (n.practice.label()) ": " (n.number) @if !n.active { "（変更の承認待ち）" } br;
                            }
                            (crate::details::pending_forms(id, &d.numbers, token))
                        }
                        dt { "所在地" } dd #clinic-address { (a.address) }
                        dt { "電話番号" } dd #clinic-phone { (a.phone) }
                        dt { "メールアドレス" } dd #clinic-email { (a.email) }
                        dt { "メールの確認" } dd #clinic-email-confirmed {
                            @match a.email_confirmed_at {
                                Some(t) => { "確認済み（" (view::when(t)) "）" },
                                None => "未確認",
                            }
                        }
                        dt { "ポータル登録日時" } dd { (view::when(a.created_at)) }
                    }
                } @else {
                    dl {
                        dt { "施術所名" } dd #clinic-name { (d.clinic.name) }
                        dt { "登録記号番号" } dd #clinic-registration { (d.clinic.registration) }
                    }
                    p #no-account { "この施術所はポータルに登録していません（コマンドで追加された施術所です）。利用開始申請はありません。" }
                }
            }
            @if let Some(a) = &d.account {
                section.card #application {
                    h2 { "利用開始申請" }
                    p { "状況: " strong #application-status { (a.status.label()) } }
                    dl {
                        dt { "申請日時" } dd { (optional_time(a.applied_at)) }
                        dt { "決定日時" } dd { (optional_time(a.decided_at)) }
                        @if let Some(r) = &a.decision_reason {
                            dt { "差戻しの理由" } dd #decision-reason { (r) }
                        }
                    }
                    @if a.status == AccountStatus::Applied {
                        form #approve-form method="post" action={ "/portal/operator/clinics/" (id) "/approve" } {
                            (csrf(token))
                            p { "登録内容を確認し、問題がなければ承認してください。承認すると、施術所は受付端末を登録できるようになります。" }
                            button.primary #approve type="submit" { "承認する" }
                        }
                        form #reject-form method="post" action={ "/portal/operator/clinics/" (id) "/reject" } {
                            (csrf(token))
                            div.field.error[reason_error.is_some()] {
                                label for="reason" { "差戻しの理由（必須。施術所に表示されます）" }
                                textarea #reason name="reason" rows="3" aria-invalid=[reason_error.map(|_| "true")] { (reason) }
                                @if let Some(e) = reason_error { p.error-text #reason-error { (e) } }
                            }
                            button.danger #reject type="submit" { "差戻す" }
                        }
                    } @else {
                        p #no-decision { (nothing_to_decide(a.status)) }
                    }
                }
            }
            section.card #terminals {
                h2 { "端末" }
                @if d.terminals.is_empty() {
                    p #no-terminals { "端末はまだありません。" }
                } @else {
                    (terminal_table("clinic-terminals-table", d.terminals.iter().map(|t| (t, None)), &d.names, Some(token)))
                }
            }
        },
    )
}

/// Why there is no decision to make, for a clinic in `status`.
fn nothing_to_decide(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Registered => "審査待ちの申請はありません（施術所はまだ利用開始申請をしていません）。",
        AccountStatus::Applied => "審査待ちの申請があります。",
        AccountStatus::Approved => "審査待ちの申請はありません（承認済みです）。",
        AccountStatus::Rejected => "審査待ちの申請はありません（差戻し済みです。施術所が申請し直すと、ここで審査できます）。",
    }
}

/// A table of terminals, with their clinic (a link) when given.
fn terminal_table<'a>(
    id: &str,
    rows: impl Iterator<Item = (&'a Terminal, Option<(i64, &'a str)>)>,
    names: &HashMap<String, crate::terminal_names::Named>,
    revoke_token: Option<&str>,
) -> Markup {
    let rows: Vec<_> = rows.collect();
    let with_clinic = rows.iter().any(|(_, c)| c.is_some());
    html! {
        table id=(id) {
            thead { tr {
                th { "端末ID" } th { "名前" }
                @if with_clinic { th { "施術所" } }
                th { "状況" } th { "登録日時" } th { "最終利用" } th.num { "確認回数" }
                @if revoke_token.is_some() { th { "利用停止" } }
            } }
            tbody {
                @for (t, clinic) in &rows {
                    @let named = names.get(&t.id);
                    tr data-terminal-id=(t.id) {
                        td { (t.id) }
                        td.name { (named.map_or(crate::terminal_names::DEFAULT_NAME, |n| n.name.as_str())) }
                        @if with_clinic {
                            td { @if let Some((cid, name)) = clinic { a href={ "/portal/operator/clinics/" (cid) } { (name) } } }
                        }
                        td.status { (terminal_status_label(t.status)) @if let Some(r) = t.revoked_at { "（" (view::when(r)) "）" } }
                        td { (optional_time(t.enrolled_at)) }
                        td { (optional_time(t.last_used_at)) }
                        td.num.checks { (t.checks) }
                        @if let Some(token) = revoke_token {
                            td {
                                @if t.status == TerminalStatus::Revoked {
                                    @if let Some(r) = named.and_then(|n| n.revoke_reason.as_deref()) { "理由: " (r) }
                                } @else {
                                    form id=(format!("operator-revoke-{}", t.id)) method="post" action=(format!("/portal/operator/terminals/{}/revoke", t.id)) {
                                        (csrf(token))
                                        input name="reason" type="text" aria-label="停止の理由" placeholder="停止の理由（施術所に通知されます）";
                                        button.danger type="submit" { "停止する" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ClinicQuery {
    #[serde(default)]
    done: String,
}

async fn clinic(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Query(query): Query<ClinicQuery>,
) -> Result<Response, PageError> {
    let clinic_id = clinic_id(&id)?;
    let (operator, detail) =
        with_operator(&portal, &user, move |p| load_clinic(p, clinic_id)).await?;
    let said = match query.done.as_str() {
        "approved" => Said::Done("利用開始申請を承認しました。"),
        "rejected" => Said::Done("利用開始申請を差し戻しました。"),
        "revoked" => Said::Done("端末の利用を停止し、施術所に通知しました。"),
        "number" => Said::Done("登録記号番号の変更を処理し、施術所に通知しました。"),
        _ => Said::Nothing,
    };
    Ok(respond(clinic_page(
        &operator, &user, &detail, &said, "", None,
    )))
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Why a rejection's reason is refused.
pub fn reason_problem(reason: &str) -> Option<String> {
    let n = reason.chars().count();
    if n == 0 {
        Some("差戻しの理由を入力してください。施術所に表示されます。".to_owned())
    } else if n > MAX_REASON_CHARS {
        Some(format!(
            "差戻しの理由は{MAX_REASON_CHARS}文字以内で入力してください（いま{n}文字）。"
        ))
    } else if reason
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some("差戻しの理由に使えない文字が含まれています。".to_owned())
    } else {
        None
    }
}

async fn approve(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, PageError> {
    decide(portal, user, &id, true, f).await
}

async fn reject(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, PageError> {
    decide(portal, user, &id, false, f).await
}

async fn decide(
    portal: State,
    user: OperatorUser,
    id: &str,
    approve: bool,
    f: DecisionForm,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let clinic_id = clinic_id(id)?;
    let reason = if approve {
        String::new()
    } else {
        f.reason.trim().to_owned()
    };
    if let Some(problem) = (!approve).then(|| reason_problem(&reason)).flatten() {
        let (operator, detail) =
            with_operator(&portal, &user, move |p| load_clinic(p, clinic_id)).await?;
        return Ok((
            StatusCode::BAD_REQUEST,
            respond(clinic_page(
                &operator,
                &user,
                &detail,
                &Said::Problem("差戻しの理由を確認してください。".to_owned()),
                &f.reason,
                Some(&problem),
            )),
        )
            .into_response());
    }
    let operator_id = user.operator_id;
    let reason_for_work = reason.clone();
    let (operator, outcome) = with_operator(&portal, &user, move |p| {
        // Unknown clinics are pages that do not exist, before anything is decided.
        p.store
            .clinic(clinic_id)?
            .ok_or_else(PageError::not_found)?;
        if db::decide_application(
            p.store.portal(),
            operator_id,
            clinic_id,
            approve,
            &reason_for_work,
            Utc::now(),
        )? {
            Ok(None)
        } else {
            Ok(Some(load_clinic(p, clinic_id)?))
        }
    })
    .await?;
    let Some(detail) = outcome else {
        let done = if approve { "approved" } else { "rejected" };
        return Ok(
            Redirect::to(&format!("/portal/operator/clinics/{clinic_id}?done={done}"))
                .into_response(),
        );
    };
    let what = if approve { "承認" } else { "差戻し" };
    let now = detail
        .account
        .as_ref()
        .map_or("ポータル未登録", |a| a.status.label());
    Ok((
        StatusCode::CONFLICT,
        respond(clinic_page(
            &operator,
            &user,
            &detail,
            &Said::Problem(format!(
                "審査待ちの利用開始申請がないため、{what}できませんでした（現在の状況: {now}）。ほかの担当者がすでに処理した可能性があります。"
            )),
            "",
            None,
        )),
    )
        .into_response())
}

/// POST `/portal/operator/terminals/{id}/revoke`: the operator stops a terminal, with a reason
/// that is audited and mailed to its clinic.
async fn revoke_terminal(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let reason = f.reason.trim().to_owned();
    let n = reason.chars().count();
    if n == 0 || n > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(PageError::bad_request(&format!(
            "停止の理由を{MAX_REASON_CHARS}文字以内で入力してください。施術所に通知されます。"
        )));
    }
    let operator_id = user.operator_id;
    let clinic_id = blocking(&portal, move |p| {
        let t = p.store.terminal(&id)?.ok_or_else(PageError::not_found)?;
        let now = Utc::now();
        if t.status != TerminalStatus::Revoked && p.store.revoke_terminal(&t.id, now)? {
            crate::terminal_names::revoked_by_operator(
                p.store.portal(),
                operator_id,
                t.clinic_id,
                &t.id,
                &reason,
                now,
            )?;
        }
        Ok(t.clinic_id)
    })
    .await?;
    Ok(Redirect::to(&format!(
        "/portal/operator/clinics/{clinic_id}?done=revoked"
    ))
    .into_response())
}

async fn terminals(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let q = search_text(&query.q);
    let page = page_number(&query.page);
    let q_for_work = q.clone();
    let (operator, (rows, paging, names)) = with_operator(&portal, &user, move |p| {
        let (rows, paging) = search_terminals(p.store.portal(), &q_for_work, page)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            // Last use is kept in the engine's own time type: read it through the store.
            if let Some(t) = p.store.terminal(&row.id)? {
                found.push((t, row));
            }
        }
        let ids: Vec<String> = found.iter().map(|(t, _)| t.id.clone()).collect();
        let names = crate::terminal_names::names(p.store.portal(), &ids)?;
        Ok((found, paging, names))
    })
    .await?;
    let link = |n: i64| {
        list_link(
            "/portal/operator/terminals",
            &[("q", &q), ("page", &n.to_string())],
        )
    };
    Ok(respond(operator_page(
        "端末",
        &operator,
        &user,
        html! {
            form.card #search-form method="get" action="/portal/operator/terminals" {
                div.field {
                    label for="q" { "端末ID・施術所名" }
                    input #q name="q" type="text" value=(q);
                }
                button.primary type="submit" { "検索" }
            }
            (pager(paging, link))
            (terminal_table(
                "terminals-table",
                rows.iter().map(|(t, r)| (t, Some((r.clinic_id, r.clinic_name.as_str())))),
                &names,
                None,
            ))
            @if rows.is_empty() { p #no-results { "該当する端末はありません。" } }
        },
    )))
}

/// An audit action in Japanese (the code itself when unknown).
pub fn action_label(action: &str) -> &str {
    match action {
        "operator.add" => "運用担当者の追加",
        "operator.login" => "ログイン",
        "operator.logout" => "ログアウト",
        "apply" => "利用開始申請",
        "application.approve" => "利用開始申請の承認",
        "application.reject" => "利用開始申請の差戻し",
        "terminal.add" => "端末の作成",
        "terminal.name" => "端末の名前",
        "terminal.revoke" => "端末の利用停止",
        "claim.account" => "振込先口座の登録",
        "claim.submit" => "補助金申請の提出",
        "claim.approve" => "補助金申請の承認",
        "claim.return" => "補助金申請の差戻し",
        "claim.paid" => "補助金の支払",
        "claims.export" => "支払用CSVの出力",
        "claims.zengin" => "総合振込ファイルの出力",
        "payment.payer" => "振込依頼人の登録",
        other => other,
    }
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: String,
}

async fn audit(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let page = page_number(&query.page);
    let (operator, (lines, paging, names)) = with_operator(&portal, &user, move |p| {
        let db = p.store.portal();
        let paging = Paging::new(audit_count(db)?, page);
        let lines = db::audit_lines(db, PER_PAGE, paging.offset())?;
        Ok((lines, paging, operator_names(db)?))
    })
    .await?;
    let link = |n: i64| list_link("/portal/operator/audit", &[("page", &n.to_string())]);
    Ok(respond(operator_page(
        "操作記録",
        &operator,
        &user,
        html! {
            p { "ポータルでの実施機関の操作と、施術所の申請の記録です（新しい順）。" }
            (pager(paging, link))
            table #audit-table {
                thead { tr { th { "日時" } th { "操作した人" } th { "操作" } th { "対象" } th { "内容" } } }
                tbody {
                    @for l in &lines {
                        tr data-action=(l.action) {
                            td { (view::when(l.at)) }
                            td {
                                @if l.actor_role == "operator" {
                                    "実施機関: " (names.get(&l.actor_id).map_or("", String::as_str)) " (#" (l.actor_id) ")"
                                } @else if l.actor_role == "clinic" {
                                    a href={ "/portal/operator/clinics/" (l.actor_id) } { "施術所 #" (l.actor_id) }
                                } @else {
                                    (l.actor_role) " #" (l.actor_id)
                                }
                            }
                            td { (action_label(&l.action)) @if action_label(&l.action) != l.action { " " small { "(" (l.action) ")" } } }
                            td {
                                @match l.target.strip_prefix("clinic:").and_then(|id| id.parse::<i64>().ok()) {
                                    Some(id) => a href={ "/portal/operator/clinics/" (id) } { (l.target) },
                                    None => (l.target),
                                }
                            }
                            td { (l.detail) }
                        }
                    }
                }
            }
            @if lines.is_empty() { p #no-results { "記録はまだありません。" } }
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(""), "%%");
        assert_eq!(like_pattern("abc"), "%abc%");
        assert_eq!(like_pattern("50%"), "%50!%%");
        assert_eq!(like_pattern("a_b"), "%a!_b%");
        assert_eq!(like_pattern("x!y"), "%x!!y%");
        assert_eq!(registration_text("契0123456-1-23"), "契0123456123");
        assert_eq!(registration_text(" - "), " - ");
        assert_eq!(
            search_text(&format!("  {}  ", "あ".repeat(150)))
                .chars()
                .count(),
            100
        );
        assert_eq!(search_text(" a\u{0}b\n "), "ab");
    }

    #[test]
    fn paging_arithmetic() {
        assert_eq!(
            Paging::new(0, 1),
            Paging {
                page: 1,
                pages: 1,
                total: 0
            }
        );
        assert_eq!(
            Paging::new(20, 2),
            Paging {
                page: 1,
                pages: 1,
                total: 20
            }
        );
        assert_eq!(
            Paging::new(21, 2),
            Paging {
                page: 2,
                pages: 2,
                total: 21
            }
        );
        assert_eq!(Paging::new(41, 9).page, 3);
        assert_eq!(Paging::new(41, -4).page, 1);
        assert_eq!(Paging::new(41, 3).offset(), 40);
        assert_eq!(Paging::new(-1, 1).total, 0);
        assert_eq!(page_number("x"), 1);
        assert_eq!(page_number(" 3 "), 3);
        assert_eq!(
            list_link("/p", &[("q", "a b&c"), ("status", ""), ("page", "2")]),
            "/p?q=a+b%26c&page=2"
        );
        assert_eq!(list_link("/p", &[("q", "")]), "/p");
    }

    #[test]
    fn days_start_at_midnight_jst() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .with_timezone(&Utc)
        };
        // 2025-06-01 08:00 JST is 2025-05-31 23:00 UTC.
        assert_eq!(
            start_of_day_jst(t("2025-05-31T23:00:00Z")),
            t("2025-05-31T15:00:00Z")
        );
        // 2025-06-01 23:59 JST.
        assert_eq!(
            start_of_day_jst(t("2025-06-01T14:59:00Z")),
            t("2025-05-31T15:00:00Z")
        );
        assert_eq!(
            start_of_day_jst(t("2025-06-01T15:00:00Z")),
            t("2025-06-01T15:00:00Z")
        );
    }

    #[test]
    fn reasons_and_labels() {
        assert!(reason_problem("").is_some());
        assert!(reason_problem(&"あ".repeat(1001)).is_some());
        assert!(reason_problem("a\u{0}b").is_some());
        assert!(reason_problem("登録記号番号が違います。\n確認してください。").is_none());
        assert_eq!(action_label("application.approve"), "利用開始申請の承認");
        assert_eq!(action_label("claim.pay"), "claim.pay");
        assert!(status_filter("").is_ok_and(|s| s.is_none()));
        assert!(status_filter("applied").is_ok_and(|s| s == Some(AccountStatus::Applied)));
        assert!(status_filter("bogus").is_err());
        assert!(clinic_id("12").is_ok_and(|id| id == 12));
        assert!(clinic_id("0").is_err() && clinic_id("x").is_err() && clinic_id("-1").is_err());
    }

    /// A store with clinics whose names hold LIKE's wildcards, and their accounts.
    fn store_with_clinics() -> (tempfile::TempDir, Box<dyn onshi_store::ServiceStore>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store =
            onshi_store::open_service_data_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let now = Utc::now();
        for (i, (name, email)) in [
            ("山田接骨院", "yamada@example.jp"),
            ("100%鍼灸院", "hari@example.jp"),
            ("A_B整骨院", "ab@example.jp"),
            ("AXB整骨院", "Upper@Example.JP"),
        ]
        .iter()
        .enumerate()
        {
            let clinic = store
                .add_clinic(name, &format!("契012345{i}123"), now)
                .unwrap_or_else(|e| panic!("{e}"));
            let account = db::NewAccount {
                email: email.to_string(),
                password_hash: "x".to_owned(),
                kinds: "judo".to_owned(),
                director: "院長".to_owned(),
                address: "東京都".to_owned(),
                phone: "0312345678".to_owned(),
            };
            let added = db::add_account(
                store.portal(),
                clinic.id,
                &account,
                &[(
                    crate::registration::Practice::Judo,
                    crate::registration::RegistrationNumber::stored(format!("契012345{i}123")),
                )],
                &[i as u8],
                now,
                &crate::mail::Outgoing {
                    to: account.email.clone(),
                    subject: "確認".to_owned(),
                    body: "本文".to_owned(),
                },
                now,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(added, db::Added::Yes);
        }
        (dir, store)
    }

    #[test]
    fn searches_escape_wildcards_and_ignore_case() {
        let (_dir, store) = store_with_clinics();
        let db = store.portal();
        let names = |q: &str, status: Option<AccountStatus>| {
            search_accounts(db, q, status, 1)
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .into_iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("", None).len(), 4);
        assert_eq!(names("%", None), ["100%鍼灸院"]);
        assert_eq!(names("a_b", None), ["A_B整骨院"]);
        assert_eq!(names("upper@example", None), ["AXB整骨院"]);
        assert_eq!(names("契0123450-123", None), ["山田接骨院"]);
        assert_eq!(
            names("山田", Some(AccountStatus::Applied)),
            Vec::<String>::new()
        );
        assert_eq!(
            names("山田", Some(AccountStatus::Registered)),
            ["山田接骨院"]
        );
        let counts = counts(db).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (counts.clinics, counts.applied, counts.terminals_active),
            (4, 0, 0)
        );
        let (rows, paging) = search_terminals(db, "w000", 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(rows.is_empty() && paging.total == 0);
    }

    #[test]
    fn lists_page_through_every_row() {
        let (_dir, store) = store_with_clinics();
        let now = Utc::now();
        for i in 0..(2 * PER_PAGE) {
            store
                .add_clinic(&format!("端末用{i}"), "契0000000", now)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let clinics = store.clinics().unwrap_or_else(|e| panic!("{e}"));
        for c in clinics.iter().filter(|c| c.name.starts_with("端末用")) {
            store
                .add_terminal(c.id, 0, [0; 32], now, now)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let db = store.portal();
        let mut seen = Vec::new();
        for page in 1..=3 {
            let (rows, paging) =
                search_terminals(db, "端末用", page).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (paging.total, paging.pages, paging.page),
                (40, 2, page.min(2))
            );
            if page <= 2 {
                seen.extend(rows.into_iter().map(|r| r.id));
            }
        }
        seen.dedup();
        assert_eq!(seen.len(), 40);
        let (rows, _) = search_terminals(db, "w0000001", 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "W0000001");
    }
}
