//! 記号・番号・枝番: the card symbol, number and two-digit branch number of an insured person,
//! kept exactly as insurers issue them (full-width digits, kanji, hyphens such as U+2010).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::text_type;
use crate::ModelError;

text_type!(
    /// 記号 (InsuredCardSymbol): up to 38 characters; 後期高齢者 records have none.
    InsuredCardSymbol,
    38
);
text_type!(
    /// 番号 (InsuredIdentificationNumber): up to 20 characters.
    InsuredIdentificationNumber,
    20
);

/// 枝番 (InsuredBranchNumber): two ASCII digits, `00`–`99`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsuredBranchNumber(u8);

impl InsuredBranchNumber {
    /// Parses exactly two ASCII digits.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
                Ok(Self((a - b'0') * 10 + (b - b'0')))
            }
            _ => Err(ModelError::format(
                "2 digits (00-99)",
                "2桁の半角数字（00〜99）",
                s,
            )),
        }
    }

    /// The branch number from its value (0–99).
    pub fn new(value: u8) -> Option<Self> {
        (value < 100).then_some(Self(value))
    }

    /// The numeric value.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl fmt::Display for InsuredBranchNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

impl fmt::Debug for InsuredBranchNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InsuredBranchNumber({:02})", self.0)
    }
}

impl Serialize for InsuredBranchNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InsuredBranchNumber {
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
    fn issued_forms_are_kept() {
        assert_eq!(
            InsuredCardSymbol::parse("医国３４０").unwrap().as_str(),
            "医国３４０"
        );
        assert_eq!(
            InsuredIdentificationNumber::parse("０２８２‐００１")
                .unwrap()
                .as_str(),
            "０２８２‐００１"
        );
        assert_eq!(
            InsuredCardSymbol::parse(&"記".repeat(38))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            38
        );
        assert!(InsuredCardSymbol::parse(&"記".repeat(39)).is_err());
        assert!(InsuredIdentificationNumber::parse(&"１".repeat(21)).is_err());
        assert!(InsuredIdentificationNumber::parse("").is_err());
        assert!(InsuredIdentificationNumber::parse("12\n3").is_err());
    }

    #[test]
    fn branch() {
        assert_eq!(InsuredBranchNumber::parse("01").unwrap().to_string(), "01");
        for bad in ["1", "001", "０１", "a1", ""] {
            assert!(InsuredBranchNumber::parse(bad).is_err(), "{bad}");
        }
        assert!(InsuredBranchNumber::new(100).is_none());
    }

    proptest! {
        #[test]
        fn branch_round_trips(v in 0u8..100) {
            let b = InsuredBranchNumber::new(v).unwrap();
            prop_assert_eq!(InsuredBranchNumber::parse(&b.to_string()).unwrap(), b);
        }

        #[test]
        fn full_width_numbers_round_trip(s in "[０-９‐]{1,20}") {
            let n = InsuredIdentificationNumber::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
        }
    }
}
