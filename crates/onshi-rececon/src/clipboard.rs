//! The text the national マイナ資格確認アプリ copies to the clipboard, which receipt computers
//! already parse (FORMATS.md §1): section headers, one `label` TAB `value` per line, CRLF.

use onshi_model::wareki::Wareki;
use onshi_model::{PreschoolClassification, Qualification, Sex};

use crate::xml::writes_partial_contribution_ratio;
use crate::{Date, Part};

/// The header of the block of one record.
pub const HEADER: &str = "資格情報(医療保険)";
/// The header of the 高齢受給者証 section.
pub const ELDERLY_HEADER: &str = "高齢受給者証";
/// The label of the check date: space, ASCII colon, space, as GetClipBoard compares it.
pub const CHECK_DATE_LABEL: &str = "確認日 : ";
/// The value of the `未就学区分` line, the only one GetClipBoard accepts.
pub const PRESCHOOL_VALUE: &str = "義務教育就学前";
/// The line ending of the text.
pub const CRLF: &str = "\r\n";

/// A date as the app shows it, `令和7年4月1日`: 和暦 with Arabic digits and no zero padding,
/// `1年` rather than `元年` (sikakuxml reads only digits), Gregorian before 明治.
pub fn date_text(d: Date) -> String {
    match Wareki::from_date(d) {
        Ok(w) => format!("{}{}年{}月{}日", w.era.name(), w.year, w.month, w.day),
        Err(_) => d.format("%Y年%-m月%-d日").to_string(),
    }
}

/// Builds the text line by line.
struct Text(String);

impl Text {
    fn header(&mut self, h: &str) {
        self.0.push_str(h);
        self.0.push_str(CRLF);
    }

    /// A `label` TAB `value` line; a missing or empty value leaves the line out.
    fn item(&mut self, label: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.0.push_str(label);
            self.0.push('\t');
            self.0.push_str(v);
            self.0.push_str(CRLF);
        }
    }
}

fn sex(s: Sex) -> Option<&'static str> {
    // 男 / 女 only: sikakuxml reads anything but 男 as 女, so 未設定 is left out.
    match s {
        Sex::MALE => Some("男"),
        Sex::FEMALE => Some("女"),
        _ => None,
    }
}

fn block(t: &mut Text, part: &Part<'_>, r: &Qualification) {
    let c = &part.check;
    t.header(HEADER);
    t.item(CHECK_DATE_LABEL, Some(&date_text(c.visit)));
    t.item("保険者番号", Some(r.insurer_number.as_str()));
    t.item("保険者名", Some(r.insurer_name.as_str()));
    t.item("記号", r.symbol.as_ref().map(|s| s.as_str()));
    t.item("番号", Some(r.number.as_str()));
    t.item("枝番", Some(&r.branch.to_string()));
    t.item("フリガナ", Some(&r.name_kana.to_halfwidth()));
    t.item("氏名", Some(r.name.as_str()));
    t.item("生年月日", Some(&date_text(r.birthdate)));
    t.item("性別", sex(r.sex));
    t.item("証区分", r.card_classification.label());
    // The card's own validity (GetClipBoard: InsuredCardValidDate / InsuredCardExpirationDate).
    t.item("有効開始日", r.card_valid_date.map(date_text).as_deref());
    t.item(
        "有効終了日",
        r.card_expiration_date.map(date_text).as_deref(),
    );
    t.item("資格取得年月日", Some(&date_text(r.qualification_date)));
    // Read as InsuredPartialContributionRatio, the 後期高齢者's ratio: only for them.
    if writes_partial_contribution_ratio(r) {
        t.item(
            "負担割合",
            r.contribution_ratio.map(|c| c.label()).as_deref(),
        );
    }
    t.item("本人・家族の別", r.personal_family.label());
    t.item("被保険者氏名", r.insured_name.as_ref().map(|s| s.as_str()));
    if r.preschool == Some(PreschoolClassification::PRESCHOOL) {
        t.item("未就学区分", Some(PRESCHOOL_VALUE));
    }
    if let Some(e) = &r.elderly {
        t.header(ELDERLY_HEADER);
        t.item("有効開始日", Some(&date_text(e.valid_start)));
        t.item("有効終了日", Some(&date_text(e.valid_end)));
        t.item("負担割合", Some(&e.contribution_ratio.label()));
    }
    t.item("照会番号", Some(c.reference_number.as_str()));
}

/// The clipboard text of one part of a check: one `資格情報(医療保険)` block for its record, every
/// line ending CRLF, lines without a value left out. `None` when the answer is not 有効 or the
/// part has no record: a lost qualification must not paste like a valid one, and the text has no
/// line that could say 無効.
pub fn clipboard_text(part: &Part<'_>) -> Option<String> {
    let r = part.record.filter(|_| part.check.is_valid())?;
    let mut t = Text(String::new());
    block(&mut t, part, r);
    Some(t.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_use_digits_for_the_first_year() {
        let d = |y, m, day| Date::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(date_text(d(2025, 4, 1)), "令和7年4月1日");
        assert_eq!(date_text(d(2019, 5, 1)), "令和1年5月1日");
        assert_eq!(date_text(d(1980, 1, 2)), "昭和55年1月2日");
        assert_eq!(date_text(d(1850, 1, 2)), "1850年1月2日");
    }
}
