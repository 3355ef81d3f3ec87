//! The information pages and their forms (see [`super`]).

use axum::extract::{Path, Query, State as StateOf};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{Duration, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::queries::{self, Faq, Inquiry, Notice};
use super::{national_links, NEW_DAYS};
use crate::auth::{ClinicUser, OperatorUser};
use crate::db;
use crate::error::FieldError;
use crate::view::{self, csrf, field, respond, Nav, PageError};
use crate::{blocking, State};

/// The longest title or subject.
const MAX_TITLE_CHARS: usize = 100;
/// The longest body, question or answer.
const MAX_BODY_CHARS: usize = 4000;

/// Checked text: trimmed, not empty, at most `max` characters, no control characters but line
/// breaks and tabs.
fn text(typed: &str, label: &'static str, max: usize) -> Result<String, FieldError> {
    let s = typed.trim().replace("\r\n", "\n");
    let n = s.chars().count();
    if n == 0 {
        Err(FieldError::Required { label })
    } else if n > max {
        Err(FieldError::TooLong { label, max })
    } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        Err(FieldError::Character { label })
    } else {
        Ok(s)
    }
}

fn paragraphs(s: &str) -> Markup {
    html! { @for line in s.lines() { p { (line) } } }
}

/// The clinic's name and token when one is logged in (for the menu).
async fn clinic_nav(
    portal: &State,
    user: &Option<ClinicUser>,
) -> Result<Option<(String, String)>, PageError> {
    let Some(u) = user else { return Ok(None) };
    let clinic = u.clinic_id;
    let name = blocking(portal, move |p| {
        Ok(db::account(p.store.portal(), clinic)?.map(|a| a.name))
    })
    .await?;
    Ok(name.map(|n| (n, u.session.csrf.clone())))
}

fn nav(who: &Option<(String, String)>) -> Nav<'_> {
    match who {
        Some((name, token)) => Nav::Clinic(name, token),
        None => Nav::Guest,
    }
}

/// The notices as a list (on the notices page and the home page).
pub fn notice_list(notices: &[Notice]) -> Markup {
    html! {
        @for n in notices {
            article.notice-item id=(format!("notice-{}", n.id)) {
                h3 { (n.title) }
                p.when { (view::when_day(n.published_at)) }
                (paragraphs(&n.body))
            }
        }
    }
}

/// The new notices (the last [`NEW_DAYS`] days), for the clinic's home page.
pub fn new_notices(p: &crate::Portal) -> Result<Vec<Notice>, PageError> {
    Ok(queries::notices(
        p.store.portal(),
        5,
        Some(Utc::now() - Duration::days(NEW_DAYS)),
    )?)
}

/// GET `/portal/notices`.
pub(super) async fn notices(
    StateOf(portal): StateOf<State>,
    user: Option<ClinicUser>,
) -> Result<Response, PageError> {
    let who = clinic_nav(&portal, &user).await?;
    let list = blocking(&portal, |p| {
        Ok(queries::notices(p.store.portal(), 100, None)?)
    })
    .await?;
    Ok(respond(view::page(
        "お知らせ",
        nav(&who),
        html! {
            section.card #notices {
                @if list.is_empty() { p #no-notices { "お知らせはまだありません。" } }
                (notice_list(&list))
            }
            (national_links())
        },
    )))
}

/// GET `/portal/faq`.
pub(super) async fn faq(
    StateOf(portal): StateOf<State>,
    user: Option<ClinicUser>,
) -> Result<Response, PageError> {
    let who = clinic_nav(&portal, &user).await?;
    let list = blocking(&portal, |p| Ok(queries::faq(p.store.portal())?)).await?;
    Ok(respond(view::page(
        "よくある質問",
        nav(&who),
        html! {
            section.card #faq {
                @for f in &list {
                    article.faq id=(format!("faq-{}", f.id)) {
                        h3 { "Q. " (f.question) }
                        div.answer { (paragraphs(&format!("A. {}", f.answer))) }
                    }
                }
            }
            p { "解決しない場合は " a href="/portal/contact" { "問い合わせフォーム" } "（ログインが必要です）からお問い合わせください。" }
            (national_links())
        },
    )))
}

/// The contact form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    /// Only from someone not logged in.
    #[serde(default)]
    email: String,
}

fn contact_page(
    name: &str,
    token: &str,
    form: &ContactForm,
    errors: &[(&str, String)],
    sent: bool,
    mine: &[Inquiry],
) -> Markup {
    let e = |k: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == k)
            .map(|(_, m)| m.as_str())
    };
    view::page(
        "問い合わせ",
        Nav::Clinic(name, token),
        html! {
            @if sent { div.notice.info role="status" #contact-sent { p { "お問い合わせを受け付けました。回答はメールとホーム画面でお知らせします。" } } }
            p { "補助金の申請や端末の登録について、実施機関にお問い合わせいただけます。先に " a href="/portal/faq" { "よくある質問" } " もご覧ください。" }
            form #contact-form method="post" action="/portal/contact" novalidate {
                (csrf(token))
                (field("件名", "subject", "text", &form.subject, e("subject")))
                div.field.error[e("body").is_some()] {
                    label for="body" { "お問い合わせの内容" }
                    textarea #body name="body" rows="8" { (form.body) }
                    @if let Some(m) = e("body") { p.error-text { (m) } }
                }
                button.primary type="submit" { "送信する" }
            }
            @if !mine.is_empty() {
                section.card #my-inquiries {
                    h2 { "これまでのお問い合わせ" }
                    @for i in mine {
                        article.inquiry {
                            h3 { (i.subject) }
                            p.when { (view::when_day(i.created_at)) }
                            (paragraphs(&i.body))
                            @match &i.reply {
                                Some(r) => div.reply { p { strong { "回答" } } (paragraphs(r)) },
                                None => p { "回答をお待ちください。" },
                            }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Sent {
    #[serde(default)]
    done: String,
}

/// The contact form of someone not logged in (an account to recover): with the address the
/// answer goes to.
fn guest_contact_page(
    token: &str,
    form: &ContactForm,
    errors: &[(&str, String)],
    sent: bool,
) -> Markup {
    let e = |k: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == k)
            .map(|(_, m)| m.as_str())
    };
    view::page(
        "問い合わせ",
        Nav::Guest,
        html! {
            @if sent { div.notice.info role="status" #contact-sent { p { "お問い合わせを受け付けました。回答はメールでお送りします。" } } }
            p { "ログインできない場合（登録記号番号が別のアカウントで登録されている、登録したメールアドレスが使えない等）は、このフォームから実施機関にお問い合わせください。ログインできる場合は、ログインしてからお問い合わせください。" }
            form #contact-form method="post" action="/portal/contact" novalidate {
                (csrf(token))
                (field("回答を受け取るメールアドレス", "email", "email", &form.email, e("email")))
                (field("件名", "subject", "text", &form.subject, e("subject")))
                div.field.error[e("body").is_some()] {
                    label for="body" { "お問い合わせの内容（施術所名、登録記号番号など）" }
                    textarea #body name="body" rows="8" { (form.body) }
                    @if let Some(m) = e("body") { p.error-text { (m) } }
                }
                button.primary type="submit" { "送信する" }
            }
        },
    )
}

fn with_cookie(markup: Markup, set: Option<String>) -> Response {
    let mut response = respond(markup);
    if let Some(c) = set.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, c);
    }
    response
}

/// GET `/portal/contact`.
pub(super) async fn contact_form(
    StateOf(portal): StateOf<State>,
    user: Option<ClinicUser>,
    headers: HeaderMap,
    Query(q): Query<Sent>,
) -> Result<Response, PageError> {
    let Some(user) = user else {
        let (token, set) = crate::auth::form_token(&headers)?;
        return Ok(with_cookie(
            guest_contact_page(&token, &ContactForm::default(), &[], q.done == "sent"),
            set,
        ));
    };
    let clinic = user.clinic_id;
    let (name, mine) = blocking(&portal, move |p| {
        let db = p.store.portal();
        let name = db::account(db, clinic)?
            .ok_or_else(PageError::not_found)?
            .name;
        Ok((name, queries::inquiries_of(db, clinic)?))
    })
    .await?;
    Ok(respond(contact_page(
        &name,
        &user.session.csrf,
        &ContactForm::default(),
        &[],
        q.done == "sent",
        &mine,
    )))
}

/// POST `/portal/contact` from someone not logged in.
async fn guest_contact(
    portal: State,
    addr: std::net::IpAddr,
    headers: &HeaderMap,
    f: ContactForm,
) -> Result<Response, PageError> {
    crate::auth::check_form_token(headers, &f.csrf)?;
    let email = crate::clinic::normalise_email(&f.email);
    let subject = text(&f.subject, "件名", MAX_TITLE_CHARS);
    let body = text(&f.body, "お問い合わせの内容", MAX_BODY_CHARS);
    if let (Ok(email), Ok(subject), Ok(body)) = (&email, &subject, &body) {
        // Guests' questions share the registrations' in-memory gate per address.
        if !portal
            .registration_gate
            .allow(&addr.to_string(), std::time::Instant::now())
        {
            return Err(PageError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "お問い合わせが多すぎます。しばらくしてからもう一度お試しください。"
                    .to_owned(),
            });
        }
        let (email, subject, body) = (email.clone(), subject.clone(), body.clone());
        blocking(&portal, move |p| {
            Ok(queries::ask_as_guest(
                p.store.portal(),
                &email,
                &subject,
                &body,
                Utc::now(),
            )?)
        })
        .await?;
        return Ok(Redirect::to("/portal/contact?done=sent").into_response());
    }
    let mut errors = Vec::new();
    for (k, r) in [("email", email), ("subject", subject), ("body", body)] {
        if let Err(m) = r {
            errors.push((k, m.to_string()));
        }
    }
    Ok((
        StatusCode::BAD_REQUEST,
        respond(guest_contact_page(&f.csrf, &f, &errors, false)),
    )
        .into_response())
}

/// POST `/portal/contact`.
pub(super) async fn contact(
    StateOf(portal): StateOf<State>,
    user: Option<ClinicUser>,
    axum::Extension(addr): axum::Extension<onshi_server::serve::PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<ContactForm>,
) -> Result<Response, PageError> {
    let Some(user) = user else {
        return guest_contact(portal, addr.0.ip(), &headers, f).await;
    };
    user.session.check_csrf(&f.csrf)?;
    let subject = text(&f.subject, "件名", MAX_TITLE_CHARS);
    let body = text(&f.body, "お問い合わせの内容", MAX_BODY_CHARS);
    let clinic = user.clinic_id;
    match (subject, body) {
        (Ok(subject), Ok(body)) => {
            blocking(&portal, move |p| {
                Ok(queries::ask(
                    p.store.portal(),
                    clinic,
                    &subject,
                    &body,
                    Utc::now(),
                )?)
            })
            .await?;
            Ok(Redirect::to("/portal/contact?done=sent").into_response())
        }
        (s, b) => {
            let mut errors = Vec::new();
            if let Err(m) = s {
                errors.push(("subject", m.to_string()));
            }
            if let Err(m) = b {
                errors.push(("body", m.to_string()));
            }
            let (name, mine) = blocking(&portal, move |p| {
                let db = p.store.portal();
                let name = db::account(db, clinic)?
                    .ok_or_else(PageError::not_found)?
                    .name;
                Ok((name, queries::inquiries_of(db, clinic)?))
            })
            .await?;
            Ok((
                StatusCode::BAD_REQUEST,
                respond(contact_page(
                    &name,
                    &user.session.csrf,
                    &f,
                    &errors,
                    false,
                    &mine,
                )),
            )
                .into_response())
        }
    }
}

async fn operator_name(portal: &State, user: &OperatorUser) -> Result<String, PageError> {
    let id = user.operator_id;
    blocking(portal, move |p| {
        Ok(db::operator(p.store.portal(), id)?
            .map(|o| o.name)
            .unwrap_or_default())
    })
    .await
}

/// The notice form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct NoticeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

/// GET `/portal/operator/notices`.
pub(super) async fn operator_notices(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
) -> Result<Response, PageError> {
    let name = operator_name(&portal, &user).await?;
    let list = blocking(&portal, |p| {
        Ok(queries::notices(p.store.portal(), 100, None)?)
    })
    .await?;
    Ok(respond(operator_notices_page(
        &name,
        &user.session.csrf,
        &list,
        &NoticeForm::default(),
        None,
    )))
}

fn operator_notices_page(
    name: &str,
    token: &str,
    list: &[Notice],
    form: &NoticeForm,
    error: Option<&str>,
) -> Markup {
    view::page(
        "お知らせの管理",
        Nav::Operator(name, token),
        html! {
            section.card #post-notice {
                h2 { "お知らせを掲載する" }
                @if let Some(e) = error { div.notice.error role="alert" { p { (e) } } }
                form #notice-form method="post" action="/portal/operator/notices" {
                    (csrf(token))
                    (field("件名", "title", "text", &form.title, None))
                    div.field { label for="body" { "本文" } textarea #body name="body" rows="8" { (form.body) } }
                    button.primary type="submit" { "掲載する" }
                }
                p { "掲載すると、すべての施術所が読めます（ホーム画面には" (NEW_DAYS) "日間、新着として表示されます）。" }
            }
            section.card { h2 { "掲載中のお知らせ" } (notice_list(list)) }
        },
    )
}

/// POST `/portal/operator/notices`.
pub(super) async fn post_notice(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Form(f): Form<NoticeForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let checked = text(&f.title, "件名", MAX_TITLE_CHARS)
        .and_then(|t| text(&f.body, "本文", MAX_BODY_CHARS).map(|b| (t, b)));
    let operator = user.operator_id;
    match checked {
        Ok((title, body)) => {
            blocking(&portal, move |p| {
                Ok(queries::post_notice(
                    p.store.portal(),
                    operator,
                    &title,
                    &body,
                    Utc::now(),
                )?)
            })
            .await?;
            Ok(Redirect::to("/portal/operator/notices").into_response())
        }
        Err(m) => {
            let name = operator_name(&portal, &user).await?;
            let list = blocking(&portal, |p| {
                Ok(queries::notices(p.store.portal(), 100, None)?)
            })
            .await?;
            Ok((
                StatusCode::BAD_REQUEST,
                respond(operator_notices_page(
                    &name,
                    &user.session.csrf,
                    &list,
                    &f,
                    Some(&m.to_string()),
                )),
            )
                .into_response())
        }
    }
}

/// The FAQ form: `id` empty adds; `delete` set removes.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FaqForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    question: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    delete: String,
}

fn faq_entry(token: &str, f: Option<&Faq>) -> Markup {
    html! {
        form.faq-edit method="post" action="/portal/operator/faq" {
            (csrf(token))
            @if let Some(f) = f { input type="hidden" name="id" value=(f.id); }
            (field("表示順", "position", "text", &f.map_or("100".to_owned(), |f| f.position.to_string()), None))
            (field("質問", "question", "text", f.map_or("", |f| f.question.as_str()), None))
            div.field { label { "回答" } textarea name="answer" rows="4" { (f.map_or("", |f| f.answer.as_str())) } }
            button.primary type="submit" { @if f.is_some() { "保存する" } @else { "追加する" } }
            @if f.is_some() { " " button.danger type="submit" name="delete" value="1" { "削除する" } }
        }
    }
}

/// GET `/portal/operator/faq`.
pub(super) async fn operator_faq(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
) -> Result<Response, PageError> {
    let name = operator_name(&portal, &user).await?;
    let list = blocking(&portal, |p| Ok(queries::faq(p.store.portal())?)).await?;
    let token = &user.session.csrf;
    Ok(respond(view::page(
        "よくある質問の編集",
        Nav::Operator(&name, token),
        html! {
            p { "施術所に表示する「よくある質問」です。最初の版は厚生労働省の通知から作成しています。" }
            @for f in &list { section.card { (faq_entry(token, Some(f))) } }
            section.card #faq-new { h2 { "質問を追加する" } (faq_entry(token, None)) }
        },
    )))
}

/// POST `/portal/operator/faq`.
pub(super) async fn edit_faq(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Form(f): Form<FaqForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let id = match f.id.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| PageError::not_found())?),
    };
    let entry = if f.delete.is_empty() {
        let position = f
            .position
            .trim()
            .parse::<i64>()
            .map_err(|_| PageError::bad_request("表示順は数字で入力してください。"))?;
        let q = text(&f.question, "質問", MAX_TITLE_CHARS * 2)
            .map_err(|m| PageError::bad_request(&m.to_string()))?;
        let a = text(&f.answer, "回答", MAX_BODY_CHARS)
            .map_err(|m| PageError::bad_request(&m.to_string()))?;
        Some((position, q, a))
    } else {
        None
    };
    let operator = user.operator_id;
    let done = blocking(&portal, move |p| {
        Ok(queries::edit_faq(
            p.store.portal(),
            operator,
            id,
            entry.as_ref().map(|(p, q, a)| (*p, q.as_str(), a.as_str())),
            Utc::now(),
        )?)
    })
    .await?;
    if !done {
        return Err(PageError::not_found());
    }
    Ok(Redirect::to("/portal/operator/faq").into_response())
}

/// GET `/portal/operator/inquiries`.
pub(super) async fn inbox(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
) -> Result<Response, PageError> {
    let name = operator_name(&portal, &user).await?;
    let list = blocking(&portal, |p| Ok(queries::inbox(p.store.portal())?)).await?;
    let token = &user.session.csrf;
    Ok(respond(view::page(
        "問い合わせ",
        Nav::Operator(&name, token),
        html! {
            @if list.is_empty() { p #no-inquiries { "問い合わせはありません。" } }
            @for i in &list {
                section.card.inquiry id=(format!("inquiry-{}", i.id)) {
                    h2 { (i.subject) }
                    p.when {
                        @match i.clinic_id {
                            Some(c) => a href=(format!("/portal/operator/clinics/{c}")) { (i.clinic_name) },
                            None => { "ログイン前の問い合わせ: " (i.clinic_name) },
                        }
                        " ・ " (view::when_day(i.created_at))
                    }
                    (paragraphs(&i.body))
                    @match (&i.reply, i.replied_at) {
                        (Some(r), Some(at)) => div.reply { p { strong { "回答済み（" (view::when_day(at)) "）" } } (paragraphs(r)) },
                        _ => form id=(format!("reply-{}", i.id)) method="post" action=(format!("/portal/operator/inquiries/{}/reply", i.id)) {
                            (csrf(token))
                            div.field { label { "回答（施術所にメールで送ります）" } textarea name="reply" rows="5" {} }
                            button.primary type="submit" { "回答する" }
                        },
                    }
                }
            }
        },
    )))
}

/// The reply form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reply: String,
}

/// POST `/portal/operator/inquiries/{id}/reply`.
pub(super) async fn reply(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<ReplyForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let id = id.parse::<i64>().map_err(|_| PageError::not_found())?;
    let text = text(&f.reply, "回答", MAX_BODY_CHARS)
        .map_err(|m| PageError::bad_request(&m.to_string()))?;
    let operator = user.operator_id;
    let done = blocking(&portal, move |p| {
        Ok(queries::reply(
            p.store.portal(),
            operator,
            id,
            &text,
            Utc::now(),
        )?)
    })
    .await?;
    if !done {
        return Err(PageError::bad_request(
            "この問い合わせはないか、すでに回答済みです。",
        ));
    }
    Ok(Redirect::to("/portal/operator/inquiries").into_response())
}
