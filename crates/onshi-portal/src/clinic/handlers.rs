//! The clinic's handlers: registration, confirmation, login, logout, reset, home, 利用開始申請.

use std::collections::HashMap;

use axum::extract::{Query, State as StateOf};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{Duration, Utc};
use maud::html;
use serde::Deserialize;

use crate::auth::{self, ClinicUser};
use crate::db::{self, AccountStatus, NewAccount, Role};
use crate::error::FieldError;
use crate::mail::Outgoing;
use crate::registration::{Practice, RegistrationNumber};
use crate::view::{self, csrf, respond, Nav, PageError};
use crate::{blocking, State};

use super::pages::*;
use super::*;

/// The registration form's values.
#[derive(Debug, Default, Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) director: String,
    #[serde(default)]
    pub(super) registration: String,
    #[serde(default)]
    pub(super) registration_ahaki: String,
    #[serde(default)]
    pub(super) address: String,
    #[serde(default)]
    pub(super) phone: String,
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) password: zeroize::Zeroizing<String>,
    #[serde(default)]
    pub(super) password_confirm: zeroize::Zeroizing<String>,
}

pub(super) async fn register_form(headers: HeaderMap) -> Result<Response, PageError> {
    let (token, set) = auth::form_token(&headers)?;
    Ok(with_cookie(
        registration_page(&token, &Registration::default(), &[], &HashMap::new()),
        set,
    ))
}

/// A normalised e-mail address, or why it is not one.
pub fn normalise_email(s: &str) -> Result<String, FieldError> {
    let s = s.trim().to_lowercase();
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\"[]\\".contains(c))
                && s.matches('@').count() == 1
        });
    if ok {
        Ok(s)
    } else {
        Err(FieldError::Email)
    }
}

/// A phone number as digits with hyphens, or why it is not one.
pub fn normalise_phone(s: &str) -> Result<String, FieldError> {
    let kept: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            'ー' | '－' | '‐' => '-',
            c => c,
        })
        .collect();
    let digits = kept.chars().filter(char::is_ascii_digit).count();
    if kept.chars().all(|c| c.is_ascii_digit() || c == '-')
        && (10..=11).contains(&digits)
        && kept.starts_with('0')
    {
        Ok(kept)
    } else {
        Err(FieldError::Phone)
    }
}

pub(super) fn required(
    errors: &mut HashMap<&'static str, String>,
    key: &'static str,
    label: &str,
    value: &str,
    max: usize,
) {
    let n = value.trim().chars().count();
    if n == 0 {
        errors.insert(key, format!("{label}を入力してください。"));
    } else if n > max {
        errors.insert(key, format!("{label}は{max}文字以内で入力してください。"));
    } else if value.chars().any(char::is_control) {
        errors.insert(key, format!("{label}に使えない文字が含まれています。"));
    }
}

pub(super) async fn register(
    StateOf(portal): StateOf<State>,
    Extension(addr): Extension<onshi_server::serve::PeerAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    // Checkboxes repeat a key: read the pairs, not a map.
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(&body)?;
    let kinds: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "kinds")
        .map(|(_, v)| v.clone())
        .collect();
    let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "kinds").collect();
    let r: Registration = serde_urlencoded::to_string(rest)
        .ok()
        .and_then(|s| serde_urlencoded::from_str(&s).ok())
        .ok_or_else(|| PageError::bad_request("フォームを読めません。"))?;
    auth::check_form_token(&headers, &r.csrf)?;
    let mut errors: HashMap<&'static str, String> = HashMap::new();
    required(&mut errors, "name", "施術所名", &r.name, 100);
    required(
        &mut errors,
        "director",
        "院長（管理者）の氏名",
        &r.director,
        50,
    );
    required(&mut errors, "address", "所在地", &r.address, 200);
    if kinds.is_empty() || kinds.iter().any(|k| !KINDS.iter().any(|(v, _)| v == k)) {
        errors.insert("kinds", "施術所の種類を1つ以上選んでください。".to_owned());
    }
    let numbers = registration_numbers(&r, &kinds, &mut errors);
    let phone = normalise_phone(&r.phone);
    if let Err(m) = &phone {
        errors.insert("phone", m.to_string());
    }
    let email = normalise_email(&r.email);
    if let Err(m) = &email {
        errors.insert("email", m.to_string());
    }
    if let Some(m) = auth::password_problem(&r.password, &r.password_confirm) {
        errors.insert("password", m);
    }
    let (Some(numbers), Ok(phone), Ok(email), true) = (numbers, phone, email, errors.is_empty())
    else {
        return Ok((
            axum::http::StatusCode::BAD_REQUEST,
            respond(registration_page(&r.csrf, &r, &kinds, &errors)),
        )
            .into_response());
    };
    let name = r.name.trim().to_owned();
    let mut account = NewAccount {
        email: email.clone(),
        password_hash: String::new(),
        kinds: kinds.join(","),
        director: r.director.trim().to_owned(),
        address: r.address.trim().to_owned(),
        phone,
    };
    let address = addr.0.ip().to_string();
    // A flood from one address is turned away in memory, before the store or the hashing pool.
    if !portal
        .registration_gate
        .allow(&address, std::time::Instant::now())
    {
        return Ok(registrations_throttled(
            portal.registration_gate.retry_after_seconds(),
        ));
    }
    // A place in the hashing pool first: a full pool refuses before anything is counted.
    let slot = portal.hasher.admit()?;
    let taken_email = account.email.clone();
    let first = blocking(&portal, move |p| {
        let db = p.store.portal();
        let now = Utc::now();
        let window = p.settings.throttle_minutes * 60;
        let limit = db::Limit::per_window(
            format!("register:{address}"),
            p.settings.registrations_per_address,
            window,
        );
        if let db::Attempt::Wait(seconds) =
            db::reserve_attempt(db, &[limit], now, now - Duration::seconds(window))?
        {
            return Ok(Err(seconds));
        }
        Ok(Ok(db::email_taken(db, &taken_email)?))
    })
    .await?;
    let taken = match first {
        Err(seconds) => return Ok(registrations_throttled(u64::try_from(seconds).unwrap_or(1))),
        Ok(taken) => taken,
    };
    let registered = if taken {
        db::Added::EmailTaken
    } else {
        let password = r.password.clone();
        account.password_hash =
            crate::hashing::Hasher::run(slot, move || auth::hash_password(&password)).await??;
        blocking(&portal, move |p| {
            let db = p.store.portal();
            let now = Utc::now();
            // The service's clinic row keeps the first number (柔道整復 before あはき).
            let first = numbers.first().map(|(_, n)| n.as_str()).unwrap_or_default();
            let clinic = p.store.add_clinic(&name, first, now)?;
            let token = auth::random_token()?;
            let link = format!("{}/portal/confirm?token={token}", p.settings.public_url);
            let mail = Outgoing {
                to: account.email.clone(),
                subject: "【施術所等向け総合ポータルサイト】メールアドレスの確認".to_owned(),
                body: format!(
                    "{name} 様\n\n施術所等向け総合ポータルサイトへのご登録ありがとうございます。\n次のリンクを開いて、メールアドレスの確認を完了してください（{CONFIRM_HOURS}時間有効）。\n\n{link}\n\nお心当たりのない場合は、このメールを破棄してください。\n"
                ),
            };
            let added = db::add_account(
                db,
                clinic.id,
                &account,
                &numbers,
                &auth::token_hash(&token),
                now + Duration::hours(CONFIRM_HOURS),
                &mail,
                now,
            );
            let added = match added {
                Ok(added) => added,
                Err(e) => {
                    // Nothing half-registered stays.
                    db::remove_unfinished_clinic(db, clinic.id)?;
                    return Err(e.into());
                }
            };
            if added != db::Added::Yes {
                db::remove_unfinished_clinic(db, clinic.id)?;
            }
            Ok(added)
        })
        .await?
    };
    let taken = match registered {
        db::Added::Yes => None,
        db::Added::EmailTaken => Some(("email", EMAIL_TAKEN.to_owned())),
        db::Added::NumberTaken(number) => {
            let field = numbers_field(&r, &number);
            Some((field, crate::registration::taken_message(&number)))
        }
    };
    if let Some((field, message)) = taken {
        let mut errors = HashMap::new();
        errors.insert(field, message);
        return Ok((
            axum::http::StatusCode::BAD_REQUEST,
            respond(registration_page(&r.csrf, &r, &kinds, &errors)),
        )
            .into_response());
    }
    Ok(respond(view::page(
        "確認のメールを送りました",
        Nav::Guest,
        html! {
            p.lead #registered { (email) " 宛てに確認のメールを送りました。メールのリンクを開くと登録が完了し、ログインできるようになります。" }
        },
    )))
}

pub(super) const EMAIL_TAKEN: &str = "このメールアドレスはすでに登録されています。ログインするか、パスワードの再設定をしてください。";

/// The 登録記号番号 of the form, one per practice its kinds need (柔道整復; あはき for あん摩
/// マッサージ指圧 or はり・きゅう): `None` with the errors put into `errors`.
pub(super) fn registration_numbers(
    r: &Registration,
    kinds: &[String],
    errors: &mut HashMap<&'static str, String>,
) -> Option<Vec<(Practice, RegistrationNumber)>> {
    let mut out = Vec::new();
    for practice in Practice::ALL {
        let typed = match practice {
            Practice::Judo => &r.registration,
            Practice::Ahaki => &r.registration_ahaki,
        };
        let needed = kinds.iter().any(|k| Practice::of_kind(k) == Some(practice));
        if typed.trim().is_empty() {
            if needed {
                errors.insert(
                    practice.field(),
                    format!("{}の登録記号番号を入力してください。", practice.label()),
                );
            }
            continue;
        }
        if !needed && !kinds.is_empty() {
            errors.insert(
                practice.field(),
                format!(
                    "{}の登録記号番号を登録するには、施術所の種類で{}を選んでください。",
                    practice.label(),
                    practice.label()
                ),
            );
            continue;
        }
        match RegistrationNumber::parse(practice, typed) {
            Ok(n) => out.push((practice, n)),
            Err(m) => {
                errors.insert(practice.field(), m.to_string());
            }
        }
    }
    let wrong = |e: &HashMap<&str, String>| {
        e.contains_key("registration") || e.contains_key("registration_ahaki")
    };
    if out.is_empty() && !wrong(errors) {
        errors.insert(
            "registration",
            "登録記号番号を入力してください。".to_owned(),
        );
    }
    (!wrong(errors)).then_some(out)
}

/// The form field that held `number`.
pub(super) fn numbers_field(r: &Registration, number: &RegistrationNumber) -> &'static str {
    let ahaki = RegistrationNumber::parse(Practice::Ahaki, &r.registration_ahaki);
    if ahaki.as_ref().is_ok_and(|n| n == number) {
        "registration_ahaki"
    } else {
        "registration"
    }
}

/// The form's pairs (`a=1&a=2` kept as two).
pub(super) fn serde_urlencoded_pairs(body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|_| PageError::bad_request("フォームを読めません。"))
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub(super) async fn confirm(
    StateOf(portal): StateOf<State>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let hash = auth::token_hash(&q.token);
    let result = blocking(&portal, move |p| {
        let now = Utc::now();
        Ok(db::spend_token(
            p.store.portal(),
            &hash,
            "confirm",
            now,
            |tx, clinic| db::confirm_email(tx, clinic, now),
        )?)
    })
    .await?;
    Ok(match result {
        Ok(_) => respond(view::page(
            "メールアドレスを確認しました",
            Nav::Guest,
            html! {
                p.lead #confirmed { "登録が完了しました。ログインして、利用開始申請に進んでください。" }
                p { a.button.primary href="/portal/login" { "ログイン" } }
            },
        )),
        Err(problem) => (
            axum::http::StatusCode::BAD_REQUEST,
            respond(view::page(
                "確認できませんでした",
                Nav::Guest,
                html! { p.lead { (token_problem_text(problem)) } },
            )),
        )
            .into_response(),
    })
}

pub(super) async fn login_form(headers: HeaderMap) -> Result<Response, PageError> {
    let (token, set) = auth::form_token(&headers)?;
    Ok(with_cookie(login_page(&token, "", None), set))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: zeroize::Zeroizing<String>,
}

/// What a login attempt came to.
pub enum LoginOutcome {
    /// Logged in: the session cookie's value.
    Ok(String),
    /// Refused, with the message to show.
    Refused(&'static str),
    /// Throttled: try again in this many seconds.
    Throttled(i64),
}

impl LoginOutcome {
    /// The status and message of a refusal (none for a success).
    pub fn refusal(&self) -> Option<(axum::http::StatusCode, String)> {
        match self {
            Self::Ok(_) => None,
            Self::Refused(m) => Some((axum::http::StatusCode::UNAUTHORIZED, (*m).to_owned())),
            Self::Throttled(seconds) => Some((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                auth::throttled_message(*seconds),
            )),
        }
    }
}

pub(super) const REGISTRATIONS_THROTTLED: &str =
    "この接続元からの登録が続いたため、しばらく登録できません。時間をおいてからお試しください。";
pub(super) const WRONG: &str = "メールアドレスまたはパスワードが違います。";
pub(super) const UNCONFIRMED: &str = "メールアドレスの確認が済んでいません。登録時にお送りしたメールのリンクを開いてください。リンクの期限が切れた場合は「パスワードを忘れた方」から再設定すると、確認も済みます。";

pub(super) async fn login(
    StateOf(portal): StateOf<State>,
    Extension(addr): Extension<onshi_server::serve::PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    auth::check_form_token(&headers, &f.csrf)?;
    let email = f.email.trim().to_lowercase();
    let address = addr.0.ip().to_string();
    let password = f.password.clone();
    let outcome = login_clinic(&portal, email.clone(), address, password).await?;
    match outcome {
        LoginOutcome::Ok(id) => Ok((
            [(header::SET_COOKIE, auth::session_cookie(&id))],
            Redirect::to("/portal/home"),
        )
            .into_response()),
        refused => {
            let (status, m) = refused
                .refusal()
                .unwrap_or((axum::http::StatusCode::UNAUTHORIZED, WRONG.to_owned()));
            Ok((status, respond(login_page(&f.csrf, &email, Some(&m)))).into_response())
        }
    }
}

/// A clinic's login: throttled password check, then a session.
pub(super) async fn login_clinic(
    portal: &State,
    email: String,
    address: String,
    password: zeroize::Zeroizing<String>,
) -> Result<LoginOutcome, PageError> {
    // A control character (NUL …) is no e-mail address: refused before the store.
    if email.chars().any(char::is_control) {
        return Ok(LoginOutcome::Refused(WRONG));
    }
    let now = Utc::now();
    let limits = auth::Bucket::Clinic.limits(&portal.settings, &email, &address);
    let (account_key, address_key) = (limits[0].key.clone(), limits[1].key.clone());
    let find_email = email.clone();
    let checked = auth::check_login(portal, limits, password, now, move |p| {
        Ok(
            db::account_by_email(p.store.portal(), &find_email)?.map(|a| {
                let hash = a.password_hash.clone();
                (a, hash)
            }),
        )
    })
    .await?;
    let account = match checked {
        auth::Checked::Throttled(seconds) => return Ok(LoginOutcome::Throttled(seconds)),
        auth::Checked::Wrong => return Ok(LoginOutcome::Refused(WRONG)),
        auth::Checked::Ok(account) => account,
    };
    blocking(portal, move |p| {
        db::attempt_succeeded(p.store.portal(), &account_key, &address_key, now)?;
        if account.email_confirmed_at.is_none() {
            return Ok(LoginOutcome::Refused(UNCONFIRMED));
        }
        let id = auth::start_session(
            p,
            Role::Clinic,
            account.clinic_id,
            account.session_epoch,
            now,
        )?;
        Ok(LoginOutcome::Ok(id))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let hash = user.session.id_hash.clone();
    blocking(&portal, move |p| {
        Ok(db::end_session(p.store.portal(), &hash)?)
    })
    .await?;
    Ok((
        [(header::SET_COOKIE, auth::clear_session_cookie())],
        Redirect::to("/portal/login"),
    )
        .into_response())
}

pub(super) async fn logout_all(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        Ok(db::logout_everywhere(
            p.store.portal(),
            Role::Clinic,
            clinic,
        )?)
    })
    .await?;
    Ok((
        [(header::SET_COOKIE, auth::clear_session_cookie())],
        Redirect::to("/portal/login"),
    )
        .into_response())
}

pub(super) async fn reset_form(headers: HeaderMap) -> Result<Response, PageError> {
    let (token, set) = auth::form_token(&headers)?;
    Ok(with_cookie(reset_page(&token, None), set))
}

#[derive(Deserialize)]
pub(super) struct ResetRequest {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub(super) async fn reset_request(
    StateOf(portal): StateOf<State>,
    Extension(addr): Extension<onshi_server::serve::PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<ResetRequest>,
) -> Result<Response, PageError> {
    auth::check_form_token(&headers, &f.csrf)?;
    let email = f.email.trim().to_lowercase();
    let address = addr.0.ip().to_string();
    blocking(&portal, move |p| {
        let db = p.store.portal();
        if email.chars().any(char::is_control) {
            return Ok(());
        }
        // At most a few reset mails per address and per account in the throttling window, so
        // nobody can flood a clinic's mailbox; the answer stays the same.
        let now = Utc::now();
        let since = now - Duration::minutes(p.settings.throttle_minutes);
        let window = p.settings.throttle_minutes * 60;
        let allowed = db::reserve_attempt(
            db,
            &[
                db::Limit::per_window(format!("reset:{email}"), RESET_MAILS_PER_WINDOW, window),
                db::Limit::per_window(
                    format!("reset-address:{address}"),
                    p.settings.failures_per_address,
                    window,
                ),
            ],
            now,
            since,
        )?;
        if allowed != db::Attempt::Allowed {
            return Ok(());
        }
        // The same answer whether or not the address is registered.
        if let Some(account) = db::account_by_email(db, &email)? {
            let token = auth::random_token()?;
            let link = format!("{}/portal/reset/confirm?token={token}", p.settings.public_url);
            let mail = Outgoing {
                to: account.email.clone(),
                subject: "【施術所等向け総合ポータルサイト】パスワードの再設定".to_owned(),
                body: format!(
                    "{} 様\n\nパスワードの再設定を受け付けました。次のリンクを開いて、新しいパスワードを設定してください（{RESET_HOURS}時間有効）。\n\n{link}\n\nお心当たりのない場合は、このメールを破棄してください。パスワードは変わりません。\n",
                    account.name
                ),
            };
            db::add_reset_token(db, account.clinic_id, &auth::token_hash(&token), now + Duration::hours(RESET_HOURS), &mail, now)?;
        }
        Ok(())
    })
    .await?;
    Ok(respond(reset_page(
        &f.csrf,
        Some("登録のあるメールアドレスであれば、パスワード再設定のメールを送りました。"),
    )))
}

pub(super) async fn reset_confirm_form(
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let (token, set) = auth::form_token(&headers)?;
    Ok(with_cookie(reset_confirm_page(&token, &q.token, None), set))
}

#[derive(Deserialize)]
pub(super) struct ResetConfirm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: zeroize::Zeroizing<String>,
    #[serde(default)]
    password_confirm: zeroize::Zeroizing<String>,
}

pub(super) async fn reset_confirm(
    StateOf(portal): StateOf<State>,
    Extension(addr): Extension<onshi_server::serve::PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<ResetConfirm>,
) -> Result<Response, PageError> {
    auth::check_form_token(&headers, &f.csrf)?;
    if let Some(m) = auth::password_problem(&f.password, &f.password_confirm) {
        return Ok((
            axum::http::StatusCode::BAD_REQUEST,
            respond(reset_confirm_page(&f.csrf, &f.token, Some(&m))),
        )
            .into_response());
    }
    let hash = auth::token_hash(&f.token);
    // A place in the hashing pool before the link is spent: a full pool spends nothing.
    let slot = portal.hasher.admit()?;
    let address = addr.0.ip().to_string();
    let spent = blocking(&portal, move |p| {
        let db = p.store.portal();
        let now = Utc::now();
        let window = p.settings.throttle_minutes * 60;
        let limit = db::Limit::new(
            format!("reset-confirm:{address}"),
            p.settings.failures_per_address,
            auth::FIRST_DELAY_SECONDS,
            window,
        );
        if let db::Attempt::Wait(seconds) =
            db::reserve_attempt(db, &[limit], now, now - Duration::seconds(window))?
        {
            return Ok(Err(seconds));
        }
        // Spent first; every other reset link of the account is spent with it.
        Ok(Ok(db::spend_token(
            db,
            &hash,
            "reset",
            now,
            |tx, clinic| db::spend_other_reset_tokens(tx, clinic, now),
        )?))
    })
    .await?;
    let result = match spent {
        Err(seconds) => {
            return Ok((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, seconds.max(1).to_string())],
                respond(reset_confirm_page(
                    &f.csrf,
                    &f.token,
                    Some("試行が続いたため、しばらく受け付けられません。時間をおいてからお試しください。"),
                )),
            )
                .into_response())
        }
        Ok(result) => result,
    };
    // Only a spent link gets its password hashed.
    if let Ok(clinic) = result {
        let password = f.password.clone();
        let new_hash =
            crate::hashing::Hasher::run(slot, move || auth::hash_password(&password)).await??;
        // The link reached the mailbox: that confirms the address too (an expired confirmation
        // link is not a dead end).
        blocking(&portal, move |p| {
            Ok(db::reset_password(
                p.store.portal(),
                clinic,
                &new_hash,
                Utc::now(),
            )?)
        })
        .await?;
    }
    Ok(match result {
        Ok(_) => respond(view::page(
            "パスワードを変更しました",
            Nav::Guest,
            html! {
                p.lead #password-changed { "新しいパスワードでログインしてください。ほかの端末でのログインはすべて終了しました。" }
                p { a.button.primary href="/portal/login" { "ログイン" } }
            },
        )),
        Err(problem) => (
            axum::http::StatusCode::BAD_REQUEST,
            respond(reset_confirm_page(
                &f.csrf,
                &f.token,
                Some(token_problem_text(problem)),
            )),
        )
            .into_response(),
    })
}

pub(super) async fn home(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
) -> Result<Response, PageError> {
    let clinic = user.clinic_id;
    let (account, numbers, messages, notices) = blocking(&portal, move |p| {
        let db = p.store.portal();
        Ok((
            db::account(db, clinic)?,
            db::numbers(db, clinic)?,
            db::messages(db, clinic, HOME_MESSAGES)?,
            crate::info::handlers::new_notices(p)?,
        ))
    })
    .await?;
    let account = account.ok_or_else(PageError::not_found)?;
    let token = &user.session.csrf;
    Ok(respond(view::page(
        "ホーム",
        Nav::Clinic(&account.name, token),
        html! {
            @if !notices.is_empty() {
                section.card #new-notices {
                    h2 { "新着のお知らせ" }
                    (crate::info::handlers::notice_list(&notices))
                    p { a href="/portal/notices" { "お知らせの一覧" } }
                }
            }
            @if !messages.is_empty() {
                section.card #messages {
                    h2 { "実施機関からの連絡" }
                    @for m in &messages {
                        article.message {
                            h3 { (m.subject) }
                            p.when { (view::when_day(m.at)) }
                            @for line in m.body.lines() { p { (line) } }
                        }
                    }
                }
            }
            section.card {
                h2 { "施術所の情報" }
                dl {
                    dt { "施術所名" } dd #clinic-name { (account.name) }
                    dt { "施術所の種類" } dd { (kinds_label(&account.kinds)) }
                    dt { "院長（管理者）" } dd { (account.director) }
                    dt { "登録記号番号" }
                    dd #registration-numbers {
                        @for n in &numbers {
                            span.number { (n.practice.label()) ": " (n.number) @if !n.active { "（実施機関の承認待ち）" } } br;
                        }
                    }
                    dt { "所在地" } dd { (account.address) }
                    dt { "電話番号" } dd { (account.phone) }
                    dt { "メールアドレス" } dd { (account.email) }
                }
                p { a #edit-details href="/portal/details" { "施術所の情報を変更する" } }
            }
            section.card #application {
                h2 { "利用開始申請" }
                p { "状況: " strong #application-status { (account.status.label()) } }
                @match account.status {
                    AccountStatus::Registered | AccountStatus::Rejected => {
                        @if let Some(reason) = &account.decision_reason {
                            div.notice.error { p { "差戻しの理由: " (reason) } }
                        }
                        p { "資格確認限定型の利用を申請します。実施機関が確認し、承認されると受付端末を登録できるようになります。" }
                        form method="post" action="/portal/apply" {
                            (csrf(token))
                            button.primary type="submit" { "利用開始を申請する" }
                        }
                    }
                    AccountStatus::Applied => p { "実施機関が確認しています。結果はこのページに表示されます。" },
                    AccountStatus::Approved => p { "承認されました。" a href="/portal/terminals" { "受付端末のアカウント" } "を作成してください。" },
                }
            }
            section.card {
                h2 { "補助金の申請（" (crate::info::SUBSIDY_NAME) "）" }
                p { "申請期限: " (view::day(portal.settings.deadline)) "（日本時間の終わりまで）" }
                ul {
                    li { a href="/portal/claims/equipment" { "機器導入（カードリーダー等）の補助" } }
                    li { a href="/portal/claims/rececon" { "レセコン改修の補助" } }
                }
            }
            section.card {
                h2 { "ログイン" }
                form method="post" action="/portal/logout-all" {
                    (csrf(token))
                    button type="submit" { "すべての端末からログアウト" }
                }
            }
        },
    )))
}

pub(super) async fn apply(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let clinic = user.clinic_id;
    let applied = blocking(&portal, move |p| {
        Ok(db::apply(p.store.portal(), clinic, Utc::now())?)
    })
    .await?;
    if applied {
        Ok(Redirect::to("/portal/home").into_response())
    } else {
        Err(PageError::bad_request(
            "いまは申請できません（申請中か、承認済みです）。",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones() {
        assert_eq!(
            normalise_email(" Clinic@Example.JP ").ok().as_deref(),
            Some("clinic@example.jp")
        );
        for bad in [
            "", "a", "a@b", "a@@b.jp", "a b@c.jp", "@c.jp", "a@.jp", "a@c.jp.",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalise_phone("03-1234-5678").ok().as_deref(),
            Some("03-1234-5678")
        );
        assert_eq!(
            normalise_phone("０９０１２３４５６７８").ok().as_deref(),
            Some("09012345678")
        );
        for bad in ["", "12345", "3-1234-5678", "03-1234-567x", "0312345678901"] {
            assert!(normalise_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(kinds_label("judo,hari"), "柔道整復・はり・きゅう");
    }
}
