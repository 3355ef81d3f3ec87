//! The account a grant is paid into: 金融機関コード and 名, 支店コード and 名, 預金種目, 口座番号
//! and 口座名義, checked as the 全銀協 総合振込 file needs them (names in the transfer character
//! set: half-width katakana, A–Z, 0–9, space and `( ) - . / ｢ ｣ , \`). A clinic may type
//! full-width katakana, hiragana or letters: they are converted before the check.

use crate::error::FieldError;

/// 預金種目.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// 普通預金 (code 1).
    Ordinary,
    /// 当座預金 (code 2).
    Current,
}

impl AccountKind {
    /// The 全銀 code, also what the store and the form keep.
    pub fn code(self) -> char {
        match self {
            Self::Ordinary => '1',
            Self::Current => '2',
        }
    }

    /// From the code.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1" => Some(Self::Ordinary),
            "2" => Some(Self::Current),
            _ => None,
        }
    }

    /// What a clinic reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ordinary => "普通",
            Self::Current => "当座",
        }
    }
}

/// A checked transfer account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankAccount {
    /// 金融機関コード: 4 digits.
    pub bank_code: String,
    /// 金融機関名 in the transfer character set (at most 15).
    pub bank_name: String,
    /// 支店コード: 3 digits.
    pub branch_code: String,
    /// 支店名 in the transfer character set (at most 15).
    pub branch_name: String,
    /// 預金種目.
    pub kind: AccountKind,
    /// 口座番号: 7 digits.
    pub number: String,
    /// 口座名義 in the transfer character set (at most 30).
    pub holder: String,
}

/// The account form's fields as typed.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AccountForm {
    /// 金融機関コード.
    #[serde(default)]
    pub bank_code: String,
    /// 金融機関名.
    #[serde(default)]
    pub bank_name: String,
    /// 支店コード.
    #[serde(default)]
    pub branch_code: String,
    /// 支店名.
    #[serde(default)]
    pub branch_name: String,
    /// 預金種目 (`1`, `2`).
    #[serde(default)]
    pub account_kind: String,
    /// 口座番号.
    #[serde(default)]
    pub account_number: String,
    /// 口座名義.
    #[serde(default)]
    pub holder: String,
}

/// The most characters of a 金融機関名 or 支店名 in the 全銀 record.
pub const MAX_NAME: usize = 15;
/// The most characters of a 口座名義 in the 全銀 record.
pub const MAX_HOLDER: usize = 30;

/// Whether `c` is in the 全銀 transfer character set (JIS X 0201: one byte each).
pub fn is_transfer_char(c: char) -> bool {
    c.is_ascii_digit()
        || c.is_ascii_uppercase()
        || matches!(c, ' ' | '(' | ')' | '-' | '.' | '/' | ',' | '\\' | '｢' | '｣')
        // ｦ, ｱ … ﾝ, ﾞ, ﾟ (the small letters ｧ … ｯ and ｰ are not in the set).
        || c == '\u{FF66}'
        || ('\u{FF71}'..='\u{FF9F}').contains(&c)
}

/// What a clinic typed as the transfer character set: full-width letters, digits and the
/// symbols become half-width, hiragana and katakana half-width katakana, small kana large
/// (ｬ → ﾔ, as banks register them), the long-vowel mark `-`, lower case upper case.
pub fn to_transfer_text(s: &str) -> String {
    let wide: String = s
        .trim()
        .chars()
        .map(|c| match c {
            // Hiragana → katakana.
            'ぁ'..='ゖ' => char::from_u32(u32::from(c) + 0x60).unwrap_or(c),
            // Full-width ASCII → ASCII.
            '！'..='～' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '　' => ' ',
            '「' => '｢',
            '」' => '｣',
            '‐' | '−' | '―' | 'ー' => '-',
            c => c,
        })
        .collect();
    onshi_model::kana::to_halfwidth(&wide)
        .chars()
        .map(|c| match c {
            'ｧ' => 'ｱ',
            'ｨ' => 'ｲ',
            'ｩ' => 'ｳ',
            'ｪ' => 'ｴ',
            'ｫ' => 'ｵ',
            'ｬ' => 'ﾔ',
            'ｭ' => 'ﾕ',
            'ｮ' => 'ﾖ',
            'ｯ' => 'ﾂ',
            'ｰ' => '-',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

fn digits(typed: &str, n: usize, label: &'static str) -> Result<String, FieldError> {
    let s: String = typed
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect();
    if s.chars().count() == n && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(FieldError::Digits { label, n })
    }
}

fn transfer_name(typed: &str, max: usize, label: &'static str) -> Result<String, FieldError> {
    let s = to_transfer_text(typed);
    if s.is_empty() {
        return Err(FieldError::Required { label });
    }
    if let Some(bad) = s.chars().find(|c| !is_transfer_char(*c)) {
        return Err(FieldError::TransferCharacter { label, bad });
    }
    let n = s.chars().count();
    if n > max {
        return Err(FieldError::TransferTooLong { label, max, n });
    }
    Ok(s)
}

impl AccountForm {
    /// The checked account, or each wrong field with its Japanese message.
    pub fn parse(&self) -> Result<BankAccount, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let mut take = |field: &'static str, r: Result<String, FieldError>| match r {
            Ok(v) => v,
            Err(m) => {
                errors.push((field, m.to_string()));
                String::new()
            }
        };
        let bank_code = take("bank_code", digits(&self.bank_code, 4, "金融機関コード"));
        let bank_name = take(
            "bank_name",
            transfer_name(&self.bank_name, MAX_NAME, "金融機関名（カナ）"),
        );
        let branch_code = take("branch_code", digits(&self.branch_code, 3, "支店コード"));
        let branch_name = take(
            "branch_name",
            transfer_name(&self.branch_name, MAX_NAME, "支店名（カナ）"),
        );
        let number = take(
            "account_number",
            digits(&self.account_number, 7, "口座番号"),
        );
        let holder = take(
            "holder",
            transfer_name(&self.holder, MAX_HOLDER, "口座名義（カナ）"),
        );
        let kind = AccountKind::parse(self.account_kind.trim());
        if kind.is_none() {
            errors.push((
                "account_kind",
                "預金種目（普通・当座）を選んでください。".to_owned(),
            ));
        }
        match kind {
            Some(kind) if errors.is_empty() => Ok(BankAccount {
                bank_code,
                bank_name,
                branch_code,
                branch_name,
                kind,
                number,
                holder,
            }),
            _ => Err(errors),
        }
    }

    /// The form of a stored account (to show it again).
    pub fn of(a: &BankAccount) -> Self {
        Self {
            bank_code: a.bank_code.clone(),
            bank_name: a.bank_name.clone(),
            branch_code: a.branch_code.clone(),
            branch_name: a.branch_name.clone(),
            account_kind: a.kind.code().to_string(),
            account_number: a.number.clone(),
            holder: a.holder.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form() -> AccountForm {
        AccountForm {
            bank_code: "0001".into(),
            bank_name: "ミズホ".into(),
            branch_code: "１００".into(),
            branch_name: "とうきょう".into(),
            account_kind: "1".into(),
            account_number: "1234567".into(),
            holder: "ヤマダ　タロウ".into(),
        }
    }

    #[test]
    fn typed_kana_becomes_the_transfer_set() {
        let a = form().parse().unwrap();
        assert_eq!(a.bank_name, "ﾐｽﾞﾎ");
        assert_eq!(a.branch_code, "100");
        assert_eq!(a.branch_name, "ﾄｳｷﾖｳ");
        assert_eq!(a.holder, "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(a.kind, AccountKind::Ordinary);
        assert_eq!(
            to_transfer_text("ｶ)ｵﾝｼ　セイコツイン（カ"),
            "ｶ)ｵﾝｼ ｾｲｺﾂｲﾝ(ｶ"
        );
        assert_eq!(to_transfer_text("ジャパンネット abc-１"), "ｼﾞﾔﾊﾟﾝﾈﾂﾄ ABC-1");
        assert_eq!(AccountForm::of(&a).parse().unwrap(), a);
    }

    #[test]
    fn malformed_fields_are_each_refused() {
        let f = AccountForm {
            bank_code: "123".into(),
            bank_name: "みずほ銀行".into(),
            branch_code: "1000".into(),
            branch_name: "".into(),
            account_kind: "3".into(),
            account_number: "123456a".into(),
            holder: "ア".repeat(31),
        };
        let errors = f.parse().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            [
                "bank_code",
                "bank_name",
                "branch_code",
                "branch_name",
                "account_number",
                "holder",
                "account_kind"
            ]
        );
        assert!(errors[1].1.contains("「銀」"), "{}", errors[1].1);
        assert!(errors[5].1.contains("30文字以内"));
        // Thirty after conversion is fine; ガ counts two.
        let mut ok = form();
        ok.holder = "ア".repeat(30);
        assert!(ok.parse().is_ok());
        ok.holder = "ガ".repeat(16);
        assert!(ok.parse().is_err());
    }
}
