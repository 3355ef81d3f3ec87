//! The PostgreSQL engine: the scale engine that many service instances share.
//!
//! Imports stream rows with COPY, chunk by chunk, in one transaction, so a file lands whole or not
//! at all: new rows straight into the table, chunks that touch stored keys through a staging
//! table and `INSERT … ON CONFLICT`.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, LazyLock};

use onshi_model::{Date, EligibilityRecord, KeyQuery, Person, PersonId};
use postgres::{Client, NoTls, Statement};

use crate::columns::{
    decode_person, decode_record, list, person_values, record_values, RowAccess, Value,
    PERSON_COLUMNS, RECORD_COLUMNS, RECORD_KEY,
};
use crate::pool::{Pool, Pooled};
use crate::service_columns::{card_link_values, CARD_LINK_COLUMNS};
use crate::{CardLink, ImportCounts, ImportTx, Store, StoreCounts, StoreError, StoreOptions};

mod check_path;
mod portal;
mod replica;
mod service;

/// Versioned migrations; a version once released is never edited, only followed.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE persons (
        person_id text PRIMARY KEY,
        name text NOT NULL,
        name_kana text NOT NULL,
        birthdate date NOT NULL,
        sex text NOT NULL,
        address text
    );
    CREATE TABLE eligibility (
        person_id text NOT NULL,
        insurer_number text NOT NULL,
        symbol text NOT NULL,
        number text NOT NULL,
        branch text NOT NULL,
        qualification_date date NOT NULL,
        card_classification text NOT NULL,
        personal_family text NOT NULL,
        insured_name text,
        name text NOT NULL,
        name_kana text NOT NULL,
        sex text NOT NULL,
        birthdate date NOT NULL,
        address text,
        post_number text,
        disqualification_date date,
        contribution_ratio text,
        preschool text,
        reason_of_loss text,
        insurer_name text NOT NULL,
        elderly_certificate_date date,
        elderly_valid_start date,
        elderly_valid_end date,
        elderly_contribution_ratio text,
        PRIMARY KEY (insurer_number, symbol, number, branch, qualification_date)
    );
    CREATE INDEX eligibility_by_person ON eligibility (person_id);",
    ),
    (
        2,
        // The eligibility service.
        "CREATE TABLE clinics (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL,
        registration text NOT NULL,
        created_at timestamptz NOT NULL
    );
    -- Named counters: the last terminal number allocated, the CRL generation.
    CREATE TABLE counters (
        name text PRIMARY KEY,
        value bigint NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('terminal', 0), ('crl_generation', 0);
    -- Every check updates its terminal's row (the audit head): room on each page for HOT
    -- updates.
    CREATE TABLE terminals (
        id text PRIMARY KEY,
        clinic_id bigint NOT NULL REFERENCES clinics (id),
        status text NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
        -- The look-up of every request; a certificate serial belongs to one terminal for good.
        certificate_serial text UNIQUE,
        created_at timestamptz NOT NULL,
        enrolled_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz,
        -- SHA-256 of the one-time enrollment code; NULL once spent.
        code_hash bytea,
        code_expires_at timestamptz,
        code_failures bigint NOT NULL DEFAULT 0,
        -- The head of the terminal's audit chain: its length and the hash of its last record.
        checks bigint NOT NULL DEFAULT 0,
        audit_head bytea NOT NULL
    ) WITH (fillfactor = 80);
    CREATE INDEX terminals_by_clinic ON terminals (clinic_id);
    CREATE TABLE card_links (
        serial text PRIMARY KEY,
        person_id text NOT NULL,
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        registered boolean NOT NULL,
        registered_at timestamptz
    );
    CREATE TABLE crls (
        issuer text PRIMARY KEY,
        der bytea NOT NULL,
        loaded_at timestamptz NOT NULL
    );
    CREATE TABLE secrets (
        name text PRIMARY KEY,
        value bytea NOT NULL
    );
    -- Append-only: onshi only ever INSERTs here (an operator may REVOKE UPDATE, DELETE,
    -- TRUNCATE ON audit_log from onshi's role). One hash chain per terminal.
    CREATE TABLE audit_log (
        terminal_id text NOT NULL REFERENCES terminals (id),
        seq bigint NOT NULL,
        at timestamptz NOT NULL,
        clinic_id bigint NOT NULL,
        mode text NOT NULL,
        certificate_serial text,
        person_id text,
        answer text NOT NULL,
        reference_number text NOT NULL,
        -- A challenge is redeemed once: the unique index is the single-use check.
        nonce_id bytea UNIQUE,
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (terminal_id, seq)
    );
    CREATE INDEX audit_by_person ON audit_log (person_id, at);",
    ),
    (3, crate::portal::MIGRATION_3_POSTGRES),
    (4, crate::portal::MIGRATION_4_POSTGRES),
    (
        5,
        "-- The audit chain's hashes become HMAC-SHA-256 under a key kept outside the database
    -- (the server's audit.key). A terminal's records written before (plain SHA-256) are its
    -- first audit_legacy_seq, sealed under the key by audit_legacy_seal when the key is first
    -- adopted. The key's id (an HMAC of a label) is kept in secrets as 'audit-key-id'.
    ALTER TABLE terminals ADD COLUMN audit_legacy_seq bigint NOT NULL DEFAULT 0;
    ALTER TABLE terminals ADD COLUMN audit_legacy_seal bytea;",
    ),
    (
        7,
        "-- Card links keyed by (issuer, serial): a serial is unique only within its CA. Links
    -- stored before get the empty issuer until the service, trusting exactly one CA, gives
    -- them its name (ServiceStore::adopt_legacy_card_links).
    ALTER TABLE card_links ADD COLUMN issuer text NOT NULL DEFAULT '';
    ALTER TABLE card_links ALTER COLUMN issuer DROP DEFAULT;
    ALTER TABLE card_links DROP CONSTRAINT card_links_pkey;
    ALTER TABLE card_links ADD PRIMARY KEY (issuer, serial);
    -- A CRL's number, 20 bytes big-endian (compares as the integer); NULL for CRLs stored
    -- before, which the next CRL of their CA replaces.
    ALTER TABLE crls ADD COLUMN number bytea;
    -- Every serial a verified CRL ever listed, kept for good: a card once revoked stays
    -- revoked even when a later CRL drops it after its expiry.
    CREATE TABLE crl_revoked (
        issuer text NOT NULL,
        serial text NOT NULL,
        PRIMARY KEY (issuer, serial)
    );",
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
    ALTER TABLE eligibility ADD COLUMN card_issuance_date date;
    ALTER TABLE eligibility ADD COLUMN card_valid_date date;
    ALTER TABLE eligibility ADD COLUMN card_expiration_date date;",
    ),
    (10, crate::portal::MIGRATION_10),
    (11, crate::portal::MIGRATION_11_POSTGRES),
    (12, crate::link_checks::MIGRATION),
    (
        13,
        "-- Requests per key and fixed window, counted by every instance (shared_rate_limits).
    -- UNLOGGED: no WAL for a counter a crash may lose; not on replicas (never read there).
    CREATE TABLE rate_counters (
        counter_key text NOT NULL,
        window_start bigint NOT NULL,
        hits bigint NOT NULL,
        PRIMARY KEY (counter_key, window_start)
    );
    ALTER TABLE rate_counters SET UNLOGGED;
    -- The audit log partitioned by month of `at` (UTC): a month's rows in audit_log_yYYYYmMM, so
    -- old months can be detached and archived whole. A unique index of a partitioned table must
    -- hold the partition key, so the single-use check of a challenge moves to spent_nonces (not
    -- partitioned): a check inserts its nonce there, and its audit row only if that insert did.
    -- The primary key gains `at`; (terminal_id, seq) stays unique through the terminal's lock.
    CREATE TABLE spent_nonces (
        nonce_id bytea PRIMARY KEY,
        spent_at timestamptz NOT NULL
    );
    INSERT INTO spent_nonces (nonce_id, spent_at)
        SELECT nonce_id, at FROM audit_log WHERE nonce_id IS NOT NULL;
    ALTER TABLE audit_log RENAME TO audit_log_before_13;
    ALTER INDEX audit_by_person RENAME TO audit_before_13_by_person;
    ALTER INDEX audit_by_time RENAME TO audit_before_13_by_time;
    ALTER TABLE audit_log_before_13 RENAME CONSTRAINT audit_log_pkey TO audit_log_before_13_pkey;
    CREATE TABLE audit_log (
        terminal_id text NOT NULL REFERENCES terminals (id),
        seq bigint NOT NULL,
        at timestamptz NOT NULL,
        clinic_id bigint NOT NULL,
        mode text NOT NULL,
        certificate_serial text,
        person_id text,
        answer text NOT NULL,
        reference_number text NOT NULL,
        nonce_id bytea,
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (terminal_id, seq, at)
    ) PARTITION BY RANGE (at);
    CREATE INDEX audit_by_person ON audit_log (person_id, at);
    CREATE INDEX audit_by_time ON audit_log (at);
    -- Rows of a month without its partition (created ahead by every instance: PgStore) land here.
    CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
    DO $$
    DECLARE m timestamptz;
    BEGIN
        FOR m IN SELECT DISTINCT date_trunc('month', at, 'UTC') FROM audit_log_before_13 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                'audit_log_y' || to_char(m AT TIME ZONE 'UTC', 'YYYY\"m\"MM'),
                (m AT TIME ZONE 'UTC')::text || '+00',
                (m AT TIME ZONE 'UTC' + interval '1 month')::text || '+00');
        END LOOP;
    END $$;
    INSERT INTO audit_log SELECT * FROM audit_log_before_13;
    DROP TABLE audit_log_before_13;",
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
        "-- Spent challenges are forgotten by age (prune_spent_challenges): a BRIN index on the
    -- time they were spent, tiny and cheap to keep for rows that arrive in time order.
    CREATE INDEX spent_nonces_by_time ON spent_nonces USING brin (spent_at);",
    ),
];

/// Any 64-bit number, the same in every instance: serialises migrations of instances that start
/// together.
const MIGRATION_LOCK: i64 = 0x6f6e_7368_6901;

/// Serialises the creation of audit-log partitions by instances that start a month together.
const PARTITION_LOCK: i64 = 0x6f6e_7368_6902;

/// The name of the audit-log partition of a month (year × 12 + month − 1) and its bounds.
fn audit_partition(month: i32) -> (String, String, String) {
    let bound = |m: i32| {
        format!(
            "{:04}-{:02}-01 00:00:00+00",
            m.div_euclid(12),
            m.rem_euclid(12) + 1
        )
    };
    (
        format!(
            "audit_log_y{:04}m{:02}",
            month.div_euclid(12),
            month.rem_euclid(12) + 1
        ),
        bound(month),
        bound(month + 1),
    )
}

/// Rows are sent to the server whenever this many bytes of COPY data are buffered.
const COPY_FLUSH_BYTES: usize = 4 << 20;

/// A connection with the statements every check uses, prepared once.
pub(crate) struct PgConn {
    client: Client,
    records_of_person: Statement,
    records_for_key: Statement,
    person: Statement,
    service: service::Statements,
}

/// A person's records.
static RECORDS_OF_PERSON: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM eligibility WHERE person_id = $1",
        list(&RECORD_COLUMNS)
    )
});

/// The records of every person who owns a record with the query's key.
static RECORDS_FOR_KEY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM eligibility WHERE person_id IN (
            SELECT person_id FROM eligibility
            WHERE insurer_number = $1 AND symbol = $2 AND number = $3
              AND ($4::text IS NULL OR branch = $4))",
        list(&RECORD_COLUMNS)
    )
});

/// The parameters of [`RECORDS_FOR_KEY`]: a missing 記号 is stored as the empty text.
struct KeyParams<'a> {
    insurer: &'a str,
    symbol: &'a str,
    number: &'a str,
    branch: Option<String>,
}

impl<'a> KeyParams<'a> {
    fn of(q: &'a KeyQuery) -> Self {
        Self {
            insurer: q.insurer_number.as_str(),
            symbol: q.symbol.as_ref().map_or("", |s| s.as_str()),
            number: q.number.as_str(),
            branch: q.branch.map(|b| b.to_string()),
        }
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 4] {
        [&self.insurer, &self.symbol, &self.number, &self.branch]
    }
}

/// The records of the person a card is linked to (issuer, serial).
static RECORDS_OF_CARD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM eligibility WHERE person_id =
            (SELECT person_id FROM card_links WHERE issuer = $1 AND serial = $2)",
        list(&RECORD_COLUMNS)
    )
});

/// Months (year × 12 + month − 1, UTC) whose audit-log partition is known to exist.
type AuditMonths = Arc<std::sync::Mutex<HashSet<i32>>>;

/// The store on a PostgreSQL server.
pub struct PgStore {
    pool: Pool<PgConn>,
    audit_months: AuditMonths,
    /// Where eligibility and card-link reads go while it is usable.
    replica: Option<replica::Replica>,
    /// The async connections of the check path (none with a replica: see
    /// [`PgStore::check_path`]).
    check_pool: Option<deadpool_postgres::Pool>,
    /// The primary's settings, for the rare blocking work of the check path.
    primary: postgres::Config,
}

impl RowAccess for postgres::Row {
    fn text(&self, i: usize) -> Result<Option<&str>, StoreError> {
        Ok(self.try_get::<_, Option<&str>>(i)?)
    }

    fn date(&self, i: usize) -> Result<Option<Date>, StoreError> {
        Ok(self.try_get::<_, Option<Date>>(i)?)
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version bigint PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tracing::info!(version, "applying PostgreSQL migration");
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The tables onshi's migrations create, in the order they are created (read from
/// [`MIGRATIONS`], so a table added by a later migration is known without another list).
pub fn schema_tables() -> Vec<&'static str> {
    let mut tables = Vec::new();
    for (_, sql) in MIGRATIONS {
        let mut rest = *sql;
        while let Some(at) = rest.find("CREATE TABLE ") {
            rest = &rest[at + "CREATE TABLE ".len()..];
            let name = rest.strip_prefix("IF NOT EXISTS ").unwrap_or(rest);
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            if end > 0 && !tables.contains(&&name[..end]) {
                tables.push(&name[..end]);
            }
        }
    }
    tables
}

/// Drops every table of onshi's schema (the service's and the portal's, with whatever else
/// references them, and `schema_migrations`), in one transaction, so the next
/// [`PgStore::connect`] starts from an empty database. For the load tests, which start from
/// nothing on a database the server may have used; never called by the service.
pub fn drop_schema(url: &str) -> Result<(), StoreError> {
    let mut client = Client::connect(url, NoTls)?;
    let mut tx = client.transaction()?;
    // Not while another process migrates.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let mut tables = schema_tables();
    tables.push("schema_migrations");
    // The names come from our own migrations, not from input.
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS {} CASCADE",
        tables.join(", ")
    ))?;
    tx.commit()?;
    Ok(())
}

fn connect(
    config: &postgres::Config,
    statement_timeout: Option<std::time::Duration>,
) -> Result<PgConn, StoreError> {
    let mut client = config.connect(NoTls)?;
    if let Some(limit) = statement_timeout {
        // For the whole session; an import lifts it for its own transaction (SET LOCAL).
        let ms = format!("{}ms", limit.as_millis().max(1));
        client.execute("SELECT set_config('statement_timeout', $1, false)", &[&ms])?;
    }
    let records_of_person = client.prepare(&RECORDS_OF_PERSON)?;
    let records_for_key = client.prepare(&RECORDS_FOR_KEY)?;
    let person = client.prepare(&format!(
        "SELECT {} FROM persons WHERE person_id = $1",
        list(&PERSON_COLUMNS)
    ))?;
    let service = service::Statements::prepare(&mut client)?;
    Ok(PgConn {
        client,
        records_of_person,
        records_for_key,
        person,
        service,
    })
}

impl PgStore {
    /// Connects, brings the schema up to date and keeps a pool of connections.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &StoreOptions::default())
    }

    /// Connects as [`PgStore::connect`], with at most `pool_size` connections, each with
    /// `statement_timeout` set (the migrations run without it, on a connection of their own).
    pub fn connect_with(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let mut first = Client::connect(url, NoTls)?;
        migrate(&mut first)?;
        drop(first);
        let primary: postgres::Config = url.parse()?;
        let timeout = options.statement_timeout;
        let check_pool = match (&options.replica_url, options.async_check_path) {
            (None, true) => Some(check_path::pool(url, options)?),
            _ => None,
        };
        let replica = match &options.replica_url {
            Some(replica_url) => {
                let config = replica::config(replica_url)?;
                let pool = Pool::new(Box::new(move || connect(&config, timeout)), 128)
                    .with_size(options.pool_size, options.pool_wait)
                    .with_broken_check(|c| c.client.is_closed());
                Some(replica::Replica::new(pool, options.replica_max_lag))
            }
            None => None,
        };
        let for_pool = primary.clone();
        Ok(Self {
            // Enough idle connections for every blocking worker that may hold one: closing and
            // reopening connections under load costs more than keeping them.
            pool: Pool::new(Box::new(move || connect(&for_pool, timeout)), 128)
                .with_size(options.pool_size, options.pool_wait)
                .with_broken_check(|c| c.client.is_closed()),
            replica,
            audit_months: AuditMonths::default(),
            check_pool,
            primary,
        })
    }

    fn query_records(
        &self,
        pick: impl Fn(&PgConn) -> &Statement,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<EligibilityRecord>, StoreError> {
        self.read(|conn| {
            let stmt = pick(conn).clone();
            let rows = conn.client.query(&stmt, params)?;
            rows.iter().map(decode_record).collect()
        })
    }

    /// Makes sure the audit log has the partitions of `at`'s month and the next (UTC), so that
    /// checks land in their month's partition; a month already known costs a set look-up.
    pub(crate) fn ensure_audit_partitions(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let month = audit_month(at);
        if month_known(&self.audit_months, month) {
            return Ok(());
        }
        self.with(|conn| create_audit_partitions(&mut conn.client, month))?;
        note_month(&self.audit_months, month);
        Ok(())
    }

    /// Runs a read of eligibility or card links on the replica while it is usable (an error
    /// that says it cannot be reached sends this read and the next ones to the primary until
    /// the next probe), else on the primary.
    fn read<T>(&self, f: impl Fn(&mut PgConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if let Some(replica) = self.replica.as_ref().filter(|r| r.usable()) {
            let answer = replica.pool.get().and_then(|mut conn| {
                let answer = f(&mut conn);
                if answer.is_err() && conn.client.is_closed() {
                    conn.discard();
                }
                answer
            });
            match answer {
                Err(e) if e.is_unavailable() => replica.failed(&e),
                answer => return answer,
            }
        }
        let mut conn = self.pool.get()?;
        let answer = f(&mut conn);
        if answer.is_err() && conn.client.is_closed() {
            conn.discard();
        }
        answer
    }
}

/// The month of a time (year × 12 + month − 1, UTC), as [`AuditMonths`] counts.
fn audit_month(at: chrono::DateTime<chrono::Utc>) -> i32 {
    use chrono::Datelike;
    at.year() * 12 + i32::try_from(at.month0()).unwrap_or(0)
}

fn month_known(months: &AuditMonths, month: i32) -> bool {
    months.lock().map(|k| k.contains(&month)).unwrap_or(false)
}

fn note_month(months: &AuditMonths, month: i32) {
    if let Ok(mut k) = months.lock() {
        k.insert(month);
        k.insert(month + 1);
    }
}

/// Creates the audit log's partitions of `month` and the next, where missing. A month whose
/// rows already sit in the default partition keeps them there (logged).
fn create_audit_partitions(client: &mut Client, month: i32) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])?;
    for m in [month, month + 1] {
        let (name, from, to) = audit_partition(m);
        let exists: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])?
            .get(0);
        if exists {
            continue;
        }
        tx.batch_execute("SAVEPOINT onshi_partition")?;
        // The name and the bounds are made of numbers, not of input.
        let created = tx.batch_execute(&format!(
            "CREATE TABLE {name} PARTITION OF audit_log FOR VALUES FROM ('{from}') TO ('{to}')"
        ));
        match created {
            Ok(()) => {
                tx.batch_execute("RELEASE SAVEPOINT onshi_partition")?;
                tracing::info!(partition = %name, "audit log partition created");
            }
            Err(e) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT onshi_partition")?;
                tracing::warn!(
                    partition = %name,
                    cause = %StoreError::from(e),
                    "audit log partition not created: the month's rows stay in audit_log_default"
                );
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Appends one value in COPY text format.
fn copy_value(buf: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => buf.extend_from_slice(b"\\N"),
        Value::Date(d) => {
            // Writing into a Vec cannot fail.
            let _ = write!(buf, "{}", d.format("%Y-%m-%d"));
        }
        Value::Time(t) => {
            // As above; microseconds, the precision of timestamptz.
            let _ = write!(buf, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00"));
        }
        Value::Bool(b) => buf.push(if *b { b't' } else { b'f' }),
        Value::Text(s) => {
            for &b in s.as_bytes() {
                match b {
                    b'\\' => buf.extend_from_slice(b"\\\\"),
                    b'\t' => buf.extend_from_slice(b"\\t"),
                    b'\n' => buf.extend_from_slice(b"\\n"),
                    b'\r' => buf.extend_from_slice(b"\\r"),
                    _ => buf.push(b),
                }
            }
        }
    }
}

fn copy_row(buf: &mut Vec<u8>, values: &[Value<'_>]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        copy_value(buf, v);
    }
    buf.push(b'\n');
}

/// Streams COPY text-format rows into a table.
fn copy(
    client: &mut Client,
    table: &str,
    columns: &[&str],
    data: &[u8],
) -> Result<u64, StoreError> {
    let mut writer = client.copy_in(&format!("COPY {table} ({}) FROM STDIN", list(columns)))?;
    writer.write_all(data).map_err(|e| StoreError::Io {
        path: "COPY".into(),
        source: e,
    })?;
    Ok(writer.finish()?)
}

/// Merges staged card links. A card stays registered once registered (`registered` is OR-ed);
/// identical rows are skipped as in [`Staging::merge_sql`].
const MERGE_CARD_LINKS: &str =
    "INSERT INTO card_links (issuer, serial, person_id, not_before, not_after, registered)
     SELECT issuer, serial, person_id, not_before, not_after, registered FROM staging_card_links
     ON CONFLICT (issuer, serial) DO UPDATE SET person_id = EXCLUDED.person_id,
         not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after,
         registered = card_links.registered OR EXCLUDED.registered
     WHERE (card_links.person_id, card_links.not_before, card_links.not_after,
            card_links.registered)
         IS DISTINCT FROM (EXCLUDED.person_id, EXCLUDED.not_before, EXCLUDED.not_after,
            card_links.registered OR EXCLUDED.registered)";

/// One staging table and its pending COPY data.
struct Staging {
    table: &'static str,
    target: &'static str,
    columns: &'static [&'static str],
    key: &'static str,
    /// The merge statement when the generic one does not fit.
    merge: Option<&'static str>,
    created: bool,
    rows: u64,
    changed: u64,
    buf: Vec<u8>,
    buf_rows: u64,
}

impl Staging {
    fn new(
        table: &'static str,
        target: &'static str,
        columns: &'static [&'static str],
        key: &'static str,
    ) -> Self {
        Self {
            table,
            target,
            columns,
            key,
            merge: None,
            created: false,
            rows: 0,
            changed: 0,
            buf: Vec::new(),
            buf_rows: 0,
        }
    }

    /// Sends the buffered rows. First optimistically with COPY straight into the target (the
    /// bulk case: new rows, as fast as a bare COPY); if any row's key is already stored, that
    /// chunk is undone to a savepoint and goes through the staging table and `INSERT … ON
    /// CONFLICT` instead, so the server merges one chunk while the feed checks the next.
    fn flush(&mut self, client: &mut Client) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        client.batch_execute("SAVEPOINT onshi_chunk")?;
        if copy(client, self.target, self.columns, &self.buf).is_ok() {
            client.batch_execute("RELEASE SAVEPOINT onshi_chunk")?;
            self.changed += self.buf_rows;
        } else {
            client.batch_execute(
                "ROLLBACK TO SAVEPOINT onshi_chunk; RELEASE SAVEPOINT onshi_chunk",
            )?;
            if !self.created {
                // LIKE copies the NOT NULL constraints but no index: staging costs no index
                // upkeep.
                client.batch_execute(&format!(
                    "CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP",
                    self.table, self.target
                ))?;
                self.created = true;
            }
            copy(client, self.table, self.columns, &self.buf)?;
            let merge = match self.merge {
                Some(sql) => sql.to_owned(),
                None => self.merge_sql(),
            };
            self.changed += client.execute(&merge, &[])?;
            client.batch_execute(&format!("TRUNCATE {}", self.table))?;
        }
        self.buf.clear();
        self.buf_rows = 0;
        Ok(())
    }

    /// `INSERT … ON CONFLICT` from the staging table into the target. Identical rows are
    /// skipped by the WHERE, so a re-import writes nothing.
    fn merge_sql(&self) -> String {
        let keys: Vec<&str> = self.key.split(", ").collect();
        let rest: Vec<&str> = self
            .columns
            .iter()
            .copied()
            .filter(|c| !keys.contains(c))
            .collect();
        let sets: Vec<String> = rest.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let current: Vec<String> = rest
            .iter()
            .map(|c| format!("{}.{c}", self.target))
            .collect();
        let excluded: Vec<String> = rest.iter().map(|c| format!("EXCLUDED.{c}")).collect();
        let cols = list(self.columns);
        format!(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM {table}
             ON CONFLICT ({key}) DO UPDATE SET {sets}
             WHERE ({current}) IS DISTINCT FROM ({excluded})",
            target = self.target,
            table = self.table,
            key = self.key,
            sets = sets.join(", "),
            current = current.join(", "),
            excluded = excluded.join(", "),
        )
    }

    /// Uses `sql` to merge the staging table into the target.
    fn with_merge(mut self, sql: &'static str) -> Self {
        self.merge = Some(sql);
        self
    }

    /// Merges what is still buffered; returns how many rows were new or changed in all.
    fn finish(&mut self, client: &mut Client) -> Result<u64, StoreError> {
        self.flush(client)?;
        Ok(self.changed)
    }
}

struct PgImport<'a> {
    conn: Option<Pooled<'a, PgConn>>,
    persons: Staging,
    records: Staging,
    card_links: Staging,
}

impl PgImport<'_> {
    fn stage<T, const N: usize>(
        conn: &mut Option<Pooled<'_, PgConn>>,
        staging: &mut Staging,
        items: &[T],
        values: impl for<'x> Fn(&'x T) -> [Value<'x>; N],
    ) -> Result<(), StoreError> {
        let Some(conn) = conn.as_mut() else {
            return Ok(());
        };
        for item in items {
            copy_row(&mut staging.buf, &values(item));
            staging.rows += 1;
            staging.buf_rows += 1;
            if staging.buf.len() >= COPY_FLUSH_BYTES {
                staging.flush(&mut conn.client)?;
            }
        }
        Ok(())
    }
}

impl ImportTx for PgImport<'_> {
    fn put_persons(&mut self, persons: &[Person]) -> Result<(), StoreError> {
        Self::stage(&mut self.conn, &mut self.persons, persons, person_values)
    }

    fn put_records(&mut self, records: &[EligibilityRecord]) -> Result<(), StoreError> {
        Self::stage(&mut self.conn, &mut self.records, records, record_values)
    }

    fn put_card_links(&mut self, links: &[CardLink]) -> Result<(), StoreError> {
        Self::stage(
            &mut self.conn,
            &mut self.card_links,
            links,
            card_link_values,
        )
    }

    fn commit(mut self: Box<Self>) -> Result<ImportCounts, StoreError> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(ImportCounts::default());
        };
        let result = (|| {
            let changed = self.persons.finish(&mut conn.client)?
                + self.records.finish(&mut conn.client)?
                + self.card_links.finish(&mut conn.client)?;
            conn.client.batch_execute("COMMIT")?;
            Ok(changed)
        })();
        match result {
            Ok(changed) => Ok(ImportCounts {
                changed,
                unchanged: self.persons.rows + self.records.rows + self.card_links.rows - changed,
            }),
            Err(e) => {
                if conn.client.batch_execute("ROLLBACK").is_err() {
                    conn.discard();
                }
                Err(e)
            }
        }
    }
}

impl Drop for PgImport<'_> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if conn.client.batch_execute("ROLLBACK").is_err() {
                conn.discard();
            }
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The sync client closes its connection by blocking on its own runtime, which panics on
        // a thread that drives an async runtime (the server's). Close them on a plain thread.
        let mut idle = self.pool.drain();
        if let Some(replica) = &self.replica {
            idle.extend(replica.pool.drain());
        }
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl Store for PgStore {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    fn begin_import(&self) -> Result<Box<dyn ImportTx + '_>, StoreError> {
        let mut conn = self.pool.get()?;
        // An import of millions of rows may run for minutes: not bound by statement_timeout.
        conn.client
            .batch_execute("BEGIN; SET LOCAL statement_timeout = 0")?;
        Ok(Box::new(PgImport {
            conn: Some(conn),
            persons: Staging::new("staging_persons", "persons", &PERSON_COLUMNS, "person_id"),
            records: Staging::new(
                "staging_eligibility",
                "eligibility",
                &RECORD_COLUMNS,
                RECORD_KEY,
            ),
            card_links: Staging::new(
                "staging_card_links",
                "card_links",
                &CARD_LINK_COLUMNS,
                "issuer, serial",
            )
            .with_merge(MERGE_CARD_LINKS),
        }))
    }

    fn person(&self, id: &PersonId) -> Result<Option<Person>, StoreError> {
        self.read(|conn| {
            let stmt = conn.person.clone();
            let row = conn.client.query_opt(&stmt, &[&id.as_str()])?;
            row.as_ref().map(decode_person).transpose()
        })
    }

    fn person_ids(&self) -> Result<HashSet<PersonId>, StoreError> {
        let mut conn = self.pool.get()?;
        let mut ids = HashSet::new();
        for row in conn.client.query("SELECT person_id FROM persons", &[])? {
            let s: &str = row.try_get(0)?;
            ids.insert(PersonId::parse(s).map_err(|e| StoreError::Corrupt {
                column: "person_id",
                value: s.to_owned(),
                reason: e.to_string(),
            })?);
        }
        Ok(ids)
    }

    fn records_of_person(&self, id: &PersonId) -> Result<Vec<EligibilityRecord>, StoreError> {
        self.query_records(|c| &c.records_of_person, &[&id.as_str()])
    }

    fn records_for_key(&self, q: &KeyQuery) -> Result<Vec<EligibilityRecord>, StoreError> {
        let key = KeyParams::of(q);
        self.query_records(|c| &c.records_for_key, &key.params())
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn.client.query_one(
            "SELECT (SELECT COUNT(*) FROM persons), (SELECT COUNT(*) FROM eligibility)",
            &[],
        )?;
        Ok(StoreCounts {
            persons: row.get::<_, i64>(0) as u64,
            records: row.get::<_, i64>(1) as u64,
        })
    }
}
