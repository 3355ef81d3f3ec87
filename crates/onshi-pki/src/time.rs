//! Times as certificates carry them: whole seconds, UTC, RFC 3339 in the authority's files.
//!
//! rcgen takes `time::OffsetDateTime`; rather than a second date crate beside chrono, the
//! conversion adds the seconds since the Unix epoch to rcgen's own epoch value
//! ([`rcgen::date_time_ymd`]), which is why times before 1970 are refused.

use chrono::{DateTime, FixedOffset, Months, SecondsFormat, SubsecRound, Utc};

use crate::error::PkiError;

/// 9999-12-31T23:59:59Z: the last second a GeneralizedTime (4-digit year) can carry.
const LAST_SECOND: i64 = 253_402_300_799;

/// The time without its fraction of a second: what a certificate records.
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}

/// The time as the distance from the Unix epoch, for `rcgen::date_time_ymd(1970, 1, 1) + d`.
pub fn since_epoch(t: DateTime<Utc>) -> Result<std::time::Duration, PkiError> {
    let secs = t.timestamp();
    if !(0..=LAST_SECOND).contains(&secs) {
        return Err(PkiError::TimeOutOfRange { time: t });
    }
    // In range 0..=LAST_SECOND, so the conversion to u64 cannot fail.
    let secs = u64::try_from(secs).map_err(|_| PkiError::TimeOutOfRange { time: t })?;
    Ok(std::time::Duration::from_secs(secs))
}

/// `t` plus `years` calendar years (29 February lands on 28 February).
pub fn add_years(t: DateTime<Utc>, years: u32) -> Result<DateTime<Utc>, PkiError> {
    t.checked_add_months(Months::new(years.saturating_mul(12)))
        .ok_or(PkiError::TimeOutOfRange { time: t })
}

/// RFC 3339 in UTC with whole seconds, as written in `issued.csv` and `revoked.csv`
/// (`2026-04-01T09:00:00Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads an RFC 3339 time back (any offset, converted to UTC).
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Japan Standard Time (UTC+9, no daylight saving): the calendar of the national rules and of
/// the clinic's staff.
pub fn jst() -> FixedOffset {
    onshi_model::date::jst()
}

/// A date as the staff read it, in JST: `2026年4月30日`.
pub fn date_ja(t: DateTime<Utc>) -> String {
    t.with_timezone(&jst()).format("%Y年%-m月%-d日").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trip_in_whole_seconds() {
        let t = Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 5).unwrap()
            + chrono::Duration::milliseconds(750);
        let text = rfc3339(whole_seconds(t));
        assert_eq!(text, "2026-04-01T09:00:05Z");
        assert_eq!(parse_rfc3339(&text).unwrap(), whole_seconds(t));
        assert_eq!(
            parse_rfc3339("2026-04-01T18:00:05+09:00").unwrap(),
            whole_seconds(t)
        );
        assert!(parse_rfc3339("2026-04-01").is_none());
    }

    #[test]
    fn epoch_conversion_matches_rcgen() {
        let t = Utc.with_ymd_and_hms(2031, 2, 3, 4, 5, 6).unwrap();
        let odt = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(t).unwrap();
        assert_eq!(odt.unix_timestamp(), t.timestamp());
        let before = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap();
        assert!(since_epoch(before).is_err());
        let after = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        assert!(since_epoch(after).is_err());
    }

    #[test]
    fn dates_for_staff_are_in_jst() {
        // 15:00 UTC is already the next day in Japan.
        let t = Utc.with_ymd_and_hms(2026, 4, 30, 15, 0, 0).unwrap();
        assert_eq!(date_ja(t), "2026年5月1日");
        assert_eq!(date_ja(t - chrono::Duration::seconds(1)), "2026年4月30日");
    }

    #[test]
    fn five_years_on() {
        let t = Utc.with_ymd_and_hms(2028, 2, 29, 12, 0, 0).unwrap();
        assert_eq!(
            add_years(t, 5).unwrap(),
            Utc.with_ymd_and_hms(2033, 2, 28, 12, 0, 0).unwrap()
        );
    }
}
