//! Shared fixtures: one root for the whole test binary, copied into each test's own directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use onshi_card::client::Client;
use onshi_card::tlv::Attributes;
use onshi_card::Pin;
use onshi_card_emu::{InProcess, SoftCard};
use onshi_jlis::authority::{CA_CERT_FILE, CA_KEY_FILE, ISSUED_FILE, REVOKED_FILE, STATE_FILE};
use onshi_jlis::{Authority, IssueRequest};
use tempfile::TempDir;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Every file of an authority directory.
pub const FILES: [&str; 5] = [
    CA_CERT_FILE,
    CA_KEY_FILE,
    ISSUED_FILE,
    REVOKED_FILE,
    STATE_FILE,
];

/// The time the shared root was made.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap()
}

/// The directory of the root made once for all tests (do not write to it).
pub fn template_dir() -> &'static Path {
    static TEMPLATE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let (_keep, dir) = TEMPLATE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("jlis");
        Authority::init(&dir, now()).unwrap();
        (tmp, dir)
    });
    dir
}

/// A fresh copy of the shared root in its own directory, opened.
pub fn authority() -> (TempDir, Authority) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("jlis");
    copy_authority(&dir);
    let authority = Authority::open(&dir).unwrap();
    (tmp, authority)
}

/// Copies the shared root's files into `dir` (created).
pub fn copy_authority(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in FILES {
        std::fs::copy(template_dir().join(name), dir.join(name)).unwrap();
    }
}

/// What a test card shows on its face.
pub fn attributes() -> Attributes {
    Attributes {
        name: "試験　花子".into(),
        address: "東京都千代田区霞が関一丁目二番二号".into(),
        birth: "19800123".into(),
        sex: "2".into(),
    }
}

/// A request with every default, writing to `dir/card.json`.
pub fn request(dir: &Path, person: &str) -> IssueRequest {
    IssueRequest {
        person_id: person.into(),
        pin: Pin::parse("1234").unwrap(),
        attributes: attributes(),
        attributes_pin: None,
        record_holder: true,
        not_before: None,
        not_after: None,
        out: dir.join("card.json"),
    }
}

/// Parses a DER certificate (panics on trailing bytes).
pub fn parse_cert(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty(), "trailing bytes after the certificate");
    cert
}

/// The subject key identifier of a certificate.
pub fn subject_key_id(cert: &X509Certificate<'_>) -> Vec<u8> {
    use x509_parser::extensions::ParsedExtension;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .expect("a subject key identifier")
}

/// The authority key identifier's keyIdentifier of a certificate or CRL's extensions.
pub fn authority_key_id(exts: &[x509_parser::extensions::X509Extension<'_>]) -> Vec<u8> {
    use x509_parser::extensions::ParsedExtension;
    exts.iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
        .expect("an authority key identifier")
}

/// A client talking to the software card in the file at `path`, in process.
pub fn card(path: &Path) -> Client<InProcess> {
    Client::new(InProcess::new(SoftCard::open(path).unwrap()))
}

/// What the card at `path` shows without a PIN, read through the client as from a real card:
/// its authentication certificate and the CA certificate, DER.
pub fn read_card(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut client = card(path);
    (
        client.read_auth_certificate().unwrap(),
        client.read_auth_ca_certificate().unwrap(),
    )
}
