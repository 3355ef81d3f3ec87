//! The eligibility service's per-check PKI cost, on a real-shaped card: an RSA-2048 certificate
//! from the test authority, a signature made by the software card over the DigestInfo of
//! SHA-256(nonce ‖ 0 ‖ terminal id).
//!
//! - `verify_message`: aws-lc-rs, key parsed once (the fast path; the caller passes the message);
//! - `verify_digest`: the `rsa` crate, from the 32-byte digest;
//! - `check_card`: strict parse, issuer signature (RSA-2048 again), revocation, validity.
//!
//! Throughput is reported as checks per second (criterion's `elem/s`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aws_lc_rs::digest::{digest, SHA256};
use chrono::{Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::tlv::Attributes;
use onshi_card::Pin;
use onshi_card_emu::{InProcess, SoftCard};
use onshi_jlis::{Authority, IssueRequest};
use onshi_pki::{CardPublicKey, GracePolicy, TrustedJpki};

fn verify(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::init(&tmp.path().join("jlis"), now).unwrap();
    let pin = Pin::parse("1234").unwrap();
    let issued = authority
        .issue_card(
            &IssueRequest {
                person_id: "P0000000001".into(),
                pin: pin.clone(),
                attributes: Attributes {
                    name: "試験　太郎".into(),
                    address: "東京都千代田区霞が関一丁目二番二号".into(),
                    birth: "19800123".into(),
                    sex: "1".into(),
                },
                attributes_pin: None,
                record_holder: false,
                not_before: None,
                not_after: None,
                out: tmp.path().join("card.json"),
            },
            now,
        )
        .unwrap();
    let mut jpki = TrustedJpki::new(&[authority.ca_certificate_der().to_vec()]).unwrap();
    jpki.with_crls(&[authority.crl(now, Duration::days(7)).unwrap()])
        .unwrap();
    let policy = GracePolicy::default();
    let checked = jpki
        .check_card(&issued.certificate_der, now, &policy)
        .unwrap();

    let mut message = vec![0x5A; 32];
    message.push(0);
    message.extend_from_slice(b"W0000001");
    let sum: [u8; 32] = digest(&SHA256, &message).as_ref().try_into().unwrap();
    let mut card = Client::new(InProcess::new(SoftCard::open(&issued.path).unwrap()));
    card.verify_auth_pin(&pin).unwrap();
    let signature = card.sign_with_auth_key(&sha256_digest_info(&sum)).unwrap();
    checked.verify_message(&message, &signature).unwrap();
    checked.verify_digest(&sum, &signature).unwrap();

    let mut group = c.benchmark_group("rsa2048_verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_message (aws-lc-rs, key parsed once)", |b| {
        b.iter(|| checked.verify_message(black_box(&message), black_box(&signature)))
    });
    group.bench_function("verify_digest (rsa crate)", |b| {
        b.iter(|| checked.verify_digest(black_box(&sum), black_box(&signature)))
    });
    group.bench_function("CardPublicKey::from_spki_der (key parse only)", |b| {
        b.iter(|| CardPublicKey::from_spki_der(black_box(checked.public_key.spki_der())).unwrap())
    });
    group.bench_function("check_card (parse, CA signature, CRL, validity)", |b| {
        b.iter(|| {
            jpki.check_card(black_box(&issued.certificate_der), now, &policy)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
