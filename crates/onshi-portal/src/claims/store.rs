//! The claims' queries (one SQL text for both engines, see `onshi_store::portal`). Every
//! query of the clinic's side is scoped by its clinic id; every change locks the claim's row
//! first (an `UPDATE` that changes nothing) so that an item added and a submission racing each
//! other are serialised on PostgreSQL as on SQLite; the operator's decisions and the clinic's
//! submission write `portal_audit` in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use onshi_store::portal::{transaction, PortalDb, PortalTx, Row, Value};
use onshi_store::StoreError;

use super::bank::{AccountKind, BankAccount};
use super::zengin::{Payer, Transfer};
use super::{Kind, Rates, ReceiptType, Status, MAX_ITEMS};
use crate::db::{self, secs, time, Role};

/// A claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Id (申請ID).
    pub id: i64,
    /// The clinic.
    pub clinic_id: i64,
    /// 機器導入 or レセコン改修.
    pub kind: Kind,
    /// Where it stands.
    pub status: Status,
    /// The grant computed when it was submitted.
    pub requested_amount: i64,
    /// The amount the operator approved.
    pub approved_amount: Option<i64>,
    /// The operator's reason when it was last returned.
    pub return_reason: Option<String>,
    /// When it was last submitted.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When the operator last approved or returned it.
    pub decided_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it was last returned.
    pub returned_at: Option<DateTime<Utc>>,
    /// The transfer account, once given.
    pub account: Option<BankAccount>,
}

const CLAIM_COLUMNS: &str = "c.id, c.clinic_id, c.kind, c.status, c.requested_amount, c.approved_amount, c.return_reason, c.submitted_at, c.decided_at, c.paid_at, c.created_at, c.returned_at, c.bank_code, c.bank_name, c.branch_code, c.branch_name, c.account_kind, c.account_number, c.account_holder";
/// How many columns [`CLAIM_COLUMNS`] has (what a query selects after them starts here).
const CLAIM_COLUMN_COUNT: usize = 19;

fn decode_account(r: &Row, at: usize) -> Result<Option<BankAccount>, StoreError> {
    let Some(bank_code) = r.opt_text(at)? else {
        return Ok(None);
    };
    let kind = r.text(at + 4)?;
    Ok(Some(BankAccount {
        bank_code,
        bank_name: r.text(at + 1)?,
        branch_code: r.text(at + 2)?,
        branch_name: r.text(at + 3)?,
        kind: AccountKind::parse(&kind)
            .ok_or_else(|| StoreError::Data(format!("account kind {kind:?}")))?,
        number: r.text(at + 5)?,
        holder: r.text(at + 6)?,
    }))
}

fn decode_claim(r: &Row, at: usize) -> Result<Claim, StoreError> {
    Ok(Claim {
        id: r.int(at)?,
        clinic_id: r.int(at + 1)?,
        kind: Kind::parse(&r.text(at + 2)?)
            .ok_or_else(|| StoreError::Data("claim kind".to_owned()))?,
        status: Status::parse(&r.text(at + 3)?)?,
        requested_amount: r.int(at + 4)?,
        approved_amount: r.opt_int(at + 5)?,
        return_reason: r.opt_text(at + 6)?,
        submitted_at: r.opt_int(at + 7)?.map(time),
        decided_at: r.opt_int(at + 8)?.map(time),
        paid_at: r.opt_int(at + 9)?.map(time),
        created_at: time(r.int(at + 10)?),
        returned_at: r.opt_int(at + 11)?.map(time),
        account: decode_account(r, at + 12)?,
    })
}

/// One receipt's line of a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Id.
    pub id: i64,
    /// Its claim.
    pub claim_id: i64,
    /// 購入日 (`yyyy-mm-dd`).
    pub purchased_on: String,
    /// 購入先.
    pub vendor: String,
    /// 品名・内容.
    pub description: String,
    /// 金額 (yen, tax included).
    pub amount: i64,
    /// The stored file's random name.
    pub receipt_file: String,
    /// Its sniffed type.
    pub receipt_type: ReceiptType,
    /// The uploaded name, reduced for display.
    pub receipt_name: String,
    /// Its size in bytes.
    pub receipt_size: i64,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

fn items(tx: &mut dyn PortalTx, claim_id: i64) -> Result<Vec<Item>, StoreError> {
    tx.query(
        "SELECT id, claim_id, purchased_on, vendor, description, amount, receipt_file, receipt_type, receipt_name, receipt_size, created_at
         FROM portal_claim_items WHERE claim_id = $1 ORDER BY purchased_on, id",
        &[claim_id.into()],
    )?
    .iter()
    .map(|r| {
        Ok(Item {
            id: r.int(0)?,
            claim_id: r.int(1)?,
            purchased_on: r.text(2)?,
            vendor: r.text(3)?,
            description: r.text(4)?,
            amount: r.int(5)?,
            receipt_file: r.text(6)?,
            receipt_type: ReceiptType::parse(&r.text(7)?)?,
            receipt_name: r.text(8)?,
            receipt_size: r.int(9)?,
            created_at: time(r.int(10)?),
        })
    })
    .collect()
}

/// The sum of the items' amounts.
pub fn total(items: &[Item]) -> i64 {
    items
        .iter()
        .fold(0i64, |sum, i| sum.saturating_add(i.amount))
}

/// Why a change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such claim or item (or not this clinic's).
    NotFound,
    /// The claim is not in a state that allows it.
    WrongStatus(Status),
    /// The claim holds [`MAX_ITEMS`] items already.
    TooManyItems,
    /// Submitting a claim without items.
    NoItems,
    /// Approving more than the grant (given).
    OverGrant(i64),
    /// Submitting a claim without its transfer account.
    NoAccount,
    /// Submitting a claim without this document.
    NoDocument(DocumentRole),
}

/// A document beside the receipts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentRole {
    /// 口座確認書類: a copy of the passbook's page or of the account's details.
    Bank,
    /// 内訳書: what was bought, itemised.
    Breakdown,
}

impl DocumentRole {
    /// Both.
    pub const ALL: [DocumentRole; 2] = [DocumentRole::Bank, DocumentRole::Breakdown];

    /// The stored value (also the form's field and the path's segment).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bank => "bank",
            Self::Breakdown => "breakdown",
        }
    }

    /// From the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What a clinic reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Bank => "口座確認書類（通帳の写し等）",
            Self::Breakdown => "内訳書",
        }
    }
}

/// A stored document of a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Which one.
    pub role: DocumentRole,
    /// The stored file's name.
    pub file: String,
    /// The sniffed type.
    pub file_type: ReceiptType,
    /// The name the clinic's file had.
    pub file_name: String,
    /// Its size.
    pub file_size: i64,
}

/// The documents of claim `claim_id`.
pub fn documents_in(tx: &mut dyn PortalTx, claim_id: i64) -> Result<Vec<Document>, StoreError> {
    tx.query(
        "SELECT role, file, file_type, file_name, file_size FROM portal_claim_documents WHERE claim_id = $1 ORDER BY role",
        &[claim_id.into()],
    )?
    .iter()
    .map(|r| {
        let role = r.text(0)?;
        Ok(Document {
            role: DocumentRole::parse(&role)
                .ok_or_else(|| StoreError::Data(format!("document role {role:?}")))?,
            file: r.text(1)?,
            file_type: ReceiptType::parse(&r.text(2)?)?,
            file_name: r.text(3)?,
            file_size: r.int(4)?,
        })
    })
    .collect()
}

/// The documents of claim `claim_id`.
pub fn documents(db: &dyn PortalDb, claim_id: i64) -> Result<Vec<Document>, StoreError> {
    onshi_store::portal::read(db, |tx| documents_in(tx, claim_id))
}

/// Puts `doc` beside the receipts of the clinic's claim of `kind` (started when it has none),
/// replacing the one of its role; returns the replaced file's stored name (the caller removes
/// it once this has committed).
pub fn put_document(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
    doc: &Document,
    now: DateTime<Utc>,
) -> Outcome<Option<String>> {
    transaction(db, |tx| {
        ensure_claim(tx, clinic_id, kind, now)?;
        let claim_id = match lock_editable(tx, clinic_id, kind)? {
            Ok(id) => id,
            Err(r) => return Ok(Err(r)),
        };
        let old = tx
            .query_opt(
                "DELETE FROM portal_claim_documents WHERE claim_id = $1 AND role = $2 RETURNING file",
                &[claim_id.into(), doc.role.as_str().into()],
            )?
            .map(|r| r.text(0))
            .transpose()?;
        tx.execute(
            "INSERT INTO portal_claim_documents (claim_id, role, file, file_type, file_name, file_size, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                claim_id.into(),
                doc.role.as_str().into(),
                doc.file.as_str().into(),
                doc.file_type.as_str().into(),
                doc.file_name.as_str().into(),
                doc.file_size.into(),
                secs(now).into(),
            ],
        )?;
        Ok(Ok(old))
    })
}

/// Sets the transfer account of the clinic's claim of `kind` (started when it has none) while
/// the clinic may change it.
pub fn set_account(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
    a: &BankAccount,
    now: DateTime<Utc>,
) -> Outcome<()> {
    transaction(db, |tx| {
        ensure_claim(tx, clinic_id, kind, now)?;
        let claim_id = match lock_editable(tx, clinic_id, kind)? {
            Ok(id) => id,
            Err(r) => return Ok(Err(r)),
        };
        tx.execute(
            "UPDATE portal_claims SET bank_code = $1, bank_name = $2, branch_code = $3, branch_name = $4, account_kind = $5, account_number = $6, account_holder = $7
             WHERE id = $8",
            &[
                a.bank_code.as_str().into(),
                a.bank_name.as_str().into(),
                a.branch_code.as_str().into(),
                a.branch_name.as_str().into(),
                a.kind.code().to_string().into(),
                a.number.as_str().into(),
                a.holder.as_str().into(),
                claim_id.into(),
            ],
        )?;
        db::audit(
            tx,
            now,
            Role::Clinic,
            clinic_id,
            "claim.account",
            &format!("claim:{claim_id}"),
            &format!("bank={} branch={}", a.bank_code, a.branch_code),
        )?;
        Ok(Ok(()))
    })
}

/// A change's result: done (with a value) or refused.
pub type Outcome<T> = Result<Result<T, Refusal>, StoreError>;

fn claim_where(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    kind: Kind,
) -> Result<Option<(Claim, Vec<Item>)>, StoreError> {
    let Some(row) = tx.query_opt(
        &format!(
            "SELECT {CLAIM_COLUMNS} FROM portal_claims c WHERE c.clinic_id = $1 AND c.kind = $2"
        ),
        &[clinic_id.into(), kind.as_str().into()],
    )?
    else {
        return Ok(None);
    };
    let claim = decode_claim(&row, 0)?;
    let items = items(tx, claim.id)?;
    Ok(Some((claim, items)))
}

fn ensure_claim(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO portal_claims (clinic_id, kind, status, requested_amount, created_at) VALUES ($1, $2, 'draft', 0, $3)
         ON CONFLICT (clinic_id, kind) DO NOTHING",
        &[clinic_id.into(), kind.as_str().into(), secs(now).into()],
    )?;
    Ok(())
}

/// The clinic's claim of `kind` with its items, if it has one.
pub fn claim_of(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
) -> Result<Option<(Claim, Vec<Item>)>, StoreError> {
    transaction(db, |tx| claim_where(tx, clinic_id, kind))
}

/// The clinic's claim of `kind` with its items, started as a draft when it has none.
pub fn open_claim(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<(Claim, Vec<Item>), StoreError> {
    transaction(db, |tx| {
        ensure_claim(tx, clinic_id, kind, now)?;
        claim_where(tx, clinic_id, kind)?
            .ok_or_else(|| StoreError::Data("the claim just started is missing".to_owned()))
    })
}

/// Locks the clinic's claim of `kind` when the clinic may change it: its id, else why not.
fn lock_editable(
    tx: &mut dyn PortalTx,
    clinic_id: i64,
    kind: Kind,
) -> Result<Result<i64, Refusal>, StoreError> {
    let params = [clinic_id.into(), kind.as_str().into()];
    if let Some(r) = tx.query_opt(
        "UPDATE portal_claims SET status = status WHERE clinic_id = $1 AND kind = $2 AND status IN ('draft', 'returned') RETURNING id",
        &params,
    )? {
        return Ok(Ok(r.int(0)?));
    }
    Ok(Err(
        match tx.query_opt(
            "SELECT status FROM portal_claims WHERE clinic_id = $1 AND kind = $2",
            &params,
        )? {
            Some(r) => Refusal::WrongStatus(Status::parse(&r.text(0)?)?),
            None => Refusal::NotFound,
        },
    ))
}

/// An item to add, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewItem {
    /// 購入日.
    pub purchased_on: NaiveDate,
    /// 購入先.
    pub vendor: String,
    /// 品名・内容.
    pub description: String,
    /// 金額.
    pub amount: i64,
    /// The sniffed type.
    pub receipt_type: ReceiptType,
    /// The display name.
    pub receipt_name: String,
    /// Its size.
    pub receipt_size: i64,
}

/// Adds an item whose receipt is stored as `receipt_file` to the clinic's claim of `kind`
/// (started when it has none), while it is a draft or returned. Returns the item's id.
pub fn add_item(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
    item: &NewItem,
    receipt_file: &str,
    now: DateTime<Utc>,
) -> Outcome<i64> {
    transaction(db, |tx| {
        ensure_claim(tx, clinic_id, kind, now)?;
        let claim_id = match lock_editable(tx, clinic_id, kind)? {
            Ok(id) => id,
            Err(r) => return Ok(Err(r)),
        };
        let count = tx
            .query_opt(
                "SELECT count(*) FROM portal_claim_items WHERE claim_id = $1",
                &[claim_id.into()],
            )?
            .map_or(Ok(0), |r| r.int(0))?;
        if count >= MAX_ITEMS {
            return Ok(Err(Refusal::TooManyItems));
        }
        let row = tx.query_opt(
            "INSERT INTO portal_claim_items (claim_id, purchased_on, vendor, description, amount, receipt_file, receipt_type, receipt_name, receipt_size, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                claim_id.into(),
                item.purchased_on.format("%Y-%m-%d").to_string().into(),
                item.vendor.as_str().into(),
                item.description.as_str().into(),
                item.amount.into(),
                receipt_file.into(),
                item.receipt_type.as_str().into(),
                item.receipt_name.as_str().into(),
                item.receipt_size.into(),
                secs(now).into(),
            ],
        )?;
        Ok(Ok(row
            .ok_or_else(|| StoreError::Data("no id for the new item".to_owned()))?
            .int(0)?))
    })
}

/// Deletes an item of the clinic's claim of `kind` while it is a draft or returned; returns
/// the receipt's stored name (the caller removes the file once this has committed).
pub fn delete_item(db: &dyn PortalDb, clinic_id: i64, kind: Kind, item_id: i64) -> Outcome<String> {
    transaction(db, |tx| {
        let claim_id = match lock_editable(tx, clinic_id, kind)? {
            Ok(id) => id,
            Err(r) => return Ok(Err(r)),
        };
        Ok(match tx.query_opt(
            "DELETE FROM portal_claim_items WHERE id = $1 AND claim_id = $2 RETURNING receipt_file",
            &[item_id.into(), claim_id.into()],
        )? {
            Some(r) => Ok(r.text(0)?),
            None => Err(Refusal::NotFound),
        })
    })
}

fn sum_items(tx: &mut dyn PortalTx, claim_id: i64) -> Result<(i64, i64), StoreError> {
    let row = tx.query_opt(
        "SELECT count(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM portal_claim_items WHERE claim_id = $1",
        &[claim_id.into()],
    )?;
    match row {
        Some(r) => Ok((r.int(0)?, r.int(1)?)),
        None => Ok((0, 0)),
    }
}

/// Submits the clinic's claim of `kind` (a draft or returned, with at least one item): the
/// requested amount is the grant computed from its items. Returns that amount.
pub fn submit(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
    rates: &Rates,
    now: DateTime<Utc>,
) -> Outcome<i64> {
    transaction(db, |tx| {
        let claim_id = match lock_editable(tx, clinic_id, kind)? {
            Ok(id) => id,
            Err(r) => return Ok(Err(r)),
        };
        let (count, total) = sum_items(tx, claim_id)?;
        if count == 0 {
            return Ok(Err(Refusal::NoItems));
        }
        let has_account = tx
            .query_opt(
                "SELECT 1 FROM portal_claims WHERE id = $1 AND bank_code IS NOT NULL",
                &[claim_id.into()],
            )?
            .is_some();
        if !has_account {
            return Ok(Err(Refusal::NoAccount));
        }
        let docs = documents_in(tx, claim_id)?;
        if let Some(missing) = DocumentRole::ALL
            .into_iter()
            .find(|r| !docs.iter().any(|d| d.role == *r))
        {
            return Ok(Err(Refusal::NoDocument(missing)));
        }
        let grant = rates.grant(kind, total);
        tx.execute(
            "UPDATE portal_claims SET status = 'submitted', requested_amount = $1, submitted_at = $2, approved_amount = NULL
             WHERE id = $3",
            &[grant.into(), secs(now).into(), claim_id.into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Clinic,
            clinic_id,
            "claim.submit",
            &format!("claim:{claim_id}"),
            &format!(
                "kind={} items={count} total={total} requested={grant}",
                kind.as_str()
            ),
        )?;
        Ok(Ok(grant))
    })
}

/// The stored name and type of a receipt of the clinic's claim of `kind`.
pub fn clinic_receipt(
    db: &dyn PortalDb,
    clinic_id: i64,
    kind: Kind,
    item_id: i64,
) -> Result<Option<(String, ReceiptType)>, StoreError> {
    transaction(db, |tx| {
        tx.query_opt(
            "SELECT i.receipt_file, i.receipt_type FROM portal_claim_items i JOIN portal_claims c ON c.id = i.claim_id
             WHERE i.id = $1 AND c.clinic_id = $2 AND c.kind = $3",
            &[item_id.into(), clinic_id.into(), kind.as_str().into()],
        )?
        .map(|r| Ok((r.text(0)?, ReceiptType::parse(&r.text(1)?)?)))
        .transpose()
    })
}

/// The operator's list: which claims.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// One status; `None`: every claim but drafts.
    pub status: Option<Status>,
    /// Part of the clinic's name or registration number (empty: any).
    pub q: String,
}

/// A line of the operator's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRow {
    /// The claim.
    pub claim: Claim,
    /// 施術所名.
    pub clinic_name: String,
    /// 登録記号番号.
    pub registration: String,
    /// The items' total.
    pub total: i64,
    /// How many items.
    pub items: i64,
}

/// `LIKE` text matching `s` anywhere (with `ESCAPE '\'`).
fn like_anywhere(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn list_where(filter: &ListFilter) -> (String, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    match filter.status {
        Some(s) => {
            params.push(s.as_str().into());
            clauses.push(format!("c.status = ${}", params.len()));
        }
        None => clauses.push("c.status <> 'draft'".to_owned()),
    }
    let q = filter.q.trim();
    if !q.is_empty() {
        params.push(like_anywhere(&q.to_lowercase()).into());
        let name = params.len();
        let registration: String = q
            .chars()
            .filter(|c| !matches!(c, '-' | '－' | 'ー' | ' ' | '　'))
            .collect::<String>()
            .to_lowercase();
        params.push(like_anywhere(&registration).into());
        let reg = params.len();
        clauses.push(format!(
            "(lower(k.name) LIKE ${name} ESCAPE '\\' OR lower(replace(k.registration, '-', '')) LIKE ${reg} ESCAPE '\\')"
        ));
    }
    (format!("WHERE {}", clauses.join(" AND ")), params)
}

/// The claims matching `filter`, newest first, `limit` from `offset`, and how many match.
pub fn list(
    db: &dyn PortalDb,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<ListRow>), StoreError> {
    let (clause, params) = list_where(filter);
    transaction(db, |tx| {
        let count = tx
            .query_opt(
                &format!(
                    "SELECT count(*) FROM portal_claims c JOIN clinics k ON k.id = c.clinic_id {clause}"
                ),
                &params,
            )?
            .map_or(Ok(0), |r| r.int(0))?;
        let mut page_params = params.clone();
        page_params.push(limit.into());
        let l = page_params.len();
        page_params.push(offset.into());
        let o = page_params.len();
        let rows = tx
            .query(
                &format!(
                    "SELECT {CLAIM_COLUMNS}, k.name, k.registration,
                            CAST(COALESCE((SELECT SUM(i.amount) FROM portal_claim_items i WHERE i.claim_id = c.id), 0) AS BIGINT),
                            (SELECT count(*) FROM portal_claim_items i WHERE i.claim_id = c.id)
                     FROM portal_claims c JOIN clinics k ON k.id = c.clinic_id {clause}
                     ORDER BY c.id DESC LIMIT ${l} OFFSET ${o}"
                ),
                &page_params,
            )?
            .iter()
            .map(|r| {
                Ok(ListRow {
                    claim: decode_claim(r, 0)?,
                    clinic_name: r.text(CLAIM_COLUMN_COUNT)?,
                    registration: r.text(CLAIM_COLUMN_COUNT + 1)?,
                    total: r.int(CLAIM_COLUMN_COUNT + 2)?,
                    items: r.int(CLAIM_COLUMN_COUNT + 3)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((count, rows))
    })
}

/// A claim as the operator reviews it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The claim.
    pub claim: Claim,
    /// 施術所名.
    pub clinic_name: String,
    /// 登録記号番号.
    pub registration: String,
    /// Its items.
    pub items: Vec<Item>,
    /// Its documents.
    pub documents: Vec<Document>,
}

/// A claim with its clinic and items, for the operator.
pub fn review(db: &dyn PortalDb, claim_id: i64) -> Result<Option<Review>, StoreError> {
    transaction(db, |tx| {
        let Some(row) = tx.query_opt(
            &format!(
                "SELECT {CLAIM_COLUMNS}, k.name, k.registration FROM portal_claims c JOIN clinics k ON k.id = c.clinic_id WHERE c.id = $1"
            ),
            &[claim_id.into()],
        )?
        else {
            return Ok(None);
        };
        let claim = decode_claim(&row, 0)?;
        let items = items(tx, claim.id)?;
        let documents = documents_in(tx, claim.id)?;
        Ok(Some(Review {
            documents,
            claim,
            clinic_name: row.text(CLAIM_COLUMN_COUNT)?,
            registration: row.text(CLAIM_COLUMN_COUNT + 1)?,
            items,
        }))
    })
}

/// Locks a claim for an operator's decision: its status and kind, or `None`.
fn lock_claim(tx: &mut dyn PortalTx, claim_id: i64) -> Result<Option<(Status, Kind)>, StoreError> {
    tx.query_opt(
        "UPDATE portal_claims SET status = status WHERE id = $1 RETURNING status, kind",
        &[claim_id.into()],
    )?
    .map(|r| {
        Ok((
            Status::parse(&r.text(0)?)?,
            Kind::parse(&r.text(1)?).ok_or_else(|| StoreError::Data("claim kind".to_owned()))?,
        ))
    })
    .transpose()
}

/// Approves a submitted claim with `amount`, which may not exceed the grant its items give.
pub fn approve(
    db: &dyn PortalDb,
    operator_id: i64,
    claim_id: i64,
    amount: i64,
    rates: &Rates,
    now: DateTime<Utc>,
) -> Outcome<()> {
    transaction(db, |tx| {
        let Some((status, kind)) = lock_claim(tx, claim_id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if status != Status::Submitted {
            return Ok(Err(Refusal::WrongStatus(status)));
        }
        let (_, total) = sum_items(tx, claim_id)?;
        let grant = rates.grant(kind, total);
        if amount > grant || amount < 0 {
            return Ok(Err(Refusal::OverGrant(grant)));
        }
        tx.execute(
            "UPDATE portal_claims SET status = 'approved', approved_amount = $1, decided_at = $2 WHERE id = $3",
            &[amount.into(), secs(now).into(), claim_id.into()],
        )?;
        notify_claim(
            tx,
            claim_id,
            &format!("{}の補助金申請が承認されました", kind.label()),
            &format!(
                "{}の補助金申請（申請ID {claim_id}）が承認されました。\n承認額: {}\n\n補助金は、申請でご指定の口座にお振り込みします。振込が済むと、あらためてお知らせします。",
                kind.label(),
                crate::view::yen(amount)
            ),
            now,
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "claim.approve",
            &format!("claim:{claim_id}"),
            &format!("approved={amount} grant={grant}"),
        )?;
        Ok(Ok(()))
    })
}

/// Tells the clinic of claim `claim_id` about a decision: on its home page and by mail.
fn notify_claim(
    tx: &mut dyn PortalTx,
    claim_id: i64,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let clinic_id = tx
        .query_opt(
            "SELECT clinic_id FROM portal_claims WHERE id = $1",
            &[claim_id.into()],
        )?
        .ok_or_else(|| StoreError::Data(format!("claim {claim_id} vanished")))?
        .int(0)?;
    db::notify(tx, clinic_id, subject, body, now)
}

/// Returns a submitted claim to the clinic with a reason.
pub fn return_claim(
    db: &dyn PortalDb,
    operator_id: i64,
    claim_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Outcome<()> {
    transaction(db, |tx| {
        let Some((status, kind)) = lock_claim(tx, claim_id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if status != Status::Submitted {
            return Ok(Err(Refusal::WrongStatus(status)));
        }
        tx.execute(
            "UPDATE portal_claims SET status = 'returned', return_reason = $1, decided_at = $2, returned_at = $2 WHERE id = $3",
            &[reason.into(), secs(now).into(), claim_id.into()],
        )?;
        notify_claim(
            tx,
            claim_id,
            &format!("{}の補助金申請が差し戻されました", kind.label()),
            &format!(
                "{}の補助金申請（申請ID {claim_id}）が差し戻されました。\n理由: {reason}\n\nポータルの申請ページで内容を直して、もう一度提出してください。",
                kind.label()
            ),
            now,
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "claim.return",
            &format!("claim:{claim_id}"),
            reason,
        )?;
        Ok(Ok(()))
    })
}

/// Marks an approved claim paid.
pub fn mark_paid(
    db: &dyn PortalDb,
    operator_id: i64,
    claim_id: i64,
    now: DateTime<Utc>,
) -> Outcome<()> {
    transaction(db, |tx| {
        let Some((status, kind)) = lock_claim(tx, claim_id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if status != Status::Approved {
            return Ok(Err(Refusal::WrongStatus(status)));
        }
        tx.execute(
            "UPDATE portal_claims SET status = 'paid', paid_at = $1 WHERE id = $2",
            &[secs(now).into(), claim_id.into()],
        )?;
        let amount = tx
            .query_opt(
                "SELECT approved_amount FROM portal_claims WHERE id = $1",
                &[claim_id.into()],
            )?
            .map(|r| r.opt_int(0))
            .transpose()?
            .flatten()
            .unwrap_or_default();
        notify_claim(
            tx,
            claim_id,
            &format!("{}の補助金をお振り込みしました", kind.label()),
            &format!(
                "{}の補助金（申請ID {claim_id}）{}を、申請でご指定の口座にお振り込みしました。\n入金をご確認ください。",
                kind.label(),
                crate::view::yen(amount)
            ),
            now,
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "claim.paid",
            &format!("claim:{claim_id}"),
            "",
        )?;
        Ok(Ok(()))
    })
}

/// The stored name and type of a receipt of claim `claim_id`, for the operator.
pub fn review_receipt(
    db: &dyn PortalDb,
    claim_id: i64,
    item_id: i64,
) -> Result<Option<(String, ReceiptType)>, StoreError> {
    transaction(db, |tx| {
        tx.query_opt(
            "SELECT receipt_file, receipt_type FROM portal_claim_items WHERE id = $1 AND claim_id = $2",
            &[item_id.into(), claim_id.into()],
        )?
        .map(|r| Ok((r.text(0)?, ReceiptType::parse(&r.text(1)?)?)))
        .transpose()
    })
}

/// A line of the payment CSV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    /// The claim.
    pub claim: Claim,
    /// 施術所名.
    pub clinic_name: String,
    /// 登録記号番号.
    pub registration: String,
}

/// The approved and paid claims, oldest first, recording the export in the audit.
pub fn export(
    db: &dyn PortalDb,
    operator_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<ExportRow>, StoreError> {
    transaction(db, |tx| {
        let rows = tx
            .query(
                &format!(
                    "SELECT {CLAIM_COLUMNS}, k.name, k.registration FROM portal_claims c JOIN clinics k ON k.id = c.clinic_id
                     WHERE c.status IN ('approved', 'paid') ORDER BY c.id"
                ),
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(ExportRow {
                    claim: decode_claim(r, 0)?,
                    clinic_name: r.text(CLAIM_COLUMN_COUNT)?,
                    registration: r.text(CLAIM_COLUMN_COUNT + 1)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "claims.export",
            "claims",
            &format!("rows={}", rows.len()),
        )?;
        Ok(rows)
    })
}

/// The payer of the 全銀 file (the operator's account), once set.
pub fn payer(db: &dyn PortalDb) -> Result<Option<Payer>, StoreError> {
    onshi_store::portal::read(db, |tx| {
        tx.query_opt(
            "SELECT code, name, bank_code, bank_name, branch_code, branch_name, account_kind, account_number FROM portal_payer WHERE id = 1",
            &[],
        )?
        .map(|r| {
            let kind = r.text(6)?;
            Ok(Payer {
                code: r.text(0)?,
                name: r.text(1)?,
                account: BankAccount {
                    bank_code: r.text(2)?,
                    bank_name: r.text(3)?,
                    branch_code: r.text(4)?,
                    branch_name: r.text(5)?,
                    kind: AccountKind::parse(&kind)
                        .ok_or_else(|| StoreError::Data(format!("account kind {kind:?}")))?,
                    number: r.text(7)?,
                    holder: String::new(),
                },
            })
        })
        .transpose()
    })
}

/// Sets the payer of the 全銀 file, audited.
pub fn set_payer(
    db: &dyn PortalDb,
    operator_id: i64,
    p: &Payer,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        let a = &p.account;
        tx.execute(
            "INSERT INTO portal_payer (id, code, name, bank_code, bank_name, branch_code, branch_name, account_kind, account_number, updated_at)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET code = $1, name = $2, bank_code = $3, bank_name = $4, branch_code = $5, branch_name = $6, account_kind = $7, account_number = $8, updated_at = $9",
            &[
                p.code.as_str().into(),
                p.name.as_str().into(),
                a.bank_code.as_str().into(),
                a.bank_name.as_str().into(),
                a.branch_code.as_str().into(),
                a.branch_name.as_str().into(),
                a.kind.code().to_string().into(),
                a.number.as_str().into(),
                secs(now).into(),
            ],
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "payment.payer",
            "payer",
            &format!("bank={} branch={}", a.bank_code, a.branch_code),
        )
    })
}

/// The transfers of the approved (not yet paid) claims, oldest first, recording the export in
/// the audit.
pub fn approved_transfers(
    db: &dyn PortalDb,
    operator_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Transfer>, StoreError> {
    transaction(db, |tx| {
        let claims = tx
            .query(
                &format!(
                    "SELECT {CLAIM_COLUMNS} FROM portal_claims c WHERE c.status = 'approved' ORDER BY c.id"
                ),
                &[],
            )?
            .iter()
            .map(|r| decode_claim(r, 0))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let transfers: Vec<Transfer> = claims
            .into_iter()
            .filter_map(|c| {
                Some(Transfer {
                    account: c.account?,
                    amount: c.approved_amount?,
                    customer_code: c.id,
                })
            })
            .collect();
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "claims.zengin",
            "claims",
            &format!("rows={}", transfers.len()),
        )?;
        Ok(transfers)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use onshi_store::ServiceStore;

    const RATES: Rates = Rates {
        equipment_cap_yen: 41_000,
        rececon_rate_percent: 50,
        rececon_cap_yen: 100_000,
    };

    fn store() -> (tempfile::TempDir, onshi_store::sqlite::SqliteStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = onshi_store::sqlite::SqliteStore::open(&dir.path().join("s.db"))
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, store)
    }

    fn item(amount: i64) -> NewItem {
        NewItem {
            purchased_on: NaiveDate::from_ymd_opt(2025, 10, 1).unwrap_or_default(),
            vendor: "家電店".to_owned(),
            description: "カードリーダー".to_owned(),
            amount,
            receipt_type: ReceiptType::Pdf,
            receipt_name: "r.pdf".to_owned(),
            receipt_size: 10,
        }
    }

    fn account() -> BankAccount {
        BankAccount {
            bank_code: "0005".into(),
            bank_name: "ﾐﾂﾋﾞｼUFJ".into(),
            branch_code: "123".into(),
            branch_name: "ｼﾝｼﾞﾕｸ".into(),
            kind: AccountKind::Ordinary,
            number: "7654321".into(),
            holder: "ﾔﾏﾀﾞ ﾀﾛｳ".into(),
        }
    }

    /// Both documents for the equipment claim of `clinic`, stored as `{prefix}-{role}`.
    fn documents_for(db: &dyn PortalDb, clinic: i64, prefix: &str) {
        for role in DocumentRole::ALL {
            let doc = Document {
                role,
                file: format!("{prefix}-{}", role.as_str()),
                file_type: ReceiptType::Pdf,
                file_name: "d.pdf".into(),
                file_size: 1,
            };
            assert_eq!(
                ok(put_document(db, clinic, Kind::Equipment, &doc, Utc::now())),
                None
            );
        }
    }

    fn ok<T: std::fmt::Debug>(o: Outcome<T>) -> T {
        match o {
            Ok(Ok(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    fn refused<T: std::fmt::Debug>(o: Outcome<T>) -> Refusal {
        match o {
            Ok(Err(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_claim_goes_from_draft_to_paid() {
        let (_dir, s) = store();
        let now = Utc::now();
        let a = s
            .add_clinic("A 整骨院", "0123456123", now)
            .unwrap_or_else(|e| panic!("{e}"));
        let b = s
            .add_clinic("B 鍼灸院", "0123457123", now)
            .unwrap_or_else(|e| panic!("{e}"));
        let db = s.portal();
        assert_eq!(
            refused(submit(db, a.id, Kind::Equipment, &RATES, now)),
            Refusal::NotFound
        );
        let (claim, items) =
            open_claim(db, a.id, Kind::Equipment, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((claim.status, items.len()), (Status::Draft, 0));
        assert_eq!(
            refused(submit(db, a.id, Kind::Equipment, &RATES, now)),
            Refusal::NoItems
        );
        let first = ok(add_item(
            db,
            a.id,
            Kind::Equipment,
            &item(30_000),
            &"a".repeat(32),
            now,
        ));
        ok(add_item(
            db,
            a.id,
            Kind::Equipment,
            &item(22_800),
            &"b".repeat(32),
            now,
        ));
        // Another clinic sees none of it.
        assert_eq!(
            refused(delete_item(db, b.id, Kind::Equipment, first)),
            Refusal::NotFound
        );
        assert!(clinic_receipt(db, b.id, Kind::Equipment, first)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none());
        assert!(clinic_receipt(db, a.id, Kind::Rececon, first)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none());
        assert_eq!(
            clinic_receipt(db, a.id, Kind::Equipment, first).unwrap_or_else(|e| panic!("{e}")),
            Some(("a".repeat(32), ReceiptType::Pdf))
        );
        assert_eq!(
            refused(submit(db, a.id, Kind::Equipment, &RATES, now)),
            Refusal::NoAccount
        );
        ok(set_account(db, a.id, Kind::Equipment, &account(), now));
        assert_eq!(
            refused(submit(db, a.id, Kind::Equipment, &RATES, now)),
            Refusal::NoDocument(DocumentRole::Bank)
        );
        documents_for(db, a.id, "a");
        assert_eq!(ok(submit(db, a.id, Kind::Equipment, &RATES, now)), 41_000);
        assert_eq!(
            refused(add_item(
                db,
                a.id,
                Kind::Equipment,
                &item(1),
                &"c".repeat(32),
                now
            )),
            Refusal::WrongStatus(Status::Submitted)
        );
        assert_eq!(
            refused(delete_item(db, a.id, Kind::Equipment, first)),
            Refusal::WrongStatus(Status::Submitted)
        );
        let (claim, items) = claim_of(db, a.id, Kind::Equipment)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("claim"));
        assert_eq!((claim.requested_amount, total(&items)), (41_000, 52_800));

        // Returned, corrected, submitted again.
        ok(return_claim(
            db,
            1,
            claim.id,
            "領収書の宛名が読めません",
            now,
        ));
        assert_eq!(
            refused(approve(db, 1, claim.id, 1, &RATES, now)),
            Refusal::WrongStatus(Status::Returned)
        );
        assert_eq!(
            ok(delete_item(db, a.id, Kind::Equipment, first)),
            "a".repeat(32)
        );
        // 22,800円 of receipts: 22,000円 (1,000円未満切り捨て).
        assert_eq!(ok(submit(db, a.id, Kind::Equipment, &RATES, now)), 22_000);
        assert_eq!(
            refused(approve(db, 1, claim.id, 22_001, &RATES, now)),
            Refusal::OverGrant(22_000)
        );
        assert_eq!(
            refused(mark_paid(db, 1, claim.id, now)),
            Refusal::WrongStatus(Status::Submitted)
        );
        ok(approve(db, 1, claim.id, 20_000, &RATES, now));
        ok(mark_paid(db, 1, claim.id, now));
        assert_eq!(
            refused(mark_paid(db, 1, claim.id, now)),
            Refusal::WrongStatus(Status::Paid)
        );
        assert_eq!(refused(mark_paid(db, 1, 999, now)), Refusal::NotFound);

        let review = review(db, claim.id)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("review"));
        assert_eq!(review.claim.status, Status::Paid);
        assert_eq!(review.claim.approved_amount, Some(20_000));
        assert_eq!(review.clinic_name, "A 整骨院");
        assert_eq!(review.items.len(), 1);

        let rows = export(db, 1, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 1);
        let actions: Vec<String> = crate::db::audit_lines(db, 100, 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|l| l.action)
            .rev()
            .collect();
        assert_eq!(
            actions,
            [
                "claim.account",
                "claim.submit",
                "claim.return",
                "claim.submit",
                "claim.approve",
                "claim.paid",
                "claims.export"
            ]
        );
    }

    #[test]
    fn the_operator_list_searches_and_pages() {
        let (_dir, s) = store();
        let now = Utc::now();
        let db = s.portal();
        for i in 0..25 {
            let c = s
                .add_clinic(&format!("整骨院{i:02}_%"), &format!("01234{i:02}123"), now)
                .unwrap_or_else(|e| panic!("{e}"));
            ok(add_item(
                db,
                c.id,
                Kind::Equipment,
                &item(1_000),
                &format!("{i:032x}"),
                now,
            ));
            if i % 2 == 0 {
                ok(set_account(db, c.id, Kind::Equipment, &account(), now));
                documents_for(db, c.id, &format!("d{i}"));
                ok(submit(db, c.id, Kind::Equipment, &RATES, now));
            }
        }
        let all =
            |f: &ListFilter, offset| list(db, f, 20, offset).unwrap_or_else(|e| panic!("{e}"));
        let (n, rows) = all(&ListFilter::default(), 0);
        assert_eq!((n, rows.len()), (13, 13));
        assert_eq!(rows[0].total, 1_000);
        let drafts = ListFilter {
            status: Some(Status::Draft),
            q: String::new(),
        };
        assert_eq!(all(&drafts, 0).0, 12);
        let by_name = ListFilter {
            status: Some(Status::Draft),
            q: "整骨院0".to_owned(),
        };
        assert_eq!(all(&by_name, 0).0, 5);
        let by_registration = ListFilter {
            status: None,
            q: "0123-404".to_owned(),
        };
        let (n, rows) = all(&by_registration, 0);
        assert_eq!((n, rows[0].clinic_name.as_str()), (1, "整骨院04_%"));
        // LIKE's wildcards are searched for literally.
        let percent = ListFilter {
            status: Some(Status::Draft),
            q: "_%".to_owned(),
        };
        assert_eq!(all(&percent, 0).0, 12);
        let nothing = ListFilter {
            status: None,
            q: "%%x".to_owned(),
        };
        assert_eq!(all(&nothing, 0).0, 0);
        let everything = ListFilter {
            status: Some(Status::Submitted),
            q: String::new(),
        };
        assert_eq!(all(&everything, 10).1.len(), 3);
    }
}
