//! The insurers' data feed: CSV files of persons and eligibility records, decoded (UTF-8 with or
//! without BOM, or Shift_JIS/CP932), checked row by row against the domain rules, and written to
//! a store in one transaction.
//!
//! A file lands whole or not at all: by default one invalid row rejects the file; with
//! `skip_invalid` the valid rows land and the rejected ones are written to a report. A re-import
//! of the same file changes nothing, and a crash or kill mid-file leaves the store as it was.

mod decode;
mod error;
mod import;
mod report;
mod rows;

pub use decode::{decode, DecodeError, Encoding};
pub use error::{FeedError, RowError};
pub use import::{import_eligibility, import_persons, ImportOptions, ImportSummary, Progress};
pub use report::write_report;
pub use rows::{ELIGIBILITY_COLUMNS, PERSON_COLUMNS};

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets: parse untrusted bytes, never panic.
    use std::collections::HashSet;

    /// Decodes and checks a CSV file of eligibility records without a store.
    pub fn eligibility_csv(bytes: &[u8]) {
        check_csv(bytes, crate::rows::Kind::Eligibility);
    }

    /// Decodes and checks a CSV file of persons without a store.
    pub fn persons_csv(bytes: &[u8]) {
        check_csv(bytes, crate::rows::Kind::Persons);
    }

    /// Decodes `bytes` as the import does (auto-detected), as UTF-8 and as Shift_JIS, and checks
    /// each text that decodes as a file of `kind`. A file that decodes as UTF-8 decodes the same
    /// way when detected.
    fn check_csv(bytes: &[u8], kind: crate::rows::Kind) {
        let utf8 = crate::decode(bytes, crate::Encoding::Utf8).ok();
        let auto = crate::decode(bytes, crate::Encoding::Auto).ok();
        if let Some(u) = &utf8 {
            assert_eq!(auto.as_ref(), Some(u));
        }
        let sjis = crate::decode(bytes, crate::Encoding::ShiftJis).ok();
        for text in [auto, sjis].into_iter().flatten() {
            let mut valid = 0u64;
            let mut invalid = 0u64;
            if let Ok(stats) = crate::rows::check_file(
                &text,
                kind,
                &HashSet::new(),
                &mut |_| valid += 1,
                &mut |_| invalid += 1,
            ) {
                // Every row is counted once, and every rejected row says why.
                assert_eq!(valid + stats.rejected, stats.rows);
                assert!(invalid >= stats.rejected);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn entry_point_takes_samples() {
            let header = crate::ELIGIBILITY_COLUMNS
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>()
                .join(",");
            for s in [
                String::new(),
                header.clone(),
                format!("{header}\n1,2,3"),
                format!("{header}\n\"unclosed"),
            ] {
                super::eligibility_csv(s.as_bytes());
            }
            super::eligibility_csv(&[0x82, 0xff]);
            let persons = crate::PERSON_COLUMNS
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>()
                .join(",");
            for s in [persons.clone(), format!("{persons}\n\"a\",,,")] {
                super::persons_csv(s.as_bytes());
            }
            // Shift_JIS: 「山田」 and a lone lead byte.
            super::persons_csv(&[0x8E, 0x52, 0x93, 0x63, 0x0A, 0x81]);
        }
    }
}
