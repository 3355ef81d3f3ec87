//! The columns of the service tables and the one mapping between their rows and the service
//! types, shared by both engines (as `columns.rs` is for persons and records).

use chrono::{DateTime, Utc};
use onshi_model::PersonId;

use crate::columns::Value;
use crate::service::{
    crl_number_from_stored, AuditEntry, AuditRecord, CardLink, Clinic, EnrollState, StoredCrl,
    Terminal, TerminalStatus,
};
use crate::StoreError;

/// Columns of `clinics`, in the order of [`decode_clinic`].
pub(crate) const CLINIC_COLUMNS: &str = "id, name, registration, created_at";

/// Columns of `terminals`, in the order of [`decode_terminal`].
pub(crate) const TERMINAL_COLUMNS: &str = "id, clinic_id, status, certificate_serial, created_at, \
     enrolled_at, revoked_at, last_used_at, checks";

/// What an enrollment reads of a terminal, in the order of [`decode_enroll_state`].
pub(crate) const ENROLL_COLUMNS: &str = "status, code_hash, code_expires_at, code_failures";

/// Columns of `card_links` that an import writes, in the order of [`card_link_values`].
pub(crate) const CARD_LINK_COLUMNS: [&str; 6] = [
    "issuer",
    "serial",
    "person_id",
    "not_before",
    "not_after",
    "registered",
];

/// Columns of `crls`, in the order of [`decode_crl`].
pub(crate) const CRL_COLUMNS: &str = "issuer, number, der, loaded_at";

/// Columns of `audit_log`, in the order of [`decode_audit`]; `terminal_id` and `seq` first.
pub(crate) const AUDIT_COLUMNS: &str = "terminal_id, seq, at, clinic_id, mode, \
     certificate_serial, person_id, answer, reference_number, nonce_id, prev_hash, hash, \
     recheck_of";

/// Read access to one result row of a service table, by column position.
pub(crate) trait ServiceRow {
    /// An integer column (NOT NULL).
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A text column (`None` for NULL).
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// A time column (`None` for NULL).
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A byte-string column (`None` for NULL).
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError>;
    /// A boolean column (NOT NULL).
    fn boolean(&self, i: usize) -> Result<bool, StoreError>;
}

fn null(column: &'static str) -> StoreError {
    StoreError::Corrupt {
        column,
        value: "NULL".to_owned(),
        reason: "required".to_owned(),
    }
}

fn text(row: &impl ServiceRow, i: usize, column: &'static str) -> Result<String, StoreError> {
    row.opt_text(i)?.ok_or_else(|| null(column))
}

fn time(
    row: &impl ServiceRow,
    i: usize,
    column: &'static str,
) -> Result<DateTime<Utc>, StoreError> {
    row.opt_time(i)?.ok_or_else(|| null(column))
}

fn bytes(row: &impl ServiceRow, i: usize, column: &'static str) -> Result<Vec<u8>, StoreError> {
    row.opt_bytes(i)?.ok_or_else(|| null(column))
}

/// A stored 32-byte hash or nonce id.
pub(crate) fn hash32(column: &'static str, v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| StoreError::Corrupt {
        column,
        value: format!("{} bytes", v.len()),
        reason: "not 32 bytes".to_owned(),
    })
}

fn status(s: &str) -> Result<TerminalStatus, StoreError> {
    TerminalStatus::parse(s).ok_or_else(|| StoreError::Corrupt {
        column: "status",
        value: s.to_owned(),
        reason: "not pending, active or revoked".to_owned(),
    })
}

/// A time stored by SQLite: microseconds since the Unix epoch.
pub(crate) fn time_from_micros(column: &'static str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt {
        column,
        value: v.to_string(),
        reason: "not a time".to_owned(),
    })
}

/// Decodes a row selected with [`CLINIC_COLUMNS`].
pub(crate) fn decode_clinic(row: &impl ServiceRow) -> Result<Clinic, StoreError> {
    Ok(Clinic {
        id: row.int(0)?,
        name: text(row, 1, "name")?,
        registration: text(row, 2, "registration")?,
        created_at: time(row, 3, "created_at")?,
    })
}

/// Decodes a row selected with [`TERMINAL_COLUMNS`].
pub(crate) fn decode_terminal(row: &impl ServiceRow) -> Result<Terminal, StoreError> {
    Ok(Terminal {
        id: text(row, 0, "id")?,
        clinic_id: row.int(1)?,
        status: status(&text(row, 2, "status")?)?,
        certificate_serial: row.opt_text(3)?,
        created_at: time(row, 4, "created_at")?,
        enrolled_at: row.opt_time(5)?,
        revoked_at: row.opt_time(6)?,
        last_used_at: row.opt_time(7)?,
        checks: row.int(8)?,
    })
}

/// Decodes a row selected with [`ENROLL_COLUMNS`].
pub(crate) fn decode_enroll_state(row: &impl ServiceRow) -> Result<EnrollState, StoreError> {
    Ok(EnrollState {
        status: status(&text(row, 0, "status")?)?,
        code_hash: row.opt_bytes(1)?,
        code_expires_at: row.opt_time(2)?,
        failures: row.int(3)?,
    })
}

/// Decodes a row selected with [`CARD_LINK_COLUMNS`].
pub(crate) fn decode_card_link(row: &impl ServiceRow) -> Result<CardLink, StoreError> {
    let person = text(row, 2, "person_id")?;
    Ok(CardLink {
        issuer: text(row, 0, "issuer")?,
        serial: text(row, 1, "serial")?,
        person_id: PersonId::parse(&person).map_err(|e| StoreError::Corrupt {
            column: "person_id",
            value: person.clone(),
            reason: e.to_string(),
        })?,
        not_before: time(row, 3, "not_before")?,
        not_after: time(row, 4, "not_after")?,
        registered: row.boolean(5)?,
    })
}

/// Decodes a row selected with [`CRL_COLUMNS`].
pub(crate) fn decode_crl(row: &impl ServiceRow) -> Result<StoredCrl, StoreError> {
    Ok(StoredCrl {
        issuer: text(row, 0, "issuer")?,
        number: row.opt_bytes(1)?.map(crl_number_from_stored),
        der: bytes(row, 2, "der")?,
        loaded_at: time(row, 3, "loaded_at")?,
    })
}

/// Decodes a row selected with [`AUDIT_COLUMNS`].
pub(crate) fn decode_audit(row: &impl ServiceRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: row.int(1)?,
        entry: AuditEntry {
            at: time(row, 2, "at")?,
            terminal_id: text(row, 0, "terminal_id")?,
            clinic_id: row.int(3)?,
            mode: {
                let mode = text(row, 4, "mode")?;
                crate::AuditMode::parse(&mode).ok_or_else(|| StoreError::Corrupt {
                    column: "mode",
                    value: mode.clone(),
                    reason: "not pin, visual, query or register".to_owned(),
                })?
            },
            certificate_serial: row.opt_text(5)?,
            person_id: row
                .opt_text(6)?
                .map(|p| {
                    PersonId::parse(&p).map_err(|e| StoreError::Corrupt {
                        column: "person_id",
                        value: p.clone(),
                        reason: e.to_string(),
                    })
                })
                .transpose()?,
            answer: text(row, 7, "answer")?,
            reference_number: text(row, 8, "reference_number")?,
            nonce_id: row
                .opt_bytes(9)?
                .map(|v| hash32("nonce_id", v))
                .transpose()?,
            recheck_of: row.opt_text(12)?,
        },
        prev_hash: hash32("prev_hash", bytes(row, 10, "prev_hash")?)?,
        hash: hash32("hash", bytes(row, 11, "hash")?)?,
    })
}

/// The values of a card link in [`CARD_LINK_COLUMNS`] order.
pub(crate) fn card_link_values(l: &CardLink) -> [Value<'_>; 6] {
    [
        Value::Text(l.issuer.as_str().into()),
        Value::Text(l.serial.as_str().into()),
        Value::Text(l.person_id.as_str().into()),
        Value::Time(l.not_before),
        Value::Time(l.not_after),
        Value::Bool(l.registered),
    ]
}
