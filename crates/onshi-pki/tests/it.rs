//! Integration tests of the test card authority: the authority directory, issued cards read back
//! through the card stack, revocation and CRLs checked with x509-parser.
//!
//! RSA key generation is the slow part: every test starts from a copy of one root made once
//! ([`it::common::authority`]), and only the tests that need a card issue one.

mod it {
    mod authority;
    mod card;
    pub mod common;
    mod crl;
}
