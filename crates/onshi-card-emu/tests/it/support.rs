//! Test cards: an RSA-2048 authentication key and a self-signed certificate made with rcgen
//! (made once per test binary: RSA key generation is slow), a CA certificate, fixed attributes,
//! and fresh PIN salts for every card file.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use onshi_card::tlv::Attributes;
use onshi_card::Pin;
use onshi_card_emu::{CardFile, CardSpec};
use zeroize::Zeroizing;

/// The authentication PIN of every test card.
pub const PIN: &str = "1234";
/// The attributes applet's PIN of every test card.
pub const ATTRIBUTES_PIN: &str = "5678";
/// A wrong PIN.
pub const WRONG_PIN: &str = "9999";

/// The key and certificates of the test cards.
pub struct Parts {
    /// The authentication key, PKCS#8 DER.
    pub key_der: Zeroizing<Vec<u8>>,
    /// The authentication certificate (self-signed with that key), DER.
    pub cert_der: Vec<u8>,
    /// A CA certificate (self-signed, P-256), DER.
    pub ca_der: Vec<u8>,
}

/// Made on first use.
pub fn spec_parts() -> &'static Parts {
    static PARTS: OnceLock<Parts> = OnceLock::new();
    PARTS.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "onshi test card (auth)");
        let cert = params.self_signed(&key).unwrap();
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "onshi TEST JPKI CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        Parts {
            key_der: Zeroizing::new(key.serialize_der()),
            cert_der: cert.der().to_vec(),
            ca_der: ca.der().to_vec(),
        }
    })
}

/// The attributes of every test card.
pub fn attributes() -> Attributes {
    Attributes {
        name: "試験 花子".to_owned(),
        address: "東京都千代田区霞が関一丁目1番1号".to_owned(),
        birth: "19800401".to_owned(),
        sex: "2".to_owned(),
    }
}

/// A fresh card file (new salts, full counters).
pub fn card_file() -> CardFile {
    let parts = spec_parts();
    let pin = Pin::parse(PIN).unwrap();
    let attributes_pin = Pin::parse(ATTRIBUTES_PIN).unwrap();
    CardFile::create(CardSpec {
        auth_certificate_der: parts.cert_der.clone(),
        auth_ca_certificate_der: parts.ca_der.clone(),
        auth_private_key_pkcs8_der: parts.key_der.clone(),
        auth_pin: &pin,
        attributes: attributes(),
        attributes_pin: &attributes_pin,
    })
    .unwrap()
}
