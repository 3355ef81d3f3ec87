//! The My Number card's side of the wire.
//!
//! ISO 7816-4 APDUs parsed strictly ([`apdu`]), status words with their meaning in Japanese and
//! English ([`status`]), the two applets onshi uses ([`ap`]: 公的個人認証AP and
//! 券面事項入力補助AP), the card's TLV files ([`tlv`]), a high-level [`Client`], and the
//! [`Transport`] seam that a real reader (PC/SC, feature `pcsc`) and the software card
//! (`onshi-card-emu`) both sit behind.

pub mod ap;
pub mod apdu;
pub mod client;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod pin;
pub mod status;
pub mod tlv;
pub mod transport;

pub use apdu::{Command, Response};
pub use client::{sha256_digest_info, Client};
pub use error::CardError;
pub use pin::Pin;
pub use status::StatusWord;
pub use tlv::{Attributes, TlvError};
#[cfg(feature = "pcsc")]
pub use transport::pcsc::PcscReader;
pub use transport::{Transport, TransportError};
