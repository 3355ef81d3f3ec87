//! onshi's one test world, built once for the server's and the app's integration tests,
//! `onshi bench` and `onshi demo`: a test card authority (onshi-jlis), the service's data
//! directory on SQLite or PostgreSQL with persons and eligibility records (fixed ones, or a
//! synthetic feed imported), software cards with their PIN linked to their persons, a clinic with
//! terminals, the service on a loopback port, and enrolled terminals with the service's client.
//!
//! The steps are functions of their own ([`authority`], [`service::Service`], [`cards`]) so that a
//! caller that shows them (the demo) or times them (the bench) can take them one by one;
//! [`World`] and its [`WorldBuilder`] put them together for the tests.
//!
//! The store's clients block: the steps that touch the store run on the calling thread (from
//! async code, inside [`sync`]).

pub mod cards;
pub mod engines;
mod error;
pub mod https;
pub mod people;
pub mod service;
pub mod world;

use std::path::Path;

use chrono::{DateTime, Utc};

pub use cards::{card_answer, card_answer_for, holder_attributes, open_card, Cards, CARD_PIN};
pub use engines::{databases, sync};
pub use error::KitError;
pub use https::{Https, Terminal};
pub use people::{date, P1_FORMER_NAME};
pub use service::{Seeded, Service};
pub use world::{World, WorldBuilder};

/// The folder below a world's root that holds the test card authority.
pub const JLIS_DIR: &str = "jlis";
/// The folder below a world's root that holds the service's data directory.
pub const SERVER_DIR: &str = "server";

/// A new test card authority (`onshi jlis init`) in `dir`, its CA valid from `since`.
pub fn authority(dir: &Path, since: DateTime<Utc>) -> Result<onshi_jlis::Authority, KitError> {
    Ok(onshi_jlis::Authority::init(dir, since)?)
}
