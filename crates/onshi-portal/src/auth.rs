//! Passwords, sessions, CSRF tokens and login throttling.
//!
//! A session is a random 256-bit id in a `__Host-` cookie; the store keeps only its SHA-256,
//! with the role (clinic or operator), the subject, the session's CSRF token, its expiry and
//! the account's session epoch at login (raising the epoch logs the account out everywhere).
//! Before login, forms carry a double-submit token: a random value in a `__Host-` cookie and the
//! same value in the form.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::db::{self, Role};
use crate::view::PageError;
use crate::{blocking, State};

/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-onshi-portal";
/// The pre-login CSRF cookie.
pub const CSRF_COOKIE: &str = "__Host-onshi-csrf";
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// 32 random bytes as hex.
pub fn random_token() -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(PageError::internal)?;
    Ok(hex::encode(bytes))
}

/// SHA-256 of a token: what the store keeps.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Equal in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// argon2id with the crate's defaults (OWASP's 19 MiB, 2 passes).
#[cfg(not(fuzzing))]
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// Under `cargo fuzz` only: the targets run unoptimised under AddressSanitizer, where one
/// production-cost hash outlasts libFuzzer's timeout. Never in a build anyone runs.
#[cfg(fuzzing)]
fn argon2() -> Argon2<'static> {
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8, 1, 1, None).unwrap_or_default(),
    )
}

/// An argon2id hash (PHC string) of `password`.
pub fn hash_password(password: &str) -> Result<String, PageError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(PageError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(PageError::internal)?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(PageError::internal)?
        .to_string())
}

/// Whether `password` matches the stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that both cases take as long.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

/// Why a new password is refused, in Japanese.
pub fn password_problem(password: &str, confirm: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Some(format!(
            "パスワードは{MIN_PASSWORD_CHARS}文字以上にしてください。"
        ))
    } else if n > MAX_PASSWORD_CHARS {
        Some(format!(
            "パスワードは{MAX_PASSWORD_CHARS}文字以内にしてください。"
        ))
    } else if password != confirm {
        Some("確認用のパスワードが一致しません。".to_owned())
    } else {
        None
    }
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for the session.
pub fn session_cookie(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The pre-login CSRF token of this browser, and the `Set-Cookie` to send when it is new.
pub fn form_token(headers: &HeaderMap) -> Result<(String, Option<String>), PageError> {
    match cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 64) {
        Some(t) => Ok((t, None)),
        None => {
            let t = random_token()?;
            let set = format!("{CSRF_COOKIE}={t}; Path=/; Secure; HttpOnly; SameSite=Strict");
            Ok((t, Some(set)))
        }
    }
}

/// Checks a pre-login form's token against the browser's CSRF cookie.
pub fn check_form_token(headers: &HeaderMap, given: &str) -> Result<(), PageError> {
    match cookie(headers, CSRF_COOKIE) {
        Some(expected) if !given.is_empty() && same(&expected, given) => Ok(()),
        _ => Err(PageError::csrf()),
    }
}

/// A logged-in session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Clinic or operator.
    pub role: Role,
    /// The clinic id or the operator id.
    pub subject_id: i64,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The session id's hash (for logout).
    pub id_hash: Vec<u8>,
}

impl Session {
    /// Checks a form's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if !given.is_empty() && same(&self.csrf, given) {
            Ok(())
        } else {
            Err(PageError::csrf())
        }
    }
}

/// Starts a session for `role`/`subject` and returns the cookie's value.
pub fn start_session(
    portal: &crate::Portal,
    role: Role,
    subject_id: i64,
    epoch: i64,
    now: DateTime<Utc>,
) -> Result<String, PageError> {
    let id = random_token()?;
    let csrf = random_token()?;
    let expires = now + Duration::hours(portal.settings.session_hours);
    db::create_session(
        portal.store.portal(),
        &token_hash(&id),
        role,
        subject_id,
        &csrf,
        epoch,
        now,
        expires,
    )?;
    Ok(id)
}

async fn session_of(parts: &Parts, state: &State) -> Result<Option<Session>, PageError> {
    let Some(id) = cookie(&parts.headers, SESSION_COOKIE).filter(|v| v.len() == 64) else {
        return Ok(None);
    };
    let hash = token_hash(&id);
    blocking(state, move |p| {
        Ok(db::load_session(p.store.portal(), &hash, Utc::now())?)
    })
    .await
}

/// The logged-in clinic (an extractor): a clinic's session, or a redirect to the login page.
#[derive(Clone, Debug)]
pub struct ClinicUser {
    /// The clinic.
    pub clinic_id: i64,
    /// The session.
    pub session: Session,
}

/// Redirects to a login page.
pub struct LoginFirst(&'static str);

impl IntoResponse for LoginFirst {
    fn into_response(self) -> Response {
        Redirect::to(self.0).into_response()
    }
}

/// Refusals of the extractors.
pub enum Refused {
    /// Not logged in.
    Login(LoginFirst),
    /// Logged in with the wrong role, or the store failed.
    Page(PageError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Login(l) => l.into_response(),
            Self::Page(p) => p.into_response(),
        }
    }
}

impl FromRequestParts<State> for ClinicUser {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        match session_of(parts, state).await.map_err(Refused::Page)? {
            Some(session) if session.role == Role::Clinic => Ok(Self {
                clinic_id: session.subject_id,
                session,
            }),
            Some(_) => Err(Refused::Page(PageError::forbidden(
                "この画面は施術所のアカウントで使う画面です。運用担当者のアカウントではログアウトしてから開いてください。",
            ))),
            None => Err(Refused::Login(LoginFirst("/portal/login"))),
        }
    }
}

/// The logged-in operator (an extractor): an operator's session; a clinic's session is refused
/// with 403, none redirects to the operator's login page.
#[derive(Clone, Debug)]
pub struct OperatorUser {
    /// The operator.
    pub operator_id: i64,
    /// The session.
    pub session: Session,
}

impl FromRequestParts<State> for OperatorUser {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        match session_of(parts, state).await.map_err(Refused::Page)? {
            Some(session) if session.role == Role::Operator => Ok(Self {
                operator_id: session.subject_id,
                session,
            }),
            Some(_) => Err(Refused::Page(PageError::forbidden(
                "この画面は実施機関（運用担当者）専用です。",
            ))),
            None => Err(Refused::Login(LoginFirst("/portal/operator/login"))),
        }
    }
}

/// What a throttled password check came to.
pub enum Checked<T> {
    /// A delay runs under the account's or the address's key: the password was not checked;
    /// try again in this many seconds.
    Throttled(i64),
    /// Unknown account or wrong password (the attempt stays counted).
    Wrong,
    /// The password matches this account.
    Ok(T),
}

/// The first delay after the free failures, in seconds (it doubles with each failure).
pub const FIRST_DELAY_SECONDS: i64 = 15;
/// The longest delay of an account's key: a guesser slows an account's logins to one a
/// minute but cannot lock its owner out.
pub const ACCOUNT_MAX_DELAY_SECONDS: i64 = 60;

/// Whose login it is: clinics and operators count failures in separate buckets, per account
/// and per address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// A clinic's login.
    Clinic,
    /// An operator's login.
    Operator,
}

impl Bucket {
    /// The limits of a login to `account` from `address`: growing delays, per account (at most
    /// [`ACCOUNT_MAX_DELAY_SECONDS`]) and per address (at most the throttling window).
    pub fn limits(self, s: &crate::Settings, account: &str, address: &str) -> [db::Limit; 2] {
        let (a, b) = match self {
            Self::Clinic => ("account", "clinic-address"),
            Self::Operator => ("operator", "operator-address"),
        };
        [
            db::Limit::new(
                format!("{a}:{account}"),
                s.failures_per_account,
                FIRST_DELAY_SECONDS,
                ACCOUNT_MAX_DELAY_SECONDS,
            ),
            db::Limit::new(
                format!("{b}:{address}"),
                s.failures_per_address,
                FIRST_DELAY_SECONDS,
                s.throttle_minutes * 60,
            ),
        ]
    }
}

/// A login's password check under throttling, the same for clinics and operators: a place in
/// the hashing pool is taken first (a full pool answers 503 before anything is counted); the
/// attempt is counted under the bucket's keys before the password is checked (see
/// [`db::reserve_attempt`]); the account found by `find` (its password hash beside it) is
/// checked against `password` in the hashing pool — an unknown one against [`dummy_hash`], so
/// both take as long. The caller takes the attempt back with [`db::attempt_succeeded`] when
/// the login succeeds (after a second factor, for operators).
pub async fn check_login<T: Send + 'static>(
    portal: &State,
    limits: [db::Limit; 2],
    password: zeroize::Zeroizing<String>,
    now: DateTime<Utc>,
    find: impl FnOnce(&crate::Portal) -> Result<Option<(T, String)>, PageError> + Send + 'static,
) -> Result<Checked<T>, PageError> {
    let slot = portal.hasher.admit()?;
    let found = blocking(portal, move |p| {
        let since = now - Duration::minutes(p.settings.throttle_minutes);
        match db::reserve_attempt(p.store.portal(), &limits, now, since)? {
            db::Attempt::Wait(seconds) => Ok(Err(seconds)),
            db::Attempt::Allowed => Ok(Ok(find(p)?)),
        }
    })
    .await?;
    let found = match found {
        Err(seconds) => return Ok(Checked::Throttled(seconds)),
        Ok(found) => found,
    };
    let (account, hash) = match found {
        Some((a, h)) => (Some(a), h),
        None => (None, dummy_hash().to_owned()),
    };
    let matches =
        crate::hashing::Hasher::run(slot, move || verify_password(&password, &hash)).await?;
    match account {
        Some(account) if matches => Ok(Checked::Ok(account)),
        _ => Ok(Checked::Wrong),
    }
}

/// The message of a throttled login, with the seconds to wait.
pub fn throttled_message(seconds: i64) -> String {
    format!(
        "ログインの失敗が続いたため、しばらくログインできません。{}秒ほど待ってからお試しください。",
        seconds.max(1)
    )
}

/// The client's address, for throttling (the TCP peer; the server adds it per connection).
pub fn client_address(parts_extensions: &axum::http::Extensions) -> String {
    parts_extensions
        .get::<onshi_server::serve::PeerAddr>()
        .map(|a| a.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn password_rules() {
        assert!(password_problem("short", "short").is_some());
        assert!(password_problem("long enough!", "long enough?").is_some());
        assert!(password_problem("long enough!", "long enough!").is_none());
        assert!(password_problem(&"x".repeat(129), &"x".repeat(129)).is_some());
    }

    #[test]
    fn cookies_and_tokens() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; __Host-onshi-csrf=abc; b=2"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(cookie(&h, CSRF_COOKIE).as_deref(), Some("abc"));
        assert!(check_form_token(&h, "abc").is_ok());
        assert!(check_form_token(&h, "abd").is_err());
        assert!(check_form_token(&h, "").is_err());
        assert!(same("abc", "abc") && !same("abc", "ab") && !same("abc", "abd"));
        assert_eq!(token_hash("x").len(), 32);
        assert!(session_cookie("i").contains("HttpOnly; SameSite=Strict"));
        assert!(session_cookie("i").contains("Secure"));
    }
}
