//! The eligibility service (資格確認限定用) that every clinic terminal talks to.
//!
//! A terminal enrolls once (a one-time code and a CSR give it a client certificate from the
//! terminal CA); after that every call is mutual TLS. A check is `challenge` (a single-use,
//! MAC'd, time-limited nonce bound to the terminal) then `verify` (the card's certificate, and in
//! PIN mode its signature over the nonce and the terminal id): the service checks the card
//! against the trusted JPKI CAs and CRLs, finds the person the card is linked to, answers with
//! 資格情報 only, and writes one hash-chained audit record in the same transaction that spends the
//! nonce, MAC'd under the audit key kept beside the config ([`audit_key`]). No state another
//! instance needs is kept in memory: terminals, nonces spent, CRLs and the challenge MAC key live
//! in the store (the audit key is copied to every instance).

pub mod admin;
pub mod api;
pub mod audit_key;
pub mod challenge;
pub mod config;
pub mod doctor;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod limit;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod run;
pub mod serve;
pub mod service;

pub use config::ServerConfig;
pub use error::{loggable, ApiError, RegistrationError, ServerError};
pub use service::Service;
