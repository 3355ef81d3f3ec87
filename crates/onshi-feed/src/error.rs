//! Errors of the feed: whole-file problems, and the list of invalid rows.

use std::path::PathBuf;

use onshi_store::StoreError;

/// One invalid value of one row: where it is and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the file.
    pub line: u64,
    /// The column's header name (an element name of the result format).
    pub column: String,
    /// The value found.
    pub value: String,
    /// Why, in Japanese.
    pub reason_ja: String,
    /// Why, in English.
    pub reason_en: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}行目 {} 「{}」: {} / line {} {}: {}",
            self.line,
            self.column,
            self.value,
            self.reason_ja,
            self.line,
            self.column,
            self.reason_en
        )
    }
}

/// Why an import did not land.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The file could not be read or written.
    #[error("{path}: {source} / ファイルを読み書きできません")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not text in the expected encoding.
    #[error("{path}: {reason}")]
    Encoding {
        /// The file.
        path: PathBuf,
        /// What is wrong, in Japanese and English.
        reason: crate::decode::DecodeError,
    },
    /// The header row is missing a column, has an unknown one, or names one twice.
    #[error("{path}: {message}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong, in Japanese and English.
        message: String,
    },
    /// The CSV structure itself is broken (e.g. an unclosed quote, a row with too many fields).
    #[error("{path}:{line}: CSVの形式が正しくありません / malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line where it was found.
        line: u64,
        /// The CSV reader's explanation.
        message: String,
    },
    /// Rows were invalid and `skip_invalid` was off: nothing was stored.
    #[error(
        "{path}: {rows}行が不正なため、何も取り込みませんでした / {rows} invalid rows, nothing was stored"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// How many rows were invalid.
        rows: u64,
        /// The first errors (at most [`crate::import::MAX_KEPT_ERRORS`]).
        errors: Vec<RowError>,
        /// The report file with every error, if one was written.
        report: Option<PathBuf>,
    },
    /// The store refused the write: nothing was stored.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}
