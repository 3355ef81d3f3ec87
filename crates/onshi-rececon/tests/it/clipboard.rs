//! The clipboard text: CRLF only, one TAB per item line, labels and values as the app writes,
//! one block of one record, none for an answer that is not 有効.

use onshi_model::codes::ProcessingResultStatus;
use onshi_rececon::clipboard_text;

use super::sample::{check, eligibility, family, koki, lost, people, preschool, two};

fn text_of(e: &onshi_model::Answer) -> String {
    let c = check(e);
    let parts = c.parts();
    assert_eq!(parts.len(), 1);
    clipboard_text(&parts[0]).unwrap()
}

#[test]
fn crlf_only_and_tab_separated() {
    for (who, e) in people() {
        for part in check(&e).parts() {
            let Some(text) = clipboard_text(&part) else {
                continue;
            };
            assert!(text.ends_with("\r\n"), "{who}");
            assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
            assert_eq!(text.matches('\r').count(), text.matches("\r\n").count());
            assert_eq!(text.matches("資格情報(医療保険)").count(), 1, "{who}");
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
    }
}

#[test]
fn labels_in_order_with_values() {
    let text = text_of(&eligibility());
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
            "有効開始日\t令和6年8月1日",
            "有効終了日\t令和7年7月31日",
            "資格取得年月日\t平成25年4月1日",
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
fn the_ratio_line_only_for_koki() {
    let k = text_of(&koki());
    assert!(k.contains("負担割合\t1割\r\n"), "{k}");
    assert!(!k.contains("記号"), "{k}");
    let f = text_of(&family());
    assert!(!f.contains("負担割合"), "{f}");
    assert!(f.contains("本人・家族の別\t家族\r\n"));
}

#[test]
fn preschool_line() {
    assert!(text_of(&preschool()).contains("未就学区分\t義務教育就学前\r\n"));
    assert!(!text_of(&family()).contains("未就学区分"));
}

#[test]
fn one_block_per_part_for_two_records() {
    let e = two();
    let c = check(&e);
    let texts: Vec<String> = c
        .parts()
        .iter()
        .map(|p| clipboard_text(p).unwrap())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(
        texts[0].contains("保険者番号\t01130012\r\n"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("保険者番号\t06139992\r\n"),
        "{}",
        texts[1]
    );
    for t in &texts {
        assert_eq!(t.matches("資格情報(医療保険)").count(), 1);
    }
}

#[test]
fn no_text_unless_valid() {
    let e = lost();
    assert_eq!(clipboard_text(&check(&e).parts()[0]), None);
    let e = onshi_model::Answer::not_found();
    assert_eq!(clipboard_text(&check(&e).parts()[0]), None);
    // A 有効 answer of a check that did not finish normally is not pasted either.
    let e = family();
    let mut c = check(&e);
    c.processing_result_status = ProcessingResultStatus::ERROR;
    assert_eq!(clipboard_text(&c.parts()[0]), None);
}
