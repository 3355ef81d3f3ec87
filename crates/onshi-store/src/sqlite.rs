//! The SQLite engine: the embedded default, one file with WAL.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use onshi_model::{Date, EligibilityRecord, KeyQuery, Person, PersonId};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension, ToSql};

use crate::columns::{
    decode_person, decode_record, list, person_values, record_values, RowAccess, Value,
    PERSON_COLUMNS, RECORD_COLUMNS, RECORD_KEY,
};
use crate::pool::{Pool, Pooled};
use crate::service_columns::{card_link_values, CARD_LINK_COLUMNS};
use crate::{CardLink, ImportCounts, ImportTx, Store, StoreCounts, StoreError, StoreOptions};

mod portal;
mod service;

/// Versioned migrations; a version once released is never edited, only followed.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE persons (
        person_id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        name_kana TEXT NOT NULL,
        birthdate INTEGER NOT NULL,
        sex TEXT NOT NULL,
        address TEXT
    ) WITHOUT ROWID;
    CREATE TABLE eligibility (
        person_id TEXT NOT NULL,
        insurer_number TEXT NOT NULL,
        symbol TEXT NOT NULL,
        number TEXT NOT NULL,
        branch TEXT NOT NULL,
        qualification_date INTEGER NOT NULL,
        card_classification TEXT NOT NULL,
        personal_family TEXT NOT NULL,
        insured_name TEXT,
        name TEXT NOT NULL,
        name_kana TEXT NOT NULL,
        sex TEXT NOT NULL,
        birthdate INTEGER NOT NULL,
        address TEXT,
        post_number TEXT,
        disqualification_date INTEGER,
        contribution_ratio TEXT,
        preschool TEXT,
        reason_of_loss TEXT,
        insurer_name TEXT NOT NULL,
        elderly_certificate_date INTEGER,
        elderly_valid_start INTEGER,
        elderly_valid_end INTEGER,
        elderly_contribution_ratio TEXT,
        -- Clustered by person: a card check reads one person's records with one range scan.
        PRIMARY KEY (person_id, insurer_number, symbol, number, branch, qualification_date)
    ) WITHOUT ROWID;
    -- The record key: what an import upserts on and a check without a card searches.
    CREATE UNIQUE INDEX eligibility_key
        ON eligibility (insurer_number, symbol, number, branch, qualification_date);",
    ),
    (
        2,
        // The eligibility service. Times are INTEGER microseconds since the Unix epoch
        // (`datetime(x / 1000000, 'unixepoch')` in the sqlite3 shell); hashes are 32-byte BLOBs.
        "CREATE TABLE clinics (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        registration TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    -- Named counters: the last terminal number allocated, the CRL generation.
    CREATE TABLE counters (
        name TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('terminal', 0), ('crl_generation', 0);
    CREATE TABLE terminals (
        id TEXT PRIMARY KEY NOT NULL,
        clinic_id INTEGER NOT NULL REFERENCES clinics (id),
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
        certificate_serial TEXT,
        created_at INTEGER NOT NULL,
        enrolled_at INTEGER,
        revoked_at INTEGER,
        last_used_at INTEGER,
        -- SHA-256 of the one-time enrollment code; NULL once spent.
        code_hash BLOB,
        code_expires_at INTEGER,
        code_failures INTEGER NOT NULL DEFAULT 0,
        -- The head of the terminal's audit chain: its length and the hash of its last record.
        checks INTEGER NOT NULL DEFAULT 0,
        audit_head BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX terminals_by_clinic ON terminals (clinic_id);
    -- The look-up of every request; a certificate serial belongs to one terminal for good.
    CREATE UNIQUE INDEX terminals_by_serial ON terminals (certificate_serial);
    CREATE TABLE card_links (
        serial TEXT PRIMARY KEY NOT NULL,
        person_id TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        registered INTEGER NOT NULL,
        registered_at INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE crls (
        issuer TEXT PRIMARY KEY NOT NULL,
        der BLOB NOT NULL,
        loaded_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    -- Append-only: onshi only ever INSERTs here. One hash chain per terminal.
    CREATE TABLE audit_log (
        terminal_id TEXT NOT NULL REFERENCES terminals (id),
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        clinic_id INTEGER NOT NULL,
        mode TEXT NOT NULL,
        certificate_serial TEXT,
        person_id TEXT,
        answer TEXT NOT NULL,
        reference_number TEXT NOT NULL,
        -- A challenge is redeemed once: the unique index is the single-use check.
        nonce_id BLOB UNIQUE,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (terminal_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX audit_by_person ON audit_log (person_id, at);",
    ),
    (3, crate::portal::MIGRATION_3_SQLITE),
    (4, crate::portal::MIGRATION_4_SQLITE),
    (
        5,
        "-- The audit chain's hashes become HMAC-SHA-256 under a key kept outside the database
    -- (the server's audit.key). A terminal's records written before (plain SHA-256) are its
    -- first audit_legacy_seq, sealed under the key by audit_legacy_seal when the key is first
    -- adopted. The key's id (an HMAC of a label) is kept in secrets as 'audit-key-id'.
    ALTER TABLE terminals ADD COLUMN audit_legacy_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE terminals ADD COLUMN audit_legacy_seal BLOB;",
    ),
    (
        7,
        "-- Card links keyed by (issuer, serial): a serial is unique only within its CA. Links
    -- stored before get the empty issuer until the service, trusting exactly one CA, gives
    -- them its name (ServiceStore::adopt_legacy_card_links).
    CREATE TABLE card_links_by_issuer (
        issuer TEXT NOT NULL,
        serial TEXT NOT NULL,
        person_id TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        registered INTEGER NOT NULL,
        registered_at INTEGER,
        PRIMARY KEY (issuer, serial)
    ) WITHOUT ROWID;
    INSERT INTO card_links_by_issuer
        (issuer, serial, person_id, not_before, not_after, registered, registered_at)
        SELECT '', serial, person_id, not_before, not_after, registered, registered_at
        FROM card_links;
    DROP TABLE card_links;
    ALTER TABLE card_links_by_issuer RENAME TO card_links;
    -- A CRL's number, 20 bytes big-endian (compares as the integer); NULL for CRLs stored
    -- before, which the next CRL of their CA replaces.
    ALTER TABLE crls ADD COLUMN number BLOB;
    -- Every serial a verified CRL ever listed, kept for good: a card once revoked stays
    -- revoked even when a later CRL drops it after its expiry.
    CREATE TABLE crl_revoked (
        issuer TEXT NOT NULL,
        serial TEXT NOT NULL,
        PRIMARY KEY (issuer, serial)
    ) WITHOUT ROWID;",
    ),
    (
        8,
        "-- The checks of a day (the operators' dashboard: ServiceStore::checks_since) read the
    -- audit log by time: an index, not a scan of the whole log (the EXPLAIN test, plans.rs).
    -- Built in the migration's transaction: on a large log, run it at a quiet hour.
    CREATE INDEX audit_by_time ON audit_log (at);",
    ),
    (
        9,
        "-- The card's own dates from the insurers' feed (被保険者証 交付年月日, 有効開始年月日,
    -- 有効終了年月日), all optional: records stored before have none.
    ALTER TABLE eligibility ADD COLUMN card_issuance_date INTEGER;
    ALTER TABLE eligibility ADD COLUMN card_valid_date INTEGER;
    ALTER TABLE eligibility ADD COLUMN card_expiration_date INTEGER;",
    ),
    (10, crate::portal::MIGRATION_10),
    (11, crate::portal::MIGRATION_11_SQLITE),
    (12, crate::link_checks::MIGRATION),
    (
        13,
        "-- Requests per key and fixed window, counted by every instance (shared_rate_limits).
    CREATE TABLE rate_counters (
        counter_key TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (counter_key, window_start)
    ) WITHOUT ROWID;",
    ),
    (
        15,
        "-- 旧姓（旧氏）での氏名 from the persons feed (optional), which the wrong-link guard
    -- compares a card holder's name with.
    ALTER TABLE persons ADD COLUMN former_name TEXT;",
    ),
    (
        16,
        "-- A re-check of a visit recorded as 未確認 at the desk says which visit it re-did.
    ALTER TABLE audit_log ADD COLUMN recheck_of TEXT;",
    ),
    (
        17,
        "-- PostgreSQL's spent_nonces index; SQLite keeps spent challenges in the audit log.
    SELECT 1;",
    ),
];

/// The store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    pool: Pool<Connection>,
    /// Writers of this process queue here rather than in SQLite's busy handler, which sleeps in
    /// growing steps and lets a waiting writer starve (p99 in the hundreds of ms under load).
    pub(crate) writer: std::sync::Mutex<()>,
    /// Audit records written together share one commit (one WAL sync).
    pub(crate) audits: crate::group::AuditGroup,
}

/// Dates are stored as the integer yyyyMMdd: compact, ordered, readable in the sqlite3 shell.
fn date_to_int(d: Date) -> i64 {
    use chrono::Datelike;
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

fn int_to_date(v: i64) -> Option<Date> {
    Date::from_ymd_opt(
        (v / 10_000) as i32,
        ((v / 100) % 100) as u32,
        (v % 100) as u32,
    )
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Date(d) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(date_to_int(*d))),
            Value::Time(t) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Integer(t.timestamp_micros()))
            }
            Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl RowAccess for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<&str>, StoreError> {
        Ok(self.get_ref(i)?.as_str_or_null()?)
    }

    fn date(&self, i: usize) -> Result<Option<Date>, StoreError> {
        match self.get_ref(i)?.as_i64_or_null()? {
            None => Ok(None),
            Some(v) => int_to_date(v).map(Some).ok_or_else(|| StoreError::Corrupt {
                column: "date",
                value: v.to_string(),
                reason: "not a yyyyMMdd date".to_owned(),
            }),
        }
    }
}

fn upsert_sql(table: &str, columns: &[&str], key: &str) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let key_columns: Vec<&str> = key.split(", ").collect();
    let rest: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !key_columns.contains(c))
        .collect();
    let sets: Vec<String> = rest.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    let excluded: Vec<String> = rest.iter().map(|c| format!("excluded.{c}")).collect();
    // The WHERE skips rows that are already identical, so a re-import writes nothing.
    format!(
        "INSERT INTO {table} ({cols}) VALUES ({vals}) ON CONFLICT ({key}) DO UPDATE SET {sets} \
         WHERE ({rest}) IS NOT ({excluded})",
        cols = list(columns),
        vals = placeholders.join(", "),
        sets = sets.join(", "),
        rest = rest.join(", "),
        excluded = excluded.join(", "),
    )
}

/// Creates the database file 0600 (owner only) before SQLite opens it, so it is never readable by
/// others, not even for a moment; SQLite then creates its `-wal` and `-shm` files with the same
/// mode as the database file. An existing file is left as it is (`onshi server doctor` says
/// when its mode is wrong).
pub(crate) fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn connect(path: &Path, busy: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy)?;
    // WAL: readers never block the importer. FULL: a committed import survives a power cut
    // (an import commits once, so the extra sync costs nothing). A large page cache keeps the
    // B-trees of a million-row import in memory.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA cache_size = -262144;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 1073741824;
         PRAGMA foreign_keys = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY NOT NULL,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        )",
    )?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tracing::info!(version, "applying SQLite migration");
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES (?1)",
            [version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens or creates the store file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &StoreOptions::default())
    }

    /// Opens or creates the store file with a pool size and a busy timeout
    /// ([`StoreOptions::statement_timeout`]); a replica is refused (SQLite has none).
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        if options.replica_url.is_some() {
            return Err(StoreError::Unsupported(
                "replica_url needs PostgreSQL: SQLite has no replica",
            ));
        }
        let busy = options
            .statement_timeout
            .unwrap_or(crate::SQLITE_DEFAULT_BUSY);
        create_private(path)?;
        let mut first = connect(path, busy)?;
        migrate(&mut first)?;
        let owned = path.to_path_buf();
        let pool = Pool::new(Box::new(move || connect(&owned, busy)), 16)
            .with_size(options.pool_size, options.pool_wait);
        pool.adopt(first);
        Ok(Self {
            path: path.to_path_buf(),
            pool,
            writer: std::sync::Mutex::new(()),
            audits: crate::group::GroupCommit::new(),
        })
    }

    /// The file of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn query_records(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
    ) -> Result<Vec<EligibilityRecord>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(decode_record(row)?);
        }
        Ok(out)
    }
}

struct SqliteImport<'a> {
    conn: Option<Pooled<'a, Connection>>,
    counts: ImportCounts,
}

impl SqliteImport<'_> {
    fn upsert<T, const N: usize>(
        &mut self,
        sql: &str,
        items: &[T],
        values: impl for<'x> Fn(&'x T) -> [Value<'x>; N],
    ) -> Result<(), StoreError> {
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        let mut stmt = conn.prepare_cached(sql)?;
        for item in items {
            let changed = stmt.execute(params_from_iter(values(item).iter()))?;
            if changed > 0 {
                self.counts.changed += 1;
            } else {
                self.counts.unchanged += 1;
            }
        }
        Ok(())
    }
}

static UPSERT_PERSON: LazyLock<String> =
    LazyLock::new(|| upsert_sql("persons", &PERSON_COLUMNS, "person_id"));
static UPSERT_RECORD: LazyLock<String> =
    LazyLock::new(|| upsert_sql("eligibility", &RECORD_COLUMNS, RECORD_KEY));
/// Upsert of a card link. A card stays registered once registered (`registered` is OR-ed); the
/// WHERE skips identical rows as in [`upsert_sql`].
static UPSERT_CARD_LINK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO card_links ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (issuer, serial) DO UPDATE SET person_id = excluded.person_id,
             not_before = excluded.not_before, not_after = excluded.not_after,
             registered = (card_links.registered OR excluded.registered)
         WHERE (card_links.person_id, card_links.not_before, card_links.not_after,
                card_links.registered)
            IS NOT (excluded.person_id, excluded.not_before, excluded.not_after,
                    (card_links.registered OR excluded.registered))",
        list(&CARD_LINK_COLUMNS)
    )
});
static RECORDS_OF_PERSON: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM eligibility WHERE person_id = ?1",
        list(&RECORD_COLUMNS)
    )
});
static RECORDS_FOR_KEY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM eligibility WHERE person_id IN (
            SELECT person_id FROM eligibility
            WHERE insurer_number = ?1 AND symbol = ?2 AND number = ?3
              AND (?4 IS NULL OR branch = ?4))",
        list(&RECORD_COLUMNS)
    )
});
static PERSON: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM persons WHERE person_id = ?1",
        list(&PERSON_COLUMNS)
    )
});

impl ImportTx for SqliteImport<'_> {
    fn put_persons(&mut self, persons: &[Person]) -> Result<(), StoreError> {
        self.upsert(&UPSERT_PERSON, persons, person_values)
    }

    fn put_records(&mut self, records: &[EligibilityRecord]) -> Result<(), StoreError> {
        self.upsert(&UPSERT_RECORD, records, record_values)
    }

    fn put_card_links(&mut self, links: &[CardLink]) -> Result<(), StoreError> {
        self.upsert(&UPSERT_CARD_LINK, links, card_link_values)
    }

    fn commit(mut self: Box<Self>) -> Result<ImportCounts, StoreError> {
        if let Some(conn) = self.conn.take() {
            conn.execute_batch("COMMIT")?;
        }
        Ok(self.counts)
    }
}

impl Drop for SqliteImport<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not committed: undo everything. A connection that cannot roll back is not reused.
            if conn.execute_batch("ROLLBACK").is_err() {
                conn.discard();
            }
        }
    }
}

impl Store for SqliteStore {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn begin_import(&self) -> Result<Box<dyn ImportTx + '_>, StoreError> {
        let conn = self.pool.get()?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteImport {
            conn: Some(conn),
            counts: ImportCounts::default(),
        }))
    }

    fn person(&self, id: &PersonId) -> Result<Option<Person>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(&PERSON)?;
        let row = stmt
            .query_row([id.as_str()], |row| Ok(decode_person(row)))
            .optional()?;
        row.transpose()
    }

    fn person_ids(&self) -> Result<HashSet<PersonId>, StoreError> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached("SELECT person_id FROM persons")?;
        let mut rows = stmt.query([])?;
        let mut ids = HashSet::new();
        while let Some(row) = rows.next()? {
            let s: &str = row.get_ref(0)?.as_str()?;
            ids.insert(PersonId::parse(s).map_err(|e| StoreError::Corrupt {
                column: "person_id",
                value: s.to_owned(),
                reason: e.to_string(),
            })?);
        }
        Ok(ids)
    }

    fn records_of_person(&self, id: &PersonId) -> Result<Vec<EligibilityRecord>, StoreError> {
        self.query_records(&RECORDS_OF_PERSON, &[&id.as_str()])
    }

    fn records_for_key(&self, q: &KeyQuery) -> Result<Vec<EligibilityRecord>, StoreError> {
        let symbol = q.symbol.as_ref().map_or("", |s| s.as_str());
        let branch = q.branch.map(|b| b.to_string());
        self.query_records(
            &RECORDS_FOR_KEY,
            &[
                &q.insurer_number.as_str(),
                &symbol,
                &q.number.as_str(),
                &branch,
            ],
        )
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let conn = self.pool.get()?;
        let count = |table: &str| -> Result<u64, StoreError> {
            let n: i64 =
                conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            Ok(n as u64)
        };
        Ok(StoreCounts {
            persons: count("persons")?,
            records: count("eligibility")?,
        })
    }
}
