//! The test card authority: onshi's stand-in for J-LIS.
//!
//! An [`Authority`] lives in a directory (layout in [`authority`]): an RSA-2048 root for
//! user-authentication certificates, clearly marked as a TEST authority in its subject; it issues
//! software My Number cards (through `onshi-card-emu`) whose 利用者証明用電子証明書 carries no
//! personal data, records which person each certificate's serial belongs to in `issued.csv` (the
//! link the eligibility service imports), revokes certificates and signs CRLs.
//!
//! Serials are compared as text in one canonical form everywhere: see [`serial_text`].
//! No function reads the clock; each takes `now`.

pub mod authority;
pub mod error;
mod files;
pub mod records;
pub mod serial;
mod state;
mod time;

pub use authority::{Authority, IssueRequest, IssuedCard};
pub use error::PkiError;
pub use records::{is_valid_person_id, IssuedRecord, RevokedRecord};
pub use serial::{canonical_serial, serial_text};
