//! The server's configuration: `DIR/config.toml` (unknown keys refused, errors name the file and
//! the key), overlaid by `ONSHI_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name of the configuration inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Where trusted JPKI CA certificates are copied inside the data directory.
pub const JPKI_DIR: &str = "jpki";

/// Everything the server reads at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`ONSHI_LISTEN`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The store: `database = "URL"` (a `postgres://` URL, or `sqlite://FILE`), or a
    /// `[database]` table with `url` and the pool, timeout and replica settings. Default: the
    /// SQLite file in the data directory. Not written while it is all defaults, so that an
    /// operator may put `database = "URL"` at the top of the file `onshi server init` wrote.
    #[serde(
        default,
        deserialize_with = "database_or_url",
        skip_serializing_if = "DatabaseConfig::is_default"
    )]
    pub database: DatabaseConfig,
    /// Trusted JPKI CA certificates (PEM), relative to the data directory.
    #[serde(default)]
    pub jpki_ca: Vec<PathBuf>,
    /// Months after the end of a card certificate's validity during which it is still accepted
    /// (with a warning): 3 since 2025.
    #[serde(default = "default_grace")]
    pub grace_months: u32,
    /// Seconds a challenge stays valid.
    #[serde(default = "default_ttl")]
    pub challenge_ttl_seconds: u64,
    /// Largest request body accepted, bytes.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Seconds before a request is cut off.
    #[serde(default = "default_timeout")]
    pub request_timeout_seconds: u64,
    /// Terminal requests (challenge, verify, register, query, renew) one instance works on at
    /// once; one more is answered 503 at once (`Retry-After: 1`) instead of queueing behind the
    /// others, so what is admitted keeps its latency under overload (0: no limit).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Seconds between checks for a new CRL in the store (SIGHUP checks at once).
    #[serde(default = "default_crl_poll")]
    pub crl_poll_seconds: u64,
    /// What a trusted JPKI CA without a current CRL (none loaded, one that does not verify, or
    /// one past its nextUpdate) does: `refuse` its cards with `E011` (default), or `unready`:
    /// cards are checked against the last CRL and `/readyz` answers 503. Logged at every poll
    /// either way.
    #[serde(default)]
    pub crl_missing: CrlMissing,
    /// Requests a second each terminal may make on average (`ONSHI_RATE_LIMIT_PER_SECOND`);
    /// 0 turns the limit off. Kept per instance (behind a load balancer the limit is per
    /// instance) unless `shared_rate_limits`.
    #[serde(default = "default_rate")]
    pub rate_limit_per_second: u32,
    /// Requests a terminal may make at once before the rate applies.
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
    /// Also count the per-terminal, per-clinic (`/query`) and per-address (`/enroll`) limits in
    /// the store, across every instance on the database: a terminal may make at most
    /// `rate_limit_per_second` plus `rate_limit_burst` requests in each second, a clinic
    /// `clinic_query_rate_limit_per_minute` plus `clinic_query_rate_limit_burst` queries in each
    /// minute, an address `enroll_rate_limit_per_minute` plus `enroll_rate_limit_burst`
    /// enrollments in each minute (fixed windows, whichever instance serves them). Costs one
    /// store write per request. Default false: per instance.
    #[serde(default)]
    pub shared_rate_limits: bool,
    /// Seconds a connection may wait for the next request head (idle keep-alive, or a slow
    /// sender) before it is closed.
    #[serde(default = "default_idle")]
    pub idle_timeout_seconds: u64,
    /// Seconds a request's whole body may take to arrive, from its head; a slower sender gets 408
    /// and the connection is closed. Portal receipt uploads (up to 11 MiB) must fit in it.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
    /// Connections this instance holds open at once; beyond it a new connection is closed at
    /// accept. 0: no cap.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold open at once; 0: no cap. Behind a
    /// proxy or NAT that hides the clients' addresses, raise it or set 0.
    #[serde(default = "default_max_connections_per_address")]
    pub max_connections_per_address: usize,
    /// Enrollments (`/api/v1/enroll`) one client address may attempt a minute; 0: no limit.
    #[serde(default = "default_enroll_rate")]
    pub enroll_rate_limit_per_minute: u32,
    /// Enrollments one client address may attempt at once before the rate applies.
    #[serde(default = "default_enroll_burst")]
    pub enroll_rate_limit_burst: u32,
    /// Queries by numbers (`/api/v1/query`) one clinic may make a minute, all its terminals
    /// together (so that more terminals do not mean more guesses); 0: no limit.
    #[serde(default = "default_clinic_query_rate")]
    pub clinic_query_rate_limit_per_minute: u32,
    /// Queries one clinic may make at once before the rate applies.
    #[serde(default = "default_clinic_query_burst")]
    pub clinic_query_rate_limit_burst: u32,
    /// Terminals (pending or active; revoked ones do not count) a clinic may have, whether added
    /// with `onshi admin terminal add` or in the portal; 0: no cap.
    #[serde(default = "default_max_terminals_per_clinic")]
    pub max_terminals_per_clinic: u32,
    /// Days after an import points a card at another person during which its answers carry the
    /// warning W004 (the staff compares the shown name and birth date with the patient); 0: never.
    #[serde(default = "default_link_change_warning_days")]
    pub link_change_warning_days: u32,
    /// The operator's own TLS server certificate chain (PEM), instead of the one `onshi server
    /// init` issued from `server-ca.pem`; relative to the data directory. Needs `tls_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<PathBuf>,
    /// The private key of `tls_certificate` (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The portal (施術所等向け総合ポータルサイト) under `/portal/`: `[portal]`, kept here as
    /// written and read by the portal's crate (`onshi_portal::PortalConfig`), which owns its
    /// keys and defaults.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub portal: toml::Table,
}

/// `[database]`: where the store is and how the server uses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// A `postgres://` URL, or `sqlite://FILE` (`ONSHI_DATABASE`); none: the SQLite file in the
    /// data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A PostgreSQL streaming replica (`ONSHI_DATABASE_REPLICA_URL`) that answers eligibility
    /// and card-link reads; audit, nonces and the portal stay on the primary, which also answers
    /// the reads while the replica is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_url: Option<String>,
    /// Milliseconds the replica may be behind the primary (WAL received but not replayed) for
    /// reads to go to it; further behind, or down, reads go to the primary and a log line says
    /// so. Probed at most every half second.
    pub replica_max_lag_ms: u64,
    /// The most connections one instance opens to the database (to the primary, and as many to
    /// the replica); 0: no cap. Instances × `pool_size` must stay below PostgreSQL's
    /// `max_connections`.
    pub pool_size: usize,
    /// Milliseconds a request waits for a free connection when `pool_size` are in use, before it
    /// is answered 503.
    pub pool_wait_ms: u64,
    /// Milliseconds a statement may run: PostgreSQL's `statement_timeout` on every connection
    /// of the service (imports and migrations are exempt); on SQLite the busy timeout, how long
    /// a writer waits for another process's write lock. 0: no PostgreSQL limit, 30 s on SQLite.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: a check's statements on the async client (tokio-postgres), awaited on the
    /// service's async workers; `false`: the blocking client on the blocking pool, as before
    /// (docs/performance.md compares them). SQLite, and PostgreSQL with `replica_url`, always
    /// use the blocking client.
    pub async_checks: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            replica_url: None,
            replica_max_lag_ms: 1_000,
            pool_size: 32,
            pool_wait_ms: 2_000,
            statement_timeout_ms: 5_000,
            async_checks: true,
        }
    }
}

impl DatabaseConfig {
    /// Whether every setting is its default (the SQLite file, the default pool and timeouts).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The store's options from these settings.
    pub fn store_options(&self) -> onshi_store::StoreOptions {
        onshi_store::StoreOptions {
            pool_size: self.pool_size,
            pool_wait: std::time::Duration::from_millis(self.pool_wait_ms),
            statement_timeout: (self.statement_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(self.statement_timeout_ms)),
            replica_url: self.replica_url.clone(),
            replica_max_lag: std::time::Duration::from_millis(self.replica_max_lag_ms),
            async_check_path: self.async_checks,
        }
    }
}

/// `database = "URL"` (the form before `[database]`) or a `[database]` table; errors inside the
/// table keep their key names.
fn database_or_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DatabaseConfig, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = DatabaseConfig;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a database URL or a [database] table")
        }
        fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<DatabaseConfig, E> {
            Ok(DatabaseConfig {
                url: Some(url.to_owned()),
                ..DatabaseConfig::default()
            })
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> Result<DatabaseConfig, A::Error> {
            DatabaseConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Visitor)
}

/// [`ServerConfig::crl_missing`]: fail closed on the cards, or on the instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrlMissing {
    /// Refuse the cards of the CA (`E011`, a Japanese message).
    #[default]
    Refuse,
    /// Keep checking cards against the last CRL, and answer 503 on `/readyz`.
    Unready,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_grace() -> u32 {
    3
}
fn default_ttl() -> u64 {
    120
}
fn default_body() -> usize {
    64 * 1024
}
fn default_timeout() -> u64 {
    10
}
fn default_max_in_flight() -> usize {
    128
}
fn default_crl_poll() -> u64 {
    10
}
fn default_rate() -> u32 {
    20
}
fn default_burst() -> u32 {
    40
}
fn default_idle() -> u64 {
    60
}
fn default_body_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_connections_per_address() -> usize {
    64
}
fn default_enroll_rate() -> u32 {
    10
}
fn default_enroll_burst() -> u32 {
    10
}
fn default_clinic_query_rate() -> u32 {
    120
}
fn default_clinic_query_burst() -> u32 {
    20
}
/// The default of `max_terminals_per_clinic`.
pub const DEFAULT_MAX_TERMINALS_PER_CLINIC: u32 = 10;
fn default_max_terminals_per_clinic() -> u32 {
    DEFAULT_MAX_TERMINALS_PER_CLINIC
}
fn default_link_change_warning_days() -> u32 {
    30
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            database: DatabaseConfig::default(),
            jpki_ca: Vec::new(),
            grace_months: default_grace(),
            challenge_ttl_seconds: default_ttl(),
            max_body_bytes: default_body(),
            request_timeout_seconds: default_timeout(),
            max_in_flight: default_max_in_flight(),
            crl_poll_seconds: default_crl_poll(),
            crl_missing: CrlMissing::default(),
            rate_limit_per_second: default_rate(),
            rate_limit_burst: default_burst(),
            shared_rate_limits: false,
            idle_timeout_seconds: default_idle(),
            body_timeout_seconds: default_body_timeout(),
            max_connections: default_max_connections(),
            max_connections_per_address: default_max_connections_per_address(),
            enroll_rate_limit_per_minute: default_enroll_rate(),
            enroll_rate_limit_burst: default_enroll_burst(),
            clinic_query_rate_limit_per_minute: default_clinic_query_rate(),
            clinic_query_rate_limit_burst: default_clinic_query_burst(),
            max_terminals_per_clinic: default_max_terminals_per_clinic(),
            link_change_warning_days: default_link_change_warning_days(),
            tls_certificate: None,
            tls_key: None,
            portal: toml::Table::new(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is wrong; the message names the key and the line.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl ServerConfig {
    /// Reads `DIR/config.toml`, then applies `ONSHI_LISTEN`, `ONSHI_DATABASE`,
    /// `ONSHI_DATABASE_REPLICA_URL` and `ONSHI_RATE_LIMIT_PER_SECOND`.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Io {
            path: path.clone(),
            source: e,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if let Ok(listen) = std::env::var("ONSHI_LISTEN") {
            config.listen = listen.parse().map_err(|e| ConfigError::Env {
                name: "ONSHI_LISTEN",
                message: format!("{listen:?}: {e}"),
            })?;
        }
        if let Ok(url) = std::env::var("ONSHI_DATABASE") {
            config.database.url = Some(url);
        }
        if let Ok(url) = std::env::var("ONSHI_DATABASE_REPLICA_URL") {
            config.database.replica_url = (!url.is_empty()).then_some(url);
        }
        if let Ok(rate) = std::env::var("ONSHI_RATE_LIMIT_PER_SECOND") {
            config.rate_limit_per_second = rate.parse().map_err(|e| ConfigError::Env {
                name: "ONSHI_RATE_LIMIT_PER_SECOND",
                message: format!("{rate:?}: {e}"),
            })?;
        }
        Ok(config)
    }

    /// Writes the configuration to `DIR/config.toml`, owner-only (0600) from its creation.
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        crate::doctor::write_private(&path, text.as_bytes())
            .map_err(|e| ConfigError::Io { path, source: e })
    }

    /// The store URL: the configured one, or the SQLite file in `dir`.
    pub fn database_url(&self, dir: &Path) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join(onshi_store::SQLITE_FILE).display()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = ServerConfig {
            jpki_ca: vec!["jpki/ca-1.pem".into()],
            ..Default::default()
        };
        c.save(dir.path()).unwrap();
        assert_eq!(ServerConfig::load(dir.path()).unwrap(), c);
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "listen = \"127.0.0.1:1\"\ncolour = 1\n",
        )
        .unwrap();
        let e = ServerConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("colour") && e.contains("config.toml"), "{e}");
    }

    #[test]
    fn database_is_a_url_or_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
            ServerConfig::load(dir.path())
        };
        let c = load("database = \"postgres://db/onshi\"\n").unwrap();
        assert_eq!(c.database.url.as_deref(), Some("postgres://db/onshi"));
        assert_eq!(c.database.pool_size, DatabaseConfig::default().pool_size);
        let c = load(
            "[database]\nurl = \"postgres://db/onshi\"\nreplica_url = \"postgres://replica/onshi\"\n\
             pool_size = 8\npool_wait_ms = 100\nstatement_timeout_ms = 250\n",
        )
        .unwrap();
        let o = c.database.store_options();
        assert_eq!(
            (
                o.pool_size,
                o.pool_wait.as_millis(),
                o.statement_timeout.map(|t| t.as_millis()),
                o.replica_url.as_deref()
            ),
            (8, 100, Some(250), Some("postgres://replica/onshi"))
        );
        assert_eq!(c.database_url(dir.path()), "postgres://db/onshi");
        // 0: no PostgreSQL statement limit.
        let c = load("[database]\nstatement_timeout_ms = 0\n").unwrap();
        assert_eq!(c.database.store_options().statement_timeout, None);
        assert!(c.database_url(dir.path()).starts_with("sqlite://"));
        // Saved as a table, read back the same.
        let mut c = ServerConfig::default();
        c.database.url = Some("postgres://db/onshi".to_owned());
        c.database.pool_size = 4;
        c.save(dir.path()).unwrap();
        assert_eq!(ServerConfig::load(dir.path()).unwrap(), c);
        let e = load("[database]\npool_sise = 8\n").unwrap_err().to_string();
        assert!(e.contains("pool_sise") && e.contains("config.toml"), "{e}");
    }

    #[test]
    fn crl_missing_refuses_by_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "").unwrap();
        assert_eq!(
            ServerConfig::load(dir.path()).unwrap().crl_missing,
            CrlMissing::Refuse
        );
        std::fs::write(dir.path().join(CONFIG_FILE), "crl_missing = \"unready\"\n").unwrap();
        assert_eq!(
            ServerConfig::load(dir.path()).unwrap().crl_missing,
            CrlMissing::Unready
        );
        std::fs::write(dir.path().join(CONFIG_FILE), "crl_missing = \"ignore\"\n").unwrap();
        let e = ServerConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("crl_missing") || e.contains("ignore"), "{e}");
    }

    #[test]
    fn limits_have_defaults_and_can_be_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "").unwrap();
        let c = ServerConfig::load(dir.path()).unwrap();
        assert_eq!(
            (
                c.rate_limit_per_second,
                c.rate_limit_burst,
                c.idle_timeout_seconds
            ),
            (20, 40, 60)
        );
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "rate_limit_per_second = 0\nrate_limit_burst = 5\nidle_timeout_seconds = 30\n",
        )
        .unwrap();
        let c = ServerConfig::load(dir.path()).unwrap();
        assert_eq!(
            (
                c.rate_limit_per_second,
                c.rate_limit_burst,
                c.idle_timeout_seconds
            ),
            (0, 5, 30)
        );
    }

    #[test]
    fn edge_limits_have_defaults_and_can_be_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "").unwrap();
        let c = ServerConfig::load(dir.path()).unwrap();
        assert_eq!(
            (
                c.body_timeout_seconds,
                c.max_connections,
                c.max_connections_per_address,
                c.enroll_rate_limit_per_minute,
                c.enroll_rate_limit_burst,
                c.clinic_query_rate_limit_per_minute,
                c.clinic_query_rate_limit_burst,
                c.max_terminals_per_clinic,
            ),
            (60, 4096, 64, 10, 10, 120, 20, 10)
        );
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "body_timeout_seconds = 5\nmax_connections = 100\nmax_connections_per_address = 0\n\
             enroll_rate_limit_per_minute = 1\nenroll_rate_limit_burst = 2\n\
             clinic_query_rate_limit_per_minute = 0\nclinic_query_rate_limit_burst = 3\n\
             max_terminals_per_clinic = 2\n",
        )
        .unwrap();
        let c = ServerConfig::load(dir.path()).unwrap();
        assert_eq!(
            (
                c.body_timeout_seconds,
                c.max_connections,
                c.max_connections_per_address,
                c.enroll_rate_limit_per_minute,
                c.enroll_rate_limit_burst,
                c.clinic_query_rate_limit_per_minute,
                c.clinic_query_rate_limit_burst,
                c.max_terminals_per_clinic,
            ),
            (5, 100, 0, 1, 2, 0, 3, 2)
        );
    }
}
