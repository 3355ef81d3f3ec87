//! The wrong-link guard's table, `card_link_checks`: for each card link, whether the card's
//! holder (as the card authority knows them) is the person the link points to, as
//! `onshi_model::holder::compare` decided at import, and what an operator decided since.
//!
//! Written through the portal's one-text SQL interface ([`crate::portal::PortalDb`]), so both
//! engines run the same statements. An import writes its checks in one transaction before it
//! writes the links: a crash between the two leaves the old links answering as before (their
//! check rows name the person of the new link, which [`LinkCheck::describes`] tells apart), and
//! running the import again completes it.

use chrono::{DateTime, TimeZone, Utc};

use crate::portal::{read, transaction, PortalDb, PortalTx, Row, Value};
use crate::StoreError;

/// Where a link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkStatus {
    /// The holder is the person: answered.
    Match,
    /// Same birth date and sex, the name written differently: answered, listed for review.
    NameOnly,
    /// Not the same person: held, answered with no records.
    Held,
    /// The card-links file did not say who holds the card: answered, flagged.
    Unchecked,
    /// Held at import, released by an operator: answered.
    Released,
    /// Held by an operator (whatever the import found): answered with no records.
    HeldByOperator,
}

impl LinkStatus {
    /// Every status, in the order of the review list.
    pub const ALL: [LinkStatus; 6] = [
        Self::Held,
        Self::HeldByOperator,
        Self::NameOnly,
        Self::Released,
        Self::Unchecked,
        Self::Match,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::NameOnly => "name_only",
            Self::Held => "held",
            Self::Unchecked => "unchecked",
            Self::Released => "released",
            Self::HeldByOperator => "held_by_operator",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt {
                column: "card_link_checks.status",
                value: s.to_owned(),
                reason: "unknown status".to_owned(),
            })
    }

    /// Whether the link may answer with records.
    pub fn usable(self) -> bool {
        !matches!(self, Self::Held | Self::HeldByOperator)
    }

    /// For the operator, in Japanese.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Match => "一致",
            Self::NameOnly => "氏名の表記だけ違う（回答する・要確認）",
            Self::Held => "保留（本人と一致しない）",
            Self::Unchecked => "未照合（発行記録に本人情報なし）",
            Self::Released => "保留解除（運用者の判断）",
            Self::HeldByOperator => "保留（運用者の判断）",
        }
    }
}

/// The card holder as the card authority recorded them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderRecord {
    /// 氏名.
    pub name: String,
    /// 氏名カナ, or empty.
    pub name_kana: String,
    /// 生年月日, YYYYMMDD.
    pub birthdate: String,
    /// 性別 code.
    pub sex: String,
}

/// An operator's decision on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkDecision {
    /// Who decided (the operator's name as the command line or the portal knows it).
    pub by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The guard's row for one card link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkCheck {
    /// The issuing CA's subject.
    pub issuer: String,
    /// The certificate's serial.
    pub serial: String,
    /// The person the link points to (the one compared).
    pub person_id: String,
    /// Where it stands.
    pub status: LinkStatus,
    /// What differed (`onshi_model::holder::Difference::key`s).
    pub differences: Vec<String>,
    /// The holder, when the file said.
    pub holder: Option<HolderRecord>,
    /// When the import compared them.
    pub checked_at: DateTime<Utc>,
    /// When an import last pointed this card at another person (`None`: never).
    pub changed_at: Option<DateTime<Utc>>,
    /// The operator's decision, if any.
    pub decision: Option<LinkDecision>,
}

impl LinkCheck {
    /// What differed, in Japanese for the operator (`—` for nothing).
    pub fn differences_ja(&self) -> String {
        let labels: Vec<&str> = self
            .differences
            .iter()
            .filter_map(|k| onshi_model::holder::Difference::from_key(k))
            .map(|d| d.label_ja())
            .collect();
        if labels.is_empty() {
            "—".to_owned()
        } else {
            labels.join("・")
        }
    }

    /// Whether this row is about the link to `person_id` (a row written by an import whose links
    /// never landed names another person).
    pub fn describes(&self, person_id: &str) -> bool {
        self.person_id == person_id
    }
}

/// Who decides: the portal's operator, or the command line (`admin`, id 0).
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// `operator` (the portal) or `admin` (the command line), as `portal_audit.actor_role`.
    pub role: &'a str,
    /// The operator's id (0 for the command line).
    pub id: i64,
    /// The name kept with the decision.
    pub name: &'a str,
}

/// What an operator decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Answer with the link again.
    Release,
    /// Answer with no records.
    Hold,
}

pub(crate) const COLUMNS: &str = "issuer, serial, person_id, status, differences, holder_name, \
     holder_kana, holder_birth, holder_sex, checked_at, changed_at, decided_by, \
     decision_reason, decided_at";

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn time(s: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(s, 0)
        .single()
        .ok_or_else(|| StoreError::Corrupt {
            column: "card_link_checks time",
            value: s.to_string(),
            reason: "not a time".to_owned(),
        })
}

pub(crate) fn decode(r: &Row) -> Result<LinkCheck, StoreError> {
    let holder = match r.opt_text(5)? {
        Some(name) => Some(HolderRecord {
            name,
            name_kana: r.opt_text(6)?.unwrap_or_default(),
            birthdate: r.opt_text(7)?.unwrap_or_default(),
            sex: r.opt_text(8)?.unwrap_or_default(),
        }),
        None => None,
    };
    let decision = match (r.opt_text(11)?, r.opt_int(13)?) {
        (Some(by), Some(at)) => Some(LinkDecision {
            by,
            reason: r.opt_text(12)?.unwrap_or_default(),
            at: time(at)?,
        }),
        _ => None,
    };
    let differences = r.text(4)?;
    Ok(LinkCheck {
        issuer: r.text(0)?,
        serial: r.text(1)?,
        person_id: r.text(2)?,
        status: LinkStatus::parse(&r.text(3)?)?,
        differences: differences
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect(),
        holder,
        checked_at: time(r.int(9)?)?,
        changed_at: r.opt_int(10)?.map(time).transpose()?,
        decision,
    })
}

fn values(c: &LinkCheck) -> Vec<Value> {
    let h = c.holder.as_ref();
    let d = c.decision.as_ref();
    vec![
        c.issuer.as_str().into(),
        c.serial.as_str().into(),
        c.person_id.as_str().into(),
        c.status.as_str().into(),
        c.differences.join(",").into(),
        h.map(|h| h.name.clone()).into(),
        h.map(|h| h.name_kana.clone()).into(),
        h.map(|h| h.birthdate.clone()).into(),
        h.map(|h| h.sex.clone()).into(),
        secs(c.checked_at).into(),
        c.changed_at.map(secs).into(),
        d.map(|d| d.by.clone()).into(),
        d.map(|d| d.reason.clone()).into(),
        d.map(|d| secs(d.at)).into(),
    ]
}

fn put(tx: &mut dyn PortalTx, c: &LinkCheck) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO card_link_checks ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (issuer, serial) DO UPDATE SET person_id = excluded.person_id,
                 status = excluded.status, differences = excluded.differences,
                 holder_name = excluded.holder_name, holder_kana = excluded.holder_kana,
                 holder_birth = excluded.holder_birth, holder_sex = excluded.holder_sex,
                 checked_at = excluded.checked_at, changed_at = excluded.changed_at,
                 decided_by = excluded.decided_by, decision_reason = excluded.decision_reason,
                 decided_at = excluded.decided_at"
        ),
        &values(c),
    )?;
    Ok(())
}

/// Stores the checks of one import, all or none.
pub fn put_link_checks(db: &dyn PortalDb, checks: &[LinkCheck]) -> Result<(), StoreError> {
    transaction(db, |tx| {
        for c in checks {
            put(tx, c)?;
        }
        Ok(())
    })
}

/// The check of one link (the look-up of every card check).
pub fn link_check(
    db: &dyn PortalDb,
    issuer: &str,
    serial: &str,
) -> Result<Option<LinkCheck>, StoreError> {
    read(db, |tx| {
        tx.query_opt(
            &format!("SELECT {COLUMNS} FROM card_link_checks WHERE issuer = $1 AND serial = $2"),
            &[issuer.into(), serial.into()],
        )?
        .as_ref()
        .map(decode)
        .transpose()
    })
}

/// The links an operator should look at: held, held or released by an operator, and those whose
/// name differs only in spelling; held first, oldest first.
pub fn links_to_review(db: &dyn PortalDb) -> Result<Vec<LinkCheck>, StoreError> {
    read(db, |tx| {
        let rows = tx.query(
            &format!(
                "SELECT {COLUMNS} FROM card_link_checks
                 WHERE status IN ('held', 'held_by_operator', 'name_only', 'released')
                 ORDER BY CASE status WHEN 'held' THEN 0 WHEN 'held_by_operator' THEN 1
                     WHEN 'name_only' THEN 2 ELSE 3 END, checked_at, issuer, serial"
            ),
            &[],
        )?;
        rows.iter().map(decode).collect()
    })
}

/// How many links stand in each status (the operator's dashboard).
pub fn link_status_counts(db: &dyn PortalDb) -> Result<Vec<(LinkStatus, u64)>, StoreError> {
    read(db, |tx| {
        let rows = tx.query(
            "SELECT status, count(*) FROM card_link_checks GROUP BY status",
            &[],
        )?;
        let mut counts = Vec::new();
        for r in &rows {
            counts.push((
                LinkStatus::parse(&r.text(0)?)?,
                u64::try_from(r.int(1)?).unwrap_or(0),
            ));
        }
        counts.sort_by_key(|(s, _)| LinkStatus::ALL.iter().position(|a| a == s));
        Ok(counts)
    })
}

/// An operator's decision on the link of `serial` (of `issuer`, or of the one issuer that has
/// such a serial), recorded with who, why and when, and written to the operators' audit
/// (`portal_audit`, action `link.release` / `link.hold`) in the same transaction. `None` when
/// no link has that serial; an error when several issuers have it and none was named.
pub fn decide_link(
    db: &dyn PortalDb,
    issuer: Option<&str>,
    serial: &str,
    decision: Decision,
    actor: Actor<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<LinkCheck>, StoreError> {
    let by = actor.name;
    transaction(db, |tx| {
        let rows = tx.query(
            &format!(
                "SELECT {COLUMNS} FROM card_link_checks
                 WHERE serial = $1 AND issuer = COALESCE($2, issuer)"
            ),
            &[serial.into(), issuer.map(str::to_owned).into()],
        )?;
        let mut found = match rows.as_slice() {
            [] => return Ok(None),
            [one] => decode(one)?,
            _ => {
                return Err(StoreError::Data(format!(
                    "{} issuers have a card with serial {serial}: name the issuer",
                    rows.len()
                )))
            }
        };
        found.status = match decision {
            Decision::Release => LinkStatus::Released,
            Decision::Hold => LinkStatus::HeldByOperator,
        };
        found.decision = Some(LinkDecision {
            by: by.to_owned(),
            reason: reason.to_owned(),
            at: now,
        });
        put(tx, &found)?;
        let action = match decision {
            Decision::Release => "link.release",
            Decision::Hold => "link.hold",
        };
        tx.execute(
            "INSERT INTO portal_audit (at, actor_role, actor_id, action, target, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                secs(now).into(),
                actor.role.into(),
                actor.id.into(),
                action.into(),
                format!("{} {}", found.issuer, found.serial).into(),
                format!("{by}: {reason}").into(),
            ],
        )?;
        Ok(Some(found))
    })
}

/// The table, the same on both engines (migration 12).
pub(crate) const MIGRATION: &str =
    "-- The wrong-link guard (link_checks.rs): is the card's holder the linked person?
    CREATE TABLE card_link_checks (
        issuer TEXT NOT NULL,
        serial TEXT NOT NULL,
        person_id TEXT NOT NULL,
        status TEXT NOT NULL,
        differences TEXT NOT NULL,
        holder_name TEXT,
        holder_kana TEXT,
        holder_birth TEXT,
        holder_sex TEXT,
        checked_at BIGINT NOT NULL,
        changed_at BIGINT,
        decided_by TEXT,
        decision_reason TEXT,
        decided_at BIGINT,
        PRIMARY KEY (issuer, serial)
    );
    CREATE INDEX card_link_checks_by_status ON card_link_checks (status, checked_at);";
