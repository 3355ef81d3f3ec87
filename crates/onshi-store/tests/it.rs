//! Integration tests of the store: every test runs against SQLite and PostgreSQL.

mod it {
    mod backup;
    pub mod common;
    mod eligibility;
    mod files;
    mod import;
    mod limits;
    mod plans;
    mod schema;
    mod service;
}
