//! One full exchange of the reception app with a card, through the in-process transport: read
//! the authentication certificate, verify the PIN, sign a SHA-256 DigestInfo.
//!
//! Two measurements, so that the host-side cost can be read without the card's RSA: the
//! exchange without the signature, and the full one (whose extra time is almost all the card's
//! RSA-2048 private-key operation, which a real card does in its own chip).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/support.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::Pin;
use onshi_card_emu::{InProcess, SoftCard};

fn exchange(c: &mut Criterion) {
    let pin = Pin::parse(support::PIN).unwrap();
    let digest_info = sha256_digest_info(&[0x5A; 32]);
    let mut client = Client::new(InProcess::new(SoftCard::in_memory(support::card_file())));
    let mut group = c.benchmark_group("exchange");
    group.bench_function("read_cert+verify_pin (host side, no RSA)", |b| {
        b.iter(|| {
            let cert = client.read_auth_certificate().unwrap();
            client.verify_auth_pin(&pin).unwrap();
            cert
        })
    });
    group.bench_function("read_cert+verify_pin+sign (full, card RSA included)", |b| {
        b.iter(|| {
            let cert = client.read_auth_certificate().unwrap();
            client.verify_auth_pin(&pin).unwrap();
            let signature = client.sign_with_auth_key(&digest_info).unwrap();
            (cert, signature)
        })
    });
    group.finish();
}

criterion_group!(benches, exchange);
criterion_main!(benches);
