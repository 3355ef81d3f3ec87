//! The authority directory: what `init` writes, what `open` checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Months;
use onshi_jlis::authority::{
    CA_CERT_FILE, CA_COMMON_NAME, CA_KEY_FILE, CA_ORGANIZATION, ISSUED_FILE, REVOKED_FILE,
    STATE_FILE,
};
use onshi_jlis::Authority;
use onshi_pki::PkiError;
use x509_parser::extensions::{BasicConstraints, KeyUsage};
use x509_parser::public_key::PublicKey;

use super::common::{self, now, parse_cert, subject_key_id, template_dir, FILES};

#[test]
fn init_writes_a_test_root_and_empty_registers() {
    let dir = template_dir();
    for name in FILES {
        assert!(dir.join(name).is_file(), "{name}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(CA_KEY_FILE), 0o600);
        assert_eq!(mode(CA_CERT_FILE), 0o644);
        assert_eq!(mode(ISSUED_FILE), 0o600);
        assert_eq!(mode(REVOKED_FILE), 0o600);
        assert_eq!(mode(STATE_FILE), 0o600);
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(
        read(ISSUED_FILE),
        "Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex\n"
    );
    assert_eq!(read(REVOKED_FILE), "Serial,RevokedAt\n");
    assert!(read(CA_KEY_FILE).starts_with("-----BEGIN PRIVATE KEY-----"));
    let state: serde_json::Value = serde_json::from_str(&read(STATE_FILE)).unwrap();
    assert_eq!(state["next_serial"], 1);
    assert_eq!(state["next_crl_number"], 1);

    let authority = Authority::open(dir).unwrap();
    assert_eq!(authority.ca_certificate_pem(), read(CA_CERT_FILE));
    assert!(authority.issued().unwrap().is_empty());
    assert!(authority.revoked().unwrap().is_empty());

    let cert = parse_cert(authority.ca_certificate_der());
    let subject = cert.subject().to_string();
    assert_eq!(
        subject,
        format!("C=JP, O={CA_ORGANIZATION}, CN={CA_COMMON_NAME}")
    );
    assert!(subject.contains("TEST") && subject.contains("not J-LIS"));
    assert_eq!(cert.issuer(), cert.subject());
    cert.verify_signature(None).unwrap();
    assert_eq!(
        cert.signature_algorithm.algorithm,
        x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA
    );
    match cert.public_key().parsed().unwrap() {
        PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not RSA: {other:?}"),
    }
    assert_eq!(cert.validity().not_before.timestamp(), now().timestamp());
    assert_eq!(
        cert.validity().not_after.timestamp(),
        (now() + Months::new(12 * 20)).timestamp()
    );
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical);
    assert_eq!(
        bc.value,
        &BasicConstraints {
            ca: true,
            path_len_constraint: Some(0)
        }
    );
    let ku: &KeyUsage = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert!(!ku.digital_signature());
    assert!(!subject_key_id(&cert).is_empty());
    // The serial is positive and carries the authority's tag with counter 0.
    assert_eq!(cert.raw_serial().len(), 12);
    assert!(cert.raw_serial()[0] >= 0x40 && cert.raw_serial()[0] <= 0x7f);
    assert!(cert.raw_serial()[4..].iter().all(|b| *b == 0));
}

#[test]
fn init_refuses_a_directory_that_holds_an_authority() {
    let (tmp, authority) = common::authority();
    let before = std::fs::read(authority.dir().join(CA_KEY_FILE)).unwrap();
    match Authority::init(authority.dir(), now()) {
        Err(PkiError::AlreadyExists { found }) => assert!(found.starts_with(tmp.path())),
        other => panic!("{other:?}"),
    }
    // Even one file left from an earlier authority is enough to refuse.
    let partial = tmp.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join(STATE_FILE), "{}").unwrap();
    let err = Authority::init(&partial, now()).unwrap_err();
    assert!(err.to_string().contains("state.json"), "{err}");
    assert_eq!(
        std::fs::read(authority.dir().join(CA_KEY_FILE)).unwrap(),
        before
    );
}

#[test]
fn open_says_which_file_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Authority::open(&tmp.path().join("nowhere")).unwrap_err();
    assert!(
        matches!(&err, PkiError::Missing { path, .. } if path.ends_with("nowhere")),
        "{err}"
    );
    for name in FILES {
        let dir = tmp.path().join(format!("without-{name}"));
        common::copy_authority(&dir);
        std::fs::remove_file(dir.join(name)).unwrap();
        match Authority::open(&dir) {
            Err(err @ PkiError::Missing { .. }) => {
                let text = err.to_string();
                assert!(text.contains(name), "{text}");
                assert!(text.contains("missing"), "{text}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn open_refuses_malformed_files_and_a_foreign_key() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = |name: &str, content: &str| {
        let dir = tmp.path().join(format!("broken-{name}"));
        common::copy_authority(&dir);
        std::fs::write(dir.join(name), content).unwrap();
        Authority::open(&dir).unwrap_err()
    };
    for (name, content) in [
        (CA_CERT_FILE, "not a certificate"),
        (
            CA_CERT_FILE,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
        (CA_KEY_FILE, "not a key"),
        (STATE_FILE, "{\"next_serial\": 1}"),
    ] {
        match broken(name, content) {
            err @ PkiError::Malformed { .. } => {
                assert!(err.to_string().contains(name), "{err}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    let foreign = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    match broken(CA_KEY_FILE, &foreign.serialize_pem()) {
        PkiError::KeyMismatch { key, certificate } => {
            assert!(key.ends_with(CA_KEY_FILE));
            assert!(certificate.ends_with(CA_CERT_FILE));
        }
        other => panic!("{other:?}"),
    }
}
