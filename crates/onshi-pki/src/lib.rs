//! onshi's PKI: the test card authority (onshi's stand-in for J-LIS), the eligibility service's
//! checks of a patient's card certificate ([`card_check`]), and the service's own CAs for
//! terminals and for its TLS server ([`terminal_ca`]).
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
pub mod card_check;
pub mod error;
mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod records;
pub mod serial;
mod state;
pub mod terminal_ca;
mod time;

pub use authority::{Authority, IssueRequest, IssuedCard};
pub use card_check::{
    CardPublicKey, CardWarning, CheckedCard, CrlInfo, CrlProblem, GracePolicy, TrustedJpki,
    VerifiedCrl,
};
pub use error::{CardCheckError, PkiError};
pub use records::{is_valid_person_id, Holder, IssuedRecord, RevokedRecord};
pub use serial::{canonical_serial, serial_text};
pub use terminal_ca::{serial_of, terminal_id_of, IssuedTerminal, ServerPki};
