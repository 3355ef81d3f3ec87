//! One storage interface for onshi, two engines.
//!
//! SQLite is the embedded default (one file in the data directory, WAL); PostgreSQL is the scale
//! engine, chosen by a `postgres://` URL. Both hold the same tables through versioned migrations
//! and answer through the same [`Store`] trait, so one test suite runs against both. The
//! eligibility rule itself lives in `onshi-model`; a store only fetches the records it needs.
//!
//! The eligibility service needs more (clinics, terminals, card links, CRLs, secrets, the audit
//! log): [`ServiceStore`], a second trait both engines implement, opened with [`open_service`].

pub mod backup;
pub mod check_path;
mod columns;
mod error;
mod group;
pub mod link_checks;
mod pool;
pub mod portal;
pub mod postgres;
mod service;
mod service_columns;
pub mod sqlite;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use onshi_model::{Date, Eligibility, EligibilityRecord, KeyQuery, Person, PersonId};

pub use check_path::{Blocking, CardLookup, CheckStore};
pub use error::StoreError;
pub use service::{
    audit_encoding, audit_hash, audit_mac, audit_seal, AuditEntry, AuditHead, AuditKey,
    AuditKeyMismatch, AuditMode, AuditProblem, AuditRecord, AuditVerification, CardLink, Clinic,
    EnrollRefusal, NonceSpent, ServiceStore, StoredCrl, Terminal, TerminalStatus, CRL_NUMBER_BYTES,
    ENROLL_ATTEMPTS, GENESIS_HASH, LEGACY_ISSUER,
};

/// The file name of the SQLite store inside a data directory.
pub const SQLITE_FILE: &str = "onshi.sqlite";

/// How a store uses its database: `[database]` in the server's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most connections this process opens to the database at once (0: no cap).
    pub pool_size: usize,
    /// How long a request waits for a connection when `pool_size` are in use, before it fails
    /// with [`StoreError::PoolExhausted`].
    pub pool_wait: Duration,
    /// The longest a statement may run: PostgreSQL's `statement_timeout` on every pooled
    /// connection (imports and migrations are exempt); SQLite's busy timeout (how long a writer
    /// waits for another process's write lock). `None`: no PostgreSQL limit, 30 s on SQLite.
    pub statement_timeout: Option<Duration>,
    /// A PostgreSQL streaming replica that answers eligibility and card-link reads (the primary
    /// answers when the replica cannot).
    pub replica_url: Option<String>,
    /// How far behind the primary the replica may be for reads to go to it; further behind,
    /// they go to the primary until it catches up.
    pub replica_max_lag: Duration,
    /// PostgreSQL without a replica: a check's statements on the async client
    /// ([`crate::check_path`]); `false`: on the blocking one.
    pub async_check_path: bool,
}

impl Default for StoreOptions {
    /// What the command line uses: no statement limit, a pool as large as the blocking workers.
    fn default() -> Self {
        Self {
            pool_size: 128,
            pool_wait: Duration::from_secs(10),
            statement_timeout: None,
            replica_url: None,
            replica_max_lag: Duration::from_secs(1),
            async_check_path: true,
        }
    }
}

/// The busy timeout of SQLite when no statement timeout is configured.
pub(crate) const SQLITE_DEFAULT_BUSY: Duration = Duration::from_secs(30);

/// What an import transaction changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Rows that were new or differed from what was stored.
    pub changed: u64,
    /// Rows identical to what was already stored (a re-import changes nothing).
    pub unchanged: u64,
}

/// A write that becomes visible all at once on [`ImportTx::commit`]; dropping it without a
/// commit (an error, a panic, a killed process) leaves the store as it was.
pub trait ImportTx {
    /// Inserts or replaces persons (keyed by their id).
    fn put_persons(&mut self, persons: &[Person]) -> Result<(), StoreError>;
    /// Inserts or replaces eligibility records (keyed by [`onshi_model::RecordKey`]).
    fn put_records(&mut self, records: &[EligibilityRecord]) -> Result<(), StoreError>;
    /// Inserts or replaces links from card certificates to persons (keyed by issuer and
    /// serial). A card
    /// once registered for use stays registered: a link imported as unregistered does not undo
    /// [`ServiceStore::register_card`].
    fn put_card_links(&mut self, links: &[CardLink]) -> Result<(), StoreError>;
    /// Makes every write of this transaction visible.
    fn commit(self: Box<Self>) -> Result<ImportCounts, StoreError>;
}

/// Row counts of the main tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Persons.
    pub persons: u64,
    /// Eligibility records.
    pub records: u64,
}

/// The storage interface every part of onshi uses.
pub trait Store: Send + Sync {
    /// The engine's name (`sqlite` or `postgres`), for messages.
    fn engine(&self) -> &'static str;

    /// Starts an import transaction.
    fn begin_import(&self) -> Result<Box<dyn ImportTx + '_>, StoreError>;

    /// A person by id.
    fn person(&self, id: &PersonId) -> Result<Option<Person>, StoreError>;

    /// Every person id (the feed checks that records name a known person).
    fn person_ids(&self) -> Result<HashSet<PersonId>, StoreError>;

    /// Every record of a person.
    fn records_of_person(&self, id: &PersonId) -> Result<Vec<EligibilityRecord>, StoreError>;

    /// Every record of every person who owns a record with the query's 保険者番号 + 記号 + 番号
    /// (and 枝番 when given).
    fn records_for_key(&self, query: &KeyQuery) -> Result<Vec<EligibilityRecord>, StoreError>;

    /// Row counts.
    fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// The eligibility answer for a person (a card check) on a date.
    fn eligibility_for_person(&self, id: &PersonId, date: Date) -> Result<Eligibility, StoreError> {
        Ok(Eligibility::for_person(self.records_of_person(id)?, date))
    }

    /// The eligibility answer for a query without a card on a date.
    fn eligibility_for_key(&self, query: &KeyQuery, date: Date) -> Result<Eligibility, StoreError> {
        Ok(Eligibility::for_key(
            query,
            self.records_for_key(query)?,
            date,
        ))
    }
}

/// Opens the store a URL names: `postgres://…` / `postgresql://…` for PostgreSQL,
/// `sqlite://PATH` or a plain path for a SQLite file. Migrations run on open.
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    Ok(open_service(url)?)
}

/// Opens (creating if needed) the SQLite store of a data directory.
pub fn open_data_dir(dir: &Path) -> Result<Box<dyn Store>, StoreError> {
    Ok(open_service_data_dir(dir)?)
}

/// Opens the store a URL names, as [`open`], with the eligibility service's interface.
pub fn open_service(url: &str) -> Result<Box<dyn ServiceStore>, StoreError> {
    open_service_with(url, &StoreOptions::default())
}

/// Opens the store a URL names, as [`open_service`], with a pool size, a statement timeout and
/// (PostgreSQL) a replica for reads.
pub fn open_service_with(
    url: &str,
    options: &StoreOptions,
) -> Result<Box<dyn ServiceStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PgStore::connect_with(url, options)?))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        Ok(Box::new(sqlite::SqliteStore::open_with(
            Path::new(path),
            options,
        )?))
    }
}

/// Opens (creating if needed) the SQLite store of a data directory, with the eligibility
/// service's interface.
pub fn open_service_data_dir(dir: &Path) -> Result<Box<dyn ServiceStore>, StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        // Only the owner may enter: the store holds every insured person's records.
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| StoreError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    Ok(Box::new(sqlite::SqliteStore::open(&dir.join(SQLITE_FILE))?))
}
