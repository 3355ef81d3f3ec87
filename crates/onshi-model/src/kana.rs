//! カナ氏名: names in katakana.
//!
//! The result format carries half-width katakana with an ASCII space between surname and given name
//! (`ﾔﾏﾀﾞ ﾀﾛｳ`); the store keeps the canonical full-width form with U+3000 between words
//! (`ヤマダ　タロウ`). [`Kana`] holds only that canonical form; [`to_halfwidth`] and
//! [`to_fullwidth`] convert any text between the two widths.

use std::fmt;
use std::iter::{Enumerate, Peekable};
use std::str::{Chars, FromStr};

use serde::{Deserialize, Serialize, Serializer};

/// Most characters a [`Kana`] may have, counted in its canonical form (ｶﾞ counts once, as ガ).
pub const MAX_CHARS: usize = 100;

/// The word separator of the canonical form.
const IDEOGRAPHIC_SPACE: char = '\u{3000}';
/// The word separator of the half-width form.
const ASCII_SPACE: char = ' ';
/// Half-width ﾞ, which voices the letter before it (ｶﾞ = ガ).
const VOICED_MARK: char = '\u{FF9E}';
/// Half-width ﾟ, which semi-voices the letter before it (ﾊﾟ = パ).
const SEMI_VOICED_MARK: char = '\u{FF9F}';
/// Full-width spacing ゛ and ゜, what [`to_fullwidth`] makes of a mark with nothing to combine with.
const FULLWIDTH_VOICED_MARK: char = '\u{309B}';
const FULLWIDTH_SEMI_VOICED_MARK: char = '\u{309C}';

/// The first and last half-width katakana letters (･ and ﾝ); the two marks follow them.
const HALFWIDTH_FIRST: char = '\u{FF65}';
const HALFWIDTH_LAST: char = '\u{FF9D}';

/// The full-width form of each half-width letter, in code point order from U+FF65.
const HALFWIDTH_TO_FULLWIDTH: [char; 57] = [
    '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー', //
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', //
    'サ', 'シ', 'ス', 'セ', 'ソ', 'タ', 'チ', 'ツ', 'テ', 'ト', //
    'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', //
    'マ', 'ミ', 'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', //
    'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン',
];

/// Full-width letters with no half-width form, and the nearest half-width letter. Lossy: a name
/// holding one of these does not survive a round trip through half-width.
const LOSSY_HALFWIDTH: [(char, char); 5] = [
    ('ヰ', '\u{FF72}'), // ｲ
    ('ヱ', '\u{FF74}'), // ｴ
    ('ヮ', '\u{FF9C}'), // ﾜ
    ('ヵ', '\u{FF76}'), // ｶ
    ('ヶ', '\u{FF79}'), // ｹ
];

/// Letters and their voiced (濁音) forms.
const VOICED: [(char, char); 25] = [
    ('カ', 'ガ'),
    ('キ', 'ギ'),
    ('ク', 'グ'),
    ('ケ', 'ゲ'),
    ('コ', 'ゴ'),
    ('サ', 'ザ'),
    ('シ', 'ジ'),
    ('ス', 'ズ'),
    ('セ', 'ゼ'),
    ('ソ', 'ゾ'),
    ('タ', 'ダ'),
    ('チ', 'ヂ'),
    ('ツ', 'ヅ'),
    ('テ', 'デ'),
    ('ト', 'ド'),
    ('ハ', 'バ'),
    ('ヒ', 'ビ'),
    ('フ', 'ブ'),
    ('ヘ', 'ベ'),
    ('ホ', 'ボ'),
    ('ウ', 'ヴ'),
    ('ワ', 'ヷ'),
    ('ヰ', 'ヸ'),
    ('ヱ', 'ヹ'),
    ('ヲ', 'ヺ'),
];

/// Letters and their semi-voiced (半濁音) forms.
const SEMI_VOICED: [(char, char); 5] = [
    ('ハ', 'パ'),
    ('ヒ', 'ピ'),
    ('フ', 'プ'),
    ('ヘ', 'ペ'),
    ('ホ', 'ポ'),
];

/// A name in canonical katakana: full-width words separated by single U+3000 spaces.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Kana(String);

impl Kana {
    /// Reads a name in full-width, half-width or mixed katakana, words separated by one ASCII
    /// space or U+3000; errors give the 1-based character position.
    pub fn parse(s: &str) -> Result<Kana, KanaError> {
        if s.is_empty() {
            return Err(KanaError::Empty);
        }
        let mut canonical = String::with_capacity(s.len());
        let mut length = 0;
        // True at the start and after a space, where another space is misplaced.
        let mut word_start = true;
        // The latest space, reported if the text ends with it.
        let mut last_space = (0, ASCII_SPACE);
        for (position, unit) in Units::new(s) {
            let c = match unit {
                Unit::Katakana(c) => {
                    word_start = false;
                    c
                }
                Unit::Space(ch) if position == 1 => {
                    return Err(KanaError::LeadingSpace { position, ch })
                }
                Unit::Space(ch) if word_start => {
                    return Err(KanaError::DoubledSpace { position, ch })
                }
                Unit::Space(ch) => {
                    word_start = true;
                    last_space = (position, ch);
                    IDEOGRAPHIC_SPACE
                }
                Unit::LoneMark(ch) => return Err(KanaError::LoneMark { position, ch }),
                Unit::Other(ch) if ch.is_control() => {
                    return Err(KanaError::Control { position, ch })
                }
                Unit::Other(ch) => return Err(KanaError::NotKatakana { position, ch }),
            };
            length += 1;
            if length > MAX_CHARS {
                return Err(KanaError::TooLong { max: MAX_CHARS });
            }
            canonical.push(c);
        }
        if word_start {
            let (position, ch) = last_space;
            return Err(KanaError::TrailingSpace { position, ch });
        }
        Ok(Kana(canonical))
    }

    /// The canonical full-width form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The half-width form for the result format, e.g. `ﾔﾏﾀﾞ ﾀﾛｳ`; lossy for ヰヱヮヵヶヽヾ (see
    /// [`to_halfwidth`]).
    pub fn to_halfwidth(&self) -> String {
        to_halfwidth(&self.0)
    }
}

impl fmt::Display for Kana {
    /// The canonical full-width form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Kana {
    type Err = KanaError;

    fn from_str(s: &str) -> Result<Kana, KanaError> {
        Kana::parse(s)
    }
}

impl TryFrom<String> for Kana {
    type Error = KanaError;

    /// Same as [`Kana::parse`]; lets serde validate on the way in.
    fn try_from(s: String) -> Result<Kana, KanaError> {
        Kana::parse(&s)
    }
}

impl Serialize for Kana {
    /// As the canonical string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Converts full-width katakana and U+3000 to half-width (ガ → ｶﾞ), leaving other characters.
///
/// ヰヱヮヵヶ become their nearest half-width letter (ｲｴﾜｶｹ) and ヸヹ become ｲﾞｴﾞ, so they do not
/// come back. The iteration marks ヽ and ヾ are written out as the letter before them, plain or
/// voiced (イスヾ → ｲｽｽﾞ); with no letter before, they are left as they are.
pub fn to_halfwidth(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // The plain letter before, which ヽ and ヾ repeat.
    let mut previous = None;
    for c in s.chars() {
        let c = expand_iteration_mark(c, previous);
        match halfwidth(c) {
            Some((letter, mark)) => {
                out.push(letter);
                out.extend(mark);
            }
            None => out.push(c),
        }
        previous = is_letter(c).then(|| decompose(c).0);
    }
    out
}

/// Converts half-width katakana to full-width, combining ﾞ and ﾟ with the letter before
/// (ｶﾞ → ガ), and ASCII space to U+3000; other characters are left as they are.
///
/// A mark with no letter it can combine with becomes the full-width ゛ or ゜.
pub fn to_fullwidth(s: &str) -> String {
    Units::new(s)
        .map(|(_, unit)| match unit {
            Unit::Katakana(c) | Unit::Other(c) => c,
            Unit::Space(_) => IDEOGRAPHIC_SPACE,
            Unit::LoneMark(VOICED_MARK) => FULLWIDTH_VOICED_MARK,
            Unit::LoneMark(_) => FULLWIDTH_SEMI_VOICED_MARK,
        })
        .collect()
}

/// Full-width katakana this module accepts: ァ..ヶ, ヷ..ヺ, ・, ー, ヽ and ヾ (U+30A1..=U+30FE).
/// ゠ (U+30A0) and ヿ (U+30FF) are left out: they are not used in names.
fn is_fullwidth_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FE}')
}

/// A katakana letter, as opposed to the marks ・ ー ヽ ヾ.
fn is_letter(c: char) -> bool {
    is_fullwidth_katakana(c) && !matches!(c, '・' | 'ー' | 'ヽ' | 'ヾ')
}

/// The full-width form of a half-width letter (･ to ﾝ, not the marks).
fn fullwidth_letter(c: char) -> Option<char> {
    let index = u32::from(c).checked_sub(u32::from(HALFWIDTH_FIRST))?;
    HALFWIDTH_TO_FULLWIDTH
        .get(usize::try_from(index).ok()?)
        .copied()
}

/// The half-width letter for a plain full-width letter, nearest one for the lossy ones.
fn halfwidth_letter(c: char) -> Option<char> {
    (HALFWIDTH_FIRST..=HALFWIDTH_LAST)
        .zip(HALFWIDTH_TO_FULLWIDTH)
        .chain(LOSSY_HALFWIDTH.map(|(full, half)| (half, full)))
        .find(|&(_, full)| full == c)
        .map(|(half, _)| half)
}

/// The half-width form of one full-width character: a letter and its mark, if any.
fn halfwidth(c: char) -> Option<(char, Option<char>)> {
    if c == IDEOGRAPHIC_SPACE {
        return Some((ASCII_SPACE, None));
    }
    let (base, mark) = decompose(c);
    halfwidth_letter(base).map(|letter| (letter, mark))
}

/// Combines a full-width letter with a half-width mark (カ + ﾞ = ガ), if that letter takes it.
fn compose(letter: char, mark: char) -> Option<char> {
    let table: &[(char, char)] = match mark {
        VOICED_MARK => &VOICED,
        SEMI_VOICED_MARK => &SEMI_VOICED,
        _ => return None,
    };
    table
        .iter()
        .find(|&&(base, _)| base == letter)
        .map(|&(_, marked)| marked)
}

/// Splits a voiced or semi-voiced letter into its plain letter and half-width mark (ガ = カ + ﾞ).
fn decompose(c: char) -> (char, Option<char>) {
    let split = |table: &[(char, char)], mark| {
        table
            .iter()
            .find(|&&(_, marked)| marked == c)
            .map(|&(base, _)| (base, Some(mark)))
    };
    split(&VOICED, VOICED_MARK)
        .or_else(|| split(&SEMI_VOICED, SEMI_VOICED_MARK))
        .unwrap_or((c, None))
}

/// ヽ repeats the letter before it and ヾ repeats it voiced; half-width has neither mark, so
/// they are replaced by what they stand for. Without a letter before, `c` is returned unchanged.
fn expand_iteration_mark(c: char, previous: Option<char>) -> char {
    match (c, previous) {
        ('ヽ', Some(letter)) => letter,
        ('ヾ', Some(letter)) => compose(letter, VOICED_MARK).unwrap_or(letter),
        _ => c,
    }
}

/// One step of reading text.
enum Unit {
    /// A full-width katakana character, composed from a half-width letter and mark if need be.
    Katakana(char),
    /// An ASCII space or U+3000.
    Space(char),
    /// A half-width ﾞ or ﾟ that does not follow a half-width letter taking it.
    LoneMark(char),
    /// Anything else.
    Other(char),
}

/// Reads text as [`Unit`]s, each with the 1-based position of its first character.
struct Units<'a> {
    chars: Peekable<Enumerate<Chars<'a>>>,
}

impl<'a> Units<'a> {
    fn new(s: &'a str) -> Self {
        Units {
            chars: s.chars().enumerate().peekable(),
        }
    }

    /// Takes the mark after a half-width letter into it, if the letter takes that mark.
    fn take_mark(&mut self, letter: char) -> char {
        let composed = self
            .chars
            .peek()
            .and_then(|&(_, mark)| compose(letter, mark));
        match composed {
            Some(composed) => {
                self.chars.next();
                composed
            }
            None => letter,
        }
    }
}

impl Iterator for Units<'_> {
    type Item = (usize, Unit);

    fn next(&mut self) -> Option<(usize, Unit)> {
        let (index, c) = self.chars.next()?;
        let unit = if c == ASCII_SPACE || c == IDEOGRAPHIC_SPACE {
            Unit::Space(c)
        } else if is_fullwidth_katakana(c) {
            Unit::Katakana(c)
        } else if let Some(letter) = fullwidth_letter(c) {
            Unit::Katakana(self.take_mark(letter))
        } else if c == VOICED_MARK || c == SEMI_VOICED_MARK {
            Unit::LoneMark(c)
        } else {
            Unit::Other(c)
        };
        Some((index + 1, unit))
    }
}

/// Why text is not a katakana name. Positions count characters from 1.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KanaError {
    /// No characters at all.
    #[error("kana name is empty")]
    Empty,
    /// More than [`MAX_CHARS`] characters.
    #[error("kana name is too long (at most {max} characters)")]
    TooLong {
        /// The limit, [`MAX_CHARS`].
        max: usize,
    },
    /// Hiragana, kanji, Latin, a digit or another character that is not katakana.
    #[error("character {position} ({ch:?}) is not katakana")]
    NotKatakana {
        /// Where, from 1.
        position: usize,
        /// The character.
        ch: char,
    },
    /// A control character such as a tab or a newline.
    #[error("character {position} is a control character ({ch:?})")]
    Control {
        /// Where, from 1.
        position: usize,
        /// The character.
        ch: char,
    },
    /// A ﾞ or ﾟ with no letter before it that takes it (a lone mark, or ｱﾞ).
    #[error("character {position} ({ch:?}) is a sound mark with no letter to combine with")]
    LoneMark {
        /// Where, from 1.
        position: usize,
        /// The mark.
        ch: char,
    },
    /// The text starts with a space.
    #[error("character {position} is a leading space")]
    LeadingSpace {
        /// Where, from 1 (always 1).
        position: usize,
        /// The space, ASCII or U+3000.
        ch: char,
    },
    /// The text ends with a space.
    #[error("character {position} is a trailing space")]
    TrailingSpace {
        /// Where, from 1.
        position: usize,
        /// The space, ASCII or U+3000.
        ch: char,
    },
    /// A space right after another.
    #[error("character {position} is a second space in a row")]
    DoubledSpace {
        /// Where, from 1.
        position: usize,
        /// The space, ASCII or U+3000.
        ch: char,
    },
}

impl KanaError {
    /// The 1-based position of the offending character, when there is one.
    pub fn position(&self) -> Option<usize> {
        match self {
            KanaError::Empty | KanaError::TooLong { .. } => None,
            KanaError::NotKatakana { position, .. }
            | KanaError::Control { position, .. }
            | KanaError::LoneMark { position, .. }
            | KanaError::LeadingSpace { position, .. }
            | KanaError::TrailingSpace { position, .. }
            | KanaError::DoubledSpace { position, .. } => Some(*position),
        }
    }

    /// The same message in Japanese, for people at the reception desk.
    pub fn message_ja(&self) -> String {
        match self {
            KanaError::Empty => "空です".to_owned(),
            KanaError::TooLong { max } => format!("長すぎます（{max}文字まで）"),
            KanaError::NotKatakana { position, ch } => {
                format!("カタカナ以外の文字があります（{position}文字目「{ch}」）")
            }
            KanaError::Control { position, ch } => {
                format!(
                    "制御文字があります（{position}文字目 U+{:04X}）",
                    u32::from(*ch)
                )
            }
            KanaError::LoneMark { position, ch } => {
                format!("濁点・半濁点をつけられる文字がありません（{position}文字目「{ch}」）")
            }
            KanaError::LeadingSpace { position, .. } => {
                format!("先頭に空白があります（{position}文字目）")
            }
            KanaError::TrailingSpace { position, .. } => {
                format!("末尾に空白があります（{position}文字目）")
            }
            KanaError::DoubledSpace { position, .. } => {
                format!("空白が続いています（{position}文字目）")
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kana(s: &str) -> String {
        Kana::parse(s).unwrap().as_str().to_owned()
    }

    fn err(s: &str) -> KanaError {
        Kana::parse(s).unwrap_err()
    }

    #[test]
    fn tables_are_consistent() {
        let halfwidth_letters = (HALFWIDTH_FIRST..=HALFWIDTH_LAST).count();
        assert_eq!(halfwidth_letters, HALFWIDTH_TO_FULLWIDTH.len());
        assert_eq!(
            char::from_u32(u32::from(HALFWIDTH_LAST) + 1),
            Some(VOICED_MARK)
        );
        assert_eq!(
            char::from_u32(u32::from(HALFWIDTH_LAST) + 2),
            Some(SEMI_VOICED_MARK)
        );
        for (base, marked) in VOICED.iter().chain(&SEMI_VOICED) {
            assert!(is_letter(*base) && is_letter(*marked), "{base}{marked}");
        }
        for full in HALFWIDTH_TO_FULLWIDTH {
            assert!(is_fullwidth_katakana(full), "{full}");
        }
        for (full, half) in LOSSY_HALFWIDTH {
            assert!(is_letter(full));
            assert!(fullwidth_letter(half).is_some());
        }
    }

    #[test]
    fn accepts_fullwidth() {
        assert_eq!(kana("ヤマダ　タロウ"), "ヤマダ　タロウ");
        assert_eq!(kana("ヤマダ タロウ"), "ヤマダ　タロウ");
        assert_eq!(kana("ア"), "ア");
        let every: String = ('\u{30A1}'..='\u{30FE}').collect();
        assert_eq!(kana(&every), every);
        assert_eq!(kana("ジョン・スミス"), "ジョン・スミス");
        assert_eq!(kana("サヽキ　イスヾ"), "サヽキ　イスヾ");
    }

    #[test]
    fn accepts_halfwidth_and_mixed() {
        assert_eq!(kana("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダ　タロウ");
        assert_eq!(kana("ﾔﾏﾀﾞ　ﾀﾛｳ"), "ヤマダ　タロウ");
        assert_eq!(kana("ヤマﾀﾞ ﾀロウ"), "ヤマダ　タロウ");
        assert_eq!(kana("ｼﾞｮﾝ･ｽﾐｽ"), "ジョン・スミス");
        assert_eq!(kana("ｺｰﾋｰ"), "コーヒー");
    }

    #[test]
    fn composes_marks() {
        assert_eq!(kana("ｶﾞ"), "ガ");
        assert_eq!(kana("ﾊﾟ"), "パ");
        assert_eq!(kana("ｳﾞ"), "ヴ");
        assert_eq!(kana("ﾜﾞ"), "ヷ");
        assert_eq!(kana("ｦﾞ"), "ヺ");
        assert_eq!(kana("ｶﾞｷﾞｸﾞｹﾞｺﾞ"), "ガギグゲゴ");
        assert_eq!(kana("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟﾊﾞﾋﾞﾌﾞﾍﾞﾎﾞ"), "パピプペポバビブベボ");
        assert_eq!(kana("ﾀﾞﾁﾞﾂﾞﾃﾞﾄﾞｻﾞｼﾞｽﾞｾﾞｿﾞ"), "ダヂヅデドザジズゼゾ");
    }

    #[test]
    fn rejects_empty_and_too_long() {
        assert_eq!(err(""), KanaError::Empty);
        let longest = "ア".repeat(MAX_CHARS);
        assert_eq!(kana(&longest), longest);
        assert_eq!(
            err(&format!("{longest}ア")),
            KanaError::TooLong { max: MAX_CHARS }
        );
        // Length counts the canonical form: 200 half-width characters make 100 letters.
        assert_eq!(kana(&"ｶﾞ".repeat(MAX_CHARS)), "ガ".repeat(MAX_CHARS));
    }

    #[test]
    fn rejects_non_katakana_with_position() {
        let not_katakana = |position, ch| KanaError::NotKatakana { position, ch };
        assert_eq!(err("ヤマあ"), not_katakana(3, 'あ'));
        assert_eq!(err("山田"), not_katakana(1, '山'));
        assert_eq!(err("ﾔﾏﾀﾞ ﾀﾛx"), not_katakana(8, 'x'));
        assert_eq!(err("タロウ1"), not_katakana(4, '1'));
        assert_eq!(err("タロウ１"), not_katakana(4, '１'));
        assert_eq!(err("ｶﾞ山"), not_katakana(3, '山'));
        assert_eq!(err("カ゛"), not_katakana(2, '゛'));
        assert_eq!(err("カ\u{3099}"), not_katakana(2, '\u{3099}'));
        assert_eq!(err("ヿ"), not_katakana(1, 'ヿ'));
        assert_eq!(err("゠"), not_katakana(1, '゠'));
        assert_eq!(err("ア\u{A0}イ"), not_katakana(2, '\u{A0}'));
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(
            err("ア\tイ"),
            KanaError::Control {
                position: 2,
                ch: '\t'
            }
        );
        assert_eq!(
            err("アイ\n"),
            KanaError::Control {
                position: 3,
                ch: '\n'
            }
        );
        assert_eq!(
            err("\u{7F}"),
            KanaError::Control {
                position: 1,
                ch: '\u{7F}'
            }
        );
    }

    #[test]
    fn rejects_misplaced_spaces() {
        assert_eq!(
            err(" ア"),
            KanaError::LeadingSpace {
                position: 1,
                ch: ' '
            }
        );
        assert_eq!(
            err("　ア"),
            KanaError::LeadingSpace {
                position: 1,
                ch: '　'
            }
        );
        assert_eq!(
            err(" "),
            KanaError::LeadingSpace {
                position: 1,
                ch: ' '
            }
        );
        assert_eq!(
            err("ア "),
            KanaError::TrailingSpace {
                position: 2,
                ch: ' '
            }
        );
        assert_eq!(
            err("ｶﾞ　"),
            KanaError::TrailingSpace {
                position: 3,
                ch: '　'
            }
        );
        assert_eq!(
            err("ア  イ"),
            KanaError::DoubledSpace {
                position: 3,
                ch: ' '
            }
        );
        assert_eq!(
            err("ア 　イ"),
            KanaError::DoubledSpace {
                position: 3,
                ch: '　'
            }
        );
    }

    #[test]
    fn rejects_marks_that_cannot_combine() {
        let lone = |position, ch| KanaError::LoneMark { position, ch };
        assert_eq!(err("ﾞ"), lone(1, VOICED_MARK));
        assert_eq!(err("ｱﾞ"), lone(2, VOICED_MARK));
        assert_eq!(err("ｶﾟ"), lone(2, SEMI_VOICED_MARK));
        assert_eq!(err("ﾊﾟﾟ"), lone(3, SEMI_VOICED_MARK));
        assert_eq!(err("ｱ ﾞ"), lone(3, VOICED_MARK));
        assert_eq!(err("ｰﾞ"), lone(2, VOICED_MARK));
        // Marks combine with half-width letters only.
        assert_eq!(err("カﾞ"), lone(2, VOICED_MARK));
    }

    #[test]
    fn converts_to_halfwidth() {
        let k = Kana::parse("ヤマダ　タロウ").unwrap();
        assert_eq!(k.to_halfwidth(), "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(to_halfwidth("ガパヴー・"), "ｶﾞﾊﾟｳﾞｰ･");
        assert_eq!(to_halfwidth("ヷヺヸヹ"), "ﾜﾞｦﾞｲﾞｴﾞ");
        assert_eq!(to_halfwidth("ヰヱヮヵヶ"), "ｲｴﾜｶｹ");
        assert_eq!(to_halfwidth("ァィゥェォッャュョ"), "ｧｨｩｪｫｯｬｭｮ");
    }

    #[test]
    fn writes_out_iteration_marks() {
        assert_eq!(to_halfwidth("イスヾ"), "ｲｽｽﾞ");
        assert_eq!(to_halfwidth("サヽキ"), "ｻｻｷ");
        assert_eq!(to_halfwidth("ガヽ"), "ｶﾞｶ");
        assert_eq!(to_halfwidth("ミヾ"), "ﾐﾐ");
        assert_eq!(to_halfwidth("ヽア　ヾ"), "ヽｱ ヾ");
    }

    #[test]
    fn free_functions_leave_other_characters() {
        assert_eq!(to_halfwidth("山田　タロウ1ａ"), "山田 ﾀﾛｳ1ａ");
        assert_eq!(to_halfwidth("ﾔﾏﾀﾞ"), "ﾔﾏﾀﾞ");
        assert_eq!(to_fullwidth("山田 ﾀﾛｳ1a"), "山田　タロウ1a");
        assert_eq!(to_fullwidth("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダ　タロウ");
        assert_eq!(to_fullwidth("ヤマダ"), "ヤマダ");
        assert_eq!(to_fullwidth("ﾞｱﾞﾊﾟﾟ"), "゛ア゛パ゜");
    }

    #[test]
    fn display_from_str_and_serde() {
        let k: Kana = "ﾔﾏﾀﾞ ﾀﾛｳ".parse().unwrap();
        assert_eq!(k.to_string(), "ヤマダ　タロウ");
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"ヤマダ　タロウ\"");
        let back: Kana = serde_json::from_str("\"ﾔﾏﾀﾞ ﾀﾛｳ\"").unwrap();
        assert_eq!(back, k);
        assert!(serde_json::from_str::<Kana>("\"やまだ\"").is_err());
        assert!(serde_json::from_str::<Kana>("\"\"").is_err());
    }

    #[test]
    fn messages() {
        let e = err("ヤマあ");
        assert_eq!(
            e.message_ja(),
            "カタカナ以外の文字があります（3文字目「あ」）"
        );
        assert_eq!(e.to_string(), "character 3 ('あ') is not katakana");
        assert_eq!(e.position(), Some(3));
        assert_eq!(KanaError::Empty.message_ja(), "空です");
        assert_eq!(
            KanaError::TooLong { max: MAX_CHARS }.message_ja(),
            "長すぎます（100文字まで）"
        );
        assert_eq!(
            err("ア\tイ").message_ja(),
            "制御文字があります（2文字目 U+0009）"
        );
        assert_eq!(err("ア  イ").message_ja(), "空白が続いています（3文字目）");
        assert_eq!(KanaError::Empty.position(), None);
    }

    /// Full-width characters that survive a trip through half-width: ァ..ン without ヮヰヱ,
    /// and ヴヷヺ, ー, ・.
    fn reversible_chars() -> Vec<char> {
        ('ァ'..='ン')
            .filter(|c| !matches!(c, 'ヮ' | 'ヰ' | 'ヱ'))
            .chain(['ヴ', 'ヷ', 'ヺ', 'ー', '・'])
            .collect()
    }

    /// One to four words of reversible characters joined by U+3000.
    fn reversible_name() -> impl Strategy<Value = String> {
        let word = prop::collection::vec(prop::sample::select(reversible_chars()), 1..=12)
            .prop_map(|chars| chars.into_iter().collect::<String>());
        prop::collection::vec(word, 1..=4).prop_map(|words| words.join("\u{3000}"))
    }

    /// Mostly katakana of both widths, with some spaces, lone marks and other characters: text
    /// that often parses and exercises every kind of error.
    fn mixed_text() -> impl Strategy<Value = String> {
        let unit = prop_oneof![
            6 => "[ァ-ヾ]",
            4 => "[･-ﾝ]",
            2 => "[ｳｶ-ﾄﾊ-ﾎﾜｦ]ﾞ|[ﾊ-ﾎ]ﾟ",
            1 => "[ \u{3000}]",
            1 => "[ﾞﾟあ山a1１\t]",
        ];
        prop::collection::vec(unit, 0..=20).prop_map(|units| units.concat())
    }

    proptest! {
        #[test]
        fn parse_keeps_canonical(s in reversible_name()) {
            let k = Kana::parse(&s)?;
            prop_assert_eq!(k.as_str(), s.as_str());
        }

        #[test]
        fn round_trips_through_halfwidth(s in reversible_name()) {
            let k = Kana::parse(&s)?;
            let half = k.to_halfwidth();
            prop_assert_eq!(Kana::parse(&half)?, k);
            prop_assert_eq!(to_fullwidth(&half), s);
        }

        #[test]
        fn parse_is_idempotent(s in mixed_text()) {
            if let Ok(k) = Kana::parse(&s) {
                prop_assert_eq!(Kana::parse(k.as_str())?, k.clone());
                prop_assert_eq!(Kana::parse(&to_fullwidth(&s))?, k);
            }
        }

        #[test]
        fn rejects_hiragana_or_kanji_where_it_is(
            s in reversible_name(),
            at in any::<prop::sample::Index>(),
            bad in "[ぁ-ゖ一-龯]",
        ) {
            let mut chars: Vec<char> = s.chars().collect();
            let index = at.index(chars.len() + 1);
            let bad = bad.chars().next().unwrap();
            chars.insert(index, bad);
            let text: String = chars.into_iter().collect();
            prop_assert_eq!(
                Kana::parse(&text),
                Err(KanaError::NotKatakana { position: index + 1, ch: bad })
            );
        }

        #[test]
        fn errors_point_inside_the_text(s in mixed_text()) {
            if let Err(e) = Kana::parse(&s) {
                if let Some(position) = e.position() {
                    prop_assert!(position >= 1 && position <= s.chars().count());
                }
            }
        }
    }
}
