//! The insurance domain of onshi, exact to the published rules.
//!
//! Everything an eligibility answer is made of lives here as a type that can only hold a valid
//! value: 保険者番号 with its 検証番号, 記号・番号・枝番, the online eligibility system's code tables
//! (named as the elements of its result XML), 和暦 dates, katakana names, the records and the rule
//! that turns a person's records into the answer for a visit date.

pub mod card;
pub mod codes;
pub mod date;
pub mod eligibility;
mod error;
pub mod holder;
pub mod insurer;
pub mod kana;
pub mod person;
pub mod ratio;
pub mod record;
pub mod reference;
pub mod show;
pub mod text;
pub mod wareki;

pub use card::{InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber};
pub use codes::{
    InsuredCardClassification, PersonalFamilyClassification, PreschoolClassification,
    QualificationValidity, ReasonOfLoss, Sex,
};
pub use eligibility::{Answer, Eligibility, KeyQuery};
pub use error::ModelError;
pub use insurer::{InsuranceKind, InsurerNumber};
pub use kana::Kana;
pub use person::{Person, PersonId};
pub use ratio::{BenefitRatio, ContributionRatio};
pub use record::{
    ElderlyRecipientCertificateInfo, EligibilityRecord, Qualification, RecordKey, RecordViolation,
};
pub use reference::ReferenceNumber;
pub use text::{Address, InsurerName, PersonName, PostNumber};

/// A calendar date (no time zone: the visit date and every date of the result format).
pub type Date = chrono::NaiveDate;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets: every parser of outside text, fed arbitrary input,
    //! must not panic, and what it accepts must survive a round trip.

    /// Parses `data` as each kind of value; what parses is written back and parsed again.
    pub fn parse_values(data: &[u8]) {
        let Ok(s) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(n) = crate::InsurerNumber::parse(s) {
            assert_eq!(crate::InsurerNumber::parse(n.as_str()).ok(), Some(n));
        }
        if let Ok(k) = crate::Kana::parse(s) {
            assert_eq!(crate::Kana::parse(k.as_str()).ok().as_ref(), Some(&k));
        }
        if let Ok(d) = crate::date::parse_yyyymmdd(s) {
            assert_eq!(
                crate::date::parse_yyyymmdd(&crate::date::format_yyyymmdd(d)).ok(),
                Some(d)
            );
        }
        if let Ok(d) = crate::wareki::parse_date(s) {
            let shown = crate::wareki::format_date(d).ok();
            assert_eq!(
                shown.and_then(|w| crate::wareki::parse_date(&w).ok()),
                Some(d)
            );
        }
        if let Ok(r) = crate::ContributionRatio::parse(s) {
            assert_eq!(crate::ContributionRatio::parse(&r.wire()).ok(), Some(r));
        }
        if let Ok(p) = crate::PostNumber::parse(s) {
            assert_eq!(crate::PostNumber::parse(p.as_str()).ok(), Some(p));
        }
        let _ = crate::PersonName::parse(s);
        let _ = crate::PersonId::parse(s);
        let _ = crate::InsuredBranchNumber::parse(s);
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn entry_point_takes_samples() {
            for s in [
                "01130012",
                "  138057",
                "ﾔﾏﾀﾞ ﾀﾛｳ",
                "20240229",
                "令和元年5月1日",
                "R7.4.1",
                "030",
                "100-0001",
                "\u{0}\u{ff}",
                "",
            ] {
                super::parse_values(s.as_bytes());
            }
            super::parse_values(&[0xff, 0xfe]);
        }
    }
}
