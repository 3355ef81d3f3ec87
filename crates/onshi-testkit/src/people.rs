//! The tests' fixed persons and their eligibility records: P1 valid (with a 旧姓); P2 only a
//! lost record (2); P3 a lost record and a newer one (valid now; its old card's numbers give 3);
//! P4 has no records (4).

use onshi_model::date::parse_yyyymmdd;
use onshi_model::*;

use crate::KitError;

/// The persons of the world: (id, name, kana, birth date).
pub(crate) const PEOPLE: [(&str, &str, &str, &str); 4] = [
    ("P0000000001", "髙橋　花子", "タカハシ　ハナコ", "19800102"),
    ("P0000000002", "山﨑　梅", "ヤマサキ　ウメ", "19700505"),
    ("P0000000003", "𠮷田　桜", "ヨシダ　サクラ", "19900303"),
    ("P0000000004", "佐藤　杏", "サトウ　アンズ", "20000101"),
];

/// P1's former name (旧姓) in the insurer's record.
pub const P1_FORMER_NAME: &str = "鈴木　花子";

/// A date written `yyyyMMdd` in a test; panics on a malformed one (a test's own typo).
pub fn date(s: &str) -> Date {
    #[allow(clippy::expect_used)] // a test's literal; a typo is the test's failure
    parse_yyyymmdd(s).expect("a yyyyMMdd date")
}

fn setup(what: &str, e: impl std::fmt::Display) -> KitError {
    KitError::Setup(format!("{what}: {e}"))
}

fn person(id: &str, name: &str, kana: &str, birth: &str) -> Result<Person, KitError> {
    Ok(Person {
        id: PersonId::parse(id).map_err(|e| setup(id, e))?,
        name: PersonName::parse(name).map_err(|e| setup(name, e))?,
        name_kana: Kana::parse(kana).map_err(|e| setup(kana, e))?,
        birthdate: parse_yyyymmdd(birth).map_err(|e| setup(birth, e))?,
        sex: Sex::FEMALE,
        address: Some(
            Address::parse("東京都千代田区霞が関１－２－２").map_err(|e| setup("address", e))?,
        ),
        former_name: None,
    })
}

/// The fixed person with this id, if it is one of the world's.
pub(crate) fn fixed_person(id: &str) -> Option<Person> {
    PEOPLE
        .iter()
        .find(|p| p.0 == id)
        .and_then(|&(id, name, kana, birth)| person(id, name, kana, birth).ok())
}

fn record(
    p: &Person,
    insurer: &str,
    number: &str,
    from: &str,
    lost: Option<&str>,
) -> Result<EligibilityRecord, KitError> {
    let day = |s: &str| parse_yyyymmdd(s).map_err(|e| setup(s, e));
    Ok(EligibilityRecord {
        person_id: p.id.clone(),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::parse(insurer).map_err(|e| setup(insurer, e))?,
            symbol: Some(InsuredCardSymbol::parse("医国３４０").map_err(|e| setup("symbol", e))?),
            number: InsuredIdentificationNumber::parse(number).map_err(|e| setup(number, e))?,
            branch: InsuredBranchNumber::parse("00").map_err(|e| setup("branch", e))?,
            personal_family: PersonalFamilyClassification::INSURED,
            insured_name: Some(p.name.clone()),
            name: p.name.clone(),
            name_kana: p.name_kana.clone(),
            sex: p.sex,
            birthdate: p.birthdate,
            address: p.address.clone(),
            post_number: Some(PostNumber::parse("100-8916").map_err(|e| setup("post", e))?),
            qualification_date: day(from)?,
            disqualification_date: lost.map(day).transpose()?,
            card_issuance_date: None,
            card_valid_date: None,
            card_expiration_date: None,
            contribution_ratio: Some(ContributionRatio::THIRTY),
            preschool: None,
            reason_of_loss: lost.map(|_| ReasonOfLoss::OTHER_INSURANCE),
            insurer_name: InsurerName::parse("全国健康保険協会東京支部")
                .map_err(|e| setup("insurer name", e))?,
            elderly: None,
        },
    })
}

/// Stores the fixed persons and their records in one import.
pub fn seed(store: &dyn onshi_store::ServiceStore) -> Result<(), KitError> {
    let [p1, p2, p3, p4] = PEOPLE;
    let mut p1 = person(p1.0, p1.1, p1.2, p1.3)?;
    let p2 = person(p2.0, p2.1, p2.2, p2.3)?;
    let p3 = person(p3.0, p3.1, p3.2, p3.3)?;
    let p4 = person(p4.0, p4.1, p4.2, p4.3)?;
    // P1's insurer keeps her name before marriage (旧姓): a card still under it is hers.
    p1.former_name = Some(PersonName::parse(P1_FORMER_NAME).map_err(|e| setup("旧姓", e))?);
    let records = vec![
        record(&p1, "01130012", "１", "20200401", None)?,
        record(&p2, "01130012", "２", "20100401", Some("20240101"))?,
        record(&p3, "01130012", "３", "20150401", Some("20230401"))?,
        record(&p3, "06139992", "３", "20230401", None)?,
    ];
    let mut tx = store.begin_import()?;
    tx.put_persons(&[p1, p2, p3, p4])?;
    tx.put_records(&records)?;
    tx.commit()?;
    Ok(())
}
