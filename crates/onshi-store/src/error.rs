//! Errors of the store.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A SQLite value had an unexpected type.
    #[error("sqlite value: {0}")]
    SqliteValue(#[from] rusqlite::types::FromSqlError),
    /// PostgreSQL said no.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// A file or directory could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored value no longer parses (the database was changed behind onshi's back).
    #[error("stored value of {column} is not valid: {value:?} ({reason})")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
        /// Why it is not valid.
        reason: String,
    },
    /// The database was migrated by a newer onshi.
    #[error("the database schema is version {found}, newer than this onshi knows ({known}); upgrade onshi")]
    SchemaTooNew {
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The thing an operation names does not exist (an unknown clinic, terminal).
    #[error("no {what} {id}")]
    NotFound {
        /// What was looked for (`clinic`, `terminal`).
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// A clinic already has as many terminals (pending or active) as it may have.
    #[error(
        "clinic {clinic_id} already has {limit} terminals (pending or active), the most allowed"
    )]
    TooManyTerminals {
        /// The clinic.
        clinic_id: i64,
        /// The cap (`max_terminals_per_clinic`).
        limit: u32,
    },
    /// Every id of a kind has been handed out (terminal ids are `W` and seven digits).
    #[error("no {what} id left to allocate")]
    Exhausted {
        /// What ran out (`terminal`).
        what: &'static str,
    },
    /// A portal row did not have the shape its query expects.
    #[error("portal data: {0}")]
    Data(String),
}
