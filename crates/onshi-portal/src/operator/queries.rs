//! The operator's queries and list helpers: search text, LIKE patterns, paging, counts.

use std::collections::HashMap;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use onshi_store::portal::{read, transaction, PortalDb, Value};
use onshi_store::StoreError;

use crate::db::{self, Account, AccountStatus, Role, ACCOUNT_COLUMNS, ACCOUNT_FROM};
use crate::jst;

use super::*;
// ---------------------------------------------------------------------------------------------
// Lists: search text, LIKE patterns, paging.

/// A search text as kept: trimmed, without control characters (PostgreSQL's text refuses
/// NUL), at most [`MAX_QUERY_CHARS`] characters.
pub fn search_text(q: &str) -> String {
    q.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_QUERY_CHARS)
        .collect()
}

/// A `LIKE` pattern that finds `text` anywhere, with `%`, `_` and the escape character
/// escaped (the SQL says `ESCAPE '!'`), so a search for `50%` finds only "50%".
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if c == '%' || c == '_' || c == LIKE_ESCAPE {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A search text as a 登録記号番号 is stored: without hyphens and spaces (as
/// `normalise_registration` stores it); the text itself when nothing is left.
pub fn registration_text(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | '‐' | '－' | ' ' | '　'))
        .collect();
    if kept.is_empty() {
        text.to_owned()
    } else {
        kept
    }
}

/// A page number from a query string: 1 when missing or not a number.
pub fn page_number(s: &str) -> i64 {
    s.trim().parse::<i64>().unwrap_or(1)
}

/// Where a list stands: the page shown (from 1), how many pages and rows there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// The page shown, from 1 (clamped to the pages there are).
    pub page: i64,
    /// How many pages (at least 1, even for no rows).
    pub pages: i64,
    /// How many rows match.
    pub total: i64,
}

impl Paging {
    /// The page `requested` of `total` rows, [`PER_PAGE`] a page.
    pub fn new(total: i64, requested: i64) -> Self {
        let total = total.max(0);
        let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
        Self {
            page: requested.clamp(1, pages),
            pages,
            total,
        }
    }

    /// The SQL `OFFSET` of the page.
    pub fn offset(self) -> i64 {
        (self.page - 1) * PER_PAGE
    }
}

/// ` WHERE a AND b`, or nothing.
pub(super) fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// The dashboard's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Clinics with a portal account.
    pub clinics: i64,
    /// 利用開始申請 waiting for a decision.
    pub applied: i64,
    /// Clinics approved.
    pub approved: i64,
    /// Terminals enrolled and not revoked.
    pub terminals_active: i64,
    /// Checks since 00:00 JST.
    pub checks_today: i64,
}

/// The counts the portal's tables hold (all but the checks).
pub fn counts(db: &dyn PortalDb) -> Result<Counts, StoreError> {
    read(db, |tx| {
        let Some(r) = tx.query_opt(
            "SELECT (SELECT count(*) FROM portal_accounts),
                    (SELECT count(*) FROM portal_accounts WHERE status = 'applied'),
                    (SELECT count(*) FROM portal_accounts WHERE status = 'approved'),
                    (SELECT count(*) FROM terminals WHERE status = 'active')",
            &[],
        )?
        else {
            return Ok(Counts::default());
        };
        Ok(Counts {
            clinics: r.int(0)?,
            applied: r.int(1)?,
            approved: r.int(2)?,
            terminals_active: r.int(3)?,
            checks_today: 0,
        })
    })
}

/// 00:00 JST of the day `now` falls on.
pub fn start_of_day_jst(now: DateTime<Utc>) -> DateTime<Utc> {
    let day = now.with_timezone(&jst()).date_naive();
    jst()
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// One page of the clinics' accounts that match `q` (name, 登録記号番号 or e-mail, any case)
/// and `status`, newest first.
pub fn search_accounts(
    db: &dyn PortalDb,
    q: &str,
    status: Option<AccountStatus>,
    page: i64,
) -> Result<(Vec<Account>, Paging), StoreError> {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if !q.is_empty() {
        params.push(like_pattern(q).into());
        params.push(like_pattern(&registration_text(q)).into());
        conditions.push(
            "(lower(c.name) LIKE lower($1) ESCAPE '!' OR lower(a.email) LIKE lower($1) ESCAPE '!' OR lower(c.registration) LIKE lower($2) ESCAPE '!' OR EXISTS (SELECT 1 FROM portal_registration_numbers n WHERE n.clinic_id = c.id AND n.number LIKE $2 ESCAPE '!'))"
                .to_owned(),
        );
    }
    if let Some(s) = status {
        params.push(s.as_str().into());
        conditions.push(format!("a.status = ${}", params.len()));
    }
    let filter = where_clause(&conditions);
    read(db, |tx| {
        let total = tx
            .query_opt(
                &format!("SELECT count(*) FROM {ACCOUNT_FROM}{filter}"),
                &params,
            )?
            .map_or(Ok(0), |r| r.int(0))?;
        let paging = Paging::new(total, page);
        let mut p = params.clone();
        p.push(PER_PAGE.into());
        p.push(paging.offset().into());
        let rows = tx.query(
            &format!(
                "SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNT_FROM}{filter} ORDER BY a.clinic_id DESC LIMIT ${} OFFSET ${}",
                p.len() - 1,
                p.len()
            ),
            &p,
        )?;
        let accounts = rows
            .iter()
            .map(db::decode_account)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((accounts, paging))
    })
}

/// A terminal in the operator's list: its id, clinic id and clinic name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalRow {
    /// `W0000001`.
    pub id: String,
    /// Its clinic.
    pub clinic_id: i64,
    /// Its clinic's name.
    pub clinic_name: String,
}

/// One page of the terminals whose id or clinic name matches `q` (any case), by id.
pub fn search_terminals(
    db: &dyn PortalDb,
    q: &str,
    page: i64,
) -> Result<(Vec<TerminalRow>, Paging), StoreError> {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if !q.is_empty() {
        params.push(like_pattern(q).into());
        conditions.push(
            "(lower(t.id) LIKE lower($1) ESCAPE '!' OR lower(c.name) LIKE lower($1) ESCAPE '!')"
                .to_owned(),
        );
    }
    let filter = where_clause(&conditions);
    let from = "terminals t JOIN clinics c ON c.id = t.clinic_id";
    read(db, |tx| {
        let total = tx
            .query_opt(&format!("SELECT count(*) FROM {from}{filter}"), &params)?
            .map_or(Ok(0), |r| r.int(0))?;
        let paging = Paging::new(total, page);
        let mut p = params.clone();
        p.push(PER_PAGE.into());
        p.push(paging.offset().into());
        let rows = tx.query(
            &format!(
                "SELECT t.id, c.id, c.name FROM {from}{filter} ORDER BY t.id LIMIT ${} OFFSET ${}",
                p.len() - 1,
                p.len()
            ),
            &p,
        )?;
        let terminals = rows
            .iter()
            .map(|r| {
                Ok(TerminalRow {
                    id: r.text(0)?,
                    clinic_id: r.int(1)?,
                    clinic_name: r.text(2)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((terminals, paging))
    })
}

/// How many lines the portal's audit holds.
pub fn audit_count(db: &dyn PortalDb) -> Result<i64, StoreError> {
    read(db, |tx| {
        tx.query_opt("SELECT count(*) FROM portal_audit", &[])?
            .map_or(Ok(0), |r| r.int(0))
    })
}

/// Every operator's name by id (for the audit's actors).
pub fn operator_names(db: &dyn PortalDb) -> Result<HashMap<i64, String>, StoreError> {
    read(db, |tx| {
        tx.query("SELECT id, name FROM portal_operators", &[])?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?)))
            .collect()
    })
}

/// A successful login, in the audit (with the address it came from).
pub(super) fn audit_login(
    db: &dyn PortalDb,
    operator_id: i64,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "operator.login",
            &format!("operator:{operator_id}"),
            &format!("address:{address}"),
        )
    })
}

/// Ends an operator's session and audits the logout, together.
pub(super) fn record_logout(
    db: &dyn PortalDb,
    id_hash: &[u8],
    operator_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        tx.execute(
            "DELETE FROM portal_sessions WHERE id_hash = $1",
            &[id_hash.into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "operator.logout",
            &format!("operator:{operator_id}"),
            "",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::pages::{clinic_id, list_link, status_filter};
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(""), "%%");
        assert_eq!(like_pattern("abc"), "%abc%");
        assert_eq!(like_pattern("50%"), "%50!%%");
        assert_eq!(like_pattern("a_b"), "%a!_b%");
        assert_eq!(like_pattern("x!y"), "%x!!y%");
        assert_eq!(registration_text("契0123456-1-23"), "契0123456123");
        assert_eq!(registration_text(" - "), " - ");
        assert_eq!(
            search_text(&format!("  {}  ", "あ".repeat(150)))
                .chars()
                .count(),
            100
        );
        assert_eq!(search_text(" a\u{0}b\n "), "ab");
    }

    #[test]
    fn paging_arithmetic() {
        assert_eq!(
            Paging::new(0, 1),
            Paging {
                page: 1,
                pages: 1,
                total: 0
            }
        );
        assert_eq!(
            Paging::new(20, 2),
            Paging {
                page: 1,
                pages: 1,
                total: 20
            }
        );
        assert_eq!(
            Paging::new(21, 2),
            Paging {
                page: 2,
                pages: 2,
                total: 21
            }
        );
        assert_eq!(Paging::new(41, 9).page, 3);
        assert_eq!(Paging::new(41, -4).page, 1);
        assert_eq!(Paging::new(41, 3).offset(), 40);
        assert_eq!(Paging::new(-1, 1).total, 0);
        assert_eq!(page_number("x"), 1);
        assert_eq!(page_number(" 3 "), 3);
        assert_eq!(
            list_link("/p", &[("q", "a b&c"), ("status", ""), ("page", "2")]),
            "/p?q=a+b%26c&page=2"
        );
        assert_eq!(list_link("/p", &[("q", "")]), "/p");
    }

    #[test]
    fn days_start_at_midnight_jst() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .with_timezone(&Utc)
        };
        // 2025-06-01 08:00 JST is 2025-05-31 23:00 UTC.
        assert_eq!(
            start_of_day_jst(t("2025-05-31T23:00:00Z")),
            t("2025-05-31T15:00:00Z")
        );
        // 2025-06-01 23:59 JST.
        assert_eq!(
            start_of_day_jst(t("2025-06-01T14:59:00Z")),
            t("2025-05-31T15:00:00Z")
        );
        assert_eq!(
            start_of_day_jst(t("2025-06-01T15:00:00Z")),
            t("2025-06-01T15:00:00Z")
        );
    }

    #[test]
    fn reasons_and_labels() {
        assert!(reason_problem("").is_some());
        assert!(reason_problem(&"あ".repeat(1001)).is_some());
        assert!(reason_problem("a\u{0}b").is_some());
        assert!(reason_problem("登録記号番号が違います。\n確認してください。").is_none());
        assert_eq!(action_label("application.approve"), "利用開始申請の承認");
        assert_eq!(action_label("claim.pay"), "claim.pay");
        assert!(status_filter("").is_ok_and(|s| s.is_none()));
        assert!(status_filter("applied").is_ok_and(|s| s == Some(AccountStatus::Applied)));
        assert!(status_filter("bogus").is_err());
        assert!(clinic_id("12").is_ok_and(|id| id == 12));
        assert!(clinic_id("0").is_err() && clinic_id("x").is_err() && clinic_id("-1").is_err());
    }

    /// A store with clinics whose names hold LIKE's wildcards, and their accounts.
    fn store_with_clinics() -> (tempfile::TempDir, Box<dyn onshi_store::ServiceStore>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store =
            onshi_store::open_service_data_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let now = Utc::now();
        for (i, (name, email)) in [
            ("山田接骨院", "yamada@example.jp"),
            ("100%鍼灸院", "hari@example.jp"),
            ("A_B整骨院", "ab@example.jp"),
            ("AXB整骨院", "Upper@Example.JP"),
        ]
        .iter()
        .enumerate()
        {
            let clinic = store
                .add_clinic(name, &format!("契012345{i}123"), now)
                .unwrap_or_else(|e| panic!("{e}"));
            let account = db::NewAccount {
                email: email.to_string(),
                password_hash: "x".to_owned(),
                kinds: "judo".to_owned(),
                director: "院長".to_owned(),
                address: "東京都".to_owned(),
                phone: "0312345678".to_owned(),
            };
            let added = db::add_account(
                store.portal(),
                clinic.id,
                &account,
                &[(
                    crate::registration::Practice::Judo,
                    crate::registration::RegistrationNumber::stored(format!("契012345{i}123")),
                )],
                &[i as u8],
                now,
                &crate::mail::Outgoing {
                    to: account.email.clone(),
                    subject: "確認".to_owned(),
                    body: "本文".to_owned(),
                },
                now,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(added, db::Added::Yes);
        }
        (dir, store)
    }

    #[test]
    fn searches_escape_wildcards_and_ignore_case() {
        let (_dir, store) = store_with_clinics();
        let db = store.portal();
        let names = |q: &str, status: Option<AccountStatus>| {
            search_accounts(db, q, status, 1)
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .into_iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("", None).len(), 4);
        assert_eq!(names("%", None), ["100%鍼灸院"]);
        assert_eq!(names("a_b", None), ["A_B整骨院"]);
        assert_eq!(names("upper@example", None), ["AXB整骨院"]);
        assert_eq!(names("契0123450-123", None), ["山田接骨院"]);
        assert_eq!(
            names("山田", Some(AccountStatus::Applied)),
            Vec::<String>::new()
        );
        assert_eq!(
            names("山田", Some(AccountStatus::Registered)),
            ["山田接骨院"]
        );
        let counts = counts(db).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (counts.clinics, counts.applied, counts.terminals_active),
            (4, 0, 0)
        );
        let (rows, paging) = search_terminals(db, "w000", 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(rows.is_empty() && paging.total == 0);
    }

    #[test]
    fn lists_page_through_every_row() {
        let (_dir, store) = store_with_clinics();
        let now = Utc::now();
        for i in 0..(2 * PER_PAGE) {
            store
                .add_clinic(&format!("端末用{i}"), "契0000000", now)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let clinics = store.clinics().unwrap_or_else(|e| panic!("{e}"));
        for c in clinics.iter().filter(|c| c.name.starts_with("端末用")) {
            store
                .add_terminal(c.id, 0, [0; 32], now, now, None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let db = store.portal();
        let mut seen = Vec::new();
        for page in 1..=3 {
            let (rows, paging) =
                search_terminals(db, "端末用", page).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (paging.total, paging.pages, paging.page),
                (40, 2, page.min(2))
            );
            if page <= 2 {
                seen.extend(rows.into_iter().map(|r| r.id));
            }
        }
        seen.dedup();
        assert_eq!(seen.len(), 40);
        let (rows, _) = search_terminals(db, "w0000001", 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "W0000001");
    }
}
