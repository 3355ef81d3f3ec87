//! The operator's pages: markup only.

use std::collections::HashMap;

use axum::http::header;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use onshi_store::{Clinic, Terminal, TerminalStatus};

use crate::auth::OperatorUser;
use crate::db::{self, Account, AccountStatus, Operator};
use crate::view::{self, csrf, field, respond, Nav, PageError};
use crate::Portal;

use super::queries::*;
use super::*;

/// A list's address with its query (empty values left out).
pub(super) fn list_link(path: &str, pairs: &[(&str, &str)]) -> String {
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
pub(super) fn pager(p: Paging, link: impl Fn(i64) -> String) -> Markup {
    html! {
        nav.pager aria-label="ページ送り" {
            span { "全" strong #total-count { (p.total) } "件" }
            span #page-of { (p.page) " / " (p.pages) " ページ" }
            @if p.page > 1 { a #prev-page href=(link(p.page - 1)) rel="prev" { "前へ" } }
            @if p.page < p.pages { a #next-page href=(link(p.page + 1)) rel="next" { "次へ" } }
        }
    }
}

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

pub(super) fn login_page(token: &str, login: &str, message: Option<&str>) -> Markup {
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

pub(super) fn operator_page(
    title: &str,
    operator: &Operator,
    user: &OperatorUser,
    body: Markup,
) -> Markup {
    view::page(
        title,
        Nav::Operator(&operator.name, &user.session.csrf),
        body,
    )
}

/// A list's status filter: none for empty, else one of [`STATUSES`].
pub(super) fn status_filter(s: &str) -> Result<Option<AccountStatus>, PageError> {
    match s.trim() {
        "" => Ok(None),
        s => AccountStatus::parse(s).map(Some).map_err(|_| {
            PageError::bad_request(
                "状況の指定が正しくありません（未申請・申請中・承認済み・差戻しから選んでください）。",
            )
        }),
    }
}

pub(super) fn optional_time(t: Option<DateTime<Utc>>) -> String {
    t.map(view::when).unwrap_or_else(|| "—".to_owned())
}

/// What the clinic page shows.
pub(super) struct ClinicDetail {
    pub(super) clinic: Clinic,
    pub(super) account: Option<Account>,
    pub(super) numbers: Vec<db::HeldNumber>,
    pub(super) terminals: Vec<Terminal>,
    pub(super) names: HashMap<String, crate::terminal_names::Named>,
}

pub(super) fn load_clinic(p: &Portal, clinic_id: i64) -> Result<ClinicDetail, PageError> {
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
pub(super) fn clinic_id(s: &str) -> Result<i64, PageError> {
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
pub(super) enum Said<'a> {
    Nothing,
    Done(&'a str),
    Problem(String),
}

pub(super) fn clinic_page(
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
pub(super) fn nothing_to_decide(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Registered => "審査待ちの申請はありません（施術所はまだ利用開始申請をしていません）。",
        AccountStatus::Applied => "審査待ちの申請があります。",
        AccountStatus::Approved => "審査待ちの申請はありません（承認済みです）。",
        AccountStatus::Rejected => "審査待ちの申請はありません（差戻し済みです。施術所が申請し直すと、ここで審査できます）。",
    }
}

/// A table of terminals, with their clinic (a link) when given.
pub(super) fn terminal_table<'a>(
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
        "link.release" => "カードのひも付けの保留解除",
        "link.hold" => "カードのひも付けの保留",
        other => other,
    }
}
