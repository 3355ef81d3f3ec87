//! Entry points for the fuzz targets (`fuzz/fuzz_targets/certificate.rs`, `crl.rs`,
//! `issued_csv.rs`): the card certificates, CRLs and CA certificates the eligibility service reads,
//! and the authority's `issued.csv`/`revoked.csv`, fed arbitrary input, must not panic; what parses
//! is written back and parsed again.
//!
//! The fuzzer rarely builds a DER certificate that gets past the signature check from nothing, so
//! each entry point reads its input two ways: as the bytes themselves, and as patches `(offset,
//! byte)` over a real certificate or CRL of a test authority made once per process.

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};

use onshi_pki::card_check::{CardPublicKey, GracePolicy, TrustedJpki};
use onshi_pki::records::{self, IssuedRecord, RevokedRecord, ISSUED_HEADER, REVOKED_HEADER};

use crate::authority::{Authority, IssueRequest};

/// A test authority with one issued card and one revoked, and what the service loads from it.
struct Fixture {
    /// Keeps the authority's directory (and the scratch files) alive.
    dir: tempfile::TempDir,
    ca_der: Vec<u8>,
    card_der: Vec<u8>,
    crl_der: Vec<u8>,
    trusted: TrustedJpki,
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// What building the fixture can fail with: any of the crates' errors (the fuzzer stops).
type FixtureError = Box<dyn std::error::Error + Send + Sync>;

fn make_fixture() -> Result<Fixture, FixtureError> {
    let dir = tempfile::tempdir()?;
    let now = at();
    let authority = Authority::init(&dir.path().join("ca"), now)?;
    let pin = onshi_card::pin::Pin::parse("1234").map_err(|e| e.message_ja().to_owned())?;
    let request = |person: &str, out: &str| IssueRequest {
        person_id: person.into(),
        pin: pin.clone(),
        attributes: onshi_card::tlv::Attributes {
            name: "試験 太郎".into(),
            address: "東京都千代田区".into(),
            birth: "19800101".into(),
            sex: "1".into(),
        },
        attributes_pin: None,
        record_holder: false,
        not_before: None,
        not_after: None,
        out: dir.path().join(out),
    };
    let card = authority.issue_card(&request("P0000000001", "card1.json"), now)?;
    let revoked = authority.issue_card(&request("P0000000002", "card2.json"), now)?;
    authority.revoke(&revoked.serial, now)?;
    let crl_der = authority.crl(now, Duration::days(7))?;
    let ca_der = authority.ca_certificate_der().to_vec();
    let mut trusted = TrustedJpki::new(std::slice::from_ref(&ca_der))?;
    trusted.with_crls(std::slice::from_ref(&crl_der))?;
    Ok(Fixture {
        dir,
        ca_der,
        card_der: card.certificate_der,
        crl_der,
        trusted,
    })
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match make_fixture() {
        Ok(f) => f,
        // Without its fixture the fuzzer would test nothing: stop at once, loudly.
        Err(e) => panic!("fuzzing fixture: {e}"),
    })
}

/// `base` with `patches` applied: each 3 bytes are a big-endian offset (modulo the length) and a
/// byte to put there.
fn patched(base: &[u8], patches: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    if out.is_empty() {
        return out;
    }
    for p in patches.chunks_exact(3) {
        let offset = usize::from(u16::from_be_bytes([p[0], p[1]])) % out.len();
        out[offset] = p[2];
    }
    out
}

/// The input as is when its first byte is even, else patches over `base`.
fn input(data: &[u8], base: &[u8]) -> Vec<u8> {
    match data.split_first() {
        Some((first, rest)) if first % 2 == 1 => patched(base, rest),
        Some((_, rest)) => rest.to_vec(),
        None => Vec::new(),
    }
}

/// A card certificate as `/verify` checks it, a key as [`CardPublicKey::from_spki_der`] reads it,
/// and CA certificates (DER or PEM) as the service loads them at start.
pub fn certificate(data: &[u8]) {
    let f = fixture();
    let der = input(data, &f.card_der);
    if let Ok(card) = f.trusted.check_card(&der, at(), &GracePolicy::default()) {
        // What is accepted is the same certificate: canonical serial, a key the check can use.
        assert_eq!(
            onshi_pki::canonical_serial(&card.serial).ok().as_ref(),
            Some(&card.serial)
        );
        assert!(card.public_key.bits() >= 2048);
        let key = CardPublicKey::from_spki_der(card.public_key.spki_der());
        assert!(key.is_ok());
    }
    let _ = CardPublicKey::from_spki_der(&der);
    let ca = input(data, &f.ca_der);
    if let Ok(trusted) = TrustedJpki::new(&[ca]) {
        // The CA parses again from what it keeps.
        let kept: Vec<Vec<u8>> = trusted.ca_certificates().map(<[u8]>::to_vec).collect();
        assert!(TrustedJpki::new(&kept).is_ok());
    }
}

/// A CRL (DER or PEM) as the service loads it for the test authority's CA.
pub fn crl(data: &[u8]) {
    let f = fixture();
    let der = input(data, &f.crl_der);
    let mut trusted = f.trusted.clone();
    if trusted.with_crls(&[der]).is_ok() {
        // Loading keeps one CRL for the one CA, and the card check still answers.
        assert_eq!(trusted.crls().len(), 1);
        let _ = trusted.stale_crls(at());
        let _ = trusted.check_card(&f.card_der, at(), &GracePolicy::default());
    }
}

/// The issuer given to lines of an `issued.csv` without the `Issuer` column.
const LEGACY_ISSUER_FOR_FUZZING: &str = "CN=TEST JPKI";

/// The authority's `issued.csv` and `revoked.csv`, read from a file; each accepted record is
/// written back as a line and read again.
pub fn issued_csv(data: &[u8]) {
    let f = fixture();
    let path: PathBuf = f.dir.path().join("fuzz.csv");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(rows) = records::read_issued(&path, LEGACY_ISSUER_FOR_FUZZING) {
        let mut text = format!("{}\n", ISSUED_HEADER.join(",")).into_bytes();
        for row in &rows {
            text.extend(row_line(row));
        }
        assert!(std::fs::write(&path, &text).is_ok());
        assert_eq!(
            records::read_issued(&path, LEGACY_ISSUER_FOR_FUZZING).ok(),
            Some(rows)
        );
    }
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(rows) = records::read_revoked(&path) {
        let mut text = format!("{}\n", REVOKED_HEADER.join(",")).into_bytes();
        for row in &rows {
            text.extend(revoked_line(row));
        }
        assert!(std::fs::write(&path, &text).is_ok());
        assert_eq!(records::read_revoked(&path).ok(), Some(rows));
    }
}

fn row_line(row: &IssuedRecord) -> Vec<u8> {
    match row.to_line() {
        Ok(line) => line,
        Err(e) => panic!("an accepted issued record does not write back: {e}"),
    }
}

fn revoked_line(row: &RevokedRecord) -> Vec<u8> {
    match row.to_line() {
        Ok(line) => line,
        Err(e) => panic!("an accepted revoked record does not write back: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_samples() {
        let f = fixture();
        // The real certificate and CRL, as is and patched.
        let mut card = vec![0];
        card.extend(&f.card_der);
        certificate(&card);
        let mut crl_input = vec![0];
        crl_input.extend(&f.crl_der);
        crl(&crl_input);
        let patches: [&[u8]; 3] = [&[], &[1, 0, 0, 0xFF], &[1, 0, 4, 0x00, 0, 9, 0x30]];
        for patches in patches {
            certificate(patches);
            crl(patches);
        }
        let samples: [&[u8]; 4] = [
            b"",
            b"Serial,PersonId,NotBefore,NotAfter\n0A,P1,2026-01-01T00:00:00Z,2031-01-01T00:00:00Z\n",
            b"Serial,RevokedAt\n0A,2026-01-01T00:00:00Z\n",
            b"Serial,RevokedAt\n0a,2026-01-01T00:00:00+09:00\n\"",
        ];
        for s in samples {
            issued_csv(s);
        }
    }

    #[test]
    fn the_real_certificate_is_accepted() {
        let f = fixture();
        assert!(f
            .trusted
            .check_card(&f.card_der, at(), &GracePolicy::default())
            .is_ok());
    }
}
