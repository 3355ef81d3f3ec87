//! The portal's SQL on PostgreSQL (see [`crate::portal`]).

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Transaction;

use super::PgStore;
use crate::portal::{PortalDb, PortalTx, Row, Value};
use crate::StoreError;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Self::Text(v) => v.to_sql(ty, out),
            Self::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::TEXT
                | Type::VARCHAR
                | Type::BYTEA
        )
    }

    to_sql_checked!();
}

struct Tx<'a, 'c>(&'a mut Transaction<'c>);

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl PortalTx for Tx<'_, '_> {
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        Ok(self.0.execute(sql, &params(values))?)
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, StoreError> {
        let rows = self.0.query(sql, &params(values))?;
        rows.iter().map(portal_row).collect()
    }
}

/// A row as the portal's code reads it.
pub(super) fn portal_row(row: &postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        out.push(
            match *column.type_() {
                Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)?
                    .map(|v| Value::Int(v.into())),
                Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes),
                _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
            }
            .unwrap_or(Value::Null),
        );
    }
    Ok(Row(out))
}

impl PortalDb for PgStore {
    fn portal_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn PortalTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let mut tx = conn.client.transaction()?;
            f(&mut Tx(&mut tx))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn portal_read(
        &self,
        f: &mut dyn FnMut(&mut dyn PortalTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            // READ ONLY: PostgreSQL refuses a write in it.
            let mut tx = conn.client.build_transaction().read_only(true).start()?;
            f(&mut Tx(&mut tx))?;
            tx.commit()?;
            Ok(())
        })
    }
}
