//! The clinic's details after registration: 施術所名, 院長（管理者）, 所在地 and 電話番号 changed
//! by the clinic (audited); a changed or added 登録記号番号 waits for the operator's approval
//! (it stays the account's, and no other account's, while it waits).

use axum::extract::{Path, State as StateOf};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use onshi_store::portal::{transaction, PortalDb};
use onshi_store::StoreError;
use serde::Deserialize;

use crate::auth::{ClinicUser, OperatorUser};
use crate::clinic::normalise_phone;
use crate::db::{self, Account, HeldNumber, Role};
use crate::registration::{taken_message, Practice, RegistrationNumber};
use crate::view::{self, csrf, field, respond, Nav, PageError};
use crate::{blocking, State};

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/portal/details", get(form).post(save))
        .route("/portal/operator/clinics/{id}/numbers", post(decide_number))
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// Changes the clinic's details, audited with the names of the fields changed.
pub fn update(
    db: &dyn PortalDb,
    clinic_id: i64,
    name: &str,
    director: &str,
    address: &str,
    phone: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "UPDATE clinics SET name = $1 WHERE id = $2",
            &[name.into(), clinic_id.into()],
        )?;
        tx.execute(
            "UPDATE portal_accounts SET director = $1, address = $2, phone = $3 WHERE clinic_id = $4",
            &[director.into(), address.into(), phone.into(), clinic_id.into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Clinic,
            clinic_id,
            "clinic.details",
            &format!("clinic:{clinic_id}"),
            "施術所名・院長・所在地・電話番号",
        )
    })
}

/// Asks for `number` as the clinic's number of `practice` (replacing a request waiting for the
/// same practice); `false` when another row holds it.
pub fn request_number(
    db: &dyn PortalDb,
    clinic_id: i64,
    practice: Practice,
    number: &RegistrationNumber,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "DELETE FROM portal_registration_numbers WHERE clinic_id = $1 AND practice = $2 AND status = 'pending'",
            &[clinic_id.into(), practice.as_str().into()],
        )?;
        if !db::insert_number(tx, clinic_id, practice, number, "pending", now)? {
            return Ok(false);
        }
        db::audit(
            tx,
            now,
            Role::Clinic,
            clinic_id,
            "clinic.number.request",
            &format!("clinic:{clinic_id}"),
            number.as_str(),
        )?;
        Ok(true)
    })
}

/// The operator approves (the number replaces the clinic's number of its practice) or refuses
/// a requested number; told to the clinic. `false` when no such request waits.
pub fn decide(
    db: &dyn PortalDb,
    operator_id: i64,
    clinic_id: i64,
    number: &str,
    approve: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        let Some(r) = tx.query_opt(
            "SELECT practice FROM portal_registration_numbers WHERE clinic_id = $1 AND number = $2 AND status = 'pending'",
            &[clinic_id.into(), number.into()],
        )?
        else {
            return Ok(false);
        };
        let practice = r.text(0)?;
        let shown = RegistrationNumber::stored(number).to_string();
        if approve {
            tx.execute(
                "DELETE FROM portal_registration_numbers WHERE clinic_id = $1 AND practice = $2 AND status = 'active'",
                &[clinic_id.into(), practice.as_str().into()],
            )?;
            tx.execute(
                "UPDATE portal_registration_numbers SET status = 'active' WHERE number = $1",
                &[number.into()],
            )?;
            // The service's clinic row keeps the first number (柔道整復 before あはき).
            tx.execute(
                "UPDATE clinics SET registration = (SELECT n.number FROM portal_registration_numbers n
                     WHERE n.clinic_id = $1 AND n.status = 'active' ORDER BY n.practice DESC LIMIT 1)
                 WHERE id = $1",
                &[clinic_id.into()],
            )?;
        } else {
            tx.execute(
                "DELETE FROM portal_registration_numbers WHERE number = $1",
                &[number.into()],
            )?;
        }
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            if approve {
                "clinic.number.approve"
            } else {
                "clinic.number.reject"
            },
            &format!("clinic:{clinic_id}"),
            number,
        )?;
        let (subject, body) = if approve {
            (
                "登録記号番号の変更が承認されました".to_owned(),
                format!("登録記号番号 {shown} の登録が承認されました。"),
            )
        } else {
            (
                "登録記号番号の変更が承認されませんでした".to_owned(),
                format!("登録記号番号 {shown} の登録は承認されませんでした。番号をご確認のうえ、問い合わせフォームからご連絡ください。"),
            )
        };
        db::notify(tx, clinic_id, &subject, &body, now)?;
        Ok(true)
    })
}

// ---------------------------------------------------------------------------------------------
// Pages and handlers.

/// The details form.
#[derive(Debug, Default, Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    director: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    registration: String,
    #[serde(default)]
    registration_ahaki: String,
}

fn page(
    account: &Account,
    numbers: &[HeldNumber],
    token: &str,
    f: &DetailsForm,
    errors: &[(&'static str, String)],
    saved: bool,
) -> Markup {
    let e = |k: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == k)
            .map(|(_, m)| m.as_str())
    };
    view::page(
        "施術所の情報の変更",
        Nav::Clinic(&account.name, token),
        html! {
            @if saved { div.notice.info role="status" #details-saved { p { "変更を保存しました。登録記号番号の変更は、実施機関の承認後に有効になります。" } } }
            @if !errors.is_empty() { div.notice.error role="alert" #details-errors { p { "入力内容に誤りがあります。赤く示した項目を直してください。" } } }
            form #details-form method="post" action="/portal/details" novalidate {
                (csrf(token))
                (field("施術所名", "name", "text", &f.name, e("name")))
                (field("院長（管理者）の氏名", "director", "text", &f.director, e("director")))
                (field("所在地", "address", "text", &f.address, e("address")))
                (field("電話番号", "phone", "tel", &f.phone, e("phone")))
                h2 { "登録記号番号" }
                p { "いまの番号: "
                    @for n in numbers { (n.practice.label()) ": " (n.number) @if !n.active { "（承認待ち）" } "　" }
                }
                p.hint { "番号を変える・追加するときだけ入力してください。実施機関が確認して承認すると、新しい番号に切り替わります。" }
                (field("新しい柔道整復の登録記号番号", "registration", "text", &f.registration, e("registration")))
                (field("新しいあん摩マッサージ指圧・はり・きゅうの登録記号番号", "registration_ahaki", "text", &f.registration_ahaki, e("registration_ahaki")))
                button.primary type="submit" { "保存する" }
            }
            p { a href="/portal/home" { "ホームへ戻る" } }
        },
    )
}

async fn load(portal: &State, clinic: i64) -> Result<(Account, Vec<HeldNumber>), PageError> {
    blocking(portal, move |p| {
        let db = p.store.portal();
        let a = db::account(db, clinic)?.ok_or_else(PageError::not_found)?;
        Ok((a, db::numbers(db, clinic)?))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
struct Saved {
    #[serde(default)]
    done: String,
}

async fn form(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    axum::extract::Query(q): axum::extract::Query<Saved>,
) -> Result<Response, PageError> {
    let (a, numbers) = load(&portal, user.clinic_id).await?;
    let f = DetailsForm {
        name: a.name.clone(),
        director: a.director.clone(),
        address: a.address.clone(),
        phone: a.phone.clone(),
        ..DetailsForm::default()
    };
    Ok(respond(page(
        &a,
        &numbers,
        &user.session.csrf,
        &f,
        &[],
        q.done == "saved",
    )))
}

fn one_line(
    errors: &mut Vec<(&'static str, String)>,
    key: &'static str,
    label: &str,
    value: &str,
    max: usize,
) -> String {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 {
        errors.push((key, format!("{label}を入力してください。")));
    } else if n > max {
        errors.push((key, format!("{label}は{max}文字以内で入力してください。")));
    } else if v.chars().any(char::is_control) {
        errors.push((key, format!("{label}に使えない文字が含まれています。")));
    }
    v.to_owned()
}

async fn save(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Form(f): Form<DetailsForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let mut errors = Vec::new();
    let name = one_line(&mut errors, "name", "施術所名", &f.name, 100);
    let director = one_line(
        &mut errors,
        "director",
        "院長（管理者）の氏名",
        &f.director,
        50,
    );
    let address = one_line(&mut errors, "address", "所在地", &f.address, 200);
    let phone = normalise_phone(&f.phone).unwrap_or_else(|m| {
        errors.push(("phone", m.to_string()));
        String::new()
    });
    let mut requests = Vec::new();
    for (practice, typed) in [
        (Practice::Judo, &f.registration),
        (Practice::Ahaki, &f.registration_ahaki),
    ] {
        if typed.trim().is_empty() {
            continue;
        }
        match RegistrationNumber::parse(practice, typed) {
            Ok(n) => requests.push((practice, n)),
            Err(m) => errors.push((practice.field(), m.to_string())),
        }
    }
    let clinic = user.clinic_id;
    if errors.is_empty() {
        let taken = blocking(&portal, move |p| {
            let db = p.store.portal();
            let now = Utc::now();
            update(db, clinic, &name, &director, &address, &phone, now)?;
            let held = db::numbers(db, clinic)?;
            for (practice, n) in requests {
                if held.iter().any(|h| h.number == n) {
                    continue;
                }
                if !request_number(db, clinic, practice, &n, now)? {
                    return Ok(Some((practice.field(), taken_message(&n))));
                }
            }
            Ok(None)
        })
        .await?;
        match taken {
            None => return Ok(Redirect::to("/portal/details?done=saved").into_response()),
            Some(e) => errors.push(e),
        }
    }
    let (a, numbers) = load(&portal, clinic).await?;
    Ok((
        StatusCode::BAD_REQUEST,
        respond(page(&a, &numbers, &user.session.csrf, &f, &errors, false)),
    )
        .into_response())
}

/// The operator's decision on a requested number.
#[derive(Debug, Default, Deserialize)]
struct NumberDecision {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    approve: String,
}

async fn decide_number(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Path(id): Path<String>,
    Form(f): Form<NumberDecision>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let clinic = id
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(PageError::not_found)?;
    let operator = user.operator_id;
    let approve = f.approve == "1";
    let done = blocking(&portal, move |p| {
        Ok(decide(
            p.store.portal(),
            operator,
            clinic,
            f.number.trim(),
            approve,
            Utc::now(),
        )?)
    })
    .await?;
    if !done {
        return Err(PageError::bad_request(
            "承認待ちのその番号はありません（ほかの担当者が処理した可能性があります）。",
        ));
    }
    Ok(Redirect::to(&format!("/portal/operator/clinics/{clinic}?done=number")).into_response())
}

/// The operator's forms for the numbers waiting on a clinic's page.
pub fn pending_forms(clinic_id: i64, numbers: &[HeldNumber], token: &str) -> Markup {
    html! {
        @for n in numbers.iter().filter(|n| !n.active) {
            form.number-decision method="post" action=(format!("/portal/operator/clinics/{clinic_id}/numbers")) {
                (csrf(token))
                input type="hidden" name="number" value=(n.number.as_str());
                "変更の申請: " (n.practice.label()) " " (n.number) " "
                button.primary type="submit" name="approve" value="1" { "承認する" }
                " "
                button.danger type="submit" name="approve" value="0" { "承認しない" }
            }
        }
    }
}
