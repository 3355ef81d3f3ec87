//! What the eligibility service stores besides persons and records: clinics and their terminals
//! (enrollment, certificates, revocation), the links from card certificates to persons, CRLs,
//! server-wide secrets and the hash-chained audit log.
//!
//! Every instance of the service shares these tables, so every rule that must hold across
//! instances (a terminal revoked, an enrollment code spent, a nonce used once) is enforced by
//! the store in one transaction, never by an instance's memory. Times are parameters; the store
//! keeps them to the microsecond (both engines do), so a value read back equals the value
//! returned when it was written.
//!
//! # The audit log
//!
//! `audit_log` is a table onshi only ever INSERTs into. Each terminal has its own chain, so
//! instances serving different terminals never wait on one another: record `seq` (from 1) of a
//! terminal stores `prev_hash`, the hash of the terminal's record `seq - 1` (32 zero bytes for
//! record 1, [`GENESIS_HASH`]), and `hash` = [`audit_mac`]`(key, prev_hash, entry, seq)`, an
//! HMAC-SHA-256 under an [`AuditKey`] the service keeps outside the database (the server's
//! `audit.key`). The terminal's row holds the head: the number of records (`checks`) and the
//! hash of the last one, so deleting the last record is detected too.
//! [`ServiceStore::audit_verify`] recomputes every chain with the key: someone who can write the
//! database but does not hold the key cannot rewrite a record, even recomputing every hash
//! after it.
//!
//! Records written before the key existed (schema version 5) used a plain SHA-256,
//! [`audit_hash`]. When a key is first adopted ([`ServiceStore::adopt_audit_key`] with
//! `seal_legacy`), each terminal's chain as it stands is sealed: its row keeps
//! `audit_legacy_seq` (the records written the old way) and `audit_legacy_seal`,
//! [`audit_seal`] of that count and of the hash of its last record. Verification checks records
//! up to `audit_legacy_seq` with [`audit_hash`], the seal with the key, and every later record
//! with [`audit_mac`]; a chain rewritten "the old way" has no valid seal.
//!
//! The key does not stop someone who holds it as well, nor a rollback of the whole database to
//! an older copy. For that, keep the heads somewhere else ([`AuditVerification::heads`],
//! printed by `onshi admin audit verify`) and compare them later
//! ([`ServiceStore::audit_verify`]'s `anchors`), and on PostgreSQL take the writing rights away
//! from the role onshi connects as:
//!
//! ```sql
//! REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM onshi;
//! ```
//!
//! (with the table owned by another role, since an owner can grant itself the rights back).
//! onshi keeps working: it needs only INSERT and SELECT on `audit_log`.

use chrono::{DateTime, SubsecRound, Utc};
use hmac::{KeyInit, Mac};
use onshi_model::PersonId;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Store, StoreError};

/// A clinic (保険医療機関等) that owns terminals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clinic {
    /// The id the store allocated.
    pub id: i64,
    /// The clinic's name.
    pub name: String,
    /// Its registration (登録記号番号), as the operator entered it.
    pub registration: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// Where a terminal is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TerminalStatus {
    /// Added, waiting for the app to enroll with its one-time code.
    Pending,
    /// Enrolled: holds a client certificate and may call the service.
    Active,
    /// Revoked: refused from the next request on, for good.
    Revoked,
}

impl TerminalStatus {
    /// The text stored for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }

    /// The status a stored text names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

impl std::fmt::Display for TerminalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A terminal account (the reception app of one PC or tablet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    /// `W` and seven digits, allocated in order (`W0000001`, `W0000002`, …), unique across
    /// instances.
    pub id: String,
    /// The clinic that owns it.
    pub clinic_id: i64,
    /// Pending, active or revoked.
    pub status: TerminalStatus,
    /// The serial of its current client certificate (set by enrollment, changed by renewal).
    pub certificate_serial: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When its current certificate was recorded: at enrollment, then at each renewal.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The time of its last audit record.
    pub last_used_at: Option<DateTime<Utc>>,
    /// How many audit records it has (its chain's length).
    pub checks: i64,
}

/// Which person a card certificate belongs to (the card authority's issue record), keyed by the
/// certificate's issuer and serial: a serial is unique only within its CA.
///
/// `issuer` is the issuing CA's subject as onshi-pki prints it (`C=JP, O=…, CN=…`, the
/// `CheckedCard::issuer` of a card). Links stored before migration 7 have the empty issuer
/// [`LEGACY_ISSUER`] until [`ServiceStore::adopt_legacy_card_links`] gives them one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardLink {
    /// The issuing CA's subject, as text.
    pub issuer: String,
    /// The certificate's serial number, as the authority writes it.
    pub serial: String,
    /// The person the card was issued to.
    pub person_id: PersonId,
    /// Start of the certificate's validity.
    pub not_before: DateTime<Utc>,
    /// End of the certificate's validity.
    pub not_after: DateTime<Utc>,
    /// Registered for health-insurance use (利用登録).
    pub registered: bool,
}

/// A certificate revocation list as loaded by an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCrl {
    /// An opaque key for the issuer, chosen by the caller; a new CRL replaces the one with the
    /// same key.
    pub issuer: String,
    /// Its CRL number, big-endian unsigned, at most [`CRL_NUMBER_BYTES`] bytes (leading zeros
    /// do not count); `None` only for CRLs stored before migration 7.
    pub number: Option<Vec<u8>>,
    /// The CRL, DER-encoded.
    pub der: Vec<u8>,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
}

/// What a request audited asked for (the `mode` column; its text is part of the chain's hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditMode {
    /// A card check with the patient's PIN.
    Pin,
    /// A card check with the staff's look at the card's photo (目視).
    Visual,
    /// A check by 保険者番号・記号・番号 and birth date.
    Query,
    /// 利用登録 of a card (with a PIN check).
    Register,
}

impl AuditMode {
    /// The stored text: `pin`, `visual`, `query`, `register`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::Visual => "visual",
            Self::Query => "query",
            Self::Register => "register",
        }
    }

    /// The mode of a stored text; `None` for any other.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pin, Self::Visual, Self::Query, Self::Register]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

impl std::fmt::Display for AuditMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one request that reached the eligibility logic did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// When (kept to the microsecond).
    pub at: DateTime<Utc>,
    /// The terminal that asked.
    pub terminal_id: String,
    /// Its clinic.
    pub clinic_id: i64,
    /// What was asked.
    pub mode: AuditMode,
    /// The serial of the card certificate presented, if any.
    pub certificate_serial: Option<String>,
    /// The person the answer was about, if one was found.
    pub person_id: Option<PersonId>,
    /// A QualificationValidity code or an error code.
    pub answer: String,
    /// The 照会番号 of the answer.
    pub reference_number: String,
    /// The id of the challenge redeemed; each may be recorded once. `None` for queries by
    /// numbers, which have no challenge.
    pub nonce_id: Option<[u8; 32]>,
    /// For a re-check of a visit recorded as 未確認 at the desk: which visit (the app's
    /// reference of it, the visit's time as the desk recorded it).
    pub recheck_of: Option<String>,
}

/// An audit entry as stored: its place and hashes in its terminal's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its number in the terminal's chain, from 1.
    pub seq: i64,
    /// What happened.
    pub entry: AuditEntry,
    /// The hash of the terminal's previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: [u8; 32],
    /// [`audit_mac`] of this record ([`audit_hash`] for a record written before the key).
    pub hash: [u8; 32],
}

/// The result of recomputing every chain of the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditVerification {
    /// Terminals checked.
    pub terminals: u64,
    /// Audit records read.
    pub records: u64,
    /// Everything that does not match (empty when the log is intact).
    pub problems: Vec<AuditProblem>,
    /// The last record of every chain that has one, by terminal: keep a copy elsewhere and pass
    /// it back as anchors later.
    pub heads: Vec<AuditHead>,
}

/// The head of one terminal's chain: its last record's number and hash. A copy kept outside
/// the database anchors the chain: the record must still be there, with that hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    /// The terminal.
    pub terminal_id: String,
    /// The record's number in the chain.
    pub seq: i64,
    /// The record's hash.
    pub hash: [u8; 32],
}

impl AuditHead {
    /// One line of a heads file: `TERMINAL SEQ HASH` (hash in lowercase hex).
    pub fn line(&self) -> String {
        let hex: String = self.hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("{} {} {hex}", self.terminal_id, self.seq)
    }

    /// Parses a line written by [`AuditHead::line`]; `None` when it is not one.
    pub fn parse_line(line: &str) -> Option<Self> {
        let mut parts = line.split_whitespace();
        let terminal_id = parts.next()?.to_owned();
        let seq = parts.next()?.parse().ok()?;
        let hex = parts.next()?;
        if parts.next().is_some() || hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut hash = [0u8; 32];
        for (i, b) in hash.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self {
            terminal_id,
            seq,
            hash,
        })
    }
}

/// The secret key of the audit chain's MAC (HMAC-SHA-256), 32 bytes, kept outside the database.
/// A clone is wiped on drop like the original (a group commit holds one per queued check).
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl AuditKey {
    /// The key's length in bytes.
    pub const LEN: usize = 32;

    /// A key from its bytes; `None` unless exactly [`AuditKey::LEN`] bytes, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key = <[u8; 32]>::try_from(bytes).ok()?;
        if key.iter().all(|&b| b == 0) {
            return None;
        }
        Some(Self(Zeroizing::new(key)))
    }

    /// An HMAC-SHA-256 under this key.
    fn mac(&self) -> hmac::Hmac<Sha256> {
        // Cannot fail: HMAC takes a key of any length.
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }

    /// What identifies the key in the database without revealing it: HMAC of a fixed label.
    /// Lets an instance with another key refuse to start instead of writing records that do
    /// not verify.
    pub fn id(&self) -> [u8; 32] {
        let mut m = self.mac();
        m.update(b"onshi audit key id v1");
        m.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// The database's audit chain was written under another key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the audit log was written under another audit key")]
pub struct AuditKeyMismatch;

/// One place where the audit log does not match its chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditProblem {
    /// The terminal whose chain is broken.
    pub terminal_id: String,
    /// The record concerned (for a missing record: the first missing number).
    pub seq: i64,
    /// What is wrong, for people.
    pub what: String,
}

/// Why an enrollment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnrollRefusal {
    /// No terminal has that id.
    #[error("unknown terminal")]
    UnknownTerminal,
    /// The code does not match (the attempt is counted).
    #[error("wrong enrollment code")]
    WrongCode,
    /// The code matches but has expired.
    #[error("the enrollment code has expired")]
    Expired,
    /// The terminal is already enrolled (its code is spent).
    #[error("the terminal is already enrolled")]
    AlreadyEnrolled,
    /// The terminal has been revoked.
    #[error("the terminal has been revoked")]
    Revoked,
    /// [`ENROLL_ATTEMPTS`] wrong codes spent the code; an operator must issue a new one.
    #[error("too many wrong enrollment codes; ask for a new code")]
    TooManyAttempts,
}

/// The challenge of an audit entry was already recorded: the request is a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the challenge has already been used")]
pub struct NonceSpent;

/// Wrong enrollment codes a terminal may send before its code is spent.
pub const ENROLL_ATTEMPTS: i64 = 5;

/// The issuer of the card links stored before migration 7 (which were keyed by serial alone).
pub const LEGACY_ISSUER: &str = "";

/// The longest CRL number kept, in bytes (RFC 5280 §5.2.3: at most 20 octets).
pub const CRL_NUMBER_BYTES: usize = 20;

/// The `prev_hash` of a terminal's first audit record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The storage interface of the eligibility service (both engines implement it).
pub trait ServiceStore: Store {
    /// The portal's tables (see [`crate::portal`]).
    fn portal(&self) -> &dyn crate::portal::PortalDb;

    /// The check path of its own, when the engine has one that does not block (see
    /// [`crate::check_path`]); `None`: wrap the store in [`crate::check_path::Blocking`].
    fn check_path(&self) -> Option<std::sync::Arc<dyn crate::check_path::CheckStore>> {
        None
    }

    /// How many checks (audit records) were made at or after `since` (the operator's
    /// dashboard: checks today).
    fn checks_since(&self, since: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Counts one request under `key` in the fixed window that starts at `window_start` (Unix
    /// seconds), in one statement every instance on the database shares; the window's count,
    /// this request included (rate limits across instances: `shared_rate_limits`).
    fn count_request(&self, key: &str, window_start: i64) -> Result<u64, StoreError>;

    /// Forgets the counts of windows that started before `before` (Unix seconds); how many.
    fn prune_request_counts(&self, before: i64) -> Result<u64, StoreError>;

    /// Forgets the challenges spent before `before`, kept only to refuse a challenge twice: a
    /// challenge carries its expiry under the service's MAC, so one older than its lifetime is
    /// refused before the store is asked. How many. (PostgreSQL keeps them in `spent_nonces`;
    /// SQLite in the audit log itself, whose rows are never removed: nothing to forget there.)
    fn prune_spent_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Adds a clinic.
    fn add_clinic(
        &self,
        name: &str,
        registration: &str,
        now: DateTime<Utc>,
    ) -> Result<Clinic, StoreError>;

    /// A clinic by id.
    fn clinic(&self, id: i64) -> Result<Option<Clinic>, StoreError>;

    /// Every clinic, by id.
    fn clinics(&self) -> Result<Vec<Clinic>, StoreError>;

    /// Adds a pending terminal to a clinic with the SHA-256 of its one-time enrollment code;
    /// allocates the next `W` id. An unknown clinic is [`StoreError::NotFound`]; a clinic that
    /// already has `max_per_clinic` terminals pending or active (revoked ones do not count) is
    /// [`StoreError::TooManyTerminals`], decided in the same transaction as the insert, so that
    /// concurrent additions cannot pass the cap together. `max_per_clinic == 0`: no cap.
    /// `name` (受付PC…, the portal's label) is stored in the same transaction.
    fn add_terminal(
        &self,
        clinic_id: i64,
        max_per_clinic: u32,
        code_hash: [u8; 32],
        code_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        name: Option<&str>,
    ) -> Result<Terminal, StoreError>;

    /// Gives a pending terminal a new enrollment code (after the old one expired or was spent
    /// by wrong attempts) and clears the count of wrong attempts. False unless the terminal
    /// exists and is pending.
    fn reset_enrollment_code(
        &self,
        id: &str,
        code_hash: [u8; 32],
        code_expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// A terminal by id.
    fn terminal(&self, id: &str) -> Result<Option<Terminal>, StoreError>;

    /// The terminals of a clinic, by id.
    fn terminals_of_clinic(&self, clinic_id: i64) -> Result<Vec<Terminal>, StoreError>;

    /// Enrolls a pending terminal, atomically: the code (its SHA-256, compared in constant time)
    /// must match and not have expired at `now`; the terminal becomes active with the
    /// certificate's serial and the code is spent. A wrong code is counted and, at the
    /// [`ENROLL_ATTEMPTS`]th, spent.
    fn enroll_terminal(
        &self,
        id: &str,
        code_hash: [u8; 32],
        certificate_serial: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Terminal, EnrollRefusal>, StoreError>;

    /// Replaces the certificate serial of an active terminal (the old certificate is refused
    /// from then on) and sets `enrolled_at` to `now`. False unless the terminal is active.
    fn renew_terminal_certificate(
        &self,
        id: &str,
        new_serial: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Revokes a pending or active terminal (its enrollment code, if any, is spent). Every
    /// instance sees it on the next request. False if unknown or already revoked.
    fn revoke_terminal(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The active terminal holding the certificate with this serial: the look-up of every
    /// request (one unique-index probe).
    fn active_terminal_by_serial(&self, serial: &str) -> Result<Option<Terminal>, StoreError>;

    /// The link of the card certificate with this issuer and serial.
    fn card_link(&self, issuer: &str, serial: &str) -> Result<Option<CardLink>, StoreError>;

    /// Gives the links stored before migration 7 (issuer [`LEGACY_ISSUER`]) this issuer: done
    /// when the service trusts exactly one CA, whose cards they must be. A legacy link whose
    /// serial is already linked under `issuer` is left as it is (it answers no card). Returns
    /// how many links were given the issuer.
    fn adopt_legacy_card_links(&self, issuer: &str) -> Result<u64, StoreError>;

    /// Marks a card as registered for health-insurance use (利用登録); `now` is kept as the
    /// time of the first registration. False if no link has this issuer and serial. For an
    /// operator's correction only: the service registers a card through
    /// [`ServiceStore::record_check`], in the transaction of its audit record.
    fn register_card(
        &self,
        issuer: &str,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores a verified CRL, replacing the one with the same issuer key, adds the serials it
    /// lists to that issuer's revoked serials (kept for good: see [`ServiceStore::crl_revoked`])
    /// and bumps the CRL generation, in one transaction. Refused (false, nothing written) unless
    /// its number is higher than the stored CRL's, compared as integers; a stored CRL without a
    /// number (from before migration 7) is replaced. A number longer than
    /// [`CRL_NUMBER_BYTES`] is [`StoreError::Corrupt`].
    fn put_crl(&self, crl: &StoredCrl, revoked: &[String]) -> Result<bool, StoreError>;

    /// Removes the stored CRL of an issuer key (one that no longer verifies, say) and bumps the
    /// CRL generation; the serials it revoked stay revoked. False if there was none.
    fn remove_crl(&self, issuer: &str) -> Result<bool, StoreError>;

    /// Every stored CRL, by issuer key.
    fn crls(&self) -> Result<Vec<StoredCrl>, StoreError>;

    /// Every `(issuer key, serial)` that a CRL ever stored with [`ServiceStore::put_crl`]
    /// listed: a card once revoked stays revoked, even if a later CRL no longer lists it.
    fn crl_revoked(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// A number that changes whenever a CRL is stored: instances poll it and reload the CRLs
    /// when it moved.
    fn crl_generation(&self) -> Result<i64, StoreError>;

    /// The server-wide secret with this name; if there is none yet, `generate`s one and stores
    /// it. Instances racing to create it all get the one stored first.
    fn secret(&self, name: &str, generate: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>, StoreError>;

    /// Appends an entry to its terminal's audit chain, hashed with [`audit_mac`] under `key`, in
    /// one transaction that also redeems the entry's challenge: if that `nonce_id` was recorded
    /// before, nothing is written and the answer is [`NonceSpent`]. Updates the terminal's head,
    /// `checks` and `last_used_at` (= `entry.at`). With `register`, the same transaction then
    /// marks that card as registered for health-insurance use (利用登録; `entry.at` is kept as
    /// the time of the first registration): a registration is never written without its audit
    /// record, nor with a spent challenge. An unknown terminal, or a card link that is gone, is
    /// [`StoreError::NotFound`] (nothing written).
    fn record_check(
        &self,
        key: &AuditKey,
        entry: &AuditEntry,
        register: Option<&CardLink>,
    ) -> Result<Result<AuditRecord, NonceSpent>, StoreError>;

    /// Makes `key` the audit log's key. The first key a database sees is recorded by its
    /// [`AuditKey::id`]; with `seal_legacy` (the key was just created), every terminal's chain
    /// written so far is sealed under it (see the module's documentation) in the same
    /// transaction. Answers how many chains were sealed, or [`AuditKeyMismatch`] when the
    /// database already has another key.
    fn adopt_audit_key(
        &self,
        key: &AuditKey,
        seal_legacy: bool,
    ) -> Result<Result<u64, AuditKeyMismatch>, StoreError>;

    /// Recomputes every terminal's chain under `key` and compares it with the stored hashes and
    /// with the head on the terminal's row: catches a changed, deleted (anywhere, the last one
    /// too) or reordered record, and any record rewritten without the key. Each of `anchors`
    /// (heads kept elsewhere) must still be in its chain with the same hash. Answers
    /// [`AuditKeyMismatch`] at once when the database records another key. Reads one
    /// consistent snapshot.
    fn audit_verify(
        &self,
        key: &AuditKey,
        anchors: &[AuditHead],
    ) -> Result<Result<AuditVerification, AuditKeyMismatch>, StoreError>;

    /// Every audit record about a person (who checked them, when), oldest first.
    fn audit_for_person(&self, person_id: &str) -> Result<Vec<AuditRecord>, StoreError>;

    /// A terminal's audit chain, in order.
    fn audit_of_terminal(&self, terminal_id: &str) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The bytes an audit record's hash covers, in this order,
///
/// | field | encoding |
/// |---|---|
/// | `prev_hash` | 32 bytes |
/// | `at` | microseconds since 1970-01-01T00:00:00Z, i64 big-endian |
/// | `terminal_id` | string |
/// | `clinic_id` | i64 big-endian |
/// | `mode` | string |
/// | `certificate_serial` | optional string |
/// | `person_id` | optional string |
/// | `answer` | string |
/// | `reference_number` | string |
/// | `nonce_id` | `0x00`, or `0x01` and the 32 bytes |
/// | `seq` | i64 big-endian |
///
/// where a string is its UTF-8 length in bytes as u64 big-endian followed by the bytes, and an
/// optional string is `0x00`, or `0x01` followed by the string. The lengths make the encoding
/// unambiguous; sub-microsecond digits of `at` are ignored (the store keeps microseconds).
pub fn audit_encoding(prev_hash: &[u8; 32], entry: &AuditEntry, seq: i64) -> Vec<u8> {
    fn string(h: &mut Vec<u8>, s: &str) {
        h.extend_from_slice(&(s.len() as u64).to_be_bytes());
        h.extend_from_slice(s.as_bytes());
    }
    fn opt_string(h: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => h.push(0),
            Some(s) => {
                h.push(1);
                string(h, s);
            }
        }
    }
    let mut h = Vec::with_capacity(256);
    h.extend_from_slice(prev_hash);
    h.extend_from_slice(&entry.at.timestamp_micros().to_be_bytes());
    string(&mut h, &entry.terminal_id);
    h.extend_from_slice(&entry.clinic_id.to_be_bytes());
    string(&mut h, entry.mode.as_str());
    opt_string(&mut h, entry.certificate_serial.as_deref());
    opt_string(&mut h, entry.person_id.as_ref().map(PersonId::as_str));
    string(&mut h, &entry.answer);
    string(&mut h, &entry.reference_number);
    match &entry.nonce_id {
        None => h.push(0),
        Some(n) => {
            h.push(1);
            h.extend_from_slice(n);
        }
    }
    h.extend_from_slice(&seq.to_be_bytes());
    // Added later, after every field of the first version: absent, the encoding (and so the
    // hash of every record written before) is unchanged.
    if let Some(visit) = &entry.recheck_of {
        h.extend_from_slice(b"recheck_of");
        string(&mut h, visit);
    }
    h
}

/// The hash of an audit record: HMAC-SHA-256 under the audit key over [`audit_encoding`].
pub fn audit_mac(key: &AuditKey, prev_hash: &[u8; 32], entry: &AuditEntry, seq: i64) -> [u8; 32] {
    let mut m = key.mac();
    m.update(&audit_encoding(prev_hash, entry, seq));
    m.finalize().into_bytes().into()
}

/// The hash of an audit record written before schema version 5 (no key): SHA-256 over
/// [`audit_encoding`]. Verification accepts it only for a chain's sealed legacy part.
pub fn audit_hash(prev_hash: &[u8; 32], entry: &AuditEntry, seq: i64) -> [u8; 32] {
    Sha256::digest(audit_encoding(prev_hash, entry, seq)).into()
}

/// The seal of a terminal's legacy records (written without the key): HMAC-SHA-256 under the
/// audit key over a label, the terminal id (as a string of [`audit_encoding`]), the number of
/// legacy records (i64 big-endian) and the hash of the last of them.
pub fn audit_seal(key: &AuditKey, terminal_id: &str, legacy_seq: i64, head: &[u8; 32]) -> [u8; 32] {
    let mut m = key.mac();
    m.update(b"onshi audit legacy seal v1");
    m.update(&(terminal_id.len() as u64).to_be_bytes());
    m.update(terminal_id.as_bytes());
    m.update(&legacy_seq.to_be_bytes());
    m.update(head);
    m.finalize().into_bytes().into()
}

/// The name under which the database records the audit key's [`AuditKey::id`].
pub(crate) const AUDIT_KEY_ID: &str = "audit-key-id";

/// How an engine ends a write transaction.
pub(crate) enum Finish<T> {
    /// Commit, then answer.
    Commit(T),
    /// Roll back (nothing written), then answer.
    Rollback(T),
}

/// A CRL number as stored: [`CRL_NUMBER_BYTES`] bytes, big-endian, zero-padded, so that the
/// engines compare the bytes as the integers.
pub(crate) fn stored_crl_number(number: &[u8]) -> Result<Vec<u8>, StoreError> {
    let first = number.iter().position(|b| *b != 0).unwrap_or(number.len());
    let significant = &number[first..];
    if significant.len() > CRL_NUMBER_BYTES {
        return Err(StoreError::Corrupt {
            column: "number",
            value: format!("{} bytes", significant.len()),
            reason: format!("a CRL number has at most {CRL_NUMBER_BYTES} bytes"),
        });
    }
    let mut padded = vec![0u8; CRL_NUMBER_BYTES - significant.len()];
    padded.extend_from_slice(significant);
    Ok(padded)
}

/// A stored CRL number with its padding removed.
pub(crate) fn crl_number_from_stored(stored: Vec<u8>) -> Vec<u8> {
    let first = stored.iter().position(|b| *b != 0).unwrap_or(stored.len());
    stored[first..].to_vec()
}

/// A time as the store keeps it: to the microsecond.
pub(crate) fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The id of the `n`th terminal, if `n` fits in seven digits.
pub(crate) fn terminal_id(n: i64) -> Result<String, StoreError> {
    if (1..=9_999_999).contains(&n) {
        Ok(format!("W{n:07}"))
    } else {
        Err(StoreError::Exhausted { what: "terminal" })
    }
}

/// Equality of two hashes in time that does not depend on where they differ.
pub(crate) fn same_hash(a: &[u8], b: &[u8; 32]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What an enrollment attempt found on the terminal's row (read under its lock).
pub(crate) struct EnrollState {
    pub(crate) status: TerminalStatus,
    pub(crate) code_hash: Option<Vec<u8>>,
    pub(crate) code_expires_at: Option<DateTime<Utc>>,
    pub(crate) failures: i64,
}

/// What an enrollment attempt does to the terminal's row.
pub(crate) enum EnrollDecision {
    /// Refuse and write nothing.
    Refuse(EnrollRefusal),
    /// Count a wrong code; `spend` when it was the last attempt allowed.
    WrongCode { failures: i64, spend: bool },
    /// Activate.
    Enroll,
}

/// The rule of enrollment, shared by both engines. The code is checked before its expiry, so
/// only someone who knows the code learns that it expired.
pub(crate) fn decide_enrollment(
    state: Option<&EnrollState>,
    code_hash: &[u8; 32],
    now: DateTime<Utc>,
) -> EnrollDecision {
    let Some(s) = state else {
        return EnrollDecision::Refuse(EnrollRefusal::UnknownTerminal);
    };
    match s.status {
        TerminalStatus::Revoked => return EnrollDecision::Refuse(EnrollRefusal::Revoked),
        TerminalStatus::Active => return EnrollDecision::Refuse(EnrollRefusal::AlreadyEnrolled),
        TerminalStatus::Pending => {}
    }
    let Some(stored) = &s.code_hash else {
        return EnrollDecision::Refuse(EnrollRefusal::TooManyAttempts);
    };
    if !same_hash(stored, code_hash) {
        let failures = s.failures + 1;
        return EnrollDecision::WrongCode {
            failures,
            spend: failures >= ENROLL_ATTEMPTS,
        };
    }
    match s.code_expires_at {
        Some(expires) if now < expires => EnrollDecision::Enroll,
        _ => EnrollDecision::Refuse(EnrollRefusal::Expired),
    }
}

/// What a terminal's row says about its chain (read by `audit_verify`).
pub(crate) struct HeadRow {
    pub(crate) terminal_id: String,
    pub(crate) checks: i64,
    /// `None` when it could not be read.
    pub(crate) head: Option<[u8; 32]>,
    pub(crate) legacy_seq: i64,
    pub(crate) legacy_seal: Option<Vec<u8>>,
}

/// The columns of `terminals` that [`HeadRow`] decodes, in its order.
pub(crate) const HEAD_COLUMNS: &str = "id, checks, audit_head, audit_legacy_seq, audit_legacy_seal";

/// Recomputes chains from the terminals' heads and the records streamed in `(terminal, seq)`
/// order; shared by both engines.
pub(crate) struct ChainCheck<'k> {
    key: &'k AuditKey,
    heads: std::collections::BTreeMap<String, HeadRow>,
    anchors: std::collections::BTreeMap<(String, i64), [u8; 32]>,
    current: Option<Chain>,
    terminals: u64,
    records: u64,
    problems: Vec<AuditProblem>,
    walked: Vec<AuditHead>,
}

/// Where the walk of one terminal's chain is.
struct Chain {
    terminal_id: String,
    last_seq: i64,
    /// `None` after a record that could not be read.
    last_hash: Option<[u8; 32]>,
    /// Records up to this number were written before the key (0: none).
    legacy_seq: i64,
}

impl<'k> ChainCheck<'k> {
    /// Starts with every terminal's row and the heads kept elsewhere.
    pub(crate) fn new(
        key: &'k AuditKey,
        heads: impl IntoIterator<Item = HeadRow>,
        anchors: &[AuditHead],
    ) -> Self {
        let heads: std::collections::BTreeMap<_, _> = heads
            .into_iter()
            .map(|h| (h.terminal_id.clone(), h))
            .collect();
        Self {
            key,
            terminals: heads.len() as u64,
            heads,
            anchors: anchors
                .iter()
                .map(|a| ((a.terminal_id.clone(), a.seq), a.hash))
                .collect(),
            current: None,
            records: 0,
            problems: Vec::new(),
            walked: Vec::new(),
        }
    }

    fn problem(&mut self, terminal_id: &str, seq: i64, what: String) {
        self.problems.push(AuditProblem {
            terminal_id: terminal_id.to_owned(),
            seq,
            what,
        });
    }

    /// Checks the next record; `record` is the decoded row or why it could not be decoded.
    pub(crate) fn record(
        &mut self,
        terminal_id: &str,
        seq: i64,
        record: Result<AuditRecord, StoreError>,
    ) {
        self.records += 1;
        let mut chain = match self.current.take() {
            Some(c) if c.terminal_id == terminal_id => c,
            other => {
                if let Some(done) = other {
                    self.end_chain(done);
                }
                let legacy_seq = match self.heads.get(terminal_id) {
                    Some(h) => h.legacy_seq,
                    None => {
                        self.problem(
                            terminal_id,
                            seq,
                            "records of a terminal that does not exist".to_owned(),
                        );
                        0
                    }
                };
                Chain {
                    terminal_id: terminal_id.to_owned(),
                    last_seq: 0,
                    last_hash: Some(GENESIS_HASH),
                    legacy_seq,
                }
            }
        };
        let expected = chain.last_seq + 1;
        let gap = seq != expected;
        if gap {
            let what = if seq > expected + 1 {
                format!("records {expected} to {} are missing", seq - 1)
            } else if seq > expected {
                format!("record {expected} is missing")
            } else {
                format!("record {seq} comes after record {}", chain.last_seq)
            };
            self.problem(terminal_id, expected, what);
        }
        match record {
            Err(e) => {
                self.problem(terminal_id, seq, format!("the record cannot be read: {e}"));
                chain.last_hash = None;
            }
            Ok(r) => {
                if !gap && chain.last_hash.is_some_and(|h| h != r.prev_hash) {
                    self.problem(
                        terminal_id,
                        seq,
                        format!(
                            "prev_hash does not match the hash of record {}",
                            chain.last_seq
                        ),
                    );
                }
                let legacy = seq <= chain.legacy_seq;
                let recomputed = if legacy {
                    audit_hash(&r.prev_hash, &r.entry, seq)
                } else {
                    audit_mac(self.key, &r.prev_hash, &r.entry, seq)
                };
                if !same_hash(&recomputed, &r.hash) {
                    self.problem(
                        terminal_id,
                        seq,
                        if legacy {
                            "the record does not match its hash (it was changed)".to_owned()
                        } else {
                            "the record does not match its MAC under the audit key (it was \
                             changed, or written without the key)"
                                .to_owned()
                        },
                    );
                }
                if seq == chain.legacy_seq {
                    let seal = self
                        .heads
                        .get(terminal_id)
                        .and_then(|h| h.legacy_seal.as_deref());
                    let sealed = audit_seal(self.key, terminal_id, seq, &r.hash);
                    if !seal.is_some_and(|s| same_hash(s, &sealed)) {
                        self.problem(
                            terminal_id,
                            seq,
                            "the seal of the records written before the audit key does not \
                             verify under the key"
                                .to_owned(),
                        );
                    }
                }
                if let Some(saved) = self.anchors.remove(&(terminal_id.to_owned(), seq)) {
                    if saved != r.hash {
                        self.problem(
                            terminal_id,
                            seq,
                            "the record's hash differs from the saved head".to_owned(),
                        );
                    }
                }
                chain.last_hash = Some(r.hash);
            }
        }
        chain.last_seq = seq;
        self.current = Some(chain);
    }

    /// Compares a walked chain with the head on its terminal's row.
    fn end_chain(&mut self, chain: Chain) {
        if chain.last_seq > 0 {
            if let Some(hash) = chain.last_hash {
                self.walked.push(AuditHead {
                    terminal_id: chain.terminal_id.clone(),
                    seq: chain.last_seq,
                    hash,
                });
            }
        }
        let Some(row) = self.heads.remove(&chain.terminal_id) else {
            return;
        };
        let (checks, head) = (row.checks, row.head);
        if row.legacy_seq < 0 || row.legacy_seq > chain.last_seq.min(checks) {
            self.problem(
                &chain.terminal_id,
                row.legacy_seq.max(0),
                format!(
                    "the terminal claims {} records written before the audit key, its chain \
                     has {}",
                    row.legacy_seq, chain.last_seq
                ),
            );
        }
        if checks > chain.last_seq {
            let what = if checks > chain.last_seq + 1 {
                format!(
                    "records {} to {checks} are missing: the terminal counts {checks}, its chain \
                     ends at {}",
                    chain.last_seq + 1,
                    chain.last_seq
                )
            } else {
                format!(
                    "record {checks} is missing: the terminal counts {checks}, its chain ends at {}",
                    chain.last_seq
                )
            };
            self.problem(&chain.terminal_id, chain.last_seq + 1, what);
        } else if checks < chain.last_seq {
            self.problem(
                &chain.terminal_id,
                checks + 1,
                format!(
                    "the chain goes on to record {} but the terminal counts {checks}",
                    chain.last_seq
                ),
            );
        } else {
            match (head, chain.last_hash) {
                (None, _) => self.problem(
                    &chain.terminal_id,
                    checks,
                    "the head hash on the terminal's row cannot be read".to_owned(),
                ),
                (Some(h), Some(last)) if h != last => self.problem(
                    &chain.terminal_id,
                    checks,
                    "the head hash on the terminal's row does not match its last record".to_owned(),
                ),
                _ => {}
            }
        }
    }

    /// The verification, once every record was fed.
    pub(crate) fn finish(mut self) -> AuditVerification {
        if let Some(chain) = self.current.take() {
            self.end_chain(chain);
        }
        // Terminals without a single record left: their rows must count none.
        let unwalked: Vec<String> = self.heads.keys().cloned().collect();
        for terminal_id in unwalked {
            self.end_chain(Chain {
                terminal_id,
                last_seq: 0,
                last_hash: Some(GENESIS_HASH),
                legacy_seq: 0,
            });
        }
        // Saved heads no chain reached: the record was removed.
        for ((terminal_id, seq), _) in std::mem::take(&mut self.anchors) {
            self.problem(
                &terminal_id,
                seq,
                format!("record {seq}, a saved head, is no longer in the chain"),
            );
        }
        self.problems
            .sort_by(|a, b| (&a.terminal_id, a.seq).cmp(&(&b.terminal_id, b.seq)));
        self.walked
            .sort_by(|a, b| a.terminal_id.cmp(&b.terminal_id));
        AuditVerification {
            terminals: self.terminals,
            records: self.records,
            problems: self.problems,
            heads: self.walked,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            at: "2025-04-02T09:00:00.000001Z".parse().unwrap(),
            terminal_id: "W0000001".to_owned(),
            clinic_id: 7,
            mode: AuditMode::Pin,
            certificate_serial: Some("0A".to_owned()),
            person_id: None,
            answer: "1".to_owned(),
            reference_number: "R1".to_owned(),
            nonce_id: Some([0xAB; 32]),
            recheck_of: None,
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_documented_encoding() {
        let prev = [0x11; 32];
        let mut bytes = prev.to_vec();
        bytes.extend(1_743_584_400_000_001i64.to_be_bytes());
        bytes.extend(8u64.to_be_bytes());
        bytes.extend(b"W0000001");
        bytes.extend(7i64.to_be_bytes());
        bytes.extend(3u64.to_be_bytes());
        bytes.extend(b"pin");
        bytes.push(1);
        bytes.extend(2u64.to_be_bytes());
        bytes.extend(b"0A");
        bytes.push(0);
        bytes.extend(1u64.to_be_bytes());
        bytes.extend(b"1");
        bytes.extend(2u64.to_be_bytes());
        bytes.extend(b"R1");
        bytes.push(1);
        bytes.extend([0xAB; 32]);
        bytes.extend(5i64.to_be_bytes());
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(audit_hash(&prev, &entry(), 5), expected);
    }

    #[test]
    fn the_mac_is_hmac_sha256_of_the_documented_encoding() {
        // RFC 2104 by hand: H((K ^ opad) || H((K ^ ipad) || m)), K zero-padded to 64 bytes.
        let raw = [0x0B; 32];
        let key = AuditKey::from_bytes(&raw).unwrap();
        let m = audit_encoding(&[0x11; 32], &entry(), 5);
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(&raw);
        let inner = Sha256::new()
            .chain_update(k.map(|b| b ^ 0x36))
            .chain_update(&m)
            .finalize();
        let outer: [u8; 32] = Sha256::new()
            .chain_update(k.map(|b| b ^ 0x5C))
            .chain_update(inner)
            .finalize()
            .into();
        assert_eq!(audit_mac(&key, &[0x11; 32], &entry(), 5), outer);
        assert_ne!(audit_hash(&[0x11; 32], &entry(), 5), outer);
        let other = AuditKey::from_bytes(&[0x0C; 32]).unwrap();
        assert_ne!(audit_mac(&other, &[0x11; 32], &entry(), 5), outer);
        assert_ne!(key.id(), other.id());
        assert_ne!(
            audit_seal(&key, "W0000001", 3, &[1; 32]),
            audit_seal(&key, "W0000001", 4, &[1; 32])
        );
        assert!(AuditKey::from_bytes(&[0; 32]).is_none());
        assert!(AuditKey::from_bytes(&[1; 31]).is_none());
        assert_eq!(format!("{key:?}"), "AuditKey(..)");
    }

    #[test]
    fn every_field_and_the_place_count() {
        let base = audit_hash(&GENESIS_HASH, &entry(), 1);
        let mut moved = entry();
        // The same characters split differently between two fields.
        moved.answer = "1R".to_owned();
        moved.reference_number = "1".to_owned();
        let variants = [
            audit_hash(&[1; 32], &entry(), 1),
            audit_hash(&GENESIS_HASH, &entry(), 2),
            audit_hash(&GENESIS_HASH, &moved, 1),
            audit_hash(
                &GENESIS_HASH,
                &AuditEntry {
                    person_id: Some(PersonId::parse("P1").unwrap()),
                    ..entry()
                },
                1,
            ),
            audit_hash(
                &GENESIS_HASH,
                &AuditEntry {
                    nonce_id: None,
                    ..entry()
                },
                1,
            ),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }

    #[test]
    fn audit_modes_read_back_and_nothing_else_reads() {
        for m in [
            AuditMode::Pin,
            AuditMode::Visual,
            AuditMode::Query,
            AuditMode::Register,
        ] {
            assert_eq!(AuditMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(AuditMode::parse("PIN"), None);
        assert_eq!(AuditMode::parse(""), None);
        // The chain's hash covers the mode: another mode, another hash.
        let visual = AuditEntry {
            mode: AuditMode::Visual,
            ..entry()
        };
        assert_ne!(
            audit_hash(&GENESIS_HASH, &entry(), 1),
            audit_hash(&GENESIS_HASH, &visual, 1)
        );
    }

    #[test]
    fn crl_numbers_are_padded_to_compare_as_integers() {
        let two = stored_crl_number(&[2]).unwrap();
        let big = stored_crl_number(&[1, 0]).unwrap();
        assert_eq!(two.len(), CRL_NUMBER_BYTES);
        assert!(two < big, "256 is above 2");
        assert_eq!(stored_crl_number(&[0, 0, 2]).unwrap(), two);
        assert_eq!(crl_number_from_stored(big), vec![1, 0]);
        assert!(stored_crl_number(&[1; 21]).is_err());
        assert!(stored_crl_number(&[0; 25]).is_ok());
    }

    #[test]
    fn terminal_ids_have_seven_digits() {
        assert_eq!(terminal_id(1).unwrap(), "W0000001");
        assert_eq!(terminal_id(9_999_999).unwrap(), "W9999999");
        assert!(terminal_id(10_000_000).is_err());
        assert!(terminal_id(0).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            TerminalStatus::Pending,
            TerminalStatus::Active,
            TerminalStatus::Revoked,
        ] {
            assert_eq!(TerminalStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TerminalStatus::parse("Active"), None);
    }

    #[test]
    fn hashes_compare_by_value_and_length() {
        assert!(same_hash(&[3; 32], &[3; 32]));
        assert!(!same_hash(&[3; 31], &[3; 32]));
        let mut last = [3; 32];
        last[31] = 4;
        assert!(!same_hash(&last, &[3; 32]));
    }
}
