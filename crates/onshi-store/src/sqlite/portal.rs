//! The portal's SQL on SQLite (see [`crate::portal`]).

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, ToSql, Transaction, TransactionBehavior};

use super::SqliteStore;
use crate::portal::{sqlite_placeholders, PortalDb, PortalTx, Row, Value};
use crate::StoreError;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Self::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

struct Tx<'a, 'c>(&'a Transaction<'c>);

impl PortalTx for Tx<'_, '_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql))?;
        Ok(stmt.execute(params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Value::Bytes(v.to_vec()),
                    ValueRef::Real(v) => {
                        return Err(StoreError::Data(format!("portal column {i}: real {v}")))
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}

impl PortalDb for SqliteStore {
    fn portal_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn PortalTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Writers queue in process, as for the service's writes.
        let _queue = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut conn = self.pool.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        f(&mut Tx(&tx))?;
        tx.commit()?;
        Ok(())
    }
}
