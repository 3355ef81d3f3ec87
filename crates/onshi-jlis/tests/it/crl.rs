//! Revocation and CRLs: what `revoke` accepts and refuses, and a CRL that x509-parser reads and
//! verifies against the root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, TimeZone, Utc};
use onshi_jlis::authority::REVOKED_FILE;
use onshi_pki::{serial_text, PkiError, RevokedRecord};
use x509_parser::prelude::{FromDer, ParsedExtension};
use x509_parser::revocation_list::CertificateRevocationList;

use super::common::{self, authority_key_id, now, parse_cert, request, subject_key_id};

fn parse_crl(der: &[u8]) -> CertificateRevocationList<'_> {
    let (rest, crl) = CertificateRevocationList::from_der(der).unwrap();
    assert!(rest.is_empty(), "trailing bytes after the CRL");
    crl
}

#[test]
fn revoke_then_crl_lists_the_card() {
    let (tmp, authority) = common::authority();
    let ca = parse_cert(authority.ca_certificate_der());

    // An empty CRL first: number 1, no entries, signed by the root.
    let der = authority.crl(now(), Duration::days(7)).unwrap();
    let crl = parse_crl(&der);
    assert_eq!(crl.crl_number().unwrap().to_string(), "1");
    assert_eq!(crl.iter_revoked_certificates().count(), 0);
    crl.verify_signature(ca.public_key()).unwrap();

    let issued = authority
        .issue_card(&request(tmp.path(), "P0000000009"), now())
        .unwrap();

    // Unknown serials are refused, and so are things that are not serials.
    let err = authority
        .revoke("7FFFFFFF0000000000000001", now())
        .unwrap_err();
    assert!(matches!(err, PkiError::UnknownSerial { .. }), "{err}");
    assert!(err.to_string().contains("issued.csv"), "{err}");
    let err = authority.revoke("not-hex", now()).unwrap_err();
    assert!(matches!(err, PkiError::SerialFormat { .. }), "{err}");

    // Any usual spelling of the serial works: lower case with colons, as tools print it.
    let spelled = issued
        .serial
        .to_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let revoked_at = now() + Duration::days(2) + Duration::milliseconds(400);
    authority.revoke(&spelled, revoked_at).unwrap();
    let at = now() + Duration::days(2);
    assert_eq!(
        authority.revoked().unwrap(),
        vec![RevokedRecord {
            serial: issued.serial.clone(),
            revoked_at: at,
        }]
    );
    assert_eq!(
        std::fs::read_to_string(authority.dir().join(REVOKED_FILE)).unwrap(),
        format!("Serial,RevokedAt\n{},2026-04-03T09:00:00Z\n", issued.serial)
    );

    // Twice is an error that says when it was revoked.
    match authority.revoke(&issued.serial, now() + Duration::days(3)) {
        Err(PkiError::AlreadyRevoked { serial, revoked_at }) => {
            assert_eq!(serial, issued.serial);
            assert_eq!(revoked_at, at);
        }
        other => panic!("{other:?}"),
    }

    // The next CRL: number 2, issued by the root, listing the card with its revocation time.
    let this_update = now() + Duration::days(3);
    let der = authority.crl(this_update, Duration::days(7)).unwrap();
    let crl = parse_crl(&der);
    assert_eq!(crl.crl_number().unwrap().to_string(), "2");
    assert_eq!(crl.issuer(), ca.subject());
    assert_eq!(crl.last_update().timestamp(), this_update.timestamp());
    assert_eq!(
        crl.next_update().unwrap().timestamp(),
        (this_update + Duration::days(7)).timestamp()
    );
    let entries: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(serial_text(entries[0].raw_serial()), issued.serial);
    assert_eq!(entries[0].revocation_date.timestamp(), at.timestamp());
    crl.verify_signature(ca.public_key()).unwrap();
    assert_eq!(
        authority_key_id(crl.extensions()),
        subject_key_id(&ca),
        "authority key identifier"
    );
    assert!(crl
        .extensions()
        .iter()
        .any(|e| matches!(e.parsed_extension(), ParsedExtension::CRLNumber(_))));

    // The PEM form carries the next number; the numbers persist in state.json.
    let pem = authority.crl_pem(this_update, Duration::days(7)).unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    assert_eq!(
        parse_crl(&block.contents).crl_number().unwrap().to_string(),
        "3"
    );
    let reopened = onshi_jlis::Authority::open(authority.dir()).unwrap();
    let der = reopened.crl(this_update, Duration::hours(1)).unwrap();
    assert_eq!(parse_crl(&der).crl_number().unwrap().to_string(), "4");

    // A CRL does not verify against another key (a card's).
    let card = parse_cert(&issued.certificate_der);
    assert!(parse_crl(&der).verify_signature(card.public_key()).is_err());
}

#[test]
fn crl_needs_a_next_update_after_this_update() {
    let (_tmp, authority) = common::authority();
    for next in [
        Duration::zero(),
        Duration::seconds(-1),
        Duration::milliseconds(500),
    ] {
        let err = authority.crl(now(), next).unwrap_err();
        assert!(matches!(err, PkiError::Validity { .. }), "{next}: {err}");
    }
    let err = authority
        .crl(
            Utc.with_ymd_and_hms(1969, 1, 1, 0, 0, 0).unwrap(),
            Duration::days(1),
        )
        .unwrap_err();
    assert!(matches!(err, PkiError::TimeOutOfRange { .. }), "{err}");
    // Refused CRLs use up no CRL number.
    let der = authority.crl(now(), Duration::days(1)).unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
    assert_eq!(crl.crl_number().unwrap().to_string(), "1");
}
