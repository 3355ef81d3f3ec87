//! The portal's queries: accounts, operators, one-time tokens, sessions, login failures and
//! the audit. One text of SQL for both engines (see `onshi_store::portal`); times are Unix
//! seconds. Claims live in [`crate::claims`]'s own queries.

use chrono::{DateTime, Utc};
use onshi_store::portal::{read, transaction, PortalDb, PortalTx, Row, Value};
use onshi_store::StoreError;

use crate::registration::{Practice, RegistrationNumber};

/// Who a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A clinic's account.
    Clinic,
    /// An operator (実施機関).
    Operator,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Clinic => "clinic",
            Self::Operator => "operator",
        }
    }
}

/// Unix seconds.
pub fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// From Unix seconds.
pub fn time(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}

/// Where a clinic stands with its 利用開始申請.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    /// Registered, not applied.
    Registered,
    /// Applied, waiting for the operator.
    Applied,
    /// Approved: may create terminals.
    Approved,
    /// Rejected with a reason (may apply again).
    Rejected,
}

impl AccountStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Applied => "applied",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// From the stored word.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "registered" => Self::Registered,
            "applied" => Self::Applied,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            other => return Err(StoreError::Data(format!("account status {other:?}"))),
        })
    }

    /// In Japanese.
    pub fn label(self) -> &'static str {
        match self {
            Self::Registered => "未申請",
            Self::Applied => "申請中（審査待ち）",
            Self::Approved => "承認済み",
            Self::Rejected => "差戻し",
        }
    }
}

/// A clinic's portal account with its clinic's name and registration number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The clinic.
    pub clinic_id: i64,
    /// 施術所名.
    pub name: String,
    /// 登録記号番号 (normalised, no hyphens).
    pub registration: String,
    /// Login e-mail (lower case).
    pub email: String,
    /// argon2id hash.
    pub password_hash: String,
    /// 施術所の種類: `judo`, `anma`, `hari`, comma-separated.
    pub kinds: String,
    /// 院長.
    pub director: String,
    /// 所在地.
    pub address: String,
    /// 電話番号.
    pub phone: String,
    /// When the e-mail was confirmed.
    pub email_confirmed_at: Option<DateTime<Utc>>,
    /// 利用開始申請.
    pub status: AccountStatus,
    /// The operator's reason for a rejection.
    pub decision_reason: Option<String>,
    /// When it applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// When the operator decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Sessions from before this epoch no longer work.
    pub session_epoch: i64,
    /// When it registered.
    pub created_at: DateTime<Utc>,
}

/// The columns [`decode_account`] reads, in order.
pub const ACCOUNT_COLUMNS: &str = "a.clinic_id, c.name, c.registration, a.email, a.password_hash, a.kinds, a.director, a.address, a.phone, a.email_confirmed_at, a.status, a.decision_reason, a.applied_at, a.decided_at, a.session_epoch, a.created_at";

/// `FROM` for [`ACCOUNT_COLUMNS`].
pub const ACCOUNT_FROM: &str = "portal_accounts a JOIN clinics c ON c.id = a.clinic_id";

/// A row of [`ACCOUNT_COLUMNS`].
pub fn decode_account(r: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        clinic_id: r.int(0)?,
        name: r.text(1)?,
        registration: r.text(2)?,
        email: r.text(3)?,
        password_hash: r.text(4)?,
        kinds: r.text(5)?,
        director: r.text(6)?,
        address: r.text(7)?,
        phone: r.text(8)?,
        email_confirmed_at: r.opt_int(9)?.map(time),
        status: AccountStatus::parse(&r.text(10)?)?,
        decision_reason: r.opt_text(11)?,
        applied_at: r.opt_int(12)?.map(time),
        decided_at: r.opt_int(13)?.map(time),
        session_epoch: r.int(14)?,
        created_at: time(r.int(15)?),
    })
}

/// What registration stores besides the clinic row.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Login e-mail (lower case).
    pub email: String,
    /// argon2id hash.
    pub password_hash: String,
    /// Comma-separated kinds.
    pub kinds: String,
    /// 院長.
    pub director: String,
    /// 所在地.
    pub address: String,
    /// 電話番号.
    pub phone: String,
}

/// Whether an account uses `email`.
pub fn email_taken(db: &dyn PortalDb, email: &str) -> Result<bool, StoreError> {
    read(db, |tx| {
        Ok(tx
            .query_opt(
                "SELECT 1 FROM portal_accounts WHERE email = $1",
                &[email.into()],
            )?
            .is_some())
    })
}

/// What [`add_account`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// The account, its numbers, its confirmation token and its mail are stored.
    Yes,
    /// Another account uses the e-mail address (nothing written).
    EmailTaken,
    /// Another account holds this 登録記号番号 (nothing written).
    NumberTaken(RegistrationNumber),
}

/// Adds the account of clinic `clinic_id` with its 登録記号番号 (one per practice, 併設) and its
/// e-mail confirmation token (hash), in one transaction: all of it, or nothing when the
/// e-mail or a number is another account's.
#[allow(clippy::too_many_arguments)]
pub fn add_account(
    db: &dyn PortalDb,
    clinic_id: i64,
    a: &NewAccount,
    numbers: &[(Practice, RegistrationNumber)],
    confirm_hash: &[u8],
    confirm_expires: DateTime<Utc>,
    mail: &crate::mail::Outgoing,
    now: DateTime<Utc>,
) -> Result<Added, StoreError> {
    transaction(db, |tx| {
        // Two registrations of one address at once: the second does nothing (it waits for the
        // first's unique-index entry on PostgreSQL, and SQLite runs them one after the other).
        let inserted = tx.execute(
            "INSERT INTO portal_accounts (clinic_id, email, password_hash, kinds, director, address, phone, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'registered', $8)
             ON CONFLICT (email) DO NOTHING",
            &[
                clinic_id.into(),
                a.email.as_str().into(),
                a.password_hash.as_str().into(),
                a.kinds.as_str().into(),
                a.director.as_str().into(),
                a.address.as_str().into(),
                a.phone.as_str().into(),
                secs(now).into(),
            ],
        )?;
        if inserted == 0 {
            return Ok(Added::EmailTaken);
        }
        // The same for a number: the primary key lets one account hold it.
        for (practice, number) in numbers {
            if !insert_number(tx, clinic_id, *practice, number, "active", now)? {
                // Undo this transaction's rows, so that it commits nothing.
                tx.execute(
                    "DELETE FROM portal_registration_numbers WHERE clinic_id = $1",
                    &[clinic_id.into()],
                )?;
                tx.execute(
                    "DELETE FROM portal_accounts WHERE clinic_id = $1",
                    &[clinic_id.into()],
                )?;
                return Ok(Added::NumberTaken(number.clone()));
            }
        }
        put_token(tx, confirm_hash, "confirm", clinic_id, confirm_expires)?;
        crate::mail::enqueue(tx, mail, now)?;
        Ok(Added::Yes)
    })
}

/// Stores `number` for `clinic_id`; `false` when another row holds it (nothing written).
pub fn insert_number(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    practice: Practice,
    number: &RegistrationNumber,
    status: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "INSERT INTO portal_registration_numbers (number, clinic_id, practice, status, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (number) DO NOTHING",
        &[
            number.as_str().into(),
            clinic_id.into(),
            practice.as_str().into(),
            status.into(),
            secs(now).into(),
        ],
    )? == 1)
}

/// One 登録記号番号 of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldNumber {
    /// The number.
    pub number: RegistrationNumber,
    /// Its practice.
    pub practice: Practice,
    /// Approved (`false`: a change waiting for the operator).
    pub active: bool,
}

/// The 登録記号番号 of `clinic_id`: active ones first, by practice.
pub fn numbers_in(tx: &mut dyn PortalTx, clinic_id: i64) -> Result<Vec<HeldNumber>, StoreError> {
    tx.query(
        "SELECT number, practice, status FROM portal_registration_numbers WHERE clinic_id = $1
         ORDER BY status, practice DESC, number",
        &[clinic_id.into()],
    )?
    .iter()
    .map(|r| {
        let practice = r.text(1)?;
        Ok(HeldNumber {
            number: RegistrationNumber::stored(r.text(0)?),
            practice: Practice::parse(&practice)
                .ok_or_else(|| StoreError::Data(format!("unknown practice {practice:?}")))?,
            active: r.text(2)? == "active",
        })
    })
    .collect()
}

/// The 登録記号番号 of `clinic_id` (see [`numbers_in`]).
pub fn numbers(db: &dyn PortalDb, clinic_id: i64) -> Result<Vec<HeldNumber>, StoreError> {
    read(db, |tx| numbers_in(tx, clinic_id))
}

/// Removes a clinic row that registration created but could not finish (its e-mail was taken
/// meanwhile): nothing half-registered stays.
pub fn remove_unfinished_clinic(db: &dyn PortalDb, clinic_id: i64) -> Result<(), StoreError> {
    transaction(db, |tx| {
        let has_account = tx
            .query_opt(
                "SELECT 1 FROM portal_accounts WHERE clinic_id = $1",
                &[clinic_id.into()],
            )?
            .is_some();
        let has_terminals = tx
            .query_opt(
                "SELECT 1 FROM terminals WHERE clinic_id = $1",
                &[clinic_id.into()],
            )?
            .is_some();
        if !has_account && !has_terminals {
            tx.execute("DELETE FROM clinics WHERE id = $1", &[clinic_id.into()])?;
        }
        Ok(())
    })
}

fn put_token(
    tx: &mut dyn PortalTx,
    hash: &[u8],
    purpose: &str,
    clinic_id: i64,
    expires: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO portal_tokens (token_hash, purpose, clinic_id, expires_at) VALUES ($1, $2, $3, $4)",
        &[hash.into(), purpose.into(), clinic_id.into(), secs(expires).into()],
    )?;
    Ok(())
}

/// Stores a password-reset token (hash) for a clinic and queues its mail, together.
pub fn add_reset_token(
    db: &dyn PortalDb,
    clinic_id: i64,
    hash: &[u8],
    expires: DateTime<Utc>,
    mail: &crate::mail::Outgoing,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        put_token(tx, hash, "reset", clinic_id, expires)?;
        crate::mail::enqueue(tx, mail, now)
    })
}

/// Marks every unused reset link of a clinic used (inside [`spend_token`], when one of them is
/// used): an older link found later in a mailbox no longer works.
pub fn spend_other_reset_tokens(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE portal_tokens SET used_at = $1 WHERE clinic_id = $2 AND purpose = 'reset' AND used_at IS NULL",
        &[secs(now).into(), clinic_id.into()],
    )?;
    Ok(())
}

/// Sets a new password (and logs the account out everywhere) and marks its e-mail confirmed,
/// after a reset link was spent.
pub fn reset_password(
    db: &dyn PortalDb,
    clinic_id: i64,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        set_password(tx, clinic_id, hash)?;
        confirm_email(tx, clinic_id, now)
    })
}

/// Removes registrations whose e-mail was not confirmed by `before` (72 hours after they were
/// made): the account, its links and sessions, and its clinic row when nothing else uses it.
/// Returns how many were removed.
pub fn remove_unconfirmed(db: &dyn PortalDb, before: DateTime<Utc>) -> Result<usize, StoreError> {
    transaction(db, |tx| {
        let stale: Vec<i64> = tx
            .query(
                "SELECT a.clinic_id FROM portal_accounts a
                 WHERE a.email_confirmed_at IS NULL AND a.created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM terminals t WHERE t.clinic_id = a.clinic_id)
                   AND NOT EXISTS (SELECT 1 FROM portal_claims c WHERE c.clinic_id = a.clinic_id)",
                &[secs(before).into()],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<_, _>>()?;
        for clinic in &stale {
            let id = [Value::from(*clinic)];
            for sql in [
                "DELETE FROM portal_tokens WHERE clinic_id = $1",
                "DELETE FROM portal_sessions WHERE role = 'clinic' AND subject_id = $1",
                "DELETE FROM portal_registration_numbers WHERE clinic_id = $1",
                "DELETE FROM portal_accounts WHERE clinic_id = $1",
                "DELETE FROM clinics WHERE id = $1",
            ] {
                tx.execute(sql, &id)?;
            }
        }
        Ok(stale.len())
    })
}

/// Why a one-time link did not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Unknown (or for another purpose).
    Unknown,
    /// Already used.
    Used,
    /// Expired.
    Expired,
}

/// Spends a token of `purpose`: returns its clinic, marking it used in the same transaction
/// as `then` (which gets the clinic id).
pub fn spend_token(
    db: &dyn PortalDb,
    hash: &[u8],
    purpose: &str,
    now: DateTime<Utc>,
    mut then: impl FnMut(&mut dyn PortalTx, i64) -> Result<(), StoreError>,
) -> Result<Result<i64, TokenProblem>, StoreError> {
    transaction(db, |tx| {
        // Spend first, conditionally: of two uses at once, the second waits for the first's
        // row lock and then finds the token used.
        let spent = tx.query_opt(
            "UPDATE portal_tokens SET used_at = $1
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
             RETURNING clinic_id",
            &[secs(now).into(), hash.into(), purpose.into()],
        )?;
        if let Some(row) = spent {
            let clinic_id = row.int(0)?;
            then(tx, clinic_id)?;
            return Ok(Ok(clinic_id));
        }
        let Some(row) = tx.query_opt(
            "SELECT used_at FROM portal_tokens WHERE token_hash = $1 AND purpose = $2",
            &[hash.into(), purpose.into()],
        )?
        else {
            return Ok(Err(TokenProblem::Unknown));
        };
        Ok(Err(if row.opt_int(0)?.is_some() {
            TokenProblem::Used
        } else {
            TokenProblem::Expired
        }))
    })
}

/// Marks a clinic's e-mail confirmed (inside [`spend_token`]).
pub fn confirm_email(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE portal_accounts SET email_confirmed_at = $1 WHERE clinic_id = $2 AND email_confirmed_at IS NULL",
        &[secs(now).into(), clinic_id.into()],
    )?;
    Ok(())
}

/// Sets a new password and logs the account out everywhere (inside [`spend_token`], or
/// alone).
pub fn set_password(tx: &mut dyn PortalTx, clinic_id: i64, hash: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE portal_accounts SET password_hash = $1, session_epoch = session_epoch + 1 WHERE clinic_id = $2",
        &[hash.into(), clinic_id.into()],
    )?;
    Ok(())
}

/// The account of a clinic.
pub fn account(db: &dyn PortalDb, clinic_id: i64) -> Result<Option<Account>, StoreError> {
    read(db, |tx| {
        tx.query_opt(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNT_FROM} WHERE a.clinic_id = $1"),
            &[clinic_id.into()],
        )?
        .as_ref()
        .map(decode_account)
        .transpose()
    })
}

/// The account with login `email`.
pub fn account_by_email(db: &dyn PortalDb, email: &str) -> Result<Option<Account>, StoreError> {
    read(db, |tx| {
        tx.query_opt(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNT_FROM} WHERE a.email = $1"),
            &[email.into()],
        )?
        .as_ref()
        .map(decode_account)
        .transpose()
    })
}

/// 利用開始申請: registered or rejected → applied. `false` when the account is in another state.
pub fn apply(db: &dyn PortalDb, clinic_id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        let n = tx.execute(
            "UPDATE portal_accounts SET status = 'applied', applied_at = $1, decision_reason = NULL
             WHERE clinic_id = $2 AND status IN ('registered', 'rejected') AND email_confirmed_at IS NOT NULL",
            &[secs(now).into(), clinic_id.into()],
        )?;
        if n == 1 {
            audit(
                tx,
                now,
                Role::Clinic,
                clinic_id,
                "apply",
                &format!("clinic:{clinic_id}"),
                "",
            )?;
        }
        Ok(n == 1)
    })
}

/// The operator's decision on an application: approved, or rejected with a reason. `false`
/// when the clinic has no pending application.
pub fn decide_application(
    db: &dyn PortalDb,
    operator_id: i64,
    clinic_id: i64,
    approve: bool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        let status = if approve { "approved" } else { "rejected" };
        let n = tx.execute(
            "UPDATE portal_accounts SET status = $1, decision_reason = $2, decided_at = $3
             WHERE clinic_id = $4 AND status = 'applied'",
            &[
                status.into(),
                Value::from((!approve).then(|| reason.to_owned())),
                secs(now).into(),
                clinic_id.into(),
            ],
        )?;
        if n == 1 {
            if approve {
                notify(
                    tx,
                    clinic_id,
                    "利用開始申請が承認されました",
                    "オンライン資格確認（資格確認限定型）の利用開始申請が承認されました。\nポータルの「端末」から受付端末のアカウントを作成し、マイナ資格確認アプリを利用登録してください。",
                    now,
                )?;
            } else {
                notify(
                    tx,
                    clinic_id,
                    "利用開始申請が差し戻されました",
                    &format!(
                        "オンライン資格確認（資格確認限定型）の利用開始申請が差し戻されました。\n理由: {reason}\n\n内容を確かめて、ポータルのホーム画面からもう一度申請してください。"
                    ),
                    now,
                )?;
            }
            let action = if approve {
                "application.approve"
            } else {
                "application.reject"
            };
            audit(
                tx,
                now,
                Role::Operator,
                operator_id,
                action,
                &format!("clinic:{clinic_id}"),
                reason,
            )?;
        }
        Ok(n == 1)
    })
}

/// Tells clinic `clinic_id` something: a message on its home page and a mail to its address,
/// in the caller's transaction (so a decision and its notice are written together).
pub fn notify(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO portal_clinic_messages (clinic_id, subject, body, created_at) VALUES ($1, $2, $3, $4)",
        &[clinic_id.into(), subject.into(), body.into(), secs(now).into()],
    )?;
    let to = tx.query_opt(
        "SELECT a.email, c.name FROM portal_accounts a JOIN clinics c ON c.id = a.clinic_id WHERE a.clinic_id = $1",
        &[clinic_id.into()],
    )?;
    if let Some(r) = to {
        let mail = crate::mail::Outgoing {
            to: r.text(0)?,
            subject: format!("【施術所等向け総合ポータルサイト】{subject}"),
            body: format!(
                "{} 様\n\n{body}\n\nこのお知らせは、ポータルのホーム画面でも確認できます。\n",
                r.text(1)?
            ),
        };
        crate::mail::enqueue(tx, &mail, now)?;
    }
    Ok(())
}

/// A message to a clinic (see [`notify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// 件名.
    pub subject: String,
    /// 本文.
    pub body: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The newest `limit` messages to clinic `clinic_id`, newest first.
pub fn messages(db: &dyn PortalDb, clinic_id: i64, limit: i64) -> Result<Vec<Message>, StoreError> {
    read(db, |tx| {
        tx.query(
            "SELECT subject, body, created_at FROM portal_clinic_messages WHERE clinic_id = $1 ORDER BY id DESC LIMIT $2",
            &[clinic_id.into(), limit.into()],
        )?
        .iter()
        .map(|r| {
            Ok(Message {
                subject: r.text(0)?,
                body: r.text(1)?,
                at: time(r.int(2)?),
            })
        })
        .collect()
    })
}

/// Logs a clinic or operator out everywhere: every session of theirs stops working.
pub fn logout_everywhere(db: &dyn PortalDb, role: Role, subject_id: i64) -> Result<(), StoreError> {
    transaction(db, |tx| {
        let table = match role {
            Role::Clinic => {
                "UPDATE portal_accounts SET session_epoch = session_epoch + 1 WHERE clinic_id = $1"
            }
            Role::Operator => {
                "UPDATE portal_operators SET session_epoch = session_epoch + 1 WHERE id = $1"
            }
        };
        tx.execute(table, &[subject_id.into()])?;
        tx.execute(
            "DELETE FROM portal_sessions WHERE role = $1 AND subject_id = $2",
            &[role.as_str().into(), subject_id.into()],
        )?;
        Ok(())
    })
}

/// Stores a new session.
#[allow(clippy::too_many_arguments)]
pub fn create_session(
    db: &dyn PortalDb,
    id_hash: &[u8],
    role: Role,
    subject_id: i64,
    csrf: &str,
    epoch: i64,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        // Expired sessions go as new ones come.
        tx.execute(
            "DELETE FROM portal_sessions WHERE expires_at <= $1",
            &[secs(now).into()],
        )?;
        tx.execute(
            "INSERT INTO portal_sessions (id_hash, role, subject_id, csrf_token, epoch, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                id_hash.into(),
                role.as_str().into(),
                subject_id.into(),
                csrf.into(),
                epoch.into(),
                secs(now).into(),
                secs(expires).into(),
            ],
        )?;
        Ok(())
    })
}

/// The live session with this id hash: not expired, and its account's epoch unchanged.
pub fn load_session(
    db: &dyn PortalDb,
    id_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<crate::auth::Session>, StoreError> {
    read(db, |tx| {
        let Some(row) = tx.query_opt(
            "SELECT s.role, s.subject_id, s.csrf_token, s.epoch,
                    CASE WHEN s.role = 'clinic'
                         THEN (SELECT a.session_epoch FROM portal_accounts a WHERE a.clinic_id = s.subject_id)
                         ELSE (SELECT o.session_epoch FROM portal_operators o WHERE o.id = s.subject_id) END
             FROM portal_sessions s WHERE s.id_hash = $1 AND s.expires_at > $2",
            &[id_hash.into(), secs(now).into()],
        )?
        else {
            return Ok(None);
        };
        if row.opt_int(4)? != Some(row.int(3)?) {
            return Ok(None);
        }
        let role = match row.text(0)?.as_str() {
            "clinic" => Role::Clinic,
            "operator" => Role::Operator,
            other => return Err(StoreError::Data(format!("session role {other:?}"))),
        };
        Ok(Some(crate::auth::Session {
            role,
            subject_id: row.int(1)?,
            csrf: row.text(2)?,
            id_hash: id_hash.to_vec(),
        }))
    })
}

/// Ends one session.
pub fn end_session(db: &dyn PortalDb, id_hash: &[u8]) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "DELETE FROM portal_sessions WHERE id_hash = $1",
            &[id_hash.into()],
        )?;
        Ok(())
    })
}

/// One throttling key: `free` failures within the window cost nothing; after that every
/// attempt must wait `first_delay` seconds after the key's last failure, doubling with each
/// further failure up to `max_delay`. A delay, unlike a lock, ends by itself: with a small
/// `max_delay` on an account's key, a guesser slows the account's logins but cannot shut its
/// owner out.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Limit {
    /// The key (`account:…`, `clinic-address:…`, …).
    pub key: String,
    /// Failures without delay.
    pub free: i64,
    /// The first delay, in seconds.
    pub first_delay: i64,
    /// The longest delay, in seconds.
    pub max_delay: i64,
}

impl Limit {
    /// A limit on `key`.
    pub fn new(key: impl Into<String>, free: i64, first_delay: i64, max_delay: i64) -> Self {
        Self {
            key: key.into(),
            free,
            first_delay,
            max_delay,
        }
    }

    /// A hard limit: `free` attempts per window, then none until the window has passed.
    pub fn per_window(key: impl Into<String>, free: i64, window_seconds: i64) -> Self {
        Self::new(key, free, window_seconds, window_seconds)
    }

    /// The delay after `failures` failures.
    pub fn delay(&self, failures: i64) -> i64 {
        if failures < self.free {
            return 0;
        }
        let doublings = (failures - self.free).clamp(0, 30) as u32;
        self.first_delay
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay)
    }
}

/// What a reservation came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; go on.
    Allowed,
    /// Not counted: try again in this many seconds.
    Wait(i64),
}

/// Counts one attempt under each limit: refused ([`Attempt::Wait`], nothing counted) while a
/// key's delay (see [`Limit`]) since its last failure runs; otherwise one failure is recorded
/// under every key before the password is even checked, so concurrent guesses cannot slip past
/// (each key's lock row serialises them). A successful login then takes its failure back with
/// [`attempt_succeeded`]. Failures older than `since` are forgotten.
pub fn reserve_attempt(
    db: &dyn PortalDb,
    limits: &[Limit],
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<Attempt, StoreError> {
    let mut limits = limits.to_vec();
    // One order for everyone: two attempts never wait on each other's locks crosswise.
    limits.sort_unstable();
    transaction(db, |tx| {
        for l in &limits {
            tx.execute(
                "INSERT INTO portal_throttle_locks (throttle_key, touched_at) VALUES ($1, $2)
                 ON CONFLICT (throttle_key) DO UPDATE SET touched_at = $2",
                &[l.key.as_str().into(), secs(now).into()],
            )?;
        }
        let mut wait = 0;
        for l in &limits {
            let Some(row) = tx.query_opt(
                "SELECT count(*), max(at) FROM portal_login_failures WHERE throttle_key = $1 AND at >= $2",
                &[l.key.as_str().into(), secs(since).into()],
            )?
            else {
                continue;
            };
            let (failures, last) = (row.int(0)?, row.opt_int(1)?);
            if let Some(last) = last {
                let ready = last.saturating_add(l.delay(failures));
                wait = wait.max(ready - secs(now));
            }
        }
        if wait > 0 {
            return Ok(Attempt::Wait(wait));
        }
        tx.execute(
            "DELETE FROM portal_login_failures WHERE at < $1",
            &[secs(since).into()],
        )?;
        for l in &limits {
            tx.execute(
                "INSERT INTO portal_login_failures (throttle_key, at) VALUES ($1, $2)",
                &[l.key.as_str().into(), secs(now).into()],
            )?;
        }
        Ok(Attempt::Allowed)
    })
}

/// After a successful login: the account's failures are forgotten, and the attempt reserved
/// under the address at `at` is taken back.
pub fn attempt_succeeded(
    db: &dyn PortalDb,
    account_key: &str,
    address_key: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "DELETE FROM portal_login_failures WHERE throttle_key = $1",
            &[account_key.into()],
        )?;
        tx.execute(
            "DELETE FROM portal_login_failures WHERE throttle_key = $1 AND at = $2",
            &[address_key.into(), secs(at).into()],
        )?;
        Ok(())
    })
}

/// Forgets the failures of `key` (after a successful login).
pub fn clear_failures(db: &dyn PortalDb, key: &str) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "DELETE FROM portal_login_failures WHERE throttle_key = $1",
            &[key.into()],
        )?;
        Ok(())
    })
}

/// An operator account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Id.
    pub id: i64,
    /// Login name.
    pub login: String,
    /// Display name.
    pub name: String,
    /// argon2id hash.
    pub password_hash: String,
    /// Session epoch.
    pub session_epoch: i64,
    /// The TOTP secret (none: the operator cannot log in until one is made).
    pub totp_secret: Option<Vec<u8>>,
}

const OPERATOR_COLUMNS: &str = "id, login, name, password_hash, session_epoch, totp_secret";

fn decode_operator(r: &Row) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: r.int(0)?,
        login: r.text(1)?,
        name: r.text(2)?,
        password_hash: r.text(3)?,
        session_epoch: r.int(4)?,
        totp_secret: match r.0.get(5) {
            Some(Value::Bytes(b)) => Some(b.clone()),
            _ => None,
        },
    })
}

/// Accepts the TOTP step `step` for operator `id` once: `false` when that step or a later one
/// was already used (a replayed code).
pub fn use_totp_step(db: &dyn PortalDb, id: i64, step: i64) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        Ok(tx.execute(
            "UPDATE portal_operators SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            &[step.into(), id.into()],
        )? == 1)
    })
}

/// Gives operator `login` a new TOTP secret (logging them out everywhere); `None` when there is
/// no such operator.
pub fn set_totp_secret(
    db: &dyn PortalDb,
    login: &str,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    transaction(db, |tx| {
        let Some(row) = tx.query_opt(
            "UPDATE portal_operators SET totp_secret = $1, totp_last_step = NULL, session_epoch = session_epoch + 1 WHERE login = $2 RETURNING id",
            &[secret.into(), login.into()],
        )?
        else {
            return Ok(None);
        };
        let id = row.int(0)?;
        audit(
            tx,
            now,
            Role::Operator,
            id,
            "operator.totp",
            &format!("operator:{id}"),
            login,
        )?;
        Ok(Some(id))
    })
}

/// Adds an operator (from the command line only); `None` when the login is taken.
pub fn add_operator(
    db: &dyn PortalDb,
    login: &str,
    name: &str,
    password_hash: &str,
    totp_secret: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    transaction(db, |tx| {
        if tx
            .query_opt(
                "SELECT 1 FROM portal_operators WHERE login = $1",
                &[login.into()],
            )?
            .is_some()
        {
            return Ok(None);
        }
        let row = tx.query_opt(
            "INSERT INTO portal_operators (login, name, password_hash, totp_secret, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[login.into(), name.into(), password_hash.into(), totp_secret.into(), secs(now).into()],
        )?;
        let id = row.map_or(Ok(0), |r| r.int(0))?;
        audit(
            tx,
            now,
            Role::Operator,
            id,
            "operator.add",
            &format!("operator:{id}"),
            login,
        )?;
        Ok(Some(id))
    })
}

/// The operator with `login`.
pub fn operator_by_login(db: &dyn PortalDb, login: &str) -> Result<Option<Operator>, StoreError> {
    read(db, |tx| {
        tx.query_opt(
            &format!("SELECT {OPERATOR_COLUMNS} FROM portal_operators WHERE login = $1"),
            &[login.into()],
        )?
        .as_ref()
        .map(decode_operator)
        .transpose()
    })
}

/// The operator with `id`.
pub fn operator(db: &dyn PortalDb, id: i64) -> Result<Option<Operator>, StoreError> {
    read(db, |tx| {
        tx.query_opt(
            &format!("SELECT {OPERATOR_COLUMNS} FROM portal_operators WHERE id = $1"),
            &[id.into()],
        )?
        .as_ref()
        .map(decode_operator)
        .transpose()
    })
}

/// Appends to the portal's audit (inside a transaction).
pub fn audit(
    tx: &mut dyn PortalTx,
    now: DateTime<Utc>,
    role: Role,
    actor_id: i64,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO portal_audit (at, actor_role, actor_id, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            secs(now).into(),
            role.as_str().into(),
            actor_id.into(),
            action.into(),
            target.into(),
            detail.into(),
        ],
    )?;
    Ok(())
}

/// Appends to the portal's audit in its own transaction.
pub fn audit_now(
    db: &dyn PortalDb,
    role: Role,
    actor_id: i64,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        audit(tx, Utc::now(), role, actor_id, action, target, detail)
    })
}

/// One line of the audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditLine {
    /// When.
    pub at: DateTime<Utc>,
    /// `clinic` or `operator`.
    pub actor_role: String,
    /// Who.
    pub actor_id: i64,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details (a reason, an amount).
    pub detail: String,
}

/// The newest audit lines, `limit` from `offset`.
pub fn audit_lines(
    db: &dyn PortalDb,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditLine>, StoreError> {
    read(db, |tx| {
        tx.query(
            "SELECT at, actor_role, actor_id, action, target, detail FROM portal_audit ORDER BY id DESC LIMIT $1 OFFSET $2",
            &[limit.into(), offset.into()],
        )?
        .iter()
        .map(|r| {
            Ok(AuditLine {
                at: time(r.int(0)?),
                actor_role: r.text(1)?,
                actor_id: r.int(2)?,
                action: r.text(3)?,
                target: r.text(4)?,
                detail: r.text(5)?,
            })
        })
        .collect()
    })
}
