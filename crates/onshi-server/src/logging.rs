//! What the server's logs may carry: terminal ids, routes, statuses, timings, certificate serials
//! of terminals — never a PIN, a patient's name, number or person id, nor a card's serial (those
//! go to the audit table only). The server's own log points keep to that; [`may_log`] keeps
//! dependencies to it too, and every subscriber that logs the server (the `onshi` binary, the
//! tests) applies it.

use tracing::{Level, Metadata};

/// Targets whose debug and trace records quote the data they carry: tokio-postgres writes every
/// statement's parameters (person ids, insured numbers, birth dates) at debug level.
const QUOTING_TARGETS: &[&str] = &["tokio_postgres", "postgres"];

/// Whether a record may be logged at all: not a debug or trace record of [`QUOTING_TARGETS`],
/// whatever `ONSHI_LOG` asks for.
pub fn may_log(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !quotes_data(meta.target())
}

fn quotes_data(target: &str) -> bool {
    QUOTING_TARGETS.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_drivers_are_capped_at_info() {
        assert!(quotes_data("tokio_postgres::query"));
        assert!(quotes_data("postgres"));
        assert!(!quotes_data("postgres_types"));
        assert!(!quotes_data("onshi_server::serve"));
        assert!(Level::DEBUG > Level::INFO && Level::WARN < Level::INFO);
    }
}
