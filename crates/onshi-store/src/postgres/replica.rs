//! Reads from a PostgreSQL streaming replica (`[database] replica_url`).
//!
//! Eligibility and card-link reads go to the replica while it is usable; everything else (audit,
//! nonces, terminals, CRLs, the portal) stays on the primary. The replica is probed at most once
//! per [`PROBE_EVERY`] by the read that finds the last probe old: it is usable when it answers,
//! a WAL receiver is running (it streams from the primary) and it is at most `max_lag` behind
//! (`now() - pg_last_xact_replay_timestamp()` while WAL it received is not yet replayed; 0 when
//! everything received is replayed). Otherwise reads go to the primary, and a log line says why
//! when that changes: a clinic sees the same answer, from the primary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::Config;

use super::PgConn;
use crate::pool::Pool;
use crate::StoreError;

/// How often the replica's state is probed.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(500);

/// How long a connection to the replica may take before the replica counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the last probe found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Health {
    /// Reads go to the replica.
    Usable,
    /// The replica cannot be reached or does not stream from the primary.
    Down(String),
    /// The replica is further behind than the limit (milliseconds behind).
    Lagging(u64),
}

struct State {
    health: Health,
    probed_at: Option<Instant>,
    probing: bool,
}

/// A replica's connections and what is known of it.
pub(crate) struct Replica {
    pub(crate) pool: Pool<PgConn>,
    max_lag: Duration,
    state: Mutex<State>,
}

/// The replica's connection settings: the URL's, with a short connect timeout unless it sets one.
pub(crate) fn config(url: &str) -> Result<Config, StoreError> {
    let mut config: Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

impl Replica {
    pub(crate) fn new(pool: Pool<PgConn>, max_lag: Duration) -> Self {
        Self {
            pool,
            max_lag,
            state: Mutex::new(State {
                health: Health::Down("not probed yet".to_owned()),
                probed_at: None,
                probing: false,
            }),
        }
    }

    /// Whether reads should go to the replica now; probes it when the last probe is old (one
    /// caller probes, the others go by the last answer meanwhile).
    pub(crate) fn usable(&self) -> bool {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let due =
                !state.probing && state.probed_at.is_none_or(|at| at.elapsed() >= PROBE_EVERY);
            if !due {
                return state.health == Health::Usable;
            }
            state.probing = true;
        }
        let health = self.probe();
        self.set(health.clone());
        health == Health::Usable
    }

    /// Records a failed read: the replica counts as down until the next probe.
    pub(crate) fn failed(&self, e: &StoreError) {
        self.set(Health::Down(short(e)));
    }

    fn set(&self, health: Health) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.health != health {
            match &health {
                Health::Usable => tracing::info!("database replica usable again: eligibility and card-link reads go to the replica"),
                Health::Down(why) => tracing::warn!(cause = %why, "database replica down: reads go to the primary"),
                Health::Lagging(ms) => tracing::warn!(
                    lag_ms = ms,
                    max_lag_ms = u64::try_from(self.max_lag.as_millis()).unwrap_or(u64::MAX),
                    "database replica lags: reads go to the primary"
                ),
            }
        }
        state.health = health;
        state.probed_at = Some(Instant::now());
        state.probing = false;
    }

    fn probe(&self) -> Health {
        let mut conn = match self.pool.get() {
            Ok(conn) => conn,
            Err(e) => return Health::Down(short(&e)),
        };
        let row = conn.client.query_one(
            "SELECT pg_is_in_recovery(),
                    (SELECT count(*) FROM pg_stat_wal_receiver WHERE pid IS NOT NULL),
                    CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                         THEN 0::float8
                         ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
                                       * 1000, 0)::float8
                    END",
            &[],
        );
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let e = StoreError::from(e);
                if conn.client.is_closed() {
                    conn.discard();
                }
                return Health::Down(short(&e));
            }
        };
        let in_recovery: bool = row.get(0);
        let receivers: i64 = row.get(1);
        let lag_ms: f64 = row.get(2);
        if !in_recovery {
            // A promoted replica (or the primary itself): current by definition.
            return Health::Usable;
        }
        if receivers == 0 {
            return Health::Down(
                "no WAL receiver: the replica does not stream from the primary".to_owned(),
            );
        }
        let lag = Duration::from_secs_f64(lag_ms.max(0.0) / 1000.0);
        if lag > self.max_lag {
            Health::Lagging(u64::try_from(lag.as_millis()).unwrap_or(u64::MAX))
        } else {
            Health::Usable
        }
    }
}

/// An error as a log line may carry it: the SQLSTATE of a database error (no quoted values).
fn short(e: &StoreError) -> String {
    match e {
        StoreError::Postgres(pg) => match pg.as_db_error() {
            Some(db) => format!("SQLSTATE {}", db.code().code()),
            None => pg.to_string(),
        },
        other => other.to_string(),
    }
}
