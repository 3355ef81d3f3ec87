//! A person as the card authority knows them, under a pseudonymous id (never the My Number).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::date::yyyymmdd;
use crate::{Address, Date, Kana, ModelError, PersonName, Sex};

/// The pseudonymous id that links a card's certificate to a person's records: 1–32 ASCII
/// letters, digits, `-` or `_`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PersonId(String);

impl PersonId {
    /// The longest id accepted.
    pub const MAX_LEN: usize = 32;

    /// Parses an id.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if s.is_empty() {
            return Err(ModelError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(ModelError::TooLong {
                len: s.chars().count(),
                max: Self::MAX_LEN,
            });
        }
        if let Some((i, ch)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(ModelError::BadChar {
                position: i + 1,
                ch,
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({})", self.0)
    }
}

impl<'de> Deserialize<'de> for PersonId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A person: the identity the card authority knows (name, kana, birth date, sex, address).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Person {
    /// Pseudonymous id.
    #[serde(rename = "PersonId")]
    pub id: PersonId,
    /// 氏名.
    #[serde(rename = "Name")]
    pub name: PersonName,
    /// 氏名カナ (full-width here; the result format writes half-width).
    #[serde(rename = "NameKana")]
    pub name_kana: Kana,
    /// 生年月日.
    #[serde(rename = "Birthdate", with = "yyyymmdd")]
    pub birthdate: Date,
    /// 性別.
    #[serde(rename = "Sex1")]
    pub sex: Sex,
    /// 住所.
    #[serde(rename = "Address", default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// 旧姓（旧氏）での氏名: the full name before a change of surname, where the insurer's
    /// record has it. Never sent to a clinic; the wrong-link guard compares a card holder's
    /// name with it ([`crate::holder`]).
    #[serde(
        rename = "FormerName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub former_name: Option<PersonName>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            PersonId::parse("P0000000001").unwrap().as_str(),
            "P0000000001"
        );
        assert!(PersonId::parse("").is_err());
        assert!(PersonId::parse(&"x".repeat(33)).is_err());
        assert!(matches!(
            PersonId::parse("P 1"),
            Err(ModelError::BadChar {
                position: 2,
                ch: ' '
            })
        ));
        assert!(PersonId::parse("Ｐ1").is_err());
    }
}
