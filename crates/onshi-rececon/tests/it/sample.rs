//! The sample answer of the fixtures: a 国保 member (6-digit 保険者番号) aged 71 with a
//! 高齢受給者証, whose name holds 𠮷 (outside CP932) and 髙 (a CP932 extension).

use onshi_model::codes::ReferenceClassification;
use onshi_model::{
    Address, ContributionRatio, ElderlyRecipientCertificateInfo, Eligibility, EligibilityRecord,
    InsuredBranchNumber, InsuredCardClassification, InsuredCardSymbol, InsuredIdentificationNumber,
    InsurerName, InsurerNumber, Kana, PersonId, PersonName, PersonalFamilyClassification,
    PostNumber, QualificationValidity, ReferenceNumber, Sex,
};
use onshi_rececon::{CheckResult, Date};

pub fn date(s: &str) -> Date {
    onshi_model::date::parse_yyyymmdd(s).unwrap()
}

pub fn record() -> EligibilityRecord {
    EligibilityRecord {
        person_id: PersonId::parse("P0000000042").unwrap(),
        card_classification: InsuredCardClassification::GENERAL,
        insurer_number: InsurerNumber::with_check_digit("13805").unwrap(),
        symbol: Some(InsuredCardSymbol::parse("東京０１").unwrap()),
        number: InsuredIdentificationNumber::parse("１２３‐４５").unwrap(),
        branch: InsuredBranchNumber::parse("00").unwrap(),
        personal_family: PersonalFamilyClassification::INSURED,
        insured_name: Some(PersonName::parse("𠮷田　髙子").unwrap()),
        name: PersonName::parse("𠮷田　髙子").unwrap(),
        name_kana: Kana::parse("ヨシダ　タカコ").unwrap(),
        sex: Sex::FEMALE,
        birthdate: date("19530510"),
        address: Some(Address::parse("東京都世田谷区𡈽田１－２－３").unwrap()),
        post_number: Some(PostNumber::parse("154-0001").unwrap()),
        qualification_date: date("20130401"),
        disqualification_date: None,
        card_issuance_date: None,
        card_valid_date: None,
        card_expiration_date: None,
        contribution_ratio: Some(ContributionRatio::TWENTY),
        preschool: None,
        reason_of_loss: None,
        insurer_name: InsurerName::parse("世田谷区").unwrap(),
        elderly: Some(ElderlyRecipientCertificateInfo {
            certificate_date: Some(date("20240701")),
            valid_start: date("20240801"),
            valid_end: date("20250731"),
            contribution_ratio: ContributionRatio::TWENTY,
        }),
    }
}

pub fn eligibility() -> Eligibility {
    Eligibility {
        validity: QualificationValidity::VALID,
        records: vec![record()],
    }
}

/// The sample's 照会番号, in the form the service issues.
pub static REFERENCE: std::sync::LazyLock<ReferenceNumber> =
    std::sync::LazyLock::new(|| ReferenceNumber::parse("2025040100300500000123").unwrap());

pub fn check(e: &Eligibility) -> CheckResult<'_> {
    CheckResult {
        eligibility: e,
        visit: date("20250401"),
        processed_at: date("20250401").and_hms_opt(9, 30, 5).unwrap(),
        reference_number: &REFERENCE,
        processing_result_status: "1",
        processing_result_code: None,
        processing_result_message: None,
        reference_classification: ReferenceClassification::MY_NUMBER_CARD,
        institution_code: "1312345678",
    }
}
