//! The eligibility service's checks of a card certificate, on cards issued by the crate's own
//! authority: validity and grace, revocation through a loaded CRL, another CA, tampering, weak
//! keys, and the card's signature verified both ways.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::digest::{digest, SHA256};
use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use onshi_card::client::sha256_digest_info;
use onshi_card::Pin;
use onshi_jlis::authority::{CA_COMMON_NAME, CA_KEY_FILE};
use onshi_jlis::Authority;
use onshi_pki::{serial_text, CardCheckError, CardWarning, GracePolicy, PkiError, TrustedJpki};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use tempfile::TempDir;

use super::common::{self, card, now, parse_cert, request};

/// One issued card: its certificate, its card file, its serial.
struct Card {
    der: Vec<u8>,
    path: PathBuf,
    serial: String,
    not_after: DateTime<Utc>,
}

/// Cards of every kind, issued once for the whole binary (RSA key generation is slow).
struct Fixture {
    /// Keeps the authorities' directories alive.
    _tmp: TempDir,
    authority_dir: PathBuf,
    ca_der: Vec<u8>,
    ca_pem: String,
    valid: Card,
    soon: Card,
    grace: Card,
    beyond: Card,
    future: Card,
    revoked: Card,
    /// A CRL made before the revocation (number 1, empty).
    crl_before: Vec<u8>,
    /// A CRL made after it (number 2, listing `revoked`).
    crl: Vec<u8>,
    crl_pem: String,
    /// Another authority: the same subject name, another key.
    other_ca_der: Vec<u8>,
    other_ca_pem: String,
    other_card: Card,
    other_crl: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (tmp, authority) = common::authority();
        let issue = |authority: &Authority,
                     name: &str,
                     not_before: Option<DateTime<Utc>>,
                     not_after: Option<DateTime<Utc>>| {
            let mut req = request(tmp.path(), "P0000000001");
            req.out = tmp.path().join(format!("{name}.json"));
            req.not_before = not_before;
            req.not_after = not_after;
            let issued = authority.issue_card(&req, now()).unwrap();
            Card {
                der: issued.certificate_der,
                path: issued.path,
                serial: issued.serial,
                not_after: issued.not_after,
            }
        };
        let long_ago = Some(now() - Months::new(60));
        let valid = issue(&authority, "valid", None, None);
        let soon = issue(&authority, "soon", None, Some(now() + Months::new(2)));
        let grace = issue(&authority, "grace", long_ago, Some(now() - Months::new(1)));
        let beyond = issue(&authority, "beyond", long_ago, Some(now() - Months::new(4)));
        let future = issue(&authority, "future", Some(now() + Duration::days(1)), None);
        let revoked = issue(&authority, "revoked", None, None);
        let crl_before = authority.crl(now(), Duration::days(7)).unwrap();
        authority.revoke(&revoked.serial, now()).unwrap();
        let crl = authority.crl(now(), Duration::days(7)).unwrap();
        let crl_pem = authority.crl_pem(now(), Duration::days(7)).unwrap();

        let other = Authority::init(&tmp.path().join("other"), now()).unwrap();
        let other_card = issue(&other, "other", None, None);
        let other_crl = other.crl(now(), Duration::days(7)).unwrap();
        Fixture {
            authority_dir: authority.dir().to_path_buf(),
            ca_der: authority.ca_certificate_der().to_vec(),
            ca_pem: authority.ca_certificate_pem().to_owned(),
            valid,
            soon,
            grace,
            beyond,
            future,
            revoked,
            crl_before,
            crl,
            crl_pem,
            other_ca_der: other.ca_certificate_der().to_vec(),
            other_ca_pem: other.ca_certificate_pem().to_owned(),
            other_card,
            other_crl,
            _tmp: tmp,
        }
    })
}

fn trusted() -> TrustedJpki {
    TrustedJpki::new(&[fixture().ca_der.clone()]).unwrap()
}

fn check(jpki: &TrustedJpki, der: &[u8]) -> Result<onshi_pki::CheckedCard, CardCheckError> {
    jpki.check_card(der, now(), &GracePolicy::default())
}

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
}

/// Signs a certificate with the fixture authority's own root key (for shapes `issue_card`
/// never makes).
fn signed_by_root(params: &CertificateParams, key: &impl PublicKeyData) -> Vec<u8> {
    let f = fixture();
    let pem = std::fs::read_to_string(f.authority_dir.join(CA_KEY_FILE)).unwrap();
    let root_key = KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256).unwrap();
    let issuer = Issuer::from_ca_cert_der(&f.ca_der.as_slice().into(), &root_key).unwrap();
    params.signed_by(key, &issuer).unwrap().der().to_vec()
}

#[test]
fn a_valid_card_passes_with_the_serial_of_issued_csv() {
    let f = fixture();
    // The CA as PEM (the content of ca.pem) works as well as DER.
    let jpki = TrustedJpki::new(&[f.ca_pem.clone().into_bytes()]).unwrap();
    let checked = check(&jpki, &f.valid.der).unwrap();
    assert_eq!(checked.serial, f.valid.serial);
    let authority = Authority::open(&f.authority_dir).unwrap();
    let record = authority
        .issued()
        .unwrap()
        .into_iter()
        .find(|r| r.serial == checked.serial)
        .expect("the serial is in issued.csv");
    assert_eq!(record.person_id, "P0000000001");
    assert_eq!(checked.not_before, record.not_before);
    assert_eq!(checked.not_after, record.not_after);
    assert_eq!(checked.warning, None);
    assert_eq!(checked.public_key.bits(), 2048);
    assert!(
        checked.issuer.contains(CA_COMMON_NAME),
        "{}",
        checked.issuer
    );
    assert_eq!(
        checked.public_key.spki_der(),
        parse_cert(&f.valid.der).public_key().raw
    );
    assert_eq!(
        serial_text(parse_cert(&f.valid.der).raw_serial()),
        checked.serial
    );
}

#[test]
fn validity_expiry_and_grace() {
    let f = fixture();
    let jpki = trusted();

    let soon = check(&jpki, &f.soon.der).unwrap();
    assert_eq!(
        soon.warning,
        Some(CardWarning::ExpiresSoon {
            on: f.soon.not_after
        })
    );

    // Expired a month ago (2026-03-01 18:00 JST): in grace until the end of June (JST).
    let grace = check(&jpki, &f.grace.der).unwrap();
    assert_eq!(
        grace.warning,
        Some(CardWarning::InGracePeriod {
            expired_on: f.grace.not_after
        })
    );
    assert_eq!(grace.warning.unwrap().code(), "W001");
    let last = utc(2026, 6, 30, 14, 59, 59);
    let policy = GracePolicy::default();
    assert_eq!(policy.grace_end(f.grace.not_after), Some(last));
    assert!(jpki.check_card(&f.grace.der, last, &policy).is_ok());
    let err = jpki
        .check_card(&f.grace.der, last + Duration::seconds(1), &policy)
        .unwrap_err();
    assert_eq!(
        err,
        CardCheckError::Expired {
            not_after: f.grace.not_after,
            grace_ended: last
        }
    );
    // No grace at all under another policy.
    assert!(matches!(
        jpki.check_card(&f.grace.der, now(), &GracePolicy::NONE),
        Err(CardCheckError::Expired { .. })
    ));

    // Expired four months ago (2025-12-01 JST): the grace ended 2026-03-31 23:59:59 JST.
    let err = check(&jpki, &f.beyond.der).unwrap_err();
    assert_eq!(
        err,
        CardCheckError::Expired {
            not_after: f.beyond.not_after,
            grace_ended: utc(2026, 3, 31, 14, 59, 59)
        }
    );
    assert_eq!(err.code(), "E005");
    assert_eq!(
        err.message_ja(),
        "電子証明書の有効期限が切れています（有効期限：2025年12月1日、猶予期間：2026年3月31日まで）。\
         市区町村の窓口で更新してください。"
    );

    let err = check(&jpki, &f.future.der).unwrap_err();
    assert_eq!(
        err,
        CardCheckError::NotYetValid {
            not_before: now() + Duration::days(1)
        }
    );
    assert_eq!(err.code(), "E005");
    // The same certificate, a day later, is fine.
    assert!(jpki
        .check_card(&f.future.der, now() + Duration::days(1), &policy)
        .unwrap()
        .warning
        .is_none());
}

#[test]
fn a_revoked_card_is_refused_once_the_crl_is_loaded() {
    let f = fixture();
    let mut jpki = trusted();
    // Without a CRL nobody knows.
    assert!(check(&jpki, &f.revoked.der).is_ok());
    assert!(jpki.crls().is_empty());

    jpki.with_crls(std::slice::from_ref(&f.crl)).unwrap();
    let err = check(&jpki, &f.revoked.der).unwrap_err();
    assert_eq!(
        err,
        CardCheckError::Revoked {
            serial: f.revoked.serial.clone()
        }
    );
    assert_eq!(err.code(), "E006");
    assert_eq!(
        err.message_ja(),
        "このカードの電子証明書は失効しています。市区町村の窓口で電子証明書の再発行が必要です。\
         目視確認での受付はできません。"
    );
    // The others are not affected.
    assert!(check(&jpki, &f.valid.der).is_ok());

    let crls = jpki.crls();
    assert_eq!(crls.len(), 1);
    assert_eq!(crls[0].number.as_deref(), Some("2"));
    assert_eq!(crls[0].revoked, 1);
    assert_eq!(crls[0].this_update, now());
    assert_eq!(crls[0].next_update, Some(now() + Duration::days(7)));

    // Past its nextUpdate the CRL is still used, and reported stale.
    assert!(jpki.stale_crls(now() + Duration::days(7)).is_empty());
    let later = now() + Duration::days(8);
    assert_eq!(jpki.stale_crls(later), crls);
    assert!(matches!(
        jpki.check_card(&f.revoked.der, later, &GracePolicy::default()),
        Err(CardCheckError::Revoked { .. })
    ));

    // An older CRL (number 1, before the revocation) does not undo it.
    jpki.with_crls(std::slice::from_ref(&f.crl_before)).unwrap();
    assert!(matches!(
        check(&jpki, &f.revoked.der),
        Err(CardCheckError::Revoked { .. })
    ));
    assert_eq!(jpki.crls()[0].number.as_deref(), Some("2"));

    // PEM works too; the newest CRL (number 3) replaces number 2.
    let mut jpki = trusted();
    jpki.with_crls(&[f.crl_before.clone(), f.crl_pem.clone().into_bytes()])
        .unwrap();
    assert_eq!(jpki.crls()[0].number.as_deref(), Some("3"));
    assert!(check(&jpki, &f.revoked.der).is_err());
}

#[test]
fn crl_numbers_compare_as_integers_not_as_bytes() {
    let f = fixture();
    let (_tmp, authority) = common::authority();
    let crl_at = |number: u64| {
        let path = authority.dir().join(onshi_jlis::authority::STATE_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
        state["next_crl_number"] = number.into();
        std::fs::write(&path, state.to_string()).unwrap();
        authority.crl(now(), Duration::days(7)).unwrap()
    };
    let two = crl_at(2);
    let big = crl_at(256);
    let mut jpki = trusted();
    jpki.with_crls(std::slice::from_ref(&big)).unwrap();
    // 2 is 0x02 and 256 is 0x01 0x00: as bytes 2 sorts after 256, as numbers before.
    jpki.with_crls(std::slice::from_ref(&two)).unwrap();
    assert_eq!(jpki.crls()[0].number.as_deref(), Some("256"));
    let mut jpki = trusted();
    jpki.with_crls(&[two.clone(), big.clone()]).unwrap();
    assert_eq!(jpki.crls()[0].number.as_deref(), Some("256"));
    // What an operator's load is told: the number as the integer's bytes, the serials listed.
    let verified = jpki.verify_crl(&big).unwrap();
    assert_eq!(verified.number, Some(vec![1, 0]));
    assert_eq!(verified.info.number.as_deref(), Some("256"));
    assert!(verified.revoked.is_empty());
    assert_eq!(verified.der, big);
    let listed = jpki.verify_crl(&f.crl).unwrap();
    assert_eq!(listed.revoked, vec![f.revoked.serial.clone()]);
    assert_eq!(listed.info.issuer, jpki.issuers()[0]);
    // A CRL that does not verify is refused with the reason.
    let err = jpki.verify_crl(&f.other_crl).unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn a_serial_once_revoked_stays_revoked_when_a_later_crl_drops_it() {
    let f = fixture();
    let mut jpki = trusted();
    // The CRL in use does not list the card (number 1, from before the revocation)…
    jpki.with_crls(std::slice::from_ref(&f.crl_before)).unwrap();
    assert!(check(&jpki, &f.revoked.der).is_ok());
    // …but an earlier CRL did, and the service keeps what every CRL listed.
    let issuer = jpki.issuers()[0].clone();
    assert!(jpki.keep_revoked(&issuer, std::slice::from_ref(&f.revoked.serial)));
    assert_eq!(
        check(&jpki, &f.revoked.der).unwrap_err(),
        CardCheckError::Revoked {
            serial: f.revoked.serial.clone()
        }
    );
    assert!(check(&jpki, &f.valid.der).is_ok());
    assert!(!jpki.keep_revoked("C=JP, CN=nobody", &[]));
}

#[test]
fn without_a_current_crl_cards_are_refused_when_required() {
    let f = fixture();
    let mut jpki = trusted();
    let issuer = jpki.issuers()[0].clone();
    // No CRL: reported missing; accepted unless current CRLs are required.
    assert_eq!(
        jpki.crl_problems(now()),
        vec![onshi_pki::CrlProblem::Missing {
            issuer: issuer.clone()
        }]
    );
    assert!(check(&jpki, &f.valid.der).is_ok());
    jpki.require_current_crls(true);
    let err = check(&jpki, &f.valid.der).unwrap_err();
    assert_eq!(err, CardCheckError::RevocationUnknown { next_update: None });
    assert_eq!(err.code(), "E011");
    assert!(
        err.message_ja().contains("失効情報"),
        "{}",
        err.message_ja()
    );
    // A revoked card is still told it is revoked.
    jpki.with_crls(std::slice::from_ref(&f.crl)).unwrap();
    assert!(jpki.crl_problems(now()).is_empty());
    assert!(check(&jpki, &f.valid.der).is_ok());
    // Past nextUpdate: stale, refused.
    let later = now() + Duration::days(8);
    let next = now() + Duration::days(7);
    assert!(matches!(
        &jpki.crl_problems(later)[..],
        [onshi_pki::CrlProblem::Stale { crl }] if crl.next_update == Some(next)
    ));
    assert_eq!(
        jpki.check_card(&f.valid.der, later, &GracePolicy::default())
            .unwrap_err(),
        CardCheckError::RevocationUnknown {
            next_update: Some(next)
        }
    );
    assert!(matches!(
        jpki.check_card(&f.revoked.der, later, &GracePolicy::default()),
        Err(CardCheckError::Revoked { .. })
    ));
}

#[test]
fn crls_not_signed_by_a_trusted_ca_are_refused() {
    let f = fixture();
    let mut jpki = trusted();

    // Another authority with the same name: its signature does not verify.
    let err = jpki
        .with_crls(std::slice::from_ref(&f.other_crl))
        .unwrap_err();
    match &err {
        PkiError::Crl { index: 1, what } => {
            assert!(what.to_string().contains("does not verify"), "{what}")
        }
        other => panic!("{other:?}"),
    }

    // A flipped bit anywhere in the signed part, or in the signature.
    let serial_at = find(&f.crl, &hex::decode(&f.revoked.serial).unwrap()).unwrap();
    for at in [serial_at, f.crl.len() - 1] {
        let mut tampered = f.crl.clone();
        tampered[at] ^= 0x01;
        assert!(
            matches!(
                jpki.with_crls(&[tampered]),
                Err(PkiError::Crl { index: 1, .. })
            ),
            "tampered at {at}"
        );
    }
    // Trailing bytes, garbage, another PEM block.
    let mut trailing = f.crl.clone();
    trailing.push(0);
    for bad in [
        trailing,
        b"not a CRL".to_vec(),
        f.ca_pem.clone().into_bytes(),
        Vec::new(),
    ] {
        assert!(jpki.with_crls(&[bad]).is_err());
    }

    // All or nothing: a good CRL next to a bad one is not loaded either.
    let err = jpki
        .with_crls(&[f.crl.clone(), f.other_crl.clone()])
        .unwrap_err();
    assert!(matches!(err, PkiError::Crl { index: 2, .. }), "{err}");
    assert!(jpki.crls().is_empty());
    assert!(check(&jpki, &f.revoked.der).is_ok());

    // Trusting both authorities, each CRL lands on its own CA.
    let mut both = TrustedJpki::new(&[f.ca_der.clone(), f.other_ca_der.clone()]).unwrap();
    both.with_crls(&[f.other_crl.clone(), f.crl.clone()])
        .unwrap();
    assert_eq!(both.crls().len(), 2);
    assert!(check(&both, &f.revoked.der).is_err());
    assert!(check(&both, &f.other_card.der).is_ok());
}

#[test]
fn another_ca_is_not_trusted() {
    let f = fixture();
    let jpki = trusted();

    // The other authority has the same name but another key.
    let err = check(&jpki, &f.other_card.der).unwrap_err();
    assert_eq!(err, CardCheckError::BadCertificateSignature);
    assert_eq!(err.code(), "E004");

    // Trusted as well, its cards pass; one PEM may hold both CAs.
    let bundle = format!("{}{}", f.ca_pem, f.other_ca_pem);
    let both = TrustedJpki::new(&[bundle.into_bytes()]).unwrap();
    assert_eq!(both.ca_certificates().count(), 2);
    assert_eq!(
        check(&both, &f.other_card.der).unwrap().serial,
        f.other_card.serial
    );
    assert!(check(&both, &f.valid.der).is_ok());

    // A CA of another name: unknown issuer.
    let stranger_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Some Other CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let stranger = Issuer::new(ca_params, &stranger_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .signed_by(&leaf_key, &stranger)
        .unwrap();
    assert_eq!(
        check(&jpki, leaf.der()).unwrap_err(),
        CardCheckError::UnknownIssuer
    );
}

#[test]
fn tampered_or_malformed_certificates_are_refused() {
    let f = fixture();
    let jpki = trusted();
    let der = &f.valid.der;

    // A bit flipped in the serial (signed part) or in the signature.
    let serial_at = find(der, &hex::decode(&f.valid.serial).unwrap()).unwrap();
    for at in [serial_at + 3, der.len() - 1] {
        let mut tampered = der.clone();
        tampered[at] ^= 0x01;
        let err = check(&jpki, &tampered).unwrap_err();
        assert_eq!(err, CardCheckError::BadCertificateSignature, "at {at}");
    }

    // Not one whole certificate.
    let mut trailing = der.clone();
    trailing.push(0);
    for bad in [
        trailing,
        der[..der.len() - 1].to_vec(),
        der[..10].to_vec(),
        Vec::new(),
        b"-----BEGIN CERTIFICATE-----".to_vec(),
    ] {
        let err = check(&jpki, &bad).unwrap_err();
        assert!(matches!(err, CardCheckError::Malformed(_)), "{err}");
        assert_eq!(err.code(), "E004");
    }
}

#[test]
fn keys_that_are_not_rsa_2048_are_refused() {
    let jpki = trusted();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "weak");

    // ECDSA P-256.
    let ec_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let ec = signed_by_root(&params, &ec_key);
    assert_eq!(check(&jpki, &ec).unwrap_err(), CardCheckError::WeakKey);

    // RSA-1024.
    use rsa::pkcs8::EncodePublicKey;
    let small = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    let spki = rsa::PublicKey::from(&small).to_public_key_der().unwrap();
    let small_key = rcgen::SubjectPublicKeyInfo::from_der(spki.as_bytes()).unwrap();
    let rsa1024 = signed_by_root(&params, &small_key);
    let err = check(&jpki, &rsa1024).unwrap_err();
    assert_eq!(err, CardCheckError::WeakKey);
    assert_eq!(err.code(), "E004");

    // A CA certificate is not a card's, whatever its key.
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = signed_by_root(&params, &ec_key);
    assert!(matches!(
        check(&jpki, &ca).unwrap_err(),
        CardCheckError::Malformed(_)
    ));
}

#[test]
fn card_signatures_verify_both_ways() {
    let f = fixture();
    let checked = check(&trusted(), &f.valid.der).unwrap();
    let message = b"nonce bytes\0W0000001";
    let sum: [u8; 32] = digest(&SHA256, message).as_ref().try_into().unwrap();
    let signature = sign(&f.valid.path, &sum);

    checked.verify_message(message, &signature).unwrap();
    checked.verify_digest(&sum, &signature).unwrap();

    // A forged signature, another message, another card's signature.
    let mut forged = signature.clone();
    forged[100] ^= 0x20;
    let other_sum: [u8; 32] = digest(&SHA256, b"another").as_ref().try_into().unwrap();
    let by_other_card = sign(&f.revoked.path, &sum);
    for (message, sum, signature) in [
        (&message[..], &sum, &forged),
        (b"another", &other_sum, &signature),
        (&message[..], &sum, &by_other_card),
        (&message[..], &sum, &signature[..255].to_vec()),
        (&message[..], &sum, &Vec::new()),
    ] {
        let err = checked.verify_message(message, signature).unwrap_err();
        assert_eq!(err, CardCheckError::BadSignature);
        assert_eq!(err.code(), "E007");
        assert_eq!(
            checked.verify_digest(sum, signature).unwrap_err(),
            CardCheckError::BadSignature
        );
    }
}

#[test]
fn only_ca_certificates_can_be_trusted() {
    let f = fixture();
    for bad in [
        f.valid.der.clone(),
        b"garbage".to_vec(),
        b"-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n".to_vec(),
    ] {
        assert!(
            matches!(
                TrustedJpki::new(&[f.ca_der.clone(), bad]),
                Err(PkiError::TrustAnchor { index: 2, .. })
            ),
            "accepted"
        );
    }
    assert!(TrustedJpki::new(&[]).is_err());
    // The same CA twice counts once.
    let twice = TrustedJpki::new(&[f.ca_der.clone(), f.ca_pem.clone().into_bytes()]).unwrap();
    assert_eq!(twice.ca_certificates().count(), 1);
}

/// Has the card in `path` sign the DigestInfo of `sum` after its PIN, as the reception app does.
fn sign(path: &Path, sum: &[u8; 32]) -> Vec<u8> {
    let mut client = card(path);
    client
        .verify_auth_pin(&Pin::parse("1234").unwrap())
        .unwrap();
    client.sign_with_auth_key(&sha256_digest_info(sum)).unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A certificate's parse and chain check are kept after its first check; its revocation and
/// validity are judged again at every check, and other bytes never hit the kept entry.
#[test]
fn a_kept_certificate_is_still_judged_at_every_check() {
    let f = fixture();
    let jpki = trusted();
    let first = check(&jpki, &f.revoked.der).unwrap();
    let again = check(&jpki, &f.revoked.der).unwrap();
    assert_eq!(
        (first.serial.clone(), first.not_after),
        (again.serial, again.not_after)
    );
    // A copy that loads a CRL shares what was kept, and refuses the revoked card.
    let mut with_crl = jpki.clone();
    with_crl.with_crls(std::slice::from_ref(&f.crl)).unwrap();
    assert_eq!(
        check(&with_crl, &f.revoked.der).unwrap_err(),
        CardCheckError::Revoked {
            serial: f.revoked.serial.clone()
        }
    );
    // Long past its notAfter and any grace: expired, though kept.
    assert!(matches!(
        jpki.check_card(
            &f.revoked.der,
            first.not_after + Duration::days(3650),
            &GracePolicy::default()
        ),
        Err(CardCheckError::Expired { .. })
    ));
    // The same certificate with its signature's last byte changed is checked afresh.
    let mut tampered = f.valid.der.clone();
    assert!(check(&jpki, &tampered).is_ok());
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    assert_eq!(
        check(&jpki, &tampered).unwrap_err(),
        CardCheckError::BadCertificateSignature
    );
}
