//! Issuing cards: the certificate on the card chains to the root, names nobody, and its serial is
//! the one recorded in `issued.csv`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Months, TimeZone, Utc};
use onshi_card::Pin;
use onshi_jlis::authority::{ISSUED_FILE, STATE_FILE};
use onshi_jlis::JlisError;
use onshi_pki::{serial_text, IssuedRecord, PkiError};

use onshi_card::client::sha256_digest_info;
use onshi_card::error::CardError;

use super::common::{
    self, attributes, authority_key_id, card, now, parse_cert, read_card, request, subject_key_id,
};

#[test]
fn a_card_chains_to_the_root_and_names_nobody() {
    let (tmp, authority) = common::authority();
    let issued = authority
        .issue_card(&request(tmp.path(), "P0000000001"), now())
        .unwrap();
    assert_eq!(issued.path, tmp.path().join("card.json"));
    assert_eq!(issued.not_before, now());
    assert_eq!(issued.not_after, now() + Months::new(60));

    let (cert_der, ca_der) = read_card(&issued.path);
    assert_eq!(cert_der, issued.certificate_der);
    assert_eq!(ca_der, authority.ca_certificate_der());
    let ca = parse_cert(authority.ca_certificate_der());
    let cert = parse_cert(&cert_der);

    // Chains to ca.pem.
    assert_eq!(cert.issuer(), ca.subject());
    cert.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(
        authority_key_id(cert.extensions()),
        subject_key_id(&ca),
        "authority key identifier"
    );

    // No personal data: the subject is the country and the serial, no alternative names, and
    // none of the card's attributes appear anywhere in the certificate.
    assert_eq!(
        cert.subject().to_string(),
        format!("C=JP, CN={}", issued.serial)
    );
    assert!(cert.subject_alternative_name().unwrap().is_none());
    let a = attributes();
    for personal in [&a.name, &a.address, &a.birth, "P0000000001"] {
        assert!(
            !contains(&cert_der, personal.as_bytes()),
            "the certificate contains {personal}"
        );
    }
    // Not even the name's first character in UTF-8, or the birth date as an X.509 time.
    assert!(!contains(&cert_der, "試験".as_bytes()));
    assert!(!contains(&cert_der, b"800123"));

    // The card holds the certificate's key: a signature it makes verifies with the certificate
    // (aws-lc-rs, independent of the card's RSA implementation).
    let message = b"nonce and terminal id";
    let digest: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message)
        .as_ref()
        .try_into()
        .unwrap();
    let mut client = card(&issued.path);
    let signature = client
        .verify_and_sign(&Pin::parse("1234").unwrap(), &sha256_digest_info(&digest))
        .unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &cert.public_key().subject_public_key.data,
    )
    .verify(message, &signature)
    .unwrap();
    // The card face, behind the attributes PIN (the authentication PIN by default).
    assert!(
        client
            .read_attributes(&Pin::parse("1234").unwrap())
            .unwrap()
            == attributes()
    );

    // The serial, as the service computes it, is the one in issued.csv.
    assert_eq!(serial_text(cert.raw_serial()), issued.serial);
    assert_eq!(cert.raw_serial().len(), 12);
    assert_eq!(
        &cert.raw_serial()[..4],
        &ca.raw_serial()[..4],
        "authority tag"
    );
    assert_eq!(
        authority.issued().unwrap(),
        vec![IssuedRecord {
            serial: issued.serial.clone(),
            person_id: "P0000000001".into(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            issuer: authority.subject().to_owned(),
            holder: Some(onshi_pki::Holder {
                name: "試験　花子".into(),
                name_kana: String::new(),
                birthdate: "19800123".into(),
                sex: "2".into(),
            }),
        }]
    );
    // The issuer as the service reads it from the card's certificate.
    assert_eq!(
        authority.subject(),
        "C=JP, O=onshi TEST authority (not J-LIS), CN=onshi TEST JPKI User Authentication CA"
    );
    assert_eq!(authority.subject(), cert.issuer().to_string());
    let text = std::fs::read_to_string(authority.dir().join(ISSUED_FILE)).unwrap();
    assert_eq!(
        text,
        format!(
            "Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex\n{},P0000000001,2026-04-01T09:00:00Z,2031-04-01T09:00:00Z,\"{}\",試験　花子,,19800123,2\n",
            issued.serial,
            authority.subject()
        )
    );

    // An end-entity certificate for client authentication.
    assert_eq!(cert.validity().not_before.timestamp(), now().timestamp());
    assert_eq!(
        cert.validity().not_after.timestamp(),
        issued.not_after.timestamp()
    );
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature());
    assert!(!ku.key_cert_sign() && !ku.crl_sign() && !ku.non_repudiation());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth && !eku.any);
    match cert.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not RSA: {other:?}"),
    }
}

#[test]
fn validity_overrides_and_increasing_serials() {
    let (tmp, authority) = common::authority();
    // A start in the past with a fraction of a second: the end defaults to five years later,
    // both in whole seconds.
    let start = Utc.with_ymd_and_hms(2020, 2, 29, 8, 30, 15).unwrap() + Duration::milliseconds(250);
    let mut first = request(tmp.path(), "expired-2025");
    first.not_before = Some(start);
    first.out = tmp.path().join("first.json");
    let first = authority.issue_card(&first, now()).unwrap();
    let whole = Utc.with_ymd_and_hms(2020, 2, 29, 8, 30, 15).unwrap();
    assert_eq!(first.not_before, whole);
    assert_eq!(
        first.not_after,
        Utc.with_ymd_and_hms(2025, 2, 28, 8, 30, 15).unwrap()
    );

    // Both ends given, and a separate attributes PIN.
    let mut second = request(tmp.path(), "P_2");
    second.not_before = Some(now() - Duration::days(1));
    second.not_after = Some(now() + Duration::days(30));
    second.attributes_pin = Some(Pin::parse("9876").unwrap());
    second.out = tmp.path().join("second.json");
    let second = authority.issue_card(&second, now()).unwrap();
    let mut client = card(&second.path);
    let err = client
        .read_attributes(&Pin::parse("1234").unwrap())
        .unwrap_err();
    assert!(matches!(err, CardError::WrongPin { .. }), "{err}");
    assert!(
        client
            .read_attributes(&Pin::parse("9876").unwrap())
            .unwrap()
            == attributes()
    );
    client
        .verify_auth_pin(&Pin::parse("1234").unwrap())
        .unwrap();
    assert_eq!(second.not_before, now() - Duration::days(1));
    assert_eq!(second.not_after, now() + Duration::days(30));

    for issued in [&first, &second] {
        let (der, _) = read_card(&issued.path);
        let cert = parse_cert(&der);
        assert_eq!(
            cert.validity().not_before.timestamp(),
            issued.not_before.timestamp()
        );
        assert_eq!(
            cert.validity().not_after.timestamp(),
            issued.not_after.timestamp()
        );
    }

    // Serials: same length, increasing, in issue order in issued.csv.
    assert_eq!(first.serial.len(), second.serial.len());
    assert!(
        first.serial < second.serial,
        "{} {}",
        first.serial,
        second.serial
    );
    let records = authority.issued().unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.serial.as_str(), r.person_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (first.serial.as_str(), "expired-2025"),
            (second.serial.as_str(), "P_2")
        ]
    );
}

#[test]
fn bad_requests_are_refused_before_anything_is_written() {
    let (tmp, authority) = common::authority();
    let files = || {
        (
            std::fs::read(authority.dir().join(ISSUED_FILE)).unwrap(),
            std::fs::read(authority.dir().join(STATE_FILE)).unwrap(),
        )
    };
    let before = files();
    for person in ["", "P 1", "山田太郎", "a,b", "x\n", &"x".repeat(33)] {
        let err = authority
            .issue_card(&request(tmp.path(), person), now())
            .unwrap_err();
        assert!(
            matches!(err, JlisError::Pki(PkiError::PersonId { .. })),
            "{person:?}: {err}"
        );
    }

    let mut backwards = request(tmp.path(), "P1");
    backwards.not_before = Some(now());
    backwards.not_after = Some(now());
    let err = authority.issue_card(&backwards, now()).unwrap_err();
    assert!(
        matches!(err, JlisError::Pki(PkiError::Validity { .. })),
        "{err}"
    );
    backwards.not_after = Some(now() - Duration::days(1));
    let err = authority.issue_card(&backwards, now()).unwrap_err();
    assert!(
        matches!(err, JlisError::Pki(PkiError::Validity { .. })),
        "{err}"
    );

    let mut ancient = request(tmp.path(), "P1");
    ancient.not_before = Some(Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap());
    let err = authority.issue_card(&ancient, now()).unwrap_err();
    assert!(
        matches!(err, JlisError::Pki(PkiError::TimeOutOfRange { .. })),
        "{err}"
    );

    assert_eq!(files(), before);
    assert!(!tmp.path().join("card.json").exists());
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_card_the_emulator_refuses_is_not_recorded() {
    let (tmp, authority) = common::authority();
    let mut req = request(tmp.path(), "P1");
    req.attributes.birth = "1980-01-23".into();
    match authority.issue_card(&req, now()) {
        Err(err @ JlisError::Card { .. }) => {
            assert!(err.to_string().contains("card.json"), "{err}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!req.out.exists());
    assert!(authority.issued().unwrap().is_empty());
}

#[test]
fn threads_sharing_one_authority_get_distinct_serials() {
    let (tmp, authority) = common::authority();
    let issued: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = ["T1", "T2"]
            .into_iter()
            .map(|person| {
                let authority = &authority;
                let mut req = request(tmp.path(), person);
                req.out = tmp.path().join(format!("{person}.json"));
                s.spawn(move || authority.issue_card(&req, now()).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_ne!(issued[0].serial, issued[1].serial);
    let mut recorded: Vec<_> = authority
        .issued()
        .unwrap()
        .into_iter()
        .map(|r| (r.serial, r.person_id))
        .collect();
    recorded.sort();
    let mut expected: Vec<_> = issued
        .iter()
        .zip(["T1", "T2"])
        .map(|(card, person)| (card.serial.clone(), person.to_owned()))
        .collect();
    expected.sort();
    assert_eq!(recorded, expected);
}
