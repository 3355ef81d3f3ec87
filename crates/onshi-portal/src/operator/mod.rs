//! The operator's (実施機関) pages: login, the dashboard with counts, the clinics with their
//! 利用開始申請 (approve, or reject with a reason), every terminal, and the portal's audit.
//! Operator accounts come only from the command line ([`add_operator`]); every operator action
//! is written to `portal_audit`. Claims are reviewed in [`crate::claims`].
//!
//! In rooms like [`crate::claims`]: [`queries`] (SQL), [`pages`] (markup), `handlers` (the
//! routes' functions).

mod handlers;
mod links;
pub mod pages;
pub mod queries;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::{PortalError, State};

#[allow(clippy::wildcard_imports)]
use handlers::*;
pub use pages::{action_label, reason_problem, terminal_status_label};
pub use queries::*;

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
) -> Result<NewOperator, PortalError> {
    let login = login.trim();
    if login.is_empty()
        || login.len() > 64
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(PortalError::Login);
    }
    if name.trim().is_empty() {
        return Err(PortalError::EmptyName);
    }
    if let Some(problem) = crate::auth::password_problem(password, password) {
        return Err(PortalError::Password(problem));
    }
    let hash = crate::auth::hash_password(password).map_err(|e| PortalError::Hash(e.message))?;
    let secret = crate::totp::new_secret().map_err(PortalError::Random)?;
    let id = crate::db::add_operator(store.portal(), login, name.trim(), &hash, &secret, now)
        .map_err(PortalError::Store)?
        .ok_or_else(|| PortalError::LoginTaken(login.to_owned()))?;
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
) -> Result<String, PortalError> {
    let secret = crate::totp::new_secret().map_err(PortalError::Random)?;
    crate::db::set_totp_secret(store.portal(), login.trim(), &secret, now)
        .map_err(PortalError::Store)?
        .ok_or_else(|| PortalError::NoSuchOperator(login.to_owned()))?;
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
        .route("/portal/operator/links", get(links::links))
        .route("/portal/operator/links/decide", post(links::decide))
}
