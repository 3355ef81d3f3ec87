//! Integration tests of the eligibility service over real TLS on loopback, against SQLite and
//! PostgreSQL.

mod it {
    mod checks;
    #[cfg(unix)]
    mod files;
    pub mod harness;
    mod ops;
}
