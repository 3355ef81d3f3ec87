//! Integration tests of the eligibility service over real TLS on loopback, against SQLite and
//! PostgreSQL.

mod it {
    mod card_links;
    mod checks;
    mod edge;
    #[cfg(unix)]
    mod files;
    mod link_guard;
    mod ops;
    mod replica;
    mod revocation;
}
