//! 「カードのひも付け」: the wrong-link guard's list for operators — links held at import (the
//! card's holder is not the linked person), held or released by an operator, and those whose
//! name differs only in spelling — and the operator's release or hold, with a reason, audited.
//! The same as `onshi admin links review|release|hold`.

use axum::extract::{Query, State as StateOf};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use maud::{html, Markup};
use onshi_store::link_checks::{self, Actor, Decision, LinkCheck, LinkStatus};
use serde::Deserialize;

use crate::auth::OperatorUser;
use crate::db::Operator;
use crate::view::{self, csrf, respond, PageError};
use crate::State;

use super::handlers::with_operator;
use super::pages::operator_page;

/// The page's address.
pub const PATH: &str = "/portal/operator/links";
/// Longest reason accepted.
const MAX_REASON_CHARS: usize = 500;

fn birth_ja(yyyymmdd: &str) -> String {
    onshi_model::date::parse_yyyymmdd(yyyymmdd)
        .map(onshi_model::wareki::label)
        .unwrap_or_else(|_| yyyymmdd.to_owned())
}

fn sex_ja(code: &str) -> &'static str {
    match code {
        "1" => "男",
        "2" => "女",
        _ => "未設定",
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Said {
    #[serde(default)]
    done: String,
}

fn page(
    operator: &Operator,
    user: &OperatorUser,
    counts: &[(LinkStatus, u64)],
    list: &[LinkCheck],
    message: Option<(&str, bool)>,
) -> Markup {
    let token = &user.session.csrf;
    operator_page(
        "カードのひも付け",
        operator,
        user,
        html! {
            @if let Some((m, ok)) = message {
                @if ok { div.notice.info role="status" #links-done { p { (m) } } }
                @else { div.notice.error role="alert" #links-error { p { (m) } } }
            }
            section.card {
                p {
                    "保険者がカードを別の人にひも付けていないか、取り込みのときにカードの名義（生年月日・性別・氏名）と"
                    "保険者の記録を照合しています。一致しないひも付けは「保留」になり、そのカードでの確認には資格情報を"
                    "返しません（E012）。保険者に確認のうえ、保留を解除するか、正しい発行記録を取り込み直してください。"
                }
                table #link-counts {
                    thead { tr { th { "状態" } th { "件数" } } }
                    tbody {
                        @for (status, n) in counts {
                            tr data-status=(status.as_str()) { td { (status.label_ja()) } td { (n) } }
                        }
                    }
                }
            }
            @if list.is_empty() {
                p #no-links { "確認が必要なひも付けはありません。" }
            } @else {
                table #links-table {
                    thead { tr {
                        th { "シリアル番号" } th { "状態" } th { "個人ID" } th { "違い" }
                        th { "カードの名義" } th { "判断" } th { "操作" }
                    } }
                    tbody {
                        @for c in list {
                            tr data-serial=(c.serial) data-status=(c.status.as_str()) {
                                td { code { (c.serial) } br; small { (c.issuer) } }
                                td { (c.status.label_ja()) }
                                td { (c.person_id) }
                                td { (c.differences_ja()) }
                                td {
                                    @if let Some(h) = &c.holder {
                                        (h.name) br;
                                        small { (birth_ja(&h.birthdate)) "生・" (sex_ja(&h.sex)) }
                                    } @else { "—" }
                                }
                                td {
                                    @if let Some(d) = &c.decision {
                                        (d.reason) br; small { (d.by) "（" (view::when(d.at)) "）" }
                                    } @else { "—" }
                                }
                                td {
                                    form.decide method="post" action=(format!("{PATH}/decide")) {
                                        (csrf(token))
                                        input type="hidden" name="issuer" value=(c.issuer);
                                        input type="hidden" name="serial" value=(c.serial);
                                        input type="text" name="reason" placeholder="理由（必須）" maxlength="500";
                                        @if c.status.usable() {
                                            button type="submit" name="decision" value="hold" { "保留する" }
                                        } @else {
                                            button.primary type="submit" name="decision" value="release" { "保留を解除する" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub(super) async fn links(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Query(said): Query<Said>,
) -> Result<Response, PageError> {
    let (operator, (counts, list)) = with_operator(&portal, &user, |p| {
        let db = p.store.portal();
        Ok((
            link_checks::link_status_counts(db)?,
            link_checks::links_to_review(db)?,
        ))
    })
    .await?;
    let message = match said.done.as_str() {
        "release" => Some((
            "保留を解除しました。このカードは確認に資格情報を返します。",
            true,
        )),
        "hold" => Some((
            "保留にしました。このカードでの確認には資格情報を返しません。",
            true,
        )),
        _ => None,
    };
    Ok(respond(page(&operator, &user, &counts, &list, message)))
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn decide(
    StateOf(portal): StateOf<State>,
    user: OperatorUser,
    Form(f): Form<DecideForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let decision = match f.decision.as_str() {
        "release" => Decision::Release,
        "hold" => Decision::Hold,
        _ => return Err(PageError::bad_request("操作を選んでください。")),
    };
    let reason = f.reason.trim().to_owned();
    let problem = if reason.is_empty() {
        Some("理由を入力してください（操作記録に残ります）。".to_owned())
    } else if reason.chars().count() > MAX_REASON_CHARS {
        Some(format!(
            "理由は{MAX_REASON_CHARS}文字以内で入力してください。"
        ))
    } else if reason.chars().any(char::is_control) {
        Some("理由に使えない文字が含まれています。".to_owned())
    } else {
        None
    };
    let operator_id = user.operator_id;
    let (issuer, serial) = (f.issuer.clone(), f.serial.clone());
    let (operator, outcome) = with_operator(&portal, &user, move |p| {
        if let Some(problem) = problem {
            return Ok(Err(problem));
        }
        let name = crate::db::operator(p.store.portal(), operator_id)?
            .map(|o| o.login)
            .unwrap_or_default();
        let done = link_checks::decide_link(
            p.store.portal(),
            Some(&issuer),
            &serial,
            decision,
            Actor {
                role: "operator",
                id: operator_id,
                name: &name,
            },
            &reason,
            Utc::now(),
        )?;
        Ok(done
            .map(|_| ())
            .ok_or_else(|| "このひも付けは見つかりません。一覧を開き直してください。".to_owned()))
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("{PATH}?done={}", f.decision)).into_response()),
        Err(problem) => {
            let (_, (counts, list)) = with_operator(&portal, &user, |p| {
                let db = p.store.portal();
                Ok((
                    link_checks::link_status_counts(db)?,
                    link_checks::links_to_review(db)?,
                ))
            })
            .await?;
            Ok((
                StatusCode::BAD_REQUEST,
                respond(page(
                    &operator,
                    &user,
                    &counts,
                    &list,
                    Some((&problem, false)),
                )),
            )
                .into_response())
        }
    }
}
