//! レセコン連携: the files a receipt computer (レセコン) reads after an eligibility check.
//!
//! Three files per check, all with the same stem (see [`file_name`]):
//! - the online eligibility system's result XML (`OQSsiquc01res_…xml`), UTF-8 or Shift_JIS;
//! - the text the national マイナ資格確認アプリ copies to the clipboard (`label` TAB `value`, CRLF);
//! - a JSON file with the result format's element names.
//!
//! The layouts follow `shared/FORMATS.md`; every choice made where it is unsure is in
//! `docs/rececon.md`. Characters that Shift_JIS cannot carry are never replaced by ● or `?`:
//! [`sjis`] maps them to a standard form and reports each one.

mod clipboard;
mod error;
mod files;
mod json;
pub mod sjis;
mod xml;

use onshi_model::codes::ReferenceClassification;
use onshi_model::{Eligibility, ReferenceNumber};

pub use clipboard::clipboard_text;
pub use error::RececonError;
pub use files::{file_name, file_stem, write_all, Written};
pub use json::json;
pub use sjis::Mapped;
pub use xml::{xml, Output};

/// A calendar date (the visit date).
pub type Date = onshi_model::Date;

/// Everything the output files say about one check.
#[derive(Clone, Copy, Debug)]
pub struct CheckResult<'a> {
    /// The service's answer: QualificationValidity and the records.
    pub eligibility: &'a Eligibility,
    /// The visit date (QualificationConfirmationDate, 確認日).
    pub visit: Date,
    /// The local time of the check (ProcessExecutionTime).
    pub processed_at: chrono::NaiveDateTime,
    /// 照会番号 (ReferenceNumber) the service gave the check: only the issued form, so it is
    /// safe in a file name.
    pub reference_number: &'a ReferenceNumber,
    /// ProcessingResultStatus (`1` 正常終了, `2` 異常終了).
    pub processing_result_status: &'a str,
    /// ProcessingResultCode, when the service gave one.
    pub processing_result_code: Option<&'a str>,
    /// ProcessingResultMessage, when the service gave one.
    pub processing_result_message: Option<&'a str>,
    /// How the check was asked: 1 マイナンバーカード, 2 被保険者証情報.
    pub reference_classification: ReferenceClassification,
    /// MedicalInstitutionCode: the clinic's 10-digit code when known, else `0000000000`.
    pub institution_code: &'a str,
}

/// The character encoding of the XML and text files (JSON is always UTF-8).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Encoding {
    /// UTF-8 (CharacterCodeIdentifier 0): every character kept exactly.
    Utf8,
    /// Shift_JIS as Windows writes it (CP932, CharacterCodeIdentifier 1).
    ShiftJis,
}

impl Encoding {
    /// The CharacterCodeIdentifier code of this encoding.
    pub fn character_code_identifier(self) -> &'static str {
        match self {
            Encoding::Utf8 => "0",
            Encoding::ShiftJis => "1",
        }
    }

    /// The name written in the XML declaration.
    pub fn xml_name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS",
        }
    }
}
