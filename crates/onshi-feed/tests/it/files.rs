//! Good files: encodings, re-imports, what lands.
#![allow(clippy::unwrap_used)]

use onshi_feed::{import_eligibility, import_persons, Encoding, ImportOptions};
use onshi_model::date::parse_yyyymmdd;
use onshi_model::{PersonId, QualificationValidity};

use super::common::*;

#[test]
fn a_good_feed_lands_and_a_reimport_changes_nothing() {
    for e in engines() {
        let persons = write(e.dir.path(), "persons.csv", PERSONS_HEADER, &persons_rows());
        let rows = vec![
            eligibility_row(&[]),
            eligibility_row(&[
                ("PersonId", "P0000000003"),
                ("InsurerNumber", "39131156"),
                ("InsuredCardSymbol", ""),
                ("InsuredIdentificationNumber", "12345678"),
                ("Name", "𠮷田　梅"),
                ("NameKana", "ﾖｼﾀﾞ ｳﾒ"),
                ("Birthdate", "19450301"),
                ("InsuredPartialContributionRatio", "010"),
                ("InsurerName", "東京都後期高齢者医療広域連合"),
            ]),
        ];
        let eligibility = write(e.dir.path(), "eligibility.csv", ELIGIBILITY_HEADER, &rows);
        let opts = ImportOptions::default();
        let s = import_persons(e.store.as_ref(), &persons, &opts, no_progress()).unwrap();
        assert_eq!((s.rows, s.stored, s.rejected), (3, 3, 0), "{}", e.name);
        let s = import_eligibility(e.store.as_ref(), &eligibility, &opts, no_progress()).unwrap();
        assert_eq!(
            (s.rows, s.stored, s.unchanged, s.rejected),
            (2, 2, 0, 0),
            "{}",
            e.name
        );
        assert!(s.report.is_none());
        let again =
            import_eligibility(e.store.as_ref(), &eligibility, &opts, no_progress()).unwrap();
        assert_eq!((again.stored, again.unchanged), (0, 2), "{}", e.name);

        let id = PersonId::parse("P0000000003").unwrap();
        let answer = e
            .store
            .eligibility_for_person(&id, parse_yyyymmdd("20250101").unwrap())
            .unwrap();
        assert_eq!(answer.validity, QualificationValidity::VALID);
        assert_eq!(answer.records[0].name.as_str(), "𠮷田　梅", "{}", e.name);
        assert_eq!(answer.records[0].name_kana.as_str(), "ヨシダ　ウメ");
        assert!(answer.records[0].symbol.is_none());
        let hanako = e
            .store
            .person(&PersonId::parse("P0000000002").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(hanako.name.as_str(), "山﨑　花子");
        assert_eq!(hanako.name_kana.as_str(), "ヤマザキ　ハナコ");
    }
}

#[test]
fn shift_jis_and_bom_files() {
    for e in engines() {
        let text = format!(
            "{PERSONS_HEADER}\r\n{}\r\n",
            persons_rows()[..2].join("\r\n")
        );
        let (sjis, _, lossy) = encoding_rs::SHIFT_JIS.encode(&text);
        assert!(!lossy, "髙 and 﨑 are in CP932");
        let path = e.dir.path().join("sjis.csv");
        std::fs::write(&path, &sjis).unwrap();
        for encoding in [Encoding::Auto, Encoding::ShiftJis] {
            let opts = ImportOptions {
                encoding,
                ..Default::default()
            };
            let s = import_persons(e.store.as_ref(), &path, &opts, no_progress()).unwrap();
            assert_eq!(s.rows, 2, "{}", e.name);
        }
        let taka = e
            .store
            .person(&PersonId::parse("P0000000001").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(taka.name.as_str(), "髙橋　一郎", "{}", e.name);

        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(format!("{PERSONS_HEADER}\n{}\n", persons_rows()[2]).as_bytes());
        let path = e.dir.path().join("bom.csv");
        std::fs::write(&path, bom).unwrap();
        let s = import_persons(
            e.store.as_ref(),
            &path,
            &ImportOptions::default(),
            no_progress(),
        )
        .unwrap();
        assert_eq!(s.stored, 1, "{}", e.name);
    }
}

#[test]
fn optional_columns_may_be_left_out() {
    for e in engines() {
        let persons = write(
            e.dir.path(),
            "p.csv",
            "PersonId,Name,NameKana,Birthdate,Sex1",
            &["P1,山田　太郎,ヤマダ　タロウ,19800102,1".to_owned()],
        );
        import_persons(
            e.store.as_ref(),
            &persons,
            &ImportOptions::default(),
            no_progress(),
        )
        .unwrap();
        let header = "PersonId,InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,PersonalFamilyClassification,Name,NameKana,Sex1,Birthdate,QualificationDate,InsuredCardClassification,InsurerName";
        let row = "P1,01130012,１,２,00,1,山田　太郎,ヤマダ　タロウ,1,19800102,20200401,01,協会"
            .to_owned();
        let path = write(e.dir.path(), "e.csv", header, &[row]);
        let s = import_eligibility(
            e.store.as_ref(),
            &path,
            &ImportOptions::default(),
            no_progress(),
        )
        .unwrap();
        assert_eq!(s.stored, 1, "{}", e.name);
    }
}
