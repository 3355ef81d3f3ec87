//! The clinic's pages: markup only.

use std::collections::HashMap;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::db::TokenProblem;
use crate::view::{self, csrf, field, respond, Nav};

use super::handlers::*;
use super::*;

/// A page with the pre-login CSRF cookie set when new.
pub(super) fn with_cookie(markup: Markup, set: Option<String>) -> Response {
    let mut response = respond(markup);
    if let Some(c) = set {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

pub(super) fn registration_page(
    token: &str,
    r: &Registration,
    kinds: &[String],
    errors: &HashMap<&str, String>,
) -> Markup {
    let e = |k: &str| errors.get(k).map(String::as_str);
    view::page(
        "施術所の登録",
        Nav::Guest,
        html! {
            p { "オンライン資格確認（資格確認限定型）を利用する施術所の情報を登録します。登録後、確認のメールをお送りします。" }
            @if !errors.is_empty() {
                div.notice.error role="alert" #form-errors { p { "入力内容に誤りがあります。赤く示した項目を直してください。" } }
            }
            form method="post" action="/portal/register" novalidate {
                (csrf(token))
                (field("施術所名", "name", "text", &r.name, e("name")))
                fieldset.field.error[e("kinds").is_some()] {
                    legend { "施術所の種類（複数選択可）" }
                    @for (value, label) in KINDS {
                        label.check {
                            input type="checkbox" name="kinds" value=(value) checked[kinds.iter().any(|k| k == value)];
                            " " (label)
                        }
                    }
                    @if let Some(m) = e("kinds") { p.error-text { (m) } }
                }
                (field("院長（管理者）の氏名", "director", "text", &r.director, e("director")))
                p.hint { "受領委任の登録記号番号を、施術所の種類ごとに入力してください（柔道整復とあはきを併設している施術所は両方）。全角・ハイフンなしでも構いません。" }
                (field("柔道整復の登録記号番号（例: 協0123456-1-23 または 契0123456-1-23）", "registration", "text", &r.registration, e("registration")))
                (field("あん摩マッサージ指圧・はり・きゅうの登録記号番号（例: 契0123456-1-23）", "registration_ahaki", "text", &r.registration_ahaki, e("registration_ahaki")))
                (field("所在地", "address", "text", &r.address, e("address")))
                (field("電話番号", "phone", "tel", &r.phone, e("phone")))
                (field("メールアドレス（ログインに使います）", "email", "email", &r.email, e("email")))
                (field("パスワード（10文字以上）", "password", "password", "", e("password")))
                (field("パスワード（確認）", "password_confirm", "password", "", None))
                button.primary type="submit" { "登録する" }
            }
            p { "登録済みの方は " a href="/portal/login" { "ログイン" } }
        },
    )
}

pub(super) fn token_problem_text(p: TokenProblem) -> &'static str {
    match p {
        TokenProblem::Unknown => {
            "このリンクは正しくありません。メールのリンクをそのまま開いてください。"
        }
        TokenProblem::Used => "このリンクはすでに使われています。",
        TokenProblem::Expired => "このリンクは有効期限が切れています。",
    }
}

pub(super) fn login_page(token: &str, email: &str, message: Option<&str>) -> Markup {
    view::page(
        "ログイン",
        Nav::Guest,
        html! {
            @if let Some(m) = message { div.notice.error role="alert" #login-error { p { (m) } } }
            form method="post" action="/portal/login" {
                (csrf(token))
                (field("メールアドレス", "email", "email", email, None))
                (field("パスワード", "password", "password", "", None))
                button.primary type="submit" { "ログイン" }
            }
            p { a href="/portal/register" { "施術所の新規登録" } " ・ " a href="/portal/reset" { "パスワードを忘れた方" } }
        },
    )
}

/// The message for too many registrations from one address.
/// 429: too many registrations from this address; try again after `seconds`.
pub(super) fn registrations_throttled(seconds: u64) -> Response {
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.max(1).to_string())],
        respond(view::page(
            "施術所の登録",
            Nav::Guest,
            html! { div.notice.error role="alert" #register-throttled { p { (REGISTRATIONS_THROTTLED) } } },
        )),
    )
        .into_response()
}

pub(super) fn reset_page(token: &str, message: Option<&str>) -> Markup {
    view::page(
        "パスワードの再設定",
        Nav::Guest,
        html! {
            @if let Some(m) = message { div.notice.info role="status" #reset-sent { p { (m) } } }
            p { "登録したメールアドレスを入力してください。パスワードを再設定するリンクをお送りします。" }
            form method="post" action="/portal/reset" {
                (csrf(token))
                (field("メールアドレス", "email", "email", "", None))
                button.primary type="submit" { "送信" }
            }
        },
    )
}

pub(super) fn reset_confirm_page(
    form_token: &str,
    link_token: &str,
    message: Option<&str>,
) -> Markup {
    view::page(
        "新しいパスワードの設定",
        Nav::Guest,
        html! {
            @if let Some(m) = message { div.notice.error role="alert" { p { (m) } } }
            form method="post" action="/portal/reset/confirm" {
                (csrf(form_token))
                input type="hidden" name="token" value=(link_token);
                (field("新しいパスワード（10文字以上）", "password", "password", "", None))
                (field("新しいパスワード（確認）", "password_confirm", "password", "", None))
                button.primary type="submit" { "設定する" }
            }
        },
    )
}
