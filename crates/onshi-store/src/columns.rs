//! The columns of the persons and eligibility tables, and the one mapping between them and the
//! model types that both engines share.

use std::borrow::Cow;

use onshi_model::{
    Address, ContributionRatio, Date, ElderlyRecipientCertificateInfo, EligibilityRecord,
    InsuredBranchNumber, InsuredCardClassification, InsuredCardSymbol, InsuredIdentificationNumber,
    InsurerName, InsurerNumber, Kana, ModelError, Person, PersonId, PersonName,
    PersonalFamilyClassification, PostNumber, PreschoolClassification, Qualification, ReasonOfLoss,
    Sex,
};

use crate::StoreError;

/// Columns of `eligibility`, in the order every statement uses. The first five after
/// `person_id` are the key.
pub(crate) const RECORD_COLUMNS: [&str; 27] = [
    "person_id",
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "qualification_date",
    "card_classification",
    "personal_family",
    "insured_name",
    "name",
    "name_kana",
    "sex",
    "birthdate",
    "address",
    "post_number",
    "disqualification_date",
    "contribution_ratio",
    "preschool",
    "reason_of_loss",
    "insurer_name",
    "elderly_certificate_date",
    "elderly_valid_start",
    "elderly_valid_end",
    "elderly_contribution_ratio",
    "card_issuance_date",
    "card_valid_date",
    "card_expiration_date",
];

/// The key columns of `eligibility`.
pub(crate) const RECORD_KEY: &str = "insurer_number, symbol, number, branch, qualification_date";

/// Columns of `persons`.
pub(crate) const PERSON_COLUMNS: [&str; 7] = [
    "person_id",
    "name",
    "name_kana",
    "birthdate",
    "sex",
    "address",
    "former_name",
];

/// One value to bind.
pub(crate) enum Value<'a> {
    Text(Cow<'a, str>),
    Date(Date),
    /// A point in time (the service tables); kept to the microsecond.
    Time(chrono::DateTime<chrono::Utc>),
    Bool(bool),
    Null,
}

fn text(s: &str) -> Value<'_> {
    Value::Text(Cow::Borrowed(s))
}

fn owned(s: String) -> Value<'static> {
    Value::Text(Cow::Owned(s))
}

fn opt<'a, T>(v: Option<&'a T>, f: impl Fn(&'a T) -> Value<'a>) -> Value<'a> {
    v.map_or(Value::Null, f)
}

fn opt_date(d: Option<Date>) -> Value<'static> {
    d.map_or(Value::Null, Value::Date)
}

/// The values of a record in [`RECORD_COLUMNS`] order. A missing 記号 is stored as the empty
/// string so that it can be part of the key.
pub(crate) fn record_values(r: &EligibilityRecord) -> [Value<'_>; 27] {
    let e = r.elderly.as_ref();
    [
        text(r.person_id.as_str()),
        text(r.insurer_number.as_str()),
        text(r.symbol.as_ref().map_or("", |s| s.as_str())),
        text(r.number.as_str()),
        owned(r.branch.to_string()),
        Value::Date(r.qualification_date),
        text(r.card_classification.as_str()),
        text(r.personal_family.as_str()),
        opt(r.insured_name.as_ref(), |n| text(n.as_str())),
        text(r.name.as_str()),
        text(r.name_kana.as_str()),
        text(r.sex.as_str()),
        Value::Date(r.birthdate),
        opt(r.address.as_ref(), |a| text(a.as_str())),
        opt(r.post_number.as_ref(), |p| text(p.as_str())),
        opt_date(r.disqualification_date),
        opt(r.contribution_ratio.as_ref(), |c| owned(c.wire())),
        opt(r.preschool.as_ref(), |p| text(p.as_str())),
        opt(r.reason_of_loss.as_ref(), |p| text(p.as_str())),
        text(r.insurer_name.as_str()),
        opt_date(e.and_then(|e| e.certificate_date)),
        opt_date(e.map(|e| e.valid_start)),
        opt_date(e.map(|e| e.valid_end)),
        opt(e, |e| owned(e.contribution_ratio.wire())),
        opt_date(r.card_issuance_date),
        opt_date(r.card_valid_date),
        opt_date(r.card_expiration_date),
    ]
}

/// The values of a person in [`PERSON_COLUMNS`] order.
pub(crate) fn person_values(p: &Person) -> [Value<'_>; 7] {
    [
        text(p.id.as_str()),
        text(p.name.as_str()),
        text(p.name_kana.as_str()),
        Value::Date(p.birthdate),
        text(p.sex.as_str()),
        opt(p.address.as_ref(), |a| text(a.as_str())),
        opt(p.former_name.as_ref(), |n| text(n.as_str())),
    ]
}

/// Read access to one result row, by column position.
pub(crate) trait RowAccess {
    /// A text column (`None` for NULL).
    fn text(&self, i: usize) -> Result<Option<&str>, StoreError>;
    /// A date column (`None` for NULL).
    fn date(&self, i: usize) -> Result<Option<Date>, StoreError>;
}

struct Reader<'r, R: RowAccess> {
    row: &'r R,
    columns: &'static [&'static str],
}

impl<'r, R: RowAccess> Reader<'r, R> {
    fn corrupt(&self, i: usize, value: &str, reason: String) -> StoreError {
        StoreError::Corrupt {
            column: self.columns[i],
            value: value.to_owned(),
            reason,
        }
    }

    fn opt<T>(
        &self,
        i: usize,
        parse: impl Fn(&str) -> Result<T, ModelError>,
    ) -> Result<Option<T>, StoreError> {
        match self.row.text(i)? {
            None => Ok(None),
            Some(s) => parse(s)
                .map(Some)
                .map_err(|e| self.corrupt(i, s, e.to_string())),
        }
    }

    fn req<T>(
        &self,
        i: usize,
        parse: impl Fn(&str) -> Result<T, ModelError>,
    ) -> Result<T, StoreError> {
        self.opt(i, parse)?
            .ok_or_else(|| self.corrupt(i, "NULL", "required".to_owned()))
    }

    fn req_date(&self, i: usize) -> Result<Date, StoreError> {
        self.row
            .date(i)?
            .ok_or_else(|| self.corrupt(i, "NULL", "required".to_owned()))
    }
}

/// Decodes a row selected with [`RECORD_COLUMNS`].
pub(crate) fn decode_record(row: &impl RowAccess) -> Result<EligibilityRecord, StoreError> {
    let r = Reader {
        row,
        columns: &RECORD_COLUMNS,
    };
    let symbol = match row.text(2)? {
        None | Some("") => None,
        Some(s) => Some(InsuredCardSymbol::parse(s).map_err(|e| r.corrupt(2, s, e.to_string()))?),
    };
    let elderly = match row.date(21)? {
        None => None,
        Some(valid_start) => Some(ElderlyRecipientCertificateInfo {
            certificate_date: row.date(20)?,
            valid_start,
            valid_end: r.req_date(22)?,
            contribution_ratio: r.req(23, ContributionRatio::parse)?,
        }),
    };
    Ok(EligibilityRecord {
        person_id: r.req(0, PersonId::parse)?,
        qualification: Qualification {
            insurer_number: r.req(1, InsurerNumber::parse)?,
            symbol,
            number: r.req(3, InsuredIdentificationNumber::parse)?,
            branch: r.req(4, InsuredBranchNumber::parse)?,
            qualification_date: r.req_date(5)?,
            card_classification: r.req(6, InsuredCardClassification::parse)?,
            personal_family: r.req(7, PersonalFamilyClassification::parse)?,
            insured_name: r.opt(8, PersonName::parse)?,
            name: r.req(9, PersonName::parse)?,
            name_kana: r.req(10, |s| Kana::parse(s).map_err(ModelError::from))?,
            sex: r.req(11, Sex::parse)?,
            birthdate: r.req_date(12)?,
            address: r.opt(13, Address::parse)?,
            post_number: r.opt(14, PostNumber::parse)?,
            disqualification_date: row.date(15)?,
            card_issuance_date: row.date(24)?,
            card_valid_date: row.date(25)?,
            card_expiration_date: row.date(26)?,
            contribution_ratio: r.opt(16, ContributionRatio::parse)?,
            preschool: r.opt(17, PreschoolClassification::parse)?,
            reason_of_loss: r.opt(18, ReasonOfLoss::parse)?,
            insurer_name: r.req(19, InsurerName::parse)?,
            elderly,
        },
    })
}

/// Decodes a row selected with [`PERSON_COLUMNS`].
pub(crate) fn decode_person(row: &impl RowAccess) -> Result<Person, StoreError> {
    let r = Reader {
        row,
        columns: &PERSON_COLUMNS,
    };
    Ok(Person {
        id: r.req(0, PersonId::parse)?,
        name: r.req(1, PersonName::parse)?,
        name_kana: r.req(2, |s| Kana::parse(s).map_err(ModelError::from))?,
        birthdate: r.req_date(3)?,
        sex: r.req(4, Sex::parse)?,
        address: r.opt(5, Address::parse)?,
        former_name: r.opt(6, PersonName::parse)?,
    })
}

/// `a, b, c` of column names.
pub(crate) fn list(columns: &[&str]) -> String {
    columns.join(", ")
}
