//! Every client operation against the software card, in process.

use std::cell::RefCell;
use std::rc::Rc;

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use onshi_card::ap::{
    attributes, CLA_ISO, INS_READ_BINARY, INS_SELECT, P1_SELECT_BY_AID, P1_SELECT_EF,
};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::error::CardError;
use onshi_card::{Command, Pin, Transport, TransportError};
use onshi_card_emu::{CardFile, InProcess, SoftCard};
use sha2::{Digest as _, Sha256};

use super::support;

fn pin(s: &str) -> Pin {
    Pin::parse(s).unwrap()
}

fn client() -> Client<InProcess> {
    Client::new(InProcess::new(SoftCard::in_memory(support::card_file())))
}

/// The card's RSA public key (the certificate's subjectPublicKey, an RSAPublicKey) from a DER
/// certificate, by x509-parser.
fn public_key(cert_der: &[u8]) -> Vec<u8> {
    let (rest, cert) = x509_parser::parse_x509_certificate(cert_der).unwrap();
    assert!(rest.is_empty());
    cert.public_key().subject_public_key.data.to_vec()
}

#[test]
fn reads_the_certificates_the_file_holds() {
    let file = support::card_file();
    let (cert, ca) = (
        file.auth_certificate_der().to_vec(),
        file.auth_ca_certificate_der().to_vec(),
    );
    let mut client = Client::new(InProcess::new(SoftCard::in_memory(file)));
    assert_eq!(client.read_auth_certificate().unwrap(), cert);
    assert_eq!(client.read_auth_ca_certificate().unwrap(), ca);
    assert!(cert.len() > 256, "read in several chunks");
}

#[test]
fn tries_left() {
    let mut client = client();
    assert_eq!(client.auth_pin_tries_left().unwrap(), 3);
    assert_eq!(client.signing_password_tries_left().unwrap(), 5);
    client.verify_auth_pin(&pin(support::PIN)).unwrap();
    assert_eq!(
        client.auth_pin_tries_left().unwrap(),
        3,
        "63 C3 after a correct VERIFY too"
    );
}

#[test]
fn wrong_pin_twice_then_right_restores_the_tries() {
    let mut client = client();
    let wrong = pin(support::WRONG_PIN);
    assert!(matches!(
        client.verify_auth_pin(&wrong),
        Err(CardError::WrongPin { tries_left: 2 })
    ));
    assert!(matches!(
        client.verify_auth_pin(&wrong),
        Err(CardError::WrongPin { tries_left: 1 })
    ));
    assert_eq!(client.auth_pin_tries_left().unwrap(), 1);
    client.verify_auth_pin(&pin(support::PIN)).unwrap();
    assert_eq!(client.auth_pin_tries_left().unwrap(), 3);
}

#[test]
fn three_wrong_pins_lock_the_card_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    support::card_file().save(&path).unwrap();
    let wrong = pin(support::WRONG_PIN);
    {
        let mut client = Client::new(InProcess::new(SoftCard::open(&path).unwrap()));
        assert!(matches!(
            client.verify_auth_pin(&wrong),
            Err(CardError::WrongPin { tries_left: 2 })
        ));
        // Each change is on disk at once.
        assert_eq!(CardFile::load(&path).unwrap().auth_pin_tries_left(), 2);
        assert!(matches!(
            client.verify_auth_pin(&wrong),
            Err(CardError::WrongPin { tries_left: 1 })
        ));
        assert!(matches!(
            client.verify_auth_pin(&wrong),
            Err(CardError::PinBlocked)
        ));
        assert!(matches!(
            client.verify_auth_pin(&pin(support::PIN)),
            Err(CardError::PinBlocked)
        ));
        assert_eq!(client.auth_pin_tries_left().unwrap(), 0);
    }
    assert_eq!(CardFile::load(&path).unwrap().auth_pin_tries_left(), 0);
    // Another run: still locked, the right PIN does not help, nothing signs.
    let mut client = Client::new(InProcess::new(SoftCard::open(&path).unwrap()));
    assert_eq!(client.auth_pin_tries_left().unwrap(), 0);
    assert!(matches!(
        client.verify_auth_pin(&pin(support::PIN)),
        Err(CardError::PinBlocked)
    ));
    let digest_info = sha256_digest_info(&[0; 32]);
    assert!(matches!(
        client.sign_with_auth_key(&digest_info),
        Err(CardError::PinNotVerified)
    ));
    // The attributes applet has its own counter, untouched.
    assert_eq!(
        CardFile::load(&path).unwrap().attributes_pin_tries_left(),
        3
    );
    assert!(client
        .read_attributes(&pin(support::ATTRIBUTES_PIN))
        .is_ok());
}

#[test]
fn a_signature_verifies_independently() {
    let mut client = client();
    let cert = client.read_auth_certificate().unwrap();
    let data = "オンライン資格確認 2026-04-01 受付 0001".as_bytes();
    let digest: [u8; 32] = Sha256::digest(data).into();
    client.verify_auth_pin(&pin(support::PIN)).unwrap();
    let signature = client
        .sign_with_auth_key(&sha256_digest_info(&digest))
        .unwrap();
    assert_eq!(signature.len(), 256);

    // aws-lc-rs, with the key from the certificate read from the card.
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key(&cert));
    key.verify(data, &signature).unwrap();
    assert!(key.verify(b"other data", &signature).is_err());

    // And the openssl command line, where installed.
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let (cert_path, sig_path, data_path) = (
        file("cert.der", &cert),
        file("sig.bin", &signature),
        file("data.bin", data),
    );
    let pub_path = dir.path().join("pub.pem");
    let extract = std::process::Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-pubkey", "-in"])
        .arg(&cert_path)
        .output();
    let extract = match extract {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("openssl not installed: the command-line check is skipped");
            return;
        }
        Err(e) => panic!("openssl: {e}"),
    };
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stderr)
    );
    std::fs::write(&pub_path, &extract.stdout).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pub_path)
        .arg("-signature")
        .arg(&sig_path)
        .arg(&data_path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("Verified OK"));
}

#[test]
fn no_signature_without_the_pin() {
    let digest_info = sha256_digest_info(&[7; 32]);
    // Nothing selected yet.
    let mut client = client();
    assert!(matches!(
        client.sign_with_auth_key(&digest_info),
        Err(CardError::PinNotVerified)
    ));
    // The JPKI applet selected, the PIN not verified: the card answers 69 82.
    client.read_auth_certificate().unwrap();
    assert!(matches!(
        client.sign_with_auth_key(&digest_info),
        Err(CardError::PinNotVerified)
    ));
    // Verified, then the other applet selected: the verification is gone.
    client.verify_auth_pin(&pin(support::PIN)).unwrap();
    client
        .read_attributes(&pin(support::ATTRIBUTES_PIN))
        .unwrap();
    assert!(matches!(
        client.sign_with_auth_key(&digest_info),
        Err(CardError::PinNotVerified)
    ));
    // Verified, then the card taken out and put back: gone too.
    client.verify_auth_pin(&pin(support::PIN)).unwrap();
    client.transport_mut().remove_after(0);
    assert!(client.auth_pin_tries_left().is_err());
    client.transport_mut().reinsert();
    assert!(matches!(
        client.sign_with_auth_key(&digest_info),
        Err(CardError::PinNotVerified)
    ));
    // And in one call it works.
    assert_eq!(
        client
            .verify_and_sign(&pin(support::PIN), &digest_info)
            .unwrap()
            .len(),
        256
    );
}

#[test]
fn attributes_with_their_pin() {
    let mut client = client();
    assert!(matches!(
        client.read_attributes(&pin(support::PIN)),
        Err(CardError::WrongPin { tries_left: 2 })
    ));
    let attributes = client
        .read_attributes(&pin(support::ATTRIBUTES_PIN))
        .unwrap();
    assert!(attributes == support::attributes());
    assert_eq!(
        client
            .transport_mut()
            .card()
            .card_file()
            .unwrap()
            .attributes_pin_tries_left(),
        3
    );
}

#[test]
fn a_foreign_card_is_not_a_my_number_card() {
    let mut client = Client::new(InProcess::new(SoftCard::foreign()));
    assert!(matches!(
        client.read_auth_certificate(),
        Err(CardError::NotMyNumberCard)
    ));
    assert!(matches!(
        client.auth_pin_tries_left(),
        Err(CardError::NotMyNumberCard)
    ));
    assert!(matches!(
        client.verify_auth_pin(&pin(support::PIN)),
        Err(CardError::NotMyNumberCard)
    ));
    assert!(matches!(
        client.read_attributes(&pin(support::ATTRIBUTES_PIN)),
        Err(CardError::NotMyNumberCard)
    ));
}

#[test]
fn a_card_removed_mid_read() {
    let file = support::card_file();
    let cert = file.auth_certificate_der().to_vec();
    let mut client = Client::new(InProcess::new(SoftCard::in_memory(file)));
    // SELECT AP, SELECT EF, the header, one chunk: then the card is gone.
    client.transport_mut().remove_after(4);
    assert!(matches!(
        client.read_auth_certificate(),
        Err(CardError::Transport(TransportError::CardRemoved))
    ));
    assert!(matches!(
        client.auth_pin_tries_left(),
        Err(CardError::Transport(TransportError::CardRemoved))
    ));
    client.transport_mut().reinsert();
    assert_eq!(client.read_auth_certificate().unwrap(), cert);
}

/// A transport that keeps every command sent (they hold the test PINs: tests only).
struct Recording<T> {
    inner: T,
    sent: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl<T: Transport> Transport for Recording<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent.borrow_mut().push(command.to_vec());
        self.inner.transmit(command)
    }
}

#[test]
fn the_my_number_ef_is_never_selected() {
    let sent = Rc::new(RefCell::new(Vec::new()));
    let transport = Recording {
        inner: InProcess::new(SoftCard::in_memory(support::card_file())),
        sent: Rc::clone(&sent),
    };
    let mut client = Client::new(transport);
    let digest_info = sha256_digest_info(&[1; 32]);
    client.read_auth_certificate().unwrap();
    client.read_auth_ca_certificate().unwrap();
    client.auth_pin_tries_left().unwrap();
    client.signing_password_tries_left().unwrap();
    let _ = client.verify_auth_pin(&pin(support::WRONG_PIN));
    client.verify_auth_pin(&pin(support::PIN)).unwrap();
    client.sign_with_auth_key(&digest_info).unwrap();
    client
        .verify_and_sign(&pin(support::PIN), &digest_info)
        .unwrap();
    let _ = client.read_attributes(&pin(support::WRONG_PIN));
    client
        .read_attributes(&pin(support::ATTRIBUTES_PIN))
        .unwrap();
    let _ = client.sign_with_auth_key(&digest_info);
    let _ = client.read_attributes(&pin(support::ATTRIBUTES_PIN));

    let sent = sent.borrow();
    assert!(sent.len() > 30, "{} commands", sent.len());
    let mut attributes_ap = false;
    let mut selected_attributes_ap = false;
    for bytes in sent.iter() {
        let c = Command::parse(bytes).unwrap();
        match (c.cla, c.ins, c.p1) {
            (CLA_ISO, INS_SELECT, P1_SELECT_BY_AID) => {
                attributes_ap = c.data == attributes::AID;
                selected_attributes_ap |= attributes_ap;
            }
            (CLA_ISO, INS_SELECT, P1_SELECT_EF) => {
                assert!(
                    !(attributes_ap && c.data == attributes::EF_MY_NUMBER),
                    "SELECT of the My Number EF: {c:?}"
                );
            }
            (CLA_ISO, INS_READ_BINARY, p1) => {
                // A short EF identifier would select an EF without SELECT.
                assert_eq!(p1 & 0x80, 0, "READ BINARY by short EF identifier: {c:?}");
            }
            _ => {}
        }
    }
    assert!(selected_attributes_ap);
}
