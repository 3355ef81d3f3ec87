//! The operator's review of claims: the list (status filter, search by clinic name or
//! registration number, 20 a page), a claim with its receipts, the decisions (approve with an
//! amount up to the computed grant, return with a reason, mark paid — each audited in its
//! transaction), the receipts, and the CSV of approved claims for payment.

use axum::extract::{Path, Query, State as StateOf};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::clinic::{about, grant_rule, id_from_path, refusal_error, CsrfForm, Done};
use super::receipt::{self, size_label};
use super::store::{self, ExportRow, ListFilter, Refusal, Review};
use super::{parse_amount, Rates, Status, MAX_REASON_CHARS};
use crate::auth::OperatorUser;
use crate::db;
use crate::error::FieldError;
use crate::view::{self, csrf, field, respond, when, yen, Nav, PageError};
use crate::{blocking, jst, State};

/// Claims a page of the list shows.
pub const PAGE_SIZE: i64 = 20;

pub(super) fn operator_name(p: &crate::Portal, operator_id: i64) -> Result<String, PageError> {
    Ok(db::operator(p.store.portal(), operator_id)?
        .map(|o| o.name)
        .unwrap_or_default())
}

fn claim_path(id: i64) -> String {
    format!("/portal/operator/claims/{id}")
}

/// `?status=&q=&page=` of the list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
}

fn list_url(status: &str, q: &str, page: i64) -> String {
    let query =
        serde_urlencoded::to_string([("status", status), ("q", q), ("page", &page.to_string())])
            .unwrap_or_default();
    format!("/portal/operator/claims?{query}")
}

/// GET `/portal/operator/claims`.
pub(super) async fn list(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let status = Status::parse(&query.status).ok();
    let status_word = status.map_or("", Status::as_str).to_owned();
    let q: String = query
        .q
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let page = query
        .page
        .trim()
        .parse::<i64>()
        .unwrap_or(1)
        .clamp(1, 100_000);
    let filter = ListFilter {
        status,
        q: q.clone(),
    };
    let operator = user.operator_id;
    let (name, count, rows) = blocking(&portal, move |p| {
        let name = operator_name(p, operator)?;
        let (count, rows) =
            store::list(p.store.portal(), &filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
        Ok((name, count, rows))
    })
    .await?;
    let pages = ((count + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let token = &user.session.csrf;
    Ok(respond(view::page(
        "補助金申請の審査",
        Nav::Operator(&name, token),
        html! {
            form #claims-search method="get" action="/portal/operator/claims" {
                div.field {
                    label for="status" { "状態" }
                    select #status name="status" {
                        option value="" selected[status.is_none()] { "すべて（作成中を除く）" }
                        @for s in Status::ALL {
                            option value=(s.as_str()) selected[status == Some(s)] { (s.label()) }
                        }
                    }
                }
                (field("施術所名または登録記号番号", "q", "text", &q, None))
                button.primary type="submit" { "検索" }
            }
            p {
                a.button #claims-export href="/portal/operator/claims.csv" { "承認済み・支払済みの申請をCSVで出力（支払用）" }
                " "
                a.button #claims-payment href="/portal/operator/payment" { "全銀協 総合振込ファイル" }
            }
            p #claims-count { (count) "件" @if count > 0 { "（" (page) " / " (pages) " ページ）" } }
            @if rows.is_empty() {
                p #claims-empty { "該当する申請はありません。" }
            } @else {
                table #claims-table {
                    thead { tr {
                        th { "申請ID" } th { "施術所名" } th { "登録記号番号" } th { "種類" } th { "状態" }
                        th.num { "明細" } th.num { "合計" } th.num { "申請額" } th.num { "承認額" } th { "提出日時" }
                    } }
                    tbody {
                        @for r in &rows {
                            tr id=(format!("claim-row-{}", r.claim.id)) {
                                td { a href=(claim_path(r.claim.id)) { (r.claim.id) } }
                                td { a href=(claim_path(r.claim.id)) { (r.clinic_name) } }
                                td { (r.registration) }
                                td { (r.claim.kind.label()) }
                                td { (r.claim.status.label()) }
                                td.num { (r.items) }
                                td.num { (yen(r.total)) }
                                td.num { @if r.claim.status != Status::Draft { (yen(r.claim.requested_amount)) } }
                                td.num { @if let Some(a) = r.claim.approved_amount { (yen(a)) } }
                                td { @if let Some(t) = r.claim.submitted_at { (when(t)) } }
                            }
                        }
                    }
                }
            }
            nav.pager {
                @if page > 1 { a #pager-prev href=(list_url(&status_word, &q, page - 1)) { "← 前のページ" } }
                @if page < pages { a #pager-next href=(list_url(&status_word, &q, page + 1)) { "次のページ →" } }
            }
        },
    )))
}

/// What the detail page shows besides the claim.
#[derive(Default)]
struct DetailForm {
    amount: Option<String>,
    reason: String,
    error: Option<String>,
    done: Option<&'static str>,
}

fn render_detail(
    s: &crate::Settings,
    name: &str,
    token: &str,
    r: &Review,
    form: &DetailForm,
) -> Markup {
    let rates = Rates::of(s);
    let c = &r.claim;
    let total = store::total(&r.items);
    let grant = rates.grant(c.kind, total);
    let title = format!("補助金申請 {}（{}）", c.id, c.kind.label());
    let base = claim_path(c.id);
    view::page(
        &title,
        Nav::Operator(name, token),
        html! {
            @if let Some(d) = form.done { div.notice.info #claim-done role="status" { p { (d) } } }
            @if let Some(e) = &form.error { div.notice.error #claim-error role="alert" { p { (e) } } }
            section.card #claim {
                h2 { "申請の内容" }
                dl {
                    dt { "申請ID" } dd #claim-id { (c.id) }
                    dt { "施術所" } dd #claim-clinic { (r.clinic_name) "（施術所ID " (c.clinic_id) "）" }
                    dt { "登録記号番号" } dd #claim-registration { (r.registration) }
                    dt { "補助の種類" } dd #claim-kind { (c.kind.label()) }
                    dt { "状態" } dd #claim-status { (c.status.label()) }
                    @if let Some(t) = c.submitted_at { dt { "提出日時" } dd { (when(t)) } }
                    dt { "領収書の合計" } dd #claim-total { (yen(total)) }
                    dt { "補助額（計算）" } dd.grant #claim-grant { (yen(grant)) }
                    @if c.status != Status::Draft { dt { "申請額" } dd #claim-requested { (yen(c.requested_amount)) } }
                    @if let Some(a) = c.approved_amount { dt { "承認額" } dd.grant #claim-approved { (yen(a)) } }
                    @if let Some(t) = c.decided_at { dt { "審査日時" } dd { (when(t)) } }
                    @if let Some(t) = c.paid_at { dt { "支払日時" } dd #claim-paid-at { (when(t)) } }
                }
                p #claim-grant-rule { (grant_rule(c.kind, &rates)) }
                (super::clinic::computation(c.kind, &rates, total))
                h3 { "振込先の口座" }
                @match &c.account {
                    Some(a) => dl #claim-account-shown {
                        dt { "金融機関" } dd { (a.bank_name) "（" (a.bank_code) "）" }
                        dt { "支店" } dd { (a.branch_name) "（" (a.branch_code) "）" }
                        dt { "預金種目" } dd { (a.kind.label()) }
                        dt { "口座番号" } dd { (a.number) }
                        dt { "口座名義" } dd #claim-account-holder { (a.holder) }
                    },
                    None => p { "未登録" },
                }
                h3 { "添付書類" }
                ul #claim-documents {
                    @for role in store::DocumentRole::ALL {
                        li {
                            (role.label()) ": "
                            @if r.documents.iter().any(|d| d.role == role) {
                                a href=(format!("{base}/documents/{}", role.as_str())) target="_blank" rel="noopener" { "開く" }
                            } @else { "未登録" }
                        }
                    }
                }
                @if c.status == Status::Submitted && c.requested_amount != grant {
                    div.notice.warn #claim-grant-changed {
                        p { "申請時の補助額（" (yen(c.requested_amount)) "）と、いまの設定での計算（" (yen(grant)) "）が違います。承認額は計算した補助額までです。" }
                    }
                }
                @if let Some(reason) = &c.return_reason {
                    @if c.status == Status::Returned {
                        div.notice.warn #claim-return-reason { p { "差戻しの理由: " (reason) } }
                    } @else {
                        p #claim-previous-return { "前回の差戻しの理由: " (reason) }
                    }
                }
            }
            details.card {
                summary { "補助の内容（施術所に表示している説明）" }
                (about(c.kind, s))
            }
            section.card #claim-items-section {
                h2 { "領収書の明細" }
                @if r.items.is_empty() {
                    p #claim-no-items { "明細はありません。" }
                } @else {
                    table #claim-items {
                        thead { tr { th { "購入日" } th { "購入先" } th { "品名・内容" } th.num { "金額" } th { "領収書" } } }
                        tbody {
                            @for i in &r.items {
                                @let href = format!("{base}/items/{}/receipt", i.id);
                                tr id=(format!("item-{}", i.id)) {
                                    td { (i.purchased_on) }
                                    td { (i.vendor) }
                                    td { (i.description) }
                                    td.num { (yen(i.amount)) }
                                    td {
                                        a id=(format!("receipt-link-{}", i.id)) href=(href) target="_blank" rel="noopener" { (i.receipt_name) }
                                        " (" (i.receipt_type.label()) "、" (size_label(i.receipt_size)) ")"
                                        @if i.receipt_type.is_image() {
                                            br;
                                            a href=(href) target="_blank" rel="noopener" {
                                                img id=(format!("receipt-preview-{}", i.id)) src=(href) alt=(format!("領収書の画像: {}", i.receipt_name)) width="320" loading="lazy";
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        tfoot { tr { th colspan="3" { "合計" } td.num { (yen(total)) } td {} } }
                    }
                }
            }
            @match c.status {
                Status::Submitted => {
                    section.card #claim-approve {
                        h2 { "承認する" }
                        form #approve-form method="post" action=(format!("{base}/approve")) {
                            (csrf(token))
                            (field(&format!("承認額（円、{}まで）", yen(grant)), "amount", "text", form.amount.as_deref().unwrap_or(&grant.to_string()), None))
                            button.primary type="submit" { "この額で承認する" }
                        }
                    }
                    section.card #claim-return {
                        h2 { "差し戻す" }
                        form #return-form method="post" action=(format!("{base}/return")) {
                            (csrf(token))
                            div.field {
                                label for="reason" { "差戻しの理由（施術所に表示されます。必須）" }
                                textarea #reason name="reason" rows="4" maxlength=(MAX_REASON_CHARS) { (form.reason) }
                            }
                            button.danger type="submit" { "差し戻す" }
                        }
                    }
                }
                Status::Approved => {
                    section.card #claim-pay {
                        h2 { "支払" }
                        form #paid-form method="post" action=(format!("{base}/paid")) {
                            (csrf(token))
                            p { "承認額 " (yen(c.approved_amount.unwrap_or_default())) " を支払ったら、支払済みにしてください。" }
                            button.primary type="submit" { "支払済みにする" }
                        }
                    }
                }
                Status::Draft => p { "施術所が作成中の申請です（未提出）。" },
                Status::Returned => p { "施術所の修正・再提出を待っています。" },
                Status::Paid => p { "支払済みです。" },
            }
            p { a href="/portal/operator/claims" { "申請の一覧へ戻る" } }
        },
    )
}

async fn detail_response(
    portal: &State,
    user: &OperatorUser,
    claim_id: i64,
    form: DetailForm,
    status: StatusCode,
) -> Result<Response, PageError> {
    let operator = user.operator_id;
    let (name, review) = blocking(portal, move |p| {
        Ok((
            operator_name(p, operator)?,
            store::review(p.store.portal(), claim_id)?,
        ))
    })
    .await?;
    let review = review.ok_or_else(PageError::not_found)?;
    Ok((
        status,
        respond(render_detail(
            &portal.settings,
            &name,
            &user.session.csrf,
            &review,
            &form,
        )),
    )
        .into_response())
}

fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "approved" => Some("承認しました。"),
        "returned" => Some("差し戻しました。"),
        "paid" => Some("支払済みにしました。"),
        _ => None,
    }
}

/// GET `/portal/operator/claims/{id}`.
pub(super) async fn detail(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let id = id_from_path(&id)?;
    let form = DetailForm {
        done: done_message(&done.done),
        ..DetailForm::default()
    };
    detail_response(&portal, &user, id, form, StatusCode::OK).await
}

/// The approval form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
}

/// The return form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReturnForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Shows a refused decision on the claim's page (400), or a missing claim (404).
async fn refused(
    portal: &State,
    user: &OperatorUser,
    id: i64,
    r: Refusal,
    form: DetailForm,
) -> Result<Response, PageError> {
    if r == Refusal::NotFound {
        return Err(PageError::not_found());
    }
    let form = DetailForm {
        error: Some(refusal_error(r).message),
        ..form
    };
    detail_response(portal, user, id, form, StatusCode::BAD_REQUEST).await
}

/// POST `/portal/operator/claims/{id}/approve`.
pub(super) async fn approve(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<ApproveForm>,
) -> Result<Response, PageError> {
    let id = id_from_path(&id)?;
    user.session.check_csrf(&f.csrf)?;
    let amount = match parse_amount(&f.amount) {
        Ok(a) => a,
        Err(m) => {
            let form = DetailForm {
                amount: Some(f.amount.clone()),
                error: Some(format!("承認額: {m}")),
                ..DetailForm::default()
            };
            return detail_response(&portal, &user, id, form, StatusCode::BAD_REQUEST).await;
        }
    };
    let operator = user.operator_id;
    let outcome = blocking(&portal, move |p| {
        let rates = Rates::of(&p.settings);
        Ok(store::approve(
            p.store.portal(),
            operator,
            id,
            amount,
            &rates,
            Utc::now(),
        )?)
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("{}?done=approved", claim_path(id))).into_response()),
        Err(r) => {
            let form = DetailForm {
                amount: Some(f.amount.clone()),
                ..DetailForm::default()
            };
            refused(&portal, &user, id, r, form).await
        }
    }
}

/// A reason as typed: required, at most [`MAX_REASON_CHARS`], line breaks allowed.
pub fn parse_reason(s: &str) -> Result<String, FieldError> {
    const LABEL: &str = "差戻しの理由";
    let t = s.trim().replace("\r\n", "\n");
    let n = t.chars().count();
    if n == 0 {
        Err(FieldError::Required { label: LABEL })
    } else if n > MAX_REASON_CHARS {
        Err(FieldError::TooLong {
            label: LABEL,
            max: MAX_REASON_CHARS,
        })
    } else if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        Err(FieldError::Character { label: LABEL })
    } else {
        Ok(t)
    }
}

/// POST `/portal/operator/claims/{id}/return`.
pub(super) async fn return_claim(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<ReturnForm>,
) -> Result<Response, PageError> {
    let id = id_from_path(&id)?;
    user.session.check_csrf(&f.csrf)?;
    let reason = match parse_reason(&f.reason) {
        Ok(r) => r,
        Err(m) => {
            let form = DetailForm {
                reason: f.reason.clone(),
                error: Some(m.to_string()),
                ..DetailForm::default()
            };
            return detail_response(&portal, &user, id, form, StatusCode::BAD_REQUEST).await;
        }
    };
    let operator = user.operator_id;
    let outcome = blocking(&portal, move |p| {
        Ok(store::return_claim(
            p.store.portal(),
            operator,
            id,
            &reason,
            Utc::now(),
        )?)
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("{}?done=returned", claim_path(id))).into_response()),
        Err(r) => refused(&portal, &user, id, r, DetailForm::default()).await,
    }
}

/// POST `/portal/operator/claims/{id}/paid`.
pub(super) async fn paid(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let id = id_from_path(&id)?;
    user.session.check_csrf(&f.csrf)?;
    let operator = user.operator_id;
    let outcome = blocking(&portal, move |p| {
        Ok(store::mark_paid(
            p.store.portal(),
            operator,
            id,
            Utc::now(),
        )?)
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("{}?done=paid", claim_path(id))).into_response()),
        Err(r) => refused(&portal, &user, id, r, DetailForm::default()).await,
    }
}

/// GET `/portal/operator/claims/{id}/items/{item}/receipt`.
pub(super) async fn receipt(
    StateOf(portal): StateOf<State>,
    _user: OperatorUser,
    Path((id, item)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = id_from_path(&id)?;
    let item = id_from_path(&item)?;
    blocking(&portal, move |p| {
        let (file, t) =
            store::review_receipt(p.store.portal(), id, item)?.ok_or_else(PageError::not_found)?;
        receipt::serve(&p.settings.receipts, &file, t)
    })
    .await
}

/// The payment CSV's header.
pub const CSV_HEADER: [&str; 16] = [
    "申請ID",
    "施術所ID",
    "施術所名",
    "登録記号番号",
    "補助の種類",
    "申請額",
    "承認額",
    "状態",
    "承認日",
    "金融機関コード",
    "金融機関名",
    "支店コード",
    "支店名",
    "預金種目",
    "口座番号",
    "口座名義",
];

/// Text for a spreadsheet cell: a leading `=`, `+`, `-`, `@` (or tab, carriage return) would
/// make Excel read a formula, so such text gets a leading apostrophe.
fn cell(s: &str) -> String {
    onshi_model::text::spreadsheet_cell(s).into_owned()
}

fn date_jst(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&jst()).format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The payment CSV: UTF-8 with a byte-order mark (Excel then reads it as UTF-8), CRLF lines,
/// a Japanese header.
pub fn payment_csv(rows: &[ExportRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = "\u{FEFF}".as_bytes().to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        w.write_record(CSV_HEADER)?;
        for r in rows {
            let c = &r.claim;
            let status = match c.status {
                Status::Paid => "支払済み",
                Status::Approved => "承認済み",
                other => other.label(),
            };
            let a = c.account.as_ref();
            let of = |f: fn(&super::bank::BankAccount) -> String| a.map(f).unwrap_or_default();
            w.write_record([
                c.id.to_string(),
                c.clinic_id.to_string(),
                cell(&r.clinic_name),
                cell(&r.registration),
                c.kind.label().to_owned(),
                c.requested_amount.to_string(),
                c.approved_amount.map(|a| a.to_string()).unwrap_or_default(),
                status.to_owned(),
                date_jst(c.decided_at),
                of(|a| a.bank_code.clone()),
                cell(&of(|a| a.bank_name.clone())),
                of(|a| a.branch_code.clone()),
                cell(&of(|a| a.branch_name.clone())),
                of(|a| a.kind.label().to_owned()),
                of(|a| a.number.clone()),
                cell(&of(|a| a.holder.clone())),
            ])?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// GET `/portal/operator/claims.csv`.
pub(super) async fn export(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
) -> Result<Response, PageError> {
    let operator = user.operator_id;
    let now = Utc::now();
    let rows = blocking(&portal, move |p| {
        Ok(store::export(p.store.portal(), operator, now)?)
    })
    .await?;
    let body = payment_csv(&rows).map_err(PageError::internal)?;
    let disposition = format!(
        "attachment; filename=\"claims-{}.csv\"",
        now.with_timezone(&jst()).format("%Y%m%d")
    );
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::store::Claim;
    use crate::claims::Kind;

    #[test]
    fn the_csv_opens_in_excel() {
        let at = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(); // 2026-01-01 00:00 UTC
        let row = ExportRow {
            claim: Claim {
                id: 7,
                clinic_id: 3,
                kind: Kind::Equipment,
                status: Status::Approved,
                requested_amount: 41_000,
                approved_amount: Some(40_000),
                return_reason: None,
                submitted_at: Some(at),
                decided_at: Some(at),
                paid_at: None,
                created_at: at,
                returned_at: None,
                account: Some(crate::claims::bank::BankAccount {
                    bank_code: "0005".into(),
                    bank_name: "ﾐﾂﾋﾞｼUFJ".into(),
                    branch_code: "123".into(),
                    branch_name: "ｼﾝｼﾞﾕｸ".into(),
                    kind: crate::claims::bank::AccountKind::Ordinary,
                    number: "7654321".into(),
                    holder: "-ﾔﾏﾀﾞ".into(),
                }),
            },
            clinic_name: "=HYPERLINK(\"x\"),\"整骨院\"".to_owned(),
            registration: "0123456123".to_owned(),
        };
        let bytes = payment_csv(&[row]).unwrap_or_else(|e| panic!("{e}"));
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut lines = text.trim_start_matches('\u{FEFF}').split("\r\n");
        assert_eq!(
            lines.next(),
            Some("申請ID,施術所ID,施術所名,登録記号番号,補助の種類,申請額,承認額,状態,承認日,金融機関コード,金融機関名,支店コード,支店名,預金種目,口座番号,口座名義")
        );
        assert_eq!(
            lines.next(),
            Some("7,3,\"'=HYPERLINK(\"\"x\"\"),\"\"整骨院\"\"\",0123456123,機器導入,41000,40000,承認済み,2026-01-01,0005,ﾐﾂﾋﾞｼUFJ,123,ｼﾝｼﾞﾕｸ,普通,7654321,'-ﾔﾏﾀﾞ")
        );
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("整骨院"), "整骨院");
    }

    #[test]
    fn reasons() {
        assert_eq!(
            parse_reason(" 宛名がありません\r\n再提出を "),
            Ok("宛名がありません\n再提出を".to_owned())
        );
        assert!(parse_reason("  ").is_err());
        assert!(parse_reason(&"あ".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert!(parse_reason("a\u{0}b").is_err());
    }

    #[test]
    fn list_urls_keep_the_search() {
        assert_eq!(
            list_url("submitted", "整骨 院&x", 2),
            "/portal/operator/claims?status=submitted&q=%E6%95%B4%E9%AA%A8+%E9%99%A2%26x&page=2"
        );
    }
}
