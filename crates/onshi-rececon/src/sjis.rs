//! Shift_JIS (CP932) without loss that goes unreported: a character the encoding cannot carry
//! is mapped to its standard form from [`TABLE`], or to 〓 (U+3013, the JIS geta mark that
//! 療養費 forms use for 外字) when the table has none, and every mapping is reported as a
//! [`Mapped`] so staff can correct the claim form by hand. Never ● or `?`.

use std::borrow::Cow;

/// The mark written for a character with no standard form: 〓 (げた, U+3013, JIS X 0208 2-14).
pub const GETA: char = '\u{3013}';

/// Where an entry of [`TABLE`] comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    /// The canonical decomposition of a CJK compatibility ideograph (Unicode `UnicodeData.txt`,
    /// field 5): the replacement is the unified ideograph the code point is defined equal to.
    UnicodeCanonical,
    /// JIS X 0213:2004 例示字形変更 and the 常用漢字表 (2010) 許容字体: the 2004 form and the
    /// JIS X 0208 form are one character of the 常用漢字表 (剝/剥, 𠮟/叱 …).
    Jis2004,
    /// The 文字情報基盤 MJ縮退マップ (IPA / 文字情報技術促進協議会), relation 「法務省告示582号
    /// 別表第四」 or 「辞書類等による関連字」: the JIS X 0208 character registries accept for the
    /// name (𠮷 → 吉, 𡈽 → 土 …).
    MjShukutai,
    /// WHATWG Encoding Standard: a punctuation mark whose look-alike the CP932 index holds.
    Whatwg,
}

/// Characters outside CP932 and their standard forms, with the source of each pair.
///
/// Only characters that `encoding_rs::SHIFT_JIS` cannot encode belong here (a test checks it):
/// 髙 (U+9AD9), 﨑 (U+FA11), 德 (U+5FB7), 塚 (U+FA10), 濵 (U+6FF5) and the compatibility
/// ideographs 神 (U+FA19), 福 (U+FA1B), 都 (U+FA26), 朗 (U+F929), 隆 (U+F9DC) are in CP932's
/// NEC/IBM extensions and are written as they are; so is U+2212 (MINUS SIGN, 0x817C).
pub const TABLE: &[(char, char, Source)] = &[
    // 文字情報基盤 MJ縮退マップ (names: 戸籍・住民基本台帳 relations).
    ('\u{20BB7}', '吉', Source::MjShukutai), // 𠮷 (つちよし)
    ('\u{2123D}', '土', Source::MjShukutai), // 𡈽 (土に点)
    ('\u{2363A}', '橋', Source::MjShukutai), // 𣘺
    ('\u{266B0}', '脇', Source::MjShukutai), // 𦚰
    // JIS X 0213:2004 例示字形変更 / 常用漢字表 2010 許容字体.
    ('\u{525D}', '剥', Source::Jis2004),  // 剝
    ('\u{20B9F}', '叱', Source::Jis2004), // 𠮟
    ('\u{9830}', '頬', Source::Jis2004),  // 頰
    ('\u{5861}', '填', Source::Jis2004),  // 塡
    ('\u{6414}', '掻', Source::Jis2004),  // 搔
    ('\u{881F}', '蝋', Source::Jis2004),  // 蠟
    ('\u{91AC}', '醤', Source::Jis2004),  // 醬
    ('\u{7E6B}', '繋', Source::Jis2004),  // 繫
    // CJK compatibility ideographs (canonical decompositions).
    ('\u{FA50}', '祖', Source::UnicodeCanonical), // 祖
    ('\u{FA47}', '漢', Source::UnicodeCanonical), // 漢
    ('\u{FA5F}', '著', Source::UnicodeCanonical), // 著
    ('\u{FA30}', '侮', Source::UnicodeCanonical), // 侮
    // Punctuation outside the CP932 index.
    ('\u{2014}', '\u{2015}', Source::Whatwg), // EM DASH → HORIZONTAL BAR (JIS 1-29)
    ('\u{2016}', '\u{2225}', Source::Whatwg), // DOUBLE VERTICAL LINE → PARALLEL TO
    ('\u{00A2}', '\u{FFE0}', Source::Whatwg), // ¢ → ￠
    ('\u{00A3}', '\u{FFE1}', Source::Whatwg), // £ → ￡
    ('\u{00AC}', '\u{FFE2}', Source::Whatwg), // ¬ → ￢
];

/// One character a Shift_JIS file could not carry, what was written instead, and where.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mapped {
    /// The character of the answer.
    pub original: char,
    /// What the file holds instead: the standard form, or 〓 when there is none.
    pub replacement: char,
    /// The element name of the value it was in (`Name`, `InsuredName`, `Address` …).
    pub field: &'static str,
}

impl Mapped {
    /// Whether no standard form was known and 〓 was written.
    pub fn is_geta(&self) -> bool {
        self.replacement == GETA && self.original != GETA
    }
}

/// Whether CP932 (as `encoding_rs::SHIFT_JIS` encodes it) holds `c`.
pub fn encodable(c: char) -> bool {
    let mut buf = [0u8; 4];
    let (_, _, had_errors) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buf));
    !had_errors
}

/// The standard form of a character outside CP932, from [`TABLE`].
pub fn standard_form(c: char) -> Option<char> {
    TABLE
        .iter()
        .find(|(from, to, _)| *from == c && encodable(*to))
        .map(|(_, to, _)| *to)
}

/// Collects the mappings made while writing one file.
#[derive(Default, Debug)]
pub(crate) struct Folder {
    pub(crate) mapped: Vec<Mapped>,
}

impl Folder {
    /// `s` with every character outside CP932 replaced, each replacement recorded once per
    /// (character, field).
    pub(crate) fn fold<'s>(&mut self, field: &'static str, s: &'s str) -> Cow<'s, str> {
        if s.chars().all(encodable) {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if encodable(c) {
                out.push(c);
                continue;
            }
            let replacement = standard_form(c).unwrap_or(GETA);
            out.push(replacement);
            let m = Mapped {
                original: c,
                replacement,
                field,
            };
            if !self.mapped.contains(&m) {
                self.mapped.push(m);
            }
        }
        Cow::Owned(out)
    }
}

/// Encodes text already folded by a [`Folder`] (so every character is in CP932).
pub(crate) fn encode(s: &str) -> Result<Vec<u8>, crate::RececonError> {
    let (bytes, _, had_errors) = encoding_rs::SHIFT_JIS.encode(s);
    if had_errors {
        let bad = s.chars().find(|c| !encodable(*c)).unwrap_or(GETA);
        return Err(crate::RececonError::Unencodable(bad));
    }
    Ok(bytes.into_owned())
}

/// The mappings as the XML comment lists them: `U+20BB7→吉 (Name)`, comma-separated. The
/// original is named by its code point because the file cannot hold it.
pub fn describe(mapped: &[Mapped]) -> String {
    mapped
        .iter()
        .map(|m| {
            format!(
                "U+{:04X}\u{2192}{} ({})",
                u32::from(m.original),
                m.replacement,
                m.field
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_maps_only_unencodable_to_encodable() {
        let wrong: Vec<String> = TABLE
            .iter()
            .filter(|(from, to, _)| encodable(*from) || !encodable(*to))
            .map(|(from, to, _)| format!("U+{:04X}->{to}", u32::from(*from)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[test]
    fn cp932_extensions_stay() {
        for c in [
            '髙', '﨑', '德', '塚', '濵', '神', '隆', '‐', '−', 'ｱ', '〓', '\u{3000}',
        ] {
            assert!(encodable(c), "{c} (U+{:04X})", u32::from(c));
        }
        assert!(!encodable('\u{20BB7}'));
    }

    #[test]
    fn folding_records_each_mapping_once() {
        let mut f = Folder::default();
        let s = f.fold("Name", "𠮷田　𠮷男\u{29E3D}");
        assert_eq!(s, "吉田　吉男〓");
        assert_eq!(f.mapped.len(), 2);
        assert!(!f.mapped[0].is_geta());
        assert!(f.mapped[1].is_geta());
        assert_eq!(
            describe(&f.mapped),
            "U+20BB7\u{2192}吉 (Name), U+29E3D\u{2192}〓 (Name)"
        );
        let plain = f.fold("Name", "髙橋　﨑子");
        assert!(matches!(plain, Cow::Borrowed(_)));
    }
}
