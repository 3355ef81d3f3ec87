//! Integration tests of the feed: real files into real stores (SQLite, and PostgreSQL when the
//! test server is there).

mod it {
    mod bad_input;
    mod common;
    mod files;
}
