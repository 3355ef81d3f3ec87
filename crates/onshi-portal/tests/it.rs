//! Integration and security tests of the portal's routes, in process (`Router::oneshot`),
//! against SQLite and PostgreSQL.

mod it {
    mod abuse;
    pub mod claims;
    mod clinic;
    mod grant;
    pub mod harness;
    mod info;
    mod isolation;
    mod links;
    mod numbers;
    mod payment;
    pub mod routes;
    mod security;
    mod sweep;
    mod terminals;
}
