//! A My Number card in software.
//!
//! [`SoftCard`] answers the same command APDUs as a real card, byte for byte on every path onshi
//! uses, from a [`CardFile`] (certificates, the authentication key, PINs as salted hashes with
//! their retry counters, the card-face attributes; never a My Number). It reaches the client the
//! way a real card does: in process through [`InProcess`], which implements the same
//! [`onshi_card::Transport`] as a PC/SC reader, or through pcscd itself by way of vsmartcard's
//! virtual reader ([`vpcd::serve`]).

pub mod card;
pub mod card_file;
pub mod error;
pub mod in_process;
pub mod vpcd;

pub use card::{SoftCard, MY_NUMBER_CARD_ATR};
pub use card_file::{CardFile, CardSpec};
pub use error::{CardFileError, EmuError};
pub use in_process::InProcess;

// Lets the test helper shared with the integration tests name this crate as they do.
#[cfg(test)]
extern crate self as onshi_card_emu;

#[cfg(test)]
#[path = "../tests/it/support.rs"]
mod test_card;
