//! The report of rejected rows: a CSV an operator opens in a spreadsheet (UTF-8 with BOM, so
//! Excel shows the Japanese), written atomically.

use std::io::Write;
use std::path::Path;

use onshi_model::text::spreadsheet_cell;

use crate::{FeedError, RowError};

/// Writes every row error to `path` (a temporary file renamed into place: a reader never sees
/// half a report).
pub fn write_report(path: &Path, errors: &[RowError]) -> Result<(), FeedError> {
    let io = |e: std::io::Error| FeedError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    // Owner-only, as the rejected rows are the feed's personal data ([`onshi_fs::AtomicFile`]:
    // a temporary file in the folder, fsync, rename, fsync of the folder).
    let mut tmp = onshi_fs::AtomicFile::create(path, onshi_fs::MODE_PRIVATE).map_err(io)?;
    tmp.write_all(b"\xEF\xBB\xBF").map_err(io)?;
    {
        let mut w = csv::Writer::from_writer(&mut tmp);
        let csv_io = |e: csv::Error| io(std::io::Error::other(e));
        w.write_record(["line", "column", "value", "理由", "reason"])
            .map_err(csv_io)?;
        for e in errors {
            // The value is the feed's own text: a formula there must stay text in Excel.
            w.write_record([
                e.line.to_string().as_str(),
                &spreadsheet_cell(&e.column),
                &spreadsheet_cell(&e.value),
                &e.reason_ja,
                &e.reason_en,
            ])
            .map_err(csv_io)?;
        }
        w.flush().map_err(io)?;
    }
    tmp.commit().map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_in_a_rejected_value_stays_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        let error = RowError {
            line: 7,
            column: "Name".to_owned(),
            value: "=HYPERLINK(\"http://x\")".to_owned(),
            reason_ja: "理由".to_owned(),
            reason_en: "reason".to_owned(),
        };
        write_report(&path, &[error]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"'=HYPERLINK("), "{text}");
        assert!(!text.contains(",=HYPERLINK"), "{text}");
    }
}
