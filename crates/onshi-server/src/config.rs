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
    /// The store: a `postgres://` URL, or `sqlite://FILE` (`ONSHI_DATABASE`). Default: the SQLite
    /// file in the data directory.
    #[serde(default)]
    pub database: Option<String>,
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
    /// Seconds between checks for a new CRL in the store.
    #[serde(default = "default_crl_poll")]
    pub crl_poll_seconds: u64,
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
fn default_crl_poll() -> u64 {
    10
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            database: None,
            jpki_ca: Vec::new(),
            grace_months: default_grace(),
            challenge_ttl_seconds: default_ttl(),
            max_body_bytes: default_body(),
            request_timeout_seconds: default_timeout(),
            crl_poll_seconds: default_crl_poll(),
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
    /// Reads `DIR/config.toml`, then applies `ONSHI_LISTEN` and `ONSHI_DATABASE`.
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
            config.database = Some(url);
        }
        Ok(config)
    }

    /// Writes the configuration to `DIR/config.toml`.
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| ConfigError::Io { path, source: e })
    }

    /// The store URL: the configured one, or the SQLite file in `dir`.
    pub fn database_url(&self, dir: &Path) -> String {
        self.database
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
}
