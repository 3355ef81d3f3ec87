//! 照会番号 (ReferenceNumber): the number the eligibility service gives each check. The app
//! writes it into the receipt-computer file names, so only the exact form the service issues is
//! accepted: the time of the check to the second (`yyyyMMddHHmmss`, UTC) and 8 upper-case hex
//! digits — 22 ASCII characters, no `/`, `.`, NUL or anything else a path could use.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::ModelError;

/// A 照会番号 as the service issues it: `yyyyMMddHHmmss` + 8 upper-case hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ReferenceNumber(String);

impl ReferenceNumber {
    /// The length of every 照会番号.
    pub const LEN: usize = 22;
    /// The time part's format.
    const TIME: &'static str = "%Y%m%d%H%M%S";
    /// The longest value quoted back in an error.
    const QUOTE_MAX: usize = 40;

    /// The number for a check made at `now`, with four random bytes.
    pub fn issue(now: DateTime<Utc>, random: [u8; 4]) -> Self {
        let mut s = now.format(Self::TIME).to_string();
        for b in random {
            s.push_str(&format!("{b:02X}"));
        }
        Self(s)
    }

    /// Parses a number as the service sent it; anything but the issued form is refused.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let bad = || {
            // The value came from outside: quoted escaped and cut short, never as is.
            let quoted: String = s.chars().take(Self::QUOTE_MAX).collect();
            ModelError::format(
                "yyyyMMddHHmmss and 8 upper-case hex digits",
                "14桁の日時（yyyyMMddHHmmss）と8桁の16進数（大文字）",
                &format!("{quoted:?}"),
            )
        };
        if s.len() != Self::LEN || !s.is_ascii() {
            return Err(bad());
        }
        let (time, random) = s.split_at(14);
        if !time.bytes().all(|b| b.is_ascii_digit())
            || NaiveDateTime::parse_from_str(time, Self::TIME).is_err()
            || !random
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReferenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ReferenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferenceNumber({})", self.0)
    }
}

impl<'de> Deserialize<'de> for ReferenceNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for ReferenceNumber {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn issued_numbers_parse_back() {
        let now = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let r = ReferenceNumber::issue(now, [0x00, 0xAB, 0x7f, 0xff]);
        assert_eq!(r.as_str().len(), ReferenceNumber::LEN);
        assert!(r.as_str().ends_with("00AB7FFF"), "{r}");
        assert_eq!(ReferenceNumber::parse(r.as_str()).unwrap(), r);
    }

    #[test]
    fn anything_else_is_refused() {
        let long = "2".repeat(10_000);
        for bad in [
            "",
            "../x",
            "a/b",
            "20260401120000ABCDEF\0A",
            "20260401120000ABCDEF1/",
            "20260401120000ABCDEF1",
            "20260401120000ABCDEF123",
            "20260401120000abcdef12",
            "20261301120000ABCDEF12",
            "2026040112000０ABCDEF1",
            "R20250401000123",
            "..\\..\\2026040112000000",
            long.as_str(),
        ] {
            let e = ReferenceNumber::parse(bad).unwrap_err();
            // The refusal never quotes more than a short, escaped part of the value.
            assert!(e.message_ja().len() < 300, "{bad:?}");
            assert!(!e.message_ja().contains('\0'));
        }
        assert!(ReferenceNumber::parse("20260401120000ABCDEF12").is_ok());
    }
}
