//! A clinic's way in: registration with e-mail confirmation, login (throttled), logout (here or
//! everywhere), password reset by mail, the home page and the 利用開始申請.
//!
//! In rooms like [`crate::claims`]: `pages` (markup) and `handlers` (the routes' functions and
//! the forms they read).

mod handlers;
mod pages;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::auth::ClinicUser;
use crate::State;

/// How long an e-mail confirmation link works.
const CONFIRM_HOURS: i64 = 72;
/// How long a password-reset link works.
const RESET_HOURS: i64 = 1;
/// The decisions (messages to the clinic) the home page shows, newest first.
const HOME_MESSAGES: i64 = 10;
/// Reset mails per account within the throttling window.
const RESET_MAILS_PER_WINDOW: i64 = 3;

/// The 施術所 kinds: the form's value and the label.
pub const KINDS: [(&str, &str); 3] = [
    ("judo", "柔道整復"),
    ("anma", "あん摩マッサージ指圧"),
    ("hari", "はり・きゅう"),
];

/// The label of a stored kinds list.
pub fn kinds_label(kinds: &str) -> String {
    kinds
        .split(',')
        .filter_map(|k| KINDS.iter().find(|(v, _)| *v == k).map(|(_, l)| *l))
        .collect::<Vec<_>>()
        .join("・")
}

/// The clinic's routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/portal/register", get(register_form).post(register))
        .route("/portal/confirm", get(confirm))
        .route("/portal/login", get(login_form).post(login))
        .route("/portal/logout", post(logout))
        .route("/portal/logout-all", post(logout_all))
        .route("/portal/reset", get(reset_form).post(reset_request))
        .route(
            "/portal/reset/confirm",
            get(reset_confirm_form).post(reset_confirm),
        )
        .route("/portal/home", get(home))
        .route("/portal/apply", post(apply))
}

/// `/portal/`: the clinic's home when logged in, else the login page.
pub async fn index(user: Option<ClinicUser>) -> Redirect {
    if user.is_some() {
        Redirect::to("/portal/home")
    } else {
        Redirect::to("/portal/login")
    }
}

impl axum::extract::OptionalFromRequestParts<State> for ClinicUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &State,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Self as axum::extract::FromRequestParts<State>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

#[allow(clippy::wildcard_imports)]
use handlers::*;
pub use handlers::{normalise_email, normalise_phone, LoginOutcome, Registration};
