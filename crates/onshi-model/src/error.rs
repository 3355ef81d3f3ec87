//! The one error type of the domain: what was wrong with a value, in English and in Japanese.

use crate::kana::KanaError;
use crate::wareki::WarekiError;

/// Why a value is not a valid domain value. `Display` is English; [`ModelError::message_ja`] is
/// the same in Japanese, for the screens and reports a clinic or an insurer reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A required value is empty.
    #[error("value is empty")]
    Empty,
    /// The value is longer than the format allows.
    #[error("too long: {len} characters, at most {max}")]
    TooLong {
        /// Characters given.
        len: usize,
        /// Characters allowed.
        max: usize,
    },
    /// The value has the wrong number of digits or non-digit characters.
    #[error("must be {expected}: {value:?}")]
    Format {
        /// What the format is, in English.
        expected: &'static str,
        /// What the format is, in Japanese.
        expected_ja: &'static str,
        /// The value given.
        value: String,
    },
    /// A character that the value may not contain.
    #[error("character {ch:?} not allowed at position {position}")]
    BadChar {
        /// 1-based character position.
        position: usize,
        /// The character.
        ch: char,
    },
    /// The 検証番号 of a 保険者番号 does not match its other digits.
    #[error("check digit of insurer number {value} is {found}, expected {expected}")]
    CheckDigit {
        /// The insurer number given.
        value: String,
        /// The last digit given.
        found: u8,
        /// The check digit computed from the other digits.
        expected: u8,
    },
    /// A 法別番号 that is not a health insurer's.
    #[error("law code {0} is not a health insurer's (法別番号)")]
    LawCode(String),
    /// A 都道府県番号 outside 01–47.
    #[error("prefecture code {0} is not 01-47")]
    Prefecture(String),
    /// A code that the code table does not hold.
    #[error("{table}: unknown code {value:?}")]
    UnknownCode {
        /// The element name of the code table.
        table: &'static str,
        /// The code given.
        value: String,
    },
    /// A yyyyMMdd string that is not a real date.
    #[error("not a date (yyyyMMdd): {0:?}")]
    Date(String),
    /// Two values that contradict each other (e.g. 喪失日 before 取得日).
    #[error("{en}")]
    Inconsistent {
        /// English explanation.
        en: String,
        /// Japanese explanation.
        ja: String,
    },
    /// A 和暦 error.
    #[error(transparent)]
    Wareki(#[from] WarekiError),
    /// A kana error.
    #[error(transparent)]
    Kana(#[from] KanaError),
}

impl ModelError {
    /// The explanation in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            Self::Empty => "値が空です".to_owned(),
            Self::TooLong { len, max } => format!("長すぎます（{len}文字、{max}文字まで）"),
            Self::Format {
                expected_ja, value, ..
            } => format!("{expected_ja}で入力してください（値「{value}」）"),
            Self::BadChar { position, ch } => {
                format!("使えない文字があります（{position}文字目「{ch}」）")
            }
            Self::CheckDigit {
                value,
                found,
                expected,
            } => format!(
                "保険者番号 {value} の検証番号が正しくありません（{found}、正しくは{expected}）"
            ),
            Self::LawCode(code) => {
                format!("法別番号 {code} は医療保険の保険者のものではありません")
            }
            Self::Prefecture(code) => {
                format!("都道府県番号 {code} は 01〜47 ではありません")
            }
            Self::UnknownCode { table, value } => {
                format!("{table} のコード「{value}」は定義されていません")
            }
            Self::Date(value) => format!("存在しない日付です（yyyyMMdd、値「{value}」）"),
            Self::Inconsistent { ja, .. } => ja.clone(),
            Self::Wareki(e) => e.message_ja(),
            Self::Kana(e) => e.message_ja(),
        }
    }

    pub(crate) fn format(expected: &'static str, expected_ja: &'static str, value: &str) -> Self {
        Self::Format {
            expected,
            expected_ja,
            value: value.to_owned(),
        }
    }
}
