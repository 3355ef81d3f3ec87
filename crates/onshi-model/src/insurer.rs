//! 保険者番号 (insurer number): 8 digits, or 6 for 国民健康保険, the last one the 検証番号.
//!
//! Layout (保険者番号設定要領): 法別番号 2 + 都道府県番号 2 + 保険者別番号 3 + 検証番号 1; 国民健康保険
//! numbers have no 法別番号.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A valid 保険者番号 (6 or 8 ASCII digits with a correct check digit, a health insurer's
/// 法別番号 and a prefecture 01–47).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsurerNumber {
    /// ASCII digits; only the first `len` are used.
    ascii: [u8; 8],
    len: u8,
}

/// 保険種別 as the 柔整 療養費支給申請書 uses it (1 協, 2 組, 3 共, 4 国, 5 退, 6 後期).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum InsuranceKind {
    /// 1 協: 全国健康保険協会 (協会けんぽ), 船員保険, 日雇特例.
    Kyokai = 1,
    /// 2 組: 健康保険組合 (including 特定健保組合 of 特例退職).
    Kumiai = 2,
    /// 3 共: 共済組合 and 自衛官等.
    Kyosai = 3,
    /// 4 国: 国民健康保険 (市町村 and 国保組合).
    Kokuho = 4,
    /// 5 退: 退職者医療.
    Taishoku = 5,
    /// 6 後期: 後期高齢者医療.
    Koki = 6,
}

impl InsuranceKind {
    /// The digit printed on the claim form.
    pub fn digit(self) -> u8 {
        self as u8
    }

    /// The short label of the claim form (協, 組, 共, 国, 退, 後期).
    pub fn label(self) -> &'static str {
        match self {
            Self::Kyokai => "協",
            Self::Kumiai => "組",
            Self::Kyosai => "共",
            Self::Kokuho => "国",
            Self::Taishoku => "退",
            Self::Koki => "後期",
        }
    }
}

/// 法別番号 of 後期高齢者医療.
pub const LAW_CODE_KOKI: u8 = 39;

/// The 保険種別 of a health insurer's 法別番号, or `None` for a number that is not an insurer's
/// (公費 and others).
fn kind_of_law_code(law: u8) -> Option<InsuranceKind> {
    use InsuranceKind::*;
    Some(match law {
        // 01 協会けんぽ, 02 船員保険, 03/04 日雇特例被保険者.
        1..=4 => Kyokai,
        // 06 健康保険組合, 63 特定健康保険組合 (特例退職).
        6 | 63 => Kumiai,
        // 07 自衛官等, 31–34 共済組合, 72–75 共済組合の特例退職.
        7 | 31..=34 | 72..=75 => Kyosai,
        39 => Koki,
        67 => Taishoku,
        _ => return None,
    })
}

/// The 検証番号 of the digits before it (保険者番号設定要領): weights 2, 1, 2, 1, … from the
/// rightmost digit, a two-digit product counts as the sum of its digits, and the check digit is 10
/// minus the last digit of the total (0 when that digit is 0).
///
/// `digits` are numeric values 0–9.
pub fn check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let product = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            product / 10 + product % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl InsurerNumber {
    /// Parses 6 or 8 ASCII digits and checks the 検証番号, the 法別番号 and the prefecture.
    /// A 6-digit number right-aligned in 8 with leading spaces (as the result XML writes it) is
    /// accepted too.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        // Only a 6-digit number may come padded to 8 with two spaces.
        let trimmed = match s.strip_prefix("  ") {
            Some(six) if s.len() == 8 => six,
            _ => s,
        };
        let bytes = trimmed.as_bytes();
        if !(bytes.len() == 6 || bytes.len() == 8) || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(ModelError::format(
                "6 or 8 digits",
                "6桁または8桁の半角数字",
                s,
            ));
        }
        let len = bytes.len();
        let mut ascii = [b'0'; 8];
        ascii[..len].copy_from_slice(bytes);
        let digits: Vec<u8> = bytes.iter().map(|b| b - b'0').collect();
        let number = Self {
            ascii,
            len: len as u8,
        };
        let expected = check_digit(&digits[..len - 1]);
        if digits[len - 1] != expected {
            return Err(ModelError::CheckDigit {
                value: trimmed.to_owned(),
                found: digits[len - 1],
                expected,
            });
        }
        if let Some(law) = number.law_code() {
            if kind_of_law_code(law).is_none() {
                return Err(ModelError::LawCode(format!("{law:02}")));
            }
        }
        let prefecture = number.prefecture();
        if !(1..=47).contains(&prefecture) {
            return Err(ModelError::Prefecture(format!("{prefecture:02}")));
        }
        Ok(number)
    }

    /// Builds the number from the digits before the check digit (5 or 7 digits), appending the
    /// computed 検証番号.
    pub fn with_check_digit(body: &str) -> Result<Self, ModelError> {
        let bytes = body.as_bytes();
        if !(bytes.len() == 5 || bytes.len() == 7) || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(ModelError::format(
                "5 or 7 digits before the check digit",
                "検証番号の前の5桁または7桁の半角数字",
                body,
            ));
        }
        let values: Vec<u8> = bytes.iter().map(|b| b - b'0').collect();
        let mut full = body.to_owned();
        full.push(char::from(b'0' + check_digit(&values)));
        Self::parse(&full)
    }

    fn two(&self, at: usize) -> u8 {
        (self.ascii[at] - b'0') * 10 + (self.ascii[at + 1] - b'0')
    }

    /// The 法別番号, or `None` for a 6-digit 国民健康保険 number.
    pub fn law_code(&self) -> Option<u8> {
        (self.len == 8).then(|| self.two(0))
    }

    /// The 都道府県番号 (01–47).
    pub fn prefecture(&self) -> u8 {
        self.two(usize::from(self.len) - 6)
    }

    /// The 保険種別 of the claim form.
    pub fn kind(&self) -> InsuranceKind {
        match self.law_code() {
            None => InsuranceKind::Kokuho,
            // Parsing admitted only law codes with a kind.
            Some(law) => kind_of_law_code(law).unwrap_or(InsuranceKind::Kyokai),
        }
    }

    /// Whether this is a 後期高齢者医療 insurer (法別番号 39).
    pub fn is_koki(&self) -> bool {
        self.law_code() == Some(LAW_CODE_KOKI)
    }

    /// The digits as written (6 or 8 characters).
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this cannot fail.
        std::str::from_utf8(&self.ascii[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InsurerNumber({})", self.as_str())
    }
}

impl FromStr for InsurerNumber {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Self::parse(s)
    }
}

impl Serialize for InsurerNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InsurerNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ministry_example() {
        assert_eq!(check_digit(&[3, 3, 1, 2, 0, 0, 1]), 5);
        let n = InsurerNumber::with_check_digit("3312001").unwrap();
        assert_eq!(n.as_str(), "33120015");
        assert_eq!(n.law_code(), Some(33));
        assert_eq!(n.prefecture(), 12);
        assert_eq!(n.kind(), InsuranceKind::Kyosai);
    }

    #[test]
    fn known_numbers() {
        // 協会けんぽ 東京支部, a 後期 広域連合, a 国保 (6 digits).
        for (s, kind) in [
            ("01130012", InsuranceKind::Kyokai),
            ("39131156", InsuranceKind::Koki),
            ("138057", InsuranceKind::Kokuho),
        ] {
            let n = InsurerNumber::parse(s).unwrap();
            assert_eq!(n.kind(), kind, "{s}");
            assert_eq!(n.to_string(), s);
        }
        assert!(InsurerNumber::parse("39131156").unwrap().is_koki());
    }

    #[test]
    fn six_digits_right_aligned_in_eight() {
        assert_eq!(InsurerNumber::parse("  138057").unwrap().as_str(), "138057");
    }

    #[test]
    fn rejects() {
        let wrong = InsurerNumber::parse("33120014").unwrap_err();
        assert_eq!(
            wrong,
            ModelError::CheckDigit {
                value: "33120014".into(),
                found: 4,
                expected: 5
            }
        );
        assert!(wrong.message_ja().contains("検証番号"));
        for bad in [
            "",
            "1234567",
            "123456789",
            "0113001a",
            "０１１３００１２",
            " 01130012",
        ] {
            assert!(InsurerNumber::parse(bad).is_err(), "{bad:?}");
        }
        // 法別番号 12 is 公費 (生活保護), not an insurer.
        let n = format!("12130{}", "01");
        let public = InsurerNumber::with_check_digit(&n[..7]).unwrap_err();
        assert_eq!(public, ModelError::LawCode("12".into()));
        // Prefecture 48 does not exist.
        assert_eq!(
            InsurerNumber::with_check_digit("0148001").unwrap_err(),
            ModelError::Prefecture("48".into())
        );
    }

    fn valid_body() -> impl Strategy<Value = String> {
        let law =
            prop::sample::select(vec![1u8, 2, 3, 4, 6, 7, 31, 32, 33, 34, 39, 63, 67, 72, 75]);
        prop_oneof![
            (law, 1u8..=47, 0u16..1000).prop_map(|(l, p, i)| format!("{l:02}{p:02}{i:03}")),
            (1u8..=47, 0u16..1000).prop_map(|(p, i)| format!("{p:02}{i:03}")),
        ]
    }

    proptest! {
        #[test]
        fn computed_check_digit_round_trips(body in valid_body()) {
            let n = InsurerNumber::with_check_digit(&body).unwrap();
            prop_assert!(n.as_str().starts_with(&body));
            prop_assert_eq!(InsurerNumber::parse(n.as_str()).unwrap(), n);
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<InsurerNumber>(&json).unwrap(), n);
        }

        #[test]
        fn every_other_last_digit_is_refused(body in valid_body(), wrong in 0u8..10) {
            let n = InsurerNumber::with_check_digit(&body).unwrap();
            let right = n.as_str().as_bytes()[body.len()] - b'0';
            prop_assume!(wrong != right);
            let s = format!("{body}{wrong}");
            let is_check_digit_error = matches!(InsurerNumber::parse(&s), Err(ModelError::CheckDigit { .. }));
            prop_assert!(is_check_digit_error);
        }

        #[test]
        fn single_digit_changes_are_caught(body in valid_body(), at in 0usize..7, delta in 1u8..10) {
            // A weight of 1 or 2 with digit-sum folding maps 0–9 one to one, so any single changed
            // digit changes the check digit.
            let mut digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
            prop_assume!(at < digits.len());
            let before = check_digit(&digits);
            digits[at] = (digits[at] + delta) % 10;
            prop_assert_ne!(check_digit(&digits), before);
        }
    }
}
