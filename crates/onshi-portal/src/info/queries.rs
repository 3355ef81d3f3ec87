//! The information pages' queries: お知らせ, FAQ, 問い合わせ (one SQL text for both engines).

use chrono::{DateTime, Utc};
use onshi_store::portal::{read, transaction, PortalDb};
use onshi_store::StoreError;

use crate::db::{self, secs, time, Role};

/// An お知らせ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Id.
    pub id: i64,
    /// 件名.
    pub title: String,
    /// 本文.
    pub body: String,
    /// When it was posted.
    pub published_at: DateTime<Utc>,
}

/// The newest `limit` notices, newest first; only those posted after `since` when given.
pub fn notices(
    db: &dyn PortalDb,
    limit: i64,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Notice>, StoreError> {
    read(db, |tx| {
        tx.query(
            "SELECT id, title, body, published_at FROM portal_notices WHERE published_at >= $1
             ORDER BY published_at DESC, id DESC LIMIT $2",
            &[since.map_or(i64::MIN, secs).into(), limit.into()],
        )?
        .iter()
        .map(|r| {
            Ok(Notice {
                id: r.int(0)?,
                title: r.text(1)?,
                body: r.text(2)?,
                published_at: time(r.int(3)?),
            })
        })
        .collect()
    })
}

/// Posts an お知らせ, audited.
pub fn post_notice(
    db: &dyn PortalDb,
    operator_id: i64,
    title: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "INSERT INTO portal_notices (title, body, operator_id, published_at) VALUES ($1, $2, $3, $4)",
            &[title.into(), body.into(), operator_id.into(), secs(now).into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "notice.post",
            "notices",
            title,
        )
    })
}

/// A question and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Faq {
    /// Id.
    pub id: i64,
    /// The order (smaller first).
    pub position: i64,
    /// 質問.
    pub question: String,
    /// 回答.
    pub answer: String,
}

/// The FAQ in its order.
pub fn faq(db: &dyn PortalDb) -> Result<Vec<Faq>, StoreError> {
    read(db, |tx| {
        tx.query(
            "SELECT id, position, question, answer FROM portal_faq ORDER BY position, id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(Faq {
                id: r.int(0)?,
                position: r.int(1)?,
                question: r.text(2)?,
                answer: r.text(3)?,
            })
        })
        .collect()
    })
}

/// Adds a question (`id` None), changes one, or removes one (`entry` None), audited.
pub fn edit_faq(
    db: &dyn PortalDb,
    operator_id: i64,
    id: Option<i64>,
    entry: Option<(i64, &str, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        let n = match (id, entry) {
            (None, Some((position, q, a))) => tx.execute(
                "INSERT INTO portal_faq (position, question, answer, updated_at) VALUES ($1, $2, $3, $4)",
                &[position.into(), q.into(), a.into(), secs(now).into()],
            )?,
            (Some(id), Some((position, q, a))) => tx.execute(
                "UPDATE portal_faq SET position = $1, question = $2, answer = $3, updated_at = $4 WHERE id = $5",
                &[position.into(), q.into(), a.into(), secs(now).into(), id.into()],
            )?,
            (Some(id), None) => {
                tx.execute("DELETE FROM portal_faq WHERE id = $1", &[id.into()])?
            }
            (None, None) => 0,
        };
        if n == 1 {
            db::audit(
                tx,
                now,
                Role::Operator,
                operator_id,
                "faq.edit",
                &id.map_or_else(|| "faq:new".to_owned(), |i| format!("faq:{i}")),
                entry.map_or("削除", |(_, q, _)| q),
            )?;
        }
        Ok(n == 1)
    })
}

/// A 問い合わせ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inquiry {
    /// Id.
    pub id: i64,
    /// The clinic (none: asked before logging in).
    pub clinic_id: Option<i64>,
    /// The clinic's name, or the address of someone not logged in.
    pub clinic_name: String,
    /// 件名.
    pub subject: String,
    /// 内容.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The operator's reply.
    pub reply: Option<String>,
    /// When it was replied to.
    pub replied_at: Option<DateTime<Utc>>,
}

const INQUIRY: &str =
    "SELECT i.id, i.clinic_id, COALESCE(c.name, i.email), i.subject, i.body, i.created_at, i.reply, i.replied_at
     FROM portal_inquiries i LEFT JOIN clinics c ON c.id = i.clinic_id";

fn decode(r: &onshi_store::portal::Row) -> Result<Inquiry, StoreError> {
    Ok(Inquiry {
        id: r.int(0)?,
        clinic_id: r.opt_int(1)?,
        clinic_name: r.text(2)?,
        subject: r.text(3)?,
        body: r.text(4)?,
        created_at: time(r.int(5)?),
        reply: r.opt_text(6)?,
        replied_at: r.opt_int(7)?.map(time),
    })
}

/// A clinic asks.
pub fn ask(
    db: &dyn PortalDb,
    clinic_id: i64,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "INSERT INTO portal_inquiries (clinic_id, subject, body, created_at) VALUES ($1, $2, $3, $4)",
            &[clinic_id.into(), subject.into(), body.into(), secs(now).into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Clinic,
            clinic_id,
            "inquiry.ask",
            "inquiries",
            subject,
        )
    })
}

/// Someone not logged in asks (e.g. to recover an account); the answer goes to `email`.
pub fn ask_as_guest(
    db: &dyn PortalDb,
    email: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "INSERT INTO portal_inquiries (email, subject, body, created_at) VALUES ($1, $2, $3, $4)",
            &[email.into(), subject.into(), body.into(), secs(now).into()],
        )?;
        Ok(())
    })
}

/// The clinic's own questions, newest first.
pub fn inquiries_of(db: &dyn PortalDb, clinic_id: i64) -> Result<Vec<Inquiry>, StoreError> {
    read(db, |tx| {
        tx.query(
            &format!("{INQUIRY} WHERE i.clinic_id = $1 ORDER BY i.id DESC LIMIT 50"),
            &[clinic_id.into()],
        )?
        .iter()
        .map(decode)
        .collect()
    })
}

/// The operator's inbox: unanswered first, then newest.
pub fn inbox(db: &dyn PortalDb) -> Result<Vec<Inquiry>, StoreError> {
    read(db, |tx| {
        tx.query(
            &format!(
                "{INQUIRY} ORDER BY CASE WHEN i.reply IS NULL THEN 0 ELSE 1 END, i.id DESC LIMIT 100"
            ),
            &[],
        )?
        .iter()
        .map(decode)
        .collect()
    })
}

/// The operator replies (once): stored, audited, mailed to the clinic and shown on its home
/// page. `false` when there is no such question or it was answered already.
pub fn reply(
    db: &dyn PortalDb,
    operator_id: i64,
    id: i64,
    text: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    transaction(db, |tx| {
        let Some(r) = tx.query_opt(
            "UPDATE portal_inquiries SET reply = $1, replied_at = $2, operator_id = $3
             WHERE id = $4 AND reply IS NULL RETURNING clinic_id, subject, body, email",
            &[text.into(), secs(now).into(), operator_id.into(), id.into()],
        )?
        else {
            return Ok(false);
        };
        let (clinic, subject, question) = (r.opt_int(0)?, r.text(1)?, r.text(2)?);
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "inquiry.reply",
            &format!("inquiry:{id}"),
            &subject,
        )?;
        let title = format!("お問い合わせ「{subject}」への回答");
        let body = format!("{text}\n\n--- お問い合わせの内容 ---\n{question}");
        match (clinic, r.opt_text(3)?) {
            (Some(clinic), _) => db::notify(tx, clinic, &title, &body, now)?,
            (None, Some(email)) => crate::mail::enqueue(
                tx,
                &crate::mail::Outgoing {
                    to: email,
                    subject: format!("【施術所等向け総合ポータルサイト】{title}"),
                    body: format!("{body}\n"),
                },
                now,
            )?,
            (None, None) => {}
        }
        Ok(true)
    })
}
