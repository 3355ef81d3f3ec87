//! What the server's logs may carry: terminal ids, routes, statuses, timings, certificate serials
//! of terminals — never a PIN, a patient's name, number or person id, nor a card's serial (those
//! go to the audit table only). The server's own log points keep to that; [`may_log`] keeps
//! dependencies to it too, and every subscriber that logs the server (the `onshi` binary, the
//! tests) applies it.

use std::fmt;

use tracing::{Level, Metadata};

/// How many characters of a client's text [`untrusted`] keeps.
pub const UNTRUSTED_CHARS: usize = 64;

/// Text a client sent (an account name, a parse error quoting the request), as it may be logged:
/// at most [`UNTRUSTED_CHARS`] characters, in quotes, with everything but printable ASCII
/// escaped (`\n`, `\u{1b}`, `\u{30a2}`), so that a client can neither forge log lines nor fill
/// the log. Log every such field through it: `tracing::warn!(account = %untrusted(&req.account))`.
pub fn untrusted(text: &str) -> Untrusted<'_> {
    Untrusted(text)
}

/// See [`untrusted`].
#[derive(Clone, Copy)]
pub struct Untrusted<'a>(&'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(UNTRUSTED_CHARS) {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                ' '..='~' => fmt::Write::write_char(f, c)?,
                c => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
        }
        f.write_str("\"")?;
        let rest = chars.as_str().len();
        if rest > 0 {
            write!(f, "…(+{rest} bytes)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

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
    fn untrusted_text_is_escaped_and_truncated() {
        assert_eq!(untrusted("W0000001").to_string(), "\"W0000001\"");
        assert_eq!(
            untrusted("a\"b\\c\nlevel=ERROR forged\r\t\u{1b}[31m").to_string(),
            "\"a\\\"b\\\\c\\nlevel=ERROR forged\\r\\t\\u{1b}[31m\""
        );
        assert_eq!(untrusted("端末").to_string(), "\"\\u{7aef}\\u{672b}\"");
        let long = "x".repeat(10_000);
        let shown = untrusted(&long).to_string();
        assert_eq!(
            shown,
            format!(
                "\"{}\"…(+{} bytes)",
                "x".repeat(UNTRUSTED_CHARS),
                10_000 - UNTRUSTED_CHARS
            )
        );
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn database_drivers_are_capped_at_info() {
        assert!(quotes_data("tokio_postgres::query"));
        assert!(quotes_data("postgres"));
        assert!(!quotes_data("postgres_types"));
        assert!(!quotes_data("onshi_server::serve"));
        assert!(Level::DEBUG > Level::INFO && Level::WARN < Level::INFO);
    }
}
