//! Paid to the right account: the claim's transfer account (checked in the 全銀 character set)
//! and the documents beside the receipts (口座確認書類, 内訳書) — their sections of the claim
//! page and their handlers.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State as StateOf};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use maud::{html, Markup};

use super::bank::{AccountForm, AccountKind};
use super::clinic::{
    load, may_change, page_path, read_upload, refusal_error, render, unreadable, Errors, ItemForm,
};
use super::receipt::{self, size_label};
use super::store::{self, Claim, Document, DocumentRole};
use super::{Kind, ReceiptType};
use crate::auth::{ClinicUser, OperatorUser};
use crate::view::{csrf, field, respond, PageError};
use crate::{blocking, State};

/// Where a document of the clinic's claim is served.
fn document_path(kind: Kind, role: DocumentRole) -> String {
    format!("{}/documents/{}", page_path(kind), role.as_str())
}

/// The claim page's sections for the account and the documents.
pub(super) fn sections(
    token: &str,
    kind: Kind,
    claim: &Claim,
    documents: &[Document],
    editable: bool,
    form: Option<&AccountForm>,
    errors: &Errors,
) -> Markup {
    let stored = claim.account.as_ref().map(AccountForm::of);
    let form = form.or(stored.as_ref()).cloned().unwrap_or_default();
    let e = |k: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == k)
            .map(|(_, m)| m.as_str())
    };
    let kinds = [AccountKind::Ordinary, AccountKind::Current];
    html! {
        section.card #claim-account {
            h2 { "振込先の口座" }
            @if let Some(a) = &claim.account {
                dl #claim-account-shown {
                    dt { "金融機関" } dd { (a.bank_name) "（" (a.bank_code) "）" }
                    dt { "支店" } dd { (a.branch_name) "（" (a.branch_code) "）" }
                    dt { "預金種目" } dd { (a.kind.label()) }
                    dt { "口座番号" } dd { (a.number) }
                    dt { "口座名義" } dd #claim-account-holder { (a.holder) }
                }
            } @else {
                p #claim-account-none { "まだ登録されていません。" }
            }
            @if editable {
                @if errors.iter().any(|(f, _)| f.starts_with("bank") || f.starts_with("branch") || f.starts_with("account") || *f == "holder") {
                    div.notice.error #account-errors role="alert" { p { "口座を登録できませんでした。赤く示した項目を直してください。" } }
                }
                p { "補助金を振り込む口座です。口座名義は通帳のとおりカタカナで入力してください（全角でも構いません。振込に使える半角カナ・英大文字・数字に直して登録します）。" }
                form #claim-account-form method="post" action=(format!("{}/account#claim-account", page_path(kind))) novalidate {
                    (csrf(token))
                    (field("金融機関コード（4桁）", "bank_code", "text", &form.bank_code, e("bank_code")))
                    (field("金融機関名（カナ）", "bank_name", "text", &form.bank_name, e("bank_name")))
                    (field("支店コード（3桁）", "branch_code", "text", &form.branch_code, e("branch_code")))
                    (field("支店名（カナ）", "branch_name", "text", &form.branch_name, e("branch_name")))
                    fieldset.field.error[e("account_kind").is_some()] {
                        legend { "預金種目" }
                        @for k in kinds {
                            label.check {
                                input type="radio" name="account_kind" value=(k.code()) checked[form.account_kind == k.code().to_string()];
                                " " (k.label())
                            }
                        }
                        @if let Some(m) = e("account_kind") { p.error-text { (m) } }
                    }
                    (field("口座番号（7桁）", "account_number", "text", &form.account_number, e("account_number")))
                    (field("口座名義（カナ）", "holder", "text", &form.holder, e("holder")))
                    button.primary type="submit" { "口座を登録する" }
                }
            }
        }
        section.card #claim-documents {
            h2 { "添付書類" }
            p { "領収書のほかに、次の書類が必要です（PDF・JPEG・PNG、10MBまで）。" }
            ul {
                @for role in DocumentRole::ALL {
                    @let held = documents.iter().find(|d| d.role == role);
                    li id=(format!("document-{}", role.as_str())) {
                        strong { (role.label()) } ": "
                        @match held {
                            Some(d) => {
                                a href=(document_path(kind, role)) target="_blank" rel="noopener" { (d.file_name) }
                                " (" (d.file_type.label()) "、" (size_label(d.file_size)) ")"
                            }
                            None => "未登録",
                        }
                        @if editable {
                            form method="post" action=(format!("{}#claim-documents", document_path(kind, role))) enctype="multipart/form-data" {
                                (csrf(token))
                                input name="document" type="file" accept="application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png";
                                button type="submit" { @if held.is_some() { "差し替える" } @else { "登録する" } }
                            }
                        }
                    }
                }
            }
            p.hint { "口座確認書類: 通帳の表紙の裏（口座名義・口座番号のわかるページ）の写し等。内訳書: 購入した機器・改修の内容と金額の内訳（販売店・業者の発行したもの）。" }
        }
    }
}

/// POST `/portal/claims/{kind}/account`.
pub(super) async fn set_account(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(kind): Path<String>,
    Form(f): Form<AccountFormPosted>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let now = Utc::now();
    may_change(&portal, &user, kind, &f.csrf, now).await?;
    let clinic = user.clinic_id;
    match f.account.parse() {
        Ok(account) => {
            blocking(&portal, move |p| {
                store::set_account(p.store.portal(), clinic, kind, &account, now)?
                    .map_err(refusal_error)
            })
            .await?;
            Ok(
                Redirect::to(&format!("{}?done=account#claim-account", page_path(kind)))
                    .into_response(),
            )
        }
        Err(errors) => {
            let loaded = load(&portal, clinic, kind, now).await?;
            Ok((
                StatusCode::BAD_REQUEST,
                respond(render(
                    &portal.settings,
                    &user.session.csrf,
                    kind,
                    &loaded,
                    &ItemForm::default(),
                    Some(&f.account),
                    &errors,
                    None,
                )),
            )
                .into_response())
        }
    }
}

/// The account form with its CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(super) struct AccountFormPosted {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    account: AccountForm,
}

fn role_from_path(s: &str) -> Result<DocumentRole, PageError> {
    DocumentRole::parse(s).ok_or_else(PageError::not_found)
}

/// POST `/portal/claims/{kind}/documents/{role}` (multipart, field `document`).
pub(super) async fn put_document(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path((kind, role)): Path<(String, String)>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let role = role_from_path(&role)?;
    let now = Utc::now();
    let upload = read_upload(multipart.map_err(|_| unreadable())?).await?;
    may_change(&portal, &user, kind, upload.text("csrf"), now).await?;
    let Some((name, bytes)) = upload.receipt.filter(|(_, b)| !b.is_empty()) else {
        return Err(PageError::bad_request(&format!(
            "{}のファイルを選んでください。",
            role.label()
        )));
    };
    let Some(file_type) = ReceiptType::sniff(&bytes) else {
        return Err(PageError::bad_request(&format!(
            "{}は PDF・JPEG・PNG のいずれかのファイルにしてください（ファイルの中身で判定しています）。",
            role.label()
        )));
    };
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        let dir = &p.settings.receipts;
        let file = receipt::store(dir, &bytes).map_err(PageError::internal)?;
        let doc = Document {
            role,
            file: file.clone(),
            file_type,
            file_name: receipt::display_name(&name),
            file_size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        };
        // The row and the file together: no file without a row, no row without its file.
        match store::put_document(p.store.portal(), clinic, kind, &doc, now) {
            Ok(Ok(old)) => {
                if let Some(old) = old {
                    receipt::remove(dir, &old);
                }
                Ok(())
            }
            Ok(Err(r)) => {
                receipt::remove(dir, &file);
                Err(refusal_error(r))
            }
            Err(e) => {
                receipt::remove(dir, &file);
                Err(e.into())
            }
        }
    })
    .await?;
    Ok(Redirect::to(&format!(
        "{}?done=document#claim-documents",
        page_path(kind)
    ))
    .into_response())
}

/// GET `/portal/claims/{kind}/documents/{role}`: the clinic's own document.
pub(super) async fn document(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path((kind, role)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let role = role_from_path(&role)?;
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        let db = p.store.portal();
        let (claim, _) = store::claim_of(db, clinic, kind)?.ok_or_else(PageError::not_found)?;
        serve(p, claim.id, role)
    })
    .await
}

/// GET `/portal/operator/claims/{id}/documents/{role}`: a claim's document, for the operator.
pub(super) async fn review_document(
    StateOf(portal): StateOf<State>,
    _user: OperatorUser,
    Path((id, role)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = super::clinic::id_from_path(&id)?;
    let role = role_from_path(&role)?;
    blocking(&portal, move |p| serve(p, id, role)).await
}

fn serve(p: &crate::Portal, claim_id: i64, role: DocumentRole) -> Result<Response, PageError> {
    let docs = store::documents(p.store.portal(), claim_id)?;
    let d = docs
        .into_iter()
        .find(|d| d.role == role)
        .ok_or_else(PageError::not_found)?;
    receipt::serve(&p.settings.receipts, &d.file, d.file_type)
}
