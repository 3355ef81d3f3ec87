//! A TEST J-LIS: the card authority onshi uses in tests, benchmarks and `onshi demo` in place of
//! J-LIS. It issues software My Number cards (through `onshi-card-emu`), records which person each
//! certificate's serial belongs to in `issued.csv` (the link the eligibility service imports),
//! revokes certificates and signs CRLs.
//!
//! It lives apart from `onshi-pki`, which keeps what production needs (card checks, terminal and
//! server CAs), so the production service links no software card.
//!
//! An [`Authority`] lives in a directory (layout in [`authority`]): an RSA-2048 root for
//! user-authentication certificates, clearly marked as a TEST authority in its subject. No
//! function reads the clock; each takes `now`.

pub mod authority;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod state;

pub use authority::{Authority, IssueRequest, IssuedCard};
pub use error::JlisError;
