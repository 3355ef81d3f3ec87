//! The portal's tables, reached through one small SQL interface both engines implement, so the
//! portal's queries are written once (in `onshi-portal`) and run on SQLite and PostgreSQL alike.
//!
//! The rules that make one text of SQL work on both: placeholders are `$1` … `$n` (SQLite reads
//! them as `?1` … `?n`), the portal's columns are only integers (Unix seconds for times), text
//! and bytes, and the SQL uses what both engines share (`RETURNING`, `ON CONFLICT`, `LIMIT` /
//! `OFFSET`, `lower(…) LIKE …`).

use crate::StoreError;

/// Migrations 3 and 4's text (the portal's first tables: accounts, operators, tokens, sessions,
/// throttles, claims, audit; then the mail queue and TOTP), once for both engines: `$id` is the
/// engine's auto-numbered key column, `$int` its 64-bit integer, `$blob` its byte string.
/// Released migrations: each engine gets the statements it got before (checked when the two
/// texts became one: SQLite byte for byte, PostgreSQL up to the case of `text`).
macro_rules! migration_3 {
    ($id:literal, $int:literal, $blob:literal) => {
        concat!("-- The portal (施術所等向け総合ポータルサイト). Times are Unix seconds (bigint) on both engines,
    -- so the portal's SQL is written once (onshi-store's `portal` module).
    -- A clinic's portal account: its registration, e-mail, password and 利用開始申請.
    CREATE TABLE portal_accounts (
        clinic_id ", $int, " PRIMARY KEY REFERENCES clinics (id),
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        kinds TEXT NOT NULL,
        director TEXT NOT NULL,
        address TEXT NOT NULL,
        phone TEXT NOT NULL,
        email_confirmed_at ", $int, ",
        -- registered → applied → approved | rejected (rejected may apply again).
        status TEXT NOT NULL CHECK (status IN ('registered', 'applied', 'approved', 'rejected')),
        decision_reason TEXT,
        applied_at ", $int, ",
        decided_at ", $int, ",
        -- Raised by logging out everywhere and by password changes: older sessions stop working.
        session_epoch ", $int, " NOT NULL DEFAULT 0,
        created_at ", $int, " NOT NULL
    );
    CREATE TABLE portal_operators (
        id ", $id, ",
        login TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        session_epoch ", $int, " NOT NULL DEFAULT 0,
        created_at ", $int, " NOT NULL
    );
    -- One-time links sent by mail (e-mail confirmation, password reset): only their SHA-256.
    CREATE TABLE portal_tokens (
        token_hash ", $blob, " PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('confirm', 'reset')),
        clinic_id ", $int, " NOT NULL REFERENCES clinics (id),
        expires_at ", $int, " NOT NULL,
        used_at ", $int, "
    );
    -- Browser sessions, in the store so every instance behind a load balancer knows them.
    CREATE TABLE portal_sessions (
        id_hash ", $blob, " PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('clinic', 'operator')),
        subject_id ", $int, " NOT NULL,
        csrf_token TEXT NOT NULL,
        epoch ", $int, " NOT NULL,
        created_at ", $int, " NOT NULL,
        expires_at ", $int, " NOT NULL
    );
    CREATE INDEX portal_sessions_by_subject ON portal_sessions (role, subject_id);
    -- Failed logins per account and per address, for throttling.
    CREATE TABLE portal_login_failures (
        throttle_key TEXT NOT NULL,
        at ", $int, " NOT NULL
    );
    CREATE INDEX portal_login_failures_by_key ON portal_login_failures (throttle_key, at);
    -- One row per throttling key, locked while an attempt is counted: concurrent attempts on
    -- one key are counted one after the other on every engine.
    CREATE TABLE portal_throttle_locks (
        throttle_key TEXT PRIMARY KEY,
        touched_at ", $int, " NOT NULL
    );
    -- Subsidy claims: one per clinic and kind (equipment | rececon).
    CREATE TABLE portal_claims (
        id ", $id, ",
        clinic_id ", $int, " NOT NULL REFERENCES clinics (id),
        kind TEXT NOT NULL CHECK (kind IN ('equipment', 'rececon')),
        status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'returned', 'approved', 'paid')),
        requested_amount ", $int, " NOT NULL DEFAULT 0,
        approved_amount ", $int, ",
        return_reason TEXT,
        submitted_at ", $int, ",
        decided_at ", $int, ",
        paid_at ", $int, ",
        created_at ", $int, " NOT NULL,
        UNIQUE (clinic_id, kind)
    );
    CREATE TABLE portal_claim_items (
        id ", $id, ",
        claim_id ", $int, " NOT NULL REFERENCES portal_claims (id),
        purchased_on TEXT NOT NULL,
        vendor TEXT NOT NULL,
        description TEXT NOT NULL,
        amount ", $int, " NOT NULL CHECK (amount >= 0),
        -- The receipt: stored outside the web root under a random name; its sniffed type.
        receipt_file TEXT NOT NULL UNIQUE,
        receipt_type TEXT NOT NULL,
        receipt_name TEXT NOT NULL,
        receipt_size ", $int, " NOT NULL,
        created_at ", $int, " NOT NULL
    );
    CREATE INDEX portal_claim_items_by_claim ON portal_claim_items (claim_id);
    -- Every operator action (and the clinic's submissions), for the audit.
    CREATE TABLE portal_audit (
        id ", $id, ",
        at ", $int, " NOT NULL,
        actor_role TEXT NOT NULL,
        actor_id ", $int, " NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );")
    };
}
macro_rules! migration_4 {
    ($id:literal, $int:literal, $blob:literal) => {
        concat!("-- The portal's mail, queued in the request's transaction and sent by a background worker
    -- (retried with back-off); a row goes once sent, or keeps failed_at when given up.
    CREATE TABLE portal_mail_queue (
        id ", $id, ",
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at ", $int, " NOT NULL,
        next_attempt_at ", $int, " NOT NULL,
        attempts ", $int, " NOT NULL DEFAULT 0,
        last_error TEXT,
        failed_at ", $int, "
    );
    CREATE INDEX portal_mail_queue_due ON portal_mail_queue (next_attempt_at);
    -- An operator's second factor: the TOTP secret (RFC 6238) and the last time step used, so a
    -- code is not accepted twice.
    ALTER TABLE portal_operators ADD COLUMN totp_secret ", $blob, ";
    ALTER TABLE portal_operators ADD COLUMN totp_last_step ", $int, ";")
    };
}

/// Migration 3 on SQLite (see `migration_3!`).
pub const MIGRATION_3_SQLITE: &str =
    migration_3!("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "BLOB");
/// Migration 3 on PostgreSQL.
pub const MIGRATION_3_POSTGRES: &str = migration_3!(
    "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "bigint",
    "bytea"
);
/// Migration 4 on SQLite (see `migration_4!`).
pub const MIGRATION_4_SQLITE: &str =
    migration_4!("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "BLOB");
/// Migration 4 on PostgreSQL.
pub const MIGRATION_4_POSTGRES: &str = migration_4!(
    "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "bigint",
    "bytea"
);

/// Migration 10, one text for both engines: the 登録記号番号 of every account, each number held by
/// one account only (the primary key: two registrations of one number at once cannot both
/// win); an account may hold several (併設). `pending`: a changed number waiting for the
/// operator's approval. Numbers stored before are copied from `clinics.registration`; of two
/// accounts that registered one number before, the older keeps it.
pub const MIGRATION_10: &str = "CREATE TABLE portal_registration_numbers (
        number TEXT PRIMARY KEY,
        clinic_id BIGINT NOT NULL REFERENCES clinics (id),
        practice TEXT NOT NULL CHECK (practice IN ('judo', 'ahaki')),
        status TEXT NOT NULL CHECK (status IN ('active', 'pending')),
        created_at BIGINT NOT NULL
    );
    CREATE INDEX portal_registration_numbers_by_clinic ON portal_registration_numbers (clinic_id);
    INSERT INTO portal_registration_numbers (number, clinic_id, practice, status, created_at)
        SELECT c.registration, c.id,
            CASE WHEN a.kinds LIKE '%judo%' THEN 'judo' ELSE 'ahaki' END, 'active', a.created_at
        FROM clinics c JOIN portal_accounts a ON a.clinic_id = c.id
        WHERE true
        ORDER BY c.id
        ON CONFLICT DO NOTHING;";

/// Migration 11's text with `$id` the engine's auto-numbered key column.
macro_rules! migration_11 {
    ($id:literal) => {
        concat!(
            "-- A claim's transfer account (kept with the claim: what was submitted is what is paid)
    -- and when it was last returned (the late correction window counts from then).
    ALTER TABLE portal_claims ADD COLUMN bank_code TEXT;
    ALTER TABLE portal_claims ADD COLUMN bank_name TEXT;
    ALTER TABLE portal_claims ADD COLUMN branch_code TEXT;
    ALTER TABLE portal_claims ADD COLUMN branch_name TEXT;
    ALTER TABLE portal_claims ADD COLUMN account_kind TEXT;
    ALTER TABLE portal_claims ADD COLUMN account_number TEXT;
    ALTER TABLE portal_claims ADD COLUMN account_holder TEXT;
    ALTER TABLE portal_claims ADD COLUMN returned_at BIGINT;
    -- The documents beside the receipts: 口座確認書類 (bank) and 内訳書 (breakdown), one each.
    CREATE TABLE portal_claim_documents (
        claim_id BIGINT NOT NULL REFERENCES portal_claims (id),
        role TEXT NOT NULL CHECK (role IN ('bank', 'breakdown')),
        file TEXT NOT NULL UNIQUE,
        file_type TEXT NOT NULL,
        file_name TEXT NOT NULL,
        file_size BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (claim_id, role)
    );
    -- The operator's own account, the payer of the 全銀 file (one row).
    CREATE TABLE portal_payer (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        code TEXT NOT NULL,
        name TEXT NOT NULL,
        bank_code TEXT NOT NULL,
        bank_name TEXT NOT NULL,
        branch_code TEXT NOT NULL,
        branch_name TEXT NOT NULL,
        account_kind TEXT NOT NULL,
        account_number TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    -- What the portal told a clinic (every decision), shown on its home page; also mailed.
    CREATE TABLE portal_clinic_messages (
        id ", $id, ",
        clinic_id BIGINT NOT NULL REFERENCES clinics (id),
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX portal_clinic_messages_by_clinic ON portal_clinic_messages (clinic_id, id);
    -- A terminal's name (受付PC …) and why the operator revoked it.
    CREATE TABLE portal_terminal_names (
        terminal_id TEXT PRIMARY KEY REFERENCES terminals (id),
        name TEXT NOT NULL,
        revoke_reason TEXT
    );
    -- お知らせ, newest first; FAQ in the operator's order; 問い合わせ and their replies.
    CREATE TABLE portal_notices (
        id ", $id, ",
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        operator_id BIGINT NOT NULL,
        published_at BIGINT NOT NULL
    );
    CREATE TABLE portal_faq (
        id ", $id, ",
        position BIGINT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    -- A question from someone not logged in (an account to recover) has no clinic, only the
    -- address the answer goes to.
    CREATE TABLE portal_inquiries (
        id ", $id, ",
        clinic_id BIGINT REFERENCES clinics (id),
        email TEXT,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        reply TEXT,
        replied_at BIGINT,
        operator_id BIGINT
    );
    CREATE INDEX portal_inquiries_by_clinic ON portal_inquiries (clinic_id, id);
    -- The FAQ's first version, written from the notice (the operator edits it).
    INSERT INTO portal_faq (position, question, answer, updated_at) VALUES
    (10, 'どの施術所が補助の対象ですか。', '受領委任の協定または契約を結んでいる柔道整復師、あん摩マッサージ指圧師、はり師、きゅう師の施術所等で、オンライン資格確認（資格確認限定型）を導入するところです。', 0),
    (20, '何が補助されますか。いくらまでですか。', 'オンライン資格確認（資格確認限定型）に必要な機器（PC等に接続する汎用カードリーダー、タブレット・スマートフォン等のモバイル端末等）の導入費用です。事業費に対する実費補助で、補助額は最大4.1万円（41,000円）です（地域診療情報連携推進費補助金）。', 0),
    (30, '申請には何が必要ですか。', 'このポータルサイトにアカウントを登録し、領収書等の書類を添付して申請します。領収書は申請開始まで大切に保管してください。振込先の口座、口座確認書類（通帳の写し等）と内訳書も必要です。', 0),
    (40, '申請の期限はいつですか。', '令和8年1月15日です。', 0),
    (50, 'レセコンの改修費用も補助されますか。', '令和6年12月23日から使える「レセコン連携機能」のために必要なレセコン改修費用の一部を補助します。詳しくは、このポータルサイトのお知らせでお知らせします。補助申請には領収書が必要です。', 0),
    (60, '暗証番号がわからない患者さんはどうしますか。', '本人確認は、4桁の暗証番号の入力のほか、受付の職員がマイナンバーカードの顔写真と本人を見比べる目視確認も選べます。', 0);"
        )
    };
}

/// Migration 11 on SQLite (see `migration_11!`): claims' transfer accounts and documents, the
/// payer, messages to clinics, terminal names, お知らせ, FAQ (its first version), 問い合わせ.
pub const MIGRATION_11_SQLITE: &str = migration_11!("INTEGER PRIMARY KEY AUTOINCREMENT");
/// Migration 11 on PostgreSQL: the same text, with identity columns.
pub const MIGRATION_11_POSTGRES: &str =
    migration_11!("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");

/// A value bound to, or read from, the portal's SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer (also times, as Unix seconds, and booleans as 0/1).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (hashes).
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One row, its columns in `SELECT` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Data(format!("portal row: no column {i}")))
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(StoreError::Data(format!(
                "portal column {i}: {other:?} is not an integer"
            ))),
        }
    }

    /// Column `i` as an integer or NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.get(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Data(format!(
                "portal column {i}: {other:?} is not text"
            ))),
        }
    }

    /// Column `i` as text or NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// Column `i` as bytes.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(i)? {
            Value::Bytes(v) => Ok(v.clone()),
            other => Err(StoreError::Data(format!(
                "portal column {i}: {other:?} is not bytes"
            ))),
        }
    }
}

/// Statements inside one transaction.
pub trait PortalTx {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// The portal's access to the store.
pub trait PortalDb: Send + Sync {
    /// Runs `f` in one transaction: committed when `f` returns `Ok`, rolled back otherwise.
    fn portal_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn PortalTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs `f` in one read-only transaction: a consistent snapshot that takes no writer's
    /// lock (on SQLite neither the in-process writer queue nor the database's write lock, so a
    /// page view never waits behind, or holds up, the checks' writes). A statement that would
    /// write is refused.
    fn portal_read(
        &self,
        f: &mut dyn FnMut(&mut dyn PortalTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Runs `f` in one transaction and returns what it returned.
pub fn transaction<T>(
    db: &dyn PortalDb,
    mut f: impl FnMut(&mut dyn PortalTx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    db.portal_tx(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Data("portal transaction ended without a result".into()))
}

/// Runs `f` in one read-only transaction (see [`PortalDb::portal_read`]) and returns what it
/// returned.
pub fn read<T>(
    db: &dyn PortalDb,
    mut f: impl FnMut(&mut dyn PortalTx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    db.portal_read(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Data("portal transaction ended without a result".into()))
}

/// `$1` … `$n` as SQLite's numbered `?1` … `?n` (the portal's SQL holds no other `$`).
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_by_position() {
        let row = Row(vec![
            Value::Int(7),
            Value::Null,
            Value::from("a"),
            Value::from(vec![1u8]),
        ]);
        assert_eq!(row.int(0).ok(), Some(7));
        assert_eq!(row.opt_int(1).ok(), Some(None));
        assert_eq!(row.text(2).ok().as_deref(), Some("a"));
        assert_eq!(row.bytes(3).ok(), Some(vec![1]));
        assert!(row.text(0).is_err() && row.int(9).is_err());
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(
            sqlite_placeholders("a = $1 AND b = $12"),
            "a = ?1 AND b = ?12"
        );
    }
}
