//! Challenge tokens: stateless, MAC'd and time-limited, so any instance can mint and check them.
//! Single use is enforced when a token is redeemed: its id goes into a UNIQUE column of the audit
//! record, in the transaction that answers the check.
//!
//! Token bytes: nonce (32 random) ‖ expiry (u64 seconds since 1970, big-endian) ‖
//! HMAC-SHA256(key, "onshi-challenge-v1" ‖ terminal id ‖ 0 ‖ nonce ‖ expiry) (32); base64 on the wire.

use aws_lc_rs::{hmac, rand};
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::Digest;

const NONCE_LEN: usize = 32;
const EXPIRY_LEN: usize = 8;
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = NONCE_LEN + EXPIRY_LEN + MAC_LEN;
const DOMAIN: &[u8] = b"onshi-challenge-v1";

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all (wrong length, bad base64).
    #[error("malformed token")]
    Malformed,
    /// The MAC does not match (forged, or minted for another terminal).
    #[error("token not valid for this terminal")]
    WrongTerminal,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

/// Mints and checks tokens with the service-wide key.
pub struct Challenges {
    key: hmac::Key,
    ttl_seconds: u64,
}

/// A token that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// The token's raw bytes (the card signs over them).
    pub bytes: Vec<u8>,
    /// The id that makes it single-use: SHA-256 of the token.
    pub id: [u8; 32],
}

impl Challenges {
    /// Tokens MAC'd with `key`, valid for `ttl_seconds`.
    pub fn new(key: &[u8], ttl_seconds: u64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            ttl_seconds,
        }
    }

    fn mac(&self, terminal_id: &str, nonce_and_expiry: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(DOMAIN);
        ctx.update(terminal_id.as_bytes());
        ctx.update(&[0]);
        ctx.update(nonce_and_expiry);
        ctx.sign()
    }

    /// A fresh token for a terminal (base64) and its lifetime in seconds.
    pub fn mint(&self, terminal_id: &str, now: DateTime<Utc>) -> Result<(String, u64), TokenError> {
        let mut token = vec![0u8; TOKEN_LEN];
        rand::fill(&mut token[..NONCE_LEN]).map_err(|_| TokenError::Malformed)?;
        let expiry = (now.timestamp().max(0) as u64) + self.ttl_seconds;
        token[NONCE_LEN..NONCE_LEN + EXPIRY_LEN].copy_from_slice(&expiry.to_be_bytes());
        let tag = self.mac(terminal_id, &token[..NONCE_LEN + EXPIRY_LEN]);
        token[NONCE_LEN + EXPIRY_LEN..].copy_from_slice(tag.as_ref());
        Ok((
            base64::engine::general_purpose::STANDARD.encode(&token),
            self.ttl_seconds,
        ))
    }

    /// Checks a token presented by a terminal at `now`.
    pub fn redeem(
        &self,
        token: &str,
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Redeemed, TokenError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() != TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (body, tag) = bytes.split_at(NONCE_LEN + EXPIRY_LEN);
        let expected = self.mac(terminal_id, body);
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), tag).is_err() {
            return Err(TokenError::WrongTerminal);
        }
        let mut expiry = [0u8; EXPIRY_LEN];
        expiry.copy_from_slice(&body[NONCE_LEN..]);
        if (now.timestamp().max(0) as u64) > u64::from_be_bytes(expiry) {
            return Err(TokenError::Expired);
        }
        let id: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        Ok(Redeemed { bytes, id })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn tokens_are_bound_to_terminal_and_time() {
        let c = Challenges::new(b"0123456789abcdef0123456789abcdef", 120);
        let now = Utc::now();
        let (t, ttl) = c.mint("W0000001", now).unwrap();
        assert_eq!(ttl, 120);
        let r = c
            .redeem(&t, "W0000001", now + Duration::seconds(119))
            .unwrap();
        assert_eq!(r.bytes.len(), TOKEN_LEN);
        assert_eq!(
            c.redeem(&t, "W0000002", now),
            Err(TokenError::WrongTerminal)
        );
        assert_eq!(
            c.redeem(&t, "W0000001", now + Duration::seconds(121)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            c.redeem("AAAA", "W0000001", now),
            Err(TokenError::Malformed)
        );
        assert_eq!(c.redeem("***", "W0000001", now), Err(TokenError::Malformed));
        let other = Challenges::new(b"another key another key another!", 120);
        assert_eq!(
            other.redeem(&t, "W0000001", now),
            Err(TokenError::WrongTerminal)
        );
        let (t2, _) = c.mint("W0000001", now).unwrap();
        assert_ne!(t, t2);
    }
}
