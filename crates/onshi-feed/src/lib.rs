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

pub use decode::{decode, Encoding};
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
        if let Ok(text) = crate::decode(bytes, crate::Encoding::Auto) {
            let _ = crate::rows::check_file(
                &text,
                crate::rows::Kind::Eligibility,
                &HashSet::new(),
                &mut |_| {},
                &mut |_| {},
            );
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
        }
    }
}
