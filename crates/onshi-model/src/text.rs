//! Free-text values kept exactly as given: names (including rare and old-form kanji, which the
//! national system shows as ●; we keep them), addresses, and the postal code.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Checks the rules every free-text value shares: not empty, at most `max` characters, no
/// control characters, no leading or trailing white space. Nothing is normalised: 﨑 (U+FA11)
/// must not become 崎, and 𠮷 (outside the BMP) must stay one character.
pub(crate) fn check_text(s: &str, max: usize) -> Result<(), ModelError> {
    if s.is_empty() {
        return Err(ModelError::Empty);
    }
    let len = s.chars().count();
    if len > max {
        return Err(ModelError::TooLong { len, max });
    }
    let last = len - 1;
    for (i, ch) in s.chars().enumerate() {
        let edge_space = (i == 0 || i == last) && ch.is_whitespace();
        if ch.is_control() || edge_space || is_noncharacter(ch) {
            return Err(ModelError::BadChar {
                position: i + 1,
                ch,
            });
        }
    }
    Ok(())
}

/// Unicode noncharacters and the replacement character: the marks of a broken decode, never
/// part of a real name.
fn is_noncharacter(ch: char) -> bool {
    let c = u32::from(ch);
    ch == '\u{FFFD}' || (0xFDD0..=0xFDEF).contains(&c) || (c & 0xFFFE) == 0xFFFE
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest value accepted, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Accepts the value exactly as given: not empty, at most `MAX_CHARS` characters, no
            /// control characters, no white space at either end.
            pub fn parse(s: &str) -> Result<Self, ModelError> {
                $crate::text::check_text(s, Self::MAX_CHARS)?;
                Ok(Self(s.to_owned()))
            }

            /// The value as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use text_type;

text_type!(
    /// A person's name in kanji (or as registered), surname and given name separated by U+3000,
    /// kept exactly as given.
    PersonName,
    100
);
text_type!(
    /// 保険者名称 (InsurerName), kept as given.
    InsurerName,
    100
);
text_type!(
    /// A postal address, kept exactly as given.
    Address,
    200
);

/// 郵便番号: seven digits, written `123-4567`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostNumber([u8; 8]);

impl PostNumber {
    /// Accepts `1234567` or `123-4567` (ASCII digits).
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let digits: Vec<u8> = match s.as_bytes() {
            [a @ .., b'-', _, _, _, _] if a.len() == 3 => {
                s.bytes().filter(|&b| b != b'-').collect()
            }
            b => b.to_vec(),
        };
        if digits.len() != 7 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ModelError::format(
                "a postal code of 7 digits (123-4567)",
                "7桁の郵便番号（123-4567）",
                s,
            ));
        }
        let mut out = [b'-'; 8];
        out[..3].copy_from_slice(&digits[..3]);
        out[4..].copy_from_slice(&digits[3..]);
        Ok(Self(out))
    }

    /// `123-4567`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and a hyphen are stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for PostNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PostNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostNumber({})", self.as_str())
    }
}

impl Serialize for PostNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PostNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Text for a spreadsheet cell in a CSV an operator opens in Excel: a leading `=`, `+`, `-`, `@`
/// (or tab, carriage return) would be read as a formula (CSV injection), so such text gets a
/// leading apostrophe, which the spreadsheet shows as plain text.
pub fn spreadsheet_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn formulas_are_neutralised_for_spreadsheets() {
        for f in ["=1+1", "+81", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_cell(f), format!("'{f}"));
        }
        assert_eq!(spreadsheet_cell("山田"), "山田");
        assert_eq!(spreadsheet_cell("a=1"), "a=1");
    }
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rare_and_old_form_kanji_are_kept_exactly() {
        for name in [
            "髙橋　一郎",
            "山﨑　花子",
            "𠮷田　太郎",
            "邉見　榮",
            "齋藤　龍之介",
            "渡邊　剛",
        ] {
            let n = PersonName::parse(name).unwrap();
            assert_eq!(n.as_str(), name);
            assert_eq!(n.as_str().as_bytes(), name.as_bytes());
        }
        // U+FA11 (﨑) would become 崎 under NFC; it must not.
        assert!(PersonName::parse("山﨑")
            .unwrap()
            .as_str()
            .contains('\u{FA11}'));
    }

    #[test]
    fn bad_text() {
        assert_eq!(PersonName::parse(""), Err(ModelError::Empty));
        assert!(matches!(
            PersonName::parse("山田\t太郎"),
            Err(ModelError::BadChar {
                position: 3,
                ch: '\t'
            })
        ));
        assert!(matches!(
            PersonName::parse("　山田"),
            Err(ModelError::BadChar { position: 1, .. })
        ));
        assert!(PersonName::parse("山田\u{FFFD}").is_err());
        let long = "あ".repeat(101);
        assert_eq!(
            PersonName::parse(&long),
            Err(ModelError::TooLong { len: 101, max: 100 })
        );
    }

    #[test]
    fn post_number() {
        assert_eq!(PostNumber::parse("1000001").unwrap().as_str(), "100-0001");
        assert_eq!(PostNumber::parse("100-0001").unwrap().as_str(), "100-0001");
        for bad in ["100-001", "10000011", "１００-０００１", "1000-001", ""] {
            assert!(PostNumber::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_clean_text_round_trips(s in "[^\\p{Cc}\\s][^\\p{Cc}]{0,40}[^\\p{Cc}\\s]") {
            prop_assume!(!s.chars().any(is_noncharacter));
            let n = PersonName::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<PersonName>(&json).unwrap(), n);
        }

        #[test]
        fn post_number_round_trips(d in 0u32..10_000_000) {
            let s = format!("{d:07}");
            let p = PostNumber::parse(&s).unwrap();
            prop_assert_eq!(p.as_str().replace('-', ""), s);
            prop_assert_eq!(PostNumber::parse(p.as_str()).unwrap(), p);
        }
    }
}
