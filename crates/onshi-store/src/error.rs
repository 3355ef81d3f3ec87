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
    #[error("postgres: {}", postgres_message(.0))]
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
    /// Every connection of the pool was in use for as long as a request may wait for one.
    #[error(
        "all {size} database connections are in use (waited {waited_ms} ms; [database] pool_size)"
    )]
    PoolExhausted {
        /// The pool's size.
        size: usize,
        /// How long the request waited.
        waited_ms: u64,
    },
    /// A backup or restore could not be made (a tool failed, a target is not empty).
    #[error("backup: {0}")]
    Backup(String),
    /// A setting the engine cannot honour.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A group commit lost track of a job's result (a bug in onshi, never the database's doing).
    #[error("group commit: {0}")]
    GroupCommit(&'static str),
}

impl StoreError {
    /// Whether the database cannot be reached at the moment (PostgreSQL down, restarting or out
    /// of connections; SQLite busy past its timeout): worth answering "try again shortly", not
    /// "internal error".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Postgres(e) => {
                e.is_closed()
                    || match e.as_db_error() {
                        // No server answer at all: the connection could not be made or broke.
                        None => true,
                        // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
                        // cannot connect now; 53300: too many connections.
                        Some(db) => {
                            let code = db.code().code();
                            code.starts_with("08")
                                || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
                                // 57014: statement_timeout (or a cancel): the database is
                                // too slow at the moment, not wrong.
                                || code == "57014"
                        }
                    }
            }
            Self::PoolExhausted { .. } => true,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// The client's own words, but a statement cancelled by `statement_timeout` says so (the client
/// says only "db error").
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) if db.code().code() == "57014" => format!(
            "{} (SQLSTATE 57014: past the statement timeout, [database] statement_timeout_ms)",
            db.message()
        ),
        _ => e.to_string(),
    }
}

impl StoreError {
    /// Whether a statement ran past `[database] statement_timeout_ms` (PostgreSQL's
    /// `statement_timeout`, SQLSTATE 57014) or waited past it for SQLite's write lock.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Postgres(e) => e
                .as_db_error()
                .is_some_and(|db| db.code().code() == "57014"),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DatabaseBusy
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_sqlite_is_unavailable_and_corrupt_data_is_not() {
        let busy = StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ));
        assert!(busy.is_unavailable());
        let corrupt = StoreError::Corrupt {
            column: "c",
            value: String::new(),
            reason: String::new(),
        };
        assert!(!corrupt.is_unavailable());
    }
}
