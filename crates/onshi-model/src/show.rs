//! How an answer is shown to people: in Japanese (和暦, words for codes). Programs get the
//! result format's JSON by serialising [`Answer`] (element names, half-width kana, yyyyMMdd).

use std::fmt::Write;

use crate::ratio::benefit_ratio;
use crate::{wareki, Answer, Date, Qualification};

/// A date in 和暦, or the Gregorian date when it is before 明治.
pub fn wareki_or_plain(d: Date) -> String {
    wareki::format_date(d).unwrap_or_else(|_| d.format("%Y年%-m月%-d日").to_string())
}

fn line(out: &mut String, label: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "  {label}\t{value}");
}

fn describe_record(out: &mut String, r: &Qualification, visit: Date) {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "－".to_owned());
    line(
        out,
        "保険者番号",
        &format!(
            "{}（{}）",
            r.insurer_number,
            r.insurer_number.kind().label()
        ),
    );
    line(out, "保険者名", r.insurer_name.as_str());
    line(
        out,
        "記号",
        &or_dash(r.symbol.as_ref().map(ToString::to_string)),
    );
    line(out, "番号", r.number.as_str());
    line(out, "枝番", &r.branch.to_string());
    line(out, "氏名", r.name.as_str());
    line(out, "フリガナ", &r.name_kana.to_halfwidth());
    line(out, "生年月日", &wareki_or_plain(r.birthdate));
    line(out, "性別", r.sex.label().unwrap_or("不明"));
    line(
        out,
        "住所",
        &or_dash(r.address.as_ref().map(ToString::to_string)),
    );
    line(
        out,
        "郵便番号",
        &or_dash(r.post_number.map(|p| p.to_string())),
    );
    line(
        out,
        "証区分",
        r.card_classification.label().unwrap_or("不明"),
    );
    line(
        out,
        "資格取得年月日",
        &wareki_or_plain(r.qualification_date),
    );
    line(
        out,
        "資格喪失年月日",
        &or_dash(r.disqualification_date.map(wareki_or_plain)),
    );
    if let Some(reason) = r.reason_of_loss {
        line(out, "資格喪失事由", reason.label().unwrap_or("不明"));
    }
    line(
        out,
        "負担割合",
        &or_dash(r.contribution_ratio.map(|c| c.label())),
    );
    line(
        out,
        "給付割合",
        &benefit_ratio(r, visit).map_or_else(
            || "不明（保険者に確認してください）".to_owned(),
            |b| b.label(),
        ),
    );
    if let Some(p) = r.preschool {
        line(out, "未就学区分", p.label().unwrap_or("不明"));
    }
    line(
        out,
        "本人・家族の別",
        r.personal_family.label().unwrap_or("不明"),
    );
    line(
        out,
        "被保険者氏名",
        &or_dash(r.insured_name.as_ref().map(ToString::to_string)),
    );
    if let Some(e) = &r.elderly {
        let _ = writeln!(out, "  高齢受給者証");
        line(out, "  有効開始日", &wareki_or_plain(e.valid_start));
        line(out, "  有効終了日", &wareki_or_plain(e.valid_end));
        line(out, "  負担割合", &e.contribution_ratio.label());
    }
}

/// A QualificationValidity code (`"1"` …) in words (有効 …), or 不明なコード.
pub fn validity_label(code: &str) -> &'static str {
    crate::QualificationValidity::parse(code)
        .ok()
        .and_then(|q| q.label())
        .unwrap_or("不明なコード")
}

/// The answer in Japanese for a person reading a terminal.
pub fn describe(e: &Answer, visit: Date) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "確認日\t{}", wareki_or_plain(visit));
    let _ = writeln!(
        out,
        "資格有効性\t{}",
        e.validity.label().unwrap_or("不明なコード")
    );
    let n = e.records.len();
    for (i, r) in e.records.iter().enumerate() {
        let _ = writeln!(out, "資格情報 {}/{n}", i + 1);
        describe_record(&mut out, r, visit);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::tests::{date, sample};
    use crate::QualificationValidity;

    #[test]
    fn japanese_description() {
        let e: Answer = crate::Eligibility {
            validity: QualificationValidity::VALID,
            records: vec![sample()],
        }
        .into();
        let text = describe(&e, date("20250401"));
        assert!(text.contains("確認日\t令和7年4月1日"), "{text}");
        assert!(text.contains("資格有効性\t有効"));
        assert!(text.contains("生年月日\t昭和55年1月2日"));
        assert!(text.contains("フリガナ\tﾔﾏﾀﾞ ﾀﾛｳ"));
        assert!(text.contains("負担割合\t3割"));
        assert!(text.contains("給付割合\t7割"));
        assert!(text.contains("保険者番号\t01130012（協）"));
    }

    #[test]
    fn the_answer_serialises_as_the_result_format() {
        let e: Answer = crate::Eligibility {
            validity: QualificationValidity::VALID,
            records: vec![sample()],
        }
        .into();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["QualificationValidity"], "1");
        let r = &v["ResultList"][0];
        assert_eq!(r["NameKana"], "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(r["Name"], "山田　太郎");
        assert_eq!(r["QualificationDate"], "20200401");
        assert!(r.get("PersonId").is_none());
        let back: Answer = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
