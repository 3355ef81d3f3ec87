//! 登録記号番号: the number a clinic holds under its 受領委任 (協定 or 契約) for 柔道整復, or for
//! あん摩マッサージ指圧・はり・きゅう (あはき). One clinic account may hold several (併設: one per
//! practice); each number belongs to one account only (the store's primary key says so). The
//! rules and their sources are in `docs/portal.md`.

use std::fmt;

use crate::error::FieldError;

/// The practice a 登録記号番号 was given for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Practice {
    /// 柔道整復: 受領委任 by 協定 (through an association) or by 契約 (individually).
    Judo,
    /// あん摩マッサージ指圧・はり・きゅう: 受領委任 by 契約 (since 2019-01-01).
    Ahaki,
}

impl Practice {
    /// Both, in the order the pages show them.
    pub const ALL: [Practice; 2] = [Practice::Judo, Practice::Ahaki];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Judo => "judo",
            Self::Ahaki => "ahaki",
        }
    }

    /// The stored value back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// What a clinic reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Judo => "柔道整復",
            Self::Ahaki => "あん摩マッサージ指圧・はり・きゅう",
        }
    }

    /// The registration form's field for this practice's number.
    pub fn field(self) -> &'static str {
        match self {
            Self::Judo => "registration",
            Self::Ahaki => "registration_ahaki",
        }
    }

    /// The practice a 施術所の種類 (`judo`, `anma`, `hari`) needs a number of.
    pub fn of_kind(kind: &str) -> Option<Self> {
        match kind {
            "judo" => Some(Self::Judo),
            "anma" | "hari" => Some(Self::Ahaki),
            _ => None,
        }
    }

    /// The prefixes (協定 / 契約) this practice's numbers may carry.
    fn prefixes(self) -> &'static [char] {
        match self {
            Self::Judo => &['協', '契'],
            Self::Ahaki => &['契'],
        }
    }

    /// The letters a number may start with, as the messages list them (`協」または「契`).
    pub(crate) fn prefixes_text(self) -> String {
        self.prefixes()
            .iter()
            .map(char::to_string)
            .collect::<Vec<_>>()
            .join("」または「")
    }

    /// An example number, as the messages show it.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Self::Judo => "協0123456-1-23 または 契0123456-1-23",
            Self::Ahaki => "契0123456-1-23",
        }
    }
}

/// Digits after the prefix: 7 (施術所), 1, 2, written `協0123456-1-23`.
const DIGITS: usize = 10;

/// A valid 登録記号番号, stored without hyphens (`契0123456123`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    /// Reads what a clinic typed for `practice`: full-width digits and letters, spaces and
    /// every kind of hyphen are accepted and normalised. Errors are the page's Japanese.
    pub fn parse(practice: Practice, typed: &str) -> Result<Self, FieldError> {
        let kept: String = typed
            .chars()
            .filter(|c| {
                !matches!(
                    c,
                    '-' | '‐' | '‑' | '–' | '—' | '―' | '−' | '－' | 'ー' | 'ｰ' | ' ' | '　'
                )
            })
            .map(|c| match c {
                '０'..='９' => {
                    char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
                }
                c => c,
            })
            .collect();
        let mut chars = kept.chars();
        let prefix = chars.next();
        let digits: String = chars.collect();
        let Some(prefix) = prefix.filter(|p| practice.prefixes().contains(p)) else {
            return Err(FieldError::RegistrationPrefix { practice });
        };
        if digits.chars().count() != DIGITS || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(FieldError::RegistrationDigits { practice });
        }
        Ok(Self(format!("{prefix}{digits}")))
    }

    /// A stored number back (trusted: it was parsed before it was stored).
    pub fn stored(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The stored form (`契0123456123`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The written form, `契0123456-1-23` (a stored value that is not a number shows as stored).
impl fmt::Display for RegistrationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() != DIGITS + 1 {
            return f.write_str(&self.0);
        }
        let part = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
        write!(
            f,
            "{}{}-{}-{}",
            chars[0],
            part(1..8),
            part(8..9),
            part(9..11)
        )
    }
}

/// The message when a number is held by another account: what happened and how to recover.
pub fn taken_message(number: &RegistrationNumber) -> String {
    format!(
        "登録記号番号 {number} はすでに別のアカウントで登録されています。1つの施術所が持てるアカウントは1つです。ご自身の施術所のアカウントであれば、ログイン画面の「パスワードを忘れた方」から、登録したメールアドレスでパスワードを再設定してください。登録したメールアドレスが使えない場合や、心当たりがない場合は、問い合わせフォーム（/portal/contact、ログインせずに使えます）から実施機関にご連絡ください。"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_hyphens_are_normalised() {
        for typed in [
            "契0123456-1-23",
            "契0123456123",
            "契０１２３４５６－１－２３",
            " 契 0123456ー1ー23 ",
            "契0123456‐1‐23",
        ] {
            let n = RegistrationNumber::parse(Practice::Judo, typed).unwrap();
            assert_eq!(n.as_str(), "契0123456123", "{typed}");
            assert_eq!(n.to_string(), "契0123456-1-23");
        }
        let n = RegistrationNumber::parse(Practice::Judo, "協1312345-0-01").unwrap();
        assert_eq!(n.to_string(), "協1312345-0-01");
    }

    #[test]
    fn wrong_prefixes_and_lengths_are_refused_in_japanese() {
        for (practice, typed) in [
            (Practice::Judo, "0123456-1-23"),
            (Practice::Judo, "abc"),
            (Practice::Judo, ""),
            (Practice::Judo, "契012345-1-23"),
            (Practice::Judo, "契01234567-1-23"),
            (Practice::Judo, "契0123456-1-2X"),
            // あはき has no 協定.
            (Practice::Ahaki, "協0123456-1-23"),
            (Practice::Judo, "契0123456-1-23\u{7}"),
        ] {
            let e = RegistrationNumber::parse(practice, typed).unwrap_err();
            assert!(e.to_string().contains("登録記号番号"), "{typed}: {e}");
        }
        // The page's words, exactly.
        assert_eq!(
            RegistrationNumber::parse(Practice::Judo, "0123456-1-23")
                .unwrap_err()
                .to_string(),
            "柔道整復の登録記号番号は「協」または「契」で始まります（例: 協0123456-1-23 または 契0123456-1-23）。"
        );
        assert_eq!(
            RegistrationNumber::parse(Practice::Ahaki, "協0123456-1-23")
                .unwrap_err()
                .to_string(),
            "あん摩マッサージ指圧・はり・きゅうの登録記号番号は「契」で始まります（例: 契0123456-1-23）。"
        );
        assert_eq!(
            RegistrationNumber::parse(Practice::Judo, "契012345-1-23").unwrap_err(),
            FieldError::RegistrationDigits {
                practice: Practice::Judo
            }
        );
        assert_eq!(
            FieldError::RegistrationDigits {
                practice: Practice::Judo
            }
            .to_string(),
            "柔道整復の登録記号番号は記号の後に数字10桁です（例: 協0123456-1-23 または 契0123456-1-23、ハイフンは省略可）。"
        );
        assert!(RegistrationNumber::parse(Practice::Ahaki, "契0123456-1-23").is_ok());
    }

    #[test]
    fn kinds_map_to_practices() {
        assert_eq!(Practice::of_kind("judo"), Some(Practice::Judo));
        assert_eq!(Practice::of_kind("anma"), Some(Practice::Ahaki));
        assert_eq!(Practice::of_kind("hari"), Some(Practice::Ahaki));
        assert_eq!(Practice::of_kind("x"), None);
        for p in Practice::ALL {
            assert_eq!(Practice::parse(p.as_str()), Some(p));
        }
        assert!(
            taken_message(&RegistrationNumber::stored("契0123456123")).contains("契0123456-1-23")
        );
    }
}
