//! Writing the two files: UTF-8 CSV with LF line ends and a header row, each written under a
//! temporary name in the output directory and renamed into place once complete.
//!
//! Rows are written from reused buffers: a household's names and a record's 番号 are formatted
//! once into strings that live across households, and dates go through fixed byte arrays.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::calendar::{elderly_window, first_of, school_start, sub_days, yyyymmdd};
use crate::household::{Household, Person};
use crate::insurers::{Pool, Scheme};
use crate::{SynthError, ELIGIBILITY_HEADER, PERSONS_HEADER};

/// Bytes buffered before each write to the file.
const BUFFER: usize = 1 << 20;

/// One CSV file being written under a temporary name.
struct CsvFile {
    temp: PathBuf,
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
}

impl CsvFile {
    fn create(dir: &Path, name: &str, header: &[&str]) -> Result<Self, SynthError> {
        let path = dir.join(name);
        let temp = dir.join(format!(".{name}.tmp"));
        let file = File::create(&temp).map_err(|source| SynthError::Io {
            path: temp.clone(),
            source,
        })?;
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(BufWriter::with_capacity(BUFFER, file));
        writer
            .write_record(header)
            .map_err(|source| SynthError::Csv {
                path: temp.clone(),
                source,
            })?;
        Ok(Self { temp, path, writer })
    }

    fn csv_error(&self, source: csv::Error) -> SynthError {
        SynthError::Csv {
            path: self.temp.clone(),
            source,
        }
    }

    /// Flushes and syncs the temporary file; returns its temporary and final paths.
    fn close(self) -> Result<(PathBuf, PathBuf), SynthError> {
        let Self { temp, path, writer } = self;
        let io = |source| SynthError::Io {
            path: temp.clone(),
            source,
        };
        let file = writer
            .into_inner()
            .map_err(|e| io(e.into_error()))?
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok((temp, path))
    }
}

/// The two output files and the buffers rows are formatted in.
pub(crate) struct Output {
    persons: CsvFile,
    eligibility: CsvFile,
    names: Vec<String>,
    kana: Vec<String>,
    number: String,
}

/// The co-payment fields of a record on the day they describe.
struct Ratio {
    ratio: &'static str,
    preschool: &'static str,
    elderly: Option<Elderly>,
}

/// 高齢受給者証 fields, formatted.
struct Elderly {
    issued: [u8; 8],
    start: [u8; 8],
    end: [u8; 8],
    ratio: &'static str,
}

/// The ratio fields of `person`'s record in a scheme on `on` (the run's date for a record in
/// force, the last day for a lost one, which keeps the ratio it had).
fn ratio(person: &Person, koki: bool, on: crate::Date) -> Ratio {
    if koki {
        return Ratio {
            ratio: person.koki_ratio,
            preschool: "",
            elderly: None,
        };
    }
    if on < school_start(person.birth) {
        return Ratio {
            ratio: "020",
            preschool: "1",
            elderly: None,
        };
    }
    match elderly_window(person.birth, on) {
        Some((start, end)) => {
            let ratio = if person.elderly_high_income {
                "030"
            } else {
                "020"
            };
            let issued = sub_days(start, u64::from(person.certificate_lead_days));
            Ratio {
                ratio,
                preschool: "",
                elderly: Some(Elderly {
                    issued: yyyymmdd(issued),
                    start: yyyymmdd(start),
                    end: yyyymmdd(end),
                    ratio,
                }),
            }
        }
        None => Ratio {
            ratio: "030",
            preschool: "",
            elderly: None,
        },
    }
}

/// The card's last day: the day before the loss for a lost record; for a 後期高齢者医療 card
/// in force, the 31 July that ends its yearly term (the cards are renewed every 1 August); none
/// for other cards, which carry no end date.
fn card_expiration(
    koki: bool,
    as_of: crate::Date,
    loss: Option<crate::Date>,
) -> Option<crate::Date> {
    use chrono::Datelike;
    match loss {
        Some(day) => Some(sub_days(day, 1)),
        None if koki => {
            let august = first_of(as_of.year(), 8);
            let next_august = if as_of < august {
                august
            } else {
                first_of(as_of.year() + 1, 8)
            };
            Some(sub_days(next_august, 1))
        }
        None => None,
    }
}

/// `P` and ten digits.
fn person_id(id: u64) -> [u8; 11] {
    let mut out = [b'0'; 11];
    out[0] = b'P';
    let mut v = id;
    for slot in out[1..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

impl Output {
    /// Creates the directory and both temporary files, headers written.
    pub(crate) fn create(dir: &Path) -> Result<Self, SynthError> {
        fs::create_dir_all(dir).map_err(|source| SynthError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            persons: CsvFile::create(dir, crate::PERSONS_FILE, PERSONS_HEADER)?,
            eligibility: CsvFile::create(dir, crate::ELIGIBILITY_FILE, ELIGIBILITY_HEADER)?,
            names: Vec::new(),
            kana: Vec::new(),
            number: String::with_capacity(32),
        })
    }

    /// Writes the first `keep` persons of `hh` (ids from `first_id`) and their records; calls
    /// `each_person` after each person row. Returns the number of records written.
    pub(crate) fn write_household(
        &mut self,
        hh: &Household,
        pool: &Pool,
        as_of: crate::Date,
        first_id: u64,
        keep: usize,
        each_person: &mut dyn FnMut(u64),
    ) -> Result<u64, SynthError> {
        while self.names.len() < hh.persons.len() {
            self.names.push(String::with_capacity(32));
            self.kana.push(String::with_capacity(48));
        }
        for (i, p) in hh.persons.iter().enumerate() {
            let name = &mut self.names[i];
            name.clear();
            name.push_str(p.surname.kanji);
            name.push('\u{3000}');
            name.push_str(p.given.kanji);
            let kana = &mut self.kana[i];
            kana.clear();
            kana.push_str(p.surname.kana);
            kana.push('\u{3000}');
            kana.push_str(p.given.kana);
        }

        let mut former = String::with_capacity(32);
        for (i, p) in hh.persons.iter().take(keep).enumerate() {
            let id = first_id + i as u64;
            let birth = yyyymmdd(p.birth);
            former.clear();
            if let Some(surname) = p.former_surname {
                former.push_str(surname.kanji);
                former.push('\u{3000}');
                former.push_str(p.given.kanji);
            }
            let row: [&[u8]; 7] = [
                &person_id(id),
                self.names[i].as_bytes(),
                self.kana[i].as_bytes(),
                &birth,
                p.sex.as_bytes(),
                hh.address.as_bytes(),
                former.as_bytes(),
            ];
            if let Err(e) = self.persons.writer.write_record(row) {
                return Err(self.persons.csv_error(e));
            }
            each_person(id);
        }

        let mut written = 0;
        for r in hh.records.iter().filter(|r| r.person < keep) {
            let p = &hh.persons[r.person];
            let unit = &hh.units[r.unit];
            let insurer = &pool.insurers[unit.insurer];
            insurer.write_number(unit.serial, &mut self.number);
            let symbol = unit.symbol.map_or("", |s| insurer.symbols[s].as_str());
            let koki = insurer.scheme == Scheme::Koki;
            let on = r.loss.map_or(as_of, |(day, _)| sub_days(day, 1));
            let ratio = ratio(p, koki, on);
            let branch = [b'0' + r.branch / 10, b'0' + r.branch % 10];
            let family: &[u8] = if r.branch == 0 { b"1" } else { b"2" };
            let (address, post): (&[u8], &[u8]) = if insurer.sends_address {
                (hh.address.as_bytes(), &hh.post)
            } else {
                (b"", b"")
            };
            let qualification = yyyymmdd(r.qualification);
            let lost = r.loss.map(|(day, _)| yyyymmdd(day));
            let reason = r.loss.map_or("", |(_, reason)| reason);
            let birth = yyyymmdd(p.birth);
            let elderly = ratio.elderly.as_ref();
            // The card is issued and valid from the day the qualification starts.
            let expiration = card_expiration(koki, as_of, r.loss.map(|(day, _)| day)).map(yyyymmdd);
            let row: [&[u8]; 27] = [
                &person_id(first_id + r.person as u64),
                insurer.number.as_str().as_bytes(),
                symbol.as_bytes(),
                self.number.as_bytes(),
                &branch,
                family,
                self.names[unit.head].as_bytes(),
                self.names[r.person].as_bytes(),
                self.kana[r.person].as_bytes(),
                p.sex.as_bytes(),
                &birth,
                address,
                post,
                &qualification,
                lost.as_ref().map_or(&b""[..], |d| &d[..]),
                unit.card.as_bytes(),
                ratio.ratio.as_bytes(),
                ratio.preschool.as_bytes(),
                reason.as_bytes(),
                insurer.name.as_bytes(),
                elderly.map_or(&b""[..], |e| &e.issued[..]),
                elderly.map_or(&b""[..], |e| &e.start[..]),
                elderly.map_or(&b""[..], |e| &e.end[..]),
                elderly.map_or("", |e| e.ratio).as_bytes(),
                &qualification,
                &qualification,
                expiration.as_ref().map_or(&b""[..], |d| &d[..]),
            ];
            if let Err(e) = self.eligibility.writer.write_record(row) {
                return Err(self.eligibility.csv_error(e));
            }
            written += 1;
        }
        Ok(written)
    }

    /// Completes both files, then moves them into place; on failure removes what is left of
    /// the temporary files.
    pub(crate) fn finish(self) -> Result<(), SynthError> {
        let persons_temp = self.persons.temp.clone();
        let eligibility_temp = self.eligibility.temp.clone();
        let result = self.persons.close().and_then(|persons| {
            let eligibility = self.eligibility.close()?;
            for (temp, path) in [persons, eligibility] {
                onshi_fs::rename_durable(&temp, &path)
                    .map_err(|source| SynthError::Io { path, source })?;
            }
            Ok(())
        });
        if result.is_err() {
            remove_quietly(&persons_temp);
            remove_quietly(&eligibility_temp);
        }
        result
    }

    /// Removes the temporary files after a failure.
    pub(crate) fn abandon(self) {
        let temps = [self.persons.temp.clone(), self.eligibility.temp.clone()];
        drop(self);
        for temp in temps {
            remove_quietly(&temp);
        }
    }
}

/// Best effort: the error being reported matters more than one about cleaning up.
fn remove_quietly(path: &Path) {
    let _ = fs::remove_file(path);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn koki_cards_end_on_31_july() {
        let d = |s: &str| onshi_model::date::parse_yyyymmdd(s).unwrap();
        assert_eq!(
            card_expiration(true, d("20260401"), None),
            Some(d("20260731"))
        );
        assert_eq!(
            card_expiration(true, d("20260801"), None),
            Some(d("20270731"))
        );
        assert_eq!(card_expiration(false, d("20260401"), None), None);
        assert_eq!(
            card_expiration(false, d("20260401"), Some(d("20250101"))),
            Some(d("20241231"))
        );
    }

    #[test]
    fn person_ids() {
        assert_eq!(&person_id(1), b"P0000000001");
        assert_eq!(&person_id(1_000_000), b"P0001000000");
    }
}
