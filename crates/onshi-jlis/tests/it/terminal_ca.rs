//! The service's own PKI: the files `init` writes, the TLS server certificate, and terminal
//! certificates from CSRs, whose shape the CA decides whatever the CSR asks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::Months;
use onshi_pki::terminal_ca::{
    CheckedCsr, PlannedSerial, ServerPki, SERVER_CA_CERT_FILE, SERVER_CA_KEY_FILE,
    SERVER_CERT_FILE, SERVER_KEY_FILE, TERMINAL_CA_CERT_FILE, TERMINAL_CA_KEY_FILE,
};
use onshi_pki::{serial_of, terminal_id_of, PkiError};
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PublicKeyData, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::common::{now, parse_cert};

const FILES: [&str; 6] = [
    TERMINAL_CA_CERT_FILE,
    TERMINAL_CA_KEY_FILE,
    SERVER_CA_CERT_FILE,
    SERVER_CA_KEY_FILE,
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
];

fn pki() -> (tempfile::TempDir, ServerPki) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = ServerPki::init(&tmp.path().join("data"), now()).unwrap();
    (tmp, pki)
}

fn pem_der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}

/// A CSR that asks for everything a terminal must not get: another subject, serverAuth, CA
/// rights, alternative names.
fn greedy_csr(key: &KeyPair) -> rcgen::CertificateSigningRequest {
    let mut params = CertificateParams::new(vec!["evil.example".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "evil");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "onshi");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.serialize_request(key).unwrap()
}

#[test]
fn init_writes_the_files_and_refuses_to_overwrite() {
    let (tmp, pki) = pki();
    let dir = tmp.path().join("data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in FILES {
            let mode = std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            let expected = if name.ends_with("-key.pem") {
                0o600
            } else {
                0o644
            };
            assert_eq!(mode, expected, "{name}");
        }
    }
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), FILES.len());

    match ServerPki::init(&dir, now()) {
        Err(PkiError::AlreadyExists { found }) => assert!(found.starts_with(&dir)),
        other => panic!("{other:?}"),
    }

    let ca = parse_cert(pki.terminal_ca_der());
    assert_eq!(ca.subject().to_string(), "O=onshi, CN=onshi terminal CA");
    assert_eq!(ca.subject(), ca.issuer());
    assert!(ca.basic_constraints().unwrap().unwrap().value.ca);
    ca.verify_signature(None).unwrap();
    assert_eq!(
        ca.validity().not_after.timestamp(),
        (now() + Months::new(120)).timestamp()
    );
    assert_eq!(
        pem_der(&std::fs::read_to_string(dir.join(TERMINAL_CA_CERT_FILE)).unwrap()),
        pki.terminal_ca_der()
    );

    // Open reads back the same; it does not need the server CA's key.
    std::fs::remove_file(dir.join(SERVER_CA_KEY_FILE)).unwrap();
    let opened = ServerPki::open(&dir).unwrap();
    assert_eq!(opened.terminal_ca_pem(), pki.terminal_ca_pem());
    assert_eq!(opened.server_cert_chain_pem(), pki.server_cert_chain_pem());
    assert_eq!(*opened.server_key_pem(), *pki.server_key_pem());
    assert_eq!(opened.server_ca_pem(), pki.server_ca_pem());
}

#[test]
fn open_checks_that_each_key_belongs_to_its_certificate() {
    let (tmp, _pki) = pki();
    let dir = tmp.path().join("data");
    // The server CA's key in place of the terminal CA's.
    std::fs::copy(dir.join(SERVER_CA_KEY_FILE), dir.join(TERMINAL_CA_KEY_FILE)).unwrap();
    assert!(matches!(
        ServerPki::open(&dir),
        Err(PkiError::KeyMismatch { .. })
    ));
    std::fs::remove_file(dir.join(TERMINAL_CA_KEY_FILE)).unwrap();
    assert!(matches!(
        ServerPki::open(&dir),
        Err(PkiError::Missing { .. })
    ));
}

#[test]
fn the_server_certificate_names_localhost_and_chains_to_the_server_ca() {
    let (_tmp, pki) = pki();
    let chain = pki.server_cert_chain_der();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], pki.server_ca_der());
    assert_eq!(
        x509_parser::pem::Pem::iter_from_buffer(pki.server_cert_chain_pem().as_bytes())
            .map(|p| p.unwrap().contents)
            .collect::<Vec<_>>(),
        chain
    );
    let server = parse_cert(&chain[0]);
    let ca = parse_cert(&chain[1]);
    assert_eq!(server.issuer(), ca.subject());
    assert_eq!(ca.subject().to_string(), "O=onshi, CN=onshi server CA");
    server.verify_signature(Some(ca.public_key())).unwrap();
    // Not by the terminal CA.
    assert!(server
        .verify_signature(Some(parse_cert(pki.terminal_ca_der()).public_key()))
        .is_err());

    let san = server.subject_alternative_name().unwrap().unwrap();
    let names = &san.value.general_names;
    assert!(names.contains(&GeneralName::DNSName("localhost")));
    assert!(names.contains(&GeneralName::IPAddress(&Ipv4Addr::LOCALHOST.octets())));
    assert!(names.contains(&GeneralName::IPAddress(&Ipv6Addr::LOCALHOST.octets())));
    let eku = server.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert!(!server.basic_constraints().unwrap().unwrap().value.ca);
    assert_eq!(
        server.validity().not_after.timestamp(),
        (now() + Months::new(24)).timestamp()
    );

    // The key is the certificate's.
    let key = KeyPair::from_pem(&pki.server_key_pem()).unwrap();
    assert_eq!(key.subject_public_key_info(), server.public_key().raw);
}

#[test]
fn a_terminal_gets_the_shape_the_ca_decides() {
    let (_tmp, pki) = pki();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = greedy_csr(&key);
    let issued = pki
        .issue_terminal_certificate(&csr.pem().unwrap(), "W0000001", now())
        .unwrap();
    assert_eq!(pem_der(&issued.certificate_pem), issued.certificate_der);

    let cert = parse_cert(&issued.certificate_der);
    let ca = parse_cert(pki.terminal_ca_der());
    assert_eq!(cert.issuer(), ca.subject());
    cert.verify_signature(Some(ca.public_key())).unwrap();

    assert_eq!(cert.subject().to_string(), "O=onshi terminal, CN=W0000001");
    assert_eq!(cert.public_key().raw, key.subject_public_key_info());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth && !eku.any);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    assert!(cert
        .basic_constraints()
        .unwrap()
        .is_none_or(|bc| !bc.value.ca));
    assert!(cert.subject_alternative_name().unwrap().is_none());

    assert_eq!(issued.not_after, now() + Months::new(12));
    assert_eq!(
        cert.validity().not_after.timestamp(),
        issued.not_after.timestamp()
    );
    assert!(issued.not_before < now());
    assert_eq!(issued.serial.len(), 32);
    assert_eq!(serial_of(&issued.certificate_der).unwrap(), issued.serial);
    assert_eq!(
        terminal_id_of(&issued.certificate_der).as_deref(),
        Some("W0000001")
    );

    // From DER as well; each certificate gets its own serial.
    let again = pki
        .issue_terminal_certificate_der(csr.der(), "W0000002", now())
        .unwrap();
    assert_ne!(again.serial, issued.serial);
    assert_eq!(
        terminal_id_of(&again.certificate_der).as_deref(),
        Some("W0000002")
    );
    let (rest, _) = X509Certificate::from_der(&again.certificate_der).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn csrs_with_other_keys_or_altered_are_refused() {
    let (_tmp, pki) = pki();
    let refused = |csr_pem: &str| match pki.issue_terminal_certificate(csr_pem, "W0000001", now()) {
        Err(PkiError::Csr { what }) => what.to_string(),
        other => panic!("{other:?}"),
    };

    let rsa = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
    let what = refused(&greedy_csr(&rsa).pem().unwrap());
    assert!(what.contains("RSA"), "{what}");

    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let what = refused(&greedy_csr(&p384).pem().unwrap());
    assert!(what.contains("P-256"), "{what}");

    // One byte of the subject changed after signing.
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut der = greedy_csr(&key).der().to_vec();
    let at = der.windows(4).position(|w| w == b"evil").unwrap();
    der[at] = b'E';
    match pki.issue_terminal_certificate_der(&der, "W0000001", now()) {
        Err(PkiError::Csr { what }) => assert!(what.to_string().contains("signature"), "{what}"),
        other => panic!("{other:?}"),
    }
    // Trailing bytes, garbage, a certificate instead of a CSR.
    let mut trailing = greedy_csr(&key).der().to_vec();
    trailing.push(0);
    assert!(matches!(
        pki.issue_terminal_certificate_der(&trailing, "W0000001", now()),
        Err(PkiError::Csr { .. })
    ));
    refused("not PEM at all");
    refused(pki.terminal_ca_pem());

    // A terminal id that cannot be a CN.
    let csr = greedy_csr(&key).pem().unwrap();
    assert!(matches!(
        pki.issue_terminal_certificate(&csr, "W 1,CN=x", now()),
        Err(PkiError::TerminalId { .. })
    ));
    // Nothing was signed for any of them.
    assert_eq!(pki.terminal_certificates_signed(), 0);
}

#[test]
fn a_checked_csr_is_signed_with_the_serial_planned_before() {
    let (_tmp, pki) = pki();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CheckedCsr::from_pem(&greedy_csr(&key).pem().unwrap()).unwrap();
    assert_eq!(
        CheckedCsr::from_der(greedy_csr(&key).der()).unwrap(),
        csr,
        "the same key, however encoded"
    );
    // Checking a CSR signs nothing; signing does, with the serial chosen first.
    assert_eq!(pki.terminal_certificates_signed(), 0);
    let serial = PlannedSerial::random().unwrap();
    assert_eq!(serial.text().len(), 32);
    assert_ne!(PlannedSerial::random().unwrap(), serial);
    let issued = pki
        .sign_terminal_certificate(&csr, "W0000009", &serial, now())
        .unwrap();
    assert_eq!(issued.serial, serial.text());
    assert_eq!(serial_of(&issued.certificate_der).unwrap(), serial.text());
    assert_eq!(
        parse_cert(&issued.certificate_der).public_key().raw,
        key.subject_public_key_info()
    );
    assert_eq!(pki.terminal_certificates_signed(), 1);
    assert!(matches!(
        CheckedCsr::from_pem(
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
        ),
        Err(PkiError::Csr { .. })
    ));
    assert!(matches!(
        pki.sign_terminal_certificate(&csr, "W 1", &serial, now()),
        Err(PkiError::TerminalId { .. })
    ));
    assert_eq!(pki.terminal_certificates_signed(), 1);
}
