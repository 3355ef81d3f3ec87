//! The clinic's side of a claim: one page per kind (the claim, started as a draft on the first
//! visit, its items and receipts, the computed grant, the forms), and the posts that add and
//! delete items and submit the claim — refused after the deadline and for clinics whose
//! 利用開始申請 is not approved, whatever is posted.

use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State as StateOf};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::receipt::{self, size_label};
use super::store::{self, Claim, Item, NewItem, Refusal};
use super::{
    closed_message, deadline_label, parse_amount, parse_line, parse_purchase_date, Kind, Rates,
    ReceiptType, Status, MAX_DESCRIPTION_CHARS, MAX_ITEMS, MAX_VENDOR_CHARS,
};
use crate::auth::ClinicUser;
use crate::db::{self, AccountStatus};
use crate::view::{self, csrf, field, respond, when, yen, Nav, PageError};
use crate::{blocking, jst, Settings, State, MAX_RECEIPT_BYTES};

/// Why a clinic that is not approved cannot claim.
const NOT_ELIGIBLE: &str = "補助金の申請は、利用開始申請が実施機関に承認されてからできます。ホーム画面から利用開始申請をしてください（申請済みの場合は、承認をお待ちください）。";
/// The longest text field of the item form (bytes).
const MAX_TEXT_BYTES: usize = 4096;
/// The most parts of the item form read.
const MAX_PARTS: usize = 16;

/// The item form's fields (its errors show above it).
const ITEM_FIELDS: [&str; 5] = ["purchased_on", "vendor", "description", "amount", "receipt"];

/// The item form's text fields as typed (kept when the form is shown again).
#[derive(Clone, Debug, Default)]
pub(super) struct ItemForm {
    purchased_on: String,
    vendor: String,
    description: String,
    amount: String,
}

/// A form's problems: the field's name and the message.
pub(super) type Errors = Vec<(&'static str, String)>;

/// What the page shows.
pub(super) struct Loaded {
    pub(super) name: String,
    pub(super) approved: bool,
    /// Whether the claim may be changed now (before the deadline, or in its late window).
    pub(super) open: bool,
    /// Past the deadline, in the late correction window: until when.
    pub(super) late_until: Option<DateTime<Utc>>,
    pub(super) claim: Option<(Claim, Vec<Item>)>,
    pub(super) documents: Vec<store::Document>,
}

pub(super) async fn load(
    portal: &State,
    clinic: i64,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<Loaded, PageError> {
    blocking(portal, move |p| {
        let db = p.store.portal();
        let account = db::account(db, clinic)?.ok_or_else(PageError::not_found)?;
        let approved = account.status == AccountStatus::Approved;
        let before_deadline = p.settings.claims_open(now);
        let claim = if approved && before_deadline {
            Some(store::open_claim(db, clinic, kind, now)?)
        } else {
            store::claim_of(db, clinic, kind)?
        };
        let returned_at = claim
            .as_ref()
            .filter(|(c, _)| c.status == Status::Returned)
            .and_then(|(c, _)| c.returned_at);
        let open = p.settings.may_edit(now, returned_at);
        let late_until = returned_at
            .filter(|_| !before_deadline && open)
            .map(|t| p.settings.late_end(t));
        let documents = match &claim {
            Some((c, _)) => store::documents(db, c.id)?,
            None => Vec::new(),
        };
        Ok(Loaded {
            name: account.name,
            approved,
            open,
            late_until,
            claim,
            documents,
        })
    })
    .await
}

pub(super) fn page_path(kind: Kind) -> String {
    format!("/portal/claims/{}", kind.as_str())
}

fn receipt_path(kind: Kind, item: i64) -> String {
    format!("/portal/claims/{}/items/{item}/receipt", kind.as_str())
}

/// How the grant is computed, in words.
pub(super) fn grant_rule(kind: Kind, rates: &Rates) -> String {
    match kind {
        Kind::Equipment => format!(
            "補助額 = 領収書の合計（実費）。ただし上限 {}、1,000円未満切り捨て",
            yen(rates.equipment_cap_yen)
        ),
        Kind::Rececon => format!(
            "補助額 = 領収書の合計 × {}%（1円未満切り捨て）。ただし上限 {}、1,000円未満切り捨て",
            rates.rececon_rate_percent,
            yen(rates.rececon_cap_yen)
        ),
    }
}

/// The computation from the receipts' total to the grant, step by step.
pub(super) fn computation(kind: Kind, rates: &Rates, total: i64) -> Markup {
    let c = rates.compute(kind, total);
    html! {
        ol.computation #claim-computation {
            li { "領収書の合計（実費）: " (yen(c.total)) }
            @if kind == Kind::Rececon {
                li { "補助の対象（合計 × " (rates.rececon_rate_percent) "%、1円未満切り捨て）: " (yen(c.share)) }
            }
            li { "上限 " (yen(c.cap)) " を当てはめて: " (yen(c.capped)) }
            li { "1,000円未満を切り捨てて、補助額: " strong { (yen(c.grant)) } }
        }
    }
}

/// What the subsidy covers, and for the rececon, why its numbers are provisional.
pub(super) fn about(kind: Kind, s: &Settings) -> Markup {
    let rates = Rates::of(s);
    html! {
        @match kind {
            Kind::Equipment => {
                p #subsidy-name { "柔道整復師、あん摩マッサージ指圧師、はり師、きゅう師の施術所等に対する財政支援（" strong { (crate::info::SUBSIDY_NAME) } "）です。補助を申請するには、このポータルサイトにアカウントを登録し、領収書等の書類を添付して申請します。" }
                p { "オンライン資格確認（資格確認限定型）に必要な機器の導入費用を補助します。対象は、PC等に接続する汎用カードリーダー、タブレット・スマートフォン等のモバイル端末、資格確認に使うPC等です（モバイル端末はカードリーダーがなくてもマイナンバーカードを読み取れます）。" }
                p { "補助額は実費で、1施術所あたり最大 " strong { (yen(rates.equipment_cap_yen)) } " です（厚生労働省の通知・別添「補助内容」による）。" }
            }
            Kind::Rececon => {
                p #subsidy-name { "施術所等に対する財政支援（" strong { (crate::info::SUBSIDY_NAME) } "）のうち、レセコン改修費用の一部補助です。" }
                p { "療養費支給申請書等の作成で、オンライン資格確認の結果をレセコンに取り込む「レセコン連携機能」を使うためのレセコン改修費用の一部を補助します。" }
                div.notice.warn #rececon-provisional {
                    p { "補助率と上限額は、国の通知で「今後、施術所等向け総合ポータルサイト等でお知らせする」とされていて、まだ正式に決まっていません。この画面では、実施機関が仮に定めた値で計算しています: 費用の " strong { (rates.rececon_rate_percent) "%" } "（1円未満切り捨て）、上限 " strong { (yen(rates.rececon_cap_yen)) } "、1,000円未満切り捨て。" }
                    p { "正式な補助率と上限額が示されたら、実施機関がこの値を改め、お知らせでお伝えします。それまでに提出された申請も、承認の際は正式な額で計算し直します。" }
                }
            }
        }
        p { "申請には領収書が必要です。PDF・JPEG・PNG のいずれかのファイル（1件10MBまで）を明細ごとに添付してください。申請は1施術所につき種類ごとに1件です。" }
        p #claim-deadline { "申請期限: " strong { (deadline_label(s)) } "（日本時間の終わりまで）" }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn render(
    s: &Settings,
    token: &str,
    kind: Kind,
    loaded: &Loaded,
    form: &ItemForm,
    account_form: Option<&super::bank::AccountForm>,
    errors: &Errors,
    done: Option<&str>,
) -> Markup {
    let rates = Rates::of(s);
    let e = |k: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == k)
            .map(|(_, m)| m.as_str())
    };
    let title = format!("{}の補助金申請", kind.label());
    view::page(
        &title,
        Nav::Clinic(&loaded.name, token),
        html! {
            @if let Some(until) = loaded.late_until {
                div.notice.warn #claim-late-window role="status" {
                    p { "申請期限は過ぎていますが、差し戻された申請は、差戻しから" (s.late_correction_days) "日間（" (view::when_day(until)) "まで）直して再提出できます。" }
                }
            }
            @if !loaded.open {
                div.notice.error #claims-closed role="alert" {
                    p { "申請期間は終了しました。" }
                    p { "申請期限（" (deadline_label(s)) "、日本時間の終わりまで）を過ぎたため、明細の追加・削除と申請の提出はできません。提出済みの申請の審査結果は、このページで確認できます。" }
                    p { "差し戻された申請は、差戻しから" (s.late_correction_days) "日間は期限後でも直して再提出できます。" }
                    @if loaded.claim.is_none() { p #claim-none { "この施術所の" (kind.label()) "の申請はありません。" } }
                }
            }
            @if !loaded.approved {
                div.notice.warn #claim-not-eligible role="alert" {
                    p { (NOT_ELIGIBLE) }
                    p { a href="/portal/home" { "ホーム（利用開始申請）へ" } }
                }
            }
            @if let Some(d) = done { div.notice.info #claim-done role="status" { p { (d) } } }
            section.card #claim-about {
                h2 { "補助の内容" }
                (about(kind, s))
            }
            @if let Some((claim, items)) = &loaded.claim {
                @let total = store::total(items);
                @let grant = rates.grant(kind, total);
                @let editable = claim.status.editable() && loaded.open && loaded.approved;
                section.card #claim {
                    h2 { "申請の状況" }
                    dl {
                        dt { "申請ID" } dd #claim-id { (claim.id) }
                        dt { "状態" } dd #claim-status { (claim.status.label()) }
                        @if let Some(t) = claim.submitted_at { dt { "提出日時" } dd #claim-submitted-at { (when(t)) } }
                        dt { "領収書の合計" } dd #claim-total { (yen(total)) }
                        dt { "補助額（計算）" } dd.grant #claim-grant { (yen(grant)) }
                        @if claim.status != Status::Draft { dt { "申請額" } dd #claim-requested { (yen(claim.requested_amount)) } }
                        @if let Some(a) = claim.approved_amount { dt { "承認額" } dd.grant #claim-approved { (yen(a)) } }
                        @if let Some(t) = claim.paid_at { dt { "支払日" } dd #claim-paid-at { (when(t)) } }
                    }
                    p #claim-grant-rule { (grant_rule(kind, &rates)) }
                    (computation(kind, &rates, total))
                    @if claim.status == Status::Returned {
                        div.notice.error #claim-return-reason role="alert" {
                            p { "実施機関から差し戻されました。理由: " strong { (claim.return_reason.as_deref().unwrap_or("（記載なし）")) } }
                            p { "明細を直して、もう一度提出してください。" }
                        }
                    }
                    @match claim.status {
                        Status::Submitted => p { "実施機関が審査しています。結果はこのページに表示されます。" },
                        Status::Approved => p { "承認されました。補助金の支払をお待ちください。" },
                        Status::Paid => p { "補助金を支払いました。" },
                        Status::Draft | Status::Returned => {},
                    }
                }
                section.card #claim-items-section {
                    h2 { "領収書の明細" }
                    @if items.is_empty() {
                        p #claim-no-items { "まだ明細がありません。" }
                    } @else {
                        table #claim-items {
                            thead { tr {
                                th { "購入日" } th { "購入先" } th { "品名・内容" } th.num { "金額" } th { "領収書" }
                                @if editable { th { "操作" } }
                            } }
                            tbody {
                                @for i in items {
                                    tr id=(format!("item-{}", i.id)) {
                                        td { (i.purchased_on) }
                                        td { (i.vendor) }
                                        td { (i.description) }
                                        td.num { (yen(i.amount)) }
                                        td {
                                            a id=(format!("receipt-link-{}", i.id)) href=(receipt_path(kind, i.id)) target="_blank" rel="noopener" { (i.receipt_name) }
                                            " (" (i.receipt_type.label()) "、" (size_label(i.receipt_size)) ")"
                                        }
                                        @if editable {
                                            td {
                                                form id=(format!("delete-item-{}", i.id)) method="post" action=(format!("{}/items/{}/delete", page_path(kind), i.id)) {
                                                    (csrf(token))
                                                    button.danger type="submit" { "削除" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            tfoot { tr { th colspan="3" { "合計" } td.num { (yen(total)) } td {} @if editable { td {} } } }
                        }
                    }
                }
                (super::account::sections(token, kind, claim, &loaded.documents, editable, account_form, errors))
                @if editable {
                    section.card #add-item {
                        h2 { "明細を追加" }
                        @let item_errors: Vec<&(&str, String)> = errors.iter().filter(|(f, _)| ITEM_FIELDS.contains(f)).collect();
                        @if !item_errors.is_empty() {
                            div.notice.error #item-errors role="alert" {
                                p { "明細を追加できませんでした。次の項目を直してください（領収書のファイルは選び直してください）。" }
                                @for (_, m) in item_errors { p { (m) } }
                            }
                        }
                        // The fragment brings the browser back to the errors when the form is shown again.
                        form #add-item-form method="post" action=(format!("{}/items#add-item", page_path(kind))) enctype="multipart/form-data" novalidate {
                            (csrf(token))
                            (field("購入日", "purchased_on", "date", &form.purchased_on, e("purchased_on")))
                            (field("購入先（販売店など）", "vendor", "text", &form.vendor, e("vendor")))
                            (field("品名・内容（例: 汎用カードリーダー 1台）", "description", "text", &form.description, e("description")))
                            (field("金額（税込・円、例: 52,800）", "amount", "text", &form.amount, e("amount")))
                            div.field.error[e("receipt").is_some()] {
                                label for="receipt" { "領収書（PDF・JPEG・PNG、10MBまで）" }
                                input #receipt name="receipt" type="file" accept="application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png" aria-invalid=[e("receipt").map(|_| "true")];
                                @if let Some(m) = e("receipt") { p.error-text { (m) } }
                            }
                            button.primary type="submit" { "明細を追加する" }
                        }
                        p { "明細は1件の申請につき" (MAX_ITEMS) "件まで追加できます。" }
                    }
                    section.card #submit-claim {
                        h2 { "申請を提出" }
                        @if items.is_empty() {
                            p { "明細（領収書）を1件以上追加すると提出できます。" }
                        } @else if claim.account.is_none() || loaded.documents.len() < store::DocumentRole::ALL.len() {
                            p #submit-needs { "振込先の口座と、口座確認書類・内訳書を登録すると提出できます。" }
                        } @else {
                            form #submit-claim-form method="post" action=(format!("{}/submit", page_path(kind))) {
                                (csrf(token))
                                p { "補助額 " strong { (yen(grant)) } " で申請します。提出すると、実施機関から差し戻された場合を除いて明細は変更できません。" }
                                button.primary type="submit" { "申請を提出する" }
                            }
                        }
                    }
                }
            }
            (crate::info::national_links())
            p { a href="/portal/home" { "ホームへ戻る" } }
        },
    )
}

fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "added" => Some("明細を追加しました。"),
        "deleted" => Some("明細を削除しました。"),
        "submitted" => Some("申請を提出しました。実施機関の審査をお待ちください。"),
        "account" => Some("振込先の口座を登録しました。"),
        "document" => Some("書類を登録しました。"),
        _ => None,
    }
}

/// `?done=` after a change.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    pub(super) done: String,
}

/// A form with only its CSRF token.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// An item id from a path: anything else is a page that does not exist.
pub(super) fn id_from_path(s: &str) -> Result<i64, PageError> {
    s.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(PageError::not_found)
}

/// The page of a refused change.
pub(super) fn refusal_error(r: Refusal) -> PageError {
    match r {
        Refusal::NotFound => PageError::not_found(),
        Refusal::WrongStatus(s) => PageError::bad_request(&format!(
            "この申請はいま「{}」のため、この操作はできません。",
            s.label()
        )),
        Refusal::TooManyItems => {
            PageError::bad_request(&format!("明細は1件の申請につき{MAX_ITEMS}件までです。"))
        }
        Refusal::NoItems => {
            PageError::bad_request("明細（領収書）を1件以上追加してから提出してください。")
        }
        Refusal::OverGrant(g) => {
            PageError::bad_request(&format!("承認額は補助額 {} を超えられません。", yen(g)))
        }
        Refusal::NoAccount => PageError::bad_request(
            "振込先の口座を登録してから提出してください（申請ページの「振込先の口座」）。",
        ),
        Refusal::NoDocument(role) => PageError::bad_request(&format!(
            "{}のファイルを登録してから提出してください。",
            role.label()
        )),
    }
}

/// GET `/portal/claims/{kind}`.
pub(super) async fn claim_page(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(kind): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let loaded = load(&portal, user.clinic_id, kind, Utc::now()).await?;
    Ok(respond(render(
        &portal.settings,
        &user.session.csrf,
        kind,
        &loaded,
        &ItemForm::default(),
        None,
        &Vec::new(),
        done_message(&done.done),
    )))
}

/// The item form as posted.
#[derive(Default)]
pub(super) struct Upload {
    pub(super) fields: HashMap<String, String>,
    /// The uploaded name and the bytes.
    pub(super) receipt: Option<(String, Vec<u8>)>,
}

impl Upload {
    pub(super) fn text(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

fn too_large() -> PageError {
    PageError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "領収書のファイルは{}MBまでです。ファイルを小さくする（スキャンの解像度を下げる、PDFを分ける等）か、別のファイルを選んでください。",
            MAX_RECEIPT_BYTES / (1024 * 1024)
        ),
    }
}

pub(super) fn unreadable() -> PageError {
    PageError::bad_request(
        "送信されたフォームを読めませんでした。ページを開き直してから、もう一度お試しください。",
    )
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> PageError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        unreadable()
    }
}

/// Reads the item form: text fields (short) and one receipt, counting its bytes as they come and
/// stopping at [`MAX_RECEIPT_BYTES`].
pub(super) async fn read_upload(mut multipart: Multipart) -> Result<Upload, PageError> {
    let mut upload = Upload::default();
    let mut parts = 0;
    while let Some(mut part) = multipart.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(unreadable());
        }
        let name = part.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "receipt" | "document" => {
                if upload.receipt.is_some() {
                    return Err(PageError::bad_request(
                        "ファイルは1回に1つです。分けて追加してください。",
                    ));
                }
                let file_name = part.file_name().unwrap_or_default().to_owned();
                let mut bytes = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > MAX_RECEIPT_BYTES {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                upload.receipt = Some((file_name, bytes));
            }
            "csrf" | "purchased_on" | "vendor" | "description" | "amount" => {
                let mut bytes = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > MAX_TEXT_BYTES {
                        return Err(PageError::bad_request(
                            "入力が長すぎます。内容を短くしてください。",
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(bytes).map_err(|_| unreadable())?;
                upload.fields.insert(name, text);
            }
            // Anything else is ignored (and not read).
            _ => {}
        }
    }
    Ok(upload)
}

/// Checks the item form: the item to store and its receipt's bytes, or every problem found.
pub(super) fn check_item(
    form: &ItemForm,
    receipt: Option<(String, Vec<u8>)>,
    today: NaiveDate,
) -> Result<(NewItem, Vec<u8>), Errors> {
    let mut errors: Errors = Vec::new();
    let purchased_on = parse_purchase_date(&form.purchased_on, today)
        .map_err(|m| errors.push(("purchased_on", m.to_string())))
        .ok();
    let vendor = parse_line(&form.vendor, "購入先", MAX_VENDOR_CHARS)
        .map_err(|m| errors.push(("vendor", m.to_string())))
        .ok();
    let description = parse_line(&form.description, "品名・内容", MAX_DESCRIPTION_CHARS)
        .map_err(|m| errors.push(("description", m.to_string())))
        .ok();
    let amount = parse_amount(&form.amount)
        .map_err(|m| errors.push(("amount", m.to_string())))
        .ok();
    let receipt = match receipt {
        Some((name, bytes)) if !bytes.is_empty() => match ReceiptType::sniff(&bytes) {
            Some(t) => Some((receipt::display_name(&name), bytes, t)),
            None => {
                errors.push((
                    "receipt",
                    "領収書は PDF・JPEG・PNG のいずれかのファイルにしてください（ファイルの中身で判定しています。拡張子を変えても受け付けられません）。".to_owned(),
                ));
                None
            }
        },
        _ => {
            errors.push(("receipt", "領収書のファイルを選んでください。".to_owned()));
            None
        }
    };
    match (purchased_on, vendor, description, amount, receipt) {
        (
            Some(purchased_on),
            Some(vendor),
            Some(description),
            Some(amount),
            Some((receipt_name, bytes, receipt_type)),
        ) if errors.is_empty() => Ok((
            NewItem {
                purchased_on,
                vendor,
                description,
                amount,
                receipt_type,
                receipt_name,
                receipt_size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            },
            bytes,
        )),
        _ => Err(errors),
    }
}

/// POST `/portal/claims/{kind}/items` (multipart).
pub(super) async fn add_item(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(kind): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let now = Utc::now();
    let upload = read_upload(multipart.map_err(|_| unreadable())?).await?;
    may_change(&portal, &user, kind, upload.text("csrf"), now).await?;
    let form = ItemForm {
        purchased_on: upload.text("purchased_on").to_owned(),
        vendor: upload.text("vendor").to_owned(),
        description: upload.text("description").to_owned(),
        amount: upload.text("amount").to_owned(),
    };
    let today = now.with_timezone(&jst()).date_naive();
    let checked = check_item(&form, upload.receipt, today);
    let clinic = user.clinic_id;
    let stored = blocking(&portal, move |p| {
        let db = p.store.portal();
        let account = db::account(db, clinic)?.ok_or_else(PageError::not_found)?;
        if account.status != AccountStatus::Approved {
            return Err(PageError::forbidden(NOT_ELIGIBLE));
        }
        let (item, bytes) = match checked {
            Ok(v) => v,
            Err(errors) => return Ok(Err(errors)),
        };
        let dir = &p.settings.receipts;
        let file = receipt::store(dir, &bytes).map_err(PageError::internal)?;
        // The row and the file together: no file without a row.
        match store::add_item(db, clinic, kind, &item, &file, now) {
            Ok(Ok(_)) => Ok(Ok(())),
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
    match stored {
        Ok(()) => Ok(Redirect::to(&format!(
            "{}?done=added#claim-items-section",
            page_path(kind)
        ))
        .into_response()),
        Err(errors) => {
            let loaded = load(&portal, clinic, kind, now).await?;
            Ok((
                StatusCode::BAD_REQUEST,
                respond(render(
                    &portal.settings,
                    &user.session.csrf,
                    kind,
                    &loaded,
                    &form,
                    None,
                    &errors,
                    None,
                )),
            )
                .into_response())
        }
    }
}

/// Refuses a change after the deadline (unless the claim of `kind` is returned and within its
/// late correction window), with a bad token, or for a clinic not approved.
pub(super) async fn may_change(
    portal: &State,
    user: &ClinicUser,
    kind: Kind,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), PageError> {
    let clinic = user.clinic_id;
    if !portal.settings.claims_open(now) {
        let returned_at = blocking(portal, move |p| {
            Ok(store::claim_of(p.store.portal(), clinic, kind)?
                .filter(|(c, _)| c.status == Status::Returned)
                .and_then(|(c, _)| c.returned_at))
        })
        .await?;
        if !portal.settings.may_edit(now, returned_at) {
            return Err(PageError::forbidden(&closed_message(&portal.settings)));
        }
    }
    user.session.check_csrf(token)?;
    let status = blocking(portal, move |p| {
        Ok(db::account(p.store.portal(), clinic)?.map(|a| a.status))
    })
    .await?;
    match status {
        Some(AccountStatus::Approved) => Ok(()),
        Some(_) => Err(PageError::forbidden(NOT_ELIGIBLE)),
        None => Err(PageError::not_found()),
    }
}

/// POST `/portal/claims/{kind}/items/{item}/delete`.
pub(super) async fn delete_item(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path((kind, item)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let item = id_from_path(&item)?;
    may_change(&portal, &user, kind, &f.csrf, Utc::now()).await?;
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        match store::delete_item(p.store.portal(), clinic, kind, item)? {
            Ok(file) => {
                receipt::remove(&p.settings.receipts, &file);
                Ok(())
            }
            Err(r) => Err(refusal_error(r)),
        }
    })
    .await?;
    Ok(Redirect::to(&format!(
        "{}?done=deleted#claim-items-section",
        page_path(kind)
    ))
    .into_response())
}

/// POST `/portal/claims/{kind}/submit`.
pub(super) async fn submit(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(kind): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let now = Utc::now();
    may_change(&portal, &user, kind, &f.csrf, now).await?;
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        let rates = Rates::of(&p.settings);
        store::submit(p.store.portal(), clinic, kind, &rates, now)?.map_err(refusal_error)
    })
    .await?;
    Ok(Redirect::to(&format!("{}?done=submitted", page_path(kind))).into_response())
}

/// GET `/portal/claims/{kind}/items/{item}/receipt`: the clinic's own receipt.
pub(super) async fn receipt(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path((kind, item)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let kind = Kind::from_path(&kind)?;
    let item = id_from_path(&item)?;
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        let (file, t) = store::clinic_receipt(p.store.portal(), clinic, kind, item)?
            .ok_or_else(PageError::not_found)?;
        receipt::serve(&p.settings.receipts, &file, t)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ItemForm {
        ItemForm {
            purchased_on: "2025-10-01".to_owned(),
            vendor: "家電店".to_owned(),
            description: "汎用カードリーダー".to_owned(),
            amount: "52,800".to_owned(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 12, 1).unwrap_or_default()
    }

    #[test]
    fn a_good_item_is_accepted() {
        let receipt = Some(("../領収書.pdf".to_owned(), b"%PDF-1.7 x".to_vec()));
        let (item, bytes) =
            check_item(&form(), receipt, today()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(item.amount, 52_800);
        assert_eq!(item.receipt_type, ReceiptType::Pdf);
        assert_eq!(item.receipt_name, "領収書.pdf");
        assert_eq!(item.receipt_size, 10);
        assert_eq!(bytes, b"%PDF-1.7 x");
    }

    #[test]
    fn every_problem_names_its_field() {
        let bad = ItemForm {
            purchased_on: "2099-01-01".to_owned(),
            vendor: String::new(),
            description: "x".repeat(MAX_DESCRIPTION_CHARS + 1),
            amount: "-1".to_owned(),
        };
        let receipt = Some(("receipt.pdf".to_owned(), b"<html>".to_vec()));
        let errors = check_item(&bad, receipt, today()).err().unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            ["purchased_on", "vendor", "description", "amount", "receipt"]
        );
        for ((_, m), word) in
            errors
                .iter()
                .zip(["購入日", "購入先", "品名・内容", "金額", "領収書"])
        {
            assert!(m.contains(word), "{m}");
        }
        let missing = check_item(&form(), Some(("a.pdf".to_owned(), Vec::new())), today());
        assert!(missing.is_err_and(|e| e[0].1.contains("選んで")));
        assert!(check_item(&form(), None, today()).is_err());
    }

    #[test]
    fn ids_from_paths() {
        assert_eq!(id_from_path("12").ok(), Some(12));
        for bad in ["0", "-1", "x", "1.0", "99999999999999999999"] {
            assert!(id_from_path(bad).is_err(), "{bad}");
        }
    }
}
