//! The eligibility service's storage on PostgreSQL, shared by every instance. A read-then-write
//! (an enrollment, a chain append) locks the terminal's row with `SELECT … FOR UPDATE`, so
//! instances serialise per terminal and never on one global lock.

use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator;
use std::sync::LazyLock;

use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, Statement, Transaction};

use super::{PgConn, PgStore};
use crate::group::{AuditJob, AuditResult};
use crate::service::{
    audit_mac, audit_seal, decide_enrollment, same_hash, stored_crl_number, stored_time,
    terminal_id, AuditEntry, AuditHead, AuditKey, AuditKeyMismatch, AuditRecord, AuditVerification,
    CardLink, ChainCheck, Clinic, EnrollDecision, EnrollRefusal, Finish, HeadRow, NonceSpent,
    ServiceStore, StoredCrl, Terminal, TerminalStatus, AUDIT_KEY_ID, GENESIS_HASH, HEAD_COLUMNS,
    LEGACY_ISSUER,
};
use crate::service_columns::{
    decode_audit, decode_card_link, decode_clinic, decode_crl, decode_enroll_state,
    decode_terminal, hash32, ServiceRow, AUDIT_COLUMNS, CARD_LINK_COLUMNS, CLINIC_COLUMNS,
    CRL_COLUMNS, ENROLL_COLUMNS, TERMINAL_COLUMNS,
};
use crate::StoreError;

/// The statements of every request, prepared once per connection.
pub(crate) struct Statements {
    active_terminal_by_serial: Statement,
    card_link: Statement,
    crl_generation: Statement,
    lock_head: Statement,
    append_audit: Statement,
}

/// The active terminal of a client certificate's serial.
pub(super) static ACTIVE_TERMINAL_BY_SERIAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TERMINAL_COLUMNS} FROM terminals
         WHERE certificate_serial = $1 AND status = 'active'"
    )
});

/// A card's link.
pub(super) static CARD_LINK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM card_links WHERE issuer = $1 AND serial = $2",
        CARD_LINK_COLUMNS.join(", ")
    )
});

/// A terminal's audit head, locked until the transaction ends.
pub(super) const LOCK_HEAD: &str =
    "SELECT checks, audit_head FROM terminals WHERE id = $1 FOR UPDATE";

/// The audit row and the new head in one statement; a spent nonce inserts nothing and so
/// updates nothing. The challenge is spent in spent_nonces (the audit log is partitioned: no
/// unique index over all of it); the audit row only follows a nonce that was not spent.
/// Parameters: [`AppendValues::params`].
pub(super) static APPEND_AUDIT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH spent AS (
            INSERT INTO spent_nonces (nonce_id, spent_at)
            SELECT $10::bytea, $3::timestamptz WHERE $10::bytea IS NOT NULL
            ON CONFLICT (nonce_id) DO NOTHING
            RETURNING 1
         ), inserted AS (
            INSERT INTO audit_log ({AUDIT_COLUMNS})
            SELECT $1::text, $2::bigint, $3::timestamptz, $4::bigint, $5::text, $6::text,
                $7::text, $8::text, $9::text, $10::bytea, $11::bytea, $12::bytea,
                $13::text
            WHERE $10::bytea IS NULL OR EXISTS (SELECT 1 FROM spent)
            RETURNING 1
         )
         UPDATE terminals SET checks = $2, audit_head = $12, last_used_at = $3
         WHERE id = $1 AND EXISTS (SELECT 1 FROM inserted)"
    )
});

/// 利用登録 of a card, in the transaction of the check that registers it.
pub(super) const REGISTER_CARD: &str = "UPDATE card_links SET registered = true,
         registered_at = COALESCE(registered_at, $2)
     WHERE issuer = $3 AND serial = $1";

impl Statements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Self, StoreError> {
        Ok(Self {
            active_terminal_by_serial: client.prepare(&ACTIVE_TERMINAL_BY_SERIAL)?,
            card_link: client.prepare(&CARD_LINK)?,
            crl_generation: client
                .prepare("SELECT value FROM counters WHERE name = 'crl_generation'")?,
            lock_head: client.prepare(LOCK_HEAD)?,
            append_audit: client.prepare(&APPEND_AUDIT)?,
        })
    }
}

/// The next record of a chain whose head is `head` (the row of [`LOCK_HEAD`]).
pub(super) struct NextRecord {
    pub(super) seq: i64,
    pub(super) prev_hash: [u8; 32],
    pub(super) hash: [u8; 32],
}

impl NextRecord {
    pub(super) fn after(
        head: &postgres::Row,
        key: &AuditKey,
        entry: &AuditEntry,
    ) -> Result<Self, StoreError> {
        let checks: i64 = head.try_get(0)?;
        let prev_hash = hash32("audit_head", head.try_get(1)?)?;
        let seq = checks + 1;
        let hash = audit_mac(key, &prev_hash, entry, seq);
        Ok(Self {
            seq,
            prev_hash,
            hash,
        })
    }

    /// The stored record, once written.
    pub(super) fn record(self, entry: &AuditEntry) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            entry: entry.clone(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// The values of [`APPEND_AUDIT`], borrowed from the entry and its place in the chain.
pub(super) struct AppendValues<'a> {
    entry: &'a AuditEntry,
    next: &'a NextRecord,
    mode: &'static str,
    person: Option<&'a str>,
    nonce: Option<&'a [u8]>,
    prev_hash: &'a [u8],
    hash: &'a [u8],
}

impl<'a> AppendValues<'a> {
    pub(super) fn new(entry: &'a AuditEntry, next: &'a NextRecord) -> Self {
        Self {
            entry,
            next,
            mode: entry.mode.as_str(),
            person: entry.person_id.as_ref().map(onshi_model::PersonId::as_str),
            nonce: entry.nonce_id.as_ref().map(|n| &n[..]),
            prev_hash: &next.prev_hash[..],
            hash: &next.hash[..],
        }
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        let e = self.entry;
        [
            &e.terminal_id,
            &self.next.seq,
            &e.at,
            &e.clinic_id,
            &self.mode,
            &e.certificate_serial,
            &self.person,
            &e.answer,
            &e.reference_number,
            &self.nonce,
            &self.prev_hash,
            &self.hash,
            &e.recheck_of,
        ]
    }
}

impl ServiceRow for postgres::Row {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.try_get(i)?)
    }

    fn boolean(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(i)?)
    }
}

fn terminal_in(tx: &mut Transaction<'_>, id: &str) -> Result<Option<Terminal>, StoreError> {
    tx.query_opt(
        &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(decode_terminal)
    .transpose()
}

/// Appends one audit record to its terminal's chain (its head locked until the commit),
/// spending its nonce (and registering the card with `register`). A spent nonce writes nothing.
fn append_audit(
    tx: &mut Transaction<'_>,
    lock_head: &Statement,
    append: &Statement,
    job: &AuditJob,
) -> Result<AuditResult, StoreError> {
    let AuditJob {
        key,
        entry,
        register,
    } = job;
    let Some(head) = tx.query_opt(lock_head, &[&entry.terminal_id])? else {
        return Err(StoreError::NotFound {
            what: "terminal",
            id: entry.terminal_id.clone(),
        });
    };
    let next = NextRecord::after(&head, key, entry)?;
    let updated = tx.execute(append, &AppendValues::new(entry, &next).params())?;
    if updated == 0 {
        return Ok(Err(NonceSpent));
    }
    // 利用登録 only once the challenge is spent and the record written, in this transaction:
    // both or neither (an error drops the transaction: rolled back).
    if let Some(link) = register {
        let n = tx.execute(REGISTER_CARD, &[&link.serial, &entry.at, &link.issuer])?;
        if n != 1 {
            return Err(StoreError::NotFound {
                what: "card link",
                id: link.serial.clone(),
            });
        }
    }
    Ok(Ok(next.record(entry)))
}

impl PgStore {
    /// Runs `f` on a pooled connection; a connection that broke is not given back.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut PgConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        let result = f(&mut conn);
        if result.is_err() && conn.client.is_closed() {
            conn.discard();
        }
        result
    }

    /// Runs `f` in a transaction; an error rolls back.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<Finish<T>, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|conn| {
            let mut tx = conn.client.transaction()?;
            match f(&mut tx)? {
                Finish::Commit(v) => {
                    tx.commit()?;
                    Ok(v)
                }
                Finish::Rollback(v) => {
                    tx.rollback()?;
                    Ok(v)
                }
            }
        })
    }

    /// Every row of a query, decoded.
    fn all<T>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        decode: impl Fn(&postgres::Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.with(|conn| conn.client.query(sql, params)?.iter().map(decode).collect())
    }

    /// The row of a query, if any, decoded.
    fn one<T>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        decode: impl Fn(&postgres::Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.with(|conn| {
            conn.client
                .query_opt(sql, params)?
                .as_ref()
                .map(decode)
                .transpose()
        })
    }

    /// The number of rows a statement changed.
    fn execute(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.with(|conn| Ok(conn.client.execute(sql, params)?))
    }
}

impl ServiceStore for PgStore {
    fn check_path(&self) -> Option<std::sync::Arc<dyn crate::check_path::CheckStore>> {
        self.async_check_path()
    }

    fn portal(&self) -> &dyn crate::portal::PortalDb {
        self
    }

    fn checks_since(&self, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let n = self
            .one(
                "SELECT count(*) FROM audit_log WHERE at >= $1",
                &[&since],
                |r| Ok(r.try_get::<_, i64>(0)?),
            )?
            .unwrap_or(0);
        Ok(n.max(0) as u64)
    }

    fn count_request(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        // Not a prepared statement of every connection: replicas cannot plan a statement on
        // an unlogged table.
        let hits = self
            .one(
                "INSERT INTO rate_counters (counter_key, window_start, hits) VALUES ($1, $2, 1)
                 ON CONFLICT (counter_key, window_start)
                 DO UPDATE SET hits = rate_counters.hits + 1
                 RETURNING hits",
                &[&key, &window_start],
                |r| Ok(r.try_get::<_, i64>(0)?),
            )?
            .unwrap_or(0);
        Ok(hits.unsigned_abs())
    }

    fn prune_spent_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = stored_time(before);
        self.execute("DELETE FROM spent_nonces WHERE spent_at < $1", &[&before])
    }

    fn prune_request_counts(&self, before: i64) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM rate_counters WHERE window_start < $1",
            &[&before],
        )
    }

    fn add_clinic(
        &self,
        name: &str,
        registration: &str,
        now: DateTime<Utc>,
    ) -> Result<Clinic, StoreError> {
        let now = stored_time(now);
        let id = self.with(|conn| {
            Ok(conn
                .client
                .query_one(
                    "INSERT INTO clinics (name, registration, created_at) VALUES ($1, $2, $3)
                     RETURNING id",
                    &[&name, &registration, &now],
                )?
                .try_get(0)?)
        })?;
        Ok(Clinic {
            id,
            name: name.to_owned(),
            registration: registration.to_owned(),
            created_at: now,
        })
    }

    fn clinic(&self, id: i64) -> Result<Option<Clinic>, StoreError> {
        self.one(
            &format!("SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = $1"),
            &[&id],
            decode_clinic,
        )
    }

    fn clinics(&self) -> Result<Vec<Clinic>, StoreError> {
        self.all(
            &format!("SELECT {CLINIC_COLUMNS} FROM clinics ORDER BY id"),
            &[],
            decode_clinic,
        )
    }

    fn add_terminal(
        &self,
        clinic_id: i64,
        max_per_clinic: u32,
        code_hash: [u8; 32],
        code_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        name: Option<&str>,
    ) -> Result<Terminal, StoreError> {
        let now = stored_time(now);
        let code_expires_at = stored_time(code_expires_at);
        self.write(|tx| {
            // The clinic's row lock orders concurrent additions to one clinic, so that the count
            // below cannot be passed by two at once (NO KEY: the foreign-key checks of checks
            // and portal rows that name the clinic do not wait for it).
            if tx
                .query_opt(
                    "SELECT id FROM clinics WHERE id = $1 FOR NO KEY UPDATE",
                    &[&clinic_id],
                )?
                .is_none()
            {
                return Err(StoreError::NotFound {
                    what: "clinic",
                    id: clinic_id.to_string(),
                });
            }
            if max_per_clinic > 0 {
                let held: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM terminals WHERE clinic_id = $1 AND status <> 'revoked'",
                        &[&clinic_id],
                    )?
                    .try_get(0)?;
                if held >= i64::from(max_per_clinic) {
                    return Err(StoreError::TooManyTerminals {
                        clinic_id,
                        limit: max_per_clinic,
                    });
                }
            }
            // The counter's row lock orders concurrent additions: ids commit in order, no gaps.
            let n: i64 = tx
                .query_one(
                    "UPDATE counters SET value = value + 1 WHERE name = 'terminal' RETURNING value",
                    &[],
                )?
                .try_get(0)?;
            let id = terminal_id(n)?;
            tx.execute(
                "INSERT INTO terminals (id, clinic_id, status, created_at, code_hash,
                     code_expires_at, code_failures, checks, audit_head)
                 VALUES ($1, $2, 'pending', $3, $4, $5, 0, 0, $6)",
                &[
                    &id,
                    &clinic_id,
                    &now,
                    &&code_hash[..],
                    &code_expires_at,
                    &&GENESIS_HASH[..],
                ],
            )?;
            if let Some(name) = name {
                tx.execute(
                    "INSERT INTO portal_terminal_names (terminal_id, name) VALUES ($1, $2)",
                    &[&id, &name],
                )?;
            }
            Ok(Finish::Commit(Terminal {
                id,
                clinic_id,
                status: TerminalStatus::Pending,
                certificate_serial: None,
                created_at: now,
                enrolled_at: None,
                revoked_at: None,
                last_used_at: None,
                checks: 0,
            }))
        })
    }

    fn reset_enrollment_code(
        &self,
        id: &str,
        code_hash: [u8; 32],
        code_expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE terminals SET code_hash = $2, code_expires_at = $3, code_failures = 0
             WHERE id = $1 AND status = 'pending'",
            &[&id, &&code_hash[..], &stored_time(code_expires_at)],
        )?;
        Ok(n == 1)
    }

    fn terminal(&self, id: &str) -> Result<Option<Terminal>, StoreError> {
        self.one(
            &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = $1"),
            &[&id],
            decode_terminal,
        )
    }

    fn terminals_of_clinic(&self, clinic_id: i64) -> Result<Vec<Terminal>, StoreError> {
        self.all(
            &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE clinic_id = $1 ORDER BY id"),
            &[&clinic_id],
            decode_terminal,
        )
    }

    fn enroll_terminal(
        &self,
        id: &str,
        code_hash: [u8; 32],
        certificate_serial: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Terminal, EnrollRefusal>, StoreError> {
        let now = stored_time(now);
        self.write(|tx| {
            let state = tx
                .query_opt(
                    &format!("SELECT {ENROLL_COLUMNS} FROM terminals WHERE id = $1 FOR UPDATE"),
                    &[&id],
                )?
                .as_ref()
                .map(decode_enroll_state)
                .transpose()?;
            match decide_enrollment(state.as_ref(), &code_hash, now) {
                EnrollDecision::Refuse(r) => Ok(Finish::Rollback(Err(r))),
                EnrollDecision::WrongCode { failures, spend } => {
                    let sql = if spend {
                        "UPDATE terminals SET code_failures = $2, code_hash = NULL,
                             code_expires_at = NULL WHERE id = $1"
                    } else {
                        "UPDATE terminals SET code_failures = $2 WHERE id = $1"
                    };
                    tx.execute(sql, &[&id, &failures])?;
                    Ok(Finish::Commit(Err(EnrollRefusal::WrongCode)))
                }
                EnrollDecision::Enroll => {
                    tx.execute(
                        "UPDATE terminals SET status = 'active', certificate_serial = $2,
                             enrolled_at = $3, code_hash = NULL, code_expires_at = NULL
                         WHERE id = $1",
                        &[&id, &certificate_serial, &now],
                    )?;
                    let terminal = terminal_in(tx, id)?.ok_or_else(|| StoreError::NotFound {
                        what: "terminal",
                        id: id.to_owned(),
                    })?;
                    Ok(Finish::Commit(Ok(terminal)))
                }
            }
        })
    }

    fn renew_terminal_certificate(
        &self,
        id: &str,
        new_serial: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE terminals SET certificate_serial = $2, enrolled_at = $3
             WHERE id = $1 AND status = 'active'",
            &[&id, &new_serial, &stored_time(now)],
        )?;
        Ok(n == 1)
    }

    fn revoke_terminal(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE terminals SET status = 'revoked', revoked_at = $2, code_hash = NULL,
                 code_expires_at = NULL
             WHERE id = $1 AND status <> 'revoked'",
            &[&id, &stored_time(now)],
        )?;
        Ok(n == 1)
    }

    fn active_terminal_by_serial(&self, serial: &str) -> Result<Option<Terminal>, StoreError> {
        self.with(|conn| {
            let stmt = conn.service.active_terminal_by_serial.clone();
            conn.client
                .query_opt(&stmt, &[&serial])?
                .as_ref()
                .map(decode_terminal)
                .transpose()
        })
    }

    fn card_link(&self, issuer: &str, serial: &str) -> Result<Option<CardLink>, StoreError> {
        self.read(|conn| {
            let stmt = conn.service.card_link.clone();
            conn.client
                .query_opt(&stmt, &[&issuer, &serial])?
                .as_ref()
                .map(decode_card_link)
                .transpose()
        })
    }

    fn adopt_legacy_card_links(&self, issuer: &str) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE card_links SET issuer = $1
             WHERE issuer = $2 AND NOT EXISTS (
                 SELECT 1 FROM card_links AS taken
                 WHERE taken.issuer = $1 AND taken.serial = card_links.serial)",
            &[&issuer, &LEGACY_ISSUER],
        )
    }

    fn register_card(
        &self,
        issuer: &str,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE card_links SET registered = true,
                 registered_at = COALESCE(registered_at, $3)
             WHERE issuer = $1 AND serial = $2",
            &[&issuer, &serial, &stored_time(now)],
        )?;
        Ok(n == 1)
    }

    fn put_crl(&self, crl: &StoredCrl, revoked: &[String]) -> Result<bool, StoreError> {
        let loaded_at = stored_time(crl.loaded_at);
        let number = crl.number.as_deref().map(stored_crl_number).transpose()?;
        self.write(|tx| {
            let stored = tx.execute(
                "INSERT INTO crls (issuer, number, der, loaded_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (issuer) DO UPDATE SET number = EXCLUDED.number,
                     der = EXCLUDED.der, loaded_at = EXCLUDED.loaded_at
                 WHERE crls.number IS NULL OR EXCLUDED.number > crls.number",
                &[&crl.issuer, &number, &crl.der, &loaded_at],
            )?;
            if stored == 0 {
                return Ok(Finish::Rollback(false));
            }
            if !revoked.is_empty() {
                tx.execute(
                    "INSERT INTO crl_revoked (issuer, serial) SELECT $1, unnest($2::text[])
                     ON CONFLICT DO NOTHING",
                    &[&crl.issuer, &revoked],
                )?;
            }
            tx.execute(
                "UPDATE counters SET value = value + 1 WHERE name = 'crl_generation'",
                &[],
            )?;
            Ok(Finish::Commit(true))
        })
    }

    fn remove_crl(&self, issuer: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            if tx.execute("DELETE FROM crls WHERE issuer = $1", &[&issuer])? == 0 {
                return Ok(Finish::Rollback(false));
            }
            tx.execute(
                "UPDATE counters SET value = value + 1 WHERE name = 'crl_generation'",
                &[],
            )?;
            Ok(Finish::Commit(true))
        })
    }

    fn crls(&self) -> Result<Vec<StoredCrl>, StoreError> {
        self.all(
            &format!("SELECT {CRL_COLUMNS} FROM crls ORDER BY issuer"),
            &[],
            decode_crl,
        )
    }

    fn crl_revoked(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.all(
            "SELECT issuer, serial FROM crl_revoked ORDER BY issuer, serial",
            &[],
            |r| Ok((r.try_get(0)?, r.try_get(1)?)),
        )
    }

    fn crl_generation(&self) -> Result<i64, StoreError> {
        self.with(|conn| {
            let stmt = conn.service.crl_generation.clone();
            Ok(conn.client.query_one(&stmt, &[])?.try_get(0)?)
        })
    }

    fn secret(&self, name: &str, generate: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
        self.with(|conn| {
            let read = |client: &mut Client| -> Result<Option<Vec<u8>>, StoreError> {
                Ok(client
                    .query_opt("SELECT value FROM secrets WHERE name = $1", &[&name])?
                    .map(|r| r.try_get(0))
                    .transpose()?)
            };
            if let Some(v) = read(&mut conn.client)? {
                return Ok(v);
            }
            conn.client.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &generate()],
            )?;
            read(&mut conn.client)?.ok_or_else(|| StoreError::NotFound {
                what: "secret",
                id: name.to_owned(),
            })
        })
    }

    fn record_check(
        &self,
        key: &AuditKey,
        entry: &AuditEntry,
        register: Option<&CardLink>,
    ) -> Result<Result<AuditRecord, NonceSpent>, StoreError> {
        let mut entry = entry.clone();
        entry.at = stored_time(entry.at);
        self.ensure_audit_partitions(entry.at)?;
        let job = AuditJob {
            key: key.clone(),
            entry,
            register: register.cloned(),
        };
        // One transaction per check, not a group of them: PostgreSQL's WAL flush already
        // covers every commit record written before it (its own group commit), while a batch
        // here would send the checks' statements one after the other on one connection instead
        // of side by side on many (measured: half the checks a second, docs/performance.md).
        self.with(|conn| {
            let lock_head = conn.service.lock_head.clone();
            let append = conn.service.append_audit.clone();
            let mut tx = conn.client.transaction()?;
            let result = append_audit(&mut tx, &lock_head, &append, &job)?;
            match result {
                Ok(_) => tx.commit()?,
                Err(NonceSpent) => tx.rollback()?,
            }
            Ok(result)
        })
    }

    fn adopt_audit_key(
        &self,
        key: &AuditKey,
        seal_legacy: bool,
    ) -> Result<Result<u64, AuditKeyMismatch>, StoreError> {
        let id = key.id();
        self.write(|tx| {
            // Instances starting together adopt one after the other.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('onshi audit key'))",
                &[],
            )?;
            let stored: Option<Vec<u8>> = tx
                .query_opt(
                    "SELECT value FROM secrets WHERE name = $1",
                    &[&AUDIT_KEY_ID],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            match stored {
                Some(s) if same_hash(&s, &id) => return Ok(Finish::Rollback(Ok(0))),
                Some(_) => return Ok(Finish::Rollback(Err(AuditKeyMismatch))),
                None => {}
            }
            let mut sealed = 0;
            if seal_legacy {
                let rows = tx.query(
                    "SELECT id, checks, audit_head FROM terminals WHERE checks > 0 FOR UPDATE",
                    &[],
                )?;
                for row in rows {
                    let terminal: String = row.try_get(0)?;
                    let checks: i64 = row.try_get(1)?;
                    let head = hash32("audit_head", row.try_get(2)?)?;
                    let seal = audit_seal(key, &terminal, checks, &head);
                    tx.execute(
                        "UPDATE terminals SET audit_legacy_seq = $2, audit_legacy_seal = $3
                         WHERE id = $1",
                        &[&terminal, &checks, &&seal[..]],
                    )?;
                    sealed += 1;
                }
            }
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2)",
                &[&AUDIT_KEY_ID, &&id[..]],
            )?;
            Ok(Finish::Commit(Ok(sealed)))
        })
    }

    fn audit_verify(
        &self,
        key: &AuditKey,
        anchors: &[AuditHead],
    ) -> Result<Result<AuditVerification, AuditKeyMismatch>, StoreError> {
        self.with(|conn| {
            // One snapshot for the heads and the records.
            let mut tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let stored: Option<Vec<u8>> = tx
                .query_opt(
                    "SELECT value FROM secrets WHERE name = $1",
                    &[&AUDIT_KEY_ID],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            if stored.is_some_and(|s| !same_hash(&s, &key.id())) {
                return Ok(Err(AuditKeyMismatch));
            }
            let mut heads = Vec::new();
            for row in tx.query(
                &format!("SELECT {HEAD_COLUMNS} FROM terminals ORDER BY id"),
                &[],
            )? {
                let head: Option<Vec<u8>> = row.try_get(2)?;
                heads.push(HeadRow {
                    terminal_id: row.try_get(0)?,
                    checks: row.try_get(1)?,
                    head: head.and_then(|h| hash32("audit_head", h).ok()),
                    legacy_seq: row.try_get(3)?,
                    legacy_seal: row.try_get(4)?,
                });
            }
            let mut check = ChainCheck::new(key, heads, anchors);
            {
                // Streamed: the log may be far larger than memory.
                let mut rows = tx.query_raw(
                    &format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY terminal_id, seq"),
                    std::iter::empty::<&str>(),
                )?;
                while let Some(row) = rows.next()? {
                    let terminal_id: String = row.try_get(0)?;
                    let seq: i64 = row.try_get(1)?;
                    check.record(&terminal_id, seq, decode_audit(&row));
                }
            }
            tx.commit()?;
            Ok(Ok(check.finish()))
        })
    }

    fn audit_for_person(&self, person_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        self.all(
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE person_id = $1
                 ORDER BY at, terminal_id, seq"
            ),
            &[&person_id],
            decode_audit,
        )
    }

    fn audit_of_terminal(&self, terminal_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        self.all(
            &format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE terminal_id = $1 ORDER BY seq"),
            &[&terminal_id],
            decode_audit,
        )
    }
}
