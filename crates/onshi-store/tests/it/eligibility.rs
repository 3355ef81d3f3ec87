//! The eligibility answer through each engine.
#![allow(clippy::unwrap_used)]

use onshi_model::*;

use super::common::*;

/// A person who changed jobs on 2023-04-01, a family member on the same card, a person whose
/// record was lost, and a 後期高齢者.
fn seed(store: &dyn onshi_store::Store) -> Vec<Person> {
    let taro = person("P0000000001", "山田　太郎", "ヤマダ　タロウ", "19800102");
    let hanako = person("P0000000002", "山田　花子", "ヤマダ　ハナコ", "19820303");
    let lost = person("P0000000003", "佐藤　一郎", "サトウ　イチロウ", "19700505");
    let koki = person("P0000000004", "鈴木　梅", "スズキ　ウメ", "19450301");
    let mut old = record(&taro, "01130012", "１２３", "４５６", "00", "20200401");
    old.disqualification_date = Some(date("20230401"));
    old.reason_of_loss = Some(ReasonOfLoss::OTHER_INSURANCE);
    let new = record(&taro, "06139992", "７７", "８８", "00", "20230401");
    let mut family = record(&hanako, "06139992", "７７", "８８", "01", "20230401");
    family.personal_family = PersonalFamilyClassification::FAMILY;
    family.insured_name = Some(taro.name.clone());
    let mut gone = record(&lost, "01130012", "９", "１", "00", "20100401");
    gone.disqualification_date = Some(date("20240101"));
    let k = record(&koki, "39131156", "", "12345678", "00", "20200301");
    let persons = vec![taro, hanako, lost, koki];
    put(store, &persons, &[old, new, family, gone, k]);
    persons
}

#[test]
fn card_checks() {
    for e in engines() {
        let p = seed(e.store.as_ref());
        let s = e.store.as_ref();
        let a = s
            .eligibility_for_person(&p[0].id, date("20250101"))
            .unwrap();
        assert_eq!(a.validity, QualificationValidity::VALID, "{}", e.name);
        assert_eq!(a.records.len(), 1);
        assert_eq!(a.records[0].insurer_number.as_str(), "06139992");
        let before = s
            .eligibility_for_person(&p[0].id, date("20230331"))
            .unwrap();
        assert_eq!(
            before.records[0].insurer_number.as_str(),
            "01130012",
            "{}",
            e.name
        );
        let gone = s
            .eligibility_for_person(&p[2].id, date("20250101"))
            .unwrap();
        assert_eq!(gone.validity, QualificationValidity::INVALID, "{}", e.name);
        let nobody = s
            .eligibility_for_person(&PersonId::parse("P9").unwrap(), date("20250101"))
            .unwrap();
        assert_eq!(nobody, Eligibility::not_found(), "{}", e.name);
    }
}

fn query(insurer: &str, symbol: &str, number: &str, branch: Option<&str>, birth: &str) -> KeyQuery {
    KeyQuery {
        insurer_number: InsurerNumber::parse(insurer).unwrap(),
        symbol: (!symbol.is_empty()).then(|| InsuredCardSymbol::parse(symbol).unwrap()),
        number: InsuredIdentificationNumber::parse(number).unwrap(),
        branch: branch.map(|b| InsuredBranchNumber::parse(b).unwrap()),
        birthdate: date(birth),
    }
}

#[test]
fn checks_without_a_card() {
    for e in engines() {
        seed(e.store.as_ref());
        let s = e.store.as_ref();
        let d = date("20250101");
        // The old card after the job change: 無効（新しい資格あり）.
        let old = s
            .eligibility_for_key(&query("01130012", "１２３", "４５６", None, "19800102"), d)
            .unwrap();
        assert_eq!(
            old.validity,
            QualificationValidity::INVALID_NEWER_EXISTS,
            "{}",
            e.name
        );
        // The family member by branch and birth date.
        let fam = s
            .eligibility_for_key(
                &query("06139992", "７７", "８８", Some("01"), "19820303"),
                d,
            )
            .unwrap();
        assert_eq!(fam.validity, QualificationValidity::VALID, "{}", e.name);
        assert_eq!(fam.records[0].name.as_str(), "山田　花子");
        // Wrong birth date: nothing.
        let none = s
            .eligibility_for_key(&query("06139992", "７７", "８８", None, "19990101"), d)
            .unwrap();
        assert_eq!(
            none.validity,
            QualificationValidity::NOT_FOUND,
            "{}",
            e.name
        );
        // 後期 without 記号.
        let koki = s
            .eligibility_for_key(&query("39131156", "", "12345678", None, "19450301"), d)
            .unwrap();
        assert_eq!(koki.validity, QualificationValidity::VALID, "{}", e.name);
        let lost = s
            .eligibility_for_key(&query("01130012", "９", "１", Some("00"), "19700505"), d)
            .unwrap();
        assert_eq!(lost.validity, QualificationValidity::INVALID, "{}", e.name);
    }
}

#[test]
fn two_persons_under_one_key_are_multiple() {
    for e in engines() {
        let a = person("P0000000001", "山田　太郎", "ヤマダ　タロウ", "20000101");
        let b = person("P0000000002", "山田　次郎", "ヤマダ　ジロウ", "20000101");
        let ra = record(&a, "01130012", "１", "２", "01", "20200401");
        let rb = record(&b, "01130012", "１", "２", "02", "20200401");
        put(e.store.as_ref(), &[a, b], &[ra, rb]);
        let q = query("01130012", "１", "２", None, "20000101");
        let answer = e.store.eligibility_for_key(&q, date("20250101")).unwrap();
        assert_eq!(
            answer.validity,
            QualificationValidity::MULTIPLE,
            "{}",
            e.name
        );
        assert_eq!(answer.records.len(), 2);
        let q = query("01130012", "１", "２", Some("02"), "20000101");
        let answer = e.store.eligibility_for_key(&q, date("20250101")).unwrap();
        assert_eq!(answer.validity, QualificationValidity::VALID, "{}", e.name);
    }
}
