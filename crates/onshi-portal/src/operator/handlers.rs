//! The operator's handlers: login, logout, the dashboard, clinics, decisions, terminals, audit.

use axum::extract::{Path, Query, State as StateOf};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use maud::html;
use onshi_store::TerminalStatus;
use serde::Deserialize;

use crate::auth::{self, OperatorUser};
use crate::clinic::LoginOutcome;
use crate::db::{self, AccountStatus, Operator, Role};
use crate::view::{self, respond, PageError};
use crate::{blocking, Portal, State};

use super::pages::*;
use super::queries::*;
use super::*;
// ---------------------------------------------------------------------------------------------
// Login and logout.

pub(super) async fn login_form(headers: HeaderMap) -> Result<Response, PageError> {
    let (token, set) = auth::form_token(&headers)?;
    Ok(with_cookie(login_page(&token, "", None), set))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: zeroize::Zeroizing<String>,
    #[serde(default)]
    code: String,
}

pub(super) const WRONG: &str = "ログイン名またはパスワードが違います。";
pub(super) const WRONG_CODE: &str =
    "確認コードが違うか、すでに使われています。認証アプリの新しいコードを入力してください。";
pub(super) const NO_TOTP: &str = "このアカウントには確認コード（二要素認証）が設定されていません。管理者に onshi admin operator totp での設定を依頼してください。";

pub(super) async fn login(
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
pub(super) async fn login_operator(
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
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout(
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
pub(super) async fn with_operator<T: Send + 'static>(
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

pub(super) async fn dashboard(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
) -> Result<Response, PageError> {
    let (operator, (counts, links_held, links_name_only)) = with_operator(&portal, &user, |p| {
        let mut c = counts(p.store.portal())?;
        let checks = p.store.checks_since(start_of_day_jst(Utc::now()))?;
        c.checks_today = i64::try_from(checks).unwrap_or(i64::MAX);
        let links = onshi_store::link_checks::link_status_counts(p.store.portal())?;
        let of = |wanted: &[onshi_store::link_checks::LinkStatus]| {
            links
                .iter()
                .filter(|(s, _)| wanted.contains(s))
                .map(|(_, n)| *n)
                .sum::<u64>()
        };
        use onshi_store::link_checks::LinkStatus;
        Ok((
            c,
            of(&[LinkStatus::Held, LinkStatus::HeldByOperator]),
            of(&[LinkStatus::NameOnly]),
        ))
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
                div { "保留中のカードのひも付け" strong #count-links-held { (links_held) } a href="/portal/operator/links" { "確認する" } }
                div { "氏名の表記だけ違うひも付け" strong #count-links-name-only { (links_name_only) } a href="/portal/operator/links" { "一覧" } }
            }
            section.card {
                h2 { "業務" }
                ul {
                    li { a href="/portal/operator/clinics?status=applied" { "利用開始申請の審査" } }
                    li { a href="/portal/operator/clinics" { "施術所の検索" } }
                    li { a href="/portal/operator/terminals" { "端末の一覧" } }
                    li { a href="/portal/operator/claims" { "補助金申請の審査" } }
                    li { a href="/portal/operator/links" { "カードのひも付けの確認（保留・表記の違い）" } }
                    li { a href="/portal/operator/audit" { "操作記録" } }
                }
            }
        },
    )))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

pub(super) const STATUSES: [AccountStatus; 4] = [
    AccountStatus::Registered,
    AccountStatus::Applied,
    AccountStatus::Approved,
    AccountStatus::Rejected,
];

pub(super) async fn clinics(
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

#[derive(Debug, Default, Deserialize)]
pub(super) struct ClinicQuery {
    #[serde(default)]
    done: String,
}

pub(super) async fn clinic(
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
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn approve(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, PageError> {
    decide(portal, user, &id, true, f).await
}

pub(super) async fn reject(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, PageError> {
    decide(portal, user, &id, false, f).await
}

pub(super) async fn decide(
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
pub(super) async fn revoke_terminal(
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

pub(super) async fn terminals(
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

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    page: String,
}

pub(super) async fn audit(
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
