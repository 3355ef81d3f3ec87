//! Terminals' names (受付PC, タブレット …) and why the operator revoked one: the portal's own
//! table beside the service's `terminals`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use onshi_store::portal::{read, transaction, PortalDb, PortalTx, Value};
use onshi_store::StoreError;

use crate::db::{self, Role};
use crate::error::FieldError;

/// The longest name.
pub const MAX_NAME_CHARS: usize = 30;
/// The name of a terminal created without one.
pub const DEFAULT_NAME: &str = "受付端末";

/// A terminal's name and, once the operator revoked it, the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    /// The name.
    pub name: String,
    /// The operator's reason for revoking it.
    pub revoke_reason: Option<String>,
}

/// A name as typed: trimmed, one line, at most [`MAX_NAME_CHARS`]; empty: [`DEFAULT_NAME`].
pub fn parse_name(typed: &str) -> Result<String, FieldError> {
    const LABEL: &str = "端末の名前";
    let s = typed.trim();
    if s.is_empty() {
        return Ok(DEFAULT_NAME.to_owned());
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::Character { label: LABEL });
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::TooLong {
            label: LABEL,
            max: MAX_NAME_CHARS,
        });
    }
    Ok(s.to_owned())
}

/// The names of the terminals `ids`.
pub fn names(db: &dyn PortalDb, ids: &[String]) -> Result<HashMap<String, Named>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let params: Vec<Value> = ids.iter().map(Value::from).collect();
    read(db, |tx| {
        tx.query(
            &format!(
                "SELECT terminal_id, name, revoke_reason FROM portal_terminal_names WHERE terminal_id IN ({})",
                placeholders.join(", ")
            ),
            &params,
        )?
        .iter()
        .map(|r| {
            Ok((
                r.text(0)?,
                Named {
                    name: r.text(1)?,
                    revoke_reason: r.opt_text(2)?,
                },
            ))
        })
        .collect()
    })
}

fn put_name(tx: &mut dyn PortalTx, id: &str, name: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO portal_terminal_names (terminal_id, name) VALUES ($1, $2)
         ON CONFLICT (terminal_id) DO UPDATE SET name = $2",
        &[id.into(), name.into()],
    )?;
    Ok(())
}

/// Names terminal `id` of clinic `clinic_id` (at creation or later), audited.
pub fn set_name(
    db: &dyn PortalDb,
    clinic_id: i64,
    id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        put_name(tx, id, name)?;
        db::audit(
            tx,
            now,
            Role::Clinic,
            clinic_id,
            "terminal.name",
            &format!("terminal:{id}"),
            name,
        )
    })
}

/// Records the operator's revocation of terminal `id` of clinic `clinic_id` with its reason:
/// audited, and told to the clinic (home page and mail).
pub fn revoked_by_operator(
    db: &dyn PortalDb,
    operator_id: i64,
    clinic_id: i64,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transaction(db, |tx| {
        let name = tx
            .query_opt(
                "SELECT name FROM portal_terminal_names WHERE terminal_id = $1",
                &[id.into()],
            )?
            .map(|r| r.text(0))
            .transpose()?
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        put_name(tx, id, &name)?;
        tx.execute(
            "UPDATE portal_terminal_names SET revoke_reason = $1 WHERE terminal_id = $2",
            &[reason.into(), id.into()],
        )?;
        db::audit(
            tx,
            now,
            Role::Operator,
            operator_id,
            "terminal.revoke",
            &format!("terminal:{id}"),
            reason,
        )?;
        db::notify(
            tx,
            clinic_id,
            &format!("受付端末「{name}」（{id}）の利用を停止しました"),
            &format!(
                "実施機関が、受付端末「{name}」（{id}）の利用を停止しました。\n理由: {reason}\n\nこの端末からは資格確認ができません。引き続き使う場合は、ポータルの「端末」から新しい端末のアカウントを作成してください。"
            ),
            now,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(parse_name("  受付PC ").as_deref(), Ok("受付PC"));
        assert_eq!(parse_name("").as_deref(), Ok(DEFAULT_NAME));
        assert!(parse_name("a\nb").is_err());
        assert!(parse_name(&"あ".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(parse_name(&"あ".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
