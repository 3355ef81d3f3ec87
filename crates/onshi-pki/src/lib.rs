//! onshi's PKI, what production needs: the eligibility service's checks of a patient's card
//! certificate ([`card_check`]), the card authority's link records ([`records`]), and the
//! service's own CAs for terminals and for its TLS server ([`terminal_ca`]).
//!
//! The TEST card authority that issues software cards is `onshi-jlis`, apart, so that the
//! production service links no software card. The helpers it shares ([`files`], [`time`],
//! [`serial`]) are public for it.
//!
//! Serials are compared as text in one canonical form everywhere: see [`serial_text`].
//! No function reads the clock; each takes `now`.

pub mod card_check;
pub mod error;
pub mod files;
pub mod records;
pub mod serial;
pub mod terminal_ca;
pub mod time;

pub use card_check::{
    CardPublicKey, CardWarning, CheckedCard, CrlInfo, CrlProblem, GracePolicy, TrustedJpki,
    VerifiedCrl,
};
pub use error::{CardCheckError, PkiError, RecordProblem, X509Problem};
pub use records::{is_valid_person_id, Holder, IssuedRecord, RevokedRecord};
pub use serial::{canonical_serial, serial_text};
pub use terminal_ca::{serial_of, terminal_id_of, IssuedTerminal, ServerPki};
