//! The code tables of the online eligibility system's result format, named as its XML elements.
//!
//! Each table is a newtype over the code as written on the wire, with named constants for the
//! known codes. An unknown code still parses through [`Code`] so that it survives a round trip;
//! `parse` refuses it, `from_wire` keeps it (rustls' `enum_builder!` pattern).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A wire code: 1 to 3 ASCII alphanumerics, stored inline (codes are copied into every record).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    bytes: [u8; 3],
    len: u8,
}

impl Code {
    /// A code from a constant; panics at compile time on a bad literal.
    pub const fn new(s: &str) -> Self {
        let b = s.as_bytes();
        assert!(
            !b.is_empty() && b.len() <= 3,
            "a code has 1 to 3 characters"
        );
        let mut bytes = [0u8; 3];
        let mut i = 0;
        while i < b.len() {
            assert!(b[i].is_ascii_alphanumeric(), "a code is ASCII alphanumeric");
            bytes[i] = b[i];
            i += 1;
        }
        Self {
            bytes,
            len: b.len() as u8,
        }
    }

    /// A code from untrusted text, or `None` when it is not 1–3 ASCII alphanumerics.
    pub fn from_wire(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut bytes = [0u8; 3];
        bytes[..b.len()].copy_from_slice(b);
        Some(Self {
            bytes,
            len: b.len() as u8,
        })
    }

    /// The code as written.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! code_table {
    (
        $(#[$doc:meta])*
        $name:ident = $element:literal {
            $( $(#[$cdoc:meta])* $konst:ident = $code:literal => $label:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Code);

        impl $name {
            $( $(#[$cdoc])* pub const $konst: Self = Self(Code::new($code)); )+

            /// The element name of the result format.
            pub const ELEMENT: &'static str = $element;

            /// Every known code, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$konst),+];

            /// A known code, or an error naming the table and the value.
            pub fn parse(s: &str) -> Result<Self, ModelError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|c| c.as_str() == s)
                    .ok_or_else(|| ModelError::UnknownCode { table: $element, value: s.to_owned() })
            }

            /// Any well-formed code, known or not (for values read off the wire).
            pub fn from_wire(s: &str) -> Option<Self> {
                Code::from_wire(s).map(Self)
            }

            /// The code as written.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The Japanese name of a known code.
            pub fn label(&self) -> Option<&'static str> {
                match self.as_str() {
                    $( $code => Some($label), )+
                    _ => None,
                }
            }

            /// Whether the table defines this code.
            pub fn is_known(&self) -> bool {
                self.label().is_some()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({}", stringify!($name), self.as_str())?;
                if let Some(label) = self.label() {
                    write!(f, " {label}")?;
                }
                f.write_str(")")
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_wire(&s).ok_or_else(|| serde::de::Error::custom(
                    format!("{}: malformed code {s:?}", $element)))
            }
        }
    };
}

code_table! {
    /// 資格有効性: the validity of the answer.
    QualificationValidity = "QualificationValidity" {
        /// 有効.
        VALID = "1" => "有効",
        /// 無効.
        INVALID = "2" => "無効",
        /// 無効（新しい資格あり）.
        INVALID_NEWER_EXISTS = "3" => "無効（新しい資格あり）",
        /// 該当資格なし.
        NOT_FOUND = "4" => "該当資格なし",
        /// 複数該当.
        MULTIPLE = "5" => "複数該当",
        /// 有効（未登録）.
        VALID_UNREGISTERED = "6" => "有効（未登録）",
    }
}

code_table! {
    /// 被保険者証区分.
    InsuredCardClassification = "InsuredCardClassification" {
        /// 被保険者証（一般）.
        GENERAL = "01" => "被保険者証（一般）",
        /// 被保険者証（退職）.
        RETIRED = "02" => "被保険者証（退職）",
        /// 短期被保険者証（一般）.
        SHORT_TERM_GENERAL = "03" => "短期被保険者証（一般）",
        /// 短期被保険者証（退職）.
        SHORT_TERM_RETIRED = "04" => "短期被保険者証（退職）",
        /// 被保険者資格証明書.
        QUALIFICATION_CERTIFICATE = "05" => "被保険者資格証明書",
        /// 特例退職被保険者証.
        SPECIAL_RETIRED = "06" => "特例退職被保険者証",
        /// 自衛官診療証.
        SELF_DEFENSE = "07" => "自衛官診療証",
        /// 医療扶助.
        MEDICAL_ASSISTANCE = "A1" => "医療扶助",
    }
}

code_table! {
    /// 本人・家族の別.
    PersonalFamilyClassification = "PersonalFamilyClassification" {
        /// 本人.
        INSURED = "1" => "本人",
        /// 家族.
        FAMILY = "2" => "家族",
    }
}

code_table! {
    /// 性別 (Sex1 on the face of the card, Sex2 on its back).
    Sex = "Sex1" {
        /// 男.
        MALE = "1" => "男",
        /// 女.
        FEMALE = "2" => "女",
        /// 未設定.
        UNSET = "3" => "未設定",
    }
}

code_table! {
    /// 資格喪失事由.
    ReasonOfLoss = "ReasonOfLoss" {
        /// 死亡.
        DEATH = "01" => "死亡",
        /// 生活保護受給開始.
        PUBLIC_ASSISTANCE = "02" => "生活保護受給開始",
        /// 医療保険等の資格取得 (他保険取得).
        OTHER_INSURANCE = "03" => "医療保険等の資格取得",
        /// その他.
        OTHER = "99" => "その他",
    }
}

code_table! {
    /// 未就学区分.
    PreschoolClassification = "PreschoolClassification" {
        /// 未就学.
        PRESCHOOL = "1" => "未就学",
        /// 就学中.
        IN_SCHOOL = "2" => "就学中",
    }
}

code_table! {
    /// 照会区分: how the check was asked.
    ReferenceClassification = "ReferenceClassification" {
        /// マイナンバーカード.
        MY_NUMBER_CARD = "1" => "マイナンバーカード",
        /// 被保険者証情報.
        INSURED_CARD = "2" => "被保険者証情報",
    }
}

code_table! {
    /// 処理結果状況.
    ProcessingResultStatus = "ProcessingResultStatus" {
        /// 正常終了.
        OK = "1" => "正常終了",
        /// 異常終了.
        ERROR = "2" => "異常終了",
    }
}

code_table! {
    /// 文字コード識別: the encoding of a result file.
    CharacterCodeIdentifier = "CharacterCodeIdentifier" {
        /// UTF-8.
        UTF8 = "0" => "UTF-8",
        /// Shift_JIS.
        SHIFT_JIS = "1" => "Shift_JIS",
    }
}

/// 処理結果コード (ProcessingResultCode) of a check's answer: a warning of a finished check, or why
/// it did not finish. The answer carries it and so do the receipt computer's files; the API
/// (`onshi_proto::codes`) lists the same texts. On the wire the code's text (`W002` …); a text
/// that is no code of this version is refused where the answer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// `E004`: the card certificate is not from a trusted JPKI CA, or malformed.
    CardCertificateUntrusted,
    /// `E005`: the card certificate is expired beyond the grace period, or not yet valid.
    CardCertificateExpired,
    /// `E006`: the card certificate is revoked.
    CardCertificateRevoked,
    /// `E007`: the signature does not verify.
    BadSignature,
    /// `E011`: the card's revocation cannot be checked (its CA's CRL is not current).
    CrlNotCurrent,
    /// `E012`: the card's link to a person is held.
    LinkHeld,
    /// `W001`: the card's certificate expired and is inside the grace period.
    CertificateInGrace,
    /// `W002`: the card's certificate expires within three months.
    CertificateExpiresSoon,
    /// `W003`: the card is not registered for health-insurance use (利用登録).
    CardNotRegistered,
    /// `W004`: the card was linked to this person recently.
    LinkChanged,
}

impl ResultCode {
    /// Every code a check's answer may carry.
    pub const ALL: [Self; 10] = [
        Self::CardCertificateUntrusted,
        Self::CardCertificateExpired,
        Self::CardCertificateRevoked,
        Self::BadSignature,
        Self::CrlNotCurrent,
        Self::LinkHeld,
        Self::CertificateInGrace,
        Self::CertificateExpiresSoon,
        Self::CardNotRegistered,
        Self::LinkChanged,
    ];

    /// The code's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardCertificateUntrusted => "E004",
            Self::CardCertificateExpired => "E005",
            Self::CardCertificateRevoked => "E006",
            Self::BadSignature => "E007",
            Self::CrlNotCurrent => "E011",
            Self::LinkHeld => "E012",
            Self::CertificateInGrace => "W001",
            Self::CertificateExpiresSoon => "W002",
            Self::CardNotRegistered => "W003",
            Self::LinkChanged => "W004",
        }
    }

    /// The code of a text; `None` for a text that is no check's code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A code equals its text (`ResultCode::LinkHeld == "E012"`), as a status code its number.
impl PartialEq<&str> for ResultCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResultCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResultCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is no ProcessingResultCode of this API"))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_keep_their_wire_text_and_refuse_others() {
        for c in ResultCode::ALL {
            let wire = serde_json::to_string(&c).unwrap();
            assert_eq!(wire, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<ResultCode>(&wire).unwrap(), c);
            assert_eq!(ResultCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ResultCode::LinkHeld.as_str(), "E012");
        assert_eq!(ResultCode::LinkHeld, "E012");
        assert_ne!(ResultCode::LinkHeld, "E011");
        assert_eq!(ResultCode::CertificateExpiresSoon.as_str(), "W002");
        for other in ["E008", "E999", "W999", "w002", ""] {
            assert_eq!(ResultCode::parse(other), None, "{other}");
            assert!(serde_json::from_str::<ResultCode>(&format!("\"{other}\"")).is_err());
        }
    }

    #[test]
    fn known_codes_parse_and_label() {
        assert_eq!(
            QualificationValidity::parse("3").unwrap(),
            QualificationValidity::INVALID_NEWER_EXISTS
        );
        assert_eq!(
            QualificationValidity::VALID_UNREGISTERED.label(),
            Some("有効（未登録）")
        );
        assert_eq!(
            InsuredCardClassification::parse("A1").unwrap().label(),
            Some("医療扶助")
        );
        assert_eq!(InsuredCardClassification::SELF_DEFENSE.as_str(), "07");
        assert_eq!(Sex::parse("3").unwrap().label(), Some("未設定"));
        assert_eq!(ReasonOfLoss::OTHER.as_str(), "99");
        assert_eq!(PreschoolClassification::IN_SCHOOL.label(), Some("就学中"));
        assert_eq!(PersonalFamilyClassification::FAMILY.label(), Some("家族"));
    }

    #[test]
    fn unknown_codes_are_refused_by_parse_but_survive_the_wire() {
        let err = InsuredCardClassification::parse("08").unwrap_err();
        assert_eq!(
            err,
            ModelError::UnknownCode {
                table: "InsuredCardClassification",
                value: "08".into()
            }
        );
        let wire = InsuredCardClassification::from_wire("B9").unwrap();
        assert!(!wire.is_known());
        assert_eq!(wire.as_str(), "B9");
        let json = serde_json::to_string(&wire).unwrap();
        assert_eq!(json, "\"B9\"");
        assert_eq!(
            serde_json::from_str::<InsuredCardClassification>(&json).unwrap(),
            wire
        );
        assert!(InsuredCardClassification::from_wire("0001").is_none());
        assert!(InsuredCardClassification::from_wire("").is_none());
        assert!(InsuredCardClassification::from_wire("０１").is_none());
    }

    #[test]
    fn every_table_round_trips() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            s: impl Fn(T) -> String,
            p: impl Fn(&str) -> Result<T, ModelError>,
        ) {
            for &c in all {
                assert_eq!(p(&s(c)).unwrap(), c);
            }
        }
        check(
            QualificationValidity::ALL,
            |c| c.to_string(),
            QualificationValidity::parse,
        );
        check(
            InsuredCardClassification::ALL,
            |c| c.to_string(),
            InsuredCardClassification::parse,
        );
        check(
            PersonalFamilyClassification::ALL,
            |c| c.to_string(),
            PersonalFamilyClassification::parse,
        );
        check(Sex::ALL, |c| c.to_string(), Sex::parse);
        check(ReasonOfLoss::ALL, |c| c.to_string(), ReasonOfLoss::parse);
        check(
            PreschoolClassification::ALL,
            |c| c.to_string(),
            PreschoolClassification::parse,
        );
        check(
            ReferenceClassification::ALL,
            |c| c.to_string(),
            ReferenceClassification::parse,
        );
        check(
            ProcessingResultStatus::ALL,
            |c| c.to_string(),
            ProcessingResultStatus::parse,
        );
        check(
            CharacterCodeIdentifier::ALL,
            |c| c.to_string(),
            CharacterCodeIdentifier::parse,
        );
    }
}
