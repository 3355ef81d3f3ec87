//! Bad input: every invalid row reported with line, column, value and reason; nothing stored
//! unless asked; whole-file problems named.
#![allow(clippy::unwrap_used)]

use onshi_feed::{import_eligibility, import_persons, FeedError, ImportOptions, RowError};

use super::common::*;

/// The bad rows this test feeds, each with the column its error must name.
fn bad_rows() -> Vec<(String, &'static str, &'static str)> {
    vec![
        (
            eligibility_row(&[("InsurerNumber", "01130013")]),
            "InsurerNumber",
            "検証番号",
        ),
        (
            eligibility_row(&[("QualificationDate", "20230229")]),
            "QualificationDate",
            "存在しない日付",
        ),
        (
            eligibility_row(&[
                ("QualificationDate", "20230401"),
                ("DisqualificationDate", "20230301"),
            ]),
            "DisqualificationDate",
            "資格喪失日が資格取得日より前",
        ),
        (
            eligibility_row(&[("PersonId", "P0000000999")]),
            "PersonId",
            "登録されていない",
        ),
        (
            eligibility_row(&[("InsuredCardClassification", "09")]),
            "InsuredCardClassification",
            "定義されていません",
        ),
        (
            eligibility_row(&[("NameKana", "たかはし")]),
            "NameKana",
            "カタカナ",
        ),
        (
            eligibility_row(&[("InsuredBranchNumber", "1")]),
            "InsuredBranchNumber",
            "2桁",
        ),
        (
            eligibility_row(&[("InsurerName", "")]),
            "InsurerName",
            "必須",
        ),
        (
            eligibility_row(&[("ElderlyRecipientValidStartDate", "20240801")]),
            "ElderlyRecipientValidEndDate",
            "必須",
        ),
        (
            eligibility_row(&[("InsuredCardExpirationDate", "20200331")]),
            "InsuredCardExpirationDate",
            "有効終了日が有効開始日より前",
        ),
        (
            eligibility_row(&[("InsuredCardValidDate", "20230229")]),
            "InsuredCardValidDate",
            "存在しない日付",
        ),
        (
            eligibility_row(&[("InsuredCardSymbol", "")]),
            "InsuredCardSymbol",
            "記号がありません",
        ),
    ]
}

fn setup(e: &Engine) {
    let persons = write(e.dir.path(), "persons.csv", PERSONS_HEADER, &persons_rows());
    import_persons(
        e.store.as_ref(),
        &persons,
        &ImportOptions::default(),
        no_progress(),
    )
    .unwrap();
}

fn check_errors(errors: &[RowError], bad: &[(String, &str, &str)], engine: &str) {
    for (i, (_, column, reason)) in bad.iter().enumerate() {
        let line = i as u64 + 3; // header, one good row, then the bad ones
        let found = errors.iter().find(|e| e.line == line);
        let found =
            found.unwrap_or_else(|| panic!("{engine}: no error on line {line}: {errors:?}"));
        assert_eq!(found.column, *column, "{engine} line {line}: {found}");
        assert!(
            found.reason_ja.contains(reason),
            "{engine} line {line}: {found}"
        );
        assert!(!found.reason_en.is_empty());
    }
}

#[test]
fn one_bad_row_rejects_the_file_and_says_where() {
    for e in engines() {
        setup(&e);
        let bad = bad_rows();
        let mut rows = vec![eligibility_row(&[])];
        rows.extend(bad.iter().map(|b| b.0.clone()));
        let path = write(e.dir.path(), "eligibility.csv", ELIGIBILITY_HEADER, &rows);
        let before = e.store.counts().unwrap();
        let err = import_eligibility(
            e.store.as_ref(),
            &path,
            &ImportOptions::default(),
            no_progress(),
        )
        .unwrap_err();
        let FeedError::Invalid {
            rows,
            errors,
            report,
            ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(rows, bad.len() as u64, "{}", e.name);
        check_errors(&errors, &bad, e.name);
        assert_eq!(
            e.store.counts().unwrap(),
            before,
            "{}: nothing may be stored",
            e.name
        );
        // The report holds the same errors, readable by a spreadsheet.
        let report = std::fs::read_to_string(report.unwrap()).unwrap();
        assert!(report.starts_with('\u{FEFF}'));
        assert!(report.contains("InsurerNumber,01130013"), "{report}");
    }
}

#[test]
fn skip_invalid_stores_the_good_rows_and_reports_the_rest() {
    for e in engines() {
        setup(&e);
        let bad = bad_rows();
        let mut rows = vec![eligibility_row(&[])];
        rows.extend(bad.iter().map(|b| b.0.clone()));
        let path = write(e.dir.path(), "eligibility.csv", ELIGIBILITY_HEADER, &rows);
        let report = e.dir.path().join("rejected.csv");
        let opts = ImportOptions {
            skip_invalid: true,
            report: Some(report.clone()),
            ..Default::default()
        };
        let s = import_eligibility(e.store.as_ref(), &path, &opts, no_progress()).unwrap();
        assert_eq!(
            (s.rows, s.stored, s.rejected),
            (1 + bad.len() as u64, 1, bad.len() as u64),
            "{}",
            e.name
        );
        assert_eq!(s.report.as_deref(), Some(report.as_path()));
        let text = std::fs::read_to_string(&report).unwrap();
        // One line per error (a row may have several), covering every bad row.
        let lines: std::collections::BTreeSet<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(lines.len(), bad.len(), "{}: {text}", e.name);
        assert_eq!(e.store.counts().unwrap().records, 1, "{}", e.name);
    }
}

#[test]
fn duplicate_keys_in_one_file() {
    for e in engines() {
        setup(&e);
        let path = write(
            e.dir.path(),
            "dup.csv",
            ELIGIBILITY_HEADER,
            &[eligibility_row(&[]), eligibility_row(&[("Sex1", "2")])],
        );
        let err = import_eligibility(
            e.store.as_ref(),
            &path,
            &ImportOptions::default(),
            no_progress(),
        )
        .unwrap_err();
        let FeedError::Invalid { errors, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].reason_ja.contains("2行目と同じ"), "{}", errors[0]);
        let persons = write(
            e.dir.path(),
            "dup-p.csv",
            PERSONS_HEADER,
            &[persons_rows()[0].clone(), persons_rows()[0].clone()],
        );
        let err = import_persons(
            e.store.as_ref(),
            &persons,
            &ImportOptions::default(),
            no_progress(),
        )
        .unwrap_err();
        assert!(matches!(err, FeedError::Invalid { rows: 1, .. }), "{err}");
    }
}

#[test]
fn whole_file_problems() {
    let e = engines().remove(0);
    setup(&e);
    let store = e.store.as_ref();
    let opts = ImportOptions::default();
    let missing = write(e.dir.path(), "m.csv", "PersonId,Name", &[]);
    let err = import_persons(store, &missing, &opts, no_progress()).unwrap_err();
    assert!(
        matches!(&err, FeedError::Header { message, .. } if message.contains("NameKana")),
        "{err}"
    );
    let unknown = write(
        e.dir.path(),
        "u.csv",
        &format!("{PERSONS_HEADER},MyNumber"),
        &[],
    );
    let err = import_persons(store, &unknown, &opts, no_progress()).unwrap_err();
    assert!(
        matches!(&err, FeedError::Header { message, .. } if message.contains("MyNumber")),
        "{err}"
    );
    let ragged = write(
        e.dir.path(),
        "r.csv",
        PERSONS_HEADER,
        &[persons_rows()[0].clone(), "P9,a".into()],
    );
    let err = import_persons(store, &ragged, &opts, no_progress()).unwrap_err();
    assert!(matches!(err, FeedError::Csv { line: 3, .. }), "{err}");
    let empty = e.dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        import_persons(store, &empty, &opts, no_progress()),
        Err(FeedError::Header { .. })
    ));
    let binary = e.dir.path().join("bin.csv");
    std::fs::write(&binary, b"PersonId\n\x82\xff\x80\x80\n").unwrap();
    assert!(matches!(
        import_persons(store, &binary, &opts, no_progress()),
        Err(FeedError::Encoding { .. })
    ));
    let nowhere = e.dir.path().join("nope.csv");
    assert!(matches!(
        import_persons(store, &nowhere, &opts, no_progress()),
        Err(FeedError::Io { .. })
    ));
}
