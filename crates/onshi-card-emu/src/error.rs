//! What can go wrong with the software card: its file, its contents, and the vpcd connection.
//! Every error about a file names the file. No error carries a PIN, a key or personal data.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors of the software card.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// The card file could not be read.
    #[error("cannot read the card file {path}: {source}")]
    Read {
        /// The card file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The card file is not valid JSON of the card file format, or its contents are unusable.
    #[error("the card file {path} is not a valid card file: {message}")]
    Format {
        /// The card file.
        path: PathBuf,
        /// What is wrong (a JSON error with its line and column, or a field that does not fit).
        message: String,
    },
    /// The card file could not be written (temporary file, fsync or rename).
    #[error("cannot write the card file {path}: {source}")]
    Write {
        /// The card file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// What was given to [`crate::CardFile::create`] cannot make a card.
    #[error("cannot make a card: {0}")]
    Spec(String),
    /// The operating system gave no random bytes (for a PIN's salt).
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    /// The vpcd connection failed.
    #[error("vpcd at {addr}: {source}")]
    Vpcd {
        /// The vpcd address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
