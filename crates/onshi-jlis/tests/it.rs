//! Integration tests of the test authority and of `onshi-pki` (they need the authority's cards,
//! so they live in this one binary): the authority directory, issued cards read back through the
//! card stack, revocation and CRLs checked with x509-parser, the eligibility service's card checks
//! on those cards, and the terminal and server CAs.
//!
//! RSA key generation is the slow part: every test starts from a copy of one root made once
//! ([`it::common::authority`]), and only the tests that need a card issue one.

mod it {
    mod authority;
    mod card;
    mod card_check;
    pub mod common;
    mod crl;
    mod terminal_ca;
}
