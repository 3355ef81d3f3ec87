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
    #[error("the card file {path} is not a valid card file: {problem}")]
    Format {
        /// The card file.
        path: PathBuf,
        /// What is wrong (a JSON error with its line and column, or a field that does not fit).
        problem: CardFileError,
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
    Spec(CardFileError),
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

/// What is wrong with a card file's contents, or with what was given to make a card. Never
/// quotes the file's values (a key, a PIN's hash, a name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardFileError {
    /// Not JSON of the card file format: serde's words, with the line and column.
    #[error("{0}")]
    Json(String),
    /// A field has the wrong type or value (serde's own words would quote the value).
    #[error("a field has the wrong type or value at line {line} column {column}")]
    WrongTypeOrValue {
        /// The line in the file.
        line: usize,
        /// The column in the line.
        column: usize,
    },
    /// The file has no `version`.
    #[error("no \"version\" field")]
    NoVersion,
    /// The file's `version` is another than this onshi reads.
    #[error("version {found} is not supported (this onshi reads version {supported})")]
    UnsupportedVersion {
        /// The version found, as JSON.
        found: String,
        /// The version this onshi reads.
        supported: u32,
    },
    /// A PIN's tries left exceed a fresh card's.
    #[error("{field}.tries_left is {tries_left}, more than the {max_tries} tries of a fresh card")]
    TooManyTries {
        /// The PIN's field (`auth_pin` …).
        field: &'static str,
        /// The value found.
        tries_left: u8,
        /// A fresh card's.
        max_tries: u8,
    },
    /// A PIN's salt has the wrong length.
    #[error("{field}.salt is not {len} bytes")]
    SaltLength {
        /// The PIN's field.
        field: &'static str,
        /// The length a salt has.
        len: usize,
    },
    /// A PIN's hash is not 32 bytes.
    #[error("{field}.sha256 is not 32 bytes")]
    HashLength {
        /// The PIN's field.
        field: &'static str,
    },
    /// A PIN that must have a hash has none.
    #[error("{field} has no salt and sha256")]
    NoHash {
        /// The PIN's field.
        field: &'static str,
    },
    /// A PIN has a salt without a hash, or a hash without a salt.
    #[error("{field} needs both salt and sha256, or neither")]
    HalfHash {
        /// The PIN's field.
        field: &'static str,
    },
    /// The authentication key is not an RSA key in PKCS#8 DER.
    #[error("the authentication key is not an RSA private key in PKCS#8 DER")]
    KeyNotPkcs8,
    /// The authentication key is not 2048 bits.
    #[error("the authentication key has {bits} bits, a My Number card's has 2048")]
    KeySize {
        /// Its size.
        bits: usize,
    },
    /// A certificate does not fit in an EF.
    #[error("{what} is longer than {max} bytes")]
    CertificateTooLong {
        /// Which certificate.
        what: &'static str,
        /// An EF's size.
        max: usize,
    },
    /// A certificate is not one DER SEQUENCE of the length its header announces.
    #[error("{what} is not one DER SEQUENCE")]
    CertificateNotDer {
        /// Which certificate.
        what: &'static str,
    },
    /// The birth date is not `YYYYMMDD`.
    #[error("the birth date is not 8 digits (YYYYMMDD)")]
    Birth,
    /// The sex is not one digit.
    #[error("the sex is not one digit")]
    Sex,
    /// The name is empty.
    #[error("the name is empty")]
    EmptyName,
    /// The attributes do not fit in an EF.
    #[error("the attributes take more than {max} bytes")]
    AttributesTooLong {
        /// An EF's size.
        max: usize,
    },
}
