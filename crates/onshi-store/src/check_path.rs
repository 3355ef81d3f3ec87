//! What a check asks of the store, as one async interface: the terminal behind a client
//! certificate, the card's link with its guard and the person's records, the answer's audit
//! record. The service runs a check's logic once, on this interface, whatever the engine:
//!
//! - on PostgreSQL (without a replica) it is [`crate::postgres::PgStore::check_path`]: the async
//!   client (tokio-postgres, a deadpool pool), so a check never leaves the async workers and the
//!   card look-ups go out together in one round trip;
//! - otherwise it is [`Blocking`]: the store's own blocking calls, each ready at once. The caller
//!   runs the whole check on a blocking thread (one hand-off a check, as before).

use std::sync::Arc;

use async_trait::async_trait;
use onshi_model::{Date, Eligibility, KeyQuery, PersonId};

use crate::link_checks::{self, LinkCheck};
use crate::service::{AuditEntry, AuditKey, AuditRecord, CardLink, NonceSpent, Terminal};
use crate::{ServiceStore, StoreError};

/// What is stored about a card, read together.
#[derive(Clone, Debug, PartialEq)]
pub struct CardLookup {
    /// Which person the card belongs to.
    pub link: Option<CardLink>,
    /// The wrong-link guard's check of that link, when the import made one.
    pub check: Option<LinkCheck>,
    /// The linked person's eligibility on the visit date (no records without a link).
    pub eligibility: Eligibility,
}

/// The store's part of a check.
#[async_trait]
pub trait CheckStore: Send + Sync {
    /// Whether the calls wait on the network (async) or answer at once on the calling thread
    /// (then the caller runs them on a blocking thread).
    fn is_async(&self) -> bool;

    /// The active terminal whose current client certificate has this serial.
    async fn active_terminal_by_serial(&self, serial: &str)
        -> Result<Option<Terminal>, StoreError>;

    /// The card's link, its guard's check and the linked person's eligibility on `date`.
    async fn card_lookup(
        &self,
        issuer: &str,
        serial: &str,
        date: Date,
    ) -> Result<CardLookup, StoreError>;

    /// The eligibility answer for a query without a card.
    async fn eligibility_for_key(
        &self,
        query: &KeyQuery,
        date: Date,
    ) -> Result<Eligibility, StoreError>;

    /// [`ServiceStore::record_check`].
    async fn record_check(
        &self,
        key: &AuditKey,
        entry: &AuditEntry,
        register: Option<&CardLink>,
    ) -> Result<Result<AuditRecord, NonceSpent>, StoreError>;
}

/// The check path of a blocking store: each call is the store's own, answered on the calling
/// thread.
pub struct Blocking(pub Arc<dyn ServiceStore>);

#[async_trait]
impl CheckStore for Blocking {
    fn is_async(&self) -> bool {
        false
    }

    async fn active_terminal_by_serial(
        &self,
        serial: &str,
    ) -> Result<Option<Terminal>, StoreError> {
        self.0.active_terminal_by_serial(serial)
    }

    async fn card_lookup(
        &self,
        issuer: &str,
        serial: &str,
        date: Date,
    ) -> Result<CardLookup, StoreError> {
        let Some(link) = self.0.card_link(issuer, serial)? else {
            return Ok(CardLookup {
                link: None,
                check: None,
                eligibility: Eligibility::not_found(),
            });
        };
        let check = link_checks::link_check(self.0.portal(), issuer, serial)?;
        let eligibility = self.0.eligibility_for_person(&link.person_id, date)?;
        Ok(CardLookup {
            link: Some(link),
            check,
            eligibility,
        })
    }

    async fn eligibility_for_key(
        &self,
        query: &KeyQuery,
        date: Date,
    ) -> Result<Eligibility, StoreError> {
        self.0.eligibility_for_key(query, date)
    }

    async fn record_check(
        &self,
        key: &AuditKey,
        entry: &AuditEntry,
        register: Option<&CardLink>,
    ) -> Result<Result<AuditRecord, NonceSpent>, StoreError> {
        self.0.record_check(key, entry, register)
    }
}

/// Whether every record belongs to `person` (records read beside a link, in another statement,
/// may belong to the person the link pointed to a moment before).
pub(crate) fn all_of(person: &PersonId, eligibility: &Eligibility) -> bool {
    eligibility.records.iter().all(|r| &r.person_id == person)
}
