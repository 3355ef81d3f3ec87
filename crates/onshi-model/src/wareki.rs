//! 和暦: dates in the Japanese era calendar (明治 to 令和), as they appear on insurance cards and in
//! the result format.
//!
//! [`Wareki`] converts exactly at era boundaries (昭和64年1月7日 is followed by 平成元年1月8日), and a
//! [`Wareki`] parsed from text is always a real date inside its era.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

/// An era (元号) of the modern calendar, in chronological order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum Era {
    /// 明治, from 1868-10-23.
    Meiji,
    /// 大正, from 1912-07-30.
    Taisho,
    /// 昭和, from 1926-12-25.
    Showa,
    /// 平成, from 1989-01-08.
    Heisei,
    /// 令和, from 2019-05-01.
    Reiwa,
}

/// Builds a date in a constant; the dates below are real, so the panic can only fire at compile time.
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid constant date"),
    }
}

/// The first day of 明治, the earliest date that has a 和暦 form here.
const MEIJI_START: NaiveDate = ymd(1868, 10, 23);

/// Most digits accepted for a year (令和 reaches 3 digits in 2217) and for a month or a day.
const YEAR_DIGITS: usize = 4;
const MONTH_DAY_DIGITS: usize = 2;

impl Era {
    /// All eras, oldest first.
    pub const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    /// The era name in kanji, e.g. `令和`.
    pub fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The first day of the era (the day of the accession, not 1 January).
    pub fn start(self) -> NaiveDate {
        match self {
            Era::Meiji => MEIJI_START,
            Era::Taisho => ymd(1912, 7, 30),
            Era::Showa => ymd(1926, 12, 25),
            Era::Heisei => ymd(1989, 1, 8),
            Era::Reiwa => ymd(2019, 5, 1),
        }
    }

    /// The Latin initial used in short forms such as `R7.4.1`.
    pub fn initial(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The common numeric era code: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和.
    pub fn code(self) -> u8 {
        match self {
            Era::Meiji => 1,
            Era::Taisho => 2,
            Era::Showa => 3,
            Era::Heisei => 4,
            Era::Reiwa => 5,
        }
    }

    /// The era with this numeric code (see [`Era::code`]), if any.
    pub fn from_code(code: u8) -> Option<Era> {
        Era::ALL.into_iter().find(|era| era.code() == code)
    }

    /// The era with this initial (see [`Era::initial`]), if any; upper case only.
    pub fn from_initial(initial: char) -> Option<Era> {
        Era::ALL.into_iter().find(|era| era.initial() == initial)
    }

    /// The era in force on `date`: the last one that started on or before it; `None` before 明治.
    pub fn of(date: NaiveDate) -> Option<Era> {
        Era::ALL.into_iter().rev().find(|era| era.start() <= date)
    }
}

/// A date in the era calendar, e.g. 令和7年4月1日. Year 1 is 元年.
///
/// The fields are public, so a value built by hand may name a date that does not exist;
/// [`Wareki::to_date`] checks, and values from [`Wareki::from_date`] or parsing are always valid.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Wareki {
    /// The era.
    pub era: Era,
    /// The year within the era, from 1 (元年).
    pub year: u32,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, from 1.
    pub day: u32,
}

impl Wareki {
    /// The 和暦 form of a Gregorian date; dates before 明治 (1868-10-23) have none.
    pub fn from_date(date: NaiveDate) -> Result<Wareki, WarekiError> {
        let era = Era::of(date).ok_or(WarekiError::BeforeMeiji { date })?;
        Ok(Wareki {
            era,
            // `date` is not before the era's start, so the difference is the elapsed years.
            year: date.year().abs_diff(era.start().year()) + 1,
            month: date.month(),
            day: date.day(),
        })
    }

    /// The Gregorian date; an error if the day does not exist or lies outside the era.
    pub fn to_date(&self) -> Result<NaiveDate, WarekiError> {
        let not_in_era = || WarekiError::NotInEra {
            value: self.to_string(),
        };
        let elapsed = self
            .year
            .checked_sub(1)
            .and_then(|years| i32::try_from(years).ok())
            .ok_or_else(not_in_era)?;
        let date = self
            .era
            .start()
            .year()
            .checked_add(elapsed)
            .and_then(|year| NaiveDate::from_ymd_opt(year, self.month, self.day))
            .ok_or_else(|| WarekiError::NoSuchDate {
                value: self.to_string(),
            })?;
        if Era::of(date) == Some(self.era) {
            Ok(date)
        } else {
            Err(not_in_era())
        }
    }
}

impl fmt::Display for Wareki {
    /// The standard written form, `令和7年4月1日`, with 元年 for year 1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.era.name())?;
        if self.year == 1 {
            f.write_str("元")?;
        } else {
            write!(f, "{}", self.year)?;
        }
        write!(f, "年{}月{}日", self.month, self.day)
    }
}

impl FromStr for Wareki {
    type Err = WarekiError;

    /// Parses `令和7年4月1日` (also `令和元年…`, `令和1年…`, zero-padded or full-width digits) or
    /// the short form `R7.4.1`; the date must exist within the era.
    fn from_str(s: &str) -> Result<Wareki, WarekiError> {
        let wareki = parse_kanji_form(s)
            .or_else(|| parse_initial_form(s))
            .ok_or_else(|| WarekiError::Syntax {
                value: s.to_owned(),
            })?;
        wareki.to_date()?;
        Ok(wareki)
    }
}

/// Formats a Gregorian date as 和暦, e.g. `令和7年4月1日`.
pub fn format_date(date: NaiveDate) -> Result<String, WarekiError> {
    Wareki::from_date(date).map(|wareki| wareki.to_string())
}

/// 和暦 for people (`令和8年12月7日`), or the ISO date for a day before 明治 (never met in
/// practice; nothing is hidden).
pub fn label(date: NaiveDate) -> String {
    format_date(date).unwrap_or_else(|_| date.format("%Y-%m-%d").to_string())
}

/// Parses any form [`Wareki`] accepts into the Gregorian date.
pub fn parse_date(s: &str) -> Result<NaiveDate, WarekiError> {
    s.parse::<Wareki>()?.to_date()
}

/// `令和7年4月1日`, `令和元年5月1日`, `令和07年04月01日`.
fn parse_kanji_form(s: &str) -> Option<Wareki> {
    let mut cursor = Cursor(s);
    let era = cursor.era_name()?;
    let year = if cursor.eat("元") {
        1
    } else {
        cursor.number(YEAR_DIGITS)?
    };
    cursor.tag("年")?;
    let month = cursor.number(MONTH_DAY_DIGITS)?;
    cursor.tag("月")?;
    let day = cursor.number(MONTH_DAY_DIGITS)?;
    cursor.tag("日")?;
    cursor.end()?;
    Some(Wareki {
        era,
        year,
        month,
        day,
    })
}

/// `R7.4.1`, `R07.04.01`.
fn parse_initial_form(s: &str) -> Option<Wareki> {
    let mut cursor = Cursor(s);
    let era = cursor.era_initial()?;
    let year = cursor.number(YEAR_DIGITS)?;
    cursor.tag(".")?;
    let month = cursor.number(MONTH_DAY_DIGITS)?;
    cursor.tag(".")?;
    let day = cursor.number(MONTH_DAY_DIGITS)?;
    cursor.end()?;
    Some(Wareki {
        era,
        year,
        month,
        day,
    })
}

/// The unread rest of the text; each step consumes what it matched or returns `None`.
struct Cursor<'a>(&'a str);

impl Cursor<'_> {
    /// Consumes `token` if the text starts with it.
    fn eat(&mut self, token: &str) -> bool {
        match self.0.strip_prefix(token) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// Like [`Cursor::eat`], but for use with `?`.
    fn tag(&mut self, token: &str) -> Option<()> {
        self.eat(token).then_some(())
    }

    /// `Some` when all text has been read.
    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }

    fn era_name(&mut self) -> Option<Era> {
        Era::ALL.into_iter().find(|era| self.eat(era.name()))
    }

    fn era_initial(&mut self) -> Option<Era> {
        let mut chars = self.0.chars();
        let era = Era::from_initial(chars.next()?)?;
        self.0 = chars.as_str();
        Some(era)
    }

    /// A decimal number of 1 to `max_digits` half- or full-width digits.
    fn number(&mut self, max_digits: usize) -> Option<u32> {
        let mut value = 0;
        let mut digits = 0;
        let mut chars = self.0.chars();
        while let Some(digit) = chars.clone().next().and_then(digit_value) {
            chars.next();
            digits += 1;
            // Checked before accumulating, so a long run of digits cannot overflow.
            if digits > max_digits {
                return None;
            }
            value = value * 10 + digit;
        }
        if digits == 0 {
            return None;
        }
        self.0 = chars.as_str();
        Some(value)
    }
}

/// The value of an ASCII digit or a full-width digit (０-９), which Japanese forms often use.
fn digit_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        '０'..='９' => Some(u32::from(c) - u32::from('０')),
        _ => None,
    }
}

/// Why a date could not be converted to or from 和暦.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WarekiError {
    /// The date is before 明治 began (1868-10-23).
    #[error("date {date} is before the Meiji era (1868-10-23) and has no wareki form")]
    BeforeMeiji {
        /// The Gregorian date given.
        date: NaiveDate,
    },
    /// The text is not in a 和暦 form this module reads.
    #[error("not a wareki date: {value:?}")]
    Syntax {
        /// The text given.
        value: String,
    },
    /// The month and day do not exist in that year (e.g. 2月30日).
    #[error("no such date: {value}")]
    NoSuchDate {
        /// The 和暦 date, written out.
        value: String,
    },
    /// The date exists but not in that era (e.g. 昭和64年1月8日, the first day of 平成).
    #[error("date is outside its era: {value}")]
    NotInEra {
        /// The 和暦 date, written out.
        value: String,
    },
}

impl WarekiError {
    /// The same message in Japanese, for people at the reception desk.
    pub fn message_ja(&self) -> String {
        match self {
            WarekiError::BeforeMeiji { date } => {
                format!("明治より前の日付は和暦にできません: {date}")
            }
            WarekiError::Syntax { value } => format!("和暦の書式が正しくありません: {value}"),
            WarekiError::NoSuchDate { value } => format!("存在しない日付です: {value}"),
            WarekiError::NotInEra { value } => format!("その元号にない日付です: {value}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::Days;
    use proptest::prelude::*;

    /// The last day the properties cover.
    const LAST: NaiveDate = ymd(2200, 12, 31);

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn wareki(s: &str) -> String {
        format_date(date(s)).unwrap()
    }

    /// The short form, e.g. `R7.4.1`, optionally zero-padded.
    fn initial_form(w: &Wareki, padded: bool) -> String {
        if padded {
            format!(
                "{}{:02}.{:02}.{:02}",
                w.era.initial(),
                w.year,
                w.month,
                w.day
            )
        } else {
            format!("{}{}.{}.{}", w.era.initial(), w.year, w.month, w.day)
        }
    }

    fn to_fullwidth_digits(s: &str) -> String {
        s.chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(u32::from('０') + d).unwrap(),
                None => c,
            })
            .collect()
    }

    #[test]
    fn era_boundaries_both_sides() {
        assert_eq!(wareki("1868-10-23"), "明治元年10月23日");
        assert_eq!(wareki("1912-07-29"), "明治45年7月29日");
        assert_eq!(wareki("1912-07-30"), "大正元年7月30日");
        assert_eq!(wareki("1926-12-24"), "大正15年12月24日");
        assert_eq!(wareki("1926-12-25"), "昭和元年12月25日");
        assert_eq!(wareki("1989-01-07"), "昭和64年1月7日");
        assert_eq!(wareki("1989-01-08"), "平成元年1月8日");
        assert_eq!(wareki("2019-04-30"), "平成31年4月30日");
        assert_eq!(wareki("2019-05-01"), "令和元年5月1日");
    }

    #[test]
    fn before_meiji_is_an_error() {
        let err = format_date(date("1868-10-22")).unwrap_err();
        assert_eq!(
            err,
            WarekiError::BeforeMeiji {
                date: date("1868-10-22")
            }
        );
        assert_eq!(
            format_date(date("1868-01-01")).unwrap_err().message_ja(),
            "明治より前の日付は和暦にできません: 1868-01-01"
        );
    }

    #[test]
    fn era_tables() {
        let codes: Vec<u8> = Era::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5]);
        let initials: String = Era::ALL.iter().map(|e| e.initial()).collect();
        assert_eq!(initials, "MTSHR");
        for era in Era::ALL {
            assert_eq!(Era::from_code(era.code()), Some(era));
            assert_eq!(Era::from_initial(era.initial()), Some(era));
            assert_eq!(Era::of(era.start()), Some(era));
        }
        assert_eq!(Era::from_code(0), None);
        assert_eq!(Era::from_code(6), None);
        assert_eq!(Era::from_initial('r'), None);
        assert!(Era::ALL
            .windows(2)
            .all(|w| w[0] < w[1] && w[0].start() < w[1].start()));
    }

    #[test]
    fn today_example() {
        let w = Wareki::from_date(date("2025-04-01")).unwrap();
        assert_eq!(
            w,
            Wareki {
                era: Era::Reiwa,
                year: 7,
                month: 4,
                day: 1
            }
        );
        assert_eq!(w.to_string(), "令和7年4月1日");
    }

    #[test]
    fn parses_every_accepted_form() {
        let expected = date("2025-04-01");
        for s in [
            "令和7年4月1日",
            "令和07年04月01日",
            "令和７年４月１日",
            "令和０７年０４月０１日",
            "R7.4.1",
            "R07.04.01",
            "R０７.０４.０１",
        ] {
            assert_eq!(parse_date(s).unwrap(), expected, "{s}");
        }
        assert_eq!(parse_date("令和元年5月1日").unwrap(), date("2019-05-01"));
        assert_eq!(parse_date("令和1年5月1日").unwrap(), date("2019-05-01"));
        assert_eq!(parse_date("令和01年5月1日").unwrap(), date("2019-05-01"));
        assert_eq!(parse_date("H31.4.30").unwrap(), date("2019-04-30"));
        assert_eq!(parse_date("S64.1.7").unwrap(), date("1989-01-07"));
        assert_eq!(parse_date("M1.10.23").unwrap(), date("1868-10-23"));
    }

    #[test]
    fn rejects_malformed_text() {
        for s in [
            "",
            " 令和7年4月1日",
            "令和7年4月1日 ",
            "令和7年4月1",
            "令和7年4月",
            "令和年4月1日",
            "令和7年4月1日日",
            "令7年4月1日",
            "西暦7年4月1日",
            "令和-7年4月1日",
            "令和7年004月1日",
            "令和12345年4月1日",
            "令和99999999999999999999年4月1日",
            "R7.4.99999999999999999999",
            "r7.4.1",
            "Ｒ7.4.1",
            "R7/4/1",
            "R7.4",
            "R7.4.1.",
            "R.4.1",
            "R元.5.1",
            "7.4.1",
            "令和7.4.1",
            "R7年4月1日",
        ] {
            assert_eq!(
                s.parse::<Wareki>(),
                Err(WarekiError::Syntax { value: s.into() }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn rejects_dates_outside_their_era() {
        for (s, shown) in [
            ("昭和64年1月8日", "昭和64年1月8日"),
            ("平成31年5月1日", "平成31年5月1日"),
            ("令和1年4月30日", "令和元年4月30日"),
            ("R1.4.30", "令和元年4月30日"),
            ("大正元年7月29日", "大正元年7月29日"),
            ("明治元年10月22日", "明治元年10月22日"),
            ("明治元年1月1日", "明治元年1月1日"),
            ("令和0年5月1日", "令和0年5月1日"),
        ] {
            let err = s.parse::<Wareki>().unwrap_err();
            assert_eq!(
                err,
                WarekiError::NotInEra {
                    value: shown.into()
                },
                "{s}"
            );
        }
        assert_eq!(
            parse_date("昭和64年1月8日").unwrap_err().message_ja(),
            "その元号にない日付です: 昭和64年1月8日"
        );
    }

    #[test]
    fn rejects_days_that_do_not_exist() {
        for s in [
            "令和7年2月29日",
            "令和7年2月30日",
            "令和7年13月1日",
            "R7.4.31",
            "R7.0.1",
            "R7.4.0",
        ] {
            assert!(
                matches!(s.parse::<Wareki>(), Err(WarekiError::NoSuchDate { .. })),
                "{s}"
            );
        }
        // 令和6年 (2024) is a leap year.
        assert_eq!(parse_date("令和6年2月29日").unwrap(), date("2024-02-29"));
    }

    #[test]
    fn to_date_checks_hand_built_values() {
        let huge = Wareki {
            era: Era::Reiwa,
            year: u32::MAX,
            month: 1,
            day: 1,
        };
        assert!(huge.to_date().is_err());
        let far = Wareki {
            year: 1_000_000,
            ..huge
        };
        assert!(matches!(far.to_date(), Err(WarekiError::NoSuchDate { .. })));
    }

    #[test]
    fn messages() {
        let syntax = "令和".parse::<Wareki>().unwrap_err();
        assert_eq!(syntax.to_string(), "not a wareki date: \"令和\"");
        assert_eq!(syntax.message_ja(), "和暦の書式が正しくありません: 令和");
        let no_such = "令和7年2月30日".parse::<Wareki>().unwrap_err();
        assert_eq!(no_such.to_string(), "no such date: 令和7年2月30日");
        assert_eq!(no_such.message_ja(), "存在しない日付です: 令和7年2月30日");
    }

    #[test]
    fn every_date_round_trips() {
        let mut d = MEIJI_START;
        while d <= LAST {
            let w = Wareki::from_date(d).unwrap();
            assert_eq!(w.to_date().unwrap(), d);
            assert_eq!(parse_date(&w.to_string()).unwrap(), d);
            d = d.succ_opt().unwrap();
        }
    }

    /// Any date from the start of 明治 to the end of 2200.
    fn any_date() -> impl Strategy<Value = NaiveDate> {
        let span = u64::try_from((LAST - MEIJI_START).num_days()).unwrap();
        (0..=span).prop_map(|n| MEIJI_START.checked_add_days(Days::new(n)).unwrap())
    }

    proptest! {
        #[test]
        fn from_date_then_to_date_is_identity(d in any_date()) {
            prop_assert_eq!(Wareki::from_date(d)?.to_date()?, d);
        }

        #[test]
        fn display_then_parse_is_identity(d in any_date()) {
            let w = Wareki::from_date(d)?;
            prop_assert_eq!(w.to_string().parse::<Wareki>()?, w);
            let full_width = to_fullwidth_digits(&w.to_string());
            prop_assert_eq!(full_width.parse::<Wareki>()?, w);
        }

        #[test]
        fn initial_form_parses_to_same_date(d in any_date(), padded in any::<bool>()) {
            let w = Wareki::from_date(d)?;
            prop_assert_eq!(parse_date(&initial_form(&w, padded))?, d);
        }

        #[test]
        fn era_is_latest_started(d in any_date()) {
            let era = Wareki::from_date(d)?.era;
            prop_assert!(era.start() <= d);
            for later in Era::ALL.into_iter().filter(|e| *e > era) {
                prop_assert!(later.start() > d);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,16}") {
            let _ = s.parse::<Wareki>();
        }

        #[test]
        fn parse_never_panics_near_valid(s in "(令和|平成|昭和|[RHSTMr])[0-9０-９元]{0,6}[年.]?[0-9]{0,3}[月.]?[0-9]{0,3}日?") {
            if let Ok(w) = s.parse::<Wareki>() {
                prop_assert!(w.to_date().is_ok());
            }
        }
    }
}
