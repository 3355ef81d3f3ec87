//! レセコン連携: the files a receipt computer (レセコン) reads after an eligibility check.
//!
//! Per check, all with one stem (see [`file_stem`]):
//! - the online eligibility system's result XML (`OQSsiquc01res_…xml`), UTF-8 or Shift_JIS, one
//!   file per record (a [`Part`]): the public readers take exactly one
//!   `ResultOfQualificationConfirmation` per file;
//! - the text the national マイナ資格確認アプリ copies to the clipboard (`label` TAB `value`, CRLF),
//!   one block of one record per file, and only for a 有効 answer;
//! - one JSON file with the whole answer and the result format's element names
//!   (`docs/rececon.schema.json`).
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

use onshi_model::codes::{
    CharacterCodeIdentifier, ProcessingResultStatus, ReferenceClassification, ResultCode,
};
use onshi_model::{Answer, Qualification, QualificationValidity, ReferenceNumber};

pub use clipboard::clipboard_text;
pub use error::RececonError;
pub use files::{file_name, file_stem, text_file, write_all, Written};
pub use json::json;
pub use sjis::Mapped;
pub use xml::{xml, Output};

/// A calendar date (the visit date).
pub type Date = onshi_model::Date;

/// Everything the output files say about one check.
#[derive(Clone, Copy, Debug)]
pub struct CheckResult<'a> {
    /// The service's answer: QualificationValidity and the qualifications.
    pub eligibility: &'a Answer,
    /// The visit date (QualificationConfirmationDate, 確認日).
    pub visit: Date,
    /// The local time of the check (ProcessExecutionTime).
    pub processed_at: chrono::NaiveDateTime,
    /// 照会番号 (ReferenceNumber) the service gave the check: only the issued form, so it is
    /// safe in a file name.
    pub reference_number: &'a ReferenceNumber,
    /// ProcessingResultStatus: `1` 正常終了, `2` 異常終了.
    pub processing_result_status: ProcessingResultStatus,
    /// ProcessingResultCode, when the service gave one.
    pub processing_result_code: Option<ResultCode>,
    /// ProcessingResultMessage, when the service gave one.
    pub processing_result_message: Option<&'a str>,
    /// How the check was asked: 1 マイナンバーカード, 2 被保険者証情報.
    pub reference_classification: ReferenceClassification,
    /// MedicalInstitutionCode: the clinic's 10-digit code, or [`InstitutionCode::UNKNOWN`].
    pub institution_code: InstitutionCode,
}

impl<'a> CheckResult<'a> {
    /// The check split into the parts the XML and text files are written for: one per record
    /// (numbered from 1 when there are several), or one without a record when there is none.
    pub fn parts(&self) -> Vec<Part<'a>> {
        let records = &self.eligibility.records;
        if records.is_empty() {
            return vec![Part {
                check: *self,
                record: None,
                number: None,
            }];
        }
        let several = records.len() > 1;
        records
            .iter()
            .enumerate()
            .map(|(i, r)| Part {
                check: *self,
                record: Some(r),
                number: several.then_some(i + 1),
            })
            .collect()
    }

    /// Whether the answer is one a receipt computer may take as insurance: the check finished
    /// (`ProcessingResultStatus` 1) and the qualification is 有効. Only then is there a
    /// clipboard text.
    pub fn is_valid(&self) -> bool {
        self.processing_result_status == ProcessingResultStatus::OK
            && self.eligibility.validity == QualificationValidity::VALID
    }
}

/// One file's worth of a check: the check with at most one of its records.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    /// The check.
    pub check: CheckResult<'a>,
    /// The record of this file (`None` when the answer has none, e.g. 該当資格なし).
    pub record: Option<&'a Qualification>,
    /// The record's number among several (1, 2 …), `None` when the answer has at most one: it
    /// goes into the file name.
    pub number: Option<usize>,
}

/// MedicalInstitutionCode (医療機関等コード): ten ASCII digits. In settings files it is a
/// string (`institution_code = "1312345678"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstitutionCode([u8; 10]);

impl TryFrom<String> for InstitutionCode {
    type Error = RececonError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<InstitutionCode> for String {
    fn from(c: InstitutionCode) -> Self {
        c.as_str().to_owned()
    }
}

impl InstitutionCode {
    /// Ten zeros: what the files say while the clinic's own code is not configured (the element
    /// is required and fixed-length; readers check only the length).
    pub const UNKNOWN: Self = Self([b'0'; 10]);

    /// Parses ten ASCII digits.
    pub fn parse(s: &str) -> Result<Self, RececonError> {
        let bytes: [u8; 10] = s
            .as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; 10]| b.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| RececonError::BadValue {
                field: "MedicalInstitutionCode",
                reason: format!(
                    "医療機関等コードは半角数字10桁です（{s:?}） / 10 ASCII digits expected, got {s:?}"
                ),
            })?;
        Ok(Self(bytes))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("0000000000")
    }
}

impl std::fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for InstitutionCode {
    type Err = RececonError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The character encoding of the XML and text files (JSON is always UTF-8): the one type the
/// app's settings (`encoding = "utf-8"` / `"shift_jis"`) and the writers share.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// UTF-8 (CharacterCodeIdentifier 0): every character kept exactly. The default.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Shift_JIS as Windows writes it (CP932, CharacterCodeIdentifier 1), for older receipt
    /// computers.
    #[serde(rename = "shift_jis")]
    ShiftJis,
}

impl Encoding {
    /// The CharacterCodeIdentifier of this encoding.
    pub fn character_code_identifier(self) -> CharacterCodeIdentifier {
        match self {
            Encoding::Utf8 => CharacterCodeIdentifier::UTF8,
            Encoding::ShiftJis => CharacterCodeIdentifier::SHIFT_JIS,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn institution_codes_are_ten_digits() {
        assert_eq!(
            InstitutionCode::parse("1312345678").unwrap().as_str(),
            "1312345678"
        );
        for bad in [
            "",
            "131234567",
            "13123456789",
            "131234567a",
            "１３１２３４５６７８",
        ] {
            assert!(InstitutionCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(InstitutionCode::UNKNOWN.to_string(), "0000000000");
    }
}
