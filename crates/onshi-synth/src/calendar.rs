//! The dates the insurance rules hang on a birth date: birthdays, the start of school (未就学 ends),
//! the 高齢受給者証 window from 70, and the 75th birthday when 後期高齢者医療 begins.
//!
//! A person attains an age on the day before the birthday (年齢計算ニ関スル法律), which is why a
//! child born on 1 April starts school a year earlier than one born on 2 April, and why a
//! certificate of someone born on the 1st starts in the birthday's own month.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::Date;

/// 後期高齢者医療 began on 1 April 2008; nobody's record in it starts earlier.
pub(crate) const KOKI_START: Date = match NaiveDate::from_ymd_opt(2008, 4, 1) {
    Some(d) => d,
    None => panic!("a real date"),
};

/// The `years`-th birthday (28 February for 29 February in a common year).
pub(crate) fn birthday(birth: Date, years: u32) -> Date {
    birth
        .checked_add_months(Months::new(years * 12))
        .unwrap_or(NaiveDate::MAX)
}

/// Full years of age on `date` (as everyday counting has it: from the birthday itself).
pub(crate) fn age_on(birth: Date, date: Date) -> u32 {
    let mut age = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    u32::try_from(age).unwrap_or(0)
}

/// `date` plus `days` (saturating at the calendar's end).
pub(crate) fn add_days(date: Date, days: u64) -> Date {
    date.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// `date` minus `days` (saturating at the calendar's start).
pub(crate) fn sub_days(date: Date, days: u64) -> Date {
    date.checked_sub_days(Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

/// Whole days from `from` to `to` (0 when `to` is earlier).
pub(crate) fn days_between(from: Date, to: Date) -> u64 {
    u64::try_from((to - from).num_days()).unwrap_or(0)
}

/// The first 1 April after the day a child attains 6: the first day it is no longer 未就学.
pub(crate) fn school_start(birth: Date) -> Date {
    let attains_six = sub_days(birthday(birth, 6), 1);
    let april = first_of(attains_six.year(), 4);
    if attains_six < april {
        april
    } else {
        first_of(attains_six.year() + 1, 4)
    }
}

/// The first day of the 高齢受給者証: the 1st of the month after the 70th birthday, or the
/// birthday itself when it falls on the 1st.
pub(crate) fn elderly_start(birth: Date) -> Date {
    let seventieth = birthday(birth, 70);
    if seventieth.day() == 1 {
        seventieth
    } else {
        next_month_first(seventieth)
    }
}

/// The validity of the 高齢受給者証 in force on `on`: from its start or the last 1 August,
/// whichever is later, to the next 31 July or the day before the 75th birthday, whichever is
/// earlier. `None` before the certificate's start or from the 75th birthday on.
pub(crate) fn elderly_window(birth: Date, on: Date) -> Option<(Date, Date)> {
    let start = elderly_start(birth);
    let seventy_fifth = birthday(birth, 75);
    if on < start || on >= seventy_fifth {
        return None;
    }
    let august = first_of(on.year(), 8);
    let last_august = if on >= august {
        august
    } else {
        first_of(on.year() - 1, 8)
    };
    let valid_start = start.max(last_august);
    // The 31 July on or after the start.
    let next_august = if valid_start.month() >= 8 {
        first_of(valid_start.year() + 1, 8)
    } else {
        first_of(valid_start.year(), 8)
    };
    let july_end = sub_days(next_august, 1);
    let valid_end = july_end.min(sub_days(seventy_fifth, 1));
    Some((valid_start, valid_end))
}

/// The first day of `month` in `year`.
pub(crate) fn first_of(year: i32, month: u32) -> Date {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

fn next_month_first(date: Date) -> Date {
    if date.month() == 12 {
        first_of(date.year() + 1, 1)
    } else {
        first_of(date.year(), date.month() + 1)
    }
}

/// Writes `date` as `yyyyMMdd`.
pub(crate) fn yyyymmdd(date: Date) -> [u8; 8] {
    let y = u32::try_from(date.year()).unwrap_or(0);
    let (m, d) = (date.month(), date.day());
    let digit = |v: u32| b'0' + (v % 10) as u8;
    [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        digit(m / 10),
        digit(m),
        digit(d / 10),
        digit(d),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        onshi_model::date::parse_yyyymmdd(s).unwrap()
    }

    #[test]
    fn school_year_turns_on_the_second_of_april() {
        assert_eq!(school_start(d("20190401")), d("20250401"));
        assert_eq!(school_start(d("20190402")), d("20260401"));
        assert_eq!(school_start(d("20190315")), d("20250401"));
        assert_eq!(school_start(d("20181231")), d("20250401"));
    }

    #[test]
    fn elderly_certificate() {
        assert_eq!(elderly_start(d("19560515")), d("20260601"));
        assert_eq!(elderly_start(d("19560601")), d("20260601"));
        assert_eq!(elderly_start(d("19551220")), d("20260101"));
        // Started this year in March: valid to 31 July.
        assert_eq!(
            elderly_window(d("19560215"), d("20260401")),
            Some((d("20260301"), d("20260731")))
        );
        // Renewed on 1 August.
        assert_eq!(
            elderly_window(d("19540215"), d("20260401")),
            Some((d("20250801"), d("20260731")))
        );
        // Ends the day before the 75th birthday.
        assert_eq!(
            elderly_window(d("19510510"), d("20260401")),
            Some((d("20250801"), d("20260509")))
        );
        assert_eq!(elderly_window(d("19560515"), d("20260401")), None);
        assert_eq!(elderly_window(d("19500101"), d("20260401")), None);
    }

    #[test]
    fn birthdays_and_ages() {
        assert_eq!(birthday(d("20000229"), 1), d("20010228"));
        assert_eq!(age_on(d("19510401"), d("20260401")), 75);
        assert_eq!(age_on(d("19510402"), d("20260401")), 74);
        assert_eq!(&yyyymmdd(d("20260401")), b"20260401");
        assert_eq!(&yyyymmdd(d("19050709")), b"19050709");
    }
}
