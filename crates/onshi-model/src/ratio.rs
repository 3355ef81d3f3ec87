//! 一部負担金割合 (the co-payment, as the result format writes it) and 給付割合 (the benefit ratio
//! that the 療養費支給申請書 asks for).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::PreschoolClassification;
use crate::record::Qualification;
use crate::{Date, ModelError};

/// InsuredPartialContributionRatio / ElderlyRecipientContributionRatio: the co-payment in percent,
/// three digits on the wire (`010` is 1割, `030` 3割).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContributionRatio(u8);

impl ContributionRatio {
    /// 1割.
    pub const TEN: Self = Self(10);
    /// 2割.
    pub const TWENTY: Self = Self(20);
    /// 3割.
    pub const THIRTY: Self = Self(30);

    /// Parses three ASCII digits, 000–100.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let b = s.as_bytes();
        let percent = match b {
            [x, y, z] if b.iter().all(u8::is_ascii_digit) => {
                u32::from(x - b'0') * 100 + u32::from(y - b'0') * 10 + u32::from(z - b'0')
            }
            _ => u32::MAX,
        };
        if percent > 100 {
            return Err(ModelError::format(
                "3 digits of percent, 000-100 (010 is 10%)",
                "3桁の百分率 000〜100（1割は 010）",
                s,
            ));
        }
        Ok(Self(percent as u8))
    }

    /// A ratio from its percent (0–100).
    pub fn from_percent(percent: u8) -> Option<Self> {
        (percent <= 100).then_some(Self(percent))
    }

    /// The co-payment in percent.
    pub fn percent(self) -> u8 {
        self.0
    }

    /// The wire form, three digits.
    pub fn wire(self) -> String {
        format!("{:03}", self.0)
    }

    /// In words: `3割`, or `15%` when not a whole tenth.
    pub fn label(self) -> String {
        tenths_label(self.0)
    }
}

fn tenths_label(percent: u8) -> String {
    if percent.is_multiple_of(10) {
        format!("{}割", percent / 10)
    } else {
        format!("{percent}%")
    }
}

impl fmt::Display for ContributionRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl fmt::Debug for ContributionRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContributionRatio({:03})", self.0)
    }
}

impl Serialize for ContributionRatio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContributionRatio {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// 給付割合: the share the insurer pays, in percent (the claim form's 10・9・8・7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize)]
pub struct BenefitRatio(u8);

impl BenefitRatio {
    /// The benefit that complements a co-payment.
    pub fn complement_of(c: ContributionRatio) -> Self {
        Self(100 - c.percent())
    }

    /// The benefit in percent.
    pub fn percent(self) -> u8 {
        self.0
    }

    /// In words: `7割`.
    pub fn label(self) -> String {
        tenths_label(self.0)
    }
}

/// Co-payment of a child before school age when the record carries no ratio (健康保険法: 2割).
const PRESCHOOL_CONTRIBUTION: ContributionRatio = ContributionRatio::TWENTY;

/// 給付割合 of a record on the visit date, for the claim form:
/// the 高齢受給者証's ratio when the certificate is valid that day, else the record's
/// InsuredPartialContributionRatio, else 8割 for a preschool child; `None` when the record
/// does not say (staff must ask the insurer).
pub fn benefit_ratio(record: &Qualification, visit: Date) -> Option<BenefitRatio> {
    let elderly = record
        .elderly
        .as_ref()
        .filter(|e| e.is_valid_on(visit))
        .map(|e| e.contribution_ratio);
    let preschool = (record.preschool == Some(PreschoolClassification::PRESCHOOL))
        .then_some(PRESCHOOL_CONTRIBUTION);
    elderly
        .or(record.contribution_ratio)
        .or(preschool)
        .map(BenefitRatio::complement_of)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_forms() {
        assert_eq!(
            ContributionRatio::parse("010").unwrap(),
            ContributionRatio::TEN
        );
        assert_eq!(ContributionRatio::parse("030").unwrap().label(), "3割");
        assert_eq!(ContributionRatio::TEN.wire(), "010");
        for bad in ["10", "0100", "101", "1割", "", "０３０"] {
            assert!(ContributionRatio::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BenefitRatio::complement_of(ContributionRatio::THIRTY).label(),
            "7割"
        );
    }

    #[test]
    fn benefit_ratio_prefers_the_elderly_certificate_on_its_dates() {
        use crate::record::tests::{date, sample};
        use crate::ElderlyRecipientCertificateInfo;
        let mut r = sample();
        assert_eq!(
            benefit_ratio(&r, date("20250101")).map(BenefitRatio::percent),
            Some(70)
        );
        r.elderly = Some(ElderlyRecipientCertificateInfo {
            certificate_date: None,
            valid_start: date("20240801"),
            valid_end: date("20250731"),
            contribution_ratio: ContributionRatio::TWENTY,
        });
        assert_eq!(
            benefit_ratio(&r, date("20250731")).map(BenefitRatio::percent),
            Some(80)
        );
        assert_eq!(
            benefit_ratio(&r, date("20250801")).map(BenefitRatio::percent),
            Some(70)
        );
        r.contribution_ratio = None;
        assert_eq!(benefit_ratio(&r, date("20250801")), None);
        r.preschool = Some(PreschoolClassification::PRESCHOOL);
        assert_eq!(
            benefit_ratio(&r, date("20250801")).map(BenefitRatio::percent),
            Some(80)
        );
    }

    proptest! {
        #[test]
        fn ratio_round_trips(p in 0u8..=100) {
            let r = ContributionRatio::from_percent(p).unwrap();
            prop_assert_eq!(ContributionRatio::parse(&r.wire()).unwrap(), r);
            prop_assert_eq!(BenefitRatio::complement_of(r).percent() + p, 100);
        }
    }
}
