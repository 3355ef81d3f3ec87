//! The people of the fixtures, each answer built by the model's own rule
//! (`Eligibility::for_person`) for the visit date 2025-04-01:
//! - `elderly`: a 国保 member (6-digit 保険者番号) aged 71 with a 高齢受給者証, whose name holds 𠮷
//!   (outside CP932) and 髙 (a CP932 extension);
//! - `koki`: a 後期高齢者 (法別番号 39), no 記号, 1割;
//! - `family`: a 協会けんぽ family member (3割 in the feed, which the files must not show as the
//!   後期高齢者 ratio);
//! - `preschool`: a child before school (未就学);
//! - `lost`: a person whose only record was lost (無効);
//! - `two`: a person with two valid records.

use onshi_model::codes::{ProcessingResultStatus, ReferenceClassification};
use onshi_model::{
    Address, Answer, ContributionRatio, ElderlyRecipientCertificateInfo, Eligibility,
    EligibilityRecord, InsuredBranchNumber, InsuredCardClassification, InsuredCardSymbol,
    InsuredIdentificationNumber, InsurerName, InsurerNumber, Kana, PersonId, PersonName,
    PersonalFamilyClassification, PostNumber, PreschoolClassification, Qualification,
    QualificationValidity, ReasonOfLoss, ReferenceNumber, Sex,
};
use onshi_rececon::{CheckResult, Date, InstitutionCode};

pub fn date(s: &str) -> Date {
    onshi_model::date::parse_yyyymmdd(s).unwrap()
}

/// The visit date of every fixture.
pub const VISIT: &str = "20250401";

pub fn record() -> EligibilityRecord {
    EligibilityRecord {
        person_id: PersonId::parse("P0000000042").unwrap(),
        qualification: Qualification {
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
            card_issuance_date: Some(date("20240715")),
            card_valid_date: Some(date("20240801")),
            card_expiration_date: Some(date("20250731")),
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
        },
    }
}

/// A 協会けんぽ record of 山田 家 (本人 太郎, 記号 １２３ 番号 ４５６).
fn kyokai(
    id: &str,
    name: &str,
    kana: &str,
    sex: Sex,
    birth: &str,
    branch: &str,
) -> EligibilityRecord {
    EligibilityRecord {
        person_id: PersonId::parse(id).unwrap(),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::with_check_digit("0113001").unwrap(),
            symbol: Some(InsuredCardSymbol::parse("１２３").unwrap()),
            number: InsuredIdentificationNumber::parse("４５６").unwrap(),
            branch: InsuredBranchNumber::parse(branch).unwrap(),
            personal_family: if branch == "00" {
                PersonalFamilyClassification::INSURED
            } else {
                PersonalFamilyClassification::FAMILY
            },
            insured_name: Some(PersonName::parse("山田　太郎").unwrap()),
            name: PersonName::parse(name).unwrap(),
            name_kana: Kana::parse(kana).unwrap(),
            sex,
            birthdate: date(birth),
            address: None,
            post_number: None,
            qualification_date: date("20200401"),
            disqualification_date: None,
            card_issuance_date: Some(date("20200410")),
            card_valid_date: Some(date("20200401")),
            card_expiration_date: None,
            contribution_ratio: Some(ContributionRatio::THIRTY),
            preschool: None,
            reason_of_loss: None,
            insurer_name: InsurerName::parse("全国健康保険協会東京支部").unwrap(),
            elderly: None,
        },
    }
}

fn answer(records: Vec<EligibilityRecord>) -> Answer {
    Eligibility::for_person(records, date(VISIT)).into()
}

/// The 高齢受給者 with characters outside CP932.
pub fn elderly() -> Answer {
    answer(vec![record()])
}

/// Backwards name of [`elderly`] for the older tests.
pub fn eligibility() -> Answer {
    elderly()
}

/// A 後期高齢者 without 記号, 1割.
pub fn koki() -> Answer {
    let r = EligibilityRecord {
        person_id: PersonId::parse("P0000000075").unwrap(),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::with_check_digit("3913115").unwrap(),
            symbol: None,
            number: InsuredIdentificationNumber::parse("12345678").unwrap(),
            branch: InsuredBranchNumber::parse("00").unwrap(),
            personal_family: PersonalFamilyClassification::INSURED,
            insured_name: None,
            name: PersonName::parse("佐藤　一郎").unwrap(),
            name_kana: Kana::parse("サトウ　イチロウ").unwrap(),
            sex: Sex::MALE,
            birthdate: date("19450615"),
            address: None,
            post_number: None,
            qualification_date: date("20200615"),
            disqualification_date: None,
            card_issuance_date: Some(date("20240710")),
            card_valid_date: Some(date("20240801")),
            card_expiration_date: Some(date("20250731")),
            contribution_ratio: Some(ContributionRatio::TEN),
            preschool: None,
            reason_of_loss: None,
            insurer_name: InsurerName::parse("東京都後期高齢者医療広域連合").unwrap(),
            elderly: None,
        },
    };
    answer(vec![r])
}

/// A 協会けんぽ family member (3割 in the feed).
pub fn family() -> Answer {
    answer(vec![kyokai(
        "P0000000002",
        "山田　花子",
        "ヤマダ　ハナコ",
        Sex::FEMALE,
        "19820303",
        "01",
    )])
}

/// A child before school (未就学), 2割.
pub fn preschool() -> Answer {
    let mut r = kyokai(
        "P0000000003",
        "山田　陽菜",
        "ヤマダ　ヒナ",
        Sex::FEMALE,
        "20210505",
        "02",
    );
    r.qualification_date = date("20210505");
    r.card_valid_date = Some(date("20210505"));
    r.card_issuance_date = Some(date("20210520"));
    r.contribution_ratio = Some(ContributionRatio::TWENTY);
    r.preschool = Some(PreschoolClassification::PRESCHOOL);
    answer(vec![r])
}

/// A person whose only record was lost on 2025-01-01 (無効).
pub fn lost() -> Answer {
    let mut r = kyokai(
        "P0000000004",
        "鈴木　次郎",
        "スズキ　ジロウ",
        Sex::MALE,
        "19900707",
        "00",
    );
    r.insured_name = Some(PersonName::parse("鈴木　次郎").unwrap());
    r.number = InsuredIdentificationNumber::parse("７８９").unwrap();
    r.disqualification_date = Some(date("20250101"));
    r.card_expiration_date = Some(date("20241231"));
    r.reason_of_loss = Some(ReasonOfLoss::OTHER_INSURANCE);
    answer(vec![r])
}

/// A person with two valid records: a 健保組合 本人 who is also a 協会けんぽ family member.
pub fn two() -> Answer {
    let mut own = kyokai(
        "P0000000005",
        "田中　美咲",
        "タナカ　ミサキ",
        Sex::FEMALE,
        "19950909",
        "00",
    );
    own.insurer_number = InsurerNumber::with_check_digit("0613999").unwrap();
    own.insurer_name = InsurerName::parse("サンプル健康保険組合").unwrap();
    own.symbol = Some(InsuredCardSymbol::parse("７７").unwrap());
    own.number = InsuredIdentificationNumber::parse("８８").unwrap();
    own.insured_name = Some(PersonName::parse("田中　美咲").unwrap());
    own.qualification_date = date("20240401");
    own.card_valid_date = Some(date("20240401"));
    own.card_issuance_date = Some(date("20240405"));
    let mut family = kyokai(
        "P0000000005",
        "田中　美咲",
        "タナカ　ミサキ",
        Sex::FEMALE,
        "19950909",
        "03",
    );
    family.number = InsuredIdentificationNumber::parse("４５７").unwrap();
    family.insured_name = Some(PersonName::parse("田中　一郎").unwrap());
    let e = answer(vec![own, family]);
    assert_eq!(e.validity, QualificationValidity::VALID);
    assert_eq!(e.records.len(), 2);
    e
}

/// Every fixture by name.
pub fn people() -> Vec<(&'static str, Answer)> {
    vec![
        ("koki", koki()),
        ("family", family()),
        ("preschool", preschool()),
        ("elderly", elderly()),
        ("lost", lost()),
        ("two", two()),
    ]
}

/// The sample's 照会番号, in the form the service issues.
pub static REFERENCE: std::sync::LazyLock<ReferenceNumber> =
    std::sync::LazyLock::new(|| ReferenceNumber::parse("2025040100300500000123").unwrap());

pub fn check(e: &Answer) -> CheckResult<'_> {
    CheckResult {
        eligibility: e,
        visit: date(VISIT),
        processed_at: date(VISIT).and_hms_opt(9, 30, 5).unwrap(),
        reference_number: &REFERENCE,
        processing_result_status: ProcessingResultStatus::OK,
        processing_result_code: None,
        processing_result_message: None,
        reference_classification: ReferenceClassification::MY_NUMBER_CARD,
        institution_code: InstitutionCode::parse("1312345678").unwrap(),
    }
}
