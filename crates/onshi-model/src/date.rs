//! Dates as files write them: `yyyyMMdd` (and `yyyyMMddHHmmss` for times of processing).

use chrono::Offset;

use crate::{Date, ModelError};

/// Parses `yyyyMMdd` (8 ASCII digits) into a date that exists.
pub fn parse_yyyymmdd(s: &str) -> Result<Date, ModelError> {
    let b = s.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(ModelError::format(
            "a date as yyyyMMdd",
            "yyyyMMdd 形式の日付",
            s,
        ));
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    Date::from_ymd_opt(num(0..4) as i32, num(4..6), num(6..8))
        .ok_or_else(|| ModelError::Date(s.to_owned()))
}

/// Japan Standard Time (UTC+9, no daylight saving): the calendar of the national rules and of
/// the clinic's staff.
pub fn jst() -> chrono::FixedOffset {
    // 9 hours is within ±24 h, so `east_opt` cannot return `None`; UTC is only a formal fallback.
    chrono::FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// A moment as the clinic's wall clock shows it (JST).
pub fn jst_time(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    t.with_timezone(&jst()).naive_local()
}

/// Writes a date as `yyyyMMdd`.
pub fn format_yyyymmdd(d: Date) -> String {
    d.format("%Y%m%d").to_string()
}

/// serde helpers writing a [`Date`] as `yyyyMMdd`.
pub mod yyyymmdd {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Date;

    /// Serialises as `yyyyMMdd`.
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y%m%d"))
    }

    /// Deserialises from `yyyyMMdd`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_yyyymmdd(&s).map_err(serde::de::Error::custom)
    }

    /// The same for an optional date (absent or null when `None`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use crate::Date;

        /// Serialises `Some` as `yyyyMMdd`, `None` as null.
        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.collect_str(&d.format("%Y%m%d")),
                None => s.serialize_none(),
            }
        }

        /// Deserialises from `yyyyMMdd` or null.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| super::super::parse_yyyymmdd(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_and_impossible_dates() {
        assert_eq!(
            parse_yyyymmdd("20240229").unwrap(),
            Date::from_ymd_opt(2024, 2, 29).unwrap()
        );
        assert_eq!(
            parse_yyyymmdd("20230229"),
            Err(ModelError::Date("20230229".into()))
        );
        assert!(matches!(
            parse_yyyymmdd("2024-02-29"),
            Err(ModelError::Format { .. })
        ));
        assert!(matches!(
            parse_yyyymmdd("２０２４０２２９"),
            Err(ModelError::Format { .. })
        ));
        assert!(parse_yyyymmdd("20241301").is_err());
        assert!(parse_yyyymmdd("20240100").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(days in 0i64..120_000) {
            let d = Date::from_ymd_opt(1868, 1, 1).unwrap() + chrono::Days::new(days as u64);
            prop_assert_eq!(parse_yyyymmdd(&format_yyyymmdd(d)).unwrap(), d);
        }
    }
}
