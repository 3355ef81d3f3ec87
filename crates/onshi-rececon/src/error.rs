//! What can go wrong while building or writing the output files.

use std::path::PathBuf;

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum RececonError {
    /// The XML writer failed (it writes to memory, so only on a broken invariant).
    #[error("writing the XML failed: {0}")]
    Xml(#[source] std::io::Error),
    /// A value of the check is not fit for the files.
    #[error("{field}: {reason}")]
    BadValue {
        /// The element the value belongs to.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A character stayed outside Shift_JIS after mapping (a broken invariant).
    #[error("character {0:?} cannot be written in Shift_JIS")]
    Unencodable(char),
    /// A file or the output folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
