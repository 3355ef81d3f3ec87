//! The eligibility service's storage on SQLite. Every write that must be atomic runs under
//! `BEGIN IMMEDIATE`, which takes the database's write lock first, so a read-then-write (an
//! enrollment, a chain append) never races another connection.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::SqliteStore;
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
    decode_terminal, hash32, time_from_micros, ServiceRow, AUDIT_COLUMNS, CARD_LINK_COLUMNS,
    CLINIC_COLUMNS, CRL_COLUMNS, ENROLL_COLUMNS, TERMINAL_COLUMNS,
};
use crate::StoreError;

/// A time as SQLite stores it: microseconds since the Unix epoch.
fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl ServiceRow for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }

    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get::<_, Option<i64>>(i)?
            .map(|v| time_from_micros("time", v))
            .transpose()
    }

    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get(i)?)
    }

    fn boolean(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.get::<_, i64>(i)? != 0)
    }
}

/// Runs a query and decodes every row.
fn all<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a query and decodes its row, if any.
fn one<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(decode).transpose()
}

fn terminal_in(conn: &rusqlite::Connection, id: &str) -> Result<Option<Terminal>, StoreError> {
    one(
        conn,
        &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = ?1"),
        [id],
        |r| decode_terminal(r),
    )
}

/// Appends one audit record to its terminal's chain, spending its nonce (and registering the
/// card with `register`), inside a transaction it may share with other records. A spent nonce
/// writes nothing.
fn append_audit(tx: &Transaction<'_>, job: &AuditJob) -> Result<AuditResult, StoreError> {
    let AuditJob {
        key,
        entry,
        register,
    } = job;
    let head: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT checks, audit_head FROM terminals WHERE id = ?1")?
        .query_row([&entry.terminal_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((checks, head)) = head else {
        return Err(StoreError::NotFound {
            what: "terminal",
            id: entry.terminal_id.clone(),
        });
    };
    let prev_hash = hash32("audit_head", head)?;
    let seq = checks + 1;
    let hash = audit_mac(key, &prev_hash, entry, seq);
    let inserted = tx
        .prepare_cached(&format!(
            "INSERT INTO audit_log ({AUDIT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (nonce_id) DO NOTHING"
        ))?
        .execute(params![
            entry.terminal_id,
            seq,
            us(entry.at),
            entry.clinic_id,
            entry.mode.as_str(),
            entry.certificate_serial,
            entry.person_id.as_ref().map(onshi_model::PersonId::as_str),
            entry.answer,
            entry.reference_number,
            entry.nonce_id.as_ref().map(|n| &n[..]),
            &prev_hash[..],
            &hash[..],
            entry.recheck_of,
        ])?;
    if inserted == 0 {
        return Ok(Err(NonceSpent));
    }
    tx.prepare_cached(
        "UPDATE terminals SET checks = ?2, audit_head = ?3, last_used_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![entry.terminal_id, seq, &hash[..], us(entry.at)])?;
    // 利用登録 only once the challenge is spent and the record written, in this transaction:
    // both or neither.
    if let Some(link) = register {
        let n = tx
            .prepare_cached(
                "UPDATE card_links SET registered = 1,
                     registered_at = COALESCE(registered_at, ?2)
                 WHERE issuer = ?3 AND serial = ?1",
            )?
            .execute(params![link.serial, us(entry.at), link.issuer])?;
        if n != 1 {
            return Err(StoreError::NotFound {
                what: "card link",
                id: link.serial.clone(),
            });
        }
    }
    Ok(Ok(AuditRecord {
        seq,
        entry: entry.clone(),
        prev_hash,
        hash,
    }))
}

impl SqliteStore {
    /// Runs `f` in a `BEGIN IMMEDIATE` transaction; an error rolls back.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<Finish<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let _queue = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut conn = self.pool.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match f(&tx)? {
            Finish::Commit(v) => {
                tx.commit()?;
                Ok(v)
            }
            Finish::Rollback(v) => {
                tx.rollback()?;
                Ok(v)
            }
        }
    }
}

impl ServiceStore for SqliteStore {
    fn portal(&self) -> &dyn crate::portal::PortalDb {
        self
    }

    fn checks_since(&self, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let conn = self.pool.get()?;
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM audit_log WHERE at >= ?1",
            [us(since)],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    fn count_request(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            let hits: i64 = tx
                .prepare_cached(
                    "INSERT INTO rate_counters (counter_key, window_start, hits)
                     VALUES (?1, ?2, 1)
                     ON CONFLICT (counter_key, window_start) DO UPDATE SET hits = hits + 1
                     RETURNING hits",
                )?
                .query_row(rusqlite::params![key, window_start], |r| r.get(0))?;
            Ok(Finish::Commit(hits.unsigned_abs()))
        })
    }

    fn prune_spent_challenges(&self, _before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn prune_request_counts(&self, before: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = tx
                .prepare_cached("DELETE FROM rate_counters WHERE window_start < ?1")?
                .execute([before])?;
            Ok(Finish::Commit(n as u64))
        })
    }

    fn add_clinic(
        &self,
        name: &str,
        registration: &str,
        now: DateTime<Utc>,
    ) -> Result<Clinic, StoreError> {
        let now = stored_time(now);
        let conn = self.pool.get()?;
        let id: i64 = conn
            .prepare_cached(
                "INSERT INTO clinics (name, registration, created_at) VALUES (?1, ?2, ?3)
                 RETURNING id",
            )?
            .query_row(params![name, registration, us(now)], |r| r.get(0))?;
        Ok(Clinic {
            id,
            name: name.to_owned(),
            registration: registration.to_owned(),
            created_at: now,
        })
    }

    fn clinic(&self, id: i64) -> Result<Option<Clinic>, StoreError> {
        let conn = self.pool.get()?;
        one(
            &conn,
            &format!("SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = ?1"),
            [id],
            |r| decode_clinic(r),
        )
    }

    fn clinics(&self) -> Result<Vec<Clinic>, StoreError> {
        let conn = self.pool.get()?;
        all(
            &conn,
            &format!("SELECT {CLINIC_COLUMNS} FROM clinics ORDER BY id"),
            [],
            |r| decode_clinic(r),
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
        self.write(|tx| {
            let clinic: Option<i64> = tx
                .prepare_cached("SELECT id FROM clinics WHERE id = ?1")?
                .query_row([clinic_id], |r| r.get(0))
                .optional()?;
            if clinic.is_none() {
                return Err(StoreError::NotFound {
                    what: "clinic",
                    id: clinic_id.to_string(),
                });
            }
            // The write transaction holds SQLite's one writer lock: no other addition runs
            // between this count and the insert.
            if max_per_clinic > 0 {
                let held: i64 = tx
                    .prepare_cached(
                        "SELECT count(*) FROM terminals WHERE clinic_id = ?1 AND status <> 'revoked'",
                    )?
                    .query_row([clinic_id], |r| r.get(0))?;
                if held >= i64::from(max_per_clinic) {
                    return Err(StoreError::TooManyTerminals {
                        clinic_id,
                        limit: max_per_clinic,
                    });
                }
            }
            let n: i64 = tx
                .prepare_cached(
                    "UPDATE counters SET value = value + 1 WHERE name = 'terminal' RETURNING value",
                )?
                .query_row([], |r| r.get(0))?;
            let id = terminal_id(n)?;
            tx.prepare_cached(
                "INSERT INTO terminals (id, clinic_id, status, created_at, code_hash,
                     code_expires_at, code_failures, checks, audit_head)
                 VALUES (?1, ?2, 'pending', ?3, ?4, ?5, 0, 0, ?6)",
            )?
            .execute(params![
                id,
                clinic_id,
                us(now),
                &code_hash[..],
                us(code_expires_at),
                &GENESIS_HASH[..]
            ])?;
            if let Some(name) = name {
                tx.prepare_cached(
                    "INSERT INTO portal_terminal_names (terminal_id, name) VALUES (?1, ?2)",
                )?
                .execute(params![id, name])?;
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
        let conn = self.pool.get()?;
        let n = conn
            .prepare_cached(
                "UPDATE terminals SET code_hash = ?2, code_expires_at = ?3, code_failures = 0
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, &code_hash[..], us(code_expires_at)])?;
        Ok(n == 1)
    }

    fn terminal(&self, id: &str) -> Result<Option<Terminal>, StoreError> {
        terminal_in(&*self.pool.get()?, id)
    }

    fn terminals_of_clinic(&self, clinic_id: i64) -> Result<Vec<Terminal>, StoreError> {
        let conn = self.pool.get()?;
        all(
            &conn,
            &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE clinic_id = ?1 ORDER BY id"),
            [clinic_id],
            |r| decode_terminal(r),
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
            let state = one(
                tx,
                &format!("SELECT {ENROLL_COLUMNS} FROM terminals WHERE id = ?1"),
                [id],
                |r| decode_enroll_state(r),
            )?;
            match decide_enrollment(state.as_ref(), &code_hash, now) {
                EnrollDecision::Refuse(r) => Ok(Finish::Rollback(Err(r))),
                EnrollDecision::WrongCode { failures, spend } => {
                    let sql = if spend {
                        "UPDATE terminals SET code_failures = ?2, code_hash = NULL,
                             code_expires_at = NULL WHERE id = ?1"
                    } else {
                        "UPDATE terminals SET code_failures = ?2 WHERE id = ?1"
                    };
                    tx.prepare_cached(sql)?.execute(params![id, failures])?;
                    Ok(Finish::Commit(Err(EnrollRefusal::WrongCode)))
                }
                EnrollDecision::Enroll => {
                    tx.prepare_cached(
                        "UPDATE terminals SET status = 'active', certificate_serial = ?2,
                             enrolled_at = ?3, code_hash = NULL, code_expires_at = NULL
                         WHERE id = ?1",
                    )?
                    .execute(params![id, certificate_serial, us(now)])?;
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
        let conn = self.pool.get()?;
        let n = conn
            .prepare_cached(
                "UPDATE terminals SET certificate_serial = ?2, enrolled_at = ?3
                 WHERE id = ?1 AND status = 'active'",
            )?
            .execute(params![id, new_serial, us(stored_time(now))])?;
        Ok(n == 1)
    }

    fn revoke_terminal(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let conn = self.pool.get()?;
        let n = conn
            .prepare_cached(
                "UPDATE terminals SET status = 'revoked', revoked_at = ?2, code_hash = NULL,
                     code_expires_at = NULL
                 WHERE id = ?1 AND status <> 'revoked'",
            )?
            .execute(params![id, us(stored_time(now))])?;
        Ok(n == 1)
    }

    fn active_terminal_by_serial(&self, serial: &str) -> Result<Option<Terminal>, StoreError> {
        let conn = self.pool.get()?;
        one(
            &conn,
            &format!(
                "SELECT {TERMINAL_COLUMNS} FROM terminals
                 WHERE certificate_serial = ?1 AND status = 'active'"
            ),
            [serial],
            |r| decode_terminal(r),
        )
    }

    fn card_link(&self, issuer: &str, serial: &str) -> Result<Option<CardLink>, StoreError> {
        let conn = self.pool.get()?;
        one(
            &conn,
            &format!(
                "SELECT {} FROM card_links WHERE issuer = ?1 AND serial = ?2",
                CARD_LINK_COLUMNS.join(", ")
            ),
            [issuer, serial],
            |r| decode_card_link(r),
        )
    }

    fn adopt_legacy_card_links(&self, issuer: &str) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE card_links SET issuer = ?1
                     WHERE issuer = ?2 AND NOT EXISTS (
                         SELECT 1 FROM card_links AS taken
                         WHERE taken.issuer = ?1 AND taken.serial = card_links.serial)",
                )?
                .execute(params![issuer, LEGACY_ISSUER])?;
            Ok(Finish::Commit(n as u64))
        })
    }

    fn register_card(
        &self,
        issuer: &str,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let conn = self.pool.get()?;
        let n = conn
            .prepare_cached(
                "UPDATE card_links SET registered = 1,
                     registered_at = COALESCE(registered_at, ?3)
                 WHERE issuer = ?1 AND serial = ?2",
            )?
            .execute(params![issuer, serial, us(stored_time(now))])?;
        Ok(n == 1)
    }

    fn put_crl(&self, crl: &StoredCrl, revoked: &[String]) -> Result<bool, StoreError> {
        let number = crl.number.as_deref().map(stored_crl_number).transpose()?;
        self.write(|tx| {
            let stored = tx
                .prepare_cached(
                    "INSERT INTO crls (issuer, number, der, loaded_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (issuer) DO UPDATE SET number = excluded.number,
                         der = excluded.der, loaded_at = excluded.loaded_at
                     WHERE crls.number IS NULL OR excluded.number > crls.number",
                )?
                .execute(params![crl.issuer, number, crl.der, us(crl.loaded_at)])?;
            if stored == 0 {
                return Ok(Finish::Rollback(false));
            }
            let mut keep = tx.prepare_cached(
                "INSERT INTO crl_revoked (issuer, serial) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?;
            for serial in revoked {
                keep.execute(params![crl.issuer, serial])?;
            }
            tx.prepare_cached(
                "UPDATE counters SET value = value + 1 WHERE name = 'crl_generation'",
            )?
            .execute([])?;
            Ok(Finish::Commit(true))
        })
    }

    fn remove_crl(&self, issuer: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx
                .prepare_cached("DELETE FROM crls WHERE issuer = ?1")?
                .execute([issuer])?;
            if n == 0 {
                return Ok(Finish::Rollback(false));
            }
            tx.prepare_cached(
                "UPDATE counters SET value = value + 1 WHERE name = 'crl_generation'",
            )?
            .execute([])?;
            Ok(Finish::Commit(true))
        })
    }

    fn crls(&self) -> Result<Vec<StoredCrl>, StoreError> {
        let conn = self.pool.get()?;
        all(
            &conn,
            &format!("SELECT {CRL_COLUMNS} FROM crls ORDER BY issuer"),
            [],
            |r| decode_crl(r),
        )
    }

    fn crl_revoked(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.pool.get()?;
        all(
            &conn,
            "SELECT issuer, serial FROM crl_revoked ORDER BY issuer, serial",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn crl_generation(&self) -> Result<i64, StoreError> {
        let conn = self.pool.get()?;
        let n = conn
            .prepare_cached("SELECT value FROM counters WHERE name = 'crl_generation'")?
            .query_row([], |r| r.get(0))?;
        Ok(n)
    }

    fn secret(&self, name: &str, generate: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let conn = self.pool.get()?;
        let read = |conn: &rusqlite::Connection| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(conn
                .prepare_cached("SELECT value FROM secrets WHERE name = ?1")?
                .query_row([name], |r| r.get(0))
                .optional()?)
        };
        if let Some(v) = read(&conn)? {
            return Ok(v);
        }
        conn.prepare_cached(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![name, generate()])?;
        read(&conn)?.ok_or_else(|| StoreError::NotFound {
            what: "secret",
            id: name.to_owned(),
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
        let job = AuditJob {
            key: key.clone(),
            entry,
            register: register.cloned(),
        };
        self.audits.submit(job, |jobs| {
            self.write(|tx| {
                let results = jobs
                    .iter()
                    .map(|job| append_audit(tx, job))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Finish::Commit(results))
            })
        })
    }

    fn adopt_audit_key(
        &self,
        key: &AuditKey,
        seal_legacy: bool,
    ) -> Result<Result<u64, AuditKeyMismatch>, StoreError> {
        let id = key.id();
        self.write(|tx| {
            let stored: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM secrets WHERE name = ?1")?
                .query_row([AUDIT_KEY_ID], |r| r.get(0))
                .optional()?;
            match stored {
                Some(s) if same_hash(&s, &id) => return Ok(Finish::Rollback(Ok(0))),
                Some(_) => return Ok(Finish::Rollback(Err(AuditKeyMismatch))),
                None => {}
            }
            let mut sealed = 0;
            if seal_legacy {
                let chains = all(
                    tx,
                    "SELECT id, checks, audit_head FROM terminals WHERE checks > 0",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            hash32("audit_head", r.get(2)?)?,
                        ))
                    },
                )?;
                for (terminal, checks, head) in chains {
                    let seal = audit_seal(key, &terminal, checks, &head);
                    tx.prepare_cached(
                        "UPDATE terminals SET audit_legacy_seq = ?2, audit_legacy_seal = ?3
                         WHERE id = ?1",
                    )?
                    .execute(params![terminal, checks, &seal[..]])?;
                    sealed += 1;
                }
            }
            tx.prepare_cached("INSERT INTO secrets (name, value) VALUES (?1, ?2)")?
                .execute(params![AUDIT_KEY_ID, &id[..]])?;
            Ok(Finish::Commit(Ok(sealed)))
        })
    }

    fn audit_verify(
        &self,
        key: &AuditKey,
        anchors: &[AuditHead],
    ) -> Result<Result<AuditVerification, AuditKeyMismatch>, StoreError> {
        let mut conn = self.pool.get()?;
        // One read transaction: the heads and the records are one snapshot (WAL).
        let tx = conn.transaction()?;
        let stored: Option<Vec<u8>> = tx
            .prepare_cached("SELECT value FROM secrets WHERE name = ?1")?
            .query_row([AUDIT_KEY_ID], |r| r.get(0))
            .optional()?;
        if stored.is_some_and(|s| !same_hash(&s, &key.id())) {
            return Ok(Err(AuditKeyMismatch));
        }
        let heads = all(
            &tx,
            &format!("SELECT {HEAD_COLUMNS} FROM terminals ORDER BY id"),
            [],
            |r| {
                let head: Option<Vec<u8>> = r.get(2)?;
                Ok(HeadRow {
                    terminal_id: r.get(0)?,
                    checks: r.get(1)?,
                    head: head.and_then(|h| hash32("audit_head", h).ok()),
                    legacy_seq: r.get(3)?,
                    legacy_seal: r.get(4)?,
                })
            },
        )?;
        let mut check = ChainCheck::new(key, heads, anchors);
        {
            let mut stmt = tx.prepare(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY terminal_id, seq"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let terminal_id: String = row.get(0)?;
                let seq: i64 = row.get(1)?;
                check.record(&terminal_id, seq, decode_audit(row));
            }
        }
        tx.commit()?;
        Ok(Ok(check.finish()))
    }

    fn audit_for_person(&self, person_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let conn = self.pool.get()?;
        all(
            &conn,
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE person_id = ?1
                 ORDER BY at, terminal_id, seq"
            ),
            [person_id],
            |r| decode_audit(r),
        )
    }

    fn audit_of_terminal(&self, terminal_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let conn = self.pool.get()?;
        all(
            &conn,
            &format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE terminal_id = ?1 ORDER BY seq"),
            [terminal_id],
            |r| decode_audit(r),
        )
    }
}
