//! The operator's payment: the payer (the operator's own account, 振込依頼人) and the 全銀協
//! 総合振込 file of the approved claims, for the bank's bulk transfer.

use axum::extract::{Query, State as StateOf};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{NaiveDate, Utc};
use maud::html;
use serde::Deserialize;

use super::bank::{to_transfer_text, AccountForm, AccountKind};
use super::review::operator_name;
use super::store;
use super::zengin::{self, Payer};
use crate::auth::OperatorUser;
use crate::view::{self, csrf, field, respond, Nav, PageError};
use crate::{blocking, jst, State};

const PAGE: &str = "/portal/operator/payment";

/// The payer form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PayerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    account: AccountForm,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

fn page(
    name: &str,
    token: &str,
    payer: Option<&Payer>,
    form: &PayerForm,
    errors: &[(&'static str, String)],
    done: bool,
) -> maud::Markup {
    let e = |k: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == k)
            .map(|(_, m)| m.as_str())
    };
    let today = Utc::now().with_timezone(&jst()).date_naive();
    view::page(
        "総合振込ファイル",
        Nav::Operator(name, token),
        html! {
            @if done { div.notice.info #payer-saved role="status" { p { "振込依頼人を保存しました。" } } }
            section.card #zengin {
                h2 { "全銀協 総合振込ファイル" }
                p { "承認済み（支払前）の申請の振込先と承認額を、銀行に渡す全銀協規定形式（120バイト固定長、JISコード・半角カナ、各レコードの後に改行 CRLF）で出力します。支払が済んだら、各申請を「支払済み」にしてください。" }
                @if payer.is_some() {
                    form #zengin-form method="get" action="/portal/operator/claims.zengin" {
                        (field("振込指定日", "date", "date", &today.format("%Y-%m-%d").to_string(), None))
                        button.primary type="submit" { "総合振込ファイルを出力" }
                    }
                } @else {
                    p #payer-missing { "先に振込依頼人（実施機関の口座）を登録してください。" }
                }
            }
            section.card #payer {
                h2 { "振込依頼人（実施機関の口座）" }
                @if !errors.is_empty() {
                    div.notice.error role="alert" #payer-errors { @for (_, m) in errors { p { (m) } } }
                }
                form method="post" action=(PAGE) novalidate {
                    (csrf(token))
                    (field("振込依頼人コード（委託者コード、銀行が定める10桁）", "code", "text", &form.code, e("code")))
                    (field("振込依頼人名（カナ、40文字まで）", "name", "text", &form.name, e("name")))
                    (field("金融機関コード（4桁）", "bank_code", "text", &form.account.bank_code, e("bank_code")))
                    (field("金融機関名（カナ）", "bank_name", "text", &form.account.bank_name, e("bank_name")))
                    (field("支店コード（3桁）", "branch_code", "text", &form.account.branch_code, e("branch_code")))
                    (field("支店名（カナ）", "branch_name", "text", &form.account.branch_name, e("branch_name")))
                    fieldset.field {
                        legend { "預金種目" }
                        @for k in [AccountKind::Ordinary, AccountKind::Current] {
                            label.check {
                                input type="radio" name="account_kind" value=(k.code()) checked[form.account.account_kind == k.code().to_string()];
                                " " (k.label())
                            }
                        }
                        @if let Some(m) = e("account_kind") { p.error-text { (m) } }
                    }
                    (field("口座番号（7桁）", "account_number", "text", &form.account.account_number, e("account_number")))
                    button.primary type="submit" { "保存する" }
                }
            }
            p { a href="/portal/operator/claims" { "← 申請の一覧" } }
        },
    )
}

fn form_of(p: &Payer) -> PayerForm {
    PayerForm {
        csrf: String::new(),
        code: p.code.clone(),
        name: p.name.clone(),
        account: AccountForm {
            holder: p.name.clone(),
            ..AccountForm::of(&p.account)
        },
    }
}

/// GET `/portal/operator/payment`.
pub(super) async fn show(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let operator = user.operator_id;
    let (name, payer) = blocking(&portal, move |p| {
        Ok((operator_name(p, operator)?, store::payer(p.store.portal())?))
    })
    .await?;
    let form = payer.as_ref().map(form_of).unwrap_or_default();
    Ok(respond(page(
        &name,
        &user.session.csrf,
        payer.as_ref(),
        &form,
        &[],
        done.done == "saved",
    )))
}

/// Checks the payer form.
fn check(f: &PayerForm) -> Result<Payer, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let code: String = f.code.trim().to_owned();
    if code.len() != 10 || !code.chars().all(|c| c.is_ascii_digit()) {
        errors.push((
            "code",
            "振込依頼人コードは数字10桁で入力してください。".to_owned(),
        ));
    }
    let name = to_transfer_text(&f.name);
    if name.is_empty()
        || name.chars().count() > 40
        || !name.chars().all(super::bank::is_transfer_char)
    {
        errors.push((
            "name",
            "振込依頼人名はカナ・英大文字・数字で40文字以内にしてください。".to_owned(),
        ));
    }
    // The payer's account has no 口座名義 of its own (its name is checked above): the account's
    // other fields are checked as a clinic's are.
    let account = AccountForm {
        holder: "ｱ".to_owned(),
        ..f.account.clone()
    }
    .parse();
    match account {
        Ok(account) if errors.is_empty() => Ok(Payer {
            code,
            name,
            account: super::bank::BankAccount {
                holder: String::new(),
                ..account
            },
        }),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// POST `/portal/operator/payment`: saves the payer.
pub(super) async fn save(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Form(f): Form<PayerForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let operator = user.operator_id;
    match check(&f) {
        Ok(payer) => {
            blocking(&portal, move |p| {
                Ok(store::set_payer(
                    p.store.portal(),
                    operator,
                    &payer,
                    Utc::now(),
                )?)
            })
            .await?;
            Ok(Redirect::to(&format!("{PAGE}?done=saved")).into_response())
        }
        Err(errors) => {
            let (name, payer) = blocking(&portal, move |p| {
                Ok((operator_name(p, operator)?, store::payer(p.store.portal())?))
            })
            .await?;
            Ok((
                StatusCode::BAD_REQUEST,
                respond(page(
                    &name,
                    &user.session.csrf,
                    payer.as_ref(),
                    &f,
                    &errors,
                    false,
                )),
            )
                .into_response())
        }
    }
}

/// `?date=yyyy-mm-dd` of the file.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FileQuery {
    #[serde(default)]
    date: String,
}

/// GET `/portal/operator/claims.zengin?date=…`: the 全銀 file of the approved claims.
pub(super) async fn file(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(q): Query<FileQuery>,
) -> Result<Response, PageError> {
    let date = NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d").map_err(|_| {
        PageError::bad_request("振込指定日を正しく入力してください（例: 2026-02-27）。")
    })?;
    let operator = user.operator_id;
    let body = blocking(&portal, move |p| {
        let db = p.store.portal();
        let payer = store::payer(db)?.ok_or_else(|| {
            PageError::bad_request("先に振込依頼人（実施機関の口座）を登録してください。")
        })?;
        let transfers = store::approved_transfers(db, operator, Utc::now())?;
        zengin::file(&payer, date, &transfers).map_err(|e| PageError::bad_request(&e.to_string()))
    })
    .await?;
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=shift_jis"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"sogo-furikomi-{}.txt\"",
        date.format("%Y%m%d")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(name: &str, code: &str, bank: &str) -> PayerForm {
        PayerForm {
            csrf: String::new(),
            code: code.to_owned(),
            name: name.to_owned(),
            account: AccountForm {
                bank_code: bank.to_owned(),
                bank_name: "ミズホ".to_owned(),
                branch_code: "001".to_owned(),
                branch_name: "トウキョウ".to_owned(),
                account_kind: "2".to_owned(),
                account_number: "0123456".to_owned(),
                holder: String::new(),
            },
        }
    }

    #[test]
    fn the_payer_name_may_be_forty_and_every_wrong_field_is_named() {
        let long = "ア".repeat(35);
        let p = check(&form(&long, "1234567890", "0001")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.name.chars().count(), 35);
        assert_eq!(p.account.bank_name, "ﾐｽﾞﾎ");
        let errors = check(&form(&"ア".repeat(41), "123", "01")).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["code", "name", "bank_code"]);
    }
}
