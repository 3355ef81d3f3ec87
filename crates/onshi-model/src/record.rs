//! One eligibility record as insurers send it: who is insured, by whom, under which 記号・番号・枝番,
//! from when to when, with which co-payment.

use serde::{Deserialize, Serialize};

use crate::date::yyyymmdd;
use crate::{
    Address, ContributionRatio, Date, InsuredBranchNumber, InsuredCardClassification,
    InsuredCardSymbol, InsuredIdentificationNumber, InsurerName, InsurerNumber, Kana, ModelError,
    PersonId, PersonName, PersonalFamilyClassification, PostNumber, PreschoolClassification,
    ReasonOfLoss, Sex,
};

/// 高齢受給者証情報 (ElderlyRecipientCertificateInfo) of a person aged 70 to 74.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ElderlyRecipientCertificateInfo {
    /// 交付年月日.
    #[serde(
        rename = "ElderlyRecipientCertificateDate",
        with = "yyyymmdd::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_date: Option<Date>,
    /// 有効開始年月日.
    #[serde(rename = "ElderlyRecipientValidStartDate", with = "yyyymmdd")]
    pub valid_start: Date,
    /// 有効終了年月日 (inclusive).
    #[serde(rename = "ElderlyRecipientValidEndDate", with = "yyyymmdd")]
    pub valid_end: Date,
    /// 一部負担金割合 while the certificate is valid.
    #[serde(rename = "ElderlyRecipientContributionRatio")]
    pub contribution_ratio: ContributionRatio,
}

impl ElderlyRecipientCertificateInfo {
    /// Whether the certificate is in force on `date` (both ends inclusive).
    pub fn is_valid_on(&self, date: Date) -> bool {
        self.valid_start <= date && date <= self.valid_end
    }
}

/// The key of a record: 保険者番号 + 記号 + 番号 + 枝番 + 資格取得日.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RecordKey {
    /// 保険者番号.
    pub insurer_number: InsurerNumber,
    /// 記号 (none for 後期高齢者).
    pub symbol: Option<InsuredCardSymbol>,
    /// 番号.
    pub number: InsuredIdentificationNumber,
    /// 枝番.
    pub branch: InsuredBranchNumber,
    /// 資格取得年月日.
    pub qualification_date: Date,
}

/// One record of the insurers' data: whose it is (the internal [`PersonId`]) and the
/// qualification itself. Reads of the qualification's fields go through [`std::ops::Deref`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EligibilityRecord {
    /// The person the record belongs to (not part of the result format, never sent).
    #[serde(rename = "PersonId")]
    pub person_id: PersonId,
    /// The qualification: what an answer carries.
    #[serde(flatten)]
    pub qualification: Qualification,
}

impl std::ops::Deref for EligibilityRecord {
    type Target = Qualification;
    fn deref(&self) -> &Qualification {
        &self.qualification
    }
}

impl std::ops::DerefMut for EligibilityRecord {
    fn deref_mut(&mut self) -> &mut Qualification {
        &mut self.qualification
    }
}

/// A qualification as the result format carries it (ResultOfQualificationConfirmation): every
/// element the limited type may show, with the element names in serde, and no internal person
/// id. The answer of a check is made of these. `NameKana` is written half-width.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Qualification {
    /// 被保険者証区分.
    #[serde(rename = "InsuredCardClassification")]
    pub card_classification: InsuredCardClassification,
    /// 保険者番号.
    #[serde(rename = "InsurerNumber")]
    pub insurer_number: InsurerNumber,
    /// 記号.
    #[serde(
        rename = "InsuredCardSymbol",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub symbol: Option<InsuredCardSymbol>,
    /// 番号.
    #[serde(rename = "InsuredIdentificationNumber")]
    pub number: InsuredIdentificationNumber,
    /// 枝番.
    #[serde(rename = "InsuredBranchNumber")]
    pub branch: InsuredBranchNumber,
    /// 本人・家族の別.
    #[serde(rename = "PersonalFamilyClassification")]
    pub personal_family: PersonalFamilyClassification,
    /// 被保険者氏名 (世帯主氏名).
    #[serde(
        rename = "InsuredName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insured_name: Option<PersonName>,
    /// 氏名.
    #[serde(rename = "Name")]
    pub name: PersonName,
    /// 氏名カナ (full-width in memory; written half-width, read in either width).
    #[serde(rename = "NameKana", serialize_with = "halfwidth")]
    pub name_kana: Kana,
    /// 性別.
    #[serde(rename = "Sex1")]
    pub sex: Sex,
    /// 生年月日.
    #[serde(rename = "Birthdate", with = "yyyymmdd")]
    pub birthdate: Date,
    /// 住所.
    #[serde(rename = "Address", default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// 郵便番号.
    #[serde(
        rename = "PostNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub post_number: Option<PostNumber>,
    /// 資格取得年月日.
    #[serde(rename = "QualificationDate", with = "yyyymmdd")]
    pub qualification_date: Date,
    /// 資格喪失年月日: the first day without the qualification.
    #[serde(
        rename = "DisqualificationDate",
        with = "yyyymmdd::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disqualification_date: Option<Date>,
    /// 被保険者証交付年月日: the day the insurer issued the card (or 資格確認書), when the feed
    /// gives it.
    #[serde(
        rename = "InsuredCertificateIssuanceDate",
        with = "yyyymmdd::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub card_issuance_date: Option<Date>,
    /// 有効開始年月日 of the card: the first day the card (or 資格確認書) may be used.
    #[serde(
        rename = "InsuredCardValidDate",
        with = "yyyymmdd::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub card_valid_date: Option<Date>,
    /// 有効終了年月日 of the card: the last day it may be used (inclusive).
    #[serde(
        rename = "InsuredCardExpirationDate",
        with = "yyyymmdd::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub card_expiration_date: Option<Date>,
    /// 一部負担金割合.
    #[serde(
        rename = "InsuredPartialContributionRatio",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub contribution_ratio: Option<ContributionRatio>,
    /// 未就学区分.
    #[serde(
        rename = "PreschoolClassification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub preschool: Option<PreschoolClassification>,
    /// 資格喪失事由.
    #[serde(
        rename = "ReasonOfLoss",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reason_of_loss: Option<ReasonOfLoss>,
    /// 保険者名称.
    #[serde(rename = "InsurerName")]
    pub insurer_name: InsurerName,
    /// 高齢受給者証情報.
    #[serde(
        rename = "ElderlyRecipientCertificateInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub elderly: Option<ElderlyRecipientCertificateInfo>,
}

fn halfwidth<S: serde::Serializer>(k: &Kana, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.to_halfwidth())
}

/// A rule between fields that a record breaks: the field it is reported on and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordViolation {
    /// The element name of the field the violation is reported on.
    pub field: &'static str,
    /// What is wrong.
    pub error: ModelError,
}

fn inconsistent(field: &'static str, en: &str, ja: &str) -> RecordViolation {
    RecordViolation {
        field,
        error: ModelError::Inconsistent {
            en: en.to_owned(),
            ja: ja.to_owned(),
        },
    }
}

impl Qualification {
    /// The record's key.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            insurer_number: self.insurer_number,
            symbol: self.symbol.clone(),
            number: self.number.clone(),
            branch: self.branch,
            qualification_date: self.qualification_date,
        }
    }

    /// Whether the record gives the qualification on `date`: from the 資格取得日 up to the day
    /// before the 資格喪失日.
    pub fn is_valid_on(&self, date: Date) -> bool {
        self.qualification_date <= date && self.disqualification_date.is_none_or(|lost| date < lost)
    }

    /// The rules between fields: the first one broken, if any.
    pub fn check_consistency(&self) -> Result<(), RecordViolation> {
        if let Some(lost) = self.disqualification_date {
            if lost < self.qualification_date {
                return Err(inconsistent(
                    "DisqualificationDate",
                    "the date of loss is before the date of qualification",
                    "資格喪失日が資格取得日より前です",
                ));
            }
        } else if self.reason_of_loss.is_some() {
            return Err(inconsistent(
                "ReasonOfLoss",
                "a reason of loss without a date of loss",
                "資格喪失日がないのに資格喪失事由があります",
            ));
        }
        if self.qualification_date < self.birthdate {
            return Err(inconsistent(
                "QualificationDate",
                "the date of qualification is before the birth date",
                "資格取得日が生年月日より前です",
            ));
        }
        match (self.insurer_number.is_koki(), &self.symbol) {
            (true, Some(_)) => {
                return Err(inconsistent(
                    "InsuredCardSymbol",
                    "後期高齢者医療 records have no card symbol",
                    "後期高齢者医療の資格に記号はありません",
                ))
            }
            (false, None) => {
                return Err(inconsistent(
                    "InsuredCardSymbol",
                    "the card symbol is missing",
                    "記号がありません",
                ))
            }
            _ => {}
        }
        if let (Some(from), Some(to)) = (self.card_valid_date, self.card_expiration_date) {
            if to < from {
                return Err(inconsistent(
                    "InsuredCardExpirationDate",
                    "the card expires before it becomes valid",
                    "被保険者証の有効終了日が有効開始日より前です",
                ));
            }
        }
        if let Some(e) = &self.elderly {
            if e.valid_end < e.valid_start {
                return Err(inconsistent(
                    "ElderlyRecipientValidEndDate",
                    "the elderly certificate ends before it starts",
                    "高齢受給者証の有効終了日が有効開始日より前です",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn date(s: &str) -> Date {
        crate::date::parse_yyyymmdd(s).unwrap()
    }

    /// A plain 協会けんぽ record for tests.
    pub(crate) fn sample() -> EligibilityRecord {
        EligibilityRecord {
            person_id: PersonId::parse("P0000000001").unwrap(),
            qualification: Qualification {
                card_classification: InsuredCardClassification::GENERAL,
                insurer_number: InsurerNumber::parse("01130012").unwrap(),
                symbol: Some(InsuredCardSymbol::parse("１２３").unwrap()),
                number: InsuredIdentificationNumber::parse("４５６").unwrap(),
                branch: InsuredBranchNumber::parse("01").unwrap(),
                personal_family: PersonalFamilyClassification::INSURED,
                insured_name: Some(PersonName::parse("山田　太郎").unwrap()),
                name: PersonName::parse("山田　太郎").unwrap(),
                name_kana: Kana::parse("ヤマダ　タロウ").unwrap(),
                sex: Sex::MALE,
                birthdate: date("19800102"),
                address: Some(Address::parse("東京都千代田区霞が関１－２－２").unwrap()),
                post_number: Some(PostNumber::parse("100-8916").unwrap()),
                qualification_date: date("20200401"),
                disqualification_date: None,
                card_issuance_date: None,
                card_valid_date: None,
                card_expiration_date: None,
                contribution_ratio: Some(ContributionRatio::THIRTY),
                preschool: None,
                reason_of_loss: None,
                insurer_name: InsurerName::parse("全国健康保険協会東京支部").unwrap(),
                elderly: None,
            },
        }
    }

    #[test]
    fn validity_window_is_half_open() {
        let mut r = sample();
        r.disqualification_date = Some(date("20240401"));
        assert!(!r.is_valid_on(date("20200331")));
        assert!(r.is_valid_on(date("20200401")));
        assert!(r.is_valid_on(date("20240331")));
        assert!(!r.is_valid_on(date("20240401")));
    }

    #[test]
    fn consistency_rules() {
        assert_eq!(sample().check_consistency(), Ok(()));
        let mut r = sample();
        r.disqualification_date = Some(date("20200331"));
        assert_eq!(
            r.check_consistency().unwrap_err().field,
            "DisqualificationDate"
        );
        let mut r = sample();
        r.reason_of_loss = Some(ReasonOfLoss::DEATH);
        assert_eq!(r.check_consistency().unwrap_err().field, "ReasonOfLoss");
        let mut r = sample();
        r.qualification_date = date("19791231");
        assert_eq!(
            r.check_consistency().unwrap_err().field,
            "QualificationDate"
        );
        let mut r = sample();
        r.insurer_number = InsurerNumber::parse("39131156").unwrap();
        assert_eq!(
            r.check_consistency().unwrap_err().field,
            "InsuredCardSymbol"
        );
        r.symbol = None;
        assert_eq!(r.check_consistency(), Ok(()));
        let mut r = sample();
        r.symbol = None;
        assert!(r.check_consistency().is_err());
        let mut r = sample();
        r.card_valid_date = Some(date("20240801"));
        r.card_expiration_date = Some(date("20240731"));
        assert_eq!(
            r.check_consistency().unwrap_err().field,
            "InsuredCardExpirationDate"
        );
        r.card_expiration_date = Some(date("20240801"));
        assert_eq!(r.check_consistency(), Ok(()));
    }

    #[test]
    fn json_uses_element_names() {
        let mut r = sample();
        r.elderly = Some(ElderlyRecipientCertificateInfo {
            certificate_date: Some(date("20240701")),
            valid_start: date("20240801"),
            valid_end: date("20250731"),
            contribution_ratio: ContributionRatio::TWENTY,
        });
        r.card_valid_date = Some(date("20240801"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["InsurerNumber"], "01130012");
        assert_eq!(v["InsuredBranchNumber"], "01");
        assert_eq!(v["Birthdate"], "19800102");
        assert_eq!(v["InsuredPartialContributionRatio"], "030");
        assert_eq!(
            v["ElderlyRecipientCertificateInfo"]["ElderlyRecipientContributionRatio"],
            "020"
        );
        assert!(v.get("DisqualificationDate").is_none());
        assert_eq!(v["InsuredCardValidDate"], "20240801");
        assert!(v.get("InsuredCardExpirationDate").is_none());
        let back: EligibilityRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
