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
pub mod insurer;
pub mod kana;
pub mod person;
pub mod ratio;
pub mod record;
pub mod show;
pub mod text;
pub mod wareki;

pub use card::{InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber};
pub use codes::{
    InsuredCardClassification, PersonalFamilyClassification, PreschoolClassification,
    QualificationValidity, ReasonOfLoss, Sex,
};
pub use eligibility::{Eligibility, KeyQuery};
pub use error::ModelError;
pub use insurer::{InsuranceKind, InsurerNumber};
pub use kana::Kana;
pub use person::{Person, PersonId};
pub use ratio::{BenefitRatio, ContributionRatio};
pub use record::{EligibilityRecord, ElderlyRecipientCertificateInfo, RecordKey, RecordViolation};
pub use text::{Address, InsurerName, PersonName, PostNumber};

/// A calendar date (no time zone: the visit date and every date of the result format).
pub type Date = chrono::NaiveDate;
