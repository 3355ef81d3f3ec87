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

/// A transaction; `read_only`: every statement must be one that does not write.
struct Tx<'a, 'c> {
    tx: &'a Transaction<'c>,
    read_only: bool,
}

impl Tx<'_, '_> {
    fn prepare(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let stmt = self.tx.prepare_cached(&sqlite_placeholders(sql))?;
        if self.read_only && !stmt.readonly() {
            return Err(StoreError::Data(
                "a portal read tried to write (use a write transaction)".into(),
            ));
        }
        Ok(stmt)
    }
}

impl PortalTx for Tx<'_, '_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql)?;
        Ok(stmt.execute(params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(sql)?;
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
        f(&mut Tx {
            tx: &tx,
            read_only: false,
        })?;
        tx.commit()?;
        Ok(())
    }

    fn portal_read(
        &self,
        f: &mut dyn FnMut(&mut dyn PortalTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // WAL: a deferred transaction that only reads is a snapshot and never takes the write
        // lock; nor does it queue behind this process's writers.
        let mut conn = self.pool.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&mut Tx {
            tx: &tx,
            read_only: true,
        })?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::portal::{read, transaction};

    use super::*;

    /// A page view must not wait for the writers' queue (which the checks' writes hold), and a
    /// read cannot write.
    #[test]
    fn reads_take_no_writer_lock_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap());
        transaction(&*store, |tx| {
            tx.execute(
                "INSERT INTO portal_throttle_locks (throttle_key, touched_at) VALUES ('k', 1)",
                &[],
            )
        })
        .unwrap();
        let held = store.writer.lock().unwrap();
        let (done, wait) = std::sync::mpsc::channel();
        let reader = store.clone();
        std::thread::spawn(move || {
            let n = read(&*reader, |tx| {
                tx.query_opt("SELECT count(*) FROM portal_throttle_locks", &[])?
                    .map_or(Ok(0), |r| r.int(0))
            });
            let _ = done.send(n);
        });
        let n = wait
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the read waited for the writer's lock");
        assert_eq!(n.unwrap(), 1);
        drop(held);
        let e = read(&*store, |tx| {
            tx.execute("DELETE FROM portal_throttle_locks", &[])
        });
        assert!(e.is_err(), "a read wrote");
    }
}
