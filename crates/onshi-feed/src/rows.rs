//! The columns of the feed files and the check of each row against the domain rules.

use std::collections::{HashMap, HashSet};

use onshi_model::date::parse_yyyymmdd;
use onshi_model::{
    Address, ContributionRatio, Date, ElderlyRecipientCertificateInfo, EligibilityRecord,
    InsuredBranchNumber, InsuredCardClassification, InsuredCardSymbol, InsuredIdentificationNumber,
    InsurerName, InsurerNumber, Kana, ModelError, Person, PersonId, PersonName,
    PersonalFamilyClassification, PostNumber, PreschoolClassification, Qualification, ReasonOfLoss,
    Sex,
};

use crate::RowError;

/// Header names of a persons file (`*` = required).
pub const PERSON_COLUMNS: &[(&str, bool)] = &[
    ("PersonId", true),
    ("Name", true),
    ("NameKana", true),
    ("Birthdate", true),
    ("Sex1", true),
    ("Address", false),
    ("FormerName", false),
];

/// Header names of an eligibility file: the result format's element names, and whether the
/// column must be present.
pub const ELIGIBILITY_COLUMNS: &[(&str, bool)] = &[
    ("PersonId", true),
    ("InsurerNumber", true),
    ("InsuredCardSymbol", false),
    ("InsuredIdentificationNumber", true),
    ("InsuredBranchNumber", true),
    ("PersonalFamilyClassification", true),
    ("InsuredName", false),
    ("Name", true),
    ("NameKana", true),
    ("Sex1", true),
    ("Birthdate", true),
    ("Address", false),
    ("PostNumber", false),
    ("QualificationDate", true),
    ("DisqualificationDate", false),
    ("InsuredCardClassification", true),
    ("InsuredPartialContributionRatio", false),
    ("PreschoolClassification", false),
    ("ReasonOfLoss", false),
    ("InsurerName", true),
    ("ElderlyRecipientCertificateDate", false),
    ("ElderlyRecipientValidStartDate", false),
    ("ElderlyRecipientValidEndDate", false),
    ("ElderlyRecipientContributionRatio", false),
    ("InsuredCertificateIssuanceDate", false),
    ("InsuredCardValidDate", false),
    ("InsuredCardExpirationDate", false),
];

/// Positions in [`ELIGIBILITY_COLUMNS`].
mod col {
    pub const PERSON_ID: usize = 0;
    pub const INSURER_NUMBER: usize = 1;
    pub const INSURED_CARD_SYMBOL: usize = 2;
    pub const INSURED_IDENTIFICATION_NUMBER: usize = 3;
    pub const INSURED_BRANCH_NUMBER: usize = 4;
    pub const PERSONAL_FAMILY_CLASSIFICATION: usize = 5;
    pub const INSURED_NAME: usize = 6;
    pub const NAME: usize = 7;
    pub const NAME_KANA: usize = 8;
    pub const SEX: usize = 9;
    pub const BIRTHDATE: usize = 10;
    pub const ADDRESS: usize = 11;
    pub const POST_NUMBER: usize = 12;
    pub const QUALIFICATION_DATE: usize = 13;
    pub const DISQUALIFICATION_DATE: usize = 14;
    pub const INSURED_CARD_CLASSIFICATION: usize = 15;
    pub const INSURED_PARTIAL_CONTRIBUTION_RATIO: usize = 16;
    pub const PRESCHOOL_CLASSIFICATION: usize = 17;
    pub const REASON_OF_LOSS: usize = 18;
    pub const INSURER_NAME: usize = 19;
    pub const ELDERLY_RECIPIENT_CERTIFICATE_DATE: usize = 20;
    pub const ELDERLY_RECIPIENT_VALID_START_DATE: usize = 21;
    pub const ELDERLY_RECIPIENT_VALID_END_DATE: usize = 22;
    pub const ELDERLY_RECIPIENT_CONTRIBUTION_RATIO: usize = 23;
    pub const INSURED_CERTIFICATE_ISSUANCE_DATE: usize = 24;
    pub const INSURED_CARD_VALID_DATE: usize = 25;
    pub const INSURED_CARD_EXPIRATION_DATE: usize = 26;
}

/// Positions in [`PERSON_COLUMNS`].
mod pcol {
    pub const PERSON_ID: usize = 0;
    pub const NAME: usize = 1;
    pub const NAME_KANA: usize = 2;
    pub const BIRTHDATE: usize = 3;
    pub const SEX: usize = 4;
    pub const ADDRESS: usize = 5;
    pub const FORMER_NAME: usize = 6;
}

/// Which file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Persons,
    Eligibility,
}

impl Kind {
    fn columns(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::Persons => PERSON_COLUMNS,
            Self::Eligibility => ELIGIBILITY_COLUMNS,
        }
    }
}

/// One valid row.
pub(crate) enum Item {
    Person(Person),
    Record(Box<EligibilityRecord>),
}

/// A problem with the file as a whole.
#[derive(Debug)]
pub(crate) enum FileProblem {
    Header(String),
    Csv { line: u64, message: String },
}

/// Counts of a checked file.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FileStats {
    pub rows: u64,
    pub rejected: u64,
}

/// Where each known column sits in the file (`None` when the file lacks it).
struct Layout {
    at: Vec<Option<usize>>,
}

impl Layout {
    fn new(kind: Kind, header: &csv::StringRecord) -> Result<Self, FileProblem> {
        let columns = kind.columns();
        let mut at = vec![None; columns.len()];
        for (pos, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{FEFF}');
            let Some(i) = columns.iter().position(|(c, _)| *c == name) else {
                return Err(FileProblem::Header(format!(
                    "見出し行に不明な列「{name}」があります / unknown column {name:?} in the header"
                )));
            };
            if at[i].is_some() {
                return Err(FileProblem::Header(format!(
                    "見出し行に列「{name}」が2回あります / column {name:?} appears twice"
                )));
            }
            at[i] = Some(pos);
        }
        let missing: Vec<&str> = columns
            .iter()
            .zip(&at)
            .filter(|((_, required), pos)| *required && pos.is_none())
            .map(|((name, _), _)| *name)
            .collect();
        if !missing.is_empty() {
            let list = missing.join(", ");
            return Err(FileProblem::Header(format!(
                "必須の列がありません: {list} / required columns missing: {list}"
            )));
        }
        Ok(Self { at })
    }
}

/// Reads the fields of one row, collecting every error it finds.
struct RowReader<'a> {
    kind: Kind,
    layout: &'a Layout,
    record: &'a csv::StringRecord,
    line: u64,
    errors: Vec<RowError>,
}

impl<'a> RowReader<'a> {
    /// The raw value of a column; `None` when the column is absent or the cell empty.
    fn raw(&self, i: usize) -> Option<&'a str> {
        let pos = self.layout.at[i]?;
        self.record.get(pos).filter(|s| !s.is_empty())
    }

    fn name(&self, i: usize) -> &'static str {
        self.kind.columns()[i].0
    }

    fn fail(&mut self, i: usize, value: &str, reason_ja: String, reason_en: String) {
        self.errors.push(RowError {
            line: self.line,
            column: self.name(i).to_owned(),
            value: value.to_owned(),
            reason_ja,
            reason_en,
        });
    }

    fn model_error(&mut self, i: usize, value: &str, e: &ModelError) {
        self.fail(i, value, e.message_ja(), e.to_string());
    }

    fn opt<T>(
        &mut self,
        column: usize,
        parse: impl Fn(&str) -> Result<T, ModelError>,
    ) -> Option<T> {
        let value = self.raw(column)?;
        match parse(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.model_error(column, value, &e);
                None
            }
        }
    }

    /// A required value; `None` (with an error recorded) when it is empty or invalid.
    fn req<T>(
        &mut self,
        column: usize,
        parse: impl Fn(&str) -> Result<T, ModelError>,
    ) -> Option<T> {
        if self.raw(column).is_none() {
            self.fail(
                column,
                "",
                "必須の項目が空です".to_owned(),
                "required value is empty".to_owned(),
            );
            return None;
        }
        self.opt(column, parse)
    }
}

fn kana(s: &str) -> Result<Kana, ModelError> {
    Ok(Kana::parse(s)?)
}

fn date(s: &str) -> Result<Date, ModelError> {
    parse_yyyymmdd(s)
}

fn parse_person(r: &mut RowReader<'_>) -> Option<Person> {
    let id = r.req(pcol::PERSON_ID, PersonId::parse);
    let name = r.req(pcol::NAME, PersonName::parse);
    let name_kana = r.req(pcol::NAME_KANA, kana);
    let birthdate = r.req(pcol::BIRTHDATE, date);
    let sex = r.req(pcol::SEX, Sex::parse);
    let address = r.opt(pcol::ADDRESS, Address::parse);
    let former_name = r.opt(pcol::FORMER_NAME, PersonName::parse);
    Some(Person {
        id: id?,
        name: name?,
        name_kana: name_kana?,
        birthdate: birthdate?,
        sex: sex?,
        address,
        former_name,
    })
}

fn parse_elderly(r: &mut RowReader<'_>) -> Option<Option<ElderlyRecipientCertificateInfo>> {
    const GROUP: [usize; 4] = [
        col::ELDERLY_RECIPIENT_CERTIFICATE_DATE,
        col::ELDERLY_RECIPIENT_VALID_START_DATE,
        col::ELDERLY_RECIPIENT_VALID_END_DATE,
        col::ELDERLY_RECIPIENT_CONTRIBUTION_RATIO,
    ];
    if GROUP.iter().all(|&c| r.raw(c).is_none()) {
        return Some(None);
    }
    let certificate_date = r.opt(GROUP[0], date);
    let valid_start = r.req(GROUP[1], date);
    let valid_end = r.req(GROUP[2], date);
    let contribution_ratio = r.req(GROUP[3], ContributionRatio::parse);
    Some(Some(ElderlyRecipientCertificateInfo {
        certificate_date,
        valid_start: valid_start?,
        valid_end: valid_end?,
        contribution_ratio: contribution_ratio?,
    }))
}

fn parse_record(r: &mut RowReader<'_>) -> Option<EligibilityRecord> {
    let person_id = r.req(col::PERSON_ID, PersonId::parse);
    let insurer_number = r.req(col::INSURER_NUMBER, InsurerNumber::parse);
    let symbol = r.opt(col::INSURED_CARD_SYMBOL, InsuredCardSymbol::parse);
    let number = r.req(
        col::INSURED_IDENTIFICATION_NUMBER,
        InsuredIdentificationNumber::parse,
    );
    let branch = r.req(col::INSURED_BRANCH_NUMBER, InsuredBranchNumber::parse);
    let personal_family = r.req(
        col::PERSONAL_FAMILY_CLASSIFICATION,
        PersonalFamilyClassification::parse,
    );
    let insured_name = r.opt(col::INSURED_NAME, PersonName::parse);
    let name = r.req(col::NAME, PersonName::parse);
    let name_kana = r.req(col::NAME_KANA, kana);
    let sex = r.req(col::SEX, Sex::parse);
    let birthdate = r.req(col::BIRTHDATE, date);
    let address = r.opt(col::ADDRESS, Address::parse);
    let post_number = r.opt(col::POST_NUMBER, PostNumber::parse);
    let qualification_date = r.req(col::QUALIFICATION_DATE, date);
    let disqualification_date = r.opt(col::DISQUALIFICATION_DATE, date);
    let card_issuance_date = r.opt(col::INSURED_CERTIFICATE_ISSUANCE_DATE, date);
    let card_valid_date = r.opt(col::INSURED_CARD_VALID_DATE, date);
    let card_expiration_date = r.opt(col::INSURED_CARD_EXPIRATION_DATE, date);
    let card_classification = r.req(
        col::INSURED_CARD_CLASSIFICATION,
        InsuredCardClassification::parse,
    );
    let contribution_ratio = r.opt(
        col::INSURED_PARTIAL_CONTRIBUTION_RATIO,
        ContributionRatio::parse,
    );
    let preschool = r.opt(
        col::PRESCHOOL_CLASSIFICATION,
        PreschoolClassification::parse,
    );
    let reason_of_loss = r.opt(col::REASON_OF_LOSS, ReasonOfLoss::parse);
    let insurer_name = r.req(col::INSURER_NAME, InsurerName::parse);
    let elderly = parse_elderly(r);
    let record = EligibilityRecord {
        person_id: person_id?,
        qualification: Qualification {
            card_classification: card_classification?,
            insurer_number: insurer_number?,
            symbol,
            number: number?,
            branch: branch?,
            personal_family: personal_family?,
            insured_name,
            name: name?,
            name_kana: name_kana?,
            sex: sex?,
            birthdate: birthdate?,
            address,
            post_number,
            qualification_date: qualification_date?,
            disqualification_date,
            card_issuance_date,
            card_valid_date,
            card_expiration_date,
            contribution_ratio,
            preschool,
            reason_of_loss,
            insurer_name: insurer_name?,
            elderly: elderly?,
        },
    };
    if !r.errors.is_empty() {
        return None;
    }
    if let Err(v) = record.check_consistency() {
        let at = ELIGIBILITY_COLUMNS
            .iter()
            .position(|(c, _)| *c == v.field)
            .unwrap_or(col::PERSON_ID);
        let value = r.raw(at).unwrap_or("").to_owned();
        r.model_error(at, &value, &v.error);
        return None;
    }
    Some(record)
}

/// The key of a record as one string, for the duplicate check.
fn key_text(r: &EligibilityRecord) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        r.insurer_number,
        r.symbol.as_ref().map_or("", |s| s.as_str()),
        r.number,
        r.branch,
        r.qualification_date
    )
}

/// Checks every row of a decoded file. Valid rows go to `on_valid`, each problem to `on_error`;
/// `known_persons` are the person ids a record may name (eligibility files only). `on_progress`
/// gets the byte offset reached, now and then.
pub(crate) fn check_file(
    text: &str,
    kind: Kind,
    known_persons: &HashSet<PersonId>,
    on_valid: &mut dyn FnMut(Item),
    on_error: &mut dyn FnMut(RowError),
) -> Result<FileStats, FileProblem> {
    check_file_with_progress(text, kind, known_persons, on_valid, on_error, &mut |_| {})
}

/// [`check_file`] with a progress callback (bytes read so far).
pub(crate) fn check_file_with_progress(
    text: &str,
    kind: Kind,
    known_persons: &HashSet<PersonId>,
    on_valid: &mut dyn FnMut(Item),
    on_error: &mut dyn FnMut(RowError),
    on_progress: &mut dyn FnMut(u64),
) -> Result<FileStats, FileProblem> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let csv_problem = |e: csv::Error| FileProblem::Csv {
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    if !reader.read_record(&mut record).map_err(csv_problem)? {
        return Err(FileProblem::Header(
            "空のファイルです（見出し行がありません） / empty file (no header row)".to_owned(),
        ));
    }
    let layout = Layout::new(kind, &record)?;
    let mut stats = FileStats::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    while reader.read_record(&mut record).map_err(csv_problem)? {
        let line = record.position().map_or(0, |p| p.line());
        stats.rows += 1;
        if stats.rows % 8192 == 0 {
            on_progress(record.position().map_or(0, |p| p.byte()));
        }
        let mut row = RowReader {
            kind,
            layout: &layout,
            record: &record,
            line,
            errors: Vec::new(),
        };
        let item = match kind {
            Kind::Persons => parse_person(&mut row).map(Item::Person),
            Kind::Eligibility => parse_record(&mut row).map(|r| Item::Record(Box::new(r))),
        };
        let item = item.filter(|item| {
            row.errors.is_empty() && check_links(&mut row, item, known_persons, &mut seen)
        });
        match item {
            Some(item) => on_valid(item),
            None => {
                stats.rejected += 1;
                for e in row.errors {
                    on_error(e);
                }
            }
        }
    }
    on_progress(text.len() as u64);
    Ok(stats)
}

/// The checks that look beyond the row: a known person, a key not seen before in this file.
fn check_links(
    row: &mut RowReader<'_>,
    item: &Item,
    known_persons: &HashSet<PersonId>,
    seen: &mut HashMap<String, u64>,
) -> bool {
    let (key, column, value, what_ja, what_en) = match item {
        Item::Person(p) => (
            p.id.as_str().to_owned(),
            pcol::PERSON_ID,
            p.id.as_str().to_owned(),
            "個人ID",
            "PersonId",
        ),
        Item::Record(r) => {
            if !known_persons.contains(&r.person_id) {
                let id = r.person_id.as_str().to_owned();
                row.fail(
                    col::PERSON_ID,
                    &id,
                    "登録されていない個人IDです（先に persons を取り込んでください）".to_owned(),
                    "unknown PersonId (import the persons file first)".to_owned(),
                );
                return false;
            }
            (
                key_text(r),
                col::QUALIFICATION_DATE,
                r.qualification_date.format("%Y%m%d").to_string(),
                "キー（保険者番号・記号・番号・枝番・資格取得日）",
                "key (insurer, symbol, number, branch, qualification date)",
            )
        }
    };
    if let Some(first) = seen.get(&key) {
        let first = *first;
        row.fail(
            column,
            &value,
            format!("{first}行目と同じ{what_ja}です"),
            format!("same {what_en} as line {first}"),
        );
        return false;
    }
    seen.insert(key, row.line);
    true
}
