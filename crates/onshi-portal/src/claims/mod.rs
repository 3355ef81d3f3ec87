//! Subsidy claims (補助金申請): a clinic claims the 機器導入 (equipment) and レセコン改修
//! (rececon) subsidies with its receipts until the deadline; the operator approves, returns or
//! marks claims paid, and exports the approved ones as CSV for payment.
//!
//! The facts come from the seed notice (令和7年度): the equipment grant is the actual cost of the
//! devices the limited-type check needs (card readers, tablets, smartphones, PCs), at most 4.1万円
//! per clinic; claims close on 令和8年1月15日; receipts are required. The notice leaves the
//! rececon amounts to a later announcement, so its rate and cap are the server's `[portal]`
//! settings and the pages call them provisional.
//!
//! A claim goes draft → submitted → approved → paid, or submitted → returned (with a reason) →
//! corrected and submitted again. One claim per clinic and kind.

mod account;
pub mod bank;
mod clinic;
mod payment;
mod receipt;
pub use receipt::{sweep_orphans, ORPHAN_MIN_AGE};
mod review;
mod store;
pub mod zengin;

use axum::routing::{get, post};
use axum::Router;
use chrono::{Datelike, NaiveDate};
use onshi_store::StoreError;

pub use receipt::{display_name, ReceiptType};

use crate::error::FieldError;
use crate::view::PageError;
use crate::{Settings, State};

/// The largest amount of one item (yen): far above any device, low enough that sums never
/// overflow.
pub const MAX_ITEM_YEN: i64 = 99_999_999;
/// The most items one claim holds.
pub const MAX_ITEMS: i64 = 50;
/// The longest vendor name (characters).
pub const MAX_VENDOR_CHARS: usize = 100;
/// The longest item description (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// The longest reason for returning a claim (characters).
pub const MAX_REASON_CHARS: usize = 1000;

/// The kind of subsidy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 機器導入: card readers, tablets, smartphones, PCs for the limited-type check.
    Equipment,
    /// レセコン改修: the receipt computer's change for the レセコン連携機能.
    Rececon,
}

impl Kind {
    /// Both kinds, in the order pages list them.
    pub const ALL: [Self; 2] = [Self::Equipment, Self::Rececon];

    /// The stored word (also the path segment).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equipment => "equipment",
            Self::Rececon => "rececon",
        }
    }

    /// From the stored word or path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// In Japanese.
    pub fn label(self) -> &'static str {
        match self {
            Self::Equipment => "機器導入",
            Self::Rececon => "レセコン改修",
        }
    }

    /// From a path segment: an unknown kind is a page that does not exist.
    pub(crate) fn from_path(s: &str) -> Result<Self, PageError> {
        Self::parse(s).ok_or_else(PageError::not_found)
    }
}

/// Where a claim stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Being written by the clinic.
    Draft,
    /// Submitted, waiting for the operator.
    Submitted,
    /// Returned by the operator with a reason: the clinic corrects it and submits again.
    Returned,
    /// Approved with an amount.
    Approved,
    /// Paid.
    Paid,
}

impl Status {
    /// Every status, in the order of the claim's life.
    pub const ALL: [Self; 5] = [
        Self::Draft,
        Self::Submitted,
        Self::Returned,
        Self::Approved,
        Self::Paid,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Returned => "returned",
            Self::Approved => "approved",
            Self::Paid => "paid",
        }
    }

    /// From the stored word.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Data(format!("claim status {s:?}")))
    }

    /// In Japanese.
    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "作成中（未提出）",
            Self::Submitted => "提出済み（審査待ち）",
            Self::Returned => "差戻し",
            Self::Approved => "承認済み（支払待ち）",
            Self::Paid => "支払済み",
        }
    }

    /// Whether the clinic may still change and submit it.
    pub fn editable(self) -> bool {
        matches!(self, Self::Draft | Self::Returned)
    }
}

/// The amounts that turn costs into grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// 機器導入: the actual cost up to this.
    pub equipment_cap_yen: i64,
    /// レセコン改修: this share of the cost (percent) …
    pub rececon_rate_percent: i64,
    /// … up to this.
    pub rececon_cap_yen: i64,
}

impl Rates {
    /// The rates of the server's `[portal]` settings.
    pub fn of(s: &Settings) -> Self {
        Self {
            equipment_cap_yen: s.equipment_cap_yen,
            rececon_rate_percent: s.rececon_rate_percent,
            rececon_cap_yen: s.rececon_cap_yen,
        }
    }

    /// The grant for a total cost of `total` yen (see [`Computation`]).
    pub fn grant(&self, kind: Kind, total: i64) -> i64 {
        self.compute(kind, total).grant
    }

    /// How the grant of a total cost of `total` yen is computed, as the national claims do:
    /// the equipment's actual cost, the rececon's cost × rate (1円未満切り捨て); then the cap;
    /// then 1,000円未満切り捨て.
    pub fn compute(&self, kind: Kind, total: i64) -> Computation {
        let total = total.max(0);
        let (share, cap) = match kind {
            Kind::Equipment => (total, self.equipment_cap_yen.max(0)),
            Kind::Rececon => {
                let share = i128::from(total) * i128::from(self.rececon_rate_percent.max(0)) / 100;
                (
                    i64::try_from(share).unwrap_or(i64::MAX),
                    self.rececon_cap_yen.max(0),
                )
            }
        };
        let capped = share.min(cap);
        Computation {
            total,
            share,
            cap,
            capped,
            grant: capped - capped % GRANT_UNIT_YEN,
        }
    }
}

/// The grant is paid in whole thousands of yen (1,000円未満切り捨て).
pub const GRANT_UNIT_YEN: i64 = 1_000;

/// The steps from the receipts' total to the grant, shown on the claim pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Computation {
    /// 領収書の合計 (実費).
    pub total: i64,
    /// The part the subsidy covers: the total (機器導入), or total × rate (レセコン改修).
    pub share: i64,
    /// 上限.
    pub cap: i64,
    /// The share, at most the cap.
    pub capped: i64,
    /// `capped` rounded down to the thousand: the grant.
    pub grant: i64,
}

/// An amount of yen as typed: digits, with commas between thousands allowed (52,800),
/// full-width digits and a trailing 円 accepted; no sign, decimals or exponents.
pub fn parse_amount(s: &str) -> Result<i64, FieldError> {
    let normalised: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '，' => ',',
            c => c,
        })
        .collect();
    let normalised = normalised
        .strip_suffix('円')
        .unwrap_or(&normalised)
        .trim_end();
    if normalised.is_empty() {
        return Err(FieldError::AmountRequired);
    }
    if !normalised.chars().all(|c| c.is_ascii_digit() || c == ',') {
        return Err(FieldError::AmountCharacters);
    }
    if normalised.contains(',') {
        let mut groups = normalised.split(',');
        let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
        if !first_ok || !groups.all(|g| g.len() == 3) {
            return Err(FieldError::AmountCommas);
        }
    }
    let digits: String = normalised.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    let too_big = || FieldError::AmountTooBig { max: MAX_ITEM_YEN };
    if digits.len() > 9 {
        return Err(too_big());
    }
    let value: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| too_big())?
    };
    if value == 0 {
        return Err(FieldError::AmountZero);
    }
    if value > MAX_ITEM_YEN {
        return Err(too_big());
    }
    Ok(value)
}

/// A purchase date as typed (`yyyy-mm-dd`, or with slashes), not after `today`.
pub fn parse_purchase_date(s: &str, today: NaiveDate) -> Result<NaiveDate, FieldError> {
    let s = s.trim().replace('/', "-");
    if s.is_empty() {
        return Err(FieldError::PurchaseDateRequired);
    }
    let date = (s.len() == 10)
        .then(|| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
        .flatten()
        .filter(|d| d.year() >= 2000)
        .ok_or(FieldError::PurchaseDateFormat)?;
    if date > today {
        return Err(FieldError::PurchaseDateFuture);
    }
    Ok(date)
}

/// A one-line text as typed: trimmed, required, at most `max` characters, no control
/// characters. `label` names the field in the messages.
pub fn parse_line(s: &str, label: &'static str, max: usize) -> Result<String, FieldError> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 {
        Err(FieldError::Required { label })
    } else if n > max {
        Err(FieldError::TooLong { label, max })
    } else if t.chars().any(char::is_control) {
        Err(FieldError::LineBreak { label })
    } else {
        Ok(t.to_owned())
    }
}

/// The deadline as pages show it: 2026年1月15日.
pub(crate) fn deadline_label(s: &Settings) -> String {
    crate::view::day(s.deadline)
}

/// The message for every change after the deadline.
pub(crate) fn closed_message(s: &Settings) -> String {
    format!(
        "申請期間は終了しました（申請期限: {}、日本時間の終わりまで）。申請の追加・変更・提出はできません。",
        deadline_label(s)
    )
}

/// The claims' routes: the clinic's side and the operator's review.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/portal/claims/{kind}", get(clinic::claim_page))
        .route("/portal/claims/{kind}/items", post(clinic::add_item))
        .route(
            "/portal/claims/{kind}/items/{item}/delete",
            post(clinic::delete_item),
        )
        .route(
            "/portal/claims/{kind}/items/{item}/receipt",
            get(clinic::receipt),
        )
        .route("/portal/claims/{kind}/submit", post(clinic::submit))
        .route("/portal/claims/{kind}/account", post(account::set_account))
        .route(
            "/portal/claims/{kind}/documents/{role}",
            get(account::document).post(account::put_document),
        )
        .route(
            "/portal/operator/claims/{id}/documents/{role}",
            get(account::review_document),
        )
        .route("/portal/operator/claims", get(review::list))
        .route("/portal/operator/claims.csv", get(review::export))
        .route("/portal/operator/claims.zengin", get(payment::file))
        .route(
            "/portal/operator/payment",
            get(payment::show).post(payment::save),
        )
        .route("/portal/operator/claims/{id}", get(review::detail))
        .route(
            "/portal/operator/claims/{id}/approve",
            post(review::approve),
        )
        .route(
            "/portal/operator/claims/{id}/return",
            post(review::return_claim),
        )
        .route("/portal/operator/claims/{id}/paid", post(review::paid))
        .route(
            "/portal/operator/claims/{id}/items/{item}/receipt",
            get(review::receipt),
        )
}

/// The item form's multipart reader, for the fuzzing entry point: the text fields and the
/// receipt (name, bytes).
#[doc(hidden)]
pub(crate) async fn read_upload_for_fuzzing(
    multipart: axum::extract::Multipart,
) -> Result<
    (
        std::collections::HashMap<String, String>,
        Option<(String, Vec<u8>)>,
    ),
    crate::view::PageError,
> {
    clinic::read_upload(multipart)
        .await
        .map(|u| (u.fields, u.receipt))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: Rates = Rates {
        equipment_cap_yen: 41_000,
        rececon_rate_percent: 50,
        rececon_cap_yen: 100_000,
    };

    #[test]
    fn equipment_grant_is_the_cost_up_to_the_cap_in_whole_thousands() {
        assert_eq!(RATES.grant(Kind::Equipment, 52_800), 41_000);
        assert_eq!(RATES.grant(Kind::Equipment, 40_999), 40_000);
        assert_eq!(RATES.grant(Kind::Equipment, 30_000), 30_000);
        assert_eq!(RATES.grant(Kind::Equipment, 999), 0);
        assert_eq!(
            RATES.compute(Kind::Equipment, 40_999),
            Computation {
                total: 40_999,
                share: 40_999,
                cap: 41_000,
                capped: 40_999,
                grant: 40_000
            }
        );
        assert_eq!(RATES.grant(Kind::Equipment, 41_000), 41_000);
        assert_eq!(RATES.grant(Kind::Equipment, 0), 0);
        assert_eq!(RATES.grant(Kind::Equipment, i64::MAX), 41_000);
    }

    #[test]
    fn rececon_grant_is_the_rate_rounded_down_up_to_the_cap() {
        assert_eq!(RATES.grant(Kind::Rececon, 100_001), 50_000);
        assert_eq!(RATES.grant(Kind::Rececon, 99_999), 49_000);
        assert_eq!(RATES.compute(Kind::Rececon, 99_999).capped, 49_999);
        assert_eq!(RATES.grant(Kind::Rececon, 250_000), 100_000);
        assert_eq!(RATES.grant(Kind::Rececon, i64::MAX), 100_000);
        let third = Rates {
            rececon_rate_percent: 33,
            rececon_cap_yen: 10_000,
            ..RATES
        };
        assert_eq!(third.compute(Kind::Rececon, 1_001).share, 330);
        assert_eq!(third.grant(Kind::Rececon, 1_001), 0);
        assert_eq!(third.grant(Kind::Rececon, 7_000), 2_000);
        assert_eq!(third.grant(Kind::Rececon, 1_000_000), 10_000);
        let none = Rates {
            rececon_rate_percent: 0,
            ..RATES
        };
        assert_eq!(none.grant(Kind::Rececon, 1_000_000), 0);
    }

    #[test]
    fn amounts() {
        for (s, v) in [
            ("52,800", 52_800),
            ("52800", 52_800),
            (" 1,234,567 ", 1_234_567),
            ("５２，８００", 52_800),
            ("52,800円", 52_800),
            ("1", 1),
            ("099", 99),
            ("99,999,999", MAX_ITEM_YEN),
        ] {
            assert_eq!(parse_amount(s), Ok(v), "{s}");
        }
        for s in [
            "",
            "-1",
            "abc",
            "1e3",
            "1.5",
            "+5",
            "0",
            "0,000",
            "5,28,00",
            ",100",
            "100,",
            "1,0000",
            "100000000",
            "99999999999999999999999",
            "1 000",
            "１e３",
        ] {
            assert!(parse_amount(s).is_err(), "{s}");
        }
    }

    #[test]
    fn dates_and_lines() {
        let today = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap_or_default();
        assert_eq!(
            parse_purchase_date("2025-10-01", today),
            Ok(NaiveDate::from_ymd_opt(2025, 10, 1).unwrap_or_default())
        );
        assert!(parse_purchase_date("2025/10/01", today).is_ok());
        for s in [
            "",
            "2025-13-01",
            "2025-1-1",
            "01-10-2025",
            "abc",
            "2025-12-02",
        ] {
            assert!(parse_purchase_date(s, today).is_err(), "{s}");
        }
        assert_eq!(
            parse_line(" 家電店 ", "購入先", 10).as_deref(),
            Ok("家電店")
        );
        // The page's words, exactly.
        let said = |r: Result<String, FieldError>| r.map_err(|e| e.to_string());
        assert_eq!(
            said(parse_line("", "購入先", 10)),
            Err("購入先を入力してください。".to_owned())
        );
        assert_eq!(
            said(parse_line("a\nb", "購入先", 10)),
            Err("購入先に改行や制御文字は使えません。".to_owned())
        );
        assert_eq!(
            said(parse_line(&"あ".repeat(11), "購入先", 10)),
            Err("購入先は10文字以内で入力してください。".to_owned())
        );
        assert_eq!(
            parse_purchase_date("2025-12-02", today).map_err(|e| e.to_string()),
            Err("購入日が未来の日付になっています。".to_owned())
        );
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("other"), None);
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()).ok(), Some(s));
        }
        assert!(Status::parse("x").is_err());
        assert!(Status::Draft.editable() && Status::Returned.editable());
        assert!(!Status::Submitted.editable() && !Status::Paid.editable());
    }
}
