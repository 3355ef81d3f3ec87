//! The ceiling: RSA-2048 PKCS#1 v1.5 SHA-256 signature verifications per second on one core
//! with aws-lc-rs, the card's public key parsed once — the one piece of cryptography every
//! PIN-mode check must do, measured bare in the same run.

use std::time::Instant;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use onshi_card::{sha256_digest_info, Client, Pin};
use onshi_card_emu::{CardFile, InProcess, SoftCard};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::world::{Card, CARD_PIN};
use super::VerifyError;

/// Verifications between two looks at the clock.
const BATCH: usize = 256;

/// Verifies one of the card's signatures over and over on the calling thread for at least
/// `seconds`; verifications per second.
pub(crate) fn verify_rate(card: &Card, seconds: f64) -> Result<f64, VerifyError> {
    let message =
        onshi_proto::signed_message(onshi_proto::Purpose::Verify, &[0x5A; 72], "W0000000");
    let signature = card_signature(card, &message)?;
    let key = public_key(&card.certificate_der)?;
    key.verify_sig(&message, &signature)
        .map_err(|_| VerifyError::Ceiling("the card's own signature does not verify".to_owned()))?;
    let started = Instant::now();
    let mut done = 0usize;
    let mut failed = 0usize;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..BATCH {
            failed += usize::from(
                key.verify_sig(std::hint::black_box(&message), &signature)
                    .is_err(),
            );
        }
        done += BATCH;
    }
    let rate = done as f64 / started.elapsed().as_secs_f64();
    if failed > 0 {
        return Err(VerifyError::Ceiling(format!(
            "{failed} of {done} verifications failed"
        )));
    }
    Ok(rate)
}

/// The card's RSAPublicKey (PKCS#1), parsed once by aws-lc-rs.
fn public_key(certificate_der: &[u8]) -> Result<ParsedPublicKey, VerifyError> {
    let (_, cert) = X509Certificate::from_der(certificate_der)
        .map_err(|e| VerifyError::Ceiling(format!("card certificate: {e}")))?;
    ParsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        cert.public_key().subject_public_key.data.as_ref(),
    )
    .map_err(|e| VerifyError::Ceiling(format!("card key: {e}")))
}

/// The card's signature over `message`, made as in a PIN-mode check.
fn card_signature(card: &Card, message: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let digest: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message)
        .as_ref()
        .try_into()
        .map_err(|_| VerifyError::Ceiling("SHA-256 is not 32 bytes".to_owned()))?;
    let mut reader = Client::new(InProcess::new(SoftCard::in_memory(CardFile::load(
        &card.path,
    )?)));
    let pin = Pin::parse(CARD_PIN).map_err(|e| VerifyError::Setup(format!("PIN: {e}")))?;
    reader.verify_auth_pin(&pin)?;
    Ok(reader.sign_with_auth_key(&sha256_digest_info(&digest))?)
}
