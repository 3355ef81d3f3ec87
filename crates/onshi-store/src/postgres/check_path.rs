//! The check path on PostgreSQL with the async client (tokio-postgres, pooled by deadpool): a
//! check's statements are awaited on the service's async workers instead of holding a blocking
//! thread, and the card's three look-ups (link, guard, records) are sent together on one
//! connection, so they cost one round trip. The statements are prepared once per connection.
//!
//! The same SQL as the blocking store's (the texts are shared); the audit append keeps its
//! transaction: the head locked, the row and the head written in one statement, committed
//! before the check is answered.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, PoolError, RecyclingMethod, Runtime};
use onshi_model::{Date, Eligibility, KeyQuery};
use tokio_postgres::NoTls;

use super::portal::portal_row;
use super::service::{
    AppendValues, NextRecord, ACTIVE_TERMINAL_BY_SERIAL, APPEND_AUDIT, CARD_LINK, LOCK_HEAD,
    REGISTER_CARD,
};
use super::{
    audit_month, create_audit_partitions, month_known, note_month, AuditMonths, KeyParams, PgStore,
    RECORDS_FOR_KEY, RECORDS_OF_CARD, RECORDS_OF_PERSON,
};
use crate::check_path::{all_of, CardLookup, CheckStore};
use crate::columns::decode_record;
use crate::link_checks;
use crate::service::{stored_time, AuditEntry, AuditKey, AuditRecord, CardLink, NonceSpent};
use crate::service_columns::{decode_card_link, decode_terminal};
use crate::{StoreError, StoreOptions, Terminal};

/// The wrong-link guard's check of a card.
static LINK_CHECK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM card_link_checks WHERE issuer = $1 AND serial = $2",
        link_checks::COLUMNS
    )
});

/// A connection inside a transaction opened by hand: dropped before [`Open::close`] (an error,
/// a request given up), it is rolled back before the pool hands it out again.
struct Open(Option<deadpool_postgres::Object>);

impl Open {
    fn client(&self) -> Result<&deadpool_postgres::Object, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Data("the transaction's connection is gone".to_owned()))
    }

    /// The transaction ended (committed, or rolled back by PostgreSQL itself).
    fn close(mut self) {
        self.0 = None;
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            // The connection goes back to the pool once the ROLLBACK is answered.
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        // Not given back to the pool: closed with the transaction.
                        drop(deadpool_postgres::Object::take(client));
                    }
                });
            }
            // No runtime to roll back on: the connection is closed, never reused.
            Err(_) => drop(deadpool_postgres::Object::take(client)),
        }
    }
}

/// The audit append in two round trips instead of four: `BEGIN` with the head's lock, then the
/// append with `COMMIT` (tokio-postgres sends a connection's requests in order without waiting
/// for each answer). A spent challenge inserts and updates nothing, so its `COMMIT` ends an empty
/// transaction; a failed append aborts the transaction, and PostgreSQL answers its `COMMIT` with
/// a rollback. With `register` (利用登録 on the spot, rare), the card is registered only once the
/// append has written its record, in the same transaction: one round trip more.
async fn append_audit(
    client: deadpool_postgres::Object,
    lock_head: &tokio_postgres::Statement,
    append: &tokio_postgres::Statement,
    key: &AuditKey,
    entry: &AuditEntry,
    register: Option<&CardLink>,
) -> Result<Result<AuditRecord, NonceSpent>, StoreError> {
    let open = Open(Some(client));
    let c = open.client()?;
    let terminal: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&entry.terminal_id];
    let (begun, head) = tokio::join!(c.batch_execute("BEGIN"), c.query_opt(lock_head, &terminal));
    begun?;
    let Some(head) = head? else {
        return Err(StoreError::NotFound {
            what: "terminal",
            id: entry.terminal_id.clone(),
        });
    };
    let next = NextRecord::after(&head, key, entry)?;
    let values = AppendValues::new(entry, &next);
    let params = values.params();
    let updated = match register {
        None => {
            let (updated, committed) =
                tokio::join!(c.execute(append, &params), c.batch_execute("COMMIT"));
            // Either way the transaction has ended.
            if committed.is_ok() {
                open.close();
            }
            let updated = updated?;
            committed?;
            updated
        }
        Some(link) => {
            let updated = c.execute(append, &params).await?;
            if updated > 0 {
                let n = c
                    .execute(REGISTER_CARD, &[&link.serial, &entry.at, &link.issuer])
                    .await?;
                if n != 1 {
                    // Dropped open: rolled back, record and registration both.
                    return Err(StoreError::NotFound {
                        what: "card link",
                        id: link.serial.clone(),
                    });
                }
            }
            c.batch_execute("COMMIT").await?;
            open.close();
            updated
        }
    };
    if updated == 0 {
        return Ok(Err(NonceSpent));
    }
    Ok(Ok(next.record(entry)))
}

/// The pool's size when `[database] pool_size` sets no cap.
const UNCAPPED_POOL: usize = 128;

/// The async pool of the primary, with the options' size, wait and statement timeout.
pub(super) fn pool(
    url: &str,
    options: &StoreOptions,
) -> Result<deadpool_postgres::Pool, StoreError> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if let Some(limit) = options.statement_timeout {
        // Set at connection start-up (no extra statement); imports use the blocking store.
        config.options(format!("-c statement_timeout={}", limit.as_millis().max(1)));
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection that comes back closed is dropped, not handed out again.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let size = match options.pool_size {
        0 => UNCAPPED_POOL,
        n => n,
    };
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(options.pool_wait))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Data(format!("the async connection pool: {e}")))
}

/// The check path of a [`PgStore`] without a replica.
pub(crate) struct PgCheckPath {
    pool: deadpool_postgres::Pool,
    audit_months: AuditMonths,
    primary: postgres::Config,
    wait: Duration,
}

impl PgStore {
    /// The async check path (tokio-postgres), or `None` when reads go to a replica: the
    /// replica's routing (probes, lag, fall-back to the primary) is the blocking store's, which
    /// then serves the check path too.
    pub(crate) fn async_check_path(&self) -> Option<Arc<dyn CheckStore>> {
        let pool = self.check_pool.clone()?;
        Some(Arc::new(PgCheckPath {
            wait: pool.timeouts().wait.unwrap_or_default(),
            pool,
            audit_months: self.audit_months.clone(),
            primary: self.primary.clone(),
        }))
    }
}

impl PgCheckPath {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => StoreError::Postgres(e),
            PoolError::Timeout(_) => StoreError::PoolExhausted {
                size: self.pool.status().max_size,
                waited_ms: u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
            },
            other => StoreError::Data(format!("the async connection pool: {other}")),
        })
    }

    /// The audit log's partitions of the entry's month, created (rarely: once a month per
    /// instance) on a blocking thread with a connection of its own.
    async fn ensure_audit_partitions(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let month = audit_month(at);
        if month_known(&self.audit_months, month) {
            return Ok(());
        }
        let config = self.primary.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = config.connect(postgres::NoTls)?;
            create_audit_partitions(&mut client, month)
        })
        .await
        .map_err(|e| StoreError::Data(format!("creating the audit partitions: {e}")))??;
        note_month(&self.audit_months, month);
        Ok(())
    }
}

#[async_trait]
impl CheckStore for PgCheckPath {
    fn is_async(&self) -> bool {
        true
    }

    async fn active_terminal_by_serial(
        &self,
        serial: &str,
    ) -> Result<Option<Terminal>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(&ACTIVE_TERMINAL_BY_SERIAL).await?;
        client
            .query_opt(&stmt, &[&serial])
            .await?
            .as_ref()
            .map(decode_terminal)
            .transpose()
    }

    async fn card_lookup(
        &self,
        issuer: &str,
        serial: &str,
        date: Date,
    ) -> Result<CardLookup, StoreError> {
        let client = self.client().await?;
        let (link_stmt, check_stmt, records_stmt) = tokio::try_join!(
            client.prepare_cached(&CARD_LINK),
            client.prepare_cached(&LINK_CHECK),
            client.prepare_cached(&RECORDS_OF_CARD),
        )?;
        // Sent together: one round trip for the three.
        let card: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&issuer, &serial];
        let (link, check, records) = tokio::try_join!(
            client.query_opt(&link_stmt, &card),
            client.query_opt(&check_stmt, &card),
            client.query(&records_stmt, &card),
        )?;
        let Some(link) = link.as_ref().map(decode_card_link).transpose()? else {
            return Ok(CardLookup {
                link: None,
                check: None,
                eligibility: Eligibility::not_found(),
            });
        };
        let check = check
            .as_ref()
            .map(|r| portal_row(r).and_then(|r| link_checks::decode(&r)))
            .transpose()?;
        let records = records
            .iter()
            .map(decode_record)
            .collect::<Result<Vec<_>, _>>()?;
        let mut eligibility = Eligibility::for_person(records, date);
        if !all_of(&link.person_id, &eligibility) {
            // The link changed between the statements: read the records of the person it
            // names now.
            let stmt = client.prepare_cached(&RECORDS_OF_PERSON).await?;
            let rows = client.query(&stmt, &[&link.person_id.as_str()]).await?;
            let records = rows.iter().map(decode_record).collect::<Result<_, _>>()?;
            eligibility = Eligibility::for_person(records, date);
        }
        Ok(CardLookup {
            link: Some(link),
            check,
            eligibility,
        })
    }

    async fn eligibility_for_key(
        &self,
        q: &KeyQuery,
        date: Date,
    ) -> Result<Eligibility, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(&RECORDS_FOR_KEY).await?;
        let key = KeyParams::of(q);
        let rows = client.query(&stmt, &key.params()).await?;
        let records = rows.iter().map(decode_record).collect::<Result<_, _>>()?;
        Ok(Eligibility::for_key(q, records, date))
    }

    async fn record_check(
        &self,
        key: &AuditKey,
        entry: &AuditEntry,
        register: Option<&CardLink>,
    ) -> Result<Result<AuditRecord, NonceSpent>, StoreError> {
        let mut entry = entry.clone();
        entry.at = stored_time(entry.at);
        self.ensure_audit_partitions(entry.at).await?;
        let client = self.client().await?;
        let (lock_head, append) = tokio::try_join!(
            client.prepare_cached(LOCK_HEAD),
            client.prepare_cached(&APPEND_AUDIT),
        )?;
        append_audit(client, &lock_head, &append, key, &entry, register).await
    }
}
