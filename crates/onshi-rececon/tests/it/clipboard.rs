//! The clipboard text: CRLF only, one TAB per item line, labels and values as the app writes.

use onshi_model::QualificationValidity;
use onshi_rececon::clipboard_text;

use super::sample::{check, eligibility, record};

#[test]
fn crlf_only_and_tab_separated() {
    let e = eligibility();
    let text = clipboard_text(&check(&e));
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    assert_eq!(text.matches('\r').count(), text.matches("\r\n").count());
    for line in text.split_terminator("\r\n") {
        let tabs = line.matches('\t').count();
        if tabs == 0 {
            assert!(
                ["資格情報(医療保険)", "高齢受給者証"].contains(&line),
                "{line:?}"
            );
        } else {
            assert_eq!(tabs, 1, "{line:?}");
            let (label, value) = line.split_once('\t').unwrap();
            assert!(!value.is_empty(), "{line:?}");
            assert!(label == "確認日 : " || !label.contains(' '), "{line:?}");
        }
    }
}

#[test]
fn labels_in_order_with_values() {
    let e = eligibility();
    let text = clipboard_text(&check(&e));
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(
        lines,
        [
            "資格情報(医療保険)",
            "確認日 : \t令和7年4月1日",
            "保険者番号\t138057",
            "保険者名\t世田谷区",
            "記号\t東京０１",
            "番号\t１２３‐４５",
            "枝番\t00",
            "フリガナ\tﾖｼﾀﾞ ﾀｶｺ",
            "氏名\t𠮷田\u{3000}髙子",
            "生年月日\t昭和28年5月10日",
            "性別\t女",
            "証区分\t被保険者証（一般）",
            "資格取得年月日\t平成25年4月1日",
            "負担割合\t2割",
            "本人・家族の別\t本人",
            "被保険者氏名\t𠮷田\u{3000}髙子",
            "高齢受給者証",
            "有効開始日\t令和6年8月1日",
            "有効終了日\t令和7年7月31日",
            "負担割合\t2割",
            "照会番号\t2025040100300500000123",
        ]
    );
}

#[test]
fn one_block_per_record_and_missing_values_left_out() {
    let mut second = record();
    second.elderly = None;
    second.symbol = None;
    second.insured_name = None;
    second.contribution_ratio = None;
    let e = onshi_model::Eligibility {
        validity: QualificationValidity::VALID,
        records: vec![record(), second],
    };
    let text = clipboard_text(&check(&e));
    assert_eq!(text.matches("資格情報(医療保険)\r\n").count(), 2);
    assert_eq!(text.matches("確認日 : \t").count(), 2);
    assert_eq!(text.matches("照会番号\t").count(), 2);
    let second_block = text.rsplit("資格情報(医療保険)\r\n").next().unwrap();
    assert!(!second_block.contains("記号"));
    assert!(!second_block.contains("被保険者氏名"));
    assert!(!second_block.contains("負担割合"));
    assert!(!second_block.contains("高齢受給者証"));
}

#[test]
fn no_record_gives_date_and_reference_only() {
    let e = onshi_model::Eligibility::not_found();
    assert_eq!(
        clipboard_text(&check(&e)),
        "資格情報(医療保険)\r\n確認日 : \t令和7年4月1日\r\n照会番号\t2025040100300500000123\r\n"
    );
}
