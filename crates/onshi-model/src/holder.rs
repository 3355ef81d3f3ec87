//! The wrong-link guard's rule: does the card's holder (what the card authority knows: 氏名,
//! 氏名カナ, 生年月日, 性別) match the person the insurer's records belong to?
//!
//! The rule, in order:
//! 1. 生年月日 and 性別 must be equal. Either one different is a [`LinkMatch::Mismatch`]: the link
//!    is held and the card answered with no records.
//! 2. The names are compared after [`fold_name`]: width (full-width letters and digits, half-width
//!    kana), Latin case, spaces and ・, small kana (ァ → ア), ヴ-type kana (ヴァ → バ, ヂ → ジ, ヅ → ズ,
//!    ヰ → イ, ヱ → エ), hiragana as katakana, and old or variant kanji through [`STANDARD_FORMS`]
//!    and Unicode's canonical decompositions of compatibility ideographs. Equal before folding
//!    (only spaces and width differ) is a [`LinkMatch::Match`].
//! 3. Equal only after folding, or equal to one of the record's former names (旧姓), or — when
//!    the kanji names differ — equal kana names: [`LinkMatch::NameDiffersOnly`]. The link is used
//!    and listed for review.
//! 4. Otherwise the names differ beyond spelling: [`LinkMatch::Mismatch`]. A wrong 個人番号 typed at
//!    the insurer links another person; sharing a birth date and sex by chance must not be enough.

use chrono::NaiveDate;

/// Who someone is, as one side knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// 氏名 (kanji, or Latin letters).
    pub name: String,
    /// 氏名カナ, where known.
    pub name_kana: Option<String>,
    /// 生年月日.
    pub birth: NaiveDate,
    /// 性別 as the result format codes it (`"1"` 男, `"2"` 女, `"3"` 未設定).
    pub sex: String,
    /// Former full names (旧姓 with the given name), where the insurer's record has them.
    pub former_names: Vec<String>,
}

/// What differed between the card's holder and the insured person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Difference {
    /// 生年月日.
    Birth,
    /// 性別.
    Sex,
    /// 氏名, beyond the spellings [`fold_name`] takes as one.
    Name,
    /// 氏名, only in spelling: variant kanji, kana width, small kana, ヴ-type kana.
    NameSpelling,
    /// 氏名: the holder's is the record's former name (旧姓).
    FormerName,
    /// 氏名 in kanji differs, 氏名カナ is the same.
    KanjiOnly,
}

impl Difference {
    /// For the operator's review list and the import report.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Birth => "生年月日が違う",
            Self::Sex => "性別が違う",
            Self::Name => "氏名が違う",
            Self::NameSpelling => "氏名の字体・表記だけが違う",
            Self::FormerName => "旧姓の氏名",
            Self::KanjiOnly => "漢字氏名が違う（カナ氏名は同じ）",
        }
    }

    /// Every difference.
    pub const ALL: [Difference; 6] = [
        Self::Birth,
        Self::Sex,
        Self::Name,
        Self::NameSpelling,
        Self::FormerName,
        Self::KanjiOnly,
    ];

    /// From [`Difference::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == key)
    }

    /// A stable key for files and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Self::Birth => "birth",
            Self::Sex => "sex",
            Self::Name => "name",
            Self::NameSpelling => "name_spelling",
            Self::FormerName => "former_name",
            Self::KanjiOnly => "kanji_only",
        }
    }
}

/// The rule's verdict on one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkMatch {
    /// The same person: use the link.
    Match,
    /// The same birth date and sex, the name written differently: use the link, list it.
    NameDiffersOnly(Difference),
    /// Not the same person: hold the link (stored, not used).
    Mismatch(Vec<Difference>),
}

impl LinkMatch {
    /// Whether the link may answer with records.
    pub fn usable(&self) -> bool {
        !matches!(self, Self::Mismatch(_))
    }

    /// What differed (empty for a match).
    pub fn differences(&self) -> Vec<Difference> {
        match self {
            Self::Match => Vec::new(),
            Self::NameDiffersOnly(d) => vec![*d],
            Self::Mismatch(ds) => ds.clone(),
        }
    }
}

/// Compares the card's holder with the insured person (the rule in the module's text).
pub fn compare(holder: &Identity, insured: &Identity) -> LinkMatch {
    let mut differences = Vec::new();
    if holder.birth != insured.birth {
        differences.push(Difference::Birth);
    }
    if holder.sex != insured.sex {
        differences.push(Difference::Sex);
    }
    let name = compare_names(holder, insured);
    if !differences.is_empty() {
        if let Some(Difference::Name) = name {
            differences.push(Difference::Name);
        }
        return LinkMatch::Mismatch(differences);
    }
    match name {
        None => LinkMatch::Match,
        Some(Difference::Name) => LinkMatch::Mismatch(vec![Difference::Name]),
        Some(d) => LinkMatch::NameDiffersOnly(d),
    }
}

/// `None` when the names are the same; otherwise how they differ.
fn compare_names(holder: &Identity, insured: &Identity) -> Option<Difference> {
    if plain(&holder.name) == plain(&insured.name) {
        return None;
    }
    let folded = fold_name(&holder.name);
    if folded == fold_name(&insured.name) {
        return Some(Difference::NameSpelling);
    }
    if insured.former_names.iter().any(|f| fold_name(f) == folded) {
        return Some(Difference::FormerName);
    }
    match (&holder.name_kana, &insured.name_kana) {
        (Some(a), Some(b)) if !a.trim().is_empty() && fold_name(a) == fold_name(b) => {
            Some(Difference::KanjiOnly)
        }
        _ => Some(Difference::Name),
    }
}

/// A name with only spaces and character width set aside (the spelling kept).
fn plain(name: &str) -> String {
    crate::kana::to_fullwidth(name)
        .chars()
        .filter_map(|c| match c {
            ' ' | '\u{3000}' => None,
            // Full-width ASCII as ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
            c => Some(c),
        })
        .collect()
}

/// A name folded so that spellings of one name compare equal (see the module's text).
pub fn fold_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // NFKC: compatibility ideographs to their unified form, half-width kana to full-width,
    // full-width letters and digits to ASCII.
    let normal: String = name.nfkc().collect();
    let mut out = String::with_capacity(normal.len());
    let chars: Vec<char> = normal.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = katakana(chars[i]);
        let next = chars.get(i + 1).map(|&n| katakana(n));
        // ヴァ ヴィ ヴェ ヴォ → バ ビ ベ ボ; ヴ alone → ブ.
        if c == 'ヴ' {
            let (folded, used) = match next {
                Some('ァ') => ('バ', 2),
                Some('ィ') => ('ビ', 2),
                Some('ェ') => ('ベ', 2),
                Some('ォ') => ('ボ', 2),
                _ => ('ブ', 1),
            };
            out.push(folded);
            i += used;
            continue;
        }
        i += 1;
        match c {
            ' ' | '\u{3000}' | '・' | '･' | '.' => {}
            c if c.is_ascii_alphabetic() => out.push(c.to_ascii_uppercase()),
            c => out.push(standard_kanji(large_kana(c))),
        }
    }
    out
}

/// Hiragana as katakana (ぁ..ゖ → ァ..ヶ); other characters as they are.
fn katakana(c: char) -> char {
    match c {
        '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
        c => c,
    }
}

/// Small kana as their full-size letter, and the kana that registries spell two ways as one.
fn large_kana(c: char) -> char {
    match c {
        'ァ' => 'ア',
        'ィ' | 'ヰ' => 'イ',
        'ゥ' => 'ウ',
        'ェ' | 'ヱ' => 'エ',
        'ォ' | 'ヲ' => 'オ',
        'ッ' => 'ツ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        'ヂ' => 'ジ',
        'ヅ' => 'ズ',
        c => c,
    }
}

fn standard_kanji(c: char) -> char {
    standard_form(c).unwrap_or(c)
}

/// The standard form of an old or variant kanji of [`STANDARD_FORMS`].
pub fn standard_form(c: char) -> Option<char> {
    STANDARD_FORMS
        .iter()
        .find(|(variant, _)| *variant == c)
        .map(|&(_, standard)| standard)
}

/// Old and variant forms of kanji met in names (異体字・旧字体) and the standard form a register
/// writes for each: the pairs of 法務省 「誤字俗字・正字一覧表」 and the 文字情報基盤 MJ縮退マップ
/// (relations 「法務省告示582号別表第四」 and 「辞書類等による関連字」) that name registers meet most,
/// with the JIS X 0213:2004 例示字形変更 pairs. The receipt-computer export's Shift_JIS fallback
/// (`onshi-rececon`'s `sjis::TABLE`) holds the subset outside CP932; every pair of it is here too
/// (a test there checks it). Compatibility ideographs with a canonical decomposition (神 U+FA19,
/// 塚 U+FA10 …) need no entry: [`fold_name`] applies NFKC first.
pub const STANDARD_FORMS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('嵜', '崎'),
    ('㟢', '崎'),
    ('濵', '浜'),
    ('濱', '浜'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('齋', '斎'),
    ('齊', '斉'),
    ('澤', '沢'),
    ('國', '国'),
    ('榮', '栄'),
    ('惠', '恵'),
    ('眞', '真'),
    ('廣', '広'),
    ('德', '徳'),
    ('嶋', '島'),
    ('嶌', '島'),
    ('冨', '富'),
    ('壽', '寿'),
    ('藏', '蔵'),
    ('櫻', '桜'),
    ('瀧', '滝'),
    ('龍', '竜'),
    ('會', '会'),
    ('團', '団'),
    ('實', '実'),
    ('條', '条'),
    ('淺', '浅'),
    ('關', '関'),
    ('峯', '峰'),
    ('槇', '槙'),
    ('劍', '剣'),
    ('劔', '剣'),
    ('剱', '剣'),
    ('曾', '曽'),
    ('彌', '弥'),
    ('圓', '円'),
    ('巖', '巌'),
    ('顯', '顕'),
    ('晉', '晋'),
    ('兒', '児'),
    ('與', '与'),
    ('豐', '豊'),
    ('萬', '万'),
    ('佛', '仏'),
    ('學', '学'),
    ('黑', '黒'),
    ('靜', '静'),
    ('薰', '薫'),
    ('淵', '渕'),
    ('桒', '桑'),
    ('鄕', '郷'),
    ('穗', '穂'),
    ('昻', '昂'),
    ('髮', '髪'),
    ('驒', '騨'),
    // 文字情報基盤 MJ縮退マップ (the same pairs as the export's Shift_JIS fallback).
    ('\u{20BB7}', '吉'), // 𠮷 (つちよし)
    ('\u{2123D}', '土'), // 𡈽
    ('\u{2363A}', '橋'), // 𣘺
    ('\u{266B0}', '脇'), // 𦚰
    // JIS X 0213:2004 例示字形変更 / 常用漢字表 2010 許容字体.
    ('\u{525D}', '剥'),  // 剝
    ('\u{20B9F}', '叱'), // 𠮟
    ('\u{9830}', '頬'),  // 頰
    ('\u{5861}', '填'),  // 塡
    ('\u{6414}', '掻'),  // 搔
    ('\u{881F}', '蝋'),  // 蠟
    ('\u{91AC}', '醤'),  // 醬
    ('\u{7E6B}', '繋'),  // 繫
];

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, kana: Option<&str>, birth: (i32, u32, u32), sex: &str) -> Identity {
        Identity {
            name: name.to_owned(),
            name_kana: kana.map(str::to_owned),
            birth: NaiveDate::from_ymd_opt(birth.0, birth.1, birth.2).unwrap_or_default(),
            sex: sex.to_owned(),
            former_names: Vec::new(),
        }
    }

    #[test]
    fn the_same_person_matches_whatever_the_spaces_and_width() {
        let insured = person("山田　太郎", Some("ヤマダ　タロウ"), (1980, 1, 2), "1");
        for name in ["山田　太郎", "山田 太郎", "山田太郎"] {
            let holder = person(name, Some("ﾔﾏﾀﾞ ﾀﾛｳ"), (1980, 1, 2), "1");
            assert_eq!(compare(&holder, &insured), LinkMatch::Match, "{name}");
        }
        let latin = person("SMITH JOHN", None, (1975, 5, 5), "1");
        let holder = person("ＳＭＩＴＨ　ＪＯＨＮ", None, (1975, 5, 5), "1");
        assert_eq!(compare(&holder, &latin), LinkMatch::Match);
    }

    #[test]
    fn birth_date_or_sex_off_is_held_even_with_the_same_name() {
        let insured = person("山田　太郎", None, (1980, 1, 2), "1");
        let next_day = person("山田　太郎", None, (1980, 1, 3), "1");
        assert_eq!(
            compare(&next_day, &insured),
            LinkMatch::Mismatch(vec![Difference::Birth])
        );
        let swapped = person("山田　太郎", None, (1980, 1, 2), "2");
        assert_eq!(
            compare(&swapped, &insured),
            LinkMatch::Mismatch(vec![Difference::Sex])
        );
        let other = person("佐藤　花子", None, (1990, 7, 7), "2");
        let verdict = compare(&other, &insured);
        assert_eq!(
            verdict,
            LinkMatch::Mismatch(vec![Difference::Birth, Difference::Sex, Difference::Name])
        );
        assert!(!verdict.usable());
    }

    #[test]
    fn another_person_born_the_same_day_is_held() {
        let insured = person("山田　太郎", Some("ヤマダ　タロウ"), (1980, 1, 2), "1");
        let other = person("鈴木　一郎", Some("スズキ　イチロウ"), (1980, 1, 2), "1");
        assert_eq!(
            compare(&other, &insured),
            LinkMatch::Mismatch(vec![Difference::Name])
        );
    }

    #[test]
    fn variant_kanji_are_a_spelling_difference() {
        for (card, record) in [
            ("髙橋　一郎", "高橋　一郎"),
            ("山﨑　花子", "山崎　花子"),
            ("\u{20BB7}田　髙子", "吉田　高子"),
            ("渡邊　眞", "渡辺　真"),
            ("齋藤　惠", "斎藤　恵"),
            // 神 U+FA19 is canonically 神 U+795E.
            ("\u{FA19}田　浩", "神田　浩"),
        ] {
            let holder = person(card, None, (1970, 3, 3), "2");
            let insured = person(record, None, (1970, 3, 3), "2");
            let verdict = compare(&holder, &insured);
            assert_eq!(
                verdict,
                LinkMatch::NameDiffersOnly(Difference::NameSpelling),
                "{card} / {record}"
            );
            assert!(verdict.usable());
        }
    }

    #[test]
    fn kana_spellings_fold() {
        for (a, b) in [
            ("ヴィクトル", "ビクトル"),
            ("ヴァレリー", "バレリー"),
            ("キャシー", "キヤシー"),
            ("ちづる", "チズル"),
            ("ﾂﾂﾞｷ", "ツズキ"),
            ("MARIA・GARCIA", "maria garcia"),
        ] {
            assert_eq!(fold_name(a), fold_name(b), "{a} / {b}");
        }
        assert_ne!(fold_name("サトウ"), fold_name("サイトウ"));
        assert_ne!(fold_name("斉藤"), fold_name("斎藤"));
    }

    #[test]
    fn a_former_name_or_the_same_kana_is_a_name_only_difference() {
        let mut insured = person("鈴木　花子", Some("スズキ　ハナコ"), (1985, 4, 4), "2");
        insured.former_names.push("田中　花子".to_owned());
        let maiden = person("田中　花子", Some("タナカ　ハナコ"), (1985, 4, 4), "2");
        assert_eq!(
            compare(&maiden, &insured),
            LinkMatch::NameDiffersOnly(Difference::FormerName)
        );
        // 外字 replaced by 〓 on one side: the kana still say who it is.
        let geta = person("鈴〓　花子", Some("ｽｽﾞｷ ﾊﾅｺ"), (1985, 4, 4), "2");
        assert_eq!(
            compare(&geta, &insured),
            LinkMatch::NameDiffersOnly(Difference::KanjiOnly)
        );
        let no_kana = person("鈴〓　花子", None, (1985, 4, 4), "2");
        assert_eq!(
            compare(&no_kana, &insured),
            LinkMatch::Mismatch(vec![Difference::Name])
        );
    }

    #[test]
    fn every_variant_maps_to_another_character_once() {
        for (variant, standard) in STANDARD_FORMS {
            assert_ne!(variant, standard);
            assert_eq!(
                standard_form(*standard),
                None,
                "{standard} is a variant too"
            );
            assert_eq!(
                STANDARD_FORMS.iter().filter(|(v, _)| v == variant).count(),
                1,
                "{variant} twice"
            );
        }
    }
}
