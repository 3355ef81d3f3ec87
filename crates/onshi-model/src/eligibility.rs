//! The eligibility answer: which records a check returns for a visit date, and with which
//! QualificationValidity.
//!
//! The rule (the same for both engines, so it lives here and the stores only fetch records):
//! every record valid on the date gives 1 (有効); when none is valid, the most recent record gives
//! 2 (無効), or 3 (無効（新しい資格あり）) when the person has a newer record; 4 (該当資格なし) when
//! there is no record at all. A query by 記号・番号 that matches records of more than one person
//! gives 5 (複数該当).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{
    Date, EligibilityRecord, InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber,
    InsurerNumber, PersonId, Qualification, QualificationValidity,
};

/// The answer of a check: QualificationValidity and the records it is about (ResultList).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Eligibility {
    /// 資格有効性.
    #[serde(rename = "QualificationValidity")]
    pub validity: QualificationValidity,
    /// ResultList / ResultOfQualificationConfirmation.
    #[serde(rename = "ResultList")]
    pub records: Vec<EligibilityRecord>,
}

/// The answer a check gives: QualificationValidity and the qualifications, without the internal
/// person ids. What the service sends, the desk shows and the receipt-computer files carry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Answer {
    /// 資格有効性.
    #[serde(rename = "QualificationValidity")]
    pub validity: QualificationValidity,
    /// ResultList / ResultOfQualificationConfirmation.
    #[serde(rename = "ResultList")]
    pub records: Vec<Qualification>,
}

impl Answer {
    /// 4 該当資格なし, no record.
    pub fn not_found() -> Self {
        Eligibility::not_found().into()
    }
}

impl From<Eligibility> for Answer {
    /// The answer of an eligibility: the person ids dropped.
    fn from(e: Eligibility) -> Self {
        Self {
            validity: e.validity,
            records: e.records.into_iter().map(|r| r.qualification).collect(),
        }
    }
}

/// A check without a card: 保険者番号 + 記号 + 番号 (+ 枝番) + 生年月日.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyQuery {
    /// 保険者番号.
    pub insurer_number: InsurerNumber,
    /// 記号; `None` matches only records without one (後期高齢者).
    pub symbol: Option<InsuredCardSymbol>,
    /// 番号.
    pub number: InsuredIdentificationNumber,
    /// 枝番; `None` matches any branch (cards issued before 枝番 existed carry none).
    pub branch: Option<InsuredBranchNumber>,
    /// 生年月日, to tell family members under one 記号・番号 apart.
    pub birthdate: Date,
}

impl KeyQuery {
    /// Whether a record is one this query asks about.
    pub fn matches(&self, r: &EligibilityRecord) -> bool {
        r.insurer_number == self.insurer_number
            && r.symbol == self.symbol
            && r.number == self.number
            && self.branch.is_none_or(|b| b == r.branch)
            && r.birthdate == self.birthdate
    }
}

/// The record that stands for a person who has none valid on `date`: the most recent one that
/// had started by then, or else the earliest (all of them start later).
fn representative(records: &[EligibilityRecord], date: Date) -> Option<&EligibilityRecord> {
    records
        .iter()
        .filter(|r| r.qualification_date <= date)
        .max_by_key(|r| r.qualification_date)
        .or_else(|| records.iter().min_by_key(|r| r.qualification_date))
}

/// Records in key order, so that an answer lists them the same way every time.
fn sorted(mut records: Vec<EligibilityRecord>) -> Vec<EligibilityRecord> {
    let key = |r: &EligibilityRecord| {
        (
            r.insurer_number,
            r.symbol.clone(),
            r.number.clone(),
            r.branch,
            r.qualification_date,
        )
    };
    if records.len() > 1 {
        records.sort_by_cached_key(key);
    }
    records
}

impl Eligibility {
    /// The answer when nothing matched.
    pub fn not_found() -> Self {
        Self {
            validity: QualificationValidity::NOT_FOUND,
            records: Vec::new(),
        }
    }

    /// The answer for a person (a card check) from all of that person's records.
    pub fn for_person(mut records: Vec<EligibilityRecord>, date: Date) -> Self {
        // The hot path of every card check: move records, never clone them.
        if records.iter().any(|r| r.is_valid_on(date)) {
            records.retain(|r| r.is_valid_on(date));
            return Self {
                validity: QualificationValidity::VALID,
                records: sorted(records),
            };
        }
        let Some(latest) = representative(&records, date) else {
            return Self::not_found();
        };
        let since = latest.qualification_date;
        let newer_exists = records.iter().any(|r| r.qualification_date > since);
        records.retain(|r| r.qualification_date == since);
        records.truncate(1);
        Self {
            validity: if newer_exists {
                QualificationValidity::INVALID_NEWER_EXISTS
            } else {
                QualificationValidity::INVALID
            },
            records,
        }
    }

    /// The answer for a query without a card. `candidates` must hold every record of every
    /// person who owns a record the query matches (the newer-record test looks at all of them).
    pub fn for_key(query: &KeyQuery, candidates: Vec<EligibilityRecord>, date: Date) -> Self {
        let matching: Vec<EligibilityRecord> = candidates
            .iter()
            .filter(|r| query.matches(r))
            .cloned()
            .collect();
        let owners: BTreeSet<&PersonId> = matching.iter().map(|r| &r.person_id).collect();
        if owners.len() > 1 {
            return Self {
                validity: QualificationValidity::MULTIPLE,
                records: sorted(matching),
            };
        }
        Self::judge(&matching, &candidates, date)
    }

    /// The rule on `asked` (the records the question is about) with `all_of_person` (every record
    /// of the same person, for the newer-record test).
    fn judge(asked: &[EligibilityRecord], all_of_person: &[EligibilityRecord], date: Date) -> Self {
        let valid: Vec<EligibilityRecord> = asked
            .iter()
            .filter(|r| r.is_valid_on(date))
            .cloned()
            .collect();
        if !valid.is_empty() {
            return Self {
                validity: QualificationValidity::VALID,
                records: sorted(valid),
            };
        }
        let Some(latest) = representative(asked, date) else {
            return Self::not_found();
        };
        let newer_exists = all_of_person.iter().any(|r| {
            r.person_id == latest.person_id && r.qualification_date > latest.qualification_date
        });
        Self {
            validity: if newer_exists {
                QualificationValidity::INVALID_NEWER_EXISTS
            } else {
                QualificationValidity::INVALID
            },
            records: vec![latest.clone()],
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::tests::{date, sample};

    fn lost(mut r: EligibilityRecord, on: &str) -> EligibilityRecord {
        r.disqualification_date = Some(date(on));
        r
    }

    fn job_change() -> Vec<EligibilityRecord> {
        let old = lost(sample(), "20230401");
        let mut new = sample();
        new.insurer_number = InsurerNumber::parse("06132013").unwrap_or(new.insurer_number);
        new.symbol = Some(InsuredCardSymbol::parse("７７").unwrap());
        new.qualification_date = date("20230401");
        vec![old, new]
    }

    #[test]
    fn person_with_a_valid_record() {
        let e = Eligibility::for_person(vec![sample()], date("20250101"));
        assert_eq!(e.validity, QualificationValidity::VALID);
        assert_eq!(e.records.len(), 1);
    }

    #[test]
    fn person_with_none() {
        assert_eq!(
            Eligibility::for_person(vec![], date("20250101")),
            Eligibility::not_found()
        );
    }

    #[test]
    fn lost_record_is_invalid() {
        let e = Eligibility::for_person(vec![lost(sample(), "20240401")], date("20250101"));
        assert_eq!(e.validity, QualificationValidity::INVALID);
        assert_eq!(e.records[0].disqualification_date, Some(date("20240401")));
    }

    #[test]
    fn job_change_by_date() {
        let before = Eligibility::for_person(job_change(), date("20230331"));
        assert_eq!(before.validity, QualificationValidity::VALID);
        assert_eq!(before.records[0].qualification_date, date("20200401"));
        let after = Eligibility::for_person(job_change(), date("20230401"));
        assert_eq!(after.validity, QualificationValidity::VALID);
        assert_eq!(after.records[0].qualification_date, date("20230401"));
        // Before any record started: the earliest stands for the person, and a newer one exists.
        let early = Eligibility::for_person(job_change(), date("20190101"));
        assert_eq!(early.validity, QualificationValidity::INVALID_NEWER_EXISTS);
    }

    #[test]
    fn gap_between_records_says_newer_exists() {
        let mut records = job_change();
        records[1].qualification_date = date("20230601");
        let e = Eligibility::for_person(records, date("20230501"));
        assert_eq!(e.validity, QualificationValidity::INVALID_NEWER_EXISTS);
        assert_eq!(e.records[0].qualification_date, date("20200401"));
    }

    fn query_old_card() -> KeyQuery {
        let old = sample();
        KeyQuery {
            insurer_number: old.insurer_number,
            symbol: old.symbol.clone(),
            number: old.number.clone(),
            branch: None,
            birthdate: old.birthdate,
        }
    }

    #[test]
    fn old_card_after_a_job_change_is_3() {
        let e = Eligibility::for_key(&query_old_card(), job_change(), date("20250101"));
        assert_eq!(e.validity, QualificationValidity::INVALID_NEWER_EXISTS);
        assert_eq!(e.records.len(), 1);
        assert_eq!(e.records[0].insurer_number.as_str(), "01130012");
    }

    #[test]
    fn key_query_needs_birthdate_and_symbol() {
        let mut q = query_old_card();
        q.birthdate = date("19800103");
        assert_eq!(
            Eligibility::for_key(&q, job_change(), date("20220101")),
            Eligibility::not_found()
        );
        let mut q = query_old_card();
        q.symbol = None;
        assert_eq!(
            Eligibility::for_key(&q, job_change(), date("20220101")),
            Eligibility::not_found()
        );
        let mut q = query_old_card();
        q.branch = Some(InsuredBranchNumber::parse("02").unwrap());
        assert_eq!(
            Eligibility::for_key(&q, job_change(), date("20220101")),
            Eligibility::not_found()
        );
        let e = Eligibility::for_key(&query_old_card(), job_change(), date("20220101"));
        assert_eq!(e.validity, QualificationValidity::VALID);
    }

    #[test]
    fn two_persons_under_one_key_is_5() {
        let a = sample();
        let mut b = sample();
        b.person_id = PersonId::parse("P0000000002").unwrap();
        b.branch = InsuredBranchNumber::parse("02").unwrap();
        let e = Eligibility::for_key(&query_old_card(), vec![a, b], date("20220101"));
        assert_eq!(e.validity, QualificationValidity::MULTIPLE);
        assert_eq!(e.records.len(), 2);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Up to five records of one person: (days from 2000-01-01 to the 取得日, days held or
        /// none).
        fn histories() -> impl Strategy<Value = Vec<(u16, Option<u16>)>> {
            prop::collection::vec((0u16..9000, prop::option::of(0u16..4000)), 0..5)
        }

        fn build(history: &[(u16, Option<u16>)]) -> Vec<EligibilityRecord> {
            let base = date("20000101");
            history
                .iter()
                .enumerate()
                .map(|(i, &(from, held))| {
                    let mut r = sample();
                    r.number = InsuredIdentificationNumber::parse(&i.to_string()).unwrap();
                    r.qualification_date = base + chrono::Days::new(u64::from(from));
                    r.disqualification_date =
                        held.map(|h| r.qualification_date + chrono::Days::new(u64::from(h)));
                    r
                })
                .collect()
        }

        proptest! {
            #[test]
            fn the_rule_holds(history in histories(), visit in 0u16..12000) {
                let records = build(&history);
                let date = date("20000101") + chrono::Days::new(u64::from(visit));
                let answer = Eligibility::for_person(records.clone(), date);
                let any_valid = records.iter().any(|r| r.is_valid_on(date));
                if records.is_empty() {
                    prop_assert_eq!(answer, Eligibility::not_found());
                } else if any_valid {
                    // 有効: exactly the records valid that day.
                    prop_assert_eq!(answer.validity, QualificationValidity::VALID);
                    prop_assert!(answer.records.iter().all(|r| r.is_valid_on(date)));
                    let valid = records.iter().filter(|r| r.is_valid_on(date)).count();
                    prop_assert_eq!(answer.records.len(), valid);
                } else {
                    // 無効: one record; 3 exactly when a record started later than it.
                    prop_assert_eq!(answer.records.len(), 1);
                    let shown = &answer.records[0];
                    let newer = records.iter().any(|r| r.qualification_date > shown.qualification_date);
                    let expected = if newer {
                        QualificationValidity::INVALID_NEWER_EXISTS
                    } else {
                        QualificationValidity::INVALID
                    };
                    prop_assert_eq!(answer.validity, expected);
                    // It is the latest record that had started by the visit, if any had.
                    let started = records.iter().filter(|r| r.qualification_date <= date).map(|r| r.qualification_date).max();
                    if let Some(latest) = started {
                        prop_assert_eq!(shown.qualification_date, latest);
                    }
                }
                // A card query for the person's own numbers agrees with the card check.
                if let Some(first) = records.first() {
                    let q = KeyQuery {
                        insurer_number: first.insurer_number,
                        symbol: first.symbol.clone(),
                        number: first.number.clone(),
                        branch: Some(first.branch),
                        birthdate: first.birthdate,
                    };
                    let by_key = Eligibility::for_key(&q, records.clone(), date);
                    let own: Vec<EligibilityRecord> =
                        records.iter().filter(|r| q.matches(r)).cloned().collect();
                    if own.iter().any(|r| r.is_valid_on(date)) {
                        prop_assert_eq!(by_key.validity, QualificationValidity::VALID);
                    } else {
                        prop_assert!(matches!(
                            by_key.validity,
                            QualificationValidity::INVALID | QualificationValidity::INVALID_NEWER_EXISTS
                        ));
                    }
                }
            }
        }
    }
}
