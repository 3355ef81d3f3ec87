//! The reception app (the counterpart of the national マイナ資格確認アプリ): enrolls the
//! terminal with the service, renews its certificate, checks a patient's card (PIN or 目視),
//! registers a card for health-insurance use on the spot, checks by the numbers on a 資格確認書,
//! keeps the terminal's own history of checks, re-checks visits recorded as 未確認 (with the
//! card, or without it from the certificate [`held`] for the visit), says every answer's next
//! step ([`guidance`]), and what to fix when something is wrong. The `onshi app` commands are
//! thin wrappers over [`enroll::enroll`], [`enroll::renew`], [`check::check`],
//! [`check::register`], [`check::query`], [`check::recheck`], [`check::recheck_held`],
//! [`history`] and [`doctor`].

pub mod check;
pub mod client;
pub mod data;
pub mod desktop;
pub mod doctor;
pub mod enroll;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod guidance;
pub mod held;
pub mod history;
pub mod reader;

pub use check::{check, query, recheck, register, Asked, CheckOutcome, Desk, Numbers, Recheck};
pub use enroll::{enroll, renew, renewal_due, EnrollArgs};
pub use error::AppError;

/// Exit codes of `onshi app verify` (documented in its help and the README).
pub mod exit {
    /// The service answered 資格有効性 1 (有効).
    pub const VALID: u8 = 0;
    /// The service answered, but not 有効: validity 2–6, or 異常終了 (ProcessingResultStatus 2).
    pub const NOT_VALID: u8 = 1;
    /// The card stopped the check: wrong or locked PIN, no card, not a My Number card, photo not
    /// confirmed.
    pub const CARD_ERROR: u8 = 2;
    /// The service could not be asked: unreachable, timeout, not trusted, terminal refused.
    pub const SERVICE_ERROR: u8 = 3;
    /// The app itself cannot run: not enrolled, a file of the data directory unreadable, a bad
    /// argument.
    pub const SETUP_ERROR: u8 = 4;

    /// The exit code for an error.
    pub fn for_error(e: &crate::AppError) -> u8 {
        if e.is_card_error() {
            CARD_ERROR
        } else if e.is_service_error() {
            SERVICE_ERROR
        } else {
            SETUP_ERROR
        }
    }
}
